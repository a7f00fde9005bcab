/*
 * handoff.h - the Unix-domain socket through which a worker receives clients.
 *
 * A worker on the same host as the proxy listens on a filesystem path with a
 * SOCK_SEQPACKET socket; each proxy process keeps one connection to it and
 * sends one fdpass.h message per client it hands over. The receiving side
 * (handoff_listener_*) accepts those connections, reads every queued message
 * when one is readable and gives the owner each client socket (non-blocking,
 * close-on-exec) with its real address and the bytes already read from it;
 * a malformed message or one without a descriptor is dropped (its descriptor
 * closed) with a rate-limited warning. The sending side (handoff_send) connects
 * lazily and reconnects once when the connection it had was closed (the worker
 * restarted). Nothing here reads or writes the client's stream. The path is
 * removed before bind (a stale file of an earlier run) and at free, unless
 * another listener has bound it since.
 * Loop thread only.
 */
#ifndef SIOC_COMMON_NET_HANDOFF_H
#define SIOC_COMMON_NET_HANDOFF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"

typedef struct handoff_listener handoff_listener_t;

/** A client arrived: `fd` is owned by the callee; data[0..len) (borrowed for the call) are
 * its first bytes, to be consumed before any byte read from fd. */
typedef void (*handoff_cb)(handoff_listener_t *h, int fd, const struct sockaddr *peer,
                           socklen_t peer_len, const uint8_t *data, size_t len, void *arg);

/**
 * Listens on `path` (at most 107 bytes). Returns the listener (owned; handoff_listener_free)
 * or NULL with *err a negative SIOC_E* (SIOC_EINVAL: path too long). Borrows path (copied).
 */
handoff_listener_t *handoff_listener_new(net_loop_t *loop, const char *path, handoff_cb cb,
                                         void *data, int *err);

/** Clients received since start, and messages dropped as malformed. */
unsigned long long handoff_listener_received(const handoff_listener_t *h);
unsigned long long handoff_listener_dropped(const handoff_listener_t *h);

/** Stops listening, closes the proxies' connections (clients in flight in them are closed by
 * the kernel), removes the path and frees. NULL is a no-op. */
void handoff_listener_free(handoff_listener_t *h);

/** The same, after giving the callback every client already queued in the proxies'
 * connections (a draining worker: the proxies then find no socket at the path and serve
 * their clients another way). NULL is a no-op. */
void handoff_listener_close(handoff_listener_t *h);

/**
 * Hands `fd` (with `peer` and data[0..len)) to the worker listening on `path` through the
 * connection *sock (-1: none yet; connected here, and kept for the next call). Returns 0
 * when the worker's queue holds it (the caller then closes its own copy), or a negative
 * -errno (SIOC_ENOENT: no socket at the path): the caller keeps serving the client itself. On a
 * failure other than SIOC_EAGAIN (the link is full: wait until *sock is writable) *sock is
 * closed and -1. Borrows everything.
 */
int handoff_send(int *sock, const char *path, int fd, const struct sockaddr *peer, const void *data,
                 size_t len);

#endif
