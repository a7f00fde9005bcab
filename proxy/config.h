/*
 * config.h - sioc-proxy configuration: flags and environment variables.
 *
 * Every option has a flag and an environment variable; a flag wins over the
 * variable, which wins over the default. Values are validated at start-up
 * (worker addresses are resolved then, never in the loop) and the process
 * refuses to start on a bad one, naming it. AFFINITY_SECRET is read from
 * the environment only, so it never shows in a process listing. The parsed
 * configuration is read-only afterwards.
 */
#ifndef SIOC_PROXY_CONFIG_H
#define SIOC_PROXY_CONFIG_H

#include <stddef.h>
#include <sys/socket.h>

/** One statically configured worker. */
typedef struct {
    char id[17];
    char addr[64];     /* host:port as given */
    char handoff[108]; /* its hand-off socket path ("" = none: always tunneled) */
    struct sockaddr_storage sa;
    socklen_t salen;
} proxy_static_worker_t;

typedef struct proxy_config {
    char *host;
    int port;
    char *workers; /* raw --workers list */
    proxy_static_worker_t *static_workers;
    size_t num_static_workers;
    char *redis_url;
    char *redis_tls_ca; /* rediss://: CA file ("" = system store) */
    char *redis_tls_cert;
    char *redis_tls_key;
    char *redis_sentinel_user; /* redis-sentinel://: AUTH for the sentinels ("" = none) */
    char *redis_sentinel_password;
    char *redis_key;
    long discovery_interval;
    long discovery_stale;
    long departing_grace;
    char *tls_cert;
    char *tls_key;
    char *cookie_name; /* "" = no affinity cookie */
    char *trusted_proxies;
    long max_head_size;
    long max_headers;
    int placement; /* enum route_placement (route.h): how new sessions are placed */
    long head_timeout;
    long keepalive_timeout;
    long server_timeout;
    long tunnel_timeout;
    long connect_timeout;
    long max_connections;
    long max_connections_per_ip;
    long max_handshake_rate;
    long handshake_burst;
    long max_handshake_rate_per_ip;
    long handshake_burst_per_ip;
    long health_interval;
    char *health_path;
    long health_timeout;
    long health_fall;
    long health_rise;
    long pool_size;
    long tunnel_buffer;
    long drain_timeout;
    int handoff;   /* hand websocket clients to workers that announce a hand-off path */
    int processes; /* processes sharing the port (SO_REUSEPORT) */
    char *admin_host;
    int admin_port;
    int log_level;
} proxy_config_t;

/** Parses argv and the environment into `c`. Returns 0, 1 when --help was printed (exit 0),
 * or -1 after printing an error (exit 2). Strings and arrays are owned by `c`. */
int proxy_config_parse(proxy_config_t *c, int argc, char **argv);

/** Frees what `c` owns. */
void proxy_config_free(proxy_config_t *c);

/**
 * Parses a --workers list "id=host:port,id2=host:port@/run/w2.sock" (a worker's
 * hand-off socket path after '@') into a new array
 * (owned; free()). Returns 0, or -1 after writing a message into err.
 * With `resolve`, host names are looked up (blocking; start-up only).
 */
int proxy_config_parse_workers(const char *list, int resolve, proxy_static_worker_t **out,
                               size_t *n, char *err, size_t errlen);

#endif
