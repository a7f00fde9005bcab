/*
 * redis_url.c - Redis URL parsing (redis_url.h).
 */
#include "redis_url.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/hex.h"

typedef struct {
    const char *s;
    size_t len;
} span_t;

static const struct {
    const char *prefix;
    int kind, tls;
} schemes[] = {
    {"redis://", REDIS_URL_DIRECT, 0},
    {"rediss://", REDIS_URL_DIRECT, 1},
    {"redis-sentinel://", REDIS_URL_SENTINEL, 0},
    {"rediss-sentinel://", REDIS_URL_SENTINEL, 1},
};

static int fail(const char *url, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(const char *url, char *err, size_t errlen, const char *fmt, ...)
{
    if (errlen > 0) {
        char masked[600];
        redis_url_mask(url, masked, sizeof(masked));
        char why[200];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof(why), fmt, ap);
        va_end(ap);
        snprintf(err, errlen, "%s: %s", masked, why);
    }
    return SIOC_EINVAL;
}

/* Percent-decodes `in` into out (cap bytes with the NUL). -1 when it does not fit or
 * decodes to a NUL. */
static int decode(span_t in, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < in.len; i++) {
        int c = (unsigned char)in.s[i];
        if (c == '%' && i + 2 < in.len && hex_val((unsigned char)in.s[i + 1]) >= 0 &&
            hex_val((unsigned char)in.s[i + 2]) >= 0) {
            c = hex_val((unsigned char)in.s[i + 1]) * 16 + hex_val((unsigned char)in.s[i + 2]);
            i += 2;
        }
        if (c == 0 || k + 1 >= cap)
            return -1;
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return 0;
}

static int is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
}

static int is_v6_char(int c)
{
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || (c >= '0' && c <= '9') || c == ':' ||
           c == '.';
}

/* "host", "host:port", "[v6]", "[v6]:port". Returns NULL or a reason. */
static const char *parse_node(span_t in, int default_port, redis_node_t *n)
{
    size_t hlen, i = 0;
    const char *host;
    if (in.len == 0)
        return "empty host";
    if (in.s[0] == '[') {
        const char *close = memchr(in.s, ']', in.len);
        if (close == NULL)
            return "unclosed '[' in a host";
        host = in.s + 1;
        hlen = (size_t)(close - host);
        for (size_t k = 0; k < hlen; k++)
            if (!is_v6_char((unsigned char)host[k]))
                return "bad IPv6 address";
        i = (size_t)(close - in.s) + 1;
        if (hlen == 0)
            return "empty host";
    } else {
        host = in.s;
        while (i < in.len && in.s[i] != ':') {
            if (!is_name_char((unsigned char)in.s[i]))
                return "bad character in a host";
            i++;
        }
        hlen = i;
        if (hlen == 0)
            return "empty host";
    }
    if (hlen >= sizeof(n->host))
        return "host name too long";
    memcpy(n->host, host, hlen);
    n->host[hlen] = '\0';
    n->port = default_port;
    if (i == in.len)
        return NULL;
    if (in.s[i] != ':' || i + 1 == in.len)
        return "bad port";
    long port = 0;
    for (i++; i < in.len; i++) {
        if (in.s[i] < '0' || in.s[i] > '9' || port > 65535)
            return "bad port";
        port = port * 10 + (in.s[i] - '0');
    }
    if (port < 1 || port > 65535)
        return "bad port";
    n->port = (int)port;
    return NULL;
}

static int parse_db(span_t in, int *db)
{
    long v = 0;
    if (in.len == 0)
        return 0;
    for (size_t i = 0; i < in.len; i++) {
        if (in.s[i] < '0' || in.s[i] > '9' || v > 1000000)
            return -1;
        v = v * 10 + (in.s[i] - '0');
    }
    if (v > 1000000)
        return -1;
    *db = (int)v;
    return 0;
}

int redis_url_parse(const char *url, redis_url_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *p = url;
    size_t k;
    for (k = 0; k < sizeof(schemes) / sizeof(schemes[0]); k++) {
        size_t n = strlen(schemes[k].prefix);
        if (strncmp(p, schemes[k].prefix, n) == 0) {
            out->kind = schemes[k].kind;
            out->tls = schemes[k].tls;
            p += n;
            break;
        }
    }
    if (k == sizeof(schemes) / sizeof(schemes[0]) && strstr(p, "://") != NULL)
        return fail(url, err, errlen,
                    "unknown scheme (redis://, rediss://, redis-sentinel://, rediss-sentinel://)");
    const char *at = strrchr(p, '@');
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        span_t user = {p, colon ? (size_t)(colon - p) : 0};
        span_t pass =
            colon ? (span_t){colon + 1, (size_t)(at - colon - 1)} : (span_t){p, (size_t)(at - p)};
        if (decode(user, out->user, sizeof(out->user)) != 0)
            return fail(url, err, errlen, "bad or too long user name");
        if (decode(pass, out->password, sizeof(out->password)) != 0)
            return fail(url, err, errlen, "bad or too long password");
        p = at + 1;
    }
    if (strchr(p, '?') != NULL)
        return fail(url, err, errlen, "query options are not supported");
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    int default_port = out->kind == REDIS_URL_SENTINEL ? 26379 : 6379;
    while (p <= end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        if (out->n_nodes == REDIS_URL_MAX_NODES)
            return fail(url, err, errlen, "more than %d hosts", REDIS_URL_MAX_NODES);
        const char *why =
            parse_node((span_t){p, (size_t)(stop - p)}, default_port, &out->nodes[out->n_nodes]);
        if (why != NULL)
            return fail(url, err, errlen, "%s", why);
        out->n_nodes++;
        p = stop + 1;
    }
    span_t path = {slash ? slash + 1 : "", slash ? strlen(slash + 1) : 0};
    if (out->kind == REDIS_URL_SENTINEL) {
        const char *s2 = memchr(path.s, '/', path.len);
        size_t nlen = s2 ? (size_t)(s2 - path.s) : path.len;
        if (nlen == 0)
            return fail(url, err, errlen,
                        "the primary's name is missing (redis-sentinel://"
                        "host:port/<name>)");
        for (size_t i = 0; i < nlen; i++)
            if (!is_name_char((unsigned char)path.s[i]) && path.s[i] != ':')
                return fail(url, err, errlen, "bad character in the primary's name");
        if (nlen >= sizeof(out->master))
            return fail(url, err, errlen, "the primary's name is too long");
        memcpy(out->master, path.s, nlen);
        out->master[nlen] = '\0';
        path = s2 ? (span_t){s2 + 1, path.len - nlen - 1} : (span_t){"", 0};
    }
    if (parse_db(path, &out->db) != 0)
        return fail(url, err, errlen, "bad database number");
    return 0;
}

static int set_path(char *dst, size_t cap, const char *src, const char *what, char *err,
                    size_t errlen)
{
    if (src == NULL)
        src = "";
    if (strlen(src) >= cap) {
        snprintf(err, errlen, "%s is too long", what);
        return SIOC_EINVAL;
    }
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

int redis_url_set_tls_files(redis_url_t *u, const char *ca, const char *cert, const char *key,
                            char *err, size_t errlen)
{
    int any = (ca && ca[0]) || (cert && cert[0]) || (key && key[0]);
    if (any && !u->tls) {
        snprintf(err, errlen, "TLS files are given but the Redis URL is not rediss://");
        return SIOC_EINVAL;
    }
    if (set_path(u->tls_ca, sizeof(u->tls_ca), ca, "the Redis CA file's path", err, errlen) != 0 ||
        set_path(u->tls_cert, sizeof(u->tls_cert), cert, "the Redis client certificate's path", err,
                 errlen) != 0 ||
        set_path(u->tls_key, sizeof(u->tls_key), key, "the Redis client key's path", err, errlen) !=
            0)
        return SIOC_EINVAL;
    return 0;
}

int redis_url_set_sentinel_auth(redis_url_t *u, const char *user, const char *password, char *err,
                                size_t errlen)
{
    int any = (user && user[0]) || (password && password[0]);
    if (any && u->kind != REDIS_URL_SENTINEL) {
        snprintf(err, errlen, "sentinel credentials are given but the Redis URL has no sentinels");
        return SIOC_EINVAL;
    }
    if (set_path(u->sentinel_user, sizeof(u->sentinel_user), user, "the sentinel user", err,
                 errlen) != 0 ||
        set_path(u->sentinel_password, sizeof(u->sentinel_password), password,
                 "the sentinel password", err, errlen) != 0)
        return SIOC_EINVAL;
    return 0;
}

void redis_url_mask(const char *url, char *out, size_t cap)
{
    if (cap == 0)
        return;
    const char *sep = strstr(url, "://");
    const char *p = sep ? sep + 3 : url;
    const char *at = strrchr(p, '@');
    if (at == NULL) {
        snprintf(out, cap, "%s", url);
        return;
    }
    const char *colon = memchr(p, ':', (size_t)(at - p));
    const char *keep_end = colon ? colon + 1 : p; /* scheme and user stay */
    snprintf(out, cap, "%.*s%s%s", (int)(keep_end - url), url, "***", at);
}

void redis_url_format(const redis_url_t *u, char *out, size_t cap)
{
    if (cap == 0)
        return;
    size_t n = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(out + n, cap - n, __VA_ARGS__);                                          \
        if (w_ < 0 || (size_t)w_ >= cap - n)                                                       \
            return;                                                                                \
        n += (size_t)w_;                                                                           \
    } while (0)
    PUT("%s%s://", u->tls ? "rediss" : "redis", u->kind == REDIS_URL_SENTINEL ? "-sentinel" : "");
    if (u->user[0] || u->password[0]) {
        /* The user percent-encoded, so the text parses back to the same user. */
        for (const char *q = u->user; *q; q++) {
            unsigned char ch = (unsigned char)*q;
            if (is_name_char(ch) || ch == '~')
                PUT("%c", ch);
            else
                PUT("%%%02X", ch);
        }
        PUT(":%s@", u->password[0] ? "***" : ""); /* "user@" would read as a password */
    }
    for (size_t i = 0; i < u->n_nodes; i++) {
        const redis_node_t *nd = &u->nodes[i];
        if (strchr(nd->host, ':') != NULL)
            PUT("%s[%s]:%d", i ? "," : "", nd->host, nd->port);
        else
            PUT("%s%s:%d", i ? "," : "", nd->host, nd->port);
    }
    if (u->kind == REDIS_URL_SENTINEL)
        PUT("/%s", u->master);
    if (u->db != 0)
        PUT("/%d", u->db);
#undef PUT
}
