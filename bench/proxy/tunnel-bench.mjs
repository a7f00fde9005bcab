#!/usr/bin/env node
// Tunnel benchmark: what a websocket costs when it goes through sioc-proxy,
// compared with a direct connection to the worker and with HAProxy (Debian
// package, one thread, `mode http`, the classic websocket setup) in the same
// run, on the same worker.
//
// Backend: one sioc-worker, echo app in plain Engine.IO mode (/engine.io/),
// so every "4<payload>" text message comes back unchanged. Clients: `ws`
// from tests/node_modules.
//
// Per target (direct, sioc-proxy, haproxy), with the same payload:
//  - latency: one connection per target, sequential round trips interleaved
//    across the targets; p50 / p99 / mean (without the slowest 1%) RTT; the
//    proxy's added latency is its median RTT minus the direct median;
//  - throughput + CPU: CONNS connections with WINDOW messages in flight each
//    for SECONDS; the proxy's CPU time (utime + stime from /proc) divided by
//    the messages relayed (both directions: one echo = 2 messages) gives its
//    CPU per message.
// Rounds alternate the targets (A B C, B C A, ...) and medians are reported,
// so a noisy neighbour on the 2-core box hurts all targets alike.
//
// Usage: node bench/proxy/tunnel-bench.mjs [--rounds 3] [--seconds 4] [--conns 32]
//        [--window 8] [--size 64] [--rtts 4000] [--json out.json]
// Binaries: SIOC_PROXY_CMD / SIOC_WORKER_CMD, default build/release/...

import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { HOST, cpuSeconds, freePort, rssKiB, sleep, spawnProcess } from "../../tests/lib/proc.mjs";
import { waitTcp } from "../lib/procs.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const require = createRequire(path.join(ROOT, "tests/package.json"));
const WebSocket = require("ws");

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const ROUNDS = Number(opt("rounds", 3));
const SECONDS = Number(opt("seconds", 4));
const CONNS = Number(opt("conns", 32));
const WINDOW = Number(opt("window", 8));
const SIZE = Number(opt("size", 64));
const RTTS = Number(opt("rtts", 4000));
const JSON_OUT = opt("json", null);

const cmd = (env, def) => (process.env[env] && process.env[env].trim() ? process.env[env].trim().split(/\s+/) : [path.join(ROOT, def)]);

const waitPort = (port) => waitTcp(null, port, 10000);

function run(argv0, args) {
  const c = spawnProcess(path.basename(argv0[0]), [...argv0, ...args], { cwd: process.cwd() });
  c.errText = () => c.output().slice(-4000);
  return c;
}

const cpuMs = (pid) => cpuSeconds(pid) * 1000;

/** Opens an Engine.IO websocket session; resolves the ws once the open packet came. */
function openEio(port) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${HOST}:${port}/engine.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
    ws.once("error", reject);
    ws.once("message", (d) => {
      if (!String(d).startsWith("0")) reject(new Error(`unexpected ${d}`));
      else resolve(ws);
    });
  });
}

/**
 * Round trips on one connection per target, interleaved message by message
 * (direct, sioc, haproxy, direct, ...): scheduling noise on a shared box then
 * hits every target alike instead of whichever ran during a bad second.
 */
async function latency(targets, payload) {
  const socks = await Promise.all(targets.map((t) => openEio(t.port)));
  const msg = "4" + payload;
  const rtts = targets.map(() => []);
  const once = (ws) =>
    new Promise((resolve) => {
      const t0 = process.hrtime.bigint();
      ws.once("message", () => resolve(Number(process.hrtime.bigint() - t0) / 1000));
      ws.send(msg);
    });
  for (let n = 0; n < RTTS + 200; n++) {
    for (let k = 0; k < socks.length; k++) {
      const i = (n + k) % socks.length;
      const dt = await once(socks[i]);
      if (n >= 200) rtts[i].push(dt); // warm-up excluded
    }
  }
  for (const ws of socks) ws.close();
  return rtts.map((r) => {
    r.sort((a, b) => a - b);
    const q = (p) => r[Math.min(r.length - 1, Math.floor(p * r.length))];
    const trimmed = r.slice(0, Math.floor(r.length * 0.99));
    return { p50: q(0.5), p99: q(0.99), mean: trimmed.reduce((a, b) => a + b, 0) / trimmed.length };
  });
}

async function throughput(port, payload, pid) {
  const socks = await Promise.all(Array.from({ length: CONNS }, () => openEio(port)));
  const msg = "4" + payload;
  let count = 0;
  let running = true;
  for (const ws of socks) {
    ws.on("message", () => {
      count++;
      if (running) ws.send(msg);
    });
  }
  // warm up, then measure
  for (const ws of socks) for (let i = 0; i < WINDOW; i++) ws.send(msg);
  await sleep(500);
  const c0 = count;
  const cpu0 = pid ? cpuMs(pid) : 0;
  const t0 = Date.now();
  await sleep(SECONDS * 1000);
  const echoes = count - c0;
  const secs = (Date.now() - t0) / 1000;
  const cpu = pid ? cpuMs(pid) - cpu0 : NaN;
  const rss = pid ? rssKiB(pid) : NaN;
  running = false;
  await sleep(200);
  for (const ws of socks) ws.close();
  await sleep(200);
  // one echo = a message relayed each way
  return { echoesPerSec: echoes / secs, cpuUsPerMsg: (cpu * 1000) / (2 * echoes), cpuPct: (cpu / 10) / secs, rssKiB: rss };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)] : NaN;
};

async function main() {
  const workerPort = await freePort();
  const proxyPort = await freePort();
  const haPort = await freePort();
  const worker = run(cmd("SIOC_WORKER_CMD", "build/release/worker/sioc-worker"), [
    "--host", HOST, "--port", String(workerPort), "--app", "echo", "--path", "/engine.io/", "--worker-id", "b1",
    "--ping-interval", "600000", "--ping-timeout", "600000", "--max-connections", "100000", "--log-level", "error",
  ]);
  await waitPort(workerPort);
  const proxy = run(cmd("SIOC_PROXY_CMD", "build/release/proxy/sioc-proxy"), [
    "--host", HOST, "--port", String(proxyPort), "--workers", `b1=${HOST}:${workerPort}`, "--log-level", "error",
    "--processes", "1",
  ]);
  const dir = mkdtempSync(path.join(tmpdir(), "sioc-tunnel-bench-"));
  const cfg = path.join(dir, "haproxy.cfg");
  writeFileSync(
    cfg,
    [
      "global", "  nbthread 1", "  maxconn 8000",
      "defaults", "  mode http", "  option http-server-close", "  timeout connect 5s", "  timeout client 60s",
      "  timeout server 60s", "  timeout tunnel 60s",
      "frontend fe", `  bind ${HOST}:${haPort}`, "  default_backend be",
      "backend be", `  server b1 ${HOST}:${workerPort}`, "",
    ].join("\n"),
  );
  const haproxy = run(["haproxy"], ["-db", "-f", cfg]);
  await Promise.all([waitPort(proxyPort), waitPort(haPort)]);
  await sleep(1200); // the proxy's first health check
  const haVersion = execFileSync("haproxy", ["-v"], { encoding: "utf8" }).split("\n")[0];

  const targets = [
    { name: "direct", port: workerPort, pid: null },
    { name: "sioc-proxy", port: proxyPort, pid: proxy.pid },
    { name: "haproxy", port: haPort, pid: haproxy.pid },
  ];
  const payload = "x".repeat(SIZE);
  const res = Object.fromEntries(targets.map((t) => [t.name, { lat: [], thr: [] }]));
  for (let r = 0; r < ROUNDS; r++) {
    const lat = await latency(targets, payload);
    targets.forEach((t, i) => res[t.name].lat.push(lat[i]));
    const order = targets.map((_, i) => targets[(i + r) % targets.length]);
    for (const t of order) {
      res[t.name].thr.push(await throughput(t.port, payload, t.pid));
      process.stderr.write(".");
    }
  }
  process.stderr.write("\n");
  for (const c of [proxy, haproxy, worker]) if (c.exitInfo !== null) throw new Error(`a process died: ${c.errText()}`);
  const sum = {};
  for (const t of targets) {
    const { lat, thr } = res[t.name];
    sum[t.name] = {
      rttP50: median(lat.map((x) => x.p50)),
      rttP99: median(lat.map((x) => x.p99)),
      rttMean: median(lat.map((x) => x.mean)),
      echoesPerSec: median(thr.map((x) => x.echoesPerSec)),
      cpuUsPerMsg: median(thr.map((x) => x.cpuUsPerMsg)),
      cpuPct: median(thr.map((x) => x.cpuPct)),
      rssKiB: median(thr.map((x) => x.rssKiB)),
    };
  }
  const d = sum.direct;
  for (const n of ["sioc-proxy", "haproxy"]) sum[n].addedUs = sum[n].rttP50 - d.rttP50;
  const f = (x, k = 1) => (Number.isFinite(x) ? x.toFixed(k) : "-");
  console.log(`tunnel benchmark: ${SIZE}-byte messages, ${ROUNDS} rounds, latency over ${RTTS} sequential round trips,`);
  console.log(`throughput with ${CONNS} connections x ${WINDOW} in flight for ${SECONDS} s; ${cpus().length} CPUs; ${haVersion}`);
  console.log("target        rtt p50 us  rtt p99 us  rtt mean us  added p50  echoes/s   proxy CPU us/msg  proxy CPU %  proxy RSS KiB");
  for (const t of targets) {
    const s = sum[t.name];
    console.log(
      `${t.name.padEnd(12)}  ${f(s.rttP50).padStart(10)}  ${f(s.rttP99).padStart(10)}  ${f(s.rttMean).padStart(11)}  ` +
        `${(t.name === "direct" ? "-" : f(s.addedUs)).padStart(8)}  ${f(s.echoesPerSec, 0).padStart(8)}  ` +
        `${f(s.cpuUsPerMsg, 2).padStart(16)}  ${f(s.cpuPct).padStart(11)}  ${f(s.rssKiB, 0).padStart(13)}`,
    );
  }
  const S = sum["sioc-proxy"];
  const H = sum.haproxy;
  const ratios = {
    addedLatencySiocOverHaproxy: S.addedUs / H.addedUs,
    cpuPerMsgSiocOverHaproxy: S.cpuUsPerMsg / H.cpuUsPerMsg,
    rttSiocOverDirect: S.rttP50 / d.rttP50,
    rttHaproxyOverDirect: H.rttP50 / d.rttP50,
    throughputSiocOverDirect: S.echoesPerSec / d.echoesPerSec,
    throughputHaproxyOverDirect: H.echoesPerSec / d.echoesPerSec,
  };
  console.log(
    `ratios: added latency sioc/haproxy ${f(ratios.addedLatencySiocOverHaproxy, 2)}, CPU per message sioc/haproxy ${f(ratios.cpuPerMsgSiocOverHaproxy, 2)}, ` +
      `median RTT vs direct: sioc ${f(ratios.rttSiocOverDirect, 2)}x haproxy ${f(ratios.rttHaproxyOverDirect, 2)}x, ` +
      `throughput vs direct: sioc ${f(ratios.throughputSiocOverDirect, 2)} haproxy ${f(ratios.throughputHaproxyOverDirect, 2)}`,
  );
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ size: SIZE, rounds: ROUNDS, conns: CONNS, window: WINDOW, seconds: SECONDS, haVersion, sum, ratios, raw: res }, null, 2));
  for (const c of [proxy, haproxy, worker]) c.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
