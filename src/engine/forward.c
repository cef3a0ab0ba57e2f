/* forward.c - the transformer, written once against backend.h:
 * Llama-family decoder (RMSNorm, RoPE, GQA attention over the KV cache,
 * SwiGLU MLP); qwen2 adds Q/K/V biases and NeoX RoPE. */
#include "engine/ctx.h"

/* Weights that can share one quantized input (mixed-type files may differ). */
static bool same_format(const struct ig_weight *const *W, int n) {
    for (int i = 1; i < n; i++)
        if (W[i]->type != W[0]->type) return false;
    return true;
}

static void matmul_group(struct ig_ctx *c, const struct ig_weight *const *W, float *const *out, int n_w,
                         const float *x, int32_t n) {
    struct ig_backend *b = c->be;
    if (same_format(W, n_w)) b->ops->matmul_n(b, W, out, n_w, x, n, c->mm_scratch);
    else
        for (int i = 0; i < n_w; i++) b->ops->matmul(b, W[i], x, out[i], n, c->mm_scratch);
}

/* x += y (y may be NULL), then out = rmsnorm(x) * w: fused where the backend can */
static void add_norm(struct ig_ctx *c, float *out, float *x, const float *y, const float *w, int32_t n) {
    struct ig_backend *b = c->be;
    const int32_t E = c->m->hp.n_embd;
    const float eps = c->m->hp.norm_eps;
    if (y && b->ops->add_rmsnorm) {
        b->ops->add_rmsnorm(b, out, x, y, w, n, E, eps);
        return;
    }
    if (y) b->ops->add(b, x, y, (size_t)n * (size_t)E);
    b->ops->rmsnorm(b, out, x, NULL, w, n, E, eps);
}

/* x += W y, then c->xb = rmsnorm(x) * w, in one op where the backend can */
static bool matmul_add_norm(struct ig_ctx *c, const struct ig_weight *W, const float *y, const float *w, int32_t n) {
    struct ig_backend *b = c->be;
    return b->ops->matmul_add_norm &&
           b->ops->matmul_add_norm(b, W, y, c->x, w, c->xb, n, c->m->hp.norm_eps, c->mm_scratch);
}

/* rotate c->q and c->k, store c->k and c->v into the layer's cache cells */
static void rope_store(struct ig_ctx *c, float *kc, float *vc, const struct ig_step *s) {
    const struct ig_hparams *hp = &c->m->hp;
    struct ig_backend *b = c->be;
    const double *inv_freq = c->w->rope_inv_freq;
    if (b->ops->rope_kv_store) {
        b->ops->rope_kv_store(b, c->q, c->k, c->v, kc, vc, s, hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_rot,
                              inv_freq, c->m->rope_neox);
        return;
    }
    b->ops->rope(b, c->q, c->k, s, hp->n_head, hp->n_head_kv, hp->head_dim, hp->n_rot, inv_freq, c->m->rope_neox);
    b->ops->kv_store(b, kc, vc, c->k, c->v, s, hp->n_head_kv * hp->head_dim);
}

void ig_forward(struct ig_ctx *c, const struct ig_step *s) {
    const struct ig_hparams *hp = &c->m->hp;
    const struct ig_weights *w = c->w;
    struct ig_backend *b = c->be;
    const struct ig_backend_ops *ops = b->ops;
    const int32_t n = s->n_tok, E = hp->n_embd;
    const int32_t n_q = hp->n_head * hp->head_dim, n_kv = hp->n_head_kv * hp->head_dim;
    const size_t nE = (size_t)n * (size_t)E;

    ops->embed(b, &w->tok_embd, s, c->x);
    const float *res = NULL; /* the MLP output not yet added to x */
    bool normed = false;     /* c->xb holds the next norm already (the down projection's op made it) */
    for (int32_t l = 0; l < hp->n_layer; l++) {
        const struct ig_layer *L = &w->layers[l];
        float *kc = c->k_cache + (size_t)l * (size_t)c->n_ctx * (size_t)n_kv;
        float *vc = c->v_cache + (size_t)l * (size_t)c->n_ctx * (size_t)n_kv;

        /* attention block */
        if (!normed) add_norm(c, c->xb, c->x, res, L->attn_norm, n);
        const struct ig_weight *qkv[3] = {&L->wq, &L->wk, &L->wv};
        float *qkv_out[3] = {c->q, c->k, c->v};
        const float *bias[3] = {L->bq, L->bk, L->bv};
        const bool fused = ops->qkv_rope_store &&
                           ops->qkv_rope_store(b, qkv, bias, c->xb, c->q, c->k, c->v, kc, vc, s, hp->head_dim,
                                               hp->n_rot, w->rope_inv_freq, c->m->rope_neox, c->mm_scratch);
        if (!fused) { /* (fused: projections, biases, rope and the cache store in one op) */
            matmul_group(c, qkv, qkv_out, 3, c->xb, n);
            for (int i = 0; i < 3; i++)
                if (bias[i]) ops->add_bias(b, qkv_out[i], bias[i], n, i ? n_kv : n_q);
            rope_store(c, kc, vc, s);
        }
        struct ig_attn_args a = {
            .q = c->q, .k_cache = kc, .v_cache = vc, .step = s, .out = c->att, .scratch = c->att_scratch,
            .n_head = hp->n_head, .n_head_kv = hp->n_head_kv, .head_dim = hp->head_dim,
        };
        ops->attention(b, &a);
        if (!matmul_add_norm(c, &L->wo, c->att, L->ffn_norm, n)) {
            ops->matmul(b, &L->wo, c->att, c->xb2, n, c->mm_scratch);
            add_norm(c, c->xb, c->x, c->xb2, L->ffn_norm, n);
        }

        /* MLP block */
        if (!ops->matmul_glu || !ops->matmul_glu(b, &L->w_gate, &L->w_up, c->xb, c->hb, n, c->mm_scratch)) {
            const struct ig_weight *gu[2] = {&L->w_gate, &L->w_up};
            float *gu_out[2] = {c->hb, c->hb2};
            matmul_group(c, gu, gu_out, 2, c->xb, n);
            ops->swiglu(b, c->hb, c->hb2, (size_t)n * (size_t)hp->n_ff);
        }
        /* the down projection and the next norm (the final one when the
         * only token gives logits: out_idx is then row 0) in one op, or
         * the projection now and its residual add with the next norm */
        const bool last = l + 1 == hp->n_layer;
        const float *next = !last ? w->layers[l + 1].attn_norm : n == 1 && s->n_out == 1 ? w->output_norm : NULL;
        normed = next && matmul_add_norm(c, &L->w_down, c->hb, next, n);
        res = NULL;
        if (!normed) {
            ops->matmul(b, &L->w_down, c->hb, c->xb2, n, c->mm_scratch);
            res = c->xb2;
        }
    }
    if (res) ops->add(b, c->x, res, nE);

    /* final norm and output projection, only for the rows that asked */
    if (s->n_out > 0) {
        if (!normed) ops->rmsnorm(b, c->xb, c->x, s->out_idx, w->output_norm, s->n_out, E, hp->norm_eps);
        ops->matmul(b, &w->output, c->xb, c->d_logits, s->n_out, c->mm_scratch);
    }
}
