/* Unit tests for proxy/config: the --workers list, and the environment rules of base/opts
 * as the proxy sees them (an empty variable is unset; flags win). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "config.h"

static void test_workers_list(void **state)
{
    (void)state;
    proxy_static_worker_t *w;
    size_t n;
    char err[256];
    assert_int_equal(proxy_config_parse_workers("w1=127.0.0.1:3001, w2=[::1]:3002,,w_3=localhost:9",
                                                0, &w, &n, err, sizeof(err)),
                     0);
    assert_int_equal(n, 3);
    assert_string_equal(w[0].id, "w1");
    assert_string_equal(w[1].addr, "[::1]:3002");
    assert_int_equal(w[1].sa.ss_family, AF_INET6);
    assert_string_equal(w[2].id, "w_3");
    assert_string_equal(w[0].handoff, "");
    free(w);
    /* A hand-off socket path after '@'. */
    assert_int_equal(
        proxy_config_parse_workers("w1=127.0.0.1:3001@/run/sioc/w1.sock,w2=127.0.0.1:3002", 0, &w,
                                   &n, err, sizeof(err)),
        0);
    assert_int_equal(n, 2);
    assert_string_equal(w[0].addr, "127.0.0.1:3001");
    assert_string_equal(w[0].handoff, "/run/sioc/w1.sock");
    assert_string_equal(w[1].handoff, "");
    free(w);
    const char *bad[] = {"w1",
                         "w1=127.0.0.1",
                         "w1=127.0.0.1:0",
                         "w1=127.0.0.1:70000",
                         "bad.id=127.0.0.1:1",
                         "w1=1.1.1.1:1,w1=1.1.1.1:2",
                         "w1=no.such.host:1",
                         "w1=127.0.0.1:1@",
                         "w1=127.0.0.1:1@relative.sock"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(proxy_config_parse_workers(bad[i], 0, &w, &n, err, sizeof(err)), -1);
        assert_null(w);
        assert_true(strlen(err) > 0);
    }
    assert_int_equal(proxy_config_parse_workers("", 0, &w, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
}

static void test_environment(void **state)
{
    (void)state;
    proxy_config_t c;
    setenv("WORKERS", "w1=127.0.0.1:3001", 1);
    setenv("AFFINITY_COOKIE", "", 1);
    setenv("MAX_CONNECTIONS", "", 1);
    setenv("REDIS_URL", "", 1);
    char prog[] = "sioc-proxy";
    char *argv0[] = {prog, NULL};
    assert_int_equal(proxy_config_parse(&c, 1, argv0), 0);
    assert_string_equal(c.cookie_name, "sioc_affinity"); /* empty = unset: the default */
    assert_int_equal(c.max_connections, 100000);
    assert_null(c.redis_url);
    assert_int_equal(c.num_static_workers, 1);
    proxy_config_free(&c);
    /* An empty flag value is a value: no affinity cookie. */
    char empty[] = "", flag[] = "--affinity-cookie";
    char *argv1[] = {prog, flag, empty, NULL};
    assert_int_equal(proxy_config_parse(&c, 3, argv1), 0);
    assert_string_equal(c.cookie_name, "");
    proxy_config_free(&c);
    /* A bad number stops the start. */
    setenv("MAX_CONNECTIONS", "ten", 1);
    assert_int_equal(proxy_config_parse(&c, 1, argv0), -1);
    proxy_config_free(&c);
    unsetenv("MAX_CONNECTIONS");
    unsetenv("AFFINITY_COOKIE");
    unsetenv("REDIS_URL");
    unsetenv("WORKERS");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers_list),
        cmocka_unit_test(test_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
