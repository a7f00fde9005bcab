// The flags of broadcasts from Node emitters (@socket.io/redis-emitter 5) and peers, as
// socket.io applies them: `volatile` drops the packet for a client that is not writable at
// that moment (a polling client with no GET held, as engine.io's transport.writable), and
// `compress: false` keeps it out of polling compression and permessage-deflate.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { startServer, stopAll, freePort, IS_NODE_PEER, REPO_ROOT } from "./lib/server.mjs";
import { pollingHandshake, poll, post, splitPayload } from "./lib/raw.mjs";
import { io } from "./lib/client.mjs";
import { httpGet, spawnProcess, startRedis, waitHttp } from "../lib/proc.mjs";
import { sleep, until } from "./lib/util.mjs";

const require = createRequire(import.meta.url);
const { Emitter } = require("@socket.io/redis-emitter");
const { createClient } = require("redis");
const WebSocket = require("ws");

const P = "/socket.io/";

async function metric(srv, name) {
  const metrics = await (await fetch(`${srv.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)`, "m").exec(metrics)[1]);
}

describe("broadcast flags from @socket.io/redis-emitter and a Node peer", { skip: IS_NODE_PEER ? "sioc metrics" : false }, () => {
  let redis, w, client, emitter, node;
  before(async () => {
    redis = await startRedis();
    w = await startServer({ flags: { app: "chat", "redis-url": redis.url }, env: { PER_MESSAGE_DEFLATE: "1" } });
    await until(async () => (await httpGet(w.port, "/ready", { timeoutMs: 1000 })).status === 200, 10000, 50, "ready");
    client = createClient({ url: redis.url });
    await client.connect();
    emitter = new Emitter(client);
    const port = await freePort();
    node = spawnProcess("node-peer", [process.execPath, `${REPO_ROOT}tests/integration/fixtures/node-cluster-peer.mjs`, String(port), redis.url, "classic"]);
    await waitHttp(node, port, "/health", { timeoutMs: 10000, stepMs: 50, what: "node peer" });
    node.url = `http://127.0.0.1:${port}`;
  });
  after(async () => {
    await client?.quit().catch(() => {});
    await node?.stop();
    await stopAll(w);
    await redis?.stop();
  });

  /** A polling session connected to "/", with its CONNECT reply read: no GET held. */
  async function pollingSocket() {
    const { sid } = await pollingHandshake(w, P);
    await post(w, P, sid, "40");
    assert.match((await poll(w, P, sid)).text, /^40\{/);
    return sid;
  }

  /** Waits until the worker has handled what the emitter published (a plain marker). */
  async function settle() {
    await sleep(150);
  }

  it("volatile: dropped for a polling client without a held GET, delivered to one with it", async () => {
    const sid = await pollingSocket();
    const dropped0 = await metric(w, "sioc_volatile_dropped_total");
    emitter.volatile.emit("v", "while-not-writable");
    await settle();
    emitter.emit("n", "normal");
    await settle();
    const r1 = await poll(w, P, sid);
    assert.deepEqual(splitPayload(r1.text), ['42["n","normal"]'], "the volatile packet was dropped, the normal one kept");
    assert.ok((await metric(w, "sioc_volatile_dropped_total")) > dropped0);

    const held = poll(w, P, sid);
    await sleep(150); // the GET is held now
    emitter.volatile.emit("v", "while-writable");
    const r2 = await held;
    assert.deepEqual(splitPayload(r2.text), ['42["v","while-writable"]']);
  });

  it("volatile reaches an idle websocket client (its output queue is empty)", async () => {
    const s = io(w.url, { transports: ["websocket"], forceNew: true, reconnection: false });
    try {
      await new Promise((r) => s.once("connect", r));
      const got = new Promise((r) => s.once("v", r));
      emitter.volatile.emit("v", "ws");
      assert.equal(await got, "ws");
    } finally {
      s.close();
    }
  });

  it("compress(false): a polling response stays uncompressed, a websocket message undeflated", async () => {
    const big = "c".repeat(5000);
    const sid = await pollingSocket();
    const gz = { headers: { "accept-encoding": "gzip" } };
    let held = poll(w, P, sid, gz);
    await sleep(100);
    emitter.compress(false).emit("big", big);
    let r = await held;
    assert.equal(r.headers["content-encoding"], undefined);
    assert.deepEqual(splitPayload(r.text), [`42${JSON.stringify(["big", big])}`]);
    held = poll(w, P, sid, gz);
    await sleep(100);
    emitter.emit("big", big);
    r = await held;
    assert.equal(r.headers["content-encoding"], "gzip", "compressed when the emitter does not say otherwise");

    const ws = new WebSocket(`ws://127.0.0.1:${w.port}${P}?EIO=4&transport=websocket`, { perMessageDeflate: {} });
    const msgs = [];
    ws.on("message", (d) => {
      const t = d.toString();
      if (t.startsWith("0")) ws.send("40");
      msgs.push(t);
    });
    try {
      await until(() => msgs.some((m) => m.startsWith("40")), 5000, 10, "connected");
      assert.equal(ws.extensions, "permessage-deflate");
      const d0 = await metric(w, "sioc_ws_deflated_total");
      emitter.compress(false).emit("big", big);
      await until(() => msgs.some((m) => m.startsWith('42["big"')), 5000, 10, "uncompressed message");
      assert.equal(await metric(w, "sioc_ws_deflated_total"), d0, "compress:false was not deflated");
      emitter.emit("big2", big);
      await until(() => msgs.some((m) => m.startsWith('42["big2"')), 5000, 10, "compressed message");
      assert.equal(await metric(w, "sioc_ws_deflated_total"), d0 + 1);
    } finally {
      ws.terminate();
    }
  });

  it("from a Node peer: volatile dropped for a polling client without a held GET; local never leaves the Node server", async () => {
    const sid = await pollingSocket();
    await post(w, P, sid, `421${JSON.stringify(["join-room", "flags"])}`);
    assert.deepEqual(splitPayload((await poll(w, P, sid)).text), ['431[{"ok":true}]']);
    const n = io(node.url, { transports: ["websocket"], forceNew: true, reconnection: false });
    try {
      await new Promise((r) => n.once("connect", r));
      const nodeGot = [];
      n.on("f", (m) => nodeGot.push(m));
      await new Promise((r) => n.emit("join-room", "flags", r));
      const ask = (flags, msg) => new Promise((r) => n.emit("x-flags", "flags", flags, "f", msg, r));
      await ask({ volatile: true }, "volatile");
      await ask({ local: true }, "local");
      await ask({}, "normal");
      await until(() => nodeGot.includes("local") && nodeGot.includes("normal"), 5000, 10, "the Node server's own client");
      await settle();
      const r = await poll(w, P, sid);
      assert.deepEqual(splitPayload(r.text), ['42["f","normal"]'], "no volatile (not writable), no local (never published)");
    } finally {
      n.close();
    }
  });
});
