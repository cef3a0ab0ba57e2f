/* gguf_write.c - GGUF v3 writer: metadata and tensors kept in memory until
 * ig_gguf_w_write streams them to path.tmp and renames it into place. */
#define _POSIX_C_SOURCE 200809L /* strdup, open_memstream */
#include "gguf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct wkv {
    char *key;
    uint32_t type;
    uint8_t *val; /* encoded value bytes as they go in the file */
    size_t val_size;
};

struct wtensor {
    char *name;
    enum ig_dtype type;
    int n_dims;
    int64_t ne[IG_GGUF_MAX_DIMS];
    uint8_t *data; /* NULL: use the fill callback */
    size_t n_bytes;
};

struct ig_gguf_writer {
    struct wkv *kv;
    size_t n_kv, cap_kv;
    struct wtensor *t;
    size_t n_t, cap_t;
    ig_gguf_fill_fn fill;
    void *fill_user;
    int64_t row_cycle; /* > 0: filled tensors repeat their first row_cycle rows */
    char fill_err[256]; /* set by a fill callback that fails */
};

struct ig_gguf_writer *ig_gguf_writer_create(void) { return calloc(1, sizeof(struct ig_gguf_writer)); }

void ig_gguf_writer_free(struct ig_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].data);
    }
    free(w->kv);
    free(w->t);
    free(w);
}

static bool grow(void **p, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return true;
    size_t nc = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, nc * elem);
    if (!q) return false;
    *p = q;
    *cap = nc;
    return true;
}

static bool add_kv(struct ig_gguf_writer *w, const char *key, uint32_t type, const void *val, size_t n) {
    if (!grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) return false;
    struct wkv *kv = &w->kv[w->n_kv];
    kv->key = strdup(key);
    kv->val = malloc(n ? n : 1);
    if (!kv->key || !kv->val) {
        free(kv->key);
        free(kv->val);
        return false;
    }
    memcpy(kv->val, val, n);
    kv->type = type;
    kv->val_size = n;
    w->n_kv++;
    return true;
}

bool ig_gguf_w_raw(struct ig_gguf_writer *w, const char *key, uint32_t type, const void *val, size_t n) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            uint8_t *v = malloc(n ? n : 1);
            if (!v) return false;
            memcpy(v, val, n);
            free(w->kv[i].val);
            w->kv[i].val = v;
            w->kv[i].type = type;
            w->kv[i].val_size = n;
            return true;
        }
    return add_kv(w, key, type, val, n);
}

char *ig_gguf_w_fill_err(struct ig_gguf_writer *w) { return w->fill_err; }

bool ig_gguf_w_u32(struct ig_gguf_writer *w, const char *key, uint32_t v) { return add_kv(w, key, IG_GGUF_UINT32, &v, 4); }
bool ig_gguf_w_i32(struct ig_gguf_writer *w, const char *key, int32_t v) { return add_kv(w, key, IG_GGUF_INT32, &v, 4); }
bool ig_gguf_w_f32(struct ig_gguf_writer *w, const char *key, float v) { return add_kv(w, key, IG_GGUF_FLOAT32, &v, 4); }
bool ig_gguf_w_bool(struct ig_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v;
    return add_kv(w, key, IG_GGUF_BOOL, &b, 1);
}

bool ig_gguf_w_str(struct ig_gguf_writer *w, const char *key, const char *v) {
    uint64_t n = strlen(v);
    uint8_t *buf = malloc(8 + n);
    if (!buf) return false;
    memcpy(buf, &n, 8);
    memcpy(buf + 8, v, n);
    bool ok = add_kv(w, key, IG_GGUF_STRING, buf, 8 + n);
    free(buf);
    return ok;
}

static bool add_arr(struct ig_gguf_writer *w, const char *key, uint32_t et, const void *v, uint64_t n, size_t es) {
    size_t sz = 12 + (size_t)n * es;
    uint8_t *buf = malloc(sz);
    if (!buf) return false;
    memcpy(buf, &et, 4);
    memcpy(buf + 4, &n, 8);
    memcpy(buf + 12, v, (size_t)n * es);
    bool ok = add_kv(w, key, IG_GGUF_ARRAY, buf, sz);
    free(buf);
    return ok;
}

bool ig_gguf_w_arr_f32(struct ig_gguf_writer *w, const char *key, const float *v, uint64_t n) {
    return add_arr(w, key, IG_GGUF_FLOAT32, v, n, 4);
}
bool ig_gguf_w_arr_i32(struct ig_gguf_writer *w, const char *key, const int32_t *v, uint64_t n) {
    return add_arr(w, key, IG_GGUF_INT32, v, n, 4);
}

bool ig_gguf_w_arr_str(struct ig_gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    size_t sz = 12;
    for (uint64_t i = 0; i < n; i++) sz += 8 + strlen(v[i]);
    uint8_t *buf = malloc(sz), *p = buf;
    if (!buf) return false;
    uint32_t et = IG_GGUF_STRING;
    memcpy(p, &et, 4);
    memcpy(p + 4, &n, 8);
    p += 12;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t l = strlen(v[i]);
        memcpy(p, &l, 8);
        memcpy(p + 8, v[i], l);
        p += 8 + l;
    }
    bool ok = add_kv(w, key, IG_GGUF_ARRAY, buf, sz);
    free(buf);
    return ok;
}

bool ig_gguf_w_tensor(struct ig_gguf_writer *w, const char *name, enum ig_dtype type,
                      int n_dims, const int64_t *ne, const void *data) {
    if (n_dims < 1 || n_dims > IG_GGUF_MAX_DIMS) return false;
    if (!grow((void **)&w->t, &w->cap_t, w->n_t, sizeof *w->t)) return false;
    struct wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    size_t row, rows = 1;
    for (int d = 0; d < IG_GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    for (int d = 1; d < n_dims; d++) rows *= (size_t)ne[d];
    /* unknown types are allowed for tests that write bad files: size 0 rows */
    if (!ig_row_bytes(type, ne[0], &row)) row = 0;
    t->n_bytes = row * rows;
    t->name = strdup(name);
    if (!t->name) return false;
    if (data) {
        t->data = malloc(t->n_bytes ? t->n_bytes : 1);
        if (!t->data) {
            free(t->name);
            return false;
        }
        memcpy(t->data, data, t->n_bytes);
    }
    t->type = type;
    t->n_dims = n_dims;
    w->n_t++;
    return true;
}

void ig_gguf_w_set_fill(struct ig_gguf_writer *w, ig_gguf_fill_fn fn, void *user) {
    w->fill = fn;
    w->fill_user = user;
}
void ig_gguf_w_set_row_cycle(struct ig_gguf_writer *w, int64_t n) { w->row_cycle = n > 0 ? n : 0; }

static bool put(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n; }
static bool put_str(FILE *f, const char *s) {
    uint64_t n = strlen(s);
    return put(f, &n, 8) && put(f, s, n);
}
static bool put_pad(FILE *f, uint64_t *pos, size_t align) {
    static const uint8_t zeros[64];
    size_t pad = (align - *pos % align) % align;
    *pos += pad;
    return put(f, zeros, pad);
}

/* Stream header, metadata, tensor infos and (unless meta_only) tensor data. */
static bool write_stream(struct ig_gguf_writer *w, FILE *f, bool meta_only,
                         void (*progress)(void *user, int32_t done, int32_t total), void *progress_user) {
    const size_t align = IG_GGUF_DEFAULT_ALIGNMENT;
    float *rowf = NULL;
    uint8_t *rowq = NULL;
    bool ok = true;
    uint32_t version = 3;
    uint64_t n_t = meta_only ? 0 : w->n_t, n_kv = w->n_kv, pos = 0;
    ok = ok && put(f, "GGUF", 4) && put(f, &version, 4) && put(f, &n_t, 8) && put(f, &n_kv, 8);
    pos += 24;
    for (size_t i = 0; ok && i < w->n_kv; i++) {
        ok = put_str(f, w->kv[i].key) && put(f, &w->kv[i].type, 4) && put(f, w->kv[i].val, w->kv[i].val_size);
        pos += 8 + strlen(w->kv[i].key) + 4 + w->kv[i].val_size;
    }
    if (meta_only) return ok;
    uint64_t off = 0;
    for (size_t i = 0; ok && i < w->n_t; i++) {
        struct wtensor *t = &w->t[i];
        uint32_t nd = (uint32_t)t->n_dims, ty = (uint32_t)t->type;
        ok = put_str(f, t->name) && put(f, &nd, 4);
        for (int d = 0; ok && d < t->n_dims; d++) ok = put(f, &t->ne[d], 8);
        ok = ok && put(f, &ty, 4) && put(f, &off, 8);
        pos += 8 + strlen(t->name) + 4 + 8 * (uint64_t)t->n_dims + 12;
        off += t->n_bytes;
        off += (align - off % align) % align;
    }
    ok = ok && put_pad(f, &pos, align);
    for (size_t i = 0; ok && i < w->n_t; i++) {
        struct wtensor *t = &w->t[i];
        if (t->data) {
            ok = put(f, t->data, t->n_bytes);
        } else if (t->n_bytes) {
            size_t row;
            ig_row_bytes(t->type, t->ne[0], &row);
            const int64_t rows = (int64_t)(t->n_bytes / row);
            const int64_t cyc = w->row_cycle && w->row_cycle < rows ? w->row_cycle : rows; /* rows kept */
            const int64_t kept = w->row_cycle ? cyc : 1;
            free(rowf);
            free(rowq);
            rowf = malloc((size_t)t->ne[0] * sizeof(float));
            rowq = malloc(row * (size_t)kept);
            if (!rowf || !rowq || !w->fill) {
                ok = false;
                break;
            }
            for (int64_t r = 0; ok && r < rows; r++) {
                uint8_t *q = rowq + (size_t)(w->row_cycle ? r % cyc : 0) * row;
                if (!w->row_cycle || r < cyc) {
                    if (!w->fill(w->fill_user, (int32_t)i, r, rowf, t->ne[0])) {
                        ok = false;
                        break;
                    }
                    ig_quantize_row(t->type, rowf, q, t->ne[0]);
                }
                ok = put(f, q, row);
            }
        }
        pos += t->n_bytes;
        ok = ok && put_pad(f, &pos, align);
        if (progress) progress(progress_user, (int32_t)i + 1, (int32_t)w->n_t);
    }
    free(rowf);
    free(rowq);
    return ok;
}

enum ig_status ig_gguf_w_meta_to_memory(struct ig_gguf_writer *w, uint8_t **buf, size_t *len) {
    char *p = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&p, &n);
    if (!f) return IG_ERR_NOMEM;
    bool ok = write_stream(w, f, true, NULL, NULL);
    if (fclose(f) != 0) ok = false;
    if (!ok) {
        free(p);
        return IG_ERR_NOMEM;
    }
    *buf = (uint8_t *)p;
    *len = n;
    return IG_OK;
}

enum ig_status ig_gguf_w_write(struct ig_gguf_writer *w, const char *path,
                               void (*progress)(void *user, int32_t done, int32_t total),
                               void *progress_user, char *err, size_t err_len) {
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp) return IG_ERR_NOMEM;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        ig_err(err, err_len, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return IG_ERR_IO;
    }
    errno = 0;
    bool ok = write_stream(w, f, false, progress, progress_user);
    int e = errno ? errno : EIO;
    if (fflush(f) != 0) ok = false, e = errno;
    if (ok && fsync(fileno(f)) != 0) ok = false, e = errno;
    if (fclose(f) != 0) ok = false, e = errno;
    if (ok && rename(tmp, path) != 0) ok = false, e = errno;
    if (!ok) {
        ig_err(err, err_len, "%s: write failed: %s", path, w->fill_err[0] ? w->fill_err : strerror(e));
        remove(tmp);
        free(tmp);
        return IG_ERR_IO;
    }
    free(tmp);
    return IG_OK;
}
