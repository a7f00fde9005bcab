/*
 * adapter_streams.c - the streams mode of the adapter (adapter.h), as
 * @socket.io/redis-streams-adapter 0.3 (PROTOCOL.md §8): XADD of broadcasts,
 * joins, leaves and disconnects; one XREAD BLOCK chain per stream on its own
 * link, started after the last entry (by id) and resumed from the last entry
 * read after a reconnect; and connection state recovery across the cluster
 * (PROTOCOL.md §3) through the stream and sio:session:<pid> keys. Requests
 * and responses on Pub/Sub stay in adapter.c (the sharded code path).
 * Loop thread only.
 */
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "adapter/adapter_streams.h"
#include "adapter_internal.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "recovery.h"
#include "sio/sio_json.h"

/* XREAD BLOCK of a stream reader: short enough that the liveness PING queued behind it is
 * answered well within the liveness timeout (Node blocks 5 s; not on the wire). */
#define STREAM_BLOCK_MS "1000"
#define STREAM_READ_COUNT "100"

/* ------------------------------------------------------------------ */
/* XADD and the readers                                                 */

/* Appends message `m` to the stream of its namespace: `XADD <key> MAXLEN ~ N * uid nsp type
 * [data]`, as the Node adapter writes it. */
int adapter__stream_add(adapter_t *a, nsp_state_t *n, const adapter_msg_shard_t *m,
                        redis_reply_cb cb, void *data)
{
    stream_reader_t *sr = n->stream;
    char type[8], maxlen[24];
    if (cb == NULL) { /* an XADD in flight when its link drops is counted, not lost silently */
        cb = adapter__on_publish_reply;
        data = a;
    }
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
    int queued = !redis_client_up(a->pub) || a->queue_gate;
    int r = adapter__pub_cmd(a, cb, data, has == 0 ? 14 : 12, argv, lens);
    if (r != 0) {
        a->publish_dropped++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("redis XADD dropped (%s): link down; local delivery only", sioc_strerror(r));
        return r;
    }
    if (!queued)
        a->published++; /* else counted when the queue is sent */
    sr->added++;
    return 0;
}

static nsp_state_t *ns_by_name(adapter_t *a, sioc_iov_t name)
{
    for (size_t i = 0; i < a->n_ns; i++)
        if (a->ns[i].live && iov_eq(sio_nsp_name(a->ns[i].nsp), name))
            return &a->ns[i];
    return NULL;
}

static sioc_iov_t reply_iov(const redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? iov_make(r->str, r->len) : SIOC_IOV_NULL;
}

/* The fields of a stream entry the adapter reads (absent ones stay empty). */
typedef struct {
    sioc_iov_t uid, nsp, type, data;
} entry_fields_t;

static entry_fields_t entry_fields(const redisReply *f)
{
    entry_fields_t e = {SIOC_IOV_NULL, SIOC_IOV_NULL, SIOC_IOV_NULL, SIOC_IOV_NULL};
    for (size_t i = 0; f->type == REDIS_REPLY_ARRAY && i + 1 < f->elements; i += 2) {
        sioc_iov_t k = reply_iov(f->element[i]), v = reply_iov(f->element[i + 1]);
        if (iov_eq_str(k, "uid"))
            e.uid = v;
        else if (iov_eq_str(k, "nsp"))
            e.nsp = v;
        else if (iov_eq_str(k, "type"))
            e.type = v;
        else if (iov_eq_str(k, "data"))
            e.data = v;
    }
    return e;
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
    sr->lag_ms = clock_unix_ms() - strtoll(sr->last_id, NULL, 10);
    const redisReply *f = e->element[1];
    if (f->type != REDIS_REPLY_ARRAY)
        return;
    entry_fields_t ef = entry_fields(f);
    sioc_iov_t uid = ef.uid, nsp = ef.nsp, type = ef.type, data = ef.data;
    if (nsp.base == NULL)
        return;
    nsp_state_t *n = ns_by_name(a, nsp);
    if (n == NULL || iov_eq_str(uid, n->uid))
        return;
    a->received++;
    adapter_msg_att_t att;
    adapter__reset_scratch(a, &att);
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
    adapter__on_cluster_message(a, n, iov_make(n->ch_main, strlen(n->ch_main)), m);
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
    if (up)
        adapter__links_kick(sr->a);
    if (up && sr->last_id[0] == '\0') {
        const char *argv[] = {"XREVRANGE", sr->key, "+", "-", "COUNT", "1"};
        (void)redis_client_cmdv(sr->link, on_reader_start, sr, 6, argv);
    } else if (up) {
        reader_issue(sr);
    }
    adapter__update_ready(sr->a);
}

int adapter__streams_ready(const adapter_t *a)
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
        if (!n->live)
            continue;
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
/* Connection state recovery across the cluster                         */
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

int adapter__recovery_on(const adapter_t *a)
{
    return a->streams && a->w->conf->max_disconnection_duration > 0;
}

/* Appends `json` (a JSON array) with the string `offset` as its last element. */
int adapter__with_offset(sioc_buf_t *b, sioc_iov_t json, sioc_iov_t offset)
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
    r = r ? r : sio_json_append_iov(b, offset);
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
    stream_reader_t *sr = a->ns[pe->nsp_index].stream;
    if (r != NULL && r->type == REDIS_REPLY_STRING && r->len < sizeof(sr->own_last) &&
        adapter__with_offset(&b, json, iov_make(r->str, r->len)) == 0) {
        json = iov_make(b.base, b.len);
        /* Delivered here now, skipped by the reader: a restore must replay it (op_catch_up). */
        if (sr != NULL && id_cmp(r->str, sr->own_last) > 0)
            memcpy(sr->own_last, r->str, r->len + 1);
    }
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

    nsp_state_t *ns = adapter__ns_of(a, nsp);
    adapter_msg_shard_t m;
    memset(&m, 0, sizeof(m));
    m.type = ADAPTER_MSG_SHARD_BROADCAST;
    m.uid = iov_make(ns->uid, strlen(ns->uid));
    m.nsp = sio_nsp_name(nsp);
    m.packet =
        (adapter_msg_packet_t){2, sio_nsp_name(nsp), 0, 0, {pe->json, att, n_att, n_att > 0}};
    m.opts = (adapter_msg_opts_t){rooms, n_rooms, except, n_except, {0, 0, 0}};
    /* While the publisher link is down the XADD waits in the outage queue and the local
     * delivery with it, so the offset comes in order (Node's client queues it offline the
     * same way). Not logged at all (queue off or full): delivered at once without an offset. */
    if (adapter__stream_add(a, ns, &m, on_emit_logged, pe) != 0)
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
    if (pid == NULL)
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
        if (adapter__pub_cmd(a, NULL, NULL, 5, argv, lens) == 0)
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
    (void)adapter__pub_cmd(a, NULL, NULL, 2, argv, NULL);
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
    if (!adapter__recovery_on(a) || now < a->refresh_due_ms || !redis_client_up(a->pub))
        return;
    a->refresh_due_ms = now + (every < 1000 ? 1000 : every);
    for (size_t i = 0; i < a->n_ns; i++)
        if (a->ns[i].live)
            sio_each(a->ns[i].nsp, NULL, 0, NULL, 0, refresh_each, a);
}

typedef struct restore_op {
    sioc_list_t link; /* in reader->waiting */
    adapter_t *a;
    stream_reader_t *sr;
    size_t nsp_index;
    sio_restore_t *r; /* a CONNECT's restore; NULL for a replay (sio_store_replay) */
    sio_replay_cb replay_packet;
    void (*replay_done)(int result, void *data);
    void *replay_data;
    int pending; /* replies awaited before the next step */
    int offset_found, result, pages;
    char *session; /* the stored value, until decoded */
    size_t session_len;
    sioc_iov_t *rooms; /* the session's rooms (copies in `room_bytes`) */
    size_t n_rooms;
    sioc_buf_t room_bytes;
    char sid[24];
    char last[48];      /* the last entry read */
    char own_done[48];  /* the last of our own entries replayed */
    char own_until[48]; /* the end of the read of our own entries in flight */
    int own_reads;      /* reads of our own entries made (bounded: they chase a moving end) */
    long long wait_since_ms;
} restore_op_t;

static void op_finish(restore_op_t *op, int recovered)
{
    adapter_t *a = op->a;
    int res = recovered ? RECOVERY_RECOVERED : op->result;
    if (op->r == NULL) {
        op->replay_done(res, op->replay_data);
    } else {
        a->rec_results[res]++;
        if (recovered)
            for (size_t i = 0; i < op->n_rooms; i++)
                sio_restore_room(op->r, op->rooms[i]);
        sio_restore_done(op->r, recovered, iov_make(op->sid, strlen(op->sid)));
    }
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

static void op_replay(restore_op_t *op, const redisReply *e, int own_only)
{
    adapter_t *a = op->a;
    nsp_state_t *n = &a->ns[op->nsp_index];
    sioc_iov_t id = reply_iov(e->element[0]);
    const redisReply *f = e->element[1];
    entry_fields_t ef = entry_fields(f);
    sioc_iov_t uid = ef.uid, nsp = ef.nsp, type = ef.type, data = ef.data;
    if (!iov_eq(nsp, sio_nsp_name(n->nsp)) || !iov_eq_str(type, "3"))
        return;
    if (iov_eq_str(uid, n->uid)) { /* ours: each once, whichever read finds it */
        if (id.len >= sizeof(op->own_done) || id_cmp(id.base, op->own_done) <= 0)
            return;
        memcpy(op->own_done, id.base, id.len);
        op->own_done[id.len] = '\0';
    } else if (own_only) {
        return;
    }
    adapter_msg_att_t att;
    adapter__reset_scratch(a, &att);
    adapter_msg_shard_t m;
    if (adapter_streams_decode(&a->ctx, type, uid, nsp, data, &a->entry_scratch, &a->json, &att,
                               &m) < 0 ||
        m.request_id.len > 0 || m.packet.type != 2 || !included(op, &m.opts))
        return;
    buf_reset(&a->offset_json);
    if (adapter__with_offset(&a->offset_json, m.packet.data.json, id) != 0)
        return;
    sioc_iov_t json = iov_make(a->offset_json.base, a->offset_json.len);
    if (op->r == NULL)
        op->replay_packet(json, m.packet.data.att, m.packet.data.natt, op->replay_data);
    else
        sio_restore_packet(op->r, json, m.packet.data.att, m.packet.data.natt);
    a->rec_replayed++;
}

static void op_read(restore_op_t *op, const char *until);
static void op_read_own(restore_op_t *op);

/* Reads of our own entries a restore makes at most before it ends: each one takes what was
 * delivered here up to its start, while this worker may go on publishing. */
#define RESTORE_OWN_READS 3

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
    /* Our own entries are delivered here at their XADD reply and skipped by the reader: those
     * delivered while this restore waited, past where it read, are replayed now, or the
     * socket would get them neither way. */
    const char *done = id_cmp(op->own_done, op->last) > 0 ? op->own_done : op->last;
    if (id_cmp(op->sr->own_last, done) > 0 && op->own_reads < RESTORE_OWN_READS) {
        op->own_reads++;
        op_read_own(op);
        return;
    }
    op_finish(op, 1);
}

static void on_restore_own(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    restore_op_t *op = data;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        op_finish(op, 1); /* what was read stands */
        return;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_ARRAY && e->elements >= 2 &&
            e->element[0]->type == REDIS_REPLY_STRING)
            op_replay(op, e, 1);
    }
    /* Nothing up to the end of the range is read again, whatever it held. */
    if (id_cmp(op->own_until, op->own_done) > 0)
        memcpy(op->own_done, op->own_until, sizeof(op->own_done));
    op_catch_up(op);
}

/* XRANGE <stream> <past what was read> <our newest delivered entry>: our own entries only. */
static void op_read_own(restore_op_t *op)
{
    const char *done = id_cmp(op->own_done, op->last) > 0 ? op->own_done : op->last;
    char start[48];
    memcpy(op->own_until, op->sr->own_last, sizeof(op->own_until));
    if (adapter_streams_next_id(iov_make(done, strlen(done)), start, sizeof(start)) < 0) {
        op_finish(op, 1);
        return;
    }
    const char *argv[] = {"XRANGE", op->sr->key, start, op->own_until};
    if (redis_client_cmdv(op->a->pub, on_restore_own, op, 4, argv) != 0)
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
        op_replay(op, e, 0);
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
    op->sr = adapter__ns_of(a, nsp)->stream;
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

static void on_replay_offset(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    restore_op_t *op = data;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0)
        op_read(op, "+");
    else
        op_finish(op, 0);
}

/* A replay without a session (a Server-Sent Events stream resuming from Last-Event-ID):
 * the rooms come from the caller; the rest is a restore's read and catch-up. */
static void store_replay(void *ctx, sio_nsp_t *nsp, sioc_iov_t offset, const sioc_iov_t *rooms,
                         size_t n_rooms, sio_replay_cb packet, void (*done)(int, void *),
                         void *data)
{
    adapter_t *a = ctx;
    restore_op_t *op = xcalloc(1, sizeof(*op));
    op->a = a;
    op->sr = adapter__ns_of(a, nsp)->stream;
    op->nsp_index = sio_nsp_index(nsp);
    op->replay_packet = packet;
    op->replay_done = done;
    op->replay_data = data;
    op->result = RECOVERY_OFFSET_TRIMMED;
    list_init(&op->link);
    size_t bytes = 0;
    for (size_t i = 0; i < n_rooms; i++)
        bytes += rooms[i].len;
    op->rooms = xmalloc((n_rooms + 1) * sizeof(*op->rooms));
    if (buf_reserve(&op->room_bytes, bytes + 1) != 0)
        abort();
    for (size_t i = 0; i < n_rooms; i++) {
        op->rooms[i] = iov_make(op->room_bytes.base + op->room_bytes.len, rooms[i].len);
        (void)!buf_append(&op->room_bytes, rooms[i].base, rooms[i].len);
    }
    op->n_rooms = n_rooms;
    char next[48];
    if (offset.len >= sizeof(op->last) || adapter_streams_next_id(offset, next, sizeof(next)) < 0) {
        op_finish(op, 0);
        return;
    }
    memcpy(op->last, offset.base, offset.len);
    op->last[offset.len] = '\0';
    const char *xr[] = {"XRANGE", op->sr->key, op->last, op->last};
    if (redis_client_cmdv(a->pub, on_replay_offset, op, 4, xr) != 0)
        op_finish(op, 0);
}

static void recovery_start(adapter_t *a)
{
    if (!adapter__recovery_on(a))
        return;
    sio_recovery_store_t st = {store_restore, store_save, store_drop, store_emit, a, store_replay};
    sio_set_recovery_store(a->w, &st);
}

void adapter__streams_start(adapter_t *a, const redis_url_t *url)
{
    streams_start(a, url);
    recovery_start(a);
}

void adapter__streams_stop(adapter_t *a)
{
    if (adapter__recovery_on(a)) { /* sockets that end from now on keep no session here */
        sio_recovery_store_t none = {0};
        sio_set_recovery_store(a->w, &none);
    }
}

void adapter__streams_free(adapter_t *a)
{
    for (size_t k = 0; k < a->n_readers; k++)
        while (!list_empty(&a->readers[k].waiting))
            op_finish(container_of(a->readers[k].waiting.next, restore_op_t, link), 0);
    for (size_t k = 0; k < a->n_readers; k++) {
        redis_client_free(a->readers[k].link);
        free(a->readers[k].key);
    }
    free(a->readers);
    a->readers = NULL;
    a->n_readers = 0;
    buf_free(&a->entry_scratch);
    buf_free(&a->entry_data);
    buf_free(&a->offset_json);
}

int adapter__streams_attach(adapter_t *a, nsp_state_t *n)
{
    sioc_iov_t name = iov_make(a->w->conf->redis_stream, strlen(a->w->conf->redis_stream));
    sioc_buf_t key = {0};
    if (adapter_streams_key(&key, name, a->w->conf->redis_stream_count, sio_nsp_name(n->nsp)) !=
            0 ||
        buf_append_byte(&key, '\0') != 0)
        abort();
    n->stream = NULL;
    for (size_t k = 0; k < a->n_readers && n->stream == NULL; k++)
        if (strcmp(a->readers[k].key, key.base) == 0)
            n->stream = &a->readers[k];
    buf_free(&key);
    return n->stream != NULL ? 0 : -1;
}

void adapter__streams_tick(adapter_t *a)
{
    sessions_refresh(a);
    restores_expire(a);
}

static void rewrite_each(sio_socket_t *s, void *data)
{
    store_save(data, s);
}

void adapter__streams_pub_up(adapter_t *a)
{
    /* Back after an outage: Redis may have restarted empty, and a TTL refresh does not
     * bring back a key that is gone, so the sessions of connected sockets are written again. */
    if (adapter__recovery_on(a) && redis_client_drops(a->pub) > 0)
        for (size_t i = 0; i < a->n_ns; i++)
            sio_each(a->ns[i].nsp, NULL, 0, NULL, 0, rewrite_each, a);
    char *ch = adapter__channel_name(a, ADAPTER_MSG_CH_REQUEST, SIOC_LIT("/"), SIOC_IOV_NULL);
    const char *argv[] = {"PUBSUB", "NUMSUB", ch};
    (void)redis_client_cmdv(a->pub, on_classic_check, a, 3, argv);
    free(ch);
}

/* One metric family per stream reader field: every sample of a family follows its TYPE. */
static void reader_family(const adapter_t *a, sioc_buf_t *b, const char *name, const char *type,
                          const char *help, int field)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
    if (n > 0 && (size_t)n < sizeof(line))
        (void)!buf_append(b, line, (size_t)n);
    for (size_t k = 0; k < a->n_readers; k++) {
        const stream_reader_t *sr = &a->readers[k];
        if (field == 0)
            n = snprintf(line, sizeof(line), "%s{stream=\"%s\"} %llu\n", name, sr->key, sr->read);
        else if (field == 1)
            n = snprintf(line, sizeof(line), "%s{stream=\"%s\"} %llu\n", name, sr->key, sr->added);
        else
            n = snprintf(line, sizeof(line), "%s{stream=\"%s\"} %.3f\n", name, sr->key,
                         sr->lag_ms / 1e3);
        if (n > 0 && (size_t)n < sizeof(line))
            (void)!buf_append(b, line, (size_t)n);
    }
}

void adapter__streams_metrics(const adapter_t *a, sioc_buf_t *b)
{
    reader_family(a, b, "sioc_redis_stream_entries_read_total", "counter",
                  "Stream entries read, own included", 0);
    reader_family(a, b, "sioc_redis_stream_added_total", "counter",
                  "Entries this worker appended (XADD)", 1);
    reader_family(a, b, "sioc_redis_stream_lag_seconds", "gauge",
                  "Age of the last stream entry when the reader got it", 2);
    if (!adapter__recovery_on(a))
        return;
    /* A session expired in Redis is gone: it counts as unknown_pid here. */
    recovery_metrics(b, a->rec_results, a->rec_replayed);
    char line[256];
    int n = snprintf(line, sizeof(line),
                     "# HELP sioc_recovery_sessions_written_total Sessions written to Redis\n"
                     "# TYPE sioc_recovery_sessions_written_total counter\n"
                     "sioc_recovery_sessions_written_total %llu\n",
                     a->sessions_written);
    if (n > 0 && (size_t)n < sizeof(line))
        (void)!buf_append(b, line, (size_t)n);
}
