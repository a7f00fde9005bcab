/*
 * fuzz_ws_frame.c - libFuzzer target for common/ws/ws_frame, ws_close and
 * ws_reader.
 *
 * Input: byte 0 selects the role (bit 0) and a chunking seed (bits 1-7),
 * byte 1 the message size cap, the rest is the byte stream.
 * Invariants (abort on violation):
 *   - reader: consumed <= len; every event payload lies inside the caller's
 *     buffer or the reader's reassembly buffer; data payloads <= the cap,
 *     control payloads <= 125; TEXT payloads are valid UTF-8; CLOSE codes
 *     are valid (or 1005 with no payload) and reasons valid UTF-8 inside the
 *     payload; a failure carries a reason and one of 1002/1007/1009/1011;
 *   - feeding the stream whole and in pseudo-random chunks (moving unread
 *     bytes to the front, as a connection buffer does) gives the same events
 *     and the same failure;
 *   - the header parser is prefix-consistent and returns 2..14 <= len;
 *   - round trip: a frame built from the input with ws_frame_append parses
 *     back to the same header and payload, and the reader's verdict on it
 *     matches the rules (sequence, size, UTF-8, close payload);
 *   - close payloads written with ws_close_write parse back.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/utf8.h"
#include "ws/ws_close.h"
#include "ws/ws_frame.h"
#include "ws/ws_reader.h"
#include "tests/fuzz/fuzz_check.h"

static const size_t caps[] = {1, 5, 16, 125, 126, 300, 1000, 65536};

typedef struct {
    int type;
    size_t len;
    uint64_t hash;
    uint16_t code;
} evrec_t;

typedef struct {
    evrec_t *ev;
    size_t n, cap;
    int failed;
    uint16_t code;
    const char *reason;
} trace_t;

static uint64_t fnv(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static void check_event(const ws_reader_t *r, const ws_event_t *ev, const uint8_t *buf, size_t len,
                        size_t max)
{
    const char *pb = ev->payload.base;
    size_t pl = ev->payload.len;
    if (pl > 0) {
        int in_buf = pb >= (const char *)buf && pb + pl <= (const char *)buf + len;
        int in_msg =
            r->_msg.base != NULL && pb >= r->_msg.base && pb + pl <= r->_msg.base + r->_msg.len;
        CHECK(in_buf || in_msg);
    }
    switch (ev->type) {
    case WS_EVENT_NONE:
        CHECK(pl == 0);
        break;
    case WS_EVENT_TEXT:
        CHECK(utf8_is_valid((const uint8_t *)pb, pl));
        /* fall through */
    case WS_EVENT_BINARY:
        CHECK(pl <= max);
        break;
    case WS_EVENT_PING:
    case WS_EVENT_PONG:
        CHECK(pl <= WS_FRAME_MAX_CONTROL);
        break;
    case WS_EVENT_CLOSE:
        CHECK(pl <= WS_FRAME_MAX_CONTROL);
        if (pl == 0) {
            CHECK(ev->close_code == WS_CLOSE_NO_STATUS && ev->close_reason.len == 0);
        } else {
            CHECK(ws_close_code_valid(ev->close_code));
            CHECK(ev->close_reason.len == pl - 2);
            CHECK(ev->close_reason.len == 0 || ev->close_reason.base == pb + 2);
            CHECK(utf8_is_valid((const uint8_t *)pb + 2, pl - 2));
        }
        break;
    default:
        CHECK(0);
    }
}

static void push(trace_t *t, const ws_event_t *ev)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->ev = realloc(t->ev, t->cap * sizeof(*t->ev));
        CHECK(t->ev != NULL);
    }
    evrec_t *e = &t->ev[t->n++];
    e->type = ev->type;
    e->len = ev->payload.len;
    e->hash = fnv(ev->payload.base, ev->payload.len);
    e->code = ev->close_code;
}

static void on_fail(trace_t *t, const ws_reader_t *r)
{
    t->failed = 1;
    t->code = r->close_code;
    t->reason = r->reason;
    CHECK(r->reason != NULL);
    CHECK(r->close_code == WS_CLOSE_PROTOCOL_ERROR || r->close_code == WS_CLOSE_INVALID_DATA ||
          r->close_code == WS_CLOSE_TOO_BIG || r->close_code == WS_CLOSE_INTERNAL_ERROR);
}

/* Feeds `in` in chunks (0 = whole); `seed` drives the chunk sizes. */
static void run(int role, size_t max, const uint8_t *in, size_t len, uint32_t seed, int whole,
                trace_t *t)
{
    memset(t, 0, sizeof(*t));
    uint8_t *work = malloc(len ? len : 1);
    CHECK(work != NULL);
    ws_reader_t r;
    ws_reader_init(&r, role, max);
    size_t start = 0, end = 0, delivered = 0;
    while (delivered < len && !t->failed) {
        size_t n = len;
        if (!whole) {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 8) % 40;
        }
        if (n > len - delivered)
            n = len - delivered;
        memcpy(work + end, in + delivered, n);
        end += n;
        delivered += n;
        for (;;) {
            ws_event_t ev;
            int rc = ws_reader_next(&r, work + start, end - start, &ev);
            if (rc > 0) {
                CHECK((size_t)rc <= end - start);
                check_event(&r, &ev, work + start, end - start, max);
                push(t, &ev);
                start += (size_t)rc;
                continue;
            }
            if (rc == SIOC_EPROTO)
                on_fail(t, &r);
            else
                CHECK(rc == SIOC_INCOMPLETE);
            break;
        }
        if (start) {
            memmove(work, work + start, end - start);
            end -= start;
            start = 0;
        }
    }
    ws_reader_free(&r);
    free(work);
}

static void check_header_prefixes(const uint8_t *p, size_t len, int require_mask)
{
    ws_frame_header_t h;
    const char *reason = NULL;
    uint16_t code = 0;
    int rc = ws_frame_parse_header(p, len, &h, require_mask, &reason, &code);
    if (rc > 0) {
        CHECK(rc >= 2 && rc <= WS_FRAME_MAX_HEADER && (size_t)rc <= len);
        CHECK(h.masked == (require_mask != 0) && h.payload_len >> 63 == 0);
        CHECK(!WS_FRAME_IS_CONTROL(h.opcode) || (h.fin && h.payload_len <= 125));
        /* Re-encoding gives the same header, unless the input used a longer
         * length form than needed. */
        uint8_t out[WS_FRAME_MAX_HEADER];
        size_t hl =
            ws_frame_write_header(out, h.opcode, h.fin, h.payload_len, h.masked ? h.mask : NULL);
        CHECK(hl <= (size_t)rc);
        if (hl == (size_t)rc)
            CHECK(memcmp(out, p, hl) == 0);
    } else if (rc == SIOC_EPROTO) {
        CHECK(reason != NULL && code == WS_CLOSE_PROTOCOL_ERROR);
    } else {
        CHECK(rc == SIOC_INCOMPLETE);
    }
    /* Prefix consistency: a shorter prefix is INCOMPLETE or the same failure. */
    if (len > 0 && len <= WS_FRAME_MAX_HEADER + 1) {
        const char *r2 = NULL;
        int rc2 = ws_frame_parse_header(p, len - 1, &h, require_mask, &r2, NULL);
        if (rc > 0)
            CHECK(rc2 == SIOC_INCOMPLETE || rc2 == rc);
        else if (rc == SIOC_INCOMPLETE)
            CHECK(rc2 == SIOC_INCOMPLETE);
        else
            CHECK(rc2 == SIOC_INCOMPLETE || (rc2 == SIOC_EPROTO && r2 == reason));
    }
}

/* Builds one frame from the input and checks it survives the trip. */
static void round_trip(const uint8_t *p, size_t len, int role, size_t max)
{
    static const int ops[] = {WS_FRAME_OP_CONT,  WS_FRAME_OP_TEXT, WS_FRAME_OP_BINARY,
                              WS_FRAME_OP_CLOSE, WS_FRAME_OP_PING, WS_FRAME_OP_PONG};
    if (len < 5)
        return;
    int op = ops[p[0] % 6];
    int fin = WS_FRAME_IS_CONTROL(op) || (p[0] & 0x80);
    const uint8_t *mask = role == WS_READER_SERVER ? p + 1 : NULL;
    const uint8_t *pl = p + 5;
    size_t n = len - 5;
    if (WS_FRAME_IS_CONTROL(op) && n > WS_FRAME_MAX_CONTROL)
        n = WS_FRAME_MAX_CONTROL;
    sioc_buf_t b = {0};
    CHECK(ws_frame_append(&b, op, fin, pl, n, mask) == 0);
    ws_frame_header_t h;
    int hl = ws_frame_parse_header((const uint8_t *)b.base, b.len, &h, role == WS_READER_SERVER,
                                   NULL, NULL);
    CHECK(hl > 0 && (size_t)hl + n == b.len);
    CHECK(h.opcode == op && h.fin == fin && h.payload_len == n);
    CHECK(h.masked == (mask != NULL) && (mask == NULL || memcmp(h.mask, mask, 4) == 0));
    uint8_t *copy = malloc(b.len ? b.len : 1);
    CHECK(copy != NULL);
    memcpy(copy, b.base, b.len);
    if (h.masked)
        ws_frame_unmask(copy + hl, n, h.mask, 0);
    CHECK(n == 0 || memcmp(copy + hl, pl, n) == 0);

    /* The reader's verdict on this single frame. */
    ws_reader_t r;
    ws_event_t ev;
    ws_reader_init(&r, role, max);
    memcpy(copy, b.base, b.len);
    int rc = ws_reader_next(&r, copy, b.len, &ev);
    if (op == WS_FRAME_OP_CONT) {
        CHECK(rc == SIOC_EPROTO && r.close_code == WS_CLOSE_PROTOCOL_ERROR);
    } else if (!WS_FRAME_IS_CONTROL(op) && n > max) {
        CHECK(rc == SIOC_EPROTO && r.close_code == WS_CLOSE_TOO_BIG);
    } else if (op == WS_FRAME_OP_TEXT) {
        utf8_state_t st;
        utf8_init(&st);
        int u = utf8_feed(&st, pl, n, NULL);
        int ok = fin ? u == 0 : u != SIOC_EPROTO;
        if (ok)
            CHECK(rc == (int)b.len && ev.type == (fin ? WS_EVENT_TEXT : WS_EVENT_NONE));
        else
            CHECK(rc == SIOC_EPROTO && r.close_code == WS_CLOSE_INVALID_DATA);
    } else if (op == WS_FRAME_OP_CLOSE) {
        uint16_t code = 0;
        sioc_iov_t txt;
        const char *why;
        int c = ws_close_parse(pl, n, &code, &txt, &why);
        if (c == 0)
            CHECK(rc == (int)b.len && ev.type == WS_EVENT_CLOSE && ev.close_code == code);
        else
            CHECK(rc == SIOC_EPROTO &&
                  r.close_code == (ws_close_code_valid(code) && n >= 2 ? WS_CLOSE_INVALID_DATA
                                                                       : WS_CLOSE_PROTOCOL_ERROR));
    } else {
        CHECK(rc == (int)b.len);
        if (op == WS_FRAME_OP_BINARY)
            CHECK(ev.type == (fin ? WS_EVENT_BINARY : WS_EVENT_NONE));
        else
            CHECK(ev.type == (op == WS_FRAME_OP_PING ? WS_EVENT_PING : WS_EVENT_PONG));
    }
    if (rc > 0 && ev.type != WS_EVENT_NONE)
        CHECK(ev.payload.len == n && (n == 0 || memcmp(ev.payload.base, pl, n) == 0));
    ws_reader_free(&r);

    /* Close payloads: write then parse. */
    uint16_t code = (uint16_t)(p[1] << 8 | p[2]);
    uint8_t cp[WS_CLOSE_MAX_PAYLOAD];
    size_t cl = ws_close_write(cp, code, iov_make((const char *)pl, n));
    CHECK(cl <= WS_CLOSE_MAX_PAYLOAD);
    if (code == 0) {
        CHECK(cl == 0);
    } else if (ws_close_code_valid(code) && utf8_is_valid(pl, n)) {
        uint16_t c2;
        sioc_iov_t t2;
        const char *why;
        CHECK(ws_close_parse(cp, cl, &c2, &t2, &why) == 0 && c2 == code);
        CHECK(t2.len <= n && memcmp(t2.base, pl, t2.len) == 0);
        CHECK(n > WS_CLOSE_MAX_REASON || t2.len == n);
    }
    free(copy);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int role = data[0] & 1 ? WS_READER_CLIENT : WS_READER_SERVER;
    uint32_t seed = data[0] >> 1;
    size_t max = caps[data[1] % (sizeof(caps) / sizeof(caps[0]))];
    const uint8_t *in = data + 2;
    size_t len = size - 2;

    trace_t a, b;
    run(role, max, in, len, seed, 1, &a);
    run(role, max, in, len, seed, 0, &b);
    CHECK(a.failed == b.failed && a.code == b.code && a.reason == b.reason && a.n == b.n);
    for (size_t i = 0; i < a.n; i++)
        CHECK(a.ev[i].type == b.ev[i].type && a.ev[i].len == b.ev[i].len &&
              a.ev[i].hash == b.ev[i].hash && a.ev[i].code == b.ev[i].code);
    free(a.ev);
    free(b.ev);

    check_header_prefixes(in, len, 1);
    check_header_prefixes(in, len, 0);
    round_trip(in, len, role, max);
    return 0;
}
