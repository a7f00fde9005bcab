// 10,000 websocket sessions handed off by sioc-proxy to a co-located worker: the proxy
// keeps no descriptor for them (its count stays at its baseline plus the hand-off
// connection), the worker holds them, and both counts return to their baselines once
// every client has closed.

import { describe, it } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { runScenario } from "./lib/testing.mjs";
import { Verdict } from "./lib/report.mjs";
import { HOST, IS_NODE_PEER, haveProxy, startProxy, startWorker, until } from "./lib/procs.mjs";

const WebSocket = createRequire(import.meta.url)("ws");

function openWs(port, localAddress) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${HOST}:${port}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false, localAddress });
    ws.once("message", () => resolve(ws));
    ws.once("error", reject);
    ws.once("unexpected-response", (_q, res) => reject(new Error(`status ${res.statusCode}`)));
  });
}

async function handoffFds({ sessions = 10000, batch = 500 }) {
  const v = new Verdict();
  const measured = {};
  const dir = mkdtempSync(path.join(tmpdir(), "sioc-faults-handoff-"));
  const sock = path.join(dir, "w1.sock");
  const worker = await startWorker({ id: "w1", flags: { "handoff-path": sock, "max-connections": sessions + 1000, "ping-interval": 60000, "ping-timeout": 60000 } });
  const proxy = await startProxy({ flags: { workers: `w1=${HOST}:${worker.port}@${sock}`, "max-connections": sessions + 1000, "max-handshake-rate-per-ip": 0 } });
  const conns = [];
  try {
    await until(async () => (await proxy.metrics()).get("sioc_proxy_workers_up") === 1, 10000, 50, "worker up");
    const proxyBase = proxy.fds();
    const workerBase = worker.fds();
    const rssBase = proxy.rssKiB();
    const t0 = Date.now();
    for (let i = 0; i < sessions; i += batch) {
      const n = Math.min(batch, sessions - i);
      // Spread over source addresses: one address has ~28,000 ephemeral ports.
      conns.push(...(await Promise.all(Array.from({ length: n }, (_, k) => openWs(proxy.port, `127.0.1.${1 + ((i + k) % 8)}`)))));
    }
    const secs = (Date.now() - t0) / 1000;
    const m = await proxy.metrics();
    measured["sessions opened"] = conns.length;
    measured["sessions/s (open packet received)"] = Math.round(conns.length / secs);
    measured["proxy descriptors: baseline / with the sessions open"] = `${proxyBase} / ${proxy.fds()}`;
    measured["worker descriptors: baseline / with the sessions open"] = `${workerBase} / ${worker.fds()}`;
    measured["proxy RSS growth (KiB)"] = proxy.rssKiB() - rssBase;
    measured["handed off"] = m.get('sioc_proxy_handoff_total{result="ok"}');
    v.check(m.get('sioc_proxy_handoff_total{result="ok"}') === sessions, `every session handed off (${m.get('sioc_proxy_handoff_total{result="ok"}')})`);
    v.check(m.get("sioc_proxy_tunnels_total") === 0, "no tunnel");
    v.check(proxy.fds() <= proxyBase + 1, `the proxy holds no client descriptor (${proxy.fds()} vs ${proxyBase})`);
    v.check(worker.fds() >= workerBase + sessions, `the worker holds the clients (${worker.fds()})`);
    for (const ws of conns) ws.close();
    const closed = await until(() => worker.fds() <= workerBase + 1, 30000, 100, "worker descriptors back").then(() => true, () => false);
    measured["worker descriptors after the close"] = worker.fds();
    measured["proxy descriptors after the close"] = proxy.fds();
    v.check(closed, `worker descriptors back to ${workerBase} (+1: the proxy's hand-off connection), got ${worker.fds()}`);
    v.check(proxy.fds() <= proxyBase + 1, `proxy descriptors at baseline (${proxy.fds()} vs ${proxyBase})`);
  } finally {
    for (const ws of conns) ws.terminate();
    await proxy.stop();
    await worker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    id: "handoff-fds",
    group: "fault",
    title: `${sessions} websocket sessions handed off to a co-located worker`,
    did: `opened ${sessions} websocket-only sessions through the proxy (hand-off to the worker's --handoff-path), then closed them all`,
    measured,
    problems: v.problems,
  };
}

describe("websocket hand-off", { skip: IS_NODE_PEER ? "sioc only" : !haveProxy() ? "no sioc-proxy binary" : false }, () => {
  it("10,000 handed-off sessions: descriptors back to baseline", { timeout: 180000 }, () =>
    runScenario(handoffFds, { sessions: Number(process.env.SIOC_HANDOFF_SESSIONS || 10000) }, { id: "handoff-fds", title: "hand-off descriptors" }));
});
