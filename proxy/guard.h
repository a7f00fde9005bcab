/*
 * guard.h - admission limits (pure): who may open a connection, and how fast
 * new sessions may start.
 *
 * Connections: guard_conn_admit() applies --max-connections (all clients) and
 * --max-connections-per-ip (per peer address, counted in a base/addrcount
 * table) at accept. The entry it returns is the connection's share of its
 * address's count; the client, and the tunnel it may become, releases it with
 * addrcount_release() when it closes.
 *
 * Handshakes: a token bucket caps the rate of new Engine.IO handshakes (requests without a sid), so
 * a reconnect storm after a restart is answered with cheap 503s and "Retry-After: 1" instead of
 * piling onto the workers (FIELD-NOTES §1 row 14). Integer arithmetic in milli-tokens: `rate`
 * tokens per second refill at `rate` milli-tokens per millisecond, up to `burst` tokens. The caller
 * passes the time, so tests need no clock. Pure; one bucket per owner.
 */
#ifndef SIOC_PROXY_GUARD_H
#define SIOC_PROXY_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "base/addrcount.h"
#include "base/hmap.h"
#include "base/list.h"

/** guard_conn_admit() results. */
enum { GUARD_ADMIT = 0, GUARD_OVER_TOTAL, GUARD_OVER_ADDR };

/**
 * Decides whether a new connection from `addr` (`len` bytes, borrowed) is admitted
 * while `open` client connections are open: GUARD_OVER_TOTAL when `open` has reached
 * `max_total`, GUARD_OVER_ADDR when `addr` has `max_per_addr` open in `per_addr`
 * (0 = no per-address limit), else GUARD_ADMIT with `*entry` set to the counted entry
 * (release with addrcount_release()). `*entry` is NULL unless admitted.
 */
int guard_conn_admit(addrcount_t *per_addr, const char *addr, size_t len, size_t open,
                     long max_total, long max_per_addr, addrcount_entry_t **entry);

typedef struct {
    long long rate;     /* tokens per second; 0 = unlimited */
    long long burst_m;  /* capacity in milli-tokens */
    long long tokens_m; /* current milli-tokens */
    long long last_ms;  /* time of the last refill */
} guard_bucket_t;

/** Starts a full bucket of `burst` tokens (at least 1) refilled at `rate` per second (0 = off). */
void guard_bucket_init(guard_bucket_t *b, long long rate, long long burst, long long now_ms);

/** Takes one token at time now_ms: 1 when admitted, 0 when over the rate. */
int guard_bucket_take(guard_bucket_t *b, long long now_ms);

/*
 * Per-address handshake rates (--max-handshake-rate-per-ip): one bucket per
 * client address, in a table of at most `max_entries` addresses. The least
 * recently used address gives its place up when the table is full; an address
 * whose bucket has refilled is the same as a new one, so forgetting it costs
 * nothing. Keys are the addresses' bytes, hashed with hmap's secret key.
 */
/** Addresses the proxy keeps a handshake bucket for (about 100 bytes each). */
#define HANDSHAKE_RATE_ADDRS 65536

typedef struct {
    hmap_t map;
    sioc_list_t lru; /* least recently used first */
    size_t max_entries;
    long long rate, burst;
} guard_rates_t;

/** An empty table: `rate` per second and `burst` per address (rate 0 = off). */
void guard_rates_init(guard_rates_t *t, long long rate, long long burst, size_t max_entries);
/** Frees every entry. */
void guard_rates_free(guard_rates_t *t);
/** Takes one token for the address (`len` bytes, borrowed) at now_ms: 1 when admitted. */
int guard_rates_take(guard_rates_t *t, const void *addr, size_t len, long long now_ms);

#endif
