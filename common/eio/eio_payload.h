/*
 * eio_payload.h - Engine.IO v4 long-polling payload framing.
 *
 * Job: split a polling body (a POST from the client or a GET response from
 * the server) into records, and build such bodies. A payload is one or more
 * records joined by the byte 0x1e, without length prefixes and without a
 * trailing separator: `4hello\x1e2\x1ebAQIDBA==`. A record is either a text
 * packet (a type digit and its data, see eio_packet.h) or a binary message,
 * `b` followed by standard base64 with `=` padding (RFC 4648 §4), which is
 * always an EIO message.
 * Spec: engine.io-protocol v4 "Payload" and "Binary"; PROTOCOL.md §1.2, §1.4.
 *
 * Invariants: decoding allocates nothing and returns slices into the body;
 * an empty body, an empty record (two separators in a row, a leading or a
 * trailing separator), an unknown type byte and base64 that is not canonical
 * (bad alphabet, length not a multiple of 4, misplaced `=`, non-zero pad bits)
 * are malformed, so every accepted body re-encodes to the same bytes.
 * Records before a malformed one are still delivered: Node processes them
 * too, then closes the session with "parse error". Encoders append to a
 * sioc_buf_t and leave it unchanged on failure.
 * Not here: maxPayload accounting on the request body (the HTTP layer caps
 * the body), session state. Threading: pure functions, any thread.
 */
#ifndef SIOC_COMMON_EIO_EIO_PAYLOAD_H
#define SIOC_COMMON_EIO_EIO_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/iov.h"

/** The record separator. */
#define EIO_PAYLOAD_SEP '\x1e'

/** Iterator over the records of one payload; initialise with eio_payload_iter_init. */
typedef struct {
    const char *_p;
    size_t _len;
    size_t _off;
    int _state; /* 0 first record, 1 later record, 2 finished, 3 failed */
} eio_payload_iter_t;

/** One record. All slices borrow the payload bytes. */
typedef struct {
    int binary;        /* 1 for a `b<base64>` record (then type is EIO_MESSAGE) */
    int type;          /* enum eio_type */
    sioc_iov_t data;   /* text: bytes after the type digit; binary: the base64 text after `b` */
    sioc_iov_t record; /* the whole record, without separators */
    size_t binary_len; /* binary: the decoded size; 0 for text */
} eio_payload_item_t;

/**
 * Starts iterating over the `len`-byte payload at `p`.
 * Borrows `p`; it must stay valid and unchanged while the iterator is used.
 */
void eio_payload_iter_init(eio_payload_iter_t *it, const char *p, size_t len);

/**
 * Produces the next record: 1 with `*item` filled, 0 when the payload is
 * exhausted, SIOC_EPROTO when the next record is malformed (with `*reason`,
 * a static string, set when `reason` is not NULL). After SIOC_EPROTO every
 * further call returns SIOC_EPROTO. Binary records are fully validated here,
 * so base64_decode on `item->data` cannot fail for lack of validity.
 * `item` slices borrow the payload passed to eio_payload_iter_init.
 */
int eio_payload_next(eio_payload_iter_t *it, eio_payload_item_t *item, const char **reason);

/**
 * Validates a whole payload. Returns the number of records (> 0) or
 * SIOC_EPROTO with `*reason` as eio_payload_next. Borrows `p` for the call.
 */
int eio_payload_count(const char *p, size_t len, const char **reason);

/**
 * Appends a text record: a separator unless `first` is nonzero, the type
 * digit, then `len` bytes of `data`. Returns 0; SIOC_EINVAL for a type
 * outside 0..6 or data containing the separator byte (it could not be
 * framed); or the buf_append error, with `b` unchanged on any failure.
 * Borrows `data` for the call only.
 */
int eio_payload_append_text(sioc_buf_t *b, int first, int type, const char *data, size_t len);

/**
 * Appends a binary record: a separator unless `first` is nonzero, `b`, then
 * the padded base64 of `len` bytes at `data`. Returns 0 or the buf_append
 * error, with `b` unchanged on failure. Borrows `data` for the call only.
 */
int eio_payload_append_binary(sioc_buf_t *b, int first, const uint8_t *data, size_t len);

/** Size of the binary record for `n` bytes (`b` + base64), without separator. */
size_t eio_payload_binary_record_len(size_t n);

#endif
