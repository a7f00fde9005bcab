/*
 * tunnel.c - websocket byte relay (tunnel.h).
 *
 * Side 0 is the client, side 1 the worker. Each side's write callback fires
 * when its output has drained completely (write low watermark 0): that is
 * where a paused reader resumes and where a pending half-close is sent.
 */
#include "tunnel.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"

typedef struct tunnel {
    proxy_t *p;
    pworker_t *w;
    front_ip_t *ip;
    struct bufferevent *b[2];
    uint8_t eof[2];    /* side i sent EOF */
    uint8_t shut[2];   /* side i's write half is shut down */
    uint8_t paused[2]; /* not reading side i: the other side's output is full */
    uint8_t tls;       /* side 0 is TLS */
    uint8_t closing;
    long long last_ms;
    struct event timer;
    sioc_list_t link;
    net_deferred_t reap;
} tunnel_t;

static void reap(net_deferred_t *d)
{
    free(container_of(d, tunnel_t, reap));
}

static void tunnel_close(tunnel_t *t)
{
    if (t->closing)
        return;
    proxy_t *p = t->p;
    t->closing = 1;
    evtimer_del(&t->timer);
    for (int i = 0; i < 2; i++)
        bufferevent_free(t->b[i]);
    list_remove(&t->link);
    p->ntunnels--;
    p->stats.tunnels_open--;
    t->w->tunnels_open--;
    pworker_unref(t->w);
    front_ip_release(p, t->ip);
    t->reap.cb = reap;
    net_loop_defer(p->loop, &t->reap);
}

static int side_of(const tunnel_t *t, const struct bufferevent *bev)
{
    return bev == t->b[0] ? 0 : 1;
}

static size_t out_len(const tunnel_t *t, int i)
{
    return evbuffer_get_length(bufferevent_get_output(t->b[i]));
}

/* Passes an EOF received from side 1-j on to side j, once j's output is written. */
static void maybe_shut(tunnel_t *t, int j)
{
    if (t->closing || !t->eof[1 - j] || t->shut[j] || out_len(t, j) > 0)
        return;
    t->shut[j] = 1;
    int fd = bufferevent_getfd(t->b[j]);
    if ((j == 0 && t->tls) || fd < 0 || shutdown(fd, SHUT_WR) != 0) {
        /* TLS cannot be half-closed here: everything is written, so end. */
        tunnel_close(t);
        return;
    }
    if (t->eof[j])
        tunnel_close(t);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    tunnel_t *t = arg;
    if (t->closing)
        return;
    int i = side_of(t, bev), o = 1 - i;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);
    if (n == 0)
        return;
    evbuffer_add_buffer(bufferevent_get_output(t->b[o]), in);
    t->last_ms = clock_ms();
    proxy_stats_t *s = &t->p->stats;
    if (i == 0) {
        s->bytes_in += n;
        s->up_bytes_out += n;
    } else {
        s->up_bytes_in += n;
        s->bytes_out += n;
    }
    if (out_len(t, o) > (size_t)t->p->conf->tunnel_buffer && !t->paused[i]) {
        t->paused[i] = 1;
        bufferevent_disable(bev, EV_READ);
    }
}

static void on_write(struct bufferevent *bev, void *arg)
{
    tunnel_t *t = arg;
    if (t->closing)
        return;
    int j = side_of(t, bev), o = 1 - j;
    if (t->paused[o]) {
        t->paused[o] = 0;
        bufferevent_enable(t->b[o], EV_READ);
    }
    maybe_shut(t, j);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    tunnel_t *t = arg;
    if (t->closing || what == BEV_EVENT_CONNECTED)
        return;
    int i = side_of(t, bev);
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
        /* Bytes still in the input were not relayed yet (reading paused). */
        on_read(bev, t);
        t->eof[i] = 1;
        maybe_shut(t, 1 - i);
        if (!t->closing && t->eof[0] && t->eof[1] && out_len(t, 0) == 0 && out_len(t, 1) == 0)
            tunnel_close(t);
        return;
    }
    tunnel_close(t);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tunnel_t *t = arg;
    long long idle = clock_ms() - t->last_ms;
    long limit = t->p->conf->tunnel_timeout;
    if (idle >= limit) {
        log_debug("tunnel to worker %s idle for %lld ms: closed", t->w->id, idle);
        tunnel_close(t);
        return;
    }
    long long ms = limit - idle;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&t->timer, &tv);
}

void tunnel_start(proxy_t *p, struct bufferevent *client, int tls, struct bufferevent *upstream,
                  pworker_t *w, front_ip_t *ip)
{
    tunnel_t *t = xcalloc(1, sizeof(*t));
    t->p = p;
    t->w = w;
    t->ip = ip;
    t->tls = (uint8_t)tls;
    t->b[0] = client;
    t->b[1] = upstream;
    t->last_ms = clock_ms();
    pworker_ref(w);
    w->tunnels_open++;
    list_insert_tail(&p->tunnels, &t->link);
    p->ntunnels++;
    p->stats.tunnels_open++;
    p->stats.tunnels_total++;
    evtimer_assign(&t->timer, p->base, on_timer, t);
    long ms = p->conf->tunnel_timeout;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(&t->timer, &tv);
    for (int i = 0; i < 2; i++) {
        bufferevent_setcb(t->b[i], on_read, on_write, on_event, t);
        bufferevent_setwatermark(t->b[i], EV_READ | EV_WRITE, 0, 0);
        bufferevent_set_timeouts(t->b[i], NULL, NULL);
        bufferevent_enable(t->b[i], EV_READ | EV_WRITE);
    }
    /* Frames that arrived with the upgrade request or the 101. */
    on_read(t->b[0], t);
    if (!t->closing)
        on_read(t->b[1], t);
}

void tunnel_close_all(proxy_t *p)
{
    sioc_list_t *pos, *tmp;
    list_foreach_safe(pos, tmp, &p->tunnels)
    {
        tunnel_close(container_of(pos, tunnel_t, link));
    }
}
