/* session.h - what `run` and `chat` share: their flags, a loaded model with
 * one context, the tokens held in its KV cache, and the generation loop
 * (sampling, streaming through a UTF-8-safe detokenizer, stop strings). */
#ifndef INGOT_SESSION_H
#define INGOT_SESSION_H

#include "cli.h"

#include <signal.h>

#define MAX_STOPS 16

struct run_opts {
    const char *model, *prompt, *system;
    struct ig_sampler_params sp;
    long max_tokens, n_ctx, n_threads;
    bool have_seed, have_temp, have_top_k, have_top_p, have_penalty;
    bool verbose, raw, chat;
    enum ig_backend_type backend;
    const char *stop[MAX_STOPS];
    int n_stop;
};

/* Parse `run`/`chat` flags. Returns -1 to go on, else the exit code (help, error). */
int run_parse(int argc, char **argv, struct run_opts *o, bool chat);
void run_usage(FILE *f, bool chat);

struct session {
    struct ig_model *m;
    struct ig_ctx *c;
    struct ig_sampler *smp;
    struct ig_model_info info;
    ig_token *hist; /* tokens in the KV cache, in order */
    int32_t n_hist, cap_hist;
    int64_t t_load_us;
    uint64_t seed;  /* the sampler restarts from seed + n_feeds at each feed */
    uint64_t n_feeds;
};

/* Load the model and a context; sampling defaults the user left unset come
 * from the model (generation_config.json). Prints errors; false on failure. */
bool session_open(struct session *s, struct run_opts *o);
void session_close(struct session *s);

/* Make the cache hold toks[0..n): keep the prefix it already holds, drop the
 * rest, decode the remainder (in batches). Returns the tokens decoded, or -1
 * (error printed). */
int32_t session_feed(struct session *s, const ig_token *toks, int32_t n, int64_t *us);

/* Tokenize for the model: a rendered chat prompt has its special tokens
 * spelled out (no BOS added); a raw prompt gets BOS when the model wants it.
 * *out malloc'ed; returns the count or -1 (error printed). */
int32_t session_tokenize(struct session *s, const char *text, size_t len, bool templated, ig_token **out);

struct gen_stats {
    int32_t n_gen;
    int64_t us;
    const char *why;
};

/* Sample from the logits of the last fed token and stream until end of
 * generation, max_tokens, a stop string, a full context or *interrupt.
 * Generated tokens join the history. text (may be NULL): the printed text. */
bool session_generate(struct session *s, const struct run_opts *o, volatile sig_atomic_t *interrupt,
                      struct gen_stats *st, char **text);

#endif
