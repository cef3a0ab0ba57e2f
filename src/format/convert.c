/* convert.c - ig_convert: a GGUF file or a Hugging Face folder -> a GGUF file
 * that ingot and llama.cpp load. Metadata (tokenizer, chat template) is
 * copied key by key; each 2-D weight is dequantized row by row and
 * re-quantized to the target type; norms and biases stay F32. Q/K rows of a
 * Hugging Face Llama are permuted to GGUF's interleaved RoPE order. */
#define _POSIX_C_SOURCE 200809L
#include "format/gguf.h"
#include "format/hf_folder.h"

#include <string.h>

#define ERR(...) (ig_err(err, err_len, __VA_ARGS__))

static const struct {
    const char *name;
    enum ig_dtype type;
    uint32_t ftype; /* general.file_type (llama.cpp's LLAMA_FTYPE) */
} k_types[] = {
    {"f32", IG_DTYPE_F32, 0}, {"f16", IG_DTYPE_F16, 1}, {"bf16", IG_DTYPE_BF16, 32},
    {"q8_0", IG_DTYPE_Q8_0, 7}, {"q4_0", IG_DTYPE_Q4_0, 2}, {"q4_k", IG_DTYPE_Q4_K, 14}, {"q6_k", IG_DTYPE_Q6_K, 18},
};

struct conv {
    const struct ig_gguf *src;
    const struct ig_gguf_tensor **t; /* source tensor of each output tensor */
    int32_t *permute_heads;          /* > 0: permute rows in groups of heads */
    int64_t *head_dim;
    char *fill_err;
};

static bool fill(void *user, int32_t i, int64_t row, float *dst, int64_t n) {
    struct conv *c = user;
    const struct ig_gguf_tensor *t = c->t[i];
    int64_t src_row = row;
    if (c->permute_heads[i] > 0) { /* GGUF row 2i+k of a head <- HF row k*D/2 + i */
        int64_t D = c->head_dim[i], h = row / D, j = row % D;
        src_row = h * D + (j % 2) * (D / 2) + j / 2;
    }
    if (t->n_dims == 1) { /* vectors: one row; a permuted bias moves elements */
        float *tmp = malloc((size_t)n * sizeof *tmp);
        if (!tmp) return snprintf(c->fill_err, 256, "out of memory"), false;
        ig_gguf_tensor_row(t, 0, tmp);
        for (int64_t e = 0; e < n; e++) {
            int64_t s = e;
            if (c->permute_heads[i] > 0) {
                int64_t D = c->head_dim[i], h = e / D, j = e % D;
                s = h * D + (j % 2) * (D / 2) + j / 2;
            }
            dst[e] = tmp[s];
        }
        free(tmp);
        return true;
    }
    ig_gguf_tensor_row(t, src_row, dst);
    return true;
}

static bool ends_with(struct ig_gguf_str s, const char *suffix) {
    size_t n = strlen(suffix);
    return s.n >= n && !memcmp(s.p + s.n - n, suffix, n);
}

enum ig_status ig_convert(const char *src, const char *dst, const char *type_name,
                          void (*progress)(void *user, int32_t done, int32_t total), void *progress_user,
                          char *err, size_t err_len) {
    int ti = -1;
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (type_name && !strcmp(type_name, k_types[i].name)) ti = (int)i;
    if (ti < 0) {
        ERR("unknown --type '%s' (f32, f16, bf16, q8_0, q4_0, q4_k, q6_k)", type_name ? type_name : "");
        return IG_ERR_ARG;
    }
    struct ig_gguf *g = NULL;
    enum ig_status st = ig_hf_is_folder(src) ? ig_hf_open(src, &g, err, err_len) : ig_gguf_open(src, &g, err, err_len);
    if (st != IG_OK) return st;
    struct ig_gguf_writer *w = ig_gguf_writer_create();
    struct conv c = {.src = g};
    c.t = calloc((size_t)g->n_tensors + 1, sizeof *c.t);
    c.permute_heads = calloc((size_t)g->n_tensors + 1, sizeof *c.permute_heads);
    c.head_dim = calloc((size_t)g->n_tensors + 1, sizeof *c.head_dim);
    if (!w || !c.t || !c.permute_heads || !c.head_dim) {
        st = IG_ERR_NOMEM;
        ERR("out of memory");
        goto done;
    }
    c.fill_err = ig_gguf_w_fill_err(w);
    struct ig_gguf_str arch = {"", 0};
    ig_gguf_get_str(g, "general.architecture", &arch);
    char archz[64] = "", key[128];
    snprintf(archz, sizeof archz, "%.*s", (int)IG_MIN(arch.n, 63), arch.p);
    if (!archz[0]) {
        ERR("%s: no general.architecture: not a model", src);
        st = IG_ERR_FORMAT;
        goto done;
    }
    /* metadata, re-encoded as the file stores it */
    bool ok = true;
    for (uint64_t i = 0; ok && i < g->n_kv; i++) {
        const struct ig_gguf_kv *kv = &g->kv[i];
        if (ig_gguf_str_eq(kv->key, "general.alignment") || ig_gguf_str_eq(kv->key, "general.file_type")) continue;
        char *k = malloc((size_t)kv->key.n + 1);
        uint8_t *v = malloc(kv->val_size + 12);
        if (!k || !v) {
            free(k), free(v);
            ok = false;
            break;
        }
        memcpy(k, kv->key.p, (size_t)kv->key.n);
        k[kv->key.n] = 0;
        size_t n = 0;
        if (kv->type == IG_GGUF_ARRAY) {
            memcpy(v, &kv->arr_type, 4);
            memcpy(v + 4, &kv->arr_n, 8);
            n = 12;
        }
        memcpy(v + n, kv->val, kv->val_size);
        ok = ig_gguf_w_raw(w, k, kv->type, v, n + kv->val_size);
        free(k);
        free(v);
    }
    ok = ok && ig_gguf_w_u32(w, "general.file_type", k_types[ti].ftype) &&
         ig_gguf_w_u32(w, "general.quantization_version", 2);
    uint32_t n_head = 0, n_head_kv = 0, n_embd = 0, head_dim = 0;
    snprintf(key, sizeof key, "%s.attention.head_count", archz);
    ig_gguf_get_u32(g, key, &n_head);
    snprintf(key, sizeof key, "%s.attention.head_count_kv", archz);
    if (!ig_gguf_get_u32(g, key, &n_head_kv)) n_head_kv = n_head;
    snprintf(key, sizeof key, "%s.embedding_length", archz);
    ig_gguf_get_u32(g, key, &n_embd);
    snprintf(key, sizeof key, "%s.attention.key_length", archz);
    if (!ig_gguf_get_u32(g, key, &head_dim) && n_head) head_dim = n_embd / n_head;
    bool permute = g->qk_rotate_half && !strcmp(archz, "llama");
    for (uint64_t i = 0; ok && i < g->n_tensors; i++) {
        const struct ig_gguf_tensor *t = &g->tensors[i];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)IG_MIN(t->name.n, 255), t->name.p);
        if (!ig_dtype_get(t->type)->can_compute) {
            ERR("tensor %s has type %s, which ingot cannot convert yet", name, ig_dtype_get(t->type)->name);
            st = IG_ERR_UNSUPPORTED;
            goto done;
        }
        enum ig_dtype out = IG_DTYPE_F32;
        size_t rb;
        if (t->n_dims >= 2 && ends_with(t->name, ".weight")) {
            out = k_types[ti].type;
            /* rows that are not whole blocks: Q8_0 if they can, else F16 (as llama.cpp falls back) */
            if (!ig_row_bytes(out, t->ne[0], &rb)) out = ig_row_bytes(IG_DTYPE_Q8_0, t->ne[0], &rb) ? IG_DTYPE_Q8_0 : IG_DTYPE_F16;
        }
        c.t[i] = t;
        if (permute && (ends_with(t->name, "attn_q.weight") || ends_with(t->name, "attn_q.bias"))) {
            c.permute_heads[i] = (int32_t)n_head;
            c.head_dim[i] = head_dim;
        } else if (permute && (ends_with(t->name, "attn_k.weight") || ends_with(t->name, "attn_k.bias"))) {
            c.permute_heads[i] = (int32_t)n_head_kv;
            c.head_dim[i] = head_dim;
        }
        ok = ig_gguf_w_tensor(w, name, out, (int)t->n_dims, t->ne, NULL);
    }
    if (!ok) {
        st = IG_ERR_NOMEM;
        ERR("out of memory");
        goto done;
    }
    ig_gguf_w_set_fill(w, fill, &c);
    st = ig_gguf_w_write(w, dst, progress, progress_user, err, err_len);
done:
    free(c.t);
    free(c.permute_heads);
    free(c.head_dim);
    ig_gguf_writer_free(w);
    ig_gguf_free(g);
    return st;
}
