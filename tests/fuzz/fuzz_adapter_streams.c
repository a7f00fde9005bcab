/*
 * fuzz_adapter_streams.c - libFuzzer target for common/adapter/adapter_streams.
 *
 * The first byte picks the function, the rest is its input:
 *  - 'e' <type> '\n' <data>: a stream entry; decode returns > 0 or a negative
 *    code (SIOC_EPROTO with a reason); an accepted BROADCAST / join / leave /
 *    disconnect re-encodes to an entry `data` that decodes to the same type,
 *    rooms and JSON;
 *  - 's' <base64>: a stored session; an accepted one re-encodes and decodes
 *    to the same sid, pid and rooms;
 *  - 'n' <id>: the next entry id is <ms>-<seq+1> of an accepted id;
 *  - anything else: the stream key of the input as a namespace (no crash).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/adapter_streams.h"
#include "base/buf.h"
#include "base/err.h"
#include "tests/fuzz/fuzz_check.h"

#define ATT_MAX 32
#define ROOMS_MAX 64

static int same_list(const sioc_iov_t *a, size_t na, const sioc_iov_t *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (!iov_eq(a[i], b[i]))
            return 0;
    return 1;
}

static void entry(adapter_msg_ctx_t *ctx, const char *p, size_t n)
{
    const char *nl = memchr(p, '\n', n);
    sioc_iov_t type = iov_make(p, nl ? (size_t)(nl - p) : n);
    sioc_iov_t data = nl ? iov_make(nl + 1, n - type.len - 1) : SIOC_IOV_NULL;
    sioc_buf_t scratch = {0}, json = {0}, out = {0}, scratch2 = {0}, json2 = {0}, tmp = {0};
    sioc_iov_t att_v[ATT_MAX], att_v2[ATT_MAX];
    adapter_msg_att_t att = {att_v, ATT_MAX, 0}, att2 = {att_v2, ATT_MAX, 0};
    adapter_msg_shard_t m, m2;
    int r = adapter_streams_decode(ctx, type, SIOC_LIT("0123456789abcdef"), SIOC_LIT("/"), data,
                                   &scratch, &json, &att, &m);
    CHECK(r > 0 || r < 0);
    if (r == SIOC_EPROTO)
        CHECK(ctx->reason != NULL);
    if (r > 0 && m.type >= ADAPTER_MSG_SHARD_BROADCAST &&
        m.type <= ADAPTER_MSG_SHARD_DISCONNECT_SOCKETS && m.request_id.base == NULL) {
        /* A second context: the first one's storage holds the slices of `m`. */
        adapter_msg_ctx_t ctx2;
        adapter_msg_ctx_init(&ctx2, NULL);
        int e = adapter_streams_data(&ctx2, &m, &tmp, &out);
        if (e == 0) {
            char t[4];
            snprintf(t, sizeof(t), "%d", m.type);
            int r2 =
                adapter_streams_decode(&ctx2, iov_make(t, strlen(t)), m.uid, m.nsp,
                                       iov_make(out.base, out.len), &scratch2, &json2, &att2, &m2);
            CHECK(r2 > 0);
            CHECK(m2.type == m.type);
            CHECK(same_list(m.opts.rooms, m.opts.nrooms, m2.opts.rooms, m2.opts.nrooms));
            CHECK(same_list(m.opts.except, m.opts.nexcept, m2.opts.except, m2.opts.nexcept));
            if (m.type == ADAPTER_MSG_SHARD_SOCKETS_JOIN ||
                m.type == ADAPTER_MSG_SHARD_SOCKETS_LEAVE)
                CHECK(same_list(m.rooms, m.nrooms, m2.rooms, m2.nrooms));
            if (m.type == ADAPTER_MSG_SHARD_BROADCAST && m.packet.data.natt == 0)
                CHECK(iov_eq(m.packet.data.json, m2.packet.data.json));
        }
        adapter_msg_ctx_free(&ctx2);
    }
    buf_free(&scratch);
    buf_free(&json);
    buf_free(&out);
    buf_free(&scratch2);
    buf_free(&json2);
    buf_free(&tmp);
}

static void session(adapter_msg_ctx_t *ctx, const char *p, size_t n)
{
    sioc_buf_t scratch = {0}, json = {0}, out = {0}, scratch2 = {0}, json2 = {0};
    sioc_iov_t rooms[ROOMS_MAX], rooms2[ROOMS_MAX];
    adapter_streams_session_t s, s2;
    int r =
        adapter_streams_session_decode(ctx, iov_make(p, n), &scratch, &json, rooms, ROOMS_MAX, &s);
    CHECK(r == 0 || r < 0);
    adapter_msg_ctx_t ctx2;
    adapter_msg_ctx_init(&ctx2, NULL);
    if (r == 0 && adapter_streams_session_encode(&ctx2, &s, &out) == 0) {
        CHECK(adapter_streams_session_decode(&ctx2, iov_make(out.base, out.len), &scratch2, &json2,
                                             rooms2, ROOMS_MAX, &s2) == 0);
        CHECK(iov_eq(s.sid, s2.sid) && iov_eq(s.pid, s2.pid));
        CHECK(same_list(s.rooms, s.nrooms, s2.rooms, s2.nrooms));
    }
    adapter_msg_ctx_free(&ctx2);
    buf_free(&scratch);
    buf_free(&json);
    buf_free(&out);
    buf_free(&scratch2);
    buf_free(&json2);
}

static void next_id(const char *p, size_t n)
{
    char out[48];
    int r = adapter_streams_next_id(iov_make(p, n), out, sizeof(out));
    if (r < 0)
        return;
    CHECK((size_t)r == strlen(out));
    const char *dash = strchr(out, '-');
    CHECK(dash != NULL && dash > out && dash[1] != '\0');
    CHECK(memcmp(out, p, (size_t)(dash - out) + 1) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, NULL);
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0]) {
    case 'e':
        entry(&ctx, p, n);
        break;
    case 's':
        session(&ctx, p, n);
        break;
    case 'n':
        next_id(p, n);
        break;
    default: {
        sioc_buf_t key = {0};
        CHECK(adapter_streams_key(&key, SIOC_LIT("socket.io"), 1 + data[0] % 5, iov_make(p, n)) ==
              0);
        buf_free(&key);
    }
    }
    adapter_msg_ctx_free(&ctx);
    return 0;
}
