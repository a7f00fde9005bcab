/*
 * http_chunked.c - chunked transfer coding decoder (http_chunked.h).
 *
 * A call walks the states below until it has produced one data slice, runs
 * out of bytes, or the body ends. Lines (chunk-size, trailer fields) are
 * consumed only when complete, so a partial line is simply offered again
 * with more bytes; its prefix is still checked on every call so garbage is
 * refused before its CRLF arrives.
 */
#include "http/http_chunked.h"

#include <limits.h>

#include "base/err.h"
#include "base/hex.h"
#include "http/http_parse.h"

const char http_reason_body_too_large[] = "body too large";

enum {
    S_SIZE,      /* expecting a chunk-size line */
    S_DATA,      /* inside chunk data, _remaining > 0 */
    S_DATA_CRLF, /* expecting the CRLF after chunk data */
    S_TRAILER,   /* after the last chunk: trailer fields, then CRLF */
    S_DONE,
};

/* Result of looking at one line: its length with CRLF, or one of these. */
#define LINE_MORE (-3)

static int is_field_char(int c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/*
 * Checks the CRLF at p (p < end). Returns 2, LINE_MORE, or SIOC_EPROTO.
 */
static int crlf_at(const char *p, const char *end, const char **reason)
{
    if (*p == '\n') {
        *reason = "bare LF";
        return SIOC_EPROTO;
    }
    if (*p != '\r') {
        *reason = "expected CRLF";
        return SIOC_EPROTO;
    }
    if (p + 1 == end)
        return LINE_MORE;
    if (p[1] != '\n') {
        *reason = "bare CR";
        return SIOC_EPROTO;
    }
    return 2;
}

/*
 * Parses a chunk-size line at p. Returns its length with CRLF and sets *size,
 * or LINE_MORE / SIOC_EPROTO.
 */
static int parse_size_line(const char *p, const char *end, unsigned long long *size,
                           const char **reason)
{
    const char *q = p;
    const char *lim = end - p > HTTP_CHUNKED_MAX_LINE ? p + HTTP_CHUNKED_MAX_LINE : end;
    unsigned long long n = 0;
    int h;

    while (q < lim && (h = hex_val((unsigned char)*q)) >= 0) {
        if (n > (ULLONG_MAX >> 4)) {
            *reason = "chunk size overflow";
            return SIOC_EPROTO;
        }
        n = n << 4 | (unsigned)h;
        q++;
    }
    if (q == p && q < lim) {
        *reason = "invalid chunk size";
        return SIOC_EPROTO;
    }
    /* chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ), checked loosely */
    while (q < lim && (*q == ' ' || *q == '\t'))
        q++;
    if (q < lim && *q == ';') {
        while (q < lim && is_field_char((unsigned char)*q))
            q++;
    }
    if (q == lim) {
        if (lim != end) {
            *reason = "chunk size line too long";
            return SIOC_EPROTO;
        }
        return LINE_MORE;
    }
    if (*q != '\r' && *q != '\n') {
        *reason = "invalid chunk extension";
        return SIOC_EPROTO;
    }
    int r = crlf_at(q, end, reason);
    if (r < 0)
        return r;
    *size = n;
    return (int)(q - p) + 2;
}

/*
 * Parses one trailer line at p (field line, or the empty line ending the
 * section). Returns its length with CRLF (2 = the empty line), or
 * LINE_MORE / SIOC_EPROTO / SIOC_EMSGSIZE. `budget` bytes may still be used.
 */
static int parse_trailer_line(const char *p, const char *end, size_t budget, const char **reason)
{
    if (*p == '\r' || *p == '\n')
        return crlf_at(p, end, reason);
    if (*p == ' ' || *p == '\t') {
        *reason = "obs-fold in trailer";
        return SIOC_EPROTO;
    }
    const char *lim = (size_t)(end - p) > budget ? p + budget : end;
    const char *q = p;
    while (q < lim && http_is_tchar((unsigned char)*q))
        q++;
    if (q < lim && (*q != ':' || q == p)) {
        *reason = "invalid trailer field";
        return SIOC_EPROTO;
    }
    while (q < lim && is_field_char((unsigned char)*q))
        q++;
    if (q == lim) {
        if (lim != end) {
            *reason = "trailers too large";
            return SIOC_EMSGSIZE;
        }
        return LINE_MORE;
    }
    int r = crlf_at(q, end, reason);
    if (r < 0)
        return r;
    return (int)(q - p) + 2;
}

/*
 * An error at p: report what was consumed before it first. The state was not
 * advanced past p, so the next call meets the same error; this keeps the
 * outcome independent of how the bytes were split.
 */
static int fail(const char *buf, const char *p, int err)
{
    return p != buf ? (int)(p - buf) : err;
}

void http_chunked_init(http_chunked_t *d, unsigned long long max_body)
{
    d->total = 0;
    d->max_body = max_body;
    d->_remaining = 0;
    d->_trailer_bytes = 0;
    d->_state = S_SIZE;
}

int http_chunked_done(const http_chunked_t *d)
{
    return d->_state == S_DONE;
}

int http_chunked_next(http_chunked_t *d, const char *buf, size_t len, sioc_iov_t *data,
                      const char **reason)
{
    const char *dummy_reason;
    if (reason == NULL)
        reason = &dummy_reason;
    if (len == 0) {
        *data = iov_make(buf, 0);
        return d->_state == S_DONE ? 0 : SIOC_INCOMPLETE;
    }
    if (len > INT_MAX)
        len = INT_MAX; /* the return value counts consumed bytes */
    const char *p = buf, *end = buf + len;
    int have_data = 0, stop = 0;
    int r;
    *data = iov_make(buf, 0);

    while (!stop && p < end) {
        switch (d->_state) {
        case S_SIZE: {
            unsigned long long size = 0;
            r = parse_size_line(p, end, &size, reason);
            if (r == LINE_MORE) {
                stop = 1;
                break;
            }
            if (r < 0)
                return fail(buf, p, r);
            if (size > ULLONG_MAX - d->total || (d->max_body && d->total + size > d->max_body)) {
                *reason = http_reason_body_too_large;
                return fail(buf, p, SIOC_EMSGSIZE);
            }
            p += r;
            d->total += size;
            d->_remaining = size;
            d->_state = size ? S_DATA : S_TRAILER;
            break;
        }
        case S_DATA: {
            if (have_data) {
                stop = 1; /* one slice per call */
                break;
            }
            size_t avail = (size_t)(end - p);
            size_t k = d->_remaining < avail ? (size_t)d->_remaining : avail;
            *data = iov_make(p, k);
            have_data = 1;
            p += k;
            d->_remaining -= k;
            if (d->_remaining == 0)
                d->_state = S_DATA_CRLF;
            break;
        }
        case S_DATA_CRLF:
            r = crlf_at(p, end, reason);
            if (r == LINE_MORE) {
                stop = 1;
                break;
            }
            if (r < 0)
                return fail(buf, p, r);
            p += r;
            d->_state = S_SIZE;
            break;
        case S_TRAILER: {
            size_t budget = d->_trailer_bytes < HTTP_CHUNKED_MAX_TRAILER
                                ? HTTP_CHUNKED_MAX_TRAILER - d->_trailer_bytes
                                : 0;
            r = parse_trailer_line(p, end, budget, reason);
            if (r == LINE_MORE) {
                stop = 1;
                break;
            }
            if (r < 0)
                return fail(buf, p, r);
            p += r;
            if (r == 2)
                d->_state = S_DONE;
            else
                d->_trailer_bytes += (size_t)r;
            break;
        }
        default: /* S_DONE: the rest belongs to the next message */
            stop = 1;
            break;
        }
    }
    if (p != buf)
        return (int)(p - buf);
    return d->_state == S_DONE ? 0 : SIOC_INCOMPLETE;
}
