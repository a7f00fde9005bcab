/* Unit tests for proxy/discovery: members of the sioc:workers set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/err.h"
#include "discovery.h"

static void test_member(void **state)
{
    (void)state;
    workers_member_t m;
    assert_int_equal(discovery_parse_member(SIOC_LIT("w1@127.0.0.1:3001"), &m), 0);
    assert_true(iov_eq(m.id, SIOC_LIT("w1")));
    assert_true(iov_eq(m.addr, SIOC_LIT("127.0.0.1:3001")));
    assert_int_equal(m.handoff.len, 0);
    assert_int_equal(discovery_parse_member(SIOC_LIT("w-2@[::1]:80"), &m), 0);
    /* A hand-off path after a second '@' (it may hold '@' itself). */
    assert_int_equal(discovery_parse_member(SIOC_LIT("w3@127.0.0.1:4003@/run/s@x/w3.sock"), &m), 0);
    assert_true(iov_eq(m.addr, SIOC_LIT("127.0.0.1:4003")));
    assert_true(iov_eq(m.handoff, SIOC_LIT("/run/s@x/w3.sock")));
    assert_int_equal(m.sa.ss_family, AF_INET);
    const char *bad[] = {"w1",
                         "@1.2.3.4:5",
                         "w1@",
                         "w1@host:5",
                         "w.1@1.2.3.4:5",
                         "w1@1.2.3.4",
                         "w1@1.2.3.4:99999",
                         "w1@1.2.3.4:5@",
                         "w1@1.2.3.4:5@relative.sock"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(discovery_parse_member(iov_make(bad[i], strlen(bad[i])), &m), SIOC_EINVAL);
    char longpath[160] = "w1@1.2.3.4:5@/";
    memset(longpath + strlen(longpath), 'a', 110);
    assert_int_equal(discovery_parse_member(iov_make(longpath, strlen(longpath)), &m), SIOC_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_member),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
