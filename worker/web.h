/*
 * web.h - the worker's plain HTTP files: the socket.io-client bundle, the chat
 * page, and the development token endpoint.
 *
 * web_serve() decides a response from a parsed request and the configuration;
 * it does no I/O, the engine writes what it returns. Static bodies point into
 * the binary's read-only data (assets.h) and are queued by reference.
 *
 *   <path>socket.io.js, .min.js, .esm.min.js and each .map   --serve-client (default on)
 *       ETag "<client version>", Cache-Control: public, max-age=0, 304 on
 *       If-None-Match, gzip when the client accepts it (as Node's serveClient).
 *   /, /index.html, /chat.js, /chat.css                      --chat-page (default off)
 *   /dev/token?user=NAME                                     --dev-token-endpoint (off)
 *   <admin-ui-path>, its files                               --admin-ui-dir (off)
 *       the admin UI's files, read into memory at start
 */
#ifndef SIOC_WORKER_WEB_H
#define SIOC_WORKER_WEB_H

#include <stddef.h>

#include "config.h"
#include "http/http_parse.h"

typedef struct web web_t;

typedef struct web_response {
    int status;
    char headers[640]; /* complete header lines, CRLF-terminated, without Content-Length */
    const char *body;  /* static or owned */
    size_t len;
    char *owned;   /* malloc'd body to free after writing, or NULL (static body) */
    int head_only; /* a HEAD request: Content-Length of the body, no body */
} web_response_t;

/** Prepares the files of `cf` (renders the chat page for cf->path). */
web_t *web_new(const worker_config_t *cf);
void web_free(web_t *w);

/** Returns 1 and fills `out` when `req` names one of these files or endpoints, else 0. */
int web_serve(const web_t *w, const http_request_t *req, long long now, web_response_t *out);

#endif
