// Mixed cluster: two sioc workers and a stock Node.js Socket.IO 4.8 server
// with @socket.io/redis-adapter 8 on one Redis, plus @socket.io/redis-emitter
// 5 publishing from outside. Broadcasts flow both ways; the Node server's
// fetchSockets / serverSideEmit / socketsJoin / except / allRooms work across
// sioc workers; the emitter reaches sioc clients.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { startServer, stopAll, freePort, IS_NODE_PEER, REPO_ROOT } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";
import { httpGet, metricValue, spawnProcess, startRedis, waitHttp } from "../lib/proc.mjs";
import { sleep, until } from "./lib/util.mjs";

const require = createRequire(import.meta.url);
const { Emitter } = require("@socket.io/redis-emitter");
const { createClient } = require("redis");

const status = async (port, path) => (await httpGet(port, path, { timeoutMs: 1000 })).status;

async function startNodePeer(redisUrl, mode) {
  const port = await freePort();
  const h = spawnProcess("node-peer", [process.execPath, `${REPO_ROOT}tests/integration/fixtures/node-cluster-peer.mjs`, String(port), redisUrl, mode]);
  await waitHttp(h, port, "/health", { timeoutMs: 10000, stepMs: 50, what: "node peer" });
  return Object.assign(h, { url: `http://127.0.0.1:${port}` });
}

for (const mode of ["classic", "sharded"]) {
  describe(`mixed cluster with Node @socket.io/redis-adapter (${mode})`, { skip: IS_NODE_PEER ? "needs sioc workers" : false }, () => {
    const pool = new ClientPool();
    let redis, w1, w2, node, emitterClient;
    before(async () => {
      redis = await startRedis();
      const flags = (id) => ({ app: "chat", "redis-url": redis.url, "adapter-mode": mode, "worker-id": id });
      w1 = await startServer({ flags: flags("s1"), env: { JWT_SECRET: TEST_SECRET } });
      w2 = await startServer({ flags: flags("s2"), env: { JWT_SECRET: TEST_SECRET } });
      node = await startNodePeer(redis.url, mode);
      await until(async () => (await status(w1.port, "/ready")) === 200 && (await status(w2.port, "/ready")) === 200, 10000, 50, "ready");
    });
    after(async () => {
      pool.closeAll();
      await emitterClient?.quit().catch(() => {});
      await node?.stop();
      await stopAll(w1, w2);
      await redis?.stop();
    });

    const sioc = (w, user) => pool.connect(w, { ...TRANSPORT_MODES.websocket, auth: { token: makeToken({ sub: user }) } });
    const nodeClient = () => pool.connect(node.url, TRANSPORT_MODES.websocket);

    it("broadcasts flow both ways between sioc workers and the Node server", async () => {
      const a = await sioc(w1, "a");
      const b = await sioc(w2, "b");
      const n = await nodeClient();
      for (const c of [a, b, n]) assert.deepEqual(await emitAck(c, "join-room", "mix"), { ok: true });
      await sleep(100); // the Node sharded adapter subscribes asynchronously
      const got = new Map([a, b, n].map((c) => [c, []]));
      for (const c of [a, b, n]) c.on("receive-message", (m) => got.get(c).push(m));
      await emitAck(a, "send-message", { roomId: "mix", msg: "from-sioc" });
      await emitAck(n, "send-message", { roomId: "mix", msg: { from: "node", bin: Buffer.from([1, 2, 3]) } });
      await until(() => [...got.values()].every((l) => l.length === 2), 5000, 10, "both messages everywhere");
      for (const list of got.values()) {
        assert.equal(list[0] === "from-sioc" ? list[0] : list[1], "from-sioc");
        const fromNode = list.find((m) => typeof m === "object");
        assert.equal(fromNode.from, "node");
        assert.ok(Buffer.from(fromNode.bin).equals(Buffer.from([1, 2, 3])), "binary from Node intact on every server");
      }
    });

    it("Node fetchSockets sees the sockets on sioc workers", async () => {
      const a = await sioc(w1, "fa");
      const b = await sioc(w2, "fb");
      const n = await nodeClient();
      for (const c of [a, b, n]) await emitAck(c, "join-room", "fetch");
      const list = await emitAck(n, "x-fetch", "fetch");
      assert.deepEqual(new Set(list.map((s) => s.id)), new Set([a.id, b.id, n.id]));
      const fromSioc = list.find((s) => s.id === a.id);
      assert.ok(fromSioc.rooms.includes("fetch") && fromSioc.rooms.includes(a.id), "rooms of a sioc socket");
    });

    it("Node serverSideEmit with acks gets an answer from each sioc worker, no timeout", async () => {
      const n = await nodeClient();
      const r = await emitAck(n, "x-sse");
      assert.equal(r.err, null);
      assert.equal(r.n, 2);
    });

    it("Node socketsJoin moves sioc sockets into a room, and except skips a sioc socket", async () => {
      const a = await sioc(w1, "ja");
      const b = await sioc(w2, "jb");
      const n = await nodeClient();
      for (const c of [a, b, n]) await emitAck(c, "join-room", "src");
      await emitAck(n, "x-join", "src", "dst");
      await sleep(300);
      const got = { a: [], b: [] };
      a.on("receive-message", (m) => got.a.push(m));
      b.on("receive-message", (m) => got.b.push(m));
      await emitAck(a, "send-message", { roomId: "dst", msg: "in-dst" });
      await until(() => got.a.includes("in-dst") && got.b.includes("in-dst"), 3000, 10, "joined remotely");
      await emitAck(n, "x-except", "dst", b.id, "not-for-b");
      await until(() => got.a.includes("not-for-b"), 3000, 10, "a gets it");
      await sleep(200);
      assert.ok(!got.b.includes("not-for-b"), "except honoured on a sioc worker");
    });

    it("a Node broadcast with acks collects the acks of clients on sioc workers (server-to-client acks)", async () => {
      const a = await sioc(w1, "qa");
      const b = await sioc(w2, "qb");
      const n = await nodeClient();
      for (const c of [a, b, n]) await emitAck(c, "join-room", "ask");
      await sleep(100);
      for (const c of [a, b, n]) c.on("ask", (q, cb) => cb(`${q}:${c.id}`));
      const r = await emitAck(n, "x-ask", "ask");
      assert.equal(r.err, null, "every ack arrived before the timeout");
      assert.deepEqual(new Set(r.answers), new Set([a, b, n].map((c) => `question:${c.id}`)));
      // A client that does not answer makes the broadcast time out with the other answers.
      const silent = await sioc(w1, "silent");
      await emitAck(silent, "join-room", "ask");
      const r2 = await emitAck(n, "x-ask", "ask");
      assert.ok(r2.err, "timed out");
      assert.equal(r2.answers.length, 3);
    });

    it("a Node broadcast to 5,000 rooms reaches a sioc client in the last of them", async () => {
      const a = await sioc(w1, "many-a");
      const n = await nodeClient();
      await emitAck(a, "join-room", "many4999");
      const got = [];
      a.on("receive-message", (m) => got.push(m));
      assert.deepEqual(await emitAck(n, "x-to-many", "many", 5000, "to-5000-rooms"), { ok: true });
      await until(() => got.includes("to-5000-rooms"), 3000, 10, "broadcast with 5,000 rooms decoded");
    });

    if (mode === "classic") {
      it("list-rooms answers at once when a Node peer holds 5,000 rooms (its answer decoded)", async () => {
        const a = await sioc(w1, "lr-a");
        const n = await nodeClient();
        assert.deepEqual(await emitAck(n, "x-join-many", "held", 5000), { ok: true });
        const errors0 = metricValue((await httpGet(w1.port, "/metrics")).body, "sioc_redis_decode_errors_total");
        const t0 = Date.now();
        const r = await emitAck(a, "list-rooms");
        const ms = Date.now() - t0;
        assert.equal(r.ok, true);
        assert.equal(r.rooms.length, 1000, "the list is capped; complete:false says so");
        assert.equal(r.complete, false);
        assert.ok(ms < 2000, `answered in ${ms} ms, not after the request timeout`);
        assert.equal(metricValue((await httpGet(w1.port, "/metrics")).body, "sioc_redis_decode_errors_total"), errors0, "the Node peer's answer was decoded");
        n.disconnect();
        await sleep(200);
      });

      it("Node allRooms includes the rooms of sioc workers; sioc list-rooms includes Node's", async () => {
        const a = await sioc(w1, "ra");
        const n = await nodeClient();
        await emitAck(a, "join-room", "room-on-sioc");
        await emitAck(n, "join-room", "room-on-node");
        const rooms = await emitAck(n, "x-all-rooms");
        assert.ok(rooms.includes("room-on-sioc"));
        const r = await emitAck(a, "list-rooms");
        assert.equal(r.ok, true);
        assert.ok(r.rooms.includes("room-on-node") && r.rooms.includes("room-on-sioc"));
      });

      it("@socket.io/redis-emitter reaches sioc clients, with rooms and except", async () => {
        emitterClient = createClient({ url: redis.url });
        await emitterClient.connect();
        const emitter = new Emitter(emitterClient);
        const a = await sioc(w1, "ea");
        const b = await sioc(w2, "eb");
        for (const c of [a, b]) await emitAck(c, "join-room", "news");
        const got = { a: [], b: [] };
        a.on("receive-message", (m) => got.a.push(m));
        b.on("receive-message", (m) => got.b.push(m));
        emitter.to("news").emit("receive-message", { headline: "hi", n: 1.5 });
        await until(() => got.a.length === 1 && got.b.length === 1, 3000, 10, "emitter to room");
        assert.deepEqual(got.a[0], { headline: "hi", n: 1.5 });
        emitter.to("news").except(a.id).emit("receive-message", "skip-a");
        await until(() => got.b.includes("skip-a"), 3000, 10, "b gets it");
        await sleep(200);
        assert.ok(!got.a.includes("skip-a"));
        emitter.in("news").socketsLeave("news");
        await sleep(300);
        emitter.to("news").emit("receive-message", "after-leave");
        await sleep(300);
        assert.ok(!got.a.includes("after-leave") && !got.b.includes("after-leave"), "socketsLeave from the emitter applied");
      });
    }
  });
}
