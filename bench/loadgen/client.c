/*
 * client.c - one Socket.IO v5 client of the load generator (bench.h).
 *
 * WebSocket (the default): one TCP connection; the HTTP/1.1 upgrade request
 * (RFC 6455 §4.1) straight after connect(), the 101 response checked with
 * http_parse_response and ws_handshake_accept, then client frames, masked
 * with a fresh key each (§5.3), and server frames read with ws_reader in its
 * client role. Engine.IO v4 rides on text frames (PROTOCOL.md §1.5) and
 * Socket.IO v5 on Engine.IO messages (§2).
 *
 * Long-polling: two keep-alive HTTP/1.1 connections per client, as a
 * browser uses: one carries the GETs (each held by the server until it has
 * packets, PROTOCOL.md §1.4), the other the POSTs, one at a time, with the
 * packets queued meanwhile joined by 0x1e. Cookies set on the handshake
 * (HAProxy's or a proxy's affinity cookie) are sent back on every request.
 * An idle POST connection that the server closes (keep-alive timeout) is
 * reopened when the next packet is sent.
 *
 * Every Engine.IO ping is answered at once. What matters to the scenario
 * (CONNECT, CONNECT_ERROR, events, acks, the end) is reported through
 * bench_on_*; each client reports bench_on_closed exactly once, from the
 * loop's turn end (conn.h), after which the scenario may free it.
 * Loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/base64.h"
#include "base/clock.h"
#include "base/err.h"
#include "bench.h"
#include "eio/eio_packet.h"
#include "eio/eio_payload.h"
#include "http/http_parse.h"
#include "jwtmint.h"
#include "sio/jscan.h"
#include "sio/sio_packet.h"
#include "ws/ws_frame.h"
#include "ws/ws_handshake.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define CLIENT_MAX_INPUT (4u << 20)
#define CLIENT_MAX_OUTPUT (256u << 20)
#define MAX_HEADERS 32

enum { ST_HTTP, ST_EIO_OPEN, ST_SIO_CONNECT, ST_READY, ST_CLOSED };

struct bclient {
    bench_t *b;
    conn_t *conn; /* websocket, or the polling GET connection */
    conn_t *post; /* polling POST connection (NULL until needed) */
    uint32_t idx;
    uint8_t state;
    uint8_t closing;
    uint8_t get_inflight, post_inflight;
    uint8_t was_ready;
    const char *why; /* static: why we closed, for the report */
    long long t0_us;
    unsigned long long next_ack;
    char ws_key[25];
    ws_reader_t rd;
    client_slot_t slot;
    char *sid;    /* polling */
    char *cookie; /* polling: "a=b; c=d" */
    sioc_buf_t postq;
};

static size_t ws_on_data(conn_t *cn, uint8_t *buf, size_t len);
static size_t get_on_data(conn_t *cn, uint8_t *buf, size_t len);
static size_t post_on_data(conn_t *cn, uint8_t *buf, size_t len);
static void any_on_close(conn_t *cn, int reason);

static const conn_hooks_t ws_hooks = {.on_data = ws_on_data, .on_close = any_on_close};
static const conn_hooks_t get_hooks = {.on_data = get_on_data, .on_close = any_on_close};
static const conn_hooks_t post_hooks = {.on_data = post_on_data, .on_close = any_on_close};

static const bench_target_t *target_of(const bclient_t *c)
{
    const bench_conf_t *cf = c->b->conf;
    if (cf->pub_target != NULL && c->idx >= cf->conns)
        return cf->pub_target;
    return &cf->targets[c->idx % cf->ntargets];
}

static void fail(bclient_t *c, const char *why)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->why == NULL)
        c->why = why;
    if (why != NULL && c->state != ST_READY && c->b->first_error == NULL)
        c->b->first_error = why;
    if (c->conn != NULL)
        conn_close(c->conn, 0);
    if (c->post != NULL)
        conn_close(c->post, 0);
}

static conn_t *open_conn(bclient_t *c, const conn_hooks_t *hooks, const char **err)
{
    const bench_conf_t *cf = c->b->conf;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = errno == EMFILE || errno == ENFILE ? "socket: too many open files" : "socket failed";
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (cf->sources > 0) {
        /* Defer the port choice to connect() so ports are shared across destinations. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        struct sockaddr_in src;
        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(cf->src_base + c->idx % cf->sources);
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0) {
            close(fd);
            *err = "bind to the source address failed";
            return NULL;
        }
    }
    const bench_target_t *t = target_of(c);
    if (connect(fd, (const struct sockaddr *)&t->addr, sizeof(t->addr)) != 0 &&
        errno != EINPROGRESS) {
        *err = errno == EADDRNOTAVAIL ? "connect: no free local port" : "connect failed";
        close(fd);
        return NULL;
    }
    conn_t *cn = conn_new(c->b->loop, fd, hooks, c);
    conn_set_limits(cn, CLIENT_MAX_INPUT, CLIENT_MAX_OUTPUT);
    return cn;
}

/* Appends the query's transport and sid, and the common headers. */
static int write_request(bclient_t *c, conn_t *cn, const char *method, const char *transport,
                         const char *extra, sioc_iov_t body)
{
    const bench_conf_t *cf = c->b->conf;
    char head[1024];
    int n = snprintf(
        head, sizeof(head), "%s %s?EIO=4&transport=%s%s%s HTTP/1.1\r\nHost: %s\r\n%s%s%s%s", method,
        cf->path, transport, c->sid ? "&sid=" : "", c->sid ? c->sid : "", target_of(c)->hostport,
        c->cookie ? "Cookie: " : "", c->cookie ? c->cookie : "", c->cookie ? "\r\n" : "", extra);
    if (n < 0 || (size_t)n >= sizeof(head) - 64)
        return SIOC_EMSGSIZE;
    if (body.base != NULL)
        n +=
            snprintf(head + n, sizeof(head) - (size_t)n,
                     "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %zu\r\n", body.len);
    n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
    int r = conn_write(cn, head, (size_t)n);
    if (r == 0 && body.len > 0)
        r = conn_write(cn, body.base, body.len);
    return r;
}

bclient_t *client_start(bench_t *b, unsigned idx, const char **err)
{
    bclient_t *c = xcalloc(1, sizeof(*c));
    c->b = b;
    c->idx = idx;
    c->slot.room = UINT32_MAX;
    c->t0_us = clock_us();
    c->next_ack = 1;
    const conn_hooks_t *hooks = b->conf->transport == TR_WEBSOCKET ? &ws_hooks : &get_hooks;
    c->conn = open_conn(c, hooks, err);
    if (c->conn == NULL) {
        free(c);
        return NULL;
    }
    int r;
    if (b->conf->transport == TR_WEBSOCKET) {
        ws_reader_init(&c->rd, WS_READER_CLIENT, 0);
        unsigned char raw[16];
        uint64_t a = bench_rand(b), z = bench_rand(b);
        memcpy(raw, &a, 8);
        memcpy(raw + 8, &z, 8);
        c->ws_key[base64_encode(c->ws_key, raw, 16)] = '\0';
        char extra[160];
        snprintf(extra, sizeof(extra),
                 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n",
                 c->ws_key);
        r = write_request(c, c->conn, "GET", "websocket", extra, SIOC_IOV_NULL);
    } else {
        r = write_request(c, c->conn, "GET", "polling", "", SIOC_IOV_NULL);
        c->get_inflight = 1;
    }
    if (r != 0)
        fail(c, "cannot queue the handshake request");
    return c;
}

/* ------------------------------------------------------------------ sending */

static void flush_post(bclient_t *c)
{
    if (c->post_inflight || c->postq.len == 0 || c->closing)
        return;
    if (c->post == NULL) {
        const char *err = NULL;
        c->post = open_conn(c, &post_hooks, &err);
        if (c->post == NULL) {
            fail(c, err);
            return;
        }
    }
    if (write_request(c, c->post, "POST", "polling", "", iov_make(c->postq.base, c->postq.len)) !=
        0) {
        fail(c, "cannot queue a POST");
        return;
    }
    buf_reset(&c->postq);
    c->post_inflight = 1;
}

/* Sends one Engine.IO text packet (type digit included). */
static int send_text(bclient_t *c, const char *p, size_t n)
{
    bench_t *b = c->b;
    if (c->closing || c->state == ST_CLOSED)
        return SIOC_ECANCELED;
    if (b->conf->transport == TR_POLLING) {
        if (c->postq.len > 0 && buf_append_byte(&c->postq, EIO_PAYLOAD_SEP) != 0)
            return SIOC_ENOMEM;
        if (buf_append(&c->postq, p, n) != 0)
            return SIOC_ENOMEM;
        flush_post(c);
        return 0;
    }
    uint64_t r = bench_rand(b);
    uint8_t mask[4];
    memcpy(mask, &r, 4);
    buf_reset(&b->frame);
    if (ws_frame_append(&b->frame, WS_FRAME_OP_TEXT, 1, p, n, mask) != 0)
        return SIOC_ENOMEM;
    b->bytes_tx_frames += b->frame.len;
    int rc = conn_write(c->conn, b->frame.base, b->frame.len);
    if (rc != 0)
        fail(c, "output over its limit");
    return rc;
}

static int send_control(bclient_t *c, int op, sioc_iov_t payload)
{
    uint64_t r = bench_rand(c->b);
    uint8_t mask[4];
    memcpy(mask, &r, 4);
    buf_reset(&c->b->frame);
    if (ws_frame_append(&c->b->frame, op, 1, payload.base, payload.len, mask) != 0)
        return SIOC_ENOMEM;
    return conn_write(c->conn, c->b->frame.base, c->b->frame.len);
}

int client_emit(bclient_t *c, const char *event, sioc_iov_t args_json, unsigned long long ack_id)
{
    sioc_buf_t *t = &c->b->tx;
    buf_reset(t);
    int r = buf_append(t, "42", 2);
    if (r == 0 && ack_id != 0)
        r = buf_append_u64(t, ack_id);
    if (r == 0)
        r = buf_append(t, "[\"", 2);
    if (r == 0)
        r = buf_append_str(t, event);
    if (r == 0)
        r = buf_append(t, "\"", 1);
    if (r == 0 && args_json.len > 0) {
        r = buf_append_byte(t, ',');
        if (r == 0)
            r = buf_append(t, args_json.base, args_json.len);
    }
    if (r == 0)
        r = buf_append_byte(t, ']');
    if (r != 0)
        return r;
    return send_text(c, t->base, t->len);
}

static void send_sio_connect(bclient_t *c)
{
    const bench_conf_t *cf = c->b->conf;
    char pkt[JWTMINT_MAX + 256];
    const char *tok = cf->token;
    char minted[JWTMINT_MAX];
    if (tok == NULL && cf->secret != NULL) {
        char sub[80];
        snprintf(sub, sizeof(sub), "%s%u", cf->user_prefix, c->idx);
        if (jwtmint_hs256(minted, sub, cf->secret, cf->secret_len, clock_unix(), cf->token_ttl) <
            0) {
            fail(c, "cannot mint a token (bad --user-prefix)");
            return;
        }
        tok = minted;
    }
    char extra[192];
    size_t el = bench_connect_extra(c->b, c, extra, sizeof(extra));
    int n;
    if (tok != NULL)
        n = snprintf(pkt, sizeof(pkt), "40{\"token\":\"%s\"%s%.*s}", tok, el ? "," : "", (int)el,
                     extra);
    else if (el > 0)
        n = snprintf(pkt, sizeof(pkt), "40{%.*s}", (int)el, extra);
    else
        n = snprintf(pkt, sizeof(pkt), "40");
    if (n < 0 || (size_t)n >= sizeof(pkt)) {
        fail(c, "token too long");
        return;
    }
    c->state = ST_SIO_CONNECT;
    send_text(c, pkt, (size_t)n);
}

/* ------------------------------------------------------------------ receiving */

static void on_sio(bclient_t *c, sioc_iov_t data, long long now)
{
    bench_t *b = c->b;
    sio_packet_t sp;
    const char *reason = NULL;
    if (sio_packet_parse(data.base, data.len, &sp, &reason) < 0) {
        b->proto_errors++;
        fail(c, "malformed Socket.IO packet");
        return;
    }
    switch (sp.type) {
    case SIO_CONNECT:
        if (c->state == ST_SIO_CONNECT) {
            c->state = ST_READY;
            c->was_ready = 1;
            bench_on_connected(b, c, sp.data, now);
        }
        break;
    case SIO_CONNECT_ERROR:
        bench_on_refused(b, c, sp.data);
        fail(c, "namespace refused (CONNECT_ERROR)");
        break;
    case SIO_EVENT:
        bench_on_event(b, c, sp.event, sp.args, now);
        break;
    case SIO_ACK:
        bench_on_ack(b, c, sp.ack_id, sp.args, now);
        break;
    case SIO_DISCONNECT:
        fail(c, "server disconnected the namespace");
        break;
    default:
        b->msgs_rx_other++;
        break;
    }
}

#define DELIVERY_PREFIX "42[\"receive-message\","

static void on_eio_text(bclient_t *c, const char *p, size_t n, long long now)
{
    bench_t *b = c->b;
    /* Fast path for the bulk of the traffic, a delivery on the main namespace: the
     * argument goes to the scenario without validating the whole packet's JSON (the
     * scenario parses the fields it needs and falls back to a full scan when the
     * message is not in the bench's own layout). */
    if (n > sizeof(DELIVERY_PREFIX) && p[n - 1] == ']' &&
        memcmp(p, DELIVERY_PREFIX, sizeof(DELIVERY_PREFIX) - 1) == 0) {
        bench_on_event(b, c, SIOC_LIT("\"receive-message\""),
                       iov_make(p + sizeof(DELIVERY_PREFIX) - 1, n - sizeof(DELIVERY_PREFIX)), now);
        return;
    }
    eio_packet_t pk;
    if (eio_packet_decode(p, n, &pk, NULL) < 0) {
        b->proto_errors++;
        fail(c, "malformed Engine.IO packet");
        return;
    }
    switch (pk.type) {
    case EIO_MESSAGE:
        on_sio(c, pk.data, now);
        break;
    case EIO_PING:
        b->pings_rx++;
        b->pongs_tx++;
        b->ping_bytes += n + 1;
        send_text(c, "3", 1);
        break;
    case EIO_OPEN:
        if (c->state == ST_EIO_OPEN)
            send_sio_connect(c);
        break;
    case EIO_CLOSE:
        fail(c, "server closed the session");
        break;
    default:
        break;
    }
}

static size_t ws_on_data(conn_t *cn, uint8_t *buf, size_t len)
{
    bclient_t *c = conn_data(cn);
    if (c->closing)
        return len;
    long long now = clock_us();
    size_t off = 0;
    if (c->state == ST_HTTP) {
        http_header_t hdrs[MAX_HEADERS];
        http_response_t res;
        memset(&res, 0, sizeof(res));
        res.headers = hdrs;
        res.num_headers = MAX_HEADERS;
        int n = http_parse_response((const char *)buf, len, &res, NULL, NULL);
        if (n == SIOC_INCOMPLETE)
            return 0;
        if (n < 0) {
            fail(c, "malformed HTTP response to the upgrade");
            return len;
        }
        if (res.status != 101) {
            fail(c, res.status == 503 || res.status == 403 ? "upgrade refused (403/503)"
                                                           : "upgrade refused (not 101)");
            return len;
        }
        char want[WS_HANDSHAKE_ACCEPT_LEN + 1];
        ws_handshake_accept(c->ws_key, strlen(c->ws_key), want);
        if (!iov_eq(res.sec_websocket_accept, iov_make(want, WS_HANDSHAKE_ACCEPT_LEN))) {
            fail(c, "wrong Sec-WebSocket-Accept");
            return len;
        }
        c->state = ST_EIO_OPEN;
        off = (size_t)n;
    }
    while (off < len && !c->closing) {
        ws_event_t ev;
        int n = ws_reader_next(&c->rd, buf + off, len - off, &ev);
        if (n == SIOC_INCOMPLETE)
            break;
        if (n < 0) {
            c->b->proto_errors++;
            fail(c, c->rd.reason ? c->rd.reason : "WebSocket protocol error");
            return len;
        }
        off += (size_t)n;
        switch (ev.type) {
        case WS_EVENT_TEXT:
            on_eio_text(c, ev.payload.base, ev.payload.len, now);
            break;
        case WS_EVENT_BINARY:
            c->b->msgs_rx_other++;
            break;
        case WS_EVENT_PING:
            send_control(c, WS_FRAME_OP_PONG, ev.payload);
            break;
        case WS_EVENT_CLOSE:
            fail(c, "server sent a WebSocket close");
            return len;
        default:
            break;
        }
    }
    return c->closing ? len : off;
}

/* Parses one complete HTTP response from buf; returns its total length, 0 when incomplete,
 * -1 on error; fills *status, *body and, when `res_out`, the head. */
static long parse_http(const uint8_t *buf, size_t len, int *status, sioc_iov_t *body,
                       http_response_t *res, http_header_t *hdrs)
{
    memset(res, 0, sizeof(*res));
    res->headers = hdrs;
    res->num_headers = MAX_HEADERS;
    int n = http_parse_response((const char *)buf, len, res, NULL, NULL);
    if (n == SIOC_INCOMPLETE)
        return 0;
    if (n < 0 || res->content_length < 0)
        return -1; /* chunked polling responses are not expected from a Socket.IO server */
    if (len - (size_t)n < (size_t)res->content_length)
        return 0;
    *status = res->status;
    *body = iov_make((const char *)buf + n, (size_t)res->content_length);
    return n + (long)res->content_length;
}

static void keep_cookies(bclient_t *c, const http_response_t *res)
{
    size_t pos = 0;
    int i;
    sioc_buf_t jar = {0};
    while ((i = http_header_find(res->headers, res->num_headers, SIOC_LIT("set-cookie"), &pos)) >=
           0) {
        sioc_iov_t v = res->headers[i].value;
        size_t l = 0;
        while (l < v.len && v.base[l] != ';')
            l++;
        if ((jar.len > 0 && buf_append(&jar, "; ", 2) != 0) || buf_append(&jar, v.base, l) != 0)
            break;
    }
    if (jar.len > 0) {
        free(c->cookie);
        c->cookie = xstrndup(jar.base, jar.len);
    }
    buf_free(&jar);
}

static void next_get(bclient_t *c)
{
    if (c->closing || c->get_inflight)
        return;
    if (write_request(c, c->conn, "GET", "polling", "", SIOC_IOV_NULL) != 0) {
        fail(c, "cannot queue a GET");
        return;
    }
    c->get_inflight = 1;
}

static size_t get_on_data(conn_t *cn, uint8_t *buf, size_t len)
{
    bclient_t *c = conn_data(cn);
    size_t off = 0;
    long long now = clock_us();
    while (off < len && !c->closing) {
        http_header_t hdrs[MAX_HEADERS];
        http_response_t res;
        int status = 0;
        sioc_iov_t body;
        long n = parse_http(buf + off, len - off, &status, &body, &res, hdrs);
        if (n == 0)
            break;
        if (n < 0) {
            fail(c, "malformed HTTP response to a poll");
            return len;
        }
        off += (size_t)n;
        c->get_inflight = 0;
        if (status != 200) {
            fail(c, status == 403 || status == 503 ? "poll refused (403/503)"
                                                   : "poll answered not 200");
            return len;
        }
        if (c->state == ST_HTTP) {
            keep_cookies(c, &res);
            /* The handshake: 0{"sid":"...",...} (possibly followed by more records). */
            jscan_value_t v;
            sioc_iov_t key, val;
            jscan_iter_t it;
            const char *sep =
                body.len > 1 ? memchr(body.base + 1, EIO_PAYLOAD_SEP, body.len - 1) : NULL;
            size_t jl = sep ? (size_t)(sep - body.base - 1) : body.len - (body.len > 0);
            if (body.len < 2 || body.base[0] != '0' ||
                jscan_value(body.base + 1, jl, &v) != JSCAN_OBJECT ||
                jscan_iter_init(&it, v.tok) != 0) {
                fail(c, "bad Engine.IO handshake");
                return len;
            }
            while (jscan_next(&it, &key, &val) > 0) {
                if (jscan_string_eq(key, "sid") && jscan_token_kind(val) == JSCAN_STRING) {
                    char *sid = xmalloc(val.len);
                    int sl = jscan_string_unescape(val, sid, val.len);
                    if (sl <= 0) {
                        free(sid);
                        break;
                    }
                    c->sid = sid;
                }
            }
            if (c->sid == NULL) {
                fail(c, "no sid in the Engine.IO handshake");
                return len;
            }
            c->state = ST_EIO_OPEN;
        }
        eio_payload_iter_t it;
        eio_payload_item_t item;
        eio_payload_iter_init(&it, body.base, body.len);
        int r;
        while (!c->closing && (r = eio_payload_next(&it, &item, NULL)) > 0) {
            if (item.binary)
                c->b->msgs_rx_other++;
            else
                on_eio_text(c, item.record.base, item.record.len, now);
        }
        next_get(c);
    }
    return c->closing ? len : off;
}

static size_t post_on_data(conn_t *cn, uint8_t *buf, size_t len)
{
    bclient_t *c = conn_data(cn);
    size_t off = 0;
    while (off < len && !c->closing) {
        http_header_t hdrs[MAX_HEADERS];
        http_response_t res;
        int status = 0;
        sioc_iov_t body;
        long n = parse_http(buf + off, len - off, &status, &body, &res, hdrs);
        if (n == 0)
            break;
        if (n < 0 || status != 200) {
            fail(c, "POST not answered 200");
            return len;
        }
        off += (size_t)n;
        c->post_inflight = 0;
        flush_post(c);
    }
    return c->closing ? len : off;
}

static void any_on_close(conn_t *cn, int reason)
{
    bclient_t *c = conn_data(cn);
    if (cn == c->post) {
        c->post = NULL;
        if (!c->closing && !c->post_inflight && c->postq.len == 0)
            return; /* an idle keep-alive connection timed out: reopened on demand */
    } else {
        c->conn = NULL;
    }
    if (!c->closing) {
        c->closing = 1;
        if (c->why == NULL)
            c->why = reason == CONN_CLOSE_EOF         ? "server closed the connection"
                     : reason == CONN_CLOSE_OVERFLOW  ? "output over its limit"
                     : reason == CONN_CLOSE_INPUT_CAP ? "input over its limit"
                                                      : "connection error";
        if (c->state != ST_READY && c->b->first_error == NULL)
            c->b->first_error = c->why;
        if (c->conn != NULL)
            conn_close(c->conn, 0);
        if (c->post != NULL)
            conn_close(c->post, 0);
    }
    if (c->conn != NULL || c->post != NULL)
        return;
    c->state = ST_CLOSED;
    bench_on_closed(c->b, c, reason, c->why);
}

/* ------------------------------------------------------------------ accessors */

void client_close(bclient_t *c)
{
    if (!c->closing) {
        c->why = "closed by the bench";
        fail(c, NULL);
    }
}

void client_free(bclient_t *c)
{
    if (c == NULL)
        return;
    if (c->b->conf->transport == TR_WEBSOCKET)
        ws_reader_free(&c->rd);
    free(c->sid);
    free(c->cookie);
    buf_free(&c->postq);
    free(c);
}

int client_ready(const bclient_t *c)
{
    return c->state == ST_READY && !c->closing;
}

int client_was_ready(const bclient_t *c)
{
    return c->was_ready;
}

unsigned client_index(const bclient_t *c)
{
    return c->idx;
}

unsigned long long client_next_ack(bclient_t *c)
{
    return c->next_ack++;
}

client_slot_t *client_slot(bclient_t *c)
{
    return &c->slot;
}

long long client_t0_us(const bclient_t *c)
{
    return c->t0_us;
}
