// gemv_int8.cuh - decode GEMV for Q8_0/Q4_0 weights against activations
// quantized to int8 on the fly (included by cuda_kernels.cu).
//
// Each block first quantizes the activations of its NT tokens into shared
// memory: blocks of 32 values with one float scale (absmax / 127) and the sum
// of the codes (Q4_0's -8 offset becomes -8 * sum). A lane then takes whole
// 32-weight blocks of R rows and multiplies four bytes at a time with dp4a:
// about one instruction per 4 multiply-adds instead of the ~5 per weight of
// the float kernel, which made decode instruction-bound rather than
// memory-bound. GLU: the R rows are gate/up pairs and the block writes
// silu(gate) * up directly (the SwiGLU of the MLP, one launch fewer).
// Results differ from the float path by the int8 rounding of activations
// (like the CPU SIMD kernels and llama.cpp's q8_1 path): ~1e-2 relative.
#define DQ_WARPS 8

// Activations quantized once per matmul into the matmul scratch: for each
// token, nb blocks of 32 int8 codes, then nb float scales (absmax / 127),
// then nb int sums of the codes (Q4_0's -8 offset becomes -8 * sum).
__host__ __device__ __forceinline__ size_t xq_token_bytes(int nb) { return ((size_t)nb * 40 + 15) & ~(size_t)15; }

extern "C" size_t ig_cuda_matmul_scratch(int n_tok, long long n_in) {
    // called when a context is made (never during graph capture): also size
    // the one-token buffer the norms quantize into
    const size_t one = xq_token_bytes((int)((n_in + 31) / 32));
    if (one > g_nq_cap) {
        ig_cuda_graph_reset(); // recorded steps may point at the old buffer
        if (g_nq) cudaFree(g_nq);
        g_nq = NULL;
        g_nq_cap = 0;
        if (cudaMalloc((void **)&g_nq, one) == cudaSuccess) g_nq_cap = one;
        else cudaGetLastError();
    }
    return (size_t)n_tok * one + 16;
}

// 8 threads per 32-value block, coalesced reads
__global__ void k_quant8(const float *x, uint8_t *xq, int n_in, int n_tok) {
    pdl_launch();
    pdl_wait();
    const int nb = n_in / 32, n4 = n_tok * nb * 8;
    const int i0 = blockIdx.x * blockDim.x; // whole warps take part in the shuffles
    if (i0 >= n4) return;
    const int i = i0 + threadIdx.x;
    const bool ok = i < n4;
    const int t = ok ? i / (nb * 8) : 0, j = ok ? i % (nb * 8) : 0;
    const float4 v = ok ? ((const float4 *)(x + (size_t)t * n_in))[j] : make_float4(0.f, 0.f, 0.f, 0.f);
    quant8_store(v, ok, xq + (size_t)t * xq_token_bytes(nb), nb, j);
}

template <int T> struct dq_traits {
    static constexpr int QB = T == T_Q8_0 ? 32 : 16; // quant bytes per block
    static constexpr int PF = T == T_Q8_0 ? 2 : 4;   // blocks of weight loads in flight per lane
};

// GEMV over the quantized activations xq. A lane takes whole 32-weight
// blocks of R rows; the activations are read through L1 (every warp of a
// block reads the same bytes), so there is no staging step and the weight
// loads start at once.
template <int T, int R, int NT, bool GLU>
__global__ void __launch_bounds__(DQ_WARPS * 32) k_gemv_dq(gemv_set set, int n_in, const uint8_t *xq, int n_tok) {
    constexpr int QB = dq_traits<T>::QB, PF = dq_traits<T>::PF, QV = QB / 16;
    constexpr int NR = GLU ? R / 2 : R; // output rows per warp
    const int nb = n_in / 32;
    const size_t ts = xq_token_bytes(nb);
    const int t0 = blockIdx.y * NT, nt = min(NT, n_tok - t0);
    const int lane = threadIdx.x % 32;
    pdl_launch();
    uint4 wq[PF][R][QV];
    uint16_t wd[PF][R];
    const uint8_t *q[R];
    const uint16_t *d[R];
#define DQ_ROWS(blk)                                                                           \
    int mi = 0;                                                                                \
    if (!GLU)                                                                                  \
        while (mi + 1 < set.n && (blk) >= set.first[mi + 1]) mi++;                             \
    const int n_out = set.n_out[mi];                                                           \
    const int row0 = (((blk) - set.first[mi]) * DQ_WARPS + threadIdx.x / 32) * NR;              \
    _Pragma("unroll") for (int r = 0; r < R; r++) {                                            \
        const int m = GLU ? r % 2 : mi;                                                        \
        const int row = min(row0 + (GLU ? r / 2 : r), n_out - 1);                              \
        q[r] = set.w[m] + (size_t)row * nb * QB;                                               \
        d[r] = (const uint16_t *)(set.w[m] + (size_t)n_out * nb * QB) + (size_t)row * nb;      \
    }
#define DQ_LOAD(p, b)                                                                          \
    _Pragma("unroll") for (int r = 0; r < R; r++) {                                            \
        _Pragma("unroll") for (int h = 0; h < QV; h++) wq[p][r][h] = ((const uint4 *)(q[r] + (size_t)(b) * QB))[h]; \
        wd[p][r] = d[r][b];                                                                    \
    }
    // the first weight loads do not depend on the previous kernel: issue
    // them before waiting for it (pdl_wait)
    if ((int)blockIdx.x < set.first[set.n]) {
        DQ_ROWS(blockIdx.x)
        if (row0 < n_out)
#pragma unroll
            for (int p = 0; p < PF; p++)
                if (lane + 32 * p < nb) DQ_LOAD(p, lane + 32 * p);
    }
    pdl_wait();

    // the grid may be smaller than the row blocks: a block then takes several
    for (int blk = blockIdx.x; blk < set.first[set.n]; blk += gridDim.x) {
        DQ_ROWS(blk)
        if (row0 >= n_out) continue;
        const int nr = min(NR, n_out - row0);
        if (blk != (int)blockIdx.x)
#pragma unroll
            for (int p = 0; p < PF; p++)
                if (lane + 32 * p < nb) DQ_LOAD(p, lane + 32 * p);

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
                    for (int r = 0; r < R; r++) {
                        int dot = 0;
                        if (T == T_Q4_0) {
                            const uint4 u = wq[p][r][0];
                            dot = __dp4a((int)(u.x & 0x0F0F0F0Fu), x0.x, dot);
                            dot = __dp4a((int)(u.y & 0x0F0F0F0Fu), x0.y, dot);
                            dot = __dp4a((int)(u.z & 0x0F0F0F0Fu), x0.z, dot);
                            dot = __dp4a((int)(u.w & 0x0F0F0F0Fu), x0.w, dot);
                            dot = __dp4a((int)((u.x >> 4) & 0x0F0F0F0Fu), x1.x, dot);
                            dot = __dp4a((int)((u.y >> 4) & 0x0F0F0F0Fu), x1.y, dot);
                            dot = __dp4a((int)((u.z >> 4) & 0x0F0F0F0Fu), x1.z, dot);
                            dot = __dp4a((int)((u.w >> 4) & 0x0F0F0F0Fu), x1.w, dot);
                            dot -= 8 * sx;
                        } else {
                            const uint4 u0 = wq[p][r][0], u1 = wq[p][r][QV - 1];
                            dot = __dp4a((int)u0.x, x0.x, dot);
                            dot = __dp4a((int)u0.y, x0.y, dot);
                            dot = __dp4a((int)u0.z, x0.z, dot);
                            dot = __dp4a((int)u0.w, x0.w, dot);
                            dot = __dp4a((int)u1.x, x1.x, dot);
                            dot = __dp4a((int)u1.y, x1.y, dot);
                            dot = __dp4a((int)u1.z, x1.z, dot);
                            dot = __dp4a((int)u1.w, x1.w, dot);
                        }
                        acc[t][r] += h_to_f(wd[p][r]) * dx * (float)dot;
                    }
                }
                if (b + 32 * PF < nb) DQ_LOAD(p, b + 32 * PF);
            }
        }
#pragma unroll
        for (int t = 0; t < NT; t++)
#pragma unroll
            for (int r = 0; r < R; r++) acc[t][r] = warp_sum(acc[t][r]);
        if (lane != 0) continue;
#pragma unroll
        for (int t = 0; t < NT; t++) {
            if (t >= nt) break;
#pragma unroll
            for (int o = 0; o < NR; o++) {
                if (o >= nr) break;
                float v = acc[t][o];
                if (GLU) {
                    const float g = acc[t][2 * o], u = acc[t][2 * o + 1];
                    v = g / (1.f + expf(-g)) * u;
                }
                set.out[mi][(size_t)(t0 + t) * n_out + row0 + o] = v;
            }
        }
    }
#undef DQ_ROWS
#undef DQ_LOAD
}

// launch over `set` for n_tok tokens (chunks of NT)
template <int T, int R, int NT, bool GLU> static void launch_dq(gemv_set &set, int n_in, const uint8_t *xq, int n_tok) {
    const int rows_per_block = DQ_WARPS * (GLU ? R / 2 : R);
    set.first[0] = 0;
    for (int i = 0; i < set.n; i++) set.first[i + 1] = set.first[i] + (set.n_out[i] + rows_per_block - 1) / rows_per_block;
    // one token: at most 3 blocks per multiprocessor (more fit only one wave
    // with 80 registers per thread); more row blocks loop
    static int max_blocks = 0;
    if (!max_blocks) {
        int dev = 0, sms = 0;
        CK(cudaGetDevice(&dev));
        CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
        max_blocks = 3 * sms;
    }
    dim3 grid(NT == 1 ? min(set.first[set.n], max_blocks) : set.first[set.n], (n_tok + NT - 1) / NT);
    launch_pdl(k_gemv_dq<T, R, NT, GLU>, grid, DQ_WARPS * 32, 0, set, n_in, xq, n_tok);
}

// Two rows per warp: measured against 4 rows, against registers capped for
// 4 blocks per multiprocessor, and against half the loads in flight (60
// registers, 4 blocks per multiprocessor) with or without the grid cap: all
// slower or level on an H100 (bench/gpu-h100-latest.md).
template <int T> static void gemv_dq(gemv_set &set, int n_in, const uint8_t *xq, int n_tok, bool glu) {
    if (n_tok == 1) glu ? launch_dq<T, 2, 1, true>(set, n_in, xq, 1) : launch_dq<T, 2, 1, false>(set, n_in, xq, 1);
    else glu ? launch_dq<T, 2, 8, true>(set, n_in, xq, n_tok) : launch_dq<T, 2, 8, false>(set, n_in, xq, n_tok);
}

// One-token GEMV helpers shared by the Q4_K and F16/BF16 kernels: the
// matrix of a row block (always 0 for GLU, whose rows are gate/up pairs) and
// this warp's first output row; lane 0's write of the warp's outputs.
__device__ __forceinline__ int set_row0(const gemv_set &set, int blk, int warps, int nr, bool glu, int *mi) {
    int m = 0;
    if (!glu)
        while (m + 1 < set.n && blk >= set.first[m + 1]) m++;
    *mi = m;
    return ((blk - set.first[m]) * warps + threadIdx.x / 32) * nr;
}
template <int R, bool GLU> __device__ __forceinline__ void set_write(const gemv_set &set, int mi, int row0, const float *acc) {
#pragma unroll
    for (int o = 0; o < (GLU ? R / 2 : R); o++) {
        if (row0 + o >= set.n_out[mi]) break;
        set.out[mi][row0 + o] = GLU ? acc[2 * o] / (1.f + expf(-acc[2 * o])) * acc[2 * o + 1] : acc[o];
    }
}

// Q4_K, one token: weights as stored (144-byte super-blocks of 256: d, dmin,
// 12 bytes of 6-bit sub-block scales and mins, 128 bytes of nibbles). A lane
// takes a quarter super-block (32 bytes: the low nibbles are sub-block 2c,
// the high ones 2c + 1), four lanes share the header; per sub-block j the
// weight is d sc_j q - dmin m_j, so against int8 activations (scale dx,
// code sum sx) it adds d sc_j dx dot_j - dmin m_j dx sx.
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

template <int R, bool GLU>
__global__ void __launch_bounds__(DQ_WARPS * 32) k_gemv_q4k(gemv_set set, int n_in, const uint8_t *xq) {
    const int nb = n_in / 32, nsb = n_in / 256, lane = threadIdx.x % 32;
    const int8_t *xc = (const int8_t *)xq;
    const float *xd = (const float *)(xq + (size_t)nb * 32);
    const int *xs = (const int *)(xq + (size_t)nb * 36);
    pdl_launch();
    pdl_wait();
    for (int blk = blockIdx.x; blk < set.first[set.n]; blk += gridDim.x) {
        int mi;
        const int row0 = set_row0(set, blk, DQ_WARPS, GLU ? R / 2 : R, GLU, &mi), n_out = set.n_out[mi];
        if (row0 >= n_out) continue;
        const uint8_t *wr[R];
#pragma unroll
        for (int r = 0; r < R; r++) {
            const int m = GLU ? r % 2 : mi;
            wr[r] = set.w[m] + (size_t)min(row0 + (GLU ? r / 2 : r), n_out - 1) * nsb * 144;
        }
        float acc[R];
#pragma unroll
        for (int r = 0; r < R; r++) acc[r] = 0.f;
#pragma unroll 2
        for (int u = lane; u < 4 * nsb; u += 32) {
            const int sb = u / 4, c = u % 4, j0 = sb * 8 + 2 * c;
            uint4 h[R], q0[R], q1[R];
#pragma unroll
            for (int r = 0; r < R; r++) {
                const uint4 *b = (const uint4 *)(wr[r] + (size_t)sb * 144);
                h[r] = __ldg(b);
                q0[r] = __ldg(b + 1 + 2 * c);
                q1[r] = __ldg(b + 2 + 2 * c);
            }
            const int4 a0 = __ldg((const int4 *)(xc + (size_t)j0 * 32)), a1 = __ldg((const int4 *)(xc + (size_t)j0 * 32) + 1);
            const int4 b0 = __ldg((const int4 *)(xc + (size_t)j0 * 32) + 2), b1 = __ldg((const int4 *)(xc + (size_t)j0 * 32) + 3);
            const float dx0 = __ldg(xd + j0), dx1 = __ldg(xd + j0 + 1);
            const int sx0 = __ldg(xs + j0), sx1 = __ldg(xs + j0 + 1);
#pragma unroll
            for (int r = 0; r < R; r++) {
                const uint32_t m4 = 0x0F0F0F0Fu;
                int d0 = 0, d1 = 0;
                d0 = __dp4a((int)(q0[r].x & m4), a0.x, d0);
                d0 = __dp4a((int)(q0[r].y & m4), a0.y, d0);
                d0 = __dp4a((int)(q0[r].z & m4), a0.z, d0);
                d0 = __dp4a((int)(q0[r].w & m4), a0.w, d0);
                d0 = __dp4a((int)(q1[r].x & m4), a1.x, d0);
                d0 = __dp4a((int)(q1[r].y & m4), a1.y, d0);
                d0 = __dp4a((int)(q1[r].z & m4), a1.z, d0);
                d0 = __dp4a((int)(q1[r].w & m4), a1.w, d0);
                d1 = __dp4a((int)((q0[r].x >> 4) & m4), b0.x, d1);
                d1 = __dp4a((int)((q0[r].y >> 4) & m4), b0.y, d1);
                d1 = __dp4a((int)((q0[r].z >> 4) & m4), b0.z, d1);
                d1 = __dp4a((int)((q0[r].w >> 4) & m4), b0.w, d1);
                d1 = __dp4a((int)((q1[r].x >> 4) & m4), b1.x, d1);
                d1 = __dp4a((int)((q1[r].y >> 4) & m4), b1.y, d1);
                d1 = __dp4a((int)((q1[r].z >> 4) & m4), b1.z, d1);
                d1 = __dp4a((int)((q1[r].w >> 4) & m4), b1.w, d1);
                int sc0, m0, sc1, m1;
                q4k_sm(h[r], 2 * c, &sc0, &m0);
                q4k_sm(h[r], 2 * c + 1, &sc1, &m1);
                const float d = h_to_f((uint16_t)(h[r].x & 0xffff)), dmin = h_to_f((uint16_t)(h[r].x >> 16));
                acc[r] += d * (dx0 * (float)(sc0 * d0) + dx1 * (float)(sc1 * d1)) -
                          dmin * (dx0 * (float)(m0 * sx0) + dx1 * (float)(m1 * sx1));
            }
        }
#pragma unroll
        for (int r = 0; r < R; r++) acc[r] = warp_sum(acc[r]);
        if (lane == 0) set_write<R, GLU>(set, mi, row0, acc);
    }
}

static void gemv_q4k(gemv_set &set, int n_in, const uint8_t *xq, bool glu) {
    const int rows_per_block = DQ_WARPS * (glu ? 1 : 2);
    set.first[0] = 0;
    for (int i = 0; i < set.n; i++) set.first[i + 1] = set.first[i] + (set.n_out[i] + rows_per_block - 1) / rows_per_block;
    if (glu) launch_pdl(k_gemv_q4k<2, true>, set.first[set.n], DQ_WARPS * 32, 0, set, n_in, xq);
    else launch_pdl(k_gemv_q4k<2, false>, set.first[set.n], DQ_WARPS * 32, 0, set, n_in, xq);
}

// Q8_0/Q4_0 matrices (repacked layout) over n_tok tokens; x is quantized into
// scratch (ig_cuda_matmul_scratch bytes) first. glu: set holds gate (w[0])
// and up (w[1]) and out[0] gets silu(gate) * up. false if it does not apply.
// Q4_K for one token only (its n_in a multiple of 256).
static bool matmul_int8(int type, gemv_set &set, int n_in, const float *x, int n_tok, bool glu, void *scratch) {
    if (n_in % 32 || (type != T_Q8_0 && type != T_Q4_0 && type != T_Q4_K) || !scratch) return false;
    if (type == T_Q4_K && (n_tok != 1 || n_in % 256)) return false;
    uint8_t *xq = (uint8_t *)scratch;
    if (n_tok == 1 && x == g_nq_src && n_in == g_nq_n) xq = g_nq; // quantized by the norm that wrote x
    else {
        const int threads = n_tok * (n_in / 32) * 8;
        launch_pdl(k_quant8, (threads + 255) / 256, 256, 0, x, xq, n_in, n_tok);
    }
    if (type == T_Q8_0) gemv_dq<T_Q8_0>(set, n_in, xq, n_tok, glu);
    else if (type == T_Q4_0) gemv_dq<T_Q4_0>(set, n_in, xq, n_tok, glu);
    else gemv_q4k(set, n_in, xq, glu);
    return true;
}
