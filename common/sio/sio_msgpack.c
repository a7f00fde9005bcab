/*
 * sio_msgpack.c - socket.io-msgpack-parser packets <-> packet text (sio_msgpack.h).
 *
 * msgpack-c reads and writes the msgpack; jansson parses the JSON data being encoded.
 * Decoding writes JSON directly (strings escaped by sio_json).
 */
#include "sio/sio_msgpack.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/utf8.h"
#include "sio/sio_json.h"
#include "sio/sio_packet.h"

#define MAX_DEPTH 32
#define MAX_SAFE_INT 9007199254740991ULL

typedef struct {
    sioc_buf_t *b;
    sioc_iov_t *att;
    size_t cap, n;
    const char *reason;
} dec_t;

static int fail(dec_t *d, const char *why)
{
    d->reason = why;
    return SIOC_EPROTO;
}

static int str_ok(const char *p, size_t n)
{
    return utf8_validate((const uint8_t *)p, n, NULL) == 0;
}

/* notepack.io writes JavaScript's undefined as the ext value of type 0 (d4 00 00). */
static int is_undefined(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_EXT && o->via.ext.type == 0;
}

static int to_json(dec_t *d, const msgpack_object *o, int depth)
{
    char num[64];
    int r = 0;
    if (depth > MAX_DEPTH)
        return fail(d, "nested too deep");
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return buf_append_str(d->b, "null");
    case MSGPACK_OBJECT_BOOLEAN:
        return buf_append_str(d->b, o->via.boolean ? "true" : "false");
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(num, sizeof(num), "%" PRIu64, o->via.u64);
        return buf_append_str(d->b, num);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        snprintf(num, sizeof(num), "%" PRId64, o->via.i64);
        return buf_append_str(d->b, num);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return buf_append_str(d->b, "null"); /* as JSON.stringify */
        if (o->via.f64 == 0)
            return buf_append_str(d->b, "0"); /* -0 too, as JSON.stringify */
        snprintf(num, sizeof(num), "%.17g", o->via.f64);
        return buf_append_str(d->b, num);
    case MSGPACK_OBJECT_STR:
        if (!str_ok(o->via.str.ptr, o->via.str.size))
            return fail(d, "string not UTF-8");
        return sio_json_append_string(d->b, o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN:
        if (d->n >= d->cap)
            return fail(d, "too many binaries");
        d->att[d->n] = iov_make(o->via.bin.ptr, o->via.bin.size);
        snprintf(num, sizeof(num), "{\"_placeholder\":true,\"num\":%zu}", d->n++);
        return buf_append_str(d->b, num);
    case MSGPACK_OBJECT_ARRAY:
        r = buf_append_byte(d->b, '[');
        for (uint32_t i = 0; i < o->via.array.size && r == 0; i++) {
            if (i > 0)
                r = buf_append_byte(d->b, ',');
            if (r == 0)
                r = to_json(d, &o->via.array.ptr[i], depth + 1);
        }
        return r != 0 ? r : buf_append_byte(d->b, ']');
    case MSGPACK_OBJECT_MAP:
        r = buf_append_byte(d->b, '{');
        for (uint32_t i = 0, out = 0; i < o->via.map.size && r == 0; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR)
                return fail(d, "map key not a string");
            if (!str_ok(kv->key.via.str.ptr, kv->key.via.str.size))
                return fail(d, "string not UTF-8");
            if (is_undefined(&kv->val))
                continue; /* JSON.stringify leaves the key out */
            if (out++ > 0)
                r = buf_append_byte(d->b, ',');
            if (r == 0)
                r = sio_json_append_string(d->b, kv->key.via.str.ptr, kv->key.via.str.size);
            if (r == 0)
                r = buf_append_byte(d->b, ':');
            if (r == 0)
                r = to_json(d, &kv->val, depth + 1);
        }
        return r != 0 ? r : buf_append_byte(d->b, '}');
    default: /* ext: undefined, a timestamp or an application type (undefined in an array
              * is null for JSON.stringify too) */
        return buf_append_str(d->b, "null");
    }
}

static const msgpack_object *member(const msgpack_object *map, const char *key)
{
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            memcmp(k->via.str.ptr, key, n) == 0)
            return is_undefined(&map->via.map.ptr[i].val) ? NULL : &map->via.map.ptr[i].val;
    }
    return NULL;
}

static int decode_packet(dec_t *d, const msgpack_object *root)
{
    if (root->type != MSGPACK_OBJECT_MAP)
        return fail(d, "packet not a map");
    const msgpack_object *type = member(root, "type"), *nsp = member(root, "nsp"),
                         *data = member(root, "data"), *id = member(root, "id");
    if (type == NULL || type->type != MSGPACK_OBJECT_POSITIVE_INTEGER || type->via.u64 > 4)
        return fail(d, "invalid packet type");
    if (nsp == NULL || nsp->type != MSGPACK_OBJECT_STR)
        return fail(d, "invalid namespace");
    int t = (int)type->via.u64;
    int ok;
    switch (t) {
    case SIO_CONNECT:
        ok = data == NULL || data->type == MSGPACK_OBJECT_MAP;
        break;
    case SIO_DISCONNECT:
        ok = data == NULL;
        break;
    case SIO_CONNECT_ERROR:
        ok = data != NULL && (data->type == MSGPACK_OBJECT_STR || data->type == MSGPACK_OBJECT_MAP);
        break;
    default:
        ok = data != NULL && data->type == MSGPACK_OBJECT_ARRAY;
        break;
    }
    if (!ok)
        return fail(d, "invalid payload");
    if (id != NULL && !(id->type == MSGPACK_OBJECT_POSITIVE_INTEGER && id->via.u64 <= MAX_SAFE_INT))
        return fail(d, "invalid packet id");
    if (!str_ok(nsp->via.str.ptr, nsp->via.str.size))
        return fail(d, "invalid namespace");
    /* The data first (it may add attachments), then the header in front of it. */
    sioc_buf_t json = {0};
    sioc_buf_t *b = d->b;
    size_t len0 = b->len;
    d->b = &json;
    int r = data != NULL ? to_json(d, data, 1) : 0;
    d->b = b;
    /* Only events and acks carry binary in the text form the packet is handed on in. */
    if (r == 0 && d->n > 0 && t != SIO_EVENT && t != SIO_ACK)
        r = fail(d, "binary data in a packet that cannot carry it");
    if (r == 0) {
        if (d->n > 0 && t == SIO_EVENT)
            t = SIO_BINARY_EVENT;
        else if (d->n > 0 && t == SIO_ACK)
            t = SIO_BINARY_ACK;
        sioc_iov_t ns = iov_make(nsp->via.str.ptr, nsp->via.str.size);
        r = sio_packet_write(b, t, (unsigned)d->n, ns.len ? ns : SIOC_LIT("/"), id != NULL,
                             id != NULL ? id->via.u64 : 0, iov_make(json.base, json.len));
        if (r == SIOC_EINVAL)
            r = fail(d, "invalid namespace");
        /* What the default parser's rules refuse (an ACK without an id, an EVENT without a
         * name...) is refused here too, so the text handed on always parses. */
        sio_packet_t pkt;
        const char *why;
        if (r == 0 && sio_packet_parse(b->base + len0, b->len - len0, &pkt, &why) < 0)
            r = fail(d, why);
    }
    buf_free(&json);
    return r;
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/*
 * Whether `len` bytes hold exactly one msgpack value whose every container announces no
 * more entries than bytes remain. msgpack-c sizes a container's storage from its header
 * before reading the entries, so a 5-byte array32 header claiming 4 billion entries
 * would make it allocate tens of GiB; checked first, storage stays within a small
 * multiple of the input.
 */
static int sane(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    uint64_t pending = 1;
    while (pending > 0) {
        if (p >= end)
            return 0;
        uint8_t b = *p++;
        size_t left = (size_t)(end - p);
        uint64_t skip = 0, items = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        } else if (b <= 0x8f) {
            items = 2u * (b & 0x0f);
        } else if (b <= 0x9f) {
            items = b & 0x0f;
        } else if (b <= 0xbf) {
            skip = b & 0x1f;
        } else if (b == 0xc1) {
            return 0;
        } else {
            static const struct {
                uint8_t lenbytes, fixed, kind; /* kind: 0 data, 1 array, 2 map, 3 ext */
            } t[] = {
                [0xc4 - 0xc4] = {1, 0, 0}, [0xc5 - 0xc4] = {2, 0, 0}, [0xc6 - 0xc4] = {4, 0, 0},
                [0xc7 - 0xc4] = {1, 1, 3}, [0xc8 - 0xc4] = {2, 1, 3}, [0xc9 - 0xc4] = {4, 1, 3},
                [0xca - 0xc4] = {0, 4, 0}, [0xcb - 0xc4] = {0, 8, 0}, [0xcc - 0xc4] = {0, 1, 0},
                [0xcd - 0xc4] = {0, 2, 0}, [0xce - 0xc4] = {0, 4, 0}, [0xcf - 0xc4] = {0, 8, 0},
                [0xd0 - 0xc4] = {0, 1, 0}, [0xd1 - 0xc4] = {0, 2, 0}, [0xd2 - 0xc4] = {0, 4, 0},
                [0xd3 - 0xc4] = {0, 8, 0}, [0xd4 - 0xc4] = {0, 2, 0}, [0xd5 - 0xc4] = {0, 3, 0},
                [0xd6 - 0xc4] = {0, 5, 0}, [0xd7 - 0xc4] = {0, 9, 0}, [0xd8 - 0xc4] = {0, 17, 0},
                [0xd9 - 0xc4] = {1, 0, 0}, [0xda - 0xc4] = {2, 0, 0}, [0xdb - 0xc4] = {4, 0, 0},
                [0xdc - 0xc4] = {2, 0, 1}, [0xdd - 0xc4] = {4, 0, 1}, [0xde - 0xc4] = {2, 0, 2},
                [0xdf - 0xc4] = {4, 0, 2},
            };
            int lb = t[b - 0xc4].lenbytes;
            if (left < (size_t)lb)
                return 0;
            uint64_t n = be(p, lb);
            p += lb;
            left -= (size_t)lb;
            if (t[b - 0xc4].kind == 1)
                items = n;
            else if (t[b - 0xc4].kind == 2)
                items = 2 * n;
            else
                skip = t[b - 0xc4].fixed + n;
        }
        if (skip > left || items > left)
            return 0;
        p += skip;
        pending = pending - 1 + items;
    }
    return p == end;
}

int sio_msgpack_decode(const char *mp, size_t len, sioc_buf_t *text, sioc_iov_t *att,
                       size_t att_cap, const char **reason)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    dec_t d = {text, att, att_cap, 0, NULL};
    size_t len0 = text->len;
    int r;
    if (!sane((const uint8_t *)mp, len) ||
        msgpack_unpack_next(&u, mp, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len)
        r = fail(&d, "not one msgpack value");
    else
        r = decode_packet(&d, &u.data);
    msgpack_unpacked_destroy(&u);
    if (r != 0) {
        text->len = len0;
        if (reason != NULL)
            *reason = d.reason != NULL ? d.reason : "out of memory";
        return r;
    }
    return (int)d.n;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                             */

static int sink(void *data, const char *p, size_t n)
{
    return buf_append(data, p, n) == 0 ? 0 : -1;
}

static int pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

/* The attachment index of a placeholder object, or -1. */
static long long placeholder(const json_t *v)
{
    if (json_object_size(v) != 2 || !json_is_true(json_object_get(v, "_placeholder")))
        return -1;
    const json_t *num = json_object_get(v, "num");
    return json_is_integer(num) && json_integer_value(num) >= 0 ? json_integer_value(num) : -1;
}

static int pack_json(msgpack_packer *pk, const json_t *v, const sioc_iov_t *att, size_t n_att)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        return msgpack_pack_nil(pk);
    case JSON_TRUE:
        return msgpack_pack_true(pk);
    case JSON_FALSE:
        return msgpack_pack_false(pk);
    case JSON_INTEGER:
        return msgpack_pack_int64(pk, json_integer_value(v));
    case JSON_REAL:
        return msgpack_pack_double(pk, json_real_value(v));
    case JSON_STRING:
        return pack_str(pk, json_string_value(v), json_string_length(v));
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        if (msgpack_pack_array(pk, json_array_size(v)))
            return -1;
        json_array_foreach(v, i, e) if (pack_json(pk, e, att, n_att)) return -1;
        return 0;
    }
    case JSON_OBJECT: {
        long long a = placeholder(v);
        if (a >= 0) {
            if ((size_t)a >= n_att)
                return -1;
            return msgpack_pack_bin(pk, att[a].len) ||
                   msgpack_pack_bin_body(pk, att[a].base, att[a].len);
        }
        const char *k;
        json_t *e;
        if (msgpack_pack_map(pk, json_object_size(v)))
            return -1;
        json_object_foreach((json_t *)v, k, e)
        {
            if (pack_str(pk, k, strlen(k)) || pack_json(pk, e, att, n_att))
                return -1;
        }
        return 0;
    }
    }
    return -1;
}

int sio_msgpack_encode(const char *text, size_t len, const sioc_iov_t *att, size_t n_att,
                       sioc_buf_t *out)
{
    sio_packet_t pkt;
    const char *why;
    if (sio_packet_parse(text, len, &pkt, &why) < 0)
        return SIOC_EPROTO;
    json_t *data = NULL;
    if (pkt.data.len > 0) {
        json_error_t err;
        data = json_loadb(pkt.data.base, pkt.data.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        if (data == NULL)
            return SIOC_EPROTO;
    }
    int type = pkt.type == SIO_BINARY_EVENT ? SIO_EVENT
               : pkt.type == SIO_BINARY_ACK ? SIO_ACK
                                            : pkt.type;
    size_t len0 = out->len;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, sink);
    int r = msgpack_pack_map(&pk, 2 + (data != NULL) + (pkt.has_ack != 0));
    r = r || pack_str(&pk, "type", 4) || msgpack_pack_int(&pk, type);
    if (data != NULL)
        r = r || pack_str(&pk, "data", 4) || pack_json(&pk, data, att, n_att);
    r = r || pack_str(&pk, "nsp", 3) || pack_str(&pk, pkt.nsp.base, pkt.nsp.len);
    if (pkt.has_ack)
        r = r || pack_str(&pk, "id", 2) || msgpack_pack_uint64(&pk, pkt.ack_id);
    json_decref(data);
    if (r) {
        out->len = len0;
        return SIOC_EPROTO;
    }
    return 0;
}
