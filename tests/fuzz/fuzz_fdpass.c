/*
 * fuzz_fdpass.c - libFuzzer target for the hand-off message codec (net/fdpass.h).
 *
 * Invariants, each an abort() when broken:
 *  - the result is a length within the input, SIOC_INCOMPLETE or SIOC_EPROTO with a
 *    reason;
 *  - a parsed message spans its header and data exactly, its data slice lies inside
 *    the input, its address is IPv4 or IPv6 with the matching length;
 *  - re-encoding the parsed address and data length gives the same header bytes;
 *  - every prefix of a parsed message is incomplete, never malformed.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/fdpass.h"
#include "tests/fuzz/fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    fdpass_msg_t m;
    const char *reason = NULL;
    int r = fdpass_parse(data, size, &m, &reason);
    if (r == SIOC_INCOMPLETE)
        return 0;
    if (r < 0) {
        CHECK(r == SIOC_EPROTO && reason != NULL);
        return 0;
    }
    CHECK((size_t)r <= size && (size_t)r == FDPASS_HEADER_LEN + m.data_len);
    CHECK(m.data == data + FDPASS_HEADER_LEN && m.data_len <= FDPASS_MAX_DATA);
    CHECK((m.peer.ss_family == AF_INET && m.peer_len == sizeof(struct sockaddr_in)) ||
          (m.peer.ss_family == AF_INET6 && m.peer_len == sizeof(struct sockaddr_in6)));
    uint8_t head[FDPASS_HEADER_LEN];
    CHECK(fdpass_encode(head, (const struct sockaddr *)&m.peer, m.data_len) == 0);
    CHECK(memcmp(head, data, FDPASS_HEADER_LEN) == 0);
    for (size_t i = 1; i < (size_t)r; i += 1 + i / 8) {
        fdpass_msg_t m2;
        CHECK(fdpass_parse(data, i, &m2, &reason) == SIOC_INCOMPLETE);
    }
    return 0;
}
