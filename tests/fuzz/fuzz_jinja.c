/* fuzz_jinja.c - libFuzzer target: the input is a chat template, parsed and
 * rendered over a fixed conversation with tools. */
#include "chat/jinja.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char k_vars[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"sys\"}, {\"role\": \"user\", \"content\": \"hi <think>\"},"
    " {\"role\": \"assistant\", \"content\": \"<think>\\nx\\n</think>\\n\\nok\", \"tool_calls\": [{\"function\":"
    " {\"name\": \"f\", \"arguments\": {\"a\": [1, 2.5, null, true]}}}]}, {\"role\": \"tool\", \"content\": \"r\"}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}], \"add_generation_prompt\": true,"
    " \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static cJSON *vars;
    if (!vars) vars = cJSON_Parse(k_vars);
    char err[256];
    struct ig_jinja *t = ig_jinja_parse((const char *)data, size, err, sizeof err);
    if (!t) return 0;
    char *out = NULL;
    size_t n;
    if (ig_jinja_render(t, vars, &out, &n, err, sizeof err) == IG_OK) free(out);
    ig_jinja_free(t);
    return 0;
}
