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
#include "adapter_internal.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter_msg.h"
#include "adapter/adapter_streams.h"
#include "sio/sio_json.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/hmap.h"
#include "base/log.h"
#include "base/rand.h"
#include "net/redis_client.h"
#include "sio/jscan.h"

#define HEALTH_TIMEOUT_MS 3000
#define SUBSCRIBED_KEEP_MS 300000
#define SUBSCRIBED_TRIM_MS 60000 /* how often a worker trims the announcements older than that */
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

typedef struct request {
    hmap_node_t node;
    adapter_t *a;
    int kind;
    size_t nsp_index;
    int expected; /* answers from other workers; -1 until counted */
    int got;
    int partial;    /* an answer could not be decoded: the result is incomplete */
    sioc_buf_t acc; /* JSON array items, comma-separated */
    hmap_t seen;    /* REQ_ROOMS: dedup */
    adapter_query_cb cb;
    void *data;
    struct event *timer;
    sioc_buf_t body; /* the request to publish once counted */
    char channel[256];
    char id[24];
} request_t;

void adapter__update_ready(adapter_t *a);
static void send_health(adapter_t *a);

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

char *adapter__channel_name(adapter_t *a, int kind, sioc_iov_t nsp, sioc_iov_t extra)
{
    sioc_buf_t b = {0};
    if (adapter_msg_channel(&b, a->key, kind, nsp, extra) != 0 || buf_append_byte(&b, '\0') != 0)
        abort();
    return b.base;
}

static nsp_state_t *ns_by_channel(adapter_t *a, sioc_iov_t ch, int *which)
{
    for (size_t i = 0; i < a->n_ns; i++) {
        nsp_state_t *n = &a->ns[i];
        if (!n->live)
            continue;
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
        if (a->ns[i].live &&
            adapter_msg_channel_room(ch, a->key, sio_nsp_name(a->ns[i].nsp), &room) == 1) {
            *which = 5;
            return &a->ns[i];
        }
    }
    return NULL;
}

/* A publish that Redis did not confirm: its link dropped with it in flight, or an error
 * (a cluster slot without a primary). Other workers got it at most once: counted. */
void adapter__on_publish_reply(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    adapter_t *a = data;
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        a->publish_unconfirmed++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("redis publish unconfirmed (%s): other workers may have missed it",
                     r == NULL ? "the link dropped with it in flight" : r->str);
    }
}

/* `queued`: a broadcast or a socketsJoin / Leave / disconnectSockets, kept through an outage
 * (adapter_queue.c); requests and responses are not, they have their own timeout. */
static int publish_to(adapter_t *a, const char *channel, const char *msg, size_t len, int queued)
{
    const char *argv[] = {a->sharded ? "SPUBLISH" : "PUBLISH", channel, msg};
    size_t lens[] = {strlen(argv[0]), strlen(channel), len};
    int r = queued ? adapter__pub_cmd(a, adapter__on_publish_reply, a, 3, argv, lens)
                   : redis_client_cmd(a->pub, adapter__on_publish_reply, a, 3, argv, lens);
    if (r != 0) {
        a->publish_dropped++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("redis publish dropped (%s): link down; local delivery only",
                     sioc_strerror(r));
        return r;
    }
    if (redis_client_up(a->pub) && !a->queue_gate)
        a->published++; /* else queued, counted when sent */
    return 0;
}

static int publish(adapter_t *a, const char *channel, const char *msg, size_t len)
{
    return publish_to(a, channel, msg, len, 0);
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
    nsp_state_t *n = adapter__ns_of(a, nsp);
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
        (void)adapter__stream_add(a, n, &m, NULL, NULL);
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
            channel = room_ch =
                adapter__channel_name(a, ADAPTER_MSG_CH_ROOM, sio_nsp_name(nsp), rooms[0]);
    } else {
        adapter_msg_broadcast_t m = {uid, pk, opts};
        r = adapter_msg_broadcast_encode(&a->ctx, &m, 0, &out);
        if (n_rooms == 1)
            channel = room_ch =
                adapter__channel_name(a, ADAPTER_MSG_CH_ROOM, sio_nsp_name(nsp), rooms[0]);
    }
    if (r == 0)
        (void)publish_to(a, channel, out.base, out.len, 1);
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
    l->r |= sio_json_append_iov(l->b, room);
}

static int socket_json(sioc_buf_t *b, sio_socket_t *s)
{
    char issued[32];
    snprintf(issued, sizeof(issued), "%lld", clock_unix_ms());
    int r = buf_append_str(b, "{\"id\":");
    r |= sio_json_append_iov(b, iov_make(sio_socket_id(s), strlen(sio_socket_id(s))));
    r |= buf_append_str(b, ",\"handshake\":{\"headers\":{},\"time\":\"\",\"address\":");
    r |= sio_json_append_iov(b, iov_make(sio_socket_addr(s), strlen(sio_socket_addr(s))));
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
        c->r |= sio_json_append_iov(c->b, iov_make(sio_socket_id(s), strlen(sio_socket_id(s))));
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
                char *ch =
                    adapter__channel_name(a, ADAPTER_MSG_CH_ROOM, sio_nsp_name(n->nsp),
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
            char *ch =
                adapter__channel_name(a, ADAPTER_MSG_CH_ROOM, sio_nsp_name(n->nsp), requester_uid);
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

typedef struct {
    worker_t *w;
    adapter_command_cb cb;
    void *data;
} command_t;

static void on_command(redis_client_t *c, redisReply *reply, void *data)
{
    (void)c;
    command_t *k = data;
    k->cb(k->w, reply, k->data);
    free(k);
}

int adapter_command(adapter_t *a, adapter_command_cb cb, void *data, int argc, const char **argv)
{
    if (cb == NULL)
        return redis_client_cmdv(a->pub, NULL, NULL, argc, argv);
    command_t *k = xmalloc(sizeof(*k));
    k->w = a->w;
    k->cb = cb;
    k->data = data;
    int r = redis_client_cmdv(a->pub, on_command, k, argc, argv);
    if (r != 0)
        free(k);
    return r;
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
    if (sio_json_append_iov(&b, room) == 0)
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
    nsp_state_t *n = adapter__ns_of(a, nsp);
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
            (void)adapter__stream_add(a, n, &m, NULL, NULL);
        else if (adapter_msg_shard_encode(&a->ctx, &m, &out) == 0)
            (void)publish_to(a, n->ch_main, out.base, out.len, 1);
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
    nsp_state_t *n = adapter__ns_of(a, nsp);
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
            (void)adapter__stream_add(a, n, &m, NULL, NULL);
        else if (adapter_msg_shard_encode(&a->ctx, &m, &out) == 0)
            (void)publish_to(a, n->ch_main, out.base, out.len, 1);
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

void adapter__reset_scratch(adapter_t *a, adapter_msg_att_t *att)
{
    buf_reset(&a->json);
    att->v = a->att_v;
    att->cap = MAX_ATT;
    att->n = 0;
}

/* The flags of a received broadcast that change its delivery here: volatile (dropped for a
 * socket that is not writable) and compress: false. `local` is the sender's business (Node
 * does not publish a local broadcast; one received is delivered, as Node's onmessage does). */
static unsigned delivery_flags(const adapter_msg_flags_t *f)
{
    unsigned r = 0;
    if (f->present & f->value & ADAPTER_MSG_F_VOLATILE)
        r |= SIO_BROADCAST_VOLATILE;
    if ((f->present & ADAPTER_MSG_F_COMPRESS) && !(f->value & ADAPTER_MSG_F_COMPRESS))
        r |= SIO_BROADCAST_NO_COMPRESS;
    return r;
}

static void on_classic_broadcast(adapter_t *a, nsp_state_t *n, sioc_iov_t channel, const char *msg,
                                 size_t len)
{
    adapter_msg_att_t att;
    adapter__reset_scratch(a, &att);
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
    (void)sio_broadcast_flags(n->nsp, b.opts.rooms, b.opts.nrooms, b.opts.except, b.opts.nexcept,
                              b.packet.data.json, b.packet.data.att, b.packet.data.natt,
                              delivery_flags(&b.opts.flags));
}

static void on_classic_request(adapter_t *a, nsp_state_t *n, const char *msg, size_t len)
{
    adapter_msg_att_t att;
    adapter__reset_scratch(a, &att);
    adapter_msg_request_t q;
    if (adapter_msg_request_decode(&a->ctx, msg, len, &a->json, &att, &q) < 0) {
        a->decode_errors++;
        return;
    }
    int own = iov_eq_str(q.uid, n->uid);
    if (own && q.request_id.len > 0 && hmap_get(&a->requests, q.request_id) != NULL)
        return; /* our own query coming back (socketsJoin / Leave / disconnectSockets have no id) */
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
        r |= sio_json_append_iov(&body, q.request_id);
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
    adapter__reset_scratch(a, &att);
    adapter_msg_response_t r;
    int bad = adapter_msg_response_decode(&a->ctx, msg, len, &a->json, &att, &r) < 0;
    if (bad)
        a->decode_errors++;
    if (r.request_id.base == NULL)
        return;
    hmap_node_t *hn = hmap_get(&a->requests, r.request_id);
    if (hn == NULL)
        return;
    request_t *q = container_of(hn, request_t, node);
    /* An answer that cannot be decoded still answers: the result says it is
     * incomplete rather than waiting out the request timeout. */
    if (bad)
        q->partial = 1;
    else if (r.kind == ADAPTER_MSG_RESP_SOCKETS && q->kind == REQ_FETCH)
        acc_array(q, r.sockets.json);
    else if (r.kind == ADAPTER_MSG_RESP_ROOMS && q->kind == REQ_ROOMS) {
        for (size_t i = 0; i < r.nrooms; i++)
            collect_room(r.rooms[i], q);
    } else if (r.kind == ADAPTER_MSG_RESP_SERVER_EMIT && q->kind == REQ_SSE)
        acc_item(q, r.data.json.base != NULL ? r.data.json : SIOC_LIT("null"));
    else
        return;
    if (++q->got >= q->expected && q->expected >= 0)
        request_finish(q, !q->partial);
}

/* A ClusterAdapter message (sharded channel, streams Pub/Sub or stream entry). */
void adapter__on_cluster_message(adapter_t *a, nsp_state_t *n, sioc_iov_t channel,
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
        if (a->cur_offset.base != NULL && adapter__recovery_on(a) && m.packet.type == 2 &&
            !m.packet.has_id && !(m.opts.flags.present & ADAPTER_MSG_F_VOLATILE)) {
            buf_reset(&a->offset_json);
            if (adapter__with_offset(&a->offset_json, json, a->cur_offset) == 0)
                json = iov_make(a->offset_json.base, a->offset_json.len);
        }
        (void)sio_broadcast_flags(n->nsp, m.opts.rooms, m.opts.nrooms, m.opts.except,
                                  m.opts.nexcept, json, m.packet.data.att, m.packet.data.natt,
                                  delivery_flags(&m.opts.flags));
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
            char *ch = adapter__channel_name(a, ADAPTER_MSG_CH_ROOM, sio_nsp_name(n->nsp), uid);
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
    adapter__reset_scratch(a, &att);
    adapter_msg_shard_t m;
    if (adapter_msg_shard_decode(&a->ctx, msg, len, &a->json, &att, &m) < 0) {
        a->decode_errors++;
        return;
    }
    adapter__on_cluster_message(a, n, channel, m);
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

/* On a Redis Cluster, a worker whose subscriptions are all confirmed again after its
 * subscriber link came back says so in SUBSCRIBED_KEY: a peer's outage queue waits for it
 * (adapter_queue.c), since one primary's failover cuts only the channels on that primary. */
void adapter__announce_subscribed(adapter_t *a)
{
    if (!a->announce_pending || a->subs_confirmed < a->subs_expected ||
        a->room_subs_unconfirmed > 0 || !redis_client_up(a->pub))
        return;
    char ts[32];
    snprintf(ts, sizeof(ts), "%lld", clock_unix_ms());
    const char *zadd[] = {"ZADD", SUBSCRIBED_KEY, ts, a->member};
    if (redis_client_cmdv(a->pub, NULL, NULL, 4, zadd) == 0)
        a->announce_pending = 0;
}

static void room_sub_confirmed(adapter_t *a, sioc_iov_t channel)
{
    hmap_node_t *hn = hmap_get(&a->room_subs, channel);
    if (hn == NULL)
        return;
    room_sub_t *rs = container_of(hn, room_sub_t, node);
    if (!rs->confirmed && a->room_subs_unconfirmed > 0)
        a->room_subs_unconfirmed--;
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

/* The channels of a dynamic namespace: not counted for readiness; joins wait for them. */
static void subscribe_dynamic(adapter_t *a, nsp_state_t *n, int on)
{
    const char *chs[4];
    int k = 0;
    if (a->cluster) {
        chs[k++] = n->ch_main;
        chs[k++] = n->ch_response_uid;
    } else {
        chs[k++] = n->ch_pattern;
        chs[k++] = n->ch_request;
        chs[k++] = n->ch_response;
        chs[k++] = n->ch_response_uid;
    }
    n->dyn_pending = 0;
    for (int i = 0; i < k; i++) {
        const char *cmd = a->sharded              ? (on ? "SSUBSCRIBE" : "SUNSUBSCRIBE")
                          : !a->cluster && i == 0 ? (on ? "PSUBSCRIBE" : "PUNSUBSCRIBE")
                                                  : (on ? "SUBSCRIBE" : "UNSUBSCRIBE");
        const char *argv[] = {cmd, chs[i]};
        if (redis_client_cmdv(a->sub, NULL, NULL, 2, argv) == 0 && on)
            n->dyn_pending++;
    }
}

static void subscribe_all(adapter_t *a)
{
    a->subs_expected = 0;
    a->subs_confirmed = 0;
    a->announce_pending = redis_client_is_cluster(a->sub);
    a->room_subs_unconfirmed = a->room_subs.count;
    subscribe(a, "SUBSCRIBE", a->health_ch);
    for (size_t i = 0; i < a->n_ns; i++) {
        nsp_state_t *n = &a->ns[i];
        if (!n->live)
            continue;
        if (sio_nsp_is_dynamic(n->nsp)) {
            subscribe_dynamic(a, n, 1);
            continue;
        }
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
        int which = -1;
        nsp_state_t *dn = ns_by_channel(a, channel, &which);
        if (strcasecmp(kind, "ssubscribe") == 0 && hmap_get(&a->room_subs, channel) != NULL)
            room_sub_confirmed(a, channel);
        else if (dn != NULL && which < 5 && sio_nsp_is_dynamic(dn->nsp)) {
            if (dn->dyn_pending > 0 && --dn->dyn_pending == 0)
                flush_waiters(&dn->dyn_waiters, 1);
        } else if (a->subs_confirmed < a->subs_expected && ++a->subs_confirmed == a->subs_expected)
            send_health(a); /* every subscription confirmed: prove the path end to end now */
        adapter__announce_subscribed(a);
        adapter__update_ready(a);
        return;
    }
    if (msg->type != REDIS_REPLY_STRING)
        return;
    if (iov_eq_str(channel, a->health_ch)) {
        a->last_health_ms = clock_ms();
        adapter__update_ready(a);
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

void adapter__update_ready(adapter_t *a)
{
    int ready = redis_client_up(a->pub) && redis_client_up(a->sub) && adapter__streams_ready(a) &&
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

/* The mirror of the streams mode's check: streams nodes (sioc or Node) SUBSCRIBE to
 * <key>#/#, which a classic node only matches with its pattern. */
static void on_streams_check(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    adapter_t *a = data;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
        r->element[1]->type == REDIS_REPLY_INTEGER && r->element[1]->integer > 0) {
        log_error("--adapter-mode classic: a streams-mode adapter (sioc or Node "
                  "@socket.io/redis-streams-adapter) uses the key prefix \"%.*s\" on this Redis; "
                  "the two modes cannot share a prefix (set another --redis-key): exiting",
                  (int)a->key.len, a->key.base);
        exit(2);
    }
}

void adapter__links_kick(adapter_t *a)
{
    redis_client_retry_now(a->pub);
    redis_client_retry_now(a->sub);
    for (size_t k = 0; k < a->n_readers; k++)
        redis_client_retry_now(a->readers[k].link);
}

static void write_membership(adapter_t *a);

static void on_state(redis_client_t *c, int up, void *data)
{
    adapter_t *a = data;
    if (up) /* Redis answers again: the other links need not wait for their backoff */
        adapter__links_kick(a);
    if (c == a->sub && up)
        subscribe_all(a);
    if (c == a->pub)
        adapter__queue_link(a, up);
    if (c == a->pub && up) {
        write_membership(a);    /* at once: the proxy and the peers' outage queues count it */
        adapter__queue_tick(a); /* count the other servers now, not a second later */
    }
    if (c == a->pub && up && a->streams)
        adapter__streams_pub_up(a);
    if (c == a->pub && up && !a->cluster) {
        char *ch = adapter__channel_name(a, ADAPTER_MSG_CH_MAIN, SIOC_LIT("/"), SIOC_IOV_NULL);
        const char *argv[] = {"PUBSUB", "NUMSUB", ch};
        (void)redis_client_cmdv(a->pub, on_streams_check, a, 3, argv);
        free(ch);
    }
    if (up && redis_client_up(a->pub) && redis_client_up(a->sub) &&
        a->subs_confirmed >= a->subs_expected)
        send_health(a);
    adapter__update_ready(a);
}

static void send_health(adapter_t *a)
{
    char ts[32];
    snprintf(ts, sizeof(ts), "%lld", clock_unix_ms());
    if (publish_plain(a, a->health_ch, ts, strlen(ts)) == 0)
        a->health_sent_ms = clock_ms();
}

/* The membership the proxy discovers workers by, and the outage queue counts them by. */
static void write_membership(adapter_t *a)
{
    char ts[32];
    snprintf(ts, sizeof(ts), "%lld", clock_unix_ms());
    const char *zadd[] = {"ZADD", MEMBERSHIP_KEY, ts, a->member};
    if (!a->w->draining)
        (void)redis_client_cmdv(a->pub, NULL, NULL, 4, zadd);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    adapter_t *a = arg;
    long long now = clock_ms();
    if (a->streams)
        adapter__streams_tick(a);
    adapter__queue_tick(a);
    if (redis_client_up(a->pub)) {
        write_membership(a);
        if (redis_client_is_cluster(a->pub)) {
            if (now - a->subscribed_trim_ms >= SUBSCRIBED_TRIM_MS) {
                char old[32];
                snprintf(old, sizeof(old), "%lld", clock_unix_ms() - SUBSCRIBED_KEEP_MS);
                const char *trim[] = {"ZREMRANGEBYSCORE", SUBSCRIBED_KEY, "-inf", old};
                (void)redis_client_cmdv(a->pub, NULL, NULL, 4, trim);
                a->subscribed_trim_ms = now;
            }
            adapter__announce_subscribed(a);
        }
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
    adapter__update_ready(a);
}

/* ------------------------------------------------------------------ */
/* Room subscriptions (sharded)                                         */

static void room_hook(worker_t *w, sio_nsp_t *nsp, sioc_iov_t room, int created)
{
    adapter_t *a = w->adapter;
    if (a == NULL || !a->sharded || room.len == 20)
        return;
    char *ch = adapter__channel_name(a, ADAPTER_MSG_CH_ROOM, sio_nsp_name(nsp), room);
    sioc_iov_t key = iov_make(ch, strlen(ch));
    hmap_node_t *hn = hmap_get(&a->room_subs, key);
    if (created && hn == NULL) {
        room_sub_t *rs = xcalloc(1, sizeof(*rs) + key.len + 1);
        memcpy(rs->channel, ch, key.len + 1);
        rs->node.key = iov_make(rs->channel, key.len);
        list_init(&rs->waiters);
        hmap_put(&a->room_subs, &rs->node);
        if (a->announce_pending)
            a->room_subs_unconfirmed++;
        const char *argv[] = {"SSUBSCRIBE", rs->channel};
        (void)redis_client_cmdv(a->sub, NULL, NULL, 2, argv);
    } else if (!created && hn != NULL) {
        room_sub_t *rs = container_of(hn, room_sub_t, node);
        if (!rs->confirmed && a->room_subs_unconfirmed > 0)
            a->room_subs_unconfirmed--;
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
    nsp_state_t *dn = adapter__ns_of(a, nsp);
    if (dn->live && dn->dyn_pending > 0) {
        list = &dn->dyn_waiters;
        now_ok = 0;
    }
    if (a->sharded && room.len != 20) {
        char *ch = adapter__channel_name(a, ADAPTER_MSG_CH_ROOM, sio_nsp_name(nsp), room);
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

/* The channel names and uid of slot `n` for its namespace (replacing a previous one's). */
static void ns_init(adapter_t *a, nsp_state_t *n)
{
    free(n->ch_main);
    free(n->ch_pattern);
    free(n->ch_request);
    free(n->ch_response);
    free(n->ch_response_uid);
    n->ch_pattern = n->ch_request = n->ch_response = NULL;
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
    n->ch_main = adapter__channel_name(a, ADAPTER_MSG_CH_MAIN, name, SIOC_IOV_NULL);
    if (a->cluster) {
        n->ch_response_uid = adapter__channel_name(a, ADAPTER_MSG_CH_ROOM, name, uid);
    } else {
        n->ch_pattern = adapter__channel_name(a, ADAPTER_MSG_CH_PATTERN, name, SIOC_IOV_NULL);
        n->ch_request = adapter__channel_name(a, ADAPTER_MSG_CH_REQUEST, name, SIOC_IOV_NULL);
        n->ch_response = adapter__channel_name(a, ADAPTER_MSG_CH_RESPONSE, name, SIOC_IOV_NULL);
        n->ch_response_uid = adapter__channel_name(a, ADAPTER_MSG_CH_RESPONSE_UID, name, uid);
    }
}

/* A dynamic namespace came (subscribe its channels) or went (unsubscribe). The slot keeps
 * its names until reused, so requests still pending for it stay memory-safe. */
static int nsp_hook(worker_t *w, sio_nsp_t *nsp, int created)
{
    adapter_t *a = w->adapter;
    if (a == NULL)
        return 0;
    nsp_state_t *n = adapter__ns_of(a, nsp);
    if (created) {
        n->nsp = nsp;
        if (a->streams && adapter__streams_attach(a, n) != 0) {
            static long long last;
            if (log_ratelimited(&last))
                log_warn("namespace %.*s refused: no reader for its stream (set "
                         "--redis-stream-count 1 or configure a namespace of that stream)",
                         (int)sio_nsp_name(nsp).len, sio_nsp_name(nsp).base);
            return -1;
        }
        ns_init(a, n);
        n->live = 1;
        if (redis_client_up(a->sub))
            subscribe_dynamic(a, n, 1);
        return 0;
    }
    n->live = 0;
    if (redis_client_up(a->sub))
        subscribe_dynamic(a, n, 0);
    n->dyn_pending = 0;
    flush_waiters(&n->dyn_waiters, 0);
    return 0;
}

adapter_t *adapter_new(worker_t *w, char *err, size_t errlen)
{
    const worker_config_t *cf = w->conf;
    redis_url_t url;
    if (redis_url_parse(cf->redis_url, &url, err, errlen) != 0 ||
        redis_url_set_tls_files(&url, cf->redis_tls_ca, cf->redis_tls_cert, cf->redis_tls_key, err,
                                errlen) != 0 ||
        redis_url_set_sentinel_auth(&url, cf->redis_sentinel_user, cf->redis_sentinel_password, err,
                                    errlen) != 0 ||
        redis_client_check(&url, err, errlen) != 0)
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
    adapter__queue_init(a);
    a->n_ns = sio_nsp_count(w);
    a->ns = xcalloc(a->n_ns, sizeof(*a->ns));
    for (size_t i = 0; i < a->n_ns; i++) {
        nsp_state_t *n = &a->ns[i];
        list_init(&n->dyn_waiters);
        n->nsp = sio_nsp_at(w, i);
        if (n->nsp == NULL)
            continue; /* a dynamic slot: set up when a namespace takes it (nsp_hook) */
        n->live = 1;
        ns_init(a, n);
    }
    snprintf(a->health_ch, sizeof(a->health_ch), "sioc-health#%s", w->id);
    int mlen;
    if (cf->advertise != NULL)
        mlen = snprintf(a->member, sizeof(a->member), "%s@%s", w->id, cf->advertise);
    else
        mlen = snprintf(a->member, sizeof(a->member), "%s@%s:%d", w->id, cf->host, cf->port);
    if (cf->handoff_path != NULL && mlen > 0 && (size_t)mlen < sizeof(a->member))
        snprintf(a->member + mlen, sizeof(a->member) - (size_t)mlen, "@%s", cf->handoff_path);
    w->adapter = a;
    w->ready = 0;
    sio_set_room_hook(w, room_hook);
    sio_set_nsp_hook(w, nsp_hook);
    redis_client_opts_t po = {0, "publisher", 1000, 3000, 0, 0, on_state, NULL, a};
    redis_client_opts_t so = {1, "subscriber", 1000, 3000, 0, 0, on_state, on_push, a};
    a->pub = redis_client_new(w->loop, &url, &po);
    a->sub = redis_client_new(w->loop, &url, &so);
    if (a->streams)
        adapter__streams_start(a, &url);
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

void adapter_not_ready_reason(const adapter_t *a, char *out, size_t cap)
{
    const redis_client_t *links[] = {a->pub, a->sub};
    const char *names[] = {"publisher", "subscriber"};
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < 2 && n < cap; i++) {
        if (redis_client_up(links[i]))
            continue;
        char d[800];
        redis_client_describe(links[i], d, sizeof(d));
        int w = snprintf(out + n, cap - n, "redis %s: %s\n", names[i], d);
        n += w > 0 ? (size_t)w : 0;
    }
    if (n == 0)
        snprintf(out, cap, "redis: subscriptions not confirmed yet\n");
}

void adapter_free(adapter_t *a)
{
    if (a == NULL)
        return;
    event_del(&a->tick);
    if (a->streams)
        adapter__streams_stop(a);
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
    adapter__queue_free(a);
    redis_client_free(a->pub);
    redis_client_free(a->sub);
    if (a->streams)
        adapter__streams_free(a);
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
    char line[4096];
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
        "# HELP sioc_redis_publish_unconfirmed_total Publishes sent that Redis did not confirm "
        "(the "
        "link dropped with them in flight, or an error): delivered to other workers at most once\n"
        "# TYPE sioc_redis_publish_unconfirmed_total counter\n"
        "sioc_redis_publish_unconfirmed_total %llu\n"
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
        a->publish_unconfirmed, a->received, a->decode_errors, a->requests_timed_out);
    if (n > 0)
        (void)!buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    adapter__queue_metrics(a, b);
    if (a->streams)
        adapter__streams_metrics(a, b);
}
