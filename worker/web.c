/*
 * web.c - the client bundle, the chat page and the development token (web.h).
 */
#include "web.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "assets.h"
#include "auth.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"
#include "http/http_query.h"

#define PAGE_FILES 3
/* --admin-ui-dir: what is read at start, at most. */
#define UI_MAX_FILES 512
#define UI_MAX_BYTES ((size_t)64 << 20)
#define UI_MAX_DEPTH 4
#define DEV_TOKEN_TTL 3600
#define MAX_USER 32

/* The chat page's own policy: everything from this origin, nothing inline. */
#define PAGE_HEADERS                                                                               \
    "X-Content-Type-Options: nosniff\r\n"                                                          \
    "Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; "           \
    "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "          \
    "form-action 'none'\r\n"                                                                       \
    "Referrer-Policy: no-referrer\r\n"

typedef struct page_file {
    const asset_t *asset;
    sioc_iov_t body; /* index.html: rendered for the configured path */
    char etag[24];
} page_file_t;

/* A file of --admin-ui-dir, read at start. */
typedef struct ui_file {
    char *name; /* relative to the directory: "index.html", "js/app.js" */
    asset_t asset;
    char etag[24];
} ui_file_t;

struct web {
    const worker_config_t *cf;
    ui_file_t *ui; /* --admin-ui-dir */
    size_t n_ui;
    size_t ui_bytes;
    int client;                   /* the bundle is served */
    page_file_t page[PAGE_FILES]; /* index.html, chat.js, chat.css when the page is on */
    sioc_buf_t index;             /* the rendered index.html */
};

static unsigned long long fnv1a(sioc_iov_t s)
{
    unsigned long long h = 1469598103934665603ULL;
    for (size_t i = 0; i < s.len; i++)
        h = (h ^ (unsigned char)s.base[i]) * 1099511628211ULL;
    return h;
}

/* Replaces every "{{PATH}}" of the template with the Engine.IO path. */
static int render(sioc_buf_t *out, sioc_iov_t tpl, const char *path)
{
    static const char mark[] = "{{PATH}}";
    const char *p = tpl.base, *end = tpl.base + tpl.len;
    int r = 0;
    while (p < end) {
        const char *m = memmem(p, (size_t)(end - p), mark, sizeof(mark) - 1);
        size_t n = m ? (size_t)(m - p) : (size_t)(end - p);
        r |= buf_append(out, p, n);
        if (m == NULL)
            break;
        r |= buf_append_str(out, path);
        p = m + sizeof(mark) - 1;
    }
    return r;
}

static const char *ctype_of(const char *name)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "application/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".map", "application/json"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".woff", "font/woff"},
        {".ttf", "font/ttf"},
        {".txt", "text/plain; charset=utf-8"},
    };
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        size_t k = strlen(types[i][0]);
        if (n > k && strcmp(name + n - k, types[i][0]) == 0)
            return types[i][1];
    }
    return "application/octet-stream";
}

/* Reads the regular files under `dir` (`rel` the path so far, "" at the top) into w->ui.
 * 0, or -1 after logging. */
static int ui_load(web_t *w, const char *dir, const char *rel, int depth)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        log_error("--admin-ui-dir: cannot open %s", dir);
        return -1;
    }
    int r = 0;
    struct dirent *e;
    while (r == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096], name[1024];
        struct stat st;
        if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
            snprintf(name, sizeof(name), "%s%s", rel, e->d_name) >= (int)sizeof(name) ||
            stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < UI_MAX_DEPTH) {
                char sub[1024];
                snprintf(sub, sizeof(sub), "%s/", name);
                r = ui_load(w, path, sub, depth + 1);
            }
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        if (w->n_ui == UI_MAX_FILES || w->ui_bytes + (size_t)st.st_size > UI_MAX_BYTES) {
            log_error("--admin-ui-dir: over %d files or %zu bytes", UI_MAX_FILES, UI_MAX_BYTES);
            r = -1;
            break;
        }
        FILE *f = fopen(path, "rb");
        char *body = xmalloc((size_t)st.st_size + 1);
        if (f == NULL || fread(body, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
            log_error("--admin-ui-dir: cannot read %s", path);
            free(body);
            if (f != NULL)
                fclose(f);
            r = -1;
            break;
        }
        fclose(f);
        ui_file_t *u = &w->ui[w->n_ui++];
        u->name = xstrdup(name);
        u->asset.name = u->name;
        u->asset.ctype = ctype_of(name);
        u->asset.body = iov_make(body, (size_t)st.st_size);
        snprintf(u->etag, sizeof(u->etag), "\"%016llx\"", fnv1a(u->asset.body));
        w->ui_bytes += (size_t)st.st_size;
    }
    closedir(d);
    return r;
}

web_t *web_new(const worker_config_t *cf)
{
    web_t *w = xcalloc(1, sizeof(*w));
    w->cf = cf;
    w->client = cf->serve_client && assets_client_version[0] != '\0';
    if (cf->serve_client && !w->client)
        log_warn("--serve-client: this build has no socket.io-client bundle "
                 "(configured with -DSIOC_SERVE_CLIENT=OFF)");
    if (cf->chat_page) {
        static const char *const names[PAGE_FILES] = {"index.html", "chat.js", "chat.css"};
        for (int i = 0; i < PAGE_FILES; i++) {
            page_file_t *f = &w->page[i];
            f->asset = assets_find(iov_make(names[i], strlen(names[i])));
            f->body = f->asset->body;
            if (i == 0) {
                if (render(&w->index, f->body, cf->path) != 0) {
                    web_free(w);
                    return NULL;
                }
                f->body = iov_make(w->index.base, w->index.len);
            }
            snprintf(f->etag, sizeof(f->etag), "\"%016llx\"", fnv1a(f->body));
        }
        if (!w->client) {
            log_error("--chat-page needs the client bundle (--serve-client, and a build with it)");
            web_free(w);
            return NULL;
        }
    }
    if (cf->admin_ui_dir != NULL) {
        w->ui = xcalloc(UI_MAX_FILES, sizeof(*w->ui));
        if (ui_load(w, cf->admin_ui_dir, "", 0) != 0) {
            web_free(w);
            return NULL;
        }
        log_info("admin UI: %zu files (%zu bytes) from %s at %s", w->n_ui, w->ui_bytes,
                 cf->admin_ui_dir, cf->admin_ui_path);
    }
    if (cf->dev_token_endpoint)
        log_warn("--dev-token-endpoint is on: GET /dev/token hands a valid token to anyone "
                 "who can reach this worker; development only");
    return w;
}

void web_free(web_t *w)
{
    if (w == NULL)
        return;
    buf_free(&w->index);
    for (size_t i = 0; i < w->n_ui; i++) {
        free(w->ui[i].name);
        free((char *)w->ui[i].asset.body.base);
    }
    free(w->ui);
    free(w);
}

static sioc_iov_t trim(sioc_iov_t s)
{
    while (s.len > 0 && (s.base[0] == ' ' || s.base[0] == '\t'))
        s.base++, s.len--;
    while (s.len > 0 && (s.base[s.len - 1] == ' ' || s.base[s.len - 1] == '\t'))
        s.len--;
    return s;
}

static sioc_iov_t header(const http_request_t *req, const char *name)
{
    size_t pos = 0;
    int i = http_header_find(req->headers, req->num_headers, iov_make(name, strlen(name)), &pos);
    return i < 0 ? SIOC_IOV_NULL : req->headers[i].value;
}

/* Whether Accept-Encoding allows gzip (listed, or "*", without q=0). */
static int accepts_gzip(const http_request_t *req)
{
    sioc_iov_t rest = header(req, "accept-encoding"), el;
    int gzip = 0, star = 0;
    while (http_list_next(&rest, &el)) {
        const char *semi = memchr(el.base, ';', el.len);
        sioc_iov_t coding = trim(iov_make(el.base, semi ? (size_t)(semi - el.base) : el.len));
        int ok = 1;
        if (semi != NULL) {
            sioc_iov_t params = trim(iov_make(semi + 1, el.len - (size_t)(semi + 1 - el.base)));
            if (params.len >= 3 && (params.base[0] == 'q' || params.base[0] == 'Q') &&
                params.base[1] == '=') {
                ok = 0; /* q=0, q=0.0, q=0.000 refuse; any other digit accepts */
                for (size_t i = 2; i < params.len && !ok; i++)
                    if (params.base[i] >= '1' && params.base[i] <= '9')
                        ok = 1;
            }
        }
        if (iov_eq_ci(coding, SIOC_LIT("gzip")))
            gzip = ok ? 1 : -1;
        else if (iov_eq_str(coding, "*"))
            star = ok ? 1 : -1;
    }
    return gzip == 1 || (gzip == 0 && star == 1);
}

/* Whether If-None-Match names `etag` (weak comparison, as RFC 9110 asks for it). */
static int not_modified(const http_request_t *req, const char *etag)
{
    sioc_iov_t rest = header(req, "if-none-match"), el;
    while (http_list_next(&rest, &el)) {
        if (iov_eq_str(el, "*"))
            return 1;
        if (el.len > 2 && el.base[0] == 'W' && el.base[1] == '/')
            el.base += 2, el.len -= 2;
        if (iov_eq_str(el, etag))
            return 1;
    }
    return 0;
}

/* Appends header text (truncated at the buffer's size: callers stay far below it). */
static void add(web_response_t *out, const char *text)
{
    size_t used = strlen(out->headers);
    snprintf(out->headers + used, sizeof(out->headers) - used, "%s", text);
}

/* A file response: 304 when the client has it, gzip when it takes it. */
static void file_response(const http_request_t *req, web_response_t *out, const asset_t *a,
                          sioc_iov_t body, const char *etag, const char *cache, int gzip_ok,
                          const char *extra)
{
    int gz = gzip_ok && accepts_gzip(req);
    char tag[64];
    if (gz && etag[0] == '"') /* a representation of its own: "<tag>-gzip" */
        snprintf(tag, sizeof(tag), "%.*s-gzip\"", (int)strlen(etag) - 1, etag);
    else
        snprintf(tag, sizeof(tag), "%s", etag);
    add(out, "ETag: ");
    add(out, tag);
    add(out, "\r\nCache-Control: ");
    add(out, cache);
    add(out, "\r\n");
    if (gzip_ok)
        add(out, "Vary: Accept-Encoding\r\n");
    if (not_modified(req, tag)) {
        out->status = 304;
        return;
    }
    out->status = 200;
    add(out, "Content-Type: ");
    add(out, a->ctype);
    add(out, "\r\n");
    if (extra != NULL)
        add(out, extra);
    if (gz) {
        add(out, "Content-Encoding: gzip\r\n");
        body = a->gz;
    }
    out->body = body.base;
    out->len = body.len;
}

static void text_response(web_response_t *out, int status, const char *ctype, const char *text)
{
    out->status = status;
    add(out, "Content-Type: ");
    add(out, ctype);
    add(out, "\r\nCache-Control: no-store\r\n");
    out->body = text;
    out->len = strlen(text);
}

static void dev_token(const web_t *w, const http_request_t *req, long long now, web_response_t *out)
{
    sioc_iov_t raw;
    char user[MAX_USER + 1];
    int n = -1;
    if (http_query_get(req->query, "user", &raw))
        n = http_pct_decode(raw, user, sizeof(user) - 1, 1); /* not NUL-terminated */
    if (n > 0)
        user[n] = '\0';
    if (n <= 0 || n > MAX_USER ||
        strspn(user, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") !=
            (size_t)n) {
        text_response(out, 400, "application/json",
                      "{\"error\":\"user: 1 to 32 of [A-Za-z0-9._-]\"}");
        return;
    }
    const char *secret = w->cf->jwt_secret;
    char *tok =
        auth_mint("HS256", (const unsigned char *)secret, strlen(secret), user, now, DEV_TOKEN_TTL);
    if (tok == NULL) {
        text_response(out, 500, "application/json", "{\"error\":\"cannot sign\"}");
        return;
    }
    sioc_buf_t b = {0};
    char tail[64];
    snprintf(tail, sizeof(tail), "\",\"exp\":%lld}", now + DEV_TOKEN_TTL);
    int r = buf_append_str(&b, "{\"user\":\"");
    r |= buf_append_str(&b, user);
    r |= buf_append_str(&b, "\",\"token\":\"");
    r |= buf_append_str(&b, tok);
    r |= buf_append_str(&b, tail);
    free(tok);
    if (r != 0) {
        buf_free(&b);
        text_response(out, 500, "application/json", "{\"error\":\"out of memory\"}");
        return;
    }
    out->status = 200;
    add(out, "Content-Type: application/json\r\nCache-Control: no-store\r\n");
    out->owned = b.base;
    out->body = b.base;
    out->len = b.len;
    static long long last;
    if (log_ratelimited(&last))
        log_info("development token issued for user %s", user);
}

int web_serve(const web_t *w, const http_request_t *req, long long now, web_response_t *out)
{
    memset(out, 0, sizeof(*out));
    int get = iov_eq_str(req->method, "GET"), head = iov_eq_str(req->method, "HEAD");
    sioc_iov_t path = req->path;
    const char *sio_path = w->cf->path;
    size_t plen = strlen(sio_path);
    const asset_t *a = NULL;
    const page_file_t *pf = NULL;
    const ui_file_t *uf = NULL;
    int token = 0, ui_redirect = 0;

    if (w->client && path.len > plen && memcmp(path.base, sio_path, plen) == 0) {
        a = assets_find(iov_make(path.base + plen, path.len - plen));
        if (a != NULL && !a->client)
            a = NULL;
    } else if (w->cf->chat_page && (iov_eq_str(path, "/") || iov_eq_str(path, "/index.html"))) {
        pf = &w->page[0];
    } else if (w->cf->chat_page && iov_eq_str(path, "/chat.js")) {
        pf = &w->page[1];
    } else if (w->cf->chat_page && iov_eq_str(path, "/chat.css")) {
        pf = &w->page[2];
    } else if (w->cf->dev_token_endpoint && iov_eq_str(path, "/dev/token")) {
        token = 1;
    } else if (w->ui != NULL) {
        const char *up = w->cf->admin_ui_path;
        size_t un = strlen(up);
        if (path.len == un - 1 && memcmp(path.base, up, un - 1) == 0) {
            ui_redirect = 1;
        } else if (path.len >= un && memcmp(path.base, up, un) == 0) {
            sioc_iov_t rest = iov_make(path.base + un, path.len - un);
            if (rest.len == 0)
                rest = SIOC_LIT("index.html");
            for (size_t i = 0; i < w->n_ui && uf == NULL; i++)
                if (iov_eq_str(rest, w->ui[i].name))
                    uf = &w->ui[i];
        }
    }
    if (a == NULL && pf == NULL && uf == NULL && !token && !ui_redirect)
        return 0;
    out->head_only = head;
    if (!get && !head) {
        text_response(out, 405, "text/plain", "Method Not Allowed\n");
        add(out, "Allow: GET, HEAD\r\n");
        return 1;
    }
    if (ui_redirect) {
        text_response(out, 301, "text/plain", "Moved Permanently\n");
        add(out, "Location: ");
        add(out, w->cf->admin_ui_path);
        add(out, "\r\n");
    } else if (uf != NULL) {
        file_response(req, out, &uf->asset, uf->asset.body, uf->etag, "no-cache", 0,
                      "X-Content-Type-Options: nosniff\r\n");
    } else if (token) {
        dev_token(w, req, now, out);
    } else if (a != NULL) {
        char etag[48];
        snprintf(etag, sizeof(etag), "\"%s\"", assets_client_version);
        file_response(req, out, a, a->body, etag, "public, max-age=0", 1, NULL);
    } else if (pf == &w->page[0]) {
        /* Rendered at start-up: no precompressed copy (a few KiB). */
        file_response(req, out, pf->asset, pf->body, pf->etag, "no-cache", 0, PAGE_HEADERS);
    } else {
        file_response(req, out, pf->asset, pf->body, pf->etag, "no-cache", 1,
                      "X-Content-Type-Options: nosniff\r\n");
    }
    return 1;
}
