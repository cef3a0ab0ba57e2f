/* fuzz_common.h - what several fuzz targets do with a tokenizer that loaded:
 * tokenize a fixed text with special tokens and read back every piece. */
#ifndef IG_FUZZ_COMMON_H
#define IG_FUZZ_COMMON_H

#include "tokenizer/vocab.h"

static inline void fuzz_exercise_vocab(const struct ig_vocab *v) {
    static const char text[] = " Hello, world! <s> 123 \xe2\x96\x81 \xc3\xa9\xff\n\n";
    int32_t *toks = NULL, n = 0, cap = 0;
    if (ig_vocab_tokenize(v, text, sizeof text - 1, true, true, &toks, &n, &cap)) {
        char piece[64];
        for (int32_t i = 0; i < n; i++) ig_vocab_piece(v, toks[i], piece, sizeof piece, true);
    }
    free(toks);
}

#endif
