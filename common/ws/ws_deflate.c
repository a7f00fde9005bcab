/*
 * ws_deflate.c - permessage-deflate negotiation and codec (ws_deflate.h).
 *
 * Deflating a message ends with a sync flush, whose empty stored block 00 00 ff ff is
 * cut (RFC 7692 §7.2.1); inflating puts it back after the payload (§7.2.2). Streams are
 * reset after every message: no context takeover in either direction.
 */
#include "ws/ws_deflate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/err.h"
#include "http/http_parse.h"

#define MIN_BITS 9
#define MAX_BITS 15
/* Inflate scratch above this size is released before the next message. */
#define KEEP_BYTES 65536

struct ws_deflate {
    z_stream def[MAX_BITS - MIN_BITS + 1];
    uint8_t def_ready[MAX_BITS - MIN_BITS + 1];
    z_stream inf;
    uint8_t inf_ready;
    sioc_buf_t scratch;
};

static sioc_iov_t trim(sioc_iov_t s)
{
    while (s.len > 0 && (s.base[0] == ' ' || s.base[0] == '\t'))
        s.base++, s.len--;
    while (s.len > 0 && (s.base[s.len - 1] == ' ' || s.base[s.len - 1] == '\t'))
        s.len--;
    return s;
}

/* A window size parameter value: 8..15, plain or quoted (RFC 7692 §7.1.2.1). */
static int bits_value(sioc_iov_t v)
{
    if (v.len >= 2 && v.base[0] == '"' && v.base[v.len - 1] == '"')
        v = iov_make(v.base + 1, v.len - 2);
    if (v.len == 1 && v.base[0] >= '8' && v.base[0] <= '9')
        return v.base[0] - '0';
    if (v.len == 2 && v.base[0] == '1' && v.base[1] >= '0' && v.base[1] <= '5')
        return 10 + v.base[1] - '0';
    return -1;
}

/* One extension of the offer list: 1 with *out for an acceptable permessage-deflate, else 0. */
static int parse_offer(sioc_iov_t el, ws_deflate_params_t *out)
{
    const char *semi = memchr(el.base, ';', el.len);
    size_t n = semi ? (size_t)(semi - el.base) : el.len;
    if (!iov_eq_ci(trim(iov_make(el.base, n)), SIOC_LIT("permessage-deflate")))
        return 0;
    sioc_iov_t rest = semi ? iov_make(semi + 1, el.len - n - 1) : SIOC_IOV_NULL;
    int snct = 0, cnct = 0, smwb = 0, cmwb = 0;
    while (semi != NULL) {
        semi = memchr(rest.base, ';', rest.len);
        size_t pn = semi ? (size_t)(semi - rest.base) : rest.len;
        sioc_iov_t p = trim(iov_make(rest.base, pn));
        if (semi != NULL)
            rest = iov_make(semi + 1, rest.len - pn - 1);
        const char *eq = memchr(p.base, '=', p.len);
        sioc_iov_t name = trim(iov_make(p.base, eq ? (size_t)(eq - p.base) : p.len));
        sioc_iov_t value =
            eq ? trim(iov_make(eq + 1, p.len - (size_t)(eq + 1 - p.base))) : SIOC_IOV_NULL;
        /* §7.1: each parameter at most once; unknown parameters decline the offer. */
        if (iov_eq_ci(name, SIOC_LIT("server_no_context_takeover"))) {
            if (snct++ || eq != NULL)
                return 0;
        } else if (iov_eq_ci(name, SIOC_LIT("client_no_context_takeover"))) {
            if (cnct++ || eq != NULL)
                return 0;
        } else if (iov_eq_ci(name, SIOC_LIT("server_max_window_bits"))) {
            if (smwb || eq == NULL)
                return 0;
            smwb = bits_value(value);
            if (smwb < MIN_BITS)
                return 0; /* malformed, or 8: zlib cannot keep to a 256-byte window */
        } else if (iov_eq_ci(name, SIOC_LIT("client_max_window_bits"))) {
            if (cmwb)
                return 0;
            cmwb = eq == NULL ? MAX_BITS : bits_value(value);
            if (cmwb < 8)
                return 0;
        } else {
            return 0;
        }
    }
    out->server_max_window_bits = (uint8_t)(smwb ? smwb : MAX_BITS);
    return 1;
}

int ws_deflate_negotiate(const sioc_iov_t *values, size_t n, ws_deflate_params_t *out)
{
    for (size_t i = 0; i < n; i++) {
        sioc_iov_t rest = values[i], el;
        while (http_list_next(&rest, &el))
            if (parse_offer(el, out))
                return 1;
    }
    return 0;
}

int ws_deflate_response(const ws_deflate_params_t *p, sioc_buf_t *b)
{
    size_t len0 = b->len;
    int r = buf_append_str(b, "Sec-WebSocket-Extensions: permessage-deflate; "
                              "server_no_context_takeover; client_no_context_takeover");
    if (r == 0 && p->server_max_window_bits < MAX_BITS) {
        r = buf_append_str(b, "; server_max_window_bits=");
        if (r == 0)
            r = buf_append_u64(b, p->server_max_window_bits);
    }
    if (r == 0)
        r = buf_append(b, "\r\n", 2);
    if (r != 0)
        b->len = len0;
    return r;
}

ws_deflate_t *ws_deflate_new(void)
{
    return xcalloc(1, sizeof(ws_deflate_t));
}

void ws_deflate_free(ws_deflate_t *d)
{
    if (d == NULL)
        return;
    for (int i = 0; i <= MAX_BITS - MIN_BITS; i++)
        if (d->def_ready[i])
            deflateEnd(&d->def[i]);
    if (d->inf_ready)
        inflateEnd(&d->inf);
    buf_free(&d->scratch);
    free(d);
}

/* Feeds `len` bytes (Z_NO_FLUSH, or Z_SYNC_FLUSH for the last part), growing `out`. */
static int deflate_part(z_stream *z, const void *p, size_t len, int flush, sioc_buf_t *out)
{
    z->next_in = (Bytef *)(uintptr_t)p;
    z->avail_in = (uInt)len;
    for (;;) {
        size_t want = deflateBound(z, (uLong)z->avail_in) + 16;
        int r = buf_reserve(out, want);
        if (r != 0)
            return r;
        z->next_out = (Bytef *)out->base + out->len;
        z->avail_out = (uInt)(out->cap - out->len);
        uInt before = z->avail_out;
        int zr = deflate(z, flush);
        out->len += before - z->avail_out;
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            return SIOC_ENOMEM;
        /* Done when all input is in and the flush left room to spare. */
        if (z->avail_in == 0 && z->avail_out > 0)
            return 0;
    }
}

int ws_deflate_compress(ws_deflate_t *d, int window_bits, const void *a, size_t a_len,
                        const void *b, size_t b_len, sioc_buf_t *out)
{
    if (window_bits < MIN_BITS || window_bits > MAX_BITS)
        return SIOC_EINVAL;
    int i = window_bits - MIN_BITS;
    z_stream *z = &d->def[i];
    if (!d->def_ready[i]) {
        /* Negative window bits: raw deflate, no zlib header (§7.2.1). */
        if (deflateInit2(z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -window_bits, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return SIOC_ENOMEM;
        d->def_ready[i] = 1;
    }
    size_t len0 = out->len;
    int r = 0;
    if (a_len > 0)
        r = deflate_part(z, a, a_len, Z_NO_FLUSH, out);
    if (r == 0)
        r = deflate_part(z, b, b_len, Z_SYNC_FLUSH, out);
    deflateReset(z);
    if (r == 0 && (out->len - len0 < 4 || memcmp(out->base + out->len - 4, "\0\0\xff\xff", 4)))
        r = SIOC_ENOMEM; /* a sync flush always ends so; anything else is zlib failing */
    if (r != 0) {
        out->len = len0;
        return r;
    }
    out->len -= 4;
    return 0;
}

int ws_deflate_inflate(ws_deflate_t *d, const void *in, size_t len, size_t max, sioc_iov_t *out)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    if (!d->inf_ready) {
        if (inflateInit2(&d->inf, -MAX_BITS) != Z_OK)
            return SIOC_ENOMEM;
        d->inf_ready = 1;
    }
    if (d->scratch.cap > KEEP_BYTES)
        buf_free(&d->scratch);
    d->scratch.len = 0;
    z_stream *z = &d->inf;
    inflateReset(z);
    int rc = 0, ended = 0;
    for (int part = 0; part < 2 && rc == 0 && !ended; part++) {
        z->next_in = (Bytef *)(uintptr_t)(part == 0 ? in : (const void *)tail);
        z->avail_in = (uInt)(part == 0 ? len : sizeof(tail));
        for (;;) {
            sioc_buf_t *o = &d->scratch;
            /* One byte past the cap is enough to know it was passed. */
            size_t left = max + 1 - o->len;
            if (o->cap == o->len) {
                size_t grow = o->cap < 4096 ? 4096 : o->cap;
                if (buf_reserve(o, grow < left ? grow : left) != 0) {
                    rc = SIOC_ENOMEM;
                    break;
                }
            }
            size_t room = o->cap - o->len;
            if (room > left)
                room = left;
            z->next_out = (Bytef *)o->base + o->len;
            z->avail_out = (uInt)room;
            int zr = inflate(z, Z_SYNC_FLUSH);
            o->len += room - z->avail_out;
            if (o->len > max) {
                rc = SIOC_EMSGSIZE;
                break;
            }
            if (zr == Z_STREAM_END) {
                ended = 1; /* a final block (BFINAL) ends the message; the rest is ignored */
                break;
            }
            if (zr == Z_MEM_ERROR) {
                rc = SIOC_ENOMEM;
                break;
            }
            if (zr != Z_OK && zr != Z_BUF_ERROR) {
                rc = SIOC_EPROTO;
                break;
            }
            /* All input in, and room left over: nothing more is pending. */
            if (z->avail_in == 0 && z->avail_out > 0)
                break;
        }
    }
    if (rc != 0)
        return rc;
    *out = iov_make(d->scratch.base, d->scratch.len);
    return 0;
}
