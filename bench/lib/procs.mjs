// Process helpers for the bench scripts: the shared ones (free loopback ports,
// child processes tracked by PID and always stopped, readiness over HTTP, /proc
// sampling) come from tests/lib/proc.mjs, which uses Node built-ins only; this
// file adds what only the bench needs. Only 127.0.0.0/8 addresses are ever used.

import { execFileSync } from "node:child_process";
import { connect } from "node:net";
import { HOST, cpuSeconds, cpuTimes, freePort, rssKiB, sleep, spawnProcess, waitHttp as waitHttpOk } from "../../tests/lib/proc.mjs";

export { HOST, cpuSeconds, cpuTimes, freePort, rssKiB, sleep };

// A bench interrupted by a signal still stops its servers (the 'exit' hook of
// tests/lib/proc.mjs kills every process it started).
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => process.exit(130));
}

/**
 * Start `cmd args` with its output appended to `logFile` (or kept in memory). Returns
 * {pid, name, child, exited (promise), exitInfo, stop(deadlineMs)}. The process is
 * tracked: it is SIGKILLed if this script exits without stopping it.
 */
export function startProcess(name, cmd, args, { env = process.env, logFile = null, cwd = process.cwd() } = {}) {
  return spawnProcess(name, [cmd, ...args], { env, logFile, cwd });
}

/** Resolve once GET <path> on the port answers 200; throw if `proc` exits or after `timeoutMs`. */
export function waitHttp(proc, port, path = "/health", timeoutMs = 15000) {
  return waitHttpOk(proc, port, path, { timeoutMs, stepMs: 50 });
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

/** Whether an executable is on PATH. */
export function which(cmd) {
  try {
    execFileSync("sh", ["-c", `command -v ${cmd}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
