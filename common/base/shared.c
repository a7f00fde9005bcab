/*
 * shared.c - reference-counted blocks (shared.h).
 */
#include "shared.h"

#include <stdlib.h>
#include <string.h>

sioc_shared_t *shared_new(size_t len)
{
    sioc_shared_t *s = try_malloc(sizeof(*s) + len);
    if (s == NULL)
        return NULL;
    s->refs = 1;
    s->len = len;
    return s;
}

sioc_shared_t *shared_copy(const void *p, size_t len)
{
    sioc_shared_t *s = shared_new(len);
    if (s != NULL && len)
        memcpy(s->data, p, len);
    return s;
}

sioc_shared_t *shared_ref(sioc_shared_t *s)
{
    s->refs++;
    return s;
}

void shared_unref(sioc_shared_t *s)
{
    if (s != NULL && --s->refs == 0)
        free(s);
}
