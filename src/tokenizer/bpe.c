/* bpe.c - byte-level BPE (GGUF "gpt2" vocab): split text into words with the
 * pre-tokenizer regexes named by tokenizer.ggml.pre (run by PCRE2 with Unicode
 * properties; each regex splits the pieces left by the previous one, keeping
 * unmatched text as its own piece), map each word's bytes to GPT-2's printable
 * code points, then merge adjacent symbols by merge rank (lowest first, ties
 * leftmost). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/bigram_heap.h"
#include "tokenizer/vocab.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

/* The pre-tokenizer regexes, as the reference tokenizers define them. */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_LLAMA3                                                                            \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" \
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                             \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" \
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_CJK "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"

struct pre_def {
    const char *names; /* '|'-separated tokenizer.ggml.pre values */
    const char *re[6];
};

static const struct pre_def k_pre[] = {
    {"llama3|llama-bpe|llama-v3|dbrx|smaug-bpe|falcon3|pixtral|chatglm-bpe", {RE_LLAMA3}},
    {"qwen2|stablelm2|hunyuan|deepseek-r1-qwen|megrez", {RE_QWEN2}},
    {"gpt-2|gpt2|mpt|olmo|jais|phi-2|roberta-bpe|trillion", {RE_GPT2}},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva", {"\\p{N}", RE_GPT2}},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}},
    {"deepseek-coder", {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}"}},
    {"deepseek-llm",
     {"[\r\n]",
      "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af"
      "\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5"
      "\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba"
      "\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45"
      "\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe"
      "\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc"
      "\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139"
      "\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3"
      "\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06"
      "\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3"
      "\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df"
      "\U0001e900-\U0001e943]+",
      "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+", "\\s+$", RE_CJK, "\\p{N}+"}},
};

static const struct pre_def k_pre_default = {
    "default",
    {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"},
};

static bool name_in(const char *names, const char *name) {
    size_t n = strlen(name);
    for (const char *p = names; *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

bool ig_bpe_init_regex(struct ig_vocab *v, char *err, size_t err_len) {
    const struct pre_def *def = &k_pre_default;
    for (size_t i = 0; i < sizeof k_pre / sizeof k_pre[0]; i++)
        if (name_in(k_pre[i].names, v->pre)) def = &k_pre[i];
    if (def == &k_pre_default && v->pre[0] && strcmp(v->pre, "default") != 0) {
        ig_err(err, err_len, "unknown pre-tokenizer '%s' (tokenizer.ggml.pre)", v->pre);
        return false;
    }
    for (int i = 0; i < 6 && def->re[i]; i++) {
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)def->re[i], PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &ec, &eo, NULL);
        if (!re) {
            ig_err(err, err_len, "internal: pre-tokenizer regex %d for '%s' does not compile", i, v->pre);
            return false;
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional speed-up */
        v->re[v->n_re++] = re;
    }
    return true;
}

void ig_bpe_free_regex(struct ig_vocab *v) {
    for (int i = 0; i < v->n_re; i++) pcre2_code_free(v->re[i]);
    v->n_re = 0;
}

/* Pieces of the text as (offset, length) pairs. */
struct spans {
    size_t *off, *len;
    size_t n, cap;
};

static bool spans_push(struct spans *s, size_t off, size_t len) {
    if (len == 0) return true;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        size_t *o = realloc(s->off, nc * sizeof *o);
        if (!o) return false;
        s->off = o;
        size_t *l = realloc(s->len, nc * sizeof *l);
        if (!l) return false;
        s->len = l;
        s->cap = nc;
    }
    s->off[s->n] = off;
    s->len[s->n] = len;
    s->n++;
    return true;
}

/* Split every piece of `in` by regex re into `out`. */
static bool split_by(const pcre2_code *re, const char *text, const struct spans *in, struct spans *out,
                     pcre2_match_data *md) {
    for (size_t k = 0; k < in->n; k++) {
        const char *subj = text + in->off[k];
        size_t n = in->len[k], start = 0, pos = 0;
        while (pos <= n) {
            int rc = pcre2_match(re, (PCRE2_SPTR)subj, n, pos, 0, md, NULL);
            if (rc < 0) break; /* no match, or invalid UTF-8: keep the rest whole */
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t ms = ov[0], me = ov[1];
            if (me == ms) { /* empty match: step one character */
                pos = ms + (ms < n ? (size_t)ig_utf8_len((uint8_t)subj[ms]) : 1);
                continue;
            }
            if (ms > start && !spans_push(out, in->off[k] + start, ms - start)) return false;
            if (!spans_push(out, in->off[k] + ms, me - ms)) return false;
            start = pos = me;
        }
        if (start < n && !spans_push(out, in->off[k] + start, n - start)) return false;
    }
    return true;
}

struct bsym {
    int32_t prev, next;
    int32_t off, n; /* into the byte-encoded word */
};

struct bpe_work {
    char *word;         /* byte-encoded word */
    size_t word_cap;
    char *pair;         /* "left right" scratch */
    size_t pair_cap;
    struct bsym *sym;
    size_t sym_cap;
    struct ig_bigram_heap heap;
};

static bool reserve(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return true;
    size_t nc = need * 2;
    void *q = realloc(*p, nc * elem);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

static bool add_bigram(const struct ig_vocab *v, struct bpe_work *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return true;
    struct bsym *a = &w->sym[l], *b = &w->sym[r];
    size_t n = (size_t)a->n + 1 + (size_t)b->n;
    if (!reserve((void **)&w->pair, &w->pair_cap, n, 1)) return false;
    memcpy(w->pair, w->word + a->off, (size_t)a->n);
    w->pair[a->n] = ' ';
    memcpy(w->pair + a->n + 1, w->word + b->off, (size_t)b->n);
    int32_t rank = ig_strmap_get(&v->merges, w->pair, n);
    if (rank < 0) return true;
    return ig_bigram_push(&w->heap, (struct ig_bigram){l, r, a->n + b->n, -(float)rank});
}

static bool encode_word(const struct ig_vocab *v, struct bpe_work *w, const char *s, size_t len,
                        struct ig_tokvec *out) {
    /* bytes -> GPT-2 code points (<= 2 UTF-8 bytes each) */
    if (!reserve((void **)&w->word, &w->word_cap, len * 2 + 1, 1)) return false;
    size_t wn = 0;
    for (size_t i = 0; i < len; i++) wn += (size_t)ig_utf8_encode(ig_byte_to_cp((uint8_t)s[i]), w->word + wn);
    if (v->ignore_merges) {
        int32_t id = ig_strmap_get(&v->tok, w->word, wn);
        if (id >= 0) return ig_tokvec_push(out, id);
    }
    if (!reserve((void **)&w->sym, &w->sym_cap, wn, sizeof *w->sym)) return false;
    int32_t n = 0;
    for (size_t off = 0; off < wn;) {
        int cl = ig_utf8_len((uint8_t)w->word[off]);
        w->sym[n] = (struct bsym){n - 1, off + (size_t)cl == wn ? -1 : n + 1, (int32_t)off, cl};
        off += (size_t)cl;
        n++;
    }
    w->heap.n = 0;
    for (int32_t i = 1; i < n; i++)
        if (!add_bigram(v, w, i - 1, i)) return false;
    while (w->heap.n > 0) {
        struct ig_bigram b = ig_bigram_pop(&w->heap);
        struct bsym *l = &w->sym[b.left], *r = &w->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size || l->next != b.right) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = b.left;
        if (!add_bigram(v, w, l->prev, b.left) || !add_bigram(v, w, b.left, l->next)) return false;
    }
    for (int32_t i = 0; n > 0 && i != -1; i = w->sym[i].next) {
        const char *t = w->word + w->sym[i].off;
        int32_t id = ig_strmap_get(&v->tok, t, (size_t)w->sym[i].n);
        if (id >= 0) {
            if (!ig_tokvec_push(out, id)) return false;
            continue;
        }
        /* no token for the symbol: its characters one by one */
        for (int32_t j = 0; j < w->sym[i].n;) {
            int cl = ig_utf8_len((uint8_t)t[j]);
            int32_t cid = ig_strmap_get(&v->tok, t + j, (size_t)cl);
            if (cid < 0) cid = v->unk;
            if (cid >= 0 && !ig_tokvec_push(out, cid)) return false;
            j += cl;
        }
    }
    return true;
}

bool ig_bpe_encode(const struct ig_vocab *v, const char *text, size_t len, struct ig_tokvec *out) {
    if (len == 0) return true;
    struct spans a = {0}, b = {0};
    struct bpe_work w = {0};
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    bool ok = md && spans_push(&a, 0, len);
    for (int i = 0; ok && i < v->n_re; i++) {
        b.n = 0;
        ok = split_by(v->re[i], text, &a, &b, md);
        struct spans t = a;
        a = b;
        b = t;
    }
    for (size_t k = 0; ok && k < a.n; k++) ok = encode_word(v, &w, text + a.off[k], a.len[k], out);
    pcre2_match_data_free(md);
    free(a.off), free(a.len), free(b.off), free(b.len);
    free(w.word), free(w.pair), free(w.sym), free(w.heap.v);
    return ok;
}
