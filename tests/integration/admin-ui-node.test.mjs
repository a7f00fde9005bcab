// @socket.io/admin-ui 0.5 on a mixed cluster: a sioc worker (--admin-ui) and a stock Node
// Socket.IO 4.8 server running the package's own instrument() (with @socket.io/redis-adapter
// 8 and its RedisV4Store) share one Redis. An admin client on either server sees the
// other's server_stats, socket events and sockets (all_sockets), a session made on one opens
// the other, and the UI's join command given on one server moves a socket of the other.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { startServer, stopAll, freePort, IS_NODE_PEER, REPO_ROOT } from "./lib/server.mjs";
import { ClientPool, connected, emitAck } from "./lib/client.mjs";
import { spawnProcess, startRedis, until, waitHttp, httpGet } from "../lib/proc.mjs";
import { withTimeout } from "./lib/util.mjs";

const require = createRequire(import.meta.url);
const bcrypt = require("bcryptjs");
const PASSWORD = "side by side";
const HASH = bcrypt.hashSync(PASSWORD, 8);

async function startNodePeer(redisUrl, serverId) {
  const port = await freePort();
  const h = spawnProcess("node-admin-peer", [process.execPath, `${REPO_ROOT}tests/integration/fixtures/node-admin-peer.mjs`,
    String(port), redisUrl, serverId], { env: { ...process.env, ADMIN_UI_USER: "ops", ADMIN_UI_PASSWORD_HASH: HASH } });
  await waitHttp(h, port, "/health", { timeoutMs: 10000, stepMs: 50, what: "node admin peer" });
  return Object.assign(h, { port, url: `http://127.0.0.1:${port}` });
}

describe("admin UI: sioc and Node instrument() side by side", { skip: IS_NODE_PEER ? "needs a sioc worker" : false }, () => {
  const pool = new ClientPool();
  let redis, w, node;

  before(async () => {
    redis = await startRedis();
    w = await startServer({ flags: { app: "chat", "worker-id": "siocw", "redis-url": redis.url, "admin-ui": true,
      "admin-ui-user": "ops", "admin-ui-password-hash": HASH } });
    node = await startNodePeer(redis.url, "nodepeer");
    await until(async () => (await httpGet(w.port, "/ready")).status === 200, 10000, 50, "ready");
  });

  after(async () => {
    pool.closeAll();
    await node?.stop();
    await stopAll(w);
    await redis?.stop();
  });

  const admin = (url, auth) => {
    const s = pool.create(url, { nsp: "/admin", transports: ["websocket"], auth });
    s.events = [];
    s.onAny((ev, ...args) => s.events.push([ev, ...args]));
    return s;
  };
  const seen = (s, pred, label) => until(() => s.events.some((e) => pred(...e)), 6000, 20, label).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(s.events.filter(([ev]) => ev !== "server_stats")).slice(-2000)}`);
  });
  // The "session" event of a login, or its connect_error.
  const sessionOf = (s) => new Promise((resolve, reject) => {
    s.once("session", resolve);
    s.once("connect_error", reject);
  });
  const stats = (s, id) => seen(s, (ev, st) => ev === "server_stats" && st.serverId === id, `server_stats of ${id}`);

  it("each admin client sees both servers, their sockets and events; sessions and commands cross over", async () => {
    const us = pool.create(w, { transports: ["websocket"] });
    const un = pool.create(node.url, { transports: ["websocket"] });
    await withTimeout(Promise.all([connected(us), connected(un)]), 5000, "clients");

    // Log in on sioc; the session it stores opens the Node server (RedisV4Store).
    const a = admin(w, { username: "ops", password: PASSWORD });
    const session = await withTimeout(sessionOf(a), 5000, "login on sioc");
    const b = admin(node.url, { sessionId: session });
    await withTimeout(connected(b), 5000, "session on Node");
    // And a login on Node opens sioc.
    const c0 = admin(node.url, { username: "ops", password: PASSWORD });
    const nodeSession = await withTimeout(sessionOf(c0), 5000, "login on Node");
    // instrument() stores its session without waiting for Redis (saveSession is not awaited).
    await until(async () => (await redis.query(["EXISTS", `socket.io-admin#${nodeSession}`])) === 1, 3000, 20, "Node's session in Redis");
    const c = admin(w, { sessionId: nodeSession });
    await withTimeout(connected(c), 5000, "session on sioc");

    await Promise.all([stats(a, "siocw"), stats(a, "nodepeer"), stats(b, "siocw"), stats(b, "nodepeer")]);
    const fromSioc = a.events.find(([ev, st]) => ev === "server_stats" && st.serverId === "siocw")[1];
    assert.ok(fromSioc.namespaces.some((n) => n.name === "/" && n.socketsCount >= 1), JSON.stringify(fromSioc));

    // all_sockets on each side lists the other side's sockets with their transport.
    const allOf = (s) => s.events.find(([ev]) => ev === "all_sockets")?.[1];
    await seen(a, (ev) => ev === "all_sockets", "all_sockets (sioc)");
    await seen(b, (ev) => ev === "all_sockets", "all_sockets (Node)");
    for (const [s, where] of [[a, "sioc"], [b, "Node"]]) {
      const byId = Object.fromEntries(allOf(s).map((x) => [x.id, x]));
      for (const u of [us, un]) {
        assert.equal(byId[u.id]?.nsp, "/", `${u.id} in the all_sockets of ${where}`);
        assert.equal(byId[u.id].transport, "websocket", `transport of ${u.id} in the all_sockets of ${where}`);
        assert.ok(!("_admin" in byId[u.id].data));
      }
    }

    // socket_connected of a Node client reaches the sioc admin client, and the reverse.
    const un2 = pool.create(node.url, { transports: ["websocket"] });
    const us2 = pool.create(w, { transports: ["websocket"] });
    await withTimeout(Promise.all([connected(un2), connected(us2)]), 5000, "more clients");
    await seen(a, (ev, s) => ev === "socket_connected" && s.id === un2.id, "Node's socket_connected on sioc");
    await seen(b, (ev, s) => ev === "socket_connected" && s.id === us2.id, "sioc's socket_connected on Node");

    // join given to Node moves the sioc socket; given to sioc moves the Node socket.
    b.emit("join", "/", "from-node-ui", us.id);
    await seen(a, (ev, nsp, room, id) => ev === "room_joined" && room === "from-node-ui" && id === us.id, "sioc socket joined from Node");
    a.emit("join", "/", "from-sioc-ui", un.id);
    await seen(b, (ev, nsp, room, id) => ev === "room_joined" && room === "from-sioc-ui" && id === un.id, "Node socket joined from sioc");
    const got = new Promise((r) => us.once("receive-message", r));
    assert.deepEqual(await emitAck(un, "send-message", { roomId: "from-node-ui", msg: "across" }), { ok: true });
    assert.equal(await withTimeout(got, 5000, "the room's message from Node"), "across");
  });
});
