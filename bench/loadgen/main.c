/*
 * main.c - sioc-bench: command line, scenarios, measurements and reports.
 *
 * Phases: CONNECT (clients opened at --connect-rate, at most --max-pending
 * handshakes in flight, each from the next of --sources loopback source
 * addresses; members join their room as soon as their Socket.IO CONNECT is
 * answered) -> SETUP until every client is connected or failed and every
 * join is acknowledged -> optional SYNC (print "@ready", wait for SIGUSR1:
 * the compare script lines several bench processes up this way) -> RUN (the
 * scenario) -> FINISH (close everything, report).
 *
 * Fanout and chat publish open-loop: a 1 ms tick sends the messages that the
 * schedule says are due, round-robin over the rooms, each stamped with its
 * scheduled send time (CLOCK_MONOTONIC, shared by every process of the
 * machine), so a stalled client or server shows as latency instead of
 * silently lowering the offered load. Each message carries its room, a
 * per-room sequence number and the step number; receivers count per step,
 * record the latency, and detect duplicates and reordering with a 64-bit
 * window per member. loss = expected - received, where expected = messages
 * sent x members joined.
 *
 * Results: a live progress line on a terminal, a summary on stdout, and
 * with --json a JSON document (histograms included, mergeable across
 * processes). Exit status: 0 ok; 1 messages lost, requests failed or
 * clients dropped after setup; 2 usage; 3 setup failed (not every client
 * connected). Loop thread only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/opts.h"
#include "base/rand.h"
#include "bench.h"
#include "procstat.h"
#include "sio/jscan.h"

#define TICK_US 1000
#define PROGRESS_US 500000

enum { PH_CONNECT, PH_SYNC, PH_RUN, PH_FINISH, PH_DONE };
enum { STEP_SEND, STEP_DRAIN };

static const char *const scenario_names[] = {"idle", "echo",  "fanout",  "connect",
                                             "chat", "storm", "recovery"};
#define NSCENARIOS (sizeof(scenario_names) / sizeof(scenario_names[0]))

/* Recovery: where a member stands with its worker. */
enum { REC_LIVE, REC_WAIT, REC_TRYING, REC_RECOVERED, REC_FRESH, REC_GAVE_UP };

/* Recovery: one member's session and what it received, kept across its connections. */
typedef struct {
    char sid[32], pid[48], offset[64];
    uint32_t next_seq;          /* next sequence number expected from the room */
    uint32_t lost;              /* sequence numbers skipped */
    uint32_t dups;              /* sequence numbers received again */
    uint32_t replayed;          /* events before the CONNECT reply of the reconnection */
    uint32_t first_gap;         /* the first sequence number skipped + 1, 0 = none */
    uint32_t seq_at_drop;       /* next_seq when the connection dropped */
    uint32_t unparsed_replayed; /* replayed events not in the bench's layout or room */
    uint32_t tries;
    long long t_drop, t_retry, t_try, t_back; /* t_try: start of the latest try */
    uint8_t state;
} rec_t;

/* Run-time state of main.c that is not in bench_t. */
typedef struct {
    bench_t b;
    struct event *tick, *sigint, *sigterm, *sigusr1, *finish_timer;
    int phase;
    int go;   /* SIGUSR1 seen */
    int stop; /* SIGINT seen */
    int ready_printed;
    unsigned nstarted; /* clients created */
    unsigned nclosed;  /* clients that reported closed */
    unsigned total;    /* clients to open */
    unsigned members;  /* clients that join a room */
    long long t_run_start, t_run_end, t_phase;
    int step_state;
    long long last_progress;
    int tty;
    long long rss_base_kb[16], rss_loaded_kb[16], rss_end_kb[16];
    double cpu_run_start[16], cpu_run_end[16];
    double usr_run_start[16], usr_run_end[16]; /* the user part of cpu_run_* */
    uint64_t pings_at_start, pongs_at_start, ping_bytes_at_start;
    long long client_rss_kb;
    double client_cpu_s;
    uint64_t room_cursor;
    int stopped_early;
    const char *stop_reason;
    double best_p99_ms;       /* best p99 among the attempts at the current rate */
    long long rss_sampled_us; /* storm: last server RSS sample */
    rec_t *rec;               /* recovery: one per member */
    unsigned rec_dropped, rec_recovered, rec_fresh, rec_gave_up, rec_waiting;
    uint64_t rec_replayed;
    uint64_t rec_unparsed; /* receive-message events not in the bench's layout or room */
    hist_t rec_try_lat;    /* recovery: the successful try's connect() to its CONNECT reply */
    long long t_kill, t_first_drop, t_settled, t_checked;
} run_t;

uint64_t bench_rand(bench_t *b)
{
    uint64_t x = b->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static run_t *run_of(bench_t *b)
{
    return container_of(b, run_t, b);
}

static int is_member(const run_t *r, unsigned idx)
{
    int s = r->b.conf->scenario;
    return (s == SCN_FANOUT || s == SCN_CHAT || s == SCN_STORM || s == SCN_RECOVERY) &&
           idx < r->members;
}

/* ------------------------------------------------------------------ client reports */

static void send_join(bench_t *b, bclient_t *c)
{
    client_slot_t *s = client_slot(c);
    char args[300];
    int n = snprintf(args, sizeof(args), "\"%sr%u\"", b->conf->room_prefix, s->room);
    s->ack_pending = client_next_ack(c);
    s->joins_pending = 1;
    client_emit(c, "join-room", iov_make(args, (size_t)n), s->ack_pending);
}

/* Copies the string member `name` of the CONNECT reply `data` into out (empty if absent). */
static void connect_member(sioc_iov_t data, const char *name, char *out, size_t cap)
{
    jscan_iter_t it;
    sioc_iov_t k, v;
    out[0] = '\0';
    if (data.len == 0 || jscan_iter_init(&it, data) != 0)
        return;
    while (jscan_next(&it, &k, &v) > 0)
        if (jscan_string_eq(k, name) && jscan_token_kind(v) == JSCAN_STRING) {
            int n = jscan_string_unescape(v, out, cap - 1);
            out[n > 0 ? n : 0] = '\0';
            return;
        }
}

size_t bench_connect_extra(bench_t *b, bclient_t *c, char *out, size_t cap)
{
    run_t *r = run_of(b);
    unsigned idx = client_index(c);
    if (r->rec == NULL || idx >= r->members)
        return 0;
    const rec_t *rc = &r->rec[idx];
    if (rc->state != REC_TRYING || rc->pid[0] == '\0')
        return 0;
    /* As socket.io-client: no offset when no event ever arrived (no recovery then). */
    int n = rc->offset[0]
                ? snprintf(out, cap, "\"pid\":\"%s\",\"offset\":\"%s\"", rc->pid, rc->offset)
                : snprintf(out, cap, "\"pid\":\"%s\"", rc->pid);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

void bench_on_connected(bench_t *b, bclient_t *c, sioc_iov_t data, long long now_us)
{
    run_t *r = run_of(b);
    unsigned idx = client_index(c);
    if (r->rec != NULL && idx < r->members) {
        rec_t *rc = &r->rec[idx];
        char sid[sizeof(rc->sid)];
        connect_member(data, "sid", sid, sizeof(sid));
        if (rc->state == REC_TRYING) {
            rc->t_back = now_us;
            hist_add(&r->rec_try_lat, (uint64_t)(now_us - rc->t_try));
            r->rec_waiting--;
            if (sid[0] != '\0' && strcmp(sid, rc->sid) == 0) {
                rc->state = REC_RECOVERED;
                r->rec_recovered++;
            } else {
                rc->state = REC_FRESH; /* a new session: not checked for loss */
                r->rec_fresh++;
            }
            return;
        }
        memcpy(rc->sid, sid, sizeof(sid));
        connect_member(data, "pid", rc->pid, sizeof(rc->pid));
    }
    b->connected++;
    b->pending--;
    long long lat = now_us - client_t0_us(c);
    hist_add(&b->connect_lat, (uint64_t)(lat > 0 ? lat : 0));
    b->t_connected_us = now_us;
    if (is_member(r, client_index(c)))
        send_join(b, c);
}

void bench_on_refused(bench_t *b, bclient_t *c, sioc_iov_t data)
{
    (void)c;
    (void)data;
    b->auth_failed++;
}

/* Reads `"<key>":<digits>` followed by `sep` at *p; advances *p. */
static int fast_field(const char **p, const char *end, char key, char sep, long long *out)
{
    const char *q = *p;
    if (end - q < 5 || q[0] != '"' || q[1] != key || q[2] != '"' || q[3] != ':')
        return -1;
    q += 4;
    long long v = 0;
    const char *d = q;
    while (q < end && *q >= '0' && *q <= '9' && q - d < 18)
        v = v * 10 + (*q++ - '0');
    if (q == d || q >= end || *q != sep)
        return -1;
    *out = v;
    *p = q + 1;
    return 0;
}

/* The bench's own layout, {"r":R,"s":S,"t":T,"k":K,...} (servers keep member order:
 * sioc forwards the bytes, Node's JSON.stringify keeps insertion order). Anything
 * else takes the validating path. */
static int fast_parse(sioc_iov_t msg, long long *room, long long *seq, long long *t,
                      long long *step)
{
    const char *p = msg.base, *end = msg.base + msg.len;
    if (msg.len < 2 || *p++ != '{' || end[-1] != '}')
        return -1;
    return fast_field(&p, end, 'r', ',', room) | fast_field(&p, end, 's', ',', seq) |
           fast_field(&p, end, 't', ',', t) | fast_field(&p, end, 'k', ',', step);
}

/* With connection state recovery on, a delivery's last argument is its offset:
 * `{msg},"<offset>"`. Returns the message; *offset (when not NULL) gets the offset's
 * characters, or stays as it was when there is none. */
static sioc_iov_t strip_offset(sioc_iov_t args, sioc_iov_t *offset)
{
    if (args.len < 3 || args.base[args.len - 1] != '"')
        return args;
    const char *close = args.base + args.len - 1, *q = close - 1;
    while (q > args.base && *q != '"')
        q--;
    if (q <= args.base || q[-1] != ',')
        return args;
    if (offset != NULL)
        *offset = iov_make(q + 1, (size_t)(close - q - 1));
    return iov_make(args.base, (size_t)(q - 1 - args.base));
}

static void on_delivery(bench_t *b, bclient_t *c, sioc_iov_t args, long long now)
{
    sioc_iov_t msg = strip_offset(args, NULL);
    long long room = -1, seq = -1, t = -1, step = -1;
    if (fast_parse(msg, &room, &seq, &t, &step) != 0) {
        room = seq = t = step = -1;
        jscan_value_t jv;
        jscan_iter_t it;
        sioc_iov_t k, v;
        if (jscan_value(msg.base, msg.len, &jv) != JSCAN_OBJECT ||
            jscan_iter_init(&it, jv.tok) != 0) {
            b->msgs_rx_other++;
            return;
        }
        /* One pass over the members: r, s, t, k in any order. */
        while (jscan_next(&it, &k, &v) > 0) {
            if (k.len != 3 || k.base[0] != '"' || k.base[2] != '"')
                continue;
            long long *dst = k.base[1] == 'r'   ? &room
                             : k.base[1] == 's' ? &seq
                             : k.base[1] == 't' ? &t
                             : k.base[1] == 'k' ? &step
                                                : NULL;
            if (dst != NULL && jscan_number_ll(v, dst) != 0)
                *dst = -1;
        }
    }
    client_slot_t *s = client_slot(c);
    if (room < 0 || seq < 0 || t < 0 || step < 0 || (size_t)step >= b->nsteps ||
        (uint32_t)room != s->room) {
        b->msgs_rx_other++;
        return;
    }
    bench_step_t *st = &b->steps[step];
    uint32_t q = (uint32_t)seq;
    if (q >= s->next_seq) {
        if (q > s->next_seq)
            st->out_of_order++;
        uint32_t adv = q - s->next_seq + 1;
        s->seen = adv >= 64 ? 0 : s->seen << adv;
        s->seen |= 1; /* bit 0 = next_seq - 1 */
        s->next_seq = q + 1;
    } else {
        uint32_t back = s->next_seq - 1 - q;
        if (back < 64 && (s->seen >> back & 1)) {
            st->duplicates++;
            return;
        }
        if (back < 64)
            s->seen |= 1ULL << back;
        st->out_of_order++;
    }
    st->received++;
    st->t_last_rx_us = now;
    hist_add(&st->lat, (uint64_t)(now > t ? now - t : 0));
}

/* Recovery: a delivery `{msg},"<offset>"`. Every member must get each sequence number of its
 * room once and in order, across its reconnection. */
static void recovery_delivery(run_t *r, bclient_t *c, sioc_iov_t args, long long now)
{
    bench_t *b = &r->b;
    unsigned idx = client_index(c);
    if (idx >= r->members) {
        b->msgs_rx_other++;
        return;
    }
    rec_t *rc = &r->rec[idx];
    sioc_iov_t off = SIOC_IOV_NULL;
    sioc_iov_t msg = strip_offset(args, &off);
    if (off.base != NULL && off.len < sizeof(rc->offset)) {
        memcpy(rc->offset, off.base, off.len);
        rc->offset[off.len] = '\0';
    }
    long long room = -1, seq = -1, t = -1, step = -1;
    client_slot_t *s = client_slot(c);
    if (fast_parse(msg, &room, &seq, &t, &step) != 0 || room < 0 || seq < 0 ||
        (uint32_t)room != s->room) {
        b->msgs_rx_other++;
        r->rec_unparsed++;
        if (rc->state == REC_TRYING)
            rc->unparsed_replayed++;
        return;
    }
    if (rc->state == REC_TRYING) {
        rc->replayed++;
        r->rec_replayed++;
    }
    bench_step_t *st = &b->steps[0];
    uint32_t q = (uint32_t)seq;
    if (q < rc->next_seq) {
        rc->dups++;
        st->duplicates++;
        return;
    }
    if (q > rc->next_seq) {
        if (rc->first_gap == 0)
            rc->first_gap = rc->next_seq + 1;
        rc->lost += q - rc->next_seq;
        st->out_of_order++;
    }
    rc->next_seq = q + 1;
    st->received++;
    st->t_last_rx_us = now;
    hist_add(&st->lat, (uint64_t)(now > t ? now - t : 0));
}

void bench_on_event(bench_t *b, bclient_t *c, sioc_iov_t event, sioc_iov_t args, long long now_us)
{
    if (b->conf->scenario == SCN_RECOVERY && jscan_string_eq(event, "receive-message"))
        recovery_delivery(run_of(b), c, args, now_us);
    else if (jscan_string_eq(event, "receive-message"))
        on_delivery(b, c, args, now_us);
    else
        b->msgs_rx_other++;
}

static void echo_send(run_t *r, bclient_t *c);

void bench_on_ack(bench_t *b, bclient_t *c, unsigned long long id, sioc_iov_t args,
                  long long now_us)
{
    run_t *r = run_of(b);
    client_slot_t *s = client_slot(c);
    if (id == 0 || id != s->ack_pending) {
        b->msgs_rx_other++;
        return;
    }
    s->ack_pending = 0;
    if (s->joins_pending) {
        s->joins_pending = 0;
        /* {"ok":true} (sioc, Node peer) */
        jscan_iter_t it;
        sioc_iov_t k, v;
        int ok = 0;
        if (jscan_iter_init(&it, args) == 0)
            while (jscan_next(&it, &k, &v) > 0)
                if (jscan_string_eq(k, "ok") && iov_eq(v, SIOC_LIT("true")))
                    ok = 1;
        if (!ok) {
            b->proto_errors++;
            if (b->first_error == NULL)
                b->first_error = "join-room refused";
            return;
        }
        b->rooms[s->room].members++;
        b->joined++;
        return;
    }
    if (b->conf->scenario == SCN_ECHO) {
        long long rtt = now_us - s->sent_us;
        hist_add(&b->echo_lat, (uint64_t)(rtt > 0 ? rtt : 0));
        b->echo_done++;
        if (r->phase == PH_RUN && now_us < r->t_run_end)
            echo_send(r, c);
    }
}

/* Recovery: when a dropped member tries again, as socket.io-client's backoff does: the delay
 * doubles per try up to --reconnect-max, randomised by +-50 %. */
static void schedule_retry(run_t *r, rec_t *rc, long long now)
{
    const bench_conf_t *cf = r->b.conf;
    double d = cf->reconnect_ms * (double)(1u << (rc->tries < 16 ? rc->tries : 16));
    if (d > cf->reconnect_max_ms)
        d = cf->reconnect_max_ms;
    d *= 0.5 + (double)(bench_rand(&r->b) >> 11) / 9007199254740992.0;
    rc->t_retry = now + (long long)(d * 1e3);
    rc->state = REC_WAIT;
}

void bench_on_closed(bench_t *b, bclient_t *c, int reason, const char *why)
{
    run_t *r = run_of(b);
    (void)why;
    r->nclosed++;
    if (reason >= 0 && reason < 8)
        b->close_reasons[reason]++;
    unsigned idx = client_index(c);
    if (r->rec != NULL && idx < r->members && r->phase >= PH_FINISH &&
        r->rec[idx].state != REC_LIVE && r->rec[idx].state != REC_RECOVERED)
        return; /* a try cut short by the end of the run */
    if (r->rec != NULL && idx < r->members && r->phase == PH_RUN) {
        rec_t *rc = &r->rec[idx];
        long long now = clock_us();
        if (rc->state == REC_LIVE && client_was_ready(c)) {
            rc->t_drop = now;
            rc->seq_at_drop = rc->next_seq;
            if (r->t_first_drop == 0)
                r->t_first_drop = now;
            r->rec_dropped++;
            r->rec_waiting++;
            schedule_retry(r, rc, now);
            return;
        }
        if (rc->state == REC_TRYING) { /* this try failed: the next one after the backoff */
            schedule_retry(r, rc, now);
            return;
        }
        if (rc->state == REC_GAVE_UP)
            return;
    }
    if (!client_was_ready(c)) {
        b->failed++;
        b->pending--;
        return;
    }
    if (r->phase >= PH_FINISH)
        return;
    b->closed_unexpected++;
    client_slot_t *s = client_slot(c);
    if (s->room != UINT32_MAX && s->room < b->nrooms && !s->joins_pending &&
        b->rooms[s->room].members > 0)
        b->rooms[s->room].members--; /* no longer expected to receive */
}

/* ------------------------------------------------------------------ helpers */

/* utime + stime of each server process into `out`, utime alone into `user`. */
static void sample_cpu(const bench_conf_t *cf, double *out, double *user)
{
    for (size_t i = 0; i < cf->npids && i < 16; i++) {
        double u = -1, k = -1;
        procstat_cpu_split(cf->pids[i], &u, &k);
        out[i] = u >= 0 && k >= 0 ? u + k : -1;
        user[i] = u;
    }
}

static void sample_rss(const bench_conf_t *cf, long long *out)
{
    for (size_t i = 0; i < cf->npids && i < 16; i++)
        out[i] = procstat_rss_kb(cf->pids[i]);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void fmt_rate(char *out, size_t n, double v)
{
    if (v >= 1e6)
        snprintf(out, n, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(out, n, "%.1fk", v / 1e3);
    else
        snprintf(out, n, "%.0f", v);
}

static void progress(run_t *r, long long now, int final)
{
    bench_t *b = &r->b;
    if (!r->tty || b->conf->quiet || !b->conf->progress)
        return;
    if (!final && now - r->last_progress < PROGRESS_US)
        return;
    r->last_progress = now;
    char line[256];
    int n = snprintf(line, sizeof(line), "[%s %5.1fs] conn %u/%u fail %u",
                     scenario_names[b->conf->scenario], (double)(now - b->t0_us) / 1e6,
                     b->connected, r->total, b->failed);
    if (r->phase == PH_CONNECT && r->members > 0)
        n += snprintf(line + n, sizeof(line) - (size_t)n, " joined %u/%u", b->joined, r->members);
    if (r->phase >= PH_RUN && b->cur_step >= 0 && (size_t)b->cur_step < b->nsteps) {
        bench_step_t *st = &b->steps[b->cur_step];
        double el = (double)(now - st->t_start_us) / 1e6;
        char a[32], o[32];
        fmt_rate(a, sizeof(a), el > 0 ? (double)st->received / el : 0);
        fmt_rate(o, sizeof(o), st->offered);
        n += snprintf(line + n, sizeof(line) - (size_t)n,
                      " | rate %zu/%zu offered %s/s got %s/s p99 %.1fms lost-so-far %lld",
                      b->steps[b->cur_step].rate_index + 1, b->conf->nrates, o, a,
                      (double)hist_quantile(&st->lat, 0.99) / 1e3,
                      (long long)st->expected - (long long)st->received);
    } else if (r->phase >= PH_RUN && b->conf->scenario == SCN_ECHO) {
        double el = (double)(now - r->t_run_start) / 1e6;
        char a[32];
        fmt_rate(a, sizeof(a), el > 0 ? (double)b->echo_done / el : 0);
        n += snprintf(line + n, sizeof(line) - (size_t)n, " | %s acks/s p99 %.2fms", a,
                      (double)hist_quantile(&b->echo_lat, 0.99) / 1e3);
    } else if (r->phase >= PH_RUN && b->conf->scenario == SCN_IDLE) {
        n += snprintf(line + n, sizeof(line) - (size_t)n, " | holding, pings %llu",
                      (unsigned long long)b->pings_rx);
    }
    if (b->closed_unexpected)
        n += snprintf(line + n, sizeof(line) - (size_t)n, " dropped %u", b->closed_unexpected);
    fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
    fflush(stderr);
}

/* ------------------------------------------------------------------ scenarios */

static void echo_send(run_t *r, bclient_t *c)
{
    bench_t *b = &r->b;
    client_slot_t *s = client_slot(c);
    char args[320];
    int n;
    if (b->conf->echo_app)
        n = snprintf(args, sizeof(args), "%u", client_index(c));
    else
        n = snprintf(args, sizeof(args), "{\"roomId\":\"%se%u\",\"msg\":%u}", b->conf->room_prefix,
                     client_index(c), client_index(c));
    s->ack_pending = client_next_ack(c);
    s->sent_us = clock_us();
    if (client_emit(c, b->conf->echo_app ? "message-with-ack" : "send-message",
                    iov_make(args, (size_t)n), s->ack_pending) != 0) {
        s->ack_pending = 0;
        b->echo_errors++;
    }
}

static void start_step(run_t *r, long long now)
{
    bench_t *b = &r->b;
    bench_step_t *st = &b->steps[b->cur_step];
    st->t_start_us = now;
    sample_cpu(b->conf, st->cpu_s_start, st->usr_s_start);
    st->client_cpu_start = self_cpu_s();
    r->step_state = STEP_SEND;
}

/* The send-message arguments of one bench message: {"roomId":..., "msg":{"r","s","t","k","p"}}
 * (the receivers' fast_parse() layout), about --msg-size bytes. Returns the length. */
static int message_args(const bench_conf_t *cf, char *args, size_t n, uint32_t room, uint32_t seq,
                        long long t, int step)
{
    static const char pad[] =
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    size_t padlen = cf->msg_size > 60 ? cf->msg_size - 60 : 0;
    if (padlen > sizeof(pad) - 1)
        padlen = sizeof(pad) - 1;
    return snprintf(
        args, n,
        "{\"roomId\":\"%sr%u\",\"msg\":{\"r\":%u,\"s\":%u,\"t\":%lld,\"k\":%d,\"p\":\"%.*s\"}}",
        cf->room_prefix, room, room, seq, t, step, (int)padlen, pad);
}

/* Publishes what the schedule says is due by `now` in the current step. */
static void publish_due(run_t *r, long long now)
{
    bench_t *b = &r->b;
    const bench_conf_t *cf = b->conf;
    bench_step_t *st = &b->steps[b->cur_step];
    double msg_rate = st->offered / (double)cf->room_size;
    long long end = st->t_start_us + (long long)(cf->duration_s * 1e6);
    long long upto = now < end ? now : end;
    uint64_t due = (uint64_t)(msg_rate * (double)(upto - st->t_start_us) / 1e6);
    while (st->sent < due) {
        uint32_t room = (uint32_t)(r->room_cursor++ % b->nrooms);
        bench_room_t *rm = &b->rooms[room];
        bclient_t *c;
        if (cf->scenario == SCN_FANOUT) {
            c = b->clients[r->members + room % cf->publishers];
        } else {
            unsigned first = room * cf->room_size;
            unsigned size = r->members - first < cf->room_size ? r->members - first : cf->room_size;
            c = b->clients[first + rm->next_seq % size];
        }
        /* Stamped with the time it is queued; how far the client trails the schedule is
         * reported apart (a bench that cannot keep up must not pass for a slow server). */
        long long sched = st->t_start_us + (long long)((double)(st->sent + 1) / msg_rate * 1e6);
        long long t = now;
        if (now - sched > st->max_lag_us)
            st->max_lag_us = now - sched;
        st->sent++;
        if (c == NULL || !client_ready(c)) {
            st->publish_failed++;
            continue;
        }
        char args[600];
        int n = message_args(cf, args, sizeof(args), room, rm->next_seq, t, b->cur_step);
        if (client_emit(c, "send-message", iov_make(args, (size_t)n), 0) != 0) {
            st->publish_failed++;
            continue;
        }
        rm->next_seq++;
        st->expected += rm->members;
    }
}

/* Storm: burst `st` is due. Every process expects its count x its room members; the
 * publishing process also sends it, every message stamped with the burst's start, so a
 * delivery's latency is the time from publishing the burst to that delivery. */
static void storm_burst(run_t *r, bench_step_t *st, long long now)
{
    bench_t *b = &r->b;
    const bench_conf_t *cf = b->conf;
    bench_room_t *rm = &b->rooms[0];
    uint64_t count = (uint64_t)st->offered;
    st->t_start_us = now;
    st->t_send_end_us = now;
    st->expected = count * rm->members;
    if (!cf->publish)
        return;
    bclient_t *c = b->clients[r->members];
    for (uint64_t i = 0; i < count; i++) {
        st->sent++;
        char args[600];
        int n = message_args(cf, args, sizeof(args), 0, rm->next_seq, now, (int)(st - b->steps));
        if (c == NULL || !client_ready(c) ||
            client_emit(c, "send-message", iov_make(args, (size_t)n), 0) != 0) {
            st->publish_failed++;
            continue;
        }
        rm->next_seq++;
    }
}

static void finish(run_t *r, const char *why);

/* Recovery: the publisher sends --msg-rate messages per second, round-robin over the rooms. */
static void recovery_publish(run_t *r, long long now)
{
    bench_t *b = &r->b;
    const bench_conf_t *cf = b->conf;
    bench_step_t *st = &b->steps[0];
    long long end = r->t_run_start + (long long)(cf->duration_s * 1e6);
    long long upto = now < end ? now : end;
    uint64_t due = (uint64_t)(cf->msg_rate * (double)(upto - r->t_run_start) / 1e6);
    bclient_t *c = b->clients[r->members];
    while (st->sent < due) {
        uint32_t room = (uint32_t)(r->room_cursor++ % b->nrooms);
        bench_room_t *rm = &b->rooms[room];
        st->sent++;
        char args[600];
        int n = message_args(cf, args, sizeof(args), room, rm->next_seq, now, 0);
        if (c == NULL || !client_ready(c) ||
            client_emit(c, "send-message", iov_make(args, (size_t)n), 0) != 0) {
            st->publish_failed++;
            continue;
        }
        rm->next_seq++;
        st->expected += rm->members;
    }
}

/* Recovery: opens the tries that are due and gives up on members dropped too long ago. */
static void recovery_retries(run_t *r, long long now)
{
    bench_t *b = &r->b;
    const bench_conf_t *cf = b->conf;
    long long limit = (long long)(cf->recovery_timeout_s * 1e6);
    for (unsigned i = 0; i < r->members && r->rec_waiting > 0; i++) {
        rec_t *rc = &r->rec[i];
        if (rc->state != REC_WAIT && rc->state != REC_TRYING)
            continue;
        if (now - rc->t_drop > limit) {
            int trying = rc->state == REC_TRYING;
            rc->state = REC_GAVE_UP;
            r->rec_gave_up++;
            r->rec_waiting--;
            if (trying)
                client_close(b->clients[i]);
            continue;
        }
        if (rc->state != REC_WAIT || now < rc->t_retry)
            continue;
        const char *err = NULL;
        bclient_t *c = client_start(b, i, &err);
        if (c == NULL) {
            rc->tries++;
            schedule_retry(r, rc, now);
            continue;
        }
        client_free(b->clients[i]); /* closed and reported */
        b->clients[i] = c;
        client_slot(c)->room = i / cf->room_size;
        r->nstarted++;
        rc->tries++;
        rc->t_try = now;
        rc->state = REC_TRYING;
    }
}

/* Recovery: whether every member still followed (never dropped, or recovered) has every
 * sequence number published to its room. */
static int recovery_caught_up(run_t *r)
{
    bench_t *b = &r->b;
    for (unsigned i = 0; i < r->members; i++) {
        const rec_t *rc = &r->rec[i];
        if (rc->state != REC_LIVE && rc->state != REC_RECOVERED)
            continue;
        const client_slot_t *s = client_slot(b->clients[i]);
        if (s->room < b->nrooms && rc->next_seq < b->rooms[s->room].next_seq)
            return 0;
    }
    return 1;
}

static void recovery_tick(run_t *r, long long now)
{
    bench_t *b = &r->b;
    const bench_conf_t *cf = b->conf;
    if (cf->kill_pid > 0 && r->t_kill == 0 &&
        now >= r->t_run_start + (long long)(cf->kill_after_s * 1e6)) {
        r->t_kill = now;
        if (kill(cf->kill_pid, SIGKILL) != 0 && b->first_error == NULL)
            b->first_error = "kill of --kill-pid failed";
    }
    recovery_publish(r, now);
    if (r->rec_waiting > 0)
        recovery_retries(r, now);
    long long pub_end = r->t_run_start + (long long)(cf->duration_s * 1e6);
    int done = r->stop;
    if (now >= pub_end && r->rec_waiting == 0) {
        if (r->t_settled == 0) {
            r->t_settled = now;
            b->steps[0].t_send_end_us = pub_end;
        }
        /* everyone caught up (checked every 100 ms), or --drain after the last reconnection */
        if (now - r->t_checked >= 100000) {
            r->t_checked = now;
            done = done || recovery_caught_up(r);
        }
        done = done || now >= r->t_settled + (long long)(cf->drain_s * 1e6);
    }
    if (done) {
        sample_cpu(cf, r->cpu_run_end, r->usr_run_end);
        r->t_run_end = now;
        b->steps[0].t_end_us = now;
        finish(r, NULL);
    }
}

static void end_step(run_t *r, long long now)
{
    bench_t *b = &r->b;
    const bench_conf_t *cf = b->conf;
    bench_step_t *st = &b->steps[b->cur_step];
    st->t_end_us = now;
    sample_cpu(cf, st->cpu_s_end, st->usr_s_end);
    long long loss = (long long)st->expected - (long long)st->received;
    double p99_ms = (double)hist_quantile(&st->lat, 0.99) / 1e3;
    if (st->attempt == 0 || p99_ms < r->best_p99_ms)
        r->best_p99_ms = p99_ms;
    const char *stop = NULL;
    if (loss > 0)
        stop = "messages lost";
    else if (st->publish_failed > 0)
        stop = "publishing failed";
    else if (b->closed_unexpected > 0)
        stop = "clients dropped";
    if (!cf->quiet && !r->tty)
        fprintf(stderr, "step %d: offered %.0f/s received %llu/%llu p99 %.2f ms%s\n",
                b->cur_step + 1, st->offered, (unsigned long long)st->received,
                (unsigned long long)st->expected, p99_ms, st->attempt ? " (retry)" : "");
    /* A step over the sustainable p99 is run again (--retries): on a shared machine one
     * scheduling stall can spoil a p99. Lost messages are never retried. */
    int next_rate = 1;
    if (stop == NULL && !r->stop && p99_ms > cf->sustain_p99_ms && st->attempt < cf->retries)
        next_rate = 0;
    else if (stop == NULL && r->best_p99_ms > cf->stop_p99_ms)
        stop = "p99 above --stop-p99";
    if (stop != NULL && st->rate_index + 1 < cf->nrates) {
        r->stopped_early = 1;
        r->stop_reason = stop;
    }
    if (stop != NULL || r->stop || (next_rate && st->rate_index + 1 >= cf->nrates) ||
        (size_t)b->cur_step + 1 >= b->step_cap) {
        b->nsteps = (size_t)b->cur_step + 1;
        finish(r, stop);
        return;
    }
    bench_step_t *nx = &b->steps[b->cur_step + 1];
    nx->rate_index = next_rate ? st->rate_index + 1 : st->rate_index;
    nx->attempt = next_rate ? 0 : st->attempt + 1;
    nx->offered = cf->rates[nx->rate_index];
    b->cur_step++;
    b->nsteps = (size_t)b->cur_step + 1;
    start_step(r, now);
}

static void run_start(run_t *r, long long now)
{
    bench_t *b = &r->b;
    const bench_conf_t *cf = b->conf;
    r->phase = PH_RUN;
    r->t_run_start = now;
    r->client_rss_kb = procstat_rss_kb(getpid());
    switch (cf->scenario) {
    case SCN_IDLE:
        r->t_run_end = now + (long long)((cf->settle_s + cf->duration_s) * 1e6);
        r->t_phase = now + (long long)(cf->settle_s * 1e6);
        r->step_state = -1; /* not sampled yet */
        break;
    case SCN_ECHO:
        r->t_run_end = now + (long long)(cf->duration_s * 1e6);
        sample_cpu(cf, r->cpu_run_start, r->usr_run_start);
        for (unsigned i = 0; i < r->total; i++)
            if (b->clients[i] != NULL && client_ready(b->clients[i]))
                echo_send(r, b->clients[i]);
        break;
    case SCN_FANOUT:
    case SCN_CHAT:
        b->cur_step = 0;
        start_step(r, now);
        break;
    case SCN_RECOVERY:
        b->cur_step = 0;
        start_step(r, now);
        sample_cpu(cf, r->cpu_run_start, r->usr_run_start);
        break;
    case SCN_STORM:
        r->step_state = 0; /* next burst */
        r->t_phase = now + (long long)(cf->settle_s * 1e6);
        sample_rss(cf, r->rss_loaded_kb);
        memcpy(r->rss_end_kb, r->rss_loaded_kb, sizeof(r->rss_end_kb));
        sample_cpu(cf, r->cpu_run_start, r->usr_run_start);
        break;
    default:
        /* connect: CPU was sampled before the first connection */
        r->t_run_end = now;
        break;
    }
}

static void run_tick(run_t *r, long long now)
{
    bench_t *b = &r->b;
    const bench_conf_t *cf = b->conf;
    switch (cf->scenario) {
    case SCN_IDLE:
        if (r->step_state == -1 && now >= r->t_phase) {
            sample_rss(cf, r->rss_loaded_kb);
            sample_cpu(cf, r->cpu_run_start, r->usr_run_start);
            r->pings_at_start = b->pings_rx;
            r->pongs_at_start = b->pongs_tx;
            r->ping_bytes_at_start = b->ping_bytes;
            r->client_rss_kb = procstat_rss_kb(getpid());
            r->step_state = 0;
        }
        if (now >= r->t_run_end || r->stop) {
            sample_rss(cf, r->rss_end_kb);
            sample_cpu(cf, r->cpu_run_end, r->usr_run_end);
            r->t_run_end = now;
            finish(r, NULL);
        }
        break;
    case SCN_ECHO: {
        int inflight = 0;
        if (now >= r->t_run_end)
            for (unsigned i = 0; i < r->total && !inflight; i++)
                if (b->clients[i] != NULL && client_ready(b->clients[i]) &&
                    client_slot(b->clients[i])->ack_pending)
                    inflight = 1;
        if ((now >= r->t_run_end &&
             (!inflight || now >= r->t_run_end + (long long)(cf->drain_s * 1e6))) ||
            r->stop) {
            sample_cpu(cf, r->cpu_run_end, r->usr_run_end);
            finish(r, NULL);
        }
        break;
    }
    case SCN_FANOUT:
    case SCN_CHAT: {
        bench_step_t *st = &b->steps[b->cur_step];
        long long end = st->t_start_us + (long long)(cf->duration_s * 1e6);
        if (r->step_state == STEP_SEND) {
            publish_due(r, now);
            if (now >= end || r->stop) {
                r->step_state = STEP_DRAIN;
                st->client_cpu_end = self_cpu_s();
                st->t_send_end_us = now;
            }
        }
        if (r->step_state == STEP_DRAIN && (st->received >= st->expected ||
                                            now >= end + (long long)(cf->drain_s * 1e6) || r->stop))
            end_step(r, now);
        break;
    }
    case SCN_RECOVERY:
        recovery_tick(r, now);
        break;
    case SCN_STORM: {
        long long gap = (long long)(cf->duration_s * 1e6);
        while ((size_t)r->step_state < b->nsteps && now >= r->t_phase + r->step_state * gap)
            storm_burst(r, &b->steps[r->step_state++], now);
        /* Server RSS at its highest while the bursts go out and arrive (sampled by the
         * publishing process only, every 10 ms: one reader of /proc per storm is enough). */
        if (cf->publish && now - r->rss_sampled_us >= 10000) {
            long long rss[16];
            r->rss_sampled_us = now;
            sample_rss(cf, rss);
            for (size_t i = 0; i < cf->npids && i < 16; i++)
                if (rss[i] > r->rss_end_kb[i])
                    r->rss_end_kb[i] = rss[i];
        }
        /* Every process runs to the same end, so none closes its clients while another's
         * are still receiving. */
        long long last = r->t_phase + (long long)(b->nsteps - 1) * gap;
        if (now >= last + (long long)(cf->drain_s * 1e6) || r->stop) {
            sample_cpu(cf, r->cpu_run_end, r->usr_run_end);
            r->t_run_end = now;
            finish(r, NULL);
        }
        break;
    }
    default:
        sample_cpu(cf, r->cpu_run_end, r->usr_run_end);
        finish(r, NULL);
        break;
    }
}

/* ------------------------------------------------------------------ phases */

static void open_clients(run_t *r, long long now)
{
    bench_t *b = &r->b;
    const bench_conf_t *cf = b->conf;
    unsigned want = r->total;
    if (cf->connect_rate > 0) {
        double due = cf->connect_rate * (double)(now - b->t0_us) / 1e6 + 1;
        if (due < (double)want)
            want = (unsigned)due;
    }
    while (b->opened < want && b->pending < cf->max_pending) {
        const char *err = NULL;
        unsigned idx = b->opened++;
        bclient_t *c = client_start(b, idx, &err);
        if (c == NULL) {
            b->failed++;
            if (b->first_error == NULL)
                b->first_error = err;
            if (strstr(err, "too many open files") != NULL || strstr(err, "no free local port")) {
                /* Out of descriptors or ports: stop opening, keep what we have. */
                r->total = b->opened;
            }
            continue;
        }
        b->clients[idx] = c;
        /* Members come first, so room k holds clients k*K .. k*K+K-1. */
        if (is_member(r, idx))
            client_slot(c)->room = idx / cf->room_size;
        b->pending++;
        r->nstarted++;
    }
}

static int setup_done(run_t *r)
{
    bench_t *b = &r->b;
    if (b->opened < r->total || b->pending > 0)
        return 0;
    unsigned members_ready = 0;
    for (unsigned i = 0; i < r->members; i++)
        if (b->clients[i] != NULL && client_ready(b->clients[i]))
            members_ready++;
    return b->joined >= members_ready;
}

static void finish(run_t *r, const char *why)
{
    bench_t *b = &r->b;
    if (r->phase >= PH_FINISH)
        return;
    if (why != NULL && r->stop_reason == NULL && r->stopped_early)
        r->stop_reason = why;
    r->client_cpu_s = self_cpu_s();
    long long rss = procstat_rss_kb(getpid());
    if (rss > r->client_rss_kb)
        r->client_rss_kb = rss;
    r->phase = PH_FINISH;
    progress(r, clock_us(), 1);
    for (unsigned i = 0; i < b->opened; i++)
        if (b->clients[i] != NULL)
            client_close(b->clients[i]);
    struct timeval tv = {3, 0};
    event_add(r->finish_timer, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_t *r = arg;
    bench_t *b = &r->b;
    const bench_conf_t *cf = b->conf;
    long long now = clock_us();
    switch (r->phase) {
    case PH_CONNECT:
        if (r->stop) {
            finish(r, "interrupted");
            break;
        }
        open_clients(r, now);
        if (setup_done(r)) {
            r->phase = PH_SYNC;
            r->t_phase = now;
        } else if (now - b->t0_us > (long long)(cf->connect_timeout_s * 1e6)) {
            if (b->first_error == NULL)
                b->first_error = "connect timeout";
            /* Give up on what is still pending and go on with the rest. */
            for (unsigned i = 0; i < b->opened; i++)
                if (b->clients[i] != NULL && !client_ready(b->clients[i]))
                    client_close(b->clients[i]);
            r->total = b->opened;
            r->phase = PH_SYNC;
        }
        break;
    case PH_SYNC:
        if (b->pending > 0)
            break; /* timed-out clients still closing */
        if (cf->sync && !r->go) {
            if (!r->ready_printed) {
                printf("@ready connected=%u failed=%u\n", b->connected, b->failed);
                fflush(stdout);
                r->ready_printed = 1;
            }
            if (r->stop)
                finish(r, "interrupted");
            break;
        }
        run_start(r, now);
        break;
    case PH_RUN:
        run_tick(r, now);
        break;
    case PH_FINISH:
        if (r->nclosed >= r->nstarted) {
            r->phase = PH_DONE;
            net_loop_break(b->loop);
        }
        break;
    default:
        break;
    }
    progress(r, now, 0);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    run_t *r = arg;
    if (sig == SIGUSR1) {
        r->go = 1;
        return;
    }
    if (r->stop) {
        /* second interrupt: give up on the orderly close */
        r->phase = PH_DONE;
        net_loop_break(r->b.loop);
        return;
    }
    r->stop = 1;
}

static void on_finish_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_t *r = arg;
    r->phase = PH_DONE;
    net_loop_break(r->b.loop);
}

/* ------------------------------------------------------------------ report */

static json_t *servers_json(run_t *r, double *cpu_total)
{
    const bench_conf_t *cf = r->b.conf;
    json_t *a = json_array();
    *cpu_total = 0;
    for (size_t i = 0; i < cf->npids && i < 16; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "pid", json_integer(cf->pids[i]));
        json_object_set_new(o, "rss_base_kb", json_integer(r->rss_base_kb[i]));
        if (cf->scenario == SCN_IDLE || cf->scenario == SCN_STORM) {
            json_object_set_new(o, "rss_loaded_kb", json_integer(r->rss_loaded_kb[i]));
            json_object_set_new(o, "rss_end_kb", json_integer(r->rss_end_kb[i]));
        }
        double cpu = r->cpu_run_end[i] - r->cpu_run_start[i];
        if (r->cpu_run_end[i] < 0 || r->cpu_run_start[i] < 0) {
            json_object_set_new(o, "cpu_s", json_null()); /* gone (recovery: the killed one) */
        } else if (cf->scenario != SCN_FANOUT && cf->scenario != SCN_CHAT) {
            double usr = r->usr_run_end[i] - r->usr_run_start[i];
            json_object_set_new(o, "cpu_s", json_real(cpu));
            json_object_set_new(o, "user_s", json_real(usr));
            json_object_set_new(o, "sys_s", json_real(cpu - usr));
            *cpu_total += cpu;
        }
        json_array_append_new(a, o);
    }
    return a;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* Recovery: what happened to the members dropped by the kill, and the loss check of every
 * member still followed. Times are CLOCK_MONOTONIC microseconds, as the driver's clock. */
static json_t *recovery_json(run_t *r, double cpu_total, int *ok)
{
    bench_t *b = &r->b;
    const bench_step_t *st = &b->steps[0];
    long long ref = r->t_kill ? r->t_kill : r->t_first_drop;
    long long *back = xcalloc(r->members + 1, sizeof(*back));
    size_t nback = 0;
    uint64_t expected = 0, received = 0, lost = 0, dups = 0, tries = 0;
    unsigned checked = 0;
    json_t *at = json_array(), *bad = json_array();
    for (unsigned i = 0; i < r->members; i++) {
        const rec_t *rc = &r->rec[i];
        tries += rc->tries;
        if (rc->state == REC_RECOVERED) {
            back[nback++] = rc->t_back - ref;
            json_array_append_new(at, json_integer(rc->t_back));
        }
        if (rc->state != REC_LIVE && rc->state != REC_RECOVERED)
            continue;
        uint32_t room = i / b->conf->room_size;
        uint32_t want = room < b->nrooms ? b->rooms[room].next_seq : 0;
        checked++;
        expected += want;
        received += rc->next_seq - rc->lost;
        uint32_t tail = want > rc->next_seq ? want - rc->next_seq : 0;
        lost += rc->lost + tail;
        dups += rc->dups;
        if ((rc->lost || tail || rc->dups) && json_array_size(bad) < 20) {
            json_t *x = json_object();
            json_object_set_new(x, "client", json_integer(i));
            json_object_set_new(x, "dropped", json_boolean(rc->state == REC_RECOVERED));
            json_object_set_new(x, "gaps", json_integer(rc->lost));
            json_object_set_new(x, "first_gap", json_integer(rc->first_gap));
            json_object_set_new(x, "missing_at_end", json_integer(tail));
            json_object_set_new(x, "duplicates", json_integer(rc->dups));
            json_object_set_new(x, "replayed", json_integer(rc->replayed));
            json_object_set_new(x, "received_before_drop", json_integer(rc->seq_at_drop));
            json_object_set_new(x, "unparsed_replayed", json_integer(rc->unparsed_replayed));
            json_array_append_new(bad, x);
        }
    }
    qsort(back, nback, sizeof(*back), cmp_ll);
    json_t *o = json_object();
    json_object_set_new(o, "members", json_integer(r->members));
    json_object_set_new(o, "rooms", json_integer(b->nrooms));
    json_object_set_new(o, "dropped", json_integer(r->rec_dropped));
    json_object_set_new(o, "recovered", json_integer(r->rec_recovered));
    json_object_set_new(o, "not_recovered", json_integer(r->rec_fresh));
    json_object_set_new(o, "gave_up", json_integer(r->rec_gave_up + r->rec_waiting));
    json_object_set_new(o, "replayed", json_integer((json_int_t)r->rec_replayed));
    json_object_set_new(o, "unparsed", json_integer((json_int_t)r->rec_unparsed));
    json_object_set_new(o, "kill_at_us", r->t_kill ? json_integer(r->t_kill) : json_null());
    json_object_set_new(o, "first_drop_at_us",
                        r->t_first_drop ? json_integer(r->t_first_drop) : json_null());
    json_object_set_new(o, "recovered_at_us", at);
    json_object_set_new(o, "time_from", json_string(r->t_kill ? "kill" : "first drop"));
    json_object_set_new(o, "first_ms", nback ? json_real((double)back[0] / 1e3) : json_null());
    json_object_set_new(o, "median_ms",
                        nback ? json_real((double)back[nback / 2] / 1e3) : json_null());
    json_object_set_new(o, "last_ms",
                        nback ? json_real((double)back[nback - 1] / 1e3) : json_null());
    json_object_set_new(o, "tries", json_integer((json_int_t)tries));
    json_object_set_new(o, "try_latency_us", hist_json(&r->rec_try_lat));
    json_object_set_new(o, "published", json_integer((json_int_t)st->sent));
    json_object_set_new(o, "publish_failed", json_integer((json_int_t)st->publish_failed));
    json_object_set_new(o, "rate_per_s", json_real(b->conf->msg_rate));
    json_object_set_new(o, "checked_members", json_integer(checked));
    json_object_set_new(o, "expected", json_integer((json_int_t)expected));
    json_object_set_new(o, "received", json_integer((json_int_t)received));
    json_object_set_new(o, "loss", json_integer((json_int_t)lost));
    json_object_set_new(o, "duplicates", json_integer((json_int_t)dups));
    json_object_set_new(o, "latency_us", hist_json(&st->lat));
    json_object_set_new(o, "lossy_members", bad); /* the first 20 */
    json_object_set_new(o, "server_cpu_s", json_real(cpu_total));
    free(back);
    if (r->rec_recovered != r->rec_dropped || lost > 0 || dups > 0 || st->publish_failed > 0)
        *ok = 0;
    return o;
}

static json_t *report_json(run_t *r, int *ok)
{
    bench_t *b = &r->b;
    const bench_conf_t *cf = b->conf;
    json_t *o = json_object();
    json_object_set_new(o, "tool", json_string("sioc-bench"));
    json_object_set_new(o, "scenario", json_string(scenario_names[cf->scenario]));
    if (cf->label)
        json_object_set_new(o, "label", json_string(cf->label));
    json_object_set_new(o, "transport",
                        json_string(cf->transport == TR_WEBSOCKET ? "websocket" : "polling"));
    json_t *tg = json_array();
    for (size_t i = 0; i < cf->ntargets; i++)
        json_array_append_new(tg, json_string(cf->targets[i].hostport));
    json_object_set_new(o, "targets", tg);
    json_object_set_new(o, "path", json_string(cf->path));
    json_object_set_new(o, "unix_time", json_integer(clock_unix()));

    json_t *p = json_object();
    json_object_set_new(p, "conns", json_integer(cf->conns));
    json_object_set_new(p, "connect_rate", json_real(cf->connect_rate));
    json_object_set_new(p, "max_pending", json_integer(cf->max_pending));
    json_object_set_new(p, "sources", json_integer(cf->sources));
    json_object_set_new(p, "duration_s", json_real(cf->duration_s));
    json_object_set_new(p, "msg_size", json_integer(cf->msg_size));
    json_object_set_new(p, "room_size", json_integer(cf->room_size));
    json_object_set_new(p, "publishers", json_integer(cf->publishers));
    json_object_set_new(p, "auth",
                        json_string(cf->token    ? "token"
                                    : cf->secret ? "minted"
                                                 : "none"));
    json_object_set_new(o, "params", p);

    double conn_el = (double)(b->t_connected_us - b->t0_us) / 1e6;
    json_t *c = json_object();
    json_object_set_new(c, "attempted", json_integer(b->opened));
    json_object_set_new(c, "connected", json_integer(b->connected));
    json_object_set_new(c, "failed", json_integer(b->failed));
    json_object_set_new(c, "auth_failed", json_integer(b->auth_failed));
    json_object_set_new(c, "elapsed_s", json_real(conn_el > 0 ? conn_el : 0));
    json_object_set_new(c, "rate_per_s",
                        json_real(conn_el > 0 ? (double)b->connected / conn_el : 0));
    json_object_set_new(c, "latency_us", hist_json(&b->connect_lat));
    json_object_set_new(o, "connect", c);

    json_t *e = json_object();
    json_object_set_new(e, "first", b->first_error ? json_string(b->first_error) : json_null());
    json_object_set_new(e, "protocol", json_integer((json_int_t)b->proto_errors));
    json_object_set_new(e, "dropped_after_ready", json_integer(b->closed_unexpected));
    json_object_set_new(e, "unexpected_messages", json_integer((json_int_t)b->msgs_rx_other));
    json_object_set_new(o, "errors", e);

    json_t *cl = json_object();
    json_object_set_new(cl, "cpu_s", json_real(r->client_cpu_s));
    json_object_set_new(cl, "rss_kb", json_integer(r->client_rss_kb));
    json_object_set_new(o, "client", cl);

    double cpu_total = 0;
    json_object_set_new(o, "servers", servers_json(r, &cpu_total));

    *ok = b->connected > 0 && b->closed_unexpected == 0;
    if (cf->scenario == SCN_IDLE) {
        json_t *i = json_object();
        double hold = (double)(r->t_run_end - r->t_run_start) / 1e6 - cf->settle_s;
        json_object_set_new(i, "hold_s", json_real(hold));
        json_object_set_new(i, "held", json_integer(b->connected - b->closed_unexpected));
        json_object_set_new(i, "pings",
                            json_integer((json_int_t)(b->pings_rx - r->pings_at_start)));
        json_object_set_new(i, "pongs",
                            json_integer((json_int_t)(b->pongs_tx - r->pongs_at_start)));
        json_object_set_new(i, "ping_bytes",
                            json_integer((json_int_t)(b->ping_bytes - r->ping_bytes_at_start)));
        json_object_set_new(i, "server_cpu_s", json_real(cpu_total));
        json_t *per = json_array();
        for (size_t k = 0; k < cf->npids && k < 16; k++) {
            double d = (double)(r->rss_loaded_kb[k] - r->rss_base_kb[k]) * 1024.0;
            json_array_append_new(per, json_real(b->connected ? d / b->connected : 0));
        }
        json_object_set_new(i, "rss_per_conn_bytes", per);
        json_object_set_new(o, "idle", i);
    } else if (cf->scenario == SCN_ECHO) {
        json_t *i = json_object();
        double el = (double)(r->t_run_end - r->t_run_start) / 1e6;
        json_object_set_new(i, "requests", json_integer((json_int_t)b->echo_done));
        json_object_set_new(i, "errors", json_integer((json_int_t)b->echo_errors));
        json_object_set_new(i, "rate_per_s", json_real(el > 0 ? (double)b->echo_done / el : 0));
        json_object_set_new(i, "server_cpu_s", json_real(cpu_total));
        json_object_set_new(i, "latency_us", hist_json(&b->echo_lat));
        json_object_set_new(o, "echo", i);
        if (b->echo_errors)
            *ok = 0;
    } else if (cf->scenario == SCN_FANOUT || cf->scenario == SCN_CHAT ||
               cf->scenario == SCN_STORM) {
        json_t *f = json_object();
        json_object_set_new(f, "room_size", json_integer(cf->room_size));
        json_object_set_new(f, "rooms", json_integer(b->nrooms));
        json_object_set_new(f, "members", json_integer(r->members));
        json_object_set_new(f, "joined", json_integer(b->joined));
        json_object_set_new(f, "publishers",
                            json_integer(cf->scenario == SCN_CHAT ? r->members : cf->publishers));
        json_t *steps = json_array();
        uint64_t te = 0, tr = 0, td = 0, to = 0;
        hist_t *all = xcalloc(1, sizeof(*all));
        hist_reset(all);
        for (size_t k = 0; k < b->nsteps; k++) {
            bench_step_t *st = &b->steps[k];
            if (st->t_start_us == 0)
                break;
            json_t *s = json_object();
            /* from the first send to the last delivery, at least the sending window */
            double win = (double)(st->t_last_rx_us - st->t_start_us) / 1e6;
            double send_win = st->t_send_end_us ? (double)(st->t_send_end_us - st->t_start_us) / 1e6
                                                : cf->duration_s;
            if (win < send_win)
                win = send_win;
            if (win <= 0)
                win = 1e-6;
            json_object_set_new(s, "offered_per_s", json_real(st->offered));
            json_object_set_new(s, "attempt", json_integer((json_int_t)st->attempt));
            json_object_set_new(s, "duration_s", json_real(cf->duration_s));
            json_object_set_new(s, "sent", json_integer((json_int_t)st->sent));
            json_object_set_new(s, "publish_failed", json_integer((json_int_t)st->publish_failed));
            json_object_set_new(s, "expected", json_integer((json_int_t)st->expected));
            json_object_set_new(s, "received", json_integer((json_int_t)st->received));
            json_object_set_new(s, "loss",
                                json_integer((json_int_t)st->expected - (json_int_t)st->received));
            json_object_set_new(s, "duplicates", json_integer((json_int_t)st->duplicates));
            json_object_set_new(s, "out_of_order", json_integer((json_int_t)st->out_of_order));
            json_object_set_new(s, "deliveries_per_s", json_real((double)st->received / win));
            json_object_set_new(s, "max_schedule_lag_us", json_integer(st->max_lag_us));
            double cpu = 0;
            json_t *sc = json_array(), *su = json_array(), *sk = json_array();
            for (size_t i = 0; i < cf->npids && i < 16; i++) {
                double d = st->cpu_s_end[i] - st->cpu_s_start[i];
                double u = st->usr_s_end[i] - st->usr_s_start[i];
                json_array_append_new(sc, json_real(d));
                json_array_append_new(su, json_real(u));
                json_array_append_new(sk, json_real(d - u));
                cpu += d;
            }
            json_object_set_new(s, "server_cpu_s", sc);
            json_object_set_new(s, "server_user_s", su); /* utime, per --pid */
            json_object_set_new(s, "server_sys_s", sk);  /* stime, per --pid */
            double wall = (double)(st->t_send_end_us - st->t_start_us) / 1e6;
            json_object_set_new(
                s, "client_cpu_share",
                json_real(wall > 0 ? (st->client_cpu_end - st->client_cpu_start) / wall : 0));
            json_object_set_new(s, "server_cpu_us_per_delivery",
                                json_real(st->received ? cpu * 1e6 / (double)st->received : 0));
            json_object_set_new(s, "latency_us", hist_json(&st->lat));
            json_array_append_new(steps, s);
            te += st->expected;
            tr += st->received;
            td += st->duplicates;
            to += st->out_of_order;
            hist_merge(all, &st->lat);
        }
        json_object_set_new(f, "steps", steps);
        json_t *t = json_object();
        json_object_set_new(t, "expected", json_integer((json_int_t)te));
        json_object_set_new(t, "received", json_integer((json_int_t)tr));
        json_object_set_new(t, "loss", json_integer((json_int_t)te - (json_int_t)tr));
        json_object_set_new(t, "duplicates", json_integer((json_int_t)td));
        json_object_set_new(t, "out_of_order", json_integer((json_int_t)to));
        json_object_set_new(t, "latency_us", hist_json(all));
        json_object_set_new(f, "total", t);
        json_object_set_new(f, "stopped_early", json_boolean(r->stopped_early));
        json_object_set_new(f, "stop_reason",
                            r->stop_reason ? json_string(r->stop_reason) : json_null());
        json_object_set_new(o, scenario_names[cf->scenario], f);
        free(all);
        if (te != tr || td > 0)
            *ok = 0;
    }
    if (cf->scenario == SCN_RECOVERY)
        json_object_set_new(o, "recovery", recovery_json(r, cpu_total, ok));
    if (b->connected < b->opened || b->opened < cf->conns + cf->publishers)
        json_object_set_new(o, "setup_complete", json_false());
    else
        json_object_set_new(o, "setup_complete", json_true());
    json_object_set_new(o, "ok", json_boolean(*ok));
    return o;
}

static void print_hist_line(const char *name, json_t *h)
{
    printf("  %-22s p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms  (n=%lld)\n", name,
           (double)json_integer_value(json_object_get(h, "p50")) / 1e3,
           (double)json_integer_value(json_object_get(h, "p90")) / 1e3,
           (double)json_integer_value(json_object_get(h, "p99")) / 1e3,
           (double)json_integer_value(json_object_get(h, "p999")) / 1e3,
           (double)json_integer_value(json_object_get(h, "max")) / 1e3,
           (long long)json_integer_value(json_object_get(h, "count")));
}

static void print_summary(json_t *o)
{
    json_t *c = json_object_get(o, "connect");
    printf("sioc-bench %s: %lld/%lld connected (%lld failed, %lld auth refused) in %.2f s = %.0f "
           "conn/s\n",
           json_string_value(json_object_get(o, "scenario")),
           (long long)json_integer_value(json_object_get(c, "connected")),
           (long long)json_integer_value(json_object_get(c, "attempted")),
           (long long)json_integer_value(json_object_get(c, "failed")),
           (long long)json_integer_value(json_object_get(c, "auth_failed")),
           json_real_value(json_object_get(c, "elapsed_s")),
           json_real_value(json_object_get(c, "rate_per_s")));
    print_hist_line("handshake latency", json_object_get(c, "latency_us"));
    json_t *e = json_object_get(o, "errors");
    if (json_is_string(json_object_get(e, "first")))
        printf("  first error: %s\n", json_string_value(json_object_get(e, "first")));
    if (json_integer_value(json_object_get(e, "dropped_after_ready")))
        printf("  clients dropped after setup: %lld\n",
               (long long)json_integer_value(json_object_get(e, "dropped_after_ready")));
    json_t *x;
    if ((x = json_object_get(o, "idle")) != NULL) {
        printf("  held %lld connections for %.1f s; pings %lld (%lld bytes)\n",
               (long long)json_integer_value(json_object_get(x, "held")),
               json_real_value(json_object_get(x, "hold_s")),
               (long long)json_integer_value(json_object_get(x, "pings")),
               (long long)json_integer_value(json_object_get(x, "ping_bytes")));
        json_t *per = json_object_get(x, "rss_per_conn_bytes");
        json_t *srv = json_object_get(o, "servers");
        for (size_t i = 0; i < json_array_size(per); i++)
            printf("  pid %lld: RSS %lld -> %lld KiB = %.0f bytes per connection\n",
                   (long long)json_integer_value(json_object_get(json_array_get(srv, i), "pid")),
                   (long long)json_integer_value(
                       json_object_get(json_array_get(srv, i), "rss_base_kb")),
                   (long long)json_integer_value(
                       json_object_get(json_array_get(srv, i), "rss_loaded_kb")),
                   json_real_value(json_array_get(per, i)));
    }
    if ((x = json_object_get(o, "echo")) != NULL) {
        printf("  %lld round trips (%lld errors), %.0f/s\n",
               (long long)json_integer_value(json_object_get(x, "requests")),
               (long long)json_integer_value(json_object_get(x, "errors")),
               json_real_value(json_object_get(x, "rate_per_s")));
        print_hist_line("round trip", json_object_get(x, "latency_us"));
    }
    if ((x = json_object_get(o, "storm")) != NULL) {
        json_t *steps = json_object_get(x, "steps");
        printf("  one room of %lld members here%s\n",
               (long long)json_integer_value(json_object_get(x, "joined")),
               json_integer_value(json_object_get(x, "publishers")) ? ", publishing" : "");
        for (size_t i = 0; i < json_array_size(steps); i++) {
            json_t *s = json_array_get(steps, i);
            json_t *h = json_object_get(s, "latency_us");
            printf("  burst %zu: %.0f message(s), received %lld/%lld, loss %lld, dup %lld; "
                   "first %.2f, median %.2f, last %.2f ms after publishing\n",
                   i + 1, json_real_value(json_object_get(s, "offered_per_s")),
                   (long long)json_integer_value(json_object_get(s, "received")),
                   (long long)json_integer_value(json_object_get(s, "expected")),
                   (long long)json_integer_value(json_object_get(s, "loss")),
                   (long long)json_integer_value(json_object_get(s, "duplicates")),
                   (double)json_integer_value(json_object_get(h, "min")) / 1e3,
                   (double)json_integer_value(json_object_get(h, "p50")) / 1e3,
                   (double)json_integer_value(json_object_get(h, "max")) / 1e3);
        }
        json_t *srv = json_object_get(o, "servers");
        if (!json_integer_value(json_object_get(x, "publishers")))
            srv = NULL; /* only the publishing process samples the peak */
        for (size_t i = 0; i < json_array_size(srv); i++) {
            json_t *v = json_array_get(srv, i);
            printf("  pid %lld: RSS %lld KiB before, %lld KiB at the highest (+%lld KiB)\n",
                   (long long)json_integer_value(json_object_get(v, "pid")),
                   (long long)json_integer_value(json_object_get(v, "rss_loaded_kb")),
                   (long long)json_integer_value(json_object_get(v, "rss_end_kb")),
                   (long long)(json_integer_value(json_object_get(v, "rss_end_kb")) -
                               json_integer_value(json_object_get(v, "rss_loaded_kb"))));
        }
    } else if ((x = json_object_get(o, "fanout")) != NULL ||
               (x = json_object_get(o, "chat")) != NULL) {
        json_t *steps = json_object_get(x, "steps");
        printf("  rooms %lld x %lld members, %lld publishers\n",
               (long long)json_integer_value(json_object_get(x, "rooms")),
               (long long)json_integer_value(json_object_get(x, "room_size")),
               (long long)json_integer_value(json_object_get(x, "publishers")));
        for (size_t i = 0; i < json_array_size(steps); i++) {
            json_t *s = json_array_get(steps, i);
            printf("  step %zu%s: offered %.0f/s -> %.0f deliveries/s, loss %lld, dup %lld, "
                   "reordered %lld, "
                   "server CPU %.2f us/delivery\n",
                   i + 1, json_integer_value(json_object_get(s, "attempt")) ? " (retry)" : "",
                   json_real_value(json_object_get(s, "offered_per_s")),
                   json_real_value(json_object_get(s, "deliveries_per_s")),
                   (long long)json_integer_value(json_object_get(s, "loss")),
                   (long long)json_integer_value(json_object_get(s, "duplicates")),
                   (long long)json_integer_value(json_object_get(s, "out_of_order")),
                   json_real_value(json_object_get(s, "server_cpu_us_per_delivery")));
            print_hist_line("latency", json_object_get(s, "latency_us"));
        }
        json_t *t = json_object_get(x, "total");
        printf("  total: expected %lld received %lld loss %lld duplicates %lld%s%s\n",
               (long long)json_integer_value(json_object_get(t, "expected")),
               (long long)json_integer_value(json_object_get(t, "received")),
               (long long)json_integer_value(json_object_get(t, "loss")),
               (long long)json_integer_value(json_object_get(t, "duplicates")),
               json_is_true(json_object_get(x, "stopped_early")) ? "; stopped early: " : "",
               json_is_true(json_object_get(x, "stopped_early"))
                   ? json_string_value(json_object_get(x, "stop_reason"))
                   : "");
    }
    if ((x = json_object_get(o, "recovery")) != NULL) {
        printf("  %lld members in %lld rooms, %lld messages published (%.0f/s), %lld failed\n",
               (long long)json_integer_value(json_object_get(x, "members")),
               (long long)json_integer_value(json_object_get(x, "rooms")),
               (long long)json_integer_value(json_object_get(x, "published")),
               json_real_value(json_object_get(x, "rate_per_s")),
               (long long)json_integer_value(json_object_get(x, "publish_failed")));
        printf("  dropped %lld: recovered %lld, not recovered %lld, gave up %lld (%lld tries); "
               "replayed %lld packets\n",
               (long long)json_integer_value(json_object_get(x, "dropped")),
               (long long)json_integer_value(json_object_get(x, "recovered")),
               (long long)json_integer_value(json_object_get(x, "not_recovered")),
               (long long)json_integer_value(json_object_get(x, "gave_up")),
               (long long)json_integer_value(json_object_get(x, "tries")),
               (long long)json_integer_value(json_object_get(x, "replayed")));
        if (json_is_real(json_object_get(x, "last_ms")))
            printf("  recovered after the %s: first %.0f ms, median %.0f ms, last %.0f ms\n",
                   json_string_value(json_object_get(x, "time_from")),
                   json_real_value(json_object_get(x, "first_ms")),
                   json_real_value(json_object_get(x, "median_ms")),
                   json_real_value(json_object_get(x, "last_ms")));
        if (json_integer_value(json_object_get(x, "recovered")) > 0)
            print_hist_line("reconnection handshake",
                            json_object_get(x, "try_latency_us")); /* connect() to CONNECT */
        printf("  %lld members checked: expected %lld received %lld loss %lld duplicates %lld\n",
               (long long)json_integer_value(json_object_get(x, "checked_members")),
               (long long)json_integer_value(json_object_get(x, "expected")),
               (long long)json_integer_value(json_object_get(x, "received")),
               (long long)json_integer_value(json_object_get(x, "loss")),
               (long long)json_integer_value(json_object_get(x, "duplicates")));
        print_hist_line("delivery latency", json_object_get(x, "latency_us"));
    }
    json_t *cl = json_object_get(o, "client");
    printf("  bench client: %.2f s CPU, %lld KiB RSS; result %s\n",
           json_real_value(json_object_get(cl, "cpu_s")),
           (long long)json_integer_value(json_object_get(cl, "rss_kb")),
           json_is_true(json_object_get(o, "ok")) ? "OK" : "FAILED");
}

/* ------------------------------------------------------------------ command line */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: sioc-bench [options] SCENARIO\n"
        "Socket.IO v5 load generator (Engine.IO v4; websocket or long-polling). Works\n"
        "against any server with the chat events: join-room, send-message, receive-message.\n"
        "\n"
        "Scenarios:\n"
        "  idle     hold the clients; report server RSS delta per connection and ping traffic\n"
        "  echo     ack round trips, one outstanding per client (chat: send-message with an ack\n"
        "           to an empty room; --echo-app: the echo app's message-with-ack)\n"
        "  fanout   --conns subscribers in rooms of --room-size, --publishers extra clients\n"
        "           send-message at the offered rate(s); latency, deliveries/s, loss, order\n"
        "  connect  open the clients as fast as allowed; connections/s, handshake latency\n"
        "  chat     every client joins a room and takes turns sending to it (sender included);\n"
        "           with several --url the rooms span workers (needs a cluster adapter); the\n"
        "           reordered count is informational there: Socket.IO orders per sender only\n"
        "  storm    every client joins one room (--room-prefix: the same in every process\n"
        "           of a storm); after --settle the --publish process sends --bursts (1, then\n"
        "           10 back to back), one every --duration; time from publishing each burst\n"
        "           to its first, median and last delivery, loss, server RSS peak; run with\n"
        "           the same --bursts, --settle, --duration and --drain in every process,\n"
        "           lined up with --sync\n"
        "  recovery connection state recovery storm: members in rooms of --room-size, one\n"
        "           publisher (--publish-url, a worker that stays up) sends --msg-rate msgs/s\n"
        "           for --duration; members dropped meanwhile (--kill-pid, or a worker killed\n"
        "           by the caller) reconnect after a socket.io-client backoff with their pid\n"
        "           and last offset; recovered (same sid), packets replayed before the CONNECT\n"
        "           reply, time from the kill (else the first drop) to each recovery; every\n"
        "           member never dropped or recovered must get each message once, in order\n"
        "\n"
        "Target:\n"
        "  --url URL[,URL...]      http://127.x.x.x:PORT (loopback only); clients are spread\n"
        "                          round-robin over the list [http://127.0.0.1:3000]\n"
        "  --path P                Engine.IO path [/socket.io/]\n"
        "  --transport T           websocket | polling [websocket]\n"
        "Clients:\n"
        "  -n, --conns N           clients (fanout: subscribers) [1000]\n"
        "  --connect-rate R        new connections per second, 0 = unlimited [0]\n"
        "  --max-pending N         handshakes in flight at most [256]\n"
        "  --connect-timeout S     give up on clients not connected by then [60]\n"
        "  --sources N             bind to N source addresses from --source-base (before connect,\n"
        "                          ports picked per destination); 0 = kernel's choice [16]\n"
        "  --source-base ADDR      first source address [127.0.0.1]\n"
        "Auth (handshake.auth.token):\n"
        "  --token JWT             one token for every client\n"
        "  --jwt-secret S          mint an HS256 token per client, sub=<prefix><index> (env "
        "JWT_SECRET)\n"
        "  --user-prefix P         [u]\n"
        "  --token-ttl S           token lifetime [3600]\n"
        "Rooms and load:\n"
        "  --room-size K           members per room (fanout, chat) [100]\n"
        "  --room-prefix P         room id prefix [bench-<pid>-]\n"
        "  --publishers P          fanout publisher clients [min(rooms, 16)]\n"
        "  --rate D[,D...]         offered deliveries per second (messages/s x room size), one "
        "step\n"
        "                          each, run in order on the same clients [10000]\n"
        "  --duration S            idle hold / echo run / length of each step [10]\n"
        "  --drain S               wait for late deliveries after each step [3]\n"
        "  --settle S              idle: pause after setup before sampling RSS [2]\n"
        "  --msg-size B            approximate bytes of each message [100]\n"
        "  --stop-p99 MS           fanout/chat: stop stepping once a step's p99 passes MS [1000]\n"
        "  --sustain-p99 MS        a step whose p99 passes MS is run again, up to --retries times "
        "[50]\n"
        "  --retries N             [0]\n"
        "  --echo-app              echo scenario against the echo app (message-with-ack)\n"
        "  --bursts N[,N...]       storm: messages in each burst [1,10]\n"
        "  --publish               storm: this process publishes the bursts (one more client)\n"
        "  --publish-url URL       recovery: where the publisher connects [the first --url]\n"
        "  --msg-rate M            recovery: messages published per second [20]\n"
        "  --reconnect-delay MS    recovery: first reconnection delay, +-50 %%, doubling per\n"
        "                          try [1000]\n"
        "  --reconnect-max MS      recovery: longest reconnection delay [5000]\n"
        "  --recovery-timeout S    recovery: a dropped member gives up after S [60]\n"
        "  --kill-pid PID          recovery: SIGKILL this process --kill-after S into the run\n"
        "  --kill-after S          [3]\n"
        "Measurement and output:\n"
        "  --pid PID[,PID...]      server processes to sample (RSS, utime+stime) from /proc\n"
        "  --json FILE             write the result document (histograms included)\n"
        "  --label TEXT            copied into the JSON\n"
        "  --sync                  after setup print \"@ready ...\" on stdout and wait for "
        "SIGUSR1\n"
        "  --progress/--no-progress  live progress line on stderr [on when stderr is a terminal]\n"
        "  --quiet                 no summary\n"
        "  -h, --help\n"
        "\n"
        "Exit status: 0 ok; 1 messages lost, duplicated, requests failed or clients dropped;\n"
        "2 usage; 3 not every client connected. SIGINT stops early and still reports.\n");
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < 0 || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

static int parse_uint(const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > UINT_MAX || s[0] == '-')
        return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_url(const char *u, bench_target_t *t)
{
    if (strncmp(u, "http://", 7) == 0)
        u += 7;
    else if (strncmp(u, "ws://", 5) == 0)
        u += 5;
    char host[64];
    const char *colon = strchr(u, ':');
    if (colon == NULL || (size_t)(colon - u) >= sizeof(host))
        return -1;
    memcpy(host, u, (size_t)(colon - u));
    host[colon - u] = '\0';
    unsigned port;
    char portbuf[16];
    size_t pl = strcspn(colon + 1, "/");
    if (pl == 0 || pl >= sizeof(portbuf))
        return -1;
    memcpy(portbuf, colon + 1, pl);
    portbuf[pl] = '\0';
    if (parse_uint(portbuf, &port) != 0 || port == 0 || port > 65535)
        return -1;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    memset(&t->addr, 0, sizeof(t->addr));
    t->addr.sin_family = AF_INET;
    t->addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &t->addr.sin_addr) != 1)
        return -1;
    if ((ntohl(t->addr.sin_addr.s_addr) >> 24) != 127)
        return -2; /* loopback only */
    /* host is a dotted quad here (inet_pton accepted it), so this always fits */
    char canon[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &t->addr.sin_addr, canon, sizeof(canon));
    snprintf(t->hostport, sizeof(t->hostport), "%.15s:%u", canon, port & 0xffff);
    return 0;
}

/* Flags as parsed (base/opts.h); parse_args() turns them into a bench_conf_t. Strings
 * are borrowed from argv or the environment, which outlive the run. */
typedef struct {
    const char *url, *path, *transport, *source_base, *token, *secret, *user_prefix;
    const char *room_prefix, *publishers, *rate, *bursts, *pid, *json, *label, *publish_url;
    unsigned kill_pid;
    double reconnect_ms, reconnect_max_ms, recovery_timeout, kill_after, msg_rate;
    unsigned conns, max_pending, sources, ttl, room_size, msg_size, retries;
    double connect_rate, connect_timeout, duration, drain, settle, stop_p99, sustain_p99;
    int echo_app, publish, sync, progress, no_progress, quiet;
} bench_args_t;

static int set_uint(void *conf, const opts_spec_t *o, const char *v, const char *prog)
{
    if (parse_uint(v, (unsigned *)((char *)conf + o->offset)) != 0) {
        fprintf(stderr, "%s: %s: expected a whole number, got '%s'\n", prog, o->flag, v);
        return -1;
    }
    return 0;
}

static int set_double(void *conf, const opts_spec_t *o, const char *v, const char *prog)
{
    if (parse_double(v, (double *)((char *)conf + o->offset)) != 0) {
        fprintf(stderr, "%s: %s: expected a number >= 0, got '%s'\n", prog, o->flag, v);
        return -1;
    }
    return 0;
}

static int set_borrowed(void *conf, const opts_spec_t *o, const char *v, const char *prog)
{
    (void)prog;
    *(const char **)((char *)conf + o->offset) = v;
    return 0;
}

#define A(f) offsetof(bench_args_t, f)
#define S(flag, env, f, def)                                                                       \
    {                                                                                              \
        flag, env, OPTS_CUSTOM, A(f), 0, 0, 0, def, "", set_borrowed                               \
    }
#define U(flag, f, def)                                                                            \
    {                                                                                              \
        flag, NULL, OPTS_CUSTOM, A(f), 0, 0, 0, def, "", set_uint                                  \
    }
#define D(flag, f, def)                                                                            \
    {                                                                                              \
        flag, NULL, OPTS_CUSTOM, A(f), 0, 0, 0, def, "", set_double                                \
    }
#define B(flag, f)                                                                                 \
    {                                                                                              \
        flag, NULL, OPTS_BOOL, A(f), 0, 0, 1, NULL, "", NULL                                       \
    }

/* The flags of usage(); only JWT_SECRET also comes from the environment. */
static const opts_spec_t bench_opts[] = {
    S("--url", NULL, url, "http://127.0.0.1:3000"),
    S("--path", NULL, path, "/socket.io/"),
    S("--transport", NULL, transport, "websocket"),
    U("-n", conns, "1000"),
    U("--conns", conns, NULL),
    D("--connect-rate", connect_rate, NULL),
    U("--max-pending", max_pending, "256"),
    D("--connect-timeout", connect_timeout, "60"),
    U("--sources", sources, "16"),
    S("--source-base", NULL, source_base, "127.0.0.1"),
    S("--token", NULL, token, NULL),
    S("--jwt-secret", "JWT_SECRET", secret, NULL),
    S("--user-prefix", NULL, user_prefix, "u"),
    U("--token-ttl", ttl, "3600"),
    U("--room-size", room_size, "100"),
    S("--room-prefix", NULL, room_prefix, NULL),
    S("--publishers", NULL, publishers, NULL),
    S("--rate", NULL, rate, "10000"),
    D("--duration", duration, "10"),
    D("--drain", drain, "3"),
    D("--settle", settle, "2"),
    U("--msg-size", msg_size, "100"),
    D("--stop-p99", stop_p99, "1000"),
    D("--sustain-p99", sustain_p99, "50"),
    U("--retries", retries, NULL),
    B("--echo-app", echo_app),
    S("--bursts", NULL, bursts, "1,10"),
    B("--publish", publish),
    S("--publish-url", NULL, publish_url, NULL),
    D("--msg-rate", msg_rate, "20"),
    D("--reconnect-delay", reconnect_ms, "1000"),
    D("--reconnect-max", reconnect_max_ms, "5000"),
    D("--recovery-timeout", recovery_timeout, "60"),
    U("--kill-pid", kill_pid, NULL),
    D("--kill-after", kill_after, "3"),
    S("--pid", NULL, pid, NULL),
    S("--json", NULL, json, NULL),
    S("--label", NULL, label, NULL),
    B("--sync", sync),
    B("--progress", progress),
    B("--no-progress", no_progress),
    B("--quiet", quiet),
};

static int parse_args(bench_conf_t *cf, int argc, char **argv)
{
    bench_args_t o;
    memset(&o, 0, sizeof(o));
    const char *pos[2];
    size_t npos;
    int pr = opts_parse("sioc-bench", bench_opts, sizeof(bench_opts) / sizeof(bench_opts[0]), &o,
                        argc, argv, pos, 2, &npos);
    if (pr == OPTS_HELP) {
        usage(stdout);
        return 1;
    }
    if (pr != 0)
        return -1;
    cf->path = o.path;
    cf->conns = o.conns;
    cf->connect_rate = o.connect_rate;
    cf->max_pending = o.max_pending;
    cf->connect_timeout_s = o.connect_timeout;
    cf->sources = o.sources;
    cf->token = o.token;
    cf->secret = o.secret;
    cf->user_prefix = o.user_prefix;
    cf->room_size = o.room_size;
    cf->room_prefix = o.room_prefix;
    cf->duration_s = o.duration;
    cf->drain_s = o.drain;
    cf->settle_s = o.settle;
    cf->msg_size = o.msg_size;
    cf->stop_p99_ms = o.stop_p99;
    cf->sustain_p99_ms = o.sustain_p99;
    cf->retries = o.retries;
    cf->echo_app = o.echo_app;
    cf->publish = o.publish;
    cf->json_path = o.json;
    cf->label = o.label;
    cf->sync = o.sync;
    cf->quiet = o.quiet;
    cf->progress = o.no_progress ? 0 : o.progress ? 1 : -1;
    cf->reconnect_ms = o.reconnect_ms;
    cf->msg_rate = o.msg_rate;
    cf->reconnect_max_ms = o.reconnect_max_ms;
    cf->recovery_timeout_s = o.recovery_timeout;
    cf->kill_pid = (pid_t)o.kill_pid;
    cf->kill_after_s = o.kill_after;
    const char *urls = o.url, *rates = o.rate, *pids = o.pid, *tr = o.transport;
    const char *sbase = o.source_base;
    unsigned ttl = o.ttl;
    int pubs_set = o.publishers != NULL;
    if (pubs_set && parse_uint(o.publishers, &cf->publishers) != 0) {
        fprintf(stderr, "sioc-bench: --publishers: expected a whole number, got '%s'\n",
                o.publishers);
        return -1;
    }
    if (npos != 1) {
        usage(stderr);
        return -1;
    }
    const char *scn = pos[0];
    cf->scenario = -1;
    for (int i = 0; i < (int)NSCENARIOS; i++)
        if (strcmp(scn, scenario_names[i]) == 0)
            cf->scenario = i;
    if (cf->scenario < 0) {
        fprintf(stderr, "sioc-bench: unknown scenario %s\n", scn);
        return -1;
    }
    if (strcmp(tr, "websocket") == 0)
        cf->transport = TR_WEBSOCKET;
    else if (strcmp(tr, "polling") == 0)
        cf->transport = TR_POLLING;
    else {
        fprintf(stderr, "sioc-bench: --transport websocket|polling\n");
        return -1;
    }
    /* targets */
    char *list = xstrdup(urls), *save = NULL;
    for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        cf->targets = xrealloc(cf->targets, (cf->ntargets + 1) * sizeof(*cf->targets));
        int r = parse_url(u, &cf->targets[cf->ntargets]);
        if (r != 0) {
            fprintf(stderr, "sioc-bench: %s: %s\n", u,
                    r == -2 ? "only 127.0.0.0/8 targets are allowed"
                            : "expected http://127.x.x.x:PORT");
            free(list);
            return -1;
        }
        cf->ntargets++;
    }
    free(list);
    if (cf->ntargets == 0)
        return -1;
    if (o.publish_url != NULL) {
        cf->pub_target = xcalloc(1, sizeof(*cf->pub_target));
        if (parse_url(o.publish_url, cf->pub_target) != 0) {
            fprintf(stderr, "sioc-bench: --publish-url: expected http://127.x.x.x:PORT\n");
            return -1;
        }
    }
    /* rates (storm: burst sizes) */
    if (cf->scenario == SCN_STORM)
        rates = o.bursts;
    list = xstrdup(rates);
    for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        cf->rates = xrealloc(cf->rates, (cf->nrates + 1) * sizeof(double));
        if (parse_double(u, &cf->rates[cf->nrates]) != 0 || cf->rates[cf->nrates] <= 0 ||
            (cf->scenario == SCN_STORM && cf->rates[cf->nrates] != floor(cf->rates[cf->nrates]))) {
            fprintf(stderr, "sioc-bench: bad --%s %s\n",
                    cf->scenario == SCN_STORM ? "bursts" : "rate", u);
            free(list);
            return -1;
        }
        cf->nrates++;
    }
    free(list);
    if (pids != NULL) {
        list = xstrdup(pids);
        for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
            unsigned v;
            if (parse_uint(u, &v) != 0 || v == 0 || cf->npids >= 16) {
                fprintf(stderr, "sioc-bench: bad --pid %s (at most 16)\n", u);
                free(list);
                return -1;
            }
            cf->pids = xrealloc(cf->pids, (cf->npids + 1) * sizeof(pid_t));
            cf->pids[cf->npids++] = (pid_t)v;
        }
        free(list);
    }
    struct in_addr sb;
    if (inet_pton(AF_INET, sbase, &sb) != 1 || (ntohl(sb.s_addr) >> 24) != 127 ||
        (ntohl(sb.s_addr) & 0xffffff) + cf->sources > 0xffffff) {
        fprintf(stderr, "sioc-bench: --source-base must be a 127.x.x.x address\n");
        return -1;
    }
    cf->src_base = ntohl(sb.s_addr);
    if (cf->token != NULL)
        cf->secret = NULL;
    if (cf->secret != NULL)
        cf->secret_len = strlen(cf->secret);
    cf->token_ttl = ttl;
    if (cf->room_prefix == NULL) {
        static char pfx[32];
        snprintf(pfx, sizeof(pfx), "bench-%d-", (int)getpid());
        cf->room_prefix = pfx;
    }
    if (strlen(cf->room_prefix) > 200 || strchr(cf->room_prefix, '"') ||
        strchr(cf->room_prefix, '\\')) {
        fprintf(stderr, "sioc-bench: --room-prefix: at most 200 JSON-safe characters\n");
        return -1;
    }
    if (cf->room_size == 0 || cf->conns == 0 || cf->max_pending == 0) {
        fprintf(stderr, "sioc-bench: --conns, --room-size and --max-pending must be positive\n");
        return -1;
    }
    if (cf->scenario == SCN_STORM)
        cf->room_size = cf->conns; /* one room */
    unsigned rooms = (cf->conns + cf->room_size - 1) / cf->room_size;
    if (cf->scenario == SCN_STORM) {
        cf->publishers = cf->publish ? 1 : 0;
    } else if (cf->scenario == SCN_RECOVERY) {
        cf->publishers = 1;
        if (cf->transport != TR_WEBSOCKET) {
            fprintf(stderr, "sioc-bench: recovery runs over websocket only\n");
            return -1;
        }
    } else if (cf->scenario == SCN_FANOUT) {
        if (!pubs_set)
            cf->publishers = rooms < 16 ? rooms : 16;
        if (cf->publishers == 0)
            cf->publishers = 1;
    } else {
        cf->publishers = 0;
    }
    if (cf->progress < 0)
        cf->progress = isatty(2);
    return 0;
}

int main(int argc, char **argv)
{
    bench_conf_t cf;
    memset(&cf, 0, sizeof(cf));
    int pr = parse_args(&cf, argc, argv);
    if (pr != 0)
        return pr > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);

    unsigned total = cf.conns + cf.publishers;
    unsigned fds_each = cf.transport == TR_POLLING ? 2 : 1;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if ((unsigned long long)total * fds_each + 32 > (unsigned long long)rl.rlim_cur) {
        fprintf(
            stderr,
            "sioc-bench: %u clients need %llu descriptors, the limit is %llu: split the load over "
            "several sioc-bench processes (bench/compare does)\n",
            total, (unsigned long long)total * fds_each + 32, (unsigned long long)rl.rlim_cur);
        return 2;
    }

    run_t *r = xcalloc(1, sizeof(*r));
    bench_t *b = &r->b;
    b->conf = &cf;
    b->loop = net_loop_new();
    b->rng = rand_u64() | 1;
    b->cur_step = -1;
    r->total = total;
    r->members = (cf.scenario == SCN_FANOUT || cf.scenario == SCN_CHAT ||
                  cf.scenario == SCN_STORM || cf.scenario == SCN_RECOVERY)
                     ? cf.conns
                     : 0;
    if (cf.scenario == SCN_RECOVERY)
        r->rec = xcalloc(cf.conns, sizeof(*r->rec));
    hist_reset(&r->rec_try_lat);
    r->tty = isatty(2);
    hist_reset(&b->connect_lat);
    hist_reset(&b->echo_lat);
    b->clients = xcalloc(total, sizeof(*b->clients));
    if (r->members > 0) {
        b->nrooms = (cf.conns + cf.room_size - 1) / cf.room_size;
        b->rooms = xcalloc(b->nrooms, sizeof(*b->rooms));
        b->step_cap = cf.nrates * (cf.scenario == SCN_STORM ? 1 : cf.retries + 1);
        b->steps = xcalloc(b->step_cap, sizeof(*b->steps));
        for (size_t i = 0; i < b->step_cap; i++)
            hist_reset(&b->steps[i].lat);
        b->steps[0].offered = cf.scenario == SCN_RECOVERY ? cf.msg_rate : cf.rates[0];
        b->nsteps = 1;
        if (cf.scenario == SCN_STORM) {
            /* Every burst counts from the start: another process may publish first. */
            for (size_t i = 0; i < cf.nrates; i++)
                b->steps[i].offered = cf.rates[i];
            b->nsteps = cf.nrates;
        }
    }
    sample_rss(&cf, r->rss_base_kb);

    struct event_base *base = net_loop_base(b->loop);
    r->tick = event_new(base, -1, EV_PERSIST, on_tick, r);
    struct timeval tv = {0, TICK_US};
    event_add(r->tick, &tv);
    r->sigint = evsignal_new(base, SIGINT, on_signal, r);
    r->sigterm = evsignal_new(base, SIGTERM, on_signal, r);
    r->sigusr1 = evsignal_new(base, SIGUSR1, on_signal, r);
    event_add(r->sigint, NULL);
    event_add(r->sigterm, NULL);
    event_add(r->sigusr1, NULL);
    r->finish_timer = evtimer_new(base, on_finish_timeout, r);

    if (cf.scenario == SCN_CONNECT)
        sample_cpu(&cf, r->cpu_run_start, r->usr_run_start);
    b->t0_us = clock_us();
    net_loop_run(b->loop);

    int ok = 0;
    json_t *doc = report_json(r, &ok);
    if (cf.json_path != NULL) {
        if (json_dump_file(doc, cf.json_path, JSON_INDENT(1)) != 0)
            fprintf(stderr, "sioc-bench: cannot write %s\n", cf.json_path);
    }
    if (!cf.quiet)
        print_summary(doc);
    if (cf.sync) {
        printf("@done\n");
        fflush(stdout);
    }
    int status = ok ? 0 : 1;
    if (b->connected < total)
        status = 3;
    if (ok == 0 && b->connected == total)
        status = 1;
    json_decref(doc);

    for (unsigned i = 0; i < total; i++)
        client_free(b->clients[i]);
    free(b->clients);
    free(b->rooms);
    free(b->steps);
    free(r->rec);
    buf_free(&b->tx);
    buf_free(&b->frame);
    event_free(r->tick);
    event_free(r->sigint);
    event_free(r->sigterm);
    event_free(r->sigusr1);
    event_free(r->finish_timer);
    if (r->nclosed >= r->nstarted)
        net_loop_free(b->loop); /* otherwise connections are still open: the exit reclaims them */
    free(r);
    free(cf.targets);
    free(cf.pub_target);
    free(cf.rates);
    free(cf.pids);
    return status;
}
