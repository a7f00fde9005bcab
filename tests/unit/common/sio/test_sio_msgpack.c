/* Unit tests for common/sio/sio_msgpack: socket.io-msgpack-parser packets (vectors made by
 * notepack.io, as the npm parser encodes) to packet text and back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "sio/sio_msgpack.h"

static size_t unhex(const char *h, char *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        assert_int_equal(sscanf(h, "%2x", &v), 1);
        out[n++] = (char)v;
    }
    return n;
}

static void test_decode(void **state)
{
    (void)state;
    char mp[256];
    sioc_buf_t t = {0};
    sioc_iov_t att[4];
    const char *why = NULL;
    /* {type:2, nsp:"/chat", data:["ev",{b:<01 02>, u:undefined},1.5], id:7} */
    size_t n = unhex("84a47479706502a36e7370a52f63686174a46461746193a2657681a162c4020102cb3ff8000"
                     "000000000a2696407",
                     mp);
    assert_int_equal(sio_msgpack_decode(mp, n, &t, att, 4, &why), 1);
    const char want[] = "51-/chat,7[\"ev\",{\"b\":{\"_placeholder\":true,\"num\":0}},1.5]";
    assert_int_equal(t.len, sizeof(want) - 1);
    assert_memory_equal(t.base, want, t.len);
    assert_int_equal(att[0].len, 2);
    assert_memory_equal(att[0].base, "\x01\x02", 2);

    /* Back to msgpack and again: the same text. */
    sioc_buf_t m = {0}, t2 = {0};
    assert_int_equal(sio_msgpack_encode(t.base, t.len, att, 1, &m), 0);
    sioc_iov_t att2[4];
    assert_int_equal(sio_msgpack_decode(m.base, m.len, &t2, att2, 4, &why), 1);
    assert_int_equal(t2.len, t.len);
    assert_memory_equal(t2.base, t.base, t.len);

    /* {type:0, nsp:"/"} and {type:0, nsp:"/", data:undefined} (d4 00 00) */
    t.len = 0;
    n = unhex("82a47479706500a36e7370a12f", mp);
    assert_int_equal(sio_msgpack_decode(mp, n, &t, att, 4, &why), 0);
    assert_int_equal(t.len, 1);
    assert_int_equal(t.base[0], '0');
    t.len = 0;
    n = unhex("83a47479706500a36e7370a12fa464617461d40000", mp);
    assert_int_equal(sio_msgpack_decode(mp, n, &t, att, 4, &why), 0);
    assert_int_equal(t.len, 1);

    /* Refused, text unchanged: type 9, no nsp, EVENT data not an array, a negative id,
     * two values, a bin over the cap, not msgpack. */
    const char *bad[] = {"82a47479706509a36e7370a12f",
                         "81a47479706502",
                         "83a47479706502a36e7370a12fa464617461a178",
                         "84a47479706502a36e7370a12fa46461746190a26964ff",
                         "82a47479706500a36e7370a12fc0",
                         "83a47479706502a36e7370a12fa46461746191c40101",
                         "c1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t.len = 0;
        why = NULL;
        n = unhex(bad[i], mp);
        assert_int_equal(sio_msgpack_decode(mp, n, &t, att, 0, &why), SIOC_EPROTO);
        assert_non_null(why);
        assert_int_equal(t.len, 0);
    }
    /* Binary in a CONNECT_ERROR or a CONNECT: the text form has no attachments there. */
    const char *nobin[] = {"83a47479706504a36e7370a12fa46461746181a162c40101",
                           "83a47479706500a36e7370a12fa46461746181a162c40101"};
    for (size_t i = 0; i < 2; i++) {
        t.len = 0;
        n = unhex(nobin[i], mp);
        assert_int_equal(sio_msgpack_decode(mp, n, &t, att, 4, &why), SIOC_EPROTO);
        assert_string_equal(why, "binary data in a packet that cannot carry it");
        assert_int_equal(t.len, 0);
    }
    buf_free(&t);
    buf_free(&t2);
    buf_free(&m);
}

static void test_encode(void **state)
{
    (void)state;
    sioc_buf_t m = {0}, t = {0};
    sioc_iov_t att[2] = {SIOC_LIT("xy")};
    const char *why;
    /* A CONNECT reply, a plain EVENT, a BINARY_ACK. */
    const char *texts[] = {"0{\"sid\":\"abc\"}", "2/admin,[\"a\",1,-2.5,null,true]",
                           "61-9[{\"_placeholder\":true,\"num\":0}]", "1/x,"};
    const char *want[] = {"0{\"sid\":\"abc\"}", "2/admin,[\"a\",1,-2.5,null,true]",
                          "61-9[{\"_placeholder\":true,\"num\":0}]", "1/x,"};
    for (size_t i = 0; i < 4; i++) {
        m.len = t.len = 0;
        assert_int_equal(sio_msgpack_encode(texts[i], strlen(texts[i]), att, 1, &m), 0);
        sioc_iov_t back[2];
        int n = sio_msgpack_decode(m.base, m.len, &t, back, 2, &why);
        assert_true(n >= 0);
        assert_int_equal(t.len, strlen(want[i]));
        assert_memory_equal(t.base, want[i], t.len);
    }
    /* A placeholder without its attachment; not a packet. */
    m.len = 0;
    assert_int_equal(sio_msgpack_encode(texts[2], strlen(texts[2]), NULL, 0, &m), SIOC_EPROTO);
    assert_int_equal(m.len, 0);
    assert_int_equal(sio_msgpack_encode("x", 1, NULL, 0, &m), SIOC_EPROTO);
    buf_free(&m);
    buf_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_decode),
                                       cmocka_unit_test(test_encode)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
