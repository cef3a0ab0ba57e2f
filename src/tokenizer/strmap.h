/* strmap.h - open-addressing hash map from byte strings (views, not owned)
 * to int32 values, for token and merge lookups. */
#ifndef IG_STRMAP_H
#define IG_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ig_strmap_slot {
    const char *key; /* NULL: empty */
    uint32_t len;
    int32_t val;
};

struct ig_strmap {
    struct ig_strmap_slot *slots;
    size_t cap; /* power of two */
    size_t n;
};

/* Room for n_expected keys; false on no memory. */
bool ig_strmap_init(struct ig_strmap *m, size_t n_expected);
void ig_strmap_free(struct ig_strmap *m);
/* Insert if absent (the first value for a key wins). The key must outlive m. */
void ig_strmap_put(struct ig_strmap *m, const char *key, size_t len, int32_t val);
/* Value for key, or -1. */
int32_t ig_strmap_get(const struct ig_strmap *m, const char *key, size_t len);

#endif
