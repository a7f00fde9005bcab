/*
 * outq.h - a connection's pending output: a ring of pieces written with writev.
 *
 * Job: hold what a connection has queued until the socket takes it. A piece is
 * either bytes the queue owns (a copy: small writes in a row share one piece) or
 * a reference to bytes that outlive it (static) or to a shared block (released
 * once written). A queued broadcast frame costs one 24-byte piece; libevent's
 * evbuffer took a chain of at least 1 KiB for every reference.
 * Threading: loop thread only.
 */
#ifndef SIOC_COMMON_NET_OUTQ_H
#define SIOC_COMMON_NET_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/shared.h"

typedef struct outq outq_t;

/** Bytes queued and not yet written (0 for NULL). */
size_t outq_len(const outq_t *q);
/** Appends a copy of `n` bytes; creates the queue at *qp when NULL. 0, or SIOC_ENOMEM. */
int outq_copy(outq_t **qp, const void *p, size_t n);
/** Appends a reference to `n` bytes at `p` that stay valid until written (`sh` NULL) or to
 * bytes of the shared block `sh`, whose reference the queue takes over and drops once
 * they are written. 0, or SIOC_ENOMEM (the reference is then not taken). */
int outq_ref(outq_t **qp, const void *p, size_t n, sioc_shared_t *sh);
/** One writev of what is queued (up to 64 pieces) to `fd`; written pieces are released.
 * Returns the bytes written, or -1 with errno. */
ssize_t outq_write(outq_t *q, int fd);
/** Releases every piece and the queue. */
void outq_free(outq_t *q);

#endif
