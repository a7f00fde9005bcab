/*
 * adapter_streams.c - stream entry formats of @socket.io/redis-streams-adapter
 * (adapter_streams.h).
 *
 * The entry's `data` is the `data` member of the sharded-adapter message,
 * which adapter_msg_shard_encode writes as {type, data, uid, nsp} in that
 * order: the JSON value is found with jscan, the msgpack value lies between
 * the fixed head (map, "type", a fixint type, "data") and the tail ("uid",
 * uid, "nsp", nsp), whose sizes are known. Decoding rebuilds the message
 * around the entry's fields and hands it to adapter_msg_shard_decode.
 */
#include "adapter/adapter_streams.h"

#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "adapter/mp_json.h"
#include "base/base64.h"
#include "base/err.h"
#include "sio/jscan.h"
#include "sio/sio_json.h"

int32_t adapter_streams_hash(sioc_iov_t s)
{
    uint32_t h = 0;
    const unsigned char *p = (const unsigned char *)s.base, *end = p + s.len;
    while (p < end) {
        uint32_t cp = *p++;
        int more = cp >= 0xf0 ? 3 : cp >= 0xe0 ? 2 : cp >= 0xc0 ? 1 : 0;
        if (more) {
            cp &= 0x3fu >> more;
            for (int i = 0; i < more && p < end; i++)
                cp = (cp << 6) | (*p++ & 0x3fu);
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            h = h * 31u + (0xd800u + (cp >> 10));
            h = h * 31u + (0xdc00u + (cp & 0x3ffu));
        } else {
            h = h * 31u + cp;
        }
    }
    return (int32_t)h;
}

int adapter_streams_key(sioc_buf_t *out, sioc_iov_t name, long count, sioc_iov_t nsp)
{
    int r = buf_append(out, name.base, name.len);
    if (r != 0 || count <= 1)
        return r;
    char tail[32];
    long i = (long)adapter_streams_hash(nsp) % count; /* C `%` keeps the sign, as JS does */
    int n = snprintf(tail, sizeof(tail), "-%ld", i);
    return buf_append(out, tail, (size_t)n);
}

/* Size of a msgpack str header for `n` bytes (fixstr, str8, str16, str32). */
static size_t str_head(size_t n)
{
    return n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

static int put_str(sioc_buf_t *b, sioc_iov_t s)
{
    unsigned char h[5];
    size_t n = s.len, hn = str_head(n);
    if (hn == 1) {
        h[0] = (unsigned char)(0xa0 | n);
    } else if (hn == 2) {
        h[0] = 0xd9;
        h[1] = (unsigned char)n;
    } else if (hn == 3) {
        h[0] = 0xda;
        h[1] = (unsigned char)(n >> 8);
        h[2] = (unsigned char)n;
    } else {
        h[0] = 0xdb;
        for (int i = 0; i < 4; i++)
            h[1 + i] = (unsigned char)(n >> (24 - 8 * i));
    }
    int r = buf_append(b, h, hn);
    return r ? r : buf_append(b, s.base, s.len);
}

static int put_base64(sioc_buf_t *out, const void *p, size_t n)
{
    size_t need = base64_encoded_len(n);
    int r = buf_reserve(out, need + 1);
    if (r != 0)
        return r;
    out->len += base64_encode(out->base + out->len, p, n);
    return 0;
}

int adapter_streams_data(adapter_msg_ctx_t *ctx, const adapter_msg_shard_t *m, sioc_buf_t *scratch,
                         sioc_buf_t *out)
{
    if (m->type < ADAPTER_MSG_SHARD_BROADCAST || m->type > ADAPTER_MSG_SHARD_BROADCAST_ACK)
        return 1;
    buf_reset(scratch);
    int r = adapter_msg_shard_encode(ctx, m, scratch);
    if (r != 0)
        return r;
    sioc_iov_t msg = iov_make(scratch->base, scratch->len);
    if (msg.len > 0 && msg.base[0] == '{') {
        jscan_iter_t it;
        sioc_iov_t k, v;
        if (jscan_iter_init(&it, msg) != 0)
            return SIOC_EPROTO;
        while (jscan_next(&it, &k, &v) > 0)
            if (jscan_string_eq(k, "data"))
                return buf_append(out, v.base, v.len);
        return SIOC_EPROTO;
    }
    /* msgpack: 0x84 "type" <fixint> "data" <value> "uid" <uid> "nsp" <nsp> */
    static const char head_type[] = "\x84\xa4type", head_data[] = "\xa4"
                                                                  "data";
    size_t head = 6 + 1 + 5;
    size_t tail = 4 + str_head(m->uid.len) + m->uid.len + 4 + str_head(m->nsp.len) + m->nsp.len;
    if (msg.len <= head + tail || memcmp(msg.base, head_type, 6) != 0 ||
        memcmp(msg.base + 7, head_data, 5) != 0 ||
        memcmp(msg.base + msg.len - tail, "\xa3uid", 4) != 0)
        return SIOC_EPROTO;
    return put_base64(out, msg.base + head, msg.len - head - tail);
}

int adapter_streams_pubsub_encode(adapter_msg_ctx_t *ctx, const adapter_msg_shard_t *m,
                                  sioc_buf_t *scratch, sioc_buf_t *out)
{
    buf_reset(scratch);
    int r = adapter_msg_shard_encode(ctx, m, scratch);
    if (r != 0)
        return r;
    if (scratch->len == 0 || scratch->base[0] != '{')
        return buf_append(out, scratch->base, scratch->len);
    /* JSON.parse + msgpack encode of the JSON form: the same message. */
    adapter_msg_value_t v = {iov_make(scratch->base, scratch->len), NULL, 0, 0};
    r = mp_json_to_mp(ctx, &v, out);
    return r < 0 ? r : 0;
}

int adapter_streams_decode(adapter_msg_ctx_t *ctx, sioc_iov_t type, sioc_iov_t uid, sioc_iov_t nsp,
                           sioc_iov_t data, sioc_buf_t *scratch, sioc_buf_t *json,
                           adapter_msg_att_t *att, adapter_msg_shard_t *out)
{
    long t = 0;
    if (type.len == 0 || type.len > 2)
        goto bad_type;
    for (size_t i = 0; i < type.len; i++) {
        if (type.base[i] < '0' || type.base[i] > '9')
            goto bad_type;
        t = t * 10 + (type.base[i] - '0');
    }
    if (t < 1 || t > 13)
        goto bad_type;
    buf_reset(scratch);
    int has_data = data.base != NULL && data.len > 0;
    int r;
    if (!has_data || data.base[0] == '{') {
        char head[32];
        int n = snprintf(head, sizeof(head), "{\"type\":%ld", t);
        r = buf_append(scratch, head, (size_t)n);
        if (r == 0 && has_data) {
            r = buf_append_str(scratch, ",\"data\":");
            r = r ? r : buf_append(scratch, data.base, data.len);
        }
        r = r ? r : buf_append_str(scratch, ",\"uid\":");
        r = r ? r : sio_json_append_iov(scratch, uid);
        r = r ? r : buf_append_str(scratch, ",\"nsp\":");
        r = r ? r : sio_json_append_iov(scratch, nsp);
        r = r ? r : buf_append_byte(scratch, '}');
    } else {
        size_t cap = base64_decoded_len(data);
        r = buf_reserve(scratch, 12 + cap + 16 + uid.len + nsp.len);
        if (r == 0) {
            char h[7] = {'\x84', '\xa4', 't', 'y', 'p', 'e', (char)t};
            r = buf_append(scratch, h, sizeof(h));
            r = r ? r
                  : buf_append(scratch,
                               "\xa4"
                               "data",
                               5);
        }
        if (r == 0) {
            int n = base64_decode(data, (uint8_t *)scratch->base + scratch->len, cap);
            if (n < 0) {
                ctx->reason = "bad base64 data";
                return SIOC_EPROTO;
            }
            scratch->len += (size_t)n;
        }
        r = r ? r : buf_append(scratch, "\xa3uid", 4);
        r = r ? r : put_str(scratch, uid);
        r = r ? r : buf_append(scratch, "\xa3nsp", 4);
        r = r ? r : put_str(scratch, nsp);
    }
    if (r != 0)
        return r;
    r = adapter_msg_shard_decode(ctx, scratch->base, scratch->len, json, att, out);
    /* A `data` that is not one value could smuggle envelope keys in (JSON.parse keeps the
     * last of duplicate keys): the envelope must be the entry's own. */
    if (r > 0 && (out->type != (int)t || !iov_eq(out->uid, uid) || !iov_eq(out->nsp, nsp))) {
        ctx->reason = "entry data is not one value";
        return SIOC_EPROTO;
    }
    return r;
bad_type:
    ctx->reason = "bad entry type";
    return SIOC_EPROTO;
}

int adapter_streams_next_id(sioc_iov_t id, char *out, size_t cap)
{
    size_t dash = 0;
    while (dash < id.len && id.base[dash] >= '0' && id.base[dash] <= '9')
        dash++;
    if (dash == 0 || dash > 20 || dash + 1 >= id.len || id.base[dash] != '-')
        return -1;
    unsigned long long seq = 0;
    for (size_t i = dash + 1; i < id.len; i++) {
        if (id.base[i] < '0' || id.base[i] > '9' || seq > 1000000000000000000ull)
            return -1;
        seq = seq * 10 + (unsigned)(id.base[i] - '0');
    }
    int n = snprintf(out, cap, "%.*s-%llu", (int)dash, id.base, seq + 1);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

static int pk_write(void *data, const char *buf, size_t len)
{
    return buf_append(data, buf, len) == 0 ? 0 : -1;
}

int adapter_streams_session_encode(adapter_msg_ctx_t *ctx, const adapter_streams_session_t *s,
                                   sioc_buf_t *out)
{
    sioc_buf_t mp = {0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &mp, pk_write);
    int r = msgpack_pack_map(&pk, 4);
    r |= msgpack_pack_str_with_body(&pk, "sid", 3);
    r |= msgpack_pack_str_with_body(&pk, s->sid.base, s->sid.len);
    r |= msgpack_pack_str_with_body(&pk, "pid", 3);
    r |= msgpack_pack_str_with_body(&pk, s->pid.base, s->pid.len);
    r |= msgpack_pack_str_with_body(&pk, "rooms", 5);
    r |= msgpack_pack_array(&pk, s->nrooms);
    for (size_t i = 0; i < s->nrooms; i++)
        r |= msgpack_pack_str_with_body(&pk, s->rooms[i].base, s->rooms[i].len);
    r |= msgpack_pack_str_with_body(&pk, "data", 4);
    int e = r ? SIOC_ENOMEM : 0;
    if (e == 0 && s->data.base != NULL && s->data.len > 0) {
        adapter_msg_value_t v = {s->data, NULL, 0, 0};
        e = mp_json_to_mp(ctx, &v, &mp);
        e = e < 0 ? e : 0;
    } else if (e == 0) {
        e = msgpack_pack_map(&pk, 0) ? SIOC_ENOMEM : 0;
    }
    if (e == 0)
        e = put_base64(out, mp.base, mp.len);
    buf_free(&mp);
    return e;
}

static int is_key(const msgpack_object *k, const char *z)
{
    size_t n = strlen(z);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, z, n) == 0;
}

int adapter_streams_session_decode(adapter_msg_ctx_t *ctx, sioc_iov_t b64, sioc_buf_t *scratch,
                                   sioc_buf_t *json, sioc_iov_t *rooms, size_t cap,
                                   adapter_streams_session_t *out)
{
    memset(out, 0, sizeof(*out));
    out->rooms = rooms;
    buf_reset(scratch);
    size_t n = base64_decoded_len(b64);
    if (buf_reserve(scratch, n + 1) != 0)
        return SIOC_ENOMEM;
    int d = base64_decode(b64, (uint8_t *)scratch->base, n);
    if (d < 0)
        goto bad;
    scratch->len = (size_t)d;
    {
        /* Checked with the bounded converter first: msgpack-c allocates for the element
         * counts a value declares before it sees them. */
        sioc_buf_t probe = {0};
        sioc_iov_t att_v[64];
        adapter_msg_att_t att = {att_v, 64, 0};
        int c = mp_json_to_json(ctx, scratch->base, scratch->len, &probe, &att);
        buf_free(&probe);
        if (c < 0 || (size_t)c != scratch->len)
            goto bad;
    }
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int e = SIOC_EPROTO;
    if (msgpack_unpack_next(&u, scratch->base, scratch->len, &off) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_MAP)
        goto done;
    const msgpack_object_map *m = &u.data.via.map;
    size_t data_start = json->len;
    int got_data = 0;
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
        if ((is_key(k, "sid") || is_key(k, "pid")) && v->type == MSGPACK_OBJECT_STR) {
            sioc_iov_t s = iov_make(v->via.str.ptr, v->via.str.size);
            if (is_key(k, "sid"))
                out->sid = s;
            else
                out->pid = s;
        } else if (is_key(k, "rooms") && v->type == MSGPACK_OBJECT_ARRAY) {
            for (uint32_t j = 0; j < v->via.array.size && out->nrooms < cap; j++) {
                const msgpack_object *room = &v->via.array.ptr[j];
                if (room->type == MSGPACK_OBJECT_STR)
                    rooms[out->nrooms++] = iov_make(room->via.str.ptr, room->via.str.size);
            }
        } else if (is_key(k, "data")) {
            msgpack_sbuffer sb;
            msgpack_sbuffer_init(&sb);
            msgpack_packer pk;
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            adapter_msg_att_t att = {NULL, 0, 0};
            json->len = data_start;
            got_data = msgpack_pack_object(&pk, *v) == 0 &&
                       mp_json_to_json(ctx, sb.data, sb.size, json, &att) > 0;
            msgpack_sbuffer_destroy(&sb);
        }
    }
    if (got_data)
        out->data = iov_make(json->base + data_start, json->len - data_start);
    if (out->sid.base != NULL && out->pid.base != NULL)
        e = 0;
done:
    msgpack_unpacked_destroy(&u);
    if (e == 0)
        return 0;
bad:
    ctx->reason = "bad session";
    return SIOC_EPROTO;
}
