/*
 * workers.h - the live worker set, health checks and upstream connections.
 *
 * Membership comes from the static --workers list and/or from discovery
 * (Redis, discovery.h): workers_sync() is given the complete discovered list
 * after each poll, so additions and removals are followed without restart.
 * A member is in rotation ("up": new sessions may be placed on it) once a
 * GET /health has passed; it leaves after --health-fall failed checks in a
 * row and comes back after --health-rise passed checks. Out of rotation it
 * is on standby: it keeps serving its own sessions, because a slow health
 * check under load is no reason to break them (and moving them all at once
 * would load the others). A member that cannot be connected to (refused or
 * timed out, by a request or a health check) is dead: out of rotation and
 * out of the routing view, so requests for its sessions get "Session ID
 * unknown" at once; a passed check revives it. The routing view
 * (workers_live()) lists the members that are not dead, sorted by id, with
 * the standby flag set on those out of rotation; it is rebuilt on every
 * change and route.c indexes into it.
 *
 * Departing: a discovered member that leaves the discovered set is not
 * forgotten at once, because a worker leaves the set when its drain starts
 * and keeps running while it closes its sessions: a long-polling session it
 * closed still needs one more poll to collect its close packet. So it stays
 * in the routing view on standby (no new session, no cookie placement; the
 * requests of its sessions still reach it) and is removed when a connect to
 * it fails (it has exited), when --health-fall checks in a row fail, or
 * --departing-grace after it left. Coming back into the set at the same
 * address ends the departure (a restart under the same id); at another
 * address the departing member is replaced. Static members (--workers) are
 * never departing: leaving the discovered set does not concern them.
 *
 * Upstream connections: upstream_acquire() hands out an idle keep-alive
 * connection of the worker's pool, or starts connecting a new one;
 * upstream_release() puts a clean connection back (at most --upstream-pool
 * idle per worker) or closes it. An idle connection that receives anything
 * (EOF included) is closed. Only one request is in flight on a connection.
 *
 * Lifetime: pworker_t is reference-counted; membership holds one reference,
 * each upstream connection, client exchange and tunnel holds one, so a
 * worker removed while requests are in flight stays valid until they end.
 * Loop thread only.
 */
#ifndef SIOC_PROXY_WORKERS_H
#define SIOC_PROXY_WORKERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "affinity.h"
#include "base/hmap.h"
#include "base/list.h"

struct proxy;
struct bufferevent;

typedef struct workers workers_t;
typedef struct upstream upstream_t;

/** One worker. Fields are read by front.c, tunnel.c and admin.c; written here only. */
typedef struct pworker {
    hmap_node_t node; /* in the membership table, by id */
    workers_t *ws;
    char id[AFFINITY_ID_MAX + 1];
    char addr[64]; /* host:port */
    struct sockaddr_storage sa;
    socklen_t salen;
    char cookie[AFFINITY_COOKIE_MAX + 1]; /* its affinity cookie value */
    char handoff_path[108]; /* its hand-off socket ("" = none: websockets are tunneled) */
    int handoff_fd;         /* connection to it (net/handoff.h), -1 until the first hand-off */
    /* Clients waiting for room in the worker's hand-off queue (front.c's), in arrival order,
     * and the write event on handoff_fd that lets them go (created by front.c, freed here). */
    sioc_list_t handoff_wait;
    struct event *handoff_ev;
    int refs;
    uint8_t member;      /* in the membership */
    uint8_t from_static; /* listed in --workers */
    uint8_t from_discovery;
    uint8_t up;            /* in rotation */
    uint8_t dead;          /* its last connect failed: out of the routing view */
    uint8_t departing;     /* left the discovered set: serves its sessions only, until gone */
    uint8_t fails, passes; /* consecutive health results */
    uint8_t hc_connected;  /* the health check in flight got connected */
    sioc_list_t idle;      /* idle upstream connections */
    size_t nidle;
    struct bufferevent *hc; /* health check in flight, or NULL */
    size_t hc_got;
    long long departed_ms; /* clock_ms() when it left the discovered set */
    /* counters for /metrics */
    unsigned long long requests, sessions, tunnels_open, upstream_failures, connects;
    unsigned long long sessions_mark; /* `sessions` at the last --health-interval tick */
    unsigned long long in_flight;     /* upstream connections handed out (requests in flight) */
} pworker_t;

/** A worker as discovery reports it (borrowed id; address already parsed). */
typedef struct {
    sioc_iov_t id;
    sioc_iov_t addr;    /* host:port text, for logs and /metrics */
    sioc_iov_t handoff; /* its hand-off socket path, or empty */
    struct sockaddr_storage sa;
    socklen_t salen;
} workers_member_t;

/** Creates the set with the static workers of p->conf and starts health checks. */
workers_t *workers_new(struct proxy *p);

/** Stops health checks, closes idle connections and frees the set; in-flight users keep their
 * references (their workers are freed when the last one is dropped). */
void workers_free(workers_t *ws);

/** Replaces the discovered members with m[0..n) (borrowed for the call); members no longer
 * listed start departing (see above). */
void workers_sync(workers_t *ws, const workers_member_t *m, size_t n);

/** The routing view: the members that are not dead, sorted by id, those out of rotation on
 * standby (valid until the next change). Each node's load is refreshed by the call: the
 * worker's requests in flight (a handshake weighs at once; a long-polling session mostly
 * holds one), its open websocket tunnels, and the sessions placed on it since the last
 * --health-interval tick. */
const affinity_node_t *workers_live(const workers_t *ws, size_t *n);

/** Number of members in rotation (new sessions can be placed; departing ones are not). */
size_t workers_up(const workers_t *ws);

/** Number of departing members (left the discovered set, still serving their sessions). */
size_t workers_departing(const workers_t *ws);

/** The worker behind index i of workers_live(). */
pworker_t *workers_live_at(const workers_t *ws, int i);

/** Number of members (up or not). */
size_t workers_count(const workers_t *ws);

/** Iterates over the members: start with *it = 0; returns NULL at the end. */
pworker_t *workers_next(const workers_t *ws, size_t *it);

/** Marks `w` dead now (a real request could not connect to it), until a check passes; a
 * departing `w` is removed instead (the caller's reference keeps it valid). */
void workers_mark_failed(pworker_t *w, const char *why);

/** Takes `w` out of rotation (it refused a new session) until the next passed check. */
void workers_refused(pworker_t *w, const char *why);

/** Reference counting; the last unref of a worker that left the membership frees it. */
void pworker_ref(pworker_t *w);
void pworker_unref(pworker_t *w);

/**
 * Hands the client socket `fd` (with its address and the bytes data[0..len) the worker
 * must read first) to `w` through its hand-off socket. Returns 0 when the worker holds it
 * (the caller closes its copy and forgets the client), SIOC_EINVAL when `w` announced no
 * hand-off path, or another negative -errno (the caller tunnels the client instead).
 * Borrows everything.
 */
int pworker_handoff(pworker_t *w, int fd, const struct sockaddr *peer, const void *data,
                    size_t len);

/** Closes every idle upstream connection (graceful stop). */
void workers_close_idle(workers_t *ws);

/**
 * Gets a connection to `w`. *ready = 1: an idle pooled connection, usable
 * now; *ready = 0: a new connection whose outcome arrives on the callbacks
 * the caller installs (BEV_EVENT_CONNECTED, or an error/timeout: then call
 * upstream_connect_failed()). Returns NULL when no socket could be made
 * (*err = -errno). The upstream holds a reference on w.
 */
upstream_t *upstream_acquire(pworker_t *w, int *ready, int *err);

/** The connection's bufferevent (owned by the upstream). */
struct bufferevent *upstream_bev(const upstream_t *u);
pworker_t *upstream_worker(const upstream_t *u);
/** Whether it came from the pool (a failure before the first response byte may be a stale
 * keep-alive connection, worth one retry on a fresh one). */
int upstream_reused(const upstream_t *u);
/** Call on BEV_EVENT_CONNECTED: clears the connect timeout, counts the connect. */
void upstream_connected(upstream_t *u);
/** Call when connecting failed: marks the worker dead and frees u. */
void upstream_connect_failed(upstream_t *u, const char *why);

/**
 * Takes the bufferevent out of `u` for a tunnel (the caller owns it and must
 * hold its own reference on the worker) and frees u. Returns the bufferevent.
 */
struct bufferevent *upstream_detach(upstream_t *u);

/**
 * Gives the connection back: to the worker's idle pool when `reusable`, the
 * worker is reachable and the pool has room, else closes it. u is invalid
 * afterwards.
 */
void upstream_release(upstream_t *u, int reusable);

#endif
