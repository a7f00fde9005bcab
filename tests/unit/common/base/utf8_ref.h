/*
 * utf8_ref.h - a slow reference UTF-8 validator for tests and fuzzing.
 *
 * Written independently of common/base/utf8.c: it decodes code point bits one
 * byte at a time and, after each byte, asks whether any completion of the
 * sequence could still be a scalar value of the right length (not overlong,
 * not a surrogate, not above U+10FFFF). The first byte for which none can
 * is the failure position. Same contract as utf8_validate().
 */
#ifndef SIOC_TESTS_UNIT_COMMON_WS_UTF8_REF_H
#define SIOC_TESTS_UNIT_COMMON_WS_UTF8_REF_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

static inline int utf8_ref_validate(const uint8_t *p, size_t len, size_t *where)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        int n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1Fu, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0Fu, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07u, min = 0x10000;
        } else {
            *where = i;
            return SIOC_EPROTO;
        }
        for (int k = 0; k <= n; k++) {
            if (k > 0) {
                if (i + (size_t)k >= len) {
                    *where = i;
                    return SIOC_INCOMPLETE;
                }
                uint8_t d = p[i + (size_t)k];
                if ((d & 0xC0) != 0x80) {
                    *where = i + (size_t)k;
                    return SIOC_EPROTO;
                }
                cp = cp << 6 | (d & 0x3Fu);
            }
            int rem = n - k;
            uint32_t lo = cp << (6 * rem), hi = lo | ((1u << (6 * rem)) - 1);
            if (hi < min || lo > 0x10FFFF || (lo >= 0xD800 && hi <= 0xDFFF)) {
                *where = i + (size_t)k;
                return SIOC_EPROTO;
            }
        }
        i += (size_t)n + 1;
    }
    *where = len;
    return 0;
}

#endif
