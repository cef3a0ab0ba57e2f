/* safetensors.h - reader for Hugging Face .safetensors files (hostile-input
 * safe). Layout: u64 little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "BF16", "shape": [rows, cols], "data_offsets": [b, e]},
 *  "__metadata__": {...}}, then the data section the offsets index. */
#ifndef IG_SAFETENSORS_H
#define IG_SAFETENSORS_H

#include "core/mmap.h"

#define IG_ST_MAX_DIMS 4

enum ig_st_dtype { IG_ST_F32, IG_ST_F16, IG_ST_BF16, IG_ST_U32, IG_ST_I32, IG_ST_U8, IG_ST_I8, IG_ST_F64,
                   IG_ST_I64, IG_ST_BOOL, IG_ST_OTHER };

struct ig_st_tensor {
    char *name;
    enum ig_st_dtype dtype;
    int n_dims;
    int64_t shape[IG_ST_MAX_DIMS]; /* outermost first, as in the file */
    const uint8_t *data;
    size_t n_bytes;
};

struct ig_st_file {
    struct ig_st_tensor *t;
    int32_t n;
    struct ig_mapping map; /* set when opened from a file */
};

/* Parse from memory; tensors point into data. */
enum ig_status ig_st_parse(const uint8_t *data, size_t size, struct ig_st_file *out, char *err, size_t err_len);
enum ig_status ig_st_open(const char *path, struct ig_st_file *out, char *err, size_t err_len);
void ig_st_close(struct ig_st_file *f);
const struct ig_st_tensor *ig_st_find(const struct ig_st_file *f, const char *name);
const char *ig_st_dtype_name(enum ig_st_dtype t);

#endif
