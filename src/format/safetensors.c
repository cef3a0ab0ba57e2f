/* safetensors.c - safetensors reader: the JSON header is parsed with cJSON;
 * every shape, dtype and offset is checked against the data section before a
 * tensor is handed out. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "format/safetensors.h"

#include <cjson/cJSON.h>
#include <string.h>

#define MAX_HEADER (256u << 20)

static const struct {
    const char *name;
    enum ig_st_dtype t;
    size_t size;
} k_types[] = {
    {"F32", IG_ST_F32, 4}, {"F16", IG_ST_F16, 2}, {"BF16", IG_ST_BF16, 2}, {"U32", IG_ST_U32, 4},
    {"I32", IG_ST_I32, 4}, {"U8", IG_ST_U8, 1},   {"I8", IG_ST_I8, 1},     {"F64", IG_ST_F64, 8},
    {"I64", IG_ST_I64, 8}, {"BOOL", IG_ST_BOOL, 1},
};

const char *ig_st_dtype_name(enum ig_st_dtype t) {
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (k_types[i].t == t) return k_types[i].name;
    return "other";
}

/* A JSON number that is a non-negative integer below 2^53. */
static bool json_u64(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d) return false;
    *out = (uint64_t)d;
    return true;
}

static bool parse_tensor(const cJSON *e, const uint8_t *base, size_t data_size, struct ig_st_tensor *t,
                         char *err, size_t err_len) {
    const char *name = e->string;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2) {
        ig_err(err, err_len, "tensor '%.64s': needs dtype, shape and data_offsets [begin, end]", name);
        return false;
    }
    size_t esize = 0;
    t->dtype = IG_ST_OTHER;
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (!strcmp(dt->valuestring, k_types[i].name)) t->dtype = k_types[i].t, esize = k_types[i].size;
    if (!esize) {
        ig_err(err, err_len, "tensor '%.64s' has unsupported dtype '%.16s'", name, dt->valuestring);
        return false;
    }
    int nd = cJSON_GetArraySize(sh);
    if (nd > IG_ST_MAX_DIMS) {
        ig_err(err, err_len, "tensor '%.64s' has %d dimensions (at most %d)", name, nd, IG_ST_MAX_DIMS);
        return false;
    }
    size_t n = esize;
    t->n_dims = nd;
    for (int d = 0; d < nd; d++) {
        uint64_t v;
        if (!json_u64(cJSON_GetArrayItem(sh, d), &v) || v > INT64_MAX || !ig_mul_ok(n, (size_t)v, &n)) {
            ig_err(err, err_len, "tensor '%.64s' has a bad shape", name);
            return false;
        }
        t->shape[d] = (int64_t)v;
    }
    uint64_t b, en;
    if (!json_u64(cJSON_GetArrayItem(of, 0), &b) || !json_u64(cJSON_GetArrayItem(of, 1), &en) || b > en ||
        en > data_size) {
        ig_err(err, err_len, "tensor '%.64s': data_offsets outside the %zu-byte data section (truncated file?)",
               name, data_size);
        return false;
    }
    if (en - b != n) {
        ig_err(err, err_len, "tensor '%.64s': %llu bytes of data for a shape that needs %zu", name,
               (unsigned long long)(en - b), n);
        return false;
    }
    t->data = base + b;
    t->n_bytes = n;
    t->name = strdup(name);
    return t->name != NULL;
}

enum ig_status ig_st_parse(const uint8_t *data, size_t size, struct ig_st_file *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    uint64_t hlen;
    if (size < 8) {
        ig_err(err, err_len, "not a safetensors file: %zu bytes is too short", size);
        return IG_ERR_FORMAT;
    }
    memcpy(&hlen, data, 8);
    if (hlen > size - 8 || hlen > MAX_HEADER || hlen < 2) {
        ig_err(err, err_len, "not a safetensors file or truncated: header length %llu, file %zu bytes",
               (unsigned long long)hlen, size);
        return IG_ERR_FORMAT;
    }
    if (data[8] != '{') {
        ig_err(err, err_len, "not a safetensors file: the header is not a JSON object");
        return IG_ERR_FORMAT;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)data + 8, (size_t)hlen);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        ig_err(err, err_len, "safetensors header is not valid JSON");
        return IG_ERR_FORMAT;
    }
    int cap = cJSON_GetArraySize(root);
    out->t = calloc((size_t)cap + 1, sizeof *out->t);
    if (!out->t) {
        cJSON_Delete(root);
        return IG_ERR_NOMEM;
    }
    const uint8_t *base = data + 8 + hlen;
    size_t data_size = size - 8 - (size_t)hlen;
    const cJSON *e;
    cJSON_ArrayForEach(e, root) {
        if (!strcmp(e->string, "__metadata__")) continue;
        if (!cJSON_IsObject(e) || !parse_tensor(e, base, data_size, &out->t[out->n], err, err_len)) {
            if (!cJSON_IsObject(e)) ig_err(err, err_len, "tensor entry '%.64s' is not an object", e->string);
            cJSON_Delete(root);
            ig_st_close(out);
            return IG_ERR_FORMAT;
        }
        out->n++;
    }
    cJSON_Delete(root);
    return IG_OK;
}

enum ig_status ig_st_open(const char *path, struct ig_st_file *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    struct ig_mapping map;
    enum ig_status st = ig_mmap_open(path, &map, err, err_len);
    if (st != IG_OK) return st;
    char e[256] = "";
    st = ig_st_parse(map.data, map.size, out, e, sizeof e);
    if (st != IG_OK) {
        ig_err(err, err_len, "%s: %s", path, e);
        ig_mmap_close(&map);
        return st;
    }
    out->map = map;
    return IG_OK;
}

void ig_st_close(struct ig_st_file *f) {
    for (int32_t i = 0; f->t && i < f->n; i++) free(f->t[i].name);
    free(f->t);
    ig_mmap_close(&f->map);
    memset(f, 0, sizeof *f);
}

const struct ig_st_tensor *ig_st_find(const struct ig_st_file *f, const char *name) {
    for (int32_t i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}
