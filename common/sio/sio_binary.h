/*
 * sio_binary.h - Socket.IO binary placeholders, without allocation.
 *
 * Job: find the placeholders `{"_placeholder":true,"num":N}` in the JSON of a
 * BINARY_EVENT/BINARY_ACK, check that they reference attachments
 * 0..attachments-1, and copy a JSON value to a buffer renumbering its
 * placeholders, which is what re-emitting part of a received payload (an
 * echo, a broadcast of one argument, an ack) needs: the new packet numbers
 * its attachments from 0 in the order its placeholders appear.
 * Spec: socket.io-parser deconstructPacket/reconstructPacket; PROTOCOL.md
 * §2.2, §2.4; the placeholder shape is judged by jscan_is_placeholder.
 *
 * Order: placeholders are visited in document order. socket.io-parser numbers
 * them in its own depth-first walk, which follows the same property order
 * JSON.stringify writes, so for packets from Node and from socket.io-client
 * the nums appear ascending in the text.
 * Invariants: the JSON is scanned once (jscan_walk); nothing is allocated
 * except growth of the output buffer; nesting is bounded by JSCAN_MAX_DEPTH.
 * Not here: the attachment bytes themselves (the session keeps them).
 * Threading: pure functions, any thread.
 */
#ifndef SIOC_COMMON_SIO_SIO_BINARY_H
#define SIOC_COMMON_SIO_SIO_BINARY_H

#include <stddef.h>

#include "base/buf.h"
#include "base/iov.h"

/** Map entry for an attachment the rewritten value does not reference. */
#define SIO_BINARY_UNUSED ((unsigned)-1)

/**
 * Validates `json` (one JSON value) and its placeholders, and stores their
 * nums in document order into `nums[0..cap)` (`nums` may be NULL to count
 * only). Returns the number of placeholders (>= 0, possibly more than `cap`;
 * only the first `cap` are stored); SIOC_EPROTO when `json` is malformed or a
 * placeholder is malformed or has num >= `attachments`, with `*reason` set
 * when `reason` is not NULL. Borrows `json` and `nums` for the call only.
 */
int sio_binary_collect(sioc_iov_t json, unsigned attachments, unsigned *nums, size_t cap,
                       const char **reason);

/** As sio_binary_collect with no output array: validates and counts. */
int sio_binary_check(sioc_iov_t json, unsigned attachments, const char **reason);

/**
 * Computes the renumbering that re-emitting `json` alone needs: for each
 * old attachment index i < attachments, map[i] is its new index (0, 1, … in
 * order of first appearance) or SIO_BINARY_UNUSED; order[k] is the old index
 * of new attachment k. Returns the new attachment count (<= attachments), or
 * SIOC_EPROTO (`*reason` set) as sio_binary_collect. `map` and `order` must
 * hold `attachments` entries each; borrowed for the call only.
 */
int sio_binary_renumber(sioc_iov_t json, unsigned attachments, unsigned *map, unsigned *order,
                        const char **reason);

/**
 * Appends `json` (one JSON value, outer whitespace dropped) to `b`, copying
 * every byte as is except placeholders, each written canonically as
 * `{"_placeholder":true,"num":<map[num]>}`. Returns 0; SIOC_EPROTO (with
 * `*reason`) when `json` or a placeholder is malformed, or a num is >=
 * `map_len` or maps to SIO_BINARY_UNUSED; or the buf_append error. `b` is
 * unchanged on failure. Borrows `json` and `map` for the call only.
 */
int sio_binary_rewrite(sioc_buf_t *b, sioc_iov_t json, const unsigned *map, size_t map_len,
                       const char **reason);

#endif
