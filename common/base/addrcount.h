/*
 * addrcount.h - open connections counted per client address, with a limit.
 *
 * A table keyed by an address string (whatever the caller formats: "10.0.0.1",
 * "::1"). addrcount_acquire() counts one more connection from an address unless
 * that address is at its limit, and returns the address's entry as the handle
 * the connection keeps; addrcount_release() uncounts it. An entry exists while
 * something holds it: connections (acquire / release) and other holders that
 * only need the address string to stay valid (addrcount_hold / addrcount_drop,
 * e.g. a session that outlives its first connection). The last release or drop
 * frees the entry, so the table holds only addresses in use.
 *
 * Entries are allocated with xmalloc (control plane: one per address, not per
 * packet). Pure (libc and hmap only); loop thread only, not thread-safe.
 */
#ifndef SIOC_COMMON_BASE_ADDRCOUNT_H
#define SIOC_COMMON_BASE_ADDRCOUNT_H

#include <stddef.h>

/** The table (opaque, owned by whoever calls addrcount_new()). */
typedef struct addrcount addrcount_t;
/** One address's entry; the handle a counted connection keeps (opaque). */
typedef struct addrcount_entry addrcount_entry_t;

/** Returns a new empty table (owned; free with addrcount_free()). */
addrcount_t *addrcount_new(void);

/** Frees the table and any entries still in it (their handles become invalid). NULL is
 * ignored. */
void addrcount_free(addrcount_t *ac);

/**
 * Counts one more connection from `addr` (`len` bytes, borrowed; copied into the
 * entry) unless the address already has `limit` connections (`limit` 0 = no limit).
 * Returns the entry, whose connection count and hold count went up by one, or NULL
 * over the limit (nothing counted, nothing kept).
 */
addrcount_entry_t *addrcount_acquire(addrcount_t *ac, const char *addr, size_t len, size_t limit);

/** Uncounts one connection of `e` (from addrcount_acquire); frees the entry when
 * nothing holds it any more. NULL is ignored. */
void addrcount_release(addrcount_entry_t *e);

/** Keeps `e` (and its address string) alive without counting a connection. */
void addrcount_hold(addrcount_entry_t *e);

/** Undoes one addrcount_hold(); frees the entry when nothing holds it. NULL is ignored. */
void addrcount_drop(addrcount_entry_t *e);

/** The address of `e`, NUL-terminated; valid while `e` is held. */
const char *addrcount_addr(const addrcount_entry_t *e);

/** Open connections counted on `e`. */
size_t addrcount_count(const addrcount_entry_t *e);

/** Addresses in the table. */
size_t addrcount_size(const addrcount_t *ac);

/** Open connections from `addr` (0 when absent). */
size_t addrcount_get(const addrcount_t *ac, const char *addr, size_t len);

#endif
