/*
 * bench_ws.c - WebSocket codec micro-benchmarks: MB/s (10^6 bytes per second).
 *
 *   unmask          ws_frame_unmask over a 64 KiB buffer at an odd offset
 *   reader 64K bin  ws_reader_next over masked 64 KiB binary frames
 *   reader 100B txt ws_reader_next over masked 100-byte text frames (UTF-8 checked)
 *   utf8 ...        utf8_validate on ASCII, on mixed text and on non-Latin text
 *
 * The reader unmasks in place, so each pass first copies the pristine masked
 * input into the work buffer (as a socket read would); the cost of that copy
 * alone is printed too. Usage: bench_ws [seconds per case, default 0.5].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/utf8.h"
#include "ws/ws_frame.h"
#include "ws/ws_reader.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double min_secs = 0.5;
static volatile size_t sink;

static void report(const char *name, double bytes, double secs)
{
    printf("%-34s %10.1f MB/s\n", name, bytes / secs / 1e6);
}

static void bench_unmask(void)
{
    size_t n = 65536;
    uint8_t *b = malloc(n + 16);
    const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    memset(b, 'a', n + 16);
    double bytes = 0, t0 = now(), t;
    do {
        for (int i = 0; i < 64; i++) {
            ws_frame_unmask(b + 1, n, key, 0);
            bytes += (double)n;
        }
        t = now() - t0;
    } while (t < min_secs);
    sink += b[100];
    report("unmask 64 KiB (unaligned)", bytes, t);
    free(b);
}

/* `count` masked frames of `plen` bytes each, payload from `fill`. */
static sioc_buf_t make_frames(int opcode, size_t plen, size_t count, const uint8_t *fill)
{
    sioc_buf_t b = {0};
    const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    for (size_t i = 0; i < count; i++)
        if (ws_frame_append(&b, opcode, 1, fill, plen, key) != 0)
            abort();
    return b;
}

static void bench_reader(const char *name, int opcode, size_t plen, size_t count)
{
    uint8_t *fill = malloc(plen);
    static const char words[] = "the quick brown fox jumps over the lazy dog {\"event\":[1,2]} ";
    for (size_t i = 0; i < plen; i++)
        fill[i] = (uint8_t)words[i % (sizeof(words) - 1)];
    sioc_buf_t in = make_frames(opcode, plen, count, fill);
    uint8_t *work = malloc(in.len);
    ws_reader_t r;
    ws_reader_init(&r, WS_READER_SERVER, 1 << 20);
    double bytes = 0, copy_secs = 0, t0 = now(), t;
    do {
        double c0 = now();
        memcpy(work, in.base, in.len);
        copy_secs += now() - c0;
        size_t off = 0;
        while (off < in.len) {
            ws_event_t ev;
            int n = ws_reader_next(&r, work + off, in.len - off, &ev);
            if (n <= 0 || ev.payload.len != plen)
                abort();
            off += (size_t)n;
        }
        bytes += (double)in.len;
        t = now() - t0;
    } while (t < min_secs);
    report(name, bytes, t);
    char label[64];
    snprintf(label, sizeof(label), "  (of which refill memcpy)");
    report(label, bytes, copy_secs);
    char label2[64];
    snprintf(label2, sizeof(label2), "  frames/s: %.2fM",
             bytes / (double)(in.len / count) / t / 1e6);
    printf("%s\n", label2);
    ws_reader_free(&r);
    buf_free(&in);
    free(work);
    free(fill);
}

static void bench_utf8(const char *name, const char *unit, size_t total)
{
    size_t ulen = strlen(unit), n = total / ulen * ulen;
    uint8_t *b = malloc(n);
    for (size_t i = 0; i < n; i += ulen)
        memcpy(b + i, unit, ulen);
    if (!utf8_is_valid(b, n))
        abort();
    double bytes = 0, t0 = now(), t;
    do {
        for (int i = 0; i < 16; i++) {
            sink += (size_t)utf8_validate(b, n, NULL);
            bytes += (double)n;
        }
        t = now() - t0;
    } while (t < min_secs);
    report(name, bytes, t);
    free(b);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        min_secs = atof(argv[1]);
    bench_unmask();
    bench_reader("reader 64 KiB masked binary", WS_FRAME_OP_BINARY, 65536, 16);
    bench_reader("reader 100 B masked text", WS_FRAME_OP_TEXT, 100, 10000);
    /* Socket.IO traffic is mostly ASCII JSON with the odd accented letter. */
    bench_utf8("utf8 ASCII (JSON-like)",
               "42[\"chat message\",{\"user\":\"alice\",\"text\":\"hello there, how are you?\"}]",
               1 << 20);
    bench_utf8("utf8 mostly ASCII (1 in 40 2-byte)",
               "42[\"chat\",{\"text\":\"caf\xc3\xa9 au lait, s'il vous pla\xc3\xaet!\"}]", 1 << 20);
    bench_utf8("utf8 mixed (Latin/Cyrillic/CJK/emoji)",
               "Hello \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
               "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80 ok. ",
               1 << 20);
    bench_utf8("utf8 Cyrillic",
               "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xd0\xbc\xd0\xb8\xd1\x80 ",
               1 << 20);
    bench_utf8("utf8 CJK",
               "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c\xe3\x81\x93\xe3\x82\x93\xe3\x81"
               "\xab\xe3\x81\xa1\xe3\x81\xaf",
               1 << 20);
    return (int)(sink & 0);
}
