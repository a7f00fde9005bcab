/*
 * eio_session.c - Engine.IO v4 session state machine (eio_session.h).
 *
 * A session holds at most one websocket (the transport, or the probe during an upgrade:
 * a websocket attached to a session still on polling is a probe), at most one held GET,
 * the polling output buffer and one list node for its heartbeat. The polling side (held
 * GET, output buffer, upgrade timeout) is allocated at the end of sessions opened by a
 * polling handshake only: a session opened on a websocket never polls, and an idle one is
 * the bulk of a worker's memory. The handler's per-session state (the Socket.IO client)
 * follows in the same allocation.
 *
 * Heartbeats without a timer per session: every session waits either for its next ping
 * (ping_fifo) or for its pong (pong_fifo). All sessions share one interval and one
 * timeout, so appending at the tail keeps each list ordered by due time, and one timer
 * armed for the earliest head serves them all (O(1) per operation, and a session carries
 * a list node instead of a timer). Upgrade probes wait in upgrade_fifo the same way
 * (one upgrade timeout for all), and closed polling sessions in zombie_fifo (swept).
 *
 * The WebSocket close packet `1` closes the session at once (§7 q1). Loop thread only.
 */
#include "eio_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/base64.h"
#include "base/err.h"
#include "base/hmap.h"
#include "base/list.h"
#include "base/log.h"
#include "base/rand.h"
#include "eio/eio_payload.h"
#include "sio/sio_msgpack.h"
#include "sio/sio_packet.h"
#include "ws/ws_close.h"
#include "ws/ws_deflate.h"
#include "ws/ws_frame.h"

const char eio_reason_transport_error[] = "transport error";
const char eio_reason_transport_close[] = "transport close";
const char eio_reason_forced_close[] = "forced close";
const char eio_reason_ping_timeout[] = "ping timeout";
const char eio_reason_parse_error[] = "parse error";
const char eio_reason_server_shutdown[] = "server shutting down";
const char eio_reason_too_large[] = "transport error";
const char eio_reason_slow_consumer[] = "transport error";

#define ZOMBIE_MS 30000 /* how long a closed polling session waits for its next poll */

struct eio_session_table {
    const eio_session_config_t *cf;
    const eio_session_hooks_t *hooks;
    void *data;
    const eio_handler_t *h;
    eio_session_stats_t *stats;
    hmap_t sessions;          /* by sid, zombies included */
    sioc_list_t ping_fifo;    /* sessions waiting for their next ping, by due time */
    sioc_list_t pong_fifo;    /* sessions waiting for a pong, by due time */
    sioc_list_t upgrade_fifo; /* probes waiting for "5", by due time */
    sioc_list_t zombie_fifo;  /* closed polling sessions kept for their next poll */
    size_t zombies;
    long long armed_due;
    int armed;
    /* msgpack parser: the packet text of session mp_owner waiting for its attachments
     * (mp_need more), and the attachments so far, each as an 8-byte length then its bytes.
     * sio_emit hands a packet and its attachments over in one call, so one session at a
     * time has a packet in the making and the sessions share this. */
    eio_session_t *mp_owner;
    sioc_buf_t mp_text, mp_att;
    size_t mp_need, mp_have;
};

/* The polling side of a session opened by a polling handshake. */
typedef struct eio_poll {
    void *get;           /* held polling GET */
    sioc_buf_t pending;  /* polling output: records joined by 0x1e */
    sioc_list_t up;      /* in upgrade_fifo while a probe is attached */
    long long up_due_ms; /* the upgrade times out */
} eio_poll_t;

struct eio_session {
    hmap_node_t node;
    eio_session_table_t *t;
    void *ws;          /* websocket transport, or the probe while upgrading */
    uint8_t polled;    /* opened by a polling handshake: poll[0] exists */
    uint8_t websocket; /* transport is websocket */
    uint8_t upgrading; /* probe answered, waiting for "5" */
    uint8_t closed;
    uint8_t awaiting_pong;
    uint8_t zombie;           /* closed, kept to answer the next poll with a close packet */
    uint8_t ws_bits;          /* permessage-deflate window of the websocket, 0 = off */
    uint8_t pending_compress; /* some record of poll->pending may be compressed */
    net_deferred_t turn;      /* the flush to a held GET; once closed, the free */
    sioc_list_t hb;           /* in ping_fifo, pong_fifo or (closed) zombie_fifo */
    long long hb_due_ms;      /* next ping due, pong late, or zombie forgotten */
    void *peer;
    const char *addr;
    char sid[EIO_SESSION_SID_MAX];
    eio_poll_t poll[]; /* one when `polled`, none otherwise */
};

/* The polling side, or NULL for a session opened on a websocket. */
static eio_poll_t *poll_of(eio_session_t *s)
{
    return s->polled ? s->poll : NULL;
}

/* The handler's data (eio_handler_t.data_size) sits in front of the session, in the same
 * allocation: [data][session][polling side], so that the session finds it at a fixed
 * offset. Rounded to keep the session aligned. */
static size_t data_room(const eio_session_table_t *t)
{
    size_t n = t->h != NULL ? t->h->data_size : 0;
    return (n + 15) & ~(size_t)15;
}

static eio_session_t *session_of_up(sioc_list_t *up)
{
    eio_poll_t *p = container_of(up, eio_poll_t, up);
    return container_of(p, eio_session_t, poll);
}

struct eio_msg {
    size_t refs;
    uint8_t compress;      /* Node's packet option compress: true unless a sender said false */
    sioc_shared_t *ws;     /* all frames, built at creation */
    sioc_shared_t *poll;   /* polling records, built on first use */
    sioc_shared_t *wsz;    /* frames for permessage-deflate, built on first use */
    sioc_shared_t *mpws;   /* msgpack parser: the packet as one binary frame, first use */
    sioc_shared_t *mppoll; /* msgpack parser: the packet as a polling record, first use */
    uint8_t wsz_bits;      /* the window wsz was made with */
    char *text;
    size_t text_len;
    sioc_iov_t *att;
    size_t n_att;
};

static long long now_ms(const eio_session_table_t *t)
{
    return t->hooks->now(t->data);
}

/* ------------------------------------------------------------------ */
/* Timers                                                               */

static void arm_timer(eio_session_table_t *t, long long due)
{
    if (t->armed && t->armed_due <= due)
        return;
    long long left = due - now_ms(t);
    if (left < 0)
        left = 0;
    t->hooks->arm(left, t->data);
    t->armed = 1;
    t->armed_due = due;
}

static void arm_ping(eio_session_t *s)
{
    eio_session_table_t *t = s->t;
    long ms = s->awaiting_pong ? t->cf->ping_timeout : t->cf->ping_interval;
    list_remove(&s->hb);
    s->hb_due_ms = now_ms(t) + ms;
    list_insert_tail(s->awaiting_pong ? &t->pong_fifo : &t->ping_fifo, &s->hb);
    arm_timer(t, s->hb_due_ms);
}

static void upgrade_timer_stop(eio_session_t *s)
{
    eio_poll_t *p = poll_of(s);
    if (p != NULL && list_linked(&p->up))
        list_remove(&p->up);
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                             */

/* Drops the packet in the making; `owner` (or NULL) starts the next one. */
static void mp_reset(eio_session_table_t *t, eio_session_t *owner)
{
    buf_free(&t->mp_text);
    buf_free(&t->mp_att);
    t->mp_need = t->mp_have = 0;
    t->mp_owner = owner;
}

static void session_reap(net_deferred_t *d)
{
    eio_session_t *s = container_of(d, eio_session_t, turn);
    if (s->polled)
        buf_free(&s->poll->pending);
    if (s->t->mp_owner == s)
        mp_reset(s->t, NULL);
    free((char *)s - data_room(s->t));
}

/* Removes a closed session from the table and frees it at turn end. */
static void session_finalize(eio_session_t *s)
{
    eio_session_table_t *t = s->t;
    if (s->zombie) {
        list_remove(&s->hb);
        t->zombies--;
        s->zombie = 0;
    }
    hmap_del(&t->sessions, &s->node);
    if (s->peer != NULL)
        t->hooks->peer_release(s->peer, t->data);
    s->peer = NULL;
    s->addr = NULL;
    if (s->polled)
        buf_free(&s->poll->pending);
    t->hooks->cancel(&s->turn, t->data);
    s->turn.cb = session_reap;
    t->hooks->defer(&s->turn, t->data);
}

/* Answers the held GET of `s` with a one-packet body (a close "1" or a noop "6"). */
static void release_get(eio_session_t *s, const char *packet)
{
    void *g = s->poll->get;
    s->poll->get = NULL;
    s->t->hooks->get_answer(g, packet, 1, 1, s->t->data);
}

void eio_session_close(eio_session_t *s, const char *reason)
{
    if (s->closed)
        return;
    eio_session_table_t *t = s->t;
    s->closed = 1;
    t->stats->sessions_open--;
    if (s->websocket)
        t->stats->ws_sessions_open--;
    else
        t->stats->polling_sessions_open--;
    list_remove(&s->hb);
    upgrade_timer_stop(s);
    if (reason == eio_reason_ping_timeout)
        t->stats->drops_ping_timeout++;
    else if (reason == eio_reason_parse_error)
        t->stats->drops_parse_error++;
    if (t->h != NULL && t->h->on_close != NULL)
        t->h->on_close(s, reason);
    int told = 0;
    if (s->polled && s->poll->get != NULL) {
        release_get(s, "1");
        told = 1;
    }
    if (s->ws != NULL) {
        void *c = s->ws;
        s->ws = NULL;
        t->hooks->ws_end(
            c, reason == eio_reason_server_shutdown ? WS_CLOSE_GOING_AWAY : WS_CLOSE_NORMAL,
            t->data);
        told = 1;
    }
    if (!told && !s->websocket &&
        (reason == eio_reason_server_shutdown || reason == eio_reason_forced_close)) {
        /* A polling client between two polls: keep the sid for a while so that its
         * next GET gets the close packet instead of "Session ID unknown"
         * (PROTOCOL.md §1.4). */
        s->zombie = 1;
        t->zombies++;
        s->hb_due_ms = now_ms(t) + ZOMBIE_MS;
        list_insert_tail(&t->zombie_fifo, &s->hb);
        return;
    }
    session_finalize(s);
}

/* ------------------------------------------------------------------ */
/* Output                                                               */

static void answer_get(eio_session_t *s)
{
    eio_poll_t *p = s->poll;
    void *g = p->get;
    p->get = NULL;
    s->t->stats->packets_out++;
    s->t->hooks->get_answer(g, p->pending.base, p->pending.len, s->pending_compress, s->t->data);
    /* Idle sessions hold no output storage. */
    buf_free(&p->pending);
    s->pending_compress = 0;
    p->pending.limit = (size_t)s->t->cf->max_output_buffer;
}

static void session_flush(net_deferred_t *d)
{
    eio_session_t *s = container_of(d, eio_session_t, turn);
    eio_poll_t *p = poll_of(s);
    if (!s->closed && p != NULL && p->get != NULL && p->pending.len > 0)
        answer_get(s);
}

void eio_session_slow_consumer(eio_session_t *s, const char *transport)
{
    s->t->stats->drops_slow_consumer++;
    static long long last;
    if (log_ratelimited(&last))
        log_warn("session %s: %s output above %ld bytes: client dropped (slow consumer)", s->sid,
                 transport, s->t->cf->max_output_buffer);
    eio_session_close(s, eio_reason_slow_consumer);
}

/* Polling output: one record more (`prefix` then `rec`), flushed to the held GET at turn end. */
static int poll_append(eio_session_t *s, const char *prefix, size_t prefix_len, const char *rec,
                       size_t len, int compress)
{
    eio_poll_t *p = poll_of(s);
    if (p == NULL) /* a websocket session between its websocket's end and its own */
        return SIOC_ECANCELED;
    int r = 0;
    if (p->pending.len > 0)
        r = buf_append_byte(&p->pending, EIO_PAYLOAD_SEP);
    if (r == 0 && prefix_len > 0)
        r = buf_append(&p->pending, prefix, prefix_len);
    if (r == 0)
        r = buf_append(&p->pending, rec, len);
    if (r != 0) {
        eio_session_slow_consumer(s, "polling");
        return SIOC_EMSGSIZE;
    }
    if (compress)
        s->pending_compress = 1;
    if (p->get != NULL)
        s->t->hooks->defer(&s->turn, s->t->data);
    return 0;
}

/* A websocket write over --max-output-buffer: the transport now flushes what it has and
 * its slow-consumer close frame, and the session ends at once. */
static int ws_result(eio_session_t *s, int r)
{
    if (r == SIOC_EMSGSIZE && !s->closed && s->ws != NULL && s->websocket)
        eio_session_slow_consumer(s, "websocket");
    return r;
}

static int session_queue(eio_session_t *s, int type, const char *p, size_t len)
{
    if (s->closed)
        return SIOC_ECANCELED;
    char digit = (char)('0' + type);
    eio_session_table_t *t = s->t;
    t->stats->packets_out++;
    if (s->websocket && s->ws != NULL)
        return ws_result(s,
                         t->hooks->ws_frame(s->ws, WS_FRAME_OP_TEXT, &digit, 1, p, len, t->data));
    return poll_append(s, &digit, 1, p, len, 1);
}

static int send_binary(eio_session_t *s, const void *p, size_t len);

/* The msgpack parser: one binary message per packet (sio_msgpack.h). */
static int mp_send(eio_session_t *s, const char *text, size_t len, const sioc_iov_t *att,
                   size_t n_att)
{
    sioc_buf_t b = {0};
    int r = sio_msgpack_encode(text, len, att, n_att, &b);
    if (r == 0)
        r = send_binary(s, b.base, b.len);
    buf_free(&b);
    return r;
}

/* The attachments gathered for t->mp_text, as slices of t->mp_att, then the packet sent. */
static int mp_flush(eio_session_t *s)
{
    eio_session_table_t *t = s->t;
    sioc_iov_t att[64];
    size_t n = 0, off = 0;
    while (off < t->mp_att.len && n < 64) {
        size_t l;
        memcpy(&l, t->mp_att.base + off, sizeof(l));
        att[n++] = iov_make(t->mp_att.base + off + sizeof(l), l);
        off += sizeof(l) + l;
    }
    int r = mp_send(s, t->mp_text.base, t->mp_text.len, att, n);
    mp_reset(t, NULL);
    return r;
}

int eio_send_text(eio_session_t *s, const char *p, size_t len)
{
    if (!s->t->cf->parser_msgpack)
        return session_queue(s, EIO_MESSAGE, p, len);
    if (s->closed)
        return SIOC_ECANCELED;
    sio_packet_t pkt;
    const char *why;
    if (sio_packet_parse(p, len, &pkt, &why) < 0)
        return SIOC_EPROTO;
    if (pkt.attachments == 0)
        return mp_send(s, p, len, NULL, 0);
    if (pkt.attachments > 64)
        return SIOC_EMSGSIZE;
    /* Its attachments follow through eio_send_binary() (sio_emit's order). */
    eio_session_table_t *t = s->t;
    mp_reset(t, s);
    t->mp_need = pkt.attachments;
    return buf_append(&t->mp_text, p, len);
}

int eio_send_binary(eio_session_t *s, const void *p, size_t len)
{
    eio_session_table_t *t = s->t;
    if (!t->cf->parser_msgpack || t->mp_owner != s)
        return send_binary(s, p, len);
    int r = buf_append(&t->mp_att, &len, sizeof(len));
    if (r == 0)
        r = buf_append(&t->mp_att, p, len);
    if (r != 0)
        return r;
    if (++t->mp_have < t->mp_need)
        return 0;
    return mp_flush(s);
}

static int send_binary(eio_session_t *s, const void *p, size_t len)
{
    if (s->closed)
        return SIOC_ECANCELED;
    eio_session_table_t *t = s->t;
    t->stats->packets_out++;
    if (s->websocket && s->ws != NULL)
        return ws_result(s,
                         t->hooks->ws_frame(s->ws, WS_FRAME_OP_BINARY, NULL, 0, p, len, t->data));
    sioc_buf_t b = {0};
    int r = eio_payload_append_binary(&b, 1, p, len);
    if (r == 0)
        r = poll_append(s, NULL, 0, b.base, b.len, 1);
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

/* Appends one frame: compressed (RSV1) when it reaches the threshold and deflating works. */
static int deflated_frame(eio_session_table_t *t, int bits, int opcode, const char *a, size_t a_len,
                          const char *p, size_t len, sioc_buf_t *out)
{
    size_t total = a_len + len;
    if (total >= (size_t)t->cf->ws_deflate_threshold) {
        size_t at = out->len;
        int r = buf_reserve(out, WS_FRAME_MAX_HEADER);
        if (r != 0)
            return r;
        out->len += WS_FRAME_MAX_HEADER; /* the header goes in front once the size is known */
        if (ws_deflate_compress(t->cf->ws_deflate, bits, a, a_len, p, len, out) == 0) {
            size_t zlen = out->len - at - WS_FRAME_MAX_HEADER;
            uint8_t hdr[WS_FRAME_MAX_HEADER];
            size_t h = ws_frame_write_header(hdr, opcode, 1, zlen, NULL);
            hdr[0] |= 0x40; /* RSV1: "Per-Message Compressed" (RFC 7692 §6) */
            memmove(out->base + at + h, out->base + at + WS_FRAME_MAX_HEADER, zlen);
            memcpy(out->base + at, hdr, h);
            out->len = at + h + zlen;
            t->stats->ws_deflated++;
            t->stats->ws_deflated_in += total;
            t->stats->ws_deflated_out += zlen;
            return 0;
        }
        out->len = at;
    }
    uint8_t hdr[WS_FRAME_MAX_HEADER];
    size_t h = ws_frame_write_header(hdr, opcode, 1, total, NULL);
    int r = buf_append(out, hdr, h);
    if (r == 0 && a_len > 0)
        r = buf_append(out, a, a_len);
    if (r == 0 && len > 0)
        r = buf_append(out, p, len);
    return r;
}

/* The message's frames for a permessage-deflate websocket with a `bits` window: made once
 * for the first window asked for, each time for another (clients rarely limit it). */
static sioc_shared_t *msg_ws_deflated(eio_session_table_t *t, eio_msg_t *m, int bits, int *owned)
{
    *owned = 0;
    if (m->wsz != NULL && m->wsz_bits == bits)
        return m->wsz;
    sioc_buf_t b = {0};
    int r = deflated_frame(t, bits, WS_FRAME_OP_TEXT, "4", 1, m->text, m->text_len, &b);
    for (size_t i = 0; i < m->n_att && r == 0; i++)
        r = deflated_frame(t, bits, WS_FRAME_OP_BINARY, NULL, 0, m->att[i].base, m->att[i].len, &b);
    sioc_shared_t *sh = r == 0 ? shared_copy(b.base, b.len) : NULL;
    buf_free(&b);
    if (sh != NULL && m->wsz == NULL) {
        m->wsz = sh;
        m->wsz_bits = (uint8_t)bits;
    } else if (sh != NULL) {
        *owned = 1;
    }
    return sh;
}

/* The message as one msgpack packet: a binary frame and a polling record, made once. */
static int msg_mp(eio_msg_t *m)
{
    if (m->mpws != NULL)
        return 0;
    sioc_buf_t b = {0}, f = {0};
    int r = sio_msgpack_encode(m->text, m->text_len, m->att, m->n_att, &b);
    if (r == 0)
        r = ws_frame_append(&f, WS_FRAME_OP_BINARY, 1, b.base, b.len, NULL);
    if (r == 0) {
        m->mpws = shared_copy(f.base, f.len);
        f.len = 0;
        r = eio_payload_append_binary(&f, 1, (const uint8_t *)b.base, b.len);
        if (r == 0)
            m->mppoll = shared_copy(f.base, f.len);
        if (m->mpws == NULL || m->mppoll == NULL)
            r = SIOC_ENOMEM;
    }
    buf_free(&b);
    buf_free(&f);
    return r;
}

int eio_send_msg(eio_session_t *s, eio_msg_t *m)
{
    if (s->closed)
        return SIOC_ECANCELED;
    eio_session_table_t *t = s->t;
    if (t->cf->parser_msgpack) {
        int r = msg_mp(m);
        if (r != 0)
            return r;
        t->stats->packets_out++;
        if (s->websocket && s->ws != NULL)
            return ws_result(s, t->hooks->ws_shared(s->ws, m->mpws, t->data));
        return poll_append(s, NULL, 0, m->mppoll->data, m->mppoll->len, m->compress);
    }
    t->stats->packets_out += 1 + m->n_att;
    if (s->websocket && s->ws != NULL) {
        if (m->ws == NULL)
            return SIOC_ENOMEM;
        if (s->ws_bits != 0 && m->compress && t->cf->ws_deflate != NULL) {
            int owned;
            sioc_shared_t *z = msg_ws_deflated(t, m, s->ws_bits, &owned);
            if (z != NULL) {
                int r = t->hooks->ws_shared(s->ws, z, t->data);
                if (owned)
                    shared_unref(z);
                return ws_result(s, r);
            }
        }
        return ws_result(s, t->hooks->ws_shared(s->ws, m->ws, t->data));
    }
    sioc_shared_t *pb = msg_poll_bytes(m);
    if (pb == NULL)
        return SIOC_ENOMEM;
    return poll_append(s, NULL, 0, pb->data, pb->len, m->compress);
}

eio_msg_t *eio_msg_new(const char *text, size_t len, const sioc_iov_t *att, size_t n_att)
{
    eio_msg_t *m = try_malloc(sizeof(*m));
    if (m == NULL)
        return NULL;
    memset(m, 0, sizeof(*m));
    m->refs = 1;
    m->compress = 1;
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

int eio_session_writable(const eio_session_t *s)
{
    if (s->closed)
        return 0;
    const eio_session_table_t *t = s->t;
    if (s->websocket)
        return s->ws != NULL &&
               (t->hooks->ws_writable == NULL || t->hooks->ws_writable(s->ws, t->data));
    return s->polled && s->poll->get != NULL && s->poll->pending.len == 0;
}

void eio_msg_set_compress(eio_msg_t *m, int compress)
{
    m->compress = (uint8_t)(compress != 0);
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
    shared_unref(m->wsz);
    shared_unref(m->mpws);
    shared_unref(m->mppoll);
    free(m->text);
    free(m->att);
    free(m);
}

/* ------------------------------------------------------------------ */
/* Accessors                                                            */

void *eio_session_data(const eio_session_t *s)
{
    size_t room = data_room(s->t);
    return room > 0 ? (char *)s - room : NULL;
}

const char *eio_session_sid(const eio_session_t *s)
{
    return s->sid;
}

void *eio_session_owner(const eio_session_t *s)
{
    return s->t->cf->owner;
}

const char *eio_session_addr(const eio_session_t *s)
{
    return s->addr != NULL ? s->addr : "";
}

int eio_session_is_websocket(const eio_session_t *s)
{
    return s->websocket;
}

int eio_session_is_closed(const eio_session_t *s)
{
    return s->closed;
}

int eio_session_is_zombie(const eio_session_t *s)
{
    return s->zombie;
}

int eio_session_can_upgrade(const eio_session_t *s)
{
    return !s->websocket && s->ws == NULL;
}

int eio_session_ws_is_probe(const eio_session_t *s)
{
    return s->ws != NULL && !s->websocket;
}

/* ------------------------------------------------------------------ */
/* Handshake                                                            */

eio_session_t *eio_session_new(eio_session_table_t *t, int websocket, void *peer, const char *addr)
{
    /* One allocation: the handler's data, the session, its polling side. */
    size_t room = data_room(t);
    char *block = xcalloc(1, room + sizeof(eio_session_t) + (websocket ? 0 : sizeof(eio_poll_t)));
    eio_session_t *s = (eio_session_t *)(block + room);
    s->t = t;
    s->websocket = (uint8_t)websocket;
    if (!websocket) {
        s->polled = 1;
        s->poll->pending.limit = (size_t)t->cf->max_output_buffer;
        list_init(&s->poll->up);
    }
    s->turn.cb = session_flush;
    char rnd[21];
    rand_id(rnd, 20);
    snprintf(s->sid, sizeof(s->sid), "%s.%s", t->cf->sid_prefix, rnd);
    s->node.key = iov_make(s->sid, strlen(s->sid));
    hmap_put(&t->sessions, &s->node);
    s->peer = peer;
    s->addr = addr;
    list_init(&s->hb);
    arm_ping(s);
    t->stats->sessions_total++;
    t->stats->sessions_open++;
    if (websocket)
        t->stats->ws_sessions_open++;
    else
        t->stats->polling_sessions_open++;
    return s;
}

int eio_session_open_packet(const eio_session_t *s, sioc_buf_t *b)
{
    const eio_session_config_t *cf = s->t->cf;
    int r = eio_open_write(b, s->sid, !s->websocket, (unsigned)cf->ping_interval,
                           (unsigned)cf->ping_timeout, (unsigned long)cf->max_payload);
    if (r != 0)
        b->len = 0;
    return r;
}

void eio_session_opened(eio_session_t *s)
{
    const eio_handler_t *h = s->t->h;
    if (h != NULL && h->on_open != NULL)
        h->on_open(s);
}

void eio_session_forget(eio_session_t *s)
{
    session_finalize(s);
}

/* ------------------------------------------------------------------ */
/* Packets from the client                                              */

/* The msgpack parser: a binary message is a packet, handed on as packet text and its
 * attachments; a text message is malformed for that parser. */
static void deliver_mp(eio_session_t *s, const char *p, size_t len, int binary)
{
    const eio_handler_t *h = s->t->h;
    sioc_iov_t att[64];
    sioc_buf_t text = {0};
    const char *why = NULL;
    int n = binary ? sio_msgpack_decode(p, len, &text, att, 64, &why) : SIOC_EPROTO;
    if (n < 0) {
        buf_free(&text);
        eio_session_close(s, eio_reason_parse_error);
        return;
    }
    if (h != NULL && h->on_message != NULL) {
        h->on_message(s, text.base, text.len, 0);
        for (int i = 0; i < n && !s->closed; i++)
            h->on_message(s, att[i].base, att[i].len, 1);
    }
    buf_free(&text);
}

void eio_session_deliver(eio_session_t *s, const char *p, size_t len, int binary)
{
    s->t->stats->packets_in++;
    if (s->t->cf->parser_msgpack) {
        deliver_mp(s, p, len, binary);
        return;
    }
    const eio_handler_t *h = s->t->h;
    if (h != NULL && h->on_message != NULL)
        h->on_message(s, p, len, binary);
}

void eio_session_packet(eio_session_t *s, const eio_packet_t *pk)
{
    switch (pk->type) {
    case EIO_PONG:
        if (s->awaiting_pong || pk->data.len == 0) {
            s->awaiting_pong = 0;
            arm_ping(s);
        }
        return;
    case EIO_MESSAGE:
        eio_session_deliver(s, pk->data.base, pk->data.len, 0);
        return;
    case EIO_CLOSE:
        /* Close while polling: the held GET is released with a noop first. */
        if (s->polled && s->poll->get != NULL)
            release_get(s, "6");
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

int eio_session_poll_get(eio_session_t *s, void *get)
{
    eio_poll_t *p = poll_of(s);
    if (p == NULL || p->get != NULL)
        return EIO_POLL_DUPLICATE; /* the engine sends no GET to a websocket session */
    if (s->upgrading && p->pending.len == 0)
        return EIO_POLL_NOOP; /* releases the client's poll loop so it can send "5" (§1.7) */
    p->get = get;
    if (p->pending.len > 0)
        s->t->hooks->defer(&s->turn, s->t->data);
    return EIO_POLL_HELD;
}

void eio_session_get_lost(eio_session_t *s)
{
    if (s->polled)
        s->poll->get = NULL;
    /* A GET cancelled by the client ends the session (PROTOCOL.md §1.4). */
    eio_session_close(s, eio_reason_transport_close);
}

/* ------------------------------------------------------------------ */
/* Upgrade                                                              */

void eio_session_ws_attach(eio_session_t *s, void *ws)
{
    s->ws = ws;
    if (s->websocket)
        return;
    eio_session_table_t *t = s->t;
    eio_poll_t *p = s->poll;
    p->up_due_ms = now_ms(t) + t->cf->upgrade_timeout;
    list_insert_tail(&t->upgrade_fifo, &p->up);
    arm_timer(t, p->up_due_ms);
}

void eio_session_ws_detach(eio_session_t *s)
{
    s->ws = NULL;
    s->ws_bits = 0;
}

void eio_session_ws_set_deflate(eio_session_t *s, int window_bits)
{
    s->ws_bits = (uint8_t)window_bits;
}

void eio_session_upgrade_abort(eio_session_t *s)
{
    upgrade_timer_stop(s);
    s->upgrading = 0;
    if (s->ws != NULL && !s->websocket) {
        void *c = s->ws;
        s->ws = NULL;
        s->t->hooks->ws_end(c, 0, s->t->data);
    }
}

/* "5" on the probe: the session moves to the websocket; buffered packets follow. */
static void upgrade_complete(eio_session_t *s)
{
    eio_session_table_t *t = s->t;
    upgrade_timer_stop(s);
    s->upgrading = 0;
    s->websocket = 1;
    t->stats->ws_upgrades++;
    t->stats->polling_sessions_open--;
    t->stats->ws_sessions_open++;
    eio_poll_t *p = s->poll;
    if (p->get != NULL)
        release_get(s, "6");
    if (t->h != NULL && t->h->on_upgrade != NULL)
        t->h->on_upgrade(s);
    if (p->pending.len == 0)
        return;
    eio_payload_iter_t it;
    eio_payload_item_t item;
    const char *reason;
    eio_payload_iter_init(&it, p->pending.base, p->pending.len);
    while (eio_payload_next(&it, &item, &reason) > 0) {
        if (item.binary) {
            uint8_t *bin = try_malloc(item.binary_len ? item.binary_len : 1);
            if (bin == NULL)
                break;
            int bl = base64_decode(item.data, bin, item.binary_len);
            if (bl >= 0)
                (void)t->hooks->ws_frame(s->ws, WS_FRAME_OP_BINARY, NULL, 0, bin, (size_t)bl,
                                         t->data);
            free(bin);
        } else {
            (void)t->hooks->ws_frame(s->ws, WS_FRAME_OP_TEXT, NULL, 0, item.record.base,
                                     item.record.len, t->data);
        }
    }
    buf_free(&p->pending);
    p->pending.limit = (size_t)t->cf->max_output_buffer;
}

void eio_session_probe_packet(eio_session_t *s, const eio_packet_t *pk)
{
    if (pk->type == EIO_PING && iov_eq_str(pk->data, "probe") && !s->upgrading) {
        s->upgrading = 1;
        (void)s->t->hooks->ws_frame(s->ws, WS_FRAME_OP_TEXT, NULL, 0, "3probe", 6, s->t->data);
        if (s->poll->get != NULL && s->poll->pending.len == 0)
            release_get(s, "6");
    } else if (pk->type == EIO_UPGRADE && s->upgrading) {
        upgrade_complete(s);
    } else {
        eio_session_upgrade_abort(s);
    }
}

/* ------------------------------------------------------------------ */
/* The table                                                            */

eio_session_table_t *eio_session_table_new(const eio_session_config_t *cf,
                                           const eio_session_hooks_t *hooks, void *data,
                                           const eio_handler_t *h, eio_session_stats_t *stats)
{
    eio_session_table_t *t = xcalloc(1, sizeof(*t));
    t->cf = cf;
    t->hooks = hooks;
    t->data = data;
    t->h = h;
    t->stats = stats;
    hmap_init(&t->sessions);
    list_init(&t->ping_fifo);
    list_init(&t->pong_fifo);
    list_init(&t->upgrade_fifo);
    list_init(&t->zombie_fifo);
    return t;
}

void eio_session_table_free(eio_session_table_t *t)
{
    if (t == NULL)
        return;
    hmap_free(&t->sessions);
    mp_reset(t, NULL);
    free(t);
}

/* The earlier of `next` (-1: none yet) and the due time `d`. */
static long long earliest(long long next, long long d)
{
    return next < 0 || d < next ? d : next;
}

void eio_session_table_tick(eio_session_table_t *t)
{
    t->armed = 0;
    long long now = now_ms(t);
    while (!list_empty(&t->pong_fifo)) {
        eio_session_t *s = container_of(t->pong_fifo.next, eio_session_t, hb);
        if (s->hb_due_ms > now)
            break;
        list_remove(&s->hb);
        eio_session_close(s, eio_reason_ping_timeout);
    }
    while (!list_empty(&t->ping_fifo)) {
        eio_session_t *s = container_of(t->ping_fifo.next, eio_session_t, hb);
        if (s->hb_due_ms > now)
            break;
        s->awaiting_pong = 1;
        arm_ping(s); /* moves it to the pong list before anything can close it */
        session_queue(s, EIO_PING, NULL, 0);
    }
    while (!list_empty(&t->upgrade_fifo)) {
        eio_session_t *s = session_of_up(t->upgrade_fifo.next);
        if (s->poll->up_due_ms > now)
            break;
        eio_session_upgrade_abort(s);
    }
    long long next = -1;
    if (!list_empty(&t->pong_fifo))
        next = earliest(next, container_of(t->pong_fifo.next, eio_session_t, hb)->hb_due_ms);
    if (!list_empty(&t->ping_fifo))
        next = earliest(next, container_of(t->ping_fifo.next, eio_session_t, hb)->hb_due_ms);
    if (!list_empty(&t->upgrade_fifo))
        next = earliest(next, session_of_up(t->upgrade_fifo.next)->poll->up_due_ms);
    if (next >= 0) {
        t->armed = 0;
        arm_timer(t, next);
    }
}

void eio_session_table_sweep(eio_session_table_t *t)
{
    long long now = now_ms(t);
    while (!list_empty(&t->zombie_fifo)) {
        eio_session_t *z = container_of(t->zombie_fifo.next, eio_session_t, hb);
        if (z->hb_due_ms > now)
            break;
        session_finalize(z);
    }
}

void eio_session_table_close_some(eio_session_table_t *t, size_t n)
{
    hmap_node_t *node;
    for (hmap_iter_t it = hmap_iter(&t->sessions); n > 0 && (node = hmap_next(&it)) != NULL;) {
        eio_session_t *s = container_of(node, eio_session_t, node);
        if (s->closed)
            continue;
        eio_session_close(s, eio_reason_server_shutdown);
        n--;
    }
}

void eio_session_table_close_all(eio_session_table_t *t)
{
    hmap_node_t *n;
    for (hmap_iter_t it = hmap_iter(&t->sessions); (n = hmap_next(&it)) != NULL;)
        eio_session_close(container_of(n, eio_session_t, node), eio_reason_server_shutdown);
}

void eio_session_table_shutdown(eio_session_table_t *t)
{
    eio_session_table_close_all(t);
    while (!list_empty(&t->zombie_fifo))
        session_finalize(container_of(t->zombie_fifo.next, eio_session_t, hb));
}

int eio_session_table_admit(const eio_session_table_t *t, const char *addr)
{
    return t->h == NULL || t->h->admit == NULL || t->h->admit(t->cf->owner, addr);
}

size_t eio_session_table_count(const eio_session_table_t *t)
{
    return t->sessions.count - t->zombies;
}

size_t eio_session_table_zombies(const eio_session_table_t *t)
{
    return t->zombies;
}

eio_session_t *eio_session_find(eio_session_table_t *t, sioc_iov_t sid)
{
    hmap_node_t *n = hmap_get(&t->sessions, sid);
    return n != NULL ? container_of(n, eio_session_t, node) : NULL;
}
