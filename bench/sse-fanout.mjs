// Server-Sent Events fan-out on one worker: N event streams on one room, memory per open
// stream (RSS delta), the time from a send-message to the last stream's copy (bounded by
// this one Node process reading every stream) and the worker's CPU per message, for
// M messages: `node bench/sse-fanout.mjs 5000 20 [worker-binary]`.
// Starts its own worker on a free loopback port and stops it.

import http from "node:http";
import { createRequire } from "node:module";
import { startServer, stopAll } from "../tests/integration/lib/server.mjs";
import { makeToken, TEST_SECRET } from "../tests/integration/lib/token.mjs";
import { cpuSeconds, rssKiB } from "../tests/lib/proc.mjs";

const require = createRequire(new URL("../tests/package.json", import.meta.url));
const { io } = require("socket.io-client");
const N = Number(process.argv[2] || 2000);
const M = Number(process.argv[3] || 20);
if (process.argv[4]) process.env.SIOC_WORKER_CMD = process.argv[4];

const server = await startServer({ flags: { app: "chat", "jwt-secret": TEST_SECRET, "sse-heartbeat": 60000 } });
const token = makeToken({ sub: "bench" });
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
let got = 0;
let want = 0;
let waiter = null;
const rss0 = rssKiB(server.pid);
const reqs = [];
await Promise.all(
  Array.from({ length: N }, () =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: server.host, port: server.port, path: `/socket.io/sse?rooms=bench&token=${token}`, agent });
      reqs.push(req);
      req.on("error", reject);
      req.on("response", (res) => {
        res.setEncoding("utf8");
        res.on("data", (d) => {
          got += d.split("event: receive-message\n").length - 1;
          if (waiter && got >= want) waiter();
        });
        resolve();
      });
    }),
  ),
);
await new Promise((r) => setTimeout(r, 300));
const rss1 = rssKiB(server.pid);
const s = io(server.url, { transports: ["websocket"], auth: { token } });
await new Promise((r) => s.on("connect", r));
const lat = [];
const c0 = cpuSeconds(server.pid);
for (let i = 0; i < M; i++) {
  want = got + N;
  const done = new Promise((r) => (waiter = r));
  const t0 = process.hrtime.bigint();
  s.emit("send-message", { roomId: "bench", msg: { i, text: "x".repeat(100) } });
  await done;
  lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
const cpuMs = (cpuSeconds(server.pid) - c0) * 1000;
lat.sort((a, b) => a - b);
console.log(JSON.stringify({
  streams: N,
  rss_kib_per_stream: +((rss1 - rss0) / N).toFixed(2),
  messages: M,
  fanout_ms_median: +lat[lat.length >> 1].toFixed(2),
  fanout_ms_max: +lat[lat.length - 1].toFixed(2),
  worker_cpu_ms_per_message: +(cpuMs / M).toFixed(2),
}));
s.close();
for (const r of reqs) r.destroy();
await stopAll(server);
