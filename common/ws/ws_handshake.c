/*
 * ws_handshake.c - WebSocket opening handshake (ws_handshake.h).
 */
#include "ws/ws_handshake.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/base64.h"
#include "base/err.h"
#include "base/log.h"

/* RFC 6455 §1.3: appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const char ws_handshake_err_version[] =
    "unsupported Sec-WebSocket-Version: answer 426 with Sec-WebSocket-Version: 13";

void ws_handshake_accept(const char *key, size_t key_len, char out[WS_HANDSHAKE_ACCEPT_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, key, key_len) == 1 &&
             EVP_DigestUpdate(ctx, ws_guid, sizeof(ws_guid) - 1) == 1 &&
             EVP_DigestFinal_ex(ctx, md, &md_len) == 1 && md_len == 20;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        /* Only an allocation failure inside libcrypto gets here: the same
         * policy as xmalloc for a control-plane allocation. */
        log_error("ws_handshake: SHA-1 failed");
        abort();
    }
    out[base64_encode(out, md, 20)] = '\0'; /* 28 chars + NUL */
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int ws_handshake_has_token(sioc_iov_t value, sioc_iov_t token)
{
    size_t i = 0;
    while (i <= value.len) {
        size_t start = i;
        while (i < value.len && value.base[i] != ',')
            i++;
        size_t end = i;
        while (start < end && is_ows(value.base[start]))
            start++;
        while (end > start && is_ows(value.base[end - 1]))
            end--;
        if (end > start && iov_eq_ci(iov_make(value.base + start, end - start), token))
            return 1;
        i++; /* past the comma (or past the end) */
    }
    return 0;
}

/* Base64 of 16 bytes: 22 alphabet characters, then "==". */
static int key_valid(sioc_iov_t key)
{
    if (key.len != 24 || key.base[22] != '=' || key.base[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++)
        if (!base64_is_char((unsigned char)key.base[i]))
            return 0;
    return 1;
}

int ws_handshake_validate(sioc_iov_t method, int http_minor, sioc_iov_t upgrade_hdr,
                          int connection_has_upgrade, sioc_iov_t key, sioc_iov_t version,
                          const char **reason)
{
    if (!iov_eq(method, SIOC_LIT("GET"))) {
        *reason = "WebSocket upgrade needs GET";
        return SIOC_EPROTO;
    }
    if (http_minor < 1) {
        *reason = "WebSocket upgrade needs HTTP/1.1";
        return SIOC_EPROTO;
    }
    if (!ws_handshake_has_token(upgrade_hdr, SIOC_LIT("websocket"))) {
        *reason = "missing Upgrade: websocket";
        return SIOC_EPROTO;
    }
    if (!connection_has_upgrade) {
        *reason = "missing Connection: Upgrade";
        return SIOC_EPROTO;
    }
    if (!iov_eq(version, SIOC_LIT("13"))) {
        *reason = ws_handshake_err_version;
        return SIOC_EPROTO;
    }
    if (!key_valid(key)) {
        *reason = "missing or invalid Sec-WebSocket-Key";
        return SIOC_EPROTO;
    }
    return 0;
}

int ws_handshake_write_response(sioc_buf_t *out, sioc_iov_t key, sioc_iov_t extra_headers)
{
    static const char head[] = "HTTP/1.1 101 Switching Protocols\r\n"
                               "Upgrade: websocket\r\n"
                               "Connection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: ";
    char accept[WS_HANDSHAKE_ACCEPT_LEN + 1];
    ws_handshake_accept(key.base, key.len, accept);
    size_t need = sizeof(head) - 1 + WS_HANDSHAKE_ACCEPT_LEN + 2 + extra_headers.len + 2;
    /* One reservation up front, so the appends below cannot fail halfway. */
    int r = buf_reserve(out, need);
    if (r)
        return r;
    char *p = out->base + out->len;
    memcpy(p, head, sizeof(head) - 1);
    p += sizeof(head) - 1;
    memcpy(p, accept, WS_HANDSHAKE_ACCEPT_LEN);
    p += WS_HANDSHAKE_ACCEPT_LEN;
    memcpy(p, "\r\n", 2);
    p += 2;
    if (extra_headers.len) {
        memcpy(p, extra_headers.base, extra_headers.len);
        p += extra_headers.len;
    }
    memcpy(p, "\r\n", 2);
    out->len += need;
    return 0;
}
