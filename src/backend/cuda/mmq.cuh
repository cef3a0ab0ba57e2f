// mmq.cuh - batched decode's 2 to 64 tokens through Q8_0/Q4_0 weights on
// tensor cores (included by gemv_int8.cuh). Through cuBLAS that multiply
// reads the FP16 copy of the weights (3.6x the bytes of Q4_0) at ~1.6 TB/s;
// here the weights are read as stored, once for all tokens.
//
// A block of MMQ_W x MMQ_KW warps owns 16 * MMQ_W rows (GLU: 8 * MMQ_W
// gate/up pairs) and every token (n_tp, a multiple of 8). Its threads copy
// chunks of MMQ_KC blocks of those rows (quants and scales) and the
// activations of the same blocks into a ring of MMQ_NS shared-memory stages
// with cp.async, 16 bytes a copy; the MMQ_KW warps of a row tile take
// alternate blocks of a chunk and add up at the end. The weight copies of
// the first stages are issued before waiting for the previous kernel
// (pdl_wait). Matrices with few row tiles split their blocks over gridDim.z
// blocks, each storing its sums in a slot (g_mmq_part); k_mmq_sum, or the
// residual add + norm that follows (norm4), adds the slots up in a fixed
// order, so that the results do not depend on which block ends when.
//
// Two ways to multiply a 32-weight block, by the number of tokens:
// - int8 (up to 16 tokens): activations quantized to int8 as for the
//   one-token GEMV (same rounding), one mma.sync m16n8k32 s8/u8 x s8 -> s32
//   per block and 8 tokens, each int32 result scaled by the weight and
//   activation scales in FP32. A lane of a row tile (lane = 4 g + t) holds
//   rows g and g + 8, bytes 4t..4t+3 and 16+4t.. of a block; token g of a
//   tile of 8, codes 4t.. and 16+4t.. (k_quant8<true> stores them so:
//   lane t's 8 bytes at 8t); results rows g, g + 8 x tokens 2t, 2t + 1.
// - FP16 (H, 17 tokens on): activations in FP16 (k_x16_mmq), the weights
//   turned into FP16 pairs times their scale in registers (w_pair), two
//   mma.sync m16n8k16 f16 x f16 -> f32 per block and 8 tokens, the sums
//   kept in the mma's FP32 accumulators: no per-block scaling, which made
//   the int8 way instruction-bound at 32 tokens (ncu: 44 instructions per
//   mma, the FMA pipe busiest, half the issue slots idle). Lane (g, t):
//   weights 2t, 2t + 1, 8 + 2t, 9 + 2t (then the same + 16) of rows g and
//   g + 8, token g's values in the same order; results as above.
#define MMQ_W 4
#define MMQ_KW 2
#define MMQ_KC 8
#define MMQ_NS 3

// c = a b (the accumulator input is zero: no registers to clear first)
template <bool U8> __device__ __forceinline__ void mma_i8(int (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                                          uint32_t b0, uint32_t b1) {
    if (U8)
        asm("mma.sync.aligned.m16n8k32.row.col.s32.u8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%10,%10,%10};"
            : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])
            : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "r"(0));
    else
        asm("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%10,%10,%10,%10};"
            : "=r"(c[0]), "=r"(c[1]), "=r"(c[2]), "=r"(c[3])
            : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1), "r"(0));
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
// tokens per block (k_quant8<true>'s order) and their (scale, sum) pairs;
// H: the activations in FP16 instead (64 bytes a token and block,
// k_x16_mmq's order), no scales.
template <int T, int NJ, bool H> struct mmq_stage {
    static constexpr int QB = T == T_Q8_0 ? 32 : 16, ROWS = 16 * MMQ_W, NTP = 8 * NJ;
    static constexpr int RS = MMQ_KC * QB + 16, XB = H ? 64 : 32;
    static constexpr int WQ = 0, WD = WQ + ROWS * RS, XC = WD + ROWS * MMQ_KC * 2, XD = XC + MMQ_KC * NTP * XB;
    static constexpr int BYTES = XD + (H ? 0 : MMQ_KC * NTP * 8);
};

// c += a b in FP16 with FP32 sums (m16n8k16)
__device__ __forceinline__ void mma_h(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0,
                                      uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}
// Two weights as an FP16 pair times their block's scale d2: bytes h2, h2 + 1
// of u (h2 = 0 or 2) are the codes, OFS = 1032 (Q4_0 nibbles, stored + 8)
// or 1152 (Q8_0 bytes with the sign bit flipped). Each byte goes into the
// low bits of 0x6400 (FP16 1024), so the pair is 1024 + code exactly;
// subtracting OFS is exact too, and the product rounds once.
template <int OFS> __device__ __forceinline__ uint32_t w_pair(uint32_t u, uint32_t sel, __half2 d2) {
    const uint32_t p = __byte_perm(u, 0x64646464u, sel);
    const __half2 v = __hsub2(*(const __half2 *)&p, __half2half2(__ushort_as_half((unsigned short)(OFS == 1032 ? 0x6408 : 0x6480))));
    const __half2 r = __hmul2(v, d2);
    return *(const uint32_t *)&r;
}

// Block kk of a stage b times every token, added into acc: the lane's rows
// ra and ra + 8 of the tile (lane = 4 g + t; see the top of the file).
// int8 activations: each block's int32 result scaled by the weight and
// activation scales (Q4_0's nibbles as stored, 0..15: the -8 comes off with
// the code sums).
template <int T, int NJ>
__device__ __forceinline__ void mmq_block_i8(const uint8_t *b, int kk, int ra, int g, int t, float (&acc)[NJ][4]) {
    using S = mmq_stage<T, NJ, false>;
    const uint8_t *qa = b + S::WQ + ra * S::RS + kk * S::QB + 4 * t, *qb = qa + 8 * S::RS;
    uint32_t a0, a1, a2, a3;
    if (T == T_Q4_0) {
        const uint32_t ua = *(const uint32_t *)qa, ub = *(const uint32_t *)qb;
        a0 = ua & 0x0F0F0F0Fu, a2 = (ua >> 4) & 0x0F0F0F0Fu;
        a1 = ub & 0x0F0F0F0Fu, a3 = (ub >> 4) & 0x0F0F0F0Fu;
    } else {
        a0 = *(const uint32_t *)qa, a2 = *(const uint32_t *)(qa + 16);
        a1 = *(const uint32_t *)qb, a3 = *(const uint32_t *)(qb + 16);
    }
    const uint16_t *wd = (const uint16_t *)(b + S::WD);
    const float da = h_to_f(wd[ra * MMQ_KC + kk]), db = h_to_f(wd[(ra + 8) * MMQ_KC + kk]);
#pragma unroll
    for (int j = 0; j < NJ; j++) {
        const uint2 x = *(const uint2 *)(b + S::XC + ((kk * S::NTP + 8 * j + g) * 32 + 8 * t));
        const float4 s = *(const float4 *)(b + S::XD + ((kk * S::NTP + 8 * j) / 2 + t) * 16); // tokens 2t, 2t + 1
        int c[4];
        mma_i8<T == T_Q4_0>(c, a0, a1, a2, a3, x.x, x.y);
        const float o0 = T == T_Q4_0 ? 8.f * s.y : 0.f, o1 = T == T_Q4_0 ? 8.f * s.w : 0.f;
        acc[j][0] += da * s.x * ((float)c[0] - o0);
        acc[j][1] += da * s.z * ((float)c[1] - o1);
        acc[j][2] += db * s.x * ((float)c[2] - o0);
        acc[j][3] += db * s.z * ((float)c[3] - o1);
    }
}
// FP16 activations: the weights turned into FP16 times their scale, two
// m16n8k16 per block; the lane's A words hold bytes 2t, 2t + 1 of each 8
// (half t % 2 of words t / 2, 2 + t / 2, ...).
template <int T, int NJ>
__device__ __forceinline__ void mmq_block_h(const uint8_t *b, int kk, int ra, int g, int t, float (&acc)[NJ][4]) {
    using S = mmq_stage<T, NJ, true>;
    const uint8_t *qa = b + S::WQ + ra * S::RS + kk * S::QB + 4 * (t / 2), *qb = qa + 8 * S::RS;
    const uint16_t *wd = (const uint16_t *)(b + S::WD);
    const __half2 da = __half2half2(__ushort_as_half(wd[ra * MMQ_KC + kk]));
    const __half2 db = __half2half2(__ushort_as_half(wd[(ra + 8) * MMQ_KC + kk]));
    const uint32_t sel = t % 2 ? 0x4342u : 0x4140u;
    uint32_t fa[2][4]; // A fragments of weights 0-15 and 16-31
    if (T == T_Q4_0) { // low nibbles: weights 0-15, high: 16-31
        const uint32_t m = 0x0F0F0F0Fu;
        const uint32_t ua = *(const uint32_t *)qa, ua8 = *(const uint32_t *)(qa + 8);
        const uint32_t ub = *(const uint32_t *)qb, ub8 = *(const uint32_t *)(qb + 8);
        fa[0][0] = w_pair<1032>(ua & m, sel, da), fa[0][1] = w_pair<1032>(ub & m, sel, db);
        fa[0][2] = w_pair<1032>(ua8 & m, sel, da), fa[0][3] = w_pair<1032>(ub8 & m, sel, db);
        fa[1][0] = w_pair<1032>((ua >> 4) & m, sel, da), fa[1][1] = w_pair<1032>((ub >> 4) & m, sel, db);
        fa[1][2] = w_pair<1032>((ua8 >> 4) & m, sel, da), fa[1][3] = w_pair<1032>((ub8 >> 4) & m, sel, db);
    } else {
        const uint32_t f = 0x80808080u;
#pragma unroll
        for (int h = 0; h < 2; h++) {
            fa[h][0] = w_pair<1152>(*(const uint32_t *)(qa + 16 * h) ^ f, sel, da);
            fa[h][1] = w_pair<1152>(*(const uint32_t *)(qb + 16 * h) ^ f, sel, db);
            fa[h][2] = w_pair<1152>(*(const uint32_t *)(qa + 16 * h + 8) ^ f, sel, da);
            fa[h][3] = w_pair<1152>(*(const uint32_t *)(qb + 16 * h + 8) ^ f, sel, db);
        }
    }
#pragma unroll
    for (int j = 0; j < NJ; j++) {
        const uint4 x = *(const uint4 *)(b + S::XC + ((kk * S::NTP + 8 * j + g) * 64 + 16 * t));
        mma_h(acc[j], fa[0][0], fa[0][1], fa[0][2], fa[0][3], x.x, x.y);
        mma_h(acc[j], fa[1][0], fa[1][1], fa[1][2], fa[1][3], x.z, x.w);
    }
}

// Split row tiles (gridDim.z > 1): each block stores its sums in slot
// blockIdx.z of g_mmq_part, laid out as the outputs of the set one matrix
// after another (stride: n_tok x the set's rows), and k_mmq_sum adds the
// slots up in split order. Atomics into the output were faster but left
// the sum's order to the blocks' timing, so a prompt's logits, and greedy
// picks at near ties, varied from run to run.
static float *g_mmq_part; // mmq_reserve: MMQ_PART floats per multiprocessor
enum { MMQ_PART = 2 * 64 * 64 };

template <int T, int NJ, bool GLU, bool SPLIT, bool H>
__global__ void __launch_bounds__(MMQ_W * MMQ_KW * 32)
    k_mmq(gemv_set set, int n_in, const uint8_t *xq, int n_tok, float *part) {
    TRACE(TR_MMQ);
    using S = mmq_stage<T, NJ, H>;
    constexpr int QB = S::QB, ROWS = S::ROWS, NTP = S::NTP, TH = MMQ_W * MMQ_KW * 32;
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
    // A chunk's copies: where this thread's come from, less the chunk's
    // offset (whole chunks; the last one, if partial, clamps its blocks)
    constexpr int CPR = MMQ_KC * QB / 16, NW = ROWS * CPR / TH, CPT = NTP * S::XB / 16;
    static_assert(ROWS * CPR % TH == 0 && ROWS * MMQ_KC / 2 == TH, "copies per thread");
    const uint8_t *wsrc[NW];
#pragma unroll
    for (int n = 0; n < NW; n++) wsrc[n] = rq[(tid + n * TH) / CPR] + (tid + n * TH) % CPR * 16;
    const uint8_t *dsrc = rd[tid / (MMQ_KC / 2)] + tid % (MMQ_KC / 2) * 4;
    auto load_w = [&](int st, int c) {
        uint8_t *b = sm + st * S::BYTES;
        const int k0 = c * MMQ_KC;
        if (k0 + MMQ_KC <= nb) {
#pragma unroll
            for (int n = 0; n < NW; n++) {
                const int i = tid + n * TH;
                cp_async16(b + S::WQ + i / CPR * S::RS + i % CPR * 16, wsrc[n] + (size_t)k0 * QB);
            }
            cp_async4(b + S::WD + tid * 4, dsrc + (size_t)k0 * 2); // scales, 2 blocks (4 bytes) a copy
            return;
        }
#pragma unroll
        for (int i = tid; i < ROWS * CPR; i += TH) {
            const int row = i / CPR, p = i % CPR, k = min(k0 + p / (QB / 16), nb - 1);
            cp_async16(b + S::WQ + row * S::RS + p * 16, rq[row] + (size_t)k * QB + (p % (QB / 16)) * 16);
        }
        const int row = tid / (MMQ_KC / 2), p = tid % (MMQ_KC / 2), k = min(k0 + 2 * p, nb - 2);
        cp_async4(b + S::WD + tid * 4, rd[row] + (size_t)k * 2);
    };
    auto load_x = [&](int st, int c) {
        uint8_t *b = sm + st * S::BYTES;
        const int k0 = c * MMQ_KC;
        const bool full = k0 + MMQ_KC <= nb;
#pragma unroll
        for (int i = tid; i < MMQ_KC * CPT; i += TH) {
            const int k = full ? k0 : min(k0 + i / CPT, nb - 1) - i / CPT;
            cp_async16(b + S::XC + i * 16, xq + (size_t)k * NTP * S::XB + i * 16);
        }
        if (!H)
#pragma unroll
            for (int i = tid; i < MMQ_KC * NTP / 2; i += TH) {
                const int k = full ? k0 : min(k0 + i / (NTP / 2), nb - 1) - i / (NTP / 2);
                cp_async16(b + S::XD + i * 16, xq + (size_t)nb * NTP * 32 + (size_t)k * NTP * 8 + i * 16);
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
    // warp rw % MMQ_W's 16 rows, blocks kw, kw + MMQ_KW, ... of each chunk
    const int rw = warp % MMQ_W, kw = warp / MMQ_W;
    const int ra = 16 * rw + g; // the lane's first A row within the tile (and ra + 8)
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
        for (int kk = kw; kk < MMQ_KC; kk += MMQ_KW) {
            if (kk >= kn) break;
            if constexpr (H) mmq_block_h<T, NJ>(b, kk, ra, g, t, acc);
            else mmq_block_i8<T, NJ>(b, kk, ra, g, t, acc);
        }
    }
    cp_async_wait<0>();
    { // the row tile's MMQ_KW warps add up, in the ring's space
        float *red = (float *)sm;
        __syncthreads();
        if (kw)
#pragma unroll
            for (int q = 0; q < NJ * 4; q++) red[(((kw - 1) * MMQ_W + rw) * NJ * 4 + q) * 32 + lane] = acc[q / 4][q % 4];
        __syncthreads();
        if (kw) return;
#pragma unroll
        for (int k = 0; k < MMQ_KW - 1; k++)
#pragma unroll
            for (int q = 0; q < NJ * 4; q++) acc[q / 4][q % 4] += red[((k * MMQ_W + rw) * NJ * 4 + q) * 32 + lane];
    }
    float *out = set.out[mi];
    const float *bias = SPLIT ? NULL : set.bias[mi];
    if (SPLIT) { // (k_mmq_sum adds the bias)
        size_t off = 0;
        for (int m = 0; m < mi; m++) off += set.n_out[m];
        out = part + (size_t)blockIdx.z * n_tok * set_rows(set) + off * n_tok;
    }
#pragma unroll
    for (int j = 0; j < NJ; j++)
#pragma unroll
        for (int h = 0; h < 2; h++) { // tokens 2t, 2t + 1 of tile j
            const int tok = 8 * j + 2 * t + h;
            if (tok >= n_tok) continue;
            float *o = out + (size_t)tok * n_out;
            if (GLU) {
                const int row = r0 + 8 * rw + g;
                const float gt = acc[j][h], up = acc[j][2 + h];
                if (row < n_out) o[row] = gt / (1.f + expf(-gt)) * up;
            } else {
                const int row = r0 + ra;
                const float v0 = acc[j][h] + (bias && row < n_out ? bias[row] : 0.f);
                const float v1 = acc[j][2 + h] + (bias && row + 8 < n_out ? bias[row + 8] : 0.f);
                if (row < n_out) o[row] = v0;
                if (row + 8 < n_out) o[row + 8] = v1;
            }
        }
}

template <int T, int NJ, bool GLU, bool SPLIT, bool H>
static void launch_mmq(gemv_set &set, int n_in, const uint8_t *xq, int n_tok, int split) {
    constexpr size_t smem = (size_t)MMQ_NS * mmq_stage<T, NJ, H>::BYTES;
    static bool attr = false;
    if (!attr) {
        CK(cudaFuncSetAttribute(k_mmq<T, NJ, GLU, SPLIT, H>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        attr = true;
    }
    const dim3 grid(set_blocks(set, GLU ? 8 * MMQ_W : 16 * MMQ_W), 1, split);
    launch_pdl(k_mmq<T, NJ, GLU, SPLIT, H>, grid, MMQ_W * MMQ_KW * 32, smem, set, n_in, xq, n_tok, g_mmq_part);
}

// The activations of n_tok tokens in FP16 for k_mmq<H> (n_tp tokens, those
// past n_tok zero): for 32-block k of token t, 32 values at (k n_tp + t) 64
// bytes in the order the mma lanes read them (lane t's 8 values at 16t:
// elements 2t, 2t + 1, 8 + 2t, 9 + 2t, 16 + 2t, ... of the block), a
// thread per lane's 8.
__global__ void k_x16_mmq(const float *x, uint8_t *xh, int n_in, int n_tok, int n_tp) {
    TRACE(TR_QUANT8);
    pdl_launch();
    pdl_wait();
    const int nb = n_in / 32, i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= nb * n_tp * 4) return;
    const int k = i / (n_tp * 4), tok = i / 4 % n_tp, t = i % 4;
    __half2 h[4];
#pragma unroll
    for (int q = 0; q < 4; q++) {
        const float2 v = tok < n_tok ? *(const float2 *)(x + (size_t)tok * n_in + 32 * k + 8 * q + 2 * t) : make_float2(0.f, 0.f);
        h[q] = __floats2half2_rn(v.x, v.y);
    }
    *(uint4 *)(xh + ((size_t)k * n_tp + tok) * 64 + 16 * t) = *(const uint4 *)h;
}

// How many blocks share a matrix's row tiles: enough blocks for the GPU
// (about one per multiprocessor), at least 2 chunks each; 1 for GLU (its
// SwiGLU needs the whole sums) and without the sums' slots. Split only
// below 3/4 of a tile per multiprocessor, so tiles x split < 7/4 x sms
// (the slots of mmq_reserve).
static int mmq_split(const gemv_set &set, int n_in, bool glu) {
    if (glu || !g_mmq_part) return 1;
    const int sms = device_sms(), tiles = (set_rows(set) + 16 * MMQ_W - 1) / (16 * MMQ_W);
    const int n_ch = (n_in / 32 + MMQ_KC - 1) / MMQ_KC;
    static int cap = -1; // INGOT_CUDA_MMQ_SPLIT=N: at most N blocks a tile
    if (cap < 0) cap = getenv("INGOT_CUDA_MMQ_SPLIT") ? IG_MAX(1, atoi(getenv("INGOT_CUDA_MMQ_SPLIT"))) : 1 << 20;
    if (tiles >= sms * 3 / 4) return 1;
    return IG_MAX(1, IG_MIN(IG_MIN((sms + tiles - 1) / tiles, n_ch / 2), cap));
}
// the split sums' slots (see mmq_split: at most 64 tokens x 64 rows x 7/4
// tiles a multiprocessor), once; called when a context is made (never
// during graph capture). Without them, no split.
static void mmq_reserve(void) {
    if (!g_mmq_part && cudaMalloc((void **)&g_mmq_part, (size_t)device_sms() * MMQ_PART * sizeof(float)) != cudaSuccess) {
        cudaGetLastError();
        g_mmq_part = NULL;
    }
}
// out = the sum of the split slots in split order (+ bias), a thread an
// output of the set
__global__ void k_mmq_sum(gemv_set set, const float *part, int n_tok, int split) {
    TRACE(TR_MMQ);
    pdl_launch();
    pdl_wait();
    const size_t stride = (size_t)n_tok * set_rows(set);
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= stride) return;
    float v = 0.f;
    for (int z = 0; z < split; z++) v += __ldcg(part + z * stride + i);
    int m = 0;
    while (i >= (size_t)n_tok * set.n_out[m]) i -= (size_t)n_tok * set.n_out[m++];
    const int row = (int)(i % set.n_out[m]);
    set.out[m][i] = v + (set.bias[m] ? set.bias[m][row] : 0.f);
}

template <int T, int NJ, bool H>
static void mmq_nj(gemv_set &set, int n_in, const uint8_t *xq, int n_tok, bool glu, int split) {
    if (glu) launch_mmq<T, NJ, true, false, H>(set, n_in, xq, n_tok, 1);
    else if (split > 1) launch_mmq<T, NJ, false, true, H>(set, n_in, xq, n_tok, split);
    else launch_mmq<T, NJ, false, false, H>(set, n_in, xq, n_tok, 1);
}

// whether the kernel takes n_tok tokens of a Q8_0/Q4_0 matrix of n_in
// inputs (pairs of blocks share a 4-byte scale copy: n_in a multiple of 64).
// INGOT_CUDA_MMQ=N: up to N tokens (at most 64), 0: never. Measured on an
// H100, Llama-3.2-1B Q4_0, aggregate t/s of N sequences (bench/gpu_decode.sh,
// one run): before (the dp4a GEMV below 16 tokens, cuBLAS on the FP16 copy
// from 16) / int8 activations / FP16 activations: 8: 5344 / 9220 / 7488,
// 16: 9236 / 14,435 / 13,316, 32: 16,459 / 19,868 / 21,629, 48: 22,128 /
// 22,883 / 25,829, 64: 26,647 / 25,867 / 26,716.
static bool mmq_applies(int type, int n_in, int n_tok) {
    static int max_tok = -1;
    if (max_tok < 0) max_tok = getenv("INGOT_CUDA_MMQ") ? IG_MIN(64, atoi(getenv("INGOT_CUDA_MMQ"))) : 64;
    return (type == T_Q8_0 || type == T_Q4_0) && n_tok >= 2 && n_tok <= max_tok && n_in % 64 == 0;
}

template <int T, bool H>
static void mmq_tiles(gemv_set &set, int n_in, const uint8_t *xq, int n_tok, bool glu, int split, int njt) {
    switch (njt) {
    case 1: mmq_nj<T, 1, H>(set, n_in, xq, n_tok, glu, split); break;
    case 2: mmq_nj<T, 2, H>(set, n_in, xq, n_tok, glu, split); break;
    case 3: mmq_nj<T, 3, H>(set, n_in, xq, n_tok, glu, split); break;
    case 4: mmq_nj<T, 4, H>(set, n_in, xq, n_tok, glu, split); break;
    case 6: mmq_nj<T, 6, H>(set, n_in, xq, n_tok, glu, split); break;
    default: mmq_nj<T, 8, H>(set, n_in, xq, n_tok, glu, split); break;
    }
}

// quantize x (n_tok tokens) into scratch (int8, or FP16 for more tokens),
// and multiply; returns the split (> 1: the sums are in g_mmq_part's
// slots, added up into the outputs here unless `slots`: the caller's next
// kernel reads them)
template <int T>
static int mmq(gemv_set &set, int n_in, const float *x, int n_tok, bool glu, void *scratch, bool slots = false) {
    const int nj = (n_tok + 7) / 8, split = mmq_split(set, n_in, glu);
    // token tiles: 8 a tile, in steps of 1 to 4 tiles, then 6 and 8
    const int njt = nj <= 4 ? nj : nj <= 6 ? 6 : 8, n_tp = 8 * njt;
    uint8_t *xq = (uint8_t *)scratch;
    // FP16 activations from 17 tokens (INGOT_CUDA_MMQ_F16=N: from N, 0: never)
    static int f16_min = -1;
    if (f16_min < 0) f16_min = getenv("INGOT_CUDA_MMQ_F16") ? atoi(getenv("INGOT_CUDA_MMQ_F16")) : 17;
    if (f16_min > 0 && n_tok >= f16_min) {
        const int threads = n_in / 32 * n_tp * 4;
        launch_pdl(k_x16_mmq, (threads + 255) / 256, 256, 0, x, xq, n_in, n_tok, n_tp);
        mmq_tiles<T, true>(set, n_in, xq, n_tok, glu, split, njt);
    } else {
        quant8_launch(true, x, xq, n_in, n_tok, n_tp);
        mmq_tiles<T, false>(set, n_in, xq, n_tok, glu, split, njt);
    }
    if (split > 1 && !slots) {
        const int n = n_tok * set_rows(set);
        launch_pdl(k_mmq_sum, (n + 255) / 256, 256, 0, set, (const float *)g_mmq_part, n_tok, split);
    }
    return split;
}
