/* jinja_value.c - values with Python semantics: truthiness, equality, str(),
 * repr() and json.dumps, all allocated in a per-render arena. */
#include "chat/jinja_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

struct jblock {
    struct jblock *next;
    size_t used, cap;
    _Alignas(16) unsigned char mem[];
};

void *ja_alloc(struct jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (a->limit && a->used_total + n > a->limit) return NULL;
    struct jblock *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = b->mem + b->used;
    b->used += n;
    a->used_total += n;
    memset(p, 0, n);
    return p;
}

void ja_free_all(struct jarena *a) {
    for (struct jblock *b = a->head, *nx; b; b = nx) {
        nx = b->next;
        free(b);
    }
    a->head = NULL;
    a->used_total = 0;
}

void *jr_alloc(struct jrender *r, size_t n) {
    void *p = ja_alloc(&r->arena, n);
    if (!p) {
        r->status = IG_ERR_NOMEM;
        jr_fail(r, 0, "template used too much memory");
    }
    return p;
}

struct jstr *js_new(struct jarena *a, const char *s, size_t n) {
    struct jstr *j = ja_alloc(a, sizeof *j + n + 1);
    if (!j) return NULL;
    j->n = n;
    if (n) memcpy(j->p, s, n);
    j->p[n] = 0;
    return j;
}

struct jv jv_undef(void) { return (struct jv){.t = JV_UNDEF}; }
struct jv jv_none(void) { return (struct jv){.t = JV_NONE}; }
struct jv jv_bool(bool b) { return (struct jv){.t = JV_BOOL, .u.b = b}; }
struct jv jv_int(int64_t i) { return (struct jv){.t = JV_INT, .u.i = i}; }
struct jv jv_float(double f) { return (struct jv){.t = JV_FLOAT, .u.f = f}; }

struct jv jv_str(struct jrender *r, const char *s, size_t n) {
    struct jstr *j = js_new(&r->arena, s, n);
    if (!j) {
        r->status = IG_ERR_NOMEM;
        jr_fail(r, 0, "template used too much memory");
    }
    return (struct jv){.t = JV_STR, .u.s = j};
}
struct jv jv_cstr(struct jrender *r, const char *s) { return jv_str(r, s, strlen(s)); }

struct jv jv_list(struct jrender *r) { return (struct jv){.t = JV_LIST, .u.l = jr_alloc(r, sizeof(struct jlist))}; }
struct jv jv_dict(struct jrender *r) { return (struct jv){.t = JV_DICT, .u.d = jr_alloc(r, sizeof(struct jdict))}; }

void jl_push(struct jrender *r, struct jlist *l, struct jv v) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        struct jv *nv = jr_alloc(r, nc * sizeof *nv);
        if (l->n) memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = v;
}

bool jd_getv(const struct jdict *d, struct jv key, struct jv *out) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_eq(d->k[i], key)) {
            *out = d->v[i];
            return true;
        }
    return false;
}

bool jd_get(const struct jdict *d, const char *key, struct jv *out) {
    size_t n = strlen(key);
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].t == JV_STR && d->k[i].u.s->n == n && !memcmp(d->k[i].u.s->p, key, n)) {
            *out = d->v[i];
            return true;
        }
    return false;
}

void jd_set(struct jrender *r, struct jdict *d, struct jv k, struct jv v) {
    for (size_t i = 0; i < d->n; i++)
        if (jv_eq(d->k[i], k)) {
            d->v[i] = v;
            return;
        }
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 8;
        struct jv *nk = jr_alloc(r, nc * sizeof *nk), *nv = jr_alloc(r, nc * sizeof *nv);
        if (d->n) memcpy(nk, d->k, d->n * sizeof *nk), memcpy(nv, d->v, d->n * sizeof *nv);
        d->k = nk;
        d->v = nv;
        d->cap = nc;
    }
    d->k[d->n] = k;
    d->v[d->n++] = v;
}

bool jv_truthy(struct jv v) {
    switch (v.t) {
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0;
    case JV_STR: return v.u.s->n > 0;
    case JV_LIST: return v.u.l->n > 0;
    case JV_DICT: return v.u.d->n > 0;
    case JV_MACRO: return true;
    default: return false;
    }
}

static bool is_num(struct jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }
static double num(struct jv v) { return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : v.u.b; }

bool jv_eq(struct jv a, struct jv b) {
    if (is_num(a) && is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) return (a.t == JV_INT ? a.u.i : a.u.b) == (b.t == JV_INT ? b.u.i : b.u.b);
        return num(a) == num(b);
    }
    if (a.t != b.t) return false;
    switch (a.t) {
    case JV_UNDEF: case JV_NONE: return true;
    case JV_STR: return a.u.s->n == b.u.s->n && !memcmp(a.u.s->p, b.u.s->p, a.u.s->n);
    case JV_LIST:
        if (a.u.l->n != b.u.l->n) return false;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!jv_eq(a.u.l->v[i], b.u.l->v[i])) return false;
        return true;
    case JV_DICT:
        if (a.u.d->n != b.u.d->n) return false;
        for (size_t i = 0; i < a.u.d->n; i++) {
            struct jv o;
            if (!jd_getv(b.u.d, a.u.d->k[i], &o) || !jv_eq(a.u.d->v[i], o)) return false;
        }
        return true;
    case JV_MACRO: return a.u.macro == b.u.macro;
    default: return false;
    }
}

const char *jv_type_name(struct jv v) {
    static const char *names[] = {"undefined", "none", "bool", "int", "float", "string", "list", "dict", "macro"};
    return names[v.t];
}

/* ------------------------------------------------------------ output buffer */

/* slot of text p in r's list of live jbuf texts, or -1 */
static int jr_buf_slot(struct jrender *r, const char *p) {
    for (int i = r->n_bufs - 1; i >= 0; i--)
        if (r->bufs[i] == p) return i;
    return -1;
}
void jr_free_bufs(struct jrender *r) {
    for (int i = 0; i < r->n_bufs; i++) free(r->bufs[i]);
    free(r->bufs);
    r->bufs = NULL;
    r->n_bufs = r->cap_bufs = 0;
}
char *jb_take(struct jbuf *b) {
    if (b->r && b->p) {
        const int i = jr_buf_slot(b->r, b->p);
        if (i >= 0) b->r->bufs[i] = b->r->bufs[--b->r->n_bufs];
    }
    return b->p;
}
void jb_free(struct jbuf *b) {
    free(jb_take(b));
    b->p = NULL;
    b->n = b->cap = 0;
}

void jb_put(struct jbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + n + 1) nc *= 2;
        struct jrender *r = b->r;
        if (r && r->out_limit && nc > r->out_limit * 2) jr_fail(r, 0, "template output is too large");
        /* (a new text gets its slot in r's list first: a full list fails
         * the render with nothing untracked) */
        const int i = r && b->p ? jr_buf_slot(r, b->p) : -1;
        if (r && i < 0 && r->n_bufs == r->cap_bufs) {
            const int nc2 = r->cap_bufs ? 2 * r->cap_bufs : 16;
            char **nb = realloc(r->bufs, (size_t)nc2 * sizeof *nb);
            if (!nb) r->status = IG_ERR_NOMEM, jr_fail(r, 0, "out of memory");
            r->bufs = nb, r->cap_bufs = nc2;
        }
        char *p = realloc(b->p, nc);
        if (!p) {
            if (r) r->status = IG_ERR_NOMEM, jr_fail(r, 0, "out of memory");
            return;
        }
        if (r) r->bufs[i >= 0 ? i : r->n_bufs++] = p;
        b->p = p;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
void jb_puts(struct jbuf *b, const char *s) { jb_put(b, s, strlen(s)); }
void jb_putc(struct jbuf *b, char c) { jb_put(b, &c, 1); }

/* ------------------------------------------------------------ str / repr / json */

/* Python's repr(float): shortest round-trip digits; exponent outside [1e-4, 1e16). */
static void float_repr(double f, struct jbuf *b, bool json) {
    char buf[64];
    if (isnan(f)) return jb_puts(b, json ? "NaN" : "nan");
    if (isinf(f)) return jb_puts(b, f > 0 ? (json ? "Infinity" : "inf") : (json ? "-Infinity" : "-inf"));
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*e", prec - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    /* buf = d.ddde[+-]XX with prec digits */
    char digits[32];
    int nd = 0;
    const char *p = buf;
    bool neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    if (neg) jb_putc(b, '-');
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            jb_puts(b, "0.");
            for (int i = -1; i > exp; i--) jb_putc(b, '0');
            jb_put(b, digits, (size_t)nd);
        } else {
            for (int i = 0; i <= exp; i++) jb_putc(b, i < nd ? digits[i] : '0');
            jb_putc(b, '.');
            if (nd > exp + 1) jb_put(b, digits + exp + 1, (size_t)(nd - exp - 1));
            else jb_putc(b, '0');
        }
    } else {
        jb_putc(b, digits[0]);
        if (nd > 1) jb_putc(b, '.'), jb_put(b, digits + 1, (size_t)(nd - 1));
        snprintf(buf, sizeof buf, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        jb_puts(b, buf);
    }
}

static void str_repr(const struct jstr *s, struct jbuf *b) {
    char q = memchr(s->p, '\'', s->n) && !memchr(s->p, '"', s->n) ? '"' : '\'';
    jb_putc(b, q);
    for (size_t i = 0; i < s->n; i++) {
        unsigned char c = (unsigned char)s->p[i];
        char e[8];
        if (c == (unsigned char)q || c == '\\') jb_putc(b, '\\'), jb_putc(b, (char)c);
        else if (c == '\n') jb_puts(b, "\\n");
        else if (c == '\r') jb_puts(b, "\\r");
        else if (c == '\t') jb_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f) snprintf(e, sizeof e, "\\x%02x", c), jb_puts(b, e);
        else jb_putc(b, (char)c);
    }
    jb_putc(b, q);
}

static void repr(struct jrender *r, struct jv v, struct jbuf *b) {
    if (v.t == JV_STR) str_repr(v.u.s, b);
    else jv_to_str(r, v, b);
}

void jv_to_str(struct jrender *r, struct jv v, struct jbuf *b) {
    char buf[32];
    switch (v.t) {
    case JV_UNDEF: return;
    case JV_NONE: return jb_puts(b, "None");
    case JV_BOOL: return jb_puts(b, v.u.b ? "True" : "False");
    case JV_INT: snprintf(buf, sizeof buf, "%lld", (long long)v.u.i); return jb_puts(b, buf);
    case JV_FLOAT: return float_repr(v.u.f, b, false);
    case JV_STR: return jb_put(b, v.u.s->p, v.u.s->n);
    case JV_LIST:
        jb_putc(b, '[');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) jb_puts(b, ", ");
            repr(r, v.u.l->v[i], b);
        }
        return jb_putc(b, ']');
    case JV_DICT:
        jb_putc(b, '{');
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i) jb_puts(b, ", ");
            repr(r, v.u.d->k[i], b);
            jb_puts(b, ": ");
            repr(r, v.u.d->v[i], b);
        }
        return jb_putc(b, '}');
    case JV_MACRO: return jb_puts(b, "<macro>");
    }
}

struct jv jv_stringify(struct jrender *r, struct jv v) {
    if (v.t == JV_STR) return v;
    struct jbuf b = {0};
    b.r = r;
    jv_to_str(r, v, &b);
    struct jv s = jv_str(r, b.p ? b.p : "", b.n);
    jb_free(&b);
    return s;
}

static void json_str(const char *s, size_t n, struct jbuf *b) {
    jb_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        switch (c) {
        case '"': jb_puts(b, "\\\""); break;
        case '\\': jb_puts(b, "\\\\"); break;
        case '\n': jb_puts(b, "\\n"); break;
        case '\r': jb_puts(b, "\\r"); break;
        case '\t': jb_puts(b, "\\t"); break;
        case '\b': jb_puts(b, "\\b"); break;
        case '\f': jb_puts(b, "\\f"); break;
        default:
            if (c < 0x20) snprintf(e, sizeof e, "\\u%04x", c), jb_puts(b, e);
            else jb_putc(b, (char)c);
        }
    }
    jb_putc(b, '"');
}

static void newline_indent(struct jbuf *b, int indent, int depth) {
    jb_putc(b, '\n');
    for (int i = 0; i < indent * depth; i++) jb_putc(b, ' ');
}

void jv_to_json(struct jrender *r, struct jv v, struct jbuf *b, int indent, int depth) {
    char buf[32];
    if (depth > 64) jr_fail(r, 0, "tojson: value nested too deeply");
    switch (v.t) {
    case JV_UNDEF: case JV_NONE: case JV_MACRO: return jb_puts(b, "null");
    case JV_BOOL: return jb_puts(b, v.u.b ? "true" : "false");
    case JV_INT: snprintf(buf, sizeof buf, "%lld", (long long)v.u.i); return jb_puts(b, buf);
    case JV_FLOAT: return float_repr(v.u.f, b, true);
    case JV_STR: return json_str(v.u.s->p, v.u.s->n, b);
    case JV_LIST:
        if (!v.u.l->n) return jb_puts(b, "[]");
        jb_putc(b, '[');
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i) jb_puts(b, indent >= 0 ? "," : ", ");
            if (indent >= 0) newline_indent(b, indent, depth + 1);
            jv_to_json(r, v.u.l->v[i], b, indent, depth + 1);
        }
        if (indent >= 0) newline_indent(b, indent, depth);
        return jb_putc(b, ']');
    case JV_DICT:
        if (!v.u.d->n) return jb_puts(b, "{}");
        jb_putc(b, '{');
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i) jb_puts(b, indent >= 0 ? "," : ", ");
            if (indent >= 0) newline_indent(b, indent, depth + 1);
            struct jv k = v.u.d->k[i];
            if (k.t == JV_STR) json_str(k.u.s->p, k.u.s->n, b);
            else {
                jb_putc(b, '"');
                jv_to_json(r, k, b, -1, depth + 1);
                jb_putc(b, '"');
            }
            jb_puts(b, ": ");
            jv_to_json(r, v.u.d->v[i], b, indent, depth + 1);
        }
        if (indent >= 0) newline_indent(b, indent, depth);
        return jb_putc(b, '}');
    }
}

struct jv jv_from_cjson(struct jrender *r, const cJSON *j) {
    if (!j || cJSON_IsNull(j)) return jv_none();
    if (cJSON_IsBool(j)) return jv_bool(cJSON_IsTrue(j));
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) < 9e15) return jv_int((int64_t)d);
        return jv_float(d);
    }
    if (cJSON_IsString(j)) return jv_cstr(r, j->valuestring);
    if (cJSON_IsArray(j)) {
        struct jv l = jv_list(r);
        const cJSON *e;
        cJSON_ArrayForEach(e, j) jl_push(r, l.u.l, jv_from_cjson(r, e));
        return l;
    }
    if (cJSON_IsObject(j)) {
        struct jv d = jv_dict(r);
        const cJSON *e;
        cJSON_ArrayForEach(e, j) jd_set(r, d.u.d, jv_cstr(r, e->string), jv_from_cjson(r, e));
        return d;
    }
    return jv_none();
}
