/*
 * conn.h - a lean non-blocking TCP connection on the loop.
 *
 * Built for many mostly idle connections: a connection owns one struct event
 * and nothing else while idle. Reads go into the loop's scratch buffer and
 * are handed to the owner's on_data hook; only bytes the owner leaves
 * unconsumed are copied into a per-connection input buffer (allocated on
 * demand, capped). Writes are queued into a per-connection output queue
 * (outq.h) that exists only while output is pending and are flushed once per
 * loop turn (one writev for everything queued during the turn); shared
 * broadcast blocks are queued by reference, never copied.
 *
 * Lifetime: however a connection ends (conn_close() by the owner, a peer
 * close, an I/O error, an output overflow), on_close runs exactly once, at
 * the end of the loop turn, with the reason; the memory is freed right after
 * it. Until then the conn_t pointer stays valid but inert (writes fail with
 * SIOC_ECANCELED), so no callback ever sees freed memory. Loop thread only.
 */
#ifndef SIOC_COMMON_NET_CONN_H
#define SIOC_COMMON_NET_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "base/shared.h"
#include "loop.h"

typedef struct conn conn_t;

enum conn_close_reason {
    CONN_CLOSE_LOCAL = 0, /* conn_close() by the owner */
    CONN_CLOSE_EOF = 1,   /* the peer closed */
    CONN_CLOSE_ERROR,     /* read/write error */
    CONN_CLOSE_OVERFLOW,  /* output above the hard limit (slow consumer) */
    CONN_CLOSE_INPUT_CAP, /* unconsumed input above its cap */
};

typedef struct conn_hooks {
    /** Bytes arrived: `buf` (mutable, `len` bytes) holds unconsumed earlier bytes followed by
     * the new ones. Returns how many bytes it consumed; the rest is kept for the next call.
     * The hook may call conn_close(); it must then return (any value). */
    size_t (*on_data)(conn_t *c, uint8_t *buf, size_t len);
    /** The connection ended (see enum above); runs once, at turn end, before the free. */
    void (*on_close)(conn_t *c, int reason);
    /** Output fell to zero after having been above the drain watermark (optional). */
    void (*on_drain)(conn_t *c);
    /** Optional: bytes to send when the output limit is hit (a websocket close frame saying
     * why). With them the connection stops taking writes, flushes what is queued (whole
     * messages only, see conn_reserve()) followed by these bytes, then closes with
     * CONN_CLOSE_OVERFLOW; without them it is closed at once. Static memory. */
    const void *overflow_tail;
    size_t overflow_tail_len;
} conn_hooks_t;

/** Wraps the accepted non-blocking socket `fd` (takes ownership of it). Hooks are borrowed
 * (must outlive the connection); `data` is the owner's slot. Reading starts at once. */
conn_t *conn_new(net_loop_t *loop, int fd, const conn_hooks_t *hooks, void *data);
void *conn_data(const conn_t *c);
void conn_set_data(conn_t *c, void *data);
/** Replaces the hooks (e.g. when an HTTP connection becomes a WebSocket). */
void conn_set_hooks(conn_t *c, const conn_hooks_t *hooks);
int conn_fd(const conn_t *c);
net_loop_t *conn_loop(const conn_t *c);
/** Limits: unconsumed input kept (default 64 KiB) and queued output (default 1 MiB). */
void conn_set_limits(conn_t *c, size_t max_input, size_t max_output);

/** Checks that `n` more bytes fit under the output limit, for a message written in
 * several parts: 0, or what conn_write() would return for `n` bytes (nothing queued). */
int conn_reserve(conn_t *c, size_t n);
/** Queues a copy of `n` bytes. 0, or SIOC_ENOMEM / SIOC_EMSGSIZE (output over its limit:
 * the connection is then being closed with on_close(CONN_CLOSE_OVERFLOW)). */
int conn_write(conn_t *c, const void *p, size_t n);
/** Queues `n` bytes of read-only memory that outlives every connection (an embedded
 * file) by reference, without copying. Only what is already queued is held to the
 * output limit, so one body larger than the limit can still be sent. */
int conn_write_static(conn_t *c, const void *p, size_t n);
/** Queues `len` bytes at `s->data + off` by reference (takes one reference on `s`). */
int conn_write_shared(conn_t *c, sioc_shared_t *s, size_t off, size_t len);
/** Received bytes kept unconsumed (a partial request or frame). */
size_t conn_buffered(const conn_t *c);
/** Bytes queued and not yet written. */
size_t conn_pending(const conn_t *c);
/** Whether the connection is closing or closed. */
int conn_closing(const conn_t *c);

/** Stops / restarts reading (backpressure, or while a request is held). */
void conn_pause_read(conn_t *c);
void conn_resume_read(conn_t *c);
/** Puts `n` bytes (copied) in front of the input, as if read before anything still in the
 * socket: the first bytes of a socket read by another process (net/handoff.h). on_data
 * sees them at the end of this turn. 0, or SIOC_EMSGSIZE over the input cap (call
 * conn_set_limits() first). Borrows p. */
int conn_prefill(conn_t *c, const void *p, size_t n);
/** Calls on_data again at the end of this turn with the bytes kept (pipelined requests). */
void conn_rescan(conn_t *c);

/** Ends the connection. With `flush`, queued output is written first (bounded by a 5 s
 * deadline), then the socket is shut down; without, it closes at once. on_close follows. */
void conn_close(conn_t *c, int flush);

#endif
