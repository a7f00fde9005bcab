/*
 * hmap.c - intrusive hash table (hmap.h).
 */
#include "hmap.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "rand.h"
#include "siphash.h"

#define HMAP_INITIAL 16

/* One secret key per process, drawn at the first table: keys come from clients (room
 * names, sids, addresses), and an unkeyed hash lets them choose colliding keys. */
static uint8_t hash_key[16];
static int hash_keyed;

void hmap_init(hmap_t *m)
{
    if (!hash_keyed) {
        rand_fill(hash_key, sizeof(hash_key));
        hash_keyed = 1;
    }
    m->_buckets = xcalloc(HMAP_INITIAL, sizeof(*m->_buckets));
    m->_mask = HMAP_INITIAL - 1;
    m->count = 0;
}

void hmap_free(hmap_t *m)
{
    free(m->_buckets);
    m->_buckets = NULL;
    m->count = 0;
}

uint64_t hmap_hash(const char *p, size_t len)
{
    return siphash24(hash_key, p, len);
}

static hmap_node_t **bucket_of(hmap_node_t **buckets, size_t mask, sioc_iov_t key)
{
    return &buckets[hmap_hash(key.base, key.len) & mask];
}

hmap_node_t *hmap_get(const hmap_t *m, sioc_iov_t key)
{
    for (hmap_node_t *n = *bucket_of(m->_buckets, m->_mask, key); n != NULL; n = n->_next)
        if (iov_eq(n->key, key))
            return n;
    return NULL;
}

static void grow(hmap_t *m)
{
    size_t size = (m->_mask + 1) * 2;
    hmap_node_t **b = xcalloc(size, sizeof(*b));
    for (size_t i = 0; i <= m->_mask; i++) {
        hmap_node_t *n = m->_buckets[i];
        while (n != NULL) {
            hmap_node_t *next = n->_next;
            hmap_node_t **to = bucket_of(b, size - 1, n->key);
            n->_next = *to;
            *to = n;
            n = next;
        }
    }
    free(m->_buckets);
    m->_buckets = b;
    m->_mask = size - 1;
}

void hmap_put(hmap_t *m, hmap_node_t *n)
{
    if (m->count >= m->_mask + 1)
        grow(m);
    hmap_node_t **b = bucket_of(m->_buckets, m->_mask, n->key);
    n->_next = *b;
    *b = n;
    m->count++;
}

void hmap_del(hmap_t *m, hmap_node_t *n)
{
    hmap_node_t **p = bucket_of(m->_buckets, m->_mask, n->key);
    while (*p != NULL && *p != n)
        p = &(*p)->_next;
    assert(*p == n); /* in the table, under the key it was put with */
    if (*p == n) {
        *p = n->_next;
        m->count--;
    }
    n->_next = NULL;
}

hmap_iter_t hmap_iter(const hmap_t *m)
{
    hmap_iter_t it = {m, 0, m->_buckets[0]};
    return it;
}

hmap_node_t *hmap_next(hmap_iter_t *it)
{
    while (it->_next == NULL) {
        if (++it->_bucket > it->_m->_mask)
            return NULL;
        it->_next = it->_m->_buckets[it->_bucket];
    }
    hmap_node_t *n = it->_next;
    it->_next = n->_next;
    return n;
}
