/* Unit tests for common/base/base64: RFC 4648 §10 vectors, base64url, strict decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/base64.h"
#include "base/err.h"

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    static const char *url[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        size_t n = strlen(in[i]);
        assert_int_equal(base64_encode(out, in[i], n), strlen(std[i]));
        assert_int_equal(base64_encoded_len(n), strlen(std[i]));
        assert_memory_equal(out, std[i], strlen(std[i]));
        assert_int_equal(base64url_encode(out, in[i], n), strlen(url[i]));
        assert_int_equal(base64url_encoded_len(n), strlen(url[i]));
        assert_memory_equal(out, url[i], strlen(url[i]));
        uint8_t dec[16];
        assert_int_equal(base64_decode(iov_make(std[i], strlen(std[i])), dec, sizeof(dec)), (int)n);
        assert_memory_equal(dec, in[i], n);
        assert_int_equal(base64_check(std[i], strlen(std[i])), n);
        assert_int_equal(base64_decoded_len(iov_make(std[i], strlen(std[i]))), n);
        assert_int_equal(base64url_decode(iov_make(url[i], strlen(url[i])), dec, sizeof(dec)),
                         (int)n);
        assert_memory_equal(dec, in[i], n);
    }
}

/* Every length up to 200 of every byte pattern: the same text as OpenSSL, round trip. */
static void test_against_openssl(void **state)
{
    (void)state;
    uint8_t in[200], dec[200];
    char out[300], ref[300], url[300];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof(in); n++) {
        size_t k = base64_encode(out, in, n);
        int rk = EVP_EncodeBlock((unsigned char *)ref, in, (int)n);
        assert_int_equal(k, (size_t)rk);
        assert_memory_equal(out, ref, k);
        assert_int_equal(base64_decode(iov_make(out, k), dec, n), (int)n);
        assert_memory_equal(dec, in, n);
        size_t u = base64url_encode(url, in, n);
        for (size_t j = 0; j < u; j++) {
            char c = out[j] == '+' ? '-' : out[j] == '/' ? '_' : out[j];
            assert_int_equal(url[j], c);
        }
        assert_true(k == u || (k > u && out[u] == '='));
        assert_int_equal(base64url_decode(iov_make(url, u), dec, n), (int)n);
        assert_memory_equal(dec, in, n);
    }
}

/* base64url as JWTs carry it: no padding, canonical unused bits, its own alphabet. */
static void test_url_strict_decoding(void **state)
{
    (void)state;
    uint8_t out[8];
    assert_int_equal(base64url_decode(SIOC_LIT("-_-_"), out, sizeof(out)), 3);
    assert_memory_equal(out, "\xfb\xff\xbf", 3);
    assert_int_equal(base64url_decode(SIOC_LIT(""), NULL, 0), 0);
    assert_int_equal(base64url_decode(SIOC_LIT("AQIDBA"), out, sizeof(out)), 4);
    assert_int_equal(base64url_decode(SIOC_LIT("AQIDBA=="), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64url_decode(SIOC_LIT("AQIDB"), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64url_decode(SIOC_LIT("AQIDBR"), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64url_decode(SIOC_LIT("AQIDBAV"), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64url_decode(SIOC_LIT("AQIDBAU"), out, sizeof(out)), 5);
    assert_int_equal(base64url_decode(SIOC_LIT("AQ+/"), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64url_decode(SIOC_LIT("AQ I"), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64url_decode(SIOC_LIT("AQIDBA"), out, 3), SIOC_ENOSPC);
}

static void test_strict_decoding(void **state)
{
    (void)state;
    uint8_t out[8];
    assert_int_equal(base64_decode(SIOC_LIT("AQIDBA=="), out, sizeof(out)), 4);
    assert_memory_equal(out, "\x01\x02\x03\x04", 4);
    assert_int_equal(base64_decode(SIOC_LIT(""), NULL, 0), 0);
    assert_int_equal(base64_decode(SIOC_LIT("AQIDBA="), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64_decode(SIOC_LIT("AQIDBA"), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64_decode(SIOC_LIT("AQIDBR=="), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64_decode(SIOC_LIT("AQIDBAU="), out, sizeof(out)), 5);
    assert_int_equal(base64_decode(SIOC_LIT("AQIDBAV="), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64_decode(SIOC_LIT("AQID BA="), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64_decode(SIOC_LIT("AQ-_"), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64_decode(SIOC_LIT("A=BC"), out, sizeof(out)), SIOC_EPROTO);
    assert_int_equal(base64_decode(SIOC_LIT("AQIDBA=="), out, 3), SIOC_ENOSPC);
    assert_int_equal(base64_check("AQIDBR==", 8), (size_t)-1);
    assert_true(base64_decoded_len(SIOC_LIT("AQIDB")) >= 4);
}

static void test_alphabets(void **state)
{
    (void)state;
    assert_int_equal(strlen(base64_alphabet), 64);
    assert_int_equal(strlen(base64url_alphabet), 64);
    int count = 0;
    for (int c = 0; c < 256; c++) {
        int in = c != 0 && strchr(base64_alphabet, c) != NULL;
        assert_int_equal(base64_is_char(c), in);
        count += in;
    }
    assert_int_equal(count, 64);
    assert_false(base64_is_char('='));
    assert_false(base64_is_char(-1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors), cmocka_unit_test(test_against_openssl),
        cmocka_unit_test(test_strict_decoding), cmocka_unit_test(test_url_strict_decoding),
        cmocka_unit_test(test_alphabets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
