/* test_sampler.c - each cut of the sampler chain on synthetic distributions
 * keeps exactly what it should; same seed gives the same tokens. */
#include "engine/sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"


/* candidates with probabilities p[i] (logits = log p), in shuffled id order */
static struct ig_cands make(struct ig_cand *buf, const float *p, int n) {
    for (int i = 0; i < n; i++) {
        int id = (i * 7) % n; /* n is not a multiple of 7 in these tests */
        buf[i] = (struct ig_cand){id, logf(p[id]), 0};
    }
    return (struct ig_cands){buf, n, false};
}

static bool has(const struct ig_cands *c, int id) {
    for (int i = 0; i < c->n; i++)
        if (c->v[i].id == id) return true;
    return false;
}

static const float *g_row;
static int by_row_desc(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (g_row[x] != g_row[y]) return g_row[x] > g_row[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* The chain over only the n_cand largest logits (what ig_sample moves off a
 * GPU) gives the token the whole row gives, step after step, for settings
 * where a repeat penalty pushes recent tokens out of the top and equal
 * logits make the order among equals count. Settings that need the whole
 * row say so (0). */
static void check_top_candidates(void) {
    enum { NV = 1000, STEPS = 400 };
    struct ig_sampler_params base = ig_sampler_default_params(), sets[6];
    for (int i = 0; i < 6; i++) sets[i] = base, sets[i].seed = 11 + (uint64_t)i;
    sets[0].temp = 0, sets[0].repeat_penalty = 1;                     /* greedy */
    sets[1].temp = 0, sets[1].repeat_penalty = 1.3f;                  /* greedy + penalty */
    /* sets[2]: the defaults (top-k 40, top-p 0.9, penalty 1.1 over 64) */
    sets[3].temp = 1.5f, sets[3].top_k = 5, sets[3].top_p = 1, sets[3].min_p = 0.05f, sets[3].repeat_penalty = 3,
    sets[3].repeat_last_n = 8;
    sets[4].top_k = 0;                 /* no top-k: the whole row */
    sets[5].repeat_penalty = 0.8f;     /* a penalty that raises logits: the whole row */
    static float row[NV];
    static int32_t order[NV], ids[NV];
    static float vals[NV];
    for (int set = 0; set < 6; set++) {
        struct ig_sampler *whole = ig_sampler_init(&sets[set], NV), *top = ig_sampler_init(&sets[set], NV);
        int mismatches = 0, used_top = 0;
        ig_token recent[4] = {0, 1, 2, 3};
        for (int step = 0; step < STEPS; step++) {
            for (int i = 0; i < NV; i++) {
                uint32_t h = (uint32_t)(i * 2654435761u) ^ (uint32_t)(step * 40503u);
                h ^= h >> 13, h *= 0x5bd1e995u, h ^= h >> 15;
                row[i] = (float)(h % 4096) / 512.0f - 4.0f;
                if (i % 5 == 0) row[i] = roundf(row[i]); /* many equal logits */
            }
            for (int r = 0; r < 4; r++) row[recent[r]] = 4.5f + 0.25f * (float)r; /* recent tokens lead */
            ig_token want = ig_sampler_sample(whole, row);
            int32_t n = ig_sampler_n_cand(top);
            ig_token got;
            if (n > 0) {
                g_row = row;
                for (int i = 0; i < NV; i++) order[i] = i;
                qsort(order, NV, sizeof *order, by_row_desc);
                for (int i = 0; i < n; i++) ids[i] = order[i], vals[i] = row[order[i]];
                got = ig_sampler_sample_top(top, ids, vals, n);
                used_top++;
            } else {
                got = ig_sampler_sample(top, row);
            }
            mismatches += got != want;
            ig_sampler_accept(whole, want);
            ig_sampler_accept(top, want);
            recent[step % 4] = want;
        }
        /* (5: the first step has no history to raise) */
        const int want_top = set == 4 ? 0 : set == 5 ? 1 : STEPS;
        CHECK(mismatches == 0, "sampler settings %d: %d of %d tokens differ from the whole row's", set, mismatches,
              STEPS);
        CHECK(used_top == want_top, "settings %d: top candidates used %d times, want %d", set, used_top, want_top);
        ig_sampler_free(whole);
        ig_sampler_free(top);
    }
}

int main(void) {
    check_top_candidates();
    struct ig_cand buf[64];
    const float p[10] = {0.30f, 0.20f, 0.15f, 0.10f, 0.08f, 0.07f, 0.04f, 0.03f, 0.02f, 0.01f};

    /* top-k keeps the k most likely, sorted */
    struct ig_cands c = make(buf, p, 10);
    ig_samp_top_k(&c, 3);
    CHECK(c.n == 3 && c.v[0].id == 0 && c.v[1].id == 1 && c.v[2].id == 2, "top-k 3 kept wrong set");
    c = make(buf, p, 10);
    ig_samp_top_k(&c, 0);
    CHECK(c.n == 10, "top-k 0 must disable");

    /* top-p: smallest prefix with mass >= p. 0.30+0.20+0.15 = 0.65 */
    c = make(buf, p, 10);
    ig_samp_top_p(&c, 0.65f);
    CHECK(c.n == 3, "top-p 0.65 kept %d, want 3", c.n);
    c = make(buf, p, 10);
    ig_samp_top_p(&c, 0.66f);
    CHECK(c.n == 4, "top-p 0.66 kept %d, want 4", c.n);
    c = make(buf, p, 10);
    ig_samp_top_p(&c, 0.0f);
    CHECK(c.n == 1 && c.v[0].id == 0, "top-p 0 must keep the top token");
    c = make(buf, p, 10);
    ig_samp_top_p(&c, 1.0f);
    CHECK(c.n == 10, "top-p 1 must disable");

    /* min-p: keep p >= min_p * p_max; 0.25 * 0.30 = 0.075 keeps 0.30..0.08 */
    c = make(buf, p, 10);
    ig_samp_min_p(&c, 0.25f);
    CHECK(c.n == 5 && has(&c, 4) && !has(&c, 5), "min-p 0.25 kept %d, want 5", c.n);

    /* temperature scales logits */
    c = make(buf, p, 10);
    ig_samp_temp(&c, 2.0f);
    CHECK(fabsf(c.v[0].logit - logf(p[c.v[0].id]) / 2) < 1e-6f, "temperature");

    /* repetition penalty: positive logits divided, negative multiplied, once per token */
    struct ig_cand pb[4] = {{0, 2.0f, 0}, {1, -2.0f, 0}, {2, 1.0f, 0}, {3, 0.5f, 0}};
    struct ig_cands pc = {pb, 4, false};
    int32_t hist[] = {0, 1, 0, 0};
    ig_samp_penalty(&pc, hist, 4, 2.0f);
    CHECK(pb[0].logit == 1.0f && pb[1].logit == -4.0f && pb[2].logit == 1.0f, "penalty applied wrongly");

    /* draw: u maps through the cumulative distribution */
    c = make(buf, p, 10);
    CHECK(ig_samp_draw(&c, 0.0f) == 0, "draw u=0");
    c = make(buf, p, 10);
    CHECK(ig_samp_draw(&c, 0.31f) == 1, "draw u=0.31");
    c = make(buf, p, 10);
    CHECK(ig_samp_draw(&c, 0.9999f) == 9, "draw u~1");

    /* the public chain: greedy, seeding, and the distribution of draws */
    int nv = 10;
    float logits[10];
    for (int i = 0; i < nv; i++) logits[i] = logf(p[i]);
    struct ig_sampler_params sp = ig_sampler_default_params();
    sp.temp = 0;
    struct ig_sampler *s = ig_sampler_init(&sp, nv);
    CHECK(ig_sampler_sample(s, logits) == 0, "greedy must pick the argmax");
    ig_sampler_free(s);

    sp = ig_sampler_default_params();
    sp.temp = 1.0f, sp.top_k = 0, sp.top_p = 1.0f, sp.repeat_penalty = 1.0f, sp.seed = 42;
    struct ig_sampler *s1 = ig_sampler_init(&sp, nv), *s2 = ig_sampler_init(&sp, nv);
    int counts[10] = {0}, same = 1;
    const int draws = 20000;
    for (int i = 0; i < draws; i++) {
        ig_token a = ig_sampler_sample(s1, logits), b = ig_sampler_sample(s2, logits);
        same &= a == b;
        counts[a]++;
    }
    CHECK(same, "same seed must give the same tokens");
    for (int i = 0; i < nv; i++) {
        double f = (double)counts[i] / draws, sd = sqrt(p[i] * (1 - p[i]) / draws);
        CHECK(fabs(f - p[i]) < 5 * sd + 1e-3, "token %d drawn %.4f of the time, want %.4f", i, f, p[i]);
    }
    ig_sampler_reset(s1, 7);
    ig_sampler_reset(s2, 8);
    int differ = 0;
    for (int i = 0; i < 100; i++) differ += ig_sampler_sample(s1, logits) != ig_sampler_sample(s2, logits);
    CHECK(differ > 0, "different seeds gave identical streams");
    ig_sampler_free(s1);
    ig_sampler_free(s2);

    /* top-k through the chain never returns a token outside the top k */
    sp.top_k = 2, sp.seed = 3;
    s = ig_sampler_init(&sp, nv);
    for (int i = 0; i < 1000; i++) {
        ig_token t = ig_sampler_sample(s, logits);
        CHECK(t == 0 || t == 1, "top-k 2 produced token %d", t);
        if (t > 1) break;
    }
    ig_sampler_free(s);

    printf("sampler: %d failures\n", failures);
    return failures ? 1 : 0;
}
