/*
 * guard.c - admission limits: connection caps and the handshake token buckets
 * (guard.h).
 */
#include "guard.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

int guard_conn_admit(addrcount_t *per_addr, const char *addr, size_t len, size_t open,
                     long max_total, long max_per_addr, addrcount_entry_t **entry)
{
    *entry = NULL;
    if (open >= (size_t)max_total)
        return GUARD_OVER_TOTAL;
    *entry = addrcount_acquire(per_addr, addr, len, max_per_addr > 0 ? (size_t)max_per_addr : 0);
    return *entry != NULL ? GUARD_ADMIT : GUARD_OVER_ADDR;
}

void guard_bucket_init(guard_bucket_t *b, long long rate, long long burst, long long now_ms)
{
    if (burst < 1)
        burst = 1;
    b->rate = rate < 0 ? 0 : rate;
    b->burst_m = burst * 1000;
    b->tokens_m = b->burst_m;
    b->last_ms = now_ms;
}

int guard_bucket_take(guard_bucket_t *b, long long now_ms)
{
    if (b->rate == 0)
        return 1;
    if (now_ms > b->last_ms) {
        long long add = (now_ms - b->last_ms) * b->rate;
        /* Overflow-safe: a long pause refills completely. */
        if (now_ms - b->last_ms > b->burst_m || add >= b->burst_m - b->tokens_m)
            b->tokens_m = b->burst_m;
        else
            b->tokens_m += add;
        b->last_ms = now_ms;
    }
    if (b->tokens_m < 1000)
        return 0;
    b->tokens_m -= 1000;
    return 1;
}

typedef struct {
    hmap_node_t node;
    sioc_list_t lru;
    guard_bucket_t bucket;
    unsigned char len;
    char addr[32];
} rate_entry_t;

void guard_rates_init(guard_rates_t *t, long long rate, long long burst, size_t max_entries)
{
    hmap_init(&t->map);
    list_init(&t->lru);
    t->max_entries = max_entries > 0 ? max_entries : 1;
    t->rate = rate;
    t->burst = burst;
}

static void rate_entry_free(guard_rates_t *t, rate_entry_t *e)
{
    hmap_del(&t->map, &e->node);
    list_remove(&e->lru);
    free(e);
}

void guard_rates_free(guard_rates_t *t)
{
    while (!list_empty(&t->lru))
        rate_entry_free(t, container_of(t->lru.next, rate_entry_t, lru));
    hmap_free(&t->map);
}

int guard_rates_take(guard_rates_t *t, const void *addr, size_t len, long long now_ms)
{
    if (t->rate == 0)
        return 1;
    if (len > sizeof(((rate_entry_t *)0)->addr))
        len = sizeof(((rate_entry_t *)0)->addr);
    hmap_node_t *hn = hmap_get(&t->map, iov_make(addr, len));
    rate_entry_t *e;
    if (hn != NULL) {
        e = container_of(hn, rate_entry_t, node);
        list_remove(&e->lru);
    } else {
        if (t->map.count >= t->max_entries)
            rate_entry_free(t, container_of(t->lru.next, rate_entry_t, lru));
        e = xcalloc(1, sizeof(*e));
        memcpy(e->addr, addr, len);
        e->len = (unsigned char)len;
        e->node.key = iov_make(e->addr, len);
        hmap_put(&t->map, &e->node);
        guard_bucket_init(&e->bucket, t->rate, t->burst, now_ms);
    }
    list_insert_tail(&t->lru, &e->lru);
    return guard_bucket_take(&e->bucket, now_ms);
}
