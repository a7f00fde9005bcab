/*
 * tunnel.h - the byte relay after a websocket upgrade.
 *
 * After the worker's 101 the proxy stops interpreting bytes: what one side
 * sends is moved (evbuffer chains, not copied) to the other side's output.
 * Backpressure: when a side's output passes --tunnel-buffer, reading from
 * the other side stops until that output has drained. Half-close: an EOF
 * from one side is passed on as shutdown(SHUT_WR) of the other once its
 * output is written (a TLS client side cannot be half-closed: it is closed
 * after the flush). The tunnel ends when both directions are finished, on
 * any error, or after --tunnel-timeout without a byte either way (longer
 * than pingInterval + pingTimeout, so Engine.IO heartbeats keep it open).
 * Loop thread only.
 */
#ifndef SIOC_PROXY_TUNNEL_H
#define SIOC_PROXY_TUNNEL_H

#include "base/addrcount.h"
#include "proxy.h"
#include "workers.h"

struct bufferevent;

/**
 * Starts relaying between `client` (TLS when `tls`) and `upstream`; bytes
 * already in either input are relayed at once. Takes ownership of both
 * bufferevents and of the connection's per-address count `ip` (released with
 * addrcount_release() when the tunnel ends), and takes a reference on w.
 */
void tunnel_start(proxy_t *p, struct bufferevent *client, int tls, struct bufferevent *upstream,
                  pworker_t *w, addrcount_entry_t *ip);

/** Closes every tunnel now (end of a graceful stop). */
void tunnel_close_all(proxy_t *p);

#endif
