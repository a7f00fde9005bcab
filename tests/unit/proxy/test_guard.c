/* Unit tests for proxy/guard: connection admission and the handshake token bucket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "guard.h"

static void test_bucket(void **state)
{
    (void)state;
    guard_bucket_t b;
    guard_bucket_init(&b, 10, 10, 1000);
    int ok = 0;
    for (int i = 0; i < 25; i++)
        ok += guard_bucket_take(&b, 1000);
    assert_int_equal(ok, 10); /* the burst */
    assert_false(guard_bucket_take(&b, 1050));
    assert_true(guard_bucket_take(&b, 1100)); /* 100 ms = one token at 10/s */
    assert_false(guard_bucket_take(&b, 1100));
    /* A long pause refills to the burst only. */
    ok = 0;
    for (int i = 0; i < 25; i++)
        ok += guard_bucket_take(&b, 1000000000LL);
    assert_int_equal(ok, 10);
    /* Sustained: 1 s at 10/s admits ~10. */
    ok = 0;
    for (long long t = 1000000001LL; t <= 1000001000LL; t++)
        ok += guard_bucket_take(&b, t);
    assert_in_range(ok, 9, 11);
    /* rate 0 = off */
    guard_bucket_init(&b, 0, 0, 0);
    for (int i = 0; i < 1000; i++)
        assert_true(guard_bucket_take(&b, 0));
    /* time going backwards does not mint tokens */
    guard_bucket_init(&b, 5, 1, 5000);
    assert_true(guard_bucket_take(&b, 5000));
    assert_false(guard_bucket_take(&b, 4000));
}

static void test_rates(void **state)
{
    (void)state;
    guard_rates_t t;
    guard_rates_init(&t, 10, 3, 2);
    /* Each address has its own bucket. */
    for (int i = 0; i < 3; i++)
        assert_true(guard_rates_take(&t, "a", 1, 1000));
    assert_false(guard_rates_take(&t, "a", 1, 1000));
    assert_true(guard_rates_take(&t, "b", 1, 1000));
    assert_true(guard_rates_take(&t, "a", 1, 1100)); /* refilled one token */
    assert_false(guard_rates_take(&t, "a", 1, 1100));
    assert_int_equal(t.map.count, 2);
    /* Full table: the least recently used address ("b") gives its place up. */
    assert_true(guard_rates_take(&t, "c", 1, 1100));
    assert_int_equal(t.map.count, 2);
    assert_false(guard_rates_take(&t, "a", 1, 1100)); /* "a" was kept, still empty */
    for (int i = 0; i < 3; i++)
        assert_true(guard_rates_take(&t, "b", 1, 1100)); /* "b" starts over */
    guard_rates_free(&t);
    /* rate 0 = off, and nothing is stored */
    guard_rates_init(&t, 0, 1, 2);
    for (int i = 0; i < 100; i++)
        assert_true(guard_rates_take(&t, "a", 1, 0));
    assert_int_equal(t.map.count, 0);
    guard_rates_free(&t);
}

static void test_conn_admit(void **state)
{
    (void)state;
    addrcount_t *ac = addrcount_new();
    addrcount_entry_t *e1, *e2, *e3;
    assert_int_equal(guard_conn_admit(ac, "10.0.0.1", 8, 0, 10, 2, &e1), GUARD_ADMIT);
    assert_int_equal(guard_conn_admit(ac, "10.0.0.1", 8, 1, 10, 2, &e2), GUARD_ADMIT);
    assert_int_equal(guard_conn_admit(ac, "10.0.0.1", 8, 2, 10, 2, &e3), GUARD_OVER_ADDR);
    assert_null(e3);
    /* The total cap comes first and counts nothing. */
    assert_int_equal(guard_conn_admit(ac, "10.0.0.2", 8, 10, 10, 2, &e3), GUARD_OVER_TOTAL);
    assert_null(e3);
    assert_int_equal(addrcount_size(ac), 1);
    /* No per-address limit. */
    assert_int_equal(guard_conn_admit(ac, "10.0.0.1", 8, 2, 10, 0, &e3), GUARD_ADMIT);
    assert_int_equal(addrcount_count(e3), 3);
    addrcount_release(e1);
    addrcount_release(e2);
    addrcount_release(e3);
    assert_int_equal(addrcount_size(ac), 0);
    addrcount_free(ac);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket),
        cmocka_unit_test(test_rates),
        cmocka_unit_test(test_conn_admit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
