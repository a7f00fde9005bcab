// Process helpers for the bench scripts: free loopback ports, child processes
// tracked by PID and always stopped (SIGTERM, then SIGKILL), readiness probes,
// and /proc sampling. Only 127.0.0.0/8 addresses are ever used.

import { spawn, execFileSync } from "node:child_process";
import { createServer, connect } from "node:net";
import { readFileSync, openSync, closeSync } from "node:fs";
import http from "node:http";

export const HOST = "127.0.0.1";

/** A free TCP port on 127.0.0.1 (bound, then released). */
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

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const live = new Map(); // pid -> child
function killAllSync() {
  for (const child of live.values()) {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  live.clear();
}
process.on("exit", killAllSync);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    killAllSync();
    process.exit(130);
  });
}

/**
 * Start `cmd args` with its output appended to `logFile` (or ignored). Returns
 * {pid, name, exited (promise), stop(deadlineMs)}. The process is tracked: it is
 * SIGKILLed if this script exits without stopping it.
 */
export function startProcess(name, cmd, args, { env = process.env, logFile = null, cwd } = {}) {
  const fd = logFile ? openSync(logFile, "a") : "ignore";
  const child = spawn(cmd, args, { env, cwd, stdio: ["ignore", fd, fd] });
  if (logFile) closeSync(fd);
  live.set(child.pid, child);
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      exitInfo = { code, signal };
      live.delete(child.pid);
      resolve(exitInfo);
    });
    child.on("error", (err) => {
      exitInfo = { code: null, signal: null, error: String(err) };
      live.delete(child.pid);
      resolve(exitInfo);
    });
  });
  return {
    name,
    pid: child.pid,
    child,
    exited,
    get exitInfo() {
      return exitInfo;
    },
    async stop(deadlineMs = 5000) {
      if (exitInfo) return exitInfo;
      try {
        process.kill(child.pid, "SIGTERM");
      } catch {
        /* gone */
      }
      const t = setTimeout(() => {
        if (!exitInfo) {
          try {
            process.kill(child.pid, "SIGKILL");
          } catch {
            /* gone */
          }
        }
      }, deadlineMs);
      const info = await exited;
      clearTimeout(t);
      return info;
    },
  };
}

function httpGet(port, path, timeoutMs) {
  return new Promise((resolve) => {
    const req = http.get({ host: HOST, port, path, agent: false, timeout: timeoutMs }, (res) => {
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

/** Resolve once GET <path> on the port answers 200; throw if `proc` exits or after `timeoutMs`. */
export async function waitHttp(proc, port, path = "/health", timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (proc && proc.exitInfo) throw new Error(`${proc.name} exited early: ${JSON.stringify(proc.exitInfo)}`);
    const r = await httpGet(port, path, 1000);
    if (r && r.status === 200) return;
    if (Date.now() > end) throw new Error(`${proc ? proc.name : "server"} did not answer ${path} on port ${port}`);
    await sleep(50);
  }
}

/** Resolve once a TCP connect to the port succeeds. */
export async function waitTcp(proc, port, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (proc && proc.exitInfo) throw new Error(`${proc.name} exited early: ${JSON.stringify(proc.exitInfo)}`);
    const ok = await new Promise((resolve) => {
      const s = connect({ host: HOST, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`${proc ? proc.name : "server"} does not accept on port ${port}`);
    await sleep(50);
  }
}

/** Resident set size in KiB, or NaN. */
export function rssKiB(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : NaN;
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

/** utime + stime of the process in seconds, or NaN. */
export function cpuSeconds(pid) {
  const t = cpuTimes(pid);
  return t.user + t.sys;
}

/** {user, sys}: utime and stime of the process in seconds (NaN when unreadable). */
export function cpuTimes(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { user: Number(f[11]) / CLK_TCK, sys: Number(f[12]) / CLK_TCK };
  } catch {
    return { user: NaN, sys: NaN };
  }
}

/** Whether an executable is on PATH. */
export function which(cmd) {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
