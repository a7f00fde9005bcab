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

enum { LINK_DOWN, LINK_CONNECTING, LINK_UP };

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
    conn_t *conn;
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
};

static void link_down(redis_client_t *c, const char *why);
static void start_connect(redis_client_t *c);

int redis_url_parse(const char *url, redis_url_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    const char *p = url;
    if (strncmp(p, "redis://", 8) == 0)
        p += 8;
    else if (strstr(p, "://") != NULL) {
        snprintf(err, errlen, "REDIS_URL: only redis:// is supported");
        return SIOC_EINVAL;
    }
    const char *at = strrchr(p, '@');
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon != NULL) {
            snprintf(out->user, sizeof(out->user), "%.*s", (int)(colon - p), p);
            snprintf(out->password, sizeof(out->password), "%.*s", (int)(at - colon - 1),
                     colon + 1);
        } else {
            snprintf(out->password, sizeof(out->password), "%.*s", (int)(at - p), p);
        }
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    size_t hostport = slash ? (size_t)(slash - p) : strlen(p);
    const char *colon = memchr(p, ':', hostport);
    size_t hostlen = colon ? (size_t)(colon - p) : hostport;
    if (hostlen == 0 || hostlen >= sizeof(out->host)) {
        snprintf(err, errlen, "REDIS_URL: missing host");
        return SIOC_EINVAL;
    }
    memcpy(out->host, p, hostlen);
    if (colon != NULL) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end != p + hostport || port <= 0 || port > 65535) {
            snprintf(err, errlen, "REDIS_URL: bad port");
            return SIOC_EINVAL;
        }
        out->port = (int)port;
    }
    if (slash != NULL && slash[1] != '\0') {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end != '\0' || db < 0 || db > 1000000) {
            snprintf(err, errlen, "REDIS_URL: bad database number");
            return SIOC_EINVAL;
        }
        out->db = (int)db;
    }
    return 0;
}

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

static int send_argv(redis_client_t *c, int argc, const char **argv, const size_t *lens)
{
    char *cmd = NULL;
    long long n = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (n < 0 || cmd == NULL)
        return SIOC_ENOMEM;
    int r = conn_write(c->conn, cmd, (size_t)n);
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

static void handle_reply(redis_client_t *c, redisReply *r)
{
    if (c->opts.subscriber && is_push(r)) {
        if (c->opts.on_push != NULL)
            c->opts.on_push(c, r, c->opts.data);
        return;
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
            c->up_since_ms = clock_ms(); /* the backoff restarts once the link has held */
            log_info("redis %s: connected to %s:%d", c->opts.name, c->url.host, c->url.port);
            if (c->opts.on_state != NULL)
                c->opts.on_state(c, 1, c->opts.data);
        }
        return;
    }
    if (p->cb != NULL)
        p->cb(c, r, p->data);
    free(p);
}

static size_t on_data(conn_t *conn, uint8_t *buf, size_t len)
{
    redis_client_t *c = conn_data(conn);
    if (redisReaderFeed(c->reader, (const char *)buf, len) != REDIS_OK) {
        link_down(c, "reader error");
        return len;
    }
    for (;;) {
        void *reply = NULL;
        if (redisReaderGetReply(c->reader, &reply) != REDIS_OK) {
            link_down(c, "protocol error");
            return len;
        }
        if (reply == NULL)
            break;
        handle_reply(c, reply);
        freeReplyObject(reply);
        if (c->conn != conn)
            return len; /* the link went down inside a callback */
    }
    return len;
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
    if (c->conn != NULL) {
        conn_t *old = c->conn;
        c->conn = NULL;
        conn_set_data(old, NULL);
        conn_close(old, 0);
    }
    if (c->reader != NULL) {
        redisReaderFree(c->reader);
        c->reader = NULL;
    }
    fail_pending(c);
    if (was_up) {
        c->drops++;
        log_warn("redis %s: link down (%s); reconnecting", c->opts.name, why);
        if (c->opts.on_state != NULL)
            c->opts.on_state(c, 0, c->opts.data);
    } else {
        log_debug("redis %s: connect attempt failed (%s)", c->opts.name, why);
    }
    if (!c->freeing)
        schedule_retry(c);
}

static int open_socket(const redis_url_t *u)
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

static void start_connect(redis_client_t *c)
{
    int fd = open_socket(&c->url);
    c->connect_started_ms = clock_ms();
    if (fd < 0) {
        c->state = LINK_CONNECTING;
        link_down(c, "cannot connect");
        return;
    }
    c->state = LINK_CONNECTING;
    c->reader = redisReaderCreate();
    c->conn = conn_new(c->loop, fd, &hooks, c);
    conn_set_limits(c->conn, 512 * 1024 * 1024, c->opts.max_output);
    if (c->url.password[0]) {
        const char *argv[] = {"AUTH", c->url.user, c->url.password};
        if (c->url.user[0])
            (void)send_argv(c, 3, argv, NULL);
        else {
            const char *argv2[] = {"AUTH", c->url.password};
            (void)send_argv(c, 2, argv2, NULL);
        }
        (void)push_pending(c, on_handshake_reply, (void *)"AUTH", 1);
    }
    if (c->url.db != 0 && !c->opts.subscriber) {
        char db[16];
        snprintf(db, sizeof(db), "%d", c->url.db);
        const char *argv[] = {"SELECT", db};
        (void)send_argv(c, 2, argv, NULL);
        (void)push_pending(c, on_handshake_reply, (void *)"SELECT", 1);
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

redis_client_t *redis_client_new(net_loop_t *loop, const redis_url_t *url,
                                 const redis_client_opts_t *opts)
{
    redis_client_t *c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->url = *url;
    c->opts = *opts;
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
    start_connect(c);
    return c;
}

void redis_client_free(redis_client_t *c)
{
    if (c == NULL)
        return;
    c->freeing = 1;
    event_del(&c->tick);
    event_del(&c->retry);
    if (c->conn != NULL) {
        conn_set_data(c->conn, NULL);
        conn_close(c->conn, 0);
        c->conn = NULL;
    }
    if (c->reader != NULL)
        redisReaderFree(c->reader);
    fail_pending(c);
    free(c);
}

int redis_client_cmd(redis_client_t *c, redis_reply_cb cb, void *data, int argc, const char **argv,
                     const size_t *lens)
{
    if (c->state != LINK_UP || c->conn == NULL)
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
    return c->state == LINK_UP;
}

long long redis_client_rtt_us(const redis_client_t *c)
{
    return c->rtt_us;
}

unsigned long long redis_client_drops(const redis_client_t *c)
{
    return c->drops;
}

void redis_client_reset(redis_client_t *c)
{
    link_down(c, "reset");
}

void redis_client_retry_now(redis_client_t *c)
{
    if (c->state != LINK_DOWN || c->freeing || c->backoff_step <= 1)
        return; /* connecting, up, or its retry is already immediate */
    c->backoff_step = 1;
    event_del(&c->retry);
    struct timeval tv = {0, 0};
    event_add(&c->retry, &tv);
}
