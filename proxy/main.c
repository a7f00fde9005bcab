/*
 * main.c - sioc-proxy: configuration, signals, the loop, graceful stop.
 *
 * SIGTERM / SIGINT start a graceful stop: the listener stops accepting,
 * /ready turns red, idle client connections close, requests in flight are
 * answered with "Connection: close", and once nothing is left (or after
 * --drain-timeout, when the remaining tunnels and requests are cut) the
 * process exits 0. A second signal exits at once.
 */
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/opts.h"
#include "config.h"
#include "discovery.h"
#include "front.h"
#include "net/listener.h"
#include "net/loop.h"
#include "net/redis_url.h"
#include "net/tls.h"
#include "proxy.h"
#include "tunnel.h"
#include "workers.h"

#define DRAIN_POLL_MS 100

typedef struct {
    proxy_t *p;
    struct event *poll;
    long long deadline;
} drain_t;

static void on_discovered(discovery_t *d, const workers_member_t *m, size_t n, void *data)
{
    (void)d;
    proxy_t *p = data;
    workers_sync(p->workers, m, n);
}

static void on_drain_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    drain_t *d = arg;
    proxy_t *p = d->p;
    if (p->nclients + p->ntunnels == 0) {
        net_loop_break(p->loop);
        return;
    }
    if (clock_ms() >= d->deadline) {
        log_info("drain timeout: closing %zu connections and %zu tunnels", p->nclients,
                 p->ntunnels);
        tunnel_close_all(p);
        front_close_all(p);
        net_loop_break(p->loop);
        return;
    }
    front_drain(p);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    drain_t *d = arg;
    proxy_t *p = d->p;
    if (p->draining) {
        log_warn("second signal: exiting now");
        net_loop_break(p->loop);
        return;
    }
    log_info("signal %d: draining %zu connections and %zu tunnels", (int)sig, p->nclients,
             p->ntunnels);
    p->draining = 1;
    net_listener_pause(p->listener);
    front_drain(p);
    workers_close_idle(p->workers);
    d->deadline = clock_ms() + p->conf->drain_timeout;
    struct timeval tv = {0, DRAIN_POLL_MS * 1000};
    event_add(d->poll, &tv);
    event_active(d->poll, EV_TIMEOUT, 0);
}

int main(int argc, char **argv)
{
    proxy_config_t conf;
    int r = proxy_config_parse(&conf, argc, argv);
    if (r != 0) {
        proxy_config_free(&conf);
        return r > 0 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN);
    log_set_component("sioc-proxy");
    log_set_level(conf.log_level);

    proxy_t p;
    memset(&p, 0, sizeof(p));
    p.conf = &conf;
    p.loop = net_loop_new();
    p.base = net_loop_base(p.loop);
    p.per_ip = addrcount_new();
    list_init(&p.clients);
    list_init(&p.tunnels);
    const char *secret = opts_env("AFFINITY_SECRET");
    affinity_secret_init(&p.secret, secret);
    if (conf.cookie_name[0] != '\0' && secret == NULL)
        log_info("AFFINITY_SECRET unset: affinity cookies are signed with a random key and "
                 "do not survive a restart or span replicas");
    sioc_iov_t bad;
    affinity_cidr_list_parse(conf.trusted_proxies, &p.trusted, &p.ntrusted, &bad);
    p.route.secret = &p.secret;
    p.route.cookie_name = iov_make(conf.cookie_name, strlen(conf.cookie_name));
    p.route.trusted = p.trusted;
    p.route.ntrusted = p.ntrusted;
    p.route.placement = conf.placement;
    guard_bucket_init(&p.handshakes, conf.max_handshake_rate, conf.handshake_burst, clock_ms());
    guard_rates_init(&p.handshakes_per_ip, conf.max_handshake_rate_per_ip,
                     conf.handshake_burst_per_ip, HANDSHAKE_RATE_ADDRS);

    int status = 1;
    char err[512];
    if (conf.tls_cert != NULL) {
        p.tls = net_tls_server_new(conf.tls_cert, conf.tls_key, err, sizeof(err));
        if (p.tls == NULL) {
            log_error("%s", err);
            goto fail_tls;
        }
    }
    p.workers = workers_new(&p);
    if (conf.redis_url != NULL) {
        redis_url_t url;
        p.discovery = NULL;
        if (redis_url_parse(conf.redis_url, &url, err, sizeof(err)) == 0 &&
            redis_url_set_tls_files(&url, conf.redis_tls_ca, conf.redis_tls_cert,
                                    conf.redis_tls_key, err, sizeof(err)) == 0 &&
            redis_url_set_sentinel_auth(&url, conf.redis_sentinel_user,
                                        conf.redis_sentinel_password, err, sizeof(err)) == 0)
            p.discovery = discovery_new(p.loop, &url, conf.redis_key, conf.discovery_interval,
                                        conf.discovery_stale, on_discovered, &p, err, sizeof(err));
        if (p.discovery == NULL) {
            log_error("--redis-url: %s", err);
            goto fail_discovery;
        }
    }
    int e = 0;
    p.listener = net_listener_new(p.loop, conf.host, conf.port, 4096, front_accept, &p, &e);
    if (p.listener == NULL) {
        log_error("cannot listen on %s:%d: %s", conf.host, conf.port, strerror(-e));
        goto fail_listen;
    }
    if (conf.admin_port != 0) {
        p.admin = admin_new(&p, conf.admin_host, conf.admin_port, &e);
        if (p.admin == NULL) {
            log_error("cannot listen on admin %s:%d: %s", conf.admin_host, conf.admin_port,
                      strerror(-e));
            goto fail_admin;
        }
    }

    drain_t drain = {&p, NULL, 0};
    drain.poll = event_new(p.base, -1, EV_PERSIST, on_drain_poll, &drain);
    struct event *sigterm = evsignal_new(p.base, SIGTERM, on_signal, &drain);
    struct event *sigint = evsignal_new(p.base, SIGINT, on_signal, &drain);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    log_info("listening on %s:%d (%s), %zu static workers%s%s, admin %s", conf.host,
             net_listener_port(p.listener), p.tls ? "https/wss" : "http/ws",
             conf.num_static_workers, conf.redis_url ? ", discovery in " : "",
             conf.redis_url ? conf.redis_key : "", conf.admin_port ? "on" : "off");
    if (conf.placement != ROUTE_PLACE_HASH)
        log_info("new sessions placed by %s", route_placement_name(conf.placement));
    net_loop_run(p.loop);
    log_info("stopped");
    event_free(sigterm);
    event_free(sigint);
    event_free(drain.poll);
    tunnel_close_all(&p);
    front_close_all(&p);
    status = 0;

    admin_free(p.admin);
fail_admin:
    net_listener_free(p.listener);
fail_listen:
    discovery_free(p.discovery);
fail_discovery:
    workers_free(p.workers);
    guard_rates_free(&p.handshakes_per_ip);
    net_tls_free(p.tls);
fail_tls:
    /* Deferred frees queued by the closes above run here. */
    net_loop_free(p.loop);
    addrcount_free(p.per_ip);
    free(p.trusted);
    proxy_config_free(&conf);
    return status;
}
