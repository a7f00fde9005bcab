/*
 * discovery.c - worker membership from Redis (discovery.h).
 */
#include "discovery.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "net/connect.h"
#include "net/redis_client.h"

#define MAX_MEMBERS 1024

struct discovery {
    redis_client_t *rc;
    struct event *tick;
    char *key;
    long interval_ms, stale_ms;
    long long last_ok_ms;
    int inflight;
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
    m->handoff = SIOC_IOV_NULL;
    const char *at2 = memchr(m->addr.base, '@', m->addr.len);
    if (at2 != NULL) {
        m->handoff = iov_make(at2 + 1, m->addr.len - (size_t)(at2 - m->addr.base) - 1);
        m->addr.len = (size_t)(at2 - m->addr.base);
        if (m->handoff.len == 0 || m->handoff.len >= 108 || m->handoff.base[0] != '/' ||
            memchr(m->handoff.base, '\0', m->handoff.len) != NULL)
            return SIOC_EINVAL;
    }
    if (!affinity_id_valid(m->id) || m->addr.len == 0 || m->addr.len >= 64)
        return SIOC_EINVAL;
    char addr[64];
    memcpy(addr, m->addr.base, m->addr.len);
    addr[m->addr.len] = '\0';
    return net_connect_parse(addr, &m->sa, &m->salen, 0) == 0 ? 0 : SIOC_EINVAL;
}

static void on_reply(redis_client_t *c, redisReply *reply, void *data)
{
    (void)c;
    discovery_t *d = data;
    d->inflight = 0;
    if (d->freeing)
        return;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        d->failures++;
        static long long last;
        if (reply != NULL && log_ratelimited(&last))
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
                log_warn("redis %s: ignoring member '%.*s' (expected <id>@<numeric "
                         "host>:<port>[@<path>])",
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

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    discovery_t *d = arg;
    /* A command in flight is answered or failed by the client (liveness timeout). */
    if (d->inflight || !redis_client_up(d->rc))
        return;
    char since[32];
    snprintf(since, sizeof(since), "%lld", clock_unix_ms() - d->stale_ms);
    const char *argv[] = {"ZRANGEBYSCORE", d->key, since, "+inf"};
    if (redis_client_cmdv(d->rc, on_reply, d, 4, argv) == 0)
        d->inflight = 1;
    else
        d->failures++;
}

static void on_state(redis_client_t *c, int up, void *data)
{
    (void)c;
    discovery_t *d = data;
    if (d->freeing)
        return;
    if (up) {
        log_info("redis connected: discovering workers in %s", d->key);
        event_active(d->tick, EV_TIMEOUT, 0); /* poll now, not one interval later */
    } else {
        d->failures++;
    }
}

discovery_t *discovery_new(net_loop_t *loop, const redis_url_t *url, const char *key,
                           long interval_ms, long stale_ms, discovery_cb cb, void *data, char *err,
                           size_t errlen)
{
    if (redis_client_check(url, err, errlen) != 0)
        return NULL;
    discovery_t *d = xcalloc(1, sizeof(*d));
    d->interval_ms = interval_ms;
    d->stale_ms = stale_ms;
    d->cb = cb;
    d->data = data;
    d->key = xstrdup(key);
    d->tick = event_new(net_loop_base(loop), -1, EV_PERSIST, on_tick, d);
    struct timeval tv = {interval_ms / 1000, (interval_ms % 1000) * 1000};
    event_add(d->tick, &tv);
    redis_client_opts_t o = {0, "sioc-proxy-discovery", 0, 0, 0, 0, on_state, NULL, d};
    d->rc = redis_client_new(loop, url, &o);
    return d;
}

void discovery_free(discovery_t *d)
{
    if (d == NULL)
        return;
    d->freeing = 1;
    event_free(d->tick);
    redis_client_free(d->rc);
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
