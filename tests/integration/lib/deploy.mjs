// What the deploy/cluster tests share: ports and processes of a deployment seen from outside.

import { readdirSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import net from "node:net";

/** Resolves true when 127.0.0.1:port can be bound right now. */
export function bindable(port) {
  return new Promise((res) => {
    const s = net.createServer();
    s.once("error", () => res(false));
    s.listen({ port, host: "127.0.0.1", exclusive: true }, () => s.close(() => res(true)));
  });
}

/** Resolves true when something accepts on 127.0.0.1:port. */
export function accepting(port) {
  return new Promise((res) => {
    const c = net.connect({ port, host: "127.0.0.1" });
    const done = (v) => {
      c.destroy();
      res(v);
    };
    c.setTimeout(1000, () => done(true)); // neither refused nor accepted: treat as taken
    c.once("connect", () => done(true));
    c.once("error", () => done(false));
  });
}

export function pidRunning(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // exited but not reaped yet (a zombie) is not running
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** name -> pid of every pid file in the run directory. */
export function pidFiles(runDir) {
  const out = {};
  if (!existsSync(runDir)) return out;
  for (const f of readdirSync(runDir)) {
    if (f.endsWith(".pid")) out[f.slice(0, -4)] = Number(readFileSync(join(runDir, f), "utf8").trim());
  }
  return out;
}

/** argv of a running process. */
export function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return [];
  }
}
