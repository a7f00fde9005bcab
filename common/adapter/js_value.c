/*
 * js_value.c - JavaScript value rules (js_value.h).
 *
 * Object keys are ordered with two sorts: by key bytes (stable by record) to
 * find each key's first and last occurrence, then by JS property order.
 * Numbers are written as V8 does: the shortest digits that round-trip
 * (tried with %.15g..%.17g, then an integer neighbour for large values), laid
 * out by the Number::toString rules (ECMA-262 §6.1.6.1.20).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* qsort_r */
#endif
#include "adapter/js_value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/utf8.h"

/* ---------------------------------------------------------------- numbers */

#define JS_VALUE_TWO53 9007199254740992.0
#define JS_VALUE_TWO63 9223372036854775808.0
#define JS_VALUE_TWO64 18446744073709551616.0

/* trunc() without libm: doubles at or beyond 2^52 are already integral. */
static double dtrunc(double x)
{
    if (x > -4503599627370496.0 && x < 4503599627370496.0)
        return (double)(int64_t)x;
    return x;
}

int js_value_is_integral(double x)
{
    return isfinite(x) && dtrunc(x) == x;
}

size_t js_value_u64(char *out, uint64_t v)
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
                    int k = (int)js_value_u64(dig, alt);
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

size_t js_value_number(double d, char *out)
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
    if (d < JS_VALUE_TWO53 && (double)(uint64_t)d == d)
        return (size_t)(o - out) + js_value_u64(o, (uint64_t)d);
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
        o += js_value_u64(o, (uint64_t)(e < 0 ? -e : e));
    }
    return (size_t)(o - out);
}

/* JSON.stringify of a number. */
int js_value_json_number(sioc_buf_t *b, double d)
{
    char tmp[40];
    if (!isfinite(d))
        return buf_append(b, "null", 4);
    return buf_append(b, tmp, js_value_number(d, tmp));
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
int js_value_json_date(sioc_buf_t *b, double t)
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

/* ---------------------------------------------------------------- object keys */

/* Canonical array index "0".."4294967294" -> value, else -1. */
int64_t js_value_array_index(const char *k, size_t n)
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

int js_value_is_proto(const char *k, size_t n)
{
    return n == 9 && memcmp(k, "__proto__", 9) == 0;
}

typedef struct {
    unsigned char *base;
    size_t stride;
} recs_t;

static const js_value_member_t *member(const recs_t *r, uint32_t i)
{
    return (const js_value_member_t *)(const void *)(r->base + (size_t)i * r->stride);
}

/* By key bytes, then by record number: equal keys end up together, in order. */
static int cmp_key(const void *a, const void *b, void *arg)
{
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    const js_value_member_t *x = member(arg, i), *y = member(arg, j);
    if (x->klen != y->klen)
        return x->klen < y->klen ? -1 : 1;
    int d = memcmp(x->key, y->key, x->klen);
    if (d)
        return d;
    return i < j ? -1 : 1;
}

/* JS property order: array indices ascending, then first occurrence. */
static int cmp_order(const void *a, const void *b, void *arg)
{
    const js_value_member_t *x = member(arg, *(const uint32_t *)a);
    const js_value_member_t *y = member(arg, *(const uint32_t *)b);
    if ((x->idx >= 0) != (y->idx >= 0))
        return x->idx >= 0 ? -1 : 1;
    if (x->idx >= 0)
        return x->idx < y->idx ? -1 : x->idx > y->idx;
    return x->first < y->first ? -1 : x->first > y->first;
}

size_t js_value_key_order(void *recs, size_t stride, size_t n, int drop_proto, uint32_t *ord,
                          uint32_t *tmp)
{
    recs_t r = {recs, stride};
    for (size_t i = 0; i < n; i++)
        tmp[i] = (uint32_t)i;
    qsort_r(tmp, n, sizeof(uint32_t), cmp_key, &r);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        const js_value_member_t *ki = member(&r, tmp[i]);
        while (j + 1 < n && member(&r, tmp[j + 1])->klen == ki->klen &&
               memcmp(member(&r, tmp[j + 1])->key, ki->key, ki->klen) == 0)
            j++;
        /* tmp[i..j] hold one key in ascending record order */
        js_value_member_t *last = (js_value_member_t *)(void *)(r.base + (size_t)tmp[j] * stride);
        last->first = tmp[i];
        last->last = tmp[j];
        if (!drop_proto || !js_value_is_proto((const char *)last->key, last->klen))
            ord[k++] = tmp[j];
        i = j + 1;
    }
    qsort_r(ord, k, sizeof(uint32_t), cmp_order, &r);
    return k;
}

/* ---------------------------------------------------------------- strings */

/* Buffer.write / Buffer.byteLength bytes (lone surrogates -> U+FFFD), at most
 * `max` bytes and whole characters only; o NULL: count only. */
size_t js_value_utf16_to_utf8(const uint16_t *u, size_t n, unsigned char *o, size_t max)
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
