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
import { startRedis } from "./lib/redis.mjs";
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
