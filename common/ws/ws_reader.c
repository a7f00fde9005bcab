/*
 * ws_reader.c - WebSocket message reader (ws_reader.h).
 *
 * The reader keeps no bytes of its own between calls except the fragments
 * of an unfinished message: a frame is handled only once it is whole in the
 * caller's buffer, so a SIOC_INCOMPLETE return leaves nothing to undo. The
 * one piece of state that survives an INCOMPLETE is the UTF-8 check of a
 * text frame's partial payload (_pend_*), kept so that a big text frame
 * arriving in many reads is checked once in total, and fails at the read
 * that brings its first invalid byte. That state is keyed by the frame
 * header, so a caller that presents a different frame simply restarts it.
 */
#include "ws/ws_reader.h"

#include <limits.h>
#include <string.h>

#include "base/err.h"
#include "ws/ws_close.h"

void ws_reader_init(ws_reader_t *r, int role, size_t max_message_size)
{
    memset(r, 0, sizeof(*r));
    if (max_message_size == 0)
        max_message_size = WS_READER_DEFAULT_MAX;
    /* The consumed count (header + payload) must fit the int return value. */
    if (max_message_size > (size_t)INT_MAX - WS_FRAME_MAX_HEADER)
        max_message_size = (size_t)INT_MAX - WS_FRAME_MAX_HEADER;
    r->_max = max_message_size;
    r->_server = role == WS_READER_SERVER;
    r->_msg.limit = max_message_size;
    utf8_init(&r->_msg_utf8);
}

void ws_reader_allow_compressed(ws_reader_t *r)
{
    r->_rsv1_ok = 1;
}

void ws_reader_free(ws_reader_t *r)
{
    buf_free(&r->_msg);
    r->_msg_op = 0;
    r->_msg_done = 0;
    r->_pend_active = 0;
}

int ws_reader_idle(const ws_reader_t *r)
{
    return !r->_failed && r->_msg_op == 0 && !r->_pend_active;
}

static int fail(ws_reader_t *r, uint16_t code, const char *why)
{
    r->_failed = 1;
    r->_pend_active = 0;
    r->close_code = code;
    r->reason = why;
    return SIOC_EPROTO;
}

static int same_header(const ws_frame_header_t *a, const ws_frame_header_t *b)
{
    return a->payload_len == b->payload_len && a->opcode == b->opcode && a->fin == b->fin &&
           a->masked == b->masked && memcmp(a->mask, b->mask, 4) == 0;
}

/*
 * Checks the `avail` payload bytes present of a text frame that is not yet
 * whole, continuing from where the previous call on the same frame stopped.
 * The payload stays masked in the caller's buffer (it will be presented
 * again), so bytes are unmasked into a scratch copy.
 */
static int precheck_text(ws_reader_t *r, const ws_frame_header_t *h, const uint8_t *p, size_t avail)
{
    if (!r->_pend_active || !same_header(&r->_pend_h, h)) {
        r->_pend_active = 1;
        r->_pend_h = *h;
        r->_pend_checked = 0;
        if (h->opcode == WS_FRAME_OP_CONT)
            r->_pend_utf8 = r->_msg_utf8;
        else
            utf8_init(&r->_pend_utf8);
    }
    while (r->_pend_checked < avail) {
        uint8_t tmp[512];
        size_t n = avail - r->_pend_checked;
        if (n > sizeof(tmp))
            n = sizeof(tmp);
        memcpy(tmp, p + r->_pend_checked, n);
        if (h->masked)
            ws_frame_unmask(tmp, n, h->mask, r->_pend_checked);
        if (utf8_feed(&r->_pend_utf8, tmp, n, NULL) == SIOC_EPROTO)
            return SIOC_EPROTO;
        r->_pend_checked += n;
    }
    return 0;
}

/*
 * UTF-8 check of a whole text frame payload (already unmasked). `st` is the
 * state before the frame; the bytes precheck_text() saw are skipped.
 */
static int check_text(ws_reader_t *r, const ws_frame_header_t *h, const uint8_t *p, size_t n,
                      utf8_state_t *st)
{
    size_t from = 0;
    if (r->_pend_active && same_header(&r->_pend_h, h)) {
        *st = r->_pend_utf8;
        from = r->_pend_checked;
    } else if (h->fin && h->opcode == WS_FRAME_OP_TEXT) {
        /* The common case, a whole message in one frame: no state needed. */
        return utf8_validate(p, n, NULL) == 0 ? 0 : SIOC_EPROTO;
    }
    int rc = utf8_feed(st, p + from, n - from, NULL);
    if (rc == SIOC_EPROTO || (h->fin && rc != 0))
        return SIOC_EPROTO;
    return 0;
}

static void clear_event(ws_event_t *ev)
{
    ev->type = WS_EVENT_NONE;
    ev->payload = SIOC_IOV_NULL;
    ev->close_code = 0;
    ev->close_reason = SIOC_IOV_NULL;
    ev->compressed = 0;
}

int ws_reader_next(ws_reader_t *r, uint8_t *buf, size_t len, ws_event_t *ev)
{
    ws_frame_header_t h;
    clear_event(ev);
    if (r->_failed)
        return SIOC_EPROTO;
    if (r->_msg_done) {
        r->_msg_done = 0;
        r->_msg.len = 0;
        /* One big message should not pin its storage for the connection's life. */
        if (r->_msg.cap > WS_READER_KEEP_BYTES)
            buf_free(&r->_msg);
    }
    if (len == 0)
        return SIOC_INCOMPLETE;
    /* The opcode is in the first byte: check the first byte's own rules,
     * then the message sequence, before the rest of the header. Checking in
     * this fixed order makes the verdict independent of how the bytes were
     * split across reads. */
    int hl =
        ws_frame_parse_header_rsv1(buf, 1, &h, r->_server, r->_rsv1_ok, &r->reason, &r->close_code);
    if (hl == SIOC_EPROTO)
        return fail(r, r->close_code, r->reason);
    unsigned op = buf[0] & 0x0F;
    /* RFC 7692 §6.1: only the first frame of a message carries "Per-Message Compressed". */
    if ((buf[0] & 0x40) && (op == WS_FRAME_OP_CONT || WS_FRAME_IS_CONTROL(op)))
        return fail(r, WS_CLOSE_PROTOCOL_ERROR, "RSV1 set on a continuation or control frame");
    if (op == WS_FRAME_OP_CONT && r->_msg_op == 0)
        return fail(r, WS_CLOSE_PROTOCOL_ERROR, "continuation frame without a message");
    if ((op == WS_FRAME_OP_TEXT || op == WS_FRAME_OP_BINARY) && r->_msg_op != 0)
        return fail(r, WS_CLOSE_PROTOCOL_ERROR, "new message before the last one ended");
    hl = ws_frame_parse_header_rsv1(buf, len, &h, r->_server, r->_rsv1_ok, &r->reason,
                                    &r->close_code);
    if (hl == SIOC_EPROTO)
        return fail(r, r->close_code, r->reason);
    if (hl < 0)
        return hl;
    if (!WS_FRAME_IS_CONTROL(op)) {
        size_t have = r->_msg_op != 0 ? r->_msg.len : 0;
        if (h.payload_len > r->_max - have)
            return fail(r, WS_CLOSE_TOO_BIG, "message too big");
    }
    int compressed = op == WS_FRAME_OP_CONT ? r->_msg_z : h.rsv1;
    /* Compressed text is checked once inflated, by the caller. */
    int text = !compressed && (op == WS_FRAME_OP_TEXT ||
                               (op == WS_FRAME_OP_CONT && r->_msg_op == WS_FRAME_OP_TEXT));
    size_t avail = len - (size_t)hl;
    if (h.payload_len > avail) {
        if (text && avail > 0 && precheck_text(r, &h, buf + hl, avail) != 0)
            return fail(r, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text message");
        return SIOC_INCOMPLETE;
    }
    size_t n = (size_t)h.payload_len;
    uint8_t *p = buf + hl;
    if (h.masked)
        ws_frame_unmask(p, n, h.mask, 0);
    sioc_iov_t payload = iov_make((const char *)p, n);
    int consumed = hl + (int)n;

    if (WS_FRAME_IS_CONTROL(op)) {
        r->_pend_active = 0;
        ev->payload = payload;
        if (op == WS_FRAME_OP_PING) {
            ev->type = WS_EVENT_PING;
        } else if (op == WS_FRAME_OP_PONG) {
            ev->type = WS_EVENT_PONG;
        } else {
            const char *why;
            uint16_t code = 0;
            if (ws_close_parse(p, n, &code, &ev->close_reason, &why) != 0) {
                clear_event(ev);
                return fail(r,
                            n >= 2 && ws_close_code_valid(code) ? WS_CLOSE_INVALID_DATA
                                                                : WS_CLOSE_PROTOCOL_ERROR,
                            why);
            }
            ev->type = WS_EVENT_CLOSE;
            ev->close_code = code;
        }
        return consumed;
    }

    /* A whole message in one frame: hand out the caller's bytes. */
    if (op != WS_FRAME_OP_CONT && h.fin) {
        utf8_state_t st;
        utf8_init(&st);
        if (text && check_text(r, &h, p, n, &st) != 0)
            return fail(r, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text message");
        r->_pend_active = 0;
        ev->type = op == WS_FRAME_OP_TEXT ? WS_EVENT_TEXT : WS_EVENT_BINARY;
        ev->payload = payload;
        ev->compressed = (uint8_t)compressed;
        return consumed;
    }

    /* A fragment: check it, then append it to the message. */
    if (op != WS_FRAME_OP_CONT) {
        r->_msg_op = (uint8_t)op;
        r->_msg_z = (uint8_t)compressed;
        r->_msg.len = 0;
        utf8_init(&r->_msg_utf8);
    }
    if (text) {
        utf8_state_t st = r->_msg_utf8;
        if (check_text(r, &h, p, n, &st) != 0)
            return fail(r, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text message");
        r->_msg_utf8 = st;
    }
    r->_pend_active = 0;
    int rc = buf_append(&r->_msg, p, n);
    if (rc == SIOC_EMSGSIZE)
        return fail(r, WS_CLOSE_TOO_BIG, "message too big");
    if (rc != 0)
        return fail(r, WS_CLOSE_INTERNAL_ERROR, "out of memory for a fragmented message");
    if (!h.fin)
        return consumed;
    ev->type = r->_msg_op == WS_FRAME_OP_TEXT ? WS_EVENT_TEXT : WS_EVENT_BINARY;
    ev->payload = iov_make(r->_msg.base, r->_msg.len);
    ev->compressed = r->_msg_z;
    r->_msg_op = 0;
    r->_msg_z = 0;
    r->_msg_done = 1;
    return consumed;
}
