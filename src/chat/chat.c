/* chat.c - ig_chat_render: a conversation through the model's own chat
 * template (GGUF tokenizer.chat_template, or tokenizer_config.json's for a
 * Hugging Face folder), with the variables apply_chat_template provides. */
#include "chat/jinja.h"
#include "model/model.h"

#include <string.h>

#define ERR(...) (ig_err(err, err_len, __VA_ARGS__))

static void add_token_text(const struct ig_model *m, cJSON *vars, const char *name, int32_t id) {
    char buf[256] = "";
    int32_t n = id >= 0 ? ig_vocab_piece(&m->vocab, id, buf, sizeof buf - 1, true) : 0;
    buf[n > 0 ? n : 0] = 0;
    cJSON_AddStringToObject(vars, name, buf);
}

const char *ig_chat_template(const struct ig_model *m) { return ig_model_meta_str(m, "tokenizer.chat_template"); }

enum ig_status ig_chat_render(const struct ig_model *m, const char *messages_json, const char *vars_json,
                              bool add_generation_prompt, char **out, char *err, size_t err_len) {
    *out = NULL;
    const char *tmpl = ig_chat_template(m);
    if (!tmpl) {
        ERR("the model has no chat template (tokenizer.chat_template)");
        return IG_ERR_UNSUPPORTED;
    }
    cJSON *msgs = cJSON_Parse(messages_json ? messages_json : "");
    if (!cJSON_IsArray(msgs)) {
        cJSON_Delete(msgs);
        ERR("messages must be a JSON array of {\"role\": ..., \"content\": ...} objects");
        return IG_ERR_ARG;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, msgs) {
        if (!cJSON_IsObject(e) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "role"))) {
            cJSON_Delete(msgs);
            ERR("each message must be an object with a string \"role\"");
            return IG_ERR_ARG;
        }
    }
    cJSON *extra = NULL;
    if (vars_json && *vars_json) {
        extra = cJSON_Parse(vars_json);
        if (!cJSON_IsObject(extra)) {
            cJSON_Delete(msgs);
            cJSON_Delete(extra);
            ERR("template variables must be a JSON object");
            return IG_ERR_ARG;
        }
    }
    cJSON *vars = cJSON_CreateObject();
    cJSON_AddItemToObject(vars, "messages", msgs);
    cJSON_AddBoolToObject(vars, "add_generation_prompt", add_generation_prompt);
    add_token_text(m, vars, "bos_token", m->vocab.bos);
    add_token_text(m, vars, "eos_token", m->vocab.eos);
    for (cJSON *x = extra ? extra->child : NULL; x; x = x->next) {
        cJSON_DeleteItemFromObjectCaseSensitive(vars, x->string);
        cJSON_AddItemToObject(vars, x->string, cJSON_Duplicate(x, true));
    }
    cJSON_Delete(extra);
    char e2[512] = "";
    struct ig_jinja *t = ig_jinja_parse(tmpl, strlen(tmpl), e2, sizeof e2);
    enum ig_status st = IG_ERR_UNSUPPORTED;
    if (t) {
        size_t n;
        st = ig_jinja_render(t, vars, out, &n, e2, sizeof e2);
        ig_jinja_free(t);
    }
    if (st != IG_OK) ERR("%s", e2);
    cJSON_Delete(vars);
    return st;
}
