/* jinja_builtins.c - filters, tests, methods (str / dict / list) and global
 * functions, each behaving like its Jinja2 or Python counterpart. Transformers'
 * tojson (json.dumps, ensure_ascii=False) replaces Jinja's HTML-safe one. */
#define _POSIX_C_SOURCE 200809L /* localtime_r */
#include "chat/jinja_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define FAIL(...) jr_fail(r, line, __VA_ARGS__)

static const char *WS = " \t\n\r\v\f";

/* argument i (positional) or keyword `kw`, else def */
static struct jv arg(struct jargs *a, int i, const char *kw, struct jv def) {
    int pos = 0;
    for (int k = 0; k < a->n; k++) {
        if (a->kw[k]) {
            if (kw && !strcmp(a->kw[k], kw)) return a->v[k];
        } else if (pos++ == i) {
            return a->v[k];
        }
    }
    return def;
}

static const struct jstr *want_str(struct jrender *r, int line, struct jv v, const char *what) {
    if (v.t != JV_STR) FAIL("%s needs a string, got %s", what, jv_type_name(v));
    return v.u.s;
}

static struct jv str_of(struct jrender *r, const char *p, size_t n) { return jv_str(r, p, n); }

static struct jv strip(struct jrender *r, const struct jstr *s, struct jv chars, bool left, bool right) {
    const char *set = chars.t == JV_STR ? chars.u.s->p : WS;
    size_t a = 0, b = s->n;
    if (left)
        while (a < b && strchr(set, s->p[a]) && s->p[a]) a++;
    if (right)
        while (b > a && strchr(set, s->p[b - 1]) && s->p[b - 1]) b--;
    return str_of(r, s->p + a, b - a);
}

static struct jv split(struct jrender *r, const struct jstr *s, struct jv sep, int64_t maxsplit) {
    struct jv l = jv_list(r);
    if (sep.t != JV_STR) { /* runs of whitespace, no empty strings */
        size_t i = 0;
        while (i < s->n) {
            while (i < s->n && strchr(WS, s->p[i])) i++;
            if (i >= s->n) break;
            size_t j = i;
            if (maxsplit >= 0 && (int64_t)l.u.l->n >= maxsplit) {
                size_t e = s->n;
                while (e > i && strchr(WS, s->p[e - 1])) e--;
                jl_push(r, l.u.l, str_of(r, s->p + i, e - i));
                break;
            }
            while (j < s->n && !strchr(WS, s->p[j])) j++;
            jl_push(r, l.u.l, str_of(r, s->p + i, j - i));
            i = j;
        }
        return l;
    }
    const struct jstr *d = sep.u.s;
    if (!d->n) jr_fail(r, 0, "split: empty separator");
    size_t i = 0, start = 0;
    while (i + d->n <= s->n && (maxsplit < 0 || (int64_t)l.u.l->n < maxsplit)) {
        if (!memcmp(s->p + i, d->p, d->n)) {
            jl_push(r, l.u.l, str_of(r, s->p + start, i - start));
            i += d->n;
            start = i;
        } else {
            i++;
        }
    }
    jl_push(r, l.u.l, str_of(r, s->p + start, s->n - start));
    return l;
}

static struct jv replace(struct jrender *r, const struct jstr *s, const struct jstr *old, const struct jstr *nw,
                         int64_t count) {
    struct jbuf b = {0};
    b.r = r;
    size_t i = 0;
    int64_t done = 0;
    while (i <= s->n) {
        if ((count < 0 || done < count) && old->n && i + old->n <= s->n && !memcmp(s->p + i, old->p, old->n)) {
            jb_put(&b, nw->p, nw->n);
            i += old->n;
            done++;
        } else if (!old->n && (count < 0 || done < count)) { /* "" matches between characters */
            jb_put(&b, nw->p, nw->n);
            done++;
            if (i < s->n) jb_putc(&b, s->p[i]);
            i++;
        } else {
            if (i < s->n) jb_putc(&b, s->p[i]);
            i++;
        }
    }
    struct jv v = jv_str(r, b.p ? b.p : "", b.n);
    jb_free(&b);
    return v;
}

static struct jv map_case(struct jrender *r, const struct jstr *s, int mode) { /* 0 lower 1 upper 2 title 3 capitalize */
    struct jv v = jv_str(r, s->p, s->n);
    char *p = v.u.s->p;
    bool start = true;
    for (size_t i = 0; i < s->n; i++) {
        char c = p[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (mode == 0 || (mode == 3 && i > 0) || (mode == 2 && !start)) {
            if (c >= 'A' && c <= 'Z') p[i] = (char)(c - 'A' + 'a');
        } else if (mode == 1 || (mode == 3 && i == 0) || (mode == 2 && start)) {
            if (c >= 'a' && c <= 'z') p[i] = (char)(c - 'a' + 'A');
        }
        start = !alpha && !((unsigned char)c >= 0x80);
    }
    return v;
}

static int64_t length(struct jrender *r, int line, struct jv v) {
    switch (v.t) {
    case JV_STR: {
        int64_t n = 0;
        for (size_t i = 0; i < v.u.s->n; i++) n += ((unsigned char)v.u.s->p[i] & 0xC0) != 0x80;
        return n;
    }
    case JV_LIST: return (int64_t)v.u.l->n;
    case JV_DICT: return (int64_t)v.u.d->n;
    case JV_UNDEF: return 0;
    default: FAIL("object of type %s has no length", jv_type_name(v));
    }
}

static struct jlist *as_list(struct jrender *r, int line, struct jv v) {
    if (v.t == JV_LIST) return v.u.l;
    struct jv l = jv_list(r);
    if (v.t == JV_DICT)
        for (size_t i = 0; i < v.u.d->n; i++) jl_push(r, l.u.l, v.u.d->k[i]);
    else if (v.t == JV_STR)
        for (size_t i = 0; i < v.u.s->n;) {
            size_t j = i + 1;
            while (j < v.u.s->n && ((unsigned char)v.u.s->p[j] & 0xC0) == 0x80) j++;
            jl_push(r, l.u.l, str_of(r, v.u.s->p + i, j - i));
            i = j;
        }
    else if (v.t != JV_UNDEF) FAIL("%s is not iterable", jv_type_name(v));
    return l.u.l;
}

/* attribute "a.b" of an item (selectattr, map, sort) */
static struct jv get_attr(struct jv item, const struct jstr *path) {
    const char *p = path->p;
    while (item.t == JV_DICT) {
        const char *dot = strchr(p, '.');
        char key[128];
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (l >= sizeof key) return jv_undef();
        memcpy(key, p, l);
        key[l] = 0;
        if (!jd_get(item.u.d, key, &item)) return jv_undef();
        if (!dot) return item;
        p = dot + 1;
    }
    return jv_undef();
}

/* rest of args after the test name, for select/selectattr */
static bool apply_test(struct jrender *r, int line, struct jv v, struct jargs *a, int first) {
    struct jv name = arg(a, first, NULL, jv_undef());
    if (name.t == JV_UNDEF) return jv_truthy(v);
    if (name.t != JV_STR) FAIL("test name must be a string");
    struct jargs rest = {a->v + first + 1, a->kw + first + 1, a->n - first - 1};
    if (rest.n < 0) rest.n = 0;
    return jb_test(r, line, name.u.s->p, v, &rest);
}

static int cmp_values(struct jv a, struct jv b) {
    bool an = a.t == JV_INT || a.t == JV_FLOAT || a.t == JV_BOOL, bn = b.t == JV_INT || b.t == JV_FLOAT || b.t == JV_BOOL;
    if (an && bn) {
        double x = a.t == JV_FLOAT ? a.u.f : a.t == JV_INT ? (double)a.u.i : a.u.b;
        double y = b.t == JV_FLOAT ? b.u.f : b.t == JV_INT ? (double)b.u.i : b.u.b;
        return x < y ? -1 : x > y;
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        int c = strcmp(a.u.s->p, b.u.s->p);
        return c < 0 ? -1 : c > 0;
    }
    return (int)a.t - (int)b.t;
}

static struct jv sorted(struct jrender *r, int line, struct jv v, bool reverse, const struct jstr *attr) {
    struct jlist *src = as_list(r, line, v);
    struct jv l = jv_list(r);
    for (size_t i = 0; i < src->n; i++) jl_push(r, l.u.l, src->v[i]);
    struct jv *x = l.u.l->v;
    for (size_t i = 1; i < l.u.l->n; i++) { /* stable insertion sort: template lists are short */
        struct jv key = x[i];
        size_t j = i;
        while (j > 0) {
            struct jv a = attr ? get_attr(x[j - 1], attr) : x[j - 1], b = attr ? get_attr(key, attr) : key;
            int c = cmp_values(a, b);
            if (reverse ? c >= 0 : c <= 0) break;
            x[j] = x[j - 1];
            j--;
        }
        x[j] = key;
    }
    return l;
}

struct jv jb_filter(struct jrender *r, int line, const char *name, struct jv v, struct jargs *a) {
    struct jv u = jv_undef();
    if (!strcmp(name, "trim")) return strip(r, want_str(r, line, v, "trim"), arg(a, 0, "chars", u), true, true);
    if (!strcmp(name, "tojson")) {
        struct jv ind = arg(a, 0, "indent", u);
        struct jbuf b = {0};
        b.r = r;
        jv_to_json(r, v, &b, ind.t == JV_INT ? (int)ind.u.i : -1, 0);
        struct jv s = jv_str(r, b.p ? b.p : "", b.n);
        jb_free(&b);
        return s;
    }
    if (!strcmp(name, "length") || !strcmp(name, "count")) return jv_int(length(r, line, v));
    if (!strcmp(name, "upper")) return map_case(r, want_str(r, line, v, "upper"), 1);
    if (!strcmp(name, "lower")) return map_case(r, want_str(r, line, v, "lower"), 0);
    if (!strcmp(name, "title")) return map_case(r, want_str(r, line, v, "title"), 2);
    if (!strcmp(name, "capitalize")) {
        struct jv lo = map_case(r, want_str(r, line, v, "capitalize"), 0);
        return map_case(r, lo.u.s, 3);
    }
    if (!strcmp(name, "string")) return jv_stringify(r, v);
    if (!strcmp(name, "safe") || !strcmp(name, "e") || !strcmp(name, "escape")) {
        if (!strcmp(name, "safe")) return v;
        struct jv s = jv_stringify(r, v);
        struct jbuf b = {0};
        b.r = r;
        for (size_t i = 0; i < s.u.s->n; i++) {
            char c = s.u.s->p[i];
            switch (c) {
            case '&': jb_puts(&b, "&amp;"); break;
            case '<': jb_puts(&b, "&lt;"); break;
            case '>': jb_puts(&b, "&gt;"); break;
            case '"': jb_puts(&b, "&#34;"); break;
            case '\'': jb_puts(&b, "&#39;"); break;
            default: jb_putc(&b, c);
            }
        }
        struct jv e = jv_str(r, b.p ? b.p : "", b.n);
        jb_free(&b);
        return e;
    }
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        struct jv def = arg(a, 0, "default_value", jv_cstr(r, ""));
        bool boolean = jv_truthy(arg(a, 1, "boolean", jv_bool(false)));
        if (v.t == JV_UNDEF || (boolean && !jv_truthy(v))) return def;
        return v;
    }
    if (!strcmp(name, "first") || !strcmp(name, "last")) {
        struct jlist *l = as_list(r, line, v);
        if (!l->n) return u;
        return name[0] == 'f' ? l->v[0] : l->v[l->n - 1];
    }
    if (!strcmp(name, "join")) {
        struct jlist *l = as_list(r, line, v);
        struct jv sep = arg(a, 0, "d", jv_cstr(r, ""));
        struct jv attr = arg(a, 1, "attribute", u);
        struct jbuf b = {0};
        b.r = r;
        for (size_t i = 0; i < l->n; i++) {
            if (i) jv_to_str(r, sep, &b);
            jv_to_str(r, attr.t == JV_STR ? get_attr(l->v[i], attr.u.s) : l->v[i], &b);
        }
        struct jv s = jv_str(r, b.p ? b.p : "", b.n);
        jb_free(&b);
        return s;
    }
    if (!strcmp(name, "list")) {
        struct jlist *src = as_list(r, line, v);
        struct jv l = jv_list(r);
        for (size_t i = 0; i < src->n; i++) jl_push(r, l.u.l, src->v[i]);
        return l;
    }
    if (!strcmp(name, "items") || !strcmp(name, "dictsort")) {
        if (v.t == JV_UNDEF) return jv_list(r);
        if (v.t != JV_DICT) FAIL("%s needs a dict, got %s", name, jv_type_name(v));
        struct jv l = jv_list(r);
        for (size_t i = 0; i < v.u.d->n; i++) {
            struct jv p = jv_list(r);
            jl_push(r, p.u.l, v.u.d->k[i]);
            jl_push(r, p.u.l, v.u.d->v[i]);
            jl_push(r, l.u.l, p);
        }
        if (name[0] == 'd') { /* sort pairs by key */
            struct jv *x = l.u.l->v;
            for (size_t i = 1; i < l.u.l->n; i++) {
                struct jv key = x[i];
                size_t j = i;
                while (j > 0 && cmp_values(x[j - 1].u.l->v[0], key.u.l->v[0]) > 0) x[j] = x[j - 1], j--;
                x[j] = key;
            }
        }
        return l;
    }
    if (!strcmp(name, "reverse")) {
        if (v.t == JV_STR) {
            struct jlist *cs = as_list(r, line, v);
            struct jbuf b = {0};
            b.r = r;
            for (size_t i = cs->n; i-- > 0;) jb_put(&b, cs->v[i].u.s->p, cs->v[i].u.s->n);
            struct jv s = jv_str(r, b.p ? b.p : "", b.n);
            jb_free(&b);
            return s;
        }
        struct jlist *src = as_list(r, line, v);
        struct jv l = jv_list(r);
        for (size_t i = src->n; i-- > 0;) jl_push(r, l.u.l, src->v[i]);
        return l;
    }
    if (!strcmp(name, "sort")) {
        struct jv attr = arg(a, 2, "attribute", u);
        return sorted(r, line, v, jv_truthy(arg(a, 0, "reverse", jv_bool(false))), attr.t == JV_STR ? attr.u.s : NULL);
    }
    if (!strcmp(name, "unique")) {
        struct jlist *src = as_list(r, line, v);
        struct jv l = jv_list(r);
        for (size_t i = 0; i < src->n; i++) {
            bool seen = false;
            for (size_t j = 0; j < l.u.l->n && !seen; j++) seen = jv_eq(l.u.l->v[j], src->v[i]);
            if (!seen) jl_push(r, l.u.l, src->v[i]);
        }
        return l;
    }
    if (!strcmp(name, "map")) {
        struct jlist *src = as_list(r, line, v);
        struct jv l = jv_list(r), attr = arg(a, 0, "attribute", u);
        bool by_attr = false;
        for (int k = 0; k < a->n; k++) by_attr |= a->kw[k] && !strcmp(a->kw[k], "attribute");
        struct jv dflt = arg(a, 99, "default", u);
        for (size_t i = 0; i < src->n; i++) {
            if (by_attr) {
                struct jv x = get_attr(src->v[i], attr.u.s);
                jl_push(r, l.u.l, x.t == JV_UNDEF ? dflt : x);
            } else {
                struct jv f = arg(a, 0, NULL, u);
                if (f.t != JV_STR) FAIL("map needs a filter name or attribute=");
                struct jargs rest = {a->v + 1, a->kw + 1, a->n > 0 ? a->n - 1 : 0};
                jl_push(r, l.u.l, jb_filter(r, line, f.u.s->p, src->v[i], &rest));
            }
        }
        return l;
    }
    if (!strcmp(name, "select") || !strcmp(name, "reject")) {
        struct jlist *src = as_list(r, line, v);
        struct jv l = jv_list(r);
        for (size_t i = 0; i < src->n; i++)
            if (apply_test(r, line, src->v[i], a, 0) == (name[0] == 's')) jl_push(r, l.u.l, src->v[i]);
        return l;
    }
    if (!strcmp(name, "selectattr") || !strcmp(name, "rejectattr")) {
        struct jlist *src = as_list(r, line, v);
        struct jv l = jv_list(r), attr = arg(a, 0, NULL, u);
        if (attr.t != JV_STR) FAIL("%s needs an attribute name", name);
        for (size_t i = 0; i < src->n; i++)
            if (apply_test(r, line, get_attr(src->v[i], attr.u.s), a, 1) == (name[0] == 's'))
                jl_push(r, l.u.l, src->v[i]);
        return l;
    }
    if (!strcmp(name, "replace")) {
        const struct jstr *s = want_str(r, line, jv_stringify(r, v), "replace");
        struct jv o = arg(a, 0, "old", u), n = arg(a, 1, "new", u), c = arg(a, 2, "count", jv_int(-1));
        return replace(r, s, want_str(r, line, o, "replace"), want_str(r, line, n, "replace"), c.t == JV_INT ? c.u.i : -1);
    }
    if (!strcmp(name, "int")) {
        if (v.t == JV_INT) return v;
        if (v.t == JV_FLOAT) return jv_int((int64_t)v.u.f);
        if (v.t == JV_BOOL) return jv_int(v.u.b);
        if (v.t == JV_STR) {
            char *end;
            long long x = strtoll(v.u.s->p, &end, 10);
            return end != v.u.s->p ? jv_int(x) : arg(a, 0, "default", jv_int(0));
        }
        return arg(a, 0, "default", jv_int(0));
    }
    if (!strcmp(name, "float")) {
        if (v.t == JV_FLOAT) return v;
        if (v.t == JV_INT || v.t == JV_BOOL) return jv_float(v.t == JV_INT ? (double)v.u.i : v.u.b);
        if (v.t == JV_STR) {
            char *end;
            double x = strtod(v.u.s->p, &end);
            return end != v.u.s->p ? jv_float(x) : arg(a, 0, "default", jv_float(0));
        }
        return arg(a, 0, "default", jv_float(0));
    }
    if (!strcmp(name, "abs")) {
        if (v.t == JV_INT) return jv_int(v.u.i < 0 ? -v.u.i : v.u.i);
        if (v.t == JV_FLOAT) return jv_float(fabs(v.u.f));
        FAIL("abs needs a number");
    }
    if (!strcmp(name, "round")) {
        struct jv p = arg(a, 0, "precision", jv_int(0)), m = arg(a, 1, "method", u);
        double x = v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : 0, k = pow(10, p.t == JV_INT ? (double)p.u.i : 0);
        const char *meth = m.t == JV_STR ? m.u.s->p : "common";
        double y = !strcmp(meth, "floor") ? floor(x * k) / k : !strcmp(meth, "ceil") ? ceil(x * k) / k : round(x * k) / k;
        return jv_float(y);
    }
    if (!strcmp(name, "sum")) {
        struct jlist *l = as_list(r, line, v);
        bool fl = false;
        double s = 0;
        int64_t si = 0;
        for (size_t i = 0; i < l->n; i++) {
            if (l->v[i].t == JV_FLOAT) fl = true, s += l->v[i].u.f;
            else if (l->v[i].t == JV_INT) si += l->v[i].u.i, s += (double)l->v[i].u.i;
            else FAIL("sum needs numbers");
        }
        return fl ? jv_float(s) : jv_int(si);
    }
    if (!strcmp(name, "min") || !strcmp(name, "max")) {
        struct jlist *l = as_list(r, line, v);
        if (!l->n) return u;
        struct jv best = l->v[0];
        for (size_t i = 1; i < l->n; i++) {
            int c = cmp_values(l->v[i], best);
            if (name[1] == 'i' ? c < 0 : c > 0) best = l->v[i];
        }
        return best;
    }
    if (!strcmp(name, "indent")) {
        const struct jstr *s = want_str(r, line, jv_stringify(r, v), "indent");
        struct jv w = arg(a, 0, "width", jv_int(4));
        bool first = jv_truthy(arg(a, 1, "first", jv_bool(false))), blank = jv_truthy(arg(a, 2, "blank", jv_bool(false)));
        struct jbuf pad = {0}, b = {0};
        pad.r = b.r = r;
        if (w.t == JV_STR) jb_put(&pad, w.u.s->p, w.u.s->n);
        else for (int64_t i = 0; i < (w.t == JV_INT ? w.u.i : 4) && i < 256; i++) jb_putc(&pad, ' ');
        bool line_start = true;
        for (size_t i = 0; i < s->n; i++) {
            if (line_start && (i > 0 || first)) {
                bool empty = s->p[i] == '\n';
                if (!empty || blank) jb_put(&b, pad.p ? pad.p : "", pad.n);
            }
            jb_putc(&b, s->p[i]);
            line_start = s->p[i] == '\n';
        }
        struct jv out = jv_str(r, b.p ? b.p : "", b.n);
        jb_free(&b);
        jb_free(&pad);
        return out;
    }
    if (!strcmp(name, "wordcount")) {
        struct jv l = split(r, want_str(r, line, v, "wordcount"), u, -1);
        return jv_int((int64_t)l.u.l->n);
    }
    FAIL("unsupported filter '%s'", name);
}

bool jb_test(struct jrender *r, int line, const char *name, struct jv v, struct jargs *a) {
    struct jv x = arg(a, 0, NULL, jv_undef());
    if (!strcmp(name, "defined")) return v.t != JV_UNDEF;
    if (!strcmp(name, "undefined")) return v.t == JV_UNDEF;
    if (!strcmp(name, "none")) return v.t == JV_NONE;
    if (!strcmp(name, "string")) return v.t == JV_STR;
    if (!strcmp(name, "number")) return v.t == JV_INT || v.t == JV_FLOAT;
    if (!strcmp(name, "integer")) return v.t == JV_INT;
    if (!strcmp(name, "float")) return v.t == JV_FLOAT;
    if (!strcmp(name, "boolean")) return v.t == JV_BOOL;
    if (!strcmp(name, "true")) return v.t == JV_BOOL && v.u.b;
    if (!strcmp(name, "false")) return v.t == JV_BOOL && !v.u.b;
    if (!strcmp(name, "mapping")) return v.t == JV_DICT;
    if (!strcmp(name, "sequence")) return v.t == JV_LIST || v.t == JV_STR || v.t == JV_DICT;
    if (!strcmp(name, "iterable")) return v.t == JV_LIST || v.t == JV_STR || v.t == JV_DICT;
    if (!strcmp(name, "callable")) return v.t == JV_MACRO;
    if (!strcmp(name, "even") || !strcmp(name, "odd")) {
        if (v.t != JV_INT) FAIL("'%s' test needs an integer", name);
        return (v.u.i % 2 == 0) == (name[0] == 'e');
    }
    if (!strcmp(name, "divisibleby")) {
        if (v.t != JV_INT || x.t != JV_INT || x.u.i == 0) FAIL("'divisibleby' needs integers");
        return v.u.i % x.u.i == 0;
    }
    if (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "==") || !strcmp(name, "sameas"))
        return jv_eq(v, x);
    if (!strcmp(name, "ne") || !strcmp(name, "!=")) return !jv_eq(v, x);
    if (!strcmp(name, "in")) {
        if (x.t == JV_LIST) {
            for (size_t i = 0; i < x.u.l->n; i++)
                if (jv_eq(x.u.l->v[i], v)) return true;
            return false;
        }
        if (x.t == JV_STR && v.t == JV_STR) return strstr(x.u.s->p, v.u.s->p) != NULL;
        if (x.t == JV_DICT) {
            struct jv o;
            return jd_getv(x.u.d, v, &o);
        }
        return false;
    }
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        if (v.t != JV_STR) return false;
        for (size_t i = 0; i < v.u.s->n; i++)
            if (name[0] == 'l' ? (v.u.s->p[i] >= 'A' && v.u.s->p[i] <= 'Z') : (v.u.s->p[i] >= 'a' && v.u.s->p[i] <= 'z'))
                return false;
        return true;
    }
    if (!strcmp(name, "gt") || !strcmp(name, "lt") || !strcmp(name, "ge") || !strcmp(name, "le")) {
        int c = cmp_values(v, x);
        return name[0] == 'g' ? (name[1] == 't' ? c > 0 : c >= 0) : (name[1] == 't' ? c < 0 : c <= 0);
    }
    FAIL("unsupported test 'is %s'", name);
}

static bool starts_ends(struct jrender *r, int line, const struct jstr *s, struct jv p, bool start) {
    if (p.t == JV_LIST) {
        for (size_t i = 0; i < p.u.l->n; i++)
            if (starts_ends(r, line, s, p.u.l->v[i], start)) return true;
        return false;
    }
    const struct jstr *x = want_str(r, line, p, start ? "startswith" : "endswith");
    if (x->n > s->n) return false;
    return !memcmp(start ? s->p : s->p + s->n - x->n, x->p, x->n);
}

static struct jv find(struct jrender *r, const struct jstr *s, const struct jstr *x, bool rev) {
    int64_t found = -1;
    for (size_t i = 0; i + x->n <= s->n; i++)
        if (!memcmp(s->p + i, x->p, x->n)) {
            found = (int64_t)i;
            if (!rev) break;
        }
    (void)r;
    return jv_int(found);
}

struct jv jb_method(struct jrender *r, int line, struct jv self, const char *name, struct jargs *a) {
    struct jv u = jv_undef();
    if (self.t == JV_STR) {
        const struct jstr *s = self.u.s;
        if (!strcmp(name, "strip")) return strip(r, s, arg(a, 0, NULL, u), true, true);
        if (!strcmp(name, "lstrip")) return strip(r, s, arg(a, 0, NULL, u), true, false);
        if (!strcmp(name, "rstrip")) return strip(r, s, arg(a, 0, NULL, u), false, true);
        if (!strcmp(name, "split")) {
            struct jv m = arg(a, 1, "maxsplit", jv_int(-1));
            return split(r, s, arg(a, 0, "sep", u), m.t == JV_INT ? m.u.i : -1);
        }
        if (!strcmp(name, "startswith")) return jv_bool(starts_ends(r, line, s, arg(a, 0, NULL, u), true));
        if (!strcmp(name, "endswith")) return jv_bool(starts_ends(r, line, s, arg(a, 0, NULL, u), false));
        if (!strcmp(name, "upper")) return map_case(r, s, 1);
        if (!strcmp(name, "lower")) return map_case(r, s, 0);
        if (!strcmp(name, "title")) return map_case(r, s, 2);
        if (!strcmp(name, "capitalize")) return map_case(r, map_case(r, s, 0).u.s, 3);
        if (!strcmp(name, "replace")) {
            struct jv c = arg(a, 2, "count", jv_int(-1));
            return replace(r, s, want_str(r, line, arg(a, 0, NULL, u), "replace"),
                           want_str(r, line, arg(a, 1, NULL, u), "replace"), c.t == JV_INT ? c.u.i : -1);
        }
        if (!strcmp(name, "find")) return find(r, s, want_str(r, line, arg(a, 0, NULL, u), "find"), false);
        if (!strcmp(name, "rfind")) return find(r, s, want_str(r, line, arg(a, 0, NULL, u), "rfind"), true);
        if (!strcmp(name, "count")) {
            const struct jstr *x = want_str(r, line, arg(a, 0, NULL, u), "count");
            int64_t k = 0;
            for (size_t i = 0; x->n && i + x->n <= s->n;)
                if (!memcmp(s->p + i, x->p, x->n)) k++, i += x->n;
                else i++;
            return jv_int(k);
        }
        if (!strcmp(name, "join")) {
            struct jlist *l = as_list(r, line, arg(a, 0, NULL, u));
            struct jbuf b = {0};
            b.r = r;
            for (size_t i = 0; i < l->n; i++) {
                if (i) jb_put(&b, s->p, s->n);
                jb_put(&b, want_str(r, line, l->v[i], "join")->p, l->v[i].u.s->n);
            }
            struct jv out = jv_str(r, b.p ? b.p : "", b.n);
            jb_free(&b);
            return out;
        }
        if (!strcmp(name, "splitlines")) {
            struct jv l = split(r, s, jv_cstr(r, "\n"), -1);
            if (l.u.l->n && l.u.l->v[l.u.l->n - 1].u.s->n == 0) l.u.l->n--;
            return l;
        }
        if (!strcmp(name, "isdigit") || !strcmp(name, "isalpha") || !strcmp(name, "isspace")) {
            if (!s->n) return jv_bool(false);
            for (size_t i = 0; i < s->n; i++) {
                char c = s->p[i];
                bool ok = name[2] == 'd' ? (c >= '0' && c <= '9')
                          : name[2] == 'a' ? ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
                                           : strchr(WS, c) != NULL;
                if (!ok) return jv_bool(false);
            }
            return jv_bool(true);
        }
    } else if (self.t == JV_DICT) {
        struct jdict *d = self.u.d;
        if (!strcmp(name, "items")) return jb_filter(r, line, "items", self, &(struct jargs){0});
        if (!strcmp(name, "keys") || !strcmp(name, "values")) {
            struct jv l = jv_list(r);
            for (size_t i = 0; i < d->n; i++) jl_push(r, l.u.l, name[0] == 'k' ? d->k[i] : d->v[i]);
            return l;
        }
        if (!strcmp(name, "get")) {
            struct jv v;
            return jd_getv(d, arg(a, 0, NULL, u), &v) ? v : arg(a, 1, NULL, jv_none());
        }
        if (!strcmp(name, "cycle")) { /* loop.cycle(a, b, ...) */
            struct jv i0;
            if (jd_get(d, "index0", &i0) && a->n > 0) return a->v[i0.u.i % a->n];
        }
    } else if (self.t == JV_LIST) {
        struct jlist *l = self.u.l;
        if (!strcmp(name, "append")) {
            jl_push(r, l, arg(a, 0, NULL, u));
            return jv_none();
        }
        if (!strcmp(name, "pop")) {
            if (!l->n) FAIL("pop from empty list");
            struct jv i = arg(a, 0, NULL, jv_int(-1));
            int64_t k = i.t == JV_INT ? i.u.i : -1;
            if (k < 0) k += (int64_t)l->n;
            if (k < 0 || (size_t)k >= l->n) FAIL("pop index out of range");
            struct jv v = l->v[k];
            memmove(l->v + k, l->v + k + 1, (l->n - (size_t)k - 1) * sizeof *l->v);
            l->n--;
            return v;
        }
        if (!strcmp(name, "index")) {
            struct jv x = arg(a, 0, NULL, u);
            for (size_t i = 0; i < l->n; i++)
                if (jv_eq(l->v[i], x)) return jv_int((int64_t)i);
            FAIL("value not in list");
        }
    } else if (self.t == JV_UNDEF) {
        FAIL("cannot call .%s() on an undefined value", name);
    }
    FAIL("unsupported method %s.%s()", jv_type_name(self), name);
}

bool jb_global(struct jrender *r, int line, const char *name, struct jargs *a, struct jv *out) {
    struct jv u = jv_undef();
    if (!strcmp(name, "raise_exception")) {
        struct jv m = jv_stringify(r, arg(a, 0, NULL, jv_cstr(r, "error")));
        FAIL("the template raised an error: %s", m.u.s->p);
    }
    if (!strcmp(name, "range")) {
        int64_t lo = 0, hi, st = 1;
        struct jv x = arg(a, 0, NULL, u), y = arg(a, 1, NULL, u), z = arg(a, 2, NULL, u);
        if (x.t != JV_INT) FAIL("range needs integers");
        if (y.t == JV_INT) lo = x.u.i, hi = y.u.i;
        else hi = x.u.i;
        if (z.t == JV_INT) st = z.u.i;
        if (st == 0) FAIL("range step cannot be zero");
        if ((hi - lo) / st > 100000) FAIL("range too large");
        struct jv l = jv_list(r);
        for (int64_t i = lo; st > 0 ? i < hi : i > hi; i += st) jl_push(r, l.u.l, jv_int(i));
        *out = l;
        return true;
    }
    if (!strcmp(name, "namespace") || !strcmp(name, "dict")) {
        struct jv d = jv_dict(r);
        for (int i = 0; i < a->n; i++) {
            if (a->kw[i]) jd_set(r, d.u.d, jv_cstr(r, a->kw[i]), a->v[i]);
            else if (a->v[i].t == JV_DICT)
                for (size_t k = 0; k < a->v[i].u.d->n; k++) jd_set(r, d.u.d, a->v[i].u.d->k[k], a->v[i].u.d->v[k]);
        }
        *out = d;
        return true;
    }
    if (!strcmp(name, "strftime_now")) {
        struct jv f = arg(a, 0, NULL, u);
        if (f.t != JV_STR) FAIL("strftime_now needs a format string");
        char buf[256];
        time_t t = time(NULL);
        struct tm tm;
        localtime_r(&t, &tm);
        size_t n = strftime(buf, sizeof buf, f.u.s->p, &tm);
        *out = jv_str(r, buf, n);
        return true;
    }
    FAIL("unknown function '%s'", name);
}
