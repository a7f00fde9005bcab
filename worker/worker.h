/*
 * worker.h - the sioc-worker process context.
 *
 * One worker_t per process, one libevent loop, reached from every object
 * through a back-pointer (no globals). It owns the listener, the Engine.IO
 * session table, the Socket.IO namespaces, the adapter and the counters.
 * Loop thread only.
 */
#ifndef SIOC_WORKER_WORKER_H
#define SIOC_WORKER_WORKER_H

#include <stddef.h>

#include "base/hmap.h"
#include "base/list.h"
#include "config.h"
#include "net/loop.h"

struct net_listener;
struct auth;
struct sio_server;
struct adapter;
struct event;

/** Counters exported on /metrics. */
typedef struct worker_stats {
    unsigned long long http_requests, http_errors;
    unsigned long long sessions_total, sessions_open;
    unsigned long long ws_upgrades, ws_sessions_open, polling_sessions_open;
    unsigned long long eio_packets_in, eio_packets_out;
    unsigned long long sio_events_in, sio_events_out, broadcasts;
    unsigned long long sockets_open, sockets_total;
    unsigned long long auth_failures;
    unsigned long long drops_slow_consumer, drops_too_large, drops_rate_limited;
    unsigned long long drops_parse_error, drops_ping_timeout, conn_refused_limit;
} worker_stats_t;

typedef struct worker {
    const worker_config_t *conf;
    net_loop_t *loop;
    struct net_listener *listener;
    char id[17];            /* worker identity, also the sid prefix */
    hmap_t sessions;        /* Engine.IO sessions by sid */
    hmap_t per_ip;          /* open connections per client address */
    size_t conns;           /* open client connections */
    sioc_list_t clients;    /* HTTP-mode client connections (scanned for timeouts) */
    sioc_list_t ws_clients; /* websocket client connections */
    struct event *sweep;
    sioc_list_t ping_fifo;   /* sessions waiting for their next ping, by due time */
    sioc_list_t pong_fifo;   /* sessions waiting for a pong, by due time */
    sioc_list_t zombie_fifo; /* closed polling sessions kept for their next poll */
    size_t zombies;
    struct event *hb_timer;
    long long hb_armed_due;
    int hb_armed;
    struct auth *auth;          /* NULL when no JWT is configured */
    struct sio_server *sio;     /* NULL in plain Engine.IO mode */
    struct adapter *adapter;    /* NULL without REDIS_URL (in-memory adapter) */
    struct web *web;            /* the client bundle, chat page, dev token (web.h) */
    int plain_eio;              /* echo app on a non-socket.io path: no Socket.IO layer */
    int draining;               /* SIGTERM received */
    int ready;                  /* adapter subscribed (always 1 with the in-memory adapter) */
    sioc_list_t handshake_fifo; /* sessions without a namespace yet (connect timeout) */
    struct event *connect_timer;
    worker_stats_t stats;
} worker_t;

#endif
