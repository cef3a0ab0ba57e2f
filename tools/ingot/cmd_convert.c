/* cmd_convert.c - `ingot convert SRC OUT.gguf [--type T]`. */
#include "cli.h"

#include <string.h>
#include <unistd.h>

static void convert_usage(FILE *f) {
    fprintf(f, "usage: ingot convert SRC OUT.gguf [--type f16|bf16|f32|q8_0|q4_0|q4_k|q6_k]\n"
               "\n"
               "Writes a GGUF file (loadable by ingot and llama.cpp) from a Hugging Face\n"
               "model folder or another GGUF file, carrying the tokenizer and chat template.\n"
               "  --type T    type of the weight matrices (default f16); norms stay F32\n"
               "  --force     overwrite OUT.gguf if it exists\n");
}

static void progress(void *user, int32_t done, int32_t total) {
    if (!*(bool *)user) return;
    fprintf(stderr, "\ringot: converting: tensor %d/%d", done, total);
    if (done == total) fputc('\n', stderr);
}

int cmd_convert(int argc, char **argv) {
    const char *src = NULL, *dst = NULL, *type = "f16";
    bool force = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--type")) {
            if (!(type = arg_value(argc, argv, &i))) return 2;
        } else if (!strcmp(argv[i], "--force")) {
            force = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            convert_usage(stdout);
            return 0;
        } else if (argv[i][0] == '-') {
            die("unknown flag '%s' for convert (see `ingot convert --help`)", argv[i]);
            return 2;
        } else if (!src) src = argv[i];
        else if (!dst) dst = argv[i];
        else return die("unexpected argument '%s'", argv[i]), 2;
    }
    if (!src || !dst) {
        convert_usage(stderr);
        return 2;
    }
    if (!force && access(dst, F_OK) == 0) return die("%s exists (use --force to overwrite)", dst);
    bool tty = isatty(STDERR_FILENO);
    char err[512];
    int64_t t0 = ig_time_us();
    if (ig_convert(src, dst, type, progress, &tty, err, sizeof err) != IG_OK) return die("%s", err);
    fprintf(stderr, "ingot: wrote %s (%s) in %.1f s\n", dst, type, (double)(ig_time_us() - t0) / 1e6);
    return 0;
}
