/*
 * redis_cluster_map.h - what a Redis Cluster client must know without I/O:
 * the hash slot of a key, which argument of a command is its key, the slot
 * map read from CLUSTER SHARDS (Redis 7.0+) or CLUSTER SLOTS, and the
 * MOVED / ASK redirections.
 *
 * The slot of a key is CRC16 (XMODEM) of the key, or of its hash tag (the
 * bytes between the first '{' and the next '}', when not empty), modulo
 * 16384: the same function as the server's, so both sides agree on every
 * channel and stream name. Replies are hiredis reply trees, read as
 * untrusted input: malformed ones are refused with a message, never
 * half-applied. Pure: no I/O, no allocation.
 */
#ifndef SIOC_COMMON_NET_REDIS_CLUSTER_MAP_H
#define SIOC_COMMON_NET_REDIS_CLUSTER_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "redis_url.h"

struct redisReply;

#define REDIS_CLUSTER_SLOTS 16384
#define REDIS_CLUSTER_MAX_NODES 64 /* primaries with slots */
#define REDIS_CLUSTER_NO_NODE 0xff

/** The hash slot of `key`. */
unsigned redis_key_slot(const char *key, size_t len);

enum {
    REDIS_KEY_NONE = -1, /* any node answers it (PING, INFO, PUBLISH of no channel) */
    REDIS_KEY_ALL = -2,  /* every primary must answer; the counts are summed (PUBSUB NUMSUB) */
};

/** The index in argv of the argument whose slot routes the command (its first key, or the
 * channel of a publish or subscription), or REDIS_KEY_NONE / REDIS_KEY_ALL. `lens` may be
 * NULL (NUL-terminated arguments). */
int redis_cmd_key_index(int argc, const char **argv, const size_t *lens);

typedef struct {
    size_t n_nodes;
    redis_node_t nodes[REDIS_CLUSTER_MAX_NODES]; /* the primaries that own slots */
    uint8_t slot_node[REDIS_CLUSTER_SLOTS];      /* index in nodes, or REDIS_CLUSTER_NO_NODE */
    size_t n_assigned;                           /* slots with an owner */
} redis_cluster_map_t;

/** Reads a CLUSTER SHARDS reply into *m. `tls`: the nodes' "tls-port" is used where given.
 * Returns 0, or SIOC_EINVAL with a message in err[0..errlen) (m is then unspecified). */
int redis_cluster_map_from_shards(const struct redisReply *r, int tls, redis_cluster_map_t *m,
                                  char *err, size_t errlen);
/** Reads a CLUSTER SLOTS reply into *m. Returns as redis_cluster_map_from_shards(). */
int redis_cluster_map_from_slots(const struct redisReply *r, redis_cluster_map_t *m, char *err,
                                 size_t errlen);

/** Parses the error "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" (`s` is the
 * error text, not necessarily NUL-terminated). Returns 0 with *ask, *slot and *to set, or
 * SIOC_EINVAL for any other error. */
int redis_cluster_parse_redirect(const char *s, size_t len, int *ask, unsigned *slot,
                                 redis_node_t *to);

#endif
