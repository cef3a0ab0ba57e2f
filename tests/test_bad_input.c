/* test_bad_input.c - hostile and broken model files: each gets its own clear
 * error message and nothing crashes. Writes the broken files into DIR so the
 * CLI test (cli_errors.sh) can run `ingot` on them too.
 * usage: test_bad_input DIR */
#define _POSIX_C_SOURCE 200809L
#include "format/gguf.h"
#include "ingot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"

static const char *dir;

enum flaw { OK, NO_FFN_UP, BAD_SHAPE, ARCH_FOO, IQ2_TENSOR };

static bool zero_fill(void *u, int32_t t, int64_t r, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = 0.01f * (float)((i + r + t) % 7);
    return true;
}

/* A tiny llama model with one deliberate flaw. */
static void write_model(const char *path, enum flaw flaw) {
    struct ig_gguf_writer *w = ig_gguf_writer_create();
    const int E = 32, F = 64, V = 260, NL = 2;
    ig_gguf_w_str(w, "general.architecture", flaw == ARCH_FOO ? "foo" : "llama");
    const char *a = flaw == ARCH_FOO ? "foo" : "llama";
    char k[96];
#define KEY(s) (snprintf(k, sizeof k, "%s.%s", a, s), k)
    ig_gguf_w_u32(w, KEY("embedding_length"), E);
    ig_gguf_w_u32(w, KEY("block_count"), NL);
    ig_gguf_w_u32(w, KEY("feed_forward_length"), F);
    ig_gguf_w_u32(w, KEY("attention.head_count"), 4);
    ig_gguf_w_u32(w, KEY("attention.head_count_kv"), 2);
    ig_gguf_w_u32(w, KEY("context_length"), 64);
    const char *toks[260];
    char store[260][12];
    int32_t types[260];
    for (int i = 0; i < V; i++) {
        if (i < 3) snprintf(store[i], sizeof store[i], "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
        else snprintf(store[i], sizeof store[i], "<0x%02X>", i - 3 > 255 ? 255 : i - 3);
        if (i >= 259) snprintf(store[i], sizeof store[i], "x");
        toks[i] = store[i];
        types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
    }
    ig_gguf_w_str(w, "tokenizer.ggml.model", "llama");
    ig_gguf_w_arr_str(w, "tokenizer.ggml.tokens", toks, V);
    ig_gguf_w_arr_i32(w, "tokenizer.ggml.token_type", types, V);
    int64_t ne[2];
#define T2(name, ty, a0, a1) (ne[0] = a0, ne[1] = a1, ig_gguf_w_tensor(w, name, ty, 2, ne, NULL))
#define T1(name, a0) (ne[0] = a0, ig_gguf_w_tensor(w, name, IG_DTYPE_F32, 1, ne, NULL))
    T2("token_embd.weight", IG_DTYPE_F32, E, V);
    char n[64];
    for (int l = 0; l < NL; l++) {
#define NM(s) (snprintf(n, sizeof n, "blk.%d.%s", l, s), n)
        T1(NM("attn_norm.weight"), E);
        T2(NM("attn_q.weight"), IG_DTYPE_F32, E, flaw == BAD_SHAPE && l == 1 ? E / 2 : E);
        T2(NM("attn_k.weight"), IG_DTYPE_F32, E, E / 2);
        T2(NM("attn_v.weight"), IG_DTYPE_F32, E, E / 2);
        T2(NM("attn_output.weight"), IG_DTYPE_F32, E, E);
        T1(NM("ffn_norm.weight"), E);
        T2(NM("ffn_gate.weight"), IG_DTYPE_F32, E, F);
        if (!(flaw == NO_FFN_UP && l == 1)) T2(NM("ffn_up.weight"), IG_DTYPE_F32, E, F);
        T2(NM("ffn_down.weight"), flaw == IQ2_TENSOR && l == 0 ? IG_DTYPE_IQ2_XXS : IG_DTYPE_F32,
           flaw == IQ2_TENSOR && l == 0 ? 256 : F, flaw == IQ2_TENSOR && l == 0 ? E / 8 : E);
    }
    T1("output_norm.weight", E);
    ig_gguf_w_set_fill(w, zero_fill, NULL);
    char err[256];
    if (ig_gguf_w_write(w, path, NULL, NULL, err, sizeof err) != IG_OK) printf("write: %s\n", err);
    ig_gguf_writer_free(w);
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("FAIL: cannot read %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

static void spit(const char *name, const uint8_t *b, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

/* Load path and check the status and that the message contains `want`. */
static void expect(const char *name, enum ig_status want_st, const char *want) {
    char path[1024], err[512] = "";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct ig_model *m = NULL;
    enum ig_status st = ig_model_load(path, NULL, &m, err, sizeof err);
    CHECK(st == want_st, "%s: status '%s', want '%s' (%s)", name, ig_status_str(st), ig_status_str(want_st), err);
    CHECK(want == NULL || strstr(err, want), "%s: message '%s' lacks '%s'", name, err, want);
    CHECK(st != IG_OK || m, "%s: ok without a model", name);
    if (st != IG_OK) printf("  %-22s -> %s\n", name, err);
    ig_model_free(m);
}

/* Offset of the tensor info that follows name's string in the header. */
static size_t tensor_info_at(const uint8_t *b, size_t n, const char *name) {
    size_t l = strlen(name);
    for (size_t i = 8; i + l < n; i++) {
        uint64_t len;
        memcpy(&len, b + i - 8, 8);
        if (len == l && !memcmp(b + i, name, l)) return i + l;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    dir = argv[1];
    char parent[1024];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash) *slash = 0, mkdir(parent, 0755);
    mkdir(dir, 0755);
    char path[1024];
    snprintf(path, sizeof path, "%s/good.gguf", dir);
    write_model(path, OK);
    expect("good.gguf", IG_OK, NULL);

    size_t n;
    uint8_t *good = slurp(path, &n), *b = malloc(n);

    /* every truncation point of the header, and a stride through the data */
    struct ig_gguf *g;
    char err[256];
    CHECK(ig_gguf_parse(good, n, &g, err, sizeof err) == IG_OK, "good file does not parse: %s", err);
    size_t header = g->data_offset;
    ig_gguf_free(g);
    int bad_ok = 0;
    for (size_t cut = 0; cut < n; cut += cut < header + 64 ? 1 : 251) {
        enum ig_status st = ig_gguf_parse(good, cut, &g, err, sizeof err);
        if (st == IG_OK) {
            bad_ok++;
            ig_gguf_free(g);
        }
    }
    CHECK(bad_ok == 0, "%d truncated prefixes parsed as valid", bad_ok);
    spit("truncated.gguf", good, n - 100);
    expect("truncated.gguf", IG_ERR_FORMAT, "runs past the end");
    spit("truncated-header.gguf", good, 300);
    expect("truncated-header.gguf", IG_ERR_FORMAT, "truncated or corrupt file");
    spit("empty.gguf", good, 0);
    expect("empty.gguf", IG_ERR_FORMAT, "too short");

    memcpy(b, good, n);
    memcpy(b, "GGUX", 4);
    spit("bad-magic.gguf", b, n);
    expect("bad-magic.gguf", IG_ERR_FORMAT, "wrong magic");

    memcpy(b, good, n); /* v2 has the same layout for little-endian files */
    uint32_t v = 2;
    memcpy(b + 4, &v, 4);
    spit("version2.gguf", b, n);
    expect("version2.gguf", IG_OK, NULL);

    memcpy(b, good, n);
    v = 7;
    memcpy(b + 4, &v, 4);
    spit("bad-version.gguf", b, n);
    expect("bad-version.gguf", IG_ERR_UNSUPPORTED, "unknown GGUF version 7");

    memcpy(b, good, n);
    uint64_t huge = 1ull << 62;
    memcpy(b + 8, &huge, 8);
    spit("absurd-tensor-count.gguf", b, n);
    expect("absurd-tensor-count.gguf", IG_ERR_FORMAT, "bad tensor count");

    memcpy(b, good, n);
    memcpy(b + 16, &huge, 8);
    spit("absurd-kv-count.gguf", b, n);
    expect("absurd-kv-count.gguf", IG_ERR_FORMAT, "bad metadata count");

    memcpy(b, good, n);
    memcpy(b + 24, &huge, 8); /* first key's string length */
    spit("absurd-string.gguf", b, n);
    expect("absurd-string.gguf", IG_ERR_FORMAT, "string length");

    size_t at = tensor_info_at(good, n, "blk.1.ffn_gate.weight");
    CHECK(at > 0, "tensor info not found");
    memcpy(b, good, n);
    uint64_t off = 1ull << 40; /* aligned, far past the end */
    memcpy(b + at + 4 + 16 + 4, &off, 8);
    spit("offset-past-end.gguf", b, n);
    expect("offset-past-end.gguf", IG_ERR_FORMAT, "runs past the end");

    memcpy(b, good, n);
    uint32_t ty = 99;
    memcpy(b + at + 4 + 16, &ty, 4);
    spit("unknown-type.gguf", b, n);
    expect("unknown-type.gguf", IG_ERR_UNSUPPORTED, "unknown tensor type 99");

    memcpy(b, good, n);
    uint64_t dim = 1ull << 62;
    memcpy(b + at + 4, &dim, 8);
    memcpy(b + at + 12, &dim, 8);
    spit("absurd-shape.gguf", b, n);
    expect("absurd-shape.gguf", IG_ERR_FORMAT, "absurd shape");

    snprintf(path, sizeof path, "%s/unknown-arch.gguf", dir);
    write_model(path, ARCH_FOO);
    expect("unknown-arch.gguf", IG_ERR_UNSUPPORTED, "unknown architecture 'foo'");
    snprintf(path, sizeof path, "%s/missing-tensor.gguf", dir);
    write_model(path, NO_FFN_UP);
    expect("missing-tensor.gguf", IG_ERR_FORMAT, "missing tensor blk.1.ffn_up.weight");
    snprintf(path, sizeof path, "%s/wrong-shape.gguf", dir);
    write_model(path, BAD_SHAPE);
    expect("wrong-shape.gguf", IG_ERR_FORMAT, "blk.1.attn_q.weight has shape [32, 16");
    snprintf(path, sizeof path, "%s/iq2-tensor.gguf", dir);
    write_model(path, IQ2_TENSOR);
    expect("iq2-tensor.gguf", IG_ERR_UNSUPPORTED, "type IQ2_XXS, which ingot cannot run yet");

    expect("does-not-exist.gguf", IG_ERR_IO, "cannot open");
    expect("", IG_ERR_IO, "is a directory");

    free(good);
    free(b);
    printf("bad input: %d failures\n", failures);
    return failures ? 1 : 0;
}
