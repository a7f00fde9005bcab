/*
 * ws_close.h - WebSocket close frame payloads (RFC 6455 §5.5.1, §7.4).
 *
 * A close payload is empty (no status) or a 2-byte big-endian status code
 * followed by a UTF-8 reason of at most 123 bytes. Codes a peer may put on
 * the wire: 1000-1003, 1007-1014 and 3000-4999. 1004, 1005, 1006 and 1015
 * are reserved for local use and never sent; 0-999, 1016-2999 and >= 5000
 * are invalid. A bad code answers with 1002, a bad reason with 1007.
 * Pure functions, no allocation, any thread.
 */
#ifndef SIOC_COMMON_WS_WS_CLOSE_H
#define SIOC_COMMON_WS_WS_CLOSE_H

#include <stddef.h>
#include <stdint.h>

#include "base/iov.h"

#define WS_CLOSE_NORMAL 1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL_ERROR 1002
#define WS_CLOSE_UNSUPPORTED_DATA 1003
#define WS_CLOSE_NO_STATUS 1005 /* local only: the close frame had no payload */
#define WS_CLOSE_ABNORMAL 1006  /* local only: the connection dropped without a close */
#define WS_CLOSE_INVALID_DATA 1007
#define WS_CLOSE_POLICY 1008
#define WS_CLOSE_TOO_BIG 1009
#define WS_CLOSE_INTERNAL_ERROR 1011

/** Largest close payload (a control frame payload). */
#define WS_CLOSE_MAX_PAYLOAD 125
/** Largest reason text that fits next to the code. */
#define WS_CLOSE_MAX_REASON 123

/** Whether `code` may appear in a close frame on the wire (either direction). */
int ws_close_code_valid(unsigned code);

/**
 * Parses the unmasked payload of a received close frame (`p`, borrowed).
 * Returns 0 with `*code` and `*reason_text` (a slice into `p`) set; an empty
 * payload gives WS_CLOSE_NO_STATUS and an empty reason. Returns SIOC_EPROTO
 * with `*reason` (static text) for a 1-byte payload, a payload over 125
 * bytes, a code ws_close_code_valid() rejects or a reason that is not valid
 * UTF-8. `*code` is set whenever len >= 2, so a caller can tell the cases
 * apart: an invalid code answers 1002, a valid code with a bad reason 1007.
 */
int ws_close_parse(const uint8_t *p, size_t len, uint16_t *code, sioc_iov_t *reason_text,
                   const char **reason);

/**
 * Writes a close payload into `out` and returns its length: nothing for code 0
 * (a close without status), else the code and `reason_text` (borrowed),
 * truncated to WS_CLOSE_MAX_REASON bytes at a character boundary when longer.
 * The caller is responsible for passing a code ws_close_code_valid() accepts.
 */
size_t ws_close_write(uint8_t out[WS_CLOSE_MAX_PAYLOAD], uint16_t code, sioc_iov_t reason_text);

#endif
