/*
 * http_resp.c - response head writer (http_resp.h).
 *
 * Each public function remembers b->len on entry and restores it when any
 * append fails, which keeps the all-or-nothing promise without reserving an
 * exact size up front.
 */
#include "http/http_resp.h"

#include <string.h>

#include "base/err.h"

static const struct {
    int code;
    const char *text;
} status_texts[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *http_status_text(int code)
{
    for (size_t i = 0; i < sizeof(status_texts) / sizeof(status_texts[0]); i++)
        if (status_texts[i].code == code)
            return status_texts[i].text;
    return "Unknown";
}

static int valid_value(sioc_iov_t v)
{
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.base[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

static int valid_name(sioc_iov_t n)
{
    if (n.len == 0)
        return 0;
    for (size_t i = 0; i < n.len; i++)
        if (!http_is_tchar((unsigned char)n.base[i]))
            return 0;
    return 1;
}

/* Restores the buffer on failure; returns r. */
static int rollback(sioc_buf_t *b, size_t len, int r)
{
    if (r)
        b->len = len;
    return r;
}

int http_resp_status(sioc_buf_t *b, int code, const char *reason)
{
    if (code < 100 || code > 999)
        return SIOC_EINVAL;
    if (reason == NULL)
        reason = http_status_text(code);
    sioc_iov_t rs = iov_make(reason, strlen(reason));
    if (!valid_value(rs))
        return SIOC_EINVAL;
    char line[13] = "HTTP/1.1 000 ";
    line[9] = (char)('0' + code / 100);
    line[10] = (char)('0' + code / 10 % 10);
    line[11] = (char)('0' + code % 10);
    size_t len = b->len;
    int r = buf_append(b, line, sizeof(line));
    if (!r)
        r = buf_append(b, rs.base, rs.len);
    if (!r)
        r = buf_append(b, "\r\n", 2);
    return rollback(b, len, r);
}

int http_resp_header(sioc_buf_t *b, sioc_iov_t name, sioc_iov_t value)
{
    if (!valid_name(name) || !valid_value(value))
        return SIOC_EINVAL;
    size_t len = b->len;
    int r = buf_reserve(b, name.len + value.len + 4);
    if (!r)
        r = buf_append(b, name.base, name.len);
    if (!r)
        r = buf_append(b, ": ", 2);
    if (!r)
        r = buf_append(b, value.base, value.len);
    if (!r)
        r = buf_append(b, "\r\n", 2);
    return rollback(b, len, r);
}

int http_resp_header_u64(sioc_buf_t *b, sioc_iov_t name, unsigned long long v)
{
    if (!valid_name(name))
        return SIOC_EINVAL;
    size_t len = b->len;
    int r = buf_append(b, name.base, name.len);
    if (!r)
        r = buf_append(b, ": ", 2);
    if (!r)
        r = buf_append_u64(b, v);
    if (!r)
        r = buf_append(b, "\r\n", 2);
    return rollback(b, len, r);
}

int http_resp_end(sioc_buf_t *b, long long content_length)
{
    size_t len = b->len;
    int r = 0;
    if (content_length >= 0)
        r = http_resp_header_u64(b, SIOC_LIT("Content-Length"), (unsigned long long)content_length);
    if (!r)
        r = buf_append(b, "\r\n", 2);
    return rollback(b, len, r);
}

int http_resp_head(sioc_buf_t *b, int code, const http_header_t *headers, size_t n,
                   long long content_length, int keep_alive)
{
    size_t len = b->len;
    int r = http_resp_status(b, code, NULL);
    for (size_t i = 0; !r && i < n; i++)
        r = http_resp_header(b, headers[i].name, headers[i].value);
    if (!r && !keep_alive)
        r = http_resp_header(b, SIOC_LIT("Connection"), SIOC_LIT("close"));
    if (!r)
        r = http_resp_end(b, content_length);
    return rollback(b, len, r);
}

int http_resp_simple(sioc_buf_t *b, int code, sioc_iov_t content_type, sioc_iov_t body,
                     int keep_alive)
{
    size_t len = b->len;
    http_header_t ct = {SIOC_LIT("Content-Type"), content_type};
    int r = http_resp_head(b, code, &ct, content_type.len ? 1 : 0, (long long)body.len, keep_alive);
    if (!r)
        r = buf_append(b, body.base, body.len);
    return rollback(b, len, r);
}
