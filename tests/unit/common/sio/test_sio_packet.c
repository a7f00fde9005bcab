/*
 * Unit tests for common/sio/sio_packet: every example of PROTOCOL.md §2 and
 * §3, the exact frames of the official Socket.IO suite (§4.2), every
 * malformed form of §2.2, header round trips, and every prefix of each
 * vector.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "eio/eio_packet.h"
#include "sio/jscan.h"
#include "sio/sio_binary.h"
#include "sio/sio_packet.h"

#define PH(n) "{\"_placeholder\":true,\"num\":" #n "}"

/* A heap copy of exactly n bytes, so that ASan catches any read past the input. */
static char *exact(const char *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    assert_non_null(c);
    memcpy(c, p, n);
    return c;
}

static int in(sioc_iov_t s, const char *p, size_t n)
{
    return s.len == 0 || (s.base >= p && s.base + s.len <= p + n);
}

/*
 * The invariants of any accepted packet: slices inside the input, fields
 * consistent with the type, and parse(write(fields) + data) == fields.
 */
static void check_accepted(const char *p, size_t n, const sio_packet_t *pkt)
{
    assert_true(pkt->type >= SIO_CONNECT && pkt->type <= SIO_BINARY_ACK);
    assert_true(in(pkt->data, p, n) && in(pkt->event, p, n) && in(pkt->args, p, n));
    assert_true(pkt->nsp.len >= 1 && pkt->nsp.base[0] == '/');
    assert_null(memchr(pkt->nsp.base, ',', pkt->nsp.len));
    if (pkt->type != SIO_BINARY_EVENT && pkt->type != SIO_BINARY_ACK)
        assert_int_equal(pkt->attachments, 0);
    assert_true(pkt->attachments <= SIO_MAX_ATTACHMENTS);
    assert_true(!pkt->has_ack || pkt->ack_id <= SIO_MAX_ACK_ID);
    assert_int_equal(pkt->data_kind, jscan_token_kind(pkt->data));

    sioc_buf_t b = {0};
    assert_int_equal(sio_packet_write(&b, pkt->type, pkt->attachments, pkt->nsp, pkt->has_ack,
                                      pkt->ack_id, pkt->data),
                     0);
    sio_packet_t again;
    const char *reason = NULL;
    char *c = exact(b.base, b.len);
    int r = sio_packet_parse(c, b.len, &again, &reason);
    if (r != (int)b.len)
        fail_msg("re-parse of '%.*s' failed: %s", (int)b.len, b.base, reason);
    assert_int_equal(again.type, pkt->type);
    assert_int_equal(again.attachments, pkt->attachments);
    assert_true(iov_eq(again.nsp, pkt->nsp));
    assert_int_equal(again.has_ack, pkt->has_ack);
    assert_true(again.ack_id == pkt->ack_id);
    assert_true(iov_eq(again.data, pkt->data));
    assert_int_equal(again.data_kind, pkt->data_kind);
    assert_true(iov_eq(again.event, pkt->event));
    assert_int_equal(again.event_kind, pkt->event_kind);
    assert_true(iov_eq(again.args, pkt->args));
    free(c);
    buf_free(&b);
}

static int parse(const char *s, size_t n, sio_packet_t *pkt, const char **reason)
{
    char *c = exact(s, n);
    int r = sio_packet_parse(c, n, pkt, reason);
    if (r > 0) {
        assert_int_equal(r, (int)n);
        check_accepted(c, n, pkt);
        /* Re-base the slices onto the caller's bytes (nsp "/" may be static). */
        sioc_iov_t *sl[] = {&pkt->data, &pkt->event, &pkt->args, &pkt->nsp};
        for (size_t i = 0; i < 4; i++)
            if (sl[i]->len && sl[i]->base >= c && sl[i]->base < c + n)
                sl[i]->base = s + (sl[i]->base - c);
    } else {
        assert_int_equal(r, SIOC_EPROTO);
    }
    free(c);
    return r;
}

typedef struct {
    const char *wire; /* the SIO text (after the EIO "4") */
    int type;
    unsigned attachments;
    const char *nsp;
    int has_ack;
    unsigned long long ack_id;
    const char *data;
    const char *event; /* token, or NULL */
    const char *args;  /* or NULL when not applicable */
} vec_t;

/* PROTOCOL.md §2.2-§2.6, §3 and the client frames of §4.2. */
static const vec_t vectors[] = {
    {"0", SIO_CONNECT, 0, "/", 0, 0, "", NULL, NULL},
    {"0{\"token\":\"123\"}", SIO_CONNECT, 0, "/", 0, 0, "{\"token\":\"123\"}", NULL, NULL},
    {"0/admin,{\"token\":\"x\"}", SIO_CONNECT, 0, "/admin", 0, 0, "{\"token\":\"x\"}", NULL, NULL},
    {"0/custom", SIO_CONNECT, 0, "/custom", 0, 0, "", NULL, NULL},
    {"0/custom,", SIO_CONNECT, 0, "/custom", 0, 0, "", NULL, NULL},
    {"0/custom,{\"token\":\"abc\"}", SIO_CONNECT, 0, "/custom", 0, 0, "{\"token\":\"abc\"}", NULL,
     NULL},
    {"0/random", SIO_CONNECT, 0, "/random", 0, 0, "", NULL, NULL},
    {"0/admin,", SIO_CONNECT, 0, "/admin", 0, 0, "", NULL, NULL},
    {"0{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}", SIO_CONNECT, 0, "/", 0, 0,
     "{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}", NULL, NULL},
    {"0{\"sid\":\"GNpWD7LbGCBNCr8GAAAB\",\"pid\":\"YHcX2sdAF1z452-HAAAW\"}", SIO_CONNECT, 0, "/", 0,
     0, "{\"sid\":\"GNpWD7LbGCBNCr8GAAAB\",\"pid\":\"YHcX2sdAF1z452-HAAAW\"}", NULL, NULL},
    {"0{\"pid\":\"YHcX2sdAF1z452-HAAAW\",\"offset\":\"MzUPkW0\",\"token\":\"x\"}", SIO_CONNECT, 0,
     "/", 0, 0, "{\"pid\":\"YHcX2sdAF1z452-HAAAW\",\"offset\":\"MzUPkW0\",\"token\":\"x\"}", NULL,
     NULL},
    {"0/admin,{\"sid\":\"Y\"}", SIO_CONNECT, 0, "/admin", 0, 0, "{\"sid\":\"Y\"}", NULL, NULL},
    {"1", SIO_DISCONNECT, 0, "/", 0, 0, "", NULL, NULL},
    {"1/custom", SIO_DISCONNECT, 0, "/custom", 0, 0, "", NULL, NULL},
    {"1/admin,", SIO_DISCONNECT, 0, "/admin", 0, 0, "", NULL, NULL},
    {"2[\"foo\"]", SIO_EVENT, 0, "/", 0, 0, "[\"foo\"]", "\"foo\"", ""},
    {"212[\"foo\"]", SIO_EVENT, 0, "/", 1, 12, "[\"foo\"]", "\"foo\"", ""},
    {"2[\"hey\",\"Jude\"]", SIO_EVENT, 0, "/", 0, 0, "[\"hey\",\"Jude\"]", "\"hey\"", "\"Jude\""},
    {"2[\"hello\"]", SIO_EVENT, 0, "/", 0, 0, "[\"hello\"]", "\"hello\"", ""},
    {"2/admin,[\"event\"]", SIO_EVENT, 0, "/admin", 0, 0, "[\"event\"]", "\"event\"", ""},
    {"217[\"event\",1]", SIO_EVENT, 0, "/", 1, 17, "[\"event\",1]", "\"event\"", "1"},
    {"2/admin,1[\"tellme\"]", SIO_EVENT, 0, "/admin", 1, 1, "[\"tellme\"]", "\"tellme\"", ""},
    {"2[\"foo\",\"MzUPkW0\"]", SIO_EVENT, 0, "/", 0, 0, "[\"foo\",\"MzUPkW0\"]", "\"foo\"",
     "\"MzUPkW0\""},
    {"2[\"auth\",{}]", SIO_EVENT, 0, "/", 0, 0, "[\"auth\",{}]", "\"auth\"", "{}"},
    {"2/custom,[\"auth\",{}]", SIO_EVENT, 0, "/custom", 0, 0, "[\"auth\",{}]", "\"auth\"", "{}"},
    {"2[\"message\",\"message to main namespace\"]", SIO_EVENT, 0, "/", 0, 0,
     "[\"message\",\"message to main namespace\"]", "\"message\"", "\"message to main namespace\""},
    {"2[\"message\",1,\"2\",{\"3\":[true]}]", SIO_EVENT, 0, "/", 0, 0,
     "[\"message\",1,\"2\",{\"3\":[true]}]", "\"message\"", "1,\"2\",{\"3\":[true]}"},
    {"2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]", SIO_EVENT, 0, "/", 1, 456,
     "[\"message-with-ack\",1,\"2\",{\"3\":[false]}]", "\"message-with-ack\"",
     "1,\"2\",{\"3\":[false]}"},
    {"2[42,\"x\"]", SIO_EVENT, 0, "/", 0, 0, "[42,\"x\"]", "42", "\"x\""},
    {"2[-1.5e3]", SIO_EVENT, 0, "/", 0, 0, "[-1.5e3]", "-1.5e3", ""},
    {"2[\"connection\"]", SIO_EVENT, 0, "/", 0, 0, "[\"connection\"]", "\"connection\"", ""},
    {"2[ \"a\" , 1 , 2 ]\n", SIO_EVENT, 0, "/", 0, 0, "[ \"a\" , 1 , 2 ]", "\"a\"", "1 , 2"},
    {"2[\"a\",{\"_placeholder\":true,\"num\":5}]", SIO_EVENT, 0, "/", 0, 0,
     "[\"a\",{\"_placeholder\":true,\"num\":5}]", "\"a\"", "{\"_placeholder\":true,\"num\":5}"},
    {"2007[\"a\"]", SIO_EVENT, 0, "/", 1, 7, "[\"a\"]", "\"a\"", ""},
    {"29007199254740991[\"a\"]", SIO_EVENT, 0, "/", 1, 9007199254740991ULL, "[\"a\"]", "\"a\"", ""},
    {"20[\"a\"]", SIO_EVENT, 0, "/", 1, 0, "[\"a\"]", "\"a\"", ""},
    {"2/,[\"a\"]", SIO_EVENT, 0, "/", 0, 0, "[\"a\"]", "\"a\"", ""},
    {"2/a/b c,[\"a\"]", SIO_EVENT, 0, "/a/b c", 0, 0, "[\"a\"]", "\"a\"", ""},
    {"313[\"bar\"]", SIO_ACK, 0, "/", 1, 13, "[\"bar\"]", NULL, "\"bar\""},
    {"3/admin,13[\"bar\"]", SIO_ACK, 0, "/admin", 1, 13, "[\"bar\"]", NULL, "\"bar\""},
    {"317[]", SIO_ACK, 0, "/", 1, 17, "[]", NULL, ""},
    {"3456[1,\"2\",{\"3\":[false]}]", SIO_ACK, 0, "/", 1, 456, "[1,\"2\",{\"3\":[false]}]", NULL,
     "1,\"2\",{\"3\":[false]}"},
    {"4{\"message\":\"Invalid namespace\"}", SIO_CONNECT_ERROR, 0, "/", 0, 0,
     "{\"message\":\"Invalid namespace\"}", NULL, NULL},
    {"4/random,{\"message\":\"Invalid namespace\"}", SIO_CONNECT_ERROR, 0, "/random", 0, 0,
     "{\"message\":\"Invalid namespace\"}", NULL, NULL},
    {"4\"not authorized\"", SIO_CONNECT_ERROR, 0, "/", 0, 0, "\"not authorized\"", NULL, NULL},
    {"51-[\"baz\"," PH(0) "]", SIO_BINARY_EVENT, 1, "/", 0, 0, "[\"baz\"," PH(0) "]", "\"baz\"",
     PH(0)},
    {"52-[\"message\"," PH(0) "," PH(1) "]", SIO_BINARY_EVENT, 2, "/", 0, 0,
     "[\"message\"," PH(0) "," PH(1) "]", "\"message\"", PH(0) "," PH(1)},
    {"52-789[\"message-with-ack\"," PH(0) "," PH(1) "]", SIO_BINARY_EVENT, 2, "/", 1, 789,
     "[\"message-with-ack\"," PH(0) "," PH(1) "]", "\"message-with-ack\"", PH(0) "," PH(1)},
    {"51-/admin,12[\"ev\"," PH(0) "]", SIO_BINARY_EVENT, 1, "/admin", 1, 12, "[\"ev\"," PH(0) "]",
     "\"ev\"", PH(0)},
    {"50-[\"a\"]", SIO_BINARY_EVENT, 0, "/", 0, 0, "[\"a\"]", "\"a\"", ""},
    {"502-[\"a\"," PH(1) "]", SIO_BINARY_EVENT, 2, "/", 0, 0, "[\"a\"," PH(1) "]", "\"a\"", PH(1)},
    {"510-[\"a\"," PH(9) "]", SIO_BINARY_EVENT, 10, "/", 0, 0, "[\"a\"," PH(9) "]", "\"a\"", PH(9)},
    {"51-[\"a\",{\"num\":0,\"_placeholder\":true}]", SIO_BINARY_EVENT, 1, "/", 0, 0,
     "[\"a\",{\"num\":0,\"_placeholder\":true}]", "\"a\"", "{\"num\":0,\"_placeholder\":true}"},
    {"61-17[" PH(0) "]", SIO_BINARY_ACK, 1, "/", 1, 17, "[" PH(0) "]", NULL, PH(0)},
    {"61-/admin,1[" PH(0) "]", SIO_BINARY_ACK, 1, "/admin", 1, 1, "[" PH(0) "]", NULL, PH(0)},
    {"62-789[" PH(0) "," PH(1) "]", SIO_BINARY_ACK, 2, "/", 1, 789, "[" PH(0) "," PH(1) "]", NULL,
     PH(0) "," PH(1)},
};

static void expect_vector(const vec_t *v)
{
    sio_packet_t pkt;
    const char *reason = NULL;
    size_t n = strlen(v->wire);
    if (parse(v->wire, n, &pkt, &reason) != (int)n)
        fail_msg("'%s' rejected: %s", v->wire, reason);
    assert_int_equal(pkt.type, v->type);
    assert_int_equal(pkt.attachments, v->attachments);
    assert_true(iov_eq_str(pkt.nsp, v->nsp));
    assert_int_equal(pkt.has_ack, v->has_ack);
    assert_true(pkt.ack_id == v->ack_id);
    if (!iov_eq_str(pkt.data, v->data))
        fail_msg("'%s': data '%.*s'", v->wire, (int)pkt.data.len, pkt.data.base);
    if (v->data[0]) {
        assert_ptr_equal(pkt.data.base, strstr(v->wire, v->data));
        assert_int_equal(pkt.data_kind, jscan_token_kind(pkt.data));
    } else {
        assert_int_equal(pkt.data_kind, 0);
    }
    if (v->event) {
        assert_true(iov_eq_str(pkt.event, v->event));
        assert_int_equal(pkt.event_kind, v->event[0] == '"' ? JSCAN_STRING : JSCAN_NUMBER);
    } else {
        assert_int_equal(pkt.event.len, 0);
        assert_int_equal(pkt.event_kind, 0);
    }
    if (v->args && !iov_eq_str(pkt.args, v->args))
        fail_msg("'%s': args '%.*s'", v->wire, (int)pkt.args.len, pkt.args.base);
}

static void test_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
        expect_vector(&vectors[i]);
}

static void test_vectors_every_prefix(void **state)
{
    (void)state;
    /* parse() checks the invariants and the round trip of every accepted prefix. */
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        size_t n = strlen(vectors[i].wire);
        for (size_t k = 0; k < n; k++) {
            sio_packet_t pkt;
            (void)parse(vectors[i].wire, k, &pkt, NULL);
        }
    }
}

/* PROTOCOL.md §2.2 malformed forms, and what this codec adds (sio_packet.h). */
static const char *const malformed[] = {
    "",
    "7",
    "8[\"a\"]",
    "a",
    "abc",
    " 2[\"a\"]",
    "-",
    "/",
    "2{}",
    "2abc[\"message-with-ack\",1]",
    "2abc",
    "2",
    "2/admin,",
    "2/admin",
    "2/admin[\"a\"]",
    "2[]",
    "2[ ]",
    "2[{}]",
    "2[[\"a\"]]",
    "2[true]",
    "2[false]",
    "2[null]",
    "2[{\"a\":1}]",
    "2\"a\"",
    "21",
    "2 [\"a\"]",
    "2[\"a\"]x",
    "2[\"a\",]",
    "2[\"a\"",
    "2[\"a\"]]",
    "2[\"a\\x\"]",
    "2[\"\xff\"]",
    "2[\"a\"] [\"b\"]",
    "2[\"connect\"]",
    "2[\"connect_error\"]",
    "2[\"disconnect\"]",
    "2[\"disconnecting\"]",
    "2[\"newListener\"]",
    "2[\"removeListener\"]",
    "2[\"\\u0063onnect\"]",
    "2[\"disconnect\\u0069ng\"]",
    "29007199254740992[\"a\"]",
    "299999999999999999999[\"a\"]",
    "2/admin,abc[\"a\"]",
    "2/admin,1 [\"a\"]",
    "3",
    "3[1]",
    "3/admin,[1]",
    "31",
    "31{}",
    "31\"a\"",
    "31 []",
    "0[]",
    "0\"s\"",
    "01",
    "012{}",
    "0/admin,1",
    "0/admin,{",
    "0{\"a\":}",
    "0null",
    "0 {}",
    "1{}",
    "1/admin,{}",
    "11",
    "1/admin,[]",
    "4",
    "4[]",
    "41\"x\"",
    "41{}",
    "4/admin,",
    "4null",
    "41",
    "5[\"a\"]",
    "5-[\"a\"]",
    "5x-[\"a\"]",
    "51[\"a\"]",
    "51",
    "51-",
    "511-[\"a\"]",
    "599999999999999999999-[\"a\"]",
    "5 1-[\"a\"]",
    "51 -[\"a\"]",
    "5+1-[\"a\"]",
    "5-1-[\"a\"]",
    "51-[\"a\"," PH(1) "]",
    "51-[\"a\",{\"_placeholder\":true}]",
    "51-[\"a\",{\"_placeholder\":true,\"num\":0,\"x\":1}]",
    "51-[\"a\",{\"_placeholder\":true,\"num\":-1}]",
    "51-[\"a\",{\"_placeholder\":true,\"num\":0.0}]",
    "51-[\"a\",{\"_placeholder\":true,\"num\":\"0\"}]",
    "50-[\"a\"," PH(0) "]",
    "51-[\"a\",[[" PH(3) "]]]",
    "6[" PH(0) "]",
    "61-[" PH(0) "]",
    "61-1{}",
    "61-1[" PH(1) "]",
    "51-[" PH(0) "]",
};

static void test_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        size_t n = strlen(malformed[i]);
        sio_packet_t pkt;
        const char *reason = NULL;
        int r = parse(malformed[i], n, &pkt, &reason);
        if (r != SIOC_EPROTO)
            fail_msg("malformed[%zu] '%s' accepted", i, malformed[i]);
        assert_non_null(reason);
    }
    /* Embedded NULs, with explicit lengths. */
    static const struct {
        const char *s;
        size_t n;
    } nul[] = {{"5\x00-[\"a\"]", 8},
               {"2[\"a\"]\x00", 7},
               {"2\x00[\"a\"]", 7},
               {"2[\"a\x00\"]", 7},
               {"\x00", 1}};
    for (size_t i = 0; i < sizeof(nul) / sizeof(nul[0]); i++) {
        sio_packet_t pkt;
        assert_int_equal(parse(nul[i].s, nul[i].n, &pkt, NULL), SIOC_EPROTO);
    }
    /* Nesting beyond the scanner's limit. */
    char deep[2 * JSCAN_MAX_DEPTH + 16];
    size_t n = (size_t)sprintf(deep, "2[\"a\",");
    memset(deep + n, '[', JSCAN_MAX_DEPTH);
    memset(deep + n + JSCAN_MAX_DEPTH, ']', JSCAN_MAX_DEPTH + 1);
    sio_packet_t pkt;
    assert_int_equal(parse(deep, n + 2 * JSCAN_MAX_DEPTH + 1, &pkt, NULL), SIOC_EPROTO);
    assert_int_equal(parse(deep, n + 2 * JSCAN_MAX_DEPTH - 1, &pkt, NULL), SIOC_EPROTO);
    /* One level less fits. */
    n = (size_t)sprintf(deep, "2[\"a\",");
    memset(deep + n, '[', JSCAN_MAX_DEPTH - 1);
    memset(deep + n + JSCAN_MAX_DEPTH - 1, ']', JSCAN_MAX_DEPTH);
    assert_int_equal(parse(deep, n + 2 * JSCAN_MAX_DEPTH - 1, &pkt, NULL),
                     (int)(n + 2 * JSCAN_MAX_DEPTH - 1));
}

static void test_limits(void **state)
{
    (void)state;
    sio_packet_t pkt;
    const char *reason;
    sio_packet_limits_t two = {2};
    assert_int_equal(sio_packet_parse_ex("52-[\"a\"]", 8, &two, &pkt, &reason), 8);
    assert_int_equal(sio_packet_parse_ex("53-[\"a\"]", 8, &two, &pkt, &reason), SIOC_EPROTO);
    assert_string_equal(reason, "too many attachments");
    sio_packet_limits_t none = {0};
    assert_int_equal(sio_packet_parse_ex("50-[\"a\"]", 8, &none, &pkt, &reason), 8);
    assert_int_equal(sio_packet_parse_ex("51-[\"a\"]", 8, &none, &pkt, &reason), SIOC_EPROTO);
    sio_packet_limits_t many = {1000};
    const char *big = "5999-[\"a\"]";
    assert_int_equal(sio_packet_parse_ex(big, strlen(big), &many, &pkt, &reason), (int)strlen(big));
    assert_int_equal(pkt.attachments, 999);
    assert_int_equal(sio_packet_parse(big, strlen(big), &pkt, &reason), SIOC_EPROTO);
    /* Default: 10 is fine, 11 is not. */
    assert_int_equal(sio_packet_parse("510-[\"a\"]", 9, &pkt, NULL), 9);
    assert_int_equal(sio_packet_parse("511-[\"a\"]", 9, &pkt, NULL), SIOC_EPROTO);
}

/* The chain a worker runs: EIO text frame -> EIO message -> SIO packet. */
static int frame_to_sio(const char *frame, sio_packet_t *pkt, const char **reason)
{
    eio_packet_t e;
    int r = eio_packet_decode(frame, strlen(frame), &e, reason);
    if (r < 0)
        return r;
    assert_int_equal(e.type, EIO_MESSAGE);
    return sio_packet_parse(e.data.base, e.data.len, pkt, reason);
}

static void expect_bytes(const sioc_buf_t *b, const char *want)
{
    if (b->len != strlen(want) || (b->len && memcmp(b->base, want, b->len) != 0))
        fail_msg("got '%.*s', want '%s'", (int)b->len, b->base, want);
}

/* Builds `4` + EVENT header + `["<name>",` + args + `]`, as the reference server emits. */
static void emit_event(sioc_buf_t *b, sioc_iov_t nsp, const char *name, sioc_iov_t args)
{
    assert_int_equal(buf_append_byte(b, '4'), 0);
    assert_int_equal(sio_packet_write_header(b, SIO_EVENT, 0, nsp, 0, 0), 0);
    assert_int_equal(buf_append_str(b, "[\""), 0);
    assert_int_equal(buf_append_str(b, name), 0);
    assert_int_equal(buf_append_byte(b, '"'), 0);
    if (args.len) {
        assert_int_equal(buf_append_byte(b, ','), 0);
        assert_int_equal(buf_append(b, args.base, args.len), 0);
    }
    assert_int_equal(buf_append_byte(b, ']'), 0);
}

static void test_suite_connect(void **state)
{
    (void)state;
    /* §4.2 connect: the reference server answers CONNECT then emits "auth" with the payload. */
    static const struct {
        const char *frame, *connect, *auth;
    } cases[] = {
        {"40", "40{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}", "42[\"auth\",{}]"},
        {"40{\"token\":\"123\"}", "40{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}",
         "42[\"auth\",{\"token\":\"123\"}]"},
        {"40/custom,", "40/custom,{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}", "42/custom,[\"auth\",{}]"},
        {"40/custom", "40/custom,{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}", "42/custom,[\"auth\",{}]"},
        {"40/custom,{\"token\":\"abc\"}", "40/custom,{\"sid\":\"wZX3oN0bSVIhsaknAAAI\"}",
         "42/custom,[\"auth\",{\"token\":\"abc\"}]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sio_packet_t pkt;
        sioc_buf_t b = {0};
        assert_true(frame_to_sio(cases[i].frame, &pkt, NULL) > 0);
        assert_int_equal(pkt.type, SIO_CONNECT);
        assert_int_equal(buf_append_byte(&b, '4'), 0);
        assert_int_equal(sio_packet_write_connect(&b, pkt.nsp, "wZX3oN0bSVIhsaknAAAI", NULL), 0);
        expect_bytes(&b, cases[i].connect);
        buf_reset(&b);
        emit_event(&b, pkt.nsp, "auth", pkt.data.len ? pkt.data : SIOC_LIT("{}"));
        expect_bytes(&b, cases[i].auth);
        buf_free(&b);
    }

    /* `40/random` (no comma) -> exactly `44/random,{"message":"Invalid namespace"}`. */
    sio_packet_t pkt;
    sioc_buf_t b = {0};
    assert_true(frame_to_sio("40/random", &pkt, NULL) > 0);
    assert_true(iov_eq_str(pkt.nsp, "/random"));
    assert_int_equal(buf_append_byte(&b, '4'), 0);
    assert_int_equal(
        sio_packet_write_connect_error(&b, pkt.nsp, "Invalid namespace", SIOC_IOV_NULL), 0);
    expect_bytes(&b, "44/random,{\"message\":\"Invalid namespace\"}");
    buf_free(&b);

    /* `4abc` -> close (SIO type 'a'). */
    const char *reason = NULL;
    assert_int_equal(frame_to_sio("4abc", &pkt, &reason), SIOC_EPROTO);
    assert_string_equal(reason, "unknown packet type");
}

static void test_suite_disconnect(void **state)
{
    (void)state;
    sio_packet_t pkt;
    assert_true(frame_to_sio("41", &pkt, NULL) > 0);
    assert_int_equal(pkt.type, SIO_DISCONNECT);
    assert_true(iov_eq_str(pkt.nsp, "/"));
    assert_true(frame_to_sio("41/custom", &pkt, NULL) > 0);
    assert_int_equal(pkt.type, SIO_DISCONNECT);
    assert_true(iov_eq_str(pkt.nsp, "/custom"));
    /* Server-sent disconnects (§2.5). */
    sioc_buf_t b = {0};
    assert_int_equal(sio_packet_write_disconnect(&b, SIOC_LIT("/")), 0);
    expect_bytes(&b, "1");
    buf_reset(&b);
    assert_int_equal(sio_packet_write_disconnect(&b, SIOC_LIT("/admin")), 0);
    expect_bytes(&b, "1/admin,");
    buf_free(&b);
}

static void test_suite_messages(void **state)
{
    (void)state;
    sio_packet_t pkt;
    sioc_buf_t b = {0};

    /* "message" -> "message-back" with the same arguments. */
    static const struct {
        const char *in, *out;
    } echo[] = {
        {"42[\"message\",\"message to main namespace\"]",
         "42[\"message-back\",\"message to main namespace\"]"},
        {"42[\"message\",1,\"2\",{\"3\":[true]}]", "42[\"message-back\",1,\"2\",{\"3\":[true]}]"},
    };
    for (size_t i = 0; i < 2; i++) {
        assert_true(frame_to_sio(echo[i].in, &pkt, NULL) > 0);
        assert_true(jscan_string_eq(pkt.event, "message"));
        buf_reset(&b);
        emit_event(&b, pkt.nsp, "message-back", pkt.args);
        expect_bytes(&b, echo[i].out);
    }

    /* "message-with-ack" -> ACK with the same id and arguments. */
    assert_true(frame_to_sio("42456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]", &pkt, NULL) >
                0);
    assert_true(jscan_string_eq(pkt.event, "message-with-ack"));
    buf_reset(&b);
    assert_int_equal(buf_append_byte(&b, '4'), 0);
    assert_int_equal(sio_packet_write_header(&b, SIO_ACK, 0, pkt.nsp, 1, pkt.ack_id), 0);
    assert_int_equal(buf_append_byte(&b, '['), 0);
    assert_int_equal(buf_append(&b, pkt.args.base, pkt.args.len), 0);
    assert_int_equal(buf_append_byte(&b, ']'), 0);
    expect_bytes(&b, "43456[1,\"2\",{\"3\":[false]}]");

    /* Binary echo: the new data's placeholders are renumbered from 0 in order. */
    assert_true(frame_to_sio("452-[\"message\"," PH(0) "," PH(1) "]", &pkt, NULL) > 0);
    assert_int_equal(pkt.type, SIO_BINARY_EVENT);
    assert_int_equal(pkt.attachments, 2);
    sioc_buf_t data = {0};
    assert_int_equal(buf_append_str(&data, "[\"message-back\","), 0);
    assert_int_equal(buf_append(&data, pkt.args.base, pkt.args.len), 0);
    assert_int_equal(buf_append_byte(&data, ']'), 0);
    unsigned map[SIO_MAX_ATTACHMENTS], order[SIO_MAX_ATTACHMENTS];
    int n = sio_binary_renumber(iov_make(data.base, data.len), pkt.attachments, map, order, NULL);
    assert_int_equal(n, 2);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 1);
    buf_reset(&b);
    assert_int_equal(buf_append_byte(&b, '4'), 0);
    assert_int_equal(sio_packet_write_header(&b, SIO_BINARY_EVENT, (unsigned)n, pkt.nsp, 0, 0), 0);
    assert_int_equal(sio_binary_rewrite(&b, iov_make(data.base, data.len), map, 2, NULL), 0);
    expect_bytes(&b, "452-[\"message-back\"," PH(0) "," PH(1) "]");

    /* Binary ack. */
    assert_true(frame_to_sio("452-789[\"message-with-ack\"," PH(0) "," PH(1) "]", &pkt, NULL) > 0);
    buf_reset(&b);
    assert_int_equal(buf_append_byte(&b, '4'), 0);
    assert_int_equal(sio_packet_write_header(&b, SIO_BINARY_ACK, 2, pkt.nsp, 1, pkt.ack_id), 0);
    assert_int_equal(buf_append_byte(&b, '['), 0);
    assert_int_equal(buf_append(&b, pkt.args.base, pkt.args.len), 0);
    assert_int_equal(buf_append_byte(&b, ']'), 0);
    expect_bytes(&b, "462-789[" PH(0) "," PH(1) "]");

    /* The three "invalid format" closes. */
    const char *reason = NULL;
    assert_int_equal(frame_to_sio("4abc", &pkt, &reason), SIOC_EPROTO);
    assert_int_equal(frame_to_sio("42{}", &pkt, &reason), SIOC_EPROTO);
    assert_string_equal(reason, "event payload is not an array");
    assert_int_equal(
        frame_to_sio("42abc[\"message-with-ack\",1,\"2\",{\"3\":[false]}]", &pkt, &reason),
        SIOC_EPROTO);
    assert_string_equal(reason, "invalid JSON payload");

    buf_free(&data);
    buf_free(&b);
}

static void test_write_header(void **state)
{
    (void)state;
    static const struct {
        int type;
        unsigned att;
        const char *nsp;
        int has_ack;
        unsigned long long id;
        const char *want;
    } cases[] = {
        {SIO_BINARY_EVENT, 1, "/admin", 1, 12, "51-/admin,12"},
        {SIO_EVENT, 0, "/", 0, 0, "2"},
        {SIO_EVENT, 0, "", 0, 0, "2"},
        {SIO_EVENT, 0, "/", 1, 17, "217"},
        {SIO_ACK, 0, "/admin", 1, 13, "3/admin,13"},
        {SIO_CONNECT, 0, "/admin", 0, 0, "0/admin,"},
        {SIO_DISCONNECT, 0, "/admin", 0, 0, "1/admin,"},
        {SIO_BINARY_ACK, 1, "/", 1, 17, "61-17"},
        {SIO_BINARY_EVENT, 0, "/", 0, 0, "50-"},
        {SIO_EVENT, 0, "/", 1, SIO_MAX_ACK_ID, "29007199254740991"},
        {SIO_CONNECT_ERROR, 7, "/x", 0, 0, "4/x,"}, /* attachments only for 5/6 */
    };
    sioc_buf_t b = {0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_reset(&b);
        assert_int_equal(sio_packet_write_header(&b, cases[i].type, cases[i].att,
                                                 iov_make(cases[i].nsp, strlen(cases[i].nsp)),
                                                 cases[i].has_ack, cases[i].id),
                         0);
        expect_bytes(&b, cases[i].want);
    }
    buf_reset(&b);
    assert_int_equal(buf_append_str(&b, "keep"), 0);
    assert_int_equal(sio_packet_write_header(&b, 7, 0, SIOC_LIT("/"), 0, 0), SIOC_EINVAL);
    assert_int_equal(sio_packet_write_header(&b, -1, 0, SIOC_LIT("/"), 0, 0), SIOC_EINVAL);
    assert_int_equal(sio_packet_write_header(&b, 2, 0, SIOC_LIT("admin"), 0, 0), SIOC_EINVAL);
    assert_int_equal(sio_packet_write_header(&b, 2, 0, SIOC_LIT("/a,b"), 0, 0), SIOC_EINVAL);
    assert_int_equal(sio_packet_write_header(&b, 2, 0, SIOC_LIT("/"), 1, SIO_MAX_ACK_ID + 1),
                     SIOC_EINVAL);
    expect_bytes(&b, "keep");
    buf_free(&b);

    sioc_buf_t small = {.limit = 6};
    assert_int_equal(sio_packet_write(&small, 2, 0, SIOC_LIT("/"), 0, 0, SIOC_LIT("[\"abcdef\"]")),
                     SIOC_EMSGSIZE);
    assert_int_equal(small.len, 0);
    buf_free(&small);
}

static void test_write_connect_and_errors(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    assert_int_equal(
        sio_packet_write_connect(&b, SIOC_LIT("/"), "GNpWD7LbGCBNCr8GAAAB", "YHcX2sdAF1z452-HAAAW"),
        0);
    expect_bytes(&b, "0{\"sid\":\"GNpWD7LbGCBNCr8GAAAB\",\"pid\":\"YHcX2sdAF1z452-HAAAW\"}");
    buf_reset(&b);
    assert_int_equal(sio_packet_write_connect(&b, SIOC_LIT("/admin"), "Y", NULL), 0);
    expect_bytes(&b, "0/admin,{\"sid\":\"Y\"}");
    buf_reset(&b);
    assert_int_equal(sio_packet_write_connect_error(&b, SIOC_LIT("/admin"), "not authorized",
                                                    SIOC_LIT("{\"content\":\"retry\"}")),
                     0);
    expect_bytes(&b, "4/admin,{\"message\":\"not authorized\",\"data\":{\"content\":\"retry\"}}");
    buf_reset(&b);
    assert_int_equal(
        sio_packet_write_connect_error(&b, SIOC_LIT("/"), "a\"b\\c\nd\x01", SIOC_IOV_NULL), 0);
    expect_bytes(&b, "4{\"message\":\"a\\\"b\\\\c\\nd\\u0001\"}");
    /* Whatever the writers produce parses back. */
    sio_packet_t pkt;
    assert_int_equal(sio_packet_parse(b.base, b.len, &pkt, NULL), (int)b.len);
    assert_int_equal(pkt.type, SIO_CONNECT_ERROR);
    /* Bad namespace: nothing written. */
    buf_reset(&b);
    assert_int_equal(sio_packet_write_connect(&b, SIOC_LIT("x"), "Y", NULL), SIOC_EINVAL);
    assert_int_equal(sio_packet_write_connect_error(&b, SIOC_LIT("/a,"), "m", SIOC_IOV_NULL),
                     SIOC_EINVAL);
    assert_int_equal(sio_packet_write_disconnect(&b, SIOC_LIT("x")), SIOC_EINVAL);
    assert_int_equal(b.len, 0);
    buf_free(&b);
    /* A limit that cuts the packet leaves the buffer unchanged. */
    b.limit = 12;
    assert_int_equal(sio_packet_write_connect(&b, SIOC_LIT("/"), "wZX3oN0bSVIhsaknAAAI", NULL),
                     SIOC_EMSGSIZE);
    assert_int_equal(
        sio_packet_write_connect_error(&b, SIOC_LIT("/"), "Invalid namespace", SIOC_IOV_NULL),
        SIOC_EMSGSIZE);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void test_reserved_names(void **state)
{
    (void)state;
    assert_true(sio_packet_reserved_event(SIOC_LIT("connect")));
    assert_true(sio_packet_reserved_event(SIOC_LIT("removeListener")));
    assert_false(sio_packet_reserved_event(SIOC_LIT("connection")));
    assert_false(sio_packet_reserved_event(SIOC_LIT("Connect")));
    assert_false(sio_packet_reserved_event(SIOC_LIT("")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_vectors_every_prefix),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_suite_connect),
        cmocka_unit_test(test_suite_disconnect),
        cmocka_unit_test(test_suite_messages),
        cmocka_unit_test(test_write_header),
        cmocka_unit_test(test_write_connect_and_errors),
        cmocka_unit_test(test_reserved_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
