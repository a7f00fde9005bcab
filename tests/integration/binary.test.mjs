// Binary payloads through the chat app (send-message → receive-message) and
// the echo app (message → message-back), over polling and websocket, compared
// byte for byte.

import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startServer, stopAll } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { waitFor, normalizeBinary, toBuffer } from "./lib/util.mjs";

let chat, echo;
const pool = new ClientPool();

before(async () => {
  [chat, echo] = await Promise.all([startServer({ flags: { app: "chat" } }), startServer({ flags: { app: "echo" } })]);
});
after(async () => {
  pool.closeAll();
  await stopAll(chat, echo);
});
afterEach(() => pool.closeAll());

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

for (const sender of ["websocket", "polling"]) {
  describe(`binary sent over ${sender}`, () => {
    let tx, rxWs, rxPoll, room;

    async function setup() {
      room = `bin-${sender}-${Math.random().toString(36).slice(2)}`;
      tx = await pool.connect(chat, TRANSPORT_MODES[sender]);
      rxWs = await pool.connect(chat, TRANSPORT_MODES.websocket);
      rxPoll = await pool.connect(chat, TRANSPORT_MODES.polling);
      for (const s of [tx, rxWs, rxPoll]) assert.deepEqual(await emitAck(s, "join-room", room), { ok: true });
    }

    async function sendAndCheck(msg) {
      const got = [tx, rxWs, rxPoll].map((s) => waitFor(s, "receive-message"));
      assert.deepEqual(await emitAck(tx, "send-message", { roomId: room, msg }), { ok: true });
      const results = await Promise.all(got);
      for (const [i, args] of results.entries()) {
        assert.equal(args.length, 1, `receiver ${i}: one argument`);
        assert.deepEqual(normalizeBinary(args[0]), normalizeBinary(msg), `receiver ${i}: payload intact`);
      }
      return results;
    }

    it("a Buffer msg (all 256 byte values) arrives byte-equal at websocket and polling members", async () => {
      await setup();
      const results = await sendAndCheck(allBytes);
      for (const [args] of results) assert.ok(toBuffer(args).equals(allBytes));
    });

    it("an empty Buffer and a 200 KiB random Buffer arrive intact", async () => {
      await setup();
      await sendAndCheck(Buffer.alloc(0));
      await sendAndCheck(randomBytes(200 * 1024));
    });

    it("nested binary inside an object (several attachments, mixed with JSON) arrives intact", async () => {
      await setup();
      const msg = {
        text: "caption",
        parts: [randomBytes(10), { deep: { deeper: randomBytes(3000) } }, 7, null],
        thumb: allBytes,
        flags: [true, false],
      };
      await sendAndCheck(msg);
    });

    it("echo: message with several binary arguments comes back as message-back intact", async () => {
      const s = await pool.connect(echo, TRANSPORT_MODES[sender]);
      const args = [Buffer.from([1, 2, 3]), "text", { b: Buffer.from([4, 5, 6]), arr: [Buffer.from([])] }, 9];
      const back = waitFor(s, "message-back");
      s.emit("message", ...args);
      assert.deepEqual(normalizeBinary(await back), args);
    });

    it("binary looking like a placeholder object is not confused with an attachment", async () => {
      await setup();
      // a real object shaped like a placeholder, next to real binary
      await sendAndCheck({ fake: { _placeholder: "no", num: "0" }, real: Buffer.from("real") });
    });
  });
}
