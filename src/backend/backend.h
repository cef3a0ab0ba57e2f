/* backend.h - the interface the transformer (engine/forward.c) is written
 * against, once, for every backend. A backend owns memory (activations, KV
 * cache, per-step metadata and, where it needs to, a copy of the weights) and
 * runs batch-level ops on it. Pointers passed to ops are backend memory:
 * host memory for the CPU backends, device memory for CUDA. Activations are
 * F32, row-major: x[t * n + i] is element i of token t.
 * The CPU scalar backend (backend/cpu/ops_ref.c) is the oracle every faster
 * backend is tested against. */
#ifndef IG_BACKEND_H
#define IG_BACKEND_H

#include "core/pool.h"
#include "model/model.h"

/* Every weight the forward step reads, as one backend sees them. */
struct ig_weights {
    struct ig_weight tok_embd;  /* (n_vocab rows of n_embd) */
    struct ig_weight output;    /* (n_embd -> n_vocab) */
    const float *output_norm;   /* (n_embd) */
    struct ig_layer *layers;    /* [n_layer] */
    const double *rope_inv_freq; /* (n_rot / 2) */
};

/* Per-step metadata in backend memory (ig_decode uploads it). */
struct ig_step {
    const int32_t *token;    /* (n_tok) */
    const int32_t *pos;      /* (n_tok) */
    const int32_t *seq;      /* (n_tok) */
    const int32_t *cell;     /* (n_tok) KV cell of each token */
    const int32_t *out_idx;  /* (n_out) batch rows that produce logits */
    const int32_t *cell_seq; /* (n_ctx) -1: free */
    const int32_t *cell_pos; /* (n_ctx) */
    const int32_t *n_used;   /* (1) cells at or past n_used[0] are all free */
    int32_t n_tok, n_out, n_ctx;
    int32_t n_runs;          /* runs of consecutive tokens of one sequence (1: one prompt) */
    /* The cells of each sequence in the batch, ascending (ig_cell_lists):
     * token t's sequence holds cells list[tok_list[2t] + i] for i <
     * tok_list[2t + 1], its own cell among them. Attention may walk these
     * instead of scanning every cell for its sequence. */
    const int32_t *tok_list; /* (2 * n_tok) */
    const int32_t *list;     /* (up to n_ctx) */
    /* 1: no two tokens of the step share a sequence (decode), so every cell
     * a token sees, its own cell aside, was written by an earlier step */
    int32_t one_per_seq;
    int32_t n_used_cells; /* n_used[0], as the host knows it */
};

struct ig_attn_args {
    const float *q;           /* (n_tok, n_head * head_dim) */
    const float *k_cache;     /* (n_ctx, n_head_kv * head_dim) this layer's keys */
    const float *v_cache;     /* (n_ctx, n_head_kv * head_dim) */
    const struct ig_step *step;
    float *out;               /* (n_tok, n_head * head_dim) */
    float *scratch;           /* attn_scratch bytes */
    int32_t n_head, n_head_kv, head_dim;
};

struct ig_backend;

enum { IG_TOPK_MAX = 256 }; /* the largest k of the topk op */

struct ig_backend_ops {
    const char *name;
    /* --- lifetime */
    /* Make the backend for a model (threads, device, weights placed).
     * NULL with a message in err when it cannot. */
    struct ig_backend *(*create)(struct ig_model *m, int n_threads, char *err, size_t err_len);
    void (*destroy)(struct ig_backend *b);
    /* The weights as this backend reads them. */
    const struct ig_weights *(*weights)(struct ig_backend *b);
    int (*n_threads)(struct ig_backend *b);
    /* --- memory: zeroed allocation, NULL on failure */
    void *(*alloc)(struct ig_backend *b, size_t bytes);
    void (*free)(struct ig_backend *b, void *p);
    void (*upload)(struct ig_backend *b, void *dst, const void *src, size_t n);
    void (*download)(struct ig_backend *b, void *dst, const void *src, size_t n); /* waits for the work */
    /* host memory that transfers fast (pinned for CUDA); zeroed, NULL on failure */
    void *(*host_alloc)(struct ig_backend *b, size_t bytes);
    void (*host_free)(struct ig_backend *b, void *p);
    /* scratch the matmul and attention ops need for n_tok tokens */
    size_t (*matmul_scratch)(struct ig_backend *b, int32_t n_tok, int64_t n_in);
    size_t (*attn_scratch)(struct ig_backend *b, int32_t n_tok, int32_t n_ctx, int32_t group);

    /* --- ops over a batch of n_tok tokens */
    /* out[t] = row step->token[t] of E */
    void (*embed)(struct ig_backend *b, const struct ig_weight *E, const struct ig_step *s, float *out);
    /* out[r] = x[idx ? idx[r] : r] / rms * w for r < n_rows (rows of n) */
    void (*rmsnorm)(struct ig_backend *b, float *out, const float *x, const int32_t *idx, const float *w,
                    int32_t n_rows, int32_t n, float eps);
    /* out[t] = W x[t]; scratch: matmul_scratch bytes */
    void (*matmul)(struct ig_backend *b, const struct ig_weight *W, const float *x, float *out, int32_t n_tok,
                   void *scratch);
    /* out[i][t] = W[i] x[t] for n_w (<= 4) weights sharing x: one pass, x quantized once */
    void (*matmul_n)(struct ig_backend *b, const struct ig_weight *const *W, float *const *out, int n_w,
                     const float *x, int32_t n_tok, void *scratch);
    /* x[t] += bias for t < n_tok (rows of n) */
    void (*add_bias)(struct ig_backend *b, float *x, const float *bias, int32_t n_tok, int32_t n);
    /* rotate q (n_head heads) and k (n_head_kv heads) of each token at step->pos[t] */
    void (*rope)(struct ig_backend *b, float *q, float *k, const struct ig_step *s, int32_t n_head,
                 int32_t n_head_kv, int32_t head_dim, int32_t n_rot, const double *inv_freq, bool neox);
    /* copy k, v rows of each token into cell step->cell[t] of the layer's caches */
    void (*kv_store)(struct ig_backend *b, float *k_cache, float *v_cache, const float *k, const float *v,
                     const struct ig_step *s, int32_t kv_dim);
    /* causal multi-sequence attention over the KV cells (GQA); scale 1/sqrt(head_dim) */
    void (*attention)(struct ig_backend *b, const struct ig_attn_args *a);
    /* x += y, n elements */
    void (*add)(struct ig_backend *b, float *x, const float *y, size_t n);
    /* g = silu(g) * u, n elements */
    void (*swiglu)(struct ig_backend *b, float *g, const float *u, size_t n);

    /* --- optional fused ops (NULL: the engine runs the plain ones) */
    /* x += y, then out = rmsnorm(x) * w, for n_rows rows of n */
    void (*add_rmsnorm)(struct ig_backend *b, float *out, float *x, const float *y, const float *w, int32_t n_rows,
                        int32_t n, float eps);
    /* rope of q in place, then k rotated and v stored into the caches (k
     * itself may stay unrotated): rope + kv_store in one op; a backend that
     * has it may leave rope and kv_store NULL */
    void (*rope_kv_store)(struct ig_backend *b, float *q, const float *k, const float *v, float *k_cache,
                          float *v_cache, const struct ig_step *s, int32_t n_head, int32_t n_head_kv,
                          int32_t head_dim, int32_t n_rot, const double *inv_freq, bool neox);
    /* one token: q, k, v = W[0..2] x + bias[0..2] (each bias may be NULL),
     * then rope_kv_store's work (q rotated in place, k rotated and v stored
     * into cell step->cell[0]) in as few launches as the backend can; k and v
     * are the projections' buffers, which it may use or leave alone. false
     * when it cannot for these weights (nothing done: the engine runs
     * matmul_n, add_bias and rope_kv_store) */
    bool (*qkv_rope_store)(struct ig_backend *b, const struct ig_weight *const *W, const float *const *bias,
                           const float *x, float *q, float *k, float *v, float *k_cache, float *v_cache,
                           const struct ig_step *s, int32_t head_dim, int32_t n_rot, const double *inv_freq, bool neox,
                           void *scratch);
    /* out[t] = silu(Wg x[t]) * (Wu x[t]); false when it cannot for these
     * weights (the engine then runs matmul_n and swiglu) */
    bool (*matmul_glu)(struct ig_backend *b, const struct ig_weight *Wg, const struct ig_weight *Wu, const float *x,
                       float *out, int32_t n_tok, void *scratch);

    /* x += W y, then out = rmsnorm(x) * w (the residual add and the next
     * norm after a projection); false when it cannot for this weight or
     * batch (nothing done: the engine runs matmul and add_rmsnorm). CUDA
     * defers the norm's scale into the matmuls that read out (see nq_tag
     * in cuda_kernels.cu); every other op sees out as the plain result. */
    bool (*matmul_add_norm)(struct ig_backend *b, const struct ig_weight *W, const float *y, float *x, const float *w,
                            float *out, int32_t n_tok, float eps, void *scratch);

    /* the k largest of each of n_rows rows of n logits, ordered by logit
     * descending then index ascending: ids and vals (n_rows, k), backend
     * memory; k a power of two, 1 <= k <= IG_TOPK_MAX, k <= n. Sampling
     * then moves k candidates per row instead of the row (ig_sample).
     * scratch: topk_scratch bytes. false when it cannot (nothing done). */
    size_t (*topk_scratch)(struct ig_backend *b, int32_t n_rows, int32_t n, int32_t k);
    bool (*topk)(struct ig_backend *b, const float *logits, int32_t n_rows, int32_t n, int32_t k, int32_t *ids,
                 float *vals, void *scratch);

    /* --- optional: pipelined greedy decode (ig_generate). Queue, behind the
     * work already queued, the upload of a step's data (n int32 from host
     * to dst, as upload) with dst[0], the step's token, replaced by the
     * pick of the largest of the n_logits logits at `logits` (backend
     * memory, the step before's; ties: the lowest index), which also goes
     * to pick[0] (backend memory, 2 int32) and from there to *host
     * (host_alloc memory). Does not wait; pick_wait waits until *host holds
     * the pick. The step queued next waits for neither the copy home nor,
     * where it can be made earlier, the upload. scratch:
     * topk_scratch(1, n_logits, 1) bytes (none without topk_scratch).
     * queues: the ops return before the work is done (a GPU), so that
     * ig_generate pipelines by default; a backend that works synchronously
     * (the CPU) offers pick_feed for tests (INGOT_PIPELINE=1). */
    void (*pick_feed)(struct ig_backend *b, int32_t *dst, const int32_t *src, size_t n, const float *logits,
                      int32_t n_logits, int32_t *pick, int32_t *host, void *scratch);
    void (*pick_wait)(struct ig_backend *b);
    bool queues;
    /* --- optional: wait until the host memory of earlier uploads may be
     * written again (the copies of a backend whose upload returns before
     * it has read them) */
    void (*upload_wait)(struct ig_backend *b);

    /* --- optional: the bandwidth of the memory the weights live in, in GB/s
     * (0: could not measure): the yardstick of decode, which reads every
     * weight once per step. CPU: the pool's threads reading a buffer of
     * `bytes`; CUDA: a device-to-device copy of `bytes`, counting bytes read
     * + written. bytes 0: the backend's own size (ig_ctx_measure_bandwidth). */
    double (*bandwidth)(struct ig_backend *b, size_t bytes);

    /* --- optional: replay a recorded step (CUDA graphs). A step whose shape
     * is `key` (1..64: a decode step of that many sequences; the same launches
     * over the same buffers, only the step data uploaded before it differs)
     * is recorded once and replayed after.
     * graph_begin returns 1 if it replayed the step (skip the forward), 0 if
     * it started recording (run the forward, then graph_end), -1 if not.
     * s: the step, by which a backend may tell steps of one key apart whose
     * launches differ for it (CUDA: a context of up to 128 cells). */
    int (*graph_begin)(struct ig_backend *b, int32_t key, const struct ig_step *s);
    void (*graph_end)(struct ig_backend *b, int32_t key);
};

/* A backend instance: its ops plus private state (see each backend). */
struct ig_backend {
    const struct ig_backend_ops *ops;
};

/* The scalar reference ("cpu-ref"). */
extern const struct ig_backend_ops ig_cpu_ref_ops;
/* The fast CPU backend ("cpu"): SIMD kernels chosen for this CPU at run time. */
const struct ig_backend_ops *ig_cpu_ops(void);
/* The CUDA backend, or NULL when ingot was built without it. */
const struct ig_backend_ops *ig_cuda_ops(void);

/* Shared by the CPU backends (ops_ref.c): host memory, the thread pool. */
struct ig_cpu_backend {
    struct ig_backend base;
    struct ig_pool *pool;
    struct ig_weights w;
};
struct ig_backend *ig_cpu_create(const struct ig_backend_ops *ops, struct ig_model *m, int n_threads, char *err,
                                 size_t err_len);

#endif
