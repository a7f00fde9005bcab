/* Unit tests for common/http/http_compress: the Accept-Encoding choice (negotiator's
 * order) and gzip / deflate bodies that zlib reads back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/err.h"
#include "http/http_compress.h"

static int pick(const char *s)
{
    return http_compress_pick(iov_make(s, strlen(s)));
}

static void test_pick(void **state)
{
    (void)state;
    assert_int_equal(http_compress_pick(SIOC_IOV_NULL), HTTP_COMPRESS_NONE);
    assert_int_equal(pick(""), HTTP_COMPRESS_NONE);
    assert_int_equal(pick("identity"), HTTP_COMPRESS_NONE);
    assert_int_equal(pick("br"), HTTP_COMPRESS_NONE);
    assert_int_equal(pick("gzip"), HTTP_COMPRESS_GZIP);
    assert_int_equal(pick("GZip"), HTTP_COMPRESS_GZIP);
    assert_int_equal(pick("deflate"), HTTP_COMPRESS_DEFLATE);
    assert_int_equal(pick("gzip, deflate, br"), HTTP_COMPRESS_GZIP);
    assert_int_equal(pick("deflate, gzip"), HTTP_COMPRESS_DEFLATE);
    assert_int_equal(pick("*"), HTTP_COMPRESS_GZIP);
    assert_int_equal(pick("gzip;q=0, *"), HTTP_COMPRESS_DEFLATE);
    assert_int_equal(pick("gzip;q=0.5, deflate;q=0.8"), HTTP_COMPRESS_DEFLATE);
    assert_int_equal(pick("gzip;q=0.8, deflate;q=0.8"), HTTP_COMPRESS_GZIP);
    assert_int_equal(pick("gzip ; q=0 , deflate ; q=0.000"), HTTP_COMPRESS_NONE);
    assert_int_equal(pick("gzip;q=0.001"), HTTP_COMPRESS_GZIP);
    assert_int_equal(pick("gzip;q=abc"), HTTP_COMPRESS_NONE);
    /* An exact name beats "*" at equal q; "*" alone reaches the other one. */
    assert_int_equal(pick("*;q=0.5, deflate;q=0.5, gzip;q=0.4"), HTTP_COMPRESS_DEFLATE);
    assert_int_equal(pick("*;q=0.9, deflate;q=0.5"), HTTP_COMPRESS_GZIP);
    assert_string_equal(http_compress_name(HTTP_COMPRESS_GZIP), "gzip");
    assert_string_equal(http_compress_name(HTTP_COMPRESS_DEFLATE), "deflate");
    assert_null(http_compress_name(HTTP_COMPRESS_NONE));
}

static void round_trip(int coding, const char *in, size_t len)
{
    sioc_buf_t out = {0};
    assert_int_equal(buf_append(&out, "pre", 3), 0);
    assert_int_equal(http_compress(coding, in, len, &out), 0);
    assert_memory_equal(out.base, "pre", 3);
    if (coding == HTTP_COMPRESS_GZIP) {
        assert_true(out.len > 5);
        assert_int_equal((uint8_t)out.base[3], 0x1f); /* gzip magic */
        assert_int_equal((uint8_t)out.base[4], 0x8b);
    }
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(inflateInit2(&z, coding == HTTP_COMPRESS_GZIP ? 31 : 15), Z_OK);
    char *back = malloc(len + 1);
    z.next_in = (Bytef *)out.base + 3;
    z.avail_in = (uInt)(out.len - 3);
    z.next_out = (Bytef *)back;
    z.avail_out = (uInt)len + 1;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, len);
    assert_memory_equal(back, in, len);
    inflateEnd(&z);
    free(back);
    buf_free(&out);
}

static void test_compress(void **state)
{
    (void)state;
    char big[10000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + (i * 7) % 13);
    round_trip(HTTP_COMPRESS_GZIP, big, sizeof(big));
    round_trip(HTTP_COMPRESS_DEFLATE, big, sizeof(big));
    round_trip(HTTP_COMPRESS_GZIP, "", 0);
    round_trip(HTTP_COMPRESS_DEFLATE, "x", 1);

    sioc_buf_t out = {0};
    assert_int_equal(http_compress(HTTP_COMPRESS_NONE, "x", 1, &out), SIOC_EINVAL);
    out.limit = 4; /* too small for any gzip member: nothing appended */
    assert_int_equal(http_compress(HTTP_COMPRESS_GZIP, big, sizeof(big), &out), SIOC_EMSGSIZE);
    assert_int_equal(out.len, 0);
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_pick),
                                       cmocka_unit_test(test_compress)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
