/*
 * Unit tests for common/base/utf8: Unicode Table 3-7 boundaries, Markus Kuhn's
 * UTF-8 decoder stress cases (sections 1-5 of UTF-8-test.txt, the set
 * Autobahn family 6 is built from), fail-fast positions, incremental feeds
 * over every split, the SIMD block boundaries, and the portable fallback,
 * all checked against the independent reference in utf8_ref.h; then the
 * WHATWG repair (utf8_seq, utf8_repair_append) on cases whose expected
 * output Node wrote (tests/vectors/json/stringify.tsv holds the full set).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/utf8.h"
#include "utf8_ref.h"

/* The same source built without SSE2, to test the portable word-at-a-time path. */
#undef __SSE2__
#define utf8_validate portable_utf8_validate
#define utf8_feed portable_utf8_feed
#define utf8_seq portable_utf8_seq
#define utf8_repair_append portable_utf8_repair_append
#include "base/utf8.c"
#undef utf8_validate
#undef utf8_feed
#undef utf8_seq
#undef utf8_repair_append

typedef struct {
    const char *name;
    const char *s;
    size_t len; /* 0 = strlen */
    int status; /* 0, SIOC_EPROTO or SIOC_INCOMPLETE */
    size_t where;
} ucase_t;

#define V(name, s)                                                                                 \
    {                                                                                              \
        name, s, sizeof(s) - 1, 0, sizeof(s) - 1                                                   \
    }
#define BAD(name, s, at)                                                                           \
    {                                                                                              \
        name, s, sizeof(s) - 1, SIOC_EPROTO, at                                                    \
    }
#define CUT(name, s, at)                                                                           \
    {                                                                                              \
        name, s, sizeof(s) - 1, SIOC_INCOMPLETE, at                                                \
    }

static const ucase_t cases[] = {
    /* Kuhn 1: "κόσμε" */
    V("1 kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),
    V("empty", ""),
    V("ascii", "Hello-\x7f\x01 world"),
    V("nul", "\x00"),
    /* Kuhn 2.1 first possible sequence of each length */
    V("2.1.1 U+0000", "\x00"),
    V("2.1.2 U+0080", "\xc2\x80"),
    V("2.1.3 U+0800", "\xe0\xa0\x80"),
    V("2.1.4 U+10000", "\xf0\x90\x80\x80"),
    BAD("2.1.5 5-byte U+200000", "\xf8\x88\x80\x80\x80", 0),
    BAD("2.1.6 6-byte U+4000000", "\xfc\x84\x80\x80\x80\x80", 0),
    /* Kuhn 2.2 last possible sequence of each length */
    V("2.2.1 U+007F", "\x7f"),
    V("2.2.2 U+07FF", "\xdf\xbf"),
    V("2.2.3 U+FFFF", "\xef\xbf\xbf"),
    BAD("2.2.4 U+1FFFFF", "\xf7\xbf\xbf\xbf", 0),
    BAD("2.2.5 U+3FFFFFF", "\xfb\xbf\xbf\xbf\xbf", 0),
    BAD("2.2.6 U+7FFFFFFF", "\xfd\xbf\xbf\xbf\xbf\xbf", 0),
    /* Kuhn 2.3 other boundaries */
    V("2.3.1 U+D7FF", "\xed\x9f\xbf"),
    V("2.3.2 U+E000", "\xee\x80\x80"),
    V("2.3.3 U+FFFD", "\xef\xbf\xbd"),
    V("2.3.4 U+10FFFF", "\xf4\x8f\xbf\xbf"),
    BAD("2.3.5 U+110000", "\xf4\x90\x80\x80", 1),
    /* Kuhn 3.1 unexpected continuation bytes */
    BAD("3.1.1 80", "\x80", 0),
    BAD("3.1.2 bf", "\xbf", 0),
    BAD("3.1.3 80 bf", "\x80\xbf", 0),
    BAD("3.1.4 80 bf 80", "\x80\xbf\x80", 0),
    BAD("3.1.9 after ascii", "abc\x80", 3),
    BAD("3.1 after 2-byte", "\xc2\x80\x80", 2),
    /* Kuhn 3.2 lonely start characters followed by a space */
    BAD("3.2.1 c0 sp", "\xc0\x20", 0),
    BAD("3.2.1 c2 sp", "\xc2\x20", 1),
    BAD("3.2.1 df sp", "\xdf\x20", 1),
    BAD("3.2.2 e0 sp", "\xe0\x20", 1),
    BAD("3.2.2 ef sp", "\xef\x20", 1),
    BAD("3.2.3 f0 sp", "\xf0\x20", 1),
    BAD("3.2.3 f4 sp", "\xf4\x20", 1),
    BAD("3.2.3 f7 sp", "\xf7\x20", 0),
    BAD("3.2.4 f8 sp", "\xf8\x20", 0),
    BAD("3.2.5 fc sp", "\xfc\x20", 0),
    /* Kuhn 3.3 sequences with the last byte missing: valid so far, cut off */
    CUT("3.3.2 e0 a0", "\xe0\xa0", 0),
    CUT("3.3.3 f0 90 80", "\xf0\x90\x80", 0),
    CUT("3.3.7 df", "\xdf", 0),
    CUT("3.3.8 ef bf", "\xef\xbf", 0),
    CUT("3.3.9 f4 8f bf", "\xf4\x8f\xbf", 0),
    CUT("cut after ascii", "ab\xe2\x82", 2),
    BAD("3.3.1 c0 (overlong lead)", "\xc0", 0),
    BAD("3.3.2 e0 80 (overlong)", "\xe0\x80", 1),
    BAD("3.3.3 f0 80 80 (overlong)", "\xf0\x80\x80", 1),
    BAD("3.3.4 f8 80 80 80", "\xf8\x80\x80\x80", 0),
    BAD("3.3.5 fc 80 80 80 80", "\xfc\x80\x80\x80\x80", 0),
    BAD("3.3.9 f7 bf bf", "\xf7\xbf\xbf", 0),
    /* Kuhn 3.4 concatenation of incomplete sequences */
    BAD("3.4 concat", "\xc2\xe0\xa0\xf0\x90\x80", 1),
    BAD("3.4 concat 2", "\xdf\xef\xbf\xf4\x8f\xbf", 1),
    /* Kuhn 3.5 impossible bytes */
    BAD("3.5.1 fe", "\xfe", 0),
    BAD("3.5.2 ff", "\xff", 0),
    BAD("3.5.3 fe fe ff ff", "\xfe\xfe\xff\xff", 0),
    /* Kuhn 4.1 overlong ASCII '/' */
    BAD("4.1.1 c0 af", "\xc0\xaf", 0),
    BAD("4.1.2 e0 80 af", "\xe0\x80\xaf", 1),
    BAD("4.1.3 f0 80 80 af", "\xf0\x80\x80\xaf", 1),
    BAD("4.1.4 f8 80 80 80 af", "\xf8\x80\x80\x80\xaf", 0),
    BAD("4.1.5 fc 80 80 80 80 af", "\xfc\x80\x80\x80\x80\xaf", 0),
    /* Kuhn 4.2 maximum overlongs */
    BAD("4.2.1 c1 bf", "\xc1\xbf", 0),
    BAD("4.2.2 e0 9f bf", "\xe0\x9f\xbf", 1),
    BAD("4.2.3 f0 8f bf bf", "\xf0\x8f\xbf\xbf", 1),
    BAD("4.2.4 f8 87 bf bf bf", "\xf8\x87\xbf\xbf\xbf", 0),
    /* Kuhn 4.3 overlong NUL */
    BAD("4.3.1 c0 80", "\xc0\x80", 0),
    BAD("4.3.2 e0 80 80", "\xe0\x80\x80", 1),
    BAD("4.3.3 f0 80 80 80", "\xf0\x80\x80\x80", 1),
    /* Kuhn 5.1 single UTF-16 surrogates */
    BAD("5.1.1 U+D800", "\xed\xa0\x80", 1),
    BAD("5.1.2 U+DB7F", "\xed\xad\xbf", 1),
    BAD("5.1.3 U+DB80", "\xed\xae\x80", 1),
    BAD("5.1.4 U+DBFF", "\xed\xaf\xbf", 1),
    BAD("5.1.5 U+DC00", "\xed\xb0\x80", 1),
    BAD("5.1.6 U+DF80", "\xed\xbe\x80", 1),
    BAD("5.1.7 U+DFFF", "\xed\xbf\xbf", 1),
    /* Kuhn 5.2 paired surrogates */
    BAD("5.2.1 U+D800 U+DC00", "\xed\xa0\x80\xed\xb0\x80", 1),
    BAD("5.2.8 U+DBFF U+DFFF", "\xed\xaf\xbf\xed\xbf\xbf", 1),
    /* Kuhn 5.3 noncharacters are valid UTF-8 */
    V("5.3.1 U+FFFE", "\xef\xbf\xbe"),
    V("5.3.2 U+FFFF", "\xef\xbf\xbf"),
    V("5.3.3 U+FDD0", "\xef\xb7\x90"),
    V("5.3.4 U+1FFFE U+10FFFF", "\xf0\x9f\xbf\xbe\xf4\x8f\xbf\xbf"),
    /* Autobahn 6.3 / 6.4 payloads */
    BAD("6.3.1 kosme + surrogate",
        "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64", 12),
    BAD("6.4.1 kosme + U+110000",
        "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64", 12),
    /* Invalid bytes right after an ASCII run of a full SIMD block */
    BAD("after 32 ascii", "0123456789abcdef0123456789abcdef\xff", 32),
    BAD("after 17 ascii", "0123456789abcdefg\xc0\x80", 17),
};

static int feed_pieces(int (*feed)(utf8_state_t *, const uint8_t *, size_t, size_t *),
                       const uint8_t *p, size_t len, const size_t *cuts, int ncuts, size_t *where)
{
    utf8_state_t st;
    utf8_init(&st);
    size_t from = 0;
    int rc = 0;
    for (int c = 0; c <= ncuts; c++) {
        size_t to = c < ncuts ? cuts[c] : len;
        size_t w = 0;
        rc = feed(&st, p + from, to - from, &w);
        if (rc == SIOC_EPROTO) {
            *where = from + w;
            /* The state stays failed. */
            size_t w2 = 99;
            assert_int_equal(feed(&st, (const uint8_t *)"a", 1, &w2), SIOC_EPROTO);
            assert_int_equal(w2, 0);
            assert_false(utf8_state_complete(&st));
            return rc;
        }
        assert_int_equal(w, to - from);
        from = to;
    }
    assert_int_equal(utf8_state_complete(&st), rc == 0);
    *where = len;
    return rc;
}

static int feed_std(utf8_state_t *s, const uint8_t *p, size_t len, size_t *where)
{
    return utf8_feed(s, p, len, where);
}

static int feed_portable(utf8_state_t *s, const uint8_t *p, size_t len, size_t *where)
{
    return portable_utf8_feed(s, p, len, where);
}

/* Checks one input every way: whole (fast, portable, reference) and split at
 * every one and every two cut points; returns the status. */
static int check_all_ways(const uint8_t *p, size_t len, int want, size_t want_where)
{
    size_t w = 12345, wr = 12345, wp = 12345;
    int rc = utf8_validate(p, len, &w);
    int rr = utf8_ref_validate(p, len, &wr);
    int rp = portable_utf8_validate(p, len, &wp);
    assert_int_equal(rc, want);
    assert_int_equal(w, want_where);
    assert_int_equal(rr, want);
    assert_int_equal(wr, want_where);
    assert_int_equal(rp, want);
    assert_int_equal(wp, want_where);
    assert_int_equal(utf8_is_valid(p, len), want == 0);
    /* An incomplete tail is reported where the stream fails at the end. */
    size_t want_feed_where = want == SIOC_EPROTO ? want_where : len;
    for (size_t i = 0; i <= len; i++) {
        size_t cuts1[1] = {i};
        size_t fw;
        assert_int_equal(feed_pieces(feed_std, p, len, cuts1, 1, &fw), want);
        assert_int_equal(fw, want_feed_where);
        assert_int_equal(feed_pieces(feed_portable, p, len, cuts1, 1, &fw), want);
        assert_int_equal(fw, want_feed_where);
        for (size_t j = i; j <= len && len <= 64; j++) {
            size_t cuts2[2] = {i, j};
            assert_int_equal(feed_pieces(feed_std, p, len, cuts2, 2, &fw), want);
            assert_int_equal(fw, want_feed_where);
        }
    }
    /* Byte by byte. */
    utf8_state_t st;
    utf8_init(&st);
    int last = 0;
    for (size_t i = 0; i < len; i++) {
        size_t bw;
        last = utf8_feed(&st, p + i, 1, &bw);
        if (last == SIOC_EPROTO) {
            assert_int_equal(i, want_where);
            break;
        }
    }
    assert_int_equal(last, want);
    return rc;
}

static void test_kuhn_and_boundaries(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const ucase_t *c = &cases[i];
        check_all_ways((const uint8_t *)c->s, c->len, c->status, c->where);
    }
}

/* Every code point encodes to valid UTF-8, surrogates and values above
 * U+10FFFF (encoded with the same bit pattern) do not. */
static size_t encode(uint32_t cp, uint8_t *o)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

static void test_every_code_point(void **state)
{
    (void)state;
    uint8_t b[4];
    for (uint32_t cp = 0; cp < 0x140000; cp++) {
        size_t n = encode(cp, b);
        int valid = cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        size_t w;
        int rc = utf8_validate(b, n, &w);
        if (valid != (rc == 0))
            fail_msg("U+%X: got %d", cp, rc);
        /* Each prefix of a valid sequence is incomplete, not invalid. */
        if (valid)
            for (size_t k = 1; k < n; k++)
                assert_int_equal(utf8_validate(b, k, &w), SIOC_INCOMPLETE);
    }
    /* Overlong forms of every code point below each length's minimum. */
    for (uint32_t cp = 0; cp < 0x10000; cp++) {
        uint8_t o[4];
        size_t w;
        if (cp < 0x80) {
            o[0] = (uint8_t)(0xC0 | cp >> 6);
            o[1] = (uint8_t)(0x80 | (cp & 0x3F));
            assert_int_equal(utf8_validate(o, 2, &w), SIOC_EPROTO);
            assert_int_equal(w, 0);
        }
        if (cp < 0x800) {
            o[0] = 0xE0;
            o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
            o[2] = (uint8_t)(0x80 | (cp & 0x3F));
            assert_int_equal(utf8_validate(o, 3, &w), SIOC_EPROTO);
            assert_int_equal(w, 1);
        }
        o[0] = 0xF0;
        o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[3] = (uint8_t)(0x80 | (cp & 0x3F));
        assert_int_equal(utf8_validate(o, 4, &w), SIOC_EPROTO);
        assert_int_equal(w, 1);
    }
}

/* Invalid and multi-byte sequences at every offset of long ASCII runs, so
 * that each SIMD block position and each tail length is exercised. */
static void test_positions_in_ascii_runs(void **state)
{
    (void)state;
    uint8_t b[200];
    static const char *const inserts[] = {
        "\xff", "\xc0\x80", "\xed\xa0\x80", "\x80", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc3\xa9"};
    for (size_t k = 0; k < sizeof(inserts) / sizeof(inserts[0]); k++) {
        size_t il = strlen(inserts[k]);
        for (size_t len = il; len <= 130; len++) {
            for (size_t pos = 0; pos + il <= len; pos++) {
                memset(b, 'x', len);
                memcpy(b + pos, inserts[k], il);
                size_t w, wr, wp;
                int r = utf8_validate(b, len, &w);
                int rr = utf8_ref_validate(b, len, &wr);
                int rp = portable_utf8_validate(b, len, &wp);
                assert_int_equal(r, rr);
                assert_int_equal(w, wr);
                assert_int_equal(rp, rr);
                assert_int_equal(wp, wr);
            }
            /* Cut off at the end of a long run. */
            memset(b, 'y', len);
            memcpy(b + len - il, inserts[k], il);
            size_t w, wr;
            assert_int_equal(utf8_validate(b, len - 1, &w), utf8_ref_validate(b, len - 1, &wr));
            assert_int_equal(w, wr);
        }
    }
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Random mixtures of valid characters with occasional random bytes. */
static void test_random_against_reference(void **state)
{
    (void)state;
    uint32_t seed = 1;
    uint8_t b[600];
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = 0, target = lcg(&seed) % 512;
        while (len < target) {
            uint32_t pick = lcg(&seed) % 100;
            if (pick < 60) {
                b[len++] = (uint8_t)(lcg(&seed) % 128);
            } else if (pick < 97 || iter % 3 == 0) {
                uint32_t cp = lcg(&seed) % 0x110000;
                if (cp >= 0xD800 && cp <= 0xDFFF)
                    cp = 0xFFFD;
                len += encode(cp, b + len);
            } else {
                b[len++] = (uint8_t)lcg(&seed);
            }
        }
        size_t w, wr, wp;
        int r = utf8_validate(b, len, &w);
        assert_int_equal(r, utf8_ref_validate(b, len, &wr));
        assert_int_equal(w, wr);
        assert_int_equal(r, portable_utf8_validate(b, len, &wp));
        assert_int_equal(wp, wr);
        size_t cuts[3] = {lcg(&seed) % (len + 1), 0, 0};
        cuts[1] = cuts[0] + lcg(&seed) % (len - cuts[0] + 1);
        cuts[2] = cuts[1] + lcg(&seed) % (len - cuts[1] + 1);
        size_t fw;
        assert_int_equal(feed_pieces(feed_std, b, len, cuts, 3, &fw), r);
        assert_int_equal(fw, r == SIOC_EPROTO ? w : len);
    }
}

static void test_state_transitions(void **state)
{
    (void)state;
    utf8_state_t st;
    size_t w;
    utf8_init(&st);
    assert_true(utf8_state_complete(&st));
    /* A 4-byte character fed one byte at a time. */
    assert_int_equal(utf8_feed(&st, (const uint8_t *)"\xf0", 1, &w), SIOC_INCOMPLETE);
    assert_int_equal(w, 1);
    assert_false(utf8_state_complete(&st));
    assert_int_equal(utf8_feed(&st, (const uint8_t *)"", 0, &w), SIOC_INCOMPLETE);
    assert_int_equal(utf8_feed(&st, (const uint8_t *)"\x9f", 1, &w), SIOC_INCOMPLETE);
    assert_int_equal(utf8_feed(&st, (const uint8_t *)"\x98\x80ok", 4, &w), 0);
    assert_true(utf8_state_complete(&st));
    /* The second-byte range applies across a chunk boundary. */
    assert_int_equal(utf8_feed(&st, (const uint8_t *)"ab\xed", 3, &w), SIOC_INCOMPLETE);
    assert_int_equal(utf8_feed(&st, (const uint8_t *)"\xa0\x80", 2, &w), SIOC_EPROTO);
    assert_int_equal(w, 0);
    utf8_init(&st);
    assert_int_equal(utf8_feed(&st, (const uint8_t *)"\xf4", 1, &w), SIOC_INCOMPLETE);
    assert_int_equal(utf8_feed(&st, (const uint8_t *)"\x8f\xbf", 2, &w), SIOC_INCOMPLETE);
    assert_int_equal(utf8_feed(&st, (const uint8_t *)"\xbf\xf4\x90", 3, &w), SIOC_EPROTO);
    assert_int_equal(w, 2);
    /* NULL `where` is allowed. */
    utf8_init(&st);
    assert_int_equal(utf8_feed(&st, (const uint8_t *)"\xc3", 1, NULL), SIOC_INCOMPLETE);
    assert_int_equal(utf8_feed(&st, (const uint8_t *)"\xa9", 1, NULL), 0);
    assert_int_equal(utf8_validate((const uint8_t *)"\xc3", 1, NULL), SIOC_INCOMPLETE);
}

static void test_large_buffers(void **state)
{
    (void)state;
    size_t n = 1 << 20;
    uint8_t *b = malloc(n + 8);
    assert_non_null(b);
    memset(b, 'a', n);
    assert_true(utf8_is_valid(b, n));
    b[n - 1] = 0xC3;
    size_t w;
    assert_int_equal(utf8_validate(b, n, &w), SIOC_INCOMPLETE);
    assert_int_equal(w, n - 1);
    b[n / 2] = 0x80;
    assert_int_equal(utf8_validate(b, n, &w), SIOC_EPROTO);
    assert_int_equal(w, n / 2);
    free(b);
}

static void expect_repair(const char *in, size_t n, const char *want)
{
    sioc_buf_t b = {0};
    assert_int_equal(utf8_repair_append(&b, (const uint8_t *)in, n), 0);
    if (b.len != strlen(want) || (b.len && memcmp(b.base, want, b.len) != 0))
        fail_msg("repair of %zu bytes: got '%.*s', want '%s'", n, (int)b.len, b.base, want);
    assert_true(utf8_is_valid((const uint8_t *)b.base, b.len));
    buf_free(&b);
}

#define FFFD "\xef\xbf\xbd"

/* Expected strings as Node's Buffer.from(bytes).toString() gives them. */
static void test_whatwg_repair(void **state)
{
    (void)state;
    expect_repair("", 0, "");
    expect_repair("plain", 5, "plain");
    expect_repair("\xc3\xa9\xf0\x9d\x84\x9e", 6, "\xc3\xa9\xf0\x9d\x84\x9e");
    expect_repair("\xe2\x82\x41", 3, FFFD "A");
    expect_repair("\xe2\x82", 2, FFFD);
    expect_repair("\xf0\x9f\x98", 3, FFFD);
    expect_repair("\xf0\x9f\x98\x41", 4, FFFD "A");
    expect_repair("\xc0\xaf", 2, FFFD FFFD);
    expect_repair("\xe0\x80\xaf", 3, FFFD FFFD FFFD);
    expect_repair("\xed\xa0\x80", 3, FFFD FFFD FFFD);
    expect_repair("\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD);
    expect_repair("\xf5\xff\x80", 3, FFFD FFFD FFFD);
    expect_repair("\xe2\xe2\x82\xac", 4, FFFD "\xe2\x82\xac");
    expect_repair("a\xc3", 2, "a" FFFD);
}

static void test_seq_lengths(void **state)
{
    (void)state;
    /* utf8_encode writes what utf8_seq reads back, for every scalar value. */
    for (uint32_t cp = 0; cp <= 0x10ffff; cp += cp < 0x1000 ? 1 : 61) {
        if (cp >= 0xd800 && cp <= 0xdfff)
            continue;
        uint8_t q[4];
        size_t n = utf8_encode(cp, q);
        assert_int_equal(n, cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4);
        assert_int_equal(utf8_seq(q, n, NULL), n);
    }
    size_t bad = 99;
    assert_int_equal(utf8_seq((const uint8_t *)"A", 1, &bad), 1);
    assert_int_equal(utf8_seq((const uint8_t *)"\xc3\xa9", 2, &bad), 2);
    assert_int_equal(utf8_seq((const uint8_t *)"\xe2\x82\xac", 3, &bad), 3);
    assert_int_equal(utf8_seq((const uint8_t *)"\xf4\x8f\xbf\xbf", 4, &bad), 4);
    assert_int_equal(utf8_seq((const uint8_t *)"\xf0\x9f\x98", 3, &bad), 0);
    assert_int_equal(bad, 3);
    assert_int_equal(utf8_seq((const uint8_t *)"\xe2\x82\x41", 3, &bad), 0);
    assert_int_equal(bad, 2);
    assert_int_equal(utf8_seq((const uint8_t *)"\xed\xa0\x80", 3, &bad), 0);
    assert_int_equal(bad, 1);
    assert_int_equal(utf8_seq((const uint8_t *)"\x80", 1, NULL), 0);
    /* Agrees with the validator on every 1..4 byte prefix of a few leads. */
    static const uint8_t leads[] = {0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4};
    for (size_t i = 0; i < sizeof(leads); i++)
        for (unsigned b1 = 0x70; b1 < 0xd0; b1++) {
            uint8_t q[4] = {leads[i], (uint8_t)b1, 0x80, 0x80};
            size_t want = 0;
            for (size_t n = 2; n <= 4 && want == 0; n++)
                if (utf8_validate(q, n, NULL) == 0)
                    want = n;
            assert_int_equal(utf8_seq(q, 4, NULL), want);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kuhn_and_boundaries),
        cmocka_unit_test(test_every_code_point),
        cmocka_unit_test(test_positions_in_ascii_runs),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_state_transitions),
        cmocka_unit_test(test_large_buffers),
        cmocka_unit_test(test_whatwg_repair),
        cmocka_unit_test(test_seq_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
