/*
 * config.c - sioc-proxy flags and environment (config.h).
 *
 * One table (base/opts.h) drives parsing, validation and --help, so the three
 * never disagree; checks that span options are in validate().
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "affinity.h"
#include "base/alloc.h"
#include "base/log.h"
#include "base/opts.h"
#include "net/redis_opts.h"
#include "net/connect.h"
#include "route.h"

#define OFF(f) offsetof(proxy_config_t, f)

static int set_placement(void *conf, const opts_spec_t *o, const char *v, const char *prog)
{
    proxy_config_t *c = conf;
    (void)o;
    if (route_placement_parse(v, &c->placement) != 0) {
        fprintf(stderr, "%s: --placement / PLACEMENT must be hash or least-loaded, got '%s'\n",
                prog, v);
        return -1;
    }
    return 0;
}
#define DAY_MS 86400000L

static const opts_spec_t opts[] = {
    {"--host", "HOST", OPTS_STR, OFF(host), 0, 0, 0, "0.0.0.0", "listen address (numeric)", NULL},
    {"--port", "PORT", OPTS_INT, OFF(port), 0, 0, 65535, "3000", "listen port (0 = any free port)",
     NULL},
    {"--placement", "PLACEMENT", OPTS_CUSTOM, OFF(placement), 0, 0, 0, "hash",
     "how new sessions are placed: hash (rendezvous hashing of the client address) | "
     "least-loaded (power of two choices on the workers' loads, for clients that all show one "
     "address: NAT, a container engine's port forwarding)",
     set_placement},
    {"--workers", "WORKERS", OPTS_STR, OFF(workers), 0, 0, 0, "",
     "static workers: id=host:port,id2=host:port (ids as in the workers' --worker-id); "
     "id=host:port@/path also names the worker's --handoff-path",
     NULL},
    {"--redis-url", "REDIS_URL", OPTS_STR, OFF(redis_url), 0, 0, 0, NULL,
     "discover workers in Redis: redis://[[user]:password@]host:port[,host:port...][/db] | "
     "rediss://... (TLS) | redis-sentinel://...host:port[,...]/<primary name>[/db]",
     NULL},
    REDIS_LINK_OPTS(OFF),
    {"--redis-workers-key", "REDIS_WORKERS_KEY", OPTS_STR, OFF(redis_key), 0, 0, 0, "sioc:workers",
     "sorted set of <id>@<host>:<port>[@<hand-off path>] scored by heartbeat time (ms)", NULL},
    {"--discovery-interval", "DISCOVERY_INTERVAL", OPTS_LONG, OFF(discovery_interval), 0, 50,
     DAY_MS, "1000", "ms between polls of the worker set", NULL},
    {"--discovery-stale", "DISCOVERY_STALE", OPTS_LONG, OFF(discovery_stale), 0, 100, DAY_MS,
     "3000", "ms after its last heartbeat a worker counts as dead", NULL},
    {"--departing-grace", "DEPARTING_GRACE", OPTS_LONG, OFF(departing_grace), 0, 0, DAY_MS, "60000",
     "ms a discovered worker that left the set (draining) still gets the requests of its "
     "sessions, none new; it is dropped sooner once it stops answering (0 = at once)",
     NULL},
    {"--tls-cert", "TLS_CERT", OPTS_STR, OFF(tls_cert), 0, 0, 0, NULL,
     "PEM certificate chain: serve https:// and wss:// (TLS 1.2+) on --port", NULL},
    {"--tls-key", "TLS_KEY", OPTS_STR, OFF(tls_key), 0, 0, 0, NULL, "PEM private key of --tls-cert",
     NULL},
    {"--affinity-cookie", "AFFINITY_COOKIE", OPTS_STR, OFF(cookie_name), 0, 0, 0, "sioc_affinity",
     "name of the affinity cookie inserted on responses (--affinity-cookie \"\" = no cookie); "
     "its HMAC key "
     "is AFFINITY_SECRET (environment only; random per start when unset)",
     NULL},
    {"--trusted-proxies", "TRUSTED_PROXIES", OPTS_STR, OFF(trusted_proxies), 0, 0, 0, "",
     "CIDRs whose X-Forwarded-For / X-Real-IP are believed, e.g. 10.0.0.0/8,::1", NULL},
    {"--max-head-size", "MAX_HEAD_SIZE", OPTS_LONG, OFF(max_head_size), 0, 1024, 1L << 20, "16384",
     "request head bytes at most (431 beyond)", NULL},
    {"--max-headers", "MAX_HEADERS", OPTS_LONG, OFF(max_headers), 0, 8, 1024, "64",
     "request header fields at most (431 beyond)", NULL},
    {"--head-timeout", "HEAD_TIMEOUT", OPTS_LONG, OFF(head_timeout), 0, 10, DAY_MS, "10000",
     "ms to receive a whole request head once it started (408 and close; slowloris)", NULL},
    {"--keepalive-timeout", "KEEPALIVE_TIMEOUT", OPTS_LONG, OFF(keepalive_timeout), 0, 10, DAY_MS,
     "60000", "ms an idle client connection waits for its next request", NULL},
    {"--server-timeout", "SERVER_TIMEOUT", OPTS_LONG, OFF(server_timeout), 0, 10, DAY_MS, "60000",
     "ms of silence allowed while a request is in flight (504); keep it above the "
     "workers' pingInterval, which bounds a held long-poll",
     NULL},
    {"--tunnel-timeout", "TUNNEL_TIMEOUT", OPTS_LONG, OFF(tunnel_timeout), 0, 10, DAY_MS, "60000",
     "ms a websocket tunnel may stay silent both ways; keep it above pingInterval + "
     "pingTimeout",
     NULL},
    {"--upstream-connect-timeout", "UPSTREAM_CONNECT_TIMEOUT", OPTS_LONG, OFF(connect_timeout), 0,
     10, DAY_MS, "2000", "ms to connect to a worker before it counts as failed", NULL},
    {"--max-connections", "MAX_CONNECTIONS", OPTS_LONG, OFF(max_connections), 0, 1, 100000000,
     "100000", "open client connections at most (more are closed at accept)", NULL},
    {"--max-connections-per-ip", "MAX_CONNECTIONS_PER_IP", OPTS_LONG, OFF(max_connections_per_ip),
     0, 0, 100000000, "0", "open client connections per socket peer address (0 = no limit)", NULL},
    {"--max-handshake-rate", "MAX_HANDSHAKE_RATE", OPTS_LONG, OFF(max_handshake_rate), 0, 0,
     100000000, "0",
     "requests without a sid admitted per second (token bucket; 503 + Retry-After: 1 "
     "beyond; 0 = no limit)",
     NULL},
    {"--handshake-burst", "HANDSHAKE_BURST", OPTS_LONG, OFF(handshake_burst), 0, 0, 100000000, "0",
     "token bucket size for --max-handshake-rate (0 = one second's worth)", NULL},
    {"--max-handshake-rate-per-ip", "MAX_HANDSHAKE_RATE_PER_IP", OPTS_LONG,
     OFF(max_handshake_rate_per_ip), 0, 0, 100000000, "100",
     "requests without a sid admitted per second from one client address (IPv6: one /64); "
     "429 + Retry-After: 1 beyond; 0 = no limit",
     NULL},
    {"--handshake-burst-per-ip", "HANDSHAKE_BURST_PER_IP", OPTS_LONG, OFF(handshake_burst_per_ip),
     0, 1, 100000000, "1000",
     "token bucket size for --max-handshake-rate-per-ip: new sessions one address may open at "
     "once",
     NULL},
    {"--health-interval", "HEALTH_INTERVAL", OPTS_LONG, OFF(health_interval), 0, 50, DAY_MS, "1000",
     "ms between GET /health checks of each worker", NULL},
    {"--health-path", "HEALTH_PATH", OPTS_STR, OFF(health_path), 0, 0, 0, "/health",
     "path of the health check (a worker's /ready also fails while its Redis link is down)", NULL},
    {"--health-timeout", "HEALTH_TIMEOUT", OPTS_LONG, OFF(health_timeout), 0, 10, DAY_MS, "1000",
     "ms a health check may take before it counts as failed", NULL},
    {"--health-fall", "HEALTH_FALL", OPTS_LONG, OFF(health_fall), 0, 1, 100, "2",
     "consecutive failed checks that take a worker out of rotation", NULL},
    {"--health-rise", "HEALTH_RISE", OPTS_LONG, OFF(health_rise), 0, 1, 100, "1",
     "consecutive passed checks that bring it back", NULL},
    {"--upstream-pool", "UPSTREAM_POOL", OPTS_LONG, OFF(pool_size), 0, 0, 100000, "32",
     "idle keep-alive connections kept per worker", NULL},
    {"--tunnel-buffer", "TUNNEL_BUFFER", OPTS_LONG, OFF(tunnel_buffer), 0, 4096, 1L << 30, "262144",
     "bytes queued towards one side before reading from the other pauses", NULL},
    {"--drain-timeout", "DRAIN_TIMEOUT", OPTS_LONG, OFF(drain_timeout), 0, 0, DAY_MS, "10000",
     "ms given to in-flight requests and tunnels after SIGTERM", NULL},
    {"--handoff", "HANDOFF", OPTS_INT, OFF(handoff), 0, 0, 1, "1",
     "1: a websocket upgrade routed to a worker that announced a hand-off path is passed to it "
     "(the socket and the bytes read), the proxy steps out; 0: every websocket is tunneled",
     NULL},
    {"--processes", "PROXY_PROCESSES", OPTS_INT, OFF(processes), 0, 0, 256, "0",
     "processes accepting on --port (SO_REUSEPORT) under one supervisor (0 = one per core); "
     "process i answers on --admin-port + i",
     NULL},
    {"--admin-host", "ADMIN_HOST", OPTS_STR, OFF(admin_host), 0, 0, 0, "127.0.0.1",
     "admin listen address", NULL},
    {"--admin-port", "ADMIN_PORT", OPTS_INT, OFF(admin_port), 0, 0, 65535, "0",
     "admin port serving GET /health, /ready, /metrics (0 = no admin port)", NULL},
    {"--log-level", "LOG_LEVEL", OPTS_LOGLEVEL, OFF(log_level), 0, 0, 0, "info",
     "error | warn | info | debug", NULL},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: sioc-proxy [options]\n"
               "Sticky front of a sioc cluster. Each request is routed on its own: a sid\n"
               "(<worker-id>.<random>) goes to its worker or gets 400 \"Session ID unknown\";\n"
               "a new session goes to the worker of a valid affinity cookie, else to the\n"
               "rendezvous hash of the client address. Websocket upgrades become tunnels after\n"
               "the worker's 101. Workers come from --workers and/or --redis-url.\n"
               "Every option can also be set by the environment variable shown; flags win.\n\n");
    opts_usage(f, opts, NOPTS, 28, 26);
    fprintf(f, "  %-28s %-26s %s\n", "", "AFFINITY_SECRET",
            "HMAC key of the affinity cookie; give every replica the same one");
    fprintf(f, "  %-28s %-26s %s\n", "--help", "", "this text");
    fprintf(f, "\nSignals: SIGTERM / SIGINT stop accepting, let in-flight requests finish and\n"
               "close tunnels after --drain-timeout; a second signal exits at once.\n");
}

int proxy_config_parse_workers(const char *list, int resolve, proxy_static_worker_t **out,
                               size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    const char *p = list;
    while (p != NULL && *p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len > 0 && *p == ' ')
            p++, len--;
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0) {
            char item[256];
            if (len >= sizeof(item)) {
                snprintf(err, errlen, "worker entry too long: %.*s", (int)len, p);
                goto fail;
            }
            memcpy(item, p, len);
            item[len] = '\0';
            char *eq = strchr(item, '=');
            if (eq == NULL) {
                snprintf(err, errlen, "worker '%s': expected id=host:port", item);
                goto fail;
            }
            *eq = '\0';
            if (!affinity_id_valid(iov_make(item, strlen(item)))) {
                snprintf(err, errlen, "worker id '%s': 1-16 of [A-Za-z0-9_-]", item);
                goto fail;
            }
            for (size_t i = 0; i < *n; i++) {
                if (strcmp((*out)[i].id, item) == 0) {
                    snprintf(err, errlen, "worker id '%s' given twice", item);
                    goto fail;
                }
            }
            if (*n == cap) {
                cap = cap ? cap * 2 : 8;
                *out = xrealloc(*out, cap * sizeof(**out));
            }
            proxy_static_worker_t *w = &(*out)[*n];
            memset(w, 0, sizeof(*w));
            memcpy(w->id, item, strlen(item) + 1); /* affinity_id_valid: at most 16 */
            char *path = strchr(eq + 1, '@');
            if (path != NULL) {
                *path++ = '\0';
                if (path[0] != '/' || strlen(path) >= sizeof(w->handoff)) {
                    snprintf(err, errlen, "worker '%s': hand-off path '%s' (absolute, < 108 bytes)",
                             item, path);
                    goto fail;
                }
                memcpy(w->handoff, path, strlen(path) + 1);
            }
            if (strlen(eq + 1) >= sizeof(w->addr) ||
                net_connect_parse(eq + 1, &w->sa, &w->salen, resolve) != 0) {
                snprintf(err, errlen, "worker '%s': bad address '%s'", item, eq + 1);
                goto fail;
            }
            snprintf(w->addr, sizeof(w->addr), "%s", eq + 1);
            (*n)++;
        }
        p = comma ? comma + 1 : NULL;
    }
    return 0;
fail:
    free(*out);
    *out = NULL;
    *n = 0;
    return -1;
}

static int validate(proxy_config_t *c)
{
    char err[256];
    if (proxy_config_parse_workers(c->workers, 1, &c->static_workers, &c->num_static_workers, err,
                                   sizeof(err)) != 0) {
        fprintf(stderr, "sioc-proxy: --workers: %s\n", err);
        return -1;
    }
    if (c->redis_url != NULL && c->redis_url[0] == '\0') {
        free(c->redis_url);
        c->redis_url = NULL;
    }
    if (c->num_static_workers == 0 && c->redis_url == NULL) {
        fprintf(stderr, "sioc-proxy: no workers: give --workers or --redis-url\n");
        return -1;
    }
    if ((c->tls_cert != NULL) != (c->tls_key != NULL)) {
        fprintf(stderr, "sioc-proxy: --tls-cert and --tls-key go together\n");
        return -1;
    }
    for (const char *p = c->cookie_name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.')) {
            fprintf(stderr, "sioc-proxy: --affinity-cookie: use [A-Za-z0-9_.-]\n");
            return -1;
        }
    }
    if (strlen(c->cookie_name) > 64) {
        fprintf(stderr, "sioc-proxy: --affinity-cookie: at most 64 characters\n");
        return -1;
    }
    affinity_cidr_t *cidrs;
    size_t n;
    sioc_iov_t bad;
    if (affinity_cidr_list_parse(c->trusted_proxies, &cidrs, &n, &bad) != 0) {
        fprintf(stderr, "sioc-proxy: --trusted-proxies: bad CIDR '%.*s'\n", (int)bad.len, bad.base);
        return -1;
    }
    free(cidrs);
    if (c->health_path[0] != '/' || strlen(c->health_path) > 256 ||
        strpbrk(c->health_path, " \r\n\t") != NULL) {
        fprintf(stderr, "sioc-proxy: --health-path: a path such as /health\n");
        return -1;
    }
    if (c->handshake_burst == 0)
        c->handshake_burst = c->max_handshake_rate;
    return 0;
}

int proxy_config_parse(proxy_config_t *c, int argc, char **argv)
{
    memset(c, 0, sizeof(*c));
    int r = opts_parse("sioc-proxy", opts, NOPTS, c, argc, argv, NULL, 0, NULL);
    if (r == OPTS_HELP) {
        usage(stdout);
        return 1;
    }
    if (r != 0)
        return -1;
    return validate(c);
}

void proxy_config_free(proxy_config_t *c)
{
    opts_free(opts, NOPTS, c);
    free(c->static_workers);
    c->static_workers = NULL;
    c->num_static_workers = 0;
}
