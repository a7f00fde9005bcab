/*
 * redis_client.h - a reconnecting Redis connection on the loop.
 *
 * I/O runs on conn.h; the RESP protocol is hiredis's pure reader and
 * command formatter (read.h, redisFormatCommandArgv), so nothing here ever
 * blocks the loop except the name lookup of a non-numeric host, done once
 * per connect attempt (use numeric addresses or /etc/hosts names).
 *
 * Two kinds: a command client matches replies to commands in order; a
 * subscriber client hands every pushed message (message, pmessage,
 * smessage, and the (un)subscribe confirmations) to the push callback. The
 * owner re-issues its subscriptions from the state callback each time the
 * link comes up: nothing is remembered here, so nothing can be forgotten
 * silently.
 *
 * Addresses (redis_url.h): with several seed nodes, each connect attempt
 * takes the next one after a failure and accepts only a primary (ROLE).
 * With sentinels, each connect attempt first asks a sentinel for the
 * primary (SENTINEL get-master-addr-by-name), then connects there and
 * checks its ROLE; a watcher link per client subscribes to +switch-master
 * on a sentinel and drops the link (or retries at once) when the primary
 * moves. rediss:// links run TLS (tls.h) with the peer verified. When the
 * node is a Redis Cluster node (INFO cluster), the client becomes a cluster
 * client and routes every command by its key's hash slot
 * (redis_cluster.h); its owner sees one client as before.
 *
 * Liveness: a PING every ping interval; a PING unanswered after the
 * liveness timeout (a stopped or half-open Redis) drops the link. Dropped
 * links reconnect at once, then with exponential backoff and jitter. While the link is
 * down, commands fail at once (their callback gets NULL): what waits for
 * Redis is bounded by the pending-command cap and the output cap.
 * Every registered reply callback runs exactly once, with NULL on failure
 * or teardown. Loop thread only.
 */
#ifndef SIOC_COMMON_NET_REDIS_CLIENT_H
#define SIOC_COMMON_NET_REDIS_CLIENT_H

#include <stddef.h>

#include "loop.h"
#include "redis_url.h"

struct redisReply;

typedef struct redis_client redis_client_t;

/** A command's reply (NULL when the link failed or the client is freed). The reply is
 * borrowed for the duration of the call. */
typedef void (*redis_reply_cb)(redis_client_t *c, struct redisReply *reply, void *data);
/** A pushed message on a subscriber client (an array reply, borrowed). */
typedef void (*redis_push_cb)(redis_client_t *c, struct redisReply *reply, void *data);
/** The link went up (authenticated, database selected) or down. */
typedef void (*redis_state_cb)(redis_client_t *c, int up, void *data);

typedef struct {
    int subscriber;           /* 1: subscriber client (push messages) */
    const char *name;         /* for logs and CLIENT SETNAME; borrowed */
    long ping_interval_ms;    /* default 1000 */
    long liveness_timeout_ms; /* default 3000 */
    size_t max_pending;       /* commands awaiting a reply; default 100000 */
    size_t max_output;        /* bytes queued to Redis; default 64 MiB */
    redis_state_cb on_state;
    redis_push_cb on_push;
    void *data;
} redis_client_opts_t;

/** Checks what a client made from `url` needs before it connects (for now: its TLS
 * files load). Returns 0, or SIOC_EINVAL with a message in err[0..errlen). */
int redis_client_check(const redis_url_t *url, char *err, size_t errlen);

/** Creates a client and starts connecting. `url` and `opts` are copied (name borrowed). */
redis_client_t *redis_client_new(net_loop_t *loop, const redis_url_t *url,
                                 const redis_client_opts_t *opts);
/** Fails pending callbacks (NULL) and frees. Not from inside one of its own callbacks. */
void redis_client_free(redis_client_t *c);

/** Sends a command of `argc` binary-safe arguments. `cb` may be NULL (fire and forget).
 * Returns 0, or a negative SIOC_E* when the link is down or a cap is reached (then `cb` is
 * not called). */
int redis_client_cmd(redis_client_t *c, redis_reply_cb cb, void *data, int argc, const char **argv,
                     const size_t *lens);
/** Convenience for NUL-terminated arguments. */
int redis_client_cmdv(redis_client_t *c, redis_reply_cb cb, void *data, int argc,
                      const char **argv);
/** Whether the link is up. */
int redis_client_up(const redis_client_t *c);
/** Writes where the link stands for humans (/ready): "up on host:port", "connecting to
 * [sentinel |primary ]host:port" or "down, retrying", followed by " (<URL, password masked>)".
 * Borrows c. */
void redis_client_describe(const redis_client_t *c, char *out, size_t cap);
/** Round-trip time of the last PING, in microseconds (-1 before the first). */
long long redis_client_rtt_us(const redis_client_t *c);
/** Times the link went down since start. */
unsigned long long redis_client_drops(const redis_client_t *c);
/** Drops the link now and reconnects (tests, and liveness failures). */
void redis_client_reset(redis_client_t *c);
/** A link waiting to reconnect tries again now (from the next loop turn) and restarts its
 * backoff: for the owner's other links when one of them has just come up. No-op otherwise. */
void redis_client_retry_now(redis_client_t *c);
/** Whether the client found a Redis Cluster (commands are routed by hash slot). */
int redis_client_is_cluster(const redis_client_t *c);

#endif
