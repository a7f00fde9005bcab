/*
 * ws_close.c - WebSocket close frame payloads (ws_close.h).
 */
#include "ws/ws_close.h"

#include <string.h>

#include "base/err.h"
#include "base/utf8.h"

int ws_close_code_valid(unsigned code)
{
    if (code >= 1000 && code <= 1014)
        return code != 1004 && code != 1005 && code != 1006;
    return code >= 3000 && code <= 4999;
}

int ws_close_parse(const uint8_t *p, size_t len, uint16_t *code, sioc_iov_t *reason_text,
                   const char **reason)
{
    *reason_text = SIOC_IOV_NULL;
    if (len == 0) {
        *code = WS_CLOSE_NO_STATUS;
        return 0;
    }
    if (len == 1) {
        *reason = "close payload of 1 byte";
        return SIOC_EPROTO;
    }
    *code = (uint16_t)(p[0] << 8 | p[1]);
    if (len > WS_CLOSE_MAX_PAYLOAD) {
        *reason = "close payload over 125 bytes";
        return SIOC_EPROTO;
    }
    if (!ws_close_code_valid(*code)) {
        *reason = "invalid close code";
        return SIOC_EPROTO;
    }
    if (!utf8_is_valid(p + 2, len - 2)) {
        *reason = "close reason is not valid UTF-8";
        return SIOC_EPROTO;
    }
    *reason_text = iov_make((const char *)p + 2, len - 2);
    return 0;
}

size_t ws_close_write(uint8_t out[WS_CLOSE_MAX_PAYLOAD], uint16_t code, sioc_iov_t reason_text)
{
    if (code == 0)
        return 0;
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    size_t n = reason_text.len;
    if (n > WS_CLOSE_MAX_REASON) {
        n = WS_CLOSE_MAX_REASON;
        /* Back up over continuation bytes so a character is never split. */
        while (n > 0 && ((uint8_t)reason_text.base[n] & 0xC0) == 0x80)
            n--;
    }
    if (n)
        memcpy(out + 2, reason_text.base, n);
    return 2 + n;
}
