/* kquant.c - GGUF k-quants Q4_K and Q6_K: the scalar reference dequantizers
 * (the layouts llama.cpp writes) and simple quantizers (per-sub-block
 * min/max, then 6- or 8-bit sub-block scales) for writers and tests. */
#include "quant.h"

#include <math.h>
#include <string.h>

void ig_q4_k_scale_min(const uint8_t *q, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void ig_dequantize_q4_k(const struct ig_block_q4_k *b, float *y, int64_t n) {
    for (int64_t i = 0; i < n / IG_QK_K; i++, b++) {
        float d = ig_fp16_to_fp32(b->d), dmin = ig_fp16_to_fp32(b->dmin);
        const uint8_t *q = b->qs;
        for (int g = 0; g < 4; g++, q += 32) {
            uint8_t sc0, m0, sc1, m1;
            ig_q4_k_scale_min(b->scales, 2 * g, &sc0, &m0);
            ig_q4_k_scale_min(b->scales, 2 * g + 1, &sc1, &m1);
            for (int l = 0; l < 32; l++) *y++ = d * sc0 * (q[l] & 0xF) - dmin * m0;
            for (int l = 0; l < 32; l++) *y++ = d * sc1 * (q[l] >> 4) - dmin * m1;
        }
    }
}

/* Q6_K: per 128 weights, ql holds 64 bytes (low nibbles: weights 0-31 and
 * 32-63; high nibbles: 64-95 and 96-127) and qh 32 bytes (2 bits for each
 * of the four 32-weight quarters). */
void ig_dequantize_q6_k(const struct ig_block_q6_k *b, float *y, int64_t n) {
    for (int64_t i = 0; i < n / IG_QK_K; i++, b++) {
        float d = ig_fp16_to_fp32(b->d);
        const uint8_t *ql = b->ql, *qh = b->qh;
        const int8_t *sc = b->scales;
        for (int h = 0; h < 2; h++, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = (int)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

void ig_quantize_q4_k(const float *x, struct ig_block_q4_k *b, int64_t n) {
    for (int64_t i = 0; i < n / IG_QK_K; i++, b++, x += IG_QK_K) {
        float scale[8], minv[8], max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; j++) {
            float lo = x[32 * j], hi = x[32 * j];
            for (int l = 1; l < 32; l++) lo = fminf(lo, x[32 * j + l]), hi = fmaxf(hi, x[32 * j + l]);
            if (lo > 0) lo = 0; /* the min is subtracted: keep it <= 0 */
            scale[j] = (hi - lo) / 15.0f;
            minv[j] = -lo;
            max_scale = fmaxf(max_scale, scale[j]);
            max_min = fmaxf(max_min, minv[j]);
        }
        float d = max_scale / 63.0f, dmin = max_min / 63.0f;
        b->d = ig_fp32_to_fp16(d);
        b->dmin = ig_fp32_to_fp16(dmin);
        d = ig_fp16_to_fp32(b->d);
        dmin = ig_fp16_to_fp32(b->dmin);
        uint8_t sc[8], m[8];
        for (int j = 0; j < 8; j++) {
            sc[j] = (uint8_t)clampi(d > 0 ? (int)lrintf(scale[j] / d) : 0, 0, 63);
            m[j] = (uint8_t)clampi(dmin > 0 ? (int)lrintf(minv[j] / dmin) : 0, 0, 63);
        }
        memset(b->scales, 0, sizeof b->scales);
        for (int j = 0; j < 8; j++) {
            if (j < 4) {
                b->scales[j] |= sc[j];
                b->scales[j + 4] |= m[j];
            } else {
                b->scales[j + 4] |= (uint8_t)((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
                b->scales[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
                b->scales[j] |= (uint8_t)((m[j] >> 4) << 6);
            }
        }
        for (int g = 0; g < 4; g++) {
            for (int half = 0; half < 2; half++) {
                int j = 2 * g + half;
                float ds = d * sc[j], dm = dmin * m[j];
                for (int l = 0; l < 32; l++) {
                    int q = ds > 0 ? (int)lrintf((x[32 * j + l] + dm) / ds) : 0;
                    q = clampi(q, 0, 15);
                    if (half == 0) b->qs[32 * g + l] = (uint8_t)q;
                    else b->qs[32 * g + l] |= (uint8_t)(q << 4);
                }
            }
        }
    }
}

void ig_quantize_q6_k(const float *x, struct ig_block_q6_k *b, int64_t n) {
    for (int64_t i = 0; i < n / IG_QK_K; i++, b++, x += IG_QK_K) {
        float scale[16], amax_s = 0;
        for (int j = 0; j < 16; j++) {
            float amax = 0, mx = 0; /* mx: the value of largest magnitude, with its sign */
            for (int l = 0; l < 16; l++)
                if (fabsf(x[16 * j + l]) > amax) amax = fabsf(x[16 * j + l]), mx = x[16 * j + l];
            scale[j] = mx / -32.0f; /* maps the extreme to -32, the full range of q - 32 */
            if (fabsf(scale[j]) > fabsf(amax_s)) amax_s = scale[j];
        }
        float d = amax_s / -128.0f;
        b->d = ig_fp32_to_fp16(d);
        d = ig_fp16_to_fp32(b->d);
        int8_t sc[16];
        for (int j = 0; j < 16; j++) sc[j] = (int8_t)clampi(d != 0 ? (int)lrintf(scale[j] / d) : 0, -128, 127);
        memcpy(b->scales, sc, sizeof sc);
        uint8_t q[IG_QK_K];
        for (int j = 0; j < 16; j++) {
            float ds = d * sc[j];
            for (int l = 0; l < 16; l++)
                q[16 * j + l] = (uint8_t)clampi((ds != 0 ? (int)lrintf(x[16 * j + l] / ds) : 0) + 32, 0, 63);
        }
        memset(b->ql, 0, sizeof b->ql);
        memset(b->qh, 0, sizeof b->qh);
        for (int h = 0; h < 2; h++) {
            const uint8_t *qq = q + 128 * h;
            uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((qq[l] & 0xF) | ((qq[l + 64] & 0xF) << 4));
                ql[l + 32] = (uint8_t)((qq[l + 32] & 0xF) | ((qq[l + 96] & 0xF) << 4));
                qh[l] = (uint8_t)((qq[l] >> 4) | ((qq[l + 32] >> 4) << 2) | ((qq[l + 64] >> 4) << 4) |
                                  ((qq[l + 96] >> 4) << 6));
            }
        }
    }
}
