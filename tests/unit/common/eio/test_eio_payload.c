/* Unit tests for common/eio/eio_payload: PROTOCOL.md §1.2, §1.4 and the §4.1 suite payloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/err.h"
#include "eio/eio_packet.h"
#include "base/base64.h"
#include "eio/eio_payload.h"

#define LEN(s) (sizeof(s) - 1)

/* A heap copy of exactly n bytes, so that ASan catches any read past the input. */
static char *exact(const char *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    assert_non_null(c);
    memcpy(c, p, n);
    return c;
}

typedef struct {
    int binary;
    int type;
    const char *data; /* text data, or the decoded bytes of a binary record */
    size_t len;
} want_t;

/* Iterates over `wire` and checks the records against `want`, then the outcome `end`. */
static void expect_payload(const char *wire, size_t n, const want_t *want, size_t nwant, int end)
{
    char *c = exact(wire, n);
    eio_payload_iter_t it;
    eio_payload_item_t item;
    const char *reason = NULL;
    eio_payload_iter_init(&it, c, n);
    for (size_t i = 0; i < nwant; i++) {
        assert_int_equal(eio_payload_next(&it, &item, &reason), 1);
        assert_int_equal(item.binary, want[i].binary);
        assert_int_equal(item.type, want[i].type);
        assert_true(item.record.base >= c && item.record.base + item.record.len <= c + n);
        if (want[i].binary) {
            uint8_t out[64];
            assert_int_equal(item.binary_len, want[i].len);
            assert_int_equal(base64_decoded_len(item.data), want[i].len);
            assert_int_equal(base64_decode(item.data, out, sizeof(out)), (int)want[i].len);
            assert_memory_equal(out, want[i].data, want[i].len);
        } else {
            assert_int_equal(item.data.len, want[i].len);
            assert_memory_equal(item.data.base, want[i].data, want[i].len);
        }
    }
    int r = eio_payload_next(&it, &item, &reason);
    assert_int_equal(r, end);
    if (end < 0) {
        assert_non_null(reason);
        assert_int_equal(eio_payload_next(&it, &item, NULL), SIOC_EPROTO);
    } else {
        assert_int_equal(eio_payload_next(&it, &item, NULL), 0);
        assert_int_equal(eio_payload_count(c, n, NULL), (int)nwant);
    }
    free(c);
}

static void test_golden_payloads(void **state)
{
    (void)state;
    /* PROTOCOL.md §1.4 framing examples. */
    want_t a[] = {{0, EIO_MESSAGE, "hello", 5}, {0, EIO_PING, "", 0}, {0, EIO_MESSAGE, "world", 5}};
    expect_payload("4hello\x1e"
                   "2\x1e"
                   "4world",
                   LEN("4hello\x1e"
                       "2\x1e"
                       "4world"),
                   a, 3, 0);
    want_t b[] = {{0, EIO_MESSAGE, "hello", 5}, {1, EIO_MESSAGE, "\x01\x02\x03\x04", 4}};
    expect_payload("4hello\x1e"
                   "bAQIDBA==",
                   LEN("4hello\x1e"
                       "bAQIDBA=="),
                   b, 2, 0);
    /* §4.1 suite: three text packets in one POST, echoed in one GET. */
    want_t c[] = {{0, 4, "test1", 5}, {0, 4, "test2", 5}, {0, 4, "test3", 5}};
    expect_payload("4test1\x1e"
                   "4test2\x1e"
                   "4test3",
                   LEN("4test1\x1e"
                       "4test2\x1e"
                       "4test3"),
                   c, 3, 0);
    /* §2.6 sample session POST bodies. */
    want_t d[] = {{0, 4, "2[\"hello\"]", 10}, {0, 4, "2[\"world\"]", 10}};
    expect_payload("42[\"hello\"]\x1e"
                   "42[\"world\"]",
                   LEN("42[\"hello\"]\x1e"
                       "42[\"world\"]"),
                   d, 2, 0);
    want_t e[] = {{0, 4, "0", 1}};
    expect_payload("40", 2, e, 1, 0);
    want_t f[] = {{0, EIO_PONG, "", 0}};
    expect_payload("3", 1, f, 1, 0);
    want_t g[] = {{0, EIO_CLOSE, "", 0}};
    expect_payload("1", 1, g, 1, 0);
    want_t h[] = {{0, EIO_NOOP, "", 0}};
    expect_payload("6", 1, h, 1, 0);
    /* Binary edge sizes: empty, 1, 2, 3 bytes. */
    want_t i[] = {
        {1, 4, "", 0}, {1, 4, "\x00", 1}, {1, 4, "\x00\xff", 2}, {1, 4, "\xfb\xff\xbf", 3}};
    expect_payload("b\x1e"
                   "bAA==\x1e"
                   "bAP8=\x1e"
                   "b+/+/",
                   LEN("b\x1e"
                       "bAA==\x1e"
                       "bAP8=\x1e"
                       "b+/+/"),
                   i, 4, 0);
    /* Text data is opaque apart from the separator. */
    want_t j[] = {{0, 4, "\x00\xff{", 3}};
    expect_payload("4\x00\xff{", 4, j, 1, 0);
}

static void test_malformed_payloads(void **state)
{
    (void)state;
    want_t hello[] = {{0, 4, "hello", 5}};
#define B(s, good)                                                                                 \
    {                                                                                              \
        s, LEN(s), good                                                                            \
    }
    static const struct {
        const char *wire;
        size_t len;
        size_t good; /* records before the error (all "4hello") */
    } bad[] = {
        B("", 0),
        B("\x1e", 0),
        B("\x1e"
          "4hello",
          0),
        B("4hello\x1e", 1),
        B("4hello\x1e\x1e"
          "4hello",
          1),
        B("abc", 0),
        B("4hello\x1e"
          "abc",
          1),
        B("7", 0),
        B(" 4", 0),
        B("bA", 0),
        B("bA=", 0),
        B("bAQ=", 0),
        B("bAR==", 0), /* non-zero pad bits */
        B("bAAB=", 0), /* non-zero pad bits */
        B("bA===", 0),
        B("b====", 0),
        B("bAA=A", 0),
        B("bAQ==AQ==", 0), /* padding inside */
        B("b AQ==", 0),
        B("bAQ==\n", 0),
        B("b-_8=", 0), /* base64url alphabet */
        B("bAQ\x00=", 0),
        B("B", 0),
        B("4hello\x1e"
          "bAQIDBA=",
          1),
    };
#undef B
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        expect_payload(bad[k].wire, bad[k].len, hello, bad[k].good, SIOC_EPROTO);
        const char *reason = NULL;
        assert_int_equal(eio_payload_count(bad[k].wire, bad[k].len, &reason), SIOC_EPROTO);
        assert_non_null(reason);
    }
}

/* Reference: canonical padded base64, judged by OpenSSL's decode + re-encode. */
static int ref_base64_ok(const char *s, size_t n)
{
    if (n % 4)
        return 0;
    if (n == 0)
        return 1;
    unsigned char *dec = malloc(n), *enc = malloc(n + 1);
    int ok = 0, d = EVP_DecodeBlock(dec, (const unsigned char *)s, (int)n);
    if (d >= 0) {
        int pad = (s[n - 1] == '=') + (s[n - 1] == '=' && s[n - 2] == '=');
        int e = EVP_EncodeBlock(enc, dec, d - pad);
        ok = (size_t)e == n && memcmp(enc, s, n) == 0;
    }
    free(dec);
    free(enc);
    return ok;
}

/* Reference splitter: how many leading records are valid, and whether all are. */
static void ref_split(const char *p, size_t n, size_t *good, int *all_ok)
{
    *good = 0;
    *all_ok = 0;
    if (n == 0)
        return;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '\x1e')
            continue;
        size_t len = i - start;
        const char *r = p + start;
        int ok = len > 0 &&
                 ((r[0] >= '0' && r[0] <= '6') || (r[0] == 'b' && ref_base64_ok(r + 1, len - 1)));
        if (!ok)
            return;
        (*good)++;
        start = i + 1;
    }
    *all_ok = 1;
}

static void check_against_ref(const char *wire, size_t n)
{
    size_t good;
    int all_ok;
    ref_split(wire, n, &good, &all_ok);
    char *c = exact(wire, n);
    eio_payload_iter_t it;
    eio_payload_item_t item;
    eio_payload_iter_init(&it, c, n);
    for (size_t i = 0; i < good; i++)
        assert_int_equal(eio_payload_next(&it, &item, NULL), 1);
    assert_int_equal(eio_payload_next(&it, &item, NULL), all_ok ? 0 : SIOC_EPROTO);
    free(c);
}

static void test_every_prefix(void **state)
{
    (void)state;
    static const struct {
        const char *wire;
        size_t len;
    } cases[] = {
        {"4hello\x1e"
         "2\x1e"
         "4world",
         LEN("4hello\x1e"
             "2\x1e"
             "4world")},
        {"4hello\x1e"
         "bAQIDBA==",
         LEN("4hello\x1e"
             "bAQIDBA==")},
        {"bAQIDBA==\x1e"
         "bAQIDBA==\x1e"
         "b\x1e"
         "6",
         LEN("bAQIDBA==\x1e"
             "bAQIDBA==\x1e"
             "b\x1e"
             "6")},
        {"42[\"hello\"]\x1e"
         "42[\"world\"]",
         LEN("42[\"hello\"]\x1e"
             "42[\"world\"]")},
        {"2probe\x1e"
         "3probe\x1e"
         "5",
         LEN("2probe\x1e"
             "3probe\x1e"
             "5")},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
        for (size_t n = 0; n <= cases[k].len; n++)
            check_against_ref(cases[k].wire, n);
}

static void test_short_inputs_exhaustive(void **state)
{
    (void)state;
    /* Exhaustive over short inputs built from the interesting bytes. */
    static const char alphabet[] = "04b6A=/\x1e+Q7 ";
    size_t m = sizeof(alphabet) - 1;
    char wire[5];
    for (size_t a = 0; a < m; a++)
        for (size_t b = 0; b < m; b++)
            for (size_t c = 0; c < m; c++)
                for (size_t d = 0; d < m; d++)
                    for (size_t e = 0; e < m; e++) {
                        wire[0] = alphabet[a];
                        wire[1] = alphabet[b];
                        wire[2] = alphabet[c];
                        wire[3] = alphabet[d];
                        wire[4] = alphabet[e];
                        check_against_ref(wire, 5);
                        check_against_ref(wire, 2);
                    }
}

static void test_encoders(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    const uint8_t bin[] = {1, 2, 3, 4};
    assert_int_equal(eio_payload_append_text(&b, 1, EIO_MESSAGE, "hello", 5), 0);
    assert_int_equal(eio_payload_append_binary(&b, 0, bin, 4), 0);
    assert_int_equal(eio_payload_append_text(&b, 0, EIO_PING, NULL, 0), 0);
    static const char want[] = "4hello\x1e"
                               "bAQIDBA==\x1e"
                               "2";
    assert_int_equal(b.len, LEN(want));
    assert_memory_equal(b.base, want, b.len);
    /* Unframeable or unknown input leaves the buffer alone. */
    assert_int_equal(eio_payload_append_text(&b, 0, EIO_MESSAGE,
                                             "a\x1e"
                                             "b",
                                             3),
                     SIOC_EINVAL);
    assert_int_equal(eio_payload_append_text(&b, 0, 7, "a", 1), SIOC_EINVAL);
    assert_int_equal(b.len, LEN(want));
    buf_reset(&b);
    assert_int_equal(eio_payload_append_binary(&b, 1, NULL, 0), 0);
    assert_int_equal(b.len, 1);
    assert_memory_equal(b.base, "b", 1);
    buf_free(&b);

    assert_int_equal(eio_payload_binary_record_len(4), 9);
    assert_int_equal(eio_payload_binary_record_len(0), 1);
    assert_int_equal(base64_encoded_len(0), 0);
    assert_int_equal(base64_encoded_len(1), 4);
    assert_int_equal(base64_encoded_len(3), 4);
    assert_int_equal(base64_encoded_len(4), 8);
}

static void test_binary_round_trip_sizes(void **state)
{
    (void)state;
    uint8_t data[1030], out[1030];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 151 + 7);
    for (size_t n = 0; n <= sizeof(data); n += (n < 40 ? 1 : 97)) {
        /* A limit of exactly the record's size must be enough. */
        sioc_buf_t b = {.limit = eio_payload_binary_record_len(n)};
        assert_int_equal(eio_payload_append_binary(&b, 1, data, n), 0);
        assert_int_equal(b.len, eio_payload_binary_record_len(n));
        /* Same text as OpenSSL's encoder. */
        unsigned char ref[1500];
        int e = EVP_EncodeBlock(ref, data, (int)n);
        assert_int_equal((size_t)e + 1, b.len);
        assert_memory_equal(b.base + 1, ref, (size_t)e);
        eio_payload_iter_t it;
        eio_payload_item_t item;
        eio_payload_iter_init(&it, b.base, b.len);
        assert_int_equal(eio_payload_next(&it, &item, NULL), 1);
        assert_int_equal(item.binary, 1);
        assert_int_equal(item.binary_len, n);
        assert_int_equal(base64_decode(item.data, out, n), (int)n);
        assert_memory_equal(out, data, n);
        if (n > 0)
            assert_int_equal(base64_decode(item.data, out, n - 1), SIOC_ENOSPC);
        /* One byte less of limit fails and leaves nothing behind. */
        sioc_buf_t tight = {.limit = eio_payload_binary_record_len(n) - 1};
        if (tight.limit > 0) {
            assert_int_equal(eio_payload_append_binary(&tight, 1, data, n), SIOC_EMSGSIZE);
            assert_int_equal(tight.len, 0);
        }
        buf_free(&tight);
        buf_free(&b);
    }
}

static void test_base64_decode_strict(void **state)
{
    (void)state;
    uint8_t out[16];
    assert_int_equal(base64_decode(SIOC_LIT("AQIDBA=="), out, sizeof(out)), 4);
    assert_memory_equal(out, "\x01\x02\x03\x04", 4);
    assert_int_equal(base64_decode(SIOC_LIT(""), NULL, 0), 0);
    assert_int_equal(base64_decode(SIOC_LIT("AQIDBA="), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64_decode(SIOC_LIT("AQIDBA"), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64_decode(SIOC_LIT("AQIDBR=="), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64_decode(SIOC_LIT("AQID BA="), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64_decode(SIOC_LIT("AQIDBA=="), out, 3), SIOC_ENOSPC);
    assert_int_equal(base64_decoded_len(SIOC_LIT("AQIDBA==")), 4);
    assert_int_equal(base64_decoded_len(SIOC_LIT("AQIDBAU=")), 5);
    assert_int_equal(base64_decoded_len(SIOC_LIT("AQIDBAUG")), 6);
    assert_int_equal(base64_decoded_len(SIOC_LIT("")), 0);
    /* Upper bound for malformed lengths. */
    assert_true(base64_decoded_len(SIOC_LIT("AQIDB")) >= 4);
    /* Every single byte value in every position of a quartet. */
    for (int pos = 0; pos < 4; pos++)
        for (int c = 0; c < 256; c++) {
            char q[4] = {'Q', 'U', 'J', 'D'};
            q[pos] = (char)c;
            int ok = ref_base64_ok(q, 4);
            int r = base64_decode(iov_make(q, 4), out, sizeof(out));
            assert_int_equal(r >= 0, ok);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_payloads),
        cmocka_unit_test(test_malformed_payloads),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_short_inputs_exhaustive),
        cmocka_unit_test(test_encoders),
        cmocka_unit_test(test_binary_round_trip_sizes),
        cmocka_unit_test(test_base64_decode_strict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
