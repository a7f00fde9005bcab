/*
 * ws_reader.h - WebSocket message reader (RFC 6455 §5.4-§5.6, §8.1).
 *
 * Turns bytes from a connection into messages and control frames, for the
 * server (clients mask, RFC 6455 §5.1) and for a client such as the bench
 * load generator (servers do not mask). Feed-and-get in one call, no I/O:
 *
 *     n = ws_reader_next(&r, buf, len, &ev);
 *     n > 0            act on ev (NONE = keep going), then drop n bytes from the input
 *     SIOC_INCOMPLETE  read more and call again with the same bytes plus the new ones
 *     SIOC_EPROTO      send a close with r.close_code, then drop the connection
 *
 * Unmasking happens in place in the caller's buffer. A message sent as one
 * frame is returned as a slice of that buffer (zero copy). A fragmented
 * message is copied into the reader's own buffer, capped at
 * max_message_size and grown with try_ allocation, and returned once its
 * last fragment arrives. Control frames may come between fragments and are
 * returned as they arrive.
 *
 * Fail fast: an oversized frame or message fails with 1009 as soon as its
 * header is seen, before its payload; text is UTF-8 checked incrementally,
 * so invalid text fails (1007) at the frame, and even at the read, that
 * brings the first impossible byte, not at the end of the message. The
 * other failures are 1002 (frame rules of ws_frame.h, a continuation without
 * a message, a new message before the last one ended, a malformed close).
 * Out of memory while reassembling fails with 1011. After SIOC_EPROTO the
 * reader stays failed.
 *
 * With ws_reader_allow_compressed() (permessage-deflate negotiated, RFC 7692 §6.1)
 * the first frame of a data message may set RSV1: the message is returned as it
 * came, still compressed, with ev->compressed set and no UTF-8 check (the
 * caller inflates, then checks); RSV1 on a continuation or control frame fails
 * with 1002.
 *
 * The size cap counts data payload bytes of one message; control frames
 * (at most 125 bytes) are not counted. The reader does not track the closing
 * handshake: after a CLOSE event the caller stops feeding it.
 * One reader per connection, loop thread only.
 */
#ifndef SIOC_COMMON_WS_WS_READER_H
#define SIOC_COMMON_WS_WS_READER_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/iov.h"
#include "base/utf8.h"
#include "ws/ws_frame.h"

#define WS_READER_SERVER 0 /* reads client frames: must be masked */
#define WS_READER_CLIENT 1 /* reads server frames: must not be masked */

/** Cap used when ws_reader_init() gets 0: Engine.IO's default maxHttpBufferSize (1e6). */
#define WS_READER_DEFAULT_MAX 1000000
/** Reassembly storage above this size is released once its message has been read. */
#define WS_READER_KEEP_BYTES 65536

enum {
    WS_EVENT_NONE = 0, /* a non-final fragment was consumed; nothing to deliver */
    WS_EVENT_TEXT,
    WS_EVENT_BINARY,
    WS_EVENT_PING,
    WS_EVENT_PONG,
    WS_EVENT_CLOSE,
};

/** What one call delivered (a value type). */
typedef struct {
    int type;                /* WS_EVENT_* */
    sioc_iov_t payload;      /* unmasked message or control payload */
    uint16_t close_code;     /* CLOSE: the peer's code, WS_CLOSE_NO_STATUS when absent */
    sioc_iov_t close_reason; /* CLOSE: the peer's reason text (inside payload) */
    uint8_t compressed;      /* TEXT / BINARY: RSV1 was set (permessage-deflate) */
} ws_event_t;

/** A reader; embed it in the connection. Public members are read only. */
typedef struct {
    uint16_t close_code; /* after SIOC_EPROTO: the code to close with */
    /* private (the small members first, packed: one reader per websocket connection) */
    uint8_t _server;
    uint8_t _failed;
    uint8_t _msg_op;      /* opcode of the fragmented message in progress, 0 = none */
    uint8_t _msg_done;    /* _msg holds a delivered message: reset before reuse */
    uint8_t _rsv1_ok;     /* permessage-deflate negotiated */
    uint8_t _msg_z;       /* the fragmented message in progress is compressed */
    uint8_t _pend_active; /* _pend_*: incremental UTF-8 check of a text frame still arriving */
    utf8_state_t _msg_utf8;
    utf8_state_t _pend_utf8;
    /* public */
    const char *reason; /* after SIOC_EPROTO: static text */
    /* private */
    size_t _max;
    sioc_buf_t _msg;
    ws_frame_header_t _pend_h;
    size_t _pend_checked;
} ws_reader_t;

/**
 * Initialises `r` for `role` (WS_READER_SERVER or WS_READER_CLIENT) with a
 * cap of `max_message_size` payload bytes per message (0 = the default;
 * values above INT_MAX - 14 are lowered to it). Allocates nothing.
 */
void ws_reader_init(ws_reader_t *r, int role, size_t max_message_size);

/**
 * Reads at most one frame from `buf` (`len` bytes, borrowed; masked
 * payloads are unmasked in place). Returns the bytes consumed (> 0) with
 * `*ev` filled, SIOC_INCOMPLETE (nothing consumed; call again with these
 * bytes and more), or SIOC_EPROTO with r->close_code and r->reason set.
 * ev->payload points into `buf` or into the reader: it stays valid until
 * `buf` changes or the next call on `r`, whichever comes first.
 */
int ws_reader_next(ws_reader_t *r, uint8_t *buf, size_t len, ws_event_t *ev);

/** Accepts compressed messages (RSV1) from now on: permessage-deflate was negotiated. */
void ws_reader_allow_compressed(ws_reader_t *r);

/** Frees the reassembly storage; `r` may be initialised again afterwards. */
void ws_reader_free(ws_reader_t *r);

/**
 * Whether `r` holds nothing a later call needs: no fragmented message in progress, no
 * partial text frame being checked, no failure. Only a delivered message's storage may
 * remain (ws_reader_free releases it). Such a reader may be initialised again, so idle
 * connections can share one and keep their own only between the frames of a message.
 */
int ws_reader_idle(const ws_reader_t *r);

#endif
