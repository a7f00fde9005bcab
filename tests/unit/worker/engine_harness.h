/*
 * engine_harness.h - a test bench for the engine's files (client.c, polling.c,
 * websocket.c): a real loop, a hand-built struct engine with a session table whose hooks
 * are the real transports' and a fake clock, and clients that are one end of a socketpair
 * (the test reads and writes the other end). Included by one test file each; everything
 * is static.
 */
#ifndef SIOC_TESTS_UNIT_WORKER_ENGINE_HARNESS_H
#define SIOC_TESTS_UNIT_WORKER_ENGINE_HARNESS_H

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "client.h"
#include "net/conn.h"
#include "polling.h"
#include "websocket.h"

#define H_MAX_CLIENTS 4

typedef struct h {
    net_loop_t *loop;
    worker_t w;
    worker_config_t conf;
    struct engine e;
    eio_session_config_t scf;
    long long now;
    client_t *cl[H_MAX_CLIENTS];
    int peer[H_MAX_CLIENTS];
    int n;
    int closed; /* clients freed */
    int opened, messages, closes;
    const char *reason;
    char last_msg[128];
} h_t;

static h_t *H;

static long long hh_now(void *data)
{
    return ((h_t *)data)->now;
}

static void hh_arm(long long delay_ms, void *data)
{
    (void)delay_ms;
    (void)data;
}

static void hh_defer(net_deferred_t *d, void *data)
{
    net_loop_defer(((h_t *)data)->loop, d);
}

static void hh_cancel(net_deferred_t *d, void *data)
{
    (void)data;
    net_loop_cancel(d);
}

static void hh_peer_release(void *peer, void *data)
{
    (void)data;
    client_addr_release(peer);
}

static const eio_session_hooks_t hh_hooks = {
    .now = hh_now,
    .arm = hh_arm,
    .defer = hh_defer,
    .cancel = hh_cancel,
    .get_answer = polling_answer,
    .ws_frame = websocket_frame,
    .ws_shared = websocket_shared,
    .ws_writable = websocket_writable,
    .ws_end = websocket_end,
    .peer_release = hh_peer_release,
};

static void hh_on_open(eio_session_t *s)
{
    (void)s;
    H->opened++;
}

static void hh_on_message(eio_session_t *s, const char *data, size_t len, int binary)
{
    (void)s;
    (void)binary;
    H->messages++;
    snprintf(H->last_msg, sizeof(H->last_msg), "%.*s", (int)len, data);
}

static void hh_on_close(eio_session_t *s, const char *reason)
{
    (void)s;
    H->closes++;
    H->reason = reason;
}

static const eio_handler_t hh_handler = {hh_on_open, hh_on_message, hh_on_close, NULL, NULL, 0};

static size_t hh_on_data(conn_t *c, uint8_t *buf, size_t len)
{
    (void)c;
    (void)buf;
    return len;
}

static void hh_on_close_conn(conn_t *c, int reason)
{
    (void)reason;
    client_t *cl = conn_data(c);
    for (int i = 0; i < H->n; i++)
        if (H->cl[i] == cl)
            H->cl[i] = NULL;
    if (cl->mode == CLIENT_HELD_GET && cl->session != NULL) {
        eio_session_t *s = cl->session;
        cl->session = NULL;
        eio_session_get_lost(s);
    }
    H->closed++;
    client_free(cl);
}

static const conn_hooks_t hh_conn_hooks = {.on_data = hh_on_data, .on_close = hh_on_close_conn};

static void h_turn(h_t *h)
{
    for (int i = 0; i < 3; i++)
        event_base_loop(net_loop_base(h->loop), EVLOOP_NONBLOCK);
}

/* A new client on the port, index returned. */
static int h_client(h_t *h)
{
    assert_true(h->n < H_MAX_CLIENTS);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    addrcount_entry_t *ip = addrcount_acquire(h->e.per_ip, "10.0.0.1", 8, 0);
    client_t *cl = xcalloc(1, sizeof(*cl));
    cl->e = &h->e;
    cl->ip = ip;
    cl->keep_alive = 1;
    list_insert_tail(&h->e.clients, &cl->link);
    h->e.conns++;
    cl->conn = conn_new(h->loop, sv[0], &hh_conn_hooks, cl);
    h->cl[h->n] = cl;
    h->peer[h->n] = sv[1];
    return h->n++;
}

static int h_setup(void **state)
{
    h_t *h = calloc(1, sizeof(*h));
    H = h;
    signal(SIGPIPE, SIG_IGN); /* as the worker: writes to a closed peer fail */
    h->now = 1000000;
    h->loop = net_loop_new();
    h->conf.max_http_buffer_size = 1000000;
    h->conf.max_output_buffer = 1 << 20;
    h->w.loop = h->loop;
    h->w.conf = &h->conf;
    strcpy(h->w.id, "w1");
    h->e.w = &h->w;
    h->e.conf = &h->conf;
    h->e.stats = &h->w.stats;
    h->e.per_ip = addrcount_new();
    list_init(&h->e.clients);
    list_init(&h->e.ws_clients);
    h->scf = (eio_session_config_t){.ping_interval = 25000,
                                    .ping_timeout = 20000,
                                    .upgrade_timeout = 10000,
                                    .max_output_buffer = 1 << 20,
                                    .max_payload = 1000000,
                                    .sid_prefix = h->w.id,
                                    .owner = &h->w};
    h->e.sessions = eio_session_table_new(&h->scf, &hh_hooks, h, &hh_handler, &h->w.stats.eio);
    *state = h;
    return 0;
}

static int h_teardown(void **state)
{
    h_t *h = *state;
    eio_session_table_shutdown(h->e.sessions);
    for (int i = 0; i < h->n; i++) {
        if (h->cl[i] != NULL)
            conn_close(h->cl[i]->conn, 0);
        close(h->peer[i]);
    }
    h_turn(h);
    assert_int_equal(h->e.conns, 0); /* every client freed, websockets included */
    assert_int_equal(addrcount_size(h->e.per_ip), 0);
    assert_int_equal(eio_session_table_count(h->e.sessions), 0);
    net_loop_free(h->loop);
    eio_session_table_free(h->e.sessions);
    addrcount_free(h->e.per_ip);
    free(h);
    H = NULL;
    return 0;
}

/* What peer `i` received so far (static storage; `*len` bytes, NUL-terminated). */
static const char *h_read(h_t *h, int i, size_t *len)
{
    static char buf[8192];
    h_turn(h);
    ssize_t n = read(h->peer[i], buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    if (len != NULL)
        *len = n > 0 ? (size_t)n : 0;
    return buf;
}

/* Parses a request head (static header storage: one request at a time). */
static void h_request(const char *raw, http_request_t *req)
{
    static http_header_t headers[32];
    memset(req, 0, sizeof(*req));
    req->headers = headers;
    req->num_headers = 32;
    http_limits_t lim = {16384, 32};
    const char *reason = NULL;
    assert_true(http_parse_request(raw, strlen(raw), req, &lim, &reason) > 0);
}

#endif
