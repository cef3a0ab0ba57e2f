/* sampler.c - sampler chain: repetition penalty, top-k, top-p, min-p,
 * temperature, seeded draw; greedy when temp <= 0. */
#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ig_sampler {
    struct ig_sampler_params p;
    int32_t n_vocab;
    struct ig_cand *cand; /* (n_vocab) */
    int32_t *hist;        /* ring of the last repeat_last_n tokens */
    int32_t n_hist, hist_head;
    uint64_t rng;
};

struct ig_sampler_params ig_sampler_default_params(void) {
    struct ig_sampler_params p = {.temp = 0.8f, .top_k = 40, .top_p = 0.9f, .min_p = 0.0f,
                                  .repeat_penalty = 1.1f, .repeat_last_n = 64, .seed = 0};
    return p;
}

static int by_logit_desc(const void *a, const void *b) {
    const struct ig_cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void sort_cands(struct ig_cands *c) {
    if (c->sorted) return;
    qsort(c->v, (size_t)c->n, sizeof *c->v, by_logit_desc);
    c->sorted = true;
}

void ig_samp_penalty(struct ig_cands *c, const int32_t *hist, int32_t n_hist, float penalty) {
    if (penalty == 1.0f || n_hist <= 0) return;
    /* candidates may be in any order: map ids to positions through a scan per token */
    for (int32_t h = 0; h < n_hist; h++) {
        bool dup = false;
        for (int32_t k = 0; k < h; k++) dup |= hist[k] == hist[h];
        if (dup) continue;
        int32_t t = hist[h];
        bool direct = t >= 0 && t < c->n && c->v[t].id == t; /* still in id order */
        for (int32_t i = direct ? t : 0; i < (direct ? t + 1 : c->n); i++) {
            if (c->v[i].id != t) continue;
            float *l = &c->v[i].logit;
            *l = *l > 0 ? *l / penalty : *l * penalty;
        }
    }
    c->sorted = false;
}

void ig_samp_top_k(struct ig_cands *c, int32_t k) {
    if (k <= 0 || k >= c->n) return;
    if (!c->sorted) {
        /* partial selection: quickselect-free, a k-sized insertion buffer is
         * fine for the small k people use; fall back to a full sort for big k */
        if (k > 256) {
            sort_cands(c);
        } else {
            struct ig_cand top[256];
            int32_t n = 0;
            for (int32_t i = 0; i < c->n; i++) {
                struct ig_cand x = c->v[i];
                if (n == k && by_logit_desc(&x, &top[n - 1]) >= 0) continue;
                int32_t j = n < k ? n++ : k - 1;
                while (j > 0 && by_logit_desc(&x, &top[j - 1]) < 0) {
                    top[j] = top[j - 1];
                    j--;
                }
                top[j] = x;
            }
            memcpy(c->v, top, (size_t)k * sizeof *top);
            c->sorted = true;
        }
    }
    c->n = k;
}

void ig_samp_softmax(struct ig_cands *c) {
    sort_cands(c);
    if (c->n == 0) return;
    float mx = c->v[0].logit, sum = 0;
    for (int32_t i = 0; i < c->n; i++) {
        c->v[i].p = expf(c->v[i].logit - mx);
        sum += c->v[i].p;
    }
    for (int32_t i = 0; i < c->n; i++) c->v[i].p /= sum;
}

void ig_samp_top_p(struct ig_cands *c, float p) {
    if (p >= 1.0f || c->n == 0) return;
    ig_samp_softmax(c);
    float cum = 0;
    for (int32_t i = 0; i < c->n; i++) {
        cum += c->v[i].p;
        if (cum >= p) {
            c->n = i + 1;
            return;
        }
    }
}

void ig_samp_min_p(struct ig_cands *c, float min_p) {
    if (min_p <= 0.0f || c->n == 0) return;
    ig_samp_softmax(c);
    float cut = min_p * c->v[0].p;
    int32_t keep = 1;
    while (keep < c->n && c->v[keep].p >= cut) keep++;
    c->n = keep;
}

void ig_samp_temp(struct ig_cands *c, float temp) {
    for (int32_t i = 0; i < c->n; i++) c->v[i].logit /= temp;
}

int32_t ig_samp_draw(struct ig_cands *c, float u) {
    ig_samp_softmax(c);
    float cum = 0;
    for (int32_t i = 0; i < c->n; i++) {
        cum += c->v[i].p;
        if (u < cum) return c->v[i].id;
    }
    return c->v[c->n - 1].id; /* rounding left a sliver at the top */
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

struct ig_sampler *ig_sampler_init(const struct ig_sampler_params *p, int32_t n_vocab) {
    if (n_vocab <= 0) return NULL;
    struct ig_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = p ? *p : ig_sampler_default_params();
    if (s->p.repeat_last_n < 0) s->p.repeat_last_n = 0;
    s->n_vocab = n_vocab;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->hist = malloc((size_t)(s->p.repeat_last_n + 1) * sizeof *s->hist);
    if (!s->cand || !s->hist) {
        ig_sampler_free(s);
        return NULL;
    }
    ig_sampler_reset(s, s->p.seed);
    return s;
}

void ig_sampler_free(struct ig_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->hist);
    free(s);
}

void ig_sampler_reset(struct ig_sampler *s, uint64_t seed) {
    s->n_hist = s->hist_head = 0;
    s->rng = seed;
}

void ig_sampler_accept(struct ig_sampler *s, ig_token t) {
    if (s->p.repeat_last_n == 0) return;
    s->hist[s->hist_head] = t;
    s->hist_head = (s->hist_head + 1) % s->p.repeat_last_n;
    if (s->n_hist < s->p.repeat_last_n) s->n_hist++;
}

/* The chain after the candidates are in c (penalty not yet applied). */
static ig_token run_chain(struct ig_sampler *s, struct ig_cands *c) {
    ig_samp_penalty(c, s->hist, s->n_hist, s->p.repeat_penalty);
    if (s->p.temp <= 0) { /* the largest logit, the lowest id among equals */
        int32_t best = 0;
        for (int32_t i = 1; i < c->n; i++)
            if (by_logit_desc(&c->v[i], &c->v[best]) < 0) best = i;
        return c->v[best].id;
    }
    ig_samp_top_k(c, s->p.top_k);
    ig_samp_top_p(c, s->p.top_p);
    ig_samp_min_p(c, s->p.min_p);
    ig_samp_temp(c, s->p.temp);
    float u = (float)(splitmix64(&s->rng) >> 40) / 16777216.0f; /* 24 random bits in [0,1) */
    return ig_samp_draw(c, u);
}

ig_token ig_sampler_sample(struct ig_sampler *s, const float *logits) {
    struct ig_cands c = {s->cand, s->n_vocab, false};
    for (int32_t i = 0; i < s->n_vocab; i++) c.v[i] = (struct ig_cand){i, logits[i], 0};
    return run_chain(s, &c);
}

bool ig_sampler_greedy(const struct ig_sampler *s) {
    return s->p.temp <= 0 && (s->p.repeat_penalty == 1.0f || s->p.repeat_last_n == 0);
}

/* The chain reads only the top_k largest logits after the penalty. A
 * penalty >= 1 only lowers a logit (or keeps it), and at most n_hist tokens
 * are lowered, so those top_k are among the top_k + n_hist before it: any
 * other token has at least top_k unpenalized tokens above it both before
 * and after. Greedy is top_k 1. */
int32_t ig_sampler_n_cand(const struct ig_sampler *s) {
    int32_t k = s->p.temp <= 0 ? 1 : s->p.top_k;
    if (k <= 0) return 0;
    if (s->p.repeat_penalty != 1.0f && s->n_hist > 0) {
        if (s->p.repeat_penalty < 1.0f) return 0; /* it raises logits: any token may climb */
        k += s->n_hist;
    }
    return k < s->n_vocab ? k : 0;
}

ig_token ig_sampler_sample_top(struct ig_sampler *s, const int32_t *ids, const float *logits, int32_t n) {
    if (n > s->n_vocab) n = s->n_vocab;
    struct ig_cands c = {s->cand, n, true};
    for (int32_t i = 0; i < n; i++) c.v[i] = (struct ig_cand){ids[i], logits[i], 0};
    return run_chain(s, &c);
}
