/*
 * mp_json.c - msgpack <-> Socket.IO JSON conversion with JS semantics (mp_json.h).
 *
 * Job: turn notepack.io 3.0.x msgpack into the JSON text a Node peer's
 * JSON.stringify would write after notepack.decode, and JSON text into the
 * msgpack JSON.parse + notepack.encode would give, byte for byte.
 *
 * Emulated JavaScript semantics (what a Node peer's notepack.decode +
 * socket.io-parser + JSON.stringify, or JSON.parse + notepack.encode, do):
 *  - numbers: msgpack ints and floats become JS doubles (int64/uint64 rounded
 *    as hi * 2^32 + lo), written in the shortest round-trip form of
 *    Number.prototype.toString (1e+21, 1.5e-7, -0 -> 0); NaN/Infinity -> null.
 *    JSON numbers are parsed to doubles and packed as notepack does: integral
 *    values as the smallest int/uint (beyond 64 bits the value modulo 2^64 in a
 *    uint64/int64, notepack's own wrap-around), others as float64.
 *  - strings: msgpack str is decoded as Buffer.toString("utf8") does (WHATWG
 *    U+FFFD replacement of ill-formed sequences), then escaped as
 *    JSON.stringify does (\" \\ \b \f \n \r \t, other C0 controls \u00xx).
 *    JSON input must be valid UTF-8 (SIOC_EPROTO otherwise). Lone surrogate
 *    escapes (\ud800) are packed as notepack does: strings of at most 32
 *    UTF-16 units use its own writer (a lone surrogate is fused with the next
 *    unit into a 4-byte sequence), longer ones Buffer.write (U+FFFD); where
 *    notepack would leave bytes uninitialised they are zero. Map keys follow
 *    notepack's key-cache path.
 *  - objects: keys that are array indices ("0".."4294967294") come first in
 *    ascending order, then the others in insertion order; a repeated key keeps
 *    its first position and its last value; "__proto__" keys from msgpack are
 *    dropped (assignment sets the prototype), from JSON kept (JSON.parse
 *    defines them). Non-string msgpack map keys are rejected.
 *  - bin, ext type 0 (legacy ArrayBuffer) -> placeholder + attachment, numbered
 *    depth-first in output order; other ext types -> [type, <bin>]; fixext1
 *    type 0 -> undefined (null in arrays, omitted in maps); timestamps (ext -1)
 *    and legacy fixext8 type 0 dates -> Date.prototype.toJSON() (ISO string,
 *    or null when out of range). Placeholders in JSON are only live when the
 *    value is binary; a num that is not an integer in [0, natt) is rejected
 *    (Node fails with "illegal attachments" or yields undefined).
 *
 * Library choice: msgpack-c's packer writes all msgpack (its size choices are
 * notepack's). Its unpacker is not used: msgpack_unpack_next() builds a tree
 * in a malloc'd zone per message and allocates count * sizeof(msgpack_object)
 * for an array or map header before any element exists, so a 5-byte
 * "dd 0f ff ff ff" asks for 6 GB. Decoding here is a bounds-checked cursor
 * that converts straight to JSON: no tree, no allocation beyond the reusable
 * scratch in adapter_msg_ctx_t. JSON is read with jscan (sio/jscan.h), the
 * one JSON grammar of the tree: its token functions, and its walk for values
 * that are skipped or only validated; decoded strings stay slices of the
 * input. Nesting of JSON values is also bounded by JSCAN_MAX_DEPTH.
 *
 * Limits: input size, output size, nesting depth (recursion is bounded by it),
 * entries per array/map (also never more than the bytes left), entries per
 * room list, attachments (caller's array). Violations -> SIOC_EPROTO.
 *
 * Threading: none; a context is used by one thread at a time.
 */
#include "adapter/mp_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter/js_value.h"
#include "base/err.h"
#include "base/hex.h"
#include "base/utf8.h"
#include "sio/jscan.h"
#include "sio/sio_json.h"

typedef const unsigned char *cptr;

static int fail(adapter_msg_ctx_t *ctx, const char *reason)
{
    ctx->reason = reason;
    return SIOC_EPROTO;
}

/* ---------------------------------------------------------------- output caps */

mp_json__cap_t mp_json__cap_push(sioc_buf_t *b, size_t extra)
{
    mp_json__cap_t c = {b, b->limit};
    size_t lim = b->len + extra < b->len ? (size_t)-1 : b->len + extra;
    if (b->limit == 0 || lim < b->limit)
        b->limit = lim;
    return c;
}

void mp_json__cap_pop(mp_json__cap_t c)
{
    c.b->limit = c.limit;
}

/* ---------------------------------------------------------------- msgpack reader */

static uint16_t be16(cptr p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(cptr p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(cptr p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/*
 * Reads one header at *pp and, for str/bin/ext, its payload. Array and map
 * counts are checked against the bytes left (every entry takes one at least).
 * Returns 0 or SIOC_EPROTO.
 */
int mp_json__head(adapter_msg_ctx_t *ctx, cptr *pp, cptr end, mp_json__item_t *it)
{
    cptr p = *pp;
    if (p >= end)
        return fail(ctx, "truncated msgpack");
    unsigned c = *p++;
    size_t avail = (size_t)(end - p), hl = 0, len = 0;
    it->fmt = (unsigned char)c;
    if (c < 0x80) {
        it->kind = MP_JSON__K_UINT;
        it->u = c;
        *pp = p;
        return 0;
    }
    if (c >= 0xe0) {
        it->kind = MP_JSON__K_INT;
        it->i = (int64_t)c - 256;
        *pp = p;
        return 0;
    }
    if (c < 0x90) {
        it->kind = MP_JSON__K_MAP;
        len = c & 0x0f;
        goto container;
    }
    if (c < 0xa0) {
        it->kind = MP_JSON__K_ARR;
        len = c & 0x0f;
        goto container;
    }
    if (c < 0xc0) {
        it->kind = MP_JSON__K_STR;
        len = c & 0x1f;
        goto payload;
    }
    switch (c) {
    case 0xc0:
        it->kind = MP_JSON__K_NIL;
        *pp = p;
        return 0;
    case 0xc2:
        it->kind = MP_JSON__K_FALSE;
        *pp = p;
        return 0;
    case 0xc3:
        it->kind = MP_JSON__K_TRUE;
        *pp = p;
        return 0;
    case 0xc4:
    case 0xc5:
    case 0xc6:
    case 0xd9:
    case 0xda:
    case 0xdb:
        hl = (c == 0xc4 || c == 0xd9) ? 1 : (c == 0xc5 || c == 0xda) ? 2 : 4;
        if (avail < hl)
            return fail(ctx, "truncated msgpack");
        len = hl == 1 ? p[0] : hl == 2 ? be16(p) : be32(p);
        p += hl;
        avail -= hl;
        it->kind = c <= 0xc6 ? MP_JSON__K_BIN : MP_JSON__K_STR;
        goto payload;
    case 0xc7:
    case 0xc8:
    case 0xc9:
        hl = c == 0xc7 ? 1 : c == 0xc8 ? 2 : 4;
        if (avail < hl + 1)
            return fail(ctx, "truncated msgpack");
        len = hl == 1 ? p[0] : hl == 2 ? be16(p) : be32(p);
        it->ext = (int8_t)p[hl];
        p += hl + 1;
        avail -= hl + 1;
        /* notepack reads a timestamp 96 as 12 bytes whatever the length says */
        if (c == 0xc7 && it->ext == -1)
            len = 12;
        it->kind = MP_JSON__K_EXT;
        goto payload;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        if (avail < 1)
            return fail(ctx, "truncated msgpack");
        it->ext = (int8_t)p[0];
        p++;
        avail--;
        len = (size_t)1 << (c - 0xd4);
        it->kind = MP_JSON__K_EXT;
        goto payload;
    case 0xca:
    case 0xcb:
        hl = c == 0xca ? 4 : 8;
        if (avail < hl)
            return fail(ctx, "truncated msgpack");
        if (c == 0xca) {
            uint32_t u32 = be32(p);
            float f;
            memcpy(&f, &u32, 4);
            it->f = f;
        } else {
            uint64_t u64 = be64(p);
            memcpy(&it->f, &u64, 8);
        }
        it->kind = MP_JSON__K_FLOAT;
        *pp = p + hl;
        return 0;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        hl = (size_t)1 << (c - 0xcc);
        if (avail < hl)
            return fail(ctx, "truncated msgpack");
        it->kind = MP_JSON__K_UINT;
        it->u = hl == 1 ? p[0] : hl == 2 ? be16(p) : hl == 4 ? be32(p) : be64(p);
        *pp = p + hl;
        return 0;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
        hl = (size_t)1 << (c - 0xd0);
        if (avail < hl)
            return fail(ctx, "truncated msgpack");
        it->i = hl == 1   ? (int8_t)p[0]
                : hl == 2 ? (int16_t)be16(p)
                : hl == 4 ? (int32_t)be32(p)
                          : (int64_t)be64(p);
        it->kind = it->i < 0 ? MP_JSON__K_INT : MP_JSON__K_UINT;
        it->u = (uint64_t)it->i;
        *pp = p + hl;
        return 0;
    case 0xdc:
    case 0xdd:
    case 0xde:
    case 0xdf:
        hl = (c == 0xdc || c == 0xde) ? 2 : 4;
        if (avail < hl)
            return fail(ctx, "truncated msgpack");
        len = hl == 2 ? be16(p) : be32(p);
        p += hl;
        avail -= hl;
        it->kind = c <= 0xdd ? MP_JSON__K_ARR : MP_JSON__K_MAP;
        goto container;
    default:
        return fail(ctx, "invalid msgpack type 0xc1");
    }
container:
    if (len > avail / (it->kind == MP_JSON__K_MAP ? 2 : 1))
        return fail(ctx, "msgpack count exceeds message");
    it->len = len;
    *pp = p;
    return 0;
payload:
    if (len > avail)
        return fail(ctx, "truncated msgpack");
    it->data = p;
    it->len = len;
    *pp = p + len;
    return 0;
}

/* Skips one value (iteratively: any depth). Returns 0 or SIOC_EPROTO. */
int mp_json__skip(adapter_msg_ctx_t *ctx, cptr *pp, cptr end)
{
    size_t pending = 1;
    mp_json__item_t it;
    while (pending) {
        int r = mp_json__head(ctx, pp, end, &it);
        if (r)
            return r;
        pending--;
        if (it.kind == MP_JSON__K_ARR)
            pending += it.len;
        else if (it.kind == MP_JSON__K_MAP)
            pending += 2 * it.len;
    }
    return 0;
}

/* JS value of an integer item: int64/uint64 become doubles as notepack does. */
double mp_json__item_num(const mp_json__item_t *it)
{
    if (it->kind == MP_JSON__K_UINT)
        return (double)it->u;
    if (it->kind == MP_JSON__K_INT)
        return (double)it->i;
    return it->f;
}

static int is_undefined(const mp_json__item_t *it)
{
    return it->kind == MP_JSON__K_EXT && it->fmt == 0xd4 && it->ext == 0;
}

/* ---------------------------------------------------------------- msgpack -> JSON */

typedef struct {
    adapter_msg_ctx_t *ctx;
    cptr end;
    sioc_buf_t *out;
    adapter_msg_att_t *att;
} m2j_t;

/* One map member as seen by the key pre-scan; starts with its key for js_value_key_order. */
typedef struct {
    js_value_member_t m; /* key (msgpack -> JSON: repaired while rawkey holds the bytes), order */
    cptr val;
    size_t koff; /* JSON -> msgpack: key payload, member and value offsets in the output */
    size_t mstart, vstart, mend;
    cptr rawkey; /* msgpack -> JSON: the key bytes while `key` holds their repaired form */
} mrec_t;

static int put_placeholder(m2j_t *c, cptr data, size_t len)
{
    adapter_msg_att_t *a = c->att;
    if (a == NULL || a->n >= a->cap)
        return fail(c->ctx, "too many attachments");
    a->v[a->n] = iov_make((const char *)data, len);
    char tmp[48];
    memcpy(tmp, "{\"_placeholder\":true,\"num\":", 27);
    size_t n = 27 + js_value_u64(tmp + 27, a->n);
    tmp[n++] = '}';
    a->n++;
    return buf_append(c->out, tmp, n);
}

static int m2j_value(m2j_t *c, cptr *pp, unsigned depth, int *undef);

/*
 * Orders the members of a map as a JS object would hold them
 * (js_value_key_order). Records live in ctx->_stack at `base`; on return the
 * uint32 record numbers to emit follow them, and *m is their count.
 */
static int map_order(adapter_msg_ctx_t *ctx, size_t base, size_t n, int drop_proto, size_t *m)
{
    sioc_buf_t *s = &ctx->_stack;
    int r = buf_reserve(s, 2 * n * sizeof(uint32_t));
    if (r)
        return r;
    uint32_t *ord = (uint32_t *)(void *)(s->base + s->len);
    *m = js_value_key_order(s->base + base, sizeof(mrec_t), n, drop_proto, ord, ord + n);
    return 0;
}

static int m2j_map(m2j_t *c, cptr *pp, size_t n, unsigned depth)
{
    adapter_msg_ctx_t *ctx = c->ctx;
    sioc_buf_t *s = &ctx->_stack;
    size_t base = s->len;
    int r, undef;
    if (n == 0)
        return buf_append(c->out, "{}", 2);
    if ((r = buf_reserve(s, n * sizeof(mrec_t))))
        return r;
    s->len += n * sizeof(mrec_t);
    mrec_t *rec = (mrec_t *)(void *)(s->base + base);
    int canonical = 1, seen_named = 0, repair = 0;
    int64_t prev = -1;
    for (size_t i = 0; i < n; i++) {
        mp_json__item_t it;
        if ((r = mp_json__head(ctx, pp, c->end, &it)))
            goto out;
        if (it.kind != MP_JSON__K_STR) {
            r = fail(ctx, "map key is not a string");
            goto out;
        }
        if (!utf8_is_valid(it.data, it.len)) {
            repair = 1; /* distinct bytes may decode to the same key */
            canonical = 0;
        }
        rec[i].m.key = it.data;
        rec[i].m.klen = it.len;
        rec[i].val = *pp;
        rec[i].m.first = (uint32_t)i;
        rec[i].m.last = (uint32_t)i;
        rec[i].m.idx = js_value_array_index((const char *)it.data, it.len);
        if (rec[i].m.idx >= 0) {
            if (seen_named || rec[i].m.idx <= prev)
                canonical = 0;
            prev = rec[i].m.idx;
        } else {
            seen_named = 1;
            if (js_value_is_proto((const char *)it.data, it.len))
                canonical = 0;
        }
        if ((r = mp_json__skip(ctx, pp, c->end)))
            goto out;
    }
    cptr after = *pp;
    if (canonical && n > 1) {
        if (n <= 16) {
            for (size_t i = 1; i < n && canonical; i++)
                for (size_t j = 0; j < i; j++)
                    if (rec[i].m.klen == rec[j].m.klen &&
                        memcmp(rec[i].m.key, rec[j].m.key, rec[i].m.klen) == 0) {
                        canonical = 0;
                        break;
                    }
        } else {
            canonical = 0; /* large maps take the sorting path */
        }
    }
    size_t m = n, ordoff = 0;
    if (!canonical) {
        sioc_buf_t *t = &ctx->_tmp;
        size_t t0 = t->len;
        if (repair) {
            /* compare keys as JS strings: ill-formed bytes repaired first */
            for (size_t i = 0; i < n; i++) {
                rec[i].rawkey = rec[i].m.key;
                rec[i].koff = t->len;
                if ((r = utf8_repair_append(t, rec[i].m.key, rec[i].m.klen)))
                    goto out;
                rec[i].mend = rec[i].m.klen;
                rec[i].m.klen = t->len - rec[i].koff;
            }
            for (size_t i = 0; i < n; i++)
                rec[i].m.key = (cptr)t->base + rec[i].koff;
        }
        r = map_order(ctx, base, n, 1, &m);
        rec = (mrec_t *)(void *)(s->base + base);
        if (repair) {
            for (size_t i = 0; i < n; i++) {
                rec[i].m.key = rec[i].rawkey;
                rec[i].m.klen = rec[i].mend;
            }
            t->len = t0;
        }
        if (r)
            goto out;
        ordoff = s->len;
        s->len += 2 * n * sizeof(uint32_t);
    }
    if ((r = buf_append_byte(c->out, '{')))
        goto out;
    int first = 1;
    for (size_t i = 0; i < m; i++) {
        rec = (mrec_t *)(void *)(s->base + base); /* nested maps may move the stack */
        size_t ri = canonical ? i : ((uint32_t *)(void *)(s->base + ordoff))[i];
        cptr kp = rec[ri].m.key, vp = rec[ri].val;
        size_t kl = rec[ri].m.klen, mark = c->out->len;
        if ((!first && (r = buf_append_byte(c->out, ','))) ||
            (r = sio_json_append_string(c->out, (const char *)kp, kl)) ||
            (r = buf_append_byte(c->out, ':')))
            goto out;
        if ((r = m2j_value(c, &vp, depth + 1, &undef)))
            goto out;
        if (undef)
            c->out->len = mark; /* JSON.stringify omits undefined members */
        else
            first = 0;
    }
    *pp = after;
    r = buf_append_byte(c->out, '}');
out:
    s->len = base;
    return r;
}

/* `depth` is the nesting level of the value: a placeholder object adds one level of
 * JSON and the generic [type, <bin>] form two, and the JSON must stay within
 * max_depth so that what is accepted here can be encoded back (mp_json_to_mp). */
static int m2j_ext(m2j_t *c, const mp_json__item_t *it, unsigned depth)
{
    sioc_buf_t *o = c->out;
    cptr d = it->data;
    if (it->ext == 0 && it->fmt >= 0xc7 && it->fmt <= 0xc9) {
        if (depth >= c->ctx->limits.max_depth)
            return fail(c->ctx, "nesting too deep");
        return put_placeholder(c, d, it->len); /* legacy ArrayBuffer */
    }
    if (it->ext == -1 && it->fmt == 0xd6)
        return js_value_json_date(o, (double)be32(d) * 1e3);
    if (it->ext == -1 && it->fmt == 0xd7) {
        uint32_t hi = be32(d), lo = be32(d + 4);
        double s = (double)(hi & 3) * 4294967296.0 + lo;
        return js_value_json_date(o, s * 1e3 + (double)(hi >> 2) / 1e6);
    }
    if (it->ext == -1 && it->fmt == 0xc7) {
        uint32_t ns = be32(d), lo = be32(d + 8);
        int32_t hi = (int32_t)be32(d + 4);
        return js_value_json_date(o, ((double)hi * 4294967296.0 + lo) * 1e3 + (double)ns / 1e6);
    }
    if (it->ext == 0 && it->fmt == 0xd7) {
        int32_t hi = (int32_t)be32(d);
        return js_value_json_date(o, (double)hi * 4294967296.0 + be32(d + 4));
    }
    if (depth + 1 >= c->ctx->limits.max_depth)
        return fail(c->ctx, "nesting too deep");
    char tmp[8];
    int r;
    size_t n = 0;
    tmp[n++] = '[';
    if (it->ext < 0)
        tmp[n++] = '-';
    n += js_value_u64(tmp + n, (uint64_t)(it->ext < 0 ? -it->ext : it->ext));
    tmp[n++] = ',';
    if ((r = buf_append(o, tmp, n)) || (r = put_placeholder(c, d, it->len)))
        return r;
    return buf_append_byte(o, ']');
}

static int m2j_value(m2j_t *c, cptr *pp, unsigned depth, int *undef)
{
    mp_json__item_t it;
    int r = mp_json__head(c->ctx, pp, c->end, &it);
    *undef = 0;
    if (r)
        return r;
    switch (it.kind) {
    case MP_JSON__K_UINT:
        if (it.u < (1ULL << 53)) {
            char tmp[24];
            return buf_append(c->out, tmp, js_value_u64(tmp, it.u));
        }
        return js_value_json_number(c->out, mp_json__item_num(&it));
    case MP_JSON__K_INT:
    case MP_JSON__K_FLOAT:
        return js_value_json_number(c->out, mp_json__item_num(&it));
    case MP_JSON__K_NIL:
        return buf_append(c->out, "null", 4);
    case MP_JSON__K_FALSE:
        return buf_append(c->out, "false", 5);
    case MP_JSON__K_TRUE:
        return buf_append(c->out, "true", 4);
    case MP_JSON__K_STR:
        return sio_json_append_string(c->out, (const char *)it.data, it.len);
    case MP_JSON__K_BIN:
        if (depth >= c->ctx->limits.max_depth)
            return fail(c->ctx, "nesting too deep");
        return put_placeholder(c, it.data, it.len);
    case MP_JSON__K_EXT:
        if (is_undefined(&it)) {
            *undef = 1;
            return 0;
        }
        return m2j_ext(c, &it, depth);
    default:
        break;
    }
    if (depth >= c->ctx->limits.max_depth)
        return fail(c->ctx, "nesting too deep");
    if (it.len > c->ctx->limits.max_elems)
        return fail(c->ctx, "too many entries");
    if (it.kind == MP_JSON__K_MAP)
        return m2j_map(c, pp, it.len, depth);
    if ((r = buf_append_byte(c->out, '[')))
        return r;
    for (size_t i = 0; i < it.len; i++) {
        int u;
        if ((i && (r = buf_append_byte(c->out, ','))) || (r = m2j_value(c, pp, depth + 1, &u)))
            return r;
        if (u && (r = buf_append(c->out, "null", 4)))
            return r;
    }
    return buf_append_byte(c->out, ']');
}

int mp_json_to_json(adapter_msg_ctx_t *ctx, const char *mp, size_t len, sioc_buf_t *json,
                    adapter_msg_att_t *att)
{
    ctx->reason = NULL;
    if (len > ctx->limits.max_size)
        return fail(ctx, "message too large");
    m2j_t c = {ctx, (cptr)mp + len, json, att};
    cptr p = (cptr)mp;
    int undef;
    mp_json__cap_t cap = mp_json__cap_push(json, ctx->limits.max_out);
    int r = m2j_value(&c, &p, 0, &undef);
    if (!r && undef)
        r = buf_append(json, "null", 4);
    mp_json__cap_pop(cap);
    return r ? r : (int)(p - (cptr)mp);
}

/* ---------------------------------------------------------------- JSON scanning */
/*
 * The JSON grammar is jscan's (sio/jscan.h): whitespace, string and number
 * tokens, and whole values skipped or validated within the limits. What
 * stays here is only what the conversion needs to know about a token.
 */

cptr mp_json__ws(cptr p, cptr end)
{
    return p + jscan_ws((const char *)p, (size_t)(end - p));
}

/* Scans the string whose opening quote is at *pp; leaves *pp after the closing one. */
int mp_json__str_scan(adapter_msg_ctx_t *ctx, cptr *pp, cptr end, mp_json__str_t *s)
{
    const char *why = NULL;
    size_t n = jscan_string_token((const char *)*pp, (size_t)(end - *pp), &why);
    if (n == 0)
        return fail(ctx, why);
    cptr p = *pp + 1, close = *pp + n - 1;
    size_t bytes = 0;
    s->body = p;
    s->close = close;
    s->escaped = s->sur = 0;
    while (p < close) {
        cptr bs = memchr(p, '\\', (size_t)(close - p));
        if (bs == NULL) {
            bytes += (size_t)(close - p);
            break;
        }
        bytes += (size_t)(bs - p);
        s->escaped = 1;
        if (bs[1] == 'u') {
            int32_t u = hex_val4(bs + 2);
            if (u >= 0xd800 && u <= 0xdfff)
                s->sur = 1;
            bytes += u < 0x80 ? 1 : u < 0x800 ? 2 : 3;
            p = bs + 6;
        } else {
            bytes++;
            p = bs + 2;
        }
    }
    s->bytes = bytes;
    *pp = close + 1;
    return 0;
}

/* Decodes a scanned string without surrogate escapes into o (s->bytes long). */
void mp_json__str_decode(const mp_json__str_t *s, unsigned char *o)
{
    cptr p = s->body;
    while (p < s->close) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        unsigned e = p[1];
        p += 2;
        switch (e) {
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u':
            o += utf8_encode((uint32_t)hex_val4(p), o);
            p += 4;
            break;
        default:
            *o++ = (unsigned char)e;
            break;
        }
    }
}

/* Decodes a scanned string into UTF-16 units (the JS string); returns the count. */
size_t mp_json__str_utf16(const mp_json__str_t *s, uint16_t *u)
{
    cptr p = s->body;
    size_t n = 0;
    while (p < s->close) {
        if (*p == '\\') {
            unsigned e = p[1];
            p += 2;
            switch (e) {
            case 'b':
                u[n++] = '\b';
                break;
            case 'f':
                u[n++] = '\f';
                break;
            case 'n':
                u[n++] = '\n';
                break;
            case 'r':
                u[n++] = '\r';
                break;
            case 't':
                u[n++] = '\t';
                break;
            case 'u':
                u[n++] = (uint16_t)hex_val4(p);
                p += 4;
                break;
            default:
                u[n++] = (uint16_t)e;
                break;
            }
            continue;
        }
        size_t bad, l = utf8_seq(p, (size_t)(s->close - p), &bad);
        uint32_t cp =
            l == 1   ? p[0]
            : l == 2 ? (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f)
            : l == 3 ? (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f)
                     : (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
                           (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
        p += l;
        if (cp >= 0x10000) {
            u[n++] = (uint16_t)(0xd800 + ((cp - 0x10000) >> 10));
            u[n++] = (uint16_t)(0xdc00 + (cp & 0x3ff));
        } else {
            u[n++] = (uint16_t)cp;
        }
    }
    return n;
}

/* notepack's utf8Write (custom) bytes for u[0..n) into o (NULL: count only). */
static size_t np_utf8_custom(const uint16_t *u, size_t n, unsigned char *o)
{
    size_t len = 0;
    unsigned char tmp[4];
    for (size_t i = 0; i < n; i++) {
        uint32_t c = u[i];
        if (c >= 0xd800 && c < 0xe000) {
            i++;
            c = 0x10000 + (((c & 0x3ff) << 10) | (i < n ? (u[i] & 0x3ffu) : 0));
        }
        size_t l = utf8_encode(c, o ? o + len : tmp);
        len += l;
    }
    return len;
}

int mp_json__lit(adapter_msg_ctx_t *ctx, cptr *pp, cptr end, const char *lit, size_t n)
{
    if ((size_t)(end - *pp) < n || memcmp(*pp, lit, n) != 0)
        return fail(ctx, "invalid JSON literal");
    *pp += n;
    return 0;
}

/* Parses a JSON number at *pp into *d (NULL: validate only) as JSON.parse does. */
int mp_json__number(adapter_msg_ctx_t *ctx, cptr *pp, cptr end, double *d)
{
    const char *why = NULL;
    cptr s = *pp;
    size_t n = jscan_number_token((const char *)s, (size_t)(end - s), &why);
    if (n == 0)
        return fail(ctx, why);
    *pp = s + n;
    if (d == NULL)
        return 0;
    int neg = *s == '-';
    if (n - (size_t)neg <= 15 && memchr(s, '.', n) == NULL && memchr(s, 'e', n) == NULL &&
        memchr(s, 'E', n) == NULL) {
        int64_t v = 0;
        for (cptr q = s + neg; q < s + n; q++)
            v = v * 10 + (*q - '0');
        *d = neg ? -(double)v : (double)v;
        return 0;
    }
    char small[80], *tmp = small;
    sioc_buf_t *t = &ctx->_tmp;
    if (n >= sizeof(small)) {
        int r = buf_reserve(t, n + 1);
        if (r)
            return r;
        tmp = t->base + t->len;
    }
    memcpy(tmp, s, n);
    tmp[n] = 0;
    *d = strtod(tmp, NULL);
    return 0;
}

/* The adapter's limits on a value that jscan walks: nesting and entries per container. */
typedef struct {
    const adapter_msg_limits_t *lim;
    const char *reason;
    uint8_t kind[JSCAN_MAX_DEPTH];
    uint32_t count[JSCAN_MAX_DEPTH];
} js_limits_t;

static int js_limits_cb(const jscan_event_t *ev, void *data)
{
    js_limits_t *l = data;
    if (ev->type == JSCAN_EV_END)
        return 0;
    unsigned d = ev->depth;
    /* An entry of the enclosing container: an object's key, an array's value. */
    if (d > 0 && (ev->type == JSCAN_EV_KEY || l->kind[d - 1] == JSCAN_ARRAY) &&
        ++l->count[d - 1] > l->lim->max_elems) {
        l->reason = "too many entries";
        return SIOC_EPROTO;
    }
    if (ev->type == JSCAN_EV_BEGIN) {
        if (d >= l->lim->max_depth) {
            l->reason = "nesting too deep";
            return SIOC_EPROTO;
        }
        l->kind[d] = (uint8_t)ev->kind;
        l->count[d] = 0;
    }
    return 0;
}

/*
 * Validates one JSON value at *pp (leading whitespace allowed) within the
 * limits and leaves *pp after it; `whole`: nothing but whitespace may follow.
 */
static int js_walk(adapter_msg_ctx_t *ctx, cptr *pp, cptr end, int whole)
{
    js_limits_t l;
    l.lim = &ctx->limits;
    l.reason = NULL;
    jscan_value_t v;
    const char *p = (const char *)*pp;
    size_t n = (size_t)(end - *pp);
    int r = whole ? jscan_walk(p, n, &v, js_limits_cb, &l)
                  : jscan_walk_prefix(p, n, &v, js_limits_cb, &l);
    if (r < 0)
        return fail(ctx, l.reason ? l.reason : v.reason);
    *pp = (cptr)v.tok.base + v.tok.len;
    return 0;
}

/* Skips one JSON value with full validation. */
int mp_json__skip_json(adapter_msg_ctx_t *ctx, cptr *pp, cptr end)
{
    return js_walk(ctx, pp, end, 0);
}

/* Validates that [p, p+n) is exactly one JSON value (whitespace around it allowed). */
int mp_json__validate(adapter_msg_ctx_t *ctx, const char *s, size_t n)
{
    cptr p = (cptr)s;
    return js_walk(ctx, &p, p + n, 1);
}

/* ---------------------------------------------------------------- msgpack writer */

int mp_json__pk_write(void *data, const char *buf, size_t len)
{
    return buf_append((sioc_buf_t *)data, buf, len);
}

/* Packs a JS number as notepack.encode does. */
int mp_json__pk_number(msgpack_packer *pk, sioc_buf_t *b, double d)
{
    unsigned char raw[9];
    uint64_t bits;
    if (!js_value_is_integral(d))
        return msgpack_pack_double(pk, d);
    if (d >= 0) {
        if (d < 4294967296.0)
            return msgpack_pack_uint64(pk, (uint64_t)d);
        raw[0] = 0xcf;
        if (d < JS_VALUE_TWO64) {
            bits = (uint64_t)d;
        } else {
            /* notepack: hi = (d / 2^32) >> 0, lo = d >>> 0, i.e. d mod 2^64 */
            uint64_t u;
            memcpy(&u, &d, 8);
            int e = (int)((u >> 52) & 0x7ff) - 1075;
            uint64_t mant = (u & ((1ULL << 52) - 1)) | (1ULL << 52);
            bits = e >= 64 ? 0 : mant << e;
        }
    } else {
        if (d >= -2147483648.0)
            return msgpack_pack_int64(pk, (int64_t)d);
        raw[0] = 0xd3;
        if (d >= -JS_VALUE_TWO63) {
            bits = (uint64_t)(int64_t)d;
        } else {
            double a = -d;
            uint64_t u;
            memcpy(&u, &a, 8);
            int e = (int)((u >> 52) & 0x7ff) - 1075;
            uint64_t mant = (u & ((1ULL << 52) - 1)) | (1ULL << 52);
            bits = 0 - (e >= 64 ? 0 : mant << e);
        }
    }
    for (int i = 0; i < 8; i++)
        raw[1 + i] = (unsigned char)(bits >> (56 - 8 * i));
    return buf_append(b, raw, 9);
}

/* Rewrites the 1-byte container header at `pos` for `n` entries (map or array). */
static int pk_fix_header(sioc_buf_t *b, size_t pos, size_t n, int map)
{
    unsigned char h[5];
    size_t hl;
    if (n < 16) {
        h[0] = (unsigned char)((map ? 0x80 : 0x90) | n);
        hl = 1;
    } else if (n < 65536) {
        h[0] = map ? 0xde : 0xdc;
        h[1] = (unsigned char)(n >> 8);
        h[2] = (unsigned char)n;
        hl = 3;
    } else {
        h[0] = map ? 0xdf : 0xdd;
        for (int i = 0; i < 4; i++)
            h[1 + i] = (unsigned char)(n >> (24 - 8 * i));
        hl = 5;
    }
    if (hl > 1) {
        int r = buf_reserve(b, hl - 1);
        if (r)
            return r;
        memmove(b->base + pos + hl, b->base + pos + 1, b->len - pos - 1);
        b->len += hl - 1;
    }
    memcpy(b->base + pos, h, hl);
    return 0;
}

/* ---------------------------------------------------------------- JSON -> msgpack */

typedef struct {
    adapter_msg_ctx_t *ctx;
    cptr end;
    sioc_buf_t *out;
    msgpack_packer pk;
    const adapter_msg_value_t *v;
} j2m_t;

/* Packs a scanned JSON string as notepack would pack the JS string; *plen = payload bytes. */
static int j2m_str(j2m_t *c, const mp_json__str_t *s, int is_key, size_t *plen)
{
    sioc_buf_t *o = c->out;
    int r;
    if (!s->sur) {
        if ((r = msgpack_pack_str(&c->pk, s->bytes)) || (r = buf_reserve(o, s->bytes)))
            return r;
        if (!s->escaped)
            memcpy(o->base + o->len, s->body, s->bytes);
        else
            mp_json__str_decode(s, (unsigned char *)o->base + o->len);
        o->len += s->bytes;
        *plen = s->bytes;
        return 0;
    }
    /* lone surrogates possible: work on the UTF-16 units as notepack does */
    size_t raw = (size_t)(s->close - s->body);
    sioc_buf_t *t = &c->ctx->_tmp;
    if ((r = buf_reserve(t, raw * 2 + raw * 4 + 8)))
        return r;
    uint16_t *u = (uint16_t *)(void *)t->base;
    unsigned char *cb = (unsigned char *)t->base + raw * 2;
    size_t n = mp_json__str_utf16(s, u);
    size_t lc = np_utf8_custom(u, n, NULL);
    size_t lw = js_value_utf16_to_utf8(u, n, NULL, (size_t)-1);
    size_t hdr = n > 32 ? lw : lc;
    int whatwg = !is_key && hdr > 32;
    if ((r = msgpack_pack_str(&c->pk, hdr)) || (r = buf_reserve(o, hdr)))
        return r;
    unsigned char *dst = (unsigned char *)o->base + o->len;
    size_t w;
    if (whatwg) {
        w = js_value_utf16_to_utf8(u, n, dst, hdr);
    } else {
        np_utf8_custom(u, n, cb);
        w = lc < hdr ? lc : hdr;
        memcpy(dst, cb, w);
    }
    memset(dst + w, 0, hdr - w); /* bytes notepack leaves uninitialised */
    o->len += hdr;
    *plen = hdr;
    return 0;
}

static int j2m_value(j2m_t *c, cptr *pp, unsigned depth);

/* Reads the unsigned integer msgpack packed at q (our own output); -1 if it is not one. */
static int64_t packed_uint(cptr q, size_t n)
{
    if (n == 1 && q[0] < 0x80)
        return q[0];
    if (n == 2 && q[0] == 0xcc)
        return q[1];
    if (n == 3 && q[0] == 0xcd)
        return be16(q + 1);
    if (n == 5 && q[0] == 0xce)
        return be32(q + 1);
    if (n == 9 && q[0] == 0xcf && be64(q + 1) < (1ULL << 62))
        return (int64_t)be64(q + 1);
    return -1;
}

/* Map done: turn a live placeholder into bin, else put members in JS order. */
static int j2m_map_end(j2m_t *c, size_t hdr, size_t base, size_t n, int has_ph)
{
    adapter_msg_ctx_t *ctx = c->ctx;
    sioc_buf_t *o = c->out, *s = &ctx->_stack;
    mrec_t *rec = (mrec_t *)(void *)(s->base + base);
    int r;
    for (size_t i = 0; i < n; i++)
        rec[i].m.key = (cptr)o->base + rec[i].koff;
    if (has_ph && c->v->binary) {
        const mrec_t *ph = NULL, *num = NULL;
        for (size_t i = 0; i < n; i++) {
            if (rec[i].m.klen == 12 && memcmp(rec[i].m.key, "_placeholder", 12) == 0)
                ph = &rec[i];
            else if (rec[i].m.klen == 3 && memcmp(rec[i].m.key, "num", 3) == 0)
                num = &rec[i];
        }
        if (ph != NULL && ph->mend - ph->vstart == 1 &&
            (unsigned char)o->base[ph->vstart] == 0xc3) {
            int64_t k =
                num ? packed_uint((cptr)o->base + num->vstart, num->mend - num->vstart) : -1;
            if (k < 0 || (uint64_t)k >= c->v->natt)
                return fail(ctx, "illegal attachments");
            const sioc_iov_t *a = &c->v->att[k];
            o->len = hdr;
            if ((r = msgpack_pack_bin(&c->pk, a->len)))
                return r;
            return msgpack_pack_bin_body(&c->pk, a->base, a->len);
        }
    }
    int canonical = 1, seen_named = 0;
    int64_t prev = -1;
    for (size_t i = 0; i < n && canonical; i++) {
        rec[i].m.idx = js_value_array_index((const char *)rec[i].m.key, rec[i].m.klen);
        rec[i].m.first = rec[i].m.last = (uint32_t)i;
        if (rec[i].m.idx >= 0) {
            if (seen_named || rec[i].m.idx <= prev)
                canonical = 0;
            prev = rec[i].m.idx;
        } else {
            seen_named = 1;
        }
        for (size_t j = 0; j < i && canonical; j++)
            if (rec[i].m.klen == rec[j].m.klen &&
                memcmp(rec[i].m.key, rec[j].m.key, rec[i].m.klen) == 0)
                canonical = 0;
        if (n > 16)
            canonical = 0;
    }
    if (canonical)
        return pk_fix_header(o, hdr, n, 1);
    for (size_t i = 0; i < n; i++) {
        rec[i].m.idx = js_value_array_index((const char *)rec[i].m.key, rec[i].m.klen);
        rec[i].m.first = rec[i].m.last = (uint32_t)i;
    }
    size_t m;
    if ((r = map_order(ctx, base, n, 0, &m)))
        return r;
    rec = (mrec_t *)(void *)(s->base + base);
    const uint32_t *ord = (const uint32_t *)(void *)(s->base + s->len);
    size_t body = o->len - (hdr + 1), w = 0;
    sioc_buf_t *t = &ctx->_tmp;
    if ((r = buf_reserve(t, body)))
        return r;
    for (size_t i = 0; i < m; i++) {
        const mrec_t *x = &rec[ord[i]];
        memcpy(t->base + w, o->base + x->mstart, x->mend - x->mstart);
        w += x->mend - x->mstart;
    }
    memcpy(o->base + hdr + 1, t->base, w);
    o->len = hdr + 1 + w;
    return pk_fix_header(o, hdr, m, 1);
}

static int j2m_container(j2m_t *c, cptr *pp, unsigned depth, int obj)
{
    adapter_msg_ctx_t *ctx = c->ctx;
    sioc_buf_t *o = c->out, *s = &ctx->_stack;
    size_t hdr = o->len, base = s->len, n = 0;
    int r, has_ph = 0;
    cptr p = mp_json__ws(*pp + 1, c->end);
    if (depth >= ctx->limits.max_depth)
        return fail(ctx, "nesting too deep");
    if ((r = buf_append_byte(o, (char)(obj ? 0x80 : 0x90))))
        return r;
    if (p < c->end && *p == (obj ? '}' : ']')) {
        *pp = p + 1;
        return 0;
    }
    for (;;) {
        if (++n > ctx->limits.max_elems) {
            r = fail(ctx, "too many entries");
            goto out;
        }
        if (obj) {
            mp_json__str_t ks;
            size_t plen;
            p = mp_json__ws(p, c->end);
            if (p >= c->end || *p != '"') {
                r = fail(ctx, "expected JSON object key");
                goto out;
            }
            if ((r = mp_json__str_scan(ctx, &p, c->end, &ks)) ||
                (r = buf_reserve(s, sizeof(mrec_t))))
                goto out;
            mrec_t *rec = (mrec_t *)(void *)(s->base + s->len);
            s->len += sizeof(mrec_t);
            rec->mstart = o->len;
            if ((r = j2m_str(c, &ks, 1, &plen)))
                goto out;
            rec = (mrec_t *)(void *)(s->base + s->len - sizeof(mrec_t));
            rec->koff = o->len - plen;
            rec->m.klen = plen;
            if (plen == 12 && memcmp(o->base + rec->koff, "_placeholder", 12) == 0)
                has_ph = 1;
            p = mp_json__ws(p, c->end);
            if (p >= c->end || *p != ':') {
                r = fail(ctx, "expected ':'");
                goto out;
            }
            p++;
            rec->vstart = o->len;
        }
        if ((r = j2m_value(c, &p, depth + 1)))
            goto out;
        if (obj)
            ((mrec_t *)(void *)(s->base + s->len - sizeof(mrec_t)))->mend = o->len;
        p = mp_json__ws(p, c->end);
        if (p < c->end && *p == ',') {
            p++;
            continue;
        }
        if (p < c->end && *p == (obj ? '}' : ']')) {
            p++;
            break;
        }
        r = fail(ctx, "expected ',' or end of JSON container");
        goto out;
    }
    r = obj ? j2m_map_end(c, hdr, base, n, has_ph) : pk_fix_header(o, hdr, n, 0);
    *pp = p;
out:
    s->len = base;
    return r;
}

static int j2m_value(j2m_t *c, cptr *pp, unsigned depth)
{
    cptr p = mp_json__ws(*pp, c->end);
    int r;
    if (p >= c->end)
        return fail(c->ctx, "truncated JSON");
    switch (*p) {
    case '{':
    case '[':
        r = j2m_container(c, &p, depth, *p == '{');
        break;
    case '"': {
        mp_json__str_t s;
        size_t plen;
        if (!(r = mp_json__str_scan(c->ctx, &p, c->end, &s)))
            r = j2m_str(c, &s, 0, &plen);
        break;
    }
    case 't':
        if (!(r = mp_json__lit(c->ctx, &p, c->end, "true", 4)))
            r = msgpack_pack_true(&c->pk);
        break;
    case 'f':
        if (!(r = mp_json__lit(c->ctx, &p, c->end, "false", 5)))
            r = msgpack_pack_false(&c->pk);
        break;
    case 'n':
        if (!(r = mp_json__lit(c->ctx, &p, c->end, "null", 4)))
            r = msgpack_pack_nil(&c->pk);
        break;
    default: {
        double d;
        if (!(r = mp_json__number(c->ctx, &p, c->end, &d)))
            r = mp_json__pk_number(&c->pk, c->out, d);
    }
    }
    if (!r)
        *pp = p;
    return r;
}

/* Converts one whole JSON text to msgpack appended to `mp` (no limit push). */
int mp_json__to_mp_run(adapter_msg_ctx_t *ctx, const adapter_msg_value_t *v, sioc_buf_t *mp)
{
    j2m_t c = {ctx, (cptr)v->json.base + v->json.len, mp, {0}, v};
    cptr p = (cptr)v->json.base;
    msgpack_packer_init(&c.pk, mp, mp_json__pk_write);
    if (v->json.len > ctx->limits.max_size)
        return fail(ctx, "message too large");
    int r = j2m_value(&c, &p, 0);
    if (r)
        return r;
    if (mp_json__ws(p, c.end) != c.end)
        return fail(ctx, "trailing bytes after JSON value");
    return 0;
}

int mp_json_to_mp(adapter_msg_ctx_t *ctx, const adapter_msg_value_t *v, sioc_buf_t *mp)
{
    ctx->reason = NULL;
    if (v->json.base == NULL)
        return fail(ctx, "no JSON text");
    mp_json__cap_t cap = mp_json__cap_push(mp, ctx->limits.max_out);
    int r = mp_json__to_mp_run(ctx, v, mp);
    mp_json__cap_pop(cap);
    return r ? r : (int)v->json.len;
}

int mp_json__to_json_value(adapter_msg_ctx_t *ctx, cptr *pp, cptr end, sioc_buf_t *json,
                           adapter_msg_att_t *att, int *undef)
{
    m2j_t c = {ctx, end, json, att};
    return m2j_value(&c, pp, 0, undef);
}
