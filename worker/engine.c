/*
 * engine.c - Engine.IO v4 server (engine.h).
 *
 * Objects:
 * - client_t: one TCP connection. Starts in HTTP mode (keep-alive, one
 *   request at a time, requests after a held GET wait in the input buffer),
 *   becomes a WebSocket after a successful upgrade.
 * - eio_session_t: one Engine.IO session, in the sid table. Holds at most one
 *   WebSocket client (the transport, or the probe during an upgrade), at most
 *   one held GET, the polling output buffer and one timer for heartbeats.
 *
 * Rules that decide error codes follow Node's check order (PROTOCOL.md §1.1).
 * The WebSocket close packet `1` closes the session at once (§7 q1).
 * Sessions are removed from the table when they close; their memory is
 * released at the end of the loop turn, so pointers held by the current
 * callback chain stay valid.
 */
#include "engine.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/rand.h"
#include "eio/eio_packet.h"
#include "eio/eio_payload.h"
#include "http/http_parse.h"
#include "http/http_query.h"
#include "web.h"
#include "net/conn.h"
#include "net/listener.h"
#include "ws/ws_close.h"
#include "ws/ws_frame.h"
#include "ws/ws_handshake.h"
#include "ws/ws_reader.h"

const char eio_reason_transport_error[] = "transport error";
const char eio_reason_transport_close[] = "transport close";
const char eio_reason_forced_close[] = "forced close";
const char eio_reason_ping_timeout[] = "ping timeout";
const char eio_reason_parse_error[] = "parse error";
const char eio_reason_server_shutdown[] = "server shutting down";
const char eio_reason_too_large[] = "transport error";
const char eio_reason_slow_consumer[] = "transport error";

#define MAX_HEADERS 64
#define ZOMBIE_MS 30000 /* how long a closed polling session waits for its next poll */
#define SID_MAX 40

enum { MODE_HTTP, MODE_HELD_GET, MODE_WS };

typedef struct ip_entry {
    hmap_node_t node;
    size_t count; /* open connections from this address */
    size_t refs;  /* connections + sessions pointing here (lifetime) */
    char addr[46];
} ip_entry_t;

typedef struct client {
    sioc_list_t link; /* in worker->clients */
    conn_t *conn;
    worker_t *w;
    eio_session_t *session; /* WS transport/probe, or the session of the held GET */
    ip_entry_t *ip;
    uint8_t mode;
    uint8_t keep_alive;
    uint8_t probe;      /* WS mode: this socket is an upgrade probe */
    uint8_t refused;    /* over a connection limit: the first request gets 503 / 429 */
    uint8_t cors;       /* 0 none, 1 any origin, 2 + i: configured origin i */
    long long since_ms; /* HTTP mode: start of the pending head, or of the idle period */
    ws_reader_t *ws;
} client_t;

struct eio_session {
    hmap_node_t node;
    worker_t *w;
    client_t *ws;      /* websocket transport, or the probe while upgrading */
    client_t *get;     /* held polling GET */
    uint8_t websocket; /* transport is websocket */
    uint8_t upgrading; /* probe answered, waiting for "5" */
    uint8_t closed;
    uint8_t awaiting_pong;
    uint8_t flush_queued;
    uint8_t zombie;              /* closed, kept to answer the next poll with a close packet */
    sioc_buf_t pending;          /* polling output: records joined by 0x1e */
    net_deferred_t turn;         /* the flush to a held GET; once closed, the free */
    sioc_list_t hb;              /* in worker->ping_fifo or worker->pong_fifo */
    long long hb_due_ms;         /* when the next ping is due, or the pong is late */
    struct event *upgrade_timer; /* only while a probe is open */
    void *data;
    ip_entry_t *ip;
    char sid[SID_MAX];
};

struct eio_msg {
    size_t refs;
    sioc_shared_t *ws;   /* all frames, built at creation */
    sioc_shared_t *poll; /* polling records, built on first use */
    char *text;
    size_t text_len;
    sioc_iov_t *att;
    size_t n_att;
};

static const eio_handler_t *handler_of(const worker_t *w);
static size_t http_on_data(conn_t *c, uint8_t *buf, size_t len);
static void http_on_close(conn_t *c, int reason);
static size_t ws_on_data(conn_t *c, uint8_t *buf, size_t len);
static void ws_on_close(conn_t *c, int reason);
static void session_flush(net_deferred_t *d);
static void client_free(client_t *cl);

static const conn_hooks_t http_hooks = {.on_data = http_on_data, .on_close = http_on_close};
/* Sent after what is queued when a websocket client's output passes --max-output-buffer:
 * a close frame 1008 (policy) "slow consumer", so the client can tell why it was dropped. */
static const uint8_t slow_consumer_close[] = {0x88, 15,  0x03, 0xf0, 's', 'l', 'o', 'w', ' ',
                                              'c',  'o', 'n',  's',  'u', 'm', 'e', 'r'};
static const conn_hooks_t ws_hooks = {.on_data = ws_on_data,
                                      .on_close = ws_on_close,
                                      .overflow_tail = slow_consumer_close,
                                      .overflow_tail_len = sizeof(slow_consumer_close)};

/* The handler lives in a small static table keyed by worker: a worker is one
 * per process, so this is read-only configuration after engine_start. */
static const eio_handler_t *the_handler;

static const eio_handler_t *handler_of(const worker_t *w)
{
    (void)w;
    return the_handler;
}

/* ------------------------------------------------------------------ */
/* HTTP responses                                                       */

/* The CORS decision is made per request from its Origin and remembered on the
 * connection, so that a response sent later (a held polling GET) carries it too. */
static void cors_decide(client_t *cl, sioc_iov_t origin)
{
    const worker_config_t *cf = cl->w->conf;
    cl->cors = 0;
    if (cf->num_cors_origins == 0)
        return;
    if (cf->cors_any) {
        cl->cors = 1;
        return;
    }
    for (size_t i = 0; i < cf->num_cors_origins; i++)
        if (origin.len > 0 && iov_eq_str(origin, cf->cors_origins[i]))
            cl->cors = (uint8_t)(2 + i);
}

static void add_cors(client_t *cl, sioc_buf_t *b)
{
    if (cl->cors == 0)
        return;
    if (cl->cors == 1) {
        (void)!buf_append_str(b, "Access-Control-Allow-Origin: *\r\n");
        return;
    }
    (void)!buf_append_str(b, "Access-Control-Allow-Origin: ");
    (void)!buf_append_str(b, cl->w->conf->cors_origins[cl->cors - 2]);
    (void)!buf_append_str(b, "\r\nAccess-Control-Allow-Credentials: true\r\nVary: Origin\r\n");
}

static const char *status_text(int status)
{
    static const struct {
        int code;
        const char *text;
    } texts[] = {{200, "OK"},
                 {304, "Not Modified"},
                 {204, "No Content"},
                 {400, "Bad Request"},
                 {403, "Forbidden"},
                 {404, "Not Found"},
                 {405, "Method Not Allowed"},
                 {408, "Request Timeout"},
                 {411, "Length Required"},
                 {413, "Payload Too Large"},
                 {426, "Upgrade Required"},
                 {429, "Too Many Requests"},
                 {431, "Request Header Fields Too Large"},
                 {500, "Internal Server Error"},
                 {503, "Service Unavailable"}};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if (texts[i].code == status)
            return texts[i].text;
    return "Unknown";
}

/* Writes a complete response. `close` ends the connection after it. */
static void respond(client_t *cl, int status, const char *ctype, const char *extra,
                    sioc_iov_t origin, const char *body, size_t body_len, int close)
{
    const char *text = status_text(status);
    if (status >= 400)
        cl->w->stats.http_errors++;
    char head[1024];
    sioc_buf_t b = {0};
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n", status, text);
    int r = buf_append(&b, head, (size_t)n);
    if (ctype != NULL) {
        n = snprintf(head, sizeof(head), "Content-Type: %s\r\n", ctype);
        r |= buf_append(&b, head, (size_t)n);
    }
    if (!cl->keep_alive)
        close = 1;
    n = snprintf(head, sizeof(head), "Content-Length: %zu\r\n%s", body_len,
                 close ? "Connection: close\r\n" : "");
    r |= buf_append(&b, head, (size_t)n);
    (void)origin;
    add_cors(cl, &b);
    if (extra != NULL)
        r |= buf_append_str(&b, extra);
    r |= buf_append(&b, "\r\n", 2);
    r |= buf_append(&b, body, body_len);
    if (r == 0)
        (void)!conn_write(cl->conn, b.base, b.len);
    buf_free(&b);
    if (close)
        conn_close(cl->conn, 1);
}

/* A response of web.c: a static body is queued by reference, not copied. */
static void respond_web(client_t *cl, web_response_t *r)
{
    if (r->status >= 400)
        cl->w->stats.http_errors++;
    int close = !cl->keep_alive;
    size_t len = r->status == 304 ? 0 : r->len;
    char head[1024];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n%s%s", r->status,
                     status_text(r->status), r->headers, close ? "Connection: close\r\n" : "");
    if (r->status != 304)
        n += snprintf(head + n, sizeof(head) - (size_t)n, "Content-Length: %zu\r\n", len);
    n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
    int err = conn_write(cl->conn, head, (size_t)n);
    if (err == 0 && len > 0 && !r->head_only)
        err = r->owned != NULL ? conn_write(cl->conn, r->body, len)
                               : conn_write_static(cl->conn, r->body, len);
    free(r->owned);
    if (close && err == 0)
        conn_close(cl->conn, 1);
}

static void respond_eio_error(client_t *cl, int code, sioc_iov_t origin)
{
    static const char *msgs[] = {
        "Transport unknown", "Session ID unknown", "Bad handshake method",
        "Bad request",       "Forbidden",          "Unsupported protocol version"};
    char body[96];
    int n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}", code, msgs[code]);
    respond(cl, code == 4 ? 403 : 400, "application/json", NULL, origin, body, (size_t)n, 0);
}

/* An upgrade request that fails gets a raw 400 and a closed socket (as Node does). */
static void respond_ws_error(client_t *cl, int status, const char *msg)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: text/html\r\n"
                     "%sContent-Length: %zu\r\n\r\n%s",
                     status, status_text(status),
                     status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "", strlen(msg), msg);
    cl->w->stats.http_errors++;
    (void)!conn_write(cl->conn, buf, (size_t)n);
    conn_close(cl->conn, 1);
}

/* ------------------------------------------------------------------ */
/* WebSocket output                                                     */

static int ws_send_frame(client_t *cl, int opcode, const char *prefix, size_t prefix_len,
                         const void *p, size_t len)
{
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

static void ws_send_close(client_t *cl, uint16_t code)
{
    uint8_t payload[WS_CLOSE_MAX_PAYLOAD];
    size_t n = ws_close_write(payload, code, SIOC_IOV_NULL);
    (void)ws_send_frame(cl, WS_FRAME_OP_CLOSE, NULL, 0, payload, n);
}

/* ------------------------------------------------------------------ */
/* Sessions                                                             */

static void session_reap(net_deferred_t *d)
{
    eio_session_t *s = container_of(d, eio_session_t, turn);
    buf_free(&s->pending);
    free(s);
}

static void ip_release(worker_t *w, ip_entry_t *ip, int conn)
{
    if (ip == NULL)
        return;
    if (conn)
        ip->count--;
    if (--ip->refs == 0) {
        hmap_del(&w->per_ip, &ip->node);
        free(ip);
    }
}

/* Answers the held GET of `s` with a one-packet body (a close "1" or a noop "6") and
 * lets its connection carry the next request. */
static void release_get(eio_session_t *s, const char *packet)
{
    client_t *g = s->get;
    s->get = NULL;
    g->session = NULL;
    g->mode = MODE_HTTP;
    g->since_ms = clock_ms();
    respond(g, 200, "text/plain; charset=UTF-8", NULL, SIOC_IOV_NULL, packet, 1, 0);
    conn_rescan(g->conn);
}

/* Removes a closed session from the table and frees it at turn end. */
static void session_finalize(eio_session_t *s)
{
    worker_t *w = s->w;
    if (s->zombie) {
        list_remove(&s->hb);
        w->zombies--;
        s->zombie = 0;
    }
    hmap_del(&w->sessions, &s->node);
    ip_release(w, s->ip, 0);
    s->ip = NULL;
    buf_free(&s->pending);
    net_loop_cancel(&s->turn);
    s->turn.cb = session_reap;
    net_loop_defer(w->loop, &s->turn);
}

void eio_session_close(eio_session_t *s, const char *reason)
{
    if (s->closed)
        return;
    worker_t *w = s->w;
    s->closed = 1;
    w->stats.sessions_open--;
    if (s->websocket)
        w->stats.ws_sessions_open--;
    else
        w->stats.polling_sessions_open--;
    list_remove(&s->hb);
    if (s->upgrade_timer != NULL) {
        event_free(s->upgrade_timer);
        s->upgrade_timer = NULL;
    }
    if (reason == eio_reason_ping_timeout)
        w->stats.drops_ping_timeout++;
    else if (reason == eio_reason_parse_error)
        w->stats.drops_parse_error++;
    const eio_handler_t *h = handler_of(w);
    if (h != NULL && h->on_close != NULL)
        h->on_close(s, reason);
    int told = 0;
    if (s->get != NULL) {
        release_get(s, "1");
        told = 1;
    }
    if (s->ws != NULL) {
        client_t *c = s->ws;
        s->ws = NULL;
        c->session = NULL;
        if (!conn_closing(c->conn)) {
            ws_send_close(c, reason == eio_reason_server_shutdown ? WS_CLOSE_GOING_AWAY
                                                                  : WS_CLOSE_NORMAL);
            conn_close(c->conn, 1);
        }
        told = 1;
    }
    if (!told && !s->websocket &&
        (reason == eio_reason_server_shutdown || reason == eio_reason_forced_close)) {
        /* A polling client between two polls: keep the sid for a while so that its
         * next GET gets the close packet instead of "Session ID unknown"
         * (PROTOCOL.md §1.4). */
        s->zombie = 1;
        w->zombies++;
        s->hb_due_ms = clock_ms() + ZOMBIE_MS;
        list_insert_tail(&w->zombie_fifo, &s->hb);
        return;
    }
    session_finalize(s);
}

/*
 * Heartbeats without a timer per session: every session waits either for its next
 * ping (ping_fifo) or for its pong (pong_fifo). All sessions share one interval and
 * one timeout, so appending at the tail keeps each list ordered by due time, and one
 * timer armed for the earliest head serves them all (O(1) per operation, and a
 * session carries a list node instead of a libevent timer).
 */
static void hb_arm_timer(worker_t *w, long long due)
{
    if (w->hb_armed && w->hb_armed_due <= due)
        return;
    long long left = due - clock_ms();
    if (left < 0)
        left = 0;
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)};
    event_add(w->hb_timer, &tv);
    w->hb_armed = 1;
    w->hb_armed_due = due;
}

static void arm_ping(eio_session_t *s)
{
    worker_t *w = s->w;
    long ms = s->awaiting_pong ? w->conf->ping_timeout : w->conf->ping_interval;
    list_remove(&s->hb);
    s->hb_due_ms = clock_ms() + ms;
    list_insert_tail(s->awaiting_pong ? &w->pong_fifo : &w->ping_fifo, &s->hb);
    hb_arm_timer(w, s->hb_due_ms);
}

static int session_queue(eio_session_t *s, int type, const char *p, size_t len);

static void on_hb_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *w = arg;
    w->hb_armed = 0;
    long long now = clock_ms();
    while (!list_empty(&w->pong_fifo)) {
        eio_session_t *s = container_of(w->pong_fifo.next, eio_session_t, hb);
        if (s->hb_due_ms > now)
            break;
        list_remove(&s->hb);
        eio_session_close(s, eio_reason_ping_timeout);
    }
    while (!list_empty(&w->ping_fifo)) {
        eio_session_t *s = container_of(w->ping_fifo.next, eio_session_t, hb);
        if (s->hb_due_ms > now)
            break;
        s->awaiting_pong = 1;
        arm_ping(s); /* moves it to the pong list before anything can close it */
        session_queue(s, EIO_PING, NULL, 0);
    }
    long long next = -1;
    if (!list_empty(&w->pong_fifo))
        next = container_of(w->pong_fifo.next, eio_session_t, hb)->hb_due_ms;
    if (!list_empty(&w->ping_fifo)) {
        long long d = container_of(w->ping_fifo.next, eio_session_t, hb)->hb_due_ms;
        if (next < 0 || d < next)
            next = d;
    }
    if (next >= 0) {
        w->hb_armed = 0;
        hb_arm_timer(w, next);
    }
}

static void answer_get(eio_session_t *s)
{
    client_t *g = s->get;
    s->get = NULL;
    g->session = NULL;
    g->mode = MODE_HTTP;
    g->since_ms = clock_ms();
    s->w->stats.eio_packets_out++;
    respond(g, 200, "text/plain; charset=UTF-8", NULL, SIOC_IOV_NULL, s->pending.base,
            s->pending.len, 0);
    /* Idle sessions hold no output storage. */
    buf_free(&s->pending);
    s->pending.limit = (size_t)s->w->conf->max_output_buffer;
    conn_rescan(g->conn);
}

static void session_flush(net_deferred_t *d)
{
    eio_session_t *s = container_of(d, eio_session_t, turn);
    if (!s->closed && s->get != NULL && s->pending.len > 0)
        answer_get(s);
}

/* Over --max-output-buffer: counted, logged, and the session ends. */
static void drop_slow_consumer(eio_session_t *s, const char *transport)
{
    s->w->stats.drops_slow_consumer++;
    static long long last;
    if (log_ratelimited(&last))
        log_warn("session %s: %s output above %ld bytes: client dropped (slow consumer)", s->sid,
                 transport, s->w->conf->max_output_buffer);
    eio_session_close(s, eio_reason_slow_consumer);
}

/* Polling output: one record more (`prefix` then `rec`), flushed to the held GET at turn end. */
static int poll_append(eio_session_t *s, const char *prefix, size_t prefix_len, const char *rec,
                       size_t len)
{
    int r = 0;
    if (s->pending.len > 0)
        r = buf_append_byte(&s->pending, EIO_PAYLOAD_SEP);
    if (r == 0 && prefix_len > 0)
        r = buf_append(&s->pending, prefix, prefix_len);
    if (r == 0)
        r = buf_append(&s->pending, rec, len);
    if (r != 0) {
        drop_slow_consumer(s, "polling");
        return SIOC_EMSGSIZE;
    }
    if (s->get != NULL)
        net_loop_defer(s->w->loop, &s->turn);
    return 0;
}

/* A websocket write over --max-output-buffer: the connection now flushes what it has and
 * the slow-consumer close frame (ws_hooks), and the session ends at once. */
static int ws_result(eio_session_t *s, int r)
{
    if (r == SIOC_EMSGSIZE && !s->closed && s->ws != NULL && !s->ws->probe)
        drop_slow_consumer(s, "websocket");
    return r;
}

static int session_queue(eio_session_t *s, int type, const char *p, size_t len)
{
    if (s->closed)
        return SIOC_ECANCELED;
    char digit = (char)('0' + type);
    s->w->stats.eio_packets_out++;
    if (s->websocket && s->ws != NULL)
        return ws_result(s, ws_send_frame(s->ws, WS_FRAME_OP_TEXT, &digit, 1, p, len));
    return poll_append(s, &digit, 1, p, len);
}

int eio_send_text(eio_session_t *s, const char *p, size_t len)
{
    return session_queue(s, EIO_MESSAGE, p, len);
}

int eio_send_binary(eio_session_t *s, const void *p, size_t len)
{
    if (s->closed)
        return SIOC_ECANCELED;
    s->w->stats.eio_packets_out++;
    if (s->websocket && s->ws != NULL)
        return ws_result(s, ws_send_frame(s->ws, WS_FRAME_OP_BINARY, NULL, 0, p, len));
    sioc_buf_t b = {0};
    int r = eio_payload_append_binary(&b, 1, p, len);
    if (r == 0)
        r = poll_append(s, NULL, 0, b.base, b.len);
    buf_free(&b);
    return r;
}

static sioc_shared_t *msg_poll_bytes(eio_msg_t *m)
{
    if (m->poll != NULL)
        return m->poll;
    sioc_buf_t b = {0};
    int r = buf_append_byte(&b, '4');
    r |= buf_append(&b, m->text, m->text_len);
    for (size_t i = 0; i < m->n_att && r == 0; i++)
        r = eio_payload_append_binary(&b, 0, (const uint8_t *)m->att[i].base, m->att[i].len);
    if (r == 0)
        m->poll = shared_copy(b.base, b.len);
    buf_free(&b);
    return m->poll;
}

int eio_send_msg(eio_session_t *s, eio_msg_t *m)
{
    if (s->closed)
        return SIOC_ECANCELED;
    s->w->stats.eio_packets_out += 1 + m->n_att;
    if (s->websocket && s->ws != NULL) {
        if (m->ws == NULL)
            return SIOC_ENOMEM;
        return ws_result(s, conn_write_shared(s->ws->conn, m->ws, 0, m->ws->len));
    }
    sioc_shared_t *pb = msg_poll_bytes(m);
    if (pb == NULL)
        return SIOC_ENOMEM;
    return poll_append(s, NULL, 0, pb->data, pb->len);
}

eio_msg_t *eio_msg_new(const char *text, size_t len, const sioc_iov_t *att, size_t n_att)
{
    eio_msg_t *m = try_malloc(sizeof(*m));
    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->refs = 1;
    size_t total = WS_FRAME_MAX_HEADER + 1 + len;
    for (size_t i = 0; i < n_att; i++)
        total += WS_FRAME_MAX_HEADER + att[i].len;
    m->ws = shared_new(total);
    m->text = try_malloc(len + 1);
    m->att = n_att ? try_malloc(n_att * sizeof(*m->att)) : NULL;
    if (m->ws == NULL || m->text == NULL || (n_att && m->att == NULL))
        goto fail;
    memcpy(m->text, text, len);
    m->text_len = len;
    size_t off = ws_frame_write_header((uint8_t *)m->ws->data, WS_FRAME_OP_TEXT, 1, len + 1, NULL);
    m->ws->data[off++] = '4';
    memcpy(m->ws->data + off, text, len);
    off += len;
    for (size_t i = 0; i < n_att; i++) {
        off += ws_frame_write_header((uint8_t *)m->ws->data + off, WS_FRAME_OP_BINARY, 1,
                                     att[i].len, NULL);
        /* Attachments point into the frame copy so that the message owns them. */
        memcpy(m->ws->data + off, att[i].base, att[i].len);
        m->att[i] = iov_make(m->ws->data + off, att[i].len);
        off += att[i].len;
    }
    m->ws->len = off;
    m->n_att = n_att;
    return m;

fail:
    shared_unref(m->ws);
    free(m->text);
    free(m->att);
    free(m);
    return NULL;
}

void eio_msg_ref(eio_msg_t *m)
{
    m->refs++;
}

void eio_msg_unref(eio_msg_t *m)
{
    if (m == NULL || --m->refs > 0)
        return;
    shared_unref(m->ws);
    shared_unref(m->poll);
    free(m->text);
    free(m->att);
    free(m);
}

void *eio_session_data(const eio_session_t *s)
{
    return s->data;
}

void eio_session_set_data(eio_session_t *s, void *data)
{
    s->data = data;
}

const char *eio_session_sid(const eio_session_t *s)
{
    return s->sid;
}

worker_t *eio_session_worker(const eio_session_t *s)
{
    return s->w;
}

const char *eio_session_addr(const eio_session_t *s)
{
    return s->ip != NULL ? s->ip->addr : "";
}

int eio_session_is_websocket(const eio_session_t *s)
{
    return s->websocket;
}

size_t engine_session_count(const worker_t *w)
{
    return w->sessions.count - w->zombies;
}

static eio_session_t *session_new(worker_t *w, client_t *cl, int websocket)
{
    eio_session_t *s = xcalloc(1, sizeof(*s));
    s->w = w;
    s->websocket = (uint8_t)websocket;
    s->pending.limit = (size_t)w->conf->max_output_buffer;
    s->turn.cb = session_flush;
    char rnd[21];
    rand_id(rnd, 20);
    snprintf(s->sid, sizeof(s->sid), "%s.%s", w->id, rnd);
    s->node.key = iov_make(s->sid, strlen(s->sid));
    hmap_put(&w->sessions, &s->node);
    s->ip = cl->ip;
    if (s->ip != NULL)
        s->ip->refs++; /* the session keeps the address entry alive */
    list_init(&s->hb);
    arm_ping(s);
    w->stats.sessions_total++;
    w->stats.sessions_open++;
    if (websocket)
        w->stats.ws_sessions_open++;
    else
        w->stats.polling_sessions_open++;
    return s;
}

static void open_packet(eio_session_t *s, sioc_buf_t *b)
{
    const worker_config_t *cf = s->w->conf;
    if (eio_open_write(b, s->sid, !s->websocket, (unsigned)cf->ping_interval,
                       (unsigned)cf->ping_timeout, (unsigned long)cf->max_http_buffer_size) != 0)
        b->len = 0;
}

/* ------------------------------------------------------------------ */
/* Packets from the client                                              */

static void deliver_message(eio_session_t *s, const char *p, size_t len, int binary)
{
    s->w->stats.eio_packets_in++;
    const eio_handler_t *h = handler_of(s->w);
    if (h != NULL && h->on_message != NULL)
        h->on_message(s, p, len, binary);
}

/* One text packet from the session's transport. */
static void handle_packet(eio_session_t *s, const eio_packet_t *pk)
{
    switch (pk->type) {
    case EIO_PONG:
        if (s->awaiting_pong || pk->data.len == 0) {
            s->awaiting_pong = 0;
            arm_ping(s);
        }
        return;
    case EIO_MESSAGE:
        deliver_message(s, pk->data.base, pk->data.len, 0);
        return;
    case EIO_CLOSE:
        eio_session_close(s, eio_reason_transport_close);
        return;
    default:
        /* open, ping (wrong heartbeat direction), upgrade outside a probe, noop */
        eio_session_close(s, eio_reason_parse_error);
        return;
    }
}

/* ------------------------------------------------------------------ */
/* Polling                                                              */

static void handle_poll_get(client_t *cl, eio_session_t *s, sioc_iov_t origin)
{
    if (s->get != NULL) {
        /* Duplicate GET: refused, and the session ends (the held GET gets "1"). */
        respond(cl, 400, "application/json", NULL, origin,
                "{\"code\":3,\"message\":\"Bad request\"}", 35, 0);
        eio_session_close(s, eio_reason_transport_error);
        return;
    }
    if (s->upgrading && s->pending.len == 0) {
        /* Release the client's poll loop so it can send "5" (PROTOCOL.md §1.7). */
        respond(cl, 200, "text/plain; charset=UTF-8", NULL, origin, "6", 1, 0);
        return;
    }
    s->get = cl;
    cl->session = s;
    cl->mode = MODE_HELD_GET;
    if (s->pending.len > 0)
        net_loop_defer(s->w->loop, &s->turn);
}

static void handle_poll_post(client_t *cl, eio_session_t *s, const http_request_t *req,
                             const char *body, size_t len, sioc_iov_t origin)
{
    if (req->content_type.len >= 24 &&
        iov_eq_ci(iov_make(req->content_type.base, 24), SIOC_LIT("application/octet-stream"))) {
        respond_eio_error(cl, 3, origin);
        eio_session_close(s, eio_reason_parse_error);
        return;
    }
    const char *reason = NULL;
    int n = eio_payload_count(body, len, &reason);
    if (n < 0) {
        respond_eio_error(cl, 3, origin);
        eio_session_close(s, eio_reason_parse_error);
        return;
    }
    /* Answer first: the handlers below may close the session. */
    respond(cl, 200, "text/html", NULL, origin, "ok", 2, 0);
    eio_payload_iter_t it;
    eio_payload_iter_init(&it, body, len);
    eio_payload_item_t item;
    uint8_t *bin = NULL;
    while (!s->closed && eio_payload_next(&it, &item, &reason) > 0) {
        if (item.binary) {
            bin = try_malloc(item.binary_len ? item.binary_len : 1);
            if (bin == NULL) {
                eio_session_close(s, eio_reason_transport_error);
                break;
            }
            int bl = eio_base64_decode(item.data, bin, item.binary_len);
            if (bl < 0) {
                free(bin);
                eio_session_close(s, eio_reason_parse_error);
                break;
            }
            deliver_message(s, (const char *)bin, (size_t)bl, 1);
            free(bin);
            continue;
        }
        eio_packet_t pk = {item.type, item.data};
        if (pk.type == EIO_CLOSE && s->get != NULL) {
            release_get(s, "6");
        }
        handle_packet(s, &pk);
    }
}

/* ------------------------------------------------------------------ */
/* WebSocket                                                            */

static void upgrade_abort(eio_session_t *s)
{
    if (s->upgrade_timer != NULL) {
        event_free(s->upgrade_timer);
        s->upgrade_timer = NULL;
    }
    s->upgrading = 0;
    if (s->ws != NULL && !s->websocket) {
        client_t *c = s->ws;
        s->ws = NULL;
        c->session = NULL;
        conn_close(c->conn, 1);
    }
}

static void on_upgrade_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    upgrade_abort(arg);
}

/* "5" on the probe: the session moves to the websocket; buffered packets follow. */
static void upgrade_complete(eio_session_t *s)
{
    if (s->upgrade_timer != NULL) {
        event_free(s->upgrade_timer);
        s->upgrade_timer = NULL;
    }
    s->upgrading = 0;
    s->websocket = 1;
    s->ws->probe = 0;
    s->w->stats.ws_upgrades++;
    s->w->stats.polling_sessions_open--;
    s->w->stats.ws_sessions_open++;
    if (s->get != NULL) {
        release_get(s, "6");
    }
    if (s->pending.len == 0)
        return;
    eio_payload_iter_t it;
    eio_payload_item_t item;
    const char *reason;
    eio_payload_iter_init(&it, s->pending.base, s->pending.len);
    while (eio_payload_next(&it, &item, &reason) > 0) {
        if (item.binary) {
            uint8_t *bin = try_malloc(item.binary_len ? item.binary_len : 1);
            if (bin == NULL)
                break;
            int bl = eio_base64_decode(item.data, bin, item.binary_len);
            if (bl >= 0)
                (void)ws_send_frame(s->ws, WS_FRAME_OP_BINARY, NULL, 0, bin, (size_t)bl);
            free(bin);
        } else {
            (void)ws_send_frame(s->ws, WS_FRAME_OP_TEXT, NULL, 0, item.record.base,
                                item.record.len);
        }
    }
    buf_free(&s->pending);
    s->pending.limit = (size_t)s->w->conf->max_output_buffer;
}

static void ws_text(client_t *cl, const char *p, size_t len)
{
    eio_session_t *s = cl->session;
    if (s == NULL)
        return;
    eio_packet_t pk;
    const char *reason;
    if (eio_packet_decode(p, len, &pk, &reason) < 0) {
        if (cl->probe)
            upgrade_abort(s);
        else
            eio_session_close(s, eio_reason_parse_error);
        return;
    }
    if (cl->probe) {
        if (pk.type == EIO_PING && iov_eq_str(pk.data, "probe") && !s->upgrading) {
            s->upgrading = 1;
            (void)ws_send_frame(cl, WS_FRAME_OP_TEXT, NULL, 0, "3probe", 6);
            if (s->get != NULL && s->pending.len == 0) {
                release_get(s, "6");
            }
        } else if (pk.type == EIO_UPGRADE && s->upgrading) {
            upgrade_complete(s);
        } else {
            upgrade_abort(s);
        }
        return;
    }
    handle_packet(s, &pk);
}

static size_t ws_on_data(conn_t *c, uint8_t *buf, size_t len)
{
    client_t *cl = conn_data(c);
    size_t used = 0;
    while (used < len && !conn_closing(c)) {
        ws_event_t ev;
        int n = ws_reader_next(cl->ws, buf + used, len - used, &ev);
        if (n == SIOC_INCOMPLETE)
            break;
        if (n < 0) {
            eio_session_t *s = cl->session;
            static long long last;
            if (log_ratelimited(&last))
                log_info("websocket closed: %s (%u)", cl->ws->reason, cl->ws->close_code);
            if (cl->ws->close_code == WS_CLOSE_TOO_BIG)
                cl->w->stats.drops_too_large++;
            ws_send_close(cl, cl->ws->close_code);
            conn_close(c, 1);
            if (s != NULL) {
                s->ws = NULL;
                cl->session = NULL;
                if (cl->probe)
                    upgrade_abort(s);
                else
                    eio_session_close(s, cl->ws->close_code == WS_CLOSE_TOO_BIG
                                             ? eio_reason_too_large
                                             : eio_reason_transport_error);
            }
            return len;
        }
        used += (size_t)n;
        switch (ev.type) {
        case WS_EVENT_TEXT:
            ws_text(cl, ev.payload.base, ev.payload.len);
            break;
        case WS_EVENT_BINARY:
            if (cl->session != NULL) {
                if (cl->probe)
                    upgrade_abort(cl->session);
                else
                    deliver_message(cl->session, ev.payload.base, ev.payload.len, 1);
            }
            break;
        case WS_EVENT_PING:
            (void)ws_send_frame(cl, WS_FRAME_OP_PONG, NULL, 0, ev.payload.base, ev.payload.len);
            break;
        case WS_EVENT_CLOSE: {
            eio_session_t *s = cl->session;
            uint16_t code = ev.close_code == WS_CLOSE_NO_STATUS ? 0 : ev.close_code;
            uint8_t payload[WS_CLOSE_MAX_PAYLOAD];
            size_t pn = ws_close_write(payload, code, SIOC_IOV_NULL);
            (void)ws_send_frame(cl, WS_FRAME_OP_CLOSE, NULL, 0, payload, pn);
            conn_close(c, 1);
            if (s != NULL) {
                s->ws = NULL;
                cl->session = NULL;
                if (cl->probe)
                    upgrade_abort(s);
                else
                    eio_session_close(s, eio_reason_transport_close);
            }
            return len;
        }
        default:
            break;
        }
    }
    return used;
}

static void ws_on_close(conn_t *c, int reason)
{
    client_t *cl = conn_data(c);
    eio_session_t *s = cl->session;
    if (s != NULL) {
        s->ws = NULL;
        cl->session = NULL;
        if (cl->probe) {
            upgrade_abort(s);
            if (reason == CONN_CLOSE_OVERFLOW)
                cl->w->stats.drops_slow_consumer++;
        } else if (reason == CONN_CLOSE_OVERFLOW) {
            drop_slow_consumer(s, "websocket");
        } else {
            eio_session_close(s, eio_reason_transport_close);
        }
    }
    client_free(cl);
}

static void handle_upgrade(client_t *cl, const http_request_t *req, sioc_iov_t sid)
{
    worker_t *w = cl->w;
    const char *reason = NULL;
    if (ws_handshake_validate(req->method, req->minor_version, req->upgrade_proto, req->upgrade,
                              req->sec_websocket_key, req->sec_websocket_version, &reason) != 0) {
        if (reason == ws_handshake_err_version)
            respond_ws_error(cl, 426, "Unsupported WebSocket version");
        else
            respond_ws_error(cl, 400, "Bad request");
        return;
    }
    eio_session_t *s = NULL;
    if (sid.len > 0) {
        hmap_node_t *n = hmap_get(&w->sessions, sid);
        if (n == NULL) {
            respond_ws_error(cl, 400, "Session ID unknown");
            return;
        }
        s = container_of(n, eio_session_t, node);
        if (s->zombie) {
            session_finalize(s);
            respond_ws_error(cl, 400, "Session ID unknown");
            return;
        }
    }
    char extra[128] = "";
    int new_session = s == NULL;
    if (new_session && w->draining) {
        respond_ws_error(cl, 503, "Server shutting down");
        return;
    }
    sioc_buf_t b = {0};
    if (new_session) {
        s = session_new(w, cl, 1);
        if (w->conf->cookie)
            snprintf(extra, sizeof(extra), "Set-Cookie: io=%s; Path=/; HttpOnly; SameSite=Lax\r\n",
                     s->sid);
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
    cl->mode = MODE_WS;
    list_remove(&cl->link);
    list_insert_tail(&w->ws_clients, &cl->link);
    cl->ws = xmalloc(sizeof(*cl->ws));
    ws_reader_init(cl->ws, WS_READER_SERVER, (size_t)w->conf->max_http_buffer_size);
    conn_set_hooks(cl->conn, &ws_hooks);
    conn_set_limits(cl->conn, (size_t)w->conf->max_http_buffer_size + 64,
                    (size_t)w->conf->max_output_buffer);
    if (!new_session && (s->websocket || s->ws != NULL)) {
        /* A second websocket for a session that has one: accepted, then closed. */
        ws_send_close(cl, WS_CLOSE_POLICY);
        conn_close(cl->conn, 1);
        return;
    }
    cl->session = s;
    s->ws = cl;
    if (new_session) {
        sioc_buf_t o = {0};
        open_packet(s, &o);
        (void)ws_send_frame(cl, WS_FRAME_OP_TEXT, NULL, 0, o.base, o.len);
        buf_free(&o);
        const eio_handler_t *h = handler_of(w);
        if (h != NULL && h->on_open != NULL)
            h->on_open(s);
        return;
    }
    cl->probe = 1;
    s->upgrade_timer = event_new(net_loop_base(w->loop), -1, 0, on_upgrade_timeout, s);
    long ms = w->conf->upgrade_timeout;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(s->upgrade_timer, &tv);
}

/* ------------------------------------------------------------------ */
/* HTTP requests                                                        */

static int path_matches(const worker_config_t *cf, sioc_iov_t path)
{
    size_t n = strlen(cf->path);
    if (path.len == n && memcmp(path.base, cf->path, n) == 0)
        return 1;
    /* "/socket.io" without the trailing slash, as Node accepts. */
    return path.len == n - 1 && memcmp(path.base, cf->path, n - 1) == 0;
}

static void handle_engine(client_t *cl, const http_request_t *req, const char *body,
                          size_t body_len)
{
    worker_t *w = cl->w;
    sioc_iov_t origin = req->origin;
    sioc_iov_t transport = SIOC_IOV_NULL, eio = SIOC_IOV_NULL, sid = SIOC_IOV_NULL;
    int has_transport = http_query_get(req->query, "transport", &transport);
    int has_eio = http_query_get(req->query, "EIO", &eio);
    int has_sid = http_query_get(req->query, "sid", &sid);
    if (!has_transport ||
        !(iov_eq_str(transport, "polling") || iov_eq_str(transport, "websocket"))) {
        if (req->upgrade)
            respond_ws_error(cl, 400, "Transport unknown");
        else
            respond_eio_error(cl, 0, origin);
        return;
    }
    int ws = iov_eq_str(transport, "websocket");
    char sidbuf[SID_MAX];
    if (has_sid) {
        int n = http_pct_decode(sid, sidbuf, sizeof(sidbuf), 0);
        if (n < 0 || (size_t)n >= sizeof(sidbuf)) {
            if (req->upgrade)
                respond_ws_error(cl, 400, "Session ID unknown");
            else
                respond_eio_error(cl, 1, origin);
            return;
        }
        sid = iov_make(sidbuf, (size_t)n);
    }
    if (req->upgrade && ws) {
        if (!has_sid && (!has_eio || !iov_eq_str(eio, "4"))) {
            respond_ws_error(cl, 400, "Unsupported protocol version");
            return;
        }
        handle_upgrade(cl, req, has_sid ? sid : SIOC_IOV_NULL);
        return;
    }
    if (has_sid) {
        hmap_node_t *n = hmap_get(&w->sessions, sid);
        if (n == NULL) {
            respond_eio_error(cl, 1, origin);
            return;
        }
        eio_session_t *s = container_of(n, eio_session_t, node);
        if (s->zombie) {
            if (iov_eq_str(req->method, "GET") && !ws)
                respond(cl, 200, "text/plain; charset=UTF-8", NULL, origin, "1", 1, 0);
            else
                respond_eio_error(cl, 1, origin);
            session_finalize(s);
            return;
        }
        if (ws || s->websocket) {
            respond_eio_error(cl, 3, origin);
            return;
        }
        if (iov_eq_str(req->method, "GET"))
            handle_poll_get(cl, s, origin);
        else if (iov_eq_str(req->method, "POST"))
            handle_poll_post(cl, s, req, body, body_len, origin);
        else
            respond_eio_error(cl, 3, origin);
        return;
    }
    if (!iov_eq_str(req->method, "GET")) {
        respond_eio_error(cl, 2, origin);
        return;
    }
    if (ws) {
        respond_eio_error(cl, 3, origin);
        return;
    }
    if (!has_eio || !iov_eq_str(eio, "4")) {
        respond_eio_error(cl, 5, origin);
        return;
    }
    if (w->draining) {
        respond(cl, 503, "application/json", "Retry-After: 1\r\n", origin,
                "{\"code\":4,\"message\":\"Server shutting down\"}", 44, 0);
        return;
    }
    eio_session_t *s = session_new(w, cl, 0);
    sioc_buf_t o = {0};
    open_packet(s, &o);
    char extra[128] = "";
    if (w->conf->cookie)
        snprintf(extra, sizeof(extra), "Set-Cookie: io=%s; Path=/; HttpOnly; SameSite=Lax\r\n",
                 s->sid);
    strncat(extra, "Cache-Control: no-store\r\n", sizeof(extra) - strlen(extra) - 1);
    respond(cl, 200, "text/plain; charset=UTF-8", extra, origin, o.base, o.len, 0);
    buf_free(&o);
    const eio_handler_t *h = handler_of(w);
    if (h != NULL && h->on_open != NULL)
        h->on_open(s);
}

static void handle_request(client_t *cl, const http_request_t *req, const char *body,
                           size_t body_len)
{
    worker_t *w = cl->w;
    w->stats.http_requests++;
    cl->keep_alive = (uint8_t)req->keep_alive;
    cors_decide(cl, req->origin);
    if (cl->refused) {
        /* Over a connection limit: a clear answer, then the connection ends. */
        int st = cl->refused == 1 ? 503 : 429;
        const char *msg = "{\"code\":4,\"message\":\"Too many connections\"}";
        if (req->upgrade)
            respond_ws_error(cl, st, "Too many connections");
        else
            respond(cl, st, "application/json", "Retry-After: 1\r\n", req->origin, msg, strlen(msg),
                    1);
        return;
    }
    if (path_matches(w->conf, req->path)) {
        if (iov_eq_str(req->method, "OPTIONS") && w->conf->num_cors_origins > 0) {
            char extra[512];
            int n = snprintf(extra, sizeof(extra),
                             "Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE\r\n");
            http_header_t *hh = req->headers;
            for (size_t i = 0; i < req->num_headers; i++) {
                if (iov_eq_ci(hh[i].name, SIOC_LIT("access-control-request-headers")) &&
                    hh[i].value.len < 256) {
                    n += snprintf(extra + n, sizeof(extra) - (size_t)n,
                                  "Access-Control-Allow-Headers: %.*s\r\n", (int)hh[i].value.len,
                                  hh[i].value.base);
                    break;
                }
            }
            respond(cl, 204, NULL, extra, req->origin, NULL, 0, 0);
            return;
        }
        handle_engine(cl, req, body, body_len);
        return;
    }
    admin_response_t ar;
    if (admin_serve(w, req->path, &ar)) {
        respond(cl, ar.status, ar.content_type, NULL, SIOC_IOV_NULL, ar.body.base, ar.body.len, 0);
        buf_free(&ar.body);
        return;
    }
    web_response_t wr;
    if (web_serve(w->web, req, clock_unix(), &wr)) {
        respond_web(cl, &wr);
        return;
    }
    respond(cl, 404, "text/plain", NULL, SIOC_IOV_NULL, "Not Found\n", 10, 0);
}

static size_t http_on_data(conn_t *c, uint8_t *buf, size_t len)
{
    client_t *cl = conn_data(c);
    size_t used = 0;
    while (used < len && cl->mode == MODE_HTTP && !conn_closing(c)) {
        http_header_t headers[MAX_HEADERS];
        http_request_t req;
        memset(&req, 0, sizeof(req));
        req.headers = headers;
        req.num_headers = MAX_HEADERS;
        http_limits_t lim = {16384, MAX_HEADERS};
        const char *reason = NULL;
        const char *p = (const char *)buf + used;
        int n = http_parse_request(p, len - used, &req, &lim, &reason);
        if (n == SIOC_INCOMPLETE)
            break;
        if (n < 0) {
            cl->keep_alive = 0;
            if (n == SIOC_EMSGSIZE)
                respond(cl, 431, "text/plain", NULL, SIOC_IOV_NULL,
                        "Request Header Fields Too Large\n", 32, 1);
            else
                respond(cl, 400, "text/plain", NULL, SIOC_IOV_NULL, "Bad Request\n", 12, 1);
            return len;
        }
        size_t body_len = req.content_length > 0 ? (size_t)req.content_length : 0;
        if (req.chunked) {
            cl->keep_alive = 0;
            respond(cl, 411, "text/plain", NULL, SIOC_IOV_NULL, "Length Required\n", 16, 1);
            return len;
        }
        if (req.content_length > cl->w->conf->max_http_buffer_size) {
            cl->w->stats.drops_too_large++;
            static long long last;
            if (log_ratelimited(&last))
                log_info("request body of %lld bytes over max-http-buffer-size: 413",
                         req.content_length);
            sioc_iov_t sid;
            char sidbuf[SID_MAX];
            if (http_query_get(req.query, "sid", &sid)) {
                int sn = http_pct_decode(sid, sidbuf, sizeof(sidbuf), 0);
                hmap_node_t *hn = sn > 0 && sn < SID_MAX
                                      ? hmap_get(&cl->w->sessions, iov_make(sidbuf, (size_t)sn))
                                      : NULL;
                if (hn != NULL)
                    eio_session_close(container_of(hn, eio_session_t, node), eio_reason_too_large);
            }
            cl->keep_alive = 0;
            respond(cl, 413, "text/plain", NULL, req.origin, "Payload Too Large\n", 18, 1);
            return len;
        }
        if (len - used < (size_t)n + body_len)
            break;
        cl->since_ms = clock_ms();
        handle_request(cl, &req, p + n, body_len);
        used += (size_t)n + body_len;
    }
    return used;
}

static void client_free(client_t *cl)
{
    worker_t *w = cl->w;
    list_remove(&cl->link);
    w->conns--;
    ip_release(w, cl->ip, 1);
    if (cl->ws != NULL) {
        ws_reader_free(cl->ws);
        free(cl->ws);
    }
    free(cl);
}

static void http_on_close(conn_t *c, int reason)
{
    (void)reason;
    client_t *cl = conn_data(c);
    if (cl->mode == MODE_HELD_GET && cl->session != NULL) {
        eio_session_t *s = cl->session;
        s->get = NULL;
        cl->session = NULL;
        /* A GET cancelled by the client ends the session (PROTOCOL.md §1.4). */
        eio_session_close(s, eio_reason_transport_close);
    }
    client_free(cl);
}

static void on_accept(net_listener_t *l, int fd, const struct sockaddr *peer, socklen_t plen,
                      void *data)
{
    (void)l;
    (void)plen;
    worker_t *w = data;
    char addr[46];
    net_addr_str(peer, addr, sizeof(addr));
    /* Far over the limit: not even an answer (the descriptor is the scarce resource). */
    if (w->conns >= (size_t)w->conf->max_connections + 1024) {
        w->stats.conn_refused_limit++;
        close(fd);
        return;
    }
    int refused = 0;
    if (w->conns >= (size_t)w->conf->max_connections)
        refused = 1;
    ip_entry_t *ip = NULL;
    hmap_node_t *n = hmap_get(&w->per_ip, iov_make(addr, strlen(addr)));
    if (n != NULL) {
        ip = container_of(n, ip_entry_t, node);
    } else {
        ip = xcalloc(1, sizeof(*ip));
        memcpy(ip->addr, addr, sizeof(ip->addr));
        ip->node.key = iov_make(ip->addr, strlen(ip->addr));
        hmap_put(&w->per_ip, &ip->node);
    }
    if (!refused && w->conf->max_connections_per_ip > 0 &&
        ip->count >= (size_t)w->conf->max_connections_per_ip)
        refused = 2;
    if (refused) {
        w->stats.conn_refused_limit++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("connection from %s refused: %s limit reached", addr,
                     refused == 1 ? "--max-connections" : "--max-connections-per-ip");
    }
    ip->count++;
    ip->refs++;
    client_t *cl = xcalloc(1, sizeof(*cl));
    cl->w = w;
    cl->ip = ip;
    cl->keep_alive = 1;
    cl->refused = (uint8_t)refused;
    cl->since_ms = clock_ms();
    list_insert_tail(&w->clients, &cl->link);
    w->conns++;
    cl->conn = conn_new(w->loop, fd, &http_hooks, cl);
    conn_set_limits(cl->conn, (size_t)w->conf->max_http_buffer_size + 32768,
                    (size_t)w->conf->max_output_buffer);
}

/* Once a second: HTTP connections that sit on a partial request head for longer than
 * --head-timeout (slowloris) or idle between requests for longer than
 * --keepalive-timeout are closed. Websocket clients live on another list and are never
 * scanned: heartbeats bound them. */

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *w = arg;
    long long now = clock_ms();
    while (!list_empty(&w->zombie_fifo)) {
        eio_session_t *z = container_of(w->zombie_fifo.next, eio_session_t, hb);
        if (z->hb_due_ms > now)
            break;
        session_finalize(z);
    }
    sioc_list_t *p, *tmp;
    list_foreach_safe(p, tmp, &w->clients)
    {
        client_t *cl = container_of(p, client_t, link);
        if (cl->mode != MODE_HTTP || conn_closing(cl->conn))
            continue;
        int partial = conn_buffered(cl->conn) > 0;
        long long limit = partial ? w->conf->head_timeout : w->conf->keep_alive_timeout;
        if (now - cl->since_ms < limit)
            continue;
        if (partial) {
            w->stats.http_errors++;
            static long long last;
            if (log_ratelimited(&last))
                log_info("request head not complete after %ld ms: 408 and close",
                         w->conf->head_timeout);
            cl->keep_alive = 0;
            respond(cl, 408, "text/plain", NULL, SIOC_IOV_NULL, "Request Timeout\n", 16, 1);
        } else {
            conn_close(cl->conn, 0);
        }
    }
}

int engine_start(worker_t *w, const eio_handler_t *h)
{
    the_handler = h;
    list_init(&w->clients);
    list_init(&w->ws_clients);
    list_init(&w->ping_fifo);
    list_init(&w->pong_fifo);
    list_init(&w->zombie_fifo);
    if ((w->web = web_new(w->conf)) == NULL)
        return SIOC_EINVAL;
    int err = 0;
    w->listener = net_listener_new(w->loop, w->conf->host, w->conf->port, 4096, on_accept, w, &err);
    if (w->listener == NULL) {
        web_free(w->web);
        w->web = NULL;
        return err;
    }
    w->hb_timer = event_new(net_loop_base(w->loop), -1, 0, on_hb_timer, w);
    w->sweep = event_new(net_loop_base(w->loop), -1, EV_PERSIST, on_sweep, w);
    struct timeval tv = {1, 0};
    event_add(w->sweep, &tv);
    return 0;
}

void engine_close_some(worker_t *w, size_t n)
{
    hmap_node_t *node;
    for (hmap_iter_t it = hmap_iter(&w->sessions); n > 0 && (node = hmap_next(&it)) != NULL;) {
        eio_session_t *s = container_of(node, eio_session_t, node);
        if (s->closed)
            continue;
        eio_session_close(s, eio_reason_server_shutdown);
        n--;
    }
}

void engine_close_all(worker_t *w)
{
    hmap_node_t *n;
    for (hmap_iter_t it = hmap_iter(&w->sessions); (n = hmap_next(&it)) != NULL;)
        eio_session_close(container_of(n, eio_session_t, node), eio_reason_server_shutdown);
}

void engine_shutdown(worker_t *w)
{
    engine_close_all(w);
    while (!list_empty(&w->zombie_fifo))
        session_finalize(container_of(w->zombie_fifo.next, eio_session_t, hb));
    sioc_list_t *p;
    list_foreach(p, &w->clients) conn_close(container_of(p, client_t, link)->conn, 0);
    list_foreach(p, &w->ws_clients) conn_close(container_of(p, client_t, link)->conn, 0);
    if (w->sweep != NULL) {
        event_free(w->sweep);
        w->sweep = NULL;
    }
    if (w->hb_timer != NULL) {
        event_free(w->hb_timer);
        w->hb_timer = NULL;
    }
    net_listener_free(w->listener);
    w->listener = NULL;
    web_free(w->web);
    w->web = NULL;
}
