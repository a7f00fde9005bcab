// Slow consumer: a raw websocket client joins a room through the Socket.IO
// protocol by hand, then stops reading (its TCP socket is paused). A burst of
// many MB is broadcast to the room. A normal member keeps receiving every
// message on time, the slow one is dropped by the server at its output cap
// (--max-output-buffer), and the server's RSS stays bounded.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { wsHandshake } from "./lib/raw.mjs";
import { withTimeout } from "./lib/util.mjs";

const OUTPUT_CAP = 512 * 1024;
const MSG_BYTES = 16 * 1024;
const MESSAGES = Number(process.env.SIOC_SLOW_MESSAGES || 2048); // 32 MiB in total
const CHUNK = 64;
const RSS_GROWTH_LIMIT_KIB = Number(process.env.SIOC_SLOW_RSS_LIMIT_KIB || 24 * 1024);

let server;
const pool = new ClientPool();

before(async () => {
  server = await startServer({ flags: { app: "chat", "max-output-buffer": OUTPUT_CAP } });
});
after(async () => {
  pool.closeAll();
  await server?.stop();
});

describe("slow consumer", () => {
  it("is dropped at the output cap while a normal member gets every message on time, RSS bounded", async () => {
    const room = "burst";
    // the slow one: raw websocket, CONNECT + join-room by hand
    const { ws: slow } = await wsHandshake(server, "/socket.io/");
    slow.send("40");
    assert.match((await slow.nextNonPing()).text, /^40\{"sid":"[^"]+"\}$/);
    slow.send(`421${JSON.stringify(["join-room", room])}`);
    assert.equal((await slow.nextNonPing()).text, '431[{"ok":true}]');
    let slowCount = 0;
    slow.ws.on("message", () => slowCount++);

    const fast = await pool.connect(server, TRANSPORT_MODES.websocket);
    const sender = await pool.connect(server, TRANSPORT_MODES.websocket);
    assert.deepEqual(await emitAck(fast, "join-room", room), { ok: true });

    const received = [];
    let onReceive = () => {};
    fast.on("receive-message", (m) => {
      received.push(m.seq);
      onReceive();
    });

    // stop reading: the kernel buffers fill up, then the server's queue grows
    slow.ws._socket.pause();

    const rssBefore = server.rssKiB();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      try {
        rssPeak = Math.max(rssPeak, server.rssKiB());
      } catch {
        /* process gone: the final assertions will say so */
      }
    }, 20);

    const pad = "p".repeat(MSG_BYTES);
    let worstChunkMs = 0;
    const t0 = Date.now();
    try {
      for (let base = 0; base < MESSAGES; base += CHUNK) {
        const n = Math.min(CHUNK, MESSAGES - base);
        const start = Date.now();
        const chunkDone = new Promise((resolve) => {
          onReceive = () => {
            if (received.length >= base + n) resolve();
          };
          onReceive();
        });
        for (let i = 0; i < n; i++) sender.emit("send-message", { roomId: room, msg: { seq: base + i, pad } });
        await withTimeout(chunkDone, 5000, `chunk at ${base} to reach the normal member`);
        worstChunkMs = Math.max(worstChunkMs, Date.now() - start);
      }
    } finally {
      clearInterval(sampler);
    }
    const totalMs = Date.now() - t0;
    const growth = rssPeak - rssBefore;
    process.stderr.write(
      `slow-consumer: ${MESSAGES} x ${MSG_BYTES} B in ${totalMs} ms, worst chunk ${worstChunkMs} ms, ` +
        `server RSS ${rssBefore} -> peak ${rssPeak} KiB (+${growth})\n`,
    );

    assert.deepEqual(
      received,
      Array.from({ length: MESSAGES }, (_, i) => i),
      "the normal member receives every message, in order",
    );
    assert.ok(worstChunkMs < 2000, `a chunk of ${CHUNK} messages took ${worstChunkMs} ms to reach the normal member`);
    assert.equal(fast.connected, true);

    // the slow one was dropped: once it reads again it sees the end of the
    // connection, having received only part of the burst
    slow.ws._socket.resume();
    assert.equal(await slow.closesWithin(10000), true, "the slow consumer's connection must be closed by the server");
    assert.ok(slowCount < MESSAGES, `slow consumer got ${slowCount} of ${MESSAGES} messages, expected it to be cut off`);

    assert.ok(growth < RSS_GROWTH_LIMIT_KIB, `server RSS grew by ${growth} KiB during the burst`);

    // the server still works
    assert.deepEqual(await emitAck(fast, "send-message", { roomId: room, msg: { seq: -1 } }), { ok: true });
  });
});
