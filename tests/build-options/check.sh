#!/bin/bash
# The worker's build options for the embedded client bundle, each built with
# ASan+UBSan and checked end to end:
#   -DSIOC_SERVE_CLIENT=OFF   no bundle: 404 at <path>socket.io.js, a warning at
#                             start-up, --chat-page refused, Engine.IO unaffected
#   -DSIOC_CLIENT_DIST=<dir>  the bundle taken from that directory (no npm):
#                             served byte for byte
# Usage: tests/build-options/check.sh   (from the repository root; builds in
# build/opt-*). Prints "ok"/"not ok" lines; exits non-zero on any failure.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
jobs=$(nproc 2>/dev/null || echo 2)
dist="$root/tests/node_modules/socket.io-client/dist"
san_dir="$root/build/test-logs/sanitizer-build-options"
rm -rf "$san_dir"; mkdir -p "$san_dir"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$san_dir/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$san_dir/ubsan"
failures=0
pids=()
check() { # name command...
    local name=$1; shift
    if "$@"; then echo "ok - $name"; else echo "not ok - $name"; failures=$((failures + 1)); fi
}
build() { # dir cmake-args...
    local dir=$1; shift
    cmake --preset asan-ubsan -B "$dir" -DSIOC_TESTS=OFF "$@" >"$dir.configure.log" 2>&1 &&
        cmake --build "$dir" -j"$jobs" --target sioc-worker >"$dir.build.log" 2>&1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # binary log args...; sets $port and $pid
    local bin=$1 log=$2; shift 2
    port=$(free_port)
    "$bin" --host 127.0.0.1 --port "$port" --app chat "$@" >"$log" 2>&1 &
    pid=$!
    pids+=("$pid")
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
status_of() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$1"; }
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; pids=(); }
trap stop_all EXIT

mkdir -p build
noclient=build/opt-no-client
fromdist=build/opt-client-dist
check "build with -DSIOC_SERVE_CLIENT=OFF" build "$noclient" -DSIOC_SERVE_CLIENT=OFF
check "build with -DSIOC_CLIENT_DIST=$dist" build "$fromdist" -DSIOC_CLIENT_DIST="$dist"

if [ -x "$noclient/worker/sioc-worker" ]; then
    log="$noclient/worker.log"
    check "SIOC_SERVE_CLIENT=OFF: the worker starts" start "$noclient/worker/sioc-worker" "$log"
    check "SIOC_SERVE_CLIENT=OFF: 404 at /socket.io/socket.io.js" [ "$(status_of /socket.io/socket.io.js)" = 404 ]
    check "SIOC_SERVE_CLIENT=OFF: Engine.IO handshake still works" \
        bash -c "curl -s 'http://127.0.0.1:$port/socket.io/?EIO=4&transport=polling' | grep -q '^0{\"sid\"'"
    check "SIOC_SERVE_CLIENT=OFF: a warning says the build has no bundle" grep -q "this build has no socket.io-client bundle" "$log"
    stop_all
    refused() {
        ! "$noclient/worker/sioc-worker" --host 127.0.0.1 --port 0 --app chat --chat-page >"$noclient/refused.log" 2>&1 &&
            grep -q "needs the client bundle" "$noclient/refused.log"
    }
    check "SIOC_SERVE_CLIENT=OFF: --chat-page is refused at start-up" refused
fi
if [ -x "$fromdist/worker/sioc-worker" ]; then
    check "SIOC_CLIENT_DIST: the worker starts" start "$fromdist/worker/sioc-worker" "$fromdist/worker.log" --chat-page
    for f in socket.io.min.js socket.io.js.map; do
        check "SIOC_CLIENT_DIST: $f served byte for byte" \
            bash -c "curl -fs 'http://127.0.0.1:$port/socket.io/$f' | cmp -s - '$dist/$f'"
    done
    version=$(node -p "require('$dist/../package.json').version")
    check "SIOC_CLIENT_DIST: ETag is the package version ($version)" \
        bash -c "curl -sI 'http://127.0.0.1:$port/socket.io/socket.io.js' | grep -qi '^etag: \"$version\"'"
    check "SIOC_CLIENT_DIST: the chat page is served" [ "$(status_of /)" = 200 ]
    stop_all
fi
check "no sanitizer report" [ -z "$(ls -A "$san_dir")" ]
[ -n "$(ls -A "$san_dir")" ] && head -30 "$san_dir"/*
exit $((failures > 0))
