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

// byte offset of activation block b: 16 bytes of padding after every 4
// blocks, so the two 16-byte reads of 8 lanes of a phase hit distinct banks
__device__ __host__ __forceinline__ int dq_off(int b) { return b * 32 + (b >> 2) * 16; }
// shared memory for one token: codes, then scales (float), then sums (int),
// rounded to 16 bytes so every token's codes stay aligned
__host__ __device__ __forceinline__ size_t dq_token_bytes(int nb) {
    return ((size_t)dq_off(nb) + 16 + (size_t)nb * 8 + 15) & ~(size_t)15;
}

template <int T> struct dq_traits {
    static constexpr int QB = T == T_Q8_0 ? 32 : 16; // quant bytes per block
    static constexpr int PF = T == T_Q8_0 ? 2 : 4;
};

template <int T, int R, int NT, bool GLU>
__global__ void __launch_bounds__(DQ_WARPS * 32) k_gemv_dq(gemv_set set, int n_in, const float *xg, int n_tok) {
    extern __shared__ __align__(16) uint8_t sm[];
    constexpr int QB = dq_traits<T>::QB, PF = dq_traits<T>::PF, QV = QB / 16;
    constexpr int NR = GLU ? R / 2 : R; // output rows per warp
    const int nb = n_in / 32;
    const size_t tb = dq_token_bytes(nb);
    const int t0 = blockIdx.y * NT, nt = min(NT, n_tok - t0);
    const int lane = threadIdx.x % 32;
    pdl_launch();
    // the first weight loads of this block's first rows do not depend on the
    // previous kernel: issued before waiting for it (see pdl_wait)
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
    if (blockIdx.x < set.first[set.n]) {
        DQ_ROWS(blockIdx.x)
        if (row0 < n_out)
#pragma unroll
            for (int p = 0; p < PF; p++)
                if (lane + 32 * p < nb) DQ_LOAD(p, lane + 32 * p);
    }
    pdl_wait();

    // quantize the activations: 8 threads per 32-value block, coalesced reads
    const int n4 = nt * nb * 8;
    for (int i0 = 0; i0 < n4; i0 += blockDim.x) {
        const int i = i0 + threadIdx.x;
        const bool ok = i < n4;
        const int t = ok ? i / (nb * 8) : 0, j = ok ? i % (nb * 8) : 0;
        const float4 v = ok ? ((const float4 *)(xg + (size_t)(t0 + t) * n_in))[j] : make_float4(0.f, 0.f, 0.f, 0.f);
        float amax = fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
#pragma unroll
        for (int o = 1; o < 8; o <<= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
        const float id = amax > 0.f ? 127.f / amax : 0.f;
        const int a = __float2int_rn(v.x * id), c = __float2int_rn(v.y * id);
        const int e = __float2int_rn(v.z * id), f = __float2int_rn(v.w * id);
        int s = a + c + e + f;
#pragma unroll
        for (int o = 1; o < 8; o <<= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (ok) {
            uint8_t *base = sm + t * tb;
            const int b = j / 8;
            ((uint32_t *)(base + dq_off(b)))[j % 8] =
                (uint32_t)(a & 255) | ((uint32_t)(c & 255) << 8) | ((uint32_t)(e & 255) << 16) | ((uint32_t)f << 24);
            if (j % 8 == 0) {
                float *xd = (float *)(base + dq_off(nb) + 16);
                xd[b] = amax / 127.f;
                ((int *)(xd + nb))[b] = s;
            }
        }
    }
    __syncthreads();

    // the grid may be smaller than the row blocks: each block then takes
    // several, so the quantization above is paid once per block
    for (int blk = blockIdx.x; blk < set.first[set.n]; blk += gridDim.x) {
        DQ_ROWS(blk)
        if (row0 >= n_out) continue;
        const int nr = min(NR, n_out - row0);
        // weight loads run PF blocks ahead of the arithmetic (the first row
        // block's first loads were issued above)
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
                    const uint8_t *base = sm + t * tb;
                    const int4 x0 = ((const int4 *)(base + dq_off(b)))[0], x1 = ((const int4 *)(base + dq_off(b)))[1];
                    const float *xd = (const float *)(base + dq_off(nb) + 16);
                    const float dx = xd[b];
                    const int sx = ((const int *)(xd + nb))[b];
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

// launch over `set` for n_tok tokens (chunks of NT); false if it does not apply
template <int T, int R, int NT, bool GLU> static bool launch_dq(gemv_set &set, int n_in, const float *x, int n_tok) {
    const size_t smem = dq_token_bytes(n_in / 32) * NT;
    static size_t smem_set = 48 * 1024;
    if (smem > 200 * 1024) return false;
    if (smem > smem_set) {
        CK(cudaFuncSetAttribute(k_gemv_dq<T, R, NT, GLU>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        smem_set = smem;
    }
    const int rows_per_block = DQ_WARPS * (GLU ? R / 2 : R);
    set.first[0] = 0;
    for (int i = 0; i < set.n; i++) set.first[i + 1] = set.first[i] + (set.n_out[i] + rows_per_block - 1) / rows_per_block;
    // at most 3 blocks per multiprocessor (INGOT_CUDA_GEMV_BPS); more row blocks loop
    static int max_blocks = 0;
    if (!max_blocks) {
        int dev = 0, sms = 0;
        CK(cudaGetDevice(&dev));
        CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
        const char *e = getenv("INGOT_CUDA_GEMV_BPS");
        max_blocks = sms * (e && atoi(e) > 0 ? atoi(e) : 3);
    }
    dim3 grid(NT == 1 ? min(set.first[set.n], max_blocks) : set.first[set.n], (n_tok + NT - 1) / NT);
    launch_pdl(k_gemv_dq<T, R, NT, GLU>, grid, DQ_WARPS * 32, smem, set, n_in, x, n_tok);
    return true;
}

// INGOT_CUDA_GEMV_R: rows per warp (2 or 4) for tuning
static int dq_rows(void) {
    static int r = 0;
    if (!r) r = getenv("INGOT_CUDA_GEMV_R") && atoi(getenv("INGOT_CUDA_GEMV_R")) == 4 ? 4 : 2;
    return r;
}

template <int T> static bool gemv_dq(gemv_set &set, int n_in, const float *x, int n_tok, bool glu) {
    const bool r4 = dq_rows() == 4;
    if (n_tok == 1) {
        if (glu) return r4 ? launch_dq<T, 4, 1, true>(set, n_in, x, 1) : launch_dq<T, 2, 1, true>(set, n_in, x, 1);
        return r4 ? launch_dq<T, 4, 1, false>(set, n_in, x, 1) : launch_dq<T, 2, 1, false>(set, n_in, x, 1);
    }
    if (glu) return launch_dq<T, 2, 8, true>(set, n_in, x, n_tok);
    return launch_dq<T, 2, 8, false>(set, n_in, x, n_tok);
}

// Q8_0/Q4_0 matrices (repacked layout) over n_tok tokens; glu: set holds
// gate and up (n = 1 output, w[1] = up) and out[0] gets silu(gate) * up
static bool matmul_int8(int type, gemv_set &set, int n_in, const float *x, int n_tok, bool glu) {
    if (n_in % 32 || (type != T_Q8_0 && type != T_Q4_0)) return false;
    return type == T_Q8_0 ? gemv_dq<T_Q8_0>(set, n_in, x, n_tok, glu) : gemv_dq<T_Q4_0>(set, n_in, x, n_tok, glu);
}
