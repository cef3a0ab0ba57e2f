/* kernels_neon.c - ARM64 NEON kernels (every AArch64 CPU has NEON), plus
 * Q8_0/Q4_0 dots with the dot-product instructions (SDOT, Armv8.2) compiled
 * with a target attribute and chosen at run time from the CPU's hwcaps.
 * Q4_K, Q6_K and MLX 4/8-bit have NEON kernels.
 *
 * Integer dots: int8 x int8 products widen to int16 (vmull_s8; two products
 * summed stay below 2 * 128 * 127 < 32767), pairwise-add into int32 lanes,
 * and each 32-value block adds d_w * d_x * its int32 sum to a float vector.
 * Tested under qemu-user by tests/neon/run.sh. */
#include "backend/cpu/kernels.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

/* int32 lanes of the 16 products w[i] * x[i] */
static inline int32x4_t dot16(int8x16_t w, int8x16_t x) {
    int16x8_t p = vmull_s8(vget_low_s8(w), vget_low_s8(x));
    p = vmlal_s8(p, vget_high_s8(w), vget_high_s8(x));
    return vpaddlq_s16(p);
}

/* Q4_0 block: weights 0..15 (low nibbles) and 16..31 (high), minus 8 */
static inline void unpack_q4(const uint8_t *qs, int8x16_t *lo, int8x16_t *hi) {
    const uint8x16_t v = vld1q_u8(qs);
    const int8x16_t eight = vdupq_n_s8(8);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))), eight);
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
}

/* One row of quantized weights against nx activation rows; the body (last
 * argument) sets int32x4_t s from block b's weights and activation block a. */
#define QDOT(name, wtype, ATTR, ...)                                                                    \
    ATTR static void name(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) {     \
        const wtype *wb = w;                                                                             \
        for (int j = 0; j < nx; j++) {                                                                   \
            const struct ig_block_q8x *xb = (const struct ig_block_q8x *)x + j * xs;                     \
            float32x4_t acc = vdupq_n_f32(0.0f);                                                         \
            for (int64_t b = 0; b < n / 32; b++) {                                                       \
                const struct ig_block_q8x *a = &xb[b];                                                   \
                int32x4_t s;                                                                             \
                __VA_ARGS__                                                                              \
                acc = vmlaq_n_f32(acc, vcvtq_f32_s32(s), ig_fp16_to_fp32(wb[b].d) * a->d);               \
            }                                                                                            \
            out[j] = vaddvq_f32(acc);                                                                    \
        }                                                                                                \
    }

QDOT(dot_q8_0, struct ig_block_q8_0, , {
    s = vaddq_s32(dot16(vld1q_s8(wb[b].qs), vld1q_s8(a->qs)), dot16(vld1q_s8(wb[b].qs + 16), vld1q_s8(a->qs + 16)));
})
QDOT(dot_q4_0, struct ig_block_q4_0, , {
    int8x16_t lo, hi;
    unpack_q4(wb[b].qs, &lo, &hi);
    s = vaddq_s32(dot16(lo, vld1q_s8(a->qs)), dot16(hi, vld1q_s8(a->qs + 16)));
})
QDOT(dot_q8_0_dp, struct ig_block_q8_0, DOTPROD, {
    s = vdotq_s32(vdotq_s32(vdupq_n_s32(0), vld1q_s8(wb[b].qs), vld1q_s8(a->qs)), vld1q_s8(wb[b].qs + 16),
                  vld1q_s8(a->qs + 16));
})
QDOT(dot_q4_0_dp, struct ig_block_q4_0, DOTPROD, {
    int8x16_t lo, hi;
    unpack_q4(wb[b].qs, &lo, &hi);
    s = vdotq_s32(vdotq_s32(vdupq_n_s32(0), lo, vld1q_s8(a->qs)), hi, vld1q_s8(a->qs + 16));
})

/* bytes v shifted right by a run-time amount */
static inline uint8x16_t shr_u8(uint8x16_t v, int s) { return vshlq_u8(v, vdupq_n_s8((int8_t)-s)); }

/* Q4_K: sub-block k of super-block i lines up with activation block 8i + k
 * (see ig_dot_q4_k_c); the min term uses the activation block's code sum. */
static void dot_q4_k(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) {
    const struct ig_block_q4_k *wb = w;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    for (int j = 0; j < nx; j++) {
        const struct ig_block_q8x *xb = (const struct ig_block_q8x *)x + j * xs;
        float s = 0;
        for (int64_t i = 0; i < n / IG_QK_K; i++) {
            const struct ig_block_q4_k *b = &wb[i];
            const float d = ig_fp16_to_fp32(b->d), dmin = ig_fp16_to_fp32(b->dmin);
            for (int k = 0; k < 8; k++) {
                const struct ig_block_q8x *a = &xb[8 * i + k];
                const uint8_t *q = b->qs + 32 * (k / 2);
                const int shift = 4 * (k % 2);
                const int8x16_t x0 = vld1q_s8(a->qs), x1 = vld1q_s8(a->qs + 16);
                const int8x16_t w0 = vreinterpretq_s8_u8(vandq_u8(shr_u8(vld1q_u8(q), shift), m4));
                const int8x16_t w1 = vreinterpretq_s8_u8(vandq_u8(shr_u8(vld1q_u8(q + 16), shift), m4));
                const int32_t acc = vaddvq_s32(vaddq_s32(dot16(w0, x0), dot16(w1, x1)));
                const int32_t sum = vaddlvq_s8(x0) + vaddlvq_s8(x1);
                uint8_t sc, m;
                ig_q4_k_scale_min(b->scales, k, &sc, &m);
                s += a->d * (d * sc * (float)acc - dmin * m * (float)sum);
            }
        }
        out[j] = s;
    }
}

/* Q6_K: activation block 8i + k holds quarter k % 4 of half k / 4 (see
 * ig_dot_q6_k_c); codes are 4 low bits from ql and 2 high bits from qh, - 32. */
static void dot_q6_k(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) {
    const struct ig_block_q6_k *wb = w;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m2 = vdupq_n_u8(3);
    const int8x16_t k32 = vdupq_n_s8(32);
    for (int j = 0; j < nx; j++) {
        const struct ig_block_q8x *xb = (const struct ig_block_q8x *)x + j * xs;
        float s = 0;
        for (int64_t i = 0; i < n / IG_QK_K; i++) {
            const struct ig_block_q6_k *b = &wb[i];
            const float d = ig_fp16_to_fp32(b->d);
            for (int k = 0; k < 8; k++) {
                const struct ig_block_q8x *a = &xb[8 * i + k];
                const int h = k / 4, qt = k % 4;
                const uint8_t *ql = b->ql + 64 * h + (qt % 2) * 32, *qh = b->qh + 32 * h;
                const int8_t *sc = b->scales + 8 * h + 2 * qt;
                const int lshift = qt >= 2 ? 4 : 0, hshift = 2 * qt;
                int32_t acc[2];
                for (int half = 0; half < 2; half++) {
                    const uint8x16_t lo = vandq_u8(shr_u8(vld1q_u8(ql + 16 * half), lshift), m4);
                    const uint8x16_t hi = vshlq_n_u8(vandq_u8(shr_u8(vld1q_u8(qh + 16 * half), hshift), m2), 4);
                    const int8x16_t q = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, hi)), k32);
                    acc[half] = vaddvq_s32(dot16(q, vld1q_s8(a->qs + 16 * half)));
                }
                s += a->d * d * (float)(sc[0] * acc[0] + sc[1] * acc[1]);
            }
        }
        out[j] = s;
    }
}

/* 4 weights as floats */
static inline float32x4_t load4(enum ig_dtype t, const void *w, int64_t i) {
    if (t == IG_DTYPE_F32) return vld1q_f32((const float *)w + i);
    if (t == IG_DTYPE_F16) return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)w + i)));
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)w + i), 16)); /* BF16 */
}

static inline float wscalar(enum ig_dtype t, const void *w, int64_t i) {
    return t == IG_DTYPE_F32 ? ((const float *)w)[i]
           : t == IG_DTYPE_F16 ? ig_fp16_to_fp32(((const uint16_t *)w)[i])
                               : ig_bf16_to_fp32(((const uint16_t *)w)[i]);
}

static inline void dot_float(enum ig_dtype t, int64_t n, const void *w, const void *x, int64_t xs, int nx,
                             float *out) {
    for (int j = 0; j < nx; j++) {
        const float *xv = (const float *)x + j * xs;
        float32x4_t a0 = vdupq_n_f32(0.0f), a1 = vdupq_n_f32(0.0f);
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            a0 = vfmaq_f32(a0, load4(t, w, i), vld1q_f32(xv + i));
            a1 = vfmaq_f32(a1, load4(t, w, i + 4), vld1q_f32(xv + i + 4));
        }
        float s = vaddvq_f32(vaddq_f32(a0, a1));
        for (; i < n; i++) s += wscalar(t, w, i) * xv[i];
        out[j] = s;
    }
}
IG_DOT_FLOAT_TYPES(dot_float)

static void axpy(int64_t n, float a, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++) y[i] += a * x[i];
}

static void dotg(int64_t n, const float *k, const float *q, int G, float *out) {
    dot_float(IG_DTYPE_F32, n, k, q, n, G, out);
}

static void axpyg(int64_t n, const float *v, const float *p, int G, float *y) {
    for (int g = 0; g < G; g++) axpy(n, p[g], v, y + g * n);
}

/* MLX: per 32-value activation block (inside one group of scale s, bias z)
 * the row adds d_x * (s * sum c * x + z * sum x). 4-bit codes (0..15, byte k
 * holding elements 2k and 2k + 1) fit int8 and use dot16; 8-bit codes reach
 * 255 and widen to int16 with the activations. */
static inline int32_t mlx4_block(const uint8_t *q, int8x16_t x0, int8x16_t x1) {
    const uint8x16_t raw = vld1q_u8(q), lo = vandq_u8(raw, vdupq_n_u8(15)), hi = vshrq_n_u8(raw, 4);
    const int8x16_t c0 = vreinterpretq_s8_u8(vzip1q_u8(lo, hi)), c1 = vreinterpretq_s8_u8(vzip2q_u8(lo, hi));
    return vaddvq_s32(vaddq_s32(dot16(c0, x0), dot16(c1, x1)));
}
static inline int32_t mlx8_half(uint8x16_t c, int8x16_t x) {
    const int16x8_t cl = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(c))), ch = vreinterpretq_s16_u16(vmovl_high_u8(c));
    int32x4_t s = vmull_s16(vget_low_s16(cl), vget_low_s16(vmovl_s8(vget_low_s8(x))));
    s = vmlal_s16(s, vget_high_s16(cl), vget_high_s16(vmovl_s8(vget_low_s8(x))));
    s = vmlal_s16(s, vget_low_s16(ch), vget_low_s16(vmovl_high_s8(x)));
    s = vmlal_s16(s, vget_high_s16(ch), vget_high_s16(vmovl_high_s8(x)));
    return vaddvq_s32(s);
}
static void dot_mlx(int bits, int64_t n, const uint8_t *q, const void *scales, const void *biases, enum ig_dtype stype,
                    int group, const void *x, int64_t xs, int nx, float *out) {
    for (int j = 0; j < nx; j++) out[j] = 0.0f;
    for (int64_t b = 0; b < n / 32; b++) {
        const int64_t g = b * 32 / group;
        const float s = ig_scalar_to_f32(stype, scales, g), z = ig_scalar_to_f32(stype, biases, g);
        const uint8_t *qb = q + b * (bits == 4 ? 16 : 32);
        for (int j = 0; j < nx; j++) {
            const struct ig_block_q8x *a = (const struct ig_block_q8x *)x + j * xs + b;
            const int8x16_t x0 = vld1q_s8(a->qs), x1 = vld1q_s8(a->qs + 16);
            const int32_t dot = bits == 4 ? mlx4_block(qb, x0, x1)
                                          : mlx8_half(vld1q_u8(qb), x0) + mlx8_half(vld1q_u8(qb + 16), x1);
            out[j] += a->d * (s * (float)dot + z * (float)(vaddlvq_s8(x0) + vaddlvq_s8(x1)));
        }
    }
}
static void dot_mlx4(int64_t n, const uint8_t *q, const void *scales, const void *biases, enum ig_dtype stype,
                     int group, const void *x, int64_t xs, int nx, float *out) {
    dot_mlx(4, n, q, scales, biases, stype, group, x, xs, nx, out);
}
static void dot_mlx8(int64_t n, const uint8_t *q, const void *scales, const void *biases, enum ig_dtype stype,
                     int group, const void *x, int64_t xs, int nx, float *out) {
    dot_mlx(8, n, q, scales, biases, stype, group, x, xs, nx, out);
}

/* ig_quantize_q8x, 4 floats at a time (vcvtnq rounds to nearest even, as lrintf does) */
static void quantize_q8x(const float *x, struct ig_block_q8x *y, int64_t n) {
    for (int64_t b = 0; b < n / 32; b++) {
        float32x4_t v[8];
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int k = 0; k < 8; k++) {
            v[k] = vld1q_f32(x + b * 32 + 4 * k);
            m = vmaxq_f32(m, vabsq_f32(v[k]));
        }
        const float amax = vmaxvq_f32(m), d = amax / 127.0f, id = d > 0 ? 127.0f / amax : 0.0f;
        y[b].d = d;
        for (int h = 0; h < 2; h++) {
            int16x8_t s[2];
            for (int k = 0; k < 2; k++)
                s[k] = vcombine_s16(vqmovn_s32(vcvtnq_s32_f32(vmulq_n_f32(v[4 * h + 2 * k], id))),
                                    vqmovn_s32(vcvtnq_s32_f32(vmulq_n_f32(v[4 * h + 2 * k + 1], id))));
            vst1q_s8(y[b].qs + 16 * h, vcombine_s8(vqmovn_s16(s[0]), vqmovn_s16(s[1])));
        }
    }
}

#define NEON_TABLE(name_, isa_, q8, q4)                                                                  \
    static const struct ig_kernels name_ = {                                                             \
        .axpy = axpy,                                                                                    \
        .dotg = dotg,                                                                                    \
        .axpyg = axpyg,                                                                                  \
        .attn_v = ig_attn_v_c,                                                                           \
        .isa = isa_,                                                                                     \
        .quantize = quantize_q8x,                                                                        \
        .dot = {[IG_DTYPE_F32] = dot_f32, [IG_DTYPE_F16] = dot_f16, [IG_DTYPE_BF16] = dot_bf16,          \
                [IG_DTYPE_Q8_0] = q8, [IG_DTYPE_Q4_0] = q4, [IG_DTYPE_Q4_K] = dot_q4_k,                 \
                [IG_DTYPE_Q6_K] = dot_q6_k},                                                             \
        .dot_mlx4 = dot_mlx4,                                                                            \
        .dot_mlx8 = dot_mlx8,                                                                            \
    };
NEON_TABLE(k_neon, "neon", dot_q8_0, dot_q4_0)
NEON_TABLE(k_neon_dp, "neon+dotprod", dot_q8_0_dp, dot_q4_0_dp)

const struct ig_kernels *ig_kernels_neon(void) { return &k_neon; }

const struct ig_kernels *ig_kernels_best(void) {
    /* INGOT_CPU_ISA=neon keeps to plain NEON on CPUs with SDOT */
    const char *force = getenv("INGOT_CPU_ISA");
    if ((getauxval(AT_HWCAP) & HWCAP_ASIMDDP) && !(force && !strcmp(force, "neon"))) return &k_neon_dp;
    return &k_neon;
}
#else
const struct ig_kernels *ig_kernels_neon(void) { return NULL; }
#if !defined(__x86_64__) && !defined(__i386__)
const struct ig_kernels *ig_kernels_best(void) { return &ig_kernels_c; }
#endif
#endif
