/* cmd_chat.c - `ingot chat MODEL` (and `ingot run MODEL` on a terminal): an
 * interactive conversation. libedit gives line editing and history; each
 * turn renders the whole conversation with the chat template, and the
 * session keeps the cache prefix it already holds, so earlier turns are not
 * processed again. A full context drops the oldest turns. */
#define _POSIX_C_SOURCE 200809L
#include "session.h"

#include <cjson/cJSON.h>
#include <editline/readline.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile sig_atomic_t g_interrupt;
static void on_sigint(int sig) {
    (void)sig;
    g_interrupt = 1;
}

static void chat_help(void) {
    printf("commands:\n"
           "  /bye                 leave (also /exit, /quit, Ctrl-D)\n"
           "  /clear               forget the conversation (keeps the system message)\n"
           "  /system TEXT         set the system message\n"
           "  /set                 show the sampling settings\n"
           "  /set NAME VALUE      temp, top_k, top_p, min_p, repeat_penalty, repeat_last_n,\n"
           "                       seed, max_tokens\n"
           "  /help                this text\n"
           "  \"\"\"                  begin or end a message of several lines\n"
           "Ctrl-C stops the answer being written.\n");
}

static void add_msg(cJSON *msgs, const char *role, const char *content) {
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", role);
    cJSON_AddStringToObject(m, "content", content ? content : "");
    cJSON_AddItemToArray(msgs, m);
}

static void set_system(cJSON *msgs, const char *text) {
    cJSON *first = cJSON_GetArrayItem(msgs, 0);
    const char *role = first ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "role")) : NULL;
    if (role && !strcmp(role, "system")) cJSON_DeleteItemFromArray(msgs, 0);
    if (!text || !*text) return;
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "system");
    cJSON_AddStringToObject(m, "content", text);
    cJSON_InsertItemInArray(msgs, 0, m);
}

static bool has_system(cJSON *msgs) {
    cJSON *first = cJSON_GetArrayItem(msgs, 0);
    const char *role = first ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "role")) : NULL;
    return role && !strcmp(role, "system");
}

/* /set NAME VALUE */
static void do_set(struct session *s, struct run_opts *o, char *args) {
    char *name = strtok(args, " \t"), *val = strtok(NULL, " \t");
    if (!name) {
        printf("temp %g, top_k %d, top_p %g, min_p %g, repeat_penalty %g, repeat_last_n %d, seed %llu, max_tokens %ld\n",
               o->sp.temp, o->sp.top_k, o->sp.top_p, o->sp.min_p, o->sp.repeat_penalty, o->sp.repeat_last_n,
               (unsigned long long)o->sp.seed, o->max_tokens);
        return;
    }
    if (!val) {
        printf("usage: /set NAME VALUE (see /help)\n");
        return;
    }
    double d;
    long l;
    bool ok = true;
    if (!strcmp(name, "temp") && (ok = arg_float(name, val, 0, 100, &d))) o->sp.temp = (float)d;
    else if (!strcmp(name, "top_k") && (ok = arg_int(name, val, 0, 1L << 30, &l))) o->sp.top_k = (int32_t)l;
    else if (!strcmp(name, "top_p") && (ok = arg_float(name, val, 0, 1, &d))) o->sp.top_p = (float)d;
    else if (!strcmp(name, "min_p") && (ok = arg_float(name, val, 0, 1, &d))) o->sp.min_p = (float)d;
    else if (!strcmp(name, "repeat_penalty") && (ok = arg_float(name, val, 0.01, 100, &d))) o->sp.repeat_penalty = (float)d;
    else if (!strcmp(name, "repeat_last_n") && (ok = arg_int(name, val, 0, 1 << 20, &l))) o->sp.repeat_last_n = (int32_t)l;
    else if (!strcmp(name, "seed") && (ok = arg_int(name, val, 0, __LONG_MAX__, &l))) o->sp.seed = (uint64_t)l;
    else if ((!strcmp(name, "max_tokens") || !strcmp(name, "num_predict")) && (ok = arg_int(name, val, -1, 1L << 30, &l)))
        o->max_tokens = l;
    else if (ok) {
        printf("unknown setting '%s' (see /help)\n", name);
        return;
    }
    if (!ok) return;
    struct ig_sampler *n = ig_sampler_init(&o->sp, s->info.n_vocab);
    if (!n) {
        printf("out of memory\n");
        return;
    }
    ig_sampler_free(s->smp);
    s->smp = n;
    s->seed = o->sp.seed;
    printf("set %s %s\n", name, val);
}

/* Render msgs and tokenize; drop the oldest turns while the prompt leaves
 * less than a quarter of the context for the answer. Returns count or -1. */
static int32_t render_fit(struct session *s, cJSON *msgs, ig_token **toks) {
    int32_t n_ctx = ig_ctx_n_ctx(s->c), dropped = 0;
    for (;;) {
        char *js = cJSON_PrintUnformatted(msgs), *text = NULL, err[512];
        enum ig_status st = js ? ig_chat_render(s->m, js, NULL, true, &text, err, sizeof err) : IG_ERR_NOMEM;
        free(js);
        if (st != IG_OK) {
            fprintf(stderr, "ingot: error: %s\n", st == IG_ERR_NOMEM ? "out of memory" : err);
            return -1;
        }
        int32_t n = session_tokenize(s, text, strlen(text), true, toks);
        free(text);
        if (n < 0) return -1;
        int first = has_system(msgs) ? 1 : 0;
        if (n <= n_ctx - n_ctx / 4 || cJSON_GetArraySize(msgs) - first <= 1) {
            if (dropped) fprintf(stderr, "ingot: the context is full: dropped the %d oldest messages\n", dropped);
            if (n >= n_ctx) {
                fprintf(stderr, "ingot: error: the message is %d tokens but the context holds %d (use --ctx)\n", n, n_ctx);
                free(*toks);
                *toks = NULL;
                return -1;
            }
            return n;
        }
        free(*toks);
        *toks = NULL;
        cJSON_DeleteItemFromArray(msgs, first);
        dropped++;
    }
}

/* One line of input; NULL at end of input. Sets *interrupted on Ctrl-C. */
static char *read_line(bool tty, const char *prompt, bool *interrupted) {
    *interrupted = false;
    if (tty) {
        g_interrupt = 0;
        char *l = readline(prompt);
        if (!l && g_interrupt) *interrupted = true;
        return l;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n') line[n - 1] = 0;
    return line;
}

static char *history_path(void) {
    const char *home = getenv("HOME");
    if (!home || !*home) return NULL;
    size_t n = strlen(home) + 32;
    char *p = malloc(n);
    if (!p) return NULL;
    snprintf(p, n, "%s/.ingot", home);
    mkdir(p, 0755);
    snprintf(p, n, "%s/.ingot/history", home);
    return p;
}

int cmd_chat_opts(struct run_opts *o) {
    o->chat = true;
    bool tty = isatty(STDIN_FILENO);
    struct session s;
    if (!session_open(&s, o)) {
        session_close(&s);
        return 1;
    }
    if (!ig_chat_template(s.m)) {
        session_close(&s);
        return die("%s has no chat template, so it cannot chat; use `ingot run MODEL \"PROMPT\"` to continue text",
                   o->model);
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    char *hist = tty ? history_path() : NULL;
    if (hist) read_history(hist);
    if (tty) printf("ingot chat: %s (%s, %s). /help for commands, /bye to leave.\n", s.info.name[0] ? s.info.name : o->model,
                    s.info.arch, ig_ctx_backend(s.c));
    cJSON *msgs = cJSON_CreateArray();
    if (o->system) set_system(msgs, o->system);
    int rc = 0;
    for (;;) {
        bool intr;
        char *line = read_line(tty, ">>> ", &intr);
        if (!line) {
            if (intr) {
                printf("\n(use /bye or Ctrl-D to leave)\n");
                continue;
            }
            if (tty) putchar('\n');
            break;
        }
        /* """ multi-line input """ */
        if (!strncmp(line, "\"\"\"", 3)) {
            size_t cap = strlen(line) + 1, n = strlen(line + 3);
            char *buf = malloc(cap + 1);
            memcpy(buf, line + 3, n + 1);
            free(line);
            bool closed = n >= 3 && !strcmp(buf + n - 3, "\"\"\"");
            if (closed) buf[n - 3] = 0;
            while (!closed) {
                char *more = read_line(tty, "... ", &intr);
                if (!more) break;
                size_t m = strlen(more);
                closed = m >= 3 && !strcmp(more + m - 3, "\"\"\"");
                if (closed) more[m - 3] = 0, m -= 3;
                char *nb = realloc(buf, strlen(buf) + m + 2);
                if (!nb) {
                    free(more);
                    break;
                }
                buf = nb;
                if (*buf) strcat(buf, "\n");
                strcat(buf, more);
                free(more);
            }
            line = buf;
        }
        if (!*line) {
            free(line);
            continue;
        }
        if (tty) add_history(line);
        if (line[0] == '/') {
            char *cmd = line + 1, *args = cmd + strcspn(cmd, " \t");
            if (*args) *args++ = 0;
            if (!strcmp(cmd, "bye") || !strcmp(cmd, "exit") || !strcmp(cmd, "quit")) {
                free(line);
                break;
            } else if (!strcmp(cmd, "clear")) {
                while (cJSON_GetArraySize(msgs) > (has_system(msgs) ? 1 : 0))
                    cJSON_DeleteItemFromArray(msgs, has_system(msgs) ? 1 : 0);
                printf("Cleared the conversation.\n");
            } else if (!strcmp(cmd, "system")) {
                set_system(msgs, args);
                printf(*args ? "Set the system message.\n" : "Removed the system message.\n");
            } else if (!strcmp(cmd, "set")) {
                do_set(&s, o, args);
            } else if (!strcmp(cmd, "help") || !strcmp(cmd, "?")) {
                chat_help();
            } else {
                printf("unknown command '/%s' (see /help)\n", cmd);
            }
            free(line);
            fflush(stdout);
            continue;
        }
        add_msg(msgs, "user", line);
        free(line);
        ig_token *toks = NULL;
        int32_t n = render_fit(&s, msgs, &toks);
        if (n < 0) {
            cJSON_DeleteItemFromArray(msgs, cJSON_GetArraySize(msgs) - 1);
            continue;
        }
        int64_t us;
        int32_t fresh = session_feed(&s, toks, n, &us);
        free(toks);
        if (fresh < 0) {
            rc = 1;
            break;
        }
        if (o->verbose)
            fprintf(stderr, "ingot: prompt %d tokens: %d from the cache, %d processed (%.1f tok/s)\n", n, n - fresh,
                    fresh, us > 0 ? fresh * 1e6 / (double)us : 0.0);
        g_interrupt = 0;
        struct gen_stats gs;
        char *answer = NULL;
        bool ok = session_generate(&s, o, &g_interrupt, &gs, &answer);
        putchar('\n');
        if (!tty) putchar('\n');
        if (!strcmp(gs.why, "interrupted")) fprintf(stderr, "ingot: stopped\n");
        else if (!strcmp(gs.why, "context full")) fprintf(stderr, "ingot: the context is full; older turns will be dropped\n");
        if (o->verbose)
            fprintf(stderr, "ingot: gen %d tok, %.1f tok/s, stop: %s\n", gs.n_gen,
                    gs.us > 0 ? gs.n_gen * 1e6 / (double)gs.us : 0.0, gs.why);
        add_msg(msgs, "assistant", answer ? answer : "");
        free(answer);
        fflush(stdout);
        if (!ok) {
            rc = 1;
            break;
        }
    }
    if (hist) write_history(hist), free(hist);
    cJSON_Delete(msgs);
    session_close(&s);
    return rc;
}

int cmd_chat(int argc, char **argv) {
    struct run_opts o;
    int r = run_parse(argc, argv, &o, true);
    if (r >= 0) return r;
    return cmd_chat_opts(&o);
}
