/*
 * fuzz_proxy_head.c - libFuzzer target for the proxy's request-head path:
 * parse (http_parse_request), route (route_decide, affinity), rewrite
 * (rewrite_request), and the response-head rewrite.
 *
 * Input: byte 0 picks the situation (bits 0-2: number of reachable workers,
 * 0-4; bit 3: the peer is a trusted proxy; bit 4: an IPv6 peer; bits 5-7:
 * workers 0-2 on standby), the rest is the head. Invariants, each an abort()
 * when broken:
 *  - a decision is OK exactly when it names a reachable worker; errors carry
 *    a status in {400, 411, 426, 503} and a reason;
 *  - a request with a sid is routed only to the worker its sid names
 *    (recomputed independently from the query), on standby or not, never
 *    placed by cookie or address; without a sid, the worker is never on
 *    standby, a cookie decision names the cookie's worker and an address
 *    decision equals affinity_pick() of the client address;
 *  - an untrusted peer is its own client address;
 *  - a websocket upgrade is only a GET with "Upgrade: websocket";
 *  - the same input decides the same way twice (no hidden state);
 *  - the forwarded head re-parses completely with the same method, target,
 *    Content-Length and upgrade, as HTTP/1.1 keep-alive, with exactly one
 *    X-Forwarded-For, one X-Forwarded-Proto and no hop-by-hop field left;
 *  - a cookie verifies only if it is exactly the one minted for its id;
 *  - a response head rewritten with Set-Cookie and close re-parses with the
 *    same status and framing, not keep-alive, with one more Set-Cookie.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "affinity.h"
#include "base/buf.h"
#include "base/err.h"
#include "http/http_query.h"
#include "rewrite.h"
#include "route.h"
#include "tests/fuzz/fuzz_check.h"

#define CAP 64

static const char *const ids[4] = {"w1", "w2", "worker-3", "Z_9"};

static size_t count_field(const http_header_t *h, size_t n, const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (iov_eq_ci(h[i].name, iov_make(name, strlen(name))))
            c++;
    return c;
}

static void check_request(const route_conf_t *conf, const affinity_secret_t *secret,
                          const http_request_t *req, const affinity_addr_t *peer,
                          const affinity_node_t *nodes, size_t n)
{
    route_t r, r2;
    route_decide(conf, req, peer, nodes, n, &r);
    route_decide(conf, req, peer, nodes, n, &r2);
    CHECK(r.error == r2.error && r.worker == r2.worker && r.by == r2.by &&
          r.cookie_worker == r2.cookie_worker && r.upgrade == r2.upgrade &&
          memcmp(&r.client, &r2.client, sizeof(r.client)) == 0);

    if (r.error == ROUTE_OK) {
        CHECK(r.worker >= 0 && (size_t)r.worker < n);
        CHECK(r.by == ROUTE_BY_SID || r.by == ROUTE_BY_COOKIE || r.by == ROUTE_BY_ADDRESS);
        CHECK(r.reason == NULL && r.status == 0);
    } else {
        CHECK(r.worker == -1 && r.reason != NULL);
        CHECK(r.status == 400 || r.status == 411 || r.status == 426 || r.status == 503);
    }
    CHECK(r.cookie_worker >= -1 && r.cookie_worker < (int)n);
    if (r.cookie_worker >= 0)
        CHECK(!nodes[r.cookie_worker].standby);
    CHECK(r.peer_trusted == affinity_cidr_match(conf->trusted, conf->ntrusted, peer));
    if (!r.peer_trusted)
        CHECK(memcmp(&r.client, peer, sizeof(*peer)) == 0);
    CHECK(r.client.family == 4 || r.client.family == 6);

    /* Independent sid check. */
    sioc_iov_t raw;
    int has_sid = http_query_get(req->query, "sid", &raw);
    if (r.error == ROUTE_OK || r.error == ROUTE_ERR_SID_UNKNOWN)
        CHECK(r.has_sid == has_sid);
    if (r.error == ROUTE_OK && has_sid) {
        CHECK(r.by == ROUTE_BY_SID);
        char sid[ROUTE_SID_MAX];
        int len = http_pct_decode(raw, sid, sizeof(sid), 1);
        CHECK(len > 0);
        sioc_iov_t id;
        CHECK(affinity_sid_worker(iov_make(sid, (size_t)len), &id));
        CHECK(iov_eq(id, nodes[r.worker].id));
    }
    if (r.error == ROUTE_OK && !has_sid) {
        CHECK(r.by != ROUTE_BY_SID);
        CHECK(!nodes[r.worker].standby);
        if (r.by == ROUTE_BY_COOKIE)
            CHECK(r.cookie_worker == r.worker);
        else
            CHECK(r.cookie_worker == -1 &&
                  r.worker ==
                      affinity_pick(nodes, n, affinity_key_hash(affinity_addr_key(&r.client))));
    }
    if (r.upgrade)
        CHECK(iov_eq(req->method, SIOC_LIT("GET")) && req->upgrade &&
              iov_eq_ci(req->upgrade_proto, SIOC_LIT("websocket")) && req->content_length <= 0);
    if (req->minor_version >= 1 && req->host.base == NULL)
        CHECK(r.error == ROUTE_ERR_NO_HOST); /* RFC 9112 §3.2, checked first */
    else if (req->chunked)
        CHECK(r.error == ROUTE_ERR_CHUNKED);

    /* A cookie in the request verifies only if it is the minted one. */
    sioc_iov_t cv, cid;
    if (req->cookie.len && http_cookie_get(req->cookie, "sioc_affinity", &cv) &&
        affinity_cookie_check(secret, cv, &cid)) {
        char minted[AFFINITY_COOKIE_MAX + 1];
        int m = affinity_cookie_make(secret, cid, minted, sizeof(minted));
        CHECK(m > 0 && iov_eq(cv, iov_make(minted, (size_t)m)));
    }

    if (r.error != ROUTE_OK)
        return;
    rewrite_req_t o = {peer, r.peer_trusted, 1, r.upgrade};
    sioc_buf_t out = {0};
    CHECK(rewrite_request(&out, req, &o) == 0);
    http_header_t h[CAP + 8];
    http_request_t again;
    memset(&again, 0, sizeof(again));
    again.headers = h;
    again.num_headers = CAP + 8;
    http_limits_t lim = {1 << 20, CAP + 8};
    const char *reason = NULL;
    int k = http_parse_request(out.base, out.len, &again, &lim, &reason);
    if (k != (int)out.len) {
        fprintf(stderr, "reparse %d (%s): %.*s\n", k, reason ? reason : "", (int)out.len, out.base);
        abort();
    }
    CHECK(iov_eq(again.method, req->method));
    CHECK(iov_eq(again.target, req->target));
    CHECK(again.minor_version == 1 && again.keep_alive);
    CHECK(again.content_length == req->content_length);
    CHECK(!again.chunked);
    CHECK(again.upgrade == r.upgrade);
    CHECK(count_field(h, again.num_headers, "x-forwarded-for") == 1);
    CHECK(count_field(h, again.num_headers, "x-forwarded-proto") == 1);
    CHECK(count_field(h, again.num_headers, "keep-alive") == 0);
    CHECK(count_field(h, again.num_headers, "proxy-connection") == 0);
    CHECK(count_field(h, again.num_headers, "transfer-encoding") == 0);
    CHECK(count_field(h, again.num_headers, "te") == 0);
    CHECK(count_field(h, again.num_headers, "upgrade") == (r.upgrade ? 1u : 0u));
    CHECK(count_field(h, again.num_headers, "connection") == (r.upgrade ? 1u : 0u));
    if (!r.peer_trusted)
        CHECK(count_field(h, again.num_headers, "x-real-ip") == 0 &&
              count_field(h, again.num_headers, "forwarded") == 0);
    buf_free(&out);
}

static void check_response(const char *p, size_t len)
{
    http_header_t h[CAP];
    http_response_t res;
    memset(&res, 0, sizeof(res));
    res.headers = h;
    res.num_headers = CAP;
    int n = http_parse_response(p, len, &res, NULL, NULL);
    if (n <= 0)
        return;
    rewrite_res_t o = {SIOC_LIT("sioc_affinity=w1.x; Path=/; HttpOnly"), 1, 0};
    sioc_buf_t out = {0};
    CHECK(rewrite_response(&out, &res, &o) == 0);
    http_header_t h2[CAP + 4];
    http_response_t again;
    memset(&again, 0, sizeof(again));
    again.headers = h2;
    again.num_headers = CAP + 4;
    http_limits_t lim = {1 << 20, CAP + 4};
    CHECK(http_parse_response(out.base, out.len, &again, &lim, NULL) == (int)out.len);
    CHECK(again.status == res.status);
    CHECK(again.content_length == res.content_length && again.chunked == res.chunked);
    CHECK(!again.keep_alive);
    CHECK(count_field(h2, again.num_headers, "set-cookie") ==
          count_field(h, res.num_headers, "set-cookie") + 1);
    buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static affinity_secret_t secret;
    static affinity_cidr_t *trusted;
    static size_t ntrusted;
    static affinity_node_t nodes[4];
    if (trusted == NULL) {
        affinity_secret_init(&secret, "fuzz-secret");
        sioc_iov_t bad;
        affinity_cidr_list_parse("10.0.0.0/8,fd00::/8", &trusted, &ntrusted, &bad);
        for (int i = 0; i < 4; i++) {
            nodes[i].id = iov_make(ids[i], strlen(ids[i]));
            nodes[i].seed = affinity_seed(nodes[i].id);
        }
    }
    uint8_t sel = data[0];
    size_t n = (size_t)(sel & 7) % 5;
    int is_trusted = (sel >> 3) & 1, v6 = (sel >> 4) & 1;
    for (int i = 0; i < 4; i++)
        nodes[i].standby = i < 3 ? (uint8_t)((sel >> (5 + i)) & 1) : 0;
    affinity_addr_t peer;
    const char *ps =
        v6 ? (is_trusted ? "fd00::1" : "2001:db8::9") : (is_trusted ? "10.0.0.1" : "192.0.2.1");
    affinity_addr_parse(iov_make(ps, strlen(ps)), &peer);
    route_conf_t conf = {&secret, SIOC_LIT("sioc_affinity"), trusted, ntrusted, ROUTE_PLACE_HASH};

    /* Exact-size copy so reads past the end are caught. */
    size_t len = size - 1;
    char *buf = malloc(len ? len : 1);
    if (len)
        memcpy(buf, data + 1, len);
    http_header_t h[CAP];
    http_request_t req;
    memset(&req, 0, sizeof(req));
    req.headers = h;
    req.num_headers = CAP;
    http_limits_t lim = {16384, CAP};
    int r = http_parse_request(buf, len, &req, &lim, NULL);
    if (r > 0)
        check_request(&conf, &secret, &req, &peer, nodes, n);
    check_response(buf, len);
    free(buf);
    return 0;
}
