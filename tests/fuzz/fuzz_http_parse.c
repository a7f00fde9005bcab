/*
 * fuzz_http_parse.c - libFuzzer target for http_parse (requests and responses).
 *
 * The input is parsed as a request and as a response. Invariants, each an
 * abort() when broken:
 *  - the result is a byte count <= len, SIOC_INCOMPLETE, SIOC_EPROTO or
 *    SIOC_EMSGSIZE, and errors carry a reason;
 *  - every slice lies inside the consumed head;
 *  - parsing only the first `consumed` bytes (in an exact-size copy) gives the
 *    same result and the same fields; the prefix one byte shorter is
 *    incomplete, and any prefix is either incomplete or gives the whole result;
 *  - field names are non-empty tokens, values hold no CR/LF/CTL and no
 *    surrounding OWS; path + '?' + query rebuild the target;
 *  - semantics are consistent (never both chunked and a Content-Length);
 *  - writing the head back in canonical form and parsing it again gives the
 *    same method, target, fields and semantics;
 *  - http_head_ready() never hides a complete head.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "http/http_parse.h"
#include "tests/fuzz/fuzz_check.h"

#define CAP 64

static void check_inside(sioc_iov_t v, const char *base, size_t n)
{
    if (v.len)
        CHECK(v.base >= base && v.base + v.len <= base + n);
}

static int same_bytes(sioc_iov_t a, sioc_iov_t b)
{
    return iov_eq(a, b);
}

static int same_off(sioc_iov_t a, const char *ab, sioc_iov_t b, const char *bb)
{
    return a.len == b.len && (a.len == 0 || a.base - ab == b.base - bb);
}

static void check_result_code(int r, size_t len, const char *reason)
{
    CHECK(r == SIOC_INCOMPLETE || r == SIOC_EPROTO || r == SIOC_EMSGSIZE || r > 0);
    if (r > 0)
        CHECK((size_t)r <= len);
    if (r == SIOC_EPROTO || r == SIOC_EMSGSIZE)
        CHECK(reason != NULL);
}

static void check_fields(const http_header_t *h, size_t n, const char *base, size_t consumed)
{
    for (size_t i = 0; i < n; i++) {
        check_inside(h[i].name, base, consumed);
        check_inside(h[i].value, base, consumed);
        CHECK(h[i].name.len > 0);
        for (size_t j = 0; j < h[i].name.len; j++)
            CHECK(http_is_tchar((unsigned char)h[i].name.base[j]));
        for (size_t j = 0; j < h[i].value.len; j++) {
            unsigned char c = (unsigned char)h[i].value.base[j];
            CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (h[i].value.len) {
            char first = h[i].value.base[0], last = h[i].value.base[h[i].value.len - 1];
            CHECK(first != ' ' && first != '\t' && last != ' ' && last != '\t');
        }
    }
}

/* ---- requests ---- */

typedef struct {
    http_request_t req;
    http_header_t hdrs[CAP];
    const char *reason;
    int r;
} req_out_t;

static void parse_req(const char *buf, size_t len, const http_limits_t *lim, req_out_t *o)
{
    memset(o, 0, sizeof(*o));
    o->req.headers = o->hdrs;
    o->req.num_headers = CAP;
    o->r = http_parse_request(buf, len, &o->req, lim, &o->reason);
    check_result_code(o->r, len, o->reason);
}

static int req_same(const req_out_t *a, const char *ab, const req_out_t *b, const char *bb)
{
    if (a->r != b->r || a->reason != b->reason)
        return 0;
    if (a->r <= 0)
        return 1;
    const http_request_t *x = &a->req, *y = &b->req;
    if (!same_off(x->method, ab, y->method, bb) || !same_off(x->target, ab, y->target, bb) ||
        !same_off(x->path, ab, y->path, bb) || !same_off(x->query, ab, y->query, bb) ||
        x->minor_version != y->minor_version || x->num_headers != y->num_headers)
        return 0;
    for (size_t i = 0; i < x->num_headers; i++)
        if (!same_off(x->headers[i].name, ab, y->headers[i].name, bb) ||
            !same_off(x->headers[i].value, ab, y->headers[i].value, bb))
            return 0;
    return x->content_length == y->content_length && x->chunked == y->chunked &&
           x->keep_alive == y->keep_alive && x->upgrade == y->upgrade &&
           same_off(x->upgrade_proto, ab, y->upgrade_proto, bb) &&
           same_off(x->host, ab, y->host, bb) && same_off(x->origin, ab, y->origin, bb) &&
           same_off(x->cookie, ab, y->cookie, bb) &&
           same_off(x->sec_websocket_key, ab, y->sec_websocket_key, bb) &&
           same_off(x->sec_websocket_version, ab, y->sec_websocket_version, bb) &&
           same_off(x->content_type, ab, y->content_type, bb) &&
           same_off(x->x_forwarded_for, ab, y->x_forwarded_for, bb) &&
           same_off(x->x_real_ip, ab, y->x_real_ip, bb);
}

/* Parses buf[0..k) from an exact-size copy; checks it against the whole result. */
static void check_req_prefix(const char *buf, size_t k, const http_limits_t *lim,
                             const req_out_t *whole, int must_be_incomplete)
{
    char *copy = malloc(k ? k : 1);
    memcpy(copy, buf, k);
    req_out_t *o = malloc(sizeof(*o));
    parse_req(copy, k, lim, o);
    if (must_be_incomplete)
        CHECK(o->r == SIOC_INCOMPLETE);
    else
        CHECK(o->r == SIOC_INCOMPLETE || req_same(o, copy, whole, buf));
    free(o);
    free(copy);
}

/* Writes the head in canonical form; returns its length. */
static size_t write_req(const http_request_t *q, char *out)
{
    size_t n = 0;
    memcpy(out + n, q->method.base, q->method.len);
    n += q->method.len;
    out[n++] = ' ';
    memcpy(out + n, q->target.base, q->target.len);
    n += q->target.len;
    n += (size_t)sprintf(out + n, " HTTP/1.%d\r\n", q->minor_version);
    for (size_t i = 0; i < q->num_headers; i++) {
        memcpy(out + n, q->headers[i].name.base, q->headers[i].name.len);
        n += q->headers[i].name.len;
        out[n++] = ':';
        out[n++] = ' ';
        memcpy(out + n, q->headers[i].value.base, q->headers[i].value.len);
        n += q->headers[i].value.len;
        out[n++] = '\r';
        out[n++] = '\n';
    }
    out[n++] = '\r';
    out[n++] = '\n';
    return n;
}

static void fuzz_request(const char *buf, size_t len)
{
    static const http_limits_t lim = {.max_head_size = 4096, .max_headers = 0};
    req_out_t *o = malloc(sizeof(*o));
    parse_req(buf, len, &lim, o);
    int r = o->r;

    /* Any prefix is incomplete or agrees; one spot check per input. */
    if (len)
        check_req_prefix(buf, len / 2 + (len & 1), &lim, o, 0);

    if (r > 0) {
        size_t n = (size_t)r;
        const http_request_t *q = &o->req;
        check_inside(q->method, buf, n);
        check_inside(q->target, buf, n);
        check_inside(q->path, buf, n);
        check_inside(q->query, buf, n);
        check_inside(q->upgrade_proto, buf, n);
        check_inside(q->host, buf, n);
        check_inside(q->x_forwarded_for, buf, n);
        CHECK(n >= 4 && memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
        CHECK(q->method.len > 0 && q->target.len > 0);
        for (size_t j = 0; j < q->method.len; j++)
            CHECK(http_is_tchar((unsigned char)q->method.base[j]));
        CHECK(q->num_headers <= CAP);
        check_fields(q->headers, q->num_headers, buf, n);
        /* path ['?' query] == target */
        CHECK(q->path.base == q->target.base);
        if (q->path.len == q->target.len)
            CHECK(q->query.len == 0);
        else
            CHECK(q->path.len + 1 + q->query.len == q->target.len &&
                  q->target.base[q->path.len] == '?' &&
                  memchr(q->path.base, '?', q->path.len) == NULL);
        CHECK(q->minor_version >= 0 && q->minor_version <= 9);
        CHECK(!(q->chunked && q->content_length >= 0));
        CHECK(q->content_length >= -1);
        CHECK(q->upgrade == 0 || q->upgrade_proto.base != NULL);

        /* The consumed bytes alone give the same result; one fewer is incomplete. */
        check_req_prefix(buf, n, &lim, o, 0);
        check_req_prefix(buf, n - 1, &lim, o, 1);
        CHECK(http_head_ready(buf, n, n - 1, &lim) == 1);

        /* Canonical round trip. */
        size_t cap = 2 * n + 64;
        char *canon = malloc(cap);
        size_t cn = write_req(q, canon);
        CHECK(cn <= cap);
        http_limits_t big = {.max_head_size = cap, .max_headers = 0};
        req_out_t *o2 = malloc(sizeof(*o2));
        parse_req(canon, cn, &big, o2);
        CHECK(o2->r == (int)cn);
        const http_request_t *q2 = &o2->req;
        CHECK(same_bytes(q->method, q2->method) && same_bytes(q->target, q2->target) &&
              same_bytes(q->query, q2->query) && q->minor_version == q2->minor_version &&
              q->num_headers == q2->num_headers);
        for (size_t i = 0; i < q->num_headers; i++)
            CHECK(same_bytes(q->headers[i].name, q2->headers[i].name) &&
                  same_bytes(q->headers[i].value, q2->headers[i].value));
        CHECK(q->content_length == q2->content_length && q->chunked == q2->chunked &&
              q->keep_alive == q2->keep_alive && q->upgrade == q2->upgrade &&
              same_bytes(q->host, q2->host) && same_bytes(q->cookie, q2->cookie) &&
              same_bytes(q->x_forwarded_for, q2->x_forwarded_for));
        free(o2);
        free(canon);
    } else if (r == SIOC_EMSGSIZE) {
        CHECK(o->reason == http_reason_head_too_large || o->reason == http_reason_too_many_headers);
    }
    free(o);
}

/* ---- responses ---- */

typedef struct {
    http_response_t res;
    http_header_t hdrs[CAP];
    const char *reason;
    int r;
} res_out_t;

static void parse_res(const char *buf, size_t len, res_out_t *o)
{
    memset(o, 0, sizeof(*o));
    o->res.headers = o->hdrs;
    o->res.num_headers = CAP;
    o->r = http_parse_response(buf, len, &o->res, NULL, &o->reason);
    check_result_code(o->r, len, o->reason);
}

static int res_same(const res_out_t *a, const char *ab, const res_out_t *b, const char *bb)
{
    if (a->r != b->r || a->reason != b->reason)
        return 0;
    if (a->r <= 0)
        return 1;
    const http_response_t *x = &a->res, *y = &b->res;
    if (x->status != y->status || x->minor_version != y->minor_version ||
        !same_off(x->reason, ab, y->reason, bb) || x->num_headers != y->num_headers)
        return 0;
    for (size_t i = 0; i < x->num_headers; i++)
        if (!same_off(x->headers[i].name, ab, y->headers[i].name, bb) ||
            !same_off(x->headers[i].value, ab, y->headers[i].value, bb))
            return 0;
    return x->content_length == y->content_length && x->chunked == y->chunked &&
           x->keep_alive == y->keep_alive && x->upgrade == y->upgrade &&
           same_off(x->sec_websocket_accept, ab, y->sec_websocket_accept, bb);
}

static void fuzz_response(const char *buf, size_t len)
{
    res_out_t *o = malloc(sizeof(*o));
    parse_res(buf, len, o);
    if (o->r > 0) {
        size_t n = (size_t)o->r;
        const http_response_t *s = &o->res;
        CHECK(s->status >= 100 && s->status <= 999);
        check_inside(s->reason, buf, n);
        check_fields(s->headers, s->num_headers, buf, n);
        CHECK(!(s->chunked && s->content_length >= 0));

        char *copy = malloc(n);
        memcpy(copy, buf, n);
        res_out_t *o2 = malloc(sizeof(*o2));
        parse_res(copy, n, o2);
        CHECK(res_same(o2, copy, o, buf));
        parse_res(copy, n - 1, o2);
        CHECK(o2->r == SIOC_INCOMPLETE);
        free(o2);
        free(copy);
    }
    free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_request((const char *)data, size);
    fuzz_response((const char *)data, size);
    return 0;
}
