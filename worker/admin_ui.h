/*
 * admin_ui.h - the /admin namespace of @socket.io/admin-ui 0.5 (PROTOCOL.md §9).
 *
 * The admin UI is a socket.io-client connected to the namespace "/admin" of any worker.
 * This module wraps the application's sio_app_t: CONNECTs to "/admin" go through basic
 * authentication (a bcrypt hash, checked with crypt(3), or a session id kept in Redis as
 * the package's RedisStore keeps it: socket.io-admin#<id>), events on "/admin" are the UI's
 * commands (emit, join, leave, _disconnect, mapped onto broadcasts, socketsJoin,
 * socketsLeave and disconnectSockets over the cluster), and every other namespace is
 * handed to the application unchanged. Like Node's instrument(), the module emits to
 * "/admin" through the adapter: server_stats every 2 s, socket_connected /
 * socket_disconnected and room_joined / room_left as they happen, so every worker (and
 * every Node server running instrument() on the same Redis) shows up in one UI.
 * Loop thread only.
 */
#ifndef SIOC_WORKER_ADMIN_UI_H
#define SIOC_WORKER_ADMIN_UI_H

#include "base/buf.h"
#include "sio.h"
#include "worker.h"

typedef struct admin_ui admin_ui_t;

/** Wraps `app` (borrowed, must outlive the result) for w->conf's admin UI settings; the
 * result is stored in w->admin_ui. */
admin_ui_t *admin_ui_new(worker_t *w, const sio_app_t *app);
/** The wrapping application to give to sio_server_new. Owned by `a`. */
const sio_app_t *admin_ui_app(admin_ui_t *a);
/** Starts the stats timer and the room events, once the Socket.IO layer and the adapter
 * exist. */
void admin_ui_start(admin_ui_t *a);
/** Stops emitting (before the adapter is freed); the wrapper keeps forwarding to the app. */
void admin_ui_stop(admin_ui_t *a);
/** Frees `a` after the last socket is gone (after the loop's final turn). */
void admin_ui_free(admin_ui_t *a);
/** Appends the module's metrics (Prometheus text). */
void admin_ui_metrics(const admin_ui_t *a, sioc_buf_t *b);

#endif
