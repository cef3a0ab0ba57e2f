/* store_list.c - what the hub cache holds (one entry per runnable model:
 * each GGUF file, each safetensors snapshot), removing a model, and a health
 * check of the cache. */
#define _POSIX_C_SOURCE 200809L
#include "format/gguf.h"
#include "format/json_file.h"
#include "format/safetensors.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERR(...) (ig_err(err, err_len, __VA_ARGS__))

int ig_snapshot_files(const char *dir, char ***out);
void ig_free_strs(char **v, int n);
int ig_pick_gguf(const char *const *files, int n, const char *quant, char *err, size_t err_len);
bool ig_store_imported(const char *name, char *out, size_t len);

struct list {
    struct ig_store_entry *v;
    int32_t n, cap;
};

static struct ig_store_entry *add(struct list *l) {
    if (l->n == l->cap) {
        int32_t nc = l->cap ? l->cap * 2 : 16;
        struct ig_store_entry *v = realloc(l->v, (size_t)nc * sizeof *v);
        if (!v) return NULL;
        l->v = v;
        l->cap = nc;
    }
    struct ig_store_entry *e = &l->v[l->n++];
    memset(e, 0, sizeof *e);
    return e;
}

/* arch, parameter count and dominant weight type of a GGUF file */
static void gguf_info(const char *path, struct ig_store_entry *e) {
    struct ig_gguf *g;
    char err[256];
    if (ig_gguf_open(path, &g, err, sizeof err) != IG_OK) {
        snprintf(e->problem, sizeof e->problem, "%s", err);
        return;
    }
    struct ig_gguf_str s;
    if (ig_gguf_get_str(g, "general.architecture", &s)) snprintf(e->arch, sizeof e->arch, "%.*s", (int)IG_MIN(s.n, 31), s.p);
    int64_t bytes[IG_DTYPE_COUNT] = {0};
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct ig_gguf_tensor *t = &g->tensors[i];
        e->n_params += t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        if (t->ne[1] > 1) bytes[t->type] += (int64_t)t->n_bytes;
    }
    int best = 0;
    for (int t = 0; t < IG_DTYPE_COUNT; t++)
        if (bytes[t] > bytes[best]) best = t;
    const struct ig_dtype_traits *tr = ig_dtype_get((uint32_t)best);
    snprintf(e->quant, sizeof e->quant, "%s", tr ? tr->name : "?");
    if (tr && !tr->can_compute) snprintf(e->problem, sizeof e->problem, "weights of type %s: ingot cannot run them yet", tr->name);
    ig_gguf_free(g);
}

/* model type, parameters and quantization of a safetensors folder */
static void folder_info(const char *dir, char **files, int n, struct ig_store_entry *e) {
    char p[IG_PATH_MAX], err[256];
    snprintf(e->format, sizeof e->format, "safetensors");
    snprintf(p, sizeof p, "%s/config.json", dir);
    cJSON *cfg = ig_json_read(p, NULL, err, sizeof err);
    const char *mt = ig_json_str(cfg, "model_type");
    snprintf(e->arch, sizeof e->arch, "%s", mt ? mt : "?");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(cfg, "quantization");
    int bits = cJSON_IsObject(q) ? (int)ig_json_num(q, "bits", 4) : 0;
    if (bits) {
        snprintf(e->format, sizeof e->format, "mlx");
        snprintf(e->quant, sizeof e->quant, "MLX %d-bit", bits);
    }
    int64_t by_type[IG_ST_OTHER + 1] = {0};
    bool any = false;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(files[i]);
        if (l < 12 || strcmp(files[i] + l - 12, ".safetensors")) continue;
        struct ig_st_file f;
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (ig_st_open(p, &f, err, sizeof err) != IG_OK) {
            snprintf(e->problem, sizeof e->problem, "%s", err);
            continue;
        }
        any = true;
        for (int32_t k = 0; k < f.n; k++) {
            const struct ig_st_tensor *t = &f.t[k];
            size_t nl = strlen(t->name);
            if (nl > 7 && (!strcmp(t->name + nl - 7, ".scales") || !strcmp(t->name + nl - 7, ".biases")) && bits) continue;
            int64_t c = 1;
            for (int d = 0; d < t->n_dims; d++) c *= t->shape[d];
            if (t->dtype == IG_ST_U32 && bits) c *= 32 / bits;
            e->n_params += c;
            by_type[t->dtype] += c;
        }
        ig_st_close(&f);
    }
    if (!any && !e->problem[0]) snprintf(e->problem, sizeof e->problem, "no .safetensors weights");
    if (!bits) {
        int best = 0;
        for (int t = 0; t <= IG_ST_OTHER; t++)
            if (by_type[t] > by_type[best]) best = t;
        snprintf(e->quant, sizeof e->quant, "%s", ig_st_dtype_name((enum ig_st_dtype)best));
    }
    if (!mt && !e->problem[0]) snprintf(e->problem, sizeof e->problem, "no config.json");
    cJSON_Delete(cfg);
}

static void size_time(const char *path, int64_t *bytes, int64_t *mtime) {
    struct stat st;
    if (stat(path, &st) == 0) {
        *bytes += (int64_t)st.st_size;
        if ((int64_t)st.st_mtime > *mtime) *mtime = (int64_t)st.st_mtime;
    }
}

int32_t ig_store_list(struct ig_store_entry **out, char *err, size_t err_len) {
    *out = NULL;
    char hub[IG_PATH_MAX];
    if (!ig_hub_dir(hub, sizeof hub)) {
        ERR("no cache directory: set HF_HUB_CACHE, HF_HOME or HOME");
        return -1;
    }
    struct list l = {0};
    DIR *d = opendir(hub);
    for (struct dirent *de; d && (de = readdir(d));) {
        if (strncmp(de->d_name, "models--", 8)) continue;
        const char *o = de->d_name + 8, *sep = strstr(o, "--");
        if (!sep) continue;
        char repo[256], dir[IG_PATH_MAX];
        snprintf(repo, sizeof repo, "%.*s/%s", (int)(sep - o), o, sep + 2);
        if (!ig_repo_snapshot(repo, NULL, 0, dir, sizeof dir)) continue;
        char **files;
        int n = ig_snapshot_files(dir, &files);
        bool gguf = false;
        for (int i = 0; i < n; i++) {
            size_t fl = strlen(files[i]);
            if (fl < 6 || strcasecmp(files[i] + fl - 5, ".gguf") || !strncasecmp(files[i], "mmproj", 6)) continue;
            gguf = true;
            struct ig_store_entry *e = add(&l);
            if (!e) break;
            char stem[200];
            snprintf(stem, sizeof stem, "%.*s", (int)(fl - 5), files[i]);
            snprintf(e->name, sizeof e->name, "%s", repo);
            snprintf(e->file, sizeof e->file, "%s", files[i]);
            snprintf(e->format, sizeof e->format, "gguf");
            snprintf(e->path, sizeof e->path, "%s/%s", dir, files[i]);
            size_time(e->path, &e->bytes, &e->mtime);
            gguf_info(e->path, e);
        }
        if (!gguf) {
            struct ig_store_entry *e = add(&l);
            if (e) {
                snprintf(e->name, sizeof e->name, "%s", repo);
                snprintf(e->path, sizeof e->path, "%s", dir);
                for (int i = 0; i < n; i++) {
                    char p[IG_PATH_MAX];
                    snprintf(p, sizeof p, "%s/%s", dir, files[i]);
                    size_time(p, &e->bytes, &e->mtime);
                }
                folder_info(dir, files, n, e);
            }
        }
        ig_free_strs(files, n);
    }
    if (d) closedir(d);
    /* names given to `ingot import` */
    char home[IG_PATH_MAX], p[IG_PATH_MAX];
    FILE *f = ig_ingot_home(home, sizeof home) && snprintf(p, sizeof p, "%s/imports", home) < (int)sizeof p ? fopen(p, "r") : NULL;
    char line[IG_PATH_MAX + 300];
    while (f && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        struct ig_store_entry *e = add(&l);
        if (!e) break;
        snprintf(e->name, sizeof e->name, "%s", line);
        snprintf(e->path, sizeof e->path, "%s", tab + 1);
        e->imported = true;
        struct stat st;
        if (stat(e->path, &st) != 0) {
            snprintf(e->problem, sizeof e->problem, "%s is gone", e->path);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            char **files;
            int n = ig_snapshot_files(e->path, &files);
            for (int i = 0; i < n; i++) {
                snprintf(p, sizeof p, "%s/%s", e->path, files[i]);
                size_time(p, &e->bytes, &e->mtime);
            }
            folder_info(e->path, files, n, e);
            ig_free_strs(files, n);
        } else {
            snprintf(e->format, sizeof e->format, "gguf");
            size_time(e->path, &e->bytes, &e->mtime);
            gguf_info(e->path, e);
        }
    }
    if (f) fclose(f);
    *out = l.v;
    return l.n;
}

/* ------------------------------------------------------------ rm */

static bool rm_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        bool ok = d != NULL;
        for (struct dirent *e; d && (e = readdir(d));) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[IG_PATH_MAX];
            if (snprintf(p, sizeof p, "%s/%s", path, e->d_name) >= (int)sizeof p) ok = false;
            else ok = rm_tree(p) && ok;
        }
        if (d) closedir(d);
        return rmdir(path) == 0 && ok;
    }
    return unlink(path) == 0;
}

/* Blob names the snapshot links to. */
static int snapshot_blobs(const char *repo_dir, const char *snap, char ***out) {
    char dir[IG_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/snapshots/%s", repo_dir, snap);
    char **files;
    int n = ig_snapshot_files(dir, &files), k = 0;
    char **blobs = calloc((size_t)n + 1, sizeof *blobs);
    for (int i = 0; blobs && i < n; i++) {
        char p[IG_PATH_MAX], t[IG_PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        ssize_t l = readlink(p, t, sizeof t - 1);
        if (l <= 0) continue;
        t[l] = 0;
        const char *b = strrchr(t, '/');
        blobs[k++] = strdup(b ? b + 1 : t);
    }
    ig_free_strs(files, n);
    *out = blobs;
    return k;
}

enum ig_status ig_store_rm(const char *repo, char *err, size_t err_len) {
    char rd[IG_PATH_MAX], commit[64];
    if (!ig_repo_id_ok(repo)) {
        ERR("'%s' is not an ORG/NAME model name", repo);
        return IG_ERR_ARG;
    }
    if (!ig_repo_dir(repo, rd, sizeof rd) || !ig_repo_snapshot(repo, commit, sizeof commit, NULL, 0)) {
        ERR("model '%s' is not in the cache", repo);
        return IG_ERR_IO;
    }
    char **mine;
    int nm = snapshot_blobs(rd, commit, &mine);
    /* blobs other snapshots use stay */
    char sd[IG_PATH_MAX];
    snprintf(sd, sizeof sd, "%s/snapshots", rd);
    DIR *d = opendir(sd);
    int others = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, commit)) continue;
        others++;
        char **theirs;
        int nt = snapshot_blobs(rd, e->d_name, &theirs);
        for (int i = 0; i < nm; i++)
            for (int j = 0; mine[i] && j < nt; j++)
                if (!strcmp(mine[i], theirs[j])) free(mine[i]), mine[i] = NULL;
        ig_free_strs(theirs, nt);
    }
    if (d) closedir(d);
    bool ok = true;
    if (others == 0) {
        ok = rm_tree(rd);
    } else {
        for (int i = 0; i < nm; i++) {
            if (!mine[i] || strchr(mine[i], '/') || mine[i][0] == '.') continue;
            char p[IG_PATH_MAX];
            snprintf(p, sizeof p, "%s/blobs/%s", rd, mine[i]);
            ok = (unlink(p) == 0 || errno == ENOENT) && ok;
        }
        char p[IG_PATH_MAX];
        snprintf(p, sizeof p, "%s/snapshots/%s", rd, commit);
        ok = rm_tree(p) && ok;
        snprintf(p, sizeof p, "%s/refs/main", rd);
        char c[64] = "";
        FILE *f = fopen(p, "r");
        if (f) {
            if (fgets(c, sizeof c, f)) c[strcspn(c, "\r\n")] = 0;
            fclose(f);
            if (!strcmp(c, commit)) unlink(p);
        }
    }
    for (int i = 0; i < nm; i++) free(mine[i]);
    free(mine);
    if (!ok) {
        ERR("could not remove everything of %s under %s: %s", repo, rd, strerror(errno));
        return IG_ERR_IO;
    }
    return IG_OK;
}

/* ------------------------------------------------------------ health */

static void problem(char ***v, int *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(char ***v, int *n, const char *fmt, ...) {
    char buf[IG_PATH_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);
    if (!nv) return;
    *v = nv;
    nv[(*n)++] = strdup(buf);
}

int ig_store_health(char ***out) {
    char **v = NULL, hub[IG_PATH_MAX];
    int n = 0;
    DIR *d = ig_hub_dir(hub, sizeof hub) ? opendir(hub) : NULL;
    for (struct dirent *de; d && (de = readdir(d));) {
        if (strncmp(de->d_name, "models--", 8)) continue;
        const char *o = de->d_name + 8, *sep = strstr(o, "--");
        if (!sep) continue;
        char repo[256], rd[IG_PATH_MAX], dir[IG_PATH_MAX];
        snprintf(repo, sizeof repo, "%.*s/%s", (int)(sep - o), o, sep + 2);
        snprintf(rd, sizeof rd, "%s/%s", hub, de->d_name);
        char p[IG_PATH_MAX];
        snprintf(p, sizeof p, "%s/blobs", rd);
        DIR *b = opendir(p);
        for (struct dirent *e; b && (e = readdir(b));) {
            size_t l = strlen(e->d_name);
            if (l > 11 && !strcmp(e->d_name + l - 11, ".incomplete")) {
                struct stat st;
                char bp[IG_PATH_MAX];
                snprintf(bp, sizeof bp, "%s/%s", p, e->d_name);
                long long sz = stat(bp, &st) == 0 ? (long long)st.st_size : 0;
                problem(&v, &n, "%s: a partial download (%lld bytes in blobs/%s): `ingot pull %s` resumes it", repo, sz,
                        e->d_name, repo);
            }
        }
        if (b) closedir(b);
        if (!ig_repo_snapshot(repo, NULL, 0, dir, sizeof dir)) {
            problem(&v, &n, "%s: no usable snapshot (refs/main points nowhere): `ingot pull %s` or `ingot rm %s`", repo,
                    repo, repo);
            continue;
        }
        char **files;
        int nf = ig_snapshot_files(dir, &files);
        for (int i = 0; i < nf; i++) {
            char fp[IG_PATH_MAX];
            struct stat st;
            snprintf(fp, sizeof fp, "%s/%s", dir, files[i]);
            if (stat(fp, &st) != 0) {
                problem(&v, &n, "%s: %s is a broken link (its blob is missing): `ingot pull %s`", repo, files[i], repo);
                continue;
            }
            if (st.st_size < 1024) {
                char head[32] = "";
                FILE *f = fopen(fp, "rb");
                if (f) {
                    size_t r = fread(head, 1, sizeof head - 1, f);
                    head[r] = 0;
                    fclose(f);
                }
                size_t fl = strlen(files[i]);
                bool weights = (fl > 5 && !strcasecmp(files[i] + fl - 5, ".gguf")) ||
                               (fl > 12 && !strcmp(files[i] + fl - 12, ".safetensors"));
                if (!strncmp(head, "version https://git-lfs", 23) || (weights && st.st_size < 200))
                    problem(&v, &n, "%s: %s is a Git LFS pointer, not the file (cloned without git-lfs?): `ingot rm %s` "
                                    "then `ingot pull %s`",
                            repo, files[i], repo, repo);
            }
        }
        /* shards the index names */
        char ip[IG_PATH_MAX], e2[256];
        snprintf(ip, sizeof ip, "%s/model.safetensors.index.json", dir);
        bool missing;
        cJSON *idx = ig_json_read(ip, &missing, e2, sizeof e2);
        const cJSON *wm = cJSON_GetObjectItemCaseSensitive(idx, "weight_map"), *e;
        char reported[16][128];
        int nr = 0;
        cJSON_ArrayForEach(e, wm) {
            if (!cJSON_IsString(e) || !ig_repo_path_ok(e->valuestring)) continue;
            char sp[IG_PATH_MAX];
            struct stat st;
            snprintf(sp, sizeof sp, "%s/%s", dir, e->valuestring);
            if (stat(sp, &st) == 0) continue;
            bool seen = false;
            for (int k = 0; k < nr; k++) seen |= !strcmp(reported[k], e->valuestring);
            if (seen || nr == 16) continue;
            snprintf(reported[nr++], 128, "%s", e->valuestring);
            problem(&v, &n, "%s: shard %s named by the index is missing: `ingot pull %s`", repo, e->valuestring, repo);
        }
        cJSON_Delete(idx);
        ig_free_strs(files, nf);
    }
    if (d) closedir(d);
    *out = v;
    return n;
}
