/*
 * timeheap.c - binary min-heap of deadlines (timeheap.h).
 *
 * The array holds node pointers; each node knows its slot (+1, so a zeroed node reads as
 * unqueued), which makes removal of any node O(log n). The array is shrunk when it falls to a
 * quarter of its capacity, so a burst of connections does not pin memory afterwards.
 */
#include "timeheap.h"

#include <stdlib.h>

#include "alloc.h"

#define MIN_CAP 16

static void place(timeheap_t *h, size_t i, timeheap_node_t *n)
{
    h->_v[i] = n;
    n->_slot = i + 1;
}

static void sift_up(timeheap_t *h, size_t i, timeheap_node_t *n)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->_v[parent]->due <= n->due)
            break;
        place(h, i, h->_v[parent]);
        i = parent;
    }
    place(h, i, n);
}

static void sift_down(timeheap_t *h, size_t i, timeheap_node_t *n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->_n)
            break;
        if (c + 1 < h->_n && h->_v[c + 1]->due < h->_v[c]->due)
            c++;
        if (n->due <= h->_v[c]->due)
            break;
        place(h, i, h->_v[c]);
        i = c;
    }
    place(h, i, n);
}

static void resize(timeheap_t *h, size_t cap)
{
    h->_v = xrealloc(h->_v, cap * sizeof(*h->_v));
    h->_cap = cap;
}

void timeheap_push(timeheap_t *h, timeheap_node_t *n, long long due)
{
    if (timeheap_queued(n)) {
        size_t i = n->_slot - 1;
        long long was = n->due;
        n->due = due;
        if (due < was)
            sift_up(h, i, n);
        else
            sift_down(h, i, n);
        return;
    }
    if (h->_n == h->_cap)
        resize(h, h->_cap ? h->_cap * 2 : MIN_CAP);
    n->due = due;
    sift_up(h, h->_n++, n);
}

void timeheap_remove(timeheap_t *h, timeheap_node_t *n)
{
    if (!timeheap_queued(n))
        return;
    size_t i = n->_slot - 1;
    n->_slot = 0;
    timeheap_node_t *last = h->_v[--h->_n];
    if (i < h->_n) {
        /* The last node takes the hole: it may belong above or below it. */
        if (i > 0 && last->due < h->_v[(i - 1) / 2]->due)
            sift_up(h, i, last);
        else
            sift_down(h, i, last);
    }
    if (h->_cap > MIN_CAP && h->_n < h->_cap / 4)
        resize(h, h->_cap / 2);
}

timeheap_node_t *timeheap_pop_due(timeheap_t *h, long long now)
{
    timeheap_node_t *n = timeheap_top(h);
    if (n == NULL || n->due > now)
        return NULL;
    timeheap_remove(h, n);
    return n;
}

void timeheap_free(timeheap_t *h)
{
    free(h->_v);
    h->_v = NULL;
    h->_n = h->_cap = 0;
}
