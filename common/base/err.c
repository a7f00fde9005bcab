/*
 * err.c - text for the SIOC_E* codes (err.h).
 */
#include "err.h"

#include <string.h>

const char *sioc_strerror(int err)
{
    switch (err) {
#define SIOC_ERR_CASE(code, text)                                                                  \
    case code:                                                                                     \
        return text;
        SIOC_ERR_LIST(SIOC_ERR_CASE)
#undef SIOC_ERR_CASE
    default:
        if (err < 0 && err > -4096)
            return strerror(-err);
        return "unknown error";
    }
}
