// --max-pending-sessions-per-ip: Engine.IO sessions that have not connected to a namespace
// (no JWT checked yet) are capped per client address, so one client pipelining handshakes
// cannot hold thousands of sessions for --connect-timeout.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopAll } from "./lib/server.mjs";
import { rawExchange } from "../badinput/lib.mjs";
import { request, eioUrl, post, wsHandshake } from "./lib/raw.mjs";
import { metricValue } from "../lib/proc.mjs";
import { startProxy } from "./lib/proxy.mjs";

let capped, dflt;

before(async () => {
  [capped, dflt] = await Promise.all([
    startServer({ flags: { app: "chat", "max-pending-sessions-per-ip": 5 } }),
    startServer({ flags: { app: "chat", "max-pending-sessions-per-ip": 100 } }),
  ]);
});
after(async () => {
  await stopAll(capped, dflt);
});

async function metric(server, sample) {
  return metricValue((await request(`${server.url}/metrics`)).text, sample);
}

const handshake = (server, localAddress) =>
  request(eioUrl(server, "/socket.io/", { EIO: 4, transport: "polling" }), { localAddress });

describe("--max-pending-sessions-per-ip", () => {
  it("the 6th pending session of an address gets 429 + Retry-After; others and connected ones are not counted", async () => {
    const sids = [];
    for (let i = 0; i < 5; i++) {
      const r = await handshake(capped);
      assert.equal(r.status, 200);
      sids.push(JSON.parse(r.text.slice(1)).sid);
    }
    const over = await handshake(capped);
    assert.equal(over.status, 429);
    assert.equal(over.headers["retry-after"], "1");
    const ws = await wsHandshake(capped, "/socket.io/").then(() => "open", (e) => String(e));
    assert.notEqual(ws, "open", "a websocket handshake is refused too");
    assert.equal((await handshake(capped, "127.0.0.2")).status, 200, "another address has its own count");
    // one session connects to the namespace: its address may open one more
    assert.equal((await post(capped, "/socket.io/", sids[0], "40")).status, 200);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal((await handshake(capped)).status, 200);
    assert.equal((await handshake(capped)).status, 429);
    assert.ok((await metric(capped, "sioc_handshakes_refused_total")) >= 3);
  });

  it("one connection pipelining 400 handshakes gets at most 100 sessions (--max-pending-sessions-per-ip 100)", async () => {
    const reqs = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n".repeat(399) +
      "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    const { statuses } = await rawExchange(dflt.port, [reqs], { localAddress: "127.0.0.3", timeoutMs: 5000 });
    const ok = statuses.filter((x) => x === 200).length;
    assert.equal(ok, 100, `${ok} sessions opened`);
    assert.ok(statuses.filter((x) => x === 429).length >= 1);
  });
});

describe("--max-handshake-rate-per-ip (proxy)", () => {
  let worker, proxy, dfltProxy;
  before(async () => {
    worker = Object.assign(await startServer({ flags: { app: "chat", "worker-id": "hw1" } }), { id: "hw1" });
    [proxy, dfltProxy] = await Promise.all([
      startProxy({ workers: [worker], flags: { "max-handshake-rate-per-ip": 2, "handshake-burst-per-ip": 3 } }),
      startProxy({ workers: [worker] }),
    ]);
  });
  after(async () => {
    await proxy?.stop();
    await dfltProxy?.stop();
    await stopAll(worker);
  });
  const viaProxy = (p, localAddress) => request(`${p.url}/socket.io/?EIO=4&transport=polling`, { localAddress });

  it("an address over its burst gets 429 + Retry-After; another address and requests with a sid are not counted", async () => {
    const sids = [];
    for (let i = 0; i < 3; i++) {
      const r = await viaProxy(proxy, "127.0.0.4");
      assert.equal(r.status, 200);
      sids.push(JSON.parse(r.text.slice(1)).sid);
    }
    const poll = await request(`${proxy.url}/socket.io/?EIO=4&transport=polling&sid=${sids[2]}`, { method: "POST", body: "40", localAddress: "127.0.0.4" });
    assert.equal(poll.status, 200, `a request of an existing session is not a handshake: ${poll.text}`);
    const over = await viaProxy(proxy, "127.0.0.4");
    assert.equal(over.status, 429);
    assert.equal(over.headers["retry-after"], "1");
    assert.equal((await viaProxy(proxy, "127.0.0.5")).status, 200, "another address has its own bucket");
    await new Promise((r) => setTimeout(r, 600)); // 2/s: one token back
    assert.equal((await viaProxy(proxy, "127.0.0.4")).status, 200);
    assert.equal(await proxy.metric('sioc_proxy_errors_total{kind="handshake_rate_ip"}'), 1);
  });

  it("on by default: one connection pipelining 1,200 handshakes opens 1,000 sessions (the default burst)", async () => {
    // the last request closes the connection, so the exchange ends when the proxy has answered all
    const reqs = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1199) +
      "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    const t0 = Date.now();
    const { statuses } = await rawExchange(dfltProxy.port, [reqs], { localAddress: "127.0.0.6", timeoutMs: 15000 });
    const refill = Math.ceil(((Date.now() - t0) / 1000) * 100);
    const ok = statuses.filter((x) => x === 200).length;
    assert.ok(ok >= 1000 && ok <= 1000 + refill + 1, `${ok} sessions opened (burst 1000 + 100/s over ${Date.now() - t0} ms)`);
    assert.equal(statuses.filter((x) => x === 429).length, 1200 - ok);
  });
});
