/*
 * ws_frame.h - WebSocket frame headers and masking (RFC 6455 §5.2, §5.3, §5.5).
 *
 * Header parsing follows the picohttpparser contract: the header length
 * (2..14) when the whole header is present, SIOC_INCOMPLETE when more bytes
 * are needed, SIOC_EPROTO with a static reason and the close code to send
 * (always 1002 here). Every rule that a byte already seen can break is
 * checked as soon as that byte arrives, so a bad frame fails after one or two
 * bytes, not after its payload:
 *   - RSV1..3 must be 0, except RSV1 where the caller allows it (permessage-deflate,
 *     RFC 7692 §6: which frames may carry it is the reader's rule, ws_reader.h);
 *   - opcodes 3-7 and 0xB-0xF are reserved;
 *   - control frames (close, ping, pong) have FIN set and <= 125 bytes;
 *   - a server requires every client frame to be masked, a client requires
 *     every server frame to be unmasked (§5.1);
 *   - a 64-bit length must have its top bit clear (§5.2).
 * Non-minimal length encodings (e.g. 5 bytes in the 16-bit form) are
 * accepted: a sender MUST NOT produce them, but rejecting them buys nothing.
 * The header writer always uses the minimal form.
 *
 * What this module does not do: message assembly, UTF-8 checks and size
 * limits (ws_reader.h), close payloads (ws_close.h).
 * Pure functions, no allocation except ws_frame_append's buffer growth, any thread.
 */
#ifndef SIOC_COMMON_WS_WS_FRAME_H
#define SIOC_COMMON_WS_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "base/alloc.h"
#include "base/buf.h"

#define WS_FRAME_OP_CONT 0x0
#define WS_FRAME_OP_TEXT 0x1
#define WS_FRAME_OP_BINARY 0x2
#define WS_FRAME_OP_CLOSE 0x8
#define WS_FRAME_OP_PING 0x9
#define WS_FRAME_OP_PONG 0xA

/** Longest frame header: 2 + 8 (64-bit length) + 4 (mask key). */
#define WS_FRAME_MAX_HEADER 14
/** Largest control frame payload. */
#define WS_FRAME_MAX_CONTROL 125

/** Whether `op` is a control opcode (close, ping, pong or reserved 0xB-0xF). */
#define WS_FRAME_IS_CONTROL(op) (((op)&0x8) != 0)

/** A parsed frame header (a value type). */
typedef struct {
    uint64_t payload_len;
    uint8_t fin;     /* 0 or 1 */
    uint8_t rsv1;    /* 0 or 1 (only when allowed) */
    uint8_t opcode;  /* WS_FRAME_OP_* */
    uint8_t masked;  /* 0 or 1 */
    uint8_t mask[4]; /* the masking key when `masked` */
} ws_frame_header_t;

/**
 * Parses the frame header at the start of `buf` (`len` bytes, borrowed, read
 * only) into `*h`. `require_mask` is nonzero on a server (frames must be
 * masked) and zero on a client (frames must not be masked).
 * Returns the header length, SIOC_INCOMPLETE, or SIOC_EPROTO with `*reason`
 * (static) and `*close_code` (1002) set; either pointer may be NULL.
 */
int ws_frame_parse_header(const uint8_t *buf, size_t len, ws_frame_header_t *h, int require_mask,
                          const char **reason, uint16_t *close_code);

/** ws_frame_parse_header() that lets RSV1 through (into h->rsv1) when `allow_rsv1`. */
int ws_frame_parse_header_rsv1(const uint8_t *buf, size_t len, ws_frame_header_t *h,
                               int require_mask, int allow_rsv1, const char **reason,
                               uint16_t *close_code);

/**
 * XORs `len` bytes at `p` in place with the masking key `key`, where `p[0]`
 * is byte number `key_offset` of the payload (so a payload can be unmasked
 * in pieces). Masking and unmasking are the same operation. Any alignment.
 */
void ws_frame_unmask(uint8_t *p, size_t len, const uint8_t key[4], size_t key_offset);

/**
 * Writes a frame header to `out` and returns its length (2..14), using the
 * shortest length form. `mask` (borrowed, 4 bytes) is the masking key to
 * announce, NULL for an unmasked frame; the caller masks the payload.
 * `opcode` must be a valid opcode and control frames need fin = 1 and
 * payload_len <= 125 (the caller's invariant, checked by assert).
 */
size_t ws_frame_write_header(uint8_t out[WS_FRAME_MAX_HEADER], int opcode, int fin,
                             uint64_t payload_len, const uint8_t *mask);

/**
 * Appends a whole frame (header, then `payload` masked with `mask` if not
 * NULL) to `out`. `payload` is borrowed and not modified. Returns 0, or
 * SIOC_ENOMEM / SIOC_EMSGSIZE (from buf_reserve) with `out` unchanged.
 */
SIOC_WUR int ws_frame_append(sioc_buf_t *out, int opcode, int fin, const void *payload, size_t len,
                             const uint8_t *mask);

#endif
