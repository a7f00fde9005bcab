// --parser msgpack: socket.io-client built with socket.io-msgpack-parser 3 against the echo
// and chat apps, over websocket, polling and the upgrade; the wire checked with ws and
// notepack.io (one binary message per packet); text packets and malformed msgpack refused.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { startServer, stopAll } from "./lib/server.mjs";
import { RawWs } from "./lib/raw.mjs";
import { io } from "./lib/client.mjs";
import { waitFor } from "./lib/util.mjs";

const require = createRequire(import.meta.url);
const parser = require("socket.io-msgpack-parser");
const notepack = require("notepack.io");

let echo, chat;
const sockets = [];
before(async () => {
  [echo, chat] = await Promise.all([
    startServer({ flags: { app: "echo", namespaces: "/custom", parser: "msgpack" } }),
    startServer({ flags: { app: "chat", parser: "msgpack" } }),
  ]);
});
after(() => {
  for (const s of sockets) s.close();
  return stopAll(echo, chat);
});

async function client(srv, opts = {}, nsp = "") {
  const s = io(srv.url + nsp, { parser, forceNew: true, reconnection: false, ...opts });
  sockets.push(s);
  await waitFor(s, "connect");
  return s;
}

const modes = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
  upgrade: { transports: ["polling", "websocket"] },
};

describe("--parser msgpack with socket.io-client", () => {
  for (const [name, opts] of Object.entries(modes)) {
    it(`${name}: events, binary and acks round-trip`, async () => {
      const s = await client(echo, opts);
      const args = ["text é✓", 42, -7.25, null, true, { nested: { bin: Buffer.from([0, 1, 254, 255]), list: [1, "two"] } }, Buffer.alloc(100000, 9)];
      const back = waitFor(s, "message-back");
      s.emit("message", ...args);
      const got = await back;
      assert.equal(got.length, args.length);
      assert.deepEqual(got.slice(0, 5), args.slice(0, 5));
      assert.ok(Buffer.from(got[5].nested.bin).equals(args[5].nested.bin));
      assert.deepEqual(got[5].nested.list, [1, "two"]);
      assert.ok(Buffer.from(got[6]).equals(args[6]));
      const ack = await s.timeout(3000).emitWithAck("message-with-ack", "a", Buffer.from("b"));
      assert.equal(ack, "a");
      if (name === "upgrade") await waitFor(s.io.engine, "upgrade").catch(() => {});
    });
  }

  it("a custom namespace and the auth payload", async () => {
    const s = await client(echo, { ...modes.websocket, auth: { who: "me" } }, "/custom");
    const back = waitFor(s, "message-back");
    s.emit("message", "on /custom");
    assert.deepEqual(await back, ["on /custom"]);
  });

  it("chat: a room broadcast (encoded once) reaches msgpack clients on both transports", async () => {
    const a = await client(chat, modes.websocket);
    const b = await client(chat, modes.polling);
    for (const s of [a, b]) assert.deepEqual(await s.timeout(3000).emitWithAck("join-room", "mp"), { ok: true });
    const got = [waitFor(a, "receive-message"), waitFor(b, "receive-message")];
    await a.timeout(3000).emitWithAck("send-message", { roomId: "mp", msg: { text: "hello", file: Buffer.from([7, 7]) } });
    for (const [m] of await Promise.all(got)) {
      assert.equal(m.text, "hello");
      assert.ok(Buffer.from(m.file).equals(Buffer.from([7, 7])));
    }
  });

  it("on the wire: one binary message per packet; text packets and bad msgpack end the session", async () => {
    const ws = new RawWs(`ws://127.0.0.1:${echo.port}/socket.io/?EIO=4&transport=websocket`);
    try {
      const open = await ws.next();
      assert.match(open.text, /^0\{/);
      ws.ws.send(notepack.encode({ type: 0, nsp: "/" }));
      const reply = await ws.nextNonPing();
      assert.equal(reply.isBinary, true);
      const connect = notepack.decode(reply.data);
      assert.equal(connect.type, 0);
      assert.equal(connect.nsp, "/");
      assert.match(connect.data.sid, /^[A-Za-z0-9_-]{16,}$/);
      const auth = notepack.decode((await ws.nextNonPing()).data);
      assert.deepEqual(auth, { type: 2, data: ["auth", {}], nsp: "/" });
      ws.ws.send(notepack.encode({ type: 2, nsp: "/", data: ["message", Buffer.from([1])], id: 5 }));
      const back = notepack.decode((await ws.nextNonPing()).data);
      assert.equal(back.type, 2);
      assert.equal(back.data[0], "message-back");
      assert.ok(Buffer.from(back.data[1]).equals(Buffer.from([1])));
      ws.ws.send("42[\"message\",1]"); // the default parser's text: malformed here
      const closed = await ws.closed;
      assert.ok(closed.code === 1000 || closed.code === 1005, `closed with ${closed.code}`);
    } finally {
      ws.ws.terminate();
    }
    const bad = new RawWs(`ws://127.0.0.1:${echo.port}/socket.io/?EIO=4&transport=websocket`);
    try {
      await bad.next();
      bad.ws.send(notepack.encode({ type: 7, nsp: "/", data: [] }));
      await bad.closed;
    } finally {
      bad.ws.terminate();
    }
  });
});
