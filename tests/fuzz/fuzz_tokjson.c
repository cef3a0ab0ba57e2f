/* fuzz_tokjson.c - libFuzzer target: tokenizer.json -> GGUF tokenizer
 * metadata -> vocab load -> tokenize and detokenize a fixed text. */
#include "format/gguf.h"
#include "tokenizer/tokenizer_json.h"
#include "fuzz_common.h"
#include "tokenizer/vocab.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cJSON *tok = cJSON_ParseWithLength((const char *)data, size);
    if (!tok) return 0;
    char err[256];
    struct ig_gguf_writer *w = ig_gguf_writer_create();
    uint8_t *meta = NULL;
    size_t len;
    struct ig_gguf *g = NULL;
    if (w && ig_tokjson_add_json(w, tok, NULL, NULL, 0, NULL, err, sizeof err) == IG_OK &&
        ig_gguf_w_meta_to_memory(w, &meta, &len) == IG_OK && ig_gguf_parse(meta, len, &g, err, sizeof err) == IG_OK) {
        struct ig_vocab v;
        if (ig_vocab_load(&v, g, err, sizeof err) == IG_OK && v.type != IG_VOCAB_NONE) fuzz_exercise_vocab(&v);
        ig_vocab_free(&v);
    }
    ig_gguf_free(g);
    free(meta);
    ig_gguf_writer_free(w);
    cJSON_Delete(tok);
    return 0;
}
