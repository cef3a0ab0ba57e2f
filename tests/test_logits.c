/* test_logits.c - decode a fixed 32-token prompt and dump the logits at every
 * position (for the NumPy reference to check), and check the multi-sequence
 * contract of ig_decode:
 *   - one batch holding two different sequences gives the same logits as
 *     each sequence decoded alone, and so do steps of one token of each,
 *     and steps of three tokens, one sequence twice among them;
 *   - a prompt decoded in chunks equals the prompt decoded in one batch;
 *   - ig_seq_drop + re-decode reproduces the logits;
 *   - a batch that does not fit returns IG_ERR_CTX_FULL and changes nothing;
 *   - a cached (seq, pos) is overwritten in its cell; one twice in a batch
 *     is an error;
 *   - ig_sample gives the token the sampler gives over the whole row;
 *   - ig_generate with a greedy sampler, pipelined or not, picks what a
 *     loop of ig_sample and ig_decode picks, and leaves the cache as it
 *     does, also when the callback refuses a pick.
 * usage: test_logits MODEL.gguf OUT.bin   (backend from $INGOT_BACKEND,
 * threads from $INGOT_TEST_THREADS, default 2) */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "ingot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 32

#include "check.h"


/* max |a-b| / max |b| */
static double rel_err(const float *a, const float *b, int n) {
    double d = 0, m = 0;
    for (int i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0 ? d / m : d;
}

/* Sampler pairs, one per setting: ig_sample (which may move only the top
 * candidates off the device) against the sampler over the whole row. */
enum { N_SAMP = 4 };
static struct ig_sampler *samp_top[N_SAMP], *samp_whole[N_SAMP];
static int samp_mismatch, samp_n;
static void samplers_init(int nv) {
    struct ig_sampler_params p[N_SAMP] = {ig_sampler_default_params(), ig_sampler_default_params(),
                                          ig_sampler_default_params(), ig_sampler_default_params()};
    /* (first: one candidate, which the CUDA output GEMV keeps itself; a
     * later sampler of the same row asks for more) */
    p[0].temp = 0, p[0].repeat_penalty = 1; /* greedy alone */
    p[1].temp = 0;                          /* greedy, penalty 1.1 */
    p[2].seed = 5;                          /* the defaults: top-k 40, top-p 0.9 */
    p[3].top_k = 3, p[3].temp = 1.5f, p[3].repeat_penalty = 1, p[3].seed = 9;
    for (int i = 0; i < N_SAMP; i++) samp_top[i] = ig_sampler_init(&p[i], nv), samp_whole[i] = ig_sampler_init(&p[i], nv);
}
/* row r of the last step, through every pair (ig_sample first: before
 * anything else has copied the logits) */
static void samplers_check(struct ig_ctx *c, int r) {
    for (int i = 0; i < N_SAMP; i++) {
        ig_token got = ig_sample(c, r, samp_top[i]), want = ig_sampler_sample(samp_whole[i], ig_logits(c, r));
        samp_mismatch += got != want;
        samp_n++;
        ig_sampler_accept(samp_top[i], want);
        ig_sampler_accept(samp_whole[i], want);
    }
}

static struct ig_ctx *new_ctx(struct ig_model *m, int n_ctx, int n_seq) {
    struct ig_ctx_params cp = ig_ctx_default_params();
    cp.n_ctx = n_ctx;
    cp.n_seq_max = n_seq;
    cp.n_batch = 2 * N;
    struct ig_ctx *c;
    char err[256];
    if (ig_ctx_init(m, &cp, &c, err, sizeof err) != IG_OK) {
        printf("ctx init: %s\n", err);
        exit(1);
    }
    return c;
}

/* Decode toks[0..n) of sequence seq starting at pos0 in chunks of `chunk`,
 * copying every position's logits to out[(pos0 + i) * nv]. */
static void run_seq(struct ig_ctx *c, const ig_token *toks, int n, int seq, int pos0, int chunk, float *out,
                    int nv) {
    int32_t pos[N], sq[N];
    int8_t want[N];
    for (int i = 0; i < n; i += chunk) {
        int k = n - i < chunk ? n - i : chunk;
        for (int j = 0; j < k; j++) pos[j] = pos0 + i + j, sq[j] = seq, want[j] = 1;
        struct ig_batch b = {k, toks + i, pos, sq, want};
        enum ig_status s = ig_decode(c, &b);
        CHECK(s == IG_OK, "decode: %s", ig_status_str(s));
        for (int j = 0; j < k; j++) memcpy(out + (size_t)(i + j) * nv, ig_logits(c, j), (size_t)nv * sizeof(float));
    }
}

/* ig_generate's callback: keep the picks, refuse the stop-th */
struct picks {
    ig_token t[64];
    int n, stop;
};
static bool keep_pick(ig_token t, void *user) {
    struct picks *p = user;
    if (p->n < 64) p->t[p->n] = t;
    return ++p->n != p->stop;
}
/* prompt a (N tokens, logits of the last) in a fresh context */
static struct ig_ctx *prompted(struct ig_model *m, const ig_token *a) {
    struct ig_ctx *c = new_ctx(m, 128, 1);
    int32_t pos[N], seq[N];
    for (int i = 0; i < N; i++) pos[i] = i, seq[i] = 0;
    struct ig_batch b = {N, a, pos, seq, NULL};
    return ig_decode(c, &b) == IG_OK ? c : NULL;
}
enum { GEN = 24 };
static int check_generate(struct ig_model *m, const ig_token *a, int nv) {
    int fails0 = failures;
    struct ig_sampler_params gp = ig_sampler_default_params();
    gp.temp = 0, gp.repeat_penalty = 1;
    struct ig_sampler *g = ig_sampler_init(&gp, nv);
    /* the reference: pick, decode, GEN times (the last pick not decoded) */
    ig_token want[GEN];
    struct ig_ctx *c = prompted(m, a);
    CHECK(c != NULL, "prompt failed");
    for (int i = 0; c && i < GEN; i++) {
        want[i] = ig_sample(c, 0, g);
        int32_t p = N + i, sq = 0;
        struct ig_batch b = {1, &want[i], &p, &sq, NULL};
        if (i + 1 < GEN) CHECK(ig_decode(c, &b) == IG_OK, "decode %d failed", i);
    }
    ig_ctx_free(c);
    const char *modes[2] = {"0", "1"};
    for (int mo = 0; mo < 2; mo++) {
        setenv("INGOT_PIPELINE", modes[mo], 1);
        /* GEN picks in one call */
        c = prompted(m, a);
        struct picks p = {.stop = -1};
        int32_t r = ig_generate(c, 0, 0, N, GEN, g, keep_pick, &p);
        CHECK(r == GEN && p.n == GEN, "pipeline %s: %d picks (%d handed on), want %d", modes[mo], r, p.n, GEN);
        int diff = 0;
        for (int i = 0; i < GEN && i < p.n; i++) diff += p.t[i] != want[i];
        CHECK(diff == 0, "pipeline %s: %d of %d picks differ from ig_sample + ig_decode", modes[mo], diff, GEN);
        CHECK(ig_seq_pos_max(c, 0) == N + GEN - 2 && ig_ctx_n_used(c) == N + GEN - 1,
              "pipeline %s: cache ends at %d with %d cells, want %d and %d", modes[mo], ig_seq_pos_max(c, 0),
              ig_ctx_n_used(c), N + GEN - 2, N + GEN - 1);
        printf("ig_generate (INGOT_PIPELINE=%s): %d of %d picks differ\n", modes[mo], diff, GEN);
        ig_ctx_free(c);
        /* refused at the 5th pick (its step was maybe queued: undone), then
         * the 5th decoded by hand and 8 more picks from there */
        c = prompted(m, a);
        struct picks q = {.stop = 5};
        r = ig_generate(c, 0, 0, N, -1, g, keep_pick, &q);
        CHECK(r == 5 && q.n == 5, "pipeline %s: stopped after %d picks, want 5", modes[mo], r);
        CHECK(ig_seq_pos_max(c, 0) == N + 3 && ig_ctx_n_used(c) == N + 4,
              "pipeline %s: after a refusal the cache ends at %d with %d cells, want %d and %d", modes[mo],
              ig_seq_pos_max(c, 0), ig_ctx_n_used(c), N + 3, N + 4);
        int32_t p4 = N + 4, sq = 0;
        struct ig_batch b4 = {1, &want[4], &p4, &sq, NULL};
        CHECK(ig_decode(c, &b4) == IG_OK, "decode after a refusal failed");
        struct picks q2 = {.stop = -1};
        r = ig_generate(c, 0, 0, N + 5, 8, g, keep_pick, &q2);
        diff = 0;
        for (int i = 0; i < 8 && i < q2.n; i++) diff += q2.t[i] != want[5 + i];
        CHECK(r == 8 && diff == 0, "pipeline %s: after a refusal %d picks, %d differ", modes[mo], r, diff);
        /* one pick: nothing decoded; a bad row */
        r = ig_generate(c, 0, 0, N + 12, 1, g, keep_pick, &q2);
        CHECK(r == 1 && ig_seq_pos_max(c, 0) == N + 11, "pipeline %s: one pick gave %d, cache ends at %d", modes[mo],
              r, ig_seq_pos_max(c, 0));
        CHECK(ig_generate(c, 7, 0, N, 4, g, keep_pick, &q2) == -IG_ERR_ARG, "a row out of range is accepted");
        ig_ctx_free(c);
    }
    unsetenv("INGOT_PIPELINE");
    ig_sampler_free(g);
    return failures - fails0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: test_logits MODEL OUT.bin [--ids ID,ID,... (32 ids; also writes OUT.bin.greedy)]\n");
        return 2;
    }
    const char *ids = argc > 4 && !strcmp(argv[3], "--ids") ? argv[4] : NULL;
    /* batches against single runs: 1e-5, unless a backend computes big
     * batches at lower precision (CUDA's FP16 cuBLAS prefill) */
    const char *te = getenv("INGOT_TEST_TOL");
    double tol = te && atof(te) > 0 ? atof(te) : 1e-5;
    struct ig_model *m;
    char err[512];
    struct ig_model_params mp = ig_model_default_params();
    const char *th = getenv("INGOT_TEST_THREADS"); /* tests/neon/model.sh: 1 */
    mp.n_threads = th && atoi(th) > 0 ? atoi(th) : 2;
    const char *be = getenv("INGOT_BACKEND");
    if (be && !ig_backend_parse(be, &mp.backend)) {
        printf("FAIL: INGOT_BACKEND='%s' unknown\n", be);
        return 1;
    }
    if (ig_model_load(argv[1], &mp, &m, err, sizeof err) != IG_OK) {
        printf("FAIL load: %s\n", err);
        return 1;
    }
    int nv = ig_n_vocab(m);
    ig_token a[N], b[N];
    for (int i = 0; i < N; i++) {
        a[i] = (ig_token)((i * 7919 + 13) % nv);
        b[i] = (ig_token)((i * 104729 + 101) % nv);
    }
    for (int i = 0; ids && i < N; i++) { /* a given prompt (reference fixtures) */
        char *end;
        long v = strtol(ids, &end, 10);
        if (end == ids || v < 0 || v >= nv) {
            printf("FAIL: --ids needs %d token ids below %d\n", N, nv);
            return 1;
        }
        a[i] = (ig_token)v;
        ids = *end == ',' ? end + 1 : end;
    }
    float *la = malloc((size_t)N * nv * sizeof(float)), *lb = malloc((size_t)N * nv * sizeof(float));
    float *tmp = malloc((size_t)N * nv * sizeof(float));

    /* reference run: sequence A alone, one batch */
    struct ig_ctx *c = new_ctx(m, 128, 2);
    printf("backend: %s\n", ig_ctx_backend(c));
    run_seq(c, a, N, 0, 0, N, la, nv);
    if (argc > 4) { /* greedy continuation of A, 16 tokens */
        char path[1024];
        snprintf(path, sizeof path, "%s.greedy", argv[2]);
        FILE *g = fopen(path, "w");
        const float *l = la + (size_t)(N - 1) * nv;
        for (int t = 0; g && t < 16; t++) {
            int best = 0;
            for (int j = 1; j < nv; j++)
                if (l[j] > l[best]) best = j;
            fprintf(g, "%s%d", t ? " " : "", best);
            ig_token tok = best;
            int32_t p = N + t, sq = 0;
            int8_t want = 1;
            struct ig_batch gb = {1, &tok, &p, &sq, &want};
            CHECK(ig_decode(c, &gb) == IG_OK, "greedy decode failed");
            l = ig_logits(c, 0);
        }
        if (g) fprintf(g, "\n"), fclose(g);
    }
    ig_seq_drop(c, -1, 0);
    run_seq(c, b, N, 0, 0, N, lb, nv);
    ig_ctx_free(c);

    FILE *f = fopen(argv[2], "wb");
    int32_t hdr[2] = {N, nv};
    fwrite(hdr, sizeof hdr, 1, f);
    fwrite(a, sizeof a, 1, f);
    fwrite(la, sizeof(float), (size_t)N * nv, f);
    fclose(f);

    /* the same prompt again, in the same batch: the same logits, bit for
     * bit (no result may hang on which GPU block finishes first) */
    c = new_ctx(m, 128, 2);
    run_seq(c, a, N, 0, 0, N, tmp, nv);
    CHECK(!memcmp(tmp, la, (size_t)N * nv * sizeof(float)), "a second run of the same prompt gave other logits");
    ig_ctx_free(c);

    /* chunked prefill (5 tokens at a time) equals one batch */
    c = new_ctx(m, 128, 2);
    run_seq(c, a, N, 0, 0, 5, tmp, nv);
    for (int i = 0; i < N; i++) {
        double e = rel_err(tmp + (size_t)i * nv, la + (size_t)i * nv, nv);
        CHECK(e <= tol, "chunked prefill differs at pos %d: rel err %g", i, e);
    }

    /* chunks queued back to back, no logits read in between (a backend
     * whose upload returns before reading its host memory must not let the
     * next chunk's step data overwrite it) */
    ig_seq_drop(c, -1, 0);
    for (int i = 0; i < N; i += 3) {
        int32_t qp[3], qs[3] = {0, 0, 0};
        int k = N - i < 3 ? N - i : 3;
        for (int j = 0; j < k; j++) qp[j] = i + j;
        struct ig_batch qb = {k, a + i, qp, qs, NULL};
        CHECK(ig_decode(c, &qb) == IG_OK, "queued chunk at %d failed", i);
    }
    CHECK(rel_err(ig_logits(c, 0), la + (size_t)(N - 1) * nv, nv) <= tol, "chunks queued back to back differ");

    /* drop the last 8 positions and decode them again */
    ig_seq_drop(c, 0, N - 8);
    CHECK(ig_seq_pos_max(c, 0) == N - 9, "pos max after drop is %d", ig_seq_pos_max(c, 0));
    run_seq(c, a + N - 8, 8, 0, N - 8, 8, tmp, nv);
    for (int i = 0; i < 8; i++)
        CHECK(rel_err(tmp + (size_t)i * nv, la + (size_t)(N - 8 + i) * nv, nv) <= tol, "re-decode differs at %d", i);
    ig_ctx_free(c);

    /* one batch, two sequences interleaved */
    c = new_ctx(m, 128, 2);
    ig_token toks[2 * N];
    int32_t pos[2 * N], seq[2 * N];
    for (int i = 0; i < N; i++) {
        toks[2 * i] = a[i], pos[2 * i] = i, seq[2 * i] = 0;
        toks[2 * i + 1] = b[i], pos[2 * i + 1] = i, seq[2 * i + 1] = 1;
    }
    struct ig_batch bb = {2 * N, toks, pos, seq, NULL};
    int8_t want[2 * N];
    for (int i = 0; i < 2 * N; i++) want[i] = 1;
    bb.logits = want;
    CHECK(ig_decode(c, &bb) == IG_OK, "two-sequence decode failed");
    samplers_init(nv);
    for (int i = 0; i < 2 * N; i++) samplers_check(c, i);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        worst = fmax(worst, rel_err(ig_logits(c, 2 * i), la + (size_t)i * nv, nv));
        worst = fmax(worst, rel_err(ig_logits(c, 2 * i + 1), lb + (size_t)i * nv, nv));
    }
    CHECK(worst <= tol, "two sequences in one batch differ from each alone: rel err %g", worst);
    printf("two-sequence batch vs single: max rel err %.3g\n", worst);
    CHECK(ig_logits(c, 2 * N) == NULL, "ig_logits out of range should be NULL");
    ig_ctx_free(c);

    /* two sequences decoded together one token each per step (the steps a
     * backend may record once and replay) */
    c = new_ctx(m, 128, 2);
    worst = 0;
    for (int i = 0; i < N; i++) {
        ig_token st[2] = {a[i], b[i]};
        int32_t sp[2] = {i, i}, ss[2] = {0, 1};
        int8_t sw[2] = {1, 1};
        struct ig_batch sb = {2, st, sp, ss, sw};
        CHECK(ig_decode(c, &sb) == IG_OK, "two-sequence step %d failed", i);
        samplers_check(c, 1), samplers_check(c, 0);
        worst = fmax(worst, rel_err(ig_logits(c, 0), la + (size_t)i * nv, nv));
        worst = fmax(worst, rel_err(ig_logits(c, 1), lb + (size_t)i * nv, nv));
    }
    CHECK(worst <= tol, "two-sequence steps differ from each sequence alone: rel err %g", worst);
    printf("two-sequence steps vs single: max rel err %.3g\n", worst);
    ig_ctx_free(c);

    /* one token a step of one sequence (a greedy pick may come from the
     * output projection itself: see ig_sample) */
    c = new_ctx(m, 128, 1);
    for (int i = 0; i < N; i++) {
        int32_t sp = i, ss = 0;
        int8_t sw = 1;
        struct ig_batch sb = {1, &a[i], &sp, &ss, &sw};
        CHECK(ig_decode(c, &sb) == IG_OK, "one-token step %d failed", i);
        samplers_check(c, 0);
    }
    CHECK(samp_mismatch == 0, "ig_sample differs from the sampler over the whole row: %d of %d", samp_mismatch, samp_n);
    printf("ig_sample vs the whole row: %d of %d tokens differ\n", samp_mismatch, samp_n);
    for (int i = 0; i < N_SAMP; i++) ig_sampler_free(samp_top[i]), ig_sampler_free(samp_whole[i]);
    ig_ctx_free(c);

    /* ig_generate, greedy: pipelined (the device feeds each pick to the
     * next step) and plain, against a loop of ig_sample and ig_decode */
    CHECK(check_generate(m, a, nv) == 0, "ig_generate");

    /* steps of three sequences one token each (a backend may record and
     * replay them), then steps of three tokens that alternate between
     * sequences with one of them twice ([0, 1, 0]: its second token sees the
     * first one's cell, written in the same step): these may not replay the
     * first steps' launches */
    c = new_ctx(m, 128, 3);
    worst = 0;
    const int K = N / 3;
    for (int i = 0, j = 0; i < N - 1; j++) {
        const bool abc = i < K;
        ig_token st[3] = {a[i], b[j], abc ? a[i] : a[i + 1]};
        int32_t sp[3] = {i, j, abc ? i : i + 1}, ss[3] = {0, 1, abc ? 2 : 0};
        int8_t sw[3] = {1, 1, 1};
        struct ig_batch sb = {3, st, sp, ss, sw};
        CHECK(ig_decode(c, &sb) == IG_OK, "three-token step at %d failed", i);
        worst = fmax(worst, rel_err(ig_logits(c, 0), la + (size_t)i * nv, nv));
        worst = fmax(worst, rel_err(ig_logits(c, 1), lb + (size_t)j * nv, nv));
        worst = fmax(worst, rel_err(ig_logits(c, 2), la + (size_t)sp[2] * nv, nv));
        i += abc ? 1 : 2;
    }
    CHECK(worst <= tol, "three-token steps ([0, 1, 2], then [0, 1, 0]) differ from each sequence alone: rel err %g",
          worst);
    printf("three-token steps vs single: max rel err %.3g\n", worst);
    ig_ctx_free(c);

    /* a batch that does not fit: error, nothing changed */
    c = new_ctx(m, 40, 2);
    run_seq(c, a, N, 0, 0, N, tmp, nv);
    int used = ig_ctx_n_used(c);
    /* a (seq, pos) already cached is overwritten in its own cell: no cell
     * more in use, and the original token again gives the original logits */
    int32_t p_last = N - 1, s0 = 0;
    struct ig_batch ow = {1, &b[N - 1], &p_last, &s0, NULL}, back = {1, &a[N - 1], &p_last, &s0, NULL};
    CHECK(ig_decode(c, &ow) == IG_OK && ig_ctx_n_used(c) == used, "overwrite took a new cell");
    CHECK(ig_decode(c, &back) == IG_OK && ig_ctx_n_used(c) == used, "overwrite took a new cell");
    CHECK(rel_err(ig_logits(c, 0), la + (size_t)(N - 1) * nv, nv) <= tol, "overwritten cell: logits differ");
    /* the same (seq, pos) twice in one batch */
    ig_token two[2] = {a[0], a[1]};
    int32_t p2[2] = {3, 3}, s2[2] = {1, 1};
    struct ig_batch dup = {2, two, p2, s2, NULL};
    CHECK(ig_decode(c, &dup) == IG_ERR_ARG && ig_ctx_n_used(c) == used, "a (seq, pos) twice in a batch accepted");
    for (int i = 0; i < N; i++) pos[i] = i, seq[i] = 1;
    struct ig_batch full = {N, b, pos, seq, NULL};
    CHECK(ig_decode(c, &full) == IG_ERR_CTX_FULL, "overfull batch should be IG_ERR_CTX_FULL");
    CHECK(ig_ctx_n_used(c) == used && ig_seq_pos_max(c, 1) == -1, "failed batch changed the cache");
    /* bad arguments */
    int32_t bad_seq = 5, p0 = 0;
    ig_token t0 = 0, bad_tok = nv;
    struct ig_batch bad1 = {1, &t0, &p0, &bad_seq, NULL}, bad2 = {1, &bad_tok, &p0, &seq[0], NULL};
    CHECK(ig_decode(c, &bad1) == IG_ERR_ARG, "seq id out of range accepted");
    CHECK(ig_decode(c, &bad2) == IG_ERR_ARG, "token id out of range accepted");
    ig_ctx_free(c);

    free(la), free(lb), free(tmp);
    ig_model_free(m);
    printf("%s: %d failures\n", argv[1], failures);
    return failures ? 1 : 0;
}
