// A real redis-server for the tests: started on a free 127.0.0.1 port with no
// persistence, stopped by PID (SIGTERM, then SIGKILL). pause()/resume() send
// SIGSTOP/SIGCONT to freeze it; restart() kills it and starts it again on
// the same port.

import { spawn, execFileSync } from "node:child_process";
import { createConnection } from "node:net";
import { freePort, HOST } from "./server.mjs";
import { sleep } from "./util.mjs";

const live = new Set();
process.on("exit", () => {
  for (const c of live) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
});

function ping(port, timeoutMs = 500) {
  return new Promise((resolve) => {
    const s = createConnection({ host: HOST, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.on("error", () => {
      clearTimeout(t);
      resolve(false);
    });
    s.on("connect", () => s.write("PING\r\n"));
    s.on("data", (d) => {
      clearTimeout(t);
      s.destroy();
      resolve(d.toString().startsWith("+PONG"));
    });
  });
}

export async function startRedis({ port } = {}) {
  port = port ?? (await freePort());
  const r = {
    port,
    url: `redis://${HOST}:${port}`,
    child: null,
    async start() {
      const child = spawn("redis-server", ["--port", String(port), "--bind", HOST, "--save", "", "--appendonly", "no",
        "--protected-mode", "no", "--loglevel", "warning"], { stdio: ["ignore", "ignore", "pipe"] });
      live.add(child);
      child.on("exit", () => live.delete(child));
      this.child = child;
      const deadline = Date.now() + 5000;
      while (!(await ping(port))) {
        if (Date.now() > deadline) throw new Error("redis-server did not start");
        await sleep(30);
      }
    },
    /** redis-cli against this server; returns stdout. */
    cli(...args) {
      return execFileSync("redis-cli", ["-h", HOST, "-p", String(port), ...args], { encoding: "utf8" }).trim();
    },
    async stop(signal = "SIGTERM") {
      const c = this.child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise((res) => c.once("exit", res));
      c.kill(signal);
      const t = setTimeout(() => c.kill("SIGKILL"), 3000);
      await gone;
      clearTimeout(t);
    },
    pause() {
      this.child.kill("SIGSTOP");
    },
    resume() {
      this.child.kill("SIGCONT");
    },
    async restart(signal = "SIGKILL", downMs = 0) {
      await this.stop(signal);
      if (downMs) await sleep(downMs);
      await this.start();
    },
  };
  await r.start();
  return r;
}
