/* serve_http.c - the HTTP side of `ingot serve`: libmicrohttpd with one
 * thread per connection, request bodies collected with a size limit, API
 * keys, CORS, idle-connection timeouts (slow clients), JSON and streamed
 * (SSE / NDJSON) responses, and noticing a client that went away. */
#define _GNU_SOURCE
#include "serve_http.h"

#include <errno.h>
#include <microhttpd.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_BODY (8u << 20)

static struct sv_config g_cfg;

struct conn {
    char *body;
    size_t n, cap;
    bool too_big;
};

static void add_common(struct MHD_Response *resp) {
    if (g_cfg.cors_origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", g_cfg.cors_origin);
        MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    }
}

int sv_send_text(struct sv_http *h, int status, const char *ctype, const char *text, size_t n) {
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", ctype);
    add_common(resp);
    if (status == 503) MHD_add_response_header(resp, "Retry-After", "1");
    int ret = MHD_queue_response(h->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    h->status = status;
    if (status >= 400) atomic_fetch_add(&sv_metrics.errors, 1);
    return ret;
}

int sv_send_json(struct sv_http *h, int status, cJSON *body) {
    char *s = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!s) return sv_send_text(h, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
    int ret = sv_send_text(h, status, "application/json", s, strlen(s));
    free(s);
    return ret;
}

int sv_send_error(struct sv_http *h, int status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    if (h->ollama) {
        cJSON_AddStringToObject(o, "error", msg);
    } else { /* OpenAI's error shape */
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "message", msg);
        cJSON_AddStringToObject(e, "type", status == 401 ? "authentication_error"
                                           : status == 404 ? "not_found_error"
                                           : status == 503 ? "server_overloaded"
                                           : status >= 500 ? "server_error"
                                                           : "invalid_request_error");
        cJSON_AddNullToObject(e, "param");
        cJSON_AddNullToObject(e, "code");
    }
    return sv_send_json(h, status, o);
}

bool sv_client_gone(struct sv_http *h) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(h->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return false;
    struct pollfd p = {ci->connect_fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
    char c;
    ssize_t r = recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0;
}

/* ------------------------------------------------------------ streaming */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    struct sv_stream *st = cls;
    for (;;) {
        if (st->out_off < st->out_n) {
            size_t n = IG_MIN(max, st->out_n - st->out_off);
            memcpy(buf, st->out + st->out_off, n);
            st->out_off += n;
            return (ssize_t)n;
        }
        st->out_n = st->out_off = 0;
        if (st->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        bool timed_out;
        struct sv_chunk c;
        if (sv_req_wait_chunk(st->r, st->next, 1000, &timed_out, &c)) {
            st->emit(st, &c, false);
            st->next++;
        } else if (timed_out) {
            continue; /* still generating */
        } else {
            st->emit(st, NULL, true); /* the final record(s) */
            st->finished = true;
        }
    }
}

static void stream_free(void *cls) {
    struct sv_stream *st = cls;
    if (!st->finished) atomic_store(&st->r->cancelled, true); /* the client went away: stop generating */
    sv_req_release(st->r);
    if (st->model) sv_model_put(st->model);
    free(st->out);
    free(st->user);
    free(st);
}

void sv_stream_put(struct sv_stream *st, const char *s, size_t n) {
    if (st->out_n + n > st->out_cap) {
        size_t nc = (st->out_n + n) * 2 + 256;
        char *o = realloc(st->out, nc);
        if (!o) return;
        st->out = o;
        st->out_cap = nc;
    }
    memcpy(st->out + st->out_n, s, n);
    st->out_n += n;
}

void sv_stream_json(struct sv_stream *st, cJSON *o, bool sse) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return;
    if (sse) sv_stream_put(st, "data: ", 6);
    sv_stream_put(st, s, strlen(s));
    sv_stream_put(st, sse ? "\n\n" : "\n", sse ? 2 : 1);
    free(s);
}

int sv_send_stream(struct sv_http *h, struct sv_stream *st, const char *ctype) {
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
    if (!resp) {
        stream_free(st);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    add_common(resp);
    int ret = MHD_queue_response(h->conn, 200, resp);
    MHD_destroy_response(resp);
    h->status = 200;
    return ret;
}

/* ------------------------------------------------------------ the daemon */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)cls, (void)version;
    struct conn *c = *con_cls;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) return MHD_NO;
        *con_cls = c;
        return MHD_YES;
    }
    if (*upload_data_size) { /* collect the body, up to MAX_BODY */
        if (!c->too_big) {
            if (c->n + *upload_data_size > MAX_BODY) {
                c->too_big = true;
            } else {
                if (c->n + *upload_data_size + 1 > c->cap) {
                    size_t nc = (c->n + *upload_data_size + 1) * 2;
                    char *b = realloc(c->body, nc);
                    if (!b) return MHD_NO;
                    c->body = b;
                    c->cap = nc;
                }
                memcpy(c->body + c->n, upload_data, *upload_data_size);
                c->n += *upload_data_size;
                c->body[c->n] = 0;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct sv_http h = {connection, 0, !strncmp(url, "/api/", 5)};
    atomic_fetch_add(&sv_metrics.requests, 1);
    if (!strcmp(method, "OPTIONS")) {
        return (enum MHD_Result)sv_send_text(&h, 204, "text/plain", "", 0);
    }
    if (c->too_big) return (enum MHD_Result)sv_send_error(&h, 413, "the request body is over %u bytes", MAX_BODY);
    if (g_cfg.api_key && strcmp(url, "/health") != 0) {
        const char *auth = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Authorization");
        char want[600];
        snprintf(want, sizeof want, "Bearer %s", g_cfg.api_key);
        if (!auth || strcmp(auth, want) != 0)
            return (enum MHD_Result)sv_send_error(&h, 401, "a valid API key is required (Authorization: Bearer KEY)");
    }
    return (enum MHD_Result)sv_handle(&h, method, url, c->body ? c->body : "", c->n);
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)connection, (void)toe;
    struct conn *c = *con_cls;
    if (c) free(c->body), free(c);
    *con_cls = NULL;
}

static volatile sig_atomic_t g_quit;
static void on_signal(int s) {
    (void)s;
    g_quit = 1;
}

static void serve_usage(FILE *f) {
    fprintf(f, "usage: ingot serve [--host 127.0.0.1] [--port 11435] [--model NAME]... [flags]\n"
               "\n"
               "An OpenAI- and Ollama-compatible HTTP server. Models load on first use (or at\n"
               "start with --model) and unload after --keep-alive without requests. All active\n"
               "requests of a model run together in one batch (continuous batching).\n"
               "\n"
               "  --host H            address to bind (default 127.0.0.1; also INGOT_HOST, host[:port])\n"
               "  --port P            port (default 11435)\n"
               "  --model NAME        load NAME at start (repeatable)\n"
               "  --parallel N        sequences run at once per model (default 4)\n"
               "  --queue N           requests waiting beyond those (default 64; then 503)\n"
               "  --ctx N             context per sequence (default 4096, at most the model's)\n"
               "  --keep-alive S      seconds an idle model stays loaded (default 300; -1 forever)\n"
               "  --api-key KEY       require Authorization: Bearer KEY (also INGOT_API_KEY)\n"
               "  --cors-origin O     allow browser requests from origin O (off by default)\n"
               "  --timeout S         close a connection idle for S seconds (default 30; slow clients)\n"
               "  --threads N         CPU threads\n"
               "  --backend B         auto | cpu | cpu-ref | cuda\n"
               "\n"
               "OpenAI: POST /v1/chat/completions, /v1/completions; GET /v1/models.\n"
               "Ollama: POST /api/generate, /api/chat, /api/show; GET /api/tags, /api/ps, /api/version.\n"
               "Also GET /health and /metrics (Prometheus).\n");
}

int cmd_serve(int argc, char **argv) {
    struct sv_config cfg = {"127.0.0.1", getenv("INGOT_API_KEY"), NULL, 11435, 4, 64, 4096, 0, 30, 300, IG_BACKEND_AUTO, {0}, 0};
    const char *env_host = getenv("INGOT_HOST");
    static char hostbuf[256];
    if (env_host && *env_host) { /* host or host:port, like OLLAMA_HOST */
        snprintf(hostbuf, sizeof hostbuf, "%s", env_host);
        char *colon = strrchr(hostbuf, ':');
        if (colon && !strchr(colon, ']')) *colon = 0, cfg.port = atoi(colon + 1);
        cfg.host = hostbuf;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long l;
        double d;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            serve_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--host")) {
            if (!(cfg.host = arg_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--port")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 0, 65535, &l)) return 2;
            cfg.port = (int)l;
        } else if (!strcmp(a, "--model")) {
            if (!(v = arg_value(argc, argv, &i))) return 2;
            if (cfg.n_preload < 16) cfg.preload[cfg.n_preload++] = v;
        } else if (!strcmp(a, "--parallel")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 1, 256, &l)) return 2;
            cfg.parallel = (int)l;
        } else if (!strcmp(a, "--queue")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 1, 100000, &l)) return 2;
            cfg.queue = (int)l;
        } else if (!strcmp(a, "--ctx")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 16, 1 << 20, &l)) return 2;
            cfg.ctx_per_seq = (int)l;
        } else if (!strcmp(a, "--keep-alive")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_float(a, v, -1, 1e9, &d)) return 2;
            cfg.keep_alive_s = d < 0 ? 1e12 : d;
        } else if (!strcmp(a, "--api-key")) {
            if (!(cfg.api_key = arg_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--cors-origin")) {
            if (!(cfg.cors_origin = arg_value(argc, argv, &i))) return 2;
        } else if (!strcmp(a, "--timeout")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 1, 3600, &l)) return 2;
            cfg.timeout_s = (int)l;
        } else if (!strcmp(a, "--threads")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 1, 1024, &l)) return 2;
            cfg.threads = (int)l;
        } else if (!strcmp(a, "--backend")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_backend(v, &cfg.backend)) return 2;
        } else {
            die("unknown flag '%s' for serve (see `ingot serve --help`)", a);
            return 2;
        }
    }
    if (cfg.api_key && !*cfg.api_key) cfg.api_key = NULL;
    g_cfg = cfg;
    sv_models_init(&cfg);
    sv_api_init(&cfg);
    for (int i = 0; i < cfg.n_preload; i++) {
        char err[512];
        int status;
        struct sv_model *m = sv_model_get(cfg.preload[i], err, sizeof err, &status);
        if (!m) return die("%s", err);
        sv_model_put(m);
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, cfg.host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)cfg.port);
    } else if (inet_pton(AF_INET6, cfg.host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)cfg.port);
        flags |= MHD_USE_IPv6;
    } else if (!strcmp(cfg.host, "localhost")) {
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        in4->sin_port = htons((uint16_t)cfg.port);
    } else {
        return die("--host '%s' is not an IP address (use 127.0.0.1, 0.0.0.0 or ::)", cfg.host);
    }
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)cfg.port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR,
                                            (struct sockaddr *)&ss, MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg.timeout_s, MHD_OPTION_CONNECTION_LIMIT,
                                            (unsigned)512, MHD_OPTION_END);
    if (!d) return die("cannot listen on %s:%d: %s (port in use? try --port)", cfg.host, cfg.port, strerror(errno));
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "ingot serve: listening on http://%s:%u (%d parallel sequences per model%s)\n", cfg.host,
            di ? di->port : (unsigned)cfg.port, cfg.parallel, cfg.api_key ? ", API key required" : "");
    fflush(stderr);
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (!g_quit) pause();
    fprintf(stderr, "ingot serve: shutting down\n");
    sv_models_shutdown();
    MHD_stop_daemon(d);
    return 0;
}
