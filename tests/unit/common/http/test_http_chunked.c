/*
 * Unit tests for common/http/http_chunked.
 *
 * decode_split() plays a server: bytes arrive in pieces, the decoder is
 * called until it asks for more, unconsumed bytes are kept and offered again.
 * Each case is decoded whole, byte by byte, and split in two at every offset;
 * all must give the same body, the same leftover and the same error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "http/http_chunked.h"

typedef struct {
    int r;              /* 0 = done, else the error */
    const char *reason; /* for errors */
    char body[4096];
    size_t body_len;
    size_t leftover; /* bytes after the body (on success) */
} outcome_t;

/* Decodes `in`, delivered in pieces that end at the offsets cuts[0..ncuts). */
static void decode_cuts(const char *in, size_t len, const size_t *cuts, size_t ncuts,
                        unsigned long long max_body, outcome_t *o)
{
    http_chunked_t d;
    http_chunked_init(&d, max_body);
    memset(o, 0, sizeof(*o));
    char *pending = malloc(len + 1);
    size_t have = 0, delivered = 0, start = 0;
    o->r = SIOC_INCOMPLETE;
    for (size_t c = 0; c <= ncuts && o->r == SIOC_INCOMPLETE; c++) {
        size_t upto = c < ncuts ? cuts[c] : len;
        memcpy(pending + have, in + delivered, upto - delivered);
        have += upto - delivered;
        delivered = upto;
        for (;;) {
            /* An exact-size copy, so ASan sees reads past the end. */
            char *view = malloc(have - start + 1);
            memcpy(view, pending + start, have - start);
            sioc_iov_t data;
            const char *reason = NULL;
            int r = http_chunked_next(&d, view, have - start, &data, &reason);
            if (r > 0) {
                assert_true((size_t)r <= have - start);
                assert_true(data.len <= (size_t)r);
                if (data.len) {
                    assert_true(data.base >= view && data.base + data.len <= view + r);
                    assert_true(o->body_len + data.len <= sizeof(o->body));
                    memcpy(o->body + o->body_len, data.base, data.len);
                    o->body_len += data.len;
                }
                start += (size_t)r;
                free(view);
                continue;
            }
            free(view);
            if (r == 0) {
                assert_true(http_chunked_done(&d));
                o->r = 0;
                o->leftover = len - start;
            } else if (r != SIOC_INCOMPLETE) {
                assert_non_null(reason);
                o->r = r;
                o->reason = reason;
            }
            break;
        }
    }
    free(pending);
}

static void assert_same_outcome(const outcome_t *a, const outcome_t *b)
{
    assert_int_equal(a->r, b->r);
    if (a->r < 0 && a->r != SIOC_INCOMPLETE)
        assert_string_equal(a->reason, b->reason);
    assert_int_equal(a->body_len, b->body_len);
    assert_memory_equal(a->body, b->body, a->body_len);
    assert_int_equal(a->leftover, b->leftover);
}

/* Decodes whole, byte by byte and split at every offset; returns the whole outcome. */
static void check(const char *in, size_t len, unsigned long long max_body, outcome_t *whole)
{
    decode_cuts(in, len, NULL, 0, max_body, whole);
    outcome_t *o = malloc(sizeof(*o));
    for (size_t k = 1; k < len; k++) {
        decode_cuts(in, len, &k, 1, max_body, o);
        assert_same_outcome(o, whole);
    }
    size_t *cuts = malloc((len ? len : 1) * sizeof(*cuts));
    for (size_t k = 0; k < len; k++)
        cuts[k] = k + 1;
    decode_cuts(in, len, cuts, len, max_body, o);
    assert_same_outcome(o, whole);
    free(cuts);
    free(o);
}

static void ok(const char *in, const char *body, size_t leftover)
{
    outcome_t w;
    check(in, strlen(in), 0, &w);
    if (w.r != 0)
        print_error("r=%d reason=%s\n", w.r, w.reason ? w.reason : "-");
    assert_int_equal(w.r, 0);
    assert_int_equal(w.body_len, strlen(body));
    assert_memory_equal(w.body, body, w.body_len);
    assert_int_equal(w.leftover, leftover);
}

static void bad(const char *in, int want, const char *reason)
{
    outcome_t w;
    check(in, strlen(in), 0, &w);
    if (w.r != want)
        print_error("r=%d reason=%s\n", w.r, w.reason ? w.reason : "-");
    assert_int_equal(w.r, want);
    if (reason)
        assert_string_equal(w.reason, reason);
}

static void test_chunked_ok(void **state)
{
    (void)state;
    ok("0\r\n\r\n", "", 0);
    ok("5\r\nhello\r\n0\r\n\r\n", "hello", 0);
    ok("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "hello world", 16);
    ok("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij", 0);
    ok("000003\r\nabc\r\n00\r\n\r\n", "abc", 0);
    ok("3;name=value;x=\"q s\"\r\nabc\r\n0 ; last\r\n\r\n", "abc", 0);
    ok("3 \r\nabc\r\n0\t;e\r\n\r\n", "abc", 0);
    ok("3\r\n\r\n\r\r\n0\r\n\r\n", "\r\n\r", 0);
}

static void test_chunked_binary(void **state)
{
    (void)state;
    const char in[] = "2\r\n\x00\xff\r\n0\r\n\r\n";
    outcome_t w;
    check(in, sizeof(in) - 1, 0, &w);
    assert_int_equal(w.r, 0);
    assert_int_equal(w.body_len, 2);
    assert_memory_equal(w.body, "\x00\xff", 2);
}

static void test_chunked_trailers(void **state)
{
    (void)state;
    ok("3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum:\t1 2\r\n\r\nNEXT", "abc", 4);
    ok("0\r\nA:\r\n\r\n", "", 0);
    bad("0\r\nExpires never\r\n\r\n", SIOC_EPROTO, "invalid trailer field");
    bad("0\r\n: x\r\n\r\n", SIOC_EPROTO, "invalid trailer field");
    bad("0\r\nA : x\r\n\r\n", SIOC_EPROTO, "invalid trailer field");
    bad("0\r\nA: x\r\n folded\r\n\r\n", SIOC_EPROTO, "obs-fold in trailer");
    bad("0\r\nA: x\x01\r\n\r\n", SIOC_EPROTO, "expected CRLF");
    bad("0\r\nA: x\n\r\n", SIOC_EPROTO, "bare LF");
    bad("0\r\nA: x\r\n\n", SIOC_EPROTO, "bare LF");
    bad("0\r\n\rX", SIOC_EPROTO, "bare CR");

    /* Trailer budget. */
    size_t n = HTTP_CHUNKED_MAX_TRAILER + 64;
    char *s = malloc(n + 16);
    strcpy(s, "0\r\nA: ");
    memset(s + 6, 'x', n - 6);
    strcpy(s + n, "\r\n\r\n");
    http_chunked_t d;
    http_chunked_init(&d, 0);
    sioc_iov_t data;
    const char *reason;
    int r = http_chunked_next(&d, s, strlen(s), &data, &reason);
    assert_int_equal(r, 3); /* the last-chunk line */
    r = http_chunked_next(&d, s + 3, strlen(s) - 3, &data, &reason);
    assert_int_equal(r, SIOC_EMSGSIZE);
    assert_string_equal(reason, "trailers too large");
    free(s);
}

static void test_chunked_bad_size(void **state)
{
    (void)state;
    bad("\r\n", SIOC_EPROTO, "invalid chunk size");
    bad("x\r\n", SIOC_EPROTO, "invalid chunk size");
    bad(" 5\r\nhello\r\n0\r\n\r\n", SIOC_EPROTO, "invalid chunk size");
    bad("-5\r\n", SIOC_EPROTO, "invalid chunk size");
    bad("+5\r\n", SIOC_EPROTO, "invalid chunk size");
    bad("0x5\r\n", SIOC_EPROTO, "invalid chunk extension");
    bad("5x\r\n", SIOC_EPROTO, "invalid chunk extension");
    bad("5 5\r\n", SIOC_EPROTO, "invalid chunk extension");
    bad("5\n", SIOC_EPROTO, "bare LF");
    bad("5\rX", SIOC_EPROTO, "bare CR");
    bad("5;a\x01\r\n", SIOC_EPROTO, "invalid chunk extension");
    bad("10000000000000000\r\n", SIOC_EPROTO, "chunk size overflow");
    bad("FFFFFFFFFFFFFFFFF\r\n", SIOC_EPROTO, "chunk size overflow");
    /* 16 hex digits fit, but the body limit is then what stops it. */
    outcome_t w;
    const char *big = "FFFFFFFFFFFFFFFF\r\nab";
    check(big, strlen(big), 1000, &w);
    assert_int_equal(w.r, SIOC_EMSGSIZE);
    assert_string_equal(w.reason, http_reason_body_too_large);
    check(big, strlen(big), 0, &w);
    assert_int_equal(w.r, SIOC_INCOMPLETE);
    assert_int_equal(w.body_len, 2);
    /* Two chunks whose sizes together overflow 64 bits. */
    const char *two = "FFFFFFFFFFFFFFFF\r\n";
    http_chunked_t d;
    http_chunked_init(&d, 0);
    d.total = 2;
    sioc_iov_t data;
    const char *reason;
    assert_int_equal(http_chunked_next(&d, two, strlen(two), &data, &reason), SIOC_EMSGSIZE);

    /* Over-long size line (leading zeros or extensions). */
    char *s = malloc(HTTP_CHUNKED_MAX_LINE + 16);
    memset(s, '0', HTTP_CHUNKED_MAX_LINE + 8);
    strcpy(s + HTTP_CHUNKED_MAX_LINE + 8, "\r\n");
    bad(s, SIOC_EPROTO, "chunk size line too long");
    memset(s, '0', HTTP_CHUNKED_MAX_LINE - 2);
    strcpy(s + HTTP_CHUNKED_MAX_LINE - 2, "\r\n\r\n");
    ok(s, "", 0);
    free(s);
}

static void test_chunked_bad_data_crlf(void **state)
{
    (void)state;
    bad("3\r\nabcX\r\n", SIOC_EPROTO, "expected CRLF");
    bad("3\r\nabc\n0\r\n\r\n", SIOC_EPROTO, "bare LF");
    bad("3\r\nabc\rX", SIOC_EPROTO, "bare CR");
    bad("3\r\nabcd\r\n0\r\n\r\n", SIOC_EPROTO, "expected CRLF");
}

static void test_chunked_incomplete(void **state)
{
    (void)state;
    outcome_t w;
    const char *s = "5\r\nhel";
    check(s, strlen(s), 0, &w);
    assert_int_equal(w.r, SIOC_INCOMPLETE);
    assert_int_equal(w.body_len, 3);
    s = "5\r\nhello\r\n0\r\n";
    check(s, strlen(s), 0, &w);
    assert_int_equal(w.r, SIOC_INCOMPLETE);
    assert_int_equal(w.body_len, 5);

    http_chunked_t d;
    http_chunked_init(&d, 0);
    sioc_iov_t data;
    assert_int_equal(http_chunked_next(&d, "", 0, &data, NULL), SIOC_INCOMPLETE);
    assert_int_equal(http_chunked_next(&d, NULL, 0, &data, NULL), SIOC_INCOMPLETE);
    assert_int_equal(http_chunked_next(&d, "1", 1, &data, NULL), SIOC_INCOMPLETE);
    assert_int_equal(http_chunked_done(&d), 0);
    /* After the end, further calls consume nothing. */
    assert_int_equal(http_chunked_next(&d, "0\r\n\r\nX", 6, &data, NULL), 5);
    assert_int_equal(http_chunked_done(&d), 1);
    assert_int_equal(http_chunked_next(&d, "X", 1, &data, NULL), 0);
    assert_int_equal(http_chunked_next(&d, "", 0, &data, NULL), 0);
}

static void test_chunked_body_limit(void **state)
{
    (void)state;
    const char *s = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    outcome_t w;
    check(s, strlen(s), 11, &w);
    assert_int_equal(w.r, 0);
    assert_int_equal(w.body_len, 11);
    check(s, strlen(s), 10, &w);
    assert_int_equal(w.r, SIOC_EMSGSIZE);
    /* The over-limit chunk is refused before any of its data is returned. */
    assert_int_equal(w.body_len, 5);
}

static void test_chunked_one_slice_per_call(void **state)
{
    (void)state;
    const char *s = "1\r\na\r\n1\r\nb\r\n0\r\n\r\n";
    http_chunked_t d;
    http_chunked_init(&d, 0);
    sioc_iov_t data;
    int r = http_chunked_next(&d, s, strlen(s), &data, NULL);
    assert_int_equal(r, 6 + 3); /* "1\r\na\r\n" then the next size line */
    assert_int_equal(data.len, 1);
    assert_int_equal(data.base[0], 'a');
    r = http_chunked_next(&d, s + 9, strlen(s) - 9, &data, NULL);
    assert_int_equal(data.len, 1);
    assert_int_equal(data.base[0], 'b');
    assert_int_equal(r, (int)strlen(s) - 9);
    assert_int_equal(http_chunked_done(&d), 1);
    assert_int_equal(d.total, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunked_ok),
        cmocka_unit_test(test_chunked_binary),
        cmocka_unit_test(test_chunked_trailers),
        cmocka_unit_test(test_chunked_bad_size),
        cmocka_unit_test(test_chunked_bad_data_crlf),
        cmocka_unit_test(test_chunked_incomplete),
        cmocka_unit_test(test_chunked_body_limit),
        cmocka_unit_test(test_chunked_one_slice_per_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
