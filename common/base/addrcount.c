/*
 * addrcount.c - per-address connection counts (addrcount.h).
 *
 * Each entry carries a back-pointer to its table, so release and drop need only
 * the handle, and its address bytes right after the struct (one allocation).
 * `holds` counts connections plus addrcount_hold()s; `count` only connections.
 */
#include "addrcount.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "hmap.h"
#include "list.h"

struct addrcount {
    hmap_t map;
};

struct addrcount_entry {
    hmap_node_t node;
    addrcount_t *ac;
    size_t count; /* open connections */
    size_t holds; /* connections + addrcount_hold()s; freed at 0 */
    char addr[];  /* NUL-terminated */
};

addrcount_t *addrcount_new(void)
{
    addrcount_t *ac = xmalloc(sizeof(*ac));
    hmap_init(&ac->map);
    return ac;
}

void addrcount_free(addrcount_t *ac)
{
    if (ac == NULL)
        return;
    hmap_node_t *n;
    for (hmap_iter_t it = hmap_iter(&ac->map); (n = hmap_next(&it)) != NULL;) {
        hmap_del(&ac->map, n);
        free(container_of(n, addrcount_entry_t, node));
    }
    hmap_free(&ac->map);
    free(ac);
}

static void unhold(addrcount_entry_t *e)
{
    if (--e->holds == 0) {
        hmap_del(&e->ac->map, &e->node);
        free(e);
    }
}

addrcount_entry_t *addrcount_acquire(addrcount_t *ac, const char *addr, size_t len, size_t limit)
{
    hmap_node_t *n = hmap_get(&ac->map, iov_make(addr, len));
    addrcount_entry_t *e;
    if (n != NULL) {
        e = container_of(n, addrcount_entry_t, node);
        if (limit > 0 && e->count >= limit)
            return NULL;
    } else {
        e = xmalloc(sizeof(*e) + len + 1);
        e->ac = ac;
        e->count = 0;
        e->holds = 0;
        memcpy(e->addr, addr, len);
        e->addr[len] = '\0';
        e->node.key = iov_make(e->addr, len);
        hmap_put(&ac->map, &e->node);
    }
    e->count++;
    e->holds++;
    return e;
}

void addrcount_release(addrcount_entry_t *e)
{
    if (e == NULL)
        return;
    e->count--;
    unhold(e);
}

void addrcount_hold(addrcount_entry_t *e)
{
    e->holds++;
}

void addrcount_drop(addrcount_entry_t *e)
{
    if (e != NULL)
        unhold(e);
}

const char *addrcount_addr(const addrcount_entry_t *e)
{
    return e->addr;
}

size_t addrcount_count(const addrcount_entry_t *e)
{
    return e->count;
}

size_t addrcount_size(const addrcount_t *ac)
{
    return ac->map.count;
}

size_t addrcount_get(const addrcount_t *ac, const char *addr, size_t len)
{
    hmap_node_t *n = hmap_get(&ac->map, iov_make(addr, len));
    return n != NULL ? container_of(n, addrcount_entry_t, node)->count : 0;
}
