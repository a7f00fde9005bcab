/*
 * client.c - client connections and their HTTP responses (client.h).
 *
 * Heads are framed by http_resp.h, in the order the worker has always sent them
 * (status, Content-Type, Content-Length, Connection, CORS, extra fields): clients and
 * tests see the same bytes. The one reason phrase that differs from http_resp's table
 * is 413, which the worker spells "Payload Too Large" (RFC 7231) where RFC 9110 says
 * "Content Too Large".
 */
#include "client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/clock.h"
#include "base/hmap.h"
#include "http/http_compress.h"
#include "http/http_resp.h"
#include "net/conn.h"
#include "ws/ws_reader.h"

void client_cors_decide(client_t *cl, sioc_iov_t origin)
{
    const worker_config_t *cf = cl->e->conf;
    cl->cors = 0;
    if (cf->num_cors_origins == 0)
        return;
    if (cf->cors_any) {
        cl->cors = 1;
        return;
    }
    for (size_t i = 0; i < cf->num_cors_origins; i++)
        if (origin.len > 0 && iov_eq_str(origin, cf->cors_origins[i]))
            cl->cors = (uint8_t)(2 + i);
}

static int add_cors(client_t *cl, sioc_buf_t *b)
{
    if (cl->cors == 0)
        return 0;
    if (cl->cors == 1)
        return http_resp_header(b, SIOC_LIT("Access-Control-Allow-Origin"), SIOC_LIT("*"));
    const char *o = cl->e->conf->cors_origins[cl->cors - 2];
    int r = http_resp_header(b, SIOC_LIT("Access-Control-Allow-Origin"), iov_make(o, strlen(o)));
    if (r == 0)
        r = http_resp_header(b, SIOC_LIT("Access-Control-Allow-Credentials"), SIOC_LIT("true"));
    if (r == 0)
        r = http_resp_header(b, SIOC_LIT("Vary"), SIOC_LIT("Origin"));
    return r;
}

static int status_line(sioc_buf_t *b, int status)
{
    return http_resp_status(b, status, status == 413 ? "Payload Too Large" : NULL);
}

void client_respond(client_t *cl, int status, const char *ctype, const char *extra,
                    const char *body, size_t body_len, int close)
{
    if (status >= 400)
        cl->e->stats->http_errors++;
    if (!cl->keep_alive)
        close = 1;
    sioc_buf_t b = {0};
    int r = status_line(&b, status);
    if (r == 0 && ctype != NULL)
        r = http_resp_header(&b, SIOC_LIT("Content-Type"), iov_make(ctype, strlen(ctype)));
    if (r == 0)
        r = http_resp_header_u64(&b, SIOC_LIT("Content-Length"), body_len);
    if (r == 0 && close)
        r = http_resp_header(&b, SIOC_LIT("Connection"), SIOC_LIT("close"));
    if (r == 0)
        r = add_cors(cl, &b);
    if (r == 0 && extra != NULL)
        r = buf_append_str(&b, extra);
    if (r == 0)
        r = buf_append(&b, "\r\n", 2);
    if (r == 0 && !cl->head)
        r = buf_append(&b, body, body_len);
    if (r == 0)
        (void)!conn_write(cl->conn, b.base, b.len);
    buf_free(&b);
    if (close)
        conn_close(cl->conn, 1);
}

void client_coding_decide(client_t *cl, const http_request_t *req)
{
    cl->coding = HTTP_COMPRESS_NONE;
    if (!cl->e->conf->http_compression)
        return;
    size_t pos = 0;
    int i = http_header_find(req->headers, req->num_headers, SIOC_LIT("accept-encoding"), &pos);
    if (i >= 0)
        cl->coding = (uint8_t)http_compress_pick(req->headers[i].value);
}

void client_respond_payload(client_t *cl, const char *extra, const char *body, size_t len,
                            int compress)
{
    static const char ctype[] = "text/plain; charset=UTF-8";
    const worker_config_t *cf = cl->e->conf;
    if (!compress || cl->coding == HTTP_COMPRESS_NONE || !cf->http_compression ||
        len < (size_t)cf->http_compression_threshold) {
        client_respond(cl, 200, ctype, extra, body, len, 0);
        return;
    }
    sioc_buf_t z = {0};
    char head[256];
    int n = snprintf(head, sizeof(head), "%sContent-Encoding: %s\r\n", extra ? extra : "",
                     http_compress_name(cl->coding));
    if (n < 0 || (size_t)n >= sizeof(head) || http_compress(cl->coding, body, len, &z) != 0) {
        /* Node answers 500 when zlib fails; the uncompressed body serves the client better. */
        buf_free(&z);
        client_respond(cl, 200, ctype, extra, body, len, 0);
        return;
    }
    cl->e->stats->http_compressed++;
    cl->e->stats->http_compressed_in += len;
    cl->e->stats->http_compressed_out += z.len;
    client_respond(cl, 200, ctype, head, z.base, z.len, 0);
    buf_free(&z);
}

void client_stream_head(client_t *cl, const char *ctype, const char *extra)
{
    sioc_buf_t b = {0};
    int r = status_line(&b, 200);
    if (r == 0)
        r = http_resp_header(&b, SIOC_LIT("Content-Type"), iov_make(ctype, strlen(ctype)));
    if (r == 0)
        r = http_resp_header(&b, SIOC_LIT("Connection"), SIOC_LIT("close"));
    if (r == 0)
        r = add_cors(cl, &b);
    if (r == 0 && extra != NULL)
        r = buf_append_str(&b, extra);
    if (r == 0)
        r = buf_append(&b, "\r\n", 2);
    if (r == 0)
        (void)!conn_write(cl->conn, b.base, b.len);
    buf_free(&b);
}

void client_respond_eio_error(client_t *cl, int code)
{
    static const char *msgs[] = {
        "Transport unknown", "Session ID unknown", "Bad handshake method",
        "Bad request",       "Forbidden",          "Unsupported protocol version"};
    char body[96];
    int n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}", code, msgs[code]);
    client_respond(cl, code == 4 ? 403 : 400, "application/json", NULL, body, (size_t)n, 0);
}

void client_respond_ws_error(client_t *cl, int status, const char *msg)
{
    size_t len = strlen(msg);
    sioc_buf_t b = {0};
    int r = status_line(&b, status);
    if (r == 0)
        r = http_resp_header(&b, SIOC_LIT("Connection"), SIOC_LIT("close"));
    if (r == 0)
        r = http_resp_header(&b, SIOC_LIT("Content-Type"), SIOC_LIT("text/html"));
    if (r == 0 && status == 426)
        r = http_resp_header(&b, SIOC_LIT("Sec-WebSocket-Version"), SIOC_LIT("13"));
    if (r == 0)
        r = http_resp_end(&b, (long long)len);
    if (r == 0)
        r = buf_append(&b, msg, len);
    cl->e->stats->http_errors++;
    if (r == 0)
        (void)!conn_write(cl->conn, b.base, b.len);
    buf_free(&b);
    conn_close(cl->conn, 1);
}

void client_to_http(client_t *cl)
{
    cl->session = NULL;
    cl->mode = CLIENT_HTTP;
    cl->since_ms = clock_ms();
}

eio_session_t *client_session_new(client_t *cl, int websocket)
{
    addrcount_hold(cl->ip);
    return eio_session_new(cl->e->sessions, websocket, cl->ip, addrcount_addr(cl->ip));
}

void client_addr_release(addrcount_entry_t *ip)
{
    if (ip != NULL)
        addrcount_drop(ip);
}

void client_free(client_t *cl)
{
    struct engine *e = cl->e;
    list_remove(&cl->link);
    e->conns--;
    addrcount_release(cl->ip);
    if (cl->mode == CLIENT_WS && cl->ws != NULL) {
        ws_reader_free(cl->ws);
        free(cl->ws);
    }
    free(cl);
}
