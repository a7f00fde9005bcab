/*
 * sio.c - Socket.IO v5 server (sio.h).
 *
 * Per Engine.IO session a sio_client_t holds the connected sockets (one per
 * namespace) and the binary packet being reassembled. Rooms are an index per
 * namespace: room name -> list of memberships; each membership node is also
 * linked into its socket, so leaving all rooms on disconnect is O(rooms of
 * the socket). A socket's own-id room is implicit (the socket table), which
 * saves one allocation per socket.
 *
 * Broadcasts are deduplicated with a per-namespace generation stamp on each
 * socket: except-members are stamped first, then the first visit of a socket
 * stamps and delivers, so a socket in several target rooms gets one copy.
 *
 * Dynamic namespaces (--namespace-pattern) live in slots after the configured ones: a
 * CONNECT to an unknown name that matches the pattern takes a free slot (the one freed
 * longest ago), the adapter subscribes its channels (nsp hook), and at the end of the
 * turn in which it has no socket, room or parked CONNECT left it is removed again (Node's
 * cleanupEmptyChildNamespaces). A slot's sio_nsp_t is never freed before the server, so
 * a pointer or index held by a pending request stays valid (it may name a later
 * namespace of the same slot: such requests find no socket). Recovery logs namespaces
 * by a uid that is never reused.
 */
#include "sio.h"

#include <assert.h>
#include <event2/event.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/addrcount.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/hmap.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/timeheap.h"
#include "eio_session.h"
#include "recovery.h"
#include "sio/jscan.h"
#include "sio/sio_binary.h"
#include "sio/sio_json.h"
#include "sio/sio_packet.h"

#define SOCKET_ID_LEN 20
#define MAX_ROOM_NAME 1024

/* The log and sessions of connection state recovery keep at most this many bytes each. */
#define RECOVERY_MAX_BYTES ((size_t)64 << 20)

struct sio_server {
    worker_t *w;
    const sio_app_t *app;
    recovery_t *recovery;               /* --max-disconnection-duration > 0; NULL otherwise */
    sio_recovery_store_t store;         /* a cluster-wide store (streams adapter) when store.save */
    unsigned long long joins_refused;   /* over --max-rooms-per-socket */
    addrcount_t *pending;               /* sessions without a namespace yet, by client address */
    unsigned long long pending_refused; /* handshakes over --max-pending-sessions-per-ip */
    sio_room_hook room_hook;
    sio_member_hook member_hook;
    sio_transport_hook transport_hook; /* both hooks get member_hook_data */
    void *member_hook_data;
    sio_broadcast_tap tap; /* sees every broadcast delivered here (Server-Sent Events) */
    void *tap_data;
    sio_nsp_t **nsps; /* n_static configured namespaces, then the dynamic slots */
    size_t n_nsps, n_static;
    hmap_t by_name;   /* live namespaces */
    regex_t *pattern; /* --namespace-pattern, anchored; NULL when unset */
    size_t n_dynamic; /* live dynamic namespaces */
    unsigned long long dyn_created, dyn_removed, dyn_refused;
    unsigned long long next_uid;
    sio_nsp_hook nsp_hook;
    sioc_list_t handshake_fifo; /* clients without a namespace yet (connect timeout) */
    struct event *connect_timer;
    timeheap_t deadlines; /* sockets by deadline (sio_socket_set_deadline), wall-clock ms */
    struct event *deadline_timer;
};

struct sio_nsp {
    size_t index;
    hmap_node_t by_name;    /* in srv->by_name while live */
    unsigned long long uid; /* recovery's namespace key: never reused */
    uint8_t live, dynamic;
    unsigned parked;        /* CONNECTs of this namespace waiting for the store or the app */
    long long freed_ms;     /* dynamic: when the slot was last freed */
    net_deferred_t cleanup; /* dynamic: the end-of-turn emptiness check */
    char *name;
    sioc_iov_t name_iov;
    hmap_t sockets; /* by id */
    hmap_t rooms;   /* by name */
    uint32_t gen;   /* of the last broadcast (next_gen()) */
    struct sio_server *srv;
};

typedef struct room {
    hmap_node_t node;
    sioc_list_t members;
    size_t count;
    unsigned pins; /* iterations in progress: the room outlives its last member until 0 */
    unsigned held; /* holders outside sio (sio_room_hold): the room lives while they stay */
    char name[];
} room_t;

typedef struct membership {
    sioc_list_t in_room;
    sioc_list_t in_socket;
    hmap_node_t by_name; /* in socket->room_index once the socket has many rooms */
    room_t *room;
    sio_socket_t *socket;
} membership_t;

/* A socket's memberships are a list; past this many they are also indexed by name, so a
 * membership check stays O(1) however many rooms a socket joins (most sockets have a few
 * rooms and pay no table). */
#define ROOM_INDEX_AT 8

/* Kept in its Engine.IO session's allocation (eio_handler_t.data_size): freed with it. */
typedef struct sio_client {
    eio_session_t *eio;
    sioc_list_t sockets;
    sioc_list_t fifo;   /* in sio_server->handshake_fifo until the first namespace connect */
    sioc_list_t parked; /* CONNECTs waiting for the recovery store (sio_restore_t) */
    addrcount_entry_t *pending; /* its address's count of sessions not yet connected */
    long long created_ms;       /* on_open; 0 before it and from on_close on (client_of()) */
    /* A binary packet waiting for its attachments (allocated only then). */
    struct partial *partial;
} sio_client_t;

typedef struct partial {
    sio_packet_t pkt; /* slices into text */
    unsigned have;
    size_t bytes;
    sioc_iov_t att[SIO_MAX_ATTACHMENTS];
    char text[];
} partial_t;

typedef struct pending_ack {
    sioc_list_t link;
    unsigned long long id;
    sio_ack_cb cb;
    void *data;
    struct event *timer;
    sio_socket_t *socket;
} pending_ack_t;

struct sio_socket {
    hmap_node_t node; /* in nsp->sockets */
    sio_nsp_t *nsp;
    sio_client_t *client;
    union {
        sioc_list_t link;           /* connected: in client->sockets */
        struct sio_restore *parked; /* before: its CONNECT waits for the app's middleware */
    };
    sioc_list_t rooms;  /* memberships */
    hmap_t *room_index; /* memberships by room name; NULL until n_rooms > ROOM_INDEX_AT */
    sioc_list_t acks;   /* pending server->client acks */
    uint32_t gen;       /* the last broadcast that reached or skipped it (next_gen()) */
    uint32_t next_ack;  /* ids of server->client acks, wrapping at 2^32 */
    long long rate_window_ms;
    unsigned rate_count;
    unsigned n_rooms; /* entries of `rooms` */
    void *data;
    char *pid; /* private session id, with recovery on */
    /* Store mode: rewrite the session at the end of the turn; after the disconnect, the free. */
    net_deferred_t turn;
    timeheap_node_t deadline; /* in srv->deadlines while set */
    char id[SOCKET_ID_LEN + 1];
    uint8_t connected;
};

/* The client of an Engine.IO session: NULL before on_open (a session can end before it
 * opens) and once on_close began. */
static sio_client_t *client_of(eio_session_t *e)
{
    sio_client_t *c = eio_session_data(e);
    return c->created_ms != 0 ? c : NULL;
}

static worker_t *client_worker(const sio_client_t *c)
{
    return eio_session_owner(c->eio);
}

static worker_t *socket_worker(const sio_socket_t *s)
{
    return s->nsp->srv->w;
}

static sio_nsp_t *nsp_find(struct sio_server *srv, sioc_iov_t name);
static void nsp_check_later(sio_nsp_t *n);

static struct sio_server *server_of(worker_t *w)
{
    return w->sio;
}

/* ------------------------------------------------------------------ */
/* Sending                                                              */

/* The client left the pending state (its first namespace connect, or its end): out of the
 * connect-timeout list and of its address's pending count. */
static void client_connected(sio_client_t *c)
{
    if (list_linked(&c->fifo))
        list_remove(&c->fifo);
    if (c->pending != NULL) {
        addrcount_release(c->pending);
        c->pending = NULL;
    }
}

static int send_packet(sio_socket_t *s, int type, int has_ack, unsigned long long ack_id,
                       sioc_iov_t data, const sioc_iov_t *att, size_t n_att)
{
    if (!s->connected)
        return SIOC_ECANCELED;
    sioc_buf_t b = {0};
    int binary = n_att > 0;
    int t = type;
    if (binary)
        t = type == SIO_EVENT ? SIO_BINARY_EVENT : SIO_BINARY_ACK;
    int r = sio_packet_write(&b, t, (unsigned)n_att, s->nsp->name_iov, has_ack, ack_id, data);
    if (r == 0)
        r = eio_send_text(s->client->eio, b.base, b.len);
    for (size_t i = 0; i < n_att && r == 0; i++)
        r = eio_send_binary(s->client->eio, att[i].base, att[i].len);
    buf_free(&b);
    if (r == 0 && type == SIO_EVENT)
        socket_worker(s)->stats.sio_events_out++;
    return r;
}

int sio_emit(sio_socket_t *s, sioc_iov_t json_array, const sioc_iov_t *att, size_t n_att)
{
    /* With recovery on, an emit to one socket is logged as a broadcast to its own id, so
     * it carries an offset and is replayed if the socket is away (as Node does). */
    sioc_iov_t room = iov_make(s->id, SOCKET_ID_LEN);
    sioc_iov_t logged;
    if (s->connected && sio_store_emit(s->nsp, &room, 1, NULL, 0, json_array, att, n_att))
        return 0;
    if (s->connected && sio_log_event(s->nsp, &room, 1, NULL, 0, json_array, att, n_att, &logged))
        json_array = logged;
    return send_packet(s, SIO_EVENT, 0, 0, json_array, att, n_att);
}

/* The in-memory log serves the in-memory adapter only: a Redis Pub/Sub adapter keeps no log
 * (as with Node's classic and sharded adapters, the CONNECT reply still carries a pid), and
 * the streams adapter installs a cluster-wide store instead (srv->store). */
static recovery_t *recovery_of(const struct sio_server *srv)
{
    return srv->w->adapter == NULL ? srv->recovery : NULL;
}

int sio_log_event(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms, const sioc_iov_t *except,
                  size_t n_except, sioc_iov_t json_array, const sioc_iov_t *att, size_t n_att,
                  sioc_iov_t *with_offset)
{
    recovery_t *r = recovery_of(nsp->srv);
    return r != NULL && recovery_log(r, clock_unix_ms(), nsp->uid, rooms, n_rooms, except, n_except,
                                     json_array, att, n_att, with_offset) == 0;
}

int sio_store_emit(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                   const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                   const sioc_iov_t *att, size_t n_att)
{
    const sio_recovery_store_t *st = &nsp->srv->store;
    if (st->emit == NULL)
        return 0;
    st->emit(st->ctx, nsp, rooms, n_rooms, except, n_except, json_array, att, n_att);
    return 1;
}

int sio_store_replay(sio_nsp_t *nsp, sioc_iov_t offset, const sioc_iov_t *rooms, size_t n_rooms,
                     sio_replay_cb packet, void (*done)(int result, void *data), void *data)
{
    const sio_recovery_store_t *st = &nsp->srv->store;
    if (st->replay == NULL)
        return 0;
    st->replay(st->ctx, nsp, offset, rooms, n_rooms, packet, done, data);
    return 1;
}

void sio_set_recovery_store(worker_t *w, const sio_recovery_store_t *store)
{
    struct sio_server *srv = server_of(w);
    if (srv->recovery != NULL)
        srv->store = *store;
}

const char *sio_socket_pid(const sio_socket_t *s)
{
    return s->pid;
}

static void session_write(net_deferred_t *d)
{
    sio_socket_t *s = container_of(d, sio_socket_t, turn);
    const sio_recovery_store_t *st = &s->nsp->srv->store;
    if (s->connected && st->save != NULL)
        st->save(st->ctx, s);
}

/* Store mode: the session follows the socket's rooms (written once per loop turn). */
static void session_touch(sio_socket_t *s)
{
    if (s->connected && s->pid != NULL && s->nsp->srv->store.save != NULL) {
        s->turn.cb = session_write;
        net_loop_defer(socket_worker(s)->loop, &s->turn);
    }
}

int sio_ack(sio_socket_t *s, unsigned long long ack_id, sioc_iov_t json_array,
            const sioc_iov_t *att, size_t n_att)
{
    return send_packet(s, SIO_ACK, 1, ack_id, json_array, att, n_att);
}

static void ack_finish(pending_ack_t *a, sioc_iov_t *args, const char *reason)
{
    list_remove(&a->link);
    if (a->timer != NULL)
        event_free(a->timer);
    a->cb(a->socket, args, reason, a->data);
    free(a);
}

static void on_ack_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ack_finish(arg, NULL, "operation has timed out");
}

int sio_emit_ack(sio_socket_t *s, sioc_iov_t json_array, sio_ack_cb cb, void *data)
{
    return sio_emit_ack_att(s, json_array, NULL, 0, cb, data);
}

int sio_emit_ack_att(sio_socket_t *s, sioc_iov_t json_array, const sioc_iov_t *att, size_t n_att,
                     sio_ack_cb cb, void *data)
{
    unsigned long long id = s->next_ack++;
    int r = send_packet(s, SIO_EVENT, 1, id, json_array, att, n_att);
    if (r != 0)
        return r;
    pending_ack_t *a = xcalloc(1, sizeof(*a));
    a->id = id;
    a->cb = cb;
    a->data = data;
    a->socket = s;
    worker_t *w = socket_worker(s);
    a->timer = event_new(net_loop_base(w->loop), -1, 0, on_ack_timeout, a);
    long ms = w->conf->ack_timeout;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(a->timer, &tv);
    list_insert_tail(&s->acks, &a->link);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Rooms                                                                */

static room_t *room_find(sio_nsp_t *nsp, sioc_iov_t name)
{
    hmap_node_t *n = hmap_get(&nsp->rooms, name);
    return n ? container_of(n, room_t, node) : NULL;
}

static membership_t *membership_find(const sio_socket_t *s, sioc_iov_t room)
{
    if (s->room_index != NULL) {
        hmap_node_t *n = hmap_get(s->room_index, room);
        return n ? container_of(n, membership_t, by_name) : NULL;
    }
    sioc_list_t *p;
    list_foreach(p, &s->rooms)
    {
        membership_t *m = container_of(p, membership_t, in_socket);
        if (iov_eq(m->room->node.key, room))
            return m;
    }
    return NULL;
}

/* The room `name`, created (and announced to the room hook) when it has no member yet. */
static room_t *room_get(sio_nsp_t *nsp, sioc_iov_t name)
{
    room_t *r = room_find(nsp, name);
    if (r != NULL)
        return r;
    r = xmalloc(sizeof(*r) + name.len + 1);
    memcpy(r->name, name.base, name.len);
    r->name[name.len] = '\0';
    r->node.key = iov_make(r->name, name.len);
    list_init(&r->members);
    r->count = 0;
    r->pins = 0;
    r->held = 0;
    hmap_put(&nsp->rooms, &r->node);
    if (nsp->srv->room_hook != NULL)
        nsp->srv->room_hook(nsp->srv->w, nsp, r->node.key, 1);
    return r;
}

/* The room lost its last member or holder: gone from the index and from the adapter. */
static void room_gone(sio_nsp_t *nsp, room_t *r)
{
    hmap_del(&nsp->rooms, &r->node);
    if (nsp->dynamic && nsp->rooms.count == 0)
        nsp_check_later(nsp);
    if (nsp->srv->room_hook != NULL)
        nsp->srv->room_hook(nsp->srv->w, nsp, r->node.key, 0);
    if (r->pins == 0)
        free(r);
}

int sio_room_hold(sio_nsp_t *nsp, sioc_iov_t room)
{
    if (room.len == 0 || room.len > MAX_ROOM_NAME)
        return SIOC_EINVAL;
    room_get(nsp, room)->held++;
    return 0;
}

void sio_room_release(sio_nsp_t *nsp, sioc_iov_t room)
{
    room_t *r = room_find(nsp, room);
    if (r == NULL || r->held == 0)
        return;
    if (--r->held == 0 && r->count == 0)
        room_gone(nsp, r);
}

void sio_set_broadcast_tap(worker_t *w, sio_broadcast_tap tap, void *data)
{
    if (w->sio != NULL) {
        w->sio->tap = tap;
        w->sio->tap_data = data;
    }
}

int sio_replay(sio_nsp_t *nsp, sioc_iov_t offset, const sioc_iov_t *rooms, size_t n_rooms,
               sio_replay_cb cb, void *data)
{
    recovery_t *r = recovery_of(nsp->srv);
    if (r == NULL)
        return -1;
    return (int)recovery_replay(r, clock_unix_ms(), nsp->uid, offset, rooms, n_rooms, cb, data);
}

int sio_in_room(const sio_socket_t *s, sioc_iov_t room)
{
    if (iov_eq_str(room, s->id))
        return 1;
    return membership_find(s, room) != NULL;
}

int sio_join(sio_socket_t *s, sioc_iov_t name)
{
    if (name.len == 0 || name.len > MAX_ROOM_NAME)
        return SIOC_EINVAL;
    if (!s->connected)
        return SIOC_ECANCELED;
    if (iov_eq_str(name, s->id) || membership_find(s, name) != NULL)
        return 0;
    long max = socket_worker(s)->conf->max_rooms_per_socket;
    if (max > 0 && s->n_rooms >= (size_t)max) {
        s->nsp->srv->joins_refused++;
        return SIOC_ENOSPC;
    }
    room_t *r = room_get(s->nsp, name);
    membership_t *m = xmalloc(sizeof(*m));
    m->room = r;
    m->socket = s;
    m->by_name.key = r->node.key;
    list_insert_tail(&r->members, &m->in_room);
    list_insert_tail(&s->rooms, &m->in_socket);
    r->count++;
    if (++s->n_rooms > ROOM_INDEX_AT && s->room_index == NULL) {
        s->room_index = xmalloc(sizeof(*s->room_index));
        hmap_init(s->room_index);
        sioc_list_t *p;
        list_foreach(p, &s->rooms)
        {
            hmap_put(s->room_index, &container_of(p, membership_t, in_socket)->by_name);
        }
    } else if (s->room_index != NULL) {
        hmap_put(s->room_index, &m->by_name);
    }
    session_touch(s);
    if (s->nsp->srv->member_hook != NULL)
        s->nsp->srv->member_hook(s, r->node.key, 1, s->nsp->srv->member_hook_data);
    return 0;
}

static void membership_drop(sio_nsp_t *nsp, membership_t *m)
{
    room_t *r = m->room;
    sio_socket_t *s = m->socket;
    if (s->room_index != NULL)
        hmap_del(s->room_index, &m->by_name);
    s->n_rooms--;
    list_remove(&m->in_room);
    list_remove(&m->in_socket);
    free(m);
    if (nsp->srv->member_hook != NULL)
        nsp->srv->member_hook(s, r->node.key, 0, nsp->srv->member_hook_data);
    if (--r->count == 0 && r->held == 0)
        room_gone(nsp, r);
}

/* A callback run for each member may make a member leave (socketsLeave of the room
 * being walked, a slow consumer dropped mid-broadcast); the walk pins the room so
 * that its last member leaving does not free the list under it. */
static void room_unpin(room_t *r)
{
    if (--r->pins == 0 && r->count == 0 && r->held == 0)
        free(r);
}

int sio_leave(sio_socket_t *s, sioc_iov_t name)
{
    membership_t *m = membership_find(s, name);
    if (m != NULL) {
        membership_drop(s->nsp, m);
        session_touch(s);
    }
    return 0;
}

const recovery_stats_t *sio_recovery_stats(worker_t *w)
{
    struct sio_server *srv = server_of(w);
    /* With a cluster adapter the adapter reports recovery (adapter_metrics). */
    return srv != NULL && recovery_of(srv) != NULL ? recovery_stats(srv->recovery) : NULL;
}

unsigned long long sio_pending_refused(worker_t *w)
{
    return server_of(w) ? server_of(w)->pending_refused : 0;
}

unsigned long long sio_joins_refused(worker_t *w)
{
    return server_of(w) ? server_of(w)->joins_refused : 0;
}

unsigned long long sio_room_count(worker_t *w)
{
    struct sio_server *srv = server_of(w);
    unsigned long long n = 0;
    for (size_t i = 0; srv != NULL && i < srv->n_nsps; i++)
        if (srv->nsps[i] != NULL)
            n += srv->nsps[i]->rooms.count;
    return n;
}

/* ------------------------------------------------------------------ */
/* Broadcast                                                            */

/* A new broadcast generation. At wrap-around every socket's mark is cleared, so that none
 * holds a mark equal to a generation still to come (it would be skipped). */
static uint32_t next_gen(sio_nsp_t *nsp)
{
    if (++nsp->gen == 0) {
        hmap_node_t *n;
        for (hmap_iter_t it = hmap_iter(&nsp->sockets); (n = hmap_next(&it)) != NULL;)
            container_of(n, sio_socket_t, node)->gen = 0;
        nsp->gen = 1;
    }
    return nsp->gen;
}

static void mark(sio_nsp_t *nsp, sioc_iov_t room, uint32_t gen)
{
    hmap_node_t *sn = hmap_get(&nsp->sockets, room);
    if (sn != NULL)
        container_of(sn, sio_socket_t, node)->gen = gen;
    room_t *r = room_find(nsp, room);
    if (r == NULL)
        return;
    sioc_list_t *p;
    list_foreach(p, &r->members) container_of(p, membership_t, in_room)->socket->gen = gen;
}

static int deliver(sio_socket_t *s, eio_msg_t *m, uint32_t gen, unsigned flags)
{
    if (s->gen == gen || !s->connected)
        return 0;
    s->gen = gen;
    /* socket.io Client.writeToEngine: "volatile packet is discarded since the transport is
     * not currently writable". */
    if ((flags & SIO_BROADCAST_VOLATILE) && !eio_session_writable(s->client->eio)) {
        socket_worker(s)->stats.eio.volatile_dropped++;
        return 0;
    }
    socket_worker(s)->stats.sio_events_out++;
    /* A full output queue closes that client, not the broadcast. */
    (void)eio_send_msg(s->client->eio, m);
    return 1;
}

sio_nsp_t *sio_socket_nsp_obj(const sio_socket_t *s)
{
    return s->nsp;
}

typedef struct {
    sio_each_cb cb;
    void *data;
} each_ctx_t;

static int visit(sio_socket_t *s, uint32_t gen, each_ctx_t *e)
{
    if (s->gen == gen || !s->connected)
        return 0;
    s->gen = gen;
    e->cb(s, e->data);
    return 1;
}

void sio_each(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms, const sioc_iov_t *except,
              size_t n_except, sio_each_cb cb, void *data)
{
    each_ctx_t e = {cb, data};
    uint32_t gen = next_gen(nsp);
    for (size_t i = 0; i < n_except; i++)
        mark(nsp, except[i], gen);
    if (n_rooms == 0) {
        hmap_node_t *n;
        for (hmap_iter_t it = hmap_iter(&nsp->sockets); (n = hmap_next(&it)) != NULL;)
            visit(container_of(n, sio_socket_t, node), gen, &e);
    }
    for (size_t i = 0; i < n_rooms; i++) {
        hmap_node_t *sn = hmap_get(&nsp->sockets, rooms[i]);
        if (sn != NULL)
            visit(container_of(sn, sio_socket_t, node), gen, &e);
        room_t *room = room_find(nsp, rooms[i]);
        if (room == NULL)
            continue;
        room->pins++;
        sioc_list_t *p, *tmp;
        list_foreach_safe(p, tmp, &room->members)
        {
            visit(container_of(p, membership_t, in_room)->socket, gen, &e);
        }
        room_unpin(room);
    }
}

void sio_socket_rooms(const sio_socket_t *s, sio_room_cb cb, void *data)
{
    cb(iov_make(s->id, SOCKET_ID_LEN), data);
    sioc_list_t *p;
    list_foreach(p, &s->rooms) cb(container_of(p, membership_t, in_socket)->room->node.key, data);
}

void sio_nsp_rooms(sio_nsp_t *nsp, sio_room_cb cb, void *data)
{
    hmap_node_t *n;
    for (hmap_iter_t it = hmap_iter(&nsp->rooms); (n = hmap_next(&it)) != NULL;)
        cb(n->key, data);
    for (hmap_iter_t it = hmap_iter(&nsp->sockets); (n = hmap_next(&it)) != NULL;)
        cb(n->key, data);
}

int sio_nsp_has_room(sio_nsp_t *nsp, sioc_iov_t room)
{
    return room_find(nsp, room) != NULL || hmap_get(&nsp->sockets, room) != NULL;
}

worker_t *sio_nsp_worker(const sio_nsp_t *nsp)
{
    return nsp->srv->w;
}

int sio_json_str(sioc_buf_t *b, sioc_iov_t s)
{
    return sio_json_append_string(b, s.base, s.len);
}

size_t sio_nsp_count(worker_t *w)
{
    return w->sio ? w->sio->n_nsps : 0;
}

sio_nsp_t *sio_nsp_at(worker_t *w, size_t i)
{
    sio_nsp_t *n = w->sio->nsps[i];
    return n != NULL && n->live ? n : NULL;
}

sio_nsp_t *sio_nsp_by_name(worker_t *w, sioc_iov_t name)
{
    return w->sio ? nsp_find(w->sio, name) : NULL;
}

sioc_iov_t sio_nsp_name(const sio_nsp_t *nsp)
{
    return nsp->name_iov;
}

size_t sio_nsp_socket_count(const sio_nsp_t *nsp)
{
    return nsp->sockets.count;
}

size_t sio_nsp_index(const sio_nsp_t *nsp)
{
    return nsp->index;
}

const char *sio_socket_addr(const sio_socket_t *s)
{
    return eio_session_addr(s->client->eio);
}

sio_socket_t *sio_socket_by_id(sio_nsp_t *nsp, sioc_iov_t id)
{
    hmap_node_t *n = hmap_get(&nsp->sockets, id);
    return n ? container_of(n, sio_socket_t, node) : NULL;
}

int sio_socket_data_json(const sio_socket_t *s, sioc_buf_t *b)
{
    const sio_app_t *app = s->nsp->srv->app;
    if (app->data_json != NULL)
        return app->data_json(s, b);
    return buf_append_str(b, "{}");
}

void sio_set_room_hook(worker_t *w, sio_room_hook hook)
{
    if (w->sio != NULL)
        w->sio->room_hook = hook;
}

void sio_set_member_hook(worker_t *w, sio_member_hook hook, sio_transport_hook transport,
                         void *data)
{
    if (w->sio != NULL) {
        w->sio->member_hook = hook;
        w->sio->transport_hook = transport;
        w->sio->member_hook_data = data;
    }
}

const char *sio_socket_transport(const sio_socket_t *s)
{
    return eio_session_is_websocket(s->client->eio) ? "websocket" : "polling";
}

const char *sio_socket_client_id(const sio_socket_t *s)
{
    return eio_session_sid(s->client->eio);
}

int sio_broadcast(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms, const sioc_iov_t *except,
                  size_t n_except, sioc_iov_t json_array, const sioc_iov_t *att, size_t n_att)
{
    return sio_broadcast_flags(nsp, rooms, n_rooms, except, n_except, json_array, att, n_att, 0);
}

int sio_broadcast_flags(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                        const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                        const sioc_iov_t *att, size_t n_att, unsigned flags)
{
    sioc_buf_t b = {0};
    int r = sio_packet_write(&b, n_att ? SIO_BINARY_EVENT : SIO_EVENT, (unsigned)n_att,
                             nsp->name_iov, 0, 0, json_array);
    if (r != 0) {
        buf_free(&b);
        return r;
    }
    eio_msg_t *m = eio_msg_new(b.base, b.len, att, n_att);
    buf_free(&b);
    if (m == NULL)
        return SIOC_ENOMEM;
    if (flags & SIO_BROADCAST_NO_COMPRESS)
        eio_msg_set_compress(m, 0);
    uint32_t gen = next_gen(nsp);
    for (size_t i = 0; i < n_except; i++)
        mark(nsp, except[i], gen);
    int count = 0;
    if (n_rooms == 0) {
        hmap_node_t *n;
        for (hmap_iter_t it = hmap_iter(&nsp->sockets); (n = hmap_next(&it)) != NULL;)
            count += deliver(container_of(n, sio_socket_t, node), m, gen, flags);
    }
    for (size_t i = 0; i < n_rooms; i++) {
        hmap_node_t *sn = hmap_get(&nsp->sockets, rooms[i]);
        if (sn != NULL)
            count += deliver(container_of(sn, sio_socket_t, node), m, gen, flags);
        room_t *room = room_find(nsp, rooms[i]);
        if (room == NULL)
            continue;
        room->pins++;
        sioc_list_t *p, *tmp;
        list_foreach_safe(p, tmp, &room->members)
        {
            count += deliver(container_of(p, membership_t, in_room)->socket, m, gen, flags);
        }
        room_unpin(room);
    }
    eio_msg_unref(m);
    if (nsp->srv->tap != NULL)
        nsp->srv->tap(nsp, rooms, n_rooms, except, n_except, json_array, att, n_att,
                      nsp->srv->tap_data);
    nsp->srv->w->stats.broadcasts++;
    return count;
}

/* ------------------------------------------------------------------ */
/* Sockets                                                              */

const char *sio_socket_id(const sio_socket_t *s)
{
    return s->id;
}

sioc_iov_t sio_socket_nsp(const sio_socket_t *s)
{
    return s->nsp->name_iov;
}

worker_t *sio_socket_worker(const sio_socket_t *s)
{
    return socket_worker(s);
}

void *sio_socket_data(const sio_socket_t *s)
{
    return s->data;
}

void sio_socket_set_data(sio_socket_t *s, void *data)
{
    s->data = data;
}

int sio_socket_connected(const sio_socket_t *s)
{
    return s->connected;
}

static void socket_free(sio_socket_t *s)
{
    net_loop_cancel(&s->turn);
    /* A closed socket has no deadline left (socket_close), and may be reaped after the
     * server is gone: only a socket that never connected reaches the heap from here. */
    if (timeheap_queued(&s->deadline))
        timeheap_remove(&s->nsp->srv->deadlines, &s->deadline);
    free(s->pid);
    free(s);
}

static void socket_reap(net_deferred_t *d)
{
    socket_free(container_of(d, sio_socket_t, turn));
}

static void arm_deadline_timer(struct sio_server *srv)
{
    const timeheap_node_t *top = timeheap_top(&srv->deadlines);
    if (top == NULL) {
        event_del(srv->deadline_timer);
        return;
    }
    long long left = top->due - clock_unix_ms();
    if (left < 0)
        left = 0;
    struct timeval tv = {(time_t)(left / 1000), (suseconds_t)((left % 1000) * 1000)};
    event_add(srv->deadline_timer, &tv);
}

void sio_socket_set_deadline(sio_socket_t *s, long long unix_ms)
{
    struct sio_server *srv = s->nsp->srv;
    int was_first = timeheap_top(&srv->deadlines) == &s->deadline;
    if (unix_ms > 0)
        timeheap_push(&srv->deadlines, &s->deadline, unix_ms);
    else
        timeheap_remove(&srv->deadlines, &s->deadline);
    if (was_first || timeheap_top(&srv->deadlines) == &s->deadline)
        arm_deadline_timer(srv);
}

long long sio_socket_deadline(const sio_socket_t *s)
{
    return timeheap_queued(&s->deadline) ? s->deadline.due : 0;
}

/* Runs the passed deadlines. libevent measures from its cached loop time, so the timer may
 * fire a little early: what is not due yet waits for the re-armed timer. */
static void on_deadline_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sio_server *srv = arg;
    timeheap_node_t *n;
    while ((n = timeheap_pop_due(&srv->deadlines, clock_unix_ms())) != NULL) {
        sio_socket_t *s = container_of(n, sio_socket_t, deadline);
        if (!s->connected)
            continue;
        if (srv->app->on_deadline != NULL)
            srv->app->on_deadline(s);
        else
            sio_disconnect(s, 0);
    }
    arm_deadline_timer(srv);
}

/* The reasons after which Node keeps a socket's session for recovery (socket.ts). */
static int recoverable(const char *reason)
{
    static const char *const reasons[] = {"transport error",      "transport close",
                                          "forced close",         "ping timeout",
                                          "server shutting down", "forced server close"};
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (strcmp(reason, reasons[i]) == 0)
            return 1;
    return 0;
}

static void session_save(sio_socket_t *s, const char *reason)
{
    const sio_recovery_store_t *st = &s->nsp->srv->store;
    if (st->save != NULL && s->pid != NULL) {
        net_loop_cancel(&s->turn);
        if (reason != NULL && recoverable(reason))
            st->save(st->ctx, s);
        else
            st->drop(st->ctx, s);
        return;
    }
    recovery_t *r = recovery_of(s->nsp->srv);
    if (r == NULL || s->pid == NULL || reason == NULL || !recoverable(reason))
        return;
    sioc_iov_t small[16];
    sioc_iov_t *rooms = s->n_rooms < 16 ? small : xmalloc((s->n_rooms + 1) * sizeof(*rooms));
    size_t n = 0;
    rooms[n++] = iov_make(s->id, SOCKET_ID_LEN);
    sioc_list_t *p;
    list_foreach(p, &s->rooms) rooms[n++] =
        container_of(p, membership_t, in_socket)->room->node.key;
    recovery_save(r, clock_unix_ms(), s->pid, s->id, s->nsp->uid, rooms, n);
    if (rooms != small)
        free(rooms);
}

/* Ends a socket: leaves its rooms, fails its pending acks, tells the app. */
static void socket_close(sio_socket_t *s, const char *reason)
{
    if (!s->connected)
        return;
    worker_t *w = socket_worker(s);
    s->connected = 0;
    hmap_del(&s->nsp->sockets, &s->node);
    list_remove(&s->link);
    session_save(s, reason);
    while (!list_empty(&s->rooms))
        membership_drop(s->nsp, container_of(s->rooms.next, membership_t, in_socket));
    if (s->room_index != NULL) {
        hmap_free(s->room_index);
        free(s->room_index);
        s->room_index = NULL;
    }
    while (!list_empty(&s->acks))
        ack_finish(container_of(s->acks.next, pending_ack_t, link), NULL, reason);
    w->stats.sockets_open--;
    sio_socket_set_deadline(s, 0);
    if (s->nsp->dynamic && s->nsp->sockets.count == 0)
        nsp_check_later(s->nsp);
    const sio_app_t *app = s->nsp->srv->app;
    if (app->on_disconnect != NULL)
        app->on_disconnect(s, reason);
    net_loop_cancel(&s->turn);
    s->turn.cb = socket_reap;
    net_loop_defer(w->loop, &s->turn);
}

void sio_disconnect(sio_socket_t *s, int close)
{
    if (!s->connected)
        return;
    sio_client_t *c = s->client;
    sioc_buf_t b = {0};
    if (sio_packet_write_disconnect(&b, s->nsp->name_iov) == 0)
        (void)eio_send_text(c->eio, b.base, b.len);
    buf_free(&b);
    socket_close(s, "server namespace disconnect");
    if (close)
        eio_session_close(c->eio, eio_reason_forced_close);
}

static sio_socket_t *client_socket(sio_client_t *c, sioc_iov_t nsp)
{
    sioc_list_t *p;
    list_foreach(p, &c->sockets)
    {
        sio_socket_t *s = container_of(p, sio_socket_t, link);
        if (iov_eq(s->nsp->name_iov, nsp))
            return s;
    }
    return NULL;
}

static sio_nsp_t *nsp_find(struct sio_server *srv, sioc_iov_t name)
{
    hmap_node_t *n = hmap_get(&srv->by_name, name);
    return n ? container_of(n, sio_nsp_t, by_name) : NULL;
}

/* ------------------------------------------------------------------ */
/* Dynamic namespaces                                                   */

/* Longest dynamic namespace name accepted. */
#define MAX_DYNAMIC_NAME 256

static void nsp_cleanup(net_deferred_t *d);

static void nsp_check_later(sio_nsp_t *n)
{
    n->cleanup.cb = nsp_cleanup;
    net_loop_defer(n->srv->w->loop, &n->cleanup);
}

/* End of a turn in which a dynamic namespace may have become empty. */
static void nsp_cleanup(net_deferred_t *d)
{
    sio_nsp_t *n = container_of(d, sio_nsp_t, cleanup);
    struct sio_server *srv = n->srv;
    if (!n->live || n->sockets.count > 0 || n->rooms.count > 0 || n->parked > 0)
        return;
    hmap_del(&srv->by_name, &n->by_name);
    n->live = 0;
    n->freed_ms = clock_ms();
    srv->n_dynamic--;
    srv->dyn_removed++;
    if (srv->nsp_hook != NULL)
        srv->nsp_hook(srv->w, n, 0);
    log_debug("namespace %s removed (empty)", n->name);
}

/* Whether `name` matches --namespace-pattern; its NUL-terminated copy goes to `z`. */
static int nsp_matches(const struct sio_server *srv, sioc_iov_t name, char z[MAX_DYNAMIC_NAME + 1])
{
    if (srv->pattern == NULL || name.len == 0 || name.len > MAX_DYNAMIC_NAME ||
        memchr(name.base, '\0', name.len) != NULL)
        return 0;
    memcpy(z, name.base, name.len);
    z[name.len] = '\0';
    return regexec(srv->pattern, z, 0, NULL, 0) == 0;
}

/* A live dynamic namespace named `name`, created when it matches the pattern; NULL (and
 * `*why` set) when it does not, while draining, or when the cap or the adapter refuses it. */
static sio_nsp_t *nsp_dynamic(struct sio_server *srv, sioc_iov_t name, const char **why)
{
    char z[MAX_DYNAMIC_NAME + 1];
    *why = "Invalid namespace";
    if (!nsp_matches(srv, name, z))
        return NULL;
    if (srv->w->draining) {
        *why = "Server shutting down";
        return NULL;
    }
    sio_nsp_t *n = NULL;
    size_t slot = 0;
    for (size_t i = srv->n_static; i < srv->n_nsps; i++) {
        sio_nsp_t *c = srv->nsps[i];
        if (c == NULL) {
            slot = i;
            break;
        }
        if (!c->live && (n == NULL || c->freed_ms < n->freed_ms))
            n = c, slot = i;
    }
    if (slot == 0) {
        srv->dyn_refused++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("namespace %s refused: --max-dynamic-namespaces (%zu) are live", z,
                     srv->n_nsps - srv->n_static);
        *why = "Too many namespaces";
        return NULL;
    }
    if (srv->nsps[slot] == NULL) {
        n = xcalloc(1, sizeof(*n));
        hmap_init(&n->sockets);
        hmap_init(&n->rooms);
        n->srv = srv;
        n->index = slot;
        n->dynamic = 1;
        srv->nsps[slot] = n;
    }
    free(n->name);
    n->name = xstrdup(z);
    n->name_iov = iov_make(n->name, name.len);
    n->by_name.key = n->name_iov;
    n->uid = srv->next_uid++;
    n->live = 1;
    if (srv->nsp_hook != NULL && srv->nsp_hook(srv->w, n, 1) != 0) {
        n->live = 0;
        n->freed_ms = clock_ms();
        srv->dyn_refused++;
        *why = "Invalid namespace";
        return NULL;
    }
    hmap_put(&srv->by_name, &n->by_name);
    srv->n_dynamic++;
    srv->dyn_created++;
    /* Refused by the middleware, the CONNECT leaves it empty: removed at the turn's end. */
    nsp_check_later(n);
    return n;
}

void sio_set_nsp_hook(worker_t *w, sio_nsp_hook hook)
{
    if (w->sio != NULL)
        w->sio->nsp_hook = hook;
}

int sio_nsp_is_dynamic(const sio_nsp_t *nsp)
{
    return nsp->dynamic;
}

void sio_dynamic_stats(worker_t *w, unsigned long long out[4])
{
    struct sio_server *srv = w->sio;
    out[0] = srv ? srv->n_dynamic : 0;
    out[1] = srv ? srv->dyn_created : 0;
    out[2] = srv ? srv->dyn_removed : 0;
    out[3] = srv ? srv->dyn_refused : 0;
}

/* ------------------------------------------------------------------ */
/* Incoming packets                                                     */

static void client_fail(sio_client_t *c, const char *why)
{
    static long long last;
    if (log_ratelimited(&last))
        log_info("session %s: closed: %s", eio_session_sid(c->eio), why);
    eio_session_close(c->eio, eio_reason_parse_error);
}

/* What a restore hands back, copied out of the log (sending may end sessions, which
 * writes to the log). */
typedef struct {
    sioc_iov_t json, att[SIO_MAX_ATTACHMENTS];
    size_t n_att;
} missed_t;

typedef struct {
    sioc_iov_t *rooms;
    size_t n_rooms;
    missed_t *packets;
    size_t n_packets, cap;
} restored_t;

static sioc_iov_t keep(sioc_iov_t v)
{
    char *p = xmalloc(v.len ? v.len : 1);
    memcpy(p, v.base, v.len);
    return iov_make(p, v.len);
}

static void on_restored_room(sioc_iov_t room, void *data)
{
    restored_t *rs = data;
    rs->rooms = xrealloc(rs->rooms, (rs->n_rooms + 1) * sizeof(*rs->rooms));
    rs->rooms[rs->n_rooms++] = keep(room);
}

static void on_missed(sioc_iov_t json, const sioc_iov_t *att, size_t n_att, void *data)
{
    restored_t *rs = data;
    if (rs->n_packets == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 16;
        rs->packets = xrealloc(rs->packets, rs->cap * sizeof(*rs->packets));
    }
    missed_t *m = &rs->packets[rs->n_packets++];
    m->json = keep(json);
    m->n_att = n_att < SIO_MAX_ATTACHMENTS ? n_att : SIO_MAX_ATTACHMENTS;
    for (size_t i = 0; i < m->n_att; i++)
        m->att[i] = keep(att[i]);
}

static void restored_free(restored_t *rs)
{
    for (size_t i = 0; i < rs->n_rooms; i++)
        free((char *)rs->rooms[i].base);
    for (size_t i = 0; i < rs->n_packets; i++) {
        free((char *)rs->packets[i].json.base);
        for (size_t k = 0; k < rs->packets[i].n_att; k++)
            free((char *)rs->packets[i].att[k].base);
    }
    free(rs->rooms);
    free(rs->packets);
    memset(rs, 0, sizeof(*rs));
}

/* A string member of the CONNECT payload, unescaped into `out` (NUL-terminated); its
 * length, or -1 when absent, not a string or longer than `cap` - 1. */
static int auth_string(sioc_iov_t auth, const char *name, char *out, size_t cap)
{
    jscan_iter_t it;
    sioc_iov_t key, val;
    if (jscan_iter_init(&it, auth) != 0)
        return -1;
    while (jscan_next(&it, &key, &val) > 0) {
        if (!jscan_string_eq(key, name) || jscan_token_kind(val) != JSCAN_STRING)
            continue;
        int n = jscan_string_unescape(val, out, cap - 1);
        if (n < 0 || (size_t)n >= cap)
            return -1;
        out[n] = '\0';
        return n;
    }
    return -1;
}

/* Takes back the session named by the CONNECT's pid and offset: the socket gets its old
 * sid and pid; its rooms and missed packets land in `rs`. */
static recovery_result_t restore(sio_socket_t *s, sioc_iov_t auth, restored_t *rs)
{
    recovery_t *r = recovery_of(s->nsp->srv);
    char pid[RECOVERY_PID_LEN + 2], offset[RECOVERY_OFFSET_MAX + 2];
    int pn = auth_string(auth, "pid", pid, sizeof(pid));
    int on = auth_string(auth, "offset", offset, sizeof(offset));
    if (r == NULL || pn != RECOVERY_PID_LEN || on <= 0)
        return RECOVERY_UNKNOWN_PID;
    char sid[RECOVERY_PID_LEN + 1];
    recovery_result_t res =
        recovery_restore(r, clock_unix_ms(), iov_make(pid, (size_t)pn), s->nsp->uid,
                         iov_make(offset, (size_t)on), sid, on_restored_room, on_missed, rs);
    if (res != RECOVERY_RECOVERED)
        return res;
    /* The old socket may still be here (its transport not yet seen closed): then the
     * client starts afresh (its old socket saves a new session when it ends). */
    if (hmap_get(&s->nsp->sockets, iov_make(sid, SOCKET_ID_LEN)) != NULL) {
        restored_free(rs);
        return RECOVERY_UNKNOWN_PID;
    }
    memcpy(s->id, sid, SOCKET_ID_LEN);
    memcpy(s->pid, pid, RECOVERY_PID_LEN + 1);
    return RECOVERY_RECOVERED;
}

static void connect_finish(sio_client_t *c, sio_socket_t *s, sioc_iov_t auth, restored_t *rs);
static void refuse(sio_client_t *c, sio_socket_t *s, const char *refused);
static void connect_admitted(sio_client_t *c, sio_socket_t *s, sioc_iov_t auth);

/* A CONNECT waiting for the recovery store, or for the app's middleware (sio_authorize_later). */
struct sio_restore {
    sioc_list_t link; /* in client->parked */
    sio_client_t *c;  /* NULL once the client is gone */
    sio_socket_t *s;
    char *auth;
    size_t auth_len;
    char pid[RECOVERY_PID_LEN + 1];
    restored_t rs;
};

static sio_restore_t *parked_for(sio_client_t *c, sioc_iov_t nsp)
{
    sioc_list_t *p;
    list_foreach(p, &c->parked)
    {
        sio_restore_t *r = container_of(p, sio_restore_t, link);
        if (iov_eq(r->s->nsp->name_iov, nsp))
            return r;
    }
    return NULL;
}

/* Hands a CONNECT with a pid and an offset to the store; 0 when it has none (connect now). */
static int park(sio_client_t *c, sio_socket_t *s, sioc_iov_t auth)
{
    char pid[RECOVERY_PID_LEN + 2], offset[RECOVERY_OFFSET_MAX + 2];
    int pn = auth_string(auth, "pid", pid, sizeof(pid));
    int on = auth_string(auth, "offset", offset, sizeof(offset));
    if (pn != RECOVERY_PID_LEN || on <= 0)
        return 0;
    sio_restore_t *r = xcalloc(1, sizeof(*r));
    r->c = c;
    r->s = s;
    r->auth = xmalloc(auth.len + 1);
    memcpy(r->auth, auth.base, auth.len);
    r->auth_len = auth.len;
    memcpy(r->pid, pid, RECOVERY_PID_LEN + 1);
    list_insert_tail(&c->parked, &r->link);
    s->nsp->parked++;
    const sio_recovery_store_t *st = &s->nsp->srv->store;
    st->restore(st->ctx, s->nsp, iov_make(pid, (size_t)pn), iov_make(offset, (size_t)on), r);
    return 1;
}

void sio_restore_room(sio_restore_t *r, sioc_iov_t room)
{
    on_restored_room(room, &r->rs);
}

void sio_restore_packet(sio_restore_t *r, sioc_iov_t json_array, const sioc_iov_t *att,
                        size_t n_att)
{
    on_missed(json_array, att, n_att, &r->rs);
}

void sio_restore_done(sio_restore_t *r, int recovered, sioc_iov_t sid)
{
    sio_socket_t *s = r->s;
    list_remove(&r->link);
    if (--s->nsp->parked == 0 && s->nsp->dynamic)
        nsp_check_later(s->nsp);
    if (r->c == NULL) { /* the client left meanwhile (its app data is already released) */
        restored_free(&r->rs);
        socket_free(s);
    } else {
        /* The old socket may still be here (its transport not yet seen closed): then the
         * client starts afresh (its old socket saves a new session when it ends). */
        if (recovered && sid.len == SOCKET_ID_LEN && hmap_get(&s->nsp->sockets, sid) == NULL) {
            memcpy(s->id, sid.base, SOCKET_ID_LEN);
            memcpy(s->pid, r->pid, RECOVERY_PID_LEN + 1);
        } else {
            restored_free(&r->rs);
            rand_id(s->pid, RECOVERY_PID_LEN);
        }
        connect_finish(r->c, s, iov_make(r->auth, r->auth_len), &r->rs);
    }
    free(r->auth);
    free(r);
}

/* The client is gone: its parked CONNECTs end when the store answers. */
static void orphan_parked(sio_client_t *c)
{
    const sio_app_t *app = server_of(client_worker(c))->app;
    while (!list_empty(&c->parked)) {
        sio_restore_t *r = container_of(c->parked.next, sio_restore_t, link);
        list_remove(&r->link);
        list_init(&r->link);
        r->c = NULL;
        if (app->on_disconnect != NULL)
            app->on_disconnect(r->s, NULL);
    }
}

static void handle_connect(sio_client_t *c, const sio_packet_t *pk)
{
    struct sio_server *srv = server_of(client_worker(c));
    sio_nsp_t *nsp = nsp_find(srv, pk->nsp);
    sioc_buf_t b = {0};
    const char *why = "Invalid namespace";
    if (nsp == NULL && client_socket(c, pk->nsp) == NULL)
        nsp = nsp_dynamic(srv, pk->nsp, &why);
    if (nsp == NULL) {
        if (sio_packet_write_connect_error(&b, pk->nsp, why, SIOC_IOV_NULL) == 0)
            (void)eio_send_text(c->eio, b.base, b.len);
        buf_free(&b);
        return;
    }
    if (client_socket(c, pk->nsp) != NULL || parked_for(c, pk->nsp) != NULL) {
        client_fail(c, "CONNECT for a connected namespace");
        return;
    }
    if (client_worker(c)->draining) {
        if (sio_packet_write_connect_error(&b, pk->nsp, "Server shutting down", SIOC_IOV_NULL) == 0)
            (void)eio_send_text(c->eio, b.base, b.len);
        buf_free(&b);
        return;
    }
    sio_socket_t *s = xcalloc(1, sizeof(*s));
    s->nsp = nsp;
    s->client = c;
    list_init(&s->rooms);
    list_init(&s->acks);
    list_init(&s->link);
    rand_id(s->id, SOCKET_ID_LEN);
    s->node.key = iov_make(s->id, SOCKET_ID_LEN);
    sioc_iov_t auth = pk->data.len ? pk->data : SIOC_LIT("{}");
    const char *refused = NULL;
    /* The socket is visible to the middleware (it may read and set its data) but not yet
     * connected: a refusal frees it without an on_disconnect. */
    if (srv->app->authorize != NULL)
        refused = srv->app->authorize(s, auth);
    if (refused == sio_authorize_later) {
        sio_restore_t *r = xcalloc(1, sizeof(*r));
        r->c = c;
        r->s = s;
        r->auth = xmalloc(auth.len + 1);
        memcpy(r->auth, auth.base, auth.len);
        r->auth_len = auth.len;
        list_insert_tail(&c->parked, &r->link);
        s->parked = r;
        s->nsp->parked++;
        return;
    }
    if (refused != NULL) {
        refuse(c, s, refused);
        return;
    }
    connect_admitted(c, s, auth);
}

/* The middleware refused the CONNECT of `s` (not yet connected): CONNECT_ERROR, then the
 * socket is freed. */
static void refuse(sio_client_t *c, sio_socket_t *s, const char *refused)
{
    struct sio_server *srv = server_of(client_worker(c));
    sioc_buf_t b = {0};
    client_worker(c)->stats.auth_failures++;
    if (sio_packet_write_connect_error(&b, s->nsp->name_iov, refused, SIOC_IOV_NULL) == 0)
        (void)eio_send_text(c->eio, b.base, b.len);
    buf_free(&b);
    if (srv->app->on_disconnect != NULL)
        srv->app->on_disconnect(s, NULL);
    socket_free(s);
}

const char sio_authorize_later[] = "(decided later)";

void sio_authorize_done(sio_socket_t *s, const char *refused)
{
    sio_restore_t *r = s->parked;
    assert(r != NULL && r->s == s);
    list_init(&s->link);
    list_remove(&r->link);
    if (--s->nsp->parked == 0 && s->nsp->dynamic)
        nsp_check_later(s->nsp);
    if (r->c == NULL) /* the client left meanwhile (the app heard on_disconnect(s, NULL)) */
        socket_free(s);
    else if (refused != NULL)
        refuse(r->c, s, refused);
    else
        connect_admitted(r->c, s, iov_make(r->auth, r->auth_len));
    free(r->auth);
    free(r);
}

/* After the middleware: a recovery (possibly parked for the store), then the CONNECT reply. */
static void connect_admitted(sio_client_t *c, sio_socket_t *s, sioc_iov_t auth)
{
    struct sio_server *srv = server_of(client_worker(c));
    restored_t rs = {0};
    if (srv->recovery != NULL) {
        s->pid = xmalloc(RECOVERY_PID_LEN + 1);
        if (srv->store.restore != NULL && park(c, s, auth))
            return;
        if (restore(s, auth, &rs) != RECOVERY_RECOVERED)
            rand_id(s->pid, RECOVERY_PID_LEN);
    }
    connect_finish(c, s, auth, &rs);
}

/* The socket joins the namespace: rooms and missed packets of a restore (`rs`, freed), the
 * CONNECT reply, the app's on_connect. */
static void connect_finish(sio_client_t *c, sio_socket_t *s, sioc_iov_t auth, restored_t *rs)
{
    struct sio_server *srv = server_of(client_worker(c));
    sio_nsp_t *nsp = s->nsp;
    sioc_buf_t b = {0};
    s->connected = 1;
    hmap_put(&nsp->sockets, &s->node);
    list_insert_tail(&c->sockets, &s->link);
    client_connected(c);
    client_worker(c)->stats.sockets_open++;
    client_worker(c)->stats.sockets_total++;
    /* A recovered socket rejoins its rooms and gets the packets it missed before the
     * CONNECT reply; socket.io-client delivers them right after "connect". */
    for (size_t i = 0; i < rs->n_rooms; i++)
        (void)sio_join(s, rs->rooms[i]);
    for (size_t i = 0; i < rs->n_packets; i++)
        (void)send_packet(s, SIO_EVENT, 0, 0, rs->packets[i].json, rs->packets[i].att,
                          rs->packets[i].n_att);
    restored_free(rs);
    session_touch(s);
    if (sio_packet_write_connect(&b, nsp->name_iov, s->id, s->pid) == 0)
        (void)eio_send_text(c->eio, b.base, b.len);
    buf_free(&b);
    if (srv->app->on_connect != NULL)
        srv->app->on_connect(s, auth);
}

static int rate_limited(sio_socket_t *s)
{
    long max = socket_worker(s)->conf->max_events_per_second;
    if (max <= 0)
        return 0;
    long long now = clock_ms();
    if (now - s->rate_window_ms >= 1000) {
        s->rate_window_ms = now;
        s->rate_count = 0;
    }
    return ++s->rate_count > (unsigned)max;
}

static void dispatch(sio_client_t *c, const sio_packet_t *pk, const sioc_iov_t *att, size_t n_att)
{
    if (pk->type == SIO_CONNECT) {
        handle_connect(c, pk);
        return;
    }
    sio_socket_t *s = client_socket(c, pk->nsp);
    if (s == NULL) {
        client_fail(c, "packet for a namespace that is not connected");
        return;
    }
    switch (pk->type) {
    case SIO_DISCONNECT:
        socket_close(s, "client namespace disconnect");
        return;
    case SIO_EVENT:
    case SIO_BINARY_EVENT: {
        client_worker(c)->stats.sio_events_in++;
        if (rate_limited(s)) {
            client_worker(c)->stats.drops_rate_limited++;
            if (s->rate_count > 2u * (unsigned)client_worker(c)->conf->max_events_per_second) {
                static long long last;
                if (log_ratelimited(&last))
                    log_warn("socket %s: event rate over twice the limit: disconnected", s->id);
                sio_disconnect(s, 1);
            }
            return;
        }
        sio_event_t ev = {pk->data, pk->event, pk->args, att, n_att, pk->has_ack, pk->ack_id};
        const sio_app_t *app = s->nsp->srv->app;
        if (app->on_event != NULL)
            app->on_event(s, &ev);
        return;
    }
    case SIO_ACK:
    case SIO_BINARY_ACK: {
        sioc_list_t *p;
        list_foreach(p, &s->acks)
        {
            pending_ack_t *a = container_of(p, pending_ack_t, link);
            if (a->id == pk->ack_id) {
                sioc_iov_t args = pk->args;
                ack_finish(a, &args, NULL);
                return;
            }
        }
        return; /* late or unknown ack: ignored, as Node does */
    }
    default:
        client_fail(c, "unexpected packet type from a client");
        return;
    }
}

static void partial_free(partial_t *p)
{
    if (p == NULL)
        return;
    for (unsigned i = 0; i < p->have; i++)
        free((void *)p->att[i].base);
    free(p);
}

static void partial_reset(sio_client_t *c)
{
    partial_free(c->partial);
    c->partial = NULL;
}

static void on_message(eio_session_t *e, const char *data, size_t len, int binary)
{
    sio_client_t *c = client_of(e);
    if (c == NULL)
        return;
    if (binary) {
        partial_t *p = c->partial;
        if (p == NULL) {
            client_fail(c, "unexpected binary message");
            return;
        }
        p->bytes += len;
        if (p->bytes > (size_t)client_worker(c)->conf->max_http_buffer_size) {
            partial_reset(c);
            client_fail(c, "binary attachments over max-http-buffer-size");
            return;
        }
        char *copy = try_malloc(len ? len : 1);
        if (copy == NULL) {
            partial_reset(c);
            eio_session_close(e, eio_reason_transport_error);
            return;
        }
        memcpy(copy, data, len);
        p->att[p->have++] = iov_make(copy, len);
        if (p->have == p->pkt.attachments) {
            c->partial = NULL;
            dispatch(c, &p->pkt, p->att, p->have);
            partial_free(p);
        }
        return;
    }
    if (c->partial != NULL) {
        partial_reset(c);
        client_fail(c, "text packet while binary attachments were expected");
        return;
    }
    sio_packet_t pk;
    const char *reason = NULL;
    if (sio_packet_parse(data, len, &pk, &reason) < 0) {
        client_fail(c, reason ? reason : "malformed packet");
        return;
    }
    if (pk.type == SIO_CONNECT_ERROR) {
        client_fail(c, "CONNECT_ERROR from a client");
        return;
    }
    if (pk.attachments > 0) {
        /* Keep a copy: the slices of the packet must outlive this buffer. */
        partial_t *p = xmalloc(sizeof(*p) + len);
        memcpy(p->text, data, len);
        p->have = 0;
        p->bytes = len;
        const char *reason2 = NULL;
        if (pk.attachments > SIO_MAX_ATTACHMENTS ||
            sio_packet_parse(p->text, len, &p->pkt, &reason2) < 0) {
            free(p);
            client_fail(c, "malformed packet");
            return;
        }
        c->partial = p;
        return;
    }
    dispatch(c, &pk, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* Engine hooks, connect timeout                                        */

static void arm_connect_timer(struct sio_server *srv)
{
    worker_t *w = srv->w;
    if (list_empty(&srv->handshake_fifo) || event_pending(srv->connect_timer, EV_TIMEOUT, NULL))
        return;
    sio_client_t *c = container_of(srv->handshake_fifo.next, sio_client_t, fifo);
    long long due = c->created_ms + w->conf->connect_timeout - clock_ms();
    if (due < 0)
        due = 0;
    struct timeval tv = {(time_t)(due / 1000), (suseconds_t)((due % 1000) * 1000)};
    event_add(srv->connect_timer, &tv);
}

static void on_connect_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct sio_server *srv = arg;
    worker_t *w = srv->w;
    long long now = clock_ms();
    while (!list_empty(&srv->handshake_fifo)) {
        sio_client_t *c = container_of(srv->handshake_fifo.next, sio_client_t, fifo);
        if (c->created_ms + w->conf->connect_timeout > now)
            break;
        client_connected(c);
        eio_session_close(c->eio, eio_reason_forced_close);
    }
    arm_connect_timer(srv);
}

/* One client address may hold --max-pending-sessions-per-ip sessions that have not connected
 * to a namespace yet (no JWT has been checked for them): a flood of handshakes from one
 * address is refused before it holds memory for --connect-timeout. */
static int admit(void *owner, const char *addr)
{
    worker_t *w = owner;
    struct sio_server *srv = server_of(w);
    long max = w->conf->max_pending_sessions_per_ip;
    if (srv == NULL || max <= 0 || addrcount_get(srv->pending, addr, strlen(addr)) < (size_t)max)
        return 1;
    srv->pending_refused++;
    static long long last;
    if (log_ratelimited(&last))
        log_warn("handshake from %s refused: --max-pending-sessions-per-ip %ld reached", addr, max);
    return 0;
}

static void on_open(eio_session_t *e)
{
    worker_t *w = eio_session_owner(e);
    sio_client_t *c = eio_session_data(e); /* zeroed, in the session (handler.data_size) */
    const char *addr = eio_session_addr(e);
    c->pending = addrcount_acquire(w->sio->pending, addr, strlen(addr), 0);
    c->eio = e;
    list_init(&c->sockets);
    list_init(&c->parked);
    c->created_ms = clock_ms() | 1; /* never 0, which marks a closed client */
    list_insert_tail(&w->sio->handshake_fifo, &c->fifo);
    arm_connect_timer(w->sio);
}

static void on_close(eio_session_t *e, const char *reason)
{
    sio_client_t *c = client_of(e);
    if (c == NULL)
        return;
    c->created_ms = 0;
    client_connected(c);
    while (!list_empty(&c->sockets))
        socket_close(container_of(c->sockets.next, sio_socket_t, link), reason);
    orphan_parked(c);
    partial_reset(c);
}

static void on_upgrade(eio_session_t *e)
{
    sio_client_t *c = client_of(e);
    struct sio_server *srv = server_of(eio_session_owner(e));
    if (c == NULL || srv == NULL || srv->transport_hook == NULL)
        return;
    sioc_list_t *p, *tmp;
    list_foreach_safe(p, tmp, &c->sockets)
    {
        srv->transport_hook(container_of(p, sio_socket_t, link), srv->member_hook_data);
    }
}

static const eio_handler_t handler = {on_open, on_message, on_close,
                                      admit,   on_upgrade, sizeof(sio_client_t)};

const eio_handler_t *sio_engine_handler(void)
{
    return &handler;
}

static sio_nsp_t *nsp_new(struct sio_server *srv, const char *name)
{
    sio_nsp_t *n = xcalloc(1, sizeof(*n));
    n->name = xstrdup(name);
    n->name_iov = iov_make(n->name, strlen(n->name));
    n->by_name.key = n->name_iov;
    n->live = 1;
    hmap_init(&n->sockets);
    hmap_init(&n->rooms);
    n->srv = srv;
    return n;
}

struct sio_server *sio_server_new(worker_t *w, const sio_app_t *app)
{
    struct sio_server *srv = xcalloc(1, sizeof(*srv));
    srv->w = w;
    srv->app = app;
    if (w->conf->max_disconnection_duration > 0)
        srv->recovery = recovery_new(w->conf->max_disconnection_duration, RECOVERY_MAX_BYTES);
    srv->pending = addrcount_new();
    size_t n_dyn = w->conf->namespace_pattern != NULL ? (size_t)w->conf->max_dynamic_namespaces : 0;
    srv->nsps = xcalloc(1 + w->conf->num_namespaces + n_dyn, sizeof(*srv->nsps));
    hmap_init(&srv->by_name);
    const char *names[33] = {"/"};
    size_t n_names = 1;
    for (size_t i = 0; i < w->conf->num_namespaces; i++)
        names[n_names++] = w->conf->namespaces[i];
    for (size_t i = 0; i < n_names; i++) {
        if (nsp_find(srv, iov_make(names[i], strlen(names[i]))) != NULL)
            continue;
        sio_nsp_t *n = nsp_new(srv, names[i]);
        n->index = n->uid = srv->n_nsps;
        srv->nsps[srv->n_nsps++] = n;
        hmap_put(&srv->by_name, &n->by_name);
    }
    srv->n_static = srv->n_nsps;
    srv->n_nsps += n_dyn;
    srv->next_uid = srv->n_nsps;
    if (n_dyn > 0) {
        size_t len = strlen(w->conf->namespace_pattern);
        char *anchored = xmalloc(len + 5);
        snprintf(anchored, len + 5, "^(%s)$", w->conf->namespace_pattern);
        srv->pattern = xmalloc(sizeof(*srv->pattern));
        if (regcomp(srv->pattern, anchored, REG_EXTENDED | REG_NOSUB) != 0)
            abort(); /* config.c compiled it already */
        free(anchored);
    }
    list_init(&srv->handshake_fifo);
    srv->connect_timer = event_new(net_loop_base(w->loop), -1, 0, on_connect_timer, srv);
    srv->deadline_timer = event_new(net_loop_base(w->loop), -1, 0, on_deadline_timer, srv);
    return srv;
}

void sio_server_free(struct sio_server *srv)
{
    if (srv == NULL)
        return;
    for (size_t i = 0; i < srv->n_nsps; i++) {
        sio_nsp_t *n = srv->nsps[i];
        if (n == NULL)
            continue;
        net_loop_cancel(&n->cleanup);
        hmap_free(&n->sockets);
        hmap_free(&n->rooms);
        free(n->name);
        free(n);
    }
    free(srv->nsps);
    hmap_free(&srv->by_name);
    if (srv->pattern != NULL) {
        regfree(srv->pattern);
        free(srv->pattern);
    }
    recovery_free(srv->recovery);
    addrcount_free(srv->pending);
    event_free(srv->connect_timer);
    event_free(srv->deadline_timer);
    timeheap_free(&srv->deadlines);
    free(srv);
}
