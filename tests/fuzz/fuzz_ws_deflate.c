/*
 * fuzz_ws_deflate.c - libFuzzer target for common/ws/ws_deflate: the permessage-deflate
 * inflate path (bytes from the network), the offer parser and the compressor.
 *
 * Input: byte 0 selects the inflate cap (low 3 bits) and the window of the compressor
 * (next 3 bits, 9..15); the rest is, at once, a compressed message payload, an offer
 * (Sec-WebSocket-Extensions value) and a message to compress.
 * Invariants (abort on violation):
 *   - inflate returns 0 with at most `cap` bytes, SIOC_EMSGSIZE, SIOC_EPROTO or
 *     SIOC_ENOMEM, never anything else, and the same verdict and bytes twice in a row
 *     (no context survives a message);
 *   - what it inflated, compressed again, inflates back to the same bytes;
 *   - the input compressed with any window inflates back to itself;
 *   - an accepted offer has a window of 9..15, and its response line is one CRLF line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "ws/ws_deflate.h"
#include "tests/fuzz/fuzz_check.h"

static const size_t caps[] = {0, 1, 16, 1000, 4096, 65536, 100000, 1000000};

static ws_deflate_t *ctx(void)
{
    static ws_deflate_t *d;
    if (d == NULL)
        d = ws_deflate_new();
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cap = caps[data[0] & 7];
    int bits = 9 + ((data[0] >> 3) & 7) % 7;
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    ws_deflate_t *d = ctx();

    /* Inflate twice: the same verdict and the same bytes. */
    sioc_iov_t out;
    int r = ws_deflate_inflate(d, in, len, cap, &out);
    CHECK(r == 0 || r == SIOC_EMSGSIZE || r == SIOC_EPROTO || r == SIOC_ENOMEM);
    char *first = NULL;
    size_t first_len = 0;
    if (r == 0) {
        CHECK(out.len <= cap);
        first_len = out.len;
        first = malloc(first_len ? first_len : 1);
        memcpy(first, out.base, first_len);
    }
    sioc_iov_t again;
    int r2 = ws_deflate_inflate(d, in, len, cap, &again);
    CHECK(r2 == r || r == SIOC_ENOMEM || r2 == SIOC_ENOMEM);
    if (r == 0 && r2 == 0)
        CHECK(again.len == first_len && memcmp(again.base, first, first_len) == 0);

    /* What was inflated round-trips through the compressor. */
    if (first != NULL) {
        sioc_buf_t z = {0};
        if (ws_deflate_compress(d, bits, NULL, 0, first, first_len, &z) == 0) {
            sioc_iov_t back;
            CHECK(ws_deflate_inflate(d, z.base, z.len, first_len, &back) == 0);
            CHECK(back.len == first_len && memcmp(back.base, first, first_len) == 0);
        }
        buf_free(&z);
        free(first);
    }

    /* The input itself round-trips, split at an arbitrary point. */
    sioc_buf_t z = {0};
    size_t cut = len ? data[0] % (len + 1) : 0;
    if (ws_deflate_compress(d, bits, in, cut, in + cut, len - cut, &z) == 0) {
        sioc_iov_t back;
        CHECK(ws_deflate_inflate(d, z.base, z.len, len, &back) == 0);
        CHECK(back.len == len && memcmp(back.base, in, len) == 0);
    }
    buf_free(&z);

    /* The offer parser. */
    sioc_iov_t v = iov_make((const char *)in, len);
    ws_deflate_params_t p;
    if (ws_deflate_negotiate(&v, 1, &p)) {
        CHECK(p.server_max_window_bits >= 9 && p.server_max_window_bits <= 15);
        sioc_buf_t line = {0};
        CHECK(ws_deflate_response(&p, &line) == 0);
        CHECK(line.len > 2 && memcmp(line.base + line.len - 2, "\r\n", 2) == 0);
        CHECK(memchr(line.base, '\n', line.len - 1) == NULL);
        buf_free(&line);
    }
    return 0;
}
