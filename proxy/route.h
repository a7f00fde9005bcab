/*
 * route.h - the routing decision for one parsed request head (pure).
 *
 * Order (issue 5, PROTOCOL.md §6, FIELD-NOTES §1 rows 1-2):
 *  1. a request that carries `sid` belongs to a session and goes to the
 *     worker named by the sid (on standby or not), or nowhere: an unknown or
 *     dead worker gives ROUTE_ERR_SID_UNKNOWN (Engine.IO "Session ID
 *     unknown", so the client reconnects at once), never a guess;
 *  2. otherwise a valid affinity cookie that names a worker in rotation;
 *  3. otherwise a new session, placed among the workers in rotation by the
 *     placement policy: `hash`, rendezvous hashing of the client address
 *     (affinity.h), or `least-loaded`, power of two choices on the workers'
 *     loads (affinity_pick_least()), for deployments where every client
 *     shows the same address (behind a container engine's port forwarding,
 *     all new sessions would hash to one worker). A session, once placed,
 *     stays where its sid (and cookie) name it under either policy.
 * Each request is decided on its own, so one keep-alive connection can
 * carry requests of sessions on different workers.
 *
 * It also classifies the request: a websocket upgrade is valid only with
 * "Upgrade: websocket", version 13 and a proper key on a body-less GET
 * (FIELD-NOTES §5, upgrade smuggling); an Upgrade other than websocket is
 * not an upgrade (rewrite.c strips it); a chunked body is refused.
 *
 * Pure: no I/O, no allocation; safe from any thread (the least-loaded
 * placement draws its random value with rand_u64()).
 */
#ifndef SIOC_PROXY_ROUTE_H
#define SIOC_PROXY_ROUTE_H

#include <stddef.h>

#include "affinity.h"
#include "base/iov.h"
#include "http/http_parse.h"

/** The longest sid considered; longer ones name no session. */
#define ROUTE_SID_MAX 64

/** Placement of new sessions (--placement). */
enum route_placement {
    ROUTE_PLACE_HASH = 0,     /* "hash": rendezvous hashing of the client address */
    ROUTE_PLACE_LEAST_LOADED, /* "least-loaded": power of two choices on load */
};

/** Routing policy; all pointers borrowed for the life of the decision calls. */
typedef struct {
    const affinity_secret_t *secret;
    sioc_iov_t cookie_name; /* empty: no cookie affinity */
    const affinity_cidr_t *trusted;
    size_t ntrusted;
    int placement; /* enum route_placement */
} route_conf_t;

enum route_by { ROUTE_BY_NONE = 0, ROUTE_BY_SID, ROUTE_BY_COOKIE, ROUTE_BY_ADDRESS, ROUTE_BY_LOAD };
/** Number of enum route_by values (for per-value counters). */
#define ROUTE_BY_COUNT 5

/**
 * Parses a placement name ("hash" or "least-loaded"). Returns 0 and sets
 * *placement, or SIOC_EINVAL. Borrows name.
 */
int route_placement_parse(const char *name, int *placement);

/** The name of a placement ("hash", "least-loaded"). */
const char *route_placement_name(int placement);

enum route_error {
    ROUTE_OK = 0,
    ROUTE_ERR_SID_UNKNOWN, /* 400 {"code":1,"message":"Session ID unknown"}; raw 400 + close on
                              upgrades */
    ROUTE_ERR_NO_WORKER,   /* a new session but no worker in rotation: 503 */
    ROUTE_ERR_BAD_UPGRADE, /* an invalid websocket upgrade: 400 (426 for a wrong version) + close */
    ROUTE_ERR_CHUNKED,     /* chunked request body: 411 + close */
    ROUTE_ERR_NO_HOST,     /* HTTP/1.1 without Host (RFC 9112 §3.2): 400 + close */
};

typedef struct {
    int error;              /* enum route_error */
    int by;                 /* enum route_by when error == ROUTE_OK */
    int worker;             /* index into the nodes when error == ROUTE_OK, else -1 */
    int cookie_worker;      /* index of the live worker a valid cookie names, or -1 */
    int has_sid;            /* the query carries `sid` (the request belongs to a session) */
    int eio;                /* the query carries `EIO` (an Engine.IO request) */
    int upgrade;            /* a valid websocket upgrade: tunnel after the worker's 101 */
    int peer_trusted;       /* the socket peer is a trusted proxy */
    affinity_addr_t client; /* the client address used as the hashing key */
    int placement;          /* enum route_placement, from the conf (for route_replace()) */
    const char *reason;     /* static text for errors (logs), NULL when OK */
    int status;             /* HTTP status for errors, 0 when OK */
} route_t;

/**
 * Decides where `req` goes among the reachable workers nodes[0..n) (those on
 * standby only serve their sessions). `peer` is the socket peer. Fills *out (always; out->worker is
 * -1 on errors). Borrows everything for the call only.
 */
void route_decide(const route_conf_t *c, const http_request_t *req, const affinity_addr_t *peer,
                  const affinity_node_t *nodes, size_t n, route_t *out);

/**
 * Places a new session over nodes[0..n) by out->placement: rendezvous with
 * out->client (already computed), or by load. Used by route_decide() and
 * again after the chosen worker failed. Updates out->worker / out->by, or
 * sets ROUTE_ERR_NO_WORKER. Borrows all.
 */
void route_replace(const affinity_node_t *nodes, size_t n, route_t *out);

#endif
