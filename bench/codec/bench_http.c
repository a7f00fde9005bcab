/*
 * bench_http.c - micro-benchmarks for common/http (MB/s and heads/s).
 *
 * Parses typical Socket.IO heads in a loop, as picohttpparser's bench.c
 * does: a browser polling GET (the hot request on a polling-heavy cluster),
 * the polling POST, the WebSocket upgrade and a worker's 200 response; then
 * query lookups, cookie lookups, chunked decoding and response writing.
 * Usage: bench_http [seconds per case, default 0.5].
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "http/http_chunked.h"
#include "http/http_parse.h"
#include "http/http_query.h"
#include "http/http_resp.h"

static const char polling_get[] =
    "GET /socket.io/?EIO=4&transport=polling&t=PbXz1Qe&sid=Xk3N6aPsJ0cVvXl-AAAB HTTP/1.1\r\n"
    "Host: chat.example.com\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua: \"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\", \"Not-A.Brand\";v=\"99\"\r\n"
    "Accept: */*\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Origin: https://app.example.com\r\n"
    "Sec-Fetch-Site: same-site\r\n"
    "Sec-Fetch-Mode: cors\r\n"
    "Sec-Fetch-Dest: empty\r\n"
    "Referer: https://app.example.com/\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Cookie: sioc=3.9f2c1a7be4d05c66; io=Xk3N6aPsJ0cVvXl-AAAB\r\n"
    "\r\n";

static const char polling_post[] =
    "POST /socket.io/?EIO=4&transport=polling&t=PbXz1Qf&sid=Xk3N6aPsJ0cVvXl-AAAB HTTP/1.1\r\n"
    "Host: chat.example.com\r\n"
    "Connection: keep-alive\r\n"
    "Content-Length: 38\r\n"
    "Content-Type: text/plain;charset=UTF-8\r\n"
    "Accept: */*\r\n"
    "Origin: https://app.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "Cookie: sioc=3.9f2c1a7be4d05c66; io=Xk3N6aPsJ0cVvXl-AAAB\r\n"
    "\r\n";

static const char ws_upgrade[] =
    "GET /socket.io/?EIO=4&transport=websocket&sid=Xk3N6aPsJ0cVvXl-AAAB HTTP/1.1\r\n"
    "Host: chat.example.com\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: https://app.example.com\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Cookie: sioc=3.9f2c1a7be4d05c66; io=Xk3N6aPsJ0cVvXl-AAAB\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

static const char resp_200[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/plain; charset=UTF-8\r\n"
                               "Content-Length: 24\r\n"
                               "Access-Control-Allow-Origin: https://app.example.com\r\n"
                               "Access-Control-Allow-Credentials: true\r\n"
                               "Vary: Origin\r\n"
                               "Date: Mon, 01 Jun 2026 12:00:00 GMT\r\n"
                               "\r\n";

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keeps results observable so the loops are not optimised away. */
static volatile long sink;

typedef long (*case_fn)(const void *arg);

static void run(const char *name, case_fn fn, const void *arg, size_t bytes_per_op, double secs)
{
    long ops = 0;
    double start = now(), t;
    do {
        for (int i = 0; i < 1000; i++)
            sink += fn(arg);
        ops += 1000;
        t = now() - start;
    } while (t < secs);
    double per_s = (double)ops / t;
    if (bytes_per_op)
        printf("%-28s %10.0f ops/s  %8.1f MB/s  (%zu bytes/op)\n", name, per_s,
               per_s * (double)bytes_per_op / 1e6, bytes_per_op);
    else
        printf("%-28s %10.0f ops/s\n", name, per_s);
}

static long parse_req_case(const void *arg)
{
    const char *s = arg;
    http_header_t hdrs[32];
    http_request_t req = {.headers = hdrs, .num_headers = 32};
    const char *reason;
    int r = http_parse_request(s, strlen(s), &req, NULL, &reason);
    if (r <= 0)
        abort();
    return r + (long)req.num_headers;
}

static long parse_res_case(const void *arg)
{
    const char *s = arg;
    http_header_t hdrs[32];
    http_response_t res = {.headers = hdrs, .num_headers = 32};
    const char *reason;
    int r = http_parse_response(s, strlen(s), &res, NULL, &reason);
    if (r <= 0)
        abort();
    return r;
}

/* What the proxy does per polling request: parse, then find sid and the affinity cookie. */
static long route_case(const void *arg)
{
    const char *s = arg;
    http_header_t hdrs[32];
    http_request_t req = {.headers = hdrs, .num_headers = 32};
    const char *reason;
    int r = http_parse_request(s, strlen(s), &req, NULL, &reason);
    sioc_iov_t sid, cookie;
    if (r <= 0 || !http_query_get(req.query, "sid", &sid) ||
        !http_cookie_get(req.cookie, "sioc", &cookie))
        abort();
    return r + (long)sid.len + (long)cookie.len;
}

static long query_case(const void *arg)
{
    (void)arg;
    sioc_iov_t q = SIOC_LIT("EIO=4&transport=polling&t=PbXz1Qe&sid=Xk3N6aPsJ0cVvXl-AAAB"), v;
    long n = 0;
    n += http_query_get(q, "EIO", &v);
    n += http_query_get(q, "transport", &v);
    n += http_query_get(q, "sid", &v);
    return n + (long)v.len;
}

static long chunked_case(const void *arg)
{
    const char *s = arg;
    size_t len = strlen(s), off = 0;
    http_chunked_t d;
    http_chunked_init(&d, 0);
    long body = 0;
    int r;
    sioc_iov_t data;
    while ((r = http_chunked_next(&d, s + off, len - off, &data, NULL)) > 0) {
        off += (size_t)r;
        body += (long)data.len;
    }
    if (r != 0)
        abort();
    return body;
}

static long resp_case(const void *arg)
{
    sioc_buf_t *b = (sioc_buf_t *)arg;
    buf_reset(b);
    http_header_t h[2] = {
        {SIOC_LIT("Access-Control-Allow-Origin"), SIOC_LIT("https://app.example.com")},
        {SIOC_LIT("Vary"), SIOC_LIT("Origin")}};
    if (http_resp_head(b, 200, h, 2, 24, 1) != 0)
        abort();
    return (long)b->len;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 0.5;
    if (secs <= 0)
        secs = 0.5;

    run("parse polling GET", parse_req_case, polling_get, sizeof(polling_get) - 1, secs);
    run("parse polling POST", parse_req_case, polling_post, sizeof(polling_post) - 1, secs);
    run("parse ws upgrade", parse_req_case, ws_upgrade, sizeof(ws_upgrade) - 1, secs);
    run("parse response 200", parse_res_case, resp_200, sizeof(resp_200) - 1, secs);
    run("route (parse+sid+cookie)", route_case, polling_get, sizeof(polling_get) - 1, secs);
    run("query_get x3", query_case, NULL, 0, secs);

    /* A 16 KiB body in 1 KiB chunks. */
    size_t cap = 16 * (1024 + 16) + 8, n = 0;
    char *chunked = malloc(cap + 1);
    for (int i = 0; i < 16; i++) {
        n += (size_t)sprintf(chunked + n, "400\r\n");
        memset(chunked + n, 'a' + i, 1024);
        n += 1024;
        n += (size_t)sprintf(chunked + n, "\r\n");
    }
    n += (size_t)sprintf(chunked + n, "0\r\n\r\n");
    run("chunked 16x1KiB", chunked_case, chunked, n, secs);
    free(chunked);

    sioc_buf_t b = {0};
    run("write response head", resp_case, &b, 0, secs);
    buf_free(&b);
    return 0;
}
