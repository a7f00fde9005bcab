/*
 * Unit tests for common/adapter/mp_json: msgpack -> JSON as notepack.decode +
 * JSON.stringify give it, JSON -> msgpack as JSON.parse + notepack.encode
 * do. The full set of vectors written by the npm packages is replayed by
 * test_adapter_msg.c (tests/vectors/adapter); these are the rules one by one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "adapter/adapter_msg.h"
#include "adapter/mp_json.h"
#include "base/buf.h"
#include "base/err.h"

static void expect_json(const char *mp, size_t len, const char *want, size_t want_att)
{
    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, NULL);
    sioc_iov_t v[4];
    adapter_msg_att_t att = {v, 4, 0};
    sioc_buf_t json = {0};
    int r = mp_json_to_json(&ctx, mp, len, &json, &att);
    if (r != (int)len)
        fail_msg("%d %s", r, ctx.reason ? ctx.reason : "");
    if (json.len != strlen(want) || memcmp(json.base, want, json.len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)json.len, json.base, want);
    assert_int_equal(att.n, want_att);
    buf_free(&json);
    adapter_msg_ctx_free(&ctx);
}

static void expect_mp(const char *json, const char *want, size_t want_len)
{
    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, NULL);
    adapter_msg_value_t v = {iov_make(json, strlen(json)), NULL, 0, 0};
    sioc_buf_t mp = {0};
    int r = mp_json_to_mp(&ctx, &v, &mp);
    if (r != (int)strlen(json))
        fail_msg("%s: %d %s", json, r, ctx.reason ? ctx.reason : "");
    assert_int_equal(mp.len, want_len);
    assert_memory_equal(mp.base, want, want_len);
    buf_free(&mp);
    adapter_msg_ctx_free(&ctx);
}

static void test_msgpack_to_json(void **state)
{
    (void)state;
    /* {b:1, "1":2, a:[true, nil, 1.5]}: index keys first */
    expect_json("\x83\xa1"
                "b\x01\xa1"
                "1\x02\xa1"
                "a\x93\xc3\xc0\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00",
                21, "{\"1\":2,\"b\":1,\"a\":[true,null,1.5]}", 0);
    /* str with ill-formed UTF-8: U+FFFD per maximal subpart, then escaped */
    expect_json("\xa4\xe2\x82"
                "A\n",
                5,
                "\"\xef\xbf\xbd"
                "A\\n\"",
                0);
    /* bin -> placeholder + attachment */
    expect_json("\x92\xc4\x02xy\x01", 6, "[{\"_placeholder\":true,\"num\":0},1]", 1);
    /* fixext1 type 0 is undefined: null at top level */
    expect_json("\xd4\x00\x00", 3, "null", 0);
    /* uint64 beyond 2^53 as a JS double */
    expect_json("\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9, "18446744073709552000", 0);
}

static void test_json_to_msgpack(void **state)
{
    (void)state;
    expect_mp("{\"a\":1}",
              "\x81\xa1"
              "a\x01",
              4);
    expect_mp("[-1,256,1.5]", "\x93\xff\xcd\x01\x00\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", 14);
    expect_mp(" \"\\u00e9\" ", "\xa2\xc3\xa9", 3);
    expect_mp("{\"b\":1,\"0\":2}",
              "\x82\xa1"
              "0\x02\xa1"
              "b\x01",
              7);
}

static void test_rejects(void **state)
{
    (void)state;
    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, NULL);
    sioc_buf_t out = {0};
    const char *bad[] = {"{\"a\":}", "[1,]", "\"\xe2\x82\"", "01", "[1] x", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        adapter_msg_value_t v = {iov_make(bad[i], strlen(bad[i])), NULL, 0, 0};
        assert_int_equal(mp_json_to_mp(&ctx, &v, &out), SIOC_EPROTO);
        assert_non_null(ctx.reason);
    }
    assert_int_equal(mp_json_to_json(&ctx, "\x92\x01", 2, &out, NULL), SIOC_EPROTO);
    buf_free(&out);
    adapter_msg_ctx_free(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msgpack_to_json),
        cmocka_unit_test(test_json_to_msgpack),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
