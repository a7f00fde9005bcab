/*
 * broadcast.h - the adapter seam: room membership and broadcasts that reach
 * the whole cluster.
 *
 * With no Redis configured (the in-memory adapter) these are the local
 * operations of sio.h. With Redis, a broadcast is delivered locally and
 * published once; a join is acknowledged once the worker's subscription
 * covers the room, so a broadcast sent after the ack reaches the socket from
 * any worker. Loop thread only.
 */
#ifndef SIOC_WORKER_BROADCAST_H
#define SIOC_WORKER_BROADCAST_H

#include <stddef.h>

#include "sio.h"

/** Joins `room`; when `has_ack`, answers ack `ack_id` with [{"ok":true}] once the join is
 * effective cluster-wide (or [{"ok":false,...}] on failure). */
void broadcast_join(sio_socket_t *s, sioc_iov_t room, int has_ack, unsigned long long ack_id);
/** Leaves `room`. */
void broadcast_leave(sio_socket_t *s, sioc_iov_t room);
/** Emits the event `json_array` (+ attachments) to `rooms` minus `except` of namespace
 * `nsp`, on every worker. */
void broadcast_emit(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                    const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                    const sioc_iov_t *att, size_t n_att);

/** Answers ack `ack_id` of `s` with the cluster-wide sockets of `room` (rooms_query 0:
 * [{"ok":true,"complete":bool,"sockets":[...]}]) or every room (rooms_query 1: "rooms"). */
void broadcast_query(sio_socket_t *s, int rooms_query, sioc_iov_t room, unsigned long long ack_id);

#endif
