/*
 * sio_json.h - JSON string writing: the one JSON.stringify string escaper.
 *
 * Job: append text as a JSON string body, escaped the way JavaScript's
 * JSON.stringify escapes it (`\"`, `\\`, `\b \f \n \r \t`, other control
 * characters as lowercase `\u00xx`, everything else raw), so that packets
 * built here are byte-identical to Node's (the official suite compares
 * bytes, PROTOCOL.md §4.2). U+2028/U+2029 and DEL stay raw, as
 * JSON.stringify leaves them. Input that is not valid UTF-8 is read as
 * Node's Buffer.toString("utf8") reads it: each maximal ill-formed subpart
 * becomes one U+FFFD (base/utf8.h), so E2 82 41 gives U+FFFD "A"; the output
 * is always valid UTF-8 and valid JSON. Every JSON string the tree writes
 * (Socket.IO packets, adapter messages) goes through here;
 * tests/vectors/json/stringify.tsv holds Node's own output for the edge cases.
 * Not here: parsing (jscan.h), building whole values (jansson).
 * Threading: pure functions, any thread.
 */
#ifndef SIOC_COMMON_SIO_SIO_JSON_H
#define SIOC_COMMON_SIO_SIO_JSON_H

#include <stddef.h>

#include "base/buf.h"
#include "base/iov.h"

/**
 * Appends the `n` bytes at `s` escaped as the inside of a JSON string (no
 * quotes). Returns 0 or the buf_append error (SIOC_ENOMEM, SIOC_EMSGSIZE),
 * leaving `b` unchanged on failure. Borrows `s` for the call only.
 */
int sio_json_escape_append(sioc_buf_t *b, const char *s, size_t n);

/** As sio_json_escape_append, between double quotes: a complete JSON string token. */
int sio_json_append_string(sioc_buf_t *b, const char *s, size_t n);

/** As sio_json_append_string for a slice. */
static inline int sio_json_append_iov(sioc_buf_t *b, sioc_iov_t s)
{
    return sio_json_append_string(b, s.base, s.len);
}

#endif
