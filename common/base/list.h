/*
 * list.h - intrusive circular doubly-linked list.
 *
 * Nodes are embedded in their owners; container_of gets the owner back.
 * An empty list is a head that points to itself. Nothing allocates.
 */
#ifndef SIOC_COMMON_BASE_LIST_H
#define SIOC_COMMON_BASE_LIST_H

#include <stddef.h>

typedef struct sioc_list {
    struct sioc_list *prev, *next;
} sioc_list_t;

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

static inline void list_init(sioc_list_t *h)
{
    h->prev = h->next = h;
}

static inline int list_empty(const sioc_list_t *h)
{
    return h->next == h;
}

/** Whether `n` is linked into some list (nodes are list_init'ed when unlinked). */
static inline int list_linked(const sioc_list_t *n)
{
    return n->next != NULL && n->next != n;
}

static inline void list_insert_tail(sioc_list_t *h, sioc_list_t *n)
{
    n->prev = h->prev;
    n->next = h;
    h->prev->next = n;
    h->prev = n;
}

static inline void list_insert_head(sioc_list_t *h, sioc_list_t *n)
{
    n->next = h->next;
    n->prev = h;
    h->next->prev = n;
    h->next = n;
}

/** Unlinks `n` and leaves it self-linked (so list_linked() is false). */
static inline void list_remove(sioc_list_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#define list_foreach(pos, head) for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)
/* Safe against removal of `pos`. */
#define list_foreach_safe(pos, tmp, head)                                                          \
    for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head);                               \
         (pos) = (tmp), (tmp) = (pos)->next)

#endif
