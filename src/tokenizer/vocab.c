/* vocab.c - tokenizer loading from GGUF metadata, special-token splitting,
 * and token pieces (the bytes a token stands for). */
#define _GNU_SOURCE /* memmem */
#include "tokenizer/vocab.h"

#include <string.h>

#define ERR(...) (ig_err(err, err_len, __VA_ARGS__))

bool ig_tokvec_push(struct ig_tokvec *tv, int32_t t) {
    if (tv->n == tv->cap) {
        int32_t nc = tv->cap ? tv->cap * 2 : 64;
        int32_t *v = realloc(tv->v, (size_t)nc * sizeof *v);
        if (!v) return false;
        tv->v = v;
        tv->cap = nc;
    }
    tv->v[tv->n++] = t;
    return true;
}

/* The byte a "<0xXX>" token stands for, or -1. */
static int byte_of(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int b = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        b = b * 16 + d;
    }
    return b;
}

static int32_t get_id(const struct ig_gguf *g, const char *key, int32_t def, int32_t n) {
    int64_t v;
    if (!ig_gguf_get_i64(g, key, &v)) return def;
    return v >= 0 && v < n ? (int32_t)v : -1;
}

static const struct ig_vocab *g_sort_vocab; /* qsort has no context argument in C11 */
static int by_len_desc(const void *a, const void *b) {
    const struct ig_vocab *v = g_sort_vocab;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (v->text[x].n != v->text[y].n) return v->text[x].n > v->text[y].n ? -1 : 1;
    return x < y ? -1 : x > y;
}

enum ig_status ig_vocab_load(struct ig_vocab *v, const struct ig_gguf *g, char *err, size_t err_len) {
    memset(v, 0, sizeof *v);
    v->bos = v->eos = v->eot = v->eom = v->unk = v->pad = -1;
    for (int i = 0; i < 256; i++) v->byte_tok[i] = -1;
    struct ig_gguf_str model;
    if (!ig_gguf_get_str(g, "tokenizer.ggml.model", &model)) return IG_OK; /* no tokenizer */
    if (ig_gguf_str_eq(model, "llama")) v->type = IG_VOCAB_SPM;
    else if (ig_gguf_str_eq(model, "gpt2")) v->type = IG_VOCAB_BPE;
    else {
        char name[32];
        size_t n = IG_MIN((size_t)model.n, sizeof name - 1);
        memcpy(name, model.p, n);
        name[n] = 0;
        ERR("unsupported tokenizer '%s' (ingot supports 'llama' SentencePiece and 'gpt2' byte-level BPE)",
            name);
        return IG_ERR_UNSUPPORTED;
    }
    const struct ig_gguf_kv *kt = ig_gguf_kv_find(g, "tokenizer.ggml.tokens");
    if (!kt || kt->type != IG_GGUF_ARRAY || kt->arr_type != IG_GGUF_STRING) {
        ERR("missing tokenizer.ggml.tokens (a string array)");
        return IG_ERR_FORMAT;
    }
    if (kt->arr_n == 0 || kt->arr_n > (1u << 24)) {
        ERR("bad vocabulary size %llu", (unsigned long long)kt->arr_n);
        return IG_ERR_FORMAT;
    }
    int32_t n = v->n = (int32_t)kt->arr_n;
    v->text = malloc((size_t)n * sizeof *v->text);
    v->score = calloc((size_t)n, sizeof *v->score);
    v->ttype = malloc((size_t)n);
    v->special = malloc((size_t)n * sizeof *v->special);
    if (!v->text || !v->score || !v->ttype || !v->special || !ig_strmap_init(&v->tok, (size_t)n)) goto nomem;
    ig_gguf_arr_strs(kt, v->text);

    const struct ig_gguf_kv *ks = ig_gguf_kv_find(g, "tokenizer.ggml.scores");
    if (ks && ks->type == IG_GGUF_ARRAY && ks->arr_n == (uint64_t)n)
        for (int32_t i = 0; i < n; i++) v->score[i] = (float)ig_gguf_arr_num(ks, (uint64_t)i);
    else if (ks) {
        ERR("tokenizer.ggml.scores has %llu entries for %d tokens", (unsigned long long)ks->arr_n, n);
        return IG_ERR_FORMAT;
    }
    const struct ig_gguf_kv *ktt = ig_gguf_kv_find(g, "tokenizer.ggml.token_type");
    for (int32_t i = 0; i < n; i++) {
        double t = ktt && ktt->type == IG_GGUF_ARRAY && ktt->arr_n == (uint64_t)n ? ig_gguf_arr_num(ktt, (uint64_t)i) : 1;
        v->ttype[i] = t >= 0 && t <= 6 ? (uint8_t)t : IG_TOKEN_TYPE_NORMAL;
    }
    for (int32_t i = 0; i < n; i++) {
        ig_strmap_put(&v->tok, v->text[i].p, (size_t)v->text[i].n, i);
        if (v->text[i].n > (uint64_t)v->max_piece) v->max_piece = (int32_t)IG_MIN(v->text[i].n, INT32_MAX / 2);
        int b = v->ttype[i] == IG_TOKEN_TYPE_BYTE ? byte_of(v->text[i].p, (size_t)v->text[i].n) : -1;
        if (b >= 0) v->byte_tok[b] = i;
    }

    bool spm = v->type == IG_VOCAB_SPM;
    v->bos = get_id(g, "tokenizer.ggml.bos_token_id", spm ? 1 : -1, n);
    v->eos = get_id(g, "tokenizer.ggml.eos_token_id", spm ? 2 : -1, n);
    v->unk = get_id(g, "tokenizer.ggml.unknown_token_id", spm ? 0 : -1, n);
    v->eot = get_id(g, "tokenizer.ggml.eot_token_id", -1, n);
    v->eom = get_id(g, "tokenizer.ggml.eom_token_id", -1, n);
    v->pad = get_id(g, "tokenizer.ggml.padding_token_id", -1, n);
    v->add_bos = spm;
    ig_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos);
    ig_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &v->add_eos);
    v->add_space_prefix = spm;
    ig_gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix);
    if (v->add_bos && v->bos < 0) v->add_bos = false;

    struct ig_gguf_str pre;
    if (ig_gguf_get_str(g, "tokenizer.ggml.pre", &pre)) {
        size_t l = IG_MIN((size_t)pre.n, sizeof v->pre - 1);
        memcpy(v->pre, pre.p, l);
        v->pre[l] = 0;
    }
    if (v->type == IG_VOCAB_BPE) {
        v->ignore_merges = strcmp(v->pre, "llama3") == 0 || strcmp(v->pre, "llama-bpe") == 0 ||
                           strcmp(v->pre, "llama-v3") == 0;
        const struct ig_gguf_kv *km = ig_gguf_kv_find(g, "tokenizer.ggml.merges");
        if (!km || km->type != IG_GGUF_ARRAY || km->arr_type != IG_GGUF_STRING) {
            ERR("missing tokenizer.ggml.merges (a string array) for a BPE tokenizer");
            return IG_ERR_FORMAT;
        }
        struct ig_gguf_str *ms = malloc((size_t)km->arr_n * sizeof *ms + 1);
        if (!ms || !ig_strmap_init(&v->merges, (size_t)km->arr_n)) {
            free(ms);
            goto nomem;
        }
        ig_gguf_arr_strs(km, ms);
        for (uint64_t i = 0; i < km->arr_n; i++) ig_strmap_put(&v->merges, ms[i].p, (size_t)ms[i].n, (int32_t)i);
        free(ms);
        if (!ig_bpe_init_regex(v, err, err_len)) return IG_ERR_UNSUPPORTED;
    }

    for (int32_t i = 0; i < n; i++) {
        uint8_t t = v->ttype[i];
        if ((t == IG_TOKEN_TYPE_CONTROL || t == IG_TOKEN_TYPE_USER_DEFINED || t == IG_TOKEN_TYPE_UNKNOWN) &&
            v->text[i].n > 0)
            v->special[v->n_special++] = i;
    }
    g_sort_vocab = v;
    qsort(v->special, (size_t)v->n_special, sizeof *v->special, by_len_desc);
    if (v->max_piece < 8) v->max_piece = 8;
    return IG_OK;
nomem:
    ERR("out of memory loading the tokenizer");
    return IG_ERR_NOMEM;
}

void ig_vocab_free(struct ig_vocab *v) {
    free(v->text);
    free(v->score);
    free(v->ttype);
    free(v->special);
    ig_strmap_free(&v->tok);
    ig_strmap_free(&v->merges);
    ig_bpe_free_regex(v);
    memset(v, 0, sizeof *v);
}

/* A run of the input: either plain text or one special token. */
struct frag {
    size_t off, len;
    int32_t tok; /* -1: text */
};

struct frags {
    struct frag *v;
    size_t n, cap;
};

static bool frags_push(struct frags *f, struct frag x) {
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 16;
        struct frag *p = realloc(f->v, nc * sizeof *p);
        if (!p) return false;
        f->v = p;
        f->cap = nc;
    }
    f->v[f->n++] = x;
    return true;
}

/* Split text fragments around every occurrence of each special token,
 * longest tokens first. */
static bool split_special(const struct ig_vocab *v, const char *text, struct frags *f, bool parse_special) {
    struct frags next = {0};
    for (int32_t s = 0; s < v->n_special; s++) {
        int32_t id = v->special[s];
        if (!parse_special && v->ttype[id] != IG_TOKEN_TYPE_USER_DEFINED) continue;
        const char *st = v->text[id].p;
        size_t sl = (size_t)v->text[id].n;
        next.n = 0;
        bool found = false;
        for (size_t i = 0; i < f->n; i++) {
            struct frag fr = f->v[i];
            if (fr.tok >= 0 || fr.len < sl) {
                if (!frags_push(&next, fr)) goto nomem;
                continue;
            }
            size_t pos = fr.off, end = fr.off + fr.len;
            for (;;) {
                const char *hit = end - pos >= sl ? memmem(text + pos, end - pos, st, sl) : NULL;
                if (!hit) break;
                size_t h = (size_t)(hit - text);
                found = true;
                if (h > pos && !frags_push(&next, (struct frag){pos, h - pos, -1})) goto nomem;
                if (!frags_push(&next, (struct frag){h, sl, id})) goto nomem;
                pos = h + sl;
            }
            if (pos < end && !frags_push(&next, (struct frag){pos, end - pos, -1})) goto nomem;
        }
        if (found) {
            struct frags t = *f;
            *f = next;
            next = t;
        }
    }
    free(next.v);
    return true;
nomem:
    free(next.v);
    return false;
}

bool ig_vocab_tokenize(const struct ig_vocab *v, const char *text, size_t len, bool add_bos,
                       bool parse_special, int32_t **out, int32_t *n, int32_t *cap) {
    struct ig_tokvec tv = {*out, *n, *cap};
    struct frags f = {0};
    char *esc = NULL;
    bool ok = true;
    if (v->type == IG_VOCAB_NONE) return true;
    if (add_bos && v->add_bos && v->bos >= 0) ok = ig_tokvec_push(&tv, v->bos);
    if (ok && len > 0) ok = frags_push(&f, (struct frag){0, len, -1}) && split_special(v, text, &f, parse_special);
    bool prev_special = true;
    for (size_t i = 0; ok && i < f.n; i++) {
        struct frag fr = f.v[i];
        if (fr.tok >= 0) {
            ok = ig_tokvec_push(&tv, fr.tok);
            prev_special = true;
            continue;
        }
        if (v->type == IG_VOCAB_BPE) {
            ok = ig_bpe_encode(v, text + fr.off, fr.len, &tv);
            continue;
        }
        /* SentencePiece: optional leading space, then every ' ' -> U+2581 */
        size_t en = 0;
        esc = realloc(esc, 3 + fr.len * 3);
        if (!esc) {
            ok = false;
            break;
        }
        if (v->add_space_prefix && prev_special) memcpy(esc, "\xe2\x96\x81", 3), en = 3;
        for (size_t j = 0; j < fr.len; j++) {
            char c = text[fr.off + j];
            if (c == ' ') memcpy(esc + en, "\xe2\x96\x81", 3), en += 3;
            else esc[en++] = c;
        }
        ok = ig_spm_encode(v, esc, en, &tv);
        prev_special = false;
    }
    if (ok && add_bos && v->add_eos && v->eos >= 0) ok = ig_tokvec_push(&tv, v->eos);
    free(esc);
    free(f.v);
    *out = tv.v;
    *n = tv.n;
    *cap = tv.cap;
    return ok;
}

static int32_t copy_out(const char *s, size_t n, char *buf, int32_t len) {
    if (n > (size_t)len) return -(int32_t)n;
    memcpy(buf, s, n);
    return (int32_t)n;
}

int32_t ig_vocab_piece(const struct ig_vocab *v, int32_t t, char *buf, int32_t len, bool special) {
    if (t < 0 || t >= v->n) return 0;
    const char *s = v->text[t].p;
    size_t n = (size_t)v->text[t].n;
    switch (v->ttype[t]) {
    case IG_TOKEN_TYPE_CONTROL:
        return special ? copy_out(s, n, buf, len) : 0;
    case IG_TOKEN_TYPE_USER_DEFINED:
        return copy_out(s, n, buf, len);
    case IG_TOKEN_TYPE_UNKNOWN:
        if (v->type == IG_VOCAB_SPM) return copy_out("\xe2\x96\x85", 3, buf, len);
        return copy_out(s, n, buf, len);
    case IG_TOKEN_TYPE_BYTE: {
        int b = byte_of(s, n);
        if (b < 0) return copy_out(s, n, buf, len);
        char c = (char)b;
        return copy_out(&c, 1, buf, len);
    }
    default:
        break;
    }
    /* normal token: undo the tokenizer's escaping */
    char tmp[1024];
    size_t o = 0;
    char *dst = n <= sizeof tmp ? tmp : malloc(n);
    if (!dst) return 0;
    for (size_t i = 0; i < n;) {
        if (v->type == IG_VOCAB_SPM) {
            if (i + 3 <= n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
                dst[o++] = ' ';
                i += 3;
            } else {
                dst[o++] = s[i++];
            }
        } else {
            uint32_t cp;
            int l = ig_utf8_decode(s + i, n - i, &cp);
            int b = ig_cp_to_byte(cp);
            if (b >= 0) dst[o++] = (char)b;
            else memcpy(dst + o, s + i, (size_t)l), o += (size_t)l;
            i += (size_t)l;
        }
    }
    int32_t r = copy_out(dst, o, buf, len);
    if (dst != tmp) free(dst);
    return r;
}
