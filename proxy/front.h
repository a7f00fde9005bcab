/*
 * front.h - the client side: connections, request heads, forwarding.
 *
 * Each client connection (plain or TLS) reads one request head at a time
 * within --head-timeout (408 after), parses it strictly (400 / 431 and
 * close on failure), routes it on its own (route.h) and forwards it on an
 * upstream connection of the chosen worker, then relays the response
 * (Content-Length, chunked or close-delimited bodies) with the proxy's
 * Connection and Set-Cookie fields. Requests on one keep-alive connection
 * are served in order, one at a time; pipelined bytes wait in the input
 * buffer, which is capped. Bodies stream both ways with backpressure: the
 * side whose peer's output passes --tunnel-buffer stops being read until
 * that output drains. After a valid 101 the connection pair becomes a tunnel
 * (tunnel.h). A client that goes away with a request in flight aborts it
 * (the upstream connection is closed, as a direct client's would be).
 *
 * Objects are freed at the end of the loop turn in which they closed, so a
 * callback chain never sees freed memory. Loop thread only.
 */
#ifndef SIOC_PROXY_FRONT_H
#define SIOC_PROXY_FRONT_H

#include <sys/socket.h>

#include "proxy.h"

struct net_listener;

/** net_accept_cb for the client listener; `data` is the proxy_t. Takes ownership of fd. */
void front_accept(struct net_listener *l, int fd, const struct sockaddr *peer, socklen_t peer_len,
                  void *data);

/** Graceful stop: closes client connections that are between requests; the others close
 * after their current response. */
void front_drain(proxy_t *p);

/** Closes every client connection now. */
void front_close_all(proxy_t *p);

#endif
