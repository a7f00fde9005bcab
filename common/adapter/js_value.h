/*
 * js_value.h - JavaScript value rules that a byte-exact peer of Node must follow.
 *
 * Job: the one home of the rules by which JavaScript turns values into text
 * and back, so that every codec that must match Node byte for byte applies
 * the same ones:
 *  - numbers: Number.prototype.toString (shortest round-trip digits, 1e+21,
 *    1.5e-7, -0 -> "0"), JSON's null for NaN/Infinity, integral tests and the
 *    2^53/2^63/2^64 bounds notepack's integer packing uses;
 *  - dates: Date.prototype.toJSON (ISO 8601 with milliseconds, null when out
 *    of range);
 *  - object keys: the order a JS object holds its properties in (array
 *    indices first, ascending, then first-occurrence order; a repeated key
 *    keeps its first position and its last value) and the "__proto__" key;
 *  - strings: Buffer.write of UTF-16 units (lone surrogates -> U+FFFD). The
 *    UTF-8 decoding side (Buffer.toString) is base/utf8.h, the JSON.stringify
 *    escaping sio/sio_json.h.
 * Users: the msgpack <-> JSON conversion (mp_json.h) and the adapter message
 * formats (adapter_msg.h).
 * Threading: pure functions, any thread.
 */
#ifndef SIOC_COMMON_ADAPTER_JS_VALUE_H
#define SIOC_COMMON_ADAPTER_JS_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define JS_VALUE_TWO53 9007199254740992.0
#define JS_VALUE_TWO63 9223372036854775808.0
#define JS_VALUE_TWO64 18446744073709551616.0

/** Whether `x` is finite and has no fractional part. */
int js_value_is_integral(double x);

/** Writes the decimal digits of `v` (no NUL; at most 20) and returns their count. */
size_t js_value_u64(char *out, uint64_t v);

/**
 * Writes the JS Number.prototype.toString() form of `d` (shortest round-trip;
 * "NaN"/"Infinity" for non-finite) into `out` (at least 32 bytes) and returns
 * its length. JSON callers map non-finite values to null themselves.
 */
size_t js_value_number(double d, char *out);

/** Appends `d` as JSON.stringify writes a number (null for NaN/Infinity). Returns 0 or a buffer
 * error. */
int js_value_json_number(sioc_buf_t *b, double d);

/**
 * Appends JSON.stringify(new Date(t)) for `t` ms since the epoch: the quoted
 * ISO string of Date.prototype.toJSON, or null when out of range. Returns 0
 * or a buffer error.
 */
int js_value_json_date(sioc_buf_t *b, double t);

/** Canonical array index "0".."4294967294" of the key k[0..n) -> its value, else -1. */
int64_t js_value_array_index(const char *k, size_t n);

/** Whether the key k[0..n) is "__proto__". */
int js_value_is_proto(const char *k, size_t n);

/* One object member as js_value_key_order sees it; the caller's records start with it. */
typedef struct {
    const unsigned char *key;
    size_t klen;
    int64_t idx;    /* js_value_array_index of the key, or -1 */
    uint32_t first; /* set by js_value_key_order: record of the key's first occurrence */
    uint32_t last;  /* set by js_value_key_order: record holding the key's last value */
} js_value_member_t;

/**
 * Orders the `n` members of an object as a JS object holds its properties:
 * keys that are array indices first in ascending order, then the others in
 * the order of their first occurrence; a repeated key keeps its first
 * position and its last value; with `drop_proto`, "__proto__" keys are left
 * out (assignment sets the prototype instead). `recs` holds n records of
 * `stride` bytes, each starting with a js_value_member_t whose key, klen and
 * idx are set. Writes the numbers of the records to emit (the last of each
 * key) to `ord` and returns their count; `tmp` is scratch. Both hold n
 * entries.
 */
size_t js_value_key_order(void *recs, size_t stride, size_t n, int drop_proto, uint32_t *ord,
                          uint32_t *tmp);

/**
 * Writes the bytes Buffer.write / Buffer.from(str) gives for the `n` UTF-16
 * units at `u` (lone surrogates -> U+FFFD) to `o`, at most `max` bytes and
 * whole characters only; `o` NULL: count only. Returns the byte count.
 */
size_t js_value_utf16_to_utf8(const uint16_t *u, size_t n, unsigned char *o, size_t max);

#endif
