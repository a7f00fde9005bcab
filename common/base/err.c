/*
 * err.c - text for the SIOC_E* codes (err.h).
 */
#include "err.h"

#include <string.h>

const char *sioc_strerror(int err)
{
    switch (err) {
    case SIOC_OK:
        return "ok";
    case SIOC_EPROTO:
        return "protocol error";
    case SIOC_INCOMPLETE:
        return "incomplete input";
    default:
        if (err < 0)
            return strerror(-err);
        return "unknown error";
    }
}
