/*
 * eio_session.h - Engine.IO v4 sessions as a state machine without sockets or an event loop.
 *
 * Implements the transport-independent half of engine.io-protocol v4 (PROTOCOL.md §1):
 * the sid table, the open packet (§1.3), packets from the client (§1.2: ping / pong /
 * message / close / upgrade / noop), the polling output buffer and the one held GET
 * (§1.4), server-sent heartbeats (§1.6), the probe / upgrade / noop sequence and its
 * timeout (§1.7), close while polling, and "zombie" sessions: a polling session closed by
 * the server between two polls keeps its sid for ZOMBIE_MS so that its next GET gets the
 * close packet instead of "Session ID unknown".
 *
 * The machine talks out through eio_session_hooks_t (hiredis' split between its reader
 * and its event-loop adapters): write a websocket frame, answer the held GET, end a
 * websocket, arm the table's single timer, queue work at turn end, read the clock. The
 * transports (polling.c, websocket.c) call in with what arrived, and the HTTP front
 * (engine.c) binds the hooks to libevent. A transport is an opaque pointer to the
 * session; the session never looks inside it. Unit tests drive it on fake time.
 *
 * The layer above (Socket.IO, or the plain echo of the Engine.IO suite) sees sessions
 * through eio_handler_t: open, message (text or binary), close with a reason, called
 * exactly once per session for open and close.
 *
 * Lifetime: a closed session leaves the table at once (or when its zombie period ends)
 * and is freed at turn end (hooks.defer), so pointers held by the current callback chain
 * stay valid. Loop thread only.
 */
#ifndef SIOC_WORKER_EIO_SESSION_H
#define SIOC_WORKER_EIO_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/iov.h"
#include "base/shared.h"
#include "eio/eio_packet.h"
#include "net/loop.h"

/** Room for a sid and its NUL ("<worker id>.<20 random characters>"). */
#define EIO_SESSION_SID_MAX 40

typedef struct eio_session eio_session_t;
typedef struct eio_session_table eio_session_table_t;

/** A pre-encoded message (one Socket.IO packet and its binary attachments) that can be
 * queued to many sessions: WebSocket bytes are built once and shared by reference;
 * polling bytes are built once on first use. Refcounted. */
typedef struct eio_msg eio_msg_t;

typedef struct eio_handler {
    /** A session completed its handshake. */
    void (*on_open)(eio_session_t *s);
    /** A message packet: text (without the leading '4') or binary bytes. */
    void (*on_message)(eio_session_t *s, const char *data, size_t len, int binary);
    /** The session ended; `reason` is an Engine.IO close reason (static string). */
    void (*on_close)(eio_session_t *s, const char *reason);
    /** Optional: whether a new session from `addr` may open (asked before the handshake is
     * answered); 0 refuses it. */
    int (*admit)(void *owner, const char *addr);
    /** Optional: the session moved from polling to websocket. */
    void (*on_upgrade)(eio_session_t *s);
    /** Bytes of handler state kept in the session's own allocation: eio_session_data()
     * points at them (zeroed) from the start, and they live until the session is freed,
     * after on_close. 0: none. */
    size_t data_size;
} eio_handler_t;

/** Engine close reasons (PROTOCOL.md §1.8), compared by pointer. */
extern const char eio_reason_transport_error[];
extern const char eio_reason_transport_close[];
extern const char eio_reason_forced_close[];
extern const char eio_reason_ping_timeout[];
extern const char eio_reason_parse_error[];
extern const char eio_reason_server_shutdown[];
extern const char eio_reason_too_large[];
extern const char eio_reason_slow_consumer[];

/** Counters the sessions bump (owned by the caller, read by /metrics). */
typedef struct eio_session_stats {
    unsigned long long sessions_total, sessions_open;
    unsigned long long ws_upgrades, ws_sessions_open, polling_sessions_open;
    unsigned long long packets_in, packets_out;
    unsigned long long drops_slow_consumer, drops_parse_error, drops_ping_timeout;
    /* permessage-deflate: messages deflated (count, bytes before / after; a broadcast once
     * however many receive it) and inflated; volatile packets dropped for a client that was
     * not writable. */
    unsigned long long ws_deflated, ws_deflated_in, ws_deflated_out, ws_inflated;
    unsigned long long volatile_dropped;
} eio_session_stats_t;

/** How the machine reaches the outside. `ws` and `get` are the transports' opaque handles;
 * every hook gets the table's `data` last. */
typedef struct eio_session_hooks {
    /** Monotonic clock in milliseconds. */
    long long (*now)(void *data);
    /** Calls eio_session_table_tick() in `delay_ms` (>= 0); replaces the previous arming. */
    void (*arm)(long long delay_ms, void *data);
    /** Runs d->cb(d) at the end of this loop turn (once, however often queued). */
    void (*defer)(net_deferred_t *d, void *data);
    /** Unqueues `d` if queued. */
    void (*cancel)(net_deferred_t *d, void *data);
    /** Answers the held GET `get` with a 200 text/plain `body`; the GET is no longer the
     * session's (the transport forgets its session). `compress`: some packet of the body
     * may be compressed (Node's packet option, true unless a sender said false). Borrows
     * body for the call. */
    void (*get_answer)(void *get, const char *body, size_t len, int compress, void *data);
    /** Writes one websocket frame whose payload is `prefix` then `p`; whole or nothing.
     * Returns 0, SIOC_EMSGSIZE over the output cap, or another SIOC_E*. */
    int (*ws_frame)(void *ws, int opcode, const char *prefix, size_t prefix_len, const void *p,
                    size_t len, void *data);
    /** Queues pre-encoded frames by reference (takes a reference on `sh`); as ws_frame. */
    int (*ws_shared)(void *ws, sioc_shared_t *sh, void *data);
    /** Whether the websocket `ws` has nothing queued (Node's transport.writable); NULL: always. */
    int (*ws_writable)(void *ws, void *data);
    /** Ends the websocket `ws`, no longer the session's: with a close frame `code` unless
     * code is 0 or the connection is already closing, then a flushing close. */
    void (*ws_end)(void *ws, uint16_t code, void *data);
    /** The session lets go of the peer handle given to eio_session_new(). */
    void (*peer_release)(void *peer, void *data);
} eio_session_hooks_t;

struct ws_deflate;

typedef struct eio_session_config {
    long ping_interval, ping_timeout, upgrade_timeout; /* ms */
    long max_output_buffer;                            /* bytes, per session */
    long max_payload;                                  /* announced in the open packet */
    const char *sid_prefix;                            /* the worker id (borrowed) */
    void *owner;                                       /* eio_session_owner() (the worker) */
    struct ws_deflate *ws_deflate; /* permessage-deflate context (borrowed), NULL when off */
    long ws_deflate_threshold;     /* smallest message compressed, bytes */
    int parser_msgpack; /* Socket.IO packets as socket.io-msgpack-parser (binary) messages */
} eio_session_config_t;

/** Creates an empty table. Borrows cf (and its strings), hooks, h and stats: all must
 * outlive the table. Aborts when out of memory (start-up only). */
eio_session_table_t *eio_session_table_new(const eio_session_config_t *cf,
                                           const eio_session_hooks_t *hooks, void *data,
                                           const eio_handler_t *h, eio_session_stats_t *stats);
/** Frees the table; every session must have been reaped (eio_session_table_shutdown() and a
 * turn end). */
void eio_session_table_free(eio_session_table_t *t);
/** The timer armed through hooks.arm fired: pings due, pongs late, upgrades timed out. */
void eio_session_table_tick(eio_session_table_t *t);
/** Forgets zombies whose period is over (call about once a second). */
void eio_session_table_sweep(eio_session_table_t *t);
/** Closes up to `n` open sessions with "server shutting down". */
void eio_session_table_close_some(eio_session_table_t *t, size_t n);
/** Closes every open session ("server shutting down"); zombies stay for their poll. */
void eio_session_table_close_all(eio_session_table_t *t);
/** Closes every open session ("server shutting down") and forgets every zombie. */
void eio_session_table_shutdown(eio_session_table_t *t);
/** Open sessions (zombies excluded). */
size_t eio_session_table_count(const eio_session_table_t *t);
/** Whether the handler admits a new session from `addr` (1 when it has no opinion). */
int eio_session_table_admit(const eio_session_table_t *t, const char *addr);
/** Closed polling sessions still waiting for their next poll. */
size_t eio_session_table_zombies(const eio_session_table_t *t);
/** The session with `sid` (zombies included), or NULL. Borrows sid. */
eio_session_t *eio_session_find(eio_session_table_t *t, sioc_iov_t sid);

/** Opens a session on polling or (websocket = 1) websocket and arms its first ping.
 * `peer` is released through hooks.peer_release when the session is forgotten; `addr`
 * (the client address) is borrowed until then. */
eio_session_t *eio_session_new(eio_session_table_t *t, int websocket, void *peer, const char *addr);
/** Appends the open packet of `s` to b. 0 or a buf error. */
int eio_session_open_packet(const eio_session_t *s, sioc_buf_t *b);
/** The handshake was answered: the handler's on_open runs. */
void eio_session_opened(eio_session_t *s);
/** Whether `s` was closed (its memory lasts until turn end). */
int eio_session_is_closed(const eio_session_t *s);
/** Whether `s` is a zombie (closed, kept for its next poll). */
int eio_session_is_zombie(const eio_session_t *s);
/** A zombie was answered: removes it from the table (freed at turn end). */
void eio_session_forget(eio_session_t *s);

/** What eio_session_poll_get() decided. */
enum {
    EIO_POLL_HELD = 0,  /* the GET waits for output (answered through hooks.get_answer) */
    EIO_POLL_NOOP = 1,  /* an upgrade is under way: answer "6" now */
    EIO_POLL_DUPLICATE, /* a GET is already held: answer 400, then close the session */
};
/** A polling GET arrived for `s`. Borrows `get` until it is answered or lost. */
int eio_session_poll_get(eio_session_t *s, void *get);
/** The held GET's connection went away: the session ends ("transport close"). */
void eio_session_get_lost(eio_session_t *s);

/** One text packet from the session's transport (polling or websocket, not a probe). */
void eio_session_packet(eio_session_t *s, const eio_packet_t *pk);
/** One message from the transport: text (without '4') or binary. */
void eio_session_deliver(eio_session_t *s, const char *p, size_t len, int binary);

/** Whether a probe may attach: a polling session without a websocket. */
int eio_session_can_upgrade(const eio_session_t *s);
/** Attaches a websocket: the transport of a websocket session, or (polling session) an
 * upgrade probe, which must complete within upgrade_timeout. Borrows ws until
 * hooks.ws_end or eio_session_ws_detach(). */
void eio_session_ws_attach(eio_session_t *s, void *ws);
/** The websocket went away on its own: the session forgets it (no hook is called). */
void eio_session_ws_detach(eio_session_t *s);
/** permessage-deflate was agreed on the attached websocket with a `window_bits` window
 * (9..15; 0 = not agreed): shared messages (eio_send_msg) of cf->ws_deflate_threshold
 * bytes or more go out compressed, built once per message and window. */
void eio_session_ws_set_deflate(eio_session_t *s, int window_bits);
/** Whether the attached websocket is a probe (the session is still on polling). */
int eio_session_ws_is_probe(const eio_session_t *s);
/** One text packet on the probe: "2probe" answers "3probe" (and releases a held GET
 * with a noop), "5" completes the upgrade, anything else aborts it. */
void eio_session_probe_packet(eio_session_t *s, const eio_packet_t *pk);
/** Aborts an upgrade in progress: the probe is ended (code 0), polling continues. */
void eio_session_upgrade_abort(eio_session_t *s);
/** Output over --max-output-buffer on `transport` ("polling", "websocket"): counted,
 * logged, and the session ends. */
void eio_session_slow_consumer(eio_session_t *s, const char *transport);

/** The handler's data: its `data_size` bytes in the session's allocation (NULL if 0). */
void *eio_session_data(const eio_session_t *s);
const char *eio_session_sid(const eio_session_t *s);
/** The table's config.owner (the worker). */
void *eio_session_owner(const eio_session_t *s);
/** The client address (numeric) of the handshake request. */
const char *eio_session_addr(const eio_session_t *s);
/** Whether the session's transport is websocket (upgrade completed or websocket-only). */
int eio_session_is_websocket(const eio_session_t *s);

/** Queues a message packet with text `p` (without the leading '4'). 0 or SIOC_E*. */
int eio_send_text(eio_session_t *s, const char *p, size_t len);
/** Queues a binary message of `len` bytes (copied). 0 or SIOC_E*. */
int eio_send_binary(eio_session_t *s, const void *p, size_t len);
/** Queues a pre-encoded message. 0 or SIOC_E*. */
int eio_send_msg(eio_session_t *s, eio_msg_t *m);
/** Whether a packet sent now would go out at once, as Node's `transport.writable` says
 * (a volatile packet is dropped otherwise): on polling, a GET is held and nothing is queued
 * for it yet; on a websocket, its output queue is empty. A closed session is not. */
int eio_session_writable(const eio_session_t *s);
/** Closes the session with `reason` (the handler's on_close runs). */
void eio_session_close(eio_session_t *s, const char *reason);

/** Builds a message from Socket.IO packet text (without the '4') and attachments.
 * Copies everything; returns NULL when out of memory. */
eio_msg_t *eio_msg_new(const char *text, size_t len, const sioc_iov_t *attachments,
                       size_t n_attachments);
/** Node's per-packet `compress` option (default true): false keeps the message out of
 * polling compression (unless another packet of the same response allows it) and out of
 * permessage-deflate. */
void eio_msg_set_compress(eio_msg_t *m, int compress);
void eio_msg_ref(eio_msg_t *m);
void eio_msg_unref(eio_msg_t *m);

#endif
