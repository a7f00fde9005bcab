/*
 * fuzz_web.c - libFuzzer target for the worker's plain HTTP files (web.c):
 * the Accept-Encoding and If-None-Match parsing, the path matching of the
 * client bundle and the chat page, and the development token endpoint.
 *
 * Input: byte 0 picks the configuration (bit 0: the chat page, bit 1: the
 * token endpoint, bit 2: the bundle, bit 3: Engine.IO path "/x/" instead of
 * "/socket.io/"); the rest is a request head, parsed by http_parse_request.
 * Invariants, each an abort() when broken:
 *  - a request is answered only by a feature that is on: "/" and the page
 *    files only with the page, "/dev/token" only with the endpoint, a name
 *    under the Engine.IO path only with the bundle;
 *  - the status is one of 200 304 400 405 500; 405 exactly for methods other
 *    than GET and HEAD; 304 only with If-None-Match;
 *  - the header block is CRLF-terminated lines of "Name: value" with no bare
 *    CR or LF (no header injection), and fits its buffer;
 *  - a 200 has a body; gzip is only sent to a client that mentioned it or "*";
 *  - a token handed out verifies with the secret, for the user named in the
 *    query, and no other endpoint returns an owned body;
 *  - the same request is answered the same way twice.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "base/log.h"
#include "config.h"
#include "http/http_parse.h"
#include "web.h"

#define SECRET "fuzz-secret-0123456789abcdef0123456789"
#define NOW 1800000000LL

static web_t *webs[16];
static worker_config_t confs[16];
static auth_t *verifier;

static web_t *web_for(unsigned flags)
{
    if (webs[flags] == NULL) {
        worker_config_t *c = &confs[flags];
        memset(c, 0, sizeof(*c));
        c->chat_page = flags & 1;
        c->dev_token_endpoint = (flags >> 1) & 1;
        c->serve_client = (flags >> 2) & 1;
        static char path_x[] = "/x/", path_sio[] = "/socket.io/", secret[] = SECRET,
                    alg[] = "HS256";
        c->path = (flags & 8) ? path_x : path_sio;
        c->jwt_secret = secret;
        c->jwt_alg = alg;
        if (c->chat_page)
            c->serve_client = 1; /* the page needs the bundle (web_new refuses otherwise) */
        webs[flags] = web_new(c);
        if (webs[flags] == NULL)
            abort();
    }
    return webs[flags];
}

static int has_header(const http_request_t *req, const char *name)
{
    size_t pos = 0;
    return http_header_find(req->headers, req->num_headers, (sioc_iov_t){name, strlen(name)},
                            &pos) >= 0;
}

static void check_headers(const char *h, size_t cap)
{
    if (memchr(h, '\0', cap) == NULL || strlen(h) + 1 > cap)
        abort();
    const char *p = h;
    while (*p) {
        const char *eol = strstr(p, "\r\n");
        if (eol == NULL)
            abort();
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p || colon[1] != ' ')
            abort();
        for (const char *q = p; q < eol; q++)
            if (*q == '\r' || *q == '\n')
                abort();
        p = eol + 2;
    }
}

static int iov_is(sioc_iov_t s, const char *z)
{
    return s.len == strlen(z) && memcmp(s.base, z, s.len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (verifier == NULL) {
        log_set_level(LOG_LEVEL_ERROR);
        char err[128];
        verifier = auth_new("HS256", SECRET, NULL, 0, err, sizeof(err));
        if (verifier == NULL)
            abort();
    }
    unsigned flags = data[0] & 15;
    web_t *w = web_for(flags);
    const worker_config_t *c = &confs[flags];
    http_header_t headers[32];
    http_request_t req;
    memset(&req, 0, sizeof(req));
    req.headers = headers;
    req.num_headers = 32;
    if (http_parse_request((const char *)data + 1, size - 1, &req, NULL, NULL) <= 0)
        return 0;

    web_response_t a, b;
    int handled = web_serve(w, &req, NOW, &a);
    int again = web_serve(w, &req, NOW, &b);
    if (handled != again)
        abort();
    if (!handled) {
        free(b.owned);
        return 0;
    }
    if (a.status != b.status || strcmp(a.headers, b.headers) != 0 || a.len != b.len ||
        (a.len > 0 && memcmp(a.body, b.body, a.len) != 0))
        abort();
    free(b.owned);

    sioc_iov_t path = req.path;
    size_t plen = strlen(c->path);
    int page_path = iov_is(path, "/") || iov_is(path, "/index.html") || iov_is(path, "/chat.js") ||
                    iov_is(path, "/chat.css");
    int token_path = iov_is(path, "/dev/token");
    int bundle_path = path.len > plen && memcmp(path.base, c->path, plen) == 0;
    if (!((page_path && c->chat_page) || (token_path && c->dev_token_endpoint) ||
          (bundle_path && c->serve_client)))
        abort();

    int get = iov_is(req.method, "GET"), head = iov_is(req.method, "HEAD");
    switch (a.status) {
    case 200:
    case 304:
    case 400:
    case 405:
    case 500:
        break;
    default:
        abort();
    }
    if ((a.status == 405) != (!get && !head))
        abort();
    if (a.status == 304 && !has_header(&req, "if-none-match"))
        abort();
    check_headers(a.headers, sizeof(a.headers));
    if (a.status == 200 && (a.body == NULL || a.len == 0))
        abort();
    if (strstr(a.headers, "Content-Encoding: gzip") && !has_header(&req, "accept-encoding"))
        abort();
    if (a.owned != NULL && !(token_path && a.status == 200))
        abort();
    if (a.owned != NULL) {
        json_error_t je;
        json_t *j = json_loadb(a.body, a.len, 0, &je);
        const char *tok = j ? json_string_value(json_object_get(j, "token")) : NULL;
        const char *user = j ? json_string_value(json_object_get(j, "user")) : NULL;
        auth_claims_t claims;
        const char *reason = NULL;
        if (tok == NULL || user == NULL ||
            auth_verify(verifier, tok, strlen(tok), NOW, &claims, &reason) != 0)
            abort();
        if (claims.sub == NULL || strcmp(claims.sub, user) != 0)
            abort();
        auth_claims_free(&claims);
        json_decref(j);
    }
    free(a.owned);
    return 0;
}
