/*
 * Unit tests for worker/admin: the three endpoints and the counters /metrics reads from
 * the modules (the sessions' in stats.eio, the front's and Socket.IO's in stats).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "admin.h"
#include "net/loop.h"

static int has(const sioc_buf_t *b, const char *line)
{
    size_t n = strlen(line);
    for (size_t i = 0; i + n <= b->len; i++)
        if ((i == 0 || b->base[i - 1] == '\n') && memcmp(b->base + i, line, n) == 0)
            return 1;
    return 0;
}

static void test_health_ready(void **state)
{
    (void)state;
    worker_t w;
    memset(&w, 0, sizeof(w));
    w.ready = 1;
    admin_response_t r;
    assert_int_equal(admin_serve(&w, SIOC_LIT("/health"), &r), 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain");
    assert_int_equal(r.body.len, 3);
    assert_memory_equal(r.body.base, "ok\n", 3);
    buf_free(&r.body);
    assert_int_equal(admin_serve(&w, SIOC_LIT("/ready"), &r), 1);
    assert_int_equal(r.status, 200);
    assert_memory_equal(r.body.base, "ready\n", 6);
    buf_free(&r.body);
    w.draining = 1;
    assert_false(admin_ready(&w));
    assert_int_equal(admin_serve(&w, SIOC_LIT("/ready"), &r), 1);
    assert_int_equal(r.status, 503);
    assert_int_equal(r.body.len, 19);
    assert_memory_equal(r.body.base, "not ready\ndraining\n", 19);
    buf_free(&r.body);
    assert_int_equal(admin_serve(&w, SIOC_LIT("/healthz"), &r), 0);
    assert_int_equal(admin_serve(&w, SIOC_LIT("/"), &r), 0);
}

static void test_metrics(void **state)
{
    (void)state;
    worker_t w;
    memset(&w, 0, sizeof(w));
    w.loop = net_loop_new();
    w.ready = 1;
    w.stats.http_requests = 7;
    w.stats.eio.sessions_open = 3;
    w.stats.eio.packets_out = 11;
    w.stats.eio.drops_ping_timeout = 2;
    w.stats.drops_too_large = 5;
    admin_response_t r;
    assert_int_equal(admin_serve(&w, SIOC_LIT("/metrics"), &r), 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4");
    assert_true(has(&r.body, "# TYPE sioc_sessions_open gauge\n"));
    assert_true(has(&r.body, "sioc_sessions_open 3\n"));
    assert_true(has(&r.body, "sioc_http_requests_total 7\n"));
    assert_true(has(&r.body, "sioc_packets_out_total 11\n"));
    assert_true(has(&r.body, "sioc_dropped_total{reason=\"ping_timeout\"} 2\n"));
    assert_true(has(&r.body, "sioc_dropped_total{reason=\"too_large\"} 5\n"));
    assert_true(has(&r.body, "sioc_rooms 0\n"));
    assert_true(has(&r.body, "sioc_ready 1\n"));
    buf_free(&r.body);
    net_loop_free(w.loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_ready),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
