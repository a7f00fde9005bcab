/* Unit tests for common/net/redis_url: the Redis URL forms, their errors and masking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "base/err.h"
#include "net/redis_url.h"

static void test_single_node(void **state)
{
    (void)state;
    redis_url_t u;
    char err[256];
    assert_int_equal(redis_url_parse("redis://127.0.0.1:6390", &u, err, sizeof(err)), 0);
    assert_int_equal(u.kind, REDIS_URL_DIRECT);
    assert_int_equal(u.tls, 0);
    assert_int_equal(u.n_nodes, 1);
    assert_string_equal(u.nodes[0].host, "127.0.0.1");
    assert_int_equal(u.nodes[0].port, 6390);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "");
    assert_int_equal(u.db, 0);

    assert_int_equal(redis_url_parse("redis://localhost", &u, err, sizeof(err)), 0);
    assert_int_equal(u.nodes[0].port, 6379);
    assert_int_equal(redis_url_parse("redis://h/3", &u, err, sizeof(err)), 0);
    assert_int_equal(u.db, 3);
    assert_int_equal(redis_url_parse("redis://h/", &u, err, sizeof(err)), 0);
    assert_int_equal(u.db, 0);
    /* No scheme: as before, a plain address. */
    assert_int_equal(redis_url_parse("10.0.0.1:7000", &u, err, sizeof(err)), 0);
    assert_string_equal(u.nodes[0].host, "10.0.0.1");
    assert_int_equal(u.nodes[0].port, 7000);
    assert_int_equal(redis_url_parse("redis://[::1]:6380,[fe80::1]", &u, err, sizeof(err)), 0);
    assert_int_equal(u.n_nodes, 2);
    assert_string_equal(u.nodes[0].host, "::1");
    assert_int_equal(u.nodes[0].port, 6380);
    assert_string_equal(u.nodes[1].host, "fe80::1");
    assert_int_equal(u.nodes[1].port, 6379);
}

static void test_credentials(void **state)
{
    (void)state;
    redis_url_t u;
    char err[256];
    assert_int_equal(redis_url_parse("redis://:s3cret@h:1", &u, err, sizeof(err)), 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "s3cret");
    assert_int_equal(redis_url_parse("redis://app:pw@h:1", &u, err, sizeof(err)), 0);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "pw");
    /* Without ':' the userinfo is a password alone (the old form). */
    assert_int_equal(redis_url_parse("redis://pw@h:1", &u, err, sizeof(err)), 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "pw");
    /* Percent-decoded; the last '@' ends the userinfo; a stray '%' stays. */
    assert_int_equal(redis_url_parse("redis://a%40b:p%3Aw@x/y%zz@h:1/2", &u, err, sizeof(err)), 0);
    assert_string_equal(u.user, "a@b");
    assert_string_equal(u.password, "p:w@x/y%zz");
    assert_string_equal(u.nodes[0].host, "h");
    assert_int_equal(u.db, 2);
    assert_int_equal(redis_url_parse("redis://u:a%00b@h", &u, err, sizeof(err)), SIOC_EINVAL);
}

static void test_seeds_tls_sentinel(void **state)
{
    (void)state;
    redis_url_t u;
    char err[256];
    assert_int_equal(redis_url_parse("rediss://u:p@a:7001,b:7002,c", &u, err, sizeof(err)), 0);
    assert_int_equal(u.tls, 1);
    assert_int_equal(u.kind, REDIS_URL_DIRECT);
    assert_int_equal(u.n_nodes, 3);
    assert_string_equal(u.nodes[1].host, "b");
    assert_int_equal(u.nodes[1].port, 7002);
    assert_int_equal(u.nodes[2].port, 6379);

    assert_int_equal(
        redis_url_parse("redis-sentinel://u:p@s1,s2:26380/mymaster", &u, err, sizeof(err)), 0);
    assert_int_equal(u.kind, REDIS_URL_SENTINEL);
    assert_int_equal(u.tls, 0);
    assert_int_equal(u.n_nodes, 2);
    assert_int_equal(u.nodes[0].port, 26379);
    assert_int_equal(u.nodes[1].port, 26380);
    assert_string_equal(u.master, "mymaster");
    assert_int_equal(u.db, 0);
    assert_int_equal(redis_url_parse("rediss-sentinel://s1/m-1.a/4", &u, err, sizeof(err)), 0);
    assert_int_equal(u.tls, 1);
    assert_string_equal(u.master, "m-1.a");
    assert_int_equal(u.db, 4);
}

static void expect_error(const char *url, const char *why)
{
    redis_url_t u;
    char err[256] = "";
    assert_int_equal(redis_url_parse(url, &u, err, sizeof(err)), SIOC_EINVAL);
    if (strstr(err, why) == NULL) {
        print_error("\"%s\": error \"%s\" lacks \"%s\"\n", url, err, why);
        fail();
    }
    if (strstr(err, "hunter2") != NULL) {
        print_error("\"%s\": error \"%s\" shows the password\n", url, err);
        fail();
    }
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("http://h", "unknown scheme");
    expect_error("redis://u:hunter2@h:0", "redis://u:***@h:0: bad port");
    expect_error("redis://u:hunter2@h:65536", "bad port");
    expect_error("redis://h:12x", "bad port");
    expect_error("redis://h:", "bad port");
    expect_error("redis://hunter2@", "redis://***@: empty host");
    expect_error("redis://a,,b", "empty host");
    expect_error("redis://a b", "bad character in a host");
    expect_error("redis://[::1", "unclosed");
    expect_error("redis://[::1]x", "bad port");
    expect_error("redis://[]:1", "empty host");
    expect_error("redis://h/x", "bad database number");
    expect_error("redis://h/99999999", "bad database number");
    expect_error("redis://h?db=1", "query options");
    expect_error("redis-sentinel://:hunter2@s1", "primary's name is missing");
    expect_error("redis-sentinel://s1/", "primary's name is missing");
    expect_error("redis-sentinel://s1/a b", "bad character");
    expect_error("redis://a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", "more than 16 hosts");
}

static void test_mask_and_format(void **state)
{
    (void)state;
    char out[256];
    redis_url_mask("redis://user:hunter2@h:1/0", out, sizeof(out));
    assert_string_equal(out, "redis://user:***@h:1/0");
    redis_url_mask("redis://hunter2@h", out, sizeof(out));
    assert_string_equal(out, "redis://***@h");
    redis_url_mask("redis://:a@b@h", out, sizeof(out));
    assert_string_equal(out, "redis://:***@h");
    redis_url_mask("redis://h:1", out, sizeof(out));
    assert_string_equal(out, "redis://h:1");
    redis_url_mask("redis://u:hunter2@h", out, 10);
    assert_string_equal(out, "redis://u");

    redis_url_t u;
    char err[256];
    assert_int_equal(
        redis_url_parse("rediss-sentinel://u:hunter2@[::1]:1,s/m/2", &u, err, sizeof(err)), 0);
    redis_url_format(&u, out, sizeof(out));
    assert_string_equal(out, "rediss-sentinel://u:***@[::1]:1,s:26379/m/2");
    assert_int_equal(redis_url_parse("h", &u, err, sizeof(err)), 0);
    redis_url_format(&u, out, sizeof(out));
    assert_string_equal(out, "redis://h:6379");
    /* A user alone keeps its ':' (else it would read as a password); odd bytes encoded. */
    assert_int_equal(redis_url_parse("redis://a%3Ab%20c:@h", &u, err, sizeof(err)), 0);
    assert_string_equal(u.user, "a:b c");
    assert_string_equal(u.password, "");
    redis_url_format(&u, out, sizeof(out));
    assert_string_equal(out, "redis://a%3Ab%20c:@h:6379");
}

static void test_tls_files(void **state)
{
    (void)state;
    redis_url_t u;
    char err[256];
    assert_int_equal(redis_url_parse("redis://h", &u, err, sizeof(err)), 0);
    assert_int_equal(redis_url_set_tls_files(&u, "", NULL, "", err, sizeof(err)), 0);
    assert_int_equal(redis_url_set_tls_files(&u, "/ca.pem", NULL, NULL, err, sizeof(err)),
                     SIOC_EINVAL);
    assert_non_null(strstr(err, "not rediss://"));
    assert_int_equal(redis_url_parse("rediss://h", &u, err, sizeof(err)), 0);
    assert_int_equal(redis_url_set_tls_files(&u, "/ca.pem", "/c.pem", "/k.pem", err, sizeof(err)),
                     0);
    assert_string_equal(u.tls_ca, "/ca.pem");
    assert_string_equal(u.tls_key, "/k.pem");
    assert_int_equal(redis_url_set_sentinel_auth(&u, NULL, "pw", err, sizeof(err)), SIOC_EINVAL);
    assert_non_null(strstr(err, "no sentinels"));
    assert_int_equal(redis_url_parse("redis-sentinel://s/m", &u, err, sizeof(err)), 0);
    assert_int_equal(redis_url_set_sentinel_auth(&u, "watch", "pw", err, sizeof(err)), 0);
    assert_string_equal(u.sentinel_user, "watch");
    assert_string_equal(u.sentinel_password, "pw");
    char big[600];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(redis_url_set_tls_files(&u, big, NULL, NULL, err, sizeof(err)), SIOC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_node),        cmocka_unit_test(test_credentials),
        cmocka_unit_test(test_seeds_tls_sentinel), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_mask_and_format),    cmocka_unit_test(test_tls_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
