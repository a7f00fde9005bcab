/*
 * admin.c - /health, /ready, /metrics (admin.h).
 */
#include "admin.h"

#include <stdio.h>
#include <string.h>

#include "adapter.h"
#include "admin_ui.h"
#include "net/loop.h"
#include "recovery.h"
#include "sio.h"

int admin_ready(const worker_t *w)
{
    return w->ready && !w->draining;
}

static void put(sioc_buf_t *b, const char *name, const char *type, const char *help,
                unsigned long long v)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name,
                     type, name, v);
    if (n > 0)
        (void)!buf_append(b, line, (size_t)n);
}

void admin_metrics(worker_t *w, sioc_buf_t *b)
{
    const worker_stats_t *s = &w->stats;
    const net_stats_t *n = net_loop_stats(w->loop);
    put(b, "sioc_connections_open", "gauge", "Open TCP connections", n->conns_open);
    put(b, "sioc_connections_total", "counter", "Accepted TCP connections", n->conns_total);
    put(b, "sioc_connections_refused_total", "counter", "Connections refused by a limit",
        s->conn_refused_limit);
    put(b, "sioc_bytes_in_total", "counter", "Bytes read", n->bytes_in);
    put(b, "sioc_bytes_out_total", "counter", "Bytes written", n->bytes_out);
    put(b, "sioc_http_requests_total", "counter", "HTTP requests", s->http_requests);
    put(b, "sioc_http_errors_total", "counter", "HTTP error responses", s->http_errors);
    put(b, "sioc_http_compressed_total", "counter", "Polling responses sent compressed",
        s->http_compressed);
    put(b, "sioc_http_compressed_bytes_in_total", "counter",
        "Polling response bytes before compression", s->http_compressed_in);
    put(b, "sioc_http_compressed_bytes_out_total", "counter",
        "Polling response bytes after compression", s->http_compressed_out);
    put(b, "sioc_ws_deflated_total", "counter",
        "WebSocket messages compressed (permessage-deflate)", s->eio.ws_deflated);
    put(b, "sioc_ws_deflated_bytes_in_total", "counter", "WebSocket bytes before compression",
        s->eio.ws_deflated_in);
    put(b, "sioc_ws_deflated_bytes_out_total", "counter", "WebSocket bytes after compression",
        s->eio.ws_deflated_out);
    put(b, "sioc_ws_inflated_total", "counter", "Compressed WebSocket messages received",
        s->eio.ws_inflated);
    put(b, "sioc_volatile_dropped_total", "counter",
        "Volatile packets dropped for a client that was not writable", s->eio.volatile_dropped);
    put(b, "sioc_sessions_open", "gauge", "Open Engine.IO sessions", s->eio.sessions_open);
    put(b, "sioc_sessions_total", "counter", "Engine.IO sessions opened", s->eio.sessions_total);
    put(b, "sioc_sessions_websocket", "gauge", "Sessions on websocket", s->eio.ws_sessions_open);
    put(b, "sioc_sessions_polling", "gauge", "Sessions on long-polling",
        s->eio.polling_sessions_open);
    put(b, "sioc_upgrades_total", "counter", "Polling to websocket upgrades", s->eio.ws_upgrades);
    put(b, "sioc_packets_in_total", "counter", "Engine.IO packets received", s->eio.packets_in);
    put(b, "sioc_packets_out_total", "counter", "Engine.IO packets sent", s->eio.packets_out);
    put(b, "sioc_events_in_total", "counter", "Socket.IO events received", s->sio_events_in);
    put(b, "sioc_events_out_total", "counter", "Socket.IO events delivered", s->sio_events_out);
    put(b, "sioc_broadcasts_total", "counter", "Broadcasts", s->broadcasts);
    put(b, "sioc_sockets_open", "gauge", "Connected Socket.IO sockets", s->sockets_open);
    put(b, "sioc_sockets_total", "counter", "Socket.IO sockets connected", s->sockets_total);
    put(b, "sioc_rooms", "gauge", "Rooms with members", sio_room_count(w));
    put(b, "sioc_auth_failures_total", "counter", "Refused handshakes (auth)", s->auth_failures);
    put(b, "sioc_joins_refused_total", "counter", "Joins refused: --max-rooms-per-socket reached",
        sio_joins_refused(w));
    put(b, "sioc_handshakes_refused_total", "counter",
        "Handshakes refused: --max-pending-sessions-per-ip reached", sio_pending_refused(w));
    unsigned long long dyn[4];
    sio_dynamic_stats(w, dyn);
    put(b, "sioc_dynamic_namespaces", "gauge", "Live namespaces created from --namespace-pattern",
        dyn[0]);
    put(b, "sioc_dynamic_namespaces_created_total", "counter", "Dynamic namespaces created",
        dyn[1]);
    put(b, "sioc_dynamic_namespaces_removed_total", "counter",
        "Dynamic namespaces removed when empty", dyn[2]);
    put(b, "sioc_dynamic_namespaces_refused_total", "counter",
        "CONNECTs to a matching namespace refused (--max-dynamic-namespaces, adapter)", dyn[3]);
    put(b, "sioc_sse_clients", "gauge", "Open Server-Sent Events streams", s->sse_clients);
    put(b, "sioc_sse_streams_total", "counter", "Server-Sent Events streams opened", s->sse_total);
    put(b, "sioc_sse_events_sent_total", "counter",
        "Events written to Server-Sent Events streams (replayed included)", s->sse_events_sent);
    put(b, "sioc_sse_replayed_total", "counter",
        "Events replayed to Server-Sent Events streams from Last-Event-ID", s->sse_replayed);
    put(b, "sioc_sse_resets_total", "counter",
        "Server-Sent Events resumes that could not replay (reset event sent)", s->sse_resets);
    put(b, "sioc_sse_refused_total", "counter",
        "Server-Sent Events requests refused (bad rooms, token, method, drain)", s->sse_refused);
    const recovery_stats_t *rs = sio_recovery_stats(w);
    if (rs != NULL) {
        recovery_metrics(b, rs->results, rs->replayed);
        put(b, "sioc_recovery_log_packets", "gauge", "Packets in the recovery log",
            rs->log_packets);
        put(b, "sioc_recovery_log_bytes", "gauge", "Bytes of the recovery log", rs->log_bytes);
        put(b, "sioc_recovery_log_trimmed_total", "counter",
            "Packets dropped from the recovery log before the window ended (byte bound)",
            rs->log_trimmed_early);
        put(b, "sioc_recovery_sessions", "gauge", "Saved sessions of disconnected sockets",
            rs->sessions);
        put(b, "sioc_recovery_sessions_evicted_total", "counter",
            "Sessions dropped before the window ended (byte bound)", rs->sessions_evicted_early);
    }
    char line[256];
    (void)!buf_append_str(b,
                          "# HELP sioc_dropped_total Connections or messages dropped, by reason\n"
                          "# TYPE sioc_dropped_total counter\n");
    struct {
        const char *r;
        unsigned long long v;
    } drops[] = {
        {"slow_consumer", s->eio.drops_slow_consumer}, {"too_large", s->drops_too_large},
        {"rate_limited", s->drops_rate_limited},       {"parse_error", s->eio.drops_parse_error},
        {"ping_timeout", s->eio.drops_ping_timeout},   {"output_overflow", n->overflows}};
    for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++) {
        int k = snprintf(line, sizeof(line), "sioc_dropped_total{reason=\"%s\"} %llu\n", drops[i].r,
                         drops[i].v);
        (void)!buf_append(b, line, (size_t)k);
    }
    if (w->adapter != NULL)
        adapter_metrics(w->adapter, b);
    if (w->admin_ui != NULL)
        admin_ui_metrics(w->admin_ui, b);
    put(b, "sioc_ready", "gauge", "1 when the worker accepts and delivers",
        (unsigned long long)admin_ready(w));
}

int admin_serve(worker_t *w, sioc_iov_t path, admin_response_t *r)
{
    memset(r, 0, sizeof(*r));
    r->status = 200;
    r->content_type = "text/plain";
    if (iov_eq_str(path, "/health")) {
        (void)!buf_append_str(&r->body, "ok\n");
        return 1;
    }
    if (iov_eq_str(path, "/ready")) {
        int ok = admin_ready(w);
        r->status = ok ? 200 : 503;
        (void)!buf_append_str(&r->body, ok ? "ready\n" : "not ready\n");
        if (!ok && w->draining) {
            (void)!buf_append_str(&r->body, "draining\n");
        } else if (!ok && w->adapter != NULL) {
            char why[2048];
            adapter_not_ready_reason(w->adapter, why, sizeof(why));
            (void)!buf_append_str(&r->body, why);
        }
        return 1;
    }
    if (iov_eq_str(path, "/metrics")) {
        r->content_type = "text/plain; version=0.0.4";
        admin_metrics(w, &r->body);
        return 1;
    }
    return 0;
}
