/*
 * jscan.c - strict JSON validator and scanner (jscan.h).
 *
 * One iterative scanner does all the work: a state machine over the bytes
 * with an explicit stack of at most JSCAN_MAX_DEPTH open containers (so
 * hostile nesting costs neither recursion nor heap). jscan_value is the walk
 * without a callback; the iterator reuses the same scanner on one element at
 * a time. Strings are validated with a byte-class table so that the common
 * run of plain ASCII costs one load and one compare per byte.
 */
#include "jscan.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/hex.h"
#include "base/utf8.h"

/* Byte classes inside a string. */
enum { C_PLAIN = 0, C_QUOTE, C_BSLASH, C_CTRL, C_HIGH };

static const uint8_t str_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x00 */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x10 */
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x20 '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x40 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, /* 0x50 '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x60 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x70 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0x80 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0x90 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xa0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xb0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xc0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xd0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xe0 */
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, /* 0xf0 */
};

typedef struct {
    const uint8_t *p;
    size_t len;
    size_t i;
    const char *reason;
    jscan_cb cb;
    void *data;
} scanner_t;

static int fail(scanner_t *s, size_t at, const char *why)
{
    s->i = at;
    s->reason = why;
    return SIOC_EPROTO;
}

static inline int is_ws(uint8_t c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline int is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static inline void skip_ws(scanner_t *s)
{
    while (s->i < s->len && is_ws(s->p[s->i]))
        s->i++;
}

/* Scans the string token whose opening quote is at s->i; leaves s->i after the closing quote. */
static int scan_string(scanner_t *s)
{
    const uint8_t *p = s->p;
    size_t n = s->len, i = s->i + 1;
    for (;;) {
        while (i < n && str_class[p[i]] == C_PLAIN)
            i++;
        if (i >= n)
            return fail(s, i, "unterminated string");
        switch (str_class[p[i]]) {
        case C_QUOTE:
            s->i = i + 1;
            return 0;
        case C_CTRL:
            return fail(s, i, "control character in string");
        case C_HIGH: {
            size_t k = utf8_seq(p + i, n - i, NULL);
            if (k == 0)
                return fail(s, i, "invalid UTF-8 in string");
            i += k;
            break;
        }
        default: /* C_BSLASH */
            if (i + 1 >= n)
                return fail(s, i, "unterminated string");
            switch (p[i + 1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
                i += 2;
                break;
            case 'u':
                if (n - i < 6)
                    return fail(s, i, "unterminated string");
                for (size_t k = 2; k < 6; k++)
                    if (hex_val(p[i + k]) < 0)
                        return fail(s, i + k, "invalid \\u escape");
                i += 6;
                break;
            default:
                return fail(s, i + 1, "invalid escape");
            }
            break;
        }
    }
}

/* Scans the number token at s->i: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int scan_number(scanner_t *s)
{
    const uint8_t *p = s->p;
    size_t n = s->len, i = s->i;
    if (i < n && p[i] == '-')
        i++;
    if (i >= n || !is_digit(p[i]))
        return fail(s, i, "invalid number");
    if (p[i] == '0')
        i++;
    else
        while (i < n && is_digit(p[i]))
            i++;
    if (i < n && p[i] == '.') {
        i++;
        if (i >= n || !is_digit(p[i]))
            return fail(s, i, "invalid number fraction");
        while (i < n && is_digit(p[i]))
            i++;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        if (i >= n || !is_digit(p[i]))
            return fail(s, i, "invalid number exponent");
        while (i < n && is_digit(p[i]))
            i++;
    }
    s->i = i;
    return 0;
}

static int scan_literal(scanner_t *s, const char *lit, size_t n)
{
    if (s->len - s->i < n || memcmp(s->p + s->i, lit, n) != 0)
        return fail(s, s->i, "invalid literal");
    s->i += n;
    return 0;
}

static int emit(scanner_t *s, int type, int kind, size_t from, size_t to, unsigned depth)
{
    if (s->cb == NULL)
        return 0;
    jscan_event_t ev = {type, kind, iov_make((const char *)s->p + from, to - from), depth};
    int r = s->cb(&ev, s->data);
    if (r)
        s->reason = "stopped by callback";
    return r;
}

/*
 * Scans one value starting at s->i (leading whitespace allowed) and leaves
 * s->i just after it. Sets *root_kind to the value's kind.
 */
static int scan(scanner_t *s, int *root_kind)
{
    uint8_t kinds[JSCAN_MAX_DEPTH];
    size_t starts[JSCAN_MAX_DEPTH];
    unsigned depth = 0;
    enum { ST_VALUE, ST_KEY, ST_AFTER } st = ST_VALUE;
    int r;

    for (;;) {
        if (st == ST_VALUE) {
            skip_ws(s);
            if (s->i >= s->len)
                return fail(s, s->i, "unexpected end of input");
            uint8_t c = s->p[s->i];
            size_t from = s->i;
            int kind;
            if (c == '{' || c == '[') {
                kind = c == '{' ? JSCAN_OBJECT : JSCAN_ARRAY;
                if (depth == JSCAN_MAX_DEPTH)
                    return fail(s, from, "nesting too deep");
                if (depth == 0)
                    *root_kind = kind;
                if ((r = emit(s, JSCAN_EV_BEGIN, kind, from, from + 1, depth)))
                    return r;
                kinds[depth] = (uint8_t)kind;
                starts[depth] = from;
                depth++;
                s->i++;
                skip_ws(s);
                if (s->i < s->len && s->p[s->i] == (kind == JSCAN_OBJECT ? '}' : ']')) {
                    s->i++;
                    depth--;
                    if ((r = emit(s, JSCAN_EV_END, kind, from, s->i, depth)))
                        return r;
                    st = ST_AFTER;
                } else {
                    st = kind == JSCAN_OBJECT ? ST_KEY : ST_VALUE;
                }
                continue;
            }
            switch (c) {
            case '"':
                kind = JSCAN_STRING;
                r = scan_string(s);
                break;
            case 't':
                kind = JSCAN_TRUE;
                r = scan_literal(s, "true", 4);
                break;
            case 'f':
                kind = JSCAN_FALSE;
                r = scan_literal(s, "false", 5);
                break;
            case 'n':
                kind = JSCAN_NULL;
                r = scan_literal(s, "null", 4);
                break;
            default:
                if (c != '-' && !is_digit(c))
                    return fail(s, from, "unexpected character");
                kind = JSCAN_NUMBER;
                r = scan_number(s);
                break;
            }
            if (r)
                return r;
            if (depth == 0)
                *root_kind = kind;
            if ((r = emit(s, JSCAN_EV_SCALAR, kind, from, s->i, depth)))
                return r;
            st = ST_AFTER;
        } else if (st == ST_KEY) {
            skip_ws(s);
            if (s->i >= s->len)
                return fail(s, s->i, "unexpected end of input");
            if (s->p[s->i] != '"')
                return fail(s, s->i, "expected a string key");
            size_t from = s->i;
            if ((r = scan_string(s)))
                return r;
            if ((r = emit(s, JSCAN_EV_KEY, JSCAN_STRING, from, s->i, depth)))
                return r;
            skip_ws(s);
            if (s->i >= s->len || s->p[s->i] != ':')
                return fail(s, s->i, "expected ':'");
            s->i++;
            st = ST_VALUE;
        } else {
            if (depth == 0)
                return 0;
            skip_ws(s);
            if (s->i >= s->len)
                return fail(s, s->i, "unexpected end of input");
            int top = kinds[depth - 1];
            uint8_t c = s->p[s->i];
            if (c == ',') {
                s->i++;
                st = top == JSCAN_OBJECT ? ST_KEY : ST_VALUE;
            } else if (c == (top == JSCAN_OBJECT ? '}' : ']')) {
                s->i++;
                depth--;
                if ((r = emit(s, JSCAN_EV_END, top, starts[depth], s->i, depth)))
                    return r;
            } else {
                return fail(s, s->i,
                            top == JSCAN_OBJECT ? "expected ',' or '}'" : "expected ',' or ']'");
            }
        }
    }
}

int jscan_walk(const char *p, size_t len, jscan_value_t *v, jscan_cb cb, void *data)
{
    scanner_t s = {(const uint8_t *)p, len, 0, NULL, cb, data};
    int kind = 0;
    skip_ws(&s);
    size_t start = s.i;
    int r = scan(&s, &kind);
    if (r == 0) {
        size_t end = s.i;
        skip_ws(&s);
        if (s.i == len) {
            v->kind = kind;
            v->tok = iov_make(p + start, end - start);
            v->reason = NULL;
            v->err_off = 0;
            return kind;
        }
        r = fail(&s, s.i, "trailing characters after the value");
    }
    v->kind = 0;
    v->tok = SIOC_IOV_NULL;
    v->reason = s.reason;
    v->err_off = s.i;
    return r;
}

int jscan_walk_prefix(const char *p, size_t len, jscan_value_t *v, jscan_cb cb, void *data)
{
    scanner_t s = {(const uint8_t *)p, len, 0, NULL, cb, data};
    int kind = 0;
    skip_ws(&s);
    size_t start = s.i;
    int r = scan(&s, &kind);
    if (r == 0) {
        v->kind = kind;
        v->tok = iov_make(p + start, s.i - start);
        v->reason = NULL;
        v->err_off = 0;
        return kind;
    }
    v->kind = 0;
    v->tok = SIOC_IOV_NULL;
    v->reason = s.reason;
    v->err_off = s.i;
    return r;
}

size_t jscan_ws(const char *p, size_t len)
{
    size_t i = 0;
    while (i < len && is_ws((uint8_t)p[i]))
        i++;
    return i;
}

size_t jscan_string_token(const char *p, size_t len, const char **reason)
{
    scanner_t s = {(const uint8_t *)p, len, 0, NULL, NULL, NULL};
    if (len == 0 || p[0] != '"') {
        *reason = "expected a string";
        return 0;
    }
    if (scan_string(&s)) {
        *reason = s.reason;
        return 0;
    }
    return s.i;
}

size_t jscan_number_token(const char *p, size_t len, const char **reason)
{
    scanner_t s = {(const uint8_t *)p, len, 0, NULL, NULL, NULL};
    if (scan_number(&s)) {
        *reason = s.reason;
        return 0;
    }
    return s.i;
}

int jscan_value(const char *p, size_t len, jscan_value_t *v)
{
    return jscan_walk(p, len, v, NULL, NULL);
}

int jscan_token_kind(sioc_iov_t tok)
{
    if (tok.len == 0)
        return 0;
    switch (tok.base[0]) {
    case '{':
        return JSCAN_OBJECT;
    case '[':
        return JSCAN_ARRAY;
    case '"':
        return JSCAN_STRING;
    case 't':
        return JSCAN_TRUE;
    case 'f':
        return JSCAN_FALSE;
    case 'n':
        return JSCAN_NULL;
    default:
        return (tok.base[0] == '-' || is_digit((uint8_t)tok.base[0])) ? JSCAN_NUMBER : 0;
    }
}

enum { IT_FIRST, IT_NEXT, IT_DONE, IT_FAILED };

int jscan_iter_init(jscan_iter_t *it, sioc_iov_t container)
{
    if (container.len == 0 || (container.base[0] != '{' && container.base[0] != '['))
        return SIOC_EINVAL;
    it->_p = container.base;
    it->_len = container.len;
    it->_off = 1;
    it->_kind = container.base[0] == '{' ? JSCAN_OBJECT : JSCAN_ARRAY;
    it->_state = IT_FIRST;
    return 0;
}

static int iter_fail(jscan_iter_t *it)
{
    it->_state = IT_FAILED;
    return SIOC_EPROTO;
}

int jscan_next(jscan_iter_t *it, sioc_iov_t *key, sioc_iov_t *value)
{
    if (it->_state == IT_DONE)
        return 0;
    if (it->_state == IT_FAILED)
        return SIOC_EPROTO;
    scanner_t s = {(const uint8_t *)it->_p, it->_len, it->_off, NULL, NULL, NULL};
    uint8_t close = it->_kind == JSCAN_OBJECT ? '}' : ']';
    skip_ws(&s);
    if (s.i >= s.len)
        return iter_fail(it);
    if (s.p[s.i] == close) {
        it->_off = s.i + 1;
        it->_state = IT_DONE;
        return 0;
    }
    if (it->_state == IT_NEXT) {
        if (s.p[s.i] != ',')
            return iter_fail(it);
        s.i++;
        skip_ws(&s);
    }
    if (key)
        *key = SIOC_IOV_NULL;
    if (it->_kind == JSCAN_OBJECT) {
        if (s.i >= s.len || s.p[s.i] != '"')
            return iter_fail(it);
        size_t from = s.i;
        if (scan_string(&s))
            return iter_fail(it);
        if (key)
            *key = iov_make(it->_p + from, s.i - from);
        skip_ws(&s);
        if (s.i >= s.len || s.p[s.i] != ':')
            return iter_fail(it);
        s.i++;
        skip_ws(&s);
    }
    size_t from = s.i;
    int kind = 0;
    if (scan(&s, &kind))
        return iter_fail(it);
    *value = iov_make(it->_p + from, s.i - from);
    it->_off = s.i;
    it->_state = IT_NEXT;
    return kind;
}

/* Whether `str` is exactly one valid string token. */
static int string_token_ok(sioc_iov_t str)
{
    if (str.len < 2 || str.base[0] != '"')
        return 0;
    scanner_t s = {(const uint8_t *)str.base, str.len, 0, NULL, NULL, NULL};
    return scan_string(&s) == 0 && s.i == str.len;
}

/*
 * Decodes the escape at p[*i] (a backslash) of a validated string whose
 * closing quote is at p[end] into u[0..4); returns the byte count.
 */
static size_t unescape_one(const uint8_t *p, size_t end, size_t *i, uint8_t *u)
{
    uint8_t e = p[*i + 1];
    *i += 2;
    switch (e) {
    case 'b':
        u[0] = '\b';
        return 1;
    case 'f':
        u[0] = '\f';
        return 1;
    case 'n':
        u[0] = '\n';
        return 1;
    case 'r':
        u[0] = '\r';
        return 1;
    case 't':
        u[0] = '\t';
        return 1;
    case 'u':
        break;
    default: /* '"', '\\', '/' */
        u[0] = e;
        return 1;
    }
    unsigned cp = (unsigned)hex_val4(p + *i);
    *i += 4;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        unsigned lo = 0;
        if (end - *i >= 6 && p[*i] == '\\' && p[*i + 1] == 'u')
            lo = (unsigned)hex_val4(p + *i + 2);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            *i += 6;
        } else {
            cp = 0xfffd;
        }
    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        cp = 0xfffd;
    }
    return utf8_encode(cp, u);
}

int jscan_string_unescape(sioc_iov_t str, char *out, size_t cap)
{
    if (!string_token_ok(str))
        return SIOC_EPROTO;
    const uint8_t *p = (const uint8_t *)str.base;
    size_t end = str.len - 1, i = 1, o = 0;
    while (i < end) {
        const uint8_t *bs = memchr(p + i, '\\', end - i);
        size_t run = bs ? (size_t)(bs - (p + i)) : end - i;
        if (run >= cap - o)
            return SIOC_ENOSPC;
        memcpy(out + o, p + i, run);
        o += run;
        i += run;
        if (i < end) {
            uint8_t u[4];
            size_t k = unescape_one(p, end, &i, u);
            if (k >= cap - o)
                return SIOC_ENOSPC;
            memcpy(out + o, u, k);
            o += k;
        }
    }
    if (o >= cap)
        return SIOC_ENOSPC;
    if (o > (size_t)INT_MAX)
        return SIOC_EMSGSIZE;
    out[o] = '\0';
    return (int)o;
}

int jscan_string_eq_iov(sioc_iov_t str, sioc_iov_t z)
{
    if (!string_token_ok(str))
        return 0;
    const uint8_t *p = (const uint8_t *)str.base;
    const uint8_t *q = (const uint8_t *)z.base;
    size_t end = str.len - 1, i = 1, o = 0;
    while (i < end) {
        const uint8_t *bs = memchr(p + i, '\\', end - i);
        size_t run = bs ? (size_t)(bs - (p + i)) : end - i;
        if (run > z.len - o || (run && memcmp(p + i, q + o, run) != 0))
            return 0;
        o += run;
        i += run;
        if (i < end) {
            uint8_t u[4];
            size_t k = unescape_one(p, end, &i, u);
            if (k > z.len - o || memcmp(u, q + o, k) != 0)
                return 0;
            o += k;
        }
    }
    return o == z.len;
}

int jscan_string_eq(sioc_iov_t str, const char *z)
{
    return jscan_string_eq_iov(str, iov_make(z, strlen(z)));
}

/* Whether `num` is exactly one number token; sets *integer when it has no fraction or exponent. */
static int number_token_ok(sioc_iov_t num, int *integer)
{
    scanner_t s = {(const uint8_t *)num.base, num.len, 0, NULL, NULL, NULL};
    if (scan_number(&s) != 0 || s.i != num.len)
        return 0;
    *integer = memchr(num.base, '.', num.len) == NULL && memchr(num.base, 'e', num.len) == NULL &&
               memchr(num.base, 'E', num.len) == NULL;
    return 1;
}

int jscan_number_ll(sioc_iov_t num, long long *out)
{
    int integer;
    if (!number_token_ok(num, &integer) || !integer)
        return SIOC_EINVAL;
    int neg = num.base[0] == '-';
    long long v = 0;
    /* Accumulate towards the sign so that LLONG_MIN is reachable. */
    for (size_t i = (size_t)neg; i < num.len; i++) {
        int d = num.base[i] - '0';
        if (neg) {
            if (v < (LLONG_MIN + d) / 10)
                return -ERANGE;
            v = v * 10 - d;
        } else {
            if (v > (LLONG_MAX - d) / 10)
                return -ERANGE;
            v = v * 10 + d;
        }
    }
    *out = v;
    return 0;
}

int jscan_number_double(sioc_iov_t num, double *out)
{
    char tmp[512];
    int integer;
    if (num.len >= sizeof(tmp) - 1 || !number_token_ok(num, &integer))
        return SIOC_EINVAL;
    memcpy(tmp, num.base, num.len);
    tmp[num.len] = '\0';
    errno = 0;
    double d = strtod(tmp, NULL);
    if (errno == ERANGE && (d > 1.0 || d < -1.0))
        return -ERANGE;
    *out = d;
    return 0;
}

int jscan_is_placeholder(sioc_iov_t obj, unsigned *num)
{
    jscan_iter_t it;
    sioc_iov_t key, val;
    int k, members = 0, marked = 0, num_ok = 0;
    unsigned n = 0;
    if (jscan_iter_init(&it, obj) != 0 || it._kind != JSCAN_OBJECT)
        return 0;
    while ((k = jscan_next(&it, &key, &val)) > 0) {
        members++;
        if (jscan_string_eq(key, "_placeholder")) {
            marked = k == JSCAN_TRUE;
        } else if (jscan_string_eq(key, "num")) {
            long long v;
            num_ok = k == JSCAN_NUMBER && val.base[0] != '-' && jscan_number_ll(val, &v) == 0 &&
                     v <= (long long)UINT_MAX;
            n = num_ok ? (unsigned)v : 0;
        }
    }
    if (k < 0)
        return SIOC_EPROTO;
    if (!marked)
        return 0;
    if (members != 2 || !num_ok)
        return SIOC_EPROTO;
    *num = n;
    return 1;
}
