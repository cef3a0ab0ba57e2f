/* serve.h - `ingot serve`: an HTTP server (libmicrohttpd, one thread per
 * connection) speaking OpenAI's and Ollama's APIs, in front of one scheduler
 * thread per loaded model that runs every active request in one batch
 * (continuous batching through ig_decode's multi-sequence call). */
#ifndef INGOT_SERVE_H
#define INGOT_SERVE_H

#include "../cli.h"
#include "serve_json.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>

#ifndef IG_MIN
#define IG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define IG_MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

#define SV_MAX_STOPS 8
#define SV_MAX_TOP 20

struct sv_config {
    const char *host, *api_key, *cors_origin;
    int port, parallel, queue, ctx_per_seq, threads, timeout_s;
    double keep_alive_s;
    enum ig_backend_type backend;
    const char *preload[16];
    int n_preload;
};

/* One generated token's log-probability and the most likely alternatives. */
struct sv_logprob {
    ig_token tok;
    float logprob;
    int n_top;
    ig_token top[SV_MAX_TOP];
    float top_lp[SV_MAX_TOP];
};

/* A chunk of committed output text (what is safe to send: no stop string
 * can still begin inside it), with the tokens that made it. */
struct sv_chunk {
    char *text;
    size_t len;
    int n_lp;
    struct sv_logprob *lp;
};

struct sv_model;

/* A generation request, shared by its HTTP connection and the scheduler;
 * freed when both have released it. */
struct sv_req {
    /* set by the HTTP side before submitting */
    ig_token *prompt;
    int32_t n_prompt;
    struct ig_sampler_params sp;
    float presence, frequency;
    int32_t max_tokens; /* < 0: until the context is full */
    int32_t n_ctx;      /* this request's context limit */
    char *stops[SV_MAX_STOPS];
    int n_stop;
    int top_logprobs;   /* < 0: no logprobs */
    bool json;          /* response_format json_object: only tokens that keep a valid JSON object */
    struct sv_json js;
    /* scheduler state */
    int seq;
    int32_t n_past, n_gen, prompt_done;
    struct ig_sampler *smp;
    struct ig_detok dt;
    int32_t *counts;    /* generated-token counts for presence/frequency penalties */
    float *adj;         /* logits copy for JSON masking and penalties */
    char *held;         /* text held back while it may begin a stop string */
    size_t held_n, held_cap;
    struct sv_logprob *held_lp;
    int held_nlp, held_lp_cap;
    /* output, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sv_chunk *chunks;
    int n_chunks, cap_chunks;
    bool done;
    const char *finish; /* "stop", "length", "cancelled", "error" */
    char error[256];
    int64_t t_submit, t_first, t_prompt_end, t_end, t_load;
    atomic_bool cancelled;
    int refs;
    struct sv_model *model;
};

struct sv_req *sv_req_new(void);
void sv_req_release(struct sv_req *r);
/* Wait for chunk i (or the end); returns false when no chunk i will come.
 * out (may be NULL) gets a copy of the chunk, taken under the lock: the
 * scheduler may grow (move) r->chunks while a reader holds an index. */
bool sv_req_wait_chunk(struct sv_req *r, int i, int timeout_ms, bool *timed_out, struct sv_chunk *out);

/* Models: loaded on first use, unloaded after keep_alive without requests. */
struct sv_model {
    char name[512];
    struct ig_model *m;
    struct ig_ctx *c;
    struct ig_model_info info;
    int parallel, ctx_per_seq;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct sv_req **queue;
    int q_head, q_n, q_cap;
    struct sv_req **slots;
    int n_active;
    bool stop;
    double keep_alive_s;
    int64_t last_used_us, load_us, expires_us;
    int refs; /* requests holding it */
    char **pieces;      /* each token's bytes, for JSON mode (built on first use) */
    int32_t *piece_len;
    struct sv_model *next;
};

void sv_models_init(const struct sv_config *cfg);
/* The model called name, loading it if needed; NULL with err and *status (404, 500). */
struct sv_model *sv_model_get(const char *name, char *err, size_t err_len, int *status);
void sv_model_put(struct sv_model *m);
/* Queue a request; false (503) when the queue is full. */
bool sv_submit(struct sv_model *m, struct sv_req *r);
void sv_models_shutdown(void);
/* Loaded models (for /api/ps, /v1/models); call with the returned lock held,
 * then sv_models_unlock. */
struct sv_model *sv_models_lock(void);
void sv_models_unlock(void);
void sv_set_keep_alive(struct sv_model *m, double seconds);

/* Metrics (Prometheus text). */
struct sv_metrics {
    atomic_long requests, errors, prompt_tokens, gen_tokens, active, queued;
    atomic_long ttft_us_sum, ttft_count, gen_us_sum;
};
extern struct sv_metrics sv_metrics;

/* API handlers: body JSON -> status and response (JSON or a streaming reader). */
struct sv_http;
int sv_handle(struct sv_http *h, const char *method, const char *url, const char *body, size_t body_len);

#endif
