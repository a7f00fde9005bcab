/*
 * app_echo.c - the protocol suites' reference servers (PROTOCOL.md §4).
 *
 * Socket.IO: on connection emit("auth", handshake.auth); "message"(...args)
 * -> emit("message-back", ...args); "message-with-ack"(...args, ack) ->
 * ack(...args). Binary arguments travel back as the same attachments, in the
 * same order (the placeholders keep their numbers: only the event name, a
 * string, is replaced). Engine.IO: every message is sent back unchanged.
 */
#include "app.h"

#include <string.h>

#include "base/buf.h"
#include "eio_session.h"
#include "sio/jscan.h"

static void echo_connect(sio_socket_t *s, sioc_iov_t auth)
{
    sioc_buf_t b = {0};
    int r = buf_append_str(&b, "[\"auth\",");
    r |= buf_append(&b, auth.base, auth.len);
    r |= buf_append_byte(&b, ']');
    if (r == 0)
        (void)sio_emit(s, iov_make(b.base, b.len), NULL, 0);
    buf_free(&b);
}

static void echo_event(sio_socket_t *s, const sio_event_t *ev)
{
    sioc_buf_t b = {0};
    int r = 0;
    if (jscan_string_eq(ev->name, "message")) {
        r = buf_append_str(&b, "[\"message-back\"");
        if (ev->args.len)
            r |= buf_append_byte(&b, ',') | buf_append(&b, ev->args.base, ev->args.len);
        r |= buf_append_byte(&b, ']');
        if (r == 0)
            (void)sio_emit(s, iov_make(b.base, b.len), ev->att, ev->n_att);
    } else if (jscan_string_eq(ev->name, "message-with-ack") && ev->has_ack) {
        r = buf_append_byte(&b, '[') | buf_append(&b, ev->args.base, ev->args.len) |
            buf_append_byte(&b, ']');
        if (r == 0)
            (void)sio_ack(s, ev->ack_id, iov_make(b.base, b.len), ev->att, ev->n_att);
    }
    buf_free(&b);
}

static const sio_app_t echo = {NULL, echo_connect, echo_event, NULL, NULL, NULL};

const sio_app_t *app_echo(void)
{
    return &echo;
}

static void eio_echo(eio_session_t *s, const char *data, size_t len, int binary)
{
    if (binary)
        (void)eio_send_binary(s, data, len);
    else
        (void)eio_send_text(s, data, len);
}

static const eio_handler_t echo_engine = {NULL, eio_echo, NULL, NULL, NULL, 0};

const eio_handler_t *app_echo_engine(void)
{
    return &echo_engine;
}
