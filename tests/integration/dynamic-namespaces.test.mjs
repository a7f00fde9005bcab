// Dynamic namespaces (--namespace-pattern): a CONNECT to an unknown namespace that
// matches the pattern creates it, the chat runs in it as in "/", and it is removed when
// its last socket leaves (Node's cleanupEmptyChildNamespaces), its adapter channels
// unsubscribed. The cap refuses more (counted). Two workers on Redis (classic, sharded,
// streams): a broadcast to a room of a child namespace reaches its members on every
// worker, also after the namespace went and came back; a stock Node server with
// io.of(/^\/dyn-\w+$/) and @socket.io/redis-adapter in the same cluster talks with them.

import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopAll, freePort, IS_NODE_PEER, REPO_ROOT } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";
import { httpGet, metricValue, respQuery, spawnProcess, startRedis, waitHttp } from "../lib/proc.mjs";
import { sleep, until } from "./lib/util.mjs";

const PATTERN = "/dyn-[a-z0-9]+";
const metric = async (w, name) => metricValue((await httpGet(w.port, "/metrics")).body, name);

describe("dynamic namespaces", { skip: IS_NODE_PEER ? "sioc worker only" : false }, () => {
  describe("one worker", () => {
    const pool = new ClientPool();
    let w;
    before(async () => {
      w = await startServer({
        flags: { app: "chat", "namespace-pattern": PATTERN, "max-dynamic-namespaces": 2, namespaces: "/static" },
        env: { JWT_SECRET: TEST_SECRET },
      });
    });
    after(async () => {
      pool.closeAll();
      await stopAll(w);
    });
    afterEach(() => pool.closeAll());
    const connect = (nsp, mode = "websocket") =>
      pool.connect(w, { ...TRANSPORT_MODES[mode], nsp, auth: { token: makeToken({ sub: "u" }) } });

    it("creates a matching namespace on CONNECT and runs the chat in it, isolated from others", async () => {
      const a = await connect("/dyn-a");
      const b = await connect("/dyn-a", "polling");
      const other = await connect("/dyn-b");
      for (const c of [a, b, other]) assert.deepEqual(await emitAck(c, "join-room", "r"), { ok: true });
      const got = { b: [], other: [] };
      b.on("receive-message", (m) => got.b.push(m));
      other.on("receive-message", (m) => got.other.push(m));
      await emitAck(a, "send-message", { roomId: "r", msg: "in dyn-a" });
      await until(() => got.b.length === 1, 3000, 10, "member got it");
      await sleep(100);
      assert.deepEqual(got, { b: ["in dyn-a"], other: [] });
      assert.equal(await metric(w, "sioc_dynamic_namespaces"), 2);
      // The middleware still runs: no token, no socket.
      const err = await pool.connectError(w, { ...TRANSPORT_MODES.websocket, nsp: "/dyn-a" });
      assert.equal(err.message, "Authentication error");
    });

    it("refuses names that do not match the whole pattern", async () => {
      for (const nsp of ["/other", "/dyn-", "/dyn-A", "/dyn-a/b", "/x/dyn-a", "/dyn-a "]) {
        const err = await pool.connectError(w, { ...TRANSPORT_MODES.websocket, nsp, auth: { token: makeToken() } });
        assert.equal(err.message, "Invalid namespace", nsp);
      }
      await connect("/static");
    });

    it("removes an empty namespace; the cap refuses more and frees up again", async () => {
      await until(async () => (await metric(w, "sioc_dynamic_namespaces")) === 0, 3000, 20, "empty namespaces removed");
      const removed = await metric(w, "sioc_dynamic_namespaces_removed_total");
      assert.equal(removed, 2);
      // Created for a CONNECT that the middleware refuses, removed at once.
      const auth = await pool.connectError(w, { ...TRANSPORT_MODES.websocket, nsp: "/dyn-c" });
      assert.equal(auth.message, "Authentication error");
      await until(async () => (await metric(w, "sioc_dynamic_namespaces_removed_total")) === 3, 3000, 20, "dyn-c removed");
      assert.equal(await metric(w, "sioc_dynamic_namespaces"), 0);
      const a = await connect("/dyn-x1");
      await connect("/dyn-x2");
      const err = await pool.connectError(w, { ...TRANSPORT_MODES.websocket, nsp: "/dyn-x3", auth: { token: makeToken() } });
      assert.equal(err.message, "Too many namespaces");
      assert.equal(await metric(w, "sioc_dynamic_namespaces_refused_total"), 1);
      pool.close(a);
      await until(async () => (await metric(w, "sioc_dynamic_namespaces")) === 1, 3000, 20, "dyn-x1 removed");
      const c = await connect("/dyn-x3");
      assert.deepEqual(await emitAck(c, "join-room", "q"), { ok: true });
    });
  });

  for (const mode of ["classic", "sharded", "streams"]) {
    describe(`two workers on Redis (${mode})`, () => {
      const pool = new ClientPool();
      let redis, w1, w2;
      before(async () => {
        redis = await startRedis();
        const flags = (id) => ({ app: "chat", "redis-url": redis.url, "adapter-mode": mode, "worker-id": id, "namespace-pattern": PATTERN });
        w1 = await startServer({ flags: flags("w1"), env: { JWT_SECRET: TEST_SECRET } });
        w2 = await startServer({ flags: flags("w2"), env: { JWT_SECRET: TEST_SECRET } });
        await until(async () => (await httpGet(w1.port, "/ready")).status === 200 && (await httpGet(w2.port, "/ready")).status === 200, 10000, 50, "ready");
      });
      after(async () => {
        pool.closeAll();
        await stopAll(w1, w2);
        await redis?.stop();
      });
      const connect = (w, nsp) => pool.connect(w, { ...TRANSPORT_MODES.websocket, nsp, auth: { token: makeToken({ sub: "u" }) } });
      const channels = async () => {
        const [kind, arg] = mode === "sharded" ? ["SHARDCHANNELS", "*dyn-room*"] : ["CHANNELS", "*dyn-room*"];
        const chans = await respQuery(redis.port, ["PUBSUB", kind, arg]);
        const pats = mode === "classic" ? await respQuery(redis.port, ["PUBSUB", "NUMPAT"]) : 0;
        return { chans: chans.length, pats };
      };

      it("a room of a child namespace gets broadcasts from every worker; removal unsubscribes", async () => {
        const idle = await channels();
        for (let round = 0; round < 2; round++) {
          const a = await connect(w1, "/dyn-room");
          const b = await connect(w2, "/dyn-room");
          for (const c of [a, b]) assert.deepEqual(await emitAck(c, "join-room", "r"), { ok: true });
          const got = { a: [], b: [] };
          a.on("receive-message", (m) => got.a.push(m));
          b.on("receive-message", (m) => got.b.push(m));
          await emitAck(a, "send-message", { roomId: "r", msg: `from w1 ${round}` });
          await emitAck(b, "send-message", { roomId: "r", msg: `from w2 ${round}` });
          await until(() => got.a.length === 2 && got.b.length === 2, 5000, 10, "both ways");
          assert.deepEqual(new Set(got.a), new Set([`from w1 ${round}`, `from w2 ${round}`]));
          assert.deepEqual(new Set(got.b), new Set(got.a));
          // "/" does not see the child's traffic.
          const root = await connect(w2, "/");
          await emitAck(root, "join-room", "r");
          const rootGot = [];
          root.on("receive-message", (m) => rootGot.push(m));
          await emitAck(a, "send-message", { roomId: "r", msg: "child only" });
          await until(() => got.b.length === 3, 3000, 10, "child message");
          await sleep(100);
          assert.deepEqual(rootGot, []);
          assert.ok((await channels()).chans + (await channels()).pats > idle.chans + idle.pats, "subscribed");
          pool.closeAll();
          await until(async () => (await metric(w1, "sioc_dynamic_namespaces")) === 0 && (await metric(w2, "sioc_dynamic_namespaces")) === 0,
            3000, 20, "removed on both workers");
          await until(async () => {
            const now = await channels();
            return now.chans === idle.chans && now.pats === idle.pats;
          }, 3000, 20, "channels unsubscribed");
        }
        assert.equal(await metric(w1, "sioc_dynamic_namespaces_created_total"), 2);
      });
    });
  }

  for (const mode of ["classic", "sharded"]) {
    describe(`mixed with a Node server using io.of(/^\\/dyn-\\w+$/) (${mode})`, () => {
      const pool = new ClientPool();
      let redis, w1, node;
      before(async () => {
        redis = await startRedis();
        w1 = await startServer({
          flags: { app: "chat", "redis-url": redis.url, "adapter-mode": mode, "worker-id": "w1", "namespace-pattern": "/dyn-[A-Za-z0-9_]+" },
          env: { JWT_SECRET: TEST_SECRET },
        });
        const port = await freePort();
        node = spawnProcess("node-dyn-peer", [process.execPath, `${REPO_ROOT}tests/integration/fixtures/node-dyn-peer.mjs`, String(port), redis.url, mode]);
        node.url = `http://127.0.0.1:${port}`;
        node.port = port;
        await waitHttp(node, port, "/health", { timeoutMs: 10000, stepMs: 50, what: "node peer" });
        await until(async () => (await httpGet(w1.port, "/ready")).status === 200, 10000, 50, "ready");
      });
      after(async () => {
        pool.closeAll();
        await node?.stop();
        await stopAll(w1);
        await redis?.stop();
      });

      it("broadcasts to a child namespace's room flow both ways", async () => {
        const s = await pool.connect(w1, { ...TRANSPORT_MODES.websocket, nsp: "/dyn-mix", auth: { token: makeToken() } });
        const n = await pool.connect(node.url, { ...TRANSPORT_MODES.websocket, nsp: "/dyn-mix" });
        for (const c of [s, n]) assert.deepEqual(await emitAck(c, "join-room", "m"), { ok: true });
        await sleep(150); // the Node sharded adapter subscribes asynchronously
        const got = { s: [], n: [] };
        s.on("receive-message", (m) => got.s.push(m));
        n.on("receive-message", (m) => got.n.push(m));
        await emitAck(s, "send-message", { roomId: "m", msg: "from sioc" });
        await emitAck(n, "send-message", { roomId: "m", msg: "from node" });
        await until(() => got.s.length === 2 && got.n.length === 2, 5000, 10, "both ways");
        assert.deepEqual(new Set(got.s), new Set(["from sioc", "from node"]));
        assert.deepEqual(new Set(got.n), new Set(["from sioc", "from node"]));
      });
    });
  }
});
