/* bigram_heap.c - binary max-heap over (key, then smaller left). */
#include "tokenizer/bigram_heap.h"

#include <stdlib.h>

static bool below(const struct ig_bigram *a, const struct ig_bigram *b) {
    return a->key < b->key || (a->key == b->key && a->left > b->left);
}

static void swap(struct ig_bigram *a, struct ig_bigram *b) {
    struct ig_bigram t = *a;
    *a = *b;
    *b = t;
}

bool ig_bigram_push(struct ig_bigram_heap *h, struct ig_bigram b) {
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        struct ig_bigram *v = realloc(h->v, nc * sizeof *v);
        if (!v) return false;
        h->v = v;
        h->cap = nc;
    }
    size_t i = h->n++;
    h->v[i] = b;
    while (i > 0 && below(&h->v[(i - 1) / 2], &h->v[i])) {
        swap(&h->v[(i - 1) / 2], &h->v[i]);
        i = (i - 1) / 2;
    }
    return true;
}

struct ig_bigram ig_bigram_pop(struct ig_bigram_heap *h) {
    struct ig_bigram top = h->v[0];
    h->v[0] = h->v[--h->n];
    for (size_t i = 0;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && below(&h->v[m], &h->v[l])) m = l;
        if (r < h->n && below(&h->v[m], &h->v[r])) m = r;
        if (m == i) break;
        swap(&h->v[m], &h->v[i]);
        i = m;
    }
    return top;
}
