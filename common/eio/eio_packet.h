/*
 * eio_packet.h - Engine.IO v4 text packet codec.
 *
 * Job: decode one text packet (one WebSocket text frame, or one record of a
 * polling payload) into its type digit and a slice of its data, and write
 * text packets and the handshake (open) packet.
 * Spec: engine.io-protocol v4 "Packet encoding"; PROTOCOL.md §1.2 (types),
 * §1.3 (open packet, exact key order and values the official suites check).
 *
 * Invariants: decoding allocates nothing and returns slices into the
 * caller's bytes; writers append to a sioc_buf_t and leave it unchanged on
 * failure. Not here: binary messages (raw WebSocket frames need no codec;
 * polling's `b<base64>` lives in eio_payload.h), payload framing, sessions.
 * Threading: pure functions, any thread.
 */
#ifndef SIOC_COMMON_EIO_EIO_PACKET_H
#define SIOC_COMMON_EIO_EIO_PACKET_H

#include <stddef.h>

#include "base/buf.h"
#include "base/iov.h"

enum eio_type {
    EIO_OPEN = 0,
    EIO_CLOSE,
    EIO_PING,
    EIO_PONG,
    EIO_MESSAGE,
    EIO_UPGRADE,
    EIO_NOOP,
};

/** Number of packet types (the digits '0'..'6'). */
#define EIO_PACKET_NTYPES 7

/** A decoded text packet; `data` borrows the decoded bytes. */
typedef struct {
    int type;        /* enum eio_type */
    sioc_iov_t data; /* everything after the type digit; may be empty */
} eio_packet_t;

/**
 * Decodes one text packet of exactly `len` bytes.
 * Returns `len` (> 0) on success, or SIOC_EPROTO when the packet is empty,
 * its first byte is not '0'..'6', or it is longer than INT_MAX (with
 * `*reason`, a static string, set when `reason` is not NULL). A `b` (polling
 * binary) record is not a text packet and is rejected here. The data bytes
 * are not inspected.
 * Borrows `p`; `out->data` points into it and is valid as long as `p` is.
 */
int eio_packet_decode(const char *p, size_t len, eio_packet_t *out, const char **reason);

/**
 * Appends one text packet: the type digit, then `len` bytes of `data`.
 * Returns 0, SIOC_EINVAL for a type outside 0..6, or the buf_append error
 * (SIOC_ENOMEM, SIOC_EMSGSIZE), leaving `b` unchanged on failure.
 * Borrows `data` for the call only.
 */
int eio_packet_write(sioc_buf_t *b, int type, const char *data, size_t len);

/**
 * Appends the open packet, byte for byte as Node's engine.io writes it:
 * `0{"sid":"<sid>","upgrades":["websocket"],"pingInterval":N,"pingTimeout":N,"maxPayload":N}`,
 * or `"upgrades":[]` when `upgrades_websocket` is 0 (websocket-only session).
 * `sid` must be non-empty and contain only printable ASCII other than `"` and
 * `\` (ids from rand_id always do); otherwise SIOC_EINVAL. Other errors as
 * buf_append, with `b` unchanged. Borrows `sid` for the call only.
 */
int eio_open_write(sioc_buf_t *b, const char *sid, int upgrades_websocket, unsigned ping_interval,
                   unsigned ping_timeout, unsigned long max_payload);

#endif
