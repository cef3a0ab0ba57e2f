/* serve_api.c - the endpoints of `ingot serve`: OpenAI (/v1/chat/completions,
 * /v1/completions, /v1/models) and Ollama (/api/generate, /api/chat,
 * /api/tags, /api/show, /api/ps, /api/version), /health and /metrics.
 * Requests are checked field by field (type, range, unknown names) and turned
 * into token prompts through the model's chat template. */
#define _GNU_SOURCE
#include "serve_http.h"

#include <math.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct sv_config g_cfg;
static atomic_long g_ids;

void sv_api_init(const struct sv_config *cfg) { g_cfg = *cfg; }

enum api { OPENAI_CHAT, OPENAI_COMPLETION, OLLAMA_GENERATE, OLLAMA_CHAT };

struct reqinfo { /* what the response formatters need */
    enum api api;
    char id[40], model[512];
    int64_t created;
    bool include_usage, want_logprobs, chat_logprobs;
    int64_t load_us;
};

static bool utf8_ok(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
        if (n < 0) return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80) return false;
    }
    return true;
}

static void iso_time(int64_t unix_s, char *buf, size_t len) {
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ------------------------------------------------------------ validation */

struct opts {
    struct ig_sampler_params sp;
    float presence, frequency;
    long max_tokens, num_ctx;
    char *stops[SV_MAX_STOPS];
    int n_stop;
    bool stream, raw, include_usage;
    int top_logprobs;
    double keep_alive;
    bool have_keep_alive, json;
};

static const char *check_fields(const cJSON *o, const char *const *known) {
    for (const cJSON *e = o->child; e; e = e->next) {
        bool ok = false;
        for (int i = 0; known[i] && !ok; i++) ok = !strcmp(e->string, known[i]);
        if (!ok) return e->string;
    }
    return NULL;
}

/* number field in [lo, hi]; false with msg when present and bad */
static bool num_field(const cJSON *o, const char *k, double lo, double hi, double *out, char *msg, size_t ml) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!j || cJSON_IsNull(j)) return true;
    if (!cJSON_IsNumber(j)) return snprintf(msg, ml, "'%s' must be a number", k), false;
    if (!(j->valuedouble >= lo && j->valuedouble <= hi))
        return snprintf(msg, ml, "'%s' must be between %g and %g, got %g", k, lo, hi, j->valuedouble), false;
    *out = j->valuedouble;
    return true;
}
static bool int_field(const cJSON *o, const char *k, double lo, double hi, long *out, char *msg, size_t ml) {
    double d = (double)*out;
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!num_field(o, k, lo, hi, &d, msg, ml)) return false;
    if (j && cJSON_IsNumber(j) && d != floor(d)) return snprintf(msg, ml, "'%s' must be a whole number", k), false;
    *out = (long)d;
    return true;
}
static bool bool_field(const cJSON *o, const char *k, bool *out, char *msg, size_t ml) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!j || cJSON_IsNull(j)) return true;
    if (!cJSON_IsBool(j)) return snprintf(msg, ml, "'%s' must be true or false", k), false;
    *out = cJSON_IsTrue(j);
    return true;
}
static bool stop_field(const cJSON *o, const char *k, struct opts *op, char *msg, size_t ml) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!j || cJSON_IsNull(j)) return true;
    if (cJSON_IsString(j)) {
        if (*j->valuestring) op->stops[op->n_stop++] = strdup(j->valuestring);
        return true;
    }
    if (!cJSON_IsArray(j)) return snprintf(msg, ml, "'%s' must be a string or an array of strings", k), false;
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        if (!cJSON_IsString(e)) return snprintf(msg, ml, "'%s' must hold strings", k), false;
        if (op->n_stop == SV_MAX_STOPS) return snprintf(msg, ml, "at most %d stop strings", SV_MAX_STOPS), false;
        if (*e->valuestring) op->stops[op->n_stop++] = strdup(e->valuestring);
    }
    return true;
}

static void opts_init(struct opts *op, bool ollama) {
    memset(op, 0, sizeof *op);
    op->sp = ig_sampler_default_params();
    op->sp.repeat_penalty = ollama ? 1.1f : 1.0f; /* OpenAI has no repeat penalty */
    op->sp.top_k = ollama ? 40 : 0;
    op->sp.top_p = ollama ? 0.9f : 1.0f;
    op->sp.temp = ollama ? 0.8f : 1.0f;
    op->sp.seed = (uint64_t)ig_time_us() ^ (uint64_t)atomic_fetch_add(&g_ids, 1) * 0x9E3779B97F4A7C15ull;
    op->max_tokens = -1;
    op->top_logprobs = -1;
    op->stream = ollama;
}

static void opts_free(struct opts *op) {
    for (int i = 0; i < op->n_stop; i++) free(op->stops[i]);
}

/* OpenAI sampling fields (chat and completions share them). */
static bool openai_opts(const cJSON *b, struct opts *op, bool chat, char *msg, size_t ml) {
    double d;
    long l;
    if (!bool_field(b, "stream", &op->stream, msg, ml)) return false;
    d = op->sp.temp;
    if (!num_field(b, "temperature", 0, 2, &d, msg, ml)) return false;
    op->sp.temp = (float)d;
    d = op->sp.top_p;
    if (!num_field(b, "top_p", 0, 1, &d, msg, ml)) return false;
    op->sp.top_p = (float)d;
    d = 0;
    if (!num_field(b, "presence_penalty", -2, 2, &d, msg, ml)) return false;
    op->presence = (float)d;
    d = 0;
    if (!num_field(b, "frequency_penalty", -2, 2, &d, msg, ml)) return false;
    op->frequency = (float)d;
    l = -1;
    if (!int_field(b, "max_tokens", -1e18, 1e9, &l, msg, ml) || !int_field(b, "max_completion_tokens", -1e18, 1e9, &l, msg, ml))
        return false;
    if (cJSON_GetObjectItemCaseSensitive(b, "max_tokens") || cJSON_GetObjectItemCaseSensitive(b, "max_completion_tokens")) {
        if (l < 0) return snprintf(msg, ml, "'max_tokens' must be at least 0, got %ld", l), false;
    }
    op->max_tokens = l;
    l = -1;
    if (!int_field(b, "seed", -9.2e18, 9.2e18, &l, msg, ml)) return false;
    if (cJSON_GetObjectItemCaseSensitive(b, "seed")) op->sp.seed = (uint64_t)l;
    l = 1;
    if (!int_field(b, "n", 1, 1, &l, msg, ml)) return snprintf(msg, ml, "only n=1 is supported"), false;
    if (!stop_field(b, "stop", op, msg, ml)) return false;
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(b, "logprobs");
    if (chat) {
        bool want = false;
        if (!bool_field(b, "logprobs", &want, msg, ml)) return false;
        l = 0;
        if (!int_field(b, "top_logprobs", 0, 20, &l, msg, ml)) return false;
        if (want) op->top_logprobs = (int)l;
        else if (cJSON_GetObjectItemCaseSensitive(b, "top_logprobs"))
            return snprintf(msg, ml, "'top_logprobs' needs 'logprobs': true"), false;
    } else if (lp && !cJSON_IsNull(lp)) {
        l = 0;
        if (!int_field(b, "logprobs", 0, 5, &l, msg, ml)) return false;
        op->top_logprobs = (int)l;
    }
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(b, "response_format");
    if (rf && !cJSON_IsNull(rf)) {
        const char *t = cJSON_IsObject(rf) ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(rf, "type")) : NULL;
        if (!t) return snprintf(msg, ml, "'response_format' must be {\"type\": ...}"), false;
        if (!strcmp(t, "json_object")) op->json = true;
        else if (strcmp(t, "text"))
            return snprintf(msg, ml, "response_format '%s' is not supported ('text' and 'json_object' are)", t), false;
    }
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(b, "stream_options");
    if (cJSON_IsObject(so)) op->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    return true;
}

/* Ollama's "options" and top-level fields. */
static bool ollama_opts(const cJSON *b, struct opts *op, char *msg, size_t ml) {
    if (!bool_field(b, "stream", &op->stream, msg, ml) || !bool_field(b, "raw", &op->raw, msg, ml)) return false;
    const cJSON *ka = cJSON_GetObjectItemCaseSensitive(b, "keep_alive");
    if (ka && !cJSON_IsNull(ka)) { /* seconds, or "5m" / "1h" / "30s" / "-1" */
        double s;
        if (cJSON_IsNumber(ka)) s = ka->valuedouble;
        else if (cJSON_IsString(ka)) {
            char *end;
            s = strtod(ka->valuestring, &end);
            if (end == ka->valuestring) return snprintf(msg, ml, "'keep_alive' must be a duration like \"5m\""), false;
            if (*end == 'm') s *= 60;
            else if (*end == 'h') s *= 3600;
            else if (*end && *end != 's') return snprintf(msg, ml, "'keep_alive' must be a duration like \"5m\""), false;
        } else return snprintf(msg, ml, "'keep_alive' must be a number or a duration string"), false;
        op->keep_alive = s;
        op->have_keep_alive = true;
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(b, "format");
    if (cJSON_IsString(f) && !strcmp(f->valuestring, "json")) op->json = true;
    else if (f && !cJSON_IsNull(f) && !(cJSON_IsString(f) && !*f->valuestring))
        return snprintf(msg, ml, "'format' must be \"json\" (JSON schemas are not supported)"), false;
    const cJSON *im = cJSON_GetObjectItemCaseSensitive(b, "images");
    if (im && !cJSON_IsNull(im) && cJSON_GetArraySize(im) > 0) return snprintf(msg, ml, "images are not supported"), false;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(b, "options");
    if (!o || cJSON_IsNull(o)) return true;
    if (!cJSON_IsObject(o)) return snprintf(msg, ml, "'options' must be an object"), false;
    static const char *const known[] = {"num_ctx", "num_predict", "temperature", "top_k", "top_p", "min_p",
                                        "repeat_penalty", "repeat_last_n", "seed", "stop", "presence_penalty",
                                        "frequency_penalty", "num_thread", "num_gpu", "num_batch", "typical_p",
                                        "tfs_z", "mirostat", "mirostat_tau", "mirostat_eta", "penalize_newline",
                                        "num_keep", "numa", "low_vram", "use_mmap", "use_mlock", NULL};
    const char *bad = check_fields(o, known);
    if (bad) return snprintf(msg, ml, "unknown option '%s'", bad), false;
    double d;
    long l;
    l = op->num_ctx;
    if (!int_field(o, "num_ctx", 1, 1 << 24, &l, msg, ml)) return false;
    op->num_ctx = l;
    l = -1;
    if (!int_field(o, "num_predict", -2, 1e9, &l, msg, ml)) return false;
    op->max_tokens = l < 0 ? -1 : l;
    d = op->sp.temp;
    if (!num_field(o, "temperature", 0, 100, &d, msg, ml)) return false;
    op->sp.temp = (float)d;
    l = op->sp.top_k;
    if (!int_field(o, "top_k", 0, 1e9, &l, msg, ml)) return false;
    op->sp.top_k = (int32_t)l;
    d = op->sp.top_p;
    if (!num_field(o, "top_p", 0, 1, &d, msg, ml)) return false;
    op->sp.top_p = (float)d;
    d = op->sp.min_p;
    if (!num_field(o, "min_p", 0, 1, &d, msg, ml)) return false;
    op->sp.min_p = (float)d;
    d = op->sp.repeat_penalty;
    if (!num_field(o, "repeat_penalty", 0, 100, &d, msg, ml)) return false;
    op->sp.repeat_penalty = (float)d;
    l = op->sp.repeat_last_n;
    if (!int_field(o, "repeat_last_n", 0, 1 << 20, &l, msg, ml)) return false;
    op->sp.repeat_last_n = (int32_t)l;
    l = 0;
    if (!int_field(o, "seed", -9.2e18, 9.2e18, &l, msg, ml)) return false;
    if (cJSON_GetObjectItemCaseSensitive(o, "seed")) op->sp.seed = (uint64_t)l;
    d = 0;
    if (!num_field(o, "presence_penalty", -2, 2, &d, msg, ml)) return false;
    op->presence = (float)d;
    d = 0;
    if (!num_field(o, "frequency_penalty", -2, 2, &d, msg, ml)) return false;
    op->frequency = (float)d;
    return stop_field(o, "stop", op, msg, ml);
}

/* messages: [{role: string, content: string | [{type: "text", text}]}] -> a
 * normalized JSON array for the chat template. */
static cJSON *check_messages(const cJSON *m, char *msg, size_t ml) {
    if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) == 0)
        return snprintf(msg, ml, "'messages' must be a non-empty array"), NULL;
    cJSON *out = cJSON_CreateArray();
    const cJSON *e;
    int i = 0;
    cJSON_ArrayForEach(e, m) {
        const char *role = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "role"));
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!cJSON_IsObject(e) || !role) {
            snprintf(msg, ml, "messages[%d] needs a string 'role'", i);
            cJSON_Delete(out);
            return NULL;
        }
        cJSON *n = cJSON_Duplicate(e, true);
        if (cJSON_IsArray(c)) { /* content parts: keep the text ones */
            size_t len = 0;
            char *text = calloc(1, 1);
            const cJSON *p;
            cJSON_ArrayForEach(p, c) {
                const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "text"));
                if (!t) continue;
                char *nt = realloc(text, len + strlen(t) + 1);
                if (!nt) break;
                text = nt;
                strcpy(text + len, t);
                len += strlen(t);
            }
            cJSON_ReplaceItemInObjectCaseSensitive(n, "content", cJSON_CreateString(text));
            free(text);
        } else if (!c || cJSON_IsNull(c)) {
            cJSON_ReplaceItemInObjectCaseSensitive(n, "content", cJSON_CreateString(""));
            if (!cJSON_GetObjectItemCaseSensitive(n, "content")) cJSON_AddStringToObject(n, "content", "");
        } else if (!cJSON_IsString(c)) {
            snprintf(msg, ml, "messages[%d].content must be a string or an array of text parts", i);
            cJSON_Delete(n);
            cJSON_Delete(out);
            return NULL;
        }
        const char *txt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(n, "content"));
        if (!utf8_ok(role) || (txt && !utf8_ok(txt))) {
            snprintf(msg, ml, "messages[%d] is not valid UTF-8", i);
            cJSON_Delete(n);
            cJSON_Delete(out);
            return NULL;
        }
        cJSON_AddItemToArray(out, n);
        i++;
    }
    return out;
}

/* The prompt's tokens: through the chat template when there is one. */
static int32_t build_prompt(struct sv_model *sm, cJSON *messages, const char *raw_prompt, const char *system,
                            const cJSON *tools, bool raw, ig_token **out, char *msg, size_t ml) {
    char *text = NULL;
    bool templated = false;
    cJSON *own = NULL;
    if (!messages && raw_prompt && !raw && ig_chat_template(sm->m)) { /* Ollama generate: one user turn */
        own = cJSON_CreateArray();
        if (system && *system) {
            cJSON *s = cJSON_CreateObject();
            cJSON_AddStringToObject(s, "role", "system");
            cJSON_AddStringToObject(s, "content", system);
            cJSON_AddItemToArray(own, s);
        }
        cJSON *u = cJSON_CreateObject();
        cJSON_AddStringToObject(u, "role", "user");
        cJSON_AddStringToObject(u, "content", raw_prompt);
        cJSON_AddItemToArray(own, u);
        messages = own;
    }
    if (messages && ig_chat_template(sm->m)) {
        char *js = cJSON_PrintUnformatted(messages), err[512];
        cJSON *vars = cJSON_CreateObject();
        if (tools && !cJSON_IsNull(tools)) cJSON_AddItemToObject(vars, "tools", cJSON_Duplicate(tools, true));
        char *vj = cJSON_PrintUnformatted(vars);
        cJSON_Delete(vars);
        enum ig_status st = ig_chat_render(sm->m, js, vj, true, &text, err, sizeof err);
        free(js);
        free(vj);
        if (st != IG_OK) {
            snprintf(msg, ml, "%s", err);
            cJSON_Delete(own);
            return -1;
        }
        templated = true;
    } else if (messages) { /* no template: the contents, one per line */
        size_t len = 0;
        text = calloc(1, 1);
        const cJSON *e;
        cJSON_ArrayForEach(e, messages) {
            const char *c = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "content"));
            if (!c) continue;
            char *nt = realloc(text, len + strlen(c) + 2);
            if (!nt) break;
            text = nt;
            len += (size_t)sprintf(text + len, "%s%s", len ? "\n" : "", c);
        }
    } else {
        text = strdup(raw_prompt ? raw_prompt : "");
    }
    cJSON_Delete(own);
    if (!text) return snprintf(msg, ml, "out of memory"), -1;
    int32_t len = (int32_t)strlen(text);
    int32_t n = ig_tokenize(sm->m, text, len, NULL, 0, !templated, true);
    n = n < 0 ? -n : n;
    ig_token *t = malloc(((size_t)n + 1) * sizeof *t);
    if (!t) {
        free(text);
        return snprintf(msg, ml, "out of memory"), -1;
    }
    n = ig_tokenize(sm->m, text, len, t, n, !templated, true);
    free(text);
    if (n == 0 && sm->info.bos >= 0) t[n++] = sm->info.bos;
    if (n == 0) {
        free(t);
        return snprintf(msg, ml, "the prompt is empty"), -1;
    }
    *out = t;
    return n;
}

/* ------------------------------------------------------------ responses */

static cJSON *logprobs_json(const struct sv_chunk *c, const struct sv_model *sm, bool chat) {
    cJSON *content = cJSON_CreateArray();
    for (int i = 0; i < c->n_lp; i++) {
        const struct sv_logprob *lp = &c->lp[i];
        char piece[256];
        int32_t n = ig_token_to_piece(sm->m, lp->tok, piece, sizeof piece - 1, true);
        piece[n > 0 ? n : 0] = 0;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "token", piece);
        cJSON_AddNumberToObject(o, "logprob", lp->logprob);
        cJSON *top = cJSON_AddArrayToObject(o, "top_logprobs");
        for (int k = 0; k < lp->n_top; k++) {
            char p2[256];
            int32_t m2 = ig_token_to_piece(sm->m, lp->top[k], p2, sizeof p2 - 1, true);
            p2[m2 > 0 ? m2 : 0] = 0;
            cJSON *t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "token", p2);
            cJSON_AddNumberToObject(t, "logprob", lp->top_lp[k]);
            cJSON_AddItemToArray(top, t);
        }
        cJSON_AddItemToArray(content, o);
    }
    if (!chat) return content;
    cJSON *w = cJSON_CreateObject();
    cJSON_AddItemToObject(w, "content", content);
    return w;
}

static const char *finish_of(const struct sv_req *r) {
    return r->finish && !strcmp(r->finish, "length") ? "length" : "stop";
}

static cJSON *usage(const struct sv_req *r) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", r->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", r->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", r->n_prompt + r->n_gen);
    return u;
}

static cJSON *openai_head(const struct reqinfo *ri, bool chunk) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", ri->id);
    cJSON_AddStringToObject(o, "object", ri->api == OPENAI_CHAT ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                                                 : "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)ri->created);
    cJSON_AddStringToObject(o, "model", ri->model);
    cJSON_AddStringToObject(o, "system_fingerprint", "ingot-" IG_VERSION);
    return o;
}

static void ollama_timings(cJSON *o, const struct sv_req *r, const struct reqinfo *ri) {
    int64_t end = r->t_end ? r->t_end : ig_time_us(), pe = r->t_prompt_end ? r->t_prompt_end : end;
    cJSON_AddNumberToObject(o, "total_duration", (double)(end - r->t_submit + ri->load_us) * 1000.0);
    cJSON_AddNumberToObject(o, "load_duration", (double)ri->load_us * 1000.0);
    cJSON_AddNumberToObject(o, "prompt_eval_count", r->n_prompt);
    cJSON_AddNumberToObject(o, "prompt_eval_duration", (double)(pe - r->t_submit) * 1000.0);
    cJSON_AddNumberToObject(o, "eval_count", r->n_gen);
    cJSON_AddNumberToObject(o, "eval_duration", (double)(end - pe) * 1000.0);
}

static cJSON *ollama_head(const struct reqinfo *ri) {
    cJSON *o = cJSON_CreateObject();
    char t[40];
    iso_time(ri->created, t, sizeof t);
    cJSON_AddStringToObject(o, "model", ri->model);
    cJSON_AddStringToObject(o, "created_at", t);
    return o;
}

static void emit(struct sv_stream *st, const struct sv_chunk *c, bool final) {
    struct reqinfo *ri = st->user;
    struct sv_req *r = st->r;
    bool sse = ri->api == OPENAI_CHAT || ri->api == OPENAI_COMPLETION;
    if (ri->api == OPENAI_CHAT && st->next == 0 && !final && c) { /* the role comes first */
        cJSON *o = openai_head(ri, true);
        cJSON *ch = cJSON_AddArrayToObject(o, "choices"), *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "index", 0);
        cJSON *d = cJSON_AddObjectToObject(x, "delta");
        cJSON_AddStringToObject(d, "role", "assistant");
        cJSON_AddStringToObject(d, "content", "");
        cJSON_AddNullToObject(x, "finish_reason");
        cJSON_AddItemToArray(ch, x);
        sv_stream_json(st, o, true);
    }
    if (!final) {
        if (sse) {
            cJSON *o = openai_head(ri, true);
            cJSON *ch = cJSON_AddArrayToObject(o, "choices"), *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "index", 0);
            if (ri->api == OPENAI_CHAT) {
                cJSON *d = cJSON_AddObjectToObject(x, "delta");
                cJSON_AddStringToObject(d, "content", c->text);
            } else {
                cJSON_AddStringToObject(x, "text", c->text);
            }
            if (ri->want_logprobs) cJSON_AddItemToObject(x, "logprobs", logprobs_json(c, r->model, ri->api == OPENAI_CHAT));
            else cJSON_AddNullToObject(x, "logprobs");
            cJSON_AddNullToObject(x, "finish_reason");
            cJSON_AddItemToArray(ch, x);
            sv_stream_json(st, o, true);
        } else {
            cJSON *o = ollama_head(ri);
            if (ri->api == OLLAMA_CHAT) {
                cJSON *m = cJSON_AddObjectToObject(o, "message");
                cJSON_AddStringToObject(m, "role", "assistant");
                cJSON_AddStringToObject(m, "content", c->text);
            } else {
                cJSON_AddStringToObject(o, "response", c->text);
            }
            cJSON_AddFalseToObject(o, "done");
            sv_stream_json(st, o, false);
        }
        return;
    }
    if (r->finish && !strcmp(r->finish, "error")) { /* tell the client in the stream's own format */
        cJSON *o = cJSON_CreateObject();
        if (sse) {
            cJSON *e = cJSON_AddObjectToObject(o, "error");
            cJSON_AddStringToObject(e, "message", r->error[0] ? r->error : "generation failed");
            cJSON_AddStringToObject(e, "type", "server_error");
        } else {
            cJSON_AddStringToObject(o, "error", r->error[0] ? r->error : "generation failed");
        }
        sv_stream_json(st, o, sse);
    } else if (sse) {
        cJSON *o = openai_head(ri, true);
        cJSON *ch = cJSON_AddArrayToObject(o, "choices"), *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "index", 0);
        if (ri->api == OPENAI_CHAT) cJSON_AddObjectToObject(x, "delta");
        else cJSON_AddStringToObject(x, "text", "");
        cJSON_AddNullToObject(x, "logprobs");
        cJSON_AddStringToObject(x, "finish_reason", finish_of(r));
        cJSON_AddItemToArray(ch, x);
        sv_stream_json(st, o, true);
        if (ri->include_usage) {
            cJSON *u = openai_head(ri, true);
            cJSON_AddArrayToObject(u, "choices");
            cJSON_AddItemToObject(u, "usage", usage(r));
            sv_stream_json(st, u, true);
        }
    } else {
        cJSON *o = ollama_head(ri);
        if (ri->api == OLLAMA_CHAT) {
            cJSON *m = cJSON_AddObjectToObject(o, "message");
            cJSON_AddStringToObject(m, "role", "assistant");
            cJSON_AddStringToObject(m, "content", "");
        } else {
            cJSON_AddStringToObject(o, "response", "");
        }
        cJSON_AddTrueToObject(o, "done");
        cJSON_AddStringToObject(o, "done_reason", finish_of(r));
        if (ri->api == OLLAMA_GENERATE) cJSON_AddArrayToObject(o, "context");
        ollama_timings(o, r, ri);
        sv_stream_json(st, o, false);
    }
    if (sse) sv_stream_put(st, "data: [DONE]\n\n", 14);
}

/* Non-streaming: wait (noticing a client that leaves), then one JSON. */
static int respond_whole(struct sv_http *h, struct sv_req *r, struct reqinfo *ri) {
    for (int i = 0;;) {
        bool timed_out;
        if (sv_req_wait_chunk(r, i, 200, &timed_out, NULL)) {
            i++;
            continue;
        }
        if (!timed_out) break;
        if (sv_client_gone(h)) {
            atomic_store(&r->cancelled, true);
            return MHD_NO;
        }
    }
    if (r->finish && !strcmp(r->finish, "error"))
        return sv_send_error(h, 500, "%s", r->error[0] ? r->error : "generation failed");
    size_t len = 0;
    for (int i = 0; i < r->n_chunks; i++) len += r->chunks[i].len;
    char *text = malloc(len + 1);
    if (!text) return sv_send_error(h, 500, "out of memory");
    len = 0;
    for (int i = 0; i < r->n_chunks; i++) memcpy(text + len, r->chunks[i].text, r->chunks[i].len), len += r->chunks[i].len;
    text[len] = 0;
    cJSON *o;
    if (ri->api == OPENAI_CHAT || ri->api == OPENAI_COMPLETION) {
        o = openai_head(ri, false);
        cJSON *ch = cJSON_AddArrayToObject(o, "choices"), *x = cJSON_CreateObject();
        cJSON_AddNumberToObject(x, "index", 0);
        if (ri->api == OPENAI_CHAT) {
            cJSON *m = cJSON_AddObjectToObject(x, "message");
            cJSON_AddStringToObject(m, "role", "assistant");
            cJSON_AddStringToObject(m, "content", text);
        } else {
            cJSON_AddStringToObject(x, "text", text);
        }
        if (ri->want_logprobs) {
            struct sv_chunk all = {NULL, 0, 0, NULL};
            for (int i = 0; i < r->n_chunks; i++) all.n_lp += r->chunks[i].n_lp;
            all.lp = malloc((size_t)(all.n_lp + 1) * sizeof *all.lp);
            int k = 0;
            for (int i = 0; all.lp && i < r->n_chunks; i++)
                for (int j = 0; j < r->chunks[i].n_lp; j++) all.lp[k++] = r->chunks[i].lp[j];
            all.n_lp = all.lp ? k : 0;
            cJSON_AddItemToObject(x, "logprobs", logprobs_json(&all, r->model, ri->api == OPENAI_CHAT));
            free(all.lp);
        } else {
            cJSON_AddNullToObject(x, "logprobs");
        }
        cJSON_AddStringToObject(x, "finish_reason", finish_of(r));
        cJSON_AddItemToArray(ch, x);
        cJSON_AddItemToObject(o, "usage", usage(r));
    } else {
        o = ollama_head(ri);
        if (ri->api == OLLAMA_CHAT) {
            cJSON *m = cJSON_AddObjectToObject(o, "message");
            cJSON_AddStringToObject(m, "role", "assistant");
            cJSON_AddStringToObject(m, "content", text);
        } else {
            cJSON_AddStringToObject(o, "response", text);
        }
        cJSON_AddTrueToObject(o, "done");
        cJSON_AddStringToObject(o, "done_reason", finish_of(r));
        if (ri->api == OLLAMA_GENERATE) cJSON_AddArrayToObject(o, "context");
        ollama_timings(o, r, ri);
    }
    free(text);
    return sv_send_json(h, 200, o);
}

/* ------------------------------------------------------------ generation endpoints */

static int generate(struct sv_http *h, enum api api, const char *body, size_t len) {
    char msg[1024] = "";
    cJSON *b = cJSON_ParseWithLength(body, len);
    if (!b) return sv_send_error(h, 400, "the body is not valid JSON");
    if (!cJSON_IsObject(b)) {
        cJSON_Delete(b);
        return sv_send_error(h, 400, "the body must be a JSON object");
    }
    static const char *const k_chat[] = {"model", "messages", "stream", "temperature", "top_p", "max_tokens",
                                         "max_completion_tokens", "stop", "seed", "n", "presence_penalty",
                                         "frequency_penalty", "logprobs", "top_logprobs", "response_format", "user",
                                         "stream_options", "tools", "tool_choice", "store", "metadata", NULL};
    static const char *const k_compl[] = {"model", "prompt", "stream", "temperature", "top_p", "max_tokens", "stop",
                                          "seed", "n", "presence_penalty", "frequency_penalty", "logprobs", "echo",
                                          "user", "stream_options", "suffix", "best_of", NULL};
    static const char *const k_gen[] = {"model", "prompt", "suffix", "system", "template", "context", "stream", "raw",
                                        "format", "options", "keep_alive", "images", "think", NULL};
    static const char *const k_ochat[] = {"model", "messages", "tools", "stream", "format", "options", "keep_alive",
                                          "think", NULL};
    const char *const *known = api == OPENAI_CHAT ? k_chat : api == OPENAI_COMPLETION ? k_compl
                               : api == OLLAMA_GENERATE ? k_gen : k_ochat;
    const char *bad = check_fields(b, known);
    if (bad) {
        int r = sv_send_error(h, 400, "unknown field '%s'", bad);
        cJSON_Delete(b);
        return r;
    }
    const char *model = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "model"));
    if (!model || !*model) {
        cJSON_Delete(b);
        return sv_send_error(h, 400, "'model' (a string) is required");
    }
    struct opts op;
    bool ollama = api == OLLAMA_GENERATE || api == OLLAMA_CHAT;
    opts_init(&op, ollama);
    bool ok = ollama ? ollama_opts(b, &op, msg, sizeof msg) : openai_opts(b, &op, api == OPENAI_CHAT, msg, sizeof msg);
    cJSON *messages = NULL;
    const char *prompt = NULL, *system = NULL;
    if (ok && (api == OPENAI_CHAT || api == OLLAMA_CHAT)) {
        messages = check_messages(cJSON_GetObjectItemCaseSensitive(b, "messages"), msg, sizeof msg);
        ok = messages != NULL;
    } else if (ok) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "prompt");
        if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1) p = cJSON_GetArrayItem(p, 0);
        if (!cJSON_IsString(p) && !(ollama && !p)) {
            snprintf(msg, sizeof msg, "'prompt' must be a string");
            ok = false;
        } else {
            prompt = p ? p->valuestring : "";
            if (!utf8_ok(prompt)) snprintf(msg, sizeof msg, "'prompt' is not valid UTF-8"), ok = false;
        }
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(b, "system");
        if (s && !cJSON_IsString(s)) snprintf(msg, sizeof msg, "'system' must be a string"), ok = false;
        system = cJSON_GetStringValue(s);
    }
    if (!ok) {
        opts_free(&op);
        cJSON_Delete(messages);
        cJSON_Delete(b);
        return sv_send_error(h, 400, "%s", msg);
    }
    /* Ollama: an empty generate request only loads the model */
    int status = 0;
    int64_t t0 = ig_time_us();
    struct sv_model *sm = sv_model_get(model, msg, sizeof msg, &status);
    int64_t load_us = ig_time_us() - t0;
    if (!sm) {
        int r = status == 404 ? sv_send_error(h, 404, "model '%s' not found: %s", model, msg)
                              : sv_send_error(h, status, "%s", msg);
        opts_free(&op);
        cJSON_Delete(messages);
        cJSON_Delete(b);
        return r;
    }
    if (op.have_keep_alive) sv_set_keep_alive(sm, op.keep_alive);
    if (api == OLLAMA_GENERATE && prompt && !*prompt && !system) {
        cJSON *o = cJSON_CreateObject();
        char t[40];
        iso_time(time(NULL), t, sizeof t);
        cJSON_AddStringToObject(o, "model", model);
        cJSON_AddStringToObject(o, "created_at", t);
        cJSON_AddStringToObject(o, "response", "");
        cJSON_AddTrueToObject(o, "done");
        cJSON_AddStringToObject(o, "done_reason", op.have_keep_alive && op.keep_alive == 0 ? "unload" : "load");
        sv_model_put(sm);
        opts_free(&op);
        cJSON_Delete(b);
        return sv_send_json(h, 200, o);
    }
    struct sv_req *r = sv_req_new();
    int n_ctx = sm->ctx_per_seq;
    if (op.num_ctx > 0) n_ctx = (int)IG_MIN(op.num_ctx, (long)sm->ctx_per_seq);
    r->n_prompt = build_prompt(sm, messages, prompt, system, cJSON_GetObjectItemCaseSensitive(b, "tools"), op.raw,
                               &r->prompt, msg, sizeof msg);
    cJSON_Delete(messages);
    int ret;
    if (r->n_prompt < 0) {
        ret = sv_send_error(h, 400, "%s", msg);
        goto out;
    }
    if (r->n_prompt >= n_ctx) {
        ret = sv_send_error(h, 400, "the prompt is %d tokens but the context holds %d", r->n_prompt, n_ctx);
        goto out;
    }
    if (op.max_tokens >= 0 && r->n_prompt + op.max_tokens > n_ctx && !ollama) {
        ret = sv_send_error(h, 400, "the prompt (%d tokens) plus max_tokens (%ld) exceed the context of %d tokens",
                            r->n_prompt, op.max_tokens, n_ctx);
        goto out;
    }
    r->sp = op.sp;
    r->presence = op.presence;
    r->frequency = op.frequency;
    r->max_tokens = (int32_t)op.max_tokens;
    r->n_ctx = n_ctx;
    r->top_logprobs = op.top_logprobs;
    r->json = op.json;
    for (int i = 0; i < op.n_stop; i++) r->stops[i] = op.stops[i], op.stops[i] = NULL;
    r->n_stop = op.n_stop;
    if (!sv_submit(sm, r)) {
        ret = sv_send_error(h, 503, "the server is busy (the queue is full); retry shortly");
        goto out;
    }
    struct reqinfo *ri = calloc(1, sizeof *ri);
    ri->api = api;
    snprintf(ri->id, sizeof ri->id, "%s-%08lx%08lx", api == OPENAI_CHAT ? "chatcmpl" : "cmpl", (long)time(NULL) & 0xffffffff,
             (long)atomic_fetch_add(&g_ids, 1));
    snprintf(ri->model, sizeof ri->model, "%s", model);
    ri->created = time(NULL);
    ri->include_usage = op.include_usage;
    ri->want_logprobs = op.top_logprobs >= 0;
    ri->load_us = load_us;
    if (op.stream) {
        struct sv_stream *st = calloc(1, sizeof *st);
        st->r = r;
        st->model = sm;
        st->emit = emit;
        st->user = ri;
        opts_free(&op);
        cJSON_Delete(b);
        return sv_send_stream(h, st, ollama ? "application/x-ndjson" : "text/event-stream");
    }
    ret = respond_whole(h, r, ri);
    free(ri);
out:
    sv_req_release(r);
    sv_model_put(sm);
    opts_free(&op);
    cJSON_Delete(b);
    return ret;
}

/* ------------------------------------------------------------ other endpoints */

static cJSON *details(const char *format, const char *arch, int64_t params, const char *quant) {
    cJSON *d = cJSON_CreateObject();
    char ps[32];
    double p = (double)params;
    snprintf(ps, sizeof ps, p >= 1e9 ? "%.1fB" : "%.0fM", p >= 1e9 ? p / 1e9 : p / 1e6);
    cJSON_AddStringToObject(d, "format", format);
    cJSON_AddStringToObject(d, "family", arch);
    cJSON *fam = cJSON_AddArrayToObject(d, "families");
    cJSON_AddItemToArray(fam, cJSON_CreateString(arch));
    cJSON_AddStringToObject(d, "parameter_size", ps);
    cJSON_AddStringToObject(d, "quantization_level", quant);
    return d;
}

/* Names /api/chat accepts for each cached model. */
static void entry_name(const struct ig_store_entry *e, char *buf, size_t len) {
    if (e->file[0]) {
        size_t fl = strlen(e->file);
        snprintf(buf, len, "%s:%.*s", e->name, (int)(fl > 5 ? fl - 5 : fl), e->file);
    } else {
        snprintf(buf, len, "%s", e->name);
    }
}

static int tags(struct sv_http *h, bool openai) {
    struct ig_store_entry *e;
    char err[512];
    int32_t n = ig_store_list(&e, err, sizeof err);
    if (n < 0) return sv_send_error(h, 500, "%s", err);
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, openai ? "data" : "models");
    if (openai) cJSON_AddStringToObject(o, "object", "list");
    for (int32_t i = 0; i < n; i++) {
        if (e[i].problem[0]) continue; /* only what can run */
        char name[600], t[40];
        entry_name(&e[i], name, sizeof name);
        cJSON *m = cJSON_CreateObject();
        if (openai) {
            cJSON_AddStringToObject(m, "id", name);
            cJSON_AddStringToObject(m, "object", "model");
            cJSON_AddNumberToObject(m, "created", (double)e[i].mtime);
            cJSON_AddStringToObject(m, "owned_by", "ingot");
        } else {
            iso_time(e[i].mtime, t, sizeof t);
            cJSON_AddStringToObject(m, "name", name);
            cJSON_AddStringToObject(m, "model", name);
            cJSON_AddStringToObject(m, "modified_at", t);
            cJSON_AddNumberToObject(m, "size", (double)e[i].bytes);
            cJSON_AddStringToObject(m, "digest", "");
            cJSON_AddItemToObject(m, "details", details(e[i].format, e[i].arch, e[i].n_params, e[i].quant));
        }
        cJSON_AddItemToArray(arr, m);
    }
    /* loaded models given by path are listed too */
    for (struct sv_model *sm = sv_models_lock(); sm; sm = sm->next) {
        bool seen = false;
        for (cJSON *x = arr->child; x && !seen; x = x->next)
            seen = !strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, openai ? "id" : "name")), sm->name);
        if (seen) continue;
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, openai ? "id" : "name", sm->name);
        if (openai) {
            cJSON_AddStringToObject(m, "object", "model");
            cJSON_AddNumberToObject(m, "created", (double)time(NULL));
            cJSON_AddStringToObject(m, "owned_by", "ingot");
        } else {
            cJSON_AddStringToObject(m, "model", sm->name);
            cJSON_AddItemToObject(m, "details", details("gguf", sm->info.arch, sm->info.n_params, sm->info.weight_type));
        }
        cJSON_AddItemToArray(arr, m);
    }
    sv_models_unlock();
    free(e);
    return sv_send_json(h, 200, o);
}

static int ps(struct sv_http *h) {
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "models");
    for (struct sv_model *sm = sv_models_lock(); sm; sm = sm->next) {
        if (sm->stop) continue;
        cJSON *m = cJSON_CreateObject();
        char t[40];
        int64_t now_unix = time(NULL);
        iso_time(now_unix + (sm->expires_us - ig_time_us()) / 1000000, t, sizeof t);
        cJSON_AddStringToObject(m, "name", sm->name);
        cJSON_AddStringToObject(m, "model", sm->name);
        cJSON_AddNumberToObject(m, "size", (double)sm->info.n_bytes);
        cJSON_AddStringToObject(m, "digest", "");
        cJSON_AddItemToObject(m, "details", details("gguf", sm->info.arch, sm->info.n_params, sm->info.weight_type));
        cJSON_AddStringToObject(m, "expires_at", t);
        cJSON_AddNumberToObject(m, "size_vram", !strncmp(ig_ctx_backend(sm->c), "cuda", 4) ? (double)sm->info.n_bytes : 0);
        cJSON_AddNumberToObject(m, "context_length", sm->ctx_per_seq);
        cJSON_AddItemToArray(arr, m);
    }
    sv_models_unlock();
    return sv_send_json(h, 200, o);
}

static int show(struct sv_http *h, const char *body, size_t len) {
    cJSON *b = cJSON_ParseWithLength(body, len);
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "model"));
    if (!name) name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(b, "name"));
    if (!b || !name) {
        cJSON_Delete(b);
        return sv_send_error(h, 400, "'model' (a string) is required");
    }
    struct ig_model_params mp = ig_model_default_params();
    mp.vocab_only = false;
    struct ig_model *m;
    char err[512];
    enum ig_status st = ig_model_load(name, &mp, &m, err, sizeof err);
    if (st != IG_OK) {
        int r = sv_send_error(h, st == IG_ERR_NOT_FOUND || st == IG_ERR_IO ? 404 : 400, "model '%s': %s", name, err);
        cJSON_Delete(b);
        return r;
    }
    struct ig_model_info in;
    ig_model_get_info(m, &in);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "modelfile", "");
    cJSON_AddStringToObject(o, "parameters", "");
    const char *tmpl = ig_chat_template(m);
    cJSON_AddStringToObject(o, "template", tmpl ? tmpl : "");
    cJSON_AddItemToObject(o, "details", details("gguf", in.arch, in.n_params, in.weight_type));
    cJSON *mi = cJSON_AddObjectToObject(o, "model_info");
    char k[96];
    cJSON_AddStringToObject(mi, "general.architecture", in.arch);
    cJSON_AddNumberToObject(mi, "general.parameter_count", (double)in.n_params);
    snprintf(k, sizeof k, "%s.context_length", in.arch);
    cJSON_AddNumberToObject(mi, k, in.n_ctx_train);
    snprintf(k, sizeof k, "%s.embedding_length", in.arch);
    cJSON_AddNumberToObject(mi, k, in.n_embd);
    snprintf(k, sizeof k, "%s.block_count", in.arch);
    cJSON_AddNumberToObject(mi, k, in.n_layer);
    cJSON *caps = cJSON_AddArrayToObject(o, "capabilities");
    cJSON_AddItemToArray(caps, cJSON_CreateString("completion"));
    ig_model_free(m);
    cJSON_Delete(b);
    return sv_send_json(h, 200, o);
}

static int metrics(struct sv_http *h) {
    char buf[2048];
    long q = 0;
    for (struct sv_model *sm = sv_models_lock(); sm; sm = sm->next) q += sm->q_n;
    sv_models_unlock();
    long tc = atomic_load(&sv_metrics.ttft_count), gt = atomic_load(&sv_metrics.gen_tokens);
    double gen_s = (double)atomic_load(&sv_metrics.gen_us_sum) / 1e6;
    int n = snprintf(buf, sizeof buf,
                     "# HELP ingot_requests_total HTTP requests received.\n# TYPE ingot_requests_total counter\n"
                     "ingot_requests_total %ld\n"
                     "# HELP ingot_request_errors_total Requests answered with an error status.\n"
                     "# TYPE ingot_request_errors_total counter\ningot_request_errors_total %ld\n"
                     "# HELP ingot_prompt_tokens_total Prompt tokens processed.\n"
                     "# TYPE ingot_prompt_tokens_total counter\ningot_prompt_tokens_total %ld\n"
                     "# HELP ingot_generated_tokens_total Tokens generated.\n"
                     "# TYPE ingot_generated_tokens_total counter\ningot_generated_tokens_total %ld\n"
                     "# HELP ingot_active_sequences Requests generating now.\n"
                     "# TYPE ingot_active_sequences gauge\ningot_active_sequences %ld\n"
                     "# HELP ingot_queue_depth Requests waiting for a free sequence.\n"
                     "# TYPE ingot_queue_depth gauge\ningot_queue_depth %ld\n"
                     "# HELP ingot_time_to_first_token_seconds Time from submission to the first token.\n"
                     "# TYPE ingot_time_to_first_token_seconds summary\n"
                     "ingot_time_to_first_token_seconds_sum %.6f\ningot_time_to_first_token_seconds_count %ld\n"
                     "# HELP ingot_tokens_per_second Generated tokens per second of decode time.\n"
                     "# TYPE ingot_tokens_per_second gauge\ningot_tokens_per_second %.3f\n",
                     atomic_load(&sv_metrics.requests), atomic_load(&sv_metrics.errors),
                     atomic_load(&sv_metrics.prompt_tokens), gt, atomic_load(&sv_metrics.active), q,
                     (double)atomic_load(&sv_metrics.ttft_us_sum) / 1e6, tc, gen_s > 0 ? (double)gt / gen_s : 0.0);
    return sv_send_text(h, 200, "text/plain; version=0.0.4", buf, (size_t)n);
}

int sv_handle(struct sv_http *h, const char *method, const char *url, const char *body, size_t len) {
    bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    if (post && !strcmp(url, "/v1/chat/completions")) return generate(h, OPENAI_CHAT, body, len);
    if (post && !strcmp(url, "/v1/completions")) return generate(h, OPENAI_COMPLETION, body, len);
    if (post && !strcmp(url, "/api/generate")) return generate(h, OLLAMA_GENERATE, body, len);
    if (post && !strcmp(url, "/api/chat")) return generate(h, OLLAMA_CHAT, body, len);
    if (get && !strcmp(url, "/v1/models")) return tags(h, true);
    if (get && !strcmp(url, "/api/tags")) return tags(h, false);
    if (get && !strcmp(url, "/api/ps")) return ps(h);
    if (post && !strcmp(url, "/api/show")) return show(h, body, len);
    if (get && !strcmp(url, "/api/version")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "version", IG_VERSION);
        return sv_send_json(h, 200, o);
    }
    if (get && !strcmp(url, "/health")) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "status", "ok");
        return sv_send_json(h, 200, o);
    }
    if (get && !strcmp(url, "/metrics")) return metrics(h);
    if (get && !strcmp(url, "/")) return sv_send_text(h, 200, "text/plain", "ingot is running", 16);
    bool known = !strcmp(url, "/v1/chat/completions") || !strcmp(url, "/v1/completions") || !strcmp(url, "/api/generate") ||
                 !strcmp(url, "/api/chat") || !strcmp(url, "/v1/models") || !strcmp(url, "/api/tags") ||
                 !strcmp(url, "/api/show") || !strcmp(url, "/api/ps");
    if (known) return sv_send_error(h, 405, "%s is not allowed on %s", method, url);
    return sv_send_error(h, 404, "no endpoint %s %s", method, url);
}
