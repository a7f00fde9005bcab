/*
 * adapter.c - the Redis adapter (adapter.h).
 *
 * Message handling follows PROTOCOL.md §5.1 (classic) and §5.3 (sharded):
 * - broadcasts are delivered locally at publish time and ignored when they
 *   come back with our uid;
 * - classic REMOTE_JOIN / LEAVE / DISCONNECT in the opts form are applied
 *   when the request comes back from Redis (no uid filter), as Node does;
 *   the sharded adapter applies them locally and drops its own messages;
 * - every request type a Node server sends is answered (0, 1, 5, 6 with a
 *   requestId, 7), so a Node peer's cluster calls never wait on us.
 */
#include "adapter.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter_msg.h"
#include "adapter/adapter_streams.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/hmap.h"
#include "base/log.h"
#include "base/rand.h"
#include "net/redis_client.h"
#include "recovery.h"
#include "sio/jscan.h"

#define MAX_ATT 64
#define HEALTH_TIMEOUT_MS 3000
#define MEMBERSHIP_KEY "sioc:workers"
/* XREAD BLOCK of a stream reader: short enough that the liveness PING queued behind it is
 * answered well within the liveness timeout (Node blocks 5 s; not on the wire). */
#define STREAM_BLOCK_MS "1000"
#define STREAM_READ_COUNT "100"

typedef struct stream_reader stream_reader_t;

typedef struct nsp_state {
    sio_nsp_t *nsp;
    stream_reader_t *stream; /* streams mode: the stream of this namespace */
    char uid[17];
    char *ch_main;         /* key#nsp# */
    char *ch_pattern;      /* key#nsp#* (classic) */
    char *ch_request;      /* key-request#nsp# (classic) */
    char *ch_response;     /* key-response#nsp# (classic) */
    char *ch_response_uid; /* classic: key-response#nsp#uid#; sharded: key#nsp#uid# */
} nsp_state_t;

typedef struct waiter {
    sioc_list_t link;
    adapter_t *a;
    size_t nsp_index;
    char socket_id[24];
    adapter_join_cb cb;
    void *data;
    struct event *timer;
} waiter_t;

typedef struct room_sub {
    hmap_node_t node;
    int confirmed;
    sioc_list_t waiters;
    char channel[];
} room_sub_t;

enum { REQ_FETCH, REQ_ROOMS, REQ_SSE };

/* Streams mode: one blocking XREAD chain per stream, on its own link. */
struct stream_reader {
    adapter_t *a;
    redis_client_t *link;
    char *key;
    char last_id[48];    /* the last entry delivered ("" until the first XREVRANGE) */
    sioc_list_t waiting; /* restores waiting for this reader to reach their last entry */
    unsigned long long read, added;
};

typedef struct request {
    hmap_node_t node;
    adapter_t *a;
    int kind;
    size_t nsp_index;
    int expected; /* answers from other workers; -1 until counted */
    int got;
    sioc_buf_t acc; /* JSON array items, comma-separated */
    hmap_t seen;    /* REQ_ROOMS: dedup */
    adapter_query_cb cb;
    void *data;
    struct event *timer;
    sioc_buf_t body; /* the request to publish once counted */
    char channel[256];
    char id[24];
} request_t;

struct adapter {
    worker_t *w;
    redis_client_t *pub, *sub;
    int sharded;
    int streams; /* streams mode (requests and responses in the sharded format, on PUBLISH) */
    int cluster; /* sharded || streams: the ClusterAdapter message format */
    stream_reader_t *readers;
    size_t n_readers;
    sioc_buf_t entry_scratch, entry_data, offset_json;
    sioc_iov_t cur_offset; /* the id of the stream entry being handled, else base NULL */
    long long refresh_due_ms;
    unsigned long long rec_results[4], rec_replayed, sessions_written;
    sioc_iov_t key;
    nsp_state_t *ns;
    size_t n_ns;
    hmap_t room_subs;
    sioc_list_t ready_waiters;
    hmap_t requests;
    int subs_expected, subs_confirmed;
    int ready;
    long long last_health_ms;
    long long health_sent_ms;
    struct event tick;
    char member[96];
    char health_ch[64];
    adapter_msg_ctx_t ctx;
    sioc_buf_t json;
    sioc_iov_t att_v[MAX_ATT];
    unsigned long long published, publish_dropped, received, decode_errors, requests_timed_out,
        link_downs;
};

static void update_ready(adapter_t *a);
static void send_health(adapter_t *a);
static int stream_add(adapter_t *a, nsp_state_t *n, const adapter_msg_shard_t *m, redis_reply_cb cb,
                      void *data);
static int recovery_on(const adapter_t *a);
static int with_offset(sioc_buf_t *b, sioc_iov_t json, sioc_iov_t offset);

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static char *channel_name(adapter_t *a, int kind, sioc_iov_t nsp, sioc_iov_t extra)
{
    sioc_buf_t b = {0};
    if (adapter_msg_channel(&b, a->key, kind, nsp, extra) != 0 || buf_append_byte(&b, '\0') != 0)
        abort();
    return b.base;
}

static nsp_state_t *ns_of(adapter_t *a, sio_nsp_t *nsp)
{
    return &a->ns[sio_nsp_index(nsp)];
}

static nsp_state_t *ns_by_channel(adapter_t *a, sioc_iov_t ch, int *which)
{
    for (size_t i = 0; i < a->n_ns; i++) {
        nsp_state_t *n = &a->ns[i];
        const char *names[] = {n->ch_main, n->ch_pattern, n->ch_request, n->ch_response,
                               n->ch_response_uid};
        for (int k = 0; k < 5; k++) {
            if (names[k] != NULL && iov_eq_str(ch, names[k])) {
                *which = k;
                return n;
            }
        }
    }
    /* A room channel: <key>#<nsp>#<room># */
    for (size_t i = 0; i < a->n_ns; i++) {
        sioc_iov_t room;
        if (adapter_msg_channel_room(ch, a->key, sio_nsp_name(a->ns[i].nsp), &room) == 1) {
            *which = 5;
            return &a->ns[i];
        }
    }
    return NULL;
}

static int publish(adapter_t *a, const char *channel, const char *msg, size_t len)
{
    const char *argv[] = {a->sharded ? "SPUBLISH" : "PUBLISH", channel, msg};
    size_t lens[] = {strlen(argv[0]), strlen(channel), len};
    int r = redis_client_cmd(a->pub, NULL, NULL, 3, argv, lens);
    if (r != 0) {
        a->publish_dropped++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("redis publish dropped (%s): link down; local delivery only",
                     sioc_strerror(r));
        return r;
    }
    a->published++;
    return 0;
}

/* A ClusterAdapter message for Pub/Sub: the sharded adapter's JSON-or-msgpack form, or, in
 * streams mode, always msgpack (the Node streams adapter decodes nothing else there). */
static int cluster_encode(adapter_t *a, const adapter_msg_shard_t *m, sioc_buf_t *out)
{
    if (a->streams)
        return adapter_streams_pubsub_encode(&a->ctx, m, &a->entry_scratch, out);
    return adapter_msg_shard_encode(&a->ctx, m, out);
}

static int publish_plain(adapter_t *a, const char *channel, const char *msg, size_t len)
{
    const char *argv[] = {"PUBLISH", channel, msg};
    size_t lens[] = {7, strlen(channel), len};
    return redis_client_cmd(a->pub, NULL, NULL, 3, argv, lens);
}

/* ------------------------------------------------------------------ */
/* Broadcasts                                                           */

void adapter_broadcast(adapter_t *a, sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                       const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                       const sioc_iov_t *att, size_t n_att)
{
    nsp_state_t *n = ns_of(a, nsp);
    adapter_msg_packet_t pk = {2, sio_nsp_name(nsp), 0, 0, {json_array, att, n_att, n_att > 0}};
    adapter_msg_opts_t opts = {rooms, n_rooms, except, n_except, {0, 0, 0}};
    sioc_buf_t out = {0};
    int r;
    sioc_iov_t uid = iov_make(n->uid, strlen(n->uid));
    const char *channel = n->ch_main;
    char *room_ch = NULL;
    if (a->streams) {
        adapter_msg_shard_t m;
        memset(&m, 0, sizeof(m));
        m.type = ADAPTER_MSG_SHARD_BROADCAST;
        m.uid = uid;
        m.nsp = sio_nsp_name(nsp);
        m.packet = pk;
        m.opts = opts;
        (void)stream_add(a, n, &m, NULL, NULL);
        return;
    }
    if (a->sharded) {
        adapter_msg_shard_t m;
        memset(&m, 0, sizeof(m));
        m.type = ADAPTER_MSG_SHARD_BROADCAST;
        m.uid = uid;
        m.nsp = sio_nsp_name(nsp);
        m.packet = pk;
        m.opts = opts;
        r = adapter_msg_shard_encode(&a->ctx, &m, &out);
        /* dynamic mode: one public room goes to its own channel */
        if (n_rooms == 1 && rooms[0].len != 20)
            channel = room_ch = channel_name(a, ADAPTER_MSG_CH_ROOM, sio_nsp_name(nsp), rooms[0]);
    } else {
        adapter_msg_broadcast_t m = {uid, pk, opts};
        r = adapter_msg_broadcast_encode(&a->ctx, &m, 0, &out);
        if (n_rooms == 1)
            channel = room_ch = channel_name(a, ADAPTER_MSG_CH_ROOM, sio_nsp_name(nsp), rooms[0]);
    }
    if (r == 0)
        (void)publish(a, channel, out.base, out.len);
    else
        a->publish_dropped++;
    free(room_ch);
    buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* Answering other servers                                              */

typedef struct {
    sioc_buf_t *b;
    int first;
    int r;
} list_ctx_t;

static void list_room(sioc_iov_t room, void *data)
{
    list_ctx_t *l = data;
    if (!l->first)
        l->r |= buf_append_byte(l->b, ',');
    l->first = 0;
    l->r |= adapter_msg_json_str(l->b, room);
}

static int socket_json(sioc_buf_t *b, sio_socket_t *s)
{
    char issued[32];
    snprintf(issued, sizeof(issued), "%lld", clock_unix_ms());
    int r = buf_append_str(b, "{\"id\":");
    r |= adapter_msg_json_str(b, iov_make(sio_socket_id(s), strlen(sio_socket_id(s))));
    r |= buf_append_str(b, ",\"handshake\":{\"headers\":{},\"time\":\"\",\"address\":");
    r |= adapter_msg_json_str(b, iov_make(sio_socket_addr(s), strlen(sio_socket_addr(s))));
    r |= buf_append_str(b, ",\"xdomain\":false,\"secure\":false,\"issued\":");
    r |= buf_append_str(b, issued);
    r |= buf_append_str(b, ",\"url\":\"\",\"query\":{},\"auth\":{}},\"rooms\":[");
    list_ctx_t l = {b, 1, 0};
    sio_socket_rooms(s, list_room, &l);
    r |= l.r;
    r |= buf_append_str(b, "],\"data\":");
    r |= sio_socket_data_json(s, b);
    r |= buf_append_byte(b, '}');
    return r;
}

typedef struct {
    sioc_buf_t *b;
    int first;
    int details; /* 1: socket objects, 0: ids */
    int r;
    int count;
} sockets_ctx_t;

static void collect_socket(sio_socket_t *s, void *data)
{
    sockets_ctx_t *c = data;
    if (!c->first)
        c->r |= buf_append_byte(c->b, ',');
    c->first = 0;
    c->count++;
    if (c->details)
        c->r |= socket_json(c->b, s);
    else
        c->r |= adapter_msg_json_str(c->b, iov_make(sio_socket_id(s), strlen(sio_socket_id(s))));
}

static void local_sockets(sio_nsp_t *nsp, const adapter_msg_opts_t *o, int details, sioc_buf_t *b,
                          int first)
{
    sockets_ctx_t c = {b, first, details, 0, 0};
    sio_each(nsp, o->rooms, o->nrooms, o->except, o->nexcept, collect_socket, &c);
}

typedef struct {
    const sioc_iov_t *rooms;
    size_t n;
    int leave;
} join_ctx_t;

static void join_each(sio_socket_t *s, void *data)
{
    join_ctx_t *j = data;
    for (size_t i = 0; i < j->n; i++) {
        if (j->leave)
            (void)sio_leave(s, j->rooms[i]);
        else
            (void)sio_join(s, j->rooms[i]);
    }
}

static void disconnect_each(sio_socket_t *s, void *data)
{
    sio_disconnect(s, *(int *)data);
}

static void respond(adapter_t *a, nsp_state_t *n, const adapter_msg_response_t *resp)
{
    sioc_buf_t out = {0};
    if (adapter_msg_response_encode(&a->ctx, resp, &out) == 0)
        (void)publish_plain(a, n->ch_response, out.base, out.len);
    buf_free(&out);
}

/* Broadcast with acks from another server (classic type 7 / sharded BROADCAST + requestId). */
typedef struct bcast_ack {
    adapter_t *a;
    size_t nsp_index;
    char request_id[64];
    char requester_uid[24];
    int sharded;
} bcast_ack_t;

typedef struct {
    sioc_iov_t json;
    const sioc_iov_t *att;
    size_t natt;
    int count;
    bcast_ack_t *proto;
} bcast_ctx_t;

static void on_client_ack(sio_socket_t *s, sioc_iov_t *args, const char *reason, void *data)
{
    (void)s;
    (void)reason;
    bcast_ack_t *b = data;
    adapter_t *a = b->a;
    if (args != NULL && a != NULL) {
        nsp_state_t *n = &a->ns[b->nsp_index];
        sioc_buf_t out = {0};
        /* The first ack argument travels back (Node passes `arg` of the client ack). */
        sioc_buf_t arr = {0};
        sioc_iov_t first = SIOC_LIT("null");
        if (buf_append_byte(&arr, '[') == 0 && buf_append(&arr, args->base, args->len) == 0 &&
            buf_append_byte(&arr, ']') == 0) {
            jscan_iter_t it;
            sioc_iov_t k, v0;
            if (jscan_iter_init(&it, iov_make(arr.base, arr.len)) == 0 &&
                jscan_next(&it, &k, &v0) > 0)
                first = v0;
        }
        adapter_msg_value_t v = {first, NULL, 0, 0};
        if (b->sharded) {
            adapter_msg_shard_t m;
            memset(&m, 0, sizeof(m));
            m.type = ADAPTER_MSG_SHARD_BROADCAST_ACK;
            m.uid = iov_make(n->uid, strlen(n->uid));
            m.nsp = sio_nsp_name(n->nsp);
            m.request_id = iov_make(b->request_id, strlen(b->request_id));
            m.value = v;
            if (cluster_encode(a, &m, &out) == 0) {
                char *ch = channel_name(a, ADAPTER_MSG_CH_ROOM, sio_nsp_name(n->nsp),
                                        iov_make(b->requester_uid, strlen(b->requester_uid)));
                (void)publish(a, ch, out.base, out.len);
                free(ch);
            }
        } else {
            adapter_msg_response_t resp;
            memset(&resp, 0, sizeof(resp));
            resp.kind = ADAPTER_MSG_RESP_BROADCAST_ACK;
            resp.request_id = iov_make(b->request_id, strlen(b->request_id));
            resp.data = v;
            if (adapter_msg_response_encode(&a->ctx, &resp, &out) == 0)
                (void)publish_plain(a, n->ch_response, out.base, out.len);
        }
        buf_free(&arr);
        buf_free(&out);
    }
    free(b);
}

static void bcast_each(sio_socket_t *s, void *data)
{
    bcast_ctx_t *c = data;
    bcast_ack_t *b = xmalloc(sizeof(*b));
    *b = *c->proto;
    if (sio_emit_ack_att(s, c->json, c->att, c->natt, on_client_ack, b) == 0)
        c->count++;
    else
        free(b);
}

static void broadcast_with_ack(adapter_t *a, nsp_state_t *n, const adapter_msg_packet_t *pk,
                               const adapter_msg_opts_t *o, sioc_iov_t request_id,
                               sioc_iov_t requester_uid, int sharded)
{
    bcast_ack_t proto;
    memset(&proto, 0, sizeof(proto));
    proto.a = a;
    proto.nsp_index = sio_nsp_index(n->nsp);
    proto.sharded = sharded;
    snprintf(proto.request_id, sizeof(proto.request_id), "%.*s", (int)request_id.len,
             request_id.base);
    snprintf(proto.requester_uid, sizeof(proto.requester_uid), "%.*s", (int)requester_uid.len,
             requester_uid.base);
    bcast_ctx_t c = {pk->data.json, pk->data.att, pk->data.natt, 0, &proto};
    sio_each(n->nsp, o->rooms, o->nrooms, o->except, o->nexcept, bcast_each, &c);
    sioc_buf_t out = {0};
    if (sharded) {
        adapter_msg_shard_t m;
        memset(&m, 0, sizeof(m));
        m.type = ADAPTER_MSG_SHARD_BROADCAST_CLIENT_COUNT;
        m.uid = iov_make(n->uid, strlen(n->uid));
        m.nsp = sio_nsp_name(n->nsp);
        m.request_id = request_id;
        m.client_count = (uint64_t)c.count;
        if (cluster_encode(a, &m, &out) == 0) {
            char *ch = channel_name(a, ADAPTER_MSG_CH_ROOM, sio_nsp_name(n->nsp), requester_uid);
            (void)publish(a, ch, out.base, out.len);
            free(ch);
        }
    } else {
        adapter_msg_response_t resp;
        memset(&resp, 0, sizeof(resp));
        resp.kind = ADAPTER_MSG_RESP_CLIENT_COUNT;
        resp.request_id = request_id;
        resp.client_count = (uint64_t)c.count;
        if (adapter_msg_response_encode(&a->ctx, &resp, &out) == 0)
            (void)publish_plain(a, n->ch_response, out.base, out.len);
    }
    buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* Our own requests                                                     */

static void request_finish(request_t *q, int complete)
{
    adapter_t *a = q->a;
    hmap_del(&a->requests, &q->node);
    if (q->timer != NULL)
        event_free(q->timer);
    sioc_buf_t out = {0};
    int r = buf_append_byte(&out, '[') | buf_append(&out, q->acc.base, q->acc.len) |
            buf_append_byte(&out, ']');
    if (r == 0)
        q->cb(a->w, iov_make(out.base, out.len), complete, q->data);
    else
        q->cb(a->w, SIOC_LIT("[]"), 0, q->data);
    buf_free(&out);
    buf_free(&q->acc);
    buf_free(&q->body);
    hmap_node_t *hn;
    for (hmap_iter_t it = hmap_iter(&q->seen); (hn = hmap_next(&it)) != NULL;) {
        hmap_del(&q->seen, hn);
        free(hn);
    }
    hmap_free(&q->seen);
    free(q);
}

static void on_request_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    request_t *q = arg;
    q->a->requests_timed_out++;
    log_warn("cluster request %s: %d of %d workers answered before the timeout", q->id, q->got,
             q->expected);
    request_finish(q, 0);
}

static void acc_item(request_t *q, sioc_iov_t item)
{
    if (q->kind == REQ_ROOMS) {
        if (hmap_get(&q->seen, item) != NULL)
            return;
        hmap_node_t *hn = xmalloc(sizeof(*hn) + item.len);
        memcpy((char *)(hn + 1), item.base, item.len);
        hn->key = iov_make((char *)(hn + 1), item.len);
        hmap_put(&q->seen, hn);
    }
    if (q->acc.len > 0)
        (void)!buf_append_byte(&q->acc, ',');
    (void)!buf_append(&q->acc, item.base, item.len);
}

/* Appends the elements of a JSON array text to the request's accumulator. */
static void acc_array(request_t *q, sioc_iov_t arr)
{
    if (arr.len < 2)
        return;
    if (q->kind != REQ_ROOMS) {
        /* Items are copied as is (the array is well-formed JSON from the codec). */
        sioc_iov_t inner = iov_make(arr.base + 1, arr.len - 2);
        while (inner.len > 0 && (inner.base[0] == ' '))
            inner = iov_make(inner.base + 1, inner.len - 1);
        if (inner.len > 0)
            acc_item(q, inner);
        return;
    }
    /* Rooms: split on the string tokens for dedup. */
    size_t i = 1;
    while (i < arr.len) {
        if (arr.base[i] != '"') {
            i++;
            continue;
        }
        size_t j = i + 1;
        while (j < arr.len && arr.base[j] != '"')
            j += arr.base[j] == '\\' ? 2 : 1;
        if (j >= arr.len)
            break;
        acc_item(q, iov_make(arr.base + i, j - i + 1));
        i = j + 1;
    }
}

static void on_numsub(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    request_t *q = data;
    long long subs = 1;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
        r->element[1]->type == REDIS_REPLY_INTEGER)
        subs = r->element[1]->integer;
    q->expected = (int)(subs - 1);
    if (r == NULL || q->expected <= 0) {
        request_finish(q, r != NULL);
        return;
    }
    if (publish(q->a, q->channel, q->body.base, q->body.len) != 0) {
        request_finish(q, 0);
        return;
    }
    long ms = q->a->w->conf->requests_timeout;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    q->timer = event_new(net_loop_base(q->a->w->loop), -1, 0, on_request_timeout, q);
    event_add(q->timer, &tv);
}

static request_t *request_new(adapter_t *a, sio_nsp_t *nsp, int kind, adapter_query_cb cb,
                              void *data)
{
    request_t *q = xcalloc(1, sizeof(*q));
    q->a = a;
    q->kind = kind;
    q->nsp_index = sio_nsp_index(nsp);
    q->expected = -1;
    q->cb = cb;
    q->data = data;
    hmap_init(&q->seen);
    rand_id(q->id, 12);
    q->node.key = iov_make(q->id, strlen(q->id));
    hmap_put(&a->requests, &q->node);
    return q;
}

/* Counts the other workers, then publishes q->body to q->channel. */
static void request_send(request_t *q)
{
    adapter_t *a = q->a;
    nsp_state_t *n = &a->ns[q->nsp_index];
    const char *argv[] = {"PUBSUB", a->sharded ? "SHARDNUMSUB" : "NUMSUB",
                          a->cluster ? n->ch_main : n->ch_request};
    if (!a->ready || redis_client_cmdv(a->pub, on_numsub, q, 3, argv) != 0)
        request_finish(q, 0);
}

static void build_request(adapter_t *a, request_t *q, int type, const adapter_msg_opts_t *o,
                          sioc_iov_t data)
{
    nsp_state_t *n = &a->ns[q->nsp_index];
    sioc_iov_t uid = iov_make(n->uid, strlen(n->uid));
    sioc_iov_t rid = iov_make(q->id, strlen(q->id));
    if (a->cluster) {
        adapter_msg_shard_t m;
        memset(&m, 0, sizeof(m));
        m.type = type == ADAPTER_MSG_REQ_REMOTE_FETCH ? ADAPTER_MSG_SHARD_FETCH_SOCKETS
                                                      : ADAPTER_MSG_SHARD_SERVER_SIDE_EMIT;
        m.uid = uid;
        m.nsp = sio_nsp_name(n->nsp);
        m.request_id = rid;
        if (o != NULL)
            m.opts = *o;
        m.value = (adapter_msg_value_t){data, NULL, 0, 0};
        (void)!cluster_encode(a, &m, &q->body);
        snprintf(q->channel, sizeof(q->channel), "%s", n->ch_main);
    } else {
        adapter_msg_request_t m;
        memset(&m, 0, sizeof(m));
        m.type = type;
        m.uid = uid;
        m.request_id = rid;
        if (o != NULL) {
            m.has_opts = 1;
            m.opts = *o;
        }
        m.data = (adapter_msg_value_t){data, NULL, 0, 0};
        (void)!adapter_msg_request_encode(&a->ctx, &m, &q->body);
        snprintf(q->channel, sizeof(q->channel), "%s", n->ch_request);
    }
}

void adapter_fetch_sockets(adapter_t *a, sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                           adapter_query_cb cb, void *data)
{
    request_t *q = request_new(a, nsp, REQ_FETCH, cb, data);
    adapter_msg_opts_t o = {rooms, n_rooms, NULL, 0, {0, 0, 0}};
    local_sockets(nsp, &o, 1, &q->acc, 1);
    build_request(a, q, ADAPTER_MSG_REQ_REMOTE_FETCH, &o, SIOC_IOV_NULL);
    request_send(q);
}

static void collect_room(sioc_iov_t room, void *data)
{
    request_t *q = data;
    sioc_buf_t b = {0};
    if (adapter_msg_json_str(&b, room) == 0)
        acc_item(q, iov_make(b.base, b.len));
    buf_free(&b);
}

void adapter_all_rooms(adapter_t *a, sio_nsp_t *nsp, adapter_query_cb cb, void *data)
{
    request_t *q = request_new(a, nsp, REQ_ROOMS, cb, data);
    sio_nsp_rooms(nsp, collect_room, q);
    if (a->cluster) {
        /* The sharded format has no allRooms request: local rooms only. */
        request_finish(q, 0);
        return;
    }
    build_request(a, q, ADAPTER_MSG_REQ_ALL_ROOMS, NULL, SIOC_IOV_NULL);
    request_send(q);
}

void adapter_server_side_emit(adapter_t *a, sio_nsp_t *nsp, sioc_iov_t json_array,
                              adapter_query_cb cb, void *data)
{
    request_t *q = request_new(a, nsp, REQ_SSE, cb, data);
    build_request(a, q, ADAPTER_MSG_REQ_SERVER_SIDE_EMIT, NULL, json_array);
    request_send(q);
}

void adapter_sockets_join(adapter_t *a, sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                          sioc_iov_t new_room, int leave)
{
    nsp_state_t *n = ns_of(a, nsp);
    adapter_msg_opts_t o = {rooms, n_rooms, NULL, 0, {0, 0, 0}};
    sioc_buf_t out = {0};
    int r;
    if (a->cluster) {
        join_ctx_t j = {&new_room, 1, leave};
        sio_each(nsp, rooms, n_rooms, NULL, 0, join_each, &j);
        adapter_msg_shard_t m;
        memset(&m, 0, sizeof(m));
        m.type = leave ? ADAPTER_MSG_SHARD_SOCKETS_LEAVE : ADAPTER_MSG_SHARD_SOCKETS_JOIN;
        m.uid = iov_make(n->uid, strlen(n->uid));
        m.nsp = sio_nsp_name(nsp);
        m.opts = o;
        m.rooms = &new_room;
        m.nrooms = 1;
        if (a->streams)
            (void)stream_add(a, n, &m, NULL, NULL);
        else if (adapter_msg_shard_encode(&a->ctx, &m, &out) == 0)
            (void)publish(a, n->ch_main, out.base, out.len);
    } else {
        adapter_msg_request_t m;
        memset(&m, 0, sizeof(m));
        m.type = leave ? ADAPTER_MSG_REQ_REMOTE_LEAVE : ADAPTER_MSG_REQ_REMOTE_JOIN;
        m.uid = iov_make(n->uid, strlen(n->uid));
        m.has_opts = 1;
        m.opts = o;
        m.rooms = &new_room;
        m.nrooms = 1;
        r = adapter_msg_request_encode(&a->ctx, &m, &out);
        /* Applied locally when it comes back; if it cannot be sent, apply it here. */
        if (r != 0 || publish(a, n->ch_request, out.base, out.len) != 0) {
            join_ctx_t j = {&new_room, 1, leave};
            sio_each(nsp, rooms, n_rooms, NULL, 0, join_each, &j);
        }
    }
    buf_free(&out);
}

void adapter_disconnect_sockets(adapter_t *a, sio_nsp_t *nsp, const sioc_iov_t *rooms,
                                size_t n_rooms, int close)
{
    nsp_state_t *n = ns_of(a, nsp);
    adapter_msg_opts_t o = {rooms, n_rooms, NULL, 0, {0, 0, 0}};
    sioc_buf_t out = {0};
    if (a->cluster) {
        sio_each(nsp, rooms, n_rooms, NULL, 0, disconnect_each, &close);
        adapter_msg_shard_t m;
        memset(&m, 0, sizeof(m));
        m.type = ADAPTER_MSG_SHARD_DISCONNECT_SOCKETS;
        m.uid = iov_make(n->uid, strlen(n->uid));
        m.nsp = sio_nsp_name(nsp);
        m.opts = o;
        m.close = close;
        if (a->streams)
            (void)stream_add(a, n, &m, NULL, NULL);
        else if (adapter_msg_shard_encode(&a->ctx, &m, &out) == 0)
            (void)publish(a, n->ch_main, out.base, out.len);
    } else {
        adapter_msg_request_t m;
        memset(&m, 0, sizeof(m));
        m.type = ADAPTER_MSG_REQ_REMOTE_DISCONNECT;
        m.uid = iov_make(n->uid, strlen(n->uid));
        m.has_opts = 1;
        m.opts = o;
        m.has_close = 1;
        m.close = close;
        if (adapter_msg_request_encode(&a->ctx, &m, &out) != 0 ||
            publish(a, n->ch_request, out.base, out.len) != 0)
            sio_each(nsp, rooms, n_rooms, NULL, 0, disconnect_each, &close);
    }
    buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* Incoming messages                                                    */

static void reset_scratch(adapter_t *a, adapter_msg_att_t *att)
{
    buf_reset(&a->json);
    att->v = a->att_v;
    att->cap = MAX_ATT;
    att->n = 0;
}

static void on_classic_broadcast(adapter_t *a, nsp_state_t *n, sioc_iov_t channel, const char *msg,
                                 size_t len)
{
    adapter_msg_att_t att;
    reset_scratch(a, &att);
    adapter_msg_broadcast_t b;
    if (adapter_msg_broadcast_decode(&a->ctx, msg, len, &a->json, &att, &b) < 0) {
        a->decode_errors++;
        return;
    }
    if (iov_eq_str(b.uid, n->uid) || !iov_eq(b.packet.nsp, sio_nsp_name(n->nsp)))
        return;
    sioc_iov_t room;
    if (adapter_msg_channel_room(channel, a->key, sio_nsp_name(n->nsp), &room) == 1 &&
        !sio_nsp_has_room(n->nsp, room))
        return;
    if (b.packet.type != 2)
        return;
    (void)sio_broadcast(n->nsp, b.opts.rooms, b.opts.nrooms, b.opts.except, b.opts.nexcept,
                        b.packet.data.json, b.packet.data.att, b.packet.data.natt);
}

static void on_classic_request(adapter_t *a, nsp_state_t *n, const char *msg, size_t len)
{
    adapter_msg_att_t att;
    reset_scratch(a, &att);
    adapter_msg_request_t q;
    if (adapter_msg_request_decode(&a->ctx, msg, len, &a->json, &att, &q) < 0) {
        a->decode_errors++;
        return;
    }
    int own = iov_eq_str(q.uid, n->uid);
    if (own && hmap_get(&a->requests, q.request_id) != NULL)
        return; /* our own query coming back */
    adapter_msg_response_t resp;
    memset(&resp, 0, sizeof(resp));
    resp.request_id = q.request_id;
    sioc_buf_t out = {0};
    switch (q.type) {
    case ADAPTER_MSG_REQ_SOCKETS:
    case ADAPTER_MSG_REQ_REMOTE_FETCH: {
        if (own)
            break;
        adapter_msg_opts_t o =
            q.has_opts ? q.opts : (adapter_msg_opts_t){q.rooms, q.nrooms, NULL, 0, {0, 0, 0}};
        int r = buf_append_byte(&out, '[');
        local_sockets(n->nsp, &o, q.type == ADAPTER_MSG_REQ_REMOTE_FETCH, &out, 1);
        r |= buf_append_byte(&out, ']');
        resp.kind = ADAPTER_MSG_RESP_SOCKETS;
        resp.sockets = (adapter_msg_value_t){iov_make(out.base, out.len), NULL, 0, 0};
        if (r == 0)
            respond(a, n, &resp);
        break;
    }
    case ADAPTER_MSG_REQ_ALL_ROOMS: {
        if (own)
            break;
        sioc_buf_t names = {0};
        list_ctx_t l = {&names, 1, 0};
        sio_nsp_rooms(n->nsp, list_room, &l);
        /* names holds `"a","b"`: send through the JSON text path of the codec. */
        sioc_buf_t body = {0};
        int r = buf_append_str(&body, "{\"requestId\":");
        r |= adapter_msg_json_str(&body, q.request_id);
        r |= buf_append_str(&body, ",\"rooms\":[");
        r |= buf_append(&body, names.base, names.len);
        r |= buf_append_str(&body, "]}");
        if (r == 0 && l.r == 0)
            (void)publish_plain(a, n->ch_response, body.base, body.len);
        buf_free(&body);
        buf_free(&names);
        break;
    }
    case ADAPTER_MSG_REQ_REMOTE_JOIN:
    case ADAPTER_MSG_REQ_REMOTE_LEAVE: {
        int leave = q.type == ADAPTER_MSG_REQ_REMOTE_LEAVE;
        if (q.has_opts) {
            join_ctx_t j = {q.rooms, q.nrooms, leave};
            sio_each(n->nsp, q.opts.rooms, q.opts.nrooms, q.opts.except, q.opts.nexcept, join_each,
                     &j);
        } else if (q.sid.len > 0) {
            sio_socket_t *s = sio_socket_by_id(n->nsp, q.sid);
            if (s != NULL) {
                if (leave)
                    (void)sio_leave(s, q.room);
                else
                    (void)sio_join(s, q.room);
                resp.kind = ADAPTER_MSG_RESP_ACK;
                respond(a, n, &resp);
            }
        }
        break;
    }
    case ADAPTER_MSG_REQ_REMOTE_DISCONNECT: {
        int close = q.close;
        if (q.has_opts) {
            sio_each(n->nsp, q.opts.rooms, q.opts.nrooms, q.opts.except, q.opts.nexcept,
                     disconnect_each, &close);
        } else if (q.sid.len > 0) {
            sio_socket_t *s = sio_socket_by_id(n->nsp, q.sid);
            if (s != NULL) {
                sio_disconnect(s, close);
                resp.kind = ADAPTER_MSG_RESP_ACK;
                respond(a, n, &resp);
            }
        }
        break;
    }
    case ADAPTER_MSG_REQ_SERVER_SIDE_EMIT:
        if (own || q.request_id.len == 0)
            break;
        /* No server-side listeners in the application: acknowledge without a value so
         * the requester's count completes. */
        resp.kind = ADAPTER_MSG_RESP_SERVER_EMIT;
        respond(a, n, &resp);
        break;
    case ADAPTER_MSG_REQ_BROADCAST:
        if (own)
            break;
        broadcast_with_ack(a, n, &q.packet, &q.opts, q.request_id, SIOC_IOV_NULL, 0);
        break;
    default:
        break;
    }
    buf_free(&out);
}

static void on_response(adapter_t *a, const char *msg, size_t len)
{
    adapter_msg_att_t att;
    reset_scratch(a, &att);
    adapter_msg_response_t r;
    if (adapter_msg_response_decode(&a->ctx, msg, len, &a->json, &att, &r) < 0) {
        a->decode_errors++;
        return;
    }
    hmap_node_t *hn = hmap_get(&a->requests, r.request_id);
    if (hn == NULL)
        return;
    request_t *q = container_of(hn, request_t, node);
    if (r.kind == ADAPTER_MSG_RESP_SOCKETS && q->kind == REQ_FETCH)
        acc_array(q, r.sockets.json);
    else if (r.kind == ADAPTER_MSG_RESP_ROOMS && q->kind == REQ_ROOMS) {
        for (size_t i = 0; i < r.nrooms; i++)
            collect_room(r.rooms[i], q);
    } else if (r.kind == ADAPTER_MSG_RESP_SERVER_EMIT && q->kind == REQ_SSE)
        acc_item(q, r.data.json.base != NULL ? r.data.json : SIOC_LIT("null"));
    else
        return;
    if (++q->got >= q->expected && q->expected >= 0)
        request_finish(q, 1);
}

/* A ClusterAdapter message (sharded channel, streams Pub/Sub or stream entry). */
static void on_cluster_message(adapter_t *a, nsp_state_t *n, sioc_iov_t channel,
                               adapter_msg_shard_t m)
{
    if (iov_eq_str(m.uid, n->uid) || !iov_eq(m.nsp, sio_nsp_name(n->nsp)))
        return;
    sioc_iov_t uid = m.uid;
    switch (m.type) {
    case ADAPTER_MSG_SHARD_BROADCAST: {
        sioc_iov_t room;
        if (adapter_msg_channel_room(channel, a->key, sio_nsp_name(n->nsp), &room) == 1 &&
            !sio_nsp_has_room(n->nsp, room))
            return;
        if (m.request_id.len > 0) {
            broadcast_with_ack(a, n, &m.packet, &m.opts, m.request_id, uid, 1);
            return;
        }
        sioc_iov_t json = m.packet.data.json;
        /* A stream entry's id is the offset of a logged EVENT (ClusterAdapter
         * addOffsetIfNecessary). */
        if (a->cur_offset.base != NULL && recovery_on(a) && m.packet.type == 2 &&
            !m.packet.has_id && !(m.opts.flags.present & ADAPTER_MSG_F_VOLATILE)) {
            buf_reset(&a->offset_json);
            if (with_offset(&a->offset_json, json, a->cur_offset) == 0)
                json = iov_make(a->offset_json.base, a->offset_json.len);
        }
        (void)sio_broadcast(n->nsp, m.opts.rooms, m.opts.nrooms, m.opts.except, m.opts.nexcept,
                            json, m.packet.data.att, m.packet.data.natt);
        return;
    }
    case ADAPTER_MSG_SHARD_SOCKETS_JOIN:
    case ADAPTER_MSG_SHARD_SOCKETS_LEAVE: {
        join_ctx_t j = {m.rooms, m.nrooms, m.type == ADAPTER_MSG_SHARD_SOCKETS_LEAVE};
        sio_each(n->nsp, m.opts.rooms, m.opts.nrooms, m.opts.except, m.opts.nexcept, join_each, &j);
        return;
    }
    case ADAPTER_MSG_SHARD_DISCONNECT_SOCKETS: {
        int close = m.close;
        sio_each(n->nsp, m.opts.rooms, m.opts.nrooms, m.opts.except, m.opts.nexcept,
                 disconnect_each, &close);
        return;
    }
    case ADAPTER_MSG_SHARD_FETCH_SOCKETS:
    case ADAPTER_MSG_SHARD_SERVER_SIDE_EMIT: {
        if (m.type == ADAPTER_MSG_SHARD_SERVER_SIDE_EMIT && m.request_id.len == 0)
            return;
        sioc_buf_t arr = {0}, out = {0};
        adapter_msg_shard_t resp;
        memset(&resp, 0, sizeof(resp));
        resp.uid = iov_make(n->uid, strlen(n->uid));
        resp.nsp = sio_nsp_name(n->nsp);
        resp.request_id = m.request_id;
        if (m.type == ADAPTER_MSG_SHARD_FETCH_SOCKETS) {
            (void)!buf_append_byte(&arr, '[');
            local_sockets(n->nsp, &m.opts, 1, &arr, 1);
            (void)!buf_append_byte(&arr, ']');
            resp.type = ADAPTER_MSG_SHARD_FETCH_SOCKETS_RESPONSE;
            resp.value = (adapter_msg_value_t){iov_make(arr.base, arr.len), NULL, 0, 0};
        } else {
            resp.type = ADAPTER_MSG_SHARD_SERVER_SIDE_EMIT_RESPONSE;
        }
        if (cluster_encode(a, &resp, &out) == 0) {
            char *ch = channel_name(a, ADAPTER_MSG_CH_ROOM, sio_nsp_name(n->nsp), uid);
            (void)publish(a, ch, out.base, out.len);
            free(ch);
        }
        buf_free(&arr);
        buf_free(&out);
        return;
    }
    case ADAPTER_MSG_SHARD_FETCH_SOCKETS_RESPONSE:
    case ADAPTER_MSG_SHARD_SERVER_SIDE_EMIT_RESPONSE: {
        hmap_node_t *hn = hmap_get(&a->requests, m.request_id);
        if (hn == NULL)
            return;
        request_t *q = container_of(hn, request_t, node);
        if (m.type == ADAPTER_MSG_SHARD_FETCH_SOCKETS_RESPONSE)
            acc_array(q, m.value.json);
        else
            acc_item(q, m.value.json.base != NULL ? m.value.json : SIOC_LIT("null"));
        if (++q->got >= q->expected && q->expected >= 0)
            request_finish(q, 1);
        return;
    }
    default:
        return;
    }
}

static void on_shard_message(adapter_t *a, nsp_state_t *n, sioc_iov_t channel, const char *msg,
                             size_t len)
{
    adapter_msg_att_t att;
    reset_scratch(a, &att);
    adapter_msg_shard_t m;
    if (adapter_msg_shard_decode(&a->ctx, msg, len, &a->json, &att, &m) < 0) {
        a->decode_errors++;
        return;
    }
    on_cluster_message(a, n, channel, m);
}

/* ------------------------------------------------------------------ */
/* Streams mode: XADD and the readers                                   */

/* Appends message `m` to the stream of its namespace: `XADD <key> MAXLEN ~ N * uid nsp type
 * [data]`, as the Node adapter writes it. */
static int stream_add(adapter_t *a, nsp_state_t *n, const adapter_msg_shard_t *m, redis_reply_cb cb,
                      void *data)
{
    stream_reader_t *sr = n->stream;
    char type[8], maxlen[24];
    snprintf(type, sizeof(type), "%d", m->type);
    snprintf(maxlen, sizeof(maxlen), "%ld", a->w->conf->redis_stream_maxlen);
    buf_reset(&a->entry_data);
    int has = adapter_streams_data(&a->ctx, m, &a->entry_scratch, &a->entry_data);
    if (has < 0) {
        a->publish_dropped++;
        return has;
    }
    sioc_iov_t nsp = sio_nsp_name(n->nsp);
    const char *argv[] = {"XADD", sr->key, "MAXLEN", "~",    maxlen, "*",    "uid",
                          n->uid, "nsp",   nsp.base, "type", type,   "data", a->entry_data.base};
    size_t lens[] = {4,
                     strlen(sr->key),
                     6,
                     1,
                     strlen(maxlen),
                     1,
                     3,
                     strlen(n->uid),
                     3,
                     nsp.len,
                     4,
                     strlen(type),
                     4,
                     a->entry_data.len};
    int r = redis_client_cmd(a->pub, cb, data, has == 0 ? 14 : 12, argv, lens);
    if (r != 0) {
        a->publish_dropped++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("redis XADD dropped (%s): link down; local delivery only", sioc_strerror(r));
        return r;
    }
    a->published++;
    sr->added++;
    return 0;
}

static nsp_state_t *ns_by_name(adapter_t *a, sioc_iov_t name)
{
    for (size_t i = 0; i < a->n_ns; i++)
        if (iov_eq(sio_nsp_name(a->ns[i].nsp), name))
            return &a->ns[i];
    return NULL;
}

static sioc_iov_t reply_iov(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? iov_make(r->str, r->len) : SIOC_IOV_NULL;
}

/* One entry [id, [field, value, ...]]: entries without nsp (foreign) and our own are skipped;
 * 0.2.x heartbeats decode and are ignored like every type we do not act on. */
static void on_entry(stream_reader_t *sr, const redisReply *e)
{
    adapter_t *a = sr->a;
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
        e->element[0]->type != REDIS_REPLY_STRING)
        return;
    sioc_iov_t id = reply_iov(e->element[0]);
    if (id.len < sizeof(sr->last_id)) {
        memcpy(sr->last_id, id.base, id.len);
        sr->last_id[id.len] = '\0';
    }
    sr->read++;
    const redisReply *f = e->element[1];
    if (f->type != REDIS_REPLY_ARRAY)
        return;
    sioc_iov_t uid = SIOC_IOV_NULL, nsp = SIOC_IOV_NULL, type = SIOC_IOV_NULL, data = SIOC_IOV_NULL;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        sioc_iov_t k = reply_iov(f->element[i]), v = reply_iov(f->element[i + 1]);
        if (iov_eq_str(k, "uid"))
            uid = v;
        else if (iov_eq_str(k, "nsp"))
            nsp = v;
        else if (iov_eq_str(k, "type"))
            type = v;
        else if (iov_eq_str(k, "data"))
            data = v;
    }
    if (nsp.base == NULL)
        return;
    nsp_state_t *n = ns_by_name(a, nsp);
    if (n == NULL || iov_eq_str(uid, n->uid))
        return;
    a->received++;
    adapter_msg_att_t att;
    reset_scratch(a, &att);
    adapter_msg_shard_t m;
    if (adapter_streams_decode(&a->ctx, type, uid, nsp, data, &a->entry_scratch, &a->json, &att,
                               &m) < 0) {
        a->decode_errors++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("stream %s: entry %.*s not decoded: %s", sr->key, (int)id.len, id.base,
                     a->ctx.reason ? a->ctx.reason : "no memory");
        return;
    }
    a->cur_offset = id;
    on_cluster_message(a, n, iov_make(n->ch_main, strlen(n->ch_main)), m);
    a->cur_offset = SIOC_IOV_NULL;
}

static void reader_issue(stream_reader_t *sr);
static void restores_wake(stream_reader_t *sr);

static void on_xread(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    stream_reader_t *sr = data;
    if (r == NULL)
        return; /* link down: the state callback reads again, from last_id */
    if (r->type == REDIS_REPLY_ERROR) {
        static long long last;
        if (log_ratelimited(&last))
            log_warn("stream %s: XREAD failed: %s; reconnecting", sr->key, r->str);
        redis_client_reset(sr->link);
        return;
    }
    /* [[key, [[id, fields], ...]]] or nil on timeout */
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements >= 2) {
        const redisReply *entries = r->element[0]->element[1];
        for (size_t i = 0; entries->type == REDIS_REPLY_ARRAY && i < entries->elements; i++)
            on_entry(sr, entries->element[i]);
    }
    restores_wake(sr);
    reader_issue(sr);
}

static void reader_issue(stream_reader_t *sr)
{
    const char *argv[] = {"XREAD",           "BLOCK",   STREAM_BLOCK_MS, "COUNT",
                          STREAM_READ_COUNT, "STREAMS", sr->key,         sr->last_id};
    (void)redis_client_cmdv(sr->link, on_xread, sr, 8, argv);
}

/* The first read starts after the current last entry (Node reads from "$"), by its id, so
 * that a restore can tell which entries the reader has delivered. */
static void on_reader_start(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    stream_reader_t *sr = data;
    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements > 0 &&
        r->element[0]->element[0]->type == REDIS_REPLY_STRING &&
        r->element[0]->element[0]->len < sizeof(sr->last_id))
        memcpy(sr->last_id, r->element[0]->element[0]->str, r->element[0]->element[0]->len + 1);
    else
        strcpy(sr->last_id, "0-0");
    restores_wake(sr);
    reader_issue(sr);
}

static void on_reader_state(redis_client_t *c, int up, void *data)
{
    (void)c;
    stream_reader_t *sr = data;
    if (up && sr->last_id[0] == '\0') {
        const char *argv[] = {"XREVRANGE", sr->key, "+", "-", "COUNT", "1"};
        (void)redis_client_cmdv(sr->link, on_reader_start, sr, 6, argv);
    } else if (up) {
        reader_issue(sr);
    }
    update_ready(sr->a);
}

static int readers_up(const adapter_t *a)
{
    for (size_t i = 0; i < a->n_readers; i++)
        if (!redis_client_up(a->readers[i].link))
            return 0;
    return 1;
}

/* Streams and classic modes on one key prefix would read each other's messages on
 * <key>#<nsp>#: a classic node listens on <key>-request#/#, so its presence shows. */
static void on_classic_check(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    adapter_t *a = data;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
        r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer > 0) {
        log_error("--adapter-mode streams: a classic-mode adapter (sioc or Node createAdapter) "
                  "uses the key prefix \"%.*s\" on this Redis; the two modes cannot share a "
                  "prefix (set another --redis-key): exiting",
                  (int)a->key.len, a->key.base);
        exit(2);
    }
}

static void streams_start(adapter_t *a, const redis_url_t *url)
{
    a->readers = xcalloc(a->n_ns, sizeof(*a->readers));
    sioc_iov_t name = iov_make(a->w->conf->redis_stream, strlen(a->w->conf->redis_stream));
    for (size_t i = 0; i < a->n_ns; i++) {
        nsp_state_t *n = &a->ns[i];
        sioc_buf_t key = {0};
        if (adapter_streams_key(&key, name, a->w->conf->redis_stream_count, sio_nsp_name(n->nsp)) !=
                0 ||
            buf_append_byte(&key, '\0') != 0)
            abort();
        for (size_t k = 0; k < a->n_readers && n->stream == NULL; k++)
            if (strcmp(a->readers[k].key, key.base) == 0)
                n->stream = &a->readers[k];
        if (n->stream != NULL) {
            buf_free(&key);
            continue;
        }
        stream_reader_t *sr = &a->readers[a->n_readers++];
        sr->a = a;
        sr->key = key.base;
        list_init(&sr->waiting);
        n->stream = sr;
    }
    for (size_t k = 0; k < a->n_readers; k++) {
        stream_reader_t *sr = &a->readers[k];
        redis_client_opts_t ro = {0, "stream reader", 1000, 3000, 0, 0, on_reader_state, NULL, sr};
        sr->link = redis_client_new(a->w->loop, url, &ro);
    }
}

/* ------------------------------------------------------------------ */
/* Streams mode: connection state recovery across the cluster           */
/*
 * Offsets are stream entry ids. An EVENT of this worker is delivered locally once its XADD
 * has answered, with the entry id appended (as ClusterAdapter.broadcast awaits
 * publishAndReturnOffset); one read from the stream gets the id of its entry. Sessions are
 * SET at sio:session:<pid> (base64 msgpack {sid, pid, rooms, data}, PX the window) when a
 * socket connects, after its joins and leaves, and when it ends for a recoverable reason,
 * and their TTL is refreshed while it is connected: a worker killed with SIGKILL leaves
 * sessions that live about one window more. A restore takes the session (GETDEL), checks
 * that the offset is still in the stream, reads the entries after it in pages, and then
 * lines up with the live reader: entries the reader has delivered already are read too, and
 * the CONNECT waits for the reader to reach the last entry read, so that nothing falls
 * between the replay and the live flow, and nothing comes twice.
 */

#define SESSION_KEY_PREFIX "sio:session:"
#define RESTORE_PAGE 100
#define RESTORE_MAX_PAGES 1000
#define RESTORE_WAIT_MS 3000

static int recovery_on(const adapter_t *a)
{
    return a->streams && a->w->conf->max_disconnection_duration > 0;
}

/* Appends `json` (a JSON array) with the string `offset` as its last element. */
static int with_offset(sioc_buf_t *b, sioc_iov_t json, sioc_iov_t offset)
{
    size_t close = json.len;
    while (close > 0 && json.base[close - 1] != ']')
        close--;
    if (close == 0)
        return SIOC_EPROTO;
    close--;
    int empty = 1;
    for (size_t i = 0; i < close; i++)
        if (json.base[i] != '[' && json.base[i] != ' ' && json.base[i] != '\n' &&
            json.base[i] != '\t' && json.base[i] != '\r')
            empty = 0;
    int r = buf_append(b, json.base, close);
    r = r ? r : empty ? 0 : buf_append_byte(b, ',');
    r = r ? r : adapter_msg_json_str(b, offset);
    return r ? r : buf_append(b, json.base + close, json.len - close);
}

/* "ms-seq" ids compared as numbers; "" (reader not started) is below everything. */
static int id_cmp(const char *x, const char *y)
{
    unsigned long long xm = 0, xs = 0, ym = 0, ys = 0;
    int xn = sscanf(x, "%llu-%llu", &xm, &xs), yn = sscanf(y, "%llu-%llu", &ym, &ys);
    if (xn < 2 || yn < 2)
        return xn < 2 ? (yn < 2 ? 0 : -1) : 1;
    if (xm != ym)
        return xm < ym ? -1 : 1;
    return xs < ys ? -1 : xs > ys;
}

/* A local EVENT waiting for its XADD reply (the offset). One allocation. */
typedef struct {
    adapter_t *a;
    size_t nsp_index;
    size_t n_rooms, n_except, n_att;
    sioc_iov_t json;
    sioc_iov_t v[]; /* rooms, except, attachments; their bytes follow */
} pending_emit_t;

static void on_emit_logged(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    pending_emit_t *pe = data;
    adapter_t *a = pe->a;
    sio_nsp_t *nsp = a->ns[pe->nsp_index].nsp;
    sioc_iov_t json = pe->json;
    sioc_buf_t b = {0};
    if (r != NULL && r->type == REDIS_REPLY_STRING &&
        with_offset(&b, json, iov_make(r->str, r->len)) == 0)
        json = iov_make(b.base, b.len);
    const sioc_iov_t *rooms = pe->v, *except = pe->v + pe->n_rooms,
                     *att = pe->v + pe->n_rooms + pe->n_except;
    (void)sio_broadcast(nsp, rooms, pe->n_rooms, except, pe->n_except, json, att, pe->n_att);
    buf_free(&b);
    free(pe);
}

static void store_emit(void *ctx, sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                       const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                       const sioc_iov_t *att, size_t n_att)
{
    adapter_t *a = ctx;
    size_t n = n_rooms + n_except + n_att, bytes = json_array.len;
    for (size_t i = 0; i < n_rooms; i++)
        bytes += rooms[i].len;
    for (size_t i = 0; i < n_except; i++)
        bytes += except[i].len;
    for (size_t i = 0; i < n_att; i++)
        bytes += att[i].len;
    pending_emit_t *pe = xmalloc(sizeof(*pe) + n * sizeof(sioc_iov_t) + bytes + 1);
    pe->a = a;
    pe->nsp_index = sio_nsp_index(nsp);
    pe->n_rooms = n_rooms;
    pe->n_except = n_except;
    pe->n_att = n_att;
    char *p = (char *)(pe->v + n);
    const sioc_iov_t *src[] = {rooms, except, att};
    size_t cnt[] = {n_rooms, n_except, n_att}, k = 0;
    for (int g = 0; g < 3; g++)
        for (size_t i = 0; i < cnt[g]; i++) {
            memcpy(p, src[g][i].base, src[g][i].len);
            pe->v[k++] = iov_make(p, src[g][i].len);
            p += src[g][i].len;
        }
    memcpy(p, json_array.base, json_array.len);
    pe->json = iov_make(p, json_array.len);

    nsp_state_t *ns = ns_of(a, nsp);
    adapter_msg_shard_t m;
    memset(&m, 0, sizeof(m));
    m.type = ADAPTER_MSG_SHARD_BROADCAST;
    m.uid = iov_make(ns->uid, strlen(ns->uid));
    m.nsp = sio_nsp_name(nsp);
    m.packet =
        (adapter_msg_packet_t){2, sio_nsp_name(nsp), 0, 0, {pe->json, att, n_att, n_att > 0}};
    m.opts = (adapter_msg_opts_t){rooms, n_rooms, except, n_except, {0, 0, 0}};
    /* Not logged (Redis unreachable): delivered at once without an offset, as Node does. */
    if (stream_add(a, ns, &m, on_emit_logged, pe) != 0)
        on_emit_logged(NULL, NULL, pe);
}

typedef struct {
    sioc_iov_t *v;
    size_t n, cap;
} iov_list_t;

static void add_room(sioc_iov_t room, void *data)
{
    iov_list_t *l = data;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = room;
}

static void session_key(char *out, size_t cap, const char *pid)
{
    snprintf(out, cap, "%s%s", SESSION_KEY_PREFIX, pid);
}

static void store_save(void *ctx, sio_socket_t *s)
{
    adapter_t *a = ctx;
    const char *pid = sio_socket_pid(s);
    if (pid == NULL || !redis_client_up(a->pub))
        return;
    iov_list_t rooms = {0};
    sio_socket_rooms(s, add_room, &rooms);
    sioc_buf_t data = {0}, value = {0};
    const char *sid = sio_socket_id(s);
    adapter_streams_session_t ss = {iov_make(sid, strlen(sid)), iov_make(pid, strlen(pid)), rooms.v,
                                    rooms.n, SIOC_IOV_NULL};
    if (sio_socket_data_json(s, &data) == 0)
        ss.data = iov_make(data.base, data.len);
    if (adapter_streams_session_encode(&a->ctx, &ss, &value) == 0) {
        char key[64], px[24];
        session_key(key, sizeof(key), pid);
        snprintf(px, sizeof(px), "%ld", a->w->conf->max_disconnection_duration);
        const char *argv[] = {"SET", key, value.base, "PX", px};
        size_t lens[] = {3, strlen(key), value.len, 2, strlen(px)};
        if (redis_client_cmd(a->pub, NULL, NULL, 5, argv, lens) == 0)
            a->sessions_written++;
    }
    free(rooms.v);
    buf_free(&data);
    buf_free(&value);
}

static void store_drop(void *ctx, sio_socket_t *s)
{
    adapter_t *a = ctx;
    char key[64];
    session_key(key, sizeof(key), sio_socket_pid(s));
    const char *argv[] = {"DEL", key};
    (void)redis_client_cmdv(a->pub, NULL, NULL, 2, argv);
}

static void refresh_each(sio_socket_t *s, void *data)
{
    adapter_t *a = data;
    char key[64], px[24];
    if (sio_socket_pid(s) == NULL)
        return;
    session_key(key, sizeof(key), sio_socket_pid(s));
    snprintf(px, sizeof(px), "%ld", a->w->conf->max_disconnection_duration);
    const char *argv[] = {"PEXPIRE", key, px};
    (void)redis_client_cmdv(a->pub, NULL, NULL, 3, argv);
}

/* Every third of the window, the sessions of connected sockets get a full window again. */
static void sessions_refresh(adapter_t *a)
{
    long long now = clock_ms(), every = a->w->conf->max_disconnection_duration / 3;
    if (!recovery_on(a) || now < a->refresh_due_ms || !redis_client_up(a->pub))
        return;
    a->refresh_due_ms = now + (every < 1000 ? 1000 : every);
    for (size_t i = 0; i < a->n_ns; i++)
        sio_each(a->ns[i].nsp, NULL, 0, NULL, 0, refresh_each, a);
}

typedef struct restore_op {
    sioc_list_t link; /* in reader->waiting */
    adapter_t *a;
    stream_reader_t *sr;
    size_t nsp_index;
    sio_restore_t *r;
    int pending; /* replies awaited before the next step */
    int offset_found, result, pages;
    char *session; /* the stored value, until decoded */
    size_t session_len;
    sioc_iov_t *rooms; /* the session's rooms (copies in `room_bytes`) */
    size_t n_rooms;
    sioc_buf_t room_bytes;
    char sid[24];
    char last[48]; /* the last entry read */
    long long wait_since_ms;
} restore_op_t;

static void op_finish(restore_op_t *op, int recovered)
{
    adapter_t *a = op->a;
    int res = recovered ? RECOVERY_RECOVERED : op->result;
    a->rec_results[res]++;
    if (recovered)
        for (size_t i = 0; i < op->n_rooms; i++)
            sio_restore_room(op->r, op->rooms[i]);
    sio_restore_done(op->r, recovered, iov_make(op->sid, strlen(op->sid)));
    if (list_linked(&op->link))
        list_remove(&op->link);
    free(op->session);
    free(op->rooms);
    buf_free(&op->room_bytes);
    free(op);
}

static int included(const restore_op_t *op, const adapter_msg_opts_t *o)
{
    int in = o->nrooms == 0;
    for (size_t i = 0; i < op->n_rooms; i++) {
        for (size_t k = 0; !in && k < o->nrooms; k++)
            in = iov_eq(op->rooms[i], o->rooms[k]);
        for (size_t k = 0; k < o->nexcept; k++)
            if (iov_eq(op->rooms[i], o->except[k]))
                return 0;
    }
    return in;
}

static void op_replay(restore_op_t *op, const redisReply *e)
{
    adapter_t *a = op->a;
    nsp_state_t *n = &a->ns[op->nsp_index];
    sioc_iov_t id = reply_iov(e->element[0]);
    const redisReply *f = e->element[1];
    sioc_iov_t uid = SIOC_IOV_NULL, nsp = SIOC_IOV_NULL, type = SIOC_IOV_NULL, data = SIOC_IOV_NULL;
    for (size_t i = 0; f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2) {
        sioc_iov_t k = reply_iov(f->element[i]), v = reply_iov(f->element[i + 1]);
        if (iov_eq_str(k, "uid"))
            uid = v;
        else if (iov_eq_str(k, "nsp"))
            nsp = v;
        else if (iov_eq_str(k, "type"))
            type = v;
        else if (iov_eq_str(k, "data"))
            data = v;
    }
    if (!iov_eq(nsp, sio_nsp_name(n->nsp)) || !iov_eq_str(type, "3"))
        return;
    adapter_msg_att_t att;
    reset_scratch(a, &att);
    adapter_msg_shard_t m;
    if (adapter_streams_decode(&a->ctx, type, uid, nsp, data, &a->entry_scratch, &a->json, &att,
                               &m) < 0 ||
        m.request_id.len > 0 || m.packet.type != 2 || !included(op, &m.opts))
        return;
    buf_reset(&a->offset_json);
    if (with_offset(&a->offset_json, m.packet.data.json, id) != 0)
        return;
    sio_restore_packet(op->r, iov_make(a->offset_json.base, a->offset_json.len), m.packet.data.att,
                       m.packet.data.natt);
    a->rec_replayed++;
}

static void op_read(restore_op_t *op, const char *until);

/* Lines the replay up with the live reader of the stream (see the section comment). */
static void op_catch_up(restore_op_t *op)
{
    int c = id_cmp(op->sr->last_id, op->last);
    if (c > 0) {
        op_read(op, op->sr->last_id);
        return;
    }
    if (c < 0) {
        if (!list_linked(&op->link)) {
            op->wait_since_ms = clock_ms();
            list_insert_tail(&op->sr->waiting, &op->link);
        }
        return;
    }
    op_finish(op, 1);
}

static void restores_wake(stream_reader_t *sr)
{
    sioc_list_t ready;
    list_init(&ready);
    while (!list_empty(&sr->waiting)) {
        restore_op_t *op = container_of(sr->waiting.next, restore_op_t, link);
        list_remove(&op->link);
        list_insert_tail(&ready, &op->link);
    }
    while (!list_empty(&ready)) {
        restore_op_t *op = container_of(ready.next, restore_op_t, link);
        list_remove(&op->link);
        op_catch_up(op);
    }
}

/* Restores still waiting for a reader that does not move (its link is down): they go on
 * with what they have read. */
static void restores_expire(adapter_t *a)
{
    long long now = clock_ms();
    for (size_t k = 0; k < a->n_readers; k++) {
        sioc_list_t *wl = &a->readers[k].waiting;
        while (!list_empty(wl)) {
            restore_op_t *op = container_of(wl->next, restore_op_t, link);
            if (now - op->wait_since_ms < RESTORE_WAIT_MS)
                break;
            op_finish(op, 1);
        }
    }
}

static void on_restore_page(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    restore_op_t *op = data;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        op->result = RECOVERY_OFFSET_TRIMMED;
        op_finish(op, 0);
        return;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
            e->element[0]->type != REDIS_REPLY_STRING || e->element[0]->len >= sizeof(op->last))
            continue;
        memcpy(op->last, e->element[0]->str, e->element[0]->len + 1);
        op_replay(op, e);
    }
    if (r->elements == RESTORE_PAGE && ++op->pages < RESTORE_MAX_PAGES)
        op_read(op, "+");
    else
        op_catch_up(op);
}

/* XRANGE <stream> <last + 1> <until> COUNT 100 */
static void op_read(restore_op_t *op, const char *until)
{
    char start[48];
    if (adapter_streams_next_id(iov_make(op->last, strlen(op->last)), start, sizeof(start)) < 0) {
        op->result = RECOVERY_OFFSET_TRIMMED;
        op_finish(op, 0);
        return;
    }
    char count[8];
    snprintf(count, sizeof(count), "%d", RESTORE_PAGE);
    const char *argv[] = {"XRANGE", op->sr->key, start, until, "COUNT", count};
    if (redis_client_cmdv(op->a->pub, on_restore_page, op, 6, argv) != 0) {
        op->result = RECOVERY_OFFSET_TRIMMED;
        op_finish(op, 0);
    }
}

static void restore_step(restore_op_t *op)
{
    if (--op->pending > 0)
        return;
    adapter_t *a = op->a;
    if (op->session == NULL) {
        op->result = RECOVERY_UNKNOWN_PID; /* never saved, expired or taken */
        op_finish(op, 0);
        return;
    }
    if (!op->offset_found) {
        op->result = RECOVERY_OFFSET_TRIMMED;
        op_finish(op, 0);
        return;
    }
    sioc_buf_t scratch = {0}, json = {0};
    sioc_iov_t rooms[256];
    adapter_streams_session_t ss;
    int e = adapter_streams_session_decode(&a->ctx, iov_make(op->session, op->session_len),
                                           &scratch, &json, rooms, 256, &ss);
    if (e == 0 && ss.sid.len < sizeof(op->sid)) {
        memcpy(op->sid, ss.sid.base, ss.sid.len);
        op->sid[ss.sid.len] = '\0';
        size_t bytes = 0;
        for (size_t i = 0; i < ss.nrooms; i++)
            bytes += ss.rooms[i].len;
        op->rooms = xmalloc((ss.nrooms + 1) * sizeof(*op->rooms));
        if (buf_reserve(&op->room_bytes, bytes + 1) != 0)
            abort();
        for (size_t i = 0; i < ss.nrooms; i++) {
            op->rooms[i] = iov_make(op->room_bytes.base + op->room_bytes.len, ss.rooms[i].len);
            (void)!buf_append(&op->room_bytes, ss.rooms[i].base, ss.rooms[i].len);
        }
        op->n_rooms = ss.nrooms;
    }
    buf_free(&scratch);
    buf_free(&json);
    if (op->rooms == NULL) {
        op->result = RECOVERY_UNKNOWN_PID;
        op_finish(op, 0);
        return;
    }
    op_read(op, "+");
}

static void on_restore_session(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    restore_op_t *op = data;
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        op->session = xmalloc(r->len + 1);
        memcpy(op->session, r->str, r->len);
        op->session_len = r->len;
    }
    restore_step(op);
}

static void on_restore_offset(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    restore_op_t *op = data;
    op->offset_found = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0;
    restore_step(op);
}

static void store_restore(void *ctx, sio_nsp_t *nsp, sioc_iov_t pid, sioc_iov_t offset,
                          sio_restore_t *r)
{
    adapter_t *a = ctx;
    restore_op_t *op = xcalloc(1, sizeof(*op));
    op->a = a;
    op->sr = ns_of(a, nsp)->stream;
    op->nsp_index = sio_nsp_index(nsp);
    op->r = r;
    op->result = RECOVERY_UNKNOWN_PID;
    list_init(&op->link);
    char next[48];
    if (offset.len >= sizeof(op->last) || pid.len > 32 ||
        adapter_streams_next_id(offset, next, sizeof(next)) < 0) {
        op_finish(op, 0); /* not an entry id: an offset of another kind of server */
        return;
    }
    memcpy(op->last, offset.base, offset.len);
    op->last[offset.len] = '\0';
    char key[64];
    snprintf(key, sizeof(key), "%s%.*s", SESSION_KEY_PREFIX, (int)pid.len, pid.base);
    const char *get[] = {"GETDEL", key};
    const char *xr[] = {"XRANGE", op->sr->key, op->last, op->last};
    op->pending = 2;
    if (redis_client_cmdv(a->pub, on_restore_session, op, 2, get) != 0) {
        op_finish(op, 0);
        return;
    }
    if (redis_client_cmdv(a->pub, on_restore_offset, op, 4, xr) != 0)
        restore_step(op); /* the GETDEL reply ends it: offset not found */
}

static void recovery_start(adapter_t *a)
{
    if (!recovery_on(a))
        return;
    sio_recovery_store_t st = {store_restore, store_save, store_drop, store_emit, a};
    sio_set_recovery_store(a->w, &st);
}

/* ------------------------------------------------------------------ */
/* Subscriptions and readiness                                          */

static void waiter_done(waiter_t *wt, int ok)
{
    adapter_t *a = wt->a;
    list_remove(&wt->link);
    if (wt->timer != NULL)
        event_free(wt->timer);
    sio_nsp_t *nsp = a->ns[wt->nsp_index].nsp;
    wt->cb(a->w, nsp, wt->socket_id, ok, wt->data);
    free(wt);
}

static void on_waiter_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    waiter_done(arg, 0);
}

static void flush_waiters(sioc_list_t *list, int ok)
{
    while (!list_empty(list))
        waiter_done(container_of(list->next, waiter_t, link), ok);
}

static void room_sub_confirmed(adapter_t *a, sioc_iov_t channel)
{
    hmap_node_t *hn = hmap_get(&a->room_subs, channel);
    if (hn == NULL)
        return;
    room_sub_t *rs = container_of(hn, room_sub_t, node);
    rs->confirmed = 1;
    if (a->ready)
        flush_waiters(&rs->waiters, 1);
}

static void subscribe(adapter_t *a, const char *cmd, const char *channel)
{
    const char *argv[] = {cmd, channel};
    if (redis_client_cmdv(a->sub, NULL, NULL, 2, argv) == 0)
        a->subs_expected++;
}

static void subscribe_all(adapter_t *a)
{
    a->subs_expected = 0;
    a->subs_confirmed = 0;
    subscribe(a, "SUBSCRIBE", a->health_ch);
    for (size_t i = 0; i < a->n_ns; i++) {
        nsp_state_t *n = &a->ns[i];
        if (a->cluster) {
            const char *cmd = a->sharded ? "SSUBSCRIBE" : "SUBSCRIBE";
            subscribe(a, cmd, n->ch_main);
            subscribe(a, cmd, n->ch_response_uid);
        } else {
            subscribe(a, "PSUBSCRIBE", n->ch_pattern);
            subscribe(a, "SUBSCRIBE", n->ch_request);
            subscribe(a, "SUBSCRIBE", n->ch_response);
            subscribe(a, "SUBSCRIBE", n->ch_response_uid);
        }
    }
    hmap_node_t *hn;
    for (hmap_iter_t it = hmap_iter(&a->room_subs); (hn = hmap_next(&it)) != NULL;) {
        room_sub_t *rs = container_of(hn, room_sub_t, node);
        rs->confirmed = 0;
        const char *argv[] = {"SSUBSCRIBE", rs->channel};
        (void)redis_client_cmdv(a->sub, NULL, NULL, 2, argv);
    }
}

static void on_push(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    adapter_t *a = data;
    if (r->elements < 3)
        return;
    const char *kind = r->element[0]->str;
    redisReply *chr = r->element[r->elements == 4 ? 2 : 1];
    redisReply *msg = r->element[r->elements == 4 ? 3 : 2];
    if (chr->type != REDIS_REPLY_STRING)
        return;
    sioc_iov_t channel = iov_make(chr->str, chr->len);
    if (strcasecmp(kind, "subscribe") == 0 || strcasecmp(kind, "psubscribe") == 0 ||
        strcasecmp(kind, "ssubscribe") == 0) {
        if (strcasecmp(kind, "ssubscribe") == 0 && hmap_get(&a->room_subs, channel) != NULL)
            room_sub_confirmed(a, channel);
        else if (a->subs_confirmed < a->subs_expected && ++a->subs_confirmed == a->subs_expected)
            send_health(a); /* every subscription confirmed: prove the path end to end now */
        update_ready(a);
        return;
    }
    if (msg->type != REDIS_REPLY_STRING)
        return;
    if (iov_eq_str(channel, a->health_ch)) {
        a->last_health_ms = clock_ms();
        update_ready(a);
        return;
    }
    a->received++;
    int which = -1;
    nsp_state_t *n = ns_by_channel(a, channel, &which);
    if (n == NULL)
        return;
    if (a->cluster) {
        on_shard_message(a, n, channel, msg->str, msg->len);
        return;
    }
    if (strcasecmp(kind, "pmessage") == 0)
        on_classic_broadcast(a, n, channel, msg->str, msg->len);
    else if (which == 2)
        on_classic_request(a, n, msg->str, msg->len);
    else if (which == 3 || which == 4)
        on_response(a, msg->str, msg->len);
}

static void update_ready(adapter_t *a)
{
    int ready = redis_client_up(a->pub) && redis_client_up(a->sub) && readers_up(a) &&
                a->subs_confirmed >= a->subs_expected && a->subs_expected > 0 &&
                clock_ms() - a->last_health_ms < HEALTH_TIMEOUT_MS;
    if (ready == a->ready)
        return;
    a->ready = ready;
    a->w->ready = ready;
    if (ready) {
        log_info("redis adapter ready: subscribed (%d channels, %s mode)", a->subs_expected,
                 a->streams   ? "streams"
                 : a->sharded ? "sharded"
                              : "classic");
        flush_waiters(&a->ready_waiters, 1);
        hmap_node_t *hn;
        for (hmap_iter_t it = hmap_iter(&a->room_subs); (hn = hmap_next(&it)) != NULL;) {
            room_sub_t *rs = container_of(hn, room_sub_t, node);
            if (rs->confirmed)
                flush_waiters(&rs->waiters, 1);
        }
    } else {
        a->link_downs++;
        log_warn("redis adapter not ready: cross-worker delivery paused, local delivery goes on");
    }
}

static void on_state(redis_client_t *c, int up, void *data)
{
    adapter_t *a = data;
    if (c == a->sub && up)
        subscribe_all(a);
    if (c == a->pub && up && a->streams) {
        char *ch = channel_name(a, ADAPTER_MSG_CH_REQUEST, SIOC_LIT("/"), SIOC_IOV_NULL);
        const char *argv[] = {"PUBSUB", "NUMSUB", ch};
        (void)redis_client_cmdv(a->pub, on_classic_check, a, 3, argv);
        free(ch);
    }
    if (up && redis_client_up(a->pub) && redis_client_up(a->sub) &&
        a->subs_confirmed >= a->subs_expected)
        send_health(a);
    update_ready(a);
}

static void send_health(adapter_t *a)
{
    char ts[32];
    snprintf(ts, sizeof(ts), "%lld", clock_unix_ms());
    if (publish_plain(a, a->health_ch, ts, strlen(ts)) == 0)
        a->health_sent_ms = clock_ms();
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    adapter_t *a = arg;
    long long now = clock_ms();
    sessions_refresh(a);
    restores_expire(a);
    if (redis_client_up(a->pub)) {
        char ts[32];
        snprintf(ts, sizeof(ts), "%lld", clock_unix_ms());
        const char *zadd[] = {"ZADD", MEMBERSHIP_KEY, ts, a->member};
        if (!a->w->draining)
            (void)redis_client_cmdv(a->pub, NULL, NULL, 4, zadd);
        send_health(a);
    }
    /* Subscribed, publishing, but our own health message does not come back: the
     * subscription is broken somewhere; start it again. */
    if (redis_client_up(a->sub) && redis_client_up(a->pub) &&
        a->subs_confirmed >= a->subs_expected && a->last_health_ms > 0 &&
        now - a->last_health_ms > 2 * HEALTH_TIMEOUT_MS) {
        log_warn("redis adapter: health messages stopped arriving; resubscribing");
        a->last_health_ms = now;
        redis_client_reset(a->sub);
    }
    update_ready(a);
}

/* ------------------------------------------------------------------ */
/* Room subscriptions (sharded)                                         */

static void room_hook(worker_t *w, sio_nsp_t *nsp, sioc_iov_t room, int created)
{
    adapter_t *a = w->adapter;
    if (a == NULL || !a->sharded || room.len == 20)
        return;
    char *ch = channel_name(a, ADAPTER_MSG_CH_ROOM, sio_nsp_name(nsp), room);
    sioc_iov_t key = iov_make(ch, strlen(ch));
    hmap_node_t *hn = hmap_get(&a->room_subs, key);
    if (created && hn == NULL) {
        room_sub_t *rs = xcalloc(1, sizeof(*rs) + key.len + 1);
        memcpy(rs->channel, ch, key.len + 1);
        rs->node.key = iov_make(rs->channel, key.len);
        list_init(&rs->waiters);
        hmap_put(&a->room_subs, &rs->node);
        const char *argv[] = {"SSUBSCRIBE", rs->channel};
        (void)redis_client_cmdv(a->sub, NULL, NULL, 2, argv);
    } else if (!created && hn != NULL) {
        room_sub_t *rs = container_of(hn, room_sub_t, node);
        hmap_del(&a->room_subs, hn);
        const char *argv[] = {"SUNSUBSCRIBE", rs->channel};
        (void)redis_client_cmdv(a->sub, NULL, NULL, 2, argv);
        flush_waiters(&rs->waiters, 0);
        free(rs);
    }
    free(ch);
}

void adapter_wait_room(adapter_t *a, sio_nsp_t *nsp, sioc_iov_t room, const char *socket_id,
                       adapter_join_cb cb, void *data)
{
    sioc_list_t *list = &a->ready_waiters;
    int now_ok = a->ready;
    if (a->sharded && room.len != 20) {
        char *ch = channel_name(a, ADAPTER_MSG_CH_ROOM, sio_nsp_name(nsp), room);
        hmap_node_t *hn = hmap_get(&a->room_subs, iov_make(ch, strlen(ch)));
        free(ch);
        if (hn != NULL) {
            room_sub_t *rs = container_of(hn, room_sub_t, node);
            list = &rs->waiters;
            now_ok = a->ready && rs->confirmed;
        }
    }
    if (now_ok) {
        cb(a->w, nsp, socket_id, 1, data);
        return;
    }
    waiter_t *wt = xcalloc(1, sizeof(*wt));
    wt->a = a;
    wt->nsp_index = sio_nsp_index(nsp);
    snprintf(wt->socket_id, sizeof(wt->socket_id), "%s", socket_id);
    wt->cb = cb;
    wt->data = data;
    wt->timer = event_new(net_loop_base(a->w->loop), -1, 0, on_waiter_timeout, wt);
    long ms = a->w->conf->requests_timeout;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(wt->timer, &tv);
    list_insert_tail(list, &wt->link);
}

/* ------------------------------------------------------------------ */

adapter_t *adapter_new(worker_t *w, char *err, size_t errlen)
{
    const worker_config_t *cf = w->conf;
    redis_url_t url;
    if (redis_url_parse(cf->redis_url, &url, err, errlen) != 0)
        return NULL;
    adapter_t *a = xcalloc(1, sizeof(*a));
    a->w = w;
    a->sharded = strcmp(cf->adapter_mode, "sharded") == 0;
    a->streams = strcmp(cf->adapter_mode, "streams") == 0;
    a->cluster = a->sharded || a->streams;
    a->key = iov_make(cf->redis_key, strlen(cf->redis_key));
    adapter_msg_ctx_init(&a->ctx, NULL);
    hmap_init(&a->room_subs);
    hmap_init(&a->requests);
    list_init(&a->ready_waiters);
    a->n_ns = sio_nsp_count(w);
    a->ns = xcalloc(a->n_ns, sizeof(*a->ns));
    for (size_t i = 0; i < a->n_ns; i++) {
        nsp_state_t *n = &a->ns[i];
        n->nsp = sio_nsp_at(w, i);
        sioc_iov_t name = sio_nsp_name(n->nsp);
        if (a->cluster) {
            uint8_t raw[8];
            rand_fill(raw, sizeof(raw));
            for (int k = 0; k < 8; k++)
                snprintf(n->uid + 2 * k, 3, "%02x", raw[k]);
        } else {
            rand_id(n->uid, 6);
        }
        sioc_iov_t uid = iov_make(n->uid, strlen(n->uid));
        n->ch_main = channel_name(a, ADAPTER_MSG_CH_MAIN, name, SIOC_IOV_NULL);
        if (a->cluster) {
            n->ch_response_uid = channel_name(a, ADAPTER_MSG_CH_ROOM, name, uid);
        } else {
            n->ch_pattern = channel_name(a, ADAPTER_MSG_CH_PATTERN, name, SIOC_IOV_NULL);
            n->ch_request = channel_name(a, ADAPTER_MSG_CH_REQUEST, name, SIOC_IOV_NULL);
            n->ch_response = channel_name(a, ADAPTER_MSG_CH_RESPONSE, name, SIOC_IOV_NULL);
            n->ch_response_uid = channel_name(a, ADAPTER_MSG_CH_RESPONSE_UID, name, uid);
        }
    }
    snprintf(a->health_ch, sizeof(a->health_ch), "sioc-health#%s", w->id);
    if (cf->advertise != NULL)
        snprintf(a->member, sizeof(a->member), "%s@%s", w->id, cf->advertise);
    else
        snprintf(a->member, sizeof(a->member), "%s@%s:%d", w->id, cf->host, cf->port);
    w->adapter = a;
    w->ready = 0;
    sio_set_room_hook(w, room_hook);
    redis_client_opts_t po = {0, "publisher", 1000, 3000, 0, 0, on_state, NULL, a};
    redis_client_opts_t so = {1, "subscriber", 1000, 3000, 0, 0, on_state, on_push, a};
    a->pub = redis_client_new(w->loop, &url, &po);
    a->sub = redis_client_new(w->loop, &url, &so);
    if (a->streams) {
        streams_start(a, &url);
        recovery_start(a);
    }
    event_assign(&a->tick, net_loop_base(w->loop), -1, EV_PERSIST, on_tick, a);
    struct timeval tv = {1, 0};
    event_add(&a->tick, &tv);
    return a;
}

void adapter_leave(adapter_t *a)
{
    const char *zrem[] = {"ZREM", MEMBERSHIP_KEY, a->member};
    (void)redis_client_cmdv(a->pub, NULL, NULL, 3, zrem);
}

int adapter_ready(const adapter_t *a)
{
    return a->ready;
}

void adapter_free(adapter_t *a)
{
    if (a == NULL)
        return;
    event_del(&a->tick);
    if (recovery_on(a)) { /* sockets that end from now on keep no session here */
        sio_recovery_store_t none = {0};
        sio_set_recovery_store(a->w, &none);
    }
    flush_waiters(&a->ready_waiters, 0);
    hmap_node_t *hn;
    for (hmap_iter_t it = hmap_iter(&a->requests); (hn = hmap_next(&it)) != NULL;)
        request_finish(container_of(hn, request_t, node), 0);
    for (hmap_iter_t it = hmap_iter(&a->room_subs); (hn = hmap_next(&it)) != NULL;) {
        room_sub_t *rs = container_of(hn, room_sub_t, node);
        hmap_del(&a->room_subs, hn);
        flush_waiters(&rs->waiters, 0);
        free(rs);
    }
    redis_client_free(a->pub);
    redis_client_free(a->sub);
    for (size_t k = 0; k < a->n_readers; k++)
        while (!list_empty(&a->readers[k].waiting))
            op_finish(container_of(a->readers[k].waiting.next, restore_op_t, link), 0);
    for (size_t k = 0; k < a->n_readers; k++) {
        redis_client_free(a->readers[k].link);
        free(a->readers[k].key);
    }
    free(a->readers);
    buf_free(&a->entry_scratch);
    buf_free(&a->entry_data);
    buf_free(&a->offset_json);
    for (size_t i = 0; i < a->n_ns; i++) {
        nsp_state_t *n = &a->ns[i];
        free(n->ch_main);
        free(n->ch_pattern);
        free(n->ch_request);
        free(n->ch_response);
        free(n->ch_response_uid);
    }
    free(a->ns);
    hmap_free(&a->room_subs);
    hmap_free(&a->requests);
    adapter_msg_ctx_free(&a->ctx);
    buf_free(&a->json);
    a->w->adapter = NULL;
    free(a);
}

void adapter_metrics(const adapter_t *a, sioc_buf_t *b)
{
    char line[2048];
    int n = snprintf(
        line, sizeof(line),
        "# HELP sioc_redis_link_up 1 while the Redis link is up\n# TYPE sioc_redis_link_up gauge\n"
        "sioc_redis_link_up{link=\"publisher\"} %d\nsioc_redis_link_up{link=\"subscriber\"} %d\n"
        "# HELP sioc_redis_subscribed 1 while every subscription is confirmed and live\n"
        "# TYPE sioc_redis_subscribed gauge\nsioc_redis_subscribed %d\n"
        "# HELP sioc_redis_rtt_seconds Round trip of the last liveness PING\n"
        "# TYPE sioc_redis_rtt_seconds gauge\nsioc_redis_rtt_seconds{link=\"publisher\"} %.6f\n"
        "sioc_redis_rtt_seconds{link=\"subscriber\"} %.6f\n"
        "# HELP sioc_redis_link_drops_total Times a Redis link went down\n"
        "# TYPE sioc_redis_link_drops_total counter\n"
        "sioc_redis_link_drops_total{link=\"publisher\"} %llu\n"
        "sioc_redis_link_drops_total{link=\"subscriber\"} %llu\n"
        "# HELP sioc_redis_published_total Messages published\n"
        "# TYPE sioc_redis_published_total counter\nsioc_redis_published_total %llu\n"
        "# HELP sioc_redis_publish_dropped_total Publishes dropped while Redis was unreachable\n"
        "# TYPE sioc_redis_publish_dropped_total counter\nsioc_redis_publish_dropped_total %llu\n"
        "# HELP sioc_redis_received_total Messages received from Redis\n"
        "# TYPE sioc_redis_received_total counter\nsioc_redis_received_total %llu\n"
        "# HELP sioc_redis_decode_errors_total Undecodable messages from Redis\n"
        "# TYPE sioc_redis_decode_errors_total counter\nsioc_redis_decode_errors_total %llu\n"
        "# HELP sioc_redis_requests_timed_out_total Cluster requests that timed out\n"
        "# TYPE sioc_redis_requests_timed_out_total counter\n"
        "sioc_redis_requests_timed_out_total %llu\n",
        redis_client_up(a->pub), redis_client_up(a->sub), a->ready,
        redis_client_rtt_us(a->pub) / 1e6, redis_client_rtt_us(a->sub) / 1e6,
        redis_client_drops(a->pub), redis_client_drops(a->sub), a->published, a->publish_dropped,
        a->received, a->decode_errors, a->requests_timed_out);
    if (n > 0)
        (void)!buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    if (a->n_readers > 0)
        (void)!buf_append_str(
            b, "# HELP sioc_redis_stream_entries_read_total Stream entries read, own included\n"
               "# TYPE sioc_redis_stream_entries_read_total counter\n"
               "# HELP sioc_redis_stream_added_total Entries this worker appended (XADD)\n"
               "# TYPE sioc_redis_stream_added_total counter\n");
    if (recovery_on(a)) {
        n = snprintf(line, sizeof(line),
                     "# HELP sioc_recovery_total Connection state recoveries by result\n"
                     "# TYPE sioc_recovery_total counter\n"
                     "sioc_recovery_total{result=\"recovered\"} %llu\n"
                     "sioc_recovery_total{result=\"expired\"} %llu\n"
                     "sioc_recovery_total{result=\"unknown_pid\"} %llu\n"
                     "sioc_recovery_total{result=\"offset_trimmed\"} %llu\n"
                     "# HELP sioc_recovery_replayed_total Missed packets sent by recoveries\n"
                     "# TYPE sioc_recovery_replayed_total counter\n"
                     "sioc_recovery_replayed_total %llu\n"
                     "# HELP sioc_recovery_sessions_written_total Sessions written to Redis\n"
                     "# TYPE sioc_recovery_sessions_written_total counter\n"
                     "sioc_recovery_sessions_written_total %llu\n",
                     a->rec_results[RECOVERY_RECOVERED], a->rec_results[RECOVERY_EXPIRED],
                     a->rec_results[RECOVERY_UNKNOWN_PID], a->rec_results[RECOVERY_OFFSET_TRIMMED],
                     a->rec_replayed, a->sessions_written);
        if (n > 0 && (size_t)n < sizeof(line))
            (void)!buf_append(b, line, (size_t)n);
    }
    for (size_t k = 0; k < a->n_readers; k++) {
        const stream_reader_t *sr = &a->readers[k];
        n = snprintf(line, sizeof(line),
                     "sioc_redis_stream_entries_read_total{stream=\"%s\"} %llu\n"
                     "sioc_redis_stream_added_total{stream=\"%s\"} %llu\n",
                     sr->key, sr->read, sr->key, sr->added);
        if (n > 0 && (size_t)n < sizeof(line))
            (void)!buf_append(b, line, (size_t)n);
    }
}
