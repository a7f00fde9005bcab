#!/bin/bash
# tests/deploy/check-compose.sh - static checks of the container deployment.
#
# No Docker engine is needed (none is used: nothing is built or run in Docker).
#   1. deploy/docker-compose.yml is valid for Debian's docker-compose (`config -q`),
#      with JWT_SECRET set, with deploy/conf/compose.env.example, and refused
#      without JWT_SECRET; its resolved form has the promised shape (redis, worker,
#      proxy; health checks; only the proxy publishes a port; discovery in Redis;
#      workers scalable; the profile redis-cluster: six cluster-enabled nodes and a
#      one-shot job whose script parses and joins them, 3 primaries + 3 replicas;
#      REDIS_URL reaches the workers and the proxy).
#   2. deploy/Dockerfile: both stages on debian:bookworm-slim; the packages each
#      stage installs, evaluated from the Dockerfile's own shell text, are exactly
#      the "build" / "runtime" groups of deploy/packages.txt; non-root user,
#      HEALTHCHECK, every COPY source exists; the entrypoint scripts parse.
#   3. The build stage's sources (its COPY lines) are enough: they are copied
#      to a scratch directory and the stage's cmake configure step runs there
#      (CHECK_COMPOSE_BUILD=1: the whole build command).
#   4. When built binaries exist (SIOC_BUILD_DIR, default build/release), every
#      shared library they load comes from a "runtime" package, libc6, or a
#      dependency of a runtime package.
# Installs docker-compose with deploy/install-deps when it is missing.
# Prints "ok - ..." / "not ok - ..." per check; exits 1 when any failed.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
compose=deploy/docker-compose.yml
dockerfile=deploy/Dockerfile
packages=deploy/packages.txt
build_dir=${SIOC_BUILD_DIR:-$root/build/release}
failed=0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failed=1; }
check() { # description command...
    local what=$1; shift
    if "$@" >"$scratch/out" 2>&1; then ok "$what"; else not_ok "$what"; sed 's/^/    /' "$scratch/out" | head -20; fi
}

group() { # the packages of one group, as deploy/install-deps reads them
    while read -r pkg grp _; do
        case "$pkg" in '' | \#*) continue ;; esac
        [ "$grp" = "$1" ] && echo "$pkg"
    done <"$packages" | sort
}

# --- 1. docker-compose ---------------------------------------------------------
if ! command -v docker-compose >/dev/null 2>&1; then
    deploy/install-deps test >/dev/null || true
fi
if ! command -v docker-compose >/dev/null 2>&1; then
    not_ok "docker-compose is installed (deploy/install-deps test)"
    exit 1
fi
dummy_secret=check-compose-secret-0123456789abcdef
: >"$scratch/empty.env" # no .env of the working tree takes part
# REDIS_URL of the caller's environment would replace the default the checks expect.
unset REDIS_URL COMPOSE_PROFILES
check "docker-compose config -q accepts $compose (JWT_SECRET set)" \
    env JWT_SECRET=$dummy_secret docker-compose --env-file "$scratch/empty.env" -f "$compose" config -q
check "docker-compose config -q accepts it with deploy/conf/compose.env.example" \
    env -u JWT_SECRET docker-compose --env-file deploy/conf/compose.env.example -f "$compose" config -q
if env -u JWT_SECRET docker-compose --env-file "$scratch/empty.env" -f "$compose" config -q >"$scratch/out" 2>&1; then
    not_ok "config refuses to run without JWT_SECRET"
elif grep -q JWT_SECRET "$scratch/out"; then
    ok "config refuses to run without JWT_SECRET, naming it"
else
    not_ok "config without JWT_SECRET fails but does not name it"; sed 's/^/    /' "$scratch/out"
fi
env JWT_SECRET=$dummy_secret docker-compose --env-file "$scratch/empty.env" -f "$compose" config >"$scratch/resolved.yml" 2>"$scratch/err" ||
    { not_ok "docker-compose config"; cat "$scratch/err"; }
seed=redis://redis-node-1:6379,redis-node-2:6379,redis-node-3:6379,redis-node-4:6379,redis-node-5:6379,redis-node-6:6379
env JWT_SECRET=$dummy_secret REDIS_URL=$seed docker-compose --env-file "$scratch/empty.env" -f "$compose" config >"$scratch/resolved-seed.yml" 2>"$scratch/err" ||
    { not_ok "docker-compose config with REDIS_URL"; cat "$scratch/err"; }
check "REDIS_URL (the redis-cluster profile's seed list) reaches the workers and the proxy" python3 - "$scratch/resolved-seed.yml" "$seed" <<'EOF'
import sys, yaml
s = yaml.safe_load(open(sys.argv[1]))["services"]
bad = {n: s[n]["environment"].get("REDIS_URL") for n in ("worker", "proxy") if s[n]["environment"].get("REDIS_URL") != sys.argv[2]}
print(bad or "", end="")
sys.exit(1 if bad else 0)
EOF
check "resolved compose file has the promised shape" python3 - "$scratch/resolved.yml" "$root" "$scratch" <<'EOF'
import re, subprocess, sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
root = sys.argv[2]
scratch = sys.argv[3]
s = c["services"]
errors = []
def need(cond, msg):
    if not cond:
        errors.append(msg)
base = {n for n, v in s.items() if not v.get("profiles")}
need(base == {"redis", "worker", "proxy"}, f"services without a profile are redis, worker, proxy (got {sorted(base)})")
nodes = [f"redis-node-{i}" for i in range(1, 7)]
profiled = {n for n, v in s.items() if v.get("profiles")}
need(profiled == set(nodes) | {"redis-cluster-create"},
     f"the profiled services are redis-node-1..6 and redis-cluster-create (got {sorted(profiled)})")
for n in sorted(profiled):
    need(s[n].get("profiles") == ["redis-cluster"], f"{n} is in the profile redis-cluster only (got {s[n].get('profiles')})")
    need(s[n].get("image", "").startswith("redis:7"), f"{n} is redis:7")
for n in nodes:
    v = s.get(n, {})
    cmd = v.get("command") or []
    need(cmd[:1] == ["redis-server"] and "--cluster-enabled" in cmd and cmd[cmd.index("--cluster-enabled") + 1] == "yes",
         f"{n} runs redis-server --cluster-enabled yes (got {cmd})")
    hc = v.get("healthcheck", {})
    need(hc.get("test") and not hc.get("disable"), f"{n} has a health check")
job = s.get("redis-cluster-create", {})
need(job.get("restart") == "no", "redis-cluster-create runs once (restart: \"no\")")
need({k: d.get("condition") for k, d in job.get("depends_on", {}).items()} == {n: "service_healthy" for n in nodes},
     "redis-cluster-create waits for the six nodes to be healthy")
# The job's script as the container's /bin/sh sees it (compose turns $$ into $).
script = "".join(job.get("command") or []).replace("$$", "$")
open(f"{scratch}/create.sh", "w").write(script)
sh = subprocess.run(["sh", "-n", f"{scratch}/create.sh"], capture_output=True, text=True)
need(sh.returncode == 0, f"redis-cluster-create's script parses: {sh.stderr.strip()}")
need(re.search(r"redis-cli --cluster create .*--cluster-replicas 1 --cluster-yes", script),
     "redis-cluster-create runs redis-cli --cluster create --cluster-replicas 1 --cluster-yes")
need(re.search(r"for n in 1 2 3 4 5 6;", script) and "redis-node-$n" in script, "redis-cluster-create names the six nodes")
need("cluster_state:ok" in script, "redis-cluster-create waits for cluster_state:ok")
for name in ("redis", "worker", "proxy"):
    hc = s.get(name, {}).get("healthcheck", {})
    need(hc.get("test") and not hc.get("disable"), f"{name} has a health check")
published = [n for n, v in s.items() if v.get("ports")]
need(published == ["proxy"], f"only the proxy publishes ports (got {published})")
ports = s["proxy"].get("ports", [])
need(len(ports) == 1 and str(ports[0].get("target") if isinstance(ports[0], dict) else ports[0]).endswith("3000"),
     f"the proxy publishes container port 3000 (got {ports})")
w, p = s["worker"], s["proxy"]
need("container_name" not in w and not w.get("ports"), "the worker has no container_name or published port (--scale works)")
need("hostname" not in w, "the worker keeps its per-container hostname (its worker id)")
for n, v in (("worker", w), ("proxy", p)):
    b = v.get("build", {})
    need(b.get("context") == root and b.get("dockerfile") == "deploy/Dockerfile",
         f"{n} is built from deploy/Dockerfile with the repository as context (got {b})")
    need(v.get("environment", {}).get("REDIS_URL") == "redis://redis:6379", f"{n} uses REDIS_URL=redis://redis:6379")
    need(v.get("depends_on", {}).get("redis", {}).get("condition") == "service_healthy", f"{n} waits for a healthy redis")
need(w.get("image") == p.get("image"), "worker and proxy run the same image")
need(w.get("command") == ["worker"] and p.get("command") == ["proxy"], "commands select the roles worker / proxy")
need(w.get("environment", {}).get("JWT_SECRET") == "check-compose-secret-0123456789abcdef", "JWT_SECRET reaches the worker from the environment")
need("JWT_SECRET" not in p.get("environment", {}), "the proxy does not get the JWT secret")
need("/health" in " ".join(w["healthcheck"]["test"]), "the worker's health check is GET /health")
need("/ready" in " ".join(p["healthcheck"]["test"]), "the proxy's health check is its admin GET /ready")
need(s["redis"].get("image", "").startswith("redis:7"), "redis is redis:7")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
EOF

# --- 2. Dockerfile -------------------------------------------------------------
# Parse: join continuation lines, drop comments; print one instruction per line as
# "<stage>\t<INSTRUCTION>\t<arguments>".
python3 - "$dockerfile" >"$scratch/instr" <<'EOF'
import re, sys
lines, cur = [], ""
for raw in open(sys.argv[1]):
    line = raw.rstrip("\n")
    if not cur and (line.strip() == "" or line.lstrip().startswith("#")):
        continue
    if cur and line.lstrip().startswith("#"):
        continue
    if line.endswith("\\"):
        cur += line[:-1] + " "
        continue
    lines.append(cur + line)
    cur = ""
stage = "-"
for l in lines:
    kw, _, rest = l.strip().partition(" ")
    kw = kw.upper()
    if kw == "FROM":
        m = re.search(r"\s+AS\s+(\S+)\s*$", rest, re.I)
        stage = m.group(1) if m else "-"
    print(f"{stage}\t{kw}\t{' '.join(rest.split())}")
EOF
stage_from() { awk -F'\t' -v s="$1" '$1 == s && $2 == "FROM" { print $3 }' "$scratch/instr"; }
check "stages build and runtime, both FROM debian:bookworm-slim" \
    test "$(stage_from build)|$(stage_from runtime)" = "debian:bookworm-slim AS build|debian:bookworm-slim AS runtime"

# The packages a stage installs: its RUN line with "apt-get install" is run by
# bash as written, with apt-get replaced by a function that prints the package
# arguments, the COPY destination of deploy/packages.txt mapped to the file
# itself, rm/useradd as no-ops and PATH empty (any other command fails the check).
stage_packages() {
    local stage=$1 run dest
    dest=$(awk -F'\t' -v s="$stage" '$1 == s && $2 == "COPY" && $3 ~ /^deploy\/packages.txt / { split($3, a, " "); print a[2] }' "$scratch/instr")
    [ -n "$dest" ] || { echo "stage $stage does not COPY deploy/packages.txt" >&2; return 1; }
    run=$(awk -F'\t' -v s="$stage" '$1 == s && $2 == "RUN" && /apt-get install/ { print $3 }' "$scratch/instr")
    [ "$(printf '%s\n' "$run" | grep -c 'apt-get install')" = 1 ] ||
        { echo "stage $stage: expected one RUN with apt-get install" >&2; return 1; }
    (cd "$scratch" && PKG_DEST=$dest PKG_FILE=$root/$packages PATH=/nonexistent /bin/bash -c '
        map() { local a; out=(); for a; do [ "$a" = "$PKG_DEST" ] && a=$PKG_FILE; out+=("$a"); done; }
        awk() { map "$@"; /usr/bin/awk "${out[@]}"; }
        grep() { map "$@"; /bin/grep "${out[@]}"; }
        sed() { map "$@"; /bin/sed "${out[@]}"; }
        cut() { map "$@"; /usr/bin/cut "${out[@]}"; }
        cat() { map "$@"; /bin/cat "${out[@]}"; }
        rm() { :; }
        useradd() { :; }
        groupadd() { :; }
        apt-get() {
            [ "$1" = install ] || return 0
            shift
            while [ $# -gt 0 ]; do
                case $1 in -o) shift ;; -*) ;; *) echo "$1" ;; esac
                shift
            done
        }
        '"$run") | /usr/bin/sort
    return "${PIPESTATUS[0]}"
}
for g in build runtime; do
    if stage_packages "$g" >"$scratch/pk-$g" 2>"$scratch/pk-err"; then
        if diff <(group "$g") "$scratch/pk-$g" >"$scratch/pk-diff"; then
            ok "stage $g installs exactly the \"$g\" group of $packages ($(wc -l <"$scratch/pk-$g") packages)"
        else
            not_ok "stage $g installs the \"$g\" group of $packages (< group, > Dockerfile)"; sed 's/^/    /' "$scratch/pk-diff"
        fi
    else
        not_ok "stage $g: package list"; sed 's/^/    /' "$scratch/pk-err"
    fi
done
if [ -s "$scratch/pk-runtime" ] && ! grep -qE -- '-dev$|^build-essential$|^cmake$' "$scratch/pk-runtime"; then
    ok "the runtime stage installs no compiler or -dev package"
else
    not_ok "the runtime stage installs no compiler or -dev package"
fi
user=$(awk -F'\t' '$1 == "runtime" && $2 == "USER" { u = $3 } END { print u }' "$scratch/instr")
check "the runtime stage runs as a non-root user (USER $user)" \
    bash -c '[ -n "$1" ] && [ "${1%%:*}" != root ] && [ "${1%%:*}" != 0 ]' _ "$user"
check "the runtime stage has a HEALTHCHECK and an ENTRYPOINT" \
    bash -c 'grep -qP "^runtime\tHEALTHCHECK\t" "$1" && grep -qP "^runtime\tENTRYPOINT\t" "$1"' _ "$scratch/instr"
check "every COPY source of the Dockerfile exists in the repository" bash -c '
    awk -F"\t" "\$2 == \"COPY\" && \$3 !~ /^--from/ { n = split(\$3, a, \" \"); for (i = 1; i < n; i++) if (a[i] !~ /^--/) print a[i] }" "$1" |
    while read -r src; do [ -e "$src" ] || { echo "missing: $src"; exit 1; }; done' _ "$scratch/instr"
check "the runtime stage copies sioc-worker, sioc-proxy, sioc-token from the build stage" bash -c '
    l=$(awk -F"\t" "\$1 == \"runtime\" && \$2 == \"COPY\" && \$3 ~ /^--from=build/" "$1")
    for b in worker/sioc-worker proxy/sioc-proxy worker/sioc-token; do
        printf "%s" "$l" | grep -q "build/release/$b" || { echo "not copied: $b"; exit 1; }
    done' _ "$scratch/instr"
check "deploy/docker scripts are executable and parse" bash -c '
    for f in deploy/docker/*; do [ -x "$f" ] || { echo "not executable: $f"; exit 1; }
        head -1 "$f" | grep -q bash && bash -n "$f" || sh -n "$f" || exit 1; done'

# --- 3. the build stage's sources are enough to configure (and build) ----------
mkdir -p "$scratch/src"
awk -F'\t' '$1 == "build" && $2 == "COPY" && $3 !~ /packages.txt/ { print $3 }' "$scratch/instr" >"$scratch/copies"
copy_ok=1
while read -r line; do
    set -- $line
    dest=${!#}
    while [ $# -gt 1 ]; do
        src=${1%/}
        case "$dest" in
        ./ | .) mkdir -p "$scratch/src/$(dirname "$src")"; cp -a "$src" "$scratch/src/$src" || copy_ok=0 ;;
        */) mkdir -p "$scratch/src/$dest"; if [ -d "$src" ]; then cp -a "$src/." "$scratch/src/$dest" || copy_ok=0; else cp -a "$src" "$scratch/src/$dest" || copy_ok=0; fi ;;
        *) mkdir -p "$scratch/src/$(dirname "$dest")"; cp -a "$src" "$scratch/src/$dest" || copy_ok=0 ;;
        esac
        shift
    done
done <"$scratch/copies"
build_cmd=$(awk -F'\t' '$1 == "build" && $2 == "RUN" && /cmake --preset/ { print $3 }' "$scratch/instr")
if [ "${CHECK_COMPOSE_BUILD:-0}" = 1 ]; then
    what="the build stage's sources build the binaries with its own command"
    cmd=${build_cmd//-j\"\$(nproc)\"/-j2}
else
    what="the build stage's sources configure with its own cmake command"
    cmd=${build_cmd%%&&*}
fi
if [ $copy_ok = 1 ] && [ -n "$build_cmd" ]; then
    check "$what" bash -c "cd '$scratch/src' && $cmd"
else
    not_ok "$what (copying the COPY sources failed or no cmake RUN)"
fi

# --- 4. the runtime packages cover the binaries' shared libraries -------------
bins=("$build_dir/worker/sioc-worker" "$build_dir/proxy/sioc-proxy" "$build_dir/worker/sioc-token")
if [ -x "${bins[0]}" ] && ldd "${bins[0]}" | grep -qE 'lib(a|ub|t)san'; then
    echo "ok - # SKIP $build_dir is a sanitizer build (the image builds Release): shared libraries not checked"
elif [ -x "${bins[0]}" ] && [ -x "${bins[1]}" ] && [ -x "${bins[2]}" ] && command -v dpkg-query >/dev/null; then
    allowed=" libc6 $(group runtime | tr '\n' ' ')"
    for p in $(group runtime); do
        allowed="$allowed $(dpkg-query -W -f='${Depends} ${Pre-Depends}' "$p" 2>/dev/null |
            tr ',|' '\n\n' | sed 's/(.*)//; s/:any//; s/^ *//; s/ *$//' | grep . | tr '\n' ' ')"
    done
    missing=""
    for b in "${bins[@]}"; do
        for lib in $(ldd "$b" | awk '$3 ~ /^\// { print $3 }'); do
            pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1)
            case " $allowed " in *" $pkg "*) ;; *) missing="$missing $(basename "$b"):$lib($pkg)" ;; esac
        done
    done
    [ -z "$missing" ] && ok "the runtime group provides every shared library of the built binaries" ||
        not_ok "libraries not provided by the runtime group:$missing"
else
    echo "ok - # SKIP no built binaries in $build_dir: shared libraries not checked"
fi

exit $failed
