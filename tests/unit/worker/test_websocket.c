/*
 * Unit tests for worker/websocket: frames out (websocket_frame, websocket_end), the
 * upgrade handshake for a new session (101, then the open packet in a text frame),
 * frames in (a message, a close), the probe of a polling session (2probe -> 3probe,
 * 5 completes), and a refused handshake version (426).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine_harness.h"

#define UPGRADE(q)                                                                                 \
    "GET /socket.io/?EIO=4&transport=websocket" q " HTTP/1.1\r\nHost: a\r\n"                       \
    "Upgrade: websocket\r\nConnection: Upgrade\r\n"                                                \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

/* Sends a masked (zero key) client frame from peer `i`. */
static void peer_frame(h_t *h, int i, uint8_t opcode, const char *p, size_t len)
{
    uint8_t f[256];
    assert_true(len < 126);
    f[0] = (uint8_t)(0x80 | opcode);
    f[1] = (uint8_t)(0x80 | len);
    memset(f + 2, 0, 4);
    memcpy(f + 6, p, len);
    assert_int_equal(write(h->peer[i], f, 6 + len), (ssize_t)(6 + len));
    h_turn(h);
}

static void test_frames_out(void **state)
{
    h_t *h = *state;
    int c = h_client(h);
    assert_int_equal(websocket_frame(h->cl[c], WS_FRAME_OP_TEXT, "4", 1, "hi", 2, NULL), 0);
    size_t n;
    const char *got = h_read(h, c, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(got,
                        "\x81\x03"
                        "4hi",
                        5);
    websocket_end(h->cl[c], 1001, NULL);
    assert_true(conn_closing(h->cl[c]->conn));
    got = h_read(h, c, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(got, "\x88\x02\x03\xe9", 4);
}

static void test_new_session(void **state)
{
    h_t *h = *state;
    int c = h_client(h);
    http_request_t req;
    h_request(UPGRADE(""), &req);
    websocket_upgrade(h->cl[c], &req, SIOC_IOV_NULL);
    assert_int_equal(h->opened, 1);
    assert_int_equal(h->cl[c]->mode, CLIENT_WS);
    assert_non_null(h->cl[c]->session);
    size_t n;
    const char *got = h_read(h, c, &n);
    const char *head = "HTTP/1.1 101 Switching Protocols\r\n";
    assert_memory_equal(got, head, strlen(head));
    assert_non_null(strstr(got, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    const char *body = strstr(got, "\r\n\r\n") + 4;
    assert_int_equal((uint8_t)body[0], 0x81);
    assert_memory_equal(body + 2, "0{\"sid\":\"w1.", 12);
    peer_frame(h, c, 1, "4hello", 6);
    assert_int_equal(h->messages, 1);
    assert_string_equal(h->last_msg, "hello");
    peer_frame(h, c, 8, "\x03\xe8", 2);
    assert_int_equal(h->closes, 1);
    assert_ptr_equal(h->reason, eio_reason_transport_close);
    got = h_read(h, c, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(got, "\x88\x02\x03\xe8", 4);
}

static void test_probe_upgrade(void **state)
{
    h_t *h = *state;
    int p = h_client(h), c = h_client(h);
    eio_session_t *s = client_session_new(h->cl[p], 0);
    const char *sid = eio_session_sid(s);
    http_request_t req;
    h_request(UPGRADE(""), &req);
    websocket_upgrade(h->cl[c], &req, iov_make(sid, strlen(sid)));
    assert_true(eio_session_ws_is_probe(s));
    size_t n;
    const char *got = h_read(h, c, &n);
    assert_null(strstr(got, "\x81")); /* no open packet on a probe */
    peer_frame(h, c, 1, "2probe", 6);
    got = h_read(h, c, &n);
    assert_int_equal(n, 8);
    assert_memory_equal(got,
                        "\x81\x06"
                        "3probe",
                        8);
    eio_send_text(s, "q", 1); /* buffered on polling, moved to the websocket by "5" */
    peer_frame(h, c, 1, "5", 1);
    assert_true(eio_session_is_websocket(s));
    assert_int_equal(h->w.stats.eio.ws_upgrades, 1);
    got = h_read(h, c, &n);
    assert_int_equal(n, 4);
    assert_memory_equal(got,
                        "\x81\x02"
                        "4q",
                        4);
    assert_int_equal(h->closes, 0);
}

static void test_bad_version(void **state)
{
    h_t *h = *state;
    int c = h_client(h);
    http_request_t req;
    h_request("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: a\r\n"
              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 12\r\n\r\n",
              &req);
    websocket_upgrade(h->cl[c], &req, SIOC_IOV_NULL);
    assert_int_equal(h->opened, 0);
    assert_string_equal(h_read(h, c, NULL), "HTTP/1.1 426 Upgrade Required\r\n"
                                            "Connection: close\r\n"
                                            "Content-Type: text/html\r\n"
                                            "Sec-WebSocket-Version: 13\r\n"
                                            "Content-Length: 29\r\n"
                                            "\r\n"
                                            "Unsupported WebSocket version");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_frames_out, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_new_session, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_probe_upgrade, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_bad_version, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
