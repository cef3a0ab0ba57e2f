/* ctx.h - a decoding context: a backend instance, the KV cache and scratch
 * buffers in its memory (allocated once, sized for n_batch tokens), the host
 * bookkeeping of KV cells, and the logits of the last step. */
#ifndef IG_CTX_H
#define IG_CTX_H

#include "backend/backend.h"

struct ig_ctx {
    struct ig_model *m;
    struct ig_backend *be;
    const struct ig_weights *w;
    int32_t n_ctx, n_seq_max, n_batch;

    /* host bookkeeping: a cell holds one (seq, pos) in every layer */
    int32_t *cell_seq; /* (n_ctx) -1: free */
    int32_t *cell_pos; /* (n_ctx) */
    int32_t n_used;
    int32_t *tok_cell; /* (n_batch) cell of each batch token */
    int32_t *tok_hash; /* (4 n_batch) the batch's tokens by (seq, pos), open addressing; -1 empty */
    int32_t hash_n;    /* slots of tok_hash the last batch used: a power of two >= 2 n */
    int32_t *out_idx;  /* (n_batch) batch rows that produce logits */
    int32_t *seq_slot; /* (n_seq_max) all -1 between steps (ig_cell_lists) */
    int32_t *seq_cnt;  /* (n_batch + 1) */

    /* backend memory */
    float *k_cache, *v_cache; /* (n_layer, n_ctx, n_head_kv * head_dim) */
    float *x;        /* residual stream (n_batch, n_embd) */
    float *xb, *xb2; /* normed input, projection output (n_batch, n_embd) */
    float *q;        /* (n_batch, n_head * head_dim) */
    float *k, *v;    /* (n_batch, n_head_kv * head_dim) */
    float *att;      /* attention output (n_batch, n_head * head_dim) */
    float *hb, *hb2; /* (n_batch, n_ff) */
    void *mm_scratch, *att_scratch;
    /* step metadata, one block uploaded per step: token, pos, seq, cell,
     * out_idx (n_batch each), tok_list (2 n_batch), n_used, cell_seq,
     * cell_pos, list (n_ctx each) */
    int32_t *d_meta;
    int32_t *h_meta; /* host staging (backend host memory: pinned on CUDA) */
    float *d_logits;                                       /* (logits_cap, n_vocab) */

    float *logits; /* host copy (logits_cap, n_vocab), backend host memory */
    int32_t logits_cap, n_logits;
    bool logits_host; /* logits holds the last step's rows (copied on first ig_logits) */

    /* the k largest logits of each row, picked by the backend (ig_sample):
     * backend buffer d_topk of ids then values, its host copy h_topk */
    int32_t *d_topk, *h_topk;
    void *topk_scratch;
    int32_t topk_cap; /* rows the buffers hold at k = IG_TOPK_MAX */
    int32_t topk_k;   /* k of the rows in h_topk for the last step; 0: none */

    /* pipelined greedy decode (ig_generate, backend pick_feed): the pick in
     * backend memory (id, value), its host copy, the backend's scratch */
    int32_t *d_pick, *h_pick;
    void *pick_scratch;
};

/* The step's cell lists (see struct ig_step): for each distinct sequence of
 * the n_tok tokens (ids < the length of slot), the cells < n_cells it holds
 * in cell_seq, ascending, into list; each token's offset and count into
 * tok_list; the number of distinct sequences into *n_seq. slot must be all -1
 * (it is again on return); cnt holds n_tok + 1. Returns the length of list. */
int32_t ig_cell_lists(const int32_t *cell_seq, int32_t n_cells, const int32_t *seq, int32_t n_tok, int32_t *slot,
                      int32_t *cnt, int32_t *list, int32_t *tok_list, int32_t *n_seq);

/* ig_decode, or with feed_row >= 0 a step of one token that is the greedy
 * pick of row feed_row of the last step's logits, made by the backend
 * (pick_feed: c->d_pick etc. allocated) without the host waiting for it. */
enum ig_status ig_decode_step(struct ig_ctx *c, const struct ig_batch *b, int32_t feed_row);

/* The forward step over a batch already placed in cells (engine/forward.c);
 * leaves n_out rows of logits in c->d_logits. */
void ig_forward(struct ig_ctx *c, const struct ig_step *s);

#endif
