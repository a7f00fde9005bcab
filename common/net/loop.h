/*
 * loop.h - the per-process event loop context shared by connections.
 *
 * Wraps one libevent event_base. A "turn end" event runs after the I/O
 * callbacks of each loop iteration. At turn end the loop (1) flushes every connection that had
 * output queued during the turn, so many messages to one peer become one
 * writev (Redis' pending-write list), and (2) frees objects whose close was
 * requested during the turn (the reaper: nothing is freed while its callback
 * is on the stack). Loop thread only.
 */
#ifndef SIOC_COMMON_NET_LOOP_H
#define SIOC_COMMON_NET_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "base/list.h"

struct event_base;

typedef struct net_loop net_loop_t;

/** A deferred action: run once at the end of the current loop turn. */
typedef struct net_deferred {
    sioc_list_t _link;
    void (*cb)(struct net_deferred *d);
} net_deferred_t;

/** Traffic counters of every connection on the loop (for /metrics). */
typedef struct {
    unsigned long long bytes_in, bytes_out, overflows, conns_open, conns_total;
} net_stats_t;

/** Creates the loop (owns its event_base). Aborts on failure (start-up only). */
net_loop_t *net_loop_new(void);
/** Frees the loop; all connections must be gone. */
void net_loop_free(net_loop_t *l);
/** The loop's event_base (borrowed). */
struct event_base *net_loop_base(net_loop_t *l);
/** A scratch buffer of net_loop_scratch_size() bytes, valid until the callback returns. */
uint8_t *net_loop_scratch(net_loop_t *l);
size_t net_loop_scratch_size(void);
/** Queues `d` to run at the end of this turn; a node already queued is not queued twice. */
void net_loop_defer(net_loop_t *l, net_deferred_t *d);
/** Removes `d` from the queue if it is queued. */
void net_loop_cancel(net_deferred_t *d);
/** The loop's counters (mutable: connections update them). */
net_stats_t *net_loop_stats(net_loop_t *l);
/** Runs the loop until net_loop_break() or no more events. */
int net_loop_run(net_loop_t *l);
void net_loop_break(net_loop_t *l);

#endif
