/* Unit tests for worker/auth: the pinned algorithm, exp / nbf, and the refusals that
 * libjwt 1.10 leaves to its caller (alg none, HS/RS confusion). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"

#define SECRET "0123456789abcdef0123456789abcdef-unit"
#define NOW 1800000000LL

static char *b64url(const char *s)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(s);
    char *out = malloc(n * 2 + 4);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)s[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)s[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = tbl[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = tbl[v & 63];
    }
    out[o] = '\0';
    return out;
}

static int verify(const auth_t *a, const char *tok, auth_claims_t *c, const char **reason)
{
    return auth_verify(a, tok, strlen(tok), NOW, c, reason);
}

static void test_weak_secret_refused(void **state)
{
    (void)state;
    char err[128];
    assert_null(auth_new("HS256", "short", NULL, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "32"));
    assert_null(auth_new("none", SECRET, NULL, 0, err, sizeof(err)));
}

static void test_valid_token(void **state)
{
    (void)state;
    char err[128];
    auth_t *a = auth_new("HS256", SECRET, NULL, 0, err, sizeof(err));
    assert_non_null(a);
    char *tok = auth_mint("HS256", (const unsigned char *)SECRET, strlen(SECRET), "alice", NOW, 60);
    assert_non_null(tok);
    auth_claims_t c;
    const char *reason = NULL;
    assert_int_equal(verify(a, tok, &c, &reason), 0);
    assert_string_equal(c.sub, "alice");
    assert_int_equal(c.exp, NOW + 60);
    assert_non_null(strstr(c.claims_json, "\"sub\":\"alice\""));
    auth_claims_free(&c);
    free(tok);
    auth_free(a);
}

static void test_expired_and_leeway(void **state)
{
    (void)state;
    char err[128];
    auth_t *a = auth_new("HS256", SECRET, NULL, 0, err, sizeof(err));
    auth_claims_t c;
    const char *reason = NULL;
    char *old =
        auth_mint("HS256", (const unsigned char *)SECRET, strlen(SECRET), "bob", NOW - 120, 60);
    assert_int_equal(verify(a, old, &c, &reason), -1);
    assert_string_equal(reason, "token expired");
    free(old);
    auth_free(a);
    /* Leeway covers small clock skew only. */
    a = auth_new("HS256", SECRET, NULL, 90, err, sizeof(err));
    old = auth_mint("HS256", (const unsigned char *)SECRET, strlen(SECRET), "bob", NOW - 120, 60);
    assert_int_equal(verify(a, old, &c, &reason), 0);
    auth_claims_free(&c);
    free(old);
    auth_free(a);
}

static void test_wrong_secret_and_garbage(void **state)
{
    (void)state;
    char err[128];
    auth_t *a = auth_new("HS256", SECRET, NULL, 0, err, sizeof(err));
    const char *other = "another-secret-another-secret-0123456789";
    char *tok = auth_mint("HS256", (const unsigned char *)other, strlen(other), "eve", NOW, 60);
    auth_claims_t c;
    const char *reason = NULL;
    assert_int_equal(verify(a, tok, &c, &reason), -1);
    assert_int_equal(verify(a, "not.a.jwt", &c, &reason), -1);
    assert_int_equal(verify(a, "", &c, &reason), -1);
    free(tok);
    auth_free(a);
}

static void test_alg_none_refused(void **state)
{
    (void)state;
    char err[128];
    auth_t *a = auth_new("HS256", SECRET, NULL, 0, err, sizeof(err));
    char *h = b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}");
    char *p = b64url("{\"sub\":\"mallory\",\"exp\":1900000000}");
    char tok[512];
    snprintf(tok, sizeof(tok), "%s.%s.", h, p);
    auth_claims_t c;
    const char *reason = NULL;
    assert_int_equal(verify(a, tok, &c, &reason), -1);
    free(h);
    free(p);
    auth_free(a);
}

/* RS256 pinned: an HS256 token signed with the public key PEM as the HMAC secret. */
static void test_algorithm_confusion_refused(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_RSA_gen(2048);
    assert_non_null(k);
    char pub_path[] = "/tmp/sioc-test-pub-XXXXXX";
    int fd = mkstemp(pub_path);
    FILE *f = fdopen(fd, "w");
    PEM_write_PUBKEY(f, k);
    fclose(f);
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
    char *priv = NULL;
    long priv_len = BIO_get_mem_data(bio, &priv);
    FILE *pf = fopen(pub_path, "rb");
    char pub[4096];
    size_t pub_len = fread(pub, 1, sizeof(pub), pf);
    fclose(pf);

    char err[128];
    auth_t *a = auth_new("RS256", NULL, pub_path, 0, err, sizeof(err));
    assert_non_null(a);
    auth_claims_t c;
    const char *reason = NULL;
    char *good =
        auth_mint("RS256", (const unsigned char *)priv, (size_t)priv_len, "rsa-user", NOW, 60);
    assert_non_null(good);
    assert_int_equal(verify(a, good, &c, &reason), 0);
    assert_string_equal(c.sub, "rsa-user");
    auth_claims_free(&c);
    char *forged = auth_mint("HS256", (const unsigned char *)pub, pub_len, "mallory", NOW, 60);
    assert_non_null(forged);
    assert_int_equal(verify(a, forged, &c, &reason), -1);
    free(good);
    free(forged);
    auth_free(a);
    BIO_free(bio);
    EVP_PKEY_free(k);
    unlink(pub_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weak_secret_refused),
        cmocka_unit_test(test_valid_token),
        cmocka_unit_test(test_expired_and_leeway),
        cmocka_unit_test(test_wrong_secret_and_garbage),
        cmocka_unit_test(test_alg_none_refused),
        cmocka_unit_test(test_algorithm_confusion_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
