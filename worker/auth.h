/*
 * auth.h - JWT verification for the Socket.IO handshake.
 *
 * HS256 is checked here with OpenSSL's HMAC-SHA256 (keyed once per process; the MAC
 * compared in constant time in its canonical base64url form) and jansson, the claims parsed
 * once; RS256 / ES256 go through libjwt 1.10.
 *
 * One algorithm is pinned per process (HS256 with a shared secret, or RS256 /
 * ES256 with a PEM public key). A token is accepted only if its signature
 * verifies with the configured key AND its header names the pinned
 * algorithm (libjwt 1.10 checks neither the algorithm nor exp / nbf itself:
 * "alg":"none" and HS256 signed with an RSA public key as the secret are
 * refused here). exp, nbf and iat are read as NumericDates (numbers,
 * fractions honoured; any other type refused); exp and nbf are checked against the wall clock with
 * a configurable leeway. Token values are never logged.
 */
#ifndef SIOC_WORKER_AUTH_H
#define SIOC_WORKER_AUTH_H

#include <stddef.h>

typedef struct auth auth_t;

/* What the worker reads of a token's claims. */
typedef struct {
    long long exp_ms; /* exp in ms since the epoch (fraction kept); 0 when the token has none */
    char *sub;        /* the "sub" claim, owned; NULL when absent */
} auth_claims_t;

/** Minimum HS256 secret length in bytes (RFC 8725 §3.5). */
#define AUTH_MIN_SECRET 32

/** Creates a verifier. `alg` is "HS256", "RS256" or "ES256"; `secret` is used for HS256,
 * `pubkey_file` (PEM) for the others. Returns NULL and writes a message to `err` on failure
 * (weak secret, unreadable key). */
auth_t *auth_new(const char *alg, const char *secret, const char *pubkey_file, long leeway,
                 char *err, size_t errlen);
void auth_free(auth_t *a);

/** Verifies `token` (`len` bytes, need not be NUL-terminated) at time `now_ms` (epoch ms).
 * exp / nbf / iat must be JSON numbers when present (fractions are honoured); any other type
 * is refused with its own reason.
 * Returns 0 and fills `out` (free with auth_claims_free), or -1 with a static `reason`. */
int auth_verify(const auth_t *a, const char *token, size_t len, long long now_ms,
                auth_claims_t *out, const char **reason);
void auth_claims_free(auth_claims_t *c);

/** Mints a token for `sub` valid for `ttl` seconds from `now` (ttl <= 0: no exp), signed
 * with `alg` and `key` (secret bytes for HS*, PEM private key for RS/ES). Returns an owned
 * string (free()) or NULL. */
char *auth_mint(const char *alg, const unsigned char *key, size_t key_len, const char *sub,
                long long now, long long ttl);

#endif
