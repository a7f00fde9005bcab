/*
 * discovery.h - the worker set as published in Redis (cluster contract).
 *
 * Workers ZADD `<worker-id>@<host>:<port>` (followed by `@<path>` when they take
 * websocket clients through a hand-off socket, net/handoff.h) to the sorted set `sioc:workers`
 * with the unix time in ms as score every second and ZREM themselves when
 * they drain. Every --discovery-interval this module asks
 * `ZRANGEBYSCORE sioc:workers <now - stale> +inf` on the loop's reconnecting
 * Redis link (common/net/redis_client.h: non-blocking, liveness PINGs,
 * reconnect with backoff), parses the members and hands the complete list
 * to the callback. Members that do not parse (bad id, non-numeric host) are
 * skipped with a rate-limited warning. While Redis is unreachable the
 * callback is not called, so the last known set stays (health checks still
 * run on it). Loop thread only.
 */
#ifndef SIOC_PROXY_DISCOVERY_H
#define SIOC_PROXY_DISCOVERY_H

#include <stddef.h>

#include "workers.h"

#include "net/loop.h"
#include "net/redis_url.h"

typedef struct discovery discovery_t;

/** Called after each successful poll with the complete member list (borrowed for the call). */
typedef void (*discovery_cb)(discovery_t *d, const workers_member_t *m, size_t n, void *data);

/**
 * Starts polling the Redis deployment `url` (redis_url.h: a node, seed nodes, sentinels,
 * TLS; use numeric hosts or /etc/hosts names: the lookup blocks). Returns the poller
 * (owned; discovery_free()) or NULL with a message in err (TLS files that do not load).
 * Borrows url and key (both copied); `data` is passed to cb.
 */
discovery_t *discovery_new(net_loop_t *loop, const redis_url_t *url, const char *key,
                           long interval_ms, long stale_ms, discovery_cb cb, void *data, char *err,
                           size_t errlen);

/** Stops polling and frees (pending replies are dropped). */
void discovery_free(discovery_t *d);

/** Whether the last poll answered within three intervals. */
int discovery_ok(const discovery_t *d);

/** Polls that failed (connection errors, error replies), for /metrics. */
unsigned long long discovery_failures(const discovery_t *d);

/**
 * Parses one member "<id>@<host>:<port>[@<absolute path>]" (numeric host) into *m (m->id,
 * m->addr and m->handoff are slices of text). Returns 0 or SIOC_EINVAL. Borrows text.
 */
int discovery_parse_member(sioc_iov_t text, workers_member_t *m);

#endif
