/*
 * err.h - error codes.
 *
 * Fallible functions return 0 (or a positive count) on success and a negative
 * SIOC_E* on failure. Codecs follow the picohttpparser contract: n > 0 bytes
 * consumed, SIOC_INCOMPLETE (-2) for "need more", SIOC_EPROTO (-1) for
 * malformed input. Other codes are -errno where one exists and does not
 * collide with those two; the codes that have no errno of their own (or
 * whose errno would collide: ENOENT is 2) sit above the errno range.
 * Every code is distinct and has its own text (sioc_strerror).
 */
#ifndef SIOC_COMMON_BASE_ERR_H
#define SIOC_COMMON_BASE_ERR_H

#include <errno.h>

#define SIOC_OK 0
#define SIOC_EPROTO (-1)     /* malformed input (codec contract) */
#define SIOC_INCOMPLETE (-2) /* need more bytes (codec contract) */
#define SIOC_ENOMEM (-ENOMEM)
#define SIOC_EINVAL (-EINVAL)
#define SIOC_EMSGSIZE (-EMSGSIZE)
#define SIOC_ENOSPC (-ENOSPC)
#define SIOC_ETIMEDOUT (-ETIMEDOUT)
#define SIOC_ECONNRESET (-ECONNRESET)
#define SIOC_EAGAIN (-EAGAIN)
#define SIOC_ENOENT (-4097) /* lookup failed (-ENOENT is -2: SIOC_INCOMPLETE) */
#define SIOC_EEXIST (-EEXIST)
#define SIOC_EACCES (-EACCES)
#define SIOC_ECANCELED (-ECANCELED)

/*
 * Every code with its text, for sioc_strerror and the tests: X(code, "text").
 * The -errno codes keep glibc's strerror text, so logs read as before.
 */
#define SIOC_ERR_LIST(X)                                                                           \
    X(SIOC_OK, "ok")                                                                               \
    X(SIOC_EPROTO, "protocol error")                                                               \
    X(SIOC_INCOMPLETE, "incomplete input")                                                         \
    X(SIOC_ENOMEM, "Cannot allocate memory")                                                       \
    X(SIOC_EINVAL, "Invalid argument")                                                             \
    X(SIOC_EMSGSIZE, "Message too long")                                                           \
    X(SIOC_ENOSPC, "No space left on device")                                                      \
    X(SIOC_ETIMEDOUT, "Connection timed out")                                                      \
    X(SIOC_ECONNRESET, "Connection reset by peer")                                                 \
    X(SIOC_EAGAIN, "Resource temporarily unavailable")                                             \
    X(SIOC_ENOENT, "not found (name lookup failed)")                                               \
    X(SIOC_EEXIST, "File exists")                                                                  \
    X(SIOC_EACCES, "Permission denied")                                                            \
    X(SIOC_ECANCELED, "Operation canceled")

/**
 * Static text for an error code; never NULL. Codes outside SIOC_ERR_LIST
 * that are -errno (from a system call) get strerror's text.
 */
const char *sioc_strerror(int err);

#endif
