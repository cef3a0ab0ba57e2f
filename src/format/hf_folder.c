/* hf_folder.c - Hugging Face folder -> GGUF view. */
#define _POSIX_C_SOURCE 200809L
#include "format/hf_folder.h"

#include "format/json_file.h"
#include "format/safetensors.h"
#include "tokenizer/tokenizer_json.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>

#define ERR(...) (ig_err(err, err_len, __VA_ARGS__))

/* model_type -> GGUF architecture */
static const struct {
    const char *model_type, *arch;
} k_types[] = {{"llama", "llama"}, {"mistral", "llama"}, {"qwen2", "qwen2"}, {"phi3", "phi3"}};

/* Everything the view owns besides its kv/tensor arrays. */
struct hf_owner {
    struct ig_st_file *files;
    int32_t n_files;
    uint8_t *meta;     /* GGUF metadata blob the kv entries point into */
    char **names;      /* GGUF tensor names */
    int32_t n_names;
    void **bufs;       /* tensors made or copied here (rope factors, unaligned data) */
    int32_t n_bufs;
};

static void owner_free(void *p) {
    struct hf_owner *o = p;
    if (!o) return;
    for (int32_t i = 0; i < o->n_files; i++) ig_st_close(&o->files[i]);
    free(o->files);
    free(o->meta);
    for (int32_t i = 0; i < o->n_names; i++) free(o->names[i]);
    free(o->names);
    for (int32_t i = 0; i < o->n_bufs; i++) free(o->bufs[i]);
    free(o->bufs);
    free(o);
}

static void *owner_buf(struct hf_owner *o, size_t n) {
    void **b = realloc(o->bufs, (size_t)(o->n_bufs + 1) * sizeof *b);
    if (!b) return NULL;
    o->bufs = b;
    void *p = malloc(n ? n : 1);
    if (p) o->bufs[o->n_bufs++] = p;
    return p;
}

static bool has_file(const char *dir, const char *name) {
    struct stat st;
    char p[4096];
    return ig_path_join(p, sizeof p, dir, name) && stat(p, &st) == 0;
}

bool ig_hf_is_folder(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
           (has_file(path, "config.json") || has_file(path, "tokenizer.json"));
}

/* HF tensor name -> GGUF name; false for tensors ingot does not use. */
static bool map_name(const char *hf, char *out, size_t len) {
    static const struct {
        const char *hf, *gguf;
    } k_global[] = {
        {"model.embed_tokens.weight", "token_embd.weight"},
        {"model.norm.weight", "output_norm.weight"},
        {"lm_head.weight", "output.weight"},
    };
    static const struct {
        const char *hf, *gguf;
    } k_layer[] = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.q_proj.bias", "attn_q.bias"},
        {"self_attn.k_proj.bias", "attn_k.bias"},
        {"self_attn.v_proj.bias", "attn_v.bias"},
        {"self_attn.qkv_proj.weight", "attn_qkv.weight"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.gate_up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
    };
    for (size_t i = 0; i < sizeof k_global / sizeof k_global[0]; i++)
        if (!strcmp(hf, k_global[i].hf)) return snprintf(out, len, "%s", k_global[i].gguf) < (int)len;
    int layer, n = 0;
    if (sscanf(hf, "model.layers.%d.%n", &layer, &n) != 1 || n == 0 || layer < 0) return false;
    for (size_t i = 0; i < sizeof k_layer / sizeof k_layer[0]; i++)
        if (!strcmp(hf + n, k_layer[i].hf)) return snprintf(out, len, "blk.%d.%s", layer, k_layer[i].gguf) < (int)len;
    return false;
}

/* Open model.safetensors, or every shard named by model.safetensors.index.json. */
static enum ig_status open_weights(const char *dir, struct hf_owner *o, char *err, size_t err_len) {
    char path[4096];
    bool missing = false;
    ig_path_join(path, sizeof path, dir, "model.safetensors.index.json");
    cJSON *idx = ig_json_read(path, &missing, err, err_len);
    if (!idx && !missing) return IG_ERR_FORMAT;
    const char *single[] = {"model.safetensors"};
    const char **names = single;
    int32_t n = 1;
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
    if (idx) {
        if (!cJSON_IsObject(map)) {
            ERR("%s: no weight_map object", path);
            cJSON_Delete(idx);
            return IG_ERR_FORMAT;
        }
        names = calloc((size_t)cJSON_GetArraySize(map) + 1, sizeof *names);
        if (!names) {
            cJSON_Delete(idx);
            return IG_ERR_NOMEM;
        }
        n = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, map) {
            if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
                ERR("%s: weight_map entry '%.64s' is not a file name in the folder", path, e->string);
                free(names);
                cJSON_Delete(idx);
                return IG_ERR_FORMAT;
            }
            bool seen = false;
            for (int32_t i = 0; i < n && !seen; i++) seen = !strcmp(names[i], e->valuestring);
            if (!seen) names[n++] = e->valuestring;
        }
    }
    enum ig_status st = IG_OK;
    o->files = calloc((size_t)n + 1, sizeof *o->files);
    if (!o->files) st = IG_ERR_NOMEM;
    for (int32_t i = 0; st == IG_OK && i < n; i++) {
        ig_path_join(path, sizeof path, dir, names[i]);
        st = ig_st_open(path, &o->files[i], err, err_len);
        if (st == IG_OK) o->n_files++;
        else if (st == IG_ERR_IO && !idx)
            ERR("%s: no model.safetensors (or model.safetensors.index.json with shards) in the folder", dir);
    }
    if (names != single) free(names);
    cJSON_Delete(idx);
    return st;
}

static enum ig_dtype st_to_dtype(enum ig_st_dtype t, bool *ok) {
    *ok = true;
    switch (t) {
    case IG_ST_F32: return IG_DTYPE_F32;
    case IG_ST_F16: return IG_DTYPE_F16;
    case IG_ST_BF16: return IG_DTYPE_BF16;
    default: *ok = false; return IG_DTYPE_F32;
    }
}

/* Llama 3 rope scaling: per-frequency divisors, stored like GGUF's rope_freqs. */
static float *llama3_rope_factors(struct hf_owner *o, const cJSON *rs, double base, int n_rot) {
    double factor = ig_json_num(rs, "factor", 8), lo = ig_json_num(rs, "low_freq_factor", 1),
           hi = ig_json_num(rs, "high_freq_factor", 4),
           old_ctx = ig_json_num(rs, "original_max_position_embeddings", 8192);
    float *f = owner_buf(o, (size_t)(n_rot / 2) * sizeof(float));
    if (!f) return NULL;
    double lo_wav = old_ctx / lo, hi_wav = old_ctx / hi;
    for (int i = 0; i < n_rot / 2; i++) {
        double freq = pow(base, -2.0 * i / n_rot), wav = 2 * 3.14159265358979323846 / freq;
        if (wav < hi_wav) f[i] = 1.0f;
        else if (wav > lo_wav) f[i] = (float)factor;
        else {
            double smooth = (old_ctx / wav - lo) / (hi - lo);
            f[i] = (float)(1.0 / ((1 - smooth) / factor + smooth));
        }
    }
    return f;
}

static const struct ig_st_tensor *find_any(const struct hf_owner *o, const char *name) {
    for (int32_t f = 0; f < o->n_files; f++) {
        const struct ig_st_tensor *t = ig_st_find(&o->files[f], name);
        if (t) return t;
    }
    return NULL;
}

/* An MLX-quantized weight (uint32 codes + .scales + .biases) as an MLX4/MLX8
 * tensor; group size from config.json's "quantization" (per-module entries
 * override it), bits from the shapes. */
static bool mlx_tensor(struct hf_owner *o, const cJSON *quant, const struct ig_st_tensor *s, struct ig_gguf_tensor *t,
                       char *err, size_t err_len) {
    char base[256], nm[300];
    size_t l = strlen(s->name);
    if (!quant || l < 8 || strcmp(s->name + l - 7, ".weight") || l - 7 >= sizeof base) {
        ERR("tensor %.80s is uint32 but config.json has no MLX \"quantization\" entry", s->name);
        return false;
    }
    memcpy(base, s->name, l - 7);
    base[l - 7] = 0;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(quant, base);
    if (!cJSON_IsObject(q)) q = quant;
    int group = (int)ig_json_num(q, "group_size", 64);
    snprintf(nm, sizeof nm, "%s.scales", base);
    const struct ig_st_tensor *sc = find_any(o, nm);
    snprintf(nm, sizeof nm, "%s.biases", base);
    const struct ig_st_tensor *bi = find_any(o, nm);
    if (!sc || !bi) {
        ERR("MLX tensor %.80s: missing %s.scales or .biases", s->name, base);
        return false;
    }
    bool ok;
    enum ig_dtype stype = st_to_dtype(sc->dtype, &ok);
    int64_t rows = s->shape[0], in = sc->n_dims == 2 ? sc->shape[1] * group : 0;
    if (!ok || sc->dtype != bi->dtype || sc->n_dims != 2 || bi->n_dims != 2 || sc->shape[0] != rows ||
        bi->shape[0] != rows || bi->shape[1] != sc->shape[1] || (group != 32 && group != 64 && group != 128) || in <= 0) {
        ERR("MLX tensor %.80s: scales/biases of shape or type that do not match (group size %d)", s->name, group);
        return false;
    }
    int64_t bits = s->shape[1] * 32 / in;
    if (s->shape[1] * 32 != in * bits || (bits != 4 && bits != 8)) {
        ERR("MLX tensor %.80s: %lld-bit codes are not supported (4 and 8 are)", s->name,
            (long long)(s->shape[1] * 32.0 / (double)in));
        return false;
    }
    t->type = bits == 4 ? IG_DTYPE_MLX4 : IG_DTYPE_MLX8;
    t->ne[0] = in;
    t->ne[1] = rows;
    t->ne[2] = t->ne[3] = 1;
    t->n_bytes = s->n_bytes + sc->n_bytes + bi->n_bytes;
    t->scales = sc->data;
    t->biases = bi->data;
    if ((uintptr_t)sc->data % 4 || (uintptr_t)bi->data % 4) { /* unaligned in the file: aligned copies */
        void *cs = owner_buf(o, sc->n_bytes), *cb = owner_buf(o, bi->n_bytes);
        if (!cs || !cb) {
            ERR("out of memory");
            return false;
        }
        memcpy(cs, sc->data, sc->n_bytes);
        memcpy(cb, bi->data, bi->n_bytes);
        t->scales = cs;
        t->biases = cb;
    }
    t->group = group;
    t->stype = stype;
    return true;
}

static bool cfg_int(const cJSON *c, const char *key, int64_t *out, bool required, char *err, size_t err_len) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(c, key);
    if (cJSON_IsNumber(j) && j->valuedouble >= 0 && j->valuedouble < 1e12 && j->valuedouble == floor(j->valuedouble)) {
        *out = (int64_t)j->valuedouble;
        return true;
    }
    if (required || (j && !cJSON_IsNull(j))) ERR("config.json: %s %s", key, j ? "is not a non-negative integer" : "is missing");
    return !required && (!j || cJSON_IsNull(j));
}

enum ig_status ig_hf_open(const char *dir, struct ig_gguf **out, char *err, size_t err_len) {
    *out = NULL;
    char path[4096], e[512] = "";
    enum ig_status st = IG_ERR_FORMAT;
    struct hf_owner *o = calloc(1, sizeof *o);
    struct ig_gguf_writer *w = ig_gguf_writer_create();
    cJSON *cfg = NULL, *gen = NULL;
    struct ig_gguf *g = NULL;
    if (!o || !w) {
        st = IG_ERR_NOMEM;
        goto fail;
    }
    if (!ig_path_join(path, sizeof path, dir, "config.json")) {
        snprintf(e, sizeof e, "path too long");
        goto fail;
    }
    bool missing;
    if (!has_file(dir, "config.json") && has_file(dir, "tokenizer.json")) { /* a tokenizer alone */
        st = ig_tokjson_add(w, dir, 0, NULL, e, sizeof e);
        if (st != IG_OK) goto fail;
        size_t meta_len;
        if ((st = ig_gguf_w_meta_to_memory(w, &o->meta, &meta_len)) != IG_OK ||
            (st = ig_gguf_parse(o->meta, meta_len, &g, e, sizeof e)) != IG_OK)
            goto fail;
        g->owner = o;
        g->free_owner = owner_free;
        ig_gguf_writer_free(w);
        *out = g;
        return IG_OK;
    }
    if (!(cfg = ig_json_read(path, NULL, e, sizeof e))) goto fail;
    ig_path_join(path, sizeof path, dir, "generation_config.json");
    gen = ig_json_read(path, &missing, e, sizeof e);
    if (!gen && !missing) goto fail;

    const char *mt = ig_json_str(cfg, "model_type"), *arch = NULL;
    for (size_t i = 0; mt && i < sizeof k_types / sizeof k_types[0]; i++)
        if (!strcmp(mt, k_types[i].model_type)) arch = k_types[i].arch;
    if (!arch) {
        snprintf(e, sizeof e, "config.json: unknown model_type '%.64s' (ingot runs: llama, mistral, qwen2, phi3)",
                 mt ? mt : "(none)");
        st = IG_ERR_UNSUPPORTED;
        goto fail;
    }
    const cJSON *quant = cJSON_GetObjectItemCaseSensitive(cfg, "quantization");
    if (!quant) quant = cJSON_GetObjectItemCaseSensitive(cfg, "quantization_config");
    if (quant && !cJSON_IsObject(quant)) quant = NULL;
    if (quant && ig_json_str(quant, "quant_method")) { /* GPTQ / AWQ / bitsandbytes ... */
        snprintf(e, sizeof e, "config.json: quantization method '%.32s' is not supported (MLX affine is)",
                 ig_json_str(quant, "quant_method"));
        st = IG_ERR_UNSUPPORTED;
        goto fail;
    }
    int64_t n_embd, n_layer, n_head, n_head_kv = -1, n_ff, n_ctx = 4096, head_dim = -1, n_vocab = 0;
    if (!cfg_int(cfg, "hidden_size", &n_embd, true, e, sizeof e) ||
        !cfg_int(cfg, "num_hidden_layers", &n_layer, true, e, sizeof e) ||
        !cfg_int(cfg, "num_attention_heads", &n_head, true, e, sizeof e) ||
        !cfg_int(cfg, "intermediate_size", &n_ff, true, e, sizeof e) ||
        !cfg_int(cfg, "num_key_value_heads", &n_head_kv, false, e, sizeof e) ||
        !cfg_int(cfg, "max_position_embeddings", &n_ctx, false, e, sizeof e) ||
        !cfg_int(cfg, "head_dim", &head_dim, false, e, sizeof e) ||
        !cfg_int(cfg, "vocab_size", &n_vocab, false, e, sizeof e))
        goto fail;
    if (n_head_kv < 0) n_head_kv = n_head;
    if (n_embd <= 0 || n_embd > 65536 || n_layer <= 0 || n_layer > 1024 || n_head <= 0 || n_head > 1024 ||
        n_head_kv <= 0 || n_ff <= 0 || n_ff > (1 << 20) || n_vocab > (1 << 24) || n_ctx > (1 << 24)) {
        snprintf(e, sizeof e, "config.json: bad sizes (hidden %lld, layers %lld, heads %lld/%lld, ffn %lld)",
                 (long long)n_embd, (long long)n_layer, (long long)n_head, (long long)n_head_kv, (long long)n_ff);
        goto fail;
    }
    if (head_dim <= 0) head_dim = n_embd / n_head;
    double rope_base = ig_json_num(cfg, "rope_theta", 10000), eps = ig_json_num(cfg, "rms_norm_eps", 1e-6);
    double partial = ig_json_num(cfg, "partial_rotary_factor", 1.0);
    int64_t n_rot = (int64_t)(head_dim * partial);
    char key[128];
#define K(suffix) (snprintf(key, sizeof key, "%s.%s", arch, suffix), key)
    bool ok = ig_gguf_w_str(w, "general.architecture", arch);
    const char *slash = strrchr(dir, '/');
    char base_name[256];
    snprintf(base_name, sizeof base_name, "%s", slash && slash[1] ? slash + 1 : dir);
    const char *snap = strstr(dir, "/snapshots/"), *mdir = NULL; /* HF cache: models--ORG--NAME/snapshots/SHA */
    for (const char *q = dir; snap && (q = strstr(q, "models--")) && q < snap; q++) mdir = q;
    if (mdir) {
        const char *sep = strstr(mdir + 8, "--");
        if (sep && sep < snap)
            snprintf(base_name, sizeof base_name, "%.*s/%.*s", (int)(sep - mdir - 8), mdir + 8, (int)(snap - sep - 2),
                     sep + 2);
    }
    const char *name = ig_json_str(cfg, "_name_or_path");
    ok = ok && ig_gguf_w_str(w, "general.name", name && *name ? name : base_name) &&
         ig_gguf_w_u32(w, K("context_length"), (uint32_t)n_ctx) &&
         ig_gguf_w_u32(w, K("embedding_length"), (uint32_t)n_embd) &&
         ig_gguf_w_u32(w, K("block_count"), (uint32_t)n_layer) &&
         ig_gguf_w_u32(w, K("feed_forward_length"), (uint32_t)n_ff) &&
         ig_gguf_w_u32(w, K("attention.head_count"), (uint32_t)n_head) &&
         ig_gguf_w_u32(w, K("attention.head_count_kv"), (uint32_t)n_head_kv) &&
         ig_gguf_w_u32(w, K("attention.key_length"), (uint32_t)head_dim) &&
         ig_gguf_w_u32(w, K("attention.value_length"), (uint32_t)head_dim) &&
         ig_gguf_w_u32(w, K("rope.dimension_count"), (uint32_t)n_rot) &&
         ig_gguf_w_f32(w, K("rope.freq_base"), (float)rope_base) &&
         ig_gguf_w_f32(w, K("attention.layer_norm_rms_epsilon"), (float)eps);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(cfg, "rope_scaling");
    float *rope_factors = NULL;
    if (cJSON_IsObject(rs)) {
        const char *rt = ig_json_str(rs, "rope_type");
        if (!rt) rt = ig_json_str(rs, "type");
        if (rt && !strcmp(rt, "linear")) {
            ok = ok && ig_gguf_w_str(w, K("rope.scaling.type"), "linear") &&
                 ig_gguf_w_f32(w, K("rope.scaling.factor"), (float)ig_json_num(rs, "factor", 1));
        } else if (rt && !strcmp(rt, "llama3")) {
            if (!(rope_factors = llama3_rope_factors(o, rs, rope_base, (int)n_rot))) ok = false;
        } else if (!rt || strcmp(rt, "default") != 0) {
            snprintf(e, sizeof e, "config.json: rope_scaling type '%.32s' is not supported (linear, llama3 are)",
                     rt ? rt : "?");
            st = IG_ERR_UNSUPPORTED;
            goto fail;
        }
    }
    /* sampling defaults from generation_config.json */
    if (gen) {
        if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(gen, "temperature")))
            ok = ok && ig_gguf_w_f32(w, "general.sampling.temp", (float)ig_json_num(gen, "temperature", 0));
        if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(gen, "top_p")))
            ok = ok && ig_gguf_w_f32(w, "general.sampling.top_p", (float)ig_json_num(gen, "top_p", 0));
        if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(gen, "top_k")))
            ok = ok && ig_gguf_w_i32(w, "general.sampling.top_k", (int32_t)ig_json_num(gen, "top_k", 0));
        if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(gen, "repetition_penalty")))
            ok = ok && ig_gguf_w_f32(w, "general.sampling.penalty_repeat",
                                     (float)ig_json_num(gen, "repetition_penalty", 1));
    }
    if (!ok) {
        st = IG_ERR_NOMEM;
        goto fail;
    }

    if ((st = open_weights(dir, o, e, sizeof e)) != IG_OK) goto fail;
    /* tensors: count the mapped ones, then fill */
    int32_t n_t = rope_factors ? 1 : 0;
    char gname[128];
    for (int32_t f = 0; f < o->n_files; f++)
        for (int32_t i = 0; i < o->files[f].n; i++) n_t += map_name(o->files[f].t[i].name, gname, sizeof gname);
    struct ig_gguf_tensor *ts = calloc((size_t)n_t + 1, sizeof *ts);
    o->names = calloc((size_t)n_t + 1, sizeof *o->names);
    if (!ts || !o->names) {
        free(ts);
        st = IG_ERR_NOMEM;
        goto fail;
    }
    int32_t k = 0;
    int64_t embd_rows = -1;
    for (int32_t f = 0; f < o->n_files; f++)
        for (int32_t i = 0; i < o->files[f].n; i++) {
            const struct ig_st_tensor *s = &o->files[f].t[i];
            if (!map_name(s->name, gname, sizeof gname)) continue;
            bool tok;
            struct ig_gguf_tensor *t = &ts[k];
            t->type = st_to_dtype(s->dtype, &tok);
            if (s->dtype == IG_ST_U32 && s->n_dims == 2) { /* MLX-packed: find .scales and .biases */
                if (!mlx_tensor(o, quant, s, t, e, sizeof e)) {
                    free(ts);
                    st = IG_ERR_UNSUPPORTED;
                    goto fail;
                }
                tok = true;
            } else if (!tok || s->n_dims < 1 || s->n_dims > 2) {
                snprintf(e, sizeof e, "tensor %.80s: %s with %d dimensions is not supported (F32/F16/BF16, 1-D or 2-D)",
                         s->name, ig_st_dtype_name(s->dtype), s->n_dims);
                free(ts);
                st = IG_ERR_UNSUPPORTED;
                goto fail;
            }
            for (uint64_t j = 0; j < (uint64_t)k; j++)
                if (ig_gguf_str_eq(ts[j].name, gname)) {
                    snprintf(e, sizeof e, "tensor %.80s appears twice in the folder", s->name);
                    free(ts);
                    goto fail;
                }
            if (!(o->names[o->n_names] = strdup(gname))) {
                free(ts);
                st = IG_ERR_NOMEM;
                goto fail;
            }
            t->name = (struct ig_gguf_str){o->names[o->n_names], strlen(gname)};
            o->n_names++;
            t->n_dims = (uint32_t)s->n_dims;
            if (t->type != IG_DTYPE_MLX4 && t->type != IG_DTYPE_MLX8) {
                for (int d = 0; d < IG_GGUF_MAX_DIMS; d++) t->ne[d] = d < s->n_dims ? s->shape[s->n_dims - 1 - d] : 1;
                t->n_bytes = s->n_bytes;
            }
            t->data = s->data;
            size_t esz = (size_t)ig_dtype_get(t->type)->size;
            if ((uintptr_t)t->data % esz != 0) { /* unaligned in the file: keep an aligned copy */
                void *c = owner_buf(o, s->n_bytes);
                if (!c) {
                    free(ts);
                    st = IG_ERR_NOMEM;
                    goto fail;
                }
                memcpy(c, s->data, s->n_bytes);
                t->data = c;
            }
            if (!strcmp(gname, "token_embd.weight")) embd_rows = t->ne[1];
            k++;
        }
    if (rope_factors) {
        struct ig_gguf_tensor *t = &ts[k++];
        t->name = (struct ig_gguf_str){"rope_freqs.weight", strlen("rope_freqs.weight")};
        t->n_dims = 1;
        t->ne[0] = n_rot / 2;
        t->ne[1] = t->ne[2] = t->ne[3] = 1;
        t->type = IG_DTYPE_F32;
        t->n_bytes = (size_t)(n_rot / 2) * sizeof(float);
        t->data = (const uint8_t *)rope_factors;
    }
    /* tokenizer: sized by the embedding (padding tokens fill any gap) */
    st = ig_tokjson_add(w, dir, embd_rows > 0 ? (int32_t)embd_rows : (int32_t)n_vocab, gen, e, sizeof e);
    if (st != IG_OK) {
        free(ts);
        goto fail;
    }
    size_t meta_len;
    if ((st = ig_gguf_w_meta_to_memory(w, &o->meta, &meta_len)) != IG_OK ||
        (st = ig_gguf_parse(o->meta, meta_len, &g, e, sizeof e)) != IG_OK) {
        free(ts);
        goto fail;
    }
    free(g->tensors);
    g->tensors = ts;
    g->n_tensors = (uint64_t)k;
    g->qk_rotate_half = true;
    g->owner = o;
    g->free_owner = owner_free;
    g->size = 0;
    for (int32_t f = 0; f < o->n_files; f++) g->size += o->files[f].map.size;
    ig_gguf_writer_free(w);
    cJSON_Delete(cfg);
    cJSON_Delete(gen);
    *out = g;
    return IG_OK;
#undef K
fail:
    ig_err(err, err_len, "%s: %s", dir, e[0] ? e : "out of memory");
    owner_free(o);
    ig_gguf_writer_free(w);
    cJSON_Delete(cfg);
    cJSON_Delete(gen);
    return st;
}
