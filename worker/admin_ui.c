/*
 * admin_ui.c - the /admin namespace of @socket.io/admin-ui 0.5 (admin_ui.h).
 *
 * What the package's lib/index.ts does in a Node server, spoken here:
 * - Middleware: auth {sessionId} is accepted when the session exists (EXISTS
 *   socket.io-admin#<id> on the adapter's Redis, parked with sio_authorize_later until
 *   Redis answers; an in-memory table without Redis); auth {username, password} when the
 *   name matches and crypt(3) of the password gives the bcrypt hash back. A success with
 *   credentials creates a session (SET ... "1" EX 86400) and emits "session" to the UI.
 *   bcrypt runs on the loop (the worker has one thread) and costs tens of milliseconds
 *   per try (about 70 ms at cost 10), so a worker checks at most BCRYPT_PER_SECOND
 *   passwords a second, only for the configured user name, and refuses the rest ("too many
 *   attempts"): a flood of logins takes at most that share of the loop. The CONNECT of a
 *   login waits for the SET, so the session exists before the UI can reconnect elsewhere.
 * - On connection: "config" {supportedFeatures}, then "all_sockets": a cluster-wide
 *   fetchSockets of every namespace, serialized as the package's serialize() does.
 * - Events, emitted to "/admin" through the adapter (so every worker's and Node server's
 *   reach every UI): server_stats every STATS_MS, socket_connected, socket_updated (the
 *   upgrade to websocket), socket_disconnected, room_joined, room_left. event_received / event_sent
 * are not emitted (the UI's events page stays empty).
 * - The socket data of every socket carries {_admin: {clientId, transport}} in fetchSockets
 *   answers, as Node's instrument() adds it, so a Node server's UI shows sioc sockets with
 *   their transport.
 * Not done: the handshake headers (sioc does not keep them).
 */
#include "admin_ui.h"

#include <crypt.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/hex.h"
#include "base/hmap.h"
#include "base/log.h"
#include "base/rand.h"
#include "broadcast.h"
#include "sio/jscan.h"
#include "sio/sio_json.h"

#define ADMIN_NSP "/admin"
#define STATS_MS 2000
#define SESSION_TTL_S 86400
#define SESSION_KEY_PREFIX "socket.io-admin#"
#define MAX_SESSION_ID 64
#define MAX_USER 256
#define MAX_PASSWORD 256
#define BCRYPT_PER_SECOND 2
#define MAX_MEMORY_SESSIONS 10000

static const char invalid_credentials[] = "invalid credentials";
static const char too_many_attempts[] = "too many attempts";

typedef struct mem_session {
    hmap_node_t node;
    long long expires_ms;
    char id[];
} mem_session_t;

struct admin_ui {
    worker_t *w;
    const sio_app_t *inner;
    sio_app_t app;
    sio_nsp_t *nsp; /* "/admin" */
    struct event *stats_timer;
    int running;
    long long started_ms;
    char hostname[256];
    unsigned long long last_opened, last_closed, last_in, last_out;
    long long bucket_window_ms; /* bcrypt tries: BCRYPT_PER_SECOND per second */
    unsigned bucket_count;
    struct crypt_data *crypt; /* scratch of crypt_rn (about 32 KiB) */
    hmap_t sessions;          /* without Redis */
    size_t n_sessions;
    unsigned long long logins, resumed, refused, throttled;
};

/* What an admin socket carries: the session to announce once it is connected. */
typedef struct admin_conn {
    char session[17];
} admin_conn_t;

/* The client id the UI groups sockets by: derived from the Engine.IO session id, of which
 * it reveals nothing (Node shows the sid's first 12 characters; a sioc sid starts with the
 * worker id). */
static void client_id(const sio_socket_t *s, char out[13])
{
    const char *sid = sio_socket_client_id(s);
    uint64_t h = hmap_hash(sid, strlen(sid));
    for (int i = 0; i < 12; i++)
        out[i] = hex_lower((unsigned)(h >> (4 * i)));
    out[12] = '\0';
}

static admin_ui_t *ui_of(const sio_socket_t *s)
{
    return sio_socket_worker(s)->admin_ui;
}

static int is_admin(const sio_socket_t *s)
{
    return iov_eq_str(sio_socket_nsp(s), ADMIN_NSP);
}

/* ------------------------------------------------------------------ */
/* JSON helpers                                                         */

/* new Date() as JSON.stringify writes it: "2024-01-02T03:04:05.678Z". */
static void iso_date(char out[64], long long ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static int append_cstr(sioc_buf_t *b, const char *s)
{
    return sio_json_append_iov(b, iov_make(s, strlen(s)));
}

typedef struct {
    sioc_buf_t *b;
    int first;
    int r;
} rooms_ctx_t;

static void append_room(sioc_iov_t room, void *data)
{
    rooms_ctx_t *c = data;
    if (!c->first)
        c->r |= buf_append_byte(c->b, ',');
    c->first = 0;
    c->r |= sio_json_append_iov(c->b, room);
}

/* The application's data of a non-admin socket ({} when it has none). */
static int inner_data_json(const sio_socket_t *s, sioc_buf_t *b)
{
    admin_ui_t *a = ui_of(s);
    if (!is_admin(s) && a->inner->data_json != NULL)
        return a->inner->data_json(s, b);
    return buf_append_str(b, "{}");
}

/* A local socket as the package's serialize() gives it. */
static int serialize_local(const sio_socket_t *s, sioc_buf_t *b)
{
    char cid[13], date[64];
    long long now = clock_unix_ms();
    client_id(s, cid);
    iso_date(date, now);
    int r = buf_append_str(b, "{\"id\":");
    r |= append_cstr(b, sio_socket_id(s));
    r |= buf_append_str(b, ",\"clientId\":");
    r |= append_cstr(b, cid);
    r |= buf_append_str(b, ",\"transport\":");
    r |= append_cstr(b, sio_socket_transport(s));
    r |= buf_append_str(b, ",\"nsp\":");
    r |= sio_json_append_iov(b, sio_socket_nsp(s));
    r |= buf_append_str(b, ",\"data\":");
    r |= inner_data_json(s, b);
    r |= buf_append_str(b, ",\"handshake\":{\"address\":");
    r |= append_cstr(b, sio_socket_addr(s));
    char tail[160];
    snprintf(tail, sizeof(tail),
             ",\"headers\":{},\"query\":{},\"issued\":%lld,\"secure\":false,\"time\":\"%s\","
             "\"url\":\"\",\"xdomain\":false},\"rooms\":[",
             now, date);
    r |= buf_append_str(b, tail);
    rooms_ctx_t rc = {b, 1, 0};
    sio_socket_rooms(s, append_room, &rc);
    r |= rc.r;
    r |= buf_append_str(b, "]}");
    return r;
}

/* A fetchSockets entry ({id, handshake, rooms, data}, from any server) as serialize() gives
 * it: clientId and transport from data._admin, which is left out of data. New reference or
 * NULL. */
static json_t *serialize_remote(json_t *sock, const char *nsp)
{
    json_t *id = json_object_get(sock, "id");
    if (!json_is_string(id))
        return NULL;
    json_t *data = json_object_get(sock, "data");
    json_t *hs = json_object_get(sock, "handshake");
    json_t *out = json_object();
    json_object_set(out, "id", id);
    json_t *admin = json_is_object(data) ? json_object_get(data, "_admin") : NULL;
    if (json_is_object(admin)) {
        json_t *v;
        if ((v = json_object_get(admin, "clientId")) != NULL)
            json_object_set(out, "clientId", v);
        if ((v = json_object_get(admin, "transport")) != NULL)
            json_object_set(out, "transport", v);
    }
    json_object_set_new(out, "nsp", json_string(nsp));
    json_t *d = json_is_object(data) ? json_copy(data) : json_object();
    json_object_del(d, "_admin");
    json_object_set_new(out, "data", d);
    json_t *h = json_object();
    if (json_is_object(hs)) {
        json_t *headers = json_object_get(hs, "headers");
        json_t *addr = NULL;
        if (json_is_object(headers)) {
            addr = json_object_get(headers, "cf-connecting-ip");
            if (addr == NULL)
                addr = json_object_get(headers, "x-forwarded-for");
        }
        if (addr == NULL)
            addr = json_object_get(hs, "address");
        if (addr != NULL)
            json_object_set(h, "address", addr);
        static const char *const keys[] = {"headers", "query", "issued", "secure",
                                           "time",    "url",   "xdomain"};
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            json_t *v = json_object_get(hs, keys[i]);
            if (v != NULL)
                json_object_set(h, keys[i], v);
        }
    }
    json_object_set_new(out, "handshake", h);
    json_t *rooms = json_object_get(sock, "rooms");
    json_object_set_new(out, "rooms", json_is_array(rooms) ? json_copy(rooms) : json_array());
    return out;
}

/* Emits `json_array` (an event) to "/admin" on every worker and Node server. */
static void emit_admin(admin_ui_t *a, sioc_iov_t json_array)
{
    if (a->running && a->nsp != NULL)
        broadcast_emit(a->nsp, NULL, 0, NULL, 0, json_array, NULL, 0);
}

static void emit_admin_json(admin_ui_t *a, json_t *arr)
{
    char *text = json_dumps(arr, JSON_COMPACT);
    if (text != NULL)
        emit_admin(a, iov_make(text, strlen(text)));
    free(text);
    json_decref(arr);
}

/* ------------------------------------------------------------------ */
/* server_stats                                                         */

static void push_event(json_t *events, long long ts, const char *type, unsigned long long n)
{
    if (n == 0)
        return;
    json_array_append_new(events, json_pack("{s:I,s:s,s:I}", "timestamp", (json_int_t)ts, "type",
                                            type, "count", (json_int_t)n));
}

static void emit_stats(admin_ui_t *a)
{
    worker_t *w = a->w;
    const eio_session_stats_t *st = &w->stats.eio;
    long long now = clock_unix_ms();
    long long ts = now - now % 1000;
    unsigned long long closed = st->sessions_total - st->sessions_open;
    json_t *events = json_array();
    push_event(events, ts, "rawConnection", st->sessions_total - a->last_opened);
    push_event(events, ts, "rawDisconnection", closed - a->last_closed);
    push_event(events, ts, "packetsIn", st->packets_in - a->last_in);
    push_event(events, ts, "packetsOut", st->packets_out - a->last_out);
    a->last_opened = st->sessions_total;
    a->last_closed = closed;
    a->last_in = st->packets_in;
    a->last_out = st->packets_out;
    json_t *nsps = json_array();
    for (size_t i = 0; i < sio_nsp_count(w); i++) {
        sio_nsp_t *n = sio_nsp_at(w, i);
        if (n == NULL) /* a free slot of --namespace-pattern */
            continue;
        sioc_iov_t name = sio_nsp_name(n);
        json_array_append_new(nsps, json_pack("{s:s%,s:I}", "name", name.base, name.len,
                                              "socketsCount", (json_int_t)sio_nsp_socket_count(n)));
    }
    json_t *stats = json_pack(
        "{s:s,s:s,s:I,s:f,s:I,s:I,s:o,s:o}", "serverId", w->id, "hostname", a->hostname, "pid",
        (json_int_t)getpid(), "uptime", (double)(clock_ms() - a->started_ms) / 1000.0,
        "clientsCount", (json_int_t)st->sessions_open, "pollingClientsCount",
        (json_int_t)st->polling_sessions_open, "aggregatedEvents", events, "namespaces", nsps);
    if (stats == NULL)
        return;
    json_t *arr = json_pack("[s,o]", "server_stats", stats);
    if (arr != NULL)
        emit_admin_json(a, arr);
}

static void on_stats_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    emit_stats(arg);
}

/* ------------------------------------------------------------------ */
/* Sessions                                                             */

static void session_key(char *out, size_t cap, const char *id)
{
    snprintf(out, cap, "%s%s", SESSION_KEY_PREFIX, id);
}

static void on_session_saved(worker_t *w, redisReply *reply, void *data)
{
    (void)w;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR)
        log_warn("admin UI: session not saved in Redis: the UI will ask for the password again "
                 "when it reconnects");
    sio_authorize_done(data, NULL);
}

/* Keeps session `id` of `s`: in Redis, where the CONNECT waits for the SET (so the session
 * exists before the UI hears of it and reconnects elsewhere); returns sio_authorize_later
 * then, NULL otherwise. */
static const char *session_save(admin_ui_t *a, sio_socket_t *s, const char *id)
{
    if (a->w->adapter != NULL) {
        char key[sizeof(SESSION_KEY_PREFIX) + MAX_SESSION_ID];
        session_key(key, sizeof(key), id);
        char ttl[16];
        snprintf(ttl, sizeof(ttl), "%d", SESSION_TTL_S);
        const char *argv[] = {"SET", key, "1", "EX", ttl};
        if (adapter_command(a->w->adapter, on_session_saved, s, 5, argv) == 0)
            return sio_authorize_later;
        log_warn("admin UI: session not saved (Redis link down): the UI will ask for the "
                 "password again when it reconnects");
        return NULL;
    }
    if (a->n_sessions >= MAX_MEMORY_SESSIONS)
        return NULL;
    size_t n = strlen(id);
    mem_session_t *m = xmalloc(sizeof(*m) + n + 1);
    memcpy(m->id, id, n + 1);
    m->node.key = iov_make(m->id, n);
    m->expires_ms = clock_ms() + SESSION_TTL_S * 1000LL;
    hmap_put(&a->sessions, &m->node);
    a->n_sessions++;
    return NULL;
}

static int session_known_locally(admin_ui_t *a, const char *id)
{
    hmap_node_t *n = hmap_get(&a->sessions, iov_make(id, strlen(id)));
    if (n == NULL)
        return 0;
    mem_session_t *m = container_of(n, mem_session_t, node);
    if (m->expires_ms > clock_ms())
        return 1;
    hmap_del(&a->sessions, n);
    a->n_sessions--;
    free(m);
    return 0;
}

static void on_session_exists(worker_t *w, redisReply *reply, void *data)
{
    sio_socket_t *s = data;
    admin_ui_t *a = w->admin_ui;
    int ok = reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1;
    if (ok)
        a->resumed++;
    else
        a->refused++;
    sio_authorize_done(s, ok ? NULL : invalid_credentials);
}

/* Constant-time comparison of two NUL-terminated strings of known lengths. */
static int same(const char *x, const char *y)
{
    size_t n = strlen(x);
    if (n != strlen(y))
        return 0;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(x[i] ^ y[i]);
    return d == 0;
}

static int bcrypt_allowed(admin_ui_t *a)
{
    long long now = clock_ms();
    if (now - a->bucket_window_ms >= 1000) {
        a->bucket_window_ms = now;
        a->bucket_count = 0;
    }
    return ++a->bucket_count <= BCRYPT_PER_SECOND;
}

static const char *admin_authorize(sio_socket_t *s, sioc_iov_t auth)
{
    admin_ui_t *a = ui_of(s);
    const worker_config_t *cf = a->w->conf;
    if (cf->admin_ui_no_auth)
        return NULL;
    char user[MAX_USER], password[MAX_PASSWORD], session[MAX_SESSION_ID + 1];
    int un = -1, pn = -1, sn = -1;
    jscan_iter_t it;
    sioc_iov_t key, val;
    if (jscan_iter_init(&it, auth) == 0) {
        while (jscan_next(&it, &key, &val) > 0) {
            if (jscan_token_kind(val) != JSCAN_STRING)
                continue;
            int *n = NULL;
            char *out = NULL;
            size_t cap = 0;
            if (jscan_string_eq(key, "username"))
                n = &un, out = user, cap = sizeof(user);
            else if (jscan_string_eq(key, "password"))
                n = &pn, out = password, cap = sizeof(password);
            else if (jscan_string_eq(key, "sessionId"))
                n = &sn, out = session, cap = sizeof(session);
            if (n == NULL)
                continue;
            *n = jscan_string_unescape(val, out, cap - 1);
            if (*n >= 0 && (size_t)*n < cap)
                out[*n] = '\0';
            else
                *n = -1;
        }
    }
    if (un >= 0 && pn >= 0 && strcmp(user, cf->admin_ui_user) == 0) {
        if (!bcrypt_allowed(a)) {
            a->throttled++;
            return too_many_attempts;
        }
        const char *h =
            crypt_rn(password, cf->admin_ui_password_hash, a->crypt, (int)sizeof(*a->crypt));
        memset(password, 0, sizeof(password));
        if (h != NULL && same(h, cf->admin_ui_password_hash)) {
            admin_conn_t *c = xcalloc(1, sizeof(*c));
            unsigned char raw[8];
            rand_fill(raw, sizeof(raw));
            for (size_t i = 0; i < sizeof(raw); i++) {
                c->session[2 * i] = hex_lower(raw[i] >> 4);
                c->session[2 * i + 1] = hex_lower(raw[i]);
            }
            sio_socket_set_data(s, c);
            a->logins++;
            return session_save(a, s, c->session);
        }
    }
    if (sn > 0 && strspn(session, "0123456789abcdefABCDEF-_") == (size_t)sn) {
        if (a->w->adapter == NULL) {
            if (session_known_locally(a, session)) {
                a->resumed++;
                return NULL;
            }
        } else {
            char k[sizeof(SESSION_KEY_PREFIX) + MAX_SESSION_ID];
            session_key(k, sizeof(k), session);
            const char *argv[] = {"EXISTS", k};
            if (adapter_command(a->w->adapter, on_session_exists, s, 2, argv) == 0)
                return sio_authorize_later;
        }
    }
    a->refused++;
    return invalid_credentials;
}

/* ------------------------------------------------------------------ */
/* all_sockets                                                          */

typedef struct all_sockets {
    admin_ui_t *a;
    char socket_id[32]; /* the admin socket that asked */
    size_t pending;
    json_t *list;
} all_sockets_t;

typedef struct {
    all_sockets_t *all;
    char *nsp;
} nsp_fetch_t;

static void all_sockets_done(all_sockets_t *all)
{
    admin_ui_t *a = all->a;
    sio_socket_t *s =
        a->running && a->nsp != NULL
            ? sio_socket_by_id(a->nsp, iov_make(all->socket_id, strlen(all->socket_id)))
            : NULL;
    if (s != NULL) {
        json_t *arr = json_pack("[s,O]", "all_sockets", all->list);
        char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
        if (text != NULL)
            (void)sio_emit(s, iov_make(text, strlen(text)), NULL, 0);
        free(text);
        json_decref(arr);
    }
    json_decref(all->list);
    free(all);
}

static void on_fetched(worker_t *w, sioc_iov_t json, int complete, void *data)
{
    (void)w;
    (void)complete;
    nsp_fetch_t *f = data;
    all_sockets_t *all = f->all;
    json_t *arr = json_loadb(json.base, json.len, 0, NULL);
    size_t i;
    json_t *sock;
    json_array_foreach(arr, i, sock)
    {
        json_t *ser = serialize_remote(sock, f->nsp);
        if (ser != NULL)
            json_array_append_new(all->list, ser);
    }
    json_decref(arr);
    free(f->nsp);
    free(f);
    if (--all->pending == 0)
        all_sockets_done(all);
}

static void collect_local(sio_socket_t *s, void *data)
{
    all_sockets_t *all = data;
    sioc_buf_t b = {0};
    if (serialize_local(s, &b) == 0) {
        json_t *v = json_loadb(b.base, b.len, 0, NULL);
        if (v != NULL)
            json_array_append_new(all->list, v);
    }
    buf_free(&b);
}

static void send_all_sockets(admin_ui_t *a, sio_socket_t *s)
{
    worker_t *w = a->w;
    all_sockets_t *all = xcalloc(1, sizeof(*all));
    all->a = a;
    snprintf(all->socket_id, sizeof(all->socket_id), "%s", sio_socket_id(s));
    all->list = json_array();
    size_t n = sio_nsp_count(w);
    if (w->adapter == NULL) {
        for (size_t i = 0; i < n; i++)
            if (sio_nsp_at(w, i) != NULL)
                sio_each(sio_nsp_at(w, i), NULL, 0, NULL, 0, collect_local, all);
        all_sockets_done(all);
        return;
    }
    all->pending = 1; /* dropped below, once every fetch is sent */
    for (size_t i = 0; i < n; i++) {
        sio_nsp_t *nsp = sio_nsp_at(w, i);
        if (nsp == NULL)
            continue;
        all->pending++;
        nsp_fetch_t *f = xmalloc(sizeof(*f));
        f->all = all;
        sioc_iov_t name = sio_nsp_name(nsp);
        f->nsp = xmalloc(name.len + 1);
        memcpy(f->nsp, name.base, name.len);
        f->nsp[name.len] = '\0';
        adapter_fetch_sockets(w->adapter, nsp, NULL, 0, on_fetched, f);
    }
    if (--all->pending == 0)
        all_sockets_done(all);
}

/* ------------------------------------------------------------------ */
/* Commands from the UI                                                 */

typedef struct {
    sio_socket_t **v;
    size_t n, cap;
} collected_t;

static void collect(sio_socket_t *s, void *data)
{
    collected_t *c = data;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    c->v[c->n++] = s;
}

static void command(admin_ui_t *a, sioc_iov_t name, json_t *args)
{
    worker_t *w = a->w;
    json_t *nsp_name = json_array_get(args, 0);
    if (!json_is_string(nsp_name))
        return;
    sio_nsp_t *nsp =
        sio_nsp_by_name(w, iov_make(json_string_value(nsp_name), json_string_length(nsp_name)));
    if (nsp == NULL)
        return;
    int is_emit = jscan_string_eq(name, "emit"), is_join = jscan_string_eq(name, "join"),
        is_leave = jscan_string_eq(name, "leave"), is_disc = jscan_string_eq(name, "_disconnect");
    /* emit(nsp, filter, ev, ...args); join / leave (nsp, room, filter); _disconnect(nsp, close,
     * filter) */
    json_t *filter = json_array_get(args, is_emit ? 1 : 2);
    sioc_iov_t room_filter = SIOC_IOV_NULL;
    if (json_is_string(filter) && json_string_length(filter) > 0)
        room_filter = iov_make(json_string_value(filter), json_string_length(filter));
    size_t n_filter = room_filter.base != NULL;
    if (is_emit) {
        json_t *ev = json_array_get(args, 2);
        if (!json_is_string(ev))
            return;
        json_t *out = json_array();
        for (size_t i = 2; i < json_array_size(args); i++)
            json_array_append(out, json_array_get(args, i));
        char *text = json_dumps(out, JSON_COMPACT);
        json_decref(out);
        if (text != NULL)
            broadcast_emit(nsp, &room_filter, n_filter, NULL, 0, iov_make(text, strlen(text)), NULL,
                           0);
        free(text);
    } else if (is_join || is_leave) {
        json_t *room = json_array_get(args, 1);
        if (!json_is_string(room) || json_string_length(room) == 0)
            return;
        sioc_iov_t r = iov_make(json_string_value(room), json_string_length(room));
        if (w->adapter != NULL) {
            adapter_sockets_join(w->adapter, nsp, &room_filter, n_filter, r, is_leave);
            return;
        }
        collected_t c = {0};
        sio_each(nsp, &room_filter, n_filter, NULL, 0, collect, &c);
        for (size_t i = 0; i < c.n; i++)
            (void)(is_leave ? sio_leave(c.v[i], r) : sio_join(c.v[i], r));
        free(c.v);
    } else if (is_disc) {
        int close = json_is_true(json_array_get(args, 1));
        if (w->adapter != NULL) {
            adapter_disconnect_sockets(w->adapter, nsp, &room_filter, n_filter, close);
            return;
        }
        collected_t c = {0};
        sio_each(nsp, &room_filter, n_filter, NULL, 0, collect, &c);
        for (size_t i = 0; i < c.n; i++)
            sio_disconnect(c.v[i], close);
        free(c.v);
    }
}

static void admin_event(sio_socket_t *s, const sio_event_t *ev)
{
    admin_ui_t *a = ui_of(s);
    if (a->w->conf->admin_ui_readonly || ev->n_att > 0)
        return;
    if (!jscan_string_eq(ev->name, "emit") && !jscan_string_eq(ev->name, "join") &&
        !jscan_string_eq(ev->name, "leave") && !jscan_string_eq(ev->name, "_disconnect"))
        return;
    sioc_buf_t b = {0};
    if (buf_append_byte(&b, '[') != 0 || buf_append(&b, ev->args.base, ev->args.len) != 0 ||
        buf_append_byte(&b, ']') != 0) {
        buf_free(&b);
        return;
    }
    json_t *args = json_loadb(b.base, b.len, 0, NULL);
    buf_free(&b);
    if (json_is_array(args))
        command(a, ev->name, args);
    json_decref(args);
}

/* ------------------------------------------------------------------ */
/* The wrapping application                                             */

static const char *wrap_authorize(sio_socket_t *s, sioc_iov_t auth)
{
    if (is_admin(s))
        return admin_authorize(s, auth);
    const sio_app_t *inner = ui_of(s)->inner;
    return inner->authorize != NULL ? inner->authorize(s, auth) : NULL;
}

static void socket_connected(admin_ui_t *a, sio_socket_t *s)
{
    sioc_buf_t b = {0};
    char date[64];
    iso_date(date, clock_unix_ms());
    int r = buf_append_str(&b, "[\"socket_connected\",");
    r |= serialize_local(s, &b);
    r |= buf_append_byte(&b, ',');
    r |= append_cstr(&b, date);
    r |= buf_append_byte(&b, ']');
    if (r == 0)
        emit_admin(a, iov_make(b.base, b.len));
    buf_free(&b);
}

static void wrap_connect(sio_socket_t *s, sioc_iov_t auth)
{
    admin_ui_t *a = ui_of(s);
    socket_connected(a, s);
    if (!is_admin(s)) {
        if (a->inner->on_connect != NULL)
            a->inner->on_connect(s, auth);
        return;
    }
    admin_conn_t *c = sio_socket_data(s);
    if (c != NULL && c->session[0] != '\0') {
        char msg[64];
        snprintf(msg, sizeof(msg), "[\"session\",\"%s\"]", c->session);
        (void)sio_emit(s, iov_make(msg, strlen(msg)), NULL, 0);
    }
    (void)sio_emit(s,
                   a->w->conf->admin_ui_readonly
                       ? SIOC_LIT("[\"config\",{\"supportedFeatures\":[\"AGGREGATED_EVENTS\","
                                  "\"ALL_EVENTS\"]}]")
                       : SIOC_LIT("[\"config\",{\"supportedFeatures\":[\"EMIT\",\"JOIN\","
                                  "\"LEAVE\",\"DISCONNECT\",\"MJOIN\",\"MLEAVE\","
                                  "\"MDISCONNECT\",\"AGGREGATED_EVENTS\",\"ALL_EVENTS\"]}]"),
                   NULL, 0);
    send_all_sockets(a, s);
}

static void wrap_event(sio_socket_t *s, const sio_event_t *ev)
{
    if (is_admin(s)) {
        admin_event(s, ev);
        return;
    }
    const sio_app_t *inner = ui_of(s)->inner;
    if (inner->on_event != NULL)
        inner->on_event(s, ev);
}

static void wrap_disconnect(sio_socket_t *s, const char *reason)
{
    admin_ui_t *a = ui_of(s);
    if (reason != NULL) {
        sioc_buf_t b = {0};
        char date[64];
        iso_date(date, clock_unix_ms());
        int r = buf_append_str(&b, "[\"socket_disconnected\",");
        r |= sio_json_append_iov(&b, sio_socket_nsp(s));
        r |= buf_append_byte(&b, ',');
        r |= append_cstr(&b, sio_socket_id(s));
        r |= buf_append_byte(&b, ',');
        r |= append_cstr(&b, reason);
        r |= buf_append_byte(&b, ',');
        r |= append_cstr(&b, date);
        r |= buf_append_byte(&b, ']');
        if (r == 0)
            emit_admin(a, iov_make(b.base, b.len));
        buf_free(&b);
    }
    if (is_admin(s)) {
        free(sio_socket_data(s));
        sio_socket_set_data(s, NULL);
        return;
    }
    if (a->inner->on_disconnect != NULL)
        a->inner->on_disconnect(s, reason);
}

/* The application's data with {_admin: {clientId, transport}} first, as instrument() keeps
 * it in socket.data. */
static int wrap_data_json(const sio_socket_t *s, sioc_buf_t *b)
{
    char cid[13];
    client_id(s, cid);
    sioc_buf_t d = {0};
    int r = inner_data_json(s, &d);
    r |= buf_append_str(b, "{\"_admin\":{\"clientId\":");
    r |= append_cstr(b, cid);
    r |= buf_append_str(b, ",\"transport\":");
    r |= append_cstr(b, sio_socket_transport(s));
    r |= buf_append_byte(b, '}');
    /* The app's object without its opening brace: "}" when empty, else ",<members>}". */
    size_t i = 1;
    while (i < d.len && (d.base[i] == ' ' || d.base[i] == '\n' || d.base[i] == '\t'))
        i++;
    if (r == 0 && d.len >= 2 && d.base[0] == '{' && i < d.len && d.base[i] != '}')
        r |= buf_append_byte(b, ',');
    if (r == 0 && d.len >= 2 && d.base[0] == '{')
        r |= buf_append(b, d.base + 1, d.len - 1);
    else
        r |= buf_append_byte(b, '}');
    buf_free(&d);
    return r;
}

static void on_member(sio_socket_t *s, sioc_iov_t room, int joined, void *data)
{
    admin_ui_t *a = data;
    if (!sio_socket_connected(s))
        return; /* the leaves of a disconnect: socket_disconnected says it */
    sioc_buf_t b = {0};
    char date[64];
    iso_date(date, clock_unix_ms());
    int r = buf_append_str(&b, joined ? "[\"room_joined\"," : "[\"room_left\",");
    r |= sio_json_append_iov(&b, sio_socket_nsp(s));
    r |= buf_append_byte(&b, ',');
    r |= sio_json_append_iov(&b, room);
    r |= buf_append_byte(&b, ',');
    r |= append_cstr(&b, sio_socket_id(s));
    r |= buf_append_byte(&b, ',');
    r |= append_cstr(&b, date);
    r |= buf_append_byte(&b, ']');
    if (r == 0)
        emit_admin(a, iov_make(b.base, b.len));
    buf_free(&b);
}

/* socket_updated {id, nsp, transport}, as instrument() emits it on the engine's upgrade. */
static void on_upgraded(sio_socket_t *s, void *data)
{
    admin_ui_t *a = data;
    sioc_buf_t b = {0};
    int r = buf_append_str(&b, "[\"socket_updated\",{\"id\":");
    r |= append_cstr(&b, sio_socket_id(s));
    r |= buf_append_str(&b, ",\"nsp\":");
    r |= sio_json_append_iov(&b, sio_socket_nsp(s));
    r |= buf_append_str(&b, ",\"transport\":\"websocket\"}]");
    if (r == 0)
        emit_admin(a, iov_make(b.base, b.len));
    buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                            */

admin_ui_t *admin_ui_new(worker_t *w, const sio_app_t *app)
{
    admin_ui_t *a = xcalloc(1, sizeof(*a));
    a->w = w;
    a->inner = app;
    a->app.authorize = wrap_authorize;
    a->app.on_connect = wrap_connect;
    a->app.on_event = wrap_event;
    a->app.on_disconnect = wrap_disconnect;
    a->app.data_json = wrap_data_json;
    a->app.on_deadline = app->on_deadline; /* admin sockets set no deadline */
    a->crypt = xcalloc(1, sizeof(*a->crypt));
    a->started_ms = clock_ms();
    if (gethostname(a->hostname, sizeof(a->hostname) - 1) != 0)
        snprintf(a->hostname, sizeof(a->hostname), "localhost");
    hmap_init(&a->sessions);
    w->admin_ui = a;
    return a;
}

const sio_app_t *admin_ui_app(admin_ui_t *a)
{
    return &a->app;
}

void admin_ui_start(admin_ui_t *a)
{
    worker_t *w = a->w;
    a->nsp = sio_nsp_by_name(w, SIOC_LIT(ADMIN_NSP));
    if (a->nsp == NULL)
        return;
    a->running = 1;
    sio_set_member_hook(w, on_member, on_upgraded, a);
    a->stats_timer = event_new(net_loop_base(w->loop), -1, EV_PERSIST, on_stats_timer, a);
    struct timeval tv = {STATS_MS / 1000, (STATS_MS % 1000) * 1000};
    event_add(a->stats_timer, &tv);
    log_info("admin UI: namespace %s, %s%s", ADMIN_NSP,
             w->conf->admin_ui_no_auth ? "NO AUTHENTICATION" : "basic authentication (bcrypt)",
             w->adapter ? ", sessions in Redis" : ", sessions in memory");
}

void admin_ui_stop(admin_ui_t *a)
{
    if (a == NULL)
        return;
    a->running = 0;
    if (a->stats_timer != NULL) {
        event_free(a->stats_timer);
        a->stats_timer = NULL;
    }
}

void admin_ui_free(admin_ui_t *a)
{
    if (a == NULL)
        return;
    admin_ui_stop(a);
    hmap_node_t *n;
    for (hmap_iter_t it = hmap_iter(&a->sessions); (n = hmap_next(&it)) != NULL;)
        free(container_of(n, mem_session_t, node));
    hmap_free(&a->sessions);
    free(a->crypt);
    a->w->admin_ui = NULL;
    free(a);
}

void admin_ui_metrics(const admin_ui_t *a, sioc_buf_t *b)
{
    char line[512];
    snprintf(line, sizeof(line),
             "# HELP sioc_admin_ui_logins_total Admin UI CONNECTs by result\n"
             "# TYPE sioc_admin_ui_logins_total counter\n"
             "sioc_admin_ui_logins_total{result=\"password\"} %llu\n"
             "sioc_admin_ui_logins_total{result=\"session\"} %llu\n"
             "sioc_admin_ui_logins_total{result=\"refused\"} %llu\n"
             "sioc_admin_ui_logins_total{result=\"throttled\"} %llu\n",
             a->logins, a->resumed, a->refused, a->throttled);
    (void)!buf_append_str(b, line);
}
