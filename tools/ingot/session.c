/* session.c - shared flag parsing, model + context setup, cache-prefix
 * reuse and the generation loop of `run` and `chat`. */
#define _POSIX_C_SOURCE 200809L
#include "session.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void run_usage(FILE *f, bool chat) {
    if (chat)
        fprintf(f, "usage: ingot chat MODEL [flags]\n"
                   "\n"
                   "Interactive chat with an instruct model through its chat template. Earlier\n"
                   "turns stay in the KV cache; when the context fills, the oldest turns are\n"
                   "dropped. Type /help in the chat for its commands. Lines on stdin that is\n"
                   "not a terminal are read as user messages, one per line.\n"
                   "\n");
    else
        fprintf(f, "usage: ingot run MODEL [PROMPT] [flags]\n"
                   "\n"
                   "Streams the model's answer to PROMPT to stdout, then one stats line to\n"
                   "stderr. MODEL is a GGUF file or a Hugging Face folder. A model with a chat\n"
                   "template gets PROMPT as a user message in that template (--raw: as is).\n"
                   "Without PROMPT: reads it from stdin when stdin is not a terminal, else\n"
                   "starts an interactive chat (see `ingot chat --help`). An empty raw prompt\n"
                   "generates from the start-of-text token.\n"
                   "\n");
    fprintf(f, "flags (defaults as in Ollama, or the model's generation_config.json):\n"
               "  -n, --max-tokens N     tokens to generate; -1: until end of text or\n"
               "                         the context is full (default -1)\n"
               "  --temp T               temperature; 0 is greedy: the most likely token,\n"
               "                         with no repeat penalty unless one is given (default 0.8);\n"
               "                         on a GPU each greedy step is then queued before the\n"
               "                         host reads the token before it\n"
               "  --top-k K              keep the K most likely tokens; 0 off (default 40)\n"
               "  --top-p P              nucleus sampling mass; 1 off (default 0.9)\n"
               "  --min-p P              drop tokens below P x the top probability (default 0)\n"
               "  --repeat-penalty R     penalize the last 64 tokens; 1 off (default 1.1)\n"
               "  --repeat-last-n N      tokens the penalty looks back over (default 64)\n"
               "  --seed S               random seed (default: from the clock)\n"
               "  --ctx N                context size in tokens (default: the model's, at most 4096)\n"
               "  --threads N            CPU threads (default: all cores)\n"
               "  --backend B            auto | cpu | cpu-ref | cuda; also the INGOT_BACKEND\n"
               "                         environment variable (default auto)\n"
               "  --stop STR             stop before STR is printed; repeatable\n"
               "  --system TEXT          a system message (chat template)\n"
               "  --raw                  no chat template: the prompt goes in as is\n"
               "  --verbose              print model details and library log lines\n"
               "  -h, --help             this text\n");
}

int run_parse(int argc, char **argv, struct run_opts *o, bool chat) {
    memset(o, 0, sizeof *o);
    o->chat = chat;
    o->sp = ig_sampler_default_params();
    o->max_tokens = -1;
    o->backend = IG_BACKEND_AUTO;
    bool have_backend = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long l;
        double d;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            run_usage(stdout, o->chat);
            return 0;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, -1, 1L << 30, &o->max_tokens)) return 2;
        } else if (!strcmp(a, "--temp")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_float(a, v, 0, 100, &d)) return 2;
            o->sp.temp = (float)d;
            o->have_temp = true;
        } else if (!strcmp(a, "--top-k")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 0, 1L << 30, &l)) return 2;
            o->sp.top_k = (int32_t)l;
            o->have_top_k = true;
        } else if (!strcmp(a, "--top-p")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_float(a, v, 0, 1, &d)) return 2;
            o->sp.top_p = (float)d;
            o->have_top_p = true;
        } else if (!strcmp(a, "--min-p")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_float(a, v, 0, 1, &d)) return 2;
            o->sp.min_p = (float)d;
        } else if (!strcmp(a, "--repeat-penalty")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_float(a, v, 0.01, 100, &d)) return 2;
            o->sp.repeat_penalty = (float)d;
            o->have_penalty = true;
        } else if (!strcmp(a, "--repeat-last-n")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 0, 1 << 20, &l)) return 2;
            o->sp.repeat_last_n = (int32_t)l;
        } else if (!strcmp(a, "--seed")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 0, __LONG_MAX__, &l)) return 2;
            o->sp.seed = (uint64_t)l;
            o->have_seed = true;
        } else if (!strcmp(a, "--ctx")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 1, 1 << 24, &o->n_ctx)) return 2;
        } else if (!strcmp(a, "--threads")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 1, 1024, &o->n_threads)) return 2;
        } else if (!strcmp(a, "--backend")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_backend(v, &o->backend)) return 2;
            have_backend = true;
        } else if (!strcmp(a, "--stop")) {
            if (!(v = arg_value(argc, argv, &i))) return 2;
            if (!*v) return die("--stop needs a non-empty string"), 2;
            if (o->n_stop == MAX_STOPS) return die("at most %d --stop strings", MAX_STOPS), 2;
            o->stop[o->n_stop++] = v;
        } else if (!strcmp(a, "--system")) {
            if (!(o->system = arg_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--raw")) {
            o->raw = true;
        } else if (!strcmp(a, "--verbose")) {
            o->verbose = true;
        } else if (a[0] == '-' && a[1]) {
            die("unknown flag '%s' (see `ingot %s --help`)", a, o->chat ? "chat" : "run");
            return 2;
        } else if (!o->model) {
            o->model = a;
        } else if (!o->prompt && !o->chat) {
            o->prompt = a;
        } else {
            die("unexpected argument '%s' (quote the prompt to pass it as one argument)", a);
            return 2;
        }
    }
    if (!o->model) {
        run_usage(stderr, o->chat);
        return 2;
    }
    const char *env_backend = getenv("INGOT_BACKEND");
    if (!have_backend && env_backend && *env_backend && !ig_backend_parse(env_backend, &o->backend))
        return die("INGOT_BACKEND='%s' is not a backend (auto, cpu, cpu-ref, cuda)", env_backend), 2;
    if (!o->have_seed) o->sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return -1;
}

static void log_to_stderr(enum ig_log_level level, const char *msg, void *user) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < IG_LOG_WARN && !*(const bool *)user) return;
    fprintf(stderr, "ingot: %s: %s\n", names[level], msg);
}

bool session_open(struct session *s, struct run_opts *o) {
    memset(s, 0, sizeof *s);
    static bool verbose;
    verbose = o->verbose;
    ig_log_set(log_to_stderr, &verbose);
    char err[512];
    int64_t t0 = ig_time_us();
    struct ig_model_params mp = ig_model_default_params();
    mp.n_threads = (int32_t)o->n_threads;
    mp.backend = o->backend;
    if (ig_model_load(o->model, &mp, &s->m, err, sizeof err) != IG_OK) {
        die("%s", err);
        return false;
    }
    /* sampling defaults shipped with the model */
    double d;
    if (!o->have_temp && ig_model_meta_num(s->m, "general.sampling.temp", &d) && d >= 0) o->sp.temp = (float)d;
    if (!o->have_top_k && ig_model_meta_num(s->m, "general.sampling.top_k", &d) && d >= 0) o->sp.top_k = (int32_t)d;
    if (!o->have_top_p && ig_model_meta_num(s->m, "general.sampling.top_p", &d) && d > 0 && d <= 1)
        o->sp.top_p = (float)d;
    if (!o->have_penalty && ig_model_meta_num(s->m, "general.sampling.penalty_repeat", &d) && d > 0)
        o->sp.repeat_penalty = (float)d;
    if (o->sp.temp == 0 && !o->have_penalty) o->sp.repeat_penalty = 1.0f; /* --temp 0: plain argmax */
    struct ig_ctx_params cp = ig_ctx_default_params();
    cp.n_ctx = (int32_t)o->n_ctx;
    if (ig_ctx_init(s->m, &cp, &s->c, err, sizeof err) != IG_OK) {
        die("%s", err);
        return false;
    }
    s->t_load_us = ig_time_us() - t0;
    ig_model_get_info(s->m, &s->info);
    if (o->verbose)
        fprintf(stderr, "ingot: %s %s, %d layers, n_embd %d, vocab %d, ctx %d, threads %d, backend %s\n",
                s->info.arch, s->info.weight_type, s->info.n_layer, s->info.n_embd, s->info.n_vocab,
                ig_ctx_n_ctx(s->c), ig_ctx_n_threads(s->c), ig_ctx_backend(s->c));
    s->seed = o->sp.seed;
    if (!(s->smp = ig_sampler_init(&o->sp, s->info.n_vocab))) {
        die("out of memory");
        return false;
    }
    return true;
}

void session_close(struct session *s) {
    ig_sampler_free(s->smp);
    ig_ctx_free(s->c);
    ig_model_free(s->m);
    free(s->hist);
    memset(s, 0, sizeof *s);
}

static bool hist_push(struct session *s, ig_token t) {
    if (s->n_hist == s->cap_hist) {
        int32_t nc = s->cap_hist ? s->cap_hist * 2 : 256;
        ig_token *h = realloc(s->hist, (size_t)nc * sizeof *h);
        if (!h) return false;
        s->hist = h;
        s->cap_hist = nc;
    }
    s->hist[s->n_hist++] = t;
    return true;
}

int32_t session_tokenize(struct session *s, const char *text, size_t len, bool templated, ig_token **out) {
    *out = NULL;
    if (len > (size_t)INT32_MAX / 2) {
        die("the prompt is too long");
        return -1;
    }
    int32_t n = ig_tokenize(s->m, text, (int32_t)len, NULL, 0, !templated, true);
    if (n == INT32_MIN) {
        die("out of memory tokenizing the prompt");
        return -1;
    }
    n = n < 0 ? -n : n;
    ig_token *t = malloc(((size_t)n + 1) * sizeof *t);
    if (!t) {
        die("out of memory");
        return -1;
    }
    ig_tokenize(s->m, text, (int32_t)len, t, n, !templated, true);
    *out = t;
    return n;
}

int32_t session_feed(struct session *s, const ig_token *toks, int32_t n, int64_t *us) {
    int64_t t0 = ig_time_us();
    int32_t keep = 0;
    while (keep < s->n_hist && keep < n && s->hist[keep] == toks[keep]) keep++;
    if (keep == n && n > 0) keep--; /* the last token must be decoded again for its logits */
    if (keep < s->n_hist) ig_seq_drop(s->c, 0, keep);
    s->n_hist = keep;
    /* the sampler's penalty window follows the cache */
    ig_sampler_reset(s->smp, s->seed + s->n_feeds++);
    enum { CHUNK = 512 };
    static int32_t pos[CHUNK], seq[CHUNK];
    static int8_t want[CHUNK];
    for (int32_t i = keep; i < n; i += CHUNK) {
        int32_t k = n - i < CHUNK ? n - i : CHUNK;
        for (int32_t j = 0; j < k; j++) pos[j] = i + j, seq[j] = 0, want[j] = i + j == n - 1;
        struct ig_batch b = {k, toks + i, pos, seq, want};
        enum ig_status st = ig_decode(s->c, &b);
        if (st != IG_OK) {
            die("decoding the prompt failed: %s", ig_status_str(st));
            return -1;
        }
        for (int32_t j = 0; j < k; j++)
            if (!hist_push(s, toks[i + j])) {
                die("out of memory");
                return -1;
            }
    }
    for (int32_t i = 0; i < n; i++) ig_sampler_accept(s->smp, toks[i]);
    if (us) *us = ig_time_us() - t0;
    return n - keep;
}

/* ------------------------------------------------------------ output */

/* Output held back while it could still become a stop string. */
struct stopper {
    const struct run_opts *o;
    char *buf;
    size_t n, cap;
    bool hit;
    char **text; /* collected output */
    size_t text_n;
};

static void emit(struct stopper *st, const char *s, size_t n) {
    fwrite(s, 1, n, stdout);
    fflush(stdout);
    if (st->text) {
        char *t = realloc(*st->text, st->text_n + n + 1);
        if (!t) return;
        memcpy(t + st->text_n, s, n);
        st->text_n += n;
        t[st->text_n] = 0;
        *st->text = t;
    }
}

/* Append text; print what can no longer be part of a stop string. */
static bool stopper_push(struct stopper *st, const char *s, size_t n) {
    const struct run_opts *o = st->o;
    if (o->n_stop == 0) {
        emit(st, s, n);
        return true;
    }
    if (st->n + n + 1 > st->cap) {
        size_t nc = (st->n + n + 1) * 2;
        char *b = realloc(st->buf, nc);
        if (!b) return false;
        st->buf = b;
        st->cap = nc;
    }
    memcpy(st->buf + st->n, s, n);
    st->n += n;
    st->buf[st->n] = 0;
    bool hit;
    size_t safe = stop_scan(st->buf, st->n, o->stop, o->n_stop, &hit);
    emit(st, st->buf, safe);
    if (hit) {
        st->n = 0;
        st->hit = true;
        return true;
    }
    memmove(st->buf, st->buf + safe, st->n - safe);
    st->n -= safe;
    return true;
}

/* one generation's state, for ig_generate's callback */
struct gen_loop {
    struct session *s;
    const struct run_opts *o;
    volatile sig_atomic_t *interrupt;
    struct gen_stats *gs;
    struct stopper *st;
    struct ig_detok *dt;
    int32_t ctx_size;
    bool failed;
};

/* ig_generate's callback: a picked token's checks and output; true when it
 * joins the history and generation goes on */
static bool gen_token(ig_token t, void *user) {
    struct gen_loop *g = user;
    struct session *s = g->s;
    if (g->interrupt && *g->interrupt) {
        g->gs->why = "interrupted";
        return false;
    }
    if (s->n_hist >= g->ctx_size) { /* (the pick needs a cell after the last) */
        g->gs->why = "context full";
        return false;
    }
    if (ig_token_is_eog(s->m, t)) return false;
    g->gs->n_gen++;
    char piece[4096];
    int32_t k = ig_detok_push(s->m, g->dt, t, piece, sizeof piece);
    if (k > 0 && !stopper_push(g->st, piece, (size_t)k)) {
        die("out of memory");
        g->failed = true;
        return false;
    }
    if (g->st->hit) {
        g->gs->why = "stop string";
        return false;
    }
    if (g->o->max_tokens >= 0 && g->gs->n_gen >= g->o->max_tokens) {
        g->gs->why = "token limit";
        return false;
    }
    if (!hist_push(s, t)) {
        die("out of memory");
        g->failed = true;
        return false;
    }
    return true;
}

bool session_generate(struct session *s, const struct run_opts *o, volatile sig_atomic_t *interrupt,
                      struct gen_stats *gs, char **text) {
    struct stopper st = {.o = o, .text = text};
    if (text) *text = NULL;
    struct ig_detok dt;
    ig_detok_reset(&dt, s->n_hist == 1 && s->hist[0] == s->info.bos);
    char piece[4096];
    gs->n_gen = 0;
    gs->why = o->max_tokens == 0 ? "token limit" : "end of text";
    int64_t t0 = ig_time_us();
    bool ok = true;
    if (o->max_tokens != 0) {
        /* (a greedy sampler on a GPU: each step queued before its token is read) */
        struct gen_loop g = {s, o, interrupt, gs, &st, &dt, ig_ctx_n_ctx(s->c), false};
        int32_t r = ig_generate(s->c, 0, 0, s->n_hist, o->max_tokens, s->smp, gen_token, &g);
        if (r < 0) {
            die("decoding failed: %s", ig_status_str((enum ig_status)-r));
            ok = false;
        }
        ok = ok && !g.failed;
    }
    gs->us = ig_time_us() - t0;
    if (!st.hit) {
        int32_t k = ig_detok_flush(&dt, piece, sizeof piece);
        if (k > 0) stopper_push(&st, piece, (size_t)k);
        if (st.n) emit(&st, st.buf, st.n);
    }
    free(st.buf);
    return ok;
}
