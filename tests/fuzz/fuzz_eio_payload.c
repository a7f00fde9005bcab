/*
 * fuzz_eio_payload.c - libFuzzer target for common/eio (eio_payload, eio_packet).
 *
 * Invariants checked (abort() on violation):
 * - the iterator agrees with an independent reference splitter (split on
 *   0x1e; a record is a type digit or `b` + canonical base64, judged by a
 *   naive decoder and OpenSSL's encoder) on how many records are valid and
 *   whether the whole payload is;
 * - every slice lies inside the input, records are contiguous and separated
 *   by exactly one 0x1e, and eio_payload_count agrees with the iterator;
 * - decode -> re-encode gives back exactly the input bytes for every
 *   accepted payload (text records with eio_payload_append_text, binary
 *   ones decoded with base64_decode and re-encoded with
 *   eio_payload_append_binary);
 * - each text record decodes alike through eio_packet_decode;
 * - the whole input as base64url (base64url_decode) is accepted exactly when a naive
 *   bit-by-bit decoder finds it canonical, and what it decodes re-encodes to the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/err.h"
#include "eio/eio_packet.h"
#include "base/base64.h"
#include "eio/eio_payload.h"
#include "tests/fuzz/fuzz_check.h"

static int b64_index(char c)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(alpha, c) : NULL;
    return p ? (int)(p - alpha) : -1;
}

/* Reference: canonical unpadded base64url, one sextet at a time: every character in the
 * alphabet, no group of one character, and the bits left over after the last whole byte 0. */
static int ref_b64url_ok(const char *s, size_t n)
{
    if (n % 4 == 1)
        return 0;
    unsigned bits = 0, acc = 0;
    for (size_t i = 0; i < n; i++) {
        const char *at = memchr(base64url_alphabet, s[i], 64);
        if (s[i] == '\0' || at == NULL)
            return 0;
        acc = (acc << 6 | (unsigned)(at - base64url_alphabet)) & 0xff;
        bits += 6;
        if (bits >= 8)
            bits -= 8;
    }
    return (acc & ((1u << bits) - 1)) == 0;
}

/* Reference: canonical padded base64 by naive decoding and re-encoding with OpenSSL. */
static int ref_b64_ok(const char *s, size_t n)
{
    if (n % 4)
        return 0;
    size_t pad = 0;
    while (pad < 2 && pad < n && s[n - 1 - pad] == '=')
        pad++;
    if (n && (n - pad) % 4 == 1)
        return 0;
    uint8_t *dec = malloc(n + 1);
    unsigned char *enc = malloc(n + 8);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0, ok = 1;
    for (size_t i = 0; i < n - pad && ok; i++) {
        int v = b64_index(s[i]);
        if (v < 0) {
            ok = 0;
            break;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dec[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (ok) {
        int e = EVP_EncodeBlock(enc, dec, (int)o);
        ok = (size_t)e == n && memcmp(enc, s, n) == 0;
    }
    free(dec);
    free(enc);
    return ok;
}

static void ref_split(const char *p, size_t n, size_t *good, int *all_ok)
{
    *good = 0;
    *all_ok = 0;
    if (n == 0)
        return;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != EIO_PAYLOAD_SEP)
            continue;
        const char *r = p + start;
        size_t len = i - start;
        if (len == 0)
            return;
        if (!((r[0] >= '0' && r[0] <= '6') || (r[0] == 'b' && ref_b64_ok(r + 1, len - 1))))
            return;
        (*good)++;
        start = i + 1;
    }
    *all_ok = 1;
}

static int inside(sioc_iov_t s, const char *p, size_t n)
{
    return s.len == 0 || (s.base >= p && s.base + s.len <= p + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    size_t good;
    int all_ok;
    ref_split(p, size, &good, &all_ok);

    eio_payload_iter_t it;
    eio_payload_item_t item;
    sioc_buf_t out = {0};
    const char *reason = NULL;
    const char *expect_next = p;
    size_t count = 0;
    int r;
    eio_payload_iter_init(&it, p, size);
    while ((r = eio_payload_next(&it, &item, &reason)) > 0) {
        CHECK(r == 1);
        CHECK(inside(item.record, p, size) && inside(item.data, p, size));
        CHECK(item.record.base == expect_next);
        CHECK(item.record.len >= 1);
        CHECK(memchr(item.record.base, EIO_PAYLOAD_SEP, item.record.len) == NULL);
        CHECK(item.data.base == item.record.base + 1 && item.data.len == item.record.len - 1);
        expect_next = item.record.base + item.record.len + 1;
        if (item.binary) {
            CHECK(item.type == EIO_MESSAGE && item.record.base[0] == 'b');
            CHECK(item.binary_len == base64_decoded_len(item.data));
            uint8_t *bin = malloc(item.binary_len ? item.binary_len : 1);
            CHECK(bin != NULL);
            CHECK(base64_decode(item.data, bin, item.binary_len) == (int)item.binary_len);
            if (item.binary_len)
                CHECK(base64_decode(item.data, bin, item.binary_len - 1) == SIOC_ENOSPC);
            CHECK(eio_payload_append_binary(&out, count == 0, bin, item.binary_len) == 0);
            free(bin);
        } else {
            eio_packet_t pkt;
            CHECK(item.type >= EIO_OPEN && item.type <= EIO_NOOP);
            CHECK(item.binary_len == 0);
            CHECK(eio_packet_decode(item.record.base, item.record.len, &pkt, NULL) ==
                  (int)item.record.len);
            CHECK(pkt.type == item.type && pkt.data.base == item.data.base &&
                  pkt.data.len == item.data.len);
            CHECK(eio_payload_append_text(&out, count == 0, item.type, item.data.base,
                                          item.data.len) == 0);
        }
        count++;
    }
    CHECK(count == good);
    CHECK((r == 0) == (all_ok != 0));
    if (r == 0) {
        CHECK(eio_payload_count(p, size, NULL) == (int)count);
        /* Round trip: the records re-encode to exactly the input. */
        CHECK(out.len == size && memcmp(out.base, p, size) == 0);
    } else {
        CHECK(r == SIOC_EPROTO && reason != NULL);
        CHECK(eio_payload_next(&it, &item, NULL) == SIOC_EPROTO);
        CHECK(eio_payload_count(p, size, NULL) == SIOC_EPROTO);
    }
    buf_free(&out);

    /* The whole input as one WebSocket text frame. */
    eio_packet_t pkt;
    r = eio_packet_decode(p, size, &pkt, &reason);
    if (size > 0 && p[0] >= '0' && p[0] <= '6')
        CHECK(r == (int)size && pkt.type == p[0] - '0' && pkt.data.len == size - 1);
    else
        CHECK(r == SIOC_EPROTO);

    /* The whole input as base64: decode agrees with the reference and round-trips. */
    sioc_iov_t b64 = iov_make(p, size);
    size_t cap = base64_decoded_len(b64);
    uint8_t *bin = malloc(cap ? cap : 1);
    CHECK(bin != NULL);
    r = base64_decode(b64, bin, cap);
    CHECK((r >= 0) == ref_b64_ok(p, size));
    if (r >= 0) {
        sioc_buf_t enc = {0};
        CHECK((size_t)r == cap);
        CHECK(eio_payload_append_binary(&enc, 1, bin, (size_t)r) == 0);
        CHECK(enc.len == size + 1 && memcmp(enc.base + 1, p, size) == 0);
        buf_free(&enc);
    }
    free(bin);

    /* The whole input as base64url (JWT segments): accepted exactly when canonical, and what
     * decodes re-encodes to the input. */
    size_t ucap = size / 4 * 3 + 2;
    uint8_t *ubin = malloc(ucap);
    CHECK(ubin != NULL);
    r = base64url_decode(b64, ubin, ucap);
    CHECK(r >= 0 || r == SIOC_EPROTO);
    CHECK((r >= 0) == ref_b64url_ok(p, size));
    if (r >= 0) {
        char *renc = malloc(base64url_encoded_len((size_t)r) + 1);
        CHECK(renc != NULL);
        size_t k = base64url_encode(renc, ubin, (size_t)r);
        CHECK(k == size && memcmp(renc, p, size) == 0);
        free(renc);
        if (r > 0)
            CHECK(base64url_decode(b64, ubin, (size_t)r - 1) == SIOC_ENOSPC);
    }
    free(ubin);
    return 0;
}
