#define _POSIX_C_SOURCE 200809L
/* gen_model.c - ingot-gen: write a random-weight GGUF model of any shape
 * (llama or qwen2), with a synthetic SentencePiece vocabulary. Used by the
 * tests (small shapes) and benchmarks (real shapes: --preset). Weights are a
 * pure function of (seed, tensor, row), so files are reproducible. */
#include "format/gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct shape {
    const char *arch;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    bool tied;
    float rope_base;
    bool rope_freqs; /* write rope_freqs.weight (Llama 3 style rope scaling factors) */
};

static const struct {
    const char *name;
    struct shape s;
} k_presets[] = {
    {"tinyllama-1.1b", {"llama", 2048, 22, 32, 4, 5632, 32000, 2048, false, 10000.0f, false}},
    {"qwen2.5-0.5b", {"qwen2", 896, 24, 14, 2, 4864, 151936, 32768, true, 1000000.0f, false}},
    {"llama-3.2-1b", {"llama", 2048, 16, 32, 8, 8192, 128256, 131072, true, 500000.0f, true}},
    {"llama-3-8b", {"llama", 4096, 32, 32, 8, 14336, 128256, 8192, false, 500000.0f, false}},
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: ingot-gen -o OUT.gguf [--preset NAME | shape flags] [--type T] [--seed S]\n"
            "\n"
            "Writes a random-weight GGUF model for tests and benchmarks.\n"
            "  --preset NAME    tinyllama-1.1b | qwen2.5-0.5b | llama-3.2-1b | llama-3-8b\n"
            "  --arch A         llama | qwen2 (default llama)\n"
            "  --n-embd N --n-layer N --n-head N --n-head-kv N --n-ff N --n-vocab N --n-ctx N\n"
            "  --tied           share token_embd as the output projection\n"
            "  --rope-base F    RoPE frequency base\n"
            "  --rope-freqs     add rope_freqs.weight (per-frequency divisors, as Llama 3 GGUFs have)\n"
            "  --type T         f32 | f16 | bf16 | q8_0 | q4_0 | q4_k | q6_k for 2-D weights (default f32);\n"
            "                   q4_k_m: llama.cpp's Q4_K_M mix (Q4_K, with Q6_K for the output and for\n"
            "                   attn_v and ffn_down of the first and last eighth of the layers and every\n"
            "                   third between)\n"
            "  --seed S         weight seed (default 1)\n"
            "  --fast           matrices repeat their first 61 rows (speed benchmarks of large\n"
            "                   models: a Llama-3-8B Q4_K file in seconds, not minutes)\n");
}

struct gen {
    uint64_t seed;
    const char *const *names;
    const int64_t *n_in; /* per tensor: row length, for the scale */
    const uint8_t *kind; /* 0 matrix, 1 norm, 2 bias */
};

static uint64_t mix(uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static bool fill(void *user, int32_t t, int64_t row, float *dst, int64_t n) {
    const struct gen *g = user;
    uint64_t s = mix(g->seed ^ mix((uint64_t)t * 0x100000001b3ull ^ mix((uint64_t)row)));
    if (g->kind[t] == 3) { /* rope divisors: 1 for high frequencies rising to 8, like Llama 3's */
        for (int64_t i = 0; i < n; i++) dst[i] = 1.0f + 7.0f * (float)i / (float)(n > 1 ? n - 1 : 1);
        return true;
    }
    float scale = g->kind[t] == 0 ? 1.0f / sqrtf((float)g->n_in[t]) : g->kind[t] == 1 ? 0.2f : 0.5f;
    for (int64_t i = 0; i < n; i++) {
        s = mix(s);
        float u = (float)(s >> 40) / 16777216.0f * 2.0f - 1.0f; /* uniform [-1, 1) */
        dst[i] = (g->kind[t] == 1 ? 1.0f : 0.0f) + scale * u * 1.7320508f; /* unit variance x scale */
    }
    return true;
}

static void progress(void *user, int32_t done, int32_t total) {
    fprintf(stderr, "\ringot-gen: writing tensors %d/%d", done, total);
    if (done == total) fputc('\n', stderr);
}

int main(int argc, char **argv) {
    struct shape s = {"llama", 64, 2, 4, 2, 128, 512, 2048, false, 10000.0f, false};
    const char *out = NULL, *type = "f32";
    uint64_t seed = 1;
    int64_t row_cycle = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--tied")) {
            s.tied = true;
            continue;
        }
        if (!strcmp(a, "--rope-freqs")) {
            s.rope_freqs = true;
            continue;
        }
        if (!strcmp(a, "--fast")) {
            row_cycle = 61;
            continue;
        }
        if (!v) {
            fprintf(stderr, "ingot-gen: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "--type")) type = v;
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--arch")) s.arch = v;
        else if (!strcmp(a, "--n-embd")) s.n_embd = atoi(v);
        else if (!strcmp(a, "--n-layer")) s.n_layer = atoi(v);
        else if (!strcmp(a, "--n-head")) s.n_head = atoi(v);
        else if (!strcmp(a, "--n-head-kv")) s.n_head_kv = atoi(v);
        else if (!strcmp(a, "--n-ff")) s.n_ff = atoi(v);
        else if (!strcmp(a, "--n-vocab")) s.n_vocab = atoi(v);
        else if (!strcmp(a, "--n-ctx")) s.n_ctx = atoi(v);
        else if (!strcmp(a, "--rope-base")) s.rope_base = (float)atof(v);
        else if (!strcmp(a, "--preset")) {
            size_t k = 0, n = sizeof k_presets / sizeof k_presets[0];
            while (k < n && strcmp(k_presets[k].name, v)) k++;
            if (k == n) {
                fprintf(stderr, "ingot-gen: unknown preset '%s'\n", v);
                return 2;
            }
            s = k_presets[k].s;
        } else {
            fprintf(stderr, "ingot-gen: unknown flag '%s'\n", a);
            return 2;
        }
    }
    static const struct {
        const char *name;
        enum ig_dtype t;
    } k_types[] = {{"f32", IG_DTYPE_F32}, {"f16", IG_DTYPE_F16}, {"bf16", IG_DTYPE_BF16},
                   {"q8_0", IG_DTYPE_Q8_0}, {"q4_0", IG_DTYPE_Q4_0}, {"q4_k", IG_DTYPE_Q4_K},
                   {"q6_k", IG_DTYPE_Q6_K}, {"q4_k_m", IG_DTYPE_Q4_K}};
    int ti = -1;
    for (int k = 0; k < (int)(sizeof k_types / sizeof k_types[0]); k++)
        if (!strcmp(type, k_types[k].name)) ti = k;
    bool qwen = !strcmp(s.arch, "qwen2");
    if (!out || ti < 0 || (!qwen && strcmp(s.arch, "llama")) || s.n_embd <= 0 || s.n_layer <= 0 ||
        s.n_head <= 0 || s.n_head_kv <= 0 || s.n_head % s.n_head_kv || s.n_embd % s.n_head || s.n_ff <= 0 ||
        s.n_vocab < 259) {
        usage(stderr);
        if (s.n_vocab < 259) fprintf(stderr, "ingot-gen: --n-vocab must be at least 259 (3 specials + 256 bytes)\n");
        return 2;
    }
    enum ig_dtype wt = k_types[ti].t;
    bool q4_k_m = !strcmp(type, "q4_k_m");
    int blck = ig_dtype_get(q4_k_m ? IG_DTYPE_Q6_K : wt)->blck;
    if (s.n_embd % blck || s.n_ff % blck) {
        fprintf(stderr, "ingot-gen: n_embd and n_ff must be multiples of %d for %s\n", blck, type);
        return 2;
    }

    struct ig_gguf_writer *w = ig_gguf_writer_create();
    char key[128];
#define K(suffix) (snprintf(key, sizeof key, "%s.%s", s.arch, suffix), key)
    ig_gguf_w_str(w, "general.architecture", s.arch);
    ig_gguf_w_str(w, "general.name", "ingot random-weight model");
    ig_gguf_w_u32(w, K("context_length"), (uint32_t)s.n_ctx);
    ig_gguf_w_u32(w, K("embedding_length"), (uint32_t)s.n_embd);
    ig_gguf_w_u32(w, K("block_count"), (uint32_t)s.n_layer);
    ig_gguf_w_u32(w, K("feed_forward_length"), (uint32_t)s.n_ff);
    ig_gguf_w_u32(w, K("attention.head_count"), (uint32_t)s.n_head);
    ig_gguf_w_u32(w, K("attention.head_count_kv"), (uint32_t)s.n_head_kv);
    ig_gguf_w_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-5f);
    ig_gguf_w_f32(w, K("rope.freq_base"), s.rope_base);
    ig_gguf_w_u32(w, "general.file_type", q4_k_m ? 15u : (uint32_t)wt); /* (llama.cpp's MOSTLY_Q4_K_M) */

    /* synthetic SentencePiece vocabulary: <unk> <s> </s>, 256 byte tokens, then pieces */
    int nv = s.n_vocab;
    char **tok = calloc((size_t)nv, sizeof *tok);
    float *scores = calloc((size_t)nv, sizeof *scores);
    int32_t *types = calloc((size_t)nv, sizeof *types);
    for (int i = 0; i < nv; i++) {
        char buf[32];
        if (i == 0) snprintf(buf, sizeof buf, "<unk>"), types[i] = 2;
        else if (i == 1) snprintf(buf, sizeof buf, "<s>"), types[i] = 3;
        else if (i == 2) snprintf(buf, sizeof buf, "</s>"), types[i] = 3;
        else if (i < 259) snprintf(buf, sizeof buf, "<0x%02X>", i - 3), types[i] = 6;
        else snprintf(buf, sizeof buf, "\xe2\x96\x81t%d", i), types[i] = 1;
        tok[i] = strdup(buf);
        scores[i] = -(float)i;
    }
    ig_gguf_w_str(w, "tokenizer.ggml.model", "llama");
    ig_gguf_w_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)nv);
    ig_gguf_w_arr_f32(w, "tokenizer.ggml.scores", scores, (uint64_t)nv);
    ig_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)nv);
    ig_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", 1);
    ig_gguf_w_u32(w, "tokenizer.ggml.eos_token_id", 2);
    ig_gguf_w_u32(w, "tokenizer.ggml.unknown_token_id", 0);

    /* tensors, in llama.cpp's order */
    int n_max = 4 + s.n_layer * 12;
    const char **names = calloc((size_t)n_max, sizeof *names);
    int64_t *n_in = calloc((size_t)n_max, sizeof *n_in);
    uint8_t *kind = calloc((size_t)n_max, 1);
    int nt = 0;
    int64_t hd = s.n_embd / s.n_head, nq = (int64_t)s.n_head * hd, nkv = (int64_t)s.n_head_kv * hd;
#define ADD(nm, ty, k, a, b)                                                                    \
    do {                                                                                       \
        int64_t ne[2] = {a, b};                                                                \
        names[nt] = strdup(nm);                                                                \
        n_in[nt] = a;                                                                          \
        kind[nt] = k;                                                                          \
        ig_gguf_w_tensor(w, nm, ty, (b) > 0 ? 2 : 1, ne, NULL);                                \
        nt++;                                                                                  \
    } while (0)
    ADD("token_embd.weight", wt, 0, s.n_embd, nv);
    if (s.rope_freqs) ADD("rope_freqs.weight", IG_DTYPE_F32, 3, (s.n_embd / s.n_head) / 2, 0);
    char nm[96];
    for (int l = 0; l < s.n_layer; l++) {
#define L(suffix) (snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix), nm)
        ADD(L("attn_norm.weight"), IG_DTYPE_F32, 1, s.n_embd, 0);
        ADD(L("attn_q.weight"), wt, 0, s.n_embd, nq);
        ADD(L("attn_k.weight"), wt, 0, s.n_embd, nkv);
        /* Q4_K_M: more bits for V and down in some layers (llama.cpp's use_more_bits) */
        int e8 = s.n_layer / 8;
        bool more = q4_k_m && (l < e8 || l >= 7 * s.n_layer / 8 || (l - e8) % 3 == 2);
        enum ig_dtype wm = more ? IG_DTYPE_Q6_K : wt;
        ADD(L("attn_v.weight"), wm, 0, s.n_embd, nkv);
        if (qwen) {
            ADD(L("attn_q.bias"), IG_DTYPE_F32, 2, nq, 0);
            ADD(L("attn_k.bias"), IG_DTYPE_F32, 2, nkv, 0);
            ADD(L("attn_v.bias"), IG_DTYPE_F32, 2, nkv, 0);
        }
        ADD(L("attn_output.weight"), wt, 0, nq, s.n_embd);
        ADD(L("ffn_norm.weight"), IG_DTYPE_F32, 1, s.n_embd, 0);
        ADD(L("ffn_gate.weight"), wt, 0, s.n_embd, s.n_ff);
        ADD(L("ffn_up.weight"), wt, 0, s.n_embd, s.n_ff);
        ADD(L("ffn_down.weight"), wm, 0, s.n_ff, s.n_embd);
    }
    ADD("output_norm.weight", IG_DTYPE_F32, 1, s.n_embd, 0);
    if (!s.tied) ADD("output.weight", q4_k_m ? IG_DTYPE_Q6_K : wt, 0, s.n_embd, nv);

    struct gen g = {seed, names, n_in, kind};
    ig_gguf_w_set_fill(w, fill, &g);
    ig_gguf_w_set_row_cycle(w, row_cycle);
    char err[512];
    enum ig_status st = ig_gguf_w_write(w, out, progress, NULL, err, sizeof err);
    if (st != IG_OK) fprintf(stderr, "ingot-gen: %s\n", err);
    for (int i = 0; i < nv; i++) free(tok[i]);
    for (int i = 0; i < nt; i++) free((char *)names[i]);
    free(tok), free(scores), free(types), free(names), free(n_in), free(kind);
    ig_gguf_writer_free(w);
    return st == IG_OK ? 0 : 1;
}
