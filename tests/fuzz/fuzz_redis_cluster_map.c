/*
 * fuzz_redis_cluster_map.c - libFuzzer target for redis_cluster_map.
 *
 * The input is a stream of RESP replies, read with hiredis's reader as the
 * client reads a node. Every reply is offered as a CLUSTER SHARDS reply (with
 * and without TLS ports) and as a CLUSTER SLOTS reply, and an error reply as
 * a MOVED / ASK redirection. Invariants, each an abort() when broken:
 *  - reading returns 0 or SIOC_EINVAL, and an error message is NUL-terminated;
 *  - a map read has at most REDIS_CLUSTER_MAX_NODES primaries with non-empty
 *    NUL-terminated hosts and ports in 1..65535, every slot's owner is one of
 *    them or none, and n_assigned counts exactly the owned slots;
 *  - a parsed redirection names a slot below 16384 and a usable address;
 *  - the slot of any byte string (the input itself) is below 16384, and a
 *    hash tag gives the slot of its contents.
 */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/redis_cluster_map.h"
#include "tests/fuzz/fuzz_check.h"

static redis_cluster_map_t map;

static void check_map(int rc, const char *err, size_t errlen)
{
    CHECK(rc == 0 || rc == SIOC_EINVAL);
    if (rc != 0) {
        CHECK(memchr(err, '\0', errlen) != NULL);
        return;
    }
    CHECK(map.n_nodes <= REDIS_CLUSTER_MAX_NODES);
    for (size_t i = 0; i < map.n_nodes; i++) {
        CHECK(memchr(map.nodes[i].host, '\0', sizeof(map.nodes[i].host)) != NULL);
        CHECK(map.nodes[i].host[0] != '\0');
        CHECK(map.nodes[i].port >= 1 && map.nodes[i].port <= 65535);
    }
    size_t owned = 0;
    for (size_t s = 0; s < REDIS_CLUSTER_SLOTS; s++) {
        CHECK(map.slot_node[s] == REDIS_CLUSTER_NO_NODE || map.slot_node[s] < map.n_nodes);
        owned += map.slot_node[s] != REDIS_CLUSTER_NO_NODE;
    }
    CHECK(owned == map.n_assigned);
}

static void check_reply(const redisReply *r)
{
    char err[96];
    check_map(redis_cluster_map_from_shards(r, 0, &map, err, sizeof(err)), err, sizeof(err));
    check_map(redis_cluster_map_from_shards(r, 1, &map, err, sizeof(err)), err, sizeof(err));
    check_map(redis_cluster_map_from_slots(r, &map, err, sizeof(err)), err, sizeof(err));
    if (r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS) {
        int ask = -1;
        unsigned slot = 0;
        redis_node_t to;
        int rc = redis_cluster_parse_redirect(r->str, r->len, &ask, &slot, &to);
        CHECK(rc == 0 || rc == SIOC_EINVAL);
        if (rc == 0) {
            CHECK(ask == 0 || ask == 1);
            CHECK(slot < REDIS_CLUSTER_SLOTS);
            CHECK(memchr(to.host, '\0', sizeof(to.host)) != NULL && to.host[0] != '\0');
            CHECK(to.port >= 1 && to.port <= 65535);
        }
    }
}

/* hiredis 0.14's reader has no cap on what an array or string header asks for (a node is
 * trusted to that extent): inputs that would make it allocate gigabytes are not its
 * parser's business here. */
static int huge_header(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '*' && p[i] != '$')
            continue;
        unsigned long long v = 0;
        for (size_t k = i + 1; k < n && p[k] >= '0' && p[k] <= '9' && v <= 65536; k++)
            v = v * 10 + (p[k] - '0');
        if (v > 65536)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (huge_header(data, size))
        return 0;
    CHECK(redis_key_slot((const char *)data, size) < REDIS_CLUSTER_SLOTS);
    char tagged[64];
    size_t n = size < 32 ? size : 32;
    if (memchr(data, '{', n) == NULL && memchr(data, '}', n) == NULL && n > 0) {
        int k = snprintf(tagged, sizeof(tagged), "x{%.*s}y", (int)n, (const char *)data);
        if (k > 0 && memchr(data, '\0', n) == NULL)
            CHECK(redis_key_slot(tagged, (size_t)k) == redis_key_slot((const char *)data, n));
    }
    redisReader *rd = redisReaderCreate();
    if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK) {
        for (int i = 0; i < 64; i++) {
            void *reply = NULL;
            if (redisReaderGetReply(rd, &reply) != REDIS_OK || reply == NULL)
                break;
            check_reply(reply);
            freeReplyObject(reply);
        }
    }
    redisReaderFree(rd);
    return 0;
}
