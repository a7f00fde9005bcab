/*
 * tunnel.c - websocket byte relay (tunnel.h).
 *
 * Side 0 is the client, side 1 the worker. Two implementations share the
 * policy (backpressure watermark, half-close, idle timeout):
 *
 *  - plain client (the common case, and the hot path): both sockets are
 *    taken out of their bufferevents and driven by one struct event each.
 *    A readable side is read into the loop's scratch buffer and written to
 *    the other socket at once: read() + write() per message and no copy in
 *    user space beyond the scratch buffer. Only bytes the kernel does not
 *    take right away are queued (an evbuffer that exists only while output
 *    is pending) and EV_WRITE is registered only then, so a flowing tunnel
 *    makes no epoll_ctl calls (HAProxy's "speculative send").
 *  - TLS client: the client side stays a bufferevent (OpenSSL in between),
 *    the worker side too; evbuffer chains are moved between them. The write
 *    callback of a side fires when its output has drained completely (write
 *    low watermark 0): that is where a paused reader resumes and where a
 *    pending half-close is sent.
 */
#include "tunnel.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/log.h"

typedef struct tunnel tunnel_t;

/* One side of a plain tunnel. */
typedef struct rside {
    tunnel_t *t;
    int fd;
    struct event ev;
    struct evbuffer *out; /* bytes for this side not yet written; NULL when none */
    short events;         /* currently registered */
} rside_t;

struct tunnel {
    proxy_t *p;
    pworker_t *w;
    addrcount_entry_t *ip; /* this connection's per-address count */
    uint8_t raw;           /* plain sockets (rside) rather than bufferevents */
    uint8_t eof[2];        /* side i sent EOF */
    uint8_t shut[2];       /* side i's write half is shut down */
    uint8_t paused[2];     /* not reading side i: the other side's output is full */
    uint8_t closing;
    long long last_ms;
    struct bufferevent *b[2]; /* !raw */
    rside_t r[2];             /* raw */
    struct event timer;
    sioc_list_t link;
    net_deferred_t reap;
};

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
    for (int i = 0; i < 2; i++) {
        if (t->raw) {
            if (t->r[i].events)
                event_del(&t->r[i].ev);
            close(t->r[i].fd);
            if (t->r[i].out != NULL)
                evbuffer_free(t->r[i].out);
        } else {
            bufferevent_free(t->b[i]);
        }
    }
    list_remove(&t->link);
    p->ntunnels--;
    p->stats.tunnels_open--;
    t->w->tunnels_open--;
    pworker_unref(t->w);
    addrcount_release(t->ip);
    t->reap.cb = reap;
    net_loop_defer(p->loop, &t->reap);
}

static void count(tunnel_t *t, int from, size_t n)
{
    proxy_stats_t *s = &t->p->stats;
    t->last_ms = clock_ms();
    if (from == 0) {
        s->bytes_in += n;
        s->up_bytes_out += n;
    } else {
        s->up_bytes_in += n;
        s->bytes_out += n;
    }
}

/* ------------------------------------------------------------------ */
/* plain sockets                                                        */

static void raw_on_event(evutil_socket_t fd, short what, void *arg);

static size_t raw_pending(const rside_t *s)
{
    return s->out != NULL ? evbuffer_get_length(s->out) : 0;
}

static void raw_update(tunnel_t *t, int i)
{
    rside_t *s = &t->r[i];
    short want = 0;
    if (!t->eof[i] && !t->paused[i])
        want |= EV_READ;
    if (raw_pending(s) > 0)
        want |= EV_WRITE;
    if (want == s->events)
        return;
    if (s->events)
        event_del(&s->ev);
    s->events = want;
    if (want) {
        event_assign(&s->ev, t->p->base, s->fd, want | EV_PERSIST, raw_on_event, s);
        event_add(&s->ev, NULL);
    }
}

/* Passes an EOF received from side 1-j on to side j, once j's output is written. */
static void raw_maybe_shut(tunnel_t *t, int j)
{
    if (t->closing || !t->eof[1 - j] || t->shut[j] || raw_pending(&t->r[j]) > 0)
        return;
    t->shut[j] = 1;
    if (shutdown(t->r[j].fd, SHUT_WR) != 0 || t->eof[j])
        tunnel_close(t);
}

/* Queues or writes `n` bytes for side o. Returns -1 after closing the tunnel. */
static int raw_send(tunnel_t *t, int o, const uint8_t *p, size_t n)
{
    rside_t *s = &t->r[o];
    size_t done = 0;
    if (raw_pending(s) == 0) {
        ssize_t w = write(s->fd, p, n);
        if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                tunnel_close(t);
                return -1;
            }
            w = 0;
        }
        done = (size_t)w;
    }
    if (done < n) {
        if (s->out == NULL && (s->out = evbuffer_new()) == NULL) {
            tunnel_close(t);
            return -1;
        }
        if (evbuffer_add(s->out, p + done, n - done) != 0) {
            tunnel_close(t);
            return -1;
        }
    }
    return 0;
}

static void raw_read(tunnel_t *t, int i)
{
    int o = 1 - i;
    uint8_t *buf = net_loop_scratch(t->p->loop);
    ssize_t n = read(t->r[i].fd, buf, net_loop_scratch_size());
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            tunnel_close(t);
        return;
    }
    if (n == 0) {
        t->eof[i] = 1;
        raw_update(t, i);
        raw_maybe_shut(t, o);
        if (!t->closing && t->eof[o] && raw_pending(&t->r[0]) == 0 && raw_pending(&t->r[1]) == 0)
            tunnel_close(t);
        return;
    }
    count(t, i, (size_t)n);
    if (raw_send(t, o, buf, (size_t)n) != 0)
        return;
    if (raw_pending(&t->r[o]) > (size_t)t->p->conf->tunnel_buffer)
        t->paused[i] = 1;
    raw_update(t, o);
    raw_update(t, i);
}

static void raw_flush(tunnel_t *t, int j)
{
    rside_t *s = &t->r[j];
    while (raw_pending(s) > 0) {
        int n = evbuffer_write(s->out, s->fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                break;
            tunnel_close(t);
            return;
        }
        if (n == 0)
            break;
    }
    if (raw_pending(s) == 0) {
        if (s->out != NULL) {
            evbuffer_free(s->out); /* idle tunnels hold no buffers */
            s->out = NULL;
        }
        if (t->paused[1 - j]) {
            t->paused[1 - j] = 0;
            raw_update(t, 1 - j);
        }
        raw_maybe_shut(t, j);
        if (t->closing)
            return;
    }
    raw_update(t, j);
}

static void raw_on_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    rside_t *s = arg;
    tunnel_t *t = s->t;
    int i = s == &t->r[0] ? 0 : 1;
    if (t->closing)
        return;
    if (what & EV_WRITE) {
        raw_flush(t, i);
        if (t->closing)
            return;
    }
    if (what & EV_READ)
        raw_read(t, i);
}

/* Takes the socket out of `bev` (which is freed); what was buffered moves along. */
static void raw_adopt(tunnel_t *t, int i, struct bufferevent *bev)
{
    rside_t *s = &t->r[i];
    s->t = t;
    s->fd = bufferevent_getfd(bev);
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    bufferevent_disable(bev, EV_READ | EV_WRITE);
    bufferevent_setfd(bev, -1); /* so that freeing the bufferevent does not close it */
    struct evbuffer *out = bufferevent_get_output(bev);
    if (evbuffer_get_length(out) > 0) {
        s->out = evbuffer_new();
        if (s->out != NULL)
            evbuffer_add_buffer(s->out, out);
    }
}

static void raw_start(tunnel_t *t, struct bufferevent *client, struct bufferevent *upstream)
{
    t->raw = 1;
    struct bufferevent *b[2] = {client, upstream};
    for (int i = 0; i < 2; i++)
        raw_adopt(t, i, b[i]);
    /* Frames that arrived with the upgrade request or the 101. */
    for (int i = 0; i < 2 && !t->closing; i++) {
        struct evbuffer *in = bufferevent_get_input(b[i]);
        size_t n = evbuffer_get_length(in);
        if (n > 0) {
            count(t, i, n);
            rside_t *o = &t->r[1 - i];
            if (o->out == NULL)
                o->out = evbuffer_new();
            if (o->out == NULL || evbuffer_add_buffer(o->out, in) != 0)
                tunnel_close(t);
        }
    }
    for (int i = 0; i < 2; i++)
        bufferevent_free(b[i]);
    for (int i = 0; i < 2 && !t->closing; i++) {
        if (raw_pending(&t->r[i]) > 0)
            raw_flush(t, i);
        else
            raw_update(t, i);
    }
}

/* ------------------------------------------------------------------ */
/* bufferevents (TLS client)                                            */

static int side_of(const tunnel_t *t, const struct bufferevent *bev)
{
    return bev == t->b[0] ? 0 : 1;
}

static size_t out_len(const tunnel_t *t, int i)
{
    return evbuffer_get_length(bufferevent_get_output(t->b[i]));
}

static void bev_maybe_shut(tunnel_t *t, int j)
{
    if (t->closing || !t->eof[1 - j] || t->shut[j] || out_len(t, j) > 0)
        return;
    t->shut[j] = 1;
    int fd = bufferevent_getfd(t->b[j]);
    if (j == 0 || fd < 0 || shutdown(fd, SHUT_WR) != 0) {
        /* TLS cannot be half-closed here: everything is written, so end. */
        tunnel_close(t);
        return;
    }
    if (t->eof[j])
        tunnel_close(t);
}

static void bev_on_read(struct bufferevent *bev, void *arg)
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
    count(t, i, n);
    if (out_len(t, o) > (size_t)t->p->conf->tunnel_buffer && !t->paused[i]) {
        t->paused[i] = 1;
        bufferevent_disable(bev, EV_READ);
    }
}

static void bev_on_write(struct bufferevent *bev, void *arg)
{
    tunnel_t *t = arg;
    if (t->closing)
        return;
    int j = side_of(t, bev), o = 1 - j;
    if (t->paused[o]) {
        t->paused[o] = 0;
        bufferevent_enable(t->b[o], EV_READ);
    }
    bev_maybe_shut(t, j);
}

static void bev_on_event(struct bufferevent *bev, short what, void *arg)
{
    tunnel_t *t = arg;
    if (t->closing || what == BEV_EVENT_CONNECTED)
        return;
    int i = side_of(t, bev);
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
        bev_on_read(bev, t);
        t->eof[i] = 1;
        bev_maybe_shut(t, 1 - i);
        if (!t->closing && t->eof[0] && t->eof[1] && out_len(t, 0) == 0 && out_len(t, 1) == 0)
            tunnel_close(t);
        return;
    }
    tunnel_close(t);
}

static void bev_start(tunnel_t *t, struct bufferevent *client, struct bufferevent *upstream)
{
    t->b[0] = client;
    t->b[1] = upstream;
    for (int i = 0; i < 2; i++) {
        bufferevent_setcb(t->b[i], bev_on_read, bev_on_write, bev_on_event, t);
        bufferevent_setwatermark(t->b[i], EV_READ | EV_WRITE, 0, 0);
        bufferevent_set_timeouts(t->b[i], NULL, NULL);
        bufferevent_enable(t->b[i], EV_READ | EV_WRITE);
    }
    bev_on_read(t->b[0], t);
    if (!t->closing)
        bev_on_read(t->b[1], t);
}

/* ------------------------------------------------------------------ */

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
                  pworker_t *w, addrcount_entry_t *ip)
{
    tunnel_t *t = xcalloc(1, sizeof(*t));
    t->p = p;
    t->w = w;
    t->ip = ip;
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
    if (tls)
        bev_start(t, client, upstream);
    else
        raw_start(t, client, upstream);
}

void tunnel_close_all(proxy_t *p)
{
    sioc_list_t *pos, *tmp;
    list_foreach_safe(pos, tmp, &p->tunnels)
    {
        tunnel_close(container_of(pos, tunnel_t, link));
    }
}
