// The window a Redis restart leaves in the Pub/Sub adapter modes, tried as a
// new user would: 3 workers, one client on each in one room, Redis stopped
// (SIGTERM) for 2 s and started again on the same port, then each client sends
// one message at once (or SEND_AFTER_MS later). A run is a miss when some client did not get the
// other two messages within 3 s. Also measured: ms from Redis answering again
// to every worker's /ready.
//
//   node bench/redis-window.mjs [runs=8] [modes=classic,sharded] [worker-binary]
//   WORKER_FLAGS='{"adapter-queue-max":0}' node bench/redis-window.mjs 8
//
// Starts its own Redis and workers on free loopback ports and stops them.

import { createRequire } from "node:module";
import { startServer, stopAll } from "../tests/integration/lib/server.mjs";
import { makeToken, TEST_SECRET } from "../tests/integration/lib/token.mjs";
import { startRedis, httpGet, sleep, until } from "../tests/lib/proc.mjs";

const require = createRequire(new URL("../tests/package.json", import.meta.url));
const { io } = require("socket.io-client");
const RUNS = Number(process.argv[2] || 8);
const MODES = (process.argv[3] || "classic,sharded").split(",");
if (process.argv[4]) process.env.SIOC_WORKER_CMD = process.argv[4];
const extra = process.env.WORKER_FLAGS ? JSON.parse(process.env.WORKER_FLAGS) : {};
const SEND_AFTER_MS = Number(process.env.SEND_AFTER_MS || 0);

const ready = (w) => httpGet(w.port, "/ready").then((r) => r.status === 200, () => false);

async function one(mode) {
  const redis = await startRedis();
  const workers = [];
  const clients = [];
  try {
    for (const id of ["w1", "w2", "w3"])
      workers.push(await startServer({ flags: { app: "chat", "redis-url": redis.url, "adapter-mode": mode, "worker-id": id, ...extra }, env: { JWT_SECRET: TEST_SECRET } }));
    await until(async () => (await Promise.all(workers.map(ready))).every(Boolean), 10000, 50, "ready");
    const got = workers.map(() => new Set());
    for (const [i, w] of workers.entries()) {
      const s = io(w.url, { forceNew: true, transports: ["websocket"], auth: { token: makeToken({ sub: `u${i}` }) } });
      await new Promise((r) => s.once("connect", r));
      await s.timeout(5000).emitWithAck("join-room", "r");
      s.on("receive-message", (m) => got[i].add(m));
      clients.push(s);
    }
    await sleep(1500);
    await redis.stop("SIGTERM");
    await sleep(2000);
    await redis.start();
    const tBack = Date.now();
    let tReady = null;
    const readyWatch = until(async () => {
      if ((await Promise.all(workers.map(ready))).every(Boolean)) tReady = Date.now();
      return tReady !== null;
    }, 5000, 20, "ready").catch(() => {});
    if (SEND_AFTER_MS) await sleep(SEND_AFTER_MS);
    clients.forEach((s, i) => s.emit("send-message", { roomId: "r", msg: `from-${i}` }));
    await until(() => got.every((g) => g.size === 3), 3000, 20, "delivered").catch(() => {});
    await readyWatch;
    const missed = got.map((g, i) => [0, 1, 2].filter((k) => k !== i && !g.has(`from-${k}`)).length);
    return { missed: missed.reduce((a, b) => a + b, 0), readyMs: tReady === null ? null : tReady - tBack };
  } finally {
    for (const s of clients) s.close();
    await stopAll(workers);
    await redis.stop();
  }
}

for (const mode of MODES) {
  const rows = [];
  for (let i = 0; i < RUNS; i++) rows.push(await one(mode));
  const misses = rows.filter((r) => r.missed > 0).length;
  const readies = rows.map((r) => r.readyMs).filter((x) => x !== null).sort((a, b) => a - b);
  console.log(JSON.stringify({ mode, flags: extra, send_after_ms: SEND_AFTER_MS, runs: RUNS, runs_with_a_miss: misses, messages_missed: rows.reduce((a, r) => a + r.missed, 0), messages: RUNS * 6, ready_after_redis_ms: { min: readies[0], median: readies[Math.floor(readies.length / 2)], max: readies[readies.length - 1] } }));
}
