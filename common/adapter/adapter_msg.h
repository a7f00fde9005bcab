/*
 * adapter_msg.h - @socket.io/redis-adapter 8.x / redis-emitter 5.x message formats.
 *
 * Encodes/decodes the message envelopes of the classic adapter (broadcasts,
 * requests, responses), the emitter and the sharded adapter (PROTOCOL.md
 * §5.1-§5.4, §2.2) and names their channels. The event data inside them is
 * kept as the worker's form of Socket.IO data (compact JSON text exactly as
 * JSON.stringify writes it, plus binary attachments referenced by
 * {"_placeholder":true,"num":N}); mp_json.h converts it to and from the
 * msgpack (notepack.io 3.0.x) carried on Redis, with the JavaScript value
 * rules of js_value.h. This header also holds the codec context, limits and
 * value types both share. Pure: no I/O.
 *
 * Every decoder follows the codec contract: it returns the number of bytes
 * consumed (always the whole message) or SIOC_EPROTO with ctx->reason set to
 * a static string; SIOC_ENOMEM / SIOC_EMSGSIZE come from output buffers.
 * Decoded strings are slices into the message where possible, otherwise into
 * storage owned by the context; JSON produced by a decoder is appended to the
 * caller's `json` buffer and attachments are slices into the message.
 */
#ifndef SIOC_COMMON_ADAPTER_ADAPTER_MSG_H
#define SIOC_COMMON_ADAPTER_ADAPTER_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/iov.h"

/* RequestType of the classic adapter (socket.io-request#<nsp># channel). */
#define ADAPTER_MSG_REQ_SOCKETS 0
#define ADAPTER_MSG_REQ_ALL_ROOMS 1
#define ADAPTER_MSG_REQ_REMOTE_JOIN 2
#define ADAPTER_MSG_REQ_REMOTE_LEAVE 3
#define ADAPTER_MSG_REQ_REMOTE_DISCONNECT 4
#define ADAPTER_MSG_REQ_REMOTE_FETCH 5
#define ADAPTER_MSG_REQ_SERVER_SIDE_EMIT 6
#define ADAPTER_MSG_REQ_BROADCAST 7
#define ADAPTER_MSG_REQ_BROADCAST_CLIENT_COUNT 8
#define ADAPTER_MSG_REQ_BROADCAST_ACK 9

/* MessageType of the sharded (ClusterAdapter) format. */
#define ADAPTER_MSG_SHARD_INITIAL_HEARTBEAT 1
#define ADAPTER_MSG_SHARD_HEARTBEAT 2
#define ADAPTER_MSG_SHARD_BROADCAST 3
#define ADAPTER_MSG_SHARD_SOCKETS_JOIN 4
#define ADAPTER_MSG_SHARD_SOCKETS_LEAVE 5
#define ADAPTER_MSG_SHARD_DISCONNECT_SOCKETS 6
#define ADAPTER_MSG_SHARD_FETCH_SOCKETS 7
#define ADAPTER_MSG_SHARD_FETCH_SOCKETS_RESPONSE 8
#define ADAPTER_MSG_SHARD_SERVER_SIDE_EMIT 9
#define ADAPTER_MSG_SHARD_SERVER_SIDE_EMIT_RESPONSE 10
#define ADAPTER_MSG_SHARD_BROADCAST_CLIENT_COUNT 11
#define ADAPTER_MSG_SHARD_BROADCAST_ACK 12
#define ADAPTER_MSG_SHARD_ADAPTER_CLOSE 13

/* Broadcast flags (bits of adapter_msg_flags_t.present / .value). */
#define ADAPTER_MSG_F_VOLATILE 0x01u
#define ADAPTER_MSG_F_COMPRESS 0x02u
#define ADAPTER_MSG_F_LOCAL 0x04u
#define ADAPTER_MSG_F_BROADCAST 0x08u
#define ADAPTER_MSG_F_BINARY 0x10u
#define ADAPTER_MSG_F_TIMEOUT 0x20u /* present only; the number is in .timeout */
#define ADAPTER_MSG_F_EXPECT_SINGLE 0x40u

/*
 * Default limits (adapter_msg_ctx_init with NULL). A decoder accepts what the
 * encoders may write (ADAPTER_MSG_MAX_OUT) and what Node peers send: a message
 * of up to 32 MiB, lists and containers of up to 2^20 entries. Storage follows
 * what a message holds (counts a message cannot hold are refused first), so
 * the limits bound a message's cost, not every message's.
 */
#define ADAPTER_MSG_MAX_SIZE (32u << 20)
#define ADAPTER_MSG_MAX_OUT (32u << 20)
#define ADAPTER_MSG_MAX_DEPTH 32u
#define ADAPTER_MSG_MAX_ELEMS (1u << 20)
#define ADAPTER_MSG_MAX_LIST (1u << 20)

#define ADAPTER_MSG_BLOCK_HEAD 16u

typedef struct {
    size_t max_size;    /* bytes of one input message or JSON text */
    size_t max_out;     /* bytes one call may append to an output buffer */
    uint32_t max_depth; /* nesting of arrays/maps inside data values (<= 256) */
    uint32_t max_elems; /* entries of one array or map */
    uint32_t max_list;  /* entries of one room/except list */
} adapter_msg_limits_t;

/*
 * Per-thread codec state: limits, the reason of the last SIOC_EPROTO and
 * scratch storage reused across calls (it grows to the largest message seen,
 * so steady state allocates nothing). Value type; private members start with _.
 */
typedef struct {
    adapter_msg_limits_t limits;
    const char *reason;    /* static text after SIOC_EPROTO, else NULL */
    sioc_buf_t _stack;     /* map member records while converting */
    sioc_buf_t _tmp;       /* member reordering, UTF-16 units, long numbers */
    sioc_buf_t _str;       /* unescaped strings of the current decode */
    sioc_buf_t _list;      /* the room list being read */
    sioc_buf_t _blocks;    /* stable storage of the current decode: block pointers;
                            * a block's data follows ADAPTER_MSG_BLOCK_HEAD bytes
                            * holding its size (size_t) */
    size_t _bused;         /* bytes used in the last block */
    unsigned char _b0_std; /* the first block is a standard one (kept across decodes) */
} adapter_msg_ctx_t;

/* Attachment collector: a caller array filled by decoders. */
typedef struct {
    sioc_iov_t *v; /* caller-owned array of cap entries */
    size_t cap;
    size_t n; /* entries in use; decoders append */
} adapter_msg_att_t;

/*
 * Socket.IO data: JSON text plus the attachments its placeholders refer to.
 * As encoder input, `binary` says placeholders are live (the packet was a
 * BINARY_EVENT/BINARY_ACK); otherwise they are plain objects. As decoder
 * output, `json` points into the caller's json buffer, `att` into the caller's
 * attachment array, and `binary` = (natt > 0). json.base == NULL: absent.
 */
typedef struct {
    sioc_iov_t json;
    const sioc_iov_t *att;
    size_t natt;
    int binary;
} adapter_msg_value_t;

typedef struct {
    unsigned present; /* ADAPTER_MSG_F_* keys present */
    unsigned value;   /* their boolean values (JS truthiness) */
    double timeout;   /* flags.timeout when ADAPTER_MSG_F_TIMEOUT is present */
} adapter_msg_flags_t;

typedef struct {
    const sioc_iov_t *rooms;
    size_t nrooms;
    const sioc_iov_t *except;
    size_t nexcept;
    adapter_msg_flags_t flags;
} adapter_msg_opts_t;

/* A Socket.IO packet as the adapter carries it: {type, data, nsp[, id]}. */
typedef struct {
    int type;       /* 2 = EVENT */
    sioc_iov_t nsp; /* decode: "/" when absent; encode: base NULL = omit */
    int has_id;
    uint64_t id;
    adapter_msg_value_t data;
} adapter_msg_packet_t;

/* Classic broadcast / emitter message: msgpack [uid, packet, opts]. */
typedef struct {
    sioc_iov_t uid;
    adapter_msg_packet_t packet;
    adapter_msg_opts_t opts;
} adapter_msg_broadcast_t;

/*
 * Request on socket.io-request#<nsp>#. Absent strings have base NULL. The
 * fields used depend on the type (PROTOCOL.md §5.1 table):
 *   0 SOCKETS uid?, request_id, rooms      1 ALL_ROOMS uid, request_id
 *   2/3 JOIN/LEAVE uid?, opts, rooms  (legacy: request_id, sid, room)
 *   4 DISCONNECT uid?, opts, close    (legacy: request_id, sid, close)
 *   5 FETCH uid, request_id, opts      6 SERVER_SIDE_EMIT uid, request_id?, data
 *   7 BROADCAST (msgpack) uid, request_id, packet, opts
 */
typedef struct {
    int type;
    int json; /* decode: the message was JSON text */
    sioc_iov_t uid;
    sioc_iov_t request_id;
    int has_opts;
    adapter_msg_opts_t opts;
    const sioc_iov_t *rooms;
    size_t nrooms;
    int has_close;
    int close;
    sioc_iov_t sid;
    sioc_iov_t room;
    adapter_msg_value_t data;    /* type 6 */
    adapter_msg_packet_t packet; /* type 7 */
} adapter_msg_request_t;

/* Kinds of response on socket.io-response#<nsp># (by shape). */
#define ADAPTER_MSG_RESP_ACK 0           /* {"requestId"} (legacy join/leave/disconnect) */
#define ADAPTER_MSG_RESP_SOCKETS 1       /* {"requestId","sockets":[..]} (types 0 and 5) */
#define ADAPTER_MSG_RESP_ROOMS 2         /* {"requestId","rooms":[..]} (type 1) */
#define ADAPTER_MSG_RESP_SERVER_EMIT 6   /* {"type":6,"requestId","data"} */
#define ADAPTER_MSG_RESP_CLIENT_COUNT 8  /* {"type":8,"requestId","clientCount"} */
#define ADAPTER_MSG_RESP_BROADCAST_ACK 9 /* msgpack {type:9,requestId,packet} */

typedef struct {
    int kind; /* ADAPTER_MSG_RESP_* */
    sioc_iov_t request_id;
    adapter_msg_value_t sockets; /* RESP_SOCKETS: JSON array */
    const sioc_iov_t *rooms;     /* RESP_ROOMS */
    size_t nrooms;
    adapter_msg_value_t data; /* RESP_SERVER_EMIT data, RESP_BROADCAST_ACK packet; may be absent */
    uint64_t client_count;    /* RESP_CLIENT_COUNT */
} adapter_msg_response_t;

/*
 * Sharded adapter message {type, data, uid, nsp}. Fields by type:
 *   3 BROADCAST packet, opts, request_id?    4/5 SOCKETS_JOIN/LEAVE opts, rooms
 *   6 DISCONNECT_SOCKETS opts, close         7 FETCH_SOCKETS opts, request_id
 *   8 FETCH_SOCKETS_RESPONSE request_id, value (sockets array)
 *   9 SERVER_SIDE_EMIT value ([ev, ...args]), request_id?
 *   10 SERVER_SIDE_EMIT_RESPONSE / 12 BROADCAST_ACK request_id, value (ack arg, may be absent)
 *   11 BROADCAST_CLIENT_COUNT request_id, client_count     1, 2, 13: no data
 */
typedef struct {
    int type;
    int json; /* decode: the message was JSON text */
    sioc_iov_t uid;
    sioc_iov_t nsp;
    sioc_iov_t request_id;
    adapter_msg_packet_t packet;
    adapter_msg_opts_t opts;
    const sioc_iov_t *rooms;
    size_t nrooms;
    int close;
    adapter_msg_value_t value;
    uint64_t client_count;
} adapter_msg_shard_t;

/* Channel kinds for adapter_msg_channel(). */
#define ADAPTER_MSG_CH_MAIN 0         /* <key>#<nsp>#  (classic broadcast, sharded main) */
#define ADAPTER_MSG_CH_ROOM 1         /* <key>#<nsp>#<extra>#  (room; sharded per-server uid) */
#define ADAPTER_MSG_CH_PATTERN 2      /* <key>#<nsp>#*  (PSUBSCRIBE pattern) */
#define ADAPTER_MSG_CH_REQUEST 3      /* <key>-request#<nsp># */
#define ADAPTER_MSG_CH_RESPONSE 4     /* <key>-response#<nsp># */
#define ADAPTER_MSG_CH_RESPONSE_UID 5 /* <key>-response#<nsp>#<extra># */

/** Initialises `ctx` with `limits` (copied; NULL = defaults). Owns nothing yet. */
void adapter_msg_ctx_init(adapter_msg_ctx_t *ctx, const adapter_msg_limits_t *limits);
/** Frees the scratch storage of `ctx`; slices returned by earlier decodes become invalid. */
void adapter_msg_ctx_free(adapter_msg_ctx_t *ctx);

/**
 * Decodes a classic broadcast / emitter message (msgpack [uid, packet, opts]).
 * packet.data JSON is appended to `json`, attachments to `att`. Returns `len`
 * or a negative error. Slices in `out` point into `msg`, `json` (until the
 * caller next changes it), `att` or ctx storage (until the next decode on ctx).
 */
SIOC_WUR int adapter_msg_broadcast_decode(adapter_msg_ctx_t *ctx, const char *msg, size_t len,
                                          sioc_buf_t *json, adapter_msg_att_t *att,
                                          adapter_msg_broadcast_t *out);

/**
 * Encodes `in` as msgpack [uid, packet, opts] appended to `out`; opts keys in
 * adapter order (rooms, except, flags) or, with `emitter_order`, the emitter's
 * (rooms, flags, except). Returns 0 or a negative error. Borrows `in`.
 */
SIOC_WUR int adapter_msg_broadcast_encode(adapter_msg_ctx_t *ctx, const adapter_msg_broadcast_t *in,
                                          int emitter_order, sioc_buf_t *out);

/**
 * Decodes a request (JSON text when msg[0] is '{', else msgpack), any type
 * 0-9, legacy forms included. Data/packet JSON goes to `json`, attachments to
 * `att`. Returns `len` or a negative error; slices as adapter_msg_broadcast_decode.
 */
SIOC_WUR int adapter_msg_request_decode(adapter_msg_ctx_t *ctx, const char *msg, size_t len,
                                        sioc_buf_t *json, adapter_msg_att_t *att,
                                        adapter_msg_request_t *out);

/**
 * Encodes a request the way the Node adapter/emitter does (JSON for 0-6,
 * msgpack for 7; key order as Node's), appending to `out`. Absent uid (base
 * NULL) is omitted, as the emitter does for 2-4. Legacy forms are written
 * when !has_opts and sid is set. Returns 0 or a negative error. Borrows `in`.
 */
SIOC_WUR int adapter_msg_request_encode(adapter_msg_ctx_t *ctx, const adapter_msg_request_t *in,
                                        sioc_buf_t *out);

/**
 * Decodes a response (JSON or msgpack by first byte) into `out`; JSON values
 * are appended to `json`. Returns `len` or a negative error. Slices as above.
 * On an error, out->request_id is still set when the requestId came before
 * it (Node writes it second), so the requester can count the answer.
 */
SIOC_WUR int adapter_msg_response_decode(adapter_msg_ctx_t *ctx, const char *msg, size_t len,
                                         sioc_buf_t *json, adapter_msg_att_t *att,
                                         adapter_msg_response_t *out);

/**
 * Encodes a response of in->kind as Node does (JSON, except BROADCAST_ACK:
 * msgpack), appending to `out`. Returns 0 or a negative error. Borrows `in`.
 */
SIOC_WUR int adapter_msg_response_encode(adapter_msg_ctx_t *ctx, const adapter_msg_response_t *in,
                                         sioc_buf_t *out);

/**
 * Decodes a sharded-adapter message (JSON or msgpack by first byte).
 * Returns `len` or a negative error. Slices as adapter_msg_broadcast_decode.
 */
SIOC_WUR int adapter_msg_shard_decode(adapter_msg_ctx_t *ctx, const char *msg, size_t len,
                                      sioc_buf_t *json, adapter_msg_att_t *att,
                                      adapter_msg_shard_t *out);

/**
 * Encodes a sharded-adapter message: msgpack when the type may carry binary
 * and its data has attachments, JSON otherwise (as the Node adapter decides).
 * Returns 0 or a negative error. Borrows `in`.
 */
SIOC_WUR int adapter_msg_shard_encode(adapter_msg_ctx_t *ctx, const adapter_msg_shard_t *in,
                                      sioc_buf_t *out);

/**
 * Appends the channel name of `kind` (ADAPTER_MSG_CH_*) for namespace `nsp`
 * with key prefix `key` (empty = "socket.io") and `extra` (room or uid) to
 * `out`. Returns 0 or a negative buffer error. Borrows the slices.
 */
SIOC_WUR int adapter_msg_channel(sioc_buf_t *out, sioc_iov_t key, int kind, sioc_iov_t nsp,
                                 sioc_iov_t extra);

/**
 * Splits a broadcast channel <key>#<nsp>#[<room>#]: returns 1 and sets *room
 * (a slice of `channel`) for a room channel, 0 for the main channel, -1 when
 * the channel is not of this key/namespace. Borrows everything.
 */
int adapter_msg_channel_room(sioc_iov_t channel, sioc_iov_t key, sioc_iov_t nsp, sioc_iov_t *room);

#endif
