/*
 * broadcast.c - the adapter seam (broadcast.h): local delivery always, and
 * the Redis adapter when one is configured.
 */
#include "broadcast.h"

#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "sio/jscan.h"

/* A list answer (rooms or sockets, from the whole cluster) keeps this many entries at
 * most; a longer one is cut and says "complete": false. */
#define MAX_LIST_ENTRIES 1000

typedef struct {
    int has_ack;
    unsigned long long ack_id;
} join_ack_t;

static void join_done(worker_t *w, sio_nsp_t *nsp, const char *socket_id, int ok, void *data)
{
    (void)w;
    join_ack_t *j = data;
    sio_socket_t *s = sio_socket_by_id(nsp, iov_make(socket_id, strlen(socket_id)));
    if (s != NULL && j->has_ack) {
        if (ok)
            (void)sio_ack(s, j->ack_id, SIOC_LIT("[{\"ok\":true}]"), NULL, 0);
        else
            (void)sio_ack(s, j->ack_id,
                          SIOC_LIT("[{\"ok\":false,\"error\":\"joined on this worker only: the "
                                   "cluster link is down\"}]"),
                          NULL, 0);
    }
    free(j);
}

void broadcast_join(sio_socket_t *s, sioc_iov_t room, int has_ack, unsigned long long ack_id)
{
    int r = sio_join(s, room);
    worker_t *w = sio_socket_worker(s);
    if (r != 0) {
        if (has_ack)
            (void)sio_ack(s, ack_id,
                          r == SIOC_ENOSPC
                              ? SIOC_LIT("[{\"ok\":false,\"error\":\"too many rooms\"}]")
                              : SIOC_LIT("[{\"ok\":false,\"error\":\"cannot join\"}]"),
                          NULL, 0);
        return;
    }
    if (w->adapter == NULL) {
        if (has_ack)
            (void)sio_ack(s, ack_id, SIOC_LIT("[{\"ok\":true}]"), NULL, 0);
        return;
    }
    join_ack_t *j = xmalloc(sizeof(*j));
    j->has_ack = has_ack;
    j->ack_id = ack_id;
    adapter_wait_room(w->adapter, sio_socket_nsp_obj(s), room, sio_socket_id(s), join_done, j);
}

void broadcast_leave(sio_socket_t *s, sioc_iov_t room)
{
    (void)sio_leave(s, room);
}

void broadcast_emit(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                    const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                    const sioc_iov_t *att, size_t n_att)
{
    worker_t *w = NULL;
    sioc_iov_t logged;
    /* A cluster log (streams mode with recovery on) publishes, and delivers locally once the
     * EVENT has its offset. */
    if (sio_store_emit(nsp, rooms, n_rooms, except, n_except, json_array, att, n_att))
        return;
    if (sio_log_event(nsp, rooms, n_rooms, except, n_except, json_array, att, n_att, &logged))
        json_array = logged;
    (void)sio_broadcast(nsp, rooms, n_rooms, except, n_except, json_array, att, n_att);
    w = sio_nsp_worker(nsp);
    if (w->adapter != NULL)
        adapter_broadcast(w->adapter, nsp, rooms, n_rooms, except, n_except, json_array, att,
                          n_att);
}

typedef struct {
    sio_nsp_t *nsp;
    char socket_id[24];
    unsigned long long ack_id;
    const char *field;
} query_t;

static void query_done(worker_t *w, sioc_iov_t json, int complete, void *data)
{
    (void)w;
    query_t *q = data;
    sio_socket_t *s = sio_socket_by_id(q->nsp, iov_make(q->socket_id, strlen(q->socket_id)));
    if (s != NULL) {
        sioc_buf_t b = {0};
        sioc_buf_t list = {0};
        int r = 0;
        jscan_iter_t it;
        sioc_iov_t key, val;
        size_t n = 0;
        if (jscan_iter_init(&it, json) == 0) {
            r |= buf_append_byte(&list, '[');
            while (jscan_next(&it, &key, &val) > 0) {
                if (n == MAX_LIST_ENTRIES) {
                    complete = 0;
                    break;
                }
                if (n++ > 0)
                    r |= buf_append_byte(&list, ',');
                r |= buf_append(&list, val.base, val.len);
            }
            r |= buf_append_byte(&list, ']');
        } else {
            r |= buf_append(&list, json.base, json.len);
        }
        r |= buf_append_str(&b, "[{\"ok\":true,\"complete\":");
        r |= buf_append_str(&b, complete ? "true" : "false");
        r |= buf_append_str(&b, ",\"");
        r |= buf_append_str(&b, q->field);
        r |= buf_append_str(&b, "\":");
        r |= buf_append(&b, list.base, list.len);
        r |= buf_append_str(&b, "}]");
        buf_free(&list);
        if (r == 0)
            (void)sio_ack(s, q->ack_id, iov_make(b.base, b.len), NULL, 0);
        buf_free(&b);
    }
    free(q);
}

typedef struct {
    sioc_buf_t *b;
    int first;
    int r;
} local_ctx_t;

static void local_socket(sio_socket_t *s, void *data)
{
    local_ctx_t *c = data;
    if (!c->first)
        c->r |= buf_append_byte(c->b, ',');
    c->first = 0;
    c->r |= buf_append_str(c->b, "{\"id\":\"");
    c->r |= buf_append_str(c->b, sio_socket_id(s));
    c->r |= buf_append_str(c->b, "\",\"data\":");
    c->r |= sio_socket_data_json(s, c->b);
    c->r |= buf_append_byte(c->b, '}');
}

static void local_room(sioc_iov_t room, void *data)
{
    local_ctx_t *c = data;
    if (!c->first)
        c->r |= buf_append_byte(c->b, ',');
    c->first = 0;
    c->r |= sio_json_str(c->b, room);
}

void broadcast_query(sio_socket_t *s, int rooms_query, sioc_iov_t room, unsigned long long ack_id)
{
    worker_t *w = sio_socket_worker(s);
    sio_nsp_t *nsp = sio_socket_nsp_obj(s);
    query_t *q = xcalloc(1, sizeof(*q));
    q->nsp = nsp;
    strncpy(q->socket_id, sio_socket_id(s), sizeof(q->socket_id) - 1);
    q->ack_id = ack_id;
    q->field = rooms_query ? "rooms" : "sockets";
    if (w->adapter != NULL) {
        if (rooms_query)
            adapter_all_rooms(w->adapter, nsp, query_done, q);
        else
            adapter_fetch_sockets(w->adapter, nsp, &room, 1, query_done, q);
        return;
    }
    sioc_buf_t b = {0};
    local_ctx_t c = {&b, 1, buf_append_byte(&b, '[')};
    if (rooms_query)
        sio_nsp_rooms(nsp, local_room, &c);
    else
        sio_each(nsp, &room, 1, NULL, 0, local_socket, &c);
    c.r |= buf_append_byte(&b, ']');
    if (c.r == 0)
        query_done(w, iov_make(b.base, b.len), 1, q);
    else
        free(q);
    buf_free(&b);
}
