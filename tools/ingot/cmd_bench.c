/* cmd_bench.c - `ingot bench MODEL`: prompt processing and generation speed
 * over repeated runs (median and spread), the memory bandwidth decode reaches
 * against a bandwidth measured beside each run, load time and peak memory. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: ingot bench MODEL [flags]\n"
            "\n"
            "Measures prompt processing (ppN: N prompt tokens in batches) and\n"
            "generation (tgN: N tokens one at a time) in tokens/s, the weight bytes\n"
            "decode reads per second, and that as a percentage of the memory\n"
            "bandwidth measured beside each generation run (CPU: reading a host\n"
            "buffer with the bench's threads; GPU: a device-to-device copy, bytes\n"
            "read + written).\n"
            "  -p N            prompt tokens (default 512; 0 skips)\n"
            "  -n N            generated tokens (default 128; 0 skips); each is picked\n"
            "                  greedily from the step's logits and fed back, as in a run\n"
            "                  with --temp 0 (on a GPU the next step is queued before the\n"
            "                  host reads the pick; INGOT_PIPELINE=0: after)\n"
            "  -r N            repetitions, median reported (default 5)\n"
            "  -d N            context depth: generation starts after N cached tokens\n"
            "                  (default 0), to see how decode speed holds as context grows\n"
            "  --ctx N, -c N   context size (default: just what the run needs; `ingot run`\n"
            "                  uses the model's, up to 4096): some work scales with it\n"
            "  --parallel N    generate for N sequences at once (one multi-sequence batch\n"
            "                  per step); tg reports their aggregate tokens/s\n"
            "  --threads N     CPU threads (default: all cores)\n"
            "  --backend B     auto | cpu | cpu-ref | cuda (default auto)\n"
            "  --no-bw         skip the bandwidth measurement\n"
            "  --json          one JSON object, for scripts\n");
}

static void bench_log(enum ig_log_level level, const char *msg, void *user) {
    if (level >= IG_LOG_WARN) fprintf(stderr, "ingot: %s\n", msg);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct stat_ {
    double median, min, max;
};

static struct stat_ stats(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    struct stat_ s = {n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, v[0], v[n - 1]};
    return s;
}

/* Bytes of weights one decode step reads: everything but the embedding table,
 * of which it reads one row (unless the table doubles as the output). */
static double bytes_per_token(struct ig_model *m, const struct ig_model_info *in) {
    double total = 0;
    for (int32_t i = 0; i < ig_model_n_tensors(m); i++) {
        struct ig_tensor_info t;
        ig_model_tensor(m, i, &t);
        if (!strcmp(t.name, "token_embd.weight") && !in->tied_embeddings) total += (double)t.n_bytes / (double)t.ne[1];
        else total += (double)t.n_bytes;
    }
    return total;
}

/* Peak resident memory so far in MiB: VmHWM, which reset_peak_rss() can
 * restart from the current size (Linux), else the process's lifetime peak. */
static double peak_rss_mib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kib = atof(line + 6);
    if (f) fclose(f);
    if (kib < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kib = (double)ru.ru_maxrss;
    }
    return kib / 1024.0;
}
static void reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) fputs("5", f), fclose(f);
}

/* ig_generate's callback of a benchmark: every token goes on */
static bool any_token(ig_token t, void *user) {
    (void)t, (void)user;
    return true;
}

/* One bandwidth reading beside a timed run, at the backend's own size. A
 * host buffer is not the model's memory: the peak RSS before it is kept in
 * *peak and the count restarted after it. */
static double measure_bw(struct ig_ctx *c, double *peak) {
    double p = peak_rss_mib();
    if (p > *peak) *peak = p;
    double bw = ig_ctx_measure_bandwidth(c, 0);
    reset_peak_rss();
    return bw;
}

int cmd_bench(int argc, char **argv) {
    const char *path = NULL;
    long n_prompt = 512, n_gen = 128, reps = 5, n_threads = 0, depth = 0, par = 1, ctx = 0;
    bool json = false, do_bw = true;
    enum ig_backend_type backend = IG_BACKEND_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            bench_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-p")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 0, 1 << 16, &n_prompt)) return 2;
        } else if (!strcmp(a, "-n")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 0, 1 << 16, &n_gen)) return 2;
        } else if (!strcmp(a, "-r")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 1, 1000, &reps)) return 2;
        } else if (!strcmp(a, "--parallel")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 1, 256, &par)) return 2;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 1, 1 << 24, &ctx)) return 2;
        } else if (!strcmp(a, "-d")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 0, 1 << 20, &depth)) return 2;
        } else if (!strcmp(a, "--threads")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_int(a, v, 1, 1024, &n_threads)) return 2;
        } else if (!strcmp(a, "--backend")) {
            if (!(v = arg_value(argc, argv, &i)) || !arg_backend(v, &backend)) return 2;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--no-bw")) {
            do_bw = false;
        } else if (a[0] == '-') {
            die("unknown flag '%s' for bench (see `ingot bench --help`)", a);
            return 2;
        } else if (!path) {
            path = a;
        } else {
            die("unexpected argument '%s'", a);
            return 2;
        }
    }
    if (!path) {
        bench_usage(stderr);
        return 2;
    }
    char err[512];
    struct ig_model *m = NULL;
    struct ig_ctx *c = NULL;
    ig_log_set(bench_log, NULL);
    struct ig_model_params mp = ig_model_default_params();
    mp.n_threads = (int32_t)n_threads;
    mp.backend = backend;
    int64_t t0 = ig_time_us();
    if (ig_model_load(path, &mp, &m, err, sizeof err) != IG_OK) return die("%s", err);
    struct ig_ctx_params cp = ig_ctx_default_params();
    long per_seq = depth + n_gen + 1;
    cp.n_ctx = (int32_t)(n_prompt + n_gen + 1 > par * per_seq ? n_prompt + n_gen + 1 : par * per_seq);
    if (ctx > cp.n_ctx) cp.n_ctx = (int32_t)ctx;
    cp.n_seq_max = (int32_t)par;
    if (cp.n_batch < par) cp.n_batch = (int32_t)par;
    if (ig_ctx_init(m, &cp, &c, err, sizeof err) != IG_OK) {
        ig_model_free(m);
        return die("%s", err);
    }
    double t_load = (double)(ig_time_us() - t0) / 1e6;
    struct ig_model_info in;
    ig_model_get_info(m, &in);
    int threads = ig_ctx_n_threads(c);
    if (!json) fprintf(stderr, "ingot bench: %s, %s on %s, %d threads\n", path, in.weight_type, ig_ctx_backend(c), threads);

    int32_t nb = ig_ctx_n_ctx(c);
    ig_token *toks = malloc((size_t)nb * sizeof *toks);
    int32_t *pos = malloc((size_t)nb * sizeof *pos), *seq = calloc((size_t)nb, sizeof *seq);
    ig_token *btok = malloc((size_t)par * sizeof *btok);
    int32_t *bpos = malloc((size_t)par * sizeof *bpos), *bseq = malloc((size_t)par * sizeof *bseq);
    int8_t *bwant = malloc((size_t)par);
    /* each generated token is picked greedily, as a run would (ig_sample:
     * on the device where the backend can), and fed back */
    struct ig_sampler_params gp = ig_sampler_default_params();
    gp.temp = 0, gp.repeat_penalty = 1;
    struct ig_sampler *greedy = ig_sampler_init(&gp, in.n_vocab);
    if (!btok || !bpos || !bseq || !bwant || !greedy) return die("out of memory");
    double *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg);
    if (!toks || !pos || !seq || !pp || !tg) return die("out of memory");
    uint64_t r = 12345;
    for (int32_t i = 0; i < nb; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (ig_token)((r >> 33) % (uint64_t)in.n_vocab);
        pos[i] = i;
    }
    /* The bandwidth of a shared host drifts from second to second (this VM's
     * reads move between ~40 and ~75 GB/s): it is measured beside each timed
     * generation run, before and after, and each run is compared with the
     * higher of its two. */
    double *bwv = calloc((size_t)reps + 1, sizeof *bwv), *frac = calloc((size_t)reps, sizeof *frac);
    if (!bwv || !frac) return die("out of memory");
    bool have_bw = do_bw && n_gen > 0;
    double peak_mib = 0; /* resident memory, less the bandwidth buffers */
    /* one untimed warm-up pass (page faults of the mapping, cold caches) */
    for (int rep = -1; rep < reps; rep++) {
        ig_seq_drop(c, -1, 0);
        if (n_prompt > 0) {
            int64_t t = ig_time_us();
            for (long i = 0; i < n_prompt; i += 512) {
                int32_t k = (int32_t)(n_prompt - i < 512 ? n_prompt - i : 512);
                struct ig_batch b = {k, toks + i, pos + i, seq, NULL};
                if (ig_decode(c, &b) != IG_OK) return die("decode failed");
            }
            /* the last token's logits, as a run reads them to pick its first
             * token; this also waits for a GPU to finish the prompt */
            if (!ig_logits(c, 0)) return die("no logits");
            if (rep >= 0) pp[rep] = (double)n_prompt / ((double)(ig_time_us() - t) / 1e6);
        }
        if (n_gen > 0) {
            ig_seq_drop(c, -1, 0);
            for (long s2 = 0; s2 < par; s2++) { /* each sequence's context up to the depth (untimed) */
                for (int32_t q = 0; q < nb; q++) seq[q] = (int32_t)s2;
                for (long i = 0; i <= depth; i += 512) {
                    int32_t k = (int32_t)(depth + 1 - i < 512 ? depth + 1 - i : 512);
                    struct ig_batch b0 = {k, toks + i, pos + i, seq, NULL};
                    if (ig_decode(c, &b0) != IG_OK) return die("decode failed");
                }
            }
            for (int32_t q = 0; q < nb; q++) seq[q] = 0;
            if (rep == 0 && have_bw) bwv[0] = measure_bw(c, &peak_mib);
            int64_t t = ig_time_us();
            for (long s2 = 0; s2 < par; s2++) btok[s2] = toks[(depth + 1 + s2) % nb];
            if (par == 1) { /* one sequence: generation as `ingot run --temp 0` makes it (ig_generate) */
                int32_t p0 = (int32_t)depth + 1, zero = 0;
                struct ig_batch b = {1, btok, &p0, &zero, NULL};
                if (ig_decode(c, &b) != IG_OK) return die("decode failed");
                /* n_gen decodes and picks, as below: the last pick is not decoded */
                if (ig_generate(c, 0, 0, p0 + 1, (int32_t)n_gen, greedy, any_token, NULL) != (int32_t)n_gen)
                    return die("decode failed");
            }
            for (long i = depth + 1; par > 1 && i <= depth + n_gen; i++) {
                for (long s2 = 0; s2 < par; s2++) bpos[s2] = (int32_t)i, bseq[s2] = (int32_t)s2, bwant[s2] = 1;
                struct ig_batch b = {(int32_t)par, btok, bpos, bseq, bwant};
                if (ig_decode(c, &b) != IG_OK) return die("decode failed");
                for (long s2 = 0; s2 < par; s2++) btok[s2] = ig_sample(c, (int32_t)s2, greedy);
            }
            if (rep >= 0) tg[rep] = (double)(n_gen * par) / ((double)(ig_time_us() - t) / 1e6);
            if (rep >= 0 && have_bw) bwv[rep + 1] = measure_bw(c, &peak_mib);
        }
        if (rep < 0 && !json) fprintf(stderr, "ingot bench: warm-up done, %ld runs...\n", reps);
    }
    double p_end = peak_rss_mib();
    if (p_end > peak_mib) peak_mib = p_end;
    double bpt = bytes_per_token(m, &in);
    /* each run's weight GB/s (the sequences of one step share the weight
     * reads) over the higher bandwidth measured beside it */
    struct stat_ sb = {0, 0, 0}, sf = {0, 0, 0};
    int n_bw = 0;
    for (int i = 0; have_bw && i < reps; i++) {
        double b = bwv[i] > bwv[i + 1] ? bwv[i] : bwv[i + 1];
        if (b <= 0) continue;
        frac[n_bw] = tg[i] / (double)par * bpt / 1e9 / b;
        bwv[n_bw++] = b;
    }
    if (n_bw) sb = stats(bwv, n_bw), sf = stats(frac, n_bw);
    double bw = sb.median;
    bool gpu = !strncmp(ig_ctx_backend(c), "cuda", 4); /* what was measured, for the report */
    const char *bw_what = gpu ? "device copy (read + write)" : "host read";
    struct stat_ sp = n_prompt ? stats(pp, (int)reps) : (struct stat_){0, 0, 0};
    struct stat_ sg = n_gen ? stats(tg, (int)reps) : (struct stat_){0, 0, 0};
    double gbs = sg.median / (double)par * bpt / 1e9;

    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", path);
        cJSON_AddStringToObject(o, "architecture", in.arch);
        cJSON_AddStringToObject(o, "weight_type", in.weight_type);
        cJSON_AddNumberToObject(o, "parameters", (double)in.n_params);
        cJSON_AddNumberToObject(o, "file_bytes", (double)in.file_size);
        cJSON_AddStringToObject(o, "backend", ig_ctx_backend(c));
        cJSON_AddNumberToObject(o, "threads", threads);
        cJSON_AddNumberToObject(o, "repetitions", (double)reps);
        cJSON_AddNumberToObject(o, "depth", (double)depth);
        cJSON_AddNumberToObject(o, "n_ctx", (double)ig_ctx_n_ctx(c));
        cJSON_AddNumberToObject(o, "load_s", t_load);
        cJSON_AddNumberToObject(o, "peak_rss_mib", peak_mib);
        cJSON_AddNumberToObject(o, "bytes_per_token", bpt);
        if (bw > 0) {
            cJSON_AddNumberToObject(o, "bandwidth_gbs", bw); /* median over the runs */
            cJSON_AddNumberToObject(o, "bandwidth_gbs_min", sb.min);
            cJSON_AddNumberToObject(o, "bandwidth_gbs_max", sb.max);
            cJSON_AddStringToObject(o, "bandwidth_method", bw_what);
        }
        if (n_prompt) {
            cJSON *p = cJSON_AddObjectToObject(o, "pp");
            cJSON_AddNumberToObject(p, "tokens", (double)n_prompt);
            cJSON_AddNumberToObject(p, "tps_median", sp.median);
            cJSON_AddNumberToObject(p, "tps_min", sp.min);
            cJSON_AddNumberToObject(p, "tps_max", sp.max);
            /* matmul FLOPs of a prompt token: 2 per weight of the layers (the
             * embedding is a lookup, the output projection runs for the last
             * token only); attention not counted */
            double emb = (double)in.n_vocab * (double)in.n_embd * (in.tied_embeddings ? 1 : 2);
            cJSON_AddNumberToObject(p, "tflops", sp.median * 2.0 * ((double)in.n_params - emb) / 1e12);
        }
        if (n_gen) {
            cJSON *g = cJSON_AddObjectToObject(o, "tg");
            cJSON_AddNumberToObject(g, "tokens", (double)n_gen);
            cJSON_AddNumberToObject(g, "parallel", (double)par);
            cJSON_AddNumberToObject(g, "tps_median", sg.median);
            cJSON_AddNumberToObject(g, "tps_min", sg.min);
            cJSON_AddNumberToObject(g, "tps_max", sg.max);
            cJSON_AddNumberToObject(g, "gbs", gbs);
            if (bw > 0) { /* median of each run's fraction, and their spread */
                cJSON_AddNumberToObject(g, "bw_fraction", sf.median);
                cJSON_AddNumberToObject(g, "bw_fraction_min", sf.min);
                cJSON_AddNumberToObject(g, "bw_fraction_max", sf.max);
            }
        }
        char *s = cJSON_Print(o);
        if (s) puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("| model | type | backend | threads | test | t/s (median) | min - max | GB/s | %% of read bw |\n");
        printf("|---|---|---|--:|---|--:|---|--:|--:|\n");
        const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        if (n_prompt)
            printf("| %s | %s | %s | %d | pp%ld | %.2f | %.2f - %.2f | | |\n", name, in.weight_type, ig_ctx_backend(c),
                   threads, n_prompt, sp.median, sp.min, sp.max);
        if (n_gen) {
            char test[48];
            if (depth) snprintf(test, sizeof test, "tg%ld @ d%ld", n_gen, depth);
            else snprintf(test, sizeof test, "tg%ld", n_gen);
            if (par > 1) snprintf(test + strlen(test), sizeof test - strlen(test), " x%ld", par);
            printf("| %s | %s | %s | %d | %s | %.2f | %.2f - %.2f | %.1f | ", name, in.weight_type,
                   ig_ctx_backend(c), threads, test, sg.median, sg.min, sg.max, gbs);
            if (bw > 0) printf("%.0f%% (%.0f - %.0f) |\n", 100 * sf.median, 100 * sf.min, 100 * sf.max);
            else printf("- |\n");
        }
        printf("\n");
        if (bw > 0)
            printf("bandwidth (%s%s, beside each run): median %.1f GB/s, %.1f - %.1f\n", bw_what,
                   gpu ? "" : threads > 1 ? ", all threads" : ", 1 thread", bw, sb.min, sb.max);
        printf("weights read per token: %.1f MiB; load %.2f s; peak RSS %.0f MiB\n", bpt / (1024.0 * 1024.0), t_load,
               peak_mib);
    }
    free(toks), free(pos), free(seq), free(pp), free(tg), free(btok), free(bpos), free(bseq), free(bwant);
    free(bwv), free(frac);
    ig_sampler_free(greedy);
    ig_ctx_free(c);
    ig_model_free(m);
    return 0;
}
