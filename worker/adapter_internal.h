/*
 * adapter_internal.h - what adapter.c (Pub/Sub, requests, readiness) and
 * adapter_streams.c (the streams mode's stream readers, XADD and connection
 * state recovery) share: the adapter's state and the helpers each side
 * calls in the other. Not a public interface: adapter.h is. Loop thread only.
 */
#ifndef SIOC_WORKER_ADAPTER_INTERNAL_H
#define SIOC_WORKER_ADAPTER_INTERNAL_H

#include <event2/event_struct.h>
#include <stddef.h>

#include "adapter.h"
#include "adapter/adapter_msg.h"
#include "base/buf.h"
#include "base/hmap.h"
#include "base/list.h"
#include "net/redis_client.h"
#include "sio.h"

#define MAX_ATT 64

typedef struct stream_reader stream_reader_t;

typedef struct nsp_state {
    sio_nsp_t *nsp;          /* the slot's namespace (kept after a dynamic one is removed) */
    int live;                /* a configured namespace, or a dynamic one that exists now */
    int dyn_pending;         /* dynamic: its subscriptions not confirmed yet */
    sioc_list_t dyn_waiters; /* dynamic: joins waiting for those confirmations */
    stream_reader_t *stream; /* streams mode: the stream of this namespace */
    char uid[17];
    char *ch_main;         /* key#nsp# */
    char *ch_pattern;      /* key#nsp#* (classic) */
    char *ch_request;      /* key-request#nsp# (classic) */
    char *ch_response;     /* key-response#nsp# (classic) */
    char *ch_response_uid; /* classic: key-response#nsp#uid#; sharded: key#nsp#uid# */
} nsp_state_t;

/* Streams mode: one blocking XREAD chain per stream, on its own link. */
struct stream_reader {
    adapter_t *a;
    redis_client_t *link;
    char *key;
    char last_id[48];    /* the last entry delivered ("" until the first XREVRANGE) */
    char own_last[48];   /* our newest entry delivered here at its XADD reply ("": none) */
    sioc_list_t waiting; /* restores waiting for this reader to reach their last entry */
    unsigned long long read, added;
    long long lag_ms; /* age of the last entry read when it was read */
};

struct adapter {
    worker_t *w;
    redis_client_t *pub, *sub;
    int sharded;
    int streams; /* streams mode (requests and responses in the sharded format, on PUBLISH) */
    int cluster; /* sharded || streams: the ClusterAdapter message format */
    stream_reader_t *readers;
    size_t n_readers;
    sioc_buf_t entry_scratch, entry_data, offset_json;
    sioc_iov_t cur_offset; /* the id of the stream entry being handled, else base NULL */
    long long refresh_due_ms;
    unsigned long long rec_results[4], rec_replayed, sessions_written;
    sioc_iov_t key;
    nsp_state_t *ns;
    size_t n_ns;
    hmap_t room_subs;
    sioc_list_t ready_waiters;
    hmap_t requests;
    int subs_expected, subs_confirmed;
    int ready;
    long long last_health_ms;
    long long health_sent_ms;
    struct event tick;
    char member[256]; /* <id>@<host>:<port>[@<hand-off path>] */
    char health_ch[64];
    adapter_msg_ctx_t ctx;
    sioc_buf_t json;
    sioc_iov_t att_v[MAX_ATT];
    unsigned long long published, publish_dropped, publish_unconfirmed, received, decode_errors,
        requests_timed_out, link_downs;
    /* the publisher's outage queue (adapter_queue.c) */
    sioc_list_t queue;
    size_t queue_n, queue_bytes;
    int queue_gate;   /* 1: publishes wait (link down, or peers not subscribed again yet) */
    int gate_polling; /* a PUBSUB NUMSUB of the gate is in flight */
    int queue_logged;
    long long gate_since_ms;
    long long gate_closed_unix_ms; /* when the publisher link went down */
    int gate_answers;              /* replies of one gate poll still awaited */
    /* one gate poll's counts (-1: no answer): subscribers to the namespace's channel, workers
     * live when the outage began, workers that said their subscriptions are back (cluster) */
    struct gate_count {
        struct adapter *a;
        long long n;
    } gate_subs, gate_live, gate_announced;
    int announce_pending;         /* cluster: subscribed again, not yet announced */
    long long subscribed_trim_ms; /* cluster: when SUBSCRIBED_KEY was last trimmed */
    size_t room_subs_unconfirmed; /* room channels subscribed again, not confirmed yet */
    long long peers; /* servers subscribed to the namespace's channel before the outage */
    struct event queue_timer;
    unsigned long long queued_total, queue_dropped;
};

static inline nsp_state_t *adapter__ns_of(adapter_t *a, sio_nsp_t *nsp)
{
    return &a->ns[sio_nsp_index(nsp)];
}

/* adapter.c */

/** A channel name of `kind` (ADAPTER_MSG_CH_*), malloc'd. */
char *adapter__channel_name(adapter_t *a, int kind, sioc_iov_t nsp, sioc_iov_t extra);
/** Points `att` at the adapter's attachment array and empties the JSON scratch. */
void adapter__reset_scratch(adapter_t *a, adapter_msg_att_t *att);
/** Acts on a ClusterAdapter message of namespace `n` (own messages ignored). */
void adapter__on_cluster_message(adapter_t *a, nsp_state_t *n, sioc_iov_t channel,
                                 adapter_msg_shard_t m);
/** One link came up: the others that wait to reconnect try again now. */
void adapter__links_kick(adapter_t *a);
/** Recomputes readiness (/ready) from the links, subscriptions and readers. */
void adapter__update_ready(adapter_t *a);

/* adapter_queue.c */

/** Sets up the (empty) outage queue. */
void adapter__queue_init(adapter_t *a);
/** Sends a command on the publisher link, or queues it while the link is down or the queue
 * waits (copies the arguments). `cb` gets the reply, or NULL if the command is dropped from
 * the queue or the adapter is freed. 0 when sent or queued, else SIOC_E* (`cb` not called). */
int adapter__pub_cmd(adapter_t *a, redis_reply_cb cb, void *data, int argc, const char **argv,
                     const size_t *lens);
/** The publisher link went down (0) or up (1). */
void adapter__queue_link(adapter_t *a, int up);
/** Every second: counts the servers subscribed to the namespace's channel. */
void adapter__queue_tick(adapter_t *a);
/** Fails the queued callbacks (NULL) and frees the queue (before the publisher link). */
void adapter__queue_free(adapter_t *a);
/** Appends the queue's metrics. */
void adapter__queue_metrics(const adapter_t *a, sioc_buf_t *b);
/** The reply to a publish: counts it in sioc_redis_publish_unconfirmed_total when Redis did not
 * confirm it (NULL: the link dropped with it in flight; or an error). `data` is the adapter. */
void adapter__on_publish_reply(redis_client_t *c, struct redisReply *r, void *data);
/** On a Redis Cluster: tells the peers (SUBSCRIBED_KEY) that every subscription is back, once
 * it is. */
void adapter__announce_subscribed(adapter_t *a);

/* Keys of every sioc worker on this Redis (ZSETs, member "<id>@<host>:<port>[@<path>]"):
 * the live ones (score: unix ms of the last tick; the proxy's discovery reads it), and those
 * whose subscriptions are back after their subscriber link dropped (score: when). */
#define MEMBERSHIP_KEY "sioc:workers"
#define SUBSCRIBED_KEY "sioc:subscribed"

/* adapter_streams.c */

/** Opens one reader per stream of the namespaces and, with recovery on, installs the
 * cluster-wide recovery store. */
void adapter__streams_start(adapter_t *a, const redis_url_t *url);
/** Uninstalls the recovery store (start of adapter_free). */
void adapter__streams_stop(adapter_t *a);
/** Ends waiting restores and frees the readers (after the publisher link is freed). */
void adapter__streams_free(adapter_t *a);
/** Whether every reader's link is up. */
int adapter__streams_ready(const adapter_t *a);
/** Every second: session TTL refresh, restores stuck behind a reader. */
void adapter__streams_tick(adapter_t *a);
/** The publisher link came up: refuse to share the prefix with a classic-mode node; after an
 * outage, write the sessions of connected sockets again. */
void adapter__streams_pub_up(adapter_t *a);
/** Appends the readers' and the recovery's metrics. */
void adapter__streams_metrics(const adapter_t *a, sioc_buf_t *b);
/** XADDs message `m` to the stream of `n`; `cb` (may be NULL) gets the entry id. 0 or
 * SIOC_E* (then `cb` is not called). */
int adapter__stream_add(adapter_t *a, nsp_state_t *n, const adapter_msg_shard_t *m,
                        redis_reply_cb cb, void *data);
/** Points a new dynamic namespace at the reader of its stream: 0, or -1 when no reader
 * reads that stream (--redis-stream-count > 1 and no configured namespace hashes there). */
int adapter__streams_attach(adapter_t *a, nsp_state_t *n);
/** Whether connection state recovery runs through the stream. */
int adapter__recovery_on(const adapter_t *a);
/** Appends `json` (a JSON array) with the string `offset` as its last element. */
int adapter__with_offset(sioc_buf_t *b, sioc_iov_t json, sioc_iov_t offset);

#endif
