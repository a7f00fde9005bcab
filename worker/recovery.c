/*
 * recovery.c - the packet log and the saved sessions of connection state
 * recovery (recovery.h).
 *
 * The log is a ring of entries numbered by a sequence number; an offset is
 * "<epoch><seq>" where the epoch is 8 random characters drawn per log, so an
 * offset from another process or an earlier run is never read as one of ours.
 * Sessions are in a table by pid and in a list by save time, so the oldest
 * expire first. Each entry and each session is one allocation.
 */
#include "recovery.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/hmap.h"
#include "base/list.h"
#include "base/rand.h"

#define EPOCH_LEN 8

typedef struct entry {
    unsigned long long seq;
    long long at_ms;
    size_t nsp;
    size_t bytes;
    unsigned n_rooms, n_except, n_att;
    sioc_iov_t json;
    sioc_iov_t *parts; /* rooms, then except, then attachments */
} entry_t;

typedef struct session {
    hmap_node_t node; /* by pid */
    sioc_list_t link; /* in saved order */
    long long at_ms;
    size_t nsp, bytes, n_rooms;
    char pid[RECOVERY_PID_LEN + 1];
    char sid[RECOVERY_PID_LEN + 1];
    sioc_iov_t *rooms;
} session_t;

struct recovery {
    long long window_ms;
    size_t max_bytes;
    char epoch[EPOCH_LEN + 1];
    entry_t **ring;
    size_t cap;                     /* power of two */
    unsigned long long first, next; /* seqs of the oldest entry and of the next one */
    hmap_t sessions;
    sioc_list_t saved;
    recovery_stats_t st;
};

recovery_t *recovery_new(long long window_ms, size_t max_bytes)
{
    recovery_t *r = xcalloc(1, sizeof(*r));
    r->window_ms = window_ms;
    r->max_bytes = max_bytes;
    rand_id(r->epoch, EPOCH_LEN);
    r->cap = 64;
    r->ring = xcalloc(r->cap, sizeof(*r->ring));
    r->first = r->next = 1;
    hmap_init(&r->sessions);
    list_init(&r->saved);
    return r;
}

static entry_t *entry_at(const recovery_t *r, unsigned long long seq)
{
    return r->ring[seq & (r->cap - 1)];
}

static void drop_oldest_entry(recovery_t *r)
{
    entry_t *e = entry_at(r, r->first);
    r->st.log_packets--;
    r->st.log_bytes -= e->bytes;
    free(e);
    r->first++;
}

static void session_drop(recovery_t *r, session_t *s)
{
    hmap_del(&r->sessions, &s->node);
    list_remove(&s->link);
    r->st.sessions--;
    r->st.session_bytes -= s->bytes;
    free(s);
}

void recovery_free(recovery_t *r)
{
    if (r == NULL)
        return;
    while (r->first < r->next)
        drop_oldest_entry(r);
    while (!list_empty(&r->saved))
        session_drop(r, container_of(r->saved.next, session_t, link));
    hmap_free(&r->sessions);
    free(r->ring);
    free(r);
}

void recovery_sweep(recovery_t *r, long long now_ms)
{
    long long horizon = now_ms - r->window_ms;
    while (r->first < r->next && entry_at(r, r->first)->at_ms < horizon)
        drop_oldest_entry(r);
    while (!list_empty(&r->saved)) {
        session_t *s = container_of(r->saved.next, session_t, link);
        if (s->at_ms >= horizon)
            break;
        session_drop(r, s);
    }
}

/* Copies `n` slices into `dst` (slices) and `*p` (bytes). */
static void copy_parts(sioc_iov_t *dst, const sioc_iov_t *src, size_t n, char **p)
{
    for (size_t i = 0; i < n; i++) {
        if (src[i].len > 0)
            memcpy(*p, src[i].base, src[i].len);
        dst[i] = iov_make(*p, src[i].len);
        *p += src[i].len;
    }
}

static size_t parts_len(const sioc_iov_t *v, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += v[i].len;
    return len;
}

int recovery_log(recovery_t *r, long long now_ms, size_t nsp, const sioc_iov_t *rooms,
                 size_t n_rooms, const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                 const sioc_iov_t *att, size_t n_att, sioc_iov_t *with_offset)
{
    if (json_array.len < 2 || json_array.base[0] != '[' ||
        json_array.base[json_array.len - 1] != ']')
        return -1;
    recovery_sweep(r, now_ms);
    char offset[RECOVERY_OFFSET_MAX + 1];
    int olen = snprintf(offset, sizeof(offset), "%s%llu", r->epoch, r->next);
    /* data + ",\"<offset>\"" (or "\"<offset>\"" into an empty array) */
    int empty = json_array.len == 2;
    size_t json_len = json_array.len + (size_t)olen + 2 + (empty ? 0 : 1);
    size_t n_parts = n_rooms + n_except + n_att;
    size_t bytes = sizeof(entry_t) + n_parts * sizeof(sioc_iov_t) + json_len +
                   parts_len(rooms, n_rooms) + parts_len(except, n_except) + parts_len(att, n_att);
    while (r->first < r->next && r->st.log_bytes + bytes > r->max_bytes) {
        drop_oldest_entry(r);
        r->st.log_trimmed_early++;
    }
    if (r->next - r->first == r->cap) {
        entry_t **ring = xcalloc(r->cap * 2, sizeof(*ring));
        for (unsigned long long s = r->first; s < r->next; s++)
            ring[s & (r->cap * 2 - 1)] = entry_at(r, s);
        free(r->ring);
        r->ring = ring;
        r->cap *= 2;
    }
    entry_t *e = xmalloc(bytes);
    e->seq = r->next;
    e->at_ms = now_ms;
    e->nsp = nsp;
    e->bytes = bytes;
    e->n_rooms = (unsigned)n_rooms;
    e->n_except = (unsigned)n_except;
    e->n_att = (unsigned)n_att;
    e->parts = (sioc_iov_t *)(e + 1);
    char *p = (char *)(e->parts + n_parts);
    char *json = p;
    memcpy(p, json_array.base, json_array.len - 1);
    p += json_array.len - 1;
    if (!empty)
        *p++ = ',';
    *p++ = '"';
    memcpy(p, offset, (size_t)olen);
    p += olen;
    *p++ = '"';
    *p++ = ']';
    e->json = iov_make(json, json_len);
    copy_parts(e->parts, rooms, n_rooms, &p);
    copy_parts(e->parts + n_rooms, except, n_except, &p);
    copy_parts(e->parts + n_rooms + n_except, att, n_att, &p);
    r->ring[r->next & (r->cap - 1)] = e;
    r->next++;
    r->st.log_packets++;
    r->st.log_bytes += bytes;
    *with_offset = e->json;
    return 0;
}

void recovery_save(recovery_t *r, long long now_ms, const char *pid, const char *sid, size_t nsp,
                   const sioc_iov_t *rooms, size_t n_rooms)
{
    recovery_sweep(r, now_ms);
    sioc_iov_t key = iov_make(pid, strnlen(pid, RECOVERY_PID_LEN));
    hmap_node_t *old = hmap_get(&r->sessions, key);
    if (old != NULL)
        session_drop(r, container_of(old, session_t, node));
    size_t bytes = sizeof(session_t) + n_rooms * sizeof(sioc_iov_t) + parts_len(rooms, n_rooms);
    while (!list_empty(&r->saved) && r->st.session_bytes + bytes > r->max_bytes) {
        session_drop(r, container_of(r->saved.next, session_t, link));
        r->st.sessions_evicted_early++;
    }
    session_t *s = xmalloc(bytes);
    memset(s, 0, sizeof(*s));
    memcpy(s->pid, key.base, key.len);
    snprintf(s->sid, sizeof(s->sid), "%s", sid);
    s->node.key = iov_make(s->pid, key.len);
    s->at_ms = now_ms;
    s->nsp = nsp;
    s->bytes = bytes;
    s->n_rooms = n_rooms;
    s->rooms = (sioc_iov_t *)(s + 1);
    char *p = (char *)(s->rooms + n_rooms);
    copy_parts(s->rooms, rooms, n_rooms, &p);
    hmap_put(&r->sessions, &s->node);
    list_insert_tail(&r->saved, &s->link);
    r->st.sessions++;
    r->st.session_bytes += bytes;
}

/* The session's rooms, its own id included, as a set for the replay filter. */
typedef struct {
    hmap_t map;
    hmap_node_t *nodes;
} room_set_t;

/* A set of `first` (when not empty) and `rooms`. */
static void room_set_make(room_set_t *set, sioc_iov_t first, const sioc_iov_t *rooms, size_t n)
{
    hmap_init(&set->map);
    set->nodes = xcalloc(n + 1, sizeof(*set->nodes));
    if (first.len > 0) {
        set->nodes[0].key = first;
        hmap_put(&set->map, &set->nodes[0]);
    }
    for (size_t i = 0; i < n; i++) {
        if (hmap_get(&set->map, rooms[i]) != NULL)
            continue;
        set->nodes[i + 1].key = rooms[i];
        hmap_put(&set->map, &set->nodes[i + 1]);
    }
}

static void room_set_init(room_set_t *set, const session_t *s)
{
    room_set_make(set, iov_make(s->sid, strlen(s->sid)), s->rooms, s->n_rooms);
}

static int any_in(const room_set_t *set, const sioc_iov_t *rooms, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hmap_get(&set->map, rooms[i]) != NULL)
            return 1;
    return 0;
}

/* Parses an offset of this log; returns its seq or 0. */
static unsigned long long parse_offset(const recovery_t *r, sioc_iov_t offset)
{
    if (offset.len <= EPOCH_LEN || offset.len > RECOVERY_OFFSET_MAX ||
        memcmp(offset.base, r->epoch, EPOCH_LEN) != 0)
        return 0;
    unsigned long long seq = 0;
    for (size_t i = EPOCH_LEN; i < offset.len; i++) {
        char c = offset.base[i];
        if (c < '0' || c > '9' || seq > (~0ULL - 9) / 10)
            return 0;
        seq = seq * 10 + (unsigned long long)(c - '0');
    }
    return seq;
}

/* Calls `cb` for each packet of `nsp` after `seq` that the room set receives; frees the set. */
static void replay_after(recovery_t *r, unsigned long long seq, size_t nsp, room_set_t *set,
                         recovery_packet_cb cb, void *data)
{
    for (unsigned long long q = seq + 1; q < r->next; q++) {
        const entry_t *e = entry_at(r, q);
        if (e->nsp != nsp)
            continue;
        if (e->n_rooms > 0 && !any_in(set, e->parts, e->n_rooms))
            continue;
        if (any_in(set, e->parts + e->n_rooms, e->n_except))
            continue;
        cb(e->json, e->parts + e->n_rooms + e->n_except, e->n_att, data);
        r->st.replayed++;
    }
    hmap_free(&set->map);
    free(set->nodes);
}

recovery_result_t recovery_replay(recovery_t *r, long long now_ms, size_t nsp, sioc_iov_t offset,
                                  const sioc_iov_t *rooms, size_t n_rooms,
                                  recovery_packet_cb packet_cb, void *data)
{
    recovery_sweep(r, now_ms);
    unsigned long long seq = parse_offset(r, offset);
    if (seq == 0 || seq >= r->next || seq + 1 < r->first)
        return RECOVERY_OFFSET_TRIMMED;
    room_set_t set;
    room_set_make(&set, SIOC_IOV_NULL, rooms, n_rooms);
    replay_after(r, seq, nsp, &set, packet_cb, data);
    return RECOVERY_RECOVERED;
}

recovery_result_t recovery_restore(recovery_t *r, long long now_ms, sioc_iov_t pid, size_t nsp,
                                   sioc_iov_t offset, char *sid_out, recovery_room_cb room_cb,
                                   recovery_packet_cb packet_cb, void *data)
{
    recovery_result_t res = RECOVERY_RECOVERED;
    hmap_node_t *n = hmap_get(&r->sessions, pid);
    session_t *s = n ? container_of(n, session_t, node) : NULL;
    if (s != NULL && s->at_ms + r->window_ms < now_ms) {
        session_drop(r, s);
        r->st.results[RECOVERY_EXPIRED]++;
        return RECOVERY_EXPIRED;
    }
    /* Nothing older than the window is replayed; s itself is within it. */
    recovery_sweep(r, now_ms);
    unsigned long long seq = parse_offset(r, offset);
    if (s == NULL || s->nsp != nsp)
        res = RECOVERY_UNKNOWN_PID;
    else if (seq == 0 || seq >= r->next || seq + 1 < r->first)
        res = RECOVERY_OFFSET_TRIMMED; /* or an offset this log never gave out */
    if (res == RECOVERY_RECOVERED) {
        memcpy(sid_out, s->sid, sizeof(s->sid));
        for (size_t i = 0; i < s->n_rooms; i++)
            if (!iov_eq_str(s->rooms[i], s->sid))
                room_cb(s->rooms[i], data);
        room_set_t set;
        room_set_init(&set, s);
        replay_after(r, seq, nsp, &set, packet_cb, data);
    }
    if (s != NULL)
        session_drop(r, s);
    r->st.results[res]++;
    return res;
}

const recovery_stats_t *recovery_stats(const recovery_t *r)
{
    return &r->st;
}

const char *recovery_result_name(recovery_result_t res)
{
    static const char *const names[] = {"recovered", "expired", "unknown_pid", "offset_trimmed"};
    return names[res];
}

void recovery_metrics(sioc_buf_t *b, const unsigned long long results[4],
                      unsigned long long replayed)
{
    char line[160];
    (void)!buf_append_str(b, "# HELP sioc_recovery_total Connection state recoveries, by result\n"
                             "# TYPE sioc_recovery_total counter\n");
    for (int i = RECOVERY_RECOVERED; i <= RECOVERY_OFFSET_TRIMMED; i++) {
        int k = snprintf(line, sizeof(line), "sioc_recovery_total{result=\"%s\"} %llu\n",
                         recovery_result_name((recovery_result_t)i), results[i]);
        (void)!buf_append(b, line, (size_t)k);
    }
    int k = snprintf(line, sizeof(line),
                     "# HELP sioc_recovery_replayed_total Missed packets sent by recoveries\n"
                     "# TYPE sioc_recovery_replayed_total counter\n"
                     "sioc_recovery_replayed_total %llu\n",
                     replayed);
    (void)!buf_append(b, line, (size_t)k);
}
