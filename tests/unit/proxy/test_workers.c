/*
 * Unit tests for proxy/workers: membership from discovery, and the departing
 * state of a worker that left the discovered set (it drains): on standby for
 * new sessions, still routed to by its sids, removed once it stops answering,
 * fails its health checks or outstays --departing-grace; and the load the routing view
 * reports for each worker.
 *
 * The workers are tiny HTTP responders on loopback ports, driven by the same
 * libevent base as the worker set; the tests turn the loop until a condition
 * holds (bounded, so a broken state machine fails instead of hanging).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/list.h"
#include "base/log.h"
#include "discovery.h"
#include "proxy.h"
#include "route.h"
#include "workers.h"

/* ------------------------------------------------------------------ */
/* a fake worker: answers every connection with one HTTP response        */

typedef struct fake {
    struct event_base *base;
    int lfd;
    int port;
    int status; /* of the answer to /health */
    struct event *accept_ev;
    sioc_list_t conns;
} fake_t;

typedef struct fake_conn {
    struct event *ev;
    int fd;
    sioc_list_t link;
} fake_conn_t;

static void conn_free(fake_conn_t *c)
{
    list_remove(&c->link);
    event_free(c->ev);
    close(c->fd);
    free(c);
}

static void conn_read(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    fake_conn_t *c = arg;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0)
        return; /* the answer went out at accept; wait for the checker's close */
    conn_free(c);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    fake_t *f = arg;
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    char res[128];
    int n =
        snprintf(res, sizeof(res),
                 "HTTP/1.1 %d X\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n", f->status);
    assert_int_equal(write(fd, res, (size_t)n), n);
    /* Half-close and read until the checker closes, so no unread request turns the close
     * into a reset that could overtake the answer. */
    shutdown(fd, SHUT_WR);
    fake_conn_t *c = calloc(1, sizeof(*c));
    c->fd = fd;
    c->ev = event_new(f->base, fd, EV_READ | EV_PERSIST, conn_read, c);
    event_add(c->ev, NULL);
    list_insert_tail(&f->conns, &c->link);
}

static void fake_start(fake_t *f, struct event_base *base)
{
    memset(f, 0, sizeof(*f));
    f->base = base;
    f->status = 200;
    list_init(&f->conns);
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(f->lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(f->lfd, 64), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &len), 0);
    f->port = ntohs(sa.sin_port);
    f->accept_ev = event_new(base, f->lfd, EV_READ | EV_PERSIST, on_accept, f);
    event_add(f->accept_ev, NULL);
}

/* The process exits: connects are refused from now on. */
static void fake_stop(fake_t *f)
{
    if (f->lfd < 0)
        return;
    event_free(f->accept_ev);
    close(f->lfd);
    f->lfd = -1;
}

static void fake_free(fake_t *f)
{
    fake_stop(f);
    while (!list_empty(&f->conns))
        conn_free(container_of(f->conns.next, fake_conn_t, link));
}

/* ------------------------------------------------------------------ */
/* the proxy context                                                     */

typedef struct {
    proxy_config_t conf;
    proxy_t p;
    fake_t f[3];
} ctx_t;

static int setup(void **state)
{
    ctx_t *t = calloc(1, sizeof(*t));
    /* --redis-url only satisfies the check for a worker source: discovery is not started,
     * the tests feed workers_sync() themselves. */
    char a[][32] = {"sioc-proxy",
                    "--health-interval",
                    "50",
                    "--health-timeout",
                    "500",
                    "--health-fall",
                    "2",
                    "--health-rise",
                    "1",
                    "--log-level",
                    "warn",
                    "--redis-url",
                    "redis://127.0.0.1:9"};
    char *argv[sizeof(a) / sizeof(a[0])];
    for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++)
        argv[i] = a[i];
    assert_int_equal(proxy_config_parse(&t->conf, (int)(sizeof(a) / sizeof(a[0])), argv), 0);
    log_set_level(t->conf.log_level);
    t->p.conf = &t->conf;
    t->p.base = event_base_new();
    affinity_secret_init(&t->p.secret, "workers-test-secret");
    for (int i = 0; i < 3; i++)
        fake_start(&t->f[i], t->p.base);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    ctx_t *t = *state;
    workers_free(t->p.workers);
    for (int i = 0; i < 3; i++)
        fake_free(&t->f[i]);
    event_base_free(t->p.base);
    proxy_config_free(&t->conf);
    free(t);
    return 0;
}

/* One discovery poll answering ids[i]@127.0.0.1:<port of fake at[i]>. */
static void sync_ids(ctx_t *t, const char *const *ids, const int *at, size_t n)
{
    workers_member_t m[3];
    char text[3][64];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(text[i], sizeof(text[i]), "%s@127.0.0.1:%d", ids[i], t->f[at[i]].port);
        assert_int_equal(discovery_parse_member(iov_make(text[i], (size_t)len), &m[i]), 0);
    }
    workers_sync(t->p.workers, m, n);
}

/* A poll answering the given fakes, fake k announced as "w<k+1>". */
static void sync_fakes(ctx_t *t, const int *which, size_t n)
{
    static const char *const names[] = {"w1", "w2", "w3"};
    const char *ids[3];
    for (size_t i = 0; i < n; i++)
        ids[i] = names[which[i]];
    sync_ids(t, ids, which, n);
}

static pworker_t *member(ctx_t *t, const char *id)
{
    size_t it = 0;
    pworker_t *w;
    while ((w = workers_next(t->p.workers, &it)) != NULL)
        if (strcmp(w->id, id) == 0)
            return w;
    return NULL;
}

/* The routing view entry of `id`, or NULL. */
static const affinity_node_t *live_node(ctx_t *t, const char *id)
{
    size_t n;
    const affinity_node_t *nodes = workers_live(t->p.workers, &n);
    int i = affinity_find(nodes, n, iov_make(id, strlen(id)));
    return i >= 0 ? &nodes[i] : NULL;
}

typedef int (*cond_fn)(ctx_t *t, const void *arg);

/* Turns the loop until cond holds or ms pass; returns whether it held. */
static int run_until(ctx_t *t, cond_fn cond, const void *arg, long ms)
{
    long long end = clock_ms() + ms;
    while (!cond(t, arg)) {
        if (clock_ms() >= end)
            return 0;
        struct timeval tv = {0, 10 * 1000};
        event_base_loopexit(t->p.base, &tv);
        event_base_loop(t->p.base, 0);
    }
    return 1;
}

static void run_for(ctx_t *t, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(t->p.base, &tv);
    event_base_loop(t->p.base, 0);
}

static int up_is(ctx_t *t, const void *arg)
{
    return workers_up(t->p.workers) == *(const size_t *)arg;
}

static int count_is(ctx_t *t, const void *arg)
{
    return workers_count(t->p.workers) == *(const size_t *)arg;
}

static void wait_up(ctx_t *t, size_t n)
{
    assert_true(run_until(t, up_is, &n, 5000));
}

static void wait_count(ctx_t *t, size_t n)
{
    assert_true(run_until(t, count_is, &n, 5000));
}

/* Routes a request head from `peer` over the current routing view; returns the worker id
 * chosen ("" on an error, with *error set). */
static const char *route(ctx_t *t, const char *head, const char *peer, int *error)
{
    static char id[AFFINITY_ID_MAX + 1];
    http_header_t h[16];
    http_request_t req;
    memset(&req, 0, sizeof(req));
    req.headers = h;
    req.num_headers = 16;
    assert_true(http_parse_request(head, strlen(head), &req, NULL, NULL) > 0);
    affinity_addr_t a;
    assert_int_equal(affinity_addr_parse(iov_make(peer, strlen(peer)), &a), 0);
    route_conf_t rc = {&t->p.secret, SIOC_LIT("sioc_affinity"), NULL, 0, ROUTE_PLACE_HASH};
    size_t n;
    const affinity_node_t *nodes = workers_live(t->p.workers, &n);
    route_t r;
    route_decide(&rc, &req, &a, nodes, n, &r);
    *error = r.error;
    id[0] = '\0';
    if (r.error == ROUTE_OK)
        snprintf(id, sizeof(id), "%.*s", (int)nodes[r.worker].id.len, nodes[r.worker].id.base);
    return id;
}

/* ------------------------------------------------------------------ */

static const int W12[] = {0, 1}, W1[] = {0};

static void test_departing_serves_its_sessions(void **state)
{
    ctx_t *t = *state;
    t->p.workers = workers_new(&t->p);
    sync_fakes(t, W12, 2);
    wait_up(t, 2);

    sync_fakes(t, W1, 1); /* w2 starts its drain */
    pworker_t *w2 = member(t, "w2");
    assert_non_null(w2);
    assert_true(w2->departing);
    assert_int_equal(workers_count(t->p.workers), 2);
    assert_int_equal(workers_up(t->p.workers), 1);
    assert_int_equal(workers_departing(t->p.workers), 1);
    const affinity_node_t *n2 = live_node(t, "w2");
    assert_non_null(n2);
    assert_true(n2->standby);

    /* Its sessions (sid, polling and websocket) still reach it. */
    int err;
    assert_string_equal(
        route(t, "GET /socket.io/?EIO=4&transport=polling&sid=w2.abc HTTP/1.1\r\nHost: x\r\n\r\n",
              "192.0.2.1", &err),
        "w2");
    assert_string_equal(route(t,
                              "GET /socket.io/?EIO=4&transport=websocket&sid=w2.abc HTTP/1.1\r\n"
                              "Host: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                              "Sec-WebSocket-Version: 13\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
                              "192.0.2.1", &err),
                        "w2");
    /* New sessions never: not by address, not by a valid cookie naming it. */
    char cookie[AFFINITY_COOKIE_MAX + 1], head[512];
    affinity_cookie_make(&t->p.secret, SIOC_LIT("w2"), cookie, sizeof(cookie));
    for (int i = 0; i < 64; i++) {
        char peer[32];
        snprintf(peer, sizeof(peer), "198.51.100.%d", i + 1);
        assert_string_equal(
            route(t, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n", peer,
                  &err),
            "w1");
        snprintf(head, sizeof(head),
                 "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n"
                 "Cookie: sioc_affinity=%s\r\n\r\n",
                 cookie);
        assert_string_equal(route(t, head, peer, &err), "w1");
    }

    /* Passed health checks keep it, and do not bring it back into rotation. */
    run_for(t, 300);
    assert_int_equal(workers_count(t->p.workers), 2);
    assert_int_equal(workers_up(t->p.workers), 1);
    assert_true(member(t, "w2")->departing);

    /* It exits: the next check cannot connect, and it is gone. */
    fake_stop(&t->f[1]);
    wait_count(t, 1);
    assert_null(member(t, "w2"));
    assert_null(live_node(t, "w2"));
    assert_int_equal(workers_departing(t->p.workers), 0);
    route(t, "GET /socket.io/?EIO=4&transport=polling&sid=w2.abc HTTP/1.1\r\nHost: x\r\n\r\n",
          "192.0.2.1", &err);
    assert_int_equal(err, ROUTE_ERR_SID_UNKNOWN);
    assert_int_equal(workers_up(t->p.workers), 1);
}

static void test_departing_comes_back(void **state)
{
    ctx_t *t = *state;
    t->p.workers = workers_new(&t->p);
    sync_fakes(t, W12, 2);
    wait_up(t, 2);
    sync_fakes(t, W1, 1);
    assert_int_equal(workers_up(t->p.workers), 1);
    /* Listed again at the same address (a restart under the same id, or a flapping set). */
    sync_fakes(t, W12, 2);
    pworker_t *w2 = member(t, "w2");
    assert_false(w2->departing);
    assert_int_equal(workers_up(t->p.workers), 2);
    assert_int_equal(workers_departing(t->p.workers), 0);
    assert_false(live_node(t, "w2")->standby);
    /* Departing again, then announced from another address: replaced by the new one. */
    sync_fakes(t, W1, 1);
    assert_true(member(t, "w2")->departing);
    static const char *const ids[] = {"w1", "w2"};
    static const int at[] = {0, 2};
    sync_ids(t, ids, at, 2);
    w2 = member(t, "w2");
    assert_non_null(w2);
    assert_false(w2->departing);
    char want[32];
    snprintf(want, sizeof(want), "127.0.0.1:%d", t->f[2].port);
    assert_string_equal(w2->addr, want);
    assert_int_equal(workers_count(t->p.workers), 2);
    wait_up(t, 2);
}

static void test_departing_failed_checks(void **state)
{
    ctx_t *t = *state;
    t->p.workers = workers_new(&t->p);
    sync_fakes(t, W12, 2);
    wait_up(t, 2);
    /* Unhealthy while listed: out of rotation, but kept (standby). */
    t->f[1].status = 503;
    wait_up(t, 1);
    run_for(t, 200);
    assert_int_equal(workers_count(t->p.workers), 2);
    /* Unhealthy and departing: removed after --health-fall failed checks, not at once. */
    sync_fakes(t, W1, 1);
    assert_int_equal(workers_count(t->p.workers), 2);
    wait_count(t, 1);
    assert_null(member(t, "w2"));
}

static void test_departing_grace(void **state)
{
    ctx_t *t = *state;
    t->conf.departing_grace = 300;
    t->p.workers = workers_new(&t->p);
    sync_fakes(t, W12, 2);
    wait_up(t, 2);
    long long t0 = clock_ms();
    sync_fakes(t, W1, 1);
    /* Healthy, so only the grace ends it. */
    wait_count(t, 1);
    assert_true(clock_ms() - t0 >= 300);
    assert_null(member(t, "w2"));

    /* With no grace, a worker that leaves the set is forgotten at once. */
    t->conf.departing_grace = 0;
    sync_fakes(t, W12, 2);
    wait_up(t, 2);
    sync_fakes(t, W1, 1);
    assert_int_equal(workers_count(t->p.workers), 1);
}

static void test_departing_connect_failed(void **state)
{
    ctx_t *t = *state;
    t->p.workers = workers_new(&t->p);
    sync_fakes(t, W12, 2);
    wait_up(t, 2);
    /* A listed worker that a request cannot reach is dead, but stays a member. */
    pworker_t *w1 = member(t, "w1");
    pworker_ref(w1); /* as a client exchange holds it */
    workers_mark_failed(w1, "connect refused (test)");
    assert_true(w1->dead);
    assert_null(live_node(t, "w1"));
    assert_int_equal(workers_count(t->p.workers), 2);
    pworker_unref(w1);
    /* A departing one is removed; the caller's reference keeps it valid. */
    sync_fakes(t, W1, 1);
    pworker_t *w2 = member(t, "w2");
    pworker_ref(w2);
    workers_mark_failed(w2, "connect refused (test)");
    assert_false(w2->member);
    assert_null(member(t, "w2"));
    assert_null(live_node(t, "w2"));
    pworker_unref(w2);
    /* A dead member that leaves the set has nothing left to serve: removed at once. */
    size_t k = 1;
    assert_true(run_until(t, up_is, &k, 5000)); /* w1 revived by its checks */
    w1 = member(t, "w1");
    pworker_ref(w1);
    workers_mark_failed(w1, "connect refused (test)");
    pworker_unref(w1);
    workers_sync(t->p.workers, NULL, 0);
    assert_int_equal(workers_count(t->p.workers), 0);
}

static void test_static_unaffected(void **state)
{
    ctx_t *t = *state;
    char list[64];
    snprintf(list, sizeof(list), "w3=127.0.0.1:%d", t->f[2].port);
    char err[128];
    assert_int_equal(proxy_config_parse_workers(list, 0, &t->conf.static_workers,
                                                &t->conf.num_static_workers, err, sizeof(err)),
                     0);
    t->p.workers = workers_new(&t->p);
    wait_up(t, 1);
    /* Discovered as well, then gone from the set: still a plain member. */
    static const int W3[] = {2};
    sync_fakes(t, W3, 1);
    sync_fakes(t, NULL, 0);
    pworker_t *w3 = member(t, "w3");
    assert_non_null(w3);
    assert_false(w3->departing);
    assert_int_equal(workers_up(t->p.workers), 1);
    assert_int_equal(workers_departing(t->p.workers), 0);
}

static int marked(ctx_t *t, const void *arg)
{
    (void)arg;
    pworker_t *w = member(t, "w1");
    return w->sessions_mark == w->sessions;
}

/* The load of the routing view (least-loaded placement): requests in flight, open
 * tunnels, and sessions placed since the last health tick. */
static void test_load(void **state)
{
    ctx_t *t = *state;
    t->p.workers = workers_new(&t->p);
    sync_fakes(t, W12, 2);
    wait_up(t, 2);
    pworker_t *w1 = member(t, "w1");
    assert_int_equal(live_node(t, "w1")->load, 0);
    int ready, err;
    upstream_t *a = upstream_acquire(w1, &ready, &err);
    upstream_t *b = upstream_acquire(w1, &ready, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(live_node(t, "w1")->load, 2);
    assert_int_equal(live_node(t, "w2")->load, 0);
    upstream_release(a, 0);
    assert_int_equal(live_node(t, "w1")->load, 1);
    /* A tunnel taken from an upstream counts as a tunnel, not as a request. */
    w1->tunnels_open++;
    bufferevent_free(upstream_detach(b));
    assert_int_equal(live_node(t, "w1")->load, 1);
    w1->sessions += 3;
    assert_int_equal(live_node(t, "w1")->load, 4);
    assert_true(run_until(t, marked, NULL, 5000));
    assert_int_equal(live_node(t, "w1")->load, 1);
    w1->tunnels_open--;
    assert_int_equal(live_node(t, "w1")->load, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_departing_serves_its_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_departing_comes_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_departing_failed_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_departing_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_departing_connect_failed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_unaffected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
