/* Unit tests for proxy/rewrite: forwarded heads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "rewrite.h"

typedef struct {
    http_header_t h[64];
    http_request_t req;
    http_response_t res;
} parsed_t;

static void parse_req(const char *s, size_t len, parsed_t *p)
{
    memset(p, 0, sizeof(*p));
    p->req.headers = p->h;
    p->req.num_headers = 64;
    int r = http_parse_request(s, len, &p->req, NULL, NULL);
    assert_int_equal(r, (int)len);
}

static void parse_res(const char *s, size_t len, parsed_t *p)
{
    memset(p, 0, sizeof(*p));
    p->res.headers = p->h;
    p->res.num_headers = 64;
    int r = http_parse_response(s, len, &p->res, NULL, NULL);
    assert_int_equal(r, (int)len);
}

static size_t count(const http_header_t *h, size_t n, const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (iov_eq_ci(h[i].name, iov_make(name, strlen(name))))
            c++;
    return c;
}

static sioc_iov_t get(const http_header_t *h, size_t n, const char *name)
{
    size_t pos = 0;
    int i = http_header_find(h, n, iov_make(name, strlen(name)), &pos);
    return i < 0 ? SIOC_IOV_NULL : h[i].value;
}

/* An HTTP/1.0 request without Host goes out as HTTP/1.1 with an empty Host (the worker
 * refuses HTTP/1.1 without one); a request with Host keeps exactly one. */
static void test_request_host_added(void **state)
{
    (void)state;
    const char *in = "GET /socket.io/?EIO=4&transport=polling HTTP/1.0\r\n\r\n";
    parsed_t a, b;
    parse_req(in, strlen(in), &a);
    affinity_addr_t peer;
    affinity_addr_parse(SIOC_LIT("192.0.2.1"), &peer);
    rewrite_req_t o = {&peer, 0, 0, 0};
    sioc_buf_t out = {0};
    assert_int_equal(rewrite_request(&out, &a.req, &o), 0);
    parse_req(out.base, out.len, &b);
    assert_int_equal(b.req.minor_version, 1);
    assert_int_equal(count(b.h, b.req.num_headers, "host"), 1);
    assert_non_null(b.req.host.base);
    assert_int_equal(b.req.host.len, 0);
    buf_free(&out);
}

static void test_request_untrusted(void **state)
{
    (void)state;
    const char *in = "POST /socket.io/?EIO=4&sid=w1.x HTTP/1.0\r\nHost: example\r\n"
                     "Connection: keep-alive, X-Secret, Content-Length\r\nKeep-Alive: timeout=5\r\n"
                     "X-Secret: 1\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n"
                     "X-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\nTE: trailers\r\n"
                     "Upgrade: h2c\r\nContent-Length: 3\r\nX-Keep: yes\r\n\r\n";
    parsed_t a, b;
    parse_req(in, strlen(in), &a);
    affinity_addr_t peer;
    affinity_addr_parse(SIOC_LIT("192.0.2.1"), &peer);
    rewrite_req_t o = {&peer, 0, 0, 0};
    sioc_buf_t out = {0};
    assert_int_equal(rewrite_request(&out, &a.req, &o), 0);
    parse_req(out.base, out.len, &b);
    assert_true(iov_eq(b.req.method, SIOC_LIT("POST")));
    assert_true(iov_eq(b.req.target, SIOC_LIT("/socket.io/?EIO=4&sid=w1.x")));
    assert_int_equal(b.req.minor_version, 1);
    assert_true(b.req.keep_alive);
    assert_int_equal(b.req.content_length, 3); /* never dropped through Connection */
    assert_true(iov_eq(get(b.h, b.req.num_headers, "host"), SIOC_LIT("example")));
    assert_true(iov_eq(get(b.h, b.req.num_headers, "x-keep"), SIOC_LIT("yes")));
    assert_true(iov_eq(get(b.h, b.req.num_headers, "x-forwarded-for"), SIOC_LIT("192.0.2.1")));
    assert_true(iov_eq(get(b.h, b.req.num_headers, "x-forwarded-proto"), SIOC_LIT("http")));
    const char *gone[] = {"connection", "keep-alive", "x-secret", "x-real-ip",
                          "forwarded",  "te",         "upgrade"};
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        assert_int_equal(count(b.h, b.req.num_headers, gone[i]), 0);
    assert_int_equal(count(b.h, b.req.num_headers, "x-forwarded-for"), 1);
    assert_int_equal(count(b.h, b.req.num_headers, "x-forwarded-proto"), 1);
    buf_free(&out);
}

static void test_request_trusted_and_upgrade(void **state)
{
    (void)state;
    const char *in = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: h\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                     "X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 10.0.0.9\r\n"
                     "X-Forwarded-Proto: https\r\nX-Real-IP: 198.51.100.1\r\n\r\n";
    parsed_t a, b;
    parse_req(in, strlen(in), &a);
    affinity_addr_t peer;
    affinity_addr_parse(SIOC_LIT("2001:db8::7"), &peer);
    rewrite_req_t o = {&peer, 1, 1, 1};
    sioc_buf_t out = {0};
    assert_int_equal(rewrite_request(&out, &a.req, &o), 0);
    parse_req(out.base, out.len, &b);
    assert_true(b.req.upgrade);
    assert_true(iov_eq(b.req.upgrade_proto, SIOC_LIT("websocket")));
    assert_true(iov_eq(b.req.sec_websocket_key, SIOC_LIT("dGhlIHNhbXBsZSBub25jZQ==")));
    assert_true(iov_eq(get(b.h, b.req.num_headers, "x-forwarded-for"),
                       SIOC_LIT("198.51.100.1, 10.0.0.9, 2001:db8::7")));
    assert_true(iov_eq(get(b.h, b.req.num_headers, "x-forwarded-proto"), SIOC_LIT("https")));
    assert_true(iov_eq(get(b.h, b.req.num_headers, "x-real-ip"), SIOC_LIT("198.51.100.1")));
    assert_int_equal(count(b.h, b.req.num_headers, "x-forwarded-for"), 1);
    /* A capped buffer: all or nothing. */
    sioc_buf_t small = {.limit = 40};
    assert_true(rewrite_request(&small, &a.req, &o) < 0);
    assert_int_equal(small.len, 0);
    buf_free(&small);
    buf_free(&out);
}

static void test_response(void **state)
{
    (void)state;
    const char *in =
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Hop\r\n"
        "Keep-Alive: timeout=5\r\nX-Hop: 1\r\nSet-Cookie: io=abc\r\n"
        "Content-Length: 5\r\n\r\n";
    parsed_t a, b;
    parse_res(in, strlen(in), &a);
    rewrite_res_t o = {SIOC_LIT("sioc_affinity=w1.x; Path=/; HttpOnly; SameSite=Lax"), 1, 0};
    sioc_buf_t out = {0};
    assert_int_equal(rewrite_response(&out, &a.res, &o), 0);
    parse_res(out.base, out.len, &b);
    assert_int_equal(b.res.status, 200);
    assert_int_equal(b.res.content_length, 5);
    assert_false(b.res.keep_alive);
    assert_int_equal(count(b.h, b.res.num_headers, "set-cookie"), 2);
    assert_int_equal(count(b.h, b.res.num_headers, "x-hop"), 0);
    assert_int_equal(count(b.h, b.res.num_headers, "keep-alive"), 0);
    buf_reset(&out);
    /* Chunked framing stays; no close; no cookie. */
    const char *ch = "HTTP/1.1 201 \r\nTransfer-Encoding: chunked\r\n\r\n";
    parse_res(ch, strlen(ch), &a);
    rewrite_res_t o2 = {SIOC_IOV_NULL, 0, 0};
    assert_int_equal(rewrite_response(&out, &a.res, &o2), 0);
    parse_res(out.base, out.len, &b);
    assert_true(b.res.chunked);
    assert_true(b.res.keep_alive);
    assert_true(iov_eq(b.res.reason, SIOC_LIT("Created")));
    buf_reset(&out);
    /* 101 keeps Sec-WebSocket-Accept and announces the upgrade. */
    const char *up =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    parse_res(up, strlen(up), &a);
    rewrite_res_t o3 = {SIOC_IOV_NULL, 0, 1};
    assert_int_equal(rewrite_response(&out, &a.res, &o3), 0);
    parse_res(out.base, out.len, &b);
    assert_int_equal(b.res.status, 101);
    assert_true(b.res.upgrade);
    assert_true(iov_eq(b.res.sec_websocket_accept, SIOC_LIT("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")));
    assert_int_equal(count(b.h, b.res.num_headers, "upgrade"), 1);
    buf_free(&out);
    assert_true(rewrite_is_hop_by_hop(SIOC_LIT("Proxy-Connection")));
    assert_false(rewrite_is_hop_by_hop(SIOC_LIT("Content-Length")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_untrusted),
        cmocka_unit_test(test_request_host_added),
        cmocka_unit_test(test_request_trusted_and_upgrade),
        cmocka_unit_test(test_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
