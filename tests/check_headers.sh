#!/bin/sh
# Compiles each header alone: a header must include what it uses.
cc=$1; root=$2; shift 2
fail=0
for h in "$@"; do
    if ! printf '#include "%s"\n' "$h" | "$cc" -std=gnu11 -fsyntax-only -Wall -Werror \
        -I"$root/common" -I"$root" $(pkg-config --cflags libevent hiredis jansson libjwt 2>/dev/null) -x c - ; then
        echo "not self-contained: $h"; fail=1
    fi
done
exit $fail
