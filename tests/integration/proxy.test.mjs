// sioc-proxy in front of three workers: per-request sticky routing.
//
// Static worker list: 50 polling-only socket.io clients from 50 source
// addresses (127.0.0.x) complete chat sessions without a single "Session ID
// unknown" and spread over all three workers; upgrades and websocket-only
// clients go through the tunnel; one keep-alive connection carrying requests
// of sessions on two different workers routes each request to its own
// worker; the affinity cookie pins a client whose address changes.
//
// Redis discovery (the workers register themselves in sioc:workers): a worker
// added under traffic takes new clients and breaks no session; a worker
// killed (SIGKILL) sends its polling and websocket clients to the others.
//
// SIOC_PROXY_CLIENTS: client count of the first test (default 50).
// SIOC_PROXY_DEBUG=1: the discovery proxy logs at debug level, printed on failure.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { startServer, stopAll, HOST, freePort } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck, connected } from "./lib/client.mjs";
import { startRedis } from "../lib/proc.mjs";
import { sleep, until, withTimeout } from "./lib/util.mjs";
import { startProxy, httpGet, metricValue, untilWorkersUp, RawConn } from "./lib/proxy.mjs";

const freePortFor = () => freePort();
const CLIENTS = Number(process.env.SIOC_PROXY_CLIENTS || 50);

async function startWorker(id, flags = {}) {
  const w = await startServer({ flags: { app: "chat", "worker-id": id, ...flags } });
  w.id = id;
  return w;
}

async function workerMetric(w, sample) {
  return metricValue((await httpGet(w.port, "/metrics")).body, sample);
}

const agents = [];
function agentFor(i) {
  const a = new http.Agent({ keepAlive: true, localAddress: `127.0.0.${10 + i}` });
  agents.push(a);
  return a;
}

/** join a room of its own, send a message there, get it back. */
async function chatRoundTrip(socket, tag) {
  assert.deepEqual(await emitAck(socket, "join-room", `room-${tag}`), { ok: true });
  const got = new Promise((resolve) => socket.once("receive-message", resolve));
  assert.deepEqual(await emitAck(socket, "send-message", { roomId: `room-${tag}`, msg: { tag } }), { ok: true });
  assert.deepEqual(await withTimeout(got, 5000, `receive-message ${tag}`), { tag });
}

function watchErrors(socket, errors) {
  socket.on("connect_error", (e) => errors.push(`connect_error: ${e.message}`));
  socket.io.engine?.on("error", (e) => errors.push(`engine error: ${e?.message ?? e}`));
  socket.on("disconnect", (reason) => {
    if (reason !== "io client disconnect") errors.push(`disconnect: ${reason}`);
  });
}

describe("proxy with a static worker list", () => {
  const pool = new ClientPool();
  let workers = [];
  let proxy;

  before(async () => {
    workers = await Promise.all(["w1", "w2", "w3"].map((id) => startWorker(id)));
    proxy = await startProxy({ workers });
  });
  after(async () => {
    pool.closeAll();
    for (const a of agents) a.destroy();
    await proxy?.stop();
    await stopAll(workers);
  });

  it(`${CLIENTS} polling-only clients from distinct addresses complete chat sessions, spread over all workers`, { timeout: 60000 }, async () => {
    const before = await Promise.all(workers.map((w) => workerMetric(w, "sioc_sessions_total")));
    const errors = [];
    const sockets = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        const s = pool.create(proxy, { ...TRANSPORT_MODES.polling, agent: agentFor(i), timeout: 10000 });
        watchErrors(s, errors);
        await withTimeout(connected(s), 15000, `client ${i} connect`);
        return s;
      }),
    );
    await Promise.all(sockets.map((s, i) => chatRoundTrip(s, i)));
    // a few more round trips per client: later polls keep hitting the right worker
    for (let k = 0; k < 3; k++) await Promise.all(sockets.map((s, i) => chatRoundTrip(s, `${i}-${k}`)));
    assert.ok(sockets.every((s) => s.connected && s.io.engine.transport.name === "polling"));
    assert.deepEqual(errors, [], "no client saw an error");

    const byWorker = { w1: 0, w2: 0, w3: 0 };
    for (const s of sockets) byWorker[s.io.engine.id.split(".")[0]]++;
    const after = await Promise.all(workers.map((w) => workerMetric(w, "sioc_sessions_total")));
    const placed = after.map((v, i) => v - before[i]);
    process.stderr.write(`proxy: ${CLIENTS} clients by sid prefix ${JSON.stringify(byWorker)}, by worker metrics ${JSON.stringify(placed)}\n`);
    for (const [i, w] of workers.entries()) {
      assert.ok(byWorker[w.id] > 0, `worker ${w.id} got clients`);
      assert.equal(placed[i], byWorker[w.id], `worker ${w.id} sessions_total matches`);
    }
    const m = await proxy.metrics();
    assert.equal(metricValue(m, 'sioc_proxy_errors_total{kind="sid_unknown"}'), 0);
    assert.equal(metricValue(m, 'sioc_proxy_errors_total{kind="bad_gateway"}'), 0);
    assert.ok(metricValue(m, 'sioc_proxy_routed_total{by="sid"}') >= CLIENTS * 8);
    for (const s of sockets) pool.close(s);
  });

  it("the same address is placed on the same worker again (rendezvous hashing)", async () => {
    const a = pool.create(proxy, { ...TRANSPORT_MODES.polling, agent: agentFor(7) });
    await connected(a);
    const first = a.io.engine.id.split(".")[0];
    pool.close(a);
    const b = pool.create(proxy, { ...TRANSPORT_MODES.polling, agent: agentFor(7) });
    await connected(b);
    assert.equal(b.io.engine.id.split(".")[0], first);
    pool.close(b);
  });

  it("polling clients upgrade to websocket through the tunnel, websocket-only clients connect", { timeout: 30000 }, async () => {
    const errors = [];
    const ups = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const s = pool.create(proxy, { ...TRANSPORT_MODES.upgrade, agent: agentFor(100 + i) });
        watchErrors(s, errors);
        await connected(s);
        await until(() => s.io.engine.transport.name === "websocket", 5000, 20, "upgrade");
        return s;
      }),
    );
    const wss = await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const s = pool.create(proxy, { ...TRANSPORT_MODES.websocket, agent: agentFor(120 + i) });
        watchErrors(s, errors);
        await connected(s);
        return s;
      }),
    );
    await Promise.all([...ups, ...wss].map((s, i) => chatRoundTrip(s, `ws-${i}`)));
    assert.deepEqual(errors, []);
    assert.ok((await proxy.metric("sioc_proxy_tunnels_open")) >= 18);
    const prefixes = new Set(ups.map((s) => s.io.engine.id.split(".")[0]));
    assert.ok(prefixes.size >= 2, "upgraded clients on several workers");
    for (const s of [...ups, ...wss]) pool.close(s);
    await until(async () => (await proxy.metric("sioc_proxy_tunnels_open")) === 0, 5000, 50, "tunnels closed");
  });

  it("one keep-alive connection carrying requests of two sessions routes each to its worker", async () => {
    // Two sessions on different workers, opened from addresses that hash apart.
    const sessions = [];
    for (let i = 0; i < 40 && sessions.length < 2; i++) {
      const c = new RawConn(proxy.port, { localAddress: `127.0.1.${i + 1}` });
      await c.open();
      c.write(`GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n`);
      const r = await c.response();
      c.close();
      assert.equal(r.status, 200);
      const sid = JSON.parse(r.body.slice(1)).sid;
      if (!sessions.some((s) => s.split(".")[0] === sid.split(".")[0])) sessions.push(sid);
    }
    assert.equal(sessions.length, 2, "found sessions on two workers");
    const [a, b] = sessions;
    const conn = new RawConn(proxy.port);
    await conn.open();
    const post = (sid, body) =>
      `POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain;charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    const get = (sid) => `GET /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\n\r\n`;
    // Socket.IO CONNECT for both, pipelined in one write.
    conn.write(post(a, "40") + post(b, "40"));
    for (let k = 0; k < 2; k++) {
      const r = await conn.response();
      assert.equal(r.status, 200, r.raw);
      assert.equal(r.body, "ok");
    }
    // Each GET returns its own session's CONNECT answer.
    for (const sid of [a, b]) {
      conn.write(get(sid));
      const r = await conn.response();
      assert.equal(r.status, 200, r.raw);
      assert.match(r.body, /^40\{"sid":"/, `GET for ${sid}`);
    }
    // Alternate sessions request by request; acks come back to the right one.
    for (const [sid, id] of [[a, 1], [b, 2], [a, 3], [b, 4]]) {
      conn.write(post(sid, `42${id}["join-room","r${id}"]`));
      const p = await conn.response();
      assert.equal(p.body, "ok");
      conn.write(get(sid));
      const r = await conn.response();
      assert.equal(r.status, 200, r.raw);
      assert.equal(r.body, `43${id}[{"ok":true}]`, `ack ${id} on its session`);
    }
    assert.equal(conn.closed, false, "the connection stayed open");
    conn.close();
    assert.equal(await proxy.metric('sioc_proxy_errors_total{kind="sid_unknown"}'), 0);
  });

  it("a valid affinity cookie places a new session on its worker, a forged one is ignored", async () => {
    const r1 = await new Promise((resolve, reject) => {
      const req = http.get({ host: HOST, port: proxy.port, path: "/socket.io/?EIO=4&transport=polling", agent: false, localAddress: "127.0.2.1" }, (res) => {
        let body = "";
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ headers: res.headers, body }));
      });
      req.on("error", reject);
    });
    const cookie = r1.headers["set-cookie"].find((c) => c.startsWith("sioc_affinity="));
    assert.match(cookie, /^sioc_affinity=w\d\.[A-Za-z0-9_-]{22}; Path=\/; HttpOnly; SameSite=Lax$/);
    const value = cookie.split(";")[0];
    const worker = value.split("=")[1].split(".")[0];
    assert.equal(JSON.parse(r1.body.slice(1)).sid.split(".")[0], worker);
    // From many other addresses, the cookie wins over address hashing.
    for (let i = 2; i < 12; i++) {
      const c = new RawConn(proxy.port, { localAddress: `127.0.2.${i}` });
      await c.open();
      c.write(`GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nCookie: a=b; ${value}\r\n\r\n`);
      const r = await c.response();
      c.close();
      assert.equal(JSON.parse(r.body.slice(1)).sid.split(".")[0], worker);
      assert.equal(r.headers["set-cookie"], undefined, "a valid cookie is not re-issued");
    }
    // A forged cookie (MAC of nothing) is treated as absent and replaced.
    const other = ["w1", "w2", "w3"].find((w) => w !== worker);
    const c = new RawConn(proxy.port, { localAddress: "127.0.2.1" });
    await c.open();
    c.write(`GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nCookie: sioc_affinity=${other}.AAAAAAAAAAAAAAAAAAAAAA\r\n\r\n`);
    const r = await c.response();
    c.close();
    assert.equal(JSON.parse(r.body.slice(1)).sid.split(".")[0], worker, "placed by address, not by the forged cookie");
    assert.ok(r.headers["set-cookie"].startsWith(`${value};`));
    // socket.io-client with withCredentials keeps the cookie in its jar.
    const s = pool.create(proxy, { ...TRANSPORT_MODES.polling, withCredentials: true, agent: agentFor(60) });
    await connected(s);
    await chatRoundTrip(s, "cookie");
    pool.close(s);
  });
});

describe("proxy with Redis discovery", () => {
  const pool = new ClientPool();
  let redis;
  let workers = [];
  let proxy;

  before(async () => {
    redis = await startRedis();
    workers = await Promise.all(["w1", "w2"].map((id) => startWorker(id, { "redis-url": redis.url })));
    proxy = await startProxy({ flags: { "redis-url": redis.url, "log-level": process.env.SIOC_PROXY_DEBUG ? "debug" : "warn" } });
    await untilWorkersUp(proxy, 2);
  });
  after(async () => {
    pool.closeAll();
    await proxy?.stop();
    await stopAll(workers);
    await redis?.stop();
  });

  it("a worker added under traffic takes new clients and breaks no session", { timeout: 60000 }, async () => {
    const errors = [];
    const first = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const s = pool.create(proxy, { ...TRANSPORT_MODES.polling, agent: agentFor(140 + i) });
        watchErrors(s, errors);
        await connected(s);
        return s;
      }),
    );
    // Traffic keeps flowing while w3 joins.
    let stop = false;
    const traffic = Promise.all(
      first.map(async (s, i) => {
        let k = 0;
        while (!stop) {
          await chatRoundTrip(s, `t${i}-${k++}`);
          await sleep(50);
        }
        return k;
      }),
    );
    await sleep(500);
    const w3 = await startWorker("w3", { "redis-url": redis.url });
    workers.push(w3);
    await untilWorkersUp(proxy, 3);
    const second = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const s = pool.create(proxy, { ...TRANSPORT_MODES.polling, agent: agentFor(170 + i) });
        watchErrors(s, errors);
        await connected(s);
        await chatRoundTrip(s, `n${i}`);
        return s;
      }),
    );
    await sleep(1000);
    stop = true;
    const rounds = await traffic;
    assert.ok(rounds.every((k) => k > 3), "traffic flowed throughout");
    assert.deepEqual(errors, [], "no session broke");
    assert.ok(first.every((s) => s.connected));
    const onW3 = second.filter((s) => s.io.engine.id.startsWith("w3.")).length;
    process.stderr.write(`proxy: after adding w3, ${onW3} of ${second.length} new clients went to it\n`);
    assert.ok(onW3 > 0, "the new worker takes new clients");
    assert.ok(onW3 < second.length, "and only part of them");
    assert.ok((await workerMetric(w3, "sioc_sessions_total")) >= onW3);
    assert.equal(await proxy.metric('sioc_proxy_errors_total{kind="sid_unknown"}'), 0);
    for (const s of [...first, ...second]) pool.close(s);
  });

  it("keeps serving the last known workers while Redis is down, and follows it again after", { timeout: 30000 }, async () => {
    const up = await proxy.metric("sioc_proxy_workers_up");
    await redis.stop("SIGKILL");
    await sleep(4000); // longer than the heartbeat staleness: nothing may be dropped
    assert.equal(await proxy.metric("sioc_proxy_workers_up"), up);
    const s = pool.create(proxy, { ...TRANSPORT_MODES.polling, agent: agentFor(240) });
    await connected(s);
    assert.ok(s.connected, "new sessions are still placed");
    pool.close(s);
    await redis.start();
    const failures = await proxy.metric("sioc_proxy_discovery_failures_total");
    assert.ok(failures > 0, "the outage was noticed");
    // discovery answers again: a member published by hand appears, then goes stale
    const ghost = `ghost@127.0.0.1:${await freePortFor()}`;
    await until(async () => {
      redis.cli("ZADD", "sioc:workers", String(Date.now()), ghost); // a heartbeat
      return (await proxy.metric("sioc_proxy_workers")) === up + 1;
    }, 20000, 250, "ghost member seen");
    await until(async () => (await proxy.metric("sioc_proxy_workers")) === up, 8000, 50, "ghost member dropped once stale");
    assert.equal(await proxy.metric("sioc_proxy_workers_up"), up, "a member that fails its health checks never enters rotation");
    // the workers' own cluster links are back before the next test
    await until(async () => (await Promise.all(workers.map((w) => httpGet(w.port, "/ready")))).every((r) => r.status === 200), 15000, 100, "workers ready");
  });

  it("a killed worker's clients (polling and upgraded) reconnect to the others", { timeout: 60000 }, async () => {
    const sockets = await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const s = pool.create(proxy, {
          ...(i % 3 === 0 ? TRANSPORT_MODES.upgrade : TRANSPORT_MODES.polling),
          agent: agentFor(200 + i),
          reconnection: true,
          reconnectionDelay: 100,
          reconnectionDelayMax: 500,
        });
        await connected(s);
        return s;
      }),
    );
    // Let the upgrades finish first: engine.io-client leaves a polling transport
    // paused when its websocket probe dies after "3probe" (the worker killed
    // mid-upgrade), and only its heartbeat timeout (pingInterval + pingTimeout)
    // recovers that, with or without a proxy.
    await until(() => sockets.every((s, i) => i % 3 !== 0 || s.io.engine.transport.name === "websocket"), 10000, 20, "upgrades done");
    const victim = workers.find((w) => sockets.some((s) => s.io.engine.id.startsWith(`${w.id}.`)));
    const hit = sockets.filter((s) => s.io.engine.id.startsWith(`${victim.id}.`));
    assert.ok(hit.length > 0);
    victim.child.kill("SIGKILL");
    await victim.exited;
    workers = workers.filter((w) => w !== victim);
    // Every client of the victim is back, on another worker, and chats.
    await until(() => hit.every((s) => s.connected && s.io.engine && !s.io.engine.id.startsWith(`${victim.id}.`)), 20000, 50, "victim's clients reconnected").catch(async (e) => {
      const stuck = hit.filter((s) => !(s.connected && s.io.engine && !s.io.engine.id.startsWith(`${victim.id}.`)));
      process.stderr.write((await proxy.metrics()).split("\n").filter((l) => !l.startsWith("#") && !/ 0$/.test(l)).join("\n") + "\n");
      if (process.env.SIOC_PROXY_DEBUG) process.stderr.write(proxy.output().split("\n").filter((l) => !/health check/.test(l)).slice(-80).join("\n"));
      throw new Error(`${e.message}: ${stuck.map((s) => `${s.connected}/${s.io.engine?.id}/${s.io.engine?.transport?.name}/${s.io.engine?.readyState}/${s.io._readyState}/opts=${s.io.opts.transports}/upgrading=${s.io.engine?.upgrading}/t.ready=${s.io.engine?.transport?.readyState}/t.polling=${s.io.engine?.transport?._polling}/wb=${s.io.engine?.writeBuffer?.length}`).join(" ")}`);
    });
    await Promise.all(sockets.map((s, i) => chatRoundTrip(s, `k${i}`)));
    assert.ok(sockets.every((s) => !s.io.engine.id.startsWith(`${victim.id}.`)));
    await untilWorkersUp(proxy, workers.length);
    process.stderr.write(`proxy: killed ${victim.id}, ${hit.length} clients moved\n`);
    for (const s of sockets) pool.close(s);
  });
  it("new sessions asked for while a worker drains (SIGTERM) land on a live worker", { timeout: 30000 }, async () => {
    assert.ok(workers.length >= 2);
    const victim = workers[0];
    // addresses whose hash picks the victim; their handshakes leave pooled connections to it
    const addrs = [];
    for (let i = 0; i < 120 && addrs.length < 12; i++) {
      const c = new RawConn(proxy.port, { localAddress: `127.0.6.${i + 1}` });
      await c.open();
      c.write("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n");
      const r = await c.response();
      c.close();
      if (r.status === 200 && JSON.parse(r.body.slice(1)).sid.startsWith(`${victim.id}.`)) addrs.push(`127.0.6.${i + 1}`);
    }
    assert.ok(addrs.length > 0);
    victim.child.kill("SIGTERM");
    // the worker is draining once its /ready says so (the signal is handled by its loop)
    await until(async () => (await httpGet(victim.port, "/ready", { timeoutMs: 500 })).status === 503, 5000, 5, "victim draining");
    const rs = await Promise.all(
      addrs.map(async (a) => {
        const c = new RawConn(proxy.port, { localAddress: a });
        await c.open();
        c.write("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n");
        try {
          return await c.response();
        } finally {
          c.close();
        }
      }),
    );
    const placed = rs.map((r) => (r.status === 200 ? JSON.parse(r.body.slice(1)).sid.split(".")[0] : `HTTP ${r.status}`));
    assert.ok(placed.every((w) => w !== victim.id && !w.startsWith("HTTP")), JSON.stringify(placed));
    await victim.exited;
    workers = workers.filter((w) => w !== victim);
  });
});
