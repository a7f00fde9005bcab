/*
 * websocket.h - the WebSocket transport (PROTOCOL.md §1.5, RFC 6455): the upgrade
 * handshake of the client port, frames in and out, and the probe of a polling session's
 * upgrade (§1.7, decided by eio_session.c).
 *
 * After a successful handshake the connection leaves the front's HTTP list for its
 * websocket list and its own conn hooks; heartbeats bound it, the sweep does not.
 * Loop thread only.
 */
#ifndef SIOC_WORKER_WEBSOCKET_H
#define SIOC_WORKER_WEBSOCKET_H

#include <stddef.h>
#include <stdint.h>

#include "base/iov.h"
#include "base/shared.h"
#include "client.h"
#include "http/http_parse.h"

/** An upgrade request (transport=websocket) for a new session (sid empty) or for the
 * probe of session `sid`. Answers errors itself. Borrows req and sid for the call. */
void websocket_upgrade(client_t *cl, const http_request_t *req, sioc_iov_t sid);

/** eio_session_hooks_t.ws_frame: one frame to `ws` (a client_t), whole or nothing. */
int websocket_frame(void *ws, int opcode, const char *prefix, size_t prefix_len, const void *p,
                    size_t len, void *data);
/** eio_session_hooks_t.ws_writable: nothing queued on `ws` (a client_t). */
int websocket_writable(void *ws, void *data);

/** eio_session_hooks_t.ws_shared: pre-encoded frames, queued by reference. */
int websocket_shared(void *ws, sioc_shared_t *sh, void *data);
/** eio_session_hooks_t.ws_end: a close frame `code` (none when 0), then a flushing close. */
void websocket_end(void *ws, uint16_t code, void *data);

#endif
