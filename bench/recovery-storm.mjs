#!/usr/bin/env node
// A connection state recovery storm: the clients of a worker killed with SIGKILL
// all reconnect through sioc-proxy and recover on the workers left.
//
// Starts redis-server, --workers sioc-worker processes (ADAPTER_MODE=streams,
// --max-disconnection-duration 120000) and one sioc-proxy (websockets handed off
// to the workers unless SIOC_BENCH_HANDOFF=0), all on free 127.0.0.1 ports; runs
// `sioc-bench recovery` in enough processes that none passes the open-files
// limit (--per-bench clients each, from 200 source addresses 127.0.<i+1>.x: the
// proxy places clients by a hash of their address), each
// with its own rooms and a publisher connected straight to the first worker;
// once every client has joined, publishing starts, and --kill-after seconds later
// the last worker is killed (SIGKILL). Its clients reconnect after
// socket.io-client's backoff (--reconnect-delay ms +-50 %) with their pid and
// last offset. Reported: clients of the killed worker, recovered or not, time
// from the kill to the first / median / last recovery, packets replayed before
// the CONNECT replies, loss and duplicates of every client never dropped or
// recovered, and the CPU (utime + stime from /proc) of Redis, the workers left
// and the proxy from the kill to the last recovery, next to Redis's over as
// long a span of steady publishing just before the kill.
//
//   node bench/recovery-storm.mjs [--clients 2000] [--workers 3] [--room-size 500]
//        [--msg-rate 40] [--kill-after 5] [--after 15] [--reconnect-delay 1000]
//        [--per-bench 5000] [--json FILE] [--build-dir DIR]
//   RECOVERY_CLIENTS=10000 node bench/recovery-storm.mjs
//
// Exit status 0 when every dropped client recovered with nothing lost or
// duplicated, 1 otherwise. Every process started here is stopped by PID.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startCluster, REPO } from "./lib/cluster.mjs";
import { cpuTimes, sleep } from "./lib/procs.mjs";
import { httpGet, respQuery } from "../tests/lib/proc.mjs";

const SECRET = "sioc-bench-recovery-secret-0123456789abcdef";
const FD_LIMIT_MARGIN = 100;

function usage(out) {
  out.write(`usage: node bench/recovery-storm.mjs [options]
  --clients N          websocket clients through the proxy [2000; env RECOVERY_CLIENTS]
  --workers N          sioc-worker processes; the last one is killed [3]
  --room-size K        clients per room [500]
  --msg-rate M         messages per second published, all bench processes together [40]
  --kill-after S       seconds of publishing before the kill [5]
  --after S            seconds of publishing after the kill [15]
  --reconnect-delay MS first reconnection delay, +-50 %, doubling per try [1000]
  --per-bench N        clients per sioc-bench process at most [5000]
  --max-disconnection-duration MS  the workers' recovery window [120000]
  --json FILE          write the merged result
  --build-dir DIR      [build/release]
`);
}

function parseArgs(argv) {
  const o = {
    clients: Number(process.env.RECOVERY_CLIENTS || 2000), workers: 3, roomSize: 500, msgRate: 40, killAfter: 5,
    after: 15, reconnectDelay: 1000, perBench: 5000, window: 120000, json: null,
    buildDir: path.join(REPO, "build/release"),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) die(`${a} needs a value`);
      return argv[++i];
    };
    const num = () => {
      const n = Number(v());
      if (!Number.isFinite(n) || n < 0) die(`${a}: not a number`);
      return n;
    };
    switch (a) {
      case "--clients": o.clients = num(); break;
      case "--workers": o.workers = num(); break;
      case "--room-size": o.roomSize = num(); break;
      case "--msg-rate": o.msgRate = num(); break;
      case "--kill-after": o.killAfter = num(); break;
      case "--after": o.after = num(); break;
      case "--reconnect-delay": o.reconnectDelay = num(); break;
      case "--per-bench": o.perBench = num(); break;
      case "--max-disconnection-duration": o.window = num(); break;
      case "--json": o.json = path.resolve(v()); break;
      case "--build-dir": o.buildDir = path.resolve(v()); break;
      case "-h": case "--help": usage(process.stdout); process.exit(0); break;
      default: usage(process.stderr); process.exit(2);
    }
  }
  if (!(o.workers >= 2)) die("--workers must be >= 2 (one is killed)");
  if (!(o.clients >= 1) || !(o.roomSize >= 1) || !(o.perBench >= 1)) die("--clients, --room-size and --per-bench must be positive");
  return o;
}

function die(msg) {
  process.stderr.write(`recovery-storm: ${msg}\n`);
  process.exit(2);
}

const log = (m) => process.stderr.write(`[recovery-storm] ${m}\n`);
const monoUs = () => Number(process.hrtime.bigint() / 1000n); /* CLOCK_MONOTONIC, as sioc-bench's */

/** Spread `total` clients over processes of at most `per` each. */
function split(total, per) {
  const n = Math.max(1, Math.ceil(total / per));
  return Array.from({ length: n }, (_, i) => Math.floor(total / n) + (i < total % n ? 1 : 0));
}

/** Quantile q of merged histogram buckets ([[upper, count], ...]), in the buckets' unit. */
function quantile(docs, q) {
  const m = new Map();
  for (const d of docs) for (const [u, n] of d.recovery.try_latency_us.buckets || []) m.set(u, (m.get(u) || 0) + n);
  const b = [...m.entries()].sort((x, y) => x[0] - y[0]);
  const total = b.reduce((a, [, n]) => a + n, 0);
  if (!total) return undefined;
  const rank = Math.min(total - 1, Math.floor(q * total));
  let seen = 0;
  for (const [u, n] of b) if ((seen += n) > rank) return u;
  return b[b.length - 1][0];
}

/** Redis's INFO commandstats as {command: {calls, usec}} ({} when it does not answer). */
async function commandStats(port) {
  const text = await respQuery(port, ["INFO", "commandstats"], 3000);
  const out = {};
  for (const m of String(text || "").matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm))
    out[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
  return out;
}

/** Commands run between two commandStats, most Redis time first. */
function commandDelta(a, b) {
  return Object.entries(b).map(([k, v]) => ({ cmd: k, calls: v.calls - (a[k]?.calls || 0), usec: v.usec - (a[k]?.usec || 0) }))
    .filter((x) => x.calls > 0).sort((x, y) => y.usec - x.usec);
}

/** CPU seconds (user, sys) of each pid now. */
function cpuSample(pids) {
  return { t: monoUs(), cpu: pids.map(cpuTimes) };
}

/** user+sys of pid index i between two samples (NaN when gone). */
function cpuDelta(a, b, i) {
  return { user: b.cpu[i].user - a.cpu[i].user, sys: b.cpu[i].sys - a.cpu[i].sys };
}

/** The first sample taken at or after `t` (the last one when none is). */
function sampleAt(samples, t) {
  return samples.find((s) => s.t >= t) || samples[samples.length - 1];
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const bin = path.join(o.buildDir, "bench/sioc-bench");
  if (!existsSync(bin)) die(`${bin} not built`);
  if (process.env.SIOC_BENCH_HANDOFF === undefined) process.env.SIOC_BENCH_HANDOFF = "1";
  const fdLimit = Number(readFileSync("/proc/self/limits", "utf8").match(/Max open files\s+(\d+)/)[1]);
  const per = Math.min(o.perBench, fdLimit - FD_LIMIT_MARGIN);
  const logDir = mkdtempSync(path.join(os.tmpdir(), "sioc-recovery-storm-"));
  log(`starting redis + ${o.workers} workers (streams, --max-disconnection-duration ${o.window}) + sioc-proxy; logs in ${logDir}`);
  const loadBefore = os.loadavg(); /* the machine may be shared */
  const c = await startCluster("sioc", {
    workers: o.workers, proxy: true, secret: SECRET, buildDir: o.buildDir, logDir,
    adapterMode: "streams", workerFlags: ["--max-disconnection-duration", String(o.window)],
  });
  log(`${c.topology}; proxy ${c.urls[0]}; workers ${c.workerUrls.join(",")}`);
  const victim = c.workerPids[c.workerPids.length - 1];
  const survivors = c.workerPids.slice(0, -1);
  const tmp = mkdtempSync(path.join(os.tmpdir(), "sioc-recovery-json-"));
  const parts = split(o.clients, per);
  const kids = [];
  let status = 1;
  try {
    const duration = o.killAfter + o.after;
    const argsList = parts.map((n, i) => [
      "--url", c.urls[0], "--publish-url", c.workerUrls[0], "--conns", String(n), "--room-size", String(o.roomSize),
      "--room-prefix", `rs-${process.pid}-${i}-`, "--msg-rate", String(o.msgRate / parts.length),
      "--duration", String(duration), "--drain", "10", "--reconnect-delay", String(o.reconnectDelay),
      "--recovery-timeout", "90", "--source-base", `127.0.${i + 1}.1`, "--sources", "200", "--max-pending", "256",
      "--connect-timeout", "300", "--json", path.join(tmp, `bench-${i}.json`), "--label", "recovery storm",
      "--sync", "--no-progress", "recovery",
    ]);
    for (const args of argsList) {
      const child = spawn(bin, args, { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, JWT_SECRET: SECRET } });
      const k = { child, out: "", ready: false };
      child.stdout.setEncoding("utf8").on("data", (d) => {
        k.out += d;
        if (/^@ready/m.test(k.out)) k.ready = true;
      });
      k.done = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
      kids.push(k);
    }
    const t0 = Date.now();
    while (!kids.every((k) => k.ready)) {
      if (kids.some((k) => k.child.exitCode !== null)) throw new Error(`a sioc-bench process exited during setup:\n${kids.map((k) => k.out).join("")}`);
      if (Date.now() - t0 > 360000) throw new Error("sioc-bench not ready after 360 s");
      await sleep(100);
    }
    log(`${o.clients} clients connected and joined in ${((Date.now() - t0) / 1000).toFixed(1)} s over ${parts.length} sioc-bench process(es); publishing ${o.msgRate}/s`);
    const pids = [c.redisPid, ...survivors, c.proxyPid, victim];
    const samples = [];
    const sampler = setInterval(() => samples.push(cpuSample(pids)), 100);
    samples.push(cpuSample(pids));
    for (const k of kids) k.child.kill("SIGUSR1");
    await sleep(o.killAfter * 1000);
    const stats0 = await commandStats(c.redisPort);
    const before = cpuSample(pids);
    samples.push(before);
    const killUs = monoUs();
    process.kill(victim, "SIGKILL");
    log(`killed worker ${c.workerPids.length - 1} (pid ${victim})`);
    const codes = await Promise.all(kids.map((k) => k.done));
    clearInterval(sampler);
    samples.push(cpuSample(pids));
    const stats1 = await commandStats(c.redisPort);
    // each worker left: its recoveries by result and the packets it replayed (/metrics)
    const perWorker = await Promise.all(c.workerUrls.slice(0, -1).map(async (u) => {
      const body = await httpGet(Number(new URL(u).port), "/metrics").then((r) => r.body, () => "");
      return Object.fromEntries([...String(body).matchAll(/^(sioc_recovery_(?:total\{[^}]*\}|replayed_total)) (\S+)/gm)].map((m) => [m[1], Number(m[2])]));
    }));
    const docs = kids.map((k, i) => {
      const f = path.join(tmp, `bench-${i}.json`);
      if (!existsSync(f)) throw new Error(`sioc-bench exited ${codes[i]} without a result:\n${k.out}`);
      return JSON.parse(readFileSync(f, "utf8"));
    });
    for (const k of kids) process.stderr.write(k.out.replace(/^@.*\n/gm, ""));
    const sum = (f) => docs.reduce((a, d) => a + (d.recovery[f] || 0), 0);
    const back = docs.flatMap((d) => d.recovery.recovered_at_us).map((t) => (t - killUs) / 1e3).sort((a, b) => a - b);
    const lastUs = back.length ? killUs + back[back.length - 1] * 1e3 : samples[samples.length - 1].t;
    const s0 = sampleAt(samples, killUs), s1 = sampleAt(samples, lastUs);
    const span = (s1.t - s0.t) / 1e6;
    // Redis over as long a span of steady publishing just before the kill.
    const b0 = samples.filter((s) => s.t <= killUs - (s1.t - s0.t)).pop() || samples[0];
    const cpuRow = (i) => cpuDelta(s0, s1, i);
    const res = {
      tool: "recovery-storm", unix_time: Math.floor(Date.now() / 1000), topology: c.topology,
      load_average_before: loadBefore, load_average_after: os.loadavg(),
      driver: `node bench/recovery-storm.mjs ${process.argv.slice(2).join(" ")}`.trim(),
      clients: o.clients, workers: o.workers, bench_processes: parts.length, room_size: o.roomSize,
      msg_rate: o.msgRate, kill_after_s: o.killAfter, reconnect_delay_ms: o.reconnectDelay,
      max_disconnection_duration_ms: o.window,
      connected: docs.reduce((a, d) => a + d.connect.connected, 0),
      dropped: sum("dropped"), recovered: sum("recovered"), not_recovered: sum("not_recovered"), gave_up: sum("gave_up"),
      replayed: sum("replayed"), tries: sum("tries"), unparsed: sum("unparsed"),
      unexpected_messages: docs.reduce((a, d) => a + d.errors.unexpected_messages, 0),
      protocol_errors: docs.reduce((a, d) => a + d.errors.protocol, 0),
      // the successful try alone: connect() to the CONNECT reply (what the cluster adds to the backoff)
      try_p50_ms: quantile(docs, 0.5) / 1e3, try_p99_ms: quantile(docs, 0.99) / 1e3,
      try_max_ms: Math.max(...docs.map((d) => d.recovery.try_latency_us.max)) / 1e3,
      first_ms: back[0], median_ms: back[Math.floor(back.length / 2)], p99_ms: back[Math.min(back.length - 1, Math.floor(back.length * 0.99))],
      last_ms: back[back.length - 1],
      published: sum("published"), publish_failed: sum("publish_failed"), checked: sum("checked_members"),
      expected: sum("expected"), received: sum("received"), loss: sum("loss"), duplicates: sum("duplicates"),
      cpu_span_s: span,
      redis_cpu: cpuRow(0),
      redis_cpu_before: cpuDelta(b0, s0, 0), redis_cpu_before_span_s: (s0.t - b0.t) / 1e6,
      workers_cpu: survivors.map((_, i) => cpuRow(1 + i)),
      proxy_cpu: cpuRow(1 + survivors.length),
      lossy: docs.flatMap((d, i) => d.recovery.lossy_members.map((x) => ({ process: i, ...x }))),
      recovery_metrics_per_worker: perWorker,
      redis_commands: commandDelta(stats0, stats1), /* from the kill to the end of the run */
      exit_codes: codes,
      command: argsList.map((a) => `sioc-bench ${a.join(" ")}`).join(" & "),
    };
    res.try_p99_ms = Math.min(res.try_p99_ms, res.try_max_ms); // a bucket's upper bound
    const ok = res.dropped > 0 && res.recovered === res.dropped && res.loss === 0 && res.duplicates === 0 && res.publish_failed === 0;
    res.ok = ok;
    printTable(res);
    if (o.json) writeFileSync(o.json, JSON.stringify(res, null, 1) + "\n");
    status = ok ? 0 : 1;
  } finally {
    for (const k of kids) if (k.child.exitCode === null) k.child.kill("SIGKILL");
    await c.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  return status;
}

function printTable(r) {
  const f = (x, d = 0) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));
  const cpu = (x) => `${f(x.user + x.sys, 2)} s (user ${f(x.user, 2)}, sys ${f(x.sys, 2)})`;
  const rows = [
    ["topology", r.topology],
    ["load average before / after", `${r.load_average_before.map((x) => x.toFixed(2)).join(" ")} / ${r.load_average_after.map((x) => x.toFixed(2)).join(" ")}`],
    ["clients (connected)", `${r.clients} (${r.connected}) in rooms of ${r.room_size}, ${r.bench_processes} sioc-bench process(es), ${r.msg_rate} msgs/s`],
    ["clients of the killed worker", r.dropped],
    ["recovered / not / gave up", `${r.recovered} / ${r.not_recovered} / ${r.gave_up}`],
    ["time from the kill to recovery", `first ${f(r.first_ms)} ms, median ${f(r.median_ms)} ms, p99 ${f(r.p99_ms)} ms, last ${f(r.last_ms)} ms`],
    ["reconnection handshake (connect to CONNECT)", `p50 ${f(r.try_p50_ms, 1)} ms, p99 ${f(r.try_p99_ms, 1)} ms, max ${f(r.try_max_ms, 1)} ms; ${r.tries} tries`],
    ["packets replayed before CONNECT", `${r.replayed}${r.unparsed ? ` (${r.unparsed} deliveries not understood)` : ""}`],
    ["messages checked", `${r.checked} clients: expected ${r.expected}, received ${r.received}, lost ${r.loss}, duplicated ${r.duplicates}`],
    [`Redis CPU, kill to last recovery (${f(r.cpu_span_s, 1)} s)`, cpu(r.redis_cpu)],
    [`Redis CPU, as long before the kill`, cpu(r.redis_cpu_before)],
    ["workers left, CPU over the same span", r.workers_cpu.map(cpu).join("; ")],
    ["proxy CPU over the same span", cpu(r.proxy_cpu)],
    ["Redis commands, kill to end of run", r.redis_commands.slice(0, 6).map((x) => `${x.cmd} ${x.calls} (${f(x.usec / 1e3, 1)} ms)`).join(", ")],
    ["result", r.ok ? "OK" : "FAILED"],
  ];
  const w = Math.max(...rows.map((x) => x[0].length));
  for (const [k, v] of rows) process.stdout.write(`${k.padEnd(w)}  ${v}\n`);
  for (const x of r.lossy) process.stdout.write(`  lossy: ${JSON.stringify(x)}\n`);
}

main().then((code) => process.exit(code), (e) => {
  process.stderr.write(`recovery-storm: ${e.stack || e}\n`);
  process.exit(1);
});
