/*
 * rand.c - kernel randomness (rand.h).
 *
 * getrandom() is called in batches through a small pool so that a burst of
 * handshakes does not turn into one syscall per id.
 */
#include "rand.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/base64.h"

#define POOL_SIZE 1024
#define POOL_MAX_TAKE 64 /* larger requests go to the kernel directly */

/* Bytes not yet handed out are the last `left` of the pool (0: empty). One pool per thread;
 * a forked child starts with an empty one, so no two processes hand out the same bytes. */
static _Thread_local struct {
    unsigned char bytes[POOL_SIZE];
    size_t left;
} pool;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void kernel_fill(void *out, size_t n)
{
    char *p = out;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            perror("getrandom");
            abort();
        }
        p += r;
        n -= (size_t)r;
    }
}

static void pool_forget(void)
{
    explicit_bzero(pool.bytes, sizeof(pool.bytes));
    pool.left = 0;
}

static void atfork_register(void)
{
    pthread_atfork(NULL, NULL, pool_forget);
}

void rand_fill(void *out, size_t n)
{
    if (n > POOL_MAX_TAKE) {
        kernel_fill(out, n);
        return;
    }
    if (pool.left < n) {
        pthread_once(&atfork_once, atfork_register);
        kernel_fill(pool.bytes, sizeof(pool.bytes));
        pool.left = POOL_SIZE;
    }
    unsigned char *p = pool.bytes + POOL_SIZE - pool.left;
    memcpy(out, p, n);
    explicit_bzero(p, n); /* handed out once */
    pool.left -= n;
}

void rand_id(char *out, size_t len)
{
    unsigned char raw[64];
    while (len > 0) {
        size_t chunk = len > sizeof(raw) ? sizeof(raw) : len;
        rand_fill(raw, chunk);
        for (size_t i = 0; i < chunk; i++)
            *out++ = base64url_alphabet[raw[i] & 63];
        len -= chunk;
    }
    *out = '\0';
}

uint64_t rand_u64(void)
{
    uint64_t v;
    rand_fill(&v, sizeof(v));
    return v;
}
