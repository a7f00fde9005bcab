/*
 * rewrite.h - request and response heads as the proxy forwards them (pure).
 *
 * Requests go upstream as HTTP/1.1 on a keep-alive connection
 * (RFC 9110 §7.6.1): hop-by-hop fields (Connection, Keep-Alive,
 * Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade, and any field
 * the Connection header names) are dropped, except that Content-Length and
 * Host are never dropped because a client listed them (that would desync
 * the framing: request smuggling, FIELD-NOTES §5). A valid websocket upgrade
 * is re-announced as "Connection: Upgrade" + "Upgrade: websocket"; any other
 * Upgrade disappears. X-Forwarded-For / X-Forwarded-Proto are overwritten
 * (and X-Real-IP / Forwarded dropped) unless the peer is a trusted proxy,
 * in which case the peer is appended to the chain and an existing
 * X-Forwarded-Proto is kept.
 *
 * Responses go back with their own framing fields (Content-Length,
 * Transfer-Encoding) untouched, their hop-by-hop fields dropped, and the
 * proxy's Connection / Set-Cookie fields added.
 *
 * Both functions append a whole head (through the final empty line) or
 * nothing. Pure; safe from any thread.
 */
#ifndef SIOC_PROXY_REWRITE_H
#define SIOC_PROXY_REWRITE_H

#include "affinity.h"
#include "base/buf.h"
#include "http/http_parse.h"

typedef struct {
    const affinity_addr_t *peer; /* the socket peer */
    int peer_trusted;
    int tls;     /* X-Forwarded-Proto: https */
    int upgrade; /* forward as a websocket upgrade */
} rewrite_req_t;

typedef struct {
    sioc_iov_t set_cookie; /* a whole Set-Cookie value to add, or empty */
    int close;             /* add "Connection: close" */
    int upgrade;           /* relaying a 101: "Connection: Upgrade" + "Upgrade: websocket" */
} rewrite_res_t;

/**
 * Appends the upstream form of `req` to `out`. Returns 0, or a buf_append()
 * error with `out` unchanged. Borrows req and o.
 */
int rewrite_request(sioc_buf_t *out, const http_request_t *req, const rewrite_req_t *o);

/**
 * Appends the client form of `res` to `out`. Returns 0, or a buf_append()
 * error with `out` unchanged. Borrows res and o.
 */
int rewrite_response(sioc_buf_t *out, const http_response_t *res, const rewrite_res_t *o);

/** Whether `name` is hop-by-hop by itself (not counting the Connection list). Borrows name. */
int rewrite_is_hop_by_hop(sioc_iov_t name);

#endif
