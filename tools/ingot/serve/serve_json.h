/* serve_json.h - the JSON-mode recognizer (see serve_json.c). */
#ifndef INGOT_SERVE_JSON_H
#define INGOT_SERVE_JSON_H

#include <stdbool.h>
#include <stddef.h>

#define SV_JSON_MAX_DEPTH 32

struct sv_json {
    int state, num, hex, lit_i, depth, ws_run;
    bool key;
    const char *lit;
    char stack[SV_JSON_MAX_DEPTH];
};

void sv_json_init(struct sv_json *s);
/* Feed bytes; false (and s left in an undefined state) when they cannot
 * continue a JSON object. Work on a copy to test a candidate. */
bool sv_json_feed(struct sv_json *s, const char *p, size_t n);
bool sv_json_done(const struct sv_json *s);

#endif
