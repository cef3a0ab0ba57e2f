/* json_file.c - read and query JSON files with cJSON. */
#define _POSIX_C_SOURCE 200809L
#include "format/json_file.h"

#include <errno.h>
#include <string.h>

#define MAX_JSON_FILE (1u << 30)

char *ig_read_file(const char *path, size_t *len, bool *missing, char *err, size_t err_len) {
    if (missing) *missing = false;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT && missing) {
            *missing = true;
            return NULL;
        }
        ig_err(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 1 >= cap) { /* room for the NUL too */
            size_t nc = cap ? cap * 2 : 1 << 16;
            char *p = nc <= MAX_JSON_FILE ? realloc(buf, nc) : NULL;
            if (!p) {
                ig_err(err, err_len, "%s: too large or out of memory", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
            cap = nc;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    bool rerr = ferror(f);
    fclose(f);
    if (rerr) {
        ig_err(err, err_len, "%s: read error", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

cJSON *ig_json_read(const char *path, bool *missing, char *err, size_t err_len) {
    size_t n;
    char *buf = ig_read_file(path, &n, missing, err, err_len);
    if (!buf) return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, n, &end, false);
    if (!j) {
        size_t off = end && end >= buf ? (size_t)(end - buf) : 0;
        ig_err(err, err_len, "%s: invalid JSON near byte %zu", path, off);
    }
    free(buf);
    return j;
}

const char *ig_json_str(const cJSON *o, const char *key) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

double ig_json_num(const cJSON *o, const char *key, double def) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(j) ? j->valuedouble : def;
}

bool ig_json_bool(const cJSON *o, const char *key, bool def) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsBool(j) ? cJSON_IsTrue(j) : def;
}

const char *ig_json_token_text(const cJSON *o, const char *key) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(j)) return j->valuestring;
    if (cJSON_IsObject(j)) return ig_json_str(j, "content");
    return NULL;
}

bool ig_path_join(char *buf, size_t len, const char *dir, const char *name) {
    int n = snprintf(buf, len, "%s/%s", dir, name);
    return n >= 0 && (size_t)n < len;
}
