/* cuda_glue.c - the CUDA backend's ops table, on the C side: weights are
 * uploaded once (quantized types stay quantized), every op forwards to a
 * launcher in cuda_kernels.cu. Creation fails cleanly (no GPU, no driver, too
 * little memory) so that `auto` can fall back to the CPU with the reason. */
#include "backend/backend.h"
#include "backend/cuda/cuda_api.h"

#include <string.h>

struct cuda_backend {
    struct ig_backend base;
    struct ig_weights w;
    void **allocs; /* weight buffers to free */
    int n_allocs;
    char name[160];
    int32_t n_head, head_dim;
    bool capturing, no_graphs; /* INGOT_CUDA_GRAPHS=0 turns replay off */
    int slot;                  /* the graph slot of the step being recorded (ig_cuda_step_slot) */
    bool no_topk;              /* INGOT_CUDA_TOPK=0: sampling reads whole rows (for comparison) */
};

static struct cuda_backend *cb(struct ig_backend *b) { return (struct cuda_backend *)b; }

/* The recorded steps (graph slots) are global: they belong to the backend
 * that recorded them, and another backend's step re-records (two contexts
 * used in turn must never replay each other's buffers). */
static const struct cuda_backend *g_graph_owner;

static void *keep(struct cuda_backend *b, void *p) {
    void **a = realloc(b->allocs, (size_t)(b->n_allocs + 1) * sizeof *a);
    if (!a) {
        ig_cuda_free(p);
        return NULL;
    }
    b->allocs = a;
    b->allocs[b->n_allocs++] = p;
    return p;
}

static const void *upload(struct cuda_backend *b, const void *host, size_t n) {
    if (!host) return NULL;
    void *d = ig_cuda_malloc(n);
    if (!d || !keep(b, d)) return NULL;
    ig_cuda_upload(d, host, n);
    return d;
}

/* Q8_0/Q4_0 go to the GPU repacked: all blocks' quants (32 / 16 bytes each,
 * 16-byte aligned, so a lane loads a whole block at once and a warp reads 512
 * contiguous bytes), then all blocks' fp16 scales. Same bytes, new order. */
static void *repack(const struct ig_weight *w) {
    size_t qb = w->type == IG_DTYPE_Q8_0 ? 32 : 16, bs = qb + 2, nb = (size_t)w->n_in / 32, R = (size_t)w->n_out;
    uint8_t *out = malloc(R * nb * bs);
    if (!out) return NULL;
    uint8_t *scales = out + R * nb * qb;
    for (size_t r = 0; r < R; r++) {
        const uint8_t *row = (const uint8_t *)w->data + r * w->row_bytes;
        for (size_t b = 0; b < nb; b++) {
            memcpy(scales + (r * nb + b) * 2, row + b * bs, 2);
            memcpy(out + (r * nb + b) * qb, row + b * bs + 2, qb);
        }
    }
    return out;
}

/* Q6_K goes to the GPU reordered within each row (same bytes, same row
 * size): all super-blocks' low nibbles (128 bytes each), then their high bit
 * pairs (64), then their 16 scales, ordered so that the 4 a GEMV lane needs
 * are adjacent (n, l / 16, m for the scale of weights 128n + 32m + l), then
 * their d: a lane's pieces are 4- or 8-byte aligned (as stored, super-blocks
 * of 210 bytes are only 2-byte aligned). */
static void *repack_q6k(const struct ig_weight *w) {
    size_t R = (size_t)w->n_out, nsb = (size_t)w->n_in / 256, rb = w->row_bytes;
    uint8_t *out = malloc(R * rb);
    if (!out) return NULL;
    for (size_t r = 0; r < R; r++) {
        const uint8_t *row = (const uint8_t *)w->data + r * rb;
        uint8_t *o = out + r * rb;
        for (size_t sb = 0; sb < nsb; sb++) {
            const uint8_t *b = row + sb * 210;
            memcpy(o + 128 * sb, b, 128);
            memcpy(o + 128 * nsb + 64 * sb, b + 128, 64);
            for (int n = 0; n < 2; n++)
                for (int t = 0; t < 2; t++)
                    for (int m = 0; m < 4; m++) o[192 * nsb + 16 * sb + 8 * n + 4 * t + m] = b[192 + 8 * n + t + 2 * m];
            memcpy(o + 208 * nsb + 2 * sb, b + 208, 2);
        }
    }
    return out;
}

/* MLX4/MLX8: codes of all rows, then all scales, then all biases, as F32. */
static void *repack_mlx(const struct ig_weight *w, size_t *n) {
    size_t R = (size_t)w->n_out, ng = (size_t)(w->n_in / w->group), cb = R * w->row_bytes;
    *n = cb + 2 * R * ng * sizeof(float);
    uint8_t *out = malloc(*n);
    if (!out) return NULL;
    float *sc = (float *)(out + cb), *bi = sc + R * ng;
    for (size_t r = 0; r < R; r++) {
        memcpy(out + r * w->row_bytes, (const uint8_t *)w->data + r * w->row_bytes, w->row_bytes);
        const uint8_t *srow = (const uint8_t *)w->scales + r * w->scale_row_bytes;
        const uint8_t *brow = (const uint8_t *)w->biases + r * w->scale_row_bytes;
        for (size_t g = 0; g < ng; g++) {
            sc[r * ng + g] = ig_scalar_to_f32(w->stype, srow, (int64_t)g);
            bi[r * ng + g] = ig_scalar_to_f32(w->stype, brow, (int64_t)g);
        }
    }
    return out;
}

static bool up_weight(struct cuda_backend *b, struct ig_weight *dst, const struct ig_weight *src) {
    *dst = *src;
    if (!src->data) return true;
    size_t n = src->row_bytes * (size_t)src->n_out;
    if (ig_weight_is_mlx(src)) {
        void *r = repack_mlx(src, &n);
        if (!r) return false;
        dst->data = upload(b, r, n);
        ig_cuda_download(NULL, NULL, 0); /* the upload read r: wait before freeing it */
        free(r);
        dst->scales = dst->biases = NULL; /* inside data on the GPU */
    } else if (src->type == IG_DTYPE_Q8_0 || src->type == IG_DTYPE_Q4_0 || src->type == IG_DTYPE_Q6_K) {
        void *r = src->type == IG_DTYPE_Q6_K ? repack_q6k(src) : repack(src);
        if (!r) return false;
        dst->data = upload(b, r, n);
        ig_cuda_download(NULL, NULL, 0); /* the upload read r: wait before freeing it */
        free(r);
    } else {
        dst->data = upload(b, src->data, n);
    }
    return dst->data != NULL;
}

static bool up_vec(struct cuda_backend *b, const float **dst, const float *src, int64_t n) {
    *dst = src ? upload(b, src, (size_t)n * sizeof(float)) : NULL;
    return !src || *dst;
}

static void destroy(struct ig_backend *be) {
    if (!be) return;
    struct cuda_backend *b = cb(be);
    if (g_graph_owner == b) g_graph_owner = NULL;
    ig_cuda_graph_reset(); /* graphs point at this backend's buffers */
    ig_cuda_forget_weights();
    for (int i = 0; i < b->n_allocs; i++) ig_cuda_free(b->allocs[i]);
    free(b->allocs);
    free(b->w.layers);
    free(b);
}

static size_t weight_bytes(const struct ig_model *m) {
    size_t n = 0;
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) n += m->gguf->tensors[i].n_bytes;
    return n;
}

static struct ig_backend *create(struct ig_model *m, int n_threads, char *err, size_t err_len) {
    char gpu[128];
    size_t free_b, total_b;
    if (!ig_cuda_init(gpu, sizeof gpu, &free_b, &total_b, err, err_len)) return NULL;
    size_t need = weight_bytes(m), margin = (size_t)512 << 20;
    if (need + margin > free_b) {
        ig_err(err, err_len, "the model needs %.2f GiB on the GPU but %s has %.2f GiB free", (double)need / (1 << 30),
               gpu, (double)free_b / (1 << 30));
        return NULL;
    }
    struct cuda_backend *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->base.ops = ig_cuda_ops();
    const char *g = getenv("INGOT_CUDA_GRAPHS");
    b->no_graphs = g && !strcmp(g, "0");
    const char *tk = getenv("INGOT_CUDA_TOPK");
    b->no_topk = tk && !strcmp(tk, "0");
    ig_cuda_graph_reset(); /* one backend at a time owns the recorded steps */
    snprintf(b->name, sizeof b->name, "cuda (%s)", gpu);
    const struct ig_hparams *hp = &m->hp;
    b->n_head = hp->n_head;
    b->head_dim = hp->head_dim;
    int64_t n_q = (int64_t)hp->n_head * hp->head_dim, n_kv = (int64_t)hp->n_head_kv * hp->head_dim;
    bool ok = (b->w.layers = calloc((size_t)hp->n_layer, sizeof *b->w.layers)) != NULL;
    ok = ok && up_weight(b, &b->w.tok_embd, &m->tok_embd);
    if (ok && m->tied) b->w.output = b->w.tok_embd;
    else ok = ok && up_weight(b, &b->w.output, &m->output);
    ok = ok && up_vec(b, &b->w.output_norm, m->output_norm, hp->n_embd);
    b->w.rope_inv_freq = upload(b, m->rope_inv_freq, (size_t)(hp->n_rot / 2) * sizeof(double));
    ok = ok && b->w.rope_inv_freq;
    for (int l = 0; ok && l < hp->n_layer; l++) {
        const struct ig_layer *s = &m->layers[l];
        struct ig_layer *d = &b->w.layers[l];
        ok = up_vec(b, &d->attn_norm, s->attn_norm, hp->n_embd) && up_weight(b, &d->wq, &s->wq) &&
             up_weight(b, &d->wk, &s->wk) && up_weight(b, &d->wv, &s->wv) && up_weight(b, &d->wo, &s->wo) &&
             up_vec(b, &d->bq, s->bq, n_q) && up_vec(b, &d->bk, s->bk, n_kv) && up_vec(b, &d->bv, s->bv, n_kv) &&
             up_vec(b, &d->ffn_norm, s->ffn_norm, hp->n_embd) && up_weight(b, &d->w_gate, &s->w_gate) &&
             up_weight(b, &d->w_up, &s->w_up) && up_weight(b, &d->w_down, &s->w_down);
    }
    if (!ok) {
        ig_err(err, err_len, "out of GPU memory uploading the weights to %s", gpu);
        destroy(&b->base);
        return NULL;
    }
    return &b->base;
}

static const struct ig_weights *weights(struct ig_backend *b) { return &cb(b)->w; }
static int n_threads(struct ig_backend *b) { return 1; }
static void *alloc(struct ig_backend *b, size_t n) { return ig_cuda_malloc(n); }
static void bfree(struct ig_backend *b, void *p) { ig_cuda_free(p); }
static void *host_alloc(struct ig_backend *b, size_t n) { return ig_cuda_host_alloc(n); }
static void host_free(struct ig_backend *b, void *p) { ig_cuda_host_free(p); }
static void up(struct ig_backend *b, void *dst, const void *src, size_t n) { ig_cuda_upload(dst, src, n); }
static void down(struct ig_backend *b, void *dst, const void *src, size_t n) { ig_cuda_download(dst, src, n); }
static size_t mm_scratch(struct ig_backend *b, int32_t n_tok, int64_t n_in) {
    return ig_cuda_matmul_scratch(n_tok, n_in);
}
static size_t attn_scratch(struct ig_backend *b, int32_t n_tok, int32_t n_ctx, int32_t group) {
    return ig_cuda_attn_scratch(n_tok, n_ctx, cb(b)->n_head, cb(b)->head_dim);
}

static void embed(struct ig_backend *b, const struct ig_weight *E, const struct ig_step *s, float *out) {
    ig_cuda_embed(E->type, E->data, E->row_bytes, (int)E->n_in, (int)E->n_out, E->group, s->token, s->n_tok, out);
}
static void rmsnorm(struct ig_backend *b, float *out, const float *x, const int32_t *idx, const float *w,
                    int32_t n_rows, int32_t n, float eps) {
    ig_cuda_rmsnorm(out, x, idx, w, n_rows, n, eps);
}
static void matmul(struct ig_backend *b, const struct ig_weight *W, const float *x, float *out, int32_t n_tok,
                   void *scratch) {
    if (W == &cb(b)->w.output) /* (the logits: see ig_cuda_matmul_logits) */
        ig_cuda_matmul_logits(W->type, W->data, W->row_bytes, (int)W->n_in, (int)W->n_out, W->group, x, out, n_tok,
                              scratch);
    else ig_cuda_matmul(W->type, W->data, W->row_bytes, (int)W->n_in, (int)W->n_out, W->group, x, out, n_tok, scratch);
}
/* n_w (1-3) weights of one type and width, as the one-launch kernels take
 * them: their data and row counts; false if they differ */
static bool same_shape(const struct ig_weight *const *W, int n_w, const void **w, int *n_out) {
    if (n_w < 1 || n_w > 3) return false;
    for (int i = 0; i < n_w; i++) {
        if (W[i]->type != W[0]->type || W[i]->n_in != W[0]->n_in) return false;
        w[i] = W[i]->data, n_out[i] = (int)W[i]->n_out;
    }
    return true;
}
static void matmul_n(struct ig_backend *b, const struct ig_weight *const *W, float *const *out, int n_w,
                     const float *x, int32_t n_tok, void *scratch) {
    const void *w[3];
    int n_out[3];
    if (same_shape(W, n_w, w, n_out) &&
        ig_cuda_matmul_n(W[0]->type, w, n_out, out, n_w, (int)W[0]->n_in, x, n_tok, scratch))
        return;
    for (int i = 0; i < n_w; i++) matmul(b, W[i], x, out[i], n_tok, scratch);
}
static bool matmul_glu(struct ig_backend *b, const struct ig_weight *Wg, const struct ig_weight *Wu, const float *x,
                       float *out, int32_t n_tok, void *scratch) {
    if (Wg->type != Wu->type || Wg->n_in != Wu->n_in || Wg->n_out != Wu->n_out) return false;
    return ig_cuda_matmul_glu(Wg->type, Wg->data, Wu->data, (int)Wg->n_out, (int)Wg->n_in, x, out, n_tok, scratch);
}
static void add_rmsnorm(struct ig_backend *b, float *out, float *x, const float *y, const float *w, int32_t n_rows,
                        int32_t n, float eps) {
    ig_cuda_add_rmsnorm(out, x, y, w, n_rows, n, eps);
}
static bool matmul_add_norm(struct ig_backend *b, const struct ig_weight *W, const float *y, float *x, const float *w,
                            float *out, int32_t n_tok, float eps, void *scratch) {
    return ig_cuda_matmul_add_norm(W->type, W->data, (int)W->n_in, (int)W->n_out, y, x, w, out, eps, n_tok, scratch);
}
static void add_bias(struct ig_backend *b, float *x, const float *bias, int32_t n_tok, int32_t n) {
    ig_cuda_add_bias(x, bias, n_tok, n);
}
static void rope_kv_store(struct ig_backend *b, float *q, const float *k, const float *v, float *kc, float *vc,
                          const struct ig_step *s, int32_t n_head, int32_t n_head_kv, int32_t head_dim, int32_t n_rot,
                          const double *inv_freq, bool neox) {
    ig_cuda_rope_store(q, k, v, kc, vc, s->pos, s->cell, s->n_tok, n_head, n_head_kv, head_dim, n_rot, inv_freq, neox);
}
static bool qkv_rope_store(struct ig_backend *b, const struct ig_weight *const *W, const float *const *bias,
                           const float *x, float *q, float *k, float *v, float *kc, float *vc, const struct ig_step *s,
                           int32_t head_dim, int32_t n_rot, const double *inv_freq, bool neox, void *scratch) {
    const void *w[3];
    int n_out[3];
    if (s->n_tok != 1 || !same_shape(W, 3, w, n_out)) return false;
    return ig_cuda_qkv_rope_store(W[0]->type, w, bias, n_out, (int)W[0]->n_in, x, q, k, v, kc, vc, s->pos, s->cell,
                                  head_dim, n_rot, inv_freq, neox, scratch);
}
static void attention(struct ig_backend *b, const struct ig_attn_args *a) {
    const struct ig_step *s = a->step;
    ig_cuda_attention(a->q, a->k_cache, a->v_cache, s->seq, s->pos, s->cell_seq, s->cell_pos, s->n_used, s->tok_list,
                      s->list, a->out, a->scratch, s->n_tok, s->n_ctx, a->n_head, a->n_head_kv, a->head_dim, s->n_runs,
                      s->one_per_seq, s->n_used_cells);
}
static void add(struct ig_backend *b, float *x, const float *y, size_t n) { ig_cuda_add(x, y, n); }
static void swiglu(struct ig_backend *b, float *g, const float *u, size_t n) { ig_cuda_swiglu(g, u, n); }

static size_t topk_scratch(struct ig_backend *b, int32_t n_rows, int32_t n, int32_t k) {
    return ig_cuda_topk_scratch(n_rows, n, k);
}
static bool topk(struct ig_backend *b, const float *logits, int32_t n_rows, int32_t n, int32_t k, int32_t *ids,
                 float *vals, void *scratch) {
    return !cb(b)->no_topk && ig_cuda_topk(logits, n_rows, n, k, ids, vals, scratch);
}

static void pick_feed(struct ig_backend *b, int32_t *dst, const int32_t *src, size_t n, const float *logits,
                      int32_t n_logits, int32_t *pick, int32_t *host, void *scratch) {
    ig_cuda_pick_feed(dst, src, n, logits, n_logits, pick, host, scratch);
}
static void pick_wait(struct ig_backend *b) { ig_cuda_pick_wait(); }
static void upload_wait(struct ig_backend *b) { ig_cuda_upload_wait(); }

/* bytes 0: 1 GiB, halved while the device has no room for two buffers */
static double bandwidth(struct ig_backend *b, size_t bytes) {
    if (bytes) return ig_cuda_copy_bandwidth(bytes);
    double bw = 0;
    for (bytes = (size_t)1 << 30; bw <= 0 && bytes >= ((size_t)64 << 20); bytes /= 2) bw = ig_cuda_copy_bandwidth(bytes);
    return bw;
}

static int graph_begin(struct ig_backend *be, int32_t key, const struct ig_step *s) {
    struct cuda_backend *b = cb(be);
    if (b->no_graphs) return -1;
    if (g_graph_owner != b) {
        ig_cuda_graph_reset();
        g_graph_owner = b;
    }
    b->slot = ig_cuda_step_slot(key, s->n_tok, s->n_used_cells);
    int r = ig_cuda_graph_begin(b->slot);
    b->capturing = r == 0;
    return r;
}

static void graph_end(struct ig_backend *be, int32_t key) {
    struct cuda_backend *b = cb(be);
    if (!b->capturing) return;
    b->capturing = false;
    if (!ig_cuda_capture_end(b->slot)) b->no_graphs = true; /* ran nothing: never happens on capture success */
}

static const struct ig_backend_ops k_cuda_ops = {
    .graph_begin = graph_begin,
    .graph_end = graph_end,
    .name = "cuda",
    .create = create,
    .destroy = destroy,
    .weights = weights,
    .n_threads = n_threads,
    .alloc = alloc,
    .free = bfree,
    .upload = up,
    .download = down,
    .host_alloc = host_alloc,
    .host_free = host_free,
    .matmul_scratch = mm_scratch,
    .attn_scratch = attn_scratch,
    .embed = embed,
    .rmsnorm = rmsnorm,
    .matmul = matmul,
    .matmul_n = matmul_n,
    .add_bias = add_bias,
    .attention = attention,
    .add = add,
    .swiglu = swiglu,
    .add_rmsnorm = add_rmsnorm,
    .matmul_glu = matmul_glu,
    .matmul_add_norm = matmul_add_norm,
    .qkv_rope_store = qkv_rope_store,
    .rope_kv_store = rope_kv_store,
    .topk_scratch = topk_scratch,
    .topk = topk,
    .pick_feed = pick_feed,
    .pick_wait = pick_wait,
    .queues = true,
    .upload_wait = upload_wait,
    .bandwidth = bandwidth,
};

const struct ig_backend_ops *ig_cuda_ops(void) { return &k_cuda_ops; }
