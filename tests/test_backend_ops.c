/* test_backend_ops.c - every op of one backend against the scalar reference
 * (cpu-ref), op by op, on the weights of a real model file: embed, rmsnorm
 * (with a row index), add_rmsnorm, matmul / matmul_n / matmul_glu on every
 * matrix of layer 0 and the output for a grid of token counts, add_bias,
 * rope + kv_store (or the fused rope_kv_store, or qkv_rope_store: Q/K/V,
 * rope and the cache store in one), matmul_add_norm and what reads its
 * output, multi-sequence attention over scattered KV cells (several
 * context lengths, cells past n_used free), add and swiglu. Inputs are
 * random; each result is compared as max|got - want| / max|want|, except
 * topk's, which must equal a sort of the row (ids and values).
 *
 * Tolerances: matmuls of F32/F16/BF16 weights OPS_TOL_FLOAT (default 1e-4;
 * paths that round activations to FP16, like cuBLAS prefill, need ~2e-3),
 * of quantized weights OPS_TOL_QUANT (default 2e-2: the fast kernels
 * multiply activations quantized to 8 bits, as llama.cpp does); attention
 * OPS_TOL_ATTN (default 1e-4; tensor-core prompt attention rounds to FP16:
 * ~4e-3); every other op 1e-4.
 * usage: test_backend_ops MODEL BACKEND   (BACKEND: cpu | cuda)
 * exit 0 all passed, 1 failures, 77 the backend is not usable here. */
#include "backend/backend.h"
#include "engine/ctx.h"
#include "ingot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}
static int irand(int n) { return (int)((frand() + 1.0f) * 0.5f * (float)n) % n; }

static float *rand_vec(size_t n, float scale) {
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = frand() * scale;
    return v;
}

/* one backend under test: its ops and instance */
struct be {
    const struct ig_backend_ops *ops;
    struct ig_backend *b;
};

static void *put(struct be *e, const void *host, size_t bytes) {
    void *d = e->ops->alloc(e->b, bytes ? bytes : 4);
    CHECK(d != NULL, "%s: alloc of %zu bytes", e->ops->name, bytes);
    if (!d) exit(1);
    if (host && bytes) e->ops->upload(e->b, d, host, bytes);
    return d;
}
static float *get(struct be *e, const void *dev, size_t n) {
    float *h = malloc(n * sizeof *h);
    e->ops->download(e->b, h, dev, n * sizeof *h);
    return h;
}

static double rel_err(const float *a, const float *b, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) return INFINITY;
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)b[i]));
    }
    return m > 0 ? d / m : d;
}

static int n_checked;
/* download n floats from both and compare */
static void compare(const char *what, struct be *ref, const void *want_d, struct be *tst, const void *got_d, size_t n,
                    double tol) {
    float *want = get(ref, want_d, n), *got = get(tst, got_d, n);
    double e = rel_err(got, want, n);
    n_checked++;
    printf("%s %-40s err %.2e (tol %.0e)\n", e <= tol ? "ok  " : "FAIL", what, e, tol);
    if (!(e <= tol)) failures++;
    free(want);
    free(got);
}

/* a step's metadata in both backends' memory */
struct steps {
    struct ig_step s[2];
    void *mem[2][10];
};
static void make_steps(struct steps *st, struct be *e[2], int n_tok, const int32_t *tok, const int32_t *pos,
                       const int32_t *seq, const int32_t *cell, int n_out, const int32_t *out_idx, int n_ctx,
                       const int32_t *cell_seq, const int32_t *cell_pos, int32_t n_used) {
    /* the cell lists, as ig_decode builds them */
    int32_t slot[64], cnt[257], *list = malloc((size_t)n_ctx * 4), *tok_list = malloc((size_t)n_tok * 8);
    for (int i = 0; i < 64; i++) slot[i] = -1;
    int32_t n_seq = 0;
    int32_t n_list = ig_cell_lists(cell_seq, n_used, seq, n_tok, slot, cnt, list, tok_list, &n_seq);
    for (int t = 0; t < n_tok; t++) { /* each token's list: exactly its sequence's cells, ascending */
        int k = 0;
        for (int c = 0; c < n_used; c++) {
            if (cell_seq[c] != seq[t]) continue;
            CHECK(k < tok_list[2 * t + 1] && list[tok_list[2 * t] + k] == c, "cell list of token %d: cell %d", t, c);
            k++;
        }
        CHECK(k == tok_list[2 * t + 1], "cell list of token %d holds %d cells, not %d", t, tok_list[2 * t + 1], k);
    }
    for (int i = 0; i < 64; i++) CHECK(slot[i] == -1, "ig_cell_lists left slot %d set", i);
    for (int i = 0; i < 2; i++) {
        void **m = st->mem[i];
        m[0] = put(e[i], tok, (size_t)n_tok * 4);
        m[1] = put(e[i], pos, (size_t)n_tok * 4);
        m[2] = put(e[i], seq, (size_t)n_tok * 4);
        m[3] = put(e[i], cell, (size_t)n_tok * 4);
        m[4] = put(e[i], out_idx, (size_t)n_out * 4);
        m[5] = put(e[i], cell_seq, (size_t)n_ctx * 4);
        m[6] = put(e[i], cell_pos, (size_t)n_ctx * 4);
        m[7] = put(e[i], &n_used, 4);
        m[8] = put(e[i], tok_list, (size_t)n_tok * 8);
        m[9] = put(e[i], list, (size_t)n_list * 4);
        st->s[i] = (struct ig_step){m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], n_tok, n_out, n_ctx, 1, m[8], m[9],
                                   n_seq == n_tok, n_used};
    }
    free(list), free(tok_list);
}
static void free_steps(struct steps *st, struct be *e[2]) {
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 10; j++) e[i]->ops->free(e[i]->b, st->mem[i][j]);
}

static double tol_float = 1e-4, tol_quant = 2e-2, tol_attn = 1e-4;
static const double tol_op = 1e-4;

static bool is_float_type(enum ig_dtype t) { return t == IG_DTYPE_F32 || t == IG_DTYPE_F16 || t == IG_DTYPE_BF16; }
static const char *type_name(const struct ig_weight *w) { return ig_dtype_get(w->type)->name; }

/* matmul of one weight (index wi into the layer-0 list) for n_tok tokens */
static const struct ig_weight *pick(struct be *e, int wi) {
    const struct ig_weights *w = e->ops->weights(e->b);
    const struct ig_layer *L = &w->layers[0];
    const struct ig_weight *all[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down, &w->output};
    return all[wi];
}
static const char *const wname[] = {"wq", "wk", "wv", "wo", "gate", "up", "down", "output"};

static void test_matmul(struct be *e[2], int wi, int n_tok) {
    const struct ig_weight *W0 = pick(e[0], wi);
    const size_t n_in = (size_t)W0->n_in, n_out = (size_t)W0->n_out;
    float *x = rand_vec((size_t)n_tok * n_in, 1.0f);
    void *xd[2], *od[2], *sc[2];
    for (int i = 0; i < 2; i++) {
        xd[i] = put(e[i], x, (size_t)n_tok * n_in * 4);
        od[i] = put(e[i], NULL, (size_t)n_tok * n_out * 4);
        sc[i] = put(e[i], NULL, e[i]->ops->matmul_scratch(e[i]->b, n_tok, (int64_t)n_in));
        e[i]->ops->matmul(e[i]->b, pick(e[i], wi), xd[i], od[i], n_tok, sc[i]);
    }
    char what[96];
    snprintf(what, sizeof what, "matmul %s %s %zux%zu n_tok=%d", wname[wi], type_name(W0), n_out, n_in, n_tok);
    compare(what, e[0], od[0], e[1], od[1], (size_t)n_tok * n_out, is_float_type(W0->type) ? tol_float : tol_quant);
    for (int i = 0; i < 2; i++) {
        e[i]->ops->free(e[i]->b, xd[i]);
        e[i]->ops->free(e[i]->b, od[i]);
        e[i]->ops->free(e[i]->b, sc[i]);
    }
    free(x);
}

/* matmul_n over weights wis[0..n_w) that share an input (qkv, gate/up) */
static void test_matmul_n(struct be *e[2], const int *wis, int n_w, int n_tok) {
    const size_t n_in = (size_t)pick(e[0], wis[0])->n_in;
    float *x = rand_vec((size_t)n_tok * n_in, 1.0f);
    void *xd[2], *sc[2], *od[2][4];
    for (int i = 0; i < 2; i++) {
        const struct ig_weight *W[4];
        float *out[4];
        for (int k = 0; k < n_w; k++) {
            W[k] = pick(e[i], wis[k]);
            od[i][k] = out[k] = put(e[i], NULL, (size_t)n_tok * (size_t)W[k]->n_out * 4);
        }
        xd[i] = put(e[i], x, (size_t)n_tok * n_in * 4);
        sc[i] = put(e[i], NULL, e[i]->ops->matmul_scratch(e[i]->b, n_tok, (int64_t)n_in));
        e[i]->ops->matmul_n(e[i]->b, W, out, n_w, xd[i], n_tok, sc[i]);
    }
    for (int k = 0; k < n_w; k++) {
        const struct ig_weight *W0 = pick(e[0], wis[k]);
        char what[96];
        snprintf(what, sizeof what, "matmul_n %s (%d of %d) %s n_tok=%d", wname[wis[k]], k + 1, n_w, type_name(W0),
                 n_tok);
        compare(what, e[0], od[0][k], e[1], od[1][k], (size_t)n_tok * (size_t)W0->n_out,
                is_float_type(W0->type) ? tol_float : tol_quant);
    }
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < n_w; k++) e[i]->ops->free(e[i]->b, od[i][k]);
        e[i]->ops->free(e[i]->b, xd[i]);
        e[i]->ops->free(e[i]->b, sc[i]);
    }
    free(x);
}

/* matmul_glu (silu(gate x) * up x) against matmul_n + swiglu on the
 * reference, then the down projection straight after (a backend may hand it
 * a copy of the GLU output it made on the way, as CUDA's int8 one); twice,
 * on new inputs, so what the first call leaves behind cannot pass for the
 * second's result */
static void test_matmul_glu(struct be *e[2], int n_tok) {
    struct be *r = e[0], *t = e[1];
    if (!t->ops->matmul_glu) return;
    const struct ig_weight *G = pick(r, 4), *D = pick(r, 6);
    const size_t n_in = (size_t)G->n_in, n_ff = (size_t)G->n_out, n_out = (size_t)D->n_out;
    const int64_t widest = (int64_t)(n_ff > n_in ? n_ff : n_in); /* the scratch serves both matmuls */
    void *sr = put(r, NULL, r->ops->matmul_scratch(r->b, n_tok, widest));
    void *st = put(t, NULL, t->ops->matmul_scratch(t->b, n_tok, widest));
    const struct ig_weight *W[2] = {pick(r, 4), pick(r, 5)};
    const double tol = is_float_type(G->type) ? tol_float : tol_quant;
    for (int pass = 1; pass <= 2; pass++) {
        float *x = rand_vec((size_t)n_tok * n_in, 1.0f);
        void *xr = put(r, x, (size_t)n_tok * n_in * 4), *xt = put(t, x, (size_t)n_tok * n_in * 4);
        float *g = put(r, NULL, (size_t)n_tok * n_ff * 4), *u = put(r, NULL, (size_t)n_tok * n_ff * 4);
        void *o = put(t, NULL, (size_t)n_tok * n_ff * 4);
        void *dr = put(r, NULL, (size_t)n_tok * n_out * 4), *dt = put(t, NULL, (size_t)n_tok * n_out * 4);
        float *out[2] = {g, u};
        r->ops->matmul_n(r->b, W, out, 2, xr, n_tok, sr);
        r->ops->swiglu(r->b, g, u, (size_t)n_tok * n_ff);
        r->ops->matmul(r->b, D, g, dr, n_tok, sr);
        char what[96];
        snprintf(what, sizeof what, "matmul_glu %s n_tok=%d (pass %d)", type_name(G), n_tok, pass);
        const bool ok = t->ops->matmul_glu(t->b, pick(t, 4), pick(t, 5), xt, o, n_tok, st);
        if (ok) {
            compare(what, r, g, t, o, (size_t)n_tok * n_ff, tol);
            t->ops->matmul(t->b, pick(t, 6), o, dt, n_tok, st);
            snprintf(what, sizeof what, "matmul_glu -> down %s n_tok=%d (pass %d)", type_name(D), n_tok, pass);
            compare(what, r, dr, t, dt, (size_t)n_tok * n_out, fmax(tol, is_float_type(D->type) ? tol_float : tol_quant));
        } else
            printf("n/a  %s (the backend declines: the engine runs matmul_n + swiglu)\n", what);
        r->ops->free(r->b, xr), r->ops->free(r->b, g), r->ops->free(r->b, u), r->ops->free(r->b, dr);
        t->ops->free(t->b, xt), t->ops->free(t->b, o), t->ops->free(t->b, dt);
        free(x);
        if (!ok) break;
    }
    r->ops->free(r->b, sr), t->ops->free(t->b, st);
}

/* matmul_add_norm (one token: x += W y, out = rmsnorm(x) * w) after the O
 * (wi 3) or down (wi 6) projection, against matmul + add + rmsnorm on the
 * reference; then what reads out next, before and after out is downloaded
 * (CUDA defers the norm's scale into the int8 GEMVs that read it, and makes
 * the float out whole only when something else reads it): gate/up,
 * matmul_glu and the down projection of its output, the output matrix.
 * Twice, on new inputs. */
static void test_matmul_add_norm(struct be *e[2], const struct ig_hparams *hp, int wi) {
    struct be *r = e[0], *t = e[1];
    if (!t->ops->matmul_add_norm) return;
    const struct ig_weight *W = pick(r, wi), *G = pick(r, 4), *D = pick(r, 6), *O = pick(r, 7);
    const size_t n_in = (size_t)W->n_in, E = (size_t)hp->n_embd, n_ff = (size_t)hp->n_ff, V = (size_t)O->n_out;
    size_t widest = n_ff > n_in ? n_ff : n_in;
    if (E > widest) widest = E;
    void *sc[2];
    for (int i = 0; i < 2; i++) sc[i] = put(e[i], NULL, e[i]->ops->matmul_scratch(e[i]->b, 1, (int64_t)widest));
    const double tq = is_float_type(W->type) ? tol_float : tol_quant;
    for (int pass = 1; pass <= 2; pass++) {
        float *y = rand_vec(n_in, 1.0f), *x = rand_vec(E, 2.0f);
        void *yd[2], *xd[2], *od[2], *gd[2], *ud[2], *hd[2], *dd[2], *ld[2], *l2[2];
        for (int i = 0; i < 2; i++) {
            yd[i] = put(e[i], y, n_in * 4), xd[i] = put(e[i], x, E * 4), od[i] = put(e[i], NULL, E * 4);
            gd[i] = put(e[i], NULL, n_ff * 4), ud[i] = put(e[i], NULL, n_ff * 4), hd[i] = put(e[i], NULL, n_ff * 4);
            dd[i] = put(e[i], NULL, E * 4), ld[i] = put(e[i], NULL, V * 4), l2[i] = put(e[i], NULL, V * 4);
        }
        const float *nw[2] = {e[0]->ops->weights(e[0]->b)->layers[0].ffn_norm,
                              e[1]->ops->weights(e[1]->b)->layers[0].ffn_norm};
        r->ops->matmul(r->b, W, yd[0], dd[0], 1, sc[0]);
        r->ops->add(r->b, xd[0], dd[0], E);
        r->ops->rmsnorm(r->b, od[0], xd[0], NULL, nw[0], 1, (int32_t)E, hp->norm_eps);
        const bool ok =
            t->ops->matmul_add_norm(t->b, pick(t, wi), yd[1], xd[1], nw[1], od[1], 1, hp->norm_eps, sc[1]);
        char what[96];
        snprintf(what, sizeof what, "matmul_add_norm %s %s (pass %d)", wname[wi], type_name(W), pass);
        if (ok) {
            const double td = fmax(tq, is_float_type(D->type) ? tol_float : tol_quant);
            const double to = fmax(tq, is_float_type(O->type) ? tol_float : tol_quant);
            for (int i = 0; i < 2; i++) { /* the readers of out, before anything downloads out */
                const struct ig_weight *gu[2] = {pick(e[i], 4), pick(e[i], 5)};
                float *gu_out[2] = {gd[i], ud[i]};
                e[i]->ops->matmul_n(e[i]->b, gu, gu_out, 2, od[i], 1, sc[i]);
            }
            snprintf(what, sizeof what, "matmul_add_norm %s -> gate %s (pass %d)", wname[wi], type_name(G), pass);
            compare(what, r, gd[0], t, gd[1], n_ff, fmax(tq, is_float_type(G->type) ? tol_float : tol_quant));
            for (int i = 0; i < 2; i++) {
                const bool glu = i == 1 && e[i]->ops->matmul_glu &&
                                 e[i]->ops->matmul_glu(e[i]->b, pick(e[i], 4), pick(e[i], 5), od[i], hd[i], 1, sc[i]);
                if (!glu) e[i]->ops->swiglu(e[i]->b, gd[i], ud[i], n_ff);
                e[i]->ops->matmul(e[i]->b, pick(e[i], 6), glu ? hd[i] : gd[i], dd[i], 1, sc[i]);
                e[i]->ops->matmul(e[i]->b, pick(e[i], 7), od[i], ld[i], 1, sc[i]);
            }
            snprintf(what, sizeof what, "matmul_add_norm %s %s -> MLP (pass %d)", wname[wi], type_name(G), pass);
            compare(what, r, dd[0], t, dd[1], E, 2 * td); /* two quantized matmuls in a row */
            snprintf(what, sizeof what, "matmul_add_norm %s %s -> output (pass %d)", wname[wi], type_name(O), pass);
            compare(what, r, ld[0], t, ld[1], V, to);
            snprintf(what, sizeof what, "matmul_add_norm %s %s: sum (pass %d)", wname[wi], type_name(W), pass);
            compare(what, r, xd[0], t, xd[1], E, tq);
            snprintf(what, sizeof what, "matmul_add_norm %s %s: norm (pass %d)", wname[wi], type_name(W), pass);
            compare(what, r, od[0], t, od[1], E, tq);
            t->ops->matmul(t->b, pick(t, 7), od[1], l2[1], 1, sc[1]); /* out read after it was made whole */
            snprintf(what, sizeof what, "matmul_add_norm %s -> output after (pass %d)", wname[wi], pass);
            compare(what, r, ld[0], t, l2[1], V, to);
        } else
            printf("n/a  %s (the backend declines: the engine runs matmul + add_rmsnorm)\n", what);
        for (int i = 0; i < 2; i++) {
            void *all[] = {yd[i], xd[i], od[i], gd[i], ud[i], hd[i], dd[i], ld[i], l2[i]};
            for (size_t k = 0; k < sizeof all / sizeof all[0]; k++) e[i]->ops->free(e[i]->b, all[k]);
        }
        free(y), free(x);
        if (!ok) break;
    }
    for (int i = 0; i < 2; i++) e[i]->ops->free(e[i]->b, sc[i]);
}

/* qkv_rope_store (one token: Q/K/V, their biases, rope and the cache store
 * in one op) against matmul_n + add_bias + rope + kv_store on the
 * reference: q and both caches */
static void test_qkv_rope_store(struct be *e[2], const struct ig_model *m) {
    const struct ig_hparams *hp = &m->hp;
    const struct ig_layer *L = &e[0]->ops->weights(e[0]->b)->layers[0];
    if (!e[1]->ops->qkv_rope_store) return;
    const int n_ctx = 16, hd = hp->head_dim, nq = hp->n_head * hd, nkv = hp->n_head_kv * hd;
    const size_t n_in = (size_t)pick(e[0], 0)->n_in, cache_n = (size_t)n_ctx * (size_t)nkv;
    int32_t tok = 0, pos = 37, seq = 0, cell = 9, out_idx = 0, cell_seq[16], cell_pos[16];
    for (int c = 0; c < n_ctx; c++) cell_seq[c] = c <= cell ? 0 : -1, cell_pos[c] = c <= cell ? 28 + c : 0;
    struct steps st;
    make_steps(&st, e, 1, &tok, &pos, &seq, &cell, 1, &out_idx, n_ctx, cell_seq, cell_pos, cell + 1);
    float *x = rand_vec(n_in, 1.0f), *kc = rand_vec(cache_n, 1.0f), *vc = rand_vec(cache_n, 1.0f);
    void *xd[2], *qd[2], *kd[2], *vd[2], *kcd[2], *vcd[2], *sc[2];
    bool ok = true;
    for (int i = 0; i < 2; i++) {
        struct be *b = e[i];
        const struct ig_weights *W = b->ops->weights(b->b);
        xd[i] = put(b, x, n_in * 4), kcd[i] = put(b, kc, cache_n * 4), vcd[i] = put(b, vc, cache_n * 4);
        qd[i] = put(b, NULL, (size_t)nq * 4), kd[i] = put(b, NULL, (size_t)nkv * 4), vd[i] = put(b, NULL, (size_t)nkv * 4);
        sc[i] = put(b, NULL, b->ops->matmul_scratch(b->b, 1, (int64_t)n_in));
        const struct ig_weight *w3[3] = {pick(b, 0), pick(b, 1), pick(b, 2)};
        const struct ig_layer *Li = &W->layers[0];
        const float *bias[3] = {Li->bq, Li->bk, Li->bv};
        if (i == 1) {
            ok = b->ops->qkv_rope_store(b->b, w3, bias, xd[i], qd[i], kd[i], vd[i], kcd[i], vcd[i], &st.s[i], hd,
                                        hp->n_rot, W->rope_inv_freq, m->rope_neox, sc[i]);
            continue;
        }
        float *o3[3] = {qd[i], kd[i], vd[i]};
        b->ops->matmul_n(b->b, w3, o3, 3, xd[i], 1, sc[i]);
        if (bias[0]) b->ops->add_bias(b->b, qd[i], bias[0], 1, nq);
        if (bias[1]) b->ops->add_bias(b->b, kd[i], bias[1], 1, nkv);
        if (bias[2]) b->ops->add_bias(b->b, vd[i], bias[2], 1, nkv);
        b->ops->rope(b->b, qd[i], kd[i], &st.s[i], hp->n_head, hp->n_head_kv, hd, hp->n_rot, W->rope_inv_freq,
                     m->rope_neox);
        b->ops->kv_store(b->b, kcd[i], vcd[i], kd[i], vd[i], &st.s[i], nkv);
    }
    const double tol = is_float_type(pick(e[0], 0)->type) ? tol_float : tol_quant;
    if (!ok)
        printf("n/a  qkv_rope_store %s%s%s (the backend declines: the engine runs the plain ops)\n",
               type_name(pick(e[0], 0)), m->rope_neox ? " neox" : "", L->bq ? " bias" : "");
    else {
        char what[96];
        const char *how = m->rope_neox ? (L->bq ? " neox bias" : " neox") : (L->bq ? " bias" : "");
        snprintf(what, sizeof what, "qkv_rope_store %s%s: q", type_name(pick(e[0], 0)), how);
        compare(what, e[0], qd[0], e[1], qd[1], (size_t)nq, tol);
        snprintf(what, sizeof what, "qkv_rope_store %s%s: k cache", type_name(pick(e[0], 1)), how);
        compare(what, e[0], kcd[0], e[1], kcd[1], cache_n, tol);
        snprintf(what, sizeof what, "qkv_rope_store %s%s: v cache", type_name(pick(e[0], 2)), how);
        compare(what, e[0], vcd[0], e[1], vcd[1], cache_n, tol);
    }
    for (int i = 0; i < 2; i++) {
        void *all[] = {xd[i], qd[i], kd[i], vd[i], kcd[i], vcd[i], sc[i]};
        for (size_t j = 0; j < sizeof all / sizeof all[0]; j++) e[i]->ops->free(e[i]->b, all[j]);
    }
    free_steps(&st, e);
    free(x), free(kc), free(vc);
}

static void test_elementwise(struct be *e[2], const struct ig_hparams *hp) {
    const int n_rows = 7, E = hp->n_embd;
    const size_t n = (size_t)n_rows * (size_t)E;
    float *x = rand_vec(n, 3.0f), *y = rand_vec(n, 1.0f);
    int32_t idx[3] = {6, 0, 3};
    void *xd[2], *yd[2], *od[2], *id[2];
    for (int i = 0; i < 2; i++) {
        xd[i] = put(e[i], x, n * 4), yd[i] = put(e[i], y, n * 4), od[i] = put(e[i], NULL, n * 4);
        id[i] = put(e[i], idx, sizeof idx);
    }
    char what[96];
    /* rmsnorm over all rows, then over an index (the logits rows) */
    for (int i = 0; i < 2; i++)
        e[i]->ops->rmsnorm(e[i]->b, od[i], xd[i], NULL, e[i]->ops->weights(e[i]->b)->layers[0].attn_norm, n_rows, E,
                           hp->norm_eps);
    snprintf(what, sizeof what, "rmsnorm %dx%d", n_rows, E);
    compare(what, e[0], od[0], e[1], od[1], n, tol_op);
    for (int i = 0; i < 2; i++)
        e[i]->ops->rmsnorm(e[i]->b, od[i], xd[i], id[i], e[i]->ops->weights(e[i]->b)->output_norm, 3, E,
                           hp->norm_eps);
    snprintf(what, sizeof what, "rmsnorm idx 3 of %d rows", n_rows);
    compare(what, e[0], od[0], e[1], od[1], (size_t)3 * (size_t)E, tol_op);
    /* add_rmsnorm (x += y; out = norm(x)) against add + rmsnorm */
    if (e[1]->ops->add_rmsnorm) {
        for (int i = 0; i < 2; i++) {
            const float *w = e[i]->ops->weights(e[i]->b)->layers[0].ffn_norm;
            if (i == 0) {
                e[i]->ops->add(e[i]->b, xd[i], yd[i], n);
                e[i]->ops->rmsnorm(e[i]->b, od[i], xd[i], NULL, w, n_rows, E, hp->norm_eps);
            } else
                e[i]->ops->add_rmsnorm(e[i]->b, od[i], xd[i], yd[i], w, n_rows, E, hp->norm_eps);
        }
        compare("add_rmsnorm: sum", e[0], xd[0], e[1], xd[1], n, tol_op);
        compare("add_rmsnorm: norm", e[0], od[0], e[1], od[1], n, tol_op);
    }
    for (int i = 0; i < 2; i++) e[i]->ops->add(e[i]->b, xd[i], yd[i], n);
    compare("add", e[0], xd[0], e[1], xd[1], n, tol_op);
    for (int i = 0; i < 2; i++) e[i]->ops->swiglu(e[i]->b, xd[i], yd[i], n);
    compare("swiglu", e[0], xd[0], e[1], xd[1], n, tol_op);
    /* add_bias where the model has one (qwen2) */
    const float *bq[2] = {e[0]->ops->weights(e[0]->b)->layers[0].bq, e[1]->ops->weights(e[1]->b)->layers[0].bq};
    if (bq[0]) {
        const int nq = hp->n_head * hp->head_dim;
        for (int i = 0; i < 2; i++) e[i]->ops->add_bias(e[i]->b, xd[i], bq[i], n_rows * E / nq, nq);
        compare("add_bias", e[0], xd[0], e[1], xd[1], (size_t)(n_rows * E / nq) * (size_t)nq, tol_op);
    }
    for (int i = 0; i < 2; i++) {
        e[i]->ops->free(e[i]->b, xd[i]), e[i]->ops->free(e[i]->b, yd[i]);
        e[i]->ops->free(e[i]->b, od[i]), e[i]->ops->free(e[i]->b, id[i]);
    }
    free(x), free(y);
}

static void test_embed(struct be *e[2], const struct ig_hparams *hp) {
    enum { T = 9 };
    int32_t tok[T], z[T] = {0};
    for (int i = 0; i < T; i++) tok[i] = i == 0 ? hp->n_vocab - 1 : irand(hp->n_vocab);
    struct steps st;
    make_steps(&st, e, T, tok, z, z, z, 0, NULL, 1, z, z, 1);
    void *od[2];
    for (int i = 0; i < 2; i++) {
        od[i] = put(e[i], NULL, (size_t)T * (size_t)hp->n_embd * 4);
        e[i]->ops->embed(e[i]->b, &e[i]->ops->weights(e[i]->b)->tok_embd, &st.s[i], od[i]);
    }
    compare("embed 9 tokens", e[0], od[0], e[1], od[1], (size_t)T * (size_t)hp->n_embd, tol_op);
    for (int i = 0; i < 2; i++) e[i]->ops->free(e[i]->b, od[i]);
    free_steps(&st, e);
}

/* A KV cache of n_ctx cells holding two sequences at scattered cells (the
 * rest free, nothing at or past n_used), a batch of n_tok new tokens that
 * alternate between the sequences (decode of many sequences) or, with
 * `prompt`, continue sequence 0 for the first half and sequence 1 for the
 * rest (two prompts in one batch; n_tok 1: one prompt); with `in_order` the
 * cells are filled in order (a fresh context: the causal edge runs through
 * the cells, so whole tiles can be skipped). Runs rope + kv_store (or rope_kv_store)
 * for the batch, then attention, comparing q, both caches and the output. */
static void test_attention(struct be *e[2], const struct ig_model *m, int n_ctx, int n_tok, bool prompt,
                           bool in_order) {
    const struct ig_hparams *hp = &m->hp;
    const int hd = hp->head_dim, nq = hp->n_head * hd, nkv = hp->n_head_kv * hd;
    const int n_used = n_ctx * 3 / 4; /* cells past this stay free */
    int32_t *cell_seq = malloc((size_t)n_ctx * 4), *cell_pos = malloc((size_t)n_ctx * 4);
    int32_t *perm = malloc((size_t)n_used * 4);
    for (int c = 0; c < n_ctx; c++) cell_seq[c] = -1, cell_pos[c] = 0;
    for (int c = 0; c < n_used; c++) perm[c] = c;
    for (int c = n_used - 1; c > 0 && !in_order; c--) {
        int j = irand(c + 1), t = perm[c];
        perm[c] = perm[j], perm[j] = t;
    }
    /* past tokens: sequence 0 gets two thirds of the cells the batch leaves,
     * sequence 1 the rest but one; the last used cell is taken so that n_used
     * is exact */
    const int past = n_used - n_tok - 1;
    int len[2] = {past * 2 / 3, past - past * 2 / 3}, k = 0;
    for (int s = 0; s < 2; s++)
        for (int p = 0; p < len[s]; p++, k++) cell_seq[perm[k]] = s, cell_pos[perm[k]] = p;
    int32_t tok[256], pos[256], seq[256], cell[256], out_idx[256];
    for (int t = 0; t < n_tok; t++, k++) {
        seq[t] = prompt ? (n_tok > 1 && t >= n_tok / 2) : t % 2;
        pos[t] = len[seq[t]]++;
        cell[t] = perm[k];
        cell_seq[cell[t]] = seq[t], cell_pos[cell[t]] = pos[t];
        tok[t] = 0, out_idx[t] = t;
    }
    if (cell_seq[n_used - 1] < 0) cell_seq[n_used - 1] = 1, cell_pos[n_used - 1] = len[1]++; /* a far past token */
    struct steps st;
    make_steps(&st, e, n_tok, tok, pos, seq, cell, n_tok, out_idx, n_ctx, cell_seq, cell_pos, n_used);
    int runs = 1;
    for (int t = 1; t < n_tok; t++) runs += seq[t] != seq[t - 1];
    st.s[0].n_runs = st.s[1].n_runs = runs;

    const size_t cache_n = (size_t)n_ctx * (size_t)nkv;
    float *kc = rand_vec(cache_n, 1.0f), *vc = rand_vec(cache_n, 1.0f);
    float *q = rand_vec((size_t)n_tok * nq, 1.0f), *kn = rand_vec((size_t)n_tok * nkv, 1.0f);
    float *vn = rand_vec((size_t)n_tok * nkv, 1.0f);
    void *kcd[2], *vcd[2], *qd[2], *kd[2], *vd[2], *od[2], *sc[2];
    const struct ig_weights *W[2];
    for (int i = 0; i < 2; i++) {
        W[i] = e[i]->ops->weights(e[i]->b);
        kcd[i] = put(e[i], kc, cache_n * 4), vcd[i] = put(e[i], vc, cache_n * 4);
        qd[i] = put(e[i], q, (size_t)n_tok * nq * 4);
        kd[i] = put(e[i], kn, (size_t)n_tok * nkv * 4), vd[i] = put(e[i], vn, (size_t)n_tok * nkv * 4);
        od[i] = put(e[i], NULL, (size_t)n_tok * nq * 4);
        sc[i] = put(e[i], NULL,
                    e[i]->ops->attn_scratch(e[i]->b, n_tok, n_ctx, hp->n_head / hp->n_head_kv));
        const struct ig_backend_ops *o = e[i]->ops;
        if (i == 1 && o->rope_kv_store)
            o->rope_kv_store(e[i]->b, qd[i], kd[i], vd[i], kcd[i], vcd[i], &st.s[i], hp->n_head, hp->n_head_kv, hd,
                             hp->n_rot, W[i]->rope_inv_freq, m->rope_neox);
        else {
            o->rope(e[i]->b, qd[i], kd[i], &st.s[i], hp->n_head, hp->n_head_kv, hd, hp->n_rot, W[i]->rope_inv_freq,
                    m->rope_neox);
            o->kv_store(e[i]->b, kcd[i], vcd[i], kd[i], vd[i], &st.s[i], nkv);
        }
    }
    char what[96];
    const char *how = e[1]->ops->rope_kv_store ? "rope_kv_store" : "rope+kv_store";
    snprintf(what, sizeof what, "%s: q n_tok=%d", how, n_tok);
    compare(what, e[0], qd[0], e[1], qd[1], (size_t)n_tok * nq, tol_op);
    snprintf(what, sizeof what, "%s: k cache n_ctx=%d", how, n_ctx);
    compare(what, e[0], kcd[0], e[1], kcd[1], cache_n, tol_op);
    snprintf(what, sizeof what, "%s: v cache n_ctx=%d", how, n_ctx);
    compare(what, e[0], vcd[0], e[1], vcd[1], cache_n, tol_op);
    for (int i = 0; i < 2; i++) {
        struct ig_attn_args a = {.q = qd[i], .k_cache = kcd[i], .v_cache = vcd[i], .step = &st.s[i], .out = od[i],
                                 .scratch = sc[i], .n_head = hp->n_head, .n_head_kv = hp->n_head_kv, .head_dim = hd};
        e[i]->ops->attention(e[i]->b, &a);
    }
    snprintf(what, sizeof what, "attention n_ctx=%d used=%d n_tok=%d runs=%d", n_ctx, n_used, n_tok, runs);
    compare(what, e[0], od[0], e[1], od[1], (size_t)n_tok * nq, tol_attn);
    /* the output projection straight after (a backend may hand it a copy
     * of the attention output it made on the way, as CUDA's int8 one) */
    const struct ig_weight *wo = pick(e[0], 3);
    void *po[2], *ps[2];
    for (int i = 0; i < 2; i++) {
        po[i] = put(e[i], NULL, (size_t)n_tok * (size_t)wo->n_out * 4);
        ps[i] = put(e[i], NULL, e[i]->ops->matmul_scratch(e[i]->b, n_tok, wo->n_in));
    }
    for (int i = 0; i < 2; i++) {
        e[i]->ops->attention(e[i]->b, &(struct ig_attn_args){.q = qd[i], .k_cache = kcd[i], .v_cache = vcd[i],
                                                              .step = &st.s[i], .out = od[i], .scratch = sc[i],
                                                              .n_head = hp->n_head, .n_head_kv = hp->n_head_kv,
                                                              .head_dim = hd});
        e[i]->ops->matmul(e[i]->b, pick(e[i], 3), od[i], po[i], n_tok, ps[i]);
    }
    snprintf(what, sizeof what, "attention -> wo %s n_tok=%d", type_name(wo), n_tok);
    compare(what, e[0], po[0], e[1], po[1], (size_t)n_tok * (size_t)wo->n_out,
            fmax(tol_attn, is_float_type(wo->type) ? tol_float : tol_quant));
    for (int i = 0; i < 2; i++) e[i]->ops->free(e[i]->b, po[i]), e[i]->ops->free(e[i]->b, ps[i]);
    for (int i = 0; i < 2; i++) {
        void *all[] = {kcd[i], vcd[i], qd[i], kd[i], vd[i], od[i], sc[i]};
        for (size_t j = 0; j < sizeof all / sizeof all[0]; j++) e[i]->ops->free(e[i]->b, all[j]);
    }
    free_steps(&st, e);
    free(kc), free(vc), free(q), free(kn), free(vn), free(cell_seq), free(cell_pos), free(perm);
}

static const float *g_sort_row;
static int by_logit_then_index(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    float u = g_sort_row[x], v = g_sort_row[y];
    if (u != v) return u > v ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* topk (backends that have it) against a full sort on the host: rows with
 * many equal values (the order among equals is by index), -inf and -0, row
 * a row all equal, lengths around the kernel's slices and real vocabularies. */
static void test_topk(struct be *e) {
    if (!e->ops->topk) return;
    const int ns[] = {3, 100, 4096, 4097, 32000, 151936}, rows[] = {1, 5, 33}, ks[] = {1, 2, 32, 128, IG_TOPK_MAX};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
            const int n = ns[a], R = rows[r];
            float *l = rand_vec((size_t)n * R, 8.0f);
            for (size_t i = 0; i < (size_t)n * R; i++) {
                if (i % 3 == 0) l[i] = roundf(l[i] * 2) / 2; /* ties */
                if (i % 97 == 5) l[i] = -INFINITY;
                if (i % 89 == 7) l[i] = i % 2 ? 0.0f : -0.0f;
            }
            if (n > 5) l[n / 2] = l[n / 3] = 1000.0f; /* the largest, twice */
            if (R > 1)
                for (int i = 0; i < n; i++) l[(size_t)n + i] = 0.5f; /* a row of equals: by index */
            int32_t *order = malloc((size_t)n * R * sizeof *order); /* each row's indices, sorted */
            for (int row = 0; row < R; row++) {
                g_sort_row = l + (size_t)row * n;
                for (int i = 0; i < n; i++) order[(size_t)row * n + i] = i;
                qsort(order + (size_t)row * n, (size_t)n, sizeof *order, by_logit_then_index);
            }
            float *dl = put(e, l, (size_t)n * R * sizeof *l);
            for (size_t q = 0; q < sizeof ks / sizeof *ks; q++) {
                const int k = ks[q];
                if (k > n) continue;
                int32_t *d = put(e, NULL, (size_t)R * k * 2 * sizeof(int32_t));
                void *scr = put(e, NULL, e->ops->topk_scratch(e->b, R, n, k));
                bool ran = e->ops->topk(e->b, dl, R, n, k, d, (float *)(d + (size_t)R * k), scr);
                int32_t *h = malloc((size_t)R * k * 2 * sizeof *h);
                e->ops->download(e->b, h, d, (size_t)R * k * 2 * sizeof *h);
                int bad = 0;
                for (int row = 0; ran && row < R; row++) {
                    const int32_t *ids = h + (size_t)row * k, *want = order + (size_t)row * n;
                    const float *vals = (const float *)(h + (size_t)R * k) + (size_t)row * k;
                    for (int i = 0; i < k; i++) bad += ids[i] != want[i] || !(vals[i] == l[(size_t)row * n + want[i]]);
                }
                char what[64];
                snprintf(what, sizeof what, "topk n %d rows %d k %d", n, R, k);
                n_checked++;
                printf("%s %-40s %d wrong\n", ran && !bad ? "ok  " : "FAIL", what, ran ? bad : -1);
                if (!ran || bad) failures++;
                e->ops->free(e->b, d);
                e->ops->free(e->b, scr);
                free(h);
            }
            e->ops->free(e->b, dl);
            free(order);
            free(l);
        }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: test_backend_ops MODEL cpu|cuda\n");
        return 2;
    }
    if (getenv("OPS_TOL_FLOAT")) tol_float = atof(getenv("OPS_TOL_FLOAT"));
    if (getenv("OPS_TOL_QUANT")) tol_quant = atof(getenv("OPS_TOL_QUANT"));
    if (getenv("OPS_TOL_ATTN")) tol_attn = atof(getenv("OPS_TOL_ATTN"));
    const struct ig_backend_ops *ops = strcmp(argv[2], "cuda") == 0  ? ig_cuda_ops()
                                       : strcmp(argv[2], "cpu") == 0 ? ig_cpu_ops()
                                                                     : NULL;
    if (!ops) {
        printf("SKIP: backend %s is not built in\n", argv[2]);
        return 77;
    }
    struct ig_model_params mp = ig_model_default_params();
    mp.backend = IG_BACKEND_CPU_REF;
    struct ig_model *m;
    char err[512];
    if (ig_model_load(argv[1], &mp, &m, err, sizeof err) != IG_OK) {
        printf("FAIL load: %s\n", err);
        return 1;
    }
    struct be ref = {&ig_cpu_ref_ops, ig_cpu_ref_ops.create(m, 2, err, sizeof err)};
    if (!ref.b) {
        printf("FAIL cpu-ref: %s\n", err);
        return 1;
    }
    struct be tst = {ops, ops->create(m, 2, err, sizeof err)};
    if (!tst.b) {
        printf("SKIP: %s backend not usable here: %s\n", argv[2], err);
        ref.ops->destroy(ref.b);
        ig_model_free(m);
        return 77;
    }
    struct be *e[2] = {&ref, &tst};
    const struct ig_hparams *hp = &m->hp;
    printf("%s vs cpu-ref on %s (%s, n_embd %d, n_ff %d, heads %d/%d x %d, vocab %d)\n", ops->name, argv[1],
           m->arch->name, hp->n_embd, hp->n_ff, hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_vocab);

    test_embed(e, hp);
    test_elementwise(e, hp);
    test_topk(&tst);
    /* token counts around the kernels' switch points (1, 8 per pass, 16+ GEMM, tiles of 8 up to 64) */
    const int toks[] = {1, 2, 3, 7, 8, 9, 16, 17, 32, 33, 64};
    for (int wi = 0; wi < 8; wi++)
        for (size_t j = 0; j < sizeof toks / sizeof toks[0]; j++) test_matmul(e, wi, toks[j]);
    const int qkv[3] = {0, 1, 2}, gu[2] = {4, 5};
    for (int n_tok = 1; n_tok <= 64; n_tok *= 4) {
        test_matmul_n(e, qkv, 3, n_tok);
        test_matmul_n(e, gu, 2, n_tok);
        test_matmul_glu(e, n_tok);
    }
    test_qkv_rope_store(e, m);
    test_matmul_add_norm(e, hp, 3);
    test_matmul_add_norm(e, hp, 6);
    const int ctxs[] = {16, 160, 200, 1024}; /* (160: one token over 79 cells, 200: 96) */
    for (size_t j = 0; j < sizeof ctxs / sizeof ctxs[0]; j++) {
        test_attention(e, m, ctxs[j], 1, false, false);
        test_attention(e, m, ctxs[j], 5, false, false);
    }
    test_attention(e, m, 1024, 40, false, false);
    /* prompts: one sequence, two in one batch, a tail that is not a whole tile */
    test_attention(e, m, 200, 64, true, false);
    test_attention(e, m, 1024, 150, true, false);
    test_attention(e, m, 1024, 250, true, true);
    test_attention(e, m, 1024, 17, true, true);

    printf("%d checks, %d failed\n", n_checked, failures);
    tst.ops->destroy(tst.b);
    ref.ops->destroy(ref.b);
    ig_model_free(m);
    return failures ? 1 : 0;
}
