/*
 * auth.c - JWT verification with a pinned algorithm (auth.h).
 *
 * The only file that includes libjwt.
 */
#include "auth.h"

#include <jansson.h>
#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

#define AUTH_MAX_TOKEN 8192

struct auth {
    jwt_alg_t alg;
    unsigned char *key;
    size_t key_len;
    long leeway;
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
 * jwt_get_grant_int, which reads a fractional or string value as 0. */
static int check_dates(const auth_t *a, const char *claims_json, long long now_ms,
                       auth_claims_t *out, const char **reason)
{
    json_t *claims = json_loads(claims_json, 0, NULL);
    if (!json_is_object(claims)) {
        json_decref(claims);
        *reason = "claims are not a JSON object";
        return -1;
    }
    double now = (double)now_ms / 1000.0, leeway = (double)a->leeway;
    double exp = 0, nbf = 0, iat = 0;
    int r = -1;
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
    else
        r = 0;
    if (r == 0 && has_exp) {
        /* Past the check above exp > now - leeway; cap far-future values (no overflow). */
        double ms = exp * 1000.0;
        out->exp_ms = ms > 9.0e15 ? 9000000000000000LL : ms < 1 ? 1 : (long long)ms;
    }
    json_decref(claims);
    return r;
}

int auth_verify(const auth_t *a, const char *token, size_t len, long long now_ms,
                auth_claims_t *out, const char **reason)
{
    memset(out, 0, sizeof(*out));
    if (len == 0 || len > AUTH_MAX_TOKEN) {
        *reason = len ? "token too long" : "no token";
        return -1;
    }
    char *tok = xstrndup(token, len);
    jwt_t *jwt = NULL;
    /* Never call jwt_decode without a key: it would skip verification. */
    int r = jwt_decode(&jwt, tok, a->key, (int)a->key_len);
    free(tok);
    if (r != 0 || jwt == NULL) {
        *reason = "invalid token or signature";
        goto fail;
    }
    if (jwt_get_alg(jwt) != a->alg) {
        *reason = "token algorithm is not the configured one";
        goto fail;
    }
    char *claims = jwt_get_grants_json(jwt, NULL);
    if (claims == NULL || check_dates(a, claims, now_ms, out, reason) != 0) {
        free(claims);
        goto fail;
    }
    const char *sub = jwt_get_grant(jwt, "sub");
    out->sub = sub ? xstrdup(sub) : NULL;
    free(claims);
    jwt_free(jwt);
    return 0;

fail:
    if (jwt != NULL)
        jwt_free(jwt);
    auth_claims_free(out);
    return -1;
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
