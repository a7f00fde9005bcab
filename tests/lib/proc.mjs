// Process and network helpers shared by every Node suite under tests/ (integration,
// faults, badinput) and by bench/: free loopback ports, child processes tracked by
// PID and always stopped, readiness probes over HTTP, Prometheus text, /proc
// sampling and a throw-away redis-server. Node built-ins only, so bench/ can use it
// without tests/node_modules. Only 127.0.0.0/8 is ever bound or connected to.
//
// Every process started with spawnProcess() is tracked: stop() sends SIGCONT (in
// case a test froze it), then the signal (SIGTERM), then SIGKILL after a deadline;
// a process 'exit' hook SIGKILLs whatever is still alive, so a test file never
// leaves a process behind even when it fails half-way.

import { spawn, execFileSync } from "node:child_process";
import { closeSync, openSync, readFileSync, readdirSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const HOST = "127.0.0.1";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll `pred` every `stepMs` until it returns truthy (resolves that value); reject after `timeoutMs`. */
export async function until(pred, timeoutMs = 5000, stepMs = 20, label = "condition") {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`${label} not met within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}

/** Whether `port` can be listened on at HOST right now. */
function canListen(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", () => resolve(false));
    srv.listen(port, HOST, () => srv.close(() => resolve(true)));
  });
}

// A server a test starts gets a port below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), which every outgoing connection on the machine draws its
// local port from: a port that listen(0) handed out could be taken by some client's
// connection before the server bound it ("Address already in use", seen with two suites
// running side by side). Random in [FREE_PORT_LO, start of the range), checked by listening,
// never the same twice in one process; listen(0) when the range leaves no room below it.
const FREE_PORT_LO = 10000;
const handedOut = new Set();
const ephemeralLo = (() => {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || 0;
  } catch {
    return 0;
  }
})();

/** A free TCP port on 127.0.0.1 (bound, then released). */
export async function freePort() {
  const span = ephemeralLo - FREE_PORT_LO;
  for (let i = 0; span >= 1000 && i < 200; i++) {
    const port = FREE_PORT_LO + Math.floor(Math.random() * span);
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Splits a command line on blanks, with simple '...' / "..." quoting (SIOC_WORKER_CMD). */
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

/** {"ping-interval": 300, cookie: true, x: false} → ["--ping-interval", "300", "--cookie"]; an array is kept. */
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

/** A copy of process.env without the variables in `names`, then `extra` on top. */
export function cleanEnv(names, extra = {}) {
  const env = { ...process.env };
  for (const k of names) delete env[k];
  return { ...env, ...extra };
}

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

/**
 * Starts `cmd` (argv array). Output goes to `logFile` (appended) when given, else it is
 * kept in memory (the last 64 KiB; echoed to stderr with SIOC_TEST_VERBOSE). Returns a
 * handle {name, child, pid, logFile, exited (promise of {code, signal[, error]}),
 * exitInfo (null while running), output() (alias log()), alive(), kill(sig),
 * stop(deadlineMs = 5000, signal = "SIGTERM")}.
 */
export function spawnProcess(name, cmd, { env = process.env, cwd = REPO_ROOT, logFile = null } = {}) {
  let output = "";
  let child;
  if (logFile) {
    const fd = openSync(logFile, "a");
    child = spawn(cmd[0], cmd.slice(1), { cwd, env, stdio: ["ignore", fd, fd] });
    closeSync(fd);
  } else {
    child = spawn(cmd[0], cmd.slice(1), { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (d) => {
      output += d;
      if (output.length > 65536) output = output.slice(-65536);
      if (process.env.SIOC_TEST_VERBOSE) process.stderr.write(d);
    };
    child.stdout.setEncoding("utf8").on("data", keep);
    child.stderr.setEncoding("utf8").on("data", keep);
  }
  if (child.pid !== undefined) live.set(child.pid, child);
  const h = {
    name,
    child,
    logFile,
    exitInfo: null,
    get pid() {
      return child.pid;
    },
    output() {
      if (!logFile) return output;
      try {
        return readFileSync(logFile, "utf8");
      } catch {
        return "";
      }
    },
    log() {
      return h.output();
    },
    alive() {
      return h.exitInfo === null;
    },
    kill(sig) {
      if (h.exitInfo === null) child.kill(sig);
    },
    async stop(deadlineMs = 5000, signal = "SIGTERM") {
      if (h.exitInfo) return h.exitInfo;
      child.kill("SIGCONT");
      child.kill(signal);
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

/**
 * GET http://<host>:<port><p>. Resolves {status, headers, body}; status 0 (and `error`)
 * on any failure or after `timeoutMs`. Never rejects.
 */
export function httpGet(port, p, { timeoutMs = 2000, headers = {}, host = HOST, localAddress } = {}) {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: p, agent: false, timeout: timeoutMs, headers, localAddress }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
      res.on("error", (error) => resolve({ status: 0, headers: {}, body: "", error }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (error) => resolve({ status: 0, headers: {}, body: "", error }));
  });
}

/**
 * Waits until GET <p> on `port` satisfies `ok` (default: status 200). Throws, after
 * stopping `h`, if the process `h` exits first or after `timeoutMs`; the message
 * names `what` and ends with the process's last output.
 */
export async function waitHttp(h, port, p, { timeoutMs = 15000, what = h?.name ?? "server", ok = (r) => r.status === 200, stepMs = 30 } = {}) {
  const deadline = Date.now() + timeoutMs;
  const tail = () => (h ? h.output().slice(-4000) : "");
  for (;;) {
    if (h && h.exitInfo) throw new Error(`${what} exited before answering ${p} (${JSON.stringify(h.exitInfo)}):\n${tail()}`);
    const r = await httpGet(port, p, { timeoutMs: 1000 });
    if (ok(r)) return r;
    if (Date.now() > deadline) {
      if (h) await h.stop(1000);
      throw new Error(`${what} did not answer ${p} within ${timeoutMs} ms:\n${tail()}`);
    }
    await sleep(stepMs);
  }
}

/** Prometheus text → Map "name{labels}" → number. */
export function parseMetrics(text) {
  const m = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

/** The value of one sample (`name{labels}` written exactly as exported), NaN if absent. */
export function metricValue(text, sample) {
  return parseMetrics(text).get(sample) ?? NaN;
}

/** Resident set size of a process in KiB (/proc/<pid>/status VmRSS), NaN when gone. */
export function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Open file descriptors of a process, NaN when gone. */
export function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** {user, sys}: utime and stime of a process in seconds (NaN when gone). */
export function cpuTimes(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { user: Number(f[11]) / CLK_TCK, sys: Number(f[12]) / CLK_TCK };
  } catch {
    return { user: NaN, sys: NaN };
  }
}

/** utime + stime of a process in seconds, NaN when gone. */
export function cpuSeconds(pid) {
  const t = cpuTimes(pid);
  return t.user + t.sys;
}

/** One RESP command on a fresh connection; resolves the decoded reply, or null on timeout / error. */
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
 * A redis-server on a free 127.0.0.1 port (or `port`), no persistence. `logFile`:
 * a function (port) → path for its output, else output is kept in memory. Resolves
 * once it answers PING with {port, url, pid, h (the process handle), start(),
 * stop(sig), pause() (SIGSTOP), resume(), restart(sig, downMs) (same port),
 * query(args, timeoutMs) (RESP; null when it does not answer), cli(...args)
 * (redis-cli, returns stdout)}. `conf`: a config file given first (a sentinel's, which
 * must be writable); `extraArgs`: more arguments after the defaults ("--sentinel",
 * "--replicaof", "--tls-port", ...).
 */
export async function startRedis({ port, logFile, conf, extraArgs = [] } = {}) {
  port = port ?? (await freePort());
  const r = {
    port,
    url: `redis://${HOST}:${port}`,
    h: null,
    get pid() {
      return r.h?.pid;
    },
    async start() {
      r.h = spawnProcess(`redis-${port}`, ["redis-server", ...(conf ? [conf] : []), "--port", String(port), "--bind", HOST,
        "--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning", ...extraArgs],
        { logFile: logFile ? logFile(port) : null });
      const deadline = Date.now() + 5000;
      while ((await r.query(["PING"], 300)) !== "PONG") {
        if (r.h.exitInfo) throw new Error(`redis-server exited: ${r.h.output()}`);
        if (Date.now() > deadline) throw new Error("redis-server did not start");
        await sleep(20);
      }
    },
    async stop(sig = "SIGTERM") {
      if (r.h) await r.h.stop(3000, sig);
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
    cli(...args) {
      return execFileSync("redis-cli", ["-h", HOST, "-p", String(port), ...args], { encoding: "utf8" }).trim();
    },
  };
  await r.start();
  return r;
}
