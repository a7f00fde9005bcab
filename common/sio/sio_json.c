/*
 * sio_json.c - JSON string writing (sio_json.h).
 */
#include "sio_json.h"

#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "base/hex.h"
#include "base/utf8.h"

/* Whether byte c may be copied as is (printable ASCII other than '"' and '\\'). */
static inline int plain(uint8_t c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

static int escape(sioc_buf_t *b, const uint8_t *s, size_t n)
{
    int r = buf_reserve(b, n);
    if (r)
        return r;
    size_t i = 0, run = 0; /* s[run..i) is copied as is when the next escape comes */
    while (i < n) {
        uint8_t c = s[i];
        if (plain(c)) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            /* A whole valid sequence goes through; each maximal ill-formed
             * subpart becomes one U+FFFD (Buffer.toString, utf8.h). */
            size_t bad, k = utf8_seq(s + i, n - i, &bad);
            if (k) {
                i += k;
                continue;
            }
            if ((r = buf_append(b, s + run, i - run)) || (r = buf_append(b, "\xef\xbf\xbd", 3)))
                return r;
            i += bad;
            run = i;
            continue;
        }
        if ((r = buf_append(b, s + run, i - run)))
            return r;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t k = 2;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default: /* other C0 controls */
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex_lower(c >> 4);
            esc[5] = hex_lower(c);
            k = 6;
            break;
        }
        if ((r = buf_append(b, esc, k)))
            return r;
        i++;
        run = i;
    }
    return buf_append(b, s + run, i - run);
}

int sio_json_escape_append(sioc_buf_t *b, const char *s, size_t n)
{
    size_t start = b->len;
    int r = escape(b, (const uint8_t *)s, n);
    if (r)
        b->len = start;
    return r;
}

int sio_json_append_string(sioc_buf_t *b, const char *s, size_t n)
{
    size_t start = b->len;
    int r = buf_append_byte(b, '"');
    r = r ? r : escape(b, (const uint8_t *)s, n);
    r = r ? r : buf_append_byte(b, '"');
    if (r)
        b->len = start;
    return r;
}
