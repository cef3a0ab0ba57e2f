/* fuzz_tokjson.c - libFuzzer target: tokenizer.json -> GGUF tokenizer
 * metadata -> vocab load -> tokenize and detokenize a fixed text. */
#include "format/gguf.h"
#include "tokenizer/tokenizer_json.h"
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
        if (ig_vocab_load(&v, g, err, sizeof err) == IG_OK && v.type != IG_VOCAB_NONE) {
            static const char text[] = " Hello, world! <s> 123 \xe2\x96\x81 \xc3\xa9\xff\n\n";
            int32_t *toks = NULL, n = 0, cap = 0;
            if (ig_vocab_tokenize(&v, text, sizeof text - 1, true, true, &toks, &n, &cap)) {
                char piece[64];
                for (int32_t i = 0; i < n; i++) ig_vocab_piece(&v, toks[i], piece, sizeof piece, true);
            }
            free(toks);
        }
        ig_vocab_free(&v);
    }
    ig_gguf_free(g);
    free(meta);
    ig_gguf_writer_free(w);
    cJSON_Delete(tok);
    return 0;
}
