/* pool.c - persistent worker threads woken by a generation counter. */
#define _POSIX_C_SOURCE 200809L
#include "pool.h"

#include <pthread.h>

struct ig_pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    ig_pool_fn fn;
    void *arg;
    uint64_t generation; /* bumped per ig_pool_run */
    int n_pending;       /* workers still running the current job */
    bool quit;
};

struct worker_arg {
    struct ig_pool *p;
    int ith;
};

static void *worker(void *varg) {
    struct worker_arg wa = *(struct worker_arg *)varg;
    free(varg);
    struct ig_pool *p = wa.p;
    uint64_t seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->quit && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->generation;
        ig_pool_fn fn = p->fn;
        void *arg = p->arg;
        pthread_mutex_unlock(&p->mu);

        fn(arg, wa.ith, p->n_threads);

        pthread_mutex_lock(&p->mu);
        if (--p->n_pending == 0) pthread_cond_signal(&p->done);
        pthread_mutex_unlock(&p->mu);
    }
}

struct ig_pool *ig_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    struct ig_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->threads = calloc((size_t)n_threads, sizeof *p->threads);
    if (!p->threads) {
        ig_pool_free(p);
        return NULL;
    }
    for (int i = 1; i < n_threads; i++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->p = p;
            wa->ith = i;
        }
        if (!wa || pthread_create(&p->threads[i], NULL, worker, wa) != 0) {
            free(wa);
            p->n_threads = i; /* only join what started */
            ig_pool_free(p);
            return NULL;
        }
    }
    return p;
}

void ig_pool_free(struct ig_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++)
        if (p->threads) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p);
}

int ig_pool_n_threads(const struct ig_pool *p) { return p->n_threads; }

void ig_pool_run(struct ig_pool *p, ig_pool_fn fn, void *arg) {
    if (p->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n_pending = p->n_threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    fn(arg, 0, p->n_threads);

    pthread_mutex_lock(&p->mu);
    while (p->n_pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
