// Start and stop the server under test.
//
// The command comes from SIOC_WORKER_CMD (a command line split on blanks, with
// simple '...' / "..." quoting), default <repo>/build/release/worker/sioc-worker.
// It runs with the repository root as working directory, so relative commands
// such as `node bench/peer/server.mjs` work from anywhere.
//
// SIOC_PEER=node marks the Node reference peer (bench/peer/server.mjs); it is
// also assumed when SIOC_PEER is unset and the command runs bench/peer/server.mjs.
// Only tests for documented deviations of Node from the contract look at it.
//
// Every started process is tracked: stop() sends SIGTERM, then SIGKILL after a
// deadline; a process 'exit' hook SIGKILLs whatever is still alive, so a test
// file never leaves a server behind even when it fails half-way.

import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import http from "node:http";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const HOST = "127.0.0.1";

/** Environment variables of the worker contract: never inherited from the test environment. */
export const CONTRACT_ENV = [
  "HOST", "PORT", "SIO_PATH", "APP", "NAMESPACES", "PING_INTERVAL", "PING_TIMEOUT",
  "CONNECT_TIMEOUT", "UPGRADE_TIMEOUT", "MAX_HTTP_BUFFER_SIZE", "CORS_ORIGIN", "IO_COOKIE",
  "JWT_SECRET", "JWT_ALG", "JWT_PUBLIC_KEY", "JWT_LEEWAY", "MAX_CONNECTIONS", "MAX_CONNECTIONS_PER_IP",
  "MAX_OUTPUT_BUFFER", "ACK_TIMEOUT", "MAX_DISCONNECTION_DURATION", "MAX_EVENTS_PER_SECOND", "REDIS_URL", "ADAPTER_MODE", "REDIS_KEY",
  "REDIS_STREAM", "REDIS_STREAM_COUNT", "REDIS_STREAM_MAXLEN",
  "REQUESTS_TIMEOUT", "WORKER_ID", "ADVERTISE", "DRAIN_TIMEOUT", "HEAD_TIMEOUT", "KEEPALIVE_TIMEOUT",
  "SERVE_CLIENT", "CHAT_PAGE", "DEV_TOKEN_ENDPOINT", "LOG_LEVEL",
];

export function splitCommand(s) {
  const out = [];
  let cur = null;
  let quote = null;
  for (const ch of s) {
    if (quote) {
      if (ch === quote) quote = null;
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      cur = cur ?? "";
    } else if (/\s/.test(ch)) {
      if (cur !== null) out.push(cur);
      cur = null;
    } else {
      cur = (cur ?? "") + ch;
    }
  }
  if (quote) throw new Error(`unbalanced quote in command: ${s}`);
  if (cur !== null) out.push(cur);
  return out;
}

export function workerCommand() {
  const s = process.env.SIOC_WORKER_CMD;
  if (s && s.trim()) return splitCommand(s);
  return [path.join(REPO_ROOT, "build/release/worker/sioc-worker")];
}

/** True when the server under test is the Node reference peer. */
export const IS_NODE_PEER =
  process.env.SIOC_PEER !== undefined
    ? process.env.SIOC_PEER === "node"
    : workerCommand().some((a) => a.endsWith("bench/peer/server.mjs"));

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const live = new Set();
process.on("exit", () => {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      /* gone */
    }
  }
});

function getHealth(port, timeoutMs) {
  return new Promise((resolve) => {
    const req = http.get({ host: HOST, port, path: "/health", agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body }));
      res.on("error", () => resolve(null));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(null));
  });
}

export function flagsToArgs(flags) {
  if (Array.isArray(flags)) return flags.map(String);
  const args = [];
  for (const [k, v] of Object.entries(flags)) {
    if (v === undefined || v === null || v === false) continue;
    if (v === true) args.push(`--${k}`);
    else args.push(`--${k}`, String(v));
  }
  return args;
}

/**
 * Start a worker. `flags`: object {"ping-interval": 300, cookie: true, ...} or an
 * argv array; --host/--port are added unless `noHostPort` (then pass them via env).
 * `env`: extra environment. Resolves once GET /health answers 200 "ok".
 */
export async function startServer({ flags = {}, env = {}, port, noHostPort = false, startTimeoutMs = 10000 } = {}) {
  port = port ?? (await freePort());
  const cmd = workerCommand();
  const args = [...cmd.slice(1)];
  if (!noHostPort) args.push("--host", HOST, "--port", String(port));
  args.push(...flagsToArgs(flags));
  const childEnv = { ...process.env };
  for (const k of CONTRACT_ENV) delete childEnv[k];
  if (!("LOG_LEVEL" in env)) childEnv.LOG_LEVEL = "warn";
  Object.assign(childEnv, env);

  const child = spawn(cmd[0], args, { cwd: REPO_ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let output = "";
  const keep = (d) => {
    output += d;
    if (output.length > 65536) output = output.slice(-65536);
    if (process.env.SIOC_TEST_VERBOSE) process.stderr.write(d);
  };
  child.stdout.setEncoding("utf8").on("data", keep);
  child.stderr.setEncoding("utf8").on("data", keep);
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      exitInfo = { code, signal };
      live.delete(child);
      resolve(exitInfo);
    });
    child.on("error", (err) => {
      exitInfo = { code: null, signal: null, error: err };
      live.delete(child);
      resolve(exitInfo);
    });
  });

  const server = {
    host: HOST,
    port,
    url: `http://${HOST}:${port}`,
    child,
    get pid() {
      return child.pid;
    },
    exited,
    get exitInfo() {
      return exitInfo;
    },
    output: () => output,
    /** Resident set size of the server process in KiB (/proc/<pid>/status VmRSS). */
    rssKiB() {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
      return m ? Number(m[1]) : NaN;
    },
    /** SIGTERM, then SIGKILL after `deadlineMs`. Resolves with {code, signal}. */
    async stop(deadlineMs = 5000) {
      if (exitInfo) return exitInfo;
      child.kill("SIGTERM");
      const timer = setTimeout(() => {
        if (!exitInfo) child.kill("SIGKILL");
      }, deadlineMs);
      const info = await exited;
      clearTimeout(timer);
      return info;
    },
  };

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (exitInfo) {
      throw new Error(`server exited before answering /health (${JSON.stringify(exitInfo)}): ${cmd.join(" ")} ${args.join(" ")}\n${output}`);
    }
    const r = await getHealth(port, 1000);
    if (r && r.status === 200 && r.body.trim() === "ok") return server;
    if (Date.now() > deadline) {
      await server.stop(1000);
      throw new Error(`server did not answer /health within ${startTimeoutMs} ms: ${cmd.join(" ")} ${args.join(" ")}\n${output}`);
    }
    await new Promise((r2) => setTimeout(r2, 50));
  }
}

/** Stop several servers (ignores nulls). For `after` hooks. */
export async function stopAll(...servers) {
  await Promise.all(servers.flat().filter(Boolean).map((s) => s.stop()));
}
