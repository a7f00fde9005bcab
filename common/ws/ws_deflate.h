/*
 * ws_deflate.h - WebSocket permessage-deflate (RFC 7692): the offer / response
 * negotiation (§5, §7.1) and the compression of messages (§7.2).
 *
 * The server always answers with server_no_context_takeover and
 * client_no_context_takeover (§7.1.1: it may add both whatever the offer says). Every
 * message is then compressed and inflated on its own, so one deflate stream and one
 * inflate stream serve every connection of a process, reset between messages: a
 * connection carries no zlib state at all (a byte of negotiated window size), and a
 * broadcast is compressed once, whoever receives it. server_max_window_bits from the
 * client is honoured (one deflate stream per size asked for, made on first use); 8 is
 * refused (zlib's raw deflate has no 256-byte window), so such an offer is declined.
 * client_max_window_bits is never sent: the inflater takes any window up to 32 KiB.
 *
 * Inflating is bounded: a message that inflates to more than the caller's cap fails with
 * SIOC_EMSGSIZE (close 1009) as soon as the cap is passed, before more memory is spent.
 * Loop thread only (the context is per process, not locked).
 */
#ifndef SIOC_COMMON_WS_WS_DEFLATE_H
#define SIOC_COMMON_WS_WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/iov.h"

/** What was agreed for one connection (a value type). */
typedef struct {
    uint8_t server_max_window_bits; /* the deflate window of our messages, 9..15 */
} ws_deflate_params_t;

/** The process's compression state; opaque. */
typedef struct ws_deflate ws_deflate_t;

/**
 * Reads the client's offers: `values` are the `n` Sec-WebSocket-Extensions field values
 * of the request, in order (borrowed). Returns 1 with *out filled for the first
 * acceptable permessage-deflate offer, 0 when there is none (a malformed or unacceptable
 * offer is declined, as RFC 7692 §5 lets the server do).
 */
int ws_deflate_negotiate(const sioc_iov_t *values, size_t n, ws_deflate_params_t *out);

/** Appends the response's whole "Sec-WebSocket-Extensions: …\r\n" line for `p`.
 * 0 or a buf_append() error. */
SIOC_WUR int ws_deflate_response(const ws_deflate_params_t *p, sioc_buf_t *b);

/** A new context (no zlib stream is made before it is needed); free with ws_deflate_free().
 * Aborts when out of memory (control plane). */
ws_deflate_t *ws_deflate_new(void);
void ws_deflate_free(ws_deflate_t *d);

/**
 * Appends to `out` the permessage-deflate payload of the message `a` then `b` (either may
 * be empty; both borrowed), compressed with a `window_bits` window (9..15), without the
 * trailing 00 00 ff ff (§7.2.1). Returns 0, SIOC_EINVAL (window_bits), SIOC_ENOMEM or
 * SIOC_EMSGSIZE (from `out`, whose length is then unchanged).
 */
SIOC_WUR int ws_deflate_compress(ws_deflate_t *d, int window_bits, const void *a, size_t a_len,
                                 const void *b, size_t b_len, sioc_buf_t *out);

/**
 * Inflates one message's payload `in` (borrowed) into the context's scratch buffer and
 * sets *out to it (valid until the next call on `d`). Returns 0, SIOC_EMSGSIZE when the
 * message inflates to more than `max` bytes, SIOC_EPROTO for data that is not deflate,
 * or SIOC_ENOMEM.
 */
SIOC_WUR int ws_deflate_inflate(ws_deflate_t *d, const void *in, size_t len, size_t max,
                                sioc_iov_t *out);

#endif
