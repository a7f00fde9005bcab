/*
 * eio_session.c - Engine.IO v4 session state machine (eio_session.h).
 *
 * A session holds at most one websocket (the transport, or the probe during an upgrade:
 * a websocket attached to a session still on polling is a probe), at most one held GET,
 * the polling output buffer and one list node for its heartbeat.
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
#include "ws/ws_close.h"
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
};

struct eio_session {
    hmap_node_t node;
    eio_session_table_t *t;
    void *ws;          /* websocket transport, or the probe while upgrading */
    void *get;         /* held polling GET */
    uint8_t websocket; /* transport is websocket */
    uint8_t upgrading; /* probe answered, waiting for "5" */
    uint8_t closed;
    uint8_t awaiting_pong;
    uint8_t zombie;      /* closed, kept to answer the next poll with a close packet */
    sioc_buf_t pending;  /* polling output: records joined by 0x1e */
    net_deferred_t turn; /* the flush to a held GET; once closed, the free */
    sioc_list_t hb;      /* in ping_fifo, pong_fifo or (closed) zombie_fifo */
    long long hb_due_ms; /* next ping due, pong late, or zombie forgotten */
    sioc_list_t up;      /* in upgrade_fifo while a probe is attached */
    long long up_due_ms; /* the upgrade times out */
    void *data;
    void *peer;
    const char *addr;
    char sid[EIO_SESSION_SID_MAX];
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
    if (list_linked(&s->up))
        list_remove(&s->up);
}

/* ------------------------------------------------------------------ */
/* Lifetime                                                             */

static void session_reap(net_deferred_t *d)
{
    eio_session_t *s = container_of(d, eio_session_t, turn);
    buf_free(&s->pending);
    free(s);
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
    buf_free(&s->pending);
    t->hooks->cancel(&s->turn, t->data);
    s->turn.cb = session_reap;
    t->hooks->defer(&s->turn, t->data);
}

/* Answers the held GET of `s` with a one-packet body (a close "1" or a noop "6"). */
static void release_get(eio_session_t *s, const char *packet)
{
    void *g = s->get;
    s->get = NULL;
    s->t->hooks->get_answer(g, packet, 1, s->t->data);
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
    if (s->get != NULL) {
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
    void *g = s->get;
    s->get = NULL;
    s->t->stats->packets_out++;
    s->t->hooks->get_answer(g, s->pending.base, s->pending.len, s->t->data);
    /* Idle sessions hold no output storage. */
    buf_free(&s->pending);
    s->pending.limit = (size_t)s->t->cf->max_output_buffer;
}

static void session_flush(net_deferred_t *d)
{
    eio_session_t *s = container_of(d, eio_session_t, turn);
    if (!s->closed && s->get != NULL && s->pending.len > 0)
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
        eio_session_slow_consumer(s, "polling");
        return SIOC_EMSGSIZE;
    }
    if (s->get != NULL)
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
    eio_session_table_t *t = s->t;
    t->stats->packets_out++;
    if (s->websocket && s->ws != NULL)
        return ws_result(s,
                         t->hooks->ws_frame(s->ws, WS_FRAME_OP_BINARY, NULL, 0, p, len, t->data));
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
    eio_session_table_t *t = s->t;
    t->stats->packets_out += 1 + m->n_att;
    if (s->websocket && s->ws != NULL) {
        if (m->ws == NULL)
            return SIOC_ENOMEM;
        return ws_result(s, t->hooks->ws_shared(s->ws, m->ws, t->data));
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

/* ------------------------------------------------------------------ */
/* Accessors                                                            */

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
    eio_session_t *s = xcalloc(1, sizeof(*s));
    s->t = t;
    s->websocket = (uint8_t)websocket;
    s->pending.limit = (size_t)t->cf->max_output_buffer;
    s->turn.cb = session_flush;
    char rnd[21];
    rand_id(rnd, 20);
    snprintf(s->sid, sizeof(s->sid), "%s.%s", t->cf->sid_prefix, rnd);
    s->node.key = iov_make(s->sid, strlen(s->sid));
    hmap_put(&t->sessions, &s->node);
    s->peer = peer;
    s->addr = addr;
    list_init(&s->hb);
    list_init(&s->up);
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

void eio_session_deliver(eio_session_t *s, const char *p, size_t len, int binary)
{
    s->t->stats->packets_in++;
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
        if (s->get != NULL)
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
    if (s->get != NULL)
        return EIO_POLL_DUPLICATE;
    if (s->upgrading && s->pending.len == 0)
        return EIO_POLL_NOOP; /* releases the client's poll loop so it can send "5" (§1.7) */
    s->get = get;
    if (s->pending.len > 0)
        s->t->hooks->defer(&s->turn, s->t->data);
    return EIO_POLL_HELD;
}

void eio_session_get_lost(eio_session_t *s)
{
    s->get = NULL;
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
    s->up_due_ms = now_ms(t) + t->cf->upgrade_timeout;
    list_insert_tail(&t->upgrade_fifo, &s->up);
    arm_timer(t, s->up_due_ms);
}

void eio_session_ws_detach(eio_session_t *s)
{
    s->ws = NULL;
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
    if (s->get != NULL)
        release_get(s, "6");
    if (t->h != NULL && t->h->on_upgrade != NULL)
        t->h->on_upgrade(s);
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
    buf_free(&s->pending);
    s->pending.limit = (size_t)t->cf->max_output_buffer;
}

void eio_session_probe_packet(eio_session_t *s, const eio_packet_t *pk)
{
    if (pk->type == EIO_PING && iov_eq_str(pk->data, "probe") && !s->upgrading) {
        s->upgrading = 1;
        (void)s->t->hooks->ws_frame(s->ws, WS_FRAME_OP_TEXT, NULL, 0, "3probe", 6, s->t->data);
        if (s->get != NULL && s->pending.len == 0)
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
        eio_session_t *s = container_of(t->upgrade_fifo.next, eio_session_t, up);
        if (s->up_due_ms > now)
            break;
        eio_session_upgrade_abort(s);
    }
    long long next = -1;
    if (!list_empty(&t->pong_fifo))
        next = earliest(next, container_of(t->pong_fifo.next, eio_session_t, hb)->hb_due_ms);
    if (!list_empty(&t->ping_fifo))
        next = earliest(next, container_of(t->ping_fifo.next, eio_session_t, hb)->hb_due_ms);
    if (!list_empty(&t->upgrade_fifo))
        next = earliest(next, container_of(t->upgrade_fifo.next, eio_session_t, up)->up_due_ms);
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
