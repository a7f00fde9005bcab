/*
 * front.c - client connections and request forwarding (front.h).
 *
 * A client_t is in one of these states:
 *   C_HEAD      waiting for (the rest of) a request head;
 *   C_EXCHANGE  a request is being forwarded and its response relayed; the
 *               response side has its own state (R_*);
 *   C_FLUSH     writing the last response before closing;
 *   C_LINGER    output written and our side shut down: reading and
 *               discarding for a moment so that the peer's unread bytes do
 *               not turn our close into a reset that destroys the response;
 *   C_HANDOFF   a websocket upgrade waiting, not read from, for room in its
 *               worker's hand-off link (the send buffer holds what the
 *               worker has not read).
 * One timer per client holds the deadline of the current state; activity
 * moves the deadline and the timer re-arms itself lazily when it fires
 * early, so moving a deadline costs no syscall.
 */
#include "front.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "guard.h"
#include "http/http_chunked.h"
#include "http/http_parse.h"
#include "http/http_resp.h"
#include "net/fdpass.h"
#include "net/tls.h"
#include "rewrite.h"
#include "tunnel.h"
#include "workers.h"
#include "ws/ws_handshake.h"

#define MAX_HEADERS_CAP 1024
#define RESPONSE_MAX_HEAD 65536
#define RESPONSE_MAX_HEADERS 128
#define CLIENT_MAX_READ 65536
#define ACCEPT_READ 16384 /* read at accept (read_at_accept) */
#define FLUSH_DEADLINE_MS 5000
#define LINGER_MS 2000
#define MAX_REROUTES 3

enum { C_HEAD, C_EXCHANGE, C_FLUSH, C_LINGER, C_HANDOFF };
enum { R_NONE, R_CONNECT, R_HEAD, R_BODY_LEN, R_BODY_CHUNKED, R_BODY_CLOSE };

typedef struct client {
    proxy_t *p;
    struct bufferevent *bev;
    struct event timer;
    sioc_list_t link;
    net_deferred_t reap;
    addrcount_entry_t *ip; /* this connection's per-address count (guard.h) */
    affinity_addr_t peer;
    uint16_t peer_port;
    long long deadline;
    uint8_t state;
    uint8_t tls;
    uint8_t closing;
    uint8_t got_bytes;  /* C_HEAD: bytes of the next head have arrived */
    uint8_t keep_alive; /* keep the connection after this exchange */
    uint8_t eager;      /* its first bytes are read at accept: events are noted in `want` */
    uint8_t want;       /* EV_READ | EV_WRITE wanted once the accept-time read is done */
    size_t scanned;     /* head bytes already seen by http_head_ready */
    size_t head_len;    /* C_HANDOFF: bytes of the client's head in the input */
    size_t fwd_len;     /* C_HANDOFF: bytes of the forwarded head in `head` */
    sioc_list_t wait;   /* C_HANDOFF: in w->handoff_wait */

    /* the exchange in flight */
    upstream_t *up;
    pworker_t *w;
    sioc_buf_t head; /* the rewritten request head until the response starts */
    route_t route;
    unsigned long long req_left;  /* request body bytes still to forward */
    unsigned long long resp_left; /* R_BODY_LEN: body bytes still to relay */
    long long req_length;         /* Content-Length of the request (-1 none) */
    http_chunked_t chunked;
    uint8_t rstate;
    uint8_t head_method;
    uint8_t set_cookie;
    uint8_t up_keep_alive;
    uint8_t retries;
    uint8_t reroutes;
    uint8_t resp_started;
    uint8_t paused_client; /* client reads stopped: upstream output above the watermark */
    uint8_t paused_up;     /* upstream reads stopped: client output above the watermark */
    char ws_accept[WS_HANDSHAKE_ACCEPT_LEN + 1];
} client_t;

static void process_heads(client_t *cl);
static void up_read(struct bufferevent *bev, void *arg);
static void up_write(struct bufferevent *bev, void *arg);
static void up_event(struct bufferevent *bev, short what, void *arg);
static void connect_upstream(client_t *cl);

/* ------------------------------------------------------------------ */
/* lifetime                                                             */

static void reap(net_deferred_t *d)
{
    client_t *cl = container_of(d, client_t, reap);
    buf_free(&cl->head);
    free(cl);
}

static void end_exchange(client_t *cl, int reusable)
{
    if (cl->up != NULL) {
        upstream_release(cl->up, reusable);
        cl->up = NULL;
    }
    if (cl->w != NULL) {
        pworker_unref(cl->w);
        cl->w = NULL;
    }
    cl->rstate = R_NONE;
}

/* Frees the connection now (memory at turn end). */
static void client_free(client_t *cl)
{
    if (cl->closing)
        return;
    proxy_t *p = cl->p;
    cl->closing = 1;
    if (cl->state == C_HANDOFF)
        list_remove(&cl->wait);
    end_exchange(cl, 0);
    evtimer_del(&cl->timer);
    bufferevent_free(cl->bev);
    cl->bev = NULL;
    list_remove(&cl->link);
    p->nclients--;
    p->stats.conns_open--;
    addrcount_release(cl->ip);
    cl->ip = NULL;
    cl->reap.cb = reap;
    net_loop_defer(p->loop, &cl->reap);
}

/* bufferevent_enable / _disable of the client side. While front_accept reads and routes
 * its first bytes, the events are only noted, and set once after: a client handed off in
 * that read never enters the event loop's interest list. */
static void client_enable(client_t *cl, short what)
{
    if (cl->eager)
        cl->want |= (uint8_t)what;
    else
        bufferevent_enable(cl->bev, what);
}

static void client_disable(client_t *cl, short what)
{
    if (cl->eager)
        cl->want &= (uint8_t)~what;
    else
        bufferevent_disable(cl->bev, what);
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

static void arm(client_t *cl, long long ms)
{
    cl->deadline = clock_ms() + ms;
    if (!evtimer_pending(&cl->timer, NULL)) {
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        evtimer_add(&cl->timer, &tv);
    }
}

/* Ends the connection once its output is written. */
static void client_close(client_t *cl, int flush)
{
    if (cl->closing || cl->state == C_FLUSH || cl->state == C_LINGER)
        return;
    end_exchange(cl, 0);
    if (!flush) {
        client_free(cl);
        return;
    }
    cl->state = C_FLUSH;
    client_disable(cl, EV_READ);
    /* Unread input would make close() send a reset. */
    evbuffer_drain(bufferevent_get_input(cl->bev),
                   evbuffer_get_length(bufferevent_get_input(cl->bev)));
    evtimer_del(&cl->timer);
    arm(cl, FLUSH_DEADLINE_MS);
    if (evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0) {
        /* Nothing to write: run the drained path now. */
        bufferevent_trigger(cl->bev, EV_WRITE, 0);
    }
}

static void finish_flush(client_t *cl)
{
    if (cl->tls) {
        client_free(cl);
        return;
    }
    int fd = bufferevent_getfd(cl->bev);
    if (fd < 0 || shutdown(fd, SHUT_WR) != 0) {
        client_free(cl);
        return;
    }
    cl->state = C_LINGER;
    client_enable(cl, EV_READ);
    evtimer_del(&cl->timer);
    arm(cl, LINGER_MS);
}

/* ------------------------------------------------------------------ */
/* local responses                                                      */

static void count_response(proxy_t *p, int status)
{
    int cls = status / 100;
    p->stats.responses[cls >= 1 && cls <= 5 ? cls : 0]++;
}

static void client_out(client_t *cl, const void *data, size_t len)
{
    if (evbuffer_add(bufferevent_get_output(cl->bev), data, len) == 0)
        cl->p->stats.bytes_out += len;
}

/* Ready for the next request on a kept-alive connection. */
static void back_to_head(client_t *cl)
{
    cl->state = C_HEAD;
    cl->got_bytes = 0;
    cl->scanned = 0;
    cl->req_left = 0;
    if (cl->paused_client) {
        cl->paused_client = 0;
        client_enable(cl, EV_READ);
    }
    arm(cl, cl->p->conf->keepalive_timeout);
}

/* Answers from the proxy itself; `extra` holds whole header lines. Keeps the
 * connection only when the request is complete and the client keeps alive. */
static void respond(client_t *cl, int status, const char *ctype, const char *body,
                    const char *extra, int close)
{
    proxy_t *p = cl->p;
    int was_exchange = cl->state == C_EXCHANGE;
    /* Unforwarded body bytes would be read as the next request. */
    close = close || !cl->keep_alive || p->draining || (was_exchange && cl->req_left > 0);
    end_exchange(cl, 0);
    sioc_buf_t *b = &cl->head;
    buf_reset(b);
    size_t blen = body ? strlen(body) : 0;
    int r = http_resp_status(b, status, NULL);
    if (r == 0 && ctype != NULL)
        r = http_resp_header(b, SIOC_LIT("Content-Type"), iov_make(ctype, strlen(ctype)));
    if (r == 0 && extra != NULL)
        r = buf_append_str(b, extra);
    if (r == 0 && close)
        r = buf_append_str(b, "Connection: close\r\n");
    if (r == 0)
        r = http_resp_end(b, (long long)blen);
    if (r == 0 && blen)
        r = buf_append(b, body, blen);
    if (r == 0)
        client_out(cl, b->base, b->len);
    buf_reset(b);
    count_response(p, status);
    if (close) {
        client_close(cl, 1);
        return;
    }
    back_to_head(cl);
    if (was_exchange)
        process_heads(cl);
}

static void respond_error(client_t *cl, int kind, int status, const char *body, int close)
{
    cl->p->stats.errors[kind]++;
    respond(cl, status, body ? "text/plain; charset=utf-8" : NULL, body, NULL, close);
}

static const char sid_unknown_body[] = "{\"code\":1,\"message\":\"Session ID unknown\"}";

/* A websocket upgrade that fails gets a raw 400 and a closed socket, as a
 * worker answers it (cluster contract). */
static void respond_sid_unknown(client_t *cl, int upgrade)
{
    proxy_t *p = cl->p;
    p->stats.errors[PERR_SID_UNKNOWN]++;
    if (upgrade)
        respond(cl, 400, "text/html", "Session ID unknown", NULL, 1);
    else
        respond(cl, 400, "application/json", sid_unknown_body, NULL, 0);
}

static void respond_no_worker(client_t *cl)
{
    cl->p->stats.errors[PERR_NO_WORKER]++;
    respond(cl, 503, "text/plain; charset=utf-8", "No worker available\n", "Retry-After: 1\r\n", 0);
}

/* ------------------------------------------------------------------ */
/* request side                                                         */

static void pump_body(client_t *cl)
{
    if (cl->req_left == 0 || cl->up == NULL || cl->rstate == R_CONNECT)
        return;
    struct evbuffer *in = bufferevent_get_input(cl->bev);
    struct evbuffer *out = bufferevent_get_output(upstream_bev(cl->up));
    size_t avail = evbuffer_get_length(in);
    size_t n = avail < cl->req_left ? avail : (size_t)cl->req_left;
    if (n > 0) {
        /* Moves whole chains where it can: no copy of the body. */
        evbuffer_remove_buffer(in, out, n);
        cl->req_left -= n;
        cl->p->stats.bytes_in += n;
        cl->p->stats.up_bytes_out += n;
    }
    if (evbuffer_get_length(out) > (size_t)cl->p->conf->tunnel_buffer && !cl->paused_client) {
        cl->paused_client = 1;
        client_disable(cl, EV_READ);
    }
}

static void send_request(client_t *cl)
{
    struct bufferevent *ub = upstream_bev(cl->up);
    evbuffer_add(bufferevent_get_output(ub), cl->head.base, cl->head.len);
    cl->p->stats.up_bytes_out += cl->head.len;
    cl->rstate = R_HEAD;
    pump_body(cl);
}

/* The chosen worker cannot be reached: a session request learns that its
 * worker is gone; a new session is placed on another worker. */
static void reroute(client_t *cl)
{
    proxy_t *p = cl->p;
    if (cl->w != NULL) {
        pworker_unref(cl->w);
        cl->w = NULL;
    }
    cl->rstate = R_NONE;
    if (cl->route.has_sid) {
        respond_sid_unknown(cl, cl->route.upgrade);
        return;
    }
    size_t n;
    const affinity_node_t *live = workers_live(p->workers, &n);
    route_replace(live, n, &cl->route);
    if (cl->route.error || ++cl->reroutes > MAX_REROUTES) {
        respond_no_worker(cl);
        return;
    }
    cl->w = workers_live_at(p->workers, cl->route.worker);
    pworker_ref(cl->w);
    cl->set_cookie = 1;
    connect_upstream(cl);
}

static void connect_upstream(client_t *cl)
{
    int ready = 0, err = 0;
    upstream_t *u = upstream_acquire(cl->w, &ready, &err);
    if (u == NULL) {
        cl->p->stats.upstream_connect_failures++;
        if (err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == SIOC_ENOMEM) {
            /* Our own shortage, not the worker's fault: keep it in rotation. */
            static long long last;
            if (log_ratelimited(&last))
                log_error("cannot open a connection to worker %s: %s", cl->w->id,
                          sioc_strerror(err));
            respond_no_worker(cl);
            return;
        }
        workers_mark_failed(cl->w, "cannot connect");
        reroute(cl);
        return;
    }
    cl->up = u;
    struct bufferevent *ub = upstream_bev(u);
    bufferevent_setcb(ub, up_read, up_write, up_event, cl);
    bufferevent_setwatermark(ub, EV_READ, 0, 0);
    bufferevent_setwatermark(ub, EV_WRITE, 0, 0);
    bufferevent_enable(ub, EV_READ | EV_WRITE);
    if (ready) {
        send_request(cl);
    } else {
        cl->rstate = R_CONNECT;
    }
}

static void continue_exchange(client_t *cl, size_t head_len);
static void handoff_writable(evutil_socket_t fd, short what, void *arg);

enum { HANDOFF_TUNNEL = 0, HANDOFF_DONE, HANDOFF_WAIT };

/* One attempt to pass the client to its worker (see handoff()). */
static int handoff_send_now(client_t *cl)
{
    proxy_t *p = cl->p;
    pworker_t *w = cl->w;
    struct evbuffer *in = bufferevent_get_input(cl->bev);
    size_t after = evbuffer_get_length(in) - cl->head_len;
    int fd = bufferevent_getfd(cl->bev);
    cl->head.len = cl->fwd_len;
    /* A response still queued for the client would be lost with our copy of the socket. */
    if (fd < 0 || evbuffer_get_length(bufferevent_get_output(cl->bev)) > 0 ||
        cl->fwd_len + after > FDPASS_MAX_DATA)
        return SIOC_EINVAL;
    if (after > 0) {
        const char *rest = (const char *)evbuffer_pullup(in, -1) + cl->head_len;
        if (buf_append(&cl->head, rest, after) != 0)
            return SIOC_ENOMEM;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (cl->peer.family == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(cl->peer_port);
        memcpy(&s4->sin_addr, cl->peer.bytes, 4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(cl->peer_port);
        memcpy(&s6->sin6_addr, cl->peer.bytes, 16);
    }
    int r = pworker_handoff(w, fd, (const struct sockaddr *)&ss, cl->head.base, cl->head.len);
    if (r != 0) {
        cl->head.len = cl->fwd_len;
        return r;
    }
    p->stats.handoff[PHANDOFF_OK]++;
    p->stats.bytes_in += cl->head_len + after;
    p->stats.up_bytes_out += cl->head.len;
    if (!cl->route.has_sid)
        w->sessions++;
    /* Our copy of the socket closes with the client_t; the worker's lives on. */
    client_free(cl);
    return 0;
}

static void handoff_failed(client_t *cl, int r)
{
    cl->p->stats.handoff[PHANDOFF_FAILED]++;
    static long long last;
    if (log_ratelimited(&last))
        log_warn("worker %s: hand-off through %s failed (%s): tunneled", cl->w->id,
                 cl->w->handoff_path, sioc_strerror(r));
}

/* The write event of w's hand-off link, on its current descriptor, armed. */
static void handoff_watch(pworker_t *w, struct event_base *base)
{
    if (w->handoff_ev != NULL && event_get_fd(w->handoff_ev) != w->handoff_fd) {
        event_free(w->handoff_ev);
        w->handoff_ev = NULL;
    }
    if (w->handoff_ev == NULL)
        w->handoff_ev = event_new(base, w->handoff_fd, EV_WRITE | EV_PERSIST, handoff_writable, w);
    if (!event_pending(w->handoff_ev, EV_WRITE, NULL))
        event_add(w->handoff_ev, NULL);
}

/* Waits for room in the worker's queue: reading stops (what the client sends next stays
 * in the socket, for the worker), and the write event of the hand-off link lets it go. */
static void handoff_wait(client_t *cl)
{
    pworker_t *w = cl->w;
    handoff_watch(w, cl->p->base);
    cl->state = C_HANDOFF;
    list_insert_tail(&w->handoff_wait, &cl->wait);
    client_disable(cl, EV_READ);
    arm(cl, cl->p->conf->server_timeout);
}

static void handoff_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pworker_t *w = arg;
    pworker_ref(w);
    while (!list_empty(&w->handoff_wait)) {
        client_t *cl = container_of(w->handoff_wait.next, client_t, wait);
        int r = handoff_send_now(cl); /* frees cl, out of the list, when it went */
        if (r == 0)
            continue;
        if (r == SIOC_EAGAIN && w->handoff_fd >= 0) {
            handoff_watch(w, event_get_base(w->handoff_ev));
            break;
        }
        list_remove(&cl->wait);
        cl->state = C_EXCHANGE;
        client_enable(cl, EV_READ);
        handoff_failed(cl, r);
        continue_exchange(cl, cl->head_len);
    }
    if (list_empty(&w->handoff_wait) && w->handoff_ev != NULL)
        event_del(w->handoff_ev);
    pworker_unref(w);
}

/*
 * A websocket upgrade routed to a worker on this host: the worker gets the socket with
 * the forwarded head (exactly what a tunnel would send it) followed by the bytes the
 * client sent after its head, so its stream goes on in order; the worker answers the 101
 * itself. HANDOFF_DONE: the client is the worker's (and this client_t is freed);
 * HANDOFF_WAIT: the worker's queue is full, the client waits for room; HANDOFF_TUNNEL:
 * tunnel it (counted by why).
 */
static int handoff(client_t *cl, size_t head_len)
{
    proxy_t *p = cl->p;
    pworker_t *w = cl->w;
    if (!p->conf->handoff)
        return HANDOFF_TUNNEL;
    if (w->handoff_path[0] == '\0') {
        p->stats.handoff[PHANDOFF_FALLBACK_REMOTE]++;
        return HANDOFF_TUNNEL;
    }
    if (cl->tls) {
        p->stats.handoff[PHANDOFF_FALLBACK_TLS]++;
        return HANDOFF_TUNNEL;
    }
    cl->head_len = head_len;
    cl->fwd_len = cl->head.len;
    if (!list_empty(&w->handoff_wait)) {
        p->stats.handoff_waits++;
        handoff_wait(cl); /* behind the ones already waiting */
        return HANDOFF_WAIT;
    }
    int r = handoff_send_now(cl);
    if (r == 0)
        return HANDOFF_DONE;
    if (r == SIOC_EAGAIN && w->handoff_fd >= 0) {
        p->stats.handoff_waits++;
        handoff_wait(cl);
        return HANDOFF_WAIT;
    }
    handoff_failed(cl, r);
    return HANDOFF_TUNNEL;
}

static void start_exchange(client_t *cl, const http_request_t *req, size_t head_len)
{
    proxy_t *p = cl->p;
    pworker_t *w = workers_live_at(p->workers, cl->route.worker);
    cl->w = w;
    pworker_ref(w);
    w->requests++;
    p->stats.routed[cl->route.by]++;
    rewrite_req_t o = {&cl->peer, cl->route.peer_trusted, cl->tls, cl->route.upgrade};
    buf_reset(&cl->head);
    if (rewrite_request(&cl->head, req, &o) != 0) {
        end_exchange(cl, 0);
        respond_error(cl, PERR_BAD_REQUEST, 500, "Internal Server Error\n", 1);
        return;
    }
    if (cl->route.upgrade)
        ws_handshake_accept(req->sec_websocket_key.base, req->sec_websocket_key.len, cl->ws_accept);
    cl->set_cookie = p->route.cookie_name.len > 0 && cl->route.cookie_worker != cl->route.worker;
    cl->head_method = iov_eq(req->method, SIOC_LIT("HEAD"));
    cl->req_length = req->content_length;
    cl->req_left = req->content_length > 0 ? (unsigned long long)req->content_length : 0;
    cl->retries = 0;
    cl->reroutes = 0;
    cl->resp_started = 0;
    cl->paused_up = 0;
    if (cl->route.upgrade && handoff(cl, head_len) != HANDOFF_TUNNEL)
        return;
    continue_exchange(cl, head_len);
}

/* The request goes upstream (after its head was taken from the input). */
static void continue_exchange(client_t *cl, size_t head_len)
{
    proxy_t *p = cl->p;
    evbuffer_drain(bufferevent_get_input(cl->bev), head_len);
    p->stats.bytes_in += head_len;
    cl->state = C_EXCHANGE;
    arm(cl, p->conf->server_timeout);
    connect_upstream(cl);
}

/* The per-address handshake bucket of a client: IPv4 addresses one by one, IPv6 by /64 (one
 * host's share of a network). */
static int handshake_addr_admit(proxy_t *p, const affinity_addr_t *a)
{
    unsigned char key[9];
    size_t n = a->family == 4 ? 4 : 8;
    key[0] = a->family;
    memcpy(key + 1, a->bytes, n);
    return guard_rates_take(&p->handshakes_per_ip, key, n + 1, clock_ms());
}

/* The workers' admin endpoints: never reached through the client port (a `?sid=` would even
 * pick the worker). The proxy's own are on its admin port. */
static int worker_admin_path(sioc_iov_t path)
{
    return iov_eq_str(path, "/health") || iov_eq_str(path, "/ready") ||
           iov_eq_str(path, "/metrics");
}

static void handle_request(client_t *cl, const http_request_t *req, size_t head_len)
{
    proxy_t *p = cl->p;
    p->stats.requests++;
    cl->keep_alive = (uint8_t)(req->keep_alive && !p->draining);
    if (worker_admin_path(req->path)) {
        evbuffer_drain(bufferevent_get_input(cl->bev), head_len);
        respond(cl, 404, "text/plain; charset=utf-8", "Not Found\n", NULL, req->content_length > 0);
        return;
    }
    size_t n;
    const affinity_node_t *live = workers_live(p->workers, &n);
    route_decide(&p->route, req, &cl->peer, live, n, &cl->route);
    route_t *rt = &cl->route;
    if (rt->error == ROUTE_OK && !rt->has_sid && !guard_bucket_take(&p->handshakes, clock_ms())) {
        evbuffer_drain(bufferevent_get_input(cl->bev), head_len);
        p->stats.errors[PERR_HANDSHAKE_RATE]++;
        respond(cl, 503, "text/plain; charset=utf-8", "Too many new sessions\n",
                "Retry-After: 1\r\n", req->content_length > 0);
        return;
    }
    if (rt->error == ROUTE_OK && !rt->has_sid && !handshake_addr_admit(p, &rt->client)) {
        evbuffer_drain(bufferevent_get_input(cl->bev), head_len);
        p->stats.errors[PERR_HANDSHAKE_RATE_IP]++;
        static long long last;
        if (log_ratelimited(&last))
            log_info("new session refused: --max-handshake-rate-per-ip %ld reached",
                     p->conf->max_handshake_rate_per_ip);
        respond(cl, 429, "text/plain; charset=utf-8", "Too many new sessions from this address\n",
                "Retry-After: 1\r\n", req->content_length > 0);
        return;
    }
    if (rt->error != ROUTE_OK) {
        int body = req->content_length > 0;
        evbuffer_drain(bufferevent_get_input(cl->bev), head_len);
        static long long last;
        if (rt->error != ROUTE_ERR_SID_UNKNOWN && log_ratelimited(&last))
            log_info("request refused: %s", rt->reason);
        switch (rt->error) {
        case ROUTE_ERR_CHUNKED:
            respond_error(cl, PERR_LENGTH_REQUIRED, 411, "Length Required\n", 1);
            return;
        case ROUTE_ERR_NO_HOST:
            respond_error(cl, PERR_BAD_REQUEST, 400, "Bad Request\n", 1);
            return;
        case ROUTE_ERR_BAD_UPGRADE:
            p->stats.errors[PERR_BAD_UPGRADE]++;
            respond(cl, rt->status, "text/html", rt->reason,
                    rt->status == 426 ? "Sec-WebSocket-Version: 13\r\n" : NULL, 1);
            return;
        case ROUTE_ERR_SID_UNKNOWN:
            if (body)
                cl->keep_alive = 0;
            respond_sid_unknown(cl, req->upgrade);
            return;
        default:
            if (body)
                cl->keep_alive = 0;
            respond_no_worker(cl);
            return;
        }
    }
    start_exchange(cl, req, head_len);
}

static void process_heads(client_t *cl)
{
    proxy_t *p = cl->p;
    const proxy_config_t *c = p->conf;
    while (!cl->closing && cl->state == C_HEAD) {
        struct evbuffer *in = bufferevent_get_input(cl->bev);
        size_t len = evbuffer_get_length(in);
        if (len == 0)
            return;
        if (!cl->got_bytes) {
            cl->got_bytes = 1;
            arm(cl, c->head_timeout);
        }
        size_t max = (size_t)c->max_head_size;
        size_t n = len < max + 4 ? len : max + 4;
        const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
        http_limits_t lim = {max, (size_t)c->max_headers};
        if (!http_head_ready(buf, n, cl->scanned, &lim)) {
            cl->scanned = n;
            return;
        }
        http_header_t headers[MAX_HEADERS_CAP];
        http_request_t req;
        memset(&req, 0, sizeof(req));
        req.headers = headers;
        req.num_headers = (size_t)c->max_headers + 1 < MAX_HEADERS_CAP ? (size_t)c->max_headers + 1
                                                                       : MAX_HEADERS_CAP;
        const char *reason = NULL;
        int r = http_parse_request(buf, n, &req, &lim, &reason);
        if (r == SIOC_INCOMPLETE) {
            cl->scanned = n;
            if (n > max) {
                respond_error(cl, PERR_HEAD_TOO_LARGE, 431, "Request Header Fields Too Large\n", 1);
            }
            return;
        }
        if (r < 0) {
            cl->keep_alive = 0;
            static long long last;
            if (log_ratelimited(&last))
                log_debug("malformed request: %s", reason ? reason : "?");
            if (r == SIOC_EMSGSIZE)
                respond_error(cl, PERR_HEAD_TOO_LARGE, 431, "Request Header Fields Too Large\n", 1);
            else
                respond_error(cl, PERR_BAD_REQUEST, 400, "Bad Request\n", 1);
            return;
        }
        cl->scanned = 0;
        handle_request(cl, &req, (size_t)r);
    }
}

/* ------------------------------------------------------------------ */
/* response side                                                        */

static void pause_up_if_full(client_t *cl)
{
    size_t out = evbuffer_get_length(bufferevent_get_output(cl->bev));
    if (out > (size_t)cl->p->conf->tunnel_buffer && !cl->paused_up && cl->up != NULL) {
        cl->paused_up = 1;
        bufferevent_disable(upstream_bev(cl->up), EV_READ);
    }
}

static void relay(client_t *cl, struct evbuffer *in, size_t n)
{
    if (n == 0)
        return;
    evbuffer_remove_buffer(in, bufferevent_get_output(cl->bev), n);
    cl->p->stats.up_bytes_in += n;
    cl->p->stats.bytes_out += n;
}

static void response_done(client_t *cl)
{
    proxy_t *p = cl->p;
    struct evbuffer *uin = bufferevent_get_input(upstream_bev(cl->up));
    int reusable = cl->up_keep_alive && cl->req_left == 0 && evbuffer_get_length(uin) == 0 &&
                   cl->rstate != R_BODY_CLOSE;
    /* A body the worker did not wait for would be read as the next request. */
    if (cl->req_left > 0)
        cl->keep_alive = 0;
    end_exchange(cl, reusable);
    if (!cl->keep_alive || p->draining) {
        client_close(cl, 1);
        return;
    }
    back_to_head(cl);
    process_heads(cl);
}

static void bad_gateway(client_t *cl, const char *why)
{
    proxy_t *p = cl->p;
    static long long last;
    if (log_ratelimited(&last))
        log_warn("worker %s: %s", cl->w ? cl->w->id : "?", why);
    if (cl->w != NULL)
        cl->w->upstream_failures++;
    if (cl->resp_started) {
        /* Part of the response is out: the client must see a broken connection. */
        p->stats.errors[PERR_BAD_GATEWAY]++;
        client_close(cl, 1);
        return;
    }
    end_exchange(cl, 0);
    respond_error(cl, PERR_BAD_GATEWAY, 502, "Bad Gateway\n", 1);
}

static void start_tunnel(client_t *cl, size_t head_len, const http_response_t *res)
{
    proxy_t *p = cl->p;
    struct bufferevent *ub = upstream_bev(cl->up);
    buf_reset(&cl->head);
    rewrite_res_t o = {SIOC_IOV_NULL, 0, 1};
    if (rewrite_response(&cl->head, res, &o) != 0) {
        bad_gateway(cl, "cannot rewrite the 101");
        return;
    }
    client_out(cl, cl->head.base, cl->head.len);
    buf_free(&cl->head);
    evbuffer_drain(bufferevent_get_input(ub), head_len);
    p->stats.up_bytes_in += head_len;
    count_response(p, 101);
    if (!cl->route.has_sid)
        cl->w->sessions++;
    /* Hand both connections over; this client_t ends here. */
    pworker_t *w = cl->w;
    struct bufferevent *cb = cl->bev;
    struct bufferevent *wb = upstream_detach(cl->up);
    addrcount_entry_t *ip = cl->ip;
    cl->up = NULL;
    cl->ip = NULL;
    cl->bev = NULL;
    bufferevent_setcb(cb, NULL, NULL, NULL, NULL);
    tunnel_start(p, cb, cl->tls, wb, w, ip);
    /* client_free() without the bufferevent it no longer owns */
    cl->closing = 1;
    pworker_unref(cl->w);
    cl->w = NULL;
    evtimer_del(&cl->timer);
    list_remove(&cl->link);
    p->nclients--;
    p->stats.conns_open--;
    cl->reap.cb = reap;
    net_loop_defer(p->loop, &cl->reap);
}

/* Returns 1 when the head was handled and relaying may go on. */
static int response_head(client_t *cl)
{
    proxy_t *p = cl->p;
    struct bufferevent *ub = upstream_bev(cl->up);
    struct evbuffer *in = bufferevent_get_input(ub);
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return 0;
    size_t n = len < RESPONSE_MAX_HEAD ? len : RESPONSE_MAX_HEAD;
    const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
    http_header_t headers[RESPONSE_MAX_HEADERS];
    http_response_t res;
    memset(&res, 0, sizeof(res));
    res.headers = headers;
    res.num_headers = RESPONSE_MAX_HEADERS;
    http_limits_t lim = {RESPONSE_MAX_HEAD, RESPONSE_MAX_HEADERS};
    const char *reason = NULL;
    int r = http_parse_response(buf, n, &res, &lim, &reason);
    if (r == SIOC_INCOMPLETE) {
        if (n >= RESPONSE_MAX_HEAD)
            bad_gateway(cl, "response head too large");
        return 0;
    }
    if (r < 0) {
        bad_gateway(cl, reason ? reason : "malformed response");
        return 0;
    }
    if (res.status == 503 && !cl->route.has_sid && cl->req_length <= 0 &&
        cl->reroutes < MAX_REROUTES) {
        /* The worker refuses new sessions (draining, or over a limit): the
         * request has no body and nothing reached the client yet, so place
         * it on another worker instead of passing the refusal on. */
        workers_refused(cl->w, "refused a new session (503)");
        p->stats.redispatched++;
        upstream_release(cl->up, 0);
        cl->up = NULL;
        reroute(cl);
        return 0;
    }
    if (res.status == 101) {
        if (!cl->route.upgrade) {
            bad_gateway(cl, "101 to a request that did not ask for an upgrade");
            return 0;
        }
        if (!iov_eq_ci(res.upgrade_proto, SIOC_LIT("websocket")) ||
            !iov_eq(res.sec_websocket_accept, iov_make(cl->ws_accept, WS_HANDSHAKE_ACCEPT_LEN))) {
            p->stats.errors[PERR_BAD_ACCEPT]++;
            bad_gateway(cl, "101 without the matching Sec-WebSocket-Accept");
            return 0;
        }
        start_tunnel(cl, (size_t)r, &res);
        return 0;
    }
    if (res.status < 200) {
        /* 100 Continue and other interim answers: pass on, wait for the final one. */
        buf_reset(&cl->head);
        rewrite_res_t o = {SIOC_IOV_NULL, 0, 0};
        if (rewrite_response(&cl->head, &res, &o) == 0)
            client_out(cl, cl->head.base, cl->head.len);
        evbuffer_drain(in, (size_t)r);
        p->stats.up_bytes_in += (size_t)r;
        return 1;
    }
    if (res.status == 204 || res.status == 304 || cl->head_method) {
        cl->rstate = R_BODY_LEN;
        cl->resp_left = 0;
    } else if (res.chunked) {
        cl->rstate = R_BODY_CHUNKED;
        http_chunked_init(&cl->chunked, 0);
    } else if (res.content_length >= 0) {
        cl->rstate = R_BODY_LEN;
        cl->resp_left = (unsigned long long)res.content_length;
    } else {
        cl->rstate = R_BODY_CLOSE;
    }
    /* A refused upgrade is relayed and the connection closed (FIELD-NOTES §5). */
    if (cl->route.upgrade || cl->rstate == R_BODY_CLOSE || p->draining)
        cl->keep_alive = 0;
    cl->up_keep_alive =
        (uint8_t)(res.keep_alive && cl->rstate != R_BODY_CLOSE && !cl->route.upgrade);
    char cookie[256];
    sioc_iov_t set_cookie = SIOC_IOV_NULL;
    if (cl->set_cookie && res.status < 400 && cl->w != NULL) {
        int k = snprintf(cookie, sizeof(cookie), "%.*s=%s; Path=/; HttpOnly; SameSite=Lax%s",
                         (int)p->route.cookie_name.len, p->route.cookie_name.base, cl->w->cookie,
                         cl->tls ? "; Secure" : "");
        set_cookie = iov_make(cookie, (size_t)k);
    }
    buf_reset(&cl->head);
    rewrite_res_t o = {set_cookie, !cl->keep_alive, 0};
    if (rewrite_response(&cl->head, &res, &o) != 0) {
        bad_gateway(cl, "cannot rewrite the response head");
        return 0;
    }
    client_out(cl, cl->head.base, cl->head.len);
    buf_reset(&cl->head);
    count_response(p, res.status);
    if (!cl->route.has_sid && cl->route.eio && res.status == 200 && cl->w != NULL)
        cl->w->sessions++;
    evbuffer_drain(in, (size_t)r);
    p->stats.up_bytes_in += (size_t)r;
    cl->resp_started = 1;
    return 1;
}

static void up_read(struct bufferevent *bev, void *arg)
{
    client_t *cl = arg;
    (void)bev;
    if (cl->closing || cl->up == NULL)
        return;
    upstream_t *u = cl->up;
    struct evbuffer *in = bufferevent_get_input(upstream_bev(u));
    arm(cl, cl->p->conf->server_timeout);
    while (!cl->closing && cl->up == u && cl->state == C_EXCHANGE) {
        size_t avail = evbuffer_get_length(in);
        switch (cl->rstate) {
        case R_HEAD:
            if (!response_head(cl))
                return;
            continue;
        case R_BODY_LEN: {
            size_t n = avail < cl->resp_left ? avail : (size_t)cl->resp_left;
            relay(cl, in, n);
            cl->resp_left -= n;
            if (cl->resp_left == 0) {
                response_done(cl);
                return;
            }
            pause_up_if_full(cl);
            return;
        }
        case R_BODY_CHUNKED: {
            if (avail == 0)
                return;
            size_t n = avail < 65536 ? avail : 65536;
            const char *buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
            sioc_iov_t data;
            const char *reason = NULL;
            int r = http_chunked_next(&cl->chunked, buf, n, &data, &reason);
            if (r == SIOC_INCOMPLETE) {
                pause_up_if_full(cl);
                return;
            }
            if (r < 0) {
                bad_gateway(cl, reason ? reason : "bad chunked body");
                return;
            }
            if (r == 0) {
                response_done(cl);
                return;
            }
            relay(cl, in, (size_t)r);
            if (http_chunked_done(&cl->chunked)) {
                response_done(cl);
                return;
            }
            continue;
        }
        case R_BODY_CLOSE:
            relay(cl, in, avail);
            pause_up_if_full(cl);
            return;
        default:
            /* Bytes before the request went out, or after the response. */
            if (avail > 0)
                bad_gateway(cl, "unexpected bytes from the worker");
            return;
        }
    }
}

static void up_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    client_t *cl = arg;
    if (cl->closing)
        return;
    /* Upstream output drained: the client may send more body. */
    if (cl->paused_client && cl->state == C_EXCHANGE) {
        cl->paused_client = 0;
        client_enable(cl, EV_READ);
        pump_body(cl);
    }
}

static void up_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    client_t *cl = arg;
    proxy_t *p = cl->p;
    if (cl->closing || cl->up == NULL)
        return;
    if (what & BEV_EVENT_CONNECTED) {
        upstream_connected(cl->up);
        send_request(cl);
        return;
    }
    if (cl->rstate == R_CONNECT) {
        upstream_connect_failed(cl->up, (what & BEV_EVENT_TIMEOUT) ? "connect timed out"
                                                                   : "connect failed");
        cl->up = NULL;
        reroute(cl);
        return;
    }
    struct evbuffer *in = bufferevent_get_input(upstream_bev(cl->up));
    if (cl->rstate == R_BODY_CLOSE && (what & BEV_EVENT_EOF)) {
        relay(cl, in, evbuffer_get_length(in));
        cl->keep_alive = 0;
        response_done(cl);
        return;
    }
    if (cl->rstate == R_HEAD && !cl->resp_started && evbuffer_get_length(in) == 0) {
        /* Nothing came back. A pooled connection may have been closed by the
         * worker just as it was reused: one retry on a fresh one, if the
         * request can be sent again (no body). */
        if (upstream_reused(cl->up) && cl->retries == 0 && cl->req_length <= 0) {
            cl->retries++;
            p->stats.upstream_retries++;
            upstream_release(cl->up, 0);
            cl->up = NULL;
            connect_upstream(cl);
            return;
        }
        p->stats.upstream_resets++;
        if (cl->route.has_sid && cl->route.upgrade) {
            end_exchange(cl, 0);
            respond_sid_unknown(cl, 1);
            return;
        }
        bad_gateway(cl, "connection closed before answering");
        return;
    }
    p->stats.upstream_resets++;
    bad_gateway(cl, (what & BEV_EVENT_EOF) ? "connection closed mid-response"
                                           : "connection error mid-response");
}

/* ------------------------------------------------------------------ */
/* client callbacks                                                     */

static void client_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    client_t *cl = arg;
    if (cl->closing)
        return;
    switch (cl->state) {
    case C_HEAD:
        process_heads(cl);
        break;
    case C_EXCHANGE:
        if (cl->req_left > 0) {
            pump_body(cl);
            arm(cl, cl->p->conf->server_timeout);
        }
        break;
    case C_LINGER: {
        struct evbuffer *in = bufferevent_get_input(cl->bev);
        evbuffer_drain(in, evbuffer_get_length(in));
        break;
    }
    default:
        break;
    }
}

static void client_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    client_t *cl = arg;
    if (cl->closing)
        return;
    if (cl->state == C_FLUSH) {
        if (evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0)
            finish_flush(cl);
        return;
    }
    if (cl->paused_up && cl->up != NULL) {
        cl->paused_up = 0;
        bufferevent_enable(upstream_bev(cl->up), EV_READ);
        up_read(upstream_bev(cl->up), cl);
    }
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
    client_t *cl = arg;
    proxy_t *p = cl->p;
    if (cl->closing || what == BEV_EVENT_CONNECTED) /* TLS handshake done */
        return;
    if (cl->tls && (what & BEV_EVENT_ERROR)) {
        char err[160];
        net_tls_error(bev, err, sizeof(err));
        if (err[0]) {
            p->stats.errors[PERR_TLS]++;
            log_debug("tls: %s", err);
        }
    }
    if (cl->state == C_EXCHANGE)
        p->stats.errors[PERR_CLIENT_ABORT]++;
    client_free(cl);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    client_t *cl = arg;
    if (cl->closing)
        return;
    long long now = clock_ms();
    if (now < cl->deadline) {
        long long ms = cl->deadline - now;
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        evtimer_add(&cl->timer, &tv);
        return;
    }
    proxy_t *p = cl->p;
    switch (cl->state) {
    case C_HEAD:
        if (cl->got_bytes) {
            respond_error(cl, PERR_HEAD_TIMEOUT, 408, "Request Timeout\n", 1);
            return;
        }
        client_free(cl);
        return;
    case C_EXCHANGE:
        if (cl->req_left > 0 && !cl->resp_started) {
            end_exchange(cl, 0);
            respond_error(cl, PERR_HEAD_TIMEOUT, 408, "Request Timeout\n", 1);
            return;
        }
        if (!cl->resp_started) {
            static long long last;
            if (log_ratelimited(&last))
                log_warn("worker %s: no answer within %ld ms", cl->w ? cl->w->id : "?",
                         p->conf->server_timeout);
            end_exchange(cl, 0);
            respond_error(cl, PERR_GATEWAY_TIMEOUT, 504, "Gateway Timeout\n", 1);
            return;
        }
        p->stats.errors[PERR_GATEWAY_TIMEOUT]++;
        client_free(cl);
        return;
    default:
        client_free(cl);
        return;
    }
}

/* ------------------------------------------------------------------ */
/* accept, drain                                                        */

static void peer_addr(const struct sockaddr *sa, affinity_addr_t *a)
{
    memset(a, 0, sizeof(*a));
    if (sa->sa_family == AF_INET) {
        a->family = 4;
        memcpy(a->bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const uint8_t *b = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, 12) == 0) {
            a->family = 4;
            memcpy(a->bytes, b + 12, 4);
        } else {
            a->family = 6;
            memcpy(a->bytes, b, 16);
        }
    }
}

/* The bytes that came with a connection, read into its input before it is registered with
 * the loop: > 0 bytes read, 0 end of stream, < 0 nothing yet (the loop's read event then
 * takes over). */
static int read_at_accept(client_t *cl, int fd)
{
    struct evbuffer *in = bufferevent_get_input(cl->bev);
    struct evbuffer_iovec v;
    int r = -1;
    evbuffer_unfreeze(in, 0); /* a socket bufferevent's input is closed to writers but itself */
    if (evbuffer_reserve_space(in, ACCEPT_READ, &v, 1) == 1) {
        ssize_t n;
        do {
            n = read(fd, v.iov_base, v.iov_len < ACCEPT_READ ? v.iov_len : ACCEPT_READ);
        } while (n < 0 && errno == EINTR);
        v.iov_len = n > 0 ? (size_t)n : 0;
        evbuffer_commit_space(in, &v, 1);
        r = n > 0 ? 1 : n == 0 ? 0 : -1;
    }
    evbuffer_freeze(in, 0);
    return r;
}

void front_accept(struct net_listener *l, int fd, const struct sockaddr *peer, socklen_t peer_len,
                  void *data)
{
    (void)l;
    (void)peer_len;
    proxy_t *p = data;
    const proxy_config_t *c = p->conf;
    if (p->draining) {
        close(fd);
        return;
    }
    affinity_addr_t a;
    peer_addr(peer, &a);
    char addr[64];
    affinity_addr_format(&a, addr, sizeof(addr));
    addrcount_entry_t *ip;
    int verdict = guard_conn_admit(p->per_ip, addr, strlen(addr), p->nclients + p->ntunnels,
                                   c->max_connections, c->max_connections_per_ip, &ip);
    if (verdict == GUARD_OVER_TOTAL) {
        p->stats.refused_total++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("connection refused: %ld connections open", c->max_connections);
        close(fd);
        return;
    }
    if (verdict == GUARD_OVER_ADDR) {
        p->stats.refused_per_ip++;
        static long long last;
        if (log_ratelimited(&last))
            log_warn("connection from %s refused: per-address limit %ld", addr,
                     c->max_connections_per_ip);
        close(fd);
        return;
    }
    struct bufferevent *bev;
    if (p->tls != NULL)
        bev = net_tls_accept(p->tls, p->base, fd, BEV_OPT_CLOSE_ON_FREE);
    else
        bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL) {
        addrcount_release(ip);
        close(fd);
        return;
    }
    client_t *cl = xcalloc(1, sizeof(*cl));
    cl->p = p;
    cl->bev = bev;
    cl->ip = ip;
    cl->peer = a;
    if (peer->sa_family == AF_INET)
        cl->peer_port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
    else if (peer->sa_family == AF_INET6)
        cl->peer_port = ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);
    cl->tls = p->tls != NULL;
    cl->state = C_HEAD;
    cl->keep_alive = 1;
    evtimer_assign(&cl->timer, p->base, on_timer, cl);
    list_insert_tail(&p->clients, &cl->link);
    p->nclients++;
    p->stats.conns_open++;
    p->stats.conns_total++;
    bufferevent_setcb(bev, client_read, client_write, client_event, cl);
    /* Pipelined requests wait in the input buffer: cap it. */
    bufferevent_setwatermark(bev, EV_READ, 0, (size_t)c->max_head_size + CLIENT_MAX_READ);
    bufferevent_set_max_single_read(bev, CLIENT_MAX_READ);
    arm(cl, c->head_timeout);
    if (!cl->tls && p->defer_accept) {
        /* TCP_DEFER_ACCEPT: the connection came with its first bytes. */
        cl->eager = 1;
        cl->want = EV_READ | EV_WRITE;
        int r = read_at_accept(cl, fd);
        if (r > 0)
            process_heads(cl);
        cl->eager = 0;
        if (r == 0 && !cl->closing)
            client_free(cl); /* closed before sending anything */
        if (cl->closing)
            return;
        bufferevent_enable(bev, cl->want);
        return;
    }
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

void front_drain(proxy_t *p)
{
    sioc_list_t *pos, *tmp;
    list_foreach_safe(pos, tmp, &p->clients)
    {
        client_t *cl = container_of(pos, client_t, link);
        if (cl->state == C_HEAD && !cl->got_bytes)
            client_free(cl);
    }
}

void front_close_all(proxy_t *p)
{
    sioc_list_t *pos, *tmp;
    list_foreach_safe(pos, tmp, &p->clients)
    {
        client_free(container_of(pos, client_t, link));
    }
}
