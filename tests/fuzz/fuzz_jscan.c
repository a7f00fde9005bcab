/*
 * fuzz_jscan.c - libFuzzer target for common/sio/jscan (and sio_json).
 *
 * Oracle: jansson's json_loadb(JSON_DECODE_ANY | JSON_ALLOW_NUL). The two
 * must agree on accept/reject except where jscan.h documents a different
 * choice, and each such difference is checked to be one of them:
 * - jscan accepts, jansson rejects: the input has a `\u` escape of a lone
 *   surrogate, an integer token outside int64 (jansson: "too big integer"),
 *   a number token that overflows a double ("real number overflow"), or an
 *   object key with a NUL (`\u0000`; "NUL byte in object key not supported");
 * - jscan rejects, jansson accepts: nesting deeper than JSCAN_MAX_DEPTH.
 * jansson reads a raw NUL byte as the end of its input ("-0\0" loads as -0),
 * so inputs holding one are not compared: jscan must reject them all (a raw
 * NUL is never valid JSON).
 * When both accept, the structures must match: kinds, array lengths and
 * elements, object keys (decoded) and values (duplicate keys: the last one
 * wins in jansson, so only that one is compared), decoded strings, integer
 * and real values.
 * Other invariants: the walker's events are well nested and lie inside the
 * input; the iterator visits as many members as the walker reports;
 * decoded strings are valid UTF-8; jscan_string_eq agrees with
 * jscan_string_unescape; every input written with sio_json_append_string
 * scans back as a string that decodes to the input (when it was UTF-8).
 * The raw input also goes straight to the slice-level helpers (iterator,
 * unescape, number conversion, placeholder test), which must be safe on
 * anything and agree with jscan_value about what is a token.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/utf8.h"
#include "sio/jscan.h"
#include "sio/sio_json.h"
#include "tests/fuzz/fuzz_check.h"

typedef struct {
    const char *p;
    size_t n;
    unsigned open[JSCAN_MAX_DEPTH + 1];
    unsigned depth;
    int lone_surrogate, big_int, big_real, nul_key;
    unsigned top_members;
} walk_t;

static int valid_utf8(const char *s, size_t n)
{
    return utf8_is_valid((const uint8_t *)s, n);
}

/* Whether a (valid) string token has a \u escape of an unpaired surrogate. */
static int has_lone_surrogate(sioc_iov_t tok)
{
    const char *s = tok.base;
    for (size_t i = 1; i + 1 < tok.len; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] != 'u') {
            i++;
            continue;
        }
        unsigned v =
            (unsigned)strtoul((char[5]){s[i + 2], s[i + 3], s[i + 4], s[i + 5], 0}, NULL, 16);
        if (v >= 0xdc00 && v <= 0xdfff)
            return 1;
        if (v >= 0xd800 && v <= 0xdbff) {
            unsigned lo = 0;
            if (i + 11 < tok.len && s[i + 6] == '\\' && s[i + 7] == 'u')
                lo = (unsigned)strtoul((char[5]){s[i + 8], s[i + 9], s[i + 10], s[i + 11], 0}, NULL,
                                       16);
            if (lo < 0xdc00 || lo > 0xdfff)
                return 1;
            i += 6;
        }
        i += 5;
    }
    return 0;
}

/* Whether a (valid) string token decodes to something with a NUL byte. */
static int has_nul(sioc_iov_t tok)
{
    char *out = malloc(tok.len);
    CHECK(out != NULL);
    int n = jscan_string_unescape(tok, out, tok.len);
    CHECK(n >= 0);
    int r = memchr(out, '\0', (size_t)n) != NULL;
    free(out);
    return r;
}

static void check_string(sioc_iov_t tok)
{
    size_t cap = tok.len - 1;
    char *out = malloc(cap);
    CHECK(out != NULL);
    int n = jscan_string_unescape(tok, out, cap);
    CHECK(n >= 0 && (size_t)n < cap && out[n] == '\0');
    CHECK(valid_utf8(out, (size_t)n));
    CHECK(jscan_string_eq_iov(tok, iov_make(out, (size_t)n)));
    if (n > 0)
        CHECK(!jscan_string_eq_iov(tok, iov_make(out, (size_t)n - 1)));
    free(out);
}

static int on_event(const jscan_event_t *ev, void *data)
{
    walk_t *w = data;
    CHECK(ev->tok.base >= w->p && ev->tok.base + ev->tok.len <= w->p + w->n && ev->tok.len > 0);
    switch (ev->type) {
    case JSCAN_EV_BEGIN:
        CHECK(ev->depth == w->depth && ev->depth < JSCAN_MAX_DEPTH);
        CHECK(ev->tok.len == 1 && ev->tok.base[0] == (ev->kind == JSCAN_OBJECT ? '{' : '['));
        w->open[w->depth++] = (unsigned)ev->kind;
        break;
    case JSCAN_EV_END:
        CHECK(w->depth > 0 && ev->depth == w->depth - 1 &&
              w->open[ev->depth] == (unsigned)ev->kind);
        CHECK(ev->tok.base[ev->tok.len - 1] == (ev->kind == JSCAN_OBJECT ? '}' : ']'));
        w->depth--;
        break;
    case JSCAN_EV_KEY:
        CHECK(ev->depth == w->depth && w->depth > 0 && w->open[w->depth - 1] == JSCAN_OBJECT);
        if (ev->depth == 1)
            w->top_members++;
        check_string(ev->tok);
        w->lone_surrogate |= has_lone_surrogate(ev->tok);
        w->nul_key |= has_nul(ev->tok);
        break;
    default:
        CHECK(ev->type == JSCAN_EV_SCALAR && ev->depth == w->depth);
        if (ev->depth == 1 && w->open[0] == JSCAN_ARRAY)
            w->top_members++;
        CHECK(jscan_token_kind(ev->tok) == ev->kind);
        if (ev->kind == JSCAN_STRING) {
            check_string(ev->tok);
            w->lone_surrogate |= has_lone_surrogate(ev->tok);
        } else if (ev->kind == JSCAN_NUMBER) {
            long long ll;
            double d;
            int ri = jscan_number_ll(ev->tok, &ll);
            CHECK(ri == 0 || ri == SIOC_EINVAL || ri == -ERANGE);
            if (ri == -ERANGE)
                w->big_int = 1;
            int rd = jscan_number_double(ev->tok, &d);
            CHECK(rd == 0 || rd == -ERANGE || (rd == SIOC_EINVAL && ev->tok.len >= 510));
            if (rd == -ERANGE || (rd == SIOC_EINVAL && ri != 0))
                w->big_real = 1;
        }
        break;
    }
    /* Containers at depth 1 count as members of the top-level container too. */
    if (ev->type == JSCAN_EV_BEGIN && ev->depth == 1 && w->open[0] == JSCAN_ARRAY)
        w->top_members++;
    return 0;
}

static void same(sioc_iov_t tok, int kind, json_t *j);

static void same_object(sioc_iov_t tok, json_t *j)
{
    CHECK(json_is_object(j));
    jscan_iter_t it;
    sioc_iov_t key, val;
    int k;
    size_t members = 0;
    CHECK(jscan_iter_init(&it, tok) == 0);
    while ((k = jscan_next(&it, &key, &val)) > 0) {
        members++;
        char *name = malloc(key.len);
        CHECK(name != NULL);
        int n = jscan_string_unescape(key, name, key.len);
        CHECK(n >= 0);
        json_t *jv = json_object_getn(j, name, (size_t)n);
        CHECK(jv != NULL);
        /* Compare only the last member with this key: that is the one jansson keeps. */
        jscan_iter_t later = it;
        sioc_iov_t k2, v2;
        int dup = 0;
        while (!dup && jscan_next(&later, &k2, &v2) > 0)
            dup = jscan_string_eq_iov(k2, iov_make(name, (size_t)n));
        if (!dup)
            same(val, k, jv);
        free(name);
    }
    CHECK(k == 0);
    CHECK(json_object_size(j) <= members && (members == 0) == (json_object_size(j) == 0));
}

static void same(sioc_iov_t tok, int kind, json_t *j)
{
    switch (kind) {
    case JSCAN_OBJECT:
        same_object(tok, j);
        break;
    case JSCAN_ARRAY: {
        CHECK(json_is_array(j));
        jscan_iter_t it;
        sioc_iov_t val;
        int k;
        size_t i = 0;
        CHECK(jscan_iter_init(&it, tok) == 0);
        while ((k = jscan_next(&it, NULL, &val)) > 0) {
            CHECK(i < json_array_size(j));
            same(val, k, json_array_get(j, i++));
        }
        CHECK(k == 0 && i == json_array_size(j));
        break;
    }
    case JSCAN_STRING: {
        CHECK(json_is_string(j));
        char *s = malloc(tok.len);
        CHECK(s != NULL);
        int n = jscan_string_unescape(tok, s, tok.len);
        CHECK(n >= 0 && (size_t)n == json_string_length(j));
        CHECK(memcmp(s, json_string_value(j), (size_t)n) == 0);
        free(s);
        break;
    }
    case JSCAN_NUMBER:
        if (json_is_integer(j)) {
            long long ll;
            CHECK(jscan_number_ll(tok, &ll) == 0 && ll == json_integer_value(j));
        } else {
            double d;
            CHECK(json_is_real(j));
            int rd = jscan_number_double(tok, &d);
            CHECK(rd == 0 ? d == json_real_value(j) : (rd == SIOC_EINVAL && tok.len >= 510));
        }
        break;
    case JSCAN_TRUE:
        CHECK(json_is_true(j));
        break;
    case JSCAN_FALSE:
        CHECK(json_is_false(j));
        break;
    default:
        CHECK(kind == JSCAN_NULL && json_is_null(j));
        break;
    }
}

static int all_ws(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
            return 0;
    return 1;
}

static void check_raw(const char *p, size_t size, int kind, const jscan_value_t *v)
{
    sioc_iov_t raw = iov_make(p, size);
    int exact_tok = kind > 0 && v->tok.len == size;
    int container = kind == JSCAN_OBJECT || kind == JSCAN_ARRAY;

    jscan_iter_t it;
    if (jscan_iter_init(&it, raw) == 0) {
        sioc_iov_t key, val;
        int k;
        CHECK(size > 0 && (p[0] == '[' || p[0] == '{'));
        while ((k = jscan_next(&it, &key, &val)) > 0) {
            CHECK(val.base > p && val.base + val.len <= p + size);
            CHECK(key.len == 0 || (key.base > p && key.base + key.len < val.base));
            CHECK(jscan_token_kind(val) == k);
        }
        CHECK(k == 0 || k == SIOC_EPROTO);
        CHECK(jscan_next(&it, &key, &val) == k);
        if (exact_tok && container)
            CHECK(k == 0);
        /* The container closed and only whitespace follows: the whole is one value
         * (unless it nests too deep, which the iterator counts per element). */
        if (k == 0 && all_ws(p + it._off, size - it._off) &&
            (kind < 0 && strcmp(v->reason, "nesting too deep") != 0))
            abort();
    } else {
        CHECK(size == 0 || (p[0] != '[' && p[0] != '{'));
    }

    char *out = malloc(size + 1);
    CHECK(out != NULL);
    int n = jscan_string_unescape(raw, out, size + 1);
    CHECK((n >= 0) == (exact_tok && kind == JSCAN_STRING));
    if (n >= 0)
        CHECK(jscan_string_eq_iov(raw, iov_make(out, (size_t)n)));
    else
        CHECK(!jscan_string_eq_iov(raw, iov_make(p, size)) || kind == JSCAN_STRING);
    free(out);

    long long ll;
    double d;
    int rn = jscan_number_ll(raw, &ll);
    int rd = jscan_number_double(raw, &d);
    if (rn == 0 || rn == -ERANGE || rd == 0 || rd == -ERANGE)
        CHECK(exact_tok && kind == JSCAN_NUMBER);
    if (exact_tok && kind == JSCAN_NUMBER)
        CHECK(rd == 0 || rd == -ERANGE || size >= 510);
    if (exact_tok)
        CHECK(jscan_token_kind(raw) == kind);

    unsigned num;
    int ph = jscan_is_placeholder(raw, &num);
    CHECK(ph == 0 || ph == 1 || ph == SIOC_EPROTO);
    if (ph == 1)
        CHECK(p[0] == '{');
}

static void check_writer(const char *p, size_t size)
{
    sioc_buf_t b = {0};
    CHECK(sio_json_append_string(&b, p, size) == 0);
    jscan_value_t v;
    CHECK(jscan_value(b.base, b.len, &v) == JSCAN_STRING && v.tok.len == b.len);
    char *out = malloc(b.len);
    CHECK(out != NULL);
    int n = jscan_string_unescape(v.tok, out, b.len);
    CHECK(n >= 0);
    if (valid_utf8(p, size))
        CHECK((size_t)n == size && memcmp(out, p, size) == 0);
    free(out);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    walk_t w = {.p = p, .n = size};
    jscan_value_t v;
    int kind = jscan_walk(p, size, &v, on_event, &w);
    jscan_value_t plain;
    CHECK(jscan_value(p, size, &plain) == kind);

    json_error_t err;
    json_t *j = NULL;
    int raw_nul = size > 0 && memchr(p, '\0', size) != NULL;
    if (raw_nul)
        CHECK(kind < 0);
    else
        j = json_loadb(p, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (kind > 0) {
        CHECK(w.depth == 0);
        CHECK(v.tok.base >= p && v.tok.base + v.tok.len <= p + size);
        CHECK(jscan_token_kind(v.tok) == kind);
        if (kind == JSCAN_OBJECT || kind == JSCAN_ARRAY) {
            /* The iterator sees as many members as the walker did. */
            jscan_iter_t it;
            sioc_iov_t key, val;
            unsigned members = 0;
            int k;
            CHECK(jscan_iter_init(&it, v.tok) == 0);
            while ((k = jscan_next(&it, &key, &val)) > 0)
                members++;
            CHECK(k == 0 && members == w.top_members);
            unsigned num;
            int ph = jscan_is_placeholder(v.tok, &num);
            CHECK(ph == 0 || ph == 1 || ph == SIOC_EPROTO);
            CHECK(ph != 1 || (kind == JSCAN_OBJECT && members == 2));
        }
        if (j != NULL)
            same(v.tok, kind, j);
        else if (!raw_nul)
            CHECK(w.lone_surrogate || w.big_int || w.big_real || w.nul_key);
    } else {
        CHECK(kind == SIOC_EPROTO && v.reason != NULL && v.err_off <= size);
        if (j != NULL)
            CHECK(strcmp(v.reason, "nesting too deep") == 0);
    }
    json_decref(j);
    check_raw(p, size, kind, &v);
    check_writer(p, size);
    return 0;
}
