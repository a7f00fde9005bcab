/* Unit tests for common/net/outq: order of copies and references across partial writes,
 * small copies sharing a piece, shared blocks released once written (or when the queue
 * is freed), growth of the ring past its first pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/shared.h"
#include "net/outq.h"

#include "drain.h"

static void test_order_and_partial_writes(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);

    sioc_shared_t *sh = shared_new(100000);
    assert_non_null(sh);
    for (size_t i = 0; i < sh->len; i++)
        sh->data[i] = (char)('a' + i % 26);
    static const char stat[] = "[static]";
    char *want = malloc(2000000);
    size_t wl = 0;
    outq_t *q = NULL;
    /* 300 rounds of: a small copy, a static reference, a slice of the shared block */
    for (int i = 0; i < 300; i++) {
        char hdr[16];
        int h = snprintf(hdr, sizeof(hdr), "<%d>", i);
        assert_int_equal(outq_copy(&q, hdr, (size_t)h), 0);
        memcpy(want + wl, hdr, (size_t)h);
        wl += (size_t)h;
        assert_int_equal(outq_ref(&q, stat, sizeof(stat) - 1, NULL), 0);
        memcpy(want + wl, stat, sizeof(stat) - 1);
        wl += sizeof(stat) - 1;
        size_t off = (size_t)i * 97 % 90000, len = 1000 + (size_t)i * 31 % 5000;
        assert_int_equal(outq_ref(&q, sh->data + off, len, shared_ref(sh)), 0);
        memcpy(want + wl, sh->data + off, len);
        wl += len;
    }
    assert_int_equal(outq_len(q), wl);
    assert_true(sh->refs == 301);
    char *got = malloc(2000000);
    size_t gl = 0;
    int writes = 0;
    while (outq_len(q) > 0) {
        ssize_t w = outq_write(q, sv[0]);
        if (w < 0)
            assert_true(errno == EAGAIN);
        else
            writes++;
        gl += drain(sv[1], got + gl, 2000000 - gl);
    }
    gl += drain(sv[1], got + gl, 2000000 - gl);
    assert_true(writes > 10); /* the small send buffer made it take many partial writes */
    assert_int_equal(gl, wl);
    assert_memory_equal(got, want, wl);
    assert_true(sh->refs == 1); /* every queued reference dropped once written */
    outq_free(q);
    shared_unref(sh);
    free(want);
    free(got);
    close(sv[0]);
    close(sv[1]);
}

static void test_free_releases_and_empty(void **state)
{
    (void)state;
    assert_int_equal(outq_len(NULL), 0);
    outq_free(NULL);
    sioc_shared_t *sh = shared_copy("hello", 5);
    outq_t *q = NULL;
    for (int i = 0; i < 40; i++) /* past the first ring of pieces */
        assert_int_equal(outq_ref(&q, sh->data, 5, shared_ref(sh)), 0);
    assert_int_equal(outq_copy(&q, "x", 1), 0);
    assert_int_equal(outq_len(q), 201);
    assert_true(sh->refs == 41);
    outq_free(q); /* unwritten references are dropped too */
    assert_true(sh->refs == 1);
    shared_unref(sh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_partial_writes),
        cmocka_unit_test(test_free_releases_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
