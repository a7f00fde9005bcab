/*
 * workers.c - worker set, health checks, upstream pool (workers.h).
 *
 * Health checks are plain "GET /health HTTP/1.1" on a fresh connection with
 * "Connection: close", bounded by --health-timeout through the
 * bufferevent's read/write timeouts; one tick of --health-interval starts a
 * check on every member that has none in flight, and a new member is
 * checked at once.
 *
 * A departing member (workers.h) goes on being checked: a passed check keeps
 * it, but never brings it into rotation while it is departing; a check that
 * cannot connect, or --health-fall failed checks in a row, remove it, and
 * the tick removes it --departing-grace after it left. Removal drops the
 * membership reference only: requests in flight to it finish.
 */
#include "workers.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "http/http_parse.h"
#include "net/connect.h"
#include "net/handoff.h"
#include "proxy.h"

#define UPSTREAM_MAX_READ 65536
/* Below the workers' 60 s keep-alive timeout, so the pool rarely holds a
 * connection the worker is about to close. */
#define POOL_IDLE_MAX_MS 30000

struct workers {
    struct proxy *p;
    hmap_t members;
    affinity_node_t *live;
    pworker_t **live_w;
    size_t nlive, live_cap;
    size_t nup;
    size_t ndeparting;
    struct event *tick;
};

struct upstream {
    struct bufferevent *bev;
    pworker_t *w;
    sioc_list_t link; /* in w->idle while pooled */
    long long idle_since;
    uint8_t reused;
    uint8_t busy; /* handed out: counted in w->in_flight */
};

static void hc_start(pworker_t *w);
static void hc_stop(pworker_t *w);

/* ------------------------------------------------------------------ */
/* membership and the routing view                                     */

static int cmp_worker(const void *a, const void *b)
{
    const pworker_t *x = *(pworker_t *const *)a, *y = *(pworker_t *const *)b;
    return strcmp(x->id, y->id);
}

static void rebuild(workers_t *ws)
{
    size_t n = 0;
    hmap_node_t *hn;
    for (hmap_iter_t it = hmap_iter(&ws->members); (hn = hmap_next(&it)) != NULL;)
        n++;
    if (n > ws->live_cap) {
        ws->live_cap = n * 2;
        ws->live = xrealloc(ws->live, ws->live_cap * sizeof(*ws->live));
        ws->live_w = xrealloc(ws->live_w, ws->live_cap * sizeof(*ws->live_w));
    }
    ws->nlive = 0;
    ws->nup = 0;
    ws->ndeparting = 0;
    for (hmap_iter_t it = hmap_iter(&ws->members); (hn = hmap_next(&it)) != NULL;) {
        pworker_t *w = container_of(hn, pworker_t, node);
        if (!w->dead)
            ws->live_w[ws->nlive++] = w;
        ws->ndeparting += w->departing;
    }
    qsort(ws->live_w, ws->nlive, sizeof(*ws->live_w), cmp_worker);
    for (size_t i = 0; i < ws->nlive; i++) {
        sioc_iov_t id = iov_make(ws->live_w[i]->id, strlen(ws->live_w[i]->id));
        ws->live[i].id = id;
        ws->live[i].seed = affinity_seed(id);
        /* A departing member is on standby whatever its health: it serves the
         * sessions it has and takes no new one. */
        int rotation = ws->live_w[i]->up && !ws->live_w[i]->departing;
        ws->live[i].standby = !rotation;
        ws->nup += (size_t)rotation;
    }
}

size_t workers_up(const workers_t *ws)
{
    return ws->nup;
}

size_t workers_departing(const workers_t *ws)
{
    return ws->ndeparting;
}

const affinity_node_t *workers_live(const workers_t *ws, size_t *n)
{
    for (size_t i = 0; i < ws->nlive; i++) {
        const pworker_t *w = ws->live_w[i];
        unsigned long long load = w->in_flight + w->tunnels_open + (w->sessions - w->sessions_mark);
        ws->live[i].load = load > UINT32_MAX ? UINT32_MAX : (uint32_t)load;
    }
    *n = ws->nlive;
    return ws->live;
}

pworker_t *workers_live_at(const workers_t *ws, int i)
{
    return (i >= 0 && (size_t)i < ws->nlive) ? ws->live_w[i] : NULL;
}

size_t workers_count(const workers_t *ws)
{
    return ws->members.count;
}

pworker_t *workers_next(const workers_t *ws, size_t *it)
{
    /* Walks the sorted view of all members; rebuilt lazily from the table. */
    size_t k = 0;
    hmap_node_t *hn;
    for (hmap_iter_t i = hmap_iter(&ws->members); (hn = hmap_next(&i)) != NULL; k++)
        if (k == *it) {
            (*it)++;
            return container_of(hn, pworker_t, node);
        }
    return NULL;
}

void pworker_ref(pworker_t *w)
{
    w->refs++;
}

void pworker_unref(pworker_t *w)
{
    if (--w->refs > 0)
        return;
    if (w->handoff_ev != NULL)
        event_free(w->handoff_ev);
    if (w->handoff_fd >= 0)
        close(w->handoff_fd);
    free(w);
}

static void set_handoff(pworker_t *w, sioc_iov_t path)
{
    if (iov_eq_str(path, w->handoff_path))
        return;
    if (w->handoff_fd >= 0)
        close(w->handoff_fd);
    w->handoff_fd = -1;
    size_t n = path.len < sizeof(w->handoff_path) ? path.len : 0;
    memcpy(w->handoff_path, path.base, n);
    w->handoff_path[n] = '\0';
    if (n > 0)
        log_info("worker %s (%s) takes websocket clients through %s", w->id, w->addr,
                 w->handoff_path);
}

int pworker_handoff(pworker_t *w, int fd, const struct sockaddr *peer, const void *data, size_t len)
{
    if (w->handoff_path[0] == '\0')
        return SIOC_EINVAL;
    return handoff_send(&w->handoff_fd, w->handoff_path, fd, peer, data, len);
}

static void pool_close_all(pworker_t *w)
{
    while (!list_empty(&w->idle)) {
        upstream_t *u = container_of(w->idle.next, upstream_t, link);
        list_remove(&u->link);
        w->nidle--;
        upstream_release(u, 0);
    }
}

static void set_up(pworker_t *w, int up, const char *why)
{
    if (w->up == up)
        return;
    w->up = (uint8_t)up;
    if (up)
        log_info("worker %s (%s) in rotation", w->id, w->addr);
    else
        log_warn("worker %s (%s) out of rotation: %s", w->id, w->addr, why);
    rebuild(w->ws);
}

static void set_dead(pworker_t *w, int dead, const char *why)
{
    if (w->dead == dead)
        return;
    w->dead = (uint8_t)dead;
    if (dead) {
        log_warn("worker %s (%s) unreachable: %s; its sessions are gone", w->id, w->addr, why);
        pool_close_all(w);
    } else {
        log_info("worker %s (%s) reachable again", w->id, w->addr);
    }
    rebuild(w->ws);
}

static pworker_t *add_member(workers_t *ws, sioc_iov_t id, const char *addr, sioc_iov_t handoff,
                             const struct sockaddr *sa, socklen_t salen)
{
    pworker_t *w = xcalloc(1, sizeof(*w));
    w->ws = ws;
    memcpy(w->id, id.base, id.len);
    snprintf(w->addr, sizeof(w->addr), "%s", addr);
    w->handoff_fd = -1;
    list_init(&w->handoff_wait);
    set_handoff(w, handoff);
    memcpy(&w->sa, sa, salen);
    w->salen = salen;
    affinity_cookie_make(&ws->p->secret, id, w->cookie, sizeof(w->cookie));
    list_init(&w->idle);
    w->refs = 1;
    w->member = 1;
    w->node.key = iov_make(w->id, id.len);
    hmap_put(&ws->members, &w->node);
    log_info("worker %s (%s) joined", w->id, w->addr);
    hc_start(w);
    return w;
}

/* Drops the membership reference: `w` may be freed here unless the caller holds one. */
static void remove_member(workers_t *ws, pworker_t *w, const char *why)
{
    hmap_del(&ws->members, &w->node);
    w->member = 0;
    hc_stop(w);
    pool_close_all(w);
    w->up = 0;
    w->departing = 0;
    rebuild(ws);
    log_info("worker %s (%s) left: %s", w->id, w->addr, why);
    pworker_unref(w);
}

/* `w` is no longer in the discovered set: its drain has started (or its
 * heartbeats stopped). Its sessions keep reaching it until it is gone. */
static void depart(workers_t *ws, pworker_t *w)
{
    if (w->dead) {
        remove_member(ws, w, "not in the discovered set and unreachable");
        return;
    }
    if (ws->p->conf->departing_grace == 0) {
        remove_member(ws, w, "not in the discovered set");
        return;
    }
    w->departing = 1;
    w->departed_ms = clock_ms();
    log_info("worker %s (%s) departing: not in the discovered set; it serves its sessions only, "
             "until it stops answering or for %ld ms",
             w->id, w->addr, ws->p->conf->departing_grace);
    rebuild(ws);
}

static pworker_t *find(workers_t *ws, sioc_iov_t id)
{
    hmap_node_t *hn = hmap_get(&ws->members, id);
    return hn ? container_of(hn, pworker_t, node) : NULL;
}

static int same_addr(const pworker_t *w, const struct sockaddr *sa, socklen_t salen)
{
    return w->salen == salen && memcmp(&w->sa, sa, salen) == 0;
}

void workers_sync(workers_t *ws, const workers_member_t *m, size_t n)
{
    /* Discovered members that are gone start departing; those that moved are replaced. */
    hmap_node_t *hn;
    for (hmap_iter_t it = hmap_iter(&ws->members); (hn = hmap_next(&it)) != NULL;) {
        pworker_t *w = container_of(hn, pworker_t, node);
        if (!w->from_discovery)
            continue;
        int listed = 0, keep = 0;
        for (size_t i = 0; i < n && !keep; i++) {
            int same_id = iov_eq_str(m[i].id, w->id);
            listed |= same_id;
            keep = same_id && same_addr(w, (const struct sockaddr *)&m[i].sa, m[i].salen);
        }
        if (keep)
            continue;
        w->from_discovery = 0;
        if (w->from_static)
            continue;
        if (listed)
            remove_member(ws, w, "its id moved to another address");
        else
            depart(ws, w);
    }
    for (size_t i = 0; i < n; i++) {
        pworker_t *w = find(ws, m[i].id);
        if (w != NULL && w->departing &&
            !same_addr(w, (const struct sockaddr *)&m[i].sa, m[i].salen)) {
            /* Its id is announced from another address now: the sessions of the
             * departing process cannot be told from the new one's. */
            remove_member(ws, w, "its id moved to another address");
            w = NULL;
        }
        if (w != NULL && w->departing) {
            w->departing = 0;
            log_info("worker %s (%s) back in the discovered set", w->id, w->addr);
            rebuild(ws);
        }
        if (w != NULL) {
            if (!same_addr(w, (const struct sockaddr *)&m[i].sa, m[i].salen)) {
                static long long last;
                if (log_ratelimited(&last))
                    log_warn("worker id %s announced at %.*s but configured at %s: ignored", w->id,
                             (int)m[i].addr.len, m[i].addr.base, w->addr);
                continue;
            }
            w->from_discovery = 1;
            if (!w->from_static)
                set_handoff(w, m[i].handoff);
            continue;
        }
        char addr[64];
        snprintf(addr, sizeof(addr), "%.*s", (int)m[i].addr.len, m[i].addr.base);
        w = add_member(ws, m[i].id, addr, m[i].handoff, (const struct sockaddr *)&m[i].sa,
                       m[i].salen);
        w->from_discovery = 1;
    }
}

void workers_mark_failed(pworker_t *w, const char *why)
{
    w->upstream_failures++;
    w->passes = 0;
    w->fails = (uint8_t)w->ws->p->conf->health_fall;
    if (!w->member)
        return;
    if (w->departing) {
        remove_member(w->ws, w, why);
        return;
    }
    w->up = 0;
    set_dead(w, 1, why);
}

void workers_refused(pworker_t *w, const char *why)
{
    w->passes = 0;
    if (w->member)
        set_up(w, 0, why);
}

/* ------------------------------------------------------------------ */
/* health checks                                                        */

static void hc_result(pworker_t *w, int ok, const char *why)
{
    int connected = w->hc_connected;
    hc_stop(w);
    if (!w->member)
        return;
    const proxy_config_t *c = w->ws->p->conf;
    if (ok) {
        w->fails = 0;
        if (w->passes < 255)
            w->passes++;
        set_dead(w, 0, NULL);
        if (!w->up && !w->departing && w->passes >= c->health_rise)
            set_up(w, 1, NULL);
    } else if (!connected) {
        /* Nothing accepts connections there: the process is gone. */
        if (w->departing) {
            remove_member(w->ws, w, why);
            return;
        }
        w->passes = 0;
        w->fails = (uint8_t)c->health_fall;
        w->up = 0;
        set_dead(w, 1, why);
    } else {
        w->passes = 0;
        if (w->fails < 255)
            w->fails++;
        if (w->departing && w->fails >= c->health_fall) {
            remove_member(w->ws, w, why);
            return;
        }
        if (w->up && w->fails >= c->health_fall)
            set_up(w, 0, why);
        else
            log_debug("worker %s health check failed (%u in a row): %s", w->id, w->fails, why);
    }
}

static void hc_read(struct bufferevent *bev, void *arg)
{
    pworker_t *w = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    if (len > 8192) {
        hc_result(w, 0, "oversized health check answer");
        return;
    }
    const char *p = (const char *)evbuffer_pullup(in, -1);
    http_header_t h[32];
    http_response_t res;
    memset(&res, 0, sizeof(res));
    res.headers = h;
    res.num_headers = 32;
    int r = http_parse_response(p, len, &res, NULL, NULL);
    if (r == SIOC_INCOMPLETE)
        return;
    if (r < 0)
        hc_result(w, 0, "malformed health check answer");
    else if (res.status != 200)
        hc_result(w, 0, "health check answered non-200");
    else
        hc_result(w, 1, NULL);
}

static void hc_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    pworker_t *w = arg;
    if (what & BEV_EVENT_CONNECTED) {
        w->hc_connected = 1;
        return;
    }
    hc_result(w, 0,
              (what & BEV_EVENT_TIMEOUT) ? "health check timed out"
              : (what & BEV_EVENT_EOF)   ? "connection closed"
                                         : "cannot connect");
}

static void hc_stop(pworker_t *w)
{
    if (w->hc != NULL) {
        bufferevent_free(w->hc);
        w->hc = NULL;
    }
    w->hc_connected = 0;
}

static void hc_start(pworker_t *w)
{
    if (w->hc != NULL)
        return;
    workers_t *ws = w->ws;
    int fd = net_connect_start((const struct sockaddr *)&w->sa, w->salen);
    if (fd < 0) {
        hc_result(w, 0, "cannot create a socket");
        return;
    }
    struct bufferevent *bev = bufferevent_socket_new(ws->p->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        close(fd);
        hc_result(w, 0, "out of memory");
        return;
    }
    w->hc = bev;
    long ms = ws->p->conf->health_timeout;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    bufferevent_set_timeouts(bev, &tv, &tv);
    bufferevent_setcb(bev, hc_read, NULL, hc_event, w);
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
                     ws->p->conf->health_path, w->addr);
    bufferevent_write(bev, req, (size_t)n);
    if (bufferevent_socket_connect(bev, NULL, 0) != 0) {
        hc_result(w, 0, "cannot connect");
        return;
    }
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    workers_t *ws = arg;
    long long now = clock_ms();
    long grace = ws->p->conf->departing_grace;
    hmap_node_t *hn;
    for (hmap_iter_t it = hmap_iter(&ws->members); (hn = hmap_next(&it)) != NULL;) {
        pworker_t *w = container_of(hn, pworker_t, node);
        if (w->departing && now - w->departed_ms >= grace) {
            remove_member(ws, w, "departing for longer than --departing-grace");
            continue;
        }
        /* Idle keep-alive connections are not kept forever. */
        sioc_list_t *pos, *tmp;
        list_foreach_safe(pos, tmp, &w->idle)
        {
            upstream_t *u = container_of(pos, upstream_t, link);
            if (now - u->idle_since > POOL_IDLE_MAX_MS) {
                list_remove(&u->link);
                w->nidle--;
                upstream_release(u, 0);
            }
        }
        /* New sessions weigh on the load until the next tick (workers_live()). */
        w->sessions_mark = w->sessions;
        /* Last: a check that fails at once may remove (and free) a departing w. */
        hc_start(w);
    }
}

workers_t *workers_new(struct proxy *p)
{
    workers_t *ws = xcalloc(1, sizeof(*ws));
    ws->p = p;
    hmap_init(&ws->members);
    const proxy_config_t *c = p->conf;
    for (size_t i = 0; i < c->num_static_workers; i++) {
        const proxy_static_worker_t *s = &c->static_workers[i];
        pworker_t *w = add_member(ws, iov_make(s->id, strlen(s->id)), s->addr,
                                  iov_make(s->handoff, strlen(s->handoff)),
                                  (const struct sockaddr *)&s->sa, s->salen);
        w->from_static = 1;
    }
    ws->tick = event_new(p->base, -1, EV_PERSIST, on_tick, ws);
    struct timeval tv = {c->health_interval / 1000, (c->health_interval % 1000) * 1000};
    event_add(ws->tick, &tv);
    return ws;
}

void workers_close_idle(workers_t *ws)
{
    hmap_node_t *hn;
    for (hmap_iter_t it = hmap_iter(&ws->members); (hn = hmap_next(&it)) != NULL;)
        pool_close_all(container_of(hn, pworker_t, node));
}

void workers_free(workers_t *ws)
{
    if (ws == NULL)
        return;
    event_free(ws->tick);
    hmap_node_t *hn;
    for (hmap_iter_t it = hmap_iter(&ws->members); (hn = hmap_next(&it)) != NULL;) {
        pworker_t *w = container_of(hn, pworker_t, node);
        w->up = 0;
        remove_member(ws, w, "stopping");
    }
    hmap_free(&ws->members);
    free(ws->live);
    free(ws->live_w);
    free(ws);
}

/* ------------------------------------------------------------------ */
/* upstream connections                                                 */

static void idle_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    /* A worker does not speak first: anything here means the connection is
     * no longer a clean keep-alive one. */
    upstream_t *u = arg;
    list_remove(&u->link);
    u->w->nidle--;
    upstream_release(u, 0);
}

static void idle_event(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    idle_read(bev, arg);
}

upstream_t *upstream_acquire(pworker_t *w, int *ready, int *err)
{
    workers_t *ws = w->ws;
    if (!list_empty(&w->idle)) {
        upstream_t *u = container_of(w->idle.next, upstream_t, link);
        list_remove(&u->link);
        w->nidle--;
        bufferevent_setcb(u->bev, NULL, NULL, NULL, NULL);
        u->reused = 1;
        u->busy = 1;
        w->in_flight++;
        *ready = 1;
        return u;
    }
    int fd = net_connect_start((const struct sockaddr *)&w->sa, w->salen);
    if (fd < 0) {
        *err = fd;
        return NULL;
    }
    struct bufferevent *bev = bufferevent_socket_new(ws->p->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        close(fd);
        *err = SIOC_ENOMEM;
        return NULL;
    }
    long ms = ws->p->conf->connect_timeout;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    bufferevent_set_timeouts(bev, NULL, &tv);
    bufferevent_set_max_single_read(bev, UPSTREAM_MAX_READ);
    if (bufferevent_socket_connect(bev, NULL, 0) != 0) {
        bufferevent_free(bev);
        *err = SIOC_ECONNRESET;
        return NULL;
    }
    upstream_t *u = xcalloc(1, sizeof(*u));
    u->bev = bev;
    u->w = w;
    list_init(&u->link);
    pworker_ref(w);
    u->busy = 1;
    w->in_flight++;
    *ready = 0;
    return u;
}

struct bufferevent *upstream_bev(const upstream_t *u)
{
    return u->bev;
}

pworker_t *upstream_worker(const upstream_t *u)
{
    return u->w;
}

int upstream_reused(const upstream_t *u)
{
    return u->reused;
}

void upstream_connected(upstream_t *u)
{
    bufferevent_set_timeouts(u->bev, NULL, NULL);
    u->w->connects++;
}

void upstream_connect_failed(upstream_t *u, const char *why)
{
    u->w->ws->p->stats.upstream_connect_failures++;
    workers_mark_failed(u->w, why);
    upstream_release(u, 0);
}

void upstream_release(upstream_t *u, int reusable)
{
    pworker_t *w = u->w;
    workers_t *ws = w->ws;
    if (u->busy) {
        u->busy = 0;
        w->in_flight--;
    }
    if (reusable && w->member && !w->dead && !ws->p->draining &&
        w->nidle < (size_t)ws->p->conf->pool_size &&
        evbuffer_get_length(bufferevent_get_input(u->bev)) == 0 &&
        evbuffer_get_length(bufferevent_get_output(u->bev)) == 0) {
        bufferevent_setcb(u->bev, idle_read, NULL, idle_event, u);
        bufferevent_set_timeouts(u->bev, NULL, NULL);
        bufferevent_setwatermark(u->bev, EV_READ | EV_WRITE, 0, 0);
        bufferevent_enable(u->bev, EV_READ);
        u->idle_since = clock_ms();
        list_insert_head(&w->idle, &u->link);
        w->nidle++;
        return;
    }
    bufferevent_free(u->bev);
    free(u);
    pworker_unref(w);
}

struct bufferevent *upstream_detach(upstream_t *u)
{
    struct bufferevent *bev = u->bev;
    bufferevent_set_timeouts(bev, NULL, NULL);
    if (u->busy)
        u->w->in_flight--;
    pworker_unref(u->w);
    free(u);
    return bev;
}
