/*
 * recovery.h - connection state recovery in one worker: the packet log and the
 * sessions of disconnected sockets (Socket.IO 4.6+ `connectionStateRecovery`,
 * PROTOCOL.md §3), as Node's in-memory adapter keeps them.
 *
 * Every logged packet gets an offset, a string the client echoes back in
 * `40{"pid","offset"}` when it reconnects; a socket that ends for a
 * recoverable reason leaves a session {sid, pid, namespace, rooms} that a
 * reconnect within the window takes back, with every later packet of its
 * namespace whose rooms include one of its rooms (or that went to everyone)
 * and whose except-rooms include none of them.
 *
 * Pure: no event loop, no sockets; the caller passes the time (ms), so tests
 * run on fake time. Memory is bounded by the window and by `max_bytes` for
 * the log and for the sessions each (the oldest go first, counted).
 */
#ifndef SIOC_WORKER_RECOVERY_H
#define SIOC_WORKER_RECOVERY_H

#include <stddef.h>

#include "base/buf.h"
#include "base/iov.h"

typedef struct recovery recovery_t;

/** Length of an offset and of a pid (without the NUL). */
#define RECOVERY_OFFSET_MAX 31
#define RECOVERY_PID_LEN 20

/** Outcome of a restore, also the label of its counter. */
typedef enum {
    RECOVERY_RECOVERED,
    RECOVERY_EXPIRED,       /* session older than the window */
    RECOVERY_UNKNOWN_PID,   /* no session (never saved, already taken, other worker) */
    RECOVERY_OFFSET_TRIMMED /* the packets after the offset are no longer all in the log */
} recovery_result_t;

typedef struct recovery_stats {
    unsigned long long log_trimmed_early, sessions_evicted_early;
    unsigned long long results[4]; /* by recovery_result_t */
    unsigned long long replayed;   /* packets sent by restores */
    size_t log_packets, log_bytes, sessions, session_bytes;
} recovery_stats_t;

/** A log kept `window_ms`, at most `max_bytes` of packets and as much of sessions. */
recovery_t *recovery_new(long long window_ms, size_t max_bytes);
void recovery_free(recovery_t *r);

/** Logs a broadcast of namespace `nsp` (an index) to `rooms` (none: everyone) except
 * `except`. `json_array` is the EVENT's data without offset; the logged copy has the new
 * offset appended as its last element and is returned in `*with_offset` (valid until the
 * next call that changes the log). Attachments are copied. 0, or -1 when `json_array` is
 * not an array. */
int recovery_log(recovery_t *r, long long now_ms, size_t nsp, const sioc_iov_t *rooms,
                 size_t n_rooms, const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                 const sioc_iov_t *att, size_t n_att, sioc_iov_t *with_offset);

/** Saves the session of a socket that ended: `rooms` are its rooms (its own id included
 * or not: it is added). Replaces an older session with the same pid. */
void recovery_save(recovery_t *r, long long now_ms, const char *pid, const char *sid, size_t nsp,
                   const sioc_iov_t *rooms, size_t n_rooms);

/** A packet to replay: the EVENT data (offset included) and its attachments. */
typedef void (*recovery_packet_cb)(sioc_iov_t json_array, const sioc_iov_t *att, size_t n_att,
                                   void *data);
/** A room of the restored session (its own id excluded). */
typedef void (*recovery_room_cb)(sioc_iov_t room, void *data);

/** Takes the session `pid` back for namespace `nsp` from `offset`: on RECOVERY_RECOVERED
 * writes its sid (RECOVERY_PID_LEN + 1 bytes) to `sid_out`, calls `room_cb` for each room,
 * then `packet_cb` for each missed packet in order. The session is removed either way. The
 * callbacks must not call into `r`. */
recovery_result_t recovery_restore(recovery_t *r, long long now_ms, sioc_iov_t pid, size_t nsp,
                                   sioc_iov_t offset, char *sid_out, recovery_room_cb room_cb,
                                   recovery_packet_cb packet_cb, void *data);

/** Replays, without a session, the packets of namespace `nsp` after `offset` that went to
 * everyone or to one of `rooms` and except none of them (a Server-Sent Events stream
 * resuming from Last-Event-ID). RECOVERY_RECOVERED after calling `packet_cb` for each, or
 * RECOVERY_OFFSET_TRIMMED (unknown or trimmed offset: nothing called). Counts the replayed
 * packets, not a result. The callback must not call into `r`. */
recovery_result_t recovery_replay(recovery_t *r, long long now_ms, size_t nsp, sioc_iov_t offset,
                                  const sioc_iov_t *rooms, size_t n_rooms,
                                  recovery_packet_cb packet_cb, void *data);

/** Drops what is older than the window (call every few seconds). */
void recovery_sweep(recovery_t *r, long long now_ms);

const recovery_stats_t *recovery_stats(const recovery_t *r);
/** The label of a result ("recovered", "expired", "unknown_pid", "offset_trimmed"). */
const char *recovery_result_name(recovery_result_t res);

/** Appends the families every recovery backend reports (Prometheus text):
 * sioc_recovery_total{result} from `results` (by recovery_result_t) and
 * sioc_recovery_replayed_total. */
void recovery_metrics(sioc_buf_t *b, const unsigned long long results[4],
                      unsigned long long replayed);

#endif
