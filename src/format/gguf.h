/* gguf.h - GGUF v2/v3 reader (hostile-input safe) and writer.
 * The reader parses from memory (an mmapped file or a fuzzer's buffer); every
 * count, length and offset is checked against the bytes that remain. Strings
 * point into the buffer and are not NUL-terminated. */
#ifndef IG_GGUF_H
#define IG_GGUF_H

#include "core/mmap.h"
#include "quant/quant.h"

enum ig_gguf_type {
    IG_GGUF_UINT8 = 0, IG_GGUF_INT8 = 1, IG_GGUF_UINT16 = 2, IG_GGUF_INT16 = 3,
    IG_GGUF_UINT32 = 4, IG_GGUF_INT32 = 5, IG_GGUF_FLOAT32 = 6, IG_GGUF_BOOL = 7,
    IG_GGUF_STRING = 8, IG_GGUF_ARRAY = 9, IG_GGUF_UINT64 = 10, IG_GGUF_INT64 = 11,
    IG_GGUF_FLOAT64 = 12, IG_GGUF_TYPE_COUNT
};

#define IG_GGUF_MAX_DIMS 4
#define IG_GGUF_DEFAULT_ALIGNMENT 32

struct ig_gguf_str {
    const char *p;
    uint64_t n;
};

struct ig_gguf_kv {
    struct ig_gguf_str key;
    uint32_t type;       /* enum ig_gguf_type */
    uint32_t arr_type;   /* element type when type == ARRAY */
    uint64_t arr_n;      /* element count when type == ARRAY */
    const uint8_t *val;  /* value bytes (arrays: the first element) */
    size_t val_size;     /* bytes the value occupies in the file */
};

struct ig_gguf_tensor {
    struct ig_gguf_str name;
    uint32_t n_dims;
    int64_t ne[IG_GGUF_MAX_DIMS]; /* ne[0] contiguous; unused dims are 1 */
    uint32_t type;                /* enum ig_dtype, known to the type table */
    uint64_t offset;              /* from the start of the data section */
    size_t n_bytes;
    const uint8_t *data;          /* base + data_offset + offset */
    /* MLX4/MLX8 (views of MLX folders): per-group scales and biases, n_out
     * rows of ne[0] / group values of type stype */
    const uint8_t *scales, *biases;
    int32_t group;
    uint32_t stype;
};

/* Row r of tensor t (any computable type, MLX included) as floats. */
void ig_gguf_tensor_row(const struct ig_gguf_tensor *t, int64_t r, float *dst);

struct ig_gguf {
    uint32_t version;
    uint64_t n_kv, n_tensors;
    struct ig_gguf_kv *kv;
    struct ig_gguf_tensor *tensors;
    size_t alignment;
    size_t data_offset;
    const uint8_t *base;
    size_t size;
    struct ig_mapping map; /* set when opened from a file */
    /* Views built from other formats (Hugging Face folders): */
    bool qk_rotate_half;   /* Q/K rows in HF order: RoPE rotates halves, whatever the arch */
    void *owner;           /* freed by free_owner with the view */
    void (*free_owner)(void *owner);
};

enum ig_status ig_gguf_parse(const uint8_t *data, size_t size, struct ig_gguf **out,
                             char *err, size_t err_len);
enum ig_status ig_gguf_open(const char *path, struct ig_gguf **out, char *err, size_t err_len);
void ig_gguf_free(struct ig_gguf *g);

/* Lookups: NULL / false when absent or of an incompatible type. */
const struct ig_gguf_kv *ig_gguf_kv_find(const struct ig_gguf *g, const char *key);
const struct ig_gguf_tensor *ig_gguf_tensor_find(const struct ig_gguf *g, const char *name);
bool ig_gguf_str_eq(struct ig_gguf_str s, const char *c);
/* Integer of any width/sign that fits in the destination. */
bool ig_gguf_get_i64(const struct ig_gguf *g, const char *key, int64_t *out);
bool ig_gguf_get_u32(const struct ig_gguf *g, const char *key, uint32_t *out);
bool ig_gguf_get_f32(const struct ig_gguf *g, const char *key, float *out);
bool ig_gguf_get_bool(const struct ig_gguf *g, const char *key, bool *out);
bool ig_gguf_get_str(const struct ig_gguf *g, const char *key, struct ig_gguf_str *out);
/* Array element i as a number (int or float arrays). */
double ig_gguf_arr_num(const struct ig_gguf_kv *kv, uint64_t i);
/* Fill out[0..kv->arr_n) with views of a string array's elements. */
bool ig_gguf_arr_strs(const struct ig_gguf_kv *kv, struct ig_gguf_str *out);
/* Byte size of a scalar type, 0 for string/array. */
size_t ig_gguf_type_size(uint32_t t);
const char *ig_gguf_type_name(uint32_t t);

/* ------------------------------------------------------------- writer */

struct ig_gguf_writer;
/* Produces row `row` of tensor `t` as n floats (quantized by the writer);
 * false stops the write (put a reason in ig_gguf_w_fill_err). */
typedef bool (*ig_gguf_fill_fn)(void *user, int32_t t, int64_t row, float *dst, int64_t n);

struct ig_gguf_writer *ig_gguf_writer_create(void);
void ig_gguf_writer_free(struct ig_gguf_writer *w);
/* Key-value setters copy their arguments. They return false on no memory. */
bool ig_gguf_w_u32(struct ig_gguf_writer *w, const char *key, uint32_t v);
bool ig_gguf_w_i32(struct ig_gguf_writer *w, const char *key, int32_t v);
bool ig_gguf_w_f32(struct ig_gguf_writer *w, const char *key, float v);
bool ig_gguf_w_bool(struct ig_gguf_writer *w, const char *key, bool v);
/* A value already encoded as GGUF stores it (e.g. copied from a reader's
 * ig_gguf_kv); replaces an earlier value of the same key. */
bool ig_gguf_w_raw(struct ig_gguf_writer *w, const char *key, uint32_t type, const void *val, size_t n);
/* Buffer (256 bytes) where a fill callback explains a failure. */
char *ig_gguf_w_fill_err(struct ig_gguf_writer *w);
bool ig_gguf_w_str(struct ig_gguf_writer *w, const char *key, const char *v);
bool ig_gguf_w_arr_str(struct ig_gguf_writer *w, const char *key, const char *const *v, uint64_t n);
bool ig_gguf_w_arr_f32(struct ig_gguf_writer *w, const char *key, const float *v, uint64_t n);
bool ig_gguf_w_arr_i32(struct ig_gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
/* Add a tensor. data: its bytes in the file type (copied), or NULL to have the
 * fill callback produce each row at write time. */
bool ig_gguf_w_tensor(struct ig_gguf_writer *w, const char *name, enum ig_dtype type,
                      int n_dims, const int64_t *ne, const void *data);
void ig_gguf_w_set_fill(struct ig_gguf_writer *w, ig_gguf_fill_fn fn, void *user);
/* Filled tensors repeat their first n rows (0, the default: every row is
 * filled and quantized). For speed benchmarks of large random-weight models,
 * whose k-quants would otherwise take minutes to compute. */
void ig_gguf_w_set_row_cycle(struct ig_gguf_writer *w, int64_t n);
/* Write to path via path.tmp + rename, so a failed write never leaves a file
 * that looks complete. progress (may be NULL) is called after each tensor. */
enum ig_status ig_gguf_w_write(struct ig_gguf_writer *w, const char *path,
                               void (*progress)(void *user, int32_t done, int32_t total),
                               void *progress_user, char *err, size_t err_len);
/* Header and metadata only (no tensors) into a malloc'ed buffer, for views
 * built in memory (Hugging Face folders). */
enum ig_status ig_gguf_w_meta_to_memory(struct ig_gguf_writer *w, uint8_t **buf, size_t *len);

#endif
