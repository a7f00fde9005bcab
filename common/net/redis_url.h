/*
 * redis_url.h - the address of a Redis deployment, parsed from a URL.
 *
 *   redis://[[user]:password@]host[:port][,host[:port]...][/db]
 *   rediss://...                                      (TLS)
 *   redis-sentinel://[[user]:password@]s1[:port][,s2[:port]...]/master-name[/db]
 *   rediss-sentinel://...                             (TLS to sentinels and primary)
 *   host[:port]                                       (no scheme: redis://)
 *
 * Hosts are names or numeric addresses, IPv6 in brackets ("[::1]:6379");
 * ports default to 6379 (26379 for sentinels). Userinfo without ':' is a
 * password alone (AUTH password), as it always was here; user and password
 * are percent-decoded (%XX), other bytes are taken as they are, and the
 * last '@' ends the userinfo, so a password may hold '@' or '/'. Query
 * strings are refused rather than ignored. Error messages name the URL with
 * its password masked. Pure: no I/O, no allocation.
 */
#ifndef SIOC_COMMON_NET_REDIS_URL_H
#define SIOC_COMMON_NET_REDIS_URL_H

#include <stddef.h>

#define REDIS_URL_MAX_NODES 16

enum redis_url_kind {
    REDIS_URL_DIRECT = 0,   /* one node, or seed nodes tried in turn */
    REDIS_URL_SENTINEL = 1, /* nodes are sentinels that name the primary */
};

typedef struct {
    char host[256]; /* without brackets */
    int port;
} redis_node_t;

typedef struct {
    int kind; /* enum redis_url_kind */
    int tls;  /* rediss:// */
    size_t n_nodes;
    redis_node_t nodes[REDIS_URL_MAX_NODES];
    char user[128];     /* ACL user, may be empty */
    char password[256]; /* may be empty */
    int db;
    char master[128]; /* sentinel: the name of the monitored primary */
    /* Credentials for the sentinels themselves, set by the caller ("" = none). */
    char sentinel_user[128];
    char sentinel_password[256];
    /* TLS files, set by the caller from its options (not part of the URL); "" = none
     * (the system's CA store; no client certificate). */
    char tls_ca[512];
    char tls_cert[512];
    char tls_key[512];
} redis_url_t;

/** Parses `url` (NUL-terminated; borrowed) into *out. Returns 0, or SIOC_EINVAL with a
 * message naming the masked URL in err[0..errlen). */
int redis_url_parse(const char *url, redis_url_t *out, char *err, size_t errlen);

/** Sets the TLS files (NULL or "" = none; borrowed, copied). Returns 0, or SIOC_EINVAL when
 * a path is too long (message in err) or files are given for a URL without TLS. */
int redis_url_set_tls_files(redis_url_t *u, const char *ca, const char *cert, const char *key,
                            char *err, size_t errlen);

/** Sets the credentials the sentinels are asked with (NULL or "" = none; copied). Returns 0,
 * or SIOC_EINVAL when one is too long or given for a URL without sentinels. */
int redis_url_set_sentinel_auth(redis_url_t *u, const char *user, const char *password, char *err,
                                size_t errlen);

/** Writes `url` with the password (the userinfo after its first ':', or all of it when
 * it has no ':') replaced by "***", NUL-terminated and truncated to `cap`. */
void redis_url_mask(const char *url, char *out, size_t cap);

/** Writes a parsed URL back as text with the password masked (for logs). */
void redis_url_format(const redis_url_t *u, char *out, size_t cap);

#endif
