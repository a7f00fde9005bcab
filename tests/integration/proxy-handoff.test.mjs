// sioc-proxy handing websocket clients over to co-located workers.
//
// Workers started with --handoff-path and listed as id=host:port@path get the
// client's socket (SCM_RIGHTS) after the proxy routed the upgrade: new
// websocket-only sessions and polling→websocket upgrades run through the worker
// alone (no tunnel in the proxy, which keeps no descriptor for them); a request
// head with a masked websocket frame in the same write loses or reorders no
// byte; the worker sees the client's own address (its per-address limit applies
// to it). Clients that find the worker's hand-off queue full wait in the proxy
// and are handed off once it drains. A worker killed right after hand-offs
// takes only its own clients. A
// worker listed with a path it does not listen on, a worker without a path
// (bound on another loopback address) and a TLS front are tunneled, each
// counted in sioc_proxy_handoff_total. 1,000 handed-off sessions leave the
// proxy's descriptor count where it was, and the worker's returns to its
// baseline once they close. Two proxy processes on one port (--processes 2)
// route a session's requests and an affinity cookie alike, whichever process
// a connection lands on; a child killed is started again by the supervisor.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { startServer, stopAll, HOST } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck, connected } from "./lib/client.mjs";
import { RawWs, post, pollingHandshake } from "./lib/raw.mjs";
import { until, withTimeout } from "./lib/util.mjs";
import { startProxy, httpGet, metricValue } from "./lib/proxy.mjs";
import { makeTestCerts } from "../lib/certs.mjs";
import { fdCount } from "../lib/proc.mjs";

const dir = mkdtempSync(path.join(tmpdir(), "sioc-handoff-"));

async function startWorker(id, { handoff = true, flags = {} } = {}) {
  const handoffPath = handoff ? path.join(dir, `${id}.sock`) : undefined;
  const w = await startServer({ flags: { app: "chat", "worker-id": id, ...(handoffPath ? { "handoff-path": handoffPath } : {}), ...flags } });
  w.id = id;
  w.handoffPath = handoffPath;
  return w;
}

const handoffs = async (proxy) => {
  const m = await proxy.metrics();
  const r = {};
  for (const k of ["ok", "fallback_tls", "fallback_remote", "failed"]) r[k] = metricValue(m, `sioc_proxy_handoff_total{result="${k}"}`);
  r.tunnels = metricValue(m, "sioc_proxy_tunnels_total");
  return r;
};

async function roundTrip(s, tag) {
  assert.deepEqual(await emitAck(s, "join-room", tag), { ok: true });
  const got = new Promise((r) => s.once("receive-message", r));
  assert.deepEqual(await emitAck(s, "send-message", { roomId: tag, msg: tag }), { ok: true });
  assert.equal(await withTimeout(got, 5000, "receive-message"), tag);
}

/** One masked client text frame (RFC 6455 §5.3). */
function maskedText(text) {
  const payload = Buffer.from(text);
  assert.ok(payload.length < 126);
  const mask = crypto.randomBytes(4);
  const out = Buffer.alloc(6 + payload.length);
  out[0] = 0x81;
  out[1] = 0x80 | payload.length;
  mask.copy(out, 2);
  for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i] ^ mask[i & 3];
  return out;
}

/** Server text frames in buf (unmasked, short): [texts, rest]. */
function serverFrames(buf) {
  const texts = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    let len = buf[off + 1] & 0x7f;
    let hl = 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      hl = 4;
    }
    if (buf.length - off < hl + len) break;
    texts.push(buf.subarray(off + hl, off + hl + len).toString("utf8"));
    off += hl + len;
  }
  return [texts, buf.subarray(off)];
}

/**
 * Writes `head` and `frames` in one write on a new TCP connection to `port`; resolves
 * with {status, texts} once `want` text frames arrived after the 101.
 */
function rawUpgrade(port, target, frames, want) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const key = crypto.randomBytes(16).toString("base64");
      const head =
        `GET ${target} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
      const sock = net.createConnection({ host: HOST, port }, () => sock.write(Buffer.concat([Buffer.from(head), ...frames])));
      let buf = Buffer.alloc(0);
      let status = 0;
      let texts = [];
      sock.on("data", (d) => {
        buf = Buffer.concat([buf, d]);
        if (!status) {
          const i = buf.indexOf("\r\n\r\n");
          if (i < 0) return;
          status = Number(buf.subarray(0, i).toString("latin1").split(" ")[1]);
          buf = buf.subarray(i + 4);
        }
        const [t, rest] = serverFrames(buf);
        texts = texts.concat(t);
        buf = rest;
        if (texts.length >= want) {
          sock.destroy();
          resolve({ status, texts });
        }
      });
      sock.on("error", reject);
      sock.on("close", () => reject(new Error(`closed after status ${status}, frames ${JSON.stringify(texts)}`)));
    }),
    5000,
    "raw upgrade",
  );
}

describe("proxy hand-off to co-located workers", () => {
  const pool = new ClientPool();
  let w1, w2, proxy;

  before(async () => {
    [w1, w2] = await Promise.all([startWorker("h1"), startWorker("h2")]);
    proxy = await startProxy({ workers: [w1, w2], flags: { placement: "least-loaded" } });
  });
  after(async () => {
    pool.closeAll();
    await proxy?.stop();
    await stopAll(w1, w2);
  });

  it("a websocket-only session and a polling upgrade run through the worker, not a tunnel", async () => {
    const before = await handoffs(proxy);
    const ws = await pool.connect(proxy, TRANSPORT_MODES.websocket);
    assert.equal(ws.io.engine.transport.name, "websocket");
    await roundTrip(ws, "ws-only");
    const up = await pool.connect(proxy, TRANSPORT_MODES.upgrade);
    await until(() => up.io.engine.transport.name === "websocket", 5000, 20, "upgrade");
    await roundTrip(up, "upgraded");
    const after = await handoffs(proxy);
    assert.equal(after.ok - before.ok, 2);
    assert.equal(after.tunnels - before.tunnels, 0, "no tunnel");
    assert.equal(await proxy.metric("sioc_proxy_tunnels_open"), 0);
    pool.close(ws);
    pool.close(up);
  });

  it("a head and the first frame in one write: every byte reaches the worker in order", async () => {
    const before = await handoffs(proxy);
    // A new websocket session with the Socket.IO CONNECT pipelined behind the head.
    const r = await rawUpgrade(proxy.port, "/socket.io/?EIO=4&transport=websocket", [maskedText("40")], 2);
    assert.equal(r.status, 101);
    assert.match(r.texts[0], /^0\{"sid":/);
    assert.match(r.texts[1], /^40\{"sid":/);
    // A polling session's upgrade with the probe, the upgrade and the CONNECT pipelined:
    // the CONNECT is answered on the websocket, so "5" came before it.
    const { sid } = await pollingHandshake(proxy, "/socket.io/");
    const p = await rawUpgrade(proxy.port, `/socket.io/?EIO=4&transport=websocket&sid=${sid}`, [maskedText("2probe"), maskedText("5"), maskedText("40")], 2);
    assert.equal(p.status, 101);
    assert.equal(p.texts[0], "3probe");
    assert.match(p.texts[1], /^40\{"sid":/);
    assert.equal((await handoffs(proxy)).ok - before.ok, 2, "both handed off");
  });

  it("the worker sees the client's own address: its per-address limit applies to it", async () => {
    const w = await startWorker("h3", { flags: { "max-connections-per-ip": 1 } });
    const px = await startProxy({ workers: [w] });
    try {
      const a = new RawWs(`ws://${HOST}:${px.port}/socket.io/?EIO=4&transport=websocket`, { localAddress: "127.0.0.21" });
      await a.opened;
      const b = new RawWs(`ws://${HOST}:${px.port}/socket.io/?EIO=4&transport=websocket`, { localAddress: "127.0.0.22" });
      await b.opened;
      // A second connection from .21 is over the worker's limit of one per address.
      const c = new RawWs(`ws://${HOST}:${px.port}/socket.io/?EIO=4&transport=websocket`, { localAddress: "127.0.0.21" });
      await assert.rejects(c.opened);
      assert.equal((await handoffs(px)).ok, 3);
      a.ws.close();
      b.ws.close();
    } finally {
      await px.stop();
      await stopAll(w);
    }
  });

  it("a worker whose hand-off queue is full: clients wait in the proxy, in order, none tunneled", { timeout: 20000 }, async () => {
    const w = await startWorker("q1");
    const px = await startProxy({ workers: [w], flags: { "health-fall": 100, "max-handshake-rate-per-ip": 0 } });
    try {
      w.child.kill("SIGSTOP"); // the worker reads nothing: the link's buffer fills
      const conns = [];
      for (let i = 0; i < 600 && (await px.metric("sioc_proxy_handoff_waits_total")) < 10; i += 50)
        conns.push(...Array.from({ length: 50 }, () => new RawWs(`ws://${HOST}:${px.port}/socket.io/?EIO=4&transport=websocket`)));
      const piped = rawUpgrade(px.port, "/socket.io/?EIO=4&transport=websocket", [maskedText("40")], 2);
      piped.catch(() => {});
      await until(async () => (await px.metric("sioc_proxy_handoff_waits_total")) >= 10, 5000, 20, "hand-offs waiting");
      w.child.kill("SIGCONT");
      await Promise.all(conns.map((c) => c.opened));
      await Promise.all(conns.map(async (c) => assert.match((await c.next()).text, /^0\{/)));
      const r = await piped;
      assert.match(r.texts[0], /^0\{"sid":/);
      assert.match(r.texts[1], /^40\{"sid":/);
      const h = await handoffs(px);
      assert.equal(h.ok, conns.length + 1);
      assert.equal(h.failed, 0);
      assert.equal(h.tunnels, 0);
      for (const c of conns) c.ws.close();
    } finally {
      w.child.kill("SIGCONT");
      await px.stop();
      await stopAll(w);
    }
  });

  it("a worker killed right after hand-offs takes only its own clients", async () => {
    const w3 = await startWorker("k1");
    const w4 = await startWorker("k2");
    const px = await startProxy({ workers: [w3, w4], flags: { placement: "least-loaded" } });
    try {
      const socks = [];
      for (let i = 0; i < 8; i++) socks.push(await pool.connect(px, TRANSPORT_MODES.websocket));
      const onK1 = socks.filter((s) => s.io.engine.id.startsWith("k1."));
      const onK2 = socks.filter((s) => s.io.engine.id.startsWith("k2."));
      assert.ok(onK1.length > 0 && onK2.length > 0, "both workers got clients");
      const gone = onK1.map((s) => new Promise((r) => s.once("disconnect", r)));
      w3.child.kill("SIGKILL");
      await withTimeout(Promise.all(gone), 5000, "k1's clients disconnect");
      for (const [i, s] of onK2.entries()) {
        assert.ok(s.connected);
        await roundTrip(s, `survivor-${i}`);
      }
      assert.equal((await handoffs(px)).ok, 8);
      for (const s of socks) pool.close(s);
    } finally {
      await px.stop();
      await stopAll(w3, w4);
    }
  });

  it("a worker that does not take the hand-off (no socket at its path) is tunneled, counted", async () => {
    const w = await startWorker("r1", { handoff: false });
    w.handoffPath = path.join(dir, "nobody.sock");
    const px = await startProxy({ workers: [w] });
    try {
      const s = await pool.connect(px, TRANSPORT_MODES.websocket);
      await roundTrip(s, "refused");
      const h = await handoffs(px);
      assert.equal(h.ok, 0);
      assert.equal(h.failed, 1);
      assert.equal(h.tunnels, 1);
      pool.close(s);
    } finally {
      await px.stop();
      await stopAll(w);
    }
  });

  it("a draining worker takes no more hand-offs: the proxy places its new sessions on another worker", async () => {
    const d1 = await startWorker("d1", { flags: { "drain-timeout": 4000 } });
    const d2 = await startWorker("d2");
    // /health stays green while d1 drains: this proxy keeps routing new sessions to it.
    const px = await startProxy({ workers: [d1, d2], flags: { placement: "least-loaded" } });
    try {
      await pollingHandshake(d1, "/socket.io/"); // never polls again: d1 waits for it until its deadline
      d1.child.kill("SIGTERM");
      await until(async () => (await httpGet(d1.port, "/ready").catch(() => ({ status: 0 }))).status === 503, 2000, 20, "d1 draining");
      const socks = [];
      for (let i = 0; i < 6; i++) socks.push(await pool.connect(px, TRANSPORT_MODES.websocket));
      for (const s of socks) assert.ok(s.io.engine.id.startsWith("d2."), `session ${s.io.engine.id} on the draining worker`);
      await roundTrip(socks[0], "after-drain");
      const h = await handoffs(px);
      const m = await px.metrics();
      assert.ok(h.failed >= 1, `the proxy tried d1 (hand-offs failed: ${h.failed})`);
      assert.ok(metricValue(m, 'sioc_proxy_upstream_failures_total{kind="refused_new_session"}') >= 1, "d1's 503 placed elsewhere");
      assert.ok(d1.alive(), "d1 still draining");
      for (const s of socks) pool.close(s);
    } finally {
      await px.stop();
      await stopAll(d1, d2);
    }
  });

  it("a mix of a co-located worker and a remote one (another address, no path)", async () => {
    const local = await startWorker("m1");
    // Bound on every address (its health check comes from 127.0.0.1), listed at 127.0.0.2.
    const remote = await startWorker("m2", { handoff: false, flags: { host: "0.0.0.0" } });
    remote.host = "127.0.0.2";
    const px = await startProxy({ workers: [local, remote], flags: { placement: "least-loaded" } });
    try {
      const socks = [];
      for (let i = 0; i < 6; i++) socks.push(await pool.connect(px, TRANSPORT_MODES.websocket));
      for (const [i, s] of socks.entries()) await roundTrip(s, `mix-${i}`);
      const onLocal = socks.filter((s) => s.io.engine.id.startsWith("m1.")).length;
      const h = await handoffs(px);
      assert.ok(onLocal > 0 && onLocal < 6, `clients on both workers (${onLocal} local)`);
      assert.equal(h.ok, onLocal);
      assert.equal(h.fallback_remote, 6 - onLocal);
      assert.equal(h.tunnels, 6 - onLocal);
      for (const s of socks) pool.close(s);
    } finally {
      await px.stop();
      await stopAll(local, remote);
    }
  });

  it("a TLS front tunnels (the proxy holds the TLS session)", async () => {
    const certs = makeTestCerts("sioc-handoff-tls-");
    const w = await startWorker("t1");
    const px = await startProxy({ workers: [w], tls: true, flags: { "tls-cert": certs.cert, "tls-key": certs.key } });
    try {
      const s = await pool.connect(px, { ...TRANSPORT_MODES.websocket, ca: certs.ca });
      await roundTrip(s, "tls");
      const h = await handoffs(px);
      assert.equal(h.fallback_tls, 1);
      assert.equal(h.ok, 0);
      assert.equal(h.tunnels, 1);
      pool.close(s);
    } finally {
      await px.stop();
      await stopAll(w);
      rmSync(certs.dir, { recursive: true, force: true });
    }
  });

  it("two proxy processes (SO_REUSEPORT) route a session and a cookie alike", { timeout: 20000 }, async () => {
    const a = await startWorker("p1");
    const b = await startWorker("p2");
    const px = await startProxy({ workers: [a, b], flags: { processes: 2 } });
    const admin2 = px.adminPort + 1;
    try {
      await until(async () => metricValue((await httpGet(admin2, "/metrics")).body, "sioc_proxy_workers_up") === 2, 10000, 50, "second process ready");
      const requests = async () =>
        metricValue(await px.metrics(), "sioc_proxy_requests_total") + metricValue((await httpGet(admin2, "/metrics")).body, "sioc_proxy_requests_total");
      // Sessions from addresses that hash to each worker, with the cookie each placement set.
      const cookieOf = {};
      for (let i = 30; i < 60 && Object.keys(cookieOf).length < 2; i++) {
        const r = await pollingHandshake(px, "/socket.io/", {}, { localAddress: `127.0.0.${i}` });
        const w = r.sid.split(".")[0];
        const sc = r.res.headers["set-cookie"];
        if (!cookieOf[w] && sc) cookieOf[w] = { cookie: String(sc).split(";")[0], addr: `127.0.0.${i}` };
      }
      assert.deepEqual(Object.keys(cookieOf).sort(), ["p1", "p2"], "both workers placed by address");
      const base = await requests();
      // Each request on a new connection: the kernel spreads them over both processes.
      for (let k = 0; k < 40; k++) {
        // p2's cookie from an address that hashes to p1: every process honours it (one key).
        const r = await pollingHandshake(px, "/socket.io/", {}, { localAddress: cookieOf.p1.addr, headers: { cookie: cookieOf.p2.cookie } });
        assert.equal(r.sid.split(".")[0], "p2", `handshake ${k} placed by the cookie`);
        const res = await post(px, "/socket.io/", r.sid, "40");
        assert.equal(res.status, 200, `request ${k} with the sid reached the session's worker`);
        assert.equal(res.text, "ok");
      }
      assert.equal((await requests()) - base, 80);
      const n1 = metricValue(await px.metrics(), "sioc_proxy_requests_total");
      const n2 = metricValue((await httpGet(admin2, "/metrics")).body, "sioc_proxy_requests_total");
      assert.ok(n1 > 0 && n2 > 0, `both processes served requests (${n1}, ${n2})`);
      // Websockets through either process are handed off.
      for (let k = 0; k < 6; k++) {
        const s = await pool.connect(px, TRANSPORT_MODES.websocket);
        await roundTrip(s, `mp-${k}`);
        pool.close(s);
      }
      const ok =
        metricValue(await px.metrics(), 'sioc_proxy_handoff_total{result="ok"}') +
        metricValue((await httpGet(admin2, "/metrics")).body, 'sioc_proxy_handoff_total{result="ok"}');
      assert.equal(ok, 6);
      // A child that dies is started again by the supervisor; the port keeps serving.
      const children = () => readFileSync(`/proc/${px.pid}/task/${px.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
      const before = children();
      assert.equal(before.length, 2, "two children");
      process.kill(before[1], "SIGKILL");
      await until(() => children().length === 2 && !children().includes(before[1]), 10000, 50, "child restarted");
      await until(async () => (await httpGet(admin2, "/ready")).status === 200 && (await httpGet(px.adminPort, "/ready")).status === 200, 10000, 50, "both ready");
      for (let k = 0; k < 10; k++) assert.equal((await pollingHandshake(px, "/socket.io/")).sid.includes("."), true);
    } finally {
      await px.stop();
      await stopAll(a, b);
    }
  });

  it("1,000 handed-off sessions: the proxy keeps no descriptor for them, the worker's count returns to baseline", { timeout: 25000 }, async () => {
    const w = await startWorker("f1");
    // All from 127.0.0.1: no per-address handshake rate. One health check at
    // start and none during the case: a check's connection, open in the proxy
    // and the worker for a moment each second, would count as a descriptor held.
    const px = await startProxy({ workers: [w], flags: { "max-handshake-rate-per-ip": 0, "health-interval": 600000 } });
    try {
      const proxyBase = fdCount(px.pid);
      const workerBase = fdCount(w.pid);
      const N = 1000;
      const conns = [];
      for (let i = 0; i < N; i += 100) {
        const batch = Array.from({ length: 100 }, () => new RawWs(`ws://${HOST}:${px.port}/socket.io/?EIO=4&transport=websocket`));
        await Promise.all(batch.map((c) => c.opened));
        conns.push(...batch);
      }
      await Promise.all(conns.map(async (c) => assert.match((await c.next()).text, /^0\{/)));
      const h = await handoffs(px);
      assert.equal(h.ok, N, `hand-offs ${JSON.stringify(h)}`);
      process.stderr.write(`hand-off: ${N} sessions, ${await px.metric("sioc_proxy_handoff_waits_total")} waited for the worker's queue\n`);
      // The proxy holds at most its connection to the worker's hand-off socket more.
      assert.ok(fdCount(px.pid) <= proxyBase + 1, `proxy fds ${fdCount(px.pid)} vs ${proxyBase}`);
      assert.ok(fdCount(w.pid) >= workerBase + N, `worker holds the clients (${fdCount(w.pid)})`);
      for (const c of conns) c.ws.close();
      await Promise.all(conns.map((c) => c.closed));
      await until(() => fdCount(w.pid) <= workerBase + 1, 10000, 50, `worker fds back to ${workerBase} (+ the proxy's hand-off connection)`);
      assert.ok(fdCount(px.pid) <= proxyBase + 1, `proxy fds ${fdCount(px.pid)} vs ${proxyBase}`);
      assert.equal(await px.metric("sioc_proxy_connections_open"), 0);
    } finally {
      await px.stop();
      await stopAll(w);
    }
  });

  after(() => rmSync(dir, { recursive: true, force: true }));
});
