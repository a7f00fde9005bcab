/*
 * bench_adapter.c - broadcasts per second through common/adapter/adapter_msg.
 *
 * A typical chat broadcast (event + small object, one room, the sender's sid
 * excepted) is encoded from Socket.IO JSON into the adapter's msgpack
 * envelope and decoded back into JSON + rooms, with buffers and context
 * reused as the worker reuses them. Prints messages/s and MB/s of msgpack.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapter/adapter_msg.h"
#include "base/buf.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *what, long n, size_t bytes, double secs)
{
    printf("%-28s %10.0f msg/s %8.1f MB/s  (%zu bytes each)\n", what, (double)n / secs,
           (double)n * (double)bytes / secs / 1e6, bytes);
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 1000000;
    static const char chat[] =
        "[\"chat message\",{\"room\":\"lobby\",\"user\":\"alice\",\"text\":\"hello world, how are "
        "you "
        "today?\",\"ts\":1718000000000}]";
    sioc_iov_t rooms[] = {SIOC_LIT("lobby")};
    sioc_iov_t except[] = {SIOC_LIT("Xk3pQ9zLmN2vB7cR0aaa")};
    adapter_msg_broadcast_t in = {.uid = SIOC_LIT("Ab12Cd")};
    in.packet.type = 2;
    in.packet.nsp = SIOC_LIT("/");
    in.packet.data.json = SIOC_LIT(chat);
    in.opts.rooms = rooms;
    in.opts.nrooms = 1;
    in.opts.except = except;
    in.opts.nexcept = 1;

    adapter_msg_ctx_t ctx;
    adapter_msg_ctx_init(&ctx, NULL);
    sioc_buf_t mp = {0}, json = {0};
    sioc_iov_t av[8];
    adapter_msg_att_t att = {av, 8, 0};
    adapter_msg_broadcast_t out;

    if (adapter_msg_broadcast_encode(&ctx, &in, 0, &mp) != 0)
        return 1;
    size_t msg_len = mp.len;
    double t0 = now();
    for (long i = 0; i < iters; i++) {
        buf_reset(&mp);
        if (adapter_msg_broadcast_encode(&ctx, &in, 0, &mp) != 0)
            return 1;
    }
    report("broadcast encode (chat)", iters, msg_len, now() - t0);

    t0 = now();
    for (long i = 0; i < iters; i++) {
        buf_reset(&json);
        att.n = 0;
        if (adapter_msg_broadcast_decode(&ctx, mp.base, mp.len, &json, &att, &out) != (int)mp.len)
            return 1;
    }
    report("broadcast decode (chat)", iters, msg_len, now() - t0);
    if (out.packet.data.json.len != sizeof(chat) - 1 ||
        memcmp(out.packet.data.json.base, chat, sizeof(chat) - 1) != 0)
        return 1;

    /* binary: 4 KiB attachment */
    static char blob[4096];
    sioc_iov_t a = {blob, sizeof(blob)};
    in.packet.data.json =
        SIOC_LIT("[\"file\",{\"name\":\"a.bin\",\"data\":{\"_placeholder\":true,\"num\":0}}]");
    in.packet.data.att = &a;
    in.packet.data.natt = 1;
    in.packet.data.binary = 1;
    buf_reset(&mp);
    if (adapter_msg_broadcast_encode(&ctx, &in, 0, &mp) != 0)
        return 1;
    msg_len = mp.len;
    long bin_iters = iters / 4 + 1;
    t0 = now();
    for (long i = 0; i < bin_iters; i++) {
        buf_reset(&json);
        att.n = 0;
        if (adapter_msg_broadcast_decode(&ctx, mp.base, mp.len, &json, &att, &out) != (int)mp.len)
            return 1;
    }
    report("broadcast decode (4K bin)", bin_iters, msg_len, now() - t0);

    buf_free(&mp);
    buf_free(&json);
    adapter_msg_ctx_free(&ctx);
    return 0;
}
