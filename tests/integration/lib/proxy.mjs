// Start and stop sioc-proxy for the tests, and small tools around it.
//
// The command comes from SIOC_PROXY_CMD (split like SIOC_WORKER_CMD), default
// sioc-proxy of the worker's build directory (<build>/proxy/sioc-proxy). Every proxy gets an
// admin port; startProxy() resolves once GET /health answers there and, with
// `waitReady` (default), once /ready says a worker is in rotation. Processes
// are started and tracked by tests/lib/proc.mjs like the workers of server.mjs.

import net from "node:net";
import path from "node:path";
import { buildDir } from "./server.mjs";
import { HOST, cleanEnv, cpuSeconds, freePort, httpGet, metricValue, spawnProcess, splitCommand, until, waitHttp } from "../../lib/proc.mjs";

export { httpGet, metricValue };

/** Environment variables the proxy reads: never inherited from the test environment. */
export const PROXY_ENV = [
  "HOST", "PORT", "WORKERS", "REDIS_URL", "REDIS_TLS_CA", "REDIS_TLS_CERT", "REDIS_TLS_KEY", "REDIS_SENTINEL_USER", "REDIS_SENTINEL_PASSWORD", "REDIS_WORKERS_KEY", "DISCOVERY_INTERVAL", "DISCOVERY_STALE",
  "TLS_CERT", "TLS_KEY", "AFFINITY_COOKIE", "AFFINITY_SECRET", "TRUSTED_PROXIES", "MAX_HEAD_SIZE",
  "MAX_HEADERS", "HEAD_TIMEOUT", "KEEPALIVE_TIMEOUT", "SERVER_TIMEOUT", "TUNNEL_TIMEOUT",
  "UPSTREAM_CONNECT_TIMEOUT", "MAX_CONNECTIONS", "MAX_CONNECTIONS_PER_IP", "MAX_HANDSHAKE_RATE",
  "HANDSHAKE_BURST", "HEALTH_INTERVAL", "HEALTH_PATH", "HEALTH_TIMEOUT", "HEALTH_FALL", "HEALTH_RISE",
  "UPSTREAM_POOL", "TUNNEL_BUFFER", "DRAIN_TIMEOUT", "ADMIN_HOST", "ADMIN_PORT", "LOG_LEVEL",
  "DEPARTING_GRACE", "PLACEMENT", "MAX_HANDSHAKE_RATE_PER_IP", "HANDSHAKE_BURST_PER_IP", "HANDOFF",
  "PROXY_PROCESSES",
];

export function proxyCommand() {
  const s = process.env.SIOC_PROXY_CMD;
  if (s && s.trim()) return splitCommand(s);
  return [path.join(buildDir(), "proxy/sioc-proxy")];
}

/** A free port p with p+1 .. p+n-1 free as well (bindable on HOST right now). */
async function freePortRun(n) {
  const bindable = (p) =>
    new Promise((resolve) => {
      const srv = net.createServer();
      srv.once("error", () => resolve(false));
      srv.listen(p, HOST, () => srv.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const p = await freePort();
    let ok = true;
    for (let i = 1; i < n && ok; i++) ok = p + i < 65536 && (await bindable(p + i));
    if (ok) return p;
  }
  throw new Error(`no run of ${n} free ports found`);
}

/** "w1=127.0.0.1:port,..." from worker servers started with --worker-id; a worker with
 * `handoffPath` is listed as id=host:port@path. */
export function workersFlag(workers) {
  return workers.map((w) => `${w.id}=${w.host ?? HOST}:${w.port}${w.handoffPath ? `@${w.handoffPath}` : ""}`).join(",");
}

/**
 * Start a proxy. `workers`: servers with {id, port} for --workers (may be empty
 * with a redis-url flag). `flags`: object of extra flags. Resolves with
 * {port, url, adminPort, child, pid, stop(), metrics(), metric(sample), output()}.
 */
export async function startProxy({ workers = [], flags = {}, env = {}, port, tls = false, waitReady = true, startTimeoutMs = 15000 } = {}) {
  port = port ?? (await freePort());
  // With --processes N, process i answers on adminPort + i: those must be free too.
  const adminPort = await freePortRun(Number(flags.processes) > 1 ? Number(flags.processes) : 1);
  const cmd = proxyCommand();
  // One process unless the test asks for more (`flags.processes`): the admin port then
  // shows every connection's counters.
  const args = [...cmd, "--host", HOST, "--port", String(port), "--admin-port", String(adminPort), "--processes", "1"];
  if (workers.length) args.push("--workers", workersFlag(workers));
  for (const [k, v] of Object.entries(flags)) {
    if (v === undefined || v === null || v === false) continue;
    args.push(`--${k}`, String(v));
  }
  const h = spawnProcess("proxy", args, { env: cleanEnv(PROXY_ENV, { LOG_LEVEL: "warn", ...env }) });
  const proxy = Object.assign(h, {
    host: HOST,
    port,
    adminPort,
    url: `${tls ? "https" : "http"}://${HOST}:${port}`,
    async metrics() {
      return (await httpGet(adminPort, "/metrics")).body;
    },
    async metric(sample) {
      return metricValue(await this.metrics(), sample);
    },
    /** CPU time (user + system) of the process in ms, from /proc. */
    cpuMs: () => cpuSeconds(h.pid) * 1000,
  });
  await waitHttp(h, adminPort, waitReady ? "/ready" : "/health", {
    timeoutMs: startTimeoutMs,
    what: `sioc-proxy (${args.join(" ")})`,
  });
  return proxy;
}

/** Wait until the proxy's admin metrics report `n` workers in rotation. */
export function untilWorkersUp(proxy, n, timeoutMs = 10000) {
  return until(async () => (await proxy.metric("sioc_proxy_workers_up")) === n, timeoutMs, 50, `${n} workers up`);
}

/**
 * A raw HTTP/1.1 client on one TCP connection: write bytes, read whole
 * responses (Content-Length bodies) in order. For keep-alive and pipelining
 * checks where node:http would hide which connection carried what.
 */
export class RawConn {
  constructor(port, { localAddress } = {}) {
    this.port = port;
    this.localAddress = localAddress;
    this.buf = Buffer.alloc(0);
    this.waiters = [];
    this.closed = false;
  }

  open() {
    return new Promise((resolve, reject) => {
      this.sock = net.createConnection({ host: HOST, port: this.port, localAddress: this.localAddress }, () => resolve(this));
      this.sock.on("error", (e) => {
        this.error = e;
        this.closed = true;
        this._wake();
        reject(e);
      });
      this.sock.on("data", (d) => {
        this.buf = Buffer.concat([this.buf, d]);
        this._wake();
      });
      this.sock.on("close", () => {
        this.closed = true;
        this._wake();
      });
    });
  }

  _wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  write(data) {
    this.sock.write(data);
  }

  /** The next whole response: {status, headers (lower-case), body (string), raw}. Rejects on close/timeout. */
  async response(timeoutMs = 5000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.buf.indexOf("\r\n\r\n");
      if (i >= 0) {
        const head = this.buf.subarray(0, i).toString("latin1");
        const lines = head.split("\r\n");
        const status = Number(lines[0].split(" ")[1]);
        const headers = {};
        for (const l of lines.slice(1)) {
          const c = l.indexOf(":");
          const k = l.slice(0, c).trim().toLowerCase();
          const v = l.slice(c + 1).trim();
          headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
        }
        const len = Number(headers["content-length"] ?? 0);
        if (this.buf.length >= i + 4 + len) {
          const body = this.buf.subarray(i + 4, i + 4 + len).toString("utf8");
          const raw = this.buf.subarray(0, i + 4 + len).toString("latin1");
          this.buf = this.buf.subarray(i + 4 + len);
          return { status, headers, body, raw };
        }
      }
      if (this.closed) throw new Error(`connection closed (${this.buf.length} bytes pending: ${this.buf.toString("latin1").slice(0, 200)})`);
      const left = end - Date.now();
      if (left <= 0) throw new Error("no response in time");
      await new Promise((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Resolves true once the peer closed the connection (within timeoutMs), else false. */
  async waitClosed(timeoutMs = 3000) {
    const end = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < end) {
      await new Promise((r) => {
        const t = setTimeout(r, end - Date.now());
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.closed;
  }

  close() {
    this.sock?.destroy();
  }
}
