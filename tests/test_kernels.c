/* test_kernels.c - every CPU dot kernel against the scalar reference over
 * random data and odd shapes:
 *   portable C kernel == dequantize-then-dot (the scalar oracle), and
 *   SIMD kernel       == portable C kernel,
 * each within 1e-5 of the sum of |w_i x_i| (float summation order is the only
 * difference). Also bounds the activation quantizer's error, and runs the
 * thread pool (so the ARM64 run under qemu covers its atomics too). */
#include "backend/cpu/kernels.h"
#include "core/pool.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)(rng >> 40) / 16777216.0f * 2.0f - 1.0f;
}

/* each region: every thread adds its index + 1 to its own slot and to a
 * shared atomic counter; after n regions both must hold exact totals */
struct pool_check {
    long slot[8];
    _Atomic long total;
};
static void pool_fn(void *arg, int ith, int nth) {
    struct pool_check *p = arg;
    p->slot[ith] += ith + 1;
    p->total += nth;
}
static void check_pool(void) {
    for (int nt = 1; nt <= 3; nt++) {
        struct ig_pool *pool = ig_pool_create(nt);
        CHECK(pool != NULL, "pool of %d threads", nt);
        if (!pool) return;
        struct pool_check p = {{0}, 0};
        enum { N = 5000 };
        for (int i = 0; i < N; i++) ig_pool_run(pool, pool_fn, &p);
        for (int t = 0; t < nt; t++) CHECK(p.slot[t] == (long)N * (t + 1), "pool %d: thread %d ran %ld", nt, t, p.slot[t]);
        CHECK(p.total == (long)N * nt * nt, "pool %d: total %ld", nt, (long)p.total);
        ig_pool_free(pool);
    }
    printf("kernels: thread pool checked (1-3 threads, 5000 regions each)\n");
}

int main(void) {
    check_pool();
    int checked = 0;
    const struct ig_kernels *c = &ig_kernels_c, *sets[3] = {ig_kernels_best(), ig_kernels_avx2(), ig_kernels_neon()};
    for (int si_ = 0; si_ < 3; si_++) {
        const struct ig_kernels *best = sets[si_];
        if (!best || (si_ > 0 && best == sets[0])) continue;
        printf("kernels: %s vs %s\n", best->isa, c->isa);
        { /* the activation quantizer: the same bytes as the portable one */
            enum { NQ = 32 * 67 };
            float *x = malloc(NQ * sizeof(float));
            struct ig_block_q8x *a = malloc(NQ / 32 * sizeof *a), *b = malloc(NQ / 32 * sizeof *b);
            for (int i = 0; i < NQ; i++) {
                const int blk = i / 32;
                x[i] = blk == 3 ? 0.0f                                          /* all zero */
                       : blk == 5 ? (float)(i % 32 - 16) * 0.5f                 /* products on .5: ties */
                       : blk == 7 ? frand() * 1e-30f                            /* tiny */
                                  : frand() * (blk % 4 == 1 ? 1000.0f : 3.0f);
            }
            CHECK(best->quantize != NULL, "%s: no quantize", best->isa);
            if (best->quantize) {
                memset(a, 0x55, NQ / 32 * sizeof *a), memset(b, 0xAA, NQ / 32 * sizeof *b);
                ig_quantize_q8x(x, a, NQ);
                best->quantize(x, b, NQ);
                int diff = -1;
                for (int k = 0; k < NQ / 32 && diff < 0; k++)
                    if (a[k].d != b[k].d || memcmp(a[k].qs, b[k].qs, 32)) diff = k;
                CHECK(diff < 0, "%s quantize differs from the portable one at block %d", best->isa, diff);
                checked++;
            }
            free(x), free(a), free(b);
        }
        const enum ig_dtype types[] = {IG_DTYPE_F32,  IG_DTYPE_F16,  IG_DTYPE_BF16, IG_DTYPE_Q8_0,
                                       IG_DTYPE_Q4_0, IG_DTYPE_Q4_K, IG_DTYPE_Q6_K};
        const int64_t sizes[] = {32, 64, 96, 160, 256, 1024, 2048, 2080, 5632, 8192};
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            enum ig_dtype t = types[ti];
            for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
                int64_t n = sizes[si];
                size_t rb;
                if (!ig_row_bytes(t, n, &rb)) continue; /* k-quants: whole super-blocks only */
                float *wf = malloc((size_t)n * sizeof(float)), *wd = malloc((size_t)n * sizeof(float));
                float *x = malloc(4 * (size_t)n * sizeof(float)), *xd = malloc(4 * (size_t)n * sizeof(float));
                void *w = malloc(rb);
                struct ig_block_q8x *xq = malloc(4 * (size_t)(n / 32) * sizeof *xq);
                for (int64_t i = 0; i < n; i++)
                    wf[i] = frand() * (i % 17 == 0 ? 4.0f : 1.0f);
                for (int64_t i = 0; i < 4 * n; i++)
                    x[i] = frand() * 3.0f;
                ig_quantize_row(t, wf, w, n);
                ig_dequantize_row(t, w, wd, n);
                bool q = ig_kernel_wants_q8x(t);
                for (int j = 0; j < 4; j++) {
                    ig_quantize_q8x(x + j * n, xq + j * (n / 32), n);
                    for (int64_t i = 0; i < n; i++) {
                        const struct ig_block_q8x *b = &xq[j * (n / 32) + i / 32];
                        xd[j * n + i] = q ? b->d * b->qs[i % 32] : x[j * n + i];
                        /* the activation quantizer rounds to nearest: error <= d/2 */
                        CHECK(!q || fabsf(xd[j * n + i] - x[j * n + i]) <= b->d * 0.5f + 1e-6f, "q8x error at %lld",
                              (long long)i);
                    }
                }
                const void *xin = q ? (const void *)xq : (const void *)x;
                int64_t xs = q ? n / 32 : n;
                for (int nx = 1; nx <= 4; nx++) {
                    float oc[4], ob[4];
                    c->dot[t](n, w, xin, xs, nx, oc);
                    best->dot[t](n, w, xin, xs, nx, ob);
                    for (int j = 0; j < nx; j++) {
                        double ref = 0, mag = 0;
                        for (int64_t i = 0; i < n; i++) {
                            ref += (double)wd[i] * xd[j * n + i];
                            mag += fabs((double)wd[i] * xd[j * n + i]);
                        }
                        CHECK(fabs(oc[j] - ref) <= 1e-5 * mag + 1e-6, "%s n=%lld nx=%d: C kernel %g vs scalar %g",
                              ig_dtype_get(t)->name, (long long)n, nx, oc[j], ref);
                        CHECK(fabs(ob[j] - oc[j]) <= 1e-5 * mag + 1e-6, "%s n=%lld nx=%d: %s %g vs C %g",
                              ig_dtype_get(t)->name, (long long)n, nx, best->isa, ob[j], oc[j]);
                        checked++;
                    }
                }
                free(wf), free(wd), free(x), free(xd), free(w), free(xq);
            }
        }
    }
    /* MLX affine rows (4 and 8 bits, groups 32/64/128, F16/BF16/F32 scales) */
    for (int si_ = 0; si_ < 3; si_++) {
        const struct ig_kernels *best = sets[si_];
        if (!best) continue;
        const enum ig_dtype stypes[] = {IG_DTYPE_F16, IG_DTYPE_BF16, IG_DTYPE_F32};
        for (int bits = 4; bits <= 8; bits += 4)
            for (int group = 32; group <= 128; group *= 2)
                for (int st = 0; st < 3; st++) {
                    enum ig_dtype t = bits == 4 ? IG_DTYPE_MLX4 : IG_DTYPE_MLX8, stype = stypes[st];
                    int64_t n = 1024;
                    float wf[1024], wd[1024], x[4 * 1024], xd[4 * 1024], sf[32], bf[32];
                    uint8_t q[1024], sc[128], bi[128];
                    struct ig_block_q8x xq[4 * 32];
                    for (int64_t i = 0; i < n; i++) wf[i] = frand() * (i % 13 == 0 ? 3.0f : 1.0f);
                    for (int64_t i = 0; i < 4 * n; i++) x[i] = frand() * 2.0f;
                    ig_quantize_mlx_row(t, wf, q, sf, bf, group, n);
                    for (int g = 0; g < n / group; g++) { /* store scales in stype */
                        if (stype == IG_DTYPE_F32) memcpy(sc + 4 * g, &sf[g], 4), memcpy(bi + 4 * g, &bf[g], 4);
                        else {
                            uint16_t a = stype == IG_DTYPE_F16 ? ig_fp32_to_fp16(sf[g]) : ig_fp32_to_bf16(sf[g]);
                            uint16_t b = stype == IG_DTYPE_F16 ? ig_fp32_to_fp16(bf[g]) : ig_fp32_to_bf16(bf[g]);
                            memcpy(sc + 2 * g, &a, 2), memcpy(bi + 2 * g, &b, 2);
                        }
                    }
                    ig_dequantize_mlx_row(t, q, sc, bi, stype, group, wd, n);
                    for (int j = 0; j < 4; j++) {
                        ig_quantize_q8x(x + j * n, xq + j * (n / 32), n);
                        for (int64_t i = 0; i < n; i++) xd[j * n + i] = xq[j * (n / 32) + i / 32].d * xq[j * (n / 32) + i / 32].qs[i % 32];
                    }
                    for (int nx = 1; nx <= 4; nx++) {
                        float oc[4], ob[4];
                        (bits == 4 ? c->dot_mlx4 : c->dot_mlx8)(n, q, sc, bi, stype, group, xq, n / 32, nx, oc);
                        (bits == 4 ? best->dot_mlx4 : best->dot_mlx8)(n, q, sc, bi, stype, group, xq, n / 32, nx, ob);
                        for (int j = 0; j < nx; j++) {
                            double ref = 0, mag = 0;
                            for (int64_t i = 0; i < n; i++) {
                                ref += (double)wd[i] * xd[j * n + i];
                                mag += fabs((double)wd[i] * xd[j * n + i]);
                            }
                            CHECK(fabs(oc[j] - ref) <= 1e-5 * mag + 1e-6, "MLX%d g%d C %g vs scalar %g", bits, group, oc[j], ref);
                            CHECK(fabs(ob[j] - oc[j]) <= 1e-5 * mag + 1e-6, "MLX%d g%d %s %g vs C %g", bits, group,
                                  best->isa, ob[j], oc[j]);
                            checked++;
                        }
                    }
                    /* the quantizer: every weight within half a step of its group */
                    for (int64_t i = 0; i < n; i++)
                        CHECK(fabsf(wd[i] - wf[i]) <= 0.5f * fabsf(ig_scalar_to_f32(stype, sc, i / group)) * 1.01f + 0.02f,
                              "MLX%d quantize error at %lld", bits, (long long)i);
                }
    }
    /* axpy, every ISA present, odd lengths */
    for (int si_ = 0; si_ < 3; si_++) {
        const struct ig_kernels *k = sets[si_];
        if (!k) continue;
        for (int64_t n = 1; n < 100; n += 7) {
            float xa[100], y1[100], y2[100];
            for (int64_t i = 0; i < n; i++)
                xa[i] = frand(), y1[i] = y2[i] = frand();
            c->axpy(n, 0.37f, xa, y1);
            k->axpy(n, 0.37f, xa, y2);
            for (int64_t i = 0; i < n; i++)
                CHECK(fabsf(y1[i] - y2[i]) <= 1e-6f, "%s axpy n=%lld", k->isa, (long long)n);
        }
    }
    /* grouped attention helpers: head sizes with and without a SIMD tail, groups 1..9 */
    for (int si_ = 0; si_ < 3; si_++) {
        const struct ig_kernels *k = sets[si_];
        if (!k) continue;
        const int64_t hds[] = {8, 64, 128, 12};
        for (size_t h = 0; h < 4; h++) {
            for (int G = 1; G <= 9; G++) {
                int64_t n = hds[h];
                float kv[128], q[9 * 128], p[9], o1[9], o2[9], y1[9 * 128], y2[9 * 128];
                for (int64_t i = 0; i < n; i++)
                    kv[i] = frand();
                for (int64_t i = 0; i < G * n; i++)
                    q[i] = frand(), y1[i] = y2[i] = frand();
                for (int g = 0; g < G; g++)
                    p[g] = frand();
                c->dotg(n, kv, q, G, o1);
                k->dotg(n, kv, q, G, o2);
                c->axpyg(n, kv, p, G, y1);
                k->axpyg(n, kv, p, G, y2);
                for (int g = 0; g < G; g++)
                    CHECK(fabsf(o1[g] - o2[g]) <= 1e-5f * (float)n, "%s dotg n=%lld G=%d", k->isa, (long long)n, G);
                for (int64_t i = 0; i < G * n; i++)
                    CHECK(fabsf(y1[i] - y2[i]) <= 1e-6f, "%s axpyg n=%lld G=%d", k->isa, (long long)n, G);
            }
        }
    }
    /* attention values (exp + weighted sum): every ISA's attn_v against the
     * portable one, head groups with and without padding, head sizes with and
     * without a 16-wide tile, cells in scattered order */
    int attn_checked = 0;
    for (int si_ = 0; si_ < 3; si_++) {
        const struct ig_kernels *k = sets[si_];
        if (!k) continue;
        const int Gs[] = {1, 2, 4, 5, 7, 8, 12, 16, 20}, hds[] = {64, 128, 80};
        const int ns[] = {1, 5, 300, 700};
        for (size_t gi = 0; gi < sizeof Gs / sizeof Gs[0]; gi++)
            for (size_t hi = 0; hi < 3; hi++)
                for (size_t ni = 0; ni < 4; ni++) {
                    int G = Gs[gi], hd = hds[hi], n = ns[ni], Gp = ig_attn_gp(G);
                    size_t stride = (size_t)hd * 3, n_cells = (size_t)n + 50;
                    float *v = malloc(n_cells * stride * sizeof(float)), mx[64];
                    float *s1 = malloc((size_t)n * Gp * sizeof(float)), *s2 = malloc((size_t)n * Gp * sizeof(float));
                    float *o1 = malloc((size_t)G * hd * sizeof(float)), *o2 = malloc((size_t)G * hd * sizeof(float));
                    int32_t *cells = malloc((size_t)n * sizeof(int32_t));
                    for (size_t i = 0; i < n_cells * stride; i++) v[i] = frand();
                    for (int j = 0; j < n; j++) cells[j] = (int32_t)((j * 37 + 11) % (int)n_cells);
                    for (int g = 0; g < G; g++) mx[g] = -INFINITY;
                    for (int j = 0; j < n; j++)
                        for (int g = 0; g < Gp; g++) {
                            float sv = g < G ? frand() * 8.0f : -INFINITY;
                            s1[j * Gp + g] = s2[j * Gp + g] = sv;
                            if (g < G && sv > mx[g]) mx[g] = sv;
                        }
                    ig_attn_v_c(n, G, Gp, hd, s1, mx, v, stride, cells, o1);
                    k->attn_v(n, G, Gp, hd, s2, mx, v, stride, cells, o2);
                    for (int i = 0; i < G * hd; i++)
                        CHECK(fabsf(o1[i] - o2[i]) <= 2e-6f, "%s attn_v G=%d hd=%d n=%d: %g vs %g", k->isa, G, hd, n,
                              o2[i], o1[i]);
                    attn_checked++;
                    free(v), free(s1), free(s2), free(o1), free(o2), free(cells);
                }
    }
    printf("kernels: %d attention-value cases checked\n", attn_checked);
    printf("kernels: %d dot products checked, %d failures\n", checked, failures);
    return failures ? 1 : 0;
}
