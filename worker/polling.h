/*
 * polling.h - the long-polling transport (PROTOCOL.md §1.4): binds HTTP requests of the
 * client port to Engine.IO sessions.
 *
 * A GET is held until the session has output (answered at turn end, eio_session.c), a
 * POST carries a payload of packets; one of each at a time. The front (engine.c) routes
 * a request here once its sid is known. Loop thread only.
 */
#ifndef SIOC_WORKER_POLLING_H
#define SIOC_WORKER_POLLING_H

#include <stddef.h>

#include "client.h"
#include "http/http_parse.h"

/** A GET for session `s`: held, answered with a noop, or refused as a duplicate. */
void polling_get(client_t *cl, eio_session_t *s);

/** A POST for session `s` with `len` bytes of payload: answered "ok" before the packets
 * reach the session (they may close it). Borrows req and body for the call. */
void polling_post(client_t *cl, eio_session_t *s, const http_request_t *req, const char *body,
                  size_t len);

/** eio_session_hooks_t.get_answer: answers the held GET `get` (a client_t) with a 200
 * text/plain body (compressed as client_respond_payload() decides) and lets its connection
 * carry the next request. */
void polling_answer(void *get, const char *body, size_t len, int compress, void *data);

#endif
