// gemv_int8.cuh - decode GEMV for Q8_0/Q4_0/Q4_K weights against
// activations quantized to int8 on the fly (included by cuda_kernels.cu).
//
// The activations are quantized once per matmul (or by the norm before it):
// blocks of 32 values with one float scale (absmax / 127) and the sum of the
// codes (Q4_0's -8 offset becomes -8 * sum). A lane then takes whole
// 32-weight blocks of R rows and multiplies four bytes at a time with dp4a:
// about one instruction per 4 multiply-adds instead of the ~5 per weight of
// the float kernel, which made decode instruction-bound rather than
// memory-bound. GLU: the R rows are gate/up pairs and the block writes
// silu(gate) * up directly (the SwiGLU of the MLP, one launch fewer).
// Results differ from the float path by the int8 rounding of activations
// (like the CPU SIMD kernels and llama.cpp's q8_1 path): ~1e-2 relative.
#define DQ_WARPS 8

// Activations quantized once per matmul into the matmul scratch, for each
// token xq_token_bytes (Q4_0's -8 offset becomes -8 * the code sum).

static void mmq_reserve(void);

extern "C" size_t ig_cuda_matmul_scratch(int n_tok, long long n_in) {
    // called when a context is made (never during graph capture): also size
    // the one-token buffers that kernels quantize their outputs into (g_nq),
    // each with room for the sums of squares of a deferred norm
    const int nb = (int)((n_in + 31) / 32);
    const size_t one = xq_token_bytes(nb);
    if (one > g_nq_cap) {
        ig_cuda_graph_reset(); // recorded steps may point at the old buffers
        for (int i = 0; i < 2; i++) {
            if (g_nq[i].buf) cudaFree(g_nq[i].buf);
            g_nq[i] = nq_tag{};
        }
        g_nq_cap = 0;
        // (sums of squares per 32 values, or per 16: resnorm_rows_h)
        bool ok = cudaMalloc((void **)&g_nq[0].buf, one + (size_t)nb * 8) == cudaSuccess &&
                  cudaMalloc((void **)&g_nq[1].buf, one + (size_t)nb * 8) == cudaSuccess;
        if (ok) g_nq_cap = one;
        else {
            cudaGetLastError();
            for (int i = 0; i < 2; i++) cudaFree(g_nq[i].buf), g_nq[i].buf = NULL;
        }
    }
    if (n_tok > 1) mmq_reserve();
    // (k_mmq's activations: tokens padded to a multiple of 8, at most 8, 16,
    // 32 or 64; in FP16, 64 bytes a 32-block)
    const int n_pad = n_tok <= 8 ? 8 : n_tok <= 16 ? 16 : n_tok <= 32 ? 32 : n_tok <= 64 ? 64 : n_tok;
    return (size_t)n_pad * (n_tok <= 64 ? IG_MAX(one, (size_t)nb * 64) : one) + 16;
}

// 8 threads per 32-value block, coalesced reads. n_rows (>= n_tok) rows
// are written, those past n_tok as zeros; MMQ: in k_mmq's layout (mmq.cuh:
// for 32-block k of token t, the codes at (k n_rows + t) 32 in the order
// the mma lanes read them, then float2 (scale, code sum) at
// nb n_rows 32 + (k n_rows + t) 8), else a token after another.
template <bool MMQ>
__global__ void k_quant8(const float *x, uint8_t *xq, int n_in, int n_tok, int n_rows) {
    TRACE(TR_QUANT8);
    pdl_launch();
    pdl_wait();
    const int nb = n_in / 32, n4 = n_rows * nb * 8;
    const int i0 = blockIdx.x * blockDim.x; // whole warps take part in the shuffles
    if (i0 >= n4) return;
    const int i = i0 + threadIdx.x;
    const bool ok = i < n4;
    const int t = ok ? i / (nb * 8) : 0, j = ok ? i % (nb * 8) : 0;
    const float4 v = ok && t < n_tok ? ((const float4 *)(x + (size_t)t * n_in))[j] : make_float4(0.f, 0.f, 0.f, 0.f);
    if (!MMQ) {
        quant8_store(v, ok, xq + (size_t)t * xq_token_bytes(nb), nb, j);
        return;
    }
    const q8_part q = quant8_part(v);
    if (!ok) return;
    const int k = j / 8, p = j % 8; // values 4p..4p+3 of block k: lane p % 4's first (p < 4) or second word
    const size_t cell = (size_t)k * n_rows + t;
    *(uint32_t *)(xq + cell * 32 + 8 * (p % 4) + 4 * (p / 4)) = q.codes;
    if (p == 0) ((float2 *)(xq + (size_t)nb * n_rows * 32))[cell] = make_float2(q.amax / 127.f, (float)q.sum);
}
static void quant8_launch(bool mmq, const float *x, uint8_t *xq, int n_in, int n_tok, int n_rows) {
    const int threads = n_rows * (n_in / 32) * 8;
    launch_pdl(mmq ? k_quant8<true> : k_quant8<false>, (threads + 255) / 256, 256, 0, x, xq, n_in, n_tok, n_rows);
}

template <int T> struct dq_traits {
    static constexpr int QB = T == T_Q8_0 ? 32 : 16; // quant bytes per block
    static constexpr int PF = T == T_Q8_0 ? 2 : 4;   // blocks of weight loads in flight per lane
};

// dp4a dot products of one 32-weight block against int8 activations (x0:
// codes 0-15, x1: codes 16-31). Q4_0: byte k holds weights k (low nibble) and
// 16 + k (high), stored +8, so the offset comes off as 8 * the code sum sx.
__device__ __forceinline__ int dot_q4_0(uint4 u, int4 x0, int4 x1, int sx) {
    const uint32_t m = 0x0F0F0F0Fu;
    int d = 0;
    d = __dp4a((int)(u.x & m), x0.x, d);
    d = __dp4a((int)(u.y & m), x0.y, d);
    d = __dp4a((int)(u.z & m), x0.z, d);
    d = __dp4a((int)(u.w & m), x0.w, d);
    d = __dp4a((int)((u.x >> 4) & m), x1.x, d);
    d = __dp4a((int)((u.y >> 4) & m), x1.y, d);
    d = __dp4a((int)((u.z >> 4) & m), x1.z, d);
    d = __dp4a((int)((u.w >> 4) & m), x1.w, d);
    return d - 8 * sx;
}
__device__ __forceinline__ int dot_q8_0(uint4 u0, uint4 u1, int4 x0, int4 x1) {
    int d = 0;
    d = __dp4a((int)u0.x, x0.x, d);
    d = __dp4a((int)u0.y, x0.y, d);
    d = __dp4a((int)u0.z, x0.z, d);
    d = __dp4a((int)u0.w, x0.w, d);
    d = __dp4a((int)u1.x, x1.x, d);
    d = __dp4a((int)u1.y, x1.y, d);
    d = __dp4a((int)u1.z, x1.z, d);
    d = __dp4a((int)u1.w, x1.w, d);
    return d;
}
template <int T, int QV> __device__ __forceinline__ int dot_dq(const uint4 (&u)[QV], int4 x0, int4 x1, int sx) {
    return T == T_Q4_0 ? dot_q4_0(u[0], x0, x1, sx) : dot_q8_0(u[0], u[QV - 1], x0, x1);
}

// GEMV helpers shared by the int8 and F16/BF16 kernels: the
// matrix of a row block (always 0 for GLU, whose rows are gate/up pairs) and
// the first output row of warp group g (groups of nr rows, `groups` per
// block); lane 0's write of the group's outputs (tok_off: where the
// token's outputs start).
__device__ __forceinline__ int set_row0(const gemv_set &set, int blk, int groups, int g, int nr, bool glu, int *mi) {
    int m = 0;
    if (!glu)
        while (m + 1 < set.n && blk >= set.first[m + 1]) m++;
    *mi = m;
    return ((blk - set.first[m]) * groups + g) * nr;
}
template <int R, bool GLU>
__device__ __forceinline__ void set_write(const gemv_set &set, int mi, int row0, const float *acc, size_t tok_off = 0) {
#pragma unroll
    for (int o = 0; o < (GLU ? R / 2 : R); o++) {
        if (row0 + o >= set.n_out[mi]) break;
        set.out[mi][tok_off + row0 + o] = GLU ? acc[2 * o] / (1.f + expf(-acc[2 * o])) * acc[2 * o + 1]
                                              : acc[o] + (set.bias[mi] ? set.bias[mi][row0 + o] : 0.f);
    }
}
// Warp sums of acc, then the KS warps that split a row group add theirs in
// shared memory; true for the lane that holds the totals (lane 0 of the
// group's first warp). Every thread of the block must call it.
template <int R, int KS> __device__ __forceinline__ bool split_sum(float *acc, float (*part)[R]) {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = warp_sum(acc[r]);
    if (KS == 1) return lane == 0;
    if (lane == 0)
#pragma unroll
        for (int r = 0; r < R; r++) part[warp][r] = acc[r];
    __syncthreads();
    if (lane != 0 || warp % KS) return false;
#pragma unroll
    for (int r = 0; r < R; r++)
        for (int k = 1; k < KS; k++) acc[r] += part[warp + k][r];
    return true;
}

// A warp's R rows of the repacked Q8_0/Q4_0 layout (QB quant bytes per
// block): where their quants (q) and scales (d) start; rows past the matrix
// read its last row (their results are not written).
template <int QB, int R, bool GLU>
__device__ __forceinline__ void dq_rows(const gemv_set &set, int mi, int row0, int nb, const uint8_t **q, const uint16_t **d) {
    const int n_out = set.n_out[mi];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int m = GLU ? r % 2 : mi, row = min(row0 + (GLU ? r / 2 : r), n_out - 1);
        q[r] = set.w[m] + (size_t)row * nb * QB;
        d[r] = (const uint16_t *)(set.w[m] + (size_t)n_out * nb * QB) + (size_t)row * nb;
    }
}

// GEMV over the quantized activations xq of 2+ tokens, NT per pass (Q4_K;
// Q8_0/Q4_0 up to 64 tokens run k_mmq unless INGOT_CUDA_MMQ=0). A lane
// takes whole 32-weight blocks of R rows; the activations are read through
// L1 (every warp of a block reads the same bytes), so there is no staging
// step and the weight loads start at once.
template <int T, int R, int NT, bool GLU>
__global__ void __launch_bounds__(DQ_WARPS * 32) k_gemv_dq(gemv_set set, int n_in, const uint8_t *xq, int n_tok) {
    TRACE(TR_GEMV_DQ);
    constexpr int QB = dq_traits<T>::QB, PF = dq_traits<T>::PF, QV = QB / 16;
    const int nb = n_in / 32;
    const size_t ts = xq_token_bytes(nb);
    const int t0 = blockIdx.y * NT, nt = min(NT, n_tok - t0);
    const int lane = threadIdx.x % 32;
    int mi;
    const int row0 = set_row0(set, blockIdx.x, DQ_WARPS, threadIdx.x / 32, GLU ? R / 2 : R, GLU, &mi), n_out = set.n_out[mi];
    pdl_launch();
    if (row0 >= n_out) return;
    uint4 wq[PF][R][QV];
    uint16_t wd[PF][R];
    const uint8_t *q[R];
    const uint16_t *d[R];
    dq_rows<QB, R, GLU>(set, mi, row0, nb, q, d);
#define DQ_LOAD(p, b)                                                                          \
    _Pragma("unroll") for (int r = 0; r < R; r++) {                                            \
        _Pragma("unroll") for (int h = 0; h < QV; h++) wq[p][r][h] = ((const uint4 *)(q[r] + (size_t)(b) * QB))[h]; \
        wd[p][r] = d[r][b];                                                                    \
    }
    // the first weight loads do not depend on the previous kernel: issue
    // them before waiting for it (pdl_wait)
#pragma unroll
    for (int p = 0; p < PF; p++)
        if (lane + 32 * p < nb) DQ_LOAD(p, lane + 32 * p);
    pdl_wait();

    float acc[NT][R];
#pragma unroll
    for (int t = 0; t < NT; t++)
#pragma unroll
        for (int r = 0; r < R; r++) acc[t][r] = 0.f;
    for (int b0 = lane; b0 < nb; b0 += 32 * PF) {
#pragma unroll
        for (int p = 0; p < PF; p++) {
            const int b = b0 + 32 * p;
            if (b >= nb) break;
#pragma unroll
            for (int t = 0; t < NT; t++) {
                if (t >= nt) break;
                const uint8_t *base = xq + (size_t)(t0 + t) * ts;
                const int4 x0 = __ldg((const int4 *)(base + (size_t)b * 32));
                const int4 x1 = __ldg((const int4 *)(base + (size_t)b * 32) + 1);
                const float dx = __ldg((const float *)(base + (size_t)nb * 32) + b);
                const int sx = __ldg((const int *)(base + (size_t)nb * 36) + b);
#pragma unroll
                for (int r = 0; r < R; r++) acc[t][r] += h_to_f(wd[p][r]) * dx * (float)dot_dq<T, QV>(wq[p][r], x0, x1, sx);
            }
            if (b + 32 * PF < nb) DQ_LOAD(p, b + 32 * PF);
        }
    }
#undef DQ_LOAD
#pragma unroll
    for (int t = 0; t < NT; t++) {
#pragma unroll
        for (int r = 0; r < R; r++) acc[t][r] = warp_sum(acc[t][r]);
        if (lane == 0 && t < nt) set_write<R, GLU>(set, mi, row0, acc[t], (size_t)(t0 + t) * n_out);
    }
}

// launch over `set` for n_tok tokens (chunks of NT)
template <int T, int R, int NT, bool GLU> static void launch_dq(gemv_set &set, int n_in, const uint8_t *xq, int n_tok) {
    dim3 grid(set_blocks(set, DQ_WARPS * (GLU ? R / 2 : R)), (n_tok + NT - 1) / NT);
    launch_pdl(k_gemv_dq<T, R, NT, GLU>, grid, DQ_WARPS * 32, 0, set, n_in, xq, n_tok);
}

// Q/K/V of one token straight into attention's inputs (the epilogue of the
// one-token GEMVs over a Q/K/V set): q rotated in place, k rotated and v
// copied into KV-cache cell *cell; the rotation of rope_store (adjacent
// pairs, GGUF llama order), so a group's rows hold whole pairs. Lane 0 of a
// group, R (even) results from row0 (a multiple of R) of matrix mi.
struct qkv_rope {
    float *q, *kc, *vc;
    const int32_t *pos, *cell;
    const double *inv_freq;
    int head_dim, n_rot, kv_dim;
};
// The rotation of each pair (cos, sin) and the cell's offset come from
// qkv_pre, made before the wait: the position and the cell are inputs of
// the whole step.
template <int R> struct qkv_angles {
    float cs[R / 2], sn[R / 2];
    size_t dst;
};
template <int R>
__device__ __forceinline__ void qkv_pre(const qkv_rope &a, int mi, int row0, qkv_angles<R> *g) {
    const int p = __ldg(a.pos);
    g->dst = (size_t)__ldg(a.cell) * a.kv_dim;
#pragma unroll
    for (int o = 0; o < R / 2; o++) {
        const int d = (row0 + 2 * o) % a.head_dim;
        g->cs[o] = 1.f, g->sn[o] = 0.f;
        if (mi < 2 && d < a.n_rot) { // (else not rotated)
            double sn, cs;
            sincos((double)p * __ldg(a.inv_freq + d / 2), &sn, &cs);
            g->cs[o] = (float)cs, g->sn[o] = (float)sn;
        }
    }
}
template <int R>
__device__ __forceinline__ void qkv_write(const gemv_set &set, int mi, int row0, const float *acc, const qkv_rope &a,
                                          const qkv_angles<R> &g) {
#pragma unroll
    for (int o = 0; o < R; o += 2) {
        const int row = row0 + o;
        if (row >= set.n_out[mi]) break;
        float x0 = acc[o], x1 = acc[o + 1];
        if (set.bias[mi]) x0 += set.bias[mi][row], x1 += set.bias[mi][row + 1];
        if (mi < 2 && row % a.head_dim < a.n_rot) {
            const float cs = g.cs[o / 2], sn = g.sn[o / 2];
            const float r0 = x0 * cs - x1 * sn, r1 = x0 * sn + x1 * cs;
            x0 = r0, x1 = r1;
        }
        float *out = mi == 0 ? a.q + row : (mi == 1 ? a.kc : a.vc) + g.dst + row;
        out[0] = x0, out[1] = x1;
    }
}

// What a one-token GEMV does with its results (template parameter EPI):
// write them (PLAIN), rotate Q/K/V into the cache (ROPE, qkv_write), or
// write them and an int8 copy of them for the GEMV that reads them next
// (QUANT: the SwiGLU output for the down projection), or add them to the
// residual and write the next RMSNorm's input deferred (RESNORM: res += W x,
// out = res * nw, with the int8 copy and res's sums of squares: see nq_tag).
enum { EPI_PLAIN, EPI_ROPE, EPI_QUANT, EPI_RESNORM };
struct gemv_epi {
    qkv_rope ra;     // ROPE
    uint8_t *xq;     // QUANT, RESNORM: the int8 copy (quant8_store's layout; n_out % 32 == 0)
    float *res;      // RESNORM: the residual stream
    const float *nw; // RESNORM: the norm's weights
    float *ss;       // RESNORM: sums of squares of res per 32 rows (per ob)
    float eps;       // RESNORM: the norm's epsilon (for the tag, not the kernel)
    int ob;          // F16 RESNORM: rows per block, 32 (with the int8 copy) or 16 (without)
    unsigned long long *top1; // PLAIN, one matrix: keep the largest output's key (see g_top1), or NULL
};

// (e.top1) the largest of a group's R outputs, as written, offered to *top1
// (read first: most groups hold no new maximum and need no atomic)
template <int R>
__device__ __forceinline__ void top1_offer(const gemv_set &set, int mi, int row0, const float *acc,
                                           unsigned long long *top1) {
    tk_key_t best = 0;
#pragma unroll
    for (int o = 0; o < R; o++) {
        if (row0 + o >= set.n_out[mi]) break;
        best = max(best, tk_key(acc[o] + (set.bias[mi] ? set.bias[mi][row0 + o] : 0.f), row0 + o));
    }
    if (best > *(volatile tk_key_t *)top1) atomicMax(top1, best);
}

// claim the buffer for a deferred norm's output out (n values, see nq_tag):
// its int8 copy and sums of squares go where e says (e->eps given); false
// if out does not fit
static bool nq_claim_deferred(const float *out, int n, const uint8_t *reading, gemv_epi *e) {
    nq_tag *t = nq_claim(out, n, reading);
    if (!t) return false;
    e->xq = t->buf, e->ss = nq_ss(t);
    t->ss = e->ss, t->eps = e->eps, t->pending = true;
    if (e->ob && e->ob < 32) t->ss_n = n / e->ob, t->q8 = false;
    return true;
}

// 1 / rms of a deferred norm's input (set.ss), else 1; the whole warp calls it
__device__ __forceinline__ float set_rms(const gemv_set &set, int n_in) {
    if (!set.ss) return 1.f;
    float s = 0.f;
    for (int i = threadIdx.x % 32; i < set.ss_n; i += 32) s += __ldg(set.ss + i);
    return rsqrtf(warp_sum(s) / n_in + set.eps);
}

// Quantize 32 values y, one per lane, into chunk c of an int8 copy of nb
// chunks (as quant8_store does); ss: also store the sum of squares of v.
// The whole warp calls it.
__device__ __forceinline__ void chunk_quant(float y, float v, uint8_t *xq, int nb, int c, float *ss) {
    const int lane = threadIdx.x % 32;
    const float amax = warp_max(fabsf(y));
    const float id = amax > 0.f ? 127.f / amax : 0.f;
    const int q = __float2int_rn(y * id);
    const int sum = __reduce_add_sync(0xffffffffu, q);
    const float s2 = warp_sum(v * v);
    xq[(size_t)c * 32 + lane] = (uint8_t)(q & 255);
    if (lane == 0) {
        ((float *)(xq + (size_t)nb * 32))[c] = amax / 127.f;
        ((int *)(xq + (size_t)nb * 36))[c] = sum;
        if (ss) ss[c] = s2;
    }
}

// The QUANT / RESNORM epilogue of a block of OB consecutive outputs (whole
// 32-row chunks) of a one-matrix set (GLU: gate/up pairs): the lanes that
// hold a group's sums (hold; R rows from row0) write the outputs, then a
// warp per chunk makes its int8 copy. Whole chunks per block, because
// handing a chunk across blocks needs a fence and an atomic in every block,
// which cost more than the quantize launch they save (measured: 8B Q4_0
// 467 -> 453 t/s). Every thread of the block calls it.
template <int R, bool GLU, int EPI, int OB>
__device__ __forceinline__ void epi_quant(const gemv_set &set, int row0, const float *acc, bool hold, const gemv_epi &e,
                                          const float *res, const float *nw) {
    static_assert(OB % 32 == 0 || (EPI == EPI_RESNORM && 32 % OB == 0), "a block of whole chunks");
    __shared__ float sv[OB], sy[OB];
    constexpr int NO = GLU ? R / 2 : R;
    const int n_out = set.n_out[0], ob0 = blockIdx.x * OB, lane = threadIdx.x % 32, w = threadIdx.x / 32;
    if (hold)
#pragma unroll
        for (int o = 0; o < NO; o++) {
            const int row = row0 + o;
            if (row >= n_out) break;
            float v = GLU ? acc[2 * o] / (1.f + expf(-acc[2 * o])) * acc[2 * o + 1]
                          : acc[o] + (set.bias[0] ? set.bias[0][row] : 0.f);
            float y = v;
            if (EPI == EPI_RESNORM) {
                v += res[o];
                e.res[row] = v;
                y = v * nw[o];
            }
            set.out[0][row] = y;
            sv[row - ob0] = v, sy[row - ob0] = y;
        }
    __syncthreads();
    if constexpr (OB < 32) { // (F16 residual, see gemv_epi.ob) the sums of squares only
        const float v = lane < OB ? sv[lane] : 0.f, s2 = warp_sum(v * v);
        if (w == 0 && lane == 0 && ob0 < n_out) e.ss[blockIdx.x] = s2;
    } else if (w < OB / 32 && ob0 + 32 * w < n_out)
        chunk_quant(sy[32 * w + lane], sv[32 * w + lane], e.xq, n_out / 32, ob0 / 32 + w, EPI == EPI_RESNORM ? e.ss : NULL);
}

// Bytes of shared memory for a one-token GEMV to stage its input in (bytes
// of it; gemv_set.xs): Q/K/V and the residual kernels, up to 32 KB. Their
// blocks run one pass over the rows right after the wait, and the loop
// read the input from L2 at every step; a GLU block's input is mostly in L1
// already (blocks of later waves). H100: Qwen2.5-0.5B F16 1350-1361 ->
// 1391-1404 t/s, the other models within 1%. INGOT_CUDA_XS=0: never.
static size_t x_smem(size_t bytes, bool glu) {
    static int on = -1;
    if (on < 0) on = !getenv("INGOT_CUDA_XS") || atoi(getenv("INGOT_CUDA_XS")) != 0;
    return on && !glu && bytes <= 32768 ? bytes : 0;
}

// Copy n16 16-byte pieces from global src to shared dst with every thread of
// the block, 4 loads in flight per thread (the caller syncs the block).
__device__ __forceinline__ void stage_block(uint4 *dst, const uint4 *src, int n16) {
    const int nt = blockDim.x;
    for (int i0 = threadIdx.x; i0 < n16; i0 += 4 * nt) {
        uint4 t[4];
#pragma unroll
        for (int j = 0; j < 4; j++)
            if (i0 + j * nt < n16) t[j] = __ldg(src + i0 + j * nt);
#pragma unroll
        for (int j = 0; j < 4; j++)
            if (i0 + j * nt < n16) dst[i0 + j * nt] = t[j];
    }
}

struct no_after {
    __device__ __forceinline__ void operator()() const {}
};
// The wait of a one-token GEMV for the kernel before it (pdl_wait), with
// what goes around it: RESNORM's rows of the norm weights loaded before it
// (they do not depend on earlier kernels) and of the residual right after,
// so that the epilogue does not wait on them; ROPE's rotations made before
// it (qkv_pre); after(): what else is loaded once it is over (the staged
// input), issued before the sums of squares are read, so that the reads
// overlap. Returns the input's deferred 1 / rms (set_rms). Call after the
// first weight loads are issued.
template <int R, int EPI> struct epi_pre {
    float res[EPI == EPI_RESNORM ? R : 1], nw[EPI == EPI_RESNORM ? R : 1];
    qkv_angles<EPI == EPI_ROPE ? R : 2> rope; // ROPE
    template <typename A = no_after>
    __device__ __forceinline__ float wait(const gemv_set &set, int n_in, const gemv_epi &e, int mi, int row0, int n_out,
                                          const A &after = A()) {
        if constexpr (EPI == EPI_ROPE) qkv_pre(e.ra, mi, row0, &rope);
        if constexpr (EPI == EPI_RESNORM)
#pragma unroll
            for (int o = 0; o < R; o++) nw[o] = __ldg(e.nw + min(row0 + o, n_out - 1));
        pdl_wait();
        if constexpr (EPI == EPI_RESNORM)
#pragma unroll
            for (int o = 0; o < R; o++) res[o] = e.res[min(row0 + o, n_out - 1)];
        after();
        return set_rms(set, n_in);
    }
};

// The end of a one-token GEMV block: scale by a deferred norm's 1 / rms,
// sum the KS warps of each group, hand the results to the epilogue.
template <int R, int KS, bool GLU, int EPI, int W>
__device__ __forceinline__ void gemv1_finish(const gemv_set &set, int mi, int row0, float *acc, float rms,
                                             float (*part)[R], const gemv_epi &e, const epi_pre<R, EPI> &pre) {
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] *= rms;
    const bool hold = split_sum<R, KS>(acc, part);
    if constexpr (EPI == EPI_QUANT || EPI == EPI_RESNORM) {
        epi_quant<R, GLU, EPI, W / KS * (GLU ? R / 2 : R)>(set, row0, acc, hold, e, pre.res, pre.nw);
        return;
    }
    if (!hold || row0 >= set.n_out[mi]) return;
    if constexpr (EPI == EPI_ROPE) qkv_write<R>(set, mi, row0, acc, e.ra, pre.rope);
    else set_write<R, GLU>(set, mi, row0, acc);
    if constexpr (EPI == EPI_PLAIN && !GLU)
        if (e.top1) top1_offer<R>(set, mi, row0, acc, e.top1);
}

// One token. The 8 warps of a block form groups of KS that share R rows:
// warp k of a group takes the row's 32-block chunks k, k + KS, ... (a lane
// one block of each), so a row is read by KS warps at once and there are
// enough loads in flight even for few, long rows (the down projection).
// Weight loads stream past L1 (ld_stream) so the activations, read by every
// warp, stay there; PF chunks per row in flight per lane; the first are
// issued before waiting for the previous kernel (pdl_wait). GLU: R rows are
// R / 2 gate/up pairs. Measured on an H100 against the multi-token kernel at
// one token and 2-8 rows, 1-4 chunks in flight, 1-4 warps per row and 4-16
// warps per block (bench/gemv_micro.cu, notes in bench/gpu-h100-latest.md).
template <int T, int R, int PF, int KS, bool GLU, int EPI, int W>
__global__ void __launch_bounds__(W * 32) k_gemv_dq1(gemv_set set, int n_in, const uint8_t *xq, gemv_epi e) {
    TRACE(EPI == EPI_ROPE ? TR_GEMV1_QKV : EPI == EPI_RESNORM ? TR_GEMV1_RES : GLU ? TR_GEMV1_GLU : TR_GEMV1);
    constexpr int QB = dq_traits<T>::QB, QV = QB / 16;
    __shared__ float part[W][R];
    const int nb = n_in / 32, lane = threadIdx.x % 32, warp = threadIdx.x / 32, step = 32 * KS;
    int mi;
    const int row0 = set_row0(set, blockIdx.x, W / KS, warp / KS, GLU ? R / 2 : R, GLU, &mi);
    const uint8_t *q[R];
    const uint16_t *d[R];
    dq_rows<QB, R, GLU>(set, mi, row0, nb, q, d);
    pdl_launch();
    uint4 wq[PF][R][QV];
    uint16_t wd[PF][R];
#define DQ1_LOAD(p, b)                                                                             \
    _Pragma("unroll") for (int r = 0; r < R; r++) {                                                \
        _Pragma("unroll") for (int h = 0; h < QV; h++) wq[p][r][h] = ld_stream((const uint4 *)(q[r] + (size_t)(b) * QB) + h); \
        wd[p][r] = d[r][b];                                                                        \
    }
    const int b0 = lane + 32 * (warp % KS);
#pragma unroll
    for (int p = 0; p < PF; p++)
        if (b0 + step * p < nb) DQ1_LOAD(p, b0 + step * p);
    // set.xs: the activations staged in shared memory once the wait is over
    // (see x_smem)
    extern __shared__ uint4 xqs[];
    const uint8_t *xa = set.xs ? (const uint8_t *)xqs : xq;
    epi_pre<R, EPI> pre;
    const float rms = pre.wait(set, n_in, e, mi, row0, set.n_out[mi], [&] {
        if (set.xs) stage_block(xqs, (const uint4 *)xq, (int)(xq_token_bytes(nb) / 16));
    });
    if (set.xs) __syncthreads();
    const int8_t *xc = (const int8_t *)xa;
    const float *xd = (const float *)(xa + (size_t)nb * 32);
    const int *xs = (const int *)(xa + (size_t)nb * 36);
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0.f;
    for (int bb = b0; bb < nb; bb += step * PF) {
#pragma unroll
        for (int p = 0; p < PF; p++) {
            const int b = bb + step * p;
            if (b >= nb) break;
            const int4 *xb = (const int4 *)(xc + (size_t)b * 32);
            const int4 x0 = set.xs ? xb[0] : __ldg(xb), x1 = set.xs ? xb[1] : __ldg(xb + 1);
            const float dx = set.xs ? xd[b] : __ldg(xd + b);
            const int sx = set.xs ? xs[b] : __ldg(xs + b);
#pragma unroll
            for (int r = 0; r < R; r++) acc[r] += h_to_f(wd[p][r]) * dx * (float)dot_dq<T, QV>(wq[p][r], x0, x1, sx);
            if (b + step * PF < nb) DQ1_LOAD(p, b + step * PF);
        }
    }
#undef DQ1_LOAD
    TRACE_MID();
    gemv1_finish<R, KS, GLU, EPI, W>(set, mi, row0, acc, rms, part, e, pre);
}

// launch over `set`: a block of W warps per W / KS groups of R rows (R / 2
// outputs for GLU), epilogue EPI
template <int T, int R, int PF, int KS, bool GLU, int EPI = EPI_PLAIN, int W = DQ_WARPS>
static void launch_dq1(gemv_set &set, int n_in, const uint8_t *xq, const gemv_epi &e) {
    const int grid = set_blocks(set, W / KS * (GLU ? R / 2 : R));
    const size_t smem = x_smem(xq_token_bytes(n_in / 32), GLU);
    set.xs = smem > 0;
    launch_pdl(k_gemv_dq1<T, R, PF, KS, GLU, EPI, W>, grid, W * 32, smem, set, n_in, xq, e);
}

// One token: the shape picks rows per warp (R) and warps per row (KS), 2
// chunks in flight, from gemv_micro on an H100 (Llama-3-8B, Llama-3.2-1B and
// Qwen2.5-0.5B matrices, Q4_0 and Q8_0): rows of up to 2 KB of quants take a
// warp each; longer rows 2 warps, or 4 when there are few of them (the small
// models' down projections); a vocabulary-sized output 8 rows per warp, one
// warp per row; gate/up pairs a warp per row up to 1 KB. More tokens: the
// kernel above, 8 per pass, 2 rows per warp.
// Loads in flight per row and lane (PF) of the one-token Q/K/V and
// residual (O, down) kernels, whose blocks are resident long before the
// kernel before them ends (trace: 5-17 us) and issue the first PF before
// waiting: 4 for F16/BF16 and for Q4_0 rows of up to 2048 values (the small
// models: 1-2 KB rows, so the whole row of a lane), else 2. H100, A/B in
// one run: 1B F16 878 -> 914 t/s, TinyLlama F16 926 -> 950, 8B F16 180 ->
// 185, 1B Q4_0 1990 -> 2075, 0.5B Q4_0 2020 -> 2130; but 8B Q4_0 514 -> 494
// and 8B Q4_K 470 -> 458 (the Q/K/V registers and loads delay the down
// projection still running). INGOT_CUDA_PF=0: 2 always; 1: 4 always (Q4_K
// Q/K/V: 2 quarter super-blocks instead of 1).
static int pf_mode(void) {
    static int m = -2;
    if (m == -2) m = getenv("INGOT_CUDA_PF") ? atoi(getenv("INGOT_CUDA_PF")) : -1;
    return m;
}
// 4 loads in flight (see pf_mode) for weights of type T, rows of n_in
template <int T> static bool pf_wide(int n_in) {
    return pf_mode() > 0 || (pf_mode() < 0 && (T == T_F16 || T == T_BF16 || (T == T_Q4_0 && n_in <= 2048)));
}
// 4 rows a warp of up to 2 KB, a warp each: 4 chunks in flight for the
// Q/K/V and residual kernels when pf_wide, else 2
template <int T, int EPI> static void launch_dq1_short(gemv_set &set, int n_in, const uint8_t *xq, const gemv_epi &e) {
    if constexpr (EPI == EPI_ROPE || EPI == EPI_RESNORM)
        if (pf_wide<T>(n_in)) return launch_dq1<T, 4, 4, 1, false, EPI>(set, n_in, xq, e);
    launch_dq1<T, 4, 2, 1, false, EPI>(set, n_in, xq, e);
}
// rows of one or more matrices, epilogue EPI (PLAIN or ROPE): a warp per row
// up to 2 KB of quants, else 4 warps per row for few rows, 2 for many
template <int T, int EPI> static void gemv_dq_rows(gemv_set &set, int n_in, const uint8_t *xq, const gemv_epi &e) {
    const int row_bytes = n_in / 32 * dq_traits<T>::QB;
    if (row_bytes <= 2048) launch_dq1_short<T, EPI>(set, n_in, xq, e);
    else if (set_rows(set) <= 2048) launch_dq1<T, 4, 2, 4, false, EPI>(set, n_in, xq, e);
    else launch_dq1<T, 4, 2, 2, false, EPI>(set, n_in, xq, e);
}
template <int T>
static void gemv_dq(gemv_set &set, int n_in, const uint8_t *xq, int n_tok, bool glu, int epi, const gemv_epi &e) {
    if (n_tok > 1) {
        glu ? launch_dq<T, 2, 8, true>(set, n_in, xq, n_tok) : launch_dq<T, 2, 8, false>(set, n_in, xq, n_tok);
        return;
    }
    const int row_bytes = n_in / 32 * dq_traits<T>::QB;
    // with an int8 copy of the outputs, blocks of whole 32-output chunks:
    // gate/up pairs 16 warps of one warp per 4 rows, one chunk in flight;
    // other rows a warp each, or two and 16 warps for long rows
    if (epi == EPI_QUANT) launch_dq1<T, 4, 1, 1, true, EPI_QUANT, 16>(set, n_in, xq, e);
    else if (epi == EPI_RESNORM && row_bytes <= 2048) launch_dq1_short<T, EPI_RESNORM>(set, n_in, xq, e);
    else if (epi == EPI_RESNORM) launch_dq1<T, 4, 2, 2, false, EPI_RESNORM, 16>(set, n_in, xq, e);
    else if (glu && row_bytes <= 1024) launch_dq1<T, 4, 2, 1, true>(set, n_in, xq, e);
    else if (glu) launch_dq1<T, 4, 2, 2, true>(set, n_in, xq, e);
    else if (epi == EPI_ROPE) gemv_dq_rows<T, EPI_ROPE>(set, n_in, xq, e);
    else if (set_rows(set) >= 32768) launch_dq1<T, 8, 2, 1, false>(set, n_in, xq, e);
    else gemv_dq_rows<T, EPI_PLAIN>(set, n_in, xq, e);
}

// Q4_K, one token: weights as stored (144-byte super-blocks of 256: d, dmin,
// 12 bytes of 6-bit sub-block scales and mins, 128 bytes of nibbles). A lane
// takes a quarter super-block (32 bytes: the low nibbles are sub-block 2c,
// the high ones 2c + 1), four lanes share the header; per sub-block j the
// weight is d sc_j q - dmin m_j, so against int8 activations (scale dx,
// code sum sx) it adds d sc_j dx dot_j - dmin m_j dx sx. Warps split rows in
// groups of KS as in k_gemv_dq1; nibbles stream past L1, PF quarter
// super-blocks per row in flight per lane, the first issued before pdl_wait.
__device__ __forceinline__ void q4k_sm(uint4 h, int j, int *sc, int *m) {
    const int s = 8 * (j & 3);
    if (j < 4) {
        *sc = (h.y >> s) & 63;
        *m = (h.z >> s) & 63;
    } else {
        *sc = ((h.w >> s) & 0xF) | (((h.y >> s) >> 6 & 3) << 4);
        *m = ((h.w >> s) >> 4 & 0xF) | (((h.z >> s) >> 6 & 3) << 4);
    }
}
// low (HI = 0) or high nibbles of 32 bytes against 32 activation codes
template <int HI> __device__ __forceinline__ int dot_nib(uint4 q0, uint4 q1, int4 a0, int4 a1) {
    const uint32_t m = 0x0F0F0F0Fu;
    int d = 0;
    d = __dp4a((int)((q0.x >> 4 * HI) & m), a0.x, d);
    d = __dp4a((int)((q0.y >> 4 * HI) & m), a0.y, d);
    d = __dp4a((int)((q0.z >> 4 * HI) & m), a0.z, d);
    d = __dp4a((int)((q0.w >> 4 * HI) & m), a0.w, d);
    d = __dp4a((int)((q1.x >> 4 * HI) & m), a1.x, d);
    d = __dp4a((int)((q1.y >> 4 * HI) & m), a1.y, d);
    d = __dp4a((int)((q1.z >> 4 * HI) & m), a1.z, d);
    d = __dp4a((int)((q1.w >> 4 * HI) & m), a1.w, d);
    return d;
}

template <int R, int KS, int PF, bool GLU, int EPI, int W>
__global__ void __launch_bounds__(W * 32) k_gemv_q4k(gemv_set set, int n_in, const uint8_t *xq, gemv_epi e) {
    TRACE(EPI == EPI_ROPE ? TR_Q4K_QKV : EPI == EPI_RESNORM ? TR_Q4K_RES : GLU ? TR_Q4K_GLU : TR_Q4K);
    __shared__ float part[W][R];
    const int nb = n_in / 32, nsb = n_in / 256, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int8_t *xc = (const int8_t *)xq;
    const float *xd = (const float *)(xq + (size_t)nb * 32);
    const int *xs = (const int *)(xq + (size_t)nb * 36);
    int mi;
    const int row0 = set_row0(set, blockIdx.x, W / KS, warp / KS, GLU ? R / 2 : R, GLU, &mi), n_out = set.n_out[mi];
    const uint8_t *wr[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int m = GLU ? r % 2 : mi;
        wr[r] = set.w[m] + (size_t)min(row0 + (GLU ? r / 2 : r), n_out - 1) * nsb * 144;
    }
    pdl_launch();
    uint4 h[PF][R], q0[PF][R], q1[PF][R];
#define Q4K_LOAD(p, u)                                                                             \
    _Pragma("unroll") for (int r = 0; r < R; r++) {                                                \
        const uint4 *b_ = (const uint4 *)(wr[r] + (size_t)((u) / 4) * 144);                       \
        h[p][r] = __ldg(b_);                                                                       \
        q0[p][r] = ld_stream(b_ + 1 + 2 * ((u) % 4));                                              \
        q1[p][r] = ld_stream(b_ + 2 + 2 * ((u) % 4));                                              \
    }
    // the first weight loads do not depend on the previous kernel: issue
    // them before waiting for it; then each slot is reloaded once used
    const int u0 = lane + 32 * (warp % KS), step = 32 * KS, nu = 4 * nsb;
#pragma unroll
    for (int p = 0; p < PF; p++)
        if (u0 + step * p < nu) Q4K_LOAD(p, u0 + step * p);
    epi_pre<R, EPI> pre;
    const float rms = pre.wait(set, n_in, e, mi, row0, n_out);
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0.f;
    for (int uu = u0; uu < nu; uu += step * PF) {
#pragma unroll
        for (int p = 0; p < PF; p++) {
            const int u = uu + step * p;
            if (u >= nu) break;
            const int c = u % 4, j0 = u / 4 * 8 + 2 * c;
            const int4 *xa = (const int4 *)(xc + (size_t)j0 * 32);
            const int4 a0 = __ldg(xa), a1 = __ldg(xa + 1), b0 = __ldg(xa + 2), b1 = __ldg(xa + 3);
            const float dx0 = __ldg(xd + j0), dx1 = __ldg(xd + j0 + 1);
            const int sx0 = __ldg(xs + j0), sx1 = __ldg(xs + j0 + 1);
#pragma unroll
            for (int r = 0; r < R; r++) {
                const int d0 = dot_nib<0>(q0[p][r], q1[p][r], a0, a1), d1 = dot_nib<1>(q0[p][r], q1[p][r], b0, b1);
                int sc0, m0, sc1, m1;
                q4k_sm(h[p][r], 2 * c, &sc0, &m0);
                q4k_sm(h[p][r], 2 * c + 1, &sc1, &m1);
                const float d = h_to_f((uint16_t)(h[p][r].x & 0xffff)), dmin = h_to_f((uint16_t)(h[p][r].x >> 16));
                acc[r] += d * (dx0 * (float)(sc0 * d0) + dx1 * (float)(sc1 * d1)) -
                          dmin * (dx0 * (float)(m0 * sx0) + dx1 * (float)(m1 * sx1));
            }
            if (u + step * PF < nu) Q4K_LOAD(p, u + step * PF);
        }
    }
#undef Q4K_LOAD
    TRACE_MID();
    gemv1_finish<R, KS, GLU, EPI, W>(set, mi, row0, acc, rms, part, e, pre);
}

template <int R, int KS, int PF, bool GLU, int EPI = EPI_PLAIN, int W = DQ_WARPS>
static void launch_q4k(gemv_set &set, int n_in, const uint8_t *xq, const gemv_epi &e) {
    const int grid = set_blocks(set, W / KS * (GLU ? R / 2 : R));
    launch_pdl(k_gemv_q4k<R, KS, PF, GLU, EPI, W>, grid, W * 32, 0, set, n_in, xq, e);
}
// From bench/gemv_micro.cu on an H100 (Llama-3-8B, Llama-3.2-1B and
// Qwen2.5-0.5B shapes): gate/up pairs 2 per warp, one chunk in flight; other
// matrices 4 rows per warp and a warp per row, but 2 for few long rows (the
// small models' down projections); one chunk in flight for Q/K/V and a
// vocabulary-sized output, two for the rest. The residual add with a
// deferred norm: a warp per 4 rows, 8 warps (whole 32-row chunks). No int8
// copy of the gate/up output: in blocks of whole chunks it is 6 us slower
// than the plain kernel on the 8B shape, more than the quantize launch.
static void gemv_q4k(gemv_set &set, int n_in, const uint8_t *xq, bool glu, int epi, const gemv_epi &e) {
    const int n_out = set_rows(set);
    if (epi == EPI_RESNORM) launch_q4k<4, 1, 2, false, EPI_RESNORM>(set, n_in, xq, e);
    else if (glu) launch_q4k<2, 1, 1, true>(set, n_in, xq, e);
    else if (epi == EPI_ROPE && pf_mode() > 0) launch_q4k<4, 1, 2, false, EPI_ROPE>(set, n_in, xq, e);
    else if (epi == EPI_ROPE) launch_q4k<4, 1, 1, false, EPI_ROPE>(set, n_in, xq, e);
    else if (n_out >= 32768) launch_q4k<4, 1, 1, false>(set, n_in, xq, e);
    else if (n_out <= 2048 && n_in > 2048) launch_q4k<4, 2, 2, false>(set, n_in, xq, e);
    else launch_q4k<4, 1, 2, false>(set, n_in, xq, e);
}

// Q6_K, one token: rows as uploaded (q6k_row: low nibbles, high bit pairs,
// scales and d of the super-blocks each in turn). For half n of a
// super-block and l < 32, weight 128n + 32m + l (m < 4) is the nibble m / 2
// of ql[64n + 32(m % 2) + l] with bits 2m, 2m + 1 of qh[32n + l] above it,
// minus 32, times d and its scale. A lane takes an eighth of a super-block
// or a sixteenth (a unit: n, 4 V values of l, all four m: 12 V bytes, 16 V
// weights), dp4a on the 6-bit codes against int8 activations less 32 times
// their sum; warps split rows in groups of KS as in k_gemv_dq1, PF units per
// row in flight per lane, the first issued before pdl_wait. A: the
// alignment of the rows (210 bytes a super-block): with a multiple of 8
// super-blocks, units of 16 values of l in 16-byte loads (V = 4); else 8
// values with 4-byte loads (a multiple of 2) or 2-byte halves.

// V words at p, aligned to A bytes
template <int A, int V> __device__ __forceinline__ void ld_q6k(const uint8_t *p, uint32_t (&o)[V]) {
    if constexpr (A == 16) {
        static_assert(V == 4, "16-byte units");
        const uint4 u = __ldg((const uint4 *)p);
        o[0] = u.x, o[1] = u.y, o[2] = u.z, o[3] = u.w;
    } else
#pragma unroll
        for (int k = 0; k < V; k++) {
            const uint16_t *h = (const uint16_t *)p + 2 * k;
            o[k] = A >= 4 ? __ldg((const uint32_t *)p + k) : (uint32_t)__ldg(h) | (uint32_t)__ldg(h + 1) << 16;
        }
}
// a unit of 4 V values of l (V words of each of ql low, ql high, qh)
template <int V> struct q6k_unit {
    uint32_t lo[V], hi[V], qh[V]; // ql[64n + l0 ...], ql[64n + 32 + l0 ...], qh[32n + l0 ...]
    uint32_t sc;                  // the 4 scales (m = 0..3), a byte each
    uint16_t d;
};
// unit u: super-block, half n, first l
template <int V> __device__ __forceinline__ void q6k_pos(int u, int *sb, int *n, int *l0) {
    constexpr int H = 8 / V; // units per half
    *sb = u / (2 * H), *n = (u / H) % 2, *l0 = 4 * V * (u % H);
}
template <int A, int V> __device__ __forceinline__ void q6k_load(const q6k_row &w, int u, q6k_unit<V> *o) {
    int sb, n, l0;
    q6k_pos<V>(u, &sb, &n, &l0);
    ld_q6k<A, V>(w.ql + 128 * sb + 64 * n + l0, o->lo);
    ld_q6k<A, V>(w.ql + 128 * sb + 64 * n + 32 + l0, o->hi);
    ld_q6k<A, V>(w.qh + 64 * sb + 32 * n + l0, o->qh);
    const uint8_t *sc = (const uint8_t *)w.sc + 16 * sb + 8 * n + 4 * (l0 / 16);
    if constexpr (A >= 4) o->sc = __ldg((const uint32_t *)sc);
    else o->sc = (uint32_t)__ldg((const uint16_t *)sc) | (uint32_t)__ldg((const uint16_t *)sc + 1) << 16;
    o->d = __ldg(w.d + sb);
}
// the 6-bit codes (0..63) of 4 weights of quarter m (word k), a byte each;
// the offset of 32 comes off as 32 times the activations' sum
template <int V> __device__ __forceinline__ int q6k_codes(const q6k_unit<V> &w, int k, int m) {
    const uint32_t q = m % 2 ? w.hi[k] : w.lo[k], h0 = w.qh[k];
    const uint32_t nib = (m / 2 ? q >> 4 : q) & 0x0F0F0F0Fu;
    const uint32_t h = (m == 0 ? h0 << 4 : m == 1 ? h0 << 2 : m == 2 ? h0 : h0 >> 2) & 0x30303030u;
    return (int)(nib | h);
}

template <int R, int KS, int PF, int EPI, int W, int A, int V>
__global__ void __launch_bounds__(W * 32) k_gemv_q6k(gemv_set set, int n_in, const uint8_t *xq, gemv_epi e) {
    TRACE(EPI == EPI_RESNORM ? TR_Q6K_RES : TR_Q6K);
    __shared__ float part[W][R];
    const int nb = n_in / 32, nsb = n_in / 256, lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int8_t *xc = (const int8_t *)xq;
    const float *xd = (const float *)(xq + (size_t)nb * 32);
    int mi;
    const int row0 = set_row0(set, blockIdx.x, W / KS, warp / KS, R, false, &mi), n_out = set.n_out[mi];
    q6k_row wr[R];
#pragma unroll
    for (int r = 0; r < R; r++) wr[r] = q6k_at(set.w[mi] + (size_t)min(row0 + r, n_out - 1) * nsb * 210, nsb);
    pdl_launch();
    q6k_unit<V> wu[PF][R];
    const int u0 = lane + 32 * (warp % KS), step = 32 * KS, nu = 16 / V * nsb;
#pragma unroll
    for (int p = 0; p < PF; p++)
        if (u0 + step * p < nu)
#pragma unroll
            for (int r = 0; r < R; r++) q6k_load<A, V>(wr[r], u0 + step * p, &wu[p][r]);
    epi_pre<R, EPI> pre;
    const float rms = pre.wait(set, n_in, e, mi, row0, n_out);
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0.f;
    for (int uu = u0; uu < nu; uu += step * PF) {
#pragma unroll
        for (int p = 0; p < PF; p++) {
            const int u = uu + step * p;
            if (u >= nu) break;
            // activation block of quarter m: 8 sb + 4 n + m; values l0 .. l0 + 4 V - 1 of it
            int sb, n, l0;
            q6k_pos<V>(u, &sb, &n, &l0);
            const int j0 = 8 * sb + 4 * n;
            int xm[4][V];
            float dx[4];
            int x32[4]; // 32 times the sum of the unit's activation codes (shared by the R rows)
#pragma unroll
            for (int m = 0; m < 4; m++) {
                const int *xp = (const int *)(xc + (size_t)(j0 + m) * 32 + l0);
                if constexpr (V == 4) {
                    const int4 t = __ldg((const int4 *)xp);
                    xm[m][0] = t.x, xm[m][1] = t.y, xm[m][2] = t.z, xm[m][3] = t.w;
                } else {
                    const int2 t = __ldg((const int2 *)xp);
                    xm[m][0] = t.x, xm[m][1] = t.y;
                }
                dx[m] = __ldg(xd + j0 + m);
                int sum = 0;
#pragma unroll
                for (int k = 0; k < V; k++) sum = __dp4a(xm[m][k], 0x01010101, sum);
                x32[m] = 32 * sum;
            }
#pragma unroll
            for (int r = 0; r < R; r++) {
                const q6k_unit<V> &w = wu[p][r];
                float s = 0.f;
#pragma unroll
                for (int m = 0; m < 4; m++) {
                    int dot = -x32[m];
#pragma unroll
                    for (int k = 0; k < V; k++) dot = __dp4a(q6k_codes(w, k, m), xm[m][k], dot);
                    s += (float)((int)(int8_t)(w.sc >> 8 * m) * dot) * dx[m];
                }
                acc[r] += h_to_f(w.d) * s;
            }
            if (u + step * PF < nu)
#pragma unroll
                for (int r = 0; r < R; r++) q6k_load<A, V>(wr[r], u + step * PF, &wu[p][r]);
        }
    }
    TRACE_MID();
    gemv1_finish<R, KS, false, EPI, W>(set, mi, row0, acc, rms, part, e, pre);
}

template <int R, int KS, int PF, int EPI = EPI_PLAIN, int W = DQ_WARPS>
static void launch_q6k(gemv_set &set, int n_in, const uint8_t *xq, const gemv_epi &e) {
    const int grid = set_blocks(set, W / KS * R), nsb = n_in / 256;
    static int wide = -1; // INGOT_CUDA_Q6K16=0: no 16-byte units
    if (wide < 0) wide = !getenv("INGOT_CUDA_Q6K16") || atoi(getenv("INGOT_CUDA_Q6K16")) != 0;
    if (nsb % 8 == 0 && wide) launch_pdl(k_gemv_q6k<R, KS, PF, EPI, W, 16, 4>, grid, W * 32, 0, set, n_in, xq, e);
    else if (nsb % 2 == 0) launch_pdl(k_gemv_q6k<R, KS, PF, EPI, W, 4, 2>, grid, W * 32, 0, set, n_in, xq, e);
    else launch_pdl(k_gemv_q6k<R, KS, PF, EPI, W, 2, 2>, grid, W * 32, 0, set, n_in, xq, e);
}
// The shapes of Q4_K's. H100, 8B all-Q6_K / Q4_K_M tg128 269 / 420 t/s;
// not better: the output with 2 units in flight (267 / 418), 2 rows a warp
// (269 / 420), 2 warps a row (251 / 405), 4 units in flight (263 / 412).
static void gemv_q6k(gemv_set &set, int n_in, const uint8_t *xq, int epi, const gemv_epi &e) {
    const int n_out = set_rows(set);
    if (epi == EPI_RESNORM) launch_q6k<4, 1, 2, EPI_RESNORM>(set, n_in, xq, e);
    else if (n_out >= 32768) launch_q6k<4, 1, 1, EPI_PLAIN>(set, n_in, xq, e);
    else if (n_out <= 2048 && n_in > 2048) launch_q6k<4, 2, 2, EPI_PLAIN>(set, n_in, xq, e);
    else launch_q6k<4, 1, 2, EPI_PLAIN>(set, n_in, xq, e);
}

#include "backend/cuda/mmq.cuh"

// Q8_0/Q4_0 matrices (repacked layout) over n_tok tokens; x is quantized into
// scratch (ig_cuda_matmul_scratch bytes) first, unless a kernel left an int8
// copy of it (nq_tag, maybe a deferred norm's). glu: set holds gate (w[0])
// and up (w[1]) and out[0] gets silu(gate) * up (one token: and an int8 copy
// for the down projection). epi (one token): EPI_ROPE, set = Q/K/V, e->ra
// says where they go; EPI_RESNORM, one matrix, e->res and e->nw and e->eps
// given: the residual add and a deferred norm (out tagged). false if it does
// not apply (nothing launched). Q4_K for one token only (n_in a multiple of
// 256).
static bool matmul_int8(int type, gemv_set &set, int n_in, const float *x, int n_tok, bool glu, void *scratch,
                        int epi = EPI_PLAIN, const gemv_epi *e = NULL) {
    if (n_in % 32 || !scratch) return false;
    if (type != T_Q8_0 && type != T_Q4_0 && type != T_Q4_K && type != T_Q6_K) return false;
    if ((type == T_Q4_K || type == T_Q6_K) && (n_tok != 1 || n_in % 256)) return false;
    if (type == T_Q6_K && (glu || epi == EPI_ROPE)) return false; // (not in any model's mix: not built)
    if (mmq_applies(type, n_in, n_tok) && epi == EPI_PLAIN) { // a few tokens: tensor cores
        nq_resolve(x);
        type == T_Q8_0 ? mmq<T_Q8_0>(set, n_in, x, n_tok, glu, scratch) : mmq<T_Q4_0>(set, n_in, x, n_tok, glu, scratch);
        return true;
    }
    gemv_epi ge = e ? *e : gemv_epi{};
    const nq_tag *in = n_tok == 1 ? nq_find(x, n_in) : NULL;
    if (in && !in->q8) in = NULL; // (quantized here, once resolved)
    uint8_t *xq = in ? in->buf : (uint8_t *)scratch;
    if (in && in->ss) set.ss = in->ss, set.ss_n = in->ss_n, set.eps = in->eps;
    const bool glu_quant = glu && epi == EPI_PLAIN && type != T_Q4_K && type != T_Q6_K && epi_on();
    if (n_tok == 1 && (epi == EPI_RESNORM || glu_quant)) {
        if (epi == EPI_RESNORM) {
            if (!nq_claim_deferred(set.out[0], set.n_out[0], xq, &ge)) return false;
        } else if (nq_tag *t = nq_claim(set.out[0], set.n_out[0], xq)) {
            ge.xq = t->buf;
            epi = EPI_QUANT;
        }
    }
    if (!in) {
        nq_resolve(x);
        quant8_launch(false, x, xq, n_in, n_tok, n_tok);
    }
    if (type == T_Q8_0) gemv_dq<T_Q8_0>(set, n_in, xq, n_tok, glu, epi, ge);
    else if (type == T_Q4_0) gemv_dq<T_Q4_0>(set, n_in, xq, n_tok, glu, epi, ge);
    else if (type == T_Q4_K) gemv_q4k(set, n_in, xq, glu, epi, ge);
    else gemv_q6k(set, n_in, xq, epi, ge);
    return true;
}
