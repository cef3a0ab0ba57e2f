/* kernels_c.c - portable kernels: the same arithmetic as the SIMD ones
 * (integer block sums, one float scale per block), in plain C. */
#include "backend/cpu/kernels.h"
#include "core/util.h"

#include <math.h>
#include <string.h>

void ig_quantize_q8x(const float *x, struct ig_block_q8x *y, int64_t n) {
    for (int64_t b = 0; b < n / 32; b++) {
        const float *v = x + b * 32;
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(v[i]));
        float d = amax / 127.0f, id = d > 0 ? 127.0f / amax : 0.0f;
        y[b].d = d;
        for (int i = 0; i < 32; i++) y[b].qs[i] = (int8_t)lrintf(v[i] * id);
    }
}

static void dot_q8_0(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) {
    const struct ig_block_q8_0 *wb = w;
    for (int j = 0; j < nx; j++) {
        const struct ig_block_q8x *xb = (const struct ig_block_q8x *)x + j * xs;
        float s = 0;
        for (int64_t b = 0; b < n / 32; b++) {
            int32_t acc = 0;
            for (int i = 0; i < 32; i++) acc += wb[b].qs[i] * xb[b].qs[i];
            s += ig_fp16_to_fp32(wb[b].d) * xb[b].d * (float)acc;
        }
        out[j] = s;
    }
}

static void dot_q4_0(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) {
    const struct ig_block_q4_0 *wb = w;
    for (int j = 0; j < nx; j++) {
        const struct ig_block_q8x *xb = (const struct ig_block_q8x *)x + j * xs;
        float s = 0;
        for (int64_t b = 0; b < n / 32; b++) {
            int32_t acc = 0;
            for (int i = 0; i < 16; i++) {
                acc += ((wb[b].qs[i] & 0x0f) - 8) * xb[b].qs[i];
                acc += ((wb[b].qs[i] >> 4) - 8) * xb[b].qs[i + 16];
            }
            s += ig_fp16_to_fp32(wb[b].d) * xb[b].d * (float)acc;
        }
        out[j] = s;
    }
}

/* Q4_K: sub-block j of super-block i lines up with activation block 8i + j. */
void ig_dot_q4_k_c(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) {
    const struct ig_block_q4_k *wb = w;
    for (int j = 0; j < nx; j++) {
        const struct ig_block_q8x *xb = (const struct ig_block_q8x *)x + j * xs;
        float s = 0;
        for (int64_t i = 0; i < n / IG_QK_K; i++) {
            const struct ig_block_q4_k *b = &wb[i];
            float d = ig_fp16_to_fp32(b->d), dmin = ig_fp16_to_fp32(b->dmin);
            for (int k = 0; k < 8; k++) {
                const struct ig_block_q8x *a = &xb[8 * i + k];
                const uint8_t *q = b->qs + 32 * (k / 2);
                int shift = 4 * (k % 2);
                int32_t acc = 0, sum = 0;
                for (int l = 0; l < 32; l++) {
                    acc += ((q[l] >> shift) & 0xF) * a->qs[l];
                    sum += a->qs[l];
                }
                uint8_t sc, m;
                ig_q4_k_scale_min(b->scales, k, &sc, &m);
                s += a->d * (d * sc * (float)acc - dmin * m * (float)sum);
            }
        }
        out[j] = s;
    }
}

/* Q6_K: activation block 8i + k holds quarter k % 4 of half k / 4. */
void ig_dot_q6_k_c(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) {
    const struct ig_block_q6_k *wb = w;
    for (int j = 0; j < nx; j++) {
        const struct ig_block_q8x *xb = (const struct ig_block_q8x *)x + j * xs;
        float s = 0;
        for (int64_t i = 0; i < n / IG_QK_K; i++) {
            const struct ig_block_q6_k *b = &wb[i];
            float d = ig_fp16_to_fp32(b->d);
            for (int k = 0; k < 8; k++) {
                const struct ig_block_q8x *a = &xb[8 * i + k];
                int h = k / 4, qt = k % 4;
                const uint8_t *ql = b->ql + 64 * h + (qt % 2) * 32, *qh = b->qh + 32 * h;
                const int8_t *sc = b->scales + 8 * h + 2 * qt;
                int lshift = qt >= 2 ? 4 : 0, hshift = 2 * qt;
                int32_t acc[2] = {0, 0};
                for (int l = 0; l < 32; l++) {
                    int q = (int)(((ql[l] >> lshift) & 0xF) | (((qh[l] >> hshift) & 3) << 4)) - 32;
                    acc[l / 16] += q * a->qs[l];
                }
                s += a->d * d * (float)(sc[0] * acc[0] + sc[1] * acc[1]);
            }
        }
        out[j] = s;
    }
}

/* MLX: per 32-element activation block (inside one group):
 * sum (s * c + z) * x = dx * (s * sum c * xq + z * sum xq). */
static void dot_mlx(int bits, int64_t n, const uint8_t *q, const void *scales, const void *biases, enum ig_dtype stype,
                    int group, const void *x, int64_t xs, int nx, float *out) {
    for (int j = 0; j < nx; j++) {
        const struct ig_block_q8x *xb = (const struct ig_block_q8x *)x + j * xs;
        float s = 0;
        for (int64_t b = 0; b < n / 32; b++) {
            int64_t g = b * 32 / group;
            int32_t acc = 0, sum = 0;
            for (int l = 0; l < 32; l++) {
                int64_t i = b * 32 + l;
                int c = bits == 4 ? (q[i / 2] >> (4 * (i % 2))) & 15 : q[i];
                acc += c * xb[b].qs[l];
                sum += xb[b].qs[l];
            }
            s += xb[b].d * (ig_scalar_to_f32(stype, scales, g) * (float)acc + ig_scalar_to_f32(stype, biases, g) * (float)sum);
        }
        out[j] = s;
    }
}

void ig_dot_mlx4_c(int64_t n, const uint8_t *q, const void *scales, const void *biases, enum ig_dtype stype,
                   int group, const void *x, int64_t xs, int nx, float *out) {
    dot_mlx(4, n, q, scales, biases, stype, group, x, xs, nx, out);
}
void ig_dot_mlx8_c(int64_t n, const uint8_t *q, const void *scales, const void *biases, enum ig_dtype stype,
                   int group, const void *x, int64_t xs, int nx, float *out) {
    dot_mlx(8, n, q, scales, biases, stype, group, x, xs, nx, out);
}

static void dot_float(enum ig_dtype t, int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) {
    for (int j = 0; j < nx; j++) {
        const float *xv = (const float *)x + j * xs;
        float s = 0;
        for (int64_t i = 0; i < n; i++) {
            float wv = t == IG_DTYPE_F32 ? ((const float *)w)[i]
                       : t == IG_DTYPE_F16 ? ig_fp16_to_fp32(((const uint16_t *)w)[i])
                                           : ig_bf16_to_fp32(((const uint16_t *)w)[i]);
            s += wv * xv[i];
        }
        out[j] = s;
    }
}

IG_DOT_FLOAT_TYPES(dot_float)

static void axpy(int64_t n, float a, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void dotg(int64_t n, const float *k, const float *q, int G, float *out) {
    for (int g = 0; g < G; g++) {
        float s = 0;
        for (int64_t i = 0; i < n; i++) s += k[i] * q[g * n + i];
        out[g] = s;
    }
}

static void axpyg(int64_t n, const float *v, const float *p, int G, float *y) {
    for (int g = 0; g < G; g++)
        for (int64_t i = 0; i < n; i++) y[g * n + i] += p[g] * v[i];
}

void ig_attn_v_c(int n, int G, int Gp, int hd, float *s, const float *mx, const float *v, size_t stride,
                 const int32_t *cells, float *out) {
    float sum[64];
    IG_ASSERT(G <= 64);
    memset(out, 0, (size_t)G * (size_t)hd * sizeof(float));
    for (int g = 0; g < G; g++) sum[g] = 0;
    for (int j = 0; j < n; j++) {
        float *p = s + (size_t)j * (size_t)Gp;
        for (int g = 0; g < G; g++) {
            p[g] = expf(p[g] - mx[g]);
            sum[g] += p[g];
        }
        axpyg(hd, v + (size_t)cells[j] * stride, p, G, out);
    }
    for (int g = 0; g < G; g++) {
        float inv = sum[g] > 0 ? 1.0f / sum[g] : 0.0f;
        for (int i = 0; i < hd; i++) out[g * hd + i] *= inv;
    }
}

const struct ig_kernels ig_kernels_c = {
    .attn_v = ig_attn_v_c,
    .axpy = axpy,
    .dotg = dotg,
    .axpyg = axpyg,
    .isa = "c",
    .quantize = ig_quantize_q8x,
    .dot = {[IG_DTYPE_F32] = dot_f32, [IG_DTYPE_F16] = dot_f16, [IG_DTYPE_BF16] = dot_bf16,
            [IG_DTYPE_Q8_0] = dot_q8_0, [IG_DTYPE_Q4_0] = dot_q4_0, [IG_DTYPE_Q4_K] = ig_dot_q4_k_c,
            [IG_DTYPE_Q6_K] = ig_dot_q6_k_c},
    .dot_mlx4 = ig_dot_mlx4_c,
    .dot_mlx8 = ig_dot_mlx8_c,
};
