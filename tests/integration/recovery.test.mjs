// Connection state recovery in one worker (--max-disconnection-duration, in-memory log):
// socket.io-client 4.8 reconnects after a transport cut with its id, its rooms and the
// packets it missed, socket.recovered === true; past the window, or with an expired token,
// nothing is recovered; without the option the CONNECT reply carries no pid.

import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopAll } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";
import { wsHandshake, request } from "./lib/raw.mjs";
import { metricValue } from "../lib/proc.mjs";

const pool = new ClientPool();
let srv, short;

before(async () => {
  [srv, short] = await Promise.all([
    startServer({ flags: { app: "chat", "jwt-secret": TEST_SECRET, "max-disconnection-duration": 60000 } }),
    startServer({ flags: { app: "chat", "jwt-secret": TEST_SECRET, "max-disconnection-duration": 300 } }),
  ]);
});
after(async () => {
  pool.closeAll();
  await stopAll(srv, short);
});
afterEach(() => pool.closeAll());

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A client that reconnects, recording every receive-message payload and the offset the
 * client library sees as the extra trailing argument. */
async function member(server, mode, room, opts = {}) {
  const s = await pool.connect(server, {
    ...TRANSPORT_MODES[mode],
    reconnection: true,
    reconnectionDelay: 300,
    reconnectionDelayMax: 300,
    randomizationFactor: 0,
    auth: { token: opts.token ?? makeToken({ sub: "bob" }) },
  });
  const got = [];
  s.on("receive-message", (msg, offset) => got.push({ msg, offset }));
  assert.deepEqual(await emitAck(s, "join-room", room), { ok: true });
  return { s, got };
}

function once(s, ev) {
  return new Promise((resolve) => s.once(ev, (...a) => resolve(a)));
}

async function waitUntil(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

for (const mode of ["websocket", "polling"]) {
  describe(`recovery after a transport cut (${mode})`, () => {
    it("the client gets its id, its rooms and every missed message in order; recovered === true", async () => {
      const room = `rec-${mode}`;
      const sender = await pool.connect(srv, { ...TRANSPORT_MODES.websocket, auth: { token: makeToken({ sub: "alice" }) } });
      const b = await member(srv, mode, room);
      assert.deepEqual(await emitAck(sender, "send-message", { roomId: room, msg: 0 }), { ok: true });
      await waitUntil(() => b.got.length === 1, 3000, "first message");
      assert.equal(typeof b.got[0].offset, "string", "a broadcast carries an offset as last argument");
      const id = b.s.id;
      const disconnected = once(b.s, "disconnect");
      b.s.io.engine.close(); // the server sees "transport close", a recoverable reason
      await disconnected;
      for (let i = 1; i <= 5; i++) assert.deepEqual(await emitAck(sender, "send-message", { roomId: room, msg: i }), { ok: true });
      await once(b.s, "connect");
      assert.equal(b.s.recovered, true);
      assert.equal(b.s.id, id);
      await waitUntil(() => b.got.length === 6, 3000, "missed messages");
      assert.deepEqual(b.got.map((g) => g.msg), [0, 1, 2, 3, 4, 5]);
      // still in the room: a message after the recovery arrives once
      assert.deepEqual(await emitAck(sender, "send-message", { roomId: room, msg: 6 }), { ok: true });
      await waitUntil(() => b.got.length === 7, 3000, "message after recovery");
      await sleep(100);
      assert.deepEqual(b.got.map((g) => g.msg), [0, 1, 2, 3, 4, 5, 6]);
    });
  });
}

describe("recovery of binary messages", () => {
  it("a missed message with attachments is replayed with its bytes", async () => {
    const room = "rec-binary";
    const sender = await pool.connect(srv, { ...TRANSPORT_MODES.websocket, auth: { token: makeToken({ sub: "alice" }) } });
    const b = await member(srv, "websocket", room);
    await emitAck(sender, "send-message", { roomId: room, msg: "text" });
    await waitUntil(() => b.got.length === 1, 3000, "first message");
    const disconnected = once(b.s, "disconnect");
    b.s.io.engine.close();
    await disconnected;
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    await emitAck(sender, "send-message", { roomId: room, msg: { n: 1, data: bytes, more: [Buffer.from("xyz")] } });
    await once(b.s, "connect");
    assert.equal(b.s.recovered, true);
    await waitUntil(() => b.got.length === 2, 3000, "missed binary message");
    const m = b.got[1].msg;
    assert.equal(m.n, 1);
    assert.deepEqual(Buffer.from(m.data), bytes);
    assert.deepEqual(Buffer.from(m.more[0]).toString(), "xyz");
    assert.equal(typeof b.got[1].offset, "string");
  });
});

describe("what is not recovered", () => {
  it("past the window: a new id, recovered === false, the missed messages are gone", async () => {
    const room = "rec-expired";
    const sender = await pool.connect(short, { ...TRANSPORT_MODES.websocket, auth: { token: makeToken({ sub: "alice" }) } });
    const b = await member(short, "websocket", room);
    await emitAck(sender, "send-message", { roomId: room, msg: 0 });
    await waitUntil(() => b.got.length === 1, 3000, "first message");
    const id = b.s.id;
    b.s.io.opts.reconnectionDelay = b.s.io.opts.reconnectionDelayMax = 1000;
    b.s.io.reconnectionDelay(1000);
    b.s.io.reconnectionDelayMax(1000);
    b.s.io.engine.close();
    await emitAck(sender, "send-message", { roomId: room, msg: 1 });
    await once(b.s, "connect");
    assert.equal(b.s.recovered, false);
    assert.notEqual(b.s.id, id);
    await sleep(200);
    assert.deepEqual(b.got.map((g) => g.msg), [0]);
  });

  it("an expired token recovers nothing (the JWT check runs on a recovering CONNECT)", async () => {
    const room = "rec-token";
    const sender = await pool.connect(srv, { ...TRANSPORT_MODES.websocket, auth: { token: makeToken({ sub: "alice" }) } });
    const b = await member(srv, "websocket", room, { token: makeToken({ sub: "bob", expiresIn: 2 }) });
    await emitAck(sender, "send-message", { roomId: room, msg: 0 });
    await waitUntil(() => b.got.length === 1, 3000, "first message");
    b.s.io.reconnectionDelay(2500);
    b.s.io.reconnectionDelayMax(2500);
    b.s.io.engine.close();
    await emitAck(sender, "send-message", { roomId: room, msg: 1 });
    const [err] = await once(b.s, "connect_error");
    assert.equal(err.message, "Authentication error");
    assert.deepEqual(b.got.map((g) => g.msg), [0]);
  });

  it("an explicit disconnect keeps no session; without the option the CONNECT reply has no pid", async () => {
    const plain = await startServer({ flags: { app: "echo" } });
    try {
      const { ws } = await wsHandshake(plain, "/socket.io/");
      ws.send("40");
      const reply = await ws.nextText();
      assert.match(reply, /^40\{"sid":"[^"]+"\}$/);
      ws.terminate();
    } finally {
      await stopAll(plain);
    }
    const withPid = await startServer({ flags: { app: "echo", "max-disconnection-duration": 1000 } });
    try {
      const { ws } = await wsHandshake(withPid, "/socket.io/");
      ws.send("40");
      const reply = JSON.parse((await ws.nextText()).slice(2));
      assert.equal(typeof reply.pid, "string");
      assert.equal(reply.pid.length, 20);
      // a forged pid and offset: a normal new connection with a fresh pid
      const { ws: ws2 } = await wsHandshake(withPid, "/socket.io/");
      ws2.send(`40{"pid":"${reply.pid}","offset":"nope"}`);
      const r2 = JSON.parse((await ws2.nextText()).slice(2));
      assert.notEqual(r2.sid, reply.sid);
      assert.notEqual(r2.pid, reply.pid);
      ws.terminate();
      ws2.terminate();
    } finally {
      await stopAll(withPid);
    }
  });
});

describe("metrics", () => {
  it("recoveries are counted by result, with the replayed packets and the log size", async () => {
    const text = (await request(`${srv.url}/metrics`)).text;
    const value = (sample) => metricValue(text, sample);
    assert.ok(value('sioc_recovery_total{result="recovered"}') >= 3, text);
    assert.ok(value("sioc_recovery_replayed_total") >= 11);
    assert.ok(value("sioc_recovery_log_packets") >= 1);
    const other = (await request(`${short.url}/metrics`)).text;
    assert.match(other, /^sioc_recovery_total\{result="(expired|unknown_pid)"\} [1-9]/m);
  });
});
