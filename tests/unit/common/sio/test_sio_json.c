/*
 * Unit tests for common/sio/sio_json: JSON.stringify-compatible string
 * escaping, including Node's U+FFFD replacement of ill-formed UTF-8, checked
 * against tests/vectors/json/stringify.tsv (written by Node itself, see
 * tests/vectors/json/gen.mjs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "sio/jscan.h"
#include "sio/sio_json.h"

static void expect_escape(const char *in, size_t n, const char *want)
{
    sioc_buf_t b = {0};
    assert_int_equal(sio_json_escape_append(&b, in, n), 0);
    if (b.len != strlen(want) || (b.len && memcmp(b.base, want, b.len) != 0))
        fail_msg("got '%.*s', want '%s'", (int)b.len, b.base, want);
    buf_free(&b);
}

static void test_escapes_like_json_stringify(void **state)
{
    (void)state;
    expect_escape("", 0, "");
    expect_escape("hello world", 11, "hello world");
    expect_escape("a\"b", 3, "a\\\"b");
    expect_escape("a\\b", 3, "a\\\\b");
    expect_escape("/", 1, "/");
    expect_escape("\b\f\n\r\t", 5, "\\b\\f\\n\\r\\t");
    expect_escape("\x00\x01\x1e\x1f", 4, "\\u0000\\u0001\\u001e\\u001f");
    expect_escape("\x7f", 1, "\x7f");
    expect_escape("\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e", 9,
                  "\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e");
    expect_escape("\xe2\x80\xa8", 3, "\xe2\x80\xa8");
    /* Ill-formed UTF-8: each maximal subpart becomes one U+FFFD, as in Node. */
    expect_escape("a\xff"
                  "b",
                  3,
                  "a\xef\xbf\xbd"
                  "b");
    expect_escape("\xc3", 1, "\xef\xbf\xbd");
    expect_escape("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    expect_escape("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd");
    expect_escape("\xe2\x82\x41", 3, "\xef\xbf\xbd\x41");
    expect_escape("\xf0\x9f\x98", 3, "\xef\xbf\xbd");
}

static void test_every_byte_round_trips(void **state)
{
    (void)state;
    /* Each ASCII byte escapes to a string that jscan accepts and decodes back to the byte. */
    for (int c = 0; c < 0x80; c++) {
        char in = (char)c;
        sioc_buf_t b = {0};
        assert_int_equal(sio_json_append_string(&b, &in, 1), 0);
        jscan_value_t v;
        assert_int_equal(jscan_value(b.base, b.len, &v), JSCAN_STRING);
        char out[8];
        assert_int_equal(jscan_string_unescape(v.tok, out, sizeof(out)), 1);
        assert_int_equal(out[0], in);
        buf_free(&b);
    }
    /* Any byte string gives valid JSON. */
    char all[256];
    for (int c = 0; c < 256; c++)
        all[c] = (char)c;
    sioc_buf_t b = {0};
    assert_int_equal(sio_json_append_string(&b, all, sizeof(all)), 0);
    jscan_value_t v;
    assert_int_equal(jscan_value(b.base, b.len, &v), JSCAN_STRING);
    buf_free(&b);
}

static void test_limits_leave_buffer_unchanged(void **state)
{
    (void)state;
    sioc_buf_t b = {.limit = 8};
    assert_int_equal(buf_append_str(&b, "ab"), 0);
    assert_int_equal(sio_json_append_string(&b, "abcdef", 6), SIOC_EMSGSIZE);
    assert_int_equal(sio_json_escape_append(&b, "\n\n\n\n", 4), SIOC_EMSGSIZE);
    assert_int_equal(b.len, 2);
    assert_int_equal(sio_json_append_string(&b, "abcd", 4), 0);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.base, "ab\"abcd\"", 8);
    buf_free(&b);
}

static size_t unhex(const char *h, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i + 1 < n; i += 2) {
        unsigned v;
        assert_int_equal(sscanf(h + i, "%2x", &v), 1);
        out[o++] = (char)v;
    }
    return o;
}

/* Every vector Node wrote: JSON.stringify(Buffer.from(input).toString()). */
static void test_node_vectors(void **state)
{
    (void)state;
    const char *root = getenv("SIOC_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof(path), "%s/vectors/json/stringify.tsv", root ? root : "tests");
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char line[4096], in[1024], want[2048];
    int count = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *name = line, *ih = strchr(name, '\t');
        assert_non_null(ih);
        *ih++ = '\0';
        char *oh = strchr(ih, '\t');
        assert_non_null(oh);
        *oh++ = '\0';
        size_t ol = strcspn(oh, "\r\n");
        size_t inl = unhex(ih, strlen(ih), in), wl = unhex(oh, ol, want);
        sioc_buf_t b = {0};
        assert_int_equal(sio_json_append_string(&b, in, inl), 0);
        if (b.len != wl || memcmp(b.base, want, wl) != 0)
            fail_msg("%s: got '%.*s', Node wrote '%.*s'", name, (int)b.len, b.base, (int)wl, want);
        buf_free(&b);
        count++;
    }
    fclose(f);
    assert_true(count >= 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes_like_json_stringify),
        cmocka_unit_test(test_every_byte_round_trips),
        cmocka_unit_test(test_limits_leave_buffer_unchanged),
        cmocka_unit_test(test_node_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
