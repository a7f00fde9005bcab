/* Unit tests for common/base: buf, shared, rand, list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/list.h"
#include "base/rand.h"
#include "base/shared.h"

static void test_buf_append_and_consume(void **state)
{
    (void)state;
    sioc_buf_t b = {0};
    assert_int_equal(buf_append_str(&b, "hello "), 0);
    assert_int_equal(buf_append_u64(&b, 18446744073709551615ULL), 0);
    assert_int_equal(b.len, 26);
    assert_memory_equal(b.base, "hello 18446744073709551615", 26);
    buf_consume(&b, 6);
    assert_memory_equal(b.base, "18446744073709551615", 20);
    buf_free(&b);
    assert_null(b.base);
}

static void test_buf_limit(void **state)
{
    (void)state;
    sioc_buf_t b = {.limit = 10};
    assert_int_equal(buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(buf_append_byte(&b, 'x'), SIOC_EMSGSIZE);
    assert_int_equal(b.len, 10);
    buf_free(&b);
}

static void test_shared_refcount(void **state)
{
    (void)state;
    sioc_shared_t *s = shared_copy("abc", 3);
    assert_non_null(s);
    shared_ref(s);
    assert_int_equal(s->refs, 2);
    shared_unref(s);
    assert_int_equal(s->refs, 1);
    assert_memory_equal(s->data, "abc", 3);
    shared_unref(s);
}

static void test_rand_id_alphabet(void **state)
{
    (void)state;
    char id[21];
    rand_id(id, 20);
    assert_int_equal(strlen(id), 20);
    assert_int_equal(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                     20);
    char id2[21];
    rand_id(id2, 20);
    assert_string_not_equal(id, id2);
}

struct item {
    int v;
    sioc_list_t link;
};

static void test_list(void **state)
{
    (void)state;
    sioc_list_t head, *pos, *tmp;
    list_init(&head);
    struct item a = {1, {0}}, b = {2, {0}}, c = {3, {0}};
    list_insert_tail(&head, &a.link);
    list_insert_tail(&head, &b.link);
    list_insert_head(&head, &c.link);
    int order[3], n = 0;
    list_foreach(pos, &head) order[n++] = container_of(pos, struct item, link)->v;
    assert_int_equal(order[0], 3);
    assert_int_equal(order[1], 1);
    assert_int_equal(order[2], 2);
    list_foreach_safe(pos, tmp, &head) list_remove(pos);
    assert_true(list_empty(&head));
    assert_false(list_linked(&a.link));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_and_consume),
        cmocka_unit_test(test_buf_limit),
        cmocka_unit_test(test_shared_refcount),
        cmocka_unit_test(test_rand_id_alphabet),
        cmocka_unit_test(test_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
