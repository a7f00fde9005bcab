/*
 * handoff.c - the hand-off socket (handoff.h).
 */
#include "handoff.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/list.h"
#include "base/log.h"
#include "fdpass.h"

#define MAX_PER_WAKEUP 256

typedef struct hpeer {
    handoff_listener_t *h;
    int fd;
    sioc_list_t link;
    struct event ev;
} hpeer_t;

struct handoff_listener {
    int fd;
    char *path;
    handoff_cb cb;
    void *data;
    net_loop_t *loop;
    struct event ev;
    sioc_list_t peers;
    uint8_t *buf; /* one message, FDPASS_MAX_MSG */
    dev_t dev;    /* the socket file we bound, so that free removes only that one */
    ino_t ino;
    unsigned long long received, dropped;
};

static int make_addr(const char *path, struct sockaddr_un *sun)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(sun->sun_path))
        return SIOC_EINVAL;
    memcpy(sun->sun_path, path, n + 1);
    return 0;
}

static void peer_free(hpeer_t *pr)
{
    event_del(&pr->ev);
    close(pr->fd);
    list_remove(&pr->link);
    free(pr);
}

static void drop(handoff_listener_t *h, const char *why)
{
    h->dropped++;
    static long long last;
    if (log_ratelimited(&last))
        log_warn("hand-off: message dropped: %s", why);
}

/* Up to MAX_PER_WAKEUP messages of one proxy's connection: 1 when more may be queued, 0 when
 * none is, -1 when the connection is gone (pr freed). */
static int peer_read(hpeer_t *pr)
{
    handoff_listener_t *h = pr->h;
    for (int i = 0; i < MAX_PER_WAKEUP; i++) {
        int cfd = -1;
        int n = fdpass_recv(pr->fd, h->buf, FDPASS_MAX_MSG, &cfd);
        if (n == SIOC_EAGAIN)
            return 0;
        if (n == SIOC_EMSGSIZE) {
            drop(h, "too long");
            continue;
        }
        if (n <= 0) {
            peer_free(pr); /* the proxy closed its end, or the connection failed */
            return -1;
        }
        fdpass_msg_t m;
        const char *reason = "truncated";
        int r = fdpass_parse(h->buf, (size_t)n, &m, &reason);
        if (r != n || cfd < 0) {
            if (cfd >= 0)
                close(cfd);
            drop(h, r == n ? "no descriptor" : r > 0 ? "trailing bytes" : reason);
            continue;
        }
        /* O_NONBLOCK lives in the open file, shared with the sender's copy: a proxy that
         * accepted it non-blocking spares the second call. */
        int fl = fcntl(cfd, F_GETFL);
        if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(cfd, F_SETFL, fl | O_NONBLOCK) != 0)) {
            close(cfd);
            drop(h, "not a usable descriptor");
            continue;
        }
        h->received++;
        h->cb(h, cfd, (const struct sockaddr *)&m.peer, m.peer_len, m.data, m.data_len, h->data);
    }
    return 1;
}

static void on_peer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)peer_read(arg);
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    handoff_listener_t *h = arg;
    for (int i = 0; i < 64; i++) {
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0)
            return;
        hpeer_t *pr = xcalloc(1, sizeof(*pr));
        pr->h = h;
        pr->fd = c;
        list_insert_tail(&h->peers, &pr->link);
        event_assign(&pr->ev, net_loop_base(h->loop), c, EV_READ | EV_PERSIST, on_peer, pr);
        event_add(&pr->ev, NULL);
    }
}

handoff_listener_t *handoff_listener_new(net_loop_t *loop, const char *path, handoff_cb cb,
                                         void *data, int *err)
{
    struct sockaddr_un sun;
    if (make_addr(path, &sun) != 0) {
        *err = SIOC_EINVAL;
        return NULL;
    }
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = -errno;
        goto fail_socket;
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, 128) != 0) {
        *err = -errno;
        goto fail_bind;
    }
    handoff_listener_t *h = xcalloc(1, sizeof(*h));
    h->fd = fd;
    h->path = xstrdup(path);
    h->cb = cb;
    h->data = data;
    h->loop = loop;
    h->buf = xmalloc(FDPASS_MAX_MSG);
    struct stat st;
    if (stat(path, &st) == 0) {
        h->dev = st.st_dev;
        h->ino = st.st_ino;
    }
    list_init(&h->peers);
    event_assign(&h->ev, net_loop_base(loop), fd, EV_READ | EV_PERSIST, on_accept, h);
    event_add(&h->ev, NULL);
    return h;

fail_bind:
    close(fd);
fail_socket:
    return NULL;
}

unsigned long long handoff_listener_received(const handoff_listener_t *h)
{
    return h->received;
}

unsigned long long handoff_listener_dropped(const handoff_listener_t *h)
{
    return h->dropped;
}

void handoff_listener_close(handoff_listener_t *h)
{
    if (h == NULL)
        return;
    /* The clients already queued are the owner's; then the proxies find the path gone. */
    while (!list_empty(&h->peers)) {
        hpeer_t *pr = container_of(h->peers.next, hpeer_t, link);
        int r;
        while ((r = peer_read(pr)) > 0)
            ;
        if (r == 0)
            peer_free(pr);
    }
    handoff_listener_free(h);
}

void handoff_listener_free(handoff_listener_t *h)
{
    if (h == NULL)
        return;
    while (!list_empty(&h->peers))
        peer_free(container_of(h->peers.next, hpeer_t, link));
    event_del(&h->ev);
    close(h->fd);
    /* A successor may have bound the path meanwhile (a restart): its file stays. */
    struct stat st;
    if (stat(h->path, &st) == 0 && st.st_dev == h->dev && st.st_ino == h->ino)
        unlink(h->path);
    free(h->path);
    free(h->buf);
    free(h);
}

static int connect_path(const char *path)
{
    struct sockaddr_un sun;
    if (make_addr(path, &sun) != 0)
        return SIOC_EINVAL;
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        /* -ENOENT is SIOC_INCOMPLETE's value: no socket file gets its own code. */
        int e = errno == ENOENT ? SIOC_ENOENT : -errno;
        close(s);
        return e;
    }
    return s;
}

int handoff_send(int *sock, const char *path, int fd, const struct sockaddr *peer, const void *data,
                 size_t len)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int fresh = 0;
        if (*sock < 0) {
            int s = connect_path(path);
            if (s < 0)
                return s;
            *sock = s;
            fresh = 1;
        }
        int r = fdpass_send(*sock, fd, peer, data, len);
        if (r == 0 || r == SIOC_EAGAIN)
            return r; /* a full queue is the worker's backlog, not a broken connection */
        close(*sock);
        *sock = -1;
        /* A kept connection whose worker restarted: one more try on a new one. */
        if (fresh || (r != -EPIPE && r != SIOC_ECONNRESET && r != -ENOTCONN))
            return r;
    }
    return -EPIPE;
}
