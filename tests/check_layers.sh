#!/bin/sh
# The codec layers are pure: no sockets, no event loop, no Redis client.
root=$1
bad=$(grep -nE '#include *<(event2/|hiredis/|sys/socket\.h|netinet/|arpa/inet\.h|unistd\.h|openssl/ssl\.h)' \
      "$root"/common/base/*.[ch] "$root"/common/http/*.[ch] "$root"/common/ws/*.[ch] \
      "$root"/common/eio/*.[ch] "$root"/common/sio/*.[ch] "$root"/common/adapter/*.[ch] 2>/dev/null)
if [ -n "$bad" ]; then
    echo "forbidden include in a codec layer:"; echo "$bad"; exit 1
fi
echo "layers ok"
