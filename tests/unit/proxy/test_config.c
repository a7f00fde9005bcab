/* Unit tests for proxy/config: the --workers list. */
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
    free(w);
    const char *bad[] = {"w1",
                         "w1=127.0.0.1",
                         "w1=127.0.0.1:0",
                         "w1=127.0.0.1:70000",
                         "bad.id=127.0.0.1:1",
                         "w1=1.1.1.1:1,w1=1.1.1.1:2",
                         "w1=no.such.host:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(proxy_config_parse_workers(bad[i], 0, &w, &n, err, sizeof(err)), -1);
        assert_null(w);
        assert_true(strlen(err) > 0);
    }
    assert_int_equal(proxy_config_parse_workers("", 0, &w, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
