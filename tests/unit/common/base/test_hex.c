/* Unit tests for common/base/hex.h: digit values and digit characters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/hex.h"

static void test_hex_val_every_byte(void **state)
{
    (void)state;
    for (unsigned c = 0; c < 256; c++) {
        const char *lo = strchr("0123456789abcdef", (int)c),
                   *up = strchr("0123456789ABCDEF", (int)c);
        int want = c == 0 ? -1
                   : lo   ? (int)(lo - "0123456789abcdef")
                   : up   ? (int)(up - "0123456789ABCDEF")
                          : -1;
        assert_int_equal(hex_val(c), want);
    }
}

static void test_hex_val4(void **state)
{
    (void)state;
    assert_int_equal(hex_val4((const unsigned char *)"0000"), 0);
    assert_int_equal(hex_val4((const unsigned char *)"d83D"), 0xd83d);
    assert_int_equal(hex_val4((const unsigned char *)"FFFF"), 0xffff);
    assert_int_equal(hex_val4((const unsigned char *)"12g4"), -1);
    assert_int_equal(hex_val4((const unsigned char *)"-123"), -1);
}

static void test_hex_digits(void **state)
{
    (void)state;
    for (unsigned v = 0; v < 16; v++) {
        assert_int_equal(hex_val((unsigned char)hex_lower(v)), (int)v);
        assert_int_equal(hex_val((unsigned char)hex_upper(v)), (int)v);
    }
    assert_int_equal(hex_lower(0x1a), 'a');
    assert_int_equal(hex_upper(0x1a), 'A');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_val_every_byte),
        cmocka_unit_test(test_hex_val4),
        cmocka_unit_test(test_hex_digits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
