/*
 * base64.c - base64 and base64url (base64.h).
 *
 * Decoding does not use OpenSSL's EVP_DecodeBlock: it skips leading and
 * trailing whitespace, counts padding bytes as output (callers must subtract
 * them) and accepts non-canonical pad bits, so it cannot tell a valid text
 * from a malformed one. The strict table decoder below validates and decodes
 * in the same pass.
 */
#include "base/base64.h"

#include <limits.h>

#include "base/err.h"

const char base64_alphabet[65] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const char base64url_alphabet[65] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Sextet value + 1 of each byte in the 62 characters both alphabets share. */
#define B64_SHARED_VAL1                                                                            \
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,        \
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, \
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23,            \
    ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,            \
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37,            \
    ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44,            \
    ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51,            \
    ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58,            \
    ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62

/* Sextet value + 1 of each base64 byte; 0 for bytes outside the alphabet ('=' included). */
static const uint8_t b64_val1[256] = {B64_SHARED_VAL1, ['+'] = 63, ['/'] = 64};
/* The same for the base64url alphabet. */
static const uint8_t b64url_val1[256] = {B64_SHARED_VAL1, ['-'] = 63, ['_'] = 64};

static size_t encode(char *out, const uint8_t *in, size_t n, const char *tab, int pad)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o] = tab[v >> 18 & 63];
        out[o + 1] = tab[v >> 12 & 63];
        out[o + 2] = tab[v >> 6 & 63];
        out[o + 3] = tab[v & 63];
        o += 4;
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        if (pad)
            out[o++] = '=';
    }
    return o;
}

size_t base64_encode(char *out, const void *in, size_t n)
{
    return encode(out, in, n, base64_alphabet, 1);
}

size_t base64url_encode(char *out, const void *in, size_t n)
{
    return encode(out, in, n, base64url_alphabet, 0);
}

int base64_is_char(int c)
{
    return c >= 0 && c < 256 && b64_val1[c] != 0;
}

size_t base64_decoded_len(sioc_iov_t b64)
{
    size_t n = b64.len;
    size_t full = (n / 4 + (n % 4 != 0)) * 3;
    if (n % 4 == 0 && n >= 4) {
        if (b64.base[n - 1] == '=')
            full--;
        if (b64.base[n - 2] == '=')
            full--;
    }
    return full;
}

/*
 * Decodes `quads` groups of four sextets at `u`, then a tail of 0, 2 or 3 sextets whose
 * unused bits must be zero, with the sextet table `val1` (value + 1, 0 outside the
 * alphabet); only validates when `out` is NULL. Returns the decoded length or (size_t)-1.
 */
static size_t decode(const uint8_t *val1, const unsigned char *u, size_t quads, size_t tail,
                     uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < quads; i++, u += 4) {
        unsigned a = val1[u[0]] - 1u, b = val1[u[1]] - 1u, c = val1[u[2]] - 1u, d = val1[u[3]] - 1u;
        if ((a | b | c | d) > 63)
            return (size_t)-1;
        if (out) {
            uint32_t w = (a << 18) | (b << 12) | (c << 6) | d;
            out[o] = (uint8_t)(w >> 16);
            out[o + 1] = (uint8_t)(w >> 8);
            out[o + 2] = (uint8_t)w;
        }
        o += 3;
    }
    if (tail == 2) {
        unsigned a = val1[u[0]] - 1u, b = val1[u[1]] - 1u;
        if ((a | b) > 63 || (b & 0x0f) != 0)
            return (size_t)-1;
        if (out)
            out[o] = (uint8_t)((a << 2) | (b >> 4));
        o += 1;
    } else if (tail == 3) {
        unsigned a = val1[u[0]] - 1u, b = val1[u[1]] - 1u, c = val1[u[2]] - 1u;
        if ((a | b | c) > 63 || (c & 0x03) != 0)
            return (size_t)-1;
        if (out) {
            out[o] = (uint8_t)((a << 2) | (b >> 4));
            out[o + 1] = (uint8_t)((b << 4) | (c >> 2));
        }
        o += 2;
    }
    return o;
}

/* Canonical padded base64: whole groups of four, "xx==" or "xxx=" last. */
static size_t run(const char *s, size_t n, uint8_t *out)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n % 4 != 0)
        return (size_t)-1;
    if (n == 0)
        return 0;
    size_t pad = (u[n - 1] == '=') + (u[n - 1] == '=' && u[n - 2] == '=');
    return decode(b64_val1, u, n / 4 - (pad != 0), pad == 2 ? 2 : pad == 1 ? 3 : 0, out);
}

size_t base64_check(const char *s, size_t n)
{
    return run(s, n, NULL);
}

int base64_decode(sioc_iov_t b64, uint8_t *out, size_t cap)
{
    size_t need = base64_decoded_len(b64);
    if (run(b64.base, b64.len, NULL) == (size_t)-1)
        return SIOC_EPROTO;
    if (need > (size_t)INT_MAX)
        return SIOC_EMSGSIZE;
    if (cap < need)
        return SIOC_ENOSPC;
    return (int)run(b64.base, b64.len, out);
}

/* Canonical unpadded base64url: whole groups of four, then 2 or 3 characters or none. */
static size_t run_url(const char *s, size_t n, uint8_t *out)
{
    if (n % 4 == 1)
        return (size_t)-1;
    return decode(b64url_val1, (const unsigned char *)s, n / 4, n % 4, out);
}

int base64url_decode(sioc_iov_t b64, uint8_t *out, size_t cap)
{
    size_t need = run_url(b64.base, b64.len, NULL);
    if (need == (size_t)-1)
        return SIOC_EPROTO;
    if (need > (size_t)INT_MAX)
        return SIOC_EMSGSIZE;
    if (cap < need)
        return SIOC_ENOSPC;
    return (int)run_url(b64.base, b64.len, out);
}
