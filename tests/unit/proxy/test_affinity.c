/* Unit tests for proxy/affinity: ids, sids, rendezvous hashing, cookies, addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "affinity.h"
#include "base/err.h"

#define KEYS 30000

static affinity_node_t node(const char *id)
{
    affinity_node_t n = {iov_make(id, strlen(id)), 0, 0, 0};
    n.seed = affinity_seed(n.id);
    return n;
}

static uint64_t key_of(unsigned i)
{
    affinity_addr_t a = {4, {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i}};
    return affinity_key_hash(affinity_addr_key(&a));
}

static void test_id_and_sid(void **state)
{
    (void)state;
    assert_true(affinity_id_valid(SIOC_LIT("w1")));
    assert_true(affinity_id_valid(SIOC_LIT("A-b_9")));
    assert_true(affinity_id_valid(SIOC_LIT("0123456789abcdef")));
    assert_false(affinity_id_valid(SIOC_LIT("0123456789abcdefg")));
    assert_false(affinity_id_valid(SIOC_LIT("")));
    assert_false(affinity_id_valid(SIOC_LIT("w.1")));
    assert_false(affinity_id_valid(SIOC_LIT("w 1")));
    sioc_iov_t id;
    assert_true(affinity_sid_worker(SIOC_LIT("w1.abc"), &id));
    assert_true(iov_eq(id, SIOC_LIT("w1")));
    assert_true(affinity_sid_worker(SIOC_LIT("w1.a.b"), &id));
    assert_true(iov_eq(id, SIOC_LIT("w1")));
    assert_false(affinity_sid_worker(SIOC_LIT("w1."), &id));
    assert_false(affinity_sid_worker(SIOC_LIT(".abc"), &id));
    assert_false(affinity_sid_worker(SIOC_LIT("nodot"), &id));
    assert_false(affinity_sid_worker(SIOC_LIT("w/1.abc"), &id));
    assert_false(affinity_sid_worker(SIOC_LIT("0123456789abcdefX.abc"), &id));
    assert_false(affinity_sid_worker(SIOC_IOV_NULL, &id));
}

static void test_distribution(void **state)
{
    (void)state;
    affinity_node_t n[3] = {node("w1"), node("w2"), node("w3")};
    unsigned count[3] = {0};
    for (unsigned i = 0; i < KEYS; i++) {
        int w = affinity_pick(n, 3, key_of(i));
        assert_in_range(w, 0, 2);
        count[w]++;
    }
    for (int i = 0; i < 3; i++) /* each within 5% of a third */
        assert_in_range(count[i], KEYS / 3 * 95 / 100, KEYS / 3 * 105 / 100);
    assert_int_equal(affinity_pick(n, 0, key_of(1)), -1);
    /* Sequential worker ids of a scaled deployment spread as well. */
    affinity_node_t m[8];
    char ids[8][16];
    unsigned c8[8] = {0};
    for (int i = 0; i < 8; i++) {
        snprintf(ids[i], sizeof(ids[i]), "worker-%d", i + 1);
        m[i] = node(ids[i]);
    }
    for (unsigned i = 0; i < KEYS; i++)
        c8[affinity_pick(m, 8, key_of(i))]++;
    for (int i = 0; i < 8; i++)
        assert_in_range(c8[i], KEYS / 8 * 90 / 100, KEYS / 8 * 110 / 100);
}

static void test_adding_moves_one_nth(void **state)
{
    (void)state;
    affinity_node_t n[4] = {node("w1"), node("w2"), node("w3"), node("w4")};
    unsigned moved = 0;
    for (unsigned i = 0; i < KEYS; i++) {
        int before = affinity_pick(n, 3, key_of(i));
        int after = affinity_pick(n, 4, key_of(i));
        if (before != after) {
            moved++;
            assert_int_equal(after, 3); /* a key only ever moves to the new worker */
        }
    }
    /* ~1/4 of the keys move */
    assert_in_range(moved, KEYS / 4 * 90 / 100, KEYS / 4 * 110 / 100);
    /* Removing a worker moves exactly its own keys. */
    affinity_node_t less[3] = {n[0], n[2], n[3]}; /* w2 gone */
    for (unsigned i = 0; i < KEYS; i++) {
        int before = affinity_pick(n, 4, key_of(i));
        int after = affinity_pick(less, 3, key_of(i));
        if (before != 1)
            assert_true(iov_eq(n[before].id, less[after].id));
    }
}

static void test_standby(void **state)
{
    (void)state;
    /* A worker on standby keeps its sessions but takes no new keys; the others
     * keep theirs (only its keys move). */
    affinity_node_t n[3] = {node("w1"), node("w2"), node("w3")};
    affinity_node_t s[3] = {n[0], n[1], n[2]};
    s[1].standby = 1;
    for (unsigned i = 0; i < KEYS; i++) {
        int before = affinity_pick(n, 3, key_of(i));
        int after = affinity_pick(s, 3, key_of(i));
        assert_int_not_equal(after, 1);
        if (before != 1)
            assert_int_equal(after, before);
    }
    assert_int_equal(affinity_find(s, 3, SIOC_LIT("w2")), 1);
    s[0].standby = s[2].standby = 1;
    assert_int_equal(affinity_pick(s, 3, key_of(1)), -1);
}

static void test_two_instances_agree(void **state)
{
    (void)state;
    /* Same set learnt in another order (another proxy replica). */
    affinity_node_t a[4] = {node("alpha"), node("beta"), node("gamma"), node("delta")};
    affinity_node_t b[4] = {node("delta"), node("gamma"), node("alpha"), node("beta")};
    for (unsigned i = 0; i < 5000; i++) {
        int x = affinity_pick(a, 4, key_of(i));
        int y = affinity_pick(b, 4, key_of(i));
        assert_true(iov_eq(a[x].id, b[y].id));
    }
    /* And the hash is fixed: no per-process seed. */
    assert_true(affinity_seed(SIOC_LIT("w1")) == affinity_seed(SIOC_LIT("w1")));
    assert_true(affinity_key_hash(SIOC_LIT("x")) != affinity_key_hash(SIOC_LIT("y")));
    assert_int_equal(affinity_find(a, 4, SIOC_LIT("gamma")), 2);
    assert_int_equal(affinity_find(a, 4, SIOC_LIT("gam")), -1);
}

static void test_cookie(void **state)
{
    (void)state;
    affinity_secret_t s, s2, other;
    affinity_secret_init(&s, "a shared replica secret");
    affinity_secret_init(&s2, "a shared replica secret");
    affinity_secret_init(&other, "another secret");
    char v[AFFINITY_COOKIE_MAX + 1];
    int n = affinity_cookie_make(&s, SIOC_LIT("w2"), v, sizeof(v));
    assert_int_equal(n, 2 + 1 + AFFINITY_MAC_CHARS);
    assert_int_equal(strlen(v), (size_t)n);
    sioc_iov_t id;
    assert_true(affinity_cookie_check(&s, iov_make(v, (size_t)n), &id));
    assert_true(iov_eq(id, SIOC_LIT("w2")));
    /* A replica with the same secret accepts it; another secret does not. */
    assert_true(affinity_cookie_check(&s2, iov_make(v, (size_t)n), &id));
    assert_false(affinity_cookie_check(&other, iov_make(v, (size_t)n), &id));
    /* Forgeries: the id changed, one MAC character flipped, truncated, extended. */
    char f[64];
    memcpy(f, v, (size_t)n + 1);
    f[1] = '3';
    assert_false(affinity_cookie_check(&s, iov_make(f, (size_t)n), &id));
    memcpy(f, v, (size_t)n + 1);
    f[n - 1] = f[n - 1] == 'A' ? 'B' : 'A';
    assert_false(affinity_cookie_check(&s, iov_make(f, (size_t)n), &id));
    assert_false(affinity_cookie_check(&s, iov_make(v, (size_t)n - 1), &id));
    memcpy(f, v, (size_t)n);
    f[n] = 'x';
    assert_false(affinity_cookie_check(&s, iov_make(f, (size_t)n + 1), &id));
    assert_false(affinity_cookie_check(&s, SIOC_LIT("w2"), &id));
    assert_false(affinity_cookie_check(&s, SIOC_LIT(""), &id));
    assert_false(affinity_cookie_check(&s, SIOC_LIT("w2.AAAAAAAAAAAAAAAAAAAAAA"), &id));
    /* MAC of another worker with this id's prefix. */
    char w1[AFFINITY_COOKIE_MAX + 1];
    int n1 = affinity_cookie_make(&s, SIOC_LIT("w1"), w1, sizeof(w1));
    memcpy(f, w1, (size_t)n1 + 1);
    f[1] = '2';
    assert_false(affinity_cookie_check(&s, iov_make(f, (size_t)n1), &id));
    /* Bad ids and small buffers. */
    assert_int_equal(affinity_cookie_make(&s, SIOC_LIT("w.1"), v, sizeof(v)), SIOC_EINVAL);
    assert_int_equal(affinity_cookie_make(&s, SIOC_LIT("w1"), v, 10), SIOC_ENOSPC);
    /* A random secret (no AFFINITY_SECRET) differs per process start. */
    affinity_secret_t r1, r2;
    affinity_secret_init(&r1, NULL);
    affinity_secret_init(&r2, "");
    assert_memory_not_equal(r1.key, r2.key, sizeof(r1.key));
}

static void test_addresses(void **state)
{
    (void)state;
    affinity_addr_t a;
    char out[64];
    assert_int_equal(affinity_addr_parse(SIOC_LIT(" 192.0.2.7 "), &a), 0);
    assert_int_equal(a.family, 4);
    affinity_addr_format(&a, out, sizeof(out));
    assert_string_equal(out, "192.0.2.7");
    assert_int_equal(affinity_addr_parse(SIOC_LIT("::ffff:192.0.2.7"), &a), 0);
    assert_int_equal(a.family, 4);
    assert_int_equal(affinity_addr_key(&a).len, 4);
    assert_int_equal(affinity_addr_parse(SIOC_LIT("[2001:db8::1]"), &a), 0);
    assert_int_equal(a.family, 6);
    affinity_addr_format(&a, out, sizeof(out));
    assert_string_equal(out, "2001:db8::1");
    assert_int_equal(affinity_addr_parse(SIOC_LIT("1.2.3"), &a), SIOC_EINVAL);
    assert_int_equal(affinity_addr_parse(SIOC_LIT("unknown"), &a), SIOC_EINVAL);
    assert_int_equal(affinity_addr_parse(SIOC_LIT(""), &a), SIOC_EINVAL);
    assert_int_equal(affinity_addr_parse(SIOC_LIT("1.2.3.4:80"), &a), SIOC_EINVAL);

    affinity_cidr_t *list;
    size_t n;
    sioc_iov_t bad;
    assert_int_equal(
        affinity_cidr_list_parse("10.0.0.0/8, 192.168.1.1 ,fd00::/8,", &list, &n, &bad), 0);
    assert_int_equal(n, 3);
    affinity_addr_parse(SIOC_LIT("10.200.3.4"), &a);
    assert_true(affinity_cidr_match(list, n, &a));
    affinity_addr_parse(SIOC_LIT("11.0.0.1"), &a);
    assert_false(affinity_cidr_match(list, n, &a));
    affinity_addr_parse(SIOC_LIT("192.168.1.1"), &a);
    assert_true(affinity_cidr_match(list, n, &a));
    affinity_addr_parse(SIOC_LIT("192.168.1.2"), &a);
    assert_false(affinity_cidr_match(list, n, &a));
    affinity_addr_parse(SIOC_LIT("fd12::5"), &a);
    assert_true(affinity_cidr_match(list, n, &a));
    affinity_addr_parse(SIOC_LIT("fe80::5"), &a);
    assert_false(affinity_cidr_match(list, n, &a));
    free(list);
    assert_int_equal(affinity_cidr_list_parse("10.0.0.0/33", &list, &n, &bad), SIOC_EINVAL);
    assert_true(iov_eq(bad, SIOC_LIT("10.0.0.0/33")));
    assert_int_equal(affinity_cidr_list_parse("10.0.0.0/", &list, &n, &bad), SIOC_EINVAL);
    assert_int_equal(affinity_cidr_list_parse("nope", &list, &n, &bad), SIOC_EINVAL);
    assert_int_equal(affinity_cidr_list_parse("", &list, &n, &bad), 0);
    assert_int_equal(n, 0);
    affinity_cidr_t c;
    assert_int_equal(affinity_cidr_parse(SIOC_LIT("0.0.0.0/0"), &c), 0);
    affinity_addr_parse(SIOC_LIT("8.8.8.8"), &a);
    assert_true(affinity_cidr_match(&c, 1, &a));
    assert_int_equal(affinity_cidr_parse(SIOC_LIT("::ffff:10.0.0.0/104"), &c), 0);
    assert_int_equal(c.bits, 8);
}

static void test_client_addr(void **state)
{
    (void)state;
    affinity_cidr_t *trusted;
    size_t nt;
    sioc_iov_t bad;
    assert_int_equal(affinity_cidr_list_parse("10.0.0.0/8", &trusted, &nt, &bad), 0);
    affinity_addr_t peer, out;
    char s[64];
    /* Untrusted peer: its own address, whatever the headers say. */
    affinity_addr_parse(SIOC_LIT("203.0.113.9"), &peer);
    sioc_iov_t xff[2] = {SIOC_LIT("1.1.1.1")};
    affinity_client_addr(&peer, trusted, nt, xff, 1, SIOC_LIT("2.2.2.2"), &out);
    affinity_addr_format(&out, s, sizeof(s));
    assert_string_equal(s, "203.0.113.9");
    /* Trusted peer: the rightmost untrusted hop; a spoofed leftmost entry is ignored. */
    affinity_addr_parse(SIOC_LIT("10.0.0.1"), &peer);
    xff[0] = SIOC_LIT("6.6.6.6, 198.51.100.4, 10.0.0.2");
    affinity_client_addr(&peer, trusted, nt, xff, 1, SIOC_IOV_NULL, &out);
    affinity_addr_format(&out, s, sizeof(s));
    assert_string_equal(s, "198.51.100.4");
    /* Several X-Forwarded-For fields: the last one holds the nearest hops. */
    xff[0] = SIOC_LIT("6.6.6.6");
    xff[1] = SIOC_LIT("10.1.1.1");
    affinity_client_addr(&peer, trusted, nt, xff, 2, SIOC_IOV_NULL, &out);
    affinity_addr_format(&out, s, sizeof(s));
    assert_string_equal(s, "6.6.6.6");
    /* Garbage hop: stop there, keep the last trusted hop. */
    xff[0] = SIOC_LIT("6.6.6.6, garbage, 10.9.9.9");
    affinity_client_addr(&peer, trusted, nt, xff, 1, SIOC_IOV_NULL, &out);
    affinity_addr_format(&out, s, sizeof(s));
    assert_string_equal(s, "10.9.9.9");
    /* All trusted: the leftmost. */
    xff[0] = SIOC_LIT("10.3.3.3, 10.2.2.2");
    affinity_client_addr(&peer, trusted, nt, xff, 1, SIOC_IOV_NULL, &out);
    affinity_addr_format(&out, s, sizeof(s));
    assert_string_equal(s, "10.3.3.3");
    /* X-Real-IP only without X-Forwarded-For. */
    affinity_client_addr(&peer, trusted, nt, NULL, 0, SIOC_LIT("198.51.100.77"), &out);
    affinity_addr_format(&out, s, sizeof(s));
    assert_string_equal(s, "198.51.100.77");
    affinity_client_addr(&peer, trusted, nt, NULL, 0, SIOC_LIT("junk"), &out);
    affinity_addr_format(&out, s, sizeof(s));
    assert_string_equal(s, "10.0.0.1");
    free(trusted);
}

/* Power of two choices: the less loaded of two distinct nodes in rotation. */
static void test_pick_least(void **state)
{
    (void)state;
    const char *ids[4] = {"a", "b", "c", "d"};
    affinity_node_t n[4];
    memset(n, 0, sizeof(n));
    for (int i = 0; i < 4; i++)
        n[i].id = iov_make(ids[i], 1);
    assert_int_equal(affinity_pick_least(n, 0, 1), -1);
    /* r selects the a-th (low 32 bits) and b-th (next 31, skipping a) in rotation. */
    n[0].load = 5;
    n[1].load = 3;
    n[2].load = 9;
    assert_int_equal(affinity_pick_least(n, 4, 0), 1);                /* a=0, b=1 */
    assert_int_equal(affinity_pick_least(n, 4, (1ull << 32) | 1), 1); /* a=1, b=1+1 */
    n[2].load = 1;
    assert_int_equal(affinity_pick_least(n, 4, (1ull << 32) | 1), 2);
    /* Equal loads: the top bit of r picks one of the two. */
    n[0].load = n[1].load = 4;
    assert_int_equal(affinity_pick_least(n, 4, 0), 0);
    assert_int_equal(affinity_pick_least(n, 4, 1ull << 63), 1);
    /* Standby nodes are never drawn; one in rotation is chosen alone. */
    n[0].standby = n[2].standby = n[3].standby = 1;
    for (uint64_t r = 0; r < 64; r++)
        assert_int_equal(affinity_pick_least(n, 4, r * 0x9e3779b97f4a7c15ull), 1);
    n[1].standby = 1;
    assert_int_equal(affinity_pick_least(n, 4, 7), -1);
    /* Simulated placements, each adding one to the chosen load, stay near the mean; a new
     * empty node wins every draw it is in (half of them with four nodes) until it catches up. */
    memset(n, 0, sizeof(n));
    for (int i = 0; i < 4; i++)
        n[i].id = iov_make(ids[i], 1);
    n[3].standby = 1;
    uint64_t x = 88172645463325252ull;
    for (int k = 0; k < 300; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        n[affinity_pick_least(n, 4, x)].load++;
    }
    for (int i = 0; i < 3; i++)
        assert_true(n[i].load >= 90 && n[i].load <= 110);
    n[3].standby = 0;
    for (int k = 0; k < 100; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        n[affinity_pick_least(n, 4, x)].load++;
    }
    assert_true(n[3].load >= 40);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_and_sid),
        cmocka_unit_test(test_distribution),
        cmocka_unit_test(test_adding_moves_one_nth),
        cmocka_unit_test(test_two_instances_agree),
        cmocka_unit_test(test_standby),
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_client_addr),
        cmocka_unit_test(test_pick_least),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
