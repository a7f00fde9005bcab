/*
 * fuzz_adapter_msg.c - libFuzzer target for common/adapter/adapter_msg.
 *
 * Feeds the input to every decoder (broadcast, request, response, sharded,
 * msgpack value -> JSON, JSON -> msgpack) and checks invariants, aborting on a
 * violation:
 *  - a decoder returns exactly the input length or a negative code, and
 *    SIOC_EPROTO always comes with a reason;
 *  - every decoded slice lies inside the input, the JSON output or the
 *    context's storage, and attachments lie inside the input;
 *  - an accepted broadcast re-encodes, and decoding that gives the same uid,
 *    packet type/nsp/id, rooms, except, flags, JSON and attachment bytes (JSON
 *    only after one more round when numbers beyond 2^64 wrap as in notepack,
 *    or when literal placeholder objects make the data ambiguous);
 *  - accepted requests and sharded messages re-encode (when the type is one a
 *    server sends and the data fits the format) and decode to the same type;
 *  - JSON produced by mp_to_json converts back to msgpack and reaches a
 *    fixpoint; msgpack produced by json_to_mp decodes completely.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter_msg.h"
#include "adapter/js_value.h"
#include "adapter/mp_json.h"
#include "base/buf.h"
#include "base/err.h"
#include "tests/fuzz/fuzz_check.h"

#define ATT_MAX 32

typedef struct {
    const char *lo[64];
    const char *hi[64];
    int n;
} ranges_t;

static int inside(const ranges_t *r, sioc_iov_t s)
{
    if (s.base == NULL || s.len == 0)
        return 1;
    for (int i = 0; i < r->n; i++)
        if (s.base >= r->lo[i] && s.base + s.len <= r->hi[i])
            return 1;
    return 0;
}

static void add_range(ranges_t *r, const char *base, size_t len)
{
    if (base == NULL)
        return;
    r->lo[r->n] = base;
    r->hi[r->n] = base + len;
    r->n++;
}

/* The decoder's storage: unescaped strings, the list being read, its stable blocks. */
static void add_ctx(ranges_t *r, const adapter_msg_ctx_t *ctx)
{
    add_range(r, ctx->_str.base, ctx->_str.len);
    add_range(r, ctx->_list.base, ctx->_list.len);
    char *const *b = (char *const *)(const void *)ctx->_blocks.base;
    size_t nb = ctx->_blocks.len / sizeof(char *);
    CHECK(r->n + nb <= 64);
    for (size_t i = 0; i < nb; i++) {
        size_t size;
        memcpy(&size, b[i], sizeof(size));
        add_range(r, b[i] + ADAPTER_MSG_BLOCK_HEAD, size);
    }
}

static void check_result(adapter_msg_ctx_t *ctx, int r, size_t len)
{
    CHECK(r == (int)len || r < 0);
    if (r == SIOC_EPROTO)
        CHECK(ctx->reason != NULL);
}

static void check_list(const ranges_t *rg, const sioc_iov_t *v, size_t n)
{
    CHECK(n == 0 || v != NULL);
    for (size_t i = 0; i < n; i++)
        CHECK(inside(rg, v[i]));
}

static void check_value(const ranges_t *rg, const adapter_msg_value_t *v, const char *msg,
                        size_t len)
{
    CHECK(inside(rg, v->json));
    for (size_t i = 0; i < v->natt; i++)
        CHECK(v->att[i].len == 0 ||
              (v->att[i].base >= msg && v->att[i].base + v->att[i].len <= msg + len));
}

static int list_eq(const sioc_iov_t *a, size_t na, const sioc_iov_t *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (!iov_eq(a[i], b[i]))
            return 0;
    return 1;
}

static size_t count_sub(sioc_iov_t s, const char *needle)
{
    size_t n = 0, k = strlen(needle);
    for (size_t i = 0; i + k <= s.len; i++)
        if (memcmp(s.base + i, needle, k) == 0)
            n++;
    return n;
}

/* Numbers that notepack wraps modulo 2^64 change on the first re-encode. */
static int wrap_prone(sioc_iov_t s)
{
    size_t run = 0;
    if (count_sub(s, "e+"))
        return 1;
    for (size_t i = 0; i < s.len; i++) {
        run = (s.base[i] >= '0' && s.base[i] <= '9') ? run + 1 : 0;
        /* 19 digits can already pass 2^63 (a negative integer below INT64_MIN wraps in
         * notepack's int64 encoding, and so does ours). */
        if (run >= 19)
            return 1;
    }
    return 0;
}

static void fuzz_broadcast(adapter_msg_ctx_t *ctx, const char *msg, size_t len)
{
    sioc_buf_t json = {0}, enc = {0}, json2 = {0}, enc2 = {0}, json3 = {0};
    sioc_iov_t av[ATT_MAX], av2[ATT_MAX], av3[ATT_MAX];
    adapter_msg_att_t att = {av, ATT_MAX, 0}, att2 = {av2, ATT_MAX, 0}, att3 = {av3, ATT_MAX, 0};
    adapter_msg_broadcast_t m, m2, m3;
    int r = adapter_msg_broadcast_decode(ctx, msg, len, &json, &att, &m);
    check_result(ctx, r, len);
    if (r < 0)
        goto out;
    ranges_t rg = {0};
    add_range(&rg, msg, len);
    add_range(&rg, json.base, json.len);
    add_ctx(&rg, ctx);
    CHECK(inside(&rg, m.uid) && (inside(&rg, m.packet.nsp) || iov_eq_str(m.packet.nsp, "/")));
    check_list(&rg, m.opts.rooms, m.opts.nrooms);
    check_list(&rg, m.opts.except, m.opts.nexcept);
    check_value(&rg, &m.packet.data, msg, len);
    if (m.packet.data.json.base == NULL)
        goto out; /* data absent: nothing to rebuild */

    int ambiguous = m.packet.data.natt > 0 &&
                    count_sub(m.packet.data.json, "\"_placeholder\"") != m.packet.data.natt;
    r = adapter_msg_broadcast_encode(ctx, &m, 0, &enc);
    if (r != 0) {
        CHECK(ambiguous); /* everything else that decodes must re-encode */
        goto out;
    }
    /* m's string slices may point into ctx storage that the next decode reuses: keep them */
    sioc_iov_t rooms[64], except[64], names[2] = {m.uid, m.packet.nsp};
    size_t nr = m.opts.nrooms < 64 ? m.opts.nrooms : 64,
           ne = m.opts.nexcept < 64 ? m.opts.nexcept : 64;
    if (nr)
        memcpy(rooms, m.opts.rooms, nr * sizeof(sioc_iov_t));
    if (ne)
        memcpy(except, m.opts.except, ne * sizeof(sioc_iov_t));
    /* copy strings that live in ctx storage (anything outside the message) */
    sioc_buf_t keep = {0};
    size_t total = 1 + names[0].len + names[1].len;
    for (size_t i = 0; i < nr; i++)
        total += rooms[i].len;
    for (size_t i = 0; i < ne; i++)
        total += except[i].len;
    CHECK(buf_reserve(&keep, total) == 0);
    for (size_t i = 0; i < nr + ne + 2; i++) {
        sioc_iov_t *v = i < nr ? &rooms[i] : i < nr + ne ? &except[i - nr] : &names[i - nr - ne];
        if (v->base != NULL && (v->base < msg || v->base >= msg + len)) {
            memcpy(keep.base + keep.len, v->base, v->len);
            v->base = keep.base + keep.len;
            keep.len += v->len;
        }
    }

    r = adapter_msg_broadcast_decode(ctx, enc.base, enc.len, &json2, &att2, &m2);
    CHECK(r == (int)enc.len);
    CHECK(iov_eq(names[0], m2.uid) && iov_eq(names[1], m2.packet.nsp));
    CHECK(m.packet.type == m2.packet.type && m.packet.has_id == m2.packet.has_id &&
          m.packet.id == m2.packet.id);
    CHECK(m.opts.flags.present == m2.opts.flags.present &&
          m.opts.flags.value == m2.opts.flags.value);
    if (m.opts.nrooms <= 64 && m.opts.nexcept <= 64) {
        CHECK(list_eq(rooms, nr, m2.opts.rooms, m2.opts.nrooms));
        CHECK(list_eq(except, ne, m2.opts.except, m2.opts.nexcept));
    }
    if (ambiguous)
        goto keep_out;
    CHECK(m2.packet.data.natt == m.packet.data.natt);
    for (size_t i = 0; i < m.packet.data.natt; i++)
        CHECK(iov_eq(m.packet.data.att[i], m2.packet.data.att[i]));
    if (!wrap_prone(m.packet.data.json)) {
        CHECK(iov_eq(m.packet.data.json, m2.packet.data.json));
    } else {
        /* one more round must be a fixpoint */
        CHECK(adapter_msg_broadcast_encode(ctx, &m2, 0, &enc2) == 0);
        CHECK(adapter_msg_broadcast_decode(ctx, enc2.base, enc2.len, &json3, &att3, &m3) ==
              (int)enc2.len);
        CHECK(iov_eq(m2.packet.data.json, m3.packet.data.json));
    }
keep_out:
    buf_free(&keep);
out:
    buf_free(&json);
    buf_free(&enc);
    buf_free(&json2);
    buf_free(&enc2);
    buf_free(&json3);
}

static void fuzz_request(adapter_msg_ctx_t *ctx, const char *msg, size_t len)
{
    sioc_buf_t json = {0}, enc = {0}, json2 = {0};
    sioc_iov_t av[ATT_MAX], av2[ATT_MAX];
    adapter_msg_att_t att = {av, ATT_MAX, 0}, att2 = {av2, ATT_MAX, 0};
    adapter_msg_request_t m, m2;
    int r = adapter_msg_request_decode(ctx, msg, len, &json, &att, &m);
    check_result(ctx, r, len);
    if (r >= 0) {
        ranges_t rg = {0};
        add_range(&rg, msg, len);
        add_range(&rg, json.base, json.len);
        add_ctx(&rg, ctx);
        CHECK(inside(&rg, m.uid) && inside(&rg, m.request_id) && inside(&rg, m.sid) &&
              inside(&rg, m.room));
        check_list(&rg, m.rooms, m.nrooms);
        check_list(&rg, m.opts.rooms, m.opts.nrooms);
        check_list(&rg, m.opts.except, m.opts.nexcept);
        check_value(&rg, &m.data, msg, len);
        check_value(&rg, &m.packet.data, msg, len);
        CHECK(m.type >= 0 && m.type <= 9);
        int encodable =
            m.type <= ADAPTER_MSG_REQ_BROADCAST &&
            !(m.type == ADAPTER_MSG_REQ_SERVER_SIDE_EMIT && (m.data.natt || !m.data.json.base)) &&
            !(m.type == ADAPTER_MSG_REQ_BROADCAST && !m.packet.data.json.base) &&
            !(m.type == ADAPTER_MSG_REQ_BROADCAST && m.packet.data.natt &&
              count_sub(m.packet.data.json, "\"_placeholder\"") != m.packet.data.natt) &&
            !((m.type == 2 || m.type == 3) && !m.has_opts && m.sid.base && !m.room.base);
        if (encodable && adapter_msg_request_encode(ctx, &m, &enc) == 0) {
            r = adapter_msg_request_decode(ctx, enc.base, enc.len, &json2, &att2, &m2);
            CHECK(r == (int)enc.len);
            CHECK(m2.type == m.type);
        }
    }
    buf_free(&json);
    buf_free(&enc);
    buf_free(&json2);
}

static void fuzz_response(adapter_msg_ctx_t *ctx, const char *msg, size_t len)
{
    sioc_buf_t json = {0}, enc = {0}, json2 = {0};
    sioc_iov_t av[ATT_MAX], av2[ATT_MAX];
    adapter_msg_att_t att = {av, ATT_MAX, 0}, att2 = {av2, ATT_MAX, 0};
    adapter_msg_response_t m, m2;
    int r = adapter_msg_response_decode(ctx, msg, len, &json, &att, &m);
    check_result(ctx, r, len);
    if (r >= 0) {
        ranges_t rg = {0};
        add_range(&rg, msg, len);
        add_range(&rg, json.base, json.len);
        add_ctx(&rg, ctx);
        CHECK(inside(&rg, m.request_id));
        check_list(&rg, m.rooms, m.nrooms);
        check_value(&rg, &m.sockets, msg, len);
        check_value(&rg, &m.data, msg, len);
        int encodable =
            !(m.kind == ADAPTER_MSG_RESP_SOCKETS && (m.sockets.natt || !m.sockets.json.base)) &&
            !(m.kind == ADAPTER_MSG_RESP_SERVER_EMIT && m.data.natt) &&
            !(m.kind == ADAPTER_MSG_RESP_BROADCAST_ACK && m.data.natt &&
              count_sub(m.data.json, "\"_placeholder\"") != m.data.natt);
        if (encodable) {
            r = adapter_msg_response_encode(ctx, &m, &enc);
            CHECK(r == 0);
            r = adapter_msg_response_decode(ctx, enc.base, enc.len, &json2, &att2, &m2);
            CHECK(r == (int)enc.len);
            CHECK(m2.kind == m.kind);
            CHECK(m.kind != ADAPTER_MSG_RESP_CLIENT_COUNT || m2.client_count == m.client_count);
        }
    }
    buf_free(&json);
    buf_free(&enc);
    buf_free(&json2);
}

static void fuzz_shard(adapter_msg_ctx_t *ctx, const char *msg, size_t len)
{
    sioc_buf_t json = {0}, enc = {0}, json2 = {0};
    sioc_iov_t av[ATT_MAX], av2[ATT_MAX];
    adapter_msg_att_t att = {av, ATT_MAX, 0}, att2 = {av2, ATT_MAX, 0};
    adapter_msg_shard_t m, m2;
    int r = adapter_msg_shard_decode(ctx, msg, len, &json, &att, &m);
    check_result(ctx, r, len);
    if (r >= 0) {
        ranges_t rg = {0};
        add_range(&rg, msg, len);
        add_range(&rg, json.base, json.len);
        add_ctx(&rg, ctx);
        CHECK(inside(&rg, m.uid) && inside(&rg, m.nsp) && inside(&rg, m.request_id));
        check_list(&rg, m.rooms, m.nrooms);
        check_list(&rg, m.opts.rooms, m.opts.nrooms);
        check_list(&rg, m.opts.except, m.opts.nexcept);
        check_value(&rg, &m.value, msg, len);
        check_value(&rg, &m.packet.data, msg, len);
        CHECK(m.type >= 1 && m.type <= 13);
        const adapter_msg_value_t *v =
            m.type == ADAPTER_MSG_SHARD_BROADCAST ? &m.packet.data : &m.value;
        int encodable =
            m.uid.base && m.nsp.base &&
            !(v->natt && count_sub(v->json, "\"_placeholder\"") != v->natt) &&
            !(m.type == ADAPTER_MSG_SHARD_BROADCAST && !m.packet.data.json.base) &&
            !((m.type == 7 || m.type == 8 || m.type >= 10) && m.type <= 12 && !m.request_id.base) &&
            !((m.type == 8 || m.type == 9) && !m.value.json.base);
        if (encodable) {
            r = adapter_msg_shard_encode(ctx, &m, &enc);
            CHECK(r == 0);
            r = adapter_msg_shard_decode(ctx, enc.base, enc.len, &json2, &att2, &m2);
            CHECK(r == (int)enc.len);
            CHECK(m2.type == m.type);
        }
    }
    buf_free(&json);
    buf_free(&enc);
    buf_free(&json2);
}

static void fuzz_values(adapter_msg_ctx_t *ctx, const char *data, size_t len)
{
    sioc_buf_t json = {0}, mp = {0}, json2 = {0}, mp2 = {0}, json3 = {0};
    sioc_iov_t av[ATT_MAX], av2[ATT_MAX], av3[ATT_MAX];
    adapter_msg_att_t att = {av, ATT_MAX, 0}, att2 = {av2, ATT_MAX, 0}, att3 = {av3, ATT_MAX, 0};
    /* msgpack -> JSON -> msgpack -> JSON */
    int r = mp_json_to_json(ctx, data, len, &json, &att);
    CHECK(r < 0 ? (r != SIOC_EPROTO || ctx->reason != NULL) : (r > 0 && (size_t)r <= len));
    if (r > 0) {
        sioc_iov_t j = iov_make(json.base, json.len);
        adapter_msg_value_t v = {j, att.v, att.n, att.n > 0};
        int amb = att.n > 0 && count_sub(j, "\"_placeholder\"") != att.n;
        r = mp_json_to_mp(ctx, &v, &mp);
        CHECK(r == (int)json.len || amb);
        if (r > 0 && !amb) {
            CHECK(mp_json_to_json(ctx, mp.base, mp.len, &json2, &att2) == (int)mp.len);
            {
                CHECK(att2.n == att.n);
                if (!wrap_prone(j))
                    CHECK(json2.len == json.len && memcmp(json2.base, json.base, json.len) == 0);
            }
            adapter_msg_value_t v2 = {iov_make(json2.base, json2.len), att2.v, att2.n, att2.n > 0};
            if (mp_json_to_mp(ctx, &v2, &mp2) > 0) {
                CHECK(mp_json_to_json(ctx, mp2.base, mp2.len, &json3, &att3) == (int)mp2.len);
                CHECK(json3.len == json2.len && memcmp(json3.base, json2.base, json2.len) == 0);
            }
        }
    }
    buf_free(&mp);
    buf_free(&json2);
    buf_free(&mp2);
    buf_free(&json3);
    /* JSON -> msgpack -> JSON */
    buf_reset(&json);
    att.n = 0;
    adapter_msg_value_t in = {iov_make(data, len), NULL, 0, 0};
    r = mp_json_to_mp(ctx, &in, &mp);
    CHECK(r < 0 ? (r != SIOC_EPROTO || ctx->reason != NULL) : r == (int)len);
    if (r > 0)
        CHECK(mp_json_to_json(ctx, mp.base, mp.len, &json, &att) == (int)mp.len);
    buf_free(&mp);
    buf_free(&json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static adapter_msg_ctx_t ctx; /* reused across inputs, as a worker reuses it */
    static int ready;
    if (!ready) {
        adapter_msg_limits_t lim = {.max_size = 1 << 20,
                                    .max_out = 8 << 20,
                                    .max_depth = 32,
                                    .max_elems = 4096,
                                    .max_list = 256};
        adapter_msg_ctx_init(&ctx, &lim);
        ready = 1;
    }
    const char *msg = (const char *)data;
    fuzz_broadcast(&ctx, msg, size);
    fuzz_request(&ctx, msg, size);
    fuzz_response(&ctx, msg, size);
    fuzz_shard(&ctx, msg, size);
    fuzz_values(&ctx, msg, size);
    return 0;
}
