/* ops_cpu.c - the fast CPU backend: matmul through the SIMD kernels, the
 * reference ops for the rest. Activations are quantized once per matmul (for
 * quantized weights); rows are split over the thread pool; within a thread,
 * a block of 16 weight rows stays in L1 while groups of 4 tokens stream past
 * it, so prefill reuses each weight block across the batch. */
#include "backend/backend.h"
#include "backend/cpu/kernels.h"

#include <stdio.h>
#include <string.h>

enum { ROW_BLOCK = 16, TOK_GROUP = 4 };

struct mm_job {
    const struct ig_weight *W;
    const float *x;
    float *out;
    int32_t n_tok;
    const void *xq;  /* quantized activations, or x itself */
    int64_t x_stride; /* in blocks or floats */
    ig_dot_fn dot;
};

static size_t mm_scratch(int32_t n_tok, int64_t n_in, int n_threads) {
    return (size_t)n_tok * (size_t)(n_in / 32 + 1) * sizeof(struct ig_block_q8x);
}

static void quantize_worker(void *arg, int ith, int nth) {
    const struct mm_job *j = arg;
    int64_t nb = j->W->n_in / 32;
    for (int32_t t = ith; t < j->n_tok; t += nth)
        ig_quantize_q8x(j->x + (size_t)t * (size_t)j->W->n_in, (struct ig_block_q8x *)j->xq + (size_t)t * (size_t)nb,
                        j->W->n_in);
}

static void mm_worker(void *arg, int ith, int nth) {
    const struct mm_job *j = arg;
    const struct ig_weight *W = j->W;
    /* split rows in whole row blocks so threads never share a cache line of out */
    int64_t n_blocks = (W->n_out + ROW_BLOCK - 1) / ROW_BLOCK;
    int64_t b0 = n_blocks * ith / nth, b1 = n_blocks * (ith + 1) / nth;
    size_t xs_bytes = ig_kernel_wants_q8x(W->type) ? sizeof(struct ig_block_q8x) : sizeof(float);
    float res[TOK_GROUP];
    for (int64_t rb = b0 * ROW_BLOCK; rb < IG_MIN(b1 * ROW_BLOCK, W->n_out); rb += ROW_BLOCK) {
        int64_t re = IG_MIN(rb + ROW_BLOCK, W->n_out);
        for (int32_t t = 0; t < j->n_tok; t += TOK_GROUP) {
            int nx = j->n_tok - t < TOK_GROUP ? j->n_tok - t : TOK_GROUP;
            const void *xt = (const uint8_t *)j->xq + (size_t)t * (size_t)j->x_stride * xs_bytes;
            for (int64_t r = rb; r < re; r++) {
                j->dot(W->n_in, (const uint8_t *)W->data + (size_t)r * W->row_bytes, xt, j->x_stride, nx, res);
                for (int k = 0; k < nx; k++) j->out[(size_t)(t + k) * (size_t)W->n_out + (size_t)r] = res[k];
            }
        }
    }
}

static void mm(struct ig_pool *pool, const struct ig_weight *W, const float *x, float *out, int32_t n_tok,
               void *scratch) {
    const struct ig_kernels *k = ig_kernels_best();
    struct mm_job j = {W, x, out, n_tok, x, W->n_in, k->dot[W->type]};
    IG_ASSERT(j.dot);
    if (ig_kernel_wants_q8x(W->type)) {
        j.xq = scratch;
        j.x_stride = W->n_in / 32;
        ig_pool_run(pool, quantize_worker, &j);
    }
    ig_pool_run(pool, mm_worker, &j);
}

const struct ig_backend_ops *ig_cpu_ops(void) {
    static struct ig_backend_ops ops;
    if (!ops.name) {
        struct ig_backend_ops o = ig_cpu_ref_ops;
        static char name[48];
        snprintf(name, sizeof name, "cpu (%s)", ig_kernels_best()->isa);
        o.name = name;
        o.matmul = mm;
        o.matmul_scratch = mm_scratch;
        ops = o;
    }
    return &ops;
}
