/* mmap.h - read-only file mappings for model weights. */
#ifndef IG_MMAP_H
#define IG_MMAP_H

#include "util.h"

struct ig_mapping {
    const uint8_t *data;
    size_t size;
};

/* Map path read-only. An empty file maps to data == NULL, size == 0. */
enum ig_status ig_mmap_open(const char *path, struct ig_mapping *out, char *err, size_t err_len);
void ig_mmap_close(struct ig_mapping *m);

#endif
