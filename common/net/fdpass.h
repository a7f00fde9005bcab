/*
 * fdpass.h - passing an accepted TCP socket to another process on the host.
 *
 * A proxy that has read the start of a client's stream hands the socket to a
 * worker on the same kernel: one message on a Unix-domain SOCK_SEQPACKET
 * connection carries the descriptor (SCM_RIGHTS, unix(7)), the client's
 * address and the bytes already read from the socket, which the receiver
 * must consume before anything it reads itself, so that no byte of the
 * client's stream is lost or reordered.
 *
 * Message (all integers big-endian), FDPASS_HEADER_LEN bytes then the data:
 *   0  "SIOH"          magic
 *   4  u8  version     1
 *   5  u8  family      4 or 6
 *   6  u16 port        the client's port
 *   8  u8  addr[16]    IPv4 in the first 4 bytes (rest zero), or IPv6
 *  24  u32 data_len    bytes of data after the header (<= FDPASS_MAX_DATA)
 *  28  u32 reserved    0
 *  32  data
 * fdpass_parse() is a codec with the picohttpparser contract; fdpass_send()
 * and fdpass_recv() are the two system calls around it. A sequenced-packet
 * socket keeps message boundaries and sends a message whole or not at all, so
 * a message never arrives in parts. Thread-safe (no state).
 */
#ifndef SIOC_COMMON_NET_FDPASS_H
#define SIOC_COMMON_NET_FDPASS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define FDPASS_HEADER_LEN 32
/* Bytes of data in one message: a proxy's largest head plus what it read after it. */
#define FDPASS_MAX_DATA (192 * 1024)
#define FDPASS_MAX_MSG (FDPASS_HEADER_LEN + FDPASS_MAX_DATA)

/** A parsed message: the client's address and a slice of the data (into the parsed buffer). */
typedef struct {
    struct sockaddr_storage peer;
    socklen_t peer_len;
    const uint8_t *data;
    size_t data_len;
} fdpass_msg_t;

/**
 * Writes the header for a message about `peer` (AF_INET or AF_INET6) with `data_len`
 * bytes of data into out[FDPASS_HEADER_LEN]. Returns 0, or SIOC_EINVAL (another family,
 * data_len over FDPASS_MAX_DATA). Borrows peer.
 */
int fdpass_encode(uint8_t *out, const struct sockaddr *peer, size_t data_len);

/**
 * Parses one message in buf[0..len). Returns the bytes it spans (header + data),
 * SIOC_INCOMPLETE when len is short of that, or SIOC_EPROTO with *reason (static text)
 * when it is malformed. m->data points into buf (valid while buf is).
 */
int fdpass_parse(const uint8_t *buf, size_t len, fdpass_msg_t *m, const char **reason);

/**
 * Sends `fd` with the message about `peer` and data[0..len) on the sequenced-packet
 * socket `sock`, without blocking. Returns 0 (the receiver holds a copy of fd; the caller
 * still owns its own), or a negative -errno (SIOC_EAGAIN: the receiver's queue is full;
 * -EPIPE / SIOC_ECONNRESET: the receiver is gone) or SIOC_EINVAL. Borrows everything.
 */
int fdpass_send(int sock, int fd, const struct sockaddr *peer, const void *data, size_t len);

/**
 * Receives one message into buf[0..cap) (cap >= FDPASS_MAX_MSG) without blocking. Returns
 * its length (> 0) with *fd the descriptor it carried (owned by the caller; -1 when it
 * carried none), 0 at end of stream, or a negative -errno (SIOC_EAGAIN: nothing queued).
 * A message cut short (more data or descriptors than fit) has its descriptors closed and
 * gives SIOC_EMSGSIZE.
 */
int fdpass_recv(int sock, uint8_t *buf, size_t cap, int *fd);

#endif
