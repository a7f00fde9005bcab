/*
 * Unit tests for common/sio/jscan: a JSONTestSuite-style corpus of accepted
 * (y_), rejected (n_) and implementation-defined (i_) inputs, the walker,
 * iteration, strings, numbers and placeholders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "sio/jscan.h"

#define LEN(s) (sizeof(s) - 1)
#define CASE(s)                                                                                    \
    {                                                                                              \
        s, LEN(s)                                                                                  \
    }

typedef struct {
    const char *s;
    size_t n;
} bytes_t;

/* A heap copy of exactly n bytes, so that ASan catches any read past the input. */
static char *exact(const char *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    assert_non_null(c);
    memcpy(c, p, n);
    return c;
}

static int value_of(const char *s, size_t n, jscan_value_t *v)
{
    char *c = exact(s, n);
    int r = jscan_value(c, n, v);
    if (r > 0) {
        assert_true(v->tok.base >= c && v->tok.base + v->tok.len <= c + n);
        v->tok.base = s + (v->tok.base - c);
    } else {
        assert_int_equal(r, SIOC_EPROTO);
        assert_non_null(v->reason);
        assert_true(v->err_off <= n);
    }
    free(c);
    return r;
}

/* Accepted: the values RFC 8259 allows, including the corner cases. */
static const bytes_t y_cases[] = {
    CASE("[]"),
    CASE("{}"),
    CASE("[[]]"),
    CASE("[{}]"),
    CASE("{\"a\":[]}"),
    CASE("[1]"),
    CASE("[1,2,3]"),
    CASE("[-0]"),
    CASE("[0]"),
    CASE("[-1]"),
    CASE("[1.5]"),
    CASE("[1E2]"),
    CASE("[1e+2]"),
    CASE("[1e-2]"),
    CASE("[1E-0002]"),
    CASE("[0.000001]"),
    CASE("[-0.0e0]"),
    CASE("[123456789012345678901234567890]"),
    CASE("[1e400]"),
    CASE("[-123.456e-789]"),
    CASE("[9223372036854775808]"),
    CASE("0"),
    CASE("-0"),
    CASE("42"),
    CASE("\"\""),
    CASE("\"a\""),
    CASE("true"),
    CASE("false"),
    CASE("null"),
    CASE(" [] "),
    CASE("\t\n\r [ \t\n\r1 \t\n\r, \t\n\r2 \t\n\r] \t\n\r"),
    CASE("{\"a\":1}"),
    CASE("{ \"a\" : 1 , \"b\" : 2 }"),
    CASE("{\"a\":1,\"a\":2}"),
    CASE("{\"\":0}"),
    CASE("{\"a\":{\"b\":{\"c\":[1,{\"d\":null}]}}}"),
    CASE("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"),
    CASE("[\"\\u0000\"]"),
    CASE("[\"\\u0041\\u00e9\\u20AC\"]"),
    CASE("[\"\\uD834\\uDD1E\"]"),
    CASE("[\"\\uFFFF\"]"),
    CASE("[\"\\uFDD0\"]"),
    CASE("[\"\xc3\xa9\"]"),
    CASE("[\"\xe2\x82\xac\"]"),
    CASE("[\"\xf0\x9d\x84\x9e\"]"),
    CASE("[\"\xef\xbf\xbf\"]"),
    CASE("[\"\xf4\x8f\xbf\xbf\"]"),
    CASE("[\"\x7f\"]"),
    CASE("[\"/\"]"),
    CASE("[\"a b\"]"),
    CASE("[\"\xe2\x80\xa8\xe2\x80\xa9\"]"),
    CASE("[true,false,null]"),
    CASE("[[[[[[[[[[1]]]]]]]]]]"),
    CASE("[\"message\",1,\"2\",{\"3\":[true]}]"),
    CASE("[\"baz\",{\"_placeholder\":true,\"num\":0}]"),
    CASE("{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,"
         "\"pingTimeout\":20000,\"maxPayload\":1000000}"),
    CASE("[1,[2,[3,{\"4\":[5]}]]]"),
    CASE("{\"a\":[{},[],\"\",0,true,false,null]}"),
    CASE("[0e1]"),
    CASE("[0.1e1]"),
    CASE("[1E+0]"),
    CASE("\"\\u002c\""),
};

/* Rejected: syntax errors, non-JSON extensions, bad strings, bad UTF-8. */
static const bytes_t n_cases[] = {
    CASE(""),
    CASE(" "),
    CASE("\t\n"),
    CASE("["),
    CASE("]"),
    CASE("{"),
    CASE("}"),
    CASE("[}"),
    CASE("{]"),
    CASE("[1"),
    CASE("[1,"),
    CASE("[1,]"),
    CASE("[,1]"),
    CASE("[,]"),
    CASE("[1 2]"),
    CASE("[1,,2]"),
    CASE("{,}"),
    CASE("{\"a\"}"),
    CASE("{\"a\":}"),
    CASE("{\"a\" 1}"),
    CASE("{\"a\":1,}"),
    CASE("{,\"a\":1}"),
    CASE("{\"a\":1 \"b\":2}"),
    CASE("{a:1}"),
    CASE("{'a':1}"),
    CASE("{1:1}"),
    CASE("{null:1}"),
    CASE("{\"a\"::1}"),
    CASE("[]]"),
    CASE("[][]"),
    CASE("{}{}"),
    CASE("1 2"),
    CASE("[1]x"),
    CASE("\"a\"\"b\""),
    CASE("[01]"),
    CASE("[00]"),
    CASE("[-]"),
    CASE("[-01]"),
    CASE("[+1]"),
    CASE("[.1]"),
    CASE("[1.]"),
    CASE("[1.e1]"),
    CASE("[1e]"),
    CASE("[1e+]"),
    CASE("[1E-]"),
    CASE("[0x1]"),
    CASE("[0x]"),
    CASE("[1_000]"),
    CASE("[NaN]"),
    CASE("[Infinity]"),
    CASE("[-Infinity]"),
    CASE("[- 1]"),
    CASE("[1.0.0]"),
    CASE("[1e1e1]"),
    CASE("[--1]"),
    CASE("[tru]"),
    CASE("[truex]"),
    CASE("[True]"),
    CASE("[nul]"),
    CASE("[NULL]"),
    CASE("[fals]"),
    CASE("[undefined]"),
    CASE("t"),
    CASE("nulll"),
    CASE("\""),
    CASE("\"abc"),
    CASE("[\"abc]"),
    CASE("'a'"),
    CASE("[\"\\\"]"),
    CASE("[\"\\x41\"]"),
    CASE("[\"\\a\"]"),
    CASE("[\"\\'\"]"),
    CASE("[\"\\u\"]"),
    CASE("[\"\\u00\"]"),
    CASE("[\"\\u00G0\"]"),
    CASE("[\"\\u12\"]"),
    CASE("[\"\\U0041\"]"),
    CASE("[\"\\\"]"),
    CASE("\"\\"),
    CASE("\"\\u004"),
    CASE("[\"\t\"]"),
    CASE("[\"\n\"]"),
    CASE("[\"\x00\"]"),
    CASE("[\"\x1f\"]"),
    CASE("[\"\x80\"]"),
    CASE("[\"\xbf\"]"),
    CASE("[\"\xc0\x80\"]"),
    CASE("[\"\xc1\xbf\"]"),
    CASE("[\"\xc3\"]"),
    CASE("[\"\xc3\x28\"]"),
    CASE("[\"\xe0\x80\x80\"]"),
    CASE("[\"\xe0\x9f\xbf\"]"),
    CASE("[\"\xed\xa0\x80\"]"),
    CASE("[\"\xed\xbf\xbf\"]"),
    CASE("[\"\xe2\x82\"]"),
    CASE("[\"\xf0\x80\x80\x80\"]"),
    CASE("[\"\xf0\x8f\xbf\xbf\"]"),
    CASE("[\"\xf4\x90\x80\x80\"]"),
    CASE("[\"\xf5\x80\x80\x80\"]"),
    CASE("[\"\xff\"]"),
    CASE("[\"\xfe\"]"),
    CASE("[\"\xf0\x9d\x84\"]"),
    CASE("\xef\xbb\xbf[]"),
    CASE("[\xc3\xa9]"),
    CASE("[1]\x00"),
    CASE("\x00[1]"),
    CASE("[1,\x00 2]"),
    CASE("[\f1]"),
    CASE("[\v1]"),
    CASE("[\xc2\xa0"
         "1]"),
    CASE("/* c */ []"),
    CASE("[] // c"),
    CASE("[1,]"),
    CASE("{\"a\":1}}"),
    CASE("[\"a\",]"),
    CASE("[[]"),
    CASE("[[]]]"),
    CASE("{\"a\":[}"),
    CASE("{\"a\":{]}"),
    CASE("[\"a\":1]"),
    CASE("{\"a\",1}"),
    CASE("[-1.5e]"),
    CASE("[1e+-1]"),
    CASE("[\"\\uD834\\uDD1E\\\"]"),
    CASE("[\"a\"\x1e]"),
    CASE("\x1e"),
    CASE("[1]\x1e"),
};

/* Implementation-defined; documented choices in jscan.h. */
static const bytes_t i_accept[] = {
    CASE("[\"\\uD800\"]"),
    CASE("[\"\\uDFFF\"]"),
    CASE("[\"\\uDBFF\\uDBFF\"]"),
    CASE("[\"\\uDC00\\uD800\"]"),
    CASE("[\"\\uD800\\u0041\"]"),
    CASE("[1e999999]"),
    CASE("[-1e999999]"),
    CASE("[1e-999999]"),
    CASE("[100000000000000000000000000000000000001]"),
    CASE("[\"\xef\xbf\xbe\"]"),
    CASE("[\"\\u0000\\u0000\"]"),
};

static void test_corpus_accept(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(y_cases) / sizeof(y_cases[0]); i++) {
        jscan_value_t v;
        int r = value_of(y_cases[i].s, y_cases[i].n, &v);
        if (r <= 0)
            fail_msg("y_case %zu rejected: %s at %zu", i, v.reason, v.err_off);
        assert_int_equal(r, v.kind);
    }
    for (size_t i = 0; i < sizeof(i_accept) / sizeof(i_accept[0]); i++) {
        jscan_value_t v;
        if (value_of(i_accept[i].s, i_accept[i].n, &v) <= 0)
            fail_msg("i_case %zu rejected: %s", i, v.reason);
    }
}

static void test_corpus_reject(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(n_cases) / sizeof(n_cases[0]); i++) {
        jscan_value_t v;
        int r = value_of(n_cases[i].s, n_cases[i].n, &v);
        if (r != SIOC_EPROTO)
            fail_msg("n_case %zu accepted", i);
    }
}

/*
 * Byte by byte: every proper prefix of an accepted value that ends before the
 * value does is rejected (numbers aside: "12" starts with "1"), every prefix
 * that holds the whole value is accepted, and none reads past its end.
 */
static void test_corpus_prefixes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(y_cases) / sizeof(y_cases[0]); i++) {
        const bytes_t *c = &y_cases[i];
        jscan_value_t full, v;
        int kind = value_of(c->s, c->n, &full);
        assert_true(kind > 0);
        size_t end = (size_t)(full.tok.base - c->s) + full.tok.len;
        for (size_t k = 0; k < c->n; k++) {
            int r = value_of(c->s, k, &v);
            if (k >= end)
                assert_int_equal(r, kind);
            else if (kind != JSCAN_NUMBER)
                assert_int_equal(r, SIOC_EPROTO);
        }
    }
}

static void test_kinds_and_slices(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int kind;
        const char *tok;
    } cases[] = {
        {" {\"a\":1} ", JSCAN_OBJECT, "{\"a\":1}"},
        {"\n[1, 2]\t", JSCAN_ARRAY, "[1, 2]"},
        {" \"x\" ", JSCAN_STRING, "\"x\""},
        {"-1.5e3 ", JSCAN_NUMBER, "-1.5e3"},
        {"true", JSCAN_TRUE, "true"},
        {" false", JSCAN_FALSE, "false"},
        {"null\r\n", JSCAN_NULL, "null"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        jscan_value_t v;
        assert_int_equal(value_of(cases[i].s, strlen(cases[i].s), &v), cases[i].kind);
        assert_int_equal(v.tok.len, strlen(cases[i].tok));
        assert_memory_equal(v.tok.base, cases[i].tok, v.tok.len);
        assert_int_equal(jscan_token_kind(v.tok), cases[i].kind);
    }
    assert_int_equal(jscan_token_kind(SIOC_LIT("x")), 0);
    assert_int_equal(jscan_token_kind(SIOC_IOV_NULL), 0);
}

static void test_error_reports(void **state)
{
    (void)state;
    jscan_value_t v;
    assert_int_equal(value_of("[1,]", 4, &v), SIOC_EPROTO);
    assert_int_equal(v.err_off, 3);
    assert_int_equal(value_of("[1] x", 5, &v), SIOC_EPROTO);
    assert_int_equal(v.err_off, 4);
    assert_string_equal(v.reason, "trailing characters after the value");
    assert_int_equal(value_of("[\"a\x01\"]", 5, &v), SIOC_EPROTO);
    assert_int_equal(v.err_off, 3);
    assert_int_equal(value_of("", 0, &v), SIOC_EPROTO);
    assert_int_equal(v.err_off, 0);
    assert_int_equal(v.tok.len, 0);
}

static void test_depth_limit(void **state)
{
    (void)state;
    char buf[2 * (JSCAN_MAX_DEPTH + 1) + 8];
    jscan_value_t v;
    size_t d = JSCAN_MAX_DEPTH;
    memset(buf, '[', d);
    memset(buf + d, ']', d);
    assert_int_equal(value_of(buf, 2 * d, &v), JSCAN_ARRAY);
    d = JSCAN_MAX_DEPTH + 1;
    memset(buf, '[', d);
    memset(buf + d, ']', d);
    assert_int_equal(value_of(buf, 2 * d, &v), SIOC_EPROTO);
    assert_string_equal(v.reason, "nesting too deep");
    assert_int_equal(v.err_off, JSCAN_MAX_DEPTH);
    /* Objects count too. */
    char obj[8 * (JSCAN_MAX_DEPTH + 1) + 8];
    size_t n = 0;
    for (int i = 0; i < JSCAN_MAX_DEPTH; i++)
        n += (size_t)sprintf(obj + n, "{\"a\":");
    n += (size_t)sprintf(obj + n, "1");
    for (int i = 0; i < JSCAN_MAX_DEPTH; i++)
        obj[n++] = '}';
    assert_int_equal(value_of(obj, n, &v), JSCAN_OBJECT);
    /* A huge unclosed nest fails fast and cleanly. */
    char deep[100000];
    memset(deep, '[', sizeof(deep));
    assert_int_equal(value_of(deep, sizeof(deep), &v), SIOC_EPROTO);
}

typedef struct {
    char log[512];
    size_t n;
    int stop_at;
    int seen;
} walk_log_t;

static int log_event(const jscan_event_t *ev, void *data)
{
    walk_log_t *w = data;
    static const char *names[] = {"?", "B", "E", "K", "S"};
    w->n += (size_t)snprintf(w->log + w->n, sizeof(w->log) - w->n, "%s%u:%.*s ", names[ev->type],
                             ev->depth, (int)ev->tok.len, ev->tok.base);
    if (++w->seen == w->stop_at)
        return SIOC_ECANCELED;
    return 0;
}

static void test_walk_events(void **state)
{
    (void)state;
    walk_log_t w = {.stop_at = -1};
    jscan_value_t v;
    const char *s = " {\"a\":[1,{\"b\":null}],\"c\":\"x\"} ";
    assert_int_equal(jscan_walk(s, strlen(s), &v, log_event, &w), JSCAN_OBJECT);
    assert_string_equal(w.log, "B0:{ K1:\"a\" B1:[ S2:1 B2:{ K3:\"b\" S3:null E2:{\"b\":null} "
                               "E1:[1,{\"b\":null}] K1:\"c\" S1:\"x\" "
                               "E0:{\"a\":[1,{\"b\":null}],\"c\":\"x\"} ");
    walk_log_t w2 = {.stop_at = -1};
    assert_int_equal(jscan_walk("7", 1, &v, log_event, &w2), JSCAN_NUMBER);
    assert_string_equal(w2.log, "S0:7 ");
    /* A callback can stop the walk with its own code. */
    walk_log_t w3 = {.stop_at = 3};
    assert_int_equal(jscan_walk(s, strlen(s), &v, log_event, &w3), SIOC_ECANCELED);
    assert_int_equal(w3.seen, 3);
    assert_non_null(v.reason);
}

static void test_iterate_array_and_object(void **state)
{
    (void)state;
    jscan_value_t v;
    const char *s = "[ \"message\" , 1,\"2\",{\"3\":[true]} ]";
    assert_int_equal(jscan_value(s, strlen(s), &v), JSCAN_ARRAY);
    jscan_iter_t it;
    sioc_iov_t key, val;
    assert_int_equal(jscan_iter_init(&it, v.tok), 0);
    assert_int_equal(jscan_next(&it, &key, &val), JSCAN_STRING);
    assert_int_equal(key.len, 0);
    assert_true(iov_eq(val, SIOC_LIT("\"message\"")));
    assert_int_equal(jscan_next(&it, &key, &val), JSCAN_NUMBER);
    assert_true(iov_eq(val, SIOC_LIT("1")));
    assert_int_equal(jscan_next(&it, NULL, &val), JSCAN_STRING);
    assert_true(iov_eq(val, SIOC_LIT("\"2\"")));
    assert_int_equal(jscan_next(&it, &key, &val), JSCAN_OBJECT);
    assert_true(iov_eq(val, SIOC_LIT("{\"3\":[true]}")));
    /* Nested iteration over the element. */
    jscan_iter_t in;
    sioc_iov_t k2, v2;
    assert_int_equal(jscan_iter_init(&in, val), 0);
    assert_int_equal(jscan_next(&in, &k2, &v2), JSCAN_ARRAY);
    assert_true(iov_eq(k2, SIOC_LIT("\"3\"")));
    assert_true(iov_eq(v2, SIOC_LIT("[true]")));
    assert_int_equal(jscan_next(&in, &k2, &v2), 0);
    assert_int_equal(jscan_next(&in, &k2, &v2), 0);
    assert_int_equal(jscan_next(&it, &key, &val), 0);
    assert_int_equal(jscan_next(&it, &key, &val), 0);

    /* Empty containers, with and without space. */
    assert_int_equal(jscan_iter_init(&it, SIOC_LIT("[ ]")), 0);
    assert_int_equal(jscan_next(&it, &key, &val), 0);
    assert_int_equal(jscan_iter_init(&it, SIOC_LIT("{}")), 0);
    assert_int_equal(jscan_next(&it, &key, &val), 0);
    /* Not a container. */
    assert_int_equal(jscan_iter_init(&it, SIOC_LIT("1")), SIOC_EINVAL);
    assert_int_equal(jscan_iter_init(&it, SIOC_IOV_NULL), SIOC_EINVAL);
    /* Bytes after the closing bracket are never looked at. */
    assert_int_equal(jscan_iter_init(&it, SIOC_LIT("[1] garbage")), 0);
    assert_int_equal(jscan_next(&it, &key, &val), JSCAN_NUMBER);
    assert_int_equal(jscan_next(&it, &key, &val), 0);
}

static void test_iterate_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {"[1,]",       "[1 2]",     "[",         "[1",
                                "[1,",        "{\"a\" 1}", "{\"a\":}",  "{1:2}",
                                "{\"a\":1,}", "[01]",      "[\"\\x\"]", "{\"a\":1 \"b\":2}",
                                "[,"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = strlen(bad[i]);
        char *c = exact(bad[i], n);
        jscan_iter_t it;
        sioc_iov_t key, val;
        int r;
        assert_int_equal(jscan_iter_init(&it, iov_make(c, n)), 0);
        int guard = 0;
        while ((r = jscan_next(&it, &key, &val)) > 0)
            assert_true(++guard < 10);
        assert_int_equal(r, SIOC_EPROTO);
        assert_int_equal(jscan_next(&it, &key, &val), SIOC_EPROTO);
        free(c);
    }
}

static void expect_unescape(const char *tok, const char *want, size_t want_len)
{
    char out[64];
    size_t n = strlen(tok);
    char *c = exact(tok, n);
    assert_int_equal(jscan_string_unescape(iov_make(c, n), out, sizeof(out)), (int)want_len);
    assert_memory_equal(out, want, want_len);
    assert_int_equal(out[want_len], '\0');
    /* cap = str.len - 1 is always enough; one less than needed fails. */
    assert_int_equal(jscan_string_unescape(iov_make(c, n), out, n - 1), (int)want_len);
    assert_int_equal(jscan_string_unescape(iov_make(c, n), out, want_len), SIOC_ENOSPC);
    assert_true(jscan_string_eq_iov(iov_make(c, n), iov_make(want, want_len)));
    if (want_len > 0)
        assert_false(jscan_string_eq_iov(iov_make(c, n), iov_make(want, want_len - 1)));
    free(c);
}

static void test_string_unescape(void **state)
{
    (void)state;
    expect_unescape("\"\"", "", 0);
    expect_unescape("\"abc\"", "abc", 3);
    expect_unescape("\"a\\\"b\\\\c\\/d\"", "a\"b\\c/d", 7);
    expect_unescape("\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t", 5);
    expect_unescape("\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6);
    expect_unescape("\"\\uD834\\uDD1E\"", "\xf0\x9d\x84\x9e", 4);
    expect_unescape("\"\\ud834\\udd1e\"", "\xf0\x9d\x84\x9e", 4);
    expect_unescape("\"x\\u0000y\"", "x\0y", 3);
    expect_unescape("\"\xc3\xa9\"", "\xc3\xa9", 2);
    /* Lone surrogates become U+FFFD. */
    expect_unescape("\"\\uD800\"", "\xef\xbf\xbd", 3);
    expect_unescape("\"\\uDC00\"", "\xef\xbf\xbd", 3);
    expect_unescape("\"\\uD800\\u0041\"",
                    "\xef\xbf\xbd"
                    "A",
                    4);
    expect_unescape("\"\\uD800\\uD800\\uDC00\"", "\xef\xbf\xbd\xf0\x90\x80\x80", 7);
    expect_unescape("\"\\uDC00\\uD800\"", "\xef\xbf\xbd\xef\xbf\xbd", 6);
    expect_unescape("\"\\uD800x\"", "\xef\xbf\xbdx", 4);
    expect_unescape("\"\\uD800\\n\"", "\xef\xbf\xbd\n", 4);

    char out[16];
    assert_int_equal(jscan_string_unescape(SIOC_LIT("abc"), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(jscan_string_unescape(SIOC_LIT("\"abc"), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(jscan_string_unescape(SIOC_LIT("\"a\"b\""), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(jscan_string_unescape(SIOC_LIT("\"\\x\""), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(jscan_string_unescape(SIOC_LIT("\"\xff\""), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(jscan_string_unescape(SIOC_LIT("\"\""), out, 0), SIOC_ENOSPC);
    assert_int_equal(jscan_string_unescape(SIOC_LIT("\"ab\""), out, 2), SIOC_ENOSPC);
}

static void test_string_eq(void **state)
{
    (void)state;
    assert_true(jscan_string_eq(SIOC_LIT("\"connect\""), "connect"));
    assert_true(jscan_string_eq(SIOC_LIT("\"\\u0063onnect\""), "connect"));
    assert_true(jscan_string_eq(SIOC_LIT("\"\\u005fplaceholder\""), "_placeholder"));
    assert_true(jscan_string_eq(SIOC_LIT("\"\""), ""));
    assert_false(jscan_string_eq(SIOC_LIT("\"connect\""), "connec"));
    assert_false(jscan_string_eq(SIOC_LIT("\"connect\""), "connectx"));
    assert_false(jscan_string_eq(SIOC_LIT("\"conn\\u0065ct\""), "connec"));
    assert_false(jscan_string_eq(SIOC_LIT("\"conn\\u0065ct\""), "connectt"));
    assert_false(jscan_string_eq(SIOC_LIT("\"a\""), ""));
    assert_false(jscan_string_eq(SIOC_LIT("\"\\u0061\""), ""));
    assert_false(jscan_string_eq(SIOC_LIT("connect"), "connect"));
    assert_false(jscan_string_eq(SIOC_LIT("\"connect"), "connect"));
    assert_false(jscan_string_eq(SIOC_LIT("\"a\x01\""), "a\x01"));
    assert_true(jscan_string_eq_iov(SIOC_LIT("\"a\\u0000b\""), SIOC_LIT("a\0b")));
    assert_false(jscan_string_eq_iov(SIOC_LIT("\"a\\u0000b\""), SIOC_LIT("a")));
    assert_true(jscan_string_eq_iov(SIOC_LIT("\"\""), SIOC_IOV_NULL));
}

static void test_numbers(void **state)
{
    (void)state;
    long long ll;
    assert_int_equal(jscan_number_ll(SIOC_LIT("0"), &ll), 0);
    assert_int_equal(ll, 0);
    assert_int_equal(jscan_number_ll(SIOC_LIT("-0"), &ll), 0);
    assert_int_equal(ll, 0);
    assert_int_equal(jscan_number_ll(SIOC_LIT("12345"), &ll), 0);
    assert_int_equal(ll, 12345);
    assert_int_equal(jscan_number_ll(SIOC_LIT("-42"), &ll), 0);
    assert_int_equal(ll, -42);
    assert_int_equal(jscan_number_ll(SIOC_LIT("9223372036854775807"), &ll), 0);
    assert_true(ll == LLONG_MAX);
    assert_int_equal(jscan_number_ll(SIOC_LIT("-9223372036854775808"), &ll), 0);
    assert_true(ll == LLONG_MIN);
    assert_int_equal(jscan_number_ll(SIOC_LIT("9223372036854775808"), &ll), -ERANGE);
    assert_int_equal(jscan_number_ll(SIOC_LIT("-9223372036854775809"), &ll), -ERANGE);
    assert_int_equal(jscan_number_ll(SIOC_LIT("99999999999999999999999"), &ll), -ERANGE);
    assert_int_equal(jscan_number_ll(SIOC_LIT("1.0"), &ll), SIOC_EINVAL);
    assert_int_equal(jscan_number_ll(SIOC_LIT("1e2"), &ll), SIOC_EINVAL);
    assert_int_equal(jscan_number_ll(SIOC_LIT("1E2"), &ll), SIOC_EINVAL);
    assert_int_equal(jscan_number_ll(SIOC_LIT("01"), &ll), SIOC_EINVAL);
    assert_int_equal(jscan_number_ll(SIOC_LIT("1 "), &ll), SIOC_EINVAL);
    assert_int_equal(jscan_number_ll(SIOC_LIT("\"1\""), &ll), SIOC_EINVAL);
    assert_int_equal(jscan_number_ll(SIOC_IOV_NULL, &ll), SIOC_EINVAL);
    assert_int_equal(jscan_number_ll(SIOC_LIT("-"), &ll), SIOC_EINVAL);

    double d;
    assert_int_equal(jscan_number_double(SIOC_LIT("1.5"), &d), 0);
    assert_true(d == 1.5);
    assert_int_equal(jscan_number_double(SIOC_LIT("-2.5e3"), &d), 0);
    assert_true(d == -2500.0);
    assert_int_equal(jscan_number_double(SIOC_LIT("123456789012345678901234567890"), &d), 0);
    assert_true(d > 1.2e29 && d < 1.3e29);
    assert_int_equal(jscan_number_double(SIOC_LIT("1e400"), &d), -ERANGE);
    assert_int_equal(jscan_number_double(SIOC_LIT("-1e400"), &d), -ERANGE);
    assert_int_equal(jscan_number_double(SIOC_LIT("1e-400"), &d), 0);
    assert_true(d >= 0.0 && d < 1e-300);
    assert_int_equal(jscan_number_double(SIOC_LIT("1."), &d), SIOC_EINVAL);
    assert_int_equal(jscan_number_double(SIOC_LIT("0x10"), &d), SIOC_EINVAL);
    assert_int_equal(jscan_number_double(SIOC_LIT("inf"), &d), SIOC_EINVAL);
    char big[600];
    memset(big, '1', sizeof(big));
    assert_int_equal(jscan_number_double(iov_make(big, sizeof(big)), &d), SIOC_EINVAL);
    assert_int_equal(jscan_number_double(iov_make(big, 300), &d), 0);
}

static void test_placeholder(void **state)
{
    (void)state;
    unsigned num = 99;
    assert_int_equal(jscan_is_placeholder(SIOC_LIT("{\"_placeholder\":true,\"num\":0}"), &num), 1);
    assert_int_equal(num, 0);
    assert_int_equal(jscan_is_placeholder(SIOC_LIT("{\"num\":7,\"_placeholder\":true}"), &num), 1);
    assert_int_equal(num, 7);
    assert_int_equal(
        jscan_is_placeholder(SIOC_LIT("{ \"_placeholder\" : true , \"num\" : 12 }"), &num), 1);
    assert_int_equal(num, 12);
    assert_int_equal(
        jscan_is_placeholder(SIOC_LIT("{\"\\u005fplaceholder\":true,\"n\\u0075m\":3}"), &num), 1);
    assert_int_equal(num, 3);
    assert_int_equal(
        jscan_is_placeholder(SIOC_LIT("{\"_placeholder\":true,\"num\":4294967295}"), &num), 1);
    assert_int_equal(num, 4294967295u);

    /* Plain data: not an object, or no `_placeholder: true`. */
    static const char *plain[] = {
        "[]",
        "1",
        "\"_placeholder\"",
        "{}",
        "{\"num\":0}",
        "{\"_placeholder\":false,\"num\":0}",
        "{\"_placeholder\":1,\"num\":0}",
        "{\"_placeholder\":\"true\",\"num\":0}",
        "{\"_placeholder\":null}",
        "{\"_Placeholder\":true,\"num\":0}",
        "{\"_placeholder\":true,\"_placeholder\":false,\"num\":0}",
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        assert_int_equal(jscan_is_placeholder(iov_make(plain[i], strlen(plain[i])), &num), 0);

    /* Marked but not a valid placeholder. */
    static const char *bad[] = {
        "{\"_placeholder\":true}",
        "{\"_placeholder\":true,\"num\":-1}",
        "{\"_placeholder\":true,\"num\":1.0}",
        "{\"_placeholder\":true,\"num\":1e0}",
        "{\"_placeholder\":true,\"num\":\"0\"}",
        "{\"_placeholder\":true,\"num\":null}",
        "{\"_placeholder\":true,\"num\":[0]}",
        "{\"_placeholder\":true,\"num\":4294967296}",
        "{\"_placeholder\":true,\"num\":0,\"x\":1}",
        "{\"x\":1,\"_placeholder\":true,\"num\":0}",
        "{\"_placeholder\":true,\"num\":0,\"num\":1}",
        "{\"_placeholder\":true,\"x\":0}",
        "{\"_placeholder\":true,\"num\":0",
        "{\"_placeholder\":true,\"num\":01}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(jscan_is_placeholder(iov_make(bad[i], strlen(bad[i])), &num), SIOC_EPROTO);
}

/* Token functions and the prefix walk, used by code that embeds JSON in its own loop. */
static void test_tokens_and_prefix(void **state)
{
    (void)state;
    const char *why = NULL;
    assert_int_equal(jscan_ws(" \t\r\nx", 5), 4);
    assert_int_equal(jscan_ws("\v", 1), 0);
    assert_int_equal(jscan_string_token("\"a\\u00e9\\\"\",1", 12, &why), 11);
    assert_int_equal(jscan_string_token("\"\xe2\x82\"", 4, &why), 0);
    assert_string_equal(why, "invalid UTF-8 in string");
    assert_int_equal(jscan_string_token("\"abc", 4, &why), 0);
    assert_int_equal(jscan_string_token("abc", 3, &why), 0);
    assert_int_equal(jscan_number_token("-12.5e+3,", 9, &why), 8);
    assert_int_equal(jscan_number_token("012", 3, &why), 1);
    assert_int_equal(jscan_number_token("-", 1, &why), 0);
    assert_int_equal(jscan_number_token("1.", 2, &why), 0);

    jscan_value_t v;
    const char *t = " {\"a\":[1,2]} ,\"rest\" junk";
    assert_int_equal(jscan_walk_prefix(t, strlen(t), &v, NULL, NULL), JSCAN_OBJECT);
    assert_int_equal(v.tok.base - t, 1);
    assert_int_equal(v.tok.len, 11);
    assert_int_equal(jscan_walk_prefix("tru", 3, &v, NULL, NULL), SIOC_EPROTO);
    assert_non_null(v.reason);
    assert_int_equal(jscan_walk_prefix("12", 2, &v, NULL, NULL), JSCAN_NUMBER);
    assert_int_equal(v.tok.len, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus_accept),     cmocka_unit_test(test_corpus_reject),
        cmocka_unit_test(test_corpus_prefixes),   cmocka_unit_test(test_kinds_and_slices),
        cmocka_unit_test(test_error_reports),     cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_walk_events),       cmocka_unit_test(test_iterate_array_and_object),
        cmocka_unit_test(test_iterate_malformed), cmocka_unit_test(test_string_unescape),
        cmocka_unit_test(test_string_eq),         cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_placeholder),       cmocka_unit_test(test_tokens_and_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
