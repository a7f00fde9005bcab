/*
 * utf8.c - UTF-8 validation (utf8.h).
 *
 * The decoder follows Unicode Table 3-7 ("Well-Formed UTF-8 Byte
 * Sequences"): the lead byte fixes the sequence length and the allowed range
 * of the second byte (that range is what excludes overlongs, surrogates and
 * code points above U+10FFFF); every later byte is 80..BF. Checking the
 * second byte against a range, rather than decoding a code point and
 * comparing it, is what lets a stream fail at the first impossible byte.
 */
#include "base/utf8.h"

#include <string.h>

#include "base/err.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Offset of the first byte >= 0x80 at or after `i`, or `len`. */
static inline size_t ascii_run(const uint8_t *p, size_t i, size_t len)
{
#if defined(__SSE2__)
    while (len - i >= 32) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(a, b));
        if (m != 0) {
            m = (unsigned)_mm_movemask_epi8(a);
            if (m != 0)
                return i + (size_t)__builtin_ctz(m);
            return i + 16 + (size_t)__builtin_ctz((unsigned)_mm_movemask_epi8(b));
        }
        i += 32;
    }
    if (len - i >= 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        unsigned m = (unsigned)_mm_movemask_epi8(a);
        if (m != 0)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
#else
    /* Portable: two 8-byte words per step; the byte loop below finds the
     * exact position inside a block that has a high bit set. */
    const uint64_t high = 0x8080808080808080ULL;
    while (len - i >= 16) {
        uint64_t w0, w1;
        memcpy(&w0, p + i, 8);
        memcpy(&w1, p + i + 8, 8);
        if ((w0 | w1) & high)
            break;
        i += 16;
    }
#endif
    while (i < len && p[i] < 0x80)
        i++;
    return i;
}

/*
 * Sets up the sequence that `lead` (>= 0x80) starts: the number of
 * continuation bytes and the range of the first one. Returns 0 for a byte
 * that cannot start a sequence (80..C1, F5..FF).
 */
static inline unsigned lead_info(unsigned lead, unsigned *lo, unsigned *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (lead < 0xC2)
        return 0;
    if (lead < 0xE0)
        return 1;
    if (lead < 0xF0) {
        if (lead == 0xE0)
            *lo = 0xA0; /* E0 80..9F would be overlong */
        else if (lead == 0xED)
            *hi = 0x9F; /* ED A0..BF would be a surrogate */
        return 2;
    }
    if (lead < 0xF5) {
        if (lead == 0xF0)
            *lo = 0x90; /* F0 80..8F would be overlong */
        else if (lead == 0xF4)
            *hi = 0x8F; /* F4 90.. would be above U+10FFFF */
        return 3;
    }
    return 0;
}

int utf8_validate(const uint8_t *p, size_t len, size_t *where)
{
    size_t i = 0, bad;
    for (;;) {
        i = ascii_run(p, i, len);
        if (i == len) {
            if (where != NULL)
                *where = len;
            return 0;
        }
        /* Back-to-back multi-byte sequences stay in this loop; an ASCII byte
         * sends us back to the block skipper. */
        do {
            unsigned lo, hi, n = lead_info(p[i], &lo, &hi);
            if (n == 0) {
                bad = i;
                goto invalid;
            }
            if (len - i > n) {
                if (p[i + 1] < lo || p[i + 1] > hi) {
                    bad = i + 1;
                    goto invalid;
                }
                for (unsigned k = 2; k <= n; k++)
                    if ((p[i + k] & 0xC0) != 0x80) {
                        bad = i + k;
                        goto invalid;
                    }
                i += n + 1;
                continue;
            }
            /* The sequence runs past the end: check what is there. */
            for (size_t k = 1; i + k < len; k++) {
                unsigned c = p[i + k];
                if (c < lo || c > hi) {
                    bad = i + k;
                    goto invalid;
                }
                lo = 0x80;
                hi = 0xBF;
            }
            if (where != NULL)
                *where = i;
            return SIOC_INCOMPLETE;
        } while (i < len && p[i] >= 0x80);
    }
invalid:
    if (where != NULL)
        *where = bad;
    return SIOC_EPROTO;
}

int utf8_feed(utf8_state_t *s, const uint8_t *p, size_t len, size_t *where)
{
    size_t i = 0, off;
    if (s->_need == UTF8__FAILED) {
        if (where != NULL)
            *where = 0;
        return SIOC_EPROTO;
    }
    /* Finish the sequence the previous chunk cut off. */
    for (; s->_need != 0 && i < len; i++) {
        if (p[i] < s->_lo || p[i] > s->_hi) {
            s->_need = UTF8__FAILED;
            if (where != NULL)
                *where = i;
            return SIOC_EPROTO;
        }
        s->_need--;
        s->_lo = 0x80;
        s->_hi = 0xBF;
    }
    if (s->_need != 0) {
        if (where != NULL)
            *where = len;
        return SIOC_INCOMPLETE;
    }
    int r = utf8_validate(p + i, len - i, &off);
    if (r == SIOC_EPROTO) {
        s->_need = UTF8__FAILED;
        if (where != NULL)
            *where = i + off;
        return r;
    }
    if (where != NULL)
        *where = len;
    if (r == 0)
        return 0;
    /* A valid but cut-off tail: remember what it still needs. */
    const uint8_t *t = p + i + off;
    size_t have = len - i - off; /* 1..3 bytes, lead included */
    unsigned lo, hi, n = lead_info(t[0], &lo, &hi);
    s->_need = (uint8_t)(n + 1 - have);
    if (have == 1) {
        s->_lo = (uint8_t)lo;
        s->_hi = (uint8_t)hi;
    } else {
        s->_lo = 0x80;
        s->_hi = 0xBF;
    }
    return SIOC_INCOMPLETE;
}

size_t utf8_seq(const uint8_t *p, size_t n, size_t *bad)
{
    if (p[0] < 0x80)
        return 1;
    unsigned lo, hi, need = lead_info(p[0], &lo, &hi);
    if (need == 0) {
        if (bad != NULL)
            *bad = 1;
        return 0;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= n || p[i] < lo || p[i] > hi) {
            if (bad != NULL)
                *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

int utf8_repair_append(sioc_buf_t *b, const uint8_t *p, size_t n)
{
    size_t start = b->len, i = 0;
    int r = 0;
    while (i < n && r == 0) {
        size_t run = ascii_run(p, i, n);
        size_t bad = 0, l = run < n ? utf8_seq(p + run, n - run, &bad) : 0;
        /* Copy the ASCII run and the valid sequences after it in one append. */
        size_t j = run;
        while (l != 0) {
            j += l;
            if (j >= n)
                break;
            l = utf8_seq(p + j, n - j, &bad);
        }
        if (j > i)
            r = buf_append(b, p + i, j - i);
        i = j;
        if (r == 0 && i < n) {
            r = buf_append(b, "\xEF\xBF\xBD", 3);
            i += bad;
        }
    }
    if (r)
        b->len = start;
    return r;
}
