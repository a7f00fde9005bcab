/*
 * fuzz_http_chunked.c - libFuzzer target for http_chunked.
 *
 * The input is a chunked body (plus whatever follows it). Invariants, each an
 * abort() when broken:
 *  - every call consumes at most what it was given, returns data inside the
 *    consumed bytes and no more data than consumed;
 *  - the outcome (body bytes, error and reason, leftover) is the same whether
 *    the input arrives whole, split in two at a few offsets, or byte by byte;
 *  - with a body limit, the decoded body never passes it;
 *  - when the body completes, total == decoded length, and re-encoding the
 *    body with fixed-size chunks decodes back to the same bytes with nothing
 *    left over.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "http/http_chunked.h"
#include "tests/fuzz/fuzz_check.h"

typedef struct {
    int r; /* 0 done, SIOC_INCOMPLETE, or the error */
    const char *reason;
    char *body;
    size_t body_len;
    size_t consumed;
    unsigned long long total;
} outcome_t;

/* Decodes `in` delivered in pieces of `step` bytes (0 = whole). */
static void decode(const char *in, size_t len, size_t step, unsigned long long max_body,
                   outcome_t *o)
{
    http_chunked_t d;
    http_chunked_init(&d, max_body);
    memset(o, 0, sizeof(*o));
    o->body = malloc(len ? len : 1);
    o->r = SIOC_INCOMPLETE;
    size_t avail = step ? 0 : len;
    for (;;) {
        sioc_iov_t data;
        const char *reason = NULL;
        size_t n = avail - o->consumed;
        /* An exact-size copy of the unconsumed bytes. */
        char *view = malloc(n ? n : 1);
        memcpy(view, in + o->consumed, n);
        int r = http_chunked_next(&d, view, n, &data, &reason);
        if (r > 0) {
            CHECK((size_t)r <= n);
            CHECK(data.len <= (size_t)r);
            if (data.len) {
                CHECK(data.base >= view && data.base + data.len <= view + r);
                memcpy(o->body + o->body_len, data.base, data.len);
                o->body_len += data.len;
            }
            o->consumed += (size_t)r;
            free(view);
            continue;
        }
        free(view);
        if (r == SIOC_INCOMPLETE && avail < len) {
            avail = avail + step < len ? avail + step : len;
            continue;
        }
        CHECK(r == 0 || r == SIOC_INCOMPLETE || r == SIOC_EPROTO || r == SIOC_EMSGSIZE);
        CHECK((r == 0) == http_chunked_done(&d));
        if (r != 0 && r != SIOC_INCOMPLETE)
            CHECK(reason != NULL);
        o->r = r;
        o->reason = reason;
        o->total = d.total;
        return;
    }
}

static void same(const outcome_t *a, const outcome_t *b)
{
    CHECK(a->r == b->r);
    CHECK(a->body_len == b->body_len);
    CHECK(a->body_len == 0 || memcmp(a->body, b->body, a->body_len) == 0);
    CHECK(a->consumed == b->consumed);
    if (a->r != 0 && a->r != SIOC_INCOMPLETE)
        CHECK(strcmp(a->reason, b->reason) == 0);
}

static void round_trip(const char *body, size_t n, size_t chunk)
{
    size_t cap = n + (n / chunk + 2) * 24 + 8;
    char *enc = malloc(cap);
    size_t e = 0;
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        e += (size_t)sprintf(enc + e, "%zx\r\n", k);
        memcpy(enc + e, body + off, k);
        e += k;
        enc[e++] = '\r';
        enc[e++] = '\n';
    }
    memcpy(enc + e, "0\r\n\r\n", 5);
    e += 5;
    CHECK(e <= cap);
    outcome_t o;
    decode(enc, e, 0, n, &o);
    CHECK(o.r == 0 && o.consumed == e && o.body_len == n);
    CHECK(n == 0 || memcmp(o.body, body, n) == 0);
    free(o.body);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    outcome_t whole, other;
    decode(in, size, 0, 0, &whole);
    if (whole.r == 0) {
        CHECK(whole.total == whole.body_len);
        round_trip(whole.body, whole.body_len, 7);
        round_trip(whole.body, whole.body_len, 1 + whole.body_len);
    }

    size_t steps[] = {1, 2, 3, 5, 64};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (steps[i] < 64 && size > 1024)
            continue; /* small steps are quadratic: keep them to small inputs */
        decode(in, size, steps[i], 0, &other);
        same(&whole, &other);
        free(other.body);
    }

    /* A body limit below the decoded size stops it without passing the limit. */
    if (whole.body_len > 0) {
        unsigned long long lim = whole.body_len / 2;
        decode(in, size, 0, lim ? lim : 1, &other);
        CHECK(other.body_len <= (lim ? lim : 1));
        CHECK(other.total <= (lim ? lim : 1));
        if (whole.body_len > (lim ? lim : 1))
            CHECK(other.r != 0);
        free(other.body);
    }
    free(whole.body);
    return 0;
}
