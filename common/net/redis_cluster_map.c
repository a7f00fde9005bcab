/*
 * redis_cluster_map.c - hash slots, command keys, slot maps and redirections
 * (redis_cluster_map.h).
 */
#include "redis_cluster_map.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"

/* CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as the server's crc16.c. */
static uint16_t crc16(const char *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)((uint8_t)p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned redis_key_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len);
    if (open != NULL) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(open + 1, '}', len - from);
        if (close != NULL && close > open + 1)
            return crc16(open + 1, (size_t)(close - open - 1)) & (REDIS_CLUSTER_SLOTS - 1);
    }
    return crc16(key, len) & (REDIS_CLUSTER_SLOTS - 1);
}

static size_t arg_len(const char **argv, const size_t *lens, int i)
{
    return lens != NULL ? lens[i] : strlen(argv[i]);
}

static int arg_is(const char **argv, const size_t *lens, int i, const char *word)
{
    size_t n = strlen(word);
    return arg_len(argv, lens, i) == n && strncasecmp(argv[i], word, n) == 0;
}

int redis_cmd_key_index(int argc, const char **argv, const size_t *lens)
{
    static const char *const keyless[] = {
        "PING",    "INFO",   "CLUSTER", "ROLE",  "CLIENT",   "AUTH",     "SELECT",
        "HELLO",   "ECHO",   "TIME",    "QUIT",  "COMMAND",  "ASKING",   "READONLY",
        "CONFIG",  "SCRIPT", "DBSIZE",  "MULTI", "EXEC",     "DISCARD",  "FLUSHALL",
        "FLUSHDB", "SCAN",   "KEYS",    "WAIT",  "FUNCTION", "RANDOMKEY"};
    if (argc < 1)
        return REDIS_KEY_NONE;
    for (size_t i = 0; i < sizeof(keyless) / sizeof(keyless[0]); i++)
        if (arg_is(argv, lens, 0, keyless[i]))
            return REDIS_KEY_NONE;
    if (arg_is(argv, lens, 0, "PUBSUB")) {
        if (argc >= 3 && arg_is(argv, lens, 1, "SHARDNUMSUB"))
            return 2;
        if (argc >= 3 && arg_is(argv, lens, 1, "NUMSUB"))
            return REDIS_KEY_ALL;
        return REDIS_KEY_NONE;
    }
    if (arg_is(argv, lens, 0, "XREAD") || arg_is(argv, lens, 0, "XREADGROUP")) {
        for (int i = 1; i + 1 < argc; i++)
            if (arg_is(argv, lens, i, "STREAMS"))
                return i + 1;
        return REDIS_KEY_NONE;
    }
    if (arg_is(argv, lens, 0, "EVAL") || arg_is(argv, lens, 0, "EVALSHA") ||
        arg_is(argv, lens, 0, "FCALL")) {
        if (argc < 4)
            return REDIS_KEY_NONE;
        char nk[16];
        size_t n = arg_len(argv, lens, 2);
        if (n == 0 || n >= sizeof(nk))
            return REDIS_KEY_NONE;
        memcpy(nk, argv[2], n);
        nk[n] = '\0';
        return strtol(nk, NULL, 10) > 0 ? 3 : REDIS_KEY_NONE;
    }
    return argc >= 2 ? 1 : REDIS_KEY_NONE;
}

/* ------------------------------------------------------------------ */

static int fail(char *err, size_t errlen, const char *what)
{
    snprintf(err, errlen, "malformed cluster map: %s", what);
    return SIOC_EINVAL;
}

static void map_init(redis_cluster_map_t *m)
{
    m->n_nodes = 0;
    m->n_assigned = 0;
    memset(m->slot_node, REDIS_CLUSTER_NO_NODE, sizeof(m->slot_node));
}

/* The index of `host:port` in the map, added when new; -1 when the map is full. */
static int map_node(redis_cluster_map_t *m, const char *host, size_t hlen, long long port)
{
    for (size_t i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].port == port && strlen(m->nodes[i].host) == hlen &&
            memcmp(m->nodes[i].host, host, hlen) == 0)
            return (int)i;
    if (m->n_nodes == REDIS_CLUSTER_MAX_NODES)
        return -1;
    redis_node_t *n = &m->nodes[m->n_nodes];
    memcpy(n->host, host, hlen);
    n->host[hlen] = '\0';
    n->port = (int)port;
    return (int)m->n_nodes++;
}

static int valid_addr(const char *host, size_t hlen, long long port)
{
    return hlen > 0 && hlen < sizeof(((redis_node_t *)0)->host) &&
           memchr(host, '\0', hlen) == NULL && !(hlen == 1 && host[0] == '?') && port >= 1 &&
           port <= 65535;
}

static int assign(redis_cluster_map_t *m, long long from, long long to, int node, char *err,
                  size_t errlen)
{
    if (from < 0 || to < from || to >= REDIS_CLUSTER_SLOTS)
        return fail(err, errlen, "slot range out of bounds");
    for (long long s = from; s <= to; s++) {
        if (m->slot_node[s] != REDIS_CLUSTER_NO_NODE)
            return fail(err, errlen, "a slot owned twice");
        m->slot_node[s] = (uint8_t)node;
        m->n_assigned++;
    }
    return 0;
}

static const redisReply *field(const redisReply *map, const char *name)
{
    /* RESP2 returns a map as a flat array of names and values. */
    for (size_t i = 0; i + 1 < map->elements; i += 2) {
        const redisReply *k = map->element[i];
        if (k->type == REDIS_REPLY_STRING && strlen(name) == k->len &&
            memcmp(k->str, name, k->len) == 0)
            return map->element[i + 1];
    }
    return NULL;
}

static int is_str(const redisReply *r)
{
    return r != NULL && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

int redis_cluster_map_from_shards(const redisReply *r, int tls, redis_cluster_map_t *m, char *err,
                                  size_t errlen)
{
    map_init(m);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return fail(err, errlen, "not an array");
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *shard = r->element[i];
        if (shard->type != REDIS_REPLY_ARRAY)
            return fail(err, errlen, "a shard is not a map");
        const redisReply *slots = field(shard, "slots"), *nodes = field(shard, "nodes");
        if (slots == NULL || nodes == NULL || slots->type != REDIS_REPLY_ARRAY ||
            nodes->type != REDIS_REPLY_ARRAY || slots->elements % 2 != 0)
            return fail(err, errlen, "a shard without slots or nodes");
        if (slots->elements == 0)
            continue; /* a primary without slots serves nothing */
        const redisReply *primary = NULL;
        for (size_t k = 0; k < nodes->elements && primary == NULL; k++) {
            const redisReply *n = nodes->element[k], *role;
            if (n->type == REDIS_REPLY_ARRAY && (role = field(n, "role")) != NULL && is_str(role) &&
                role->len == 6 && memcmp(role->str, "master", 6) == 0)
                primary = n;
        }
        if (primary == NULL)
            return fail(err, errlen, "a shard without a primary");
        const redisReply *ep = field(primary, "endpoint"), *ip = field(primary, "ip");
        const redisReply *port = field(primary, "port"), *tport = field(primary, "tls-port");
        const redisReply *host =
            is_str(ep) && ep->len > 0 && !(ep->len == 1 && ep->str[0] == '?') ? ep : ip;
        if (tls && tport != NULL)
            port = tport;
        if (!is_str(host) || port == NULL || port->type != REDIS_REPLY_INTEGER ||
            !valid_addr(host->str, host->len, port->integer))
            return fail(err, errlen, "a primary without a usable address");
        int idx = map_node(m, host->str, host->len, port->integer);
        if (idx < 0)
            return fail(err, errlen, "too many primaries");
        for (size_t k = 0; k < slots->elements; k += 2) {
            const redisReply *a = slots->element[k], *b = slots->element[k + 1];
            if (a->type != REDIS_REPLY_INTEGER || b->type != REDIS_REPLY_INTEGER)
                return fail(err, errlen, "a slot bound is not an integer");
            int rc = assign(m, a->integer, b->integer, idx, err, errlen);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

int redis_cluster_map_from_slots(const redisReply *r, redis_cluster_map_t *m, char *err,
                                 size_t errlen)
{
    map_init(m);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return fail(err, errlen, "not an array");
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
            e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER)
            return fail(err, errlen, "a range without bounds and a primary");
        const redisReply *p = e->element[2];
        if (p->type != REDIS_REPLY_ARRAY || p->elements < 2 || !is_str(p->element[0]) ||
            p->element[1]->type != REDIS_REPLY_INTEGER ||
            !valid_addr(p->element[0]->str, p->element[0]->len, p->element[1]->integer))
            return fail(err, errlen, "a primary without a usable address");
        int idx = map_node(m, p->element[0]->str, p->element[0]->len, p->element[1]->integer);
        if (idx < 0)
            return fail(err, errlen, "too many primaries");
        int rc = assign(m, e->element[0]->integer, e->element[1]->integer, idx, err, errlen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int redis_cluster_parse_redirect(const char *s, size_t len, int *ask, unsigned *slot,
                                 redis_node_t *to)
{
    size_t skip;
    if (len > 6 && memcmp(s, "MOVED ", 6) == 0) {
        *ask = 0;
        skip = 6;
    } else if (len > 4 && memcmp(s, "ASK ", 4) == 0) {
        *ask = 1;
        skip = 4;
    } else {
        return SIOC_EINVAL;
    }
    size_t i = skip;
    unsigned long v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9' && v < REDIS_CLUSTER_SLOTS)
        v = v * 10 + (unsigned long)(s[i++] - '0');
    if (i == skip || i >= len || s[i] != ' ' || v >= REDIS_CLUSTER_SLOTS)
        return SIOC_EINVAL;
    const char *addr = s + i + 1;
    size_t alen = len - i - 1;
    const char *colon = NULL;
    for (size_t k = alen; k > 0; k--)
        if (addr[k - 1] == ':') {
            colon = addr + k - 1;
            break;
        }
    if (colon == NULL)
        return SIOC_EINVAL;
    size_t hlen = (size_t)(colon - addr), plen = alen - hlen - 1;
    long long port = 0;
    if (plen == 0 || plen > 5)
        return SIOC_EINVAL;
    for (size_t k = 0; k < plen; k++) {
        if (colon[1 + k] < '0' || colon[1 + k] > '9')
            return SIOC_EINVAL;
        port = port * 10 + (colon[1 + k] - '0');
    }
    /* An IPv6 address comes as is ("::1:7000"), without brackets. */
    if (!valid_addr(addr, hlen, port))
        return SIOC_EINVAL;
    memcpy(to->host, addr, hlen);
    to->host[hlen] = '\0';
    to->port = (int)port;
    *slot = (unsigned)v;
    return 0;
}
