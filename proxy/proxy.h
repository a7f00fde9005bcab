/*
 * proxy.h - the sioc-proxy process context.
 *
 * One proxy_t per process, one libevent loop, reached from every object
 * through a back-pointer (no globals). It owns the client listener, the TLS
 * context, the worker set, the discovery poller, the admin endpoint, the
 * per-address connection counts and the counters exported on /metrics.
 * Loop thread only.
 */
#ifndef SIOC_PROXY_PROXY_H
#define SIOC_PROXY_PROXY_H

#include <stddef.h>

#include "affinity.h"
#include "base/addrcount.h"
#include "base/list.h"
#include "config.h"
#include "guard.h"
#include "net/loop.h"
#include "route.h"

struct event_base;
struct net_listener;
struct net_tls;
struct workers;
struct discovery;
struct admin;

/** Errors counted by kind (label values of sioc_proxy_errors_total). */
enum proxy_err {
    PERR_BAD_REQUEST = 0,   /* malformed head: 400 */
    PERR_HEAD_TOO_LARGE,    /* 431 */
    PERR_HEAD_TIMEOUT,      /* 408 */
    PERR_LENGTH_REQUIRED,   /* chunked request: 411 */
    PERR_BAD_UPGRADE,       /* invalid websocket upgrade: 400 / 426 */
    PERR_SID_UNKNOWN,       /* 400 Session ID unknown */
    PERR_NO_WORKER,         /* 503 */
    PERR_HANDSHAKE_RATE,    /* 503 Retry-After */
    PERR_BAD_GATEWAY,       /* worker closed or answered garbage: 502 */
    PERR_GATEWAY_TIMEOUT,   /* 504 */
    PERR_CLIENT_ABORT,      /* client went away with a request in flight */
    PERR_TLS,               /* TLS handshake or record error */
    PERR_BAD_ACCEPT,        /* 101 with a wrong Sec-WebSocket-Accept */
    PERR_HANDSHAKE_RATE_IP, /* 429 Retry-After: one address over its rate */
    PERR_COUNT
};

/** Outcomes of a websocket upgrade's hand-off (label values of sioc_proxy_handoff_total). */
enum proxy_handoff {
    PHANDOFF_OK = 0,          /* the worker holds the client; the proxy stepped out */
    PHANDOFF_FALLBACK_TLS,    /* the proxy terminates TLS: tunneled */
    PHANDOFF_FALLBACK_REMOTE, /* the worker announced no hand-off path: tunneled */
    PHANDOFF_FAILED,          /* connect / sendmsg failed, or output pending: tunneled */
    PHANDOFF_COUNT
};

/** Label values for enum proxy_handoff, in order. */
extern const char *const proxy_handoff_names[PHANDOFF_COUNT];

/** Label values for enum proxy_err, in order. */
extern const char *const proxy_err_names[PERR_COUNT];

typedef struct proxy_stats {
    unsigned long long conns_total, conns_open;
    unsigned long long refused_total, refused_per_ip; /* closed at accept by a limit */
    unsigned long long requests;
    unsigned long long responses[6];        /* by status class: [1]=1xx .. [5]=5xx, [0]=other */
    unsigned long long bytes_in, bytes_out; /* client side */
    unsigned long long up_bytes_in, up_bytes_out; /* worker side */
    unsigned long long tunnels_open, tunnels_total;
    unsigned long long routed[ROUTE_BY_COUNT]; /* enum route_by */
    unsigned long long errors[PERR_COUNT];
    unsigned long long upstream_connect_failures, upstream_resets, upstream_retries;
    unsigned long long redispatched;            /* new sessions moved after a worker's 503 */
    unsigned long long handoff[PHANDOFF_COUNT]; /* enum proxy_handoff */
    unsigned long long handoff_waits;           /* hand-offs that waited for the worker's queue */
} proxy_stats_t;

typedef struct proxy {
    const proxy_config_t *conf;
    net_loop_t *loop;
    struct event_base *base;
    struct net_listener *listener;
    struct net_tls *tls; /* NULL: plain HTTP */
    struct workers *workers;
    struct discovery *discovery; /* NULL without --redis-url */
    struct admin *admin;         /* NULL without --admin-port */
    affinity_secret_t secret;
    affinity_cidr_t *trusted;
    size_t ntrusted;
    route_conf_t route;
    guard_bucket_t handshakes;
    guard_rates_t handshakes_per_ip;
    addrcount_t *per_ip; /* open client connections per peer address (guard.h) */
    sioc_list_t clients; /* every client_t (front.c) */
    sioc_list_t tunnels; /* every tunnel_t (tunnel.c) */
    size_t nclients, ntunnels;
    int draining;
    int defer_accept; /* the listener has TCP_DEFER_ACCEPT: read a new client at once */
    proxy_stats_t stats;
} proxy_t;

#endif
