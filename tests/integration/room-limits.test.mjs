// Bounds on what one socket can make the worker hold or compute: --max-rooms-per-socket,
// list-rooms / list-members answers cut at 1000 entries, and a per-socket list rate.

import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopAll } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { request } from "./lib/raw.mjs";
import { metricValue } from "../lib/proc.mjs";

const pool = new ClientPool();
let small, big;

before(async () => {
  [small, big] = await Promise.all([
    startServer({ flags: { app: "chat", "max-rooms-per-socket": 5 } }),
    startServer({ flags: { app: "chat", "max-rooms-per-socket": 0 } }),
  ]);
});
after(async () => {
  pool.closeAll();
  await stopAll(small, big);
});
afterEach(() => pool.closeAll());

async function metric(server, sample) {
  return metricValue((await request(`${server.url}/metrics`)).text, sample);
}

describe("--max-rooms-per-socket", () => {
  it("joins past the limit are refused and counted; leaving makes room", async () => {
    const s = await pool.connect(small, TRANSPORT_MODES.websocket);
    for (let i = 0; i < 5; i++) assert.deepEqual(await emitAck(s, "join-room", `r${i}`), { ok: true });
    assert.deepEqual(await emitAck(s, "join-room", "r0"), { ok: true }, "a room it is in already");
    assert.deepEqual(await emitAck(s, "join-room", "r5"), { ok: false, error: "too many rooms" });
    assert.equal(await metric(small, "sioc_joins_refused_total"), 1);
    assert.deepEqual(await emitAck(s, "leave-room", "r0"), { ok: true });
    assert.deepEqual(await emitAck(s, "join-room", "r5"), { ok: true });
    // the refused join left no trace: a message to r5 arrives once, one to r0 not at all
    const got = [];
    s.on("receive-message", (m) => got.push(m));
    await emitAck(s, "send-message", { roomId: "r0", msg: "no" });
    await emitAck(s, "send-message", { roomId: "r5", msg: "yes" });
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(got, ["yes"]);
  });
});

describe("list-rooms / list-members", () => {
  it("an answer keeps 1000 entries and says complete: false", async () => {
    const s = await pool.connect(big, TRANSPORT_MODES.websocket);
    for (let i = 0; i < 1200; i++) s.emit("join-room", `many-${i}`);
    assert.deepEqual(await emitAck(s, "join-room", "last"), { ok: true });
    const r = await emitAck(s, "list-rooms");
    assert.equal(r.ok, true);
    assert.equal(r.complete, false);
    assert.equal(r.rooms.length, 1000);
    const members = await emitAck(s, "list-members", "last");
    assert.equal(members.complete, true);
    assert.equal(members.sockets.length, 1);
  });

  it("a socket may list 5 times per 10 s; the 6th is refused and counted", async () => {
    const s = await pool.connect(big, TRANSPORT_MODES.websocket);
    const before = await metric(big, 'sioc_dropped_total{reason="rate_limited"}');
    for (let i = 0; i < 5; i++) assert.equal((await emitAck(s, i % 2 ? "list-rooms" : "list-members", "x")).ok, true);
    assert.deepEqual(await emitAck(s, "list-rooms"), { ok: false, error: "too many list requests: retry later" });
    assert.equal(await metric(big, 'sioc_dropped_total{reason="rate_limited"}'), before + 1);
    // another socket is not affected
    const t = await pool.connect(big, TRANSPORT_MODES.websocket);
    assert.equal((await emitAck(t, "list-rooms")).ok, true);
  });
});
