/* util.h - internal helpers shared by all of libingot: assertions, error
 * messages, overflow-checked arithmetic, logging. */
#ifndef IG_UTIL_H
#define IG_UTIL_H

#include "ingot.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* Broken internal invariant: on in release builds too (ggml's GGML_ASSERT). */
#define IG_ASSERT(x)                                                        \
    do {                                                                    \
        if (!(x)) ig_assert_fail(__FILE__, __LINE__, #x);                   \
    } while (0)
_Noreturn void ig_assert_fail(const char *file, int line, const char *expr);

/* Write a formatted one-line message into err[0..len) if err is non-NULL. */
void ig_err(char *err, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void ig_log(enum ig_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Overflow-checked size arithmetic: false on overflow. */
static inline bool ig_add_ok(size_t a, size_t b, size_t *r) { return !__builtin_add_overflow(a, b, r); }
static inline bool ig_mul_ok(size_t a, size_t b, size_t *r) { return !__builtin_mul_overflow(a, b, r); }

#define IG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define IG_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
