/*
 * ws_frame.c - WebSocket frame headers and masking (ws_frame.h).
 */
#include "ws/ws_frame.h"

#include <assert.h>
#include <string.h>

#include "base/err.h"
#include "ws/ws_close.h"

static int fail(const char **reason, uint16_t *close_code, const char *why)
{
    if (reason != NULL)
        *reason = why;
    if (close_code != NULL)
        *close_code = WS_CLOSE_PROTOCOL_ERROR;
    return SIOC_EPROTO;
}

int ws_frame_parse_header(const uint8_t *buf, size_t len, ws_frame_header_t *h, int require_mask,
                          const char **reason, uint16_t *close_code)
{
    return ws_frame_parse_header_rsv1(buf, len, h, require_mask, 0, reason, close_code);
}

int ws_frame_parse_header_rsv1(const uint8_t *buf, size_t len, ws_frame_header_t *h,
                               int require_mask, int allow_rsv1, const char **reason,
                               uint16_t *close_code)
{
    if (len < 1)
        return SIOC_INCOMPLETE;
    unsigned b0 = buf[0], op = b0 & 0x0F;
    if (b0 & (allow_rsv1 ? 0x30 : 0x70))
        return fail(reason, close_code, "reserved bits set");
    if ((op > WS_FRAME_OP_BINARY && op < WS_FRAME_OP_CLOSE) || op > WS_FRAME_OP_PONG)
        return fail(reason, close_code, "reserved opcode");
    if (WS_FRAME_IS_CONTROL(op) && !(b0 & 0x80))
        return fail(reason, close_code, "fragmented control frame");
    if (len < 2)
        return SIOC_INCOMPLETE;
    unsigned b1 = buf[1], n7 = b1 & 0x7F, masked = b1 >> 7;
    if (require_mask && !masked)
        return fail(reason, close_code, "client frame not masked");
    if (!require_mask && masked)
        return fail(reason, close_code, "server frame masked");
    if (WS_FRAME_IS_CONTROL(op) && n7 > WS_FRAME_MAX_CONTROL)
        return fail(reason, close_code, "control frame payload over 125 bytes");
    size_t hl = 2 + (n7 == 126 ? 2 : n7 == 127 ? 8 : 0);
    if (n7 == 127 && len >= 3 && (buf[2] & 0x80))
        return fail(reason, close_code, "64-bit payload length with the top bit set");
    size_t mask_at = hl;
    hl += masked ? 4 : 0;
    if (len < hl)
        return SIOC_INCOMPLETE;
    uint64_t plen = n7;
    if (n7 == 126) {
        plen = (uint64_t)buf[2] << 8 | buf[3];
    } else if (n7 == 127) {
        plen = 0;
        for (int i = 2; i < 10; i++)
            plen = plen << 8 | buf[i];
    }
    h->payload_len = plen;
    h->fin = (uint8_t)(b0 >> 7);
    h->rsv1 = (uint8_t)((b0 >> 6) & 1);
    h->opcode = (uint8_t)op;
    h->masked = (uint8_t)masked;
    if (masked)
        memcpy(h->mask, buf + mask_at, 4);
    else
        memset(h->mask, 0, 4);
    return (int)hl;
}

void ws_frame_unmask(uint8_t *p, size_t len, const uint8_t key[4], size_t key_offset)
{
    /* The key rotated so that k[0] applies to p[0], repeated to 8 bytes. */
    uint8_t k[8];
    for (int i = 0; i < 8; i++)
        k[i] = key[(key_offset + (size_t)i) & 3];
    uint64_t k64;
    memcpy(&k64, k, 8);
    size_t i = 0;
    /* memcpy keeps the word accesses alignment-safe; compilers turn this
     * loop into plain (vector) loads and stores. */
    for (; len - i >= 32; i += 32) {
        uint64_t w[4];
        memcpy(w, p + i, 32);
        w[0] ^= k64;
        w[1] ^= k64;
        w[2] ^= k64;
        w[3] ^= k64;
        memcpy(p + i, w, 32);
    }
    for (; len - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k64;
        memcpy(p + i, &w, 8);
    }
    for (; i < len; i++)
        p[i] ^= k[i & 3];
}

size_t ws_frame_write_header(uint8_t out[WS_FRAME_MAX_HEADER], int opcode, int fin,
                             uint64_t payload_len, const uint8_t *mask)
{
    assert(opcode >= 0 && opcode <= 0xF);
    assert(!WS_FRAME_IS_CONTROL(opcode) || (fin && payload_len <= WS_FRAME_MAX_CONTROL));
    assert(payload_len >> 63 == 0);
    size_t n = 2;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    uint8_t m = mask != NULL ? 0x80 : 0;
    if (payload_len < 126) {
        out[1] = (uint8_t)(m | payload_len);
    } else if (payload_len <= 0xFFFF) {
        out[1] = (uint8_t)(m | 126);
        out[2] = (uint8_t)(payload_len >> 8);
        out[3] = (uint8_t)payload_len;
        n = 4;
    } else {
        out[1] = (uint8_t)(m | 127);
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(payload_len >> (56 - 8 * i));
        n = 10;
    }
    if (mask != NULL) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

int ws_frame_append(sioc_buf_t *out, int opcode, int fin, const void *payload, size_t len,
                    const uint8_t *mask)
{
    uint8_t hdr[WS_FRAME_MAX_HEADER];
    size_t hl = ws_frame_write_header(hdr, opcode, fin, len, mask);
    if (len > ((size_t)-1) - hl)
        return SIOC_ENOMEM;
    int r = buf_reserve(out, hl + len);
    if (r)
        return r;
    uint8_t *dst = (uint8_t *)out->base + out->len;
    memcpy(dst, hdr, hl);
    if (len) {
        memcpy(dst + hl, payload, len);
        if (mask != NULL)
            ws_frame_unmask(dst + hl, len, mask, 0);
    }
    out->len += hl + len;
    return 0;
}
