/*
 * listener.c - listening sockets (listener.h).
 */
#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/log.h"

struct net_listener {
    int fd;
    int spare_fd;
    int port;
    net_accept_cb cb;
    void *data;
    struct event ev;
};

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    net_listener_t *l = arg;
    for (int i = 0; i < 256; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            if ((errno == EMFILE || errno == ENFILE) && l->spare_fd >= 0) {
                static long long last;
                if (log_ratelimited(&last))
                    log_warn("out of file descriptors: shedding new connections");
                close(l->spare_fd);
                int s = accept(fd, NULL, NULL);
                if (s >= 0)
                    close(s);
                l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                continue;
            }
            return; /* EAGAIN, or an error for this one connection */
        }
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        l->cb(l, c, (struct sockaddr *)&ss, len, l->data);
    }
}

static int bound_port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

int net_listener_bind(const char *host, int port, int backlog, int reuseport, int *bound_port)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    if (getaddrinfo(host, portstr, &hints, &ai) != 0 || ai == NULL)
        return SIOC_EINVAL;
    int err;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        err = -errno;
        goto fail_socket;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        err = -errno;
        goto fail_bind;
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
        err = -errno;
        goto fail_bind;
    }
    freeaddrinfo(ai);
    if (bound_port != NULL)
        *bound_port = bound_port_of(fd);
    return fd;

fail_bind:
    close(fd);
fail_socket:
    freeaddrinfo(ai);
    return err;
}

net_listener_t *net_listener_adopt(net_loop_t *loop, int fd, net_accept_cb cb, void *data)
{
    net_listener_t *l = xcalloc(1, sizeof(*l));
    l->fd = fd;
    l->cb = cb;
    l->data = data;
    l->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    l->port = bound_port_of(fd);
    event_assign(&l->ev, net_loop_base(loop), fd, EV_READ | EV_PERSIST, on_accept, l);
    event_add(&l->ev, NULL);
    return l;
}

net_listener_t *net_listener_new(net_loop_t *loop, const char *host, int port, int backlog,
                                 net_accept_cb cb, void *data, int *err)
{
    int fd = net_listener_bind(host, port, backlog, 0, NULL);
    if (fd < 0) {
        *err = fd;
        return NULL;
    }
    return net_listener_adopt(loop, fd, cb, data);
}

int net_listener_port(const net_listener_t *l)
{
    return l->port;
}

void net_listener_pause(net_listener_t *l)
{
    event_del(&l->ev);
}

void net_listener_resume(net_listener_t *l)
{
    event_add(&l->ev, NULL);
}

void net_listener_free(net_listener_t *l)
{
    if (l == NULL)
        return;
    event_del(&l->ev);
    close(l->fd);
    if (l->spare_fd >= 0)
        close(l->spare_fd);
    free(l);
}

void net_addr_str(const struct sockaddr *sa, char *out, size_t cap)
{
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, (socklen_t)cap);
        else
            inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)cap);
    } else if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    } else {
        snprintf(out, cap, "unix");
    }
}
