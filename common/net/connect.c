/*
 * connect.c - outbound TCP (connect.h).
 */
#include "connect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"

static int parse_port(const char *s, int *port)
{
    if (*s == '\0')
        return SIOC_EINVAL;
    long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > 65535)
            return SIOC_EINVAL;
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > 65535)
        return SIOC_EINVAL;
    *port = (int)v;
    return 0;
}

int net_connect_parse(const char *hostport, struct sockaddr_storage *ss, socklen_t *len,
                      int resolve)
{
    char host[256];
    const char *colon;
    size_t hlen;
    if (hostport[0] == '[') {
        const char *close = strchr(hostport, ']');
        if (close == NULL || close[1] != ':')
            return SIOC_EINVAL;
        hlen = (size_t)(close - hostport - 1);
        if (hlen >= sizeof(host))
            return SIOC_EINVAL;
        memcpy(host, hostport + 1, hlen);
        colon = close + 1;
    } else {
        colon = strrchr(hostport, ':');
        if (colon == NULL)
            return SIOC_EINVAL;
        hlen = (size_t)(colon - hostport);
        if (hlen == 0 || hlen >= sizeof(host) || memchr(hostport, ':', hlen) != NULL)
            return SIOC_EINVAL;
        memcpy(host, hostport, hlen);
    }
    host[hlen] = '\0';
    int port;
    if (parse_port(colon + 1, &port) != 0)
        return SIOC_EINVAL;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof(*v4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*v6);
        return 0;
    }
    if (!resolve)
        return SIOC_EINVAL;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
        return SIOC_ENOENT;
    int r = SIOC_ENOENT;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        memcpy(ss, ai->ai_addr, ai->ai_addrlen);
        *len = (socklen_t)ai->ai_addrlen;
        if (ai->ai_family == AF_INET)
            v4->sin_port = htons((uint16_t)port);
        else
            v6->sin6_port = htons((uint16_t)port);
        r = 0;
        break;
    }
    freeaddrinfo(res);
    return r;
}

int net_connect_start(const struct sockaddr *sa, socklen_t len)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, sa, len) != 0 && errno != EINPROGRESS) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

int net_connect_result(int fd)
{
    int e = 0;
    socklen_t l = sizeof(e);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0)
        return -errno;
    return -e;
}

void net_connect_format(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
        port = ntohs(v4->sin_port);
        snprintf(out, cap, "%s:%d", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
        port = ntohs(v6->sin6_port);
        snprintf(out, cap, "[%s]:%d", host, port);
    } else {
        snprintf(out, cap, "?");
    }
}
