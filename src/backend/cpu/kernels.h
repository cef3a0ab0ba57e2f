/* kernels.h - CPU dot-product kernels for the fast backend. Quantized weights
 * (Q8_0, Q4_0) are multiplied against activations quantized on the fly to
 * 8-bit blocks (struct ig_block_q8x); float weights against F32 activations.
 * Each kernel has a portable C version (the oracle for the SIMD ones, and the
 * path on other CPUs), AVX2 / AVX-512 VNNI versions on x86-64 and NEON / SDOT
 * versions on ARM64, picked at run time. */
#ifndef IG_KERNELS_H
#define IG_KERNELS_H

#include "quant/quant.h"

/* Activation block: 32 values = d * qs[i], qs in [-127, 127]. */
struct ig_block_q8x {
    float d;
    int8_t qs[32];
};
_Static_assert(sizeof(struct ig_block_q8x) == 36, "q8x block is 36 bytes");

/* Quantize n floats (n % 32 == 0) to n/32 blocks: d = absmax / 127, codes
 * rounded to nearest (even) of x * (127 / absmax). The portable version; the
 * kernel tables' `quantize` give the same bytes. */
void ig_quantize_q8x(const float *x, struct ig_block_q8x *y, int64_t n);

/* out[j] = dot(w row, x_j) for j < nx (nx in 1..4): one pass over the weight
 * row serves up to four tokens. x is struct ig_block_q8x rows (n/32 blocks
 * each) for Q8_0/Q4_0, float rows (n each) for F32/F16/BF16. x_stride is in
 * blocks or floats. */
typedef void (*ig_dot_fn)(int64_t n, const void *w, const void *x, int64_t x_stride, int nx, float *out);

/* y[i] += a * x[i] */
typedef void (*ig_axpy_fn)(int64_t n, float a, const float *x, float *y);
/* Grouped-query attention helpers: one key/value row against the G query
 * heads that share it. dotg: out[g] = dot(k, q + g * n). axpyg: y + g * n
 * += p[g] * v for each g. */
typedef void (*ig_dotg_fn)(int64_t n, const float *k, const float *q, int G, float *out);
typedef void (*ig_axpyg_fn)(int64_t n, const float *v, const float *p, int G, float *y);

/* The value half of attention for G query heads sharing one KV head: with
 * scores s[j * Gp + g] (j < n visible cells; Gp >= G, the lanes g >= G are
 * padding) and per-head maxima mx[g], out[g * hd ..] = sum_j p_jg v_j / sum_j
 * p_jg where p_jg = exp(s - mx[g]) and v_j = v + cells[j] * stride. s is
 * overwritten. */
typedef void (*ig_attn_v_fn)(int n, int G, int Gp, int hd, float *s, const float *mx, const float *v, size_t stride,
                             const int32_t *cells, float *out);
/* Gp for G heads: the padded score row the attn_v kernels want (4, 8, 16 or G) */
static inline int ig_attn_gp(int G) { return G <= 4 ? 4 : G <= 8 ? 8 : G <= 16 ? 16 : G; }

/* MLX4/MLX8 rows against q8x activations: q the packed row, scales/biases its
 * groups (stype values), group a multiple of 32. */
typedef void (*ig_dot_mlx_fn)(int64_t n, const uint8_t *q, const void *scales, const void *biases,
                              enum ig_dtype stype, int group, const void *x, int64_t x_stride, int nx, float *out);

struct ig_kernels {
    const char *isa;          /* "avx2+avx512vnni", "avx2", "neon+dotprod", "neon", "c" */
    void (*quantize)(const float *x, struct ig_block_q8x *y, int64_t n); /* = ig_quantize_q8x, bit for bit */
    ig_dot_fn dot[IG_DTYPE_COUNT];
    ig_dot_mlx_fn dot_mlx4, dot_mlx8;
    ig_axpy_fn axpy;
    ig_dotg_fn dotg;
    ig_axpyg_fn axpyg;
    ig_attn_v_fn attn_v;
};
void ig_attn_v_c(int n, int G, int Gp, int hd, float *s, const float *mx, const float *v, size_t stride,
                 const int32_t *cells, float *out);

/* Portable C kernels. */
extern const struct ig_kernels ig_kernels_c;
/* The best kernels this CPU runs (checked once at run time; INGOT_CPU_ISA=avx2
 * keeps to AVX2 on AVX-512 machines). */
const struct ig_kernels *ig_kernels_best(void);
/* The plain AVX2 kernels, or NULL on CPUs without AVX2 (for tests). */
const struct ig_kernels *ig_kernels_avx2(void);
/* The plain NEON kernels (no SDOT), or NULL off ARM64 (for tests). */
const struct ig_kernels *ig_kernels_neon(void);
/* True if the type's kernels take quantized (q8x) activations. */
static inline bool ig_kernel_wants_q8x(enum ig_dtype t) {
    return t == IG_DTYPE_Q8_0 || t == IG_DTYPE_Q4_0 || t == IG_DTYPE_Q4_K || t == IG_DTYPE_Q6_K || t == IG_DTYPE_MLX4 ||
           t == IG_DTYPE_MLX8;
}
/* dot_f32, dot_f16 and dot_bf16 of a kernel file, from its
 * dot_float(type, n, w, x, xs, nx, out) */
#define IG_DOT_FLOAT_TYPES(dot_float)                                                            \
    static void dot_f32(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) { \
        dot_float(IG_DTYPE_F32, n, w, x, xs, nx, out);                                           \
    }                                                                                            \
    static void dot_f16(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) { \
        dot_float(IG_DTYPE_F16, n, w, x, xs, nx, out);                                           \
    }                                                                                            \
    static void dot_bf16(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out) { \
        dot_float(IG_DTYPE_BF16, n, w, x, xs, nx, out);                                          \
    }

/* Portable k-quant kernels (also the AVX2 tables' fallback until SIMD ones exist). */
void ig_dot_q4_k_c(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out);
void ig_dot_q6_k_c(int64_t n, const void *w, const void *x, int64_t xs, int nx, float *out);
void ig_dot_mlx4_c(int64_t n, const uint8_t *q, const void *scales, const void *biases, enum ig_dtype stype,
                   int group, const void *x, int64_t xs, int nx, float *out);
void ig_dot_mlx8_c(int64_t n, const uint8_t *q, const void *scales, const void *biases, enum ig_dtype stype,
                   int group, const void *x, int64_t xs, int nx, float *out);

#endif
