/* cmd_run.c - `ingot run MODEL [PROMPT]`: load, prefill the prompt in
 * batches, then sample and stream one token at a time; stats on stderr. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_STOPS 16

static void run_usage(FILE *f) {
    fprintf(f,
            "usage: ingot run MODEL [PROMPT] [flags]\n"
            "\n"
            "Streams the model's continuation of PROMPT to stdout, then one stats line\n"
            "to stderr. Without PROMPT, reads the prompt from stdin when it is not a\n"
            "terminal. An empty prompt generates from the start-of-text token.\n"
            "\n"
            "flags (defaults as in Ollama):\n"
            "  -n, --max-tokens N     tokens to generate; -1: until end of text or\n"
            "                         the context is full (default -1)\n"
            "  --temp T               temperature; 0 is greedy: the most likely token,\n"
            "                         with no repeat penalty unless one is given (default 0.8)\n"
            "  --top-k K              keep the K most likely tokens; 0 off (default 40)\n"
            "  --top-p P              nucleus sampling mass; 1 off (default 0.9)\n"
            "  --min-p P              drop tokens below P x the top probability (default 0)\n"
            "  --repeat-penalty R     penalize the last 64 tokens; 1 off (default 1.1)\n"
            "  --repeat-last-n N      tokens the penalty looks back over (default 64)\n"
            "  --seed S               random seed (default: from the clock)\n"
            "  --ctx N                context size in tokens (default: the model's, at most 4096)\n"
            "  --threads N            CPU threads (default: all cores)\n"
            "  --backend B            auto | cpu | cpu-ref | cuda (scalar reference); also the\n"
            "                         INGOT_BACKEND environment variable (default auto)\n"
            "  --stop STR             stop before STR is printed; repeatable\n"
            "  --verbose              print model details and library log lines\n"
            "  -h, --help             this text\n");
}

/* Warnings (e.g. why the GPU is not used) always; the rest with --verbose. */
static void log_to_stderr(enum ig_log_level level, const char *msg, void *user) {
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (level < IG_LOG_WARN && !*(const bool *)user) return;
    fprintf(stderr, "ingot: %s: %s\n", names[level], msg);
}

/* Output held back while it could still become a stop string. */
struct stopper {
    const char *stop[MAX_STOPS];
    int n_stop;
    char *buf;
    size_t n, cap;
    bool hit;
};

static void emit(const char *s, size_t n) {
    fwrite(s, 1, n, stdout);
    fflush(stdout);
}

/* Append text; print what can no longer be part of a stop string. */
static bool stopper_push(struct stopper *st, const char *s, size_t n) {
    if (st->n_stop == 0) {
        emit(s, n);
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
    size_t cut = st->n; /* earliest stop match */
    for (int i = 0; i < st->n_stop; i++) {
        char *hit = strstr(st->buf, st->stop[i]);
        if (hit && (size_t)(hit - st->buf) < cut) cut = (size_t)(hit - st->buf);
    }
    if (cut < st->n) {
        emit(st->buf, cut);
        st->n = 0;
        st->hit = true;
        return true;
    }
    size_t keep = 0; /* longest suffix that is a prefix of a stop string */
    for (int i = 0; i < st->n_stop; i++) {
        size_t sl = strlen(st->stop[i]);
        for (size_t k = sl - 1; k > keep; k--)
            if (k <= st->n && !memcmp(st->buf + st->n - k, st->stop[i], k)) {
                keep = k;
                break;
            }
    }
    emit(st->buf, st->n - keep);
    memmove(st->buf, st->buf + st->n - keep, keep);
    st->n = keep;
    return true;
}

int cmd_run(int argc, char **argv) {
    const char *model_path = NULL, *prompt_arg = NULL;
    struct ig_sampler_params sp = ig_sampler_default_params();
    long max_tokens = -1, n_ctx = 0, n_threads = 0;
    bool have_seed = false, verbose = false, have_penalty = false, have_backend = false;
    enum ig_backend_type backend = IG_BACKEND_AUTO;
    struct stopper st = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long l;
        double d;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            run_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, -1, 1L << 30, &max_tokens)) return 2;
        } else if (!strcmp(a, "--temp")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_float(a, v, 0, 100, &d)) return 2;
            sp.temp = (float)d;
        } else if (!strcmp(a, "--top-k")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 0, 1L << 30, &l)) return 2;
            sp.top_k = (int32_t)l;
        } else if (!strcmp(a, "--top-p")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_float(a, v, 0, 1, &d)) return 2;
            sp.top_p = (float)d;
        } else if (!strcmp(a, "--min-p")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_float(a, v, 0, 1, &d)) return 2;
            sp.min_p = (float)d;
        } else if (!strcmp(a, "--repeat-penalty")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_float(a, v, 0.01, 100, &d)) return 2;
            sp.repeat_penalty = (float)d;
            have_penalty = true;
        } else if (!strcmp(a, "--repeat-last-n")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 0, 1 << 20, &l)) return 2;
            sp.repeat_last_n = (int32_t)l;
        } else if (!strcmp(a, "--seed")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 0, __LONG_MAX__, &l)) return 2;
            sp.seed = (uint64_t)l;
            have_seed = true;
        } else if (!strcmp(a, "--ctx")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 1, 1 << 24, &n_ctx)) return 2;
        } else if (!strcmp(a, "--threads")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 1, 1024, &n_threads)) return 2;
        } else if (!strcmp(a, "--backend")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_backend(v, &backend)) return 2;
            have_backend = true;
        } else if (!strcmp(a, "--stop")) {
            if (!(v = arg_value(argc, argv, &i))) return 2;
            if (!*v) return die("--stop needs a non-empty string");
            if (st.n_stop == MAX_STOPS) return die("at most %d --stop strings", MAX_STOPS);
            st.stop[st.n_stop++] = v;
        } else if (!strcmp(a, "--verbose")) {
            verbose = true;
        } else if (a[0] == '-' && a[1]) {
            die("unknown flag '%s' for run (see `ingot run --help`)", a);
            return 2;
        } else if (!model_path) {
            model_path = a;
        } else if (!prompt_arg) {
            prompt_arg = a;
        } else {
            die("unexpected argument '%s' (quote the prompt to pass it as one argument)", a);
            return 2;
        }
    }
    if (!model_path) {
        run_usage(stderr);
        return 2;
    }
    const char *env_backend = getenv("INGOT_BACKEND");
    if (!have_backend && env_backend && *env_backend && !ig_backend_parse(env_backend, &backend))
        return die("INGOT_BACKEND='%s' is not a backend (auto, cpu, cpu-ref, cuda)", env_backend);
    if (sp.temp == 0 && !have_penalty) sp.repeat_penalty = 1.0f; /* --temp 0: plain argmax */
    if (!have_seed) sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    ig_log_set(log_to_stderr, &verbose);

    char *prompt = NULL;
    size_t prompt_len = 0;
    if (prompt_arg) {
        prompt = strdup(prompt_arg);
        prompt_len = strlen(prompt_arg);
    } else if (!isatty(STDIN_FILENO)) {
        prompt = read_all(stdin, &prompt_len);
    } else {
        return die("give a PROMPT argument or pipe the prompt on stdin (interactive chat is not available yet)");
    }
    if (!prompt) return die("out of memory reading the prompt");

    int rc = 1;
    char err[512];
    struct ig_model *m = NULL;
    struct ig_ctx *c = NULL;
    struct ig_sampler *smp = NULL;
    ig_token *toks = NULL;
    int64_t t0 = ig_time_us();
    struct ig_model_params mp = ig_model_default_params();
    mp.n_threads = (int32_t)n_threads;
    mp.backend = backend;
    if (ig_model_load(model_path, &mp, &m, err, sizeof err) != IG_OK) {
        die("%s", err);
        goto done;
    }
    struct ig_ctx_params cp = ig_ctx_default_params();
    cp.n_ctx = (int32_t)n_ctx;
    if (ig_ctx_init(m, &cp, &c, err, sizeof err) != IG_OK) {
        die("%s", err);
        goto done;
    }
    int64_t t_load = ig_time_us() - t0;
    struct ig_model_info info;
    ig_model_get_info(m, &info);
    if (verbose)
        fprintf(stderr, "ingot: %s %s, %d layers, n_embd %d, vocab %d, ctx %d, threads %d, backend %s\n",
                info.arch, info.weight_type, info.n_layer, info.n_embd, info.n_vocab, ig_ctx_n_ctx(c),
                ig_ctx_n_threads(c), ig_ctx_backend(c));

    if (prompt_len > (size_t)INT32_MAX) {
        die("the prompt is too long");
        goto done;
    }
    int32_t n_prompt = ig_tokenize(m, prompt, (int32_t)prompt_len, NULL, 0, true, true);
    if (n_prompt == INT32_MIN) {
        die("out of memory tokenizing the prompt");
        goto done;
    }
    n_prompt = n_prompt < 0 ? -n_prompt : n_prompt;
    toks = malloc(((size_t)n_prompt + 1) * sizeof *toks);
    if (!toks) {
        die("out of memory");
        goto done;
    }
    ig_tokenize(m, prompt, (int32_t)prompt_len, toks, n_prompt, true, true);
    if (n_prompt == 0) { /* nothing to condition on: start from BOS */
        if (info.bos < 0) {
            die("the prompt is empty and the model has no start-of-text token");
            goto done;
        }
        toks[n_prompt++] = info.bos;
    }
    int32_t ctx_size = ig_ctx_n_ctx(c);
    if (n_prompt >= ctx_size) {
        die("the prompt is %d tokens but the context holds %d; use a larger --ctx or a shorter prompt", n_prompt,
            ctx_size);
        goto done;
    }
    if (verbose) fprintf(stderr, "ingot: prompt is %d tokens\n", n_prompt);
    smp = ig_sampler_init(&sp, info.n_vocab);
    if (!smp) {
        die("out of memory");
        goto done;
    }

    /* prefill in batches of up to 512 tokens; logits only for the last */
    enum { CHUNK = 512 };
    static int32_t pos[CHUNK], seq[CHUNK];
    int64_t t1 = ig_time_us();
    for (int32_t i = 0; i < n_prompt; i += CHUNK) {
        int32_t n = n_prompt - i < CHUNK ? n_prompt - i : CHUNK;
        for (int32_t j = 0; j < n; j++) pos[j] = i + j, seq[j] = 0;
        struct ig_batch b = {n, toks + i, pos, seq, NULL};
        enum ig_status s = ig_decode(c, &b);
        if (s != IG_OK) {
            die("decoding the prompt failed: %s", ig_status_str(s));
            goto done;
        }
    }
    for (int32_t i = 0; i < n_prompt; i++) ig_sampler_accept(smp, toks[i]);
    int64_t t_prompt = ig_time_us() - t1;

    struct ig_detok dt;
    ig_detok_reset(&dt, n_prompt == 1 && toks[0] == info.bos);
    char piece[4096];
    int32_t n_gen = 0, cur = n_prompt;
    const char *why = "end of text";
    int64_t t2 = ig_time_us();
    while (max_tokens < 0 || n_gen < max_tokens) {
        if (cur >= ctx_size) {
            why = "context full";
            break;
        }
        ig_token t = ig_sampler_sample(smp, ig_logits(c, 0));
        ig_sampler_accept(smp, t);
        if (ig_token_is_eog(m, t)) break;
        n_gen++;
        int32_t k = ig_detok_push(m, &dt, t, piece, sizeof piece);
        if (k > 0 && !stopper_push(&st, piece, (size_t)k)) {
            die("out of memory");
            goto done;
        }
        if (st.hit) {
            why = "stop string";
            break;
        }
        if (max_tokens >= 0 && n_gen >= max_tokens) {
            why = "token limit";
            break;
        }
        struct ig_batch b = {1, &t, &cur, &seq[0], NULL};
        seq[0] = 0;
        enum ig_status s = ig_decode(c, &b);
        if (s != IG_OK) {
            die("decoding failed: %s", ig_status_str(s));
            goto done;
        }
        cur++;
    }
    int64_t t_gen = ig_time_us() - t2;
    if (!st.hit) {
        int32_t k = ig_detok_flush(&dt, piece, sizeof piece);
        if (k > 0) stopper_push(&st, piece, (size_t)k);
        if (st.n) emit(st.buf, st.n);
    }
    if (isatty(STDOUT_FILENO)) emit("\n", 1);
    fprintf(stderr, "load %.2f s | prompt %d tok, %.1f tok/s | gen %d tok, %.1f tok/s | stop: %s\n",
            (double)t_load / 1e6, n_prompt, t_prompt > 0 ? n_prompt * 1e6 / (double)t_prompt : 0.0, n_gen,
            t_gen > 0 ? n_gen * 1e6 / (double)t_gen : 0.0, why);
    rc = 0;
done:
    free(prompt);
    free(toks);
    free(st.buf);
    ig_sampler_free(smp);
    ig_ctx_free(c);
    ig_model_free(m);
    return rc;
}
