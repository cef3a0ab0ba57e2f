/* ingot.h - the one public header of libingot, a local LLM runtime.
 *
 * Programs (the `ingot` CLI, the server, tests) use only this header.
 * Conventions:
 *   - Handles are opaque; every _init/_load call has a matching _free, and free(NULL)
 *     is a no-op.
 *   - Functions that can fail on outside input return enum ig_status and, where
 *     an `err` buffer is given, write one human-readable line into it.
 *   - The library never prints and never exits. Log lines (if wanted) go
 *     through ig_log_set().
 *   - Functions that fill a caller's buffer return the needed size when the
 *     buffer is too small (as a negative number, see each function).
 */
#ifndef INGOT_H
#define INGOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IG_VERSION "0.1.0"

typedef int32_t ig_token;
#define IG_TOKEN_NULL (-1)

enum ig_status {
    IG_OK = 0,
    IG_ERR_IO,          /* file missing, unreadable, mmap failed */
    IG_ERR_FORMAT,      /* the bytes are not a valid model file */
    IG_ERR_UNSUPPORTED, /* valid, but an architecture/type ingot does not run */
    IG_ERR_NOMEM,       /* allocation failed */
    IG_ERR_DEVICE,      /* backend/device problem */
    IG_ERR_ARG,         /* bad argument from the caller */
    IG_ERR_CTX_FULL,    /* no free KV-cache cell for a token */
    IG_ERR_NETWORK,     /* download failed (connection, HTTP error, bad data) */
    IG_ERR_DENIED,      /* 401/403: gated or private, token missing or refused */
    IG_ERR_NOT_FOUND,   /* no such model name, repo or file */
    IG_ERR_INTERRUPTED, /* stopped by the caller; partial work kept for a resume */
};

/* Short constant name of a status ("ok", "format error", ...). */
const char *ig_status_str(enum ig_status s);

/* ---------------------------------------------------------------- logging */

enum ig_log_level { IG_LOG_DEBUG = 0, IG_LOG_INFO, IG_LOG_WARN, IG_LOG_ERROR };
typedef void (*ig_log_fn)(enum ig_log_level level, const char *msg, void *user);
/* Route library log lines to fn (NULL: drop them, the default). */
void ig_log_set(ig_log_fn fn, void *user);

/* ------------------------------------------------------------------ model */

struct ig_model;

enum ig_backend_type {
    IG_BACKEND_AUTO = 0, /* CUDA when a usable GPU and driver are found, else cpu */
    IG_BACKEND_CPU,      /* SIMD kernels chosen for this CPU at run time */
    IG_BACKEND_CPU_REF,  /* the scalar reference, for debugging and as the oracle */
    IG_BACKEND_CUDA,     /* an NVIDIA GPU; an error when none is usable */
};
/* "auto", "cpu", "cpu-ref", "cuda" -> backend; false for an unknown name. */
bool ig_backend_parse(const char *name, enum ig_backend_type *out);

struct ig_model_params {
    int32_t n_threads;  /* threads for the forward step; <= 0: all cores */
    bool    vocab_only; /* load metadata and tokenizer only, no weights */
    enum ig_backend_type backend;
};
struct ig_model_params ig_model_default_params(void);

/* Open a model: a GGUF file, a Hugging Face folder, or a model name
 * (ig_store_resolve). Weights stay mmapped read-only for the model's life.
 * On failure *out is NULL and err (if non-NULL) holds one line saying what is
 * wrong with which file. */
enum ig_status ig_model_load(const char *path, const struct ig_model_params *p,
                             struct ig_model **out, char *err, size_t err_len);
void ig_model_free(struct ig_model *m);

/* A summary of the model for `ingot show` and servers. Strings are owned by
 * the model and live as long as it. */
struct ig_model_info {
    const char *arch;         /* "llama", "qwen2" */
    const char *name;         /* general.name, or "" */
    const char *tokenizer;    /* "llama" (SentencePiece) or "gpt2" (byte-level BPE) */
    const char *tokenizer_pre;/* pre-tokenizer name, "" for SentencePiece */
    const char *weight_type;  /* the most common type among 2-D weights ("Q8_0") */
    int64_t n_params;         /* elements over all tensors */
    int64_t n_bytes;          /* bytes of tensor data */
    int64_t file_size;
    int32_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff;
    float   rope_freq_base, norm_eps;
    bool    rope_neox;        /* rotate halves (NeoX) rather than pairs */
    bool    tied_embeddings;  /* output projection shares token_embd */
    bool    has_chat_template;
    ig_token bos, eos;        /* IG_TOKEN_NULL when absent */
    bool    add_bos;          /* tokenizer wants BOS prepended */
};
void ig_model_get_info(const struct ig_model *m, struct ig_model_info *out);

/* A string metadata value (e.g. "tokenizer.chat_template"), NUL-terminated
 * and owned by the model; NULL if absent or not a string. */
const char *ig_model_meta_str(const struct ig_model *m, const char *key);
/* A numeric metadata value (any integer or float type); false if absent. */
bool ig_model_meta_num(const struct ig_model *m, const char *key, double *out);

/* Tensors of the file, for inspection. */
struct ig_tensor_info {
    const char *name;
    const char *type;      /* "F32", "Q4_0", ... */
    int32_t     n_dims;
    int64_t     ne[4];     /* ne[0] is the contiguous dimension */
    int64_t     n_bytes;
};
int32_t ig_model_n_tensors(const struct ig_model *m);
bool    ig_model_tensor(const struct ig_model *m, int32_t i, struct ig_tensor_info *out);

/* Convert a GGUF file or a Hugging Face folder to a GGUF file at dst (written
 * to dst.tmp, renamed when complete). type: "f32", "f16", "bf16", "q8_0",
 * "q4_0", "q4_k" or "q6_k" for the 2-D weights (norms and biases stay F32;
 * rows that are not whole blocks of the type fall back to Q8_0 or F16). The tokenizer,
 * chat template and other metadata are carried over. progress (may be NULL)
 * is called after each tensor. */
enum ig_status ig_convert(const char *src, const char *dst, const char *type,
                          void (*progress)(void *user, int32_t done, int32_t total), void *progress_user,
                          char *err, size_t err_len);

/* ------------------------------------------------------------ model store */
/* Models live in the Hugging Face hub cache ($HF_HUB_CACHE, else $HF_HOME/hub,
 * else ~/.cache/huggingface/hub; models--ORG--NAME/{blobs,refs,snapshots}),
 * shared with huggingface-cli, mlx-lm and llama.cpp. ingot's own settings
 * live in $INGOT_HOME (default ~/.ingot): `aliases` (lines NAME = ORG/NAME[:QUANT])
 * and `imports` (names given to local paths). */

/* A model name -> what ig_model_load opens: a path as is; an imported name;
 * an alias (built in: llama3.2:1b, qwen2.5:0.5b, qwen2.5-coder:1.5b,
 * phi3:mini, smollm2:135m, ...); ORG/NAME[:QUANT] in the cache (the snapshot
 * folder, or its GGUF file for QUANT, default Q4_K_M); or a short NAME equal
 * to one cached repo's. Unknown or ambiguous names are an error listing the
 * candidates. ig_model_load resolves names itself. */
enum ig_status ig_store_resolve(const char *name, char *path, size_t len, char *err, size_t err_len);

/* One runnable model in the cache (each GGUF file; each safetensors folder). */
struct ig_store_entry {
    char name[256];     /* ORG/NAME, or the imported name */
    char file[256];     /* the GGUF file in the snapshot, or "" for a folder */
    char path[4096];    /* what ig_model_load takes */
    char format[16];    /* "gguf", "safetensors", "mlx" */
    char arch[32];      /* general.architecture or config.json model_type */
    char quant[32];     /* dominant weight type ("Q4_K", "BF16", "MLX 4-bit") */
    char problem[256];  /* why ingot cannot run it, or "" */
    int64_t n_params, bytes, mtime;
    bool imported;
};
/* The models in the cache and the imported ones; *out malloc'ed (free()).
 * Returns the count, or -1 with err. */
int32_t ig_store_list(struct ig_store_entry **out, char *err, size_t err_len);
/* Remove ORG/NAME's snapshot and the blobs no other snapshot uses. */
enum ig_status ig_store_rm(const char *repo, char *err, size_t err_len);
/* Problems in the cache (partial downloads, broken links, LFS pointer files,
 * missing shards), one line each saying how to fix it; *out malloc'ed array
 * of malloc'ed strings. Returns the count. */
int ig_store_health(char ***out);
/* Register a local file or folder under NAME (no copy), or unregister it
 * (path NULL). */
enum ig_status ig_store_import(const char *path, const char *name, char *err, size_t err_len);

struct ig_pull_params {
    const char *endpoint;  /* NULL: $HF_ENDPOINT, else https://huggingface.co */
    const char *token;     /* NULL: $HF_TOKEN */
    /* called as a file downloads (done/total bytes; total < 0 unknown), and with done == total at its end */
    void (*progress)(void *user, const char *file, int64_t done, int64_t total, double bytes_per_s);
    void *user;
    volatile int *cancel;  /* set non-zero (e.g. from a SIGINT handler) to stop; the partial file stays */
    int max_retries;       /* transient failures per file (default 5), with backoff */
};
/* Download ORG/NAME[:QUANT] (or an alias) into the cache: the chosen GGUF
 * file, or what a safetensors folder needs. Files go to blobs/HASH.incomplete
 * (resumed with Range requests), are verified (sha256 of LFS files, git blob
 * sha1 otherwise) and only then renamed into place and linked from the
 * snapshot. path (may be NULL): what ig_model_load takes afterwards. */
enum ig_status ig_store_pull(const char *name, const struct ig_pull_params *p, char *path, size_t len, char *err,
                             size_t err_len);

/* ------------------------------------------------------------ chat template */

/* The model's Jinja chat template (GGUF tokenizer.chat_template, or
 * tokenizer_config.json's chat_template for a Hugging Face folder), or NULL. */
const char *ig_chat_template(const struct ig_model *m);

/* Render a conversation the way Hugging Face's apply_chat_template does.
 * messages_json: a JSON array of {"role": ..., "content": ..., ...} objects.
 * vars_json: NULL or a JSON object of extra template variables, e.g.
 *   {"tools": [...], "enable_thinking": false}.
 * add_generation_prompt: end with the header of an assistant turn.
 * *out: malloc'ed NUL-terminated text (free with free()). Errors:
 * IG_ERR_UNSUPPORTED (no template, or a construct the interpreter lacks: err
 * names it), IG_ERR_ARG (bad JSON), IG_ERR_FORMAT (the template raised). */
enum ig_status ig_chat_render(const struct ig_model *m, const char *messages_json, const char *vars_json,
                              bool add_generation_prompt, char **out, char *err, size_t err_len);

/* -------------------------------------------------------------- tokenizer */

/* Tokenize text[0..len) into out[0..n_max). add_bos: prepend BOS if the model
 * asks for it. parse_special: text like "<|im_end|>" becomes that control
 * token (user-defined tokens are always recognized).
 * Returns the number of tokens, or -(needed) if n_max is too small, or
 * INT32_MIN on an internal failure (out of memory). */
int32_t ig_tokenize(const struct ig_model *m, const char *text, int32_t len,
                    ig_token *out, int32_t n_max, bool add_bos, bool parse_special);

/* The bytes of one token. Control tokens give "" unless special is true.
 * Returns the length written (no NUL), or -(needed) if len is too small.
 * A piece may be part of a UTF-8 character (byte tokens). */
int32_t ig_token_to_piece(const struct ig_model *m, ig_token t, char *buf, int32_t len,
                          bool special);

/* Text of tokens[0..n). strip_leading_space removes the one space a
 * SentencePiece tokenizer added in front (decode(encode(s)) == s).
 * Returns the length written (no NUL) or -(needed). */
int32_t ig_detokenize(const struct ig_model *m, const ig_token *tokens, int32_t n,
                      char *buf, int32_t len, bool special, bool strip_leading_space);

/* Token kinds. */
bool ig_token_is_eog(const struct ig_model *m, ig_token t); /* end of generation */
int32_t ig_n_vocab(const struct ig_model *m);

/* Incremental detokenizer for streaming: holds back bytes of an incomplete
 * UTF-8 character so callers never print half of one. Zero-initialize, or
 * use ig_detok_reset(). Fields are private. */
struct ig_detok {
    char    pend[8];
    int32_t n_pend;
    bool    strip_space; /* drop the next piece's leading space (after BOS) */
};
void ig_detok_reset(struct ig_detok *d, bool strip_leading_space);
/* Append token t's text to buf; returns bytes written (only whole UTF-8
 * characters), or -(needed) if len is too small (nothing is consumed then).
 * 32 + the longest piece is always enough. */
int32_t ig_detok_push(const struct ig_model *m, struct ig_detok *d, ig_token t,
                      char *buf, int32_t len);
/* Bytes still held (an invalid trailing sequence) written out, for the end. */
int32_t ig_detok_flush(struct ig_detok *d, char *buf, int32_t len);

/* ---------------------------------------------------------------- context */

struct ig_ctx;

struct ig_ctx_params {
    int32_t n_ctx;     /* KV-cache cells shared by all sequences (0: model's, max 4096) */
    int32_t n_seq_max; /* distinct sequence ids allowed: 0 .. n_seq_max-1 */
    int32_t n_batch;   /* most tokens one ig_decode call may hold */
    int32_t n_threads; /* <= 0: the model's setting */
};
struct ig_ctx_params ig_ctx_default_params(void);

/* Allocate a context (scratch buffers and KV cache, once, up front). */
enum ig_status ig_ctx_init(struct ig_model *m, const struct ig_ctx_params *p,
                           struct ig_ctx **out, char *err, size_t err_len);
void ig_ctx_free(struct ig_ctx *c);
int32_t ig_ctx_n_ctx(const struct ig_ctx *c);
/* The backend running this context, e.g. "cpu (avx2)", "cpu-ref". */
const char *ig_ctx_backend(const struct ig_ctx *c);
/* Threads of this context's pool. */
int32_t ig_ctx_n_threads(const struct ig_ctx *c);
/* The bandwidth, in GB/s, of the memory this context's weights live in,
 * measured now: on the CPU, its threads reading a fresh buffer of `bytes`
 * (best of 10 passes, like ig_measure_read_bandwidth); on a GPU, a
 * device-to-device copy of `bytes` counted as bytes read + written (median
 * of 9). bytes 0: the backend's own size (a 256 MiB host buffer, past the
 * caches; a 1 GiB copy, halved down to 64 MiB while the device lacks room).
 * Decode reads every weight once per step, so weight bytes per second over
 * this is how close decode is to the memory's limit. Waits for queued work.
 * 0 if it cannot measure (no memory for the buffers). */
double ig_ctx_measure_bandwidth(struct ig_ctx *c, size_t bytes);

/* One forward step over n tokens that may belong to several independent
 * sequences. Token i has sequence id seq[i] and position pos[i] in it; it
 * attends to every cached token of the same sequence with position <= pos[i]
 * (including earlier tokens of this batch). A (seq, pos) already in the cache
 * is overwritten. logits[i] nonzero asks for token i's logits; logits == NULL
 * asks only for the last token's. */
struct ig_batch {
    int32_t         n;
    const ig_token *token;  /* [n] */
    const int32_t  *pos;    /* [n] */
    const int32_t  *seq;    /* [n] */
    const int8_t   *logits; /* [n] or NULL */
};
/* Returns IG_OK, IG_ERR_ARG (bad token id, seq id, position, n > n_batch),
 * or IG_ERR_CTX_FULL (not enough free cells: nothing was changed). On a GPU
 * it may return before the step has run; ig_logits and ig_sample wait. */
enum ig_status ig_decode(struct ig_ctx *c, const struct ig_batch *b);

/* Logits (n_vocab floats) of the i-th token of the last batch that asked for
 * them, counting only those tokens; NULL if i is out of range. Valid until
 * the next ig_decode. */
const float *ig_logits(struct ig_ctx *c, int32_t i);

/* Free the KV cells of sequence seq with position >= from_pos (from_pos <= 0:
 * the whole sequence; seq < 0: every sequence). */
void ig_seq_drop(struct ig_ctx *c, int32_t seq, int32_t from_pos);
/* Highest cached position of seq, or -1 when it has none. */
int32_t ig_seq_pos_max(const struct ig_ctx *c, int32_t seq);
/* Cells in use over all sequences. */
int32_t ig_ctx_n_used(const struct ig_ctx *c);

/* ---------------------------------------------------------------- sampler */

struct ig_sampler;

/* The chain, in order: repetition penalty over the last repeat_last_n
 * accepted tokens, top-k, top-p, min-p, temperature, then a draw from the
 * seeded RNG. temp <= 0 is greedy (argmax after the penalty). */
struct ig_sampler_params {
    float    temp;           /* 0.8 */
    int32_t  top_k;          /* 40; <= 0 disables */
    float    top_p;          /* 0.9; >= 1 disables */
    float    min_p;          /* 0.0; <= 0 disables */
    float    repeat_penalty; /* 1.1; 1 disables */
    int32_t  repeat_last_n;  /* 64 */
    uint64_t seed;           /* RNG seed */
};
struct ig_sampler_params ig_sampler_default_params(void);

struct ig_sampler *ig_sampler_init(const struct ig_sampler_params *p, int32_t n_vocab);
void ig_sampler_free(struct ig_sampler *s);
/* Pick a token from n_vocab logits (not modified). */
ig_token ig_sampler_sample(struct ig_sampler *s, const float *logits);
/* Record a token as part of the history the penalty sees. */
void ig_sampler_accept(struct ig_sampler *s, ig_token t);
/* Forget history and reseed. */
void ig_sampler_reset(struct ig_sampler *s, uint64_t seed);

/* Sample the i-th logits row of the last ig_decode (counted as ig_logits
 * counts) with s: the same token as ig_sampler_sample(s, ig_logits(c, i)),
 * and the same RNG step. When s needs only the largest logits (top-k, or
 * greedy, with a repeat penalty >= 1) and the backend can pick them (CUDA),
 * only those cross to the host: the first call after a step picks them for
 * every row at once, so sampling each row in turn costs one transfer. Does
 * not accept the token. -1 if i is out of range. */
ig_token ig_sample(struct ig_ctx *c, int32_t i, struct ig_sampler *s);

/* Called with each token ig_generate picks; return false to stop there. */
typedef bool (*ig_token_fn)(ig_token t, void *user);

/* Generate tokens of sequence seq: pick a token from row `row` of the last
 * ig_decode's logits with s (ig_sample, then ig_sampler_accept), hand it to
 * on_token, and unless that returns false or n_max tokens were picked
 * (n_max < 0: no limit), decode it at position pos, pos + 1, ... and pick
 * the next from its logits. The last token picked is not decoded (as in a
 * loop of ig_sample and ig_decode that stops after a pick). seq's cells at
 * positions >= pos are freed first. Returns the number of tokens picked
 * (each one handed to on_token), or a negative ig_status: -IG_ERR_ARG, or
 * an error of the decode of an accepted token (-IG_ERR_CTX_FULL).
 *
 * With a greedy s (temp <= 0, repeat_penalty 1) on a backend that can pick
 * on the device (CUDA), the decode of each pick is queued before the pick
 * reaches the host (the device feeds it to the step), so the device never
 * waits for the host between tokens; a step queued for a pick that
 * on_token refuses is undone (its cell freed), and ig_logits has no rows
 * afterwards. INGOT_PIPELINE=0 turns that off (1: on also where it gains
 * nothing, the CPU). */
int32_t ig_generate(struct ig_ctx *c, int32_t row, int32_t seq, int32_t pos, int32_t n_max, struct ig_sampler *s,
                    ig_token_fn on_token, void *user);

/* ----------------------------------------------------------------- system */

/* Number of CPU cores this process may run on (its affinity mask: taskset,
 * a container's cpuset), else the online ones. */
int32_t ig_n_cores(void);
/* Monotonic time in microseconds. */
int64_t ig_time_us(void);
/* Memory read bandwidth in GB/s (1e9 bytes/s) with n_threads threads streaming
 * a buffer of `bytes` (use >= 256 MiB to defeat caches); best of 10 passes;
 * 0 on failure. Allocates and frees the buffer. */
double ig_measure_read_bandwidth(int n_threads, size_t bytes);

#ifdef __cplusplus
}
#endif
#endif /* INGOT_H */
