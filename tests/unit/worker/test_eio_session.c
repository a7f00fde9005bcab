/*
 * Unit tests for worker/eio_session: the Engine.IO v4 session state machine driven on
 * fake time, with fake transports and no sockets. Heartbeats (ping on the interval, pong
 * resets, ping timeout closes), the upgrade (2probe -> 3probe, a noop for the waiting
 * GET, 5 completes and flushes the polling buffer to the websocket, the timeout aborts),
 * close while a GET is held, zombie sessions, duplicate GETs, slow consumers, and a
 * leak check at the end of every test (ASan builds).
 *
 * The fake loop: hooks.arm records one due time; advance() moves the clock to each due
 * time in order, ticks the table there, then runs the turn-end queue, as libevent would.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/list.h"
#include "eio_session.h"
#include "ws/ws_close.h"
#include "ws/ws_frame.h"

#define PING_INTERVAL 1000
#define PING_TIMEOUT 500
#define UPGRADE_TIMEOUT 300
#define ZOMBIE_MS 30000

/* A fake transport: a websocket (frames) or a polling GET (one answer). */
typedef struct tr {
    sioc_buf_t out; /* websocket: "<opcode>:<payload>\n" per frame; GET: the answer */
    int answered;   /* GET: answered */
    int ended;      /* websocket: ended by the session */
    uint16_t end_code;
} tr_t;

typedef struct fake {
    long long now;
    long long due; /* armed tick, -1 when none */
    sioc_list_t turn;
    eio_session_config_t cf;
    eio_session_stats_t stats;
    eio_session_table_t *t;
    int opened, messages, closes;
    const char *reason;
    char last_msg[64];
    size_t peers; /* peer handles not yet released */
    tr_t tr[8];   /* transports live until teardown: sessions may still end them */
    size_t n_tr;
} fake_t;

static fake_t *F; /* the test's fake loop (the handler has no data pointer) */

static long long h_now(void *data)
{
    return ((fake_t *)data)->now;
}

static void h_arm(long long delay_ms, void *data)
{
    fake_t *f = data;
    assert_true(delay_ms >= 0);
    f->due = f->now + delay_ms;
}

static void h_defer(net_deferred_t *d, void *data)
{
    fake_t *f = data;
    if (d->_link.next != NULL && list_linked(&d->_link))
        return;
    list_insert_tail(&f->turn, &d->_link);
}

static void h_cancel(net_deferred_t *d, void *data)
{
    (void)data;
    if (d->_link.next != NULL && list_linked(&d->_link))
        list_remove(&d->_link);
}

static void h_get_answer(void *get, const char *body, size_t len, int compress, void *data)
{
    (void)data;
    (void)compress;
    tr_t *g = get;
    assert_false(g->answered);
    g->answered = 1;
    assert_int_equal(buf_append(&g->out, body, len), 0);
}

static int h_ws_frame(void *ws, int opcode, const char *prefix, size_t prefix_len, const void *p,
                      size_t len, void *data)
{
    (void)data;
    tr_t *w = ws;
    assert_false(w->ended);
    char op = (char)('0' + opcode);
    int r = buf_append(&w->out, &op, 1) | buf_append(&w->out, ":", 1);
    if (prefix_len > 0)
        r |= buf_append(&w->out, prefix, prefix_len);
    if (len > 0)
        r |= buf_append(&w->out, p, len);
    r |= buf_append(&w->out, "\n", 1);
    return r;
}

static int h_ws_shared(void *ws, sioc_shared_t *sh, void *data)
{
    (void)data;
    tr_t *w = ws;
    return buf_append(&w->out, sh->data, sh->len);
}

static void h_ws_end(void *ws, uint16_t code, void *data)
{
    (void)data;
    tr_t *w = ws;
    assert_false(w->ended);
    w->ended = 1;
    w->end_code = code;
}

static void h_peer_release(void *peer, void *data)
{
    fake_t *f = data;
    assert_ptr_equal(peer, f);
    f->peers--;
}

static const eio_session_hooks_t hooks = {
    .now = h_now,
    .arm = h_arm,
    .defer = h_defer,
    .cancel = h_cancel,
    .get_answer = h_get_answer,
    .ws_frame = h_ws_frame,
    .ws_shared = h_ws_shared,
    .ws_end = h_ws_end,
    .peer_release = h_peer_release,
};

static void on_open(eio_session_t *s)
{
    (void)s;
    F->opened++;
}

static void on_message(eio_session_t *s, const char *data, size_t len, int binary)
{
    (void)s;
    (void)binary;
    F->messages++;
    snprintf(F->last_msg, sizeof(F->last_msg), "%.*s", (int)len, data);
}

static void on_close(eio_session_t *s, const char *reason)
{
    (void)s;
    F->closes++;
    F->reason = reason;
}

static const eio_handler_t handler = {on_open, on_message, on_close, NULL, NULL, 0};

static void run_turn(fake_t *f)
{
    while (!list_empty(&f->turn)) {
        net_deferred_t *d = container_of(f->turn.next, net_deferred_t, _link);
        list_remove(&d->_link);
        d->cb(d);
    }
}

/* Moves the clock forward by `ms`, firing the armed tick at its due time. */
static void advance(fake_t *f, long long ms)
{
    long long target = f->now + ms;
    while (f->due >= 0 && f->due <= target) {
        f->now = f->due;
        f->due = -1;
        eio_session_table_tick(f->t);
        run_turn(f);
    }
    f->now = target;
}

static int setup(void **state)
{
    fake_t *f = calloc(1, sizeof(*f));
    f->now = 1000000;
    f->due = -1;
    list_init(&f->turn);
    f->cf = (eio_session_config_t){.ping_interval = PING_INTERVAL,
                                   .ping_timeout = PING_TIMEOUT,
                                   .upgrade_timeout = UPGRADE_TIMEOUT,
                                   .max_output_buffer = 1 << 16,
                                   .max_payload = 1000000,
                                   .sid_prefix = "w1",
                                   .owner = f};
    f->t = eio_session_table_new(&f->cf, &hooks, f, &handler, &f->stats);
    F = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fake_t *f = *state;
    eio_session_table_shutdown(f->t);
    run_turn(f);
    assert_int_equal(eio_session_table_count(f->t), 0);
    assert_int_equal(f->peers, 0);
    eio_session_table_free(f->t);
    for (size_t i = 0; i < f->n_tr; i++)
        buf_free(&f->tr[i].out);
    free(f);
    F = NULL;
    return 0;
}

static tr_t *new_tr(fake_t *f)
{
    assert_true(f->n_tr < sizeof(f->tr) / sizeof(f->tr[0]));
    return &f->tr[f->n_tr++];
}

static eio_session_t *open_session(fake_t *f, int websocket, tr_t *ws)
{
    f->peers++;
    eio_session_t *s = eio_session_new(f->t, websocket, f, "127.0.0.1");
    if (ws != NULL)
        eio_session_ws_attach(s, ws);
    eio_session_opened(s);
    return s;
}

static void packet(eio_session_t *s, int type, const char *data)
{
    eio_packet_t pk = {type, iov_make(data, strlen(data))};
    eio_session_packet(s, &pk);
}

static void probe_packet(eio_session_t *s, int type, const char *data)
{
    eio_packet_t pk = {type, iov_make(data, strlen(data))};
    eio_session_probe_packet(s, &pk);
}

static int out_is(const tr_t *t, const char *want)
{
    return t->out.len == strlen(want) && memcmp(t->out.base, want, t->out.len) == 0;
}

/* ------------------------------------------------------------------ */

static void test_open(void **state)
{
    fake_t *f = *state;
    eio_session_t *s = open_session(f, 0, NULL);
    assert_int_equal(f->opened, 1);
    assert_int_equal(f->stats.sessions_open, 1);
    assert_int_equal(f->stats.polling_sessions_open, 1);
    assert_ptr_equal(eio_session_owner(s), f);
    assert_string_equal(eio_session_addr(s), "127.0.0.1");
    const char *sid = eio_session_sid(s);
    assert_memory_equal(sid, "w1.", 3);
    assert_ptr_equal(eio_session_find(f->t, iov_make(sid, strlen(sid))), s);
    sioc_buf_t b = {0};
    assert_int_equal(eio_session_open_packet(s, &b), 0);
    assert_int_equal(b.base[0], '0');
    assert_non_null(memmem(b.base, b.len, sid, strlen(sid)));
    assert_non_null(memmem(b.base, b.len, "\"upgrades\":[\"websocket\"]", 24));
    assert_non_null(memmem(b.base, b.len, "\"pingInterval\":1000", 19));
    assert_non_null(memmem(b.base, b.len, "\"pingTimeout\":500", 17));
    buf_free(&b);
}

/* The ping is due exactly ping_interval after the open, and reaches a held GET. */
static void test_ping_on_interval(void **state)
{
    fake_t *f = *state;
    tr_t *get = new_tr(f);
    eio_session_t *s = open_session(f, 0, NULL);
    assert_int_equal(eio_session_poll_get(s, get), EIO_POLL_HELD);
    advance(f, PING_INTERVAL - 1);
    assert_false(get->answered);
    advance(f, 1);
    assert_true(get->answered);
    assert_true(out_is(get, "2"));
    /* The ping, and the payload that carried it (as /metrics has always counted). */
    assert_int_equal(f->stats.packets_out, 2);
}

static void test_ping_websocket(void **state)
{
    fake_t *f = *state;
    tr_t *ws = new_tr(f);
    open_session(f, 1, ws);
    advance(f, PING_INTERVAL - 1);
    assert_int_equal(ws->out.len, 0);
    advance(f, 1);
    assert_true(out_is(ws, "1:2\n"));
}

/* A pong clears the timeout and the next ping comes ping_interval after the pong. */
static void test_pong_resets(void **state)
{
    fake_t *f = *state;
    tr_t *ws = new_tr(f);
    eio_session_t *s = open_session(f, 1, ws);
    advance(f, PING_INTERVAL);
    assert_true(out_is(ws, "1:2\n"));
    advance(f, PING_TIMEOUT - 100);
    packet(s, EIO_PONG, "");
    advance(f, 200); /* past the old timeout */
    assert_int_equal(f->closes, 0);
    assert_false(ws->ended);
    advance(f, PING_INTERVAL - 200 - 1);
    assert_true(out_is(ws, "1:2\n"));
    advance(f, 1);
    assert_true(out_is(ws, "1:2\n1:2\n"));
    /* Answered again: the session lives on. */
    packet(s, EIO_PONG, "");
    advance(f, PING_INTERVAL - 1);
    assert_int_equal(f->closes, 0);
}

/* No pong within ping_timeout: closed with "ping timeout", the websocket gets 1000. */
static void test_ping_timeout_closes(void **state)
{
    fake_t *f = *state;
    tr_t *ws = new_tr(f);
    open_session(f, 1, ws);
    advance(f, PING_INTERVAL);
    advance(f, PING_TIMEOUT - 1);
    assert_int_equal(f->closes, 0);
    advance(f, 1);
    assert_int_equal(f->closes, 1);
    assert_ptr_equal(f->reason, eio_reason_ping_timeout);
    assert_true(ws->ended);
    assert_int_equal(ws->end_code, WS_CLOSE_NORMAL);
    assert_int_equal(f->stats.drops_ping_timeout, 1);
    assert_int_equal(f->stats.sessions_open, 0);
    assert_int_equal(eio_session_table_count(f->t), 0);
}

/* The polling flavour: the held GET gets the close packet "1". */
static void test_ping_timeout_polling(void **state)
{
    fake_t *f = *state;
    tr_t *get = new_tr(f);
    tr_t *get2 = new_tr(f);
    eio_session_t *s = open_session(f, 0, NULL);
    eio_session_poll_get(s, get);
    advance(f, PING_INTERVAL);
    assert_true(out_is(get, "2"));
    assert_int_equal(eio_session_poll_get(s, get2), EIO_POLL_HELD);
    advance(f, PING_TIMEOUT);
    assert_ptr_equal(f->reason, eio_reason_ping_timeout);
    assert_true(out_is(get2, "1"));
}

/* A pong carrying data, when no ping is outstanding, is ignored (not a reset). */
static void test_unsolicited_pong(void **state)
{
    fake_t *f = *state;
    tr_t *ws = new_tr(f);
    eio_session_t *s = open_session(f, 1, ws);
    advance(f, PING_INTERVAL - 10);
    packet(s, EIO_PONG, "x");
    advance(f, 10);
    assert_true(out_is(ws, "1:2\n"));
}

/* 2probe -> 3probe, the waiting GET gets a noop, a new GET gets a noop at once, buffered
 * packets follow on the websocket after 5. */
static void test_upgrade(void **state)
{
    fake_t *f = *state;
    tr_t *get = new_tr(f);
    tr_t *get2 = new_tr(f);
    tr_t *probe = new_tr(f);
    eio_session_t *s = open_session(f, 0, NULL);
    assert_int_equal(eio_session_poll_get(s, get), EIO_POLL_HELD);
    assert_true(eio_session_can_upgrade(s));
    eio_session_ws_attach(s, probe);
    assert_true(eio_session_ws_is_probe(s));
    assert_false(eio_session_can_upgrade(s));
    probe_packet(s, EIO_PING, "probe");
    assert_true(out_is(probe, "1:3probe\n"));
    assert_true(get->answered);
    assert_true(out_is(get, "6"));
    assert_int_equal(eio_session_poll_get(s, get2), EIO_POLL_NOOP);
    assert_false(get2->answered);
    assert_int_equal(eio_send_text(s, "hello", 5), 0);
    probe_packet(s, EIO_UPGRADE, "");
    assert_true(eio_session_is_websocket(s));
    assert_false(eio_session_ws_is_probe(s));
    assert_true(out_is(probe, "1:3probe\n1:4hello\n"));
    assert_int_equal(f->stats.ws_upgrades, 1);
    assert_int_equal(f->stats.ws_sessions_open, 1);
    assert_int_equal(f->stats.polling_sessions_open, 0);
    /* Later output goes to the websocket; the upgrade timer is gone. */
    advance(f, UPGRADE_TIMEOUT * 2);
    assert_false(probe->ended);
    assert_int_equal(eio_send_text(s, "x", 1), 0);
    assert_true(out_is(probe, "1:3probe\n1:4hello\n1:4x\n"));
    assert_int_equal(f->closes, 0);
}

/* A session upgraded then closed leaves nothing behind in the timer lists (freed at turn
 * end; the upgrade deadline passing afterwards must not touch it: ASan builds check). */
static void test_upgrade_then_close(void **state)
{
    fake_t *f = *state;
    tr_t *probe = new_tr(f);
    eio_session_t *s = open_session(f, 0, NULL);
    eio_session_ws_attach(s, probe);
    probe_packet(s, EIO_PING, "probe");
    probe_packet(s, EIO_UPGRADE, "");
    eio_session_close(s, eio_reason_transport_close);
    run_turn(f);
    advance(f, UPGRADE_TIMEOUT + PING_INTERVAL + PING_TIMEOUT);
    assert_int_equal(f->closes, 1);
}

/* A GET held with output pending is not released by the probe: it gets the output. */
static void test_upgrade_with_pending_output(void **state)
{
    fake_t *f = *state;
    tr_t *get = new_tr(f);
    tr_t *probe = new_tr(f);
    eio_session_t *s = open_session(f, 0, NULL);
    eio_session_poll_get(s, get);
    eio_send_text(s, "a", 1);
    eio_session_ws_attach(s, probe);
    probe_packet(s, EIO_PING, "probe");
    assert_false(get->answered);
    run_turn(f);
    assert_true(out_is(get, "4a"));
}

/* No "5" within upgrade_timeout: the probe ends without a close frame, polling goes on. */
static void test_upgrade_timeout(void **state)
{
    fake_t *f = *state;
    tr_t *probe = new_tr(f);
    tr_t *get = new_tr(f);
    eio_session_t *s = open_session(f, 0, NULL);
    eio_session_ws_attach(s, probe);
    probe_packet(s, EIO_PING, "probe");
    advance(f, UPGRADE_TIMEOUT - 1);
    assert_false(probe->ended);
    advance(f, 1);
    assert_true(probe->ended);
    assert_int_equal(probe->end_code, 0);
    assert_false(eio_session_is_websocket(s));
    assert_true(eio_session_can_upgrade(s));
    assert_int_equal(f->closes, 0);
    /* Polling still works, and a GET is held again (no noop: the upgrade is over). */
    assert_int_equal(eio_session_poll_get(s, get), EIO_POLL_HELD);
    eio_send_text(s, "m", 1);
    run_turn(f);
    assert_true(out_is(get, "4m"));
}

/* Anything but 2probe / 5 on the probe aborts the upgrade. */
static void test_upgrade_bad_probe(void **state)
{
    fake_t *f = *state;
    tr_t *probe = new_tr(f);
    eio_session_t *s = open_session(f, 0, NULL);
    eio_session_ws_attach(s, probe);
    probe_packet(s, EIO_UPGRADE, ""); /* 5 before 2probe */
    assert_true(probe->ended);
    assert_int_equal(probe->end_code, 0);
    assert_false(eio_session_is_websocket(s));
    assert_int_equal(f->closes, 0);
}

/* The client's close packet while a GET waits: the GET gets a noop, the session ends. */
static void test_close_while_polling(void **state)
{
    fake_t *f = *state;
    tr_t *get = new_tr(f);
    eio_session_t *s = open_session(f, 0, NULL);
    eio_session_poll_get(s, get);
    packet(s, EIO_CLOSE, "");
    assert_true(out_is(get, "6"));
    assert_int_equal(f->closes, 1);
    assert_ptr_equal(f->reason, eio_reason_transport_close);
    assert_int_equal(eio_session_table_count(f->t), 0);
    assert_int_equal(eio_session_table_zombies(f->t), 0);
}

/* The server closes while a GET waits: the GET gets the close packet "1". */
static void test_server_close_answers_get(void **state)
{
    fake_t *f = *state;
    tr_t *get = new_tr(f);
    eio_session_t *s = open_session(f, 0, NULL);
    eio_session_poll_get(s, get);
    eio_session_close(s, eio_reason_server_shutdown);
    assert_true(out_is(get, "1"));
    assert_int_equal(eio_session_table_zombies(f->t), 0);
}

/* The held GET's connection goes away: the session ends ("transport close"). */
static void test_get_lost(void **state)
{
    fake_t *f = *state;
    tr_t *get = new_tr(f);
    eio_session_t *s = open_session(f, 0, NULL);
    eio_session_poll_get(s, get);
    eio_session_get_lost(s);
    assert_ptr_equal(f->reason, eio_reason_transport_close);
    assert_false(get->answered);
}

/* A polling session closed by the server between two polls stays as a zombie for its
 * next GET, which the front answers "1" and then forgets it; unclaimed, it goes after
 * ZOMBIE_MS. Only shutdown and forced closes make zombies. */
static void test_zombie(void **state)
{
    fake_t *f = *state;
    eio_session_t *a = open_session(f, 0, NULL);
    eio_session_t *b = open_session(f, 0, NULL);
    eio_session_t *c = open_session(f, 0, NULL);
    char sid_a[64], sid_b[64];
    snprintf(sid_a, sizeof(sid_a), "%s", eio_session_sid(a));
    snprintf(sid_b, sizeof(sid_b), "%s", eio_session_sid(b));
    eio_session_close(a, eio_reason_server_shutdown);
    eio_session_close(b, eio_reason_forced_close);
    eio_session_close(c, eio_reason_transport_error);
    assert_int_equal(f->closes, 3);
    assert_int_equal(eio_session_table_count(f->t), 0);
    assert_int_equal(eio_session_table_zombies(f->t), 2);
    eio_session_t *za = eio_session_find(f->t, iov_make(sid_a, strlen(sid_a)));
    assert_ptr_equal(za, a);
    assert_true(eio_session_is_zombie(za));
    assert_true(eio_session_is_closed(za));
    assert_int_equal(eio_send_text(za, "x", 1), SIOC_ECANCELED);
    /* The next poll collects the close, then the sid is forgotten. */
    eio_session_forget(za);
    assert_null(eio_session_find(f->t, iov_make(sid_a, strlen(sid_a))));
    assert_int_equal(eio_session_table_zombies(f->t), 1);
    run_turn(f);
    /* The other one outlives no heartbeat (none runs for zombies) and expires. */
    advance(f, ZOMBIE_MS - 1);
    eio_session_table_sweep(f->t);
    assert_non_null(eio_session_find(f->t, iov_make(sid_b, strlen(sid_b))));
    assert_int_equal(f->closes, 3);
    advance(f, 1);
    eio_session_table_sweep(f->t);
    assert_null(eio_session_find(f->t, iov_make(sid_b, strlen(sid_b))));
    assert_int_equal(eio_session_table_zombies(f->t), 0);
}

/* A websocket session closed for shutdown is told with 1001 and leaves no zombie. */
static void test_shutdown_websocket(void **state)
{
    fake_t *f = *state;
    tr_t *ws = new_tr(f);
    open_session(f, 1, ws);
    open_session(f, 0, NULL);
    eio_session_table_close_some(f->t, 2);
    assert_true(ws->ended);
    assert_int_equal(ws->end_code, WS_CLOSE_GOING_AWAY);
    assert_int_equal(eio_session_table_zombies(f->t), 1);
    assert_int_equal(f->closes, 2);
}

static void test_duplicate_get(void **state)
{
    fake_t *f = *state;
    tr_t *get = new_tr(f);
    tr_t *get2 = new_tr(f);
    eio_session_t *s = open_session(f, 0, NULL);
    assert_int_equal(eio_session_poll_get(s, get), EIO_POLL_HELD);
    assert_int_equal(eio_session_poll_get(s, get2), EIO_POLL_DUPLICATE);
    assert_false(get->answered);
}

/* Output is batched per turn: two messages become one polling payload. */
static void test_polling_batch(void **state)
{
    fake_t *f = *state;
    tr_t *get = new_tr(f);
    eio_session_t *s = open_session(f, 0, NULL);
    eio_send_text(s, "a", 1);
    eio_send_text(s, "b", 1);
    eio_session_poll_get(s, get);
    assert_false(get->answered);
    run_turn(f);
    assert_true(out_is(get, "4a\x1e"
                            "4b"));
    assert_int_equal(f->stats.packets_out, 3); /* two packets, one payload */
}

static void test_messages_in(void **state)
{
    fake_t *f = *state;
    tr_t *ws = new_tr(f);
    eio_session_t *s = open_session(f, 1, ws);
    packet(s, EIO_MESSAGE, "hi");
    assert_int_equal(f->messages, 1);
    assert_string_equal(f->last_msg, "hi");
    assert_int_equal(f->stats.packets_in, 1);
    packet(s, EIO_NOOP, ""); /* not from a client outside an upgrade */
    assert_ptr_equal(f->reason, eio_reason_parse_error);
    assert_int_equal(f->stats.drops_parse_error, 1);
}

/* Polling output over max_output_buffer ends the session (slow consumer). */
static void test_slow_consumer(void **state)
{
    fake_t *f = *state;
    f->cf.max_output_buffer = 64;
    eio_session_t *s = open_session(f, 0, NULL);
    char blob[40];
    memset(blob, 'x', sizeof(blob));
    assert_int_equal(eio_send_text(s, blob, sizeof(blob)), 0);
    assert_int_equal(eio_send_text(s, blob, sizeof(blob)), SIOC_EMSGSIZE);
    assert_int_equal(f->closes, 1);
    assert_ptr_equal(f->reason, eio_reason_slow_consumer);
    assert_int_equal(f->stats.drops_slow_consumer, 1);
    assert_int_equal(eio_send_text(s, "x", 1), SIOC_ECANCELED);
}

/* One pre-encoded message to a websocket and a polling session. */
static void test_send_msg(void **state)
{
    fake_t *f = *state;
    tr_t *ws = new_tr(f);
    tr_t *get = new_tr(f);
    eio_session_t *a = open_session(f, 1, ws);
    eio_session_t *b = open_session(f, 0, NULL);
    sioc_iov_t att = SIOC_LIT("\x01\x02");
    eio_msg_t *m = eio_msg_new("51-[\"e\",{\"_placeholder\":true,\"num\":0}]", 38, &att, 1);
    assert_non_null(m);
    assert_int_equal(eio_send_msg(a, m), 0);
    assert_int_equal(eio_send_msg(b, m), 0);
    eio_msg_unref(m);
    eio_session_poll_get(b, get);
    run_turn(f);
    assert_true(ws->out.len > 40);
    assert_int_equal((unsigned char)ws->out.base[0], 0x81); /* FIN + text */
    assert_true(out_is(get, "451-[\"e\",{\"_placeholder\":true,\"num\":0}]\x1e"
                            "bAQI="));
    assert_int_equal(f->stats.packets_out, 5); /* 2 x (text + attachment), one payload */
}

/* A handler's data_size: its state lives in the session's allocation, zeroed at open, after
 * the polling side of a polling session, intact through on_close and until the free. */
typedef struct {
    unsigned long long magic;
    unsigned char bytes[40];
} hdata_t;

static void d_on_open(eio_session_t *s)
{
    hdata_t *d = eio_session_data(s);
    assert_non_null(d);
    assert_int_equal(d->magic, 0);
    for (size_t i = 0; i < sizeof(d->bytes); i++)
        assert_int_equal(d->bytes[i], 0);
    d->magic = 0x5e55;
    memset(d->bytes, 0xab, sizeof(d->bytes));
    F->opened++;
}

static void d_on_close(eio_session_t *s, const char *reason)
{
    const hdata_t *d = eio_session_data(s);
    assert_int_equal(d->magic, 0x5e55);
    assert_int_equal(d->bytes[sizeof(d->bytes) - 1], 0xab);
    F->closes++;
    F->reason = reason;
}

static const eio_handler_t data_handler = {d_on_open, on_message, d_on_close,
                                           NULL,      NULL,       sizeof(hdata_t)};

static void test_handler_data(void **state)
{
    fake_t *f = *state;
    eio_session_table_t *outer = f->t;
    f->t = eio_session_table_new(&f->cf, &hooks, f, &data_handler, &f->stats);
    eio_session_t *a = open_session(f, 1, new_tr(f));
    eio_session_t *b = open_session(f, 0, NULL);
    assert_int_equal(f->opened, 2);
    assert_ptr_not_equal(eio_session_data(a), eio_session_data(b));
    /* Polling output goes to the polling side, not over the handler's data. */
    for (int i = 0; i < 50; i++)
        assert_int_equal(eio_send_text(b, "some polling output", 19), 0);
    assert_int_equal(((hdata_t *)eio_session_data(b))->magic, 0x5e55);
    eio_session_close(a, eio_reason_transport_close);
    eio_session_close(b, eio_reason_transport_close);
    assert_int_equal(f->closes, 2);
    run_turn(f);
    assert_int_equal(eio_session_table_count(f->t), 0);
    eio_session_table_free(f->t);
    f->t = outer;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handler_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping_on_interval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping_websocket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pong_resets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping_timeout_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping_timeout_polling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsolicited_pong, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_then_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_with_pending_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_bad_probe, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_while_polling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_close_answers_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zombie, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_websocket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_polling_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_messages_in, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_consumer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_msg, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
