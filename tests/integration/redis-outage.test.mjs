// The publisher's outage queue (worker/adapter_queue.c): Redis killed and
// restarted on the same port 2 s later while a client of worker A sends to a
// room every 50 ms; the member of the room on worker B gets every message,
// once and in order, after Redis is back, in every adapter mode. Then the
// queue's bounds: with --adapter-queue-max 5 only the last 5 publishes of the
// outage reach B, and the overflow is counted.

import { describe, it, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopAll, IS_NODE_PEER } from "./lib/server.mjs";
import { ClientPool, emitAck } from "./lib/client.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";
import { startRedis, httpGet, metricValue } from "../lib/proc.mjs";
import { sleep, until } from "./lib/util.mjs";

const ready = (w) => httpGet(w.port, "/ready").then((r) => r.status === 200, () => false);
const metrics = (w) => httpGet(w.port, "/metrics").then((r) => r.body);

async function cluster(mode, extra = {}) {
  const redis = await startRedis();
  const workers = [];
  for (const id of ["qa", "qb"])
    workers.push(await startServer({ flags: { app: "chat", "redis-url": redis.url, "adapter-mode": mode, "worker-id": id, ...extra }, env: { JWT_SECRET: TEST_SECRET } }));
  await until(async () => (await Promise.all(workers.map(ready))).every(Boolean), 10000, 50, "workers ready");
  return { redis, workers };
}

describe("Redis outage: publishes queued and sent when it is back", { skip: IS_NODE_PEER ? "sioc only" : false }, () => {
  const pool = new ClientPool();
  const running = [];
  after(async () => {
    pool.closeAll();
    for (const c of running) {
      await stopAll(c.workers);
      await c.redis.stop();
    }
  });

  async function setup(mode, extra) {
    const c = await cluster(mode, extra);
    running.push(c);
    const [wa, wb] = c.workers;
    const a = await pool.connect(wa, { transports: ["websocket"], auth: { token: makeToken({ sub: `a-${mode}` }) } });
    const b = await pool.connect(wb, { transports: ["websocket"], auth: { token: makeToken({ sub: `b-${mode}` }) } });
    for (const s of [a, b]) assert.equal((await emitAck(s, "join-room", "q")).ok, true);
    const got = [];
    b.on("receive-message", (m) => got.push(m.seq));
    return { ...c, wa, wb, a, b, got };
  }

  for (const mode of ["classic", "sharded", "streams"]) {
    it(`${mode}: every message sent during a 2 s Redis restart reaches the other worker, once and in order`, { timeout: 30000 }, async () => {
      const { redis, wa, wb, a, got } = await setup(mode);
      let seq = 0;
      const sentAt = [];
      const send = () => {
        sentAt.push(Date.now());
        a.emit("send-message", { roomId: "q", msg: { seq: seq++ } });
      };
      const timer = setInterval(send, 50);
      try {
        await sleep(1200); // A counts the subscribed servers every second
        // Those sent from 500 ms before the kill until 100 ms after it may be in flight.
        const tKill = Date.now();
        await redis.stop("SIGKILL");
        const tDown = Date.now();
        const inFlight = new Set(sentAt.map((t, i) => (t >= tKill - 500 && t <= tDown + 100 ? i : -1)).filter((i) => i >= 0));
        await until(async () => !(await ready(wa)), 3000, 20, "A sees the outage");
        await sleep(2000);
        const queued = metricValue(await metrics(wa), "sioc_adapter_queued");
        await redis.start();
        await until(async () => (await ready(wa)) && (await ready(wb)), 8000, 20, "ready again");
        await sleep(300);
        clearInterval(timer);
        const last = seq - 1;
        await until(() => got.length > 0 && got[got.length - 1] >= last, 5000, 20, `B got up to ${last}`).catch(() => {});
        assert.ok(queued >= 20, `${queued} publishes queued during the outage`);
        const m = await metrics(wa);
        // Publishes written to the link before A saw it close are not resent (that could
        // duplicate them; see the README): they may miss, but never silently, each is counted.
        const unconfirmed = metricValue(m, "sioc_redis_publish_unconfirmed_total");
        const lost = Array.from({ length: seq }, (_, i) => i).filter((i) => !got.includes(i));
        const outside = lost.filter((i) => !inFlight.has(i));
        assert.ok(lost.length <= unconfirmed,
          `B missed ${lost.length} of ${seq} (${lost.slice(0, 20)}; ${outside.length} sent more than 100 ms after the kill), A counted ${unconfirmed} unconfirmed`);
        assert.ok(outside.length <= 2, `${outside.length} lost long after the kill: ${outside}`);
        assert.deepEqual(got, [...new Set(got)].sort((x, y) => x - y), "once each, in order");
        if (lost.length) process.stderr.write(`redis-outage ${mode}: lost at the kill, counted as unconfirmed (${unconfirmed}): ${lost}\n`);
        assert.equal(metricValue(m, "sioc_adapter_queued"), 0);
        assert.ok(metricValue(m, "sioc_adapter_queued_total") >= queued);
        assert.equal(metricValue(m, "sioc_adapter_queue_dropped_total"), 0);
        assert.equal(metricValue(m, "sioc_redis_publish_dropped_total"), 0, "none dropped: a publish on a closing link is queued too");
      } finally {
        clearInterval(timer);
      }
    });
  }

  it("the queue is bounded: the oldest publishes are dropped and counted, the newest arrive in order", { timeout: 30000 }, async () => {
    const { redis, wa, wb, a, got } = await setup("classic", { "adapter-queue-max": 5 });
    await sleep(1200);
    await redis.stop("SIGKILL");
    await until(async () => !(await ready(wa)), 3000, 20, "A sees the outage");
    for (let i = 0; i < 12; i++) assert.equal((await emitAck(a, "send-message", { roomId: "q", msg: { seq: i } })).ok, true);
    const m = await metrics(wa);
    assert.equal(metricValue(m, "sioc_adapter_queued"), 5);
    assert.equal(metricValue(m, "sioc_adapter_queue_dropped_total"), 7);
    await redis.start();
    await until(async () => (await ready(wa)) && (await ready(wb)), 8000, 20, "ready again");
    await until(() => got.length >= 5, 5000, 20, "B got the queued ones");
    await sleep(200);
    assert.deepEqual(got, [7, 8, 9, 10, 11]);
    assert.equal(metricValue(await metrics(wa), "sioc_adapter_queued"), 0);
  });
});
