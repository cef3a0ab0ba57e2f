/* quant.h - weight types and block layouts, defined once for C (and later
 * CUDA) code, plus the scalar reference (de)quantization every faster kernel
 * is checked against. Type ids equal GGML's so GGUF files map 1:1. */
#ifndef IG_QUANT_H
#define IG_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ig_dtype {
    IG_DTYPE_F32 = 0,
    IG_DTYPE_F16 = 1,
    IG_DTYPE_Q4_0 = 2,
    IG_DTYPE_Q4_1 = 3,
    IG_DTYPE_Q5_0 = 6,
    IG_DTYPE_Q5_1 = 7,
    IG_DTYPE_Q8_0 = 8,
    IG_DTYPE_Q8_1 = 9,
    IG_DTYPE_Q2_K = 10,
    IG_DTYPE_Q3_K = 11,
    IG_DTYPE_Q4_K = 12,
    IG_DTYPE_Q5_K = 13,
    IG_DTYPE_Q6_K = 14,
    IG_DTYPE_Q8_K = 15,
    IG_DTYPE_IQ2_XXS = 16,
    IG_DTYPE_IQ2_XS = 17,
    IG_DTYPE_IQ3_XXS = 18,
    IG_DTYPE_IQ1_S = 19,
    IG_DTYPE_IQ4_NL = 20,
    IG_DTYPE_IQ3_S = 21,
    IG_DTYPE_IQ2_S = 22,
    IG_DTYPE_IQ4_XS = 23,
    IG_DTYPE_I8 = 24,
    IG_DTYPE_I16 = 25,
    IG_DTYPE_I32 = 26,
    IG_DTYPE_I64 = 27,
    IG_DTYPE_F64 = 28,
    IG_DTYPE_IQ1_M = 29,
    IG_DTYPE_BF16 = 30,
    IG_DTYPE_TQ1_0 = 34,
    IG_DTYPE_TQ2_0 = 35,
    IG_DTYPE_MXFP4 = 39,
    /* ingot's own, never in a GGUF file: MLX affine group quantization as
     * mlx-community folders store it, used in place (see struct ig_weight) */
    IG_DTYPE_MLX4 = 40,
    IG_DTYPE_MLX8 = 41,
    IG_DTYPE_COUNT = 42
};

#define IG_QK8_0 32
#define IG_QK4_0 32

/* Q8_0: 32 weights = d * q, q in [-127, 127]. */
struct ig_block_q8_0 {
    uint16_t d; /* fp16 scale */
    int8_t qs[IG_QK8_0];
};
/* Q4_0: 32 weights = d * (q - 8); low nibbles hold weights 0..15, high 16..31. */
struct ig_block_q4_0 {
    uint16_t d;
    uint8_t qs[IG_QK4_0 / 2];
};
/* k-quants: super-blocks of 256 weights. */
#define IG_QK_K 256
/* Q4_K: 8 sub-blocks of 32; weight = d * sc[j] * q - dmin * m[j], q in [0, 15];
 * the 6-bit sc and m of the 8 sub-blocks are packed in scales[12]; qs holds
 * 4 groups of 64 weights: sub-block 2g in the low nibbles of qs[32g..32g+31],
 * sub-block 2g+1 in the high nibbles. */
struct ig_block_q4_k {
    uint16_t d, dmin; /* fp16 */
    uint8_t scales[12];
    uint8_t qs[IG_QK_K / 2];
};
/* Q6_K: 16 sub-blocks of 16; weight = d * scales[j] * (q - 32), q in [0, 63]:
 * low 4 bits in ql, high 2 bits in qh (layout in kquant.c). */
struct ig_block_q6_k {
    uint8_t ql[IG_QK_K / 2];
    uint8_t qh[IG_QK_K / 4];
    int8_t scales[IG_QK_K / 16];
    uint16_t d; /* fp16 */
};
_Static_assert(sizeof(struct ig_block_q4_k) == 144, "Q4_K block is 144 bytes");
_Static_assert(sizeof(struct ig_block_q6_k) == 210, "Q6_K block is 210 bytes");
_Static_assert(sizeof(struct ig_block_q8_0) == 34, "Q8_0 block is 34 bytes");
_Static_assert(sizeof(struct ig_block_q4_0) == 18, "Q4_0 block is 18 bytes");

struct ig_dtype_traits {
    const char *name;  /* NULL: id not a known type */
    int32_t blck;      /* elements per block */
    int32_t size;      /* bytes per block */
    bool can_compute;  /* ingot has kernels for it */
    bool internal;     /* ingot's own (MLX): not valid in a GGUF file */
};
/* Traits of a type id, or NULL for an unknown id. */
const struct ig_dtype_traits *ig_dtype_get(uint32_t type);

/* Bytes of a row of n elements; false if n is not a whole number of blocks
 * or the size overflows. */
bool ig_row_bytes(enum ig_dtype t, int64_t n, size_t *out);

float ig_fp16_to_fp32(uint16_t h);
uint16_t ig_fp32_to_fp16(float f); /* round to nearest even */
float ig_bf16_to_fp32(uint16_t h);
uint16_t ig_fp32_to_bf16(float f); /* round to nearest even */

/* Scalar reference: row of n elements of type t -> floats. t must be
 * computable and n a multiple of its block size. */
void ig_dequantize_row(enum ig_dtype t, const void *src, float *dst, int64_t n);
/* Scalar reference quantizer (writers and tests): n floats -> row of type t. */
void ig_quantize_row(enum ig_dtype t, const float *src, void *dst, int64_t n);

/* MLX affine quantization (mlx.c): row elements are a little-endian bit
 * stream of `bits`-bit codes in uint32 words; element i of group g (of
 * `group` elements) is scale[g] * code + bias[g]. scales/biases point at the
 * row's first group, of type stype (F16, BF16 or F32). */
void ig_dequantize_mlx_row(enum ig_dtype t, const void *q, const void *scales, const void *biases,
                           enum ig_dtype stype, int group, float *dst, int64_t n);
/* Quantizer in MLX's layout (tests, generators): per group min/max. */
void ig_quantize_mlx_row(enum ig_dtype t, const float *src, void *q, float *scales, float *biases, int group,
                         int64_t n);
static inline int ig_mlx_bits(enum ig_dtype t) { return t == IG_DTYPE_MLX4 ? 4 : 8; }
static inline float ig_scalar_to_f32(enum ig_dtype t, const void *p, int64_t i) {
    return t == IG_DTYPE_F32 ? ((const float *)p)[i]
           : t == IG_DTYPE_F16 ? ig_fp16_to_fp32(((const uint16_t *)p)[i])
                               : ig_bf16_to_fp32(((const uint16_t *)p)[i]);
}

/* k-quants (kquant.c). The 6-bit scale and min of sub-block j of a Q4_K block. */
void ig_q4_k_scale_min(const uint8_t *scales, int j, uint8_t *sc, uint8_t *m);
void ig_dequantize_q4_k(const struct ig_block_q4_k *b, float *dst, int64_t n);
void ig_dequantize_q6_k(const struct ig_block_q6_k *b, float *dst, int64_t n);
void ig_quantize_q4_k(const float *src, struct ig_block_q4_k *b, int64_t n);
void ig_quantize_q6_k(const float *src, struct ig_block_q6_k *b, int64_t n);

#endif
