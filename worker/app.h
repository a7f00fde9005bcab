/*
 * app.h - the applications a worker can run (--app).
 *
 * chat: the seed's chat (join-room, leave-room, send-message ->
 * receive-message) behind the JWT middleware. echo: the reference servers of
 * the official Engine.IO / Socket.IO protocol test suites.
 */
#ifndef SIOC_WORKER_APP_H
#define SIOC_WORKER_APP_H

#include "sio.h"

struct eio_handler;

/** The chat application's Socket.IO hooks. */
const sio_app_t *app_chat(void);
/** The echo application's Socket.IO hooks. */
const sio_app_t *app_echo(void);
/** Plain Engine.IO echo (every message sent back), used without a Socket.IO layer. */
const struct eio_handler *app_echo_engine(void);

#endif
