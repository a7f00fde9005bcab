/*
 * config.c - sioc-proxy flags and environment (config.h).
 *
 * One table drives parsing, validation and --help, so the three never
 * disagree.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "affinity.h"
#include "base/alloc.h"
#include "base/log.h"
#include "net/connect.h"

enum opt_kind { OPT_STR, OPT_LONG, OPT_INT, OPT_LOGLEVEL };

typedef struct {
    const char *flag;
    const char *env;
    int kind;
    size_t offset;
    long min, max;
    const char *def;
    const char *help;
} opt_t;

#define OFF(f) offsetof(proxy_config_t, f)
#define DAY_MS 86400000L

static const opt_t opts[] = {
    {"--host", "HOST", OPT_STR, OFF(host), 0, 0, "0.0.0.0", "listen address (numeric)"},
    {"--port", "PORT", OPT_INT, OFF(port), 0, 65535, "3000", "listen port (0 = any free port)"},
    {"--workers", "WORKERS", OPT_STR, OFF(workers), 0, 0, "",
     "static workers: id=host:port,id2=host:port (ids as in the workers' --worker-id)"},
    {"--redis-url", "REDIS_URL", OPT_STR, OFF(redis_url), 0, 0, NULL,
     "discover workers in Redis: redis://[:password@]host:port[/db]"},
    {"--redis-workers-key", "REDIS_WORKERS_KEY", OPT_STR, OFF(redis_key), 0, 0, "sioc:workers",
     "sorted set of <id>@<host>:<port> scored by heartbeat time (ms)"},
    {"--discovery-interval", "DISCOVERY_INTERVAL", OPT_LONG, OFF(discovery_interval), 50, DAY_MS,
     "1000", "ms between polls of the worker set"},
    {"--discovery-stale", "DISCOVERY_STALE", OPT_LONG, OFF(discovery_stale), 100, DAY_MS, "3000",
     "ms after its last heartbeat a worker counts as dead"},
    {"--departing-grace", "DEPARTING_GRACE", OPT_LONG, OFF(departing_grace), 0, DAY_MS, "60000",
     "ms a discovered worker that left the set (draining) still gets the requests of its "
     "sessions, none new; it is dropped sooner once it stops answering (0 = at once)"},
    {"--tls-cert", "TLS_CERT", OPT_STR, OFF(tls_cert), 0, 0, NULL,
     "PEM certificate chain: serve https:// and wss:// (TLS 1.2+) on --port"},
    {"--tls-key", "TLS_KEY", OPT_STR, OFF(tls_key), 0, 0, NULL, "PEM private key of --tls-cert"},
    {"--affinity-cookie", "AFFINITY_COOKIE", OPT_STR, OFF(cookie_name), 0, 0, "sioc_affinity",
     "name of the affinity cookie inserted on responses (\"\" = no cookie); its HMAC key "
     "is AFFINITY_SECRET (environment only; random per start when unset)"},
    {"--trusted-proxies", "TRUSTED_PROXIES", OPT_STR, OFF(trusted_proxies), 0, 0, "",
     "CIDRs whose X-Forwarded-For / X-Real-IP are believed, e.g. 10.0.0.0/8,::1"},
    {"--max-head-size", "MAX_HEAD_SIZE", OPT_LONG, OFF(max_head_size), 1024, 1L << 20, "16384",
     "request head bytes at most (431 beyond)"},
    {"--max-headers", "MAX_HEADERS", OPT_LONG, OFF(max_headers), 8, 1024, "64",
     "request header fields at most (431 beyond)"},
    {"--head-timeout", "HEAD_TIMEOUT", OPT_LONG, OFF(head_timeout), 10, DAY_MS, "10000",
     "ms to receive a whole request head once it started (408 and close; slowloris)"},
    {"--keepalive-timeout", "KEEPALIVE_TIMEOUT", OPT_LONG, OFF(keepalive_timeout), 10, DAY_MS,
     "60000", "ms an idle client connection waits for its next request"},
    {"--server-timeout", "SERVER_TIMEOUT", OPT_LONG, OFF(server_timeout), 10, DAY_MS, "60000",
     "ms of silence allowed while a request is in flight (504); keep it above the "
     "workers' pingInterval, which bounds a held long-poll"},
    {"--tunnel-timeout", "TUNNEL_TIMEOUT", OPT_LONG, OFF(tunnel_timeout), 10, DAY_MS, "60000",
     "ms a websocket tunnel may stay silent both ways; keep it above pingInterval + "
     "pingTimeout"},
    {"--upstream-connect-timeout", "UPSTREAM_CONNECT_TIMEOUT", OPT_LONG, OFF(connect_timeout), 10,
     DAY_MS, "2000", "ms to connect to a worker before it counts as failed"},
    {"--max-connections", "MAX_CONNECTIONS", OPT_LONG, OFF(max_connections), 1, 100000000, "100000",
     "open client connections at most (more are closed at accept)"},
    {"--max-connections-per-ip", "MAX_CONNECTIONS_PER_IP", OPT_LONG, OFF(max_connections_per_ip), 0,
     100000000, "0", "open client connections per socket peer address (0 = no limit)"},
    {"--max-handshake-rate", "MAX_HANDSHAKE_RATE", OPT_LONG, OFF(max_handshake_rate), 0, 100000000,
     "0",
     "requests without a sid admitted per second (token bucket; 503 + Retry-After: 1 "
     "beyond; 0 = no limit)"},
    {"--handshake-burst", "HANDSHAKE_BURST", OPT_LONG, OFF(handshake_burst), 0, 100000000, "0",
     "token bucket size for --max-handshake-rate (0 = one second's worth)"},
    {"--health-interval", "HEALTH_INTERVAL", OPT_LONG, OFF(health_interval), 50, DAY_MS, "1000",
     "ms between GET /health checks of each worker"},
    {"--health-path", "HEALTH_PATH", OPT_STR, OFF(health_path), 0, 0, "/health",
     "path of the health check (a worker's /ready also fails while its Redis link is down)"},
    {"--health-timeout", "HEALTH_TIMEOUT", OPT_LONG, OFF(health_timeout), 10, DAY_MS, "1000",
     "ms a health check may take before it counts as failed"},
    {"--health-fall", "HEALTH_FALL", OPT_LONG, OFF(health_fall), 1, 100, "2",
     "consecutive failed checks that take a worker out of rotation"},
    {"--health-rise", "HEALTH_RISE", OPT_LONG, OFF(health_rise), 1, 100, "1",
     "consecutive passed checks that bring it back"},
    {"--upstream-pool", "UPSTREAM_POOL", OPT_LONG, OFF(pool_size), 0, 100000, "32",
     "idle keep-alive connections kept per worker"},
    {"--tunnel-buffer", "TUNNEL_BUFFER", OPT_LONG, OFF(tunnel_buffer), 4096, 1L << 30, "262144",
     "bytes queued towards one side before reading from the other pauses"},
    {"--drain-timeout", "DRAIN_TIMEOUT", OPT_LONG, OFF(drain_timeout), 0, DAY_MS, "10000",
     "ms given to in-flight requests and tunnels after SIGTERM"},
    {"--admin-host", "ADMIN_HOST", OPT_STR, OFF(admin_host), 0, 0, "127.0.0.1",
     "admin listen address"},
    {"--admin-port", "ADMIN_PORT", OPT_INT, OFF(admin_port), 0, 65535, "0",
     "admin port serving GET /health, /ready, /metrics (0 = no admin port)"},
    {"--log-level", "LOG_LEVEL", OPT_LOGLEVEL, OFF(log_level), 0, 0, "info",
     "error | warn | info | debug"},
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
    for (size_t i = 0; i < NOPTS; i++) {
        const opt_t *o = &opts[i];
        char left[64];
        snprintf(left, sizeof(left), "%s V", o->flag);
        fprintf(f, "  %-28s %-26s %s", left, o->env, o->help);
        if (o->def != NULL && o->def[0] != '\0')
            fprintf(f, " [%s]", o->def);
        fputc('\n', f);
    }
    fprintf(f, "  %-28s %-26s %s\n", "", "AFFINITY_SECRET",
            "HMAC key of the affinity cookie; give every replica the same one");
    fprintf(f, "  %-28s %-26s %s\n", "--help", "", "this text");
    fprintf(f, "\nSignals: SIGTERM / SIGINT stop accepting, let in-flight requests finish and\n"
               "close tunnels after --drain-timeout; a second signal exits at once.\n");
}

static int set_opt(proxy_config_t *c, const opt_t *o, const char *v)
{
    char *base = (char *)c + o->offset;
    switch (o->kind) {
    case OPT_STR: {
        char **s = (char **)base;
        free(*s);
        *s = v ? xstrdup(v) : NULL;
        return 0;
    }
    case OPT_LONG:
    case OPT_INT: {
        char *end;
        long x = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || x < o->min || x > o->max) {
            fprintf(stderr, "sioc-proxy: %s / %s: expected an integer in [%ld, %ld], got '%s'\n",
                    o->flag, o->env, o->min, o->max, v);
            return -1;
        }
        if (o->kind == OPT_INT)
            *(int *)base = (int)x;
        else
            *(long *)base = x;
        return 0;
    }
    case OPT_LOGLEVEL: {
        int l = log_level_parse(v);
        if (l < 0) {
            fprintf(stderr, "sioc-proxy: --log-level: expected error|warn|info|debug\n");
            return -1;
        }
        c->log_level = l;
        return 0;
    }
    }
    return -1;
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
            char item[128];
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
    for (size_t i = 0; i < NOPTS; i++) {
        const char *env = getenv(opts[i].env);
        const char *v = env != NULL ? env : opts[i].def;
        /* An empty variable means "default", except for strings where "" is a value. */
        if (env != NULL && *env == '\0' && opts[i].kind != OPT_STR)
            v = opts[i].def;
        if (v != NULL && set_opt(c, &opts[i], v) != 0)
            return -1;
    }
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            usage(stdout);
            return 1;
        }
        const opt_t *o = NULL;
        const char *val = NULL;
        for (size_t i = 0; i < NOPTS; i++) {
            size_t fl = strlen(opts[i].flag);
            if (strncmp(argv[a], opts[i].flag, fl) == 0 &&
                (argv[a][fl] == '\0' || argv[a][fl] == '=')) {
                o = &opts[i];
                if (argv[a][fl] == '=')
                    val = argv[a] + fl + 1;
                break;
            }
        }
        if (o == NULL) {
            fprintf(stderr, "sioc-proxy: unknown option '%s' (see --help)\n", argv[a]);
            return -1;
        }
        if (val == NULL) {
            if (a + 1 >= argc) {
                fprintf(stderr, "sioc-proxy: %s needs a value\n", o->flag);
                return -1;
            }
            val = argv[++a];
        }
        if (set_opt(c, o, val) != 0)
            return -1;
    }
    return validate(c);
}

void proxy_config_free(proxy_config_t *c)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].kind == OPT_STR) {
            char **s = (char **)((char *)c + opts[i].offset);
            free(*s);
            *s = NULL;
        }
    free(c->static_workers);
    c->static_workers = NULL;
    c->num_static_workers = 0;
}
