/* fuzz_gguf.c - libFuzzer target: the GGUF reader, then the tokenizer loader
 * and a tokenize/detokenize round on whatever parses. */
#include "format/gguf.h"
#include "fuzz_common.h"
#include "tokenizer/vocab.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct ig_gguf *g;
    char err[256];
    if (ig_gguf_parse(data, size, &g, err, sizeof err) != IG_OK) return 0;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const struct ig_gguf_kv *kv = &g->kv[i];
        if (kv->type == IG_GGUF_ARRAY && kv->arr_type == IG_GGUF_STRING) {
            struct ig_gguf_str *s = malloc((size_t)kv->arr_n * sizeof *s + 1);
            if (s) ig_gguf_arr_strs(kv, s);
            free(s);
        }
    }
    struct ig_vocab v;
    if (ig_vocab_load(&v, g, err, sizeof err) == IG_OK && v.type != IG_VOCAB_NONE) fuzz_exercise_vocab(&v);
    ig_vocab_free(&v);
    ig_gguf_free(g);
    return 0;
}
