/* Unit tests for common/base/opts: precedence (default < environment < flag), an empty
 * environment variable is unset, bad values are refused with a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/opts.h"

typedef struct {
    char *name;
    long count;
    int port;
    int flag;
    char *items[4];
    size_t num_items;
    int level;
    int mode;
} conf_t;

static int set_mode(void *conf, const opts_spec_t *o, const char *v, const char *prog)
{
    (void)o;
    (void)prog;
    if (strcmp(v, "a") != 0 && strcmp(v, "b") != 0)
        return -1;
    ((conf_t *)conf)->mode = v[0];
    return 0;
}

#define OFF(f) offsetof(conf_t, f)
static const opts_spec_t specs[] = {
    {"--name", "T_OPTS_NAME", OPTS_STR, OFF(name), 0, 0, 0, "dflt", "a string", NULL},
    {"--count", "T_OPTS_COUNT", OPTS_LONG, OFF(count), 0, 1, 100, "10", "a number", NULL},
    {"--port", "T_OPTS_PORT", OPTS_INT, OFF(port), 0, 0, 65535, "3000", "a port", NULL},
    {"--flag", "T_OPTS_FLAG", OPTS_BOOL, OFF(flag), 0, 0, 1, "0", "a bool", NULL},
    {"--items", "T_OPTS_ITEMS", OPTS_LIST, OFF(items), OFF(num_items), 0, 4, "", "a list", NULL},
    {"--log-level", "T_OPTS_LEVEL", OPTS_LOGLEVEL, OFF(level), 0, 0, 0, "info", "a level", NULL},
    {"--mode", "T_OPTS_MODE", OPTS_CUSTOM, OFF(mode), 0, 0, 0, "a", "custom", set_mode},
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

static void clear_env(void)
{
    for (size_t i = 0; i < NSPECS; i++)
        unsetenv(specs[i].env);
}

static int parse(conf_t *c, int argc, const char **argv)
{
    memset(c, 0, sizeof(*c));
    return opts_parse("t", specs, NSPECS, c, argc, (char **)argv, NULL, 0, NULL);
}

static void test_defaults(void **state)
{
    (void)state;
    clear_env();
    conf_t c;
    const char *argv[] = {"t"};
    assert_int_equal(parse(&c, 1, argv), 0);
    assert_string_equal(c.name, "dflt");
    assert_int_equal(c.count, 10);
    assert_int_equal(c.port, 3000);
    assert_int_equal(c.flag, 0);
    assert_int_equal(c.num_items, 0);
    assert_int_equal(c.level, LOG_LEVEL_INFO);
    assert_int_equal(c.mode, 'a');
    opts_free(specs, NSPECS, &c);
    assert_null(c.name);
}

static void test_empty_env_is_unset(void **state)
{
    (void)state;
    clear_env();
    for (size_t i = 0; i < NSPECS; i++)
        setenv(specs[i].env, "", 1);
    conf_t c;
    const char *argv[] = {"t"};
    assert_int_equal(parse(&c, 1, argv), 0);
    assert_string_equal(c.name, "dflt"); /* a string too: "" does not override */
    assert_int_equal(c.count, 10);
    assert_int_equal(c.port, 3000);
    assert_int_equal(c.level, LOG_LEVEL_INFO);
    assert_int_equal(c.mode, 'a');
    opts_free(specs, NSPECS, &c);
    assert_null(opts_env("T_OPTS_NAME"));
    setenv("T_OPTS_NAME", "x", 1);
    assert_string_equal(opts_env("T_OPTS_NAME"), "x");
    clear_env();
}

static void test_env_then_flag(void **state)
{
    (void)state;
    clear_env();
    setenv("T_OPTS_NAME", "fromenv", 1);
    setenv("T_OPTS_COUNT", "20", 1);
    setenv("T_OPTS_FLAG", "yes", 1);
    setenv("T_OPTS_ITEMS", " a, b ,,c", 1);
    conf_t c;
    const char *argv0[] = {"t"};
    assert_int_equal(parse(&c, 1, argv0), 0);
    assert_string_equal(c.name, "fromenv");
    assert_int_equal(c.count, 20);
    assert_int_equal(c.flag, 1);
    assert_int_equal(c.num_items, 3);
    assert_string_equal(c.items[1], "b");
    opts_free(specs, NSPECS, &c);

    /* Flags win, in both spellings; a bool flag alone is 1; an empty flag value is a value. */
    setenv("T_OPTS_FLAG", "0", 1);
    const char *argv1[] = {"t",       "--name", "",       "--count=30", "--flag",
                           "--items", "x",      "--mode", "b"};
    assert_int_equal(parse(&c, 9, argv1), 0);
    assert_string_equal(c.name, "");
    assert_int_equal(c.count, 30);
    assert_int_equal(c.flag, 1);
    assert_int_equal(c.num_items, 1);
    assert_string_equal(c.items[0], "x");
    assert_int_equal(c.mode, 'b');
    opts_free(specs, NSPECS, &c);
    clear_env();
}

static void test_errors(void **state)
{
    (void)state;
    clear_env();
    conf_t c;
    const char *bad[][3] = {
        {"t", "--count", "abc"}, {"t", "--count", "101"},       {"t", "--count", "0"},
        {"t", "--count", "5x"},  {"t", "--port", "70000"},      {"t", "--flag=maybe", NULL},
        {"t", "--nope", NULL},   {"t", "--log-level", "loud"},  {"t", "--mode", "c"},
        {"t", "--count", NULL},  {"t", "--items", "a,b,c,d,e"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int argc = bad[i][2] != NULL ? 3 : 2;
        assert_int_equal(parse(&c, argc, bad[i]), -1);
        opts_free(specs, NSPECS, &c);
    }
    /* A bad number in the environment is refused as well. */
    setenv("T_OPTS_COUNT", "ten", 1);
    const char *argv[] = {"t"};
    assert_int_equal(parse(&c, 1, argv), -1);
    opts_free(specs, NSPECS, &c);
    clear_env();

    const char *help[] = {"t", "--count", "5", "--help"};
    assert_int_equal(parse(&c, 4, help), OPTS_HELP);
    opts_free(specs, NSPECS, &c);
}

static void test_error_message(void **state)
{
    (void)state;
    clear_env();
    /* The message names the flag, the variable, the range and the value. */
    char path[] = "/tmp/sioc-test-opts-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    conf_t c;
    const char *argv[] = {"t", "--count", "abc"};
    int r = parse(&c, 3, argv);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    opts_free(specs, NSPECS, &c);
    assert_int_equal(r, -1);
    char buf[256] = {0};
    assert_true(pread(fd, buf, sizeof(buf) - 1, 0) > 0);
    close(fd);
    unlink(path);
    assert_string_equal(buf, "t: --count / T_OPTS_COUNT: expected an integer in [1, 100], "
                             "got 'abc'\n");
}

static void test_positional_and_helpers(void **state)
{
    (void)state;
    clear_env();
    conf_t c;
    memset(&c, 0, sizeof(c));
    const char *pos[2];
    size_t npos;
    const char *argv[] = {"t", "idle", "--count", "3", "x"};
    assert_int_equal(opts_parse("t", specs, NSPECS, &c, 5, (char **)argv, pos, 2, &npos), 0);
    assert_int_equal(npos, 2);
    assert_string_equal(pos[0], "idle");
    assert_string_equal(pos[1], "x");
    assert_int_equal(c.count, 3);
    opts_free(specs, NSPECS, &c);
    const char *argv2[] = {"t", "a", "b", "c"};
    assert_int_equal(opts_parse("t", specs, NSPECS, &c, 4, (char **)argv2, pos, 2, &npos), -1);
    opts_free(specs, NSPECS, &c);

    long x = 7;
    assert_int_equal(opts_parse_long("42", 0, 100, &x), 0);
    assert_int_equal(x, 42);
    assert_int_equal(opts_parse_long("", 0, 100, &x), -1);
    assert_int_equal(opts_parse_long("-1", 0, 100, &x), -1);
    assert_int_equal(opts_parse_long("1 ", 0, 100, &x), -1);
    assert_int_equal(x, 42);

    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    opts_usage(f, specs, 2, 12, 14);
    fclose(f);
    assert_string_equal(out, "  --name V     T_OPTS_NAME    a string [dflt]\n"
                             "  --count V    T_OPTS_COUNT   a number [10]\n");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_empty_env_is_unset),
        cmocka_unit_test(test_env_then_flag), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_message), cmocka_unit_test(test_positional_and_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
