/* fuzz_safetensors.c - libFuzzer target: the safetensors header reader; every
 * tensor it accepts must lie inside the buffer. */
#include "format/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct ig_st_file f;
    char err[256];
    if (ig_st_parse(data, size, &f, err, sizeof err) != IG_OK) return 0;
    volatile uint8_t sink = 0;
    for (int32_t i = 0; i < f.n; i++) {
        const struct ig_st_tensor *t = &f.t[i];
        IG_ASSERT(t->data >= data && t->n_bytes <= size && t->data + t->n_bytes <= data + size);
        if (t->n_bytes) sink ^= t->data[0] ^ t->data[t->n_bytes - 1];
    }
    (void)sink;
    ig_st_close(&f);
    return 0;
}
