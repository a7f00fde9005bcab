// 1,000 concurrent websocket clients on one worker, all in one room: a single
// send-message reaches every one of them.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { withTimeout } from "./lib/util.mjs";

const CLIENTS = Number(process.env.SIOC_MANY_CLIENTS || 1000);
const BATCH = 100;

let server;
const pool = new ClientPool();

before(async () => {
  server = await startServer({ flags: { app: "chat" } });
});
after(async () => {
  pool.closeAll();
  await server?.stop();
});

describe(`${CLIENTS} concurrent websocket clients`, () => {
  it("all connect, all join one room, one broadcast reaches all of them", { timeout: 60000 }, async () => {
    const t0 = Date.now();
    const clients = [];
    for (let base = 0; base < CLIENTS; base += BATCH) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(BATCH, CLIENTS - base) }, () =>
          pool.connect(server, { ...TRANSPORT_MODES.websocket, timeout: 20000 }, 20000),
        ),
      );
      clients.push(...batch);
    }
    const tConnected = Date.now();
    const ids = new Set(clients.map((c) => c.id));
    assert.equal(ids.size, CLIENTS, "every client has its own socket id");

    const acks = await Promise.all(clients.map((c) => emitAck(c, "join-room", "everyone")));
    assert.ok(acks.every((a) => a && a.ok === true), "every join-room acked {ok:true}");
    const tJoined = Date.now();

    let count = 0;
    const seen = new Set();
    const all = new Promise((resolve) => {
      clients.forEach((c, i) =>
        c.once("receive-message", (m) => {
          assert.deepEqual(m, { hello: "all" });
          seen.add(i);
          if (++count === CLIENTS) resolve();
        }),
      );
    });
    const tSend = Date.now();
    assert.deepEqual(await emitAck(clients[0], "send-message", { roomId: "everyone", msg: { hello: "all" } }), { ok: true });
    await withTimeout(all, 15000, `broadcast (${count} of ${CLIENTS} so far)`).catch((e) => {
      throw new Error(`${e.message}: ${CLIENTS - seen.size} clients missed it`);
    });
    const tDone = Date.now();
    process.stderr.write(
      `many-clients: ${CLIENTS} connected in ${tConnected - t0} ms, joined in ${tJoined - tConnected} ms, ` +
        `broadcast delivered to all in ${tDone - tSend} ms, server RSS ${server.rssKiB()} KiB\n`,
    );
    assert.equal(seen.size, CLIENTS);
    assert.ok(clients.every((c) => c.connected));
  });
});
