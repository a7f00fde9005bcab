#!/bin/sh
# The codec layers are pure: no sockets, no event loop, no Redis client.
root=$1
bad=$(grep -nE '#include *<(event2/|hiredis/|sys/socket\.h|netinet/|arpa/inet\.h|unistd\.h|openssl/ssl\.h)' \
      "$root"/common/base/*.[ch] "$root"/common/http/*.[ch] "$root"/common/ws/*.[ch] \
      "$root"/common/eio/*.[ch] "$root"/common/sio/*.[ch] "$root"/common/adapter/*.[ch] 2>/dev/null)
if [ -n "$bad" ]; then
    echo "forbidden include in a codec layer:"; echo "$bad"; exit 1
fi
# common/base is the leaf: libc only, nothing from the layers above it.
bad=$(grep -nE '#include *("(http|ws|eio|sio|adapter|net)/|<(openssl|jansson|msgpack)[/.])' \
      "$root"/common/base/*.[ch] 2>/dev/null)
if [ -n "$bad" ]; then
    echo "common/base includes a layer above it or a library:"; echo "$bad"; exit 1
fi
# One home for each byte-level rule: base64 (base/base64.c), the UTF-8
# sequence reader, writer and U+FFFD repair (base/utf8.c), hex digit values
# (base/hex.h), JSON string escaping (sio/sio_json.c). A private helper under
# one of the old names is a copy coming back.
bad=$(grep -nE '^static[^(]*[ *](hexval|hex4|utf8_seq|utf8_ok|utf8_repair|utf8_put|put_json_str|b64url|is_b64)\(' \
      "$root"/common/*/*.[ch] "$root"/worker/*.[ch] "$root"/proxy/*.[ch] "$root"/bench/*/*.[ch] 2>/dev/null)
if [ -n "$bad" ]; then
    echo "a second copy of a rule that has one home (base/base64, base/utf8, base/hex.h, sio/sio_json):"
    echo "$bad"; exit 1
fi
# The worker's Engine.IO session state machine reaches the loop and the sockets only
# through its hooks (net/loop.h is allowed for the net_deferred_t node type alone).
bad=$(grep -nE '#include *(<(event2/|hiredis/|sys/socket\.h|netinet/|unistd\.h)|"(net/conn|net/listener|engine|client|polling|websocket|worker)\.h")' \
      "$root"/worker/eio_session.[ch] 2>/dev/null)
if [ -n "$bad" ]; then
    echo "forbidden include in worker/eio_session:"; echo "$bad"; exit 1
fi
echo "layers ok"
