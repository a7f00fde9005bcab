/*
 * loop.c - event loop context (loop.h).
 *
 * The turn-end event is activated (not polled) and shares the single
 * priority with I/O: libevent appends it to the active queue behind every
 * I/O event already made active by this epoll round, so it runs after them
 * in the same iteration. A lower priority would be skipped whenever
 * higher-priority events were processed, and could starve under load.
 */
#include "loop.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/alloc.h"

#define SCRATCH_SIZE (64 * 1024)

struct net_loop {
    struct event_base *base;
    struct event *turn_end;
    sioc_list_t deferred;
    int turn_end_armed;
    net_stats_t stats;
    uint8_t scratch[SCRATCH_SIZE];
};

static void on_turn_end(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    net_loop_t *l = arg;
    l->turn_end_armed = 0;
    /* Deferred actions may defer more work (a flush that closes a connection
     * queues its free); run until the queue is empty. */
    while (!list_empty(&l->deferred)) {
        sioc_list_t *n = l->deferred.next;
        list_remove(n);
        net_deferred_t *d = container_of(n, net_deferred_t, _link);
        d->cb(d);
    }
}

net_loop_t *net_loop_new(void)
{
    net_loop_t *l = xcalloc(1, sizeof(*l));
    struct event_config *cfg = event_config_new();
    if (cfg == NULL)
        abort();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    l->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (l->base == NULL) {
        fprintf(stderr, "fatal: cannot create the event loop\n");
        abort();
    }
    l->turn_end = event_new(l->base, -1, 0, on_turn_end, l);
    list_init(&l->deferred);
    return l;
}

void net_loop_free(net_loop_t *l)
{
    if (l == NULL)
        return;
    on_turn_end(-1, 0, l);
    event_free(l->turn_end);
    event_base_free(l->base);
    free(l);
}

struct event_base *net_loop_base(net_loop_t *l)
{
    return l->base;
}

uint8_t *net_loop_scratch(net_loop_t *l)
{
    return l->scratch;
}

size_t net_loop_scratch_size(void)
{
    return SCRATCH_SIZE;
}

void net_loop_defer(net_loop_t *l, net_deferred_t *d)
{
    if (d->_link.next != NULL && list_linked(&d->_link))
        return;
    list_insert_tail(&l->deferred, &d->_link);
    if (!l->turn_end_armed) {
        l->turn_end_armed = 1;
        event_active(l->turn_end, 0, 0);
    }
}

void net_loop_cancel(net_deferred_t *d)
{
    if (d->_link.next != NULL && list_linked(&d->_link))
        list_remove(&d->_link);
}

net_stats_t *net_loop_stats(net_loop_t *l)
{
    return &l->stats;
}

int net_loop_run(net_loop_t *l)
{
    return event_base_dispatch(l->base);
}

void net_loop_break(net_loop_t *l)
{
    event_base_loopbreak(l->base);
}
