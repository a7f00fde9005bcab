/* Unit tests for common/net/handoff: a socket handed through the Unix-domain listener on a
 * loop arrives with its address and bytes, several in one wake-up in order; a kept link
 * whose listener restarted reconnects; no listener gives an error; the path is removed at
 * free unless another listener took it. Ends with every descriptor closed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "net/handoff.h"
#include "net/loop.h"

typedef struct {
    net_loop_t *loop;
    int fds[8];
    char data[8][32];
    uint16_t ports[8];
    int n, want;
} got_t;

static void on_client(handoff_listener_t *h, int fd, const struct sockaddr *peer,
                      socklen_t peer_len, const uint8_t *data, size_t len, void *arg)
{
    (void)h;
    got_t *g = arg;
    assert_int_equal(peer->sa_family, AF_INET);
    assert_int_equal(peer_len, sizeof(struct sockaddr_in));
    assert_true(len < sizeof(g->data[0]));
    g->ports[g->n] = ntohs(((const struct sockaddr_in *)peer)->sin_port);
    memcpy(g->data[g->n], data, len);
    g->data[g->n][len] = '\0';
    g->fds[g->n++] = fd;
    if (g->n == g->want)
        net_loop_break(g->loop);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    net_loop_break(arg);
}

static void run(got_t *g)
{
    struct event *t = evtimer_new(net_loop_base(g->loop), on_timeout, g->loop);
    struct timeval tv = {2, 0};
    evtimer_add(t, &tv);
    net_loop_run(g->loop);
    event_free(t);
}

static int open_fds(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    while (d != NULL && readdir(d) != NULL)
        n++;
    if (d != NULL)
        closedir(d);
    return n;
}

static void test_handoff(void **state)
{
    (void)state;
    int base_fds = open_fds();
    char dir[] = "/tmp/sioc-test-handoff-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/w.sock", dir);
    got_t g;
    memset(&g, 0, sizeof(g));
    g.loop = net_loop_new();
    int err = 0;
    handoff_listener_t *h = handoff_listener_new(g.loop, path, on_client, &g, &err);
    assert_non_null(h);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.1", &a.sin_addr);

    /* Three clients in a row on one kept link: all arrive, in order, with their bytes. */
    int link = -1, pairs[3][2];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pairs[i]), 0);
        char msg[16];
        int len = snprintf(msg, sizeof(msg), "client-%d", i);
        a.sin_port = htons((uint16_t)(1000 + i));
        assert_int_equal(
            handoff_send(&link, path, pairs[i][1], (struct sockaddr *)&a, msg, (size_t)len), 0);
        close(pairs[i][1]);
    }
    assert_true(link >= 0);
    g.want = 3;
    run(&g);
    assert_int_equal(g.n, 3);
    for (int i = 0; i < 3; i++) {
        char msg[16];
        snprintf(msg, sizeof(msg), "client-%d", i);
        assert_string_equal(g.data[i], msg);
        assert_int_equal(g.ports[i], 1000 + i);
        /* The received socket is the client's. */
        assert_int_equal(write(g.fds[i], "x", 1), 1);
        char c;
        assert_int_equal(read(pairs[i][0], &c, 1), 1);
        close(g.fds[i]);
        close(pairs[i][0]);
    }
    assert_int_equal(handoff_listener_received(h), 3);
    assert_int_equal(handoff_listener_dropped(h), 0);

    /* The listener restarts on the same path: the kept link is dead, one reconnect. */
    handoff_listener_free(h);
    struct stat st;
    assert_int_not_equal(stat(path, &st), 0); /* removed at free */
    h = handoff_listener_new(g.loop, path, on_client, &g, &err);
    assert_non_null(h);
    int p[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
    assert_int_equal(handoff_send(&link, path, p[1], (struct sockaddr *)&a, "again", 5), 0);
    g.want = 4;
    run(&g);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.data[3], "again");
    close(g.fds[3]);

    /* Another listener took the path: freeing the first leaves the file. */
    handoff_listener_t *h2 = handoff_listener_new(g.loop, path, on_client, &g, &err);
    assert_non_null(h2);
    handoff_listener_free(h);
    assert_int_equal(stat(path, &st), 0);
    handoff_listener_free(h2);
    assert_int_not_equal(stat(path, &st), 0);

    /* Nobody listening: an error, the link closed, the caller keeps its client. */
    assert_true(handoff_send(&link, path, p[1], (struct sockaddr *)&a, "", 0) < 0);
    assert_int_equal(link, -1);
    assert_int_equal(handoff_send(&link, path, p[1], (struct sockaddr *)&a, "", 0), SIOC_ENOENT);
    char too_long[200];
    memset(too_long, 'a', sizeof(too_long) - 1);
    too_long[sizeof(too_long) - 1] = '\0';
    assert_int_equal(handoff_send(&link, too_long, p[1], (struct sockaddr *)&a, "", 0),
                     SIOC_EINVAL);
    close(p[0]);
    close(p[1]);
    net_loop_free(g.loop);
    rmdir(dir);
    assert_int_equal(open_fds(), base_fds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
