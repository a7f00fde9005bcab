// Processes of a fault test: workers, proxies, Redis, client hosts.
//
// Every process is spawned here, tracked by PID and stopped by PID (SIGTERM,
// then SIGKILL after a deadline); an 'exit' hook SIGKILLs whatever is still
// alive (SIGCONT first, in case a test froze it), so a failing test never
// leaves a process behind. Logs go to files in a per-run directory
// (SIOC_FAULTS_LOGS, else a fresh directory under the system temp dir), so
// a test can grep them whole.
//
// Binaries: the worker command is the integration tests' one
// (SIOC_WORKER_CMD, default build/release/worker/sioc-worker); the proxy is
// SIOC_PROXY_CMD, else sioc-proxy next to the worker (<build>/proxy/), and
// sioc-token likewise. Only 127.0.0.0/8 is ever bound or connected to.

import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import http from "node:http";
import net from "node:net";
import { workerCommand, splitCommand, freePort, flagsToArgs, CONTRACT_ENV, HOST, REPO_ROOT, IS_NODE_PEER } from "../../integration/lib/server.mjs";
import { PROXY_ENV } from "../../integration/lib/proxy.mjs";
import { rssKiB } from "../../../bench/lib/procs.mjs";
import { TEST_SECRET } from "../../integration/lib/token.mjs";
import { sleep, until } from "../../integration/lib/util.mjs";

export { HOST, REPO_ROOT, IS_NODE_PEER, TEST_SECRET, freePort, sleep, until };

const live = new Map(); // pid -> child
process.on("exit", () => {
  for (const c of live.values()) {
    try {
      c.kill("SIGCONT");
      c.kill("SIGKILL");
    } catch {
      /* gone */
    }
  }
});

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

function buildDirOfWorker() {
  const cmd = workerCommand();
  const bin = [...cmd].reverse().find((a) => a.endsWith("sioc-worker"));
  return bin ? path.resolve(REPO_ROOT, path.dirname(bin), "..") : path.join(REPO_ROOT, "build/release");
}

export function proxyCommand() {
  const s = process.env.SIOC_PROXY_CMD;
  if (s && s.trim()) return splitCommand(s);
  return [path.join(buildDirOfWorker(), "proxy/sioc-proxy")];
}

export function tokenBinary() {
  return path.join(buildDirOfWorker(), "worker/sioc-token");
}

export function haveProxy() {
  const c = proxyCommand();
  return c.length > 1 || existsSync(c[0]);
}

let seqNo = 0;

/**
 * Spawn `cmd` (argv array) with stdout+stderr appended to <logs>/<name>.log.
 * Returns a handle {name, pid, child, logFile, exited, exitInfo, log(), stop(), kill(sig)}.
 */
export function spawnLogged(name, cmd, { env = {}, replaceEnv = false, cwd = REPO_ROOT } = {}) {
  const logFile = path.join(logsDir(), `${process.pid}-${String(++seqNo).padStart(3, "0")}-${name}.log`);
  const fd = openSync(logFile, "a");
  const childEnv = replaceEnv ? env : { ...process.env, ...env };
  const child = spawn(cmd[0], cmd.slice(1), { cwd, env: childEnv, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  live.set(child.pid, child);
  const h = {
    name,
    child,
    logFile,
    exitInfo: null,
    get pid() {
      return child.pid;
    },
    log() {
      try {
        return readFileSync(logFile, "utf8");
      } catch {
        return "";
      }
    },
    alive() {
      return h.exitInfo === null;
    },
    kill(sig) {
      if (h.exitInfo === null) child.kill(sig);
    },
    async stop(deadlineMs = 5000) {
      if (h.exitInfo) return h.exitInfo;
      child.kill("SIGCONT");
      child.kill("SIGTERM");
      const t = setTimeout(() => h.exitInfo === null && child.kill("SIGKILL"), deadlineMs);
      const info = await h.exited;
      clearTimeout(t);
      return info;
    },
  };
  h.exited = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      h.exitInfo = { code, signal };
      live.delete(child.pid);
      resolve(h.exitInfo);
    });
    child.on("error", (error) => {
      h.exitInfo = { code: null, signal: null, error };
      live.delete(child.pid);
      resolve(h.exitInfo);
    });
  });
  return h;
}

/** GET http://127.0.0.1:port/path → {status, body, headers}; status 0 on any failure. */
export function httpGet(port, p, timeoutMs = 1000, host = HOST) {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: p, agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body, headers: res.headers }));
      res.on("error", () => resolve({ status: 0, body: "", headers: {} }));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve({ status: 0, body: "", headers: {} }));
  });
}

/** Parse Prometheus text into a Map "name{labels}" → number. */
export function parseMetrics(text) {
  const m = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}


/** Every variable the worker or the proxy reads: never inherited from the test environment. */
const ENV_CLEAR = [...new Set([...CONTRACT_ENV, ...PROXY_ENV])];

function cleanEnv(extra) {
  const env = { ...process.env };
  for (const k of ENV_CLEAR) delete env[k];
  return { ...env, LOG_LEVEL: "info", ...extra };
}

async function waitHealthy(h, port, p, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (h.exitInfo) throw new Error(`${what} exited at start (${JSON.stringify(h.exitInfo)}):\n${h.log().slice(-2000)}`);
    const r = await httpGet(port, p, 500);
    if (r.status === 200) return;
    if (Date.now() > deadline) {
      await h.stop(1000);
      throw new Error(`${what} did not answer ${p} within ${timeoutMs} ms:\n${h.log().slice(-2000)}`);
    }
    await sleep(30);
  }
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
  const h = spawnWithEnv(`worker-${id ?? port}`, args, cleanEnv({ JWT_SECRET: TEST_SECRET, ...env }));
  Object.assign(h, procHelpers(h), {
    id,
    port,
    url: `http://${HOST}:${port}`,
    ready: async () => (await httpGet(port, "/ready", 500)).status === 200,
    metrics: async () => parseMetrics((await httpGet(port, "/metrics", 1000)).body),
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
  const args = [...cmd, "--host", HOST, "--port", String(port), "--admin-host", HOST, "--admin-port", String(adminPort), ...flagsToArgs(flags)];
  const h = spawnWithEnv(name, args, cleanEnv(env));
  Object.assign(h, procHelpers(h), {
    port,
    adminPort,
    url: `http://${HOST}:${port}`,
    ready: async () => (await httpGet(adminPort, "/ready", 500)).status === 200,
    metrics: async () => parseMetrics((await httpGet(adminPort, "/metrics", 1000)).body),
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

export { rssKiB };

/** Open file descriptors of a process (NaN when gone). */
export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/**
 * A redis-server on a free port (no persistence), like the integration
 * helper but logging to a file: start(), stop(sig), pause(), resume(),
 * restart(sig, downMs), query(...args) (RESP over a fresh TCP connection with
 * a timeout; null when Redis does not answer).
 */
export async function startRedisServer({ port } = {}) {
  port = port ?? (await freePort());
  const r = {
    port,
    url: `redis://${HOST}:${port}`,
    h: null,
    get pid() {
      return r.h?.pid;
    },
    async start() {
      r.h = spawnLogged(`redis-${port}`, ["redis-server", "--port", String(port), "--bind", HOST, "--save", "",
        "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning"]);
      const deadline = Date.now() + 5000;
      while ((await r.query(["PING"], 300)) !== "PONG") {
        if (r.h.exitInfo) throw new Error(`redis-server exited: ${r.h.log()}`);
        if (Date.now() > deadline) throw new Error("redis-server did not start");
        await sleep(20);
      }
    },
    async stop(sig = "SIGTERM") {
      if (!r.h || r.h.exitInfo) return;
      r.h.kill("SIGCONT");
      r.h.kill(sig);
      const t = setTimeout(() => r.h.kill("SIGKILL"), 3000);
      await r.h.exited;
      clearTimeout(t);
    },
    pause() {
      r.h.kill("SIGSTOP");
    },
    resume() {
      r.h.kill("SIGCONT");
    },
    async restart(sig = "SIGKILL", downMs = 0) {
      await r.stop(sig);
      if (downMs) await sleep(downMs);
      await r.start();
    },
    query(args, timeoutMs = 1000) {
      return respQuery(port, args, timeoutMs);
    },
  };
  await r.start();
  return r;
}

/** One RESP command on a fresh connection; resolves the decoded reply or null (timeout / error). */
export function respQuery(port, args, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const s = net.createConnection({ host: HOST, port });
    let buf = Buffer.alloc(0);
    const done = (v) => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(null), timeoutMs);
    s.on("error", () => done(null));
    s.on("connect", () => {
      let out = `*${args.length}\r\n`;
      for (const a of args) out += `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`;
      s.write(out);
    });
    s.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      const r = parseResp(buf, 0);
      if (r) done(r.value);
    });
  });
}

function parseResp(b, i) {
  const eol = b.indexOf("\r\n", i);
  if (eol < 0) return null;
  const type = String.fromCharCode(b[i]);
  const line = b.toString("utf8", i + 1, eol);
  if (type === "+" || type === "-") return { value: type === "-" ? new Error(line) : line, next: eol + 2 };
  if (type === ":") return { value: Number(line), next: eol + 2 };
  if (type === "$") {
    const n = Number(line);
    if (n < 0) return { value: null, next: eol + 2 };
    if (b.length < eol + 2 + n + 2) return null;
    return { value: b.toString("utf8", eol + 2, eol + 2 + n), next: eol + 2 + n + 2 };
  }
  if (type === "*") {
    const n = Number(line);
    const out = [];
    let p = eol + 2;
    for (let k = 0; k < n; k++) {
      const r = parseResp(b, p);
      if (!r) return null;
      out.push(r.value);
      p = r.next;
    }
    return { value: out, next: p };
  }
  return { value: null, next: b.length };
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
