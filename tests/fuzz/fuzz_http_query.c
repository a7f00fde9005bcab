/*
 * fuzz_http_query.c - libFuzzer target for http_query.
 *
 * The input is used as a query string, as a Cookie header value and as
 * percent-encoded text. Invariants, each an abort() when broken:
 *  - iterated pairs are slices of the input, names hold no '&' (query) or
 *    ';' / '=' (cookie), and there are no more pairs than separators + 1;
 *  - http_query_get()/http_cookie_get() return the first pair with that name;
 *  - a decoded length never exceeds the input length, decoding in place gives
 *    the same bytes, and decode(encode(x)) == x for the input and for its
 *    decoded form; encoded text holds only unreserved bytes and %XX.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "http/http_query.h"
#include "tests/fuzz/fuzz_check.h"

static void check_inside(sioc_iov_t v, const char *base, size_t n)
{
    if (v.len)
        CHECK(v.base >= base && v.base + v.len <= base + n);
}

static size_t count(const char *p, size_t n, char c)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == c;
    return k;
}

/* Decodes `in` into a fresh NUL-terminated string; NULL when not decodable or holding NUL. */
static char *decode_name(sioc_iov_t in, int plus)
{
    char *out = malloc(in.len + 1);
    int n = http_pct_decode(in, out, in.len, plus);
    if (n < 0 || memchr(out, '\0', (size_t)n) != NULL) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    return out;
}

static void fuzz_query(const char *buf, size_t len)
{
    sioc_iov_t rest = iov_make(buf, len), name, value;
    size_t pairs = 0;
    while (http_query_next(&rest, &name, &value)) {
        pairs++;
        check_inside(name, buf, len);
        check_inside(value, buf, len);
        CHECK(memchr(name.base, '&', name.len) == NULL && memchr(name.base, '=', name.len) == NULL);
        CHECK(value.len == 0 || memchr(value.base, '&', value.len) == NULL);
        CHECK(rest.len < len);

        /* Lookup by the decoded name finds this pair or an earlier one with that name. */
        char *z = decode_name(name, 1);
        if (z) {
            sioc_iov_t got;
            CHECK(http_query_get(iov_make(buf, len), z, &got) == 1);
            CHECK(got.base <= value.base);
            check_inside(got, buf, len);
            free(z);
        }
    }
    CHECK(pairs <= count(buf, len, '&') + 1);
}

static void fuzz_cookie(const char *buf, size_t len)
{
    sioc_iov_t rest = iov_make(buf, len), name, value;
    size_t pairs = 0;
    while (http_cookie_next(&rest, &name, &value)) {
        pairs++;
        check_inside(name, buf, len);
        check_inside(value, buf, len);
        CHECK(name.len > 0);
        CHECK(memchr(name.base, ';', name.len) == NULL && memchr(name.base, '=', name.len) == NULL);
        CHECK(value.len == 0 || memchr(value.base, ';', value.len) == NULL);
        CHECK(name.base[0] != ' ' && name.base[name.len - 1] != ' ');
        if (memchr(name.base, '\0', name.len) == NULL) {
            char *z = malloc(name.len + 1);
            memcpy(z, name.base, name.len);
            z[name.len] = '\0';
            sioc_iov_t got;
            CHECK(http_cookie_get(iov_make(buf, len), z, &got) == 1);
            CHECK(got.base <= value.base);
            free(z);
        }
    }
    CHECK(pairs <= count(buf, len, ';') + 1);
}

static int is_encoded_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '%';
}

/* decode(encode(x)) == x, with both '+' modes. */
static void check_encode_round_trip(const char *x, size_t n)
{
    size_t cap = 3 * n;
    char *enc = malloc(cap ? cap : 1);
    int e = http_pct_encode(iov_make(x, n), enc, cap);
    CHECK(e >= (int)n && (size_t)e <= cap);
    for (int i = 0; i < e; i++)
        CHECK(is_encoded_char(enc[i]));
    if (n)
        CHECK(http_pct_encode(iov_make(x, n), enc, (size_t)e - 1) == SIOC_ENOSPC);
    char *back = malloc(n ? n : 1);
    for (int plus = 0; plus < 2; plus++) {
        int d = http_pct_decode(iov_make(enc, (size_t)e), back, n, plus);
        CHECK(d == (int)n);
        CHECK(n == 0 || memcmp(back, x, n) == 0);
    }
    free(back);
    free(enc);
}

static void fuzz_pct(const char *buf, size_t len)
{
    char *out = malloc(len ? len : 1);
    for (int plus = 0; plus < 2; plus++) {
        int n = http_pct_decode(iov_make(buf, len), out, len, plus);
        CHECK(n == SIOC_EPROTO || (n >= 0 && (size_t)n <= len));
        if (n < 0)
            continue;
        /* Exact capacity works, one less does not. */
        if (n > 0) {
            char *tight = malloc((size_t)n);
            CHECK(http_pct_decode(iov_make(buf, len), tight, (size_t)n, plus) == n);
            CHECK(memcmp(tight, out, (size_t)n) == 0);
            CHECK(http_pct_decode(iov_make(buf, len), tight, (size_t)n - 1, plus) == SIOC_ENOSPC);
            free(tight);
        }
        /* In place. */
        char *inplace = malloc(len ? len : 1);
        memcpy(inplace, buf, len);
        CHECK(http_pct_decode(iov_make(inplace, len), inplace, len, plus) == n);
        CHECK(n == 0 || memcmp(inplace, out, (size_t)n) == 0);
        free(inplace);
        check_encode_round_trip(out, (size_t)n);
        /* Without escapes or '+', decoding is the identity. */
        if (!memchr(buf, '%', len) && (!plus || !memchr(buf, '+', len)))
            CHECK((size_t)n == len && (len == 0 || memcmp(out, buf, len) == 0));
    }
    check_encode_round_trip(buf, len);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so reads past the end are caught. */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    fuzz_query(buf, size);
    fuzz_cookie(buf, size);
    fuzz_pct(buf, size);
    free(buf);
    return 0;
}
