/*
 * sio_msgpack.h - the socket.io-msgpack-parser packet format (npm socket.io-msgpack-parser
 * 3, index.js) translated to and from Socket.IO packet text.
 *
 * With that parser every Socket.IO packet is one binary Engine.IO message holding a
 * msgpack map {type, data, nsp[, id]}: type 0..4 (binary data travels inside `data` as
 * msgpack bin, so there are no BINARY_EVENT / BINARY_ACK types and no attachments), nsp a
 * string, id an integer. The worker speaks packet text (sio_packet.h) with attachments;
 * this module converts at the edge. Decoding turns each bin into an attachment and its
 * placeholder {"_placeholder":true,"num":n}, and the types 2 / 3 with attachments into
 * 5 / 6; encoding does the reverse. The checks are the npm decoder's checkPacket
 * (type, nsp, data per type, integer id), plus UTF-8 strings, string map keys, an id in
 * 0..2^53-1, a nesting depth of 32, and the default parser's rules on the packet text it
 * makes (sio_packet_parse: an ACK needs an id, an EVENT a name). undefined (notepack's ext
 * 0) is left out as JSON.stringify does; timestamps and other ext values become null.
 * Pure; any thread.
 */
#ifndef SIOC_COMMON_SIO_SIO_MSGPACK_H
#define SIOC_COMMON_SIO_SIO_MSGPACK_H

#include <stddef.h>

#include "base/buf.h"
#include "base/iov.h"

/**
 * Decodes the msgpack packet `mp` (`len` bytes, borrowed) into packet text appended to
 * `text`, and its binaries into att[0..] (slices of `mp`; at most `att_cap`). Returns the
 * number of attachments, or SIOC_EPROTO with *reason (static) for input the npm decoder
 * refuses or that does not fit (too many binaries, too deep), or a buf_append error.
 * `text` is unchanged on failure.
 */
int sio_msgpack_decode(const char *mp, size_t len, sioc_buf_t *text, sioc_iov_t *att,
                       size_t att_cap, const char **reason);

/**
 * Encodes packet text (`text`, as sio_packet_write() makes it: compact JSON data) with
 * its `n_att` attachments (borrowed) as one msgpack packet appended to `out`. Returns 0,
 * SIOC_EPROTO for text that is not a packet or a placeholder without its attachment, or
 * a buf_append error; `out` is unchanged on failure.
 */
int sio_msgpack_encode(const char *text, size_t len, const sioc_iov_t *att, size_t n_att,
                       sioc_buf_t *out);

#endif
