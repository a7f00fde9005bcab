/*
 * hmap.h - intrusive string-keyed hash table.
 *
 * Nodes are embedded in their owners (hmap_node_t) and carry a borrowed key
 * slice that must stay valid while the node is in the table. Chained buckets,
 * power-of-two size, doubles when the load passes 1; never shrinks below its
 * initial size. The table allocates only its bucket array (xcalloc: control
 * plane). Keys are hashed with a secret per-process key (hash flooding). Not
 * thread-safe.
 */
#ifndef SIOC_COMMON_BASE_HMAP_H
#define SIOC_COMMON_BASE_HMAP_H

#include <stddef.h>
#include <stdint.h>

#include "iov.h"

/* No hash is kept in the node (24 bytes, embedded in every session and socket): a lookup
 * compares keys, and a resize or a removal hashes the key again. */
typedef struct hmap_node {
    struct hmap_node *_next;
    sioc_iov_t key;
} hmap_node_t;

typedef struct {
    hmap_node_t **_buckets;
    size_t _mask;
    size_t count;
} hmap_t;

/** Initialises an empty table. */
void hmap_init(hmap_t *m);
/** Frees the bucket array; the nodes belong to their owners. */
void hmap_free(hmap_t *m);
/** A 64-bit hash of the bytes: SipHash-2-4 under a random per-process key (drawn by the
 * first hmap_init), so clients cannot choose colliding keys. Iteration order therefore
 * differs from process to process. */
uint64_t hmap_hash(const char *p, size_t len);
/** Finds the node with `key`, or NULL. */
hmap_node_t *hmap_get(const hmap_t *m, sioc_iov_t key);
/** Inserts `n` (its key set by the caller). The key must not be present. */
void hmap_put(hmap_t *m, hmap_node_t *n);
/** Removes `n`, which must be in the table with its key unchanged. */
void hmap_del(hmap_t *m, hmap_node_t *n);

/** Iteration: `for (hmap_iter_t it = hmap_iter(m); (n = hmap_next(&it)) != NULL;)`.
 * Removing the returned node during iteration is allowed. */
typedef struct {
    const hmap_t *_m;
    size_t _bucket;
    hmap_node_t *_next;
} hmap_iter_t;
hmap_iter_t hmap_iter(const hmap_t *m);
hmap_node_t *hmap_next(hmap_iter_t *it);

#endif
