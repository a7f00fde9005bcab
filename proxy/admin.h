/*
 * admin.h - the admin endpoint: GET /health, /ready, /metrics.
 *
 * A separate listener (--admin-host, --admin-port; off by default) so that
 * probes and scrapes never compete with client traffic and are never
 * reachable through the public port. /health is 200 while the process
 * serves; /ready is 503 while no worker is in rotation or the proxy is
 * draining; /metrics is Prometheus text format 0.0.4. One request per
 * connection, answered with "Connection: close". Loop thread only.
 */
#ifndef SIOC_PROXY_ADMIN_H
#define SIOC_PROXY_ADMIN_H

#include "base/buf.h"
#include "proxy.h"

typedef struct admin admin_t;

/** Starts listening. Returns NULL and sets *err (negative SIOC_E*) on failure. Borrows p. */
admin_t *admin_new(proxy_t *p, const char *host, int port, int *err);

/** The bound port. */
int admin_port(const admin_t *a);

/** Closes the listener and open admin connections. */
void admin_free(admin_t *a);

/** Appends the /metrics text of `p` to b (best effort: stops at the first allocation failure). */
void admin_metrics(proxy_t *p, sioc_buf_t *b);

/** Whether the proxy can place new sessions (some worker up, not draining). */
int admin_ready(const proxy_t *p);

#endif
