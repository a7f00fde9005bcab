/*
 * adapter_queue.c - the publisher's outage queue (adapter_internal.h).
 *
 * A broadcast, a socketsJoin / Leave / disconnectSockets, an XADD or a
 * session write made while the publisher link is down is kept here, in
 * order, and sent when the link is back, so a Redis restart shorter than
 * the queue loses no message. The queue is bounded by count and by bytes
 * (--adapter-queue-max, --adapter-queue-bytes); past either bound the
 * oldest command is dropped (counted, logged at most once a second) and its
 * callback gets NULL, so what is still queued is a contiguous, ordered tail.
 *
 * When to send. In streams mode, at once: the entries land in the stream
 * and every reader resumes from its last entry id. In the Pub/Sub modes a
 * message published before a peer's subscriber is back is lost for that
 * peer, so once the link is up again the queue (and every publish made
 * meanwhile, to keep the order) waits until as many servers are subscribed
 * to the namespace's channel as before the outage (PUBSUB NUMSUB, or
 * SHARDNUMSUB, polled every QUEUE_POLL_MS), or QUEUE_WAIT_MS at most (a peer
 * that died during the outage does not come back).
 *
 * Requests and responses (fetchSockets, serverSideEmit, acks) are not queued:
 * they have their own timeout. Loop thread only.
 */
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_internal.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "worker.h"

#define QUEUE_POLL_MS 50
#define QUEUE_WAIT_MS 3000
#define QUEUE_MAX_ARGC 16
#define LIVE_MEMBER_MS 5000 /* a worker is live while its membership is this recent */

/* One command: its argument lengths and bytes follow in the same allocation. */
typedef struct queued {
    sioc_list_t link;
    redis_reply_cb cb;
    void *data;
    size_t bytes;
    int argc;
    size_t lens[];
} queued_t;

static void fill_argv(const queued_t *q, const char **argv)
{
    const char *p = (const char *)(q->lens + q->argc);
    for (int k = 0; k < q->argc; k++) {
        argv[k] = p;
        p += q->lens[k];
    }
}

static void drop_head(adapter_t *a)
{
    queued_t *q = container_of(a->queue.next, queued_t, link);
    list_remove(&q->link);
    a->queue_n--;
    a->queue_bytes -= q->bytes;
    a->queue_dropped++;
    a->publish_dropped++;
    static long long last;
    if (log_ratelimited(&last))
        log_warn("redis outage queue full (%zu publishes, %zu bytes): the oldest dropped; "
                 "other workers miss it",
                 a->queue_n, a->queue_bytes);
    redis_reply_cb cb = q->cb;
    void *data = q->data;
    free(q);
    if (cb != NULL)
        cb(NULL, NULL, data);
}

static int queue_push(adapter_t *a, redis_reply_cb cb, void *data, int argc, const char **argv,
                      const size_t *lens)
{
    const worker_config_t *cf = a->w->conf;
    if (argc > QUEUE_MAX_ARGC)
        return SIOC_EINVAL;
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += lens != NULL ? lens[i] : strlen(argv[i]);
    if ((long)bytes > cf->adapter_queue_bytes)
        return SIOC_EMSGSIZE;
    queued_t *q = try_malloc(sizeof(*q) + (size_t)argc * sizeof(size_t) + bytes);
    if (q == NULL)
        return SIOC_ENOMEM;
    q->cb = cb;
    q->data = data;
    q->bytes = bytes;
    q->argc = argc;
    char *p = (char *)(q->lens + argc);
    for (int i = 0; i < argc; i++) {
        q->lens[i] = lens != NULL ? lens[i] : strlen(argv[i]);
        memcpy(p, argv[i], q->lens[i]);
        p += q->lens[i];
    }
    while (a->queue_n > 0 && ((long)a->queue_n + 1 > cf->adapter_queue_max ||
                              (long)(a->queue_bytes + bytes) > cf->adapter_queue_bytes))
        drop_head(a);
    list_insert_tail(&a->queue, &q->link);
    a->queue_n++;
    a->queue_bytes += bytes;
    a->queued_total++;
    if (a->queue_n == 1 && !a->queue_logged) {
        a->queue_logged = 1;
        log_warn("redis publisher link down: publishes queued until it is back");
    }
    return 0;
}

static void queue_flush(adapter_t *a)
{
    size_t sent = 0;
    while (!list_empty(&a->queue) && redis_client_up(a->pub)) {
        queued_t *q = container_of(a->queue.next, queued_t, link);
        const char *argv[QUEUE_MAX_ARGC];
        fill_argv(q, argv);
        int r = redis_client_cmd(a->pub, q->cb, q->data, q->argc, argv, q->lens);
        if (r == SIOC_ECONNRESET)
            break; /* down again: stays at the head */
        list_remove(&q->link);
        a->queue_n--;
        a->queue_bytes -= q->bytes;
        if (r == 0) {
            /* sioc_redis_published_total counts messages, not session writes */
            int session = q->lens[0] == 3 &&
                          (memcmp(argv[0], "SET", 3) == 0 || memcmp(argv[0], "DEL", 3) == 0);
            if (!session)
                a->published++;
            sent++;
        } else {
            a->queue_dropped++;
            a->publish_dropped++;
            if (q->cb != NULL)
                q->cb(NULL, NULL, q->data);
        }
        free(q);
    }
    if (sent > 0)
        log_info("redis publisher back: %zu queued publishes sent", sent);
    if (list_empty(&a->queue))
        a->queue_logged = 0;
}

static void gate_open(adapter_t *a)
{
    a->queue_gate = 0;
    event_del(&a->queue_timer);
    queue_flush(a);
}

static void gate_poll(adapter_t *a);

/* Every answer of one poll is in: open the gate or poll again. The gate waits until as many
 * servers subscribe to the namespace's channel as before the outage: the most counted by the
 * last PUBSUB NUMSUB before it (peers, learned each second) or live in the membership when it
 * began (written at once by a worker whose publisher comes up, so a worker started a moment
 * before the outage is counted too). On a Redis Cluster the count of subscribers to one channel
 * says nothing of the channels on the primary that failed over: there the gate also waits until
 * every live worker has said that its subscriptions are back (SUBSCRIBED_KEY, adapter.c). */
static void gate_decide(adapter_t *a)
{
    a->gate_polling = 0;
    if (!a->queue_gate)
        return;
    int cluster = redis_client_is_cluster(a->pub);
    long long subs = a->gate_subs.n, live = a->gate_live.n, announced = a->gate_announced.n;
    long long need = a->peers > live ? a->peers : live;
    int subs_back = need <= 1 || subs >= need; /* alone: nobody else to wait for */
    int all_back = !cluster || (announced >= 0 && announced >= live);
    if ((subs_back && all_back) || clock_ms() - a->gate_since_ms >= QUEUE_WAIT_MS) {
        if (!subs_back)
            log_warn("redis publisher back: %lld of %lld servers subscribed again after %d ms; "
                     "sending the queue",
                     subs, need, QUEUE_WAIT_MS);
        else if (!all_back)
            log_warn("redis publisher back: %lld of %lld workers said their subscriptions are "
                     "back after %d ms; sending the queue",
                     announced, live, QUEUE_WAIT_MS);
        else
            log_info("redis publisher back: %lld of %lld servers subscribed%s after %lld ms", subs,
                     need, cluster ? ", every worker's subscriptions back" : "",
                     clock_ms() - a->gate_since_ms);
        gate_open(a);
        return;
    }
    struct timeval tv = {0, QUEUE_POLL_MS * 1000};
    event_add(&a->queue_timer, &tv);
}

/* One answer of a gate poll: an integer, or PUBSUB NUMSUB's [channel, count]. */
static void on_gate_count(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    struct gate_count *g = data;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 2)
        r = r->element[1];
    g->n = r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (--g->a->gate_answers == 0)
        gate_decide(g->a);
}

static const char *gate_channel(adapter_t *a)
{
    nsp_state_t *n = &a->ns[0];
    return a->cluster ? n->ch_main : n->ch_request;
}

static void gate_ask(adapter_t *a, struct gate_count *g, int argc, const char **argv)
{
    g->a = a;
    g->n = -1;
    if (redis_client_cmdv(a->pub, on_gate_count, g, argc, argv) == 0)
        a->gate_answers++;
}

static void gate_poll(adapter_t *a)
{
    if (a->gate_polling || !redis_client_up(a->pub))
        return;
    a->gate_answers = 1; /* held until every request is sent */
    a->gate_polling = 1;
    const char *numsub[] = {"PUBSUB", a->sharded ? "SHARDNUMSUB" : "NUMSUB", gate_channel(a)};
    gate_ask(a, &a->gate_subs, 3, numsub);
    char live[32], since[32];
    /* the workers that were live when the outage began */
    snprintf(live, sizeof(live), "%lld", a->gate_closed_unix_ms - LIVE_MEMBER_MS);
    const char *zl[] = {"ZCOUNT", MEMBERSHIP_KEY, live, "+inf"};
    gate_ask(a, &a->gate_live, 4, zl);
    a->gate_announced.n = -1;
    if (redis_client_is_cluster(a->pub)) {
        snprintf(since, sizeof(since), "%lld", a->gate_closed_unix_ms);
        const char *za[] = {"ZCOUNT", SUBSCRIBED_KEY, since, "+inf"};
        gate_ask(a, &a->gate_announced, 4, za);
    }
    if (--a->gate_answers == 0)
        gate_decide(a);
}

static void on_queue_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gate_poll(arg);
}

static void on_peers(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    adapter_t *a = data;
    if (r != NULL && !a->queue_gate && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
        r->element[1]->type == REDIS_REPLY_INTEGER)
        a->peers = r->element[1]->integer;
}

void adapter__queue_init(adapter_t *a)
{
    list_init(&a->queue);
    event_assign(&a->queue_timer, net_loop_base(a->w->loop), -1, 0, on_queue_timer, a);
}

int adapter__pub_cmd(adapter_t *a, redis_reply_cb cb, void *data, int argc, const char **argv,
                     const size_t *lens)
{
    if (a->w->conf->adapter_queue_max == 0 ||
        (!a->queue_gate && list_empty(&a->queue) && redis_client_up(a->pub))) {
        int r = redis_client_cmd(a->pub, cb, data, argc, argv, lens);
        if (r != SIOC_ECANCELED && r != SIOC_ECONNRESET)
            return r;
        if (a->w->conf->adapter_queue_max == 0)
            return r;
        /* The link is closing and its owner is not told yet: the publish waits for it to be
         * back, as those that follow will. */
        adapter__queue_link(a, 0);
    }
    return queue_push(a, cb, data, argc, argv, lens);
}

void adapter__queue_link(adapter_t *a, int up)
{
    if (!up) {
        if (a->w->conf->adapter_queue_max > 0 && !a->queue_gate) {
            a->queue_gate = 1;
            a->gate_closed_unix_ms = clock_unix_ms();
        }
        return;
    }
    if (!a->queue_gate)
        return;
    if (a->streams) {
        log_info("redis publisher back: streams mode");
        gate_open(a); /* readers resume from their last entry id */
        return;
    }
    a->gate_since_ms = clock_ms();
    gate_poll(a);
}

void adapter__queue_tick(adapter_t *a)
{
    if (a->streams || a->queue_gate || !redis_client_up(a->pub))
        return;
    const char *argv[] = {"PUBSUB", a->sharded ? "SHARDNUMSUB" : "NUMSUB", gate_channel(a)};
    (void)redis_client_cmdv(a->pub, on_peers, a, 3, argv);
}

void adapter__queue_free(adapter_t *a)
{
    event_del(&a->queue_timer);
    while (!list_empty(&a->queue)) {
        queued_t *q = container_of(a->queue.next, queued_t, link);
        list_remove(&q->link);
        a->queue_n--;
        a->queue_bytes -= q->bytes;
        if (q->cb != NULL)
            q->cb(NULL, NULL, q->data);
        free(q);
    }
}

void adapter__queue_metrics(const adapter_t *a, sioc_buf_t *b)
{
    char line[1024];
    int n = snprintf(
        line, sizeof(line),
        "# HELP sioc_adapter_queued Publishes queued while the Redis publisher link is down\n"
        "# TYPE sioc_adapter_queued gauge\nsioc_adapter_queued %zu\n"
        "# HELP sioc_adapter_queued_bytes Bytes of the queued publishes\n"
        "# TYPE sioc_adapter_queued_bytes gauge\nsioc_adapter_queued_bytes %zu\n"
        "# HELP sioc_adapter_queued_total Publishes that went through the outage queue\n"
        "# TYPE sioc_adapter_queued_total counter\nsioc_adapter_queued_total %llu\n"
        "# HELP sioc_adapter_queue_dropped_total Queued publishes dropped (queue full)\n"
        "# TYPE sioc_adapter_queue_dropped_total counter\nsioc_adapter_queue_dropped_total %llu\n",
        a->queue_n, a->queue_bytes, a->queued_total, a->queue_dropped);
    if (n > 0 && (size_t)n < sizeof(line))
        (void)!buf_append(b, line, (size_t)n);
}
