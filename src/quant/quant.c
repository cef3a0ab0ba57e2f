/* quant.c - type table and the scalar reference (de)quantization. */
#include "quant.h"

#include <math.h>
#include <string.h>

static const struct ig_dtype_traits k_traits[IG_DTYPE_COUNT] = {
    [IG_DTYPE_F32] = {"F32", 1, 4, true, false},
    [IG_DTYPE_F16] = {"F16", 1, 2, true, false},
    [IG_DTYPE_Q4_0] = {"Q4_0", 32, 18, true, false},
    [IG_DTYPE_Q4_1] = {"Q4_1", 32, 20, false, false},
    [IG_DTYPE_Q5_0] = {"Q5_0", 32, 22, false, false},
    [IG_DTYPE_Q5_1] = {"Q5_1", 32, 24, false, false},
    [IG_DTYPE_Q8_0] = {"Q8_0", 32, 34, true, false},
    [IG_DTYPE_Q8_1] = {"Q8_1", 32, 36, false, false},
    [IG_DTYPE_Q2_K] = {"Q2_K", 256, 84, false, false},
    [IG_DTYPE_Q3_K] = {"Q3_K", 256, 110, false, false},
    [IG_DTYPE_Q4_K] = {"Q4_K", 256, 144, true, false},
    [IG_DTYPE_Q5_K] = {"Q5_K", 256, 176, false, false},
    [IG_DTYPE_Q6_K] = {"Q6_K", 256, 210, true, false},
    [IG_DTYPE_Q8_K] = {"Q8_K", 256, 292, false, false},
    [IG_DTYPE_IQ2_XXS] = {"IQ2_XXS", 256, 66, false, false},
    [IG_DTYPE_IQ2_XS] = {"IQ2_XS", 256, 74, false, false},
    [IG_DTYPE_IQ3_XXS] = {"IQ3_XXS", 256, 98, false, false},
    [IG_DTYPE_IQ1_S] = {"IQ1_S", 256, 50, false, false},
    [IG_DTYPE_IQ4_NL] = {"IQ4_NL", 32, 18, false, false},
    [IG_DTYPE_IQ3_S] = {"IQ3_S", 256, 110, false, false},
    [IG_DTYPE_IQ2_S] = {"IQ2_S", 256, 82, false, false},
    [IG_DTYPE_IQ4_XS] = {"IQ4_XS", 256, 136, false, false},
    [IG_DTYPE_I8] = {"I8", 1, 1, false, false},
    [IG_DTYPE_I16] = {"I16", 1, 2, false, false},
    [IG_DTYPE_I32] = {"I32", 1, 4, false, false},
    [IG_DTYPE_I64] = {"I64", 1, 8, false, false},
    [IG_DTYPE_F64] = {"F64", 1, 8, false, false},
    [IG_DTYPE_IQ1_M] = {"IQ1_M", 256, 56, false, false},
    [IG_DTYPE_BF16] = {"BF16", 1, 2, true, false},
    [IG_DTYPE_TQ1_0] = {"TQ1_0", 256, 54, false, false},
    [IG_DTYPE_TQ2_0] = {"TQ2_0", 256, 66, false, false},
    [IG_DTYPE_MXFP4] = {"MXFP4", 32, 17, false, false},
    [IG_DTYPE_MLX4] = {"MLX4", 8, 4, true, true},
    [IG_DTYPE_MLX8] = {"MLX8", 4, 4, true, true},
};

const struct ig_dtype_traits *ig_dtype_get(uint32_t type) {
    if (type >= IG_DTYPE_COUNT || !k_traits[type].name) return NULL;
    return &k_traits[type];
}

bool ig_row_bytes(enum ig_dtype t, int64_t n, size_t *out) {
    const struct ig_dtype_traits *tr = ig_dtype_get((uint32_t)t);
    if (!tr || n < 0 || n % tr->blck != 0) return false;
    size_t blocks = (size_t)(n / tr->blck);
    return !__builtin_mul_overflow(blocks, (size_t)tr->size, out);
}

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* IEEE half -> single, bit by bit (subnormals, inf and NaN included). */
float ig_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) return u2f(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0) return u2f(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    return u2f(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t ig_fp32_to_fp16(float f) {
    uint32_t u = f2u(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a >= 0x7f800000u) return sign | (a > 0x7f800000u ? 0x7e00 : 0x7c00);
    if (a >= 0x477ff000u) return sign | 0x7c00; /* rounds to >= 65520: inf */
    if (a < 0x38800000u) {                       /* below the smallest normal */
        /* subnormal half: round(value / 2^-24) to nearest even */
        float v = u2f(a) * 16777216.0f;
        float r = nearbyintf(v); /* default rounding mode: nearest even */
        return sign | (uint16_t)r;
    }
    uint32_t man = a & 0x7fffff;
    uint32_t exp = (a >> 23) - 112;
    uint32_t h = (exp << 10) | (man >> 13);
    uint32_t rest = man & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return sign | (uint16_t)h;
}

float ig_bf16_to_fp32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t ig_fp32_to_bf16(float f) {
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

void ig_dequantize_row(enum ig_dtype t, const void *src, float *dst, int64_t n) {
    switch (t) {
    case IG_DTYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case IG_DTYPE_F16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = ig_fp16_to_fp32(s[i]);
        break;
    }
    case IG_DTYPE_BF16: {
        const uint16_t *s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = ig_bf16_to_fp32(s[i]);
        break;
    }
    case IG_DTYPE_Q8_0: {
        const struct ig_block_q8_0 *b = src;
        for (int64_t i = 0; i < n / IG_QK8_0; i++) {
            float d = ig_fp16_to_fp32(b[i].d);
            for (int j = 0; j < IG_QK8_0; j++) dst[i * IG_QK8_0 + j] = d * (float)b[i].qs[j];
        }
        break;
    }
    case IG_DTYPE_Q4_0: {
        const struct ig_block_q4_0 *b = src;
        for (int64_t i = 0; i < n / IG_QK4_0; i++) {
            float d = ig_fp16_to_fp32(b[i].d);
            for (int j = 0; j < IG_QK4_0 / 2; j++) {
                dst[i * IG_QK4_0 + j] = d * (float)((b[i].qs[j] & 0x0f) - 8);
                dst[i * IG_QK4_0 + j + IG_QK4_0 / 2] = d * (float)((b[i].qs[j] >> 4) - 8);
            }
        }
        break;
    }
    case IG_DTYPE_Q4_K: ig_dequantize_q4_k(src, dst, n); break;
    case IG_DTYPE_Q6_K: ig_dequantize_q6_k(src, dst, n); break;
    default:
        /* callers check can_compute before binding a weight */
        memset(dst, 0, (size_t)n * sizeof(float));
        break;
    }
}

void ig_quantize_row(enum ig_dtype t, const float *src, void *dst, int64_t n) {
    switch (t) {
    case IG_DTYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case IG_DTYPE_F16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = ig_fp32_to_fp16(src[i]);
        break;
    }
    case IG_DTYPE_BF16: {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = ig_fp32_to_bf16(src[i]);
        break;
    }
    case IG_DTYPE_Q8_0: {
        struct ig_block_q8_0 *b = dst;
        for (int64_t i = 0; i < n / IG_QK8_0; i++) {
            const float *x = src + i * IG_QK8_0;
            float amax = 0;
            for (int j = 0; j < IG_QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
            float d = amax / 127.0f;
            float id = d != 0 ? 1.0f / d : 0.0f;
            b[i].d = ig_fp32_to_fp16(d);
            for (int j = 0; j < IG_QK8_0; j++) b[i].qs[j] = (int8_t)roundf(x[j] * id);
        }
        break;
    }
    case IG_DTYPE_Q4_0: {
        struct ig_block_q4_0 *b = dst;
        for (int64_t i = 0; i < n / IG_QK4_0; i++) {
            const float *x = src + i * IG_QK4_0;
            float amax = 0, max = 0; /* max keeps the sign of the largest magnitude */
            for (int j = 0; j < IG_QK4_0; j++) {
                if (fabsf(x[j]) > amax) {
                    amax = fabsf(x[j]);
                    max = x[j];
                }
            }
            float d = max / -8.0f;
            float id = d != 0 ? 1.0f / d : 0.0f;
            b[i].d = ig_fp32_to_fp16(d);
            for (int j = 0; j < IG_QK4_0 / 2; j++) {
                int q0 = (int)(x[j] * id + 8.5f);
                int q1 = (int)(x[j + IG_QK4_0 / 2] * id + 8.5f);
                q0 = q0 < 0 ? 0 : q0 > 15 ? 15 : q0;
                q1 = q1 < 0 ? 0 : q1 > 15 ? 15 : q1;
                b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
            }
        }
        break;
    }
    case IG_DTYPE_Q4_K: ig_quantize_q4_k(src, dst, n); break;
    case IG_DTYPE_Q6_K: ig_quantize_q6_k(src, dst, n); break;
    default:
        break; /* callers pass only computable types */
    }
}
