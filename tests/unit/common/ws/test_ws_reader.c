/*
 * Unit tests for common/ws/ws_reader, organised by Autobahn|Testsuite case
 * family (1 framing, 2 ping/pong, 3 reserved bits, 4 opcodes, 5
 * fragmentation, 6 UTF-8, 7 close, 9 limits, 10 auto-fragmentation) plus
 * the RFC 6455 §5.7 examples.
 *
 * Every scenario is run several ways by one harness: the input whole, byte
 * by byte, and in pseudo-random chunks, with the unconsumed bytes moved to
 * the front of the buffer after each read (as a connection buffer does). All
 * ways must give the same events and the same failure. Byte-by-byte runs
 * also pin where a failure happens (fail fast), as the number of input
 * bytes delivered when SIOC_EPROTO came back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "ws/ws_close.h"
#include "ws/ws_frame.h"
#include "ws/ws_reader.h"

#define SERVER WS_READER_SERVER
#define CLIENT WS_READER_CLIENT
#define MIB (1024 * 1024)

/* ---- input builders ---------------------------------------------------- */

/* Appends a frame with first byte `b0` (FIN, RSV, opcode) carrying `n`
 * bytes; masked (client to server) when `masked`, with a key that changes
 * from frame to frame. */
static void raw_frame(sioc_buf_t *b, unsigned b0, const void *p, size_t n, int masked)
{
    uint8_t hdr[WS_FRAME_MAX_HEADER];
    uint8_t key[4] = {(uint8_t)(b->len * 31 + 7), (uint8_t)(b->len >> 3), 0xA5, (uint8_t)n};
    size_t hl = 2;
    hdr[0] = (uint8_t)b0;
    uint8_t m = masked ? 0x80 : 0;
    if (n < 126) {
        hdr[1] = (uint8_t)(m | n);
    } else if (n <= 0xFFFF) {
        hdr[1] = m | 126;
        hdr[2] = (uint8_t)(n >> 8);
        hdr[3] = (uint8_t)n;
        hl = 4;
    } else {
        hdr[1] = m | 127;
        for (int i = 0; i < 8; i++)
            hdr[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    if (masked) {
        memcpy(hdr + hl, key, 4);
        hl += 4;
    }
    assert_int_equal(buf_append(b, hdr, hl), 0);
    size_t at = b->len;
    if (n)
        assert_int_equal(buf_append(b, p, n), 0);
    if (masked)
        ws_frame_unmask((uint8_t *)b->base + at, n, key, 0);
}

/* A client frame (masked). */
static void cf(sioc_buf_t *b, int op, int fin, const void *p, size_t n)
{
    raw_frame(b, (fin ? 0x80u : 0) | (unsigned)op, p, n, 1);
}

static void cfs(sioc_buf_t *b, int op, int fin, const char *s)
{
    cf(b, op, fin, s, strlen(s));
}

/* A server frame (unmasked). */
static void sf(sioc_buf_t *b, int op, int fin, const void *p, size_t n)
{
    raw_frame(b, (fin ? 0x80u : 0) | (unsigned)op, p, n, 0);
}

/* A close frame payload with `code` and `reason`. */
static void cclose(sioc_buf_t *b, unsigned code, const char *reason)
{
    uint8_t p[200];
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    size_t n = strlen(reason);
    memcpy(p + 2, reason, n);
    cf(b, WS_FRAME_OP_CLOSE, 1, p, 2 + n);
}

/* ---- the harness --------------------------------------------------------- */

typedef struct {
    int type;
    uint8_t *data;
    size_t len;
    uint16_t close_code;
    char reason[WS_CLOSE_MAX_PAYLOAD + 1];
    int in_input; /* the payload was a slice of the input buffer */
} rec_t;

typedef struct {
    rec_t *ev;
    size_t nev, cap;
    int failed;
    uint16_t close_code;
    const char *reason;
    size_t fed_at_fail; /* input bytes delivered when SIOC_EPROTO came back */
    size_t leftover;    /* bytes delivered but not consumed at the end */
} run_t;

enum { WHOLE, BYTES, RANDOM, CHUNK };

typedef struct {
    int mode;
    size_t chunk;       /* CHUNK: fixed size; RANDOM: mean size */
    uint32_t seed;      /* RANDOM */
    const size_t *cuts; /* when not NULL: deliver up to each of these offsets */
    size_t ncuts;
} feed_t;

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void record(run_t *out, const ws_event_t *ev, const uint8_t *work, size_t end)
{
    if (out->nev == out->cap) {
        out->cap = out->cap ? out->cap * 2 : 16;
        out->ev = realloc(out->ev, out->cap * sizeof(rec_t));
        assert_non_null(out->ev);
    }
    rec_t *r = &out->ev[out->nev++];
    memset(r, 0, sizeof(*r));
    r->type = ev->type;
    r->len = ev->payload.len;
    r->data = malloc(r->len ? r->len : 1);
    assert_non_null(r->data);
    if (r->len)
        memcpy(r->data, ev->payload.base, r->len);
    const uint8_t *pb = (const uint8_t *)ev->payload.base;
    r->in_input = r->len > 0 && pb >= work && pb + r->len <= work + end;
    r->close_code = ev->close_code;
    if (ev->type == WS_EVENT_CLOSE) {
        assert_true(ev->close_reason.len <= WS_CLOSE_MAX_REASON);
        /* The reason is inside the payload. */
        if (ev->close_reason.len) {
            memcpy(r->reason, ev->close_reason.base, ev->close_reason.len);
            assert_ptr_equal(ev->close_reason.base, ev->payload.base + 2);
        }
    } else {
        assert_int_equal(ev->close_code, 0);
    }
    if (ev->type == WS_EVENT_NONE)
        assert_int_equal(ev->payload.len, 0);
}

static void run_free(run_t *r)
{
    for (size_t i = 0; i < r->nev; i++)
        free(r->ev[i].data);
    free(r->ev);
    memset(r, 0, sizeof(*r));
}

static void run_reader(int role, size_t max, const uint8_t *in, size_t len, const feed_t *f,
                       run_t *out)
{
    memset(out, 0, sizeof(*out));
    uint8_t *work = malloc(len ? len : 1);
    assert_non_null(work);
    ws_reader_t r;
    ws_reader_init(&r, role, max);
    size_t start = 0, end = 0, delivered = 0, cut = 0;
    uint32_t seed = f->seed;
    while (delivered < len && !out->failed) {
        size_t n;
        if (f->cuts != NULL)
            n = (cut < f->ncuts ? f->cuts[cut++] : len) - delivered;
        else if (f->mode == WHOLE)
            n = len;
        else if (f->mode == BYTES)
            n = 1;
        else if (f->mode == CHUNK)
            n = f->chunk;
        else
            n = 1 + lcg(&seed) % (2 * f->chunk);
        if (n > len - delivered)
            n = len - delivered;
        memcpy(work + end, in + delivered, n);
        end += n;
        delivered += n;
        for (;;) {
            ws_event_t ev;
            int rc = ws_reader_next(&r, work + start, end - start, &ev);
            if (rc > 0) {
                assert_true((size_t)rc <= end - start);
                record(out, &ev, work, end);
                start += (size_t)rc;
                continue;
            }
            if (rc == SIOC_INCOMPLETE)
                break;
            assert_int_equal(rc, SIOC_EPROTO);
            assert_non_null(r.reason);
            out->failed = 1;
            out->close_code = r.close_code;
            out->reason = r.reason;
            out->fed_at_fail = delivered;
            /* A failed reader stays failed. */
            assert_int_equal(ws_reader_next(&r, work + start, end - start, &ev), SIOC_EPROTO);
            break;
        }
        if (start) {
            memmove(work, work + start, end - start);
            end -= start;
            start = 0;
        }
    }
    out->leftover = end - start;
    ws_reader_free(&r);
    free(work);
}

static void assert_same_run(const run_t *a, const run_t *b)
{
    assert_int_equal(a->failed, b->failed);
    assert_int_equal(a->close_code, b->close_code);
    assert_ptr_equal(a->reason, b->reason);
    assert_int_equal(a->nev, b->nev);
    for (size_t i = 0; i < a->nev; i++) {
        assert_int_equal(a->ev[i].type, b->ev[i].type);
        assert_int_equal(a->ev[i].len, b->ev[i].len);
        assert_memory_equal(a->ev[i].data, b->ev[i].data, a->ev[i].len);
        assert_int_equal(a->ev[i].close_code, b->ev[i].close_code);
        assert_string_equal(a->ev[i].reason, b->ev[i].reason);
    }
    if (!a->failed)
        assert_int_equal(a->leftover, b->leftover);
}

/*
 * Runs `in` whole, byte by byte (if short enough) and in random chunks, and
 * checks all agree. Returns the whole run in `whole`, and the byte-by-byte
 * failure position (or 0).
 */
static size_t scenario(int role, size_t max, const sioc_buf_t *in, run_t *whole)
{
    const uint8_t *p = (const uint8_t *)in->base;
    feed_t fw = {.mode = WHOLE};
    run_reader(role, max, p, in->len, &fw, whole);
    size_t fed_at_fail = 0;
    run_t other;
    if (in->len <= 2 * MIB) {
        feed_t fb = {.mode = BYTES};
        run_reader(role, max, p, in->len, &fb, &other);
        assert_same_run(whole, &other);
        fed_at_fail = other.fed_at_fail;
        run_free(&other);
    }
    static const size_t means[] = {3, 61, 1500, 70000};
    for (uint32_t s = 1; s <= 4; s++) {
        feed_t fr = {.mode = RANDOM, .chunk = means[s - 1], .seed = s};
        run_reader(role, max, p, in->len, &fr, &other);
        assert_same_run(whole, &other);
        run_free(&other);
    }
    /* A completed run leaves no bytes behind, unless it failed. */
    if (!whole->failed)
        assert_int_equal(whole->leftover, 0);
    return fed_at_fail;
}

static void expect_event(const run_t *r, size_t i, int type, const void *data, size_t len)
{
    assert_true(i < r->nev);
    assert_int_equal(r->ev[i].type, type);
    assert_int_equal(r->ev[i].len, len);
    if (len)
        assert_memory_equal(r->ev[i].data, data, len);
}

static void expect_str(const run_t *r, size_t i, int type, const char *s)
{
    expect_event(r, i, type, s, strlen(s));
}

static void expect_fail(const run_t *r, uint16_t code)
{
    assert_true(r->failed);
    assert_int_equal(r->close_code, code);
}

static void expect_ok(const run_t *r, size_t nev)
{
    if (r->failed)
        fail_msg("unexpected failure %u: %s", r->close_code, r->reason);
    assert_int_equal(r->nev, nev);
}

static uint8_t *pattern(size_t n, unsigned salt)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)('!' + (i * 7 + salt) % 90); /* printable ASCII: valid text */
    return p;
}

/* ---- RFC 6455 §5.7 ------------------------------------------------------ */

static void test_rfc_examples(void **state)
{
    (void)state;
    static const uint8_t hello_u[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    static const uint8_t hello_m[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                      0x7f, 0x9f, 0x4d, 0x51, 0x58};
    static const uint8_t frags[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
    static const uint8_t ping_u[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    static const uint8_t pong_m[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                     0x7f, 0x9f, 0x4d, 0x51, 0x58};
    run_t r;
    sioc_buf_t b = {0};

    assert_int_equal(buf_append(&b, hello_u, sizeof(hello_u)), 0);
    scenario(CLIENT, 0, &b, &r);
    expect_ok(&r, 1);
    expect_str(&r, 0, WS_EVENT_TEXT, "Hello");
    assert_true(r.ev[0].in_input); /* zero copy */
    run_free(&r);
    scenario(SERVER, 0, &b, &r); /* unmasked, to a server */
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    run_free(&r);

    b.len = 0;
    assert_int_equal(buf_append(&b, hello_m, sizeof(hello_m)), 0);
    scenario(SERVER, 0, &b, &r);
    expect_ok(&r, 1);
    expect_str(&r, 0, WS_EVENT_TEXT, "Hello");
    assert_true(r.ev[0].in_input);
    run_free(&r);
    scenario(CLIENT, 0, &b, &r); /* masked, to a client */
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    run_free(&r);

    b.len = 0;
    assert_int_equal(buf_append(&b, frags, sizeof(frags)), 0);
    scenario(CLIENT, 0, &b, &r);
    expect_ok(&r, 2);
    expect_event(&r, 0, WS_EVENT_NONE, NULL, 0);
    expect_str(&r, 1, WS_EVENT_TEXT, "Hello");
    assert_false(r.ev[1].in_input); /* reassembled */
    run_free(&r);

    b.len = 0;
    assert_int_equal(buf_append(&b, ping_u, sizeof(ping_u)), 0);
    scenario(CLIENT, 0, &b, &r);
    expect_ok(&r, 1);
    expect_str(&r, 0, WS_EVENT_PING, "Hello");
    run_free(&r);

    b.len = 0;
    assert_int_equal(buf_append(&b, pong_m, sizeof(pong_m)), 0);
    scenario(SERVER, 0, &b, &r);
    expect_ok(&r, 1);
    expect_str(&r, 0, WS_EVENT_PONG, "Hello");
    run_free(&r);

    /* 256 bytes and 64 KiB binary, unmasked. */
    uint8_t *p = pattern(65536, 1);
    b.len = 0;
    assert_int_equal(buf_append(&b, "\x82\x7e\x01\x00", 4), 0);
    assert_int_equal(buf_append(&b, p, 256), 0);
    assert_int_equal(buf_append(&b, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10), 0);
    assert_int_equal(buf_append(&b, p, 65536), 0);
    scenario(CLIENT, 0, &b, &r);
    expect_ok(&r, 2);
    expect_event(&r, 0, WS_EVENT_BINARY, p, 256);
    expect_event(&r, 1, WS_EVENT_BINARY, p, 65536);
    run_free(&r);
    free(p);
    buf_free(&b);
}

/* ---- family 1: framing -------------------------------------------------- */

static void test_family1_framing(void **state)
{
    (void)state;
    static const size_t lens[] = {0, 125, 126, 127, 128, 65535, 65536};
    uint8_t *p = pattern(65536, 2);
    for (int op = WS_FRAME_OP_TEXT; op <= WS_FRAME_OP_BINARY; op++)
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
            for (int role = SERVER; role <= CLIENT; role++) {
                sioc_buf_t b = {0};
                if (role == SERVER)
                    cf(&b, op, 1, p, lens[i]);
                else
                    sf(&b, op, 1, p, lens[i]);
                run_t r;
                scenario(role, 0, &b, &r);
                expect_ok(&r, 1);
                expect_event(&r, 0, op == WS_FRAME_OP_TEXT ? WS_EVENT_TEXT : WS_EVENT_BINARY, p,
                             lens[i]);
                assert_int_equal(r.ev[0].in_input, lens[i] > 0);
                run_free(&r);
                /* 1.1.8 / 1.2.8: sent in chops of 997 bytes */
                feed_t f = {.mode = CHUNK, .chunk = 997};
                run_reader(role, 0, (const uint8_t *)b.base, b.len, &f, &r);
                expect_ok(&r, 1);
                expect_event(&r, 0, op == WS_FRAME_OP_TEXT ? WS_EVENT_TEXT : WS_EVENT_BINARY, p,
                             lens[i]);
                run_free(&r);
                buf_free(&b);
            }
        }
    /* Several messages back to back in one read. */
    sioc_buf_t b = {0};
    for (int i = 0; i < 50; i++)
        cf(&b, i % 2 ? WS_FRAME_OP_BINARY : WS_FRAME_OP_TEXT, 1, p, (size_t)i * 3);
    run_t r;
    scenario(SERVER, 0, &b, &r);
    expect_ok(&r, 50);
    for (size_t i = 0; i < 50; i++)
        expect_event(&r, i, i % 2 ? WS_EVENT_BINARY : WS_EVENT_TEXT, p, i * 3);
    run_free(&r);
    buf_free(&b);
    free(p);
}

/* ---- family 2: ping/pong ------------------------------------------------ */

static void test_family2_ping_pong(void **state)
{
    (void)state;
    uint8_t p[200];
    for (size_t i = 0; i < sizeof(p); i++)
        p[i] = (uint8_t)(i * 13); /* binary, not UTF-8: control payloads are not checked */
    sioc_buf_t b = {0};
    run_t r;

    cf(&b, WS_FRAME_OP_PING, 1, NULL, 0);          /* 2.1 */
    cfs(&b, WS_FRAME_OP_PING, 1, "Hello, world!"); /* 2.2 */
    cf(&b, WS_FRAME_OP_PING, 1, p, 8);             /* 2.3 binary payload */
    cf(&b, WS_FRAME_OP_PING, 1, p, 125);           /* 2.4 largest */
    cf(&b, WS_FRAME_OP_PONG, 1, NULL, 0);          /* 2.7 unsolicited pong */
    cf(&b, WS_FRAME_OP_PONG, 1, p, 10);            /* 2.8 */
    for (int i = 0; i < 10; i++)                   /* 2.10 */
        cf(&b, WS_FRAME_OP_PING, 1, p, (size_t)i);
    scenario(SERVER, 0, &b, &r);
    expect_ok(&r, 16);
    expect_event(&r, 0, WS_EVENT_PING, NULL, 0);
    expect_str(&r, 1, WS_EVENT_PING, "Hello, world!");
    expect_event(&r, 2, WS_EVENT_PING, p, 8);
    expect_event(&r, 3, WS_EVENT_PING, p, 125);
    assert_true(r.ev[3].in_input);
    expect_event(&r, 4, WS_EVENT_PONG, NULL, 0);
    expect_event(&r, 5, WS_EVENT_PONG, p, 10);
    for (size_t i = 0; i < 10; i++)
        expect_event(&r, 6 + i, WS_EVENT_PING, p, i);
    run_free(&r);

    /* 2.5 ping with 126 bytes: fails on the header's second byte. */
    b.len = 0;
    cfs(&b, WS_FRAME_OP_TEXT, 1, "before");
    size_t at = b.len;
    cf(&b, WS_FRAME_OP_PING, 1, p, 126);
    assert_int_equal(scenario(SERVER, 0, &b, &r), at + 2);
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    expect_str(&r, 0, WS_EVENT_TEXT, "before");
    assert_int_equal(r.nev, 1);
    run_free(&r);

    /* A pong of 126 bytes, and a fragmented ping (5.1), fail the same way. */
    b.len = 0;
    cf(&b, WS_FRAME_OP_PONG, 1, p, 126);
    assert_int_equal(scenario(SERVER, 0, &b, &r), 2);
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    run_free(&r);
    b.len = 0;
    cf(&b, WS_FRAME_OP_PING, 0, p, 5);
    assert_int_equal(scenario(SERVER, 0, &b, &r), 1);
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    run_free(&r);
    buf_free(&b);
}

/* ---- family 3: reserved bits ------------------------------------------- */

static void test_family3_reserved_bits(void **state)
{
    (void)state;
    static const struct {
        unsigned rsv;
        int op;
        int valid_before; /* a valid text message precedes it */
    } c[] = {
        {4, WS_FRAME_OP_TEXT, 0},   /* 3.1 RSV1 */
        {2, WS_FRAME_OP_TEXT, 1},   /* 3.2 RSV2 after a valid message */
        {1, WS_FRAME_OP_TEXT, 1},   /* 3.3 RSV3 */
        {6, WS_FRAME_OP_TEXT, 1},   /* 3.4 RSV1|RSV2 */
        {5, WS_FRAME_OP_BINARY, 0}, /* 3.5 RSV1|RSV3 */
        {3, WS_FRAME_OP_PING, 0},   /* 3.6 RSV2|RSV3 */
        {7, WS_FRAME_OP_CLOSE, 0},  /* 3.7 all */
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        sioc_buf_t b = {0};
        if (c[i].valid_before)
            cfs(&b, WS_FRAME_OP_TEXT, 1, "Hello");
        size_t at = b.len;
        raw_frame(&b, 0x80u | c[i].rsv << 4 | (unsigned)c[i].op, "abc", 3, 1);
        cfs(&b, WS_FRAME_OP_PING, 1, "after");
        run_t r;
        assert_int_equal(scenario(SERVER, 0, &b, &r), at + 1); /* on the first byte */
        expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
        assert_int_equal(r.nev, (size_t)c[i].valid_before);
        run_free(&r);
        buf_free(&b);
    }
}

/* ---- family 4: opcodes -------------------------------------------------- */

static void test_family4_opcodes(void **state)
{
    (void)state;
    static const int ops[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        for (int variant = 0; variant < 3; variant++) {
            /* 4.x.1 alone without payload, 4.x.2 alone with payload,
             * 4.x.3-5 between a valid text and a ping */
            sioc_buf_t b = {0};
            if (variant == 2)
                cfs(&b, WS_FRAME_OP_TEXT, 1, "Hello");
            size_t at = b.len;
            cf(&b, ops[i], 1, "reserved", variant ? 8 : 0);
            if (variant == 2)
                cfs(&b, WS_FRAME_OP_PING, 1, "");
            run_t r;
            assert_int_equal(scenario(SERVER, 0, &b, &r), at + 1);
            expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
            assert_int_equal(r.nev, variant == 2);
            run_free(&r);
            buf_free(&b);
        }
}

/* ---- family 5: fragmentation ------------------------------------------- */

static void test_family5_fragmentation(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    run_t r;

    /* 5.1 / 5.2: fragmented ping and pong */
    cfs(&b, WS_FRAME_OP_PING, 0, "frag1");
    cfs(&b, WS_FRAME_OP_CONT, 1, "frag2");
    assert_int_equal(scenario(SERVER, 0, &b, &r), 1);
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    run_free(&r);
    b.len = 0;
    cfs(&b, WS_FRAME_OP_PONG, 0, "frag1");
    cfs(&b, WS_FRAME_OP_CONT, 1, "frag2");
    assert_int_equal(scenario(SERVER, 0, &b, &r), 1);
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    run_free(&r);

    /* 5.3-5.5: text in two fragments */
    b.len = 0;
    cfs(&b, WS_FRAME_OP_TEXT, 0, "fragment1");
    cfs(&b, WS_FRAME_OP_CONT, 1, "fragment2");
    scenario(SERVER, 0, &b, &r);
    expect_ok(&r, 2);
    expect_event(&r, 0, WS_EVENT_NONE, NULL, 0);
    expect_str(&r, 1, WS_EVENT_TEXT, "fragment1fragment2");
    run_free(&r);

    /* 5.6-5.8: a ping and a pong between the fragments */
    b.len = 0;
    cfs(&b, WS_FRAME_OP_TEXT, 0, "fragment1");
    cfs(&b, WS_FRAME_OP_PING, 1, "ping payload");
    cfs(&b, WS_FRAME_OP_PONG, 1, "pong payload");
    cfs(&b, WS_FRAME_OP_CONT, 1, "fragment2");
    scenario(SERVER, 0, &b, &r);
    expect_ok(&r, 4);
    expect_str(&r, 1, WS_EVENT_PING, "ping payload");
    expect_str(&r, 2, WS_EVENT_PONG, "pong payload");
    expect_str(&r, 3, WS_EVENT_TEXT, "fragment1fragment2");
    run_free(&r);

    /* 5.9-5.11: continuation (FIN set) with no message, then a text */
    b.len = 0;
    cfs(&b, WS_FRAME_OP_CONT, 1, "non-continuation payload");
    cfs(&b, WS_FRAME_OP_TEXT, 1, "Hello, world!");
    assert_int_equal(scenario(SERVER, 0, &b, &r), 1); /* on the first byte */
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    assert_int_equal(r.nev, 0);
    run_free(&r);

    /* A stray continuation that is also unmasked: the verdict (and its
     * reason) does not depend on how the bytes were split. */
    b.len = 0;
    raw_frame(&b, WS_FRAME_OP_CONT, "x", 1, 0);
    assert_int_equal(scenario(SERVER, 0, &b, &r), 1);
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    assert_string_equal(r.reason, "continuation frame without a message");
    run_free(&r);

    /* 5.12-5.14: continuation (FIN clear) with no message */
    b.len = 0;
    cfs(&b, WS_FRAME_OP_CONT, 0, "non-continuation payload");
    cfs(&b, WS_FRAME_OP_TEXT, 1, "Hello, world!");
    scenario(SERVER, 0, &b, &r);
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    run_free(&r);

    /* 5.15: a whole fragmented message, then a stray continuation */
    b.len = 0;
    cfs(&b, WS_FRAME_OP_TEXT, 0, "fragment1");
    cfs(&b, WS_FRAME_OP_CONT, 1, "fragment2");
    cfs(&b, WS_FRAME_OP_CONT, 0, "fragment3");
    cfs(&b, WS_FRAME_OP_TEXT, 1, "fragment4");
    scenario(SERVER, 0, &b, &r);
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    assert_int_equal(r.nev, 2);
    expect_str(&r, 1, WS_EVENT_TEXT, "fragment1fragment2");
    run_free(&r);

    /* 5.16-5.17: continuation first, repeated */
    b.len = 0;
    for (int i = 0; i < 2; i++) {
        cfs(&b, WS_FRAME_OP_CONT, 0, "fragment1");
        cfs(&b, WS_FRAME_OP_TEXT, 0, "fragment2");
        cfs(&b, WS_FRAME_OP_CONT, 1, "fragment3");
    }
    scenario(SERVER, 0, &b, &r);
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    assert_int_equal(r.nev, 0);
    run_free(&r);

    /* 5.18: a new text message before the previous one ended */
    b.len = 0;
    cfs(&b, WS_FRAME_OP_TEXT, 0, "fragment1");
    size_t at = b.len;
    cfs(&b, WS_FRAME_OP_TEXT, 1, "fragment2");
    assert_int_equal(scenario(SERVER, 0, &b, &r), at + 1);
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    assert_int_equal(r.nev, 1);
    run_free(&r);
    /* ... and a binary one inside a text one */
    b.len = 0;
    cfs(&b, WS_FRAME_OP_TEXT, 0, "fragment1");
    cfs(&b, WS_FRAME_OP_BINARY, 0, "fragment2");
    scenario(SERVER, 0, &b, &r);
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    run_free(&r);

    /* 5.19-5.20: five fragments with pings between them */
    b.len = 0;
    cfs(&b, WS_FRAME_OP_TEXT, 0, "fragment1");
    cfs(&b, WS_FRAME_OP_CONT, 0, "fragment2");
    cfs(&b, WS_FRAME_OP_PING, 1, "pongme 1!");
    cfs(&b, WS_FRAME_OP_CONT, 0, "fragment3");
    cfs(&b, WS_FRAME_OP_CONT, 0, "fragment4");
    cfs(&b, WS_FRAME_OP_PING, 1, "pongme 2!");
    cfs(&b, WS_FRAME_OP_CONT, 1, "fragment5");
    scenario(SERVER, 0, &b, &r);
    expect_ok(&r, 7);
    expect_str(&r, 2, WS_EVENT_PING, "pongme 1!");
    expect_str(&r, 5, WS_EVENT_PING, "pongme 2!");
    expect_str(&r, 6, WS_EVENT_TEXT, "fragment1fragment2fragment3fragment4fragment5");
    run_free(&r);

    /* Binary fragments with empty pieces, and a close in the middle (7.1.5). */
    b.len = 0;
    cf(&b, WS_FRAME_OP_BINARY, 0, "\x00\xff", 2);
    cf(&b, WS_FRAME_OP_CONT, 0, NULL, 0);
    cf(&b, WS_FRAME_OP_CONT, 1, "\xfe", 1);
    cfs(&b, WS_FRAME_OP_TEXT, 0, "frag");
    cclose(&b, 1000, "bye");
    scenario(SERVER, 0, &b, &r);
    expect_ok(&r, 5);
    expect_event(&r, 2, WS_EVENT_BINARY, "\x00\xff\xfe", 3);
    assert_false(r.ev[2].in_input);
    assert_int_equal(r.ev[4].type, WS_EVENT_CLOSE);
    assert_int_equal(r.ev[4].close_code, 1000);
    assert_string_equal(r.ev[4].reason, "bye");
    run_free(&r);

    /* Client role, unmasked server fragments. */
    b.len = 0;
    sf(&b, WS_FRAME_OP_TEXT, 0, "ab", 2);
    sf(&b, WS_FRAME_OP_PING, 1, "p", 1);
    sf(&b, WS_FRAME_OP_CONT, 1, "cd", 2);
    scenario(CLIENT, 0, &b, &r);
    expect_ok(&r, 3);
    expect_str(&r, 2, WS_EVENT_TEXT, "abcd");
    run_free(&r);
    buf_free(&b);
}

/* ---- family 6: UTF-8 ------------------------------------------------------ */

typedef struct {
    const char *s;
    size_t len;
    int valid;
} text_case_t;

#define TV(s)                                                                                      \
    {                                                                                              \
        s, sizeof(s) - 1, 1                                                                        \
    }
#define TB(s)                                                                                      \
    {                                                                                              \
        s, sizeof(s) - 1, 0                                                                        \
    }

static const text_case_t texts[] = {
    TV(""),
    TV("Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!"), /* 6.2 */
    TV("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),                            /* 6.5.1 */
    TV("\xf0\x90\x80\x80"),
    TV("\xf4\x8f\xbf\xbf"),
    TV("\xed\x9f\xbf"),
    TV("\xee\x80\x80"),
    TV("\xef\xbf\xbd"),
    TV("\xef\xbf\xbe"),
    TV("\xef\xbf\xbf"),
    TV("\x7f"),
    TV("\xdf\xbf"),
    TV("\xf0\x9f\x98\x80 emoji"),
    TB("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"), /* 6.3
                                                                                             */
    TB("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce"), /* 6.6.x: cut inside a character */
    TB("\xf4\x90\x80\x80"),
    TB("\xf8\x88\x80\x80\x80"),
    TB("\xfc\x84\x80\x80\x80\x80"),
    TB("\xf7\xbf\xbf\xbf"),
    TB("\x80"),
    TB("\xbf"),
    TB("\x80\xbf\x80"),
    TB("\xc0\x20"),
    TB("\xe0\x80"),
    TB("\xf0\x80\x80"),
    TB("\xdf"),
    TB("\xef\xbf"),
    TB("\xf4\x8f\xbf"),
    TB("\xc0\xe0\x80\xf0\x80\x80"),
    TB("\xfe"),
    TB("\xff"),
    TB("\xfe\xfe\xff\xff"),
    TB("\xc0\xaf"),
    TB("\xe0\x80\xaf"),
    TB("\xf0\x80\x80\xaf"),
    TB("\xc1\xbf"),
    TB("\xe0\x9f\xbf"),
    TB("\xf0\x8f\xbf\xbf"),
    TB("\xc0\x80"),
    TB("\xe0\x80\x80"),
    TB("\xed\xa0\x80"),
    TB("\xed\xbf\xbf"),
    TB("\xed\xa0\x80\xed\xb0\x80"),
    TB("valid start \xc3\xa9 then \xed\xa0\x80 bad"),
};

/* Expected outcome of one text case sent as a whole message. */
static void expect_text_result(const run_t *r, const text_case_t *t, size_t nev_before)
{
    if (t->valid) {
        expect_ok(r, nev_before + 1);
        expect_event(r, nev_before, WS_EVENT_TEXT, t->s, t->len);
    } else {
        expect_fail(r, WS_CLOSE_INVALID_DATA);
    }
}

static void test_family6_utf8(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        const text_case_t *t = &texts[i];
        sioc_buf_t b = {0};
        run_t r;
        /* 6.x.1: one frame */
        cf(&b, WS_FRAME_OP_TEXT, 1, t->s, t->len);
        scenario(SERVER, 0, &b, &r);
        expect_text_result(&r, t, 0);
        run_free(&r);
        /* 6.x.2: one fragment per byte (6.2.3, 6.3.2) */
        b.len = 0;
        if (t->len == 0)
            cf(&b, WS_FRAME_OP_TEXT, 1, NULL, 0);
        for (size_t k = 0; k < t->len; k++)
            cf(&b, k ? WS_FRAME_OP_CONT : WS_FRAME_OP_TEXT, k + 1 == t->len, t->s + k, 1);
        scenario(SERVER, 0, &b, &r);
        expect_text_result(&r, t, t->len > 1 ? t->len - 1 : 0);
        run_free(&r);
        /* Split in two fragments at every point, with a ping in between. */
        for (size_t cut = 0; cut <= t->len; cut++) {
            b.len = 0;
            cf(&b, WS_FRAME_OP_TEXT, 0, t->s, cut);
            cf(&b, WS_FRAME_OP_PING, 1, NULL, 0);
            cf(&b, WS_FRAME_OP_CONT, 1, t->s + cut, t->len - cut);
            feed_t fw = {.mode = WHOLE};
            run_reader(SERVER, 0, (const uint8_t *)b.base, b.len, &fw, &r);
            expect_text_result(&r, t, 2);
            run_free(&r);
        }
        buf_free(&b);
    }

    /* 6.1: empty fragments */
    sioc_buf_t b = {0};
    run_t r;
    cf(&b, WS_FRAME_OP_TEXT, 0, NULL, 0);
    cf(&b, WS_FRAME_OP_CONT, 0, NULL, 0);
    cf(&b, WS_FRAME_OP_CONT, 1, NULL, 0);
    cf(&b, WS_FRAME_OP_TEXT, 0, NULL, 0);
    cfs(&b, WS_FRAME_OP_CONT, 0, "middle");
    cf(&b, WS_FRAME_OP_CONT, 1, NULL, 0);
    scenario(SERVER, 0, &b, &r);
    expect_ok(&r, 6);
    expect_event(&r, 2, WS_EVENT_TEXT, NULL, 0);
    expect_str(&r, 5, WS_EVENT_TEXT, "middle");
    run_free(&r);
    buf_free(&b);
}

/* 6.4.1-6.4.4: fail fast. The text fails at the frame, or the read, that
 * brings the first impossible byte, before the rest arrives. */
static void test_family6_fail_fast(void **state)
{
    (void)state;
    static const char part1[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
    static const char part2[] = "\xf4\x90\x80\x80";
    static const char part3[] = "\x65\x64\x69\x74\x65\x64";
    char all[64];
    size_t l1 = sizeof(part1) - 1, l2 = sizeof(part2) - 1, l3 = sizeof(part3) - 1;
    memcpy(all, part1, l1);
    memcpy(all + l1, part2, l2);
    memcpy(all + l1 + l2, part3, l3);
    sioc_buf_t b = {0};
    run_t r;

    /* 6.4.1: three frames, delivered frame by frame */
    cf(&b, WS_FRAME_OP_TEXT, 0, part1, l1);
    size_t e1 = b.len;
    cf(&b, WS_FRAME_OP_CONT, 0, part2, l2);
    size_t e2 = b.len;
    cf(&b, WS_FRAME_OP_CONT, 1, part3, l3);
    size_t cuts[2] = {e1, e2};
    feed_t f = {.cuts = cuts, .ncuts = 2};
    run_reader(SERVER, 0, (const uint8_t *)b.base, b.len, &f, &r);
    expect_fail(&r, WS_CLOSE_INVALID_DATA);
    assert_int_equal(r.fed_at_fail, e2); /* before part 3 */
    assert_int_equal(r.nev, 1);
    run_free(&r);
    /* byte by byte: fails on the 0x90, the 2nd byte of part 2 */
    assert_int_equal(scenario(SERVER, 0, &b, &r), e1 + 6 + 2);
    run_free(&r);

    /* 6.4.2: part 2 is only the 0x90; the F4 ends part 1 */
    b.len = 0;
    cf(&b, WS_FRAME_OP_TEXT, 0, all, l1 + 1);
    e1 = b.len;
    cf(&b, WS_FRAME_OP_CONT, 0, all + l1 + 1, 1);
    e2 = b.len;
    cf(&b, WS_FRAME_OP_CONT, 1, all + l1 + 2, l2 + l3 - 2);
    cuts[0] = e1;
    cuts[1] = e2;
    run_reader(SERVER, 0, (const uint8_t *)b.base, b.len, &f, &r);
    expect_fail(&r, WS_CLOSE_INVALID_DATA);
    assert_int_equal(r.fed_at_fail, e2);
    run_free(&r);

    /* 6.4.3: one frame, sent in three chops */
    b.len = 0;
    cf(&b, WS_FRAME_OP_TEXT, 1, all, l1 + l2 + l3);
    size_t hl = 6;
    cuts[0] = hl + l1;
    cuts[1] = hl + l1 + l2;
    run_reader(SERVER, 0, (const uint8_t *)b.base, b.len, &f, &r);
    expect_fail(&r, WS_CLOSE_INVALID_DATA);
    assert_int_equal(r.fed_at_fail, hl + l1 + l2); /* the frame is not whole yet */
    assert_int_equal(r.nev, 0);
    run_free(&r);
    assert_int_equal(scenario(SERVER, 0, &b, &r), hl + l1 + 2);
    run_free(&r);

    /* 6.4.4: one frame, the chop boundary right after the F4 */
    cuts[0] = hl + l1 + 1;
    cuts[1] = hl + l1 + 2;
    run_reader(SERVER, 0, (const uint8_t *)b.base, b.len, &f, &r);
    expect_fail(&r, WS_CLOSE_INVALID_DATA);
    assert_int_equal(r.fed_at_fail, hl + l1 + 2);
    run_free(&r);

    /* A large text frame arriving in many reads with a bad byte in the middle
     * fails at the read that brings it, long before the frame is whole. */
    size_t big = 300000;
    uint8_t *p = pattern(big, 3);
    p[100000] = 0xff;
    b.len = 0;
    cf(&b, WS_FRAME_OP_TEXT, 1, p, big);
    feed_t fc = {.mode = CHUNK, .chunk = 4096};
    run_reader(SERVER, 0, (const uint8_t *)b.base, b.len, &fc, &r);
    expect_fail(&r, WS_CLOSE_INVALID_DATA);
    assert_true(r.fed_at_fail <= 10 + 100000 + 4096);
    run_free(&r);
    /* ... also in a continuation frame of a fragmented message */
    b.len = 0;
    cfs(&b, WS_FRAME_OP_TEXT, 0, "start");
    cf(&b, WS_FRAME_OP_CONT, 1, p, big);
    run_reader(SERVER, 0, (const uint8_t *)b.base, b.len, &fc, &r);
    expect_fail(&r, WS_CLOSE_INVALID_DATA);
    assert_true(r.fed_at_fail <= 11 + 10 + 100000 + 4096);
    run_free(&r);
    /* A character split across the reads of one frame is fine. */
    p[100000] = 'x';
    memcpy(p + 4095 - 10, "\xf0\x9f\x98\x80", 4);
    b.len = 0;
    cf(&b, WS_FRAME_OP_TEXT, 1, p, big);
    run_reader(SERVER, 0, (const uint8_t *)b.base, b.len, &fc, &r);
    expect_ok(&r, 1);
    expect_event(&r, 0, WS_EVENT_TEXT, p, big);
    run_free(&r);
    /* Binary frames are never UTF-8 checked. */
    p[5] = 0xff;
    b.len = 0;
    cf(&b, WS_FRAME_OP_BINARY, 1, p, big);
    scenario(SERVER, 0, &b, &r);
    expect_ok(&r, 1);
    run_free(&r);
    free(p);
    buf_free(&b);
}

/* ---- family 7: close ----------------------------------------------------- */

static void test_family7_close(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    run_t r;

    /* 7.1.1 / 7.3.3 / 7.3.4 */
    cclose(&b, 1000, "");
    cclose(&b, 1000, "Hello World!");
    cf(&b, WS_FRAME_OP_CLOSE, 1, NULL, 0); /* 7.3.1: no status */
    scenario(SERVER, 0, &b, &r);
    expect_ok(&r, 3);
    assert_int_equal(r.ev[0].type, WS_EVENT_CLOSE);
    assert_int_equal(r.ev[0].close_code, 1000);
    assert_string_equal(r.ev[0].reason, "");
    assert_int_equal(r.ev[1].close_code, 1000);
    assert_string_equal(r.ev[1].reason, "Hello World!");
    assert_int_equal(r.ev[2].close_code, WS_CLOSE_NO_STATUS);
    assert_int_equal(r.ev[2].len, 0);
    run_free(&r);

    /* 7.3.2: one byte */
    b.len = 0;
    cf(&b, WS_FRAME_OP_CLOSE, 1, "\x03", 1);
    scenario(SERVER, 0, &b, &r);
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    run_free(&r);

    /* 7.3.5: a 123-byte reason; 7.3.6: 124 (payload 126) fails on the header */
    char reason[130];
    memset(reason, '*', sizeof(reason));
    reason[123] = 0;
    b.len = 0;
    cclose(&b, 1000, reason);
    scenario(SERVER, 0, &b, &r);
    expect_ok(&r, 1);
    assert_int_equal(strlen(r.ev[0].reason), 123);
    run_free(&r);
    reason[123] = '*';
    reason[124] = 0;
    b.len = 0;
    cclose(&b, 1000, reason);
    assert_int_equal(scenario(SERVER, 0, &b, &r), 2);
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    run_free(&r);

    /* 7.5.1: invalid UTF-8 reason */
    b.len = 0;
    cclose(&b, 1000,
           "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64");
    scenario(SERVER, 0, &b, &r);
    expect_fail(&r, WS_CLOSE_INVALID_DATA);
    run_free(&r);

    /* 7.7.x: valid codes */
    static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                     1010, 1011, 3000, 3999, 4000, 4999};
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
        b.len = 0;
        cclose(&b, valid[i], "");
        scenario(SERVER, 0, &b, &r);
        expect_ok(&r, 1);
        assert_int_equal(r.ev[0].close_code, valid[i]);
        run_free(&r);
    }
    /* 7.9.x and 7.13.x: invalid codes (a reason does not change that) */
    static const unsigned invalid[] = {0,    999,  1004, 1005, 1006, 1015,
                                       1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        b.len = 0;
        cclose(&b, invalid[i], i % 2 ? "reason" : "");
        scenario(SERVER, 0, &b, &r);
        expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
        run_free(&r);
    }
    /* An invalid code with an invalid reason is a protocol error first. */
    b.len = 0;
    cclose(&b, 999, "\xff");
    scenario(SERVER, 0, &b, &r);
    expect_fail(&r, WS_CLOSE_PROTOCOL_ERROR);
    run_free(&r);
    buf_free(&b);
}

/* ---- family 9: limits and many frames ------------------------------------ */

static void test_family9_large_messages(void **state)
{
    (void)state;
    static const size_t sizes[] = {65536, 256 * 1024, MIB, 4 * MIB, 8 * MIB, 16 * MIB};
    uint8_t *p = pattern(16 * MIB, 4);
    for (int op = WS_FRAME_OP_TEXT; op <= WS_FRAME_OP_BINARY; op++)
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            /* 9.1.x / 9.2.x: one frame */
            sioc_buf_t b = {0};
            cf(&b, op, 1, p, sizes[i]);
            run_t r;
            scenario(SERVER, 16 * MIB, &b, &r);
            expect_ok(&r, 1);
            expect_event(&r, 0, op == WS_FRAME_OP_TEXT ? WS_EVENT_TEXT : WS_EVENT_BINARY, p,
                         sizes[i]);
            run_free(&r);
            /* 9.5.x / 9.6.x: the frame in chops of 64..4096 bytes */
            if (sizes[i] == MIB)
                for (size_t chop = 64; chop <= 4096; chop *= 2) {
                    feed_t f = {.mode = CHUNK, .chunk = chop};
                    run_reader(SERVER, 16 * MIB, (const uint8_t *)b.base, b.len, &f, &r);
                    expect_ok(&r, 1);
                    expect_event(&r, 0, op == WS_FRAME_OP_TEXT ? WS_EVENT_TEXT : WS_EVENT_BINARY, p,
                                 sizes[i]);
                    run_free(&r);
                }
            buf_free(&b);
        }
    /* 9.3.x / 9.4.x: a 4 MiB message in fragments of 64 B .. 4 MiB */
    for (int op = WS_FRAME_OP_TEXT; op <= WS_FRAME_OP_BINARY; op++)
        for (size_t frag = 64; frag <= 4 * MIB; frag *= 4) {
            sioc_buf_t b = {0};
            size_t total = 4 * MIB, nf = 0;
            for (size_t off = 0; off < total; off += frag, nf++)
                cf(&b, off ? WS_FRAME_OP_CONT : op, off + frag >= total, p + off,
                   off + frag > total ? total - off : frag);
            run_t r;
            feed_t fw = {.mode = WHOLE};
            run_reader(SERVER, 16 * MIB, (const uint8_t *)b.base, b.len, &fw, &r);
            expect_ok(&r, nf);
            expect_event(&r, nf - 1, op == WS_FRAME_OP_TEXT ? WS_EVENT_TEXT : WS_EVENT_BINARY, p,
                         total);
            run_free(&r);
            feed_t fr = {.mode = RANDOM, .chunk = 5000, .seed = 9};
            run_reader(SERVER, 16 * MIB, (const uint8_t *)b.base, b.len, &fr, &r);
            expect_ok(&r, nf);
            run_free(&r);
            buf_free(&b);
        }
    /* 9.7.x / 9.8.x: 1000 messages of each size, back to back */
    static const size_t small[] = {0, 16, 64, 256, 1024, 4096};
    for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
        sioc_buf_t b = {0};
        for (int k = 0; k < 1000; k++)
            cf(&b, k % 2 ? WS_FRAME_OP_BINARY : WS_FRAME_OP_TEXT, 1, p, small[i]);
        run_t r;
        feed_t fr = {.mode = RANDOM, .chunk = 3000, .seed = 5};
        run_reader(SERVER, 0, (const uint8_t *)b.base, b.len, &fr, &r);
        expect_ok(&r, 1000);
        run_free(&r);
        buf_free(&b);
    }
    free(p);
}

static void test_size_limit(void **state)
{
    (void)state;
    uint8_t *p = pattern(5000, 5);
    sioc_buf_t b = {0};
    run_t r;

    /* Exactly the cap is fine; one more fails on the header alone. */
    cf(&b, WS_FRAME_OP_BINARY, 1, p, 1000);
    scenario(SERVER, 1000, &b, &r);
    expect_ok(&r, 1);
    run_free(&r);
    b.len = 0;
    cf(&b, WS_FRAME_OP_TEXT, 1, p, 1001);
    assert_int_equal(scenario(SERVER, 1000, &b, &r), 8); /* the header, no payload */
    expect_fail(&r, WS_CLOSE_TOO_BIG);
    run_free(&r);
    feed_t hdr_only = {.mode = WHOLE};
    run_reader(SERVER, 1000, (const uint8_t *)b.base, 8, &hdr_only, &r);
    expect_fail(&r, WS_CLOSE_TOO_BIG);
    run_free(&r);

    /* A 64-bit length far beyond any buffer. */
    const uint8_t huge[] = {0x82, 0xFF, 0, 0, 0x01, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    b.len = 0;
    assert_int_equal(buf_append(&b, huge, sizeof(huge)), 0);
    assert_int_equal(scenario(SERVER, 0, &b, &r), 14);
    expect_fail(&r, WS_CLOSE_TOO_BIG);
    run_free(&r);

    /* Fragments: the one that pushes the total over the cap fails on its header. */
    b.len = 0;
    cf(&b, WS_FRAME_OP_TEXT, 0, p, 400);
    cf(&b, WS_FRAME_OP_PING, 1, p, 125); /* control frames do not count */
    cf(&b, WS_FRAME_OP_CONT, 0, p, 400);
    cf(&b, WS_FRAME_OP_CONT, 1, p, 200);
    scenario(SERVER, 1000, &b, &r);
    expect_ok(&r, 4);
    assert_int_equal(r.ev[3].type, WS_EVENT_TEXT);
    assert_int_equal(r.ev[3].len, 1000);
    assert_memory_equal(r.ev[3].data + 400, p, 400);
    run_free(&r);
    b.len = 0;
    cf(&b, WS_FRAME_OP_TEXT, 0, p, 400);
    cf(&b, WS_FRAME_OP_CONT, 0, p, 400);
    size_t at = b.len;
    cf(&b, WS_FRAME_OP_CONT, 1, p, 201);
    assert_int_equal(scenario(SERVER, 1000, &b, &r), at + 8);
    expect_fail(&r, WS_CLOSE_TOO_BIG);
    run_free(&r);

    /* The cap holds on the client side too, and 0 means the default. */
    b.len = 0;
    sf(&b, WS_FRAME_OP_BINARY, 1, p, 2000);
    scenario(CLIENT, 1999, &b, &r);
    expect_fail(&r, WS_CLOSE_TOO_BIG);
    run_free(&r);
    ws_reader_t rd;
    ws_reader_init(&rd, WS_READER_SERVER, 0);
    assert_int_equal(rd._max, WS_READER_DEFAULT_MAX);
    ws_reader_free(&rd);
    ws_reader_init(&rd, WS_READER_SERVER, (size_t)-1);
    assert_true(rd._max < (size_t)-1 / 2);
    ws_reader_free(&rd);
    buf_free(&b);
    free(p);
}

/* ---- family 10: auto-fragmentation --------------------------------------- */

static void test_family10_autofragmentation(void **state)
{
    (void)state;
    /* 64 KiB of mixed-width characters cut every 1300 bytes, which splits
     * characters across fragments. */
    static const char unit[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z ";
    size_t total = 65536 / (sizeof(unit) - 1) * (sizeof(unit) - 1);
    uint8_t *p = malloc(total);
    for (size_t i = 0; i < total; i += sizeof(unit) - 1)
        memcpy(p + i, unit, sizeof(unit) - 1);
    for (int op = WS_FRAME_OP_TEXT; op <= WS_FRAME_OP_BINARY; op++) {
        sioc_buf_t b = {0};
        size_t nf = 0;
        for (size_t off = 0; off < total; off += 1300, nf++)
            cf(&b, off ? WS_FRAME_OP_CONT : op, off + 1300 >= total, p + off,
               off + 1300 > total ? total - off : 1300);
        run_t r;
        scenario(SERVER, 0, &b, &r);
        expect_ok(&r, nf);
        expect_event(&r, nf - 1, op == WS_FRAME_OP_TEXT ? WS_EVENT_TEXT : WS_EVENT_BINARY, p,
                     total);
        run_free(&r);
        buf_free(&b);
    }
    free(p);
}

/* ---- reader details ------------------------------------------------------- */

static void test_storage_and_contract(void **state)
{
    (void)state;
    uint8_t *p = pattern(200000, 6);
    sioc_buf_t b = {0};
    cf(&b, WS_FRAME_OP_BINARY, 0, p, 100000);
    cf(&b, WS_FRAME_OP_CONT, 1, p + 100000, 100000);
    size_t second = b.len;
    cfs(&b, WS_FRAME_OP_TEXT, 1, "next");
    ws_reader_t r;
    ws_event_t ev;
    ws_reader_init(&r, WS_READER_SERVER, 0);
    uint8_t *in = (uint8_t *)b.base;
    int n1 = ws_reader_next(&r, in, b.len, &ev);
    assert_true(n1 > 0);
    assert_int_equal(ev.type, WS_EVENT_NONE);
    int n2 = ws_reader_next(&r, in + n1, b.len - (size_t)n1, &ev);
    assert_int_equal((size_t)(n1 + n2), second);
    assert_int_equal(ev.type, WS_EVENT_BINARY);
    assert_int_equal(ev.payload.len, 200000);
    assert_memory_equal(ev.payload.base, p, 200000);
    assert_true(r._msg.cap >= 200000);
    /* The big reassembly buffer is released on the next call. */
    assert_int_equal(ws_reader_next(&r, in + second, b.len - second, &ev), (int)(b.len - second));
    assert_int_equal(ev.type, WS_EVENT_TEXT);
    assert_int_equal(r._msg.cap, 0);
    ws_reader_free(&r);

    /* After INCOMPLETE the caller may present a different frame (its own
     * business): the partial UTF-8 check restarts instead of misapplying. */
    b.len = 0;
    cfs(&b, WS_FRAME_OP_TEXT, 1, "\xc3\xa9t\xc3\xa9 long enough text");
    sioc_buf_t c = {0};
    cfs(&c, WS_FRAME_OP_TEXT, 1, "\xa9\xa9 invalid start");
    ws_reader_init(&r, WS_READER_SERVER, 0);
    assert_int_equal(ws_reader_next(&r, (uint8_t *)b.base, 10, &ev), SIOC_INCOMPLETE);
    assert_int_equal(ws_reader_next(&r, (uint8_t *)c.base, c.len, &ev), SIOC_EPROTO);
    assert_int_equal(r.close_code, WS_CLOSE_INVALID_DATA);
    ws_reader_free(&r);
    ws_reader_init(&r, WS_READER_SERVER, 0);
    assert_int_equal(ws_reader_next(&r, (uint8_t *)c.base, 9, &ev), SIOC_EPROTO);
    ws_reader_free(&r);
    ws_reader_init(&r, WS_READER_SERVER, 0);
    assert_int_equal(ws_reader_next(&r, (uint8_t *)b.base, 10, &ev), SIOC_INCOMPLETE);
    assert_int_equal(ws_reader_next(&r, (uint8_t *)b.base, b.len, &ev), (int)b.len);
    assert_int_equal(ev.type, WS_EVENT_TEXT);
    /* Zero bytes is INCOMPLETE, not an error. */
    assert_int_equal(ws_reader_next(&r, (uint8_t *)b.base, 0, &ev), SIOC_INCOMPLETE);
    ws_reader_free(&r);
    buf_free(&c);
    buf_free(&b);
    free(p);
}

/* A reader is idle between messages only: not with a fragmented message in progress, a
 * text frame partly checked, or after a failure. An idle reader can be re-initialised (the
 * worker's connections share one while idle). */
static void test_idle(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    cfs(&b, WS_FRAME_OP_TEXT, 0, "one ");
    size_t first = b.len;
    cfs(&b, WS_FRAME_OP_CONT, 1, "two");
    size_t whole = b.len;
    cfs(&b, WS_FRAME_OP_TEXT, 1, "a text frame long enough to arrive in pieces");
    ws_reader_t r;
    ws_event_t ev;
    ws_reader_init(&r, WS_READER_SERVER, 0);
    assert_true(ws_reader_idle(&r));
    uint8_t *in = (uint8_t *)b.base;
    assert_int_equal(ws_reader_next(&r, in, b.len, &ev), (int)first);
    assert_false(ws_reader_idle(&r));
    assert_int_equal(ws_reader_next(&r, in + first, b.len - first, &ev), (int)(whole - first));
    assert_int_equal(ev.type, WS_EVENT_TEXT);
    assert_memory_equal(ev.payload.base, "one two", 7);
    assert_true(ws_reader_idle(&r));
    /* Part of a text frame: its UTF-8 check is under way. */
    assert_int_equal(ws_reader_next(&r, in + whole, 12, &ev), SIOC_INCOMPLETE);
    assert_false(ws_reader_idle(&r));
    /* A reader moved elsewhere (a struct copy) carries on with the frame. */
    ws_reader_t moved = r;
    assert_int_equal(ws_reader_next(&moved, in + whole, b.len - whole, &ev), (int)(b.len - whole));
    assert_int_equal(ev.type, WS_EVENT_TEXT);
    assert_true(ws_reader_idle(&moved));
    ws_reader_free(&moved);
    /* A failure is not idle: the reader keeps refusing. */
    ws_reader_init(&r, WS_READER_SERVER, 0);
    uint8_t bad[2] = {0x83, 0x80}; /* reserved opcode 3 */
    assert_int_equal(ws_reader_next(&r, bad, 2, &ev), SIOC_EPROTO);
    assert_false(ws_reader_idle(&r));
    ws_reader_free(&r);
    buf_free(&b);
}

/* permessage-deflate (RFC 7692 §6.1): RSV1 marks the first frame of a compressed message;
 * it is refused without ws_reader_allow_compressed(), on continuations and on control
 * frames; compressed text is not UTF-8 checked (it is not text until inflated). */
static void test_rsv1_compressed(void **state)
{
    (void)state;
    const uint8_t z[] = {0xff, 0xc3, 0x28, 0x00}; /* not UTF-8: still accepted */
    ws_reader_t r;
    ws_event_t ev;
    sioc_buf_t b = {0};

    ws_reader_init(&r, SERVER, 1000);
    raw_frame(&b, 0xC1, z, sizeof(z), 1);
    assert_int_equal(ws_reader_next(&r, (uint8_t *)b.base, b.len, &ev), SIOC_EPROTO);
    assert_int_equal(r.close_code, WS_CLOSE_PROTOCOL_ERROR);
    ws_reader_free(&r);

    b.len = 0;
    ws_reader_init(&r, SERVER, 1000);
    ws_reader_allow_compressed(&r);
    raw_frame(&b, 0xC1, z, sizeof(z), 1);
    assert_int_equal(ws_reader_next(&r, (uint8_t *)b.base, b.len, &ev), (int)b.len);
    assert_int_equal(ev.type, WS_EVENT_TEXT);
    assert_int_equal(ev.compressed, 1);
    assert_int_equal(ev.payload.len, sizeof(z));
    assert_memory_equal(ev.payload.base, z, sizeof(z));

    /* Fragmented: RSV1 on the first frame only; the whole message is compressed. */
    b.len = 0;
    raw_frame(&b, 0x42, z, 2, 1);
    raw_frame(&b, 0x80, z + 2, 2, 1);
    size_t used = 0;
    int n = ws_reader_next(&r, (uint8_t *)b.base, b.len, &ev);
    assert_true(n > 0);
    assert_int_equal(ev.type, WS_EVENT_NONE);
    used += (size_t)n;
    n = ws_reader_next(&r, (uint8_t *)b.base + used, b.len - used, &ev);
    assert_int_equal((size_t)n, b.len - used);
    assert_int_equal(ev.type, WS_EVENT_BINARY);
    assert_int_equal(ev.compressed, 1);
    assert_memory_equal(ev.payload.base, z, sizeof(z));

    /* An uncompressed message after it is not marked. */
    b.len = 0;
    raw_frame(&b, 0x81, "ok", 2, 1);
    assert_int_equal(ws_reader_next(&r, (uint8_t *)b.base, b.len, &ev), (int)b.len);
    assert_int_equal(ev.compressed, 0);

    /* RSV1 on a continuation. */
    b.len = 0;
    raw_frame(&b, 0x01, "a", 1, 1);
    raw_frame(&b, 0xC0, "b", 1, 1);
    n = ws_reader_next(&r, (uint8_t *)b.base, b.len, &ev);
    assert_true(n > 0);
    assert_int_equal(ws_reader_next(&r, (uint8_t *)b.base + n, b.len - (size_t)n, &ev),
                     SIOC_EPROTO);
    assert_int_equal(r.close_code, WS_CLOSE_PROTOCOL_ERROR);
    ws_reader_free(&r);

    /* RSV1 on a control frame; RSV2 stays reserved. */
    const unsigned bad[] = {0xC9, 0xA1};
    for (size_t i = 0; i < 2; i++) {
        b.len = 0;
        ws_reader_init(&r, SERVER, 1000);
        ws_reader_allow_compressed(&r);
        raw_frame(&b, bad[i], "p", 1, 1);
        assert_int_equal(ws_reader_next(&r, (uint8_t *)b.base, b.len, &ev), SIOC_EPROTO);
        assert_int_equal(r.close_code, WS_CLOSE_PROTOCOL_ERROR);
        ws_reader_free(&r);
    }
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_examples),
        cmocka_unit_test(test_family1_framing),
        cmocka_unit_test(test_family2_ping_pong),
        cmocka_unit_test(test_family3_reserved_bits),
        cmocka_unit_test(test_family4_opcodes),
        cmocka_unit_test(test_family5_fragmentation),
        cmocka_unit_test(test_family6_utf8),
        cmocka_unit_test(test_family6_fail_fast),
        cmocka_unit_test(test_family7_close),
        cmocka_unit_test(test_family9_large_messages),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_family10_autofragmentation),
        cmocka_unit_test(test_storage_and_contract),
        cmocka_unit_test(test_idle),
        cmocka_unit_test(test_rsv1_compressed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
