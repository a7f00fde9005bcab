/* Unit tests for common/ws/ws_deflate: offers (RFC 7692 §7.1), the response line, and
 * messages compressed and inflated with and without the cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/err.h"
#include "ws/ws_deflate.h"

static int offer(const char *v, int *bits)
{
    sioc_iov_t s = iov_make(v, strlen(v));
    ws_deflate_params_t p = {0};
    int r = ws_deflate_negotiate(&s, 1, &p);
    *bits = p.server_max_window_bits;
    return r;
}

static void test_negotiate(void **state)
{
    (void)state;
    int bits;
    assert_int_equal(offer("permessage-deflate", &bits), 1);
    assert_int_equal(bits, 15);
    assert_int_equal(offer("permessage-deflate; client_max_window_bits", &bits), 1);
    assert_int_equal(offer("Permessage-Deflate ;server_no_context_takeover; "
                           "client_no_context_takeover; client_max_window_bits=9",
                           &bits),
                     1);
    assert_int_equal(offer("permessage-deflate; server_max_window_bits=10", &bits), 1);
    assert_int_equal(bits, 10);
    assert_int_equal(offer("permessage-deflate; server_max_window_bits=\"12\"", &bits), 1);
    assert_int_equal(bits, 12);
    /* Declined: 8, out of range, missing value, duplicates, unknown, value where none. */
    const char *no[] = {
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; x",
        "permessage-deflate; client_no_context_takeover=1",
        "x-webkit-deflate-frame",
        ""};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_int_equal(offer(no[i], &bits), 0);
    /* The first acceptable offer, across elements and fields. */
    assert_int_equal(offer("foo, permessage-deflate; x, permessage-deflate; "
                           "server_max_window_bits=11, permessage-deflate",
                           &bits),
                     1);
    assert_int_equal(bits, 11);
    sioc_iov_t two[2] = {SIOC_LIT("permessage-deflate; bad"),
                         SIOC_LIT("permessage-deflate; server_max_window_bits=9")};
    ws_deflate_params_t p;
    assert_int_equal(ws_deflate_negotiate(two, 2, &p), 1);
    assert_int_equal(p.server_max_window_bits, 9);
    assert_int_equal(ws_deflate_negotiate(NULL, 0, &p), 0);

    sioc_buf_t b = {0};
    p.server_max_window_bits = 15;
    assert_int_equal(ws_deflate_response(&p, &b), 0);
    const char want[] = "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                        "client_no_context_takeover\r\n";
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.base, want, b.len);
    b.len = 0;
    p.server_max_window_bits = 10;
    assert_int_equal(ws_deflate_response(&p, &b), 0);
    assert_non_null(strstr(b.base, "; server_max_window_bits=10\r\n"));
    buf_free(&b);
}

static void test_round_trip(void **state)
{
    (void)state;
    ws_deflate_t *d = ws_deflate_new();
    char msg[20000];
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (char)("abcdefgh"[(i * i) % 8]);
    for (int bits = 9; bits <= 15; bits++) {
        sioc_buf_t z = {0};
        assert_int_equal(ws_deflate_compress(d, bits, "4", 1, msg, sizeof(msg), &z), 0);
        assert_true(z.len < sizeof(msg) / 4);
        /* No context takeover: the same message compresses to the same bytes again. */
        sioc_buf_t z2 = {0};
        assert_int_equal(ws_deflate_compress(d, bits, "4", 1, msg, sizeof(msg), &z2), 0);
        assert_int_equal(z2.len, z.len);
        assert_memory_equal(z2.base, z.base, z.len);
        sioc_iov_t out;
        assert_int_equal(ws_deflate_inflate(d, z.base, z.len, sizeof(msg) + 1, &out), 0);
        assert_int_equal(out.len, sizeof(msg) + 1);
        assert_int_equal(out.base[0], '4');
        assert_memory_equal(out.base + 1, msg, sizeof(msg));
        /* One byte under the cap: refused. */
        assert_int_equal(ws_deflate_inflate(d, z.base, z.len, sizeof(msg), &out), SIOC_EMSGSIZE);
        buf_free(&z);
        buf_free(&z2);
    }
    assert_int_equal(ws_deflate_compress(d, 8, NULL, 0, "x", 1, &(sioc_buf_t){0}), SIOC_EINVAL);

    /* What a peer's zlib makes (raw deflate, sync flush, tail cut) inflates. */
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
    uint8_t buf[256];
    zs.next_in = (Bytef *)"hello hello hello";
    zs.avail_in = 17;
    zs.next_out = buf;
    zs.avail_out = sizeof(buf);
    assert_int_equal(deflate(&zs, Z_SYNC_FLUSH), Z_OK);
    size_t n = sizeof(buf) - zs.avail_out;
    deflateEnd(&zs);
    sioc_iov_t out;
    assert_int_equal(ws_deflate_inflate(d, buf, n - 4, 100, &out), 0);
    assert_int_equal(out.len, 17);
    assert_memory_equal(out.base, "hello hello hello", 17);

    /* Not deflate. */
    const uint8_t bad[] = {0xff, 0xff, 0xff, 0xff, 0x00};
    assert_int_equal(ws_deflate_inflate(d, bad, sizeof(bad), 100, &out), SIOC_EPROTO);
    /* Empty payload: an empty message. */
    assert_int_equal(ws_deflate_inflate(d, "", 0, 100, &out), 0);
    assert_int_equal(out.len, 0);
    ws_deflate_free(d);
}

/* A bomb: 10 MB of zeros compress to about 10 KB; the cap stops it early. */
static void test_bomb(void **state)
{
    (void)state;
    ws_deflate_t *d = ws_deflate_new();
    size_t big = 10u << 20;
    char *zeros = calloc(1, big);
    sioc_buf_t z = {0};
    assert_int_equal(ws_deflate_compress(d, 15, NULL, 0, zeros, big, &z), 0);
    assert_true(z.len < 20000);
    sioc_iov_t out;
    assert_int_equal(ws_deflate_inflate(d, z.base, z.len, 1000000, &out), SIOC_EMSGSIZE);
    assert_int_equal(ws_deflate_inflate(d, z.base, z.len, big, &out), 0);
    assert_int_equal(out.len, big);
    free(zeros);
    buf_free(&z);
    ws_deflate_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_negotiate),
                                       cmocka_unit_test(test_round_trip),
                                       cmocka_unit_test(test_bomb)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
