/* api.c - the public tokenizer calls: tokenize, pieces, detokenize, and the
 * streaming detokenizer that never splits a UTF-8 character. */
#include "model/model.h"

#include <string.h>

int32_t ig_tokenize(const struct ig_model *m, const char *text, int32_t len, ig_token *out, int32_t n_max,
                    bool add_bos, bool parse_special) {
    if (!text || len < 0) return 0;
    int32_t *v = NULL, n = 0, cap = 0;
    if (!ig_vocab_tokenize(&m->vocab, text, (size_t)len, add_bos, parse_special, &v, &n, &cap)) {
        free(v);
        return INT32_MIN;
    }
    if (n > n_max) {
        free(v);
        return -n;
    }
    if (n) memcpy(out, v, (size_t)n * sizeof *v);
    free(v);
    return n;
}

int32_t ig_token_to_piece(const struct ig_model *m, ig_token t, char *buf, int32_t len, bool special) {
    return ig_vocab_piece(&m->vocab, t, buf, len, special);
}

int32_t ig_detokenize(const struct ig_model *m, const ig_token *tokens, int32_t n, char *buf, int32_t len,
                      bool special, bool strip_leading_space) {
    int32_t total = 0;
    bool fits = true, strip = strip_leading_space && m->vocab.add_space_prefix;
    char tmp[256];
    for (int32_t i = 0; i < n; i++) {
        int32_t need = ig_vocab_piece(&m->vocab, tokens[i], tmp, sizeof tmp, special);
        char *p = tmp, *big = NULL;
        if (need < 0) {
            big = malloc((size_t)-need);
            if (!big) return INT32_MIN;
            need = ig_vocab_piece(&m->vocab, tokens[i], big, -need, special);
            p = big;
        }
        if (strip && need > 0) { /* only the first non-empty piece (BOS decodes to "") */
            strip = false;
            if (p[0] == ' ') p++, need--;
        }
        if (fits && total + need <= len) memcpy(buf + total, p, (size_t)need);
        else fits = false;
        total += need;
        free(big);
    }
    return fits ? total : -total;
}

bool ig_token_is_eog(const struct ig_model *m, ig_token t) {
    const struct ig_vocab *v = &m->vocab;
    if (t < 0 || t >= v->n) return false;
    if (t == v->eos || t == v->eot || t == v->eom) return true;
    if (v->ttype[t] != IG_TOKEN_TYPE_CONTROL) return false;
    static const char *k_eog[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                                  "<|eom_id|>", "</s>", "<|end_of_text|>"};
    for (size_t i = 0; i < sizeof k_eog / sizeof k_eog[0]; i++)
        if (ig_gguf_str_eq(v->text[t], k_eog[i])) return true;
    return false;
}

int32_t ig_n_vocab(const struct ig_model *m) { return m->vocab.n; }

void ig_detok_reset(struct ig_detok *d, bool strip_leading_space) {
    memset(d, 0, sizeof *d);
    d->strip_space = strip_leading_space;
}

/* Bytes at the end of s[0..n) that start a UTF-8 character not yet complete. */
static int32_t incomplete_tail(const char *s, int32_t n) {
    for (int32_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t c = (uint8_t)s[n - back];
        if ((c & 0xc0) == 0x80) continue; /* continuation byte: look further back */
        int need = ig_utf8_len(c);
        return need > back ? back : 0;
    }
    return 0;
}

int32_t ig_detok_push(const struct ig_model *m, struct ig_detok *d, ig_token t, char *buf, int32_t len) {
    int32_t np = ig_vocab_piece(&m->vocab, t, NULL, 0, false);
    int32_t need_piece = np < 0 ? -np : np;
    int32_t need = d->n_pend + need_piece;
    if (need > len) return -need;
    memcpy(buf, d->pend, (size_t)d->n_pend);
    int32_t n = d->n_pend + ig_vocab_piece(&m->vocab, t, buf + d->n_pend, len - d->n_pend, false);
    int32_t start = 0;
    if (d->strip_space && n > 0) {
        if (buf[0] == ' ' && m->vocab.add_space_prefix) start = 1;
        d->strip_space = false;
    }
    if (start) memmove(buf, buf + 1, (size_t)--n);
    int32_t tail = incomplete_tail(buf, n);
    memcpy(d->pend, buf + n - tail, (size_t)tail);
    d->n_pend = tail;
    return n - tail;
}

int32_t ig_detok_flush(struct ig_detok *d, char *buf, int32_t len) {
    if (d->n_pend > len) return -d->n_pend;
    memcpy(buf, d->pend, (size_t)d->n_pend);
    int32_t n = d->n_pend;
    d->n_pend = 0;
    return n;
}
