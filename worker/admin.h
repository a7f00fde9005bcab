/*
 * admin.h - the worker's admin endpoints: GET /health, /ready, /metrics, on the admin port
 * (--admin-port) or, without one, on the client port.
 *
 * /health is 200 while the process serves; /ready is 503 until the adapter is subscribed
 * and while draining; /metrics is Prometheus text format 0.0.4, gathered from each
 * module's counters (the modules export their stats and never include this file, so the
 * include graph has no cycle). The HTTP front asks admin_serve() before its other routes
 * and writes the response. Loop thread only.
 */
#ifndef SIOC_WORKER_ADMIN_H
#define SIOC_WORKER_ADMIN_H

#include "base/buf.h"
#include "base/iov.h"
#include "worker.h"

/** An admin answer: status, content type (static string) and body (owned by the caller
 * after admin_serve() returned 1; free with buf_free()). */
typedef struct admin_response {
    int status;
    const char *content_type;
    sioc_buf_t body;
} admin_response_t;

/** Fills `r` and returns 1 when `path` is an admin endpoint; returns 0 otherwise. Borrows
 * w and path. */
int admin_serve(worker_t *w, sioc_iov_t path, admin_response_t *r);

/** Appends the exposition of every counter and gauge of `w` to `b` (best effort). */
void admin_metrics(worker_t *w, sioc_buf_t *b);

/** Whether the worker accepts and delivers (adapter subscribed, not draining). */
int admin_ready(const worker_t *w);

#endif
