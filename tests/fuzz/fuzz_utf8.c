/*
 * fuzz_utf8.c - libFuzzer target for common/base/utf8.
 *
 * Invariants (abort on violation):
 *   - utf8_validate (SSE2 path) and the portable word-at-a-time build of the
 *     same source agree with the independent reference validator
 *     (tests/unit/common/base/utf8_ref.h) on status and position;
 *   - utf8_feed over pseudo-random split points, and byte by byte, gives the
 *     same verdict and failure offset as the whole buffer;
 *   - after a failure the stream state stays failed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/err.h"
#include "base/utf8.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/unit/common/base/utf8_ref.h"

#undef __SSE2__
#define utf8_validate portable_utf8_validate
#define utf8_feed portable_utf8_feed
#define utf8_seq portable_utf8_seq
#define utf8_repair_append portable_utf8_repair_append
#include "base/utf8.c"
#undef utf8_validate
#undef utf8_feed
#undef utf8_seq
#undef utf8_repair_append

/* Feeds `p` in pieces cut by `next_cut`; returns the status and the global
 * failure offset (len when none). */
static int feed_split(const uint8_t *p, size_t len, uint32_t seed, size_t max_piece, size_t *where)
{
    utf8_state_t st;
    utf8_init(&st);
    size_t off = 0;
    int rc = 0;
    do {
        seed = seed * 1103515245u + 12345u;
        size_t n = (seed >> 8) % (max_piece + 1);
        if (n > len - off)
            n = len - off;
        size_t w = (size_t)-1;
        rc = utf8_feed(&st, p + off, n, &w);
        if (rc == SIOC_EPROTO) {
            CHECK(w < n);
            *where = off + w;
            size_t w2 = 7;
            CHECK(utf8_feed(&st, (const uint8_t *)"a", 1, &w2) == SIOC_EPROTO && w2 == 0);
            CHECK(!utf8_state_complete(&st));
            return rc;
        }
        CHECK(w == n);
        CHECK((rc == 0) == utf8_state_complete(&st));
        off += n;
    } while (off < len);
    *where = len;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t w = (size_t)-1, wr = (size_t)-2, wp = (size_t)-3;
    int r = utf8_validate(data, size, &w);
    int rr = utf8_ref_validate(data, size, &wr);
    int rp = portable_utf8_validate(data, size, &wp);
    CHECK(r == rr && w == wr);
    CHECK(rp == rr && wp == wr);
    CHECK(r == 0 || r == SIOC_EPROTO || r == SIOC_INCOMPLETE);
    CHECK(w <= size);
    CHECK(utf8_is_valid(data, size) == (r == 0));
    if (r == SIOC_INCOMPLETE)
        CHECK(size - w >= 1 && size - w <= 3);

    size_t want = r == SIOC_EPROTO ? w : size;
    uint32_t seed = (uint32_t)size;
    for (size_t i = 0; i < size && i < 8; i++)
        seed = seed * 31 + data[i];
    static const size_t pieces[] = {1, 3, 17, 64};
    for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
        size_t fw;
        CHECK(feed_split(data, size, seed + (uint32_t)k, pieces[k], &fw) == r);
        CHECK(fw == want);
    }
    /* The incremental path is unaffected by splitting the portable build. */
    utf8_state_t st;
    utf8_init(&st);
    size_t pw;
    int prc = portable_utf8_feed(&st, data, size, &pw);
    CHECK(prc == r && (r != SIOC_EPROTO || pw == w));
    return 0;
}
