/* ops_ref.c - the scalar CPU reference backend ("cpu-ref"): plain C, F32
 * accumulation, rows of quantized weights dequantized one at a time and reused
 * across every token of the batch. Also the host-memory plumbing both CPU
 * backends share. Work is split over the backend's thread pool. */
#include "backend/backend.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------- shared CPU parts */

struct ig_backend *ig_cpu_create(const struct ig_backend_ops *ops, struct ig_model *m, int n_threads, char *err,
                                 size_t err_len) {
    struct ig_cpu_backend *b = calloc(1, sizeof *b);
    if (!b || !(b->pool = ig_pool_create(n_threads))) {
        free(b);
        ig_err(err, err_len, "cannot start %d threads", n_threads);
        return NULL;
    }
    b->base.ops = ops;
    /* the CPU reads the weights in place from the mapping */
    b->w.tok_embd = m->tok_embd;
    b->w.output = m->output;
    b->w.output_norm = m->output_norm;
    b->w.layers = m->layers;
    b->w.rope_inv_freq = m->rope_inv_freq;
    return &b->base;
}

static struct ig_cpu_backend *cpu(struct ig_backend *b) { return (struct ig_cpu_backend *)b; }
static struct ig_backend *create(struct ig_model *m, int n_threads, char *err, size_t err_len) {
    return ig_cpu_create(&ig_cpu_ref_ops, m, n_threads, err, err_len);
}
static void destroy(struct ig_backend *b) {
    if (!b) return;
    ig_pool_free(cpu(b)->pool);
    free(b);
}
static const struct ig_weights *weights(struct ig_backend *b) { return &cpu(b)->w; }
static int n_threads(struct ig_backend *b) { return ig_pool_n_threads(cpu(b)->pool); }
static void *alloc(struct ig_backend *b, size_t n) { return calloc(1, n ? n : 1); }
static void bfree(struct ig_backend *b, void *p) { free(p); }
static void copy(struct ig_backend *b, void *dst, const void *src, size_t n) { memcpy(dst, src, n); }

static size_t attn_scratch(struct ig_backend *b, int32_t n_tok, int32_t n_ctx, int32_t group) {
    return (size_t)n_threads(b) * (size_t)n_ctx * (size_t)group * sizeof(float);
}

static void embed(struct ig_backend *b, const struct ig_weight *E, const struct ig_step *s, float *out) {
    for (int32_t t = 0; t < s->n_tok; t++) ig_weight_row(E, s->token[t], out + (size_t)t * (size_t)E->n_in);
}

static void rmsnorm(struct ig_backend *b, float *out, const float *x, const int32_t *idx, const float *w,
                    int32_t n_rows, int32_t n, float eps) {
    for (int32_t r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)(idx ? idx[r] : r) * (size_t)n;
        float *o = out + (size_t)r * (size_t)n;
        float ss = 0;
        for (int32_t i = 0; i < n; i++) ss += xr[i] * xr[i];
        float scale = 1.0f / sqrtf(ss / (float)n + eps);
        for (int32_t i = 0; i < n; i++) o[i] = xr[i] * scale * w[i];
    }
}

static void add_bias(struct ig_backend *b, float *x, const float *bias, int32_t n_tok, int32_t n) {
    for (int32_t t = 0; t < n_tok; t++)
        for (int32_t i = 0; i < n; i++) x[(size_t)t * (size_t)n + (size_t)i] += bias[i];
}

static void rope_one(float *x, int32_t n_heads, int32_t head_dim, int32_t n_rot, int32_t pos, const double *inv_freq,
                     bool neox) {
    for (int32_t i = 0; i < n_rot / 2; i++) {
        double th = (double)pos * inv_freq[i];
        float c = (float)cos(th), s = (float)sin(th);
        /* normal layout rotates pairs (2i, 2i+1); NeoX rotates (i, i + n_rot/2) */
        int32_t a = neox ? i : 2 * i, bb = neox ? i + n_rot / 2 : 2 * i + 1;
        for (int32_t h = 0; h < n_heads; h++) {
            float *v = x + (size_t)h * (size_t)head_dim;
            float x0 = v[a], x1 = v[bb];
            v[a] = x0 * c - x1 * s;
            v[bb] = x0 * s + x1 * c;
        }
    }
}

static void rope(struct ig_backend *b, float *q, float *k, const struct ig_step *s, int32_t n_head,
                 int32_t n_head_kv, int32_t head_dim, int32_t n_rot, const double *inv_freq, bool neox) {
    for (int32_t t = 0; t < s->n_tok; t++) {
        rope_one(q + (size_t)t * (size_t)(n_head * head_dim), n_head, head_dim, n_rot, s->pos[t], inv_freq, neox);
        rope_one(k + (size_t)t * (size_t)(n_head_kv * head_dim), n_head_kv, head_dim, n_rot, s->pos[t], inv_freq,
                 neox);
    }
}

static void kv_store(struct ig_backend *b, float *kc, float *vc, const float *k, const float *v,
                     const struct ig_step *s, int32_t kv_dim) {
    for (int32_t t = 0; t < s->n_tok; t++) {
        memcpy(kc + (size_t)s->cell[t] * (size_t)kv_dim, k + (size_t)t * (size_t)kv_dim, (size_t)kv_dim * sizeof(float));
        memcpy(vc + (size_t)s->cell[t] * (size_t)kv_dim, v + (size_t)t * (size_t)kv_dim, (size_t)kv_dim * sizeof(float));
    }
}

static void add(struct ig_backend *b, float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

static void swiglu(struct ig_backend *b, float *g, const float *u, size_t n) {
    for (size_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* ------------------------------------------------------- reference matmul */

struct matmul_job {
    const struct ig_weight *W;
    const float *x;
    float *out;
    int32_t n_tok;
    float *scratch;
};

static size_t matmul_scratch(struct ig_backend *b, int32_t n_tok, int64_t n_in) {
    return (size_t)n_threads(b) * (size_t)n_in * sizeof(float);
}

static void matmul_worker(void *arg, int ith, int nth) {
    const struct matmul_job *j = arg;
    const struct ig_weight *W = j->W;
    int64_t per = (W->n_out + nth - 1) / nth;
    int64_t r0 = per * ith, r1 = IG_MIN(W->n_out, r0 + per);
    float *row = j->scratch + (size_t)ith * (size_t)W->n_in;
    for (int64_t r = r0; r < r1; r++) {
        const float *w;
        if (W->type == IG_DTYPE_F32) {
            w = (const float *)((const uint8_t *)W->data + (size_t)r * W->row_bytes);
        } else {
            ig_weight_row(W, r, row);
            w = row;
        }
        for (int32_t t = 0; t < j->n_tok; t++) {
            const float *x = j->x + (size_t)t * (size_t)W->n_in;
            float s = 0;
            for (int64_t i = 0; i < W->n_in; i++) s += w[i] * x[i];
            j->out[(size_t)t * (size_t)W->n_out + (size_t)r] = s;
        }
    }
}

static void matmul(struct ig_backend *b, const struct ig_weight *W, const float *x, float *out, int32_t n_tok,
                   void *scratch) {
    struct matmul_job j = {W, x, out, n_tok, scratch};
    ig_pool_run(cpu(b)->pool, matmul_worker, &j);
}

static void matmul_n(struct ig_backend *b, const struct ig_weight *const *W, float *const *out, int n_w,
                     const float *x, int32_t n_tok, void *scratch) {
    for (int i = 0; i < n_w; i++) matmul(b, W[i], x, out[i], n_tok, scratch);
}

/* ---------------------------------------------------- reference attention */

static void attention_worker(void *arg, int ith, int nth) {
    const struct ig_attn_args *a = arg;
    const struct ig_step *s = a->step;
    int32_t hd = a->head_dim, kv_dim = a->n_head_kv * hd, group = a->n_head / a->n_head_kv;
    float scale = 1.0f / sqrtf((float)hd);
    float *sc = a->scratch + (size_t)ith * (size_t)s->n_ctx * (size_t)group;
    for (int32_t job = ith; job < s->n_tok * a->n_head; job += nth) {
        int32_t t = job / a->n_head, h = job % a->n_head, kvh = h / group;
        const float *q = a->q + (size_t)t * (size_t)(a->n_head * hd) + (size_t)h * (size_t)hd;
        float *out = a->out + (size_t)t * (size_t)(a->n_head * hd) + (size_t)h * (size_t)hd;
        int32_t seq = s->seq[t], pos = s->pos[t];
        float mx = -INFINITY;
        for (int32_t c = 0; c < s->n_ctx; c++) {
            if (s->cell_seq[c] != seq || s->cell_pos[c] > pos) continue;
            const float *k = a->k_cache + (size_t)c * (size_t)kv_dim + (size_t)kvh * (size_t)hd;
            float d = 0;
            for (int32_t i = 0; i < hd; i++) d += q[i] * k[i];
            sc[c] = d * scale;
            if (sc[c] > mx) mx = sc[c];
        }
        float sum = 0;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int32_t c = 0; c < s->n_ctx; c++) {
            if (s->cell_seq[c] != seq || s->cell_pos[c] > pos) continue;
            float p = expf(sc[c] - mx);
            sum += p;
            const float *v = a->v_cache + (size_t)c * (size_t)kv_dim + (size_t)kvh * (size_t)hd;
            for (int32_t i = 0; i < hd; i++) out[i] += p * v[i];
        }
        float inv = sum > 0 ? 1.0f / sum : 0.0f;
        for (int32_t i = 0; i < hd; i++) out[i] *= inv;
    }
}

static void attention(struct ig_backend *b, const struct ig_attn_args *a) {
    ig_pool_run(cpu(b)->pool, attention_worker, (void *)a);
}

static double bandwidth(struct ig_backend *b, size_t bytes) {
    return ig_pool_read_bandwidth(cpu(b)->pool, bytes ? bytes : (size_t)256 << 20);
}

/* the greedy pick, at once (the ops before it are done) */
static void pick_feed(struct ig_backend *b, int32_t *dst, const int32_t *src, size_t n, const float *logits,
                      int32_t n_logits, int32_t *pick, int32_t *host, void *scratch) {
    int32_t best = 0;
    for (int32_t i = 1; i < n_logits; i++)
        if (logits[i] > logits[best]) best = i;
    memcpy(dst, src, n * sizeof *dst);
    dst[0] = *pick = *host = best;
}
static void pick_wait(struct ig_backend *b) {}

const struct ig_backend_ops ig_cpu_ref_ops = {
    .name = "cpu-ref",
    .create = create,
    .destroy = destroy,
    .weights = weights,
    .n_threads = n_threads,
    .alloc = alloc,
    .free = bfree,
    .upload = copy,
    .download = copy,
    .host_alloc = alloc,
    .host_free = bfree,
    .matmul_scratch = matmul_scratch,
    .attn_scratch = attn_scratch,
    .embed = embed,
    .rmsnorm = rmsnorm,
    .matmul = matmul,
    .matmul_n = matmul_n,
    .add_bias = add_bias,
    .rope = rope,
    .kv_store = kv_store,
    .attention = attention,
    .add = add,
    .swiglu = swiglu,
    .bandwidth = bandwidth,
    .pick_feed = pick_feed,
    .pick_wait = pick_wait,
};
