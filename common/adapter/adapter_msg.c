/*
 * adapter_msg.c - Redis adapter message formats (adapter_msg.h).
 *
 * Job: make a C worker interoperate byte for byte with Node servers running
 * @socket.io/redis-adapter 8.3 (classic and sharded) and the redis-emitter
 * 5.1 (PROTOCOL.md §5.1-§5.4): the envelopes of broadcasts, requests,
 * responses and sharded messages, and the channel names. The event data
 * inside them is converted by mp_json.h; the JavaScript value rules (number
 * formatting, object keys) are js_value.h.
 *
 * Envelopes: keys may come in any order and unknown keys are skipped; a
 * repeated key is read again (the last wins). Envelope strings (uid, nsp,
 * requestId, rooms) from msgpack are raw slices of the message unless they are
 * not UTF-8 (then each ill-formed part becomes U+FFFD, as notepack's decoding
 * does); from JSON they are slices too unless escapes had to be decoded (lone
 * surrogates -> U+FFFD, as Buffer.from(str) does). Numeric room names become JS number strings.
 * The sharded adapter's BROADCAST packet carries no nsp (ClusterAdapter
 * publishes before the namespace is set); it is left absent there, while the
 * classic decoders default a missing nsp to "/" as the adapter does.
 *
 * Threading: none; a context is used by one thread at a time.
 */
#include "adapter/adapter_msg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack/pack.h>

#include "adapter/js_value.h"
#include "adapter/mp_json.h"
#include "base/err.h"
#include "base/utf8.h"
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
    char **b = (char **)(void *)ctx->_blocks.base;
    for (size_t i = 0; i < ctx->_blocks.len / sizeof(char *); i++)
        free(b[i]);
    buf_free(&ctx->_blocks);
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

/* ---------------------------------------------------------------- envelope reader */

/*
 * One cursor over a JSON or msgpack envelope. Strings are slices of the
 * message, or of ctx->_str when JSON escapes had to be decoded (reserved up
 * front: an unescaped string is never longer than its escaped text, so it
 * never moves while the decode runs). Room lists (sioc_iov_t arrays) and room
 * names made from numbers live in ctx->_blocks: blocks taken as the message
 * needs them, which never move, so what a decode allocates follows what the
 * message holds rather than a worst case reserved for every message.
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
        r->p = mp_json__ws(r->p, r->end);
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
        return mp_json__skip_json(r->ctx, &r->p, r->end);
    return mp_json__skip(r->ctx, &r->p, r->end);
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
    mp_json__item_t mi;
    int e = mp_json__head(r->ctx, &r->p, r->end, &mi);
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
    r->p = mp_json__ws(r->p, r->end);
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
        r->p = mp_json__ws(r->p + 1, r->end);
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
        mp_json__item_t mi;
        if ((e = mp_json__head(r->ctx, &r->p, r->end, &mi)))
            return e;
        if (mi.kind != MP_JSON__K_STR)
            return fail(r->ctx, "map key is not a string");
        *key = iov_make((const char *)mi.data, mi.len);
        return 1;
    }
    mp_json__str_t s;
    if (r->p >= r->end || *r->p != '"')
        return fail(r->ctx, "expected JSON object key");
    if ((e = mp_json__str_scan(r->ctx, &r->p, r->end, &s)))
        return e;
    if (!s.escaped) {
        *key = iov_make((const char *)s.body, s.bytes);
    } else if (!s.sur && s.bytes < sizeof(r->kbuf)) {
        mp_json__str_decode(&s, (unsigned char *)r->kbuf);
        *key = iov_make(r->kbuf, s.bytes);
    } else {
        *key = SIOC_LIT("\x01"); /* matches no key we know */
    }
    r->p = mp_json__ws(r->p, r->end);
    if (r->p >= r->end || *r->p != ':')
        return fail(r->ctx, "expected ':'");
    r->p++;
    return 1;
}

/*
 * Stable storage for the current decode (16-byte aligned), from ctx->_blocks: the
 * last block is the one being filled (ctx->_bused bytes); a request larger than a
 * quarter block gets a block of its own, placed before it. Each block starts with
 * ADAPTER_MSG_BLOCK_HEAD bytes holding its data size (size_t). rd_begin() frees
 * every block but a standard first one, so steady state allocates nothing.
 */
#define RD_BLOCK 65536u

static void *rd_alloc(rd_t *r, size_t n)
{
    adapter_msg_ctx_t *c = r->ctx;
    n = (n + 15) & ~(size_t)15;
    size_t nb = c->_blocks.len / sizeof(char *);
    if (nb > 0 && RD_BLOCK - c->_bused >= n) {
        char *p = ((char **)(void *)c->_blocks.base)[nb - 1] + ADAPTER_MSG_BLOCK_HEAD + c->_bused;
        c->_bused += n;
        return p;
    }
    int own = n > RD_BLOCK / 4;
    size_t size = own ? n : RD_BLOCK;
    char *blk = malloc(ADAPTER_MSG_BLOCK_HEAD + size);
    if (blk == NULL || buf_reserve(&c->_blocks, sizeof(char *))) {
        free(blk);
        return NULL;
    }
    memcpy(blk, &size, sizeof(size));
    char **b = (char **)(void *)c->_blocks.base;
    c->_blocks.len += sizeof(char *);
    if (!own) {
        b[nb] = blk;
        c->_bused = n;
        c->_b0_std |= nb == 0;
    } else if (nb > 0) {
        b[nb] = b[nb - 1];
        b[nb - 1] = blk;
    } else {
        b[0] = blk;
        c->_bused = RD_BLOCK; /* full: the next request takes a new block */
    }
    return blk + ADAPTER_MSG_BLOCK_HEAD;
}

/* Frees the blocks of the previous decode, keeping a standard first block. */
static void rd_blocks_reset(adapter_msg_ctx_t *c)
{
    char **b = (char **)(void *)c->_blocks.base;
    size_t nb = c->_blocks.len / sizeof(char *), keep = nb > 0 && c->_b0_std;
    for (size_t i = keep; i < nb; i++)
        free(b[i]);
    c->_blocks.len = keep * sizeof(char *);
    c->_b0_std = (unsigned char)keep;
    c->_bused = 0;
}

static int rd_num(rd_t *r, double *d)
{
    if (rd_peek(r) != T_NUM)
        return fail(r->ctx, "expected a number");
    if (r->json)
        return mp_json__number(r->ctx, &r->p, r->end, d);
    mp_json__item_t mi;
    int e = mp_json__head(r->ctx, &r->p, r->end, &mi);
    *d = mp_json__item_num(&mi);
    return e;
}

/* A non-negative integer (type, id, clientCount). */
static int rd_uint(rd_t *r, uint64_t *v, const char *what)
{
    double d;
    int e = rd_num(r, &d);
    if (e)
        return e;
    if (!js_value_is_integral(d) || d < 0 || d >= JS_VALUE_TWO64)
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
        size_t n = js_value_number(d, tmp);
        char *k = rd_alloc(r, n);
        if (k == NULL)
            return SIOC_ENOMEM;
        memcpy(k, tmp, n);
        *out = iov_make(k, n);
        return 0;
    }
    if (t != T_STR)
        return fail(r->ctx, "expected a string");
    if (!r->json) {
        mp_json__item_t mi;
        if ((e = mp_json__head(r->ctx, &r->p, r->end, &mi)))
            return e;
        if (utf8_is_valid(mi.data, mi.len)) {
            *out = iov_make((const char *)mi.data, mi.len);
            return 0;
        }
        /* As Node reads it: each ill-formed subpart becomes U+FFFD. */
        sioc_buf_t fixed = {0};
        char *k = NULL;
        if ((e = utf8_repair_append(&fixed, mi.data, mi.len)) == 0 &&
            (k = rd_alloc(r, fixed.len)) != NULL)
            memcpy(k, fixed.base, fixed.len);
        *out = iov_make(k, fixed.len);
        buf_free(&fixed);
        return e ? e : k == NULL ? SIOC_ENOMEM : 0;
    }
    mp_json__str_t s;
    if ((e = mp_json__str_scan(r->ctx, &r->p, r->end, &s)))
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
        mp_json__str_decode(&s, (unsigned char *)d);
        n = s.bytes;
    } else {
        /* JS string -> the bytes Buffer.from(str) would give (U+FFFD for lone surrogates) */
        sioc_buf_t *tb = &r->ctx->_tmp;
        if ((e = buf_reserve(tb, raw * 2)))
            return e;
        uint16_t *u = (uint16_t *)(void *)tb->base;
        size_t nu = mp_json__str_utf16(&s, u);
        n = js_value_utf16_to_utf8(u, nu, (unsigned char *)d, raw);
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
            return mp_json__lit(r->ctx, &r->p, r->end, *b ? "true" : "false", *b ? 4 : 5);
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

/*
 * A list of room names (strings or numbers); nil/undefined = empty. Built in
 * ctx->_list (which may move as it grows), then copied to stable storage.
 */
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
    l->len = 0;
    while ((e = rd_next(r, &it, 0)) == 1) {
        if (*n >= r->ctx->limits.max_list)
            return fail(r->ctx, "room list too long");
        sioc_iov_t s;
        if ((e = rd_str(r, &s, 1)) || (e = buf_append(l, &s, sizeof(s))))
            return e;
        (*n)++;
    }
    if (e || *n == 0)
        return e;
    sioc_iov_t *arr = rd_alloc(r, l->len);
    if (arr == NULL)
        return SIOC_ENOMEM;
    memcpy(arr, l->base, l->len);
    *v = arr;
    return 0;
}

/* Any value: JSON is validated and copied, msgpack converted; undefined = absent. */
static int rd_value(rd_t *r, rd_val_t *v)
{
    memset(v, 0, sizeof(*v));
    v->off = r->jout->len;
    v->att0 = r->att ? r->att->n : 0;
    int e;
    if (r->json) {
        cptr s = mp_json__ws(r->p, r->end);
        if ((e = mp_json__skip_json(r->ctx, &r->p, r->end)))
            return e;
        if ((e = buf_append(r->jout, s, (size_t)(r->p - s))))
            return e;
    } else {
        int undef;
        if ((e = mp_json__to_json_value(r->ctx, &r->p, r->end, r->jout, r->att, &undef)))
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
    ctx->_str.len = 0;
    rd_blocks_reset(ctx);
    return buf_reserve(&ctx->_str, len);
}

static int rd_end(rd_t *r)
{
    if (r->json)
        r->p = mp_json__ws(r->p, r->end);
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
    mp_json__cap_t cap = mp_json__cap_push(json, ctx->limits.max_out);
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
    mp_json__cap_pop(cap);
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
    mp_json__cap_t cap = mp_json__cap_push(json, ctx->limits.max_out);
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
    mp_json__cap_pop(cap);
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
    mp_json__cap_t cap = mp_json__cap_push(json, ctx->limits.max_out);
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
    mp_json__cap_pop(cap);
    if (e) { /* keep only the requestId, when it was read before the error */
        sioc_iov_t id = out->request_id;
        memset(out, 0, sizeof(*out));
        out->kind = -1;
        out->request_id = id;
    }
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
    mp_json__cap_t cap = mp_json__cap_push(json, ctx->limits.max_out);
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
    mp_json__cap_pop(cap);
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
    msgpack_packer_init(&w->pk, b, mp_json__pk_write);
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
    w_set(w, w->json ? js_value_json_number(w->b, d) : mp_json__pk_number(&w->pk, w->b, d));
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
        w_set(w, mp_json__to_mp_run(w->ctx, v, w->b));
        return;
    }
    if (v->binary && v->natt) {
        w_set(w, bad_input(w->ctx, "binary data cannot be sent as JSON"));
        return;
    }
    int e = mp_json__validate(w->ctx, v->json.base, v->json.len);
    if (e) {
        w_set(w, e);
        return;
    }
    w_sep(w);
    cptr s = mp_json__ws((cptr)v->json.base, (cptr)v->json.base + v->json.len);
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
static int w_finish(wr_t *w, mp_json__cap_t cap, size_t start)
{
    mp_json__cap_pop(cap);
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
    mp_json__cap_t cap = mp_json__cap_push(out, ctx->limits.max_out);
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
    mp_json__cap_t cap = mp_json__cap_push(out, ctx->limits.max_out);
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
    mp_json__cap_t cap = mp_json__cap_push(out, ctx->limits.max_out);
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
    mp_json__cap_t cap = mp_json__cap_push(out, ctx->limits.max_out);
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
