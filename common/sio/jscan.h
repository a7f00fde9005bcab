/*
 * jscan.h - strict JSON validator and scanner that never allocates.
 *
 * Job: decide whether bytes are exactly one JSON value (RFC 8259), say what
 * kind it is and where it is, and let callers look inside it as slices:
 * iterate over array elements and object members, compare or unescape
 * strings, convert numbers, recognise Socket.IO binary placeholders. It is
 * the JSON half of the Socket.IO header codec, so that a packet can be
 * validated and routed without building a tree.
 * Spec: RFC 8259 §2-§8; Socket.IO v5 placeholders, PROTOCOL.md §2.2.
 *
 * Choices (all deliberate, each one documented where it applies):
 * - Strict grammar: no comments, no trailing commas, no leading zeros, no
 *   NaN/Infinity, no single quotes; only space, tab, CR and LF as whitespace.
 * - Strings must be valid UTF-8 (RFC 3629: no overlongs, no encoded
 *   surrogates, nothing above U+10FFFF) with no raw control characters.
 * - `\uXXXX` escapes of lone surrogates are accepted, as the RFC grammar and
 *   JavaScript's JSON.parse accept them (jansson rejects them). Code that
 *   decodes a string (jscan_string_unescape, jscan_string_eq) turns each lone
 *   surrogate into U+FFFD, so decoded text is always valid UTF-8.
 * - Numbers of any length are accepted; only the conversion helpers care
 *   about range. Duplicate object keys are accepted (JavaScript keeps the
 *   last one).
 * - Nesting deeper than JSCAN_MAX_DEPTH containers is rejected (jansson's
 *   limit is 2048, V8's is the stack): a bound on work and stack, not a
 *   grammar rule.
 * Invariants: every function is bounded by its slice's length and reads
 * nothing outside it, whatever the bytes; results are slices into the input.
 * Not here: building values (jansson does that where a tree is needed).
 * Threading: pure functions, any thread.
 */
#ifndef SIOC_COMMON_SIO_JSCAN_H
#define SIOC_COMMON_SIO_JSCAN_H

#include <stddef.h>

#include "base/iov.h"

/** Deepest accepted nesting of arrays and objects. */
#define JSCAN_MAX_DEPTH 64

/** Kinds of JSON values; all positive, so they double as success returns. */
enum jscan_kind {
    JSCAN_OBJECT = 1,
    JSCAN_ARRAY,
    JSCAN_STRING,
    JSCAN_NUMBER,
    JSCAN_TRUE,
    JSCAN_FALSE,
    JSCAN_NULL,
};

/** Result of jscan_value / jscan_walk. */
typedef struct {
    int kind;           /* enum jscan_kind on success */
    sioc_iov_t tok;     /* the value, without surrounding whitespace */
    const char *reason; /* on failure: static text */
    size_t err_off;     /* on failure: offset of the offending byte (may equal len) */
} jscan_value_t;

/** Event types delivered by jscan_walk. */
enum jscan_event_type {
    JSCAN_EV_BEGIN = 1, /* an object or array opens; tok = its opening bracket */
    JSCAN_EV_END,       /* it closes; tok = the whole container, brackets included */
    JSCAN_EV_KEY,       /* an object key; tok = the string token, quotes included */
    JSCAN_EV_SCALAR,    /* a string, number, true, false or null; tok = the token */
};

typedef struct {
    int type; /* enum jscan_event_type */
    int kind; /* JSCAN_OBJECT/JSCAN_ARRAY for BEGIN/END, JSCAN_STRING for KEY, else the scalar's */
    sioc_iov_t tok; /* see enum jscan_event_type */
    unsigned depth; /* 0 for the top-level value; members of a depth-d container are at d+1 */
} jscan_event_t;

/** Walk callback: return 0 to go on, or a negative code to stop the walk with it. */
typedef int (*jscan_cb)(const jscan_event_t *ev, void *data);

/** Iterator over one array or object; initialise with jscan_iter_init. */
typedef struct {
    const char *_p;
    size_t _len;
    size_t _off;
    int _kind;
    int _state;
} jscan_iter_t;

/**
 * Validates that the `len` bytes at `p` are exactly one JSON value, with
 * optional whitespace around it. Returns its kind (> 0) with `v->kind` and
 * `v->tok` set, or SIOC_EPROTO with `v->reason` and `v->err_off` set.
 * Borrows `p`; `v->tok` points into it.
 */
int jscan_value(const char *p, size_t len, jscan_value_t *v);

/**
 * As jscan_value, and calls `cb` for every token in document order (depth
 * first, members in the order written). Events may have been delivered
 * before a syntax error further on is found. A negative return from `cb`
 * stops the walk and is returned as is. Borrows `p` and `data`; event slices
 * point into `p`.
 */
int jscan_walk(const char *p, size_t len, jscan_value_t *v, jscan_cb cb, void *data);

/**
 * As jscan_walk (cb may be NULL) for the one value at the start of `p`
 * (after optional whitespace): bytes after it are never looked at, so it
 * finds where a value embedded in a larger text ends. On success `v->tok`
 * is the value; its end is where the caller goes on.
 */
int jscan_walk_prefix(const char *p, size_t len, jscan_value_t *v, jscan_cb cb, void *data);

/** Number of JSON whitespace bytes (space, tab, CR, LF) at the start of `p`. */
size_t jscan_ws(const char *p, size_t len);

/**
 * Length (>= 2) of the valid string token (quotes included) at the start of
 * `p`, or 0 with `*reason` set (static text) when there is none: the same
 * rules as inside jscan_value (escapes, UTF-8, control characters).
 */
size_t jscan_string_token(const char *p, size_t len, const char **reason);

/** As jscan_string_token for a number token (RFC 8259 §6 grammar, any length). */
size_t jscan_number_token(const char *p, size_t len, const char **reason);

/** Kind of a token from its first byte (0 when it cannot start a value); checks nothing else. */
int jscan_token_kind(sioc_iov_t tok);

/**
 * Starts iterating over the array or object whose opening bracket is the
 * first byte of `container` (a token from jscan_value or jscan_next). Bytes
 * after the matching closing bracket are never read. Returns 0, or
 * SIOC_EINVAL when `container` does not start with `[` or `{`.
 * Borrows `container`; it must stay valid while the iterator is used.
 */
int jscan_iter_init(jscan_iter_t *it, sioc_iov_t container);

/**
 * Produces the next element: its kind (> 0) with `*value` set to its token
 * and, for objects, `*key` to the key's string token (quotes included; for
 * arrays `*key` is set empty); 0 at the closing bracket; SIOC_EPROTO when the
 * container is malformed (every element is validated as it is reached, so a
 * container that came from jscan_value never fails; the depth limit counts
 * from the element, so an unvalidated container may nest one level deeper
 * than jscan_value allows). `key` may be NULL.
 * Slices borrow the container.
 */
int jscan_next(jscan_iter_t *it, sioc_iov_t *key, sioc_iov_t *value);

/**
 * Decodes the JSON string token `str` (quotes included) into `out` as UTF-8
 * followed by a NUL; escapes of lone surrogates become U+FFFD. The decoded
 * text may itself contain NUL bytes (`\u0000`); the return value counts them.
 * Returns the decoded length (>= 0, excluding the terminating NUL),
 * SIOC_EPROTO when `str` is not exactly one valid string token, or
 * SIOC_ENOSPC when `cap` is too small. `cap >= str.len - 1` is always enough.
 * Borrows `str` and `out` for the call only.
 */
int jscan_string_unescape(sioc_iov_t str, char *out, size_t cap);

/**
 * Whether the JSON string token `str` decodes (as jscan_string_unescape) to
 * exactly the bytes of `s`. 1 or 0; 0 also when `str` is not a valid string
 * token. Borrows both for the call only.
 */
int jscan_string_eq_iov(sioc_iov_t str, sioc_iov_t s);

/** As jscan_string_eq_iov with the NUL-terminated `z`. */
int jscan_string_eq(sioc_iov_t str, const char *z);

/**
 * Converts an integer number token (no fraction, no exponent) to long long.
 * Returns 0; SIOC_EINVAL when `num` is not exactly such a token; -ERANGE
 * when it does not fit. Borrows `num` for the call only.
 */
int jscan_number_ll(sioc_iov_t num, long long *out);

/**
 * Converts any number token to double (strtod in the "C" locale's format;
 * the process must not have changed LC_NUMERIC). Returns 0; SIOC_EINVAL when
 * `num` is not exactly a number token or is longer than 510 bytes; -ERANGE
 * when the magnitude overflows a double (underflow quietly gives 0 or a
 * subnormal). Borrows `num` for the call only.
 */
int jscan_number_double(sioc_iov_t num, double *out);

/**
 * Classifies an object as a Socket.IO binary placeholder,
 * `{"_placeholder":true,"num":N}` in any key order (keys may be escaped).
 * Returns 1 with `*num` = N when it is exactly that: two members, `num` a
 * non-negative integer token without fraction or exponent that fits an
 * unsigned. Returns 0 when `obj` is not an object or its (last)
 * `_placeholder` member is absent or not `true`: such an object is plain
 * data to socket.io-parser too. Returns SIOC_EPROTO when `_placeholder` is
 * true but the object is otherwise not a valid placeholder (extra or missing
 * members, a bad `num`), or when `obj` is malformed: socket.io-parser throws
 * on most of these and accepting the rest invites type confusion
 * (CVE-2022-2421). Borrows `obj` for the call only.
 */
int jscan_is_placeholder(sioc_iov_t obj, unsigned *num);

#endif
