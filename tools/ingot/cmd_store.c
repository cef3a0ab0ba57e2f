/* cmd_store.c - `ingot pull | list | rm | import`: the models in the Hugging
 * Face hub cache, shared with huggingface-cli, mlx-lm and llama.cpp. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int g_cancel;
static void on_sigint(int sig) {
    (void)sig;
    g_cancel = 1;
}

static void human(double b, char *buf, size_t len) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) b /= 1024, i++;
    snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

struct bar {
    bool tty;
    char file[256];
    int last_pct;
    int64_t last_us;
};

static void progress(void *user, const char *file, int64_t done, int64_t total, double rate) {
    struct bar *b = user;
    if (strcmp(b->file, file)) {
        snprintf(b->file, sizeof b->file, "%s", file);
        b->last_pct = -1;
        b->last_us = 0;
        if (!b->tty) {
            char t[32];
            human((double)total, t, sizeof t);
            fprintf(stderr, "pulling %s (%s)\n", file, t);
        }
    }
    int pct = total > 0 ? (int)(100.0 * (double)done / (double)total) : 0;
    bool end = total >= 0 && done >= total;
    int64_t now = ig_time_us();
    if (b->tty) {
        if (!end && now - b->last_us < 100000) return; /* 10 updates a second */
        b->last_us = now;
        char d[32], t[32], r[32], eta[32] = "";
        human((double)done, d, sizeof d);
        human((double)total, t, sizeof t);
        human(rate, r, sizeof r);
        if (rate > 0 && total > done) snprintf(eta, sizeof eta, "  ETA %.0fs", (double)(total - done) / rate);
        int w = 30, fill = total > 0 ? (int)((double)w * (double)done / (double)total) : 0;
        char barbuf[64];
        for (int i = 0; i < w; i++) barbuf[i] = i < fill ? '#' : '-';
        barbuf[w] = 0;
        fprintf(stderr, "\r%-32.32s [%s] %3d%% %s/%s %s/s%s   ", file, barbuf, pct, d, t, r, eta);
        if (end) fputc('\n', stderr);
    } else if (end || pct / 25 > b->last_pct / 25) {
        if (end && b->last_pct == 100) return;
        fprintf(stderr, "  %s: %d%%\n", file, pct);
        b->last_pct = end ? 100 : pct;
    }
}

int cmd_pull(int argc, char **argv) {
    const char *name = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: ingot pull NAME\n"
                   "\n"
                   "Downloads a model into the Hugging Face cache ($HF_HUB_CACHE, $HF_HOME/hub or\n"
                   "~/.cache/huggingface/hub) from $HF_ENDPOINT (default https://huggingface.co),\n"
                   "with $HF_TOKEN for gated repos. NAME: ORG/NAME (a safetensors or MLX repo:\n"
                   "config, tokenizer and weights), ORG/NAME:QUANT (one GGUF file of a GGUF repo,\n"
                   "default Q4_K_M), or an alias such as llama3.2:1b or qwen2.5:0.5b.\n"
                   "Interrupted downloads resume; every file is checked against its hash.\n");
            return 0;
        } else if (argv[i][0] == '-') {
            die("unknown flag '%s' for pull", argv[i]);
            return 2;
        } else if (!name) name = argv[i];
        else return die("unexpected argument '%s'", argv[i]), 2;
    }
    if (!name) return die("usage: ingot pull NAME (see ingot pull --help)"), 2;
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    struct bar b = {isatty(STDERR_FILENO), "", -1, 0};
    struct ig_pull_params p = {0};
    p.progress = progress;
    p.user = &b;
    p.cancel = &g_cancel;
    char err[1024], path[4096];
    enum ig_status st = ig_store_pull(name, &p, path, sizeof path, err, sizeof err);
    if (st != IG_OK) {
        if (b.tty) fputc('\n', stderr);
        die("%s", err);
        return st == IG_ERR_INTERRUPTED ? 130 : 1;
    }
    fprintf(stderr, "ingot: %s is ready: %s\n", name, path);
    return 0;
}

static int cmp_name(const void *a, const void *b) {
    const struct ig_store_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->file, y->file);
}

int cmd_list(int argc, char **argv) {
    bool json = false, health = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = true;
        else if (!strcmp(argv[i], "--health")) health = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: ingot list [--json] [--health]\n"
                   "\n"
                   "Lists the models in the Hugging Face cache and the imported ones: name,\n"
                   "format, architecture, parameters, weight type, size, modified.\n"
                   "  --json     one JSON array, for scripts\n"
                   "  --health   check the cache: partial downloads, broken links, LFS pointer\n"
                   "             files instead of weights, missing shards; exit 1 if any\n");
            return 0;
        } else return die("unknown flag '%s' for list", argv[i]), 2;
    }
    if (health) {
        char **probs;
        int n = ig_store_health(&probs);
        for (int i = 0; i < n; i++) printf("%s\n", probs[i]), free(probs[i]);
        free(probs);
        if (!n) printf("the cache is healthy\n");
        return n ? 1 : 0;
    }
    struct ig_store_entry *e;
    char err[512];
    int32_t n = ig_store_list(&e, err, sizeof err);
    if (n < 0) return die("%s", err);
    qsort(e, (size_t)n, sizeof *e, cmp_name);
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        for (int32_t i = 0; i < n; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", e[i].name);
            cJSON_AddStringToObject(o, "file", e[i].file);
            cJSON_AddStringToObject(o, "path", e[i].path);
            cJSON_AddStringToObject(o, "format", e[i].format);
            cJSON_AddStringToObject(o, "architecture", e[i].arch);
            cJSON_AddStringToObject(o, "quantization", e[i].quant);
            cJSON_AddNumberToObject(o, "parameters", (double)e[i].n_params);
            cJSON_AddNumberToObject(o, "size", (double)e[i].bytes);
            cJSON_AddNumberToObject(o, "modified", (double)e[i].mtime);
            cJSON_AddBoolToObject(o, "imported", e[i].imported);
            if (e[i].problem[0]) cJSON_AddStringToObject(o, "problem", e[i].problem);
            cJSON_AddItemToArray(arr, o);
        }
        char *s = cJSON_Print(arr);
        if (s) puts(s);
        free(s);
        cJSON_Delete(arr);
        free(e);
        return 0;
    }
    printf("%-48s %-11s %-8s %8s %-10s %10s  %s\n", "NAME", "FORMAT", "ARCH", "PARAMS", "TYPE", "SIZE", "MODIFIED");
    for (int32_t i = 0; i < n; i++) {
        char nm[300], sz[32], params[32], when[32];
        snprintf(nm, sizeof nm, "%s%s%s", e[i].name, e[i].file[0] ? " " : "", e[i].file);
        human((double)e[i].bytes, sz, sizeof sz);
        double p = (double)e[i].n_params;
        snprintf(params, sizeof params, p >= 1e9 ? "%.1fB" : p >= 1e6 ? "%.0fM" : "%.0fK",
                 p >= 1e9 ? p / 1e9 : p >= 1e6 ? p / 1e6 : p / 1e3);
        time_t t = (time_t)e[i].mtime;
        struct tm tm;
        localtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
        printf("%-48s %-11s %-8s %8s %-10s %10s  %s%s%s\n", nm, e[i].format, e[i].arch, params, e[i].quant, sz, when,
               e[i].problem[0] ? "  (!) " : "", e[i].problem);
    }
    if (n == 0) printf("(no models yet: ingot pull ORG/NAME)\n");
    free(e);
    return 0;
}

int cmd_rm(int argc, char **argv) {
    const char *name = NULL;
    bool force = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--force") || !strcmp(argv[i], "-f")) force = true;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: ingot rm NAME [--force]\n"
                   "\n"
                   "Removes ORG/NAME's snapshot from the cache and the files no other snapshot\n"
                   "uses, or forgets an imported name (its files stay). Asks first unless --force.\n");
            return 0;
        } else if (argv[i][0] == '-') return die("unknown flag '%s' for rm", argv[i]), 2;
        else if (!name) name = argv[i];
        else return die("unexpected argument '%s'", argv[i]), 2;
    }
    if (!name) return die("usage: ingot rm NAME [--force]"), 2;
    char err[512];
    char *colon = strchr(name, ':');
    char repo[256];
    snprintf(repo, sizeof repo, "%.*s", (int)(colon ? (size_t)(colon - name) : strlen(name)), name);
    if (!strchr(repo, '/')) { /* an imported name */
        if (ig_store_import(NULL, name, err, sizeof err) != IG_OK) return die("%s", err);
        printf("forgot %s (its files are untouched)\n", name);
        return 0;
    }
    if (!force) {
        if (!isatty(STDIN_FILENO)) return die("not removing %s without confirmation: use --force", repo);
        fprintf(stderr, "remove %s from the cache? [y/N] ", repo);
        char ans[16] = "";
        if (!fgets(ans, sizeof ans, stdin) || (ans[0] != 'y' && ans[0] != 'Y')) return fprintf(stderr, "kept\n"), 1;
    }
    if (ig_store_rm(repo, err, sizeof err) != IG_OK) return die("%s", err);
    printf("removed %s\n", repo);
    return 0;
}

int cmd_import(int argc, char **argv) {
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: ingot import PATH NAME\n\nRegisters a local GGUF file or Hugging Face folder under NAME, without "
               "copying it;\nthen `ingot run NAME`. `ingot rm NAME` forgets it.\n");
        return 0;
    }
    if (argc != 3) return die("usage: ingot import PATH NAME"), 2;
    if (strchr(argv[2], '/') || strchr(argv[2], ':')) return die("NAME must not contain '/' or ':'"), 2;
    char err[512];
    struct ig_model_params mp = ig_model_default_params();
    mp.vocab_only = true;
    struct ig_model *m;
    if (ig_model_load(argv[1], &mp, &m, err, sizeof err) != IG_OK) return die("%s", err);
    ig_model_free(m);
    if (ig_store_import(argv[1], argv[2], err, sizeof err) != IG_OK) return die("%s", err);
    printf("imported %s as %s\n", argv[1], argv[2]);
    return 0;
}
