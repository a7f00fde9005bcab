/*
 * jwtmint.h - mints HS256 JSON Web Tokens (RFC 7519, RFC 7515 §3.1) for the
 * bench clients: header {"alg":"HS256","typ":"JWT"}, claims {"sub","iat","exp"}.
 * HMAC-SHA256 comes from libcrypto. Pure, any thread.
 */
#ifndef SIOC_BENCH_LOADGEN_JWTMINT_H
#define SIOC_BENCH_LOADGEN_JWTMINT_H

#include <stddef.h>

/** Longest token jwtmint_hs256 writes for a sub of at most 64 bytes (NUL included). */
#define JWTMINT_MAX 512

/**
 * Writes a NUL-terminated token for `sub` (borrowed; JSON-safe characters
 * only, at most 64 bytes) signed with `secret` (borrowed, `secret_len`
 * bytes), issued at `iat` and expiring `ttl` seconds later, into `out`
 * (JWTMINT_MAX bytes). Returns the token length, or -1 when `sub` is too long
 * or holds a character that would need escaping.
 */
int jwtmint_hs256(char out[JWTMINT_MAX], const char *sub, const char *secret, size_t secret_len,
                  long long iat, long long ttl);

#endif
