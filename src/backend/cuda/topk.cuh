// topk.cuh - the k largest logits of each row, on the device (included by
// cuda_kernels.cu), so that sampling moves k candidates to the host instead
// of the whole row (128,256 floats for Llama 3).
//
// Order: logit descending, then index ascending, as the host sampler sorts.
// Each logit becomes a 64-bit key, an order-preserving map of the float's
// bits above and ~index below, so one integer compare gives that order and
// a key of 0 sorts below every real one (padding).
// Pass 1 (k_topk_slice): a block per TK_SLICE logits of a row keeps the
// slice's k largest, sorted (bitonic, shared memory). k = 1: a reduction.
// k <= 128: each thread's largest key bounds the slice's k-th largest from
// below (the k-th largest of the threads' maxima is <= it), so only keys at
// or above that bound are sorted: for typical logits about k to 2k of the
// 2048. Larger k: chunks of k are sorted, then merged as in pass 2.
// Pass 2 (k_topk_merge): a block per row merges the slices' lists pairwise
// in a tree. The elementwise max of one sorted list and the other reversed
// holds the k largest of both, as a bitonic sequence, which log2(k)
// compare-exchange steps sort again.

enum { TK_SLICE = 2048, TK_THREADS = 256, TK_LG_THREADS = 8 };

typedef unsigned long long tk_key_t;

__device__ __forceinline__ tk_key_t tk_key(float v, int i) {
    unsigned u = __float_as_uint(v == 0.0f ? 0.0f : v); // -0 equals +0 for the host
    u ^= (u & 0x80000000u) ? 0xffffffffu : 0x80000000u; // negatives reversed, below positives
    return ((tk_key_t)u << 32) | (0xffffffffu - (unsigned)i);
}
__device__ __forceinline__ float tk_val(tk_key_t k) {
    unsigned u = (unsigned)(k >> 32);
    u ^= (u & 0x80000000u) ? 0x80000000u : 0xffffffffu;
    return __uint_as_float(u);
}
__device__ __forceinline__ int tk_idx(tk_key_t k) { return (int)(0xffffffffu - (unsigned)k); }

// One compare-exchange step of a bitonic network over n_seq sequences of
// 2^lg_len keys each (at s + q * gap): pairs (i, i + stride) with i's stride
// bit clear; the pair ends up descending where i & dir_bit is 0 (dir_bit >=
// the length: always descending). Powers of two, so no division.
__device__ __forceinline__ void tk_step(tk_key_t *s, int n_seq, int lg_len, int gap, int stride, int dir_bit) {
    const int lg_half = lg_len - 1, n = n_seq << lg_half;
    for (int t = threadIdx.x; t < n; t += blockDim.x) {
        const int u = t & ((1 << lg_half) - 1), i = 2 * u - (u & (stride - 1));
        tk_key_t *p = s + (size_t)(t >> lg_half) * gap;
        tk_key_t a = p[i], b = p[i + stride];
        if ((a < b) == ((i & dir_bit) == 0)) p[i] = b, p[i + stride] = a;
    }
    __syncthreads();
}

// n_l sorted lists of 2^lg_k keys at s, s + k, ... -> the 2^lg_k largest of
// all, sorted, at s: list q * 2w takes in list q * 2w + w, w = 1, 2, 4 ...
__device__ void tk_merge_lists(tk_key_t *s, int n_l, int lg_k) {
    const int k = 1 << lg_k;
    for (int w = 1; w < n_l; w *= 2) {
        const int n_pair = (n_l - w + 2 * w - 1) / (2 * w), gap = 2 * w * k;
        for (int t = threadIdx.x; t < n_pair << lg_k; t += blockDim.x) {
            tk_key_t *a = s + (size_t)(t >> lg_k) * gap, *b = a + (size_t)w * k;
            const int j = t & (k - 1);
            if (b[k - 1 - j] > a[j]) a[j] = b[k - 1 - j];
        }
        __syncthreads();
        for (int stride = k / 2; stride > 0; stride /= 2) tk_step(s, n_pair, lg_k, gap, stride, k);
    }
}

// a block per (slice, row): the slice's 2^lg_k largest keys, sorted: chunks
// of 2^lg_k sorted, then merged keeping the largest (k = 1: a reduction)
__global__ void __launch_bounds__(TK_THREADS) k_topk_slice(const float *logits, int n, int lg_k, tk_key_t *out) {
    TRACE(TR_TOPK);
    __shared__ tk_key_t s[TK_SLICE];
    const int row = blockIdx.y, base = blockIdx.x * TK_SLICE, len = min(TK_SLICE, n - base), k = 1 << lg_k;
    const float *l = logits + (size_t)row * n;
    tk_key_t *o = out + ((size_t)row * gridDim.x + blockIdx.x) * k;
    enum { PER = TK_SLICE / TK_THREADS };
    tk_key_t r[PER]; // all loads in flight at once (a loop would wait for each)
#pragma unroll
    for (int j = 0; j < PER; j++) {
        const int i = threadIdx.x + j * TK_THREADS;
        r[j] = i < len ? tk_key(l[base + i], base + i) : 0; // 0: padding, below every key
    }
    if (k == 1) {
        tk_key_t best = r[0];
#pragma unroll
        for (int j = 1; j < PER; j++) best = max(best, r[j]);
        for (int d = 16; d > 0; d /= 2) best = max(best, __shfl_xor_sync(0xffffffffu, best, d));
        if ((threadIdx.x & 31) == 0) s[threadIdx.x / 32] = best;
        __syncthreads();
        if (threadIdx.x == 0) {
            for (int w = 1; w < TK_THREADS / 32; w++) best = max(best, s[w]);
            o[0] = best;
        }
        return;
    }
    if (k <= TK_THREADS / 2) { // filter first: sort only the keys that can be among the k largest
        __shared__ tk_key_t gmax[TK_THREADS];
        __shared__ int n_cand;
        tk_key_t mx = r[0];
#pragma unroll
        for (int j = 1; j < PER; j++) mx = max(mx, r[j]);
        gmax[threadIdx.x] = mx;
        if (threadIdx.x == 0) n_cand = 0;
        __syncthreads();
        for (int size = 2; size <= TK_THREADS; size *= 2)
            for (int stride = size / 2; stride > 0; stride /= 2) tk_step(gmax, 1, TK_LG_THREADS, 0, stride, size);
        // k threads' maxima (distinct keys) are >= tau, so the slice's k-th
        // largest is too: every key below tau is out
        const tk_key_t tau = gmax[k - 1];
#pragma unroll
        for (int j = 0; j < PER; j++)
            if (r[j] >= tau) s[atomicAdd(&n_cand, 1)] = r[j];
        __syncthreads();
        int lg_p = lg_k; // sort the candidates (in any order so far) padded to a power of two
        while ((1 << lg_p) < n_cand) lg_p++;
        for (int i = n_cand + threadIdx.x; i < (1 << lg_p); i += blockDim.x) s[i] = 0;
        __syncthreads();
        for (int size = 2; size <= (1 << lg_p); size *= 2)
            for (int stride = size / 2; stride > 0; stride /= 2) tk_step(s, 1, lg_p, 0, stride, size);
        for (int i = threadIdx.x; i < k; i += blockDim.x) o[i] = s[i];
        return;
    }
#pragma unroll
    for (int j = 0; j < PER; j++) s[threadIdx.x + j * TK_THREADS] = r[j];
    __syncthreads();
    const int m = TK_SLICE; // chunks of k (<= TK_SLICE) over the whole slice
    for (int size = 2; size <= k; size *= 2)
        for (int stride = size / 2; stride > 0; stride /= 2) tk_step(s, m >> lg_k, lg_k, k, stride, size);
    tk_merge_lists(s, m >> lg_k, lg_k);
    for (int i = threadIdx.x; i < k; i += blockDim.x) o[i] = s[i];
}

// lists: (rows, n_sl, k) sorted keys from pass 1; ids, vals: (rows, k)
__global__ void __launch_bounds__(TK_THREADS) k_topk_merge(const tk_key_t *lists, int n_sl, int lg_k, int32_t *ids,
                                                           float *vals) {
    TRACE(TR_TOPK_MERGE);
    extern __shared__ tk_key_t sl[];
    const int row = blockIdx.x, k = 1 << lg_k;
    const tk_key_t *in = lists + (size_t)row * n_sl * k;
    const int total = n_sl * k;
    for (int i0 = 0; i0 < total; i0 += 8 * TK_THREADS) { // 8 loads in flight per thread
        tk_key_t r[8];
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const int i = i0 + j * TK_THREADS + threadIdx.x;
            r[j] = i < total ? in[i] : 0;
        }
#pragma unroll
        for (int j = 0; j < 8; j++) {
            const int i = i0 + j * TK_THREADS + threadIdx.x;
            if (i < total) sl[i] = r[j];
        }
    }
    __syncthreads();
    tk_merge_lists(sl, n_sl, lg_k);
    for (int i = threadIdx.x; i < k; i += blockDim.x) {
        ids[(size_t)row * k + i] = tk_idx(sl[i]);
        vals[(size_t)row * k + i] = tk_val(sl[i]);
    }
}

static int topk_slices(int n) { return (n + TK_SLICE - 1) / TK_SLICE; }

size_t ig_cuda_topk_scratch(int n_rows, int n, int k) {
    return (size_t)n_rows * (size_t)topk_slices(n) * (size_t)k * sizeof(tk_key_t);
}

// the largest logit of a one-token step's output GEMV (g_top1)
__global__ void k_top1_read(int32_t *ids, float *vals) {
    TRACE(TR_TOPK_MERGE);
    const tk_key_t key = g_top1;
    ids[0] = tk_idx(key), vals[0] = tk_val(key);
}

// A pipelined greedy step's data moved into place from the staging buffer
// (dst[0], the token: the pick), the pick being the largest logit kept by
// the output GEMV (FROM_TOP1) or the one ig_cuda_topk put in pick[0]
template <bool FROM_TOP1> __global__ void k_pick_feed(int32_t *dst, const int32_t *stage, int n, int32_t *pick) {
    TRACE(TR_PICK_FEED);
    const int32_t id = FROM_TOP1 ? tk_idx(g_top1) : pick[0];
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = i == 0 ? id : stage[i];
    if (FROM_TOP1 && i == 0) pick[0] = id;
}

bool ig_cuda_topk(const float *logits, int n_rows, int n, int k, int32_t *ids, float *vals, void *scratch) {
    if (k < 1 || k > TK_SLICE || (k & (k - 1)) || k > n || n_rows < 1) return false;
    if (k == 1 && n_rows == 1 && logits == g_top1_src) { // the output GEMV kept it
        k_top1_read<<<1, 1, 0, g_stream>>>(ids, vals);
        LAUNCHED();
        return true;
    }
    int lg_k = 0;
    while ((1 << lg_k) < k) lg_k++;
    const int n_sl = topk_slices(n);
    const size_t smem = (size_t)n_sl * (size_t)k * sizeof(tk_key_t);
    static size_t set = 48 << 10; // the merge's shared memory limit as raised so far
    if (smem > set) {
        int dev = 0, optin = 0;
        CK(cudaGetDevice(&dev));
        CK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
        if (smem > (size_t)optin) return false; // a huge vocabulary: the caller reads the whole rows
        CK(cudaFuncSetAttribute(k_topk_merge, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        set = smem;
    }
    k_topk_slice<<<dim3(n_sl, n_rows), TK_THREADS, 0, g_stream>>>(logits, n, lg_k, (tk_key_t *)scratch);
    LAUNCHED();
    k_topk_merge<<<n_rows, TK_THREADS, smem, g_stream>>>((const tk_key_t *)scratch, n_sl, lg_k, ids, vals);
    LAUNCHED();
    return true;
}

// Pipelined greedy steps (ig_cuda_pick_feed). On the side stream the
// step data goes to a staging buffer while the step before still runs, and
// the pick goes home; g_stream waits only for the staging copy (long done)
// and runs k_pick_feed before the step. Events: g_ev_upload, the last copy
// from host memory (upload_wait); g_ev_fed, the last k_pick_feed (the
// staging buffer free again, the pick ready); g_ev_home, the pick home.
static int32_t *g_stage;
static size_t g_stage_cap;
void ig_cuda_pick_feed(int32_t *dst, const int32_t *src, size_t n, const float *logits, int n_logits, int32_t *pick,
                       int32_t *host, void *scratch) {
    nq_clobber(dst);
    if (n > g_stage_cap) { // (the last k_pick_feed and staging copy done with it)
        CK(cudaStreamSynchronize(g_stream));
        CK(cudaStreamSynchronize(g_side));
        cudaFree(g_stage);
        g_stage_cap = cudaMalloc((void **)&g_stage, n * sizeof(int32_t)) == cudaSuccess ? n : 0;
        if (!g_stage_cap) cudaGetLastError(), g_stage = NULL;
    }
    const int32_t *stage = g_stage;
    if (g_stage) {
        CK(cudaStreamWaitEvent(g_side, g_ev_fed, 0));
        CK(cudaMemcpyAsync(g_stage, src, n * sizeof(int32_t), cudaMemcpyHostToDevice, g_side));
        CK(cudaEventRecord(g_ev_upload, g_side));
        CK(cudaStreamWaitEvent(g_stream, g_ev_upload, 0));
    } else { // (no memory for the staging buffer: the upload in line)
        ig_cuda_upload(dst, src, n * sizeof(int32_t));
        stage = dst;
    }
    const int grid = (int)((n + 255) / 256);
    if (logits == g_top1_src) k_pick_feed<true><<<grid, 256, 0, g_stream>>>(dst, stage, (int)n, pick);
    else {
        (void)ig_cuda_topk(logits, 1, n_logits, 1, pick, (float *)(pick + 1), scratch); // (k = 1, n >= 1: applies)
        k_pick_feed<false><<<grid, 256, 0, g_stream>>>(dst, stage, (int)n, pick);
    }
    LAUNCHED();
    CK(cudaEventRecord(g_ev_fed, g_stream));
    CK(cudaStreamWaitEvent(g_side, g_ev_fed, 0));
    CK(cudaMemcpyAsync(host, pick, sizeof(int32_t), cudaMemcpyDeviceToHost, g_side));
    CK(cudaEventRecord(g_ev_home, g_side));
}
void ig_cuda_pick_wait(void) { CK(cudaEventSynchronize(g_ev_home)); }
void ig_cuda_upload_wait(void) { CK(cudaEventSynchronize(g_ev_upload)); }
