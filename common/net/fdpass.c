/*
 * fdpass.c - descriptor passing with a message (fdpass.h).
 */
#include "fdpass.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/err.h"

static const uint8_t magic[4] = {'S', 'I', 'O', 'H'};

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int fdpass_encode(uint8_t *out, const struct sockaddr *peer, size_t data_len)
{
    if (data_len > FDPASS_MAX_DATA)
        return SIOC_EINVAL;
    memset(out, 0, FDPASS_HEADER_LEN);
    memcpy(out, magic, 4);
    out[4] = 1;
    uint16_t port;
    if (peer->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)peer;
        out[5] = 4;
        port = ntohs(s4->sin_port);
        memcpy(out + 8, &s4->sin_addr, 4);
    } else if (peer->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)peer;
        out[5] = 6;
        port = ntohs(s6->sin6_port);
        memcpy(out + 8, &s6->sin6_addr, 16);
    } else {
        return SIOC_EINVAL;
    }
    out[6] = (uint8_t)(port >> 8);
    out[7] = (uint8_t)port;
    put32(out + 24, (uint32_t)data_len);
    return 0;
}

int fdpass_parse(const uint8_t *buf, size_t len, fdpass_msg_t *m, const char **reason)
{
    size_t have = len < 4 ? len : 4;
    if (memcmp(buf, magic, have) != 0) {
        *reason = "bad magic";
        return SIOC_EPROTO;
    }
    if (len >= 5 && buf[4] != 1) {
        *reason = "unknown version";
        return SIOC_EPROTO;
    }
    if (len >= 6 && buf[5] != 4 && buf[5] != 6) {
        *reason = "unknown address family";
        return SIOC_EPROTO;
    }
    if (len < FDPASS_HEADER_LEN)
        return SIOC_INCOMPLETE;
    if (buf[5] == 4) {
        static const uint8_t zero[12] = {0};
        if (memcmp(buf + 12, zero, 12) != 0) {
            *reason = "IPv4 address with stray bytes";
            return SIOC_EPROTO;
        }
    }
    uint32_t dlen = get32(buf + 24);
    if (dlen > FDPASS_MAX_DATA) {
        *reason = "data too long";
        return SIOC_EPROTO;
    }
    if (get32(buf + 28) != 0) {
        *reason = "reserved field set";
        return SIOC_EPROTO;
    }
    if (len - FDPASS_HEADER_LEN < dlen)
        return SIOC_INCOMPLETE;
    uint16_t port = (uint16_t)(buf[6] << 8 | buf[7]);
    memset(&m->peer, 0, sizeof(m->peer));
    if (buf[5] == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&m->peer;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        memcpy(&s4->sin_addr, buf + 8, 4);
        m->peer_len = sizeof(*s4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&m->peer;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        memcpy(&s6->sin6_addr, buf + 8, 16);
        m->peer_len = sizeof(*s6);
    }
    m->data = buf + FDPASS_HEADER_LEN;
    m->data_len = dlen;
    return (int)(FDPASS_HEADER_LEN + dlen);
}

int fdpass_send(int sock, int fd, const struct sockaddr *peer, const void *data, size_t len)
{
    uint8_t head[FDPASS_HEADER_LEN];
    int r = fdpass_encode(head, peer, len);
    if (r != 0)
        return r;
    struct iovec iov[2] = {{head, sizeof(head)}, {(void *)data, len}};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } ctl;
    memset(&ctl, 0, sizeof(ctl));
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = iov;
    msg.msg_iovlen = len > 0 ? 2 : 1;
    msg.msg_control = ctl.space;
    msg.msg_controllen = sizeof(ctl.space);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n;
    do {
        n = sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    /* A sequenced-packet socket sends all or nothing; anything else is misuse. */
    return (size_t)n == sizeof(head) + len ? 0 : SIOC_EINVAL;
}

int fdpass_recv(int sock, uint8_t *buf, size_t cap, int *fd)
{
    *fd = -1;
    struct iovec iov = {buf, cap};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int) * 4)];
    } ctl;
    struct msghdr msg;
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.space;
    msg.msg_controllen = sizeof(ctl.space);
    ssize_t n;
    do {
        n = recvmsg(sock, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    int got = -1, extra = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int d;
            memcpy(&d, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (got < 0) {
                got = d;
            } else {
                close(d); /* one descriptor per message: the others are not ours to keep */
                extra = 1;
            }
        }
    }
    if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || extra) {
        if (got >= 0)
            close(got);
        return SIOC_EMSGSIZE;
    }
    *fd = got;
    return (int)n;
}
