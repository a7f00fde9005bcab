/*
 * ws_handshake.h - WebSocket opening handshake, server side (RFC 6455 §4.2).
 *
 * Checks the fields of an upgrade request that the HTTP parser extracted and
 * writes the 101 response. A valid request is a GET over HTTP/1.1 or later
 * with "Upgrade: websocket" (a token, ASCII case-insensitive), "Connection"
 * holding the "upgrade" token, a Sec-WebSocket-Key that is the base64 form of
 * 16 bytes (22 base64 characters and "=="), and "Sec-WebSocket-Version: 13".
 * A failure is answered with 400, except a version other than 13, which is
 * answered with "426 Upgrade Required" and "Sec-WebSocket-Version: 13"
 * (§4.4): the reason pointer equals ws_handshake_err_version then.
 *
 * Not done here: Origin, subprotocols and extensions (none are negotiated,
 * so permessage-deflate offers are ignored), HTTP parsing. SHA-1 and base64
 * come from libcrypto. Pure functions, any thread.
 */
#ifndef SIOC_COMMON_WS_WS_HANDSHAKE_H
#define SIOC_COMMON_WS_WS_HANDSHAKE_H

#include <stddef.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/iov.h"

/** Length of a Sec-WebSocket-Accept value (base64 of a SHA-1 digest). */
#define WS_HANDSHAKE_ACCEPT_LEN 28

/** The reason ws_handshake_validate() gives for a version other than 13 (answer 426). */
extern const char ws_handshake_err_version[];

/**
 * Computes Sec-WebSocket-Accept for the client key (`key`, `key_len` bytes,
 * borrowed, used as sent) into `out`: 28 characters and a NUL.
 */
void ws_handshake_accept(const char *key, size_t key_len, char out[WS_HANDSHAKE_ACCEPT_LEN + 1]);

/**
 * Whether the comma-separated header value `value` (borrowed) holds `token`,
 * ignoring ASCII case and the spaces/tabs around list elements. For the
 * Connection and Upgrade headers.
 */
int ws_handshake_has_token(sioc_iov_t value, sioc_iov_t token);

/**
 * Validates an upgrade request. All slices are borrowed; an absent header is
 * an empty slice. `http_minor` is the minor version of HTTP/1.x and
 * `connection_has_upgrade` whether Connection holds "upgrade" (see
 * ws_handshake_has_token). Returns 0, or SIOC_EPROTO with `*reason` (static
 * text; ws_handshake_err_version when the answer must be 426).
 */
int ws_handshake_validate(sioc_iov_t method, int http_minor, sioc_iov_t upgrade_hdr,
                          int connection_has_upgrade, sioc_iov_t key, sioc_iov_t version,
                          const char **reason);

/**
 * Appends the whole "101 Switching Protocols" response head for the client
 * key `key` to `out`, with `extra_headers` (borrowed: zero or more complete
 * "Name: value\r\n" lines, e.g. Set-Cookie) before the blank line.
 * Returns 0, or SIOC_ENOMEM / SIOC_EMSGSIZE with `out` unchanged.
 */
SIOC_WUR int ws_handshake_write_response(sioc_buf_t *out, sioc_iov_t key, sioc_iov_t extra_headers);

#endif
