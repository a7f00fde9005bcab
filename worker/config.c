/*
 * config.c - sioc-worker flags and environment (config.h).
 *
 * One table drives parsing, validation and --help, so the three never
 * disagree.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"

enum opt_kind { OPT_STR, OPT_LONG, OPT_BOOL, OPT_LIST, OPT_APP, OPT_LOGLEVEL };

typedef struct {
    const char *flag;
    const char *env;
    int kind;
    size_t offset;
    size_t count_offset; /* OPT_LIST: offset of the count */
    long min, max;
    const char *def;
    const char *help;
} opt_t;

#define OFF(f) offsetof(worker_config_t, f)

static const opt_t opts[] = {
    {"--host", "HOST", OPT_STR, OFF(host), 0, 0, 0, "127.0.0.1", "listen address (numeric)"},
    {"--port", "PORT", OPT_LONG, OFF(port), 0, 0, 65535, "3000", "listen port (0 = any free port)"},
    {"--path", "SIO_PATH", OPT_STR, OFF(path), 0, 0, 0, "/socket.io/", "Engine.IO endpoint path"},
    {"--app", "APP", OPT_APP, OFF(app), 0, 0, 0, "chat",
     "application: chat | echo (the official protocol suites' reference server)"},
    {"--namespaces", "NAMESPACES", OPT_LIST, OFF(namespaces), OFF(num_namespaces), 0, 32, "",
     "extra namespaces, comma-separated (\"/\" always exists)"},
    {"--ping-interval", "PING_INTERVAL", OPT_LONG, OFF(ping_interval), 0, 1, 86400000, "25000",
     "ms between server pings"},
    {"--ping-timeout", "PING_TIMEOUT", OPT_LONG, OFF(ping_timeout), 0, 1, 86400000, "20000",
     "ms to wait for a pong"},
    {"--connect-timeout", "CONNECT_TIMEOUT", OPT_LONG, OFF(connect_timeout), 0, 1, 86400000,
     "45000", "ms for a client to connect to a namespace"},
    {"--upgrade-timeout", "UPGRADE_TIMEOUT", OPT_LONG, OFF(upgrade_timeout), 0, 1, 86400000,
     "10000", "ms for a polling->websocket upgrade to complete"},
    {"--max-http-buffer-size", "MAX_HTTP_BUFFER_SIZE", OPT_LONG, OFF(max_http_buffer_size), 0, 1024,
     1L << 30, "1000000", "max message / POST body bytes (413 / close 1009 beyond)"},
    {"--cors-origin", "CORS_ORIGIN", OPT_LIST, OFF(cors_origins), OFF(num_cors_origins), 0, 32, "",
     "allowed origins, comma-separated, or * (CORS off when empty)"},
    {"--cookie", "IO_COOKIE", OPT_BOOL, OFF(cookie), 0, 0, 1, "0",
     "send the io cookie (io=<sid>) on the handshake"},
    {"--jwt-secret", "JWT_SECRET", OPT_STR, OFF(jwt_secret), 0, 0, 0, NULL,
     "HS256 secret; the chat app requires a valid JWT when a secret or key is set"},
    {"--jwt-alg", "JWT_ALG", OPT_STR, OFF(jwt_alg), 0, 0, 0, "HS256",
     "the one accepted algorithm: HS256 | RS256 | ES256"},
    {"--jwt-public-key", "JWT_PUBLIC_KEY", OPT_STR, OFF(jwt_public_key), 0, 0, 0, NULL,
     "PEM public key file for RS256 / ES256"},
    {"--jwt-leeway", "JWT_LEEWAY", OPT_LONG, OFF(jwt_leeway), 0, 0, 3600, "0",
     "seconds of clock skew allowed on exp / nbf"},
    {"--max-connections", "MAX_CONNECTIONS", OPT_LONG, OFF(max_connections), 0, 1, 100000000,
     "100000", "open TCP connections at most"},
    {"--max-connections-per-ip", "MAX_CONNECTIONS_PER_IP", OPT_LONG, OFF(max_connections_per_ip), 0,
     0, 100000000, "0", "open TCP connections per client address (0 = no limit)"},
    {"--max-output-buffer", "MAX_OUTPUT_BUFFER", OPT_LONG, OFF(max_output_buffer), 0, 4096,
     1L << 30, "4194304", "queued output bytes per connection before it is dropped"},
    {"--ack-timeout", "ACK_TIMEOUT", OPT_LONG, OFF(ack_timeout), 0, 1, 86400000, "10000",
     "ms to wait for a client's ack of a server emit"},
    {"--max-disconnection-duration", "MAX_DISCONNECTION_DURATION", OPT_LONG,
     OFF(max_disconnection_duration), 0, 0, 86400000, "0",
     "connection state recovery: ms a disconnected socket's session and missed packets are "
     "kept (0 = off)"},
    {"--max-events-per-second", "MAX_EVENTS_PER_SECOND", OPT_LONG, OFF(max_events_per_second), 0, 0,
     100000000, "0", "events a socket may send per second (0 = no limit)"},
    {"--redis-url", "REDIS_URL", OPT_STR, OFF(redis_url), 0, 0, 0, NULL,
     "redis://[:password@]host:port[/db]; unset = single worker, in-memory adapter"},
    {"--adapter-mode", "ADAPTER_MODE", OPT_STR, OFF(adapter_mode), 0, 0, 0, "classic",
     "classic (PSUBSCRIBE, as @socket.io/redis-adapter createAdapter) | sharded (SSUBSCRIBE "
     "per room, as createShardedAdapter) | streams (a Redis stream, as "
     "@socket.io/redis-streams-adapter; connection state recovery across workers)"},
    {"--redis-key", "REDIS_KEY", OPT_STR, OFF(redis_key), 0, 0, 0, "socket.io",
     "channel prefix shared with the Node adapter"},
    {"--redis-stream", "REDIS_STREAM", OPT_STR, OFF(redis_stream), 0, 0, 0, "socket.io",
     "streams mode: the stream name (or prefix with --redis-stream-count > 1)"},
    {"--redis-stream-count", "REDIS_STREAM_COUNT", OPT_LONG, OFF(redis_stream_count), 0, 1, 1024,
     "1", "streams mode: streams the namespaces are hashed over (Node streamCount)"},
    {"--redis-stream-maxlen", "REDIS_STREAM_MAXLEN", OPT_LONG, OFF(redis_stream_maxlen), 0, 1,
     1000000000, "10000", "streams mode: XADD MAXLEN ~ (entries kept, all namespaces)"},
    {"--requests-timeout", "REQUESTS_TIMEOUT", OPT_LONG, OFF(requests_timeout), 0, 1, 600000,
     "5000", "ms to wait for other workers' answers (fetchSockets, allRooms, ...)"},
    {"--worker-id", "WORKER_ID", OPT_STR, OFF(worker_id), 0, 0, 0, NULL,
     "worker identity (letters, digits, - _; at most 16); random when unset"},
    {"--advertise", "ADVERTISE", OPT_STR, OFF(advertise), 0, 0, 0, NULL,
     "host:port announced for discovery (default host:port)"},
    {"--head-timeout", "HEAD_TIMEOUT", OPT_LONG, OFF(head_timeout), 0, 1000, 600000, "10000",
     "ms for a request head to arrive in full (slowloris: 408 and close)"},
    {"--keepalive-timeout", "KEEPALIVE_TIMEOUT", OPT_LONG, OFF(keep_alive_timeout), 0, 1000,
     86400000, "60000", "ms an idle keep-alive HTTP connection is kept"},
    {"--drain-timeout", "DRAIN_TIMEOUT", OPT_LONG, OFF(drain_timeout), 0, 0, 600000, "10000",
     "ms given to clients to leave on SIGTERM"},
    {"--serve-client", "SERVE_CLIENT", OPT_BOOL, OFF(serve_client), 0, 0, 1, "1",
     "serve the socket.io-client bundle at <path>socket.io.js, .min.js, .esm.min.js and .map"},
    {"--chat-page", "CHAT_PAGE", OPT_BOOL, OFF(chat_page), 0, 0, 1, "0",
     "serve the chat page at / (needs the chat app)"},
    {"--dev-token-endpoint", "DEV_TOKEN_ENDPOINT", OPT_BOOL, OFF(dev_token_endpoint), 0, 0, 1, "0",
     "DEVELOPMENT ONLY: GET /dev/token?user=NAME hands a 1-hour HS256 token to anyone"},
    {"--log-level", "LOG_LEVEL", OPT_LOGLEVEL, OFF(log_level), 0, 0, 0, "info",
     "error | warn | info | debug"},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: sioc-worker [options]\n"
               "Engine.IO v4 / Socket.IO v5 server. Every option can also be set by the\n"
               "environment variable shown; flags win.\n\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const opt_t *o = &opts[i];
        char left[64];
        snprintf(left, sizeof(left), "%s%s", o->flag, o->kind == OPT_BOOL ? "" : " V");
        fprintf(f, "  %-26s %-22s %s", left, o->env, o->help);
        if (o->def != NULL && o->def[0] != '\0' && o->kind != OPT_BOOL)
            fprintf(f, " [%s]", o->def);
        fputc('\n', f);
    }
    fprintf(f, "  %-26s %-22s %s\n", "--help", "", "this text");
}

static int set_list(char **items, size_t *count, size_t max, const char *v, const char *name)
{
    for (size_t i = 0; i < *count; i++)
        free(items[i]);
    *count = 0;
    const char *p = v;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n > 0 && (*p == ' '))
            p++, n--;
        while (n > 0 && p[n - 1] == ' ')
            n--;
        if (n > 0) {
            if (*count >= max) {
                fprintf(stderr, "sioc-worker: %s: too many items (max %zu)\n", name, max);
                return -1;
            }
            items[(*count)++] = xstrndup(p, n);
        }
        if (e == NULL)
            break;
        p = e + 1;
    }
    return 0;
}

static int set_opt(worker_config_t *c, const opt_t *o, const char *v)
{
    char *base = (char *)c + o->offset;
    switch (o->kind) {
    case OPT_STR: {
        char **s = (char **)base;
        free(*s);
        *s = v ? xstrdup(v) : NULL;
        return 0;
    }
    case OPT_LONG: {
        char *end;
        long x = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || x < o->min || x > o->max) {
            fprintf(stderr, "sioc-worker: %s / %s: expected an integer in [%ld, %ld], got '%s'\n",
                    o->flag, o->env, o->min, o->max, v);
            return -1;
        }
        if (o->offset == OFF(port))
            *(int *)base = (int)x;
        else
            *(long *)base = x;
        return 0;
    }
    case OPT_BOOL:
        *(int *)base = (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0);
        if (!*(int *)base && strcmp(v, "0") && strcmp(v, "false") && strcmp(v, "no") && *v) {
            fprintf(stderr, "sioc-worker: %s: expected 0/1, got '%s'\n", o->env, v);
            return -1;
        }
        return 0;
    case OPT_LIST:
        return set_list((char **)base, (size_t *)((char *)c + o->count_offset), (size_t)o->max, v,
                        o->flag);
    case OPT_APP:
        if (strcmp(v, "chat") == 0)
            c->app = WORKER_APP_CHAT;
        else if (strcmp(v, "echo") == 0)
            c->app = WORKER_APP_ECHO;
        else {
            fprintf(stderr, "sioc-worker: --app: expected chat or echo, got '%s'\n", v);
            return -1;
        }
        return 0;
    case OPT_LOGLEVEL: {
        int l = log_level_parse(v);
        if (l < 0) {
            fprintf(stderr, "sioc-worker: --log-level: expected error|warn|info|debug\n");
            return -1;
        }
        c->log_level = l;
        return 0;
    }
    }
    return -1;
}

static int validate(worker_config_t *c)
{
    size_t n = strlen(c->path);
    if (n == 0 || c->path[0] != '/') {
        fprintf(stderr, "sioc-worker: --path must start with /\n");
        return -1;
    }
    if (c->path[n - 1] != '/') {
        char *p = xmalloc(n + 2);
        memcpy(p, c->path, n);
        p[n] = '/';
        p[n + 1] = '\0';
        free(c->path);
        c->path = p;
    }
    for (size_t i = 0; i < c->num_namespaces; i++) {
        if (c->namespaces[i][0] != '/') {
            fprintf(stderr, "sioc-worker: namespace '%s' must start with /\n", c->namespaces[i]);
            return -1;
        }
    }
    c->cors_any = 0;
    for (size_t i = 0; i < c->num_cors_origins; i++)
        if (strcmp(c->cors_origins[i], "*") == 0)
            c->cors_any = 1;
    if (strcmp(c->jwt_alg, "HS256") && strcmp(c->jwt_alg, "RS256") && strcmp(c->jwt_alg, "ES256")) {
        fprintf(stderr, "sioc-worker: --jwt-alg: expected HS256, RS256 or ES256\n");
        return -1;
    }
    if (strcmp(c->jwt_alg, "HS256") != 0 && c->jwt_public_key == NULL) {
        fprintf(stderr, "sioc-worker: --jwt-alg %s needs --jwt-public-key\n", c->jwt_alg);
        return -1;
    }
    if (strcmp(c->adapter_mode, "classic") && strcmp(c->adapter_mode, "sharded") &&
        strcmp(c->adapter_mode, "streams")) {
        fprintf(stderr, "sioc-worker: --adapter-mode: expected classic, sharded or streams\n");
        return -1;
    }
    if (c->jwt_secret != NULL && c->jwt_secret[0] == '\0') {
        free(c->jwt_secret);
        c->jwt_secret = NULL;
    }
    if (c->dev_token_endpoint && (c->jwt_secret == NULL || strcmp(c->jwt_alg, "HS256") != 0)) {
        fprintf(stderr, "sioc-worker: --dev-token-endpoint needs --jwt-secret (HS256)\n");
        return -1;
    }
    if (c->chat_page && c->app != WORKER_APP_CHAT) {
        fprintf(stderr, "sioc-worker: --chat-page needs --app chat\n");
        return -1;
    }
    if (c->worker_id != NULL) {
        size_t len = strlen(c->worker_id);
        if (len == 0 || len > 16 ||
            strspn(c->worker_id,
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != len) {
            fprintf(stderr, "sioc-worker: --worker-id: 1-16 of [A-Za-z0-9_-]\n");
            return -1;
        }
    }
    return 0;
}

int worker_config_parse(worker_config_t *c, int argc, char **argv)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < NOPTS; i++) {
        const char *env = getenv(opts[i].env);
        const char *v = (env != NULL && *env) ? env : opts[i].def;
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
            fprintf(stderr, "sioc-worker: unknown option '%s' (see --help)\n", argv[a]);
            return -1;
        }
        if (val == NULL) {
            if (o->kind == OPT_BOOL)
                val = "1";
            else if (a + 1 < argc)
                val = argv[++a];
            else {
                fprintf(stderr, "sioc-worker: %s needs a value\n", o->flag);
                return -1;
            }
        }
        if (set_opt(c, o, val) != 0)
            return -1;
    }
    return validate(c);
}

void worker_config_free(worker_config_t *c)
{
    for (size_t i = 0; i < NOPTS; i++) {
        char *base = (char *)c + opts[i].offset;
        if (opts[i].kind == OPT_STR) {
            free(*(char **)base);
        } else if (opts[i].kind == OPT_LIST) {
            size_t *n = (size_t *)((char *)c + opts[i].count_offset);
            for (size_t k = 0; k < *n; k++)
                free(((char **)base)[k]);
            *n = 0;
        }
    }
}
