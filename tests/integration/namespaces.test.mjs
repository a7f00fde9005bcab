// Namespaces with the echo app (--namespaces /custom) and the chat app
// (JWT middleware on every namespace, rooms per namespace).

import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopAll } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck, io } from "./lib/client.mjs";
import { waitFor, happensWithin, withTimeout } from "./lib/util.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";

let echo, chat;
const pool = new ClientPool();

before(async () => {
  [echo, chat] = await Promise.all([
    startServer({ flags: { app: "echo", namespaces: "/custom" } }),
    startServer({ flags: { app: "chat", namespaces: "/admin,/team", "jwt-secret": TEST_SECRET } }),
  ]);
});
after(async () => {
  pool.closeAll();
  await stopAll(echo, chat);
});
afterEach(() => pool.closeAll());

for (const mode of ["websocket", "polling"]) {
  describe(`echo namespaces over ${mode}`, () => {
    it("connects to /custom and gets the auth event with the CONNECT payload", async () => {
      const s = pool.create(echo, { ...TRANSPORT_MODES[mode], nsp: "/custom", auth: { token: "abc", n: 1 } });
      const auth = waitFor(s, "auth");
      await waitFor(s, "connect");
      assert.deepEqual(await auth, [{ token: "abc", n: 1 }]);
      assert.equal(typeof s.id, "string");
      const back = waitFor(s, "message-back");
      s.emit("message", "hi custom");
      assert.deepEqual(await back, ["hi custom"]);
    });

    it("auth payload defaults to {} on the main namespace", async () => {
      const s = pool.create(echo, TRANSPORT_MODES[mode]);
      const auth = waitFor(s, "auth");
      await waitFor(s, "connect");
      assert.deepEqual(await auth, [{}]);
    });

    it("unknown namespace /random → connect_error 'Invalid namespace'", async () => {
      const err = await pool.connectError(echo, { ...TRANSPORT_MODES[mode], nsp: "/random" });
      assert.equal(err.message, "Invalid namespace");
    });

    it("/ and /custom multiplexed on one Engine.IO connection, with distinct socket ids; /random fails without harming them", async () => {
      const manager = new io.Manager(echo.url, { ...TRANSPORT_MODES[mode], reconnection: false });
      try {
        const main = manager.socket("/");
        const custom = manager.socket("/custom", { auth: { who: "custom" } });
        const customAuth = waitFor(custom, "auth");
        main.connect();
        custom.connect();
        await Promise.all([waitFor(main, "connect"), waitFor(custom, "connect")]);
        assert.deepEqual(await customAuth, [{ who: "custom" }]);
        assert.notEqual(main.id, custom.id);
        assert.equal(main.io, custom.io);

        const random = manager.socket("/random");
        const err = waitFor(random, "connect_error");
        random.connect();
        assert.equal((await err)[0].message, "Invalid namespace");

        // messages stay in their namespace
        const backMain = waitFor(main, "message-back");
        const customGotMain = happensWithin(custom, "message-back", 300);
        main.emit("message", "to-main");
        assert.deepEqual(await backMain, ["to-main"]);
        assert.equal(await customGotMain, false, "/custom must not see / traffic");

        const backCustom = waitFor(custom, "message-back");
        custom.emit("message", "to-custom");
        assert.deepEqual(await backCustom, ["to-custom"]);

        // leaving one namespace keeps the other one working
        custom.disconnect();
        const back2 = waitFor(main, "message-back");
        main.emit("message", "still here");
        assert.deepEqual(await back2, ["still here"]);
        assert.equal(main.connected, true);
      } finally {
        manager.engine?.close();
        manager._close?.();
      }
    });
  });
}

describe("chat namespaces", () => {
  const tok = (sub) => ({ auth: { token: makeToken({ sub }) } });

  it("the JWT middleware guards every configured namespace", async () => {
    for (const nsp of ["/", "/admin", "/team"]) {
      const err = await pool.connectError(chat, { ...TRANSPORT_MODES.websocket, nsp });
      assert.equal(err.message, "Authentication error", `namespace ${nsp}`);
      const ok = await pool.connect(chat, { ...TRANSPORT_MODES.websocket, nsp, ...tok("u") });
      assert.equal(ok.connected, true);
    }
  });

  it("unknown namespace on the chat app → 'Invalid namespace'", async () => {
    const err = await pool.connectError(chat, { ...TRANSPORT_MODES.websocket, nsp: "/nope", ...tok("u") });
    assert.equal(err.message, "Invalid namespace");
  });

  it("rooms are per namespace: same room name in /admin and / do not mix", async () => {
    const inMain = await pool.connect(chat, { ...TRANSPORT_MODES.websocket, ...tok("m") });
    const inAdmin = await pool.connect(chat, { ...TRANSPORT_MODES.websocket, nsp: "/admin", ...tok("a") });
    const inAdmin2 = await pool.connect(chat, { ...TRANSPORT_MODES.polling, nsp: "/admin", ...tok("b") });
    for (const s of [inMain, inAdmin, inAdmin2]) assert.deepEqual(await emitAck(s, "join-room", "shared"), { ok: true });
    const mainHears = happensWithin(inMain, "receive-message", 300);
    const a2 = waitFor(inAdmin2, "receive-message");
    assert.deepEqual(await emitAck(inAdmin, "send-message", { roomId: "shared", msg: "admins only" }), { ok: true });
    assert.deepEqual(await withTimeout(a2, 3000, "admin member"), ["admins only"]);
    assert.equal(await mainHears, false, "a / member must not get /admin room traffic");
  });
});
