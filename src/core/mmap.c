/* mmap.c - read-only file mappings: the CPU backend uses weights in place. */
#define _POSIX_C_SOURCE 200809L
#include "mmap.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum ig_status ig_mmap_open(const char *path, struct ig_mapping *out, char *err, size_t err_len) {
    out->data = NULL;
    out->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        ig_err(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return IG_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        ig_err(err, err_len, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return IG_ERR_IO;
    }
    if (S_ISDIR(st.st_mode)) {
        ig_err(err, err_len, "%s: is a directory, expected a .gguf file", path);
        close(fd);
        return IG_ERR_IO;
    }
    if (st.st_size == 0) {
        close(fd);
        return IG_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) {
        ig_err(err, err_len, "%s: cannot mmap: %s", path, strerror(e));
        return IG_ERR_IO;
    }
    out->data = p;
    out->size = (size_t)st.st_size;
    return IG_OK;
}

void ig_mmap_close(struct ig_mapping *m) {
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}
