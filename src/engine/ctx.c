/* ctx.c - context creation, KV-cell bookkeeping and ig_decode's argument
 * checks. Cells are allocated for a whole batch before any compute, so a
 * batch that does not fit changes nothing. */
#include "engine/ctx.h"
#include "engine/sampler.h"

#include <string.h>

#define ERR(...) (ig_err(err, err_len, __VA_ARGS__))

struct ig_ctx_params ig_ctx_default_params(void) {
    struct ig_ctx_params p = {.n_ctx = 0, .n_seq_max = 1, .n_batch = 512, .n_threads = 0};
    return p;
}

/* Pick and start the backend: explicit, or auto (CUDA when usable, else the
 * CPU, saying why in the log). */
static struct ig_backend *start_backend(struct ig_model *m, int n_threads, char *err, size_t err_len) {
    const struct ig_backend_ops *cuda = ig_cuda_ops();
    struct ig_backend *b;
    char why[256] = "";
    switch (m->backend) {
    case IG_BACKEND_CPU_REF:
        return ig_cpu_ref_ops.create(m, n_threads, err, err_len);
    case IG_BACKEND_CPU:
        return ig_cpu_ops()->create(m, n_threads, err, err_len);
    case IG_BACKEND_CUDA:
        if (!cuda) {
            ERR("this ingot was built without CUDA (cmake -DINGOT_CUDA=ON)");
            return NULL;
        }
        if ((b = cuda->create(m, n_threads, why, sizeof why))) return b;
        ERR("cannot use CUDA: %s", why);
        return NULL;
    case IG_BACKEND_AUTO:
        if (cuda) {
            if ((b = cuda->create(m, n_threads, why, sizeof why))) return b;
            ig_log(IG_LOG_WARN, "CUDA not used: %s; running on the CPU", why);
        }
        return ig_cpu_ops()->create(m, n_threads, err, err_len);
    }
    ERR("unknown backend %d", (int)m->backend);
    return NULL;
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
    c->n_ctx = n_ctx;
    c->n_seq_max = p->n_seq_max;
    c->n_batch = p->n_batch;
    int nt = p->n_threads > 0 ? p->n_threads : m->n_threads;
    c->be = start_backend(m, nt, err, err_len);
    if (!c->be) {
        free(c);
        return m->backend == IG_BACKEND_CUDA ? IG_ERR_DEVICE : IG_ERR_NOMEM;
    }
    struct ig_backend *b = c->be;
    const struct ig_backend_ops *ops = b->ops;
    c->w = ops->weights(b);
    size_t nb = (size_t)c->n_batch, n_q = (size_t)hp->n_head * (size_t)hp->head_dim;
    size_t n_kv = (size_t)hp->n_head_kv * (size_t)hp->head_dim, fs = sizeof(float), is = sizeof(int32_t);
    size_t cache = (size_t)hp->n_layer * (size_t)n_ctx * n_kv * fs;
    int64_t row = IG_MAX(IG_MAX(hp->n_embd, hp->n_ff), (int32_t)n_q);
    bool ok = true;
#define BA(ptr, bytes) (ok = ok && ((ptr) = ops->alloc(b, bytes)) != NULL)
    BA(c->k_cache, cache);
    BA(c->v_cache, cache);
    BA(c->x, nb * (size_t)hp->n_embd * fs);
    BA(c->xb, nb * (size_t)hp->n_embd * fs);
    BA(c->xb2, nb * (size_t)hp->n_embd * fs);
    BA(c->q, nb * n_q * fs);
    BA(c->k, nb * n_kv * fs);
    BA(c->v, nb * n_kv * fs);
    BA(c->att, nb * n_q * fs);
    BA(c->hb, nb * (size_t)hp->n_ff * fs);
    BA(c->hb2, nb * (size_t)hp->n_ff * fs);
    BA(c->mm_scratch, ops->matmul_scratch(b, c->n_batch, row));
    BA(c->att_scratch, ops->attn_scratch(b, c->n_batch, n_ctx, hp->n_head / hp->n_head_kv));
    size_t meta = (7 * nb + 3 * (size_t)n_ctx + 1) * is;
    BA(c->d_meta, meta);
    ok = ok && (c->h_meta = ops->host_alloc(b, meta)) != NULL;
    c->logits_cap = IG_MIN(c->n_seq_max, c->n_batch);
    BA(c->d_logits, (size_t)c->logits_cap * (size_t)hp->n_vocab * fs);
#undef BA
    ok = ok && (c->logits = ops->host_alloc(b, (size_t)c->logits_cap * (size_t)hp->n_vocab * fs)) != NULL;
    c->cell_seq = malloc((size_t)n_ctx * is);
    c->cell_pos = malloc((size_t)n_ctx * is);
    c->tok_cell = malloc(nb * is);
    c->tok_hash = malloc(4 * nb * is); /* hash_batch's table: < 4 n slots */
    c->out_idx = malloc(nb * is);
    c->seq_slot = malloc((size_t)c->n_seq_max * is);
    c->seq_cnt = malloc((nb + 1) * is);
    if (c->seq_slot)
        for (int32_t i = 0; i < c->n_seq_max; i++) c->seq_slot[i] = -1;
    if (!ok || !c->logits || !c->cell_seq || !c->cell_pos || !c->tok_cell || !c->out_idx || !c->seq_slot ||
        !c->seq_cnt || !c->tok_hash) {
        double mib = (double)(2 * cache) / (1024.0 * 1024.0);
        ERR("out of %s memory allocating a context of %d tokens (KV cache %.1f MiB); try a smaller --ctx",
            ops->name, n_ctx, mib);
        ig_ctx_free(c);
        return IG_ERR_NOMEM;
    }
    for (int32_t i = 0; i < n_ctx; i++) c->cell_seq[i] = -1, c->cell_pos[i] = -1;
    *out = c;
    return IG_OK;
}

void ig_ctx_free(struct ig_ctx *c) {
    if (!c) return;
    struct ig_backend *b = c->be;
    if (b) {
        void *bufs[] = {c->k_cache, c->v_cache, c->x, c->xb, c->xb2, c->q, c->k, c->v, c->att, c->hb, c->hb2,
                        c->mm_scratch, c->att_scratch, c->d_meta, c->d_logits};
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i]) b->ops->free(b, bufs[i]);
        if (c->h_meta) b->ops->host_free(b, c->h_meta);
        if (c->logits) b->ops->host_free(b, c->logits);
        if (c->d_topk) b->ops->free(b, c->d_topk);
        if (c->topk_scratch) b->ops->free(b, c->topk_scratch);
        if (c->h_topk) b->ops->host_free(b, c->h_topk);
        if (c->d_pick) b->ops->free(b, c->d_pick);
        if (c->pick_scratch) b->ops->free(b, c->pick_scratch);
        if (c->h_pick) b->ops->host_free(b, c->h_pick);
        b->ops->destroy(b);
    }
    free(c->cell_seq), free(c->cell_pos), free(c->tok_cell), free(c->out_idx), free(c->seq_slot), free(c->seq_cnt);
    free(c->tok_hash);
    free(c);
}

int32_t ig_ctx_n_ctx(const struct ig_ctx *c) { return c->n_ctx; }
const char *ig_ctx_backend(const struct ig_ctx *c) { return c->be->ops->name; }
int32_t ig_ctx_n_threads(const struct ig_ctx *c) { return c->be->ops->n_threads(c->be); }
double ig_ctx_measure_bandwidth(struct ig_ctx *c, size_t bytes) {
    return c->be->ops->bandwidth ? c->be->ops->bandwidth(c->be, bytes) : 0;
}
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

int32_t ig_cell_lists(const int32_t *cell_seq, int32_t n_cells, const int32_t *seq, int32_t n_tok, int32_t *slot,
                      int32_t *cnt, int32_t *list, int32_t *tok_list, int32_t *n_seq) {
    int32_t n_slot = 0;
    for (int32_t t = 0; t < n_tok; t++)
        if (slot[seq[t]] < 0) cnt[n_slot] = 0, slot[seq[t]] = n_slot++;
    for (int32_t i = 0; i < n_cells; i++)
        if (cell_seq[i] >= 0 && slot[cell_seq[i]] >= 0) cnt[slot[cell_seq[i]]]++;
    int32_t off = 0; /* counts -> offsets where each list starts */
    for (int32_t k = 0; k < n_slot; k++) {
        int32_t n = cnt[k];
        cnt[k] = off;
        off += n;
    }
    cnt[n_slot] = off;
    for (int32_t t = 0; t < n_tok; t++) { /* before the fill moves the offsets */
        int32_t k = slot[seq[t]];
        tok_list[2 * t] = cnt[k];
        tok_list[2 * t + 1] = cnt[k + 1] - cnt[k];
    }
    for (int32_t i = 0; i < n_cells; i++)
        if (cell_seq[i] >= 0 && slot[cell_seq[i]] >= 0) list[cnt[slot[cell_seq[i]]]++] = i;
    for (int32_t t = 0; t < n_tok; t++) slot[seq[t]] = -1;
    *n_seq = n_slot;
    return off;
}

static uint32_t tok_slot(int32_t seq, int32_t pos, int32_t cap) {
    return ((uint32_t)seq * 0x9E3779B1u ^ (uint32_t)pos * 0x85EBCA77u) & (uint32_t)(cap - 1);
}

/* The batch's tokens into tok_hash by (seq, pos), in a table of the smallest
 * power of two >= 2 n slots (so clearing it costs the batch, not n_batch);
 * false if two are the same. */
static bool hash_batch(struct ig_ctx *c, const struct ig_batch *b) {
    for (c->hash_n = 2; c->hash_n < 2 * b->n; c->hash_n *= 2) {}
    for (int32_t i = 0; i < c->hash_n; i++) c->tok_hash[i] = -1;
    for (int32_t t = 0; t < b->n; t++) {
        uint32_t h = tok_slot(b->seq[t], b->pos[t], c->hash_n);
        for (int32_t u; (u = c->tok_hash[h]) >= 0; h = (h + 1) & (uint32_t)(c->hash_n - 1))
            if (b->seq[u] == b->seq[t] && b->pos[u] == b->pos[t]) return false;
        c->tok_hash[h] = t;
    }
    return true;
}

/* Give each batch token a cell: its existing (seq, pos) cell (one pass over
 * the cells, looking each up in tok_hash) or a free one. A batch that needs
 * more free cells than there are changes nothing. */
static enum ig_status place(struct ig_ctx *c, const struct ig_batch *b) {
    for (int32_t t = 0; t < b->n; t++) c->tok_cell[t] = -1;
    int32_t n_new = b->n;
    for (int32_t i = 0; i < c->n_ctx; i++) {
        if (c->cell_seq[i] < 0) continue;
        uint32_t h = tok_slot(c->cell_seq[i], c->cell_pos[i], c->hash_n);
        for (int32_t u; (u = c->tok_hash[h]) >= 0; h = (h + 1) & (uint32_t)(c->hash_n - 1))
            if (b->seq[u] == c->cell_seq[i] && b->pos[u] == c->cell_pos[i]) {
                c->tok_cell[u] = i;
                n_new--;
                break;
            }
    }
    if (n_new > c->n_ctx - c->n_used) return IG_ERR_CTX_FULL;
    for (int32_t t = 0, cursor = 0; t < b->n; t++) {
        if (c->tok_cell[t] >= 0) continue;
        while (cursor < c->n_ctx && c->cell_seq[cursor] >= 0) cursor++;
        IG_ASSERT(cursor < c->n_ctx); /* n_used counts the cells in use */
        c->cell_seq[cursor] = b->seq[t];
        c->cell_pos[cursor] = b->pos[t];
        c->tok_cell[t] = cursor;
    }
    c->n_used += n_new;
    return IG_OK;
}

enum ig_status ig_decode(struct ig_ctx *c, const struct ig_batch *b) { return ig_decode_step(c, b, -1); }

enum ig_status ig_decode_step(struct ig_ctx *c, const struct ig_batch *b, int32_t feed_row) {
    if (!c || !b || b->n < 1 || b->n > c->n_batch || !b->token || !b->pos || !b->seq) return IG_ERR_ARG;
    if (feed_row >= 0 && (b->n != 1 || feed_row >= c->n_logits || !c->d_pick || !c->be->ops->pick_feed))
        return IG_ERR_ARG;
    int32_t n_out = 0;
    for (int32_t t = 0; t < b->n; t++) {
        if (b->token[t] < 0 || b->token[t] >= c->m->hp.n_vocab) return IG_ERR_ARG;
        if (b->seq[t] < 0 || b->seq[t] >= c->n_seq_max) return IG_ERR_ARG;
        if (b->pos[t] < 0) return IG_ERR_ARG;
        if (b->logits ? b->logits[t] != 0 : t == b->n - 1) n_out++;
    }
    if (!hash_batch(c, b)) return IG_ERR_ARG; /* the same (seq, pos) twice */
    struct ig_backend *be = c->be;
    const struct ig_backend_ops *ops = be->ops;
    size_t nv = (size_t)c->m->hp.n_vocab;
    if (n_out > c->logits_cap) { /* grows only when a batch asks for more rows than ever before */
        float *l = ops->host_alloc(be, (size_t)n_out * nv * sizeof(float));
        float *dl = l ? ops->alloc(be, (size_t)n_out * nv * sizeof(float)) : NULL;
        if (!dl) {
            if (l) ops->host_free(be, l);
            return IG_ERR_NOMEM;
        }
        ops->host_free(be, c->logits);
        ops->free(be, c->d_logits);
        c->logits = l;
        c->d_logits = dl;
        c->logits_cap = n_out;
    }
    enum ig_status st = place(c, b);
    if (st != IG_OK) return st;
    n_out = 0;
    for (int32_t t = 0; t < b->n; t++)
        if (b->logits ? b->logits[t] != 0 : t == b->n - 1) c->out_idx[n_out++] = t;
    /* all step metadata in one block, one transfer (each is a driver call on a GPU) */
    size_t nb = (size_t)c->n_batch, nt = (size_t)b->n * sizeof(int32_t);
    int32_t *h = c->h_meta, *d = c->d_meta;
    if (ops->upload_wait) ops->upload_wait(be); /* the last step's upload has read h */
    memcpy(h, b->token, nt);
    memcpy(h + nb, b->pos, nt);
    memcpy(h + 2 * nb, b->seq, nt);
    memcpy(h + 3 * nb, c->tok_cell, nt);
    memcpy(h + 4 * nb, c->out_idx, (size_t)n_out * sizeof(int32_t));
    int32_t used = c->n_ctx; /* cells past the last one in use need no look */
    while (used > 0 && c->cell_seq[used - 1] < 0) used--;
    const size_t o_used = 7 * nb, o_cseq = o_used + 1, o_cpos = o_cseq + (size_t)c->n_ctx;
    const size_t o_list = o_cpos + (size_t)c->n_ctx;
    h[o_used] = used;
    memcpy(h + o_cseq, c->cell_seq, (size_t)c->n_ctx * sizeof(int32_t));
    memcpy(h + o_cpos, c->cell_pos, (size_t)c->n_ctx * sizeof(int32_t));
    int32_t n_seqs = 0;
    int32_t n_list =
        ig_cell_lists(c->cell_seq, used, b->seq, b->n, c->seq_slot, c->seq_cnt, h + o_list, h + 5 * nb, &n_seqs);
    if (feed_row >= 0) /* (one token: the logits rows were not moved) */
        ops->pick_feed(be, d, h, o_list + (size_t)n_list, c->d_logits + (size_t)feed_row * nv, (int32_t)nv,
                       c->d_pick, c->h_pick, c->pick_scratch);
    else ops->upload(be, d, h, (o_list + (size_t)n_list) * sizeof(int32_t));
    int32_t runs = 1;
    for (int32_t t = 1; t < b->n; t++) runs += b->seq[t] != b->seq[t - 1];
    struct ig_step s = {d, d + nb, d + 2 * nb, d + 3 * nb, d + 4 * nb, d + o_cseq, d + o_cpos, d + o_used, b->n,
                        n_out, c->n_ctx, runs, d + 5 * nb, d + o_list, n_seqs == b->n, used};
    /* decode steps (each token the next of its own sequence, every row of
     * logits wanted) of the same size all launch the same work: backends that
     * can record a step replay it instead; key = the number of sequences.
     * (Not runs == n: [A, B, A] has that, and its launches differ: attention
     * may read earlier cells early only with one token per sequence.) */
    int32_t key = n_out == b->n && s.one_per_seq && b->n <= 64 ? b->n : 0;
    int g = key && ops->graph_begin ? ops->graph_begin(be, key, &s) : -1;
    if (g != 1) ig_forward(c, &s);
    if (g == 0) ops->graph_end(be, key);
    /* the logits stay in backend memory until asked for (ig_logits copies
     * them, ig_sample may copy only the top candidates) */
    c->n_logits = n_out;
    c->logits_host = false;
    c->topk_k = 0;
    return IG_OK;
}

const float *ig_logits(struct ig_ctx *c, int32_t i) {
    if (!c || i < 0 || i >= c->n_logits) return NULL;
    size_t nv = (size_t)c->m->hp.n_vocab;
    if (!c->logits_host) {
        c->be->ops->download(c->be, c->logits, c->d_logits, (size_t)c->n_logits * nv * sizeof(float));
        c->logits_host = true;
    }
    return c->logits + (size_t)i * nv;
}

/* Have the backend pick the k >= need largest logits of every row of the
 * last step into h_topk (once per step, or again for a larger k). */
static bool top_rows(struct ig_ctx *c, int32_t need) {
    if (c->topk_k >= need) return true;
    struct ig_backend *be = c->be;
    const struct ig_backend_ops *ops = be->ops;
    const int32_t nv = c->m->hp.n_vocab, rows = c->n_logits;
    int32_t k = 1;
    while (k < need) k *= 2;
    if (!ops->topk || k > IG_TOPK_MAX || k > nv) return false;
    if (c->topk_cap < rows) { /* sized for the largest k, so a later step never reallocates for k */
        size_t ib = (size_t)rows * IG_TOPK_MAX * 2 * sizeof(int32_t);
        int32_t *d = ops->alloc(be, ib), *h = ops->host_alloc(be, ib);
        void *scr = ops->alloc(be, ops->topk_scratch(be, rows, nv, IG_TOPK_MAX));
        if (!d || !h || !scr) {
            if (d) ops->free(be, d);
            if (h) ops->host_free(be, h);
            if (scr) ops->free(be, scr);
            return false;
        }
        if (c->d_topk) ops->free(be, c->d_topk), ops->host_free(be, c->h_topk), ops->free(be, c->topk_scratch);
        c->d_topk = d, c->h_topk = h, c->topk_scratch = scr, c->topk_cap = rows;
    }
    size_t n = (size_t)rows * (size_t)k;
    if (!ops->topk(be, c->d_logits, rows, nv, k, c->d_topk, (float *)(c->d_topk + n), c->topk_scratch)) return false;
    ops->download(be, c->h_topk, c->d_topk, 2 * n * sizeof(int32_t));
    c->topk_k = k;
    return true;
}

ig_token ig_sample(struct ig_ctx *c, int32_t i, struct ig_sampler *s) {
    if (!c || !s || i < 0 || i >= c->n_logits) return -1;
    int32_t need = ig_sampler_n_cand(s);
    if (need > 0 && top_rows(c, need)) {
        size_t k = (size_t)c->topk_k, n = (size_t)c->n_logits * k;
        return ig_sampler_sample_top(s, c->h_topk + (size_t)i * k, (const float *)(c->h_topk + n) + (size_t)i * k,
                                     (int32_t)k);
    }
    return ig_sampler_sample(s, ig_logits(c, i));
}
