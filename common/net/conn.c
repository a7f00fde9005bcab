/*
 * conn.c - lean TCP connections (conn.h).
 *
 * One struct event per connection, reassigned between EV_READ and
 * EV_READ|EV_WRITE when output backs up (rare), so an idle connection costs
 * this struct and its event. Flushing happens in a deferred action at the end
 * of the loop turn; freeing too.
 */
#include "conn.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "outq.h"

#define CONN_READING 0x01     /* read interest wanted by the owner */
#define CONN_WANT_WRITE 0x02  /* EV_WRITE registered */
#define CONN_CLOSING 0x04     /* closed by someone; inert */
#define CONN_FLUSH_CLOSE 0x08 /* close once output is written */
#define CONN_LINGER 0x80      /* output written and shut down; draining input until EOF */
#define CONN_RESCAN 0x10
#define CONN_EV_ADDED 0x20
#define CONN_DRAIN_WATCH 0x40

#define FLUSH_CLOSE_DEADLINE_S 5
#define LINGER_DEADLINE_S 2

struct conn {
    int fd;
    uint8_t flags;
    uint8_t close_reason; /* enum conn_close_reason, for on_close */
    uint32_t max_input;
    uint32_t max_output;
    net_loop_t *loop;
    const conn_hooks_t *hooks;
    void *data;
    outq_t *out;         /* NULL while nothing is pending */
    sioc_buf_t *in;      /* unconsumed input; NULL (no storage) when there is none */
    net_deferred_t turn; /* queued for a flush or rescan; once closing, for the free */
    struct event ev;
};

static void on_event(evutil_socket_t fd, short what, void *arg);

static size_t in_len(const conn_t *c)
{
    return c->in != NULL ? c->in->len : 0;
}

static void in_free(conn_t *c)
{
    if (c->in != NULL) {
        buf_free(c->in);
        free(c->in);
        c->in = NULL;
    }
}

/* Appends to the unconsumed input, a buffer made only while there is some (a partial
 * request or frame), capped at max_input plus one read so that the owner sees what
 * overflowed it. 0, or an error as buf_append(). */
static int in_append(conn_t *c, const void *p, size_t n)
{
    if (c->in == NULL) {
        c->in = xcalloc(1, sizeof(*c->in));
        c->in->limit = (size_t)c->max_input + net_loop_scratch_size();
    }
    return buf_append(c->in, p, n);
}

static void update_event(conn_t *c)
{
    if (c->flags & CONN_CLOSING)
        return;
    short want = 0;
    if (c->flags & (CONN_READING | CONN_LINGER))
        want |= EV_READ;
    if (c->flags & CONN_WANT_WRITE)
        want |= EV_WRITE;
    if (c->flags & CONN_EV_ADDED) {
        if (event_get_events(&c->ev) == (want | EV_PERSIST))
            return;
        event_del(&c->ev);
        c->flags &= (uint8_t)~CONN_EV_ADDED;
    }
    if (want == 0)
        return;
    event_assign(&c->ev, net_loop_base(c->loop), c->fd, want | EV_PERSIST, on_event, c);
    if (c->flags & CONN_FLUSH_CLOSE) {
        struct timeval tv = {c->flags & CONN_LINGER ? LINGER_DEADLINE_S : FLUSH_CLOSE_DEADLINE_S,
                             0};
        event_add(&c->ev, &tv);
    } else {
        event_add(&c->ev, NULL);
    }
    c->flags |= CONN_EV_ADDED;
}

/*
 * A lingering close: after the last response the write side is shut down and
 * whatever the peer still sends is read and dropped until its EOF (or a short
 * deadline). Closing at once with unread input would make the kernel send a
 * reset, and a reset can destroy the response (a 431, a close frame) before the
 * peer has read it.
 */
static void linger(conn_t *c)
{
    shutdown(c->fd, SHUT_WR);
    c->flags = (uint8_t)((c->flags & CONN_EV_ADDED) | CONN_FLUSH_CLOSE | CONN_LINGER);
    update_event(c);
}

static void linger_read(conn_t *c);

static void reap(net_deferred_t *d)
{
    conn_t *c = container_of(d, conn_t, turn);
    if (c->hooks->on_close != NULL)
        c->hooks->on_close(c, c->close_reason);
    outq_free(c->out);
    in_free(c);
    free(c);
}

/* Ends the connection now: no more I/O, freed at turn end. */
static void terminate(conn_t *c)
{
    if (c->flags & CONN_CLOSING)
        return;
    if (c->flags & CONN_EV_ADDED)
        event_del(&c->ev);
    c->flags = CONN_CLOSING;
    close(c->fd);
    c->fd = -1;
    net_loop_stats(c->loop)->conns_open--;
    net_loop_cancel(&c->turn);
    c->turn.cb = reap;
    net_loop_defer(c->loop, &c->turn);
}

static void fail(conn_t *c, int reason)
{
    if (c->flags & CONN_CLOSING)
        return;
    if (!(c->flags & CONN_FLUSH_CLOSE))
        c->close_reason = (uint8_t)reason;
    terminate(c);
}

/* Writes what is queued; returns 0 when everything went out, 1 when some remains,
 * -1 after a fatal error (the connection failed). */
static int write_out(conn_t *c)
{
    while (outq_len(c->out) > 0) {
        ssize_t n = outq_write(c->out, c->fd);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 1;
            fail(c, CONN_CLOSE_ERROR);
            return -1;
        }
        if (n == 0)
            return 1;
        net_loop_stats(c->loop)->bytes_out += (unsigned long long)n;
    }
    return 0;
}

static void after_write(conn_t *c, int r)
{
    if (r < 0)
        return;
    if (r == 0) {
        if (c->out != NULL) {
            /* Nothing pending: give the queue back so idle costs nothing. */
            outq_free(c->out);
            c->out = NULL;
        }
        if (c->flags & CONN_FLUSH_CLOSE) {
            linger(c);
            return;
        }
        if (c->flags & CONN_WANT_WRITE) {
            c->flags &= (uint8_t)~CONN_WANT_WRITE;
            update_event(c);
        }
        if ((c->flags & CONN_DRAIN_WATCH) && c->hooks->on_drain != NULL) {
            c->flags &= (uint8_t)~CONN_DRAIN_WATCH;
            c->hooks->on_drain(c);
        }
        return;
    }
    if (!(c->flags & CONN_WANT_WRITE)) {
        c->flags |= CONN_WANT_WRITE | CONN_DRAIN_WATCH;
        update_event(c);
    }
}

static void deliver(conn_t *c, uint8_t *buf, size_t len)
{
    size_t used = c->hooks->on_data(c, buf, len);
    if (c->flags & CONN_CLOSING)
        return;
    if (used > len)
        used = len;
    if (c->in != NULL && buf == (uint8_t *)c->in->base) {
        buf_consume(c->in, used);
        if (c->in->len == 0)
            in_free(c);
    } else if (used < len) {
        if (in_append(c, buf + used, len - used) != 0) {
            fail(c, CONN_CLOSE_INPUT_CAP);
            return;
        }
    }
    if (in_len(c) > c->max_input)
        fail(c, CONN_CLOSE_INPUT_CAP);
}

static void flush_cb(net_deferred_t *d)
{
    conn_t *c = container_of(d, conn_t, turn);
    if (c->flags & CONN_CLOSING)
        return;
    if (c->flags & CONN_RESCAN) {
        c->flags &= (uint8_t)~CONN_RESCAN;
        if (c->in != NULL)
            deliver(c, (uint8_t *)c->in->base, c->in->len);
        if (c->flags & CONN_CLOSING)
            return;
    }
    if (c->out != NULL && !(c->flags & CONN_WANT_WRITE))
        after_write(c, write_out(c));
}

static void do_read(conn_t *c)
{
    uint8_t *scratch = net_loop_scratch(c->loop);
    size_t cap = net_loop_scratch_size();
    ssize_t n = read(c->fd, scratch, cap);
    if (n == 0) {
        fail(c, CONN_CLOSE_EOF);
        return;
    }
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            fail(c, CONN_CLOSE_ERROR);
        return;
    }
    net_loop_stats(c->loop)->bytes_in += (unsigned long long)n;
    if (c->in == NULL) {
        deliver(c, scratch, (size_t)n);
        return;
    }
    if (in_append(c, scratch, (size_t)n) != 0) {
        fail(c, CONN_CLOSE_INPUT_CAP);
        return;
    }
    deliver(c, (uint8_t *)c->in->base, c->in->len);
}

static void linger_read(conn_t *c)
{
    uint8_t *scratch = net_loop_scratch(c->loop);
    for (int i = 0; i < 16; i++) {
        ssize_t n = read(c->fd, scratch, net_loop_scratch_size());
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        terminate(c); /* EOF or error: done */
        return;
    }
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    conn_t *c = arg;
    if (what & EV_TIMEOUT) {
        /* Only armed while flushing or lingering before a close. */
        terminate(c);
        return;
    }
    if (c->flags & CONN_LINGER) {
        linger_read(c);
        return;
    }
    if (what & EV_WRITE) {
        after_write(c, write_out(c));
        if (c->flags & CONN_CLOSING)
            return;
    }
    if ((what & EV_READ) && (c->flags & CONN_READING))
        do_read(c);
}

conn_t *conn_new(net_loop_t *loop, int fd, const conn_hooks_t *hooks, void *data)
{
    conn_t *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->loop = loop;
    c->hooks = hooks;
    c->data = data;
    c->max_input = 64 * 1024;
    c->max_output = 1024 * 1024;
    c->turn.cb = flush_cb;
    c->flags = CONN_READING;
    c->close_reason = CONN_CLOSE_LOCAL;
    net_stats_t *st = net_loop_stats(loop);
    st->conns_open++;
    st->conns_total++;
    update_event(c);
    return c;
}

void *conn_data(const conn_t *c)
{
    return c->data;
}

void conn_set_data(conn_t *c, void *data)
{
    c->data = data;
}

void conn_set_hooks(conn_t *c, const conn_hooks_t *hooks)
{
    c->hooks = hooks;
}

int conn_fd(const conn_t *c)
{
    return c->fd;
}

net_loop_t *conn_loop(const conn_t *c)
{
    return c->loop;
}

void conn_set_limits(conn_t *c, size_t max_input, size_t max_output)
{
    c->max_input = max_input > UINT32_MAX ? UINT32_MAX : (uint32_t)max_input;
    c->max_output = max_output > UINT32_MAX ? UINT32_MAX : (uint32_t)max_output;
    if (c->in != NULL)
        c->in->limit = max_input + net_loop_scratch_size();
}

/* Output above the limit: closed at once, or flushed with the hooks' tail after it. */
static void overflow(conn_t *c)
{
    net_loop_stats(c->loop)->overflows++;
    const conn_hooks_t *h = c->hooks;
    if (h->overflow_tail == NULL ||
        outq_ref(&c->out, h->overflow_tail, h->overflow_tail_len, NULL) != 0) {
        fail(c, CONN_CLOSE_OVERFLOW);
        return;
    }
    conn_close(c, 1);
    c->close_reason = CONN_CLOSE_OVERFLOW;
}

static int queue_check(conn_t *c, size_t n)
{
    if (c->flags & (CONN_CLOSING | CONN_FLUSH_CLOSE))
        return SIOC_ECANCELED;
    if (outq_len(c->out) + n > c->max_output) {
        overflow(c);
        return SIOC_EMSGSIZE;
    }
    return 0;
}

int conn_reserve(conn_t *c, size_t n)
{
    return queue_check(c, n);
}

int conn_write(conn_t *c, const void *p, size_t n)
{
    int r = queue_check(c, n);
    if (r)
        return r;
    if (outq_copy(&c->out, p, n) != 0)
        return SIOC_ENOMEM;
    net_loop_defer(c->loop, &c->turn);
    return 0;
}

int conn_write_static(conn_t *c, const void *p, size_t n)
{
    int r = queue_check(c, 0);
    if (r)
        return r;
    if (outq_ref(&c->out, p, n, NULL) != 0)
        return SIOC_ENOMEM;
    net_loop_defer(c->loop, &c->turn);
    return 0;
}

int conn_write_shared(conn_t *c, sioc_shared_t *s, size_t off, size_t len)
{
    int r = queue_check(c, len);
    if (r)
        return r;
    shared_ref(s);
    if (outq_ref(&c->out, s->data + off, len, s) != 0) {
        shared_unref(s);
        return SIOC_ENOMEM;
    }
    net_loop_defer(c->loop, &c->turn);
    return 0;
}

size_t conn_buffered(const conn_t *c)
{
    return in_len(c);
}

size_t conn_pending(const conn_t *c)
{
    return outq_len(c->out);
}

int conn_closing(const conn_t *c)
{
    return (c->flags & (CONN_CLOSING | CONN_FLUSH_CLOSE)) != 0;
}

void conn_pause_read(conn_t *c)
{
    if (c->flags & CONN_READING) {
        c->flags &= (uint8_t)~CONN_READING;
        update_event(c);
    }
}

void conn_resume_read(conn_t *c)
{
    if (!(c->flags & (CONN_READING | CONN_CLOSING | CONN_FLUSH_CLOSE))) {
        c->flags |= CONN_READING;
        update_event(c);
    }
}

int conn_prefill(conn_t *c, const void *p, size_t n)
{
    if (c->flags & CONN_CLOSING)
        return SIOC_ECANCELED;
    if (n == 0)
        return 0;
    /* Nothing has been read yet, so these bytes come first. */
    if (c->in != NULL || n > c->max_input || in_append(c, p, n) != 0)
        return SIOC_EMSGSIZE;
    net_loop_stats(c->loop)->bytes_in += n;
    conn_rescan(c);
    return 0;
}

void conn_rescan(conn_t *c)
{
    if (c->flags & CONN_CLOSING)
        return;
    c->flags |= CONN_RESCAN;
    net_loop_defer(c->loop, &c->turn);
}

void conn_close(conn_t *c, int flush)
{
    if (c->flags & CONN_CLOSING)
        return;
    /* Without flush the connection ends now, also one still flushing or lingering: at
     * shutdown nothing else would free it. */
    if (!flush) {
        terminate(c);
        return;
    }
    if (c->flags & CONN_FLUSH_CLOSE)
        return;
    if (conn_pending(c) == 0) {
        linger(c);
        return;
    }
    c->flags = (uint8_t)((c->flags & (CONN_EV_ADDED | CONN_WANT_WRITE)) | CONN_FLUSH_CLOSE);
    c->flags |= CONN_WANT_WRITE;
    update_event(c);
    net_loop_defer(c->loop, &c->turn);
}
