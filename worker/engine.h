/*
 * engine.h - the worker's client port: HTTP front, Engine.IO transports, sessions.
 *
 * Implements engine.io-protocol v4 (PROTOCOL.md §1) over HTTP/1.1 and WebSocket: the
 * handshake and its error codes in Node's check order (§1.1), CORS and the io cookie
 * (§1.9), per-address and total connection limits, slow-request and keep-alive timeouts;
 * long-polling (polling.c) and WebSocket (websocket.c) carry the sessions of
 * eio_session.c, and the same port serves /health, /ready, /metrics (admin.c) and the
 * web files (web.c).
 *
 * An engine_t is opaque; it owns the listener, every client connection and the session
 * table. Loop thread only.
 */
#ifndef SIOC_WORKER_ENGINE_H
#define SIOC_WORKER_ENGINE_H

#include <stddef.h>

#include "worker.h"

typedef struct engine engine_t;
struct eio_handler;

/** Starts listening on the configured host:port; sessions are reported to `h` (borrowed,
 * must outlive the engine). Returns the engine, or NULL with *err a negative SIOC_E*. */
engine_t *engine_start(worker_t *w, const struct eio_handler *h, int *err);
/** Closes every session (reason "server shutting down"). */
void engine_close_all(engine_t *e);
/** Takes no more hand-offs (drain): the clients already queued are served (a new session
 * gets the draining 503), then the hand-off socket goes, so a proxy serves the next ones
 * through its tunnel, which places a refused new session on another worker. */
void engine_stop_handoff(engine_t *e);
/** Closes up to `n` sessions (reason "server shutting down"). */
void engine_close_some(engine_t *e, size_t n);
/** Ends every session and connection now (exit path); their memory is released by the
 * loop's final turn (net_loop_free), after which engine_free() releases the engine. */
void engine_shutdown(engine_t *e);
/** Frees the engine after engine_shutdown() and net_loop_free(). NULL is ignored. */
void engine_free(engine_t *e);
/** Number of open sessions. */
size_t engine_session_count(const engine_t *e);
/** Closed polling sessions still waiting for their next poll (to collect the close). */
size_t engine_zombie_count(const engine_t *e);

#endif
