/* jinja_eval.c - render a parsed template: statements, scopes, loops,
 * macros, and expression evaluation with Python semantics. Filters, tests,
 * methods and globals are in jinja_builtins.c. */
#include "chat/jinja_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { CTL_NONE, CTL_BREAK, CTL_CONTINUE };

struct jstate {
    struct jrender r;
    struct jscope *root;
    int ctl;
};

void jr_fail(struct jrender *r, int line, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (line > 0) ig_err(r->err, r->err_len, "chat template line %d: %s", line, msg);
    else ig_err(r->err, r->err_len, "chat template: %s", msg);
    if (r->status == IG_OK) r->status = IG_ERR_FORMAT;
    longjmp(r->fail, 1);
}

static struct jscope *push_scope(struct jrender *r) {
    struct jscope *s = jr_alloc(r, sizeof *s);
    s->vars = jv_dict(r).u.d;
    s->parent = r->scope;
    r->scope = s;
    return s;
}

struct jv jr_lookup(struct jrender *r, const char *name) {
    struct jv v;
    for (struct jscope *s = r->scope; s; s = s->parent)
        if (jd_get(s->vars, name, &v)) return v;
    return jv_undef();
}

static void set_var(struct jrender *r, const char *name, struct jv v) {
    jd_set(r, r->scope->vars, jv_cstr(r, name), v);
}

/* ------------------------------------------------------------ expressions */

static bool is_num(struct jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }
static double num(struct jv v) { return v.t == JV_FLOAT ? v.u.f : v.t == JV_INT ? (double)v.u.i : v.u.b; }
static int64_t inum(struct jv v) { return v.t == JV_INT ? v.u.i : v.t == JV_BOOL ? v.u.b : (int64_t)v.u.f; }

static struct jv concat_str(struct jrender *r, struct jv a, struct jv b) {
    struct jstr *s = jr_alloc(r, sizeof *s + a.u.s->n + b.u.s->n + 1);
    s->n = a.u.s->n + b.u.s->n;
    memcpy(s->p, a.u.s->p, a.u.s->n);
    memcpy(s->p + a.u.s->n, b.u.s->p, b.u.s->n);
    s->p[s->n] = 0;
    return (struct jv){.t = JV_STR, .u.s = s};
}

static int compare(struct jrender *r, int line, struct jv a, struct jv b) {
    if (is_num(a) && is_num(b)) {
        double x = num(a), y = num(b);
        return x < y ? -1 : x > y;
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        size_t n = IG_MIN(a.u.s->n, b.u.s->n);
        int c = memcmp(a.u.s->p, b.u.s->p, n);
        if (c) return c < 0 ? -1 : 1;
        return a.u.s->n < b.u.s->n ? -1 : a.u.s->n > b.u.s->n;
    }
    jr_fail(r, line, "cannot compare %s with %s", jv_type_name(a), jv_type_name(b));
}

static bool contains(struct jrender *r, int line, struct jv hay, struct jv needle) {
    if (hay.t == JV_STR) {
        if (needle.t != JV_STR) jr_fail(r, line, "'in <string>' needs a string on the left, not %s", jv_type_name(needle));
        if (!needle.u.s->n) return true;
        if (needle.u.s->n > hay.u.s->n) return false;
        for (size_t i = 0; i + needle.u.s->n <= hay.u.s->n; i++)
            if (!memcmp(hay.u.s->p + i, needle.u.s->p, needle.u.s->n)) return true;
        return false;
    }
    if (hay.t == JV_LIST) {
        for (size_t i = 0; i < hay.u.l->n; i++)
            if (jv_eq(hay.u.l->v[i], needle)) return true;
        return false;
    }
    if (hay.t == JV_DICT) {
        struct jv o;
        return jd_getv(hay.u.d, needle, &o);
    }
    if (hay.t == JV_UNDEF) jr_fail(r, line, "'in' on an undefined value");
    jr_fail(r, line, "'in' needs a string, list or dict, not %s", jv_type_name(hay));
}

static struct jv binop(struct jrender *r, const struct jnode *n, struct jv a, struct jv b) {
    int op = n->op;
    switch (op) {
    case 'E': return jv_bool(jv_eq(a, b));
    case 'N': return jv_bool(!jv_eq(a, b));
    case '<': return jv_bool(compare(r, n->line, a, b) < 0);
    case '>': return jv_bool(compare(r, n->line, a, b) > 0);
    case 'l': return jv_bool(compare(r, n->line, a, b) <= 0);
    case 'g': return jv_bool(compare(r, n->line, a, b) >= 0);
    case 'i': return jv_bool(contains(r, n->line, b, a));
    case 'I': return jv_bool(!contains(r, n->line, b, a));
    case '~': return concat_str(r, jv_stringify(r, a), jv_stringify(r, b));
    default: break;
    }
    if (op == '+' && a.t == JV_STR && b.t == JV_STR) return concat_str(r, a, b);
    if (op == '+' && a.t == JV_LIST && b.t == JV_LIST) {
        struct jv l = jv_list(r);
        for (size_t i = 0; i < a.u.l->n; i++) jl_push(r, l.u.l, a.u.l->v[i]);
        for (size_t i = 0; i < b.u.l->n; i++) jl_push(r, l.u.l, b.u.l->v[i]);
        return l;
    }
    if (op == '*' && ((a.t == JV_STR && b.t == JV_INT) || (a.t == JV_INT && b.t == JV_STR))) {
        struct jv s = a.t == JV_STR ? a : b;
        int64_t k = a.t == JV_INT ? a.u.i : b.u.i;
        if (k <= 0) return jv_cstr(r, "");
        if ((uint64_t)k * s.u.s->n > (64u << 20)) jr_fail(r, n->line, "string repetition too large");
        struct jstr *o = jr_alloc(r, sizeof *o + (size_t)k * s.u.s->n + 1);
        for (int64_t i = 0; i < k; i++) memcpy(o->p + (size_t)i * s.u.s->n, s.u.s->p, s.u.s->n);
        o->n = (size_t)k * s.u.s->n;
        return (struct jv){.t = JV_STR, .u.s = o};
    }
    if (!is_num(a) || !is_num(b)) {
        static const char *names[128] = {['+'] = "+", ['-'] = "-", ['*'] = "*", ['/'] = "/", ['F'] = "//",
                                         ['%'] = "%", ['P'] = "**"};
        jr_fail(r, n->line, "unsupported operand types for %s: %s and %s", names[op] ? names[op] : "?",
                jv_type_name(a), jv_type_name(b));
    }
    bool ints = a.t != JV_FLOAT && b.t != JV_FLOAT;
    int64_t x = inum(a), y = inum(b);
    double fx = num(a), fy = num(b);
    switch (op) {
    case '+': return ints ? jv_int(x + y) : jv_float(fx + fy);
    case '-': return ints ? jv_int(x - y) : jv_float(fx - fy);
    case '*': return ints ? jv_int(x * y) : jv_float(fx * fy);
    case '/':
        if (fy == 0) jr_fail(r, n->line, "division by zero");
        return jv_float(fx / fy);
    case 'F':
        if (fy == 0) jr_fail(r, n->line, "division by zero");
        if (ints) {
            int64_t q = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
            return jv_int(q);
        }
        return jv_float(floor(fx / fy));
    case '%':
        if (fy == 0) jr_fail(r, n->line, "modulo by zero");
        if (ints) {
            int64_t m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            return jv_int(m);
        }
        return jv_float(fx - floor(fx / fy) * fy);
    case 'P':
        if (ints && y >= 0) {
            int64_t p = 1;
            for (int64_t i = 0; i < y && i < 64; i++) p *= x;
            return jv_int(p);
        }
        return jv_float(pow(fx, fy));
    }
    jr_fail(r, n->line, "unknown operator");
}

/* Python index normalization; false when out of range. */
static bool norm_index(int64_t i, size_t n, size_t *out) {
    if (i < 0) i += (int64_t)n;
    if (i < 0 || (uint64_t)i >= n) return false;
    *out = (size_t)i;
    return true;
}

/* UTF-8 code point boundaries of s: offsets[0..n] (n code points). */
static size_t cp_offsets(struct jrender *r, const struct jstr *s, size_t **off) {
    size_t *o = jr_alloc(r, (s->n + 1) * sizeof *o), k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (((unsigned char)s->p[i] & 0xC0) != 0x80) o[k++] = i;
    o[k] = s->n;
    *off = o;
    return k;
}

static struct jv do_slice(struct jrender *r, const struct jnode *n, struct jv v, struct jv lo, struct jv hi, struct jv st) {
    int64_t step = st.t == JV_UNDEF || st.t == JV_NONE ? 1 : inum(st);
    if (step == 0) jr_fail(r, n->line, "slice step cannot be zero");
    size_t *off = NULL;
    int64_t len;
    if (v.t == JV_LIST) len = (int64_t)v.u.l->n;
    else if (v.t == JV_STR) len = (int64_t)cp_offsets(r, v.u.s, &off);
    else jr_fail(r, n->line, "cannot slice %s", jv_type_name(v));
    int64_t a, b;
    bool has_lo = lo.t != JV_UNDEF && lo.t != JV_NONE, has_hi = hi.t != JV_UNDEF && hi.t != JV_NONE;
    if (step > 0) {
        a = has_lo ? inum(lo) : 0;
        b = has_hi ? inum(hi) : len;
        if (a < 0) a = IG_MAX(a + len, 0);
        if (b < 0) b = IG_MAX(b + len, 0);
        a = IG_MIN(a, len);
        b = IG_MIN(b, len);
    } else {
        a = has_lo ? inum(lo) : len - 1;
        b = has_hi ? inum(hi) : -1 - len;
        if (a < 0) a = IG_MAX(a + len, -1);
        if (b < 0) b = IG_MAX(b + len, -1);
        a = IG_MIN(a, len - 1);
        b = IG_MIN(b, len - 1);
    }
    if (v.t == JV_LIST) {
        struct jv l = jv_list(r);
        for (int64_t i = a; step > 0 ? i < b : i > b; i += step) jl_push(r, l.u.l, v.u.l->v[i]);
        return l;
    }
    struct jbuf buf = {0};
    buf.r = r;
    for (int64_t i = a; step > 0 ? i < b : i > b; i += step) jb_put(&buf, v.u.s->p + off[i], off[i + 1] - off[i]);
    struct jv s = jv_str(r, buf.p ? buf.p : "", buf.n);
    jb_free(&buf);
    return s;
}

static void eval_args(struct jrender *r, const struct jnode *n, struct jargs *a) {
    a->n = n->n_kids;
    a->v = jr_alloc(r, (size_t)(n->n_kids + 1) * sizeof *a->v);
    a->kw = jr_alloc(r, (size_t)(n->n_kids + 1) * sizeof *a->kw);
    for (int i = 0; i < n->n_kids; i++) {
        a->v[i] = jr_eval(r, n->kids[i]);
        a->kw[i] = n->kw ? n->kw[i] : NULL;
    }
}

static void render_body(struct jstate *st, const struct jnode *body, struct jbuf *out);

static struct jv call_macro(struct jrender *r, const struct jnode *call, const struct jnode *m, struct jargs *a) {
    struct jstate *st = (struct jstate *)r;
    if (++r->depth > 64) jr_fail(r, call->line, "macro recursion too deep");
    struct jscope *saved = r->scope;
    r->scope = st->root;
    push_scope(r);
    int pos = 0;
    bool *given = jr_alloc(r, (size_t)(m->n_targets + 1) * sizeof *given);
    for (int i = 0; i < a->n; i++) {
        int k = -1;
        if (a->kw[i]) {
            for (int j = 0; j < m->n_targets; j++)
                if (!strcmp(m->targets[j], a->kw[i])) k = j;
            if (k < 0) jr_fail(r, call->line, "macro %s has no parameter '%s'", m->name, a->kw[i]);
        } else {
            k = pos++;
            if (k >= m->n_targets) jr_fail(r, call->line, "too many arguments for macro %s", m->name);
        }
        set_var(r, m->targets[k], a->v[i]);
        given[k] = true;
    }
    for (int j = 0; j < m->n_targets; j++)
        if (!given[j]) set_var(r, m->targets[j], m->defaults[j] ? jr_eval(r, m->defaults[j]) : jv_undef());
    struct jbuf out = {0};
    out.r = r;
    render_body(st, m->a, &out);
    st->ctl = CTL_NONE;
    struct jv s = jv_str(r, out.p ? out.p : "", out.n);
    jb_free(&out);
    r->scope = saved;
    r->depth--;
    return s;
}

struct jv jr_eval(struct jrender *r, const struct jnode *n) {
    struct jv a, b;
    if (++r->steps > r->max_steps) jr_fail(r, n->line, "the template takes too long to render (over %llu steps)",
                                            (unsigned long long)r->max_steps);
    switch (n->k) {
    case N_LIT: return n->lit;
    case N_NAME: return jr_lookup(r, n->name);
    case N_LIST:
    case N_TUPLE: {
        struct jv l = jv_list(r);
        for (int i = 0; i < n->n_kids; i++) jl_push(r, l.u.l, jr_eval(r, n->kids[i]));
        return l;
    }
    case N_DICT: {
        struct jv d = jv_dict(r);
        for (int i = 0; i + 1 < n->n_kids; i += 2) jd_set(r, d.u.d, jr_eval(r, n->kids[i]), jr_eval(r, n->kids[i + 1]));
        return d;
    }
    case N_ATTR:
        a = jr_eval(r, n->a);
        if (a.t == JV_DICT && jd_get(a.u.d, n->name, &b)) return b;
        return jv_undef();
    case N_INDEX: {
        a = jr_eval(r, n->a);
        b = jr_eval(r, n->b);
        size_t i;
        if (a.t == JV_DICT) return jd_getv(a.u.d, b, &b) ? b : jv_undef();
        if (a.t == JV_LIST && (b.t == JV_INT || b.t == JV_BOOL))
            return norm_index(inum(b), a.u.l->n, &i) ? a.u.l->v[i] : jv_undef();
        if (a.t == JV_STR && b.t == JV_INT) {
            size_t *off, k = cp_offsets(r, a.u.s, &off);
            return norm_index(b.u.i, k, &i) ? jv_str(r, a.u.s->p + off[i], off[i + 1] - off[i]) : jv_undef();
        }
        if (a.t == JV_UNDEF || a.t == JV_NONE) return jv_undef();
        jr_fail(r, n->line, "cannot index %s with %s", jv_type_name(a), jv_type_name(b));
    }
    case N_SLICE:
        return do_slice(r, n, jr_eval(r, n->a), n->b ? jr_eval(r, n->b) : jv_undef(),
                        n->c ? jr_eval(r, n->c) : jv_undef(), n->filter ? jr_eval(r, n->filter) : jv_undef());
    case N_CALL: {
        struct jargs args;
        if (n->a->k == N_ATTR) { /* obj.method(args) */
            a = jr_eval(r, n->a->a);
            eval_args(r, n, &args);
            if (a.t == JV_DICT && jd_get(a.u.d, n->a->name, &b) && b.t == JV_MACRO)
                return call_macro(r, n, b.u.macro, &args);
            return jb_method(r, n->line, a, n->a->name, &args);
        }
        a = jr_eval(r, n->a);
        eval_args(r, n, &args);
        if (a.t == JV_MACRO) return call_macro(r, n, a.u.macro, &args);
        if (n->a->k == N_NAME && a.t == JV_UNDEF && jb_global(r, n->line, n->a->name, &args, &b)) return b;
        jr_fail(r, n->line, "'%s' is not callable (%s)", n->a->k == N_NAME ? n->a->name : "expression", jv_type_name(a));
    }
    case N_FILTER: {
        struct jargs args;
        a = jr_eval(r, n->a);
        eval_args(r, n, &args);
        return jb_filter(r, n->line, n->name, a, &args);
    }
    case N_TEST: {
        struct jargs args;
        a = jr_eval(r, n->a);
        eval_args(r, n, &args);
        bool t = jb_test(r, n->line, n->name, a, &args);
        return jv_bool(n->op ? !t : t);
    }
    case N_BINOP: return binop(r, n, jr_eval(r, n->a), jr_eval(r, n->b));
    case N_NOT: return jv_bool(!jv_truthy(jr_eval(r, n->a)));
    case N_NEG:
        a = jr_eval(r, n->a);
        if (a.t == JV_INT || a.t == JV_BOOL) return jv_int(-inum(a));
        if (a.t == JV_FLOAT) return jv_float(-a.u.f);
        jr_fail(r, n->line, "bad operand for unary -: %s", jv_type_name(a));
    case N_AND:
        a = jr_eval(r, n->a);
        return jv_truthy(a) ? jr_eval(r, n->b) : a;
    case N_OR:
        a = jr_eval(r, n->a);
        return jv_truthy(a) ? a : jr_eval(r, n->b);
    case N_COND:
        return jv_truthy(jr_eval(r, n->b)) ? jr_eval(r, n->a) : n->c ? jr_eval(r, n->c) : jv_undef();
    default: break;
    }
    jr_fail(r, n->line, "internal: node %d is not an expression", n->k);
}

/* ------------------------------------------------------------ statements */

static void assign(struct jrender *r, const struct jnode *n, struct jv v) {
    if (n->n_targets == 1) return set_var(r, n->targets[0], v);
    if (v.t != JV_LIST || v.u.l->n != (size_t)n->n_targets)
        jr_fail(r, n->line, "cannot unpack %s into %d names", jv_type_name(v), n->n_targets);
    for (int i = 0; i < n->n_targets; i++) set_var(r, n->targets[i], v.u.l->v[i]);
}

/* Items a for loop walks: a list, a dict's keys, a string's characters. */
static struct jlist *iterable(struct jrender *r, const struct jnode *n, struct jv v) {
    if (v.t == JV_LIST) return v.u.l;
    struct jv l = jv_list(r);
    if (v.t == JV_DICT) {
        for (size_t i = 0; i < v.u.d->n; i++) jl_push(r, l.u.l, v.u.d->k[i]);
    } else if (v.t == JV_STR) {
        size_t *off, k = cp_offsets(r, v.u.s, &off);
        for (size_t i = 0; i < k; i++) jl_push(r, l.u.l, jv_str(r, v.u.s->p + off[i], off[i + 1] - off[i]));
    } else if (v.t != JV_UNDEF && v.t != JV_NONE) {
        jr_fail(r, n->line, "cannot loop over %s", jv_type_name(v));
    } else if (v.t == JV_NONE) {
        jr_fail(r, n->line, "cannot loop over none");
    }
    return l.u.l;
}

static void render_for(struct jstate *st, const struct jnode *n, struct jbuf *out) {
    struct jrender *r = &st->r;
    struct jlist *all = iterable(r, n, jr_eval(r, n->a));
    struct jscope *saved = r->scope;
    push_scope(r);
    struct jlist *items = all;
    if (n->filter) { /* `for x in xs if cond`: loop.* counts the kept items */
        items = jv_list(r).u.l;
        for (size_t i = 0; i < all->n; i++) {
            struct jv it = all->v[i];
            if (n->n_targets == 1) set_var(r, n->targets[0], it);
            else if (it.t == JV_LIST && it.u.l->n == (size_t)n->n_targets) assign(r, n, it);
            if (jv_truthy(jr_eval(r, n->filter))) jl_push(r, items, it);
        }
    }
    size_t len = items->n;
    for (size_t i = 0; i < len; i++) {
        struct jv loop = jv_dict(r);
        struct jdict *d = loop.u.d;
        jd_set(r, d, jv_cstr(r, "index"), jv_int((int64_t)i + 1));
        jd_set(r, d, jv_cstr(r, "index0"), jv_int((int64_t)i));
        jd_set(r, d, jv_cstr(r, "revindex"), jv_int((int64_t)(len - i)));
        jd_set(r, d, jv_cstr(r, "revindex0"), jv_int((int64_t)(len - i - 1)));
        jd_set(r, d, jv_cstr(r, "first"), jv_bool(i == 0));
        jd_set(r, d, jv_cstr(r, "last"), jv_bool(i + 1 == len));
        jd_set(r, d, jv_cstr(r, "length"), jv_int((int64_t)len));
        jd_set(r, d, jv_cstr(r, "previtem"), i > 0 ? items->v[i - 1] : jv_undef());
        jd_set(r, d, jv_cstr(r, "nextitem"), i + 1 < len ? items->v[i + 1] : jv_undef());
        jd_set(r, d, jv_cstr(r, "depth"), jv_int(1));
        jd_set(r, d, jv_cstr(r, "depth0"), jv_int(0));
        set_var(r, "loop", loop);
        assign(r, n, items->v[i]);
        render_body(st, n->b, out);
        if (st->ctl == CTL_BREAK) {
            st->ctl = CTL_NONE;
            break;
        }
        st->ctl = CTL_NONE;
    }
    r->scope = saved;
    if (len == 0 && n->c) render_body(st, n->c, out);
}

static void render_body(struct jstate *st, const struct jnode *body, struct jbuf *out) {
    struct jrender *r = &st->r;
    for (int i = 0; i < body->n_kids && st->ctl == CTL_NONE; i++) {
        const struct jnode *n = body->kids[i];
        if (++r->steps > r->max_steps) jr_fail(r, n->line, "the template takes too long to render");
        switch (n->k) {
        case N_TEXT: jb_put(out, n->name, (size_t)n->op); break;
        case N_OUTPUT: jv_to_str(r, jr_eval(r, n->a), out); break;
        case N_BODY: render_body(st, n, out); break;
        case N_IF: {
            const struct jnode *c = n;
            while (c && c->k == N_IF && !jv_truthy(jr_eval(r, c->a))) c = c->c;
            if (c && c->k == N_IF) render_body(st, c->b, out);
            else if (c) render_body(st, c, out);
            break;
        }
        case N_FOR: render_for(st, n, out); break;
        case N_SET: {
            struct jv v = jr_eval(r, n->a);
            if (n->attr) {
                struct jv ns = jr_lookup(r, n->targets[0]);
                if (ns.t != JV_DICT) jr_fail(r, n->line, "cannot set attribute '%s' on %s", n->attr, jv_type_name(ns));
                jd_set(r, ns.u.d, jv_cstr(r, n->attr), v);
            } else {
                assign(r, n, v);
            }
            break;
        }
        case N_SET_BLOCK: {
            struct jbuf b = {0};
            b.r = r;
            render_body(st, n->a, &b);
            struct jv v = jv_str(r, b.p ? b.p : "", b.n);
            jb_free(&b);
            if (n->b) { /* apply the filter chain, innermost first */
                const struct jnode *chain[16];
                int k = 0;
                for (const struct jnode *f = n->b; f && f->k == N_FILTER && k < 16; f = f->a) chain[k++] = f;
                for (int j = k - 1; j >= 0; j--) {
                    struct jargs args;
                    eval_args(r, chain[j], &args);
                    v = jb_filter(r, chain[j]->line, chain[j]->name, v, &args);
                }
            }
            set_var(r, n->targets[0], v);
            break;
        }
        case N_MACRO: set_var(r, n->name, (struct jv){.t = JV_MACRO, .u.macro = n}); break;
        case N_BREAK: st->ctl = CTL_BREAK; break;
        case N_CONTINUE: st->ctl = CTL_CONTINUE; break;
        default: jr_fail(r, n->line, "internal: node %d is not a statement", n->k);
        }
    }
}

enum ig_status ig_jinja_render(const struct ig_jinja *t, const cJSON *vars, char **out, size_t *out_len,
                               char *err, size_t err_len) {
    *out = NULL;
    struct jstate *st = calloc(1, sizeof *st);
    if (!st) return IG_ERR_NOMEM;
    struct jrender *r = &st->r;
    r->err = err;
    r->err_len = err_len;
    r->arena.limit = 256u << 20;
    r->out_limit = 64u << 20;
    r->max_steps = 20000000;
    struct jbuf buf = {0};
    buf.r = r;
    if (setjmp(r->fail)) { /* (buf's text is among the live ones) */
        enum ig_status s = r->status != IG_OK ? r->status : IG_ERR_FORMAT;
        jr_free_bufs(r);
        ja_free_all(&r->arena);
        free(st);
        return s;
    }
    st->root = push_scope(r);
    const cJSON *e;
    cJSON_ArrayForEach(e, vars) set_var(r, e->string, jv_from_cjson(r, e));
    push_scope(r); /* template-level sets go here, above the caller's variables */
    st->root = r->scope;
    render_body(st, t->root, &buf);
    char *text = jb_take(&buf); /* the caller's now */
    jr_free_bufs(r);
    *out = text ? text : calloc(1, 1);
    *out_len = buf.n;
    ja_free_all(&r->arena);
    free(st);
    return *out ? IG_OK : IG_ERR_NOMEM;
}
