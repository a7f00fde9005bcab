/*
 * adapter_streams.h - the entry formats of @socket.io/redis-streams-adapter
 * 0.3.x (PROTOCOL.md §8).
 *
 * A stream entry is the fields `uid nsp type [data]` of a ClusterAdapter
 * message: `data` is JSON.stringify(message.data), or base64(msgpack) when
 * the type may carry binary and it does. These functions convert between an
 * entry and the sharded-adapter message of adapter_msg.h (same envelope,
 * same numeric types), so the worker decodes and answers both with one
 * codec. Also: the stream key of a namespace (Java-style hashCode), the
 * next entry id of an exclusive XRANGE, and the recovery session stored at
 * `sio:session:<pid>` (base64 of msgpack {sid, pid, rooms, data}).
 * Pure: no I/O.
 */
#ifndef SIOC_COMMON_ADAPTER_ADAPTER_STREAMS_H
#define SIOC_COMMON_ADAPTER_ADAPTER_STREAMS_H

#include <stddef.h>
#include <stdint.h>

#include "adapter/adapter_msg.h"
#include "base/buf.h"
#include "base/iov.h"

/** JS `hash = hash * 31 + charCodeAt(i) | 0` over the UTF-16 units of UTF-8 `s`. */
int32_t adapter_streams_hash(sioc_iov_t s);

/**
 * Appends the stream key of namespace `nsp`: `name` when `count` is 1, else
 * `name-<hash % count>` with JS `%` (the sign kept: "socket.io--1" exists).
 * Returns 0 or a negative buffer error.
 */
SIOC_WUR int adapter_streams_key(sioc_buf_t *out, sioc_iov_t name, long count, sioc_iov_t nsp);

/**
 * Appends the `data` field of the entry for message `m` to `out`, as the
 * Node adapter writes it (JSON, or base64 msgpack when binary). `scratch` is
 * reset and used. Returns 0, 1 when the type carries no data (no field), or
 * a negative error. Borrows `m`.
 */
SIOC_WUR int adapter_streams_data(adapter_msg_ctx_t *ctx, const adapter_msg_shard_t *m,
                                  sioc_buf_t *scratch, sioc_buf_t *out);

/**
 * Appends message `m` as the streams adapter publishes it on Pub/Sub (requests
 * and responses): msgpack of the whole message, always. `scratch` is reset
 * and used. Returns 0 or a negative error. Borrows `m`.
 */
SIOC_WUR int adapter_streams_pubsub_encode(adapter_msg_ctx_t *ctx, const adapter_msg_shard_t *m,
                                           sioc_buf_t *scratch, sioc_buf_t *out);

/**
 * Decodes an entry (its `type` field as text, `uid`, `nsp` and `data`, base
 * NULL when absent) into `out` as adapter_msg_shard_decode does. The message
 * is rebuilt in `scratch` (reset): slices in `out` point into it, `json`,
 * `att` or ctx storage. Returns > 0 or a negative error (SIOC_EPROTO with
 * ctx->reason for an unknown type or bad data).
 */
SIOC_WUR int adapter_streams_decode(adapter_msg_ctx_t *ctx, sioc_iov_t type, sioc_iov_t uid,
                                    sioc_iov_t nsp, sioc_iov_t data, sioc_buf_t *scratch,
                                    sioc_buf_t *json, adapter_msg_att_t *att,
                                    adapter_msg_shard_t *out);

/**
 * Writes the id following stream entry id `id` ("<ms>-<seq>" -> "<ms>-<seq+1>",
 * the start of an exclusive XRANGE) into `out` (NUL-terminated). Returns its
 * length, or -1 when `id` does not match ^[0-9]+-[0-9]+$ or does not fit.
 */
int adapter_streams_next_id(sioc_iov_t id, char *out, size_t cap);

/** A recovery session: {sid, pid, rooms, data}; data is JSON (base NULL: {}). */
typedef struct {
    sioc_iov_t sid;
    sioc_iov_t pid;
    const sioc_iov_t *rooms;
    size_t nrooms;
    sioc_iov_t data;
} adapter_streams_session_t;

/** Appends base64(msgpack(session)) as the Node adapter stores it. 0 or a negative error. */
SIOC_WUR int adapter_streams_session_encode(adapter_msg_ctx_t *ctx,
                                            const adapter_streams_session_t *s, sioc_buf_t *out);

/**
 * Decodes a stored session. Strings are copied into `scratch` (reset), rooms
 * into the caller's `rooms` array (at most `cap`, the rest dropped), data
 * as JSON into `json`. Returns 0 or SIOC_EPROTO.
 */
SIOC_WUR int adapter_streams_session_decode(adapter_msg_ctx_t *ctx, sioc_iov_t b64,
                                            sioc_buf_t *scratch, sioc_buf_t *json,
                                            sioc_iov_t *rooms, size_t cap,
                                            adapter_streams_session_t *out);

#endif
