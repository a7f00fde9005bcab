/* Unit tests for common/net/fdpass: the message codec (whole and byte by byte, bad
 * input), and a descriptor with its data across a socketpair, including the receiver's
 * reading order (passed bytes first, then the socket's own). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/err.h"
#include "net/fdpass.h"

static struct sockaddr_in v4(const char *ip, int port)
{
    struct sockaddr_in s;
    memset(&s, 0, sizeof(s));
    s.sin_family = AF_INET;
    s.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &s.sin_addr);
    return s;
}

static size_t build(uint8_t *out, const struct sockaddr *peer, const char *data)
{
    size_t n = strlen(data);
    assert_int_equal(fdpass_encode(out, peer, n), 0);
    memcpy(out + FDPASS_HEADER_LEN, data, n);
    return FDPASS_HEADER_LEN + n;
}

static void test_codec(void **state)
{
    (void)state;
    uint8_t msg[256];
    struct sockaddr_in a = v4("192.0.2.7", 40001);
    const char *data = "GET / HTTP/1.1\r\n\r\n\x81\x82";
    size_t len = build(msg, (struct sockaddr *)&a, data);
    fdpass_msg_t m;
    const char *reason = NULL;
    assert_int_equal(fdpass_parse(msg, len, &m, &reason), (int)len);
    assert_int_equal(m.peer.ss_family, AF_INET);
    const struct sockaddr_in *p4 = (const struct sockaddr_in *)&m.peer;
    assert_int_equal(ntohs(p4->sin_port), 40001);
    assert_memory_equal(&p4->sin_addr, &a.sin_addr, 4);
    assert_int_equal(m.data_len, strlen(data));
    assert_memory_equal(m.data, data, m.data_len);
    /* Every prefix is incomplete, never malformed. */
    for (size_t i = 0; i < len; i++)
        assert_int_equal(fdpass_parse(msg, i, &m, &reason), SIOC_INCOMPLETE);

    struct sockaddr_in6 b;
    memset(&b, 0, sizeof(b));
    b.sin6_family = AF_INET6;
    b.sin6_port = htons(443);
    inet_pton(AF_INET6, "2001:db8::1", &b.sin6_addr);
    len = build(msg, (struct sockaddr *)&b, "");
    assert_int_equal(fdpass_parse(msg, len, &m, &reason), FDPASS_HEADER_LEN);
    assert_int_equal(m.peer.ss_family, AF_INET6);
    assert_memory_equal(&((struct sockaddr_in6 *)&m.peer)->sin6_addr, &b.sin6_addr, 16);
    assert_int_equal(m.data_len, 0);

    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_int_equal(fdpass_encode(msg, &un, 0), SIOC_EINVAL);
    assert_int_equal(fdpass_encode(msg, (struct sockaddr *)&a, FDPASS_MAX_DATA + 1), SIOC_EINVAL);
}

static void test_malformed(void **state)
{
    (void)state;
    uint8_t msg[64], bad[64];
    struct sockaddr_in a = v4("10.1.2.3", 1);
    size_t len = build(msg, (struct sockaddr *)&a, "x");
    fdpass_msg_t m;
    const char *reason;
    static const struct {
        size_t at;
        uint8_t v;
    } cases[] = {{0, 'X'}, {4, 2}, {5, 5}, {12, 1}, {24, 0xff}, {31, 1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(bad, msg, len);
        bad[cases[i].at] = cases[i].v;
        reason = NULL;
        assert_int_equal(fdpass_parse(bad, len, &m, &reason), SIOC_EPROTO);
        assert_non_null(reason);
    }
    /* A wrong magic is known from its first byte. */
    assert_int_equal(fdpass_parse((const uint8_t *)"Z", 1, &m, &reason), SIOC_EPROTO);
}

static void test_pass(void **state)
{
    (void)state;
    int link[2], client[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, link), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, client), 0);
    /* The "client" has sent a head and a frame; the sender read the head only. */
    assert_int_equal(write(client[0], "FRAME", 5), 5);
    struct sockaddr_in a = v4("127.0.0.9", 5555);
    assert_int_equal(fdpass_send(link[0], client[1], (struct sockaddr *)&a, "HEAD;", 5), 0);
    close(client[1]); /* the sender's copy */
    uint8_t *buf = malloc(FDPASS_MAX_MSG);
    int fd = -1;
    int n = fdpass_recv(link[1], buf, FDPASS_MAX_MSG, &fd);
    assert_int_equal(n, FDPASS_HEADER_LEN + 5);
    assert_true(fd >= 0);
    fdpass_msg_t m;
    const char *reason;
    assert_int_equal(fdpass_parse(buf, (size_t)n, &m, &reason), n);
    assert_memory_equal(m.data, "HEAD;", 5);
    char rest[8];
    assert_int_equal(read(fd, rest, sizeof(rest)), 5);
    assert_memory_equal(rest, "FRAME", 5);
    /* The received descriptor is the client's socket: the client hears from it. */
    assert_int_equal(write(fd, "101", 3), 3);
    assert_int_equal(read(client[0], rest, sizeof(rest)), 3);
    close(fd);
    /* Nothing queued. */
    assert_int_equal(fdpass_recv(link[1], buf, FDPASS_MAX_MSG, &fd), SIOC_EAGAIN);
    /* A message without a descriptor parses but carries none. */
    assert_int_equal(send(link[0], "SIOH", 4, 0), 4);
    assert_int_equal(fdpass_recv(link[1], buf, FDPASS_MAX_MSG, &fd), 4);
    assert_int_equal(fd, -1);
    /* The receiver gone: the sender learns it. */
    close(link[1]);
    assert_int_equal(fdpass_send(link[0], client[0], (struct sockaddr *)&a, "", 0), -EPIPE);
    assert_int_equal(fdpass_recv(link[0], buf, FDPASS_MAX_MSG, &fd), 0);
    close(link[0]);
    close(client[0]);
    free(buf);
}

static void test_truncated(void **state)
{
    (void)state;
    int link[2], client[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, link), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, client), 0);
    struct sockaddr_in a = v4("127.0.0.9", 1);
    assert_int_equal(fdpass_send(link[0], client[1], (struct sockaddr *)&a, "0123456789", 10), 0);
    close(client[1]);
    uint8_t small[FDPASS_HEADER_LEN + 4];
    int fd = 7;
    /* Cut short: dropped, its descriptor closed (the client sees the end). */
    assert_int_equal(fdpass_recv(link[1], small, sizeof(small), &fd), SIOC_EMSGSIZE);
    assert_int_equal(fd, -1);
    char c;
    assert_int_equal(read(client[0], &c, 1), 0);
    close(link[0]);
    close(link[1]);
    close(client[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_pass),
        cmocka_unit_test(test_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
