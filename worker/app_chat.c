/*
 * app_chat.c - the chat application (the seed's events, with acks).
 *
 * Middleware: when the worker has a JWT verifier, handshake.auth.token must
 * verify (auth.h); any failure is refused with "Authentication error" and
 * the reason is logged at info level without the token. A token's exp becomes
 * the socket's deadline (sio_socket_set_deadline): the socket is disconnected
 * when it passes. Of the claims only "sub" is kept (list-members shows it).
 *
 * Events:
 *   join-room (roomId, ack?)            -> join; ack {"ok":true}
 *   leave-room (roomId, ack?)           -> leave; ack {"ok":true}
 *   send-message ({roomId, msg}, ack?)  -> receive-message(msg) to the room
 *   list-members (roomId, ack)          -> {"ok":true,"complete":b,"sockets":[...]}
 *                                          over the cluster (fetchSockets)
 *   list-rooms (ack)                    -> {"ok":true,"complete":b,"rooms":[...]} (allRooms)
 * Bad arguments are answered {"ok":false,"error":"..."} when an ack is asked
 * and dropped otherwise. msg may be any JSON value, binary included: its
 * placeholders are renumbered for the outgoing packet.
 */
#include "app.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "adapter/adapter_msg.h"
#include "sio/sio_json.h"
#include "broadcast.h"
#include "sio/jscan.h"
#include "sio/sio_binary.h"

#define MAX_ROOM_ID 256
#define MAX_TOKEN 8192

/* A socket's data, allocated by the JWT middleware or by its first list request. */
typedef struct chat_user {
    long long list_window_ms; /* list-rooms / list-members rate window */
    unsigned lists;
    uint8_t has_sub;
    char sub[]; /* the token's "sub" claim when has_sub */
} chat_user_t;

/* list-rooms and list-members ask every worker of the cluster: a socket may ask
 * LIST_BURST times per LIST_WINDOW_MS. */
#define LIST_BURST 5
#define LIST_WINDOW_MS 10000

static const char auth_error[] = "Authentication error";

static const char *user_name(const sio_socket_t *s)
{
    const chat_user_t *u = sio_socket_data(s);
    return u != NULL && u->has_sub ? u->sub : "?";
}

static void expired(sio_socket_t *s)
{
    log_info("socket %s: token of user %s expired: disconnected", sio_socket_id(s), user_name(s));
    sio_disconnect(s, 0);
}

static const char *chat_authorize(sio_socket_t *s, sioc_iov_t auth_json)
{
    worker_t *w = sio_socket_worker(s);
    if (w->auth == NULL)
        return NULL;
    sioc_iov_t tok = SIOC_IOV_NULL, key, val;
    jscan_iter_t it;
    if (jscan_iter_init(&it, auth_json) == 0) {
        while (jscan_next(&it, &key, &val) > 0) {
            if (jscan_string_eq(key, "token")) {
                tok = val;
                break;
            }
        }
    }
    const char *reason = "no token in handshake.auth";
    char *token = NULL;
    int n = -1;
    if (tok.len > 0 && jscan_token_kind(tok) == JSCAN_STRING && tok.len < MAX_TOKEN) {
        token = xmalloc(tok.len);
        n = jscan_string_unescape(tok, token, tok.len);
    }
    auth_claims_t claims;
    if (n <= 0 || auth_verify(w->auth, token, (size_t)n, clock_unix_ms(), &claims, &reason) != 0) {
        free(token);
        /* One client can send thousands of refused CONNECTs per request: log at most one
         * line a second (sioc_auth_failures_total counts them all). */
        static long long last;
        static unsigned long long quiet;
        if (log_ratelimited(&last)) {
            log_info("handshake refused for %s: %s (%llu more since the last line)",
                     sio_socket_id(s), reason, quiet);
            quiet = 0;
        } else {
            quiet++;
        }
        return auth_error;
    }
    free(token);
    size_t sub_len = claims.sub != NULL ? strlen(claims.sub) : 0;
    chat_user_t *u = xcalloc(1, sizeof(*u) + sub_len + 1);
    if (claims.sub != NULL) {
        u->has_sub = 1;
        memcpy(u->sub, claims.sub, sub_len);
    }
    if (claims.exp_ms > 0)
        sio_socket_set_deadline(s, claims.exp_ms);
    auth_claims_free(&claims);
    sio_socket_set_data(s, u);
    return NULL;
}

static void chat_disconnect(sio_socket_t *s, const char *reason)
{
    (void)reason;
    chat_user_t *u = sio_socket_data(s);
    if (u == NULL)
        return;
    free(u);
    sio_socket_set_data(s, NULL);
}

static void reply(sio_socket_t *s, const sio_event_t *ev, const char *error)
{
    if (!ev->has_ack)
        return;
    if (error == NULL) {
        (void)sio_ack(s, ev->ack_id, SIOC_LIT("[{\"ok\":true}]"), NULL, 0);
        return;
    }
    sioc_buf_t b = {0};
    int r = buf_append_str(&b, "[{\"ok\":false,\"error\":\"");
    r |= buf_append_str(&b, error); /* static ASCII texts without quotes */
    r |= buf_append_str(&b, "\"}]");
    if (r == 0)
        (void)sio_ack(s, ev->ack_id, iov_make(b.base, b.len), NULL, 0);
    buf_free(&b);
}

/* The first argument after the event name, or an empty slice. */
static sioc_iov_t first_arg(const sio_event_t *ev)
{
    jscan_iter_t it;
    sioc_iov_t key, val;
    if (jscan_iter_init(&it, ev->data) != 0 || jscan_next(&it, &key, &val) <= 0)
        return SIOC_IOV_NULL;
    if (jscan_next(&it, &key, &val) <= 0)
        return SIOC_IOV_NULL;
    return val;
}

/* Unescapes a room id; returns its length or -1 when it is not a usable room id. */
static int room_id(sioc_iov_t tok, char out[MAX_ROOM_ID + 1])
{
    if (tok.len == 0 || jscan_token_kind(tok) != JSCAN_STRING)
        return -1;
    int n = jscan_string_unescape(tok, out, MAX_ROOM_ID + 1);
    if (n <= 0 || n > MAX_ROOM_ID)
        return -1;
    return n;
}

static void join_or_leave(sio_socket_t *s, const sio_event_t *ev, int join)
{
    char room[MAX_ROOM_ID + 1];
    int n = room_id(first_arg(ev), room);
    if (n < 0) {
        reply(s, ev, "roomId must be a non-empty string of at most 256 bytes");
        return;
    }
    if (join)
        broadcast_join(s, iov_make(room, (size_t)n), ev->has_ack, ev->ack_id);
    else {
        broadcast_leave(s, iov_make(room, (size_t)n));
        reply(s, ev, NULL);
    }
}

static void send_message(sio_socket_t *s, const sio_event_t *ev)
{
    sioc_iov_t obj = first_arg(ev);
    if (obj.len == 0 || jscan_token_kind(obj) != JSCAN_OBJECT) {
        reply(s, ev, "expected {roomId, msg}");
        return;
    }
    jscan_iter_t it;
    sioc_iov_t key, val, room_tok = SIOC_IOV_NULL, msg = SIOC_IOV_NULL;
    jscan_iter_init(&it, obj);
    while (jscan_next(&it, &key, &val) > 0) {
        if (jscan_string_eq(key, "roomId"))
            room_tok = val;
        else if (jscan_string_eq(key, "msg"))
            msg = val;
    }
    char room[MAX_ROOM_ID + 1];
    int rn = room_id(room_tok, room);
    if (rn < 0) {
        reply(s, ev, "roomId must be a non-empty string of at most 256 bytes");
        return;
    }
    if (msg.len == 0) {
        reply(s, ev, "msg is missing");
        return;
    }
    sioc_buf_t b = {0};
    int r = buf_append_str(&b, "[\"receive-message\",");
    unsigned map[16], order[16];
    sioc_iov_t att[16];
    size_t n_att = 0;
    const char *why = NULL;
    if (ev->n_att > 0 && ev->n_att <= 16) {
        int k = sio_binary_renumber(msg, (unsigned)ev->n_att, map, order, &why);
        if (k < 0) {
            buf_free(&b);
            reply(s, ev, "malformed binary placeholder");
            return;
        }
        for (int i = 0; i < k; i++)
            att[i] = ev->att[order[i]];
        n_att = (size_t)k;
        r |= sio_binary_rewrite(&b, msg, map, ev->n_att, &why);
    } else {
        r |= buf_append(&b, msg.base, msg.len);
    }
    r |= buf_append_byte(&b, ']');
    if (r != 0) {
        buf_free(&b);
        reply(s, ev, "message could not be encoded");
        return;
    }
    sioc_iov_t rooms[1] = {iov_make(room, (size_t)rn)};
    broadcast_emit(sio_socket_nsp_obj(s), rooms, 1, NULL, 0, iov_make(b.base, b.len), att, n_att);
    buf_free(&b);
    reply(s, ev, NULL);
}

static int list_limited(sio_socket_t *s)
{
    chat_user_t *u = sio_socket_data(s);
    if (u == NULL) {
        u = xcalloc(1, sizeof(*u));
        sio_socket_set_data(s, u);
    }
    long long now = clock_ms();
    if (now - u->list_window_ms >= LIST_WINDOW_MS) {
        u->list_window_ms = now;
        u->lists = 0;
    }
    return ++u->lists > LIST_BURST;
}

static void chat_event(sio_socket_t *s, const sio_event_t *ev)
{
    long long exp_ms = sio_socket_deadline(s);
    if (exp_ms > 0 && clock_unix_ms() >= exp_ms) {
        /* The deadline timer may not have run yet in this loop turn: an event that
         * arrives after exp is never processed. */
        expired(s);
        return;
    }
    if (jscan_string_eq(ev->name, "send-message"))
        send_message(s, ev);
    else if (jscan_string_eq(ev->name, "join-room"))
        join_or_leave(s, ev, 1);
    else if (jscan_string_eq(ev->name, "leave-room"))
        join_or_leave(s, ev, 0);
    else if ((jscan_string_eq(ev->name, "list-members") ||
              jscan_string_eq(ev->name, "list-rooms")) &&
             ev->has_ack && list_limited(s)) {
        sio_socket_worker(s)->stats.drops_rate_limited++;
        reply(s, ev, "too many list requests: retry later");
    } else if (jscan_string_eq(ev->name, "list-members") && ev->has_ack) {
        char room[MAX_ROOM_ID + 1];
        int n = room_id(first_arg(ev), room);
        if (n < 0)
            reply(s, ev, "roomId must be a non-empty string of at most 256 bytes");
        else
            broadcast_query(s, 0, iov_make(room, (size_t)n), ev->ack_id);
    } else if (jscan_string_eq(ev->name, "list-rooms") && ev->has_ack)
        broadcast_query(s, 1, SIOC_IOV_NULL, ev->ack_id);
    else
        reply(s, ev, "unknown event");
}

static int chat_data_json(const sio_socket_t *s, sioc_buf_t *b)
{
    const chat_user_t *u = sio_socket_data(s);
    if (u == NULL || !u->has_sub)
        return buf_append_str(b, "{}");
    int r = buf_append_str(b, "{\"user\":");
    r |= sio_json_append_iov(b, iov_make(u->sub, strlen(u->sub)));
    r |= buf_append_byte(b, '}');
    return r;
}

static const sio_app_t chat = {chat_authorize,  NULL,           chat_event,
                               chat_disconnect, chat_data_json, expired};

const sio_app_t *app_chat(void)
{
    return &chat;
}
