/*
 * adapter.h - cluster-wide rooms through Redis Pub/Sub, wire-compatible with
 * @socket.io/redis-adapter 8 (PROTOCOL.md §5).
 *
 * Two modes:
 * - classic: PSUBSCRIBE <key>#<nsp>#* plus the request / response channels,
 *   PUBLISH; interoperates with createAdapter() servers and the
 *   @socket.io/redis-emitter.
 * - sharded: SSUBSCRIBE to the namespace's main and per-server channels and,
 *   dynamically, to <key>#<nsp>#<room># for each public room that has local
 *   members, SPUBLISH; the message format of createShardedAdapter(), so a
 *   broadcast to one room reaches only the workers that have members.
 * - streams: @socket.io/redis-streams-adapter 0.3 (PROTOCOL.md §8): plain
 *   broadcasts, socketsJoin/Leave and disconnectSockets are XADDed to the
 *   namespace's stream, which one XREAD BLOCK chain per stream reads on its
 *   own link (resuming from the last entry id after a reconnect); requests
 *   and responses are msgpack on PUBLISH <key>#<nsp># / <key>#<nsp>#<uid>#,
 *   membership by PUBSUB NUMSUB.
 *
 * Fault handling: both Redis links are liveness-checked (redis_client.h), and
 * the subscription itself is checked end to end by a health message the
 * worker publishes to itself every second; /ready is red until every
 * subscription is confirmed and the health message comes back. Local
 * delivery never depends on Redis (but for an EVENT whose offset, with
 * recovery on, is its stream entry id). Publishes made while the publisher
 * link is down wait in a bounded queue and are sent in order when it is back
 * (adapter_queue.c); the overflow is dropped and counted. A dropped link
 * retries at once, and every link retries as soon as another one of the
 * worker is up again. Pending requests end by response count or timeout,
 * never later.
 *
 * Membership: the worker registers `<id>@<host:port>` in the sorted set
 * sioc:workers every second (score = unix ms) and removes itself on drain.
 * Loop thread only.
 */
#ifndef SIOC_WORKER_ADAPTER_H
#define SIOC_WORKER_ADAPTER_H

#include <stddef.h>

#include "base/buf.h"
#include "sio.h"
#include "worker.h"

typedef struct adapter adapter_t;

/** Starts the adapter from w->conf (REDIS_URL must be set). NULL + message on bad config. */
adapter_t *adapter_new(worker_t *w, char *err, size_t errlen);
void adapter_free(adapter_t *a);
/** Whether every subscription is live (for /ready). */
int adapter_ready(const adapter_t *a);
/** Why it is not ready, for /ready's body: the Redis links that are not up and where they
 * stand (redis_client_describe), or that the subscriptions are not confirmed yet. */
void adapter_not_ready_reason(const adapter_t *a, char *out, size_t cap);
/** Publishes a broadcast already delivered locally to the other workers. */
void adapter_broadcast(adapter_t *a, sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                       const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                       const sioc_iov_t *att, size_t n_att);

/** Called once the socket `socket_id` of `nsp` is reachable cluster-wide in `room`
 * (ok = 1) or not within the requests timeout (ok = 0). */
typedef void (*adapter_join_cb)(worker_t *w, sio_nsp_t *nsp, const char *socket_id, int ok,
                                void *data);
/** Waits until broadcasts to `room` from any worker reach this worker. */
void adapter_wait_room(adapter_t *a, sio_nsp_t *nsp, sioc_iov_t room, const char *socket_id,
                       adapter_join_cb cb, void *data);

/** Result of a cluster-wide query: `json` is a JSON array (owned by the adapter, valid for
 * the call), `complete` is 0 when some worker did not answer in time. */
typedef void (*adapter_query_cb)(worker_t *w, sioc_iov_t json, int complete, void *data);
/** fetchSockets: [{id, handshake, rooms, data}] of the sockets in `rooms` over the cluster. */
void adapter_fetch_sockets(adapter_t *a, sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                           adapter_query_cb cb, void *data);
/** allRooms: the union of every worker's rooms (socket ids included), as a JSON array. */
void adapter_all_rooms(adapter_t *a, sio_nsp_t *nsp, adapter_query_cb cb, void *data);
/** socketsJoin / socketsLeave / disconnectSockets over the cluster (this worker included). */
void adapter_sockets_join(adapter_t *a, sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                          sioc_iov_t new_room, int leave);
void adapter_disconnect_sockets(adapter_t *a, sio_nsp_t *nsp, const sioc_iov_t *rooms,
                                size_t n_rooms, int close);
/** serverSideEmit with acks: `json_array` goes to the other workers; `cb` gets the array of
 * their answers. */
void adapter_server_side_emit(adapter_t *a, sio_nsp_t *nsp, sioc_iov_t json_array,
                              adapter_query_cb cb, void *data);

/** Runs a Redis command on the adapter's command link (the admin UI's session store).
 * Returns 0 and `cb` runs once later (with NULL when the link fails or at teardown), or
 * SIOC_E* when the link is down (`cb` is not called). `cb` may be NULL. Borrows argv. */
struct redisReply;
typedef void (*adapter_command_cb)(worker_t *w, struct redisReply *reply, void *data);
int adapter_command(adapter_t *a, adapter_command_cb cb, void *data, int argc, const char **argv);

/** Deregisters from sioc:workers (drain). */
void adapter_leave(adapter_t *a);
/** Appends the adapter's metrics (Prometheus text). */
void adapter_metrics(const adapter_t *a, sioc_buf_t *b);

#endif
