/*
 * http_chunked.h - incremental decoder for the chunked transfer coding.
 *
 * RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF, a
 * last chunk of size 0, an optional trailer section and a final CRLF. Like
 * picohttpparser's phr_decode_chunked it is fed the bytes as they arrive, but
 * instead of decoding in place it returns the body bytes as a slice of the
 * input, so a caller draining an evbuffer copies each byte once.
 *
 * Strict as http_parse: only CRLF ends a line, chunk sizes are bare hex
 * (no sign, no "0x", no leading whitespace) and may not overflow 64 bits,
 * extensions are syntax-checked and ignored, trailer fields are checked and
 * discarded. Limits: a chunk-size line of at most HTTP_CHUNKED_MAX_LINE bytes,
 * trailers of at most HTTP_CHUNKED_MAX_TRAILER bytes, and a total body of at
 * most max_body bytes, checked against each chunk's declared size before any
 * of its data is returned. The bytes before a malformed spot are consumed
 * (and their data returned) by one call, and the error by the next, so the
 * outcome does not depend on how the input was split. Errors are final: the
 * decoder keeps returning them. Pure; one decoder per message, any thread.
 */
#ifndef SIOC_COMMON_HTTP_HTTP_CHUNKED_H
#define SIOC_COMMON_HTTP_HTTP_CHUNKED_H

#include <stddef.h>

#include "base/iov.h"

#define HTTP_CHUNKED_MAX_LINE 1024
#define HTTP_CHUNKED_MAX_TRAILER 8192

/* Static reason for SIOC_EMSGSIZE when the body passes max_body. */
extern const char http_reason_body_too_large[];

/** Decoder state; set up with http_chunked_init(), no teardown needed. */
typedef struct {
    unsigned long long total;    /* body bytes declared so far */
    unsigned long long max_body; /* 0 = unlimited */
    unsigned long long _remaining;
    size_t _trailer_bytes;
    int _state;
} http_chunked_t;

/** Starts decoding a new body of at most max_body bytes (0 = no limit); d is caller-owned. */
void http_chunked_init(http_chunked_t *d, unsigned long long max_body);

/**
 * Decodes from buf[0..len), the bytes not consumed by earlier calls. Returns
 * the number of bytes consumed (> 0) with *data set to the body bytes among
 * them (possibly empty; at most one slice per call, so call again while bytes
 * remain), SIOC_INCOMPLETE when nothing can be consumed until more bytes
 * arrive, 0 once the body and its trailers are complete (the remaining bytes
 * belong to the next message), SIOC_EPROTO when malformed, or SIOC_EMSGSIZE
 * when the body or the trailers pass their limit. On errors *reason (if not
 * NULL) gets a static string. Borrows buf: *data points into it.
 */
int http_chunked_next(http_chunked_t *d, const char *buf, size_t len, sioc_iov_t *data,
                      const char **reason);

/** Whether the final CRLF after the last chunk and trailers has been consumed. Borrows d. */
int http_chunked_done(const http_chunked_t *d);

#endif
