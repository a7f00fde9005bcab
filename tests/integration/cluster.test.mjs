// Cluster-wide rooms through a real redis-server: three workers, clients on
// each, in both subscription modes (classic PSUBSCRIBE and sharded
// SSUBSCRIBE per room). Checks exactly-once, per-sender order, binary
// integrity, membership, cluster queries, and recovery after Redis dies.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startServer, stopAll, IS_NODE_PEER } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";
import { startRedis } from "../lib/proc.mjs";
import { sleep, until } from "./lib/util.mjs";

function get(port, path) {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path, timeout: 1000 }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    req.on("error", () => resolve({ status: 0, body: "" }));
    req.on("timeout", () => req.destroy());
  });
}

const ready = (w) => get(w.port, "/ready").then((r) => r.status === 200);
const metric = async (w, name) => {
  const r = await get(w.port, "/metrics");
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(r.body);
  return m ? Number(m[1]) : NaN;
};

async function startCluster(mode, n = 3) {
  const redis = await startRedis();
  const workers = [];
  try {
    for (let i = 0; i < n; i++) {
      workers.push(
        await startServer({
          flags: { app: "chat", "redis-url": redis.url, "adapter-mode": mode, "worker-id": `w${i + 1}` },
          env: { JWT_SECRET: TEST_SECRET },
        }),
      );
    }
    await until(async () => (await Promise.all(workers.map(ready))).every(Boolean), 10000, 50, "workers ready");
  } catch (err) {
    await stopAll(workers);
    await redis.stop();
    throw err;
  }
  return { redis, workers };
}

for (const mode of ["classic", "sharded"]) {
  describe(`cluster (${mode} adapter)`, { skip: IS_NODE_PEER && mode === "sharded" ? "peer runs classic only" : false }, () => {
    const pool = new ClientPool();
    let redis;
    let workers;
    before(async () => {
      ({ redis, workers } = await startCluster(mode));
    });
    after(async () => {
      pool.closeAll();
      await stopAll(workers);
      await redis?.stop();
    });

    const connect = (w, user, transport = TRANSPORT_MODES.websocket) =>
      pool.connect(w, { ...transport, auth: { token: makeToken({ sub: user }) } });

    it("room broadcasts reach exactly the members on every worker, once, in order per sender", async () => {
      const members = [];
      for (const [i, w] of workers.entries()) {
        for (let k = 0; k < 2; k++) {
          const transport = k === 0 ? TRANSPORT_MODES.websocket : TRANSPORT_MODES.polling;
          const c = await connect(w, `m${i}${k}`, transport);
          assert.deepEqual(await emitAck(c, "join-room", "r1"), { ok: true });
          members.push(c);
        }
      }
      const outsiders = [];
      for (const w of workers) {
        const c = await connect(w, "out");
        assert.deepEqual(await emitAck(c, "join-room", "other"), { ok: true });
        outsiders.push(c);
      }
      const got = new Map(members.map((c) => [c, []]));
      for (const c of members) c.on("receive-message", (m) => got.get(c).push(m));
      let leaked = 0;
      for (const c of outsiders) c.on("receive-message", () => leaked++);

      const N = 25;
      await Promise.all(
        members.map(async (c, idx) => {
          for (let seq = 0; seq < N; seq++) {
            const ack = await emitAck(c, "send-message", { roomId: "r1", msg: { from: idx, seq } });
            assert.deepEqual(ack, { ok: true });
          }
        }),
      );
      const expected = members.length * N;
      await until(() => [...got.values()].every((l) => l.length >= expected), 10000, 20, "all deliveries");
      await sleep(200); // duplicates would arrive now
      for (const [c, list] of got) {
        assert.equal(list.length, expected, `${c.id}: exactly once`);
        const last = new Map();
        for (const m of list) {
          const prev = last.get(m.from) ?? -1;
          assert.equal(m.seq, prev + 1, `order from sender ${m.from}`);
          last.set(m.from, m.seq);
        }
      }
      assert.equal(leaked, 0, "non-members receive nothing");
    });

    it("binary payloads cross workers intact", async () => {
      const a = await connect(workers[0], "bin-a");
      const b = await connect(workers[2], "bin-b", TRANSPORT_MODES.polling);
      await emitAck(a, "join-room", "bin");
      await emitAck(b, "join-room", "bin");
      const payload = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 255));
      const got = new Promise((resolve) => b.once("receive-message", resolve));
      await emitAck(a, "send-message", { roomId: "bin", msg: { file: payload, name: "x" } });
      const m = await got;
      assert.equal(m.name, "x");
      assert.ok(Buffer.from(m.file).equals(payload), "bytes equal");
    });

    it("leave-room stops cross-worker delivery", async () => {
      const a = await connect(workers[0], "lv-a");
      const b = await connect(workers[1], "lv-b");
      await emitAck(a, "join-room", "lv");
      await emitAck(b, "join-room", "lv");
      let n = 0;
      b.on("receive-message", () => n++);
      await emitAck(a, "send-message", { roomId: "lv", msg: 1 });
      await until(() => n === 1, 3000, 10, "first delivery");
      assert.deepEqual(await emitAck(b, "leave-room", "lv"), { ok: true });
      await emitAck(a, "send-message", { roomId: "lv", msg: 2 });
      await sleep(300);
      assert.equal(n, 1);
    });

    it("list-members answers with the sockets of every worker (fetchSockets)", async () => {
      const cs = [];
      for (const [i, w] of workers.entries()) {
        const c = await connect(w, `fm${i}`);
        await emitAck(c, "join-room", "fm");
        cs.push(c);
      }
      const r = await emitAck(cs[0], "list-members", "fm");
      assert.equal(r.ok, true);
      assert.equal(r.complete, true, "every worker answered");
      assert.deepEqual(new Set(r.sockets.map((s) => s.id)), new Set(cs.map((c) => c.id)));
      assert.deepEqual(new Set(r.sockets.map((s) => s.data.user)), new Set(["fm0", "fm1", "fm2"]));
    });

    if (mode === "sharded") {
      it("a worker subscribes only to the rooms it has members in", async () => {
        const c = await connect(workers[1], "solo");
        await emitAck(c, "join-room", "solo-room");
        const count = Number(redis.cli("PUBSUB", "SHARDNUMSUB", "socket.io#/#solo-room#").split("\n")[1]);
        assert.equal(count, 1, "one subscriber: the worker with the member");
        await emitAck(c, "leave-room", "solo-room");
        await until(
          () => Number(redis.cli("PUBSUB", "SHARDNUMSUB", "socket.io#/#solo-room#").split("\n")[1]) === 0,
          3000, 20, "unsubscribed after the last member left");
      });
    }

    it("Redis killed and restarted: /ready goes red, then delivery resumes; local delivery never stops", async () => {
      const a = await connect(workers[0], "f-a");
      const a2 = await connect(workers[0], "f-a2");
      const b = await connect(workers[2], "f-b");
      for (const c of [a, a2, b]) await emitAck(c, "join-room", "fault");
      const gotB = [];
      const gotA2 = [];
      b.on("receive-message", (m) => gotB.push(m));
      a2.on("receive-message", (m) => gotA2.push(m));

      await redis.stop("SIGKILL");
      await until(async () => !(await ready(workers[0])), 6000, 50, "/ready red after Redis died");
      // Same-worker delivery goes on during the outage.
      await emitAck(a, "send-message", { roomId: "fault", msg: "during" });
      await until(() => gotA2.includes("during"), 2000, 10, "local delivery during the outage");
      const rssDuring = workers[0].rssKiB();

      await sleep(500);
      await redis.start();
      const t0 = Date.now();
      await until(async () => (await Promise.all(workers.map(ready))).every(Boolean), 8000, 50, "ready again");
      const recovery = Date.now() - t0;
      assert.ok(recovery < 5000, `resubscribed in ${recovery} ms`);
      await emitAck(a, "send-message", { roomId: "fault", msg: "after" });
      await until(() => gotB.includes("after"), 3000, 10, "cross-worker delivery after recovery");
      assert.ok(workers[0].rssKiB() < rssDuring + 20000, "memory stays bounded");
      if (IS_NODE_PEER) {
        assert.ok((await metric(workers[0], "sioc_redis_publish_dropped_total")) >= 1, "dropped publishes are counted");
      } else {
        // sioc keeps what it publishes during the outage and sends it first (adapter_queue.c)
        assert.deepEqual(gotB, ["during", "after"], "the publish of the outage was queued and sent first");
        assert.ok((await metric(workers[0], "sioc_adapter_queued_total")) >= 1, "queued publishes are counted");
      }
    });
  });
}
