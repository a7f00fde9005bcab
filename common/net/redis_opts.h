/*
 * redis_opts.h - the command-line rows (base/opts.h) of the Redis link options that the
 * worker and the proxy share: TLS files for rediss:// and the sentinels' credentials.
 * OFF(f) is the owner's offsetof(its config type, f); the owner's config has the fields
 * redis_tls_ca, redis_tls_cert, redis_tls_key, redis_sentinel_user and
 * redis_sentinel_password (char *, owned).
 */
#ifndef SIOC_COMMON_NET_REDIS_OPTS_H
#define SIOC_COMMON_NET_REDIS_OPTS_H

#include "base/opts.h"

/* clang-format off */
#define REDIS_LINK_OPTS(OFF)                                                                       \
    {"--redis-tls-ca", "REDIS_TLS_CA", OPTS_STR, OFF(redis_tls_ca), 0, 0, 0, "",                   \
     "rediss://: PEM CA file the Redis certificates are checked against (empty = system store)",   \
     NULL},                                                                                        \
    {"--redis-tls-cert", "REDIS_TLS_CERT", OPTS_STR, OFF(redis_tls_cert), 0, 0, 0, "",             \
     "rediss://: PEM client certificate (with --redis-tls-key) for Redis", NULL},                  \
    {"--redis-tls-key", "REDIS_TLS_KEY", OPTS_STR, OFF(redis_tls_key), 0, 0, 0, "",                \
     "rediss://: PEM private key of --redis-tls-cert", NULL},                                      \
    {"--redis-sentinel-user", "REDIS_SENTINEL_USER", OPTS_STR, OFF(redis_sentinel_user), 0, 0, 0,  \
     "", "redis-sentinel://: ACL user for the sentinels (the URL's credentials are the data "      \
     "nodes')", NULL},                                                                             \
    {"--redis-sentinel-password", "REDIS_SENTINEL_PASSWORD", OPTS_STR,                             \
     OFF(redis_sentinel_password), 0, 0, 0, "",                                                    \
     "redis-sentinel://: password for the sentinels (their requirepass)", NULL}
/* clang-format on */

#endif
