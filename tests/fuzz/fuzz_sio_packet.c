/*
 * fuzz_sio_packet.c - libFuzzer target for common/sio (sio_packet, sio_binary).
 *
 * Invariants checked (abort() on violation) for every accepted packet:
 * - the return value is the input length and every slice lies inside it;
 * - fields agree with the type rules of PROTOCOL.md §2.2 (attachments only
 *   on 5/6 and within the limit, ack id range, namespace shape, payload kind
 *   per type, event name a number or a non-reserved string);
 * - parse(write_header(fields) + data) gives the same fields again;
 * - a packet accepted with the default limits is accepted with larger ones;
 * - for binary packets: every placeholder is below the attachment count;
 *   renumbering then rewriting the payload gives a packet that parses with
 *   the new count and whose placeholders are exactly 0..n-1 in first-use
 *   order.
 * Rejections must carry a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "sio/jscan.h"
#include "sio/sio_binary.h"
#include "sio/sio_packet.h"
#include "tests/fuzz/fuzz_check.h"

static int inside(sioc_iov_t s, const char *p, size_t n)
{
    return s.len == 0 || (s.base >= p && s.base + s.len <= p + n);
}

static void same_fields(const sio_packet_t *a, const sio_packet_t *b)
{
    CHECK(a->type == b->type);
    CHECK(a->attachments == b->attachments);
    CHECK(iov_eq(a->nsp, b->nsp));
    CHECK(a->has_ack == b->has_ack && a->ack_id == b->ack_id);
    CHECK(iov_eq(a->data, b->data) && a->data_kind == b->data_kind);
    CHECK(iov_eq(a->event, b->event) && a->event_kind == b->event_kind);
    CHECK(iov_eq(a->args, b->args));
}

static void check_fields(const sio_packet_t *pkt, const char *p, size_t n)
{
    CHECK(inside(pkt->data, p, n) && inside(pkt->event, p, n) && inside(pkt->args, p, n));
    CHECK(pkt->nsp.len >= 1 && pkt->nsp.base[0] == '/');
    CHECK(memchr(pkt->nsp.base, ',', pkt->nsp.len) == NULL);
    CHECK(!pkt->has_ack || pkt->ack_id <= SIO_MAX_ACK_ID);
    CHECK(pkt->data_kind == jscan_token_kind(pkt->data));
    int binary = pkt->type == SIO_BINARY_EVENT || pkt->type == SIO_BINARY_ACK;
    CHECK(binary || pkt->attachments == 0);
    CHECK(pkt->attachments <= SIO_MAX_ATTACHMENTS);
    if (pkt->data.len) {
        jscan_value_t v;
        CHECK(jscan_value(pkt->data.base, pkt->data.len, &v) == pkt->data_kind);
        CHECK(v.tok.len == pkt->data.len);
    }
    switch (pkt->type) {
    case SIO_CONNECT:
        CHECK(!pkt->has_ack && (pkt->data_kind == 0 || pkt->data_kind == JSCAN_OBJECT));
        break;
    case SIO_DISCONNECT:
        CHECK(!pkt->has_ack && pkt->data_kind == 0);
        break;
    case SIO_CONNECT_ERROR:
        CHECK(!pkt->has_ack && (pkt->data_kind == JSCAN_OBJECT || pkt->data_kind == JSCAN_STRING));
        break;
    case SIO_EVENT:
    case SIO_BINARY_EVENT: {
        CHECK(pkt->data_kind == JSCAN_ARRAY);
        CHECK(pkt->event_kind == JSCAN_STRING || pkt->event_kind == JSCAN_NUMBER);
        CHECK(pkt->event.base > pkt->data.base);
        if (pkt->event_kind == JSCAN_STRING) {
            size_t cap = pkt->event.len;
            char *name = malloc(cap);
            CHECK(name != NULL);
            int len = jscan_string_unescape(pkt->event, name, cap);
            CHECK(len >= 0);
            CHECK(!sio_packet_reserved_event(iov_make(name, (size_t)len)));
            free(name);
        }
        break;
    }
    default:
        CHECK(pkt->has_ack && pkt->data_kind == JSCAN_ARRAY && pkt->event_kind == 0);
        break;
    }
}

static void check_binary(const sio_packet_t *pkt)
{
    unsigned nums[64], map[SIO_MAX_ATTACHMENTS], order[SIO_MAX_ATTACHMENTS];
    int count = sio_binary_collect(pkt->data, pkt->attachments, nums, 64, NULL);
    CHECK(count >= 0);
    for (int i = 0; i < count && i < 64; i++)
        CHECK(nums[i] < pkt->attachments);
    int n = sio_binary_renumber(pkt->data, pkt->attachments, map, order, NULL);
    CHECK(n >= 0 && (unsigned)n <= pkt->attachments && (n == 0) == (count == 0));
    for (int k = 0; k < n; k++)
        CHECK(order[k] < pkt->attachments && map[order[k]] == (unsigned)k);

    sioc_buf_t b = {0};
    CHECK(sio_packet_write_header(&b, pkt->type, (unsigned)n, pkt->nsp, pkt->has_ack,
                                  pkt->ack_id) == 0);
    size_t hdr = b.len;
    CHECK(sio_binary_rewrite(&b, pkt->data, map, pkt->attachments, NULL) == 0);
    sio_packet_t again;
    CHECK(sio_packet_parse(b.base, b.len, &again, NULL) == (int)b.len);
    CHECK(again.type == pkt->type && again.attachments == (unsigned)n);
    /* Placeholders now count up from 0 in order of first use. */
    unsigned nums2[64];
    int count2 =
        sio_binary_collect(iov_make(b.base + hdr, b.len - hdr), (unsigned)n, nums2, 64, NULL);
    CHECK(count2 == count);
    unsigned next = 0;
    for (int i = 0; i < count2 && i < 64; i++) {
        CHECK(nums2[i] <= next);
        if (nums2[i] == next)
            next++;
        CHECK(nums2[i] == map[nums[i]]);
    }
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    sio_packet_t pkt;
    const char *reason = NULL;
    int r = sio_packet_parse(p, size, &pkt, &reason);
    sio_packet_limits_t wide = {1000};
    sio_packet_t pkt_wide;
    int r_wide = sio_packet_parse_ex(p, size, &wide, &pkt_wide, NULL);
    if (r < 0) {
        CHECK(r == SIOC_EPROTO && reason != NULL);
        return 0;
    }
    CHECK(r == (int)size);
    CHECK(r_wide == r);
    same_fields(&pkt, &pkt_wide);
    check_fields(&pkt, p, size);

    /* Round trip through the header writer. */
    sioc_buf_t b = {0};
    CHECK(sio_packet_write(&b, pkt.type, pkt.attachments, pkt.nsp, pkt.has_ack, pkt.ack_id,
                           pkt.data) == 0);
    CHECK(b.len <= size + 1); /* at most a comma is added (nsp without one) */
    sio_packet_t again;
    CHECK(sio_packet_parse(b.base, b.len, &again, NULL) == (int)b.len);
    same_fields(&pkt, &again);
    buf_free(&b);

    if (pkt.type == SIO_BINARY_EVENT || pkt.type == SIO_BINARY_ACK)
        check_binary(&pkt);
    return 0;
}
