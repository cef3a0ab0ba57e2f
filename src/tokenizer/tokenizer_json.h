/* tokenizer_json.h - Hugging Face tokenizer.json + tokenizer_config.json ->
 * the GGUF tokenizer.ggml.* metadata the rest of ingot reads, so one
 * tokenizer implementation serves both formats (and `convert` carries it). */
#ifndef IG_TOKENIZER_JSON_H
#define IG_TOKENIZER_JSON_H

#include "format/gguf.h"
#include "format/json_file.h"

/* Read dir/tokenizer.json and dir/tokenizer_config.json and add the tokenizer
 * keys (tokens, types, merges or scores, pre, special ids, add_bos, chat
 * template) to w. n_vocab: rows of the embedding (padding tokens fill the
 * gap), or 0. gen_config: generation_config.json (eos ids) or NULL. */
enum ig_status ig_tokjson_add(struct ig_gguf_writer *w, const char *dir, int32_t n_vocab,
                              const cJSON *gen_config, char *err, size_t err_len);

/* The same from parsed JSON (cfg, gen may be NULL; dir: where to look for
 * chat_template.jinja, or NULL). */
enum ig_status ig_tokjson_add_json(struct ig_gguf_writer *w, const cJSON *tok, const cJSON *cfg, const char *dir,
                                   int32_t n_vocab, const cJSON *gen, char *err, size_t err_len);

#endif
