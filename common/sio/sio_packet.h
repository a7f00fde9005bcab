/*
 * sio_packet.h - Socket.IO v5 packet codec (default parser).
 *
 * Job: parse the text of one Socket.IO packet (what follows the Engine.IO
 * `4` of a message) into its header fields and a slice of its JSON payload,
 * validating the payload the way socket.io-parser's Decoder does, and write
 * packet headers and the few packets a server composes itself.
 * Wire form: `<type>[<attachments>-][<nsp>,][<ackId>][<JSON>]`, e.g.
 * `451-/admin,12["ev",{"_placeholder":true,"num":0}]`.
 * Spec: socket.io-protocol v5 "Packet format"; PROTOCOL.md §2.2 (every
 * malformed form), §2.3, §2.4, §4.2 (exact bytes the official suite expects).
 *
 * Rules, where socket.io-parser 4.2.x is looser this codec is stricter
 * (every divergence below is input no Socket.IO client produces):
 * - type is one digit 0..6 (Node maps "" and " " to CONNECT);
 * - attachments (types 5/6 only) are 1+ decimal digits then `-` (Node also
 *   takes "" and "1e1"), at most limits.max_attachments (default 10);
 * - a namespace starts with `/` and runs to the first `,` or the end of the
 *   packet (so `40/custom` is CONNECT to "/custom"); absent means "/";
 * - an ack id is 1..16 decimal digits, at most 2^53-1 (Number's exact
 *   range); only EVENT and BINARY_EVENT may carry one, ACK and BINARY_ACK
 *   must (Node parses ids on every type and ignores ACKs without one);
 * - the JSON starts right after the header (no leading whitespace: Node
 *   would read a space as ack id 0) and must be one valid value, trailing
 *   whitespace allowed; then per type: CONNECT an object or nothing,
 *   DISCONNECT nothing, CONNECT_ERROR an object or a string, EVENT and
 *   BINARY_EVENT a non-empty array whose first element is a number or a
 *   string other than the reserved event names, ACK and BINARY_ACK an array
 *   (Node skips the check when the payload is absent; here only CONNECT and
 *   DISCONNECT may go without);
 * - in BINARY_EVENT/BINARY_ACK every placeholder must be well formed and
 *   reference an attachment below the count (Node throws on this once the
 *   attachments arrive; checking it with the header closes sooner).
 * Invariants: parsing allocates nothing and returns slices into the input;
 * writers append to a sioc_buf_t and leave it unchanged on failure.
 * Not here: reassembling binary attachments (the session does it, using
 * sio_binary.h), namespaces and acks as state. Threading: pure, any thread.
 */
#ifndef SIOC_COMMON_SIO_SIO_PACKET_H
#define SIOC_COMMON_SIO_SIO_PACKET_H

#include <stddef.h>

#include "base/buf.h"
#include "base/iov.h"

enum sio_type {
    SIO_CONNECT = 0,
    SIO_DISCONNECT,
    SIO_EVENT,
    SIO_ACK,
    SIO_CONNECT_ERROR,
    SIO_BINARY_EVENT,
    SIO_BINARY_ACK,
};

/** socket.io-parser's default maxAttachments. */
#define SIO_MAX_ATTACHMENTS 10
/** Largest ack id: 2^53 - 1, the largest integer a JavaScript Number holds exactly. */
#define SIO_MAX_ACK_ID 9007199254740991ULL

/** Limits applied by the parser. */
typedef struct {
    unsigned max_attachments; /* larger attachment counts are malformed */
} sio_packet_limits_t;

/** The default limits, as socket.io-parser's. */
#define SIO_PACKET_LIMITS_DEFAULT ((sio_packet_limits_t){SIO_MAX_ATTACHMENTS})

/** A parsed packet. Slices borrow the parsed bytes (or, for nsp "/", static storage). */
typedef struct {
    int type;                  /* enum sio_type */
    unsigned attachments;      /* types 5/6; 0 otherwise */
    sioc_iov_t nsp;            /* "/" when absent */
    int has_ack;               /* whether an ack id was present */
    unsigned long long ack_id; /* valid when has_ack */
    sioc_iov_t data;           /* the JSON value without surrounding whitespace; empty if none */
    int data_kind;             /* enum jscan_kind of data, 0 when empty */
    /* EVENT/BINARY_EVENT: the first element's token (a string with its quotes, or a number). */
    sioc_iov_t event;
    int event_kind; /* JSCAN_STRING or JSCAN_NUMBER for events, else 0 */
    /* EVENT/BINARY_EVENT: the elements after the first; ACK/BINARY_ACK: all elements; as JSON
     * text without the brackets or outer whitespace; may be empty. */
    sioc_iov_t args;
} sio_packet_t;

/**
 * Parses one packet of exactly `len` bytes with the default limits.
 * Returns `len` (> 0) on success, or SIOC_EPROTO with `*reason` (a static
 * string) set when `reason` is not NULL. Never allocates.
 * Borrows `p`; the slices in `pkt` point into it.
 */
int sio_packet_parse(const char *p, size_t len, sio_packet_t *pkt, const char **reason);

/** As sio_packet_parse with caller-chosen limits (`lim` borrowed for the call only). */
int sio_packet_parse_ex(const char *p, size_t len, const sio_packet_limits_t *lim,
                        sio_packet_t *pkt, const char **reason);

/**
 * Appends a packet header: type digit, `<attachments>-` for types 5/6, then
 * `<nsp>,` unless nsp is "/" (or empty, meaning "/"), then the ack id when
 * `has_ack`. E.g. `451-/admin,12`. Returns 0; SIOC_EINVAL for a type outside
 * 0..6, a namespace not starting with '/' or containing ',', or an ack id
 * above SIO_MAX_ACK_ID; or the buf_append error; `b` unchanged on failure.
 * Borrows `nsp` for the call only.
 */
int sio_packet_write_header(sioc_buf_t *b, int type, unsigned attachments, sioc_iov_t nsp,
                            int has_ack, unsigned long long ack_id);

/**
 * Appends a header (as sio_packet_write_header) followed by `data`, which is
 * copied as is: the caller vouches that it is compact valid JSON fit for the
 * type. Errors as sio_packet_write_header. Borrows `nsp` and `data`.
 */
int sio_packet_write(sioc_buf_t *b, int type, unsigned attachments, sioc_iov_t nsp, int has_ack,
                     unsigned long long ack_id, sioc_iov_t data);

/**
 * Appends a successful CONNECT reply, `0[<nsp>,]{"sid":"<sid>"}`, with
 * `,"pid":"<pid>"` before the `}` when `pid` is not NULL (connection state
 * recovery, PROTOCOL.md §3; without it the suite wants only "sid").
 * Strings are JSON-escaped. Errors as sio_packet_write_header; `b` unchanged
 * on failure. Borrows all pointers for the call only.
 */
int sio_packet_write_connect(sioc_buf_t *b, sioc_iov_t nsp, const char *sid, const char *pid);

/**
 * Appends a CONNECT_ERROR, `4[<nsp>,]{"message":"<message>"}`, with
 * `,"data":<data>` before the `}` when `data` is not empty (`data` is JSON
 * text copied as is). E.g. `4/random,{"message":"Invalid namespace"}`.
 * Errors as sio_packet_write_header; `b` unchanged on failure.
 * Borrows all pointers for the call only.
 */
int sio_packet_write_connect_error(sioc_buf_t *b, sioc_iov_t nsp, const char *message,
                                   sioc_iov_t data);

/**
 * Appends a DISCONNECT, `1` or `1/admin,`. Errors as sio_packet_write_header;
 * `b` unchanged on failure. Borrows `nsp` for the call only.
 */
int sio_packet_write_disconnect(sioc_buf_t *b, sioc_iov_t nsp);

/** Whether the decoded event name `name` is reserved (PROTOCOL.md §2.2). */
int sio_packet_reserved_event(sioc_iov_t name);

#endif
