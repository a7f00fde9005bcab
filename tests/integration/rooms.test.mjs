// Chat room semantics: who receives a send-message, leave-room, and refusal of
// bad arguments with {"ok":false,...} acks while the server keeps working.
//
// "Did not receive" is checked with a fence: after the message under test the
// same client gets a second message through a room only it is in; messages on
// one connection arrive in order, so if the first had been sent it would have
// arrived before the fence.

import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { waitFor, sleep } from "./lib/util.mjs";

let server;
const pool = new ClientPool();

before(async () => {
  server = await startServer({ flags: { app: "chat" } });
});
after(async () => {
  pool.closeAll();
  await server?.stop();
});
afterEach(() => pool.closeAll());

/** A connected client recording every receive-message, with a private fence room. */
async function member(name, mode = "websocket") {
  const s = await pool.connect(server, TRANSPORT_MODES[mode]);
  s.name = name;
  s.inbox = [];
  s.fenceRoom = `fence-${name}-${Math.random().toString(36).slice(2)}`;
  s.on("receive-message", (m) => s.inbox.push(m));
  assert.deepEqual(await emitAck(s, "join-room", s.fenceRoom), { ok: true });
  return s;
}

/** Wait until every client in `clients` has drained all messages sent before now. */
async function fence(sender, clients) {
  await Promise.all(
    clients.map(async (c) => {
      const token = { fence: Math.random() };
      const got = new Promise((resolve) => {
        const fn = (m) => {
          if (m && m.fence === token.fence) {
            c.off("receive-message", fn);
            resolve();
          }
        };
        c.on("receive-message", fn);
      });
      assert.deepEqual(await emitAck(sender, "send-message", { roomId: c.fenceRoom, msg: token }), { ok: true });
      await got;
      // drop the fence message itself from the inbox
      c.inbox = c.inbox.filter((m) => !(m && m.fence === token.fence));
    }),
  );
}

describe("room membership", () => {
  it("members receive, non-members don't, the sender receives only as a member", async () => {
    const a = await member("a");
    const b = await member("b", "polling");
    const c = await member("c");
    assert.deepEqual(await emitAck(a, "join-room", "r1"), { ok: true });
    assert.deepEqual(await emitAck(b, "join-room", "r1"), { ok: true });

    // member sends: a (sender, member) and b receive; c does not
    assert.deepEqual(await emitAck(a, "send-message", { roomId: "r1", msg: "from a" }), { ok: true });
    await fence(c, [a, b, c]);
    assert.deepEqual(a.inbox, ["from a"]);
    assert.deepEqual(b.inbox, ["from a"]);
    assert.deepEqual(c.inbox, []);

    // non-member sends: members receive, the sender does not
    a.inbox = [];
    b.inbox = [];
    assert.deepEqual(await emitAck(c, "send-message", { roomId: "r1", msg: "from c" }), { ok: true });
    await fence(c, [a, b, c]);
    assert.deepEqual(a.inbox, ["from c"]);
    assert.deepEqual(b.inbox, ["from c"]);
    assert.deepEqual(c.inbox, []);
  });

  it("leave-room stops delivery; rejoining restores it; joining twice delivers once", async () => {
    const a = await member("a");
    const b = await member("b");
    for (const s of [a, b]) assert.deepEqual(await emitAck(s, "join-room", "r2"), { ok: true });
    assert.deepEqual(await emitAck(b, "join-room", "r2"), { ok: true }); // twice
    assert.deepEqual(await emitAck(a, "send-message", { roomId: "r2", msg: 1 }), { ok: true });
    await fence(a, [a, b]);
    assert.deepEqual(b.inbox, [1], "joined twice, delivered once");

    assert.deepEqual(await emitAck(b, "leave-room", "r2"), { ok: true });
    assert.deepEqual(await emitAck(a, "send-message", { roomId: "r2", msg: 2 }), { ok: true });
    await fence(a, [a, b]);
    assert.deepEqual(a.inbox, [1, 2]);
    assert.deepEqual(b.inbox, [1], "no delivery after leave-room");

    assert.deepEqual(await emitAck(b, "join-room", "r2"), { ok: true });
    assert.deepEqual(await emitAck(a, "send-message", { roomId: "r2", msg: 3 }), { ok: true });
    await fence(a, [a, b]);
    assert.deepEqual(b.inbox, [1, 3]);
  });

  it("rooms are independent and a client can be in several", async () => {
    const a = await member("a");
    const b = await member("b");
    const c = await member("c");
    await emitAck(a, "join-room", "x");
    await emitAck(a, "join-room", "y");
    await emitAck(b, "join-room", "x");
    await emitAck(c, "join-room", "y");
    await emitAck(b, "send-message", { roomId: "x", msg: "to x" });
    await emitAck(c, "send-message", { roomId: "y", msg: "to y" });
    await fence(b, [a, b, c]);
    assert.deepEqual(a.inbox.sort(), ["to x", "to y"]);
    assert.deepEqual(b.inbox, ["to x"]);
    assert.deepEqual(c.inbox, ["to y"]);
  });

  it("room names are exact strings: case, whitespace and unicode matter", async () => {
    const a = await member("a");
    const b = await member("b");
    await emitAck(a, "join-room", "Room");
    await emitAck(b, "join-room", "room");
    await emitAck(b, "join-room", "ünï ✓");
    await emitAck(a, "send-message", { roomId: "room ", msg: "trailing space" });
    await emitAck(a, "send-message", { roomId: "Room", msg: "upper" });
    await emitAck(a, "send-message", { roomId: "ünï ✓", msg: "unicode" });
    await fence(a, [a, b]);
    assert.deepEqual(a.inbox, ["upper"]);
    assert.deepEqual(b.inbox, ["unicode"]);
  });

  it("a disconnected member is removed from its rooms", async () => {
    const a = await member("a");
    const b = await member("b");
    await emitAck(a, "join-room", "gone");
    await emitAck(b, "join-room", "gone");
    pool.close(b);
    await sleep(100);
    assert.deepEqual(await emitAck(a, "send-message", { roomId: "gone", msg: "after" }), { ok: true });
    await fence(a, [a]);
    assert.deepEqual(a.inbox, ["after"]);
  });
});

describe("bad arguments", () => {
  function assertRefused(r, what) {
    assert.equal(typeof r, "object", `${what}: ack is an object`);
    assert.equal(r.ok, false, `${what}: ok is false`);
    assert.equal(typeof r.error, "string", `${what}: error is a string`);
    assert.ok(r.error.length > 0, `${what}: error is not empty`);
  }

  const badRooms = [
    ["empty string", ""],
    ["number", 42],
    ["null", null],
    ["object", { id: "r" }],
    ["array", ["r"]],
    ["boolean", true],
    ["257 ASCII bytes", "a".repeat(257)],
    ["257 UTF-8 bytes in 129 characters", "é".repeat(128) + "a"],
  ];

  it("join-room and leave-room refuse bad room ids with {ok:false, error}", async () => {
    const s = await member("s");
    for (const [what, room] of badRooms) {
      assertRefused(await emitAck(s, "join-room", room), `join-room ${what}`);
      assertRefused(await emitAck(s, "leave-room", room), `leave-room ${what}`);
    }
    assertRefused(await s.timeout(5000).emitWithAck("join-room"), "join-room without arguments");
  });

  it("room ids of exactly 256 bytes are accepted (ASCII and multi-byte)", async () => {
    const a = await member("a");
    for (const room of ["r".repeat(256), "é".repeat(128), "✓".repeat(85) + "a"]) {
      assert.equal(Buffer.byteLength(room), 256);
      assert.deepEqual(await emitAck(a, "join-room", room), { ok: true });
      assert.deepEqual(await emitAck(a, "send-message", { roomId: room, msg: room.length }), { ok: true });
    }
    await fence(a, [a]);
    assert.deepEqual(a.inbox, [256, 128, 86]);
  });

  it("send-message refuses bad payloads with {ok:false, error}", async () => {
    const s = await member("s");
    const bad = [
      ["string", "hello"],
      ["number", 5],
      ["null", null],
      ["array", [{ roomId: "r", msg: "m" }]],
      ["missing roomId", { msg: "m" }],
      ["empty roomId", { roomId: "", msg: "m" }],
      ["numeric roomId", { roomId: 7, msg: "m" }],
      ["too long roomId", { roomId: "x".repeat(300), msg: "m" }],
      ["binary instead of an object", Buffer.from([1, 2])],
    ];
    for (const [what, payload] of bad) assertRefused(await emitAck(s, "send-message", payload), `send-message ${what}`);
    assertRefused(await s.timeout(5000).emitWithAck("send-message"), "send-message without arguments");
  });

  it("bad arguments without an ack are dropped; the connection and the server survive", async () => {
    const s = await member("s");
    let disconnected = false;
    s.on("disconnect", () => (disconnected = true));
    s.emit("join-room");
    s.emit("join-room", 123);
    s.emit("join-room", { evil: true });
    s.emit("leave-room", null);
    s.emit("send-message");
    s.emit("send-message", "x");
    s.emit("send-message", { roomId: ["a"], msg: 1 });
    s.emit("unknown-event", 1, 2, 3);
    s.emit("join-room", "ok-room", "extra", "args");
    // still alive and working
    assert.deepEqual(await emitAck(s, "join-room", "after-bad"), { ok: true });
    assert.deepEqual(await emitAck(s, "send-message", { roomId: "after-bad", msg: "fine" }), { ok: true });
    await fence(s, [s]);
    assert.deepEqual(s.inbox, ["fine"]);
    assert.equal(disconnected, false);
    // and a brand-new client can still use the server
    const t = await member("t");
    assert.deepEqual(await emitAck(t, "join-room", "after-bad"), { ok: true });
  });
});
