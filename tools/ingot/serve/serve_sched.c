/* serve_sched.c - the model registry and the scheduler: one thread per
 * loaded model admits queued requests into free sequence slots and runs all
 * active ones together, one ig_decode per step: decoding slots contribute
 * their last token, prefilling slots a chunk of their prompt. Requests join
 * and leave at token boundaries; a cancelled one frees its cells at once. */
#define _GNU_SOURCE
#include "serve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sv_metrics sv_metrics;

static struct sv_config g_cfg;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sv_model *g_models;

/* ------------------------------------------------------------ requests */

struct sv_req *sv_req_new(void) {
    struct sv_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->refs = 1;
    r->top_logprobs = -1;
    r->seq = -1;
    r->sp = ig_sampler_default_params();
    return r;
}

static void req_free(struct sv_req *r) {
    for (int i = 0; i < r->n_chunks; i++) free(r->chunks[i].text), free(r->chunks[i].lp);
    for (int i = 0; i < r->n_stop; i++) free(r->stops[i]);
    free(r->chunks);
    free(r->prompt);
    free(r->counts);
    free(r->adj);
    free(r->held);
    free(r->held_lp);
    ig_sampler_free(r->smp);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

void sv_req_release(struct sv_req *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    bool last = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (last) req_free(r);
}

bool sv_req_wait_chunk(struct sv_req *r, int i, int timeout_ms, bool *timed_out, struct sv_chunk *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    ts.tv_sec += timeout_ms / 1000 + ts.tv_nsec / 1000000000;
    ts.tv_nsec %= 1000000000;
    *timed_out = false;
    pthread_mutex_lock(&r->mu);
    while (i >= r->n_chunks && !r->done) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) != 0) {
            *timed_out = i >= r->n_chunks && !r->done;
            break;
        }
    }
    bool have = i < r->n_chunks;
    if (have && out) *out = r->chunks[i]; /* (its text and logprobs stay put until the request is freed) */
    pthread_mutex_unlock(&r->mu);
    return have;
}

/* Commit held text (and its tokens) as a chunk the HTTP side may send. */
static void commit(struct sv_req *r, size_t n) {
    if (n == 0 && r->held_nlp == 0) return;
    struct sv_chunk c = {malloc(n + 1), n, r->held_nlp, NULL};
    if (!c.text) return;
    memcpy(c.text, r->held, n);
    c.text[n] = 0;
    if (r->held_nlp) {
        c.lp = malloc((size_t)r->held_nlp * sizeof *c.lp);
        if (c.lp) memcpy(c.lp, r->held_lp, (size_t)r->held_nlp * sizeof *c.lp);
        else c.n_lp = 0;
    }
    r->held_nlp = 0;
    memmove(r->held, r->held + n, r->held_n - n);
    r->held_n -= n;
    pthread_mutex_lock(&r->mu);
    if (r->n_chunks == r->cap_chunks) {
        int nc = r->cap_chunks ? r->cap_chunks * 2 : 16;
        struct sv_chunk *v = realloc(r->chunks, (size_t)nc * sizeof *v);
        if (v) r->chunks = v, r->cap_chunks = nc;
    }
    if (r->n_chunks < r->cap_chunks) r->chunks[r->n_chunks++] = c;
    else free(c.text), free(c.lp);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void finish(struct sv_req *r, const char *why) {
    if (strcmp(why, "stop") || !r->n_stop) commit(r, r->held_n); /* what was held is not a stop string */
    pthread_mutex_lock(&r->mu);
    r->done = true;
    r->finish = why;
    r->t_end = ig_time_us();
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* New text: hold back any tail that could begin a stop string; true when a
 * stop string appeared (the text before it is committed). */
static bool push_text(struct sv_req *r, const char *s, size_t n) {
    if (r->held_n + n + 1 > r->held_cap) {
        size_t nc = (r->held_n + n + 1) * 2;
        char *h = realloc(r->held, nc);
        if (!h) return false;
        r->held = h;
        r->held_cap = nc;
    }
    memcpy(r->held + r->held_n, s, n);
    r->held_n += n;
    r->held[r->held_n] = 0;
    if (!r->n_stop) {
        commit(r, r->held_n);
        return false;
    }
    bool hit;
    size_t safe = stop_scan(r->held, r->held_n, (const char *const *)r->stops, r->n_stop, &hit);
    commit(r, safe);
    if (hit) r->held_n = 0;
    return hit;
}

/* ------------------------------------------------------------ sampling */

static void logprobs(const float *l, int32_t nv, ig_token t, int top, struct sv_logprob *o) {
    float mx = l[0];
    for (int32_t i = 1; i < nv; i++) mx = fmaxf(mx, l[i]);
    double s = 0;
    for (int32_t i = 0; i < nv; i++) s += exp((double)(l[i] - mx));
    float lse = mx + (float)log(s);
    o->tok = t;
    o->logprob = l[t] - lse;
    o->n_top = top < 0 ? 0 : top > SV_MAX_TOP ? SV_MAX_TOP : top;
    for (int k = 0; k < o->n_top; k++) { /* partial selection: k-th best */
        int32_t best = -1;
        for (int32_t i = 0; i < nv; i++) {
            bool taken = false;
            for (int j = 0; j < k && !taken; j++) taken = o->top[j] == i;
            if (!taken && (best < 0 || l[i] > l[best])) best = i;
        }
        o->top[k] = best;
        o->top_lp[k] = l[best] - lse;
    }
}

static bool build_pieces(struct sv_model *sm) {
    int32_t nv = sm->info.n_vocab;
    sm->pieces = calloc((size_t)nv, sizeof *sm->pieces);
    sm->piece_len = calloc((size_t)nv, sizeof *sm->piece_len);
    if (!sm->pieces || !sm->piece_len) return false;
    char buf[512];
    for (int32_t t = 0; t < nv; t++) {
        int32_t n = ig_token_to_piece(sm->m, t, buf, sizeof buf, false);
        if (n < 0) n = 0;
        sm->pieces[t] = malloc((size_t)n + 1);
        if (!sm->pieces[t]) return false;
        memcpy(sm->pieces[t], buf, (size_t)n);
        sm->piece_len[t] = n;
    }
    return true;
}

/* JSON mode: -inf for every token whose bytes cannot continue the object. */
static bool json_mask(struct sv_model *sm, struct sv_req *r, float *l) {
    if (!sm->pieces && !build_pieces(sm)) return false;
    bool any = false;
    for (int32_t t = 0; t < sm->info.n_vocab; t++) {
        struct sv_json js = r->js;
        if (sm->piece_len[t] == 0 || !sv_json_feed(&js, sm->pieces[t], (size_t)sm->piece_len[t])) l[t] = -INFINITY;
        else any = true;
    }
    return any;
}

/* Sample row `row` of the last step for r. Requests that need the whole row
 * (JSON mode, OpenAI penalties, logprobs) read it; the rest let the context
 * pick the top candidates where the backend can (ig_sample). */
static ig_token sample(struct sv_model *sm, struct sv_req *r, int32_t row) {
    int32_t nv = sm->info.n_vocab;
    if (!r->adj && r->top_logprobs < 0) {
        ig_token t = ig_sample(sm->c, row, r->smp);
        ig_sampler_accept(r->smp, t);
        return t;
    }
    const float *logits = ig_logits(sm->c, row), *l = logits;
    if (r->adj) { /* JSON mode and OpenAI's penalties work on a copy (allocated at admission) */
        memcpy(r->adj, logits, (size_t)nv * sizeof *r->adj);
        if (r->json && !json_mask(sm, r, r->adj)) return -1;
        if (r->counts)
            for (int32_t i = 0; i < nv; i++)
                if (r->counts[i]) r->adj[i] -= r->presence + r->frequency * (float)r->counts[i];
        l = r->adj;
    }
    ig_token t = ig_sampler_sample(r->smp, l);
    ig_sampler_accept(r->smp, t);
    if (r->json && t >= 0 && t < nv) sv_json_feed(&r->js, sm->pieces[t], (size_t)sm->piece_len[t]);
    if (r->counts && t >= 0 && t < nv) r->counts[t]++;
    if (r->top_logprobs >= 0) {
        if (r->held_nlp == r->held_lp_cap) {
            int nc = r->held_lp_cap ? r->held_lp_cap * 2 : 8;
            struct sv_logprob *v = realloc(r->held_lp, (size_t)nc * sizeof *v);
            if (v) r->held_lp = v, r->held_lp_cap = nc;
        }
        if (r->held_nlp < r->held_lp_cap) logprobs(logits, nv, t, r->top_logprobs, &r->held_lp[r->held_nlp++]);
    }
    return t;
}

/* ------------------------------------------------------------ the scheduler */

static void release_slot(struct sv_model *sm, int s, const char *why) {
    struct sv_req *r = sm->slots[s];
    ig_seq_drop(sm->c, s, 0);
    sm->slots[s] = NULL;
    sm->n_active--;
    atomic_fetch_sub(&sv_metrics.active, 1);
    finish(r, why);
    sv_req_release(r);
}

static void admit(struct sv_model *sm, struct sv_req *r, int s) {
    r->seq = s;
    r->n_past = 0;
    r->prompt_done = 0;
    struct ig_sampler_params sp = r->sp;
    r->smp = ig_sampler_init(&sp, sm->info.n_vocab);
    bool penalties = r->presence != 0 || r->frequency != 0;
    if (penalties) r->counts = calloc((size_t)sm->info.n_vocab, sizeof *r->counts);
    if (penalties || r->json) r->adj = malloc((size_t)sm->info.n_vocab * sizeof *r->adj);
    if ((penalties && !r->counts) || ((penalties || r->json) && !r->adj)) {
        ig_sampler_free(r->smp); /* out of memory: the scheduler fails the request */
        r->smp = NULL;
    }
    ig_detok_reset(&r->dt, false);
    sv_json_init(&r->js);
    for (int32_t i = 0; i < r->n_prompt && r->smp; i++) ig_sampler_accept(r->smp, r->prompt[i]);
    sm->slots[s] = r;
    sm->n_active++;
    atomic_fetch_add(&sv_metrics.active, 1);
}

static void *sched_main(void *arg) {
    struct sv_model *sm = arg;
    int n_batch = 512, P = sm->parallel;
    ig_token *tok = malloc((size_t)n_batch * sizeof *tok);
    int32_t *pos = malloc((size_t)n_batch * sizeof *pos), *seq = malloc((size_t)n_batch * sizeof *seq);
    int8_t *want = malloc((size_t)n_batch);
    int *out_slot = malloc((size_t)n_batch * sizeof *out_slot);
    ig_token *next = calloc((size_t)P, sizeof *next);
    bool *has_next = calloc((size_t)P, sizeof *has_next);
    char piece[1024];
    for (;;) {
        pthread_mutex_lock(&sm->mu);
        while (!sm->stop && sm->n_active == 0 && sm->q_n == 0) {
            /* idle: unload after keep_alive (the registry frees us) */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&sm->cv, &sm->mu, &ts);
            if (sm->q_n == 0 && sm->refs == 0 && ig_time_us() > sm->expires_us) sm->stop = true;
        }
        if (sm->stop && sm->n_active == 0 && sm->q_n == 0) {
            pthread_mutex_unlock(&sm->mu);
            break;
        }
        for (int s = 0; s < P && sm->q_n > 0; s++) {
            if (sm->slots[s]) continue;
            struct sv_req *r = sm->queue[sm->q_head];
            sm->q_head = (sm->q_head + 1) % sm->q_cap;
            sm->q_n--;
            atomic_fetch_sub(&sv_metrics.queued, 1);
            admit(sm, r, s);
            has_next[s] = false;
        }
        pthread_mutex_unlock(&sm->mu);

        /* cancelled (client gone) or failed slots leave first */
        for (int s = 0; s < P; s++)
            if (sm->slots[s] && (atomic_load(&sm->slots[s]->cancelled) || !sm->slots[s]->smp))
                release_slot(sm, s, sm->slots[s]->smp ? "cancelled" : "error");
        /* one token from each decoding slot, then prompt chunks */
        int n = 0;
        for (int s = 0; s < P; s++) {
            struct sv_req *r = sm->slots[s];
            if (!r || !has_next[s] || n >= n_batch) continue;
            tok[n] = next[s], pos[n] = r->n_past, seq[n] = s, want[n] = 1, out_slot[n] = s;
            n++;
        }
        for (int s = 0; s < P && n < n_batch; s++) {
            struct sv_req *r = sm->slots[s];
            if (!r || has_next[s] || r->prompt_done >= r->n_prompt) continue;
            int32_t k = IG_MIN(r->n_prompt - r->prompt_done, n_batch - n);
            for (int32_t j = 0; j < k; j++) {
                int32_t i = r->prompt_done + j;
                tok[n] = r->prompt[i], pos[n] = i, seq[n] = s, want[n] = i == r->n_prompt - 1, out_slot[n] = s;
                n++;
            }
        }
        if (n == 0) continue;
        struct ig_batch b = {n, tok, pos, seq, want};
        int64_t t0 = ig_time_us();
        enum ig_status st = ig_decode(sm->c, &b);
        if (st != IG_OK) { /* should not happen (per-slot limits); fail the slots in this batch */
            for (int s = 0; s < P; s++)
                if (sm->slots[s]) {
                    snprintf(sm->slots[s]->error, sizeof sm->slots[s]->error, "decode failed: %s", ig_status_str(st));
                    release_slot(sm, s, "error");
                }
            continue;
        }
        int64_t dt_us = ig_time_us() - t0;
        /* advance: prompt positions and sampled tokens */
        int out_i = 0;
        for (int i = 0; i < n; i++) {
            int s = out_slot[i];
            struct sv_req *r = sm->slots[s];
            if (!r) continue;
            if (has_next[s] && tok[i] == next[s] && pos[i] == r->n_past) {
                r->n_past++;
                has_next[s] = false;
            } else if (!has_next[s]) {
                r->prompt_done++;
                r->n_past++;
                if (r->prompt_done == r->n_prompt) {
                    r->t_prompt_end = ig_time_us();
                    atomic_fetch_add(&sv_metrics.prompt_tokens, r->n_prompt);
                }
            }
            if (!want[i]) continue;
            ig_token t = sample(sm, r, out_i++);
            if (t < 0) {
                snprintf(r->error, sizeof r->error, "JSON mode: no token can continue the output");
                release_slot(sm, s, "error");
                continue;
            }
            if (!r->t_first) {
                r->t_first = ig_time_us();
                atomic_fetch_add(&sv_metrics.ttft_us_sum, r->t_first - r->t_submit);
                atomic_fetch_add(&sv_metrics.ttft_count, 1);
            }
            atomic_fetch_add(&sv_metrics.gen_us_sum, dt_us / IG_MAX(n, 1));
            if (ig_token_is_eog(sm->m, t)) {
                release_slot(sm, s, "stop");
                continue;
            }
            r->n_gen++;
            atomic_fetch_add(&sv_metrics.gen_tokens, 1);
            int32_t k = ig_detok_push(sm->m, &r->dt, t, piece, sizeof piece);
            bool stopped = push_text(r, piece, k > 0 ? (size_t)k : 0);
            if (r->json && sv_json_done(&r->js)) { /* the object is complete */
                k = ig_detok_flush(&r->dt, piece, sizeof piece);
                if (k > 0) push_text(r, piece, (size_t)k);
                stopped = true;
            }
            if (stopped) {
                release_slot(sm, s, "stop");
            } else if (r->max_tokens >= 0 && r->n_gen >= r->max_tokens) {
                k = ig_detok_flush(&r->dt, piece, sizeof piece);
                if (k > 0) push_text(r, piece, (size_t)k);
                release_slot(sm, s, "length");
            } else if (r->n_past + 1 >= r->n_ctx) {
                release_slot(sm, s, "length");
            } else {
                next[s] = t;
                has_next[s] = true;
            }
        }
        pthread_mutex_lock(&sm->mu);
        sm->last_used_us = ig_time_us();
        sm->expires_us = sm->last_used_us + (int64_t)(sm->keep_alive_s * 1e6);
        pthread_mutex_unlock(&sm->mu);
    }
    free(tok), free(pos), free(seq), free(want), free(out_slot), free(next), free(has_next);
    return NULL;
}

/* ------------------------------------------------------------ registry */

void sv_models_init(const struct sv_config *cfg) { g_cfg = *cfg; }

static void model_free(struct sv_model *sm) {
    for (int32_t t = 0; sm->pieces && t < sm->info.n_vocab; t++) free(sm->pieces[t]);
    free(sm->pieces);
    free(sm->piece_len);
    ig_ctx_free(sm->c);
    ig_model_free(sm->m);
    free(sm->queue);
    free(sm->slots);
    pthread_mutex_destroy(&sm->mu);
    pthread_cond_destroy(&sm->cv);
    free(sm);
}

/* Join schedulers that stopped (keep_alive expired). Call with g_mu held. */
static void reap(void) {
    for (struct sv_model **p = &g_models; *p;) {
        struct sv_model *sm = *p;
        pthread_mutex_lock(&sm->mu);
        bool gone = sm->stop && sm->n_active == 0 && sm->q_n == 0 && sm->refs == 0;
        pthread_mutex_unlock(&sm->mu);
        if (gone) {
            *p = sm->next;
            pthread_join(sm->thread, NULL);
            model_free(sm);
        } else {
            p = &sm->next;
        }
    }
}

struct sv_model *sv_model_get(const char *name, char *err, size_t err_len, int *status) {
    pthread_mutex_lock(&g_mu);
    reap();
    for (struct sv_model *sm = g_models; sm; sm = sm->next)
        if (!strcmp(sm->name, name)) {
            pthread_mutex_lock(&sm->mu);
            bool alive = !sm->stop;
            if (alive) sm->refs++;
            pthread_mutex_unlock(&sm->mu);
            if (alive) {
                pthread_mutex_unlock(&g_mu);
                return sm;
            }
        }
    struct sv_model *sm = calloc(1, sizeof *sm);
    if (!sm) {
        pthread_mutex_unlock(&g_mu);
        snprintf(err, err_len, "out of memory");
        *status = 500;
        return NULL;
    }
    snprintf(sm->name, sizeof sm->name, "%s", name);
    int64_t t0 = ig_time_us();
    struct ig_model_params mp = ig_model_default_params();
    mp.backend = g_cfg.backend;
    mp.n_threads = g_cfg.threads;
    enum ig_status st = ig_model_load(name, &mp, &sm->m, err, err_len);
    if (st != IG_OK) {
        *status = st == IG_ERR_NOT_FOUND || st == IG_ERR_IO ? 404 : 500;
        free(sm);
        pthread_mutex_unlock(&g_mu);
        return NULL;
    }
    ig_model_get_info(sm->m, &sm->info);
    sm->parallel = g_cfg.parallel;
    sm->ctx_per_seq = IG_MIN(g_cfg.ctx_per_seq, sm->info.n_ctx_train > 0 ? sm->info.n_ctx_train : g_cfg.ctx_per_seq);
    struct ig_ctx_params cp = ig_ctx_default_params();
    cp.n_ctx = sm->ctx_per_seq * sm->parallel;
    cp.n_seq_max = sm->parallel;
    cp.n_batch = 512;
    st = ig_ctx_init(sm->m, &cp, &sm->c, err, err_len);
    if (st != IG_OK) {
        ig_model_free(sm->m);
        free(sm);
        *status = 500;
        pthread_mutex_unlock(&g_mu);
        return NULL;
    }
    sm->q_cap = g_cfg.queue > 0 ? g_cfg.queue : 1;
    sm->queue = calloc((size_t)sm->q_cap, sizeof *sm->queue);
    sm->slots = calloc((size_t)sm->parallel, sizeof *sm->slots);
    pthread_mutex_init(&sm->mu, NULL);
    pthread_cond_init(&sm->cv, NULL);
    sm->keep_alive_s = g_cfg.keep_alive_s;
    sm->load_us = ig_time_us() - t0;
    sm->last_used_us = ig_time_us();
    sm->expires_us = sm->last_used_us + (int64_t)(sm->keep_alive_s * 1e6);
    sm->refs = 1;
    pthread_create(&sm->thread, NULL, sched_main, sm);
    sm->next = g_models;
    g_models = sm;
    pthread_mutex_unlock(&g_mu);
    fprintf(stderr, "ingot serve: loaded %s (%s, %d x %d-token sequences, %s) in %.2f s\n", name, sm->info.arch,
            sm->parallel, sm->ctx_per_seq, ig_ctx_backend(sm->c), (double)sm->load_us / 1e6);
    return sm;
}

void sv_model_put(struct sv_model *sm) {
    if (!sm) return;
    pthread_mutex_lock(&sm->mu);
    sm->refs--;
    sm->expires_us = ig_time_us() + (int64_t)(sm->keep_alive_s * 1e6);
    pthread_cond_signal(&sm->cv);
    pthread_mutex_unlock(&sm->mu);
}

void sv_set_keep_alive(struct sv_model *sm, double seconds) {
    pthread_mutex_lock(&sm->mu);
    sm->keep_alive_s = seconds < 0 ? 1e12 : seconds;
    pthread_mutex_unlock(&sm->mu);
}

bool sv_submit(struct sv_model *sm, struct sv_req *r) {
    pthread_mutex_lock(&sm->mu);
    if (sm->q_n == sm->q_cap) {
        pthread_mutex_unlock(&sm->mu);
        return false;
    }
    r->refs++; /* the scheduler's reference */
    r->model = sm;
    r->t_submit = ig_time_us();
    sm->queue[(sm->q_head + sm->q_n) % sm->q_cap] = r;
    sm->q_n++;
    atomic_fetch_add(&sv_metrics.queued, 1);
    pthread_cond_signal(&sm->cv);
    pthread_mutex_unlock(&sm->mu);
    return true;
}

struct sv_model *sv_models_lock(void) {
    pthread_mutex_lock(&g_mu);
    return g_models;
}
void sv_models_unlock(void) { pthread_mutex_unlock(&g_mu); }

void sv_models_shutdown(void) {
    pthread_mutex_lock(&g_mu);
    for (struct sv_model *sm = g_models; sm; sm = sm->next) {
        pthread_mutex_lock(&sm->mu);
        sm->stop = true;
        for (int s = 0; s < sm->parallel; s++)
            if (sm->slots[s]) atomic_store(&sm->slots[s]->cancelled, true);
        pthread_cond_signal(&sm->cv);
        pthread_mutex_unlock(&sm->mu);
    }
    while (g_models) {
        struct sv_model *sm = g_models;
        g_models = sm->next;
        pthread_join(sm->thread, NULL);
        while (sm->q_n > 0) { /* queued, never started */
            struct sv_req *r = sm->queue[sm->q_head];
            sm->q_head = (sm->q_head + 1) % sm->q_cap;
            sm->q_n--;
            finish(r, "cancelled");
            sv_req_release(r);
        }
        model_free(sm);
    }
    pthread_mutex_unlock(&g_mu);
}
