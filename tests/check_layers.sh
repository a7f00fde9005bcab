#!/bin/sh
# The codec layers are pure: no sockets, no event loop, no Redis client.
root=$1
bad=$(grep -nE '#include *<(event2/|hiredis/|sys/socket\.h|netinet/|arpa/inet\.h|unistd\.h|openssl/ssl\.h)' \
      "$root"/common/base/*.[ch] "$root"/common/http/*.[ch] "$root"/common/ws/*.[ch] \
      "$root"/common/eio/*.[ch] "$root"/common/sio/*.[ch] "$root"/common/adapter/*.[ch] 2>/dev/null)
if [ -n "$bad" ]; then
    echo "forbidden include in a codec layer:"; echo "$bad"; exit 1
fi
# The worker's Engine.IO session state machine reaches the loop and the sockets only
# through its hooks (net/loop.h is allowed for the net_deferred_t node type alone).
bad=$(grep -nE '#include *(<(event2/|hiredis/|sys/socket\.h|netinet/|unistd\.h)|"(net/conn|net/listener|engine|client|polling|websocket|worker)\.h")' \
      "$root"/worker/eio_session.[ch] 2>/dev/null)
if [ -n "$bad" ]; then
    echo "forbidden include in worker/eio_session:"; echo "$bad"; exit 1
fi
echo "layers ok"
