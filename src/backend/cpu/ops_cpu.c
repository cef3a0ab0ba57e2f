/* ops_cpu.c - the fast CPU backend: matmul through the SIMD kernels, the
 * reference ops for the rest. Activations are quantized once per matmul (for
 * quantized weights); rows are split over the thread pool; within a thread,
 * a block of 16 weight rows stays in L1 while groups of 4 tokens stream past
 * it, so prefill reuses each weight block across the batch. */
#include "backend/backend.h"
#include "backend/cpu/kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { ROW_BLOCK = 16, TOK_GROUP = 4 };

enum { MAX_W = 4 };

struct mm_job {
    const struct ig_weight *const *W; /* n_w weights with the same n_in and type family */
    float *const *out;
    int n_w;
    int64_t n_in;
    const float *x;
    int32_t n_tok;
    const void *xq;   /* quantized activations, or x itself */
    int64_t x_stride; /* in blocks or floats */
    size_t xs_bytes;
    int64_t n_blocks_total; /* row blocks over all weights */
    int64_t first_block[MAX_W + 1];
};

static struct ig_pool *pool_of(struct ig_backend *b) { return ((struct ig_cpu_backend *)b)->pool; }

static size_t mm_scratch(struct ig_backend *b, int32_t n_tok, int64_t n_in) {
    return (size_t)n_tok * (size_t)(n_in / 32 + 1) * sizeof(struct ig_block_q8x);
}

static void quantize_worker(void *arg, int ith, int nth) {
    const struct mm_job *j = arg;
    int64_t nb = j->n_in / 32;
    void (*quantize)(const float *, struct ig_block_q8x *, int64_t) = ig_kernels_best()->quantize;
    for (int32_t t = ith; t < j->n_tok; t += nth)
        quantize(j->x + (size_t)t * (size_t)j->n_in, (struct ig_block_q8x *)j->xq + (size_t)t * (size_t)nb,
                        j->n_in);
}

/* Rows of all weights are numbered as one sequence of 16-row blocks and split
 * evenly over the threads; within a block, groups of up to 4 tokens share
 * each weight row. */
static void mm_worker(void *arg, int ith, int nth) {
    const struct mm_job *j = arg;
    const struct ig_kernels *k = ig_kernels_best();
    int64_t b0 = j->n_blocks_total * ith / nth, b1 = j->n_blocks_total * (ith + 1) / nth;
    float res[TOK_GROUP];
    int wi = 0;
    for (int64_t blk = b0; blk < b1; blk++) {
        while (blk >= j->first_block[wi + 1]) wi++;
        const struct ig_weight *W = j->W[wi];
        ig_dot_fn dot = k->dot[W->type];
        ig_dot_mlx_fn dot_mlx = W->type == IG_DTYPE_MLX4 ? k->dot_mlx4 : k->dot_mlx8;
        float *out = j->out[wi];
        int64_t rb = (blk - j->first_block[wi]) * ROW_BLOCK, re = IG_MIN(rb + ROW_BLOCK, W->n_out);
        for (int32_t t = 0; t < j->n_tok; t += TOK_GROUP) {
            int nx = j->n_tok - t < TOK_GROUP ? j->n_tok - t : TOK_GROUP;
            const void *xt = (const uint8_t *)j->xq + (size_t)t * (size_t)j->x_stride * j->xs_bytes;
            for (int64_t r = rb; r < re; r++) {
                if (ig_weight_is_mlx(W))
                    dot_mlx(W->n_in, (const uint8_t *)W->data + (size_t)r * W->row_bytes,
                            (const uint8_t *)W->scales + (size_t)r * W->scale_row_bytes,
                            (const uint8_t *)W->biases + (size_t)r * W->scale_row_bytes, W->stype, W->group, xt,
                            j->x_stride, nx, res);
                else
                    dot(W->n_in, (const uint8_t *)W->data + (size_t)r * W->row_bytes, xt, j->x_stride, nx, res);
                for (int q = 0; q < nx; q++) out[(size_t)(t + q) * (size_t)W->n_out + (size_t)r] = res[q];
            }
        }
    }
}

static void mm_n(struct ig_backend *b, const struct ig_weight *const *W, float *const *out, int n_w,
                 const float *x, int32_t n_tok, void *scratch) {
    struct ig_pool *pool = pool_of(b);
    IG_ASSERT(n_w >= 1 && n_w <= MAX_W);
    struct mm_job j = {W, out, n_w, W[0]->n_in, x, n_tok, x, W[0]->n_in, sizeof(float), 0, {0}};
    bool quant = ig_kernel_wants_q8x(W[0]->type);
    for (int i = 0; i < n_w; i++) {
        /* one activation format for all: same n_in, and all quantized or all float */
        IG_ASSERT(W[i]->n_in == j.n_in && ig_kernel_wants_q8x(W[i]->type) == quant &&
                  (ig_kernels_best()->dot[W[i]->type] || ig_weight_is_mlx(W[i])));
        j.first_block[i] = j.n_blocks_total;
        j.n_blocks_total += (W[i]->n_out + ROW_BLOCK - 1) / ROW_BLOCK;
    }
    j.first_block[n_w] = j.n_blocks_total;
    if (quant) {
        j.xq = scratch;
        j.x_stride = j.n_in / 32;
        j.xs_bytes = sizeof(struct ig_block_q8x);
        if (n_tok <= 2) quantize_worker(&j, 0, 1); /* decode: not worth waking the pool */
        else ig_pool_run(pool, quantize_worker, &j);
    }
    ig_pool_run(pool, mm_worker, &j);
}

static void mm(struct ig_backend *b, const struct ig_weight *W, const float *x, float *out, int32_t n_tok,
               void *scratch) {
    mm_n(b, &W, &out, 1, x, n_tok, scratch);
}

/* Attention, one job per (token, kv head): each visible key/value row is read
 * once for all the query heads that share it (GQA). Same arithmetic as the
 * reference: max-subtracted softmax over the visible cells. The scores of
 * the visible cells go to the thread's scratch (Gp per cell, the padding
 * lanes -inf), then the kernels' attn_v does the exp and the weighted sum of
 * values. Scratch per thread: n_ctx * (Gp + 1) floats (scores, cell list). */
static void attn_worker(void *arg, int ith, int nth) {
    const struct ig_attn_args *a = arg;
    const struct ig_kernels *k = ig_kernels_best();
    int32_t hd = a->head_dim, kv_dim = a->n_head_kv * hd, G = a->n_head / a->n_head_kv, Gp = ig_attn_gp(G);
    float scale = 1.0f / sqrtf((float)hd);
    const struct ig_step *st = a->step;
    float *sc = a->scratch + (size_t)ith * (size_t)st->n_ctx * (size_t)(Gp + 1); /* (n_ctx, Gp) */
    int32_t *cells = (int32_t *)(sc + (size_t)st->n_ctx * (size_t)Gp);
    float mx[64];
    IG_ASSERT(G <= 64);
    for (int32_t job = ith; job < st->n_tok * a->n_head_kv; job += nth) {
        int32_t t = job / a->n_head_kv, kvh = job % a->n_head_kv;
        const float *q = a->q + (size_t)t * (size_t)(a->n_head * hd) + (size_t)kvh * (size_t)G * (size_t)hd;
        float *out = a->out + (size_t)t * (size_t)(a->n_head * hd) + (size_t)kvh * (size_t)G * (size_t)hd;
        /* the cells of the token's sequence (the step's list), up to its position */
        const int32_t *own = st->list + st->tok_list[2 * t];
        int32_t pos = st->pos[t], n = 0;
        for (int32_t j = 0; j < st->tok_list[2 * t + 1]; j++)
            if (st->cell_pos[own[j]] <= pos) cells[n++] = own[j];
        for (int g = 0; g < G; g++) mx[g] = -INFINITY;
        for (int32_t j = 0; j < n; j++) {
            float *s = sc + (size_t)j * (size_t)Gp;
            k->dotg(hd, a->k_cache + (size_t)cells[j] * (size_t)kv_dim + (size_t)kvh * (size_t)hd, q, G, s);
            for (int g = 0; g < G; g++) {
                s[g] *= scale;
                if (s[g] > mx[g]) mx[g] = s[g];
            }
            for (int g = G; g < Gp; g++) s[g] = -INFINITY;
        }
        k->attn_v(n, G, Gp, hd, sc, mx, a->v_cache + (size_t)kvh * (size_t)hd, (size_t)kv_dim, cells, out);
    }
}

static size_t attn_scratch(struct ig_backend *b, int32_t n_tok, int32_t n_ctx, int32_t group) {
    return (size_t)b->ops->n_threads(b) * (size_t)n_ctx * (size_t)(ig_attn_gp(group) + 1) * sizeof(float);
}

static void attention(struct ig_backend *b, const struct ig_attn_args *a) {
    ig_pool_run(pool_of(b), attn_worker, (void *)a);
}

static struct ig_backend_ops g_ops; /* the reference table with the fast ops swapped in */

static struct ig_backend *create(struct ig_model *m, int n_threads, char *err, size_t err_len) {
    return ig_cpu_create(&g_ops, m, n_threads, err, err_len);
}

const struct ig_backend_ops *ig_cpu_ops(void) {
    if (!g_ops.name) { /* first use; a race writes identical values */
        static char name[48];
        snprintf(name, sizeof name, "cpu (%s)", ig_kernels_best()->isa);
        struct ig_backend_ops o = ig_cpu_ref_ops;
        o.create = create;
        o.matmul = mm;
        o.matmul_scratch = mm_scratch;
        o.matmul_n = mm_n;
        o.attention = attention;
        o.attn_scratch = attn_scratch;
        o.name = name;
        g_ops = o;
    }
    return &g_ops;
}
