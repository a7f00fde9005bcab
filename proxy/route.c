/*
 * route.c - routing decision for a request head (route.h).
 */
#include "route.h"

#include <string.h>

#include "base/err.h"
#include "base/rand.h"
#include "http/http_query.h"
#include "ws/ws_handshake.h"

#define MAX_XFF_FIELDS 16

static void fail(route_t *out, int error, int status, const char *reason)
{
    out->error = error;
    out->status = status;
    out->reason = reason;
    out->worker = -1;
    out->by = ROUTE_BY_NONE;
}

static void classify_upgrade(const http_request_t *req, route_t *out)
{
    if (!req->upgrade || !iov_eq_ci(req->upgrade_proto, SIOC_LIT("websocket")))
        return; /* not an upgrade, or not one we allow: forwarded without Upgrade */
    const char *reason = NULL;
    if (ws_handshake_validate(req->method, req->minor_version, req->upgrade_proto, 1,
                              req->sec_websocket_key, req->sec_websocket_version, &reason) != 0) {
        fail(out, ROUTE_ERR_BAD_UPGRADE, reason == ws_handshake_err_version ? 426 : 400, reason);
        return;
    }
    if (req->content_length > 0) {
        fail(out, ROUTE_ERR_BAD_UPGRADE, 400, "upgrade request with a body");
        return;
    }
    out->upgrade = 1;
}

void route_decide(const route_conf_t *c, const http_request_t *req, const affinity_addr_t *peer,
                  const affinity_node_t *nodes, size_t n, route_t *out)
{
    memset(out, 0, sizeof(*out));
    out->worker = -1;
    out->cookie_worker = -1;
    out->placement = c->placement;
    out->peer_trusted = affinity_cidr_match(c->trusted, c->ntrusted, peer);

    sioc_iov_t xff[MAX_XFF_FIELDS];
    size_t nxff = 0;
    if (out->peer_trusted) {
        /* The last MAX_XFF_FIELDS lines: the rightmost hops are the ones our trusted
         * balancers appended; a client may send any number of lines before them. */
        size_t pos = 0;
        int i;
        while ((i = http_header_find(req->headers, req->num_headers, SIOC_LIT("x-forwarded-for"),
                                     &pos)) >= 0) {
            if (nxff == MAX_XFF_FIELDS) {
                memmove(xff, xff + 1, (MAX_XFF_FIELDS - 1) * sizeof(xff[0]));
                nxff--;
            }
            xff[nxff++] = req->headers[i].value;
        }
    }
    affinity_client_addr(peer, c->trusted, c->ntrusted, xff, nxff, req->x_real_ip, &out->client);

    sioc_iov_t v;
    out->eio = http_query_get(req->query, "EIO", &v);
    if (req->minor_version >= 1 && req->host.base == NULL) {
        fail(out, ROUTE_ERR_NO_HOST, 400, "HTTP/1.1 request without Host");
        return;
    }
    if (req->chunked) {
        fail(out, ROUTE_ERR_CHUNKED, 411, "chunked request body");
        return;
    }
    classify_upgrade(req, out);
    if (out->error)
        return;

    sioc_iov_t raw_sid;
    if (http_query_get(req->query, "sid", &raw_sid)) {
        out->has_sid = 1;
        char sid[ROUTE_SID_MAX];
        int len = http_pct_decode(raw_sid, sid, sizeof(sid), 1);
        sioc_iov_t id;
        int w = -1;
        if (len > 0 && affinity_sid_worker(iov_make(sid, (size_t)len), &id))
            w = affinity_find(nodes, n, id);
        if (w < 0) {
            fail(out, ROUTE_ERR_SID_UNKNOWN, 400, "Session ID unknown");
            return;
        }
        out->worker = w;
        out->by = ROUTE_BY_SID;
    }

    sioc_iov_t cv, id;
    if (c->cookie_name.len > 0 && req->cookie.len > 0 && c->cookie_name.len < 128) {
        char name[128];
        memcpy(name, c->cookie_name.base, c->cookie_name.len);
        name[c->cookie_name.len] = '\0';
        if (http_cookie_get(req->cookie, name, &cv) && affinity_cookie_check(c->secret, cv, &id)) {
            int w = affinity_find(nodes, n, id);
            out->cookie_worker = (w >= 0 && !nodes[w].standby) ? w : -1;
        }
    }
    if (out->has_sid)
        return;
    if (out->cookie_worker >= 0) {
        out->worker = out->cookie_worker;
        out->by = ROUTE_BY_COOKIE;
        return;
    }
    route_replace(nodes, n, out);
}

void route_replace(const affinity_node_t *nodes, size_t n, route_t *out)
{
    int by_load = out->placement == ROUTE_PLACE_LEAST_LOADED;
    int w = by_load ? affinity_pick_least(nodes, n, rand_u64())
                    : affinity_pick(nodes, n, affinity_key_hash(affinity_addr_key(&out->client)));
    if (w < 0) {
        fail(out, ROUTE_ERR_NO_WORKER, 503, "no worker in rotation");
        return;
    }
    out->worker = w;
    out->by = by_load ? ROUTE_BY_LOAD : ROUTE_BY_ADDRESS;
}

int route_placement_parse(const char *name, int *placement)
{
    if (strcmp(name, "hash") == 0)
        *placement = ROUTE_PLACE_HASH;
    else if (strcmp(name, "least-loaded") == 0)
        *placement = ROUTE_PLACE_LEAST_LOADED;
    else
        return SIOC_EINVAL;
    return 0;
}

const char *route_placement_name(int placement)
{
    return placement == ROUTE_PLACE_LEAST_LOADED ? "least-loaded" : "hash";
}
