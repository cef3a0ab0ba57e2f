// trace.cuh - a per-block timeline of the kernels of a step, for finding
// where a decode token's time goes (included by cuda_kernels.cu).
//
// Only in builds configured with -DINGOT_CUDA_TRACE=ON, and only when
// INGOT_CUDA_TRACE=FILE is set: every block of a tagged kernel records when
// it started, when it got past pdl_wait (the previous kernel finished), when
// its last warp was done with its main loop (TRACE_MID; the GEMVs, else the
// ready time) and when its last thread ended, read from the GPU's global timer. The records
// restart at each replay of a recorded step, so FILE (written when the
// backend lets its steps go, e.g. at exit) holds the last replayed step,
// one line per block: tag, block, start, ready, end, loop done (ns), and a
// line "prev_end" with when the last block of the step before it ended
// (its sampler's kernels included), so that the time between steps (the
// logits' copy, the host's turn, the next step's upload and launch) shows.
// bench/trace_report.py turns it into a per-kernel breakdown.
// Other builds: TRACE(tag) is empty and nothing is recorded.

// kernel tags; the names are in trace_names (same order)
enum {
    TR_EMBED, TR_NORM, TR_RMSNORM, TR_QUANT8, TR_GEMV_DQ, TR_GEMV1, TR_GEMV1_GLU, TR_GEMV1_QKV, TR_GEMV1_RES,
    TR_Q4K, TR_Q4K_GLU, TR_Q4K_QKV, TR_Q4K_RES, TR_Q6K, TR_Q6K_RES, TR_GEMV_H, TR_GEMV_H_QKV, TR_GEMV_H_GLU,
    TR_GEMV_H_RES, TR_GEMV_Q,
    TR_MATMUL, TR_MMQ, TR_ROPE, TR_ATT_DEC, TR_ATT_FLASH, TR_ADD, TR_BIAS, TR_SWIGLU, TR_TOPK, TR_TOPK_MERGE,
    TR_PICK_FEED, TR_N
};

#ifdef INGOT_CUDA_TRACE
static const char *const trace_names[TR_N] = {
    "embed", "norm", "rmsnorm", "quant8", "gemv_dq", "gemv1", "gemv1_glu", "gemv1_qkv", "gemv1_res",
    "q4k", "q4k_glu", "q4k_qkv", "q4k_res", "q6k", "q6k_res", "gemv_h", "gemv_h_qkv", "gemv_h_glu",
    "gemv_h_res", "gemv_q",
    "matmul", "mmq", "rope", "attn_dec", "attn_flash", "add", "bias", "swiglu", "topk", "topk_merge", "pick_feed",
};
struct trace_rec {
    unsigned long long t0, t1, t2, t3;
    int tag, blk;
};
__device__ trace_rec *g_trace;
__device__ unsigned g_trace_n, g_trace_cap;
__device__ unsigned long long g_trace_last_end, g_trace_prev_end; // see trace_restart
__shared__ unsigned long long s_trace_t1, s_trace_t3;
__shared__ unsigned s_trace_done;

__device__ __forceinline__ unsigned long long trace_now(void) {
    unsigned long long t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}
// one per kernel, constructed by every thread at its start; the last thread
// of the block to leave writes the record
struct trace_scope {
    int tag;
    unsigned long long t0;
    __device__ trace_scope(int tg) : tag(tg) {
        t0 = trace_now();
        if (threadIdx.x == 0) s_trace_t1 = ~0ull, s_trace_t3 = 0, s_trace_done = 0;
        __syncthreads();
    }
    __device__ ~trace_scope() {
        const unsigned n = blockDim.x * blockDim.y * blockDim.z;
        if (atomicAdd(&s_trace_done, 1u) != n - 1 || !g_trace) return;
        const unsigned i = atomicAdd(&g_trace_n, 1u);
        const unsigned long long t1 = s_trace_t1 == ~0ull ? t0 : s_trace_t1, t2 = trace_now();
        atomicMax(&g_trace_last_end, t2);
        if (i >= g_trace_cap) return;
        g_trace[i] = trace_rec{t0, t1, t2, s_trace_t3 ? s_trace_t3 : t1, tag,
                               (int)(blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z))};
    }
};
#define TRACE(tag) trace_scope trace_scope_(tag)
#define TRACE_READY()                                                                              \
    do {                                                                                           \
        if (threadIdx.x % 32 == 0) atomicMin(&s_trace_t1, trace_now());                           \
    } while (0)
#define TRACE_MID()                                                                                \
    do {                                                                                           \
        if (threadIdx.x % 32 == 0) atomicMax(&s_trace_t3, trace_now());                           \
    } while (0)

static trace_rec *g_trace_host_buf; // device buffer (NULL: not tracing)
static const char *g_trace_file;
enum { TRACE_CAP = 1 << 20 };

static void trace_init(void) {
    g_trace_file = getenv("INGOT_CUDA_TRACE");
    if (!g_trace_file || !*g_trace_file || g_trace_host_buf) return;
    if (cudaMalloc((void **)&g_trace_host_buf, TRACE_CAP * sizeof(trace_rec)) != cudaSuccess) {
        cudaGetLastError();
        g_trace_host_buf = NULL;
        return;
    }
    const unsigned cap = TRACE_CAP, zero = 0;
    CK(cudaMemcpyToSymbol(g_trace, &g_trace_host_buf, sizeof g_trace_host_buf));
    CK(cudaMemcpyToSymbol(g_trace_cap, &cap, sizeof cap));
    CK(cudaMemcpyToSymbol(g_trace_n, &zero, sizeof zero));
    fprintf(stderr, "ingot: tracing kernels into %s\n", g_trace_file);
}
// before a replay: the records start over, and the end of the last block
// so far (the step before's) is kept as prev_end
static void trace_restart(cudaStream_t s) {
    if (!g_trace_host_buf) return;
    void *n = NULL, *last = NULL, *prev = NULL;
    CK(cudaGetSymbolAddress(&n, g_trace_n));
    CK(cudaGetSymbolAddress(&last, g_trace_last_end));
    CK(cudaGetSymbolAddress(&prev, g_trace_prev_end));
    CK(cudaMemcpyAsync(prev, last, sizeof(unsigned long long), cudaMemcpyDeviceToDevice, s));
    CK(cudaMemsetAsync(n, 0, sizeof(unsigned), s));
}
static void trace_dump(cudaStream_t s) {
    if (!g_trace_host_buf) return;
    unsigned n = 0;
    CK(cudaStreamSynchronize(s));
    CK(cudaMemcpyFromSymbol(&n, g_trace_n, sizeof n));
    if (n == 0) return;
    if (n > TRACE_CAP) n = TRACE_CAP;
    trace_rec *r = (trace_rec *)malloc(n * sizeof *r);
    FILE *f = fopen(g_trace_file, "w");
    if (r && f) {
        CK(cudaMemcpy(r, g_trace_host_buf, n * sizeof *r, cudaMemcpyDeviceToHost));
        for (unsigned i = 0; i < n; i++)
            fprintf(f, "%s %d %llu %llu %llu %llu\n", trace_names[r[i].tag], r[i].blk, r[i].t0, r[i].t1, r[i].t2,
                    r[i].t3);
        unsigned long long prev = 0;
        CK(cudaMemcpyFromSymbol(&prev, g_trace_prev_end, sizeof prev));
        if (prev) fprintf(f, "prev_end 0 %llu %llu %llu %llu\n", prev, prev, prev, prev);
    }
    if (f) fclose(f);
    free(r);
    const unsigned zero = 0;
    CK(cudaMemcpyToSymbol(g_trace_n, &zero, sizeof zero));
}
#else
#define TRACE(tag) ((void)0)
#define TRACE_READY() ((void)0)
#define TRACE_MID() ((void)0)
static void trace_init(void) {}
static void trace_restart(cudaStream_t) {}
static void trace_dump(cudaStream_t) {}
#endif
