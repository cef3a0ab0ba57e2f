/* cuda_api.h - plain C entry points of the CUDA kernels (cuda_kernels.cu),
 * so the C side (cuda_glue.c) never includes CUDA or C++ headers. Pointers
 * are device memory unless named host_. Launch errors abort (STYLE: the one
 * place ingot aborts); setup errors return false with a message. */
#ifndef IG_CUDA_API_H
#define IG_CUDA_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Find a usable device; fills its name, free and total memory. */
bool ig_cuda_init(char *name, size_t name_len, size_t *free_b, size_t *total_b, char *err, size_t err_len);
void *ig_cuda_malloc(size_t bytes); /* zeroed; NULL on failure */
void ig_cuda_free(void *p);
void *ig_cuda_host_alloc(size_t bytes); /* pinned, zeroed; NULL on failure */
void ig_cuda_host_free(void *p);
void ig_cuda_upload(void *dst, const void *host_src, size_t n);
void ig_cuda_download(void *host_dst, const void *src, size_t n); /* waits for queued work */
/* Bandwidth of a device-to-device copy of `bytes` in GB/s, counting bytes
 * read + written (the yardstick for decode); 0 if the buffers do not fit. */
double ig_cuda_copy_bandwidth(size_t bytes);

/* Recorded steps (CUDA graphs), one per slot 1 .. IG_CUDA_GRAPH_SLOTS - 1.
 * ig_cuda_graph_begin: 1 replayed the slot's graph; 0 started recording the
 * work queued from now on (ig_cuda_capture_end keeps it, false if it could
 * not); -1 run the step plainly (the slot's first step since a reset runs
 * unrecorded, so that everything it allocates or initializes exists before a
 * recording; or capture is not possible). Reset drops every graph. */
enum { IG_CUDA_GRAPH_SLOTS = 129 };
int ig_cuda_graph_begin(int slot);
/* The slot of a step of `key` (1..64) sequences, n_tok tokens and n_used
 * cells: steps whose launches differ (the attention of one token over up to
 * 128 cells, see ig_cuda_attention) get their own. */
int ig_cuda_step_slot(int key, int n_tok, int n_used);
bool ig_cuda_capture_end(int slot);
void ig_cuda_graph_reset(void);

/* weight: type (enum ig_dtype), rows of row_bytes, n_in elements per row */
/* Q8_0/Q4_0 matrices are in the repacked layout (see cuda_glue.c); n_rows is the matrix's row count.
 * MLX4/MLX8 (group: elements per scale, else 0): codes of all rows, then F32 scales, then F32 biases. */
void ig_cuda_embed(int type, const void *w, size_t row_bytes, int n_in, int n_rows, int group, const int32_t *tok,
                   int n_tok, float *out);
void ig_cuda_rmsnorm(float *out, const float *x, const int32_t *idx, const float *w, int n_rows, int n, float eps);
/* scratch: ig_cuda_matmul_scratch(n_tok, n_in) bytes (the int8 activations of the Q8_0/Q4_0 kernels) */
size_t ig_cuda_matmul_scratch(int n_tok, long long n_in);
void ig_cuda_matmul(int type, const void *w, size_t row_bytes, int n_in, int n_out, int group, const float *x,
                    float *out, int n_tok, void *scratch);
/* The output projection (logits): ig_cuda_matmul, and for one token the
 * GEMV also keeps the row's largest logit (ig_cuda_topk with k = 1 on out
 * then reads that instead of scanning the row). */
void ig_cuda_matmul_logits(int type, const void *w, size_t row_bytes, int n_in, int n_out, int group, const float *x,
                           float *out, int n_tok, void *scratch);
/* Up to 3 Q8_0/Q4_0 matrices (same n_in) over one token in one launch; false if not applicable. */
bool ig_cuda_matmul_n(int type, const void *const *w, const int *n_out, float *const *out, int n_w, int n_in,
                      const float *x, int n_tok, void *scratch);
/* out = silu(gate x) * (up x), Q8_0/Q4_0 gate and up (n_ff rows each) in one launch; false if not applicable. */
bool ig_cuda_matmul_glu(int type, const void *gate, const void *up, int n_ff, int n_in, const float *x, float *out,
                        int n_tok, void *scratch);
/* One token through Q/K/V (Q8_0/Q4_0/Q4_K/F16/BF16, same type, n_out[3]) plus bias[i]
 * (each may be NULL), then rope_store's work: q rotated, k rotated and v
 * copied into KV-cache cell *cell. Adjacent-pair rotation in the GEMV's own
 * launch; NeoX: the GEMV writes q, k, v and rope_store follows. false if not
 * applicable (nothing launched). */
bool ig_cuda_qkv_rope_store(int type, const void *const *w, const float *const *bias, const int *n_out, int n_in,
                            const float *x, float *q, float *k, float *v, float *kc, float *vc, const int32_t *pos,
                            const int32_t *cell, int head_dim, int n_rot, const double *inv_freq, bool neox,
                            void *scratch);
/* x += W y, then out = rmsnorm(x) * nw, for n_tok tokens: one token with
 * Q8_0/Q4_0/Q4_K/F16/BF16 W (n_out rows, a multiple of 32), or 2-64 with
 * Q8_0/Q4_0 W whose int8 tensor-core GEMM splits its row tiles; false if not
 * applicable (nothing launched). */
bool ig_cuda_matmul_add_norm(int type, const void *w, int n_in, int n_out, const float *y, float *x, const float *nw,
                             float *out, float eps, int n_tok, void *scratch);
/* x += y, then out = rmsnorm(x) * w (n_rows rows of n) */
void ig_cuda_add_rmsnorm(float *out, float *x, const float *y, const float *w, int n_rows, int n, float eps);
void ig_cuda_add_bias(float *x, const float *b, int n_tok, int n);
/* rope of q in place; k rotated and v copied into KV-cache cell[t] (rope + kv_store in one launch) */
void ig_cuda_rope_store(float *q, const float *k, const float *v, float *kc, float *vc, const int32_t *pos,
                        const int32_t *cell, int n_tok, int n_head, int n_head_kv, int head_dim, int n_rot,
                        const double *inv_freq, bool neox);
size_t ig_cuda_attn_scratch(int n_tok, int n_ctx, int n_head, int head_dim);
/* Attention of n_tok tokens over their sequences' cells (step lists); prompts
 * of 16+ tokens on tensor cores. one_per_seq: no two tokens share a sequence,
 * so the cells before each token's position may be read before the kernels
 * of this step finish. n_used_cells: *n_used, as the host knows it. */
void ig_cuda_attention(const float *q, const float *kc, const float *vc, const int32_t *seq, const int32_t *pos,
                       const int32_t *cell_seq, const int32_t *cell_pos, const int32_t *n_used,
                       const int32_t *tok_list, const int32_t *list, float *out, float *scratch, int n_tok, int n_ctx,
                       int n_head, int n_head_kv, int head_dim, int n_runs, bool one_per_seq, int n_used_cells);
void ig_cuda_add(float *x, const float *y, size_t n);
/* Drop the FP16 copies of weights kept for batched matmuls (call before
 * freeing weights: they are keyed by address). */
void ig_cuda_forget_weights(void);
void ig_cuda_swiglu(float *g, const float *u, size_t n);
/* The k largest of each of n_rows rows of n logits (k a power of two, <= n),
 * by logit descending then index ascending: ids and vals (n_rows, k); false
 * if not possible (nothing launched). scratch: ig_cuda_topk_scratch bytes. */
size_t ig_cuda_topk_scratch(int n_rows, int n, int k);
bool ig_cuda_topk(const float *logits, int n_rows, int n, int k, int32_t *ids, float *vals, void *scratch);
/* The backend's pick_feed: n int32 of step data from src (pinned) to dst
 * with dst[0] the greedy pick of one row of n_logits logits, also into
 * pick[0] and from there into host[0] (pinned). ig_cuda_pick_wait waits for
 * host[0]; ig_cuda_upload_wait for the last upload from host memory (this
 * one's or ig_cuda_upload's) to have read it. */
void ig_cuda_pick_feed(int32_t *dst, const int32_t *src, size_t n, const float *logits, int n_logits, int32_t *pick,
                       int32_t *host, void *scratch);
void ig_cuda_pick_wait(void);
void ig_cuda_upload_wait(void);

#ifdef __cplusplus
}
#endif
#endif
