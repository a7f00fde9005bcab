/*
 * fuzz_worker_conn.c - libFuzzer target for the whole client port of the worker: request
 * heads and their dispatch (Engine.IO, admin, web files), polling bodies, the websocket
 * upgrade and its frames, Engine.IO and Socket.IO packets, the chat events and JWT check,
 * connection state recovery — everything a client's bytes can reach.
 *
 * One worker (chat app, HS256 JWT, recovery on, no Redis) is started once, listening on a
 * loopback port. Each input is one client connection: byte 0 seeds the sizes of the writes
 * the rest is cut into (so every parser sees its input split at arbitrary points); the
 * loop runs between writes and everything the worker answers is read and dropped. The
 * client then closes, and every session is closed as a shutdown would.
 * Invariants, each an abort() when broken:
 *  - the worker never stops serving: a fresh GET /health on a new connection after the
 *    input is answered 200;
 *  - once the client has closed, its connection is gone (no connection leaks), and after
 *    the shutdown of the session table no session, zombie or Socket.IO client is left
 *    (every session is reaped);
 *  - LeakSanitizer (libFuzzer's -detect_leaks) checks that nothing allocated for the
 *    input outlives it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "auth.h"
#include "base/log.h"
#include "client.h"
#include "config.h"
#include "engine.h"
#include "net/listener.h"
#include "net/loop.h"
#include "sio.h"
#include "worker.h"
#include "tests/fuzz/fuzz_check.h"

#define SECRET "fuzz-secret-0123456789abcdef0123456789"

static worker_t w;
static worker_config_t conf;
static int port;

static void start(void)
{
    static char args[][48] = {"fuzz",      "--host",
                              "127.0.0.1", "--port",
                              "0",         "--app",
                              "chat",      "--jwt-secret",
                              SECRET,      "--max-disconnection-duration",
                              "60000",     "--max-http-buffer-size",
                              "65536",     "--log-level",
                              "error"};
    enum { NARGS = sizeof(args) / sizeof(args[0]) };
    char *argv[NARGS + 1];
    for (int i = 0; i < NARGS; i++)
        argv[i] = args[i];
    argv[NARGS] = NULL;
    CHECK(worker_config_parse(&conf, NARGS, argv) == 0);
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LEVEL_ERROR);
    w.conf = &conf;
    w.loop = net_loop_new();
    w.ready = 1;
    snprintf(w.id, sizeof(w.id), "fz");
    char err[256];
    w.auth = auth_new(conf.jwt_alg, conf.jwt_secret, NULL, conf.jwt_leeway, err, sizeof(err));
    CHECK(w.auth != NULL);
    w.sio = sio_server_new(&w, app_chat());
    int r = 0;
    CHECK(engine_start(&w, sio_engine_handler(), &r) != NULL);
    port = net_listener_port(w.engine->listener);
    CHECK(port > 0);
}

/* A few non-blocking loop turns: accepts, reads, writes, deferred work. */
static void turns(int n)
{
    for (int i = 0; i < n; i++)
        event_base_loop(net_loop_base(w.loop), EVLOOP_NONBLOCK);
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = connect(fd, (struct sockaddr *)&a, sizeof(a));
    CHECK(r == 0 || errno == EINPROGRESS);
    turns(2);
    return fd;
}

/* Reads and drops what the worker wrote; returns the bytes read (-1 once it closed). */
static long drain_peer(int fd, char *keep, size_t cap)
{
    char buf[65536];
    long total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            if (keep != NULL && (size_t)total < cap) {
                size_t m = (size_t)n < cap - (size_t)total ? (size_t)n : cap - (size_t)total;
                memcpy(keep + total, buf, m);
            }
            total += n;
            continue;
        }
        if (n == 0)
            return total > 0 ? total : -1;
        return total;
    }
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        if (k < 0 && errno == EAGAIN) {
            turns(1);
            if (drain_peer(fd, NULL, 0) < 0)
                return; /* the worker closed: the rest would not be read */
            continue;
        }
        return; /* EPIPE / ECONNRESET: the worker closed the connection */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (w.loop == NULL)
        start();
    if (size == 0)
        return 0;
    struct engine *e = w.engine;
    unsigned seed = data[0];
    data++;
    size--;
    int fd = dial();
    size_t off = 0;
    while (off < size) {
        seed = seed * 1103515245u + 12345u;
        size_t chunk = 1 + (seed >> 16) % 512;
        if (chunk > size - off)
            chunk = size - off;
        send_all(fd, data + off, chunk);
        off += chunk;
        turns(2);
        drain_peer(fd, NULL, 0);
    }
    turns(4);
    drain_peer(fd, NULL, 0);
    close(fd);
    for (int i = 0; i < 50 && e->conns > 0; i++)
        turns(1);
    CHECK(e->conns == 0);
    CHECK(list_empty(&e->clients) && list_empty(&e->ws_clients));

    /* Every session reaped: close them all as a shutdown does, and let the loop finish. */
    eio_session_table_shutdown(e->sessions);
    turns(4);
    CHECK(engine_session_count(e) == 0);
    CHECK(engine_zombie_count(e) == 0);

    /* Still serving. */
    fd = dial();
    static const char health[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, (const uint8_t *)health, sizeof(health) - 1);
    char answer[64] = {0};
    long got = 0;
    for (int i = 0; i < 50 && got < 12; i++) {
        turns(1);
        long n = drain_peer(fd, answer + got, sizeof(answer) - 1 - (size_t)got);
        if (n > 0)
            got += n;
        else if (n < 0)
            break;
    }
    CHECK(strncmp(answer, "HTTP/1.1 200", 12) == 0);
    close(fd);
    for (int i = 0; i < 50 && e->conns > 0; i++)
        turns(1);
    CHECK(e->conns == 0);
    return 0;
}
