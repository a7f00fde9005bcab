/*
 * fuzz_sio_msgpack.c - libFuzzer target for common/sio/sio_msgpack (the msgpack parser's
 * packets, as a --parser msgpack worker reads them from the network).
 *
 * Invariants (abort on violation):
 *   - decode returns the attachment count (<= the cap) with packet text that
 *     sio_packet_parse accepts and whose attachment count matches, or SIOC_EPROTO with
 *     a reason and the text buffer unchanged;
 *   - attachments are slices of the input;
 *   - re-encoding is stable: decode(encode(text)) is a fixed point after one round.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "sio/sio_msgpack.h"
#include "sio/sio_packet.h"
#include "tests/fuzz/fuzz_check.h"

#define CAP 16

/* Decode, then encode the result: 1 with *text and *mp filled, 0 when either step refuses. */
static int round_trip(const char *in, size_t len, sioc_buf_t *text, sioc_buf_t *mp)
{
    sioc_iov_t att[CAP];
    const char *why = NULL;
    text->len = 0;
    int n = sio_msgpack_decode(in, len, text, att, CAP, &why);
    if (n < 0) {
        CHECK(n == SIOC_EPROTO || n == SIOC_ENOMEM);
        CHECK(n != SIOC_EPROTO || why != NULL);
        CHECK(text->len == 0);
        return 0;
    }
    CHECK(n <= CAP);
    for (int i = 0; i < n; i++)
        CHECK(att[i].base >= in && att[i].base + att[i].len <= in + len);
    sio_packet_t pkt;
    const char *reason;
    CHECK(sio_packet_parse(text->base, text->len, &pkt, &reason) >= 0);
    CHECK(pkt.attachments == (unsigned)n);
    mp->len = 0;
    return sio_msgpack_encode(text->base, text->len, att, (size_t)n, mp) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sioc_buf_t t1 = {0}, m1 = {0}, t2 = {0}, m2 = {0}, t3 = {0}, m3 = {0};
    if (round_trip((const char *)data, size, &t1, &m1) && round_trip(m1.base, m1.len, &t2, &m2) &&
        round_trip(m2.base, m2.len, &t3, &m3)) {
        CHECK(t2.len == t3.len && memcmp(t2.base, t3.base, t2.len) == 0);
        CHECK(m2.len == m3.len && memcmp(m2.base, m3.base, m2.len) == 0);
    }
    buf_free(&t1);
    buf_free(&m1);
    buf_free(&t2);
    buf_free(&m2);
    buf_free(&t3);
    buf_free(&m3);
    return 0;
}
