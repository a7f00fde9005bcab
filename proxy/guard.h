/*
 * guard.h - admission control: a token bucket (pure).
 *
 * Caps the rate of new Engine.IO handshakes (requests without a sid), so a
 * reconnect storm after a restart is answered with cheap 503s and
 * "Retry-After: 1" instead of piling onto the workers (FIELD-NOTES §1 row 14).
 * Integer arithmetic in milli-tokens: `rate` tokens per second refill at
 * `rate` milli-tokens per millisecond, up to `burst` tokens. The caller
 * passes the time, so tests need no clock. Pure; one bucket per owner.
 */
#ifndef SIOC_PROXY_GUARD_H
#define SIOC_PROXY_GUARD_H

#include <stdint.h>

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

#endif
