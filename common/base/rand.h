/*
 * rand.h - random bytes and ids from the kernel (getrandom).
 *
 * Ids are base64url (A-Z a-z 0-9 - _), as Engine.IO sids are.
 */
#ifndef SIOC_COMMON_BASE_RAND_H
#define SIOC_COMMON_BASE_RAND_H

#include <stddef.h>
#include <stdint.h>

/** Fills `n` bytes with cryptographically strong random bytes; aborts if the kernel fails. */
void rand_fill(void *out, size_t n);
/** Writes `len` random base64url characters plus a NUL into `out` (size len + 1). */
void rand_id(char *out, size_t len);
/** A uniformly random 64-bit value. */
uint64_t rand_u64(void);

#endif
