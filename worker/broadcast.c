/*
 * broadcast.c - the in-memory adapter (broadcast.h): everything is local.
 */
#include "broadcast.h"

void broadcast_join(sio_socket_t *s, sioc_iov_t room, int has_ack, unsigned long long ack_id)
{
    int r = sio_join(s, room);
    if (!has_ack)
        return;
    if (r == 0)
        (void)sio_ack(s, ack_id, SIOC_LIT("[{\"ok\":true}]"), NULL, 0);
    else
        (void)sio_ack(s, ack_id, SIOC_LIT("[{\"ok\":false,\"error\":\"cannot join\"}]"), NULL, 0);
}

void broadcast_leave(sio_socket_t *s, sioc_iov_t room)
{
    (void)sio_leave(s, room);
}

void broadcast_emit(sio_nsp_t *nsp, const sioc_iov_t *rooms, size_t n_rooms,
                    const sioc_iov_t *except, size_t n_except, sioc_iov_t json_array,
                    const sioc_iov_t *att, size_t n_att)
{
    (void)sio_broadcast(nsp, rooms, n_rooms, except, n_except, json_array, att, n_att);
}
