/* forward.c - the transformer, written once against backend.h:
 * Llama-family decoder (RMSNorm, RoPE, GQA attention over the KV cache,
 * SwiGLU MLP); qwen2 adds Q/K/V biases and NeoX RoPE. */
#include "engine/ctx.h"

#include <string.h>

static void add_bias(float *x, const float *b, int32_t n_tok, int32_t n) {
    if (!b) return;
    for (int32_t t = 0; t < n_tok; t++)
        for (int32_t i = 0; i < n; i++) x[(size_t)t * (size_t)n + (size_t)i] += b[i];
}

/* Weights that can share one quantized input (mixed-type files may differ). */
static bool same_format(const struct ig_weight *const *W, int n) {
    for (int i = 1; i < n; i++)
        if (W[i]->type != W[0]->type) return false;
    return true;
}

void ig_forward(struct ig_ctx *c, const struct ig_batch *b, const int32_t *out_idx, int32_t n_out) {
    const struct ig_model *m = c->m;
    const struct ig_hparams *hp = &m->hp;
    const struct ig_backend_ops *ops = c->ops;
    const int32_t n = b->n, E = hp->n_embd, F = hp->n_ff;
    const int32_t n_q = hp->n_head * hp->head_dim, n_kv = hp->n_head_kv * hp->head_dim;
    const bool neox = m->arch->rope_neox;

    for (int32_t t = 0; t < n; t++) {
        ops->embed(&m->tok_embd, b->token[t], c->x + (size_t)t * (size_t)E);
        c->tok_seq[t] = b->seq[t];
        c->tok_pos[t] = b->pos[t];
    }

    for (int32_t l = 0; l < hp->n_layer; l++) {
        const struct ig_layer *L = &m->layers[l];
        float *kc = c->k_cache + (size_t)l * (size_t)c->n_ctx * (size_t)n_kv;
        float *vc = c->v_cache + (size_t)l * (size_t)c->n_ctx * (size_t)n_kv;

        /* attention block */
        for (int32_t t = 0; t < n; t++)
            ops->rmsnorm(c->xb + (size_t)t * E, c->x + (size_t)t * E, L->attn_norm, E, hp->norm_eps);
        const struct ig_weight *qkv[3] = {&L->wq, &L->wk, &L->wv};
        float *qkv_out[3] = {c->q, c->k, c->v};
        if (same_format(qkv, 3)) {
            ops->matmul_n(c->pool, qkv, qkv_out, 3, c->xb, n, c->mm_scratch);
        } else {
            for (int i = 0; i < 3; i++) ops->matmul(c->pool, qkv[i], c->xb, qkv_out[i], n, c->mm_scratch);
        }
        add_bias(c->q, L->bq, n, n_q);
        add_bias(c->k, L->bk, n, n_kv);
        add_bias(c->v, L->bv, n, n_kv);
        for (int32_t t = 0; t < n; t++) {
            ops->rope(c->q + (size_t)t * n_q, hp->n_head, hp->head_dim, hp->n_rot, b->pos[t], m->rope_inv_freq, neox);
            ops->rope(c->k + (size_t)t * n_kv, hp->n_head_kv, hp->head_dim, hp->n_rot, b->pos[t], m->rope_inv_freq,
                      neox);
            memcpy(kc + (size_t)c->tok_cell[t] * n_kv, c->k + (size_t)t * n_kv, (size_t)n_kv * sizeof(float));
            memcpy(vc + (size_t)c->tok_cell[t] * n_kv, c->v + (size_t)t * n_kv, (size_t)n_kv * sizeof(float));
        }
        struct ig_attn_args a = {
            .q = c->q, .k_cache = kc, .v_cache = vc, .cell_seq = c->cell_seq, .cell_pos = c->cell_pos,
            .tok_seq = c->tok_seq, .tok_pos = c->tok_pos, .out = c->att, .scratch = c->att_scratch,
            .n_tok = n, .n_ctx = c->n_ctx, .n_head = hp->n_head, .n_head_kv = hp->n_head_kv,
            .head_dim = hp->head_dim,
        };
        ops->attention(c->pool, &a);
        ops->matmul(c->pool, &L->wo, c->att, c->xb2, n, c->mm_scratch);
        for (size_t i = 0; i < (size_t)n * (size_t)E; i++) c->x[i] += c->xb2[i];

        /* MLP block */
        for (int32_t t = 0; t < n; t++)
            ops->rmsnorm(c->xb + (size_t)t * E, c->x + (size_t)t * E, L->ffn_norm, E, hp->norm_eps);
        const struct ig_weight *gu[2] = {&L->w_gate, &L->w_up};
        float *gu_out[2] = {c->hb, c->hb2};
        if (same_format(gu, 2)) {
            ops->matmul_n(c->pool, gu, gu_out, 2, c->xb, n, c->mm_scratch);
        } else {
            for (int i = 0; i < 2; i++) ops->matmul(c->pool, gu[i], c->xb, gu_out[i], n, c->mm_scratch);
        }
        for (int32_t t = 0; t < n; t++)
            ops->swiglu(c->hb + (size_t)t * F, c->hb + (size_t)t * F, c->hb2 + (size_t)t * F, F);
        ops->matmul(c->pool, &L->w_down, c->hb, c->xb2, n, c->mm_scratch);
        for (size_t i = 0; i < (size_t)n * (size_t)E; i++) c->x[i] += c->xb2[i];
    }

    /* final norm and output projection, only for the rows that asked */
    for (int32_t o = 0; o < n_out; o++)
        ops->rmsnorm(c->xb + (size_t)o * E, c->x + (size_t)out_idx[o] * E, m->output_norm, E, hp->norm_eps);
    if (n_out > 0) ops->matmul(c->pool, &m->output, c->xb, c->logits, n_out, c->mm_scratch);
}
