// attn_flash.cuh - attention for prompts on tensor cores (included by
// cuda_kernels.cu): FlashAttention-2 style, FP16 inputs, FP32 accumulation
// and softmax.
//
// A block takes 64 query rows of one KV head: row r is token r / G, query
// head r % G of the group (GQA shares each K/V tile among the G heads). Each
// of its 4 warps owns 16 rows. The block walks the KV cells in tiles of 64:
// the tile's K and V are converted to FP16 into shared memory; a warp
// computes its 16 x 64 scores with mma.m16n8k16, masks the cells its rows do
// not see (another sequence, a later position, free), updates the running
// row max and sum (online softmax, exp2 with log2(e) folded into the query
// scale), and accumulates P V with a second mma, the scores reused as the A
// operand straight from registers. Tiles no row of the block can see (past
// the prompt's causal edge, cells of other sequences) are skipped whole.
// Rounding Q, K, V and P to FP16 moves results by ~1e-3 relative.

enum { FA_ROWS = 64, FA_CELLS = 64, FA_WARPS = 4 };

__device__ __forceinline__ void mma_f16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
    __trap();
#endif
}
__device__ __forceinline__ uint32_t pack_h2(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *(uint32_t *)&h;
}
__device__ __forceinline__ uint32_t pack_h2(__half lo, __half hi) {
    __half2 h = __halves2half2(lo, hi);
    return *(uint32_t *)&h;
}

template <int HD>
__global__ void __launch_bounds__(FA_WARPS * 32) k_attn_flash(const float *q, const float *kc, const float *vc,
                                                                const int32_t *seq, const int32_t *pos,
                                                                const int32_t *cell_seq, const int32_t *cell_pos,
                                                                const int32_t *n_used, float *out, int n_tok,
                                                                int n_head, int n_head_kv) {
    TRACE(TR_ATT_FLASH);
    constexpr int ST = HD + 8; // row stride in halves: the fragment reads hit 32 distinct banks
    __shared__ __align__(16) __half ks[FA_CELLS * ST], vs[FA_CELLS * ST];
    __shared__ int32_t cs[FA_CELLS], cp[FA_CELLS];
    __shared__ int32_t b_seq, b_pos, b_one;
    const int G = n_head / n_head_kv, kvh = blockIdx.y, kv_dim = n_head_kv * HD;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tig = lane % 4;
    const int n_rows = n_tok * G, r_blk = blockIdx.x * FA_ROWS;
    pdl_launch();
    pdl_wait();
    const int nu = *n_used;

    // this thread's two rows (g and g + 8 of the warp's 16)
    int rseq[2], rpos[2];
    uint32_t qa[HD / 16][4];
    const float qscale = rsqrtf((float)HD) * 1.44269504f; // scores in log2 units
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int r = r_blk + warp * 16 + g + 8 * i;
        rseq[i] = -2, rpos[i] = -1; // a padding row sees no cell
        if (r < n_rows) rseq[i] = seq[r / G], rpos[i] = pos[r / G];
    }
#pragma unroll
    for (int kk = 0; kk < HD / 16; kk++)
#pragma unroll
        for (int i = 0; i < 4; i++) { // a0: row g, a1: row g+8; a2/a3: the same rows, 8 columns on
            const int r = r_blk + warp * 16 + g + 8 * (i & 1);
            const int d = kk * 16 + tig * 2 + 8 * (i >> 1);
            float2 v = make_float2(0.f, 0.f);
            if (r < n_rows) v = *(const float2 *)(q + ((size_t)(r / G) * n_head + kvh * G + r % G) * HD + d);
            qa[kk][i] = pack_h2(v.x * qscale, v.y * qscale);
        }
    // the block's tokens: one sequence (the usual prompt) lets whole tiles be skipped
    if (threadIdx.x == 0) {
        const int t0 = r_blk / G, t1 = min(n_rows - 1, r_blk + FA_ROWS - 1) / G;
        int one = 1, mp = pos[t0];
        for (int t = t0 + 1; t <= t1; t++) {
            one &= seq[t] == seq[t0];
            mp = max(mp, pos[t]);
        }
        b_seq = seq[t0], b_pos = mp, b_one = one;
    }

    float o[HD / 8][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
#pragma unroll
    for (int j = 0; j < HD / 8; j++) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.f;

    for (int c0 = 0; c0 < nu; c0 += FA_CELLS) {
        __syncthreads(); // the previous tile is consumed (and b_* written)
        int see = 0;
        if (threadIdx.x < FA_CELLS) {
            const int c = c0 + threadIdx.x;
            int s = -1, p = 0;
            if (c < nu) s = cell_seq[c], p = cell_pos[c];
            cs[threadIdx.x] = s, cp[threadIdx.x] = p;
            see = s >= 0 && (!b_one || (s == b_seq && p <= b_pos));
        }
        if (!__syncthreads_or(see)) continue;
        for (int i = threadIdx.x; i < FA_CELLS * HD / 4; i += FA_WARPS * 32) {
            const int cl = i / (HD / 4), d = (i % (HD / 4)) * 4, c = c0 + cl;
            float4 kv = make_float4(0.f, 0.f, 0.f, 0.f), vv = kv; // free cells: zeros, never NaN
            if (c < nu && cs[cl] >= 0) {
                kv = *(const float4 *)(kc + (size_t)c * kv_dim + (size_t)kvh * HD + d);
                vv = *(const float4 *)(vc + (size_t)c * kv_dim + (size_t)kvh * HD + d);
            }
            *(uint2 *)&ks[cl * ST + d] = make_uint2(pack_h2(kv.x, kv.y), pack_h2(kv.z, kv.w));
            *(uint2 *)&vs[cl * ST + d] = make_uint2(pack_h2(vv.x, vv.y), pack_h2(vv.z, vv.w));
        }
        __syncthreads();

        // S = Q K^T: 16 rows x 64 cells per warp (B[k][n] = K[cell n][dim k])
        float s[FA_CELLS / 8][4];
#pragma unroll
        for (int n = 0; n < FA_CELLS / 8; n++) {
            s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
            for (int kk = 0; kk < HD / 16; kk++) {
                const __half *kr = ks + (n * 8 + g) * ST + kk * 16 + tig * 2;
                mma_f16(s[n], qa[kk], *(const uint32_t *)kr, *(const uint32_t *)(kr + 8));
            }
        }
        // mask, then the online softmax of rows g (i = 0) and g + 8 (i = 1)
        float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
        for (int n = 0; n < FA_CELLS / 8; n++)
#pragma unroll
            for (int j = 0; j < 4; j++) {
                const int i = j >> 1, cl = n * 8 + tig * 2 + (j & 1);
                if (!(cs[cl] == rseq[i] && cp[cl] <= rpos[i])) s[n][j] = -INFINITY;
                mx[i] = fmaxf(mx[i], s[n][j]);
            }
        float alpha[2];
#pragma unroll
        for (int i = 0; i < 2; i++) {
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 1));
            mx[i] = fmaxf(mx[i], __shfl_xor_sync(0xffffffffu, mx[i], 2));
            const float mn = fmaxf(m[i], mx[i]);
            const float base = mn == -INFINITY ? 0.f : mn; // nothing seen yet: p = 0, no NaN
            alpha[i] = exp2f(m[i] - base);
            m[i] = mn;
            mx[i] = base;
            l[i] *= alpha[i];
        }
#pragma unroll
        for (int j = 0; j < HD / 8; j++) o[j][0] *= alpha[0], o[j][1] *= alpha[0], o[j][2] *= alpha[1], o[j][3] *= alpha[1];
        // P V: the scores of two 8-cell tiles form one 16-cell A fragment
#pragma unroll
        for (int kk = 0; kk < FA_CELLS / 16; kk++) {
            float p[2][4];
#pragma unroll
            for (int h = 0; h < 2; h++)
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    p[h][j] = exp2f(s[2 * kk + h][j] - mx[j >> 1]);
                    l[j >> 1] += p[h][j];
                }
            const uint32_t pa[4] = {pack_h2(p[0][0], p[0][1]), pack_h2(p[0][2], p[0][3]), pack_h2(p[1][0], p[1][1]),
                                    pack_h2(p[1][2], p[1][3])};
            // B[k][n] = V[cell k][dim n]: two cells per register, same dim
            const __half *v0 = vs + (kk * 16 + tig * 2) * ST + g;
#pragma unroll
            for (int j = 0; j < HD / 8; j++) {
                const __half *vr = v0 + j * 8;
                mma_f16(o[j], pa, pack_h2(vr[0], vr[ST]), pack_h2(vr[8 * ST], vr[9 * ST]));
            }
        }
    }
    // the row sums were partial per thread: add the 4 threads of each row
#pragma unroll
    for (int i = 0; i < 2; i++) {
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
        l[i] = l[i] > 0.f ? 1.f / l[i] : 0.f;
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        const int r = r_blk + warp * 16 + g + 8 * i;
        if (r >= n_rows) continue;
        float *dst = out + ((size_t)(r / G) * n_head + kvh * G + r % G) * HD + tig * 2;
#pragma unroll
        for (int j = 0; j < HD / 8; j++) *(float2 *)(dst + j * 8) = make_float2(o[j][2 * i] * l[i], o[j][2 * i + 1] * l[i]);
    }
}

// true if it ran (head size 64 or 128, and tensor cores)
static bool attn_flash(const float *q, const float *kc, const float *vc, const int32_t *seq, const int32_t *pos,
                       const int32_t *cell_seq, const int32_t *cell_pos, const int32_t *n_used, float *out, int n_tok,
                       int n_head, int n_head_kv, int hd) {
    static int major = -1;
    if (major < 0) {
        int dev = 0;
        CK(cudaGetDevice(&dev));
        CK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    }
    if (major < 8) return false;
    dim3 grid((n_tok * (n_head / n_head_kv) + FA_ROWS - 1) / FA_ROWS, n_head_kv);
    if (hd == 64)
        launch_pdl(k_attn_flash<64>, grid, FA_WARPS * 32, 0, q, kc, vc, seq, pos, cell_seq, cell_pos, n_used, out, n_tok,
                   n_head, n_head_kv);
    else if (hd == 128)
        launch_pdl(k_attn_flash<128>, grid, FA_WARPS * 32, 0, q, kc, vc, seq, pos, cell_seq, cell_pos, n_used, out,
                   n_tok, n_head, n_head_kv);
    else
        return false;
    return true;
}
