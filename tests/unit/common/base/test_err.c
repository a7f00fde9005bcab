/* Unit tests for common/base/err: every code distinct, each with its own text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/err.h"

#define ROW(code, text) {code, #code, text},
static const struct {
    int code;
    const char *name;
    const char *text;
} codes[] = {SIOC_ERR_LIST(ROW)};
#define NCODES (sizeof(codes) / sizeof(codes[0]))

static void test_codes_distinct(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCODES; i++)
        for (size_t j = i + 1; j < NCODES; j++)
            if (codes[i].code == codes[j].code)
                fail_msg("%s == %s (%d)", codes[i].name, codes[j].name, codes[i].code);
}

static void test_messages_distinct(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCODES; i++) {
        const char *m = sioc_strerror(codes[i].code);
        assert_non_null(m);
        assert_string_equal(m, codes[i].text);
        assert_string_not_equal(m, "unknown error");
        for (size_t j = i + 1; j < NCODES; j++)
            if (strcmp(m, sioc_strerror(codes[j].code)) == 0)
                fail_msg("%s and %s share the text \"%s\"", codes[i].name, codes[j].name, m);
    }
}

static void test_codes_sign(void **state)
{
    (void)state;
    assert_int_equal(SIOC_OK, 0);
    assert_int_equal(SIOC_EPROTO, -1);
    assert_int_equal(SIOC_INCOMPLETE, -2);
    for (size_t i = 1; i < NCODES; i++)
        assert_true(codes[i].code < 0);
}

static void test_lookup_failure_text(void **state)
{
    (void)state;
    assert_int_not_equal(SIOC_ENOENT, SIOC_INCOMPLETE);
    assert_string_not_equal(sioc_strerror(SIOC_ENOENT), "incomplete input");
    /* Other -errno values (from system calls) still get a text. */
    assert_string_equal(sioc_strerror(-ECONNREFUSED), strerror(ECONNREFUSED));
    assert_string_equal(sioc_strerror(1), "unknown error");
    assert_string_equal(sioc_strerror(-100000), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes_distinct),
        cmocka_unit_test(test_messages_distinct),
        cmocka_unit_test(test_codes_sign),
        cmocka_unit_test(test_lookup_failure_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
