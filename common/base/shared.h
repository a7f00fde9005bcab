/*
 * shared.h - reference-counted immutable byte blocks.
 *
 * A broadcast is encoded once into a shared block and the same bytes are
 * queued to every recipient (net/outq holds one reference per queued copy and
 * drops it once written). Loop thread only: the count is not atomic.
 */
#ifndef SIOC_COMMON_BASE_SHARED_H
#define SIOC_COMMON_BASE_SHARED_H

#include <stddef.h>

#include "alloc.h"

typedef struct sioc_shared {
    size_t refs;
    size_t len;
    char data[];
} sioc_shared_t;

/** Returns a block of `len` bytes with one reference, or NULL when out of memory. */
SIOC_WUR sioc_shared_t *shared_new(size_t len);
/** Returns a block holding a copy of `len` bytes at `p`, or NULL. */
SIOC_WUR sioc_shared_t *shared_copy(const void *p, size_t len);
/** Adds a reference; returns `s`. */
sioc_shared_t *shared_ref(sioc_shared_t *s);
/** Drops a reference; frees on the last. */
void shared_unref(sioc_shared_t *s);

#endif
