/*
 * metrics.h - Prometheus text exposition of the worker's counters (/metrics).
 */
#ifndef SIOC_WORKER_METRICS_H
#define SIOC_WORKER_METRICS_H

#include "base/buf.h"
#include "worker.h"

/** Appends the exposition of every counter and gauge of `w` to `b`. */
void metrics_write(worker_t *w, sioc_buf_t *b);

#endif
