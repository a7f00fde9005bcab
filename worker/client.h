/*
 * client.h - one connection of the worker's client port, shared by the HTTP front
 * (engine.c) and the two transports (polling.c, websocket.c).
 *
 * A client starts in HTTP mode (keep-alive, one request at a time, requests after a held
 * GET wait in the input buffer), may become a held polling GET of a session, and becomes
 * a websocket after a successful upgrade. This header also defines struct engine, the
 * state of the engine those files share; outside them engine_t is opaque (engine.h).
 * The response writers put every HTTP head the worker sends (http_resp.h framing).
 * Loop thread only.
 */
#ifndef SIOC_WORKER_CLIENT_H
#define SIOC_WORKER_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/addrcount.h"
#include "base/hmap.h"
#include "base/iov.h"
#include "base/list.h"
#include "eio_session.h"
#include "http/http_parse.h"
#include "worker.h"
#include "ws/ws_reader.h"

struct conn;
struct event;
struct net_listener;
struct web;
struct ws_deflate;
struct sse;
struct sse_client;

enum { CLIENT_HTTP, CLIENT_HELD_GET, CLIENT_WS, CLIENT_SSE };

typedef struct client {
    sioc_list_t link; /* in engine->clients, or engine->ws_clients once a websocket */
    struct conn *conn;
    struct engine *e;
    eio_session_t *session; /* WS transport/probe, or the session of the held GET */
    addrcount_entry_t *ip;  /* its address: counted while open, held by its sessions */
    uint8_t mode;
    uint8_t keep_alive;
    uint8_t refused;    /* over --max-connections: the first request gets 503 */
    uint8_t admin;      /* a connection of the admin port: admin endpoints only */
    uint8_t head;       /* the request being answered is HEAD: no body (RFC 9110 §9.3.2) */
    uint8_t cors;       /* 0 none, 1 any origin, 2 + i: configured origin i */
    uint8_t coding;     /* HTTP_COMPRESS_* the request being answered accepts */
    uint8_t ws_bits;    /* websocket: permessage-deflate window of our messages, 0 = off */
    long long since_ms; /* HTTP mode: start of the pending head, or of the idle period */
    union {
        ws_reader_t *ws;        /* CLIENT_WS: its own frame reader between the frames of a
                                 * message, else NULL (the engine's shared one serves it) */
        struct sse_client *sse; /* CLIENT_SSE: its event stream (sse.c) */
    };
} client_t;

struct engine {
    worker_t *w;
    const worker_config_t *conf;
    eio_session_table_t *sessions;
    eio_session_config_t session_conf;
    addrcount_t *per_ip;    /* open connections by client address */
    size_t conns;           /* open client connections */
    sioc_list_t clients;    /* HTTP-mode client connections (scanned for timeouts) */
    sioc_list_t ws_clients; /* websocket client connections */
    struct net_listener *listener;
    struct net_listener *admin_listener; /* --admin-port, or NULL */
    struct handoff_listener *handoff;    /* NULL without --handoff-path */
    struct web *web;
    struct event *sweep;
    struct event *timer;        /* the session table's timer (heartbeats, upgrades) */
    struct sse *sse;            /* the Server-Sent Events endpoint (chat app), or NULL */
    struct ws_deflate *deflate; /* permessage-deflate (--per-message-deflate), else NULL */
    sioc_buf_t zscratch;        /* one compressed websocket frame being written */
    ws_reader_t reader;         /* frame reader of the websocket being read, when idle */
    uint8_t reader_busy;        /* `reader` is lent out */
    worker_stats_t *stats;
};

/** Remembers the CORS decision for `origin` on the connection, so that a response sent
 * later (a held polling GET) carries it too. Borrows origin for the call. */
void client_cors_decide(client_t *cl, sioc_iov_t origin);

/** Writes a complete response: status line, Content-Type (unless NULL), Content-Length,
 * "Connection: close" when the connection ends after it (`close`, or no keep-alive), the
 * CORS fields, `extra` (whole header lines, or NULL) and the body. Borrows everything. */
void client_respond(client_t *cl, int status, const char *ctype, const char *extra,
                    const char *body, size_t body_len, int close);

/** Decides the coding of polling responses on the connection from the request's
 * Accept-Encoding (none when --http-compression is off), kept for a held GET answered
 * later. Borrows req for the call. */
void client_coding_decide(client_t *cl, const http_request_t *req);

/** A 200 text/plain Engine.IO payload, gzip- or deflate-compressed as Node's polling
 * transport does it: when `compress` (some packet allows it), the body reaches
 * --http-compression-threshold and the client accepts a coding (client_coding_decide).
 * `extra` as client_respond(). Borrows everything. */
void client_respond_payload(client_t *cl, const char *extra, const char *body, size_t len,
                            int compress);

/** Writes the head of a response whose body follows until the connection closes (an
 * event stream): 200, Content-Type, "Connection: close", the CORS fields and `extra`
 * (whole header lines, or NULL). Borrows everything. */
void client_stream_head(client_t *cl, const char *ctype, const char *extra);

/** An Engine.IO handshake error (PROTOCOL.md §1.1): 400 (403 for code 4) with the JSON
 * {"code":…,"message":…}. */
void client_respond_eio_error(client_t *cl, int code);

/** A failed upgrade request: a raw `status` with text/html `msg`, then the connection
 * closes (as Node does). Borrows msg. */
void client_respond_ws_error(client_t *cl, int status, const char *msg);

/** Turns a held GET back into an HTTP-mode connection that may carry the next request. */
void client_to_http(client_t *cl);

/** Opens a session for the request on `cl` (eio_session_new), which keeps the client's
 * address entry alive until the session is forgotten. */
eio_session_t *client_session_new(client_t *cl, int websocket);

/** Releases a client address entry (`conn`: one connection fewer as well). */
/** Lets go of a session's hold on its address (hooks.peer_release). */
void client_addr_release(addrcount_entry_t *ip);

/** Frees the client (its connection is gone). */
void client_free(client_t *cl);

#endif
