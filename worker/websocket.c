/*
 * websocket.c - the WebSocket transport (websocket.h).
 *
 * Frames are read by ws_reader (fragments joined, control frames answered here) and
 * text frames decoded as Engine.IO packets for the session, or for its upgrade probe.
 * A protocol error or a close frame from the client answers with a close frame and ends
 * the session ("transport error" / "transport close"); a probe that fails only aborts
 * the upgrade. Output over --max-output-buffer flushes what is queued plus a close 1008
 * "slow consumer" (the conn's overflow tail) and ends the session.
 */
#include "websocket.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"
#include "eio/eio_packet.h"
#include "net/conn.h"
#include "base/utf8.h"
#include "ws/ws_close.h"
#include "ws/ws_deflate.h"
#include "ws/ws_frame.h"
#include "ws/ws_handshake.h"
#include "ws/ws_reader.h"

static size_t ws_on_data(conn_t *c, uint8_t *buf, size_t len);
static void ws_on_close(conn_t *c, int reason);

/* Sent after what is queued when a websocket client's output passes --max-output-buffer:
 * a close frame 1008 (policy) "slow consumer", so the client can tell why it was dropped. */
static const uint8_t slow_consumer_close[] = {0x88, 15,  0x03, 0xf0, 's', 'l', 'o', 'w', ' ',
                                              'c',  'o', 'n',  's',  'u', 'm', 'e', 'r'};
static const conn_hooks_t ws_hooks = {.on_data = ws_on_data,
                                      .on_close = ws_on_close,
                                      .overflow_tail = slow_consumer_close,
                                      .overflow_tail_len = sizeof(slow_consumer_close)};

/* A data frame compressed with permessage-deflate (RSV1), or 1 when it goes out plain. */
static int send_deflated(client_t *cl, int opcode, const char *prefix, size_t prefix_len,
                         const void *p, size_t len)
{
    struct engine *e = cl->e;
    sioc_buf_t *z = &e->zscratch;
    z->len = 0;
    if (ws_deflate_compress(e->deflate, cl->ws_bits, prefix, prefix_len, p, len, z) != 0)
        return 1;
    eio_session_stats_t *st = &e->stats->eio;
    st->ws_deflated++;
    st->ws_deflated_in += prefix_len + len;
    st->ws_deflated_out += z->len;
    uint8_t hdr[WS_FRAME_MAX_HEADER];
    size_t h = ws_frame_write_header(hdr, opcode, 1, z->len, NULL);
    hdr[0] |= 0x40; /* RSV1: "Per-Message Compressed" (RFC 7692 §6) */
    int r = conn_reserve(cl->conn, h + z->len);
    if (r == 0)
        r = conn_write(cl->conn, hdr, h);
    if (r == 0)
        r = conn_write(cl->conn, z->base, z->len);
    /* One big message should not pin its storage. */
    if (z->cap > 65536)
        buf_free(z);
    return r;
}

static int send_frame(client_t *cl, int opcode, const char *prefix, size_t prefix_len,
                      const void *p, size_t len)
{
    if (cl->ws_bits != 0 && !WS_FRAME_IS_CONTROL(opcode) &&
        prefix_len + len >= (size_t)cl->e->conf->per_message_deflate_threshold) {
        int r = send_deflated(cl, opcode, prefix, prefix_len, p, len);
        if (r != 1)
            return r;
    }
    uint8_t hdr[WS_FRAME_MAX_HEADER];
    size_t h = ws_frame_write_header(hdr, opcode, 1, prefix_len + len, NULL);
    int r = conn_reserve(cl->conn, h + prefix_len + len); /* whole frames only */
    if (r == 0)
        r = conn_write(cl->conn, hdr, h);
    if (r == 0 && prefix_len)
        r = conn_write(cl->conn, prefix, prefix_len);
    if (r == 0 && len)
        r = conn_write(cl->conn, p, len);
    return r;
}

static void send_close(client_t *cl, uint16_t code)
{
    uint8_t payload[WS_CLOSE_MAX_PAYLOAD];
    size_t n = ws_close_write(payload, code, SIOC_IOV_NULL);
    (void)send_frame(cl, WS_FRAME_OP_CLOSE, NULL, 0, payload, n);
}

int websocket_frame(void *ws, int opcode, const char *prefix, size_t prefix_len, const void *p,
                    size_t len, void *data)
{
    (void)data;
    return send_frame(ws, opcode, prefix, prefix_len, p, len);
}

int websocket_writable(void *ws, void *data)
{
    (void)data;
    client_t *cl = ws;
    return !conn_closing(cl->conn) && conn_pending(cl->conn) == 0;
}

int websocket_shared(void *ws, sioc_shared_t *sh, void *data)
{
    (void)data;
    client_t *cl = ws;
    return conn_write_shared(cl->conn, sh, 0, sh->len);
}

void websocket_end(void *ws, uint16_t code, void *data)
{
    (void)data;
    client_t *cl = ws;
    cl->session = NULL;
    if (code == 0) {
        conn_close(cl->conn, 1);
        return;
    }
    if (!conn_closing(cl->conn)) {
        send_close(cl, code);
        conn_close(cl->conn, 1);
    }
}

/* The connection is done with its session: the probe's failure aborts the upgrade, the
 * transport's ends the session with `reason`. */
static void leave_session(client_t *cl, const char *reason)
{
    eio_session_t *s = cl->session;
    if (s == NULL)
        return;
    int probe = eio_session_ws_is_probe(s);
    eio_session_ws_detach(s);
    cl->session = NULL;
    if (probe)
        eio_session_upgrade_abort(s);
    else
        eio_session_close(s, reason);
}

static void on_text(client_t *cl, const char *p, size_t len)
{
    eio_session_t *s = cl->session;
    if (s == NULL)
        return;
    int probe = eio_session_ws_is_probe(s);
    eio_packet_t pk;
    const char *reason;
    if (eio_packet_decode(p, len, &pk, &reason) < 0) {
        if (probe)
            eio_session_upgrade_abort(s);
        else
            eio_session_close(s, eio_reason_parse_error);
        return;
    }
    if (probe)
        eio_session_probe_packet(s, &pk);
    else
        eio_session_packet(s, &pk);
}

/* Inflates a compressed message in place of `ev`'s payload: 0, or the close code. */
static uint16_t inflate_event(client_t *cl, ws_event_t *ev)
{
    sioc_iov_t out;
    int r = ws_deflate_inflate(cl->e->deflate, ev->payload.base, ev->payload.len,
                               (size_t)cl->e->conf->max_http_buffer_size, &out);
    if (r == SIOC_EMSGSIZE)
        return WS_CLOSE_TOO_BIG;
    if (r == SIOC_ENOMEM)
        return WS_CLOSE_INTERNAL_ERROR;
    if (r != 0)
        return WS_CLOSE_INVALID_DATA;
    if (ev->type == WS_EVENT_TEXT && utf8_validate((const uint8_t *)out.base, out.len, NULL) != 0)
        return WS_CLOSE_INVALID_DATA;
    cl->e->stats->eio.ws_inflated++;
    ev->payload = out;
    return 0;
}

/* The frame reader for the bytes of `cl`: its own when it is between the frames of a
 * message, else the engine's, set up for it (a reader holds nothing between messages, and
 * one per idle connection would be most of its memory). While lent out, for instance to a
 * connection read from inside another's callback, the next one gets a reader of its own. */
static ws_reader_t *reader_take(client_t *cl)
{
    struct engine *e = cl->e;
    ws_reader_t *r = cl->ws;
    if (r == NULL && !e->reader_busy) {
        r = &e->reader;
        e->reader_busy = 1;
    } else if (r == NULL) {
        r = cl->ws = xmalloc(sizeof(*r));
    } else {
        return r;
    }
    ws_reader_init(r, WS_READER_SERVER, (size_t)e->conf->max_http_buffer_size);
    if (cl->ws_bits != 0) /* permessage-deflate negotiated */
        ws_reader_allow_compressed(r);
    return r;
}

/* After a read: a reader left in the middle of a message stays with the connection. */
static void reader_put(client_t *cl, ws_reader_t *r)
{
    struct engine *e = cl->e;
    int idle = ws_reader_idle(r);
    if (r == &e->reader) {
        e->reader_busy = 0;
        if (idle) {
            ws_reader_free(r);
        } else {
            cl->ws = xmalloc(sizeof(*cl->ws));
            *cl->ws = *r; /* takes over its storage: the engine's reader keeps none of it */
            ws_reader_init(r, WS_READER_SERVER, (size_t)e->conf->max_http_buffer_size);
        }
    } else if (idle) {
        ws_reader_free(r);
        free(r);
        cl->ws = NULL;
    }
}

static size_t ws_read(client_t *cl, ws_reader_t *r, uint8_t *buf, size_t len)
{
    conn_t *c = cl->conn;
    size_t used = 0;
    while (used < len && !conn_closing(c)) {
        ws_event_t ev;
        int n = ws_reader_next(r, buf + used, len - used, &ev);
        if (n == SIOC_INCOMPLETE)
            break;
        if (n < 0) {
            static long long last;
            if (log_ratelimited(&last))
                log_info("websocket closed: %s (%u)", r->reason, r->close_code);
            if (r->close_code == WS_CLOSE_TOO_BIG)
                cl->e->stats->drops_too_large++;
            send_close(cl, r->close_code);
            conn_close(c, 1);
            leave_session(cl, r->close_code == WS_CLOSE_TOO_BIG ? eio_reason_too_large
                                                                : eio_reason_transport_error);
            return len;
        }
        used += (size_t)n;
        if (ev.compressed) {
            uint16_t code = inflate_event(cl, &ev);
            if (code != 0) {
                static long long last;
                if (log_ratelimited(&last))
                    log_info("websocket closed: compressed message %s (%u)",
                             code == WS_CLOSE_TOO_BIG ? "too big" : "invalid", code);
                if (code == WS_CLOSE_TOO_BIG)
                    cl->e->stats->drops_too_large++;
                send_close(cl, code);
                conn_close(c, 1);
                leave_session(cl, code == WS_CLOSE_TOO_BIG ? eio_reason_too_large
                                                           : eio_reason_transport_error);
                return len;
            }
        }
        switch (ev.type) {
        case WS_EVENT_TEXT:
            on_text(cl, ev.payload.base, ev.payload.len);
            break;
        case WS_EVENT_BINARY:
            if (cl->session != NULL) {
                if (eio_session_ws_is_probe(cl->session))
                    eio_session_upgrade_abort(cl->session);
                else
                    eio_session_deliver(cl->session, ev.payload.base, ev.payload.len, 1);
            }
            break;
        case WS_EVENT_PING:
            (void)send_frame(cl, WS_FRAME_OP_PONG, NULL, 0, ev.payload.base, ev.payload.len);
            break;
        case WS_EVENT_CLOSE: {
            uint16_t code = ev.close_code == WS_CLOSE_NO_STATUS ? 0 : ev.close_code;
            uint8_t payload[WS_CLOSE_MAX_PAYLOAD];
            size_t pn = ws_close_write(payload, code, SIOC_IOV_NULL);
            (void)send_frame(cl, WS_FRAME_OP_CLOSE, NULL, 0, payload, pn);
            conn_close(c, 1);
            leave_session(cl, eio_reason_transport_close);
            return len;
        }
        default:
            break;
        }
    }
    return used;
}

static size_t ws_on_data(conn_t *c, uint8_t *buf, size_t len)
{
    client_t *cl = conn_data(c);
    ws_reader_t *r = reader_take(cl);
    size_t used = ws_read(cl, r, buf, len);
    reader_put(cl, r);
    return used;
}

static void ws_on_close(conn_t *c, int reason)
{
    client_t *cl = conn_data(c);
    eio_session_t *s = cl->session;
    if (s != NULL) {
        int probe = eio_session_ws_is_probe(s);
        eio_session_ws_detach(s);
        cl->session = NULL;
        if (probe) {
            eio_session_upgrade_abort(s);
            if (reason == CONN_CLOSE_OVERFLOW)
                cl->e->stats->eio.drops_slow_consumer++;
        } else if (reason == CONN_CLOSE_OVERFLOW) {
            eio_session_slow_consumer(s, "websocket");
        } else {
            eio_session_close(s, eio_reason_transport_close);
        }
    }
    client_free(cl);
}

/* The permessage-deflate offer of the request's Sec-WebSocket-Extensions fields, if any
 * is acceptable (ws_deflate_negotiate). */
static int offers_deflate(const http_request_t *req, ws_deflate_params_t *p)
{
    sioc_iov_t values[8];
    size_t n = 0, pos = 0;
    int i;
    while (n < 8 && (i = http_header_find(req->headers, req->num_headers,
                                          SIOC_LIT("sec-websocket-extensions"), &pos)) >= 0)
        values[n++] = req->headers[i].value;
    return ws_deflate_negotiate(values, n, p);
}

void websocket_upgrade(client_t *cl, const http_request_t *req, sioc_iov_t sid)
{
    struct engine *e = cl->e;
    const char *reason = NULL;
    if (ws_handshake_validate(req->method, req->minor_version, req->upgrade_proto, req->upgrade,
                              req->sec_websocket_key, req->sec_websocket_version, &reason) != 0) {
        if (reason == ws_handshake_err_version)
            client_respond_ws_error(cl, 426, "Unsupported WebSocket version");
        else
            client_respond_ws_error(cl, 400, "Bad request");
        return;
    }
    eio_session_t *s = NULL;
    if (sid.len > 0) {
        s = eio_session_find(e->sessions, sid);
        if (s == NULL) {
            client_respond_ws_error(cl, 400, "Session ID unknown");
            return;
        }
        if (eio_session_is_zombie(s)) {
            eio_session_forget(s);
            client_respond_ws_error(cl, 400, "Session ID unknown");
            return;
        }
    }
    char extra[320] = "";
    int new_session = s == NULL;
    if (new_session && e->w->draining) {
        client_respond_ws_error(cl, 503, "Server shutting down");
        return;
    }
    if (new_session && !eio_session_table_admit(e->sessions, addrcount_addr(cl->ip))) {
        client_respond_ws_error(cl, 429, "Too many pending sessions");
        return;
    }
    sioc_buf_t b = {0};
    if (new_session) {
        s = client_session_new(cl, 1);
        if (e->conf->cookie)
            snprintf(extra, sizeof(extra), "Set-Cookie: io=%s; Path=/; HttpOnly; SameSite=Lax\r\n",
                     eio_session_sid(s));
    }
    ws_deflate_params_t pmd;
    int deflate = e->deflate != NULL && offers_deflate(req, &pmd);
    if (deflate) {
        sioc_buf_t x = {0};
        if (ws_deflate_response(&pmd, &x) == 0 && x.len < sizeof(extra) - strlen(extra))
            strncat(extra, x.base, x.len);
        else
            deflate = 0;
        buf_free(&x);
    }
    if (ws_handshake_write_response(&b, req->sec_websocket_key, iov_make(extra, strlen(extra))) !=
            0 ||
        conn_write(cl->conn, b.base, b.len) != 0) {
        buf_free(&b);
        conn_close(cl->conn, 0);
        if (new_session)
            eio_session_close(s, eio_reason_transport_error);
        return;
    }
    buf_free(&b);
    cl->mode = CLIENT_WS;
    list_remove(&cl->link);
    list_insert_tail(&e->ws_clients, &cl->link);
    cl->ws = NULL; /* the engine's reader serves it until a message arrives in pieces */
    if (deflate)
        cl->ws_bits = pmd.server_max_window_bits;
    conn_set_hooks(cl->conn, &ws_hooks);
    conn_set_limits(cl->conn, (size_t)e->conf->max_http_buffer_size + 64,
                    (size_t)e->conf->max_output_buffer);
    if (!new_session && !eio_session_can_upgrade(s)) {
        /* A second websocket for a session that has one: accepted, then closed. */
        send_close(cl, WS_CLOSE_POLICY);
        conn_close(cl->conn, 1);
        return;
    }
    cl->session = s;
    eio_session_ws_attach(s, cl); /* a probe, unless the session is new */
    eio_session_ws_set_deflate(s, cl->ws_bits);
    if (new_session) {
        sioc_buf_t o = {0};
        (void)eio_session_open_packet(s, &o);
        (void)send_frame(cl, WS_FRAME_OP_TEXT, NULL, 0, o.base, o.len);
        buf_free(&o);
        eio_session_opened(s);
    }
    /* Frames the client sent right behind its head are already buffered: no read would
     * bring them to the frame reader (a proxy's hand-off delivers them this way). */
    conn_rescan(cl->conn);
}
