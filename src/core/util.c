/* util.c - errors, logging, time and CPU count. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif
#include "util.h"

#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static ig_log_fn g_log_fn;
static void *g_log_user;

void ig_log_set(ig_log_fn fn, void *user) {
    g_log_fn = fn;
    g_log_user = user;
}

void ig_log(enum ig_log_level level, const char *fmt, ...) {
    if (!g_log_fn) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_log_fn(level, buf, g_log_user);
}

void ig_assert_fail(const char *file, int line, const char *expr) {
    /* The one place the library writes to stderr: the process is about to die
     * on a bug in ingot, and the user needs to know where. */
    fprintf(stderr, "ingot: internal error at %s:%d: assertion '%s' failed\n", file, line, expr);
    abort();
}

void ig_err(char *err, size_t len, const char *fmt, ...) {
    if (!err || len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
}

const char *ig_status_str(enum ig_status s) {
    switch (s) {
    case IG_OK: return "ok";
    case IG_ERR_IO: return "I/O error";
    case IG_ERR_FORMAT: return "format error";
    case IG_ERR_UNSUPPORTED: return "unsupported";
    case IG_ERR_NOMEM: return "out of memory";
    case IG_ERR_DEVICE: return "device error";
    case IG_ERR_ARG: return "bad argument";
    case IG_ERR_CTX_FULL: return "context full";
    case IG_ERR_NETWORK: return "network error";
    case IG_ERR_DENIED: return "access denied";
    case IG_ERR_NOT_FOUND: return "not found";
    case IG_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

int32_t ig_n_cores(void) {
    /* the cores this process may run on (taskset, a container's cpuset),
     * else every online one */
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return (int32_t)CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int32_t)n : 1;
}

int64_t ig_time_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
