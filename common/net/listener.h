/*
 * listener.h - a TCP listening socket on the loop.
 *
 * Accepts in a loop until EAGAIN, hands each non-blocking, TCP_NODELAY
 * socket to the owner's callback. When the process runs out of descriptors
 * (EMFILE/ENFILE) it sheds load with a reserved spare descriptor: close the
 * spare, accept and close the pending connection, reopen the spare (libuv),
 * so the listen queue does not spin the loop. Loop thread only.
 */
#ifndef SIOC_COMMON_NET_LISTENER_H
#define SIOC_COMMON_NET_LISTENER_H

#include <sys/socket.h>

#include "loop.h"

typedef struct net_listener net_listener_t;

/** Called with a new connected socket (owned by the callee) and its peer address. */
typedef void (*net_accept_cb)(net_listener_t *l, int fd, const struct sockaddr *peer,
                              socklen_t peer_len, void *data);

/** Binds host:port (numeric address) and starts accepting. Returns NULL and sets *err
 * (negative SIOC_E*) on failure. `port` 0 picks a free port (see net_listener_port). */
net_listener_t *net_listener_new(net_loop_t *loop, const char *host, int port, int backlog,
                                 net_accept_cb cb, void *data, int *err);
/**
 * Binds host:port (numeric address) and listens, without a loop: for a process that
 * hands the socket to children. With `reuseport`, SO_REUSEPORT is set, so several
 * sockets can listen on one port and the kernel spreads connections over them. Returns
 * the non-blocking socket (owned by the caller) or a negative SIOC_E*. *bound_port gets
 * the port (useful with port 0).
 */
int net_listener_bind(const char *host, int port, int backlog, int reuseport, int *bound_port);

/** Starts accepting on a listening socket from net_listener_bind() (takes ownership of fd). */
net_listener_t *net_listener_adopt(net_loop_t *loop, int fd, net_accept_cb cb, void *data);

/** The bound port. */
int net_listener_port(const net_listener_t *l);
/** Stops accepting (the socket stays bound until free). */
void net_listener_pause(net_listener_t *l);
void net_listener_resume(net_listener_t *l);
/** Closes the socket and frees. */
void net_listener_free(net_listener_t *l);

/** Writes the numeric host of `sa` into `out` (INET6_ADDRSTRLEN bytes). */
void net_addr_str(const struct sockaddr *sa, char *out, size_t cap);

#endif
