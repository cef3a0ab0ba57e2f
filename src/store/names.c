/* names.c - model names: a path, a name given to `ingot import`, an alias
 * (built in, or in $INGOT_HOME/aliases), ORG/NAME[:QUANT] in the hub cache,
 * or a short NAME matching one cached repo. */
#define _DEFAULT_SOURCE /* realpath */
#include "store/store.h"

#include <ctype.h>
#include <dirent.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define ERR(...) (ig_err(err, err_len, __VA_ARGS__))

/* Ollama-style tags -> Hugging Face GGUF repos (users add theirs in
 * $INGOT_HOME/aliases as lines "NAME = ORG/REPO[:QUANT]"). */
static const struct {
    const char *alias, *target;
} k_aliases[] = {
    {"llama3.2:1b", "bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"},
    {"llama3.2:3b", "bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M"},
    {"llama3.1:8b", "bartowski/Meta-Llama-3.1-8B-Instruct-GGUF:Q4_K_M"},
    {"qwen2.5:0.5b", "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M"},
    {"qwen2.5:1.5b", "Qwen/Qwen2.5-1.5B-Instruct-GGUF:Q4_K_M"},
    {"qwen2.5:7b", "Qwen/Qwen2.5-7B-Instruct-GGUF:Q4_K_M"},
    {"qwen2.5-coder:0.5b", "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF:Q4_K_M"},
    {"qwen2.5-coder:1.5b", "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M"},
    {"qwen2.5-coder:7b", "Qwen/Qwen2.5-Coder-7B-Instruct-GGUF:Q4_K_M"},
    {"phi3:mini", "microsoft/Phi-3-mini-4k-instruct-gguf:q4"},
    {"smollm2:135m", "bartowski/SmolLM2-135M-Instruct-GGUF:Q4_K_M"},
    {"smollm2:360m", "bartowski/SmolLM2-360M-Instruct-GGUF:Q4_K_M"},
    {"smollm2:1.7b", "bartowski/SmolLM2-1.7B-Instruct-GGUF:Q4_K_M"},
    {"mistral:7b", "bartowski/Mistral-7B-Instruct-v0.3-GGUF:Q4_K_M"},
    {"tinyllama", "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF:Q4_K_M"},
};

/* Look NAME up in a "KEY<sep>VALUE" lines file; value into out. */
static bool file_lookup(const char *path, const char *name, char sep, char *out, size_t len) {
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[IG_PATH_MAX + 256];
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *s = strchr(line, sep);
        if (!s || line[0] == '#') continue;
        char *k = line, *v = s + 1;
        *s = 0;
        while (*k == ' ' || *k == '\t') k++;
        for (char *e = s; e > k && (e[-1] == ' ' || e[-1] == '\t');) *--e = 0;
        while (*v == ' ' || *v == '\t') v++;
        if (!strcmp(k, name)) {
            snprintf(out, len, "%s", v);
            found = true;
        }
    }
    fclose(f);
    return found;
}

bool ig_store_alias(const char *name, char *out, size_t len) {
    char home[IG_PATH_MAX], p[IG_PATH_MAX];
    if (ig_ingot_home(home, sizeof home) && snprintf(p, sizeof p, "%s/aliases", home) < (int)sizeof p &&
        file_lookup(p, name, '=', out, len))
        return true;
    for (size_t i = 0; i < sizeof k_aliases / sizeof k_aliases[0]; i++)
        if (!strcasecmp(name, k_aliases[i].alias)) {
            snprintf(out, len, "%s", k_aliases[i].target);
            return true;
        }
    return false;
}

bool ig_store_imported(const char *name, char *out, size_t len) {
    char home[IG_PATH_MAX], p[IG_PATH_MAX];
    return ig_ingot_home(home, sizeof home) && snprintf(p, sizeof p, "%s/imports", home) < (int)sizeof p &&
           file_lookup(p, name, '\t', out, len);
}

/* Does the quant tag appear in a file name as a whole token (split on - . _
 * boundaries that are not inside the tag)? */
static bool quant_match(const char *file, const char *quant, bool whole) {
    size_t fl = strlen(file), ql = strlen(quant);
    for (size_t i = 0; i + ql <= fl; i++) {
        if (strncasecmp(file + i, quant, ql)) continue;
        if (!whole) return true;
        bool left = i == 0 || strchr("-._", file[i - 1]), right = i + ql == fl || strchr("-._", file[i + ql]);
        if (left && right) return true;
    }
    return false;
}

static bool is_gguf_model(const char *f) {
    size_t n = strlen(f);
    const char *base = strrchr(f, '/') ? strrchr(f, '/') + 1 : f;
    return n > 5 && !strcasecmp(f + n - 5, ".gguf") && strncasecmp(base, "mmproj", 6) != 0;
}

int ig_pick_gguf(const char *const *files, int n, const char *quant, char *err, size_t err_len) {
    int cand[256], nc = 0;
    for (int i = 0; i < n && nc < 256; i++)
        if (is_gguf_model(files[i])) cand[nc++] = i;
    if (nc == 0) return -1;
    const char *q = quant && *quant ? quant : NULL;
    for (int pass = 0; pass < 2; pass++) { /* whole-token match first, then substring */
        int hit = -1, hits = 0;
        for (int k = 0; k < nc; k++)
            if (quant_match(files[cand[k]], q ? q : "Q4_K_M", pass == 0)) hit = cand[k], hits++;
        if (hits == 1) return hit;
        if (hits > 1) {
            char list[1024] = "";
            for (int k = 0; k < nc; k++)
                if (quant_match(files[cand[k]], q ? q : "Q4_K_M", pass == 0) && strlen(list) + strlen(files[cand[k]]) + 3 < sizeof list)
                    strcat(list, list[0] ? ", " : ""), strcat(list, files[cand[k]]);
            ERR("'%s' matches several GGUF files: %s; name one with :QUANT", q ? q : "Q4_K_M", list);
            return -2;
        }
    }
    if (!q && nc == 1) return cand[0];
    char list[1024] = "";
    for (int k = 0; k < nc; k++)
        if (strlen(list) + strlen(files[cand[k]]) + 3 < sizeof list) strcat(list, list[0] ? ", " : ""), strcat(list, files[cand[k]]);
    if (q) ERR("no GGUF file for quantization '%s'; the repo has: %s", q, list);
    else ERR("the repo has several GGUF files and none is Q4_K_M; pick one with :QUANT from: %s", list);
    return -2;
}

/* Files of a snapshot directory (recursive, relative paths), malloc'ed. */
int ig_snapshot_files(const char *dir, char ***out) {
    int n = 0, cap = 16;
    char **v = malloc((size_t)cap * sizeof *v);
    char *stack[64];
    int sp = 0;
    stack[sp++] = strdup("");
    while (sp > 0 && v) {
        char *rel = stack[--sp], p[IG_PATH_MAX];
        snprintf(p, sizeof p, "%s%s%s", dir, *rel ? "/" : "", rel);
        DIR *d = opendir(p);
        for (struct dirent *e; d && (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            char r[IG_PATH_MAX], full[IG_PATH_MAX];
            snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
            snprintf(full, sizeof full, "%s/%s", dir, r);
            struct stat st;
            if (lstat(full, &st) != 0) continue;
            if (S_ISDIR(st.st_mode)) {
                if (sp < 64) stack[sp++] = strdup(r);
                continue;
            }
            if (n == cap) {
                char **nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
                if (!nv) break;
                v = nv;
            }
            v[n++] = strdup(r);
        }
        if (d) closedir(d);
        free(rel);
    }
    while (sp > 0) free(stack[--sp]);
    *out = v;
    return v ? n : 0;
}

void ig_free_strs(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* ORG/NAME[:QUANT] -> repo, quant */
static bool split_spec(const char *spec, char *repo, size_t rlen, char *quant, size_t qlen) {
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (n >= rlen) return false;
    memcpy(repo, spec, n);
    repo[n] = 0;
    snprintf(quant, qlen, "%s", colon ? colon + 1 : "");
    return ig_repo_id_ok(repo);
}

bool ig_store_spec(const char *name, char *repo, size_t rlen, char *quant, size_t qlen) {
    char target[512];
    if (ig_store_alias(name, target, sizeof target)) name = target;
    return split_spec(name, repo, rlen, quant, qlen);
}

/* A cached repo's model: the snapshot folder, or the chosen .gguf in it. */
static enum ig_status repo_model(const char *repo, const char *quant, char *path, size_t len, char *err,
                                 size_t err_len) {
    char dir[IG_PATH_MAX];
    if (!ig_repo_snapshot(repo, NULL, 0, dir, sizeof dir)) {
        ERR("model '%s' is not in the cache (ingot pull %s)", repo, repo);
        return IG_ERR_NOT_FOUND;
    }
    char **files;
    int n = ig_snapshot_files(dir, &files);
    int k = ig_pick_gguf((const char *const *)files, n, quant, err, err_len);
    enum ig_status st = IG_OK;
    if (k >= 0) snprintf(path, len, "%s/%s", dir, files[k]);
    else if (k == -2) st = IG_ERR_ARG;
    else snprintf(path, len, "%s", dir); /* safetensors folder */
    ig_free_strs(files, n);
    return st;
}

enum ig_status ig_store_resolve(const char *name, char *path, size_t len, char *err, size_t err_len) {
    struct stat st;
    if (!name || !*name) {
        ERR("no model name given");
        return IG_ERR_ARG;
    }
    size_t nl = strlen(name);
    if (stat(name, &st) == 0 || strchr(name, '/') == name || !strncmp(name, "./", 2) || !strncmp(name, "../", 3) ||
        (nl > 5 && !strcasecmp(name + nl - 5, ".gguf"))) {
        snprintf(path, len, "%s", name); /* a path (a missing one gets the loader's error) */
        return IG_OK;
    }
    char target[512], repo[256], quant[64];
    if (ig_store_imported(name, path, len)) return IG_OK;
    if (ig_store_alias(name, target, sizeof target)) name = target;
    if (split_spec(name, repo, sizeof repo, quant, sizeof quant)) return repo_model(repo, quant, path, len, err, err_len);
    if (strchr(name, '/')) {
        ERR("'%s' is neither a file nor a valid ORG/NAME model name", name);
        return IG_ERR_ARG;
    }
    /* short name: cached repos whose NAME is it (case-insensitive) */
    const char *colon = strchr(name, ':');
    char shortn[256];
    snprintf(shortn, sizeof shortn, "%.*s", (int)(colon ? (size_t)(colon - name) : strlen(name)), name);
    snprintf(quant, sizeof quant, "%s", colon ? colon + 1 : "");
    char hub[IG_PATH_MAX], found[8][120];
    int nf = 0;
    DIR *d = ig_hub_dir(hub, sizeof hub) ? opendir(hub) : NULL;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strncmp(e->d_name, "models--", 8)) continue;
        const char *o = e->d_name + 8, *sep = strstr(o, "--");
        if (!sep || strcasecmp(sep + 2, shortn)) continue;
        if (nf < 8) snprintf(found[nf], sizeof found[nf], "%.*s/%.60s", (int)IG_MIN(sep - o, 50), o, sep + 2);
        nf++;
    }
    if (d) closedir(d);
    if (nf == 1) return repo_model(found[0], quant, path, len, err, err_len);
    if (nf > 1) {
        char list[1024] = "";
        for (int i = 0; i < nf && i < 8; i++) strcat(list, i ? ", " : ""), strcat(list, found[i]);
        ERR("'%s' is ambiguous: %s; use ORG/NAME", shortn, list);
        return IG_ERR_ARG;
    }
    ERR("no model '%s': not a file, not imported, no alias, not in the cache (%s); try `ingot pull ORG/NAME` or "
        "`ingot list`",
        name, hub);
    return IG_ERR_NOT_FOUND;
}

enum ig_status ig_store_import(const char *path, const char *name, char *err, size_t err_len) {
    char home[IG_PATH_MAX], p[IG_PATH_MAX], tmp[IG_PATH_MAX], abs[IG_PATH_MAX];
    if (!name || !*name || strchr(name, '\t') || strchr(name, '\n') || strlen(name) > 200) {
        ERR("bad name for import");
        return IG_ERR_ARG;
    }
    if (path) {
        struct stat st;
        if (!realpath(path, abs) || stat(abs, &st) != 0) {
            ERR("%s: no such file or folder", path);
            return IG_ERR_IO;
        }
        if (strchr(abs, '\t') || strchr(abs, '\n')) {
            ERR("%s: the path has a tab or newline", path);
            return IG_ERR_ARG;
        }
    }
    if (!ig_ingot_home(home, sizeof home) || !ig_mkdirs(home, 0755)) {
        ERR("cannot create ingot's config folder (set INGOT_HOME or HOME)");
        return IG_ERR_IO;
    }
    snprintf(p, sizeof p, "%s/imports", home);
    snprintf(tmp, sizeof tmp, "%s/imports.tmp", home);
    FILE *in = fopen(p, "r"), *out = fopen(tmp, "w");
    if (!out) {
        if (in) fclose(in);
        ERR("%s: cannot write", tmp);
        return IG_ERR_IO;
    }
    char line[IG_PATH_MAX + 300];
    bool had = false;
    while (in && fgets(line, sizeof line, in)) {
        char *tab = strchr(line, '\t');
        if (tab && (size_t)(tab - line) == strlen(name) && !strncmp(line, name, strlen(name))) {
            had = true;
            continue; /* replaced or removed */
        }
        fputs(line, out);
    }
    if (in) fclose(in);
    if (path) fprintf(out, "%s\t%s\n", name, abs);
    bool ok = fclose(out) == 0 && rename(tmp, p) == 0;
    if (!ok) {
        remove(tmp);
        ERR("%s: cannot write", p);
        return IG_ERR_IO;
    }
    if (!path && !had) {
        ERR("no imported model named '%s'", name);
        return IG_ERR_NOT_FOUND;
    }
    return IG_OK;
}
