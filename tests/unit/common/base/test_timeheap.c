/* Unit tests for common/base/timeheap: order, moving and removing queued nodes, and a random
 * sequence checked against a plain scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "base/timeheap.h"

static void test_order(void **state)
{
    (void)state;
    timeheap_t h = TIMEHEAP_INIT;
    timeheap_node_t n[5] = {{0}};
    long long due[5] = {50, 10, 40, 10, 30};
    for (int i = 0; i < 5; i++)
        timeheap_push(&h, &n[i], due[i]);
    assert_int_equal(timeheap_size(&h), 5);
    assert_true(timeheap_queued(&n[2]));
    /* Nothing is due before the earliest deadline. */
    assert_null(timeheap_pop_due(&h, 9));
    long long last = 0;
    for (int i = 0; i < 5; i++) {
        timeheap_node_t *x = timeheap_pop_due(&h, 100);
        assert_non_null(x);
        assert_false(timeheap_queued(x));
        assert_true(x->due >= last);
        last = x->due;
    }
    assert_null(timeheap_top(&h));
    timeheap_free(&h);
}

static void test_move_and_remove(void **state)
{
    (void)state;
    timeheap_t h = TIMEHEAP_INIT;
    timeheap_node_t a = {0}, b = {0}, c = {0};
    timeheap_push(&h, &a, 10);
    timeheap_push(&h, &b, 20);
    timeheap_push(&h, &c, 30);
    /* Pushing a queued node moves it. */
    timeheap_push(&h, &c, 5);
    assert_ptr_equal(timeheap_top(&h), &c);
    timeheap_push(&h, &c, 25);
    assert_ptr_equal(timeheap_top(&h), &a);
    assert_int_equal(timeheap_size(&h), 3);
    timeheap_remove(&h, &a);
    assert_false(timeheap_queued(&a));
    timeheap_remove(&h, &a); /* not queued: nothing */
    assert_ptr_equal(timeheap_pop_due(&h, 100), &b);
    assert_ptr_equal(timeheap_pop_due(&h, 100), &c);
    assert_int_equal(timeheap_size(&h), 0);
    timeheap_free(&h);
}

#define N 2000

static void test_random(void **state)
{
    (void)state;
    timeheap_t h = TIMEHEAP_INIT;
    static timeheap_node_t n[N];
    static long long want[N]; /* -1 = not queued */
    for (int i = 0; i < N; i++)
        want[i] = -1;
    srand(7);
    for (int step = 0; step < 50000; step++) {
        int i = rand() % N;
        int op = rand() % 4;
        if (op < 2) {
            want[i] = rand() % 100000;
            timeheap_push(&h, &n[i], want[i]);
        } else if (op == 2) {
            timeheap_remove(&h, &n[i]);
            want[i] = -1;
        } else {
            long long min = -1;
            size_t queued = 0;
            for (int j = 0; j < N; j++) {
                if (want[j] >= 0) {
                    queued++;
                    if (min < 0 || want[j] < min)
                        min = want[j];
                }
            }
            assert_int_equal(timeheap_size(&h), queued);
            timeheap_node_t *x = timeheap_pop_due(&h, min < 0 ? 0 : min);
            if (min < 0) {
                assert_null(x);
                continue;
            }
            assert_non_null(x);
            assert_int_equal(x->due, min);
            want[x - n] = -1;
        }
        assert_int_equal(timeheap_queued(&n[i]), want[i] >= 0);
    }
    /* Draining returns every node in order and shrinks the array. */
    long long last = -1;
    timeheap_node_t *x;
    while ((x = timeheap_pop_due(&h, 1LL << 40)) != NULL) {
        assert_true(x->due >= last);
        last = x->due;
    }
    assert_int_equal(timeheap_size(&h), 0);
    timeheap_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_move_and_remove),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
