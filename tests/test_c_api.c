/* test_c_api.c - the public header alone compiles as strict C11 and is
 * enough for a program: tokenize, decode and sample on a real model.
 * usage: test_c_api MODEL.gguf */
#include "ingot.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char err[512];
    struct ig_model *m = NULL;
    if (ig_model_load(argv[1], NULL, &m, err, sizeof err) != IG_OK) {
        printf("SKIP: %s\n", err);
        return 77;
    }
    struct ig_ctx *c = NULL;
    if (ig_ctx_init(m, NULL, &c, err, sizeof err) != IG_OK) {
        printf("FAIL: %s\n", err);
        return 1;
    }
    ig_token toks[64];
    int32_t n = ig_tokenize(m, "Once upon a time", 16, toks, 64, true, false);
    int32_t small = ig_tokenize(m, "Once upon a time", 16, toks, 1, true, false);
    int ok = n > 1 && small == -n;
    int32_t pos[64], seq[64];
    for (int i = 0; i < n; i++) pos[i] = i, seq[i] = 0;
    struct ig_batch b = {n, toks, pos, seq, NULL};
    ok = ok && ig_decode(c, &b) == IG_OK && ig_logits(c, 0) != NULL && ig_logits(c, 1) == NULL;
    struct ig_sampler_params sp = ig_sampler_default_params();
    sp.temp = 0;
    struct ig_sampler *s = ig_sampler_init(&sp, ig_n_vocab(m));
    ig_token t = ig_sampler_sample(s, ig_logits(c, 0));
    char piece[64];
    int32_t pl = ig_token_to_piece(m, t, piece, sizeof piece, false);
    ok = ok && t >= 0 && pl >= 0 && ig_token_to_piece(m, t, piece, 0, false) == (pl ? -pl : 0);
    char text[256];
    int32_t tl = ig_detokenize(m, toks, n, text, sizeof text, false, true);
    ok = ok && tl == 16 && memcmp(text, "Once upon a time", 16) == 0;
    printf("%s: tokens %d, next '%.*s', detok '%.*s'\n", ok ? "PASS" : "FAIL", n, pl, piece, tl > 0 ? tl : 0, text);
    ig_sampler_free(s);
    ig_ctx_free(c);
    ig_model_free(m);
    ig_model_free(NULL);
    ig_ctx_free(NULL);
    ig_sampler_free(NULL);
    return ok ? 0 : 1;
}
