/* What the fuzz targets share: the formats (lib/src/format.h) and the
 * memory file each input is written to, so the library opens it by path
 * as it would a real file, with no disk touched.  Includers define
 * _GNU_SOURCE first (memfd_create). */
#ifndef FP_FUZZ_H
#define FP_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "format.h"

/* Writes the input into the target's memory file; returns its path. */
static inline const char *fuzz_input_file(const char *name, const uint8_t *data,
                                          size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create(name, MFD_CLOEXEC);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) abort();
    for (size_t off = 0; off < size;) {
        ssize_t k = pwrite(fd, data + off, size - off, (off_t)off);
        if (k <= 0) abort();
        off += (size_t)k;
    }
    return path;
}

#endif
