/*
 * floor.c - sioc-floor, the least a server can do for sioc-bench's fanout
 * scenario: the cost of the kernel and the event loop alone, to compare
 * sioc-worker against (bench/compare runs it as a third side).
 *
 * One thread, raw epoll, level-triggered. It speaks just enough of the wire
 * for sioc-bench to drive it unchanged:
 *   - HTTP/1.1: GET /health -> 200 "ok"; any other GET carrying a
 *     Sec-WebSocket-Key is upgraded (RFC 6455 4.2.2, accept key with OpenSSL's
 *     SHA-1 and base64); anything else -> 400;
 *   - Engine.IO v4 over WebSocket only: the open packet on upgrade, a ping "2"
 *     to every client every 25 s, pongs ignored, no timeouts;
 *   - Socket.IO v5 on "/": CONNECT (any auth) -> 40{"sid":...};
 *     42<id>["join-room","R"] -> 43<id>[{"ok":true}];
 *     42["send-message",{"roomId":"R","msg":M}] (the layout sioc-bench sends:
 *     roomId first, msg last, no escapes in R) -> 42["receive-message",M] to
 *     every member of R.
 * No JSON parser, no protocol library: packets are matched by prefix.
 *
 * Delivery: the outgoing WebSocket frame is built once per published message
 * and copied to the output buffer of each member (a ~150-byte copy costs less
 * than keeping references to a shared block); each connection with output is
 * put on a dirty list, and at the end of every epoll turn each dirty connection
 * gets one write() of everything it has. What the kernel does not take stays
 * for EPOLLOUT. Rooms are a small open-addressed table keyed by name, looked up
 * once per message; members are an array per room (swap-remove on leave).
 *
 * Connections are closed at once (fd closed, rooms left) and freed at the end
 * of the turn, so events already returned by epoll_wait never see freed memory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PING_INTERVAL_MS 25000
#define MAX_HEAD 8192             /* bytes of HTTP request head accepted */
#define MAX_IN_BYTES (1u << 20)   /* bytes of unparsed input kept per connection */
#define MAX_OUT_BYTES (64u << 20) /* bytes of unsent output before a client is dropped */
#define MAX_ROOMS_PER_CONN 4      /* the bench joins one */
#define READ_CHUNK (64u << 10)    /* one read() per readable event at most */
#define EVENTS_PER_TURN 1024

enum { ST_HTTP, ST_WS };

typedef struct {
    char *base;
    size_t len, cap;
} buf_t;

typedef struct room room_t;

typedef struct conn {
    int fd;
    int state;
    int closed;     /* fd closed, rooms left; freed at the end of the turn */
    int dirty;      /* on the dirty list */
    int want_out;   /* EPOLLOUT registered */
    int close_sent; /* close once the output is written (HTTP answers) */
    unsigned id;
    size_t all_slot; /* index in g.all */
    buf_t in, out;
    size_t out_off; /* bytes of `out` already written */
    unsigned nrooms;
    struct {
        room_t *room;
        size_t slot; /* index in room->members */
    } rooms[MAX_ROOMS_PER_CONN];
} conn_t;

struct room {
    char *name;
    size_t name_len;
    uint64_t hash;
    conn_t **members;
    size_t nmembers, cap;
};

static struct {
    int ep, lfd;
    room_t **rooms; /* open-addressed, power-of-two capacity */
    size_t rooms_cap, rooms_used;
    conn_t **dirty;
    size_t ndirty, dirty_cap;
    conn_t **dead;
    size_t ndead, dead_cap;
    conn_t **all; /* every connection, for pings */
    size_t nall, all_cap;
    unsigned next_id;
    buf_t frame; /* scratch: the frame being built */
    unsigned char rbuf[READ_CHUNK];
} g;

static volatile sig_atomic_t stopping;

/* ------------------------------------------------------------------ helpers */

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fprintf(stderr, "sioc-floor: out of memory\n");
        abort();
    }
    return q;
}

static void buf_reserve(buf_t *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    b->base = xrealloc(b->base, cap);
    b->cap = cap;
}

static void buf_add(buf_t *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->base + b->len, p, n);
    b->len += n;
}

static void buf_free(buf_t *b)
{
    free(b->base);
    b->base = NULL;
    b->len = b->cap = 0;
}

/* Appends pointer `p` to the growable array `*a` of `*n` items, capacity `*cap`. */
static void ptrs_push(conn_t ***a, size_t *n, size_t *cap, conn_t *p)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *a = xrealloc(*a, *cap * sizeof(**a));
    }
    (*a)[(*n)++] = p;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Starts a server-to-client WebSocket text frame (FIN, unmasked) of `len` payload bytes. */
static void ws_head(buf_t *b, size_t len)
{
    unsigned char h[10];
    size_t n;
    h[0] = 0x81;
    if (len < 126) {
        h[1] = (unsigned char)len;
        n = 2;
    } else if (len < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        n = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        n = 10;
    }
    buf_add(b, h, n);
}

/* ------------------------------------------------------------------ output */

static void mark_dirty(conn_t *c)
{
    if (!c->dirty && !c->closed) {
        c->dirty = 1;
        ptrs_push(&g.dirty, &g.ndirty, &g.dirty_cap, c);
    }
}

static void conn_close(conn_t *c);

/* Queues `n` bytes for `c` (written at the end of the turn). */
static void send_raw(conn_t *c, const void *p, size_t n)
{
    if (c->closed)
        return;
    if (c->out.len - c->out_off + n > MAX_OUT_BYTES) {
        conn_close(c);
        return;
    }
    buf_add(&c->out, p, n);
    mark_dirty(c);
}

/* Queues one WebSocket text frame holding `p`. */
static void send_text(conn_t *c, const char *p, size_t n)
{
    g.frame.len = 0;
    ws_head(&g.frame, n);
    buf_add(&g.frame, p, n);
    send_raw(c, g.frame.base, g.frame.len);
}

static void set_out_interest(conn_t *c, int want)
{
    if (c->want_out == want)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want;
}

/* One write() of everything `c` has; the rest waits for EPOLLOUT. */
static void flush(conn_t *c)
{
    size_t left = c->out.len - c->out_off;
    while (left > 0) {
        ssize_t w = write(c->fd, c->out.base + c->out_off, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_out_interest(c, 1);
                return;
            }
            conn_close(c);
            return;
        }
        c->out_off += (size_t)w;
        left -= (size_t)w;
        if (left > 0) {              /* the kernel took what it could: wait for room */
            if (c->out_off > left) { /* keep the buffer from growing behind a slow reader */
                memmove(c->out.base, c->out.base + c->out_off, left);
                c->out.len = left;
                c->out_off = 0;
            }
            set_out_interest(c, 1);
            return;
        }
    }
    c->out.len = c->out_off = 0;
    set_out_interest(c, 0);
    if (c->close_sent)
        conn_close(c);
}

/* ------------------------------------------------------------------ rooms */

static uint64_t name_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

static room_t *room_find(const char *name, size_t n, int create)
{
    uint64_t h = name_hash(name, n);
    if (g.rooms_cap) {
        for (size_t i = h & (g.rooms_cap - 1);; i = (i + 1) & (g.rooms_cap - 1)) {
            room_t *r = g.rooms[i];
            if (r == NULL)
                break;
            if (r->hash == h && r->name_len == n && memcmp(r->name, name, n) == 0)
                return r;
        }
    }
    if (!create)
        return NULL;
    if ((g.rooms_used + 1) * 2 > g.rooms_cap) { /* grow: rooms are never removed */
        size_t cap = g.rooms_cap ? g.rooms_cap * 2 : 64;
        room_t **t = calloc(cap, sizeof(*t));
        if (t == NULL)
            abort();
        for (size_t k = 0; k < g.rooms_cap; k++) {
            room_t *r = g.rooms[k];
            if (r == NULL)
                continue;
            size_t i = r->hash & (cap - 1);
            while (t[i] != NULL)
                i = (i + 1) & (cap - 1);
            t[i] = r;
        }
        free(g.rooms);
        g.rooms = t;
        g.rooms_cap = cap;
    }
    room_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    r->name = xrealloc(NULL, n);
    memcpy(r->name, name, n);
    r->name_len = n;
    r->hash = h;
    size_t i = h & (g.rooms_cap - 1);
    while (g.rooms[i] != NULL)
        i = (i + 1) & (g.rooms_cap - 1);
    g.rooms[i] = r;
    g.rooms_used++;
    return r;
}

static int room_join(conn_t *c, room_t *r)
{
    for (unsigned i = 0; i < c->nrooms; i++)
        if (c->rooms[i].room == r)
            return 0;
    if (c->nrooms == MAX_ROOMS_PER_CONN)
        return -1;
    if (r->nmembers == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->members = xrealloc(r->members, r->cap * sizeof(*r->members));
    }
    c->rooms[c->nrooms].room = r;
    c->rooms[c->nrooms].slot = r->nmembers;
    c->nrooms++;
    r->members[r->nmembers++] = c;
    return 0;
}

static void rooms_leave_all(conn_t *c)
{
    for (unsigned i = 0; i < c->nrooms; i++) {
        room_t *r = c->rooms[i].room;
        size_t slot = c->rooms[i].slot;
        conn_t *last = r->members[--r->nmembers];
        r->members[slot] = last;
        if (last != c) /* tell the moved member its new slot */
            for (unsigned k = 0; k < last->nrooms; k++)
                if (last->rooms[k].room == r)
                    last->rooms[k].slot = slot;
    }
    c->nrooms = 0;
}

/* ------------------------------------------------------------------ connections */

static void conn_close(conn_t *c)
{
    if (c->closed)
        return;
    c->closed = 1;
    rooms_leave_all(c);
    close(c->fd); /* also leaves the epoll set */
    ptrs_push(&g.dead, &g.ndead, &g.dead_cap, c);
}

/* Frees the connections closed during this turn (after the flush). */
static void reap(void)
{
    for (size_t i = 0; i < g.ndead; i++) {
        conn_t *c = g.dead[i];
        conn_t *last = g.all[--g.nall];
        g.all[c->all_slot] = last;
        last->all_slot = c->all_slot;
        buf_free(&c->in);
        buf_free(&c->out);
        free(c);
    }
    g.ndead = 0;
}

static void make_sid(char out[21], char tag, unsigned id)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t x = ((uint64_t)id << 20) ^ ((uint64_t)(unsigned)getpid() << 1) ^ 0x9e3779b97f4a7c15ULL;
    out[0] = tag;
    for (int i = 1; i < 20; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out[i] = a[(x * 0x2545F4914F6CDD1DULL) >> 58];
    }
    out[20] = '\0';
}

/* ------------------------------------------------------------------ Socket.IO */

static const char ACK_OK[] = "[{\"ok\":true}]";
static const char ACK_NO[] = "[{\"ok\":false}]";

static void send_ack(conn_t *c, const char *id, size_t idlen, const char *body)
{
    char p[64];
    if (idlen > 20)
        return;
    size_t n = 0;
    p[n++] = '4';
    p[n++] = '3';
    memcpy(p + n, id, idlen);
    n += idlen;
    size_t bl = strlen(body);
    memcpy(p + n, body, bl);
    send_text(c, p, n + bl);
}

#define JOIN_PREFIX "[\"join-room\",\""
#define SEND_PREFIX "[\"send-message\",{\"roomId\":\""
#define MSG_KEY "\",\"msg\":"
#define DELIVERY "42[\"receive-message\","

/* send-message: one frame for the room, copied to every member. */
static void publish(const char *p, size_t n)
{
    /* p: {"roomId":"R","msg":M}] without the leading `["send-message",` */
    const char *room = p + sizeof(SEND_PREFIX) - 1;
    const char *end = p + n;
    const char *q = memchr(room, '"', (size_t)(end - room));
    if (q == NULL || (size_t)(end - q) < sizeof(MSG_KEY) - 1 + 3 ||
        memcmp(q, MSG_KEY, sizeof(MSG_KEY) - 1) != 0 || end[-1] != ']' || end[-2] != '}')
        return;
    room_t *r = room_find(room, (size_t)(q - room), 0);
    if (r == NULL || r->nmembers == 0)
        return;
    const char *msg = q + sizeof(MSG_KEY) - 1;
    size_t mlen = (size_t)(end - 2 - msg);
    size_t plen = sizeof(DELIVERY) - 1 + mlen + 1;
    g.frame.len = 0;
    ws_head(&g.frame, plen);
    buf_add(&g.frame, DELIVERY, sizeof(DELIVERY) - 1);
    buf_add(&g.frame, msg, mlen);
    buf_add(&g.frame, "]", 1);
    /* A member dropped for its output limit swaps the last one into its slot. */
    for (size_t i = 0; i < r->nmembers;) {
        conn_t *m = r->members[i];
        send_raw(m, g.frame.base, g.frame.len);
        if (!m->closed)
            i++;
    }
}

static void on_sio(conn_t *c, const char *p, size_t n)
{
    if (n < 1)
        return;
    if (p[0] == '0') { /* CONNECT to "/" (auth, if any, is not checked) */
        if (n > 1 && p[1] == '/')
            return; /* other namespaces: not served */
        char sid[21], out[64];
        make_sid(sid, 'S', c->id);
        int k = snprintf(out, sizeof(out), "40{\"sid\":\"%s\"}", sid);
        send_text(c, out, (size_t)k);
        return;
    }
    if (p[0] == '1') {
        conn_close(c);
        return;
    }
    if (p[0] != '2')
        return;
    size_t i = 1;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++;
    const char *id = p + 1;
    size_t idlen = i - 1;
    p += i;
    n -= i;
    if (n >= sizeof(SEND_PREFIX) - 1 && memcmp(p, SEND_PREFIX, sizeof(SEND_PREFIX) - 1) == 0) {
        publish(p, n);
        if (idlen)
            send_ack(c, id, idlen, ACK_OK);
    } else if (n >= sizeof(JOIN_PREFIX) + 1 &&
               memcmp(p, JOIN_PREFIX, sizeof(JOIN_PREFIX) - 1) == 0) {
        const char *name = p + sizeof(JOIN_PREFIX) - 1;
        const char *q = memchr(name, '"', n - (sizeof(JOIN_PREFIX) - 1));
        int ok = q != NULL && q > name && room_join(c, room_find(name, (size_t)(q - name), 1)) == 0;
        if (idlen)
            send_ack(c, id, idlen, ok ? ACK_OK : ACK_NO);
    } else if (idlen) {
        send_ack(c, id, idlen, ACK_NO);
    }
}

static void on_eio(conn_t *c, const char *p, size_t n)
{
    if (n == 0)
        return;
    switch (p[0]) {
    case '4':
        on_sio(c, p + 1, n - 1);
        break;
    case '1':
        conn_close(c);
        break;
    default: /* '3' pong, anything else: ignored */
        break;
    }
}

/* ------------------------------------------------------------------ WebSocket */

/* Parses client frames from `p`; returns the bytes consumed. */
static size_t on_ws(conn_t *c, unsigned char *p, size_t n)
{
    size_t off = 0;
    while (!c->closed && n - off >= 2) {
        unsigned char *f = p + off;
        int fin = f[0] & 0x80, op = f[0] & 0x0f, masked = f[1] & 0x80;
        uint64_t len = f[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (n - off < 4)
                break;
            len = ((uint64_t)f[2] << 8) | f[3];
            h = 4;
        } else if (len == 127) {
            if (n - off < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = (len << 8) | f[2 + i];
            h = 10;
        }
        if (!masked || !fin || op == 0 || len > MAX_IN_BYTES) { /* no fragments: not needed */
            conn_close(c);
            break;
        }
        if (n - off < h + 4 + len)
            break;
        unsigned char *mask = f + h, *data = f + h + 4;
        for (uint64_t i = 0; i < len; i++)
            data[i] ^= mask[i & 3];
        off += h + 4 + (size_t)len;
        if (op == 1)
            on_eio(c, (const char *)data, (size_t)len);
        else if (op == 8)
            conn_close(c);
        else if (op == 9) { /* ping -> pong */
            unsigned char pong[2 + 125];
            if (len > 125) {
                conn_close(c);
                break;
            }
            pong[0] = 0x8a;
            pong[1] = (unsigned char)len;
            memcpy(pong + 2, data, (size_t)len);
            send_raw(c, pong, 2 + (size_t)len);
        }
    }
    return off;
}

/* ------------------------------------------------------------------ HTTP */

static const char R400[] =
    "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
static const char R200[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                           "2\r\nConnection: close\r\n\r\nok";

/* Value of header `name` in the head [p, e), or NULL. */
static const char *header(const char *p, const char *e, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *line = memchr(p, '\n', (size_t)(e - p));
    while (line != NULL && line + 1 < e) {
        line++;
        const char *eol = memchr(line, '\n', (size_t)(e - line));
        if (eol == NULL)
            break;
        if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *vlen = (size_t)(ve - v);
            return v;
        }
        line = eol;
    }
    return NULL;
}

/* Parses the request head; returns the bytes consumed (0: incomplete). */
static size_t on_http(conn_t *c, const char *p, size_t n)
{
    const char *end = NULL;
    for (size_t i = 3; i < n; i++)
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') {
            end = p + i + 1;
            break;
        }
    if (end == NULL) {
        if (n > MAX_HEAD) {
            send_raw(c, R400, sizeof(R400) - 1);
            c->close_sent = 1;
        }
        return 0;
    }
    size_t used = (size_t)(end - p);
    if (n < 5 || memcmp(p, "GET /", 5) != 0) {
        send_raw(c, R400, sizeof(R400) - 1);
        c->close_sent = 1;
        return used;
    }
    if (n >= 12 && memcmp(p + 4, "/health", 7) == 0 && (p[11] == ' ' || p[11] == '?')) {
        send_raw(c, R200, sizeof(R200) - 1);
        c->close_sent = 1;
        return used;
    }
    size_t kl = 0;
    const char *key = header(p, end, "Sec-WebSocket-Key", &kl);
    if (key == NULL || kl == 0 || kl > 64) {
        send_raw(c, R400, sizeof(R400) - 1);
        c->close_sent = 1;
        return used;
    }
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char cat[64 + sizeof(guid)], sha[SHA_DIGEST_LENGTH];
    memcpy(cat, key, kl);
    memcpy(cat + kl, guid, sizeof(guid) - 1);
    SHA1(cat, kl + sizeof(guid) - 1, sha);
    char accept[32];
    EVP_EncodeBlock((unsigned char *)accept, sha, SHA_DIGEST_LENGTH);
    char head[256], sid[21], open[160];
    int hn = snprintf(head, sizeof(head),
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                      accept);
    send_raw(c, head, (size_t)hn);
    make_sid(sid, 'E', c->id);
    int on = snprintf(open, sizeof(open),
                      "0{\"sid\":\"%s\",\"upgrades\":[],\"pingInterval\":%d,\"pingTimeout\":20000,"
                      "\"maxPayload\":1000000}",
                      sid, PING_INTERVAL_MS);
    send_text(c, open, (size_t)on);
    c->state = ST_WS;
    return used;
}

/* ------------------------------------------------------------------ loop */

static size_t on_input(conn_t *c, unsigned char *p, size_t n)
{
    size_t off = 0;
    if (c->state == ST_HTTP) {
        off = on_http(c, (const char *)p, n);
        if (c->close_sent)
            return n; /* answered: nothing after it is read */
        if (c->state == ST_HTTP)
            return 0; /* the head is incomplete */
    }
    return off + on_ws(c, p + off, n - off);
}

static void on_readable(conn_t *c)
{
    ssize_t r = read(c->fd, g.rbuf, sizeof(g.rbuf));
    if (r == 0) {
        conn_close(c);
        return;
    }
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            conn_close(c);
        return;
    }
    if (c->close_sent)
        return;           /* answered; the rest is discarded */
    if (c->in.len == 0) { /* usual case: parse straight from the shared buffer */
        size_t used = on_input(c, g.rbuf, (size_t)r);
        if (!c->closed && used < (size_t)r)
            buf_add(&c->in, g.rbuf + used, (size_t)r - used);
    } else {
        buf_add(&c->in, g.rbuf, (size_t)r);
        size_t used = on_input(c, (unsigned char *)c->in.base, c->in.len);
        if (c->closed)
            return;
        memmove(c->in.base, c->in.base + used, c->in.len - used);
        c->in.len -= used;
    }
    if (!c->closed && c->in.len > MAX_IN_BYTES)
        conn_close(c);
}

static void on_accept(void)
{
    for (;;) {
        int fd = accept4(g.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                fprintf(stderr, "sioc-floor: accept: %s\n", strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn_t *c = calloc(1, sizeof(*c));
        if (c == NULL)
            abort();
        c->fd = fd;
        c->id = ++g.next_id;
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            continue;
        }
        c->all_slot = g.nall;
        ptrs_push(&g.all, &g.nall, &g.all_cap, c);
    }
}

static void ping_all(void)
{
    static const unsigned char ping[] = {0x81, 0x01, '2'};
    for (size_t i = 0; i < g.nall; i++)
        if (g.all[i]->state == ST_WS)
            send_raw(g.all[i], ping, sizeof(ping));
}

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static int listen_on(const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "sioc-floor: --host must be an IPv4 address: %s\n", host);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4096) != 0)
        goto fail;
    return fd;
fail:
    fprintf(stderr, "sioc-floor: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sioc-floor [--host ADDR] [--port PORT]\n"
               "The floor for sioc-bench's fanout scenario: a WebSocket-only Engine.IO/Socket.IO\n"
               "server that does nothing but join rooms and copy one precomputed frame per\n"
               "message to every member, one write per connection per event-loop turn.\n"
               "  --host ADDR   IPv4 address to listen on [127.0.0.1]\n"
               "  --port PORT   [3000]\n"
               "  -h, --help    this text\n"
               "Events: join-room (acked {\"ok\":true}), send-message {roomId, msg} ->\n"
               "receive-message msg to the room. Any CONNECT auth is accepted; a ping every 25 s.\n"
               "GET /health answers 200 ok. SIGTERM or SIGINT stops it.\n");
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 3000;
    static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *e;
        switch (ch) {
        case 'H':
            host = optarg;
            break;
        case 'p':
            port = (int)strtol(optarg, &e, 10);
            if (*optarg == '\0' || *e != '\0' || port < 0 || port > 65535) {
                fprintf(stderr, "sioc-floor: bad --port %s\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    g.lfd = listen_on(host, port);
    if (g.lfd < 0)
        return 1;
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    if (g.ep < 0 || epoll_ctl(g.ep, EPOLL_CTL_ADD, g.lfd, &lev) != 0) {
        fprintf(stderr, "sioc-floor: epoll: %s\n", strerror(errno));
        return 1;
    }
    fprintf(stderr, "sioc-floor: listening on %s:%d\n", host, port);

    static struct epoll_event evs[EVENTS_PER_TURN];
    long long next_ping = now_ms() + PING_INTERVAL_MS;
    while (!stopping) {
        long long wait = next_ping - now_ms();
        int n = epoll_wait(g.ep, evs, EVENTS_PER_TURN, wait > 0 ? (int)wait : 0);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "sioc-floor: epoll_wait: %s\n", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (c == NULL) {
                on_accept();
                continue;
            }
            if (c->closed)
                continue;
            if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                conn_close(c);
                continue;
            }
            if (evs[i].events & EPOLLOUT)
                mark_dirty(c);
            if (evs[i].events & EPOLLIN)
                on_readable(c);
        }
        if (now_ms() >= next_ping) {
            ping_all();
            next_ping += PING_INTERVAL_MS;
        }
        /* the end of the turn: one write per connection with output */
        for (size_t i = 0; i < g.ndirty; i++) {
            conn_t *c = g.dirty[i];
            c->dirty = 0;
            if (!c->closed)
                flush(c);
        }
        g.ndirty = 0;
        reap();
    }
    return 0;
}
