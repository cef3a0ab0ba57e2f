/* cmd_render.c - `ingot render MODEL`: JSON messages on stdin -> the prompt
 * the model's chat template makes of them. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static void render_usage(FILE *f) {
    fprintf(f,
            "usage: ingot render MODEL [--no-generation-prompt] [--var NAME=JSON]... < MESSAGES\n"
            "\n"
            "Reads a conversation on stdin and prints the prompt the model's chat template\n"
            "makes of it, exactly as the model sees it. stdin holds either a JSON array of\n"
            "messages, [{\"role\": \"user\", \"content\": \"Hi\"}, ...], or an object\n"
            "{\"messages\": [...], \"tools\": [...], ...} whose other members become template\n"
            "variables.\n"
            "  --no-generation-prompt   leave off the header that opens the assistant's turn\n"
            "  --var NAME=JSON          set a template variable, e.g. --var enable_thinking=false\n");
}

int cmd_render(int argc, char **argv) {
    const char *path = NULL;
    bool gen_prompt = true;
    cJSON *vars = cJSON_CreateObject();
    int rc = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-generation-prompt")) gen_prompt = false;
        else if (!strcmp(argv[i], "--var")) {
            const char *v = arg_value(argc, argv, &i);
            const char *eq = v ? strchr(v, '=') : NULL;
            cJSON *j = eq ? cJSON_Parse(eq + 1) : NULL;
            if (!j) {
                cJSON_Delete(vars);
                return die("--var expects NAME=JSON (e.g. enable_thinking=false or name='\"text\"'), got '%s'",
                           v ? v : "");
            }
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(eq - v), v);
            cJSON_AddItemToObject(vars, name, j);
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            render_usage(stdout);
            cJSON_Delete(vars);
            return 0;
        } else if (argv[i][0] == '-') {
            cJSON_Delete(vars);
            die("unknown flag '%s' for render (see `ingot render --help`)", argv[i]);
            return 2;
        } else if (!path) path = argv[i];
        else {
            cJSON_Delete(vars);
            die("unexpected argument '%s'", argv[i]);
            return 2;
        }
    }
    if (!path) {
        render_usage(stderr);
        cJSON_Delete(vars);
        return 2;
    }
    struct ig_model_params mp = ig_model_default_params();
    mp.vocab_only = true;
    struct ig_model *m = NULL;
    char err[512];
    size_t len;
    char *in = NULL, *msgs = NULL, *vj = NULL, *out = NULL;
    cJSON *j = NULL;
    if (ig_model_load(path, &mp, &m, err, sizeof err) != IG_OK) {
        die("%s", err);
        goto done;
    }
    if (!(in = read_all(stdin, &len))) {
        die("cannot read stdin");
        goto done;
    }
    j = cJSON_ParseWithLength(in, len);
    if (cJSON_IsObject(j)) { /* {"messages": [...], other variables...} */
        cJSON *ms = cJSON_DetachItemFromObjectCaseSensitive(j, "messages");
        msgs = ms ? cJSON_PrintUnformatted(ms) : NULL;
        cJSON_Delete(ms);
        for (cJSON *x = j->child; x; x = x->next)
            if (!cJSON_GetObjectItemCaseSensitive(vars, x->string))
                cJSON_AddItemToObject(vars, x->string, cJSON_Duplicate(x, true));
        if (!msgs) {
            die("stdin: the object has no \"messages\" array");
            goto done;
        }
    } else if (cJSON_IsArray(j)) {
        msgs = cJSON_PrintUnformatted(j);
    } else {
        die("stdin is not JSON messages: give [{\"role\": \"user\", \"content\": \"...\"}] (see `ingot render --help`)");
        goto done;
    }
    vj = cJSON_PrintUnformatted(vars);
    if (ig_chat_render(m, msgs, vj, gen_prompt, &out, err, sizeof err) != IG_OK) {
        die("%s", err);
        goto done;
    }
    fputs(out, stdout);
    rc = 0;
done:
    free(out);
    free(vj);
    free(msgs);
    free(in);
    cJSON_Delete(j);
    cJSON_Delete(vars);
    ig_model_free(m);
    return rc;
}
