// Acknowledgements. Client→server acks through the chat events and the echo
// app's "message-with-ack". Server→client acks: no event of either app asks the
// client for an ack, so there is nothing to drive them with (skipped, see below).

import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopAll } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { normalizeBinary, sleep } from "./lib/util.mjs";

let chat, echo;
const pool = new ClientPool();

before(async () => {
  [chat, echo] = await Promise.all([
    startServer({ flags: { app: "chat" } }),
    startServer({ flags: { app: "echo", namespaces: "/custom" } }),
  ]);
});
after(async () => {
  pool.closeAll();
  await stopAll(chat, echo);
});
afterEach(() => pool.closeAll());

for (const mode of ["websocket", "polling"]) {
  describe(`client→server acks over ${mode}`, () => {
    it("join-room, send-message and leave-room ack {ok:true}", async () => {
      const s = await pool.connect(chat, TRANSPORT_MODES[mode]);
      assert.deepEqual(await emitAck(s, "join-room", "r1"), { ok: true });
      assert.deepEqual(await emitAck(s, "send-message", { roomId: "r1", msg: "x" }), { ok: true });
      assert.deepEqual(await emitAck(s, "leave-room", "r1"), { ok: true });
      // leaving a room one is not in is still fine
      assert.deepEqual(await emitAck(s, "leave-room", "never-joined"), { ok: true });
    });

    it("the ack of send-message comes even when nobody is in the room", async () => {
      const s = await pool.connect(chat, TRANSPORT_MODES[mode]);
      assert.deepEqual(await emitAck(s, "send-message", { roomId: "empty-room", msg: 1 }), { ok: true });
    });

    it("events sent without an ack function are still processed", async () => {
      const s = await pool.connect(chat, TRANSPORT_MODES[mode]);
      s.emit("join-room", "r-noack"); // no ack requested
      let received;
      s.once("receive-message", (m) => (received = m));
      assert.deepEqual(await emitAck(s, "send-message", { roomId: "r-noack", msg: "m" }), { ok: true });
      await sleep(50);
      assert.equal(received, "m", "join-room without an ack must still join");
    });

    it("echo message-with-ack returns the arguments, many in flight at once, each to its own ack", async () => {
      const s = await pool.connect(echo, TRANSPORT_MODES[mode]);
      const N = 100;
      const replies = await Promise.all(
        Array.from({ length: N }, (_, i) => s.timeout(5000).emitWithAck("message-with-ack", i, `s${i}`, { i })),
      );
      replies.forEach((r, i) => assert.deepEqual(r, i, `ack ${i} correlated`));
      // emitWithAck resolves with the first argument only; use the callback form for all of them
      const all = await new Promise((resolve, reject) =>
        s.timeout(5000).emit("message-with-ack", 1, "2", { 3: [true] }, (err, ...args) => (err ? reject(err) : resolve(args))),
      );
      assert.deepEqual(all, [1, "2", { 3: [true] }]);
    });

    it("ack carrying binary is returned byte-equal", async () => {
      const s = await pool.connect(echo, TRANSPORT_MODES[mode]);
      const a = Buffer.from([0, 1, 2, 253, 254, 255]);
      const b = Buffer.alloc(70000, 0x5a);
      const args = await new Promise((resolve, reject) =>
        s.timeout(5000).emit("message-with-ack", a, { nested: [b, "t"] }, (err, ...r) => (err ? reject(err) : resolve(r))),
      );
      assert.deepEqual(normalizeBinary(args), [a, { nested: [b, "t"] }]);
    });

    it("acks in a custom namespace", async () => {
      const s = await pool.connect(echo, { ...TRANSPORT_MODES[mode], nsp: "/custom" });
      assert.deepEqual(await s.timeout(5000).emitWithAck("message-with-ack", "in-custom"), "in-custom");
    });
  });
}

// Server→client acks (with their timeout) are driven by a Node server's broadcast with
// acks through the Redis adapter: see interop-redis.test.mjs.
