// cuda_kernels.cu - CUDA kernels for the forward step and their C launchers.
// First version, correctness first: GEMV-style matmul (one warp per output
// row, up to 8 tokens per pass) that dequantizes weights in registers and
// multiplies F32 activations, so results match the CPU scalar reference to
// F32 rounding; block-per-(token, head) attention with scores in shared
// memory. Everything runs on one stream.
#include "backend/cuda/cuda_api.h"

#include <algorithm>
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <dlfcn.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef IG_MIN
#define IG_MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef IG_MAX
#define IG_MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

#define CK(call)                                                                                   \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "ingot: CUDA error %s at %s:%d\n", cudaGetErrorString(e_), __FILE__, __LINE__); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)
#define LAUNCHED() CK(cudaGetLastError())

enum { T_F32 = 0, T_F16 = 1, T_Q4_0 = 2, T_Q8_0 = 8, T_Q4_K = 12, T_Q6_K = 14, T_BF16 = 30, T_MLX4 = 40, T_MLX8 = 41 };

static cudaStream_t g_stream;
// a second stream for the copies of pipelined greedy steps, and their events
// (topk.cuh: ig_cuda_pick_feed)
static cudaStream_t g_side;
static cudaEvent_t g_ev_upload, g_ev_fed, g_ev_home;
static bool g_pdl; // programmatic dependent launch (Hopper and newer)

// One token's activations quantized to int8 by the kernel that wrote them
// (a norm, attention, a GEMV epilogue), so the int8 GEMVs that read them
// skip their own quantization. Two buffers: a GEMV may write one while it
// reads the other. A tag says which output (pointer, width) a buffer holds;
// any launcher that may write that output clears it (nq_clobber).
// Deferred RMSNorm (ss != NULL): the buffer holds y = x * w quantized, not
// y / rms(x); ss holds the sums of squares of x per 32 values (ss_n of
// them; an F16 residual kernel of blocks of 16 rows: per 16 values, and no
// int8 copy, q8 false), and the GEMVs
// that read it scale their results by 1 / rms (a matmul is linear), so no
// kernel waits for the whole row's sum. While `pending`, the float output
// itself still holds the unscaled y: nq_resolve scales it before anything
// else reads it.
// Bytes of one token's int8 activations (n_in / 32 = nb blocks): nb blocks
// of 32 codes, nb float scales (absmax / 127), nb int sums of the codes.
__host__ __device__ __forceinline__ size_t xq_token_bytes(int nb) { return ((size_t)nb * 40 + 15) & ~(size_t)15; }
struct nq_tag {
    uint8_t *buf;
    const float *src;
    int n;
    const float *ss; // deferred norm: ss_n sums of squares
    int ss_n;
    float eps;
    bool pending;    // src holds y unscaled
    bool q8;         // buf holds the int8 copy
};
static nq_tag g_nq[2];
static size_t g_nq_cap;     // bytes of each buffer's int8 part (the sums of squares follow)
static int g_nq_turn;
// Likewise the FP16 copy of a batch's activations that cuBLAS multiplies
// (g_cb.x16): which input (pointer, floats) it holds, so that Q/K/V or
// gate/up over the same input convert it once.
static const float *g_x16_src;
static size_t g_x16_n;
// Likewise the logits whose largest value the output GEMV kept (g_top1, see
// ig_cuda_matmul_logits): a one-token step's, NULL once anything else may
// have written them.
static const float *g_top1_src;
__device__ unsigned long long g_top1; // the key (topk.cuh's order)
static unsigned long long *top1_key(void) {
    static void *p = NULL;
    if (!p) CK(cudaGetSymbolAddress(&p, g_top1));
    return (unsigned long long *)p;
}
static void nq_resolve(const void *p);
static void nq_clobber(const void *p) {
    for (int i = 0; i < 2; i++)
        if (p == g_nq[i].src) g_nq[i].src = NULL;
    if (p == g_x16_src) g_x16_src = NULL;
    if (p == g_top1_src) g_top1_src = NULL;
}
// the tag of one token's x (n values), or NULL
static nq_tag *nq_find(const float *x, int n) {
    for (int i = 0; i < 2; i++)
        if (g_nq[i].src && g_nq[i].src == x && g_nq[i].n == n) return &g_nq[i];
    return NULL;
}
// a buffer for the int8 copy of out (n values), not the one `reading` is in
// (the kernel's own input); NULL if n does not fit. The caller launches the
// kernel that fills it.
static nq_tag *nq_claim(const float *out, int n, const uint8_t *reading) {
    if (n % 32 || !g_nq[0].buf || xq_token_bytes(n / 32) > g_nq_cap) return NULL;
    int i = g_nq_turn;
    if (g_nq[i].buf == reading) i ^= 1;
    g_nq_turn = i ^ 1;
    for (int j = 0; j < 2; j++)
        if (g_nq[j].src == out) g_nq[j].src = NULL;
    g_nq[i].src = out, g_nq[i].n = n, g_nq[i].ss = NULL, g_nq[i].ss_n = n / 32, g_nq[i].pending = false;
    g_nq[i].q8 = true;
    return &g_nq[i];
}
static float *nq_ss(const nq_tag *t) { return (float *)(t->buf + g_nq_cap); }

#include "backend/cuda/trace.cuh"


// ------------------------------------------------------- dependent launch
// The kernels of a decode step are small, so launch latency and each
// kernel's ramp-up are a large part of a token. On sm_90 the per-token
// kernels are launched with programmatic stream serialization: a kernel may
// start while the one before it finishes, does what does not depend on it
// (a GEMV issues its first weight loads), then waits in pdl_wait() until the
// previous kernel has completed and its writes are visible. Every such kernel
// calls pdl_launch() first, which lets the next one start early.
// INGOT_CUDA_PDL=0 turns this off.
__device__ __forceinline__ void pdl_wait(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
    TRACE_READY();
}
__device__ __forceinline__ void pdl_launch(void) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
#endif
}
// the current device's multiprocessors (grids sized to fill the GPU)
static int device_sms(void) {
    static int sms = 0;
    if (!sms) {
        int dev = 0;
        CK(cudaGetDevice(&dev));
        CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    }
    return sms;
}
template <typename... P, typename... A>
static void launch_pdl(void (*k)(P...), dim3 grid, dim3 block, size_t smem, A... args) {
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = g_stream;
    cfg.attrs = at;
    cfg.numAttrs = g_pdl ? 1 : 0;
    CK(cudaLaunchKernelEx(&cfg, k, args...));
}

extern "C" bool ig_cuda_init(char *name, size_t name_len, size_t *free_b, size_t *total_b, char *err,
                             size_t err_len) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0) {
        snprintf(err, err_len, "%s", e == cudaErrorInsufficientDriver ? "the NVIDIA driver is missing or too old"
                                     : e == cudaErrorNoDevice || n == 0 ? "no NVIDIA GPU found"
                                                                        : cudaGetErrorString(e));
        cudaGetLastError();
        return false;
    }
    cudaDeviceProp p;
    if ((e = cudaGetDeviceProperties(&p, 0)) != cudaSuccess || (e = cudaSetDevice(0)) != cudaSuccess ||
        (e = cudaMemGetInfo(free_b, total_b)) != cudaSuccess) {
        snprintf(err, err_len, "cannot use GPU 0: %s", cudaGetErrorString(e));
        cudaGetLastError();
        return false;
    }
    if (p.major < 7) {
        snprintf(err, err_len, "%s has compute capability %d.%d; ingot needs 7.0 or newer", p.name, p.major, p.minor);
        return false;
    }
    snprintf(name, name_len, "%s", p.name);
    const char *pdl = getenv("INGOT_CUDA_PDL");
    g_pdl = p.major >= 9 && !(pdl && !strcmp(pdl, "0"));
    if (!g_stream) {
        CK(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
        CK(cudaStreamCreateWithFlags(&g_side, cudaStreamNonBlocking));
        cudaEvent_t *ev[] = {&g_ev_upload, &g_ev_fed, &g_ev_home};
        for (cudaEvent_t *e : ev) CK(cudaEventCreateWithFlags(e, cudaEventDisableTiming));
    }
    trace_init();
    return true;
}

static void f16_cache_drop(void);
extern "C" void *ig_cuda_malloc(size_t bytes) {
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        cudaGetLastError();
        f16_cache_drop(); // the FP16 weight copies are a cache: give their memory back first
        if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
            cudaGetLastError();
            return NULL;
        }
    }
    CK(cudaMemsetAsync(p, 0, bytes ? bytes : 1, g_stream));
    return p;
}
extern "C" void ig_cuda_free(void *p) {
    nq_clobber(p); // the address may come back for another buffer
    CK(cudaStreamSynchronize(g_stream));
    CK(cudaFree(p));
}
extern "C" void *ig_cuda_host_alloc(size_t bytes) {
    void *p = NULL;
    if (cudaMallocHost(&p, bytes ? bytes : 1) != cudaSuccess) {
        cudaGetLastError();
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}
extern "C" void ig_cuda_host_free(void *p) {
    CK(cudaStreamSynchronize(g_stream));
    CK(cudaFreeHost(p));
}
static bool capturing(void);
extern "C" void ig_cuda_upload(void *dst, const void *src, size_t n) {
    nq_clobber(dst);
    if (n) CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, g_stream));
    if (n && !capturing()) CK(cudaEventRecord(g_ev_upload, g_stream)); // (upload_wait)
}
// Device memory bandwidth: a device-to-device copy of `bytes` (bytes read +
// bytes written per second), median of 9 timed copies after 2 untimed.
extern "C" double ig_cuda_copy_bandwidth(size_t bytes) {
    void *a = NULL, *b = NULL;
    cudaEvent_t e0 = NULL, e1 = NULL;
    double t[9] = {0}, gbs = 0;
    bool ok = cudaMalloc(&a, bytes) == cudaSuccess && cudaMalloc(&b, bytes) == cudaSuccess &&
              cudaEventCreate(&e0) == cudaSuccess && cudaEventCreate(&e1) == cudaSuccess;
    for (int i = -2; ok && i < 9; i++) {
        float ms = 0;
        ok = cudaEventRecord(e0, g_stream) == cudaSuccess &&
             cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, g_stream) == cudaSuccess &&
             cudaEventRecord(e1, g_stream) == cudaSuccess && cudaEventSynchronize(e1) == cudaSuccess &&
             cudaEventElapsedTime(&ms, e0, e1) == cudaSuccess && ms > 0;
        if (ok && i >= 0) t[i] = ms;
    }
    if (ok) {
        std::sort(t, t + 9);
        gbs = 2.0 * (double)bytes / (t[4] / 1e3) / 1e9;
    }
    cudaGetLastError(); // a failed allocation is an answer of 0, not a sticky error
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    cudaFree(a), cudaFree(b);
    return gbs;
}
extern "C" void ig_cuda_download(void *dst, const void *src, size_t n) {
    nq_resolve(src);
    if (n) CK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, g_stream));
    CK(cudaStreamSynchronize(g_stream));
}

// ----------------------------------------------------------------- graphs
// A decode step is ~15 launches per layer: recorded once as a CUDA graph and
// replayed, it costs one launch. Slot k holds the step of k sequences (one
// token each), slot 64 + 1 that of one token over up to 128 cells (its
// attention kernel differs: ig_cuda_step_slot); slot 0 is unused.
enum { N_SLOTS = IG_CUDA_GRAPH_SLOTS };
static cudaGraphExec_t g_exec[N_SLOTS];
static bool g_warm[N_SLOTS]; // the slot's step ran once since the last reset
static const float *g_slot_top1[N_SLOTS]; // the recorded step's g_top1_src

extern "C" int ig_cuda_graph_begin(int slot) {
    if (slot <= 0 || slot >= N_SLOTS) return -1;
    if (g_exec[slot]) {
        trace_restart(g_stream);
        CK(cudaGraphLaunch(g_exec[slot], g_stream));
        g_top1_src = g_slot_top1[slot];
        return 1;
    }
    if (!g_warm[slot]) {
        g_warm[slot] = true;
        return -1;
    }
    if (cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        cudaGetLastError();
        return -1;
    }
    return 0;
}

extern "C" bool ig_cuda_capture_end(int slot) {
    cudaGraph_t g = NULL;
    CK(cudaStreamEndCapture(g_stream, &g));
    bool ok = cudaGraphInstantiate(&g_exec[slot], g, 0) == cudaSuccess;
    if (!ok) cudaGetLastError(), g_exec[slot] = NULL;
    g_slot_top1[slot] = g_top1_src;
    CK(cudaGraphDestroy(g));
    if (ok) CK(cudaGraphLaunch(g_exec[slot], g_stream)); // the recorded step has not run yet
    return ok;
}

extern "C" void ig_cuda_graph_reset(void) {
    trace_dump(g_stream); // (trace builds) the last replayed step
    g_nq[0].src = g_nq[1].src = NULL, g_x16_src = NULL; // a new owner starts without converted inputs
    g_top1_src = NULL;
    for (int i = 0; i < N_SLOTS; i++) {
        g_slot_top1[i] = NULL;
        if (g_exec[i]) CK(cudaGraphExecDestroy(g_exec[i]));
        g_exec[i] = NULL;
        g_warm[i] = false;
    }
}

// the stream is recording a step (stream capture): nothing may be allocated
static bool capturing(void) {
    cudaStreamCaptureStatus cs;
    return cudaStreamIsCapturing(g_stream, &cs) != cudaSuccess || cs != cudaStreamCaptureStatusNone;
}

// ---------------------------------------------------------------- dequant

__device__ __forceinline__ float bf16_to_f(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }
__device__ __forceinline__ float h_to_f(uint16_t h) { return __half2float(__ushort_as_half(h)); }

// Q8_0 / Q4_0 weights are repacked at upload (cuda_glue.c): for a matrix of
// R rows and nb blocks per row, first every block's quants (32 or 16 bytes,
// so a lane reads a whole block with aligned 16-byte loads), then every
// block's fp16 scale. Row r's quants start at r * nb * QB, its scales at
// R * nb * QB + r * nb * 2.
__device__ __forceinline__ float deq_repacked(int t, const uint8_t *w, int n_rows, int nb, int r, int i) {
    int qb = t == T_Q8_0 ? 32 : 16, b = i / 32, j = i % 32;
    const uint8_t *q = w + ((size_t)r * nb + b) * qb;
    float d = h_to_f(((const uint16_t *)(w + (size_t)n_rows * nb * qb))[(size_t)r * nb + b]);
    if (t == T_Q8_0) return d * (float)(int8_t)q[j];
    int v = j < 16 ? (q[j] & 15) : (q[j - 16] >> 4);
    return d * (float)(v - 8);
}

// k-quants in GGUF's own layout (see src/quant/kquant.c)
__device__ __forceinline__ void q4k_scale_min(const uint8_t *q, int j, float *sc, float *m) {
    if (j < 4) {
        *sc = (float)(q[j] & 63);
        *m = (float)(q[j + 4] & 63);
    } else {
        *sc = (float)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (float)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

__device__ __forceinline__ float deq_q4_k(const uint8_t *row, int i) {
    const uint8_t *b = row + (size_t)(i / 256) * 144;
    int j = i % 256, k = j / 32, l = j % 32;
    float sc, m;
    q4k_scale_min(b + 4, k, &sc, &m);
    int q = (b[16 + 32 * (k / 2) + l] >> (4 * (k % 2))) & 15;
    return h_to_f(*(const uint16_t *)b) * sc * (float)q - h_to_f(*(const uint16_t *)(b + 2)) * m;
}

// Q6_K rows as uploaded (cuda_glue.c, repack_q6k): of nsb super-blocks, the
// low nibbles (128 bytes each), high bit pairs (64), scales (16: n, l / 16,
// m) and d of all of them in turn
struct q6k_row {
    const uint8_t *ql, *qh;
    const int8_t *sc;
    const uint16_t *d;
};
__device__ __forceinline__ q6k_row q6k_at(const uint8_t *row, int nsb) {
    return {row, row + 128 * nsb, (const int8_t *)(row + 192 * nsb), (const uint16_t *)(row + 208 * nsb)};
}
__device__ __forceinline__ float deq_q6_k(const uint8_t *row, int i, int nsb) {
    const q6k_row w = q6k_at(row, nsb);
    const int sb = i / 256, j = i % 256, h = j / 128, qt = (j % 128) / 32, l = j % 32;
    const int lo = (w.ql[128 * sb + 64 * h + 32 * (qt % 2) + l] >> (4 * (qt / 2))) & 15;
    const int hi = (w.qh[64 * sb + 32 * h + l] >> (2 * qt)) & 3;
    return h_to_f(w.d[sb]) * (float)w.sc[16 * sb + 8 * h + 4 * (l / 16) + qt] * (float)((lo | (hi << 4)) - 32);
}

// element i of a row of n_in of type t
__device__ __forceinline__ float deq(int t, const uint8_t *row, int i, int n_in) {
    switch (t) {
    case T_F32: return ((const float *)row)[i];
    case T_F16: return h_to_f(((const uint16_t *)row)[i]);
    case T_BF16: return bf16_to_f(((const uint16_t *)row)[i]);
    case T_Q8_0: {
        const uint8_t *b = row + (i / 32) * 34;
        return h_to_f(*(const uint16_t *)b) * (float)(int8_t)b[2 + i % 32];
    }
    case T_Q4_0: {
        const uint8_t *b = row + (i / 32) * 18;
        int j = i % 32;
        int q = j < 16 ? (b[2 + j] & 15) : (b[2 + j - 16] >> 4);
        return h_to_f(*(const uint16_t *)b) * (float)(q - 8);
    }
    case T_Q4_K: return deq_q4_k(row, i);
    case T_Q6_K: return deq_q6_k(row, i, n_in / 256);
    }
    return 0.f;
}

// MLX4/MLX8 in the upload layout: codes of all rows, then F32 scales, then F32 biases
__device__ __forceinline__ float deq_mlx(int t, const uint8_t *w, size_t row_bytes, int n_rows, int n_in, int group,
                                         int r, int i) {
    const uint8_t *q = w + (size_t)r * row_bytes;
    int code = t == T_MLX4 ? (q[i / 2] >> (4 * (i % 2))) & 15 : q[i];
    const float *sc = (const float *)(w + (size_t)n_rows * row_bytes);
    size_t ng = n_in / group, g = (size_t)r * ng + i / group;
    return sc[g] * (float)code + sc[(size_t)n_rows * ng + g];
}

__global__ void k_embed(int t, const uint8_t *w, size_t row_bytes, int n_in, int n_rows, int group, const int32_t *tok,
                        float *out) {
    TRACE(TR_EMBED);
    if (blockIdx.x == 0 && blockIdx.y == 0 && threadIdx.x == 0) g_top1 = 0; // (a step starts: see top1_offer)
    const int r = tok[blockIdx.x], i = blockIdx.y * blockDim.x + threadIdx.x;
    if (i < n_in)
        out[(size_t)blockIdx.x * n_in + i] = t == T_Q8_0 || t == T_Q4_0 ? deq_repacked(t, w, n_rows, n_in / 32, r, i)
                                             : t == T_MLX4 || t == T_MLX8 ? deq_mlx(t, w, row_bytes, n_rows, n_in, group, r, i)
                                                                          : deq(t, w + (size_t)r * row_bytes, i, n_in);
}

extern "C" void ig_cuda_embed(int type, const void *w, size_t row_bytes, int n_in, int n_rows, int group,
                              const int32_t *tok, int n_tok, float *out) {
    nq_clobber(out);
    g_top1_src = NULL; // (a new step)
    // a value per thread, all loads at once (one block per token walking the
    // row took 8-10 us for 4096 values, H100)
    k_embed<<<dim3(n_tok, (n_in + 255) / 256), 256, 0, g_stream>>>(type, (const uint8_t *)w, row_bytes, n_in, n_rows,
                                                                     group, tok, out);
    LAUNCHED();
}

// ---------------------------------------------------------------- rmsnorm

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Block-wide reduction (blockDim.x a multiple of 32, <= 1024); every thread
// gets the result. sh: 32 floats of shared memory.
template <bool MAX> __device__ float block_reduce(float v, float *sh) {
    v = MAX ? warp_max(v) : warp_sum(v);
    int w = threadIdx.x / 32, l = threadIdx.x % 32;
    __syncthreads();
    if (l == 0) sh[w] = v;
    __syncthreads();
    v = threadIdx.x < blockDim.x / 32 ? sh[threadIdx.x] : (MAX ? -INFINITY : 0.f);
    if (w == 0) v = MAX ? warp_max(v) : warp_sum(v);
    if (threadIdx.x == 0) sh[0] = v;
    __syncthreads();
    return sh[0];
}
__device__ __forceinline__ float block_sum(float v, float *sh) { return block_reduce<false>(v, sh); }
__device__ __forceinline__ float block_max(float v, float *sh) { return block_reduce<true>(v, sh); }

__global__ void k_rmsnorm(float *out, const float *x, const int32_t *idx, const float *w, int n, float eps) {
    TRACE(TR_RMSNORM);
    __shared__ float sh[32];
    const float *xr = x + (size_t)(idx ? idx[blockIdx.x] : blockIdx.x) * n;
    float ss = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
    ss = block_sum(ss, sh);
    float scale = rsqrtf(ss / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[(size_t)blockIdx.x * n + i] = xr[i] * scale * w[i];
}

// The 4 values r of a 32-value block held by 8 consecutive lanes (float4
// p of 8), quantized to int8: codes = round(r * 127 / absmax) packed in a
// word, the block's absmax and the sum of its codes. Every lane of the warp
// must call it (shuffles).
struct q8_part {
    uint32_t codes;
    float amax;
    int sum;
};
__device__ __forceinline__ q8_part quant8_part(float4 r) {
    float amax = fmaxf(fmaxf(fabsf(r.x), fabsf(r.y)), fmaxf(fabsf(r.z), fabsf(r.w)));
#pragma unroll
    for (int m = 1; m < 8; m <<= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, m));
    const float id = amax > 0.f ? 127.f / amax : 0.f;
    const int a = __float2int_rn(r.x * id), c = __float2int_rn(r.y * id);
    const int e = __float2int_rn(r.z * id), f = __float2int_rn(r.w * id);
    int s = a + c + e + f;
#pragma unroll
    for (int m = 1; m < 8; m <<= 1) s += __shfl_xor_sync(0xffffffffu, s, m);
    return {(uint32_t)(a & 255) | ((uint32_t)(c & 255) << 8) | ((uint32_t)(e & 255) << 16) | ((uint32_t)f << 24), amax, s};
}

// Quantize the 4 values r (float4 j of a row of nb 32-value blocks) to int8
// in the layout the int8 GEMV reads (gemv_int8.cuh: codes, then per-block
// scales absmax/127, then per-block sums of the codes). 8 consecutive lanes
// hold one block; every lane of the warp must call it (shuffles), ok = false
// for lanes past the row.
__device__ __forceinline__ void quant8_store(float4 r, bool ok, uint8_t *xq, int nb, int j) {
    const q8_part q = quant8_part(r);
    if (!ok) return;
    const int b = j / 8;
    ((uint32_t *)(xq + (size_t)b * 32))[j % 8] = q.codes;
    if (j % 8 == 0) {
        ((float *)(xq + (size_t)nb * 32))[b] = q.amax / 127.f;
        ((int *)(xq + (size_t)nb * 36))[b] = q.sum;
    }
}

// RMSNorm with the row held in registers: one block per row, each thread
// loads up to V float4s at once (independent loads in flight rather than
// a loop of dependent ones), so a 4096-wide row costs one memory round trip.
// ADD: x += y first and the sum is written back (the residual add fused into
// the norm that follows it); ADD 2: y is the split slots of the int8
// tensor-core GEMM (mmq.cuh: `split` of them, `stride` apart), added up in
// split order as k_mmq_sum does. Q (one row): the result is also quantized
// to int8 blocks in the layout the int8 GEMV reads (see gemv_int8.cuh), so
// the matmuls that follow skip their own quantization.
enum { NORM_V = 8 }; // the most float4s per thread (V = 2 for rows up to 8192)
template <int V, int ADD, bool Q>
__global__ void __launch_bounds__(1024) k_norm4(float *out, float *x, const float *y, const int32_t *idx, const float *w,
                                                int n, float eps, uint8_t *xq, int split, size_t stride) {
    TRACE(TR_NORM);
    __shared__ float sh[32];
    pdl_launch();
    const int n4 = n / 4;
    float4 g[V]; // the weights do not depend on the kernels before: load them first
#pragma unroll
    for (int k = 0; k < V; k++) {
        const int i = threadIdx.x + k * blockDim.x;
        g[k] = i < n4 ? ((const float4 *)w)[i] : make_float4(0.f, 0.f, 0.f, 0.f);
    }
    pdl_wait();
    const size_t row = idx ? (size_t)idx[blockIdx.x] : blockIdx.x;
    float4 *xr = (float4 *)(x + row * n);
    const float4 *yr = (const float4 *)(y + (ADD ? row * n : 0));
    float4 v[V];
    float ss = 0.f;
#pragma unroll
    for (int k = 0; k < V; k++) {
        const int i = threadIdx.x + k * blockDim.x;
        v[k] = make_float4(0.f, 0.f, 0.f, 0.f);
        if (i < n4) {
            v[k] = xr[i];
            if (ADD) {
                float4 a = ADD == 1 ? yr[i] : make_float4(0.f, 0.f, 0.f, 0.f);
                if (ADD == 2)
                    for (int z = 0; z < split; z++) {
                        const float4 b = __ldcg(yr + z * (stride / 4) + i);
                        a.x += b.x, a.y += b.y, a.z += b.z, a.w += b.w;
                    }
                v[k].x += a.x, v[k].y += a.y, v[k].z += a.z, v[k].w += a.w;
            }
            ss += v[k].x * v[k].x + v[k].y * v[k].y + v[k].z * v[k].z + v[k].w * v[k].w;
        }
    }
    if (ADD)
#pragma unroll
        for (int k = 0; k < V; k++)
            if (threadIdx.x + k * blockDim.x < n4) xr[threadIdx.x + k * blockDim.x] = v[k];
    ss = block_sum(ss, sh);
    const float scale = rsqrtf(ss / n + eps);
    float4 *o = (float4 *)(out + (size_t)blockIdx.x * n);
    const int nb = n / 32;
#pragma unroll
    for (int k = 0; k < V; k++) {
        const int i = threadIdx.x + k * blockDim.x;
        float4 r = make_float4(0.f, 0.f, 0.f, 0.f);
        if (i < n4) {
            r = make_float4(v[k].x * scale * g[k].x, v[k].y * scale * g[k].y, v[k].z * scale * g[k].z,
                            v[k].w * scale * g[k].w);
            o[i] = r;
        }
        if (Q && k * (int)blockDim.x < n4) quant8_store(r, i < n4, xq, nb, i); // the whole warp takes part
    }
}

template <int V>
static void norm4_launch(float *out, float *x, const float *y, const int32_t *idx, const float *w, int n_rows, int n,
                         float eps, int threads, uint8_t *xq, int split, size_t stride) {
    const bool q = xq != NULL;
    if (split) launch_pdl(k_norm4<V, 2, false>, n_rows, threads, 0, out, x, y, idx, w, n, eps, xq, split, stride);
    else if (y && q) launch_pdl(k_norm4<V, 1, true>, n_rows, threads, 0, out, x, y, idx, w, n, eps, xq, 0, stride);
    else if (y) launch_pdl(k_norm4<V, 1, false>, n_rows, threads, 0, out, x, y, idx, w, n, eps, xq, 0, stride);
    else if (q) launch_pdl(k_norm4<V, 0, true>, n_rows, threads, 0, out, x, y, idx, w, n, eps, xq, 0, stride);
    else launch_pdl(k_norm4<V, 0, false>, n_rows, threads, 0, out, x, y, idx, w, n, eps, xq, 0, stride);
}
// threads a row for k_norm4 over rows of n (about two float4s each), or 0
// if it does not take them
static int norm4_threads(int n) {
    if (n % 4 || n > 4 * NORM_V * 1024) return 0;
    const int n4 = n / 4;
    int threads = ((n4 + 1) / 2 + 31) / 32 * 32;
    threads = threads < 32 ? 32 : threads > 1024 ? 1024 : threads;
    return (n4 + threads - 1) / threads > NORM_V ? 0 : threads;
}
// split > 0: y is that many slots of split sums, stride floats apart (the
// caller checked norm4_threads)
static bool norm4(float *out, float *x, const float *y, const int32_t *idx, const float *w, int n_rows, int n,
                  float eps, int split = 0, size_t stride = 0) {
    nq_resolve(x), nq_clobber(out), nq_clobber(x); // (x is read too)
    if (y && !split) nq_resolve(y);
    const int threads = norm4_threads(n);
    if (!threads) return false;
    const nq_tag *t = n_rows == 1 ? nq_claim(out, n, NULL) : NULL;
    uint8_t *xq = t ? t->buf : NULL;
    if ((n / 4 + threads - 1) / threads <= 2) norm4_launch<2>(out, x, y, idx, w, n_rows, n, eps, threads, xq, split, stride);
    else norm4_launch<NORM_V>(out, x, y, idx, w, n_rows, n, eps, threads, xq, split, stride);
    return true;
}

// x += y, then out = rmsnorm(x) * w (rows of odd widths: two plain kernels)
extern "C" void ig_cuda_add_rmsnorm(float *out, float *x, const float *y, const float *w, int n_rows, int n, float eps) {
    if (norm4(out, x, y, NULL, w, n_rows, n, eps)) return;
    ig_cuda_add(x, y, (size_t)n_rows * n);
    ig_cuda_rmsnorm(out, x, NULL, w, n_rows, n, eps);
}

extern "C" void ig_cuda_rmsnorm(float *out, const float *x, const int32_t *idx, const float *w, int n_rows, int n,
                                float eps) {
    nq_resolve(x);
    if (norm4(out, (float *)x, NULL, idx, w, n_rows, n, eps)) return;
    k_rmsnorm<<<n_rows, 256, 0, g_stream>>>(out, x, idx, w, n, eps);
    LAUNCHED();
}

// The end of a deferred norm (see nq_tag): y *= 1 / rms from the sums of
// squares of x (ss_n of them; one block).
__global__ void __launch_bounds__(1024) k_rms_apply(float *y, const float *ss, int ss_n, int n, float eps) {
    TRACE(TR_RMSNORM);
    __shared__ float sh[32];
    pdl_launch();
    pdl_wait();
    float s = 0.f;
    for (int i = threadIdx.x; i < ss_n; i += blockDim.x) s += ss[i];
    const float scale = rsqrtf(block_sum(s, sh) / n + eps);
    for (int i = threadIdx.x; i < n; i += blockDim.x) y[i] *= scale;
}
static void nq_resolve(const void *p) {
    for (int i = 0; i < 2; i++) {
        nq_tag &t = g_nq[i];
        if (!t.src || t.src != p || !t.pending) continue;
        launch_pdl(k_rms_apply, 1, 1024, 0, (float *)t.src, (const float *)t.ss, t.ss_n, t.n, t.eps);
        t.pending = false; // the int8 copy times 1 / rms still equals it
    }
}

// ----------------------------------------------------------------- matmul
// One warp per output row, NT tokens accumulated at once; the warp's lanes
// split the row so each load instruction covers contiguous bytes.

// SMEM (decode, one token): the block first stages x in shared memory, so
// the activations cross L2 once per block rather than once per row.
// In shared memory x is padded by PAD floats after every 32, so that the
// 16-byte loads of one 8-lane phase (4 lanes per block, 2 blocks) land in
// distinct banks. XI maps an element index to its slot.
template <int T> __device__ __forceinline__ constexpr int xpad() { return T == T_Q4_0 ? 16 : 4; }
#define XI(i) (SMEM ? (i) + ((i) >> 5) * xpad<T>() : (i))

template <int T, int NT, bool SMEM>
__global__ void k_matmul(const uint8_t *w, size_t row_bytes, int n_in, int n_out, int group, const float *xg,
                         float *out, int n_tok) {
    TRACE(TR_MATMUL);
    extern __shared__ float xs[];
    const float *x = xg;
    if (SMEM) {
        for (int i = threadIdx.x * 4; i < n_in; i += blockDim.x * 4) *(float4 *)(xs + XI(i)) = *(const float4 *)(xg + i);
        __syncthreads();
        x = xs;
    }
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    int t0 = blockIdx.y * NT;
    if (row >= n_out) return;
    const uint8_t *r = w + (size_t)row * row_bytes;
    float acc[NT];
#pragma unroll
    for (int j = 0; j < NT; j++) acc[j] = 0.f;
    int nt = min(NT, n_tok - t0);
    if (T == T_Q8_0 || T == T_Q4_0) {
        // repacked layout; four lanes per block, 8 blocks per warp step: the
        // warp's quant loads cover 128 (Q4_0) or 256 (Q8_0) contiguous bytes
        const int QB = T == T_Q8_0 ? 32 : 16, nb = n_in / 32, sub = lane % 4;
        const uint8_t *qrow = w + (size_t)row * nb * QB;
        const uint16_t *drow = (const uint16_t *)(w + (size_t)n_out * nb * QB) + (size_t)row * nb;
        const int e0 = T == T_Q8_0 ? 8 * sub : 4 * sub, e1 = T == T_Q8_0 ? 8 * sub + 4 : 16 + 4 * sub;
#pragma unroll 4
        for (int b = lane / 4; b < nb; b += 8) {
            float d = h_to_f(drow[b]);
            float wv[8];
            if (T == T_Q8_0) {
                uint2 u = *(const uint2 *)(qrow + (size_t)b * 32 + 8 * sub);
                const int8_t *q = (const int8_t *)&u;
#pragma unroll
                for (int i = 0; i < 8; i++) wv[i] = (float)q[i];
            } else {
                uint32_t u = *(const uint32_t *)(qrow + (size_t)b * 16 + 4 * sub);
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    wv[i] = (float)((int)((u >> (8 * i)) & 15) - 8);
                    wv[4 + i] = (float)((int)((u >> (8 * i + 4)) & 15) - 8);
                }
            }
#pragma unroll
            for (int j = 0; j < NT; j++) {
                if (j >= nt) break;
                const float *xb = x + (SMEM ? 0 : (size_t)(t0 + j) * n_in);
                float4 a0 = *(const float4 *)(xb + XI(b * 32 + e0)), a1 = *(const float4 *)(xb + XI(b * 32 + e1));
                acc[j] += d * (wv[0] * a0.x + wv[1] * a0.y + wv[2] * a0.z + wv[3] * a0.w + wv[4] * a1.x +
                               wv[5] * a1.y + wv[6] * a1.z + wv[7] * a1.w);
            }
        }
    } else if (T == T_MLX4 || T == T_MLX8) {
        // one lane per 32-element block; its group's scale and bias
        const int ng = n_in / group;
        const float *sc = (const float *)(w + (size_t)n_out * row_bytes) + (size_t)row * ng;
        const float *bi = (const float *)(w + (size_t)n_out * row_bytes) + (size_t)n_out * ng + (size_t)row * ng;
        for (int b = lane; b < n_in / 32; b += 32) {
            float wv[32];
            if (T == T_MLX4) {
                uint4 u = *(const uint4 *)(r + (size_t)b * 16);
                const uint8_t *q = (const uint8_t *)&u;
#pragma unroll
                for (int l = 0; l < 16; l++) wv[2 * l] = (float)(q[l] & 15), wv[2 * l + 1] = (float)(q[l] >> 4);
            } else {
                uint4 u[2] = {((const uint4 *)(r + (size_t)b * 32))[0], ((const uint4 *)(r + (size_t)b * 32))[1]};
                const uint8_t *q = (const uint8_t *)u;
#pragma unroll
                for (int l = 0; l < 32; l++) wv[l] = (float)q[l];
            }
            const int g = b * 32 / group;
            const float s = sc[g], z = bi[g];
#pragma unroll
            for (int j = 0; j < NT; j++) {
                if (j >= nt) break;
                const float *xb = x + (SMEM ? 0 : (size_t)(t0 + j) * n_in);
                float a = 0.f, sx = 0.f;
#pragma unroll
                for (int l = 0; l < 32; l += 4) {
                    float4 v = *(const float4 *)(xb + XI(b * 32 + l));
                    a += wv[l] * v.x + wv[l + 1] * v.y + wv[l + 2] * v.z + wv[l + 3] * v.w;
                    sx += v.x + v.y + v.z + v.w;
                }
                acc[j] += s * a + z * sx;
            }
        }
    } else if (T == T_Q4_K || T == T_Q6_K) {
        // one lane per 32-weight sub-block: 4 super-blocks per warp step
        const int nsb = n_in / 256, k = lane % 8;
        for (int sb = lane / 8; sb < nsb; sb += 4) {
            float wv[32];
            if (T == T_Q4_K) {
                const uint8_t *b = r + (size_t)sb * 144;
                float sc, m;
                q4k_scale_min(b + 4, k, &sc, &m);
                float d = h_to_f(*(const uint16_t *)b) * sc, dm = h_to_f(*(const uint16_t *)(b + 2)) * m;
                const uint4 *qp = (const uint4 *)(b + 16 + 32 * (k / 2));
                uint4 u[2] = {qp[0], qp[1]};
                const uint8_t *q = (const uint8_t *)u;
                const int sh = 4 * (k % 2);
#pragma unroll
                for (int l = 0; l < 32; l++) wv[l] = d * (float)((q[l] >> sh) & 15) - dm;
            } else {
                const q6k_row w = q6k_at(r, nsb);
                const int h = k / 4, qt = k % 4;
                const uint8_t *ql = w.ql + 128 * sb + 64 * h + 32 * (qt % 2), *qh = w.qh + 64 * sb + 32 * h;
                const float d = h_to_f(w.d[sb]);
                const float s0 = d * (float)w.sc[16 * sb + 8 * h + qt], s1 = d * (float)w.sc[16 * sb + 8 * h + 4 + qt];
#pragma unroll
                for (int l = 0; l < 32; l++) {
                    int q = (((ql[l] >> (4 * (qt / 2))) & 15) | (((qh[l] >> (2 * qt)) & 3) << 4)) - 32;
                    wv[l] = (l < 16 ? s0 : s1) * (float)q;
                }
            }
            const int base = sb * 256 + 32 * k;
#pragma unroll
            for (int j = 0; j < NT; j++) {
                if (j >= nt) break;
                const float *xb = x + (SMEM ? 0 : (size_t)(t0 + j) * n_in);
                float a = 0.f;
#pragma unroll
                for (int l = 0; l < 32; l += 4) {
                    float4 v = *(const float4 *)(xb + XI(base + l));
                    a += wv[l] * v.x + wv[l + 1] * v.y + wv[l + 2] * v.z + wv[l + 3] * v.w;
                }
                acc[j] += a;
            }
        }
    } else if (n_in % 256 == 0 && T != T_F32) {
        // 16-byte loads: 8 halves per lane, 256 elements per warp step
        for (int i = lane * 8; i < n_in; i += 256) {
            uint4 raw = *(const uint4 *)(r + (size_t)i * 2);
            const uint16_t *h = (const uint16_t *)&raw;
            float wv[8];
#pragma unroll
            for (int k = 0; k < 8; k++) wv[k] = T == T_F16 ? h_to_f(h[k]) : bf16_to_f(h[k]);
#pragma unroll
            for (int j = 0; j < NT; j++) {
                if (j >= nt) break;
                const float *xb = x + (SMEM ? 0 : (size_t)(t0 + j) * n_in);
                float4 a0 = *(const float4 *)(xb + XI(i)), a1 = *(const float4 *)(xb + XI(i + 4));
                acc[j] += wv[0] * a0.x + wv[1] * a0.y + wv[2] * a0.z + wv[3] * a0.w + wv[4] * a1.x + wv[5] * a1.y +
                          wv[6] * a1.z + wv[7] * a1.w;
            }
        }
    } else {
        for (int i = lane; i < n_in; i += 32) {
            float wi = T == T_F32 ? ((const float *)r)[i] : T == T_F16 ? h_to_f(((const uint16_t *)r)[i])
                                                                         : bf16_to_f(((const uint16_t *)r)[i]);
#pragma unroll
            for (int j = 0; j < NT; j++)
                if (j < nt) acc[j] += wi * x[(SMEM ? 0 : (size_t)(t0 + j) * n_in) + XI(i)];
        }
    }
#pragma unroll
    for (int j = 0; j < NT; j++) {
        float s = warp_sum(acc[j]);
        if (lane == 0 && j < nt) out[(size_t)(t0 + j) * n_out + row] = s;
    }
}

// Decode GEMV for the repacked Q8_0/Q4_0 layout: each lane takes whole
// 32-weight blocks (one 16-byte load for Q4_0, two for Q8_0), a warp reads
// 32 consecutive blocks of a row (512/1024 contiguous bytes) and works on
// GEMV_R rows at once so every activation read from shared memory serves
// GEMV_R rows. Activations sit in shared memory with 4 floats of padding per
// 32, so the lanes' float4 reads of one phase hit distinct banks.
#define GEMV_R 2
#define GEMV_WARPS 8
#define GEMV_MAX_W 3
// Up to GEMV_MAX_W matrices that read the same activations (Q/K/V, gate/up)
// in one launch: blocks [first[i], first[i+1]) belong to matrix i.
struct gemv_set {
    const uint8_t *w[GEMV_MAX_W];
    float *out[GEMV_MAX_W];
    int n_out[GEMV_MAX_W];
    int first[GEMV_MAX_W + 1];
    int n;
    const float *bias[GEMV_MAX_W]; // added to the outputs (NULL: none; the int8 kernels only)
    const float *ss;               // the input is a deferred norm's (nq_tag): its sums of squares (one token)
    int ss_n;
    float eps;
    bool xs;                       // the one-token GEMV stages its input in shared memory (x_smem)
};
// Number the blocks of rows_per_block rows of each matrix one after another
// (set.first); returns their total, the grid.
static int set_blocks(gemv_set &set, int rows_per_block) {
    set.first[0] = 0;
    for (int i = 0; i < set.n; i++) set.first[i + 1] = set.first[i] + (set.n_out[i] + rows_per_block - 1) / rows_per_block;
    return set.first[set.n];
}
// the rows of all matrices of the set
__host__ __device__ static int set_rows(const gemv_set &set) {
    int n = 0;
    for (int i = 0; i < set.n; i++) n += set.n_out[i];
    return n;
}

template <int T>
__global__ void k_gemv_q(gemv_set set, int n_in, const float *xg) {
    TRACE(TR_GEMV_Q);
    extern __shared__ float xs[];
    for (int i = threadIdx.x * 4; i < n_in; i += blockDim.x * 4) *(float4 *)(xs + i + (i >> 5) * 4) = *(const float4 *)(xg + i);
    __syncthreads();
    int mi = 0;
    while (mi + 1 < set.n && (int)blockIdx.x >= set.first[mi + 1]) mi++;
    const uint8_t *w = set.w[mi];
    const int n_out = set.n_out[mi];
    float *out = set.out[mi];
    const int lane = threadIdx.x % 32, QB = T == T_Q8_0 ? 32 : 16, nb = n_in / 32;
    const int row0 = ((blockIdx.x - set.first[mi]) * (blockDim.x / 32) + threadIdx.x / 32) * GEMV_R;
    if (row0 >= n_out) return;
    const int nr = min(GEMV_R, n_out - row0);
    const uint8_t *q0 = w + (size_t)row0 * nb * QB;
    const uint16_t *d0 = (const uint16_t *)(w + (size_t)n_out * nb * QB) + (size_t)row0 * nb;
    float acc[GEMV_R];
#pragma unroll
    for (int r = 0; r < GEMV_R; r++) acc[r] = 0.f;
#pragma unroll 2
    for (int b = lane; b < nb; b += 32) {
        const float *xb = xs + b * 36;
        float4 a[8];
#pragma unroll
        for (int k = 0; k < 8; k++) a[k] = *(const float4 *)(xb + 4 * k);
#pragma unroll
        for (int r = 0; r < GEMV_R; r++) {
            if (r >= nr) break;
            const float d = h_to_f(d0[(size_t)r * nb + b]);
            float sum = 0.f;
            if (T == T_Q4_0) {
                const uint4 u = *(const uint4 *)(q0 + ((size_t)r * nb + b) * 16);
                const uint32_t v[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
                for (int k = 0; k < 4; k++) { // bytes 4k..4k+3: low nibbles = weights 4k.., high = 16+4k..
                    const uint32_t x = v[k];
                    sum += (float)((int)(x & 15) - 8) * a[k].x + (float)((int)((x >> 8) & 15) - 8) * a[k].y +
                           (float)((int)((x >> 16) & 15) - 8) * a[k].z + (float)((int)((x >> 24) & 15) - 8) * a[k].w;
                    sum += (float)((int)((x >> 4) & 15) - 8) * a[4 + k].x + (float)((int)((x >> 12) & 15) - 8) * a[4 + k].y +
                           (float)((int)((x >> 20) & 15) - 8) * a[4 + k].z + (float)((int)((x >> 28) & 15) - 8) * a[4 + k].w;
                }
            } else {
                const uint4 *p = (const uint4 *)(q0 + ((size_t)r * nb + b) * 32);
                const uint4 u0 = p[0], u1 = p[1];
                const uint32_t v[8] = {u0.x, u0.y, u0.z, u0.w, u1.x, u1.y, u1.z, u1.w};
#pragma unroll
                for (int k = 0; k < 8; k++) {
                    const uint32_t x = v[k];
                    sum += (float)(int8_t)(x & 255) * a[k].x + (float)(int8_t)((x >> 8) & 255) * a[k].y +
                           (float)(int8_t)((x >> 16) & 255) * a[k].z + (float)(int8_t)(x >> 24) * a[k].w;
                }
            }
            acc[r] += d * sum;
        }
    }
#pragma unroll
    for (int r = 0; r < GEMV_R; r++) {
        const float t = warp_sum(acc[r]);
        if (lane == 0 && r < nr) out[row0 + r] = t;
    }
}

// 16 bytes of weights that are read once: past L1, so that what is reused
// (the activations) stays there
__device__ __forceinline__ uint4 ld_stream(const uint4 *p) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

/* INGOT_CUDA_EPI=0: the one-token GEMVs write plain outputs (no int8 copy
 * of the SwiGLU output, no residual add + deferred norm): a separate
 * quantize and norm launch, as before (for comparison). */
static bool epi_on(void) {
    static int on = -1;
    if (on < 0) on = !getenv("INGOT_CUDA_EPI") || atoi(getenv("INGOT_CUDA_EPI")) != 0;
    return on;
}

#include "backend/cuda/topk.cuh"
#include "backend/cuda/gemv_int8.cuh"
#include "backend/cuda/gemv_f16.cuh"

/* INGOT_CUDA_GEMV selects the Q8_0/Q4_0 decode kernel: 2 (default) int8
 * activations + dp4a, 1 float activations with whole-block lanes (exact to
 * F32 rounding, what the reference tests use), 0 the first kernel. */
static int gemv_mode(void) {
    static int mode = -1;
    if (mode < 0) mode = getenv("INGOT_CUDA_GEMV") ? atoi(getenv("INGOT_CUDA_GEMV")) : 2;
    return mode;
}

template <int T>
static void launch_matmul(const void *w, size_t rb, int n_in, int n_out, int group, const float *x, float *out,
                          int n_tok, void *scratch) {
    const int NT = 8, warps = 8;
    size_t smem = ((size_t)n_in + (size_t)(n_in / 32) * 16) * sizeof(float); // room for the largest pad
    const int gemv = gemv_mode();
    if ((T == T_Q8_0 || T == T_Q4_0 || T == T_Q4_K) && gemv == 2) {
        gemv_set set = {{(const uint8_t *)w}, {out}, {n_out}, {0}, 1};
        if (matmul_int8(T, set, n_in, x, n_tok, false, scratch)) return;
    }
    if ((T == T_Q8_0 || T == T_Q4_0) && n_tok == 1 && n_in % 32 == 0 && smem <= 200 * 1024 && gemv == 1) {
        static size_t smem_g = 48 * 1024;
        if (smem > smem_g) {
            CK(cudaFuncSetAttribute(k_gemv_q<T>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
            smem_g = smem;
        }
        const int rows_per_block = GEMV_WARPS * GEMV_R;
        gemv_set set = {{(const uint8_t *)w}, {out}, {n_out}, {0, (n_out + rows_per_block - 1) / rows_per_block}, 1};
        k_gemv_q<T><<<set.first[1], GEMV_WARPS * 32, smem, g_stream>>>(set, n_in, x);
        LAUNCHED();
        return;
    }
    if (n_tok == 1 && n_in % 32 == 0 && smem <= 200 * 1024) {
        static size_t smem_set = 48 * 1024; // per instantiation
        if (smem > smem_set) {
            CK(cudaFuncSetAttribute(k_matmul<T, 1, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
            smem_set = smem;
        }
        k_matmul<T, 1, true><<<(n_out + warps - 1) / warps, warps * 32, smem, g_stream>>>((const uint8_t *)w, rb, n_in,
                                                                                        n_out, group, x, out, 1);
        LAUNCHED();
        return;
    }
    dim3 grid((n_out + warps - 1) / warps, (n_tok + NT - 1) / NT);
    k_matmul<T, NT, false><<<grid, warps * 32, 0, g_stream>>>((const uint8_t *)w, rb, n_in, n_out, group, x, out, n_tok);
    LAUNCHED();
}


// ---------------------------------------------------------------- prefill with cuBLAS
// Batches of many tokens use tensor cores through cuBLAS: the weight matrix
// is expanded to FP16 (kept, see f16_weight), the activations converted to
// FP16, and cublasGemmEx accumulates in FP32. libcublas is opened at run time
// (dlopen), so the binary starts without it; when it is missing, or for
// small batches, the GEMV kernels above run instead. INGOT_CUDA_CUBLAS=0
// turns it off; INGOT_CUDA_CUBLAS_MIN sets the smallest batch (default 16).
typedef decltype(&cublasCreate_v2) cublas_create_fn;
typedef decltype(&cublasSetStream_v2) cublas_set_stream_fn;
typedef cublasStatus_t (*cublas_gemm_fn)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                         const void *, const void *, cudaDataType, int, const void *, cudaDataType, int,
                                         const void *, void *, cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
static struct {
    int state; // 0 untried, 1 ready, -1 unavailable
    cublasHandle_t h;
    cublas_set_stream_fn set_stream;
    cublas_gemm_fn gemm;
    __half *w16, *x16;
    size_t w_cap, x_cap;
    int min_tok;
} g_cb;

/* The smallest batch for cuBLAS; read without touching cuBLAS, so that decode
 * steps (recorded into CUDA graphs, where creating a handle is illegal) never
 * initialize it. */
static int cublas_min_tok(void) {
    if (!g_cb.min_tok) {
        const char *m = getenv("INGOT_CUDA_CUBLAS_MIN");
        g_cb.min_tok = m && atoi(m) > 1 ? atoi(m) : 16;
    }
    return g_cb.min_tok;
}

static bool cublas_ready(void) {
    if (g_cb.state) return g_cb.state > 0;
    g_cb.state = -1;
    const char *e = getenv("INGOT_CUDA_CUBLAS");
    if (e && !strcmp(e, "0")) return false;
    static const char *names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so",
                                  "/usr/local/cuda/lib64/libcublas.so.13", "/usr/local/cuda/lib64/libcublas.so"};
    void *lib = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !lib; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) return false;
    cublas_create_fn create = (cublas_create_fn)dlsym(lib, "cublasCreate_v2");
    g_cb.set_stream = (cublas_set_stream_fn)dlsym(lib, "cublasSetStream_v2");
    g_cb.gemm = (cublas_gemm_fn)dlsym(lib, "cublasGemmEx");
    if (!create || !g_cb.set_stream || !g_cb.gemm || create(&g_cb.h) != CUBLAS_STATUS_SUCCESS) return false;
    g_cb.state = 1;
    return true;
}

__global__ void k_deq_f16(int t, const uint8_t *w, size_t rb, int n_in, int n_rows, int group, __half *out) {
    int r = blockIdx.x;
    for (int i = threadIdx.x; i < n_in; i += blockDim.x) {
        float v = t == T_Q8_0 || t == T_Q4_0 ? deq_repacked(t, w, n_rows, n_in / 32, r, i)
                  : t == T_MLX4 || t == T_MLX8 ? deq_mlx(t, w, rb, n_rows, n_in, group, r, i)
                                               : deq(t, w + (size_t)r * rb, i, n_in);
        out[(size_t)r * n_in + i] = __float2half(v);
    }
}

__global__ void k_f32_to_f16(const float *x, __half *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = __float2half(x[i]);
}

static bool grow16(__half **p, size_t *cap, size_t n) {
    if (n <= *cap) return true;
    if (capturing()) return false;
    ig_cuda_graph_reset(); // recorded steps may point at the old buffer
    if (*p) cudaFree(*p);
    *p = NULL;
    *cap = 0;
    if (cudaMalloc((void **)p, n * sizeof(__half)) != cudaSuccess) return false;
    *cap = n;
    return true;
}

// FP16 copies of quantized weights, made on a weight's first batched
// matmul and kept while the GPU has room: expanding a matrix on every call
// cost more than the GEMM itself. Keyed by the weight's device address;
// dropped when any model's weights are freed (the address may be reused) and
// when an allocation would otherwise fail. At most what leaves a tenth of the
// GPU's memory (and 1 GiB) free; INGOT_CUDA_F16_CACHE=0 turns it off.
enum { F16_SLOTS = 4096 };
static struct {
    const void *w[F16_SLOTS];
    __half *h[F16_SLOTS];
    int n, state; // state: 0 unread, 1 on, -1 off
} g_f16;

static void f16_cache_drop(void) {
    if (!g_f16.n) return;
    ig_cuda_graph_reset(); // recorded steps may point at the copies
    CK(cudaStreamSynchronize(g_stream));
    for (int i = 0; i < F16_SLOTS; i++)
        if (g_f16.w[i]) cudaFree(g_f16.h[i]), g_f16.w[i] = NULL, g_f16.h[i] = NULL;
    g_f16.n = 0;
}
extern "C" void ig_cuda_forget_weights(void) { f16_cache_drop(); }

// W as FP16 (n_out rows of n_in): F16 in place, a kept copy, or expanded into
// the scratch; NULL if no memory for any
static const __half *f16_weight(int type, const void *w, size_t rb, int n_in, int n_out, int group) {
    if (type == T_F16) return (const __half *)w;
    const size_t n = (size_t)n_out * n_in;
    if (!g_f16.state) g_f16.state = getenv("INGOT_CUDA_F16_CACHE") && !atoi(getenv("INGOT_CUDA_F16_CACHE")) ? -1 : 1;
    unsigned i = (unsigned)(((uintptr_t)w >> 8) * 2654435761u) % F16_SLOTS;
    while (g_f16.w[i] && g_f16.w[i] != w) i = (i + 1) % F16_SLOTS;
    if (g_f16.w[i]) return g_f16.h[i];
    __half *dst = NULL;
    size_t free_b = 0, total_b = 0;
    if (capturing()) {
        // recording (the step ran once before, so a kept copy or the scratch exists)
        if (n > g_cb.w_cap) return NULL;
        dst = g_cb.w16;
    } else if (g_f16.state > 0 && g_f16.n < F16_SLOTS / 2 && cudaMemGetInfo(&free_b, &total_b) == cudaSuccess &&
        free_b > n * 2 + total_b / 10 + ((size_t)1 << 30) && cudaMalloc((void **)&dst, n * 2) == cudaSuccess) {
        g_f16.w[i] = w, g_f16.h[i] = dst;
        g_f16.n++;
    } else {
        cudaGetLastError();
        if (!grow16(&g_cb.w16, &g_cb.w_cap, n)) return NULL;
        dst = g_cb.w16;
    }
    k_deq_f16<<<n_out, 256, 0, g_stream>>>(type, (const uint8_t *)w, rb, n_in, n_out, group, dst);
    LAUNCHED();
    return dst;
}

/* y[n_tok x n_out] = x[n_tok x n_in] W^T with W in FP16; false: not done */
static bool matmul_cublas(int type, const void *w, size_t rb, int n_in, int n_out, int group, const float *x, float *out,
                          int n_tok) {
    if (n_tok < cublas_min_tok() || !cublas_ready()) return false;
    const __half *old = g_cb.x16;
    if (!grow16(&g_cb.x16, &g_cb.x_cap, (size_t)n_tok * n_in)) return false;
    if (g_cb.x16 != old) g_x16_src = NULL;
    const __half *w16 = f16_weight(type, w, rb, n_in, n_out, group);
    if (!w16) return false;
    size_t nx = (size_t)n_tok * n_in;
    if (x != g_x16_src || nx != g_x16_n) { // (the same input as the matmul before: converted already)
        k_f32_to_f16<<<(unsigned)IG_MIN((nx + 255) / 256, (size_t)65535), 256, 0, g_stream>>>(x, g_cb.x16, nx);
        LAUNCHED();
        g_x16_src = x, g_x16_n = nx;
    }
    g_cb.set_stream(g_cb.h, g_stream);
    const float one = 1.f, zero = 0.f;
    // column-major view: C (n_out x n_tok) = W16^T (n_out x n_in) . X16 (n_in x n_tok)
    cublasStatus_t st = g_cb.gemm(g_cb.h, CUBLAS_OP_T, CUBLAS_OP_N, n_out, n_tok, n_in, &one, w16, CUDA_R_16F, n_in,
                                  g_cb.x16, CUDA_R_16F, n_in, &zero, out, CUDA_R_32F, n_out, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT);
    return st == CUBLAS_STATUS_SUCCESS;
}

/* Several Q8_0/Q4_0 matrices over one activation row in one launch; false
 * when that path does not apply (the caller then runs them one by one). */
extern "C" bool ig_cuda_matmul_n(int type, const void *const *w, const int *n_out, float *const *out, int n_w, int n_in,
                                 const float *x, int n_tok, void *scratch) {
    for (int i = 0; i < n_w; i++) nq_clobber(out[i]);
    const int mode = gemv_mode();
    if (n_tok == 1 && mode >= 1 && n_w >= 1 && n_w <= GEMV_MAX_W && (type == T_F16 || type == T_BF16)) {
        gemv_set set;
        memset(&set, 0, sizeof set);
        set.n = n_w;
        for (int i = 0; i < n_w; i++) set.w[i] = (const uint8_t *)w[i], set.out[i] = out[i], set.n_out[i] = n_out[i];
        if (gemv_half(type, set, n_in, x, false)) return true;
    }
    size_t smem = ((size_t)n_in + (size_t)(n_in / 32) * 16) * sizeof(float);
    if (!mode || n_w < 1 || n_w > GEMV_MAX_W || n_in % 32) return false;
    if (n_tok >= cublas_min_tok() && !(mode == 2 && mmq_applies(type, n_in, n_tok))) return false;
    if (type != T_Q8_0 && type != T_Q4_0 && !(type == T_Q4_K && n_tok == 1 && mode == 2)) return false;
    gemv_set set;
    memset(&set, 0, sizeof set);
    set.n = n_w;
    if (mode == 2) {
        for (int i = 0; i < n_w; i++) {
            set.w[i] = (const uint8_t *)w[i];
            set.out[i] = out[i];
            set.n_out[i] = n_out[i];
        }
        if (matmul_int8(type, set, n_in, x, n_tok, false, scratch)) return true;
    }
    if (type == T_Q4_K || n_tok != 1 || smem > 200 * 1024) return false; // the float kernel below is Q8_0/Q4_0's
    nq_resolve(x);
    for (int i = 0; i < n_w; i++) {
        set.w[i] = (const uint8_t *)w[i];
        set.out[i] = out[i];
        set.n_out[i] = n_out[i];
    }
    set_blocks(set, GEMV_WARPS * GEMV_R);
    static size_t smem_q8 = 48 * 1024, smem_q4 = 48 * 1024;
    size_t *cur = type == T_Q8_0 ? &smem_q8 : &smem_q4;
    if (smem > *cur) {
        if (type == T_Q8_0) CK(cudaFuncSetAttribute(k_gemv_q<T_Q8_0>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        else CK(cudaFuncSetAttribute(k_gemv_q<T_Q4_0>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        *cur = smem;
    }
    if (type == T_Q8_0) k_gemv_q<T_Q8_0><<<set.first[n_w], GEMV_WARPS * 32, smem, g_stream>>>(set, n_in, x);
    else k_gemv_q<T_Q4_0><<<set.first[n_w], GEMV_WARPS * 32, smem, g_stream>>>(set, n_in, x);
    LAUNCHED();
    return true;
}

extern "C" bool ig_cuda_qkv_rope_store(int type, const void *const *w, const float *const *bias, const int *n_out,
                                       int n_in, const float *x, float *q, float *k, float *v, float *kc, float *vc,
                                       const int32_t *pos, const int32_t *cell, int head_dim, int n_rot,
                                       const double *inv_freq, bool neox, void *scratch) {
    // the GEMVs' groups of 2 (F16/BF16) or 4 rows hold whole rotation pairs
    const bool half = type == T_F16 || type == T_BF16;
    const int mode = gemv_mode();
    if ((half ? mode < 1 || !epi_on() : mode != 2) || head_dim % 2 || n_rot % 2 || n_rot > head_dim ||
        n_out[1] != n_out[2])
        return false;
    if (type != T_Q8_0 && type != T_Q4_0 && type != T_Q4_K && !(half && n_in % 8 == 0)) return false;
    if (n_out[0] % head_dim || n_out[1] % head_dim) return false;
    nq_clobber(q), nq_clobber(k), nq_clobber(v);
    gemv_set set;
    memset(&set, 0, sizeof set);
    set.n = 3;
    float *out[3] = {q, k, v};
    for (int i = 0; i < 3; i++) set.w[i] = (const uint8_t *)w[i], set.n_out[i] = n_out[i], set.bias[i] = bias[i];
    if (neox) { // the pairs lie half a head apart: rotate after the GEMV
        for (int i = 0; i < 3; i++) set.out[i] = out[i];
        if (!(half ? gemv_half(type, set, n_in, x, false) : matmul_int8(type, set, n_in, x, 1, false, scratch)))
            return false;
        ig_cuda_rope_store(q, k, v, kc, vc, pos, cell, 1, n_out[0] / head_dim, n_out[1] / head_dim, head_dim, n_rot,
                           inv_freq, true);
        return true;
    }
    gemv_epi e = {};
    e.ra = qkv_rope{q, kc, vc, pos, cell, inv_freq, head_dim, n_rot, n_out[1]};
    if (half) return gemv_half(type, set, n_in, x, false, EPI_ROPE, &e);
    return matmul_int8(type, set, n_in, x, 1, false, scratch, EPI_ROPE, &e);
}

/* out = silu(gate x) * (up x) for Q8_0/Q4_0 gate/up in one launch; false if not applicable */
extern "C" bool ig_cuda_matmul_glu(int type, const void *gate, const void *up, int n_ff, int n_in, const float *x,
                                   float *out, int n_tok, void *scratch) {
    nq_clobber(out);
    gemv_set set;
    memset(&set, 0, sizeof set);
    set.n = 1;
    set.w[0] = (const uint8_t *)gate;
    set.w[1] = (const uint8_t *)up;
    set.out[0] = out;
    set.n_out[0] = n_ff;
    if (n_tok == 1 && gemv_mode() >= 1 && (type == T_F16 || type == T_BF16)) return gemv_half(type, set, n_in, x, true);
    if (gemv_mode() != 2 || (n_tok >= cublas_min_tok() && !mmq_applies(type, n_in, n_tok))) return false;
    return matmul_int8(type, set, n_in, x, n_tok, true, scratch);
}

// 2-64 tokens: x += W y through the int8 tensor-core GEMM with split row
// tiles, the norm adding up the split sums itself (no k_mmq_sum launch);
// false where that does not apply (no split, other types or shapes)
static bool mmq_add_norm(int type, const void *w, int n_in, int n_out, const float *y, float *x, const float *nw,
                         float *out, float eps, int n_tok, void *scratch) {
    if ((type != T_Q8_0 && type != T_Q4_0) || gemv_mode() != 2 || !scratch || !mmq_applies(type, n_in, n_tok) ||
        !norm4_threads(n_out))
        return false;
    gemv_set set = {{(const uint8_t *)w}, {out}, {n_out}, {0}, 1};
    if (mmq_split(set, n_in, false) < 2) return false;
    nq_resolve(y);
    const int split = type == T_Q8_0 ? mmq<T_Q8_0>(set, n_in, y, n_tok, false, scratch, true)
                                     : mmq<T_Q4_0>(set, n_in, y, n_tok, false, scratch, true);
    return norm4(out, x, g_mmq_part, NULL, nw, n_tok, n_out, eps, split, (size_t)n_tok * n_out);
}

/* One token: x += W y, then out = rmsnorm(x) * nw, the norm deferred (see
 * nq_tag): the GEMV's epilogue adds the residual and writes out unscaled,
 * its int8 copy and the sums of squares; the next GEMVs (int8 or F16/BF16)
 * scale by 1 / rms. More tokens: mmq_add_norm. */
extern "C" bool ig_cuda_matmul_add_norm(int type, const void *w, int n_in, int n_out, const float *y, float *x,
                                        const float *nw, float *out, float eps, int n_tok, void *scratch) {
    if (n_tok > 1) return mmq_add_norm(type, w, n_in, n_out, y, x, nw, out, eps, n_tok, scratch);
    const bool half = type == T_F16 || type == T_BF16;
    if (gemv_mode() != 2 || n_out % 32 || !epi_on()) return false;
    const bool kq = type == T_Q4_K || type == T_Q6_K; // (Q6_K: some layers' down projection in a Q4_K_M file)
    if (type != T_Q8_0 && type != T_Q4_0 && !kq && !(half && n_in % 8 == 0)) return false;
    // Q4_K rows of 2048 (1B models): the blocks of whole 32-row chunks cost
    // more than the norm launch they save (gemv_micro, H100: O 3.8 vs 2.1 us,
    // down 8.0 vs 5.8 us; Llama-3.2-1B Q4_K 1685 -> 1573 t/s); at 4096 they
    // gain (8B 456 -> 470). INGOT_CUDA_RESNORM_MIN sets the smallest n_out.
    static int min_out = -1;
    if (min_out < 0) min_out = getenv("INGOT_CUDA_RESNORM_MIN") ? atoi(getenv("INGOT_CUDA_RESNORM_MIN")) : 0;
    if (n_out < (min_out ? min_out : kq ? 4096 : 0)) return false;
    nq_resolve(x), nq_clobber(x), nq_clobber(out);
    gemv_set set = {{(const uint8_t *)w}, {out}, {n_out}, {0}, 1};
    gemv_epi e = {};
    e.res = x, e.nw = nw, e.eps = eps;
    if (!half) return matmul_int8(type, set, n_in, y, 1, false, scratch, EPI_RESNORM, &e);
    // (the F16 GEMV reads y as floats, so either buffer will do)
    e.ob = resnorm_rows_h(n_out);
    return nq_claim_deferred(out, n_out, NULL, &e) && gemv_half(type, set, n_in, y, false, EPI_RESNORM, &e);
}

// out = W x; top1 (one token): the GEMV keeps out's largest value in g_top1
static void matmul(int type, const void *w, size_t rb, int n_in, int n_out, int group, const float *x, float *out,
                   int n_tok, void *scratch, bool top1) {
    nq_clobber(out);
    gemv_epi e = {};
    e.top1 = top1 && n_tok == 1 ? top1_key() : NULL;
    if (n_tok == 1 && gemv_mode() == 2) { // int8 GEMV: may read a deferred norm's output as it is
        gemv_set set = {{(const uint8_t *)w}, {out}, {n_out}, {0}, 1};
        if (matmul_int8(type, set, n_in, x, 1, false, scratch, EPI_PLAIN, &e)) {
            if (e.top1) g_top1_src = out;
            return;
        }
    }
    if (n_tok == 1 && gemv_mode() >= 1 && (type == T_F16 || type == T_BF16)) { // (likewise)
        gemv_set set = {{(const uint8_t *)w}, {out}, {n_out}, {0}, 1};
        if (gemv_half(type, set, n_in, x, false, EPI_PLAIN, &e)) {
            if (e.top1) g_top1_src = out;
            return;
        }
    }
    nq_resolve(x);
    const bool mmq_first = gemv_mode() == 2 && mmq_applies(type, n_in, n_tok); // (tensor cores on the weights as stored)
    if (type != T_F32 && !mmq_first && matmul_cublas(type, w, rb, n_in, n_out, group, x, out, n_tok)) return;
    switch (type) {
    case T_F32: launch_matmul<T_F32>(w, rb, n_in, n_out, group, x, out, n_tok, scratch); break;
    case T_F16: launch_matmul<T_F16>(w, rb, n_in, n_out, group, x, out, n_tok, scratch); break;
    case T_BF16: launch_matmul<T_BF16>(w, rb, n_in, n_out, group, x, out, n_tok, scratch); break;
    case T_Q8_0: launch_matmul<T_Q8_0>(w, rb, n_in, n_out, group, x, out, n_tok, scratch); break;
    case T_Q4_0: launch_matmul<T_Q4_0>(w, rb, n_in, n_out, group, x, out, n_tok, scratch); break;
    case T_Q4_K: launch_matmul<T_Q4_K>(w, rb, n_in, n_out, group, x, out, n_tok, scratch); break;
    case T_Q6_K: launch_matmul<T_Q6_K>(w, rb, n_in, n_out, group, x, out, n_tok, scratch); break;
    case T_MLX4: launch_matmul<T_MLX4>(w, rb, n_in, n_out, group, x, out, n_tok, scratch); break;
    case T_MLX8: launch_matmul<T_MLX8>(w, rb, n_in, n_out, group, x, out, n_tok, scratch); break;
    default: fprintf(stderr, "ingot: CUDA matmul: type %d\n", type); abort();
    }
}

// The logits of one token keep their largest value as a top-k key (the
// order of topk.cuh) in g_top1: the output GEMV's blocks offer their
// outputs' largest (top1_offer), the step's first kernel zeroes it
// (k_embed), and a greedy pick reads it (ig_cuda_topk, k = 1) instead of
// two launches over the whole row. INGOT_CUDA_TOP1=0: off.
extern "C" void ig_cuda_matmul(int type, const void *w, size_t rb, int n_in, int n_out, int group, const float *x,
                               float *out, int n_tok, void *scratch) {
    matmul(type, w, rb, n_in, n_out, group, x, out, n_tok, scratch, false);
}
extern "C" void ig_cuda_matmul_logits(int type, const void *w, size_t rb, int n_in, int n_out, int group,
                                      const float *x, float *out, int n_tok, void *scratch) {
    static int on = -1;
    if (on < 0) on = !getenv("INGOT_CUDA_TOP1") || atoi(getenv("INGOT_CUDA_TOP1")) != 0;
    matmul(type, w, rb, n_in, n_out, group, x, out, n_tok, scratch, on);
}

// ------------------------------------------------------------ elementwise

__global__ void k_add_bias(float *x, const float *b, size_t total, int n) {
    TRACE(TR_BIAS);
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < total) x[i] += b[i % n];
}
extern "C" void ig_cuda_add_bias(float *x, const float *b, int n_tok, int n) {
    nq_resolve(x), nq_clobber(x); // (x is read too)
    size_t total = (size_t)n_tok * n;
    k_add_bias<<<(unsigned)((total + 255) / 256), 256, 0, g_stream>>>(x, b, total, n);
    LAUNCHED();
}

__global__ void k_add(float *x, const float *y, size_t n) {
    TRACE(TR_ADD);
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += y[i];
}
extern "C" void ig_cuda_add(float *x, const float *y, size_t n) {
    nq_resolve(y);
    nq_resolve(x), nq_clobber(x);
    k_add<<<(unsigned)((n + 255) / 256), 256, 0, g_stream>>>(x, y, n);
    LAUNCHED();
}

__global__ void k_swiglu(float *g, const float *u, size_t n) {
    TRACE(TR_SWIGLU);
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) g[i] = g[i] / (1.f + expf(-g[i])) * u[i];
}
extern "C" void ig_cuda_swiglu(float *g, const float *u, size_t n) {
    nq_resolve(u);
    nq_resolve(g), nq_clobber(g);
    k_swiglu<<<(unsigned)((n + 255) / 256), 256, 0, g_stream>>>(g, u, n);
    LAUNCHED();
}

// RoPE: thread per (token, head, pair); angles in double like the CPU reference.
// RoPE of q (in place) and k, with k written rotated and v copied straight
// into the token's KV-cache cell: one launch for rope + kv_store
__global__ void k_rope_store(float *q, const float *k, const float *v, float *kc, float *vc, const int32_t *pos,
                             const int32_t *cell, int n_head, int n_head_kv, int head_dim, int n_rot,
                             const double *inv_freq, bool neox, int n_tok) {
    TRACE(TR_ROPE);
    const int kv_dim = n_head_kv * head_dim, half = n_rot / 2;
    const int per_tok = (n_head + n_head_kv) * half + kv_dim; // rotations of q, of k, then element copies
    const int id = blockIdx.x * blockDim.x + threadIdx.x;
    pdl_launch();
    pdl_wait();
    if (id >= n_tok * per_tok) return;
    const int t = id / per_tok, r = id % per_tok;
    const size_t dst = (size_t)cell[t] * kv_dim;
    if (r >= (n_head + n_head_kv) * half) { // copy v, and k elements outside the rotated part
        const int i = r - (n_head + n_head_kv) * half;
        vc[dst + i] = v[(size_t)t * kv_dim + i];
        if (i % head_dim >= n_rot) kc[dst + i] = k[(size_t)t * kv_dim + i];
        return;
    }
    const bool isq = r < n_head * half;
    const int rr = isq ? r : r - n_head * half;
    const int i = rr % half, h = rr / half;
    double sn, cs;
    sincos((double)pos[t] * inv_freq[i], &sn, &cs);
    const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    if (isq) {
        float *x = q + ((size_t)t * n_head + h) * head_dim;
        const float x0 = x[a], x1 = x[b];
        x[a] = x0 * (float)cs - x1 * (float)sn;
        x[b] = x0 * (float)sn + x1 * (float)cs;
    } else {
        const float *x = k + (size_t)t * kv_dim + (size_t)h * head_dim;
        const float x0 = x[a], x1 = x[b];
        kc[dst + (size_t)h * head_dim + a] = x0 * (float)cs - x1 * (float)sn;
        kc[dst + (size_t)h * head_dim + b] = x0 * (float)sn + x1 * (float)cs;
    }
}
extern "C" void ig_cuda_rope_store(float *q, const float *k, const float *v, float *kc, float *vc, const int32_t *pos,
                                   const int32_t *cell, int n_tok, int n_head, int n_head_kv, int head_dim, int n_rot,
                                   const double *inv_freq, bool neox) {
    nq_clobber(q);
    const int total = n_tok * ((n_head + n_head_kv) * (n_rot / 2) + n_head_kv * head_dim);
    launch_pdl(k_rope_store, (total + 255) / 256, 256, 0, q, k, v, kc, vc, pos, cell, n_head, n_head_kv, head_dim, n_rot,
               inv_freq, neox, n_tok);
}

// -------------------------------------------------------------- attention
// Flash-decoding: each (token, head) walks the cells of its sequence (the
// step's cell list) in splits of ATT_CH cells spread over blocks, so that
// even one decode token fills the GPU, and many sequences decoded at once
// never scan each other's cells. Decode is latency-bound, so a block issues
// every load of a split at once: a warp takes ATT_CH / ATT_WARPS cells,
// LPC lanes per cell (a float4 of K and of V each, NV per lane), and
// the cell list is read before waiting for the previous kernel. A split
// gives a partial softmax (max m, sum l, unnormalized values o); the last
// block of a (token, head) to finish (an atomic count after a memory fence)
// combines them: o = sum_s o_s e^(m_s - M) / sum_s l_s e^(m_s - M). Q (one
// token): the output is also quantized to int8 blocks for the O projection.
// CHM = 2 ATT_CH (one token, head_dim <= 128): a context of up to CHM
// cells is one split, with no combining step (a fence, an atomic and a
// pass over the partials: about 1 us of a decode layer's critical path);
// longer ones and many sequences keep splits of ATT_CH (splits of 128
// there measured 8B Q4_0 at 2048 cells of depth 322 -> 318 t/s and 32
// sequences at once 21.8k -> 20.5k). H100, tg128 (INGOT_CUDA_ATT_ONE=0 vs
// 1): TinyLlama F16 995-1000 -> 1031-1034 t/s, 1B Q4_0 2050-2060 ->
// 2132-2136, 8B Q4_0 510 -> 517-520; 2048 deep and 32 sequences unchanged.

enum { ATT_CH = 64, ATT_WARPS = 8, ATT_MAX_HD = 256 };

static unsigned *g_att_count; // a zeroed counter per (token, head); the last block resets its own
static size_t g_att_count_n;

// the final output of (token, head) th: float4 f of it (ok: f < hd / 4); the
// lanes of whole warps take part (quantization shuffles)
template <bool Q>
__device__ __forceinline__ void att_store(float4 r, bool ok, float *out, uint8_t *xq, int th, int hd, int n_head, int f) {
    if (ok) ((float4 *)(out + (size_t)th * hd))[f] = r;
    if (Q) quant8_store(r, ok, xq, n_head * hd / 32, th * hd / 4 + f);
}

template <int LPC, int NV, bool Q, int CHM>
__global__ void __launch_bounds__(ATT_WARPS * 32)
    k_attn_dec(const float *q, const float *kc, const float *vc, const int32_t *pos, const int32_t *cell_pos,
               const int32_t *tok_list, const int32_t *list, float *part, unsigned *count, float *out, uint8_t *xq,
               int n_head, int n_head_kv, int hd, int n_split, bool early) {
    TRACE(TR_ATT_DEC);
    constexpr int CPS = 32 / LPC, CPW = CHM / ATT_WARPS, STEPS = CPW / CPS; // cells per warp, per warp step; steps
    __shared__ float red_m[ATT_WARPS], red_l[ATT_WARPS];
    __shared__ float4 ov[ATT_WARPS][ATT_MAX_HD / 4];
    __shared__ float4 acc4[ATT_WARPS * 32];
    __shared__ bool last;
    const int th = blockIdx.x, t = th / n_head, h = th % n_head, kvh = h / (n_head / n_head_kv);
    const int kv_dim = n_head_kv * hd, warp = threadIdx.x / 32, lane = threadIdx.x % 32, n4 = hd / 4;
    const int sub = lane / LPC, li = lane % LPC;
    pdl_launch();
    // the step's lists are inputs of the whole step: read before the wait
    const int off = tok_list[2 * t], len = tok_list[2 * t + 1], p = pos[t];
    const int ns = min(n_split, (len + CHM - 1) / CHM);
    if ((int)blockIdx.y >= ns) return;
    const float scale = rsqrtf((float)hd);
    float4 qv[NV];
    unsigned done = 0;
    for (int split = blockIdx.y; split < ns; split += gridDim.y, done++) {
        int cell[STEPS];
        bool past[STEPS]; // written by an earlier step
#pragma unroll
        for (int s = 0; s < STEPS; s++) {
            const int i = split * CHM + warp * CPW + s * CPS + sub;
            const int c = i < len ? list[off + i] : -1;
            const int cp = c >= 0 ? cell_pos[c] : 0x7fffffff;
            cell[s] = cp <= p ? c : -1; // later positions: a prompt's causal edge
            past[s] = early && cp < p;
        }
        float4 kv[STEPS][NV], vv[STEPS][NV];
#define ATT_KV(s, cond)                                                                                    \
    _Pragma("unroll") for (int v = 0; v < NV; v++) {                                                       \
        const int f = li + LPC * v;                                                                        \
        const bool ld = cell[s] >= 0 && f < n4;                                                            \
        const size_t o = (size_t)cell[s] * kv_dim + (size_t)kvh * hd;                                      \
        if (cond) {                                                                                        \
            kv[s][v] = ld ? ((const float4 *)(kc + o))[f] : make_float4(0.f, 0.f, 0.f, 0.f);               \
            vv[s][v] = ld ? ((const float4 *)(vc + o))[f] : make_float4(0.f, 0.f, 0.f, 0.f);               \
        }                                                                                                  \
    }
        if (split == (int)blockIdx.y) {
            // early (one token per sequence): the cells of earlier positions
            // were written by earlier steps, so load them before waiting
#pragma unroll
            for (int s = 0; s < STEPS; s++) ATT_KV(s, past[s]);
            pdl_wait(); // q and this step's K/V cells come from the kernels before
#pragma unroll
            for (int v = 0; v < NV; v++) {
                const int f = li + LPC * v;
                qv[v] = f < n4 ? ((const float4 *)(q + ((size_t)t * n_head + h) * hd))[f] : make_float4(0.f, 0.f, 0.f, 0.f);
            }
        }
#pragma unroll
        for (int s = 0; s < STEPS; s++) ATT_KV(s, !past[s] || split != (int)blockIdx.y);
#undef ATT_KV
        float sc[STEPS], mx = -INFINITY;
#pragma unroll
        for (int s = 0; s < STEPS; s++) {
            float d = 0.f;
#pragma unroll
            for (int v = 0; v < NV; v++)
                d += qv[v].x * kv[s][v].x + qv[v].y * kv[s][v].y + qv[v].z * kv[s][v].z + qv[v].w * kv[s][v].w;
#pragma unroll
            for (int o = LPC / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
            sc[s] = cell[s] >= 0 ? d * scale : -INFINITY;
            mx = fmaxf(mx, sc[s]);
        }
#pragma unroll
        for (int o = LPC; o < 32; o <<= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
        if (lane == 0) red_m[warp] = mx;
        __syncthreads(); // (also: the previous split's reads of ov are done)
        float M = red_m[0];
#pragma unroll
        for (int w = 1; w < ATT_WARPS; w++) M = fmaxf(M, red_m[w]);
        float l = 0.f;
        float4 o4[NV];
#pragma unroll
        for (int v = 0; v < NV; v++) o4[v] = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
        for (int s = 0; s < STEPS; s++) {
            const float e = cell[s] >= 0 ? __expf(sc[s] - M) : 0.f;
            l += e;
#pragma unroll
            for (int v = 0; v < NV; v++)
                o4[v].x += e * vv[s][v].x, o4[v].y += e * vv[s][v].y, o4[v].z += e * vv[s][v].z, o4[v].w += e * vv[s][v].w;
        }
#pragma unroll
        for (int o = LPC; o < 32; o <<= 1) {
            l += __shfl_xor_sync(0xffffffffu, l, o);
#pragma unroll
            for (int v = 0; v < NV; v++) {
                o4[v].x += __shfl_xor_sync(0xffffffffu, o4[v].x, o);
                o4[v].y += __shfl_xor_sync(0xffffffffu, o4[v].y, o);
                o4[v].z += __shfl_xor_sync(0xffffffffu, o4[v].z, o);
                o4[v].w += __shfl_xor_sync(0xffffffffu, o4[v].w, o);
            }
        }
        if (lane == 0) red_l[warp] = l;
        if (sub == 0)
#pragma unroll
            for (int v = 0; v < NV; v++)
                if (li + LPC * v < n4) ov[warp][li + LPC * v] = o4[v];
        __syncthreads();
        float L = 0.f;
#pragma unroll
        for (int w = 0; w < ATT_WARPS; w++) L += red_l[w];
        const int f = threadIdx.x;
        float4 r = make_float4(0.f, 0.f, 0.f, 0.f);
        if (f < n4)
#pragma unroll
            for (int w = 0; w < ATT_WARPS; w++) {
                const float4 a = ov[w][f];
                r.x += a.x, r.y += a.y, r.z += a.z, r.w += a.w;
            }
        if (ns == 1) { // the whole context in one split: the output itself
            const float inv = L > 0.f ? 1.f / L : 0.f;
            if (warp * 32 < n4)
                att_store<Q>(make_float4(r.x * inv, r.y * inv, r.z * inv, r.w * inv), f < n4, out, xq, th, hd, n_head, f);
            return;
        }
        float *dst = part + ((size_t)th * n_split + split) * (hd + 4);
        if (f < n4) ((float4 *)(dst + 4))[f] = r;
        if (threadIdx.x == 0) dst[0] = M, dst[1] = L;
    }
    // the last block of this (token, head) to finish combines every split
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        const unsigned before = atomicAdd(&count[th], done);
        last = before + done == (unsigned)ns;
        if (last) count[th] = 0; // every other block has counted: ready for the next step
    }
    __syncthreads();
    if (!last) return;
    __threadfence();
    const float *src = part + (size_t)th * n_split * (hd + 4);
    float M = -INFINITY, L = 0.f;
    for (int s = threadIdx.x; s < ns; s += blockDim.x) {
        const float2 a = __ldcg((const float2 *)(src + (size_t)s * (hd + 4)));
        if (a.y > 0.f) M = fmaxf(M, a.x);
    }
    M = block_max(M, red_m);
    for (int s = threadIdx.x; s < ns; s += blockDim.x) {
        const float2 a = __ldcg((const float2 *)(src + (size_t)s * (hd + 4)));
        if (a.y > 0.f) L += a.y * __expf(a.x - M);
    }
    L = block_sum(L, red_l);
    // thread (g, f): float4 f of the splits g, g + G, ...
    const int G = blockDim.x / n4, g = threadIdx.x / n4, f = threadIdx.x % n4;
    float4 r = make_float4(0.f, 0.f, 0.f, 0.f);
    if (g < G)
#pragma unroll 4
        for (int s = g; s < ns; s += G) {
            const float *ps = src + (size_t)s * (hd + 4);
            const float2 ml = __ldcg((const float2 *)ps);
            if (ml.y <= 0.f) continue;
            const float w = __expf(ml.x - M);
            const float4 a = __ldcg((const float4 *)(ps + 4) + f);
            r.x += w * a.x, r.y += w * a.y, r.z += w * a.z, r.w += w * a.w;
        }
    acc4[threadIdx.x] = r;
    __syncthreads();
    const float inv = L > 0.f ? 1.f / L : 0.f;
    if (warp * 32 < n4) {
        const int ff = threadIdx.x;
        float4 a = make_float4(0.f, 0.f, 0.f, 0.f);
        if (ff < n4)
            for (int k = 0; k < G; k++) {
                const float4 b = acc4[k * n4 + ff];
                a.x += b.x, a.y += b.y, a.z += b.z, a.w += b.w;
            }
        att_store<Q>(make_float4(a.x * inv, a.y * inv, a.z * inv, a.w * inv), ff < n4, out, xq, th, hd, n_head, ff);
    }
}

#include "backend/cuda/attn_flash.cuh"

// one token over at most 2 ATT_CH cells: the kernel of one split (see
// ATT_CH); INGOT_CUDA_ATT_ONE=0: never
static bool att_single(int n_tok, int n_used) {
    static int on = -1;
    if (on < 0) on = !getenv("INGOT_CUDA_ATT_ONE") || atoi(getenv("INGOT_CUDA_ATT_ONE")) != 0;
    return on && n_tok == 1 && n_used <= 2 * ATT_CH;
}
extern "C" int ig_cuda_step_slot(int key, int n_tok, int n_used) {
    return key + (att_single(n_tok, n_used) ? (IG_CUDA_GRAPH_SLOTS - 1) / 2 : 0);
}

extern "C" size_t ig_cuda_attn_scratch(int n_tok, int n_ctx, int n_head, int head_dim) {
    // called when a context is made (never during graph capture): also size
    // the split counters
    const size_t n = (size_t)n_tok * n_head;
    if (n > g_att_count_n) {
        ig_cuda_graph_reset(); // recorded steps may point at the old counters
        if (g_att_count) cudaFree(g_att_count);
        g_att_count = NULL;
        g_att_count_n = 0;
        if (cudaMalloc((void **)&g_att_count, n * sizeof(unsigned)) == cudaSuccess &&
            cudaMemset(g_att_count, 0, n * sizeof(unsigned)) == cudaSuccess)
            g_att_count_n = n;
        else cudaGetLastError();
    }
    return (size_t)n_tok * n_head * ((n_ctx + ATT_CH - 1) / ATT_CH) * (head_dim + 4) * sizeof(float);
}

extern "C" void ig_cuda_attention(const float *q, const float *kc, const float *vc, const int32_t *seq,
                                  const int32_t *pos, const int32_t *cell_seq, const int32_t *cell_pos,
                                  const int32_t *n_used, const int32_t *tok_list, const int32_t *list, float *out,
                                  float *scratch, int n_tok, int n_ctx, int n_head, int n_head_kv, int head_dim,
                                  int n_runs, bool one_per_seq, int n_used_cells) {
    nq_clobber(out);
    // prompts (16+ tokens, 8+ per run of one sequence) on tensor cores;
    // INGOT_CUDA_FLASH=0 keeps them on the exact FP32 kernel below
    static int flash = -1;
    if (flash < 0) flash = !getenv("INGOT_CUDA_FLASH") || atoi(getenv("INGOT_CUDA_FLASH")) != 0;
    if (flash && n_tok >= 16 && n_runs > 0 && n_tok >= 8 * n_runs &&
        attn_flash(q, kc, vc, seq, pos, cell_seq, cell_pos, n_used, out, n_tok, n_head, n_head_kv, head_dim))
        return;
    if (head_dim > ATT_MAX_HD || head_dim % 4 || !g_att_count || (size_t)n_tok * n_head > g_att_count_n) {
        fprintf(stderr, "ingot: CUDA attention: head_dim %d (supported: <= %d, a multiple of 4) or %d tokens past "
                        "the scratch\n", head_dim, ATT_MAX_HD, n_tok);
        abort();
    }
    // a partial slot per split of the longest possible list; blocks take
    // every gridDim.y-th split, the grid sized to fill the GPU about twice
    // (the same for every step of this shape: recorded steps replay it)
    const int sms = device_sms();
    const int n_split = (n_ctx + ATT_CH - 1) / ATT_CH, n_q = n_head * head_dim;
    const dim3 grid(n_tok * n_head, IG_MIN(n_split, IG_MAX(1, 2 * 8 * sms / (n_tok * n_head))));
    // one token: the O projection reads an int8 copy made on the way
    const nq_tag *tag = n_tok == 1 && head_dim % 32 == 0 ? nq_claim(out, n_q, NULL) : NULL;
    const bool qz = tag != NULL;
    uint8_t *xq = qz ? tag->buf : NULL;
    const int n4 = head_dim / 4;
    // one token per sequence: every cell before a token's position holds an
    // earlier step's K/V (INGOT_CUDA_ATT_EARLY=0: load them after the wait,
    // as the others)
    static int early_on = -1;
    if (early_on < 0) early_on = !getenv("INGOT_CUDA_ATT_EARLY") || atoi(getenv("INGOT_CUDA_ATT_EARLY")) != 0;
    const bool early = early_on && one_per_seq;
#define ATT_LAUNCH(LPC, NV, CHM)                                                                                 \
    launch_pdl(qz ? k_attn_dec<LPC, NV, true, CHM> : k_attn_dec<LPC, NV, false, CHM>, grid, ATT_WARPS * 32, 0, q, kc, \
               vc, pos, cell_pos, tok_list, list, scratch, g_att_count, out, xq, n_head, n_head_kv, head_dim, n_split, \
               early)
    const bool one = att_single(n_tok, n_used_cells); // (see ATT_CH)
    if (n4 <= 8) one ? ATT_LAUNCH(8, 1, 2 * ATT_CH) : ATT_LAUNCH(8, 1, ATT_CH);
    else if (n4 <= 16) one ? ATT_LAUNCH(16, 1, 2 * ATT_CH) : ATT_LAUNCH(16, 1, ATT_CH);
    else if (n4 <= 32) one ? ATT_LAUNCH(32, 1, 2 * ATT_CH) : ATT_LAUNCH(32, 1, ATT_CH);
    else ATT_LAUNCH(32, 2, ATT_CH); // (2 ATT_CH would spill)
#undef ATT_LAUNCH
}
