/* strmap.c - FNV-1a hashed, linearly probed; sized once for a load factor
 * of at most 1/2, so it never grows. */
#include "tokenizer/strmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

bool ig_strmap_init(struct ig_strmap *m, size_t n_expected) {
    size_t cap = 16;
    while (cap < n_expected * 2 + 1) cap *= 2;
    m->slots = calloc(cap, sizeof *m->slots);
    m->cap = cap;
    m->n = 0;
    return m->slots != NULL;
}

void ig_strmap_free(struct ig_strmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

void ig_strmap_put(struct ig_strmap *m, const char *key, size_t len, int32_t val) {
    if (!m->slots || m->n * 2 + 2 > m->cap) return; /* sized at init; callers never exceed it */
    size_t i = hash(key, len) & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        struct ig_strmap_slot *s = &m->slots[i];
        if (!s->key) {
            s->key = key ? key : "";
            s->len = (uint32_t)len;
            s->val = val;
            m->n++;
            return;
        }
        if (s->len == len && memcmp(s->key, key, len) == 0) return;
    }
}

int32_t ig_strmap_get(const struct ig_strmap *m, const char *key, size_t len) {
    if (!m->slots) return -1;
    size_t i = hash(key, len) & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        const struct ig_strmap_slot *s = &m->slots[i];
        if (!s->key) return -1;
        if (s->len == len && memcmp(s->key, key, len) == 0) return s->val;
    }
}
