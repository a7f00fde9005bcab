/*
 * connect.h - outbound TCP: address parsing and non-blocking connect.
 *
 * The proxy dials its workers and its health checks with these. Addresses
 * are "host:port" or "[v6]:port". In the loop only numeric hosts are
 * accepted, because name resolution would block; a name is resolved only
 * when the caller says so (start-up configuration). The socket is
 * non-blocking, close-on-exec, TCP_NODELAY; completion is learnt by waiting
 * for writability (a bufferevent "connecting" on the fd does that) and
 * reading SO_ERROR. Loop thread only for net_connect_start().
 */
#ifndef SIOC_COMMON_NET_CONNECT_H
#define SIOC_COMMON_NET_CONNECT_H

#include <stddef.h>
#include <sys/socket.h>

/**
 * Parses `hostport` into *ss / *len. With `resolve`, a host that is not
 * numeric is looked up with getaddrinfo (blocking; start-up only) and the
 * first IPv4 or IPv6 result is used; "localhost" is 127.0.0.1 either way.
 * Returns 0, or SIOC_EINVAL (syntax, port outside 1..65535, name without
 * `resolve`) / SIOC_ENOENT (lookup failed). Borrows hostport.
 */
int net_connect_parse(const char *hostport, struct sockaddr_storage *ss, socklen_t *len,
                      int resolve);

/**
 * Starts connecting a new non-blocking TCP socket to `sa`. Returns the fd
 * (owned by the caller; the connect is in progress or already done), or a
 * negative SIOC_E* (-errno) when it failed at once. Borrows sa.
 */
int net_connect_start(const struct sockaddr *sa, socklen_t len);

/** After the fd became writable: 0 when connected, else the pending -errno. */
int net_connect_result(int fd);

/** Writes "host:port" ("[v6]:port") of `sa` with a NUL into out. Borrows both. */
void net_connect_format(const struct sockaddr *sa, char *out, size_t cap);

#endif
