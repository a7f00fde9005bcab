/* Unit tests for worker/auth: the pinned algorithm, exp / nbf, and the refusals that
 * libjwt 1.10 leaves to its caller (alg none, HS/RS confusion). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "base/base64.h"

#define SECRET "0123456789abcdef0123456789abcdef-unit"
#define NOW 1800000000LL

static char *b64url_bytes(const unsigned char *s, size_t n)
{
    char *out = malloc(base64url_encoded_len(n) + 1);
    out[base64url_encode(out, s, n)] = '\0';
    return out;
}

static char *b64url(const char *s)
{
    return b64url_bytes((const unsigned char *)s, strlen(s));
}

static int verify(const auth_t *a, const char *tok, auth_claims_t *c, const char **reason)
{
    return auth_verify(a, tok, strlen(tok), NOW * 1000, c, reason);
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
    assert_int_equal(c.exp_ms, (NOW + 60) * 1000);
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

/* A token of any header and payload, its MAC HMAC-SHA256 with SECRET. */
static char *sign_with(const char *header, const char *payload)
{
    char *h = b64url(header);
    char *p = b64url(payload);
    char input[1024];
    snprintf(input, sizeof(input), "%s.%s", h, p);
    unsigned char mac[32];
    unsigned mac_len = 0;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)input, strlen(input),
         mac, &mac_len);
    char *sig = b64url_bytes(mac, mac_len);
    char *tok = malloc(strlen(input) + strlen(sig) + 2);
    sprintf(tok, "%s.%s", input, sig);
    free(sig);
    free(h);
    free(p);
    return tok;
}

/* An HS256 token over any payload (claims of any type), signed with SECRET. */
static char *sign_hs256(const char *payload)
{
    return sign_with("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload);
}

static int verify_at(const auth_t *a, const char *payload, long long now_ms, const char **reason)
{
    char *tok = sign_hs256(payload);
    auth_claims_t c;
    int r = auth_verify(a, tok, strlen(tok), now_ms, &c, reason);
    if (r == 0)
        auth_claims_free(&c);
    free(tok);
    return r;
}

/* exp / nbf / iat are NumericDates: fractions honoured, any other type refused. libjwt's
 * jwt_get_grant_int reads 86400.5 as 0, so "nbf": now + 86400.5 used to be accepted and a
 * fractional exp always refused. */
static void test_numeric_dates(void **state)
{
    (void)state;
    char err[128];
    auth_t *a = auth_new("HS256", SECRET, NULL, 0, err, sizeof(err));
    const char *reason = NULL;
    char payload[256];
    long long now_ms = NOW * 1000;

    snprintf(payload, sizeof(payload), "{\"sub\":\"p\",\"nbf\":%lld.5}", NOW + 86400);
    assert_int_equal(verify_at(a, payload, now_ms, &reason), -1);
    assert_string_equal(reason, "token not yet valid");
    snprintf(payload, sizeof(payload), "{\"sub\":\"p\",\"nbf\":%lld.5}", NOW - 1);
    assert_int_equal(verify_at(a, payload, now_ms, &reason), 0);

    /* exp = NOW + 0.5: valid 400 ms in, expired 600 ms in. */
    snprintf(payload, sizeof(payload), "{\"sub\":\"p\",\"exp\":%lld.5,\"iat\":%lld.25}", NOW, NOW);
    char *tok = sign_hs256(payload);
    auth_claims_t c;
    assert_int_equal(auth_verify(a, tok, strlen(tok), now_ms + 400, &c, &reason), 0);
    assert_int_equal(c.exp_ms, now_ms + 500);
    auth_claims_free(&c);
    assert_int_equal(auth_verify(a, tok, strlen(tok), now_ms + 600, &c, &reason), -1);
    assert_string_equal(reason, "token expired");
    free(tok);

    assert_int_equal(verify_at(a, "{\"sub\":\"p\",\"exp\":\"1900000000\"}", now_ms, &reason), -1);
    assert_string_equal(reason, "exp is not a number");
    assert_int_equal(verify_at(a, "{\"sub\":\"p\",\"exp\":true}", now_ms, &reason), -1);
    assert_string_equal(reason, "exp is not a number");
    assert_int_equal(verify_at(a, "{\"sub\":\"p\",\"nbf\":\"0\"}", now_ms, &reason), -1);
    assert_string_equal(reason, "nbf is not a number");
    assert_int_equal(verify_at(a, "{\"sub\":\"p\",\"nbf\":null}", now_ms, &reason), -1);
    assert_string_equal(reason, "nbf is not a number");
    assert_int_equal(verify_at(a, "{\"sub\":\"p\",\"iat\":[1]}", now_ms, &reason), -1);
    assert_string_equal(reason, "iat is not a number");
    /* A far-future exp is accepted without overflowing exp_ms. */
    assert_int_equal(verify_at(a, "{\"sub\":\"p\",\"exp\":1e300}", now_ms, &reason), 0);
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

static void expect_refused(const auth_t *a, const char *tok, const char *why)
{
    auth_claims_t c;
    const char *reason = NULL;
    assert_int_equal(auth_verify(a, tok, strlen(tok), NOW * 1000, &c, &reason), -1);
    assert_non_null(reason);
    if (why != NULL)
        assert_string_equal(reason, why);
}

/* The HS256 path's own checks: the MAC in canonical base64url, exactly three segments, the
 * header's alg, the claims a JSON object without duplicate names. */
static void test_hs256_forms(void **state)
{
    (void)state;
    char err[128];
    auth_t *a = auth_new("HS256", SECRET, NULL, 0, err, sizeof(err));
    assert_non_null(a);
    const char *bad_sig = "invalid token or signature";
    char *good = sign_hs256("{\"sub\":\"ann\"}");
    auth_claims_t c;
    const char *reason = NULL;
    assert_int_equal(auth_verify(a, good, strlen(good), NOW * 1000, &c, &reason), 0);
    assert_string_equal(c.sub, "ann");
    auth_claims_free(&c);
    char buf[1024];
    size_t n = strlen(good);
    /* one character of the MAC changed; its last character changed in the unused bits only
     * (the same 32 bytes, not in canonical form); padded; cut; a fourth segment */
    snprintf(buf, sizeof(buf), "%s", good);
    buf[n - 5] = buf[n - 5] == 'A' ? 'B' : 'A';
    expect_refused(a, buf, bad_sig);
    snprintf(buf, sizeof(buf), "%s", good);
    const char *alpha = base64url_alphabet;
    size_t v = (size_t)(strchr(alpha, buf[n - 1]) - alpha);
    buf[n - 1] = alpha[v ^ 1];
    expect_refused(a, buf, bad_sig);
    snprintf(buf, sizeof(buf), "%s=", good);
    expect_refused(a, buf, bad_sig);
    snprintf(buf, sizeof(buf), "%.*s", (int)(n - 1), good);
    expect_refused(a, buf, bad_sig);
    snprintf(buf, sizeof(buf), "%s.x", good);
    expect_refused(a, buf, bad_sig);
    /* signed with the secret, but the header names another algorithm, or none */
    char *t = sign_with("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", "{\"sub\":\"ann\"}");
    expect_refused(a, t, "token algorithm is not the configured one");
    free(t);
    t = sign_with("{\"typ\":\"JWT\"}", "{\"sub\":\"ann\"}");
    expect_refused(a, t, "token algorithm is not the configured one");
    free(t);
    t = sign_with("[\"HS256\"]", "{\"sub\":\"ann\"}");
    expect_refused(a, t, bad_sig);
    free(t);
    /* claims: not an object, a name twice, not JSON */
    t = sign_hs256("[1,2]");
    expect_refused(a, t, "claims are not a JSON object");
    free(t);
    t = sign_hs256("{\"sub\":\"ann\",\"sub\":\"root\"}");
    expect_refused(a, t, "claims are not a JSON object");
    free(t);
    t = sign_hs256("{\"sub\":");
    expect_refused(a, t, "claims are not a JSON object");
    free(t);
    /* a sub that is not a string is no sub */
    t = sign_hs256("{\"sub\":42}");
    assert_int_equal(auth_verify(a, t, strlen(t), NOW * 1000, &c, &reason), 0);
    assert_null(c.sub);
    auth_claims_free(&c);
    free(t);
    free(good);
    auth_free(a);
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
        cmocka_unit_test(test_numeric_dates),
        cmocka_unit_test(test_hs256_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
