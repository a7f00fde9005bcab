/*
 * Unit tests for common/http/http_resp: response heads, checked by parsing
 * them back with http_parse_response().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/http_parse.h"
#include "http/http_resp.h"

static void assert_buf_str(const sioc_buf_t *b, const char *s)
{
    if (b->len != strlen(s) || memcmp(b->base, s, b->len) != 0) {
        print_error("buffer \"%.*s\" != \"%s\"\n", (int)b->len, b->base ? b->base : "", s);
        fail();
    }
}

static void test_status_text(void **state)
{
    (void)state;
    assert_string_equal(http_status_text(200), "OK");
    assert_string_equal(http_status_text(101), "Switching Protocols");
    assert_string_equal(http_status_text(400), "Bad Request");
    assert_string_equal(http_status_text(403), "Forbidden");
    assert_string_equal(http_status_text(413), "Content Too Large");
    assert_string_equal(http_status_text(431), "Request Header Fields Too Large");
    assert_string_equal(http_status_text(503), "Service Unavailable");
    assert_string_equal(http_status_text(299), "Unknown");
    assert_string_equal(http_status_text(-1), "Unknown");
}

static void test_head_by_steps(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    assert_int_equal(http_resp_status(&b, 200, NULL), 0);
    assert_int_equal(
        http_resp_header(&b, SIOC_LIT("Content-Type"), SIOC_LIT("text/plain; charset=UTF-8")), 0);
    assert_int_equal(http_resp_header_u64(&b, SIOC_LIT("X-N"), 42), 0);
    assert_int_equal(http_resp_end(&b, 2), 0);
    assert_buf_str(&b, "HTTP/1.1 200 OK\r\n"
                       "Content-Type: text/plain; charset=UTF-8\r\n"
                       "X-N: 42\r\n"
                       "Content-Length: 2\r\n"
                       "\r\n");
    buf_reset(&b);
    assert_int_equal(http_resp_status(&b, 101, "Switching Protocols"), 0);
    assert_int_equal(http_resp_end(&b, -1), 0);
    assert_buf_str(&b, "HTTP/1.1 101 Switching Protocols\r\n\r\n");
    buf_reset(&b);
    assert_int_equal(http_resp_status(&b, 599, ""), 0);
    assert_buf_str(&b, "HTTP/1.1 599 \r\n");
    buf_free(&b);
}

static void test_injection_refused(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    assert_int_equal(http_resp_status(&b, 200, NULL), 0);
    size_t len = b.len;
    assert_int_equal(http_resp_header(&b, SIOC_LIT("A"), SIOC_LIT("x\r\nSet-Cookie: evil")),
                     SIOC_EINVAL);
    assert_int_equal(http_resp_header(&b, SIOC_LIT("A"), SIOC_LIT("x\ny")), SIOC_EINVAL);
    assert_int_equal(http_resp_header(&b, SIOC_LIT("A"), iov_make("x\0y", 3)), SIOC_EINVAL);
    assert_int_equal(http_resp_header(&b, SIOC_LIT("A"), SIOC_LIT("x\x7f")), SIOC_EINVAL);
    assert_int_equal(http_resp_header(&b, SIOC_LIT("A B"), SIOC_LIT("x")), SIOC_EINVAL);
    assert_int_equal(http_resp_header(&b, SIOC_LIT("A:"), SIOC_LIT("x")), SIOC_EINVAL);
    assert_int_equal(http_resp_header(&b, SIOC_LIT(""), SIOC_LIT("x")), SIOC_EINVAL);
    assert_int_equal(http_resp_header_u64(&b, SIOC_LIT("A\r\n"), 1), SIOC_EINVAL);
    assert_int_equal(http_resp_status(&b, 200, "OK\r\nX: y"), SIOC_EINVAL);
    assert_int_equal(http_resp_status(&b, 99, NULL), SIOC_EINVAL);
    assert_int_equal(http_resp_status(&b, 1000, NULL), SIOC_EINVAL);
    assert_int_equal(b.len, len);
    /* HTAB and obs-text are allowed in values. */
    assert_int_equal(http_resp_header(&b, SIOC_LIT("A"), SIOC_LIT("x\ty \xc3\xa9")), 0);
    buf_free(&b);
}

static void test_all_or_nothing(void **state)
{
    (void)state;
    /* With a size limit, every failure leaves the buffer as it was. */
    for (size_t limit = 1; limit < 120; limit++) {
        sioc_buf_t b = {.limit = limit};
        assert_int_equal(buf_append(&b, "x", 1), 0);
        http_header_t h[2] = {{SIOC_LIT("Access-Control-Allow-Origin"), SIOC_LIT("http://a")},
                              {SIOC_LIT("Vary"), SIOC_LIT("Origin")}};
        int r = http_resp_head(&b, 200, h, 2, 12, 1);
        if (r) {
            assert_int_equal(r, SIOC_EMSGSIZE);
            assert_int_equal(b.len, 1);
        } else {
            assert_true(b.len > 1);
        }
        size_t before = b.len;
        r = http_resp_simple(&b, 400, SIOC_LIT("application/json"),
                             SIOC_LIT("{\"code\":1,\"message\":\"Session ID unknown\"}"), 0);
        assert_int_equal(b.len == before, r != 0);
        buf_free(&b);
    }
    sioc_buf_t b = {.limit = 30};
    assert_int_equal(http_resp_simple(&b, 200, SIOC_LIT("text/html"), SIOC_LIT("ok"), 1),
                     SIOC_EMSGSIZE);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void test_round_trip(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    const char *body = "{\"code\":1,\"message\":\"Session ID unknown\"}";
    assert_int_equal(
        http_resp_simple(&b, 400, SIOC_LIT("application/json"), iov_make(body, strlen(body)), 0),
        0);
    http_header_t hdrs[8];
    http_response_t res = {.headers = hdrs, .num_headers = 8};
    const char *reason = NULL;
    int n = http_parse_response(b.base, b.len, &res, NULL, &reason);
    assert_true(n > 0);
    assert_int_equal(res.status, 400);
    assert_true(iov_eq(res.reason, SIOC_LIT("Bad Request")));
    assert_true(res.content_length == (long long)strlen(body));
    assert_int_equal(res.keep_alive, 0);
    assert_true(iov_eq(res.content_type, SIOC_LIT("application/json")));
    assert_int_equal(b.len - (size_t)n, strlen(body));
    assert_memory_equal(b.base + n, body, strlen(body));

    buf_reset(&b);
    http_header_t h[3] = {
        {SIOC_LIT("Upgrade"), SIOC_LIT("websocket")},
        {SIOC_LIT("Connection"), SIOC_LIT("Upgrade")},
        {SIOC_LIT("Sec-WebSocket-Accept"), SIOC_LIT("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")}};
    assert_int_equal(http_resp_head(&b, 101, h, 3, -1, 1), 0);
    res.num_headers = 8;
    n = http_parse_response(b.base, b.len, &res, NULL, &reason);
    assert_int_equal(n, (int)b.len);
    assert_int_equal(res.status, 101);
    assert_int_equal(res.upgrade, 1);
    assert_int_equal(res.keep_alive, 1);
    assert_true(res.content_length == -1);
    assert_true(iov_eq(res.sec_websocket_accept, SIOC_LIT("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")));

    buf_reset(&b);
    assert_int_equal(http_resp_simple(&b, 200, SIOC_IOV_NULL, SIOC_IOV_NULL, 1), 0);
    assert_buf_str(&b, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_text),       cmocka_unit_test(test_head_by_steps),
        cmocka_unit_test(test_injection_refused), cmocka_unit_test(test_all_or_nothing),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
