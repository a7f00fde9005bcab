/* Unit tests for common/eio/eio_packet: PROTOCOL.md §1.2, §1.3 and the §4 suite bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "eio/eio_packet.h"

/* A heap copy of exactly n bytes, so that ASan catches any read past the input. */
static char *exact(const char *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    assert_non_null(c);
    memcpy(c, p, n);
    return c;
}

static int decode(const char *s, size_t n, eio_packet_t *pkt, const char **reason)
{
    char *c = exact(s, n);
    int r = eio_packet_decode(c, n, pkt, reason);
    /* Slices must point into the input; re-base them onto the caller's literal. */
    if (r > 0)
        pkt->data.base = s + (pkt->data.base - c);
    free(c);
    return r;
}

static void expect_packet(const char *wire, int type, const char *data)
{
    eio_packet_t pkt;
    const char *reason = NULL;
    size_t n = strlen(wire);
    assert_int_equal(decode(wire, n, &pkt, &reason), (int)n);
    assert_int_equal(pkt.type, type);
    assert_int_equal(pkt.data.len, strlen(data));
    assert_memory_equal(pkt.data.base, data, pkt.data.len);
    assert_ptr_equal(pkt.data.base, wire + 1);
}

static void test_decode_every_type(void **state)
{
    (void)state;
    /* PROTOCOL.md §1.2 table and §1.6/§1.7 heartbeat and upgrade packets. */
    expect_packet("0{\"sid\":\"x\"}", EIO_OPEN, "{\"sid\":\"x\"}");
    expect_packet("1", EIO_CLOSE, "");
    expect_packet("2", EIO_PING, "");
    expect_packet("2probe", EIO_PING, "probe");
    expect_packet("3", EIO_PONG, "");
    expect_packet("3probe", EIO_PONG, "probe");
    expect_packet("4hello", EIO_MESSAGE, "hello");
    expect_packet("4", EIO_MESSAGE, "");
    expect_packet("42[\"foo\"]", EIO_MESSAGE, "2[\"foo\"]");
    expect_packet("5", EIO_UPGRADE, "");
    expect_packet("6", EIO_NOOP, "");
    /* The data is opaque: separators, NULs and non-UTF-8 bytes pass through. */
    eio_packet_t pkt;
    assert_int_equal(decode("4a\0b\xff", 5, &pkt, NULL), 5);
    assert_int_equal(pkt.data.len, 4);
    assert_memory_equal(pkt.data.base, "a\0b\xff", 4);
}

static void test_decode_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {"abc", "7", "9", "b",    "bAQIDBA==", " 4",
                                "-1",  "/", ":", "\x1e", "\xff",      "\x00x"};
    eio_packet_t pkt;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *reason = NULL;
        size_t n = bad[i][0] ? strlen(bad[i]) : 2;
        assert_int_equal(decode(bad[i], n, &pkt, &reason), SIOC_EPROTO);
        assert_non_null(reason);
    }
    const char *reason = NULL;
    assert_int_equal(decode("", 0, &pkt, &reason), SIOC_EPROTO);
    assert_string_equal(reason, "empty packet");
    /* reason may be NULL. */
    assert_int_equal(eio_packet_decode("x", 1, &pkt, NULL), SIOC_EPROTO);
}

static void test_decode_every_byte(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        char wire[2] = {(char)c, 'x'};
        eio_packet_t pkt;
        int r = decode(wire, 2, &pkt, NULL);
        if (c >= '0' && c <= '6') {
            assert_int_equal(r, 2);
            assert_int_equal(pkt.type, c - '0');
        } else {
            assert_int_equal(r, SIOC_EPROTO);
        }
    }
}

static void test_decode_byte_by_byte(void **state)
{
    (void)state;
    /* Every prefix of a packet is itself a packet or, when empty, malformed. */
    const char *wire = "42[\"message\",1,\"2\",{\"3\":[true]}]";
    size_t n = strlen(wire);
    for (size_t k = 0; k <= n; k++) {
        eio_packet_t pkt;
        int r = decode(wire, k, &pkt, NULL);
        if (k == 0) {
            assert_int_equal(r, SIOC_EPROTO);
            continue;
        }
        assert_int_equal(r, (int)k);
        assert_int_equal(pkt.type, EIO_MESSAGE);
        assert_int_equal(pkt.data.len, k - 1);
    }
}

static void test_write_packet(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    assert_int_equal(eio_packet_write(&b, EIO_PING, NULL, 0), 0);
    assert_int_equal(eio_packet_write(&b, EIO_PONG, "probe", 5), 0);
    assert_int_equal(eio_packet_write(&b, EIO_MESSAGE, "hello", 5), 0);
    assert_int_equal(eio_packet_write(&b, EIO_NOOP, "", 0), 0);
    assert_int_equal(b.len, strlen("23probe4hello6"));
    assert_memory_equal(b.base, "23probe4hello6", b.len);
    assert_int_equal(eio_packet_write(&b, 7, "x", 1), SIOC_EINVAL);
    assert_int_equal(eio_packet_write(&b, -1, "x", 1), SIOC_EINVAL);
    assert_int_equal(b.len, strlen("23probe4hello6"));
    buf_free(&b);

    sioc_buf_t small = {.limit = 3};
    assert_int_equal(eio_packet_write(&small, EIO_MESSAGE, "abc", 3), SIOC_EMSGSIZE);
    assert_int_equal(small.len, 0);
    buf_free(&small);
}

static void test_open_packet_exact(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    /* PROTOCOL.md §1.3: Node's defaults, key order and bytes. */
    assert_int_equal(eio_open_write(&b, "lv_VI97HAXpY6yYWAAAC", 1, 25000, 20000, 1000000), 0);
    static const char want[] =
        "0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,"
        "\"pingTimeout\":20000,\"maxPayload\":1000000}";
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.base, want, b.len);
    buf_reset(&b);

    /* §4.1/§4.2 suite configuration over a websocket-only session: "upgrades":[]. */
    assert_int_equal(eio_open_write(&b, "AAAAAAAAAAAAAAAAAAAA", 0, 300, 200, 1000000), 0);
    static const char want_ws[] =
        "0{\"sid\":\"AAAAAAAAAAAAAAAAAAAA\",\"upgrades\":[],"
        "\"pingInterval\":300,\"pingTimeout\":200,\"maxPayload\":1000000}";
    assert_int_equal(b.len, sizeof(want_ws) - 1);
    assert_memory_equal(b.base, want_ws, b.len);

    /* The output decodes as an open packet. */
    eio_packet_t pkt;
    assert_int_equal(eio_packet_decode(b.base, b.len, &pkt, NULL), (int)b.len);
    assert_int_equal(pkt.type, EIO_OPEN);
    buf_free(&b);
}

static void test_open_packet_rejects_bad_sid(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    assert_int_equal(eio_open_write(&b, "", 1, 1, 1, 1), SIOC_EINVAL);
    assert_int_equal(eio_open_write(&b, NULL, 1, 1, 1, 1), SIOC_EINVAL);
    assert_int_equal(eio_open_write(&b, "a\"b", 1, 1, 1, 1), SIOC_EINVAL);
    assert_int_equal(eio_open_write(&b, "a\\b", 1, 1, 1, 1), SIOC_EINVAL);
    assert_int_equal(eio_open_write(&b, "a\nb", 1, 1, 1, 1), SIOC_EINVAL);
    assert_int_equal(eio_open_write(&b, "a\xc3\xa9", 1, 1, 1, 1), SIOC_EINVAL);
    assert_int_equal(b.len, 0);
    /* A limit that cuts the packet leaves the buffer unchanged. */
    b.limit = 20;
    assert_int_equal(buf_append_str(&b, "keep"), 0);
    assert_int_equal(eio_open_write(&b, "sid", 1, 1, 1, 1), SIOC_EMSGSIZE);
    assert_int_equal(b.len, 4);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_every_type),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_decode_every_byte),
        cmocka_unit_test(test_decode_byte_by_byte),
        cmocka_unit_test(test_write_packet),
        cmocka_unit_test(test_open_packet_exact),
        cmocka_unit_test(test_open_packet_rejects_bad_sid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
