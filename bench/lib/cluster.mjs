// Starts and stops the two systems under comparison, as local processes on
// free 127.0.0.1 ports, every one tracked by PID:
//   sioc: N sioc-worker processes (+ redis-server when N > 1, for the Redis
//         adapter, or a local Redis Cluster when asked) (+ sioc-proxy in front
//         when asked);
//   peer: N Node.js socket.io 4.8 workers running bench/peer/server.mjs with the
//         @socket.io/redis-adapter (+ redis-server when N > 1) (+ HAProxy in
//         front when asked, configured from bench/peer/haproxy.cfg.in);
//   floor: one sioc-floor process (bench/floor/), clients connect directly,
//         whatever the worker count or proxy asked for the others: the cost of
//         the kernel and the event loop alone, for the fanout scenario.
// Both run the chat app with the same JWT secret, perMessageDeflate off (the
// peer's default), the same ping interval and no connection cap below the
// machine's own limits.

import { readFileSync, writeFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { startProcess, freePort, waitHttp, waitTcp, HOST } from "./procs.mjs";
import { startRedisCluster } from "../../tests/lib/redis-cluster.mjs";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));

async function startRedis(logDir, tag) {
  const port = await freePort();
  const p = startProcess(`redis-${tag}`, "redis-server", [
    "--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no",
    "--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning",
  ], { logFile: path.join(logDir, `redis-${tag}.log`) });
  await waitTcp(p, port);
  return { proc: p, port, url: `redis://${HOST}:${port}` };
}

function workerArgs(port, i, o, redisUrl) {
  const a = ["--host", HOST, "--port", String(port), "--app", "chat", "--worker-id", `w${i}`,
    "--max-connections", "1000000", "--log-level", "warn"];
  if (o.secret) a.push("--jwt-secret", o.secret);
  if (o.pingInterval) a.push("--ping-interval", String(o.pingInterval));
  if (redisUrl) a.push("--redis-url", redisUrl);
  if (redisUrl && o.adapterMode) a.push("--adapter-mode", o.adapterMode);
  if (o.handoffDir) a.push("--handoff-path", path.join(o.handoffDir, `w${i}.sock`));
  // sioc only: more flags for every worker (e.g. the streams adapter and recovery)
  if (o.workerFlags) a.push(...o.workerFlags);
  return a;
}

/** The sioc-proxy command-line interface, learned from --help. */
function proxyArgs(bin, port, workers, handoffDir) {
  const help = (() => {
    try {
      return require_help(bin);
    } catch {
      return "";
    }
  })();
  // SIOC_BENCH_HANDOFF=1: the workers take websocket clients from the proxy (hand-off).
  const list = workers.map((w, i) => `w${i}=${HOST}:${w.port}${handoffDir ? `@${path.join(handoffDir, `w${i}.sock`)}` : ""}`).join(",");
  const a = ["--port", String(port), "--workers", list];
  if (/--host\b/.test(help)) a.push("--host", HOST);
  if (/--log-level\b/.test(help)) a.push("--log-level", "warn");
  // One process, as the benchmarks measure the CPU of that PID.
  if (/--processes\b/.test(help)) a.push("--processes", process.env.SIOC_BENCH_PROXY_PROCESSES || "1");
  // SIOC_BENCH_PLACEMENT=least-loaded: the load generator's clients come from a few hundred
  // loopback addresses, which rendezvous hashing spreads unevenly; near the workers' open-files
  // limit, placing by load keeps every worker under it.
  if (process.env.SIOC_BENCH_PLACEMENT && /--placement\b/.test(help)) a.push("--placement", process.env.SIOC_BENCH_PLACEMENT);
  // Every load-generator client comes from loopback: one address, thousands of sessions.
  if (/--max-handshake-rate-per-ip\b/.test(help)) a.push("--max-handshake-rate-per-ip", "0");
  return a;
}

function require_help(bin) {
  return execFileSync(bin, ["--help"], { stdio: ["ignore", "pipe", "pipe"], timeout: 5000 }).toString();
}

/**
 * Start one system. kind: "sioc" | "peer". Options: workers (count), secret,
 * proxy (bool), pingInterval, logDir, buildDir (sioc binaries); for sioc also
 * adapterMode (the workers' --adapter-mode), workerFlags (more arguments for every
 * worker) and redisCluster ({primaries, replicas}: a local Redis Cluster instead of
 * one redis-server, given to the workers as seed list).
 * Returns {kind, urls (what clients connect to), workerPids, proxyPid, redisPid
 * (the first Redis), redisPort (one redis-server's port), redisPids (every Redis
 * node), pids (all), topology (text), stop()}.
 */
export async function startCluster(kind, o) {
  if (kind === "floor") return startFloor(o);
  const procs = [];
  mkdirSync(o.logDir, { recursive: true });
  const out = { kind, workerPids: [], proxyPid: null, redisPid: null, redisPids: [] };
  if (kind === "sioc" && o.proxy && process.env.SIOC_BENCH_HANDOFF === "1")
    o = { ...o, handoffDir: mkdtempSync(path.join(tmpdir(), "sioc-bench-handoff-")) };
  let rcluster = null;
  try {
    let redis = null;
    if (o.workers > 1 && kind === "sioc" && o.redisCluster) {
      const { primaries, replicas = 0 } = o.redisCluster;
      rcluster = await startRedisCluster({
        primaries, replicasPer: replicas, nodeTimeoutMs: 5000, logFile: (port) => path.join(o.logDir, `redis-${kind}-${port}.log`),
      });
      // The nodes in the order the bench reports them: the primaries first.
      const prim = new Set((await rcluster.primaries()).map((n) => n.port));
      const all = [...rcluster.nodes.values()];
      const nodes = [...all.filter((n) => prim.has(n.port)), ...all.filter((n) => !prim.has(n.port))];
      for (const n of nodes) procs.push(n.h);
      out.redisPids = nodes.map((n) => n.pid);
      out.redisPrimaryPids = nodes.filter((n) => prim.has(n.port)).map((n) => n.pid);
      out.redisPid = out.redisPids[0];
      redis = { url: rcluster.url };
    } else if (o.workers > 1) {
      redis = await startRedis(o.logDir, kind);
      procs.push(redis.proc);
      out.redisPid = redis.proc.pid;
      out.redisPort = redis.port;
      out.redisPids = [redis.proc.pid];
      out.redisPrimaryPids = [redis.proc.pid];
    }
    const workers = [];
    for (let i = 0; i < o.workers; i++) {
      const port = await freePort();
      let p;
      if (kind === "sioc") {
        p = startProcess(`sioc-worker-${i}`, path.join(o.buildDir, "worker/sioc-worker"),
          workerArgs(port, i, o, redis && redis.url), { logFile: path.join(o.logDir, `sioc-worker-${i}.log`) });
      } else {
        const env = { ...process.env, NODE_ENV: "production" };
        p = startProcess(`node-worker-${i}`, process.execPath,
          [path.join(REPO, "bench/peer/server.mjs"), ...workerArgs(port, i, o, redis && redis.url)],
          { env, logFile: path.join(o.logDir, `node-worker-${i}.log`) });
      }
      procs.push(p);
      workers.push({ proc: p, port });
    }
    for (const w of workers) await waitHttp(w.proc, w.port);
    out.workerPids = workers.map((w) => w.proc.pid);
    out.workerUrls = workers.map((w) => `http://${HOST}:${w.port}`);
    if (o.proxy) {
      const port = await freePort();
      let p;
      if (kind === "sioc") {
        const bin = path.join(o.buildDir, "proxy/sioc-proxy");
        p = startProcess("sioc-proxy", bin, proxyArgs(bin, port, workers, o.handoffDir),
          { logFile: path.join(o.logDir, "sioc-proxy.log") });
      } else {
        const servers = workers
          .map((w, i) => `    server w${i} ${HOST}:${w.port} cookie w${i} check inter 2s`)
          .join("\n");
        const cfg = readFileSync(path.join(REPO, "bench/peer/haproxy.cfg.in"), "utf8")
          .replaceAll("@PORT@", String(port))
          .replaceAll("@SERVERS@", servers);
        const cfgPath = path.join(o.logDir, "haproxy.cfg");
        writeFileSync(cfgPath, cfg);
        p = startProcess("haproxy", "haproxy", ["-db", "-f", cfgPath],
          { logFile: path.join(o.logDir, "haproxy.log") });
      }
      procs.push(p);
      await waitTcp(p, port);
      // a handshake answered through it: a worker is in rotation (the proxy's own /health is
      // on its admin port, and it never forwards a worker's)
      if (kind === "sioc") await waitHttp(p, port, "/socket.io/?EIO=4&transport=polling", 5000).catch(() => {});
      out.proxyPid = p.pid;
      out.urls = [`http://${HOST}:${port}`];
    } else {
      out.urls = out.workerUrls;
    }
    out.pids = procs.map((p) => p.pid);
    out.topology =
      `${o.workers} ${kind === "sioc" ? "sioc-worker" : "Node socket.io"} process${o.workers > 1 ? "es" : ""}` +
      (rcluster ? ` + Redis Cluster of ${o.redisCluster.primaries} primaries${o.redisCluster.replicas ? ` with ${o.redisCluster.replicas} replica(s) each` : ""} (adapter)`
        : o.workers > 1 ? " + redis-server (adapter)" : "") +
      (o.adapterMode && o.workers > 1 ? `, ${o.adapterMode} mode` : "") +
      (o.proxy ? (kind === "sioc" ? ` behind sioc-proxy${o.handoffDir ? " (websocket hand-off)" : ""}` : " behind HAProxy") : ", clients connect directly");
    out.stop = async () => {
      for (const p of procs.slice().reverse()) await p.stop();
      if (rcluster) await rcluster.stop();
      if (o.handoffDir) rmSync(o.handoffDir, { recursive: true, force: true });
    };
    out.procs = procs;
    return out;
  } catch (e) {
    for (const p of procs.slice().reverse()) await p.stop();
    if (rcluster) await rcluster.stop();
    throw e;
  }
}

/** One sioc-floor process on a free port; the same shape as startCluster's answer. */
async function startFloor(o) {
  mkdirSync(o.logDir, { recursive: true });
  const port = await freePort();
  const p = startProcess("sioc-floor", path.join(o.buildDir, "bench/sioc-floor"), ["--host", HOST, "--port", String(port)],
    { logFile: path.join(o.logDir, "sioc-floor.log") });
  try {
    await waitHttp(p, port);
  } catch (e) {
    await p.stop();
    throw e;
  }
  const url = `http://${HOST}:${port}`;
  return {
    kind: "floor", workerPids: [p.pid], proxyPid: null, redisPid: null, workerUrls: [url], urls: [url], pids: [p.pid],
    procs: [p], topology: "1 sioc-floor process (raw epoll, no protocol work), clients connect directly",
    stop: async () => { await p.stop(); },
  };
}

/** Whether sioc-proxy is built in `buildDir`. */
export function siocProxyAvailable(buildDir) {
  return existsSync(path.join(buildDir, "proxy/sioc-proxy"));
}
