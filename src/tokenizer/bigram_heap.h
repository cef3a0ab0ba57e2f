/* bigram_heap.h - the priority queue both BPE flavours merge from: a max-heap
 * of adjacent symbol pairs by key, ties going to the leftmost pair.
 * SentencePiece keys by token score; byte-level BPE by -merge rank (ranks
 * stay below 2^24, so the float is exact). */
#ifndef IG_BIGRAM_HEAP_H
#define IG_BIGRAM_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ig_bigram {
    int32_t left, right; /* symbol indices */
    int32_t size;        /* bytes of the merged text, to spot stale entries */
    float key;           /* higher merges first */
};

struct ig_bigram_heap {
    struct ig_bigram *v;
    size_t n, cap;
};

bool ig_bigram_push(struct ig_bigram_heap *h, struct ig_bigram b); /* false: no memory */
struct ig_bigram ig_bigram_pop(struct ig_bigram_heap *h);          /* h->n > 0 */

#endif
