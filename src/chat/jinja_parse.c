/* jinja_parse.c - template source -> syntax tree. First the source is cut
 * into text and tags, applying whitespace control the way Hugging Face's
 * environment does ({%- -%} trims, trim_blocks drops the newline after a
 * block tag, lstrip_blocks drops indentation before one); then each tag's
 * inside is tokenized and parsed with Jinja's operator precedence. */
#include "chat/jinja_int.h"

#include <stdio.h>
#include <string.h>

enum seg_kind { SEG_TEXT, SEG_EXPR, SEG_STMT, SEG_COMMENT };
struct seg {
    enum seg_kind k;
    const char *p; /* text, or the tag's inside */
    size_t n;
    int line;
    bool trim_left, trim_right, keep_left; /* '-' after the opening, '-' before the closing, '+' after the opening */
    const char *tag; /* where the tag's '{' is in the source */
};

/* ------------------------------------------------------------ expression tokens */
enum tok_kind { T_END, T_NAME, T_STR, T_INT, T_FLOAT, T_OP };
struct tok {
    enum tok_kind k;
    const char *p;
    size_t n;
    int64_t i;
    double f;
};

struct parser {
    struct ig_jinja *t;
    struct seg *segs;
    int n_segs, pos;   /* next segment */
    struct tok *toks;  /* tokens of the current tag */
    int n_toks, tp;
    int line;
    int depth; /* expression nesting, bounded so hostile input cannot exhaust the stack */
    char *err;
    size_t err_len;
    jmp_buf fail;
};

_Noreturn static void perr(struct parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void perr(struct parser *ps, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ig_err(ps->err, ps->err_len, "chat template line %d: %s", ps->line, msg);
    longjmp(ps->fail, 1);
}

static void *palloc(struct parser *ps, size_t n) {
    void *p = ja_alloc(&ps->t->arena, n);
    if (!p) perr(ps, "out of memory");
    return p;
}

static const char *pstrdup(struct parser *ps, const char *s, size_t n) {
    char *c = palloc(ps, n + 1);
    memcpy(c, s, n);
    c[n] = 0;
    return c;
}

static bool is_ident(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9'); }

/* Tokenize a tag's inside into ps->toks. */
static void lex_tag(struct parser *ps, const char *s, size_t n) {
    static const char *ops[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")",
                                "[", "]", "{", "}", ",", ".", ":", "|", "=", NULL};
    int cap = 16;
    ps->toks = palloc(ps, (size_t)cap * sizeof *ps->toks);
    ps->n_toks = 0;
    ps->tp = 0;
    size_t i = 0;
    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        if (ps->n_toks + 1 >= cap) {
            struct tok *nt = palloc(ps, (size_t)cap * 2 * sizeof *nt);
            memcpy(nt, ps->toks, (size_t)cap * sizeof *nt);
            ps->toks = nt;
            cap *= 2;
        }
        struct tok *t = &ps->toks[ps->n_toks];
        memset(t, 0, sizeof *t);
        if (i >= n) {
            t->k = T_END;
            return;
        }
        char c = s[i];
        if (c == '\'' || c == '"') {
            /* string literal with Python escapes, decoded into the arena */
            char *out = palloc(ps, n - i + 1);
            size_t o = 0, j = i + 1;
            for (; j < n && s[j] != c; j++) {
                if (s[j] == '\\' && j + 1 < n) {
                    char e = s[++j];
                    switch (e) {
                    case 'n': out[o++] = '\n'; break;
                    case 't': out[o++] = '\t'; break;
                    case 'r': out[o++] = '\r'; break;
                    case '\\': out[o++] = '\\'; break;
                    case '\'': out[o++] = '\''; break;
                    case '"': out[o++] = '"'; break;
                    case '\n': break;
                    default: out[o++] = '\\', out[o++] = e; break;
                    }
                } else {
                    out[o++] = s[j];
                }
            }
            if (j >= n) perr(ps, "unterminated string literal");
            t->k = T_STR;
            t->p = out;
            t->n = o;
            i = j + 1;
        } else if (c >= '0' && c <= '9') {
            size_t j = i;
            bool fl = false;
            while (j < n && ((s[j] >= '0' && s[j] <= '9') || s[j] == '_')) j++;
            if (j + 1 < n && s[j] == '.' && s[j + 1] >= '0' && s[j + 1] <= '9') {
                fl = true;
                j++;
                while (j < n && s[j] >= '0' && s[j] <= '9') j++;
            }
            if (j < n && (s[j] == 'e' || s[j] == 'E')) {
                fl = true;
                j++;
                if (j < n && (s[j] == '+' || s[j] == '-')) j++;
                while (j < n && s[j] >= '0' && s[j] <= '9') j++;
            }
            char num[64];
            size_t l = IG_MIN(j - i, sizeof num - 1), o = 0;
            for (size_t q = 0; q < l; q++)
                if (s[i + q] != '_') num[o++] = s[i + q];
            num[o] = 0;
            t->k = fl ? T_FLOAT : T_INT;
            if (fl) t->f = strtod(num, NULL);
            else t->i = strtoll(num, NULL, 10);
            i = j;
        } else if (is_ident(c)) {
            size_t j = i;
            while (j < n && is_ident(s[j])) j++;
            t->k = T_NAME;
            t->p = s + i;
            t->n = j - i;
            i = j;
        } else {
            int k = 0;
            for (; ops[k]; k++)
                if (n - i >= strlen(ops[k]) && !memcmp(s + i, ops[k], strlen(ops[k]))) break;
            if (!ops[k]) perr(ps, "unexpected character '%c'", c);
            t->k = T_OP;
            t->p = ops[k];
            t->n = strlen(ops[k]);
            i += t->n;
        }
        ps->n_toks++;
    }
}

static struct tok *peek(struct parser *ps) { return &ps->toks[ps->tp]; }
static bool tok_is(const struct tok *t, enum tok_kind k, const char *s) {
    return t->k == k && strlen(s) == t->n && !memcmp(t->p, s, t->n);
}
static bool accept_op(struct parser *ps, const char *op) {
    if (tok_is(peek(ps), T_OP, op)) {
        ps->tp++;
        return true;
    }
    return false;
}
static bool accept_name(struct parser *ps, const char *name) {
    if (tok_is(peek(ps), T_NAME, name)) {
        ps->tp++;
        return true;
    }
    return false;
}
static void expect_op(struct parser *ps, const char *op) {
    if (!accept_op(ps, op)) perr(ps, "expected '%s'", op);
}
static const char *expect_name(struct parser *ps) {
    struct tok *t = peek(ps);
    if (t->k != T_NAME) perr(ps, "expected a name");
    ps->tp++;
    return pstrdup(ps, t->p, t->n);
}

static struct jnode *node(struct parser *ps, enum jnode_kind k) {
    struct jnode *n = palloc(ps, sizeof *n);
    n->k = k;
    n->line = ps->line;
    return n;
}

/* growable child arrays */
struct kids {
    struct jnode **v;
    const char **kw;
    int n, cap;
};
static void kids_push(struct parser *ps, struct kids *k, struct jnode *n, const char *kw) {
    if (k->n == k->cap) {
        int nc = k->cap ? k->cap * 2 : 4;
        struct jnode **nv = palloc(ps, (size_t)nc * sizeof *nv);
        const char **nk = palloc(ps, (size_t)nc * sizeof *nk);
        if (k->n) memcpy(nv, k->v, (size_t)k->n * sizeof *nv), memcpy(nk, k->kw, (size_t)k->n * sizeof *nk);
        k->v = nv;
        k->kw = nk;
        k->cap = nc;
    }
    k->kw[k->n] = kw;
    k->v[k->n++] = n;
}

static struct jnode *parse_expr(struct parser *ps);
static struct jnode *parse_or(struct parser *ps);

/* (args) after a callable: positional and name=value */
static void parse_args(struct parser *ps, struct jnode *call) {
    struct kids k = {0};
    if (!accept_op(ps, ")")) {
        do {
            if (tok_is(peek(ps), T_OP, ")")) break;
            const char *kw = NULL;
            if (peek(ps)->k == T_NAME && tok_is(&ps->toks[ps->tp + 1], T_OP, "=")) {
                kw = expect_name(ps);
                ps->tp++;
            }
            kids_push(ps, &k, parse_expr(ps), kw);
        } while (accept_op(ps, ","));
        expect_op(ps, ")");
    }
    call->kids = k.v;
    call->kw = k.kw;
    call->n_kids = k.n;
}

static struct jnode *parse_primary(struct parser *ps) {
    struct tok *t = peek(ps);
    struct jnode *n;
    if (t->k == T_STR) {
        n = node(ps, N_LIT);
        struct jstr *s = js_new(&ps->t->arena, t->p, t->n);
        if (!s) perr(ps, "out of memory");
        n->lit = (struct jv){.t = JV_STR, .u.s = s};
        ps->tp++;
        /* adjacent literals concatenate */
        while (peek(ps)->k == T_STR) {
            struct tok *u = peek(ps);
            struct jstr *c = ja_alloc(&ps->t->arena, sizeof *c + n->lit.u.s->n + u->n + 1);
            if (!c) perr(ps, "out of memory");
            c->n = n->lit.u.s->n + u->n;
            memcpy(c->p, n->lit.u.s->p, n->lit.u.s->n);
            memcpy(c->p + n->lit.u.s->n, u->p, u->n);
            c->p[c->n] = 0;
            n->lit.u.s = c;
            ps->tp++;
        }
        return n;
    }
    if (t->k == T_INT || t->k == T_FLOAT) {
        n = node(ps, N_LIT);
        n->lit = t->k == T_INT ? jv_int(t->i) : jv_float(t->f);
        ps->tp++;
        return n;
    }
    if (t->k == T_NAME) {
        ps->tp++;
        n = node(ps, N_LIT);
        if (tok_is(t, T_NAME, "true") || tok_is(t, T_NAME, "True")) n->lit = jv_bool(true);
        else if (tok_is(t, T_NAME, "false") || tok_is(t, T_NAME, "False")) n->lit = jv_bool(false);
        else if (tok_is(t, T_NAME, "none") || tok_is(t, T_NAME, "None")) n->lit = jv_none();
        else {
            n->k = N_NAME;
            n->name = pstrdup(ps, t->p, t->n);
        }
        return n;
    }
    if (accept_op(ps, "(")) {
        if (accept_op(ps, ")")) return node(ps, N_TUPLE);
        struct jnode *e = parse_expr(ps);
        if (tok_is(peek(ps), T_OP, ",")) {
            struct kids k = {0};
            kids_push(ps, &k, e, NULL);
            while (accept_op(ps, ",")) {
                if (tok_is(peek(ps), T_OP, ")")) break;
                kids_push(ps, &k, parse_expr(ps), NULL);
            }
            e = node(ps, N_TUPLE);
            e->kids = k.v;
            e->n_kids = k.n;
        }
        expect_op(ps, ")");
        return e;
    }
    if (accept_op(ps, "[")) {
        n = node(ps, N_LIST);
        struct kids k = {0};
        while (!accept_op(ps, "]")) {
            kids_push(ps, &k, parse_expr(ps), NULL);
            if (!accept_op(ps, ",")) {
                expect_op(ps, "]");
                break;
            }
        }
        n->kids = k.v;
        n->n_kids = k.n;
        return n;
    }
    if (accept_op(ps, "{")) {
        n = node(ps, N_DICT);
        struct kids k = {0};
        while (!accept_op(ps, "}")) {
            kids_push(ps, &k, parse_expr(ps), NULL);
            expect_op(ps, ":");
            kids_push(ps, &k, parse_expr(ps), NULL);
            if (!accept_op(ps, ",")) {
                expect_op(ps, "}");
                break;
            }
        }
        n->kids = k.v;
        n->n_kids = k.n;
        return n;
    }
    if (t->k == T_END) perr(ps, "expression ends too early");
    perr(ps, "unexpected '%.*s'", (int)t->n, t->p);
}

static struct jnode *parse_postfix(struct parser *ps, struct jnode *n) {
    for (;;) {
        if (accept_op(ps, ".")) {
            struct jnode *a = node(ps, N_ATTR);
            a->a = n;
            struct tok *t = peek(ps);
            if (t->k == T_INT) { /* x.0 */
                a->k = N_INDEX;
                a->b = node(ps, N_LIT);
                a->b->lit = jv_int(t->i);
                ps->tp++;
            } else {
                a->name = expect_name(ps);
            }
            n = a;
        } else if (accept_op(ps, "[")) {
            struct jnode *lo = NULL, *hi = NULL, *st = NULL;
            bool slice = false;
            if (!tok_is(peek(ps), T_OP, ":")) lo = parse_expr(ps);
            if (accept_op(ps, ":")) {
                slice = true;
                if (!tok_is(peek(ps), T_OP, "]") && !tok_is(peek(ps), T_OP, ":")) hi = parse_expr(ps);
                if (accept_op(ps, ":") && !tok_is(peek(ps), T_OP, "]")) st = parse_expr(ps);
            }
            expect_op(ps, "]");
            struct jnode *x = node(ps, slice ? N_SLICE : N_INDEX);
            x->a = n;
            x->b = lo;
            x->c = hi;
            x->filter = st;
            if (!slice && !lo) perr(ps, "empty subscript");
            n = x;
        } else if (accept_op(ps, "(")) {
            struct jnode *c = node(ps, N_CALL);
            c->a = n;
            parse_args(ps, c);
            n = c;
        } else {
            return n;
        }
    }
}

static struct jnode *parse_filters(struct parser *ps, struct jnode *n) {
    while (accept_op(ps, "|")) {
        struct jnode *f = node(ps, N_FILTER);
        f->name = expect_name(ps);
        f->a = n;
        if (accept_op(ps, "(")) parse_args(ps, f);
        n = f;
    }
    return n;
}

static struct jnode *parse_unary(struct parser *ps) {
    if (ps->depth > 200) perr(ps, "expression nested too deeply");
    if (accept_op(ps, "-") || accept_op(ps, "+")) {
        bool neg = ps->toks[ps->tp - 1].p[0] == '-';
        ps->depth++;
        struct jnode *x = parse_unary(ps);
        ps->depth--;
        if (!neg) return x;
        struct jnode *n = node(ps, N_NEG);
        n->a = x;
        return n;
    }
    return parse_filters(ps, parse_postfix(ps, parse_primary(ps)));
}

static struct jnode *binop(struct parser *ps, int op, struct jnode *a, struct jnode *b) {
    struct jnode *n = node(ps, N_BINOP);
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

static struct jnode *parse_pow(struct parser *ps) {
    struct jnode *n = parse_unary(ps);
    while (accept_op(ps, "**")) n = binop(ps, 'P', n, parse_unary(ps));
    return n;
}
static struct jnode *parse_mul(struct parser *ps) {
    struct jnode *n = parse_pow(ps);
    for (;;) {
        if (accept_op(ps, "*")) n = binop(ps, '*', n, parse_pow(ps));
        else if (accept_op(ps, "//")) n = binop(ps, 'F', n, parse_pow(ps));
        else if (accept_op(ps, "/")) n = binop(ps, '/', n, parse_pow(ps));
        else if (accept_op(ps, "%")) n = binop(ps, '%', n, parse_pow(ps));
        else return n;
    }
}
static struct jnode *parse_concat(struct parser *ps) {
    struct jnode *n = parse_mul(ps);
    while (accept_op(ps, "~")) n = binop(ps, '~', n, parse_mul(ps));
    return n;
}
static struct jnode *parse_add(struct parser *ps) {
    struct jnode *n = parse_concat(ps);
    for (;;) {
        if (accept_op(ps, "+")) n = binop(ps, '+', n, parse_concat(ps));
        else if (accept_op(ps, "-")) n = binop(ps, '-', n, parse_concat(ps));
        else return n;
    }
}

static struct jnode *parse_compare(struct parser *ps) {
    struct jnode *n = parse_add(ps);
    for (;;) {
        if (accept_op(ps, "==")) n = binop(ps, 'E', n, parse_add(ps));
        else if (accept_op(ps, "!=")) n = binop(ps, 'N', n, parse_add(ps));
        else if (accept_op(ps, "<=")) n = binop(ps, 'l', n, parse_add(ps));
        else if (accept_op(ps, ">=")) n = binop(ps, 'g', n, parse_add(ps));
        else if (accept_op(ps, "<")) n = binop(ps, '<', n, parse_add(ps));
        else if (accept_op(ps, ">")) n = binop(ps, '>', n, parse_add(ps));
        else if (accept_name(ps, "in")) n = binop(ps, 'i', n, parse_add(ps));
        else if (tok_is(peek(ps), T_NAME, "not") && tok_is(&ps->toks[ps->tp + 1], T_NAME, "in")) {
            ps->tp += 2;
            n = binop(ps, 'I', n, parse_add(ps));
        } else if (accept_name(ps, "is")) {
            struct jnode *t = node(ps, N_TEST);
            t->op = accept_name(ps, "not");
            t->name = expect_name(ps);
            t->a = n;
            if (tok_is(peek(ps), T_OP, "(")) {
                ps->tp++;
                parse_args(ps, t);
            } else if (peek(ps)->k == T_STR || peek(ps)->k == T_INT || peek(ps)->k == T_FLOAT ||
                       (peek(ps)->k == T_NAME && !tok_is(peek(ps), T_NAME, "and") && !tok_is(peek(ps), T_NAME, "or") &&
                        !tok_is(peek(ps), T_NAME, "else") && !tok_is(peek(ps), T_NAME, "if"))) {
                /* `x is divisibleby 3`, `x is sameas none`: one argument without parentheses */
                struct kids k = {0};
                kids_push(ps, &k, parse_add(ps), NULL);
                t->kids = k.v;
                t->kw = k.kw;
                t->n_kids = 1;
            }
            n = t;
        } else return n;
    }
}

static struct jnode *parse_not(struct parser *ps) {
    if (accept_name(ps, "not")) {
        struct jnode *n = node(ps, N_NOT);
        if (++ps->depth > 200) perr(ps, "expression nested too deeply");
        n->a = parse_not(ps);
        ps->depth--;
        return n;
    }
    return parse_compare(ps);
}
static struct jnode *parse_and(struct parser *ps) {
    struct jnode *n = parse_not(ps);
    while (accept_name(ps, "and")) {
        struct jnode *x = node(ps, N_AND);
        x->a = n;
        x->b = parse_not(ps);
        n = x;
    }
    return n;
}
static struct jnode *parse_or(struct parser *ps) {
    struct jnode *n = parse_and(ps);
    while (accept_name(ps, "or")) {
        struct jnode *x = node(ps, N_OR);
        x->a = n;
        x->b = parse_and(ps);
        n = x;
    }
    return n;
}
static struct jnode *parse_expr(struct parser *ps) {
    if (++ps->depth > 200) perr(ps, "expression nested too deeply");
    struct jnode *n = parse_or(ps);
    if (accept_name(ps, "if")) {
        struct jnode *c = node(ps, N_COND);
        c->a = n;
        c->b = parse_or(ps);
        if (accept_name(ps, "else")) c->c = parse_expr(ps);
        n = c;
    }
    ps->depth--;
    return n;
}

static void expect_end(struct parser *ps, const char *what) {
    if (peek(ps)->k != T_END) perr(ps, "unexpected '%.*s' after %s", (int)peek(ps)->n, peek(ps)->p, what);
}

/* names for `for a, b in` / `set a, b =` */
static void parse_targets(struct parser *ps, struct jnode *n) {
    const char *v[16];
    int k = 0;
    bool paren = accept_op(ps, "(");
    do {
        if (k == 16) perr(ps, "too many names");
        v[k++] = expect_name(ps);
    } while (accept_op(ps, ","));
    if (paren) expect_op(ps, ")");
    n->targets = palloc(ps, (size_t)k * sizeof *n->targets);
    memcpy(n->targets, v, (size_t)k * sizeof *v);
    n->n_targets = k;
}

/* ------------------------------------------------------------ statements */

/* Parse statements until a block tag whose first word is in `ends` ("endif|elif|else");
 * returns that word (the tag's tokens are left for the caller) or NULL at the end. */
static struct jnode *parse_body(struct parser *ps, const char *ends, const char **stopped);

static bool word_in(const struct tok *t, const char *list) {
    if (t->k != T_NAME) return false;
    for (const char *p = list; *p;) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == t->n && !memcmp(p, t->p, l)) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

static struct jnode *parse_stmt_inner(struct parser *ps);
static struct jnode *parse_stmt(struct parser *ps) {
    if (++ps->depth > 200) perr(ps, "blocks nested too deeply");
    struct jnode *n = parse_stmt_inner(ps);
    ps->depth--;
    return n;
}

static struct jnode *parse_stmt_inner(struct parser *ps) {
    struct tok *t = peek(ps);
    if (t->k != T_NAME) perr(ps, "expected a statement name");
    if (accept_name(ps, "if")) {
        struct jnode *n = node(ps, N_IF), *cur = n;
        cur->a = parse_expr(ps);
        expect_end(ps, "if condition");
        for (;;) {
            const char *stop;
            cur->b = parse_body(ps, "elif|else|endif", &stop);
            if (!stop) perr(ps, "missing {%% endif %%}");
            if (!strcmp(stop, "elif")) {
                struct jnode *e = node(ps, N_IF);
                e->a = parse_expr(ps);
                expect_end(ps, "elif condition");
                cur->c = e;
                cur = e;
            } else if (!strcmp(stop, "else")) {
                expect_end(ps, "else");
                cur->c = parse_body(ps, "endif", &stop);
                if (!stop) perr(ps, "missing {%% endif %%}");
                expect_end(ps, "endif");
                return n;
            } else {
                expect_end(ps, "endif");
                return n;
            }
        }
    }
    if (accept_name(ps, "for")) {
        struct jnode *n = node(ps, N_FOR);
        parse_targets(ps, n);
        if (!accept_name(ps, "in")) perr(ps, "expected 'in' in for loop");
        n->a = parse_or(ps);
        if (accept_name(ps, "if")) n->filter = parse_or(ps);
        if (accept_name(ps, "recursive")) perr(ps, "recursive loops are not supported");
        expect_end(ps, "for");
        const char *stop;
        n->b = parse_body(ps, "else|endfor", &stop);
        if (!stop) perr(ps, "missing {%% endfor %%}");
        if (!strcmp(stop, "else")) {
            n->c = parse_body(ps, "endfor", &stop);
            if (!stop) perr(ps, "missing {%% endfor %%}");
        }
        expect_end(ps, "endfor");
        return n;
    }
    if (accept_name(ps, "set")) {
        struct jnode *n = node(ps, N_SET);
        parse_targets(ps, n);
        if (n->n_targets == 1 && accept_op(ps, ".")) n->attr = expect_name(ps);
        if (accept_op(ps, "=")) {
            n->a = parse_expr(ps);
            if (tok_is(peek(ps), T_OP, ",")) { /* set a, b = x, y */
                struct kids k = {0};
                kids_push(ps, &k, n->a, NULL);
                while (accept_op(ps, ",")) kids_push(ps, &k, parse_expr(ps), NULL);
                n->a = node(ps, N_TUPLE);
                n->a->kids = k.v;
                n->a->n_kids = k.n;
            }
            expect_end(ps, "set");
            return n;
        }
        /* {% set x %}...{% endset %} (optionally with filters) */
        n->k = N_SET_BLOCK;
        struct jnode *filters = NULL;
        if (tok_is(peek(ps), T_OP, "|")) filters = parse_filters(ps, node(ps, N_BODY));
        expect_end(ps, "set");
        const char *stop;
        n->a = parse_body(ps, "endset", &stop);
        if (!stop) perr(ps, "missing {%% endset %%}");
        n->b = filters;
        return n;
    }
    if (accept_name(ps, "macro")) {
        struct jnode *n = node(ps, N_MACRO);
        n->name = expect_name(ps);
        expect_op(ps, "(");
        const char *names[32];
        struct jnode *defs[32];
        int k = 0;
        while (!accept_op(ps, ")")) {
            if (k == 32) perr(ps, "too many macro parameters");
            names[k] = expect_name(ps);
            defs[k] = accept_op(ps, "=") ? parse_expr(ps) : NULL;
            k++;
            if (!accept_op(ps, ",")) {
                expect_op(ps, ")");
                break;
            }
        }
        n->targets = palloc(ps, (size_t)(k + 1) * sizeof *n->targets);
        n->defaults = palloc(ps, (size_t)(k + 1) * sizeof *n->defaults);
        memcpy(n->targets, names, (size_t)k * sizeof *names);
        memcpy(n->defaults, defs, (size_t)k * sizeof *defs);
        n->n_targets = k;
        expect_end(ps, "macro");
        const char *stop;
        n->a = parse_body(ps, "endmacro", &stop);
        if (!stop) perr(ps, "missing {%% endmacro %%}");
        return n;
    }
    if (accept_name(ps, "break")) return expect_end(ps, "break"), node(ps, N_BREAK);
    if (accept_name(ps, "continue")) return expect_end(ps, "continue"), node(ps, N_CONTINUE);
    if (accept_name(ps, "generation")) { /* transformers' assistant-mask marker: renders its body */
        const char *stop;
        struct jnode *b = parse_body(ps, "endgeneration", &stop);
        if (!stop) perr(ps, "missing {%% endgeneration %%}");
        return b;
    }
    perr(ps, "unsupported statement '{%% %.*s %%}'", (int)t->n, t->p);
}

static struct jnode *parse_body(struct parser *ps, const char *ends, const char **stopped) {
    struct jnode *body = node(ps, N_BODY);
    struct kids k = {0};
    *stopped = NULL;
    while (ps->pos < ps->n_segs) {
        struct seg *s = &ps->segs[ps->pos++];
        ps->line = s->line;
        if (s->k == SEG_COMMENT) continue;
        if (s->k == SEG_TEXT) {
            if (!s->n) continue;
            struct jnode *n = node(ps, N_TEXT);
            n->name = s->p;
            n->op = (int)s->n;
            kids_push(ps, &k, n, NULL);
            continue;
        }
        lex_tag(ps, s->p, s->n);
        if (s->k == SEG_EXPR) {
            struct jnode *n = node(ps, N_OUTPUT);
            n->a = parse_expr(ps);
            expect_end(ps, "expression");
            kids_push(ps, &k, n, NULL);
            continue;
        }
        if (ends && word_in(peek(ps), ends)) {
            *stopped = pstrdup(ps, peek(ps)->p, peek(ps)->n);
            ps->tp++;
            break;
        }
        if (word_in(peek(ps), "endif|endfor|endset|endmacro|elif|else|endgeneration"))
            perr(ps, "unexpected {%% %.*s %%}", (int)peek(ps)->n, peek(ps)->p);
        kids_push(ps, &k, parse_stmt(ps), NULL);
    }
    body->kids = k.v;
    body->n_kids = k.n;
    return body;
}

/* ------------------------------------------------------------ segmentation */

static int count_lines(const char *a, const char *b) {
    int n = 0;
    for (; a < b; a++) n += *a == '\n';
    return n;
}

static void segment(struct parser *ps, const char *src, size_t len) {
    int cap = 64;
    ps->segs = palloc(ps, (size_t)cap * sizeof *ps->segs);
    const char *p = src, *end = src + len;
    int line = 1;
    while (p < end) {
        const char *o = NULL;
        for (const char *q = p; q + 1 < end; q++)
            if (q[0] == '{' && (q[1] == '{' || q[1] == '%' || q[1] == '#')) {
                o = q;
                break;
            }
        if (ps->n_segs + 2 >= cap) {
            struct seg *ns = palloc(ps, (size_t)cap * 2 * sizeof *ns);
            memcpy(ns, ps->segs, (size_t)cap * sizeof *ns);
            ps->segs = ns;
            cap *= 2;
        }
        const char *text_end = o ? o : end;
        ps->segs[ps->n_segs++] = (struct seg){SEG_TEXT, p, (size_t)(text_end - p), line, false, false, false, NULL};
        line += count_lines(p, text_end);
        if (!o) break;
        char kind = o[1];
        const char *close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
        const char *in = o + 2, *c = NULL;
        for (const char *q = in; q + 1 < end; q++)
            if (q[0] == close[0] && q[1] == close[1]) {
                c = q;
                break;
            }
        ps->line = line;
        if (!c) perr(ps, "unclosed '{%c'", kind);
        struct seg s = {kind == '{' ? SEG_EXPR : kind == '%' ? SEG_STMT : SEG_COMMENT, in, 0, line, false, false, false, o};
        if (in < c && *in == '-') s.trim_left = true, in++;
        else if (in < c && *in == '+') s.keep_left = true, in++;
        const char *ce = c;
        if (ce > in && ce[-1] == '-') s.trim_right = true, ce--;
        s.p = in;
        s.n = (size_t)(ce - in);
        ps->segs[ps->n_segs++] = s;
        line += count_lines(o, c + 2);
        p = c + 2;
    }
    /* whitespace control */
    for (int i = 0; i < ps->n_segs; i++) {
        struct seg *s = &ps->segs[i];
        if (s->k == SEG_TEXT) continue;
        bool block = s->k != SEG_EXPR;
        struct seg *prev = i > 0 && ps->segs[i - 1].k == SEG_TEXT ? &ps->segs[i - 1] : NULL;
        struct seg *next = i + 1 < ps->n_segs && ps->segs[i + 1].k == SEG_TEXT ? &ps->segs[i + 1] : NULL;
        if (prev) {
            if (s->trim_left) {
                while (prev->n && strchr(" \t\r\n\v\f", prev->p[prev->n - 1])) prev->n--;
            } else if (block && !s->keep_left) { /* lstrip_blocks: indentation before the tag in the source */
                const char *q = s->tag;
                while (q > src && (q[-1] == ' ' || q[-1] == '\t')) q--;
                if (q == src || q[-1] == '\n') {
                    size_t ws = (size_t)(s->tag - q);
                    prev->n -= IG_MIN(ws, prev->n);
                }
            }
        }
        if (next) {
            if (s->trim_right) {
                while (next->n && strchr(" \t\r\n\v\f", next->p[0])) next->p++, next->n--;
            } else if (block) { /* trim_blocks */
                if (next->n && next->p[0] == '\n') next->p++, next->n--;
                else if (next->n >= 2 && next->p[0] == '\r' && next->p[1] == '\n') next->p += 2, next->n -= 2;
            }
        }
    }
}

struct ig_jinja *ig_jinja_parse(const char *src, size_t len, char *err, size_t err_len) {
    struct ig_jinja *volatile t = calloc(1, sizeof *t);
    if (!t) return NULL;
    struct parser ps = {.t = t, .err = err, .err_len = err_len, .line = 1};
    if (setjmp(ps.fail)) {
        ig_jinja_free(t);
        return NULL;
    }
    /* the text segments point into a copy the template owns */
    char *copy = palloc(&ps, len + 1);
    memcpy(copy, src, len);
    segment(&ps, copy, len);
    const char *stop;
    t->root = parse_body(&ps, NULL, &stop);
    return t;
}

void ig_jinja_free(struct ig_jinja *t) {
    if (!t) return;
    ja_free_all(&t->arena);
    free(t);
}
