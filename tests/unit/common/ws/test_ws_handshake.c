/*
 * Unit tests for common/ws/ws_handshake: Sec-WebSocket-Accept (RFC 6455
 * §1.3 example and others), request validation rule by rule, header token
 * lists, and the 101 response head.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "ws/ws_handshake.h"

static void test_accept_vectors(void **state)
{
    (void)state;
    static const char *const v[][2] = {
        {"dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}, /* RFC 6455 §1.3 */
        {"x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk="},
        {"AQIDBAUGBwgJCgsMDQ4PEA==", "C/0nmHhBztSRGR1CwL6Tf4ZjwpY="},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char out[WS_HANDSHAKE_ACCEPT_LEN + 1];
        memset(out, 'X', sizeof(out));
        ws_handshake_accept(v[i][0], strlen(v[i][0]), out);
        assert_string_equal(out, v[i][1]);
    }
}

static int validate(const char *method, int minor, const char *upgrade, int conn, const char *key,
                    const char *version, const char **reason)
{
    *reason = NULL;
    return ws_handshake_validate(
        iov_make(method, strlen(method)), minor, iov_make(upgrade, strlen(upgrade)), conn,
        iov_make(key, strlen(key)), iov_make(version, strlen(version)), reason);
}

static void test_validate(void **state)
{
    (void)state;
    const char *k = "dGhlIHNhbXBsZSBub25jZQ==", *r;
    assert_int_equal(validate("GET", 1, "websocket", 1, k, "13", &r), 0);
    assert_int_equal(validate("GET", 1, "WebSocket", 1, k, "13", &r), 0);
    assert_int_equal(validate("GET", 1, "h2c, websocket", 1, k, "13", &r), 0);
    assert_int_equal(validate("GET", 2, "websocket", 1, k, "13", &r), 0);

    assert_int_equal(validate("POST", 1, "websocket", 1, k, "13", &r), SIOC_EPROTO);
    assert_non_null(r);
    assert_int_equal(validate("get", 1, "websocket", 1, k, "13", &r), SIOC_EPROTO);
    assert_int_equal(validate("GET", 0, "websocket", 1, k, "13", &r), SIOC_EPROTO);
    assert_int_equal(validate("GET", 1, "", 1, k, "13", &r), SIOC_EPROTO);
    assert_int_equal(validate("GET", 1, "websockets", 1, k, "13", &r), SIOC_EPROTO);
    assert_int_equal(validate("GET", 1, "h2c", 1, k, "13", &r), SIOC_EPROTO);
    assert_int_equal(validate("GET", 1, "websocket", 0, k, "13", &r), SIOC_EPROTO);
    assert_ptr_not_equal(r, ws_handshake_err_version);

    /* Any version but 13 (absent included) is answered with 426. */
    static const char *const versions[] = {"8", "7", "", "14", "13 ", "013"};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        assert_int_equal(validate("GET", 1, "websocket", 1, k, versions[i], &r), SIOC_EPROTO);
        assert_ptr_equal(r, ws_handshake_err_version);
        assert_non_null(strstr(r, "426"));
    }

    static const char *const bad_keys[] = {
        "",
        "dGhlIHNhbXBsZSBub25jZQ=",   /* 23 */
        "dGhlIHNhbXBsZSBub25jZQ===", /* 25 */
        "dGhlIHNhbXBsZSBub25jZQAA",  /* no padding */
        "dGhlIHNhbXBsZSBub25j*Q==",  /* outside the alphabet */
        "dGhlIHNhbXBsZSBub25jZ===",  /* 21 characters + 3 '=' */
        "dGhlIHNhbXBsZSBub25jZQ= =",
        "c2hvcnQ=", /* base64, but of 5 bytes */
    };
    for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
        assert_int_equal(validate("GET", 1, "websocket", 1, bad_keys[i], "13", &r), SIOC_EPROTO);
        assert_ptr_not_equal(r, ws_handshake_err_version);
    }
    assert_int_equal(validate("GET", 1, "websocket", 1, "+/+/+/+/+/+/+/+/+/+/+w==", "13", &r), 0);
}

static void test_has_token(void **state)
{
    (void)state;
    sioc_iov_t up = SIOC_LIT("upgrade");
    assert_true(ws_handshake_has_token(SIOC_LIT("Upgrade"), up));
    assert_true(ws_handshake_has_token(SIOC_LIT("keep-alive, Upgrade"), up));
    assert_true(ws_handshake_has_token(SIOC_LIT("keep-alive,upgrade"), up));
    assert_true(ws_handshake_has_token(SIOC_LIT(" \tUPGRADE \t"), up));
    assert_true(ws_handshake_has_token(SIOC_LIT(",,upgrade,,"), up));
    assert_false(ws_handshake_has_token(SIOC_LIT("upgrades"), up));
    assert_false(ws_handshake_has_token(SIOC_LIT("x-upgrade"), up));
    assert_false(ws_handshake_has_token(SIOC_LIT("keep-alive"), up));
    assert_false(ws_handshake_has_token(SIOC_LIT(""), up));
    assert_false(ws_handshake_has_token(SIOC_IOV_NULL, up));
    assert_false(ws_handshake_has_token(SIOC_LIT(",, ,"), up));
    assert_false(ws_handshake_has_token(SIOC_LIT("up grade"), up));
}

static void test_response(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    assert_int_equal(buf_append_str(&b, "prefix|"), 0);
    assert_int_equal(
        ws_handshake_write_response(&b, SIOC_LIT("dGhlIHNhbXBsZSBub25jZQ=="), SIOC_IOV_NULL), 0);
    const char *want = "prefix|HTTP/1.1 101 Switching Protocols\r\n"
                       "Upgrade: websocket\r\n"
                       "Connection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                       "\r\n";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.base, want, b.len);
    b.len = 0;
    assert_int_equal(ws_handshake_write_response(&b, SIOC_LIT("dGhlIHNhbXBsZSBub25jZQ=="),
                                                 SIOC_LIT("Set-Cookie: io=abc; Path=/\r\n")),
                     0);
    const char *want2 = "HTTP/1.1 101 Switching Protocols\r\n"
                        "Upgrade: websocket\r\n"
                        "Connection: Upgrade\r\n"
                        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                        "Set-Cookie: io=abc; Path=/\r\n"
                        "\r\n";
    assert_int_equal(b.len, strlen(want2));
    assert_memory_equal(b.base, want2, b.len);
    buf_free(&b);
    /* Over the buffer's limit: error, buffer unchanged. */
    sioc_buf_t s = {.limit = 50};
    assert_int_equal(buf_append_str(&s, "x"), 0);
    assert_int_equal(
        ws_handshake_write_response(&s, SIOC_LIT("dGhlIHNhbXBsZSBub25jZQ=="), SIOC_IOV_NULL),
        SIOC_EMSGSIZE);
    assert_int_equal(s.len, 1);
    buf_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_vectors),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_has_token),
        cmocka_unit_test(test_response),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
