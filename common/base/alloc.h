/*
 * alloc.h - allocation policy.
 *
 * x* functions abort the process with a log line when memory is exhausted:
 * they are for the control plane and fixed-size objects. try_* functions
 * return NULL and must be checked: they are for growth that a peer controls,
 * so that one oversized message closes that peer, not the process.
 */
#ifndef SIOC_COMMON_BASE_ALLOC_H
#define SIOC_COMMON_BASE_ALLOC_H

#include <stddef.h>

#define SIOC_WUR __attribute__((warn_unused_result))

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/** Returns an owned copy of the NUL-terminated `s`; free with free(). */
char *xstrdup(const char *s);
/** Returns an owned NUL-terminated copy of `len` bytes at `s`. */
char *xstrndup(const char *s, size_t len);

SIOC_WUR void *try_malloc(size_t n);
SIOC_WUR void *try_realloc(void *p, size_t n);

#endif
