/* Unit tests for common/net/redis_cluster_map: hash slots (checked against CLUSTER KEYSLOT of
 * redis-server 7.0), command keys, slot maps from real CLUSTER SHARDS / SLOTS replies (the fuzz
 * corpus), and MOVED / ASK. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/redis_cluster_map.h"

static unsigned slot(const char *k)
{
    return redis_key_slot(k, strlen(k));
}

static void test_key_slot(void **state)
{
    (void)state;
    assert_int_equal(slot("foo"), 12182);
    assert_int_equal(slot("123456789"), 12739);
    assert_int_equal(slot(""), 0);
    assert_int_equal(slot("{user1000}.following"), 3443);
    assert_int_equal(slot("user1000"), 3443);
    assert_int_equal(slot("foo{}{bar}"), 8363); /* an empty tag: the whole key */
    assert_int_equal(slot("foo{{bar}}zap"), 4015);
    assert_int_equal(slot("{bar"), 4015);
    assert_int_equal(slot("foo{bar}{zap}"), 5061);
    assert_int_equal(slot("bar"), 5061);
    assert_int_equal(slot("socket.io#/#lobby#"), 11869);
}

static int key(int argc, const char **argv)
{
    return redis_cmd_key_index(argc, argv, NULL);
}

static void test_cmd_key(void **state)
{
    (void)state;
    const char *spub[] = {"SPUBLISH", "ch", "m"};
    assert_int_equal(key(3, spub), 1);
    const char *xadd[] = {"xadd", "stream", "MAXLEN", "~", "10", "*", "a", "b"};
    assert_int_equal(key(8, xadd), 1);
    const char *xread[] = {"XREAD", "BLOCK", "100", "COUNT", "10", "STREAMS", "s", "$"};
    assert_int_equal(key(8, xread), 6);
    const char *numsub[] = {"PUBSUB", "NUMSUB", "ch"};
    assert_int_equal(key(3, numsub), REDIS_KEY_ALL);
    const char *shardnumsub[] = {"PUBSUB", "SHARDNUMSUB", "ch"};
    assert_int_equal(key(3, shardnumsub), 2);
    const char *ping[] = {"PING"};
    assert_int_equal(key(1, ping), REDIS_KEY_NONE);
    const char *cluster[] = {"CLUSTER", "SHARDS"};
    assert_int_equal(key(2, cluster), REDIS_KEY_NONE);
    const char *eval0[] = {"EVAL", "return 1", "0", "x"};
    assert_int_equal(key(4, eval0), REDIS_KEY_NONE);
    const char *eval1[] = {"EVAL", "return 1", "1", "k"};
    assert_int_equal(key(4, eval1), 3);
    const char *lens_argv[] = {"GETDELx", "k"};
    size_t lens[] = {6, 1}; /* "GETDEL": binary-safe lengths win over the bytes */
    assert_int_equal(redis_cmd_key_index(2, lens_argv, lens), 1);
}

static redisReply *read_reply(const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/fuzz/corpus/redis_cluster_map/%s", getenv("SIOC_TEST_DATA"),
             file);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    redisReader *rd = redisReaderCreate();
    assert_int_equal(redisReaderFeed(rd, buf, n), REDIS_OK);
    void *r = NULL;
    assert_int_equal(redisReaderGetReply(rd, &r), REDIS_OK);
    assert_non_null(r);
    redisReaderFree(rd);
    return r;
}

static int owner_port(const redis_cluster_map_t *m, unsigned s)
{
    assert_true(m->slot_node[s] < m->n_nodes);
    return m->nodes[m->slot_node[s]].port;
}

/* The corpus replies: 7105 owns 0-5460, 7102 5461-10922 and 11869 (migrated), 7103 the rest. */
static void check_map(const redis_cluster_map_t *m)
{
    assert_int_equal(m->n_nodes, 3);
    assert_int_equal(m->n_assigned, REDIS_CLUSTER_SLOTS);
    assert_int_equal(owner_port(m, 0), 7105);
    assert_int_equal(owner_port(m, 5460), 7105);
    assert_int_equal(owner_port(m, 5461), 7102);
    assert_int_equal(owner_port(m, 10922), 7102);
    assert_int_equal(owner_port(m, 11868), 7103);
    assert_int_equal(owner_port(m, 11869), 7102);
    assert_int_equal(owner_port(m, 11870), 7103);
    assert_int_equal(owner_port(m, 16383), 7103);
    for (size_t i = 0; i < m->n_nodes; i++)
        assert_string_equal(m->nodes[i].host, "127.0.0.1");
}

static void test_maps(void **state)
{
    (void)state;
    static redis_cluster_map_t m;
    char err[128];
    redisReply *r = read_reply("shards-7.0.resp");
    assert_int_equal(redis_cluster_map_from_shards(r, 0, &m, err, sizeof(err)), 0);
    check_map(&m);
    /* Not a SLOTS reply. */
    assert_int_equal(redis_cluster_map_from_slots(r, &m, err, sizeof(err)), SIOC_EINVAL);
    assert_non_null(strstr(err, "malformed cluster map"));
    freeReplyObject(r);
    r = read_reply("slots-7.0.resp");
    assert_int_equal(redis_cluster_map_from_slots(r, &m, err, sizeof(err)), 0);
    check_map(&m);
    assert_int_equal(redis_cluster_map_from_shards(r, 0, &m, err, sizeof(err)), SIOC_EINVAL);
    freeReplyObject(r);
}

static void test_redirect(void **state)
{
    (void)state;
    int ask;
    unsigned s;
    redis_node_t to;
    const char *moved = "MOVED 3999 127.0.0.1:6381";
    assert_int_equal(redis_cluster_parse_redirect(moved, strlen(moved), &ask, &s, &to), 0);
    assert_int_equal(ask, 0);
    assert_int_equal(s, 3999);
    assert_string_equal(to.host, "127.0.0.1");
    assert_int_equal(to.port, 6381);
    const char *a = "ASK 16383 ::1:7000";
    assert_int_equal(redis_cluster_parse_redirect(a, strlen(a), &ask, &s, &to), 0);
    assert_int_equal(ask, 1);
    assert_int_equal(s, 16383);
    assert_string_equal(to.host, "::1");
    assert_int_equal(to.port, 7000);
    const char *bad[] = {"MOVED 16384 h:1", "MOVED 1 :7000", "MOVED 1 h:0", "MOVED 1 h:70000",
                         "MOVED x h:1",     "ERR wrong",     "MOVED 1 h",   "ASK 1 h:1x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(redis_cluster_parse_redirect(bad[i], strlen(bad[i]), &ask, &s, &to),
                         SIOC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_slot),
        cmocka_unit_test(test_cmd_key),
        cmocka_unit_test(test_maps),
        cmocka_unit_test(test_redirect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
