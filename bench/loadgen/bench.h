/*
 * bench.h - sioc-bench: shared context of the load generator.
 *
 * One process, one libevent loop (common/net/loop.h), many Socket.IO v5
 * clients. client.c speaks the protocols (HTTP upgrade or Engine.IO
 * long-polling, WebSocket client frames, Engine.IO and Socket.IO packets,
 * all with the common/ codecs) and reports what happens to the scenario
 * code in main.c through the bench_on_* functions below. Nothing here is
 * specific to sioc: any server with the chat events (join-room,
 * send-message, receive-message) and Socket.IO v5 works.
 * Loop thread only; the only process-wide state is the signal flags.
 */
#ifndef SIOC_BENCH_LOADGEN_BENCH_H
#define SIOC_BENCH_LOADGEN_BENCH_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/iov.h"
#include "hist.h"
#include "net/conn.h"
#include "net/loop.h"
#include "ws/ws_reader.h"

enum bench_scenario {
    SCN_IDLE,
    SCN_ECHO,
    SCN_FANOUT,
    SCN_CONNECT,
    SCN_CHAT,
    SCN_STORM,
    SCN_RECOVERY
};
enum bench_transport { TR_WEBSOCKET, TR_POLLING };

/** A server address to connect to. */
typedef struct {
    struct sockaddr_in addr;
    char hostport[64];
} bench_target_t;

/** Configuration (parsed from the command line; read only afterwards). */
typedef struct {
    int scenario;
    int transport;
    bench_target_t *targets;
    size_t ntargets;
    bench_target_t *pub_target; /* recovery: where the publisher connects (NULL = --url) */
    const char *path;
    unsigned conns;       /* clients (fanout: subscribers; publishers come on top) */
    double connect_rate;  /* new connections per second; 0 = as fast as max_pending allows */
    unsigned max_pending; /* handshakes in flight at most */
    double connect_timeout_s;
    uint32_t src_base;  /* first source address (host order) */
    unsigned sources;   /* number of source addresses, 0 = let the kernel choose */
    const char *token;  /* one token for all clients */
    const char *secret; /* or: mint one token per client */
    size_t secret_len;
    const char *user_prefix;
    long long token_ttl;
    const char *room_prefix;
    unsigned room_size;  /* fanout/chat: members per room */
    unsigned publishers; /* fanout: publisher connections */
    double *rates;       /* fanout/chat: offered deliveries per second, one per step;
                            storm: messages per burst, one burst per step */
    size_t nrates;
    double duration_s;     /* idle hold, echo run, or each fanout step */
    double drain_s;        /* wait for stragglers after a step */
    double settle_s;       /* idle: pause before sampling RSS */
    unsigned msg_size;     /* approximate bytes of each message's msg */
    int echo_app;          /* echo: use the echo app's message-with-ack instead of chat acks */
    int publish;           /* storm: this process publishes the bursts (one extra client) */
    double stop_p99_ms;    /* fanout: stop stepping once a step's p99 passes this */
    double sustain_p99_ms; /* fanout: a step above this p99 is retried ... */
    unsigned retries;      /* ... up to this many times */
    pid_t *pids;           /* server processes to sample */
    size_t npids;
    const char *json_path;
    const char *label;
    double msg_rate;           /* recovery: messages published per second */
    double reconnect_ms;       /* recovery: first reconnection delay, +-50 % (doubles per try) */
    double reconnect_max_ms;   /* recovery: longest delay between tries */
    double recovery_timeout_s; /* recovery: a dropped client gives up after this */
    pid_t kill_pid;            /* recovery: SIGKILL this process ... */
    double kill_after_s;       /* ... this long into the run */
    int sync;                  /* print @ready and wait for SIGUSR1 before the measured phase */
    int progress;              /* live progress line (default: when stderr is a terminal) */
    int quiet;
} bench_conf_t;

/** Per-step fanout/chat accounting. */
typedef struct {
    double offered;    /* deliveries per second asked for */
    size_t rate_index; /* index in conf->rates */
    unsigned attempt;  /* 0, then 1.. for retries of the same rate */
    long long t_start_us, t_end_us, t_last_rx_us;
    uint64_t sent;     /* messages published */
    uint64_t expected; /* deliveries expected (sent x room members) */
    uint64_t received;
    uint64_t duplicates;
    uint64_t out_of_order;
    uint64_t publish_failed; /* messages that could not be queued */
    long long max_lag_us;    /* worst delay of a publish behind its schedule (client overload) */
    double cpu_s_start[16], cpu_s_end[16];
    double usr_s_start[16], usr_s_end[16];   /* the user part of cpu_s_* */
    double client_cpu_start, client_cpu_end; /* over the sending window */
    long long t_send_end_us;
    hist_t lat;
} bench_step_t;

typedef struct bclient bclient_t;

/** A room of the fanout/chat scenarios. */
typedef struct {
    uint32_t members;   /* joined members (counted on join ack) */
    uint32_t publisher; /* client index that publishes to it */
    uint32_t next_seq;
} bench_room_t;

/** The process context. */
typedef struct bench {
    const bench_conf_t *conf;
    net_loop_t *loop;
    bclient_t **clients; /* all clients, subscribers first then publishers */
    unsigned nclients;
    unsigned opened, connected, failed, auth_failed, closed_unexpected, pending;
    unsigned joined; /* clients whose join acks all arrived */
    bench_room_t *rooms;
    unsigned nrooms;
    long long t0_us; /* start of the connect phase */
    long long t_connected_us;
    hist_t connect_lat; /* connect() to Socket.IO CONNECT, microseconds */
    hist_t echo_lat;
    uint64_t echo_done, echo_errors;
    uint64_t pings_rx, pongs_tx, ping_bytes;
    uint64_t bytes_tx_frames, msgs_rx_other;
    uint64_t proto_errors;
    uint64_t close_reasons[8];
    bench_step_t *steps;
    size_t nsteps; /* steps started so far */
    size_t step_cap;
    int cur_step;     /* -1 before the first step */
    sioc_buf_t tx;    /* scratch: packet text */
    sioc_buf_t frame; /* scratch: masked frame */
    uint64_t rng;
    const char *first_error;
} bench_t;

/* client.c ------------------------------------------------------------------------------ */

/** Creates client `idx` and starts its connection (socket, bind, connect, handshake request).
 * Returns NULL with *err set (static text) when no socket could be made. */
bclient_t *client_start(bench_t *b, unsigned idx, const char **err);
/** Sends a Socket.IO EVENT `["<event>",<args_json>]` (args_json borrowed, compact JSON, may be
 * several comma-separated values) with ack id `ack_id` (0 = no ack). Returns 0 or a negative error.
 */
int client_emit(bclient_t *c, const char *event, sioc_iov_t args_json, unsigned long long ack_id);
/** Closes the connection(s) without waiting. */
void client_close(bclient_t *c);
/** Frees a closed client. */
void client_free(bclient_t *c);
/** Whether the client has completed its Socket.IO CONNECT and is still open. */
int client_ready(const bclient_t *c);
/** Whether the client ever completed its Socket.IO CONNECT. */
int client_was_ready(const bclient_t *c);
unsigned client_index(const bclient_t *c);
/** When the client started connecting (monotonic microseconds). */
long long client_t0_us(const bclient_t *c);
/** Next ack id for this client (1, 2, ...). */
unsigned long long client_next_ack(bclient_t *c);
/** Scenario slots kept with the client. */
typedef struct {
    uint32_t room;                  /* fanout/chat: the room joined, UINT32_MAX = none */
    uint32_t next_seq;              /* next sequence number expected from the room */
    uint64_t seen;                  /* bit i: sequence next_seq-1-i was received */
    long long sent_us;              /* echo: send time of the outstanding request */
    unsigned long long ack_pending; /* id of the outstanding ack, 0 = none */
    uint8_t joins_pending;
} client_slot_t;
client_slot_t *client_slot(bclient_t *c);

/* main.c: what client.c reports ------------------------------------------------------------- */

/** The Socket.IO CONNECT succeeded (handshake latency known); `data` is the reply's JSON. */
void bench_on_connected(bench_t *b, bclient_t *c, sioc_iov_t data, long long now_us);
/** Writes the members the scenario adds to the CONNECT payload (`"pid":"…","offset":"…"`,
 * no leading comma) into `out`; returns their length, 0 for none. */
size_t bench_connect_extra(bench_t *b, bclient_t *c, char *out, size_t cap);
/** The server refused the namespace (CONNECT_ERROR, e.g. "Authentication error"). */
void bench_on_refused(bench_t *b, bclient_t *c, sioc_iov_t data);
/** An EVENT arrived: `event` is the JSON string token of its name, `args` the remaining elements.
 */
void bench_on_event(bench_t *b, bclient_t *c, sioc_iov_t event, sioc_iov_t args, long long now_us);
/** An ACK arrived. */
void bench_on_ack(bench_t *b, bclient_t *c, unsigned long long id, sioc_iov_t args,
                  long long now_us);
/** The connection ended; `during_setup` when it never reached ready. */
void bench_on_closed(bench_t *b, bclient_t *c, int reason, const char *why);

/** Next value of the process's fast PRNG (xorshift64*): masking keys, not secrets. */
uint64_t bench_rand(bench_t *b);

#endif
