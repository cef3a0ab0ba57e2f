/* cmd_show.c - `ingot show MODEL [--json]`: what the model is, from its
 * metadata, without loading the weights into any backend. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

static void show_usage(FILE *f) {
    fprintf(f,
            "usage: ingot show MODEL [--json] [--tensors] [--template]\n"
            "\n"
            "Prints where the model is, whether ingot can run it (and if not, why), its\n"
            "architecture, parameter count, dimensions, context length, weight types,\n"
            "tokenizer, chat template and, for a folder, its files. MODEL is a GGUF file,\n"
            "a Hugging Face folder or a model name (see `ingot pull --help`).\n"
            "  --json      one JSON object, for scripts\n"
            "  --tensors   also list every tensor\n"
            "  --template  also print the chat template\n");
}

/* A folder's files (name and size): into o["files"] or printed. */
static void add_files(cJSON *o, const char *path, bool json) {
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) return;
    DIR *d = opendir(path);
    cJSON *arr = json ? cJSON_AddArrayToObject(o, "files") : NULL;
    if (!json) printf("  files\n");
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.') continue;
        char p[4600];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        struct stat st;
        bool ok = stat(p, &st) == 0;
        if (json) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "name", e->d_name);
            if (ok) cJSON_AddNumberToObject(f, "size", (double)st.st_size);
            else cJSON_AddStringToObject(f, "problem", "broken link");
            cJSON_AddItemToArray(arr, f);
        } else if (ok) {
            printf("    %-40s %12.1f KiB\n", e->d_name, (double)st.st_size / 1024.0);
        } else {
            printf("    %-40s (broken link: run `ingot list --health`)\n", e->d_name);
        }
    }
    if (d) closedir(d);
}

static void fmt_count(int64_t n, char *buf, size_t len) {
    if (n >= 1000000000) snprintf(buf, len, "%.2fB", (double)n / 1e9);
    else if (n >= 1000000) snprintf(buf, len, "%.1fM", (double)n / 1e6);
    else if (n >= 1000) snprintf(buf, len, "%.1fK", (double)n / 1e3);
    else snprintf(buf, len, "%lld", (long long)n);
}

int cmd_show(int argc, char **argv) {
    const char *path = NULL;
    bool json = false, tensors = false, template = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--tensors")) tensors = true;
        else if (!strcmp(argv[i], "--template")) template = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            show_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            die("unknown flag '%s' for show (see `ingot show --help`)", argv[i]);
            return 2;
        } else if (!path) path = argv[i];
        else {
            die("unexpected argument '%s'", argv[i]);
            return 2;
        }
    }
    if (!path) {
        show_usage(stderr);
        return 2;
    }
    char err[512], resolved[4096];
    struct ig_model *m = NULL;
    if (ig_store_resolve(path, resolved, sizeof resolved, err, sizeof err) != IG_OK) return die("%s", err);
    struct stat sb;
    if (stat(resolved, &sb) != 0) return die("%s: cannot open: %s", resolved, strerror(errno));
    if (ig_model_load(resolved, NULL, &m, err, sizeof err) != IG_OK) {
        /* it exists but ingot cannot run it: say what it is and why */
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "path", resolved);
            cJSON_AddBoolToObject(o, "runnable", false);
            cJSON_AddStringToObject(o, "problem", err);
            add_files(o, resolved, true);
            char *js = cJSON_Print(o);
            if (js) puts(js);
            free(js);
            cJSON_Delete(o);
        } else {
            printf("  path                %s\n", resolved);
            printf("  runnable            no: %s\n", err);
            add_files(NULL, resolved, false);
        }
        return 0;
    }
    struct ig_model_info in;
    ig_model_get_info(m, &in);

    /* weight types: tensor count per type */
    const char *types[32];
    int counts[32], n_types = 0;
    for (int32_t i = 0; i < ig_model_n_tensors(m); i++) {
        struct ig_tensor_info ti;
        ig_model_tensor(m, i, &ti);
        int k = 0;
        while (k < n_types && strcmp(types[k], ti.type)) k++;
        if (k == n_types && n_types < 32) types[n_types] = ti.type, counts[n_types++] = 0;
        if (k < n_types) counts[k]++;
    }

    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", resolved);
        cJSON_AddBoolToObject(o, "runnable", true);
        cJSON_AddStringToObject(o, "architecture", in.arch);
        cJSON_AddStringToObject(o, "name", in.name);
        cJSON_AddNumberToObject(o, "parameters", (double)in.n_params);
        cJSON_AddNumberToObject(o, "tensor_bytes", (double)in.n_bytes);
        cJSON_AddNumberToObject(o, "file_bytes", (double)in.file_size);
        cJSON_AddStringToObject(o, "weight_type", in.weight_type);
        cJSON *wt = cJSON_AddObjectToObject(o, "tensor_types");
        for (int k = 0; k < n_types; k++) cJSON_AddNumberToObject(wt, types[k], counts[k]);
        cJSON_AddNumberToObject(o, "context_length", in.n_ctx_train);
        cJSON_AddNumberToObject(o, "embedding_length", in.n_embd);
        cJSON_AddNumberToObject(o, "block_count", in.n_layer);
        cJSON_AddNumberToObject(o, "head_count", in.n_head);
        cJSON_AddNumberToObject(o, "head_count_kv", in.n_head_kv);
        cJSON_AddNumberToObject(o, "head_dim", in.head_dim);
        cJSON_AddNumberToObject(o, "feed_forward_length", in.n_ff);
        cJSON_AddNumberToObject(o, "rope_freq_base", in.rope_freq_base);
        cJSON_AddStringToObject(o, "rope_layout", in.rope_neox ? "neox" : "normal");
        cJSON_AddNumberToObject(o, "rms_norm_eps", in.norm_eps);
        cJSON_AddBoolToObject(o, "tied_embeddings", in.tied_embeddings);
        cJSON *tk = cJSON_AddObjectToObject(o, "tokenizer");
        cJSON_AddStringToObject(tk, "type", in.tokenizer);
        cJSON_AddStringToObject(tk, "pre", in.tokenizer_pre);
        cJSON_AddNumberToObject(tk, "vocab_size", in.n_vocab);
        cJSON_AddNumberToObject(tk, "bos", in.bos);
        cJSON_AddNumberToObject(tk, "eos", in.eos);
        cJSON_AddBoolToObject(tk, "add_bos", in.add_bos);
        cJSON_AddBoolToObject(o, "chat_template", in.has_chat_template);
        if (in.has_chat_template) cJSON_AddStringToObject(o, "chat_template_text", ig_chat_template(m));
        add_files(o, resolved, true);
        if (tensors) {
            cJSON *arr = cJSON_AddArrayToObject(o, "tensors");
            for (int32_t i = 0; i < ig_model_n_tensors(m); i++) {
                struct ig_tensor_info ti;
                ig_model_tensor(m, i, &ti);
                cJSON *t = cJSON_CreateObject();
                cJSON_AddStringToObject(t, "name", ti.name);
                cJSON_AddStringToObject(t, "type", ti.type);
                cJSON *sh = cJSON_AddArrayToObject(t, "shape");
                for (int d = 0; d < ti.n_dims; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)ti.ne[d]));
                cJSON_AddNumberToObject(t, "bytes", (double)ti.n_bytes);
                cJSON_AddItemToArray(arr, t);
            }
        }
        char *s = cJSON_Print(o);
        if (s) puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        char pc[32];
        fmt_count(in.n_params, pc, sizeof pc);
        printf("  path                %s\n", resolved);
        printf("  runnable            yes\n");
        printf("  architecture        %s\n", in.arch);
        if (in.name[0]) printf("  name                %s\n", in.name);
        printf("  parameters          %s\n", pc);
        printf("  file size           %.1f MiB\n", (double)in.file_size / (1024.0 * 1024.0));
        printf("  weight type         %s (", in.weight_type);
        for (int k = 0; k < n_types; k++) printf("%s%s x%d", k ? ", " : "", types[k], counts[k]);
        printf(")\n");
        printf("  context length      %d\n", in.n_ctx_train);
        printf("  embedding length    %d\n", in.n_embd);
        printf("  layers              %d\n", in.n_layer);
        printf("  heads / kv heads    %d / %d (head dim %d)\n", in.n_head, in.n_head_kv, in.head_dim);
        printf("  feed forward        %d\n", in.n_ff);
        printf("  rope                %s, base %g\n", in.rope_neox ? "neox" : "normal", in.rope_freq_base);
        printf("  embeddings          %s\n", in.tied_embeddings ? "tied" : "separate output");
        printf("  tokenizer           %s%s%s%s, %d tokens\n", in.tokenizer, in.tokenizer_pre[0] ? " (" : "",
               in.tokenizer_pre, in.tokenizer_pre[0] ? ")" : "", in.n_vocab);
        printf("  chat template       %s\n", in.has_chat_template ? "yes" : "no");
        if (in.has_chat_template && template) printf("\n%s\n", ig_chat_template(m));
        add_files(NULL, resolved, false);
        if (tensors) {
            printf("\n  tensors\n");
            for (int32_t i = 0; i < ig_model_n_tensors(m); i++) {
                struct ig_tensor_info ti;
                ig_model_tensor(m, i, &ti);
                printf("    %-32s %-5s [", ti.name, ti.type);
                for (int d = 0; d < ti.n_dims; d++) printf("%s%lld", d ? ", " : "", (long long)ti.ne[d]);
                printf("]\n");
            }
        }
    }
    ig_model_free(m);
    return 0;
}
