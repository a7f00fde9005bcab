/*
 * http_query.c - query strings, percent-encoding and cookies (http_query.h).
 *
 * Name matching decodes on the fly, one byte at a time, so looking up `sid`
 * needs no scratch buffer; a malformed escape in a name simply fails to match.
 */
#include "http/http_query.h"

#include <limits.h>
#include <string.h>

#include "base/err.h"
#include "base/hex.h"

int http_query_next(sioc_iov_t *rest, sioc_iov_t *name, sioc_iov_t *raw_value)
{
    if (rest->len == 0)
        return 0;
    const char *p = rest->base, *end = rest->base + rest->len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *next = amp ? amp + 1 : end;
        if (e == p) {
            p = next; /* empty segment */
            continue;
        }
        const char *eq = memchr(p, '=', (size_t)(e - p));
        if (eq) {
            *name = iov_make(p, (size_t)(eq - p));
            *raw_value = iov_make(eq + 1, (size_t)(e - eq - 1));
        } else {
            *name = iov_make(p, (size_t)(e - p));
            *raw_value = iov_make(e, 0);
        }
        *rest = iov_make(next, (size_t)(end - next));
        return 1;
    }
    *rest = iov_make(end, 0);
    return 0;
}

/* Whether the form-decoded `enc` equals z[0..zlen). */
static int decoded_eq(sioc_iov_t enc, const char *z, size_t zlen)
{
    size_t j = 0;
    for (size_t i = 0; i < enc.len; i++, j++) {
        int c = (unsigned char)enc.base[i];
        if (c == '%') {
            if (enc.len - i < 3)
                return 0;
            int hi = hex_val((unsigned char)enc.base[i + 1]);
            int lo = hex_val((unsigned char)enc.base[i + 2]);
            if (hi < 0 || lo < 0)
                return 0;
            c = hi << 4 | lo;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (j == zlen || (unsigned char)z[j] != c)
            return 0;
    }
    return j == zlen;
}

int http_query_get(sioc_iov_t query, const char *name, sioc_iov_t *raw_value)
{
    size_t zlen = strlen(name);
    sioc_iov_t n, v;
    while (http_query_next(&query, &n, &v)) {
        if (decoded_eq(n, name, zlen)) {
            *raw_value = v;
            return 1;
        }
    }
    return 0;
}

int http_pct_decode(sioc_iov_t in, char *out, size_t cap, int plus_as_space)
{
    if (in.len > INT_MAX)
        return SIOC_EMSGSIZE;
    size_t j = 0;
    for (size_t i = 0; i < in.len; i++) {
        int c = (unsigned char)in.base[i];
        if (c == '%') {
            if (in.len - i < 3)
                return SIOC_EPROTO;
            int hi = hex_val((unsigned char)in.base[i + 1]);
            int lo = hex_val((unsigned char)in.base[i + 2]);
            if (hi < 0 || lo < 0)
                return SIOC_EPROTO;
            c = hi << 4 | lo;
            i += 2;
        } else if (c == '+' && plus_as_space) {
            c = ' ';
        }
        if (j == cap)
            return SIOC_ENOSPC;
        /* j <= i always holds, so decoding in place never overwrites unread input. */
        out[j++] = (char)c;
    }
    return (int)j;
}

static int unreserved(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int http_pct_encode(sioc_iov_t in, char *out, size_t cap)
{
    if (in.len > INT_MAX / 3)
        return SIOC_EMSGSIZE;
    size_t j = 0;
    for (size_t i = 0; i < in.len; i++) {
        int c = (unsigned char)in.base[i];
        if (unreserved(c)) {
            if (cap - j < 1)
                return SIOC_ENOSPC;
            out[j++] = (char)c;
        } else {
            if (cap - j < 3)
                return SIOC_ENOSPC;
            out[j++] = '%';
            out[j++] = hex_upper((unsigned)c >> 4);
            out[j++] = hex_upper((unsigned)c);
        }
    }
    return (int)j;
}

static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *trim_ows_end(const char *s, const char *e)
{
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    return e;
}

int http_cookie_next(sioc_iov_t *rest, sioc_iov_t *name, sioc_iov_t *value)
{
    if (rest->len == 0)
        return 0;
    const char *p = rest->base, *end = rest->base + rest->len;
    while (p < end) {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *e = semi ? semi : end;
        const char *next = semi ? semi + 1 : end;
        const char *s = skip_ows(p, e);
        const char *eq = memchr(s, '=', (size_t)(e - s));
        p = next;
        if (eq == NULL)
            continue;
        const char *ne = trim_ows_end(s, eq);
        if (ne == s)
            continue;
        const char *vs = skip_ows(eq + 1, e);
        const char *ve = trim_ows_end(vs, e);
        if (ve - vs >= 2 && *vs == '"' && ve[-1] == '"') {
            vs++;
            ve--;
        }
        *name = iov_make(s, (size_t)(ne - s));
        *value = iov_make(vs, (size_t)(ve - vs));
        *rest = iov_make(next, (size_t)(end - next));
        return 1;
    }
    *rest = iov_make(end, 0);
    return 0;
}

int http_cookie_get(sioc_iov_t cookie_header, const char *name, sioc_iov_t *value)
{
    sioc_iov_t n, v;
    sioc_iov_t want = iov_make(name, strlen(name));
    while (http_cookie_next(&cookie_header, &n, &v)) {
        if (iov_eq(n, want)) {
            *value = v;
            return 1;
        }
    }
    return 0;
}
