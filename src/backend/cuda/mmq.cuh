// mmq.cuh - 2 to 16 (up to 64) tokens through Q8_0/Q4_0 weights on int8 tensor cores
// (included by cuda_kernels.cu). Batched decode multiplies a few dozen
// tokens by every matrix: through cuBLAS that reads the FP16 copy of the
// weights (3.6x the bytes of Q4_0) at ~1.5 TB/s; here the weights are read
// as stored, once per 8 * NJ tokens, and multiplied with mma.sync m16n8k32
// (int8 x int8 -> int32) one 32-weight block at a time, each block's int32
// result scaled by its weight scale and the token's activation scale, as
// the one-token int8 GEMV does (the same rounding of activations to int8).
//
// A warp owns a tile of 16 rows (GLU: 8 gate rows over 8 up rows of the
// same outputs) and NJ tiles of 8 tokens; KS warps split a tile's blocks.
// Fragments (lane = 4 g + t): A rows g and g + 8, bytes 4t..4t+3 (a0, a1)
// and 16+4t.. (a2, a3) of a block; B token g of a tile, codes 4t.. and
// 16+4t..; C rows g, g + 8 x tokens 2t, 2t + 1.
#define MMQ_W 8
#define MMQ_U 4

// Activations for k_mmq: n_tp tokens (a multiple of 8 * NJ; those past
// n_tok zero) quantized by k_quant8<true> (gemv_int8.cuh) in the order the
// lanes read them (lane t's b0, b1 at byte 8t of a block's 32 codes).
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

template <int T, int NJ, int KS, bool GLU>
__global__ void __launch_bounds__(MMQ_W * 32) k_mmq(gemv_set set, int n_in, const uint8_t *xq, int n_tok, int n_tp) {
    TRACE(TR_GEMV_DQ);
    constexpr int QB = T == T_Q8_0 ? 32 : 16;
    __shared__ float part[MMQ_W][NJ * 4][32];
    const int nb = n_in / 32, lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
    const int tc = blockIdx.y * 8 * NJ; // the block's first token
    int mi;
    const int r0 = set_row0(set, blockIdx.x, MMQ_W / KS, warp / KS, GLU ? 8 : 16, GLU, &mi), n_out = set.n_out[mi];
    // the lane's two A rows: g and g + 8 of the tile (GLU: gate and up row of output r0 + g)
    const int ra = min(r0 + g, n_out - 1), rb = GLU ? ra : min(r0 + g + 8, n_out - 1);
    const uint8_t *wa = set.w[GLU ? 0 : mi], *wb = set.w[GLU ? 1 : mi];
    const uint8_t *qa = wa + (size_t)ra * nb * QB + 4 * t, *qb = wb + (size_t)rb * nb * QB + 4 * t;
    const uint16_t *da = (const uint16_t *)(wa + (size_t)n_out * nb * QB) + (size_t)ra * nb;
    const uint16_t *db = (const uint16_t *)(wb + (size_t)n_out * nb * QB) + (size_t)rb * nb;
    const uint8_t *xc = xq + (size_t)(tc + g) * 32 + 8 * t;
    const float4 *xd = (const float4 *)(xq + (size_t)nb * n_tp * 32) + (tc + 2 * t) / 2;
    pdl_launch();
    pdl_wait();
    float acc[NJ][4];
#pragma unroll
    for (int j = 0; j < NJ; j++) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
    // MMQ_U blocks' weights in flight per warp: loaded together, then used
    for (int k0 = warp % KS; k0 < nb; k0 += KS * MMQ_U) {
        uint32_t a[MMQ_U][4];
        float wd[MMQ_U][2];
#pragma unroll
        for (int u = 0; u < MMQ_U; u++) {
            const int k = min(k0 + u * KS, nb - 1); // (past the row: reloads the last block, unused)
            if (T == T_Q4_0) { // nibbles as stored (0..15): the -8 comes off with the code sums
                const uint32_t ua = __ldg((const uint32_t *)(qa + (size_t)k * 16));
                const uint32_t ub = __ldg((const uint32_t *)(qb + (size_t)k * 16));
                a[u][0] = ua & 0x0F0F0F0Fu, a[u][2] = (ua >> 4) & 0x0F0F0F0Fu;
                a[u][1] = ub & 0x0F0F0F0Fu, a[u][3] = (ub >> 4) & 0x0F0F0F0Fu;
            } else {
                a[u][0] = __ldg((const uint32_t *)(qa + (size_t)k * 32));
                a[u][2] = __ldg((const uint32_t *)(qa + (size_t)k * 32 + 16));
                a[u][1] = __ldg((const uint32_t *)(qb + (size_t)k * 32));
                a[u][3] = __ldg((const uint32_t *)(qb + (size_t)k * 32 + 16));
            }
            wd[u][0] = h_to_f(__ldg(da + k)), wd[u][1] = h_to_f(__ldg(db + k));
        }
#pragma unroll
        for (int u = 0; u < MMQ_U; u++) {
            const int k = k0 + u * KS;
            if (k >= nb) break;
#pragma unroll
            for (int j = 0; j < NJ; j++) {
                const uint2 b = __ldg((const uint2 *)(xc + ((size_t)k * n_tp + 8 * j) * 32));
                const float4 s = __ldg(xd + ((size_t)k * n_tp + 8 * j) / 2); // scale, sum of tokens 2t and 2t + 1
                int c[4] = {0, 0, 0, 0};
                mma_i8<T == T_Q4_0>(c, a[u][0], a[u][1], a[u][2], a[u][3], b.x, b.y);
                const float o0 = T == T_Q4_0 ? 8.f * s.y : 0.f, o1 = T == T_Q4_0 ? 8.f * s.w : 0.f;
                acc[j][0] += wd[u][0] * s.x * ((float)c[0] - o0);
                acc[j][1] += wd[u][0] * s.z * ((float)c[1] - o1);
                acc[j][2] += wd[u][1] * s.x * ((float)c[2] - o0);
                acc[j][3] += wd[u][1] * s.z * ((float)c[3] - o1);
            }
        }
    }
    if (KS > 1) { // the group's warps add up in shared memory
#pragma unroll
        for (int j = 0; j < NJ; j++)
#pragma unroll
            for (int q = 0; q < 4; q++) part[warp][4 * j + q][lane] = acc[j][q];
        __syncthreads();
        if (warp % KS) return;
        for (int w = 1; w < KS; w++)
#pragma unroll
            for (int j = 0; j < NJ; j++)
#pragma unroll
                for (int q = 0; q < 4; q++) acc[j][q] += part[warp + w][4 * j + q][lane];
    }
    float *out = set.out[mi];
    const float *bias = set.bias[mi];
#pragma unroll
    for (int j = 0; j < NJ; j++)
#pragma unroll
        for (int h = 0; h < 2; h++) { // tokens 2t, 2t + 1 of tile j
            const int tok = tc + 8 * j + 2 * t + h;
            if (tok >= n_tok) continue;
            float *o = out + (size_t)tok * n_out;
            if (GLU) {
                const float gt = acc[j][h], up = acc[j][2 + h];
                if (r0 + g < n_out) o[r0 + g] = gt / (1.f + expf(-gt)) * up;
            } else {
                if (r0 + g < n_out) o[r0 + g] = acc[j][h] + (bias ? bias[r0 + g] : 0.f);
                if (r0 + g + 8 < n_out) o[r0 + g + 8] = acc[j][2 + h] + (bias ? bias[r0 + g + 8] : 0.f);
            }
        }
}

// 2 to 16 tokens of Q8_0/Q4_0 matrices on tensor cores (INGOT_CUDA_MMQ=0:
// off; INGOT_CUDA_MMQ=N: up to N tokens, at most 64). Measured on an H100,
// Llama-3.2-1B Q4_0, aggregate t/s of N sequences against the kernels
// before (the dp4a GEMV below 16 tokens, cuBLAS FP16 from 16): 8: 5579 vs
// 5302, 16: 10146 vs 9042, 32: 15010 vs 15833, 64: 19063 vs 24158. Past 16
// tokens cuBLAS wins. Also slower at 32 tokens (same run, cuBLAS 15683,
// this kernel 15160): two 16-row tiles per warp sharing each activation
// load 12556, 2 blocks in flight 14104, 8 blocks 14061, twice the warps per
// tile 13076-14536; so neither the weight bytes in flight per lane nor the
// activation reloads alone limit it. Staging weight and activation tiles in
// shared memory (cp.async + ldmatrix, as a real GEMM does) is the next step.
static bool mmq_applies(int type, int n_tok) {
    static int max_tok = -1;
    if (max_tok < 0) max_tok = getenv("INGOT_CUDA_MMQ") ? IG_MIN(64, atoi(getenv("INGOT_CUDA_MMQ"))) : 16;
    if (max_tok == 1) max_tok = 16; // (INGOT_CUDA_MMQ=1: on, the default range)
    return (type == T_Q8_0 || type == T_Q4_0) && n_tok >= 2 && n_tok <= max_tok;
}

template <int T, int NJ, int KS, bool GLU> static void launch_mmq(gemv_set &set, int n_in, const uint8_t *xq, int n_tok, int n_tp) {
    const dim3 grid(set_blocks(set, MMQ_W / KS * (GLU ? 8 : 16)), n_tp / (8 * NJ));
    launch_pdl(k_mmq<T, NJ, KS, GLU>, grid, MMQ_W * 32, 0, set, n_in, xq, n_tok, n_tp);
}
// the tile count picks how many warps split a tile's blocks (enough warps
// to keep the GPU's loads in flight)
template <int T, int NJ> static void mmq_ks(gemv_set &set, int n_in, const uint8_t *xq, int n_tok, int n_tp, bool glu) {
    const int tiles = glu ? set.n_out[0] / 8 : set_rows(set) / 16;
    if (glu) tiles >= 2048 ? launch_mmq<T, NJ, 1, true>(set, n_in, xq, n_tok, n_tp)
                           : tiles >= 1024 ? launch_mmq<T, NJ, 2, true>(set, n_in, xq, n_tok, n_tp)
                                           : launch_mmq<T, NJ, 4, true>(set, n_in, xq, n_tok, n_tp);
    else if (tiles >= 1024) launch_mmq<T, NJ, 2, false>(set, n_in, xq, n_tok, n_tp);
    else if (tiles >= 256) launch_mmq<T, NJ, 4, false>(set, n_in, xq, n_tok, n_tp);
    else launch_mmq<T, NJ, 8, false>(set, n_in, xq, n_tok, n_tp);
}
// quantize x (n_tok tokens) into scratch and multiply; the token tiles per
// warp (NJ) cover all tokens at once, so the weights are read once
template <int T> static void mmq(gemv_set &set, int n_in, const float *x, int n_tok, bool glu, void *scratch) {
    const int nj = n_tok <= 8 ? 1 : n_tok <= 16 ? 2 : n_tok <= 32 ? 4 : 8, n_tp = 8 * nj;
    uint8_t *xq = (uint8_t *)scratch;
    quant8_launch(true, x, xq, n_in, n_tok, n_tp);
    if (nj == 1) mmq_ks<T, 1>(set, n_in, xq, n_tok, n_tp, glu);
    else if (nj == 2) mmq_ks<T, 2>(set, n_in, xq, n_tok, n_tp, glu);
    else if (nj == 4) mmq_ks<T, 4>(set, n_in, xq, n_tok, n_tp, glu);
    else mmq_ks<T, 8>(set, n_in, xq, n_tok, n_tp, glu);
}
