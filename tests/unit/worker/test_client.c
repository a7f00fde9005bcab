/*
 * Unit tests for worker/client: the exact bytes of every kind of response head the
 * client port writes (status line, Content-Type, Content-Length, Connection, CORS for any
 * origin and for a configured one, extra fields, the raw upgrade errors, the 413 reason
 * phrase), keep-alive against close, and the per-address entries' lifetime.
 *
 * The connection is one end of a socketpair on a real loop; the test reads the other end
 * after a non-blocking loop turn (writes are flushed at turn end).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "client.h"
#include "net/conn.h"

typedef struct h {
    net_loop_t *loop;
    worker_t w;
    worker_config_t conf;
    struct engine e;
    client_t *cl;
    int peer;
    int closed;
} h_t;

static size_t on_data(conn_t *c, uint8_t *buf, size_t len)
{
    (void)c;
    (void)buf;
    return len;
}

static void on_close(conn_t *c, int reason)
{
    (void)reason;
    client_t *cl = conn_data(c);
    h_t *h = (h_t *)((char *)cl->e - offsetof(h_t, e));
    h->closed = 1;
    h->cl = NULL;
    client_free(cl);
}

static const conn_hooks_t hooks = {.on_data = on_data, .on_close = on_close};

static int setup(void **state)
{
    h_t *h = calloc(1, sizeof(*h));
    signal(SIGPIPE, SIG_IGN); /* as the worker: writes to a closed peer fail */
    h->loop = net_loop_new();
    h->w.loop = h->loop;
    h->w.conf = &h->conf;
    h->e.w = &h->w;
    h->e.conf = &h->conf;
    h->e.stats = &h->w.stats;
    h->e.per_ip = addrcount_new();
    list_init(&h->e.clients);
    list_init(&h->e.ws_clients);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    h->peer = sv[1];
    addrcount_entry_t *ip = addrcount_acquire(h->e.per_ip, "10.0.0.1", 8, 0);
    client_t *cl = xcalloc(1, sizeof(*cl));
    cl->e = &h->e;
    cl->ip = ip;
    cl->keep_alive = 1;
    list_insert_tail(&h->e.clients, &cl->link);
    h->e.conns = 1;
    cl->conn = conn_new(h->loop, sv[0], &hooks, cl);
    h->cl = cl;
    *state = h;
    return 0;
}

static void turn(h_t *h)
{
    for (int i = 0; i < 3; i++)
        event_base_loop(net_loop_base(h->loop), EVLOOP_NONBLOCK);
}

static int teardown(void **state)
{
    h_t *h = *state;
    if (h->cl != NULL)
        conn_close(h->cl->conn, 0);
    close(h->peer); /* ends a lingering close */
    turn(h);
    assert_true(h->closed);
    assert_int_equal(h->e.conns, 0);
    assert_int_equal(addrcount_size(h->e.per_ip), 0); /* the entry went with its last user */
    net_loop_free(h->loop);
    addrcount_free(h->e.per_ip);
    free(h);
    return 0;
}

/* Everything the peer received so far, NUL-terminated (static storage). */
static const char *received(h_t *h)
{
    static char buf[4096];
    turn(h);
    ssize_t n = read(h->peer, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void test_plain(void **state)
{
    h_t *h = *state;
    client_respond(h->cl, 200, "text/plain; charset=UTF-8", NULL, "1", 1, 0);
    assert_string_equal(received(h), "HTTP/1.1 200 OK\r\n"
                                     "Content-Type: text/plain; charset=UTF-8\r\n"
                                     "Content-Length: 1\r\n"
                                     "\r\n"
                                     "1");
    assert_false(h->closed);
    assert_int_equal(h->w.stats.http_errors, 0);
}

static void test_no_type_extra_close(void **state)
{
    h_t *h = *state;
    client_respond(h->cl, 204, NULL, "Access-Control-Allow-Methods: GET\r\n", NULL, 0, 1);
    assert_string_equal(received(h), "HTTP/1.1 204 No Content\r\n"
                                     "Content-Length: 0\r\n"
                                     "Connection: close\r\n"
                                     "Access-Control-Allow-Methods: GET\r\n"
                                     "\r\n");
    assert_true(conn_closing(h->cl->conn));
}

/* No keep-alive on the request: every response closes. Errors are counted. */
static void test_no_keep_alive(void **state)
{
    h_t *h = *state;
    h->cl->keep_alive = 0;
    client_respond(h->cl, 404, "text/plain", NULL, "Not Found\n", 10, 0);
    assert_string_equal(received(h), "HTTP/1.1 404 Not Found\r\n"
                                     "Content-Type: text/plain\r\n"
                                     "Content-Length: 10\r\n"
                                     "Connection: close\r\n"
                                     "\r\n"
                                     "Not Found\n");
    assert_int_equal(h->w.stats.http_errors, 1);
}

/* 413 keeps the reason phrase the worker has always sent. */
static void test_413(void **state)
{
    h_t *h = *state;
    client_respond(h->cl, 413, "text/plain", NULL, "Payload Too Large\n", 18, 1);
    assert_string_equal(received(h), "HTTP/1.1 413 Payload Too Large\r\n"
                                     "Content-Type: text/plain\r\n"
                                     "Content-Length: 18\r\n"
                                     "Connection: close\r\n"
                                     "\r\n"
                                     "Payload Too Large\n");
}

static void test_cors_any(void **state)
{
    h_t *h = *state;
    h->conf.cors_origins[0] = (char *)"*";
    h->conf.num_cors_origins = 1;
    h->conf.cors_any = 1;
    client_cors_decide(h->cl, SIOC_LIT("https://a.example"));
    client_respond(h->cl, 200, "text/html", NULL, "ok", 2, 0);
    assert_string_equal(received(h), "HTTP/1.1 200 OK\r\n"
                                     "Content-Type: text/html\r\n"
                                     "Content-Length: 2\r\n"
                                     "Access-Control-Allow-Origin: *\r\n"
                                     "\r\n"
                                     "ok");
}

/* A configured origin is echoed with credentials; another origin gets no CORS fields. */
static void test_cors_origin(void **state)
{
    h_t *h = *state;
    h->conf.cors_origins[0] = (char *)"https://a.example";
    h->conf.cors_origins[1] = (char *)"https://b.example";
    h->conf.num_cors_origins = 2;
    client_cors_decide(h->cl, SIOC_LIT("https://b.example"));
    client_respond_eio_error(h->cl, 1);
    assert_string_equal(received(h), "HTTP/1.1 400 Bad Request\r\n"
                                     "Content-Type: application/json\r\n"
                                     "Content-Length: 41\r\n"
                                     "Access-Control-Allow-Origin: https://b.example\r\n"
                                     "Access-Control-Allow-Credentials: true\r\n"
                                     "Vary: Origin\r\n"
                                     "\r\n"
                                     "{\"code\":1,\"message\":\"Session ID unknown\"}");
    client_cors_decide(h->cl, SIOC_LIT("https://c.example"));
    client_respond_eio_error(h->cl, 4);
    assert_string_equal(received(h), "HTTP/1.1 403 Forbidden\r\n"
                                     "Content-Type: application/json\r\n"
                                     "Content-Length: 32\r\n"
                                     "\r\n"
                                     "{\"code\":4,\"message\":\"Forbidden\"}");
}

static void test_ws_errors(void **state)
{
    h_t *h = *state;
    client_respond_ws_error(h->cl, 426, "Unsupported WebSocket version");
    assert_string_equal(received(h), "HTTP/1.1 426 Upgrade Required\r\n"
                                     "Connection: close\r\n"
                                     "Content-Type: text/html\r\n"
                                     "Sec-WebSocket-Version: 13\r\n"
                                     "Content-Length: 29\r\n"
                                     "\r\n"
                                     "Unsupported WebSocket version");
    assert_int_equal(h->w.stats.http_errors, 1);
    assert_true(conn_closing(h->cl->conn));
}

static void test_ws_error_400(void **state)
{
    h_t *h = *state;
    client_respond_ws_error(h->cl, 400, "Session ID unknown");
    assert_string_equal(received(h), "HTTP/1.1 400 Bad Request\r\n"
                                     "Connection: close\r\n"
                                     "Content-Type: text/html\r\n"
                                     "Content-Length: 18\r\n"
                                     "\r\n"
                                     "Session ID unknown");
}

/* A connection still flushing its output to a peer that does not read ends at once with
 * conn_close(c, 0) (the worker's shutdown), instead of being left open and unfreed. */
static void test_close_now_while_flushing(void **state)
{
    h_t *h = *state;
    static char big[256 << 10]; /* under the 1 MiB output cap, over the socket buffers */
    memset(big, 'x', sizeof(big));
    client_respond(h->cl, 200, "text/plain", NULL, big, sizeof(big), 0);
    conn_close(h->cl->conn, 1); /* flushing: the peer reads nothing */
    turn(h);
    assert_false(h->closed);
    conn_close(h->cl->conn, 0);
    turn(h);
    assert_true(h->closed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_type_extra_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_keep_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cors_any, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cors_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ws_error_400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_now_while_flushing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
