/* test_tokenizer.c - golden tokenizations: for a vocab GGUF with .inp/.out
 * files (llama.cpp's format), every case must encode to exactly the expected
 * ids (no BOS, special tokens parsed), and decode(encode(s)) == s where the
 * tokenizer is lossless.
 * usage: test_tokenizer VOCAB.gguf [--lossy | --expect-unsupported]
 * (exit 77: files missing, reported as skipped) */
#define _POSIX_C_SOURCE 200809L
#include "ingot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b) b[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return b;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_tokenizer VOCAB.gguf|TOKENIZER_DIR [--lossy | --expect-unsupported | --cases PREFIX]\n");
        return 2;
    }
    bool lossy = argc > 2 && !strcmp(argv[2], "--lossy");
    /* --cases PREFIX: goldens at PREFIX.inp/.out for a tokenizer elsewhere
     * (a Hugging Face tokenizer.json folder) */
    const char *cases = argc > 3 && !strcmp(argv[2], "--cases") ? argv[3] : argv[1];
    char path[1024];
    size_t inp_len, out_len;
    snprintf(path, sizeof path, "%s.inp", cases);
    char *inp = slurp(path, &inp_len);
    snprintf(path, sizeof path, "%s.out", cases);
    char *out = slurp(path, &out_len);
    if (!inp || !out) {
        printf("SKIP: %s.inp/.out not found (set INGOT_TEST_MODELS or place ../shared/models)\n", cases);
        return 77;
    }
    struct ig_model_params mp = ig_model_default_params();
    mp.vocab_only = true;
    struct ig_model *m;
    char err[512];
    enum ig_status st = ig_model_load(argv[1], &mp, &m, err, sizeof err);
    if (argc > 2 && !strcmp(argv[2], "--expect-unsupported")) {
        /* a tokenizer ingot declares unsupported must say so clearly */
        bool ok = st == IG_ERR_UNSUPPORTED && strstr(err, "unsupported tokenizer");
        printf("%s: %s\n", ok ? "PASS (declared unsupported)" : "FAIL", st == IG_OK ? "loaded" : err);
        if (st == IG_OK) ig_model_free(m);
        free(inp), free(out);
        return ok ? 0 : 1;
    }
    if (st != IG_OK) {
        printf("FAIL: load: %s\n", err);
        return 1;
    }
    const char *sep = "\n__ggml_vocab_test__\n";
    int n_case = 0, n_fail = 0, n_rt_fail = 0;
    char *ip = inp, *op = out;
    /* the .inp ends with a separator after the last case */
    for (;;) {
        char *end = strstr(ip, sep);
        if (!end) break;
        char *oe = strchr(op, '\n');
        if (!oe) break;
        *oe = 0;
        size_t len = (size_t)(end - ip);
        int32_t want[4096], nw = 0;
        for (char *t = strtok(op, " "); t; t = strtok(NULL, " ")) want[nw++] = atoi(t);
        ig_token got[4096];
        int32_t ng = ig_tokenize(m, ip, (int32_t)len, got, 4096, false, true);
        bool ok = ng == nw && !memcmp(got, want, (size_t)nw * sizeof *got);
        n_case++;
        if (!ok) {
            n_fail++;
            if (n_fail <= 5) {
                printf("FAIL case %d '%.*s'\n  want:", n_case, (int)len, ip);
                for (int i = 0; i < nw; i++) printf(" %d", want[i]);
                printf("\n  got: ");
                for (int i = 0; i < ng; i++) printf(" %d", got[i]);
                printf("\n");
            }
        } else if (!lossy) {
            char dec[16384];
            int32_t nd = ig_detokenize(m, got, ng, dec, sizeof dec, true, true);
            if (nd != (int32_t)len || memcmp(dec, ip, len)) {
                n_rt_fail++;
                if (n_rt_fail <= 5) printf("ROUNDTRIP FAIL case %d '%.*s' -> '%.*s'\n", n_case, (int)len, ip, nd > 0 ? nd : 0, dec);
            }
        }
        ip = end + strlen(sep);
        op = oe + 1;
    }
    printf("%s: %d cases, %d encode failures, %d round-trip failures\n", argv[1], n_case, n_fail, n_rt_fail);
    ig_model_free(m);
    free(inp);
    free(out);
    return n_case > 0 && n_fail == 0 && n_rt_fail == 0 ? 0 : 1;
}
