/*
 * err.h - error codes.
 *
 * Fallible functions return 0 (or a positive count) on success and a negative
 * SIOC_E* on failure. Codecs follow the picohttpparser contract: n > 0 bytes
 * consumed, SIOC_INCOMPLETE (-2) for "need more", SIOC_EPROTO (-1) for
 * malformed input. Other codes are -errno where one exists.
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
#define SIOC_ENOENT (-ENOENT)
#define SIOC_EEXIST (-EEXIST)
#define SIOC_EACCES (-EACCES)
#define SIOC_ECANCELED (-ECANCELED)

/** Static text for an error code; never NULL. */
const char *sioc_strerror(int err);

#endif
