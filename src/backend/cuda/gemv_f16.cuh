// gemv_f16.cuh - one-token GEMV for F16 and BF16 weights (included by
// cuda_kernels.cu). Exact: weights widened to F32, F32 activations and
// accumulation, like the scalar reference.
//
// A warp takes R rows, or a group of KS warps shares them (warp k of the
// group reads the row's 16-byte pieces lane + 32 k, lane + 32 (k + KS), ...;
// the block adds the parts); a lane reads 16 bytes (8 weights) of each row
// at a time, PF such loads per row in flight (2; 4 for Q/K/V and the
// residual kernels, whose blocks are resident long before the kernel
// before them ends: pf_wide), the first issued before waiting for it
// (pdl_wait), streaming past L1 (no_allocate) so that the activations, read
// by every warp through __ldg, stay cached (Q/K/V and residual kernels: a
// copy in shared memory, x_smem). Up to GEMV_MAX_W matrices
// sharing the input (Q/K/V) run as one launch; GLU: the rows are gate/up
// pairs and the warp writes silu(gate) * up. The epilogues of gemv_int8.cuh
// apply: a deferred norm's 1 / rms on the input, RoPE + the KV store
// (ROPE), the residual add + deferred norm on the output (RESNORM).
enum { GH_WARPS = 8, GH_PF = 2 };

template <int T> __device__ __forceinline__ float2 w2(uint32_t u) {
    if (T == T_BF16) return make_float2(__uint_as_float(u << 16), __uint_as_float(u & 0xffff0000u));
    return __half22float2(*(const __half2 *)&u);
}
template <int T> __device__ __forceinline__ float dot8(uint4 w, float4 a, float4 b) {
    const float2 p = w2<T>(w.x), q = w2<T>(w.y), r = w2<T>(w.z), s = w2<T>(w.w);
    return p.x * a.x + p.y * a.y + q.x * a.z + q.y * a.w + r.x * b.x + r.y * b.y + s.x * b.z + s.y * b.w;
}

template <int T, int R, bool GLU, int PF = GH_PF, int EPI = EPI_PLAIN, int W = GH_WARPS, int KS = 1>
__global__ void __launch_bounds__(W * 32) k_gemv_h(gemv_set set, int n_in, const float *x, gemv_epi e) {
    TRACE(EPI == EPI_ROPE ? TR_GEMV_H_QKV : EPI == EPI_RESNORM ? TR_GEMV_H_RES : GLU ? TR_GEMV_H_GLU : TR_GEMV_H);
    __shared__ float part[KS > 1 ? W : 1][R];
    const int n8 = n_in / 8, lane = threadIdx.x % 32, warp = threadIdx.x / 32, step = 32 * KS;
    const float4 *x4 = (const float4 *)x;
    int mi;
    const int row0 = set_row0(set, blockIdx.x, W / KS, warp / KS, GLU ? R / 2 : R, GLU, &mi), n_out = set.n_out[mi];
    pdl_launch();
    // (RESNORM and split rows: every thread reaches the block's barrier)
    if (EPI != EPI_RESNORM && KS == 1 && row0 >= n_out) return;
    const uint4 *wr[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        const int m = GLU ? r % 2 : mi;
        const int row = min(row0 + (GLU ? r / 2 : r), n_out - 1);
        wr[r] = (const uint4 *)set.w[m] + (size_t)row * n8;
    }
    // the first weight loads do not depend on the previous kernel: issue
    // them before waiting for it; then each slot is reloaded once used. A
    // lane takes the row's 16-byte pieces b0, b0 + step, ... (warp k of a
    // group of KS: b0 = lane + 32 k)
    const int b0 = lane + 32 * (warp % KS);
    uint4 w[PF][R];
#pragma unroll
    for (int p = 0; p < PF; p++)
#pragma unroll
        for (int r = 0; r < R; r++)
            if (b0 + step * p < n8) w[p][r] = ld_stream(wr[r] + b0 + step * p);
    // xsh (dynamic shared memory, set.xs): the whole input, copied once the
    // wait is over, so that the loop reads it with no trip to L2 per step
    extern __shared__ float4 xsh[];
    epi_pre<R, EPI> pre;
    const float rms = pre.wait(set, n_in, e, mi, row0, n_out, [&] {
        if (set.xs) stage_block((uint4 *)xsh, (const uint4 *)x, n_in / 4);
    });
    if (set.xs) __syncthreads();
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0.f;
    for (int bb = b0; bb < n8; bb += step * PF) {
#pragma unroll
        for (int p = 0; p < PF; p++) {
            const int b = bb + step * p;
            if (b >= n8) break;
            const float4 a = set.xs ? xsh[2 * b] : __ldg(x4 + 2 * b), c = set.xs ? xsh[2 * b + 1] : __ldg(x4 + 2 * b + 1);
#pragma unroll
            for (int r = 0; r < R; r++) acc[r] += dot8<T>(w[p][r], a, c);
            if (b + step * PF < n8)
#pragma unroll
                for (int r = 0; r < R; r++) w[p][r] = ld_stream(wr[r] + b + step * PF);
        }
    }
    TRACE_MID();
    gemv1_finish<R, KS, GLU, EPI, W>(set, mi, row0, acc, rms, part, e, pre);
}

// one token through the F16/BF16 matrices of `set` (glu: gate w[0], up w[1]);
// false if not applicable. x may be a deferred norm's output still unscaled
// (nq_tag pending): the kernel applies its 1 / rms. epi (e given):
// EPI_ROPE, set = Q/K/V rotated into the cache (qkv_write: a group's 2 or
// 4 rows hold whole rotation pairs); EPI_RESNORM, one matrix: the residual
// add and the next norm deferred, in blocks of 32 rows (16 warps) or 16
// (resnorm_rows_h: 16 warps, 4 per row; rows of up to 2048 8 warps, 2 per
// row, so that a block fits beside the attention's before it: TinyLlama O
// 5.5 -> 2.8 us, blocks arriving after the wait 18% -> 0%).
// Launch shapes, from bench/gemv_micro.cu (f16) on an H100 over the
// Llama-3-8B, Llama-3.2-1B and Qwen2.5-0.5B matrices, in a graph of PDL
// launches: 4 rows per warp (against 2: 8B Q/K/V 26.8 -> 19.4 us, 8B down
// with RESNORM 43.8 -> 41.1), 8 for a vocabulary-sized output (1B 222 ->
// 180 us, 0.5B 141 -> 96); rows of up to 2048 split over 2 warps (1B O 6.1
// -> 5.0 us, 0.5B Q/K/V 3.0 -> 2.1), and gate/up pairs of 2048+ too (8B
// 76.8 -> 76.0); RESNORM (blocks of 32 rows) 16 warps, 2 per row (1B down
// 16.6 -> 13.8). INGOT_CUDA_HOLD=1: the shapes before (2 rows per warp, a
// warp per row) for comparison.
template <int T, int R, bool GLU, int EPI, int W, int KS, int PF = GH_PF>
static void launch_h(gemv_set &set, int n_in, const float *x, const gemv_epi &e) {
    const int grid = set_blocks(set, W / KS * (GLU ? R / 2 : R));
    const size_t smem = x_smem((size_t)n_in * sizeof(float), GLU);
    set.xs = smem > 0;
    launch_pdl(k_gemv_h<T, R, GLU, PF, EPI, W, KS>, grid, W * 32, smem, set, n_in, x, e);
}
// launch_h with 4 loads in flight when pf_wide (Q/K/V, residual), else GH_PF
template <int T, int R, int EPI, int W, int KS>
static void launch_h_pf(gemv_set &set, int n_in, const float *x, const gemv_epi &e) {
    if (pf_wide<T>(n_in)) launch_h<T, R, false, EPI, W, KS, 4>(set, n_in, x, e);
    else launch_h<T, R, false, EPI, W, KS>(set, n_in, x, e);
}
static bool hold_shapes(void) {
    static int old = -1;
    if (old < 0) old = getenv("INGOT_CUDA_HOLD") && atoi(getenv("INGOT_CUDA_HOLD")) != 0;
    return old;
}
template <int T> static void launch_half(gemv_set &set, int n_in, const float *x, bool glu, int epi, const gemv_epi &e) {
    const bool old = hold_shapes();
    const bool split = glu ? n_in >= 2048 : n_in <= 2048;
    if (epi == EPI_RESNORM) {
        if (old) launch_h<T, 2, false, EPI_RESNORM, 16, 1>(set, n_in, x, e);
        else if (e.ob == 16 && n_in <= 2048) launch_h_pf<T, 4, EPI_RESNORM, 8, 2>(set, n_in, x, e);
        else if (e.ob == 16) launch_h_pf<T, 4, EPI_RESNORM, 16, 4>(set, n_in, x, e);
        else launch_h_pf<T, 4, EPI_RESNORM, 16, 2>(set, n_in, x, e);
    } else if (glu) {
        if (old) launch_h<T, 2, true, EPI_PLAIN, GH_WARPS, 1>(set, n_in, x, e);
        else if (split) launch_h<T, 4, true, EPI_PLAIN, GH_WARPS, 2>(set, n_in, x, e);
        else launch_h<T, 4, true, EPI_PLAIN, GH_WARPS, 1>(set, n_in, x, e);
    } else if (epi == EPI_ROPE) {
        if (old) launch_h<T, 2, false, EPI_ROPE, GH_WARPS, 1>(set, n_in, x, e);
        else if (split) launch_h_pf<T, 4, EPI_ROPE, GH_WARPS, 2>(set, n_in, x, e);
        else launch_h_pf<T, 4, EPI_ROPE, GH_WARPS, 1>(set, n_in, x, e);
    } else {
        if (old) launch_h<T, 2, false, EPI_PLAIN, GH_WARPS, 1>(set, n_in, x, e);
        else if (set_rows(set) >= 32768) launch_h<T, 8, false, EPI_PLAIN, GH_WARPS, 1>(set, n_in, x, e);
        else if (split) launch_h<T, 4, false, EPI_PLAIN, GH_WARPS, 2>(set, n_in, x, e);
        else launch_h<T, 4, false, EPI_PLAIN, GH_WARPS, 1>(set, n_in, x, e);
    }
}
// Rows per block of the residual kernel (EPI_RESNORM) for n_out outputs: 32,
// which also makes the int8 copy (whole 32-value chunks per block), unless
// 16 give a block to most multiprocessors where 32 do not: then the sums of
// squares per 16 rows only (the F16 GEMVs after it read floats; an int8
// one quantizes for itself). H100, tg128: 1B F16 (2048 outputs, 64 or 128
// blocks; its down projection 17.2 -> 11.8 us) 903 -> 920 t/s, TinyLlama
// 927 -> 943; Qwen2.5-0.5B (896) kept 32: 8 rows, 112 blocks, 1402 -> 1374.
// INGOT_CUDA_RESROWS=32/16 forces a size.
static int resnorm_rows_h(int n_out) {
    static int force = -1;
    if (force < 0) force = getenv("INGOT_CUDA_RESROWS") ? atoi(getenv("INGOT_CUDA_RESROWS")) : 0;
    if (hold_shapes()) return 32;
    if (force == 32 || force == 16) return force;
    const int want = device_sms() * 7 / 8;
    return n_out / 32 < want && n_out / 16 >= want ? 16 : 32;
}
static bool gemv_half(int type, gemv_set &set, int n_in, const float *x, bool glu, int epi = EPI_PLAIN,
                      const gemv_epi *e = NULL) {
    if ((type != T_F16 && type != T_BF16) || n_in % 8) return false;
    const nq_tag *in = nq_find(x, n_in);
    if (in && in->pending) set.ss = in->ss, set.ss_n = in->ss_n, set.eps = in->eps;
    const gemv_epi ge = e ? *e : gemv_epi{};
    if (type == T_F16) launch_half<T_F16>(set, n_in, x, glu, epi, ge);
    else launch_half<T_BF16>(set, n_in, x, glu, epi, ge);
    return true;
}
