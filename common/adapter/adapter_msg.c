/*
 * adapter_msg.c - Redis adapter message codec (adapter_msg.h).
 *
 * Job: make a C worker interoperate byte for byte with Node servers running
 * @socket.io/redis-adapter 8.3 (classic and sharded) and the redis-emitter
 * 5.1 (PROTOCOL.md §5.1-§5.4). The worker keeps event data as compact JSON
 * text plus attachments (§2.2); Redis carries notepack.io 3.0.x msgpack, or
 * JSON text for most requests/responses and sharded messages without binary.
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
 * Envelopes: keys may come in any order and unknown keys are skipped; a
 * repeated key is read again (the last wins). Envelope strings (uid, nsp,
 * requestId, rooms) from msgpack are raw slices of the message; from JSON they
 * are slices too unless escapes had to be decoded (lone surrogates -> U+FFFD,
 * as Buffer.from(str) does). Numeric room names become JS number strings.
 * The sharded adapter's BROADCAST packet carries no nsp (ClusterAdapter
 * publishes before the namespace is set); it is left absent there, while the
 * classic decoders default a missing nsp to "/" as the adapter does.
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
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* qsort_r */
#endif
#include "adapter/adapter_msg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack/pack.h>

#include "base/err.h"
#include "base/hex.h"
#include "base/utf8.h"
#include "sio/jscan.h"
#include "sio/sio_json.h"

typedef const unsigned char *cptr;

/* ---------------------------------------------------------------- context */

void adapter_msg_ctx_init(adapter_msg_ctx_t *ctx, const adapter_msg_limits_t *limits)
{
    memset(ctx, 0, sizeof(*ctx));
    if (limits != NULL) {
        ctx->limits = *limits;
    } else {
        ctx->limits.max_size = ADAPTER_MSG_MAX_SIZE;
        ctx->limits.max_out = ADAPTER_MSG_MAX_OUT;
        ctx->limits.max_depth = ADAPTER_MSG_MAX_DEPTH;
        ctx->limits.max_elems = ADAPTER_MSG_MAX_ELEMS;
        ctx->limits.max_list = ADAPTER_MSG_MAX_LIST;
    }
    if (ctx->limits.max_depth > 256)
        ctx->limits.max_depth = 256;
    if (ctx->limits.max_size > 0x7fffffff) /* results are ints */
        ctx->limits.max_size = 0x7fffffff;
}

void adapter_msg_ctx_free(adapter_msg_ctx_t *ctx)
{
    buf_free(&ctx->_stack);
    buf_free(&ctx->_tmp);
    buf_free(&ctx->_str);
    buf_free(&ctx->_list);
}

static int fail(adapter_msg_ctx_t *ctx, const char *reason)
{
    ctx->reason = reason;
    return SIOC_EPROTO;
}

static int bad_input(adapter_msg_ctx_t *ctx, const char *reason)
{
    ctx->reason = reason;
    return SIOC_EINVAL;
}

/* Caps `b` at `extra` more bytes for the duration of one call. */
typedef struct {
    sioc_buf_t *b;
    size_t limit;
} cap_t;

static cap_t cap_push(sioc_buf_t *b, size_t extra)
{
    cap_t c = {b, b->limit};
    size_t lim = b->len + extra < b->len ? (size_t)-1 : b->len + extra;
    if (b->limit == 0 || lim < b->limit)
        b->limit = lim;
    return c;
}

static void cap_pop(cap_t c)
{
    c.b->limit = c.limit;
}

/* ---------------------------------------------------------------- numbers */

#define TWO53 9007199254740992.0
#define TWO63 9223372036854775808.0
#define TWO64 18446744073709551616.0

/* trunc() without libm: doubles at or beyond 2^52 are already integral. */
static double dtrunc(double x)
{
    if (x > -4503599627370496.0 && x < 4503599627370496.0)
        return (double)(int64_t)x;
    return x;
}

static int is_integral(double x)
{
    return isfinite(x) && dtrunc(x) == x;
}

static size_t put_u64(char *out, uint64_t v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(out, tmp + i, sizeof(tmp) - i);
    return sizeof(tmp) - i;
}

/*
 * Shortest decimal digits of positive finite d that read back as d, the
 * candidate closest to d among those (ECMA-262 Number::toString). For up to
 * 15 digits the correctly rounded %.*e form is that candidate (for normal
 * doubles a shorter one would show as trailing zeros); at 16 digits
 * the nearest may miss while its neighbour on the other side of d hits (at
 * powers of two the rounding interval is lopsided); 17 always reads back.
 * Returns the digit count, *n = decimal exponent with d = 0.DIGITS * 10^n.
 */
static int shortest_digits(double d, char *dig, int *n)
{
    char buf[48];
    int prec, e = 0;
    /* subnormals carry fewer digits: search from one up */
    for (prec = d < 2.2250738585072014e-308 ? 1 : 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
        if (strtod(buf, NULL) == d)
            break;
        if (prec == 16) {
            uint64_t m = 0;
            const char *s = buf;
            for (; *s && *s != 'e'; s++)
                if (*s >= '0' && *s <= '9')
                    m = m * 10 + (uint64_t)(*s - '0');
            e = atoi(s + 1);
            double v = strtod(buf, NULL);
            uint64_t alt = v < d ? m + 1 : m - 1;
            if (alt >= 1000000000000000ULL && alt < 10000000000000000ULL) {
                snprintf(buf, sizeof(buf), "%llue%d", (unsigned long long)alt, e - 15);
                if (strtod(buf, NULL) == d) {
                    int k = (int)put_u64(dig, alt);
                    while (k > 1 && dig[k - 1] == '0')
                        k--;
                    *n = e + 1;
                    return k;
                }
            }
        }
    }
    if (prec > 17) /* unreachable: 17 significant digits always round-trip */
        snprintf(buf, sizeof(buf), "%.16e", d);
    int k = 0;
    const char *s = buf;
    for (; *s && *s != 'e' && *s != 'E'; s++)
        if (*s >= '0' && *s <= '9')
            dig[k++] = *s;
    e = *s ? atoi(s + 1) : 0;
    while (k > 1 && dig[k - 1] == '0')
        k--;
    *n = e + 1;
    return k;
}

size_t adapter_msg_js_number(double d, char *out)
{
    char *o = out;
    if (isnan(d)) {
        memcpy(out, "NaN", 3);
        return 3;
    }
    if (d == 0) {
        out[0] = '0';
        return 1;
    }
    if (d < 0) {
        *o++ = '-';
        d = -d;
    }
    if (isinf(d)) {
        memcpy(o, "Infinity", 8);
        return (size_t)(o - out) + 8;
    }
    if (d < TWO53 && (double)(uint64_t)d == d)
        return (size_t)(o - out) + put_u64(o, (uint64_t)d);
    char dig[24];
    int n;
    int k = shortest_digits(d, dig, &n);
    if (k <= n && n <= 21) {
        memcpy(o, dig, (size_t)k);
        o += k;
        for (int i = k; i < n; i++)
            *o++ = '0';
    } else if (0 < n && n <= 21) {
        memcpy(o, dig, (size_t)n);
        o += n;
        *o++ = '.';
        memcpy(o, dig + n, (size_t)(k - n));
        o += k - n;
    } else if (-6 < n && n <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -n; i++)
            *o++ = '0';
        memcpy(o, dig, (size_t)k);
        o += k;
    } else {
        int e = n - 1;
        *o++ = dig[0];
        if (k > 1) {
            *o++ = '.';
            memcpy(o, dig + 1, (size_t)(k - 1));
            o += k - 1;
        }
        *o++ = 'e';
        *o++ = e < 0 ? '-' : '+';
        o += put_u64(o, (uint64_t)(e < 0 ? -e : e));
    }
    return (size_t)(o - out);
}

/* JSON.stringify of a number. */
static int put_json_num(sioc_buf_t *b, double d)
{
    char tmp[40];
    if (!isfinite(d))
        return buf_append(b, "null", 4);
    return buf_append(b, tmp, adapter_msg_js_number(d, tmp));
}

/* ---------------------------------------------------------------- dates */

/* Days since 1970-01-01 -> civil date (proleptic Gregorian, H. Hinnant). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yy + (*m <= 2);
}

/* JSON.stringify(new Date(t)): TimeClip, then toISOString, or null. */
static int put_json_date(sioc_buf_t *b, double t)
{
    if (!isfinite(t) || t > 8.64e15 || t < -8.64e15)
        return buf_append(b, "null", 4);
    int64_t ms = (int64_t)dtrunc(t);
    int64_t days = ms / 86400000, rem = ms % 86400000;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    int64_t y;
    unsigned mo, da;
    civil_from_days(days, &y, &mo, &da);
    char tmp[48];
    int n;
    unsigned hh = (unsigned)(rem / 3600000), mi = (unsigned)(rem / 60000 % 60),
             ss = (unsigned)(rem / 1000 % 60), mss = (unsigned)(rem % 1000);
    if (y >= 0 && y <= 9999)
        n = snprintf(tmp, sizeof(tmp), "\"%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ\"", (long long)y,
                     mo, da, hh, mi, ss, mss);
    else
        n = snprintf(tmp, sizeof(tmp), "\"%c%06lld-%02u-%02uT%02u:%02u:%02u.%03uZ\"",
                     y < 0 ? '-' : '+', (long long)(y < 0 ? -y : y), mo, da, hh, mi, ss, mss);
    return buf_append(b, tmp, (size_t)n);
}

/* ---------------------------------------------------------------- UTF-8 */

/* Canonical array index "0".."4294967294" -> value, else -1. */
static int64_t array_index(const char *k, size_t n)
{
    if (n == 0 || n > 10 || (n > 1 && k[0] == '0'))
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (k[i] < '0' || k[i] > '9')
            return -1;
        v = v * 10 + (k[i] - '0');
    }
    return v <= 4294967294LL ? v : -1;
}

static int is_proto(const char *k, size_t n)
{
    return n == 9 && memcmp(k, "__proto__", 9) == 0;
}

/* ---------------------------------------------------------------- msgpack reader */

enum { K_INT, K_UINT, K_NIL, K_FALSE, K_TRUE, K_FLOAT, K_STR, K_BIN, K_ARR, K_MAP, K_EXT };

typedef struct {
    int kind;
    unsigned char fmt; /* first byte */
    int8_t ext;        /* ext type */
    uint64_t u;        /* K_UINT */
    int64_t i;         /* K_INT (negative) */
    double f;          /* K_FLOAT (float32 widened) */
    cptr data;         /* K_STR, K_BIN, K_EXT payload */
    size_t len;        /* payload bytes, or entries of K_ARR / K_MAP */
} mp_item_t;

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
static int mp_head(adapter_msg_ctx_t *ctx, cptr *pp, cptr end, mp_item_t *it)
{
    cptr p = *pp;
    if (p >= end)
        return fail(ctx, "truncated msgpack");
    unsigned c = *p++;
    size_t avail = (size_t)(end - p), hl = 0, len = 0;
    it->fmt = (unsigned char)c;
    if (c < 0x80) {
        it->kind = K_UINT;
        it->u = c;
        *pp = p;
        return 0;
    }
    if (c >= 0xe0) {
        it->kind = K_INT;
        it->i = (int64_t)c - 256;
        *pp = p;
        return 0;
    }
    if (c < 0x90) {
        it->kind = K_MAP;
        len = c & 0x0f;
        goto container;
    }
    if (c < 0xa0) {
        it->kind = K_ARR;
        len = c & 0x0f;
        goto container;
    }
    if (c < 0xc0) {
        it->kind = K_STR;
        len = c & 0x1f;
        goto payload;
    }
    switch (c) {
    case 0xc0:
        it->kind = K_NIL;
        *pp = p;
        return 0;
    case 0xc2:
        it->kind = K_FALSE;
        *pp = p;
        return 0;
    case 0xc3:
        it->kind = K_TRUE;
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
        it->kind = c <= 0xc6 ? K_BIN : K_STR;
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
        it->kind = K_EXT;
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
        it->kind = K_EXT;
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
        it->kind = K_FLOAT;
        *pp = p + hl;
        return 0;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        hl = (size_t)1 << (c - 0xcc);
        if (avail < hl)
            return fail(ctx, "truncated msgpack");
        it->kind = K_UINT;
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
        it->kind = it->i < 0 ? K_INT : K_UINT;
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
        it->kind = c <= 0xdd ? K_ARR : K_MAP;
        goto container;
    default:
        return fail(ctx, "invalid msgpack type 0xc1");
    }
container:
    if (len > avail / (it->kind == K_MAP ? 2 : 1))
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
static int mp_skip(adapter_msg_ctx_t *ctx, cptr *pp, cptr end)
{
    size_t pending = 1;
    mp_item_t it;
    while (pending) {
        int r = mp_head(ctx, pp, end, &it);
        if (r)
            return r;
        pending--;
        if (it.kind == K_ARR)
            pending += it.len;
        else if (it.kind == K_MAP)
            pending += 2 * it.len;
    }
    return 0;
}

/* JS value of an integer item: int64/uint64 become doubles as notepack does. */
static double item_num(const mp_item_t *it)
{
    if (it->kind == K_UINT)
        return (double)it->u;
    if (it->kind == K_INT)
        return (double)it->i;
    return it->f;
}

static int is_undefined(const mp_item_t *it)
{
    return it->kind == K_EXT && it->fmt == 0xd4 && it->ext == 0;
}

/* ---------------------------------------------------------------- msgpack -> JSON */

typedef struct {
    adapter_msg_ctx_t *ctx;
    cptr end;
    sioc_buf_t *out;
    adapter_msg_att_t *att;
} m2j_t;

/* One map member as seen by the key pre-scan. */
typedef struct {
    cptr key;
    size_t klen;
    cptr val;
    int64_t idx;    /* array index or -1 */
    uint32_t first; /* position of the first occurrence of this key */
    uint32_t last;  /* record holding the last value of this key */
    size_t koff;    /* JSON -> msgpack: key payload, member and value offsets in the output */
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
    size_t n = 27 + put_u64(tmp + 27, a->n);
    tmp[n++] = '}';
    a->n++;
    return buf_append(c->out, tmp, n);
}

static int m2j_value(m2j_t *c, cptr *pp, unsigned depth, int *undef);

static int cmp_key(const void *a, const void *b, void *arg)
{
    const mrec_t *r = arg;
    const mrec_t *x = &r[*(const uint32_t *)a], *y = &r[*(const uint32_t *)b];
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    int d = memcmp(x->key, y->key, x->klen);
    if (d)
        return d;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

static int cmp_order(const void *a, const void *b, void *arg)
{
    const mrec_t *r = arg;
    const mrec_t *x = &r[*(const uint32_t *)a], *y = &r[*(const uint32_t *)b];
    if ((x->idx >= 0) != (y->idx >= 0))
        return x->idx >= 0 ? -1 : 1;
    if (x->idx >= 0)
        return x->idx < y->idx ? -1 : x->idx > y->idx;
    return x->first < y->first ? -1 : x->first > y->first;
}

/*
 * Orders the members of a map as a JS object would hold them. Records live in
 * ctx->_stack at `base`; on return the `n` uint32 record numbers to emit (the
 * last record of each surviving key, in JS property order) follow them, and
 * *m is their count.
 */
static int map_order(adapter_msg_ctx_t *ctx, size_t base, size_t n, int drop_proto, size_t *m)
{
    sioc_buf_t *s = &ctx->_stack;
    int r = buf_reserve(s, 2 * n * sizeof(uint32_t));
    if (r)
        return r;
    mrec_t *rec = (mrec_t *)(void *)(s->base + base);
    uint32_t *ord = (uint32_t *)(void *)(s->base + s->len);
    uint32_t *tmp = ord + n;
    for (size_t i = 0; i < n; i++)
        tmp[i] = (uint32_t)i;
    qsort_r(tmp, n, sizeof(uint32_t), cmp_key, rec);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && rec[tmp[j + 1]].klen == rec[tmp[i]].klen &&
               memcmp(rec[tmp[j + 1]].key, rec[tmp[i]].key, rec[tmp[i]].klen) == 0)
            j++;
        /* tmp[i..j] hold one key in ascending record order */
        mrec_t *last = &rec[tmp[j]];
        last->first = tmp[i];
        last->last = tmp[j];
        if (!drop_proto || !is_proto((const char *)last->key, last->klen))
            ord[k++] = tmp[j];
        i = j + 1;
    }
    qsort_r(ord, k, sizeof(uint32_t), cmp_order, rec);
    *m = k;
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
        mp_item_t it;
        if ((r = mp_head(ctx, pp, c->end, &it)))
            goto out;
        if (it.kind != K_STR) {
            r = fail(ctx, "map key is not a string");
            goto out;
        }
        if (!utf8_is_valid(it.data, it.len)) {
            repair = 1; /* distinct bytes may decode to the same key */
            canonical = 0;
        }
        rec[i].key = it.data;
        rec[i].klen = it.len;
        rec[i].val = *pp;
        rec[i].first = (uint32_t)i;
        rec[i].last = (uint32_t)i;
        rec[i].idx = array_index((const char *)it.data, it.len);
        if (rec[i].idx >= 0) {
            if (seen_named || rec[i].idx <= prev)
                canonical = 0;
            prev = rec[i].idx;
        } else {
            seen_named = 1;
            if (is_proto((const char *)it.data, it.len))
                canonical = 0;
        }
        if ((r = mp_skip(ctx, pp, c->end)))
            goto out;
    }
    cptr after = *pp;
    if (canonical && n > 1) {
        if (n <= 16) {
            for (size_t i = 1; i < n && canonical; i++)
                for (size_t j = 0; j < i; j++)
                    if (rec[i].klen == rec[j].klen &&
                        memcmp(rec[i].key, rec[j].key, rec[i].klen) == 0) {
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
                rec[i].rawkey = rec[i].key;
                rec[i].koff = t->len;
                if ((r = utf8_repair_append(t, rec[i].key, rec[i].klen)))
                    goto out;
                rec[i].mend = rec[i].klen;
                rec[i].klen = t->len - rec[i].koff;
            }
            for (size_t i = 0; i < n; i++)
                rec[i].key = (cptr)t->base + rec[i].koff;
        }
        r = map_order(ctx, base, n, 1, &m);
        rec = (mrec_t *)(void *)(s->base + base);
        if (repair) {
            for (size_t i = 0; i < n; i++) {
                rec[i].key = rec[i].rawkey;
                rec[i].klen = rec[i].mend;
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
        cptr kp = rec[ri].key, vp = rec[ri].val;
        size_t kl = rec[ri].klen, mark = c->out->len;
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
 * max_depth so that what is accepted here can be encoded back (adapter_msg_json_to_mp). */
static int m2j_ext(m2j_t *c, const mp_item_t *it, unsigned depth)
{
    sioc_buf_t *o = c->out;
    cptr d = it->data;
    if (it->ext == 0 && it->fmt >= 0xc7 && it->fmt <= 0xc9) {
        if (depth >= c->ctx->limits.max_depth)
            return fail(c->ctx, "nesting too deep");
        return put_placeholder(c, d, it->len); /* legacy ArrayBuffer */
    }
    if (it->ext == -1 && it->fmt == 0xd6)
        return put_json_date(o, (double)be32(d) * 1e3);
    if (it->ext == -1 && it->fmt == 0xd7) {
        uint32_t hi = be32(d), lo = be32(d + 4);
        double s = (double)(hi & 3) * 4294967296.0 + lo;
        return put_json_date(o, s * 1e3 + (double)(hi >> 2) / 1e6);
    }
    if (it->ext == -1 && it->fmt == 0xc7) {
        uint32_t ns = be32(d), lo = be32(d + 8);
        int32_t hi = (int32_t)be32(d + 4);
        return put_json_date(o, ((double)hi * 4294967296.0 + lo) * 1e3 + (double)ns / 1e6);
    }
    if (it->ext == 0 && it->fmt == 0xd7) {
        int32_t hi = (int32_t)be32(d);
        return put_json_date(o, (double)hi * 4294967296.0 + be32(d + 4));
    }
    if (depth + 1 >= c->ctx->limits.max_depth)
        return fail(c->ctx, "nesting too deep");
    char tmp[8];
    int r;
    size_t n = 0;
    tmp[n++] = '[';
    if (it->ext < 0)
        tmp[n++] = '-';
    n += put_u64(tmp + n, (uint64_t)(it->ext < 0 ? -it->ext : it->ext));
    tmp[n++] = ',';
    if ((r = buf_append(o, tmp, n)) || (r = put_placeholder(c, d, it->len)))
        return r;
    return buf_append_byte(o, ']');
}

static int m2j_value(m2j_t *c, cptr *pp, unsigned depth, int *undef)
{
    mp_item_t it;
    int r = mp_head(c->ctx, pp, c->end, &it);
    *undef = 0;
    if (r)
        return r;
    switch (it.kind) {
    case K_UINT:
        if (it.u < (1ULL << 53)) {
            char tmp[24];
            return buf_append(c->out, tmp, put_u64(tmp, it.u));
        }
        return put_json_num(c->out, item_num(&it));
    case K_INT:
    case K_FLOAT:
        return put_json_num(c->out, item_num(&it));
    case K_NIL:
        return buf_append(c->out, "null", 4);
    case K_FALSE:
        return buf_append(c->out, "false", 5);
    case K_TRUE:
        return buf_append(c->out, "true", 4);
    case K_STR:
        return sio_json_append_string(c->out, (const char *)it.data, it.len);
    case K_BIN:
        if (depth >= c->ctx->limits.max_depth)
            return fail(c->ctx, "nesting too deep");
        return put_placeholder(c, it.data, it.len);
    case K_EXT:
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
    if (it.kind == K_MAP)
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

int adapter_msg_mp_to_json(adapter_msg_ctx_t *ctx, const char *mp, size_t len, sioc_buf_t *json,
                           adapter_msg_att_t *att)
{
    ctx->reason = NULL;
    if (len > ctx->limits.max_size)
        return fail(ctx, "message too large");
    m2j_t c = {ctx, (cptr)mp + len, json, att};
    cptr p = (cptr)mp;
    int undef;
    cap_t cap = cap_push(json, ctx->limits.max_out);
    int r = m2j_value(&c, &p, 0, &undef);
    if (!r && undef)
        r = buf_append(json, "null", 4);
    cap_pop(cap);
    return r ? r : (int)(p - (cptr)mp);
}

/* ---------------------------------------------------------------- JSON scanning */
/*
 * The JSON grammar is jscan's (sio/jscan.h): whitespace, string and number
 * tokens, and whole values skipped or validated within the limits. What
 * stays here is only what the conversion needs to know about a token.
 */

static cptr js_ws(cptr p, cptr end)
{
    return p + jscan_ws((const char *)p, (size_t)(end - p));
}

/* What js_str_scan learnt about a JSON string. */
typedef struct {
    cptr body;    /* first byte after the opening quote */
    cptr close;   /* the closing quote */
    int escaped;  /* contains backslash escapes */
    int sur;      /* contains a \u escape of a surrogate */
    size_t bytes; /* UTF-8 length when !sur */
} jstr_t;

/* Scans the string whose opening quote is at *pp; leaves *pp after the closing one. */
static int js_str_scan(adapter_msg_ctx_t *ctx, cptr *pp, cptr end, jstr_t *s)
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
static void js_str_decode(const jstr_t *s, unsigned char *o)
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
static size_t js_str_utf16(const jstr_t *s, uint16_t *u)
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

/* Buffer.write / Buffer.byteLength bytes (lone surrogates -> U+FFFD), at most
 * `max` bytes and whole characters only; o NULL: count only. */
static size_t np_utf8_whatwg(const uint16_t *u, size_t n, unsigned char *o, size_t max)
{
    size_t len = 0;
    unsigned char tmp[4];
    for (size_t i = 0; i < n; i++) {
        uint32_t c = u[i];
        if (c >= 0xd800 && c < 0xdc00 && i + 1 < n && u[i + 1] >= 0xdc00 && u[i + 1] < 0xe000) {
            c = 0x10000 + ((c - 0xd800) << 10) + (u[i + 1] - 0xdc00u);
            i++;
        } else if (c >= 0xd800 && c < 0xe000) {
            c = 0xfffd;
        }
        size_t l = utf8_encode(c, tmp);
        if (len + l > max)
            break;
        if (o)
            memcpy(o + len, tmp, l);
        len += l;
    }
    return len;
}

static int js_lit(adapter_msg_ctx_t *ctx, cptr *pp, cptr end, const char *lit, size_t n)
{
    if ((size_t)(end - *pp) < n || memcmp(*pp, lit, n) != 0)
        return fail(ctx, "invalid JSON literal");
    *pp += n;
    return 0;
}

/* Parses a JSON number at *pp into *d (NULL: validate only) as JSON.parse does. */
static int js_number(adapter_msg_ctx_t *ctx, cptr *pp, cptr end, double *d)
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
static int js_skip(adapter_msg_ctx_t *ctx, cptr *pp, cptr end)
{
    return js_walk(ctx, pp, end, 0);
}

/* Validates that [p, p+n) is exactly one JSON value (whitespace around it allowed). */
static int js_validate(adapter_msg_ctx_t *ctx, const char *s, size_t n)
{
    cptr p = (cptr)s;
    return js_walk(ctx, &p, p + n, 1);
}

/* ---------------------------------------------------------------- msgpack writer */

static int pk_write(void *data, const char *buf, size_t len)
{
    return buf_append((sioc_buf_t *)data, buf, len);
}

/* Packs a JS number as notepack.encode does. */
static int pk_number(msgpack_packer *pk, sioc_buf_t *b, double d)
{
    unsigned char raw[9];
    uint64_t bits;
    if (!is_integral(d))
        return msgpack_pack_double(pk, d);
    if (d >= 0) {
        if (d < 4294967296.0)
            return msgpack_pack_uint64(pk, (uint64_t)d);
        raw[0] = 0xcf;
        if (d < TWO64) {
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
        if (d >= -TWO63) {
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
static int j2m_str(j2m_t *c, const jstr_t *s, int is_key, size_t *plen)
{
    sioc_buf_t *o = c->out;
    int r;
    if (!s->sur) {
        if ((r = msgpack_pack_str(&c->pk, s->bytes)) || (r = buf_reserve(o, s->bytes)))
            return r;
        if (!s->escaped)
            memcpy(o->base + o->len, s->body, s->bytes);
        else
            js_str_decode(s, (unsigned char *)o->base + o->len);
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
    size_t n = js_str_utf16(s, u);
    size_t lc = np_utf8_custom(u, n, NULL);
    size_t lw = np_utf8_whatwg(u, n, NULL, (size_t)-1);
    size_t hdr = n > 32 ? lw : lc;
    int whatwg = !is_key && hdr > 32;
    if ((r = msgpack_pack_str(&c->pk, hdr)) || (r = buf_reserve(o, hdr)))
        return r;
    unsigned char *dst = (unsigned char *)o->base + o->len;
    size_t w;
    if (whatwg) {
        w = np_utf8_whatwg(u, n, dst, hdr);
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
        rec[i].key = (cptr)o->base + rec[i].koff;
    if (has_ph && c->v->binary) {
        const mrec_t *ph = NULL, *num = NULL;
        for (size_t i = 0; i < n; i++) {
            if (rec[i].klen == 12 && memcmp(rec[i].key, "_placeholder", 12) == 0)
                ph = &rec[i];
            else if (rec[i].klen == 3 && memcmp(rec[i].key, "num", 3) == 0)
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
        rec[i].idx = array_index((const char *)rec[i].key, rec[i].klen);
        rec[i].first = rec[i].last = (uint32_t)i;
        if (rec[i].idx >= 0) {
            if (seen_named || rec[i].idx <= prev)
                canonical = 0;
            prev = rec[i].idx;
        } else {
            seen_named = 1;
        }
        for (size_t j = 0; j < i && canonical; j++)
            if (rec[i].klen == rec[j].klen && memcmp(rec[i].key, rec[j].key, rec[i].klen) == 0)
                canonical = 0;
        if (n > 16)
            canonical = 0;
    }
    if (canonical)
        return pk_fix_header(o, hdr, n, 1);
    for (size_t i = 0; i < n; i++) {
        rec[i].idx = array_index((const char *)rec[i].key, rec[i].klen);
        rec[i].first = rec[i].last = (uint32_t)i;
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
    cptr p = js_ws(*pp + 1, c->end);
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
            jstr_t ks;
            size_t plen;
            p = js_ws(p, c->end);
            if (p >= c->end || *p != '"') {
                r = fail(ctx, "expected JSON object key");
                goto out;
            }
            if ((r = js_str_scan(ctx, &p, c->end, &ks)) || (r = buf_reserve(s, sizeof(mrec_t))))
                goto out;
            mrec_t *rec = (mrec_t *)(void *)(s->base + s->len);
            s->len += sizeof(mrec_t);
            rec->mstart = o->len;
            if ((r = j2m_str(c, &ks, 1, &plen)))
                goto out;
            rec = (mrec_t *)(void *)(s->base + s->len - sizeof(mrec_t));
            rec->koff = o->len - plen;
            rec->klen = plen;
            if (plen == 12 && memcmp(o->base + rec->koff, "_placeholder", 12) == 0)
                has_ph = 1;
            p = js_ws(p, c->end);
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
        p = js_ws(p, c->end);
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
    cptr p = js_ws(*pp, c->end);
    int r;
    if (p >= c->end)
        return fail(c->ctx, "truncated JSON");
    switch (*p) {
    case '{':
    case '[':
        r = j2m_container(c, &p, depth, *p == '{');
        break;
    case '"': {
        jstr_t s;
        size_t plen;
        if (!(r = js_str_scan(c->ctx, &p, c->end, &s)))
            r = j2m_str(c, &s, 0, &plen);
        break;
    }
    case 't':
        if (!(r = js_lit(c->ctx, &p, c->end, "true", 4)))
            r = msgpack_pack_true(&c->pk);
        break;
    case 'f':
        if (!(r = js_lit(c->ctx, &p, c->end, "false", 5)))
            r = msgpack_pack_false(&c->pk);
        break;
    case 'n':
        if (!(r = js_lit(c->ctx, &p, c->end, "null", 4)))
            r = msgpack_pack_nil(&c->pk);
        break;
    default: {
        double d;
        if (!(r = js_number(c->ctx, &p, c->end, &d)))
            r = pk_number(&c->pk, c->out, d);
    }
    }
    if (!r)
        *pp = p;
    return r;
}

/* Converts one whole JSON text to msgpack appended to `mp` (no limit push). */
static int j2m_run(adapter_msg_ctx_t *ctx, const adapter_msg_value_t *v, sioc_buf_t *mp)
{
    j2m_t c = {ctx, (cptr)v->json.base + v->json.len, mp, {0}, v};
    cptr p = (cptr)v->json.base;
    msgpack_packer_init(&c.pk, mp, pk_write);
    if (v->json.len > ctx->limits.max_size)
        return fail(ctx, "message too large");
    int r = j2m_value(&c, &p, 0);
    if (r)
        return r;
    if (js_ws(p, c.end) != c.end)
        return fail(ctx, "trailing bytes after JSON value");
    return 0;
}

int adapter_msg_json_to_mp(adapter_msg_ctx_t *ctx, const adapter_msg_value_t *v, sioc_buf_t *mp)
{
    ctx->reason = NULL;
    if (v->json.base == NULL)
        return fail(ctx, "no JSON text");
    cap_t cap = cap_push(mp, ctx->limits.max_out);
    int r = j2m_run(ctx, v, mp);
    cap_pop(cap);
    return r ? r : (int)v->json.len;
}

/* ---------------------------------------------------------------- envelope reader */

/*
 * One cursor over a JSON or msgpack envelope. Strings are slices of the
 * message, or of ctx->_str when JSON escapes had to be decoded; room lists are
 * sioc_iov_t arrays in ctx->_list. Both buffers are reserved up front for the
 * worst case of the message, so they never move while the decode runs.
 */
enum { T_NIL, T_BOOL, T_NUM, T_STR, T_ARR, T_MAP, T_BIN, T_EXT, T_UNDEF, T_BAD };

typedef struct {
    adapter_msg_ctx_t *ctx;
    cptr p, end;
    int json;
    sioc_buf_t *jout;
    adapter_msg_att_t *att;
    char kbuf[64]; /* decoded escaped keys */
} rd_t;

typedef struct {
    size_t left; /* msgpack entries left */
    int first;   /* JSON: no entry read yet */
} rd_it_t;

/* A JSON value written to r->jout, turned into adapter_msg_value_t at the end. */
typedef struct {
    int present;
    size_t off, len, att0, natt;
} rd_val_t;

static int rd_peek(rd_t *r)
{
    if (r->json) {
        r->p = js_ws(r->p, r->end);
        if (r->p >= r->end)
            return T_BAD;
        switch (*r->p) {
        case '{':
            return T_MAP;
        case '[':
            return T_ARR;
        case '"':
            return T_STR;
        case 't':
        case 'f':
            return T_BOOL;
        case 'n':
            return T_NIL;
        default:
            return (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) ? T_NUM : T_BAD;
        }
    }
    if (r->p >= r->end)
        return T_BAD;
    unsigned c = *r->p;
    if (c < 0x80 || c >= 0xe0 || (c >= 0xca && c <= 0xd3))
        return T_NUM;
    if (c < 0x90 || c == 0xde || c == 0xdf)
        return T_MAP;
    if (c < 0xa0 || c == 0xdc || c == 0xdd)
        return T_ARR;
    if (c < 0xc0 || (c >= 0xd9 && c <= 0xdb))
        return T_STR;
    if (c == 0xc0)
        return T_NIL;
    if (c == 0xc2 || c == 0xc3)
        return T_BOOL;
    if (c >= 0xc4 && c <= 0xc6)
        return T_BIN;
    if (c == 0xd4 && r->end - r->p >= 2 && r->p[1] == 0)
        return T_UNDEF;
    if (c == 0xc1)
        return T_BAD;
    return T_EXT;
}

static int rd_skip(rd_t *r)
{
    if (r->json)
        return js_skip(r->ctx, &r->p, r->end);
    return mp_skip(r->ctx, &r->p, r->end);
}

static int rd_container(rd_t *r, rd_it_t *it, int map)
{
    it->first = 1;
    it->left = 0;
    if (rd_peek(r) != (map ? T_MAP : T_ARR))
        return fail(r->ctx, map ? "expected a map" : "expected an array");
    if (r->json) {
        r->p++;
        return 0;
    }
    mp_item_t mi;
    int e = mp_head(r->ctx, &r->p, r->end, &mi);
    it->left = mi.len;
    return e;
}

/* Next array element (1) or end (0). */
static int rd_next(rd_t *r, rd_it_t *it, int map)
{
    if (!r->json) {
        if (it->left == 0)
            return 0;
        it->left--;
        return 1;
    }
    r->p = js_ws(r->p, r->end);
    if (r->p < r->end && *r->p == (map ? '}' : ']') && it->first) {
        r->p++;
        return 0;
    }
    if (!it->first) {
        if (r->p < r->end && *r->p == (map ? '}' : ']')) {
            r->p++;
            return 0;
        }
        if (r->p >= r->end || *r->p != ',')
            return fail(r->ctx, "expected ',' or end of JSON container");
        r->p = js_ws(r->p + 1, r->end);
    }
    it->first = 0;
    return 1;
}

/* Next map key (1, cursor on the value) or end (0). Keys are compared only. */
static int rd_key(rd_t *r, rd_it_t *it, sioc_iov_t *key)
{
    int e = rd_next(r, it, 1);
    if (e <= 0)
        return e;
    if (!r->json) {
        mp_item_t mi;
        if ((e = mp_head(r->ctx, &r->p, r->end, &mi)))
            return e;
        if (mi.kind != K_STR)
            return fail(r->ctx, "map key is not a string");
        *key = iov_make((const char *)mi.data, mi.len);
        return 1;
    }
    jstr_t s;
    if (r->p >= r->end || *r->p != '"')
        return fail(r->ctx, "expected JSON object key");
    if ((e = js_str_scan(r->ctx, &r->p, r->end, &s)))
        return e;
    if (!s.escaped) {
        *key = iov_make((const char *)s.body, s.bytes);
    } else if (!s.sur && s.bytes < sizeof(r->kbuf)) {
        js_str_decode(&s, (unsigned char *)r->kbuf);
        *key = iov_make(r->kbuf, s.bytes);
    } else {
        *key = SIOC_LIT("\x01"); /* matches no key we know */
    }
    r->p = js_ws(r->p, r->end);
    if (r->p >= r->end || *r->p != ':')
        return fail(r->ctx, "expected ':'");
    r->p++;
    return 1;
}

/* Appends to ctx->_str, which was reserved for the whole decode. */
static const char *rd_keep(rd_t *r, const void *p, size_t n)
{
    sioc_buf_t *s = &r->ctx->_str;
    if (s->cap - s->len < n)
        return NULL;
    char *d = s->base + s->len;
    memcpy(d, p, n);
    s->len += n;
    return d;
}

static int rd_num(rd_t *r, double *d)
{
    if (rd_peek(r) != T_NUM)
        return fail(r->ctx, "expected a number");
    if (r->json)
        return js_number(r->ctx, &r->p, r->end, d);
    mp_item_t mi;
    int e = mp_head(r->ctx, &r->p, r->end, &mi);
    *d = item_num(&mi);
    return e;
}

/* A non-negative integer (type, id, clientCount). */
static int rd_uint(rd_t *r, uint64_t *v, const char *what)
{
    double d;
    int e = rd_num(r, &d);
    if (e)
        return e;
    if (!is_integral(d) || d < 0 || d >= TWO64)
        return fail(r->ctx, what);
    *v = (uint64_t)d;
    return 0;
}

/* A string, or with `numok` a number turned into its JS string. */
static int rd_str(rd_t *r, sioc_iov_t *out, int numok)
{
    int t = rd_peek(r), e;
    if (t == T_NUM && numok) {
        double d;
        char tmp[40];
        if ((e = rd_num(r, &d)))
            return e;
        size_t n = adapter_msg_js_number(d, tmp);
        const char *k = rd_keep(r, tmp, n);
        if (k == NULL)
            return fail(r->ctx, "too many numeric room names");
        *out = iov_make(k, n);
        return 0;
    }
    if (t != T_STR)
        return fail(r->ctx, "expected a string");
    if (!r->json) {
        mp_item_t mi;
        if ((e = mp_head(r->ctx, &r->p, r->end, &mi)))
            return e;
        *out = iov_make((const char *)mi.data, mi.len);
        return 0;
    }
    jstr_t s;
    if ((e = js_str_scan(r->ctx, &r->p, r->end, &s)))
        return e;
    if (!s.escaped) {
        *out = iov_make((const char *)s.body, s.bytes);
        return 0;
    }
    sioc_buf_t *sb = &r->ctx->_str;
    size_t raw = (size_t)(s.close - s.body);
    if (sb->cap - sb->len < raw)
        return fail(r->ctx, "string storage exhausted");
    char *d = sb->base + sb->len;
    size_t n;
    if (!s.sur) {
        js_str_decode(&s, (unsigned char *)d);
        n = s.bytes;
    } else {
        /* JS string -> the bytes Buffer.from(str) would give (U+FFFD for lone surrogates) */
        sioc_buf_t *tb = &r->ctx->_tmp;
        if ((e = buf_reserve(tb, raw * 2)))
            return e;
        uint16_t *u = (uint16_t *)(void *)tb->base;
        size_t nu = js_str_utf16(&s, u);
        n = np_utf8_whatwg(u, nu, (unsigned char *)d, raw);
    }
    sb->len += n;
    *out = iov_make(d, n);
    return 0;
}

static int rd_bool(rd_t *r, int *b)
{
    int t = rd_peek(r), e;
    if (t == T_BOOL) {
        if (r->json) {
            *b = *r->p == 't';
            return js_lit(r->ctx, &r->p, r->end, *b ? "true" : "false", *b ? 4 : 5);
        }
        *b = *r->p++ == 0xc3;
        return 0;
    }
    /* JS truthiness of other scalars */
    if (t == T_NUM) {
        double d;
        if ((e = rd_num(r, &d)))
            return e;
        *b = d != 0 && !isnan(d);
        return 0;
    }
    if (t == T_STR) {
        sioc_iov_t s;
        if ((e = rd_str(r, &s, 0)))
            return e;
        *b = s.len != 0;
        return 0;
    }
    *b = t != T_NIL && t != T_UNDEF;
    return rd_skip(r);
}

/* A list of room names (strings or numbers); nil/undefined = empty. */
static int rd_list(rd_t *r, const sioc_iov_t **v, size_t *n)
{
    int t = rd_peek(r), e;
    *n = 0;
    *v = NULL;
    if (t == T_NIL || t == T_UNDEF)
        return rd_skip(r);
    rd_it_t it;
    if ((e = rd_container(r, &it, 0)))
        return e;
    sioc_buf_t *l = &r->ctx->_list;
    sioc_iov_t *arr = (sioc_iov_t *)(void *)(l->base + l->len);
    while ((e = rd_next(r, &it, 0)) == 1) {
        if (*n >= r->ctx->limits.max_list)
            return fail(r->ctx, "room list too long");
        if (l->cap - l->len < sizeof(sioc_iov_t))
            return fail(r->ctx, "room list storage exhausted");
        if ((e = rd_str(r, &arr[*n], 1)))
            return e;
        l->len += sizeof(sioc_iov_t);
        (*n)++;
    }
    *v = arr;
    return e;
}

/* Any value: JSON is validated and copied, msgpack converted; undefined = absent. */
static int rd_value(rd_t *r, rd_val_t *v)
{
    memset(v, 0, sizeof(*v));
    v->off = r->jout->len;
    v->att0 = r->att ? r->att->n : 0;
    int e;
    if (r->json) {
        cptr s = js_ws(r->p, r->end);
        if ((e = js_skip(r->ctx, &r->p, r->end)))
            return e;
        if ((e = buf_append(r->jout, s, (size_t)(r->p - s))))
            return e;
    } else {
        m2j_t c = {r->ctx, r->end, r->jout, r->att};
        int undef;
        if ((e = m2j_value(&c, &r->p, 0, &undef)))
            return e;
        if (undef)
            return 0;
    }
    v->present = 1;
    v->len = r->jout->len - v->off;
    v->natt = (r->att ? r->att->n : 0) - v->att0;
    return 0;
}

static void val_finish(const rd_t *r, const rd_val_t *v, adapter_msg_value_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!v->present)
        return;
    out->json = iov_make(r->jout->base + v->off, v->len);
    out->att = v->natt ? r->att->v + v->att0 : NULL;
    out->natt = v->natt;
    out->binary = v->natt > 0;
}

static int rd_flags(rd_t *r, adapter_msg_flags_t *f)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"volatile", ADAPTER_MSG_F_VOLATILE},
                 {"compress", ADAPTER_MSG_F_COMPRESS},
                 {"local", ADAPTER_MSG_F_LOCAL},
                 {"broadcast", ADAPTER_MSG_F_BROADCAST},
                 {"binary", ADAPTER_MSG_F_BINARY},
                 {"expectSingleResponse", ADAPTER_MSG_F_EXPECT_SINGLE}};
    rd_it_t it;
    sioc_iov_t k = SIOC_IOV_NULL;
    int e, t = rd_peek(r);
    memset(f, 0, sizeof(*f));
    if (t == T_NIL || t == T_UNDEF)
        return rd_skip(r);
    if ((e = rd_container(r, &it, 1)))
        return e;
    while ((e = rd_key(r, &it, &k)) == 1) {
        t = rd_peek(r);
        if (t == T_NIL || t == T_UNDEF) {
            if ((e = rd_skip(r)))
                return e;
            continue;
        }
        if (iov_eq_str(k, "timeout")) {
            if (t == T_NUM) {
                if ((e = rd_num(r, &f->timeout)))
                    return e;
                f->present |= ADAPTER_MSG_F_TIMEOUT;
            } else if ((e = rd_skip(r))) {
                return e;
            }
            continue;
        }
        size_t i;
        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (iov_eq_str(k, names[i].name))
                break;
        if (i == sizeof(names) / sizeof(names[0])) {
            if ((e = rd_skip(r)))
                return e;
            continue;
        }
        int b;
        if ((e = rd_bool(r, &b)))
            return e;
        f->present |= names[i].bit;
        f->value = b ? f->value | names[i].bit : f->value & ~names[i].bit;
    }
    return e;
}

static int rd_opts(rd_t *r, adapter_msg_opts_t *o)
{
    rd_it_t it;
    sioc_iov_t k = SIOC_IOV_NULL;
    int e;
    memset(o, 0, sizeof(*o));
    if ((e = rd_container(r, &it, 1)))
        return e;
    while ((e = rd_key(r, &it, &k)) == 1) {
        if (iov_eq_str(k, "rooms"))
            e = rd_list(r, &o->rooms, &o->nrooms);
        else if (iov_eq_str(k, "except"))
            e = rd_list(r, &o->except, &o->nexcept);
        else if (iov_eq_str(k, "flags"))
            e = rd_flags(r, &o->flags);
        else
            e = rd_skip(r);
        if (e)
            return e;
    }
    return e;
}

static int rd_packet(rd_t *r, adapter_msg_packet_t *pk, rd_val_t *data)
{
    rd_it_t it;
    sioc_iov_t k = SIOC_IOV_NULL;
    int e, have_type = 0;
    uint64_t u;
    memset(pk, 0, sizeof(*pk));
    memset(data, 0, sizeof(*data));
    if ((e = rd_container(r, &it, 1)))
        return e;
    while ((e = rd_key(r, &it, &k)) == 1) {
        if (iov_eq_str(k, "type")) {
            if ((e = rd_uint(r, &u, "bad packet type")))
                return e;
            if (u > 6)
                return fail(r->ctx, "bad packet type");
            pk->type = (int)u;
            have_type = 1;
        } else if (iov_eq_str(k, "data")) {
            e = rd_value(r, data);
        } else if (iov_eq_str(k, "nsp")) {
            int t = rd_peek(r);
            e = (t == T_NIL || t == T_UNDEF) ? rd_skip(r) : rd_str(r, &pk->nsp, 0);
        } else if (iov_eq_str(k, "id")) {
            int t = rd_peek(r);
            if (t == T_NIL || t == T_UNDEF) {
                e = rd_skip(r);
            } else {
                e = rd_uint(r, &pk->id, "bad packet id");
                pk->has_id = 1;
            }
        } else {
            e = rd_skip(r);
        }
        if (e)
            return e;
    }
    if (!e && !have_type)
        return fail(r->ctx, "packet without type");
    return e;
}

/* Starts a decode: limits, format, worst-case reservation of the string storage. */
static int rd_begin(rd_t *r, adapter_msg_ctx_t *ctx, const char *msg, size_t len, sioc_buf_t *json,
                    adapter_msg_att_t *att, int json_ok)
{
    memset(r, 0, sizeof(*r));
    ctx->reason = NULL;
    if (len == 0)
        return fail(ctx, "empty message");
    if (len > ctx->limits.max_size)
        return fail(ctx, "message too large");
    r->ctx = ctx;
    r->p = (cptr)msg;
    r->end = r->p + len;
    r->json = json_ok && msg[0] == '{';
    r->jout = json;
    r->att = att;
    size_t lists = 3 * (size_t)ctx->limits.max_list;
    if (lists > len)
        lists = len;
    ctx->_str.len = ctx->_list.len = 0;
    int e = buf_reserve(&ctx->_str, len + lists * 25 + 128);
    if (!e)
        e = buf_reserve(&ctx->_list, lists * sizeof(sioc_iov_t) + sizeof(sioc_iov_t));
    return e;
}

static int rd_end(rd_t *r)
{
    if (r->json)
        r->p = js_ws(r->p, r->end);
    if (r->p != r->end)
        return fail(r->ctx, "trailing bytes after message");
    return 0;
}

/* ---------------------------------------------------------------- envelope decoders */

int adapter_msg_broadcast_decode(adapter_msg_ctx_t *ctx, const char *msg, size_t len,
                                 sioc_buf_t *json, adapter_msg_att_t *att,
                                 adapter_msg_broadcast_t *out)
{
    rd_t r;
    rd_it_t it;
    rd_val_t data;
    memset(out, 0, sizeof(*out));
    cap_t cap = cap_push(json, ctx->limits.max_out);
    int e = rd_begin(&r, ctx, msg, len, json, att, 0);
    if (e || (e = rd_container(&r, &it, 0)))
        goto done;
    if (it.left < 3) {
        e = fail(ctx, "broadcast is not [uid, packet, opts]");
        goto done;
    }
    if ((e = rd_str(&r, &out->uid, 0)) || (e = rd_packet(&r, &out->packet, &data)) ||
        (e = rd_opts(&r, &out->opts)))
        goto done;
    if (out->packet.nsp.base == NULL)
        out->packet.nsp = SIOC_LIT("/"); /* the adapter's onmessage default */
    for (it.left -= 3; it.left && !e; it.left--)
        e = rd_skip(&r);
    if (e || (e = rd_end(&r)))
        goto done;
    val_finish(&r, &data, &out->packet.data);
done:
    cap_pop(cap);
    return e ? e : (int)len;
}

int adapter_msg_request_decode(adapter_msg_ctx_t *ctx, const char *msg, size_t len,
                               sioc_buf_t *json, adapter_msg_att_t *att, adapter_msg_request_t *out)
{
    rd_t r;
    rd_it_t it;
    rd_val_t data = {0}, pdata = {0};
    sioc_iov_t k = SIOC_IOV_NULL;
    uint64_t u;
    int have_type = 0, have_packet = 0;
    memset(out, 0, sizeof(*out));
    cap_t cap = cap_push(json, ctx->limits.max_out);
    int e = rd_begin(&r, ctx, msg, len, json, att, 1);
    if (e || (e = rd_container(&r, &it, 1)))
        goto done;
    out->json = r.json;
    while ((e = rd_key(&r, &it, &k)) == 1) {
        int t = rd_peek(&r);
        if (t == T_NIL || t == T_UNDEF) {
            e = rd_skip(&r);
        } else if (iov_eq_str(k, "type")) {
            if (!(e = rd_uint(&r, &u, "bad request type")) && u > 9)
                e = fail(ctx, "bad request type");
            out->type = (int)u;
            have_type = 1;
        } else if (iov_eq_str(k, "uid")) {
            e = rd_str(&r, &out->uid, 1);
        } else if (iov_eq_str(k, "requestId")) {
            e = rd_str(&r, &out->request_id, 1);
        } else if (iov_eq_str(k, "rooms")) {
            e = rd_list(&r, &out->rooms, &out->nrooms);
        } else if (iov_eq_str(k, "opts")) {
            e = rd_opts(&r, &out->opts);
            out->has_opts = 1;
        } else if (iov_eq_str(k, "close")) {
            e = rd_bool(&r, &out->close);
            out->has_close = 1;
        } else if (iov_eq_str(k, "data")) {
            e = rd_value(&r, &data);
        } else if (iov_eq_str(k, "packet")) {
            e = rd_packet(&r, &out->packet, &pdata);
            have_packet = 1;
        } else if (iov_eq_str(k, "sid")) {
            e = rd_str(&r, &out->sid, 0);
        } else if (iov_eq_str(k, "room")) {
            e = rd_str(&r, &out->room, 1);
        } else {
            e = rd_skip(&r);
        }
        if (e)
            goto done;
    }
    if (e || (e = rd_end(&r)))
        goto done;
    if (!have_type) {
        e = fail(ctx, "request without type");
        goto done;
    }
    if (out->type == ADAPTER_MSG_REQ_BROADCAST && (!have_packet || !out->has_opts)) {
        e = fail(ctx, "broadcast request without packet or opts");
        goto done;
    }
    if (have_packet && out->packet.nsp.base == NULL)
        out->packet.nsp = SIOC_LIT("/");
    val_finish(&r, &data, &out->data);
    val_finish(&r, &pdata, &out->packet.data);
done:
    cap_pop(cap);
    return e ? e : (int)len;
}

int adapter_msg_response_decode(adapter_msg_ctx_t *ctx, const char *msg, size_t len,
                                sioc_buf_t *json, adapter_msg_att_t *att,
                                adapter_msg_response_t *out)
{
    rd_t r;
    rd_it_t it;
    rd_val_t sockets = {0}, data = {0};
    sioc_iov_t k = SIOC_IOV_NULL;
    uint64_t u = 0;
    int have_rooms = 0;
    memset(out, 0, sizeof(*out));
    out->kind = -1;
    cap_t cap = cap_push(json, ctx->limits.max_out);
    int e = rd_begin(&r, ctx, msg, len, json, att, 1);
    if (e || (e = rd_container(&r, &it, 1)))
        goto done;
    while ((e = rd_key(&r, &it, &k)) == 1) {
        int t = rd_peek(&r);
        if (t == T_UNDEF) {
            e = rd_skip(&r);
        } else if (iov_eq_str(k, "type")) {
            if (!(e = rd_uint(&r, &u, "bad response type")) && u != 6 && u != 8 && u != 9)
                e = fail(ctx, "bad response type");
            out->kind = (int)u;
        } else if (iov_eq_str(k, "requestId")) {
            e = rd_str(&r, &out->request_id, 1);
        } else if (iov_eq_str(k, "sockets")) {
            e = rd_value(&r, &sockets);
        } else if (iov_eq_str(k, "rooms")) {
            e = rd_list(&r, &out->rooms, &out->nrooms);
            have_rooms = 1;
        } else if (iov_eq_str(k, "data") || iov_eq_str(k, "packet")) {
            e = rd_value(&r, &data);
        } else if (iov_eq_str(k, "clientCount")) {
            e = rd_uint(&r, &out->client_count, "bad clientCount");
        } else {
            e = rd_skip(&r);
        }
        if (e)
            goto done;
    }
    if (e || (e = rd_end(&r)))
        goto done;
    if (out->request_id.base == NULL) {
        e = fail(ctx, "response without requestId");
        goto done;
    }
    if (out->kind < 0)
        out->kind = sockets.present ? ADAPTER_MSG_RESP_SOCKETS
                    : have_rooms    ? ADAPTER_MSG_RESP_ROOMS
                                    : ADAPTER_MSG_RESP_ACK;
    val_finish(&r, &sockets, &out->sockets);
    val_finish(&r, &data, &out->data);
done:
    cap_pop(cap);
    return e ? e : (int)len;
}

static int shard_data(rd_t *r, adapter_msg_shard_t *out, rd_val_t *pdata, rd_val_t *value)
{
    rd_it_t it;
    sioc_iov_t k = SIOC_IOV_NULL;
    int e;
    if ((e = rd_container(r, &it, 1)))
        return e;
    while ((e = rd_key(r, &it, &k)) == 1) {
        int t = rd_peek(r);
        if (t == T_UNDEF)
            e = rd_skip(r);
        else if (iov_eq_str(k, "packet") && out->type == ADAPTER_MSG_SHARD_BROADCAST)
            e = rd_packet(r, &out->packet, pdata);
        else if (iov_eq_str(k, "packet") || iov_eq_str(k, "sockets"))
            e = rd_value(r, value);
        else if (iov_eq_str(k, "opts"))
            e = rd_opts(r, &out->opts);
        else if (iov_eq_str(k, "rooms"))
            e = rd_list(r, &out->rooms, &out->nrooms);
        else if (iov_eq_str(k, "close"))
            e = rd_bool(r, &out->close);
        else if (iov_eq_str(k, "requestId"))
            e = t == T_NIL ? rd_skip(r) : rd_str(r, &out->request_id, 1);
        else if (iov_eq_str(k, "clientCount"))
            e = rd_uint(r, &out->client_count, "bad clientCount");
        else
            e = rd_skip(r);
        if (e)
            return e;
    }
    return e;
}

int adapter_msg_shard_decode(adapter_msg_ctx_t *ctx, const char *msg, size_t len, sioc_buf_t *json,
                             adapter_msg_att_t *att, adapter_msg_shard_t *out)
{
    rd_t r;
    rd_it_t it;
    rd_val_t pdata = {0}, value = {0};
    sioc_iov_t k = SIOC_IOV_NULL;
    uint64_t u;
    cptr data = NULL;
    int have_type = 0;
    memset(out, 0, sizeof(*out));
    cap_t cap = cap_push(json, ctx->limits.max_out);
    int e = rd_begin(&r, ctx, msg, len, json, att, 1);
    if (e || (e = rd_container(&r, &it, 1)))
        goto done;
    out->json = r.json;
    while ((e = rd_key(&r, &it, &k)) == 1) {
        int t = rd_peek(&r);
        if (t == T_NIL || t == T_UNDEF) {
            e = rd_skip(&r);
        } else if (iov_eq_str(k, "type")) {
            if (!(e = rd_uint(&r, &u, "bad message type")) && (u < 1 || u > 13))
                e = fail(ctx, "bad message type");
            out->type = (int)u;
            have_type = 1;
        } else if (iov_eq_str(k, "data")) {
            data = r.p; /* its shape depends on the type, which may come later */
            e = rd_skip(&r);
        } else if (iov_eq_str(k, "uid")) {
            e = rd_str(&r, &out->uid, 0);
        } else if (iov_eq_str(k, "nsp")) {
            e = rd_str(&r, &out->nsp, 0);
        } else {
            e = rd_skip(&r);
        }
        if (e)
            goto done;
    }
    if (e || (e = rd_end(&r)))
        goto done;
    if (!have_type) {
        e = fail(ctx, "message without type");
        goto done;
    }
    if (data != NULL) {
        r.p = data;
        if ((e = shard_data(&r, out, &pdata, &value)))
            goto done;
    } else if (out->type >= ADAPTER_MSG_SHARD_BROADCAST &&
               out->type <= ADAPTER_MSG_SHARD_BROADCAST_ACK) {
        e = fail(ctx, "message without data");
        goto done;
    }
    val_finish(&r, &pdata, &out->packet.data);
    val_finish(&r, &value, &out->value);
done:
    cap_pop(cap);
    return e ? e : (int)len;
}

/* ---------------------------------------------------------------- envelope writer */

/*
 * Writes JSON (as JSON.stringify) or msgpack (as notepack.encode) through
 * one interface. Errors are sticky in w->err so encoders read straight.
 */
typedef struct {
    adapter_msg_ctx_t *ctx;
    sioc_buf_t *b;
    int json;
    int err;
    msgpack_packer pk;
    unsigned depth;
    uint32_t count[16]; /* JSON: entries written per open container */
    int after_key;
} wr_t;

static void w_init(wr_t *w, adapter_msg_ctx_t *ctx, sioc_buf_t *b, int json)
{
    memset(w, 0, sizeof(*w));
    w->ctx = ctx;
    w->b = b;
    w->json = json;
    msgpack_packer_init(&w->pk, b, pk_write);
}

static void w_set(wr_t *w, int e)
{
    if (e && !w->err)
        w->err = e;
}

/* JSON: the comma before a value that is not a member value. */
static void w_sep(wr_t *w)
{
    if (!w->json || w->err)
        return;
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth && w->count[w->depth - 1]++)
        w_set(w, buf_append_byte(w->b, ','));
}

static void w_open(wr_t *w, size_t n, int map)
{
    if (w->err)
        return;
    if (!w->json) {
        w_set(w, map ? msgpack_pack_map(&w->pk, n) : msgpack_pack_array(&w->pk, n));
        return;
    }
    w_sep(w);
    if (w->depth >= 16) {
        w_set(w, SIOC_EINVAL);
        return;
    }
    w->count[w->depth++] = 0;
    w_set(w, buf_append_byte(w->b, map ? '{' : '['));
}

static void w_close(wr_t *w, int map)
{
    if (!w->json || w->err)
        return;
    w->depth--;
    w_set(w, buf_append_byte(w->b, map ? '}' : ']'));
}

static void w_str(wr_t *w, sioc_iov_t s)
{
    if (w->err)
        return;
    if (!w->json) {
        int e = msgpack_pack_str(&w->pk, s.len);
        w_set(w, e ? e : msgpack_pack_str_body(&w->pk, s.base, s.len));
        return;
    }
    w_sep(w);
    w_set(w, sio_json_append_string(w->b, s.base, s.len));
}

static void w_key(wr_t *w, const char *k)
{
    w_str(w, iov_make(k, strlen(k)));
    if (w->json && !w->err) {
        w_set(w, buf_append_byte(w->b, ':'));
        w->after_key = 1;
    }
}

static void w_num(wr_t *w, double d)
{
    if (w->err)
        return;
    w_sep(w);
    w_set(w, w->json ? put_json_num(w->b, d) : pk_number(&w->pk, w->b, d));
}

static void w_bool(wr_t *w, int b)
{
    if (w->err)
        return;
    w_sep(w);
    if (w->json)
        w_set(w, b ? buf_append(w->b, "true", 4) : buf_append(w->b, "false", 5));
    else
        w_set(w, b ? msgpack_pack_true(&w->pk) : msgpack_pack_false(&w->pk));
}

static void w_list(wr_t *w, const sioc_iov_t *v, size_t n)
{
    w_open(w, n, 0);
    for (size_t i = 0; i < n; i++)
        w_str(w, v[i]);
    w_close(w, 0);
}

/* A Socket.IO value: JSON verbatim (validated) or converted to msgpack. */
static void w_value(wr_t *w, const adapter_msg_value_t *v)
{
    if (w->err)
        return;
    if (v->json.base == NULL) {
        w_set(w, bad_input(w->ctx, "absent value"));
        return;
    }
    if (!w->json) {
        w_set(w, j2m_run(w->ctx, v, w->b));
        return;
    }
    if (v->binary && v->natt) {
        w_set(w, bad_input(w->ctx, "binary data cannot be sent as JSON"));
        return;
    }
    int e = js_validate(w->ctx, v->json.base, v->json.len);
    if (e) {
        w_set(w, e);
        return;
    }
    w_sep(w);
    cptr s = js_ws((cptr)v->json.base, (cptr)v->json.base + v->json.len);
    cptr z = (cptr)v->json.base + v->json.len;
    while (z > s && (z[-1] == ' ' || z[-1] == '\t' || z[-1] == '\n' || z[-1] == '\r'))
        z--;
    w_set(w, buf_append(w->b, s, (size_t)(z - s)));
}

static int popcount(unsigned v)
{
    int n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

/* flags in the order volatile, compress, local, broadcast, binary, timeout, expectSingleResponse.
 */
static void w_flags(wr_t *w, const adapter_msg_flags_t *f)
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
    unsigned present = f->present & 0x7f;
    w_open(w, (size_t)popcount(present), 1);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(present & names[i].bit))
            continue;
        w_key(w, names[i].name);
        if (names[i].bit == ADAPTER_MSG_F_TIMEOUT)
            w_num(w, f->timeout);
        else
            w_bool(w, (f->value & names[i].bit) != 0);
    }
    w_close(w, 1);
}

#define OPTS_FLAGS 1   /* write flags */
#define OPTS_EMITTER 2 /* emitter key order: rooms, flags, except */

static void w_opts(wr_t *w, const adapter_msg_opts_t *o, int how)
{
    w_open(w, (how & OPTS_FLAGS) ? 3 : 2, 1);
    w_key(w, "rooms");
    w_list(w, o->rooms, o->nrooms);
    if ((how & OPTS_FLAGS) && (how & OPTS_EMITTER)) {
        w_key(w, "flags");
        w_flags(w, &o->flags);
    }
    w_key(w, "except");
    w_list(w, o->except, o->nexcept);
    if ((how & OPTS_FLAGS) && !(how & OPTS_EMITTER)) {
        w_key(w, "flags");
        w_flags(w, &o->flags);
    }
    w_close(w, 1);
}

/* {type, data[, nsp][, id]} */
static void w_packet(wr_t *w, const adapter_msg_packet_t *p)
{
    w_open(w, 2 + (p->nsp.base != NULL) + (p->has_id != 0), 1);
    w_key(w, "type");
    w_num(w, p->type);
    w_key(w, "data");
    w_value(w, &p->data);
    if (p->nsp.base != NULL) {
        w_key(w, "nsp");
        w_str(w, p->nsp);
    }
    if (p->has_id) {
        w_key(w, "id");
        w_num(w, (double)p->id);
    }
    w_close(w, 1);
}

/* Runs an encoder body with the output capped and rolled back on error. */
static int w_finish(wr_t *w, cap_t cap, size_t start)
{
    cap_pop(cap);
    if (w->err)
        w->b->len = start;
    return w->err;
}

/* ---------------------------------------------------------------- envelope encoders */

int adapter_msg_broadcast_encode(adapter_msg_ctx_t *ctx, const adapter_msg_broadcast_t *in,
                                 int emitter_order, sioc_buf_t *out)
{
    wr_t w;
    size_t start = out->len;
    ctx->reason = NULL;
    cap_t cap = cap_push(out, ctx->limits.max_out);
    w_init(&w, ctx, out, 0);
    w_open(&w, 3, 0);
    w_str(&w, in->uid);
    w_packet(&w, &in->packet);
    w_opts(&w, &in->opts, OPTS_FLAGS | (emitter_order ? OPTS_EMITTER : 0));
    return w_finish(&w, cap, start);
}

static size_t present(const void *p)
{
    return p != NULL;
}

int adapter_msg_request_encode(adapter_msg_ctx_t *ctx, const adapter_msg_request_t *in,
                               sioc_buf_t *out)
{
    wr_t w;
    size_t start = out->len;
    int t = in->type;
    ctx->reason = NULL;
    if (t < 0 || t > ADAPTER_MSG_REQ_BROADCAST)
        return bad_input(ctx, "request type not sent by servers");
    cap_t cap = cap_push(out, ctx->limits.max_out);
    w_init(&w, ctx, out, t != ADAPTER_MSG_REQ_BROADCAST);
    int legacy = (t >= ADAPTER_MSG_REQ_REMOTE_JOIN && t <= ADAPTER_MSG_REQ_REMOTE_DISCONNECT) &&
                 !in->has_opts && in->sid.base != NULL;
    size_t n = 1 + present(in->uid.base) + present(in->request_id.base);
    if (legacy)
        n += 2;
    else if (t == ADAPTER_MSG_REQ_SOCKETS || t == ADAPTER_MSG_REQ_REMOTE_JOIN ||
             t == ADAPTER_MSG_REQ_REMOTE_LEAVE)
        n += 1 + (t != ADAPTER_MSG_REQ_SOCKETS);
    else if (t == ADAPTER_MSG_REQ_REMOTE_DISCONNECT || t == ADAPTER_MSG_REQ_BROADCAST)
        n += 2;
    else if (t == ADAPTER_MSG_REQ_REMOTE_FETCH || t == ADAPTER_MSG_REQ_SERVER_SIDE_EMIT)
        n += 1;
    w_open(&w, n, 1);
    if (in->uid.base != NULL) {
        w_key(&w, "uid");
        w_str(&w, in->uid);
    }
    if (in->request_id.base != NULL) {
        w_key(&w, "requestId");
        w_str(&w, in->request_id);
    }
    w_key(&w, "type");
    w_num(&w, t);
    if (legacy) {
        w_key(&w, "sid");
        w_str(&w, in->sid);
        if (t == ADAPTER_MSG_REQ_REMOTE_DISCONNECT) {
            w_key(&w, "close");
            w_bool(&w, in->close);
        } else {
            w_key(&w, "room");
            w_str(&w, in->room);
        }
    } else if (t == ADAPTER_MSG_REQ_SOCKETS) {
        w_key(&w, "rooms");
        w_list(&w, in->rooms, in->nrooms);
    } else if (t >= ADAPTER_MSG_REQ_REMOTE_JOIN && t <= ADAPTER_MSG_REQ_REMOTE_FETCH) {
        w_key(&w, "opts");
        w_opts(&w, &in->opts, 0);
        if (t == ADAPTER_MSG_REQ_REMOTE_DISCONNECT) {
            w_key(&w, "close");
            w_bool(&w, in->close);
        } else if (t != ADAPTER_MSG_REQ_REMOTE_FETCH) {
            w_key(&w, "rooms");
            w_list(&w, in->rooms, in->nrooms);
        }
    } else if (t == ADAPTER_MSG_REQ_SERVER_SIDE_EMIT) {
        w_key(&w, "data");
        w_value(&w, &in->data);
    } else if (t == ADAPTER_MSG_REQ_BROADCAST) {
        w_key(&w, "packet");
        w_packet(&w, &in->packet);
        w_key(&w, "opts");
        w_opts(&w, &in->opts, OPTS_FLAGS);
    }
    w_close(&w, 1);
    return w_finish(&w, cap, start);
}

int adapter_msg_response_encode(adapter_msg_ctx_t *ctx, const adapter_msg_response_t *in,
                                sioc_buf_t *out)
{
    wr_t w;
    size_t start = out->len;
    int k = in->kind;
    ctx->reason = NULL;
    cap_t cap = cap_push(out, ctx->limits.max_out);
    w_init(&w, ctx, out, k != ADAPTER_MSG_RESP_BROADCAST_ACK);
    switch (k) {
    case ADAPTER_MSG_RESP_ACK:
    case ADAPTER_MSG_RESP_SOCKETS:
    case ADAPTER_MSG_RESP_ROOMS:
        w_open(&w, k == ADAPTER_MSG_RESP_ACK ? 1 : 2, 1);
        w_key(&w, "requestId");
        w_str(&w, in->request_id);
        if (k == ADAPTER_MSG_RESP_SOCKETS) {
            w_key(&w, "sockets");
            w_value(&w, &in->sockets);
        } else if (k == ADAPTER_MSG_RESP_ROOMS) {
            w_key(&w, "rooms");
            w_list(&w, in->rooms, in->nrooms);
        }
        break;
    case ADAPTER_MSG_RESP_SERVER_EMIT:
    case ADAPTER_MSG_RESP_CLIENT_COUNT:
    case ADAPTER_MSG_RESP_BROADCAST_ACK: {
        int has = k == ADAPTER_MSG_RESP_CLIENT_COUNT || in->data.json.base != NULL;
        w_open(&w, 2 + (size_t)has, 1);
        w_key(&w, "type");
        w_num(&w, k);
        w_key(&w, "requestId");
        w_str(&w, in->request_id);
        if (k == ADAPTER_MSG_RESP_CLIENT_COUNT) {
            w_key(&w, "clientCount");
            w_num(&w, (double)in->client_count);
        } else if (has) {
            w_key(&w, k == ADAPTER_MSG_RESP_SERVER_EMIT ? "data" : "packet");
            w_value(&w, &in->data);
        }
        break;
    }
    default:
        w_set(&w, bad_input(ctx, "unknown response kind"));
    }
    w_close(&w, 1);
    return w_finish(&w, cap, start);
}

int adapter_msg_shard_encode(adapter_msg_ctx_t *ctx, const adapter_msg_shard_t *in, sioc_buf_t *out)
{
    wr_t w;
    size_t start = out->len;
    int t = in->type;
    const adapter_msg_value_t *bv =
        t == ADAPTER_MSG_SHARD_BROADCAST ? &in->packet.data : &in->value;
    ctx->reason = NULL;
    if (t < 1 || t > 13)
        return bad_input(ctx, "unknown message type");
    int may_bin = t == ADAPTER_MSG_SHARD_BROADCAST || t == ADAPTER_MSG_SHARD_BROADCAST_ACK ||
                  t == ADAPTER_MSG_SHARD_FETCH_SOCKETS_RESPONSE ||
                  t == ADAPTER_MSG_SHARD_SERVER_SIDE_EMIT ||
                  t == ADAPTER_MSG_SHARD_SERVER_SIDE_EMIT_RESPONSE;
    int msgpack = may_bin && bv->json.base != NULL && bv->binary && bv->natt > 0;
    int has_data = t >= ADAPTER_MSG_SHARD_BROADCAST && t <= ADAPTER_MSG_SHARD_BROADCAST_ACK;
    int has_rid = in->request_id.base != NULL;
    int has_val = in->value.json.base != NULL;
    cap_t cap = cap_push(out, ctx->limits.max_out);
    w_init(&w, ctx, out, !msgpack);
    w_open(&w, 3 + (size_t)has_data, 1);
    w_key(&w, "type");
    w_num(&w, t);
    if (has_data) {
        w_key(&w, "data");
        switch (t) {
        case ADAPTER_MSG_SHARD_BROADCAST:
            w_open(&w, 2 + (size_t)has_rid, 1);
            w_key(&w, "packet");
            w_packet(&w, &in->packet);
            if (has_rid) {
                w_key(&w, "requestId");
                w_str(&w, in->request_id);
            }
            w_key(&w, "opts");
            w_opts(&w, &in->opts, OPTS_FLAGS);
            break;
        case ADAPTER_MSG_SHARD_SOCKETS_JOIN:
        case ADAPTER_MSG_SHARD_SOCKETS_LEAVE:
        case ADAPTER_MSG_SHARD_DISCONNECT_SOCKETS:
        case ADAPTER_MSG_SHARD_FETCH_SOCKETS:
            w_open(&w, 2, 1);
            w_key(&w, "opts");
            w_opts(&w, &in->opts, OPTS_FLAGS);
            if (t == ADAPTER_MSG_SHARD_DISCONNECT_SOCKETS) {
                w_key(&w, "close");
                w_bool(&w, in->close);
            } else if (t == ADAPTER_MSG_SHARD_FETCH_SOCKETS) {
                w_key(&w, "requestId");
                w_str(&w, in->request_id);
            } else {
                w_key(&w, "rooms");
                w_list(&w, in->rooms, in->nrooms);
            }
            break;
        case ADAPTER_MSG_SHARD_SERVER_SIDE_EMIT:
            w_open(&w, 1 + (size_t)has_rid, 1);
            if (has_rid) {
                w_key(&w, "requestId");
                w_str(&w, in->request_id);
            }
            w_key(&w, "packet");
            w_value(&w, &in->value);
            break;
        case ADAPTER_MSG_SHARD_BROADCAST_CLIENT_COUNT:
            w_open(&w, 2, 1);
            w_key(&w, "requestId");
            w_str(&w, in->request_id);
            w_key(&w, "clientCount");
            w_num(&w, (double)in->client_count);
            break;
        default: /* 8, 10, 12: {requestId, sockets | packet} */
            w_open(&w, 1 + (size_t)has_val, 1);
            w_key(&w, "requestId");
            w_str(&w, in->request_id);
            if (has_val) {
                w_key(&w, t == ADAPTER_MSG_SHARD_FETCH_SOCKETS_RESPONSE ? "sockets" : "packet");
                w_value(&w, &in->value);
            }
        }
        w_close(&w, 1);
    }
    w_key(&w, "uid");
    w_str(&w, in->uid);
    w_key(&w, "nsp");
    w_str(&w, in->nsp);
    w_close(&w, 1);
    return w_finish(&w, cap, start);
}

/* ---------------------------------------------------------------- channels */

int adapter_msg_channel(sioc_buf_t *out, sioc_iov_t key, int kind, sioc_iov_t nsp, sioc_iov_t extra)
{
    static const char *const suffix[] = {"#", "#", "#", "-request#", "-response#", "-response#"};
    size_t start = out->len;
    int e;
    if (kind < 0 || kind > ADAPTER_MSG_CH_RESPONSE_UID)
        return SIOC_EINVAL;
    if (key.len == 0)
        key = SIOC_LIT("socket.io");
    if ((e = buf_append(out, key.base, key.len)) || (e = buf_append_str(out, suffix[kind])) ||
        (e = buf_append(out, nsp.base, nsp.len)) || (e = buf_append_byte(out, '#')))
        goto fail;
    if (kind == ADAPTER_MSG_CH_ROOM || kind == ADAPTER_MSG_CH_RESPONSE_UID) {
        if ((e = buf_append(out, extra.base, extra.len)) || (e = buf_append_byte(out, '#')))
            goto fail;
    } else if (kind == ADAPTER_MSG_CH_PATTERN && (e = buf_append_byte(out, '*'))) {
        goto fail;
    }
    return 0;
fail:
    out->len = start;
    return e;
}

int adapter_msg_channel_room(sioc_iov_t channel, sioc_iov_t key, sioc_iov_t nsp, sioc_iov_t *room)
{
    if (key.len == 0)
        key = SIOC_LIT("socket.io");
    size_t head = key.len + 1 + nsp.len + 1;
    if (channel.len < head || memcmp(channel.base, key.base, key.len) != 0 ||
        channel.base[key.len] != '#' ||
        memcmp(channel.base + key.len + 1, nsp.base, nsp.len) != 0 || channel.base[head - 1] != '#')
        return -1;
    if (channel.len == head)
        return 0;
    /* Node: room = channel.slice(prefix.length, -1) */
    *room = iov_make(channel.base + head, channel.len - head - 1);
    return room->len ? 1 : 0;
}
