/*
 * fuzz_ws_handshake.c - libFuzzer target for common/ws/ws_handshake.
 *
 * The input is split on '\n' into: method, HTTP minor version, Upgrade
 * value, Connection value, Sec-WebSocket-Key, Sec-WebSocket-Version.
 * Invariants (abort on violation):
 *   - ws_handshake_has_token agrees with a simple reference;
 *   - validate accepts exactly the requests the rules describe (checked
 *     field by field independently), and a non-13 version is reported with
 *     the ws_handshake_err_version pointer;
 *   - the accept value is 28 base64 characters and NUL, deterministic;
 *   - the 101 head is well formed and carries that accept value.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/iov.h"
#include "ws/ws_handshake.h"
#include "tests/fuzz/fuzz_check.h"

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int ref_has_token(sioc_iov_t v, const char *tok)
{
    size_t tl = strlen(tok), i = 0;
    while (i <= v.len) {
        size_t j = i;
        while (j < v.len && v.base[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && (v.base[a] == ' ' || v.base[a] == '\t'))
            a++;
        while (b > a && (v.base[b - 1] == ' ' || v.base[b - 1] == '\t'))
            b--;
        if (b - a == tl) {
            size_t k = 0;
            while (k < tl && lower((unsigned char)v.base[a + k]) == lower((unsigned char)tok[k]))
                k++;
            if (k == tl)
                return 1;
        }
        i = j + 1;
    }
    return 0;
}

static const char *find(const char *h, size_t hl, const char *n)
{
    size_t nl = strlen(n);
    for (size_t i = 0; i + nl <= hl; i++)
        if (memcmp(h + i, n, nl) == 0)
            return h + i;
    return NULL;
}

static int b64char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sioc_iov_t f[6] = {SIOC_IOV_NULL, SIOC_IOV_NULL, SIOC_IOV_NULL,
                       SIOC_IOV_NULL, SIOC_IOV_NULL, SIOC_IOV_NULL};
    const char *s = (const char *)data;
    size_t start = 0, k = 0;
    for (size_t i = 0; i <= size && k < 6; i++)
        if (i == size || s[i] == '\n') {
            f[k++] = iov_make(s + start, i - start);
            start = i + 1;
        }
    int minor = f[1].len > 0 ? (unsigned char)f[1].base[0] % 4 : 1;

    CHECK(ws_handshake_has_token(f[2], SIOC_LIT("websocket")) == ref_has_token(f[2], "websocket"));
    int conn = ws_handshake_has_token(f[3], SIOC_LIT("upgrade"));
    CHECK(conn == ref_has_token(f[3], "upgrade"));

    const char *reason = NULL;
    int rc = ws_handshake_validate(f[0], minor, f[2], conn, f[4], f[5], &reason);
    int key_ok = f[4].len == 24 && f[4].base[22] == '=' && f[4].base[23] == '=';
    for (size_t i = 0; key_ok && i < 22; i++)
        key_ok = b64char(f[4].base[i]);
    int want = f[0].len == 3 && memcmp(f[0].base, "GET", 3) == 0 && minor >= 1 &&
               ref_has_token(f[2], "websocket") && conn && iov_eq(f[5], SIOC_LIT("13")) && key_ok;
    CHECK((rc == 0) == want);
    if (rc != 0) {
        CHECK(rc == SIOC_EPROTO && reason != NULL);
        /* The 426 answer exactly when everything before the version passed
         * and the version is wrong. */
        int before = f[0].len == 3 && memcmp(f[0].base, "GET", 3) == 0 && minor >= 1 &&
                     ref_has_token(f[2], "websocket") && conn;
        CHECK((reason == ws_handshake_err_version) == (before && !iov_eq(f[5], SIOC_LIT("13"))));
    }

    char acc[WS_HANDSHAKE_ACCEPT_LEN + 1], acc2[WS_HANDSHAKE_ACCEPT_LEN + 1];
    ws_handshake_accept(f[4].base, f[4].len, acc);
    ws_handshake_accept(f[4].base, f[4].len, acc2);
    CHECK(acc[WS_HANDSHAKE_ACCEPT_LEN] == '\0' && memcmp(acc, acc2, sizeof(acc)) == 0);
    for (size_t i = 0; i < 27; i++)
        CHECK(b64char(acc[i]));
    CHECK(acc[27] == '=');

    sioc_buf_t b = {0};
    if (ws_handshake_write_response(&b, f[4], f[3]) == 0) {
        static const char head[] = "HTTP/1.1 101 Switching Protocols\r\n";
        CHECK(b.len >= sizeof(head) - 1 + 4);
        CHECK(memcmp(b.base, head, sizeof(head) - 1) == 0);
        CHECK(memcmp(b.base + b.len - 2, "\r\n", 2) == 0);
        const char *a = find(b.base, b.len, "Sec-WebSocket-Accept: ");
        CHECK(a != NULL && memcmp(a + 22, acc, WS_HANDSHAKE_ACCEPT_LEN) == 0);
        CHECK(memcmp(a + 22 + 28, "\r\n", 2) == 0);
        CHECK(b.len == (size_t)(a + 22 + 28 + 2 - b.base) + f[3].len + 2);
    }
    buf_free(&b);
    return 0;
}
