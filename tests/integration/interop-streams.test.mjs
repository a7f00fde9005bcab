// Mixed cluster on Redis Streams: two sioc workers (--adapter-mode streams) and
// a stock Node.js Socket.IO 4.8 server with @socket.io/redis-streams-adapter 0.3
// on one Redis. Broadcasts (binary included) flow both ways through the
// stream; fetchSockets goes both ways on Pub/Sub; the Node server's
// serverSideEmit, socketsJoin, except and broadcasts with acks reach sioc
// workers; entries of a 0.2.x node (heartbeats) are read without harm.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import { startServer, stopAll, freePort, workerCommand, flagsToArgs, IS_NODE_PEER, REPO_ROOT } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";
import { startRedis } from "../lib/proc.mjs";
import { sleep, until } from "./lib/util.mjs";

const status = (port, path) =>
  new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on("error", () => resolve(0));
    req.on("timeout", () => req.destroy());
  });

const metricsText = (port) =>
  new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: "/metrics" }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d) => (body += d)).on("end", () => resolve(body));
    }).on("error", reject);
  });

async function startNodePeer(redisUrl, recoveryMs = 0) {
  const port = await freePort();
  const child = spawn(process.execPath, [`${REPO_ROOT}tests/integration/fixtures/node-cluster-peer.mjs`, String(port), redisUrl, "streams", String(recoveryMs)], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  const exited = new Promise((r) => child.once("exit", r));
  await until(async () => (await status(port, "/health")) === 200, 10000, 50, "node peer up");
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

describe("mixed cluster with Node @socket.io/redis-streams-adapter", { skip: IS_NODE_PEER ? "needs sioc workers" : false }, () => {
  const pool = new ClientPool();
  let redis, w1, w2, node;
  before(async () => {
    redis = await startRedis();
    const flags = (id) => ({ app: "chat", "redis-url": redis.url, "adapter-mode": "streams", "worker-id": id });
    w1 = await startServer({ flags: flags("s1"), env: { JWT_SECRET: TEST_SECRET } });
    w2 = await startServer({ flags: flags("s2"), env: { JWT_SECRET: TEST_SECRET } });
    node = await startNodePeer(redis.url);
    await until(async () => (await status(w1.port, "/ready")) === 200 && (await status(w2.port, "/ready")) === 200, 10000, 50, "ready");
    await sleep(200); // the Node adapter subscribes and starts reading asynchronously
  });
  after(async () => {
    pool.closeAll();
    await node?.stop();
    await stopAll(w1, w2);
    await redis?.stop();
  });

  const sioc = (w, user) => pool.connect(w, { ...TRANSPORT_MODES.websocket, auth: { token: makeToken({ sub: user }) } });
  const nodeClient = () => pool.connect(node.url, TRANSPORT_MODES.websocket);

  it("broadcasts flow both ways through the stream, binary included", async () => {
    const a = await sioc(w1, "a");
    const b = await sioc(w2, "b");
    const n = await nodeClient();
    for (const c of [a, b, n]) assert.deepEqual(await emitAck(c, "join-room", "mix"), { ok: true });
    const got = new Map([a, b, n].map((c) => [c, []]));
    for (const c of [a, b, n]) c.on("receive-message", (m) => got.get(c).push(m));
    await emitAck(a, "send-message", { roomId: "mix", msg: "from-sioc" });
    await emitAck(n, "send-message", { roomId: "mix", msg: { from: "node", bin: Buffer.from([1, 2, 3]) } });
    await until(() => [...got.values()].every((l) => l.length === 2), 5000, 10, "both messages everywhere");
    for (const list of got.values()) {
      assert.ok(list.includes("from-sioc"));
      const fromNode = list.find((m) => typeof m === "object");
      assert.equal(fromNode.from, "node");
      assert.ok(Buffer.from(fromNode.bin).equals(Buffer.from([1, 2, 3])), "binary from Node intact on every server");
    }
    const entries = redis.cli("XLEN", "socket.io");
    assert.ok(Number(entries) >= 2, `entries in the stream: ${entries}`);
    const m = await metricsText(w1.port);
    assert.match(m, /^sioc_redis_stream_entries_read_total\{stream="socket.io"\} [1-9]/m);
    assert.match(m, /^sioc_redis_stream_added_total\{stream="socket.io"\} [1-9]/m);
    assert.match(m, /^# TYPE sioc_redis_stream_lag_seconds gauge\nsioc_redis_stream_lag_seconds\{stream="socket.io"\} \d/m);
  });

  it("fetchSockets both ways (Pub/Sub requests, PUBSUB NUMSUB membership)", async () => {
    const a = await sioc(w1, "fa");
    const b = await sioc(w2, "fb");
    const n = await nodeClient();
    for (const c of [a, b, n]) await emitAck(c, "join-room", "fetch");
    const list = await emitAck(n, "x-fetch", "fetch");
    assert.deepEqual(new Set(list.map((s) => s.id)), new Set([a.id, b.id, n.id]));
    const fromSioc = list.find((s) => s.id === a.id);
    assert.ok(fromSioc.rooms.includes("fetch") && fromSioc.rooms.includes(a.id), "rooms of a sioc socket");
    const r = await emitAck(a, "list-members", "fetch");
    assert.equal(r.ok, true);
    assert.equal(r.complete, true);
    assert.deepEqual(new Set(r.sockets.map((s) => s.id)), new Set([a.id, b.id, n.id]));
  });

  it("Node serverSideEmit with acks gets an answer from each sioc worker", async () => {
    const n = await nodeClient();
    const r = await emitAck(n, "x-sse");
    assert.equal(r.err, null);
    assert.equal(r.n, 2);
  });

  it("Node socketsJoin moves sioc sockets (stream entry), and except skips a sioc socket", async () => {
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

  it("a Node broadcast with acks collects the acks of clients on sioc workers", async () => {
    const a = await sioc(w1, "qa");
    const b = await sioc(w2, "qb");
    const n = await nodeClient();
    for (const c of [a, b, n]) await emitAck(c, "join-room", "ask");
    for (const c of [a, b, n]) c.on("ask", (q, cb) => cb(`${q}:${c.id}`));
    const r = await emitAck(n, "x-ask", "ask");
    assert.equal(r.err, null, "every ack arrived before the timeout");
    assert.deepEqual(new Set(r.answers), new Set([a, b, n].map((c) => `question:${c.id}`)));
  });

  it("entries of a 0.2.x node (heartbeats, no data) and foreign entries are read without harm", async () => {
    redis.cli("XADD", "socket.io", "*", "uid", "0123456789abcdef", "nsp", "/", "type", "1");
    redis.cli("XADD", "socket.io", "*", "uid", "0123456789abcdef", "nsp", "/", "type", "2");
    redis.cli("XADD", "socket.io", "*", "foo", "bar");
    const a = await sioc(w1, "ha");
    const b = await sioc(w2, "hb");
    for (const c of [a, b]) await emitAck(c, "join-room", "after");
    const got = [];
    b.on("receive-message", (m) => got.push(m));
    await emitAck(a, "send-message", { roomId: "after", msg: "still-flowing" });
    await until(() => got.includes("still-flowing"), 3000, 10, "the readers go on");
  });
});

describe("streams and classic modes on one key prefix", { skip: IS_NODE_PEER ? "needs sioc workers" : false }, () => {
  let redis, classic;
  before(async () => {
    redis = await startRedis();
    classic = await startServer({ flags: { app: "chat", "redis-url": redis.url, "adapter-mode": "classic" } });
  });
  after(async () => {
    await stopAll(classic);
    await redis?.stop();
  });

  it("a classic worker refuses to run next to a Node streams server on its prefix", async () => {
    const r2 = await startRedis();
    const peer = await startNodePeer(r2.url);
    try {
      const [cmd, ...pre] = workerCommand();
      const args = [...pre, ...flagsToArgs({ app: "chat", port: await freePort(), "redis-url": r2.url, "adapter-mode": "classic" })];
      const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      child.stderr.on("data", (d) => (err += d));
      const t = setTimeout(() => child.kill("SIGKILL"), 8000);
      const code = await new Promise((r) => child.once("exit", (c) => r(c)));
      clearTimeout(t);
      assert.equal(code, 2, err);
      assert.match(err, /streams-mode adapter .* cannot share a prefix/);
    } finally {
      await peer.stop();
      await r2.stop();
    }
  });

  it("a streams worker refuses to run next to a classic node on its prefix", async () => {
    const [cmd, ...pre] = workerCommand();
    const port = await freePort();
    const args = [...pre, ...flagsToArgs({ app: "chat", port, "redis-url": redis.url, "adapter-mode": "streams" })];
    const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    const t = setTimeout(() => child.kill("SIGKILL"), 8000);
    const code = await new Promise((r) => child.once("exit", (c) => r(c)));
    clearTimeout(t);
    assert.equal(code, 2, err);
    assert.match(err, /classic-mode adapter .* cannot share a prefix/);
  });
});

// Connection state recovery across the cluster: offsets are stream entry ids, sessions live
// at sio:session:<pid>. A client moves between sioc workers and the Node server.
describe("connection state recovery across the cluster (streams)", { skip: IS_NODE_PEER ? "needs sioc workers" : false }, () => {
  const pool = new ClientPool();
  const RECOVERY_MS = 60000;
  let redis, w1, w2, w3, node;
  before(async () => {
    redis = await startRedis();
    const flags = (id) => ({
      app: "chat", "redis-url": redis.url, "adapter-mode": "streams", "worker-id": id,
      "max-disconnection-duration": RECOVERY_MS,
    });
    [w1, w2, w3] = await Promise.all(["r1", "r2", "r3"].map((id) => startServer({ flags: flags(id), env: { JWT_SECRET: TEST_SECRET } })));
    node = await startNodePeer(redis.url, RECOVERY_MS);
    await until(async () => (await status(w1.port, "/ready")) === 200 && (await status(w2.port, "/ready")) === 200 && (await status(w3.port, "/ready")) === 200, 10000, 50, "ready");
    await sleep(200);
  });
  after(async () => {
    pool.closeAll();
    await node?.stop();
    await stopAll(w1, w2, w3);
    await redis?.stop();
  });

  const url = (s) => (typeof s === "string" ? s : s.url);
  /** A reconnecting member of `room` on `server`, recording messages and offsets. */
  async function member(server, room, mode = "websocket", user = "bob") {
    const s = await pool.connect(server, {
      ...TRANSPORT_MODES[mode],
      reconnection: true,
      reconnectionDelay: 300,
      reconnectionDelayMax: 300,
      randomizationFactor: 0,
      auth: { token: makeToken({ sub: user }) },
    });
    const got = [];
    s.on("receive-message", (msg, offset) => got.push({ msg, offset }));
    assert.deepEqual(await emitAck(s, "join-room", room), { ok: true });
    return { s, got };
  }
  const once = (s, ev) => new Promise((resolve) => s.once(ev, (...a) => resolve(a)));
  const recoveredCount = (server) =>
    new Promise((resolve) => {
      if (server.port === undefined) return resolve(null);
      http.get({ host: "127.0.0.1", port: server.port, path: "/metrics" }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d) => (body += d)).on("end", () => {
          const m = /sioc_recovery_total\{result="recovered"\} (\d+)/.exec(body);
          resolve(m ? Number(m[1]) : NaN);
        });
      });
    });
  const sender = (server) => pool.connect(server, { ...TRANSPORT_MODES.websocket, auth: { token: makeToken({ sub: "alice" }) } });

  /** The client of `from` loses its transport, misses messages 1..5 sent through `via`, and
   * reconnects to `to`: same id, recovered, the missed messages in order, still in its room. */
  async function moveAndRecover(from, via, to, room, cut = (m) => m.s.io.engine.close(), mode = "websocket") {
    const tx = await sender(via);
    const b = await member(from, room, mode);
    await sleep(100);
    assert.deepEqual(await emitAck(tx, "send-message", { roomId: room, msg: 0 }), { ok: true });
    await until(() => b.got.length === 1, 3000, 10, "first message");
    assert.match(b.got[0].offset, /^\d+-\d+$/, "the offset is a stream entry id");
    const id = b.s.id;
    const before = await recoveredCount(to);
    const disconnected = once(b.s, "disconnect");
    b.s.io.uri = url(to); // the next connection goes to another server
    await cut(b);
    await disconnected;
    await sleep(100); // the old server saves the session at disconnect (Node does only then)
    for (let i = 1; i <= 5; i++) assert.deepEqual(await emitAck(tx, "send-message", { roomId: room, msg: i }), { ok: true });
    await once(b.s, "connect");
    assert.equal(b.s.recovered, true, "recovered");
    assert.equal(b.s.id, id, "same id");
    if (before !== null) assert.equal(await recoveredCount(to), before + 1, "recovered by the other server");
    await until(() => b.got.length === 6, 3000, 10, "missed messages");
    assert.deepEqual(b.got.map((g) => g.msg), [0, 1, 2, 3, 4, 5]);
    for (const g of b.got) assert.match(g.offset, /^\d+-\d+$/);
    assert.deepEqual(await emitAck(tx, "send-message", { roomId: room, msg: 6 }), { ok: true });
    await until(() => b.got.length === 7, 3000, 10, "message after recovery");
    await sleep(200);
    assert.deepEqual(b.got.map((g) => g.msg), [0, 1, 2, 3, 4, 5, 6], "no duplicate");
    return b;
  }

  it("from one sioc worker to another", async () => {
    await moveAndRecover(w1, w2, w2, "rec-sioc");
  });

  it("from one sioc worker to another, over long-polling", async () => {
    await moveAndRecover(w2, w3, w1, "rec-polling", undefined, "polling");
  });

  it("from the Node server to a sioc worker", async () => {
    await moveAndRecover(node, w1, w1, "rec-n2s");
  });

  it("from a sioc worker to the Node server", async () => {
    await moveAndRecover(w2, node, node, "rec-s2n");
  });

  it("a broadcast delivered by the sender's own worker carries its entry id too", async () => {
    const a = await pool.connect(w1, { ...TRANSPORT_MODES.websocket, auth: { token: makeToken({ sub: "d" }) } });
    const tx = await sender(w1);
    await emitAck(a, "join-room", "local");
    const got = [];
    a.on("receive-message", (msg, offset) => got.push({ msg, offset }));
    await emitAck(tx, "send-message", { roomId: "local", msg: "x" });
    await until(() => got.length === 1, 3000, 10, "local delivery");
    assert.match(got[0].offset, /^\d+-\d+$/, "an offset on a delivery of the same worker");
  });

  it("a client of a worker killed with SIGKILL recovers on another worker with what it missed", async () => {
    const victim = await startServer({
      flags: { app: "chat", "redis-url": redis.url, "adapter-mode": "streams", "worker-id": "victim", "max-disconnection-duration": RECOVERY_MS },
      env: { JWT_SECRET: TEST_SECRET },
    });
    await until(async () => (await status(victim.port, "/ready")) === 200, 10000, 50, "victim ready");
    await moveAndRecover(victim, w3, w3, "rec-kill", async () => {
      victim.child.kill("SIGKILL");
      await victim.exited;
    });
  });

  it("a client of a drained worker (SIGTERM) recovers on another worker", async () => {
    const victim = await startServer({
      flags: { app: "chat", "redis-url": redis.url, "adapter-mode": "streams", "worker-id": "drained", "max-disconnection-duration": RECOVERY_MS, "drain-timeout": 1000 },
      env: { JWT_SECRET: TEST_SECRET },
    });
    await until(async () => (await status(victim.port, "/ready")) === 200, 10000, 50, "victim ready");
    await moveAndRecover(victim, w1, w2, "rec-drain", async () => {
      victim.child.kill("SIGTERM");
    });
    await victim.exited;
  });

  it("an unknown pid or a foreign offset starts a fresh session", async () => {
    const s = await pool.connect(w1, { ...TRANSPORT_MODES.websocket, auth: { token: makeToken({ sub: "f" }), pid: "AAAAAAAAAAAAAAAAAAAA", offset: "1-0" } });
    assert.equal(s.recovered, false);
    const t = await pool.connect(w2, { ...TRANSPORT_MODES.websocket, auth: { token: makeToken({ sub: "g" }), pid: "AAAAAAAAAAAAAAAAAAAA", offset: "MzUPkW0" } });
    assert.equal(t.recovered, false);
  });
});
