/*
 * eio_payload.c - Engine.IO v4 long-polling payload framing (eio_payload.h).
 *
 * Base64 itself is base/base64.h (strict canonical decoding, padded encoding).
 */
#include "eio_payload.h"

#include <limits.h>
#include <string.h>

#include "base/base64.h"
#include "base/err.h"
#include "eio/eio_packet.h"

enum { ST_FIRST, ST_NEXT, ST_DONE, ST_FAILED };

size_t eio_payload_binary_record_len(size_t n)
{
    return 1 + base64_encoded_len(n);
}

void eio_payload_iter_init(eio_payload_iter_t *it, const char *p, size_t len)
{
    it->_p = p;
    it->_len = len;
    it->_off = 0;
    it->_state = ST_FIRST;
}

static int fail(eio_payload_iter_t *it, const char **reason, const char *why)
{
    it->_state = ST_FAILED;
    if (reason)
        *reason = why;
    return SIOC_EPROTO;
}

int eio_payload_next(eio_payload_iter_t *it, eio_payload_item_t *item, const char **reason)
{
    if (it->_state == ST_DONE)
        return 0;
    if (it->_state == ST_FAILED)
        return fail(it, reason, "payload already failed");
    if (it->_state == ST_FIRST && it->_len == 0)
        return fail(it, reason, "empty payload");
    const char *rec = it->_p + it->_off;
    size_t avail = it->_len - it->_off;
    const char *sep = avail ? memchr(rec, EIO_PAYLOAD_SEP, avail) : NULL;
    size_t n = sep ? (size_t)(sep - rec) : avail;
    if (n == 0)
        return fail(it, reason, it->_off == it->_len ? "trailing separator" : "empty record");
    if (rec[0] == 'b') {
        size_t dec = base64_check(rec + 1, n - 1);
        if (dec == (size_t)-1)
            return fail(it, reason, "invalid base64");
        item->binary = 1;
        item->type = EIO_MESSAGE;
        item->data = iov_make(rec + 1, n - 1);
        item->binary_len = dec;
    } else if (rec[0] >= '0' && rec[0] <= '6') {
        item->binary = 0;
        item->type = rec[0] - '0';
        item->data = iov_make(rec + 1, n - 1);
        item->binary_len = 0;
    } else {
        return fail(it, reason, "unknown packet type");
    }
    item->record = iov_make(rec, n);
    if (sep) {
        it->_off += n + 1;
        it->_state = ST_NEXT;
    } else {
        it->_off = it->_len;
        it->_state = ST_DONE;
    }
    return 1;
}

int eio_payload_count(const char *p, size_t len, const char **reason)
{
    eio_payload_iter_t it;
    eio_payload_item_t item;
    int count = 0, r;
    eio_payload_iter_init(&it, p, len);
    while ((r = eio_payload_next(&it, &item, reason)) > 0) {
        if (count == INT_MAX) {
            if (reason)
                *reason = "too many records";
            return SIOC_EPROTO;
        }
        count++;
    }
    return r < 0 ? r : count;
}

static int append_sep(sioc_buf_t *b, int first)
{
    return first ? 0 : buf_append_byte(b, EIO_PAYLOAD_SEP);
}

int eio_payload_append_text(sioc_buf_t *b, int first, int type, const char *data, size_t len)
{
    if (type < 0 || type >= EIO_PACKET_NTYPES)
        return SIOC_EINVAL;
    if (len && memchr(data, EIO_PAYLOAD_SEP, len) != NULL)
        return SIOC_EINVAL;
    size_t start = b->len;
    int r = buf_reserve(b, len + 2);
    r = r ? r : append_sep(b, first);
    r = r ? r : eio_packet_write(b, type, data, len);
    if (r)
        b->len = start;
    return r;
}

int eio_payload_append_binary(sioc_buf_t *b, int first, const uint8_t *data, size_t len)
{
    if (len > ((size_t)-1 - 8) / 4 * 3)
        return SIOC_ENOMEM;
    size_t start = b->len;
    int r = buf_reserve(b, base64_encoded_len(len) + 1 + (first == 0));
    r = r ? r : append_sep(b, first);
    r = r ? r : buf_append_byte(b, 'b');
    if (r) {
        b->len = start;
        return r;
    }
    b->len += base64_encode(b->base + b->len, data, len);
    return 0;
}
