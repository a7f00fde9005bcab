/*
 * main.c - sioc-worker: configuration, signals, the loop.
 *
 * SIGTERM / SIGINT start a graceful stop: the listener stops accepting,
 * /ready turns red, every session is closed with "server shutting down"
 * (WebSocket close 1001) so clients reconnect to another worker, and the
 * process exits once output is flushed or --drain-timeout passes.
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "app.h"
#include "auth.h"
#include "base/log.h"
#include "base/rand.h"
#include "config.h"
#include "engine.h"
#include "net/loop.h"
#include "sio.h"
#include "worker.h"

static void on_exit_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    worker_t *w = arg;
    net_loop_break(w->loop);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    worker_t *w = arg;
    if (w->draining) {
        log_warn("second signal: exiting now");
        net_loop_break(w->loop);
        return;
    }
    log_info("signal %d: draining %zu sessions", (int)sig, engine_session_count(w));
    w->draining = 1;
    if (w->adapter != NULL)
        adapter_leave(w->adapter);
    engine_stop_accepting(w);
    engine_close_all(w);
    /* Give the close frames a moment to leave, bounded by the drain timeout. */
    long ms = w->conf->drain_timeout < 500 ? w->conf->drain_timeout : 500;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_once(net_loop_base(w->loop), -1, EV_TIMEOUT, on_exit_timer, w, &tv);
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
    hmap_init(&w.sessions);
    hmap_init(&w.per_ip);
    list_init(&w.handshake_fifo);
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
        w.sio = sio_server_new(&w, conf.app == WORKER_APP_ECHO ? app_echo() : app_chat());
        handler = sio_engine_handler();
    }
    if (conf.redis_url != NULL && w.sio != NULL) {
        char err[256];
        if (adapter_new(&w, err, sizeof(err)) == NULL) {
            log_error("%s", err);
            goto fail_listen;
        }
    }
    r = engine_start(&w, handler);
    if (r != 0) {
        log_error("cannot listen on %s:%d: %s", conf.host, conf.port, strerror(-r));
        goto fail_listen;
    }

    struct event *sigterm = evsignal_new(net_loop_base(w.loop), SIGTERM, on_signal, &w);
    struct event *sigint = evsignal_new(net_loop_base(w.loop), SIGINT, on_signal, &w);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    log_info("worker %s listening on %s:%d%s (app %s, %s, %s adapter)", w.id, conf.host,
             conf.port, conf.path, conf.app == WORKER_APP_CHAT ? "chat" : "echo",
             w.auth ? conf.jwt_alg : "no auth",
             w.adapter ? conf.adapter_mode : "in-memory");
    net_loop_run(w.loop);
    log_info("worker %s stopped", w.id);
    event_free(sigterm);
    event_free(sigint);
    status = 0;

fail_listen:
    adapter_free(w.adapter);
    sio_server_free(w.sio);
    auth_free(w.auth);
fail_auth:
    hmap_free(&w.sessions);
    hmap_free(&w.per_ip);
    worker_config_free(&conf);
    return status;
}
