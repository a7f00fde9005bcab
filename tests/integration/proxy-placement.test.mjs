// sioc-proxy placement of new sessions (PLACEMENT): every client from one
// address, as behind a container engine's port forwarding.
//
// hash (the default): 30 websocket clients from 127.0.0.1 all land on one worker.
// least-loaded: 60 websocket clients connecting at once from 127.0.0.1 spread over
// the three workers, none above 1.5 times the mean; polling-only clients keep their
// worker for the whole session (chat round trips, no disconnect). An unknown
// PLACEMENT stops the proxy (exit 2).

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { startServer, stopAll } from "./lib/server.mjs";
import { ClientPool, connected, emitAck } from "./lib/client.mjs";
import { startProxy, proxyCommand, PROXY_ENV } from "./lib/proxy.mjs";
import { withTimeout } from "./lib/util.mjs";

async function startWorker(id) {
  const w = await startServer({ flags: { app: "chat", "worker-id": id } });
  w.id = id;
  return w;
}

const workerOf = (socket) => socket.io.engine.id.split(".")[0];

function countBy(sockets) {
  const m = {};
  for (const s of sockets) m[workerOf(s)] = (m[workerOf(s)] || 0) + 1;
  return m;
}

async function connectMany(pool, proxy, n, opts) {
  const sockets = Array.from({ length: n }, () => pool.create(proxy, opts));
  await withTimeout(Promise.all(sockets.map(connected)), 20000, `${n} connects`);
  return sockets;
}

describe("proxy placement of new sessions from one address", () => {
  const pool = new ClientPool();
  let workers = [];
  const proxies = [];

  before(async () => {
    workers = await Promise.all(["w1", "w2", "w3"].map((id) => startWorker(id)));
  });
  after(async () => {
    pool.closeAll();
    for (const p of proxies) await p.stop();
    await stopAll(workers);
  });

  it("hash: every client from one address lands on one worker", { timeout: 60000 }, async () => {
    const proxy = await startProxy({ workers });
    proxies.push(proxy);
    const sockets = await connectMany(pool, proxy, 30, { transports: ["websocket"] });
    const by = countBy(sockets);
    assert.equal(Object.keys(by).length, 1, JSON.stringify(by));
    for (const s of sockets) pool.close(s);
  });

  it("least-loaded: 60 clients from one address spread, none above 1.5 x the mean", { timeout: 60000 }, async () => {
    const proxy = await startProxy({ workers, env: { PLACEMENT: "least-loaded" } });
    proxies.push(proxy);
    const sockets = await connectMany(pool, proxy, 60, { transports: ["websocket"] });
    const by = countBy(sockets);
    assert.equal(Object.keys(by).length, 3, JSON.stringify(by));
    for (const n of Object.values(by)) assert.ok(n <= 30, JSON.stringify(by));
    assert.ok((await proxy.metric('sioc_proxy_routed_total{by="load"}')) >= 60, "placements counted");

    // polling-only sessions stay on their worker: chat round trips through the proxy
    const polling = await connectMany(pool, proxy, 12, { transports: ["polling"] });
    const errors = [];
    for (const s of polling) s.on("disconnect", (why) => errors.push(why));
    await Promise.all(
      polling.map(async (s, i) => {
        const w = workerOf(s);
        assert.deepEqual(await emitAck(s, "join-room", `p${i}`), { ok: true });
        const got = new Promise((resolve) => s.once("receive-message", resolve));
        assert.deepEqual(await emitAck(s, "send-message", { roomId: `p${i}`, msg: { i } }), { ok: true });
        assert.deepEqual(await withTimeout(got, 5000, "receive-message"), { i });
        assert.equal(workerOf(s), w);
      }),
    );
    assert.deepEqual(errors, []);
    assert.equal(Object.keys(countBy(polling)).length > 1, true, JSON.stringify(countBy(polling)));
    for (const s of [...sockets, ...polling]) pool.close(s);
  });

  it("an unknown PLACEMENT stops the proxy with status 2", () => {
    const cmd = proxyCommand();
    const env = { ...process.env };
    for (const k of PROXY_ENV) delete env[k];
    env.PLACEMENT = "round-robin";
    const r = spawnSync(cmd[0], [...cmd.slice(1), "--workers", "w1=127.0.0.1:1"], { env, encoding: "utf8", timeout: 10000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--placement \/ PLACEMENT must be hash or least-loaded/);
  });
});
