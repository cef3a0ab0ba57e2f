// mmq.cuh - batched decode's 2 to 32 tokens (up to 64) through Q8_0/Q4_0
// weights on int8 tensor cores (included by gemv_int8.cuh). Through cuBLAS
// that multiply reads the FP16 copy of the weights (3.6x the bytes of Q4_0)
// at ~1.6 TB/s; here the weights are read as stored, once for all tokens,
// and multiplied with mma.sync m16n8k32 (int8 x int8 -> int32) one 32-weight
// block at a time, each block's int32 result scaled by its weight scale and
// the token's activation scale, as the one-token int8 GEMV does (the same
// rounding of activations to int8).
//
// A block of MMQ_W warps owns 16 * MMQ_W rows (GLU: 8 * MMQ_W gate/up
// pairs) and every token (n_tp, a multiple of 8). Its threads copy chunks of
// MMQ_KC blocks of those rows (quants and scales) and the activations of the
// same blocks into a ring of MMQ_NS shared-memory stages with cp.async, 16
// bytes a copy, whole rows at a time; the warps read their fragments from
// there (a first version read them straight from global memory, 4 bytes
// from each of 16 rows at a time, every warp reloading the activations: it
// lost to cuBLAS past 16 tokens). The weight copies of the first stages are
// issued before waiting for the previous kernel (pdl_wait). Matrices with
// few row tiles split their blocks over gridDim.z blocks, which add their
// sums into the output; the quantize launch before zeroes it
// (quant8_launch's zero list).
//
// Fragments (lane = 4 g + t): A rows g and g + 8 of the warp's 16 (GLU: gate
// and up row of output g), bytes 4t..4t+3 (a0, a1) and 16+4t.. (a2, a3) of a
// block; B token g of a tile of 8, codes 4t.. and 16+4t.. (k_quant8<true>
// stores them in that order: lane t's 8 bytes at 8t); C rows g, g + 8 x
// tokens 2t, 2t + 1.
#define MMQ_W 4
#define MMQ_KC 8
#define MMQ_NS 3

template <bool U8> __device__ __forceinline__ void mma_i8(int (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                                          uint32_t b0, uint32_t b1) {
    if (U8)
        asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                     : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    else
        asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                     : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void cp_async16(void *dst, const void *src) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async4(void *dst, const void *src) {
    const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(s), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit(void) { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N> __device__ __forceinline__ void cp_async_wait(void) {
    asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}

// One stage's layout: quants of the block's rows (RS bytes a row: MMQ_KC
// blocks and 16 bytes of padding, so that the 8 rows a warp reads at once
// fall in different banks), their scales, the activation codes of n_tp
// tokens per block (k_quant8<true>'s order) and their (scale, sum) pairs.
template <int T, int NJ> struct mmq_stage {
    static constexpr int QB = T == T_Q8_0 ? 32 : 16, ROWS = 16 * MMQ_W, NTP = 8 * NJ;
    static constexpr int RS = MMQ_KC * QB + 16;
    static constexpr int WQ = 0, WD = WQ + ROWS * RS, XC = WD + ROWS * MMQ_KC * 2, XD = XC + MMQ_KC * NTP * 32;
    static constexpr int BYTES = XD + MMQ_KC * NTP * 8;
};

template <int T, int NJ, bool GLU, bool SPLIT>
__global__ void __launch_bounds__(MMQ_W * 32) k_mmq(gemv_set set, int n_in, const uint8_t *xq, int n_tok) {
    TRACE(TR_MMQ);
    using S = mmq_stage<T, NJ>;
    constexpr int QB = S::QB, ROWS = S::ROWS, NTP = S::NTP, TH = MMQ_W * 32;
    extern __shared__ __align__(16) uint8_t sm[];
    __shared__ const uint8_t *rq[ROWS];
    __shared__ const uint8_t *rd[ROWS];
    const int nb = n_in / 32, tid = threadIdx.x, lane = tid % 32, warp = tid / 32, g = lane / 4, t = lane % 4;
    int mi;
    const int r0 = set_row0(set, blockIdx.x, 1, 0, GLU ? ROWS / 2 : ROWS, GLU, &mi), n_out = set.n_out[mi];
    // where each of the block's rows starts (rows past the matrix: its last
    // row, never written); GLU: rows 16 w .. 16 w + 7 gate, the next 8 up
    if (tid < ROWS) {
        const int m = GLU ? (tid / 8) % 2 : mi;
        const int row = min(GLU ? r0 + 8 * (tid / 16) + tid % 8 : r0 + tid, n_out - 1);
        rq[tid] = set.w[m] + (size_t)row * nb * QB;
        rd[tid] = set.w[m] + (size_t)n_out * nb * QB + (size_t)row * nb * 2;
    }
    __syncthreads();
    pdl_launch();
    // this block's chunks of MMQ_KC blocks: a share of them when split
    const int n_ch = (nb + MMQ_KC - 1) / MMQ_KC, per = (n_ch + gridDim.z - 1) / gridDim.z;
    const int c0 = blockIdx.z * per, c1 = min(n_ch, c0 + per);
    auto load_w = [&](int st, int c) {
        uint8_t *b = sm + st * S::BYTES;
        const int k0 = c * MMQ_KC;
        constexpr int CPR = MMQ_KC * QB / 16; // 16-byte copies per row
#pragma unroll
        for (int i = tid; i < ROWS * CPR; i += TH) {
            const int row = i / CPR, p = i % CPR, k = min(k0 + p / (QB / 16), nb - 1);
            cp_async16(b + S::WQ + row * S::RS + p * 16, rq[row] + (size_t)k * QB + (p % (QB / 16)) * 16);
        }
#pragma unroll
        for (int i = tid; i < ROWS * MMQ_KC / 2; i += TH) { // scales, 2 blocks (4 bytes) a copy
            const int row = i / (MMQ_KC / 2), p = i % (MMQ_KC / 2), k = min(k0 + 2 * p, nb - 2);
            cp_async4(b + S::WD + row * MMQ_KC * 2 + p * 4, rd[row] + (size_t)k * 2);
        }
    };
    auto load_x = [&](int st, int c) {
        uint8_t *b = sm + st * S::BYTES;
        const int k0 = c * MMQ_KC;
#pragma unroll
        for (int i = tid; i < MMQ_KC * NTP * 2; i += TH) {
            const int kb = i / (NTP * 2), p = i % (NTP * 2), k = min(k0 + kb, nb - 1);
            cp_async16(b + S::XC + i * 16, xq + (size_t)k * NTP * 32 + p * 16);
        }
#pragma unroll
        for (int i = tid; i < MMQ_KC * NTP / 2; i += TH) {
            const int kb = i / (NTP / 2), p = i % (NTP / 2), k = min(k0 + kb, nb - 1);
            cp_async16(b + S::XD + i * 16, xq + (size_t)nb * NTP * 32 + (size_t)k * NTP * 8 + p * 16);
        }
    };
    // the weights of the first stages do not depend on the previous kernel
#pragma unroll
    for (int s = 0; s < MMQ_NS - 1; s++)
        if (c0 + s < c1) load_w(s, c0 + s);
    pdl_wait();
#pragma unroll
    for (int s = 0; s < MMQ_NS - 1; s++) {
        if (c0 + s < c1) load_x(s, c0 + s);
        cp_async_commit();
    }

    float acc[NJ][4];
#pragma unroll
    for (int j = 0; j < NJ; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
    const int ra = 16 * warp + g, rb = ra + 8; // the lane's A rows within the tile
    for (int c = c0; c < c1; c++) {
        cp_async_wait<MMQ_NS - 2>();
        __syncthreads(); // chunk c is in; every warp is done with chunk c - 1's stage
        const int nxt = c + MMQ_NS - 1;
        if (nxt < c1) {
            load_w((nxt - c0) % MMQ_NS, nxt);
            load_x((nxt - c0) % MMQ_NS, nxt);
        }
        cp_async_commit();
        const uint8_t *b = sm + ((c - c0) % MMQ_NS) * S::BYTES;
        const int kn = min(MMQ_KC, nb - c * MMQ_KC);
#pragma unroll
        for (int kk = 0; kk < MMQ_KC; kk++) {
            if (kk >= kn) break;
            uint32_t a0, a1, a2, a3;
            const uint8_t *qa = b + S::WQ + ra * S::RS + kk * QB + 4 * t, *qb = qa + 8 * S::RS;
            if (T == T_Q4_0) { // nibbles as stored (0..15): the -8 comes off with the code sums
                const uint32_t ua = *(const uint32_t *)qa, ub = *(const uint32_t *)qb;
                a0 = ua & 0x0F0F0F0Fu, a2 = (ua >> 4) & 0x0F0F0F0Fu;
                a1 = ub & 0x0F0F0F0Fu, a3 = (ub >> 4) & 0x0F0F0F0Fu;
            } else {
                a0 = *(const uint32_t *)qa, a2 = *(const uint32_t *)(qa + 16);
                a1 = *(const uint32_t *)qb, a3 = *(const uint32_t *)(qb + 16);
            }
            const uint16_t *wd = (const uint16_t *)(b + S::WD);
            const float da = h_to_f(wd[ra * MMQ_KC + kk]), db = h_to_f(wd[rb * MMQ_KC + kk]);
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                const uint2 x = *(const uint2 *)(b + S::XC + ((kk * NTP + 8 * j + g) * 32 + 8 * t));
                const float4 s = *(const float4 *)(b + S::XD + ((kk * NTP + 8 * j) / 2 + t) * 16);
                int cc[4] = {0, 0, 0, 0};
                mma_i8<T == T_Q4_0>(cc, a0, a1, a2, a3, x.x, x.y);
                const float o0 = T == T_Q4_0 ? 8.f * s.y : 0.f, o1 = T == T_Q4_0 ? 8.f * s.w : 0.f;
                acc[j][0] += da * s.x * ((float)cc[0] - o0);
                acc[j][1] += da * s.z * ((float)cc[1] - o1);
                acc[j][2] += db * s.x * ((float)cc[2] - o0);
                acc[j][3] += db * s.z * ((float)cc[3] - o1);
            }
        }
    }
    cp_async_wait<0>();
    float *out = set.out[mi];
    const float *bias = blockIdx.z == 0 ? set.bias[mi] : NULL;
#pragma unroll
    for (int j = 0; j < NJ; j++)
#pragma unroll
        for (int h = 0; h < 2; h++) { // tokens 2t, 2t + 1 of tile j
            const int tok = 8 * j + 2 * t + h;
            if (tok >= n_tok) continue;
            float *o = out + (size_t)tok * n_out;
            if (GLU) {
                const int row = r0 + 8 * warp + g;
                const float gt = acc[j][h], up = acc[j][2 + h];
                if (row < n_out) o[row] = gt / (1.f + expf(-gt)) * up;
            } else {
                const int row = r0 + ra;
                const float v0 = acc[j][h] + (bias && row < n_out ? bias[row] : 0.f);
                const float v1 = acc[j][2 + h] + (bias && row + 8 < n_out ? bias[row + 8] : 0.f);
                if (SPLIT) {
                    if (row < n_out) atomicAdd(o + row, v0);
                    if (row + 8 < n_out) atomicAdd(o + row + 8, v1);
                } else {
                    if (row < n_out) o[row] = v0;
                    if (row + 8 < n_out) o[row + 8] = v1;
                }
            }
        }
}

template <int T, int NJ, bool GLU, bool SPLIT>
static void launch_mmq(gemv_set &set, int n_in, const uint8_t *xq, int n_tok, int split) {
    constexpr size_t smem = (size_t)MMQ_NS * mmq_stage<T, NJ>::BYTES;
    static bool attr = false;
    if (!attr) {
        CK(cudaFuncSetAttribute(k_mmq<T, NJ, GLU, SPLIT>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        attr = true;
    }
    const dim3 grid(set_blocks(set, GLU ? 8 * MMQ_W : 16 * MMQ_W), 1, split);
    launch_pdl(k_mmq<T, NJ, GLU, SPLIT>, grid, MMQ_W * 32, smem, set, n_in, xq, n_tok);
}

// How many blocks share a matrix's row tiles: enough blocks for the GPU
// (about one per multiprocessor), at least 2 chunks each; 1 for GLU (its
// SwiGLU needs the whole sums).
static int mmq_split(const gemv_set &set, int n_in, bool glu) {
    static int sms = 0;
    if (!sms) {
        int dev = 0;
        if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
            sms = 100;
    }
    if (glu) return 1;
    const int tiles = (set_rows(set) + 16 * MMQ_W - 1) / (16 * MMQ_W), n_ch = (n_in / 32 + MMQ_KC - 1) / MMQ_KC;
    if (tiles >= sms * 3 / 4) return 1;
    return IG_MAX(1, IG_MIN((sms + tiles - 1) / tiles, n_ch / 2));
}

template <int T, int NJ>
static void mmq_nj(gemv_set &set, int n_in, const uint8_t *xq, int n_tok, bool glu, int split) {
    if (glu) launch_mmq<T, NJ, true, false>(set, n_in, xq, n_tok, 1);
    else if (split > 1) launch_mmq<T, NJ, false, true>(set, n_in, xq, n_tok, split);
    else launch_mmq<T, NJ, false, false>(set, n_in, xq, n_tok, 1);
}

// whether the kernel takes n_tok tokens of a Q8_0/Q4_0 matrix of n_in
// inputs (pairs of blocks share a 4-byte scale copy: n_in a multiple of 64).
// INGOT_CUDA_MMQ=N: up to N tokens (at most 64), 0: never. Measured on an
// H100 (Llama-3.2-1B Q4_0, aggregate t/s of N sequences, cuBLAS on the FP16
// copy from 16 tokens and the dp4a GEMV below / this kernel): 8: 5547 /
// 7915, 16: 10,120 / 12,972, 24: 13,016 / 14,603, 32: 16,341 / 18,444, 40:
// 19,292 / 18,081, 64: 26,434 / 23,456. So 32 by default.
static bool mmq_applies(int type, int n_in, int n_tok) {
    static int max_tok = -1;
    if (max_tok < 0) max_tok = getenv("INGOT_CUDA_MMQ") ? IG_MIN(64, atoi(getenv("INGOT_CUDA_MMQ"))) : 32;
    return (type == T_Q8_0 || type == T_Q4_0) && n_tok >= 2 && n_tok <= max_tok && n_in % 64 == 0;
}

// quantize x (n_tok tokens) into scratch, zeroing the outputs first when
// blocks split the rows' sums, and multiply
template <int T> static void mmq(gemv_set &set, int n_in, const float *x, int n_tok, bool glu, void *scratch) {
    const int nj = (n_tok + 7) / 8, split = mmq_split(set, n_in, glu);
    // token tiles: 8 a tile, in steps of 1 to 4 tiles, then 6 and 8
    const int njt = nj <= 4 ? nj : nj <= 6 ? 6 : 8, n_tp = 8 * njt;
    uint8_t *xq = (uint8_t *)scratch;
    zero_list z = {};
    if (split > 1)
        for (int i = 0; i < set.n; i++) z.p[i] = set.out[i], z.n[i] = (size_t)n_tok * set.n_out[i], z.cnt = i + 1;
    quant8_launch(true, x, xq, n_in, n_tok, n_tp, &z);
    switch (njt) {
    case 1: mmq_nj<T, 1>(set, n_in, xq, n_tok, glu, split); break;
    case 2: mmq_nj<T, 2>(set, n_in, xq, n_tok, glu, split); break;
    case 3: mmq_nj<T, 3>(set, n_in, xq, n_tok, glu, split); break;
    case 4: mmq_nj<T, 4>(set, n_in, xq, n_tok, glu, split); break;
    case 6: mmq_nj<T, 6>(set, n_in, xq, n_tok, glu, split); break;
    default: mmq_nj<T, 8>(set, n_in, xq, n_tok, glu, split); break;
    }
}
