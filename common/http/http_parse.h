/*
 * http_parse.h - HTTP/1.1 request and response head parser.
 *
 * Implements the message framing of RFC 9112 (§2 message format, §3 request
 * line, §4 status line, §5 field syntax, §6 body length) with the
 * picohttpparser contract: the parser keeps no state across calls, returns
 * slices into the caller's buffer, fills a caller-provided header array and
 * never allocates. Callers re-call it with the whole buffer after more bytes
 * arrive; http_head_ready() makes that cheap under a byte-at-a-time trickle.
 *
 * It is strict on purpose, because a sticky proxy and its workers must agree
 * on where a message ends (FIELD-NOTES §5, request smuggling): only CRLF ends
 * a line (a bare CR or a bare LF is malformed), obs-fold, whitespace before
 * the colon, a Transfer-Encoding other than a single `chunked`, both
 * Content-Length and Transfer-Encoding, differing Content-Length values and
 * duplicate Host headers are all rejected.
 *
 * It does not read bodies (see http_chunked.h), decode the target (see
 * http_query.h) or decide routing. Pure; safe from any thread.
 */
#ifndef SIOC_COMMON_HTTP_HTTP_PARSE_H
#define SIOC_COMMON_HTTP_HTTP_PARSE_H

#include <stddef.h>

#include "base/iov.h"

/** One header field: slices into the parsed buffer, value without surrounding OWS. */
typedef struct {
    sioc_iov_t name, value;
} http_header_t;

/** Size limits; exceeding one yields SIOC_EMSGSIZE (answer 431 and close). */
typedef struct {
    size_t max_head_size; /* request/status line + fields + final CRLF; 0 = HTTP_DEFAULT_MAX_HEAD */
    size_t max_headers;   /* field lines; 0 = the capacity of the header array */
} http_limits_t;

#define HTTP_DEFAULT_MAX_HEAD 8192

/* Static reasons for SIOC_EMSGSIZE, comparable by pointer. */
extern const char http_reason_head_too_large[];
extern const char http_reason_too_many_headers[];

/** A parsed request head. All slices point into the buffer given to the parser. */
typedef struct {
    sioc_iov_t method;
    sioc_iov_t target; /* raw request-target */
    sioc_iov_t path;   /* target up to the first '?' */
    sioc_iov_t query;  /* after the first '?', without it; empty if none */
    int minor_version; /* HTTP/1.<minor_version> */
    http_header_t *headers;
    size_t num_headers; /* in: capacity of headers[]; out: headers filled */

    /* Semantics derived from the fields. */
    long long content_length; /* -1 if absent */
    int chunked;              /* Transfer-Encoding: chunked */
    int keep_alive;           /* 1.1: unless "close"; 1.0: only with "keep-alive" */
    int upgrade;              /* Connection has the "upgrade" token and Upgrade is present */
    sioc_iov_t upgrade_proto; /* the Upgrade field value */

    /* First occurrence of common fields (empty slice when absent), except
     * x_forwarded_for which holds the last one: its rightmost hop matters. */
    sioc_iov_t host, origin, cookie, sec_websocket_key, sec_websocket_version, content_type,
        x_forwarded_for, x_real_ip;
} http_request_t;

/** A parsed response head (for the proxy reading worker responses). */
typedef struct {
    int minor_version;
    int status;        /* 100..999 */
    sioc_iov_t reason; /* may be empty */
    http_header_t *headers;
    size_t num_headers; /* in: capacity; out: filled */

    long long content_length; /* -1 if absent */
    int chunked;
    int keep_alive;
    int upgrade; /* Connection has "upgrade" and Upgrade is present; check status == 101 too */
    sioc_iov_t upgrade_proto;
    sioc_iov_t content_type, sec_websocket_accept;
} http_response_t;

/**
 * Parses a request head from buf[0..len). Before the call set req->headers and
 * req->num_headers (capacity); the other fields are outputs. `lim` may be NULL
 * for the defaults.
 *
 * Returns the head length (> 0, including the final CRLFCRLF), SIOC_INCOMPLETE
 * when more bytes are needed, SIOC_EPROTO when malformed (answer 400 and
 * close), or SIOC_EMSGSIZE when the head is, or already would be, longer than
 * lim->max_head_size or has more fields than allowed (answer 431 and close).
 * On errors *reason (if reason is not NULL) gets a static string and the
 * outputs in *req are unspecified. Borrows buf and req->headers: every slice
 * in *req is valid as long as buf is.
 */
int http_parse_request(const char *buf, size_t len, http_request_t *req, const http_limits_t *lim,
                       const char **reason);

/**
 * Parses a response head from buf[0..len); same contract as
 * http_parse_request() (Host and Sec-WebSocket-Key may repeat here). Borrows
 * buf and res->headers: the slices in *res point into buf.
 */
int http_parse_response(const char *buf, size_t len, http_response_t *res, const http_limits_t *lim,
                        const char **reason);

/**
 * Cheap pre-check for re-parsing after more bytes arrived: returns 1 when
 * buf[0..len) may hold a finished head (a line break followed by an empty
 * line), is over the size limit, or is seen for the first time
 * (last_len == 0), given that parsing buf[0..last_len) gave SIOC_INCOMPLETE;
 * returns 0 otherwise. Scans only the new bytes (and 2 before them), so a
 * slow trickle costs linear, not quadratic, time. A syntax error after the
 * first look is then reported once the empty line or the size limit arrives
 * (the header deadline covers clients that send neither). Borrows buf for
 * the call only.
 */
int http_head_ready(const char *buf, size_t len, size_t last_len, const http_limits_t *lim);

/**
 * Finds a header by name (ASCII case-insensitive) from index *pos on; returns
 * its index and sets *pos past it, or -1. Start with *pos = 0 to iterate over
 * repeated fields. Borrows headers for the call only.
 */
int http_header_find(const http_header_t *headers, size_t num_headers, sioc_iov_t name,
                     size_t *pos);

/**
 * Splits the next element off a comma-separated field value (Accept-Encoding,
 * If-None-Match, Connection, ...): returns 1 with *element (OWS trimmed, never
 * empty) and *rest advanced past it, or 0 at the end. Borrows the value.
 */
int http_list_next(sioc_iov_t *rest, sioc_iov_t *element);

/**
 * Whether a comma-separated field value (Connection, Upgrade, ...) contains
 * `token`, compared case-insensitively with OWS trimmed. Borrows both slices.
 */
int http_header_has_token(sioc_iov_t value, sioc_iov_t token);

/** Whether `c` is an RFC 9110 tchar (the bytes allowed in methods and field names). */
int http_is_tchar(int c);

#endif
