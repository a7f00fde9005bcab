/*
 * hex.h - hexadecimal digits, both ways.
 *
 * Job: the one definition of a hex digit's value (chunk sizes, percent
 * escapes, JSON \uXXXX) and of the digit characters written for a value.
 * Header only: the functions are small enough to inline in scanning loops.
 * Threading: pure functions, any thread.
 */
#ifndef SIOC_COMMON_BASE_HEX_H
#define SIOC_COMMON_BASE_HEX_H

#include <stdint.h>

/** Value 0..15 of the hex digit `c` (0-9, a-f, A-F), or -1 for any other byte. */
static inline int hex_val(unsigned c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    return -1;
}

/** Value of the four hex digits at `p`, or -1 when one of them is not a hex digit. */
static inline int32_t hex_val4(const unsigned char *p)
{
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_val(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/** Lowercase digit for the low four bits of `v`. */
static inline char hex_lower(unsigned v)
{
    return "0123456789abcdef"[v & 15];
}

/** Uppercase digit for the low four bits of `v`. */
static inline char hex_upper(unsigned v)
{
    return "0123456789ABCDEF"[v & 15];
}

#endif
