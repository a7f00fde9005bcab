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

/** Writes the last TLS error of `bev` (or "" when none) into out. Borrows both. */
void net_tls_error(struct bufferevent *bev, char *out, size_t cap);

#endif
