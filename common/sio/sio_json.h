/*
 * sio_json.h - JSON string writing for Socket.IO packets.
 *
 * Job: append text as a JSON string body, escaped the way JavaScript's
 * JSON.stringify escapes it (`\"`, `\\`, `\b \f \n \r \t`, other control
 * characters as lowercase `\u00xx`, everything else raw), so that packets
 * built here are byte-identical to Node's (the official suite compares
 * bytes, PROTOCOL.md §4.2). Input that is not valid UTF-8 has each bad byte
 * replaced by U+FFFD, as Node's Buffer-to-string decoding does, so the
 * output is always valid UTF-8 and valid JSON.
 * Not here: parsing (jscan.h), building whole values (jansson).
 * Threading: pure functions, any thread.
 */
#ifndef SIOC_COMMON_SIO_SIO_JSON_H
#define SIOC_COMMON_SIO_SIO_JSON_H

#include <stddef.h>

#include "base/buf.h"

/**
 * Appends the `n` bytes at `s` escaped as the inside of a JSON string (no
 * quotes). Returns 0 or the buf_append error (SIOC_ENOMEM, SIOC_EMSGSIZE),
 * leaving `b` unchanged on failure. Borrows `s` for the call only.
 */
int sio_json_escape_append(sioc_buf_t *b, const char *s, size_t n);

/** As sio_json_escape_append, between double quotes: a complete JSON string token. */
int sio_json_append_string(sioc_buf_t *b, const char *s, size_t n);

#endif
