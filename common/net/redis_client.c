/*
 * redis_client.c - reconnecting Redis link (redis_client.h).
 *
 * The only file in common/ that includes hiredis. hiredis's async layer is
 * not used: in 0.14 (Debian 12) a reply to a regular command sent on a
 * subscribed connection can swallow a pushed message, and sharded pub/sub
 * pushes (smessage) are dropped. Reading with the pure redisReader and
 * routing replies ourselves avoids both.
 */
#include "redis_client.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/list.h"
#include "base/log.h"
#include "base/rand.h"
#include "conn.h"
#include "redis_cluster.h"
#include "tls.h"

enum { LINK_DOWN, LINK_CONNECTING, LINK_UP };
enum { PHASE_DATA, PHASE_SENTINEL }; /* what the connecting link talks to */

/* A connect attempt that fails is logged at most this often (the first one at once). */
#define CONNECT_WARN_MS 10000

typedef struct pending {
    sioc_list_t link;
    redis_reply_cb cb;
    void *data;
    uint8_t internal; /* 1: handshake or liveness PING, handled here */
} pending_t;

struct redis_client {
    net_loop_t *loop;
    redis_url_t url;
    redis_client_opts_t opts;
    conn_t *conn;            /* plain links */
    struct bufferevent *bev; /* TLS links */
    net_tls_t *tls;          /* rediss:// */
    unsigned gen;            /* bumped each time a transport is dropped */
    int phase;
    size_t node_idx;      /* the seed node or sentinel of the next attempt */
    redis_node_t target;  /* what this attempt connects to */
    redis_node_t primary; /* sentinel: the primary named for this attempt */
    int have_primary;
    int check_role;             /* accept only a primary */
    struct redis_client *watch; /* sentinel: the +switch-master subscriber */
    long long warned_ms;        /* last failed-attempt warning */
    char shown[640];            /* the URL for logs, password masked */
    redisReader *reader;
    int state;
    sioc_list_t pending;
    size_t n_pending;
    long long ping_sent_us; /* 0 when no liveness PING is outstanding */
    long long rtt_us;
    long long connect_started_ms;
    unsigned long long drops;
    unsigned backoff_step;
    long long up_since_ms;
    struct event tick;  /* liveness */
    struct event retry; /* reconnect backoff */
    int freeing;
    redis_cluster_t *cl;    /* a Redis Cluster: this link is its control link */
    int cluster_node;       /* a link to one node of a cluster, made by the cluster */
    redis_push_cb on_error; /* subscriber links: error replies (cluster nodes) */
    void *on_error_data;
};

static void link_down(redis_client_t *c, const char *why);
static void start_connect(redis_client_t *c);
static void on_watch_push(redis_client_t *w, redisReply *r, void *data);

/* ------------------------------------------------------------------ */

static void fail_pending(redis_client_t *c)
{
    while (!list_empty(&c->pending)) {
        pending_t *p = container_of(c->pending.next, pending_t, link);
        list_remove(&p->link);
        c->n_pending--;
        if (p->cb != NULL)
            p->cb(c, NULL, p->data);
        free(p);
    }
}

static int link_open(const redis_client_t *c)
{
    return c->conn != NULL || c->bev != NULL;
}

static int link_write(redis_client_t *c, const char *p, size_t n)
{
    if (c->conn != NULL)
        return conn_write(c->conn, p, n);
    if (c->bev == NULL)
        return SIOC_ECONNRESET;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) + n > c->opts.max_output)
        return SIOC_EMSGSIZE;
    return bufferevent_write(c->bev, p, n) == 0 ? 0 : SIOC_ENOMEM;
}

/* Drops the socket and the reader, nothing else. */
static void close_transport(redis_client_t *c)
{
    c->gen++;
    if (c->conn != NULL) {
        conn_t *old = c->conn;
        c->conn = NULL;
        conn_set_data(old, NULL);
        conn_close(old, 0);
    }
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    if (c->reader != NULL) {
        redisReaderFree(c->reader);
        c->reader = NULL;
    }
}

static int send_argv(redis_client_t *c, int argc, const char **argv, const size_t *lens)
{
    char *cmd = NULL;
    long long n = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (n < 0 || cmd == NULL)
        return SIOC_ENOMEM;
    int r = link_write(c, cmd, (size_t)n);
    free(cmd);
    return r;
}

static int push_pending(redis_client_t *c, redis_reply_cb cb, void *data, int internal)
{
    pending_t *p = try_malloc(sizeof(*p));
    if (p == NULL)
        return SIOC_ENOMEM;
    p->cb = cb;
    p->data = data;
    p->internal = (uint8_t)internal;
    list_insert_tail(&c->pending, &p->link);
    c->n_pending++;
    return 0;
}

static int is_push(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    const char *t = r->element[0]->str;
    return strcasecmp(t, "pong") != 0;
}

static void on_handshake_reply(redis_client_t *c, redisReply *r, void *data)
{
    const char *what = data;
    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_ERROR) {
        log_error("redis %s: %s failed: %s", c->opts.name, what, r->str);
        link_down(c, "handshake refused");
    }
}

static void on_role_reply(redis_client_t *c, redisReply *r, void *data)
{
    (void)data;
    if (r == NULL || r->type == REDIS_REPLY_ERROR || c->cl != NULL)
        return; /* a user without ROLE, or a cluster (any node reads the map) */
    const char *role =
        r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING
            ? r->element[0]->str
            : "?";
    if (strcmp(role, "master") == 0)
        return;
    log_warn("redis %s: %s:%d is a %s, not the primary of %s", c->opts.name, c->target.host,
             c->target.port, role, c->shown);
    link_down(c, "not the primary");
}

static void on_cluster_reply(redis_client_t *c, redisReply *r, void *data)
{
    (void)data;
    if (r == NULL || r->type != REDIS_REPLY_STRING || c->cl != NULL ||
        strstr(r->str, "cluster_enabled:1") == NULL)
        return;
    c->cl = redis_cluster_new(c, c->loop, &c->url, &c->opts);
}

static void on_sentinel_reply(redis_client_t *c, redisReply *r, void *data)
{
    (void)data;
    if (r == NULL)
        return;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
        r->element[0]->len < sizeof(c->primary.host)) {
        long port = strtol(r->element[1]->str, NULL, 10);
        if (port > 0 && port < 65536) {
            memcpy(c->primary.host, r->element[0]->str, r->element[0]->len + 1);
            c->primary.port = (int)port;
            c->have_primary = 1;
            log_debug("redis %s: sentinel %s:%d names %s:%d as %s", c->opts.name, c->target.host,
                      c->target.port, c->primary.host, c->primary.port, c->url.master);
            close_transport(c);
            start_connect(c);
            return;
        }
    }
    log_warn("redis %s: sentinel %s:%d gives no primary for '%s' (%s)", c->opts.name,
             c->target.host, c->target.port, c->url.master,
             r->type == REDIS_REPLY_ERROR ? r->str : "unknown name");
    link_down(c, "no primary from the sentinel");
}

static void handle_reply(redis_client_t *c, redisReply *r)
{
    /* Nothing is subscribed before the link is up: the handshake's replies are replies. A
     * cluster's control link never subscribes. */
    if (c->opts.subscriber && c->cl == NULL && c->state == LINK_UP) {
        if (is_push(r)) {
            if (c->opts.on_push != NULL)
                c->opts.on_push(c, r, c->opts.data);
            return;
        }
        if (r->type == REDIS_REPLY_ERROR && c->on_error != NULL) {
            c->on_error(c, r, c->on_error_data);
            return;
        }
    }
    if (list_empty(&c->pending)) {
        log_warn("redis %s: unexpected reply; resetting the link", c->opts.name);
        link_down(c, "protocol desync");
        return;
    }
    pending_t *p = container_of(c->pending.next, pending_t, link);
    list_remove(&p->link);
    c->n_pending--;
    if (p->internal == 2) {
        /* The liveness PING. The first one also marks the link up. */
        c->rtt_us = clock_us() - c->ping_sent_us;
        c->ping_sent_us = 0;
        free(p);
        if (c->state == LINK_CONNECTING) {
            c->state = LINK_UP;
            c->warned_ms = 0;
            c->up_since_ms = clock_ms(); /* the backoff restarts once the link has held */
            log_info("redis %s: connected to %s:%d", c->opts.name, c->target.host, c->target.port);
            if (c->cl != NULL)
                redis_cluster_control(c->cl, 1);
            else if (c->opts.on_state != NULL)
                c->opts.on_state(c, 1, c->opts.data);
        }
        return;
    }
    if (p->cb != NULL)
        p->cb(c, r, p->data);
    free(p);
}

/* Hands every complete reply in the reader to handle_reply(), until the link changes. */
static void dispatch(redis_client_t *c)
{
    unsigned gen = c->gen;
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            link_down(c, "protocol error");
            return;
        }
        if (reply == NULL)
            break;
        handle_reply(c, reply);
        freeReplyObject(reply);
        if (c->gen != gen)
            return; /* the link went down inside a callback */
    }
}

static size_t on_data(conn_t *conn, uint8_t *buf, size_t len)
{
    redis_client_t *c = conn_data(conn);
    if (redisReaderFeed(c->reader, (const char *)buf, len) != REDIS_OK) {
        link_down(c, "reader error");
        return len;
    }
    dispatch(c);
    return len;
}

static void on_bev_read(struct bufferevent *bev, void *arg)
{
    redis_client_t *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    int ok = redisReaderFeed(c->reader, (const char *)evbuffer_pullup(in, -1), n) == REDIS_OK;
    evbuffer_drain(in, n);
    if (!ok) {
        link_down(c, "reader error");
        return;
    }
    dispatch(c);
}

static void on_bev_event(struct bufferevent *bev, short what, void *arg)
{
    redis_client_t *c = arg;
    if (what & BEV_EVENT_CONNECTED)
        return;
    char tls_err[256], verify[256];
    net_tls_client_error(bev, tls_err, sizeof(tls_err));
    net_tls_verify_error(bev, verify, sizeof(verify));
    if (c->state == LINK_UP) {
        /* OpenSSL 3 reports a peer gone without close_notify (killed) as an error. */
        if (tls_err[0] != '\0')
            log_debug("redis %s: TLS: %s", c->opts.name, tls_err);
        link_down(c, (what & BEV_EVENT_EOF) || strstr(tls_err, "unexpected eof") != NULL
                         ? "connection closed by Redis"
                         : "connection error");
        return;
    }
    if (verify[0] != '\0' || tls_err[0] != '\0') {
        static long long last;
        if (log_ratelimited(&last))
            log_error("redis %s: TLS with %s:%d failed: %s%s%s%s (%s)", c->opts.name,
                      c->target.host, c->target.port, tls_err, verify[0] ? " (" : "", verify,
                      verify[0] ? ")" : "", c->shown);
        link_down(c, "TLS failure");
        return;
    }
    link_down(c, (what & BEV_EVENT_EOF) ? "connection closed by Redis" : "connection error");
}

static void on_close(conn_t *conn, int reason)
{
    redis_client_t *c = conn_data(conn);
    if (c == NULL || c->conn != conn)
        return; /* an old link, already replaced */
    c->conn = NULL;
    link_down(c, reason == CONN_CLOSE_EOF ? "connection closed by Redis" : "connection error");
}

static const conn_hooks_t hooks = {.on_data = on_data, .on_close = on_close};

static void schedule_retry(redis_client_t *c)
{
    /* A link that was up is retried at once (a restarted Redis, a dropped connection); then
     * 100 ms doubling to 500 ms, with +-50 % jitter so workers do not reconnect in step. The
     * cap keeps recovery within about 0.75 s of Redis coming back (a connect attempt is
     * cheap), and the owner cuts it short with redis_client_retry_now() on the first sign
     * that Redis answers. */
    long ms = 0;
    if (c->backoff_step > 0) {
        long base = 100L << (c->backoff_step < 4 ? c->backoff_step - 1 : 3);
        if (base > 500)
            base = 500;
        ms = base / 2 + (long)(rand_u64() % (uint64_t)(base + 1));
    }
    if (c->backoff_step < 16)
        c->backoff_step++;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(&c->retry, &tv);
}

static void link_down(redis_client_t *c, const char *why)
{
    int was_up = c->state == LINK_UP;
    if (c->state == LINK_DOWN)
        return;
    c->state = LINK_DOWN;
    c->ping_sent_us = 0;
    c->have_primary = 0; /* a sentinel is asked again on every attempt */
    close_transport(c);
    fail_pending(c);
    if (was_up && c->cl != NULL) {
        log_warn("redis %s: cluster control link down (%s); reconnecting", c->opts.name, why);
        redis_cluster_control(c->cl, 0);
    } else if (was_up) {
        c->drops++;
        log_warn("redis %s: link down (%s); reconnecting", c->opts.name, why);
        if (c->opts.on_state != NULL)
            c->opts.on_state(c, 0, c->opts.data);
    } else {
        c->node_idx = (c->node_idx + 1) % c->url.n_nodes;
        long long now = clock_ms();
        if (!c->freeing && (c->warned_ms == 0 || now - c->warned_ms >= CONNECT_WARN_MS)) {
            c->warned_ms = now;
            log_warn("redis %s: cannot connect to %s%s:%d (%s) for %s; retrying", c->opts.name,
                     c->phase == PHASE_SENTINEL          ? "sentinel "
                     : c->url.kind == REDIS_URL_SENTINEL ? "primary "
                                                         : "",
                     c->target.host, c->target.port, why, c->shown);
        } else {
            log_debug("redis %s: connect attempt to %s:%d failed (%s)", c->opts.name,
                      c->target.host, c->target.port, why);
        }
    }
    if (!c->freeing)
        schedule_retry(c);
}

/* The TLS link connects to the first address of the name. */
static int open_tls(redis_client_t *c, const struct addrinfo *ai)
{
    if (c->tls == NULL)
        return -1;
    c->bev = net_tls_connect(c->tls, net_loop_base(c->loop), c->target.host);
    if (c->bev == NULL)
        return -1;
    bufferevent_setcb(c->bev, on_bev_read, NULL, on_bev_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, ai->ai_addr, (int)ai->ai_addrlen) != 0 &&
        c->bev != NULL) {
        bufferevent_free(c->bev);
        c->bev = NULL;
        return -1;
    }
    return 0;
}

static int open_socket(const redis_node_t *u)
{
    struct addrinfo hints, *ai = NULL, *a;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof(port), "%d", u->port);
    if (getaddrinfo(u->host, port, &hints, &ai) != 0)
        return -1;
    int fd = -1;
    for (a = ai; a != NULL; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void send_ping(redis_client_t *c)
{
    const char *argv[] = {"PING"};
    if (send_argv(c, 1, argv, NULL) == 0 && push_pending(c, NULL, NULL, 2) == 0)
        c->ping_sent_us = clock_us();
}

static int open_transport(redis_client_t *c)
{
    if (!c->url.tls) {
        int fd = open_socket(&c->target);
        if (fd < 0)
            return -1;
        c->conn = conn_new(c->loop, fd, &hooks, c);
        conn_set_limits(c->conn, 512 * 1024 * 1024, c->opts.max_output);
        return 0;
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof(port), "%d", c->target.port);
    if (getaddrinfo(c->target.host, port, &hints, &ai) != 0)
        return -1;
    int r = open_tls(c, ai);
    freeaddrinfo(ai);
    return r;
}

static void send_auth(redis_client_t *c, const char *user, const char *password)
{
    if (password[0] == '\0')
        return;
    const char *argv[] = {"AUTH", user, password};
    if (user[0])
        (void)send_argv(c, 3, argv, NULL);
    else {
        const char *argv2[] = {"AUTH", password};
        (void)send_argv(c, 2, argv2, NULL);
    }
    (void)push_pending(c, on_handshake_reply, (void *)"AUTH", 1);
}

static void start_connect(redis_client_t *c)
{
    c->connect_started_ms = clock_ms();
    c->state = LINK_CONNECTING;
    c->phase = c->url.kind == REDIS_URL_SENTINEL && !c->have_primary ? PHASE_SENTINEL : PHASE_DATA;
    if (c->url.kind == REDIS_URL_SENTINEL && c->phase == PHASE_DATA)
        c->target = c->primary;
    else
        c->target = c->url.nodes[c->node_idx % c->url.n_nodes];
    c->reader = redisReaderCreate();
    if (open_transport(c) != 0 || !link_open(c)) {
        if (c->state == LINK_CONNECTING)
            link_down(c, "cannot connect");
        return;
    }
    if (c->phase == PHASE_SENTINEL) {
        send_auth(c, c->url.sentinel_user, c->url.sentinel_password);
        const char *argv[] = {"SENTINEL", "get-master-addr-by-name", c->url.master};
        (void)send_argv(c, 3, argv, NULL);
        (void)push_pending(c, on_sentinel_reply, NULL, 1);
        return;
    }
    send_auth(c, c->url.user, c->url.password);
    if (c->url.db != 0 && !c->opts.subscriber) {
        char db[16];
        snprintf(db, sizeof(db), "%d", c->url.db);
        const char *argv[] = {"SELECT", db};
        (void)send_argv(c, 2, argv, NULL);
        (void)push_pending(c, on_handshake_reply, (void *)"SELECT", 1);
    }
    if (!c->cluster_node && c->opts.on_push != on_watch_push) {
        /* A cluster node: the client becomes a cluster client (redis_cluster.h). */
        const char *argv[] = {"INFO", "cluster"};
        (void)send_argv(c, 2, argv, NULL);
        (void)push_pending(c, on_cluster_reply, NULL, 1);
    }
    if (c->check_role) {
        const char *argv[] = {"ROLE"};
        (void)send_argv(c, 1, argv, NULL);
        (void)push_pending(c, on_role_reply, NULL, 1);
    }
    send_ping(c);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_client_t *c = arg;
    if (c->state == LINK_DOWN)
        start_connect(c);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_client_t *c = arg;
    long long now_us = clock_us();
    if (c->state == LINK_CONNECTING &&
        clock_ms() - c->connect_started_ms > c->opts.liveness_timeout_ms) {
        link_down(c, "connect timeout");
        return;
    }
    if (c->state != LINK_UP)
        return;
    /* A link that drops right after it came up (a command that keeps failing, a Redis that
     * closes at once) goes on backing off instead of reconnecting in a loop. */
    if (c->backoff_step > 0 && clock_ms() - c->up_since_ms >= 1000)
        c->backoff_step = 0;
    if (c->ping_sent_us != 0) {
        if (now_us - c->ping_sent_us > c->opts.liveness_timeout_ms * 1000) {
            log_warn("redis %s: no PING reply for %ld ms", c->opts.name,
                     c->opts.liveness_timeout_ms);
            link_down(c, "liveness timeout");
        }
        return;
    }
    send_ping(c);
}

/* The sentinel watcher: "+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>". */
static void on_watch_push(redis_client_t *w, redisReply *r, void *data)
{
    (void)w;
    redis_client_t *c = data;
    if (r->elements < 3 || strcasecmp(r->element[0]->str, "message") != 0 ||
        r->element[2]->type != REDIS_REPLY_STRING)
        return;
    char name[128], old_ip[256], new_ip[256];
    int old_port, new_port;
    if (sscanf(r->element[2]->str, "%127s %255s %d %255s %d", name, old_ip, &old_port, new_ip,
               &new_port) != 5 ||
        strcmp(name, c->url.master) != 0)
        return;
    log_info("redis %s: sentinel: primary %s moved from %s:%d to %s:%d", c->opts.name, name, old_ip,
             old_port, new_ip, new_port);
    if (c->state == LINK_UP && (strcmp(c->target.host, new_ip) != 0 || c->target.port != new_port))
        link_down(c, "the primary moved");
    else if (c->state == LINK_DOWN) {
        event_del(&c->retry);
        event_active(&c->retry, EV_TIMEOUT, 1);
    }
}

static void on_watch_state(redis_client_t *w, int up, void *data)
{
    (void)data;
    if (up) {
        const char *argv[] = {"SUBSCRIBE", "+switch-master"};
        (void)redis_client_cmdv(w, NULL, NULL, 2, argv);
    }
}

int redis_client_check(const redis_url_t *url, char *err, size_t errlen)
{
    if (!url->tls)
        return 0;
    net_tls_t *t = net_tls_client_new(url->tls_ca, url->tls_cert, url->tls_key, err, errlen);
    if (t == NULL)
        return SIOC_EINVAL;
    net_tls_free(t);
    return 0;
}

static redis_client_t *client_new(net_loop_t *loop, const redis_url_t *url,
                                  const redis_client_opts_t *opts, int cluster_node)
{
    redis_client_t *c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->cluster_node = cluster_node;
    c->url = *url;
    c->opts = *opts;
    if (c->url.n_nodes == 0) {
        c->url.n_nodes = 1;
        snprintf(c->url.nodes[0].host, sizeof(c->url.nodes[0].host), "127.0.0.1");
        c->url.nodes[0].port = 6379;
    }
    redis_url_format(&c->url, c->shown, sizeof(c->shown));
    if (c->url.tls) {
        char err[512];
        c->tls =
            net_tls_client_new(c->url.tls_ca, c->url.tls_cert, c->url.tls_key, err, sizeof(err));
        if (c->tls == NULL)
            log_error("redis %s: %s: %s", c->opts.name ? c->opts.name : "redis", c->shown, err);
    }
    /* Sentinels have no primary role: the watcher takes any of them. */
    c->check_role = (c->url.kind == REDIS_URL_SENTINEL || c->url.n_nodes > 1) &&
                    c->opts.on_push != on_watch_push;
    if (c->opts.name == NULL)
        c->opts.name = "redis";
    if (c->opts.ping_interval_ms <= 0)
        c->opts.ping_interval_ms = 1000;
    if (c->opts.liveness_timeout_ms <= 0)
        c->opts.liveness_timeout_ms = 3000;
    if (c->opts.max_pending == 0)
        c->opts.max_pending = 100000;
    if (c->opts.max_output == 0)
        c->opts.max_output = 64 * 1024 * 1024;
    c->rtt_us = -1;
    list_init(&c->pending);
    struct event_base *base = net_loop_base(loop);
    event_assign(&c->tick, base, -1, EV_PERSIST, on_tick, c);
    event_assign(&c->retry, base, -1, 0, on_retry, c);
    long ms = c->opts.ping_interval_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_add(&c->tick, &tv);
    if (c->url.kind == REDIS_URL_SENTINEL) {
        redis_url_t wu = c->url;
        wu.kind = REDIS_URL_DIRECT;
        memcpy(wu.user, c->url.sentinel_user, sizeof(wu.user));
        memcpy(wu.password, c->url.sentinel_password, sizeof(wu.password));
        wu.db = 0;
        redis_client_opts_t wo = {1, "sentinel watch", 0, 0, 0, 0, on_watch_state, on_watch_push,
                                  c};
        c->watch = redis_client_new(loop, &wu, &wo);
    }
    start_connect(c);
    return c;
}

redis_client_t *redis_client_new(net_loop_t *loop, const redis_url_t *url,
                                 const redis_client_opts_t *opts)
{
    return client_new(loop, url, opts, 0);
}

redis_client_t *redis_client__new_node(net_loop_t *loop, const redis_url_t *url,
                                       const redis_client_opts_t *opts)
{
    return client_new(loop, url, opts, 1);
}

void redis_client_free(redis_client_t *c)
{
    if (c == NULL)
        return;
    c->freeing = 1;
    redis_client_free(c->watch);
    event_del(&c->tick);
    event_del(&c->retry);
    close_transport(c);
    fail_pending(c); /* the cluster's own requests among them: before the cluster goes */
    redis_cluster_free(c->cl);
    net_tls_free(c->tls);
    free(c);
}

int redis_client__link_cmd(redis_client_t *c, redis_reply_cb cb, void *data, int argc,
                           const char **argv, const size_t *lens)
{
    if (c->state != LINK_UP || !link_open(c))
        return SIOC_ECONNRESET;
    int r = send_argv(c, argc, argv, lens);
    return r != 0 ? r : push_pending(c, cb, data, 0);
}

void redis_client__on_error(redis_client_t *c, redis_push_cb cb, void *data)
{
    c->on_error = cb;
    c->on_error_data = data;
}

void redis_client__learn_node(redis_client_t *c, const redis_node_t *n)
{
    for (size_t i = 0; i < c->url.n_nodes; i++)
        if (c->url.nodes[i].port == n->port && strcmp(c->url.nodes[i].host, n->host) == 0)
            return;
    if (c->url.n_nodes < REDIS_URL_MAX_NODES)
        c->url.nodes[c->url.n_nodes++] = *n;
}

int redis_client__link_up(const redis_client_t *c)
{
    return c->state == LINK_UP;
}

int redis_client_cmd(redis_client_t *c, redis_reply_cb cb, void *data, int argc, const char **argv,
                     const size_t *lens)
{
    if (c->cl != NULL)
        return redis_cluster_cmd(c->cl, cb, data, argc, argv, lens);
    if (c->state != LINK_UP || !link_open(c))
        return SIOC_ECONNRESET;
    if (c->n_pending >= c->opts.max_pending)
        return SIOC_EAGAIN;
    int r = send_argv(c, argc, argv, lens);
    if (r != 0)
        return r;
    if (c->opts.subscriber)
        return 0; /* subscription replies arrive as pushes */
    return push_pending(c, cb, data, 0);
}

int redis_client_cmdv(redis_client_t *c, redis_reply_cb cb, void *data, int argc, const char **argv)
{
    return redis_client_cmd(c, cb, data, argc, argv, NULL);
}

int redis_client_up(const redis_client_t *c)
{
    return c->cl != NULL ? redis_cluster_up(c->cl) : c->state == LINK_UP;
}

void redis_client_describe(const redis_client_t *c, char *out, size_t cap)
{
    if (c->cl != NULL) {
        redis_cluster_describe(c->cl, out, cap);
        return;
    }
    const char *what = c->phase == PHASE_SENTINEL          ? "sentinel "
                       : c->url.kind == REDIS_URL_SENTINEL ? "primary "
                                                           : "";
    if (c->state == LINK_UP)
        snprintf(out, cap, "up on %s:%d (%s)", c->target.host, c->target.port, c->shown);
    else if (c->state == LINK_CONNECTING)
        snprintf(out, cap, "connecting to %s%s:%d (%s)", what, c->target.host, c->target.port,
                 c->shown);
    else
        snprintf(out, cap, "down after %s%s:%d, retrying (%s)", what, c->target.host,
                 c->target.port, c->shown);
}

long long redis_client_rtt_us(const redis_client_t *c)
{
    return c->cl != NULL ? redis_cluster_rtt_us(c->cl) : c->rtt_us;
}

unsigned long long redis_client_drops(const redis_client_t *c)
{
    return c->cl != NULL ? redis_cluster_drops(c->cl) : c->drops;
}

void redis_client_reset(redis_client_t *c)
{
    if (c->cl != NULL)
        redis_cluster_reset(c->cl);
    else
        link_down(c, "reset");
}

void redis_client_retry_now(redis_client_t *c)
{
    if (c->cl != NULL)
        redis_cluster_retry_now(c->cl);
    if (c->state != LINK_DOWN || c->freeing || c->backoff_step <= 1)
        return; /* connecting, up, or its retry is already immediate */
    c->backoff_step = 1;
    event_del(&c->retry);
    struct timeval tv = {0, 0};
    event_add(&c->retry, &tv);
}

int redis_client_is_cluster(const redis_client_t *c)
{
    return c->cl != NULL;
}
