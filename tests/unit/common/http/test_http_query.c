/* Unit tests for common/http/http_query: query strings, percent-coding, cookies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "http/http_query.h"

static sioc_iov_t S(const char *s)
{
    return iov_make(s, strlen(s));
}

static void assert_iov_str(sioc_iov_t v, const char *s)
{
    if (v.len != strlen(s) || (v.len && memcmp(v.base, s, v.len) != 0)) {
        print_error("slice \"%.*s\" != \"%s\"\n", (int)v.len, v.base ? v.base : "", s);
        fail();
    }
}

static void test_query_iterate(void **state)
{
    (void)state;
    sioc_iov_t rest = S("&a=1&&b=&c&=d&e=f=g&"), n, v;
    assert_int_equal(http_query_next(&rest, &n, &v), 1);
    assert_iov_str(n, "a");
    assert_iov_str(v, "1");
    assert_int_equal(http_query_next(&rest, &n, &v), 1);
    assert_iov_str(n, "b");
    assert_iov_str(v, "");
    assert_int_equal(http_query_next(&rest, &n, &v), 1);
    assert_iov_str(n, "c");
    assert_iov_str(v, "");
    assert_int_equal(http_query_next(&rest, &n, &v), 1);
    assert_iov_str(n, "");
    assert_iov_str(v, "d");
    assert_int_equal(http_query_next(&rest, &n, &v), 1);
    assert_iov_str(n, "e");
    assert_iov_str(v, "f=g");
    assert_int_equal(http_query_next(&rest, &n, &v), 0);
    assert_int_equal(http_query_next(&rest, &n, &v), 0);

    rest = SIOC_IOV_NULL;
    assert_int_equal(http_query_next(&rest, &n, &v), 0);
    rest = S("&&&");
    assert_int_equal(http_query_next(&rest, &n, &v), 0);
}

static void test_query_get(void **state)
{
    (void)state;
    sioc_iov_t q = S("EIO=4&transport=polling&t=PbXz1&sid=abc%2Fd&sid=second"), v;
    assert_int_equal(http_query_get(q, "EIO", &v), 1);
    assert_iov_str(v, "4");
    assert_int_equal(http_query_get(q, "transport", &v), 1);
    assert_iov_str(v, "polling");
    assert_int_equal(http_query_get(q, "sid", &v), 1);
    assert_iov_str(v, "abc%2Fd"); /* raw, first occurrence */
    assert_int_equal(http_query_get(q, "eio", &v), 0);
    assert_int_equal(http_query_get(q, "si", &v), 0);
    assert_int_equal(http_query_get(q, "sidx", &v), 0);
    assert_int_equal(http_query_get(q, "", &v), 0);
    assert_int_equal(http_query_get(SIOC_IOV_NULL, "sid", &v), 0);

    /* Names match after decoding. */
    assert_int_equal(http_query_get(S("%73id=1"), "sid", &v), 1);
    assert_iov_str(v, "1");
    assert_int_equal(http_query_get(S("a+b=2"), "a b", &v), 1);
    assert_int_equal(http_query_get(S("a%2Bb=3"), "a+b", &v), 1);
    assert_int_equal(http_query_get(S("a%2=3&a=4"), "a", &v), 1);
    assert_iov_str(v, "4");
    assert_int_equal(http_query_get(S("a%zz=3"), "a%zz", &v), 0);
    assert_int_equal(http_query_get(S("flag"), "flag", &v), 1);
    assert_iov_str(v, "");
    assert_int_equal(http_query_get(S("=x"), "", &v), 1);
    assert_iov_str(v, "x");
}

static int dec(const char *in, char *out, size_t cap, int plus)
{
    return http_pct_decode(S(in), out, cap, plus);
}

static void test_pct_decode(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(dec("", out, 0, 1), 0);
    assert_int_equal(http_pct_decode(SIOC_IOV_NULL, NULL, 0, 1), 0);
    assert_int_equal(http_pct_encode(SIOC_IOV_NULL, NULL, 0), 0);
    assert_int_equal(dec("abc", out, sizeof(out), 1), 3);
    assert_memory_equal(out, "abc", 3);
    assert_int_equal(dec("a%20b+c%2B%2b", out, sizeof(out), 1), 7);
    assert_memory_equal(out, "a b c++", 7);
    assert_int_equal(dec("a+b", out, sizeof(out), 0), 3);
    assert_memory_equal(out, "a+b", 3);
    assert_int_equal(dec("%00%ff%FF%7f", out, sizeof(out), 0), 4);
    assert_memory_equal(out, "\0\xff\xff\x7f", 4);
    assert_int_equal(dec("%e2%82%AC", out, sizeof(out), 0), 3);
    assert_memory_equal(out, "\xe2\x82\xac", 3);

    assert_int_equal(dec("%", out, sizeof(out), 0), SIOC_EPROTO);
    assert_int_equal(dec("%2", out, sizeof(out), 0), SIOC_EPROTO);
    assert_int_equal(dec("ab%2", out, sizeof(out), 0), SIOC_EPROTO);
    assert_int_equal(dec("%g0", out, sizeof(out), 0), SIOC_EPROTO);
    assert_int_equal(dec("%0g", out, sizeof(out), 0), SIOC_EPROTO);
    assert_int_equal(dec("%%41", out, sizeof(out), 0), SIOC_EPROTO);
    assert_int_equal(dec("% 1", out, sizeof(out), 0), SIOC_EPROTO);
    assert_int_equal(dec("%-1", out, sizeof(out), 0), SIOC_EPROTO);

    /* Capacity is exact. */
    assert_int_equal(dec("a%41c", out, 3, 0), 3);
    assert_int_equal(dec("a%41c", out, 2, 0), SIOC_ENOSPC);
    assert_int_equal(dec("x", NULL, 0, 0), SIOC_ENOSPC);

    /* In place. */
    char buf[] = "a%41%42+c";
    int n = http_pct_decode(iov_make(buf, strlen(buf)), buf, sizeof(buf), 1);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "aAB c", 5);
}

static void test_pct_encode(void **state)
{
    (void)state;
    char out[64];
    int n = http_pct_encode(S("a b/c~d-e_f.g+\xff"), out, sizeof(out));
    assert_int_equal(n, 23);
    assert_memory_equal(out, "a%20b%2Fc~d-e_f.g%2B%FF", 23);
    assert_int_equal(http_pct_encode(S(""), out, 0), 0);
    assert_int_equal(http_pct_encode(S("a"), out, 0), SIOC_ENOSPC);
    assert_int_equal(http_pct_encode(S(" "), out, 2), SIOC_ENOSPC);
    assert_int_equal(http_pct_encode(S(" "), out, 3), 3);

    /* Round trip over every byte value. */
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    char *enc = malloc(3 * 256);
    n = http_pct_encode(iov_make(all, 256), enc, 3 * 256);
    assert_true(n > 256 && n <= 3 * 256);
    char *decd = malloc(256);
    assert_int_equal(http_pct_decode(iov_make(enc, (size_t)n), decd, 256, 1), 256);
    assert_memory_equal(decd, all, 256);
    free(enc);
    free(decd);
}

static void test_cookie(void **state)
{
    (void)state;
    sioc_iov_t c = S("io=abc; sioc=\"1.x\";theme=dark ;  empty=; a=b=c; noeq; =anon; io=second"), v;
    assert_int_equal(http_cookie_get(c, "io", &v), 1);
    assert_iov_str(v, "abc");
    assert_int_equal(http_cookie_get(c, "sioc", &v), 1);
    assert_iov_str(v, "1.x");
    assert_int_equal(http_cookie_get(c, "theme", &v), 1);
    assert_iov_str(v, "dark");
    assert_int_equal(http_cookie_get(c, "empty", &v), 1);
    assert_iov_str(v, "");
    assert_int_equal(http_cookie_get(c, "a", &v), 1);
    assert_iov_str(v, "b=c");
    assert_int_equal(http_cookie_get(c, "noeq", &v), 0);
    assert_int_equal(http_cookie_get(c, "IO", &v), 0); /* case-sensitive */
    assert_int_equal(http_cookie_get(c, "", &v), 0);
    assert_int_equal(http_cookie_get(SIOC_IOV_NULL, "io", &v), 0);
    assert_int_equal(http_cookie_get(S(";;;"), "io", &v), 0);

    /* Quotes: stripped only as a matched pair. */
    assert_int_equal(http_cookie_get(S("q=\"\""), "q", &v), 1);
    assert_iov_str(v, "");
    assert_int_equal(http_cookie_get(S("q=\""), "q", &v), 1);
    assert_iov_str(v, "\"");
    assert_int_equal(http_cookie_get(S("q=\"a"), "q", &v), 1);
    assert_iov_str(v, "\"a");
    assert_int_equal(http_cookie_get(S("q = \"a b\" "), "q", &v), 1);
    assert_iov_str(v, "a b");

    /* Iteration order and skipping. */
    sioc_iov_t rest = S(" a=1;b;=2; c = 3 "), n;
    assert_int_equal(http_cookie_next(&rest, &n, &v), 1);
    assert_iov_str(n, "a");
    assert_iov_str(v, "1");
    assert_int_equal(http_cookie_next(&rest, &n, &v), 1);
    assert_iov_str(n, "c");
    assert_iov_str(v, "3");
    assert_int_equal(http_cookie_next(&rest, &n, &v), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_iterate), cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_pct_decode),    cmocka_unit_test(test_pct_encode),
        cmocka_unit_test(test_cookie),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
