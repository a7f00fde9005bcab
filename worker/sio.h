/*
 * sio.h - Socket.IO v5 server on top of the Engine.IO sessions.
 *
 * Implements socket.io-protocol v5 (PROTOCOL.md §2): namespaces with a
 * middleware (authorize) step, CONNECT / CONNECT_ERROR, events and acks in
 * both directions, binary attachments, rooms (each socket is implicitly in
 * the room of its own id), broadcasts with rooms and except (encoded once,
 * queued by reference), disconnect with the documented reasons and the
 * connect timeout. The application sees sockets through sio_app_t.
 *
 * Sockets are freed at the end of the loop turn after their disconnect, so
 * a pointer stays valid (inert) for the rest of the current callback; an
 * application must not keep one past on_disconnect. Loop thread only.
 */
#ifndef SIOC_WORKER_SIO_H
#define SIOC_WORKER_SIO_H

#include <stddef.h>

#include "base/buf.h"
#include "base/iov.h"
#include "worker.h"

typedef struct sio_socket sio_socket_t;
typedef struct sio_nsp sio_nsp_t;
struct eio_handler;

/** An incoming event. All slices are valid for the duration of the callback. */
typedef struct sio_event {
    sioc_iov_t data;       /* the whole JSON array: name then arguments */
    sioc_iov_t name;       /* JSON token of the event name (string with quotes, or number) */
    sioc_iov_t args;       /* the arguments after the name, JSON text without brackets */
    const sioc_iov_t *att; /* binary attachments (placeholders in args refer to them) */
    size_t n_att;
    int has_ack;
    unsigned long long ack_id;
} sio_event_t;

typedef struct sio_app {
    /** Middleware: NULL accepts; otherwise the static message of the CONNECT_ERROR. */
    const char *(*authorize)(sio_socket_t *s, sioc_iov_t auth_json);
    /** The socket is connected (its CONNECT reply is already queued). */
    void (*on_connect)(sio_socket_t *s, sioc_iov_t auth_json);
    void (*on_event)(sio_socket_t *s, const sio_event_t *ev);
    void (*on_disconnect)(sio_socket_t *s, const char *reason);
    /** Appends the socket's application data as a JSON object (fetchSockets); optional. */
    int (*data_json)(const sio_socket_t *s, sioc_buf_t *b);
    /** The socket's deadline (sio_socket_set_deadline) has passed while it is connected;
     * NULL: sio_disconnect(s, 0). */
    void (*on_deadline)(sio_socket_t *s);
} sio_app_t;

/** Server-to-client ack callback: `args` is NULL on timeout or disconnect (then
 * `reason` says which). Runs exactly once. */
typedef void (*sio_ack_cb)(sio_socket_t *s, sioc_iov_t *args, const char *reason, void *data);

/** Creates the Socket.IO layer with namespace "/" and the configured ones. */
struct sio_server *sio_server_new(worker_t *w, const sio_app_t *app);
void sio_server_free(struct sio_server *srv);
/** The Engine.IO handler that feeds the Socket.IO layer. */
const struct eio_handler *sio_engine_handler(void);
/** Number of rooms with members over all namespaces (metrics). */
unsigned long long sio_room_count(worker_t *w);
/** Joins refused because the socket had --max-rooms-per-socket rooms (metrics). */
unsigned long long sio_joins_refused(worker_t *w);
/** Handshakes refused because their address had --max-pending-sessions-per-ip sessions
 * without a namespace (metrics). */
unsigned long long sio_pending_refused(worker_t *w);
/** Connection state recovery counters, or NULL when recovery is off (metrics). */
struct recovery_stats;
const struct recovery_stats *sio_recovery_stats(worker_t *w);

const char *sio_socket_id(const sio_socket_t *s);
sioc_iov_t sio_socket_nsp(const sio_socket_t *s);
worker_t *sio_socket_worker(const sio_socket_t *s);
void *sio_socket_data(const sio_socket_t *s);
void sio_socket_set_data(sio_socket_t *s, void *data);
/** Whether the socket is still connected. */
int sio_socket_connected(const sio_socket_t *s);

/** Emits an event: `json_args` is the whole JSON array text (e.g. `["auth",{}]`) with
 * placeholders for the `n_att` attachments. 0 or SIOC_E*. */
int sio_emit(sio_socket_t *s, sioc_iov_t json_array, const sioc_iov_t *att, size_t n_att);
/** Emits an event that the client must acknowledge within the configured ack timeout. */
int sio_emit_ack(sio_socket_t *s, sioc_iov_t json_array, sio_ack_cb cb, void *data);
/** Answers the client's ack request `ack_id` with the JSON array `json_array`. */
int sio_ack(sio_socket_t *s, unsigned long long ack_id, sioc_iov_t json_array,
            const sioc_iov_t *att, size_t n_att);

/** Joins / leaves a room. 0, SIOC_EINVAL for an empty name, SIOC_ENOSPC when the socket is
 * in --max-rooms-per-socket rooms already. */
int sio_join(sio_socket_t *s, sioc_iov_t room);
int sio_leave(sio_socket_t *s, sioc_iov_t room);
/** Whether the socket is in `room`. */
int sio_in_room(const sio_socket_t *s, sioc_iov_t room);

/** Broadcasts the event `json_array` (+ attachments) to the sockets of the socket's
 * namespace that are in any of `rooms` (all sockets when n_rooms is 0) and in none of
 * `except`. Encoded once. Returns the number of local recipients or SIOC_E*. */
/** With connection state recovery on (and the in-memory adapter): logs an EVENT about to be
 * broadcast to `rooms` (none: everyone) except `except`, and returns 1 with the data to send
 * in `*with_offset` (the offset appended as last argument; valid until the next log call).
 * Returns 0 when nothing is logged (send `json_array` as is). */
int sio_log_event(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms, const sioc_iov_t *except,
                  size_t n_except, sioc_iov_t json_array, const sioc_iov_t *att, size_t n_att,
                  sioc_iov_t *with_offset);
int sio_broadcast(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms, const sioc_iov_t *except,
                  size_t n_except, sioc_iov_t json_array, const sioc_iov_t *att, size_t n_att);
/* Broadcast flags of Node's BroadcastOperator (adapter messages' opts.flags). */
#define SIO_BROADCAST_VOLATILE 0x1u    /* dropped for a socket that is not writable now */
#define SIO_BROADCAST_NO_COMPRESS 0x2u /* compress: false */
/** sio_broadcast() with SIO_BROADCAST_* `flags`. */
int sio_broadcast_flags(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                        const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                        const sioc_iov_t *att, size_t n_att, unsigned flags);
sio_nsp_t *sio_socket_nsp_obj(const sio_socket_t *s);

/** A connected socket of `nsp` by id, or NULL. */
sio_socket_t *sio_socket_by_id(sio_nsp_t *nsp, sioc_iov_t id);
/** Appends the socket's application data as JSON ({} when the app has none). */
int sio_socket_data_json(const sio_socket_t *s, sioc_buf_t *b);

/** Calls `cb` once for each connected socket of `nsp` selected as sio_broadcast selects. */
typedef void (*sio_each_cb)(sio_socket_t *s, void *data);
void sio_each(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms, const sioc_iov_t *except,
              size_t n_except, sio_each_cb cb, void *data);
/** Calls `cb` with each room name of the socket (its own id first). */
typedef void (*sio_room_cb)(sioc_iov_t room, void *data);
void sio_socket_rooms(const sio_socket_t *s, sio_room_cb cb, void *data);
/** Calls `cb` with each room of `nsp` that has members, then each socket id. */
void sio_nsp_rooms(sio_nsp_t *nsp, sio_room_cb cb, void *data);
/** Whether the namespace has the room locally (a socket id counts). */
int sio_nsp_has_room(sio_nsp_t *nsp, sioc_iov_t room);
/** The worker of a namespace. */
worker_t *sio_nsp_worker(const sio_nsp_t *nsp);
/** Appends `s` as a JSON string literal. */
int sio_json_str(sioc_buf_t *b, sioc_iov_t s);
/** Namespaces: count of slots (configured namespaces, then --max-dynamic-namespaces slots
 * when --namespace-pattern is set), the live namespace of a slot (NULL for a free dynamic
 * slot), a live namespace by name (NULL when unknown), name. */
size_t sio_nsp_count(worker_t *w);
sio_nsp_t *sio_nsp_at(worker_t *w, size_t i);
sio_nsp_t *sio_nsp_by_name(worker_t *w, sioc_iov_t name);
sioc_iov_t sio_nsp_name(const sio_nsp_t *nsp);
/** Connected sockets of the namespace on this worker. */
size_t sio_nsp_socket_count(const sio_nsp_t *nsp);
/** Index of the namespace in the server (stable). */
size_t sio_nsp_index(const sio_nsp_t *nsp);
/** The client address of the socket's connection. */
const char *sio_socket_addr(const sio_socket_t *s);
/** Emits an event with attachments that the client must acknowledge. */
int sio_emit_ack_att(sio_socket_t *s, sioc_iov_t json_array, const sioc_iov_t *att, size_t n_att,
                     sio_ack_cb cb, void *data);

/** Namespace lifecycle hook for the adapter: a dynamic namespace was created (`created` 1:
 * return 0 to accept it, negative to refuse the CONNECT) or removed when empty (0; the
 * return value is ignored). The slot index (sio_nsp_index) is stable while it lives. */
typedef int (*sio_nsp_hook)(worker_t *w, sio_nsp_t *nsp, int created);
void sio_set_nsp_hook(worker_t *w, sio_nsp_hook hook);
/** Whether the namespace was created from --namespace-pattern. */
int sio_nsp_is_dynamic(const sio_nsp_t *nsp);
/** Dynamic namespaces: live, created, removed, refused (cap or adapter) (metrics). */
void sio_dynamic_stats(worker_t *w, unsigned long long out[4]);

/** Room lifecycle hook for the adapter: called when a room of `nsp` gets its first member
 * (`created` 1) or loses its last (0). */
typedef void (*sio_room_hook)(worker_t *w, sio_nsp_t *nsp, sioc_iov_t room, int created);
void sio_set_room_hook(worker_t *w, sio_room_hook hook);

/** Keeps room `room` of `nsp` alive for a member outside Socket.IO (a Server-Sent Events
 * stream): the room exists, the room hook has announced it and the adapter delivers its
 * broadcasts here until every hold is released. Counted: one release per hold. 0, or
 * SIOC_EINVAL for an empty or too long name. Borrows room. */
int sio_room_hold(sio_nsp_t *nsp, sioc_iov_t room);
void sio_room_release(sio_nsp_t *nsp, sioc_iov_t room);

/** Sees every broadcast sio_broadcast() delivers on this worker (local emits and the
 * adapter's), after the sockets got it; the arguments are borrowed for the call and
 * `json_array` carries the recovery offset when one was logged. */
typedef void (*sio_broadcast_tap)(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                                  const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                                  const sioc_iov_t *att, size_t n_att, void *data);
/** Installs the tap (one; NULL removes it). */
void sio_set_broadcast_tap(worker_t *w, sio_broadcast_tap tap, void *data);

/** A logged EVENT replayed by sio_replay(): the data with its offset, and attachments. */
typedef void (*sio_replay_cb)(sioc_iov_t json_array, const sioc_iov_t *att, size_t n_att,
                              void *data);
/** Replays from the in-memory recovery log the EVENTs of `nsp` after `offset` addressed to
 * everyone or to one of `rooms` and not excepting any of them, in order. Returns -1 when
 * this worker keeps no log (recovery off, or a Redis adapter), otherwise a
 * recovery_result_t: 0 (RECOVERY_RECOVERED, `cb` ran for each), or
 * RECOVERY_OFFSET_TRIMMED (nothing replayed: the offset is unknown or too old). */
int sio_replay(sio_nsp_t *nsp, sioc_iov_t offset, const sioc_iov_t *rooms, size_t n_rooms,
               sio_replay_cb cb, void *data);

/*
 * Connection state recovery through a cluster-wide store (the streams adapter): the
 * sessions live in Redis, EVENTs are logged in the stream and restores are asynchronous.
 * A CONNECT carrying a pid and an offset is parked after the middleware until the store
 * answers; nothing is sent for it meanwhile.
 */
typedef struct sio_restore sio_restore_t;

typedef struct {
    /** Takes back session `pid` of `nsp` from `offset`: answers with sio_restore_room and
     * sio_restore_packet, then exactly one sio_restore_done (possibly before returning). */
    void (*restore)(void *ctx, sio_nsp_t *nsp, sioc_iov_t pid, sioc_iov_t offset, sio_restore_t *r);
    /** Writes the session of `s` (connected, or just ended for a recoverable reason). */
    void (*save)(void *ctx, sio_socket_t *s);
    /** Deletes the session of `s` (ended for good). */
    void (*drop)(void *ctx, sio_socket_t *s);
    /** Logs an EVENT to `rooms` (none: everyone) minus `except` and delivers it locally
     * with its offset once logged. Borrows everything for the call. */
    void (*emit)(void *ctx, sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                 const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                 const sioc_iov_t *att, size_t n_att);
    void *ctx;
    /** Optional: sio_replay() from the cluster log, asynchronous: `packet` for each EVENT
     * after `offset` that `rooms` receive, then `done` exactly once (possibly before
     * returning; also at teardown) with 0, or RECOVERY_OFFSET_TRIMMED when the offset is
     * not in the log. Borrows its arguments for the call. */
    void (*replay)(void *ctx, sio_nsp_t *nsp, sioc_iov_t offset, const sioc_iov_t *rooms,
                   size_t n_rooms, sio_replay_cb packet, void (*done)(int result, void *data),
                   void *data);
} sio_recovery_store_t;

/** With a store that replays: starts the replay (sio_recovery_store_t.replay) and returns
 * 1; otherwise 0 and nothing is called. */
int sio_store_replay(sio_nsp_t *nsp, sioc_iov_t offset, const sioc_iov_t *rooms, size_t n_rooms,
                     sio_replay_cb packet, void (*done)(int result, void *data), void *data);
/** Installs the store (copied); recovery must be on (--max-disconnection-duration). */
void sio_set_recovery_store(worker_t *w, const sio_recovery_store_t *store);
/** With a store: hands the EVENT broadcast to it and returns 1 (the store delivers); else 0. */
int sio_store_emit(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                   const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                   const sioc_iov_t *att, size_t n_att);
/** The private session id of the socket (NULL with recovery off). */
const char *sio_socket_pid(const sio_socket_t *s);
/** Answers of the store to a parked CONNECT (copied). */
void sio_restore_room(sio_restore_t *r, sioc_iov_t room);
void sio_restore_packet(sio_restore_t *r, sioc_iov_t json_array, const sioc_iov_t *att,
                        size_t n_att);
/** Ends the restore: `recovered` with the old `sid`, or a fresh session. Frees `r`. */
void sio_restore_done(sio_restore_t *r, int recovered, sioc_iov_t sid);

/** What sio_app_t.authorize returns to decide later (an asynchronous middleware): the CONNECT
 * is parked, nothing is sent for it, and the app must call sio_authorize_done(s, ...) exactly
 * once. If the client leaves meanwhile the app hears on_disconnect(s, NULL) and still calls
 * sio_authorize_done, which then frees the socket. */
extern const char sio_authorize_later[];
/** Ends a parked CONNECT: `refused` NULL connects the socket (recovery, CONNECT reply,
 * on_connect, possibly from inside this call); otherwise the static CONNECT_ERROR message. */
void sio_authorize_done(sio_socket_t *s, const char *refused);

/** Membership hook (the admin UI's room events): called after `s` joins `room` (`joined` 1) or
 * leaves it (0), including the leaves of a disconnect (then `s` is no longer connected). The
 * socket's own-id room is not reported. Borrows `room` for the call. */
typedef void (*sio_member_hook)(sio_socket_t *s, sioc_iov_t room, int joined, void *data);
/** Transport hook: called for each connected socket of a session that moved to websocket. */
typedef void (*sio_transport_hook)(sio_socket_t *s, void *data);
/** Installs both hooks (either may be NULL); they get `data`. */
void sio_set_member_hook(worker_t *w, sio_member_hook hook, sio_transport_hook transport,
                         void *data);
/** The socket's Engine.IO transport: "polling" or "websocket". */
const char *sio_socket_transport(const sio_socket_t *s);
/** The socket's Engine.IO session id. */
const char *sio_socket_client_id(const sio_socket_t *s);

/** Server-side disconnect of one socket (reason "server namespace disconnect"); with
 * `close`, the whole Engine.IO connection is closed too. */
void sio_disconnect(sio_socket_t *s, int close);

/** Sets the wall-clock time (clock_unix_ms) at which the application's on_deadline runs for
 * the socket (a token's exp); 0 clears it. Legal from authorize. Every socket's deadline
 * shares one timer of the process: a deadline costs the socket nothing more. */
void sio_socket_set_deadline(sio_socket_t *s, long long unix_ms);
/** The socket's deadline, or 0. */
long long sio_socket_deadline(const sio_socket_t *s);

#endif
