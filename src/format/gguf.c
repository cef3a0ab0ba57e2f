/* gguf.c - GGUF reader. Layout (little-endian):
 *   magic "GGUF" u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv x (string key, u32 type, value),
 *   n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset),
 *   padding to `general.alignment` (default 32), tensor data.
 * Strings are u64 length + bytes. Every read checks the bytes left first. */
#include "gguf.h"

#include <string.h>

struct reader {
    const uint8_t *p;
    size_t left;
    char *err;
    size_t err_len;
};

static bool rd_bytes(struct reader *r, void *dst, size_t n, const char *what) {
    if (r->left < n) {
        ig_err(r->err, r->err_len, "truncated file: ran out of bytes reading %s", what);
        return false;
    }
    memcpy(dst, r->p, n);
    r->p += n;
    r->left -= n;
    return true;
}
static bool rd_u32(struct reader *r, uint32_t *v, const char *what) { return rd_bytes(r, v, 4, what); }
static bool rd_u64(struct reader *r, uint64_t *v, const char *what) { return rd_bytes(r, v, 8, what); }

static bool rd_str(struct reader *r, struct ig_gguf_str *s, const char *what) {
    uint64_t n;
    if (!rd_u64(r, &n, what)) return false;
    if (n > r->left) {
        ig_err(r->err, r->err_len, "bad string length %llu in %s: only %zu bytes left (truncated or corrupt file)",
               (unsigned long long)n, what, r->left);
        return false;
    }
    s->p = (const char *)r->p;
    s->n = n;
    r->p += n;
    r->left -= (size_t)n;
    return true;
}

size_t ig_gguf_type_size(uint32_t t) {
    switch (t) {
    case IG_GGUF_UINT8: case IG_GGUF_INT8: case IG_GGUF_BOOL: return 1;
    case IG_GGUF_UINT16: case IG_GGUF_INT16: return 2;
    case IG_GGUF_UINT32: case IG_GGUF_INT32: case IG_GGUF_FLOAT32: return 4;
    case IG_GGUF_UINT64: case IG_GGUF_INT64: case IG_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

const char *ig_gguf_type_name(uint32_t t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                  "string", "array", "u64", "i64", "f64"};
    return t < IG_GGUF_TYPE_COUNT ? names[t] : "unknown";
}

/* Skip over one value of type t, checking bounds; depth limits nesting. */
static bool skip_value(struct reader *r, uint32_t t, int depth, const char *key) {
    if (t >= IG_GGUF_TYPE_COUNT) {
        ig_err(r->err, r->err_len, "metadata '%s' has unknown value type %u", key, t);
        return false;
    }
    if (t == IG_GGUF_STRING) {
        struct ig_gguf_str s;
        return rd_str(r, &s, "a metadata string");
    }
    if (t == IG_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        if (depth > 3) {
            ig_err(r->err, r->err_len, "metadata '%s': arrays nested too deeply", key);
            return false;
        }
        if (!rd_u32(r, &et, "an array type") || !rd_u64(r, &n, "an array length")) return false;
        if (et >= IG_GGUF_TYPE_COUNT) {
            ig_err(r->err, r->err_len, "metadata '%s' has unknown array element type %u", key, et);
            return false;
        }
        size_t es = ig_gguf_type_size(et);
        if (es) {
            size_t bytes;
            if (!ig_mul_ok((size_t)n, es, &bytes) || n > SIZE_MAX || bytes > r->left) {
                ig_err(r->err, r->err_len, "metadata '%s': array of %llu elements exceeds the %zu bytes left",
                       key, (unsigned long long)n, r->left);
                return false;
            }
            r->p += bytes;
            r->left -= bytes;
            return true;
        }
        /* strings and arrays take at least 8 bytes each: bound n before looping */
        if (n > r->left / 8) {
            ig_err(r->err, r->err_len, "metadata '%s': array of %llu elements exceeds the %zu bytes left",
                   key, (unsigned long long)n, r->left);
            return false;
        }
        for (uint64_t i = 0; i < n; i++)
            if (!skip_value(r, et, depth + 1, key)) return false;
        return true;
    }
    size_t sz = ig_gguf_type_size(t);
    if (r->left < sz) {
        ig_err(r->err, r->err_len, "truncated file: ran out of bytes reading metadata '%s'", key);
        return false;
    }
    r->p += sz;
    r->left -= sz;
    return true;
}

static bool str_eq(struct ig_gguf_str a, struct ig_gguf_str b) {
    return a.n == b.n && memcmp(a.p, b.p, (size_t)a.n) == 0;
}

bool ig_gguf_str_eq(struct ig_gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.n == n && memcmp(s.p, c, n) == 0;
}

/* A printable, bounded copy of a file string for error messages. */
static const char *show(struct ig_gguf_str s, char *buf, size_t len) {
    size_t n = IG_MIN((size_t)s.n, len - 1);
    for (size_t i = 0; i < n; i++) buf[i] = (s.p[i] >= 32 && s.p[i] < 127) ? s.p[i] : '?';
    buf[n] = 0;
    return buf;
}

enum ig_status ig_gguf_parse(const uint8_t *data, size_t size, struct ig_gguf **out,
                             char *err, size_t err_len) {
    *out = NULL;
    struct reader r = {data, size, err, err_len};
    char name[96];
    if (size < 4) {
        ig_err(err, err_len, "not a GGUF file: %zu bytes is too short", size);
        return IG_ERR_FORMAT;
    }
    if (memcmp(data, "GGUF", 4) != 0) {
        ig_err(err, err_len, "not a GGUF file: wrong magic (expected 'GGUF')");
        return IG_ERR_FORMAT;
    }
    r.p += 4;
    r.left -= 4;
    struct ig_gguf *g = calloc(1, sizeof *g);
    if (!g) return IG_ERR_NOMEM;
    g->base = data;
    g->size = size;
    enum ig_status st = IG_ERR_FORMAT;

    if (!rd_u32(&r, &g->version, "the version")) goto fail;
    if (g->version == 1) {
        ig_err(err, err_len, "GGUF version 1 is not supported (re-convert the model)");
        st = IG_ERR_UNSUPPORTED;
        goto fail;
    }
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0)
            ig_err(err, err_len, "big-endian GGUF files are not supported");
        else
            ig_err(err, err_len, "unknown GGUF version %u (supported: 2, 3)", g->version);
        st = IG_ERR_UNSUPPORTED;
        goto fail;
    }
    if (!rd_u64(&r, &g->n_tensors, "the tensor count") || !rd_u64(&r, &g->n_kv, "the metadata count"))
        goto fail;
    /* each kv takes >= 13 bytes, each tensor info >= 32: bound counts first */
    if (g->n_kv > r.left / 13) {
        ig_err(err, err_len, "bad metadata count %llu: only %zu bytes left (truncated or corrupt file)",
               (unsigned long long)g->n_kv, r.left);
        goto fail;
    }
    if (g->n_tensors > r.left / 32) {
        ig_err(err, err_len, "bad tensor count %llu: only %zu bytes left (truncated or corrupt file)",
               (unsigned long long)g->n_tensors, r.left);
        goto fail;
    }
    g->kv = calloc((size_t)g->n_kv + 1, sizeof *g->kv);
    g->tensors = calloc((size_t)g->n_tensors + 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) {
        st = IG_ERR_NOMEM;
        goto fail;
    }

    g->alignment = IG_GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        struct ig_gguf_kv *kv = &g->kv[i];
        if (!rd_str(&r, &kv->key, "a metadata key") || !rd_u32(&r, &kv->type, "a metadata type")) goto fail;
        for (uint64_t j = 0; j < i; j++) {
            /* real files have these (llama.cpp's dbrx vocab repeats general.file_type):
             * the first value wins, as lookups return the first match */
            if (str_eq(g->kv[j].key, kv->key)) {
                ig_log(IG_LOG_WARN, "duplicate metadata key '%s': using the first value",
                       show(kv->key, name, sizeof name));
                break;
            }
        }
        const uint8_t *start = r.p;
        if (kv->type == IG_GGUF_ARRAY && r.left >= 12) {
            memcpy(&kv->arr_type, r.p, 4);
            memcpy(&kv->arr_n, r.p + 4, 8);
        }
        if (!skip_value(&r, kv->type, 0, show(kv->key, name, sizeof name))) goto fail;
        kv->val = kv->type == IG_GGUF_ARRAY ? start + 12 : start;
        kv->val_size = (size_t)(r.p - kv->val);
        if (ig_gguf_str_eq(kv->key, "general.alignment")) {
            uint32_t a = 0;
            if (kv->type != IG_GGUF_UINT32) {
                ig_err(err, err_len, "general.alignment must be a u32");
                goto fail;
            }
            memcpy(&a, kv->val, 4);
            if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 20)) {
                ig_err(err, err_len, "bad general.alignment %u (must be a power of two)", a);
                goto fail;
            }
            g->alignment = a;
        }
    }

    for (uint64_t i = 0; i < g->n_tensors; i++) {
        struct ig_gguf_tensor *t = &g->tensors[i];
        if (!rd_str(&r, &t->name, "a tensor name")) goto fail;
        show(t->name, name, sizeof name);
        if (!rd_u32(&r, &t->n_dims, "tensor dimensions")) goto fail;
        if (t->n_dims < 1 || t->n_dims > IG_GGUF_MAX_DIMS) {
            ig_err(err, err_len, "tensor '%s' has %u dimensions (1..4 allowed)", name, t->n_dims);
            goto fail;
        }
        int64_t n_el = 1;
        for (int d = 0; d < IG_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < t->n_dims; d++) {
            uint64_t ne;
            if (!rd_u64(&r, &ne, "a tensor shape")) goto fail;
            if (ne > INT64_MAX || __builtin_mul_overflow(n_el, (int64_t)ne, &n_el)) {
                ig_err(err, err_len, "tensor '%s' has an absurd shape (dimension %u = %llu)", name, d,
                       (unsigned long long)ne);
                goto fail;
            }
            t->ne[d] = (int64_t)ne;
        }
        if (!rd_u32(&r, &t->type, "a tensor type") || !rd_u64(&r, &t->offset, "a tensor offset")) goto fail;
        const struct ig_dtype_traits *tr = ig_dtype_get(t->type);
        if (!tr || tr->internal) {
            ig_err(err, err_len, "tensor '%s' has unknown tensor type %u", name, t->type);
            st = IG_ERR_UNSUPPORTED;
            goto fail;
        }
        if (t->ne[0] % tr->blck != 0) {
            ig_err(err, err_len, "tensor '%s': row length %lld is not a multiple of the %s block size %d",
                   name, (long long)t->ne[0], tr->name, tr->blck);
            goto fail;
        }
        size_t row, rows = 1, total;
        for (int d = 1; d < IG_GGUF_MAX_DIMS; d++)
            if (!ig_mul_ok(rows, (size_t)t->ne[d], &rows)) goto too_big;
        if (!ig_row_bytes((enum ig_dtype)t->type, t->ne[0], &row) || !ig_mul_ok(row, rows, &total)) goto too_big;
        t->n_bytes = total;
        if (t->offset % g->alignment != 0) {
            ig_err(err, err_len, "tensor '%s' offset %llu is not aligned to %zu", name,
                   (unsigned long long)t->offset, g->alignment);
            goto fail;
        }
        for (uint64_t j = 0; j < i; j++) {
            if (str_eq(g->tensors[j].name, t->name)) {
                ig_err(err, err_len, "duplicate tensor '%s'", name);
                goto fail;
            }
        }
        continue;
    too_big:
        ig_err(err, err_len, "tensor '%s' is too large to address", name);
        goto fail;
    }

    size_t header = size - r.left;
    size_t pad = (g->alignment - header % g->alignment) % g->alignment;
    g->data_offset = header + pad;
    /* A file with no tensors (vocab-only) may end right after its header. */
    if (g->n_tensors > 0 && g->data_offset > size) {
        ig_err(err, err_len, "truncated file: the tensor data section is missing");
        goto fail;
    }
    size_t data_size = g->data_offset <= size ? size - g->data_offset : 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        struct ig_gguf_tensor *t = &g->tensors[i];
        size_t end;
        if (t->offset > data_size || !ig_add_ok((size_t)t->offset, t->n_bytes, &end) || end > data_size) {
            ig_err(err, err_len,
                   "tensor '%s' data (offset %llu, %zu bytes) runs past the end of the file "
                   "(%zu data bytes): the file is truncated or corrupt",
                   show(t->name, name, sizeof name), (unsigned long long)t->offset, t->n_bytes, data_size);
            goto fail;
        }
        t->data = data + g->data_offset + t->offset;
    }
    *out = g;
    return IG_OK;
fail:
    ig_gguf_free(g);
    return st;
}

enum ig_status ig_gguf_open(const char *path, struct ig_gguf **out, char *err, size_t err_len) {
    *out = NULL;
    struct ig_mapping map;
    enum ig_status st = ig_mmap_open(path, &map, err, err_len);
    if (st != IG_OK) return st;
    char e[256] = "";
    st = ig_gguf_parse(map.data, map.size, out, e, sizeof e);
    if (st != IG_OK) {
        ig_err(err, err_len, "%s: %s", path, e);
        ig_mmap_close(&map);
        return st;
    }
    (*out)->map = map;
    return IG_OK;
}

void ig_gguf_free(struct ig_gguf *g) {
    if (!g) return;
    free(g->kv);
    free(g->tensors);
    ig_mmap_close(&g->map);
    if (g->free_owner) g->free_owner(g->owner);
    free(g);
}

const struct ig_gguf_kv *ig_gguf_kv_find(const struct ig_gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (ig_gguf_str_eq(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

const struct ig_gguf_tensor *ig_gguf_tensor_find(const struct ig_gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (ig_gguf_str_eq(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

/* Read a scalar numeric value of any type as double / int64. */
static bool num_at(uint32_t t, const uint8_t *p, double *d, int64_t *i, bool *is_int) {
    union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
            uint64_t u64; int64_t i64; float f32; double f64; } v;
    size_t sz = ig_gguf_type_size(t);
    if (!sz) return false;
    memcpy(&v, p, sz);
    *is_int = true;
    switch (t) {
    case IG_GGUF_UINT8: *i = v.u8; break;
    case IG_GGUF_INT8: *i = v.i8; break;
    case IG_GGUF_UINT16: *i = v.u16; break;
    case IG_GGUF_INT16: *i = v.i16; break;
    case IG_GGUF_UINT32: *i = v.u32; break;
    case IG_GGUF_INT32: *i = v.i32; break;
    case IG_GGUF_BOOL: *i = v.u8 != 0; break;
    case IG_GGUF_INT64: *i = v.i64; break;
    case IG_GGUF_UINT64:
        if (v.u64 > INT64_MAX) return false;
        *i = (int64_t)v.u64;
        break;
    case IG_GGUF_FLOAT32: *d = v.f32; *is_int = false; return true;
    case IG_GGUF_FLOAT64: *d = v.f64; *is_int = false; return true;
    default: return false;
    }
    *d = (double)*i;
    return true;
}

bool ig_gguf_get_i64(const struct ig_gguf *g, const char *key, int64_t *out) {
    const struct ig_gguf_kv *kv = ig_gguf_kv_find(g, key);
    double d;
    int64_t i;
    bool is_int;
    if (!kv || !num_at(kv->type, kv->val, &d, &i, &is_int) || !is_int) return false;
    *out = i;
    return true;
}

bool ig_gguf_get_u32(const struct ig_gguf *g, const char *key, uint32_t *out) {
    int64_t v;
    if (!ig_gguf_get_i64(g, key, &v) || v < 0 || v > UINT32_MAX) return false;
    *out = (uint32_t)v;
    return true;
}

bool ig_gguf_get_f32(const struct ig_gguf *g, const char *key, float *out) {
    const struct ig_gguf_kv *kv = ig_gguf_kv_find(g, key);
    double d;
    int64_t i;
    bool is_int;
    if (!kv || !num_at(kv->type, kv->val, &d, &i, &is_int)) return false;
    *out = (float)d;
    return true;
}

bool ig_gguf_get_bool(const struct ig_gguf *g, const char *key, bool *out) {
    const struct ig_gguf_kv *kv = ig_gguf_kv_find(g, key);
    if (!kv || kv->type != IG_GGUF_BOOL) return false;
    *out = kv->val[0] != 0;
    return true;
}

bool ig_gguf_get_str(const struct ig_gguf *g, const char *key, struct ig_gguf_str *out) {
    const struct ig_gguf_kv *kv = ig_gguf_kv_find(g, key);
    if (!kv || kv->type != IG_GGUF_STRING) return false;
    uint64_t n;
    memcpy(&n, kv->val, 8);
    out->p = (const char *)kv->val + 8;
    out->n = n;
    return true;
}

double ig_gguf_arr_num(const struct ig_gguf_kv *kv, uint64_t i) {
    size_t es = ig_gguf_type_size(kv->arr_type);
    double d = 0;
    int64_t v;
    bool is_int;
    if (!es || i >= kv->arr_n || !num_at(kv->arr_type, kv->val + i * es, &d, &v, &is_int)) return 0;
    return d;
}

bool ig_gguf_arr_strs(const struct ig_gguf_kv *kv, struct ig_gguf_str *out) {
    if (kv->type != IG_GGUF_ARRAY || kv->arr_type != IG_GGUF_STRING) return false;
    const uint8_t *p = kv->val; /* bounds were checked by the parser */
    for (uint64_t i = 0; i < kv->arr_n; i++) {
        uint64_t n;
        memcpy(&n, p, 8);
        out[i].p = (const char *)p + 8;
        out[i].n = n;
        p += 8 + n;
    }
    return true;
}

void ig_gguf_tensor_row(const struct ig_gguf_tensor *t, int64_t r, float *dst) {
    size_t rb;
    ig_row_bytes((enum ig_dtype)t->type, t->ne[0], &rb);
    if (t->type == IG_DTYPE_MLX4 || t->type == IG_DTYPE_MLX8) {
        size_t sb = (size_t)(t->ne[0] / t->group) * (size_t)ig_dtype_get(t->stype)->size;
        ig_dequantize_mlx_row((enum ig_dtype)t->type, t->data + (size_t)r * rb, t->scales + (size_t)r * sb,
                              t->biases + (size_t)r * sb, (enum ig_dtype)t->stype, t->group, dst, t->ne[0]);
        return;
    }
    ig_dequantize_row((enum ig_dtype)t->type, t->data + (size_t)r * rb, dst, t->ne[0]);
}
