/*
 * sio_binary.c - Socket.IO binary placeholders (sio_binary.h).
 *
 * One jscan_walk per call. The walk marks, per open object, whether it has
 * a "_placeholder" key; only marked objects are handed to
 * jscan_is_placeholder when they close, so plain data is scanned once.
 * A valid placeholder has only scalar members, so placeholders never nest
 * and rewriting can copy the text between them verbatim.
 */
#include "sio_binary.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "sio/jscan.h"

_Static_assert(JSCAN_MAX_DEPTH <= 64, "one bit per depth in walk_t.marked");

enum { MODE_COLLECT, MODE_RENUMBER, MODE_REWRITE };

typedef struct {
    int mode;
    uint64_t marked; /* bit d: the object open at depth d has a "_placeholder" key */
    unsigned limit;  /* nums must be below this */
    size_t count;
    /* MODE_COLLECT */
    unsigned *nums;
    size_t cap;
    /* MODE_RENUMBER */
    unsigned *map;
    unsigned *order;
    unsigned next;
    /* MODE_REWRITE */
    sioc_buf_t *b;
    const char *copied; /* input up to here is already in b */
    const unsigned *rmap;
    const char *reason;
} walk_t;

static int placeholder_key(sioc_iov_t key)
{
    static const char lit[] = "\"_placeholder\"";
    if (key.len == sizeof(lit) - 1 && memcmp(key.base, lit, key.len) == 0)
        return 1;
    /* An escaped spelling (e.g. "\u005fplaceholder") is the same key to JavaScript. */
    return memchr(key.base, '\\', key.len) != NULL && jscan_string_eq(key, "_placeholder");
}

static int visit(walk_t *w, unsigned num, sioc_iov_t obj)
{
    if (num >= w->limit) {
        w->reason = "placeholder num out of range";
        return SIOC_EPROTO;
    }
    if (w->count == (size_t)INT_MAX) {
        w->reason = "too many placeholders";
        return SIOC_EPROTO;
    }
    switch (w->mode) {
    case MODE_COLLECT:
        if (w->nums && w->count < w->cap)
            w->nums[w->count] = num;
        break;
    case MODE_RENUMBER:
        if (w->map[num] == SIO_BINARY_UNUSED) {
            w->map[num] = w->next;
            w->order[w->next++] = num;
        }
        break;
    default: {
        unsigned to = w->rmap[num];
        if (to == SIO_BINARY_UNUSED) {
            w->reason = "placeholder maps to no attachment";
            return SIOC_EPROTO;
        }
        int r = buf_append(w->b, w->copied, (size_t)(obj.base - w->copied));
        r = r ? r : buf_append_str(w->b, "{\"_placeholder\":true,\"num\":");
        r = r ? r : buf_append_u64(w->b, to);
        r = r ? r : buf_append_byte(w->b, '}');
        if (r) {
            w->reason = "output buffer full";
            return r;
        }
        w->copied = obj.base + obj.len;
        break;
    }
    }
    w->count++;
    return 0;
}

static int on_event(const jscan_event_t *ev, void *data)
{
    walk_t *w = data;
    switch (ev->type) {
    case JSCAN_EV_BEGIN:
        w->marked &= ~((uint64_t)1 << ev->depth);
        break;
    case JSCAN_EV_KEY:
        if (placeholder_key(ev->tok))
            w->marked |= (uint64_t)1 << (ev->depth - 1);
        break;
    case JSCAN_EV_END:
        if (ev->kind == JSCAN_OBJECT && (w->marked >> ev->depth & 1)) {
            unsigned num;
            int r = jscan_is_placeholder(ev->tok, &num);
            if (r < 0) {
                w->reason = "malformed placeholder";
                return SIOC_EPROTO;
            }
            if (r == 1)
                return visit(w, num, ev->tok);
        }
        break;
    default:
        break;
    }
    return 0;
}

static sioc_iov_t trim(sioc_iov_t v)
{
    while (v.len &&
           (v.base[0] == ' ' || v.base[0] == '\t' || v.base[0] == '\n' || v.base[0] == '\r')) {
        v.base++;
        v.len--;
    }
    while (v.len && (v.base[v.len - 1] == ' ' || v.base[v.len - 1] == '\t' ||
                     v.base[v.len - 1] == '\n' || v.base[v.len - 1] == '\r'))
        v.len--;
    return v;
}

static int run(walk_t *w, sioc_iov_t json, const char **reason)
{
    jscan_value_t v;
    int r = jscan_walk(json.base, json.len, &v, on_event, w);
    if (r < 0) {
        if (reason)
            *reason = w->reason ? w->reason : v.reason;
        return r;
    }
    return (int)w->count;
}

int sio_binary_collect(sioc_iov_t json, unsigned attachments, unsigned *nums, size_t cap,
                       const char **reason)
{
    walk_t w = {.mode = MODE_COLLECT, .limit = attachments, .nums = nums, .cap = cap};
    return run(&w, json, reason);
}

int sio_binary_check(sioc_iov_t json, unsigned attachments, const char **reason)
{
    return sio_binary_collect(json, attachments, NULL, 0, reason);
}

int sio_binary_renumber(sioc_iov_t json, unsigned attachments, unsigned *map, unsigned *order,
                        const char **reason)
{
    walk_t w = {.mode = MODE_RENUMBER, .limit = attachments, .map = map, .order = order};
    for (unsigned i = 0; i < attachments; i++)
        map[i] = SIO_BINARY_UNUSED;
    int r = run(&w, json, reason);
    return r < 0 ? r : (int)w.next;
}

int sio_binary_rewrite(sioc_buf_t *b, sioc_iov_t json, const unsigned *map, size_t map_len,
                       const char **reason)
{
    json = trim(json);
    size_t start = b->len;
    walk_t w = {.mode = MODE_REWRITE,
                .limit = map_len > UINT_MAX ? UINT_MAX : (unsigned)map_len,
                .b = b,
                .copied = json.base,
                .rmap = map};
    int r = run(&w, json, reason);
    if (r >= 0) {
        r = buf_append(b, w.copied, (size_t)(json.base + json.len - w.copied));
        if (r && reason)
            *reason = "output buffer full";
    }
    if (r < 0) {
        b->len = start;
        return r;
    }
    return 0;
}
