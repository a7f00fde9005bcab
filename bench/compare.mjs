#!/usr/bin/env node
// bench/compare SCENARIO: runs one load scenario against sioc and against the
// Node.js Socket.IO peer in the same run, on the same machine, with the same
// sioc-bench command line, and reports the ratios sioc ÷ peer. The fanout
// scenario also runs sioc-floor (bench/floor/: the kernel and the event loop
// alone, no protocol work) and reports sioc ÷ floor.
//
//   fanout   step the offered deliveries/s up a ladder until p99 > --stop-p99 or
//            messages are lost; max sustainable = highest step with p99 <= 50 ms,
//            no loss and >= 95 % of the offered rate delivered; p99 latency and
//            server CPU per delivery at the peer's max rate; the same against
//            sioc-floor, and the worker's CPU per delivery ÷ the floor's at every
//            rate; PNG plot of p99 (and p50) against offered load
//   idle     hold as many connections as the machine allows (the open-files
//            limit per process bounds each server process), split across several
//            sioc-bench processes (at most --per-bench each) lined up with
//            --sync; RSS per connection of each server process; max held
//   echo     ack round trips: rate and latency
//   connect  connections/s and handshake latency
//   chat     rooms spanning every worker, each member taking turns to send
//   storm    --conns authenticated websocket clients (100,000 by default) in one
//            room across several workers (enough that none passes the
//            open-files limit) and several sioc-bench processes; one message
//            published, then 10 back to back: time from publishing to the
//            first, median and last delivery, loss, worker RSS spike
//            (VmHWM after resetting it through /proc/PID/clear_refs), server CPU
//   redis-shards
//            sioc only, the Redis adapter in sharded mode (SSUBSCRIBE / SPUBLISH):
//            the same fan-out ladder against one redis-server and against a local
//            Redis Cluster of --shards primaries, in the same run (--repeat times,
//            interleaved); per layout the max sustainable deliveries/s (p99 <= 50
//            ms, no loss) and at every rate each Redis process's CPU (utime+stime
//            from /proc/<pid>/stat over the step, as % of one core): how the
//            ceiling moves with shards, and which process sets it. Small by
//            default (2 workers, 1000 clients in rooms of 2, one member on each
//            worker, 3 s steps): a few minutes. Its results go to the log
//            directory, not to bench/results.
//   adapter-modes
//            sioc only: the same fan-out ladder through the proxy with the workers'
//            classic Redis adapter (Pub/Sub, no recovery) and with the streams
//            adapter with connection state recovery on (as deploy/cluster runs it),
//            in the same run (--repeat times, interleaved); per mode the max
//            sustainable deliveries/s, CPU per delivery, each process's CPU, and
//            Redis's memory after the ladder (used_memory, the stream's length and
//            MEMORY USAGE: what MAXLEN entries cost). Its summary goes to
//            bench/results/adapter-modes.json and a section of bench/RESULTS.md.
//
// The fanout ladder runs --repeat times per side (3 by default), interleaved
// (sioc, peer, floor, sioc, peer, floor, ...), and every figure is the median of
// the runs with its spread (min-max); a rate is sustainable when its median p99
// is <= 50 ms and no run lost a message there, and every lower rate was too.
//
// Server CPU is utime+stime from /proc of every server process (workers,
// proxy, redis), and each figure is also given split into user time (utime:
// the program's own code) and system time (stime: mostly the kernel's TCP
// path); "worker CPU" counts the worker processes only (for the floor: its one
// process), which is what sioc ÷ floor compares. Results go to
// bench/results/<scenario>.json (+ .png), and bench/RESULTS.md is regenerated
// from every results/*.json present.
// Every process started here is stopped by PID, also on failure or Ctrl-C.

import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync, readdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startCluster, siocProxyAvailable, REPO } from "./lib/cluster.mjs";
import { rssKiB, cpuTimes, sleep, which, startProcess } from "./lib/procs.mjs";

const SCENARIOS = ["fanout", "idle", "echo", "connect", "chat", "storm"];
// Scenarios of sioc alone, outside the sioc ÷ peer results (bench/results, RESULTS.md).
const SIOC_SCENARIOS = ["redis-shards", "adapter-modes"];
const SHARDS_LADDER = [5e3, 1e4, 2e4, 3e4, 4e4, 6e4, 8e4, 1e5, 1.5e5];
const KINDS = ["sioc", "peer", "floor"];
const KIND_TITLE = { sioc: "sioc", peer: "Node.js peer", floor: "floor (sioc-floor)" };
const DEFAULT_LADDER = [5e3, 1e4, 2e4, 4e4, 6e4, 8e4, 1e5, 1.5e5, 2e5, 3e5, 4e5, 6e5, 8e5, 1e6, 1.5e6, 2e6];
const P99_LIMIT_MS = 50;
const FD_LIMIT_MARGIN = 100;

function usage(out) {
  out.write(`usage: bench/compare SCENARIO [options]
SCENARIO: ${SCENARIOS.join(" | ")}, or "report" to regenerate RESULTS.md from the results only,
          or redis-shards (sioc only: sharded fan-out on one Redis node vs a Redis Cluster),
          or adapter-modes (sioc only: fan-out through the proxy, classic vs streams adapter)
  --workers N          worker processes on each side [1; storm: enough for --conns under the
                       open-files limit]; > 1 adds a redis-server (adapter)
  --proxy auto|on|off  sioc-proxy vs HAProxy in front [auto: on when sioc-proxy is built]
  --build-dir DIR      where sioc is built (built there if missing) [build/release]
  --conns N            clients (fanout: subscribers) [fanout 2000, idle: as many as the
                       open-files limit allows, echo 1000, connect 10000, chat 1000,
                       storm 100000]
  --clients N          the same as --conns
  --room-size K        [100]
  --rates LIST         fanout: offered deliveries/s ladder [${DEFAULT_LADDER.join(",")}]
  --rate D             chat: offered deliveries/s [20000]
  --step S             seconds per fanout step / echo, chat run / between storm bursts [4]
  --repeat N           fanout: ladders per side, interleaved; figures are medians with
                       their spread [3]
  --via direct|proxy   storm: clients connect to the workers, or through sioc-proxy, which
                       must hold them all (two descriptors each) unless it hands them
                       off (SIOC_BENCH_HANDOFF=1: then the peer's clients connect to its
                       processes directly, as no single HAProxy process could hold them)
                       [direct]
  --bursts LIST        storm: messages in each burst [1,10]
  --drain S            storm: wait after the last burst; what has not arrived is lost [10]
  --hold S             idle: seconds to hold after sampling (servers ping every 25 s) [30]
  --msg-size B         [100]
  --stop-p99 MS        fanout: stop stepping above this p99 [200]
  --retries N          fanout: run a step again when its p99 passes 50 ms [1; 0 with --repeat > 1]
  --per-bench N        clients per sioc-bench process at most [10000]
  --transport T        websocket | polling [websocket]
  --only sioc|peer|floor
                       run one side only (no ratios); fanout runs all three by
                       default, the other scenarios sioc and peer (floor: fanout only)
  --out DIR            results directory [bench/results]
  --no-results-md      do not regenerate bench/RESULTS.md
  --profile            fanout: record sioc-worker with perf during the run and add its
                       hottest symbols (self time) to the results
  --shards N           redis-shards: primaries of the Redis Cluster [3]
  --replicas N         redis-shards: replicas per primary [0]
redis-shards and adapter-modes defaults: --workers 2 --conns 1000 --room-size 2 --step 3
  (redis-shards --proxy off, adapter-modes --proxy on)
  --repeat 1 --rates ${SHARDS_LADDER.join(",")}
`);
}

// ------------------------------------------------------------------ options

function parseArgs(argv) {
  const o = {
    scenario: null, workers: 1, proxy: "auto", buildDir: path.join(REPO, "build/release"), conns: 0,
    roomSize: 100, rates: DEFAULT_LADDER, rate: 20000, step: 4, hold: 30, msgSize: 100, stopP99: 200,
    perBench: 10000, transport: "websocket", only: null, retries: null, repeat: 3, via: "direct", bursts: "1,10", drain: 10, out: path.join(REPO, "bench/results"), resultsMd: true,
  };
  const num = (v, name) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) die(`${name}: not a number: ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case "--workers": o.workers = num(v(), a); o.workersSet = true; break;
      case "--repeat": o.repeat = num(v(), a); o.repeatSet = true; break;
      case "--via": o.via = v(); break;
      case "--bursts": o.bursts = v(); break;
      case "--drain": o.drain = num(v(), a); break;
      case "--proxy": o.proxy = v(); o.proxySet = true; break;
      case "--build-dir": o.buildDir = path.resolve(v()); break;
      case "--clients":
      case "--conns": o.conns = num(v(), a); break;
      case "--room-size": o.roomSize = num(v(), a); o.roomSizeSet = true; break;
      case "--rates": o.rates = v().split(",").map((x) => num(x, a)); o.ratesSet = true; break;
      case "--rate": o.rate = num(v(), a); break;
      case "--step": o.step = num(v(), a); o.stepSet = true; break;
      case "--hold": o.hold = num(v(), a); break;
      case "--msg-size": o.msgSize = num(v(), a); break;
      case "--stop-p99": o.stopP99 = num(v(), a); break;
      case "--retries": o.retries = num(v(), a); break;
      case "--per-bench": o.perBench = num(v(), a); break;
      case "--transport": o.transport = v(); break;
      case "--only": o.only = v(); break;
      case "--out": o.out = path.resolve(v()); break;
      case "--no-results-md": o.resultsMd = false; break;
      case "--profile": o.profile = true; break;
      case "--shards": o.shards = num(v(), a); break;
      case "--replicas": o.replicas = num(v(), a); break;
      case "-h": case "--help": usage(process.stdout); process.exit(0); break;
      default:
        if (a.startsWith("-") || o.scenario) { usage(process.stderr); process.exit(2); }
        o.scenario = a;
    }
  }
  if (!SCENARIOS.includes(o.scenario) && !SIOC_SCENARIOS.includes(o.scenario) && o.scenario !== "report") {
    usage(process.stderr);
    process.exit(2);
  }
  if (o.scenario === "redis-shards" || o.scenario === "adapter-modes") {
    if (!o.workersSet) o.workers = 2;
    if (!o.proxySet) o.proxy = o.scenario === "adapter-modes" ? "on" : "off";
    if (!o.conns) o.conns = 1000;
    // Rooms of 2, one member on each worker: a Redis message for every two deliveries.
    if (!o.roomSizeSet) o.roomSize = 2;
    if (!o.ratesSet) o.rates = SHARDS_LADDER;
    if (!o.stepSet) o.step = 3;
    if (!o.repeatSet) o.repeat = 1;
    o.shards = o.shards ?? 3;
    o.replicas = o.replicas ?? 0;
    if (!(o.workers >= 2)) die(`${o.scenario}: --workers must be >= 2 (a single worker never publishes to Redis)`);
    if (!(o.shards >= 3)) die("redis-shards: --shards must be >= 3 (a Redis Cluster has at least 3 primaries)");
    if (o.only) die(`${o.scenario} runs sioc only: no --only`);
  }
  if (!["auto", "on", "off"].includes(o.proxy)) die("--proxy auto|on|off");
  if (o.only && !KINDS.includes(o.only)) die("--only sioc|peer|floor");
  if (o.only === "floor" && o.scenario !== "fanout") die("--only floor: the floor runs the fanout scenario only");
  if (!(o.workers >= 1)) die("--workers must be >= 1");
  if (!(o.repeat >= 1)) die("--repeat must be >= 1");
  if (!["direct", "proxy"].includes(o.via)) die("--via direct|proxy");
  if (o.retries === null) o.retries = o.scenario === "fanout" && o.repeat > 1 ? 0 : 1;
  if (o.scenario === "storm") {
    o.conns = o.conns || 100000;
    o.proxy = o.via === "proxy" ? "on" : "off";
    // Enough workers that none holds more sockets than the open-files limit allows.
    if (!o.workersSet) o.workers = Math.max(1, Math.ceil((o.conns + 1) / (fdLimit() - FD_LIMIT_MARGIN)));
    const handoff = process.env.SIOC_BENCH_HANDOFF === "1";
    if (o.via === "proxy" && !handoff && o.conns > Math.floor((fdLimit() - FD_LIMIT_MARGIN) / 2))
      die(`--via proxy: one proxy process holds at most ${Math.floor((fdLimit() - FD_LIMIT_MARGIN) / 2)} clients here (two descriptors each); use SIOC_BENCH_HANDOFF=1, --via direct or fewer --clients`);
    // Handed off, the clients need no proxy descriptor; the peer's HAProxy would need two.
    o.peerDirect = o.via === "proxy" && handoff && o.conns > Math.floor((fdLimit() - FD_LIMIT_MARGIN) / 2);
  }
  o.perBench = Math.min(o.perBench, fdLimit() - FD_LIMIT_MARGIN);
  return o;
}

/** The SIOC_BENCH_* settings of this run, as a prefix of its command line ("" for none). */
function benchEnv() {
  return ["SIOC_BENCH_HANDOFF", "SIOC_BENCH_PLACEMENT", "SIOC_BENCH_PROXY_PROCESSES"]
    .filter((k) => process.env[k] !== undefined).map((k) => `${k}=${process.env[k]} `).join("");
}

function die(msg) {
  process.stderr.write(`compare: ${msg}\n`);
  process.exit(2);
}

const log = (msg) => process.stderr.write(`[compare ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

function sh(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { stdio: ["ignore", "pipe", "pipe"], timeout: 20000, ...opts }).toString().trim();
  } catch (e) {
    return e.stdout ? e.stdout.toString().trim() + e.stderr.toString().trim() : "";
  }
}

function fdLimit() {
  return Number(sh("sh", ["-c", "ulimit -n"])) || 1024;
}

// ------------------------------------------------------------------ dependencies

function ensureDeps(o) {
  const debs = [["haproxy", "haproxy"], ["redis-server", "redis-server"], ["gnuplot", "gnuplot-nox"]];
  const missing = debs.filter(([bin]) => !which(bin)).map(([, pkg]) => pkg);
  if (missing.length) {
    if (process.getuid && process.getuid() === 0) {
      log(`installing ${missing.join(" ")} (Debian)`);
      execFileSync("apt-get", ["install", "-y", "--no-install-recommends", ...missing], { stdio: "inherit" });
    } else {
      die(`missing Debian packages: ${missing.join(" ")} (apt-get install them)`);
    }
  }
  if (!existsSync(path.join(REPO, "tests/node_modules/socket.io/package.json")) ||
      !existsSync(path.join(REPO, "tests/node_modules/bufferutil/package.json"))) {
    log("installing the Node peer's packages (npm ci in tests/)");
    execFileSync("npm", ["ci", "--no-audit", "--no-fund"], { cwd: path.join(REPO, "tests"), stdio: "inherit" });
  }
  const need = ["worker/sioc-worker", "bench/sioc-bench"];
  if (o.scenario === "fanout") need.push("bench/sioc-floor");
  if (need.some((f) => !existsSync(path.join(o.buildDir, f)))) {
    log(`building sioc in ${o.buildDir}`);
    execFileSync("cmake", ["-S", REPO, "-B", o.buildDir, "-DCMAKE_BUILD_TYPE=Release", "-DSIOC_BENCH=ON"], { stdio: "inherit" });
    execFileSync("cmake", ["--build", o.buildDir, "-j2"], { stdio: "inherit" });
  }
  // The native add-ons must load, or ws silently falls back to JavaScript.
  const chk = sh(process.execPath, ["-e", "require('bufferutil');require('utf-8-validate');console.log('ok')"], { cwd: path.join(REPO, "tests") });
  if (chk !== "ok") die(`bufferutil / utf-8-validate do not load in tests/node_modules: ${chk}`);
}

// ------------------------------------------------------------------ machine and versions

function machineInfo() {
  const cpu = (readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/) || [])[1] || "?";
  return {
    cpu, cores: os.cpus().length, memGiB: +(os.totalmem() / 2 ** 30).toFixed(1), kernel: `${os.type()} ${os.release()}`,
    openFilesLimit: fdLimit(), portRange: readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().replace(/\s+/, "-"),
  };
}

function pkgVersion(name) {
  try {
    return JSON.parse(readFileSync(path.join(REPO, "tests/node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return "?";
  }
}

function versions(o) {
  const rev = sh("git", ["-C", REPO, "rev-parse", "--short", "HEAD"]);
  const dirty = sh("git", ["-C", REPO, "status", "--porcelain", "--", "common", "worker", "proxy", "bench/loadgen", "bench/floor"]) ? " (with uncommitted changes in common/ worker/ proxy/ bench/loadgen bench/floor)" : "";
  return {
    sioc: `${rev}${dirty}`,
    cc: sh("cc", ["--version"]).split("\n")[0],
    libevent: sh("pkg-config", ["--modversion", "libevent"]),
    node: process.version,
    "socket.io": pkgVersion("socket.io"), "engine.io": pkgVersion("engine.io"), ws: pkgVersion("ws"),
    "@socket.io/redis-adapter": pkgVersion("@socket.io/redis-adapter"), bufferutil: pkgVersion("bufferutil"),
    "utf-8-validate": pkgVersion("utf-8-validate"),
    haproxy: sh("haproxy", ["-v"]).split("\n")[0].replace(/ - https.*/, ""),
    redis: sh("redis-server", ["--version"]).split(" ").slice(0, 3).join(" "),
    gnuplot: sh("gnuplot", ["--version"]),
  };
}

// ------------------------------------------------------------------ sioc-bench

const SECRET = "sioc-bench-compare-secret-0123456789abcdef";

/**
 * Run sioc-bench. `onReady(children)` (with --sync) runs once every process printed
 * @ready; then all get SIGUSR1. Returns the parsed JSON documents.
 */
async function runBench(o, benchArgsList, { onReady = null, label } = {}) {
  const bin = path.join(o.buildDir, "bench/sioc-bench");
  const tmp = mkdtempSync(path.join(os.tmpdir(), "sioc-compare-"));
  const kids = benchArgsList.map((args, i) => {
    const json = path.join(tmp, `bench-${i}.json`);
    const full = [...args, "--json", json, "--label", label, "--no-progress"];
    if (onReady) full.push("--sync");
    const child = spawn(bin, full, { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, JWT_SECRET: SECRET } });
    const k = { child, json, out: "", ready: false, done: null, args: full };
    child.stdout.setEncoding("utf8").on("data", (d) => {
      k.out += d;
      if (/^@ready/m.test(k.out)) k.ready = true;
    });
    k.done = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
    return k;
  });
  const stopAll = () => kids.forEach((k) => { try { k.child.kill("SIGKILL"); } catch { /* gone */ } });
  process.once("exit", stopAll);
  try {
    if (onReady) {
      const deadline = Date.now() + 480000; /* beyond sioc-bench's own --connect-timeout */
      while (!kids.every((k) => k.ready)) {
        const exited = await Promise.race([Promise.all(kids.map((k) => k.done)).then(() => true), sleep(100).then(() => false)]);
        if (exited) break;
        if (Date.now() > deadline) throw new Error("sioc-bench processes not ready after 480 s");
      }
      await onReady(kids);
      for (const k of kids) { try { k.child.kill("SIGUSR1"); } catch { /* gone */ } }
    }
    const codes = await Promise.all(kids.map((k) => k.done));
    const docs = kids.map((k, i) => {
      if (!existsSync(k.json)) throw new Error(`sioc-bench exited ${codes[i]} without a result: ${k.args.join(" ")}\n${k.out}`);
      const d = JSON.parse(readFileSync(k.json, "utf8"));
      d.exitCode = codes[i];
      return d;
    });
    for (const k of kids) if (!o.quiet) process.stderr.write(k.out.replace(/^@.*\n/gm, ""));
    return docs;
  } finally {
    process.removeListener("exit", stopAll);
    stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

function commonArgs(o, urls, extra = {}) {
  const a = ["--url", urls.join(","), "--transport", o.transport, "--msg-size", String(o.msgSize)];
  for (const [k, v] of Object.entries(extra)) a.push(`--${k}`, String(v));
  return a;
}

// Histogram helpers for merged JSON: buckets are [[upper, count], ...].
function mergeBuckets(list) {
  const m = new Map();
  for (const b of list) for (const [u, c] of b || []) m.set(u, (m.get(u) || 0) + c);
  return [...m.entries()].sort((a, b) => a[0] - b[0]);
}
function quantile(buckets, q) {
  const total = buckets.reduce((s, [, c]) => s + c, 0);
  if (!total) return 0;
  const rank = Math.min(total - 1, Math.floor(q * total));
  let seen = 0;
  for (const [u, c] of buckets) {
    seen += c;
    if (seen > rank) return u;
  }
  return buckets[buckets.length - 1][0];
}
function histSummary(buckets) {
  return { count: buckets.reduce((s, [, c]) => s + c, 0), p50: quantile(buckets, 0.5), p90: quantile(buckets, 0.9),
    p99: quantile(buckets, 0.99), p999: quantile(buckets, 0.999), max: buckets.length ? buckets[buckets.length - 1][0] : 0 };
}

/** {user, sys} CPU seconds of `pids` together so far. */
function cpuOf(pids) {
  return pids.map(cpuTimes).reduce((a, t) => ({ user: a.user + (t.user || 0), sys: a.sys + (t.sys || 0) }), { user: 0, sys: 0 });
}

/** Role of each pid of a cluster, in the order of c.pids (= sioc-bench --pid). */
function rolesOf(c) {
  const primaries = c.redisPrimaryPids || [c.redisPid];
  return c.pids.map((p) => (p === c.proxyPid ? "proxy" : primaries.includes(p) ? "redis"
    : (c.redisPids || []).includes(p) ? "redis-replica" : "worker"));
}

/**
 * CPU per delivery of one fanout/chat step, split: user and system time of every
 * server process, and of the worker processes alone ("worker_").
 */
function stepCpu(s, roles) {
  const n = s.received || 0;
  const us = (x) => (n ? (x * 1e6) / n : 0);
  const sum = (arr, keep) => (arr || []).reduce((a, v, i) => a + (keep(i) && v > 0 ? v : 0), 0);
  const all = () => true;
  const wk = (i) => roles[i] === "worker";
  return {
    user_us_per_delivery: us(sum(s.server_user_s, all)), sys_us_per_delivery: us(sum(s.server_sys_s, all)),
    worker_cpu_us_per_delivery: us(sum(s.server_cpu_s, wk)), worker_user_us_per_delivery: us(sum(s.server_user_s, wk)),
    worker_sys_us_per_delivery: us(sum(s.server_sys_s, wk)),
    procs: roles.map((role, i) => ({ role, cpu_s: (s.server_cpu_s || [])[i], user_s: (s.server_user_s || [])[i], sys_s: (s.server_sys_s || [])[i] })),
  };
}

/** Run-level CPU of sioc-bench's servers array: {cpu, user, sys} seconds in total. */
function serversCpu(servers) {
  return (servers || []).reduce((a, x) => ({ cpu: a.cpu + (x.cpu_s || 0), user: a.user + (x.user_s || 0), sys: a.sys + (x.sys_s || 0) }),
    { cpu: 0, user: 0, sys: 0 });
}

// ------------------------------------------------------------------ scenarios

async function withCluster(kind, o, fn) {
  const logDir = path.join(o.logRoot, o.logTag || kind);
  const proxy = o.useProxy && !(kind === "peer" && o.peerDirect);
  log(kind === "floor" ? "floor: starting sioc-floor" :
    `${kind}: starting ${o.workers} worker(s)${proxy ? " + proxy" : ""}${o.workers > 1 ? (o.redisCluster ? " + redis cluster" : " + redis") : ""}`);
  const c = await startCluster(kind, { workers: o.workers, proxy, secret: SECRET, buildDir: o.buildDir, logDir,
    adapterMode: o.adapterMode, redisCluster: o.redisCluster, workerFlags: kind === "sioc" ? o.workerFlags : undefined });
  log(`${kind}: ${c.topology}; urls ${c.urls.join(",")}; pids ${c.pids.join(",")}`);
  try {
    await sleep(500);
    // o.idleRedisS: each Redis process's CPU over that many seconds with the workers
    // connected and no client yet (% of one core), before the load.
    let idle = null;
    if (o.idleRedisS && c.redisPids && c.redisPids.length) {
      const before = c.redisPids.map(cpuTimes);
      const t0 = Date.now();
      await sleep(o.idleRedisS * 1000);
      const s = (Date.now() - t0) / 1000;
      idle = c.redisPids.map((p, i) => {
        const t = cpuTimes(p);
        return Math.max(0, ((t.user + t.sys - before[i].user - before[i].sys) / s) * 100);
      });
    }
    const res = await fn(c);
    if (idle) res.idleRedisPct = idle;
    if (o.redisMemory && c.redisPort) res.redisMemory = redisMemory(c.redisPort);
    return res;
  } finally {
    await c.stop();
    log(`${kind}: stopped`);
  }
}

function stepOk(s) {
  return s.loss === 0 && s.publish_failed === 0 && s.latency_us.p99 <= P99_LIMIT_MS * 1000 &&
    s.deliveries_per_s >= 0.95 * s.offered_per_s;
}

async function scenarioFanout(o, kind) {
  const conns = o.conns || 2000;
  return withCluster(kind, o, async (c) => {
    const args = [...commonArgs(o, c.urls, {
      conns, "room-size": o.roomSize, rate: o.rates.join(","), duration: o.step, drain: 2, "stop-p99": o.stopP99,
      "sustain-p99": P99_LIMIT_MS, retries: o.retries, pid: c.pids.join(","), "max-pending": 256,
    }), "fanout"];
    const prof = kind === "sioc" && o.profile ? startPerf(o, c.workerPids[0]) : null;
    const [d] = await runBench(o, [args], { label: `${kind} fanout` });
    const profile = prof ? await prof.finish() : null;
    const f = d.fanout;
    const roles = rolesOf(c);
    const attempts = f.steps.map((s) => ({
      offered: s.offered_per_s, attempt: s.attempt || 0, delivered: s.deliveries_per_s, loss: s.loss, dup: s.duplicates,
      reordered: s.out_of_order, p50_ms: s.latency_us.p50 / 1e3, p90_ms: s.latency_us.p90 / 1e3, p99_ms: s.latency_us.p99 / 1e3,
      p999_ms: s.latency_us.p999 / 1e3, max_ms: s.latency_us.max / 1e3, cpu_us_per_delivery: s.server_cpu_us_per_delivery,
      ...stepCpu(s, roles), client_cpu: s.client_cpu_share, lag_ms: s.max_schedule_lag_us / 1e3, ok: stepOk(s),
      publishFailed: s.publish_failed,
    }));
    // One row per offered rate: its best attempt (a passing one, else the lowest p99).
    const steps = [];
    for (const a of attempts) {
      const prev = steps.find((x) => x.offered === a.offered);
      if (!prev) steps.push(a);
      else if ((a.ok && !prev.ok) || (a.ok === prev.ok && a.p99_ms < prev.p99_ms)) steps[steps.indexOf(prev)] = a;
    }
    // Sustainable: every rate up to it passed (a lone pass above a failure is not counted).
    let best = null;
    for (const s2 of steps) {
      if (!s2.ok) break;
      best = s2;
    }
    return {
      topology: c.topology, connected: d.connect.connected, attempted: d.connect.attempted, rooms: f.rooms,
      redisPids: c.redisPids,
      roomSize: f.room_size, publishers: f.publishers, steps, attempts, maxSustainable: best ? best.delivered : 0,
      maxSustainableOffered: best ? best.offered : 0, stopReason: f.stop_reason,
      clientBound: best ? best.client_cpu > 0.9 : false, command: `sioc-bench ${args.join(" ")}`, profile,
    };
  });
}

const median = (xs) => {
  const v = xs.slice().sort((a, b) => a - b);
  if (!v.length) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

/** The figures of a fanout step that are given as median and spread over the runs. */
const STEP_FIGURES = ["delivered", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "cpu_us_per_delivery",
  "user_us_per_delivery", "sys_us_per_delivery", "worker_cpu_us_per_delivery", "worker_user_us_per_delivery",
  "worker_sys_us_per_delivery", "client_cpu", "lag_ms"];

/**
 * Fanout ladders of one side run several times: one row per offered rate with the
 * median of each figure over the runs and its spread [min, max]. A run that stopped
 * below a rate counts there as an infinite p99 (and no delivery). A rate passes
 * when its median p99 is <= 50 ms, no run lost or failed to publish a message there,
 * and the median delivered rate is >= 95 % of the offered one; max sustainable is the
 * highest rate passed with every lower rate passed too.
 */
function aggregateFanout(runs) {
  const rates = [...new Set(runs.flatMap((r) => r.steps.map((x) => x.offered)))].sort((a, b) => a - b);
  const steps = rates.map((offered) => {
    const xs = runs.map((r) => r.steps.find((x) => x.offered === offered));
    const there = xs.filter(Boolean);
    const row = { offered, runs: there.length, of: runs.length, spread: {} };
    for (const k of STEP_FIGURES) {
      const vals = xs.map((x) => (x ? x[k] : k === "p99_ms" ? Infinity : k === "delivered" ? 0 : undefined)).filter((v) => v !== undefined);
      row[k] = median(vals);
      const fin = vals.filter(Number.isFinite);
      row.spread[k] = fin.length ? [Math.min(...fin), Math.max(...fin)] : undefined;
    }
    for (const k of ["loss", "dup", "reordered"]) row[k] = Math.max(0, ...there.map((x) => x[k] || 0));
    row.ok = row.p99_ms <= P99_LIMIT_MS && there.every((x) => x.loss === 0 && !x.publishFailed) &&
      row.delivered >= 0.95 * offered;
    row.okRuns = there.filter((x) => x.ok).length;
    return row;
  });
  let best = null;
  for (const x of steps) {
    if (!x.ok) break;
    best = x;
  }
  const per = runs.map((r) => r.maxSustainable);
  const first = runs[0];
  return {
    ...first, steps, attempts: null, runs, repeat: runs.length,
    maxSustainable: best ? best.delivered : 0, maxSustainableOffered: best ? best.offered : 0,
    maxSustainableSpread: [Math.min(...per), Math.max(...per)],
    stopReason: runs.map((r) => r.stopReason || "ladder done").join("; "),
    clientBound: best ? best.client_cpu > 0.9 : false,
  };
}

/** perf record (self time, no call graphs: release builds have no frame pointers) on `pid`. */
function startPerf(o, pid) {
  if (!which("perf")) return null;
  const data = path.join(o.logRoot, "perf-sioc-worker.data");
  const p = startProcess("perf", "perf", ["record", "-F", "499", "-p", String(pid), "-o", data],
    { logFile: path.join(o.logRoot, "perf.log") });
  return {
    async finish() {
      try { process.kill(p.pid, "SIGINT"); } catch { /* gone */ }
      await Promise.race([p.exited, sleep(15000)]);
      await p.stop();
      const rep = (sort) => sh("perf", ["report", "-i", data, "--no-children", "--sort", sort, "--stdio"], { timeout: 60000 })
        .split("\n").filter((l) => /^\s+\d/.test(l)).map((l) => l.trim().replace(/\s+-\s+-\s*$/, "").replace(/\s+/g, " "));
      return { byDso: rep("dso").slice(0, 6), bySymbol: rep("dso,symbol").slice(0, 25) };
    },
  };
}

/** Spread `total` clients over bench processes of at most perBench clients each. */
function split(total, perBench) {
  const n = Math.max(1, Math.ceil(total / perBench));
  const out = [];
  for (let i = 0; i < n; i++) out.push(Math.floor(total / n) + (i < total % n ? 1 : 0));
  return out;
}

async function scenarioIdle(o, kind) {
  // Each server process can hold at most (open-files limit - a margin) sockets; a proxy two
  // per client it tunnels, none for a client it handed off to a worker (SIOC_BENCH_HANDOFF=1).
  const perServer = fdLimit() - FD_LIMIT_MARGIN;
  const handoff = kind === "sioc" && o.useProxy && process.env.SIOC_BENCH_HANDOFF === "1";
  const capacity = o.useProxy && !handoff ? Math.floor(perServer / 2) : perServer * o.workers;
  const total = o.conns || capacity;
  return withCluster(kind, o, async (c) => {
    const parts = split(total, o.perBench);
    const argsList = parts.map((n, i) => [...commonArgs(o, c.urls, {
      conns: n, duration: o.hold, settle: 0, "max-pending": 256, "source-base": `127.0.${i + 1}.1`,
      "connect-timeout": 420, pid: c.pids.join(","),
    }), "idle"]);
    const base = Object.fromEntries(c.pids.map((p) => [p, rssKiB(p)]));
    let loaded = {};
    let cpu0 = { user: 0, sys: 0 }, t0 = 0;
    const docs = await runBench(o, argsList, {
      label: `${kind} idle`,
      onReady: async () => {
        await sleep(3000); // let allocators and GC settle
        loaded = Object.fromEntries(c.pids.map((p) => [p, rssKiB(p)]));
        cpu0 = cpuOf(c.pids);
        t0 = Date.now();
      },
    });
    const cpu1 = cpuOf(c.pids);
    const holdUserS = cpu1.user - cpu0.user, holdSysS = cpu1.sys - cpu0.sys;
    const holdS = (Date.now() - t0) / 1000;
    const connected = docs.reduce((s, d) => s + d.connect.connected, 0);
    const held = docs.reduce((s, d) => s + (d.idle ? d.idle.held : 0), 0);
    const role = (p) => (p === c.proxyPid ? "proxy" : p === c.redisPid ? "redis" : "worker");
    const perProc = c.pids.map((p) => ({
      pid: p, role: role(p), baseKiB: base[p], loadedKiB: loaded[p],
      bytesPerConn: connected ? ((loaded[p] - base[p]) * 1024) / connected : 0,
    }));
    const workersBytes = perProc.filter((x) => x.role === "worker").reduce((s, x) => s + x.bytesPerConn, 0);
    const proxyBytes = perProc.filter((x) => x.role === "proxy").reduce((s, x) => s + x.bytesPerConn, 0);
    const conLat = histSummary(mergeBuckets(docs.map((d) => d.connect.latency_us.buckets)));
    const elapsed = Math.max(...docs.map((d) => d.connect.elapsed_s));
    return {
      topology: c.topology, attempted: total, connected, held, benchProcesses: parts.length,
      workerBytesPerConn: workersBytes, proxyBytesPerConn: proxyBytes, perProc,
      pings: docs.reduce((s, d) => s + (d.idle ? d.idle.pings : 0), 0),
      pingBytes: docs.reduce((s, d) => s + (d.idle ? d.idle.ping_bytes : 0), 0),
      holdCpuS: holdUserS + holdSysS, holdUserS, holdSysS, holdS, connectRate: elapsed > 0 ? connected / elapsed : 0, connectLatency: conLat,
      firstError: docs.map((d) => d.errors.first).find((x) => x) || null,
      command: argsList.map((a) => `sioc-bench ${a.join(" ")}`).join(" & "),
    };
  });
}

async function scenarioEcho(o, kind) {
  const conns = o.conns || 1000;
  return withCluster(kind, o, async (c) => {
    const args = [...commonArgs(o, c.urls, { conns, duration: o.step, pid: c.pids.join(",") }), "echo"];
    const [d] = await runBench(o, [args], { label: `${kind} echo` });
    const cpu = d.echo.server_cpu_s;
    const split = serversCpu(d.servers);
    const per = (x) => (d.echo.requests ? (x * 1e6) / d.echo.requests : 0);
    return {
      topology: c.topology, connected: d.connect.connected, rate: d.echo.rate_per_s, errors: d.echo.errors,
      p50_ms: d.echo.latency_us.p50 / 1e3, p99_ms: d.echo.latency_us.p99 / 1e3,
      cpu_us_per_request: per(cpu), user_us_per_request: per(split.user), sys_us_per_request: per(split.sys),
      command: `sioc-bench ${args.join(" ")}`,
    };
  });
}

async function scenarioConnect(o, kind) {
  const perServer = fdLimit() - FD_LIMIT_MARGIN;
  const conns = Math.min(o.conns || 10000, o.useProxy ? Math.floor(perServer / 2) : perServer * o.workers, perServer);
  return withCluster(kind, o, async (c) => {
    const args = [...commonArgs(o, c.urls, { conns, "max-pending": 512, pid: c.pids.join(",") }), "connect"];
    const [d] = await runBench(o, [args], { label: `${kind} connect` });
    const split = serversCpu(d.servers);
    const per = (x) => (d.connect.connected ? (x * 1e6) / d.connect.connected : 0);
    // where the CPU went: the proxy, the workers, and the load generator itself
    const roles = rolesOf(c);
    const cpuSplit = [...new Set(roles)].map((role) => {
      const x = serversCpu((d.servers || []).filter((_, i) => roles[i] === role));
      return { role, us_per_conn: per(x.cpu), user: per(x.user), sys: per(x.sys) };
    });
    if (d.client && d.client.cpu_s !== undefined) cpuSplit.push({ role: "sioc-bench", us_per_conn: per(d.client.cpu_s) });
    return {
      cpu_us_per_conn: per(split.cpu), user_us_per_conn: per(split.user), sys_us_per_conn: per(split.sys), cpuSplit,
      topology: c.topology, attempted: d.connect.attempted, connected: d.connect.connected, rate: d.connect.rate_per_s,
      p50_ms: d.connect.latency_us.p50 / 1e3, p99_ms: d.connect.latency_us.p99 / 1e3,
      firstError: d.errors.first, command: `sioc-bench ${args.join(" ")}`,
    };
  });
}

async function scenarioChat(o, kind) {
  const conns = o.conns || 1000;
  return withCluster(kind, o, async (c) => {
    // Direct: clients round-robin over every worker, so each room spans them all.
    const args = [...commonArgs(o, c.urls, {
      conns, "room-size": o.roomSize, rate: o.rate, duration: o.step, drain: 3, pid: c.pids.join(","),
    }), "chat"];
    const [d] = await runBench(o, [args], { label: `${kind} chat` });
    const s = d.chat.steps[0];
    const cs = stepCpu(s, rolesOf(c));
    return {
      user_us_per_delivery: cs.user_us_per_delivery, sys_us_per_delivery: cs.sys_us_per_delivery,
      topology: c.topology, connected: d.connect.connected, offered: s.offered_per_s, delivered: s.deliveries_per_s,
      loss: s.loss, dup: s.duplicates, reordered: s.out_of_order, p50_ms: s.latency_us.p50 / 1e3,
      p99_ms: s.latency_us.p99 / 1e3, cpu_us_per_delivery: s.server_cpu_us_per_delivery,
      command: `sioc-bench ${args.join(" ")}`,
    };
  });
}

/** Resets the peak RSS of `pid` (VmHWM) to its current RSS; false when /proc refuses. */
function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** VmHWM of `pid` in KiB (peak RSS since start or the last resetPeakRss), or null. */
function peakRssKiB(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmHWM:\s+(\d+)/m);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Merges burst `k` of every sioc-bench document of a storm. */
function stormBurst(docs, k) {
  const st = docs.map((d) => d.storm && d.storm.steps[k]).filter(Boolean);
  if (!st.length) return null;
  const sum = (key) => st.reduce((a, x) => a + (x[key] || 0), 0);
  const got = st.filter((x) => x.latency_us.count > 0);
  const buckets = mergeBuckets(st.map((x) => x.latency_us.buckets));
  return {
    messages: st[0].offered_per_s, expected: sum("expected"), received: sum("received"), loss: sum("loss"),
    dup: sum("duplicates"), publishFailed: sum("publish_failed"),
    first_ms: got.length ? Math.min(...got.map((x) => x.latency_us.min)) / 1e3 : undefined,
    median_ms: got.length ? quantile(buckets, 0.5) / 1e3 : undefined,
    p99_ms: got.length ? quantile(buckets, 0.99) / 1e3 : undefined,
    last_ms: got.length ? Math.max(...got.map((x) => x.latency_us.max)) / 1e3 : undefined,
  };
}

async function scenarioStorm(o, kind) {
  const total = o.conns;
  return withCluster(kind, o, async (c) => {
    const parts = split(total, o.perBench);
    const prefix = `storm-${process.pid}-${kind}-`;
    // Same schedule in every process: the first burst 1 s after SIGUSR1, one every --step,
    // and everyone stays connected until --drain after the last (what has not arrived by
    // then counts as lost).
    const argsList = parts.map((n, i) => [...commonArgs(o, c.urls, {
      conns: n, bursts: o.bursts, settle: 1, duration: o.step, drain: o.drain, "room-prefix": prefix,
      "max-pending": 256, "source-base": `127.0.${i + 1}.1`, "connect-timeout": 420, pid: c.pids.join(","),
    }), ...(i === 0 ? ["--publish"] : []), "storm"]);
    const roles = rolesOf(c);
    let before = {}, cpu0 = { user: 0, sys: 0 }, peakReset = true;
    const docs = await runBench(o, argsList, {
      label: `${kind} storm`,
      onReady: async () => {
        await sleep(2000); // let allocators and GC settle after the connect phase
        for (const p of c.pids) peakReset = resetPeakRss(p) && peakReset;
        before = Object.fromEntries(c.pids.map((p) => [p, rssKiB(p)]));
        cpu0 = cpuOf(c.pids);
      },
    });
    const cpu1 = cpuOf(c.pids);
    // The publishing process sampled every server's RSS every 10 ms: the fallback
    // when the kernel's peak cannot be reset.
    const sampled = Object.fromEntries(((docs[0] && docs[0].servers) || []).map((x) => [x.pid, x.rss_end_kb]));
    const perProc = c.pids.map((p, i) => {
      const peak = peakReset ? peakRssKiB(p) : sampled[p];
      return { pid: p, role: roles[i], beforeKiB: before[p], peakKiB: peak, spikeKiB: peak && before[p] ? Math.max(0, peak - before[p]) : undefined };
    });
    const wk = perProc.filter((x) => x.role === "worker");
    const nb = Math.max(...docs.map((d) => (d.storm ? d.storm.steps.length : 0)), 0);
    const bursts = [];
    for (let k = 0; k < nb; k++) bursts.push(stormBurst(docs, k));
    return {
      topology: c.topology, attempted: total + 1, connected: docs.reduce((a, d) => a + d.connect.connected, 0),
      joined: docs.reduce((a, d) => a + (d.storm ? d.storm.joined : 0), 0), benchProcesses: parts.length,
      workers: c.workerPids.length, bursts, perProc, peakFrom: peakReset ? "VmHWM" : "sampled",
      workerSpikeKiB: wk.reduce((a, x) => a + (x.spikeKiB || 0), 0), workerSpikeMaxKiB: Math.max(0, ...wk.map((x) => x.spikeKiB || 0)),
      cpuUserS: cpu1.user - cpu0.user, cpuSysS: cpu1.sys - cpu0.sys,
      loss: bursts.reduce((a, b) => a + (b ? b.loss : 0), 0),
      firstError: docs.map((d) => d.errors.first).find((x) => x) || null,
      command: argsList.map((a) => `sioc-bench ${a.join(" ")}`).join(" & "),
    };
  });
}

const RUNNERS = { fanout: scenarioFanout, idle: scenarioIdle, echo: scenarioEcho, connect: scenarioConnect, chat: scenarioChat, storm: scenarioStorm };

// ------------------------------------------------------------------ ratios

const ratio = (a, b) => (a > 0 && b > 0 ? a / b : null);

/**
 * The ratio rows of a scenario: sioc ÷ peer, and for fanout sioc ÷ floor. A side
 * that was not run (--only) shows as n/a.
 */
function ratiosFor(scn, s, p, f) {
  if (!s && !p && !f) return [];
  const none = { steps: [], attempts: [] };
  const hasFloor = !!f;
  s = s || none;
  p = p || none;
  f = f || none;
  const rows = [];
  const row = (r) => rows.push({ ...r, ratio: ratio(r.sioc, r.peer), floorRatio: hasFloor ? ratio(r.sioc, r.floor) : null });
  // A CPU figure as three rows: user + system, user, system. get(side, "cpu" | "user" | "sys").
  const cpu3 = (metric, get, sides, extra = {}) => {
    const g = (x, part) => (x ? get(x, part) : undefined);
    const sp = (x, part) => (x && extra.spread ? extra.spread(x, part) : undefined);
    for (const [part, label] of [["cpu", ""], ["user", ": user"], ["sys", ": system"]])
      row({ metric: metric + label, sioc: g(sides.s, part), peer: g(sides.p, part), floor: g(sides.f, part),
        target: part === "cpu" ? extra.target || "" : "", unit: extra.unit || "µs",
        spread: { sioc: sp(sides.s, part), peer: sp(sides.p, part), floor: sp(sides.f, part) } });
  };
  // Spread [min, max] over --repeat runs of a side, when there were several.
  const spreadOf = (x, k) => (x && x.spread ? x.spread[k] : undefined);
  if (scn === "fanout") {
    row({ metric: `max sustainable deliveries/s (p99 <= ${P99_LIMIT_MS} ms, no loss)`, sioc: s.maxSustainable,
      peer: p.maxSustainable, floor: f.maxSustainable, target: ">= 10 (÷ peer)", unit: "/s",
      spread: { sioc: s.maxSustainableSpread, peer: p.maxSustainableSpread, floor: f.maxSustainableSpread },
      note: s.clientBound ? "sioc: bench client CPU-bound at this step (a lower bound)" : "" });
    const hi = (r) => r.steps.filter((x) => x.ok).reduce((m, x) => Math.max(m, x.delivered), 0) || undefined;
    row({ metric: `highest rate that passed (p99 <= ${P99_LIMIT_MS} ms, no loss), even above a failed one`, sioc: hi(s),
      peer: hi(p), floor: hi(f), target: "", unit: "/s",
      note: "less conservative: a failure below it may be a stall of the shared machine" });
    // The rate compared at: the peer's max sustainable, else the floor's, else sioc's,
    // else (nothing sustained, e.g. on a busy machine) the first rate of the ladder.
    const first = (s.steps[0] || p.steps[0] || f.steps[0] || {}).offered;
    const [at, whose] = p.maxSustainableOffered ? [p.maxSustainableOffered, "the peer's max rate"]
      : f.maxSustainableOffered ? [f.maxSustainableOffered, "the floor's max rate"]
        : s.maxSustainableOffered ? [s.maxSustainableOffered, "sioc's max rate"] : [first, "the first rate (none sustained)"];
    const stepAt = (r) => r.steps.find((x) => x.offered === at);
    const st = { s: stepAt(s), p: stepAt(p), f: stepAt(f) };
    if (at && st.s) {
      row({ metric: `p99 latency at ${whose} (${fmt(at)}/s offered)`, sioc: st.s.p99_ms, peer: st.p && st.p.p99_ms,
        floor: st.f && st.f.p99_ms, target: "<= 0.2 (÷ peer)", unit: "ms",
        spread: { sioc: spreadOf(st.s, "p99_ms"), peer: spreadOf(st.p, "p99_ms"), floor: spreadOf(st.f, "p99_ms") } });
      const key = (pre) => (part) => `${pre}${part}_us_per_delivery`;
      const get = (k) => (x, part) => (x ? x[k(part)] : undefined);
      const cpuKey = (pre, part) => (pre === "" && part === "cpu" ? "cpu_us_per_delivery" : key(pre)(part));
      cpu3(`server CPU per delivery at ${fmt(at)}/s (every server process)`, get(key("")), st,
        { spread: (x, part) => spreadOf(x, cpuKey("", part)) });
      cpu3(`worker CPU per delivery at ${fmt(at)}/s (worker processes only)`, get(key("worker_")), st,
        { target: hasFloor ? "<= 1.3 (÷ floor)" : "", spread: (x, part) => spreadOf(x, cpuKey("worker_", part)) });
    }
    // Worker CPU per delivery against the floor at every offered rate both sustained: the worst.
    if (hasFloor && s.steps.length) {
      let worst = null;
      for (const x of s.steps) {
        const y = f.steps.find((z) => z.offered === x.offered);
        if (!x.ok || !y || !y.ok) continue;
        const r = ratio(x.worker_cpu_us_per_delivery, y.worker_cpu_us_per_delivery);
        if (r !== null && (!worst || r > worst.r)) worst = { r, x, y };
      }
      if (worst)
        rows.push({ metric: `worker CPU per delivery, worst rate both sustained (${fmt(worst.x.offered)}/s offered)`,
          sioc: worst.x.worker_cpu_us_per_delivery, peer: undefined, floor: worst.y.worker_cpu_us_per_delivery,
          ratio: null, floorRatio: worst.r, target: "<= 1.3 (÷ floor)", unit: "µs" });
    }
  } else if (scn === "idle") {
    row({ metric: "worker memory per idle connection (RSS delta / connections)", sioc: s.workerBytesPerConn,
      peer: p.workerBytesPerConn, target: "<= 0.1", unit: "B" });
    if (s.proxyBytesPerConn || p.proxyBytesPerConn)
      row({ metric: "proxy memory per idle connection", sioc: s.proxyBytesPerConn, peer: p.proxyBytesPerConn,
        target: "sioc <= 512 B", unit: "B" });
    row({ metric: "concurrent connections held", sioc: s.held, peer: p.held, target: ">= 200,000 through the proxy", unit: "" });
    const key = { cpu: "holdCpuS", user: "holdUserS", sys: "holdSysS" };
    cpu3("server CPU while holding them (ping traffic)", (x, part) => (x && x.holdS ? x[key[part]] / x.holdS : undefined),
      { s, p }, { unit: "cores" });
  } else if (scn === "echo") {
    row({ metric: "ack round trips/s", sioc: s.rate, peer: p.rate, target: "", unit: "/s" });
    row({ metric: "round-trip p99", sioc: s.p99_ms, peer: p.p99_ms, target: "", unit: "ms" });
    cpu3("server CPU per round trip", (x, part) => x[`${part}_us_per_request`], { s, p });
  } else if (scn === "connect") {
    row({ metric: "connections/s", sioc: s.rate, peer: p.rate, target: ">= 20,000/s (sioc)", unit: "/s" });
    row({ metric: "handshake p99", sioc: s.p99_ms, peer: p.p99_ms, target: "", unit: "ms" });
    cpu3("server CPU per connection set up", (x, part) => x[`${part}_us_per_conn`], { s, p });
  } else if (scn === "storm") {
    const b = (x, k) => (x.bursts && x.bursts[k]) || {};
    const n = (x) => (x.joined ? fmt(x.joined) : "?");
    for (const [k, what] of [[0, "1 message"], [1, "10 messages in a row"]]) {
      if (!b(s, k).messages && !b(p, k).messages) continue;
      row({ metric: `${what} to ${n(s)} clients in one room: last delivery after publishing`, sioc: b(s, k).last_ms,
        peer: b(p, k).last_ms, target: k === 0 ? "sioc <= 100 ms; <= 0.1 (÷ peer)" : "<= 0.1 (÷ peer)", unit: "ms" });
      row({ metric: `${what}: median delivery`, sioc: b(s, k).median_ms, peer: b(p, k).median_ms, target: "", unit: "ms" });
      row({ metric: `${what}: first delivery`, sioc: b(s, k).first_ms, peer: b(p, k).first_ms, target: "", unit: "ms" });
    }
    rows.push({ metric: "loss (every burst; not delivered within --drain)", sioc: s.loss, peer: p.loss, ratio: null, floorRatio: null, target: "0", unit: "" });
    const mib = (x) => (x.workerSpikeKiB === undefined ? undefined : x.workerSpikeKiB / 1024);
    row({ metric: "worker RSS spike during the storm (all workers together)", sioc: mib(s), peer: mib(p), target: "", unit: "MiB" });
    cpu3("server CPU over the storm", (x, part) => (x.cpuUserS === undefined ? undefined : part === "cpu" ? x.cpuUserS + x.cpuSysS : part === "user" ? x.cpuUserS : x.cpuSysS),
      { s, p }, { unit: "s" });
  } else if (scn === "chat") {
    row({ metric: `chat p99 at ${fmt(s.offered)}/s`, sioc: s.p99_ms, peer: p.p99_ms, target: "", unit: "ms" });
    rows.push({ metric: "chat loss", sioc: s.loss, peer: p.loss, ratio: null, floorRatio: null, target: "0", unit: "" });
    cpu3("server CPU per delivery", (x, part) => x[`${part}_us_per_delivery`], { s, p });
  }
  return rows;
}

function fmt(v, unit = "") {
  if (v === null || v === undefined || Number.isNaN(v)) return "n/a";
  let s;
  if (unit === "ms" || unit === "µs" || unit === "cores" || unit === "s" || unit === "MiB") s = v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  else if (Math.abs(v) >= 1e6) s = `${(v / 1e6).toFixed(2)}M`;
  else if (Math.abs(v) >= 1e4) s = `${(v / 1e3).toFixed(1)}k`;
  else s = Number.isInteger(v) ? String(v) : v.toFixed(0);
  return unit && unit !== "/s" ? `${s} ${unit}` : unit === "/s" ? `${s}/s` : s;
}

// ------------------------------------------------------------------ plot

function plotFanout(o, res, pngPath) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "sioc-plot-"));
  const series = [];
  for (const [kind, title] of [["sioc", "sioc"], ["peer", "Node.js socket.io"], ["floor", "floor (sioc-floor)"]]) {
    const r = res[kind];
    if (!r) continue;
    const f = path.join(dir, `${kind}.dat`);
    writeFileSync(f, r.steps.filter((s) => Number.isFinite(s.p99_ms) && Number.isFinite(s.p50_ms))
      .map((s) => `${s.offered} ${Math.max(s.p99_ms, 0.001)} ${Math.max(s.p50_ms, 0.001)}`).join("\n") + "\n");
    series.push(`'${f}' using 1:2 with linespoints lw 2 pt 7 title '${title} p99'`);
    series.push(`'${f}' using 1:3 with linespoints dt 2 pt 6 title '${title} p50'`);
  }
  const gp = `set terminal png size 960,600
set output '${pngPath}'
set title 'Fan-out latency against offered load (${(res.sioc || res.peer || res.floor).roomSize} members per room)'
set logscale xy
set xlabel 'offered deliveries per second'
set ylabel 'latency (ms)'
set grid
set key top left
set arrow from graph 0, first ${P99_LIMIT_MS} to graph 1, first ${P99_LIMIT_MS} nohead dt 3
set label '${P99_LIMIT_MS} ms' at graph 0.01, first ${P99_LIMIT_MS * 1.15}
plot ${series.join(", \\\n     ")}
`;
  writeFileSync(path.join(dir, "plot.gp"), gp);
  execFileSync("gnuplot", [path.join(dir, "plot.gp")]);
  rmSync(dir, { recursive: true, force: true });
}

// ------------------------------------------------------------------ RESULTS.md

const fmtRatio = (x) => (x === null || x === undefined ? "n/a" : x.toFixed(x >= 10 ? 1 : 2) + "×");

/** A figure, followed by its spread over the runs "(min–max)" when there were several. */
function fmtSpread(v, sp, unit) {
  if (!sp || v === null || v === undefined) return fmt(v, unit);
  const bare = (x) => fmt(x, unit).replace(/(\/s| \S+)$/, "");
  return `${fmt(v, unit)} (${bare(sp[0])}–${bare(sp[1])})`;
}

function mdTable(rows) {
  const out = ["| metric | sioc | Node.js peer | sioc ÷ peer | floor | sioc ÷ floor | target |", "|---|---:|---:|---:|---:|---:|---|"];
  for (const r of rows) {
    const sp = r.spread || {};
    out.push(`| ${r.metric} | ${fmtSpread(r.sioc, sp.sioc, r.unit)} | ${fmtSpread(r.peer, sp.peer, r.unit)} | ${fmtRatio(r.ratio)} | ${fmtSpread(r.floor, sp.floor, r.unit)} | ${fmtRatio(r.floorRatio)} | ${r.target}${r.note ? ` (${r.note})` : ""} |`);
  }
  return out.join("\n");
}

/** Fanout: worker CPU per delivery of sioc ÷ the floor's, at each offered rate both ran. */
function floorTable(s, f) {
  const L = [];
  L.push("Worker CPU per delivery, sioc ÷ floor, at each offered rate (µs per delivery, user + system; ✓ = both passed):");
  L.push("");
  L.push("| offered/s | sioc worker µs | user | system | floor µs | user | system | sioc ÷ floor | user ÷ | system ÷ | both ok |");
  L.push("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|");
  for (const x of s.steps) {
    const y = f.steps.find((z) => z.offered === x.offered);
    if (!y) continue;
    const u = (v) => (v === undefined ? "n/a" : v.toFixed(2));
    L.push(`| ${fmt(x.offered)} | ${u(x.worker_cpu_us_per_delivery)} | ${u(x.worker_user_us_per_delivery)} | ${u(x.worker_sys_us_per_delivery)} | ${u(y.worker_cpu_us_per_delivery)} | ${u(y.worker_user_us_per_delivery)} | ${u(y.worker_sys_us_per_delivery)} | ${fmtRatio(ratio(x.worker_cpu_us_per_delivery, y.worker_cpu_us_per_delivery))} | ${fmtRatio(ratio(x.worker_user_us_per_delivery, y.worker_user_us_per_delivery))} | ${fmtRatio(ratio(x.worker_sys_us_per_delivery, y.worker_sys_us_per_delivery))} | ${x.ok && y.ok ? "✓" : "✗"} |`);
  }
  L.push("");
  return L;
}

function scenarioDetails(scn, doc) {
  const L = [];
  for (const kind of KINDS) {
    const r = doc.results[kind];
    if (!r) continue;
    L.push(`**${KIND_TITLE[kind]}** — ${r.topology}.`);
    L.push("");
    if (scn === "fanout" && r.repeat > 1) {
      L.push(`${r.connected}/${r.attempted} clients, ${r.rooms} rooms × ${r.roomSize} members, ${r.publishers} publishers; ${r.repeat} ladders, interleaved with the other sides' (stopped: ${r.stopReason}).`);
      L.push("");
      L.push(`Each figure is the median of the ${r.repeat} runs at that rate (a run that stopped below the rate counts there as an infinite p99 and no delivery), with the spread (min–max) of the runs that reached it. ✓: median p99 <= ${P99_LIMIT_MS} ms, no message lost in any run, median delivered >= 95 % of offered; max sustainable is the highest ✓ with every lower rate ✓.`);
      L.push("");
      L.push("| offered/s | runs | delivered/s | p50 ms | p99 ms (min–max) | loss (worst run) | server CPU µs/delivery (min–max) | user | system | worker µs/delivery (min–max) | worker user | worker system | bench CPU | runs ✓ | ok |");
      L.push("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|");
      const u = (v) => (v === undefined || !Number.isFinite(v) ? "n/a" : v.toFixed(2));
      const us = (x, k) => `${u(x[k])}${x.spread[k] ? ` (${u(x.spread[k][0])}–${u(x.spread[k][1])})` : ""}`;
      for (const x of r.steps)
        L.push(`| ${fmt(x.offered)} | ${x.runs}/${x.of} | ${fmt(x.delivered)} | ${u(x.p50_ms)} | ${us(x, "p99_ms")} | ${x.loss} | ${us(x, "cpu_us_per_delivery")} | ${u(x.user_us_per_delivery)} | ${u(x.sys_us_per_delivery)} | ${us(x, "worker_cpu_us_per_delivery")} | ${u(x.worker_user_us_per_delivery)} | ${u(x.worker_sys_us_per_delivery)} | ${x.client_cpu === undefined ? "n/a" : (x.client_cpu * 100).toFixed(0) + " %"} | ${x.okRuns}/${x.of} | ${x.ok ? "✓" : "✗"} |`);
    } else if (scn === "fanout") {
      L.push(`${r.connected}/${r.attempted} clients, ${r.rooms} rooms × ${r.roomSize} members, ${r.publishers} publishers; stopped: ${r.stopReason || "ladder done"}. A step whose p99 passed ${P99_LIMIT_MS} ms was run once more (retry); the plot and the ratios use the better attempt, and a rate counts as sustainable only when every lower rate was too.`);
      L.push("");
      L.push("Server CPU per delivery: every server process, then its user and system parts; \"worker\" counts the worker processes only.");
      L.push("");
      L.push("| offered/s | delivered/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | loss | dup | reordered | server CPU µs/delivery | user | system | worker µs/delivery | worker user | worker system | bench CPU | ok |");
      L.push("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|");
      const u = (v) => (v === undefined ? "n/a" : v.toFixed(2));
      for (const s of r.attempts || r.steps)
        L.push(`| ${fmt(s.offered)}${s.attempt ? " (retry)" : ""} | ${fmt(s.delivered)} | ${s.p50_ms.toFixed(2)} | ${s.p90_ms.toFixed(2)} | ${s.p99_ms.toFixed(2)} | ${s.p999_ms.toFixed(2)} | ${s.max_ms.toFixed(1)} | ${s.loss} | ${s.dup} | ${s.reordered} | ${s.cpu_us_per_delivery.toFixed(2)} | ${u(s.user_us_per_delivery)} | ${u(s.sys_us_per_delivery)} | ${u(s.worker_cpu_us_per_delivery)} | ${u(s.worker_user_us_per_delivery)} | ${u(s.worker_sys_us_per_delivery)} | ${(s.client_cpu * 100).toFixed(0)} % | ${s.ok ? "✓" : "✗"} |`);
      if (r.profile) {
        L.push("");
        L.push("Where sioc-worker spent its time over the whole ladder (perf, self time, top entries):");
        L.push("");
        L.push("```");
        for (const x of r.profile.byDso) L.push(x);
        L.push("");
        for (const x of r.profile.bySymbol) L.push(x);
        L.push("```");
      }
    } else if (scn === "idle") {
      L.push(`${r.held} of ${r.attempted} connections held (${r.connected} connected) by ${r.benchProcesses} sioc-bench processes; connected at ${fmt(r.connectRate)}/s, handshake p99 ${fmt(r.connectLatency.p99 / 1e3, "ms")}; ${r.pings} pings in the hold.${r.firstError ? ` First error: ${r.firstError}.` : ""}`);
      L.push("");
      L.push("| process | pid | RSS before | RSS holding | bytes per connection |");
      L.push("|---|---:|---:|---:|---:|");
      for (const x of r.perProc) L.push(`| ${x.role} | ${x.pid} | ${x.baseKiB} KiB | ${x.loadedKiB} KiB | ${x.bytesPerConn.toFixed(0)} |`);
    } else if (scn === "echo") {
      L.push(`${r.connected} clients, one request in flight each: ${fmt(r.rate)}/s, p50 ${fmt(r.p50_ms, "ms")}, p99 ${fmt(r.p99_ms, "ms")}, ${r.errors} errors.`);
    } else if (scn === "connect") {
      L.push(`${r.connected}/${r.attempted} connected at ${fmt(r.rate)}/s; handshake p50 ${fmt(r.p50_ms, "ms")}, p99 ${fmt(r.p99_ms, "ms")}.${r.firstError ? ` First error: ${r.firstError}.` : ""}`);
      if (r.cpuSplit && r.cpuSplit.length) {
        L.push("");
        L.push("CPU per connection set up, by process (the load generator shares the machine):");
        L.push("");
        L.push("| process | µs per connection | user | system |");
        L.push("|---|---:|---:|---:|");
        const u = (v) => (v === undefined ? "n/a" : v.toFixed(1));
        for (const x of r.cpuSplit) L.push(`| ${x.role} | ${u(x.us_per_conn)} | ${u(x.user)} | ${u(x.sys)} |`);
      }
    } else if (scn === "storm") {
      L.push(`${r.joined} clients in one room (${r.connected} connected of ${r.attempted}, the publisher included) spread over ${r.workers} worker(s) by ${r.benchProcesses} sioc-bench processes.${r.firstError ? ` First error: ${r.firstError}.` : ""}`);
      L.push("");
      L.push("| burst | messages | delivered / expected | loss | dup | first ms | median ms | p99 ms | last ms |");
      L.push("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
      const m = (v) => (v === undefined ? "n/a" : v.toFixed(2));
      r.bursts.forEach((x, k) => {
        if (x) L.push(`| ${k + 1} | ${x.messages} | ${x.received} / ${x.expected} | ${x.loss} | ${x.dup} | ${m(x.first_ms)} | ${m(x.median_ms)} | ${m(x.p99_ms)} | ${m(x.last_ms)} |`);
      });
      L.push("");
      L.push(`RSS before the storm and at its highest (${r.peakFrom === "VmHWM" ? "VmHWM, reset just before" : "sampled every 10 ms by the publishing sioc-bench"}):`);
      L.push("");
      L.push("| process | pid | RSS before | peak | spike |");
      L.push("|---|---:|---:|---:|---:|");
      for (const x of r.perProc) L.push(`| ${x.role} | ${x.pid} | ${x.beforeKiB} KiB | ${x.peakKiB ?? "n/a"} KiB | ${x.spikeKiB ?? "n/a"} KiB |`);
    } else if (scn === "chat") {
      L.push(`${r.connected} clients: offered ${fmt(r.offered)}/s, delivered ${fmt(r.delivered)}/s, loss ${r.loss}, dup ${r.dup}, reordered across senders ${r.reordered} (allowed: Socket.IO orders per sender), p50 ${fmt(r.p50_ms, "ms")}, p99 ${fmt(r.p99_ms, "ms")}.`);
    }
    L.push("");
    L.push("```");
    L.push(r.command);
    L.push("```");
    L.push("");
  }
  if (scn === "fanout" && doc.results.sioc && doc.results.floor) L.push(...floorTable(doc.results.sioc, doc.results.floor));
  return L.join("\n");
}

function writeResultsMd(o) {
  const order = (k) => SCENARIOS.indexOf(k.split("-")[0]);
  const files = readdirSync(o.out).filter((f) => f.endsWith(".json")).map((f) => JSON.parse(readFileSync(path.join(o.out, f), "utf8")));
  const docs = files.filter((d) => d.key && d.results).sort((a, b) => order(a.key) - order(b.key) || a.key.localeCompare(b.key));
  const layoutDocs = files.filter((d) => SIOC_SCENARIOS.includes(d.scenario) && d.text);
  if (!docs.length) return;
  const latest = docs.reduce((a, b) => (a.finished > b.finished ? a : b));
  const L = [];
  L.push("# sioc vs Node.js Socket.IO — benchmark results");
  L.push("");
  L.push("Generated by `bench/compare` (do not edit by hand); each section below comes from the last run of its scenario.");
  L.push("");
  L.push("## Machine and versions");
  L.push("");
  const m = latest.machine;
  L.push(`- CPU: ${m.cpu}, ${m.cores} cores; memory ${m.memGiB} GiB; ${m.kernel}; open files per process: ${m.openFilesLimit}; ephemeral ports ${m.portRange}`);
  L.push(`- Load generator, servers, proxies and redis share these ${m.cores} cores; the machine may be shared with other work (load average at each run is shown).`);
  L.push(`- Versions: ${Object.entries(latest.versions).map(([k, v]) => `${k} ${v}`).join("; ")}`);
  L.push("");
  L.push("## What limits these numbers");
  L.push("");
  L.push(`- Open files: ${m.openFilesLimit} per process (the hard limit here cannot be raised), so one server process holds at most ~${m.openFilesLimit - FD_LIMIT_MARGIN} sockets and a proxy, which needs two per client, ~${Math.floor((m.openFilesLimit - FD_LIMIT_MARGIN) / 2)} clients; the load generator is split into processes of at most ${Math.min(10000, m.openFilesLimit - FD_LIMIT_MARGIN)} clients. Holding more needs more processes (workers, proxy replicas), not a bigger one.`);
  L.push(`- CPU: ${m.cores} cores for the load generator, the workers, the proxy and redis together; on loopback the kernel's TCP work for both ends runs on these cores too (in the fan-out profiles most server time is the kernel's writev path). When the bench client's share of a core nears 100 % (column "bench CPU"), the client, not the server, sets the ceiling.`);
  const fan = docs.find((d) => d.scenario === "fanout" && d.options.repeat > 1);
  L.push(fan
    ? `- The machine is shared: other work running at the same time shows as latency spikes and in the load averages recorded per run. So each fan-out ladder runs ${fan.options.repeat} times per side, interleaved (sioc, Node, floor, sioc, …): a figure is the median of the runs, followed by its spread (min–max), a rate is sustainable when its median p99 is <= ${P99_LIMIT_MS} ms with no loss in any run, and the ratios and their targets are judged on the medians.`
    : "- The machine is shared: other work running at the same time shows as latency spikes (a step is retried once when its p99 passes 50 ms) and in the load averages recorded per run.");
  if (docs.some((d) => d.scenario === "storm"))
    L.push("- The storm's clients connect to the workers directly, or through sioc-proxy where its topology says so. A proxy that hands websockets off to the workers (SIOC_BENCH_HANDOFF=1, \"websocket hand-off\") keeps no descriptor per client, so one proxy process passes all 100,000; the Node peer's clients then connect to its processes directly, as one HAProxy process holds at most half the open-files limit of clients. Runs through sioc-proxy use hand-off, as deploy/cluster does. A storm delivery is timed from the publishing of its burst to its arrival, across every sioc-bench process (one monotonic clock); what has not arrived --drain seconds after the last burst is lost.");
  L.push("");
  L.push("- The floor (fan-out only) is sioc-floor (bench/floor/): one raw-epoll process that joins rooms and copies one precomputed frame per message to every member, one write per connection per loop turn, with no protocol work: what the kernel and the event loop alone cost here. sioc ÷ floor compares the worker processes' CPU (no proxy, no redis) with it.");
  L.push("- CPU figures come from utime and stime in /proc: user is the program's own code, system is mostly the kernel's TCP send and receive path. Their sum is exact (the scheduler's runtime); the split is not: Linux divides that runtime by the timer-tick samples of each side and never lets either go backwards, so when a step's mix is more kernel-heavy than the process's past, its user share can stay frozen for the step (user 0 µs at high fan-out rates). The split at the reference rate (20k/s, early in the ladder) is the one to read.");
  L.push("");
  L.push("## Ratios (sioc ÷ peer and sioc ÷ floor, same run)");
  L.push("");
  const all = [];
  for (const d of docs) for (const r of ratiosFor(d.scenario, d.results.sioc, d.results.peer, d.results.floor)) all.push({ ...r, metric: `${d.key}: ${r.metric}` });
  L.push(mdTable(all));
  L.push("");
  for (const d of docs) {
    L.push(`## ${d.key}`);
    L.push("");
    L.push(`Run ${d.started} → ${d.finished} (load average before: ${d.loadBefore.map((x) => x.toFixed(2)).join(" ")}), ${d.options.workers} worker(s) per side, transport ${d.options.transport}.`);
    L.push("");
    L.push("Reproduce: `" + d.reproduce + "`");
    L.push("");
    if (d.scenario === "fanout" && d.plot) {
      L.push(`![p99 and p50 latency against offered load](PLOTREL:${d.plot})`);
      L.push("");
    }
    L.push(scenarioDetails(d.scenario, d));
    if (d.notes && d.notes.length) {
      L.push("Notes:");
      L.push("");
      for (const n of d.notes) L.push(`- ${n}`);
      L.push("");
    }
  }
  for (const d of layoutDocs) {
    L.push(`## ${d.scenario} (sioc only)`);
    L.push("");
    L.push(`Run ${d.started} → ${d.finished}. Reproduce: \`${d.reproduce}\``);
    L.push("");
    L.push("```");
    L.push(d.text);
    L.push("```");
    L.push("");
  }
  // The default results directory feeds bench/RESULTS.md; any other gets its own RESULTS.md.
  const md = o.out === path.join(REPO, "bench/results") ? path.join(REPO, "bench/RESULTS.md") : path.join(o.out, "RESULTS.md");
  const rel = (p) => path.relative(path.dirname(md), p);
  writeFileSync(md, L.join("\n").replaceAll("@PLOT@", "").replace(/\]\(PLOTREL:([^)]*)\)/g, (_, p) => `](${rel(path.join(o.out, path.basename(p)))})`));
  log(`wrote ${md}`);
}

// ------------------------------------------------------------------ main

/** Results file stem: the scenario, plus the topology when it is not the default. */
function resultKey(o) {
  if (o.only === "floor") return `${o.scenario}-floor`; /* the floor has no workers or proxy */
  if (o.scenario === "storm") return `storm${o.useProxy ? "-proxy" : ""}`; /* workers follow --clients */
  return o.scenario + (o.workers > 1 ? `-w${o.workers}` : "") + (o.useProxy ? "-proxy" : "") +
    (o.transport !== "websocket" ? `-${o.transport}` : "");
}

// ------------------------------------------------------------------ redis-shards

/**
 * The Redis processes' CPU at one fan-out step, as % of one core over the step's
 * sending window: [{role, pct}] in the cluster's order (primaries first).
 */
function redisCpuPct(step, stepS) {
  return (step.procs || []).filter((x) => x.role.startsWith("redis")).map((x) => ({ role: x.role, pct: ((x.cpu_s || 0) / stepS) * 100 }));
}

/** The worker processes' CPU at one step, % of one core summed over the workers. */
function workerCpuPct(step, stepS) {
  return ((step.procs || []).filter((x) => x.role === "worker").reduce((a, x) => a + (x.cpu_s || 0), 0) / stepS) * 100;
}

/** Redis's memory now: used_memory, and the default stream's length and MEMORY USAGE. */
function redisMemory(port) {
  const cli = (...args) => execFileSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args], { encoding: "utf8" }).trim();
  try {
    const info = cli("INFO", "memory");
    const used = Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? NaN);
    return { usedBytes: used, streamEntries: Number(cli("XLEN", "socket.io")) || 0, streamBytes: Number(cli("MEMORY", "USAGE", "socket.io")) || 0 };
  } catch (e) {
    return { error: String(e.message).split("\n")[0] };
  }
}

/** The sioc-only comparisons: one fan-out ladder per layout (sioc configuration), interleaved. */
const LAYOUTS = {
  "redis-shards": (o) => ({
    what: "sharded fan-out (--adapter-mode sharded) on each Redis layout, same ladder, same run",
    layouts: [
      { key: "node", title: "1 Redis node", run: { adapterMode: "sharded", redisCluster: null } },
      { key: "cluster", title: `Redis Cluster, ${o.shards} primaries${o.replicas ? ` + ${o.replicas} replica(s) each` : ""}`,
        run: { adapterMode: "sharded", redisCluster: { primaries: o.shards, replicas: o.replicas } } },
    ],
  }),
  "adapter-modes": () => ({
    what: "fan-out through the proxy with each adapter mode, same ladder, same run",
    layouts: [
      { key: "classic", title: "classic adapter (Pub/Sub), no recovery", run: { adapterMode: "classic", redisMemory: true } },
      { key: "streams", title: "streams adapter, connection state recovery on (120 s)",
        run: { adapterMode: "streams", workerFlags: ["--max-disconnection-duration", "120000"], redisMemory: true } },
    ],
  }),
};

async function mainLayouts(o) {
  mkdirSync(path.join(o.logRoot), { recursive: true });
  const { what, layouts } = LAYOUTS[o.scenario](o);
  const [A, B] = layouts;
  const runs = Object.fromEntries(layouts.map((l) => [l.key, []]));
  for (let rep = 0; rep < o.repeat; rep++) {
    for (const l of layouts) {
      log(`${o.scenario}: ${l.title}${o.repeat > 1 ? `, run ${rep + 1} of ${o.repeat}` : ""}`);
      runs[l.key].push(await scenarioFanout({ ...o, ...l.run, logTag: `${l.key}-${rep + 1}`, idleRedisS: 2 }, "sioc"));
    }
  }
  const res = {};
  for (const l of layouts) {
    const list = runs[l.key];
    const agg = list.length > 1 ? aggregateFanout(list) : list[0];
    // Redis and worker CPU by offered rate: the median over the runs, per Redis process.
    const rows = agg.steps.map((x) => {
      const per = list.map((r) => r.steps.find((y) => y.offered === x.offered)).filter(Boolean);
      const shards = per.length ? redisCpuPct(per[0], o.step).map((sh, i) => ({
        role: sh.role, pct: median(per.map((y) => (redisCpuPct(y, o.step)[i] || { pct: 0 }).pct)),
      })) : [];
      return { offered: x.offered, delivered: x.delivered, p99_ms: x.p99_ms, ok: x.ok, loss: x.loss, runs: x.runs ?? 1, of: x.of ?? 1,
        redis: shards, workersPct: median(per.map((y) => workerCpuPct(y, o.step))), clientCpu: x.client_cpu,
        cpuUsPerDelivery: median(per.map((y) => y.cpu_us_per_delivery)) };
    });
    const idle = list[0].idleRedisPct.map((_, i) => median(list.map((r) => r.idleRedisPct[i] || 0)));
    res[l.key] = { title: l.title, topology: agg.topology, maxSustainable: agg.maxSustainable, idleRedisPct: idle,
      maxSustainableOffered: agg.maxSustainableOffered, stopReason: agg.stopReason, rows, command: list[0].command,
      redisMemory: list.map((r) => r.redisMemory).filter(Boolean) };
  }
  const doc = {
    scenario: o.scenario, started: o.started, finished: new Date().toISOString(), loadBefore: o.loadBefore, loadAfter: os.loadavg(),
    machine: machineInfo(), versions: versions(o),
    options: { workers: o.workers, proxy: o.useProxy, conns: o.conns, roomSize: o.roomSize, step: o.step, repeat: o.repeat,
      shards: o.shards, replicas: o.replicas, rates: o.rates },
    reproduce: `${benchEnv()}bench/compare ${process.argv.slice(2).join(" ")}`.trim(), results: res,
  };

  const W = (v, n) => String(v).padStart(n);
  const pct = (v) => `${v.toFixed(0)}%`;
  const nRedis = Math.max(1, ...layouts.map((l) => (res[l.key].rows[0]?.redis.length ?? 1)));
  const out = [];
  out.push(`${o.scenario}: ${what}`);
  out.push(`  ${res[A.key].topology.replace(/ \+ redis-server \(adapter\)/, "").replace(/, \w+ mode$/, "")}; ${o.conns} subscribers in rooms of ${o.roomSize}; ${o.step} s per step; ${o.repeat} run(s) per layout` +
    `${o.repeat > 1 ? ", interleaved (medians)" : ""}; load average before ${o.loadBefore.map((x) => x.toFixed(2)).join(" ")}, after ${doc.loadAfter.map((x) => x.toFixed(2)).join(" ")}`);
  out.push("  CPU: % of one core over each step (utime + stime from /proc/<pid>/stat), the workers summed, Redis per process");
  out.push("  (primaries first); µs/deliv: every server process's CPU per delivery; Redis µs/msg: the Redis processes' CPU");
  out.push("  summed, less their idle CPU (measured 2 s before the load, workers connected), per published message");
  out.push("  (deliveries ÷ room size)");
  for (const l of layouts) {
    const x = res[l.key];
    out.push("");
    const idleSum = x.idleRedisPct.reduce((a, v) => a + v, 0);
    out.push(`  ${l.title}: max sustainable ${fmt(x.maxSustainable, "/s")} (p99 <= ${P99_LIMIT_MS} ms, no loss); Redis idle ` +
      `${x.idleRedisPct.map(pct).join(" ")}`);
    for (const m of x.redisMemory)
      if (!m.error) out.push(`  Redis memory after the ladder: used_memory ${fmt(m.usedBytes)} B; stream socket.io: ${fmt(m.streamEntries)} entries, ${fmt(m.streamBytes)} B` +
        `${m.streamEntries ? ` (${(m.streamBytes / m.streamEntries).toFixed(0)} B per entry)` : ""}`);
    out.push(`  ${W("offered/s", 10)} ${W("deliv/s", 8)} ${W("p99 ms", 8)} ${W("runs", 5)} ${W("µs/deliv", 9)} ${W("workers", 8)}  ${"redis".padEnd(6 * nRedis)} ${W("sum", 5)} ${W("µs/msg", 7)}`);
    for (const row of x.rows) {
      const sum = row.redis.reduce((a, sh) => a + sh.pct, 0);
      const msgs = row.delivered / o.roomSize;
      out.push(`  ${W(fmt(row.offered), 10)} ${W(fmt(row.delivered), 8)} ${W(Number.isFinite(row.p99_ms) ? row.p99_ms.toFixed(1) : "-", 8)} ` +
        `${W(`${row.runs}/${row.of}`, 5)} ${W(Number.isFinite(row.cpuUsPerDelivery) ? row.cpuUsPerDelivery.toFixed(2) : "-", 9)} ${W(pct(row.workersPct), 8)}  ` +
        `${row.redis.map((sh) => W(pct(sh.pct), 4) + (sh.role === "redis" ? "  " : "r ")).join("").padEnd(6 * nRedis)} ` +
        `${W(pct(sum), 5)} ${W(msgs > 0 ? ((Math.max(0, sum - idleSum) / 100) * 1e6 / msgs).toFixed(1) : "-", 7)}  ${row.ok ? "ok" : "FAIL"}`);
    }
  }
  const r = ratio(res[B.key].maxSustainable, res[A.key].maxSustainable);
  out.push("");
  out.push(`  max sustainable, ${B.key} ÷ ${A.key}: ${r ? `${r.toFixed(2)}x` : "n/a"}`);
  if (o.replicas) out.push("  (r: a replica)");
  out.push("");
  for (const l of layouts) out.push(`  sioc-bench, ${l.key}: ${res[l.key].command.replace(/ --pid \S+/, "")}`);
  doc.text = out.join("\n");
  const jsonPath = o.scenario === "adapter-modes" ? path.join(o.out, "adapter-modes.json") : path.join(o.logRoot, `${o.scenario}.json`);
  mkdirSync(path.dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, JSON.stringify(doc, null, 1) + "\n");
  process.stdout.write(`\n${doc.text}\n  results: ${jsonPath}\n`);
  if (o.scenario === "adapter-modes" && o.resultsMd) writeResultsMd(o);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.scenario === "report") {
    writeResultsMd(o);
    return;
  }
  ensureDeps(o);
  if (SIOC_SCENARIOS.includes(o.scenario)) {
    o.useProxy = o.proxy === "on" || (o.proxy === "auto" && siocProxyAvailable(o.buildDir));
    if (o.proxy === "on" && !siocProxyAvailable(o.buildDir)) die(`--proxy on: no sioc-proxy in ${o.buildDir}`);
    o.logRoot = mkdtempSync(path.join(os.tmpdir(), `sioc-compare-${o.scenario}-`));
    o.started = new Date().toISOString();
    o.loadBefore = os.loadavg();
    log(`${o.scenario}: logs in ${o.logRoot}; load average ${o.loadBefore.map((x) => x.toFixed(2)).join(" ")}`);
    await mainLayouts(o);
    return;
  }
  o.useProxy = o.proxy === "on" || (o.proxy === "auto" && siocProxyAvailable(o.buildDir));
  if (o.proxy === "on" && !siocProxyAvailable(o.buildDir)) die(`--proxy on: no sioc-proxy in ${o.buildDir}`);
  mkdirSync(o.out, { recursive: true });
  o.logRoot = mkdtempSync(path.join(os.tmpdir(), `sioc-compare-${o.scenario}-`));
  const started = new Date().toISOString();
  const loadBefore = os.loadavg();
  log(`${o.scenario}: logs in ${o.logRoot}; load average ${loadBefore.map((x) => x.toFixed(2)).join(" ")}`);
  const results = {};
  // Fanout: --repeat ladders per side, interleaved, so a slow spell of the shared machine
  // falls on every side rather than on one.
  const reps = o.scenario === "fanout" ? o.repeat : 1;
  const runs = {};
  for (let rep = 0; rep < reps; rep++) {
    for (const kind of KINDS) {
      if (o.only && o.only !== kind) continue;
      if (kind === "floor" && o.scenario !== "fanout") continue;
      if (reps > 1) log(`${kind}: run ${rep + 1} of ${reps}`);
      (runs[kind] ||= []).push(await RUNNERS[o.scenario](o, kind));
    }
  }
  for (const [kind, list] of Object.entries(runs)) results[kind] = list.length > 1 ? aggregateFanout(list) : list[0];
  const ratios = ratiosFor(o.scenario, results.sioc, results.peer, results.floor);
  const notes = [];
  if (o.scenario === "fanout") {
    for (const kind of KINDS) {
      const r = results[kind];
      if (!r) continue;
      const last = r.steps[r.steps.length - 1];
      if (last && last.client_cpu > 0.9)
        notes.push(`${kind}: the load generator used ${(last.client_cpu * 100).toFixed(0)} % of a core at the last step (${fmt(last.offered)}/s): near there the bench client, not the server, may be the limit.`);
      if (last && last.lag_ms > 20)
        notes.push(`${kind}: publishing trailed its schedule by up to ${last.lag_ms.toFixed(0)} ms at the last step (bench loop stalled).`);
    }
  }
  if (o.only) notes.push(`Only ${o.only} was run (--only ${o.only}): no ratios.`);
  if (o.scenario === "storm") {
    for (const kind of KINDS) {
      const r = results[kind];
      if (r && r.connected < r.attempted)
        notes.push(`${kind}: ${r.connected} of ${r.attempted} clients connected${r.firstError ? ` (first error: ${r.firstError})` : ""}: the storm went to fewer clients.`);
    }
    notes.push(`Bursts ${o.bursts} are published ${o.step} s apart (--step); a delivery is timed from the publishing of its burst, across every sioc-bench process (one monotonic clock).`);
  }
  if (o.scenario === "idle") {
    notes.push(`Each process may open ${fdLimit()} files here, so one server process holds at most ~${fdLimit() - FD_LIMIT_MARGIN} sockets (a proxy two per client); the scenario asks for that many.`);
  }
  const doc = {
    scenario: o.scenario, started, finished: new Date().toISOString(), loadBefore, loadAfter: os.loadavg(),
    machine: machineInfo(), versions: versions(o),
    options: { workers: o.workers, proxy: o.useProxy, transport: o.transport, roomSize: o.roomSize, msgSize: o.msgSize,
      repeat: reps, conns: o.conns },
    reproduce: `${benchEnv()}bench/compare ${process.argv.slice(2).map((a) => (/[\s,]/.test(a) && !/^[\d.,e]+$/.test(a) ? `'${a}'` : a)).join(" ").replace(/--build-dir \S+ ?/, "").replace(/--out \S+ ?/, "").trim()}`,
    results, ratios, notes,
  };
  if (o.scenario === "fanout") {
    const png = path.join(o.out, `${resultKey(o)}-latency.png`);
    try {
      plotFanout(o, results, png);
      doc.plot = png;
    } catch (e) {
      notes.push(`plot failed: ${e.message}`);
    }
  }
  doc.key = resultKey(o);
  writeFileSync(path.join(o.out, `${doc.key}.json`), JSON.stringify(doc, null, 1) + "\n");
  const rx = (x) => (x === null || x === undefined ? "n/a" : x.toFixed(2) + "x");
  process.stdout.write(`\n${o.scenario}: sioc ÷ peer${o.scenario === "fanout" ? ", sioc ÷ floor" : ""}\n`);
  const w = reps > 1 ? 26 : 11;
  if (reps > 1) process.stdout.write(`  medians of ${reps} interleaved runs per side, (min–max) their spread; ratios of the medians\n`);
  process.stdout.write(`  ${"metric".padEnd(78)} ${"sioc".padStart(w)} ${"peer".padStart(w)} ${"÷ peer".padStart(7)}` +
    (o.scenario === "fanout" ? ` ${"floor".padStart(w)} ${"÷ floor".padStart(7)}` : "") + "\n");
  for (const r of ratios)
    process.stdout.write(`  ${r.metric.padEnd(78)} ${fmtSpread(r.sioc, (r.spread || {}).sioc, r.unit).padStart(w)} ${fmtSpread(r.peer, (r.spread || {}).peer, r.unit).padStart(w)} ${rx(r.ratio).padStart(7)}` +
      (o.scenario === "fanout" ? ` ${fmtSpread(r.floor, (r.spread || {}).floor, r.unit).padStart(w)} ${rx(r.floorRatio).padStart(7)}` : "") + "\n");
  if (o.scenario === "fanout") {
    // Per step and side: server CPU per delivery, user + system, and the worker's part.
    process.stdout.write("\n  server CPU per delivery by offered rate (µs; all server processes = user + system; worker processes = user + system):\n");
    for (const kind of KINDS) {
      const r = results[kind];
      if (!r) continue;
      for (const x of r.steps)
        process.stdout.write(`  ${kind.padEnd(6)} ${fmt(x.offered).padStart(7)}/s  all ${x.cpu_us_per_delivery.toFixed(2).padStart(6)} = ${x.user_us_per_delivery.toFixed(2).padStart(6)} + ${x.sys_us_per_delivery.toFixed(2).padStart(6)}` +
          `   worker ${x.worker_cpu_us_per_delivery.toFixed(2).padStart(6)} = ${x.worker_user_us_per_delivery.toFixed(2).padStart(6)} + ${x.worker_sys_us_per_delivery.toFixed(2).padStart(6)}` +
          `   p99 ${x.p99_ms.toFixed(1).padStart(7)} ms ${x.ok ? "ok" : "FAIL"}\n`);
    }
    if (results.sioc && results.floor) {
      process.stdout.write("\n  sioc worker CPU per delivery ÷ floor's, by offered rate (total, user, system):\n");
      for (const x of results.sioc.steps) {
        const y = results.floor.steps.find((z) => z.offered === x.offered);
        if (!y) continue;
        const q = (k) => rx(ratio(x[k], y[k]));
        process.stdout.write(`  ${fmt(x.offered).padStart(7)}/s  ${q("worker_cpu_us_per_delivery").padStart(7)}  user ${q("worker_user_us_per_delivery").padStart(7)}  system ${q("worker_sys_us_per_delivery").padStart(7)}${x.ok && y.ok ? "" : "  (a side failed this rate)"}\n`);
      }
    }
  }
  for (const n of notes) process.stdout.write(`  note: ${n}\n`);
  if (o.resultsMd) writeResultsMd(o);
}

main().catch((e) => {
  process.stderr.write(`compare: ${e.stack || e}\n`);
  process.exit(1);
});
