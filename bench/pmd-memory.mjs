#!/usr/bin/env node
// The memory cost of --per-message-deflate: RSS of one sioc-worker (echo app) with N idle
// websocket clients that offer permessage-deflate (the ws package's default offer), with
// and without the option; then after every client has sent and received one 8 KiB
// message (compressed both ways when negotiated).
//
//   node bench/pmd-memory.mjs [N]        (SIOC_WORKER_CMD as for the integration tests)

import { createRequire } from "node:module";
import { startServer, stopAll } from "../tests/integration/lib/server.mjs";

const require = createRequire(new URL("../tests/package.json", import.meta.url));
const WebSocket = require("ws");
const N = Number(process.argv[2] || 1000);

function client(srv) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/socket.io/?EIO=4&transport=websocket`, {
      perMessageDeflate: { threshold: 1024 },
    });
    const c = { ws, waiters: [] };
    ws.on("message", (d) => {
      const t = d.toString();
      if (t === "2") return ws.send("3");
      if (t.startsWith("0")) return ws.send("40");
      if (t.startsWith("40")) return resolve(c);
      const w = c.waiters.shift();
      if (w) w(t);
    });
    ws.on("error", reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(env) {
  const srv = await startServer({ flags: { app: "echo", "max-connections": N + 100 }, env });
  await sleep(300);
  const base = await srv.rssKiB();
  const clients = [];
  for (let i = 0; i < N; i += 100)
    clients.push(...(await Promise.all(Array.from({ length: Math.min(100, N - i) }, () => client(srv)))));
  await sleep(500);
  const idle = await srv.rssKiB();
  const msg = `42${JSON.stringify(["message", "m".repeat(8192)])}`;
  await Promise.all(
    clients.map(
      (c) =>
        new Promise((resolve) => {
          c.waiters.push(resolve);
          c.ws.send(msg);
        }),
    ),
  );
  await sleep(500);
  const busy = await srv.rssKiB();
  const negotiated = clients[0].ws.extensions;
  for (const c of clients) c.ws.terminate();
  await stopAll(srv);
  return { base, idle, busy, negotiated };
}

for (const [name, env] of [
  ["without --per-message-deflate", {}],
  ["with --per-message-deflate", { PER_MESSAGE_DEFLATE: "1" }],
]) {
  const r = await measure(env);
  const per = (k) => (((r[k] - r.base) * 1024) / N).toFixed(0);
  console.log(
    `${name}: negotiated "${r.negotiated || "none"}"; RSS ${r.base} KiB empty, ${r.idle} KiB with ${N} idle clients ` +
      `(${per("idle")} B each), ${r.busy} KiB after one 8 KiB echo each (${per("busy")} B each)`,
  );
}
