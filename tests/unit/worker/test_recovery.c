/* Unit tests for worker/recovery: offsets appended to the logged EVENT data, the replay
 * filter (rooms, everyone, except, namespace), the window, trimmed offsets, the byte
 * bound, and that a session is taken back once. Fake time, no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recovery.h"

#define WINDOW 120000
#define T0 1000000LL

typedef struct {
    char rooms[8][64];
    int n_rooms;
    char packets[256][64];
    int n_att[256];
    int n_packets;
} got_t;

static void on_room(sioc_iov_t room, void *data)
{
    got_t *g = data;
    snprintf(g->rooms[g->n_rooms++], 64, "%.*s", (int)room.len, room.base);
}

static void on_packet(sioc_iov_t json, const sioc_iov_t *att, size_t n_att, void *data)
{
    got_t *g = data;
    (void)att;
    g->n_att[g->n_packets] = (int)n_att;
    snprintf(g->packets[g->n_packets++], 64, "%.*s", (int)json.len, json.base);
}

/* Logs `json` to rooms (comma-separated, "" = everyone) except `except`; returns the
 * offset (static buffer). */
static const char *log_to(recovery_t *r, long long now, size_t nsp, const char *room,
                          const char *except, const char *json)
{
    static char offset[64];
    sioc_iov_t rooms[1] = {iov_make(room, strlen(room))};
    sioc_iov_t ex[1] = {iov_make(except, strlen(except))};
    sioc_iov_t out;
    assert_int_equal(recovery_log(r, now, nsp, rooms, room[0] ? 1 : 0, ex, except[0] ? 1 : 0,
                                  iov_make(json, strlen(json)), NULL, 0, &out),
                     0);
    /* The offset is the last element, a JSON string. */
    const char *end = out.base + out.len - 2; /* the closing quote */
    const char *start = end - 1;
    while (*start != '"')
        start--;
    snprintf(offset, sizeof(offset), "%.*s", (int)(end - start - 1), start + 1);
    return offset;
}

static void save(recovery_t *r, long long now, const char *pid, const char *sid, const char *room)
{
    sioc_iov_t rooms[2] = {iov_make(sid, strlen(sid)), iov_make(room, strlen(room))};
    recovery_save(r, now, pid, sid, 0, rooms, room[0] ? 2 : 1);
}

static recovery_result_t restore(recovery_t *r, long long now, const char *pid, const char *offset,
                                 got_t *g, char *sid)
{
    memset(g, 0, sizeof(*g));
    return recovery_restore(r, now, iov_make(pid, strlen(pid)), 0, iov_make(offset, strlen(offset)),
                            sid, on_room, on_packet, g);
}

static void test_offset_appended(void **state)
{
    (void)state;
    recovery_t *r = recovery_new(WINDOW, 1 << 20);
    sioc_iov_t out;
    assert_int_equal(
        recovery_log(r, T0, 0, NULL, 0, NULL, 0, SIOC_LIT("[\"ev\",1]"), NULL, 0, &out), 0);
    assert_true(out.len > 10 && memcmp(out.base, "[\"ev\",1,\"", 9) == 0);
    assert_memory_equal(out.base + out.len - 2, "\"]", 2);
    assert_int_equal(recovery_log(r, T0, 0, NULL, 0, NULL, 0, SIOC_LIT("[]"), NULL, 0, &out), 0);
    assert_int_equal(out.base[1], '"');
    assert_int_equal(recovery_log(r, T0, 0, NULL, 0, NULL, 0, SIOC_LIT("{}"), NULL, 0, &out), -1);
    recovery_free(r);
}

static void test_replay_filter(void **state)
{
    (void)state;
    recovery_t *r = recovery_new(WINDOW, 1 << 20);
    const char *off = log_to(r, T0, 0, "lobby", "", "[\"m\",\"seen\"]");
    char offset[64];
    snprintf(offset, sizeof(offset), "%s", off);
    save(r, T0 + 10, "PID0000000000000000A", "SID0000000000000000A", "lobby");
    log_to(r, T0 + 20, 0, "lobby", "", "[\"m\",1]");
    log_to(r, T0 + 21, 0, "other", "", "[\"m\",2]");                /* not its room */
    log_to(r, T0 + 22, 0, "", "", "[\"m\",3]");                     /* everyone */
    log_to(r, T0 + 23, 0, "lobby", "lobby", "[\"m\",4]");           /* excluded */
    log_to(r, T0 + 24, 1, "lobby", "", "[\"m\",5]");                /* other namespace */
    log_to(r, T0 + 25, 0, "SID0000000000000000A", "", "[\"m\",6]"); /* its own id */
    got_t g;
    char sid[RECOVERY_PID_LEN + 1];
    assert_int_equal(restore(r, T0 + 30, "PID0000000000000000A", offset, &g, sid),
                     RECOVERY_RECOVERED);
    assert_string_equal(sid, "SID0000000000000000A");
    assert_int_equal(g.n_rooms, 1);
    assert_string_equal(g.rooms[0], "lobby");
    assert_int_equal(g.n_packets, 3);
    assert_true(strncmp(g.packets[0], "[\"m\",1,\"", 8) == 0);
    assert_true(strncmp(g.packets[1], "[\"m\",3,\"", 8) == 0);
    assert_true(strncmp(g.packets[2], "[\"m\",6,\"", 8) == 0);
    /* Taken once: a second restore finds nothing. */
    assert_int_equal(restore(r, T0 + 31, "PID0000000000000000A", offset, &g, sid),
                     RECOVERY_UNKNOWN_PID);
    assert_int_equal(recovery_stats(r)->results[RECOVERY_RECOVERED], 1);
    assert_int_equal(recovery_stats(r)->replayed, 3);
    recovery_free(r);
}

/* recovery_replay: no session, the given rooms; an unknown or trimmed offset replays nothing. */
static void test_replay_rooms(void **state)
{
    (void)state;
    recovery_t *r = recovery_new(WINDOW, 1 << 20);
    char first[64];
    snprintf(first, sizeof(first), "%s", log_to(r, T0, 0, "a", "", "[\"m\",1]"));
    log_to(r, T0 + 1, 0, "a", "", "[\"m\",2]");
    log_to(r, T0 + 2, 0, "c", "", "[\"m\",3]");
    log_to(r, T0 + 3, 1, "b", "", "[\"m\",4]");
    log_to(r, T0 + 4, 0, "b", "a", "[\"m\",5]");
    log_to(r, T0 + 5, 0, "", "", "[\"m\",6]");
    log_to(r, T0 + 6, 0, "b", "", "[\"m\",7]");
    sioc_iov_t rooms[2] = {SIOC_LIT("a"), SIOC_LIT("b")};
    got_t g = {0};
    assert_int_equal(
        recovery_replay(r, T0 + 7, 0, iov_make(first, strlen(first)), rooms, 2, on_packet, &g),
        RECOVERY_RECOVERED);
    assert_int_equal(g.n_packets, 3);
    assert_non_null(strstr(g.packets[0], "[\"m\",2,"));
    assert_non_null(strstr(g.packets[1], "[\"m\",6,"));
    assert_non_null(strstr(g.packets[2], "[\"m\",7,"));
    memset(&g, 0, sizeof(g));
    assert_int_equal(recovery_replay(r, T0 + 7, 0, SIOC_LIT("nope"), rooms, 2, on_packet, &g),
                     RECOVERY_OFFSET_TRIMMED);
    assert_int_equal(recovery_replay(r, T0 + WINDOW + 10, 0, iov_make(first, strlen(first)), rooms,
                                     2, on_packet, &g),
                     RECOVERY_OFFSET_TRIMMED);
    assert_int_equal(g.n_packets, 0);
    recovery_free(r);
}

static void test_window_and_trim(void **state)
{
    (void)state;
    recovery_t *r = recovery_new(WINDOW, 1 << 20);
    char offset[64];
    snprintf(offset, sizeof(offset), "%s", log_to(r, T0, 0, "a", "", "[\"m\",0]"));
    save(r, T0, "PID0000000000000000B", "SID0000000000000000B", "a");
    got_t g;
    char sid[RECOVERY_PID_LEN + 1];
    /* Past the window: expired. */
    assert_int_equal(restore(r, T0 + WINDOW + 1, "PID0000000000000000B", offset, &g, sid),
                     RECOVERY_EXPIRED);
    /* A session still in the window, but its offset's successors were swept. */
    save(r, T0 + WINDOW - 5, "PID0000000000000000C", "SID0000000000000000C", "a");
    log_to(r, T0 + 10, 0, "a", "", "[\"m\",1]");
    recovery_sweep(r, T0 + WINDOW + 20);
    assert_int_equal(restore(r, T0 + WINDOW + 20, "PID0000000000000000C", offset, &g, sid),
                     RECOVERY_OFFSET_TRIMMED);
    /* Forged and foreign offsets never replay. */
    save(r, T0 + WINDOW + 30, "PID0000000000000000D", "SID0000000000000000D", "a");
    assert_int_equal(restore(r, T0 + WINDOW + 31, "PID0000000000000000D", "zzzzzzzz1", &g, sid),
                     RECOVERY_OFFSET_TRIMMED);
    assert_int_equal(g.n_packets, 0);
    recovery_free(r);
}

static void test_byte_bound(void **state)
{
    (void)state;
    recovery_t *r = recovery_new(WINDOW, 4096);
    char offset[64];
    snprintf(offset, sizeof(offset), "%s", log_to(r, T0, 0, "a", "", "[\"m\",0]"));
    save(r, T0, "PID0000000000000000E", "SID0000000000000000E", "a");
    for (int i = 0; i < 200; i++)
        log_to(r, T0 + 1, 0, "a", "", "[\"m\",\"0123456789012345678901234567890123456789\"]");
    assert_true(recovery_stats(r)->log_bytes <= 4096);
    assert_true(recovery_stats(r)->log_trimmed_early > 0);
    got_t g;
    char sid[RECOVERY_PID_LEN + 1];
    /* The packets after its offset are no longer all there: no partial replay. */
    assert_int_equal(restore(r, T0 + 2, "PID0000000000000000E", offset, &g, sid),
                     RECOVERY_OFFSET_TRIMMED);
    assert_int_equal(g.n_packets, 0);
    recovery_free(r);
}

static void test_ring_grows_in_order(void **state)
{
    (void)state;
    recovery_t *r = recovery_new(WINDOW, 1 << 24);
    char offset[64];
    snprintf(offset, sizeof(offset), "%s", log_to(r, T0, 0, "a", "", "[0]"));
    save(r, T0, "PID0000000000000000F", "SID0000000000000000F", "a");
    char json[32];
    for (int i = 1; i <= 200; i++) {
        snprintf(json, sizeof(json), "[%d]", i);
        log_to(r, T0 + i, 0, "a", "", json);
    }
    got_t g;
    char sid[RECOVERY_PID_LEN + 1];
    assert_int_equal(restore(r, T0 + 100, "PID0000000000000000F", offset, &g, sid),
                     RECOVERY_RECOVERED);
    assert_int_equal(g.n_packets, 200);
    for (int i = 0; i < 200; i++) {
        snprintf(json, sizeof(json), "[%d,", i + 1);
        assert_true(strncmp(g.packets[i], json, strlen(json)) == 0);
    }
    recovery_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offset_appended),     cmocka_unit_test(test_replay_filter),
        cmocka_unit_test(test_window_and_trim),     cmocka_unit_test(test_byte_bound),
        cmocka_unit_test(test_ring_grows_in_order), cmocka_unit_test(test_replay_rooms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
