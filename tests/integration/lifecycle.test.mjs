// The worker process itself: /health, --help, configuration by environment
// (flags win), bad command lines, and graceful stop on SIGTERM.

import { describe, it, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { startServer, workerCommand, freePort, REPO_ROOT, HOST } from "./lib/server.mjs";
import { spawnProcess } from "../lib/proc.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { request, pollingHandshake, post, poll } from "./lib/raw.mjs";
import { waitFor, withTimeout } from "./lib/util.mjs";

const pool = new ClientPool();
const started = [];
async function start(opts) {
  const s = await startServer(opts);
  started.push(s);
  return s;
}
afterEach(() => pool.closeAll());
after(async () => {
  pool.closeAll();
  await Promise.all(started.map((s) => s.stop()));
});

/** Run the worker command with `args` to completion (bounded). */
async function run(args, timeoutMs = 10000) {
  const env = { ...process.env };
  delete env.PORT;
  delete env.HOST;
  const h = spawnProcess("worker", [...workerCommand(), ...args], { env });
  const timer = setTimeout(() => h.kill("SIGKILL"), timeoutMs);
  const { code, signal } = await h.exited;
  clearTimeout(timer);
  return { code, signal, out: h.output() };
}

const FLAGS = [
  "host", "port", "path", "app", "namespaces", "ping-interval", "ping-timeout", "connect-timeout",
  "upgrade-timeout", "max-http-buffer-size", "cors-origin", "cookie", "jwt-secret", "jwt-alg",
  "jwt-public-key", "max-connections", "max-connections-per-ip", "max-output-buffer", "ack-timeout",
  "redis-url", "worker-id", "log-level",
];

describe("process", () => {
  it("GET /health → 200 ok", async () => {
    const s = await start({ flags: { app: "chat" } });
    const r = await request(`${s.url}/health`);
    assert.equal(r.status, 200);
    assert.equal(r.text.trim(), "ok", "body ok (a trailing newline is tolerated)");
  });

  it("--help exits 0 and lists every flag of the contract", async () => {
    const r = await run(["--help"]);
    assert.equal(r.code, 0, r.out);
    for (const f of FLAGS) assert.ok(r.out.includes(`--${f}`), `--help mentions --${f}`);
  });

  it("an unknown flag or a bad value makes it exit by itself with a non-zero status", async () => {
    for (const bad of [["--no-such-flag"], ["--app", "nope"], ["--port", "notanumber"]]) {
      const port = await freePort();
      const args = bad[0] === "--port" ? ["--host", HOST, ...bad] : ["--host", HOST, "--port", String(port), ...bad];
      const r = await run(args, 5000);
      assert.equal(r.signal, null, `${bad.join(" ")}: still running after 5 s`);
      assert.notEqual(r.code, 0, `${bad.join(" ")}: exit status ${r.code}`);
    }
  });

  it("a port already in use makes it exit with a non-zero status", async () => {
    const blocker = createServer();
    await new Promise((r) => blocker.listen(0, HOST, r));
    try {
      const r = await run(["--host", HOST, "--port", String(blocker.address().port)], 5000);
      assert.equal(r.signal, null, "still running after 5 s");
      assert.notEqual(r.code, 0, `exit status ${r.code}`);
    } finally {
      blocker.close();
    }
  });

  it("configuration from the environment: HOST, PORT, APP, SIO_PATH, PING_INTERVAL, MAX_HTTP_BUFFER_SIZE", async () => {
    const port = await freePort();
    const s = await start({
      noHostPort: true,
      port,
      env: { HOST, PORT: String(port), APP: "echo", SIO_PATH: "/engine.io/", PING_INTERVAL: "1234", PING_TIMEOUT: "567", MAX_HTTP_BUFFER_SIZE: "4321" },
    });
    const { sid, open } = await pollingHandshake(s, "/engine.io/");
    assert.equal(open.pingInterval, 1234);
    assert.equal(open.pingTimeout, 567);
    assert.equal(open.maxPayload, 4321);
    // plain Engine.IO echo app
    assert.equal((await post(s, "/engine.io/", sid, "4env")).text, "ok");
    assert.equal((await poll(s, "/engine.io/", sid)).text, "4env");
  });

  it("flags win over the environment", async () => {
    const s = await start({ flags: { "ping-interval": 4321, app: "chat" }, env: { PING_INTERVAL: "1234", APP: "echo" } });
    const { open } = await pollingHandshake(s, "/socket.io/");
    assert.equal(open.pingInterval, 4321);
    // chat app, not echo: join-room answers {ok:true}
    const c = await pool.connect(s, TRANSPORT_MODES.websocket);
    assert.deepEqual(await emitAck(c, "join-room", "r"), { ok: true });
  });

  it("JWT_SECRET from the environment turns authentication on", async () => {
    const s = await start({ flags: { app: "chat" }, env: { JWT_SECRET: "env-secret-env-secret-env-secret-0123" } });
    const err = await pool.connectError(s, TRANSPORT_MODES.websocket);
    assert.equal(err.message, "Authentication error");
  });

  it("SIGTERM: clients are disconnected and the process exits 0 promptly", async () => {
    const s = await startServer({ flags: { app: "chat" } });
    started.push(s);
    const ws = await pool.connect(s, TRANSPORT_MODES.websocket);
    const pl = await pool.connect(s, TRANSPORT_MODES.polling);
    const wsGone = waitFor(ws, "disconnect", 5000);
    const plGone = waitFor(pl, "disconnect", 5000);
    const t0 = Date.now();
    s.child.kill("SIGTERM");
    const info = await withTimeout(s.exited, 5000, "exit after SIGTERM");
    assert.deepEqual({ code: info.code, signal: info.signal }, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 5000);
    await Promise.all([wsGone, plGone]);
    // nothing listens any more
    await assert.rejects(request(`${s.url}/health`, { timeoutMs: 1000 }));
  });
});
