/*
 * timeheap.h - a binary min-heap of deadlines, for many timers on one event.
 *
 * The owner embeds a timeheap_node_t in each object that waits for a deadline and arms one
 * loop timer for the earliest (timeheap_top). A node costs 16 bytes plus one pointer in the
 * heap's array, where a libevent timer per object costs a struct event of its own: the worker
 * keeps one deadline per authenticated socket (its token's exp). Deadlines need not be equal
 * or arrive in order; push, remove and pop are O(log n). The heap knows no clock: `due` is in
 * whatever unit the owner compares. Nothing is allocated but the array. Single-threaded.
 */
#ifndef SIOC_COMMON_BASE_TIMEHEAP_H
#define SIOC_COMMON_BASE_TIMEHEAP_H

#include <stddef.h>

typedef struct timeheap_node {
    long long due; /* read only while queued */
    size_t _slot;  /* position + 1 in the heap; 0 = not queued */
} timeheap_node_t;

typedef struct timeheap {
    timeheap_node_t **_v;
    size_t _n, _cap;
} timeheap_t;

#define TIMEHEAP_INIT                                                                              \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/** Whether `n` is queued in some heap. A zeroed node is not. */
static inline int timeheap_queued(const timeheap_node_t *n)
{
    return n->_slot != 0;
}

/** Number of queued nodes. */
static inline size_t timeheap_size(const timeheap_t *h)
{
    return h->_n;
}

/** The node with the earliest deadline, or NULL when the heap is empty. */
static inline timeheap_node_t *timeheap_top(const timeheap_t *h)
{
    return h->_n > 0 ? h->_v[0] : NULL;
}

/** Queues `n` (borrowed until removed or popped) for `due`; a queued node is moved to the new
 * deadline. The array grows with xrealloc (aborts on OOM). */
void timeheap_push(timeheap_t *h, timeheap_node_t *n, long long due);

/** Unqueues `n`; nothing when it is not queued. */
void timeheap_remove(timeheap_t *h, timeheap_node_t *n);

/** Unqueues and returns the earliest node if its deadline is <= `now`, else NULL. */
timeheap_node_t *timeheap_pop_due(timeheap_t *h, long long now);

/** Frees the array (queued nodes are forgotten, not touched). `h` is empty afterwards. */
void timeheap_free(timeheap_t *h);

#endif
