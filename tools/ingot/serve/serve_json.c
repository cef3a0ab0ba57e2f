/* serve_json.c - JSON mode (response_format {"type": "json_object"}): a
 * byte-level JSON recognizer that says whether a text can still grow into
 * one valid JSON object; the scheduler masks every token whose bytes would
 * leave that language, and stops when the object is complete. */
#include "serve_json.h"

#include <string.h>

enum { J_START, J_VALUE, J_ARR_FIRST, J_OBJ_FIRST, J_OBJ_KEY, J_COLON, J_AFTER, J_STR, J_ESC, J_UHEX, J_NUM, J_LIT, J_DONE };
enum { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };

void sv_json_init(struct sv_json *s) {
    memset(s, 0, sizeof *s);
    s->state = J_START;
}

bool sv_json_done(const struct sv_json *s) { return s->state == J_DONE; }

static bool ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static bool digit(char c) { return c >= '0' && c <= '9'; }

/* A value ended: back to the container (or done at the top). */
static void value_end(struct sv_json *s) { s->state = s->depth == 0 ? J_DONE : J_AFTER; }

static bool start_value(struct sv_json *s, char c) {
    switch (c) {
    case '{':
        if (s->depth >= SV_JSON_MAX_DEPTH) return false;
        s->stack[s->depth++] = '{';
        s->state = J_OBJ_FIRST;
        return true;
    case '[':
        if (s->depth >= SV_JSON_MAX_DEPTH) return false;
        s->stack[s->depth++] = '[';
        s->state = J_ARR_FIRST;
        return true;
    case '"':
        s->state = J_STR;
        s->key = false;
        return true;
    case 't': case 'f': case 'n':
        s->lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
        s->lit_i = 1;
        s->state = J_LIT;
        return true;
    case '-':
        s->num = N_MINUS;
        s->state = J_NUM;
        return true;
    default:
        if (!digit(c)) return false;
        s->num = c == '0' ? N_ZERO : N_INT;
        s->state = J_NUM;
        return true;
    }
}

static bool feed1(struct sv_json *s, char c) {
    switch (s->state) {
    case J_START: /* json_object: the top level is an object */
        if (ws(c)) return ++s->ws_run <= 8;
        if (c != '{') return false;
        s->ws_run = 0;
        return start_value(s, c);
    case J_VALUE:
    case J_ARR_FIRST:
        if (ws(c)) return ++s->ws_run <= 8;
        s->ws_run = 0;
        if (s->state == J_ARR_FIRST && c == ']') {
            s->depth--;
            value_end(s);
            return true;
        }
        return start_value(s, c);
    case J_OBJ_FIRST:
    case J_OBJ_KEY:
        if (ws(c)) return ++s->ws_run <= 8;
        s->ws_run = 0;
        if (s->state == J_OBJ_FIRST && c == '}') {
            s->depth--;
            value_end(s);
            return true;
        }
        if (c != '"') return false;
        s->state = J_STR;
        s->key = true;
        return true;
    case J_COLON:
        if (ws(c)) return ++s->ws_run <= 8;
        s->ws_run = 0;
        if (c != ':') return false;
        s->state = J_VALUE;
        return true;
    case J_AFTER:
        if (ws(c)) return ++s->ws_run <= 8;
        s->ws_run = 0;
        if (c == ',') {
            s->state = s->stack[s->depth - 1] == '{' ? J_OBJ_KEY : J_VALUE;
            return true;
        }
        if (c == (s->stack[s->depth - 1] == '{' ? '}' : ']')) {
            s->depth--;
            value_end(s);
            return true;
        }
        return false;
    case J_STR:
        if (c == '"') {
            if (s->key) s->state = J_COLON;
            else value_end(s);
            return true;
        }
        if (c == '\\') s->state = J_ESC;
        return (unsigned char)c >= 0x20; /* control characters must be escaped */
    case J_ESC:
        if (c == 'u') {
            s->state = J_UHEX;
            s->hex = 0;
            return true;
        }
        s->state = J_STR;
        return strchr("\"\\/bfnrt", c) != NULL && c;
    case J_UHEX:
        if (!(digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
        if (++s->hex == 4) s->state = J_STR;
        return true;
    case J_LIT:
        if (c != s->lit[s->lit_i]) return false;
        if (!s->lit[++s->lit_i]) value_end(s);
        return true;
    case J_NUM:
        switch (s->num) {
        case N_MINUS: if (!digit(c)) return false; s->num = c == '0' ? N_ZERO : N_INT; return true;
        case N_ZERO:
        case N_INT:
            if (digit(c) && s->num == N_INT) return true;
            if (c == '.') return s->num = N_DOT, true;
            if (c == 'e' || c == 'E') return s->num = N_E, true;
            break;
        case N_DOT: if (!digit(c)) return false; s->num = N_FRAC; return true;
        case N_FRAC:
            if (digit(c)) return true;
            if (c == 'e' || c == 'E') return s->num = N_E, true;
            break;
        case N_E:
            if (c == '+' || c == '-') return s->num = N_ESIGN, true;
            if (!digit(c)) return false;
            s->num = N_EXP;
            return true;
        case N_ESIGN: if (!digit(c)) return false; s->num = N_EXP; return true;
        case N_EXP: if (digit(c)) return true; break;
        }
        /* the number ended (a complete one): this character belongs to what follows */
        value_end(s);
        return feed1(s, c);
    case J_DONE:
        return false; /* nothing after the object */
    }
    return false;
}

bool sv_json_feed(struct sv_json *s, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!feed1(s, p[i])) return false;
    return true;
}
