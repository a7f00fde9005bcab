/*
 * http_compress.h - HTTP response compression: the Accept-Encoding choice and one-shot
 * gzip / deflate bodies (RFC 9110 §12.5.3, §8.4.1; RFC 1952 gzip, RFC 1950 zlib).
 *
 * Engine.IO's `httpCompression` in Node (engine.io lib/transports/polling.ts) offers
 * ["gzip", "deflate"] to the `accepts` negotiator and compresses with zlib's createGzip
 * or createDeflate (the zlib format, not raw deflate). http_compress_pick() makes the same
 * choice: the highest q wins; at equal q an exact coding beats "*", then the order of the
 * client's list, then gzip before deflate; q=0 refuses; no header (or no acceptable
 * coding) means identity. http_compress() is zlib at its default level. Pure; any thread.
 */
#ifndef SIOC_COMMON_HTTP_HTTP_COMPRESS_H
#define SIOC_COMMON_HTTP_HTTP_COMPRESS_H

#include <stddef.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/iov.h"

#define HTTP_COMPRESS_NONE 0
#define HTTP_COMPRESS_GZIP 1
#define HTTP_COMPRESS_DEFLATE 2

/** The coding to answer with for an Accept-Encoding value (empty slice: field absent):
 * HTTP_COMPRESS_NONE, _GZIP or _DEFLATE. Borrows the value for the call. */
int http_compress_pick(sioc_iov_t accept_encoding);

/** The Content-Encoding token of `coding` ("gzip", "deflate"), NULL for NONE. */
const char *http_compress_name(int coding);

/**
 * Appends `len` bytes at `in` (borrowed), compressed with `coding` (GZIP or DEFLATE), to
 * `out`. Returns 0, SIOC_ENOMEM / SIOC_EMSGSIZE (from `out`), or SIOC_EINVAL for another
 * coding; on failure `out` keeps its previous length.
 */
SIOC_WUR int http_compress(int coding, const void *in, size_t len, sioc_buf_t *out);

#endif
