/* cmd_run.c - `ingot run MODEL [PROMPT]`: one answer (or a raw continuation)
 * streamed to stdout, stats on stderr; no prompt on a terminal starts chat. */
#define _POSIX_C_SOURCE 200809L
#include "session.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The prompt as the model should see it: the chat template around a user
 * message (and --system), unless --raw or the model has none. */
static char *build_prompt(struct session *s, const struct run_opts *o, const char *prompt, bool *templated) {
    *templated = false;
    if (o->raw || !ig_chat_template(s->m) || !*prompt) {
        if (o->system && !o->raw) fprintf(stderr, "ingot: warn: --system ignored: the model has no chat template\n");
        return strdup(prompt);
    }
    cJSON *msgs = cJSON_CreateArray();
    if (o->system) {
        cJSON *sm = cJSON_CreateObject();
        cJSON_AddStringToObject(sm, "role", "system");
        cJSON_AddStringToObject(sm, "content", o->system);
        cJSON_AddItemToArray(msgs, sm);
    }
    cJSON *um = cJSON_CreateObject();
    cJSON_AddStringToObject(um, "role", "user");
    cJSON_AddStringToObject(um, "content", prompt);
    cJSON_AddItemToArray(msgs, um);
    char *js = cJSON_PrintUnformatted(msgs), *out = NULL, err[512];
    cJSON_Delete(msgs);
    if (js && ig_chat_render(s->m, js, NULL, true, &out, err, sizeof err) != IG_OK) {
        die("%s (use --raw to skip the chat template)", err);
        out = NULL;
    } else {
        *templated = true;
    }
    free(js);
    return out;
}

int cmd_run(int argc, char **argv) {
    struct run_opts o;
    int r = run_parse(argc, argv, &o, false);
    if (r >= 0) return r;
    char *prompt = NULL;
    size_t prompt_len = 0;
    if (o.prompt) {
        prompt = strdup(o.prompt);
    } else if (!isatty(STDIN_FILENO)) {
        prompt = read_all(stdin, &prompt_len);
    } else {
        return cmd_chat_opts(&o);
    }
    if (!prompt) return die("out of memory reading the prompt");

    int rc = 1;
    struct session s;
    char *text = NULL;
    ig_token *toks = NULL;
    if (!session_open(&s, &o)) goto done;
    bool templated;
    if (!(text = build_prompt(&s, &o, prompt, &templated))) goto done;
    int32_t n = session_tokenize(&s, text, strlen(text), templated, &toks);
    if (n < 0) goto done;
    if (n == 0) { /* nothing to condition on: start from BOS */
        if (s.info.bos < 0) {
            die("the prompt is empty and the model has no start-of-text token");
            goto done;
        }
        toks[n++] = s.info.bos;
    }
    if (n >= ig_ctx_n_ctx(s.c)) {
        die("the prompt is %d tokens but the context holds %d; use a larger --ctx or a shorter prompt", n,
            ig_ctx_n_ctx(s.c));
        goto done;
    }
    if (o.verbose) fprintf(stderr, "ingot: prompt is %d tokens%s\n", n, templated ? " (chat template)" : "");
    int64_t t_prompt;
    if (session_feed(&s, toks, n, &t_prompt) < 0) goto done;
    struct gen_stats gs;
    if (!session_generate(&s, &o, NULL, &gs, NULL)) goto done;
    if (isatty(STDOUT_FILENO)) fputc('\n', stdout);
    fprintf(stderr, "load %.2f s | prompt %d tok, %.1f tok/s | gen %d tok, %.1f tok/s | stop: %s\n",
            (double)s.t_load_us / 1e6, n, t_prompt > 0 ? n * 1e6 / (double)t_prompt : 0.0, gs.n_gen,
            gs.us > 0 ? gs.n_gen * 1e6 / (double)gs.us : 0.0, gs.why);
    rc = 0;
done:
    free(prompt);
    free(text);
    free(toks);
    session_close(&s);
    return rc;
}
