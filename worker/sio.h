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

#include "base/iov.h"
#include "worker.h"

typedef struct sio_socket sio_socket_t;
typedef struct sio_nsp sio_nsp_t;
struct eio_handler;

/** An incoming event. All slices are valid for the duration of the callback. */
typedef struct sio_event {
    sioc_iov_t data;          /* the whole JSON array: name then arguments */
    sioc_iov_t name;          /* JSON token of the event name (string with quotes, or number) */
    sioc_iov_t args;          /* the arguments after the name, JSON text without brackets */
    const sioc_iov_t *att;    /* binary attachments (placeholders in args refer to them) */
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

/** Joins / leaves a room. 0, or SIOC_EINVAL for an empty name. */
int sio_join(sio_socket_t *s, sioc_iov_t room);
int sio_leave(sio_socket_t *s, sioc_iov_t room);
/** Whether the socket is in `room`. */
int sio_in_room(const sio_socket_t *s, sioc_iov_t room);

/** Broadcasts the event `json_array` (+ attachments) to the sockets of the socket's
 * namespace that are in any of `rooms` (all sockets when n_rooms is 0) and in none of
 * `except`. Encoded once. Returns the number of local recipients or SIOC_E*. */
int sio_broadcast(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                  const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                  const sioc_iov_t *att, size_t n_att);
sio_nsp_t *sio_socket_nsp_obj(const sio_socket_t *s);

/** Server-side disconnect of one socket (reason "server namespace disconnect"); with
 * `close`, the whole Engine.IO connection is closed too. */
void sio_disconnect(sio_socket_t *s, int close);

#endif
