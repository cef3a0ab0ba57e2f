/* serve_http.h - what the API handlers need from the HTTP layer. */
#ifndef INGOT_SERVE_HTTP_H
#define INGOT_SERVE_HTTP_H

#include "serve.h"

#include <arpa/inet.h>

struct MHD_Connection;

struct sv_http {
    struct MHD_Connection *conn;
    int status;
    bool ollama; /* /api/...: Ollama's error shape */
};

int sv_send_text(struct sv_http *h, int status, const char *ctype, const char *text, size_t n);
int sv_send_json(struct sv_http *h, int status, cJSON *body); /* takes body */
int sv_send_error(struct sv_http *h, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* True when the client closed its connection (while we wait for a result). */
bool sv_client_gone(struct sv_http *h);

/* A streamed response: emit() formats chunk c (or, with final, the closing
 * records) into the output with sv_stream_put / sv_stream_json. */
struct sv_stream {
    struct sv_req *r;
    struct sv_model *model; /* released with the stream */
    int next;
    bool finished;
    char *out;
    size_t out_n, out_off, out_cap;
    void (*emit)(struct sv_stream *st, const struct sv_chunk *c, bool final);
    void *user; /* freed with the stream */
};
void sv_stream_put(struct sv_stream *st, const char *s, size_t n);
void sv_stream_json(struct sv_stream *st, cJSON *o, bool sse); /* takes o */
int sv_send_stream(struct sv_http *h, struct sv_stream *st, const char *ctype);

void sv_api_init(const struct sv_config *cfg);

#endif
