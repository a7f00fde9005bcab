/*
 * mp_json.h - msgpack <-> Socket.IO JSON conversion with JavaScript semantics.
 *
 * Job: convert between the worker's form of Socket.IO event data (compact
 * JSON text exactly as JSON.stringify writes it, plus binary attachments
 * referenced by {"_placeholder":true,"num":N}) and the notepack.io 3.0.x
 * msgpack a Node peer reads and writes, byte for byte as notepack.decode +
 * JSON.stringify (or JSON.parse + notepack.encode) would. The rules are
 * listed in mp_json.c; the JS value rules they use are js_value.h.
 * Context, limits and value types are the adapter codec's (adapter_msg.h).
 * Pure: no I/O. Threading: a context is used by one thread at a time.
 */
#ifndef SIOC_COMMON_ADAPTER_MP_JSON_H
#define SIOC_COMMON_ADAPTER_MP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack/pack.h>

#include "adapter/adapter_msg.h"
#include "base/buf.h"

/**
 * Converts one msgpack value at `mp` to JS-compatible JSON (what a Node
 * receiver's JSON.stringify would write after notepack.decode) appended to
 * `json`; bin values become placeholders numbered depth-first and their bytes
 * are appended to `att` as slices into `mp` (a top-level undefined gives
 * "null"). Returns bytes consumed (> 0, may be less than len) or
 * SIOC_EPROTO / SIOC_ENOMEM / SIOC_EMSGSIZE. Borrows `mp`: attachments stay
 * valid as long as it does. On error `json` and `att` may hold partial output.
 */
SIOC_WUR int mp_json_to_json(adapter_msg_ctx_t *ctx, const char *mp, size_t len, sioc_buf_t *json,
                             adapter_msg_att_t *att);

/**
 * Converts the JSON text `v->json` (whole text, one value) to msgpack exactly
 * as JSON.parse + notepack.encode would, appending to `mp`. When v->binary,
 * placeholders become bin values holding v->att[num]. Returns bytes of JSON
 * consumed (> 0) or a negative error (SIOC_EPROTO sets ctx->reason). Borrows
 * `v` for the call only.
 */
SIOC_WUR int mp_json_to_mp(adapter_msg_ctx_t *ctx, const adapter_msg_value_t *v, sioc_buf_t *mp);

/*
 * Internal, shared with adapter_msg.c (the envelopes are read and written
 * with the same msgpack reader, JSON token readers and packer).
 */

/* Caps a buffer at `extra` more bytes for the duration of one call. */
typedef struct {
    sioc_buf_t *b;
    size_t limit;
} mp_json__cap_t;

mp_json__cap_t mp_json__cap_push(sioc_buf_t *b, size_t extra);
void mp_json__cap_pop(mp_json__cap_t c);

enum {
    MP_JSON__K_INT,
    MP_JSON__K_UINT,
    MP_JSON__K_NIL,
    MP_JSON__K_FALSE,
    MP_JSON__K_TRUE,
    MP_JSON__K_FLOAT,
    MP_JSON__K_STR,
    MP_JSON__K_BIN,
    MP_JSON__K_ARR,
    MP_JSON__K_MAP,
    MP_JSON__K_EXT
};

/* One msgpack header (and, for str/bin/ext, its payload). */
typedef struct {
    int kind;
    unsigned char fmt;         /* first byte */
    int8_t ext;                /* ext type */
    uint64_t u;                /* MP_JSON__K_UINT */
    int64_t i;                 /* MP_JSON__K_INT (negative) */
    double f;                  /* MP_JSON__K_FLOAT (float32 widened) */
    const unsigned char *data; /* MP_JSON__K_STR, MP_JSON__K_BIN, MP_JSON__K_EXT payload */
    size_t len;                /* payload bytes, or entries of MP_JSON__K_ARR / MP_JSON__K_MAP */
} mp_json__item_t;

/*
 * Reads one header at *pp and, for str/bin/ext, its payload. Array and map
 * counts are checked against the bytes left. Returns 0 or SIOC_EPROTO.
 */
int mp_json__head(adapter_msg_ctx_t *ctx, const unsigned char **pp, const unsigned char *end,
                  mp_json__item_t *it);
/* Skips one msgpack value (any depth). Returns 0 or SIOC_EPROTO. */
int mp_json__skip(adapter_msg_ctx_t *ctx, const unsigned char **pp, const unsigned char *end);
/* JS value of a number item: int64/uint64 become doubles as notepack does. */
double mp_json__item_num(const mp_json__item_t *it);
/* Converts the msgpack value at *pp to JSON (as mp_json_to_json); *undef: it was undefined. */
int mp_json__to_json_value(adapter_msg_ctx_t *ctx, const unsigned char **pp,
                           const unsigned char *end, sioc_buf_t *json, adapter_msg_att_t *att,
                           int *undef);

/* What mp_json__str_scan learnt about a JSON string. */
typedef struct {
    const unsigned char *body;  /* first byte after the opening quote */
    const unsigned char *close; /* the closing quote */
    int escaped;                /* contains backslash escapes */
    int sur;                    /* contains a \u escape of a surrogate */
    size_t bytes;               /* UTF-8 length when !sur */
} mp_json__str_t;

/* The first non-whitespace byte at or after p. */
const unsigned char *mp_json__ws(const unsigned char *p, const unsigned char *end);
/* Scans the JSON string whose opening quote is at *pp; leaves *pp after it. */
int mp_json__str_scan(adapter_msg_ctx_t *ctx, const unsigned char **pp, const unsigned char *end,
                      mp_json__str_t *s);
/* Decodes a scanned string without surrogate escapes into o (s->bytes long). */
void mp_json__str_decode(const mp_json__str_t *s, unsigned char *o);
/* Decodes a scanned string into UTF-16 units (the JS string); returns the count. */
size_t mp_json__str_utf16(const mp_json__str_t *s, uint16_t *u);
/* Reads the literal lit[0..n) at *pp. */
int mp_json__lit(adapter_msg_ctx_t *ctx, const unsigned char **pp, const unsigned char *end,
                 const char *lit, size_t n);
/* Reads a JSON number at *pp into *d (NULL: validate only) as JSON.parse does. */
int mp_json__number(adapter_msg_ctx_t *ctx, const unsigned char **pp, const unsigned char *end,
                    double *d);
/* Skips one JSON value with full validation, within the context's limits. */
int mp_json__skip_json(adapter_msg_ctx_t *ctx, const unsigned char **pp, const unsigned char *end);
/* Validates that s[0..n) is exactly one JSON value, within the context's limits. */
int mp_json__validate(adapter_msg_ctx_t *ctx, const char *s, size_t n);

/* msgpack_packer write callback appending to the sioc_buf_t `data`. */
int mp_json__pk_write(void *data, const char *buf, size_t len);
/* Packs a JS number as notepack.encode does. */
int mp_json__pk_number(msgpack_packer *pk, sioc_buf_t *b, double d);
/* Converts one whole JSON text to msgpack appended to `mp` (no output cap). */
int mp_json__to_mp_run(adapter_msg_ctx_t *ctx, const adapter_msg_value_t *v, sioc_buf_t *mp);

#endif
