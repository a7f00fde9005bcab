/*
 * fuzz_sse.c - libFuzzer target for the Server-Sent Events parsers and framer (sse.h).
 *
 * The first byte picks --sse-max-rooms (1..32); the rest is a raw rooms parameter and
 * also the data of an event block. Invariants, each an abort() when broken:
 *  - sse_rooms_parse() returns SIOC_EPROTO with a reason, or 1..max rooms that are slices
 *    of the caller's buffer, 1..SSE_MAX_ROOM bytes, without ',' and without repeats, and
 *    whose ','-join is the decoded text minus repeats;
 *  - sse_frame_write() writes "id: ..\nevent: ..\ndata: <data, CR/LF as spaces>\n\n":
 *    exactly one blank line, at the end, so one block is one event whatever the data.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/http_query.h"
#include "sse.h"
#include "tests/fuzz/fuzz_check.h"

static void fuzz_rooms(const char *raw, size_t len, size_t max)
{
    char *buf = malloc(len + 1);
    sioc_iov_t rooms[32];
    const char *reason = NULL;
    int n = sse_rooms_parse(iov_make(raw, len), buf, len + 1, rooms, max, &reason);
    if (n < 0) {
        CHECK(n == SIOC_EPROTO && reason != NULL);
        free(buf);
        return;
    }
    CHECK(n >= 1 && (size_t)n <= max);
    char *dec = malloc(len + 1);
    int dn = http_pct_decode(iov_make(raw, len), dec, len + 1, 1);
    CHECK(dn >= 0);
    size_t covered = 0;
    for (int i = 0; i < n; i++) {
        CHECK(rooms[i].len >= 1 && rooms[i].len <= SSE_MAX_ROOM);
        CHECK(rooms[i].base >= buf && rooms[i].base + rooms[i].len <= buf + dn);
        CHECK(memchr(rooms[i].base, ',', rooms[i].len) == NULL);
        for (int k = 0; k < i; k++)
            CHECK(!iov_eq(rooms[k], rooms[i]));
        /* Each room appears in the decoded text as a whole ','-separated item. */
        size_t off = (size_t)(rooms[i].base - buf);
        CHECK(memcmp(dec + off, rooms[i].base, rooms[i].len) == 0);
        CHECK(off == 0 || dec[off - 1] == ',');
        CHECK(off + rooms[i].len == (size_t)dn || dec[off + rooms[i].len] == ',');
        covered += rooms[i].len;
    }
    CHECK(covered <= (size_t)dn);
    free(dec);
    free(buf);
}

static void fuzz_frame(const char *data, size_t len)
{
    sioc_buf_t b = {0};
    CHECK(sse_frame_write(&b, SIOC_LIT("abc-1"), "receive-message", iov_make(data, len)) == 0);
    static const char head[] = "id: abc-1\nevent: receive-message\ndata: ";
    CHECK(b.len == sizeof(head) - 1 + len + 2);
    CHECK(memcmp(b.base, head, sizeof(head) - 1) == 0);
    const char *d = b.base + sizeof(head) - 1;
    for (size_t i = 0; i < len; i++) {
        CHECK(d[i] != '\n' && d[i] != '\r');
        CHECK(d[i] == data[i] || data[i] == '\n' || data[i] == '\r');
    }
    CHECK(d[len] == '\n' && d[len + 1] == '\n');
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t max = (size_t)(data[0] % 32) + 1;
    char *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    fuzz_rooms(buf, size - 1, max);
    fuzz_frame(buf, size - 1);
    free(buf);
    return 0;
}
