/*
 * outq.c - a connection's pending output (outq.h).
 */
#include "outq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "base/err.h"

#define OUTQ_MIN_PIECES 4
#define OUTQ_OWNED_MIN 256 /* an owned piece's smallest allocation */
#define OUTQ_IOV 64

typedef struct {
    const uint8_t *p;
    uint32_t len;
    uint32_t cap;      /* owned: bytes allocated at p; 0 for a reference */
    sioc_shared_t *sh; /* shared reference: dropped once written */
} piece_t;

struct outq {
    size_t bytes;                /* queued, not yet written */
    uint32_t head, n, mask, off; /* ring of mask + 1 pieces; `off` bytes of the head written */
    piece_t *piece;
};

size_t outq_len(const outq_t *q)
{
    return q != NULL ? q->bytes : 0;
}

static void release(piece_t *x)
{
    if (x->cap > 0)
        free((void *)x->p);
    else if (x->sh != NULL)
        shared_unref(x->sh);
}

/* Room for one more piece; the queue created when *qp is NULL. NULL when out of memory. */
static outq_t *room(outq_t **qp)
{
    outq_t *q = *qp;
    if (q == NULL) {
        q = calloc(1, sizeof(*q));
        piece_t *pc = q != NULL ? malloc(OUTQ_MIN_PIECES * sizeof(*pc)) : NULL;
        if (pc == NULL) {
            free(q);
            return NULL;
        }
        q->piece = pc;
        q->mask = OUTQ_MIN_PIECES - 1;
        *qp = q;
    }
    if (q->n <= q->mask)
        return q;
    uint32_t cap = (q->mask + 1) * 2;
    piece_t *pc = malloc(cap * sizeof(*pc));
    if (pc == NULL)
        return NULL;
    for (uint32_t i = 0; i < q->n; i++)
        pc[i] = q->piece[(q->head + i) & q->mask];
    free(q->piece);
    q->piece = pc;
    q->head = 0;
    q->mask = cap - 1;
    return q;
}

static piece_t *tail(outq_t *q)
{
    return q->n > 0 ? &q->piece[(q->head + q->n - 1) & q->mask] : NULL;
}

int outq_copy(outq_t **qp, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (n > UINT32_MAX)
        return SIOC_ENOMEM;
    piece_t *t = *qp != NULL ? tail(*qp) : NULL;
    /* the last piece is ours and has room: append (its storage never moves) */
    if (t != NULL && t->cap > 0 && t->cap - t->len >= n) {
        memcpy((uint8_t *)t->p + t->len, p, n);
        t->len += (uint32_t)n;
        (*qp)->bytes += n;
        return 0;
    }
    outq_t *q = room(qp);
    if (q == NULL)
        return SIOC_ENOMEM;
    size_t cap = n < OUTQ_OWNED_MIN ? OUTQ_OWNED_MIN : n;
    uint8_t *b = malloc(cap);
    if (b == NULL)
        return SIOC_ENOMEM;
    memcpy(b, p, n);
    q->piece[(q->head + q->n) & q->mask] = (piece_t){b, (uint32_t)n, (uint32_t)cap, NULL};
    q->n++;
    q->bytes += n;
    return 0;
}

int outq_ref(outq_t **qp, const void *p, size_t n, sioc_shared_t *sh)
{
    if (n > UINT32_MAX)
        return SIOC_ENOMEM;
    outq_t *q = room(qp);
    if (q == NULL)
        return SIOC_ENOMEM;
    q->piece[(q->head + q->n) & q->mask] = (piece_t){p, (uint32_t)n, 0, sh};
    q->n++;
    q->bytes += n;
    return 0;
}

ssize_t outq_write(outq_t *q, int fd)
{
    struct iovec iov[OUTQ_IOV];
    int k = 0;
    for (uint32_t i = 0; i < q->n && k < OUTQ_IOV; i++) {
        const piece_t *x = &q->piece[(q->head + i) & q->mask];
        size_t skip = i == 0 ? q->off : 0;
        if (x->len > skip)
            iov[k++] = (struct iovec){(void *)(x->p + skip), x->len - skip};
    }
    if (k == 0)
        return 0;
    ssize_t w = writev(fd, iov, k);
    if (w <= 0)
        return w;
    size_t left = (size_t)w;
    q->bytes -= left;
    /* Release the pieces the write covered (an empty one is covered by any write); what
     * is left of it falls inside the head piece. */
    while (q->n > 0 && left >= q->piece[q->head].len - q->off) {
        piece_t *x = &q->piece[q->head];
        left -= x->len - q->off;
        release(x);
        q->head = (q->head + 1) & q->mask;
        q->n--;
        q->off = 0;
    }
    q->off += (uint32_t)left;
    return w;
}

void outq_free(outq_t *q)
{
    if (q == NULL)
        return;
    for (uint32_t i = 0; i < q->n; i++)
        release(&q->piece[(q->head + i) & q->mask]);
    free(q->piece);
    free(q);
}
