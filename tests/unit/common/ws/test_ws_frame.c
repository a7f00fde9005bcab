/*
 * Unit tests for common/ws/ws_frame: the RFC 6455 §5.7 example frames as
 * golden vectors, every header rule (Autobahn families 1-4 at the header
 * level) fed whole and byte by byte, length encodings, and unmasking
 * against a byte-loop reference at every length, offset and alignment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "ws/ws_close.h"
#include "ws/ws_frame.h"

static const uint8_t rfc_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* RFC 6455 §5.7 */
static const uint8_t ex_hello_unmasked[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
static const uint8_t ex_hello_masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                          0x7f, 0x9f, 0x4d, 0x51, 0x58};
static const uint8_t ex_frag1[] = {0x01, 0x03, 0x48, 0x65, 0x6c};
static const uint8_t ex_frag2[] = {0x80, 0x02, 0x6c, 0x6f};
static const uint8_t ex_ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
static const uint8_t ex_pong_masked[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                         0x7f, 0x9f, 0x4d, 0x51, 0x58};
static const uint8_t ex_256_head[] = {0x82, 0x7E, 0x01, 0x00};
static const uint8_t ex_64k_head[] = {0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};

/* Parses `b` whole and then every prefix, checking that each prefix shorter
 * than the header is INCOMPLETE (or fails the same way, when the rule broken
 * is visible in that prefix). */
static int parse_all_prefixes(const uint8_t *b, size_t len, int require_mask, ws_frame_header_t *h,
                              size_t fail_at)
{
    const char *reason = NULL;
    uint16_t code = 0;
    int whole = ws_frame_parse_header(b, len, h, require_mask, &reason, &code);
    for (size_t k = 0; k < len; k++) {
        ws_frame_header_t h2;
        const char *r2 = NULL;
        uint16_t c2 = 0;
        int rc = ws_frame_parse_header(b, k, &h2, require_mask, &r2, &c2);
        if (whole == SIOC_EPROTO && k >= fail_at) {
            assert_int_equal(rc, SIOC_EPROTO);
            assert_ptr_equal(r2, reason);
            assert_int_equal(c2, WS_CLOSE_PROTOCOL_ERROR);
        } else if (whole > 0 && k >= (size_t)whole) {
            assert_int_equal(rc, whole);
        } else {
            assert_int_equal(rc, SIOC_INCOMPLETE);
        }
    }
    if (whole == SIOC_EPROTO) {
        assert_non_null(reason);
        assert_int_equal(code, WS_CLOSE_PROTOCOL_ERROR);
    }
    return whole;
}

static void test_rfc_examples(void **state)
{
    (void)state;
    ws_frame_header_t h;
    uint8_t out[WS_FRAME_MAX_HEADER];

    assert_int_equal(parse_all_prefixes(ex_hello_unmasked, sizeof(ex_hello_unmasked), 0, &h, 0), 2);
    assert_int_equal(h.fin, 1);
    assert_int_equal(h.opcode, WS_FRAME_OP_TEXT);
    assert_int_equal(h.masked, 0);
    assert_int_equal(h.payload_len, 5);
    assert_int_equal(ws_frame_write_header(out, WS_FRAME_OP_TEXT, 1, 5, NULL), 2);
    assert_memory_equal(out, ex_hello_unmasked, 2);

    assert_int_equal(parse_all_prefixes(ex_hello_masked, sizeof(ex_hello_masked), 1, &h, 0), 6);
    assert_int_equal(h.masked, 1);
    assert_memory_equal(h.mask, rfc_key, 4);
    uint8_t pl[5];
    memcpy(pl, ex_hello_masked + 6, 5);
    ws_frame_unmask(pl, 5, h.mask, 0);
    assert_memory_equal(pl, "Hello", 5);
    assert_int_equal(ws_frame_write_header(out, WS_FRAME_OP_TEXT, 1, 5, rfc_key), 6);
    assert_memory_equal(out, ex_hello_masked, 6);
    sioc_buf_t b = {0};
    assert_int_equal(ws_frame_append(&b, WS_FRAME_OP_TEXT, 1, "Hello", 5, rfc_key), 0);
    assert_int_equal(b.len, sizeof(ex_hello_masked));
    assert_memory_equal(b.base, ex_hello_masked, sizeof(ex_hello_masked));
    b.len = 0;
    assert_int_equal(ws_frame_append(&b, WS_FRAME_OP_PONG, 1, "Hello", 5, rfc_key), 0);
    assert_memory_equal(b.base, ex_pong_masked, sizeof(ex_pong_masked));
    b.len = 0;
    assert_int_equal(ws_frame_append(&b, WS_FRAME_OP_PING, 1, "Hello", 5, NULL), 0);
    assert_memory_equal(b.base, ex_ping, sizeof(ex_ping));
    b.len = 0;
    assert_int_equal(ws_frame_append(&b, WS_FRAME_OP_TEXT, 0, "Hel", 3, NULL), 0);
    assert_int_equal(ws_frame_append(&b, WS_FRAME_OP_CONT, 1, "lo", 2, NULL), 0);
    assert_int_equal(b.len, sizeof(ex_frag1) + sizeof(ex_frag2));
    assert_memory_equal(b.base, ex_frag1, sizeof(ex_frag1));
    assert_memory_equal(b.base + sizeof(ex_frag1), ex_frag2, sizeof(ex_frag2));

    assert_int_equal(parse_all_prefixes(ex_frag1, sizeof(ex_frag1), 0, &h, 0), 2);
    assert_int_equal(h.fin, 0);
    assert_int_equal(h.opcode, WS_FRAME_OP_TEXT);
    assert_int_equal(h.payload_len, 3);
    assert_int_equal(parse_all_prefixes(ex_frag2, sizeof(ex_frag2), 0, &h, 0), 2);
    assert_int_equal(h.fin, 1);
    assert_int_equal(h.opcode, WS_FRAME_OP_CONT);
    assert_int_equal(parse_all_prefixes(ex_ping, sizeof(ex_ping), 0, &h, 0), 2);
    assert_int_equal(h.opcode, WS_FRAME_OP_PING);
    assert_int_equal(parse_all_prefixes(ex_pong_masked, sizeof(ex_pong_masked), 1, &h, 0), 6);
    assert_int_equal(h.opcode, WS_FRAME_OP_PONG);

    assert_int_equal(parse_all_prefixes(ex_256_head, sizeof(ex_256_head), 0, &h, 0), 4);
    assert_int_equal(h.payload_len, 256);
    assert_int_equal(h.opcode, WS_FRAME_OP_BINARY);
    assert_int_equal(ws_frame_write_header(out, WS_FRAME_OP_BINARY, 1, 256, NULL), 4);
    assert_memory_equal(out, ex_256_head, 4);
    assert_int_equal(parse_all_prefixes(ex_64k_head, sizeof(ex_64k_head), 0, &h, 0), 10);
    assert_int_equal(h.payload_len, 65536);
    assert_int_equal(ws_frame_write_header(out, WS_FRAME_OP_BINARY, 1, 65536, NULL), 10);
    assert_memory_equal(out, ex_64k_head, 10);
    buf_free(&b);
}

static void test_length_forms_round_trip(void **state)
{
    (void)state;
    static const uint64_t lens[] = {0,
                                    1,
                                    124,
                                    125,
                                    126,
                                    127,
                                    128,
                                    65535,
                                    65536,
                                    65537,
                                    0xFFFFFFFFull,
                                    0x100000000ull,
                                    1ull << 62,
                                    (1ull << 63) - 1};
    static const int ops[] = {WS_FRAME_OP_CONT, WS_FRAME_OP_TEXT, WS_FRAME_OP_BINARY};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        for (int m = 0; m < 2; m++)
            for (size_t o = 0; o < 3; o++)
                for (int fin = 0; fin < 2; fin++) {
                    uint8_t out[WS_FRAME_MAX_HEADER];
                    size_t want = 2 + (lens[i] < 126 ? 0 : lens[i] <= 0xFFFF ? 2 : 8) + (m ? 4 : 0);
                    size_t hl =
                        ws_frame_write_header(out, ops[o], fin, lens[i], m ? rfc_key : NULL);
                    assert_int_equal(hl, want);
                    ws_frame_header_t h;
                    assert_int_equal(parse_all_prefixes(out, hl, m, &h, 0), (int)hl);
                    assert_int_equal(h.payload_len, lens[i]);
                    assert_int_equal(h.opcode, ops[o]);
                    assert_int_equal(h.fin, fin);
                    assert_int_equal(h.masked, m);
                    if (m)
                        assert_memory_equal(h.mask, rfc_key, 4);
                }
    /* Control frames up to 125 bytes. */
    for (int op = WS_FRAME_OP_CLOSE; op <= WS_FRAME_OP_PONG; op++) {
        uint8_t out[WS_FRAME_MAX_HEADER];
        ws_frame_header_t h;
        size_t hl = ws_frame_write_header(out, op, 1, 125, rfc_key);
        assert_int_equal(parse_all_prefixes(out, hl, 1, &h, 0), 6);
        assert_int_equal(h.payload_len, 125);
    }
}

static void test_non_minimal_lengths_accepted(void **state)
{
    (void)state;
    ws_frame_header_t h;
    const uint8_t l16[] = {0x82, 0x7E, 0x00, 0x05};
    const uint8_t l64[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0x05};
    const uint8_t l64s[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
    assert_int_equal(parse_all_prefixes(l16, sizeof(l16), 0, &h, 0), 4);
    assert_int_equal(h.payload_len, 5);
    assert_int_equal(parse_all_prefixes(l64, sizeof(l64), 0, &h, 0), 10);
    assert_int_equal(h.payload_len, 5);
    assert_int_equal(parse_all_prefixes(l64s, sizeof(l64s), 0, &h, 0), 10);
    assert_int_equal(h.payload_len, 256);
}

static void test_64bit_top_bit_rejected(void **state)
{
    (void)state;
    ws_frame_header_t h;
    const uint8_t b[] = {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    /* Fails as soon as the first length byte is seen. */
    assert_int_equal(parse_all_prefixes(b, sizeof(b), 1, &h, 3), SIOC_EPROTO);
    const uint8_t ok[] = {0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4};
    assert_int_equal(parse_all_prefixes(ok, sizeof(ok), 1, &h, 0), 14);
    assert_int_equal(h.payload_len, (1ull << 63) - 1);
}

/* Autobahn family 3: any reserved bit fails on the first byte. */
static void test_reserved_bits(void **state)
{
    (void)state;
    for (unsigned rsv = 1; rsv < 8; rsv++)
        for (int op = 0; op <= 0xA; op++) {
            if (op > 2 && op < 8)
                continue;
            uint8_t b[] = {(uint8_t)(0x80 | rsv << 4 | op), 0x80, 1, 2, 3, 4};
            ws_frame_header_t h;
            assert_int_equal(parse_all_prefixes(b, sizeof(b), 1, &h, 1), SIOC_EPROTO);
        }
}

/* Autobahn family 4: reserved opcodes 3-7 and 0xB-0xF fail on the first byte. */
static void test_reserved_opcodes(void **state)
{
    (void)state;
    for (int op = 0; op < 16; op++) {
        uint8_t b[] = {(uint8_t)(0x80 | op), 0x80, 1, 2, 3, 4};
        ws_frame_header_t h;
        int reserved = (op >= 3 && op <= 7) || op >= 0xB;
        assert_int_equal(parse_all_prefixes(b, sizeof(b), 1, &h, 1), reserved ? SIOC_EPROTO : 6);
        const char *reason = NULL;
        if (reserved) {
            ws_frame_parse_header(b, 1, &h, 1, &reason, NULL);
            assert_string_equal(reason, "reserved opcode");
        }
    }
}

/* Autobahn 2.5 / 5.1 / 5.2 / 7.3.6: control frames are never fragmented and
 * carry at most 125 bytes. */
static void test_control_frame_rules(void **state)
{
    (void)state;
    ws_frame_header_t h;
    for (int op = WS_FRAME_OP_CLOSE; op <= WS_FRAME_OP_PONG; op++) {
        uint8_t nofin[] = {(uint8_t)op, 0x80, 1, 2, 3, 4};
        assert_int_equal(parse_all_prefixes(nofin, sizeof(nofin), 1, &h, 1), SIOC_EPROTO);
        uint8_t l126[] = {(uint8_t)(0x80 | op), 0x80 | 126, 0, 126, 1, 2, 3, 4};
        assert_int_equal(parse_all_prefixes(l126, sizeof(l126), 1, &h, 2), SIOC_EPROTO);
        uint8_t l127[] = {(uint8_t)(0x80 | op), 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
        assert_int_equal(parse_all_prefixes(l127, sizeof(l127), 1, &h, 2), SIOC_EPROTO);
        uint8_t l125[] = {(uint8_t)(0x80 | op), 0x80 | 125, 1, 2, 3, 4};
        assert_int_equal(parse_all_prefixes(l125, sizeof(l125), 1, &h, 0), 6);
    }
    /* Data frames may be fragmented and long. */
    uint8_t data[] = {0x01, 0x80 | 126, 0x01, 0x00, 1, 2, 3, 4};
    assert_int_equal(parse_all_prefixes(data, sizeof(data), 1, &h, 0), 8);
}

static void test_mask_rules(void **state)
{
    (void)state;
    ws_frame_header_t h;
    const char *reason = NULL;
    /* Server side: an unmasked client frame fails on the second byte. */
    assert_int_equal(parse_all_prefixes(ex_hello_unmasked, sizeof(ex_hello_unmasked), 1, &h, 2),
                     SIOC_EPROTO);
    ws_frame_parse_header(ex_hello_unmasked, 2, &h, 1, &reason, NULL);
    assert_string_equal(reason, "client frame not masked");
    /* Client side: a masked server frame fails on the second byte. */
    assert_int_equal(parse_all_prefixes(ex_hello_masked, sizeof(ex_hello_masked), 0, &h, 2),
                     SIOC_EPROTO);
    ws_frame_parse_header(ex_hello_masked, 2, &h, 0, &reason, NULL);
    assert_string_equal(reason, "server frame masked");
    /* NULL out-pointers are allowed. */
    assert_int_equal(ws_frame_parse_header(ex_hello_masked, 2, &h, 0, NULL, NULL), SIOC_EPROTO);
    assert_int_equal(ws_frame_parse_header(ex_hello_masked, 0, &h, 0, NULL, NULL), SIOC_INCOMPLETE);
}

static void unmask_ref(uint8_t *p, size_t len, const uint8_t key[4], size_t off)
{
    for (size_t i = 0; i < len; i++)
        p[i] ^= key[(off + i) % 4];
}

static void test_unmask_against_reference(void **state)
{
    (void)state;
    uint8_t a[300], b[300];
    const uint8_t key[4] = {0xA5, 0x01, 0xFF, 0x3C};
    for (size_t align = 0; align < 8; align++)
        for (size_t len = 0; len <= 260; len++)
            for (size_t off = 0; off < 9; off++) {
                for (size_t i = 0; i < sizeof(a); i++)
                    a[i] = b[i] = (uint8_t)(i * 7 + len);
                ws_frame_unmask(a + align, len, key, off);
                unmask_ref(b + align, len, key, off);
                assert_memory_equal(a, b, sizeof(a)); /* nothing outside touched either */
            }
    /* In pieces equals whole, and twice is the identity. */
    for (size_t i = 0; i < sizeof(a); i++)
        a[i] = b[i] = (uint8_t)i;
    ws_frame_unmask(a, 300, key, 0);
    ws_frame_unmask(b, 7, key, 0);
    ws_frame_unmask(b + 7, 100, key, 7);
    ws_frame_unmask(b + 107, 193, key, 107);
    assert_memory_equal(a, b, 300);
    ws_frame_unmask(a, 300, key, 0);
    for (size_t i = 0; i < sizeof(a); i++)
        assert_int_equal(a[i], (uint8_t)i);
}

static void test_append_masks_and_limits(void **state)
{
    (void)state;
    sioc_buf_t b = {.limit = 10};
    const uint8_t key[4] = {1, 2, 3, 4};
    assert_int_equal(ws_frame_append(&b, WS_FRAME_OP_BINARY, 1, "abcdefgh", 8, key), SIOC_EMSGSIZE);
    assert_int_equal(b.len, 0);
    assert_int_equal(ws_frame_append(&b, WS_FRAME_OP_BINARY, 1, "abcd", 4, key), 0);
    assert_int_equal(b.len, 10);
    uint8_t p[4];
    memcpy(p, b.base + 6, 4);
    unmask_ref(p, 4, key, 0);
    assert_memory_equal(p, "abcd", 4);
    b.limit = 0;
    assert_int_equal(ws_frame_append(&b, WS_FRAME_OP_BINARY, 1, NULL, 0, NULL), 0);
    assert_int_equal(b.len, 12);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_examples),
        cmocka_unit_test(test_length_forms_round_trip),
        cmocka_unit_test(test_non_minimal_lengths_accepted),
        cmocka_unit_test(test_64bit_top_bit_rejected),
        cmocka_unit_test(test_reserved_bits),
        cmocka_unit_test(test_reserved_opcodes),
        cmocka_unit_test(test_control_frame_rules),
        cmocka_unit_test(test_mask_rules),
        cmocka_unit_test(test_unmask_against_reference),
        cmocka_unit_test(test_append_masks_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
