/*
 * utf8.h - UTF-8 validation and repair: the one definition of well-formed
 * UTF-8 in the tree (RFC 3629 §4, Unicode Table 3-7).
 *
 * Users: WebSocket text frames and close reasons (RFC 6455 §8.1), the JSON
 * scanner (strings must be valid UTF-8), and the JSON writers, which turn
 * arbitrary bytes into the string Node's Buffer.toString("utf8") makes.
 *
 * Validation: two entry points share one decoder. utf8_validate() checks a whole buffer;
 * utf8_feed() checks a stream chunk by chunk (text messages split across
 * fragments or across reads), keeping the partial sequence in a three-byte
 * utf8_state_t so nothing is copied or buffered.
 *
 * Accepted: exactly the well-formed byte sequences of Unicode Table 3-7.
 * Rejected at the first byte that cannot continue a well-formed sequence:
 * stray continuation bytes, C0/C1/F5..FF, overlong forms, surrogates
 * (U+D800..U+DFFF) and code points above U+10FFFF. Noncharacters such as
 * U+FFFE are valid UTF-8 and accepted. A buffer that is well formed except
 * that it stops inside a sequence is reported as SIOC_INCOMPLETE, distinct
 * from SIOC_EPROTO, so a caller can wait for the next fragment.
 *
 * Repair: utf8_seq() measures one sequence the way the WHATWG UTF-8 decoder
 * (Node's Buffer.toString, TextDecoder) reads it: each maximal subpart of an
 * ill-formed sequence (Unicode §3.9, "U+FFFD substitution of maximal
 * subparts") becomes one U+FFFD. So E2 82 41 is U+FFFD "A", F0 80 is two
 * U+FFFD, and a sequence cut off by the end is one U+FFFD.
 *
 * Speed: ASCII runs are skipped 16 bytes per step (SSE2 on x86-64, 8-byte
 * words elsewhere); multi-byte sequences are decoded one at a time.
 * Pure functions, no allocation, any thread.
 */
#ifndef SIOC_COMMON_BASE_UTF8_H
#define SIOC_COMMON_BASE_UTF8_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/** Incremental validator state. Transparent so it can be embedded; members are private. */
typedef struct {
    uint8_t _need; /* continuation bytes still expected; UTF8__FAILED after an error */
    uint8_t _lo;   /* allowed range of the next continuation byte */
    uint8_t _hi;
} utf8_state_t;

#define UTF8__FAILED 0xFF

/**
 * Validates `len` bytes at `p` (borrowed, read only).
 * Returns 0 if they are well-formed UTF-8, SIOC_INCOMPLETE if they are well
 * formed up to a sequence cut off by the end, SIOC_EPROTO otherwise. If
 * `where` is not NULL it receives the offset of the first invalid byte
 * (EPROTO), of the first byte of the cut-off sequence (INCOMPLETE), or `len`.
 */
int utf8_validate(const uint8_t *p, size_t len, size_t *where);

/** Whether `len` bytes at `p` are complete, well-formed UTF-8. */
static inline int utf8_is_valid(const uint8_t *p, size_t len)
{
    return utf8_validate(p, len, NULL) == 0;
}

/** Starts a stream: the state is at a character boundary. */
static inline void utf8_init(utf8_state_t *s)
{
    s->_need = 0;
    s->_lo = 0x80;
    s->_hi = 0xBF;
}

/**
 * Continues the stream `s` with `len` bytes at `p` (borrowed, read only).
 * Returns 0 if everything so far is well formed and ends on a character
 * boundary, SIOC_INCOMPLETE if it is well formed but stops inside a sequence
 * (feed more), SIOC_EPROTO at the first invalid byte, whose offset in this
 * chunk goes to `where` (if not NULL). After SIOC_EPROTO the state stays
 * failed: later feeds return SIOC_EPROTO with offset 0.
 */
int utf8_feed(utf8_state_t *s, const uint8_t *p, size_t len, size_t *where);

/** Whether the stream ends on a character boundary with no error (a complete text). */
static inline int utf8_state_complete(const utf8_state_t *s)
{
    return s->_need == 0;
}

/**
 * Writes the UTF-8 form (1..4 bytes) of the code point `cp` (<= 0x10FFFF;
 * surrogates are encoded as given, callers that must not write them replace
 * them first) to `out` and returns its length.
 */
static inline size_t utf8_encode(uint32_t cp, uint8_t *out)
{
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xc0 | cp >> 6);
        out[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xe0 | cp >> 12);
        out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | cp >> 18);
    out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

/**
 * Length (1..4) of the well-formed sequence that starts at p[0] within
 * p[0..n) (n >= 1), or 0 when it is ill-formed; then `*bad` (if not NULL)
 * receives the length (1..3) of its maximal ill-formed subpart, the bytes
 * that one U+FFFD replaces. An ASCII byte is a sequence of length 1.
 */
size_t utf8_seq(const uint8_t *p, size_t n, size_t *bad);

/**
 * Appends to `b` the UTF-8 of the string that Buffer.toString("utf8") (the
 * WHATWG decoder) makes of `n` bytes at `p`: well-formed sequences as they
 * are, each maximal ill-formed subpart as U+FFFD (EF BF BD). Returns 0 or
 * the buf_append error, leaving `b` unchanged on failure. Borrows `p`.
 */
int utf8_repair_append(sioc_buf_t *b, const uint8_t *p, size_t n);

#endif
