/* cpu_stream.c - how close each CPU decode kernel streams to the memory's
 * read rate. A 256 MiB weight matrix of each type (rows of 2048) goes through
 * the kernel once per pass, one token, rows split over the threads, as in
 * decode. Shared hosts drift by tens of percent from second to second, so
 * the kernels run in interleaved rounds and each is reported as the median
 * over rounds of its rate over the read loop's rate in the same round.
 * usage: cpu_stream [THREADS] [ROUNDS]       (a benchmark: prints a table) */
#define _POSIX_C_SOURCE 200809L
#include "backend/cpu/kernels.h"
#include "core/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_IN = 2048, MAX_ROUNDS = 101 };
static const size_t BYTES = (size_t)256 << 20;

struct job {
    ig_dot_fn dot; /* NULL: the bandwidth read loop over the whole buffer */
    const uint8_t *w;
    size_t row_bytes;
    int64_t rows;
    const void *x;
    float *y;
    struct ig_pool *pool;
};

static void work(void *arg, int ith, int nth) {
    const struct job *j = arg;
    for (int64_t r = j->rows * ith / nth; r < j->rows * (ith + 1) / nth; r++)
        j->dot(N_IN, j->w + (size_t)r * j->row_bytes, j->x, 0, 1, j->y + r);
}

/* GB/s of the best of 3 passes */
static double rate(const struct job *j) {
    if (!j->dot) return ig_pool_read_bandwidth(j->pool, BYTES);
    double best = 0;
    for (int pass = 0; pass < 3; pass++) {
        int64_t t0 = ig_time_us();
        ig_pool_run(j->pool, work, (void *)j);
        double s = (double)(ig_time_us() - t0) / 1e6;
        if (s > 0 && (double)j->row_bytes * (double)j->rows / s / 1e9 > best)
            best = (double)j->row_bytes * (double)j->rows / s / 1e9;
    }
    return best;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2, rounds = argc > 2 ? atoi(argv[2]) : 15;
    if (threads < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "usage: cpu_stream [THREADS] [ROUNDS <= %d]\n", MAX_ROUNDS);
        return 2;
    }
    const struct ig_kernels *sets[2] = {ig_kernels_best(), ig_kernels_avx2()};
    const enum ig_dtype types[] = {IG_DTYPE_Q8_0, IG_DTYPE_Q4_0, IG_DTYPE_F16, IG_DTYPE_BF16, IG_DTYPE_Q4_K,
                                   IG_DTYPE_Q6_K};
    enum { NT = sizeof types / sizeof types[0], MAXJ = 1 + 2 * NT };
    uint8_t *w = NULL;
    float *x = malloc(N_IN * sizeof *x), *y = malloc(BYTES / 256 * sizeof *y);
    struct ig_block_q8x *xq = malloc(N_IN / 32 * sizeof *xq);
    struct ig_pool *pool = ig_pool_create(threads);
    if (posix_memalign((void **)&w, 64, BYTES) || !x || !y || !xq || !pool) {
        fprintf(stderr, "cpu_stream: out of memory\n");
        return 1;
    }
    /* random bytes in 0x30..0x3b: any two of them are a normal fp16 (or
     * bf16) of modest size, so no scale or weight is inf, nan or subnormal */
    uint64_t r = 88172645463325252ull;
    for (size_t i = 0; i < BYTES; i++) r ^= r << 13, r ^= r >> 7, r ^= r << 17, w[i] = (uint8_t)(0x30 + (r >> 32) % 12);
    for (int i = 0; i < N_IN; i++) x[i] = (float)((i * 37) % 101 - 50) / 50.0f;
    sets[0]->quantize(x, xq, N_IN);

    struct job jobs[MAXJ];
    const char *names[MAXJ];
    int nj = 0;
    jobs[nj] = (struct job){NULL, w, 0, 0, NULL, y, pool}, names[nj++] = "read loop (membw.c)";
    for (int s = 0; s < 2; s++) {
        if (!sets[s] || (s == 1 && sets[1] == sets[0])) continue;
        for (int t = 0; t < NT; t++) {
            const struct ig_dtype_traits *tr = ig_dtype_get(types[t]);
            size_t rb = (size_t)(N_IN / tr->blck) * (size_t)tr->size;
            jobs[nj] = (struct job){sets[s]->dot[types[t]], w, rb, (int64_t)(BYTES / rb),
                                    ig_kernel_wants_q8x(types[t]) ? (const void *)xq : (const void *)x, y, pool};
            static char buf[MAXJ][48];
            snprintf(buf[nj], sizeof buf[nj], "%s %s", tr->name, sets[s]->isa);
            names[nj] = buf[nj];
            nj++;
        }
    }

    static double gbs[MAXJ][MAX_ROUNDS], ratio[MAXJ][MAX_ROUNDS];
    fprintf(stderr, "cpu_stream: %d threads, %d rounds of %d kernels over %zu MiB...\n", threads, rounds, nj,
            BYTES >> 20);
    for (int rd = 0; rd < rounds; rd++) {
        for (int k = 0; k < nj; k++) gbs[k][rd] = rate(&jobs[k]);
        for (int k = 0; k < nj; k++) ratio[k][rd] = gbs[0][rd] > 0 ? gbs[k][rd] / gbs[0][rd] : 0;
    }
    printf("| kernel (%d threads) | GB/s (median) | / read loop, same round: median | quartiles |\n", threads);
    printf("|---|--:|--:|---|\n");
    for (int k = 0; k < nj; k++) {
        qsort(gbs[k], (size_t)rounds, sizeof(double), cmp_d);
        qsort(ratio[k], (size_t)rounds, sizeof(double), cmp_d);
        printf("| %s | %.1f | %.3f | %.3f - %.3f |\n", names[k], gbs[k][rounds / 2], ratio[k][rounds / 2],
               ratio[k][rounds / 4], ratio[k][3 * rounds / 4]);
    }
    ig_pool_free(pool);
    free(w), free(x), free(y), free(xq);
    return 0;
}
