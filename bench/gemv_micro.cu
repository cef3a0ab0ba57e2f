// gemv_micro.cu - decode GEMV experiments on the GPU: the one-token int8 and
// F16 kernels of src/backend/cuda (compiled in from cuda_kernels.cu) against
// other instantiations of the same templates (rows per warp, loads in
// flight, warps per row), timed alone on the matrix shapes of real models,
// with weights rotated over enough copies that L2 (50 MB) cannot hold them.
// Prints us per call and GB/s of weight bytes, plain launches and a graph of
// PDL launches (how decode runs them); checks each variant's output against
// the shipped configuration.
// build: nvcc -O3 -std=c++17 -arch=sm_90 -I src -I include bench/gemv_micro.cu -o gemv_micro -ldl
// run:   ./gemv_micro [q4_0|q8_0|q4_k|f16]
#include "../src/backend/cuda/cuda_kernels.cu"

#include <vector>

struct shape {
    const char *name;
    int n_in, n_w, n_out[3];
    bool glu;
};

typedef void (*runner)(gemv_set, int, const uint8_t *);
struct variant {
    const char *name;
    runner run;
};

template <int T> static void ship(gemv_set set, int n_in, const uint8_t *xq) {
    if (T == T_Q4_K) gemv_q4k(set, n_in, xq, false, EPI_PLAIN, gemv_epi{});
    else gemv_dq<T>(set, n_in, xq, 1, false, EPI_PLAIN, gemv_epi{});
}
template <int T> static void ship_glu(gemv_set set, int n_in, const uint8_t *xq) {
    if (T == T_Q4_K) gemv_q4k(set, n_in, xq, true, EPI_PLAIN, gemv_epi{});
    else gemv_dq<T>(set, n_in, xq, 1, true, EPI_PLAIN, gemv_epi{});
}
template <int T, bool G> static void multi(gemv_set set, int n_in, const uint8_t *xq) { launch_dq<T, 2, 1, G>(set, n_in, xq, 1); }
template <int T, int R, int PF, int KS, bool G> static void dq1(gemv_set set, int n_in, const uint8_t *xq) { launch_dq1<T, R, PF, KS, G>(set, n_in, xq, gemv_epi{}); }
template <int R, int KS, int PF, bool G> static void q4k(gemv_set set, int n_in, const uint8_t *xq) {
    launch_q4k<R, KS, PF, G>(set, n_in, xq, gemv_epi{});
}
// the one-token epilogues that make an int8 copy of the outputs (gemv_int8.cuh):
// their buffers, made in main for the largest shape
static gemv_epi g_me;
template <int T, int R, int PF, int KS, bool G, int EPI, int W> static void dq1e(gemv_set set, int n_in, const uint8_t *xq) {
    launch_dq1<T, R, PF, KS, G, EPI, W>(set, n_in, xq, g_me);
}
template <int R, int KS, int PF, bool G, int EPI, int W> static void q4ke(gemv_set set, int n_in, const uint8_t *xq) {
    launch_q4k<R, KS, PF, G, EPI, W>(set, n_in, xq, g_me);
}
// R: rows per warp (GLU: gate/up pairs, R / 2 outputs); KS: warps per row
#define DQ1(T, R, PF, KS, G) {"R" #R " PF" #PF " KS" #KS, dq1<T, R, PF, KS, G>}
#define Q4K(R, KS, PF, G) {"R" #R " KS" #KS " PF" #PF, q4k<R, KS, PF, G>}
// with the epilogue E (QUANT: gate/up; RESNORM: one matrix) in blocks of W warps
#define DQ1E(T, R, PF, KS, G, E, W) {#E " R" #R " PF" #PF " KS" #KS " W" #W, dq1e<T, R, PF, KS, G, EPI_##E, W>}
#define Q4KE(R, KS, PF, G, E, W) {#E " R" #R " KS" #KS " PF" #PF " W" #W, q4ke<R, KS, PF, G, EPI_##E, W>}

// F16: the input is the float activations (passed as xq)
static void ship_h(gemv_set set, int n_in, const uint8_t *x) { gemv_half(T_F16, set, n_in, (const float *)x, false); }
static void ship_h_glu(gemv_set set, int n_in, const uint8_t *x) { gemv_half(T_F16, set, n_in, (const float *)x, true); }
template <int R, bool G, int EPI, int W, int KS> static void hv(gemv_set set, int n_in, const uint8_t *x) {
    const int grid = set_blocks(set, W / KS * (G ? R / 2 : R));
    launch_pdl(k_gemv_h<T_F16, R, G, GH_PF, EPI, W, KS>, grid, W * 32, 0, set, n_in, (const float *)x,
               EPI == EPI_RESNORM ? g_me : gemv_epi{});
}
#define HV(R, G, E, W, KS) {#E " R" #R " W" #W " KS" #KS, hv<R, G, EPI_##E, W, KS>}
static std::vector<variant> variants_h(bool glu, bool single) {
    if (glu)
        return {{"shipped", ship_h_glu}, HV(2, true, PLAIN, 8, 1), HV(8, true, PLAIN, 8, 2), HV(2, true, PLAIN, 8, 2), HV(2, true, PLAIN, 8, 4), HV(2, true, PLAIN, 8, 8),
                HV(4, true, PLAIN, 8, 1), HV(4, true, PLAIN, 8, 2), HV(2, true, PLAIN, 16, 2), HV(2, true, PLAIN, 4, 1),
                HV(2, true, PLAIN, 16, 1)};
    std::vector<variant> v = {{"shipped", ship_h}, HV(2, false, PLAIN, 8, 1), HV(8, false, PLAIN, 8, 1),
                              HV(8, false, PLAIN, 8, 2), HV(8, false, PLAIN, 4, 1), HV(2, false, PLAIN, 8, 2), HV(2, false, PLAIN, 8, 4),
                              HV(1, false, PLAIN, 8, 1), HV(4, false, PLAIN, 8, 1), HV(4, false, PLAIN, 8, 2),
                              HV(2, false, PLAIN, 16, 1), HV(2, false, PLAIN, 4, 1), HV(1, false, PLAIN, 8, 2)};
    if (single)
        v.insert(v.end(), {HV(2, false, RESNORM, 16, 1), HV(2, false, RESNORM, 32, 2), HV(4, false, RESNORM, 16, 2),
                           HV(4, false, RESNORM, 32, 4), HV(1, false, RESNORM, 32, 1), HV(4, false, RESNORM, 8, 1),
                           HV(8, false, RESNORM, 16, 4)});
    return v;
}

template <int T> static std::vector<variant> variants(bool glu, bool single) {
    std::vector<variant> v;
    if (T == T_Q4_K) {
        if (glu)
            v = {{"shipped", ship_glu<T>}, Q4K(2, 1, 2, true), Q4K(2, 1, 1, true), Q4K(4, 1, 1, true),
                 Q4K(4, 1, 2, true), Q4K(2, 2, 2, true), Q4KE(2, 1, 1, true, QUANT, 32), Q4KE(4, 1, 1, true, QUANT, 16), Q4KE(4, 2, 1, true, QUANT, 32),
                 Q4KE(8, 1, 1, true, QUANT, 8), Q4KE(8, 2, 1, true, QUANT, 16)};
        else
            v = {{"shipped", ship<T>}, Q4K(2, 1, 2, false), Q4K(4, 1, 2, false), Q4K(4, 1, 1, false),
                 Q4K(2, 1, 1, false), Q4K(8, 1, 1, false), Q4K(4, 2, 2, false), Q4K(2, 2, 2, false)};
        if (single && !glu)
            v.insert(v.end(), {Q4KE(4, 1, 2, false, RESNORM, 8), Q4KE(2, 1, 2, false, RESNORM, 16),
                               Q4KE(2, 1, 1, false, RESNORM, 16), Q4KE(4, 2, 2, false, RESNORM, 16),
                               Q4KE(4, 4, 2, false, RESNORM, 32), Q4KE(8, 2, 1, false, RESNORM, 8),
                               Q4KE(8, 4, 1, false, RESNORM, 16)});
        return v;
    }
    if (glu)
        return {{"shipped", ship_glu<T>}, {"multi-token kernel, one token", multi<T, true>}, DQ1(T, 4, 2, 4, true),
                DQ1(T, 2, 4, 2, true), DQ1(T, 8, 1, 2, true), DQ1(T, 4, 1, 2, true), DQ1(T, 4, 2, 2, true),
                DQ1(T, 4, 2, 1, true), DQ1E(T, 4, 2, 1, true, QUANT, 16), DQ1E(T, 4, 2, 2, true, QUANT, 32),
                DQ1E(T, 8, 1, 2, true, QUANT, 16), DQ1E(T, 8, 1, 1, true, QUANT, 8), DQ1E(T, 8, 2, 1, true, QUANT, 8),
                DQ1E(T, 4, 1, 1, true, QUANT, 16)};
    v = {{"shipped", ship<T>}, {"multi-token kernel, one token", multi<T, false>}, DQ1(T, 4, 2, 4, false),
         DQ1(T, 8, 1, 2, false), DQ1(T, 8, 2, 2, false), DQ1(T, 2, 4, 1, false), DQ1(T, 4, 2, 2, false),
         DQ1(T, 4, 2, 1, false), DQ1(T, 8, 2, 1, false)};
    if (single)
        v.insert(v.end(), {DQ1E(T, 4, 2, 1, false, RESNORM, 8), DQ1E(T, 4, 2, 2, false, RESNORM, 16),
                           DQ1E(T, 4, 2, 4, false, RESNORM, 32), DQ1E(T, 8, 1, 4, false, RESNORM, 16),
                           DQ1E(T, 8, 1, 8, false, RESNORM, 32), DQ1E(T, 8, 2, 2, false, RESNORM, 8),
                           DQ1E(T, 8, 1, 2, false, RESNORM, 8)});
    return v;
}

int main(int argc, char **argv) {
    const char *ty = argc > 1 ? argv[1] : "q4_0";
    const bool q8 = !strcmp(ty, "q8_0"), q4k = !strcmp(ty, "q4_k"), f16 = !strcmp(ty, "f16");
    const int QB = q8 ? 32 : 16;
    char name[256], err[256];
    size_t fr, tot;
    if (!ig_cuda_init(name, sizeof name, &fr, &tot, err, sizeof err)) {
        printf("no GPU: %s\n", err);
        return 0;
    }
    const shape shapes[] = {
        {"8B qkv", 4096, 3, {4096, 1024, 1024}, false}, {"8B o", 4096, 1, {4096}, false},
        {"8B gate/up", 4096, 2, {14336, 14336}, true},  {"8B down", 14336, 1, {4096}, false},
        {"1B qkv", 2048, 3, {2048, 512, 512}, false},   {"1B o", 2048, 1, {2048}, false},
        {"1B gate/up", 2048, 2, {8192, 8192}, true},    {"1B down", 8192, 1, {2048}, false},
        {"1B output", 2048, 1, {128256}, false},        {"8B output", 4096, 1, {128256}, false},
        {"0.5B qkv", 896, 3, {896, 128, 128}, false},   {"0.5B gate/up", 896, 2, {4864, 4864}, true},
        {"0.5B down", 4864, 1, {896}, false},           {"0.5B output", 896, 1, {151936}, false},
    };
    printf("%s, %s weights; us per call (GB/s of weights): plain launches | graph of PDL launches\n", name, ty);
    { // the epilogues' buffers (the widest output 14336; RESNORM adds into res every call)
        const int n = 14336;
        float *nw;
        CK(cudaMalloc(&g_me.xq, xq_token_bytes(n / 32)));
        CK(cudaMalloc(&g_me.res, n * 4));
        CK(cudaMalloc(&g_me.ss, n / 32 * 4));
        CK(cudaMalloc(&nw, n * 4));
        CK(cudaMemset(g_me.res, 0, n * 4));
        std::vector<float> one(n, 1.f);
        CK(cudaMemcpy(nw, one.data(), n * 4, cudaMemcpyHostToDevice));
        g_me.nw = nw;
    }
    cudaEvent_t e0, e1;
    CK(cudaEventCreate(&e0));
    CK(cudaEventCreate(&e1));
    for (const shape &s : shapes) {
        if (q4k && s.n_in % 256) continue; // (Q4_K rows are whole super-blocks of 256)
        size_t bytes = 0, mb[3];
        const bool single = s.n_w == 1 && s.n_out[0] < 32768;
        std::vector<variant> vs = f16  ? variants_h(s.glu, single)
                                  : q8 ? variants<T_Q8_0>(s.glu, single)
                                  : q4k ? variants<T_Q4_K>(s.glu, single) : variants<T_Q4_0>(s.glu, single);
        for (int i = 0; i < s.n_w; i++)
            bytes += mb[i] = f16 ? (size_t)s.n_out[i] * s.n_in * 2
                             : q4k ? (size_t)s.n_out[i] * (s.n_in / 256) * 144 : (size_t)s.n_out[i] * (s.n_in / 32) * (QB + 2);
        const int copies = (int)((400u << 20) / bytes + 1);
        std::vector<uint8_t> h(bytes);
        uint32_t seed = 12345;
        for (size_t i = 0; i < bytes; i++) h[i] = (uint8_t)((seed = seed * 1664525u + 1013904223u) >> 24);
        // scales: small positive halves
        size_t off = 0;
        for (int i = 0; i < s.n_w && q4k; i++) // super-block d and dmin: small positive halves
            for (size_t k = 0; k < mb[i] / 144; k++) {
                uint16_t *hd = (uint16_t *)(h.data() + off + k * 144);
                hd[0] = (uint16_t)(0x1800 + (k % 997)), hd[1] = (uint16_t)(0x1400 + (k % 991));
            }
        for (size_t k = 0; f16 && k < bytes / 2; k++) // halves in +-[1/16, 1/8)
            ((uint16_t *)h.data())[k] = (uint16_t)(0x2c00 | (((uint16_t *)h.data())[k] & 0x83ff));
        for (int i = 0; i < s.n_w && !q4k && !f16; i++) {
            const size_t nq = (size_t)s.n_out[i] * (s.n_in / 32) * QB, ns = (size_t)s.n_out[i] * (s.n_in / 32);
            uint16_t *sc = (uint16_t *)(h.data() + off + nq);
            for (size_t k = 0; k < ns; k++) sc[k] = (uint16_t)(0x2000 + ((k * 2654435761u) >> 22));
            off += mb[i];
        }
        uint8_t *w;
        CK(cudaMalloc(&w, bytes * copies));
        for (int c = 0; c < copies; c++) CK(cudaMemcpy(w + bytes * c, h.data(), bytes, cudaMemcpyHostToDevice));
        std::vector<float> hx(s.n_in);
        for (int i = 0; i < s.n_in; i++) hx[i] = sinf(i * 0.37f) + 0.1f * cosf(i * 1.7f);
        float *x, *out;
        uint8_t *xq;
        const int n_out_tot = s.n_out[0] + s.n_out[1] + s.n_out[2];
        CK(cudaMalloc(&x, s.n_in * 4));
        CK(cudaMalloc(&out, (size_t)n_out_tot * 4));
        CK(cudaMalloc(&xq, xq_token_bytes(s.n_in / 32)));
        CK(cudaMemcpy(x, hx.data(), s.n_in * 4, cudaMemcpyHostToDevice));
        k_quant8<false><<<(s.n_in / 4 + 255) / 256, 256, 0, g_stream>>>(x, xq, s.n_in, 1, 1);
        auto mkset = [&](int c) {
            gemv_set set;
            memset(&set, 0, sizeof set);
            size_t o = 0;
            int oo = 0;
            set.n = s.glu ? 1 : s.n_w;
            for (int i = 0; i < s.n_w; i++) {
                set.w[i] = w + bytes * c + o;
                set.out[i] = out + oo;
                set.n_out[i] = s.n_out[i];
                o += mb[i];
                oo += s.n_out[i];
            }
            return set;
        };
        const int outs = s.glu ? s.n_out[0] : n_out_tot;
        std::vector<float> ref(outs), got(outs);
        printf("\n%s: %d x %d%s, %.1f MB, %d copies\n", s.name, n_out_tot, s.n_in, s.glu ? " (GLU)" : "", bytes / 1e6, copies);
        for (size_t vi = 0; vi < vs.size(); vi++) {
            runner run = vs[vi].run;
            CK(cudaMemset(out, 0, (size_t)n_out_tot * 4));
            const uint8_t *in = f16 ? (const uint8_t *)x : xq;
            run(mkset(0), s.n_in, in);
            CK(cudaStreamSynchronize(g_stream));
            CK(cudaMemcpy(vi ? got.data() : ref.data(), out, outs * 4, cudaMemcpyDeviceToHost));
            double md = 0, mx = 0;
            for (int i = 0; i < outs; i++) {
                md = fmax(md, fabs((double)got[i] - ref[i]));
                mx = fmax(mx, fabs((double)ref[i]));
            }
            const int reps = 200;
            float ms[2];
            for (int mode = 0; mode < 2; mode++) {
                const bool pdl = g_pdl;
                g_pdl = mode == 1 && pdl;
                cudaGraphExec_t ge = NULL;
                if (mode == 1) {
                    cudaGraph_t g;
                    CK(cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeGlobal));
                    for (int i = 0; i < reps; i++) run(mkset(i % copies), s.n_in, in);
                    CK(cudaStreamEndCapture(g_stream, &g));
                    CK(cudaGraphInstantiate(&ge, g, 0));
                    CK(cudaGraphDestroy(g));
                    CK(cudaGraphLaunch(ge, g_stream));
                } else
                    for (int i = 0; i < 20; i++) run(mkset(i % copies), s.n_in, in);
                CK(cudaEventRecord(e0, g_stream));
                if (mode == 1) CK(cudaGraphLaunch(ge, g_stream));
                else
                    for (int i = 0; i < reps; i++) run(mkset(i % copies), s.n_in, in);
                CK(cudaEventRecord(e1, g_stream));
                CK(cudaEventSynchronize(e1));
                CK(cudaEventElapsedTime(&ms[mode], e0, e1));
                if (ge) CK(cudaGraphExecDestroy(ge));
                g_pdl = pdl;
            }
            const double u0 = ms[0] * 1e3 / reps, u1 = ms[1] * 1e3 / reps;
            const bool bad = vi && md > 1e-4 * mx && !strstr(vs[vi].name, "RESNORM"); // (res grows every call)
            printf("  %-34s %7.2f us (%5.0f) | %7.2f us (%5.0f)%s\n", vs[vi].name, u0, bytes / u0 / 1e3, u1, bytes / u1 / 1e3,
                   bad ? "  MISMATCH" : "");
            if (bad) printf("    max diff %g of %g\n", md, mx);
        }
        CK(cudaFree(w));
        CK(cudaFree(x));
        CK(cudaFree(out));
        CK(cudaFree(xq));
    }
    return 0;
}
