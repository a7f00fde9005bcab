/*
 * assets.h - the files the worker serves from memory.
 *
 * The socket.io-client browser bundle (served at <path>socket.io.js, as Node's
 * Socket.IO does with serveClient) and the chat page are embedded in the binary
 * at build time, each with a gzip -9 copy, so a worker needs no file next to it
 * and serving one is a reference to read-only memory.
 */
#ifndef SIOC_WORKER_ASSETS_H
#define SIOC_WORKER_ASSETS_H

#include "base/iov.h"

typedef struct asset {
    const char *name;  /* "socket.io.min.js", "index.html" */
    const char *ctype; /* Content-Type */
    sioc_iov_t body;
    sioc_iov_t gz; /* the same bytes, gzip-compressed */
    int client;    /* part of the socket.io-client bundle */
} asset_t;

/** The version of the embedded socket.io-client ("" when the build has none). */
extern const char assets_client_version[];

/** The embedded file called `name`, or NULL. */
const asset_t *assets_find(sioc_iov_t name);

#endif
