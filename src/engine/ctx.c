/* ctx.c - context creation, KV-cell bookkeeping and ig_decode's argument
 * checks. Cells are allocated for a whole batch before any compute, so a
 * batch that does not fit changes nothing. */
#include "engine/ctx.h"

#include <string.h>

#define ERR(...) (ig_err(err, err_len, __VA_ARGS__))

struct ig_ctx_params ig_ctx_default_params(void) {
    struct ig_ctx_params p = {.n_ctx = 0, .n_seq_max = 1, .n_batch = 512, .n_threads = 0};
    return p;
}

static void *alloc_f(size_t n, bool *ok) {
    void *p = calloc(n ? n : 1, sizeof(float));
    if (!p) *ok = false;
    return p;
}

enum ig_status ig_ctx_init(struct ig_model *m, const struct ig_ctx_params *p, struct ig_ctx **out, char *err,
                           size_t err_len) {
    *out = NULL;
    struct ig_ctx_params d = ig_ctx_default_params();
    if (!p) p = &d;
    if (!m || m->vocab_only) {
        ERR("the model was loaded vocab-only: it cannot decode");
        return IG_ERR_ARG;
    }
    const struct ig_hparams *hp = &m->hp;
    int32_t n_ctx = p->n_ctx > 0 ? p->n_ctx : IG_MIN(hp->n_ctx_train, 4096);
    if (n_ctx > (1 << 24) || p->n_seq_max < 1 || p->n_seq_max > 4096 || p->n_batch < 1 || p->n_batch > 65536) {
        ERR("bad context parameters: n_ctx %d, n_seq_max %d, n_batch %d", p->n_ctx, p->n_seq_max, p->n_batch);
        return IG_ERR_ARG;
    }
    struct ig_ctx *c = calloc(1, sizeof *c);
    if (!c) return IG_ERR_NOMEM;
    c->m = m;
    c->ops = m->backend == IG_BACKEND_CPU_REF ? &ig_cpu_ref_ops : ig_cpu_ops();
    c->n_ctx = n_ctx;
    c->n_seq_max = p->n_seq_max;
    c->n_batch = p->n_batch;
    int nt = p->n_threads > 0 ? p->n_threads : m->n_threads;
    c->pool = ig_pool_create(nt);
    size_t nb = (size_t)c->n_batch, n_q = (size_t)hp->n_head * (size_t)hp->head_dim;
    size_t n_kv = (size_t)hp->n_head_kv * (size_t)hp->head_dim;
    size_t cache = (size_t)hp->n_layer * (size_t)n_ctx * n_kv;
    size_t row = (size_t)IG_MAX(IG_MAX(hp->n_embd, hp->n_ff), (int32_t)n_q);
    bool ok = c->pool != NULL;
    c->k_cache = alloc_f(cache, &ok);
    c->v_cache = alloc_f(cache, &ok);
    c->cell_seq = malloc((size_t)n_ctx * sizeof(int32_t));
    c->cell_pos = malloc((size_t)n_ctx * sizeof(int32_t));
    c->x = alloc_f(nb * (size_t)hp->n_embd, &ok);
    c->xb = alloc_f(nb * (size_t)hp->n_embd, &ok);
    c->xb2 = alloc_f(nb * (size_t)hp->n_embd, &ok);
    c->q = alloc_f(nb * n_q, &ok);
    c->k = alloc_f(nb * n_kv, &ok);
    c->v = alloc_f(nb * n_kv, &ok);
    c->att = alloc_f(nb * n_q, &ok);
    c->hb = alloc_f(nb * (size_t)hp->n_ff, &ok);
    c->hb2 = alloc_f(nb * (size_t)hp->n_ff, &ok);
    c->tok_cell = malloc(nb * sizeof(int32_t));
    c->tok_seq = malloc(nb * sizeof(int32_t));
    c->tok_pos = malloc(nb * sizeof(int32_t));
    c->out_idx = malloc(nb * sizeof(int32_t));
    c->mm_scratch = c->pool ? calloc(1, c->ops->matmul_scratch(c->n_batch, (int64_t)row, ig_pool_n_threads(c->pool))) : NULL;
    if (!c->mm_scratch) ok = false;
    /* attention scores: per thread, n_ctx for each query head of a KV group */
    size_t group = (size_t)(hp->n_head / hp->n_head_kv);
    c->att_scratch = c->pool ? alloc_f((size_t)ig_pool_n_threads(c->pool) * (size_t)n_ctx * group, &ok) : NULL;
    c->logits_cap = IG_MIN(c->n_seq_max, c->n_batch);
    c->logits = alloc_f((size_t)c->logits_cap * (size_t)hp->n_vocab, &ok);
    if (!ok || !c->cell_seq || !c->cell_pos || !c->tok_cell || !c->tok_seq || !c->tok_pos || !c->out_idx) {
        double mib = (double)(2 * cache * sizeof(float)) / (1024.0 * 1024.0);
        ERR("out of memory allocating a context of %d tokens (KV cache %.1f MiB); try a smaller --ctx", n_ctx, mib);
        ig_ctx_free(c);
        return IG_ERR_NOMEM;
    }
    for (int32_t i = 0; i < n_ctx; i++) c->cell_seq[i] = -1, c->cell_pos[i] = -1;
    *out = c;
    return IG_OK;
}

void ig_ctx_free(struct ig_ctx *c) {
    if (!c) return;
    ig_pool_free(c->pool);
    free(c->k_cache), free(c->v_cache), free(c->cell_seq), free(c->cell_pos);
    free(c->x), free(c->xb), free(c->xb2), free(c->q), free(c->k), free(c->v), free(c->att);
    free(c->hb), free(c->hb2), free(c->tok_cell), free(c->tok_seq), free(c->tok_pos), free(c->out_idx);
    free(c->mm_scratch), free(c->att_scratch), free(c->logits);
    free(c);
}

int32_t ig_ctx_n_ctx(const struct ig_ctx *c) { return c->n_ctx; }
const char *ig_ctx_backend(const struct ig_ctx *c) { return c->ops->name; }
int32_t ig_ctx_n_threads(const struct ig_ctx *c) { return ig_pool_n_threads(c->pool); }
int32_t ig_ctx_n_used(const struct ig_ctx *c) { return c->n_used; }

void ig_seq_drop(struct ig_ctx *c, int32_t seq, int32_t from_pos) {
    for (int32_t i = 0; i < c->n_ctx; i++) {
        if (c->cell_seq[i] < 0 || (seq >= 0 && c->cell_seq[i] != seq) || c->cell_pos[i] < from_pos) continue;
        c->cell_seq[i] = -1;
        c->cell_pos[i] = -1;
        c->n_used--;
    }
}

int32_t ig_seq_pos_max(const struct ig_ctx *c, int32_t seq) {
    int32_t mx = -1;
    for (int32_t i = 0; i < c->n_ctx; i++)
        if (c->cell_seq[i] == seq && c->cell_pos[i] > mx) mx = c->cell_pos[i];
    return mx;
}

/* Give each batch token a cell: its existing (seq, pos) cell or a free one. */
static enum ig_status place(struct ig_ctx *c, const struct ig_batch *b) {
    int32_t cursor = 0, n_new = 0;
    for (int32_t t = 0; t < b->n; t++) {
        int32_t cell = -1;
        for (int32_t i = 0; i < c->n_ctx; i++) {
            if (c->cell_seq[i] == b->seq[t] && c->cell_pos[i] == b->pos[t]) {
                cell = i;
                break;
            }
        }
        if (cell < 0) {
            while (cursor < c->n_ctx && c->cell_seq[cursor] >= 0) cursor++;
            if (cursor == c->n_ctx) {
                /* roll back the cells this batch took */
                for (int32_t u = 0; u < t; u++) {
                    if (c->tok_cell[u] < 0) continue;
                    c->cell_seq[c->tok_cell[u]] = -1;
                    c->cell_pos[c->tok_cell[u]] = -1;
                }
                c->n_used -= n_new;
                return IG_ERR_CTX_FULL;
            }
            cell = cursor;
            c->cell_seq[cell] = b->seq[t];
            c->cell_pos[cell] = b->pos[t];
            c->n_used++;
            n_new++;
            c->tok_cell[t] = cell; /* new: undone on rollback */
        } else {
            c->tok_cell[t] = -1 - cell; /* existing: kept on rollback */
        }
    }
    for (int32_t t = 0; t < b->n; t++)
        if (c->tok_cell[t] < 0) c->tok_cell[t] = -1 - c->tok_cell[t];
    return IG_OK;
}

enum ig_status ig_decode(struct ig_ctx *c, const struct ig_batch *b) {
    if (!c || !b || b->n < 1 || b->n > c->n_batch || !b->token || !b->pos || !b->seq) return IG_ERR_ARG;
    int32_t n_out = 0;
    for (int32_t t = 0; t < b->n; t++) {
        if (b->token[t] < 0 || b->token[t] >= c->m->hp.n_vocab) return IG_ERR_ARG;
        if (b->seq[t] < 0 || b->seq[t] >= c->n_seq_max) return IG_ERR_ARG;
        if (b->pos[t] < 0) return IG_ERR_ARG;
        for (int32_t u = 0; u < t; u++)
            if (b->seq[u] == b->seq[t] && b->pos[u] == b->pos[t]) return IG_ERR_ARG;
        if (b->logits ? b->logits[t] != 0 : t == b->n - 1) n_out++;
    }
    if (n_out > c->logits_cap) {
        size_t nv = (size_t)c->m->hp.n_vocab;
        float *l = realloc(c->logits, (size_t)n_out * nv * sizeof(float));
        if (!l) return IG_ERR_NOMEM;
        c->logits = l;
        c->logits_cap = n_out;
    }
    enum ig_status st = place(c, b);
    if (st != IG_OK) return st;
    /* batch rows that produce logits, in batch order */
    n_out = 0;
    for (int32_t t = 0; t < b->n; t++)
        if (b->logits ? b->logits[t] != 0 : t == b->n - 1) c->out_idx[n_out++] = t;
    ig_forward(c, b, c->out_idx, n_out);
    c->n_logits = n_out;
    return IG_OK;
}

const float *ig_logits(struct ig_ctx *c, int32_t i) {
    if (!c || i < 0 || i >= c->n_logits) return NULL;
    return c->logits + (size_t)i * (size_t)c->m->hp.n_vocab;
}
