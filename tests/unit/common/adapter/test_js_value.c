/*
 * Unit tests for common/adapter/js_value: Number.prototype.toString, JSON
 * numbers and dates as JSON.stringify writes them, array-index keys and
 * Buffer.write of UTF-16 units. Expected strings are what Node prints.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "adapter/js_value.h"
#include "base/buf.h"

static void test_js_number(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *s;
    } cases[] = {
        {0, "0"},
        {-0.0, "0"},
        {1, "1"},
        {-1, "-1"},
        {100, "100"},
        {1e20, "100000000000000000000"},
        {1e21, "1e+21"},
        {1.5e21, "1.5e+21"},
        {0.1, "0.1"},
        {0.000001, "0.000001"},
        {1e-7, "1e-7"},
        {1.23e-18, "1.23e-18"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {9007199254740993.0, "9007199254740992"},
        {18446744073709551616.0, "18446744073709552000"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {1.0 / 3, "0.3333333333333333"},
        {-2.5, "-2.5"},
        {123456789012345680000.0, "123456789012345680000"},
        {4.35, "4.35"},
        {0.3, "0.3"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1e300 * 1e10, "Infinity"},
        {-1e300 * 1e10, "-Infinity"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char tmp[40];
        size_t n = js_value_number(cases[i].d, tmp);
        tmp[n] = 0;
        assert_string_equal(tmp, cases[i].s);
    }
    char tmp[40];
    double zero = 0;
    size_t n = js_value_number(zero / zero, tmp);
    assert_int_equal(n, 3);
    assert_memory_equal(tmp, "NaN", 3);
}

static void expect_buf(sioc_buf_t *b, const char *want)
{
    if (b->len != strlen(want) || memcmp(b->base, want, b->len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)b->len, b->base, want);
    buf_reset(b);
}

static void test_json_number_and_date(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    double zero = 0;
    assert_int_equal(js_value_json_number(&b, 1.5), 0);
    expect_buf(&b, "1.5");
    assert_int_equal(js_value_json_number(&b, zero / zero), 0);
    expect_buf(&b, "null");
    assert_int_equal(js_value_json_number(&b, 1 / zero), 0);
    expect_buf(&b, "null");
    /* JSON.stringify(new Date(t)) */
    assert_int_equal(js_value_json_date(&b, 0), 0);
    expect_buf(&b, "\"1970-01-01T00:00:00.000Z\"");
    assert_int_equal(js_value_json_date(&b, 1700000000123.0), 0);
    expect_buf(&b, "\"2023-11-14T22:13:20.123Z\"");
    assert_int_equal(js_value_json_date(&b, -1), 0);
    expect_buf(&b, "\"1969-12-31T23:59:59.999Z\"");
    assert_int_equal(js_value_json_date(&b, 8.64e15), 0);
    expect_buf(&b, "\"+275760-09-13T00:00:00.000Z\"");
    assert_int_equal(js_value_json_date(&b, 8.64e15 + 1), 0);
    expect_buf(&b, "null");
    assert_int_equal(js_value_json_date(&b, zero / zero), 0);
    expect_buf(&b, "null");
    buf_free(&b);
}

static void test_integers(void **state)
{
    (void)state;
    double zero = 0;
    assert_true(js_value_is_integral(3));
    assert_true(js_value_is_integral(-0.0));
    assert_true(js_value_is_integral(1e300));
    assert_false(js_value_is_integral(0.5));
    assert_false(js_value_is_integral(1 / zero));
    assert_false(js_value_is_integral(zero / zero));
    char tmp[24];
    size_t n = js_value_u64(tmp, 18446744073709551615ULL);
    assert_int_equal(n, 20);
    assert_memory_equal(tmp, "18446744073709551615", 20);
    assert_int_equal(js_value_u64(tmp, 0), 1);
    assert_int_equal(tmp[0], '0');
}

static void test_keys(void **state)
{
    (void)state;
    assert_int_equal(js_value_array_index("0", 1), 0);
    assert_int_equal(js_value_array_index("42", 2), 42);
    assert_int_equal(js_value_array_index("4294967294", 10), 4294967294LL);
    assert_int_equal(js_value_array_index("4294967295", 10), -1);
    assert_int_equal(js_value_array_index("01", 2), -1);
    assert_int_equal(js_value_array_index("-1", 2), -1);
    assert_int_equal(js_value_array_index("", 0), -1);
    assert_int_equal(js_value_array_index("1a", 2), -1);
    assert_true(js_value_is_proto("__proto__", 9));
    assert_false(js_value_is_proto("__proto_", 8));
}

typedef struct {
    js_value_member_t m;
    int value;
} rec_t;

static void set(rec_t *r, const char *k, int value)
{
    r->m.key = (const unsigned char *)k;
    r->m.klen = strlen(k);
    r->m.idx = js_value_array_index(k, strlen(k));
    r->value = value;
}

/* Object.keys of an object built from these assignments, in Node:
 * o.b=0; o["2"]=1; o.a=2; o.b=3; o["0"]=4; o.__proto__=5 -> ["0","2","b","a"], b === 3. */
static void test_key_order(void **state)
{
    (void)state;
    rec_t r[6];
    set(&r[0], "b", 0);
    set(&r[1], "2", 1);
    set(&r[2], "a", 2);
    set(&r[3], "b", 3);
    set(&r[4], "0", 4);
    set(&r[5], "__proto__", 5);
    uint32_t ord[6], tmp[6];
    size_t k = js_value_key_order(r, sizeof(rec_t), 6, 1, ord, tmp);
    assert_int_equal(k, 4);
    static const char *want[] = {"0", "2", "b", "a"};
    static const int vals[] = {4, 1, 3, 2};
    for (size_t i = 0; i < k; i++) {
        assert_memory_equal(r[ord[i]].m.key, want[i], strlen(want[i]));
        assert_int_equal(r[ord[i]].value, vals[i]);
    }
    /* JSON.parse keeps "__proto__" as an own key, in insertion order. */
    k = js_value_key_order(r, sizeof(rec_t), 6, 0, ord, tmp);
    assert_int_equal(k, 5);
    assert_int_equal(r[ord[4]].value, 5);
}

/* Buffer.from(str): pairs become 4-byte sequences, lone surrogates U+FFFD. */
static void test_utf16_to_utf8(void **state)
{
    (void)state;
    unsigned char o[32];
    const uint16_t pair[] = {'a', 0xd83d, 0xde00};
    assert_int_equal(js_value_utf16_to_utf8(pair, 3, o, sizeof(o)), 5);
    assert_memory_equal(o, "a\xf0\x9f\x98\x80", 5);
    const uint16_t lone[] = {0xd800, 'x', 0xdc00};
    assert_int_equal(js_value_utf16_to_utf8(lone, 3, o, sizeof(o)), 7);
    assert_memory_equal(o, "\xef\xbf\xbdx\xef\xbf\xbd", 7);
    /* Whole characters only within `max`; NULL counts. */
    assert_int_equal(js_value_utf16_to_utf8(pair, 3, o, 4), 1);
    assert_int_equal(js_value_utf16_to_utf8(pair, 3, NULL, 100), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_js_number),     cmocka_unit_test(test_json_number_and_date),
        cmocka_unit_test(test_integers),      cmocka_unit_test(test_keys),
        cmocka_unit_test(test_utf16_to_utf8), cmocka_unit_test(test_key_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
