/* cmd_tokenize.c - `ingot tokenize MODEL`: text on stdin -> token ids, for
 * users debugging prompts and for tests. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static void tokenize_usage(FILE *f) {
    fprintf(f,
            "usage: ingot tokenize MODEL [--pieces] [--special] [--no-bos] [--json] < TEXT\n"
            "\n"
            "Reads text on stdin and prints its token ids on one line.\n"
            "MODEL is a GGUF file or a Hugging Face folder (a tokenizer.json alone is enough).\n"
            "  --pieces    one token per line: id, then the piece it stands for (JSON-quoted)\n"
            "  --special   text such as <|im_start|> becomes that special token\n"
            "  --no-bos    do not add the BOS token the model asks for\n"
            "  --json      a JSON array of ids (with --pieces: of {\"id\", \"piece\"} objects)\n");
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL;
    bool pieces = false, special = false, bos = true, json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--pieces")) pieces = true;
        else if (!strcmp(argv[i], "--special")) special = true;
        else if (!strcmp(argv[i], "--no-bos")) bos = false;
        else if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            tokenize_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            die("unknown flag '%s' for tokenize (see `ingot tokenize --help`)", argv[i]);
            return 2;
        } else if (!path) path = argv[i];
        else {
            die("unexpected argument '%s'", argv[i]);
            return 2;
        }
    }
    if (!path) {
        tokenize_usage(stderr);
        return 2;
    }
    struct ig_model_params mp = ig_model_default_params();
    mp.vocab_only = true;
    struct ig_model *m = NULL;
    char err[512];
    if (ig_model_load(path, &mp, &m, err, sizeof err) != IG_OK) return die("%s", err);
    size_t len;
    char *text = read_all(stdin, &len);
    if (!text || len > INT32_MAX / 2) {
        free(text);
        ig_model_free(m);
        return die("cannot read stdin (out of memory or over 1 GiB)");
    }
    int32_t cap = (int32_t)len + 8;
    ig_token *ids = malloc((size_t)cap * sizeof *ids);
    int32_t n = ids ? ig_tokenize(m, text, (int32_t)len, ids, cap, bos, special) : INT32_MIN;
    if (n < 0) {
        free(ids);
        free(text);
        ig_model_free(m);
        return die("tokenization failed (out of memory)");
    }
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    char buf[4096];
    for (int32_t i = 0; i < n; i++) {
        int32_t pl = ig_token_to_piece(m, ids[i], buf, sizeof buf - 1, true);
        if (pl < 0) pl = 0;
        buf[pl] = 0;
        if (json) {
            if (pieces) {
                cJSON *o = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "id", ids[i]);
                cJSON_AddStringToObject(o, "piece", buf);
                cJSON_AddItemToArray(arr, o);
            } else {
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
            }
        } else if (pieces) {
            cJSON *s = cJSON_CreateString(buf); /* quoted so spaces and newlines show */
            char *q = cJSON_PrintUnformatted(s);
            printf("%d\t%s\n", ids[i], q ? q : "");
            free(q);
            cJSON_Delete(s);
        } else {
            printf("%s%d", i ? " " : "", ids[i]);
        }
    }
    if (json) {
        char *out = cJSON_PrintUnformatted(arr);
        if (out) puts(out);
        free(out);
        cJSON_Delete(arr);
    } else if (!pieces) {
        putchar('\n');
    }
    free(ids);
    free(text);
    ig_model_free(m);
    return 0;
}
