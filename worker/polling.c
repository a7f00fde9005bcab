/*
 * polling.c - the long-polling transport (polling.h).
 *
 * The session decides (eio_session_poll_get); this file writes the HTTP side. A POST
 * with a binary content type, or whose payload does not parse, ends the session with
 * "parse error" (PROTOCOL.md §1.4).
 */
#include "polling.h"

#include <stdlib.h>

#include "base/alloc.h"
#include "base/base64.h"
#include "eio/eio_payload.h"
#include "net/conn.h"

void polling_answer(void *get, const char *body, size_t len, int compress, void *data)
{
    (void)data;
    client_t *g = get;
    client_to_http(g);
    client_respond_payload(g, NULL, body, len, compress);
    conn_rescan(g->conn);
}

void polling_get(client_t *cl, eio_session_t *s)
{
    switch (eio_session_poll_get(s, cl)) {
    case EIO_POLL_DUPLICATE: {
        /* Refused, and the session ends (the held GET gets "1"). */
        static const char body[] = "{\"code\":3,\"message\":\"Bad request\"}";
        client_respond(cl, 400, "application/json", NULL, body, sizeof(body) - 1, 0);
        eio_session_close(s, eio_reason_transport_error);
        return;
    }
    case EIO_POLL_NOOP:
        client_respond_payload(cl, NULL, "6", 1, 1);
        return;
    default:
        cl->session = s;
        cl->mode = CLIENT_HELD_GET;
        return;
    }
}

void polling_post(client_t *cl, eio_session_t *s, const http_request_t *req, const char *body,
                  size_t len)
{
    if (req->content_type.len >= 24 &&
        iov_eq_ci(iov_make(req->content_type.base, 24), SIOC_LIT("application/octet-stream"))) {
        client_respond_eio_error(cl, 3);
        eio_session_close(s, eio_reason_parse_error);
        return;
    }
    const char *reason = NULL;
    int n = eio_payload_count(body, len, &reason);
    if (n < 0) {
        client_respond_eio_error(cl, 3);
        eio_session_close(s, eio_reason_parse_error);
        return;
    }
    /* Answer first: the packets below may close the session. */
    client_respond(cl, 200, "text/html", NULL, "ok", 2, 0);
    eio_payload_iter_t it;
    eio_payload_iter_init(&it, body, len);
    eio_payload_item_t item;
    /* A closed session ignores the rest of the payload. */
    while (!eio_session_is_closed(s) && eio_payload_next(&it, &item, &reason) > 0) {
        if (item.binary) {
            uint8_t *bin = try_malloc(item.binary_len ? item.binary_len : 1);
            if (bin == NULL) {
                eio_session_close(s, eio_reason_transport_error);
                break;
            }
            int bl = base64_decode(item.data, bin, item.binary_len);
            if (bl < 0) {
                free(bin);
                eio_session_close(s, eio_reason_parse_error);
                break;
            }
            eio_session_deliver(s, (const char *)bin, (size_t)bl, 1);
            free(bin);
            continue;
        }
        eio_packet_t pk = {item.type, item.data};
        eio_session_packet(s, &pk);
    }
}
