// Slow consumer: a raw websocket client joins a room through the Socket.IO
// protocol by hand, then stops reading (its TCP socket is paused). A burst of
// many MB is broadcast to the room. A normal member keeps receiving every
// message on time, the slow one is dropped by the server at its output cap
// (--max-output-buffer), and the server's RSS stays bounded. A slow client that
// reads again soon after the cap gets what was queued, whole messages only,
// then a close frame 1008 "slow consumer" that says why.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { wsHandshake } from "./lib/raw.mjs";
import { withTimeout, sleep } from "./lib/util.mjs";
import { httpGet, metricValue } from "./lib/proxy.mjs";

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

  it("tells a slow client why: its queued messages, whole, then close 1008 \"slow consumer\"", async () => {
    const room = "cut";
    const DROPPED = 'sioc_dropped_total{reason="slow_consumer"}';
    const dropped = async () => metricValue((await httpGet(server.port, "/metrics")).body, DROPPED);
    const before = await dropped();
    const { ws: slow } = await wsHandshake(server, "/socket.io/");
    slow.send("40");
    assert.match((await slow.nextNonPing()).text, /^40\{"sid":"[^"]+"\}$/);
    slow.send(`421${JSON.stringify(["join-room", room])}`);
    assert.equal((await slow.nextNonPing()).text, '431[{"ok":true}]');
    const texts = [];
    slow.ws.on("message", (d, isBinary) => texts.push(isBinary ? null : d.toString("utf8")));
    const sender = await pool.connect(server, TRANSPORT_MODES.websocket);
    slow.ws._socket.pause();
    const pad = "q".repeat(MSG_BYTES);
    let sent = 0;
    while ((await dropped()) === before && sent < MESSAGES) {
      for (let i = 0; i < CHUNK; i++) sender.emit("send-message", { roomId: room, msg: { seq: sent++, pad } });
      await emitAck(sender, "list-rooms"); // the chunk has been handled
    }
    assert.equal(await dropped(), before + 1, `dropped once, after ${sent} messages`);
    slow.ws._socket.resume();
    const closed = await withTimeout(slow.closed, 10000, "the slow client's close");
    assert.deepEqual(closed, { code: 1008, reason: "slow consumer" });
    // what it got before the close: whole Socket.IO packets, in order, no gap
    const seqs = texts.filter((t) => t !== "2").map((t) => {
      assert.ok(t.startsWith('42["receive-message",'), `a whole event packet: ${String(t).slice(0, 60)}`);
      return JSON.parse(t.slice(2))[1].seq;
    });
    assert.ok(seqs.length > 0 && seqs.length < sent, `${seqs.length} of ${sent} messages before the close`);
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i));
    await sleep(50);
    assert.deepEqual(await emitAck(sender, "send-message", { roomId: room, msg: { seq: -1 } }), { ok: true });
  });
});
