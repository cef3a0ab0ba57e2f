/* jinja_int.h - the interpreter's insides: values (Python-like, allocated in
 * one arena per render and freed together), the syntax tree, and the pieces
 * the parser, evaluator and builtins share. */
#ifndef IG_JINJA_INT_H
#define IG_JINJA_INT_H

#include "chat/jinja.h"

#include <setjmp.h>

/* ------------------------------------------------------------ arena */
struct jarena {
    struct jblock *head;
    size_t used_total, limit;
};
void *ja_alloc(struct jarena *a, size_t n); /* zeroed; NULL past the limit or on no memory */
void ja_free_all(struct jarena *a);

/* ------------------------------------------------------------ values */
enum jv_type { JV_UNDEF, JV_NONE, JV_BOOL, JV_INT, JV_FLOAT, JV_STR, JV_LIST, JV_DICT, JV_MACRO };

struct jstr {
    size_t n;
    char p[]; /* NUL-terminated */
};
struct jlist;
struct jdict;
struct jnode;

struct jv {
    enum jv_type t;
    union {
        bool b;
        int64_t i;
        double f;
        struct jstr *s;
        struct jlist *l;
        struct jdict *d;
        const struct jnode *macro;
    } u;
};

struct jlist {
    struct jv *v;
    size_t n, cap;
};
struct jdict {
    struct jv *k, *v; /* insertion order, like Python's dict */
    size_t n, cap;
};

struct jrender; /* evaluator state */
struct jbuf;

struct jv jv_undef(void);
struct jv jv_none(void);
struct jv jv_bool(bool b);
struct jv jv_int(int64_t i);
struct jv jv_float(double f);
struct jstr *js_new(struct jarena *a, const char *s, size_t n);
struct jv jv_str(struct jrender *r, const char *s, size_t n);
struct jv jv_cstr(struct jrender *r, const char *s);
struct jv jv_list(struct jrender *r);
struct jv jv_dict(struct jrender *r);
void jl_push(struct jrender *r, struct jlist *l, struct jv v);
void jd_set(struct jrender *r, struct jdict *d, struct jv k, struct jv v);
bool jd_get(const struct jdict *d, const char *key, struct jv *out);
bool jd_getv(const struct jdict *d, struct jv key, struct jv *out);

bool jv_truthy(struct jv v);
bool jv_eq(struct jv a, struct jv b);
const char *jv_type_name(struct jv v);
/* Python str() of a value (Jinja output of {{ v }}): None -> "None", undefined -> "". */
void jv_to_str(struct jrender *r, struct jv v, struct jbuf *b);
struct jv jv_stringify(struct jrender *r, struct jv v);
/* json.dumps(v, ensure_ascii=False, indent=indent (<0: none)) */
void jv_to_json(struct jrender *r, struct jv v, struct jbuf *b, int indent, int depth);
struct jv jv_from_cjson(struct jrender *r, const cJSON *j);

/* ------------------------------------------------------------ output buffer */
struct jbuf {
    char *p;
    size_t n, cap;
    struct jrender *r; /* for the size limit and jr_fail's cleanup; NULL: unlimited */
};
void jb_put(struct jbuf *b, const char *s, size_t n);
void jb_free(struct jbuf *b);  /* free b's text (and forget it: see jrender.bufs) */
char *jb_take(struct jbuf *b); /* b's text (maybe NULL), the caller's to free from now on */
void jb_puts(struct jbuf *b, const char *s);
void jb_putc(struct jbuf *b, char c);

/* ------------------------------------------------------------ syntax tree */
enum jnode_kind {
    /* statements */
    N_TEXT, N_OUTPUT, N_IF, N_FOR, N_SET, N_SET_BLOCK, N_MACRO, N_BREAK, N_CONTINUE, N_BODY,
    /* expressions */
    N_LIT, N_NAME, N_LIST, N_DICT, N_ATTR, N_INDEX, N_SLICE, N_CALL, N_FILTER, N_TEST,
    N_BINOP, N_NOT, N_NEG, N_AND, N_OR, N_COND, N_TUPLE
};

struct jnode {
    enum jnode_kind k;
    int line;
    const char *name;         /* N_NAME, N_ATTR, N_FILTER, N_TEST, N_MACRO, N_SET target, N_CALL kwarg names live in kw */
    int op;                   /* N_BINOP: operator token; N_TEST: negated */
    struct jv lit;            /* N_LIT (strings live in the template's arena) */
    struct jnode *a, *b, *c;  /* operands; N_IF: cond/then/else; N_FOR: iter/body/else; N_COND: then/cond/else */
    struct jnode *filter;     /* N_FOR: the loop's `if` condition */
    struct jnode **kids;      /* N_BODY statements, N_LIST/N_TUPLE items, N_DICT keys+values, call args */
    const char **kw;          /* call keyword names ([i] NULL: positional) */
    int n_kids;
    const char **targets;     /* N_FOR / N_SET names (tuple unpacking), N_MACRO parameters */
    struct jnode **defaults;  /* N_MACRO parameter defaults (NULL: required) */
    int n_targets;
    const char *attr;         /* N_SET: `ns.attr` target attribute */
};

struct ig_jinja {
    struct jarena arena;
    struct jnode *root;
};

/* ------------------------------------------------------------ evaluator */
struct jscope {
    struct jdict *vars;
    struct jscope *parent;
};

struct jrender {
    struct jarena arena;
    jmp_buf fail;
    char *err;
    size_t err_len;
    struct jscope *scope;
    int depth;
    size_t out_limit;
    uint64_t steps, max_steps; /* evaluation budget: a template never hangs */
    enum ig_status status;
    /* the heap text of the render's live jbufs (b->r set), so that a
     * jr_fail, which leaves their frames, frees them (jr_free_bufs) */
    char **bufs;
    int n_bufs, cap_bufs;
};
void jr_free_bufs(struct jrender *r); /* free every live jbuf's text and the list */

void *jr_alloc(struct jrender *r, size_t n); /* ja_alloc or fail the render */
_Noreturn void jr_fail(struct jrender *r, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
struct jv jr_lookup(struct jrender *r, const char *name);
struct jv jr_eval(struct jrender *r, const struct jnode *n);

/* builtins (jinja_builtins.c): NULL-terminated arrays of evaluated args */
struct jargs {
    struct jv *v;
    const char **kw;
    int n;
};
struct jv jb_filter(struct jrender *r, int line, const char *name, struct jv self, struct jargs *a);
bool jb_test(struct jrender *r, int line, const char *name, struct jv v, struct jargs *a);
struct jv jb_method(struct jrender *r, int line, struct jv self, const char *name, struct jargs *a);
bool jb_global(struct jrender *r, int line, const char *name, struct jargs *a, struct jv *out);

#endif
