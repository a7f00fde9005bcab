// Processes of a fault test: workers, proxies, Redis, client hosts.
//
// Every process is spawned through tests/lib/proc.mjs, tracked by PID and
// stopped by PID (SIGCONT, SIGTERM, then SIGKILL after a deadline); nothing
// outlives the test file. Logs go to files in a per-run directory
// (SIOC_FAULTS_LOGS, else a fresh directory under the system temp dir), so
// a test can grep them whole.
//
// Binaries: the worker command is the integration tests' one
// (SIOC_WORKER_CMD, default build/release/worker/sioc-worker); the proxy is
// SIOC_PROXY_CMD, else sioc-proxy next to the worker (<build>/proxy/), and
// sioc-token likewise. Only 127.0.0.0/8 is ever bound or connected to.

import { mkdirSync, mkdtempSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  HOST, REPO_ROOT, cleanEnv, fdCount, flagsToArgs, freePort, httpGet, parseMetrics, respQuery, rssKiB, sleep,
  spawnProcess, startRedis, until, waitHttp,
} from "../../lib/proc.mjs";
import { buildDir, workerCommand, CONTRACT_ENV, IS_NODE_PEER } from "../../integration/lib/server.mjs";
import { PROXY_ENV, proxyCommand } from "../../integration/lib/proxy.mjs";
import { TEST_SECRET } from "../../integration/lib/token.mjs";

export { HOST, REPO_ROOT, IS_NODE_PEER, TEST_SECRET, freePort, sleep, until, httpGet, parseMetrics, rssKiB, fdCount, respQuery, proxyCommand };

let logDir = null;
export function logsDir() {
  if (logDir) return logDir;
  if (process.env.SIOC_FAULTS_LOGS) {
    logDir = process.env.SIOC_FAULTS_LOGS;
    mkdirSync(logDir, { recursive: true });
  } else {
    logDir = mkdtempSync(path.join(tmpdir(), "sioc-faults-"));
  }
  return logDir;
}

export function tokenBinary() {
  return path.join(buildDir(), "worker/sioc-token");
}

export function haveProxy() {
  const c = proxyCommand();
  return c.length > 1 || existsSync(c[0]);
}

let seqNo = 0;

/**
 * Spawn `cmd` (argv array) with stdout+stderr appended to <logs>/<name>.log
 * (tests/lib/proc.mjs spawnProcess). `env` replaces the environment when
 * `replaceEnv`, else it is added to it.
 */
export function spawnLogged(name, cmd, { env = {}, replaceEnv = false, cwd = REPO_ROOT } = {}) {
  const logFile = path.join(logsDir(), `${process.pid}-${String(++seqNo).padStart(3, "0")}-${name}.log`);
  return spawnProcess(name, cmd, { env: replaceEnv ? env : { ...process.env, ...env }, cwd, logFile });
}

/** Every variable the worker or the proxy reads: never inherited from the test environment. */
const ENV_CLEAR = [...new Set([...CONTRACT_ENV, ...PROXY_ENV])];

function workerEnv(extra) {
  return cleanEnv(ENV_CLEAR, { LOG_LEVEL: "info", ...extra });
}

function waitHealthy(h, port, p, timeoutMs, what) {
  return waitHttp(h, port, p, { timeoutMs, what });
}

function spawnWithEnv(name, cmd, env) {
  return spawnLogged(name, cmd, { env, replaceEnv: true });
}

/**
 * Start a worker: {id, flags, env, port}. Chat app, JWT_SECRET = TEST_SECRET and
 * LOG_LEVEL info unless overridden. Resolves when /health answers; the handle has
 * port, url, id, ready(), metrics(), rssKiB(), fds().
 */
export async function startWorker({ id, flags = {}, env = {}, port, startTimeoutMs = 15000 } = {}) {
  port = port ?? (await freePort());
  const cmd = workerCommand();
  const args = [...cmd, "--host", HOST, "--port", String(port), ...(id ? ["--worker-id", id] : []), ...flagsToArgs({ app: "chat", ...flags })];
  const h = spawnWithEnv(`worker-${id ?? port}`, args, workerEnv({ JWT_SECRET: TEST_SECRET, ...env }));
  Object.assign(h, procHelpers(h), {
    id,
    port,
    url: `http://${HOST}:${port}`,
    ready: async () => (await httpGet(port, "/ready", { timeoutMs: 500 })).status === 200,
    metrics: async () => parseMetrics((await httpGet(port, "/metrics", { timeoutMs: 1000 })).body),
  });
  await waitHealthy(h, port, "/health", startTimeoutMs, `worker ${id ?? port}`);
  return h;
}

/**
 * Start sioc-proxy: {flags, env, port, adminPort}. Resolves when the admin
 * /health answers. Handle: port, url, adminPort, metrics(), ready().
 */
export async function startProxy({ flags = {}, env = {}, port, adminPort, name = "proxy", startTimeoutMs = 10000 } = {}) {
  port = port ?? (await freePort());
  adminPort = adminPort ?? (await freePort());
  const cmd = proxyCommand();
  const args = [...cmd, "--host", HOST, "--port", String(port), "--admin-host", HOST, "--admin-port", String(adminPort), "--processes", "1", ...flagsToArgs(flags)];
  const h = spawnWithEnv(name, args, workerEnv(env));
  Object.assign(h, procHelpers(h), {
    port,
    adminPort,
    url: `http://${HOST}:${port}`,
    ready: async () => (await httpGet(adminPort, "/ready", { timeoutMs: 500 })).status === 200,
    metrics: async () => parseMetrics((await httpGet(adminPort, "/metrics", { timeoutMs: 1000 })).body),
  });
  await waitHealthy(h, adminPort, "/health", startTimeoutMs, name);
  return h;
}

/** Proxy metric helpers. */
export const proxyWorkerUp = (m, id) => {
  for (const [k, v] of m) if (k.startsWith(`sioc_proxy_worker_up{worker="${id}"`)) return v;
  return undefined;
};
export const proxyWorkerSessions = (m, id) => {
  for (const [k, v] of m) if (k.startsWith(`sioc_proxy_worker_sessions_total{worker="${id}"`)) return v;
  return 0;
};
export const proxyError = (m, kind) => m.get(`sioc_proxy_errors_total{kind="${kind}"}`) ?? 0;

function procHelpers(h) {
  return {
    rssKiB() {
      return rssKiB(h.pid);
    },
    fds() {
      return fdCount(h.pid);
    },
  };
}

/** A redis-server on a free port (tests/lib/proc.mjs startRedis, with its `conf` and `extraArgs`)
 * logging to a file of the run. */
export function startRedisServer({ port, conf, extraArgs } = {}) {
  return startRedis({ port, conf, extraArgs, logFile: (p) => path.join(logsDir(), `${process.pid}-${String(++seqNo).padStart(3, "0")}-redis-${p}.log`) });
}

/**
 * Redis client memory (null when Redis does not answer, e.g. frozen): from CLIENT LIST
 * {clients, omemTotal, omemMax, pubsub}, from INFO clients {connectedClients, recentMaxOutput}.
 */
export async function redisClientStats(port, timeoutMs = 300) {
  const [list, info] = await Promise.all([respQuery(port, ["CLIENT", "LIST"], timeoutMs), respQuery(port, ["INFO", "clients"], timeoutMs)]);
  if (typeof list !== "string") return null;
  const field = (k) => {
    const m = typeof info === "string" ? new RegExp(`^${k}:(\\d+)`, "m").exec(info) : null;
    return m ? Number(m[1]) : NaN;
  };
  let clients = 0;
  let omemTotal = 0;
  let omemMax = 0;
  let pubsub = 0;
  for (const line of list.split("\n")) {
    if (!line.trim()) continue;
    clients++;
    const om = /\bomem=(\d+)/.exec(line);
    const o = om ? Number(om[1]) : 0;
    omemTotal += o;
    omemMax = Math.max(omemMax, o);
    if (/\bflags=\S*P/.test(line) || /\bpsub=[1-9]/.test(line) || /\bsub=[1-9]/.test(line)) pubsub++;
  }
  return { clients, omemTotal, omemMax, pubsub, connectedClients: field("connected_clients"), recentMaxOutput: field("client_recent_max_output_buffer") };
}
