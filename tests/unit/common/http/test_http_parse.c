/*
 * Unit tests for common/http/http_parse: request and response heads.
 *
 * Every parse goes through check_req()/check_res(), which parse the input
 * whole and then every prefix of it, each copied into an exact-size heap
 * buffer so that ASan catches a read past `len`. Prefix results must be
 * SIOC_INCOMPLETE up to some length and the whole-buffer result from then
 * on, with identical fields. The same loop also drives http_head_ready() the
 * way a server would, and checks that it never hides a finished head.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "http/http_parse.h"

#define MAX_HDRS 32

typedef struct {
    http_request_t req;
    http_header_t hdrs[MAX_HDRS];
    const char *reason;
    int r;
} req_result_t;

typedef struct {
    http_response_t res;
    http_header_t hdrs[MAX_HDRS];
    const char *reason;
    int r;
} res_result_t;

/* Offset of a slice within its buffer, or -1 for a NULL slice. */
static long off(sioc_iov_t v, const char *base)
{
    return v.base ? (long)(v.base - base) : -1;
}

static void assert_iov_same(sioc_iov_t a, const char *abase, sioc_iov_t b, const char *bbase)
{
    assert_int_equal(a.len, b.len);
    if (a.len)
        assert_int_equal(off(a, abase), off(b, bbase));
}

static void assert_iov_inside(sioc_iov_t v, const char *base, size_t len)
{
    if (v.len == 0)
        return;
    assert_true(v.base >= base && v.base + v.len <= base + len);
}

static void assert_iov_str(sioc_iov_t v, const char *s)
{
    if (v.len != strlen(s) || (v.len && memcmp(v.base, s, v.len) != 0)) {
        print_error("slice \"%.*s\" != \"%s\"\n", (int)v.len, v.base ? v.base : "", s);
        fail();
    }
}

static void run_req(const char *buf, size_t len, size_t cap, const http_limits_t *lim,
                    req_result_t *out)
{
    memset(out, 0x5a, sizeof(*out));
    out->req.headers = out->hdrs;
    out->req.num_headers = cap;
    out->reason = NULL;
    out->r = http_parse_request(buf, len, &out->req, lim, &out->reason);
}

static void same_req(const req_result_t *a, const char *abuf, const req_result_t *b,
                     const char *bbuf)
{
    assert_int_equal(a->r, b->r);
    assert_ptr_equal(a->reason, b->reason);
    if (a->r <= 0)
        return;
    const http_request_t *x = &a->req, *y = &b->req;
    assert_iov_same(x->method, abuf, y->method, bbuf);
    assert_iov_same(x->target, abuf, y->target, bbuf);
    assert_iov_same(x->path, abuf, y->path, bbuf);
    assert_iov_same(x->query, abuf, y->query, bbuf);
    assert_int_equal(x->minor_version, y->minor_version);
    assert_int_equal(x->num_headers, y->num_headers);
    for (size_t i = 0; i < x->num_headers; i++) {
        assert_iov_same(x->headers[i].name, abuf, y->headers[i].name, bbuf);
        assert_iov_same(x->headers[i].value, abuf, y->headers[i].value, bbuf);
    }
    assert_true(x->content_length == y->content_length);
    assert_int_equal(x->chunked, y->chunked);
    assert_int_equal(x->keep_alive, y->keep_alive);
    assert_int_equal(x->upgrade, y->upgrade);
    assert_iov_same(x->upgrade_proto, abuf, y->upgrade_proto, bbuf);
    assert_iov_same(x->host, abuf, y->host, bbuf);
    assert_iov_same(x->origin, abuf, y->origin, bbuf);
    assert_iov_same(x->cookie, abuf, y->cookie, bbuf);
    assert_iov_same(x->sec_websocket_key, abuf, y->sec_websocket_key, bbuf);
    assert_iov_same(x->sec_websocket_version, abuf, y->sec_websocket_version, bbuf);
    assert_iov_same(x->content_type, abuf, y->content_type, bbuf);
    assert_iov_same(x->x_forwarded_for, abuf, y->x_forwarded_for, bbuf);
    assert_iov_same(x->x_real_ip, abuf, y->x_real_ip, bbuf);
}

static void check_req_slices(const req_result_t *a, const char *buf, size_t len)
{
    if (a->r <= 0)
        return;
    assert_true((size_t)a->r <= len);
    const http_request_t *x = &a->req;
    size_t n = (size_t)a->r;
    assert_iov_inside(x->method, buf, n);
    assert_iov_inside(x->target, buf, n);
    assert_iov_inside(x->path, buf, n);
    assert_iov_inside(x->query, buf, n);
    for (size_t i = 0; i < x->num_headers; i++) {
        assert_iov_inside(x->headers[i].name, buf, n);
        assert_iov_inside(x->headers[i].value, buf, n);
    }
}

/*
 * Parses `buf` whole (into *out) and byte by byte; returns the result code.
 * The whole result must be `want`, and `want_reason` if not NULL.
 */
static int check_req_lim(const char *buf, size_t len, size_t cap, const http_limits_t *lim,
                         int want, const char *want_reason, req_result_t *out)
{
    run_req(buf, len, cap, lim, out);
    if (out->r != want)
        print_error("whole: got %d (%s), want %d\n", out->r, out->reason ? out->reason : "-", want);
    assert_int_equal(out->r, want);
    if (want_reason)
        assert_string_equal(out->reason, want_reason);
    check_req_slices(out, buf, len);

    int settled = 0;
    size_t last_len = 0;
    int caller_r = SIOC_INCOMPLETE;
    for (size_t k = 0; k <= len; k++) {
        char *copy = malloc(k ? k : 1);
        assert_non_null(copy);
        memcpy(copy, buf, k);
        req_result_t *pr = malloc(sizeof(*pr));
        run_req(copy, k, cap, lim, pr);
        check_req_slices(pr, copy, k);
        if (pr->r == SIOC_INCOMPLETE) {
            assert_false(settled);
        } else {
            settled = 1;
            same_req(pr, copy, out, buf);
        }
        /* A server re-parsing only when http_head_ready() says so. */
        if (caller_r == SIOC_INCOMPLETE && http_head_ready(copy, k, last_len, lim)) {
            caller_r = pr->r;
            last_len = k;
        }
        free(pr);
        free(copy);
    }
    if (want > 0 || want == SIOC_EMSGSIZE)
        assert_int_equal(caller_r, want);
    else
        assert_true(caller_r == want || caller_r == SIOC_INCOMPLETE);
    return out->r;
}

static int check_req(const char *s, int want, const char *want_reason, req_result_t *out)
{
    return check_req_lim(s, strlen(s), MAX_HDRS, NULL, want, want_reason, out);
}

static int req_ok(const char *s, req_result_t *out)
{
    return check_req(s, (int)strlen(s), NULL, out);
}

static void req_bad(const char *s, const char *want_reason)
{
    req_result_t out;
    check_req(s, SIOC_EPROTO, want_reason, &out);
}

/* ---- requests: accepted ---- */

static void test_polling_request(void **state)
{
    (void)state;
    const char *s = "GET /socket.io/?EIO=4&transport=polling&t=PbXz1&sid=abc HTTP/1.1\r\n"
                    "Host: localhost:3000\r\n"
                    "User-Agent: node\r\n"
                    "Accept: */*\r\n"
                    "Origin: http://example.com\r\n"
                    "Cookie: io=abc; sioc=1.x\r\n"
                    "Connection: keep-alive\r\n"
                    "\r\n";
    req_result_t o;
    req_ok(s, &o);
    assert_iov_str(o.req.method, "GET");
    assert_iov_str(o.req.target, "/socket.io/?EIO=4&transport=polling&t=PbXz1&sid=abc");
    assert_iov_str(o.req.path, "/socket.io/");
    assert_iov_str(o.req.query, "EIO=4&transport=polling&t=PbXz1&sid=abc");
    assert_int_equal(o.req.minor_version, 1);
    assert_int_equal(o.req.num_headers, 6);
    assert_iov_str(o.req.headers[1].name, "User-Agent");
    assert_iov_str(o.req.headers[1].value, "node");
    assert_iov_str(o.req.host, "localhost:3000");
    assert_iov_str(o.req.origin, "http://example.com");
    assert_iov_str(o.req.cookie, "io=abc; sioc=1.x");
    assert_true(o.req.content_length == -1);
    assert_int_equal(o.req.chunked, 0);
    assert_int_equal(o.req.keep_alive, 1);
    assert_int_equal(o.req.upgrade, 0);
    assert_int_equal(o.req.upgrade_proto.len, 0);
    assert_int_equal(o.req.sec_websocket_key.len, 0);
    assert_int_equal(o.req.x_forwarded_for.len, 0);
}

static void test_post_request(void **state)
{
    (void)state;
    const char *head = "POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\n"
                       "Host: h\r\n"
                       "Content-Type: text/plain;charset=UTF-8\r\n"
                       "Content-Length: 7\r\n"
                       "\r\n";
    char s[256];
    snprintf(s, sizeof(s), "%s4hello\x1e", head);
    req_result_t o;
    /* The body is not part of the head. */
    check_req_lim(s, strlen(s), MAX_HDRS, NULL, (int)strlen(head), NULL, &o);
    assert_iov_str(o.req.method, "POST");
    assert_true(o.req.content_length == 7);
    assert_iov_str(o.req.content_type, "text/plain;charset=UTF-8");
}

static void test_websocket_upgrade(void **state)
{
    (void)state;
    req_result_t o;
    req_ok("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
           "Host: server.example.com\r\n"
           "Upgrade: websocket\r\n"
           "Connection: keep-alive, Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n"
           "Origin: http://example.com\r\n"
           "\r\n",
           &o);
    assert_int_equal(o.req.upgrade, 1);
    assert_iov_str(o.req.upgrade_proto, "websocket");
    assert_iov_str(o.req.sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    assert_iov_str(o.req.sec_websocket_version, "13");
    assert_int_equal(o.req.keep_alive, 1);

    /* Upgrade without the Connection token, and the token without Upgrade. */
    req_ok("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", &o);
    assert_int_equal(o.req.upgrade, 0);
    assert_iov_str(o.req.upgrade_proto, "websocket");
    req_ok("GET / HTTP/1.1\r\nConnection: upgrade\r\n\r\n", &o);
    assert_int_equal(o.req.upgrade, 0);
    /* Token spread over two Connection fields, odd case and OWS. */
    req_ok("GET / HTTP/1.1\r\nConnection: keep-alive\r\nConnection:\tUPGRADE \r\n"
           "upgrade: WebSocket\r\n\r\n",
           &o);
    assert_int_equal(o.req.upgrade, 1);
    assert_iov_str(o.req.upgrade_proto, "WebSocket");
    /* "upgrades" is not "upgrade". */
    req_ok("GET / HTTP/1.1\r\nConnection: upgrades\r\nUpgrade: websocket\r\n\r\n", &o);
    assert_int_equal(o.req.upgrade, 0);
}

static void test_keep_alive(void **state)
{
    (void)state;
    req_result_t o;
    req_ok("GET / HTTP/1.1\r\n\r\n", &o);
    assert_int_equal(o.req.keep_alive, 1);
    assert_int_equal(o.req.num_headers, 0);
    req_ok("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &o);
    assert_int_equal(o.req.keep_alive, 0);
    req_ok("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n", &o);
    assert_int_equal(o.req.keep_alive, 0);
    req_ok("GET / HTTP/1.0\r\n\r\n", &o);
    assert_int_equal(o.req.minor_version, 0);
    assert_int_equal(o.req.keep_alive, 0);
    req_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &o);
    assert_int_equal(o.req.keep_alive, 1);
    req_ok("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", &o);
    assert_int_equal(o.req.keep_alive, 0);
    /* HTTP/1.9 is treated as 1.1. */
    req_ok("GET / HTTP/1.9\r\n\r\n", &o);
    assert_int_equal(o.req.minor_version, 9);
    assert_int_equal(o.req.keep_alive, 1);
}

static void test_target_split(void **state)
{
    (void)state;
    req_result_t o;
    req_ok("GET /a/b HTTP/1.1\r\n\r\n", &o);
    assert_iov_str(o.req.path, "/a/b");
    assert_int_equal(o.req.query.len, 0);
    req_ok("GET /? HTTP/1.1\r\n\r\n", &o);
    assert_iov_str(o.req.path, "/");
    assert_int_equal(o.req.query.len, 0);
    req_ok("GET /a?b?c=%20&d HTTP/1.1\r\n\r\n", &o);
    assert_iov_str(o.req.path, "/a");
    assert_iov_str(o.req.query, "b?c=%20&d");
    req_ok("OPTIONS * HTTP/1.1\r\n\r\n", &o);
    assert_iov_str(o.req.method, "OPTIONS");
    assert_iov_str(o.req.path, "*");
    req_ok("GET http://h:1/x?y HTTP/1.1\r\n\r\n", &o);
    assert_iov_str(o.req.path, "http://h:1/x");
    assert_iov_str(o.req.query, "y");
}

static void test_field_values(void **state)
{
    (void)state;
    req_result_t o;
    req_ok("GET / HTTP/1.1\r\n"
           "A:   spaced value  \t\r\n"
           "B:\r\n"
           "C: \r\n"
           "D: caf\xc3\xa9 \x80\xff\r\n"
           "E:x\ty\r\n"
           "!#$%&'*+-.^_`|~09azAZ: tchars\r\n"
           "\r\n",
           &o);
    assert_int_equal(o.req.num_headers, 6);
    assert_iov_str(o.req.headers[0].value, "spaced value");
    assert_iov_str(o.req.headers[1].value, "");
    assert_iov_str(o.req.headers[2].value, "");
    assert_iov_str(o.req.headers[3].value, "caf\xc3\xa9 \x80\xff");
    assert_iov_str(o.req.headers[4].value, "x\ty");
    assert_iov_str(o.req.headers[5].name, "!#$%&'*+-.^_`|~09azAZ");
}

static void test_common_fields(void **state)
{
    (void)state;
    req_result_t o;
    req_ok("GET / HTTP/1.1\r\n"
           "X-Forwarded-For: 1.1.1.1\r\n"
           "x-real-ip: 2.2.2.2\r\n"
           "ORIGIN: http://a\r\n"
           "Origin: http://b\r\n"
           "Cookie: a=1\r\n"
           "Cookie: b=2\r\n"
           "content-type: text/plain\r\n"
           "X-Forwarded-For: 3.3.3.3, 4.4.4.4\r\n"
           "Host: h\r\n"
           "\r\n",
           &o);
    assert_iov_str(o.req.x_forwarded_for, "3.3.3.3, 4.4.4.4"); /* last */
    assert_iov_str(o.req.x_real_ip, "2.2.2.2");
    assert_iov_str(o.req.origin, "http://a"); /* first */
    assert_iov_str(o.req.cookie, "a=1");
    assert_iov_str(o.req.content_type, "text/plain");
    assert_iov_str(o.req.host, "h");
    assert_int_equal(o.req.host.len, 1);
}

static void test_content_length_and_chunked(void **state)
{
    (void)state;
    req_result_t o;
    req_ok("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &o);
    assert_true(o.req.content_length == 0);
    req_ok("POST / HTTP/1.1\r\nContent-Length: 00012\r\n\r\n", &o);
    assert_true(o.req.content_length == 12);
    req_ok("POST / HTTP/1.1\r\nContent-Length: 9223372036854775807\r\n\r\n", &o);
    assert_true(o.req.content_length == 9223372036854775807LL);
    /* Identical duplicates are allowed (RFC 9110 §8.6). */
    req_ok("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", &o);
    assert_true(o.req.content_length == 5);
    req_ok("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", &o);
    assert_int_equal(o.req.chunked, 1);
    assert_true(o.req.content_length == -1);
    req_ok("POST / HTTP/1.1\r\ntransfer-encoding:  Chunked \r\n\r\n", &o);
    assert_int_equal(o.req.chunked, 1);
}

static void test_leading_empty_lines(void **state)
{
    (void)state;
    req_result_t o;
    req_ok("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &o);
    assert_iov_str(o.req.method, "GET");
    assert_iov_str(o.req.host, "a");
}

static void test_pipelined(void **state)
{
    (void)state;
    const char *s = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
    req_result_t o;
    check_req_lim(s, strlen(s), MAX_HDRS, NULL, 19, NULL, &o);
    assert_iov_str(o.req.path, "/1");
    check_req_lim(s + 19, strlen(s) - 19, MAX_HDRS, NULL, 19, NULL, &o);
    assert_iov_str(o.req.path, "/2");
}

/* ---- requests: rejected ---- */

static void test_line_endings(void **state)
{
    (void)state;
    req_bad("GET / HTTP/1.1\n\n", "bare LF");
    req_bad("GET / HTTP/1.1\r\nHost: a\n\r\n", "bare LF");
    req_bad("GET / HTTP/1.1\r\nHost: a\r\n\n", "bare LF");
    req_bad("GET / HTTP/1.1\r\n\n", "bare LF");
    req_bad("GET / HTTP/1.1\rX\r\n\r\n", "bare CR");
    req_bad("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", "bare CR");
    req_bad("GET / HTTP/1.1\r\nHost: a\r\n\rX", "bare CR");
    req_bad("\rGET / HTTP/1.1\r\n\r\n", "bare CR");
    req_bad("\nGET / HTTP/1.1\r\n\r\n", "invalid method");
}

static void test_obs_fold(void **state)
{
    (void)state;
    req_bad("GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", NULL);
    req_bad("GET / HTTP/1.1\r\nHost: a\r\n\tb\r\n\r\n", NULL);
    req_bad("GET / HTTP/1.1\r\n Host: a\r\n\r\n", NULL);
}

static void test_bad_method(void **state)
{
    (void)state;
    req_bad(" / HTTP/1.1\r\n\r\n", "invalid method");
    req_bad("G(ET / HTTP/1.1\r\n\r\n", "invalid method");
    req_bad("GET\t/ HTTP/1.1\r\n\r\n", "invalid method");
    req_bad("GE\"T / HTTP/1.1\r\n\r\n", "invalid method");
    req_bad("G\x80T / HTTP/1.1\r\n\r\n", "invalid method");
    req_bad("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "invalid method"); /* TLS hello */
}

static void test_bad_target(void **state)
{
    (void)state;
    req_bad("GET  / HTTP/1.1\r\n\r\n", "invalid request target");
    req_bad("GET /a\x01 HTTP/1.1\r\n\r\n", "invalid request target");
    req_bad("GET /a\x7f HTTP/1.1\r\n\r\n", "invalid request target");
    req_bad("GET /\xc3\xa9 HTTP/1.1\r\n\r\n", "invalid request target");
    req_bad("GET /a\tb HTTP/1.1\r\n\r\n", "invalid request target");
    req_bad("GET /a\r\n\r\n", "invalid request target");
    req_bad("GET /a b HTTP/1.1\r\n\r\n", "invalid HTTP version");
}

static void test_bad_version(void **state)
{
    (void)state;
    req_bad("GET / HTTP/2.0\r\n\r\n", "invalid HTTP version");
    req_bad("GET / HTTP/1.x\r\n\r\n", "invalid HTTP version");
    req_bad("GET / http/1.1\r\n\r\n", "invalid HTTP version");
    req_bad("GET / HTTP/1.\r\n\r\n", "invalid HTTP version");
    req_bad("GET / HTTP/1.10\r\n\r\n", "expected CRLF");
    req_bad("GET / HTTP/1.1 \r\n\r\n", "expected CRLF");
    req_bad("GET /\r\n\r\n", "invalid request target");
}

static void test_bad_field_names(void **state)
{
    (void)state;
    req_bad("GET / HTTP/1.1\r\nHost : a\r\n\r\n", "whitespace before colon");
    req_bad("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", "whitespace before colon");
    req_bad("GET / HTTP/1.1\r\nHo st: a\r\n\r\n", "whitespace before colon");
    req_bad("GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", "invalid field name");
    req_bad("GET / HTTP/1.1\r\nHost@: a\r\n\r\n", "invalid field name");
    req_bad("GET / HTTP/1.1\r\nH\xc3\xa9: a\r\n\r\n", "invalid field name");
    req_bad("GET / HTTP/1.1\r\n: a\r\n\r\n", "empty field name");
    req_bad("GET / HTTP/1.1\r\nHost a\r\n\r\n", "whitespace before colon");
    req_bad("GET / HTTP/1.1\r\nHost\r\n\r\n", "invalid field name");
}

static void test_bad_field_values(void **state)
{
    (void)state;
    req_bad("GET / HTTP/1.1\r\nA: x\x01y\r\n\r\n", "invalid character in field value");
    req_bad("GET / HTTP/1.1\r\nA: x\x7fy\r\n\r\n", "invalid character in field value");
    char nul[] = "GET / HTTP/1.1\r\nA: x_y\r\n\r\n";
    nul[20] = '\0';
    req_result_t o;
    check_req_lim(nul, sizeof(nul) - 1, MAX_HDRS, NULL, SIOC_EPROTO,
                  "invalid character in field value", &o);
}

static void test_framing_conflicts(void **state)
{
    (void)state;
    req_bad("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "both Content-Length and Transfer-Encoding");
    req_bad("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            "both Content-Length and Transfer-Encoding");
    req_bad("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "conflicting Content-Length");
    req_bad(
        "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 05\r\nContent-Length: 6\r\n\r\n",
        "conflicting Content-Length");
    req_bad("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "Transfer-Encoding in HTTP/1.0");
}

static void test_bad_content_length(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "abc",
        "-1",
        "+1",
        "1 2",
        "1,1",
        "1, 1",
        "0x10",
        "1.0",
        "12a",
        "99999999999999999999",
        "9223372036854775808",
        "\xd9\xa1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char s[256];
        snprintf(s, sizeof(s), "POST / HTTP/1.1\r\nContent-Length: %s\r\n\r\n", bad[i]);
        req_bad(s, "invalid Content-Length");
    }
}

static void test_bad_transfer_encoding(void **state)
{
    (void)state;
    static const char *bad[] = {"gzip",     "chunked, gzip", "gzip, chunked",
                                "identity", "chunked;q=1",   "chunkedx",
                                "",         "chunked,"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char s[256];
        snprintf(s, sizeof(s), "POST / HTTP/1.1\r\nTransfer-Encoding: %s\r\n\r\n", bad[i]);
        req_bad(s, "unsupported Transfer-Encoding");
    }
    req_bad("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
            "multiple Transfer-Encoding");
}

static void test_duplicates(void **state)
{
    (void)state;
    req_bad("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "duplicate Host");
    req_bad("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", "duplicate Host");
    req_bad("GET / HTTP/1.1\r\nSec-WebSocket-Key: a\r\nSec-WebSocket-Key: b\r\n\r\n",
            "duplicate Sec-WebSocket-Key");
}

/* ---- limits ---- */

static void test_head_too_large(void **state)
{
    (void)state;
    http_limits_t lim = {.max_head_size = 64, .max_headers = 0};
    const char *head = "GET / HTTP/1.1\r\nA: 0123456789012345678901234567890123\r\n\r\n";
    size_t n = strlen(head); /* 58 */
    req_result_t o;
    check_req_lim(head, n, MAX_HDRS, &lim, (int)n, NULL, &o);
    /* Exactly at the limit is fine, one byte over is not. */
    lim.max_head_size = n;
    check_req_lim(head, n, MAX_HDRS, &lim, (int)n, NULL, &o);
    lim.max_head_size = n - 1;
    check_req_lim(head, n, MAX_HDRS, &lim, SIOC_EMSGSIZE, NULL, &o);
    assert_ptr_equal(o.reason, http_reason_head_too_large);
    /* Incomplete but already over the limit. */
    lim.max_head_size = 20;
    check_req_lim(head, 25, MAX_HDRS, &lim, SIOC_EMSGSIZE, NULL, &o);
    assert_ptr_equal(o.reason, http_reason_head_too_large);
    check_req_lim(head, 20, MAX_HDRS, &lim, SIOC_INCOMPLETE, NULL, &o);
    /* A syntax error inside the window is still reported as such. */
    check_req_lim("GET / HTTP/1.1\r\nA B: 01234567890123", 36, MAX_HDRS, &lim, SIOC_EPROTO,
                  "whitespace before colon", &o);

    /* The default limit. */
    size_t big = HTTP_DEFAULT_MAX_HEAD + 100;
    char *s = malloc(big);
    memset(s, 'a', big);
    memcpy(s, "GET / HTTP/1.1\r\nX: ", 19);
    memcpy(s + big - 4, "\r\n\r\n", 4);
    run_req(s, big, MAX_HDRS, NULL, &o);
    assert_int_equal(o.r, SIOC_EMSGSIZE);
    run_req(s, HTTP_DEFAULT_MAX_HEAD, MAX_HDRS, NULL, &o);
    assert_int_equal(o.r, SIOC_INCOMPLETE);
    run_req(s, HTTP_DEFAULT_MAX_HEAD + 1, MAX_HDRS, NULL, &o);
    assert_int_equal(o.r, SIOC_EMSGSIZE);
    free(s);
}

static void test_too_many_headers(void **state)
{
    (void)state;
    const char *s = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n";
    req_result_t o;
    check_req_lim(s, strlen(s), 5, NULL, (int)strlen(s), NULL, &o);
    assert_int_equal(o.req.num_headers, 5);
    check_req_lim(s, strlen(s), 4, NULL, SIOC_EMSGSIZE, NULL, &o);
    assert_ptr_equal(o.reason, http_reason_too_many_headers);
    http_limits_t lim = {.max_head_size = 0, .max_headers = 2};
    check_req_lim(s, strlen(s), MAX_HDRS, &lim, SIOC_EMSGSIZE, NULL, &o);
    assert_ptr_equal(o.reason, http_reason_too_many_headers);
    check_req_lim(s, strlen(s), 0, NULL, SIOC_EMSGSIZE, NULL, &o);
    /* The array capacity wins over a larger limit. */
    lim.max_headers = 100;
    check_req_lim(s, strlen(s), 4, &lim, SIOC_EMSGSIZE, NULL, &o);
    assert_ptr_equal(o.reason, http_reason_too_many_headers);
    check_req_lim("GET / HTTP/1.1\r\n\r\n", 18, 0, NULL, 18, NULL, &o);
}

/* Every byte value in every position class. */
static void test_byte_classes(void **state)
{
    (void)state;
    static const char tchars[] = "!#$%&'*+-.^_`|~";
    for (int c = 0; c < 256; c++) {
        int is_t = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c != 0 && strchr(tchars, c) != NULL);
        assert_int_equal(http_is_tchar(c), is_t);

        char s[64];
        req_result_t o;
        /* method */
        int n = snprintf(s, sizeof(s), "G%cT / HTTP/1.1\r\n\r\n", c ? c : 'E');
        s[1] = (char)c;
        run_req(s, (size_t)n, MAX_HDRS, NULL, &o);
        if (c == ' ')
            assert_int_equal(o.r, SIOC_EPROTO); /* "G" then target "T" then bad version */
        else
            assert_int_equal(o.r, is_t ? n : SIOC_EPROTO);
        /* field name */
        n = snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nA%cB: v\r\n\r\n", 'x');
        s[17] = (char)c;
        run_req(s, (size_t)n, MAX_HDRS, NULL, &o);
        assert_int_equal(o.r, is_t || c == ':' ? n : SIOC_EPROTO); /* "A:B: v" is fine */
        /* field value */
        n = snprintf(s, sizeof(s), "GET / HTTP/1.1\r\nA: x%cy\r\n\r\n", 'x');
        s[20] = (char)c;
        run_req(s, (size_t)n, MAX_HDRS, NULL, &o);
        int is_v = c == '\t' || (c >= 0x20 && c != 0x7f);
        assert_int_equal(o.r, is_v ? n : SIOC_EPROTO);
        /* target */
        n = snprintf(s, sizeof(s), "GET /%c HTTP/1.1\r\n\r\n", 'x');
        s[5] = (char)c;
        run_req(s, (size_t)n, MAX_HDRS, NULL, &o);
        if (c == ' ')
            assert_int_equal(o.r, SIOC_EPROTO);
        else
            assert_int_equal(o.r, (c > 0x20 && c < 0x7f) ? n : SIOC_EPROTO);
    }
}

/* ---- responses ---- */

static void run_res(const char *buf, size_t len, size_t cap, res_result_t *out)
{
    memset(out, 0x5a, sizeof(*out));
    out->res.headers = out->hdrs;
    out->res.num_headers = cap;
    out->reason = NULL;
    out->r = http_parse_response(buf, len, &out->res, NULL, &out->reason);
}

static void same_res(const res_result_t *a, const char *abuf, const res_result_t *b,
                     const char *bbuf)
{
    assert_int_equal(a->r, b->r);
    assert_ptr_equal(a->reason, b->reason);
    if (a->r <= 0)
        return;
    const http_response_t *x = &a->res, *y = &b->res;
    assert_int_equal(x->minor_version, y->minor_version);
    assert_int_equal(x->status, y->status);
    assert_iov_same(x->reason, abuf, y->reason, bbuf);
    assert_int_equal(x->num_headers, y->num_headers);
    for (size_t i = 0; i < x->num_headers; i++) {
        assert_iov_same(x->headers[i].name, abuf, y->headers[i].name, bbuf);
        assert_iov_same(x->headers[i].value, abuf, y->headers[i].value, bbuf);
    }
    assert_true(x->content_length == y->content_length);
    assert_int_equal(x->chunked, y->chunked);
    assert_int_equal(x->keep_alive, y->keep_alive);
    assert_int_equal(x->upgrade, y->upgrade);
    assert_iov_same(x->upgrade_proto, abuf, y->upgrade_proto, bbuf);
    assert_iov_same(x->content_type, abuf, y->content_type, bbuf);
    assert_iov_same(x->sec_websocket_accept, abuf, y->sec_websocket_accept, bbuf);
}

static int check_res(const char *s, int want, const char *want_reason, res_result_t *out)
{
    size_t len = strlen(s);
    run_res(s, len, MAX_HDRS, out);
    if (out->r != want)
        print_error("whole: got %d (%s), want %d\n", out->r, out->reason ? out->reason : "-", want);
    assert_int_equal(out->r, want);
    if (want_reason)
        assert_string_equal(out->reason, want_reason);
    int settled = 0;
    for (size_t k = 0; k <= len; k++) {
        char *copy = malloc(k ? k : 1);
        memcpy(copy, s, k);
        res_result_t *pr = malloc(sizeof(*pr));
        run_res(copy, k, MAX_HDRS, pr);
        if (pr->r == SIOC_INCOMPLETE) {
            assert_false(settled);
        } else {
            settled = 1;
            same_res(pr, copy, out, s);
        }
        free(pr);
        free(copy);
    }
    return out->r;
}

static void test_response_ok(void **state)
{
    (void)state;
    res_result_t o;
    const char *s = "HTTP/1.1 101 Switching Protocols\r\n"
                    "Upgrade: websocket\r\n"
                    "Connection: Upgrade\r\n"
                    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                    "\r\n";
    check_res(s, (int)strlen(s), NULL, &o);
    assert_int_equal(o.res.status, 101);
    assert_iov_str(o.res.reason, "Switching Protocols");
    assert_int_equal(o.res.upgrade, 1);
    assert_iov_str(o.res.upgrade_proto, "websocket");
    assert_iov_str(o.res.sec_websocket_accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(o.res.num_headers, 3);

    s = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: 2\r\n\r\nok";
    check_res(s, (int)strlen(s) - 2, NULL, &o);
    assert_int_equal(o.res.status, 200);
    assert_true(o.res.content_length == 2);
    assert_iov_str(o.res.content_type, "text/plain; charset=UTF-8");
    assert_int_equal(o.res.keep_alive, 1);
    assert_int_equal(o.res.upgrade, 0);

    s = "HTTP/1.0 200 OK\r\n\r\n";
    check_res(s, (int)strlen(s), NULL, &o);
    assert_int_equal(o.res.keep_alive, 0);
    assert_true(o.res.content_length == -1);

    s = "HTTP/1.1 204\r\n\r\n";
    check_res(s, (int)strlen(s), NULL, &o);
    assert_int_equal(o.res.status, 204);
    assert_int_equal(o.res.reason.len, 0);

    s = "HTTP/1.1 400 \r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    check_res(s, (int)strlen(s), NULL, &o);
    assert_int_equal(o.res.reason.len, 0);
    assert_int_equal(o.res.keep_alive, 0);
    assert_int_equal(o.res.chunked, 1);

    s = "HTTP/1.1 599 Odd \xc3\xa9\tphrase\r\n\r\n";
    check_res(s, (int)strlen(s), NULL, &o);
    assert_iov_str(o.res.reason, "Odd \xc3\xa9\tphrase");
    /* Duplicate Host is a request rule only. */
    s = "HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n";
    check_res(s, (int)strlen(s), NULL, &o);
}

static void test_response_bad(void **state)
{
    (void)state;
    res_result_t o;
    check_res("HTTP/1.1 20 OK\r\n\r\n", SIOC_EPROTO, "invalid status code", &o);
    check_res("HTTP/1.1 099 X\r\n\r\n", SIOC_EPROTO, "invalid status code", &o);
    check_res("HTTP/1.1 2000\r\n\r\n", SIOC_EPROTO, "expected CRLF", &o);
    check_res("HTTP/1.1 200 O\x01K\r\n\r\n", SIOC_EPROTO, "expected CRLF", &o);
    check_res("HTTP/2 200 OK\r\n\r\n", SIOC_EPROTO, "invalid HTTP version", &o);
    check_res("HTTP/1.1  200 OK\r\n\r\n", SIOC_EPROTO, "invalid status code", &o);
    check_res("HTTP/1.1\t200 OK\r\n\r\n", SIOC_EPROTO, "invalid status line", &o);
    check_res("HTTP/1.1 200 OK\n\n", SIOC_EPROTO, "bare LF", &o);
    check_res("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n", SIOC_EPROTO, NULL, &o);
    check_res("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
              SIOC_EPROTO, "both Content-Length and Transfer-Encoding", &o);
    check_res("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", SIOC_EPROTO,
              "conflicting Content-Length", &o);
    check_res("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", SIOC_EPROTO,
              "unsupported Transfer-Encoding", &o);
}

/* ---- helpers ---- */

static void test_null_reason(void **state)
{
    (void)state;
    http_header_t h[2];
    http_request_t req = {.headers = h, .num_headers = 2};
    assert_int_equal(http_parse_request("GET / HTTP/1.1\r\n\n", 17, &req, NULL, NULL), SIOC_EPROTO);
    http_response_t res = {.headers = h, .num_headers = 2};
    assert_int_equal(http_parse_response("HTTP/1.1 200 OK\n", 16, &res, NULL, NULL), SIOC_EPROTO);
    assert_int_equal(http_parse_request(NULL, 0, &req, NULL, NULL), SIOC_INCOMPLETE);
}

static void test_header_helpers(void **state)
{
    (void)state;
    req_result_t o;
    req_ok("GET / HTTP/1.1\r\nA: 1\r\nb: 2\r\na: 3\r\n\r\n", &o);
    size_t pos = 0;
    assert_int_equal(http_header_find(o.req.headers, o.req.num_headers, SIOC_LIT("a"), &pos), 0);
    assert_int_equal(http_header_find(o.req.headers, o.req.num_headers, SIOC_LIT("a"), &pos), 2);
    assert_int_equal(http_header_find(o.req.headers, o.req.num_headers, SIOC_LIT("a"), &pos), -1);
    pos = 0;
    assert_int_equal(http_header_find(o.req.headers, o.req.num_headers, SIOC_LIT("c"), &pos), -1);

    assert_true(http_header_has_token(SIOC_LIT("keep-alive, Upgrade"), SIOC_LIT("upgrade")));
    assert_true(http_header_has_token(SIOC_LIT(" upgrade "), SIOC_LIT("upgrade")));
    assert_true(http_header_has_token(SIOC_LIT(",,upgrade,"), SIOC_LIT("upgrade")));
    assert_false(http_header_has_token(SIOC_LIT("upgrade2"), SIOC_LIT("upgrade")));
    assert_false(http_header_has_token(SIOC_LIT("up grade"), SIOC_LIT("upgrade")));
    assert_false(http_header_has_token(SIOC_LIT(""), SIOC_LIT("upgrade")));
    assert_false(http_header_has_token(SIOC_IOV_NULL, SIOC_LIT("upgrade")));
}

static void test_head_ready(void **state)
{
    (void)state;
    const char *s = "GET / HTTP/1.1\r\nA: b\r\n\r\n";
    size_t n = strlen(s);
    assert_int_equal(http_head_ready(s, 5, 0, NULL), 1); /* first look always parses */
    assert_int_equal(http_head_ready(s, n - 1, n - 2, NULL), 0);
    assert_int_equal(http_head_ready(s, n, n - 1, NULL), 1);
    assert_int_equal(http_head_ready(s, n, 1, NULL), 1);
    assert_int_equal(http_head_ready("GET / HTTP/1.1\n\n", 16, 15, NULL), 1);
    http_limits_t lim = {.max_head_size = 10};
    assert_int_equal(http_head_ready(s, 11, 10, &lim), 1);
    assert_int_equal(http_head_ready(s, 5, 9, NULL), 1); /* buffer shrank: look again */
    assert_int_equal(http_head_ready(s, 10, 9, &lim), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_polling_request),
        cmocka_unit_test(test_post_request),
        cmocka_unit_test(test_websocket_upgrade),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_target_split),
        cmocka_unit_test(test_field_values),
        cmocka_unit_test(test_common_fields),
        cmocka_unit_test(test_content_length_and_chunked),
        cmocka_unit_test(test_leading_empty_lines),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_obs_fold),
        cmocka_unit_test(test_bad_method),
        cmocka_unit_test(test_bad_target),
        cmocka_unit_test(test_bad_version),
        cmocka_unit_test(test_bad_field_names),
        cmocka_unit_test(test_bad_field_values),
        cmocka_unit_test(test_framing_conflicts),
        cmocka_unit_test(test_bad_content_length),
        cmocka_unit_test(test_bad_transfer_encoding),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_head_too_large),
        cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_byte_classes),
        cmocka_unit_test(test_response_ok),
        cmocka_unit_test(test_response_bad),
        cmocka_unit_test(test_null_reason),
        cmocka_unit_test(test_header_helpers),
        cmocka_unit_test(test_head_ready),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
