/* spm.c - SentencePiece-style BPE over scores (llama.cpp's "llama" vocab):
 * start from UTF-8 characters, repeatedly merge the adjacent pair whose
 * concatenation is the highest-scoring token (ties: leftmost), then emit each
 * symbol's token, or its bytes as <0xXX> tokens when it has none. The caller
 * has already replaced spaces with U+2581 and added the leading one. */
#include "tokenizer/bigram_heap.h"
#include "tokenizer/vocab.h"

#include <stdlib.h>
#include <string.h>

struct sym {
    int32_t prev, next;
    const char *text;
    int32_t n;
};

static bool try_bigram(const struct ig_vocab *v, struct sym *s, struct ig_bigram_heap *h, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return true;
    int32_t n = s[l].n + s[r].n;
    int32_t id = ig_strmap_get(&v->tok, s[l].text, (size_t)n);
    if (id < 0) return true;
    return ig_bigram_push(h, (struct ig_bigram){l, r, n, v->score[id]});
}

bool ig_spm_encode(const struct ig_vocab *v, const char *text, size_t len, struct ig_tokvec *out) {
    if (len == 0) return true;
    struct sym *s = malloc(len * sizeof *s);
    struct ig_bigram_heap h = {0};
    bool ok = s != NULL;
    int32_t n = 0;
    for (size_t off = 0; ok && off < len;) {
        int cl = ig_utf8_len((uint8_t)text[off]);
        if ((size_t)cl > len - off) cl = (int)(len - off);
        s[n].text = text + off;
        s[n].n = cl;
        s[n].prev = n - 1;
        s[n].next = off + (size_t)cl == len ? -1 : n + 1;
        off += (size_t)cl;
        n++;
    }
    for (int32_t i = 1; ok && i < n; i++) ok = try_bigram(v, s, &h, i - 1, i);
    while (ok && h.n > 0) {
        struct ig_bigram b = ig_bigram_pop(&h);
        struct sym *l = &s[b.left], *r = &s[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = b.left;
        ok = try_bigram(v, s, &h, l->prev, b.left) && try_bigram(v, s, &h, b.left, l->next);
    }
    for (int32_t i = 0; ok && n > 0 && i != -1; i = s[i].next) {
        int32_t id = ig_strmap_get(&v->tok, s[i].text, (size_t)s[i].n);
        if (id >= 0) {
            ok = ig_tokvec_push(out, id);
            continue;
        }
        for (int32_t j = 0; ok && j < s[i].n; j++) {
            int32_t bt = v->byte_tok[(uint8_t)s[i].text[j]];
            if (bt < 0) bt = v->unk;
            if (bt >= 0) ok = ig_tokvec_push(out, bt);
        }
    }
    free(s);
    free(h.v);
    return ok;
}
