/*
 * guard.c - admission limits: connection caps and the handshake token bucket
 * (guard.h).
 */
#include "guard.h"

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
