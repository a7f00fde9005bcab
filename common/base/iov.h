/*
 * iov.h - byte slices.
 *
 * A sioc_iov_t borrows bytes it does not own: codecs return slices into the
 * caller's buffer, valid as long as that buffer is. Nothing here allocates.
 */
#ifndef SIOC_COMMON_BASE_IOV_H
#define SIOC_COMMON_BASE_IOV_H

#include <stddef.h>
#include <string.h>

typedef struct {
    const char *base;
    size_t len;
} sioc_iov_t;

/** A slice of a string literal. */
#define SIOC_LIT(s) ((sioc_iov_t){(s), sizeof(s) - 1})
/** The empty slice. */
#define SIOC_IOV_NULL ((sioc_iov_t){NULL, 0})

static inline sioc_iov_t iov_make(const char *base, size_t len)
{
    sioc_iov_t v = {base, len};
    return v;
}

/** Whether two slices hold the same bytes. */
static inline int iov_eq(sioc_iov_t a, sioc_iov_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}

static inline int iov_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/** Whether two slices are equal ignoring ASCII case. */
static inline int iov_eq_ci(sioc_iov_t a, sioc_iov_t b)
{
    if (a.len != b.len)
        return 0;
    for (size_t i = 0; i < a.len; i++)
        if (iov_lower((unsigned char)a.base[i]) != iov_lower((unsigned char)b.base[i]))
            return 0;
    return 1;
}

/** Whether `s` equals the NUL-terminated string `z`. */
static inline int iov_eq_str(sioc_iov_t s, const char *z)
{
    return iov_eq(s, iov_make(z, strlen(z)));
}

#endif
