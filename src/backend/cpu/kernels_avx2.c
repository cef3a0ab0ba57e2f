/* kernels_avx2.c - x86-64 AVX2 + FMA + F16C kernels, compiled with target
 * attributes so the binary still starts on CPUs without them; chosen at run
 * time by ig_kernels_best().
 *
 * Integer dots use the sign trick: maddubs multiplies unsigned by signed
 * bytes, so take |w| and move w's sign onto x; pairs then sum to int16
 * without overflow (2 * 128 * 127 < 32767) and madd widens to int32. */
#include "backend/cpu/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 32 int8 x 32 int8 -> 8 int32 lanes as floats */
AVX2 static inline __m256 dot32(__m256i w, __m256i x) {
    __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

/* The same with AVX-512 VNNI (256-bit form): one vpdpbusd instead of
 * maddubs + madd. */
#define VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))
VNNI static inline __m256 dot32_vnni(__m256i w, __m256i x) {
    return _mm256_cvtepi32_ps(
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)));
}

/* Decode reads each weight row once, from DRAM. Prefetching a fixed
 * distance ahead of the loads keeps more misses in flight than the hardware
 * prefetcher alone: on a 2-core Zen VM, streaming a Q8_0 matrix went from
 * 0.91 to 1.09 of a read loop without prefetch, and runs at ~1.0 of the one
 * ingot now measures bandwidth with (membw.c, the same distance; see
 * bench/cpu_stream.c). One prefetch per cache line of the `bytes` that a
 * loop step reads from p. */
enum { PF_AHEAD = 4096 };
#define PREFETCH_AHEAD(p, bytes)                                                     \
    for (size_t pf_ = 0; pf_ < (size_t)(bytes); pf_ += 64)                          \
        __builtin_prefetch((const char *)(p) + PF_AHEAD + pf_, 0, 3)

AVX2 static inline __m256i unpack_q4(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(b, 4), b); /* high nibbles = elements 16..31 */
    v = _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
    return _mm256_sub_epi8(v, _mm256_set1_epi8(8));
}

/* One token (decode): four blocks per step into four accumulators, so the
 * FMA latency chain does not bound the loop. Several tokens (prefill): each
 * weight block is unpacked once and used for up to four tokens. */
#define DOT_QUANT(NAME, ATTR, BLOCK, LOAD_W, DOT)                                               \
    ATTR static void NAME(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) { \
        const BLOCK *wb = w;                                                                    \
        const struct ig_block_q8x *xb = x;                                                      \
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),         \
                         _mm256_setzero_ps()};                                                  \
        int64_t nb = n / 32, b = 0;                                                             \
        if (nx == 1) {                                                                          \
            for (; b + 4 <= nb; b += 4) {                                                       \
                PREFETCH_AHEAD(wb + b, 4 * sizeof(BLOCK));                                      \
                for (int u = 0; u < 4; u++) {                                                   \
                    __m256i wv = LOAD_W(b + u);                                                 \
                    __m256i xv = _mm256_loadu_si256((const __m256i *)xb[b + u].qs);             \
                    float d = _cvtsh_ss(wb[b + u].d) * xb[b + u].d;                             \
                    acc[u] = _mm256_fmadd_ps(_mm256_set1_ps(d), DOT(wv, xv), acc[u]);           \
                }                                                                               \
            }                                                                                   \
            for (; b < nb; b++) {                                                               \
                __m256i xv = _mm256_loadu_si256((const __m256i *)xb[b].qs);                     \
                float d = _cvtsh_ss(wb[b].d) * xb[b].d;                                         \
                acc[0] = _mm256_fmadd_ps(_mm256_set1_ps(d), DOT(LOAD_W(b), xv), acc[0]);        \
            }                                                                                   \
            out[0] = hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]))); \
            return;                                                                             \
        }                                                                                       \
        for (; b < nb; b++) {                                                                   \
            __m256i wv = LOAD_W(b);                                                             \
            float dw = _cvtsh_ss(wb[b].d);                                                      \
            for (int j = 0; j < nx; j++) {                                                      \
                const struct ig_block_q8x *xj = xb + j * xs + b;                                \
                __m256i xv = _mm256_loadu_si256((const __m256i *)xj->qs);                       \
                acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xj->d), DOT(wv, xv), acc[j]);      \
            }                                                                                   \
        }                                                                                       \
        for (int j = 0; j < nx; j++) out[j] = hsum(acc[j]);                                     \
    }

#define LOAD_Q8(i) _mm256_loadu_si256((const __m256i *)wb[i].qs)
#define LOAD_Q4(i) unpack_q4(wb[i].qs)
DOT_QUANT(dot_q8_0, AVX2, struct ig_block_q8_0, LOAD_Q8, dot32)
DOT_QUANT(dot_q4_0, AVX2, struct ig_block_q4_0, LOAD_Q4, dot32)
DOT_QUANT(dot_q8_0_vnni, VNNI, struct ig_block_q8_0, LOAD_Q8, dot32_vnni)
DOT_QUANT(dot_q4_0_vnni, VNNI, struct ig_block_q4_0, LOAD_Q4, dot32_vnni)

/* Float weights (ESZ bytes each): 8 lanes, 2 accumulators per token to hide FMA latency. */
#define DOT_FLOAT(NAME, LOAD8, ESZ)                                                              \
    AVX2 static void NAME(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) { \
        if (nx == 1) { /* decode: four independent FMA chains, so latency does not bound it */ \
            const float *x0 = (const float *)x;                                                 \
            __m256 c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps();                          \
            __m256 c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps();                          \
            int64_t i = 0;                                                                      \
            for (; i + 32 <= n; i += 32) {                                                      \
                PREFETCH_AHEAD((const uint8_t *)w + i * (ESZ), 32 * (ESZ));                     \
                c0 = _mm256_fmadd_ps(LOAD8(i), _mm256_loadu_ps(x0 + i), c0);                    \
                c1 = _mm256_fmadd_ps(LOAD8(i + 8), _mm256_loadu_ps(x0 + i + 8), c1);            \
                c2 = _mm256_fmadd_ps(LOAD8(i + 16), _mm256_loadu_ps(x0 + i + 16), c2);          \
                c3 = _mm256_fmadd_ps(LOAD8(i + 24), _mm256_loadu_ps(x0 + i + 24), c3);          \
            }                                                                                   \
            for (; i + 8 <= n; i += 8) c0 = _mm256_fmadd_ps(LOAD8(i), _mm256_loadu_ps(x0 + i), c0); \
            float s = hsum(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)));        \
            for (; i < n; i++) s += _mm_cvtss_f32(_mm256_castps256_ps128(LOAD1(i))) * x0[i];    \
            out[0] = s;                                                                         \
            return;                                                                             \
        }                                                                                       \
        for (int j0 = 0; j0 < nx; j0 += 2) {                                                    \
            int m = nx - j0 < 2 ? nx - j0 : 2;                                                  \
            const float *x0 = (const float *)x + j0 * xs, *x1 = x0 + (m > 1 ? xs : 0);          \
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();                          \
            __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();                          \
            int64_t i = 0;                                                                      \
            for (; i + 16 <= n; i += 16) {                                                      \
                __m256 w0 = LOAD8(i), w1 = LOAD8(i + 8);                                        \
                a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x0 + i), a0);                          \
                a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x0 + i + 8), a1);                      \
                b0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x1 + i), b0);                          \
                b1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x1 + i + 8), b1);                      \
            }                                                                                   \
            for (; i + 8 <= n; i += 8) {                                                        \
                __m256 w0 = LOAD8(i);                                                           \
                a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x0 + i), a0);                          \
                b0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x1 + i), b0);                          \
            }                                                                                   \
            float sa = hsum(_mm256_add_ps(a0, a1)), sb = hsum(_mm256_add_ps(b0, b1));           \
            for (; i < n; i++) {                                                                \
                float wi = _mm_cvtss_f32(_mm256_castps256_ps128(LOAD1(i)));                     \
                sa += wi * x0[i];                                                               \
                sb += wi * x1[i];                                                               \
            }                                                                                   \
            out[j0] = sa;                                                                       \
            if (m > 1) out[j0 + 1] = sb;                                                        \
        }                                                                                       \
    }

#define W32 ((const float *)w)
#define W16 ((const uint16_t *)w)
#define LOAD8(i) _mm256_loadu_ps(W32 + (i))
#define LOAD1(i) _mm256_set1_ps(W32[i])
DOT_FLOAT(dot_f32, LOAD8, 4)
#undef LOAD8
#undef LOAD1
#define LOAD8(i) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(W16 + (i))))
#define LOAD1(i) _mm256_set1_ps(_cvtsh_ss(W16[i]))
DOT_FLOAT(dot_f16, LOAD8, 2)
#undef LOAD8
#undef LOAD1
#define LOAD8(i) \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(W16 + (i)))), 16))
#define LOAD1(i) _mm256_set1_ps(ig_bf16_to_fp32(W16[i]))
DOT_FLOAT(dot_bf16, LOAD8, 2)
#undef LOAD8
#undef LOAD1

AVX2 static void axpy(int64_t n, float a, const float *x, float *y) {
    __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

AVX2 static void dotg(int64_t n, const float *k, const float *q, int G, float *out) {
    if (n % 8) {
        ig_kernels_c.dotg(n, k, q, G, out);
        return;
    }
    for (int g0 = 0; g0 < G; g0 += 4) {
        int m = G - g0 < 4 ? G - g0 : 4;
        __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t i = 0; i < n; i += 8) {
            __m256 kv = _mm256_loadu_ps(k + i);
            for (int g = 0; g < m; g++) a[g] = _mm256_fmadd_ps(kv, _mm256_loadu_ps(q + (g0 + g) * n + i), a[g]);
        }
        for (int g = 0; g < m; g++) out[g0 + g] = hsum(a[g]);
    }
}

AVX2 static void axpyg(int64_t n, const float *v, const float *p, int G, float *y) {
    if (n % 8) {
        ig_kernels_c.axpyg(n, v, p, G, y);
        return;
    }
    for (int64_t i = 0; i < n; i += 8) {
        __m256 vv = _mm256_loadu_ps(v + i);
        for (int g = 0; g < G; g++) {
            float *yg = y + g * n + i;
            _mm256_storeu_ps(yg, _mm256_fmadd_ps(_mm256_set1_ps(p[g]), vv, _mm256_loadu_ps(yg)));
        }
    }
}

/* exp of 8 floats: Cody-Waite range reduction and the Cephes expf
 * polynomial (a few ulp); inputs clamped to [-87, 88] */
AVX2 static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* The value half of attention (see ig_attn_v_fn): exp over the flat score
 * array 8 at a time, then the weighted sum of value rows in register tiles of
 * 4 heads x 16 values, over blocks of cells that stay in cache (every tile
 * of a block reads the same rows). */
AVX2 static void attn_v(int n, int G, int Gp, int hd, float *s, const float *mx, const float *v, size_t stride,
                        const int32_t *cells, float *out) {
    if ((Gp != 4 && Gp != 8 && Gp != 16) || G > Gp || hd % 16) {
        ig_attn_v_c(n, G, Gp, hd, s, mx, v, stride, cells, out);
        return;
    }
    float mxr[16], part[16], sum[16] = {0};
    for (int l = 0; l < 16; l++) mxr[l] = l % Gp < G ? mx[l % Gp] : 0.0f;
    __m256 sa[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    const size_t total = (size_t)n * (size_t)Gp;
    size_t f = 0;
    for (; f + 8 <= total; f += 8) { /* f % 16 is 0 or 8: lanes l hold heads (f + l) % Gp */
        const __m256 p = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + f), _mm256_loadu_ps(mxr + f % 16)));
        _mm256_storeu_ps(s + f, p);
        sa[(f / 8) & 1] = _mm256_add_ps(sa[(f / 8) & 1], p);
    }
    _mm256_storeu_ps(part, sa[0]);
    _mm256_storeu_ps(part + 8, sa[1]);
    for (; f < total; f++) {
        s[f] = expf(s[f] - mxr[f % 16]);
        part[f % 16] += s[f];
    }
    for (int l = 0; l < 16; l++) sum[l % Gp] += part[l];
    memset(out, 0, (size_t)G * (size_t)hd * sizeof(float));
    enum { CB = 256 };
    for (int c0 = 0; c0 < n; c0 += CB) {
        const int c1 = n - c0 < CB ? n : c0 + CB;
        for (int it = 0; it < hd; it += 16)
            for (int gt = 0; gt < G; gt += 4) {
                const int gm = G - gt < 4 ? G - gt : 4;
                __m256 a[4][2];
                for (int g = 0; g < 4; g++) a[g][0] = a[g][1] = _mm256_setzero_ps();
                for (int j = c0; j < c1; j++) {
                    const float *vr = v + (size_t)cells[j] * stride + it, *pj = s + (size_t)j * Gp + gt;
                    const __m256 v0 = _mm256_loadu_ps(vr), v1 = _mm256_loadu_ps(vr + 8);
                    for (int g = 0; g < 4; g++) { /* lanes past G are padding (p ~ 0), never stored */
                        const __m256 pb = _mm256_broadcast_ss(pj + g);
                        a[g][0] = _mm256_fmadd_ps(pb, v0, a[g][0]);
                        a[g][1] = _mm256_fmadd_ps(pb, v1, a[g][1]);
                    }
                }
                for (int g = 0; g < gm; g++) {
                    float *o = out + (size_t)(gt + g) * hd + it;
                    _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), a[g][0]));
                    _mm256_storeu_ps(o + 8, _mm256_add_ps(_mm256_loadu_ps(o + 8), a[g][1]));
                }
            }
    }
    for (int g = 0; g < G; g++) {
        const __m256 inv = _mm256_set1_ps(sum[g] > 0 ? 1.0f / sum[g] : 0.0f);
        for (int i = 0; i < hd; i += 8) _mm256_storeu_ps(out + g * hd + i, _mm256_mul_ps(_mm256_loadu_ps(out + g * hd + i), inv));
    }
}

/* k-quants. The weights of one super-block are unpacked once and used for
 * every token; the float scales fold in the activation block's scale.
 * Decode (one token) has its own loops with every accumulator in a
 * register: through the arrays of the general loop, each FMA waited on a
 * store and a reload of its accumulator (Q4_K streamed at 0.15 of the read
 * loop on one core, 0.24 on two). */

/* The 8 six-bit scales and mins of a Q4_K super-block, as floats times d
 * and dmin: the layout of ig_q4_k_scale_min, four bytes at a time. */
AVX2 static inline void q4_k_scales(const struct ig_block_q4_k *b, float *dsc, float *dm) {
    uint32_t s[3];
    memcpy(s, b->scales, 12);
    uint32_t sc_lo = s[0] & 0x3f3f3f3f, m_lo = s[1] & 0x3f3f3f3f;
    uint32_t sc_hi = (s[2] & 0x0f0f0f0f) | ((s[0] >> 2) & 0x30303030);
    uint32_t m_hi = ((s[2] >> 4) & 0x0f0f0f0f) | ((s[1] >> 2) & 0x30303030);
    __m256 scf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, (int)sc_hi, (int)sc_lo)));
    __m256 mf = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, (int)m_hi, (int)m_lo)));
    _mm256_storeu_ps(dsc, _mm256_mul_ps(scf, _mm256_set1_ps(_cvtsh_ss(b->d))));
    _mm256_storeu_ps(dm, _mm256_mul_ps(mf, _mm256_set1_ps(_cvtsh_ss(b->dmin))));
}

/* unsigned bytes u times signed bytes x, summed in fours into 8 int32 lanes */
AVX2 static inline __m256i udot(__m256i u, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), _mm256_set1_epi16(1));
}
VNNI static inline __m256i udot_vnni(__m256i u, __m256i x) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, x); }

/* one token: the min term sums each activation block (times ones) */
#define DOT_Q4_K_1(NAME, ATTR, UDOT)                                                                        \
    ATTR static void NAME(int64_t n, const struct ig_block_q4_k *wb, const struct ig_block_q8x *a, float *out) { \
        const __m256i m4 = _mm256_set1_epi8(0x0F), ones8 = _mm256_set1_epi8(1);                              \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, accm0 = acc0, accm1 = acc0;                          \
        float dsc[8], dm[8];                                                                                 \
        for (int64_t i = 0; i < n / IG_QK_K; i++, a += 8) {                                                  \
            const struct ig_block_q4_k *b = &wb[i];                                                          \
            PREFETCH_AHEAD(b, sizeof *b);                                                                    \
            q4_k_scales(b, dsc, dm);                                                                         \
            for (int g = 0; g < 4; g++) {                                                                    \
                __m256i raw = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * g));                        \
                __m256i x0 = _mm256_loadu_si256((const __m256i *)a[2 * g].qs);                              \
                __m256i x1 = _mm256_loadu_si256((const __m256i *)a[2 * g + 1].qs);                          \
                __m256i p0 = UDOT(_mm256_and_si256(raw, m4), x0);                                           \
                __m256i p1 = UDOT(_mm256_and_si256(_mm256_srli_epi16(raw, 4), m4), x1);                     \
                float d0 = a[2 * g].d, d1 = a[2 * g + 1].d;                                                  \
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(dsc[2 * g] * d0), _mm256_cvtepi32_ps(p0), acc0);        \
                acc1 = _mm256_fmadd_ps(_mm256_set1_ps(dsc[2 * g + 1] * d1), _mm256_cvtepi32_ps(p1), acc1);    \
                accm0 = _mm256_fmadd_ps(_mm256_set1_ps(dm[2 * g] * d0), _mm256_cvtepi32_ps(UDOT(ones8, x0)), accm0); \
                accm1 = _mm256_fmadd_ps(_mm256_set1_ps(dm[2 * g + 1] * d1), _mm256_cvtepi32_ps(UDOT(ones8, x1)), accm1); \
            }                                                                                                \
        }                                                                                                    \
        out[0] = hsum(_mm256_sub_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(accm0, accm1)));                \
    }
DOT_Q4_K_1(dot_q4_k_1, AVX2, udot)
DOT_Q4_K_1(dot_q4_k_1_vnni, VNNI, udot_vnni)

AVX2 static void dot_q4_k(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) {
    const struct ig_block_q4_k *wb = w;
    if (nx == 1) {
        dot_q4_k_1(n, wb, x, out);
        return;
    }
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1), ones8 = _mm256_set1_epi8(1);
    __m256 acc[4], accm[4];
    for (int j = 0; j < nx; j++) acc[j] = accm[j] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / IG_QK_K; i++) {
        const struct ig_block_q4_k *b = &wb[i];
        float d = _cvtsh_ss(b->d), dmin = _cvtsh_ss(b->dmin);
        uint8_t sc[8], m[8];
        for (int k = 0; k < 8; k++) ig_q4_k_scale_min(b->scales, k, &sc[k], &m[k]);
        for (int g = 0; g < 4; g++) {
            __m256i raw = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * g));
            __m256i q[2] = {_mm256_and_si256(raw, m4), _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4)};
            for (int h = 0; h < 2; h++) {
                int k = 2 * g + h;
                for (int j = 0; j < nx; j++) {
                    const struct ig_block_q8x *a = (const struct ig_block_q8x *)x + j * xs + 8 * i + k;
                    __m256i xv = _mm256_loadu_si256((const __m256i *)a->qs);
                    __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(q[h], xv), ones));
                    __m256 sum = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(ones8, xv), ones));
                    acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[k] * a->d), dot, acc[j]);
                    accm[j] = _mm256_fmadd_ps(_mm256_set1_ps(dmin * m[k] * a->d), sum, accm[j]);
                }
            }
        }
    }
    for (int j = 0; j < nx; j++) out[j] = hsum(_mm256_sub_ps(acc[j], accm[j]));
}

VNNI static void dot_q4_k_vnni(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) {
    if (nx == 1) dot_q4_k_1_vnni(n, w, x, out);
    else dot_q4_k(n, w, x, xs, nx, out);
}

AVX2 static void dot_q6_k(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) {
    const struct ig_block_q6_k *wb = w;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
    __m256 acc[4];
    for (int j = 0; j < nx; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / IG_QK_K; i++) {
        const struct ig_block_q6_k *b = &wb[i];
        PREFETCH_AHEAD(b, sizeof *b);
        float d = _cvtsh_ss(b->d);
        for (int h = 0; h < 2; h++) {
            __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
            __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
            __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4)),
                _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4)),
            };
            for (int qt = 0; qt < 4; qt++) {
                __m256i wq = _mm256_sub_epi8(q[qt], off); /* -32..31 */
                const int8_t *sc = b->scales + 8 * h + 2 * qt;
                __m256i scl = _mm256_set_m128i(_mm_set1_epi16(sc[1]), _mm_set1_epi16(sc[0]));
                __m256i aw = _mm256_sign_epi8(wq, wq);
                for (int j = 0; j < nx; j++) {
                    const struct ig_block_q8x *a = (const struct ig_block_q8x *)x + j * xs + 8 * i + 4 * h + qt;
                    __m256i xv = _mm256_loadu_si256((const __m256i *)a->qs);
                    __m256i p16 = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv, wq));
                    __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, scl));
                    acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(d * a->d), dot, acc[j]);
                }
            }
        }
    }
    for (int j = 0; j < nx; j++) out[j] = hsum(acc[j]);
}

/* MLX: codes are unsigned, so maddubs takes them directly; the bias term
 * needs the activation block's sum. */
AVX2 static inline __m256i mlx4_codes(const uint8_t *q) { /* 32 codes in element order from 16 bytes */
    __m128i raw = _mm_loadu_si128((const __m128i *)q);
    __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(15)), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(15));
    return _mm256_set_m128i(_mm_unpackhi_epi8(lo, hi), _mm_unpacklo_epi8(lo, hi));
}

#define DOT_MLX(NAME, LOADC, QSTEP)                                                                      \
    AVX2 static void NAME(int64_t n, const uint8_t *q, const void *scales, const void *biases,             \
                          enum ig_dtype stype, int group, const void *x, int64_t xs, int nx, float *out) {  \
        const __m256i ones = _mm256_set1_epi16(1), ones8 = _mm256_set1_epi8(1);                            \
        __m256 acc[4];                                                                                     \
        for (int j = 0; j < nx; j++) acc[j] = _mm256_setzero_ps();                                        \
        for (int64_t b = 0; b < n / 32; b++) {                                                             \
            int64_t g = b * 32 / group;                                                                    \
            float s = ig_scalar_to_f32(stype, scales, g), z = ig_scalar_to_f32(stype, biases, g);           \
            __m256i c = LOADC(q + b * QSTEP);                                                              \
            for (int j = 0; j < nx; j++) {                                                                 \
                const struct ig_block_q8x *a = (const struct ig_block_q8x *)x + j * xs + b;                \
                __m256i xv = _mm256_loadu_si256((const __m256i *)a->qs);                                   \
                __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(c, xv), ones));     \
                __m256 sum = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(ones8, xv), ones)); \
                acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(a->d * s), dot, acc[j]);                          \
                acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(a->d * z), sum, acc[j]);                          \
            }                                                                                              \
        }                                                                                                  \
        for (int j = 0; j < nx; j++) out[j] = hsum(acc[j]);                                                \
    }

DOT_MLX(dot_mlx4, mlx4_codes, 16)

/* 8-bit codes reach 255, where maddubs pairs could overflow int16
 * (2 * 255 * 127): widen codes and activations to int16 and use madd. */
AVX2 static void dot_mlx8(int64_t n, const uint8_t *q, const void *scales, const void *biases, enum ig_dtype stype,
                          int group, const void *x, int64_t xs, int nx, float *out) {
    __m256 acc[4];
    for (int j = 0; j < nx; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / 32; b++) {
        int64_t g = b * 32 / group;
        float s = ig_scalar_to_f32(stype, scales, g), z = ig_scalar_to_f32(stype, biases, g);
        __m128i c0 = _mm_loadu_si128((const __m128i *)(q + b * 32)), c1 = _mm_loadu_si128((const __m128i *)(q + b * 32 + 16));
        __m256i w0 = _mm256_cvtepu8_epi16(c0), w1 = _mm256_cvtepu8_epi16(c1);
        for (int j = 0; j < nx; j++) {
            const struct ig_block_q8x *a = (const struct ig_block_q8x *)x + j * xs + b;
            __m256i x0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a->qs));
            __m256i x1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a->qs + 16)));
            __m256i d32 = _mm256_add_epi32(_mm256_madd_epi16(w0, x0), _mm256_madd_epi16(w1, x1));
            __m256i s32 = _mm256_madd_epi16(_mm256_add_epi16(x0, x1), _mm256_set1_epi16(1));
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(a->d * s), _mm256_cvtepi32_ps(d32), acc[j]);
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(a->d * z), _mm256_cvtepi32_ps(s32), acc[j]);
        }
    }
    for (int j = 0; j < nx; j++) out[j] = hsum(acc[j]);
}

/* ig_quantize_q8x, 8 floats at a time: the same products rounded the same
 * way (cvtps rounds to nearest even, as lrintf does) */
AVX2 static void quantize_q8x(const float *x, struct ig_block_q8x *y, int64_t n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t b = 0; b < n / 32; b++) {
        const float *v = x + b * 32;
        const __m256 a0 = _mm256_loadu_ps(v), a1 = _mm256_loadu_ps(v + 8);
        const __m256 a2 = _mm256_loadu_ps(v + 16), a3 = _mm256_loadu_ps(v + 24);
        const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, a0), _mm256_andnot_ps(sign, a1)),
                                       _mm256_max_ps(_mm256_andnot_ps(sign, a2), _mm256_andnot_ps(sign, a3)));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h), d = amax / 127.0f, id = d > 0 ? 127.0f / amax : 0.0f;
        y[b].d = d;
        const __m256 s = _mm256_set1_ps(id);
        const __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(a0, s)), i1 = _mm256_cvtps_epi32(_mm256_mul_ps(a1, s));
        const __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(a2, s)), i3 = _mm256_cvtps_epi32(_mm256_mul_ps(a3, s));
        /* the packs work within 128-bit lanes: dwords come out as 0 4 1 5 2 6 3 7 */
        const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
        _mm256_storeu_si256((__m256i *)y[b].qs, _mm256_permutevar8x32_epi32(p, order));
    }
}

static const struct ig_kernels k_avx2 = {
    .axpy = axpy,
    .dotg = dotg,
    .axpyg = axpyg,
    .attn_v = attn_v,
    .isa = "avx2",
    .quantize = quantize_q8x,
    .dot = {[IG_DTYPE_F32] = dot_f32, [IG_DTYPE_F16] = dot_f16, [IG_DTYPE_BF16] = dot_bf16,
            [IG_DTYPE_Q8_0] = dot_q8_0, [IG_DTYPE_Q4_0] = dot_q4_0, [IG_DTYPE_Q4_K] = dot_q4_k,
            [IG_DTYPE_Q6_K] = dot_q6_k},
    .dot_mlx4 = dot_mlx4,
    .dot_mlx8 = dot_mlx8,
};

static const struct ig_kernels k_avx512vnni = {
    .axpy = axpy,
    .dotg = dotg,
    .axpyg = axpyg,
    .attn_v = attn_v,
    .isa = "avx2+avx512vnni",
    .quantize = quantize_q8x,
    .dot = {[IG_DTYPE_F32] = dot_f32, [IG_DTYPE_F16] = dot_f16, [IG_DTYPE_BF16] = dot_bf16,
            [IG_DTYPE_Q8_0] = dot_q8_0_vnni, [IG_DTYPE_Q4_0] = dot_q4_0_vnni, [IG_DTYPE_Q4_K] = dot_q4_k_vnni,
            [IG_DTYPE_Q6_K] = dot_q6_k},
    .dot_mlx4 = dot_mlx4,
    .dot_mlx8 = dot_mlx8,
};

static const struct ig_kernels *pick(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return &ig_kernels_c;
    /* F16C ships with every AVX2 CPU; INGOT_CPU_ISA=avx2 forces the plain path */
    const char *force = getenv("INGOT_CPU_ISA");
    bool vnni = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
    if (vnni && !(force && !strcmp(force, "avx2"))) return &k_avx512vnni;
    return &k_avx2;
}

const struct ig_kernels *ig_kernels_best(void) {
    static const struct ig_kernels *_Atomic best;
    const struct ig_kernels *k = best;
    if (!k) best = k = pick(); /* idempotent: a race stores the same pointer */
    return k;
}

const struct ig_kernels *ig_kernels_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? &k_avx2 : NULL;
}
#else /* ig_kernels_best of other CPUs: kernels_neon.c */
const struct ig_kernels *ig_kernels_avx2(void) { return NULL; }
#endif
