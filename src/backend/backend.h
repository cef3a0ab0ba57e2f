/* backend.h - the ops the transformer (engine/forward.c) is written against.
 * The model is written once; a backend supplies these. Activations are F32,
 * row-major: x[t * n + i] is element i of token t. The CPU scalar backend
 * (backend/cpu/ops_ref.c) is the oracle every faster backend is tested
 * against. */
#ifndef IG_BACKEND_H
#define IG_BACKEND_H

#include "core/pool.h"
#include "model/model.h"

struct ig_attn_args {
    const float *q;           /* (n_tok, n_head * head_dim) */
    const float *k_cache;     /* (n_ctx, n_head_kv * head_dim) this layer's keys */
    const float *v_cache;     /* (n_ctx, n_head_kv * head_dim) */
    const int32_t *cell_seq;  /* (n_ctx) -1: free */
    const int32_t *cell_pos;  /* (n_ctx) */
    const int32_t *tok_seq;   /* (n_tok) */
    const int32_t *tok_pos;   /* (n_tok) */
    float *out;               /* (n_tok, n_head * head_dim) */
    float *scratch;           /* (n_threads, n_ctx * n_head / n_head_kv) */
    int32_t n_tok, n_ctx, n_head, n_head_kv, head_dim;
};

struct ig_backend_ops {
    const char *name;
    /* out[t] = W x[t] for t < n_tok; W is (n_out rows of n_in) of any computable type.
     * scratch: matmul_scratch(n_tok, n_in, n_threads) bytes. */
    void (*matmul)(struct ig_pool *pool, const struct ig_weight *W, const float *x, float *out,
                   int32_t n_tok, void *scratch);
    size_t (*matmul_scratch)(int32_t n_tok, int64_t n_in, int n_threads);
    /* out[i][t] = W[i] x[t] for n_w weights sharing the input x (same n_in):
     * Q/K/V, gate/up. One parallel region, the input quantized once. */
    void (*matmul_n)(struct ig_pool *pool, const struct ig_weight *const *W, float *const *out, int n_w,
                     const float *x, int32_t n_tok, void *scratch);
    /* out = x / rms(x) * w, n elements */
    void (*rmsnorm)(float *out, const float *x, const float *w, int32_t n, float eps);
    /* rotate n_heads heads of head_dim at position pos; inv_freq has n_rot/2 entries */
    void (*rope)(float *x, int32_t n_heads, int32_t head_dim, int32_t n_rot, int32_t pos,
                 const double *inv_freq, bool neox);
    /* causal multi-sequence attention over the KV cells (GQA: head h uses kv head
     * h / (n_head / n_head_kv)); scale 1/sqrt(head_dim) */
    void (*attention)(struct ig_pool *pool, const struct ig_attn_args *a);
    /* out = silu(g) * u */
    void (*swiglu)(float *out, const float *g, const float *u, int32_t n);
    /* row `tok` of E as floats */
    void (*embed)(const struct ig_weight *E, int32_t tok, float *out);
};

/* The scalar reference ("cpu-ref"). */
extern const struct ig_backend_ops ig_cpu_ref_ops;
/* The fast CPU backend ("cpu"): SIMD matmul chosen for this CPU at run time,
 * the reference for the other ops. */
const struct ig_backend_ops *ig_cpu_ops(void);

#endif
