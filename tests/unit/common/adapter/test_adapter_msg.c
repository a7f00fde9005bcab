/*
 * Unit tests for common/adapter/adapter_msg: golden vectors produced by the
 * real npm packages (tests/vectors/adapter/vectors.tsv, see gen.mjs), the
 * PROTOCOL.md §5.1 example, number formatting, limits and malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter_msg.h"
#include "adapter/js_value.h"
#include "adapter/mp_json.h"
#include "sio/sio_json.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/hex.h"

#define ATT_MAX 64

/* ---------------------------------------------------------------- helpers */

/* Decodes hex [s, s+n) into a malloc'd buffer; returns its length. */
static size_t unhex(const char *s, size_t n, char **out)
{
    char *b = malloc(n / 2 + 1);
    assert_non_null(b);
    for (size_t i = 0; i + 1 < n; i += 2)
        b[i / 2] = (char)(hex_val((unsigned char)s[i]) << 4 | hex_val((unsigned char)s[i + 1]));
    *out = b;
    return n / 2;
}

static void put(sioc_buf_t *b, const char *s)
{
    assert_int_equal(buf_append_str(b, s), 0);
}

static void put_n(sioc_buf_t *b, const char *s, size_t n)
{
    assert_int_equal(buf_append(b, s, n), 0);
}

static void put_str(sioc_buf_t *b, sioc_iov_t s)
{
    assert_int_equal(sio_json_append_iov(b, s), 0);
}

static void put_num(sioc_buf_t *b, double d)
{
    char tmp[40];
    put_n(b, tmp, js_value_number(d, tmp));
}

static void put_list(sioc_buf_t *b, const sioc_iov_t *v, size_t n)
{
    put(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(b, ",");
        put_str(b, v[i]);
    }
    put(b, "]");
}

static void put_hex(sioc_buf_t *b, sioc_iov_t s)
{
    static const char h[] = "0123456789abcdef";
    for (size_t i = 0; i < s.len; i++) {
        char two[2] = {h[(unsigned char)s.base[i] >> 4], h[(unsigned char)s.base[i] & 15]};
        put_n(b, two, 2);
    }
}

static void put_att(sioc_buf_t *b, const adapter_msg_att_t *att)
{
    put(b, ",\"att\":[");
    for (size_t i = 0; i < att->n; i++) {
        put(b, i ? ",\"" : "\"");
        put_hex(b, att->v[i]);
        put(b, "\"");
    }
    put(b, "]}");
}

static void put_flags(sioc_buf_t *b, const adapter_msg_flags_t *f)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"volatile", ADAPTER_MSG_F_VOLATILE},
                 {"compress", ADAPTER_MSG_F_COMPRESS},
                 {"local", ADAPTER_MSG_F_LOCAL},
                 {"broadcast", ADAPTER_MSG_F_BROADCAST},
                 {"binary", ADAPTER_MSG_F_BINARY},
                 {"timeout", ADAPTER_MSG_F_TIMEOUT},
                 {"expectSingleResponse", ADAPTER_MSG_F_EXPECT_SINGLE}};
    int first = 1;
    put(b, "{");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(f->present & names[i].bit))
            continue;
        put(b, first ? "\"" : ",\"");
        put(b, names[i].name);
        put(b, "\":");
        if (names[i].bit == ADAPTER_MSG_F_TIMEOUT)
            put_num(b, f->timeout);
        else
            put(b, (f->value & names[i].bit) ? "true" : "false");
        first = 0;
    }
    put(b, "}");
}

static void put_opts(sioc_buf_t *b, const adapter_msg_opts_t *o)
{
    put(b, "{\"rooms\":");
    put_list(b, o->rooms, o->nrooms);
    put(b, ",\"except\":");
    put_list(b, o->except, o->nexcept);
    put(b, ",\"flags\":");
    put_flags(b, &o->flags);
    put(b, "}");
}

static void put_packet(sioc_buf_t *b, const adapter_msg_packet_t *p)
{
    put(b, "{\"type\":");
    put_num(b, p->type);
    if (p->nsp.base) {
        put(b, ",\"nsp\":");
        put_str(b, p->nsp);
    }
    if (p->has_id) {
        put(b, ",\"id\":");
        put_num(b, (double)p->id);
    }
    if (p->data.json.base) {
        put(b, ",\"data\":");
        put_n(b, p->data.json.base, p->data.json.len);
    }
    put(b, "}");
}

/* ---------------------------------------------------------------- descriptions (gen.mjs desc*) */

static void desc_broadcast(sioc_buf_t *b, const adapter_msg_broadcast_t *m,
                           const adapter_msg_att_t *a)
{
    put(b, "{\"uid\":");
    put_str(b, m->uid);
    put(b, ",\"packet\":");
    put_packet(b, &m->packet);
    put(b, ",\"opts\":");
    put_opts(b, &m->opts);
    put_att(b, a);
}

static void desc_request(sioc_buf_t *b, const adapter_msg_request_t *r, const adapter_msg_att_t *a)
{
    put(b, "{\"type\":");
    put_num(b, r->type);
    if (r->uid.base) {
        put(b, ",\"uid\":");
        put_str(b, r->uid);
    }
    if (r->request_id.base) {
        put(b, ",\"requestId\":");
        put_str(b, r->request_id);
    }
    if (r->has_opts) {
        put(b, ",\"opts\":");
        put_opts(b, &r->opts);
    }
    if (r->rooms) {
        put(b, ",\"rooms\":");
        put_list(b, r->rooms, r->nrooms);
    }
    if (r->has_close)
        put(b, r->close ? ",\"close\":true" : ",\"close\":false");
    if (r->sid.base) {
        put(b, ",\"sid\":");
        put_str(b, r->sid);
    }
    if (r->room.base) {
        put(b, ",\"room\":");
        put_str(b, r->room);
    }
    if (r->data.json.base) {
        put(b, ",\"data\":");
        put_n(b, r->data.json.base, r->data.json.len);
    }
    if (r->type == ADAPTER_MSG_REQ_BROADCAST) {
        put(b, ",\"packet\":");
        put_packet(b, &r->packet);
    }
    put_att(b, a);
}

static void desc_response(sioc_buf_t *b, const adapter_msg_response_t *r,
                          const adapter_msg_att_t *a)
{
    put(b, "{\"kind\":");
    put_num(b, r->kind);
    put(b, ",\"requestId\":");
    put_str(b, r->request_id);
    if (r->sockets.json.base) {
        put(b, ",\"sockets\":");
        put_n(b, r->sockets.json.base, r->sockets.json.len);
    }
    if (r->rooms) {
        put(b, ",\"rooms\":");
        put_list(b, r->rooms, r->nrooms);
    }
    if (r->data.json.base) {
        put(b, ",\"data\":");
        put_n(b, r->data.json.base, r->data.json.len);
    }
    if (r->kind == ADAPTER_MSG_RESP_CLIENT_COUNT) {
        put(b, ",\"clientCount\":");
        put_num(b, (double)r->client_count);
    }
    put_att(b, a);
}

static void desc_shard(sioc_buf_t *b, const adapter_msg_shard_t *m, const adapter_msg_att_t *a)
{
    int t = m->type;
    put(b, "{\"type\":");
    put_num(b, t);
    put(b, ",\"uid\":");
    put_str(b, m->uid);
    put(b, ",\"nsp\":");
    put_str(b, m->nsp);
    if (m->request_id.base) {
        put(b, ",\"requestId\":");
        put_str(b, m->request_id);
    }
    if (t == ADAPTER_MSG_SHARD_BROADCAST) {
        put(b, ",\"packet\":");
        put_packet(b, &m->packet);
    }
    if (t >= 3 && t <= 7) {
        put(b, ",\"opts\":");
        put_opts(b, &m->opts);
    }
    if (t == 4 || t == 5) {
        put(b, ",\"rooms\":");
        put_list(b, m->rooms, m->nrooms);
    }
    if (t == 6)
        put(b, m->close ? ",\"close\":true" : ",\"close\":false");
    if (m->value.json.base) {
        put(b, ",\"value\":");
        put_n(b, m->value.json.base, m->value.json.len);
    }
    if (t == 11) {
        put(b, ",\"clientCount\":");
        put_num(b, (double)m->client_count);
    }
    put_att(b, a);
}

/* ---------------------------------------------------------------- vector runner */

typedef struct {
    const char *f[6];
    size_t n[6];
    int nf;
} line_t;

static void split(char *s, size_t len, line_t *l)
{
    l->nf = 0;
    char *p = s, *end = s + len;
    while (l->nf < 6) {
        char *t = memchr(p, '\t', (size_t)(end - p));
        l->f[l->nf] = p;
        l->n[l->nf] = t ? (size_t)(t - p) : (size_t)(end - p);
        l->nf++;
        if (!t)
            break;
        p = t + 1;
    }
}

static void expect_eq(const char *what, const char *name, const char *got, size_t gl,
                      const char *exp, size_t el)
{
    if (gl == el && memcmp(got, exp, el) == 0)
        return;
    print_error("%s %s:\n  got  %.*s\n  want %.*s\n", what, name, (int)(gl > 600 ? 600 : gl), got,
                (int)(el > 600 ? 600 : el), exp);
    fail();
}

static void expect_hex(const char *what, const char *name, const sioc_buf_t *b, const char *hex,
                       size_t hl)
{
    sioc_buf_t h = {0};
    put_hex(&h, iov_make(b->base, b->len));
    expect_eq(what, name, h.base ? h.base : "", h.len, hex, hl);
    buf_free(&h);
}

/* Every strict prefix of a complete message is malformed, never accepted. */
static int (*prefix_decoder)(adapter_msg_ctx_t *, const char *, size_t, sioc_buf_t *,
                             adapter_msg_att_t *, void *);

static int dec_broadcast(adapter_msg_ctx_t *c, const char *m, size_t n, sioc_buf_t *j,
                         adapter_msg_att_t *a, void *o)
{
    return adapter_msg_broadcast_decode(c, m, n, j, a, o);
}
static int dec_request(adapter_msg_ctx_t *c, const char *m, size_t n, sioc_buf_t *j,
                       adapter_msg_att_t *a, void *o)
{
    return adapter_msg_request_decode(c, m, n, j, a, o);
}
static int dec_response(adapter_msg_ctx_t *c, const char *m, size_t n, sioc_buf_t *j,
                        adapter_msg_att_t *a, void *o)
{
    return adapter_msg_response_decode(c, m, n, j, a, o);
}
static int dec_shard(adapter_msg_ctx_t *c, const char *m, size_t n, sioc_buf_t *j,
                     adapter_msg_att_t *a, void *o)
{
    return adapter_msg_shard_decode(c, m, n, j, a, o);
}

static void check_prefixes(adapter_msg_ctx_t *ctx, const char *msg, size_t len, const char *name)
{
    union {
        adapter_msg_broadcast_t b;
        adapter_msg_request_t r;
        adapter_msg_response_t s;
        adapter_msg_shard_t h;
    } u;
    sioc_iov_t av[ATT_MAX];
    if (len > 2048)
        return;
    for (size_t n = 0; n < len; n++) {
        char *copy = malloc(n + 1); /* exact-size copy: ASan sees any over-read */
        memcpy(copy, msg, n);
        sioc_buf_t j = {0};
        adapter_msg_att_t a = {av, ATT_MAX, 0};
        int r = prefix_decoder(ctx, copy, n, &j, &a, &u);
        if (r >= 0)
            print_error("prefix %zu of %s accepted\n", n, name);
        assert_true(r < 0);
        buf_free(&j);
        free(copy);
    }
}

static int run_line(adapter_msg_ctx_t *ctx, char *s, size_t len)
{
    line_t l;
    char name[128];
    split(s, len, &l);
    if (l.nf < 5)
        return 0;
    snprintf(name, sizeof(name), "%.*s", (int)l.n[1], l.f[1]);
    const char *kind = l.f[0];
    size_t kl = l.n[0];
    char *msg;
    size_t mlen = unhex(l.f[2], l.n[2], &msg);
    sioc_buf_t json = {0}, desc = {0}, enc = {0};
    sioc_iov_t av[ATT_MAX];
    adapter_msg_att_t att = {av, ATT_MAX, 0};
    int r, encmode = l.nf > 4 ? l.f[4][0] - '0' : 0;

    if (kl == 5 && memcmp(kind, "value", 5) == 0) {
        r = mp_json_to_json(ctx, msg, mlen, &json, &att);
        if (r != (int)mlen)
            print_error("%s: %d %s\n", name, r, ctx->reason ? ctx->reason : "");
        assert_int_equal(r, (int)mlen);
        expect_eq("mp->json", name, json.base, json.len, l.f[3], l.n[3]);
        sioc_buf_t ah = {0};
        for (size_t i = 0; i < att.n; i++) {
            if (i)
                put(&ah, ",");
            put_hex(&ah, att.v[i]);
        }
        if (att.n == 0)
            put(&ah, "-");
        expect_eq("attachments", name, ah.base, ah.len, l.f[4], l.n[4]);
        buf_free(&ah);
        adapter_msg_value_t v = {iov_make(json.base, json.len), att.v, att.n, att.n > 0};
        r = mp_json_to_mp(ctx, &v, &enc);
        if (r < 0)
            print_error("%s: %d %s\n", name, r, ctx->reason ? ctx->reason : "");
        assert_int_equal(r, (int)json.len);
        expect_hex("json->mp", name, &enc, l.f[5], l.n[5]);
    } else if (kl == 4 && memcmp(kind, "json", 4) == 0) {
        /* msg = JSON text; f[3] = msgpack hex; f[4] = JSON after the round trip */
        adapter_msg_value_t v = {iov_make(msg, mlen), NULL, 0, 0};
        r = mp_json_to_mp(ctx, &v, &enc);
        if (r < 0)
            print_error("%s: %d %s\n", name, r, ctx->reason ? ctx->reason : "");
        assert_int_equal(r, (int)mlen);
        expect_hex("json->mp", name, &enc, l.f[3], l.n[3]);
        r = mp_json_to_json(ctx, enc.base, enc.len, &json, &att);
        assert_int_equal(r, (int)enc.len);
        expect_eq("mp->json", name, json.base, json.len, l.f[4], l.n[4]);
    } else if (kl == 9 && memcmp(kind, "broadcast", 9) == 0) {
        adapter_msg_broadcast_t m;
        r = adapter_msg_broadcast_decode(ctx, msg, mlen, &json, &att, &m);
        if (r < 0)
            print_error("%s: %d %s\n", name, r, ctx->reason ? ctx->reason : "");
        assert_int_equal(r, (int)mlen);
        desc_broadcast(&desc, &m, &att);
        expect_eq("desc", name, desc.base, desc.len, l.f[3], l.n[3]);
        if (encmode) {
            assert_int_equal(adapter_msg_broadcast_encode(ctx, &m, encmode == 2, &enc), 0);
            expect_hex("encode", name, &enc, l.f[2], l.n[2]);
        }
        prefix_decoder = dec_broadcast;
        check_prefixes(ctx, msg, mlen, name);
    } else if (kl == 7 && memcmp(kind, "request", 7) == 0) {
        adapter_msg_request_t m;
        r = adapter_msg_request_decode(ctx, msg, mlen, &json, &att, &m);
        if (r < 0)
            print_error("%s: %d %s\n", name, r, ctx->reason ? ctx->reason : "");
        assert_int_equal(r, (int)mlen);
        desc_request(&desc, &m, &att);
        expect_eq("desc", name, desc.base, desc.len, l.f[3], l.n[3]);
        if (encmode) {
            r = adapter_msg_request_encode(ctx, &m, &enc);
            if (r < 0)
                print_error("%s: %d %s\n", name, r, ctx->reason ? ctx->reason : "");
            assert_int_equal(r, 0);
            expect_hex("encode", name, &enc, l.f[2], l.n[2]);
        }
        prefix_decoder = dec_request;
        check_prefixes(ctx, msg, mlen, name);
    } else if (kl == 8 && memcmp(kind, "response", 8) == 0) {
        adapter_msg_response_t m;
        r = adapter_msg_response_decode(ctx, msg, mlen, &json, &att, &m);
        if (r < 0)
            print_error("%s: %d %s\n", name, r, ctx->reason ? ctx->reason : "");
        assert_int_equal(r, (int)mlen);
        desc_response(&desc, &m, &att);
        expect_eq("desc", name, desc.base, desc.len, l.f[3], l.n[3]);
        if (encmode) {
            assert_int_equal(adapter_msg_response_encode(ctx, &m, &enc), 0);
            expect_hex("encode", name, &enc, l.f[2], l.n[2]);
        }
        prefix_decoder = dec_response;
        check_prefixes(ctx, msg, mlen, name);
    } else if (kl == 5 && memcmp(kind, "shard", 5) == 0) {
        adapter_msg_shard_t m;
        r = adapter_msg_shard_decode(ctx, msg, mlen, &json, &att, &m);
        if (r < 0)
            print_error("%s: %d %s\n", name, r, ctx->reason ? ctx->reason : "");
        assert_int_equal(r, (int)mlen);
        desc_shard(&desc, &m, &att);
        expect_eq("desc", name, desc.base, desc.len, l.f[3], l.n[3]);
        if (encmode) {
            r = adapter_msg_shard_encode(ctx, &m, &enc);
            if (r < 0)
                print_error("%s: %d %s\n", name, r, ctx->reason ? ctx->reason : "");
            assert_int_equal(r, 0);
            expect_hex("encode", name, &enc, l.f[2], l.n[2]);
        }
        prefix_decoder = dec_shard;
        check_prefixes(ctx, msg, mlen, name);
    } else {
        fail_msg("unknown vector kind in %s", name);
    }
    buf_free(&json);
    buf_free(&desc);
    buf_free(&enc);
    free(msg);
    return 1;
}

static char *read_file(const char *rel, size_t *len)
{
    const char *root = getenv("SIOC_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", root ? root : "tests", rel);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

static void test_golden_vectors(void **state)
{
    (void)state;
    size_t len;
    char *all = read_file("vectors/adapter/vectors.tsv", &len);
    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, NULL);
    int count = 0;
    for (char *p = all, *end = all + len; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        count += run_line(&ctx, p, ll);
        p += ll + 1;
    }
    assert_true(count >= 100);
    adapter_msg_ctx_free(&ctx);
    free(all);
}

/* PROTOCOL.md §5.1: emitter emit("hi","there") to all. */
static void test_spec_example(void **state)
{
    (void)state;
    size_t hl;
    char *hex = read_file("vectors/adapter/spec_emit_hi_there.hex", &hl);
    while (hl && (hex[hl - 1] == '\n' || hex[hl - 1] == '\r'))
        hl--;
    char *msg;
    size_t n = unhex(hex, hl, &msg);
    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, NULL);
    sioc_buf_t json = {0}, enc = {0};
    adapter_msg_broadcast_t m;
    assert_int_equal(adapter_msg_broadcast_decode(&ctx, msg, n, &json, NULL, &m), (int)n);
    assert_true(iov_eq_str(m.uid, "emitter"));
    assert_int_equal(m.packet.type, 2);
    assert_true(iov_eq_str(m.packet.nsp, "/"));
    assert_true(iov_eq_str(m.packet.data.json, "[\"hi\",\"there\"]"));
    assert_int_equal(m.opts.nrooms, 0);
    assert_int_equal(m.opts.nexcept, 0);
    assert_int_equal(m.opts.flags.present, 0);
    assert_int_equal(adapter_msg_broadcast_encode(&ctx, &m, 1, &enc), 0);
    assert_int_equal(enc.len, n);
    assert_memory_equal(enc.base, msg, n);
    /* built from scratch the way a worker would */
    buf_reset(&enc);
    adapter_msg_broadcast_t in = {.uid = SIOC_LIT("emitter")};
    in.packet.type = 2;
    in.packet.nsp = SIOC_LIT("/");
    in.packet.data.json = SIOC_LIT("[\"hi\", \"there\"]");
    assert_int_equal(adapter_msg_broadcast_encode(&ctx, &in, 1, &enc), 0);
    assert_int_equal(enc.len, n);
    assert_memory_equal(enc.base, msg, n);
    buf_free(&json);
    buf_free(&enc);
    adapter_msg_ctx_free(&ctx);
    free(msg);
    free(hex);
}

static void test_json_str(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    assert_int_equal(sio_json_append_iov(&b, iov_make("a\"\\\b\f\n\r\t\x01\x7f\xe2\x80\xa8", 13)),
                     0);
    assert_int_equal(b.len, strlen("\"a\\\"\\\\\\b\\f\\n\\r\\t\\u0001\x7f\xe2\x80\xa8\""));
    assert_memory_equal(b.base, "\"a\\\"\\\\\\b\\f\\n\\r\\t\\u0001\x7f\xe2\x80\xa8\"", b.len);
    buf_reset(&b);
    /* ill-formed UTF-8: maximal subparts each become U+FFFD */
    assert_int_equal(sio_json_append_iov(&b, iov_make("\xff\xe2\x82x\xf0\x9f", 6)), 0);
    assert_memory_equal(b.base, "\"\xef\xbf\xbd\xef\xbf\xbdx\xef\xbf\xbd\"", b.len);
    buf_free(&b);
}

static void test_channels(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    static const struct {
        int kind;
        const char *key, *nsp, *extra, *want;
    } cases[] = {
        {ADAPTER_MSG_CH_MAIN, "", "/", "", "socket.io#/#"},
        {ADAPTER_MSG_CH_ROOM, "", "/admin", "room1", "socket.io#/admin#room1#"},
        {ADAPTER_MSG_CH_PATTERN, "", "/", "", "socket.io#/#*"},
        {ADAPTER_MSG_CH_REQUEST, "", "/", "", "socket.io-request#/#"},
        {ADAPTER_MSG_CH_RESPONSE, "", "/", "", "socket.io-response#/#"},
        {ADAPTER_MSG_CH_RESPONSE_UID, "", "/", "aBc123", "socket.io-response#/#aBc123#"},
        {ADAPTER_MSG_CH_REQUEST, "myapp", "/chat", "", "myapp-request#/chat#"},
        {ADAPTER_MSG_CH_ROOM, "sharded", "/", "0011223344556677", "sharded#/#0011223344556677#"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        buf_reset(&b);
        assert_int_equal(adapter_msg_channel(&b, iov_make(cases[i].key, strlen(cases[i].key)),
                                             cases[i].kind,
                                             iov_make(cases[i].nsp, strlen(cases[i].nsp)),
                                             iov_make(cases[i].extra, strlen(cases[i].extra))),
                         0);
        assert_int_equal(b.len, strlen(cases[i].want));
        assert_memory_equal(b.base, cases[i].want, b.len);
    }
    assert_int_equal(adapter_msg_channel(&b, SIOC_LIT(""), 99, SIOC_LIT("/"), SIOC_LIT("")),
                     SIOC_EINVAL);
    sioc_iov_t room = SIOC_IOV_NULL;
    assert_int_equal(
        adapter_msg_channel_room(SIOC_LIT("socket.io#/#"), SIOC_LIT(""), SIOC_LIT("/"), &room), 0);
    assert_int_equal(
        adapter_msg_channel_room(SIOC_LIT("socket.io#/#a#b#"), SIOC_LIT(""), SIOC_LIT("/"), &room),
        1);
    assert_true(iov_eq_str(room, "a#b"));
    assert_int_equal(adapter_msg_channel_room(SIOC_LIT("socket.io#/admin#x#"), SIOC_LIT(""),
                                              SIOC_LIT("/"), &room),
                     -1);
    assert_int_equal(
        adapter_msg_channel_room(SIOC_LIT("other#/#"), SIOC_LIT(""), SIOC_LIT("/"), &room), -1);
    buf_free(&b);
}

/* Malformed or oversized input: SIOC_EPROTO with a reason, nothing accepted. */
static void test_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *hex;
        const char *why;
    } bad[] = {
        {"93a161", "truncated uid"},
        {"c1", "reserved byte"},
        {"92a16180", "only two elements"},
        {"93a16181a474797065078081a5726f6f6d7390", "packet type out of range"},
        {"93a16180"
         "80",
         "packet without type"},
        {"93a16182a47479706502a46461746191c10080", "0xc1 inside data"},
        {"93a16182a47479706502a46461746181010280", "integer map key"},
        {"93a16182a47479706502a464617461dd7fffffff80", "array count beyond the message"},
        {"93a16182a47479706502a464617461df7fffffff80", "map count beyond the message"},
        {"93a16182a47479706502a46461746190a5726f6f6d73", "opts missing"},
        {"93a16182a47479706502a4646174619081a5726f6f6d7391c0", "room is nil"},
        {"93a16182a47479706502a464617461908000", "trailing byte"},
    };
    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *msg;
        size_t n = unhex(bad[i].hex, strlen(bad[i].hex), &msg);
        sioc_buf_t json = {0};
        sioc_iov_t av[4];
        adapter_msg_att_t att = {av, 4, 0};
        adapter_msg_broadcast_t m;
        int r = adapter_msg_broadcast_decode(&ctx, msg, n, &json, &att, &m);
        if (r != SIOC_EPROTO)
            print_error("%s: %d\n", bad[i].why, r);
        assert_int_equal(r, SIOC_EPROTO);
        assert_non_null(ctx.reason);
        buf_free(&json);
        free(msg);
    }
    static const char *bad_json[] = {
        "[01]",      "[+1]",       "[.5]",       "[1.]",      "[1e]",        "[NaN]",
        "[\"a\"",    "[\"\x01\"]", "[\"\xff\"]", "[\"\\x\"]", "[\"\\u12\"]", "[1,]",
        "{\"a\" 1}", "{a:1}",      "[1] x",      "",          "tru",         "[\"\xed\xa0\x80\"]",
    };
    for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
        sioc_buf_t mp = {0};
        adapter_msg_value_t v = {iov_make(bad_json[i], strlen(bad_json[i])), NULL, 0, 0};
        int r = mp_json_to_mp(&ctx, &v, &mp);
        if (r != SIOC_EPROTO)
            print_error("json %s: %d\n", bad_json[i], r);
        assert_int_equal(r, SIOC_EPROTO);
        buf_free(&mp);
    }
    adapter_msg_ctx_free(&ctx);
}

static void test_limits(void **state)
{
    (void)state;
    adapter_msg_limits_t lim = {
        .max_size = 1 << 16, .max_out = 256, .max_depth = 4, .max_elems = 8, .max_list = 2};
    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, &lim);
    sioc_buf_t out = {0};
    sioc_iov_t av[1];
    adapter_msg_att_t att = {av, 1, 0};
    /* depth */
    assert_int_equal(mp_json_to_json(&ctx, "\x91\x91\x91\x91\x91\x01", 6, &out, &att), SIOC_EPROTO);
    buf_reset(&out);
    assert_int_equal(mp_json_to_json(&ctx, "\x91\x91\x91\x91\x01", 5, &out, &att), 5);
    buf_reset(&out);
    adapter_msg_value_t deep = {SIOC_LIT("[[[[[1]]]]]"), NULL, 0, 0};
    assert_int_equal(mp_json_to_mp(&ctx, &deep, &out), SIOC_EPROTO);
    buf_reset(&out);
    /* entries per container */
    assert_int_equal(mp_json_to_json(&ctx, "\x99\1\1\1\1\1\1\1\1\1", 10, &out, &att), SIOC_EPROTO);
    buf_reset(&out);
    /* attachments beyond the caller's array */
    assert_int_equal(mp_json_to_json(&ctx, "\x92\xc4\x01x\xc4\x01y", 7, &out, &att), SIOC_EPROTO);
    buf_reset(&out);
    /* output cap */
    char big[300];
    big[0] = (char)0xd9;
    big[1] = (char)250;
    memset(big + 2, 'a', 250);
    assert_int_equal(mp_json_to_json(&ctx, big, 252, &out, &att), 252);
    buf_reset(&out);
    memset(big + 2, 1, 250); /* control characters expand six-fold */
    assert_int_equal(mp_json_to_json(&ctx, big, 252, &out, &att), SIOC_EMSGSIZE);
    assert_int_equal(out.limit, 0); /* the caller's limit is restored */
    buf_reset(&out);
    /* room list length */
    const char *three = "\x93\xa1u\x82\xa4type\x02\xa4"
                        "data\x90\x81\xa5rooms\x93\xa1"
                        "a\xa1"
                        "b\xa1"
                        "c";
    adapter_msg_broadcast_t m;
    assert_int_equal(adapter_msg_broadcast_decode(&ctx, three, strlen(three), &out, &att, &m),
                     SIOC_EPROTO);
    buf_free(&out);
    adapter_msg_ctx_free(&ctx);
    /* a huge array header allocates nothing before failing */
    adapter_msg_ctx_init(&ctx, NULL);
    assert_int_equal(mp_json_to_json(&ctx, "\xdd\xff\xff\xff\xff\x01", 6, &out, NULL), SIOC_EPROTO);
    assert_null(out.base);
    adapter_msg_ctx_free(&ctx);
}

static void test_placeholders(void **state)
{
    (void)state;
    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, NULL);
    sioc_buf_t mp = {0};
    sioc_iov_t att[2] = {SIOC_LIT("\x01\x02"), SIOC_LIT("z")};
    /* live: key order and extra keys do not matter, the last duplicate wins */
    adapter_msg_value_t v = {SIOC_LIT("[{\"num\":1,\"_placeholder\":true},{\"_placeholder\":false,"
                                      "\"num\":0,\"_placeholder\":true,\"x\":[]}]"),
                             att, 2, 1};
    assert_true(mp_json_to_mp(&ctx, &v, &mp) > 0);
    assert_int_equal(mp.len, 1 + 3 + 4);
    assert_memory_equal(mp.base, "\x92\xc4\x01z\xc4\x02\x01\x02", mp.len);
    /* not binary: a plain object */
    buf_reset(&mp);
    v.binary = 0;
    v.json = SIOC_LIT("[{\"_placeholder\":true,\"num\":0}]");
    assert_true(mp_json_to_mp(&ctx, &v, &mp) > 0);
    assert_int_equal((unsigned char)mp.base[1], 0x82);
    /* bad nums */
    static const char *bad[] = {
        "[{\"_placeholder\":true,\"num\":2}]", "[{\"_placeholder\":true,\"num\":-1}]",
        "[{\"_placeholder\":true,\"num\":0.5}]", "[{\"_placeholder\":true}]",
        "[{\"_placeholder\":true,\"num\":\"0\"}]"};
    v.binary = 1;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf_reset(&mp);
        v.json = iov_make(bad[i], strlen(bad[i]));
        assert_int_equal(mp_json_to_mp(&ctx, &v, &mp), SIOC_EPROTO);
    }
    buf_free(&mp);
    adapter_msg_ctx_free(&ctx);
}

static void test_encoders(void **state)
{
    (void)state;
    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, NULL);
    sioc_buf_t b = {0};
    sioc_iov_t rooms[2] = {SIOC_LIT("r1"), SIOC_LIT("r\"2")};
    adapter_msg_request_t rq = {.type = ADAPTER_MSG_REQ_ALL_ROOMS,
                                .uid = SIOC_LIT("abcdef"),
                                .request_id = SIOC_LIT("xyz")};
    assert_int_equal(adapter_msg_request_encode(&ctx, &rq, &b), 0);
    assert_true(iov_eq_str(iov_make(b.base, b.len),
                           "{\"uid\":\"abcdef\",\"requestId\":\"xyz\",\"type\":1}"));
    buf_reset(&b);
    adapter_msg_request_t join = {.type = ADAPTER_MSG_REQ_REMOTE_JOIN,
                                  .uid = SIOC_LIT("u"),
                                  .has_opts = 1,
                                  .rooms = rooms,
                                  .nrooms = 2};
    join.opts.except = rooms;
    join.opts.nexcept = 1;
    assert_int_equal(adapter_msg_request_encode(&ctx, &join, &b), 0);
    assert_true(iov_eq_str(iov_make(b.base, b.len),
                           "{\"uid\":\"u\",\"type\":2,\"opts\":{\"rooms\":[],\"except\":[\"r1\"]},"
                           "\"rooms\":[\"r1\",\"r\\\"2\"]}"));
    buf_reset(&b);
    adapter_msg_response_t resp = {
        .kind = ADAPTER_MSG_RESP_CLIENT_COUNT, .request_id = SIOC_LIT("q"), .client_count = 12};
    assert_int_equal(adapter_msg_response_encode(&ctx, &resp, &b), 0);
    assert_true(
        iov_eq_str(iov_make(b.base, b.len), "{\"type\":8,\"requestId\":\"q\",\"clientCount\":12}"));
    /* binary data cannot go into a JSON message; the buffer is left as it was */
    buf_reset(&b);
    sioc_iov_t a = SIOC_LIT("x");
    adapter_msg_request_t sse = {.type = ADAPTER_MSG_REQ_SERVER_SIDE_EMIT, .uid = SIOC_LIT("u")};
    sse.data =
        (adapter_msg_value_t){SIOC_LIT("[\"e\",{\"_placeholder\":true,\"num\":0}]"), &a, 1, 1};
    assert_int_equal(adapter_msg_request_encode(&ctx, &sse, &b), SIOC_EINVAL);
    assert_int_equal(b.len, 0);
    /* invalid JSON data is refused */
    sse.data = (adapter_msg_value_t){SIOC_LIT("[\"e\",]"), NULL, 0, 0};
    assert_int_equal(adapter_msg_request_encode(&ctx, &sse, &b), SIOC_EPROTO);
    assert_int_equal(b.len, 0);
    /* sharded: binary switches to msgpack */
    adapter_msg_shard_t sh = {
        .type = ADAPTER_MSG_SHARD_SERVER_SIDE_EMIT, .uid = SIOC_LIT("u"), .nsp = SIOC_LIT("/")};
    sh.value =
        (adapter_msg_value_t){SIOC_LIT("[\"e\",{\"_placeholder\":true,\"num\":0}]"), &a, 1, 1};
    assert_int_equal(adapter_msg_shard_encode(&ctx, &sh, &b), 0);
    assert_int_equal((unsigned char)b.base[0], 0x84);
    buf_free(&b);
    adapter_msg_ctx_free(&ctx);
}

/* Lists as long as Node peers send them: 5,000 rooms, numbers among them, and
 * ALL_ROOMS answers listing every socket id; storage follows the message. */
/* msgpack room names that are not UTF-8 are read as Node reads them (Buffer.toString): each
 * ill-formed part becomes U+FFFD, so they name the same rooms and re-encode unchanged. */
static void test_room_not_utf8(void **state)
{
    (void)state;
    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, NULL);
    sioc_buf_t out = {0};
    sioc_iov_t av[1];
    adapter_msg_att_t att = {av, 1, 0};
    /* [uid, {type, data: []}, {rooms: ["\x82", "ok\xc3", "\xe2\x82\xac"]}] */
    static const char msg[] = "\x93\xa1u\x82\xa4type\x02\xa4"
                              "data\x90\x81\xa5rooms\x93\xa1\x82\xa3ok\xc3\xa3\xe2\x82\xac";
    adapter_msg_broadcast_t m;
    assert_int_equal(adapter_msg_broadcast_decode(&ctx, msg, sizeof(msg) - 1, &out, &att, &m),
                     (int)sizeof(msg) - 1);
    assert_int_equal(m.opts.nrooms, 3);
    assert_true(iov_eq_str(m.opts.rooms[0], "\xef\xbf\xbd"));
    assert_true(iov_eq_str(m.opts.rooms[1], "ok\xef\xbf\xbd"));
    assert_true(iov_eq_str(m.opts.rooms[2], "\xe2\x82\xac")); /* valid: the message's own bytes */
    assert_ptr_equal(m.opts.rooms[2].base, msg + sizeof(msg) - 4);
    buf_free(&out);
    adapter_msg_ctx_free(&ctx);
}

static void test_long_lists(void **state)
{
    (void)state;
    enum { N = 5000 };
    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, NULL);
    sioc_buf_t msg = {0}, out = {0};
    sioc_iov_t av[1];
    adapter_msg_att_t att = {av, 1, 0};
    /* msgpack broadcast: [uid, {type, data}, {rooms: ["r0", 1, "r2", 3, ...]}] */
    assert_int_equal(buf_append(&msg,
                                "\x93\xa1u\x82\xa4type\x02\xa4"
                                "data\x90\x81\xa5rooms\xdc\x13\x88",
                                26),
                     0);
    for (int i = 0; i < N; i++) {
        char tmp[16];
        if (i % 2) {
            tmp[0] = (char)0xcd; /* uint16 */
            tmp[1] = (char)(i >> 8);
            tmp[2] = (char)(i & 0xff);
            assert_int_equal(buf_append(&msg, tmp, 3), 0);
        } else {
            int n = snprintf(tmp + 1, sizeof(tmp) - 1, "r%d", i);
            tmp[0] = (char)(0xa0 | n);
            assert_int_equal(buf_append(&msg, tmp, (size_t)n + 1), 0);
        }
    }
    adapter_msg_broadcast_t m;
    assert_int_equal(adapter_msg_broadcast_decode(&ctx, msg.base, msg.len, &out, &att, &m),
                     (int)msg.len);
    assert_int_equal(m.opts.nrooms, N);
    assert_true(iov_eq_str(m.opts.rooms[0], "r0"));
    assert_true(iov_eq_str(m.opts.rooms[1], "1"));
    assert_true(iov_eq_str(m.opts.rooms[N - 1], "4999"));
    assert_true(iov_eq_str(m.opts.rooms[N - 2], "r4998"));
    /* JSON ALL_ROOMS answer with 20,000 entries */
    buf_reset(&msg);
    buf_reset(&out);
    assert_int_equal(buf_append_str(&msg, "{\"type\":6,\"requestId\":\"q1\",\"rooms\":["), 0);
    for (int i = 0; i < 4 * N; i++) {
        char tmp[32];
        int n = snprintf(tmp, sizeof(tmp), "%s\"socket-%05d\"", i ? "," : "", i);
        assert_int_equal(buf_append(&msg, tmp, (size_t)n), 0);
    }
    assert_int_equal(buf_append_str(&msg, "]}"), 0);
    adapter_msg_response_t r;
    assert_int_equal(adapter_msg_response_decode(&ctx, msg.base, msg.len, &out, &att, &r),
                     (int)msg.len);
    assert_int_equal(r.nrooms, 4 * N);
    assert_true(iov_eq_str(r.rooms[4 * N - 1], "socket-19999"));
    /* an answer that fails after its requestId still names its request */
    const char *bad = "{\"type\":6,\"requestId\":\"q\\u0032\",\"rooms\":[{}]}";
    assert_int_equal(adapter_msg_response_decode(&ctx, bad, strlen(bad), &out, &att, &r),
                     SIOC_EPROTO);
    assert_true(iov_eq_str(r.request_id, "q2"));
    assert_int_equal(r.nrooms, 0);
    /* a count the message cannot hold is refused before anything is sized by it */
    const char *huge = "\x93\xa1u\x82\xa4type\x02\xa4"
                       "data\x91\xdf\x00\x0f\xff\xff\x80";
    assert_int_equal(adapter_msg_broadcast_decode(&ctx, huge, 22, &out, &att, &m), SIOC_EPROTO);
    assert_string_equal(ctx.reason, "msgpack count exceeds message");
    buf_free(&msg);
    buf_free(&out);
    adapter_msg_ctx_free(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_vectors), cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_json_str),       cmocka_unit_test(test_channels),
        cmocka_unit_test(test_rejects),        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_placeholders),   cmocka_unit_test(test_encoders),
        cmocka_unit_test(test_long_lists),     cmocka_unit_test(test_room_not_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
