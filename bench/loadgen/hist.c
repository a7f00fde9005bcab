/*
 * hist.c - latency histogram (hist.h).
 */
#include "hist.h"

#include <jansson.h>
#include <string.h>

#define HALF (1u << (HIST_SUB_BITS - 1))

static unsigned bucket_of(uint64_t v)
{
    if (v < (1u << HIST_SUB_BITS))
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    if (e > HIST_MAX_EXP)
        return HIST_BUCKETS - 1;
    unsigned shift = e - (HIST_SUB_BITS - 1);
    unsigned mant = (unsigned)(v >> shift); /* HALF .. 2*HALF-1 */
    return (1u << HIST_SUB_BITS) + (e - HIST_SUB_BITS) * HALF + (mant - HALF);
}

/* Largest value that falls in bucket `i`. */
static uint64_t bucket_upper(unsigned i)
{
    if (i < (1u << HIST_SUB_BITS))
        return i;
    unsigned j = i - (1u << HIST_SUB_BITS);
    unsigned e = j / HALF + HIST_SUB_BITS;
    uint64_t mant = HALF + j % HALF;
    unsigned shift = e - (HIST_SUB_BITS - 1);
    return ((mant + 1) << shift) - 1;
}

void hist_reset(hist_t *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

void hist_add(hist_t *h, uint64_t v)
{
    h->buckets[bucket_of(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v > h->max)
        h->max = v;
    if (v < h->min || h->count == 1)
        h->min = v;
}

void hist_merge(hist_t *dst, const hist_t *src)
{
    if (src->count == 0)
        return;
    for (unsigned i = 0; i < HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
}

uint64_t hist_quantile(const hist_t *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q >= 1.0)
        return h->max;
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if (rank >= h->count)
        rank = h->count - 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen > rank) {
            uint64_t up = bucket_upper(i);
            return up > h->max ? h->max : up;
        }
    }
    return h->max;
}

double hist_mean(const hist_t *h)
{
    return h->count ? h->sum / (double)h->count : 0.0;
}

json_t *hist_json(const hist_t *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "count", json_integer((json_int_t)h->count));
    json_object_set_new(o, "min", json_integer(h->count ? (json_int_t)h->min : 0));
    json_object_set_new(o, "mean", json_real(hist_mean(h)));
    json_object_set_new(o, "p50", json_integer((json_int_t)hist_quantile(h, 0.50)));
    json_object_set_new(o, "p90", json_integer((json_int_t)hist_quantile(h, 0.90)));
    json_object_set_new(o, "p99", json_integer((json_int_t)hist_quantile(h, 0.99)));
    json_object_set_new(o, "p999", json_integer((json_int_t)hist_quantile(h, 0.999)));
    json_object_set_new(o, "max", json_integer((json_int_t)h->max));
    json_t *b = json_array();
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        if (h->buckets[i] == 0)
            continue;
        json_t *pair = json_array();
        json_array_append_new(pair, json_integer((json_int_t)bucket_upper(i)));
        json_array_append_new(pair, json_integer((json_int_t)h->buckets[i]));
        json_array_append_new(b, pair);
    }
    json_object_set_new(o, "buckets", b);
    return o;
}
