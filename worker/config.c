/*
 * config.c - sioc-worker flags and environment (config.h).
 *
 * One table (base/opts.h) drives parsing, validation and --help, so the three
 * never disagree; checks that span options are in validate().
 */
#include "config.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/opts.h"
#include "net/redis_opts.h"

static int set_app(void *conf, const opts_spec_t *o, const char *v, const char *prog)
{
    worker_config_t *c = conf;
    (void)o;
    if (strcmp(v, "chat") == 0)
        c->app = WORKER_APP_CHAT;
    else if (strcmp(v, "echo") == 0)
        c->app = WORKER_APP_ECHO;
    else {
        fprintf(stderr, "%s: --app: expected chat or echo, got '%s'\n", prog, v);
        return -1;
    }
    return 0;
}

#define OFF(f) offsetof(worker_config_t, f)

static const opts_spec_t opts[] = {
    {"--host", "HOST", OPTS_STR, OFF(host), 0, 0, 0, "127.0.0.1", "listen address (numeric)", NULL},
    {"--port", "PORT", OPTS_INT, OFF(port), 0, 0, 65535, "3000", "listen port (0 = any free port)",
     NULL},
    {"--admin-host", "ADMIN_HOST", OPTS_STR, OFF(admin_host), 0, 0, 0, "127.0.0.1",
     "admin listen address (with --admin-port)", NULL},
    {"--admin-port", "ADMIN_PORT", OPTS_INT, OFF(admin_port), 0, 0, 65535, "0",
     "admin port serving GET /health, /ready, /metrics; the client port then answers only "
     "/health (0 = all three on the client port)",
     NULL},
    {"--path", "SIO_PATH", OPTS_STR, OFF(path), 0, 0, 0, "/socket.io/", "Engine.IO endpoint path",
     NULL},
    {"--app", "APP", OPTS_CUSTOM, OFF(app), 0, 0, 0, "chat",
     "application: chat | echo (the official protocol suites' reference server)", set_app},
    {"--namespaces", "NAMESPACES", OPTS_LIST, OFF(namespaces), OFF(num_namespaces), 0, 32, "",
     "extra namespaces, comma-separated (\"/\" always exists)", NULL},
    {"--namespace-pattern", "NAMESPACE_PATTERN", OPTS_STR, OFF(namespace_pattern), 0, 0, 0, NULL,
     "POSIX extended regex (matched against the whole name): a CONNECT to a matching unknown "
     "namespace creates it; removed when empty",
     NULL},
    {"--max-dynamic-namespaces", "MAX_DYNAMIC_NAMESPACES", OPTS_LONG, OFF(max_dynamic_namespaces),
     0, 1, 100000, "1000", "dynamic namespaces alive at once (more: CONNECT_ERROR)", NULL},
    {"--ping-interval", "PING_INTERVAL", OPTS_LONG, OFF(ping_interval), 0, 1, 86400000, "25000",
     "ms between server pings", NULL},
    {"--ping-timeout", "PING_TIMEOUT", OPTS_LONG, OFF(ping_timeout), 0, 1, 86400000, "20000",
     "ms to wait for a pong", NULL},
    {"--connect-timeout", "CONNECT_TIMEOUT", OPTS_LONG, OFF(connect_timeout), 0, 1, 86400000,
     "45000", "ms for a client to connect to a namespace", NULL},
    {"--upgrade-timeout", "UPGRADE_TIMEOUT", OPTS_LONG, OFF(upgrade_timeout), 0, 1, 86400000,
     "10000", "ms for a polling->websocket upgrade to complete", NULL},
    {"--max-http-buffer-size", "MAX_HTTP_BUFFER_SIZE", OPTS_LONG, OFF(max_http_buffer_size), 0,
     1024, 1L << 30, "1000000", "max message / POST body bytes (413 / close 1009 beyond)", NULL},
    {"--cors-origin", "CORS_ORIGIN", OPTS_LIST, OFF(cors_origins), OFF(num_cors_origins), 0, 32, "",
     "allowed origins, comma-separated, or * (CORS off when empty)", NULL},
    {"--cookie", "IO_COOKIE", OPTS_BOOL, OFF(cookie), 0, 0, 1, "0",
     "send the io cookie (io=<sid>) on the handshake", NULL},
    {"--http-compression", "HTTP_COMPRESSION", OPTS_BOOL, OFF(http_compression), 0, 0, 1, "1",
     "gzip / deflate polling responses the client accepts compressed (Node httpCompression)", NULL},
    {"--http-compression-threshold", "HTTP_COMPRESSION_THRESHOLD", OPTS_LONG,
     OFF(http_compression_threshold), 0, 0, 1L << 30, "1024",
     "smallest polling response body compressed, bytes", NULL},
    {"--per-message-deflate", "PER_MESSAGE_DEFLATE", OPTS_BOOL, OFF(per_message_deflate), 0, 0, 1,
     "0", "WebSocket permessage-deflate (RFC 7692) when the client offers it", NULL},
    {"--per-message-deflate-threshold", "PER_MESSAGE_DEFLATE_THRESHOLD", OPTS_LONG,
     OFF(per_message_deflate_threshold), 0, 0, 1L << 30, "1024",
     "smallest WebSocket message compressed, bytes", NULL},
    {"--parser", "PARSER", OPTS_STR, OFF(parser), 0, 0, 0, "default",
     "Socket.IO packet format: default | msgpack (socket.io-msgpack-parser)", NULL},
    {"--jwt-secret", "JWT_SECRET", OPTS_STR, OFF(jwt_secret), 0, 0, 0, NULL,
     "HS256 secret; the chat app requires a valid JWT when a secret or key is set", NULL},
    {"--jwt-alg", "JWT_ALG", OPTS_STR, OFF(jwt_alg), 0, 0, 0, "HS256",
     "the one accepted algorithm: HS256 | RS256 | ES256", NULL},
    {"--jwt-public-key", "JWT_PUBLIC_KEY", OPTS_STR, OFF(jwt_public_key), 0, 0, 0, NULL,
     "PEM public key file for RS256 / ES256", NULL},
    {"--jwt-leeway", "JWT_LEEWAY", OPTS_LONG, OFF(jwt_leeway), 0, 0, 3600, "0",
     "seconds of clock skew allowed on exp / nbf", NULL},
    {"--max-connections", "MAX_CONNECTIONS", OPTS_LONG, OFF(max_connections), 0, 1, 100000000,
     "100000", "open TCP connections at most", NULL},
    {"--max-connections-per-ip", "MAX_CONNECTIONS_PER_IP", OPTS_LONG, OFF(max_connections_per_ip),
     0, 0, 100000000, "0", "open TCP connections per client address (0 = no limit)", NULL},
    {"--max-output-buffer", "MAX_OUTPUT_BUFFER", OPTS_LONG, OFF(max_output_buffer), 0, 4096,
     1L << 30, "4194304", "queued output bytes per connection before it is dropped", NULL},
    {"--ack-timeout", "ACK_TIMEOUT", OPTS_LONG, OFF(ack_timeout), 0, 1, 86400000, "10000",
     "ms to wait for a client's ack of a server emit", NULL},
    {"--max-pending-sessions-per-ip", "MAX_PENDING_SESSIONS_PER_IP", OPTS_LONG,
     OFF(max_pending_sessions_per_ip), 0, 0, 100000000, "0",
     "sessions per client address not yet connected to a namespace (0 = no limit; behind a "
     "proxy every client shows the proxy's address)",
     NULL},
    {"--max-rooms-per-socket", "MAX_ROOMS_PER_SOCKET", OPTS_LONG, OFF(max_rooms_per_socket), 0, 0,
     100000000, "1000", "rooms a socket may be in besides its own (0 = no limit)", NULL},
    {"--max-disconnection-duration", "MAX_DISCONNECTION_DURATION", OPTS_LONG,
     OFF(max_disconnection_duration), 0, 0, 86400000, "0",
     "connection state recovery: ms a disconnected socket's session and missed packets are "
     "kept (0 = off)",
     NULL},
    {"--max-events-per-second", "MAX_EVENTS_PER_SECOND", OPTS_LONG, OFF(max_events_per_second), 0,
     0, 100000000, "0", "events a socket may send per second (0 = no limit)", NULL},
    {"--redis-url", "REDIS_URL", OPTS_STR, OFF(redis_url), 0, 0, 0, NULL,
     "redis://[[user]:password@]host:port[,host:port...][/db] | rediss://... (TLS) | "
     "redis-sentinel://[[user]:password@]host:port[,host:port...]/<primary name>[/db]; "
     "unset = single worker, in-memory adapter",
     NULL},
    REDIS_LINK_OPTS(OFF),
    {"--adapter-mode", "ADAPTER_MODE", OPTS_STR, OFF(adapter_mode), 0, 0, 0, "classic",
     "classic (PSUBSCRIBE, as @socket.io/redis-adapter createAdapter) | sharded (SSUBSCRIBE "
     "per room, as createShardedAdapter) | streams (a Redis stream, as "
     "@socket.io/redis-streams-adapter; connection state recovery across workers)",
     NULL},
    {"--redis-key", "REDIS_KEY", OPTS_STR, OFF(redis_key), 0, 0, 0, "socket.io",
     "channel prefix shared with the Node adapter", NULL},
    {"--redis-stream", "REDIS_STREAM", OPTS_STR, OFF(redis_stream), 0, 0, 0, "socket.io",
     "streams mode: the stream name (or prefix with --redis-stream-count > 1)", NULL},
    {"--redis-stream-count", "REDIS_STREAM_COUNT", OPTS_LONG, OFF(redis_stream_count), 0, 1, 1024,
     "1", "streams mode: streams the namespaces are hashed over (Node streamCount)", NULL},
    {"--redis-stream-maxlen", "REDIS_STREAM_MAXLEN", OPTS_LONG, OFF(redis_stream_maxlen), 0, 1,
     1000000000, "10000", "streams mode: XADD MAXLEN ~ (entries kept, all namespaces)", NULL},
    {"--adapter-queue-max", "ADAPTER_QUEUE_MAX", OPTS_LONG, OFF(adapter_queue_max), 0, 0, 100000000,
     "10000",
     "publishes kept while Redis is unreachable and sent in order when it is back; the oldest "
     "dropped beyond (0 = off: dropped at once)",
     NULL},
    {"--adapter-queue-bytes", "ADAPTER_QUEUE_BYTES", OPTS_LONG, OFF(adapter_queue_bytes), 0, 4096,
     1L << 32, "16777216", "bytes of the publishes kept while Redis is unreachable", NULL},
    {"--requests-timeout", "REQUESTS_TIMEOUT", OPTS_LONG, OFF(requests_timeout), 0, 1, 600000,
     "5000", "ms to wait for other workers' answers (fetchSockets, allRooms, ...)", NULL},
    {"--worker-id", "WORKER_ID", OPTS_STR, OFF(worker_id), 0, 0, 0, NULL,
     "worker identity (letters, digits, - _; at most 16); random when unset", NULL},
    {"--advertise", "ADVERTISE", OPTS_STR, OFF(advertise), 0, 0, 0, NULL,
     "host:port announced for discovery (default host:port)", NULL},
    {"--handoff-path", "HANDOFF_PATH", OPTS_STR, OFF(handoff_path), 0, 0, 0, NULL,
     "Unix socket on which a proxy on this host hands websocket clients over (announced "
     "with the address)",
     NULL},
    {"--head-timeout", "HEAD_TIMEOUT", OPTS_LONG, OFF(head_timeout), 0, 1000, 600000, "10000",
     "ms for a request head to arrive in full (slowloris: 408 and close)", NULL},
    {"--max-head-size", "MAX_HEAD_SIZE", OPTS_LONG, OFF(max_head_size), 0, 1024, 1L << 20, "20480",
     "bytes of a request head (431 beyond); above the proxy's, which adds its own fields", NULL},
    {"--max-headers", "MAX_HEADERS", OPTS_LONG, OFF(max_headers), 0, 8, 1024, "96",
     "header fields of a request (431 beyond); above the proxy's 64 plus the ones it adds", NULL},
    {"--keepalive-timeout", "KEEPALIVE_TIMEOUT", OPTS_LONG, OFF(keep_alive_timeout), 0, 1000,
     86400000, "60000", "ms an idle keep-alive HTTP connection is kept", NULL},
    {"--drain-timeout", "DRAIN_TIMEOUT", OPTS_LONG, OFF(drain_timeout), 0, 0, 600000, "10000",
     "ms given to clients to leave on SIGTERM", NULL},
    {"--serve-client", "SERVE_CLIENT", OPTS_BOOL, OFF(serve_client), 0, 0, 1, "1",
     "serve the socket.io-client bundle at <path>socket.io.js, .min.js, .esm.min.js and .map",
     NULL},
    {"--chat-page", "CHAT_PAGE", OPTS_BOOL, OFF(chat_page), 0, 0, 1, "0",
     "serve the chat page at / (needs the chat app)", NULL},
    {"--dev-token-endpoint", "DEV_TOKEN_ENDPOINT", OPTS_BOOL, OFF(dev_token_endpoint), 0, 0, 1, "0",
     "DEVELOPMENT ONLY: GET /dev/token?user=NAME hands a 1-hour HS256 token to anyone", NULL},
    {"--admin-ui", "ADMIN_UI", OPTS_BOOL, OFF(admin_ui), 0, 0, 1, "0",
     "the /admin namespace of @socket.io/admin-ui 0.5 (needs --admin-ui-password-hash or "
     "--admin-ui-no-auth)",
     NULL},
    {"--admin-ui-user", "ADMIN_UI_USER", OPTS_STR, OFF(admin_ui_user), 0, 0, 0, "admin",
     "admin UI: the user name", NULL},
    {"--admin-ui-password-hash", "ADMIN_UI_PASSWORD_HASH", OPTS_STR, OFF(admin_ui_password_hash), 0,
     0, 0, NULL, "admin UI: bcrypt hash ($2a$ / $2b$ / $2y$) of the password", NULL},
    {"--admin-ui-no-auth", "ADMIN_UI_NO_AUTH", OPTS_BOOL, OFF(admin_ui_no_auth), 0, 0, 1, "0",
     "admin UI without authentication (anyone reaching the worker administers the cluster)", NULL},
    {"--admin-ui-readonly", "ADMIN_UI_READONLY", OPTS_BOOL, OFF(admin_ui_readonly), 0, 0, 1, "0",
     "admin UI: refuse emit / join / leave / disconnect", NULL},
    {"--admin-ui-dir", "ADMIN_UI_DIR", OPTS_STR, OFF(admin_ui_dir), 0, 0, 0, NULL,
     "admin UI: serve the UI's files from this directory (the npm package's ui/dist), read at "
     "start",
     NULL},
    {"--admin-ui-path", "ADMIN_UI_PATH", OPTS_STR, OFF(admin_ui_path), 0, 0, 0, "/admin/",
     "admin UI: where --admin-ui-dir is served", NULL},
    {"--sse", "SSE", OPTS_BOOL, OFF(sse), 0, 0, 1, "1",
     "serve GET <path>sse?rooms=a,b: the rooms' receive-message events as Server-Sent Events "
     "(chat app)",
     NULL},
    {"--sse-heartbeat", "SSE_HEARTBEAT", OPTS_LONG, OFF(sse_heartbeat), 0, 1000, 3600000, "15000",
     "ms between the \": ping\" comments of an event stream (keeps proxies from timing out)", NULL},
    {"--sse-max-rooms", "SSE_MAX_ROOMS", OPTS_LONG, OFF(sse_max_rooms), 0, 1, 1000, "16",
     "rooms one event stream may follow", NULL},
    {"--log-level", "LOG_LEVEL", OPTS_LOGLEVEL, OFF(log_level), 0, 0, 0, "info",
     "error | warn | info | debug", NULL},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void usage(FILE *f)
{
    fprintf(f, "usage: sioc-worker [options]\n"
               "Engine.IO v4 / Socket.IO v5 server. Every option can also be set by the\n"
               "environment variable shown; flags win.\n\n");
    opts_usage(f, opts, NOPTS, 26, 22);
    fprintf(f, "  %-26s %-22s %s\n", "--help", "", "this text");
}

/* The admin UI needs a bcrypt hash unless it is explicitly open, its namespace, and a path
 * of its own for its files. */
static int validate_admin_ui(worker_config_t *c)
{
    if (!c->admin_ui) {
        if (c->admin_ui_dir != NULL) {
            fprintf(stderr, "sioc-worker: --admin-ui-dir needs --admin-ui\n");
            return -1;
        }
        return 0;
    }
    const char *h = c->admin_ui_password_hash;
    if (h != NULL && h[0] == '\0')
        h = NULL;
    if (h == NULL && !c->admin_ui_no_auth) {
        fprintf(stderr, "sioc-worker: --admin-ui needs --admin-ui-password-hash (bcrypt) or an "
                        "explicit --admin-ui-no-auth\n");
        return -1;
    }
    if (h != NULL && c->admin_ui_no_auth) {
        fprintf(stderr, "sioc-worker: --admin-ui-password-hash and --admin-ui-no-auth exclude "
                        "each other\n");
        return -1;
    }
    if (h != NULL && (strlen(h) != 60 || h[0] != '$' || h[1] != '2' ||
                      strchr("aby", h[2]) == NULL || h[3] != '$')) {
        fprintf(stderr, "sioc-worker: --admin-ui-password-hash: expected a bcrypt hash "
                        "($2b$10$ and 53 more characters)\n");
        return -1;
    }
    size_t n = strlen(c->admin_ui_path);
    size_t pn = strlen(c->path);
    if (n < 2 || c->admin_ui_path[0] != '/' || c->admin_ui_path[n - 1] != '/' ||
        strncmp(c->admin_ui_path, c->path, n < pn ? n : pn) == 0) {
        fprintf(stderr, "sioc-worker: --admin-ui-path: expected /name/, apart from --path\n");
        return -1;
    }
    for (size_t i = 0; i < c->num_namespaces; i++)
        if (strcmp(c->namespaces[i], "/admin") == 0)
            return 0;
    if (c->num_namespaces == sizeof(c->namespaces) / sizeof(c->namespaces[0])) {
        fprintf(stderr, "sioc-worker: --admin-ui: no room for the /admin namespace\n");
        return -1;
    }
    c->namespaces[c->num_namespaces++] = xstrdup("/admin");
    return 0;
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
    if (c->namespace_pattern != NULL && c->namespace_pattern[0] == '\0') {
        free(c->namespace_pattern);
        c->namespace_pattern = NULL;
    }
    if (c->namespace_pattern != NULL) {
        size_t len = strlen(c->namespace_pattern);
        char *anchored = xmalloc(len + 5);
        snprintf(anchored, len + 5, "^(%s)$", c->namespace_pattern);
        regex_t re;
        int rc = regcomp(&re, anchored, REG_EXTENDED | REG_NOSUB);
        free(anchored);
        if (rc != 0) {
            char msg[128];
            regerror(rc, &re, msg, sizeof(msg));
            fprintf(stderr, "sioc-worker: --namespace-pattern: %s\n", msg);
            return -1;
        }
        regfree(&re);
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
    if (strcmp(c->parser, "default") && strcmp(c->parser, "msgpack")) {
        fprintf(stderr, "sioc-worker: --parser: expected default or msgpack\n");
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
    if (validate_admin_ui(c) != 0)
        return -1;
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
    int r = opts_parse("sioc-worker", opts, NOPTS, c, argc, argv, NULL, 0, NULL);
    if (r == OPTS_HELP) {
        usage(stdout);
        return 1;
    }
    if (r != 0)
        return -1;
    return validate(c);
}

void worker_config_free(worker_config_t *c)
{
    opts_free(opts, NOPTS, c);
}
