/*
 * auth.c - JWT verification with a pinned algorithm (auth.h).
 *
 * The only file that includes libjwt.
 */
#include "auth.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/base64.h"

#define AUTH_MAX_TOKEN 8192
#define HS256_LEN 32

struct auth {
    jwt_alg_t alg;
    unsigned char *key;
    size_t key_len;
    long leeway;
    EVP_MAC_CTX *hs256; /* HS256: HMAC-SHA256 keyed once, copied for each token */
};

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            if (cap > (1 << 20))
                break;
            buf = xrealloc(buf, cap + 1);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    *len = n;
    return buf;
}

auth_t *auth_new(const char *alg, const char *secret, const char *pubkey_file, long leeway,
                 char *err, size_t errlen)
{
    auth_t *a = xcalloc(1, sizeof(*a));
    a->leeway = leeway;
    a->alg = jwt_str_alg(alg);
    if (a->alg != JWT_ALG_HS256 && a->alg != JWT_ALG_RS256 && a->alg != JWT_ALG_ES256) {
        snprintf(err, errlen, "unsupported JWT algorithm '%s'", alg);
        goto fail;
    }
    if (a->alg == JWT_ALG_HS256) {
        if (secret == NULL || strlen(secret) < AUTH_MIN_SECRET) {
            snprintf(err, errlen, "JWT_SECRET must be at least %d bytes (got %zu)", AUTH_MIN_SECRET,
                     secret ? strlen(secret) : (size_t)0);
            goto fail;
        }
        a->key_len = strlen(secret);
        a->key = (unsigned char *)xstrdup(secret);
        EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        a->hs256 = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
        EVP_MAC_free(mac);
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
        if (a->hs256 == NULL || !EVP_MAC_init(a->hs256, a->key, a->key_len, params)) {
            snprintf(err, errlen, "OpenSSL has no HMAC-SHA256");
            goto fail;
        }
    } else {
        a->key = read_file(pubkey_file, &a->key_len);
        if (a->key == NULL || a->key_len == 0 || strstr((char *)a->key, "PUBLIC KEY") == NULL) {
            snprintf(err, errlen, "cannot read a PEM public key from '%s'", pubkey_file);
            goto fail;
        }
    }
    return a;

fail:
    auth_free(a);
    return NULL;
}

void auth_free(auth_t *a)
{
    if (a == NULL)
        return;
    if (a->key != NULL)
        memset(a->key, 0, a->key_len);
    free(a->key);
    EVP_MAC_CTX_free(a->hs256);
    free(a);
}

/* Reads a NumericDate claim (RFC 7519 §2: a JSON number, fractions allowed). Returns 1 and
 * stores the value when present, 0 when absent, -1 when present but not a number. */
static int numeric_date(json_t *claims, const char *name, double *out)
{
    json_t *v = json_object_get(claims, name);
    if (v == NULL)
        return 0;
    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return 1;
}

/* exp, nbf and iat, read from the verified claims with jansson rather than libjwt 1.10's
 * jwt_get_grant_int, which reads a fractional or string value as 0; and sub. */
static int check_claims(const auth_t *a, json_t *claims, long long now_ms, auth_claims_t *out,
                        const char **reason)
{
    double now = (double)now_ms / 1000.0, leeway = (double)a->leeway;
    double exp = 0, nbf = 0, iat = 0;
    int has_exp = numeric_date(claims, "exp", &exp);
    int has_nbf = numeric_date(claims, "nbf", &nbf);
    if (has_exp < 0)
        *reason = "exp is not a number";
    else if (has_nbf < 0)
        *reason = "nbf is not a number";
    else if (numeric_date(claims, "iat", &iat) < 0)
        *reason = "iat is not a number";
    else if (has_exp && now >= exp + leeway)
        *reason = "token expired";
    else if (has_nbf && now + leeway < nbf)
        *reason = "token not yet valid";
    else {
        if (has_exp) {
            /* Past the check above exp > now - leeway; cap far-future values (no overflow). */
            double ms = exp * 1000.0;
            out->exp_ms = ms > 9.0e15 ? 9000000000000000LL : ms < 1 ? 1 : (long long)ms;
        }
        const char *sub = json_string_value(json_object_get(claims, "sub"));
        out->sub = sub ? xstrdup(sub) : NULL;
        return 0;
    }
    return -1;
}

/* A base64url-encoded JSON object (a JWT's header or claims), or NULL. */
static json_t *segment_json(const char *s, size_t n)
{
    uint8_t buf[AUTH_MAX_TOKEN / 4 * 3 + 3];
    int k = base64url_decode(iov_make(s, n), buf, sizeof(buf));
    if (k <= 0)
        return NULL;
    json_t *j = json_loadb((const char *)buf, (size_t)k, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* HS256 (RFC 7515 compact form): the MAC over "header.claims" from the keyed context, its
 * base64url compared in constant time with the token's, then the header's alg; the claims
 * are parsed once. */
static json_t *verify_hs256(const auth_t *a, const char *tok, size_t len, const char **reason)
{
    *reason = "invalid token or signature";
    const char *end = tok + len;
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 != NULL ? memchr(d1 + 1, '.', (size_t)(end - d1 - 1)) : NULL;
    if (d2 == NULL || memchr(d2 + 1, '.', (size_t)(end - d2 - 1)) != NULL)
        return NULL;
    unsigned char mac[HS256_LEN];
    size_t mac_len = 0;
    EVP_MAC_CTX *c = EVP_MAC_CTX_dup(a->hs256);
    int ok = c != NULL && EVP_MAC_update(c, (const unsigned char *)tok, (size_t)(d2 - tok)) &&
             EVP_MAC_final(c, mac, &mac_len, sizeof(mac)) && mac_len == HS256_LEN;
    EVP_MAC_CTX_free(c);
    char want[44];
    size_t want_len = base64url_encode(want, mac, sizeof(mac));
    if (!ok || (size_t)(end - d2 - 1) != want_len || CRYPTO_memcmp(want, d2 + 1, want_len) != 0)
        return NULL;
    json_t *header = segment_json(tok, (size_t)(d1 - tok));
    if (header == NULL)
        return NULL;
    const char *alg = json_string_value(json_object_get(header, "alg"));
    int alg_ok = alg != NULL && strcmp(alg, "HS256") == 0;
    json_decref(header);
    if (!alg_ok) {
        *reason = "token algorithm is not the configured one";
        return NULL;
    }
    json_t *claims = segment_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (claims == NULL)
        *reason = "claims are not a JSON object";
    return claims;
}

/* RS256 / ES256 through libjwt (which verifies with the key, then the alg is pinned here). */
static json_t *verify_libjwt(const auth_t *a, const char *token, size_t len, const char **reason)
{
    char *tok = xstrndup(token, len);
    jwt_t *jwt = NULL;
    json_t *claims = NULL;
    /* Never call jwt_decode without a key: it would skip verification. */
    int r = jwt_decode(&jwt, tok, a->key, (int)a->key_len);
    free(tok);
    if (r != 0 || jwt == NULL) {
        *reason = "invalid token or signature";
    } else if (jwt_get_alg(jwt) != a->alg) {
        *reason = "token algorithm is not the configured one";
    } else {
        char *json = jwt_get_grants_json(jwt, NULL);
        claims = json != NULL ? json_loads(json, 0, NULL) : NULL;
        free(json);
        if (!json_is_object(claims)) {
            json_decref(claims);
            claims = NULL;
            *reason = "claims are not a JSON object";
        }
    }
    if (jwt != NULL)
        jwt_free(jwt);
    return claims;
}

int auth_verify(const auth_t *a, const char *token, size_t len, long long now_ms,
                auth_claims_t *out, const char **reason)
{
    memset(out, 0, sizeof(*out));
    if (len == 0 || len > AUTH_MAX_TOKEN) {
        *reason = len ? "token too long" : "no token";
        return -1;
    }
    json_t *claims = a->alg == JWT_ALG_HS256 ? verify_hs256(a, token, len, reason)
                                             : verify_libjwt(a, token, len, reason);
    if (claims == NULL)
        return -1;
    int r = check_claims(a, claims, now_ms, out, reason);
    json_decref(claims);
    if (r != 0)
        auth_claims_free(out);
    return r;
}

void auth_claims_free(auth_claims_t *c)
{
    free(c->sub);
    memset(c, 0, sizeof(*c));
}

char *auth_mint(const char *alg, const unsigned char *key, size_t key_len, const char *sub,
                long long now, long long ttl)
{
    jwt_t *jwt = NULL;
    if (jwt_new(&jwt) != 0)
        return NULL;
    char *out = NULL;
    jwt_alg_t a = jwt_str_alg(alg);
    if (a == JWT_ALG_INVAL || a == JWT_ALG_NONE)
        goto done;
    if (jwt_add_grant(jwt, "sub", sub) != 0 || jwt_add_grant_int(jwt, "iat", (long)now) != 0)
        goto done;
    if (ttl > 0 && jwt_add_grant_int(jwt, "exp", (long)(now + ttl)) != 0)
        goto done;
    if (jwt_set_alg(jwt, a, key, (int)key_len) != 0)
        goto done;
    char *s = jwt_encode_str(jwt);
    if (s != NULL) {
        out = xstrdup(s);
        free(s);
    }
done:
    jwt_free(jwt);
    return out;
}
