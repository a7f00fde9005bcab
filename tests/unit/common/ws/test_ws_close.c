/*
 * Unit tests for common/ws/ws_close: close codes (Autobahn 7.7 valid, 7.9 and
 * 7.13 invalid), payload shapes (7.3), reason UTF-8 (7.5) and the writer's
 * truncation at a character boundary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/err.h"
#include "base/utf8.h"
#include "ws/ws_close.h"

static void test_code_validity(void **state)
{
    (void)state;
    static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                     1010, 1011, 3000, 3999, 4000, 4999};
    static const unsigned invalid[] = {0,    999,  1004, 1005, 1006,  1015, 1016,
                                       1100, 2000, 2999, 5000, 65535, 65536};
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
        assert_true(ws_close_code_valid(valid[i]));
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        assert_false(ws_close_code_valid(invalid[i]));
    /* The whole space against the rule as stated in the header. */
    for (unsigned c = 0; c < 70000; c++) {
        int want = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
        assert_int_equal(ws_close_code_valid(c), want);
    }
}

static void test_parse_shapes(void **state)
{
    (void)state;
    uint16_t code = 0;
    sioc_iov_t text;
    const char *reason = NULL;
    /* 7.3.1 empty payload */
    assert_int_equal(ws_close_parse((const uint8_t *)"", 0, &code, &text, &reason), 0);
    assert_int_equal(code, WS_CLOSE_NO_STATUS);
    assert_int_equal(text.len, 0);
    /* 7.3.2 one byte */
    assert_int_equal(ws_close_parse((const uint8_t *)"\x03", 1, &code, &text, &reason),
                     SIOC_EPROTO);
    assert_non_null(reason);
    /* 7.3.3 code only */
    assert_int_equal(ws_close_parse((const uint8_t *)"\x03\xe8", 2, &code, &text, &reason), 0);
    assert_int_equal(code, 1000);
    assert_int_equal(text.len, 0);
    /* 7.3.4 code and reason */
    const uint8_t p[] = "\x03\xe8Hello World!";
    assert_int_equal(ws_close_parse(p, sizeof(p) - 1, &code, &text, &reason), 0);
    assert_int_equal(code, 1000);
    assert_true(iov_eq(text, SIOC_LIT("Hello World!")));
    assert_ptr_equal(text.base, (const char *)p + 2);
    /* 7.3.5 123-byte reason: the largest */
    uint8_t big[130];
    big[0] = 0x03;
    big[1] = 0xe8;
    memset(big + 2, '*', sizeof(big) - 2);
    assert_int_equal(ws_close_parse(big, 125, &code, &text, &reason), 0);
    assert_int_equal(text.len, 123);
    /* 7.3.6 126 bytes */
    assert_int_equal(ws_close_parse(big, 126, &code, &text, &reason), SIOC_EPROTO);
    /* 7.5.1 reason with invalid UTF-8: the code is still reported (answer 1007). */
    const uint8_t bad[] =
        "\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64";
    code = 0;
    assert_int_equal(ws_close_parse(bad, sizeof(bad) - 1, &code, &text, &reason), SIOC_EPROTO);
    assert_int_equal(code, 1000);
    assert_true(ws_close_code_valid(code));
    /* A reason cut inside a character is invalid too. */
    assert_int_equal(ws_close_parse((const uint8_t *)"\x03\xe8\xc3", 3, &code, &text, &reason),
                     SIOC_EPROTO);
    /* 7.9.x invalid codes, 7.13 out-of-range ones */
    static const unsigned inv[] = {0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(inv) / sizeof(inv[0]); i++) {
        uint8_t b[2] = {(uint8_t)(inv[i] >> 8), (uint8_t)inv[i]};
        assert_int_equal(ws_close_parse(b, 2, &code, &text, &reason), SIOC_EPROTO);
        assert_int_equal(code, inv[i]);
        assert_false(ws_close_code_valid(code));
    }
}

static void test_write(void **state)
{
    (void)state;
    uint8_t out[WS_CLOSE_MAX_PAYLOAD];
    assert_int_equal(ws_close_write(out, 0, SIOC_LIT("ignored")), 0);
    assert_int_equal(ws_close_write(out, 1000, SIOC_IOV_NULL), 2);
    assert_memory_equal(out, "\x03\xe8", 2);
    assert_int_equal(ws_close_write(out, 4999, SIOC_LIT("bye")), 5);
    assert_memory_equal(out,
                        "\x13\x87"
                        "bye",
                        5);
    /* Round trip. */
    uint16_t code;
    sioc_iov_t text;
    const char *reason;
    assert_int_equal(ws_close_parse(out, 5, &code, &text, &reason), 0);
    assert_int_equal(code, 4999);
    assert_true(iov_eq(text, SIOC_LIT("bye")));
    /* Truncation: 122 ASCII bytes then a 2-byte letter that would straddle 123. */
    char r[200];
    memset(r, 'a', 122);
    memcpy(r + 122, "\xc3\xa9\xc3\xa9", 4);
    size_t n = ws_close_write(out, 1001, iov_make(r, 126));
    assert_int_equal(n, 2 + 122);
    assert_true(utf8_is_valid(out + 2, n - 2));
    /* Exactly 123 fits untouched; a 4-byte character at the edge backs off whole. */
    memset(r, 'b', 123);
    assert_int_equal(ws_close_write(out, 1001, iov_make(r, 123)), 125);
    memset(r, 'c', 121);
    memcpy(r + 121, "\xf0\x9f\x98\x80", 4);
    assert_int_equal(ws_close_write(out, 1001, iov_make(r, 125)), 2 + 121);
    assert_int_equal(ws_close_parse(out, 2 + 121, &code, &text, &reason), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_validity),
        cmocka_unit_test(test_parse_shapes),
        cmocka_unit_test(test_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
