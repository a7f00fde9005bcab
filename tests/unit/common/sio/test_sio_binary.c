/* Unit tests for common/sio/sio_binary: placeholder collection, checks, renumbering, rewriting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "sio/jscan.h"
#include "sio/sio_binary.h"

#define PH(n) "{\"_placeholder\":true,\"num\":" #n "}"

/* A heap copy of exactly n bytes, so that ASan catches any read past the input. */
static sioc_iov_t exact(const char *s)
{
    size_t n = strlen(s);
    char *c = malloc(n ? n : 1);
    assert_non_null(c);
    memcpy(c, s, n);
    return iov_make(c, n);
}

static void release(sioc_iov_t v)
{
    free((void *)v.base);
}

static void expect_nums(const char *json, unsigned attachments, const unsigned *want, int n)
{
    sioc_iov_t j = exact(json);
    unsigned nums[16];
    const char *reason = NULL;
    int r = sio_binary_collect(j, attachments, nums, 16, &reason);
    if (r != n)
        fail_msg("'%s': %d placeholders (%s), want %d", json, r, reason ? reason : "", n);
    for (int i = 0; i < n; i++)
        assert_int_equal(nums[i], want[i]);
    assert_int_equal(sio_binary_check(j, attachments, NULL), n);
    release(j);
}

static void test_collect(void **state)
{
    (void)state;
    expect_nums("[\"message\"," PH(0) "," PH(1) "]", 2, (unsigned[]){0, 1}, 2);
    expect_nums("[" PH(0) "]", 1, (unsigned[]){0}, 1);
    expect_nums("[{\"a\":[" PH(2) "]}," PH(0) ",{\"b\":{\"c\":" PH(1) "}}]", 3,
                (unsigned[]){2, 0, 1}, 3);
    expect_nums(PH(0), 1, (unsigned[]){0}, 1);
    expect_nums(" [ { \"num\" : 1 , \"_placeholder\" : true } ] ", 2, (unsigned[]){1}, 1);
    expect_nums("[{\"\\u005fplaceholder\":true,\"num\":0}]", 1, (unsigned[]){0}, 1);
    expect_nums("[" PH(0) "," PH(0) "]", 1, (unsigned[]){0, 0}, 2);
    /* Plain data. */
    expect_nums("[\"a\",1,null,{\"x\":[true]}]", 0, NULL, 0);
    /* JSON text inside a string is a string. */
    expect_nums("[\"{\\\"_placeholder\\\":true,\\\"num\\\":0}\"]", 0, NULL, 0);
    expect_nums("[{\"_placeholder\":false,\"num\":0}]", 0, NULL, 0);
    expect_nums("[{\"_placeholder\":\"true\",\"num\":9}]", 0, NULL, 0);
    expect_nums("[{\"x\":{\"_placeholder\":1}}]", 0, NULL, 0);
    expect_nums("{}", 0, NULL, 0);
    expect_nums("7", 0, NULL, 0);
    /* Siblings: a marked object does not mark the next one at the same depth. */
    expect_nums("[{\"_placeholder\":false},{\"num\":0,\"other\":1}]", 0, NULL, 0);
}

static void test_collect_rejects(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        unsigned attachments;
    } bad[] = {
        {"[" PH(1) "]", 1},
        {"[" PH(0) "]", 0},
        {"[{\"a\":" PH(5) "}]", 5},
        {"[{\"_placeholder\":true}]", 1},
        {"[{\"_placeholder\":true,\"num\":0,\"x\":1}]", 1},
        {"[{\"_placeholder\":true,\"num\":-1}]", 1},
        {"[{\"_placeholder\":true,\"num\":0.5}]", 1},
        {"[{\"_placeholder\":true,\"num\":\"0\"}]", 1},
        {"[{\"_placeholder\":true,\"num\":" PH(0) "}]", 1},
        {"[" PH(0) ",", 1},
        {"", 1},
        {"[1,]", 1},
        {"[" PH(0) "] x", 1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sioc_iov_t j = exact(bad[i].json);
        const char *reason = NULL;
        unsigned nums[4];
        if (sio_binary_collect(j, bad[i].attachments, nums, 4, &reason) != SIOC_EPROTO)
            fail_msg("'%s' accepted", bad[i].json);
        assert_non_null(reason);
        assert_int_equal(sio_binary_check(j, bad[i].attachments, NULL), SIOC_EPROTO);
        release(j);
    }
}

static void test_collect_cap(void **state)
{
    (void)state;
    unsigned nums[2] = {77, 77};
    sioc_iov_t j = exact("[" PH(2) "," PH(1) "," PH(0) "]");
    assert_int_equal(sio_binary_collect(j, 3, nums, 1, NULL), 3);
    assert_int_equal(nums[0], 2);
    assert_int_equal(nums[1], 77);
    assert_int_equal(sio_binary_collect(j, 3, NULL, 0, NULL), 3);
    release(j);
}

static void test_renumber_and_rewrite(void **state)
{
    (void)state;
    sioc_iov_t j = exact(" [" PH(3) ", {\"x\" : " PH(1) "}, " PH(3) "] ");
    unsigned map[5], order[5];
    assert_int_equal(sio_binary_renumber(j, 5, map, order, NULL), 2);
    assert_int_equal(map[3], 0);
    assert_int_equal(map[1], 1);
    assert_int_equal(map[0], SIO_BINARY_UNUSED);
    assert_int_equal(map[2], SIO_BINARY_UNUSED);
    assert_int_equal(map[4], SIO_BINARY_UNUSED);
    assert_int_equal(order[0], 3);
    assert_int_equal(order[1], 1);

    sioc_buf_t b = {0};
    assert_int_equal(buf_append_str(&b, "452-"), 0);
    assert_int_equal(sio_binary_rewrite(&b, j, map, 5, NULL), 0);
    static const char want[] = "452-[" PH(0) ", {\"x\" : " PH(1) "}, " PH(0) "]";
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.base, want, b.len);

    /* The rewritten value is valid and numbered 0..n-1 in order. */
    unsigned nums[3];
    assert_int_equal(sio_binary_collect(iov_make(b.base + 4, b.len - 4), 2, nums, 3, NULL), 3);
    assert_int_equal(nums[0], 0);
    assert_int_equal(nums[1], 1);
    assert_int_equal(nums[2], 0);

    /* A num the map does not cover, or maps to nothing: error, buffer unchanged. */
    size_t len = b.len;
    const char *reason = NULL;
    assert_int_equal(sio_binary_rewrite(&b, j, map, 3, &reason), SIOC_EPROTO);
    assert_non_null(reason);
    unsigned partial[5] = {0, SIO_BINARY_UNUSED, 2, 0, 4};
    assert_int_equal(sio_binary_rewrite(&b, j, partial, 5, &reason), SIOC_EPROTO);
    assert_string_equal(reason, "placeholder maps to no attachment");
    assert_int_equal(b.len, len);
    assert_int_equal(sio_binary_rewrite(&b, SIOC_LIT("[1,"), map, 5, NULL), SIOC_EPROTO);
    assert_int_equal(b.len, len);
    buf_free(&b);

    /* Output limit hit in the middle: unchanged. */
    sioc_buf_t small = {.limit = 30};
    assert_int_equal(sio_binary_rewrite(&small, j, map, 5, NULL), SIOC_EMSGSIZE);
    assert_int_equal(small.len, 0);
    buf_free(&small);
    release(j);
}

static void test_rewrite_canonicalises(void **state)
{
    (void)state;
    unsigned id[2] = {0, 1};
    sioc_buf_t b = {0};
    sioc_iov_t j =
        exact("[{ \"num\":1,\"\\u005fplaceholder\" : true },\"{\\\"_placeholder\\\":true}\",[" PH(
            0) "]]");
    assert_int_equal(sio_binary_rewrite(&b, j, id, 2, NULL), 0);
    static const char want[] = "[" PH(1) ",\"{\\\"_placeholder\\\":true}\",[" PH(0) "]]";
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.base, want, b.len);
    release(j);

    /* Values without placeholders are copied verbatim, outer whitespace aside. */
    static const char *plain[] = {"1", "\"x\"", "{\"a\":[1, 2 ,3]}", "[]", "null"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        buf_reset(&b);
        j = exact(plain[i]);
        assert_int_equal(sio_binary_rewrite(&b, j, NULL, 0, NULL), 0);
        assert_int_equal(b.len, strlen(plain[i]));
        assert_memory_equal(b.base, plain[i], b.len);
        release(j);
    }
    buf_reset(&b);
    assert_int_equal(sio_binary_rewrite(&b, SIOC_LIT(" \n[ 1 ]\t"), NULL, 0, NULL), 0);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.base, "[ 1 ]", 5);
    buf_free(&b);
}

static void test_deep_placeholder(void **state)
{
    (void)state;
    char json[4 * JSCAN_MAX_DEPTH + 64];
    size_t n = 0;
    for (int i = 0; i < JSCAN_MAX_DEPTH - 1; i++)
        json[n++] = '[';
    n += (size_t)sprintf(json + n, PH(0));
    for (int i = 0; i < JSCAN_MAX_DEPTH - 1; i++)
        json[n++] = ']';
    unsigned nums[1];
    assert_int_equal(sio_binary_collect(iov_make(json, n), 1, nums, 1, NULL), 1);
    /* One more level: the scanner's limit applies. */
    char deeper[4 * JSCAN_MAX_DEPTH + 64];
    deeper[0] = '[';
    memcpy(deeper + 1, json, n);
    deeper[n + 1] = ']';
    assert_int_equal(sio_binary_collect(iov_make(deeper, n + 2), 1, nums, 1, NULL), SIOC_EPROTO);
}

static void test_every_prefix(void **state)
{
    (void)state;
    const char *json = "[\"m\",{\"a\":" PH(1) "}," PH(0) "]";
    size_t n = strlen(json);
    for (size_t k = 0; k <= n; k++) {
        char *c = malloc(k ? k : 1);
        memcpy(c, json, k);
        unsigned nums[4];
        int r = sio_binary_collect(iov_make(c, k), 2, nums, 4, NULL);
        assert_int_equal(r, k == n ? 2 : SIOC_EPROTO);
        sioc_buf_t b = {0};
        unsigned id[2] = {0, 1};
        assert_int_equal(sio_binary_rewrite(&b, iov_make(c, k), id, 2, NULL),
                         k == n ? 0 : SIOC_EPROTO);
        assert_int_equal(b.len, k == n ? n : 0);
        buf_free(&b);
        free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collect),
        cmocka_unit_test(test_collect_rejects),
        cmocka_unit_test(test_collect_cap),
        cmocka_unit_test(test_renumber_and_rewrite),
        cmocka_unit_test(test_rewrite_canonicalises),
        cmocka_unit_test(test_deep_placeholder),
        cmocka_unit_test(test_every_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
