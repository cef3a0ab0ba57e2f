/* mlx.c - MLX affine group quantization (mlx.core.quantize, mode "affine"):
 * w = scale * code + bias per group of 32/64/128 elements, codes packed
 * little-endian into uint32 words (4 bits: 8 per word, element i in bits
 * 4*(i%8) of word i/8, i.e. the low nibble of byte i/2 for even i). */
#include "quant.h"

#include <math.h>
#include <string.h>

void ig_dequantize_mlx_row(enum ig_dtype t, const void *q, const void *scales, const void *biases,
                           enum ig_dtype stype, int group, float *dst, int64_t n) {
    const uint8_t *b = q;
    for (int64_t g = 0; g < n / group; g++) {
        float s = ig_scalar_to_f32(stype, scales, g), z = ig_scalar_to_f32(stype, biases, g);
        for (int64_t i = g * group; i < (g + 1) * group; i++) {
            int code = t == IG_DTYPE_MLX4 ? (b[i / 2] >> (4 * (i % 2))) & 15 : b[i];
            dst[i] = s * (float)code + z;
        }
    }
}

void ig_quantize_mlx_row(enum ig_dtype t, const float *x, void *q, float *scales, float *biases, int group,
                         int64_t n) {
    uint8_t *b = q;
    int levels = t == IG_DTYPE_MLX4 ? 15 : 255;
    if (t == IG_DTYPE_MLX4) memset(b, 0, (size_t)n / 2);
    for (int64_t g = 0; g < n / group; g++) {
        float lo = x[g * group], hi = lo;
        for (int64_t i = g * group; i < (g + 1) * group; i++) lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
        float s = (hi - lo) / (float)levels;
        scales[g] = s;
        biases[g] = lo;
        for (int64_t i = g * group; i < (g + 1) * group; i++) {
            int c = s > 0 ? (int)lrintf((x[i] - lo) / s) : 0;
            c = c < 0 ? 0 : c > levels ? levels : c;
            if (t == IG_DTYPE_MLX4) b[i / 2] |= (uint8_t)(c << (4 * (i % 2)));
            else b[i] = (uint8_t)c;
        }
    }
}
