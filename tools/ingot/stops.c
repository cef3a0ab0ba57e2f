/* stops.c - stop strings for streamed output (`run`, `chat`, `serve`): how
 * much of the text so far can be sent, holding back any tail that could
 * still become a stop string. */
#define _GNU_SOURCE /* memmem */
#include "cli.h"

#include <string.h>

size_t stop_scan(const char *buf, size_t n, const char *const *stops, int n_stop, bool *hit) {
    size_t cut = n; /* the earliest stop string */
    for (int i = 0; i < n_stop; i++) {
        const char *h = memmem(buf, n, stops[i], strlen(stops[i]));
        if (h && (size_t)(h - buf) < cut) cut = (size_t)(h - buf);
    }
    *hit = cut < n;
    if (*hit) return cut;
    size_t keep = 0; /* the longest tail that begins a stop string */
    for (int i = 0; i < n_stop; i++) {
        size_t sl = strlen(stops[i]);
        for (size_t k = sl - 1; k > keep; k--)
            if (k <= n && !memcmp(buf + n - k, stops[i], k)) {
                keep = k;
                break;
            }
    }
    return n - keep;
}
