/*
 * hist.h - latency histogram with bounded relative error (HDR-style).
 *
 * Values are unsigned integers (the bench records microseconds). Values
 * below 128 get one bucket each; above, every power of two is split into 64
 * buckets, so a reported percentile is at most 1/64 (1.6 %) above the true
 * value. Recording is O(1) with no allocation; the bucket array is fixed
 * (HIST_BUCKETS counters, about 19 KiB) and covers values up to 2^40.
 * Histograms from several bench processes merge exactly by adding buckets,
 * which is what the JSON form (hist_json) is for. Not thread-safe.
 */
#ifndef SIOC_BENCH_LOADGEN_HIST_H
#define SIOC_BENCH_LOADGEN_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 7
#define HIST_MAX_EXP 40
#define HIST_BUCKETS                                                                               \
    ((1u << HIST_SUB_BITS) + (HIST_MAX_EXP - HIST_SUB_BITS + 1) * (1u << (HIST_SUB_BITS - 1)))

/** A histogram; zero-initialise (or hist_reset) before use. */
typedef struct {
    uint64_t count;
    uint64_t min, max; /* exact; min is UINT64_MAX when empty */
    double sum;
    uint64_t buckets[HIST_BUCKETS];
} hist_t;

struct json_t;

/** Empties `h`. */
void hist_reset(hist_t *h);
/** Records one value (values above 2^40 are clamped into the last bucket). */
void hist_add(hist_t *h, uint64_t v);
/** Adds every count of `src` to `dst`; `src` is borrowed. */
void hist_merge(hist_t *dst, const hist_t *src);
/** The value at quantile `q` (0..1): the upper bound of the bucket holding it, capped at max;
 * 0 when empty. */
uint64_t hist_quantile(const hist_t *h, double q);
/** Mean of the recorded values (0 when empty). */
double hist_mean(const hist_t *h);
/**
 * Returns a new jansson object {count, min, mean, p50, p90, p99, p999, max,
 * buckets:[[upper,count],...]} with only non-empty buckets (returns owned: json_decref it).
 */
struct json_t *hist_json(const hist_t *h);

#endif
