/*
 * discovery.c - worker membership from Redis (discovery.h).
 *
 * hiredis 0.14 (Debian 12) has no async connect timeout and no reconnect,
 * so both are done here: a connection is made lazily on a tick, and one
 * that has not connected or answered after three ticks is freed (from the
 * timer, never from inside a hiredis callback). Every hiredis callback
 * checks that its context is still the current one, because freeing a
 * context runs the pending callbacks with a NULL reply.
 */
#include "discovery.h"

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "net/connect.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wshadow"
#include <hiredis/adapters/libevent.h>
#pragma GCC diagnostic pop

#define MAX_MEMBERS 1024

struct discovery {
    struct event_base *base;
    struct event *tick;
    redisAsyncContext *ac;
    char host[96];
    int port;
    char *password;
    int db;
    char *key;
    long interval_ms, stale_ms;
    long long started_ms; /* connect or command start */
    long long last_ok_ms;
    int inflight;
    int connected;
    int freeing;
    unsigned long long failures;
    discovery_cb cb;
    void *data;
};

int discovery_parse_member(sioc_iov_t text, workers_member_t *m)
{
    const char *at = text.len ? memchr(text.base, '@', text.len) : NULL;
    if (at == NULL)
        return SIOC_EINVAL;
    m->id = iov_make(text.base, (size_t)(at - text.base));
    m->addr = iov_make(at + 1, text.len - m->id.len - 1);
    if (!affinity_id_valid(m->id) || m->addr.len == 0 || m->addr.len >= 64)
        return SIOC_EINVAL;
    char addr[64];
    memcpy(addr, m->addr.base, m->addr.len);
    addr[m->addr.len] = '\0';
    return net_connect_parse(addr, &m->sa, &m->salen, 0) == 0 ? 0 : SIOC_EINVAL;
}

static void drop(discovery_t *d, const char *why)
{
    redisAsyncContext *ac = d->ac;
    d->ac = NULL;
    d->inflight = 0;
    d->connected = 0;
    d->failures++;
    static long long last;
    if (log_ratelimited(&last))
        log_warn("redis %s:%d: %s", d->host, d->port, why);
    if (ac != NULL)
        redisAsyncFree(ac);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    discovery_t *d = privdata;
    if (d->freeing || ac != d->ac)
        return;
    d->inflight = 0;
    redisReply *reply = r;
    if (reply == NULL)
        return;
    if (reply->type != REDIS_REPLY_ARRAY) {
        d->failures++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("redis ZRANGEBYSCORE %s: %s", d->key,
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        return;
    }
    d->last_ok_ms = clock_ms();
    size_t n = reply->elements < MAX_MEMBERS ? reply->elements : MAX_MEMBERS;
    workers_member_t *m = xcalloc(n ? n : 1, sizeof(*m));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *e = reply->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        sioc_iov_t text = iov_make(e->str, (size_t)e->len);
        if (discovery_parse_member(text, &m[k]) != 0) {
            static long long last;
            if (log_ratelimited(&last))
                log_warn("redis %s: ignoring member '%.*s' (expected <id>@<numeric host>:<port>)",
                         d->key, (int)(text.len > 80 ? 80 : text.len), text.base);
            continue;
        }
        /* A worker id announced twice (two addresses): the first wins. */
        int dup = 0;
        for (size_t j = 0; j < k && !dup; j++)
            dup = iov_eq(m[j].id, m[k].id);
        if (!dup)
            k++;
    }
    d->cb(d, m, k, d->data);
    free(m);
}

static void on_auth(redisAsyncContext *ac, void *r, void *privdata)
{
    discovery_t *d = privdata;
    redisReply *reply = r;
    if (d->freeing || ac != d->ac || reply == NULL)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        static long long last;
        if (log_ratelimited(&last))
            log_error("redis %s:%d: AUTH/SELECT failed: %s", d->host, d->port, reply->str);
    }
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    discovery_t *d = ac->data;
    if (d->freeing || ac != d->ac)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after this callback. */
        d->ac = NULL;
        d->inflight = 0;
        d->failures++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("redis %s:%d: cannot connect: %s", d->host, d->port, ac->errstr);
        return;
    }
    d->connected = 1;
    log_info("redis %s:%d connected: discovering workers in %s", d->host, d->port, d->key);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    discovery_t *d = ac->data;
    if (d->freeing || ac != d->ac)
        return;
    d->ac = NULL;
    d->inflight = 0;
    d->connected = 0;
    if (status != REDIS_OK) {
        d->failures++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("redis %s:%d: connection lost: %s", d->host, d->port, ac->errstr);
    }
}

static void start_connect(discovery_t *d)
{
    redisAsyncContext *ac = redisAsyncConnect(d->host, d->port);
    if (ac == NULL) {
        d->failures++;
        return;
    }
    if (ac->err) {
        static long long last;
        if (log_ratelimited(&last))
            log_warn("redis %s:%d: %s", d->host, d->port, ac->errstr);
        d->failures++;
        redisAsyncFree(ac);
        return;
    }
    ac->data = d;
    if (redisLibeventAttach(ac, d->base) != REDIS_OK) {
        redisAsyncFree(ac);
        return;
    }
    d->ac = ac;
    d->started_ms = clock_ms();
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Queued now, written once the connection is up. */
    if (d->password != NULL)
        redisAsyncCommand(ac, on_auth, d, "AUTH %s", d->password);
    if (d->db != 0)
        redisAsyncCommand(ac, on_auth, d, "SELECT %d", d->db);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    discovery_t *d = arg;
    long long now = clock_ms();
    if (d->ac == NULL) {
        start_connect(d);
        if (d->ac == NULL)
            return;
    }
    if (!d->connected && now - d->started_ms > 3 * d->interval_ms) {
        drop(d, "connect timed out");
        return;
    }
    if (d->inflight) {
        if (now - d->started_ms > 3 * d->interval_ms)
            drop(d, "no reply: reconnecting");
        return;
    }
    char since[32];
    snprintf(since, sizeof(since), "%lld", clock_unix_ms() - d->stale_ms);
    if (redisAsyncCommand(d->ac, on_reply, d, "ZRANGEBYSCORE %s %s +inf", d->key, since) !=
        REDIS_OK) {
        drop(d, "cannot send");
        return;
    }
    d->inflight = 1;
    if (d->connected)
        d->started_ms = now;
}

static int parse_url(discovery_t *d, const char *url, char *err, size_t errlen)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0) {
        snprintf(err, errlen, "redis url must start with redis://");
        return -1;
    }
    p += 8;
    const char *at = strrchr(p, '@');
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p; /* redis://user:pw@ or redis://pw@ */
        if (at > pw)
            d->password = xstrndup(pw, (size_t)(at - pw));
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    char hostport[300];
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    if (hl == 0 || hl + 8 >= sizeof(hostport)) {
        snprintf(err, errlen, "bad redis url '%s'", url);
        return -1;
    }
    memcpy(hostport, p, hl);
    hostport[hl] = '\0';
    /* host without a port: the default 6379 */
    int has_port = hostport[hl - 1] != ']' &&
                   strchr(hostport[0] == '[' ? strchr(hostport, ']') : hostport, ':') != NULL;
    if (!has_port)
        strcat(hostport, ":6379");
    struct sockaddr_storage ss;
    socklen_t sl;
    if (net_connect_parse(hostport, &ss, &sl, 1) != 0) {
        snprintf(err, errlen, "cannot resolve redis address '%s'", hostport);
        return -1;
    }
    char numeric[96];
    net_connect_format((struct sockaddr *)&ss, numeric, sizeof(numeric));
    /* numeric is host:port or [v6]:port */
    char *c = strrchr(numeric, ':');
    *c = '\0';
    d->port = atoi(c + 1);
    const char *h = numeric;
    if (h[0] == '[') {
        h++;
        numeric[strlen(numeric) - 1] = '\0';
    }
    snprintf(d->host, sizeof(d->host), "%s", h);
    if (slash != NULL && slash[1] != '\0') {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end != '\0' || db < 0 || db > 1000000) {
            snprintf(err, errlen, "bad redis database in '%s'", url);
            return -1;
        }
        d->db = (int)db;
    }
    return 0;
}

discovery_t *discovery_new(struct event_base *base, const char *url, const char *key,
                           long interval_ms, long stale_ms, discovery_cb cb, void *data, char *err,
                           size_t errlen)
{
    discovery_t *d = xcalloc(1, sizeof(*d));
    d->base = base;
    d->interval_ms = interval_ms;
    d->stale_ms = stale_ms;
    d->cb = cb;
    d->data = data;
    if (parse_url(d, url, err, errlen) != 0) {
        free(d->password);
        free(d);
        return NULL;
    }
    d->key = xstrdup(key);
    d->tick = event_new(base, -1, EV_PERSIST, on_tick, d);
    struct timeval tv = {interval_ms / 1000, (interval_ms % 1000) * 1000};
    event_add(d->tick, &tv);
    /* First poll at once rather than one interval from now. */
    event_active(d->tick, EV_TIMEOUT, 0);
    return d;
}

void discovery_free(discovery_t *d)
{
    if (d == NULL)
        return;
    d->freeing = 1;
    event_free(d->tick);
    if (d->ac != NULL) {
        redisAsyncContext *ac = d->ac;
        d->ac = NULL;
        redisAsyncFree(ac);
    }
    free(d->password);
    free(d->key);
    free(d);
}

int discovery_ok(const discovery_t *d)
{
    return d->last_ok_ms != 0 && clock_ms() - d->last_ok_ms <= 3 * d->interval_ms;
}

unsigned long long discovery_failures(const discovery_t *d)
{
    return d->failures;
}
