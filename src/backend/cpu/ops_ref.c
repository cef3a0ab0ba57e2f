/* ops_ref.c - the scalar CPU reference ops: plain C, F32 accumulation, rows of
 * quantized weights dequantized one at a time and reused across every token
 * of the batch. Work is split over the context's thread pool. */
#include "backend/backend.h"

#include <math.h>
#include <string.h>

struct matmul_job {
    const struct ig_weight *W;
    const float *x;
    float *out;
    int32_t n_tok;
    float *scratch;
};

static size_t matmul_scratch(int32_t n_tok, int64_t n_in, int n_threads) {
    return (size_t)n_threads * (size_t)n_in * sizeof(float);
}

static void matmul_worker(void *arg, int ith, int nth) {
    const struct matmul_job *j = arg;
    const struct ig_weight *W = j->W;
    int64_t per = (W->n_out + nth - 1) / nth;
    int64_t r0 = per * ith, r1 = IG_MIN(W->n_out, r0 + per);
    float *row = j->scratch + (size_t)ith * (size_t)W->n_in;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *src = (const uint8_t *)W->data + (size_t)r * W->row_bytes;
        const float *w;
        if (W->type == IG_DTYPE_F32) {
            w = (const float *)src;
        } else {
            ig_dequantize_row(W->type, src, row, W->n_in);
            w = row;
        }
        for (int32_t t = 0; t < j->n_tok; t++) {
            const float *x = j->x + (size_t)t * (size_t)W->n_in;
            float s = 0;
            for (int64_t i = 0; i < W->n_in; i++) s += w[i] * x[i];
            j->out[(size_t)t * (size_t)W->n_out + (size_t)r] = s;
        }
    }
}

static void matmul(struct ig_pool *pool, const struct ig_weight *W, const float *x, float *out, int32_t n_tok,
                   void *scratch) {
    struct matmul_job j = {W, x, out, n_tok, scratch};
    ig_pool_run(pool, matmul_worker, &j);
}

static void matmul_n(struct ig_pool *pool, const struct ig_weight *const *W, float *const *out, int n_w,
                     const float *x, int32_t n_tok, void *scratch) {
    for (int i = 0; i < n_w; i++) matmul(pool, W[i], x, out[i], n_tok, scratch);
}

static void rmsnorm(float *out, const float *x, const float *w, int32_t n, float eps) {
    float ss = 0;
    for (int32_t i = 0; i < n; i++) ss += x[i] * x[i];
    float scale = 1.0f / sqrtf(ss / (float)n + eps);
    for (int32_t i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

static void rope(float *x, int32_t n_heads, int32_t head_dim, int32_t n_rot, int32_t pos, const double *inv_freq,
                 bool neox) {
    for (int32_t i = 0; i < n_rot / 2; i++) {
        double th = (double)pos * inv_freq[i];
        float c = (float)cos(th), s = (float)sin(th);
        /* normal layout rotates pairs (2i, 2i+1); NeoX rotates (i, i + n_rot/2) */
        int32_t a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
        for (int32_t h = 0; h < n_heads; h++) {
            float *v = x + (size_t)h * (size_t)head_dim;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

static void attention_worker(void *arg, int ith, int nth) {
    const struct ig_attn_args *a = arg;
    int32_t hd = a->head_dim, kv_dim = a->n_head_kv * hd, group = a->n_head / a->n_head_kv;
    float scale = 1.0f / sqrtf((float)hd);
    float *sc = a->scratch + (size_t)ith * (size_t)a->n_ctx;
    for (int32_t job = ith; job < a->n_tok * a->n_head; job += nth) {
        int32_t t = job / a->n_head, h = job % a->n_head, kvh = h / group;
        const float *q = a->q + (size_t)t * (size_t)(a->n_head * hd) + (size_t)h * (size_t)hd;
        float *out = a->out + (size_t)t * (size_t)(a->n_head * hd) + (size_t)h * (size_t)hd;
        int32_t seq = a->tok_seq[t], pos = a->tok_pos[t];
        float mx = -INFINITY;
        for (int32_t c = 0; c < a->n_ctx; c++) {
            if (a->cell_seq[c] != seq || a->cell_pos[c] > pos) continue;
            const float *k = a->k_cache + (size_t)c * (size_t)kv_dim + (size_t)kvh * (size_t)hd;
            float s = 0;
            for (int32_t i = 0; i < hd; i++) s += q[i] * k[i];
            sc[c] = s * scale;
            if (sc[c] > mx) mx = sc[c];
        }
        float sum = 0;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int32_t c = 0; c < a->n_ctx; c++) {
            if (a->cell_seq[c] != seq || a->cell_pos[c] > pos) continue;
            float p = expf(sc[c] - mx);
            sum += p;
            const float *v = a->v_cache + (size_t)c * (size_t)kv_dim + (size_t)kvh * (size_t)hd;
            for (int32_t i = 0; i < hd; i++) out[i] += p * v[i];
        }
        float inv = sum > 0 ? 1.0f / sum : 0.0f;
        for (int32_t i = 0; i < hd; i++) out[i] *= inv;
    }
}

static void attention(struct ig_pool *pool, const struct ig_attn_args *a) {
    ig_pool_run(pool, attention_worker, (void *)a);
}

static void swiglu(float *out, const float *g, const float *u, int32_t n) {
    for (int32_t i = 0; i < n; i++) out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void embed(const struct ig_weight *E, int32_t tok, float *out) {
    ig_dequantize_row(E->type, (const uint8_t *)E->data + (size_t)tok * E->row_bytes, out, E->n_in);
}

const struct ig_backend_ops ig_cpu_ref_ops = {
    .name = "cpu-ref",
    .matmul = matmul,
    .matmul_scratch = matmul_scratch,
    .matmul_n = matmul_n,
    .rmsnorm = rmsnorm,
    .rope = rope,
    .attention = attention,
    .swiglu = swiglu,
    .embed = embed,
};
