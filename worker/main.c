/*
 * main.c - sioc-worker: configuration, signals, the loop.
 *
 * SIGTERM / SIGINT start a graceful stop: the worker leaves the membership
 * set, refuses new sessions (503), /ready turns red, and the sessions are closed in batches with
 * "server shutting down" (WebSocket close 1001, a reconnectable close) so clients move to the other
 * workers without a stampede. The process exits when no session is left or at --drain-timeout. A
 * second signal exits at once.
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "admin_ui.h"
#include "app.h"
#include "auth.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/rand.h"
#include "config.h"
#include "eio_session.h"
#include "engine.h"
#include "net/loop.h"
#include "sio.h"
#include "worker.h"

typedef struct drain {
    worker_t *w;
    struct event *timer;
    long long deadline_ms;
    size_t batch;
} drain_t;

/* Closes sessions in batches so that reconnecting clients do not arrive at the other
 * workers all at once; exits when none is left or at the deadline. */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drain_t *d = arg;
    worker_t *w = d->w;
    size_t left = engine_session_count(w->engine);
    /* Closed polling sessions wait for their next poll to hand out the close
     * packet; the exit waits for them too (bounded by the deadline). */
    if ((left == 0 && engine_zombie_count(w->engine) == 0) || clock_ms() >= d->deadline_ms) {
        if (left > 0)
            engine_close_all(w->engine);
        log_info("drained: exiting");
        /* One more turn lets the close frames and responses leave. */
        struct timeval tv = {0, 100 * 1000};
        event_base_loopexit(net_loop_base(w->loop), &tv);
        return;
    }
    engine_close_some(w->engine, d->batch);
    struct timeval tv = {0, 100 * 1000};
    event_add(d->timer, &tv);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    drain_t *d = arg;
    worker_t *w = d->w;
    if (w->draining) {
        log_warn("second signal: exiting now");
        net_loop_break(w->loop);
        return;
    }
    size_t n = engine_session_count(w->engine);
    log_info("signal %d: draining %zu sessions within %ld ms", (int)sig, n, w->conf->drain_timeout);
    w->draining = 1;
    if (w->adapter != NULL)
        adapter_leave(w->adapter);
    engine_stop_handoff(w->engine);
    /* The listening socket stays open until the exit: new sessions are refused with a
     * 503 (a proxy places them elsewhere), while the polls of sessions closed by the
     * drain still arrive and collect their close packet. */
    /* About 20 batches over the first half of the drain window, at least 50 per batch. */
    long ticks = w->conf->drain_timeout / 200;
    if (ticks < 1)
        ticks = 1;
    d->batch = n / (size_t)ticks + 1;
    if (d->batch < 50)
        d->batch = 50;
    d->deadline_ms = clock_ms() + w->conf->drain_timeout;
    d->timer = evtimer_new(net_loop_base(w->loop), on_drain_tick, d);
    on_drain_tick(-1, 0, d);
}

int main(int argc, char **argv)
{
    worker_config_t conf;
    int r = worker_config_parse(&conf, argc, argv);
    if (r != 0) {
        worker_config_free(&conf);
        return r > 0 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN);
    log_set_component("sioc-worker");
    log_set_level(conf.log_level);

    worker_t w;
    memset(&w, 0, sizeof(w));
    w.conf = &conf;
    w.loop = net_loop_new();
    w.ready = 1;
    if (conf.worker_id != NULL)
        snprintf(w.id, sizeof(w.id), "%s", conf.worker_id);
    else
        rand_id(w.id, 8);

    int status = 1;
    if (conf.jwt_secret != NULL || conf.jwt_public_key != NULL) {
        char err[256];
        w.auth = auth_new(conf.jwt_alg, conf.jwt_secret, conf.jwt_public_key, conf.jwt_leeway, err,
                          sizeof(err));
        if (w.auth == NULL) {
            log_error("%s", err);
            goto fail_auth;
        }
    } else if (conf.app == WORKER_APP_CHAT) {
        log_warn("no JWT_SECRET / --jwt-public-key: the chat accepts unauthenticated clients");
    }

    const eio_handler_t *handler;
    if (conf.app == WORKER_APP_ECHO && strcmp(conf.path, "/socket.io/") != 0) {
        w.plain_eio = 1;
        handler = app_echo_engine();
    } else {
        const sio_app_t *app = conf.app == WORKER_APP_ECHO ? app_echo() : app_chat();
        if (conf.admin_ui)
            app = admin_ui_app(admin_ui_new(&w, app));
        w.sio = sio_server_new(&w, app);
        handler = sio_engine_handler();
    }
    if (conf.redis_url != NULL && w.sio != NULL) {
        char err[256];
        if (adapter_new(&w, err, sizeof(err)) == NULL) {
            log_error("%s", err);
            goto fail_listen;
        }
    }
    if (w.admin_ui != NULL)
        admin_ui_start(w.admin_ui);
    if (engine_start(&w, handler, &r) == NULL) {
        log_error("cannot start on %s:%d: %s", conf.host, conf.port, strerror(-r));
        goto fail_listen;
    }

    drain_t drain = {&w, NULL, 0, 0};
    struct event *sigterm = evsignal_new(net_loop_base(w.loop), SIGTERM, on_signal, &drain);
    struct event *sigint = evsignal_new(net_loop_base(w.loop), SIGINT, on_signal, &drain);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    log_info("worker %s listening on %s:%d%s (app %s, %s, %s adapter)", w.id, conf.host, conf.port,
             conf.path, conf.app == WORKER_APP_CHAT ? "chat" : "echo",
             w.auth ? conf.jwt_alg : "no auth", w.adapter ? conf.adapter_mode : "in-memory");
    if (conf.admin_port > 0)
        log_info("admin endpoints on %s:%d (/health, /ready, /metrics)", conf.admin_host,
                 conf.admin_port);
    net_loop_run(w.loop);
    log_info("worker %s stopped", w.id);
    engine_shutdown(w.engine);
    event_free(sigterm);
    event_free(sigint);
    if (drain.timer != NULL)
        event_free(drain.timer);
    status = 0;

fail_listen:
    admin_ui_stop(w.admin_ui);
    adapter_free(w.adapter);
    sio_server_free(w.sio);
    auth_free(w.auth);
fail_auth:
    /* The final turn frees closed connections, sessions and sockets. */
    net_loop_free(w.loop);
    engine_free(w.engine);
    admin_ui_free(w.admin_ui);
    worker_config_free(&conf);
    return status;
}
