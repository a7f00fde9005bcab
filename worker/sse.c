/*
 * sse.c - Server-Sent Events (sse.h).
 *
 * Each stream is an sse_client_t hung on its client connection (client_t.sse, mode
 * CLIENT_SSE). Its rooms are members of a small index of its own (room name -> streams),
 * and each room is held in the Socket.IO room index too, so the adapter's subscriptions
 * (sharded mode subscribes per room) and its "has this room" filter see the streams.
 * A broadcast is framed once into a shared block and queued to every stream by
 * reference; a stream in several target rooms gets one copy (generation stamps, as
 * sio.c does for sockets). A slow stream is closed by its output limit
 * (--max-output-buffer), never the broadcast.
 *
 * A stream is forgotten when its connection's on_close runs (end of the loop turn), so
 * the lists walked by a broadcast never lose a node under the walk.
 */
#include "sse.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/hmap.h"
#include "base/list.h"
#include "base/log.h"
#include "base/shared.h"
#include "client.h"
#include "http/http_query.h"
#include "net/conn.h"
#include "sio.h"
#include "sio/jscan.h"
#include "worker.h"

#define MAX_TOKEN 8192
#define MAX_LAST_EVENT_ID 64
#define MAX_ROOMS_CAP 1000 /* the largest --sse-max-rooms */

typedef struct sse_room {
    hmap_node_t node; /* in sse->rooms */
    sioc_list_t members;
    size_t count;
    char name[];
} sse_room_t;

typedef struct sse_client sse_client_t;

typedef struct sse_member {
    sioc_list_t link; /* in room->members */
    sse_room_t *room;
    sse_client_t *c;
} sse_member_t;

/* A replay from the cluster log in flight; outlives its stream when that closes first. */
typedef struct sse_replay {
    sse_client_t *c; /* NULL once the stream is gone */
} sse_replay_t;

/* A live event that arrived while the replay was running. */
typedef struct held {
    sioc_list_t link;
    char id[MAX_LAST_EVENT_ID + 1];
    size_t len;
    char bytes[];
} held_t;

struct sse_client {
    sioc_list_t link; /* in sse->clients */
    sse_t *sse;
    client_t *cl;
    long long exp_ms; /* token expiry (wall clock ms); 0 = none */
    unsigned long long gen;
    sse_replay_t *replay; /* cluster replay in flight, or NULL */
    sioc_list_t held;     /* live events held until it ends */
    size_t held_bytes;
    char last_id[MAX_LAST_EVENT_ID + 1]; /* the last event id replayed */
    size_t n_rooms;
    sse_member_t m[];
};

struct sse {
    worker_t *w;
    sio_nsp_t *nsp; /* "/" */
    char *path;     /* <path>sse */
    size_t path_len;
    hmap_t rooms;
    sioc_list_t clients;
    struct event *tick;
    long long last_ping_ms;
    unsigned long long gen, seq;
    int offsets; /* EVENTs carry a recovery offset as their last element */
};

/* ------------------------------------------------------------------ */
/* Pure parts                                                           */

int sse_rooms_parse(sioc_iov_t raw, char *buf, size_t cap, sioc_iov_t *out, size_t max_rooms,
                    const char **reason)
{
    int n = http_pct_decode(raw, buf, cap, 1);
    if (n < 0) {
        *reason = "rooms: bad percent-encoding";
        return SIOC_EPROTO;
    }
    size_t count = 0, start = 0, len = (size_t)n;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && buf[i] != ',')
            continue;
        size_t rl = i - start;
        if (rl == 0 || rl > SSE_MAX_ROOM) {
            *reason = "rooms: each room is 1 to 256 bytes";
            return SIOC_EPROTO;
        }
        sioc_iov_t room = iov_make(buf + start, rl);
        start = i + 1;
        int seen = 0;
        for (size_t k = 0; k < count && !seen; k++)
            seen = iov_eq(out[k], room);
        if (seen)
            continue;
        if (count == max_rooms) {
            *reason = "rooms: too many rooms (--sse-max-rooms)";
            return SIOC_EPROTO;
        }
        out[count++] = room;
    }
    return (int)count;
}

int sse_frame_write(sioc_buf_t *b, sioc_iov_t id, const char *event, sioc_iov_t data)
{
    int r = 0;
    if (id.len > 0) {
        r |= buf_append_str(b, "id: ");
        r |= buf_append(b, id.base, id.len);
        r |= buf_append_byte(b, '\n');
    }
    r |= buf_append_str(b, "event: ");
    r |= buf_append_str(b, event);
    r |= buf_append_str(b, "\ndata: ");
    size_t at = b->len;
    r |= buf_append(b, data.base, data.len);
    if (r == 0)
        for (size_t i = at; i < b->len; i++)
            if (b->base[i] == '\n' || b->base[i] == '\r')
                b->base[i] = ' ';
    r |= buf_append_str(b, "\n\n");
    return r ? SIOC_ENOMEM : 0;
}

/* An id token is safe on an `id:` line and in a Last-Event-ID header. */
static int id_safe(sioc_iov_t v)
{
    if (v.len == 0 || v.len > MAX_LAST_EVENT_ID)
        return 0;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.base[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* A `receive-message` EVENT: its message and, with offsets, the offset (without quotes).
 * Returns 0 for any other event. */
static int chat_message(const sse_t *s, sioc_iov_t json, sioc_iov_t *msg, sioc_iov_t *id)
{
    jscan_iter_t it;
    sioc_iov_t key, name, extra;
    *id = SIOC_IOV_NULL;
    if (jscan_iter_init(&it, json) != 0 || jscan_next(&it, &key, &name) <= 0 ||
        !jscan_string_eq(name, "receive-message") || jscan_next(&it, &key, msg) <= 0)
        return 0;
    if (s->offsets && jscan_next(&it, &key, &extra) > 0 &&
        jscan_token_kind(extra) == JSCAN_STRING && extra.len >= 2) {
        sioc_iov_t off = iov_make(extra.base + 1, extra.len - 2);
        if (id_safe(off))
            *id = off;
    }
    return 1;
}

/* Frames a chat message; without an offset the id is "<worker id>-<n>". */
static int frame(sse_t *s, sioc_buf_t *b, sioc_iov_t msg, sioc_iov_t id)
{
    char local[48];
    if (id.len == 0) {
        int n = snprintf(local, sizeof(local), "%s-%llu", s->w->id, ++s->seq);
        id = iov_make(local, (size_t)n);
    }
    return sse_frame_write(b, id, "receive-message", msg);
}

/* ------------------------------------------------------------------ */
/* Delivery                                                             */

static sse_room_t *room_find(const sse_t *s, sioc_iov_t name)
{
    hmap_node_t *n = hmap_get(&s->rooms, name);
    return n ? container_of(n, sse_room_t, node) : NULL;
}

static void mark(sse_t *s, sioc_iov_t room, unsigned long long gen)
{
    sse_room_t *r = room_find(s, room);
    if (r == NULL)
        return;
    sioc_list_t *p;
    list_foreach(p, &r->members) container_of(p, sse_member_t, link)->c->gen = gen;
}

/* Stream entry ids ("<ms>-<seq>") in order: whether `a` comes after `b` (1 when either is
 * not an entry id: nothing is dropped on a doubt). */
static int id_after(const char *a, const char *b)
{
    unsigned long long am, as, bm, bs;
    char ea, eb;
    if (sscanf(a, "%llu-%llu%c", &am, &as, &ea) != 2 ||
        sscanf(b, "%llu-%llu%c", &bm, &bs, &eb) != 2)
        return 1;
    return am > bm || (am == bm && as > bs);
}

static void deliver(sse_client_t *c, sioc_shared_t *sh, sioc_iov_t id, unsigned long long gen)
{
    if (c->gen == gen || conn_closing(c->cl->conn))
        return;
    c->gen = gen;
    if (c->replay != NULL) {
        /* Bounded like the output it stands for: over it the stream is dropped. */
        if (c->held_bytes + sh->len > (size_t)c->sse->w->conf->max_output_buffer) {
            conn_close(c->cl->conn, 0);
            return;
        }
        held_t *h = xmalloc(sizeof(*h) + sh->len);
        snprintf(h->id, sizeof(h->id), "%.*s", (int)id.len, id.base);
        h->len = sh->len;
        memcpy(h->bytes, sh->data, sh->len);
        list_insert_tail(&c->held, &h->link);
        c->held_bytes += sh->len;
        return;
    }
    if (conn_write_shared(c->cl->conn, sh, 0, sh->len) == 0)
        c->sse->w->stats.sse_events_sent++;
}

static void on_broadcast(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                         const sioc_iov_t *except, size_t n_except, sioc_iov_t json,
                         const sioc_iov_t *att, size_t n_att, void *data)
{
    (void)att;
    sse_t *s = data;
    sioc_iov_t msg, id;
    if (nsp != s->nsp || n_att > 0 || list_empty(&s->clients) || !chat_message(s, json, &msg, &id))
        return;
    sioc_buf_t b = {0};
    sioc_shared_t *sh = NULL;
    char idbuf[MAX_LAST_EVENT_ID + 1];
    if (id.len > 0) {
        memcpy(idbuf, id.base, id.len); /* id_safe: at most MAX_LAST_EVENT_ID */
        id = iov_make(idbuf, id.len);
    }
    if (frame(s, &b, msg, id) == 0)
        sh = shared_copy(b.base, b.len);
    buf_free(&b);
    if (sh == NULL)
        return;
    unsigned long long gen = ++s->gen;
    for (size_t i = 0; i < n_except; i++)
        mark(s, except[i], gen);
    sioc_list_t *p;
    if (n_rooms == 0)
        list_foreach(p, &s->clients) deliver(container_of(p, sse_client_t, link), sh, id, gen);
    for (size_t i = 0; i < n_rooms; i++) {
        sse_room_t *r = room_find(s, rooms[i]);
        if (r == NULL)
            continue;
        list_foreach(p, &r->members) deliver(container_of(p, sse_member_t, link)->c, sh, id, gen);
    }
    shared_unref(sh);
}

/* ------------------------------------------------------------------ */
/* Streams                                                              */

static void held_free(sse_client_t *c)
{
    while (!list_empty(&c->held)) {
        held_t *h = container_of(c->held.next, held_t, link);
        list_remove(&h->link);
        free(h);
    }
    c->held_bytes = 0;
}

static void client_release(sse_client_t *c)
{
    sse_t *s = c->sse;
    if (c->replay != NULL)
        c->replay->c = NULL;
    held_free(c);
    for (size_t i = 0; i < c->n_rooms; i++) {
        sse_room_t *r = c->m[i].room;
        list_remove(&c->m[i].link);
        sio_room_release(s->nsp, r->node.key);
        if (--r->count == 0) {
            hmap_del(&s->rooms, &r->node);
            free(r);
        }
    }
    list_remove(&c->link);
    c->cl->sse = NULL;
    s->w->stats.sse_clients--;
    free(c);
}

void sse_client_gone(client_t *cl)
{
    if (cl->mode == CLIENT_SSE && cl->sse != NULL)
        client_release(cl->sse);
}

static void join(sse_client_t *c, size_t i, sioc_iov_t name)
{
    sse_t *s = c->sse;
    sse_room_t *r = room_find(s, name);
    if (r == NULL) {
        r = xmalloc(sizeof(*r) + name.len + 1);
        memcpy(r->name, name.base, name.len);
        r->name[name.len] = '\0';
        r->node.key = iov_make(r->name, name.len);
        list_init(&r->members);
        r->count = 0;
        hmap_put(&s->rooms, &r->node);
    }
    r->count++;
    c->m[i].room = r;
    c->m[i].c = c;
    list_insert_tail(&r->members, &c->m[i].link);
    (void)sio_room_hold(s->nsp, name);
}

typedef struct {
    sse_t *s;
    sse_client_t *c;
} replay_ctx_t;

static void replay_write(sse_t *s, sse_client_t *c, sioc_iov_t json, size_t n_att)
{
    sioc_iov_t msg, id;
    if (n_att > 0 || !chat_message(s, json, &msg, &id))
        return;
    if (id.len > 0)
        snprintf(c->last_id, sizeof(c->last_id), "%.*s", (int)id.len, id.base);
    sioc_buf_t b = {0};
    if (frame(s, &b, msg, id) == 0 && conn_write(c->cl->conn, b.base, b.len) == 0) {
        s->w->stats.sse_events_sent++;
        s->w->stats.sse_replayed++;
    }
    buf_free(&b);
}

static void on_replayed(sioc_iov_t json, const sioc_iov_t *att, size_t n_att, void *data)
{
    (void)att;
    replay_ctx_t *x = data;
    replay_write(x->s, x->c, json, n_att);
}

static void write_reset(sse_t *s, sse_client_t *c, const char *why)
{
    s->w->stats.sse_resets++;
    char data[64];
    int n = snprintf(data, sizeof(data), "{\"reason\":\"%s\"}", why);
    sioc_buf_t b = {0};
    if (sse_frame_write(&b, SIOC_IOV_NULL, "reset", iov_make(data, (size_t)n)) == 0)
        (void)conn_write(c->cl->conn, b.base, b.len);
    buf_free(&b);
}

static void on_cluster_replayed(sioc_iov_t json, const sioc_iov_t *att, size_t n_att, void *data)
{
    (void)att;
    sse_replay_t *r = data;
    if (r->c != NULL && !conn_closing(r->c->cl->conn))
        replay_write(r->c->sse, r->c, json, n_att);
}

/* The cluster replay ended: the live events held meanwhile follow, those the replay
 * already sent left out. */
static void on_cluster_done(int result, void *data)
{
    sse_replay_t *r = data;
    sse_client_t *c = r->c;
    free(r);
    if (c == NULL)
        return;
    c->replay = NULL;
    if (result != 0)
        write_reset(c->sse, c, "offset_unknown");
    while (!list_empty(&c->held)) {
        held_t *h = container_of(c->held.next, held_t, link);
        list_remove(&h->link);
        if ((result != 0 || c->last_id[0] == '\0' || id_after(h->id, c->last_id)) &&
            !conn_closing(c->cl->conn) && conn_write(c->cl->conn, h->bytes, h->len) == 0)
            c->sse->w->stats.sse_events_sent++;
        free(h);
    }
    c->held_bytes = 0;
}

/* Last-Event-ID: what was missed, or a reset event saying why it cannot be told. */
static void resume(sse_t *s, sse_client_t *c, sioc_iov_t last_id, const sioc_iov_t *rooms,
                   size_t n_rooms)
{
    const char *why = NULL;
    if (s->w->conf->max_disconnection_duration == 0) {
        why = "recovery_off";
    } else if (id_safe(last_id) && s->offsets) {
        /* The cluster log (streams adapter) answers later; live events are held until. */
        sse_replay_t *r = xmalloc(sizeof(*r));
        r->c = c;
        c->replay = r;
        if (sio_store_replay(s->nsp, last_id, rooms, n_rooms, on_cluster_replayed, on_cluster_done,
                             r))
            return;
        c->replay = NULL;
        free(r);
    }
    if (why == NULL) {
        replay_ctx_t x = {s, c};
        int r = id_safe(last_id) ? sio_replay(s->nsp, last_id, rooms, n_rooms, on_replayed, &x) : 1;
        if (r < 0)
            why = "no_log";
        else if (r > 0)
            why = "offset_unknown";
    }
    if (why != NULL)
        write_reset(s, c, why);
}

/* The token of the request: Authorization: Bearer, else the token query parameter
 * (decoded into `buf`). An empty slice when there is none. */
static sioc_iov_t request_token(const http_request_t *req, char *buf, size_t cap)
{
    size_t pos = 0;
    int i = http_header_find(req->headers, req->num_headers, SIOC_LIT("authorization"), &pos);
    if (i >= 0) {
        sioc_iov_t v = req->headers[i].value;
        if (v.len > 7 && iov_eq_ci(iov_make(v.base, 7), SIOC_LIT("bearer "))) {
            sioc_iov_t t = iov_make(v.base + 7, v.len - 7);
            while (t.len > 0 && t.base[0] == ' ')
                t = iov_make(t.base + 1, t.len - 1);
            return t;
        }
        return SIOC_IOV_NULL;
    }
    sioc_iov_t raw;
    if (http_query_get(req->query, "token", &raw)) {
        int n = http_pct_decode(raw, buf, cap, 1);
        if (n > 0)
            return iov_make(buf, (size_t)n);
    }
    return SIOC_IOV_NULL;
}

static void refuse(client_t *cl, int status, const char *extra, const char *error)
{
    char body[160];
    int n = snprintf(body, sizeof(body), "{\"error\":\"%s\"}", error);
    cl->e->w->stats.sse_refused++;
    client_respond(cl, status, "application/json", extra, body, (size_t)n, 0);
}

void sse_serve(sse_t *s, client_t *cl, const http_request_t *req)
{
    worker_t *w = s->w;
    const worker_config_t *cf = w->conf;
    if (!iov_eq_str(req->method, "GET") && !iov_eq_str(req->method, "HEAD")) {
        refuse(cl, 405, "Allow: GET, HEAD\r\n", "method not allowed");
        return;
    }
    long long exp_ms = 0;
    if (w->auth != NULL) {
        char tokbuf[MAX_TOKEN];
        sioc_iov_t tok = request_token(req, tokbuf, sizeof(tokbuf));
        auth_claims_t claims;
        const char *why = "no token";
        if (tok.len == 0 || tok.len >= MAX_TOKEN ||
            auth_verify(w->auth, tok.base, tok.len, clock_unix_ms(), &claims, &why) != 0) {
            w->stats.auth_failures++;
            static long long last;
            if (log_ratelimited(&last))
                log_info("sse stream refused for %s: %s", addrcount_addr(cl->ip), why);
            refuse(cl, 401, "WWW-Authenticate: Bearer\r\n", "Authentication error");
            return;
        }
        exp_ms = claims.exp_ms;
        auth_claims_free(&claims);
    }
    sioc_iov_t raw;
    if (!http_query_get(req->query, "rooms", &raw)) {
        refuse(cl, 400, NULL, "rooms: missing");
        return;
    }
    char *roombuf = xmalloc(raw.len + 1);
    sioc_iov_t rooms[MAX_ROOMS_CAP];
    const char *reason = NULL;
    int n = sse_rooms_parse(raw, roombuf, raw.len + 1, rooms, (size_t)cf->sse_max_rooms, &reason);
    if (n < 0) {
        free(roombuf);
        refuse(cl, 400, NULL, reason);
        return;
    }
    if (w->draining) {
        free(roombuf);
        refuse(cl, 503, "Retry-After: 1\r\n", "server shutting down");
        return;
    }
    cl->keep_alive = 0;
    client_stream_head(cl, "text/event-stream; charset=utf-8",
                       "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n");
    if (cl->head) {
        free(roombuf);
        conn_close(cl->conn, 1);
        return;
    }
    sse_client_t *c = xcalloc(1, sizeof(*c) + (size_t)n * sizeof(c->m[0]));
    c->sse = s;
    c->cl = cl;
    c->exp_ms = exp_ms;
    c->n_rooms = (size_t)n;
    list_init(&c->held);
    cl->mode = CLIENT_SSE;
    cl->sse = c;
    list_insert_tail(&s->clients, &c->link);
    w->stats.sse_clients++;
    w->stats.sse_total++;
    /* EventSource waits `retry` ms before it reconnects; the stream's first bytes also
     * tell a buffering intermediary that the body has begun. */
    (void)conn_write(cl->conn, "retry: 1000\n\n", 13);
    size_t pos = 0;
    int li = http_header_find(req->headers, req->num_headers, SIOC_LIT("last-event-id"), &pos);
    if (li >= 0 && req->headers[li].value.len > 0)
        resume(s, c, req->headers[li].value, rooms, (size_t)n);
    /* Joined after the replay, in the same turn: nothing falls between the two. */
    for (int i = 0; i < n; i++)
        join(c, (size_t)i, rooms[i]);
    free(roombuf);
}

int sse_path_matches(const sse_t *s, sioc_iov_t path)
{
    return path.len == s->path_len && memcmp(path.base, s->path, s->path_len) == 0;
}

/* Once a second: heartbeats when due, streams whose token expired, and every stream
 * on drain (EventSource reconnects, through a proxy to another worker). */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sse_t *s = arg;
    long long now = clock_ms(), wall = clock_unix_ms();
    /* The tick may run a little early: a heartbeat due within the next 100 ms goes now. */
    int ping = now - s->last_ping_ms >= s->w->conf->sse_heartbeat - 100;
    if (ping)
        s->last_ping_ms = now;
    sioc_list_t *p;
    list_foreach(p, &s->clients)
    {
        sse_client_t *c = container_of(p, sse_client_t, link);
        conn_t *conn = c->cl->conn;
        if (conn_closing(conn))
            continue;
        if (s->w->draining || (c->exp_ms > 0 && wall >= c->exp_ms)) {
            conn_close(conn, 1);
            continue;
        }
        if (ping)
            (void)conn_write(conn, ": ping\n\n", 8);
    }
}

sse_t *sse_new(worker_t *w)
{
    sse_t *s = xcalloc(1, sizeof(*s));
    s->w = w;
    s->nsp = sio_nsp_by_name(w, SIOC_LIT("/"));
    size_t pl = strlen(w->conf->path);
    s->path = xmalloc(pl + 4);
    memcpy(s->path, w->conf->path, pl);
    memcpy(s->path + pl, "sse", 4);
    s->path_len = pl + 3;
    hmap_init(&s->rooms);
    list_init(&s->clients);
    const char *mode = w->conf->adapter_mode;
    s->offsets = w->conf->max_disconnection_duration > 0 &&
                 (w->conf->redis_url == NULL || strcmp(mode, "streams") == 0);
    s->last_ping_ms = clock_ms();
    s->tick = event_new(net_loop_base(w->loop), -1, EV_PERSIST, on_tick, s);
    struct timeval tv = {1, 0};
    event_add(s->tick, &tv);
    sio_set_broadcast_tap(w, on_broadcast, s);
    return s;
}

void sse_free(sse_t *s)
{
    if (s == NULL)
        return;
    sio_set_broadcast_tap(s->w, NULL, NULL);
    while (!list_empty(&s->clients))
        client_release(container_of(s->clients.next, sse_client_t, link));
    hmap_free(&s->rooms);
    event_free(s->tick);
    free(s->path);
    free(s);
}
