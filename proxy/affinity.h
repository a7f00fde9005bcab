/*
 * affinity.h - which worker a client belongs to (pure).
 *
 * Three keys, used by route.c in this order of authority (PROTOCOL.md §6,
 * FIELD-NOTES §1 rows 1-6 and §5):
 *  - the Engine.IO sid: workers issue `<worker-id>.<random>` sids, so the
 *    worker of a session is the part before the first '.';
 *  - an affinity cookie the proxy inserts: `<worker-id>.<mac>` where mac is
 *    the first 16 bytes of HMAC-SHA256(secret, "sioc-affinity/1" NUL id),
 *    base64url without padding (22 characters). A value whose MAC does not
 *    verify (forged, or minted under another secret) is worth nothing;
 *  - the client address: the socket peer, or the rightmost untrusted hop of
 *    X-Forwarded-For (then X-Real-IP) when the peer is a trusted proxy,
 *    placed by rendezvous (highest random weight) hashing over the live
 *    workers: each worker scores fmix64(seed(id) ^ hash(address)) and the
 *    highest score wins (ties: the smaller id). Adding a worker moves only
 *    the keys it now wins, about 1/N; removing one moves only its own keys;
 *    the order in which workers were learnt does not matter, so two proxies
 *    with the same worker set choose alike.
 *    With the least-loaded placement (route.h) a new session is placed by
 *    load instead, whatever the address (affinity_pick_least()).
 *
 * Hashes are fixed (FNV-1a then the murmur3 finaliser, no per-process seed):
 * replicas and restarts must agree. Nothing here allocates except
 * affinity_cidr_list_parse() (start-up). Pure; safe from any thread.
 */
#ifndef SIOC_PROXY_AFFINITY_H
#define SIOC_PROXY_AFFINITY_H

#include <stddef.h>
#include <stdint.h>

#include "base/iov.h"

/** Longest worker id (cluster contract: 1-16 of [A-Za-z0-9_-]). */
#define AFFINITY_ID_MAX 16
/** Characters of the MAC part of a cookie value. */
#define AFFINITY_MAC_CHARS 22
/** Longest cookie value: id '.' mac. */
#define AFFINITY_COOKIE_MAX (AFFINITY_ID_MAX + 1 + AFFINITY_MAC_CHARS)

/**
 * A reachable worker as routing sees it: its id (borrowed), affinity_seed(id),
 * whether it is on standby: it still serves its own sessions (a slow
 * health check is no reason to break them) but takes no new ones, and its
 * load (the sessions it is known to carry, for affinity_pick_least()).
 */
typedef struct {
    sioc_iov_t id;
    uint64_t seed;
    uint8_t standby;
    uint32_t load;
} affinity_node_t;

/** A numeric address: family 4 (4 bytes used) or 6 (16 bytes). */
typedef struct {
    uint8_t family;
    uint8_t bytes[16];
} affinity_addr_t;

/** A CIDR block: address and prefix length. */
typedef struct {
    affinity_addr_t addr;
    uint8_t bits;
} affinity_cidr_t;

/** The cookie signing key (32 bytes). */
typedef struct {
    unsigned char key[32];
} affinity_secret_t;

/** Whether `id` is a valid worker id (1-16 of [A-Za-z0-9_-]). Borrows id. */
int affinity_id_valid(sioc_iov_t id);

/** The per-worker hash seed of `id`. Borrows id. */
uint64_t affinity_seed(sioc_iov_t id);

/** The hash of a client key (any bytes). Borrows key. */
uint64_t affinity_key_hash(sioc_iov_t key);

/** The rendezvous score of a worker (by seed) for a client key hash. */
uint64_t affinity_score(uint64_t seed, uint64_t key_hash);

/**
 * Rendezvous choice: the index in nodes[0..n) with the highest score for
 * `key_hash` among the nodes not on standby (ties: the byte-wise smaller
 * id), or -1 when there is none. Borrows nodes.
 */
int affinity_pick(const affinity_node_t *nodes, size_t n, uint64_t key_hash);

/**
 * Power of two choices on load: two distinct nodes not on standby are drawn
 * with the random value `r` and the less loaded one wins (equal loads: one
 * of the two, by another bit of r). One node in rotation is chosen alone;
 * none gives -1. Unlike affinity_pick() it ignores the client, so it spreads
 * new sessions even when every client shows the same address (a container
 * engine's port forwarding); drawing two rather than taking the least loaded
 * keeps a burst of placements made on the same stale loads off one node.
 * Borrows nodes.
 */
int affinity_pick_least(const affinity_node_t *nodes, size_t n, uint64_t r);

/** The index of the node whose id equals `id`, or -1. Borrows both. */
int affinity_find(const affinity_node_t *nodes, size_t n, sioc_iov_t id);

/**
 * The worker id of a (percent-decoded) sid: the part before the first '.'.
 * Returns 1 and sets *id (a slice of sid) when it is a valid id followed by
 * '.' and at least one more byte, else 0. Borrows sid.
 */
int affinity_sid_worker(sioc_iov_t sid, sioc_iov_t *id);

/**
 * Sets the signing key: SHA-256 of `secret` when it is non-NULL and
 * non-empty, else 32 random bytes (cookies then survive only this process).
 * Borrows secret.
 */
void affinity_secret_init(affinity_secret_t *s, const char *secret);

/**
 * Writes the cookie value for worker `id` (valid per affinity_id_valid) into
 * out[0..cap) with a NUL. Returns its length, or SIOC_EINVAL (bad id) /
 * SIOC_ENOSPC (cap < AFFINITY_COOKIE_MAX + 1). Borrows all.
 */
int affinity_cookie_make(const affinity_secret_t *s, sioc_iov_t id, char *out, size_t cap);

/**
 * Verifies a cookie value. Returns 1 and sets *id (a slice of value) when
 * the MAC matches (constant-time comparison), else 0: a forged, truncated or
 * foreign value is simply absent. Borrows both.
 */
int affinity_cookie_check(const affinity_secret_t *s, sioc_iov_t value, sioc_iov_t *id);

/**
 * Parses a numeric IPv4 or IPv6 address (optionally in brackets; OWS around
 * it is trimmed). An IPv4-mapped IPv6 address becomes IPv4, so one client
 * has one key whatever the socket family. Returns 0 or SIOC_EINVAL. Borrows text.
 */
int affinity_addr_parse(sioc_iov_t text, affinity_addr_t *a);

/** The address bytes used as the hashing key (4 or 16 bytes of a). Borrows a. */
sioc_iov_t affinity_addr_key(const affinity_addr_t *a);

/** Writes the numeric form of `a` with a NUL into out (>= 46 bytes). Borrows both. */
void affinity_addr_format(const affinity_addr_t *a, char *out, size_t cap);

/** Parses "addr/bits" or a bare address (full length). Returns 0 or SIOC_EINVAL. Borrows text. */
int affinity_cidr_parse(sioc_iov_t text, affinity_cidr_t *c);

/**
 * Parses a comma-separated CIDR list ("" gives none). Returns 0 with
 * *out (owned, free() it; NULL when *n == 0) or SIOC_EINVAL with *bad set to
 * the offending entry (a slice of list). Borrows list.
 */
int affinity_cidr_list_parse(const char *list, affinity_cidr_t **out, size_t *n, sioc_iov_t *bad);

/** Whether `a` lies in one of list[0..n). Borrows both. */
int affinity_cidr_match(const affinity_cidr_t *list, size_t n, const affinity_addr_t *a);

/**
 * The client address behind a trusted proxy chain (FIELD-NOTES §5): when
 * `peer` is trusted, scans the X-Forwarded-For values (xff[0..nxff) in
 * header order, each a comma list) from the right and returns the first hop
 * that is not trusted; a hop that does not parse ends the scan (nothing left
 * of it can be believed) and the last trusted hop seen is used. Without
 * X-Forwarded-For, a parseable X-Real-IP is used. Otherwise, or when the
 * peer is not trusted, the peer itself. Borrows everything; writes *out.
 */
void affinity_client_addr(const affinity_addr_t *peer, const affinity_cidr_t *trusted,
                          size_t ntrusted, const sioc_iov_t *xff, size_t nxff, sioc_iov_t x_real_ip,
                          affinity_addr_t *out);

#endif
