/*
 * eio_payload.c - Engine.IO v4 long-polling payload framing (eio_payload.h).
 *
 * Base64 encoding uses OpenSSL's EVP_EncodeBlock. Decoding does not use
 * EVP_DecodeBlock: it skips leading and trailing whitespace, counts padding
 * bytes as output (callers must subtract them) and accepts non-canonical pad
 * bits, so it cannot tell a valid record from a malformed one. The strict
 * table decoder below validates and decodes in the same pass.
 */
#include "eio_payload.h"

#include <limits.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/err.h"
#include "eio/eio_packet.h"

enum { ST_FIRST, ST_NEXT, ST_DONE, ST_FAILED };

/* Sextet value + 1 of each base64 byte; 0 for bytes outside the alphabet ('=' included). */
static const uint8_t b64_val1[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

/* The sextet of `c`, or a value above 63 when `c` is not in the alphabet. */
static inline unsigned sextet(unsigned char c)
{
    return (unsigned)b64_val1[c] - 1u;
}

size_t eio_base64_encoded_len(size_t n)
{
    return (n / 3 + (n % 3 != 0)) * 4;
}

size_t eio_payload_binary_record_len(size_t n)
{
    return 1 + eio_base64_encoded_len(n);
}

size_t eio_base64_decoded_len(sioc_iov_t b64)
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
 * Validates canonical padded base64 and, when `out` is not NULL, decodes it.
 * Returns the decoded length or (size_t)-1 when malformed.
 */
static size_t b64_run(const char *s, size_t n, uint8_t *out)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n % 4 != 0)
        return (size_t)-1;
    if (n == 0)
        return 0;
    size_t pad = (u[n - 1] == '=') + (u[n - 1] == '=' && u[n - 2] == '=');
    size_t quads = n / 4 - (pad != 0);
    size_t o = 0;
    for (size_t i = 0; i < quads; i++, u += 4) {
        unsigned a = sextet(u[0]), b = sextet(u[1]), c = sextet(u[2]), d = sextet(u[3]);
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
    if (pad == 2) {
        unsigned a = sextet(u[0]), b = sextet(u[1]);
        if ((a | b) > 63 || (b & 0x0f) != 0)
            return (size_t)-1;
        if (out)
            out[o] = (uint8_t)((a << 2) | (b >> 4));
        o += 1;
    } else if (pad == 1) {
        unsigned a = sextet(u[0]), b = sextet(u[1]), c = sextet(u[2]);
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

int eio_base64_decode(sioc_iov_t b64, uint8_t *out, size_t cap)
{
    size_t need = eio_base64_decoded_len(b64);
    if (b64_run(b64.base, b64.len, NULL) == (size_t)-1)
        return SIOC_EPROTO;
    if (need > (size_t)INT_MAX)
        return SIOC_EMSGSIZE;
    if (cap < need)
        return SIOC_ENOSPC;
    return (int)b64_run(b64.base, b64.len, out);
}

void eio_payload_iter_init(eio_payload_iter_t *it, const char *p, size_t len)
{
    it->_p = p;
    it->_len = len;
    it->_off = 0;
    it->_state = ST_FIRST;
}

static int fail(eio_payload_iter_t *it, const char **reason, const char *why)
{
    it->_state = ST_FAILED;
    if (reason)
        *reason = why;
    return SIOC_EPROTO;
}

int eio_payload_next(eio_payload_iter_t *it, eio_payload_item_t *item, const char **reason)
{
    if (it->_state == ST_DONE)
        return 0;
    if (it->_state == ST_FAILED)
        return fail(it, reason, "payload already failed");
    if (it->_state == ST_FIRST && it->_len == 0)
        return fail(it, reason, "empty payload");
    const char *rec = it->_p + it->_off;
    size_t avail = it->_len - it->_off;
    const char *sep = avail ? memchr(rec, EIO_PAYLOAD_SEP, avail) : NULL;
    size_t n = sep ? (size_t)(sep - rec) : avail;
    if (n == 0)
        return fail(it, reason, it->_off == it->_len ? "trailing separator" : "empty record");
    if (rec[0] == 'b') {
        size_t dec = b64_run(rec + 1, n - 1, NULL);
        if (dec == (size_t)-1)
            return fail(it, reason, "invalid base64");
        item->binary = 1;
        item->type = EIO_MESSAGE;
        item->data = iov_make(rec + 1, n - 1);
        item->binary_len = dec;
    } else if (rec[0] >= '0' && rec[0] <= '6') {
        item->binary = 0;
        item->type = rec[0] - '0';
        item->data = iov_make(rec + 1, n - 1);
        item->binary_len = 0;
    } else {
        return fail(it, reason, "unknown packet type");
    }
    item->record = iov_make(rec, n);
    if (sep) {
        it->_off += n + 1;
        it->_state = ST_NEXT;
    } else {
        it->_off = it->_len;
        it->_state = ST_DONE;
    }
    return 1;
}

int eio_payload_count(const char *p, size_t len, const char **reason)
{
    eio_payload_iter_t it;
    eio_payload_item_t item;
    int count = 0, r;
    eio_payload_iter_init(&it, p, len);
    while ((r = eio_payload_next(&it, &item, reason)) > 0) {
        if (count == INT_MAX) {
            if (reason)
                *reason = "too many records";
            return SIOC_EPROTO;
        }
        count++;
    }
    return r < 0 ? r : count;
}

static int append_sep(sioc_buf_t *b, int first)
{
    return first ? 0 : buf_append_byte(b, EIO_PAYLOAD_SEP);
}

int eio_payload_append_text(sioc_buf_t *b, int first, int type, const char *data, size_t len)
{
    if (type < 0 || type >= EIO_PACKET_NTYPES)
        return SIOC_EINVAL;
    if (len && memchr(data, EIO_PAYLOAD_SEP, len) != NULL)
        return SIOC_EINVAL;
    size_t start = b->len;
    int r = buf_reserve(b, len + 2);
    r = r ? r : append_sep(b, first);
    r = r ? r : eio_packet_write(b, type, data, len);
    if (r)
        b->len = start;
    return r;
}

int eio_payload_append_binary(sioc_buf_t *b, int first, const uint8_t *data, size_t len)
{
    if (len > ((size_t)-1 - 8) / 4 * 3)
        return SIOC_ENOMEM;
    size_t start = b->len;
    int r = buf_reserve(b, eio_base64_encoded_len(len) + 1 + (first == 0));
    r = r ? r : append_sep(b, first);
    r = r ? r : buf_append_byte(b, 'b');
    if (r) {
        b->len = start;
        return r;
    }
    /*
     * EVP_EncodeBlock takes an int and writes a NUL after its output. The
     * last 1..3 bytes go through a scratch array, so every NUL written into
     * `b` lands where the tail's output goes, within the reservation.
     */
    size_t tail = len % 3 ? len % 3 : (len ? 3 : 0);
    size_t body = len - tail;
    const size_t chunk = (size_t)3 << 28;
    while (body) {
        size_t n = body < chunk ? body : chunk;
        int w = EVP_EncodeBlock((unsigned char *)b->base + b->len, data, (int)n);
        b->len += (size_t)w;
        data += n;
        body -= n;
    }
    if (tail) {
        unsigned char tmp[5];
        EVP_EncodeBlock(tmp, data, (int)tail);
        memcpy(b->base + b->len, tmp, 4);
        b->len += 4;
    }
    return 0;
}
