/*
 * http_resp.h - writes HTTP/1.1 response heads into a sioc_buf_t.
 *
 * RFC 9112 §4 (status line) and §5 (field lines). Every function either
 * appends all of its bytes or none (the buffer's length is restored on
 * failure), so a caller can build a head step by step and bail out at the
 * first error. Names must be tokens and values may not hold CR, LF, NUL or
 * other control bytes except HTAB: echoed values (a reflected Origin, a
 * cookie) therefore cannot inject fields (SIOC_EINVAL).
 *
 * Every function borrows `b` for the call; the appended bytes belong to the
 * buffer. The module writes framing only; which CORS or cookie fields to send is the
 * server's policy. Pure; safe from any thread.
 */
#ifndef SIOC_COMMON_HTTP_HTTP_RESP_H
#define SIOC_COMMON_HTTP_HTTP_RESP_H

#include <stddef.h>

#include "base/buf.h"
#include "base/iov.h"
#include "http/http_parse.h"

/** Standard reason phrase for `code` ("Unknown" for codes it does not know); never NULL. */
const char *http_status_text(int code);

/**
 * Appends "HTTP/1.1 <code> <reason>\r\n"; reason NULL means
 * http_status_text(code). Returns 0, SIOC_EINVAL (code outside 100..999 or a
 * reason with control bytes), or a buf_append() error. Borrows reason.
 */
int http_resp_status(sioc_buf_t *b, int code, const char *reason);

/**
 * Appends "<name>: <value>\r\n". Returns 0, SIOC_EINVAL (invalid name or
 * value bytes), or a buf_append() error. Borrows both slices.
 */
int http_resp_header(sioc_buf_t *b, sioc_iov_t name, sioc_iov_t value);

/** Appends "<name>: <decimal v>\r\n"; as http_resp_header(). Borrows name. */
int http_resp_header_u64(sioc_buf_t *b, sioc_iov_t name, unsigned long long v);

/**
 * Ends the head: "Content-Length: <n>\r\n" when content_length >= 0, then the
 * empty line. Returns 0 or a buf_append() error.
 */
int http_resp_end(sioc_buf_t *b, long long content_length);

/**
 * Appends a whole head: status line (reason from http_status_text), the
 * `n` fields of `headers`, "Connection: close" unless keep_alive, and
 * http_resp_end(content_length). Returns 0 or an error as above, appending
 * nothing on failure. Borrows headers.
 */
int http_resp_head(sioc_buf_t *b, int code, const http_header_t *headers, size_t n,
                   long long content_length, int keep_alive);

/**
 * Appends a complete response with a body: http_resp_head() with
 * Content-Type (omitted when content_type.len == 0) and the exact
 * Content-Length, then the body bytes. Returns 0 or an error as above,
 * appending nothing on failure. Borrows all slices.
 */
int http_resp_simple(sioc_buf_t *b, int code, sioc_iov_t content_type, sioc_iov_t body,
                     int keep_alive);

#endif
