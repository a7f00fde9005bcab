/*
 * sse.h - Server-Sent Events: the chat rooms' messages as a one-way text/event-stream.
 *
 * GET <path>sse?rooms=a,b (the Engine.IO path, "/socket.io/sse" by default) streams the
 * `receive-message` events broadcast to those rooms of namespace "/" (WHATWG HTML
 * "Server-sent events"): one `id:` / `event: receive-message` / `data: <msg JSON>` block
 * per message, a `: ping` comment every --sse-heartbeat ms. The token, when the worker
 * checks JWTs, comes as `Authorization: Bearer <jwt>` or as the `token` query parameter
 * and is verified as the Socket.IO handshake's (auth.h); a refusal is 401. The stream
 * ends when the token expires, and on drain (EventSource reconnects elsewhere).
 *
 * A stream holds its rooms in the Socket.IO room index (sio_room_hold), so the adapter
 * delivers their broadcasts from every worker, and hears them through the broadcast tap.
 * The `id:` is the recovery offset when the worker logs EVENTs (connection state
 * recovery on, in-memory or streams adapter), otherwise "<worker id>-<n>". A reconnect
 * with Last-Event-ID first gets what it missed from the in-memory log, or (streams
 * adapter) from the Redis stream while its live events are held; when the log cannot say
 * (recovery off, a Pub/Sub adapter, an unknown or trimmed offset) the stream starts with
 * `event: reset` and `data: {"reason":...}`, then goes on live.
 *
 * Binary messages (attachments) are not streamed. SSE connections are client
 * connections: they count toward --max-connections and --max-connections-per-ip.
 * Loop thread only.
 */
#ifndef SIOC_WORKER_SSE_H
#define SIOC_WORKER_SSE_H

#include <stddef.h>

#include "base/buf.h"
#include "base/iov.h"
#include "http/http_parse.h"

typedef struct sse sse_t;
struct client;
struct worker;

/** Longest room name of the rooms parameter (the chat's roomId bound). */
#define SSE_MAX_ROOM 256

/** Starts the SSE endpoint of the worker's Socket.IO layer (w->sio must exist). Returns an
 * owned object (free with sse_free()). */
sse_t *sse_new(struct worker *w);
/** Ends every stream's bookkeeping and frees. NULL is ignored. */
void sse_free(sse_t *s);
/** Whether `path` is the SSE endpoint. */
int sse_path_matches(const sse_t *s, sioc_iov_t path);
/** Answers the request on `cl`: an error response, or the stream head after which the
 * connection belongs to the stream until it closes. Borrows req. */
void sse_serve(sse_t *s, struct client *cl, const http_request_t *req);
/** The stream's connection closed: forgets it (called from the connection's on_close). */
void sse_client_gone(struct client *cl);

/**
 * Parses the rooms parameter: `raw` is still percent-encoded (query rules, '+' is a
 * space); the decoded text is split on ',' into `out` (slices into `buf`, which needs
 * raw.len bytes). Each room is 1..SSE_MAX_ROOM bytes; repeats are dropped. Returns the
 * number of rooms (1..max_rooms), or SIOC_EPROTO with a static `*reason`. Pure.
 */
int sse_rooms_parse(sioc_iov_t raw, char *buf, size_t cap, sioc_iov_t *out, size_t max_rooms,
                    const char **reason);

/**
 * Appends one event block: `id: <id>` (when id.len > 0), `event: <event>`, and `data:`
 * with `data` on one line (CR and LF become spaces: in JSON they are whitespace only),
 * then a blank line. Returns 0 or SIOC_ENOMEM. Pure.
 */
int sse_frame_write(sioc_buf_t *b, sioc_iov_t id, const char *event, sioc_iov_t data);

#endif
