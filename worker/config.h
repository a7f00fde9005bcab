/*
 * config.h - sioc-worker configuration: flags and environment variables.
 *
 * Every option has a flag and an environment variable; a flag wins over the
 * variable, which wins over the default. Values are validated at start-up and
 * the process refuses to start on a bad one, with a message naming it.
 * The parsed configuration is read-only afterwards.
 */
#ifndef SIOC_WORKER_CONFIG_H
#define SIOC_WORKER_CONFIG_H

#include <stddef.h>

enum worker_app { WORKER_APP_CHAT, WORKER_APP_ECHO };

typedef struct worker_config {
    char *host;
    int port;
    char *admin_host;
    int admin_port; /* 0: /health, /ready, /metrics on the client port */
    char *path;     /* always starts and ends with '/' */
    int app;
    char *namespaces[32];
    size_t num_namespaces;
    char *namespace_pattern;     /* POSIX ERE for dynamic namespaces; NULL = none */
    long max_dynamic_namespaces; /* live dynamic namespaces at most */
    long ping_interval;
    long ping_timeout;
    long connect_timeout;
    long upgrade_timeout;
    long max_http_buffer_size;
    char *cors_origins[32];
    size_t num_cors_origins;
    int cors_any; /* "*" */
    int cookie;
    int http_compression;               /* gzip / deflate polling responses */
    long http_compression_threshold;    /* smallest body compressed */
    int per_message_deflate;            /* RFC 7692 on websockets */
    long per_message_deflate_threshold; /* smallest message compressed */
    char *parser;                       /* default | msgpack */
    char *jwt_secret;
    char *jwt_alg;
    char *jwt_public_key;
    long jwt_leeway;
    long max_connections;
    long max_connections_per_ip;
    long max_output_buffer;
    long ack_timeout;
    long max_rooms_per_socket;        /* 0 = unlimited */
    long max_pending_sessions_per_ip; /* sessions without a namespace, per address; 0 = off */
    long max_disconnection_duration;  /* connection state recovery window, ms; 0 = off */
    long max_events_per_second;       /* per socket; 0 = unlimited */
    char *redis_url;
    char *redis_tls_ca;   /* rediss://: CA file ("" = system store) */
    char *redis_tls_cert; /* rediss://: client certificate ("" = none) */
    char *redis_tls_key;
    char *redis_sentinel_user; /* redis-sentinel://: AUTH for the sentinels ("" = none) */
    char *redis_sentinel_password;
    char *adapter_mode;       /* classic | sharded | streams */
    char *redis_key;          /* channel prefix, "socket.io" */
    char *redis_stream;       /* streams mode: stream name, "socket.io" */
    long redis_stream_count;  /* streams mode: streams, 1 */
    long redis_stream_maxlen; /* streams mode: MAXLEN ~, 10000 */
    long adapter_queue_max;   /* publishes queued while Redis is unreachable; 0 = off */
    long adapter_queue_bytes; /* bytes of those */
    long requests_timeout;
    char *worker_id;
    char *advertise;    /* address:port announced to the proxy */
    char *handoff_path; /* Unix socket a co-located proxy hands websocket clients through */
    int log_level;
    long drain_timeout;
    long head_timeout;       /* ms for a complete request head */
    long max_head_size;      /* bytes of a request head */
    long max_headers;        /* header fields of a request */
    long keep_alive_timeout; /* ms an idle keep-alive connection is kept */
    int serve_client;        /* the socket.io-client bundle at <path>socket.io.js */
    int chat_page;           /* the chat page at / */
    int dev_token_endpoint;  /* GET /dev/token (development only) */
    int admin_ui;            /* the /admin namespace of @socket.io/admin-ui */
    char *admin_ui_user;
    char *admin_ui_password_hash; /* bcrypt ($2a$, $2b$, $2y$) */
    int admin_ui_no_auth;         /* explicitly no authentication */
    int admin_ui_readonly;        /* no emit / join / leave / disconnect from the UI */
    char *admin_ui_dir;           /* the UI's files (ui/dist), served at admin_ui_path */
    char *admin_ui_path;          /* starts and ends with '/' */
    int sse;                      /* GET <path>sse: Server-Sent Events (chat app) */
    long sse_heartbeat;           /* ms between ": ping" comments */
    long sse_max_rooms;           /* rooms of one stream */
} worker_config_t;

/** Parses argv and the environment into `c`. Returns 0, 1 when --help or --version was
 * printed (exit 0), or -1 after printing an error (exit 2). Strings are owned by `c`. */
int worker_config_parse(worker_config_t *c, int argc, char **argv);
/** Frees the strings of `c`. */
void worker_config_free(worker_config_t *c);

#endif
