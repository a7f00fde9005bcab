/* drain.h - a helper of the net unit tests. */
#ifndef SIOC_TESTS_UNIT_NET_DRAIN_H
#define SIOC_TESTS_UNIT_NET_DRAIN_H

#include <stddef.h>
#include <unistd.h>

/* Reads everything available from the non-blocking `fd` into `out`; returns the count. */
static inline size_t drain(int fd, char *out, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, out + n, cap - n);
        if (r <= 0)
            return n;
        n += (size_t)r;
    }
}

#endif
