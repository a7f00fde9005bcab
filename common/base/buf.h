/*
 * buf.h - growable byte buffer for encoders.
 *
 * A sioc_buf_t owns `base`. Appends either grow the buffer or, once `limit`
 * (0 = none) would be passed or memory runs out, fail with SIOC_ENOMEM /
 * SIOC_EMSGSIZE and leave the contents unchanged. Zero-initialise to start.
 */
#ifndef SIOC_COMMON_BASE_BUF_H
#define SIOC_COMMON_BASE_BUF_H

#include <stddef.h>

#include "alloc.h"

typedef struct {
    char *base;
    size_t len;
    size_t cap;
    size_t limit; /* max len; 0 = unlimited */
} sioc_buf_t;

/** Ensures room for `n` more bytes. 0, SIOC_ENOMEM or SIOC_EMSGSIZE. */
SIOC_WUR int buf_reserve(sioc_buf_t *b, size_t n);
/** Appends `n` bytes. 0 or a negative error as buf_reserve. */
SIOC_WUR int buf_append(sioc_buf_t *b, const void *p, size_t n);
/** Appends a NUL-terminated string (without the NUL). */
SIOC_WUR int buf_append_str(sioc_buf_t *b, const char *s);
/** Appends one byte. */
SIOC_WUR int buf_append_byte(sioc_buf_t *b, char c);
/** Appends the decimal form of `v`. */
SIOC_WUR int buf_append_u64(sioc_buf_t *b, unsigned long long v);
/** Drops the first `n` bytes. */
void buf_consume(sioc_buf_t *b, size_t n);
/** Empties without freeing. */
void buf_reset(sioc_buf_t *b);
/** Frees the storage; the buffer is empty and reusable afterwards. */
void buf_free(sioc_buf_t *b);

#endif
