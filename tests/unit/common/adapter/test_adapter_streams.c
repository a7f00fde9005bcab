/*
 * Unit tests for common/adapter/adapter_streams: stream keys against the JS
 * hashCode (values printed by Node), entry data (JSON and base64 msgpack, the
 * latter byte-identical to @msgpack/msgpack 2.8), entry decoding (0.2.x
 * heartbeats included), next ids and sessions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "adapter/adapter_streams.h"
#include "base/buf.h"
#include "base/err.h"

static sioc_iov_t z(const char *s)
{
    return iov_make(s, strlen(s));
}

static void test_keys(void **state)
{
    (void)state;
    assert_int_equal(adapter_streams_hash(z("/")), 47);
    assert_int_equal(adapter_streams_hash(z("/chat")), 46457863);
    assert_int_equal(adapter_streams_hash(z("/admin")), 1438238848);
    assert_int_equal(adapter_streams_hash(z("/notifications")), -1014064871);
    assert_int_equal(adapter_streams_hash(z("/\xc3\xa9\xf0\x9f\x98\x80x")), 105306779);
    const struct {
        const char *nsp;
        long count;
        const char *key;
    } cases[] = {{"/", 1, "socket.io"},
                 {"/chat", 1, "socket.io"},
                 {"/", 3, "socket.io-2"},
                 {"/chat", 3, "socket.io-1"},
                 {"/notifications", 3, "socket.io--2"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sioc_buf_t b = {0};
        assert_int_equal(adapter_streams_key(&b, z("socket.io"), cases[i].count, z(cases[i].nsp)),
                         0);
        assert_int_equal(b.len, strlen(cases[i].key));
        assert_memory_equal(b.base, cases[i].key, b.len);
        buf_free(&b);
    }
}

static void test_data(void **state)
{
    (void)state;
    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, NULL);
    sioc_buf_t scratch = {0}, out = {0};
    sioc_iov_t rooms[] = {z("r")}, except[] = {z("e")};
    adapter_msg_shard_t m;
    memset(&m, 0, sizeof(m));
    m.type = ADAPTER_MSG_SHARD_BROADCAST;
    m.uid = z("0123456789abcdef");
    m.nsp = z("/");
    m.packet.type = 2;
    m.packet.nsp = z("/");
    m.packet.data.json = z("[\"ev\",\"x\"]");
    m.opts.rooms = rooms;
    m.opts.nrooms = 1;
    m.opts.except = except;
    m.opts.nexcept = 1;
    assert_int_equal(adapter_streams_data(&ctx, &m, &scratch, &out), 0);
    const char *json = "{\"packet\":{\"type\":2,\"data\":[\"ev\",\"x\"],\"nsp\":\"/\"},\"opts\":{"
                       "\"rooms\":[\"r\"],\"except\":[\"e\"],\"flags\":{}}}";
    assert_int_equal(out.len, strlen(json));
    assert_memory_equal(out.base, json, out.len);

    /* binary: base64(msgpack(data)) as @msgpack/msgpack writes it */
    sioc_iov_t att[] = {iov_make("\x01\x02\x03", 3)};
    m.packet.data =
        (adapter_msg_value_t){z("[\"ev\",{\"_placeholder\":true,\"num\":0}]"), att, 1, 1};
    m.opts.nexcept = 0;
    buf_reset(&out);
    assert_int_equal(adapter_streams_data(&ctx, &m, &scratch, &out), 0);
    const char *b64 = "gqZwYWNrZXSDpHR5cGUCpGRhdGGSomV2xAMBAgOjbnNwoS+kb3B0c4Olcm9vbXORoXKmZXhjZX"
                      "B0kKVmbGFnc4A=";
    assert_int_equal(out.len, strlen(b64));
    assert_memory_equal(out.base, b64, out.len);

    /* and back: the entry decodes to the same broadcast */
    sioc_buf_t json_out = {0}, scratch2 = {0};
    sioc_iov_t att_v[4];
    adapter_msg_att_t a = {att_v, 4, 0};
    adapter_msg_shard_t d;
    assert_true(adapter_streams_decode(&ctx, z("3"), z("0123456789abcdef"), z("/"),
                                       iov_make(out.base, out.len), &scratch2, &json_out, &a,
                                       &d) > 0);
    assert_int_equal(d.type, ADAPTER_MSG_SHARD_BROADCAST);
    assert_int_equal(d.packet.data.natt, 1);
    assert_memory_equal(d.packet.data.att[0].base, "\x01\x02\x03", 3);
    assert_int_equal(d.opts.nrooms, 1);
    assert_true(iov_eq_str(d.uid, "0123456789abcdef"));

    /* types without data: no field */
    memset(&m, 0, sizeof(m));
    m.type = ADAPTER_MSG_SHARD_HEARTBEAT;
    assert_int_equal(adapter_streams_data(&ctx, &m, &scratch, &out), 1);

    /* 0.2.x heartbeat entries decode; unknown types are refused */
    a.n = 0;
    assert_true(adapter_streams_decode(&ctx, z("2"), z("u"), z("/"), SIOC_IOV_NULL, &scratch2,
                                       &json_out, &a, &d) > 0);
    assert_int_equal(d.type, ADAPTER_MSG_SHARD_HEARTBEAT);
    assert_int_equal(adapter_streams_decode(&ctx, z("14"), z("u"), z("/"), SIOC_IOV_NULL, &scratch2,
                                            &json_out, &a, &d),
                     SIOC_EPROTO);
    assert_int_equal(adapter_streams_decode(&ctx, z("x"), z("u"), z("/"), SIOC_IOV_NULL, &scratch2,
                                            &json_out, &a, &d),
                     SIOC_EPROTO);
    assert_true(adapter_streams_decode(&ctx, z("3"), z("u"), z("/"), z("!!!"), &scratch2, &json_out,
                                       &a, &d) < 0);

    /* Pub/Sub: msgpack of the whole message, even without binary */
    memset(&m, 0, sizeof(m));
    m.type = ADAPTER_MSG_SHARD_FETCH_SOCKETS;
    m.uid = z("u");
    m.nsp = z("/");
    m.request_id = z("rid");
    buf_reset(&out);
    assert_int_equal(adapter_streams_pubsub_encode(&ctx, &m, &scratch, &out), 0);
    assert_true(out.len > 0 && (unsigned char)out.base[0] == 0x84);
    a.n = 0;
    assert_true(adapter_msg_shard_decode(&ctx, out.base, out.len, &json_out, &a, &d) > 0);
    assert_int_equal(d.type, ADAPTER_MSG_SHARD_FETCH_SOCKETS);
    assert_true(iov_eq_str(d.request_id, "rid"));

    buf_free(&scratch);
    buf_free(&scratch2);
    buf_free(&out);
    buf_free(&json_out);
    adapter_msg_ctx_free(&ctx);
}

static void test_next_id(void **state)
{
    (void)state;
    char out[48];
    assert_int_equal(adapter_streams_next_id(z("1700000000000-0"), out, sizeof(out)), 15);
    assert_string_equal(out, "1700000000000-1");
    assert_true(adapter_streams_next_id(z("5-99"), out, sizeof(out)) > 0);
    assert_string_equal(out, "5-100");
    const char *bad[] = {"", "-", "1-", "-1", "1-a", "a-1", "1-1-1", "1 -1", "MzUPkW0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(adapter_streams_next_id(z(bad[i]), out, sizeof(out)), -1);
}

static void test_session(void **state)
{
    (void)state;
    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, NULL);
    sioc_iov_t rooms[] = {z("AAAAAAAAAAAAAAAAAAAA"), z("r1")};
    adapter_streams_session_t s = {z("AAAAAAAAAAAAAAAAAAAA"), z("BBBBBBBBBBBBBBBBBBBB"), rooms, 2,
                                   z("{\"user\":\"u\"}")};
    sioc_buf_t out = {0}, scratch = {0}, json = {0};
    assert_int_equal(adapter_streams_session_encode(&ctx, &s, &out), 0);
    const char *node =
        "hKNzaWS0QUFBQUFBQUFBQUFBQUFBQUFBQUGjcGlktEJCQkJCQkJCQkJCQkJCQkJCQkJCpXJvb21z"
        "krRBQUFBQUFBQUFBQUFBQUFBQUFBQaJyMaRkYXRhgaR1c2VyoXU=";
    assert_int_equal(out.len, strlen(node));
    assert_memory_equal(out.base, node, out.len);
    sioc_iov_t back[8];
    adapter_streams_session_t d;
    assert_int_equal(adapter_streams_session_decode(&ctx, iov_make(out.base, out.len), &scratch,
                                                    &json, back, 8, &d),
                     0);
    assert_true(iov_eq_str(d.sid, "AAAAAAAAAAAAAAAAAAAA"));
    assert_true(iov_eq_str(d.pid, "BBBBBBBBBBBBBBBBBBBB"));
    assert_int_equal(d.nrooms, 2);
    assert_true(iov_eq_str(d.rooms[1], "r1"));
    assert_true(iov_eq_str(d.data, "{\"user\":\"u\"}"));
    assert_int_equal(adapter_streams_session_decode(&ctx, z("!!!!"), &scratch, &json, back, 8, &d),
                     SIOC_EPROTO);
    assert_int_equal(adapter_streams_session_decode(&ctx, z("kA=="), &scratch, &json, back, 8, &d),
                     SIOC_EPROTO);
    buf_free(&out);
    buf_free(&scratch);
    buf_free(&json);
    adapter_msg_ctx_free(&ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_data),
        cmocka_unit_test(test_next_id),
        cmocka_unit_test(test_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
