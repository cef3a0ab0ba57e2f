/* fuzz_smoke.c - runs the libFuzzer target over deterministic mutations of
 * seed files (bit flips, byte overwrites with boundary values, truncations,
 * length-field corruptions) so every ctest run - and the sanitizer pass in
 * CI - exercises the reader on hostile input without needing clang.
 * usage: fuzz_smoke N_ITER SEED.gguf... */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng = 0x1234567;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    long iters = atol(argv[1]);
    for (int f = 2; f < argc; f++) {
        FILE *fp = fopen(argv[f], "rb");
        if (!fp) {
            printf("SKIP: %s missing\n", argv[f]);
            return 77;
        }
        fseek(fp, 0, SEEK_END);
        size_t n = (size_t)ftell(fp);
        fseek(fp, 0, SEEK_SET);
        uint8_t *seed = malloc(n), *buf = malloc(n);
        if (fread(seed, 1, n, fp) != n) return 1;
        fclose(fp);
        /* mutate mostly the header, where the counts and offsets live */
        size_t hot = n < 4096 ? n : 4096;
        static const uint8_t edge[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe};
        for (long it = 0; it < iters; it++) {
            memcpy(buf, seed, n);
            size_t len = n;
            int muts = 1 + (int)(next() % 4);
            for (int k = 0; k < muts; k++) {
                size_t at = (size_t)(next() % (next() % 4 ? hot : n));
                switch (next() % 4) {
                case 0: buf[at] ^= (uint8_t)(1u << (next() % 8)); break;
                case 1: buf[at] = edge[next() % sizeof edge]; break;
                case 2: len = (size_t)(next() % (len + 1)); break;
                case 3: /* a random 8-byte little-endian length/count */
                    if (at + 8 <= len) {
                        uint64_t v = next() % 3 == 0 ? next() : next() % 1000000;
                        memcpy(buf + at, &v, 8);
                    }
                    break;
                }
            }
            LLVMFuzzerTestOneInput(buf, len);
        }
        printf("%s: %ld mutations, no crash\n", argv[f], iters);
        free(seed);
        free(buf);
    }
    return 0;
}
