/* model.h - the normalized model description every backend runs:
 * hyper-parameters, weights bound to file tensors (shape- and type-checked),
 * and the tokenizer. Built from a GGUF file by model.c. */
#ifndef IG_MODEL_H
#define IG_MODEL_H

#include "format/gguf.h"
#include "tokenizer/vocab.h"

enum ig_arch { IG_ARCH_LLAMA, IG_ARCH_QWEN2, IG_ARCH_PHI3 };

struct ig_arch_desc {
    const char *name;
    enum ig_arch arch;
    bool rope_neox;     /* NeoX RoPE: rotate halves rather than adjacent pairs */
    bool qkv_bias;      /* Q/K/V projections carry a bias (required) */
    bool fused;         /* one attn_qkv matrix and ffn_up holding gate then up (Phi-3) */
};
/* Descriptor for a GGUF general.architecture, NULL if ingot does not run it. */
const struct ig_arch_desc *ig_arch_find(const char *name);
/* "llama, qwen2, phi3" for error messages. */
const char *ig_arch_list(void);

struct ig_hparams {
    int32_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    int32_t n_rot;           /* dims of each head that RoPE rotates */
    float norm_eps;
    float rope_base;
    float rope_freq_scale;   /* 1/linear scaling factor (1: none) */
};

/* A weight matrix (n_out rows of n_in elements) or vector used in place. */
struct ig_weight {
    const void *data;        /* NULL: absent (optional tensor) */
    enum ig_dtype type;
    int64_t n_in, n_out;     /* ne[0], ne[1] */
    size_t row_bytes;
    /* MLX4/MLX8 only: per-group scale and bias rows (n_in / group values of
     * stype each, scale_row_bytes apart) */
    const void *scales, *biases;
    int32_t group;
    enum ig_dtype stype;
    size_t scale_row_bytes;
};

static inline bool ig_weight_is_mlx(const struct ig_weight *w) {
    return w->type == IG_DTYPE_MLX4 || w->type == IG_DTYPE_MLX8;
}
/* Row r of a weight as floats (the scalar reference for every type). */
static inline void ig_weight_row(const struct ig_weight *w, int64_t r, float *dst) {
    const uint8_t *q = (const uint8_t *)w->data + (size_t)r * w->row_bytes;
    if (ig_weight_is_mlx(w))
        ig_dequantize_mlx_row(w->type, q, (const uint8_t *)w->scales + (size_t)r * w->scale_row_bytes,
                              (const uint8_t *)w->biases + (size_t)r * w->scale_row_bytes, w->stype, w->group, dst,
                              w->n_in);
    else
        ig_dequantize_row(w->type, q, dst, w->n_in);
}

struct ig_layer {
    const float *attn_norm;  /* (n_embd) */
    struct ig_weight wq;     /* (n_embd -> n_head * head_dim) */
    struct ig_weight wk;     /* (n_embd -> n_head_kv * head_dim) */
    struct ig_weight wv;     /* (n_embd -> n_head_kv * head_dim) */
    struct ig_weight wo;     /* (n_head * head_dim -> n_embd) */
    const float *bq, *bk, *bv; /* biases or NULL */
    const float *ffn_norm;   /* (n_embd) */
    struct ig_weight w_gate; /* (n_embd -> n_ff) */
    struct ig_weight w_up;   /* (n_embd -> n_ff) */
    struct ig_weight w_down; /* (n_ff -> n_embd) */
};

struct ig_model {
    struct ig_gguf *gguf;
    const struct ig_arch_desc *arch;
    struct ig_hparams hp;
    struct ig_vocab vocab;
    struct ig_weight tok_embd;   /* (n_vocab rows of n_embd) */
    const float *output_norm;    /* (n_embd) */
    struct ig_weight output;     /* (n_embd -> n_vocab); = tok_embd when tied */
    bool tied;
    bool rope_neox;              /* rotate halves: the arch's way, or Q/K rows in HF order */
    struct ig_layer *layers;     /* [n_layer] */
    double *rope_inv_freq;       /* [n_rot/2] base^(-2i/n_rot) / freq_factor[i] */
    float **owned;               /* small vectors converted to F32 at load */
    int32_t n_owned;
    int32_t n_threads;
    enum ig_backend_type backend;
    bool vocab_only;
    char **meta_keys, **meta_vals; /* NUL-terminated copies handed out by ig_model_meta_str */
    int32_t n_meta;
    char **tensor_names;         /* (n_tensors) NUL-terminated, for ig_model_tensor */
    char *name, *weight_type;
};

#endif
