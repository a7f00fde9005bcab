/*
 * worker.h - the sioc-worker process context.
 *
 * One worker_t per process, one libevent loop, reached from every object
 * through a back-pointer (no globals). It holds the engine (the client port and the
 * Engine.IO sessions, opaque: engine.h), the Socket.IO namespaces, the adapter and the
 * counters, which the modules bump and admin.c reads. Loop thread only.
 */
#ifndef SIOC_WORKER_WORKER_H
#define SIOC_WORKER_WORKER_H

#include <stddef.h>

#include "config.h"
#include "eio_session.h"
#include "net/loop.h"

struct auth;
struct engine;
struct sio_server;
struct adapter;
struct admin_ui;

/** Counters exported on /metrics: the HTTP front's and Socket.IO's here, the sessions' in
 * `eio` (eio_session.h). */
typedef struct worker_stats {
    unsigned long long http_requests, http_errors;
    unsigned long long sio_events_in, sio_events_out, broadcasts;
    unsigned long long sockets_open, sockets_total;
    unsigned long long auth_failures;
    unsigned long long drops_too_large, drops_rate_limited, conn_refused_limit;
    unsigned long long sse_clients, sse_total, sse_events_sent, sse_replayed, sse_resets,
        sse_refused;
    /* Polling responses compressed: count, bytes before / after. */
    unsigned long long http_compressed, http_compressed_in, http_compressed_out;
    eio_session_stats_t eio;
} worker_stats_t;

typedef struct worker {
    const worker_config_t *conf;
    net_loop_t *loop;
    char id[17];               /* worker identity, also the sid prefix */
    struct engine *engine;     /* the client port and its sessions */
    struct auth *auth;         /* NULL when no JWT is configured */
    struct sio_server *sio;    /* NULL in plain Engine.IO mode */
    struct adapter *adapter;   /* NULL without REDIS_URL (in-memory adapter) */
    struct admin_ui *admin_ui; /* NULL unless --admin-ui */
    int plain_eio;             /* echo app on a non-socket.io path: no Socket.IO layer */
    int draining;              /* SIGTERM received */
    int ready;                 /* adapter subscribed (always 1 with the in-memory adapter) */
    worker_stats_t stats;
} worker_t;

#endif
