/*
 * base64.h - base64 (RFC 4648 §4) and base64url (§5).
 *
 * Job: the one base64 codec of the tree. Standard base64 is written padded
 * (Engine.IO `b` records, Sec-WebSocket-Accept); base64url without padding
 * (JWTs, affinity cookie MACs; random ids use its alphabet). Decoding is
 * strict: standard alphabet, `=` padding to a multiple of four, and zero
 * pad bits (canonical form), checked and decoded in one pass, so a
 * validator and a decoder cannot disagree.
 * Threading: pure functions, any thread.
 */
#ifndef SIOC_COMMON_BASE_BASE64_H
#define SIOC_COMMON_BASE_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "base/iov.h"

/** The 64 characters of each alphabet, indexed by sextet (plus a NUL). */
extern const char base64_alphabet[65];
extern const char base64url_alphabet[65];

/** Length of the padded base64 text for `n` bytes. */
static inline size_t base64_encoded_len(size_t n)
{
    return (n / 3 + (n % 3 != 0)) * 4;
}

/** Length of the unpadded base64url text for `n` bytes. */
static inline size_t base64url_encoded_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/**
 * Writes the padded standard base64 of `n` bytes at `in` to `out` (room for
 * base64_encoded_len(n) bytes; no NUL) and returns its length. Borrows both.
 */
size_t base64_encode(char *out, const void *in, size_t n);

/** As base64_encode in the base64url alphabet without padding (base64url_encoded_len(n) bytes). */
size_t base64url_encode(char *out, const void *in, size_t n);

/** Whether `c` is one of the 64 characters of the standard alphabet (`=` is not). */
int base64_is_char(int c);

/**
 * Decoded size of base64 text: exact for well-formed input (length a
 * multiple of 4, `=` only as trailing padding); for other input an upper
 * bound. Never reads past `b64.len`.
 */
size_t base64_decoded_len(sioc_iov_t b64);

/**
 * Whether the `n` bytes at `s` are canonical padded standard base64. Returns
 * the decoded length, or (size_t)-1 when malformed. Borrows `s`.
 */
size_t base64_check(const char *s, size_t n);

/**
 * Decodes canonical padded base64 into `out`. Returns the decoded length
 * (>= 0), SIOC_EPROTO for malformed input, SIOC_ENOSPC when `cap` is less
 * than base64_decoded_len(b64), or SIOC_EMSGSIZE when the result would
 * exceed INT_MAX. Nothing is promised about `out` after a failure. Borrows
 * `b64` and `out` for the call only; `out` may be NULL when `cap` is 0 and
 * the input decodes to nothing.
 */
int base64_decode(sioc_iov_t b64, uint8_t *out, size_t cap);

/**
 * As base64_decode for canonical unpadded base64url (RFC 4648 §5, as JWTs carry it: no
 * `=`, a length that is not 1 more than a multiple of four, zero unused bits). The decoded
 * length is at most b64.len * 3 / 4.
 */
int base64url_decode(sioc_iov_t b64, uint8_t *out, size_t cap);

#endif
