/* Unit tests for common/base/addrcount: counting, the limit, holds that outlive
 * connections, and freeing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/addrcount.h"

#define A(s) s, strlen(s)

static void test_limit(void **state)
{
    (void)state;
    addrcount_t *ac = addrcount_new();
    addrcount_entry_t *e[3];
    e[0] = addrcount_acquire(ac, A("10.0.0.1"), 2);
    e[1] = addrcount_acquire(ac, A("10.0.0.1"), 2);
    assert_non_null(e[0]);
    assert_ptr_equal(e[0], e[1]);
    assert_int_equal(addrcount_count(e[0]), 2);
    /* Over the limit: refused, nothing counted. */
    assert_null(addrcount_acquire(ac, A("10.0.0.1"), 2));
    assert_int_equal(addrcount_get(ac, A("10.0.0.1")), 2);
    /* Another address has its own count; limit 0 is no limit. */
    e[2] = addrcount_acquire(ac, A("::1"), 1);
    assert_non_null(e[2]);
    assert_null(addrcount_acquire(ac, A("::1"), 1));
    assert_non_null(addrcount_acquire(ac, A("::1"), 0));
    assert_int_equal(addrcount_count(e[2]), 2);
    assert_int_equal(addrcount_size(ac), 2);
    assert_string_equal(addrcount_addr(e[2]), "::1");
    /* Releasing makes room again; the last release removes the address. */
    addrcount_release(e[1]);
    assert_int_equal(addrcount_get(ac, A("10.0.0.1")), 1);
    assert_non_null(addrcount_acquire(ac, A("10.0.0.1"), 2));
    addrcount_release(e[0]);
    addrcount_release(e[0]);
    assert_int_equal(addrcount_get(ac, A("10.0.0.1")), 0);
    assert_int_equal(addrcount_size(ac), 1);
    addrcount_release(e[2]);
    addrcount_release(e[2]);
    assert_int_equal(addrcount_size(ac), 0);
    addrcount_release(NULL);
    addrcount_drop(NULL);
    addrcount_free(ac);
}

static void test_hold(void **state)
{
    (void)state;
    addrcount_t *ac = addrcount_new();
    addrcount_entry_t *e = addrcount_acquire(ac, A("192.0.2.7"), 1);
    assert_non_null(e);
    addrcount_hold(e); /* a session keeps the address after its connection */
    addrcount_release(e);
    assert_int_equal(addrcount_size(ac), 1);
    assert_int_equal(addrcount_count(e), 0);
    assert_string_equal(addrcount_addr(e), "192.0.2.7");
    /* The held entry counts new connections as usual. */
    assert_ptr_equal(addrcount_acquire(ac, A("192.0.2.7"), 1), e);
    assert_null(addrcount_acquire(ac, A("192.0.2.7"), 1));
    addrcount_release(e);
    addrcount_drop(e);
    assert_int_equal(addrcount_size(ac), 0);
    /* Entries still in the table are freed with it. */
    assert_non_null(addrcount_acquire(ac, A("a"), 0));
    assert_non_null(addrcount_acquire(ac, A("b"), 0));
    addrcount_free(ac);
    addrcount_free(NULL);
}

static void test_many(void **state)
{
    (void)state;
    addrcount_t *ac = addrcount_new();
    addrcount_entry_t *e[1000];
    char buf[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(buf, sizeof(buf), "10.%d.%d.1", i / 256, i % 256);
        e[i] = addrcount_acquire(ac, buf, (size_t)n, 1);
        assert_non_null(e[i]);
    }
    assert_int_equal(addrcount_size(ac), 1000);
    for (int i = 0; i < 1000; i += 2)
        addrcount_release(e[i]);
    assert_int_equal(addrcount_size(ac), 500);
    assert_int_equal(addrcount_get(ac, A("10.0.1.1")), 1);
    assert_int_equal(addrcount_get(ac, A("10.0.2.1")), 0);
    addrcount_free(ac);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_hold),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
