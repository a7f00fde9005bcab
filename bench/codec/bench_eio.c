/*
 * bench_eio.c - micro-benchmarks for common/eio (MB/s and records/s).
 *
 * The hot Engine.IO work on a polling-heavy cluster: splitting POST bodies
 * made of many small records (chat events, pongs, a few binary
 * attachments), building GET response bodies, and base64 for binary
 * attachments. Usage: bench_eio [seconds per case, default 0.5].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "eio/eio_packet.h"
#include "base/base64.h"
#include "eio/eio_payload.h"

static const char chat_event[] = "2[\"send-message\",{\"roomId\":\"r1\",\"msg\":\"hello world\"}]";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keeps results alive so the compiler cannot drop the work. */
static volatile long sink;

typedef long (*case_fn)(const void *arg);

static void run(const char *name, case_fn fn, const void *arg, size_t bytes_per_op,
                long items_per_op, double secs)
{
    long ops = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 16; i++)
            sink += fn(arg);
        ops += 16;
        t = now();
    } while (t - t0 < secs);
    double per_s = (double)ops / (t - t0);
    printf("%-34s %8.1f MB/s  %12.0f records/s  (%zu bytes, %ld records/op)\n", name,
           per_s * (double)bytes_per_op / 1e6, per_s * (double)items_per_op, bytes_per_op,
           items_per_op);
}

typedef struct {
    sioc_buf_t body;
    long records;
} payload_t;

static long split_case(const void *arg)
{
    const payload_t *pl = arg;
    eio_payload_iter_t it;
    eio_payload_item_t item;
    long n = 0;
    eio_payload_iter_init(&it, pl->body.base, pl->body.len);
    while (eio_payload_next(&it, &item, NULL) > 0)
        n += (long)item.data.len;
    return n;
}

/* The buffer is reused across calls, so the steady state allocates nothing. */
static long build_case(const void *arg)
{
    sioc_buf_t *out = (sioc_buf_t *)arg;
    buf_reset(out);
    for (int i = 0; i < 1000; i++)
        if (eio_payload_append_text(out, i == 0, 4, chat_event, sizeof(chat_event) - 1) != 0)
            abort();
    return (long)out->len;
}

typedef struct {
    uint8_t *bin;
    size_t n;
    sioc_buf_t b64;
    uint8_t *out;
} b64_t;

static long b64_encode_case(const void *arg)
{
    b64_t *b = (b64_t *)arg;
    buf_reset(&b->b64);
    if (eio_payload_append_binary(&b->b64, 1, b->bin, b->n) != 0)
        abort();
    return (long)b->b64.len;
}

static long b64_decode_case(const void *arg)
{
    const b64_t *b = arg;
    return base64_decode(iov_make(b->b64.base + 1, b->b64.len - 1), b->out, b->n);
}

static long packet_case(const void *arg)
{
    (void)arg;
    eio_packet_t pkt;
    return eio_packet_decode("42[\"x\"]", 7, &pkt, NULL) + pkt.type;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.5;
    if (secs <= 0)
        secs = 0.5;

    /* A POST of 1000 small records: 90% chat events, 9% pongs, 1% binary. */
    payload_t small = {{0}, 0};
    const uint8_t bin[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    for (int i = 0; i < 1000; i++) {
        int r;
        if (i % 100 == 99)
            r = eio_payload_append_binary(&small.body, i == 0, bin, sizeof(bin));
        else if (i % 10 == 9)
            r = eio_payload_append_text(&small.body, i == 0, 3, NULL, 0);
        else
            r = eio_payload_append_text(&small.body, i == 0, 4, chat_event, sizeof(chat_event) - 1);
        if (r)
            abort();
        small.records++;
    }
    /* A GET body of 10 records of 4 KB each. */
    payload_t big = {{0}, 0};
    char blob[4096];
    memset(blob, 'x', sizeof(blob));
    for (int i = 0; i < 10; i++) {
        if (eio_payload_append_text(&big.body, i == 0, 4, blob, sizeof(blob)) != 0)
            abort();
        big.records++;
    }
    b64_t b = {malloc(65536), 65536, {0}, malloc(65536)};
    for (size_t i = 0; i < b.n; i++)
        b.bin[i] = (uint8_t)(i * 131);
    if (eio_payload_append_binary(&b.b64, 1, b.bin, b.n) != 0)
        abort();

    printf("bench_eio (%.2f s per case)\n", secs);
    run("payload split, 1000 small records", split_case, &small, small.body.len, small.records,
        secs);
    run("payload split, 10 x 4 KB records", split_case, &big, big.body.len, big.records, secs);
    sioc_buf_t built = {0};
    size_t built_len = (size_t)build_case(&built);
    run("payload build, 1000 chat events", build_case, &built, built_len, 1000, secs);
    run("base64 encode 64 KB (b record)", b64_encode_case, &b, b.n, 1, secs);
    run("base64 decode 64 KB (strict)", b64_decode_case, &b, b.n, 1, secs);
    run("ws text packet decode", packet_case, NULL, 7, 1, secs);

    buf_free(&small.body);
    buf_free(&big.body);
    buf_free(&built);
    buf_free(&b.b64);
    free(b.bin);
    free(b.out);
    return 0;
}
