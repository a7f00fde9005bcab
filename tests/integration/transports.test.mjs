// Chat round trip over each transport mode: websocket only, polling only, and
// polling upgraded to websocket (the upgrade itself is asserted).

import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";
import { waitFor } from "./lib/util.mjs";

let server;
const pool = new ClientPool();

before(async () => {
  server = await startServer({ flags: { app: "chat", "jwt-secret": TEST_SECRET } });
});
after(async () => {
  pool.closeAll();
  await server?.stop();
});
afterEach(() => pool.closeAll());

async function roundTrip(a, b, room) {
  assert.deepEqual(await emitAck(a, "join-room", room), { ok: true });
  assert.deepEqual(await emitAck(b, "join-room", room), { ok: true });
  const gotA = waitFor(a, "receive-message");
  const gotB = waitFor(b, "receive-message");
  const msg = { text: "hello " + room, n: 42, list: [1, "two", null, true], nested: { é: "ünïcødé ✓" } };
  assert.deepEqual(await emitAck(a, "send-message", { roomId: room, msg }), { ok: true });
  assert.deepEqual(await gotA, [msg]);
  assert.deepEqual(await gotB, [msg]);
  // and the other way round
  const backA = waitFor(a, "receive-message");
  const backB = waitFor(b, "receive-message");
  b.emit("send-message", { roomId: room, msg: "reply" });
  assert.deepEqual(await backA, ["reply"]);
  assert.deepEqual(await backB, ["reply"]);
}

const auth = (sub) => ({ auth: { token: makeToken({ sub }) } });

describe("transports", () => {
  it("websocket only: connects over websocket and does a chat round trip", async () => {
    const a = await pool.connect(server, { ...TRANSPORT_MODES.websocket, ...auth("a") });
    const b = await pool.connect(server, { ...TRANSPORT_MODES.websocket, ...auth("b") });
    assert.equal(a.io.engine.transport.name, "websocket");
    await roundTrip(a, b, "ws-room");
    assert.equal(a.io.engine.transport.name, "websocket");
  });

  it("polling only: stays on polling and does a chat round trip", async () => {
    const a = await pool.connect(server, { ...TRANSPORT_MODES.polling, ...auth("a") });
    const b = await pool.connect(server, { ...TRANSPORT_MODES.polling, ...auth("b") });
    assert.equal(a.io.engine.transport.name, "polling");
    await roundTrip(a, b, "poll-room");
    assert.equal(a.io.engine.transport.name, "polling");
    assert.equal(b.io.engine.transport.name, "polling");
  });

  it("polling then upgrade: really upgrades to websocket, then does a chat round trip", async () => {
    const a = pool.create(server, { ...TRANSPORT_MODES.upgrade, ...auth("a") });
    const b = pool.create(server, { ...TRANSPORT_MODES.upgrade, ...auth("b") });
    const upA = waitFor(a.io.engine, "upgrade", 5000);
    const upB = waitFor(b.io.engine, "upgrade", 5000);
    await Promise.all([waitFor(a, "connect"), waitFor(b, "connect")]);
    await Promise.all([upA, upB]);
    assert.equal(a.io.engine.transport.name, "websocket");
    assert.equal(b.io.engine.transport.name, "websocket");
    await roundTrip(a, b, "upgrade-room");
  });

  it("mixed transports share rooms (websocket sender, polling receiver and the reverse)", async () => {
    const w = await pool.connect(server, { ...TRANSPORT_MODES.websocket, ...auth("w") });
    const p = await pool.connect(server, { ...TRANSPORT_MODES.polling, ...auth("p") });
    await roundTrip(w, p, "mixed-room");
  });

  it("upgrade while messages flow: nothing is lost or reordered", async () => {
    const rx = await pool.connect(server, { ...TRANSPORT_MODES.websocket, ...auth("rx") });
    assert.deepEqual(await emitAck(rx, "join-room", "flow"), { ok: true });
    const tx = pool.create(server, { ...TRANSPORT_MODES.upgrade, ...auth("tx") });
    const upgraded = waitFor(tx.io.engine, "upgrade", 5000);
    await waitFor(tx, "connect");
    const N = 200;
    const got = [];
    const all = new Promise((resolve) => {
      rx.on("receive-message", (m) => {
        got.push(m);
        if (got.length === N) resolve();
      });
    });
    for (let i = 0; i < N; i++) {
      tx.emit("send-message", { roomId: "flow", msg: i });
      if (i % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    await upgraded;
    await all;
    assert.deepEqual(got, Array.from({ length: N }, (_, i) => i));
  });
});
