/*
 * redis_cluster.c - a redis_client spread over the primaries of a Redis
 * Cluster (redis_cluster.h).
 */
#include "redis_cluster.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/hmap.h"
#include "base/list.h"
#include "base/log.h"
#include "redis_cluster_map.h"

#define TICK_MS 250     /* map checks while something is missing */
#define REFRESH_MS 5000 /* map checks while all is well */
#define MAX_REDIRECTS 5 /* MOVED / ASK hops per command */
#define MAX_NUMSUB_CHANNELS 16

typedef struct cnode {
    redis_cluster_t *cl;
    redis_node_t addr;
    redis_client_t *link;
    char name[320];
} cnode_t;

/* A sharded subscription the owner holds: where it is subscribed now. */
typedef struct shard_sub {
    hmap_node_t node; /* key: channel */
    cnode_t *on;      /* the node it was sent to; NULL when its slot moved away */
    int resub;        /* our own re-subscription: its confirmation is not the owner's */
    size_t len;
    char channel[];
} shard_sub_t;

/* A command in flight, kept whole so that a redirection can send it again. */
typedef struct ccmd {
    sioc_list_t link; /* in waiting while the map is read again */
    redis_cluster_t *cl;
    redis_reply_cb cb;
    void *data;
    int redirects;
    int argc;
    const char **argv;
    size_t *lens;
} ccmd_t;

/* PUBSUB NUMSUB sent to every primary. */
typedef struct numsub {
    redis_cluster_t *cl;
    redis_reply_cb cb;
    void *data;
    int left, failed;
    size_t n;
    long long sums[MAX_NUMSUB_CHANNELS];
    char *names[MAX_NUMSUB_CHANNELS];
    size_t lens[MAX_NUMSUB_CHANNELS];
} numsub_t;

struct redis_cluster {
    sioc_list_t all;   /* every cluster client of the process */
    redis_client_t *c; /* the client the owner holds; its own link is the control link */
    net_loop_t *loop;
    redis_url_t url;
    redis_client_opts_t opts; /* the owner's */
    char shown[640];
    redis_cluster_map_t *map; /* NULL before the first */
    cnode_t *nodes[REDIS_CLUSTER_MAX_NODES];
    size_t n_nodes;
    int up;
    int refreshing, want_refresh, use_slots;
    long long last_refresh_ms;
    unsigned long long drops;
    struct event tick;
    hmap_t shard_subs;
    sioc_list_t waiting; /* ccmd_t: redirected to a node not in the map yet */
};

static void refresh(redis_cluster_t *cl);

/* A process's cluster clients share what one of them learns: when one finds the map changed
 * (a failover, a slot moved), the others read it at once instead of at their next check, so a
 * publisher follows as soon as a subscriber is told its channel moved. */
static sioc_list_t all_clusters = {&all_clusters, &all_clusters};

/* ------------------------------------------------------------------ */

static cnode_t *node_for_slot(const redis_cluster_t *cl, unsigned slot)
{
    if (cl->map == NULL)
        return NULL;
    uint8_t i = cl->map->slot_node[slot];
    return i == REDIS_CLUSTER_NO_NODE || i >= cl->n_nodes ? NULL : cl->nodes[i];
}

static cnode_t *node_by_addr(const redis_cluster_t *cl, const redis_node_t *a)
{
    for (size_t i = 0; i < cl->n_nodes; i++)
        if (cl->nodes[i]->addr.port == a->port && strcmp(cl->nodes[i]->addr.host, a->host) == 0)
            return cl->nodes[i];
    return NULL;
}

static int node_up(const cnode_t *n)
{
    return n != NULL && redis_client_up(n->link);
}

static cnode_t *any_up_node(const redis_cluster_t *cl)
{
    for (size_t i = 0; i < cl->n_nodes; i++)
        if (node_up(cl->nodes[i]))
            return cl->nodes[i];
    return NULL;
}

/* The node a command's routing argument maps to. */
static cnode_t *node_for_key(const redis_cluster_t *cl, const char *key, size_t len)
{
    return node_for_slot(cl, redis_key_slot(key, len));
}

static void update_state(redis_cluster_t *cl)
{
    int up = cl->map != NULL && cl->map->n_assigned == REDIS_CLUSTER_SLOTS;
    for (size_t i = 0; up && i < cl->n_nodes; i++)
        up = node_up(cl->nodes[i]);
    if (up == cl->up)
        return;
    cl->up = up;
    if (up) {
        log_info("redis %s: cluster up: %zu primaries, %zu slots", cl->opts.name, cl->n_nodes,
                 cl->map->n_assigned);
    } else {
        cl->drops++;
        log_warn("redis %s: cluster link down (a primary is unreachable or the map changed); "
                 "reconnecting",
                 cl->opts.name);
    }
    if (cl->opts.on_state != NULL)
        cl->opts.on_state(cl->c, up, cl->opts.data);
}

/* ------------------------------------------------------------------ */
/* Commands                                                             */

static ccmd_t *ccmd_new(redis_cluster_t *cl, redis_reply_cb cb, void *data, int argc,
                        const char **argv, const size_t *lens)
{
    size_t bytes = 0;
    for (int i = 0; i < argc; i++)
        bytes += lens != NULL ? lens[i] : strlen(argv[i]);
    size_t head = sizeof(ccmd_t) + (size_t)argc * (sizeof(char *) + sizeof(size_t));
    ccmd_t *cc = try_malloc(head + bytes);
    if (cc == NULL)
        return NULL;
    cc->cl = cl;
    cc->cb = cb;
    cc->data = data;
    cc->redirects = 0;
    cc->argc = argc;
    cc->argv = (const char **)(cc + 1);
    cc->lens = (size_t *)(cc->argv + argc);
    char *p = (char *)(cc->lens + argc);
    for (int i = 0; i < argc; i++) {
        size_t n = lens != NULL ? lens[i] : strlen(argv[i]);
        memcpy(p, argv[i], n);
        cc->argv[i] = p;
        cc->lens[i] = n;
        p += n;
    }
    list_init(&cc->link);
    return cc;
}

static void ccmd_done(ccmd_t *cc, redisReply *r)
{
    if (cc->cb != NULL)
        cc->cb(cc->cl->c, r, cc->data);
    free(cc);
}

static void on_node_reply(redis_client_t *link, redisReply *r, void *data);

static int ccmd_send(cnode_t *n, ccmd_t *cc)
{
    if (!node_up(n))
        return SIOC_ECONNRESET;
    return redis_client_cmd(n->link, on_node_reply, cc, cc->argc, cc->argv, cc->lens);
}

static int arg_eq(const char *a, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(a, word, n) == 0;
}

/* Classic pub/sub (PUBLISH, SUBSCRIBE, PSUBSCRIBE and their undoing) is cluster-wide: any node
 * serves it. All of it goes to the primary of one anchor slot, so that publishers and
 * subscribers share one node, as on a single Redis: a primary that fails takes either all of
 * it (publishes in flight fail and are counted; the subscriptions go and come back together)
 * or none of it, never a publish confirmed by one node for subscribers lost with another. */
#define PUBSUB_ANCHOR_SLOT 0

static int is_classic_pubsub(const char *cmd, size_t n)
{
    return arg_eq(cmd, n, "PUBLISH") || arg_eq(cmd, n, "SUBSCRIBE") ||
           arg_eq(cmd, n, "PSUBSCRIBE") || arg_eq(cmd, n, "UNSUBSCRIBE") ||
           arg_eq(cmd, n, "PUNSUBSCRIBE");
}

/* The node a command goes to by the current map. */
static cnode_t *route(const redis_cluster_t *cl, int argc, const char **argv, const size_t *lens)
{
    if (is_classic_pubsub(argv[0], lens != NULL ? lens[0] : strlen(argv[0])))
        return node_for_slot(cl, PUBSUB_ANCHOR_SLOT);
    int k = redis_cmd_key_index(argc, argv, lens);
    if (k < 0 || k >= argc)
        return any_up_node(cl);
    return node_for_key(cl, argv[k], lens != NULL ? lens[k] : strlen(argv[k]));
}

static void on_node_reply(redis_client_t *link, redisReply *r, void *data)
{
    (void)link;
    ccmd_t *cc = data;
    redis_cluster_t *cl = cc->cl;
    if (r != NULL && r->type == REDIS_REPLY_ERROR &&
        (strncmp(r->str, "MOVED ", 6) == 0 || strncmp(r->str, "ASK ", 4) == 0)) {
        int ask = 0;
        unsigned slot;
        redis_node_t to;
        int parsed = redis_cluster_parse_redirect(r->str, r->len, &ask, &slot, &to) == 0;
        if (!ask) {
            cl->want_refresh = 1;
            refresh(cl);
        }
        /* A sharded publish to a slot being migrated: the importing primary that ASK names
         * has none of the channel's subscribers yet (they move with the slot), so following
         * it would deliver to nobody. The error goes to the caller, which counts it. */
        int spublish = arg_eq(cc->argv[0], cc->lens[0], "SPUBLISH");
        if (parsed && cc->redirects < MAX_REDIRECTS && !(ask && spublish)) {
            cc->redirects++;
            cnode_t *n = node_by_addr(cl, &to);
            if (ask && node_up(n)) {
                const char *asking[] = {"ASKING"};
                if (redis_client_cmd(n->link, NULL, NULL, 1, asking, NULL) == 0 &&
                    ccmd_send(n, cc) == 0)
                    return;
            } else if (!ask && node_up(n)) {
                if (ccmd_send(n, cc) == 0)
                    return;
            } else if (!ask) {
                /* A primary the map does not know yet: wait for the map being read. */
                list_insert_tail(&cl->waiting, &cc->link);
                return;
            }
        }
    }
    ccmd_done(cc, r);
}

/* Commands that waited for the map: sent where it says now, or failed. */
static void flush_waiting(redis_cluster_t *cl)
{
    sioc_list_t todo;
    list_init(&todo);
    while (!list_empty(&cl->waiting)) {
        sioc_list_t *l = cl->waiting.next;
        list_remove(l);
        list_insert_tail(&todo, l);
    }
    while (!list_empty(&todo)) {
        ccmd_t *cc = container_of(todo.next, ccmd_t, link);
        list_remove(&cc->link);
        if (ccmd_send(route(cl, cc->argc, cc->argv, cc->lens), cc) != 0)
            ccmd_done(cc, NULL);
    }
}

static void numsub_reply(redis_client_t *link, redisReply *r, void *data)
{
    (void)link;
    numsub_t *ns = data;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 * ns->n)
        ns->failed = 1;
    else
        for (size_t i = 0; i < ns->n; i++)
            if (r->element[2 * i + 1]->type == REDIS_REPLY_INTEGER)
                ns->sums[i] += r->element[2 * i + 1]->integer;
    if (--ns->left > 0)
        return;
    redisReply *els[2 * MAX_NUMSUB_CHANNELS];
    redisReply items[2 * MAX_NUMSUB_CHANNELS];
    redisReply sum;
    memset(items, 0, sizeof(items));
    memset(&sum, 0, sizeof(sum));
    sum.type = REDIS_REPLY_ARRAY;
    sum.elements = 2 * ns->n;
    sum.element = els;
    for (size_t i = 0; i < ns->n; i++) {
        items[2 * i].type = REDIS_REPLY_STRING;
        items[2 * i].str = ns->names[i];
        items[2 * i].len = ns->lens[i];
        items[2 * i + 1].type = REDIS_REPLY_INTEGER;
        items[2 * i + 1].integer = ns->sums[i];
        els[2 * i] = &items[2 * i];
        els[2 * i + 1] = &items[2 * i + 1];
    }
    if (ns->cb != NULL)
        ns->cb(ns->cl->c, ns->failed ? NULL : &sum, ns->data);
    for (size_t i = 0; i < ns->n; i++)
        free(ns->names[i]);
    free(ns);
}

/* PUBSUB NUMSUB: classic subscriptions are counted per node; the cluster's count is the sum. */
static int numsub_all(redis_cluster_t *cl, redis_reply_cb cb, void *data, int argc,
                      const char **argv, const size_t *lens)
{
    size_t n = (size_t)argc - 2;
    if (n == 0 || n > MAX_NUMSUB_CHANNELS)
        return SIOC_EINVAL;
    numsub_t *ns = xcalloc(1, sizeof(*ns));
    ns->cl = cl;
    ns->cb = cb;
    ns->data = data;
    ns->n = n;
    for (size_t i = 0; i < n; i++) {
        ns->lens[i] = lens != NULL ? lens[i + 2] : strlen(argv[i + 2]);
        ns->names[i] = xmalloc(ns->lens[i] + 1);
        memcpy(ns->names[i], argv[i + 2], ns->lens[i]);
        ns->names[i][ns->lens[i]] = '\0';
    }
    /* One count for each request sent, and one held until all are sent. */
    ns->left = 1;
    for (size_t i = 0; i < cl->n_nodes; i++) {
        if (redis_client_cmd(cl->nodes[i]->link, numsub_reply, ns, argc, argv, lens) == 0)
            ns->left++;
        else
            ns->failed = 1;
    }
    if (ns->left == 1) {
        for (size_t i = 0; i < n; i++)
            free(ns->names[i]);
        free(ns);
        return SIOC_ECONNRESET;
    }
    ns->left--;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Subscriptions                                                        */

static shard_sub_t *shard_get(redis_cluster_t *cl, const char *ch, size_t len)
{
    hmap_node_t *hn = hmap_get(&cl->shard_subs, iov_make(ch, len));
    return hn == NULL ? NULL : container_of(hn, shard_sub_t, node);
}

static void shard_forget(redis_cluster_t *cl, shard_sub_t *s)
{
    hmap_del(&cl->shard_subs, &s->node);
    free(s);
}

static void shard_forget_all(redis_cluster_t *cl)
{
    hmap_node_t *hn;
    for (hmap_iter_t it = hmap_iter(&cl->shard_subs); (hn = hmap_next(&it)) != NULL;)
        shard_forget(cl, container_of(hn, shard_sub_t, node));
}

static int sub_send(cnode_t *n, const char *cmd, const char *ch, size_t len)
{
    if (!node_up(n))
        return SIOC_ECONNRESET;
    const char *argv[] = {cmd, ch};
    size_t lens[] = {strlen(cmd), len};
    return redis_client_cmd(n->link, NULL, NULL, 2, argv, lens);
}

/* A subscriber client's command, one channel at a time on the channel's node. */
static int sub_cmd(redis_cluster_t *cl, int argc, const char **argv, const size_t *lens)
{
    size_t n0 = lens != NULL ? lens[0] : strlen(argv[0]);
    int ssub = arg_eq(argv[0], n0, "SSUBSCRIBE"), sunsub = arg_eq(argv[0], n0, "SUNSUBSCRIBE");
    int is_sub = ssub || sunsub || arg_eq(argv[0], n0, "SUBSCRIBE") ||
                 arg_eq(argv[0], n0, "PSUBSCRIBE") || arg_eq(argv[0], n0, "UNSUBSCRIBE") ||
                 arg_eq(argv[0], n0, "PUNSUBSCRIBE");
    if (!is_sub || argc == 1) {
        /* PING, or an unsubscribe from everything: every node. */
        int rc = SIOC_ECONNRESET;
        for (size_t i = 0; i < cl->n_nodes; i++)
            if (redis_client_cmd(cl->nodes[i]->link, NULL, NULL, argc, argv, lens) == 0)
                rc = 0;
        if (sunsub)
            shard_forget_all(cl);
        return rc;
    }
    char cmd[16];
    snprintf(cmd, sizeof(cmd), "%.*s", (int)(n0 < 15 ? n0 : 15), argv[0]);
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        size_t len = lens != NULL ? lens[i] : strlen(argv[i]);
        cnode_t *n =
            ssub || sunsub ? node_for_key(cl, argv[i], len) : node_for_slot(cl, PUBSUB_ANCHOR_SLOT);
        shard_sub_t *s = shard_get(cl, argv[i], len);
        if (sunsub && s != NULL) {
            if (node_up(s->on))
                n = s->on;
            shard_forget(cl, s);
        }
        int r = sub_send(n, cmd, argv[i], len);
        if (r != 0) {
            rc = r;
            continue;
        }
        if (ssub) {
            if (s == NULL) {
                s = xmalloc(sizeof(*s) + len);
                memcpy(s->channel, argv[i], len);
                s->len = len;
                s->node.key = iov_make(s->channel, len);
                hmap_put(&cl->shard_subs, &s->node);
            }
            s->on = n;
            s->resub = 0;
        }
    }
    return rc;
}

/* After a map is read: sharded channels whose slot has moved are subscribed where it is. */
static void shard_follow(redis_cluster_t *cl)
{
    hmap_node_t *hn;
    for (hmap_iter_t it = hmap_iter(&cl->shard_subs); (hn = hmap_next(&it)) != NULL;) {
        shard_sub_t *s = container_of(hn, shard_sub_t, node);
        cnode_t *owner = node_for_key(cl, s->channel, s->len);
        if (owner == s->on)
            continue;
        if (sub_send(owner, "SSUBSCRIBE", s->channel, s->len) == 0) {
            log_info("redis %s: sharded channel %.*s follows its slot to %s:%d", cl->opts.name,
                     (int)s->len, s->channel, owner->addr.host, owner->addr.port);
            s->on = owner;
            s->resub = 1;
        } else {
            s->on = NULL; /* its node is not up: the owner subscribes again when it is */
        }
    }
}

static void on_node_push(redis_client_t *link, redisReply *r, void *data)
{
    cnode_t *n = data;
    redis_cluster_t *cl = n->cl;
    (void)link;
    if (r->elements >= 2 && r->element[0]->type == REDIS_REPLY_STRING &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        const char *kind = r->element[0]->str;
        shard_sub_t *s = shard_get(cl, r->element[1]->str, r->element[1]->len);
        if (s != NULL && strcasecmp(kind, "ssubscribe") == 0 && s->resub) {
            s->resub = 0;
            return;
        }
        if (s != NULL && strcasecmp(kind, "sunsubscribe") == 0) {
            /* Still wanted: the node dropped it because its slot moved. */
            if (s->on == n) {
                s->on = NULL;
                cl->want_refresh = 1;
                refresh(cl);
            }
            return;
        }
    }
    if (cl->opts.on_push != NULL)
        cl->opts.on_push(cl->c, r, cl->opts.data);
}

static void on_node_error(redis_client_t *link, redisReply *r, void *data)
{
    cnode_t *n = data;
    redis_cluster_t *cl = n->cl;
    (void)link;
    static long long last;
    if (log_ratelimited(&last))
        log_warn("redis %s: %s:%d refused a subscription: %s", cl->opts.name, n->addr.host,
                 n->addr.port, r->str);
    cl->want_refresh = 1;
    refresh(cl);
}

static void on_node_state(redis_client_t *link, int up, void *data)
{
    (void)link;
    cnode_t *n = data;
    if (!up)
        n->cl->want_refresh = 1;
    update_state(n->cl);
}

/* ------------------------------------------------------------------ */
/* The slot map                                                         */

static cnode_t *node_new(redis_cluster_t *cl, const redis_node_t *addr)
{
    cnode_t *n = xcalloc(1, sizeof(*n));
    n->cl = cl;
    n->addr = *addr;
    snprintf(n->name, sizeof(n->name), "%s %s:%d", cl->opts.name, addr->host, addr->port);
    redis_url_t u = cl->url;
    u.kind = REDIS_URL_DIRECT;
    u.n_nodes = 1;
    u.nodes[0] = *addr;
    u.db = 0;
    redis_client_opts_t o = cl->opts;
    o.name = n->name;
    o.on_state = on_node_state;
    o.on_push = on_node_push;
    o.data = n;
    n->link = redis_client__new_node(cl->loop, &u, &o);
    if (o.subscriber)
        redis_client__on_error(n->link, on_node_error, n);
    return n;
}

static void apply_map(redis_cluster_t *cl, redis_cluster_map_t *m)
{
    cnode_t *next[REDIS_CLUSTER_MAX_NODES];
    cnode_t *old[REDIS_CLUSTER_MAX_NODES];
    size_t n_old = cl->n_nodes;
    memcpy(old, cl->nodes, sizeof(cnode_t *) * n_old);
    int had_map = cl->map != NULL;
    int changed = cl->map == NULL || m->n_nodes != cl->n_nodes ||
                  memcmp(m->slot_node, cl->map->slot_node, sizeof(m->slot_node)) != 0;
    for (size_t i = 0; i < m->n_nodes; i++) {
        next[i] = NULL;
        for (size_t k = 0; k < n_old; k++)
            if (old[k] != NULL && old[k]->addr.port == m->nodes[i].port &&
                strcmp(old[k]->addr.host, m->nodes[i].host) == 0) {
                next[i] = old[k];
                old[k] = NULL;
                if (k != i)
                    changed = 1;
                break;
            }
        if (next[i] == NULL) {
            next[i] = node_new(cl, &m->nodes[i]);
            changed = 1;
            log_info("redis %s: cluster primary %s:%d", cl->opts.name, m->nodes[i].host,
                     m->nodes[i].port);
        }
        redis_client__learn_node(cl->c, &m->nodes[i]);
    }
    free(cl->map);
    cl->map = m;
    memcpy(cl->nodes, next, sizeof(cnode_t *) * m->n_nodes);
    cl->n_nodes = m->n_nodes;
    /* The map is whole before anything is freed: callbacks that fail now may send again. */
    hmap_node_t *hn;
    for (hmap_iter_t it = hmap_iter(&cl->shard_subs); (hn = hmap_next(&it)) != NULL;) {
        shard_sub_t *s = container_of(hn, shard_sub_t, node);
        for (size_t k = 0; k < n_old; k++)
            if (old[k] != NULL && s->on == old[k])
                s->on = NULL;
    }
    for (size_t k = 0; k < n_old; k++)
        if (old[k] != NULL) {
            log_info("redis %s: %s:%d is no longer a primary with slots", cl->opts.name,
                     old[k]->addr.host, old[k]->addr.port);
            redis_client_free(old[k]->link);
            free(old[k]);
        }
    if (changed && m->n_assigned < REDIS_CLUSTER_SLOTS) {
        static long long last;
        if (log_ratelimited(&last))
            log_warn("redis %s: the cluster map covers %zu of %d slots", cl->opts.name,
                     m->n_assigned, REDIS_CLUSTER_SLOTS);
    }
    if (changed && had_map) {
        sioc_list_t *l;
        for (l = all_clusters.next; l != &all_clusters; l = l->next) {
            redis_cluster_t *o = container_of(l, redis_cluster_t, all);
            if (o != cl) {
                o->want_refresh = 1;
                refresh(o);
            }
        }
    }
    update_state(cl);
    if (cl->up) /* also the channels a node dropped while the map still named it */
        shard_follow(cl);
    flush_waiting(cl);
}

static void on_map(redis_client_t *c, redisReply *r, void *data)
{
    (void)c;
    redis_cluster_t *cl = data;
    cl->refreshing = 0;
    if (r == NULL)
        return; /* the control link dropped: read again when it is back */
    if (r->type == REDIS_REPLY_ERROR && !cl->use_slots) {
        /* Before 7.0: CLUSTER SLOTS. */
        cl->use_slots = 1;
        refresh(cl);
        return;
    }
    redis_cluster_map_t *m = xmalloc(sizeof(*m));
    char err[160];
    int rc = r->type == REDIS_REPLY_ERROR ? (snprintf(err, sizeof(err), "%s", r->str), SIOC_EINVAL)
             : cl->use_slots              ? redis_cluster_map_from_slots(r, m, err, sizeof(err))
                             : redis_cluster_map_from_shards(r, cl->url.tls, m, err, sizeof(err));
    if (rc != 0) {
        static long long last;
        if (log_ratelimited(&last))
            log_warn("redis %s: cannot read the cluster map: %s", cl->opts.name, err);
        free(m);
        return;
    }
    cl->want_refresh = 0;
    apply_map(cl, m);
}

static void refresh(redis_cluster_t *cl)
{
    if (cl->refreshing || !redis_client__link_up(cl->c))
        return;
    const char *argv[] = {"CLUSTER", cl->use_slots ? "SLOTS" : "SHARDS"};
    if (redis_client__link_cmd(cl->c, on_map, cl, 2, argv, NULL) == 0) {
        cl->refreshing = 1;
        cl->last_refresh_ms = clock_ms();
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_cluster_t *cl = arg;
    if (cl->want_refresh || !cl->up || clock_ms() - cl->last_refresh_ms >= REFRESH_MS)
        refresh(cl);
}

/* ------------------------------------------------------------------ */

redis_cluster_t *redis_cluster_new(redis_client_t *c, net_loop_t *loop, const redis_url_t *url,
                                   const redis_client_opts_t *opts)
{
    redis_cluster_t *cl = xcalloc(1, sizeof(*cl));
    cl->c = c;
    cl->loop = loop;
    cl->url = *url;
    cl->opts = *opts;
    redis_url_format(&cl->url, cl->shown, sizeof(cl->shown));
    hmap_init(&cl->shard_subs);
    list_init(&cl->waiting);
    list_insert_tail(&all_clusters, &cl->all);
    event_assign(&cl->tick, net_loop_base(loop), -1, EV_PERSIST, on_tick, cl);
    struct timeval tv = {0, TICK_MS * 1000};
    event_add(&cl->tick, &tv);
    log_info("redis %s: %s is a Redis Cluster: reading its slot map", opts->name, cl->shown);
    return cl;
}

void redis_cluster_free(redis_cluster_t *cl)
{
    if (cl == NULL)
        return;
    event_del(&cl->tick);
    list_remove(&cl->all);
    for (size_t i = 0; i < cl->n_nodes; i++) {
        redis_client_t *l = cl->nodes[i]->link;
        cl->nodes[i]->link = NULL;
        redis_client_free(l);
        free(cl->nodes[i]);
    }
    cl->n_nodes = 0;
    while (!list_empty(&cl->waiting)) {
        ccmd_t *cc = container_of(cl->waiting.next, ccmd_t, link);
        list_remove(&cc->link);
        ccmd_done(cc, NULL);
    }
    shard_forget_all(cl);
    hmap_free(&cl->shard_subs);
    free(cl->map);
    free(cl);
}

void redis_cluster_control(redis_cluster_t *cl, int up)
{
    if (up)
        refresh(cl);
}

int redis_cluster_cmd(redis_cluster_t *cl, redis_reply_cb cb, void *data, int argc,
                      const char **argv, const size_t *lens)
{
    if (!cl->up || argc < 1)
        return SIOC_ECONNRESET;
    if (cl->opts.subscriber)
        return sub_cmd(cl, argc, argv, lens);
    if (redis_cmd_key_index(argc, argv, lens) == REDIS_KEY_ALL)
        return numsub_all(cl, cb, data, argc, argv, lens);
    cnode_t *n = route(cl, argc, argv, lens);
    if (!node_up(n))
        return SIOC_ECONNRESET;
    ccmd_t *cc = ccmd_new(cl, cb, data, argc, argv, lens);
    if (cc == NULL)
        return SIOC_ENOMEM;
    int rc = ccmd_send(n, cc);
    if (rc != 0)
        free(cc);
    return rc;
}

int redis_cluster_up(const redis_cluster_t *cl)
{
    return cl->up;
}

void redis_cluster_describe(const redis_cluster_t *cl, char *out, size_t cap)
{
    if (cl->up) {
        snprintf(out, cap, "up on a cluster of %zu primaries (%s)", cl->n_nodes, cl->shown);
        return;
    }
    if (cl->map == NULL) {
        snprintf(out, cap, "reading the cluster's slot map, retrying (%s)", cl->shown);
        return;
    }
    if (cl->map->n_assigned < REDIS_CLUSTER_SLOTS) {
        snprintf(out, cap, "the cluster's slot map covers %zu of %d slots, retrying (%s)",
                 cl->map->n_assigned, REDIS_CLUSTER_SLOTS, cl->shown);
        return;
    }
    size_t used = (size_t)snprintf(out, cap, "cluster primary");
    int missing = 0;
    for (size_t i = 0; i < cl->n_nodes && used < cap; i++) {
        if (node_up(cl->nodes[i]))
            continue;
        used += (size_t)snprintf(out + used, cap - used, "%s %s:%d", missing ? "," : "",
                                 cl->nodes[i]->addr.host, cl->nodes[i]->addr.port);
        missing++;
    }
    if (used < cap)
        snprintf(out + used, cap - used, " down, retrying (%s)", cl->shown);
}

long long redis_cluster_rtt_us(const redis_cluster_t *cl)
{
    long long rtt = -1;
    for (size_t i = 0; i < cl->n_nodes; i++) {
        long long r = redis_client_rtt_us(cl->nodes[i]->link);
        if (r > rtt)
            rtt = r;
    }
    return rtt;
}

unsigned long long redis_cluster_drops(const redis_cluster_t *cl)
{
    return cl->drops;
}

void redis_cluster_reset(redis_cluster_t *cl)
{
    for (size_t i = 0; i < cl->n_nodes; i++)
        redis_client_reset(cl->nodes[i]->link);
}

void redis_cluster_retry_now(redis_cluster_t *cl)
{
    for (size_t i = 0; i < cl->n_nodes; i++)
        redis_client_retry_now(cl->nodes[i]->link);
}
