/* sampler.h - the sampler chain's individual cuts, exposed for tests. Each
 * works on a candidate list; after a cut the list holds exactly the tokens
 * that survive, sorted by logit (descending) where the cut needed sorting. */
#ifndef IG_SAMPLER_H
#define IG_SAMPLER_H

#include "ingot.h"

struct ig_cand {
    int32_t id;
    float logit;
    float p;
};

struct ig_cands {
    struct ig_cand *v;
    int32_t n;
    bool sorted; /* by logit, descending */
};

/* Divide positive logits / multiply negative ones by penalty for each distinct
 * token in hist[0..n_hist) (llama.cpp's and Ollama's repeat penalty). */
void ig_samp_penalty(struct ig_cands *c, const int32_t *hist, int32_t n_hist, float penalty);
void ig_samp_top_k(struct ig_cands *c, int32_t k);   /* keep the k largest */
void ig_samp_softmax(struct ig_cands *c);            /* sort, fill p */
void ig_samp_top_p(struct ig_cands *c, float p);     /* smallest prefix with mass >= p */
void ig_samp_min_p(struct ig_cands *c, float min_p); /* keep p >= min_p * p_max */
void ig_samp_temp(struct ig_cands *c, float temp);
/* Draw from softmax(c) with u uniform in [0, 1). */
int32_t ig_samp_draw(struct ig_cands *c, float u);

/* How many of the largest logits (ordered by logit descending, then id
 * ascending) decide s's next draw: n, so that ig_sampler_sample_top over
 * those n gives the token ig_sampler_sample gives over the whole row; 0 when
 * the whole row is needed (no top-k, or a penalty below 1). */
int32_t ig_sampler_n_cand(const struct ig_sampler *s);
/* s always picks the largest logit (temp <= 0, no repeat penalty): its
 * picks need no history and no host (ig_generate's pipelined path). */
bool ig_sampler_greedy(const struct ig_sampler *s);
/* The chain over the n (>= ig_sampler_n_cand) largest logits, in that order. */
ig_token ig_sampler_sample_top(struct ig_sampler *s, const int32_t *ids, const float *logits, int32_t n);

#endif
