/*
 * rand.c - kernel randomness (rand.h).
 *
 * getrandom() is called in batches through a small pool so that a burst of
 * handshakes does not turn into one syscall per id.
 */
#include "rand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "base/base64.h"

void rand_fill(void *out, size_t n)
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
