/* Unit tests for common/net/conn: the writes of a turn leave together at its end, in call
 * order, shared blocks by reference (released once written); a flushing close writes what
 * is queued first; what the kernel does not take waits for the next turns; unconsumed input
 * is kept across reads (and gone once consumed); input past the cap closes the connection
 * with CONN_CLOSE_INPUT_CAP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/shared.h"
#include "net/conn.h"
#include "net/loop.h"

#include "drain.h"

typedef struct {
    char seen[256]; /* the bytes of the last on_data call */
    size_t seen_len;
    int calls;
    int closed;
    int reason;
} owner_t;

/* Consumes whole lines only: the rest must come back with the next read. */
static size_t on_lines(conn_t *c, uint8_t *buf, size_t len)
{
    owner_t *o = conn_data(c);
    o->calls++;
    o->seen_len = len < sizeof(o->seen) ? len : sizeof(o->seen);
    memcpy(o->seen, buf, o->seen_len);
    size_t used = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n')
            used = i + 1;
    return used;
}

static void on_closed(conn_t *c, int reason)
{
    owner_t *o = conn_data(c);
    o->closed++;
    o->reason = reason;
}

static const conn_hooks_t hooks = {on_lines, on_closed, NULL, NULL, 0};

static void turn(net_loop_t *l)
{
    event_base_loop(net_loop_base(l), EVLOOP_NONBLOCK);
}

/* A connection on one end of a socket pair (its send buffer `sndbuf` bytes when > 0), on
 * a new loop; *peer is the other end. */
static conn_t *start(net_loop_t **l, int *peer, owner_t *o, int sndbuf)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    if (sndbuf > 0)
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    *l = net_loop_new();
    *peer = sv[1];
    return conn_new(*l, sv[0], &hooks, o);
}

static void test_writes_of_a_turn_leave_together(void **state)
{
    (void)state;
    net_loop_t *l;
    int peer;
    owner_t o = {0};
    conn_t *c = start(&l, &peer, &o, 0);
    sioc_shared_t *a = shared_copy("AAAA", 4);
    assert_non_null(a);
    char got[64];

    /* Queued by reference (the block is referenced, not copied), in call order. */
    assert_int_equal(conn_write(c, "1", 1), 0);
    assert_int_equal(conn_write_shared(c, a, 1, 3), 0);
    assert_int_equal(conn_write_static(c, "ss", 2), 0);
    assert_int_equal(conn_pending(c), 6);
    assert_int_equal(a->refs, 2);
    assert_int_equal(drain(peer, got, sizeof(got)), 0);
    turn(l);
    assert_int_equal(drain(peer, got, sizeof(got)), 6);
    assert_memory_equal(got, "1AAAss", 6);
    assert_int_equal(conn_pending(c), 0);
    assert_int_equal(a->refs, 1); /* released once written */

    /* A flushing close writes what is queued first. */
    assert_int_equal(conn_write_shared(c, a, 0, 4), 0);
    conn_close(c, 1);
    turn(l);
    turn(l);
    assert_int_equal(drain(peer, got, sizeof(got)), 4);
    assert_memory_equal(got, "AAAA", 4);
    close(peer); /* the peer's EOF ends the lingering close */
    for (int i = 0; i < 100 && !o.closed; i++)
        turn(l);
    assert_int_equal(o.closed, 1);
    assert_int_equal(a->refs, 1);
    shared_unref(a);
    net_loop_free(l);
}

static void test_partial_writes(void **state)
{
    (void)state;
    net_loop_t *l;
    int peer;
    owner_t o = {0};
    conn_t *c = start(&l, &peer, &o, 4096);
    const size_t n = 1 << 20;
    sioc_shared_t *big = shared_new(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big->data[i] = (char)('a' + i % 23);

    assert_int_equal(conn_write_shared(c, big, 0, n), 0);
    turn(l);
    size_t left = conn_pending(c);
    assert_true(left > 0 && left < n); /* the kernel took a part, the rest waits */
    assert_int_equal(big->refs, 2);

    char *got = malloc(n);
    size_t have = 0;
    for (int i = 0; i < 100000 && have < n; i++) {
        have += drain(peer, got + have, n - have);
        turn(l);
    }
    assert_int_equal(have, n);
    assert_memory_equal(got, big->data, n);
    assert_int_equal(conn_pending(c), 0);
    assert_int_equal(big->refs, 1);

    free(got);
    conn_close(c, 0);
    turn(l);
    shared_unref(big);
    close(peer);
    net_loop_free(l);
}

static void test_input_kept_until_consumed(void **state)
{
    (void)state;
    net_loop_t *l;
    int peer;
    owner_t o = {0};
    conn_t *c = start(&l, &peer, &o, 0);

    assert_int_equal(write(peer, "ab", 2), 2);
    turn(l);
    assert_int_equal(o.calls, 1);
    assert_int_equal(conn_buffered(c), 2);

    assert_int_equal(write(peer, "c\nd", 3), 3);
    turn(l);
    assert_int_equal(o.calls, 2);
    assert_int_equal(o.seen_len, 5);
    assert_memory_equal(o.seen, "abc\nd", 5); /* the kept bytes, then the new ones */
    assert_int_equal(conn_buffered(c), 1);

    assert_int_equal(write(peer, "\n", 1), 1);
    turn(l);
    assert_memory_equal(o.seen, "d\n", 2);
    assert_int_equal(conn_buffered(c), 0);

    /* Past the cap (8 bytes and one read): closed, with the reason. */
    conn_set_limits(c, 8, 1 << 20);
    char junk[100];
    memset(junk, 'x', sizeof(junk));
    for (int i = 0; i < 20 && !o.closed; i++) {
        (void)!write(peer, junk, sizeof(junk));
        turn(l);
    }
    assert_int_equal(o.closed, 1);
    assert_int_equal(o.reason, CONN_CLOSE_INPUT_CAP);
    close(peer);
    net_loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writes_of_a_turn_leave_together),
        cmocka_unit_test(test_partial_writes),
        cmocka_unit_test(test_input_kept_until_consumed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
