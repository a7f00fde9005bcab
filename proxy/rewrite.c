/*
 * rewrite.c - forwarded request and response heads (rewrite.h).
 */
#include "rewrite.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "http/http_resp.h"

static const sioc_iov_t hop_names[] = {
    SIOC_LIT("connection"), SIOC_LIT("keep-alive"), SIOC_LIT("proxy-connection"),
    SIOC_LIT("te"),         SIOC_LIT("trailer"),    SIOC_LIT("transfer-encoding"),
    SIOC_LIT("upgrade"),
};

int rewrite_is_hop_by_hop(sioc_iov_t name)
{
    for (size_t i = 0; i < sizeof(hop_names) / sizeof(hop_names[0]); i++)
        if (iov_eq_ci(name, hop_names[i]))
            return 1;
    return 0;
}

/* Whether a Connection field lists `name` (and dropping it cannot change the
 * message framing). */
static int connection_listed(const http_header_t *h, size_t n, sioc_iov_t name)
{
    if (iov_eq_ci(name, SIOC_LIT("content-length")) || iov_eq_ci(name, SIOC_LIT("host")) ||
        iov_eq_ci(name, SIOC_LIT("transfer-encoding")))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (iov_eq_ci(h[i].name, SIOC_LIT("connection")) && http_header_has_token(h[i].value, name))
            return 1;
    return 0;
}

static int put(sioc_buf_t *b, sioc_iov_t v)
{
    return buf_append(b, v.base, v.len);
}

static int put_field(sioc_buf_t *b, sioc_iov_t name, sioc_iov_t value)
{
    int r = put(b, name);
    if (r == 0)
        r = buf_append(b, ": ", 2);
    if (r == 0)
        r = put(b, value);
    if (r == 0)
        r = buf_append(b, "\r\n", 2);
    return r;
}

int rewrite_request(sioc_buf_t *out, const http_request_t *req, const rewrite_req_t *o)
{
    size_t start = out->len;
    const http_header_t *h = req->headers;
    size_t n = req->num_headers;
    int r = put(out, req->method);
    if (r == 0)
        r = buf_append_byte(out, ' ');
    if (r == 0)
        r = put(out, req->target);
    if (r == 0)
        r = buf_append_str(out, " HTTP/1.1\r\n");
    int proto_kept = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        sioc_iov_t name = h[i].name;
        if (rewrite_is_hop_by_hop(name) || connection_listed(h, n, name) ||
            iov_eq_ci(name, SIOC_LIT("x-forwarded-for")))
            continue;
        if (iov_eq_ci(name, SIOC_LIT("x-forwarded-proto"))) {
            if (!o->peer_trusted || proto_kept)
                continue;
            proto_kept = 1;
        } else if (!o->peer_trusted && (iov_eq_ci(name, SIOC_LIT("x-real-ip")) ||
                                        iov_eq_ci(name, SIOC_LIT("forwarded")))) {
            continue;
        }
        r = put_field(out, name, h[i].value);
    }
    /* Forwarded as HTTP/1.1, an HTTP/1.0 request without Host gets an empty one (RFC 9112
     * §3.2: the field is required, empty when there is no authority). */
    if (r == 0 && req->host.base == NULL)
        r = buf_append_str(out, "Host:\r\n");
    if (r == 0)
        r = buf_append_str(out, "X-Forwarded-For: ");
    if (o->peer_trusted) {
        for (size_t i = 0; i < n && r == 0; i++) {
            if (!iov_eq_ci(h[i].name, SIOC_LIT("x-forwarded-for")) || h[i].value.len == 0)
                continue;
            r = put(out, h[i].value);
            if (r == 0)
                r = buf_append(out, ", ", 2);
        }
    }
    char addr[64];
    affinity_addr_format(o->peer, addr, sizeof(addr));
    if (r == 0)
        r = buf_append_str(out, addr);
    if (r == 0)
        r = buf_append(out, "\r\n", 2);
    if (r == 0 && !proto_kept)
        r = buf_append_str(out,
                           o->tls ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n");
    if (r == 0 && o->upgrade)
        r = buf_append_str(out, "Connection: Upgrade\r\nUpgrade: websocket\r\n");
    if (r == 0)
        r = buf_append(out, "\r\n", 2);
    if (r != 0)
        out->len = start;
    return r;
}

int rewrite_response(sioc_buf_t *out, const http_response_t *res, const rewrite_res_t *o)
{
    size_t start = out->len;
    const http_header_t *h = res->headers;
    size_t n = res->num_headers;
    char line[32];
    int len = snprintf(line, sizeof(line), "HTTP/1.1 %d ", res->status);
    int r = buf_append(out, line, (size_t)len);
    if (r == 0)
        r = res->reason.len ? put(out, res->reason)
                            : buf_append_str(out, http_status_text(res->status));
    if (r == 0)
        r = buf_append(out, "\r\n", 2);
    for (size_t i = 0; i < n && r == 0; i++) {
        sioc_iov_t name = h[i].name;
        /* The body is relayed as it comes, so its framing fields stay. */
        int framing =
            iov_eq_ci(name, SIOC_LIT("transfer-encoding")) || iov_eq_ci(name, SIOC_LIT("trailer"));
        if ((!framing && rewrite_is_hop_by_hop(name)) || connection_listed(h, n, name))
            continue;
        r = put_field(out, name, h[i].value);
    }
    if (r == 0 && o->set_cookie.len > 0)
        r = put_field(out, SIOC_LIT("Set-Cookie"), o->set_cookie);
    if (r == 0 && o->upgrade)
        r = buf_append_str(out, "Connection: Upgrade\r\nUpgrade: websocket\r\n");
    else if (r == 0 && o->close)
        r = buf_append_str(out, "Connection: close\r\n");
    if (r == 0)
        r = buf_append(out, "\r\n", 2);
    if (r != 0)
        out->len = start;
    return r;
}
