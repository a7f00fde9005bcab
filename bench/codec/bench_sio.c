/*
 * bench_sio.c - micro-benchmarks for common/sio (packets/s and MB/s).
 *
 * sio_packet_parse on the packets a chat worker sees most, the whole chain
 * from an Engine.IO text frame, header writing, placeholder handling and raw
 * jscan validation. It also proves the parser allocates nothing: malloc and
 * friends are wrapped (glibc's __libc_* entry points) and counted around
 * the parse loops; any allocation there fails the run. Sanitizer builds
 * bring their own allocator, so there the count is skipped.
 * Usage: bench_sio [seconds per case, default 0.5].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "eio/eio_packet.h"
#include "sio/jscan.h"
#include "sio/sio_binary.h"
#include "sio/sio_packet.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NO_MALLOC_HOOK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define NO_MALLOC_HOOK 1
#endif
#endif

#if !defined(NO_MALLOC_HOOK) && defined(__GLIBC__)
/*
 * Allocation counter. It must be a global: malloc has no context argument.
 * glibc exports its allocator as __libc_*, so these wrappers interpose the
 * process-wide malloc without dlsym.
 */
static unsigned long allocations;
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t c, size_t n);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);

void *malloc(size_t n)
{
    allocations++;
    return __libc_malloc(n);
}

void *calloc(size_t c, size_t n)
{
    allocations++;
    return __libc_calloc(c, n);
}

void *realloc(void *p, size_t n)
{
    allocations++;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    __libc_free(p);
}

#define COUNTING 1
static unsigned long alloc_count(void)
{
    return allocations;
}
#else
#define COUNTING 0
static unsigned long alloc_count(void)
{
    return 0;
}
#endif

#define PH(n) "{\"_placeholder\":true,\"num\":" #n "}"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keeps results alive so the compiler cannot drop the work. */
static volatile long sink;

typedef long (*case_fn)(const void *arg);

static int run(const char *name, case_fn fn, const void *arg, size_t bytes_per_op, double secs,
               int must_not_allocate)
{
    long ops = 0;
    double t0 = now(), t;
    unsigned long a0 = alloc_count();
    do {
        for (int i = 0; i < 64; i++)
            sink += fn(arg);
        ops += 64;
        t = now();
    } while (t - t0 < secs);
    unsigned long allocs = alloc_count() - a0;
    double per_s = (double)ops / (t - t0);
    printf("%-40s %12.0f packets/s  %8.1f MB/s", name, per_s, per_s * (double)bytes_per_op / 1e6);
    if (COUNTING)
        printf("  %lu allocs", allocs);
    printf("\n");
    if (must_not_allocate && allocs != 0) {
        fprintf(stderr, "%s: %lu allocations in a path that must not allocate\n", name, allocs);
        return 1;
    }
    return 0;
}

static long parse_case(const void *arg)
{
    const char *s = arg;
    sio_packet_t pkt;
    int r = sio_packet_parse(s, strlen(s), &pkt, NULL);
    if (r < 0)
        abort();
    return r + (long)pkt.event.len;
}

static long frame_case(const void *arg)
{
    const char *frame = arg;
    eio_packet_t e;
    sio_packet_t pkt;
    size_t n = strlen(frame);
    if (eio_packet_decode(frame, n, &e, NULL) < 0 ||
        sio_packet_parse(e.data.base, e.data.len, &pkt, NULL) < 0)
        abort();
    /* What the router does next: match the event name. */
    return jscan_string_eq(pkt.event, "send-message");
}

static long jscan_case(const void *arg)
{
    const sioc_buf_t *b = arg;
    jscan_value_t v;
    if (jscan_value(b->base, b->len, &v) < 0)
        abort();
    return v.kind;
}

static long write_case(const void *arg)
{
    sioc_buf_t *b = (sioc_buf_t *)arg;
    buf_reset(b);
    if (buf_append_byte(b, '4') || sio_packet_write(b, SIO_EVENT, 0, SIOC_LIT("/chat"), 0, 0,
                                                    SIOC_LIT("[\"new-message\",{\"roomId\":\"r1\","
                                                             "\"msg\":\"hello world\"}]")))
        abort();
    return (long)b->len;
}

static long rewrite_case(const void *arg)
{
    sioc_buf_t *b = (sioc_buf_t *)arg;
    static const unsigned map[2] = {1, 0};
    buf_reset(b);
    if (sio_binary_rewrite(b, SIOC_LIT("[\"message\"," PH(0) ",{\"x\":[" PH(1) "]}]"), map, 2,
                           NULL) != 0)
        abort();
    return (long)b->len;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.5;
    if (secs <= 0)
        secs = 0.5;
    static const char chat[] = "2[\"send-message\",{\"roomId\":\"r1\",\"msg\":\"hello world\"}]";
    static const char chat_frame[] =
        "42/chat,17[\"send-message\",{\"roomId\":\"r1\",\"msg\":\"hello world\"}]";
    static const char binary[] = "52-[\"message\"," PH(0) "," PH(1) "]";
    static const char ack[] = "3456[1,\"2\",{\"3\":[false]}]";
    static const char connect[] = "0/admin,{\"token\":\"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.x\"}";

    /* A 1 KB JSON object for raw scanner throughput. */
    sioc_buf_t doc = {0}, out = {0};
    int fail = 0;
    if (buf_append_str(&doc, "{"))
        abort();
    for (int i = 0; doc.len < 1000; i++) {
        char member[96];
        snprintf(member, sizeof(member), "%s\"k%d\":[%d,\"value \\u00e9 %d\",true,null,-1.5e3]",
                 i ? "," : "", i, i, i);
        if (buf_append_str(&doc, member))
            abort();
    }
    if (buf_append_str(&doc, "}"))
        abort();

    printf("bench_sio (%.2f s per case)%s\n", secs, COUNTING ? "" : " [allocations not counted]");
    if (COUNTING) {
        /* Self-test: the counter must see an allocation, or "0 allocs" proves nothing. */
        void *(*volatile alloc)(size_t) = malloc;
        unsigned long before = alloc_count();
        free(alloc(16));
        if (alloc_count() == before) {
            fprintf(stderr, "allocation counter inactive\n");
            return 1;
        }
    }
    fail |= run("parse 42[\"send-message\",{...}]", parse_case, chat, sizeof(chat) - 1, secs, 1);
    fail |= run("frame -> eio -> sio + event match", frame_case, chat_frame, sizeof(chat_frame) - 1,
                secs, 1);
    fail |= run("parse 452-[\"message\",ph0,ph1]", parse_case, binary, sizeof(binary) - 1, secs, 1);
    fail |= run("parse 43456[ack args]", parse_case, ack, sizeof(ack) - 1, secs, 1);
    fail |= run("parse 40/admin,{token}", parse_case, connect, sizeof(connect) - 1, secs, 1);
    fail |= run("jscan_value 1 KB object", jscan_case, &doc, doc.len, secs, 1);
    /* Writers reuse one buffer, so after the first call they do not allocate either. */
    (void)write_case(&out);
    fail |= run("write 42/chat,[\"new-message\",{...}]", write_case, &out, 60, secs, 1);
    (void)rewrite_case(&out);
    fail |= run("sio_binary_rewrite 2 placeholders", rewrite_case, &out, 83, secs, 1);
    buf_free(&doc);
    buf_free(&out);
    return fail;
}
