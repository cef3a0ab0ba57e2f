/* arch.c - the architectures ingot runs and how they differ. Mistral GGUFs
 * use "llama"; TinyLlama and SmolLM are "llama" too. Phi-3 is Llama with
 * fused QKV and gate/up matrices and NeoX RoPE. */
#include "model/model.h"

#include <string.h>

static const struct ig_arch_desc k_archs[] = {
    {"llama", IG_ARCH_LLAMA, false, false, false},
    {"qwen2", IG_ARCH_QWEN2, true, true, false},
    {"phi3", IG_ARCH_PHI3, true, false, true},
};

const struct ig_arch_desc *ig_arch_find(const char *name) {
    for (size_t i = 0; i < sizeof k_archs / sizeof k_archs[0]; i++)
        if (strcmp(k_archs[i].name, name) == 0) return &k_archs[i];
    return NULL;
}

const char *ig_arch_list(void) { return "llama, qwen2, phi3"; }
