/* args.c - strict flag value parsing: a bad number is an error, not a 0. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("ingot: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

bool arg_int(const char *flag, const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        die("%s expects a whole number from %ld to %ld, got '%s'", flag, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

bool arg_float(const char *flag, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || isnan(v) || v < lo || v > hi) {
        die("%s expects a number from %g to %g, got '%s'", flag, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

const char *arg_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        die("%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

bool arg_backend(const char *s, enum ig_backend_type *out) {
    if (ig_backend_parse(s, out)) return true;
    die("unknown backend '%s' (auto, cpu, cpu-ref, cuda)", s);
    return false;
}

char *read_all(FILE *f, size_t *len) {
    /* NUL-terminated too, for callers that want a C string */
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n + 1 >= cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) {
                free(buf);
                return NULL;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}
