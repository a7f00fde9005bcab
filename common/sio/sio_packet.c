/*
 * sio_packet.c - Socket.IO v5 packet codec (sio_packet.h).
 *
 * The header is read left to right in one pass with no backtracking; the
 * payload is then validated by one jscan_value pass, plus one short
 * iteration for the first element of events and one placeholder walk for
 * binary packets.
 */
#include "sio_packet.h"

#include <limits.h>
#include <string.h>

#include "base/err.h"
#include "sio/jscan.h"
#include "sio/sio_binary.h"
#include "sio/sio_json.h"

static const char *const reserved_events[] = {
    "connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener",
};

#define NRESERVED (sizeof(reserved_events) / sizeof(reserved_events[0]))

int sio_packet_reserved_event(sioc_iov_t name)
{
    for (size_t i = 0; i < NRESERVED; i++)
        if (iov_eq_str(name, reserved_events[i]))
            return 1;
    return 0;
}

/* Whether the string token `tok` (already validated) names a reserved event. */
static int reserved_token(sioc_iov_t tok)
{
    if (memchr(tok.base, '\\', tok.len) == NULL)
        return sio_packet_reserved_event(iov_make(tok.base + 1, tok.len - 2));
    for (size_t i = 0; i < NRESERVED; i++)
        if (jscan_string_eq(tok, reserved_events[i]))
            return 1;
    return 0;
}

static int bad(const char **reason, const char *why)
{
    if (reason)
        *reason = why;
    return SIOC_EPROTO;
}

static inline int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The text between a container's brackets (or from `from` to its closing bracket), trimmed. */
static sioc_iov_t inner_from(sioc_iov_t container, const char *from)
{
    const char *end = container.base + container.len - 1; /* the closing bracket */
    while (from < end && is_ws(*from))
        from++;
    while (end > from && is_ws(end[-1]))
        end--;
    return iov_make(from, (size_t)(end - from));
}

/* EVENT/BINARY_EVENT: a non-empty array whose first element is a number or a non-reserved string.
 */
static int check_event(sio_packet_t *pkt, const char **reason)
{
    jscan_iter_t it;
    sioc_iov_t first;
    if (pkt->data_kind != JSCAN_ARRAY)
        return bad(reason, "event payload is not an array");
    (void)jscan_iter_init(&it, pkt->data);
    int k = jscan_next(&it, NULL, &first);
    if (k <= 0)
        return bad(reason, "event payload is an empty array");
    if (k != JSCAN_STRING && k != JSCAN_NUMBER)
        return bad(reason, "event name is not a string or a number");
    if (k == JSCAN_STRING && reserved_token(first))
        return bad(reason, "reserved event name");
    pkt->event = first;
    pkt->event_kind = k;
    const char *after = first.base + first.len;
    const char *end = pkt->data.base + pkt->data.len - 1;
    while (after < end && is_ws(*after))
        after++;
    if (*after == ',')
        after++;
    pkt->args = inner_from(pkt->data, after);
    return 0;
}

static int check_payload(sio_packet_t *pkt, const char **reason)
{
    int kind = pkt->data_kind;
    switch (pkt->type) {
    case SIO_CONNECT:
        if (pkt->has_ack)
            return bad(reason, "ack id on CONNECT");
        if (kind != 0 && kind != JSCAN_OBJECT)
            return bad(reason, "CONNECT payload is not an object");
        return 0;
    case SIO_DISCONNECT:
        if (pkt->has_ack)
            return bad(reason, "ack id on DISCONNECT");
        if (kind != 0)
            return bad(reason, "DISCONNECT with a payload");
        return 0;
    case SIO_CONNECT_ERROR:
        if (pkt->has_ack)
            return bad(reason, "ack id on CONNECT_ERROR");
        if (kind != JSCAN_OBJECT && kind != JSCAN_STRING)
            return bad(reason, "CONNECT_ERROR payload is not an object or a string");
        return 0;
    case SIO_EVENT:
    case SIO_BINARY_EVENT:
        return check_event(pkt, reason);
    default: /* SIO_ACK, SIO_BINARY_ACK */
        if (!pkt->has_ack)
            return bad(reason, "ACK without an ack id");
        if (kind != JSCAN_ARRAY)
            return bad(reason, "ACK payload is not an array");
        pkt->args = inner_from(pkt->data, pkt->data.base + 1);
        return 0;
    }
}

int sio_packet_parse_ex(const char *p, size_t len, const sio_packet_limits_t *lim,
                        sio_packet_t *pkt, const char **reason)
{
    size_t i = 1;
    if (len == 0)
        return bad(reason, "empty packet");
    if (len > (size_t)INT_MAX)
        return bad(reason, "packet too large");
    if (p[0] < '0' || p[0] > '6')
        return bad(reason, "unknown packet type");
    memset(pkt, 0, sizeof(*pkt));
    pkt->type = p[0] - '0';
    pkt->nsp = SIOC_LIT("/");

    if (pkt->type == SIO_BINARY_EVENT || pkt->type == SIO_BINARY_ACK) {
        unsigned long long n = 0;
        size_t start = i;
        for (; i < len && is_digit(p[i]); i++) {
            n = n * 10 + (unsigned)(p[i] - '0');
            if (n > lim->max_attachments)
                return bad(reason, "too many attachments");
        }
        if (i == start || i >= len || p[i] != '-')
            return bad(reason, "invalid attachments count");
        pkt->attachments = (unsigned)n;
        i++;
    }

    if (i < len && p[i] == '/') {
        const char *comma = memchr(p + i, ',', len - i);
        size_t end = comma ? (size_t)(comma - p) : len;
        pkt->nsp = iov_make(p + i, end - i);
        i = comma ? end + 1 : len;
    }

    if (i < len && is_digit(p[i])) {
        unsigned long long id = 0;
        for (; i < len && is_digit(p[i]); i++) {
            unsigned d = (unsigned)(p[i] - '0');
            if (id > (SIO_MAX_ACK_ID - d) / 10)
                return bad(reason, "ack id too large");
            id = id * 10 + d;
        }
        pkt->has_ack = 1;
        pkt->ack_id = id;
    }

    if (i < len) {
        jscan_value_t v;
        if (is_ws(p[i]))
            return bad(reason, "whitespace before the payload");
        if (jscan_value(p + i, len - i, &v) < 0)
            return bad(reason, "invalid JSON payload");
        pkt->data = v.tok;
        pkt->data_kind = v.kind;
    }

    int r = check_payload(pkt, reason);
    if (r)
        return r;
    if ((pkt->type == SIO_BINARY_EVENT || pkt->type == SIO_BINARY_ACK) &&
        sio_binary_check(pkt->data, pkt->attachments, reason) < 0)
        return SIOC_EPROTO;
    return (int)len;
}

int sio_packet_parse(const char *p, size_t len, sio_packet_t *pkt, const char **reason)
{
    sio_packet_limits_t lim = SIO_PACKET_LIMITS_DEFAULT;
    return sio_packet_parse_ex(p, len, &lim, pkt, reason);
}

static int nsp_is_root(sioc_iov_t nsp)
{
    return nsp.len == 0 || (nsp.len == 1 && nsp.base[0] == '/');
}

int sio_packet_write_header(sioc_buf_t *b, int type, unsigned attachments, sioc_iov_t nsp,
                            int has_ack, unsigned long long ack_id)
{
    if (type < SIO_CONNECT || type > SIO_BINARY_ACK)
        return SIOC_EINVAL;
    if (nsp.len && (nsp.base[0] != '/' || memchr(nsp.base, ',', nsp.len) != NULL))
        return SIOC_EINVAL;
    if (has_ack && ack_id > SIO_MAX_ACK_ID)
        return SIOC_EINVAL;
    size_t start = b->len;
    int r = buf_reserve(b, 1 + 11 + nsp.len + 1 + 16);
    r = r ? r : buf_append_byte(b, (char)('0' + type));
    if (type == SIO_BINARY_EVENT || type == SIO_BINARY_ACK) {
        r = r ? r : buf_append_u64(b, attachments);
        r = r ? r : buf_append_byte(b, '-');
    }
    if (!nsp_is_root(nsp)) {
        r = r ? r : buf_append(b, nsp.base, nsp.len);
        r = r ? r : buf_append_byte(b, ',');
    }
    if (has_ack)
        r = r ? r : buf_append_u64(b, ack_id);
    if (r)
        b->len = start;
    return r;
}

int sio_packet_write(sioc_buf_t *b, int type, unsigned attachments, sioc_iov_t nsp, int has_ack,
                     unsigned long long ack_id, sioc_iov_t data)
{
    size_t start = b->len;
    int r = sio_packet_write_header(b, type, attachments, nsp, has_ack, ack_id);
    r = r ? r : buf_append(b, data.base, data.len);
    if (r)
        b->len = start;
    return r;
}

int sio_packet_write_connect(sioc_buf_t *b, sioc_iov_t nsp, const char *sid, const char *pid)
{
    size_t start = b->len;
    int r = sio_packet_write_header(b, SIO_CONNECT, 0, nsp, 0, 0);
    r = r ? r : buf_append_str(b, "{\"sid\":");
    r = r ? r : sio_json_append_string(b, sid, strlen(sid));
    if (pid) {
        r = r ? r : buf_append_str(b, ",\"pid\":");
        r = r ? r : sio_json_append_string(b, pid, strlen(pid));
    }
    r = r ? r : buf_append_byte(b, '}');
    if (r)
        b->len = start;
    return r;
}

int sio_packet_write_connect_error(sioc_buf_t *b, sioc_iov_t nsp, const char *message,
                                   sioc_iov_t data)
{
    size_t start = b->len;
    int r = sio_packet_write_header(b, SIO_CONNECT_ERROR, 0, nsp, 0, 0);
    r = r ? r : buf_append_str(b, "{\"message\":");
    r = r ? r : sio_json_append_string(b, message, strlen(message));
    if (data.len) {
        r = r ? r : buf_append_str(b, ",\"data\":");
        r = r ? r : buf_append(b, data.base, data.len);
    }
    r = r ? r : buf_append_byte(b, '}');
    if (r)
        b->len = start;
    return r;
}

int sio_packet_write_disconnect(sioc_buf_t *b, sioc_iov_t nsp)
{
    return sio_packet_write_header(b, SIO_DISCONNECT, 0, nsp, 0, 0);
}
