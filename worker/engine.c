/*
 * engine.c - the HTTP front of the client port and the engine object (engine.h).
 *
 * Accepts connections (total and per-address limits: far over the limit the descriptor
 * is closed at once, over it the first request gets 503 / 429), parses requests one at a
 * time per connection, decides CORS, and dispatches: the Engine.IO path to the
 * handshake, polling.c or websocket.c; then admin.c, web.c, 404. Once a second the sweep
 * closes slow request heads (408) and idle keep-alive connections, and forgets expired
 * zombie sessions. The session table's hooks are bound to libevent here.
 *
 * Rules that decide error codes follow Node's check order (PROTOCOL.md §1.1).
 */
#include "engine.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/hmap.h"
#include "base/log.h"
#include "client.h"
#include "eio_session.h"
#include "http/http_parse.h"
#include "http/http_query.h"
#include "http/http_resp.h"
#include "net/conn.h"
#include "net/handoff.h"
#include "net/listener.h"
#include "polling.h"
#include "sse.h"
#include "web.h"
#include "websocket.h"
#include "ws/ws_deflate.h"

#define MAX_HEADERS_CAP 1024 /* the largest --max-headers */

static size_t http_on_data(conn_t *c, uint8_t *buf, size_t len);
static void http_on_close(conn_t *c, int reason);

static const conn_hooks_t http_hooks = {.on_data = http_on_data, .on_close = http_on_close};

/* ------------------------------------------------------------------ */
/* The session table's hooks                                            */

static long long hook_now(void *data)
{
    (void)data;
    return clock_ms();
}

static void hook_arm(long long delay_ms, void *data)
{
    engine_t *e = data;
    struct timeval tv = {(time_t)(delay_ms / 1000), (suseconds_t)((delay_ms % 1000) * 1000)};
    event_add(e->timer, &tv);
}

static void hook_defer(net_deferred_t *d, void *data)
{
    engine_t *e = data;
    net_loop_defer(e->w->loop, d);
}

static void hook_cancel(net_deferred_t *d, void *data)
{
    (void)data;
    net_loop_cancel(d);
}

static void hook_peer_release(void *peer, void *data)
{
    (void)data;
    client_addr_release(peer);
}

static const eio_session_hooks_t session_hooks = {
    .now = hook_now,
    .arm = hook_arm,
    .defer = hook_defer,
    .cancel = hook_cancel,
    .get_answer = polling_answer,
    .ws_frame = websocket_frame,
    .ws_shared = websocket_shared,
    .ws_writable = websocket_writable,
    .ws_end = websocket_end,
    .peer_release = hook_peer_release,
};

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    engine_t *e = arg;
    eio_session_table_tick(e->sessions);
}

/* ------------------------------------------------------------------ */
/* HTTP requests                                                        */

/* A response of web.c: a static body is queued by reference, not copied. */
static void respond_web(client_t *cl, web_response_t *r)
{
    if (r->status >= 400)
        cl->e->stats->http_errors++;
    int close = !cl->keep_alive;
    size_t len = r->status == 304 ? 0 : r->len;
    sioc_buf_t b = {0};
    int err = http_resp_status(&b, r->status, NULL);
    if (err == 0)
        err = buf_append_str(&b, r->headers);
    if (err == 0 && close)
        err = http_resp_header(&b, SIOC_LIT("Connection"), SIOC_LIT("close"));
    if (err == 0)
        err = http_resp_end(&b, r->status == 304 ? -1 : (long long)len);
    if (err == 0)
        err = conn_write(cl->conn, b.base, b.len);
    buf_free(&b);
    if (err == 0 && len > 0 && !r->head_only)
        err = r->owned != NULL ? conn_write(cl->conn, r->body, len)
                               : conn_write_static(cl->conn, r->body, len);
    free(r->owned);
    if (close && err == 0)
        conn_close(cl->conn, 1);
}

static int path_matches(const worker_config_t *cf, sioc_iov_t path)
{
    size_t n = strlen(cf->path);
    if (path.len == n && memcmp(path.base, cf->path, n) == 0)
        return 1;
    /* "/socket.io" without the trailing slash, as Node accepts. */
    return path.len == n - 1 && memcmp(path.base, cf->path, n - 1) == 0;
}

static void handle_engine(client_t *cl, const http_request_t *req, const char *body,
                          size_t body_len)
{
    engine_t *e = cl->e;
    sioc_iov_t transport = SIOC_IOV_NULL, eio = SIOC_IOV_NULL, sid = SIOC_IOV_NULL;
    int has_transport = http_query_get(req->query, "transport", &transport);
    int has_eio = http_query_get(req->query, "EIO", &eio);
    int has_sid = http_query_get(req->query, "sid", &sid);
    if (!has_transport ||
        !(iov_eq_str(transport, "polling") || iov_eq_str(transport, "websocket"))) {
        if (req->upgrade)
            client_respond_ws_error(cl, 400, "Transport unknown");
        else
            client_respond_eio_error(cl, 0);
        return;
    }
    int ws = iov_eq_str(transport, "websocket");
    char sidbuf[EIO_SESSION_SID_MAX];
    if (has_sid) {
        int n = http_pct_decode(sid, sidbuf, sizeof(sidbuf), 0);
        if (n < 0 || (size_t)n >= sizeof(sidbuf)) {
            if (req->upgrade)
                client_respond_ws_error(cl, 400, "Session ID unknown");
            else
                client_respond_eio_error(cl, 1);
            return;
        }
        sid = iov_make(sidbuf, (size_t)n);
    }
    if (req->upgrade && ws) {
        if (!has_sid && (!has_eio || !iov_eq_str(eio, "4"))) {
            client_respond_ws_error(cl, 400, "Unsupported protocol version");
            return;
        }
        websocket_upgrade(cl, req, has_sid ? sid : SIOC_IOV_NULL);
        return;
    }
    if (has_sid) {
        eio_session_t *s = eio_session_find(e->sessions, sid);
        if (s == NULL) {
            client_respond_eio_error(cl, 1);
            return;
        }
        if (eio_session_is_zombie(s)) {
            if (iov_eq_str(req->method, "GET") && !ws)
                client_respond_payload(cl, NULL, "1", 1, 1);
            else
                client_respond_eio_error(cl, 1);
            eio_session_forget(s);
            return;
        }
        if (ws || eio_session_is_websocket(s)) {
            client_respond_eio_error(cl, 3);
            return;
        }
        if (iov_eq_str(req->method, "GET"))
            polling_get(cl, s);
        else if (iov_eq_str(req->method, "POST"))
            polling_post(cl, s, req, body, body_len);
        else
            client_respond_eio_error(cl, 3);
        return;
    }
    if (!iov_eq_str(req->method, "GET")) {
        client_respond_eio_error(cl, 2);
        return;
    }
    if (ws) {
        client_respond_eio_error(cl, 3);
        return;
    }
    if (!has_eio || !iov_eq_str(eio, "4")) {
        client_respond_eio_error(cl, 5);
        return;
    }
    if (e->w->draining) {
        client_respond(cl, 503, "application/json", "Retry-After: 1\r\n",
                       "{\"code\":4,\"message\":\"Server shutting down\"}", 44, 0);
        return;
    }
    if (!eio_session_table_admit(e->sessions, addrcount_addr(cl->ip))) {
        static const char too_many[] = "{\"code\":4,\"message\":\"Too many pending sessions\"}";
        client_respond(cl, 429, "application/json", "Retry-After: 1\r\n", too_many,
                       sizeof(too_many) - 1, 0);
        return;
    }
    eio_session_t *s = client_session_new(cl, 0);
    sioc_buf_t o = {0};
    (void)eio_session_open_packet(s, &o);
    char extra[128] = "";
    if (e->conf->cookie)
        snprintf(extra, sizeof(extra), "Set-Cookie: io=%s; Path=/; HttpOnly; SameSite=Lax\r\n",
                 eio_session_sid(s));
    strncat(extra, "Cache-Control: no-store\r\n", sizeof(extra) - strlen(extra) - 1);
    client_respond_payload(cl, extra, o.base, o.len, 1);
    buf_free(&o);
    eio_session_opened(s);
}

static void handle_request(client_t *cl, const http_request_t *req, const char *body,
                           size_t body_len)
{
    engine_t *e = cl->e;
    worker_t *w = e->w;
    e->stats->http_requests++;
    cl->keep_alive = (uint8_t)req->keep_alive;
    client_cors_decide(cl, req->origin);
    client_coding_decide(cl, req);
    if (cl->refused) {
        /* Over --max-connections: a clear answer, then the connection ends. */
        int st = 503;
        const char *msg = "{\"code\":4,\"message\":\"Too many connections\"}";
        if (req->upgrade)
            client_respond_ws_error(cl, st, "Too many connections");
        else
            client_respond(cl, st, "application/json", "Retry-After: 1\r\n", msg, strlen(msg), 1);
        return;
    }
    admin_response_t ar;
    if (cl->admin || w->conf->admin_port == 0 || iov_eq_str(req->path, "/health")) {
        if (admin_serve(w, req->path, &ar)) {
            client_respond(cl, ar.status, ar.content_type, NULL, ar.body.base, ar.body.len, 0);
            buf_free(&ar.body);
            return;
        }
    }
    if (cl->admin) {
        client_respond(cl, 404, "text/plain", NULL, "Not Found\n", 10, 0);
        return;
    }
    if (e->sse != NULL && sse_path_matches(e->sse, req->path)) {
        sse_serve(e->sse, cl, req);
        return;
    }
    if (path_matches(w->conf, req->path)) {
        if (iov_eq_str(req->method, "OPTIONS") && w->conf->num_cors_origins > 0) {
            char extra[512];
            int n = snprintf(extra, sizeof(extra),
                             "Access-Control-Allow-Methods: GET,HEAD,PUT,PATCH,POST,DELETE\r\n");
            http_header_t *hh = req->headers;
            for (size_t i = 0; i < req->num_headers; i++) {
                if (iov_eq_ci(hh[i].name, SIOC_LIT("access-control-request-headers")) &&
                    hh[i].value.len < 256) {
                    n += snprintf(extra + n, sizeof(extra) - (size_t)n,
                                  "Access-Control-Allow-Headers: %.*s\r\n", (int)hh[i].value.len,
                                  hh[i].value.base);
                    break;
                }
            }
            client_respond(cl, 204, NULL, extra, NULL, 0, 0);
            return;
        }
        handle_engine(cl, req, body, body_len);
        return;
    }
    web_response_t wr;
    if (web_serve(e->web, req, clock_unix(), &wr)) {
        respond_web(cl, &wr);
        return;
    }
    client_respond(cl, 404, "text/plain", NULL, "Not Found\n", 10, 0);
}

static size_t http_on_data(conn_t *c, uint8_t *buf, size_t len)
{
    client_t *cl = conn_data(c);
    size_t used = 0;
    while (used < len && cl->mode == CLIENT_HTTP && !conn_closing(c)) {
        http_header_t headers[MAX_HEADERS_CAP];
        http_request_t req;
        memset(&req, 0, sizeof(req));
        req.headers = headers;
        const worker_config_t *cf = cl->e->conf;
        req.num_headers = (size_t)cf->max_headers;
        http_limits_t lim = {(size_t)cf->max_head_size, (size_t)cf->max_headers};
        const char *reason = NULL;
        const char *p = (const char *)buf + used;
        int n = http_parse_request(p, len - used, &req, &lim, &reason);
        if (n == SIOC_INCOMPLETE)
            break;
        cl->head = n > 0 && iov_eq_str(req.method, "HEAD");
        if (n < 0) {
            cl->keep_alive = 0;
            if (n == SIOC_EMSGSIZE)
                client_respond(cl, 431, "text/plain", NULL, "Request Header Fields Too Large\n", 32,
                               1);
            else
                client_respond(cl, 400, "text/plain", NULL, "Bad Request\n", 12, 1);
            return len;
        }
        size_t body_len = req.content_length > 0 ? (size_t)req.content_length : 0;
        /* RFC 9112 §3.2: an HTTP/1.1 request without Host is refused; an upgrade carries no
         * body (its bytes would be read as websocket frames). The proxy refuses both too. */
        if ((req.minor_version >= 1 && req.host.base == NULL) || (req.upgrade && body_len > 0)) {
            cl->keep_alive = 0;
            client_respond(cl, 400, "text/plain", NULL, "Bad Request\n", 12, 1);
            return len;
        }
        if (req.chunked) {
            cl->keep_alive = 0;
            client_respond(cl, 411, "text/plain", NULL, "Length Required\n", 16, 1);
            return len;
        }
        if (req.content_length > cl->e->conf->max_http_buffer_size) {
            cl->e->stats->drops_too_large++;
            static long long last;
            if (log_ratelimited(&last))
                log_info("request body of %lld bytes over max-http-buffer-size: 413",
                         req.content_length);
            sioc_iov_t sid;
            char sidbuf[EIO_SESSION_SID_MAX];
            if (http_query_get(req.query, "sid", &sid)) {
                int sn = http_pct_decode(sid, sidbuf, sizeof(sidbuf), 0);
                eio_session_t *s =
                    sn > 0 && sn < EIO_SESSION_SID_MAX
                        ? eio_session_find(cl->e->sessions, iov_make(sidbuf, (size_t)sn))
                        : NULL;
                if (s != NULL)
                    eio_session_close(s, eio_reason_too_large);
            }
            cl->keep_alive = 0;
            client_respond(cl, 413, "text/plain", NULL, "Payload Too Large\n", 18, 1);
            return len;
        }
        if (len - used < (size_t)n + body_len)
            break;
        cl->since_ms = clock_ms();
        handle_request(cl, &req, p + n, body_len);
        used += (size_t)n + body_len;
    }
    return used;
}

static void http_on_close(conn_t *c, int reason)
{
    (void)reason;
    client_t *cl = conn_data(c);
    if (cl->mode == CLIENT_HELD_GET && cl->session != NULL) {
        eio_session_t *s = cl->session;
        cl->session = NULL;
        eio_session_get_lost(s);
    }
    sse_client_gone(cl);
    client_free(cl);
}

/* A client socket, from the listener or handed over by a proxy on this host: the limits
 * decide (close at once, answer 503, or serve). Returns the client or NULL (fd closed). */
static client_t *adopt(engine_t *e, int fd, const struct sockaddr *peer)
{
    const worker_config_t *cf = e->conf;
    char addr[46];
    net_addr_str(peer, addr, sizeof(addr));
    /* Far over the limit: not even an answer (the descriptor is the scarce resource). */
    if (e->conns >= (size_t)cf->max_connections + 1024) {
        e->stats->conn_refused_limit++;
        close(fd);
        return NULL;
    }
    /* Over the per-address limit: closed at once, as the proxy does (a socket kept for
     * an answer would count toward --max-connections and lock other clients out). */
    addrcount_entry_t *ip =
        addrcount_acquire(e->per_ip, addr, strlen(addr),
                          cf->max_connections_per_ip > 0 ? (size_t)cf->max_connections_per_ip : 0);
    if (ip == NULL) {
        e->stats->conn_refused_limit++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("connection from %s refused: --max-connections-per-ip limit reached", addr);
        close(fd);
        return NULL;
    }
    int refused = e->conns >= (size_t)cf->max_connections;
    if (refused) {
        e->stats->conn_refused_limit++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("connection from %s refused: --max-connections limit reached", addr);
    }
    client_t *cl = xcalloc(1, sizeof(*cl));
    cl->e = e;
    cl->ip = ip;
    cl->keep_alive = 1;
    cl->refused = (uint8_t)refused;
    cl->since_ms = clock_ms();
    list_insert_tail(&e->clients, &cl->link);
    e->conns++;
    cl->conn = conn_new(e->w->loop, fd, &http_hooks, cl);
    conn_set_limits(cl->conn, (size_t)cf->max_http_buffer_size + 32768,
                    (size_t)cf->max_output_buffer);
    return cl;
}

static void on_accept(net_listener_t *l, int fd, const struct sockaddr *peer, socklen_t plen,
                      void *data)
{
    (void)l;
    (void)plen;
    adopt(data, fd, peer);
}

/* A proxy on this host handed a client over: its request head (as the proxy forwards it,
 * X-Forwarded-For included) and any bytes after it come first, then the socket. */
static void on_handoff(handoff_listener_t *h, int fd, const struct sockaddr *peer, socklen_t plen,
                       const uint8_t *data, size_t len, void *arg)
{
    (void)h;
    (void)plen;
    engine_t *e = arg;
    /* Socket options travel with the socket: the proxy's listener set TCP_NODELAY. */
    client_t *cl = adopt(e, fd, peer);
    if (cl != NULL && conn_prefill(cl->conn, data, len) != 0)
        conn_close(cl->conn, 0);
}

/* The admin port: its connections answer /health, /ready and /metrics only. They are not
 * subject to the client limits (an operator must see a worker that clients saturate) but
 * count toward the descriptor ceiling. */
static void on_accept_admin(net_listener_t *l, int fd, const struct sockaddr *peer, socklen_t plen,
                            void *data)
{
    (void)l;
    (void)peer;
    (void)plen;
    engine_t *e = data;
    if (e->conns >= (size_t)e->conf->max_connections + 1024) {
        e->stats->conn_refused_limit++;
        close(fd);
        return;
    }
    client_t *cl = xcalloc(1, sizeof(*cl));
    cl->e = e;
    cl->admin = 1;
    cl->keep_alive = 1;
    cl->since_ms = clock_ms();
    list_insert_tail(&e->clients, &cl->link);
    e->conns++;
    cl->conn = conn_new(e->w->loop, fd, &http_hooks, cl);
    conn_set_limits(cl->conn, 65536, 1 << 20);
}

/* Once a second: HTTP connections that sit on a partial request head for longer than
 * --head-timeout (slowloris) or idle between requests for longer than
 * --keepalive-timeout are closed. Websocket clients live on another list and are never
 * scanned: heartbeats bound them. */

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    engine_t *e = arg;
    const worker_config_t *cf = e->conf;
    long long now = clock_ms();
    eio_session_table_sweep(e->sessions);
    sioc_list_t *p, *tmp;
    list_foreach_safe(p, tmp, &e->clients)
    {
        client_t *cl = container_of(p, client_t, link);
        if (cl->mode != CLIENT_HTTP || conn_closing(cl->conn))
            continue;
        int partial = conn_buffered(cl->conn) > 0;
        long long limit = partial ? cf->head_timeout : cf->keep_alive_timeout;
        if (now - cl->since_ms < limit)
            continue;
        if (partial) {
            e->stats->http_errors++;
            static long long last;
            if (log_ratelimited(&last))
                log_info("request head not complete after %ld ms: 408 and close", cf->head_timeout);
            cl->keep_alive = 0;
            client_respond(cl, 408, "text/plain", NULL, "Request Timeout\n", 16, 1);
        } else {
            conn_close(cl->conn, 0);
        }
    }
}

engine_t *engine_start(worker_t *w, const eio_handler_t *h, int *err)
{
    const worker_config_t *cf = w->conf;
    engine_t *e = xcalloc(1, sizeof(*e));
    e->w = w;
    e->conf = cf;
    e->stats = &w->stats;
    e->per_ip = addrcount_new();
    list_init(&e->clients);
    list_init(&e->ws_clients);
    e->session_conf = (eio_session_config_t){
        .ping_interval = cf->ping_interval,
        .ping_timeout = cf->ping_timeout,
        .upgrade_timeout = cf->upgrade_timeout,
        .max_output_buffer = cf->max_output_buffer,
        .max_payload = cf->max_http_buffer_size,
        .sid_prefix = w->id,
        .owner = w,
        .ws_deflate_threshold = cf->per_message_deflate_threshold,
        .parser_msgpack = strcmp(cf->parser, "msgpack") == 0 && !w->plain_eio,
    };
    if (cf->per_message_deflate)
        e->session_conf.ws_deflate = e->deflate = ws_deflate_new();
    e->sessions = eio_session_table_new(&e->session_conf, &session_hooks, e, h, &w->stats.eio);
    if ((e->web = web_new(cf)) == NULL) {
        *err = SIOC_EINVAL;
        goto fail_web;
    }
    e->listener = net_listener_new(w->loop, cf->host, cf->port, 4096, on_accept, e, err);
    if (e->listener == NULL)
        goto fail_listen;
    if (cf->admin_port > 0) {
        e->admin_listener =
            net_listener_new(w->loop, cf->admin_host, cf->admin_port, 64, on_accept_admin, e, err);
        if (e->admin_listener == NULL) {
            log_error("cannot listen on the admin port %s:%d", cf->admin_host, cf->admin_port);
            net_listener_free(e->listener);
            goto fail_listen;
        }
    }
    if (cf->handoff_path != NULL) {
        e->handoff = handoff_listener_new(w->loop, cf->handoff_path, on_handoff, e, err);
        if (e->handoff == NULL) {
            log_error("cannot listen on the hand-off socket %s", cf->handoff_path);
            goto fail_handoff;
        }
    }
    if (w->sio != NULL && cf->app == WORKER_APP_CHAT && cf->sse)
        e->sse = sse_new(w);
    e->timer = event_new(net_loop_base(w->loop), -1, 0, on_timer, e);
    e->sweep = event_new(net_loop_base(w->loop), -1, EV_PERSIST, on_sweep, e);
    struct timeval tv = {1, 0};
    event_add(e->sweep, &tv);
    w->engine = e;
    return e;

fail_handoff:
    net_listener_free(e->admin_listener);
    net_listener_free(e->listener);
fail_listen:
    web_free(e->web);
fail_web:
    eio_session_table_free(e->sessions);
    ws_deflate_free(e->deflate);
    addrcount_free(e->per_ip);
    free(e);
    return NULL;
}

void engine_stop_handoff(engine_t *e)
{
    handoff_listener_close(e->handoff);
    e->handoff = NULL;
}

void engine_close_some(engine_t *e, size_t n)
{
    eio_session_table_close_some(e->sessions, n);
}

void engine_close_all(engine_t *e)
{
    eio_session_table_close_all(e->sessions);
}

size_t engine_session_count(const engine_t *e)
{
    return eio_session_table_count(e->sessions);
}

size_t engine_zombie_count(const engine_t *e)
{
    return eio_session_table_zombies(e->sessions);
}

void engine_shutdown(engine_t *e)
{
    eio_session_table_shutdown(e->sessions);
    /* The streams let go of their rooms while the Socket.IO layer still exists. */
    sse_free(e->sse);
    e->sse = NULL;
    sioc_list_t *p;
    list_foreach(p, &e->clients) conn_close(container_of(p, client_t, link)->conn, 0);
    list_foreach(p, &e->ws_clients) conn_close(container_of(p, client_t, link)->conn, 0);
    if (e->sweep != NULL) {
        event_free(e->sweep);
        e->sweep = NULL;
    }
    if (e->timer != NULL) {
        event_free(e->timer);
        e->timer = NULL;
    }
    net_listener_free(e->listener);
    e->listener = NULL;
    net_listener_free(e->admin_listener);
    e->admin_listener = NULL;
    handoff_listener_free(e->handoff);
    e->handoff = NULL;
    web_free(e->web);
    e->web = NULL;
}

void engine_free(engine_t *e)
{
    if (e == NULL)
        return;
    if (e->w->engine == e)
        e->w->engine = NULL;
    eio_session_table_free(e->sessions);
    ws_deflate_free(e->deflate);
    buf_free(&e->zscratch);
    ws_reader_free(&e->reader);
    addrcount_free(e->per_ip);
    free(e);
}
