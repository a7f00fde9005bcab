/*
 * tls.h - TLS termination for bufferevents (OpenSSL).
 *
 * The only place in sioc that includes the OpenSSL SSL API (ARCHITECTURE.md
 * "Dependency rules"): callers get plain bufferevents whose input and
 * output carry decrypted bytes. Server side only: TLS 1.2 and 1.3, the
 * ECDHE + AEAD suites of Mozilla's "intermediate" profile for 1.2 and
 * OpenSSL's 1.3 defaults, no compression, no renegotiation, ALPN answers
 * "http/1.1" (an h2-only client gets no ALPN and may give up), idle
 * connections release their read/write buffers. A peer that closes
 * without close_notify is an EOF, not an error (browsers do that).
 * Client side (the Redis links): TLS 1.2 and 1.3 with OpenSSL's defaults,
 * the peer's chain verified against a CA file (or the system store), the
 * host name (or IP address) checked against the certificate, SNI sent for
 * names, an optional client certificate.
 * Loop thread only.
 */
#ifndef SIOC_COMMON_NET_TLS_H
#define SIOC_COMMON_NET_TLS_H

#include <stddef.h>

struct bufferevent;
struct event_base;

typedef struct net_tls net_tls_t;

/**
 * Loads a PEM certificate chain and its private key. Returns the context
 * (owned; net_tls_free()) or NULL with a message in err[0..errlen).
 * Borrows the file names.
 */
net_tls_t *net_tls_server_new(const char *cert_file, const char *key_file, char *err,
                              size_t errlen);

/** Frees the context; connections made from it keep their own references. */
void net_tls_free(net_tls_t *t);

/**
 * Wraps the accepted socket `fd` (ownership passes to the bufferevent when
 * `options` has BEV_OPT_CLOSE_ON_FREE) in a server-side TLS bufferevent
 * whose handshake starts at once. Returns NULL on failure (fd then still
 * belongs to the caller). Borrows t and base.
 */
struct bufferevent *net_tls_accept(net_tls_t *t, struct event_base *base, int fd, int options);

/**
 * A client context: peers are verified against the PEM CA file `ca_file` (NULL or "": the
 * system's default store); with `cert_file` and `key_file` (both or neither) the client
 * presents that certificate. Returns the context (owned; net_tls_free()) or NULL with a
 * message in err[0..errlen). Borrows the file names.
 */
net_tls_t *net_tls_client_new(const char *ca_file, const char *cert_file, const char *key_file,
                              char *err, size_t errlen);

/**
 * A client-side TLS bufferevent with no socket yet (connect it with
 * bufferevent_socket_connect()); the handshake follows the connect. `host` is checked
 * against the peer's certificate (as an IP address when numeric, else as a DNS name, also
 * sent as SNI). Frees the socket and the TLS state on free. Returns NULL on failure.
 * Borrows t, base and host.
 */
struct bufferevent *net_tls_connect(net_tls_t *t, struct event_base *base, const char *host);

/** Like net_tls_error() for a client link, leaving out the socket errors libevent records
 * in the same list (SSL_ERROR_SYSCALL: a refused or reset connection is not a TLS error).
 * Borrows both. */
void net_tls_client_error(struct bufferevent *bev, char *out, size_t cap);

/** Why the peer's certificate was refused on `bev` ("" when it was not). Borrows both. */
void net_tls_verify_error(struct bufferevent *bev, char *out, size_t cap);

/** Writes the last TLS error of `bev` (or "" when none) into out. Borrows both. */
void net_tls_error(struct bufferevent *bev, char *out, size_t cap);

#endif
