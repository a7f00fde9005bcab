/*
 * redis_cluster.h - the Redis Cluster side of redis_client (internal to
 * common/net: users see only redis_client.h).
 *
 * A redis_client whose node reports cluster_enabled:1 becomes a cluster
 * client: its own link stays as the control link (it reads the slot map
 * with CLUSTER SHARDS, or CLUSTER SLOTS before 7.0, and reconnects through
 * the seed list and the nodes it has learned), and the cluster opens one
 * link of the client's kind to every primary that owns slots. The client
 * is up while it has a map and every one of those links is up; its owner
 * sees one client, as before:
 *  - a command goes to the primary of its key's slot (redis_cluster_map.h),
 *    a command without a key to any primary, PUBSUB NUMSUB to all of them
 *    (the counts are summed: classic pub/sub is cluster-wide, its
 *    subscriber counts are per node);
 *  - MOVED refreshes the map and resends the command where it points, ASK
 *    resends it once with ASKING; at most a few redirections per command;
 *  - classic pub/sub (PUBLISH, SUBSCRIBE, PSUBSCRIBE) is cluster-wide: all
 *    of it goes to the primary of one anchor slot, so publishers and
 *    subscribers fail together, as on one Redis;
 *  - sharded subscriptions go to the node of the channel's slot, one channel
 *    per command. Sharded ones (SSUBSCRIBE) are remembered: when a slot moves
 *    the channel is subscribed on its new primary (the old one drops it with
 *    an unsolicited sunsubscribe, which the owner does not see), and the
 *    owner is told nothing. When a primary's link drops the client goes
 *    down for its owner, which subscribes again when it comes back up;
 *  - the map is read again on MOVED, on a sharded channel dropped by its
 *    node, every 5 s, and every 250 ms while a primary is unreachable, so a
 *    promoted replica is found within a second of its promotion.
 */
#ifndef SIOC_COMMON_NET_REDIS_CLUSTER_H
#define SIOC_COMMON_NET_REDIS_CLUSTER_H

#include "redis_client.h"

typedef struct redis_cluster redis_cluster_t;

/* From redis_client.c, for the cluster. */

/** A client of one cluster node: never turns into a cluster client itself, any role. */
redis_client_t *redis_client__new_node(net_loop_t *loop, const redis_url_t *url,
                                       const redis_client_opts_t *opts);
/** Sends a command on the client's own link with a reply callback, whatever its kind (the
 * control link of a subscriber cluster client is never subscribed). */
int redis_client__link_cmd(redis_client_t *c, redis_reply_cb cb, void *data, int argc,
                           const char **argv, const size_t *lens);
/** The error replies a subscriber link gets (a MOVED for a subscription) go to `cb`. */
void redis_client__on_error(redis_client_t *c, redis_push_cb cb, void *data);
/** Adds a node to the seed list the client's own link reconnects through (no-op when known
 * or when the list is full). */
void redis_client__learn_node(redis_client_t *c, const redis_node_t *n);
/** The client's own link is up. */
int redis_client__link_up(const redis_client_t *c);

/* From redis_cluster.c, for redis_client.c. */

/** Makes `c` (whose node is a cluster node) a cluster client. `opts` are c's own options. */
redis_cluster_t *redis_cluster_new(redis_client_t *c, net_loop_t *loop, const redis_url_t *url,
                                   const redis_client_opts_t *opts);
void redis_cluster_free(redis_cluster_t *cl);
/** The control link (c's own) went up or down. */
void redis_cluster_control(redis_cluster_t *cl, int up);
int redis_cluster_cmd(redis_cluster_t *cl, redis_reply_cb cb, void *data, int argc,
                      const char **argv, const size_t *lens);
int redis_cluster_up(const redis_cluster_t *cl);
void redis_cluster_describe(const redis_cluster_t *cl, char *out, size_t cap);
long long redis_cluster_rtt_us(const redis_cluster_t *cl);
unsigned long long redis_cluster_drops(const redis_cluster_t *cl);
void redis_cluster_reset(redis_cluster_t *cl);
void redis_cluster_retry_now(redis_cluster_t *cl);

#endif
