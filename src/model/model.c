#define _POSIX_C_SOURCE 200809L /* strdup */
/* model.c - ig_model_load: GGUF -> hyper-parameters + weights bound in place,
 * each tensor checked for presence, type and shape, with one clear message
 * naming what is wrong. */
#include "model/model.h"

#include "format/hf_folder.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>

#define ERR(...) (ig_err(err, err_len, __VA_ARGS__))

struct ig_model_params ig_model_default_params(void) {
    struct ig_model_params p = {.n_threads = 0, .vocab_only = false, .backend = IG_BACKEND_AUTO};
    return p;
}

bool ig_backend_parse(const char *name, enum ig_backend_type *out) {
    static const struct {
        const char *name;
        enum ig_backend_type b;
    } k[] = {{"auto", IG_BACKEND_AUTO}, {"cpu", IG_BACKEND_CPU}, {"cpu-ref", IG_BACKEND_CPU_REF},
           {"cuda", IG_BACKEND_CUDA}};
    for (size_t i = 0; name && i < sizeof k / sizeof k[0]; i++) {
        if (!strcmp(name, k[i].name)) {
            *out = k[i].b;
            return true;
        }
    }
    return false;
}

static bool key_u32(const struct ig_gguf *g, const char *arch, const char *suffix, uint32_t *out,
                    bool required, char *err, size_t err_len) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (ig_gguf_get_u32(g, key, out)) return true;
    if (required) {
        if (ig_gguf_kv_find(g, key)) ERR("metadata %s has the wrong type (expected an integer)", key);
        else ERR("missing metadata %s", key);
    }
    return false;
}

static bool key_f32(const struct ig_gguf *g, const char *arch, const char *suffix, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return ig_gguf_get_f32(g, key, out);
}

static bool load_hparams(struct ig_model *m, const char *arch, char *err, size_t err_len) {
    const struct ig_gguf *g = m->gguf;
    struct ig_hparams *hp = &m->hp;
    uint32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx = 2048, key_len = 0, n_rot = 0;
    if (!key_u32(g, arch, "embedding_length", &n_embd, true, err, err_len) ||
        !key_u32(g, arch, "block_count", &n_layer, true, err, err_len) ||
        !key_u32(g, arch, "attention.head_count", &n_head, true, err, err_len) ||
        !key_u32(g, arch, "feed_forward_length", &n_ff, true, err, err_len))
        return false;
    if (!key_u32(g, arch, "attention.head_count_kv", &n_head_kv, false, err, err_len)) n_head_kv = n_head;
    key_u32(g, arch, "context_length", &n_ctx, false, err, err_len);
    if (n_embd == 0 || n_embd > 65536 || n_layer == 0 || n_layer > 1024 || n_head == 0 || n_head > 1024 ||
        n_head_kv == 0 || n_head % n_head_kv != 0 || n_head / n_head_kv > 64 || n_ff == 0 || n_ff > (1u << 20)) {
        ERR("bad hyper-parameters: n_embd %u, n_layer %u, n_head %u, n_head_kv %u, n_ff %u", n_embd,
            n_layer, n_head, n_head_kv, n_ff);
        return false;
    }
    if (!key_u32(g, arch, "attention.key_length", &key_len, false, err, err_len)) {
        if (n_embd % n_head != 0) {
            ERR("bad hyper-parameters: n_embd %u is not a multiple of n_head %u", n_embd, n_head);
            return false;
        }
        key_len = n_embd / n_head;
    }
    uint32_t val_len = key_len;
    key_u32(g, arch, "attention.value_length", &val_len, false, err, err_len);
    if (key_len == 0 || key_len > 1024 || key_len % 2 != 0 || val_len != key_len) {
        ERR("unsupported head size: key %u, value %u", key_len, val_len);
        return false;
    }
    if (!key_u32(g, arch, "rope.dimension_count", &n_rot, false, err, err_len)) n_rot = key_len;
    if (n_rot == 0 || n_rot > key_len || n_rot % 2 != 0) {
        ERR("bad rope.dimension_count %u for head size %u", n_rot, key_len);
        return false;
    }
    hp->n_embd = (int32_t)n_embd;
    hp->n_layer = (int32_t)n_layer;
    hp->n_head = (int32_t)n_head;
    hp->n_head_kv = (int32_t)n_head_kv;
    hp->n_ff = (int32_t)n_ff;
    hp->n_ctx_train = n_ctx > 0 && n_ctx < (1u << 24) ? (int32_t)n_ctx : 2048;
    hp->head_dim = (int32_t)key_len;
    hp->n_rot = (int32_t)n_rot;
    hp->norm_eps = 1e-5f;
    key_f32(g, arch, "attention.layer_norm_rms_epsilon", &hp->norm_eps);
    hp->rope_base = 10000.0f;
    key_f32(g, arch, "rope.freq_base", &hp->rope_base);
    hp->rope_freq_scale = 1.0f;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    struct ig_gguf_str st;
    float factor = 0;
    if (ig_gguf_get_str(g, key, &st) && ig_gguf_str_eq(st, "linear") &&
        key_f32(g, arch, "rope.scaling.factor", &factor) && factor > 0)
        hp->rope_freq_scale = 1.0f / factor;
    else if (!ig_gguf_get_str(g, key, &st) && key_f32(g, arch, "rope.scale_linear", &factor) && factor > 0)
        hp->rope_freq_scale = 1.0f / factor;
    if (!(hp->norm_eps > 0) || !(hp->rope_base > 0)) {
        ERR("bad hyper-parameters: rms epsilon %g, rope base %g", hp->norm_eps, hp->rope_base);
        return false;
    }
    return true;
}

/* Bind a tensor with an expected 1-D or 2-D shape; NULL ne1 means 1-D. */
static bool bind(struct ig_model *m, struct ig_weight *w, const char *name, int64_t ne0, int64_t ne1,
                 bool required, char *err, size_t err_len) {
    memset(w, 0, sizeof *w);
    const struct ig_gguf_tensor *t = ig_gguf_tensor_find(m->gguf, name);
    if (!t) {
        if (required) ERR("missing tensor %s", name);
        return !required;
    }
    const struct ig_dtype_traits *tr = ig_dtype_get(t->type);
    if (!tr->can_compute) {
        ERR("tensor %s has type %s, which ingot cannot run yet (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, MLX 4/8-bit)",
            name, tr->name);
        return false;
    }
    int want_dims = ne1 > 0 ? 2 : 1;
    bool shape_ok = t->ne[0] == ne0 && t->ne[1] == (ne1 > 0 ? ne1 : 1) && t->ne[2] == 1 && t->ne[3] == 1;
    if (!shape_ok) {
        if (want_dims == 2)
            ERR("tensor %s has shape [%lld, %lld, %lld], expected [%lld, %lld]", name, (long long)t->ne[0],
                (long long)t->ne[1], (long long)t->ne[2], (long long)ne0, (long long)ne1);
        else
            ERR("tensor %s has shape [%lld, %lld], expected [%lld]", name, (long long)t->ne[0],
                (long long)t->ne[1], (long long)ne0);
        return false;
    }
    w->data = t->data;
    w->type = (enum ig_dtype)t->type;
    w->n_in = t->ne[0];
    w->n_out = t->ne[1];
    ig_row_bytes(w->type, w->n_in, &w->row_bytes);
    if (ig_weight_is_mlx(w)) {
        if (want_dims != 2) {
            ERR("tensor %s: an MLX-quantized vector is not supported", name);
            return false;
        }
        w->scales = t->scales;
        w->biases = t->biases;
        w->group = t->group;
        w->stype = (enum ig_dtype)t->stype;
        w->scale_row_bytes = (size_t)(w->n_in / w->group) * (size_t)ig_dtype_get(t->stype)->size;
    }
    return true;
}

/* Rows [first, first + n) of a bound matrix, used in place (fused QKV). */
static struct ig_weight row_slice(struct ig_weight w, int64_t first, int64_t n) {
    w.data = (const uint8_t *)w.data + (size_t)first * w.row_bytes;
    if (ig_weight_is_mlx(&w)) {
        w.scales = (const uint8_t *)w.scales + (size_t)first * w.scale_row_bytes;
        w.biases = (const uint8_t *)w.biases + (size_t)first * w.scale_row_bytes;
    }
    w.n_out = n;
    return w;
}

/* Bind a small vector and convert it to F32 (norm weights, biases). */
static bool bind_vec(struct ig_model *m, const float **out, const char *name, int64_t n, bool required,
                     char *err, size_t err_len) {
    struct ig_weight w;
    *out = NULL;
    if (!bind(m, &w, name, n, 0, required, err, err_len)) return false;
    if (!w.data) return true;
    float *f = malloc((size_t)n * sizeof(float));
    float **owned = realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *owned);
    if (!f || !owned) {
        free(f);
        if (owned) m->owned = owned;
        ERR("out of memory");
        return false;
    }
    m->owned = owned;
    m->owned[m->n_owned++] = f;
    ig_dequantize_row(w.type, w.data, f, n);
    *out = f;
    return true;
}

static bool bind_weights(struct ig_model *m, char *err, size_t err_len) {
    const struct ig_hparams *hp = &m->hp;
    int64_t n_q = (int64_t)hp->n_head * hp->head_dim, n_kv = (int64_t)hp->n_head_kv * hp->head_dim;
    const struct ig_gguf_tensor *te = ig_gguf_tensor_find(m->gguf, "token_embd.weight");
    if (!te) {
        ERR("missing tensor token_embd.weight");
        return false;
    }
    m->hp.n_vocab = (int32_t)IG_MIN(te->ne[1], INT32_MAX);
    if (m->vocab.n != m->hp.n_vocab) {
        ERR("tokenizer has %d tokens but token_embd.weight has %lld rows", m->vocab.n, (long long)te->ne[1]);
        return false;
    }
    if (!bind(m, &m->tok_embd, "token_embd.weight", hp->n_embd, hp->n_vocab, true, err, err_len) ||
        !bind_vec(m, &m->output_norm, "output_norm.weight", hp->n_embd, true, err, err_len) ||
        !bind(m, &m->output, "output.weight", hp->n_embd, hp->n_vocab, false, err, err_len))
        return false;
    if (!m->output.data) {
        m->output = m->tok_embd;
        m->tied = true;
    }
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) {
        ERR("out of memory");
        return false;
    }
    char name[96];
#define T(field, suffix, ne0, ne1)                                                    \
    (snprintf(name, sizeof name, "blk.%d.%s", i, suffix),                           \
     bind(m, &L->field, name, ne0, ne1, true, err, err_len))
#define V(field, suffix, n, req)                                                      \
    (snprintf(name, sizeof name, "blk.%d.%s", i, suffix),                           \
     bind_vec(m, &L->field, name, n, req, err, err_len))
    for (int i = 0; i < hp->n_layer; i++) {
        struct ig_layer *L = &m->layers[i];
        bool bias = m->arch->qkv_bias;
        if (m->arch->fused) {
            struct ig_weight qkv, gu;
            if (!V(attn_norm, "attn_norm.weight", hp->n_embd, true) ||
                !T(wo, "attn_output.weight", n_q, hp->n_embd) || !V(ffn_norm, "ffn_norm.weight", hp->n_embd, true) ||
                !T(w_down, "ffn_down.weight", hp->n_ff, hp->n_embd))
                return false;
            snprintf(name, sizeof name, "blk.%d.attn_qkv.weight", i);
            if (!bind(m, &qkv, name, hp->n_embd, n_q + 2 * n_kv, true, err, err_len)) return false;
            snprintf(name, sizeof name, "blk.%d.ffn_up.weight", i);
            if (!bind(m, &gu, name, hp->n_embd, 2 * (int64_t)hp->n_ff, true, err, err_len)) return false;
            L->wq = row_slice(qkv, 0, n_q);
            L->wk = row_slice(qkv, n_q, n_kv);
            L->wv = row_slice(qkv, n_q + n_kv, n_kv);
            L->w_gate = row_slice(gu, 0, hp->n_ff);
            L->w_up = row_slice(gu, hp->n_ff, hp->n_ff);
            continue;
        }
        if (!V(attn_norm, "attn_norm.weight", hp->n_embd, true) ||
            !T(wq, "attn_q.weight", hp->n_embd, n_q) || !T(wk, "attn_k.weight", hp->n_embd, n_kv) ||
            !T(wv, "attn_v.weight", hp->n_embd, n_kv) || !T(wo, "attn_output.weight", n_q, hp->n_embd) ||
            !V(bq, "attn_q.bias", n_q, bias) || !V(bk, "attn_k.bias", n_kv, bias) ||
            !V(bv, "attn_v.bias", n_kv, bias) || !V(ffn_norm, "ffn_norm.weight", hp->n_embd, true) ||
            !T(w_gate, "ffn_gate.weight", hp->n_embd, hp->n_ff) || !T(w_up, "ffn_up.weight", hp->n_embd, hp->n_ff) ||
            !T(w_down, "ffn_down.weight", hp->n_ff, hp->n_embd))
            return false;
    }
#undef T
#undef V
    /* RoPE inverse frequencies; Llama 3 rope scaling ships as rope_freqs.weight */
    const float *freq_factors = NULL;
    if (!bind_vec(m, &freq_factors, "rope_freqs.weight", hp->n_rot / 2, false, err, err_len)) return false;
    m->rope_inv_freq = malloc((size_t)(hp->n_rot / 2) * sizeof(double));
    if (!m->rope_inv_freq) {
        ERR("out of memory");
        return false;
    }
    for (int i = 0; i < hp->n_rot / 2; i++) {
        double f = pow((double)hp->rope_base, -2.0 * i / hp->n_rot) * hp->rope_freq_scale;
        if (freq_factors) f /= freq_factors[i];
        m->rope_inv_freq[i] = f;
    }
    return true;
}

/* The most common type among 2-D weights, for `show`. */
static const char *dominant_type(const struct ig_gguf *g) {
    int64_t bytes[IG_DTYPE_COUNT] = {0};
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].ne[1] > 1) bytes[g->tensors[i].type] += (int64_t)g->tensors[i].n_bytes;
    int best = -1;
    for (int t = 0; t < IG_DTYPE_COUNT; t++)
        if (bytes[t] > 0 && (best < 0 || bytes[t] > bytes[best])) best = t;
    return best >= 0 ? ig_dtype_get((uint32_t)best)->name : "none";
}

static char *dup_str(struct ig_gguf_str s) {
    char *c = malloc((size_t)s.n + 1);
    if (c) {
        memcpy(c, s.p, (size_t)s.n);
        c[s.n] = 0;
    }
    return c;
}

enum ig_status ig_model_load(const char *path, const struct ig_model_params *p, struct ig_model **out,
                             char *err, size_t err_len) {
    *out = NULL;
    struct ig_model_params defaults = ig_model_default_params();
    if (!p) p = &defaults;
    if (!path) {
        ERR("no model path given");
        return IG_ERR_ARG;
    }
    char resolved[4096];
    struct stat sb;
    if (stat(path, &sb) != 0) { /* not a file: a model name? */
        enum ig_status rs = ig_store_resolve(path, resolved, sizeof resolved, err, err_len);
        if (rs != IG_OK) return rs;
        path = resolved;
    }
    struct ig_model *m = calloc(1, sizeof *m);
    if (!m) return IG_ERR_NOMEM;
    char e[512] = "";
    enum ig_status st = ig_hf_is_folder(path) ? ig_hf_open(path, &m->gguf, err, err_len)
                                              : ig_gguf_open(path, &m->gguf, err, err_len);
    if (st != IG_OK) {
        free(m);
        return st;
    }
    m->vocab_only = p->vocab_only;
    m->backend = p->backend;
    m->tensor_names = calloc((size_t)m->gguf->n_tensors + 1, sizeof *m->tensor_names);
    for (uint64_t i = 0; m->tensor_names && i < m->gguf->n_tensors; i++)
        if (!(m->tensor_names[i] = dup_str(m->gguf->tensors[i].name))) break;
    if (!m->tensor_names || (m->gguf->n_tensors && !m->tensor_names[m->gguf->n_tensors - 1])) {
        ig_err(err, err_len, "%s: out of memory", path);
        ig_model_free(m);
        return IG_ERR_NOMEM;
    }
    m->n_threads = p->n_threads > 0 ? p->n_threads : ig_n_cores();
    struct ig_gguf_str s;
    char arch[64] = "";
    if (ig_gguf_get_str(m->gguf, "general.architecture", &s)) {
        size_t n = IG_MIN((size_t)s.n, sizeof arch - 1);
        memcpy(arch, s.p, n);
        arch[n] = 0;
    }
    m->name = ig_gguf_get_str(m->gguf, "general.name", &s) ? dup_str(s) : calloc(1, 1);
    m->weight_type = NULL;
    st = ig_vocab_load(&m->vocab, m->gguf, e, sizeof e);
    if (st != IG_OK) goto fail;
    if (p->vocab_only) {
        m->hp.n_vocab = m->vocab.n;
        *out = m;
        return IG_OK;
    }
    st = IG_ERR_UNSUPPORTED;
    if (!arch[0]) {
        snprintf(e, sizeof e, "missing metadata general.architecture");
        st = IG_ERR_FORMAT;
        goto fail;
    }
    m->arch = ig_arch_find(arch);
    if (!m->arch) {
        snprintf(e, sizeof e, "unknown architecture '%s' (ingot runs: %s)", arch, ig_arch_list());
        goto fail;
    }
    m->rope_neox = m->arch->rope_neox || m->gguf->qk_rotate_half;
    st = IG_ERR_FORMAT;
    if (m->vocab.type == IG_VOCAB_NONE) {
        snprintf(e, sizeof e, "the file has no tokenizer (tokenizer.ggml.model)");
        goto fail;
    }
    if (!load_hparams(m, arch, e, sizeof e) || !bind_weights(m, e, sizeof e)) {
        if (strstr(e, "cannot run") || strstr(e, "unsupported")) st = IG_ERR_UNSUPPORTED;
        goto fail;
    }
    *out = m;
    return IG_OK;
fail:
    ig_err(err, err_len, "%s: %s", path, e);
    ig_model_free(m);
    return st;
}

void ig_model_free(struct ig_model *m) {
    if (!m) return;
    ig_vocab_free(&m->vocab);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    for (int i = 0; i < m->n_meta; i++) free(m->meta_keys[i]), free(m->meta_vals[i]);
    free(m->meta_keys);
    free(m->meta_vals);
    for (uint64_t i = 0; m->tensor_names && i < m->gguf->n_tensors; i++) free(m->tensor_names[i]);
    free(m->tensor_names);
    free(m->owned);
    free(m->layers);
    free(m->rope_inv_freq);
    free(m->name);
    ig_gguf_free(m->gguf);
    free(m);
}

void ig_model_get_info(const struct ig_model *m, struct ig_model_info *o) {
    memset(o, 0, sizeof *o);
    const struct ig_hparams *hp = &m->hp;
    o->arch = m->arch ? m->arch->name : "";
    o->name = m->name ? m->name : "";
    o->tokenizer = m->vocab.type == IG_VOCAB_SPM ? "llama" : m->vocab.type == IG_VOCAB_BPE ? "gpt2" : "none";
    o->tokenizer_pre = m->vocab.type == IG_VOCAB_BPE ? m->vocab.pre : "";
    o->weight_type = dominant_type(m->gguf);
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
        const struct ig_gguf_tensor *t = &m->gguf->tensors[i];
        o->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        o->n_bytes += (int64_t)t->n_bytes;
    }
    o->file_size = (int64_t)m->gguf->size;
    o->n_vocab = m->vocab.n;
    o->n_ctx_train = hp->n_ctx_train;
    o->n_embd = hp->n_embd;
    o->n_layer = hp->n_layer;
    o->n_head = hp->n_head;
    o->n_head_kv = hp->n_head_kv;
    o->head_dim = hp->head_dim;
    o->n_ff = hp->n_ff;
    o->rope_freq_base = hp->rope_base;
    o->norm_eps = hp->norm_eps;
    o->rope_neox = m->rope_neox;
    o->tied_embeddings = m->tied;
    o->has_chat_template = ig_gguf_kv_find(m->gguf, "tokenizer.chat_template") != NULL;
    o->bos = m->vocab.bos;
    o->eos = m->vocab.eos;
    o->add_bos = m->vocab.add_bos;
}

bool ig_model_meta_num(const struct ig_model *m, const char *key, double *out) {
    float f;
    if (!ig_gguf_get_f32(m->gguf, key, &f)) return false;
    *out = f;
    return true;
}

const char *ig_model_meta_str(const struct ig_model *m, const char *key) {
    struct ig_gguf_str s;
    if (!ig_gguf_get_str(m->gguf, key, &s)) return NULL;
    for (int32_t i = 0; i < m->n_meta; i++)
        if (!strcmp(m->meta_keys[i], key)) return m->meta_vals[i];
    /* first request for this key: keep a NUL-terminated copy (the cache is
     * logically part of the const model) */
    struct ig_model *mm = (struct ig_model *)m;
    char **keys = realloc(mm->meta_keys, (size_t)(mm->n_meta + 1) * sizeof *keys);
    if (keys) mm->meta_keys = keys;
    char **vals = keys ? realloc(mm->meta_vals, (size_t)(mm->n_meta + 1) * sizeof *vals) : NULL;
    if (vals) mm->meta_vals = vals;
    char *k = strdup(key), *v = dup_str(s);
    if (!keys || !vals || !k || !v) {
        free(k);
        free(v);
        return NULL;
    }
    mm->meta_keys[mm->n_meta] = k;
    mm->meta_vals[mm->n_meta++] = v;
    return v;
}

int32_t ig_model_n_tensors(const struct ig_model *m) { return (int32_t)m->gguf->n_tensors; }

bool ig_model_tensor(const struct ig_model *m, int32_t i, struct ig_tensor_info *o) {
    if (i < 0 || (uint64_t)i >= m->gguf->n_tensors) return false;
    const struct ig_gguf_tensor *t = &m->gguf->tensors[i];
    o->name = m->tensor_names[i];
    o->type = ig_dtype_get(t->type)->name;
    o->n_dims = (int32_t)t->n_dims;
    for (int d = 0; d < 4; d++) o->ne[d] = t->ne[d];
    o->n_bytes = (int64_t)t->n_bytes;
    return true;
}
