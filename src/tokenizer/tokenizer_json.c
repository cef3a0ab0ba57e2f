/* tokenizer_json.c - tokenizer.json -> GGUF tokenizer metadata.
 * Byte-level BPE (GPT-2 style: Llama 3, Qwen2/3) becomes "gpt2" with the
 * pre-tokenizer named by its split regex; Metaspace BPE with byte fallback
 * (Llama 2, Mistral, Phi-3) becomes "llama" (SentencePiece), each token
 * scored by minus the rank of the merge that makes it, which reproduces BPE
 * merge order in the SentencePiece merger. */
#define _POSIX_C_SOURCE 200809L
#include "tokenizer/tokenizer_json.h"

#include "tokenizer/vocab.h"

#include <string.h>

#define ERR(...) (ig_err(err, err_len, __VA_ARGS__))

/* Known split regexes of byte-level pre-tokenizers -> tokenizer.ggml.pre */
static const struct {
    const char *regex, *pre;
} k_regex_pre[] = {
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
     "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     "llama-bpe"},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
     "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     "qwen2"},
    {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", "gpt-2"},
};

/* Walk a pre_tokenizer / normalizer / decoder tree: true when a node of
 * `type` exists; *node gets the first one. */
static bool find_type(const cJSON *j, const char *type, const cJSON **node) {
    if (!j) return false;
    const char *t = ig_json_str(j, "type");
    if (t && !strcmp(t, type)) {
        if (node) *node = j;
        return true;
    }
    const cJSON *e;
    if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
        cJSON_ArrayForEach(e, j) if ((cJSON_IsArray(e) || cJSON_IsObject(e)) && find_type(e, type, node)) return true;
    }
    return false;
}

struct toks {
    char **text;
    int32_t *type;
    float *score;
    int32_t n;
};

static void toks_free(struct toks *t) {
    for (int32_t i = 0; t->text && i < t->n; i++) free(t->text[i]);
    free(t->text);
    free(t->type);
    free(t->score);
}

static int32_t find_tok(const struct toks *t, const char *s) {
    if (!s) return -1;
    for (int32_t i = t->n - 1; i >= 0; i--) /* special tokens sit at the end */
        if (t->text[i] && !strcmp(t->text[i], s)) return i;
    return -1;
}

static bool is_byte_token(const char *s) {
    return strlen(s) == 6 && !strncmp(s, "<0x", 3) && s[5] == '>';
}

/* "a b" from a merge given as a string or as a pair. */
static char *merge_text(const cJSON *m) {
    if (cJSON_IsString(m)) return strdup(m->valuestring);
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2) {
        const cJSON *a = cJSON_GetArrayItem(m, 0), *b = cJSON_GetArrayItem(m, 1);
        if (!cJSON_IsString(a) || !cJSON_IsString(b)) return NULL;
        size_t la = strlen(a->valuestring), lb = strlen(b->valuestring);
        char *s = malloc(la + lb + 2);
        if (!s) return NULL;
        memcpy(s, a->valuestring, la);
        s[la] = ' ';
        memcpy(s + la + 1, b->valuestring, lb + 1);
        return s;
    }
    return NULL;
}

/* Whether the post-processor puts a special token first (add_bos) or last. */
static bool template_adds(const cJSON *tok, bool first) {
    const cJSON *tp = NULL;
    if (!find_type(cJSON_GetObjectItemCaseSensitive(tok, "post_processor"), "TemplateProcessing", &tp)) return false;
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(tp, "single");
    int n = cJSON_GetArraySize(single);
    if (n < 2) return false;
    const cJSON *e = cJSON_GetArrayItem(single, first ? 0 : n - 1);
    return cJSON_GetObjectItemCaseSensitive(e, "SpecialToken") != NULL;
}

static int32_t gen_eos(const cJSON *gen, int i) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(gen, "eos_token_id");
    if (cJSON_IsNumber(e)) return i == 0 ? (int32_t)e->valuedouble : -1;
    if (cJSON_IsArray(e) && i < cJSON_GetArraySize(e) && cJSON_IsNumber(cJSON_GetArrayItem(e, i)))
        return (int32_t)cJSON_GetArrayItem(e, i)->valuedouble;
    return -1;
}

enum ig_status ig_tokjson_add(struct ig_gguf_writer *w, const char *dir, int32_t n_vocab,
                              const cJSON *gen, char *err, size_t err_len) {
    char path[4096];
    bool missing = false;
    if (!ig_path_join(path, sizeof path, dir, "tokenizer.json")) return IG_ERR_ARG;
    cJSON *tok = ig_json_read(path, &missing, err, err_len);
    if (!tok) {
        if (missing) ERR("%s: missing (the folder needs a Hugging Face tokenizer.json)", path);
        return missing ? IG_ERR_IO : IG_ERR_FORMAT;
    }
    ig_path_join(path, sizeof path, dir, "tokenizer_config.json");
    cJSON *cfg = ig_json_read(path, &missing, err, err_len);
    enum ig_status st = IG_ERR_FORMAT;
    if (cfg || missing) st = ig_tokjson_add_json(w, tok, cfg, dir, n_vocab, gen, err, err_len);
    cJSON_Delete(tok);
    cJSON_Delete(cfg);
    return st;
}

enum ig_status ig_tokjson_add_json(struct ig_gguf_writer *w, const cJSON *tok, const cJSON *cfg, const char *dir,
                                   int32_t n_vocab, const cJSON *gen, char *err, size_t err_len) {
    char path[4096];
    enum ig_status st = IG_ERR_FORMAT;
    struct toks t = {0};
    char **merges = NULL, *jinja = NULL;
    int32_t n_merges = 0;

    const cJSON *model = cJSON_GetObjectItemCaseSensitive(tok, "model");
    const char *mtype = ig_json_str(model, "type");
    if (!mtype || strcmp(mtype, "BPE") != 0) {
        ERR("tokenizer.json: model type '%s' is not supported (ingot reads BPE tokenizers)", mtype ? mtype : "?");
        st = IG_ERR_UNSUPPORTED;
        goto done;
    }
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(model, "merges");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(tok, "added_tokens");
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(jm)) {
        ERR("tokenizer.json: model.vocab (object) and model.merges (array) are required");
        goto done;
    }
    /* size: the largest id + 1, at least the model's embedding rows */
    int64_t max_id = -1, n_entries = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        n_entries++;
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= (1 << 24)) {
            ERR("tokenizer.json: token '%.40s' has a bad id", e->string);
            goto done;
        }
        max_id = IG_MAX(max_id, (int64_t)e->valuedouble);
    }
    cJSON_ArrayForEach(e, added) {
        double id = ig_json_num(e, "id", -1);
        if (id < 0 || id >= (1 << 24) || !ig_json_str(e, "content")) {
            ERR("tokenizer.json: an added token has a bad id or no content");
            goto done;
        }
        max_id = IG_MAX(max_id, (int64_t)id);
        n_entries++;
    }
    /* ids are dense in real files: a far larger one would only cost memory */
    if (max_id >= 2 * n_entries + 1024 && max_id >= n_vocab) {
        ERR("tokenizer.json: token id %lld with only %lld tokens listed", (long long)max_id, (long long)n_entries);
        goto done;
    }
    if (n_vocab > 0 && max_id >= n_vocab) {
        ERR("tokenizer.json has token id %lld but the model has %d embedding rows", (long long)max_id, n_vocab);
        goto done;
    }
    t.n = (int32_t)IG_MAX(max_id + 1, (int64_t)n_vocab);
    if (t.n <= 0) {
        ERR("tokenizer.json: empty vocabulary");
        goto done;
    }
    t.text = calloc((size_t)t.n, sizeof *t.text);
    t.type = calloc((size_t)t.n, sizeof *t.type);
    t.score = calloc((size_t)t.n, sizeof *t.score);
    if (!t.text || !t.type || !t.score) goto nomem;

    bool bytelevel = find_type(cJSON_GetObjectItemCaseSensitive(tok, "pre_tokenizer"), "ByteLevel", NULL) ||
                     find_type(cJSON_GetObjectItemCaseSensitive(tok, "decoder"), "ByteLevel", NULL);
    bool byte_fallback = ig_json_bool(model, "byte_fallback", false);
    cJSON_ArrayForEach(e, vocab) {
        int32_t id = (int32_t)e->valuedouble;
        free(t.text[id]);
        if (!(t.text[id] = strdup(e->string))) goto nomem;
        t.type[id] = byte_fallback && is_byte_token(e->string) ? IG_TOKEN_TYPE_BYTE : IG_TOKEN_TYPE_NORMAL;
    }
    cJSON_ArrayForEach(e, added) {
        int32_t id = (int32_t)ig_json_num(e, "id", 0);
        free(t.text[id]);
        if (!(t.text[id] = strdup(ig_json_str(e, "content")))) goto nomem;
        t.type[id] = ig_json_bool(e, "special", false) ? IG_TOKEN_TYPE_CONTROL : IG_TOKEN_TYPE_USER_DEFINED;
        if (byte_fallback && is_byte_token(t.text[id]) && !ig_json_bool(e, "special", false))
            t.type[id] = IG_TOKEN_TYPE_BYTE;
    }
    for (int32_t i = 0; i < t.n; i++)
        if (!t.text[i]) {
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%d]", i);
            if (!(t.text[i] = strdup(pad))) goto nomem;
            t.type[i] = IG_TOKEN_TYPE_UNUSED;
        }
    const char *unk = ig_json_str(model, "unk_token");
    int32_t unk_id = find_tok(&t, unk);
    if (unk_id >= 0 && t.type[unk_id] != IG_TOKEN_TYPE_CONTROL) t.type[unk_id] = IG_TOKEN_TYPE_UNKNOWN;

    n_merges = cJSON_GetArraySize(jm);
    merges = calloc((size_t)n_merges + 1, sizeof *merges);
    if (!merges) goto nomem;
    int32_t mi = 0;
    cJSON_ArrayForEach(e, jm) { /* (cJSON_GetArrayItem is linear: never index in a loop) */
        if (mi >= n_merges || !(merges[mi] = merge_text(e))) {
            ERR("tokenizer.json: merge %d is not \"a b\" or [\"a\", \"b\"]", mi);
            goto done;
        }
        mi++;
    }

    bool ok = true;
    if (bytelevel) {
        const cJSON *split = NULL;
        const char *pre = NULL;
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(tok, "pre_tokenizer");
        if (find_type(pt, "Split", &split)) {
            const char *re = ig_json_str(cJSON_GetObjectItemCaseSensitive(split, "pattern"), "Regex");
            for (size_t i = 0; re && i < sizeof k_regex_pre / sizeof k_regex_pre[0]; i++)
                if (!strcmp(re, k_regex_pre[i].regex)) pre = k_regex_pre[i].pre;
            if (!pre) {
                ERR("tokenizer.json: unsupported pre-tokenizer split regex %.120s (ingot knows those of Llama 3, "
                    "Qwen2 and GPT-2)", re ? re : "(not a regex)");
                st = IG_ERR_UNSUPPORTED;
                goto done;
            }
        } else {
            pre = "gpt-2"; /* ByteLevel with its built-in GPT-2 regex */
        }
        ok = ig_gguf_w_str(w, "tokenizer.ggml.model", "gpt2") && ig_gguf_w_str(w, "tokenizer.ggml.pre", pre) &&
             ig_gguf_w_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, (uint64_t)n_merges);
    } else if (byte_fallback || find_type(cJSON_GetObjectItemCaseSensitive(tok, "pre_tokenizer"), "Metaspace", NULL) ||
               find_type(cJSON_GetObjectItemCaseSensitive(tok, "normalizer"), "Prepend", NULL)) {
        /* SentencePiece-style: score = -(rank of the merge that makes the token) */
        for (int32_t i = 0; i < t.n; i++) t.score[i] = t.type[i] == IG_TOKEN_TYPE_NORMAL ? -1e9f : 0.0f;
        for (int32_t i = n_merges - 1; i >= 0; i--) {
            char *sp = strchr(merges[i], ' ');
            if (!sp) continue;
            size_t la = (size_t)(sp - merges[i]);
            char *cat = malloc(strlen(merges[i]));
            if (!cat) goto nomem;
            memcpy(cat, merges[i], la);
            strcpy(cat + la, sp + 1);
            int32_t id = -1;
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(vocab, cat);
            if (cJSON_IsNumber(v)) id = (int32_t)v->valuedouble;
            free(cat);
            if (id >= 0) t.score[id] = -(float)i;
        }
        /* single characters (never made by a merge) stay below every merge */
        bool add_space = true;
        const cJSON *ms = NULL;
        if (find_type(cJSON_GetObjectItemCaseSensitive(tok, "pre_tokenizer"), "Metaspace", &ms)) {
            const char *scheme = ig_json_str(ms, "prepend_scheme");
            add_space = scheme ? strcmp(scheme, "never") != 0 : ig_json_bool(ms, "add_prefix_space", true);
        }
        ok = ig_gguf_w_str(w, "tokenizer.ggml.model", "llama") &&
             ig_gguf_w_arr_f32(w, "tokenizer.ggml.scores", t.score, (uint64_t)t.n) &&
             ig_gguf_w_bool(w, "tokenizer.ggml.add_space_prefix", add_space);
    } else {
        ERR("tokenizer.json: neither byte-level nor Metaspace/byte-fallback BPE; ingot cannot run this tokenizer");
        st = IG_ERR_UNSUPPORTED;
        goto done;
    }
    ok = ok && ig_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)t.text, (uint64_t)t.n) &&
         ig_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", t.type, (uint64_t)t.n);

    /* special tokens: tokenizer_config.json, then generation_config.json */
    int32_t bos = find_tok(&t, ig_json_token_text(cfg, "bos_token"));
    int32_t eos = find_tok(&t, ig_json_token_text(cfg, "eos_token"));
    int32_t pad = find_tok(&t, ig_json_token_text(cfg, "pad_token"));
    if (eos < 0) eos = gen_eos(gen, 0);
    if (bos < 0 && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(gen, "bos_token_id")))
        bos = (int32_t)ig_json_num(gen, "bos_token_id", -1);
    const cJSON *jb = cJSON_GetObjectItemCaseSensitive(cfg, "add_bos_token");
    bool add_bos = cJSON_IsBool(jb) ? cJSON_IsTrue(jb) : template_adds(tok, true);
    const cJSON *je = cJSON_GetObjectItemCaseSensitive(cfg, "add_eos_token");
    bool add_eos = cJSON_IsBool(je) ? cJSON_IsTrue(je) : false;
    /* end of turn: a second end token from generation_config, else a known text */
    int32_t eot = -1;
    for (int i = 0; i < 4 && eot < 0; i++) {
        int32_t id = gen_eos(gen, i);
        if (id >= 0 && id < t.n && id != eos) eot = id;
    }
    static const char *const k_eot[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>"};
    for (size_t i = 0; eot < 0 && i < sizeof k_eot / sizeof k_eot[0]; i++) {
        int32_t id = find_tok(&t, k_eot[i]);
        if (id >= 0 && id != eos) eot = id;
    }
    int32_t eom = find_tok(&t, "<|eom_id|>");
    if (bos >= 0 && bos < t.n) ok = ok && ig_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0 && eos < t.n) ok = ok && ig_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    if (eot >= 0 && eot < t.n) ok = ok && ig_gguf_w_u32(w, "tokenizer.ggml.eot_token_id", (uint32_t)eot);
    if (eom >= 0) ok = ok && ig_gguf_w_u32(w, "tokenizer.ggml.eom_token_id", (uint32_t)eom);
    if (pad >= 0) ok = ok && ig_gguf_w_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)pad);
    if (unk_id >= 0) ok = ok && ig_gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)unk_id);
    ok = ok && ig_gguf_w_bool(w, "tokenizer.ggml.add_bos_token", add_bos && bos >= 0) &&
         ig_gguf_w_bool(w, "tokenizer.ggml.add_eos_token", add_eos);
    const char *tmpl = ig_json_str(cfg, "chat_template");
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    if (!tmpl && cJSON_IsArray(jt)) { /* [{"name": "default", "template": ...}, ...] */
        cJSON_ArrayForEach(e, jt) {
            const char *name = ig_json_str(e, "name");
            if (name && !strcmp(name, "default")) tmpl = ig_json_str(e, "template");
        }
    }
    if (!tmpl && dir) { /* newer folders keep it in chat_template.jinja */
        ig_path_join(path, sizeof path, dir, "chat_template.jinja");
        size_t n;
        bool missing;
        if ((jinja = ig_read_file(path, &n, &missing, NULL, 0))) tmpl = jinja;
    }
    if (tmpl) ok = ok && ig_gguf_w_str(w, "tokenizer.chat_template", tmpl);
    if (!ok) goto nomem;
    st = IG_OK;
    goto done;
nomem:
    ERR("out of memory reading the tokenizer");
    st = IG_ERR_NOMEM;
done:
    toks_free(&t);
    free(jinja);
    for (int32_t i = 0; merges && i < n_merges; i++) free(merges[i]);
    free(merges);
    return st;
}
