/* jinja.h - a Jinja2 subset interpreter for chat templates, written to render
 * like Hugging Face's apply_chat_template (trim_blocks, lstrip_blocks,
 * loopcontrols; transformers' tojson; raise_exception, strftime_now).
 * Covers what the templates of Llama 3.x, Qwen2.5/3, Mistral, Phi-3,
 * SmolLM2 and Gemma use: expressions with Python semantics, if/elif/else,
 * for (loop.*, else, filters), set (also namespace attributes and blocks),
 * macros, break/continue, filters, tests, and string/dict/list methods.
 * Anything else is an error naming the construct and its line. */
#ifndef IG_JINJA_H
#define IG_JINJA_H

#include "core/util.h"

#include <cjson/cJSON.h>

struct ig_jinja;

/* Parse a template once; NULL with err (line and construct) on error. */
struct ig_jinja *ig_jinja_parse(const char *src, size_t len, char *err, size_t err_len);
void ig_jinja_free(struct ig_jinja *t);
/* Render with the members of vars (a JSON object) as variables.
 * *out: malloc'ed NUL-terminated text. */
enum ig_status ig_jinja_render(const struct ig_jinja *t, const cJSON *vars, char **out, size_t *out_len,
                               char *err, size_t err_len);

#endif
