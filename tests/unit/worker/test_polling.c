/*
 * Unit tests for worker/polling: a held GET answered at turn end with the queued
 * packets, a POST delivered after its "ok", a binary POST refused, a duplicate GET, the
 * noop for a GET during an upgrade, the close packet while a GET waits, and a GET whose
 * connection goes away. The exact response bytes are checked on the peer's side.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine_harness.h"

#define OK_HEAD "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n"

static void test_get_held_then_answered(void **state)
{
    h_t *h = *state;
    int c = h_client(h);
    eio_session_t *s = client_session_new(h->cl[c], 0);
    polling_get(h->cl[c], s);
    assert_int_equal(h->cl[c]->mode, CLIENT_HELD_GET);
    assert_string_equal(h_read(h, c, NULL), "");
    assert_int_equal(eio_send_text(s, "hello", 5), 0);
    assert_int_equal(eio_send_text(s, "x", 1), 0);
    assert_string_equal(h_read(h, c, NULL), OK_HEAD "Content-Length: 9\r\n\r\n4hello\x1e"
                                                    "4x");
    assert_int_equal(h->cl[c]->mode, CLIENT_HTTP);
    assert_null(h->cl[c]->session);
}

static void test_post(void **state)
{
    h_t *h = *state;
    int c = h_client(h);
    eio_session_t *s = client_session_new(h->cl[c], 0);
    http_request_t req;
    h_request("POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: a\r\n"
              "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 8\r\n\r\n",
              &req);
    const char body[] = "4hi\x1e"
                        "4yo";
    polling_post(h->cl[c], s, &req, body, sizeof(body) - 1);
    assert_int_equal(h->messages, 2);
    assert_string_equal(h->last_msg, "yo");
    assert_string_equal(
        h_read(h, c, NULL),
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok");
}

static void test_post_binary_refused(void **state)
{
    h_t *h = *state;
    int c = h_client(h);
    eio_session_t *s = client_session_new(h->cl[c], 0);
    http_request_t req;
    h_request("POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: a\r\n"
              "Content-Type: application/octet-stream\r\nContent-Length: 3\r\n\r\n",
              &req);
    polling_post(h->cl[c], s, &req, "4hi", 3);
    assert_ptr_equal(h->reason, eio_reason_parse_error);
    assert_int_equal(h->messages, 0);
    assert_string_equal(h_read(h, c, NULL), "HTTP/1.1 400 Bad Request\r\n"
                                            "Content-Type: application/json\r\n"
                                            "Content-Length: 34\r\n\r\n"
                                            "{\"code\":3,\"message\":\"Bad request\"}");
}

/* A second GET: 400 for it, "1" for the held one, and the session ends. */
static void test_duplicate_get(void **state)
{
    h_t *h = *state;
    int a = h_client(h), b = h_client(h);
    eio_session_t *s = client_session_new(h->cl[a], 0);
    polling_get(h->cl[a], s);
    polling_get(h->cl[b], s);
    assert_ptr_equal(h->reason, eio_reason_transport_error);
    assert_string_equal(h_read(h, a, NULL), OK_HEAD "Content-Length: 1\r\n\r\n1");
    /* 34 bytes of body, no trailing NUL (it used to send 35 with the C string's NUL). */
    static const char dup[] = "HTTP/1.1 400 Bad Request\r\n"
                              "Content-Type: application/json\r\n"
                              "Content-Length: 34\r\n\r\n"
                              "{\"code\":3,\"message\":\"Bad request\"}";
    size_t n;
    const char *got = h_read(h, b, &n);
    assert_int_equal(n, sizeof(dup) - 1);
    assert_memory_equal(got, dup, sizeof(dup) - 1);
}

/* The client's close packet in a POST while a GET waits: the GET gets "6". */
static void test_close_while_get_waits(void **state)
{
    h_t *h = *state;
    int a = h_client(h), b = h_client(h);
    eio_session_t *s = client_session_new(h->cl[a], 0);
    polling_get(h->cl[a], s);
    http_request_t req;
    h_request("POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: a\r\n"
              "Content-Length: 1\r\n\r\n",
              &req);
    polling_post(h->cl[b], s, &req, "1", 1);
    assert_ptr_equal(h->reason, eio_reason_transport_close);
    assert_string_equal(h_read(h, a, NULL), OK_HEAD "Content-Length: 1\r\n\r\n6");
    assert_int_equal(h->cl[a]->mode, CLIENT_HTTP);
}

/* During an upgrade a new GET gets "6" at once instead of waiting. */
static void test_noop_during_upgrade(void **state)
{
    h_t *h = *state;
    int a = h_client(h), ws = h_client(h);
    eio_session_t *s = client_session_new(h->cl[a], 0);
    h->cl[ws]->session = s;
    eio_session_ws_attach(s, h->cl[ws]);
    eio_packet_t probe = {EIO_PING, SIOC_LIT("probe")};
    eio_session_probe_packet(s, &probe);
    polling_get(h->cl[a], s);
    assert_string_equal(h_read(h, a, NULL), OK_HEAD "Content-Length: 1\r\n\r\n6");
    assert_int_equal(h->cl[a]->mode, CLIENT_HTTP);
    size_t n;
    const char *f = h_read(h, ws, &n);
    assert_int_equal(n, 8);
    assert_memory_equal(f,
                        "\x81\x06"
                        "3probe",
                        8);
}

/* The held GET's connection closes: the session ends with "transport close". */
static void test_get_connection_lost(void **state)
{
    h_t *h = *state;
    int c = h_client(h);
    eio_session_t *s = client_session_new(h->cl[c], 0);
    polling_get(h->cl[c], s);
    conn_close(h->cl[c]->conn, 0);
    h_turn(h);
    assert_ptr_equal(h->reason, eio_reason_transport_close);
    assert_int_equal(eio_session_table_count(h->e.sessions), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_held_then_answered, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_post, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_post_binary_refused, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_get, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_close_while_get_waits, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_noop_during_upgrade, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_get_connection_lost, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
