/* membw.c - measured memory read bandwidth: the yardstick for decode speed
 * (decode reads every weight once per token). Threads stream disjoint slices
 * of a buffer much larger than the caches; best of several passes. */
#define _POSIX_C_SOURCE 200809L
#include "core/pool.h"

#include <string.h>

struct bw_job {
    const uint64_t *buf;
    size_t n; /* words */
    uint64_t sink[64];
};

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint64_t *p, size_t n) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        /* the same prefetch distance as the decode kernels (kernels_avx2.c):
         * a plain loop reads ~4-8% slower on the VMs measured */
        __builtin_prefetch(p + i + 512, 0, 3);
        __builtin_prefetch(p + i + 520, 0, 3);
        a = _mm256_add_epi64(a, _mm256_load_si256((const __m256i *)(p + i)));
        b = _mm256_add_epi64(b, _mm256_load_si256((const __m256i *)(p + i + 4)));
        c = _mm256_add_epi64(c, _mm256_load_si256((const __m256i *)(p + i + 8)));
        d = _mm256_add_epi64(d, _mm256_load_si256((const __m256i *)(p + i + 12)));
    }
    a = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
    uint64_t out[4];
    _mm256_storeu_si256((__m256i *)out, a);
    return out[0] + out[1] + out[2] + out[3];
}
#endif

static uint64_t read_words(const uint64_t *p, size_t n) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) return read_avx2(p, n);
#endif
    uint64_t s0 = 0, s1 = 0;
    for (size_t i = 0; i + 1 < n; i += 2) s0 += p[i], s1 += p[i + 1];
    return s0 + s1;
}

static void bw_worker(void *arg, int ith, int nth) {
    struct bw_job *j = arg;
    size_t per = j->n / (size_t)nth / 16 * 16;
    j->sink[ith % 64] = read_words(j->buf + per * (size_t)ith, per);
}

double ig_pool_read_bandwidth(struct ig_pool *pool, size_t bytes) {
    uint64_t *buf = NULL;
    if (posix_memalign((void **)&buf, 64, bytes) != 0) return 0;
    memset(buf, 1, bytes); /* fault the pages in before timing */
    struct bw_job j = {buf, bytes / 8, {0}};
    double best = 0;
    for (int pass = 0; pass < 10; pass++) {
        int64_t t0 = ig_time_us();
        ig_pool_run(pool, bw_worker, &j);
        double s = (double)(ig_time_us() - t0) / 1e6;
        if (s > 0 && (double)bytes / s / 1e9 > best) best = (double)bytes / s / 1e9;
    }
    free(buf);
    return best;
}

double ig_measure_read_bandwidth(int n_threads, size_t bytes) {
    struct ig_pool *pool = ig_pool_create(n_threads);
    double bw = pool ? ig_pool_read_bandwidth(pool, bytes) : 0;
    ig_pool_free(pool);
    return bw;
}
