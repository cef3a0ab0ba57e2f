/* ctx.h - a decoding context: KV cache cells shared by all sequences, scratch
 * buffers sized for n_batch tokens (allocated once), and the logits of the
 * last step. */
#ifndef IG_CTX_H
#define IG_CTX_H

#include "backend/backend.h"

struct ig_ctx {
    struct ig_model *m;
    const struct ig_backend_ops *ops;
    struct ig_pool *pool;
    int32_t n_ctx, n_seq_max, n_batch;

    /* KV cache: a pool of cells; a cell holds one (seq, pos) in every layer */
    float *k_cache, *v_cache; /* (n_layer, n_ctx, n_head_kv * head_dim) */
    int32_t *cell_seq;        /* (n_ctx) -1: free */
    int32_t *cell_pos;        /* (n_ctx) */
    int32_t n_used;

    /* scratch, (n_batch, width) each */
    float *x;      /* residual stream (n_embd) */
    float *xb;     /* normed input (n_embd) */
    float *xb2;    /* projection output (n_embd) */
    float *q;      /* (n_head * head_dim) */
    float *k, *v;  /* (n_head_kv * head_dim) */
    float *att;    /* attention output (n_head * head_dim) */
    float *hb, *hb2; /* (n_ff) */
    int32_t *tok_cell; /* (n_batch) cell of each batch token */
    int32_t *tok_seq, *tok_pos; /* (n_batch) copies of the batch's ids */
    int32_t *out_idx;  /* (n_batch) batch rows that produce logits */
    void *mm_scratch;   /* the backend's matmul scratch for n_batch tokens */
    float *att_scratch; /* (n_threads, n_ctx * n_head / n_head_kv) */

    float *logits;      /* (logits_cap, n_vocab) */
    int32_t logits_cap, n_logits;
};

/* The forward step over tokens already placed in cells (engine/forward.c). */
void ig_forward(struct ig_ctx *c, const struct ig_batch *b, const int32_t *out_idx, int32_t n_out);

#endif
