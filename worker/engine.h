/*
 * engine.h - Engine.IO v4 server: HTTP front, long-polling, WebSocket, upgrade.
 *
 * Implements engine.io-protocol v4 (PROTOCOL.md §1): the handshake and its
 * error codes (§1.1), packets (§1.2), open packet (§1.3), long-polling with
 * one held GET and one POST at a time (§1.4), the WebSocket transport (§1.5),
 * server-sent heartbeats with millisecond timers (§1.6), the probe / upgrade /
 * noop sequence (§1.7), CORS and the io cookie (§1.9). Also serves /health,
 * /ready and /metrics on the same port.
 *
 * The layer above (Socket.IO, or the plain echo of the Engine.IO suite) sees
 * sessions through eio_handler_t: open, message (text or binary), close with
 * a reason, called exactly once per session for open and close. Sending is
 * transport-agnostic: packets go to the WebSocket or into the polling buffer
 * flushed to the held GET at the end of the loop turn. Loop thread only.
 */
#ifndef SIOC_WORKER_ENGINE_H
#define SIOC_WORKER_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "base/iov.h"
#include "base/shared.h"
#include "worker.h"

typedef struct eio_session eio_session_t;

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

/** Starts listening on the configured host:port. Returns 0 or a negative SIOC_E*. */
int engine_start(worker_t *w, const eio_handler_t *h);
/** Closes every session (reason "server shutting down") and connection. */
void engine_close_all(worker_t *w);
/** Closes up to `n` sessions (reason "server shutting down"). */
void engine_close_some(worker_t *w, size_t n);
/** Ends every session and connection now (exit path); memory is released by the loop's
 * final turn (net_loop_free). */
void engine_shutdown(worker_t *w);
/** Number of open sessions. */
size_t engine_session_count(const worker_t *w);

void *eio_session_data(const eio_session_t *s);
void eio_session_set_data(eio_session_t *s, void *data);
const char *eio_session_sid(const eio_session_t *s);
worker_t *eio_session_worker(const eio_session_t *s);
/** The client address (numeric) of the handshake request. */
const char *eio_session_addr(const eio_session_t *s);
/** Copies of the handshake request's query and headers are not kept (memory); the
 * transport name of the session is. */
int eio_session_is_websocket(const eio_session_t *s);

/** Queues a message packet with text `p` (without the leading '4'). 0 or SIOC_E*. */
int eio_send_text(eio_session_t *s, const char *p, size_t len);
/** Queues a binary message of `len` bytes (copied). 0 or SIOC_E*. */
int eio_send_binary(eio_session_t *s, const void *p, size_t len);
/** Queues a pre-encoded message. 0 or SIOC_E*. */
int eio_send_msg(eio_session_t *s, eio_msg_t *m);
/** Closes the session with `reason` (the handler's on_close runs). */
void eio_session_close(eio_session_t *s, const char *reason);

/** Builds a message from Socket.IO packet text (without the '4') and attachments.
 * Copies everything; returns NULL when out of memory. */
eio_msg_t *eio_msg_new(const char *text, size_t len, const sioc_iov_t *attachments,
                       size_t n_attachments);
void eio_msg_ref(eio_msg_t *m);
void eio_msg_unref(eio_msg_t *m);

#endif
