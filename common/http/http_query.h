/*
 * http_query.h - query strings, percent-encoding and the Cookie header.
 *
 * Query strings are `application/x-www-form-urlencoded` pairs (WHATWG URL
 * "urlencoded parsing"): `a=b&c=d`, empty segments skipped, a segment without
 * '=' has an empty value. Names are matched after percent-decoding, so
 * `%73id=x` finds `sid`, as Node's querystring does; the first occurrence
 * wins, so a proxy and a worker that both use this module route and serve the
 * same `sid`. Cookies follow RFC 6265 §4.2 / §5.4: `a=b; c=d`, a value may be
 * wrapped in DQUOTEs (stripped), pairs without '=' are ignored (§5.2).
 *
 * Everything returns slices into the caller's input or writes into a
 * caller buffer; nothing allocates. Pure; safe from any thread.
 */
#ifndef SIOC_COMMON_HTTP_HTTP_QUERY_H
#define SIOC_COMMON_HTTP_HTTP_QUERY_H

#include <stddef.h>

#include "base/iov.h"

/**
 * Takes the next `name=value` pair off the front of *rest. Returns 1 with raw
 * (still encoded) slices, or 0 when *rest holds no more pairs. Borrows *rest:
 * the slices point into it.
 */
int http_query_next(sioc_iov_t *rest, sioc_iov_t *name, sioc_iov_t *raw_value);

/**
 * Finds the first parameter whose decoded name equals `name` (NUL-terminated,
 * compared byte for byte). Returns 1 and sets *raw_value (still encoded;
 * decode with http_pct_decode(..., 1)), or 0 when absent. Borrows query.
 */
int http_query_get(sioc_iov_t query, const char *name, sioc_iov_t *raw_value);

/**
 * Percent-decodes `in` into out[0..cap). With plus_as_space, '+' becomes a
 * space (query strings); without, it stays '+' (paths, cookies). Returns the
 * decoded length (never more than in.len), SIOC_EPROTO on a '%' not followed
 * by two hex digits, SIOC_ENOSPC when cap is too small, or SIOC_EMSGSIZE when
 * in.len > INT_MAX. `out` may equal
 * in.base (decoding in place); other overlaps are not allowed. Borrows both.
 */
int http_pct_decode(sioc_iov_t in, char *out, size_t cap, int plus_as_space);

/**
 * Percent-encodes `in` into out[0..cap), leaving only RFC 3986 unreserved
 * bytes (ALPHA DIGIT - . _ ~) as they are and writing %XX (upper-case hex)
 * for the rest. Returns the encoded length (at most 3 * in.len), SIOC_ENOSPC,
 * or SIOC_EMSGSIZE when in.len > INT_MAX / 3. Borrows both; they must not overlap.
 */
int http_pct_encode(sioc_iov_t in, char *out, size_t cap);

/**
 * Takes the next cookie pair off the front of *rest (a Cookie header value).
 * Returns 1 with the name and the value (DQUOTEs stripped), or 0 when none
 * remain. Pairs without '=' and with an empty name are skipped. Borrows *rest.
 */
int http_cookie_next(sioc_iov_t *rest, sioc_iov_t *name, sioc_iov_t *value);

/**
 * Finds the first cookie named `name` (case-sensitive) in a Cookie header
 * value. Returns 1 and sets *value (DQUOTEs stripped, not decoded), or 0.
 * Borrows cookie_header: *value points into it.
 */
int http_cookie_get(sioc_iov_t cookie_header, const char *name, sioc_iov_t *value);

#endif
