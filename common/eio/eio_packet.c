/*
 * eio_packet.c - Engine.IO v4 text packet codec (eio_packet.h).
 *
 * Node's engine.io-parser maps the first character through Number(), so an
 * empty packet or " " decodes there as an open packet; here both are
 * malformed, which is what the protocol text says.
 */
#include "eio_packet.h"

#include <limits.h>
#include <string.h>

#include "base/err.h"

int eio_packet_decode(const char *p, size_t len, eio_packet_t *out, const char **reason)
{
    if (len == 0) {
        if (reason)
            *reason = "empty packet";
        return SIOC_EPROTO;
    }
    if (p[0] < '0' || p[0] > '6') {
        if (reason)
            *reason = "unknown packet type";
        return SIOC_EPROTO;
    }
    if (len > (size_t)INT_MAX) {
        if (reason)
            *reason = "packet too large";
        return SIOC_EPROTO;
    }
    out->type = p[0] - '0';
    out->data = iov_make(p + 1, len - 1);
    return (int)len;
}

int eio_packet_write(sioc_buf_t *b, int type, const char *data, size_t len)
{
    if (type < 0 || type >= EIO_PACKET_NTYPES)
        return SIOC_EINVAL;
    int r = buf_reserve(b, len + 1);
    if (r)
        return r;
    b->base[b->len++] = (char)('0' + type);
    if (len)
        memcpy(b->base + b->len, data, len);
    b->len += len;
    return 0;
}

static int sid_ok(const char *sid)
{
    if (sid == NULL || *sid == '\0')
        return 0;
    for (const unsigned char *s = (const unsigned char *)sid; *s; s++)
        if (*s < 0x20 || *s >= 0x7f || *s == '"' || *s == '\\')
            return 0;
    return 1;
}

int eio_open_write(sioc_buf_t *b, const char *sid, int upgrades_websocket, unsigned ping_interval,
                   unsigned ping_timeout, unsigned long max_payload)
{
    if (!sid_ok(sid))
        return SIOC_EINVAL;
    size_t start = b->len;
    int r = 0;
    r = r ? r : buf_append_str(b, "0{\"sid\":\"");
    r = r ? r : buf_append_str(b, sid);
    r = r ? r
          : buf_append_str(b, upgrades_websocket
                                  ? "\",\"upgrades\":[\"websocket\"],\"pingInterval\":"
                                  : "\",\"upgrades\":[],\"pingInterval\":");
    r = r ? r : buf_append_u64(b, ping_interval);
    r = r ? r : buf_append_str(b, ",\"pingTimeout\":");
    r = r ? r : buf_append_u64(b, ping_timeout);
    r = r ? r : buf_append_str(b, ",\"maxPayload\":");
    r = r ? r : buf_append_u64(b, max_payload);
    r = r ? r : buf_append_byte(b, '}');
    if (r)
        b->len = start;
    return r;
}
