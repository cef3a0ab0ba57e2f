// gemv_f16.cuh - one-token GEMV for F16 and BF16 weights (included by
// cuda_kernels.cu). Exact: weights widened to F32, F32 activations and
// accumulation, like the scalar reference.
//
// A warp takes R = 2 rows; a lane reads 16 bytes (8 weights) of each row at
// a time, PF = 2 such loads per row in flight, the first issued before
// waiting for the previous kernel (pdl_wait) (more per lane, 4 rows per
// warp, or fewer blocks that loop were all slower on an H100: registers
// buy less than resident warps here), streaming past L1 (no_allocate) so
// that the activations, read by every warp through __ldg, stay cached. Up to
// GEMV_MAX_W matrices sharing the input (Q/K/V) run as one launch; GLU: the
// rows are gate/up pairs and the warp writes silu(gate) * up. The epilogues
// of gemv_int8.cuh apply: a deferred norm's 1 / rms on the input, the
// residual add + deferred norm on the output (RESNORM).
enum { GH_WARPS = 8, GH_PF = 2 };

template <int T> __device__ __forceinline__ float2 w2(uint32_t u) {
    if (T == T_BF16) return make_float2(__uint_as_float(u << 16), __uint_as_float(u & 0xffff0000u));
    return __half22float2(*(const __half2 *)&u);
}
template <int T> __device__ __forceinline__ float dot8(uint4 w, float4 a, float4 b) {
    const float2 p = w2<T>(w.x), q = w2<T>(w.y), r = w2<T>(w.z), s = w2<T>(w.w);
    return p.x * a.x + p.y * a.y + q.x * a.z + q.y * a.w + r.x * b.x + r.y * b.y + s.x * b.z + s.y * b.w;
}

template <int T, int R, bool GLU, int PF = GH_PF, int EPI = EPI_PLAIN, int W = GH_WARPS>
__global__ void __launch_bounds__(W * 32) k_gemv_h(gemv_set set, int n_in, const float *x, gemv_epi e) {
    TRACE(TR_GEMV_H);
    const int n8 = n_in / 8, lane = threadIdx.x % 32;
    const float4 *x4 = (const float4 *)x;
    int mi;
    const int row0 = set_row0(set, blockIdx.x, W, threadIdx.x / 32, GLU ? R / 2 : R, GLU, &mi), n_out = set.n_out[mi];
    pdl_launch();
    if (EPI != EPI_RESNORM && row0 >= n_out) return; // (RESNORM: every thread reaches the epilogue's barrier)
    const uint4 *wr[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int m = GLU ? r % 2 : mi;
        const int row = min(row0 + (GLU ? r / 2 : r), n_out - 1);
        wr[r] = (const uint4 *)set.w[m] + (size_t)row * n8;
    }
    // the first weight loads do not depend on the previous kernel: issue
    // them before waiting for it; then each slot is reloaded once used
    uint4 w[PF][R];
#pragma unroll
    for (int p = 0; p < PF; p++)
#pragma unroll
        for (int r = 0; r < R; r++)
            if (lane + 32 * p < n8) w[p][r] = ld_stream(wr[r] + lane + 32 * p);
    epi_pre<R, EPI> pre;
    const float rms = pre.wait(set, n_in, e, row0, n_out);
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0.f;
    for (int b0 = lane; b0 < n8; b0 += 32 * PF) {
#pragma unroll
        for (int p = 0; p < PF; p++) {
            const int b = b0 + 32 * p;
            if (b >= n8) break;
            const float4 a = __ldg(x4 + 2 * b), c = __ldg(x4 + 2 * b + 1);
#pragma unroll
            for (int r = 0; r < R; r++) acc[r] += dot8<T>(w[p][r], a, c);
            if (b + 32 * PF < n8)
#pragma unroll
                for (int r = 0; r < R; r++) w[p][r] = ld_stream(wr[r] + b + 32 * PF);
        }
    }
    gemv1_finish<R, 1, GLU, EPI, W>(set, mi, row0, acc, rms, NULL, e, pre);
}

// one token through the F16/BF16 matrices of `set` (glu: gate w[0], up w[1]);
// false if not applicable. x may be a deferred norm's output still unscaled
// (nq_tag pending): the kernel applies its 1 / rms. epi (e given):
// EPI_ROPE, set = Q/K/V rotated into the cache (qkv_write, 2 rows a warp:
// whole rotation pairs); EPI_RESNORM, one matrix: the residual add and the
// next norm deferred, in blocks of 32 rows (16 warps).
template <int T> static void launch_half(gemv_set &set, int n_in, const float *x, bool glu, int epi, const gemv_epi &e) {
    if (epi == EPI_RESNORM) {
        launch_pdl(k_gemv_h<T, 2, false, GH_PF, EPI_RESNORM, 16>, set_blocks(set, 32), 16 * 32, 0, set, n_in, x, e);
        return;
    }
    // a block per 8 or 16 rows (the kernel takes exactly one): measured faster
    // than fewer, looping blocks
    const int grid = set_blocks(set, GH_WARPS * (glu ? 1 : 2));
    if (glu) launch_pdl(k_gemv_h<T, 2, true>, grid, GH_WARPS * 32, 0, set, n_in, x, e);
    else if (epi == EPI_ROPE) launch_pdl(k_gemv_h<T, 2, false, GH_PF, EPI_ROPE>, grid, GH_WARPS * 32, 0, set, n_in, x, e);
    else launch_pdl(k_gemv_h<T, 2, false>, grid, GH_WARPS * 32, 0, set, n_in, x, e);
}
static bool gemv_half(int type, gemv_set &set, int n_in, const float *x, bool glu, int epi = EPI_PLAIN,
                      const gemv_epi *e = NULL) {
    if ((type != T_F16 && type != T_BF16) || n_in % 8) return false;
    const nq_tag *in = nq_find(x, n_in);
    if (in && in->pending) set.ss = in->ss, set.eps = in->eps;
    const gemv_epi ge = e ? *e : gemv_epi{};
    if (type == T_F16) launch_half<T_F16>(set, n_in, x, glu, epi, ge);
    else launch_half<T_BF16>(set, n_in, x, glu, epi, ge);
    return true;
}
