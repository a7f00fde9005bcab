/*
 * buf.c - growable byte buffer (buf.h).
 */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"

int buf_reserve(sioc_buf_t *b, size_t n)
{
    if (n > ((size_t)-1) / 2 - b->len)
        return SIOC_ENOMEM;
    size_t need = b->len + n;
    if (b->limit && need > b->limit)
        return SIOC_EMSGSIZE;
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    if (b->limit && cap > b->limit)
        cap = b->limit;
    char *p = try_realloc(b->base, cap);
    if (p == NULL)
        return SIOC_ENOMEM;
    b->base = p;
    b->cap = cap;
    return 0;
}

int buf_append(sioc_buf_t *b, const void *p, size_t n)
{
    int r = buf_reserve(b, n);
    if (r)
        return r;
    if (n)
        memcpy(b->base + b->len, p, n);
    b->len += n;
    return 0;
}

int buf_append_str(sioc_buf_t *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_append_byte(sioc_buf_t *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_append_u64(sioc_buf_t *b, unsigned long long v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return buf_append(b, tmp + i, sizeof(tmp) - i);
}

void buf_consume(sioc_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->base, b->base + n, b->len - n);
    b->len -= n;
}

void buf_reset(sioc_buf_t *b)
{
    b->len = 0;
}

void buf_free(sioc_buf_t *b)
{
    free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
}
