/* pool.c - persistent worker threads. A forward step runs hundreds of short
 * parallel regions per token, so wake-up latency matters: workers spin on an
 * atomic generation counter for a while before sleeping on a condition
 * variable, and the caller spins until the last worker checks in. */
#define _POSIX_C_SOURCE 200809L
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

enum { SPIN_ITERS = 1 << 16 };

struct ig_pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    ig_pool_fn fn;
    void *arg;
    atomic_uint_fast64_t generation; /* bumped per ig_pool_run */
    atomic_int n_pending;            /* workers still running the current job */
    atomic_int n_sleeping;           /* workers blocked on `wake` */
    atomic_bool quit;
};

struct worker_arg {
    struct ig_pool *p;
    int ith;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker(void *varg) {
    struct worker_arg wa = *(struct worker_arg *)varg;
    free(varg);
    struct ig_pool *p = wa.p;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen &&
               !atomic_load(&p->quit)) {
            if (++spins < SPIN_ITERS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->n_sleeping, 1);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->n_sleeping, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = g;
        p->fn(p->arg, wa.ith, p->n_threads);
        atomic_fetch_sub_explicit(&p->n_pending, 1, memory_order_release);
    }
}

struct ig_pool *ig_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    struct ig_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->n_pending, 0);
    atomic_init(&p->n_sleeping, 0);
    atomic_init(&p->quit, false);
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
    atomic_store(&p->quit, true);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n_threads; i++)
        if (p->threads) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    free(p->threads);
    free(p);
}

int ig_pool_n_threads(const struct ig_pool *p) { return p->n_threads; }

void ig_pool_run(struct ig_pool *p, ig_pool_fn fn, void *arg) {
    if (p->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->n_pending, p->n_threads - 1, memory_order_relaxed);
    atomic_fetch_add(&p->generation, 1); /* seq_cst: pairs with the n_sleeping check below */
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }

    fn(arg, 0, p->n_threads);

    for (int spins = 0; atomic_load_explicit(&p->n_pending, memory_order_acquire) > 0; spins++) {
        if (spins < SPIN_ITERS) cpu_relax();
        else sched_yield(); /* more threads than cores: let the others run */
    }
}
