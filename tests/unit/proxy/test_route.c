/* Unit tests for proxy/route: the routing decision of one request head. */
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
#include "route.h"

static affinity_secret_t secret;
static affinity_node_t nodes[3];
static affinity_cidr_t *trusted;
static size_t ntrusted;
static route_conf_t conf;

static int setup(void **state)
{
    (void)state;
    affinity_secret_init(&secret, "route-test-secret");
    const char *ids[3] = {"w1", "w2", "w3"};
    for (int i = 0; i < 3; i++) {
        nodes[i].id = iov_make(ids[i], 2);
        nodes[i].seed = affinity_seed(nodes[i].id);
    }
    sioc_iov_t bad;
    affinity_cidr_list_parse("10.0.0.0/8", &trusted, &ntrusted, &bad);
    conf.secret = &secret;
    conf.cookie_name = SIOC_LIT("sioc_affinity");
    conf.trusted = trusted;
    conf.ntrusted = ntrusted;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(trusted);
    return 0;
}

/* Parses `head` and routes it from `peer` over the first n nodes. */
static void decide(const char *head, const char *peer, size_t n, route_t *out)
{
    http_header_t h[32];
    http_request_t req;
    memset(&req, 0, sizeof(req));
    req.headers = h;
    req.num_headers = 32;
    int r = http_parse_request(head, strlen(head), &req, NULL, NULL);
    assert_true(r > 0);
    affinity_addr_t a;
    assert_int_equal(affinity_addr_parse(iov_make(peer, strlen(peer)), &a), 0);
    route_decide(&conf, &req, &a, nodes, n, out);
}

static void cookie_head(char *out, size_t cap, const char *id, const char *query)
{
    char v[AFFINITY_COOKIE_MAX + 1];
    affinity_cookie_make(&secret, iov_make(id, strlen(id)), v, sizeof(v));
    snprintf(out, cap,
             "GET /socket.io/?%s HTTP/1.1\r\nHost: x\r\nCookie: a=b; sioc_affinity=%s\r\n\r\n",
             query, v);
}

static void test_sid_wins(void **state)
{
    (void)state;
    route_t r;
    char head[512];
    /* A sid names its worker even when a valid cookie names another. */
    cookie_head(head, sizeof(head), "w1", "EIO=4&transport=polling&sid=w2.abcdef");
    decide(head, "192.0.2.1", 3, &r);
    assert_int_equal(r.error, ROUTE_OK);
    assert_int_equal(r.by, ROUTE_BY_SID);
    assert_int_equal(r.worker, 1);
    assert_int_equal(r.cookie_worker, 0);
    assert_true(r.has_sid);
    assert_true(r.eio);
    /* Percent-encoded name and value. */
    decide("GET /socket.io/?EIO=4&%73id=w3%2Eabc HTTP/1.1\r\nHost: x\r\n\r\n", "192.0.2.1", 3, &r);
    assert_int_equal(r.by, ROUTE_BY_SID);
    assert_int_equal(r.worker, 2);
}

static void test_sid_unknown(void **state)
{
    (void)state;
    route_t r;
    const char *bad[] = {
        "GET /socket.io/?EIO=4&transport=polling&sid=w9.abc HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /socket.io/?EIO=4&transport=polling&sid=nodot HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /socket.io/?EIO=4&transport=polling&sid= HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /socket.io/?EIO=4&sid=%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET "
        "/socket.io/"
        "?sid=w1.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa "
        "HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        decide(bad[i], "192.0.2.1", 3, &r);
        assert_int_equal(r.error, ROUTE_ERR_SID_UNKNOWN);
        assert_int_equal(r.status, 400);
        assert_int_equal(r.worker, -1);
    }
    /* The sid's worker has left: still "unknown", never placed elsewhere. */
    decide("GET /socket.io/?EIO=4&sid=w3.abc HTTP/1.1\r\nHost: x\r\n\r\n", "192.0.2.1", 2, &r);
    assert_int_equal(r.error, ROUTE_ERR_SID_UNKNOWN);
}

static void test_cookie_then_address(void **state)
{
    (void)state;
    route_t r;
    char head[512];
    cookie_head(head, sizeof(head), "w3", "EIO=4&transport=polling");
    decide(head, "192.0.2.1", 3, &r);
    assert_int_equal(r.by, ROUTE_BY_COOKIE);
    assert_int_equal(r.worker, 2);
    /* A cookie naming a worker that is not live is absent. */
    decide(head, "192.0.2.1", 2, &r);
    assert_int_equal(r.by, ROUTE_BY_ADDRESS);
    assert_int_equal(r.cookie_worker, -1);
    /* A forged cookie is absent. */
    decide("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n"
           "Cookie: sioc_affinity=w3.AAAAAAAAAAAAAAAAAAAAAA\r\n\r\n",
           "192.0.2.1", 3, &r);
    assert_int_equal(r.by, ROUTE_BY_ADDRESS);
    assert_int_equal(r.cookie_worker, -1);
    /* Address hashing is stable per client and matches affinity_pick. */
    route_t r2;
    decide("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n", "192.0.2.1", 3,
           &r2);
    assert_int_equal(r2.by, ROUTE_BY_ADDRESS);
    affinity_addr_t a;
    affinity_addr_parse(SIOC_LIT("192.0.2.1"), &a);
    assert_int_equal(r2.worker, affinity_pick(nodes, 3, affinity_key_hash(affinity_addr_key(&a))));
    assert_false(r2.has_sid);
    /* Without live workers a new session has nowhere to go. */
    decide("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n", "192.0.2.1", 0,
           &r);
    assert_int_equal(r.error, ROUTE_ERR_NO_WORKER);
    assert_int_equal(r.status, 503);
    /* route_replace re-places on what is left. */
    decide("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n", "192.0.2.1", 3,
           &r);
    route_replace(nodes + 1, 1, &r);
    assert_int_equal(r.error, ROUTE_OK);
    assert_int_equal(r.worker, 0);
}

static void test_standby(void **state)
{
    (void)state;
    route_t r;
    char head[512];
    nodes[2].standby = 1;
    /* Its sessions are still served... */
    decide("GET /socket.io/?EIO=4&sid=w3.abc HTTP/1.1\r\nHost: x\r\n\r\n", "192.0.2.1", 3, &r);
    assert_int_equal(r.error, ROUTE_OK);
    assert_int_equal(r.worker, 2);
    /* ...but its cookie places nothing, and hashing skips it. */
    cookie_head(head, sizeof(head), "w3", "EIO=4&transport=polling");
    decide(head, "192.0.2.1", 3, &r);
    assert_int_equal(r.by, ROUTE_BY_ADDRESS);
    assert_int_equal(r.cookie_worker, -1);
    for (int i = 1; i < 60; i++) {
        char peer[32];
        snprintf(peer, sizeof(peer), "198.51.100.%d", i);
        decide("GET / HTTP/1.1\r\nHost: x\r\n\r\n", peer, 3, &r);
        assert_int_not_equal(r.worker, 2);
    }
    nodes[0].standby = nodes[1].standby = 1;
    decide("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "192.0.2.1", 3, &r);
    assert_int_equal(r.error, ROUTE_ERR_NO_WORKER);
    nodes[0].standby = nodes[1].standby = nodes[2].standby = 0;
}

static void test_spread_over_addresses(void **state)
{
    (void)state;
    int seen[3] = {0};
    for (int i = 2; i < 52; i++) {
        char peer[32];
        snprintf(peer, sizeof(peer), "127.0.0.%d", i);
        route_t r;
        decide("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n", peer, 3, &r);
        seen[r.worker]++;
    }
    for (int i = 0; i < 3; i++)
        assert_true(seen[i] >= 8); /* 50 addresses spread over all three */
}

static void test_forwarded_for(void **state)
{
    (void)state;
    route_t r;
    const char *h = "GET /socket.io/?EIO=4 HTTP/1.1\r\nHost: x\r\n"
                    "X-Forwarded-For: 6.6.6.6, 198.51.100.4\r\nX-Forwarded-For: 10.0.0.2\r\n\r\n";
    char s[64];
    decide(h, "10.0.0.1", 3, &r);
    assert_true(r.peer_trusted);
    affinity_addr_format(&r.client, s, sizeof(s));
    assert_string_equal(s, "198.51.100.4");
    decide(h, "192.0.2.50", 3, &r);
    assert_false(r.peer_trusted);
    affinity_addr_format(&r.client, s, sizeof(s));
    assert_string_equal(s, "192.0.2.50");
    /* 16 forged lines before the one the trusted balancer appended: its line counts. */
    char many[2048];
    size_t o =
        (size_t)snprintf(many, sizeof(many), "GET /socket.io/?EIO=4 HTTP/1.1\r\nHost: x\r\n");
    for (int i = 1; i <= 16; i++)
        o += (size_t)snprintf(many + o, sizeof(many) - o, "X-Forwarded-For: 6.6.6.%d\r\n", i);
    snprintf(many + o, sizeof(many) - o, "X-Forwarded-For: 198.51.100.7\r\n\r\n");
    decide(many, "10.0.0.1", 3, &r);
    affinity_addr_format(&r.client, s, sizeof(s));
    assert_string_equal(s, "198.51.100.7");
    decide("GET / HTTP/1.1\r\nHost: x\r\nX-Real-IP: 198.51.100.9\r\n\r\n", "10.0.0.1", 3, &r);
    affinity_addr_format(&r.client, s, sizeof(s));
    assert_string_equal(s, "198.51.100.9");
}

static void test_upgrades(void **state)
{
    (void)state;
    route_t r;
    decide("GET /socket.io/?EIO=4&transport=websocket&sid=w1.x HTTP/1.1\r\nHost: x\r\n"
           "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
           "192.0.2.1", 3, &r);
    assert_int_equal(r.error, ROUTE_OK);
    assert_true(r.upgrade);
    assert_int_equal(r.worker, 0);
    decide("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
           "192.0.2.1", 3, &r);
    assert_int_equal(r.error, ROUTE_ERR_BAD_UPGRADE);
    assert_int_equal(r.status, 426);
    decide("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n",
           "192.0.2.1", 3, &r);
    assert_int_equal(r.error, ROUTE_ERR_BAD_UPGRADE);
    assert_int_equal(r.status, 400);
    decide("POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           "Content-Length: 0\r\n\r\n",
           "192.0.2.1", 3, &r);
    assert_int_equal(r.error, ROUTE_ERR_BAD_UPGRADE);
    /* Other upgrades (h2c, websocket plus something) are not upgrades at all. */
    decide("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", "192.0.2.1",
           3, &r);
    assert_int_equal(r.error, ROUTE_OK);
    assert_false(r.upgrade);
    decide("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket, h2c\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
           "192.0.2.1", 3, &r);
    assert_int_equal(r.error, ROUTE_OK);
    assert_false(r.upgrade);
    /* Chunked bodies are refused. */
    decide(
        "POST /socket.io/?EIO=4&sid=w1.x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "192.0.2.1", 3, &r);
    assert_int_equal(r.error, ROUTE_ERR_CHUNKED);
    assert_int_equal(r.status, 411);
}

/* least-loaded: new sessions from one address spread by load; sessions keep their worker. */
static void test_least_loaded(void **state)
{
    (void)state;
    int pl = -1;
    assert_int_equal(route_placement_parse("hash", &pl), 0);
    assert_int_equal(pl, ROUTE_PLACE_HASH);
    assert_int_equal(route_placement_parse("least-loaded", &pl), 0);
    assert_int_equal(pl, ROUTE_PLACE_LEAST_LOADED);
    assert_int_equal(route_placement_parse("random", &pl), SIOC_EINVAL);
    assert_string_equal(route_placement_name(ROUTE_PLACE_LEAST_LOADED), "least-loaded");
    assert_string_equal(route_placement_name(ROUTE_PLACE_HASH), "hash");

    route_t r;
    const char *h = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n";
    /* Under hash, one address goes to one worker. */
    int first = -1;
    for (int i = 0; i < 30; i++) {
        decide(h, "10.88.0.1", 3, &r);
        assert_int_equal(r.by, ROUTE_BY_ADDRESS);
        if (first < 0)
            first = r.worker;
        assert_int_equal(r.worker, first);
    }
    /* Under least-loaded, 60 sessions from that address (each adding to the load of its
     * worker, as the proxy's view does) spread: none above 1.5 times the mean. */
    conf.placement = ROUTE_PLACE_LEAST_LOADED;
    for (int i = 0; i < 60; i++) {
        decide(h, "10.88.0.1", 3, &r);
        assert_int_equal(r.error, ROUTE_OK);
        assert_int_equal(r.by, ROUTE_BY_LOAD);
        assert_int_equal(r.placement, ROUTE_PLACE_LEAST_LOADED);
        nodes[r.worker].load++;
    }
    for (int i = 0; i < 3; i++)
        assert_true(nodes[i].load >= 10 && nodes[i].load <= 30);
    /* A sid still names its worker, a cookie still places; the replacement after a failed
     * worker is by load too, and standby workers take nothing. */
    decide("GET /socket.io/?EIO=4&sid=w3.abc HTTP/1.1\r\nHost: x\r\n\r\n", "10.88.0.1", 3, &r);
    assert_int_equal(r.by, ROUTE_BY_SID);
    assert_int_equal(r.worker, 2);
    char head[512];
    cookie_head(head, sizeof(head), "w2", "EIO=4&transport=polling");
    decide(head, "10.88.0.1", 3, &r);
    assert_int_equal(r.by, ROUTE_BY_COOKIE);
    assert_int_equal(r.worker, 1);
    nodes[0].standby = nodes[1].standby = 1;
    decide(h, "10.88.0.1", 3, &r);
    assert_int_equal(r.worker, 2);
    nodes[2].standby = 1;
    route_replace(nodes, 3, &r);
    assert_int_equal(r.error, ROUTE_ERR_NO_WORKER);
    for (int i = 0; i < 3; i++)
        nodes[i].standby = 0, nodes[i].load = 0;
    conf.placement = ROUTE_PLACE_HASH;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sid_wins),
        cmocka_unit_test(test_sid_unknown),
        cmocka_unit_test(test_cookie_then_address),
        cmocka_unit_test(test_spread_over_addresses),
        cmocka_unit_test(test_forwarded_for),
        cmocka_unit_test(test_standby),
        cmocka_unit_test(test_upgrades),
        cmocka_unit_test(test_least_loaded),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
