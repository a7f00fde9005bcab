/*
 * admin.c - admin endpoint (admin.h): one request per connection, answered
 * with an http_resp head and "Connection: close".
 */
#include "admin.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "discovery.h"
#include "http/http_parse.h"
#include "http/http_resp.h"
#include "net/listener.h"
#include "workers.h"

#define ADMIN_MAX_HEAD 8192
#define ADMIN_TIMEOUT_S 5

struct admin {
    proxy_t *p;
    net_listener_t *l;
    sioc_list_t conns;
};

typedef struct admin_conn {
    admin_t *a;
    struct bufferevent *bev;
    sioc_list_t link;
    int answered;
} admin_conn_t;

const char *const proxy_err_names[PERR_COUNT] = {
    "bad_request",   "head_too_large",    "head_timeout", "length_required",
    "bad_upgrade",   "sid_unknown",       "no_worker",    "handshake_rate",
    "bad_gateway",   "gateway_timeout",   "client_abort", "tls",
    "bad_ws_accept", "handshake_rate_ip",
};

const char *const proxy_handoff_names[PHANDOFF_COUNT] = {
    "ok",
    "fallback_tls",
    "fallback_remote",
    "failed",
};

int admin_ready(const proxy_t *p)
{
    return workers_up(p->workers) > 0 && !p->draining;
}

static void put(sioc_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(sioc_buf_t *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        (void)!buf_append(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void metric(sioc_buf_t *b, const char *name, const char *type, const char *help,
                   unsigned long long v)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name, v);
}

void admin_metrics(proxy_t *p, sioc_buf_t *b)
{
    const proxy_stats_t *s = &p->stats;
    metric(b, "sioc_proxy_connections_open", "gauge", "Open client connections (tunnels included)",
           s->conns_open + s->tunnels_open);
    metric(b, "sioc_proxy_connections_total", "counter", "Accepted client connections",
           s->conns_total);
    put(b,
        "# HELP sioc_proxy_connections_refused_total Connections closed at accept by a limit\n"
        "# TYPE sioc_proxy_connections_refused_total counter\n"
        "sioc_proxy_connections_refused_total{limit=\"total\"} %llu\n"
        "sioc_proxy_connections_refused_total{limit=\"per_ip\"} %llu\n",
        s->refused_total, s->refused_per_ip);
    metric(b, "sioc_proxy_requests_total", "counter", "Request heads received", s->requests);
    put(b, "# HELP sioc_proxy_responses_total Responses sent to clients by status class\n"
           "# TYPE sioc_proxy_responses_total counter\n");
    for (int i = 1; i <= 5; i++)
        put(b, "sioc_proxy_responses_total{class=\"%dxx\"} %llu\n", i, s->responses[i]);
    put(b,
        "# HELP sioc_proxy_routed_total Requests forwarded, by what chose the worker\n"
        "# TYPE sioc_proxy_routed_total counter\n"
        "sioc_proxy_routed_total{by=\"sid\"} %llu\n"
        "sioc_proxy_routed_total{by=\"cookie\"} %llu\n"
        "sioc_proxy_routed_total{by=\"address\"} %llu\n"
        "sioc_proxy_routed_total{by=\"load\"} %llu\n",
        s->routed[ROUTE_BY_SID], s->routed[ROUTE_BY_COOKIE], s->routed[ROUTE_BY_ADDRESS],
        s->routed[ROUTE_BY_LOAD]);
    put(b,
        "# HELP sioc_proxy_bytes_total Bytes relayed\n"
        "# TYPE sioc_proxy_bytes_total counter\n"
        "sioc_proxy_bytes_total{side=\"client\",direction=\"in\"} %llu\n"
        "sioc_proxy_bytes_total{side=\"client\",direction=\"out\"} %llu\n"
        "sioc_proxy_bytes_total{side=\"worker\",direction=\"in\"} %llu\n"
        "sioc_proxy_bytes_total{side=\"worker\",direction=\"out\"} %llu\n",
        s->bytes_in, s->bytes_out, s->up_bytes_in, s->up_bytes_out);
    metric(b, "sioc_proxy_tunnels_open", "gauge", "Open websocket tunnels", s->tunnels_open);
    metric(b, "sioc_proxy_tunnels_total", "counter", "Websocket tunnels opened", s->tunnels_total);
    put(b, "# HELP sioc_proxy_handoff_total Websocket upgrades routed, by hand-off outcome "
           "(ok: passed to the worker; the others were tunneled)\n"
           "# TYPE sioc_proxy_handoff_total counter\n");
    for (int i = 0; i < PHANDOFF_COUNT; i++)
        put(b, "sioc_proxy_handoff_total{result=\"%s\"} %llu\n", proxy_handoff_names[i],
            s->handoff[i]);
    metric(b, "sioc_proxy_handoff_waits_total", "counter",
           "Hand-offs that waited for room in the worker's queue", s->handoff_waits);
    put(b, "# HELP sioc_proxy_errors_total Requests or connections that failed, by kind\n"
           "# TYPE sioc_proxy_errors_total counter\n");
    for (int i = 0; i < PERR_COUNT; i++)
        put(b, "sioc_proxy_errors_total{kind=\"%s\"} %llu\n", proxy_err_names[i], s->errors[i]);
    put(b,
        "# HELP sioc_proxy_upstream_failures_total Failures talking to workers, by kind\n"
        "# TYPE sioc_proxy_upstream_failures_total counter\n"
        "sioc_proxy_upstream_failures_total{kind=\"connect\"} %llu\n"
        "sioc_proxy_upstream_failures_total{kind=\"reset\"} %llu\n"
        "sioc_proxy_upstream_failures_total{kind=\"retried\"} %llu\n"
        "sioc_proxy_upstream_failures_total{kind=\"refused_new_session\"} %llu\n",
        s->upstream_connect_failures, s->upstream_resets, s->upstream_retries, s->redispatched);
    size_t nlive;
    workers_live(p->workers, &nlive);
    metric(b, "sioc_proxy_workers", "gauge", "Known workers", workers_count(p->workers));
    metric(b, "sioc_proxy_workers_reachable", "gauge", "Workers serving their sessions", nlive);
    metric(b, "sioc_proxy_workers_up", "gauge", "Workers in rotation (taking new sessions)",
           workers_up(p->workers));
    metric(b, "sioc_proxy_workers_departing", "gauge",
           "Workers that left the discovered set and still serve their sessions",
           workers_departing(p->workers));
    if (p->discovery != NULL)
        metric(b, "sioc_proxy_discovery_failures_total", "counter", "Failed discovery polls",
               discovery_failures(p->discovery));
    static const struct {
        const char *name, *type, *help;
    } per[] = {
        {"sioc_proxy_worker_up", "gauge", "1 while the worker is in rotation"},
        {"sioc_proxy_worker_reachable", "gauge", "1 while the worker serves its sessions"},
        {"sioc_proxy_worker_departing", "gauge",
         "1 while the worker is out of the discovered set but still serves its sessions"},
        {"sioc_proxy_worker_requests_total", "counter", "Requests forwarded to the worker"},
        {"sioc_proxy_worker_sessions_total", "counter",
         "New sessions placed on the worker (handshakes answered 200 or 101)"},
        {"sioc_proxy_worker_tunnels_open", "gauge", "Open websocket tunnels to the worker"},
        {"sioc_proxy_worker_upstream_failures_total", "counter",
         "Connect failures and broken exchanges with the worker"},
        {"sioc_proxy_worker_idle_connections", "gauge", "Idle keep-alive connections pooled"},
    };
    for (size_t k = 0; k < sizeof(per) / sizeof(per[0]); k++) {
        put(b, "# HELP %s %s\n# TYPE %s %s\n", per[k].name, per[k].help, per[k].name, per[k].type);
        size_t it = 0;
        pworker_t *w;
        while ((w = workers_next(p->workers, &it)) != NULL) {
            unsigned long long v = k == 0 ? (unsigned long long)(w->up && !w->dead && !w->departing)
                                   : k == 1 ? (unsigned long long)!w->dead
                                   : k == 2 ? (unsigned long long)w->departing
                                   : k == 3 ? w->requests
                                   : k == 4 ? w->sessions
                                   : k == 5 ? w->tunnels_open
                                   : k == 6 ? w->upstream_failures
                                            : w->nidle;
            put(b, "%s{worker=\"%s\",addr=\"%s\"} %llu\n", per[k].name, w->id, w->addr, v);
        }
    }
    metric(b, "sioc_proxy_ready", "gauge", "1 while new sessions can be placed", admin_ready(p));
    metric(b, "sioc_proxy_draining", "gauge", "1 after SIGTERM", p->draining != 0);
}

static void conn_free(admin_conn_t *c)
{
    list_remove(&c->link);
    bufferevent_free(c->bev);
    free(c);
}

/* The head is built with http_resp (fields in the order status, Content-Type,
 * Content-Length, Cache-Control, Connection) and the body copied after it. */
static void answer(admin_conn_t *c, int status, const char *ctype, const char *body, size_t len)
{
    sioc_buf_t head = {0};
    int r = http_resp_status(&head, status, NULL);
    if (!r)
        r = http_resp_header(&head, SIOC_LIT("Content-Type"), iov_make(ctype, strlen(ctype)));
    if (!r)
        r = http_resp_header_u64(&head, SIOC_LIT("Content-Length"), len);
    if (!r)
        r = http_resp_header(&head, SIOC_LIT("Cache-Control"), SIOC_LIT("no-store"));
    if (!r)
        r = http_resp_header(&head, SIOC_LIT("Connection"), SIOC_LIT("close"));
    if (!r)
        r = http_resp_end(&head, -1);
    if (!r) {
        struct evbuffer *out = bufferevent_get_output(c->bev);
        evbuffer_add(out, head.base, head.len);
        evbuffer_add(out, body, len);
    }
    buf_free(&head);
    c->answered = 1;
    bufferevent_disable(c->bev, EV_READ);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    admin_conn_t *c = arg;
    if (c->answered)
        return;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    size_t n = len < ADMIN_MAX_HEAD + 1 ? len : ADMIN_MAX_HEAD + 1;
    const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    http_header_t h[64];
    http_request_t req;
    memset(&req, 0, sizeof(req));
    req.headers = h;
    req.num_headers = 64;
    http_limits_t lim = {ADMIN_MAX_HEAD, 64};
    int r = http_parse_request(buf, n, &req, &lim, NULL);
    if (r == SIOC_INCOMPLETE)
        return;
    if (r < 0) {
        answer(c, 400, "text/plain", "Bad Request\n", 12);
        return;
    }
    proxy_t *p = c->a->p;
    int get = iov_eq(req.method, SIOC_LIT("GET")) || iov_eq(req.method, SIOC_LIT("HEAD"));
    if (get && iov_eq_str(req.path, "/health")) {
        answer(c, 200, "text/plain", "ok", 2);
    } else if (get && iov_eq_str(req.path, "/ready")) {
        int ok = admin_ready(p);
        answer(c, ok ? 200 : 503, "text/plain", ok ? "ready\n" : "not ready\n", ok ? 6 : 10);
    } else if (get && iov_eq_str(req.path, "/metrics")) {
        sioc_buf_t m = {0};
        admin_metrics(p, &m);
        answer(c, 200, "text/plain; version=0.0.4", m.base ? m.base : "", m.len);
        buf_free(&m);
    } else {
        answer(c, 404, "text/plain", "Not Found\n", 10);
    }
}

static void on_write(struct bufferevent *bev, void *arg)
{
    admin_conn_t *c = arg;
    if (c->answered && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        conn_free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    conn_free(arg);
}

static void on_accept(net_listener_t *l, int fd, const struct sockaddr *peer, socklen_t plen,
                      void *data)
{
    (void)l;
    (void)peer;
    (void)plen;
    admin_t *a = data;
    struct bufferevent *bev = bufferevent_socket_new(a->p->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        close(fd);
        return;
    }
    admin_conn_t *c = xcalloc(1, sizeof(*c));
    c->a = a;
    c->bev = bev;
    list_insert_tail(&a->conns, &c->link);
    struct timeval tv = {ADMIN_TIMEOUT_S, 0};
    bufferevent_set_timeouts(bev, &tv, &tv);
    bufferevent_setcb(bev, on_read, on_write, on_event, c);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

admin_t *admin_new(proxy_t *p, const char *host, int port, int *err)
{
    admin_t *a = xcalloc(1, sizeof(*a));
    a->p = p;
    list_init(&a->conns);
    a->l = net_listener_new(p->loop, host, port, 128, on_accept, a, err);
    if (a->l == NULL) {
        free(a);
        return NULL;
    }
    return a;
}

int admin_port(const admin_t *a)
{
    return net_listener_port(a->l);
}

void admin_free(admin_t *a)
{
    if (a == NULL)
        return;
    while (!list_empty(&a->conns))
        conn_free(container_of(a->conns.next, admin_conn_t, link));
    net_listener_free(a->l);
    free(a);
}
