/*
 * siphash.h - SipHash-2-4, the keyed 64-bit hash of Aumasson and Bernstein.
 *
 * Used where the keys of a table come from clients (room names, sids,
 * addresses): with a secret random key an attacker cannot choose keys that
 * collide, so a hash table keeps O(1) lookups under hostile input.
 */
#ifndef SIOC_COMMON_BASE_SIPHASH_H
#define SIOC_COMMON_BASE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/** SipHash-2-4 of `len` bytes at `p` under the 16-byte `key`. */
uint64_t siphash24(const uint8_t key[16], const void *p, size_t len);

#endif
