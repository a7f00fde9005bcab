// --max-http-buffer-size: a websocket message over the limit closes the
// connection; a polling POST over the limit gets 413. Messages under the limit
// go through.

import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { waitFor } from "./lib/util.mjs";
import { pollingHandshake, post, poll, wsHandshake } from "./lib/raw.mjs";

const LIMIT = 10000;
let server;
const pool = new ClientPool();

before(async () => {
  server = await startServer({ flags: { app: "chat", "max-http-buffer-size": LIMIT } });
});
after(async () => {
  pool.closeAll();
  await server?.stop();
});
afterEach(() => pool.closeAll());

describe("max-http-buffer-size", () => {
  it("the handshake advertises maxPayload = the limit", async () => {
    const { open } = await pollingHandshake(server, "/socket.io/");
    assert.equal(open.maxPayload, LIMIT);
  });

  it("websocket: a message under the limit is delivered", async () => {
    const s = await pool.connect(server, TRANSPORT_MODES.websocket);
    assert.deepEqual(await emitAck(s, "join-room", "big"), { ok: true });
    const msg = "x".repeat(LIMIT - 200);
    const got = waitFor(s, "receive-message");
    assert.deepEqual(await emitAck(s, "send-message", { roomId: "big", msg }), { ok: true });
    assert.equal((await got)[0], msg);
  });

  it("websocket: a message over the limit closes the connection (transport close / transport error)", async () => {
    const s = await pool.connect(server, TRANSPORT_MODES.websocket);
    const bystander = await pool.connect(server, TRANSPORT_MODES.websocket);
    const gone = waitFor(s, "disconnect", 5000);
    s.emit("send-message", { roomId: "big", msg: "y".repeat(LIMIT * 2) });
    const [reason] = await gone;
    assert.ok(["transport close", "transport error"].includes(reason), `disconnect reason: ${reason}`);
    // other connections are unaffected
    assert.deepEqual(await emitAck(bystander, "join-room", "still-up"), { ok: true });
  });

  it("websocket (raw): a valid event frame just under the limit passes, one just over closes the connection", async () => {
    const { ws } = await wsHandshake(server, "/socket.io/");
    ws.send("40");
    assert.match((await ws.nextNonPing()).text, /^40\{"sid":/);
    const frame = (n) => {
      const head = '421["send-message",{"roomId":"lim","msg":"';
      const tail = '"}]';
      return head + "m".repeat(n - head.length - tail.length) + tail;
    };
    ws.send(frame(LIMIT));
    assert.equal((await ws.nextNonPing()).text, '431[{"ok":true}]', "a frame of exactly the limit is accepted");
    ws.send(frame(LIMIT + 1000));
    assert.equal(await ws.closesWithin(3000), true, "server must close the websocket");
  });

  it("polling: a POST over the limit gets 413; one under the limit gets 200 ok", async () => {
    const { sid } = await pollingHandshake(server, "/socket.io/");
    const small = await post(server, "/socket.io/", sid, "40");
    assert.equal(small.status, 200);
    assert.equal(small.text, "ok");
    const connectReply = await poll(server, "/socket.io/", sid);
    assert.match(connectReply.text, /^40\{"sid":/);
    const body = '42["send-message",{"roomId":"r","msg":"' + "z".repeat(LIMIT * 2) + '"}]';
    const big = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`, {
      method: "POST",
      body,
      headers: { "content-type": "text/plain;charset=UTF-8", connection: "close" },
    });
    assert.equal(big.status, 413);
    await big.arrayBuffer().catch(() => {});
  });

  it("polling client: emitting a message over the limit ends the connection", async () => {
    const s = await pool.connect(server, TRANSPORT_MODES.polling);
    const gone = waitFor(s, "disconnect", 5000);
    s.emit("send-message", { roomId: "big", msg: "w".repeat(LIMIT * 2) });
    const [reason] = await gone;
    assert.ok(["transport close", "transport error"].includes(reason), `disconnect reason: ${reason}`);
  });
});
