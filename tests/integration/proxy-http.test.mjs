// sioc-proxy at the HTTP level, against a scripted upstream (lib/proxy-upstream.mjs)
// and, where Engine.IO answers matter, a real worker:
// forwarding headers, bodies both ways (length, chunked, close-delimited),
// upstream keep-alive reuse, the websocket tunnel (echo, half-close, a 101
// with a wrong accept, a refused upgrade), protection (malformed, oversized,
// chunked request, slowloris, per-address limit, handshake rate), timeouts,
// health checks, admin endpoints and the graceful stop.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./lib/server.mjs";
import { sleep, until } from "./lib/util.mjs";
import { startProxy, httpGet, RawConn } from "./lib/proxy.mjs";
import { startUpstream } from "./lib/proxy-upstream.mjs";

const WS_HEAD = (path, extra = "") =>
  `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

async function rawRequest(port, data, { localAddress, timeoutMs = 3000 } = {}) {
  const c = new RawConn(port, { localAddress });
  await c.open();
  c.write(data);
  try {
    const r = await c.response(timeoutMs);
    r.closed = await c.waitClosed(1000);
    return r;
  } finally {
    c.close();
  }
}

const header = (r, name) => JSON.parse(r.body).headers.filter(([k]) => k.toLowerCase() === name).map(([, v]) => v);

describe("proxy HTTP forwarding", () => {
  let up;
  let proxy;
  before(async () => {
    up = await startUpstream();
    proxy = await startProxy({ workers: [up], flags: { "health-interval": 200 } });
  });
  after(async () => {
    await proxy?.stop();
    await up?.stop();
  });

  it("overwrites X-Forwarded-For / -Proto from an untrusted peer and drops hop-by-hop fields", async () => {
    const r = await rawRequest(
      proxy.port,
      "GET /echo?a=1 HTTP/1.1\r\nHost: example.test\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n" +
        "X-Real-IP: 6.6.6.6\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\nKeep-Alive: timeout=9\r\nX-Keep: 2\r\n\r\n",
      { localAddress: "127.0.0.44" },
    );
    assert.equal(r.status, 200);
    const e = JSON.parse(r.body);
    assert.equal(e.target, "/echo?a=1");
    assert.deepEqual(header(r, "x-forwarded-for"), ["127.0.0.44"]);
    assert.deepEqual(header(r, "x-forwarded-proto"), ["http"]);
    assert.deepEqual(header(r, "host"), ["example.test"]);
    assert.deepEqual(header(r, "x-keep"), ["2"]);
    for (const gone of ["x-real-ip", "connection", "x-drop", "keep-alive"]) assert.deepEqual(header(r, gone), [], gone);
  });

  it("forwards request bodies and relays chunked and close-delimited responses", async () => {
    const body = Buffer.alloc(1 << 20, "b");
    const c = new RawConn(proxy.port);
    await c.open();
    c.write(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
    c.write(body);
    let r = await c.response();
    assert.equal(JSON.parse(r.body).bodyLength, body.length);
    c.write("GET /chunked HTTP/1.1\r\nHost: x\r\n\r\n");
    // chunked: read raw until the last chunk
    await until(() => c.buf.includes("0\r\n\r\n"), 3000, 10, "chunked body");
    const raw = c.buf.toString("latin1");
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(raw, /Transfer-Encoding: chunked/i);
    assert.match(raw, /5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n$/);
    c.buf = Buffer.alloc(0);
    // the connection is still good
    c.write("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    r = await c.response();
    assert.equal(r.status, 200);
    c.write("GET /close-delimited HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.ok(await c.waitClosed(3000), "closed after a close-delimited body");
    const tail = c.buf.toString("latin1");
    assert.match(tail, /Connection: close\r\n/i);
    assert.match(tail, /\r\n\r\nuntil the end$/);
    c.close();
    // A 2 MiB response through a slow reader (backpressure) arrives whole.
    const d = new RawConn(proxy.port);
    await d.open();
    d.sock.pause();
    d.write("GET /big?bytes=2097152 HTTP/1.1\r\nHost: x\r\n\r\n");
    await sleep(300);
    d.sock.resume();
    r = await d.response(10000);
    assert.equal(r.body.length, 2097152);
    d.close();
  });

  it("reuses upstream keep-alive connections", async () => {
    const before = up.connections;
    for (let i = 0; i < 3; i++) {
      const c = new RawConn(proxy.port);
      await c.open();
      for (let k = 0; k < 10; k++) {
        c.write("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
        assert.equal((await c.response()).status, 200);
      }
      c.close();
    }
    // health checks open their own connections ("Connection: close"); requests reuse one
    const used = up.connections - before;
    assert.ok(used <= 8, `30 requests used ${used} upstream connections`);
    assert.ok((await proxy.metric('sioc_proxy_worker_idle_connections{worker="fake",addr="127.0.0.1:' + up.port + '"}')) >= 1);
  });

  it("tunnels after a valid 101: bytes both ways, half-close passed on", async () => {
    const c = new RawConn(proxy.port);
    await c.open();
    c.write(WS_HEAD("/ws-good"));
    await until(() => c.buf.includes("\r\n\r\n"), 3000, 10, "101");
    const head = c.buf.toString("latin1");
    assert.match(head, /^HTTP\/1\.1 101 /);
    assert.match(head, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
    c.buf = Buffer.alloc(0);
    const payload = Buffer.alloc(300000, "p");
    c.write(payload);
    await until(() => c.buf.length >= payload.length, 5000, 10, "echo");
    assert.ok(c.buf.equals(payload));
    c.buf = Buffer.alloc(0);
    c.sock.end(); // half-close: the upstream answers "bye" and closes
    assert.ok(await c.waitClosed(3000));
    assert.equal(c.buf.toString(), "bye");
    await until(async () => (await proxy.metric("sioc_proxy_tunnels_open")) === 0, 3000, 20, "tunnel gone");
  });

  it("refuses a 101 with a wrong Sec-WebSocket-Accept, relays a refused upgrade and closes", async () => {
    let r = await rawRequest(proxy.port, WS_HEAD("/ws-bad-accept"));
    assert.equal(r.status, 502);
    assert.ok(r.closed);
    r = await rawRequest(proxy.port, WS_HEAD("/ws-refuse"));
    assert.equal(r.status, 403);
    assert.equal(r.body, "no way");
    assert.match(r.raw, /Connection: close/i);
    assert.ok(r.closed);
    assert.equal(await proxy.metric('sioc_proxy_errors_total{kind="bad_ws_accept"}'), 1);
  });

  it("holds a slow (long-poll) answer and relays it", async () => {
    const t0 = Date.now();
    const r = await rawRequest(proxy.port, "GET /slow?ms=1200 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(r.status, 200);
    assert.ok(Date.now() - t0 >= 1100);
  });

  it("takes a worker failing its health checks out of rotation (its sessions still served) and back", async () => {
    up.health = 500;
    await until(async () => (await httpGet(proxy.adminPort, "/ready")).status === 503, 3000, 20, "not ready");
    let r = await rawRequest(proxy.port, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(r.status, 503, "no new session on it");
    assert.equal(r.headers["retry-after"], "1");
    r = await rawRequest(proxy.port, "GET /echo?sid=fake.abc HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(r.status, 200, "a session on a worker on standby is still served");
    assert.equal(await proxy.metric(`sioc_proxy_worker_reachable{worker="fake",addr="127.0.0.1:${up.port}"}`), 1);
    up.health = 200;
    await until(async () => (await httpGet(proxy.adminPort, "/ready")).status === 200, 3000, 20, "ready again");
    r = await rawRequest(proxy.port, "GET /echo?sid=fake.abc HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(r.status, 200);
  });

  it("serves /health, /ready and /metrics on the admin port only", async () => {
    assert.deepEqual([(await httpGet(proxy.adminPort, "/health")).status, (await httpGet(proxy.adminPort, "/health")).body], [200, "ok"]);
    const m = (await httpGet(proxy.adminPort, "/metrics")).body;
    for (const name of [
      "sioc_proxy_connections_open",
      "sioc_proxy_requests_total",
      "sioc_proxy_bytes_total",
      "sioc_proxy_errors_total",
      "sioc_proxy_upstream_failures_total",
      "sioc_proxy_worker_requests_total",
      "sioc_proxy_worker_sessions_total",
    ])
      assert.match(m, new RegExp(`^# TYPE ${name} `, "m"), name);
    assert.equal((await httpGet(proxy.adminPort, "/nope")).status, 404);
    // /metrics on the public port goes to the worker, not to the proxy's counters
    const pub = await rawRequest(proxy.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.doesNotMatch(pub.body, /sioc_proxy_/);
  });

  it("a worker that refuses connections is dead: its sessions get Session ID unknown at once", async () => {
    const r0 = await rawRequest(proxy.port, "GET /echo?sid=fake.abc HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(r0.status, 200);
    const port = up.port;
    await up.stop();
    const r = await rawRequest(proxy.port, "GET /echo?sid=fake.abc HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.body), { code: 1, message: "Session ID unknown" });
    assert.equal(await proxy.metric(`sioc_proxy_worker_reachable{worker="fake",addr="127.0.0.1:${port}"}`), 0);
    assert.equal((await httpGet(proxy.adminPort, "/ready")).status, 503);
    const n = await rawRequest(proxy.port, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(n.status, 503);
  });
});

describe("proxy with a worker refusing new sessions", () => {
  let u1;
  let u2;
  let proxy;
  before(async () => {
    u1 = await startUpstream({ id: "u1" });
    u2 = await startUpstream({ id: "u2" });
    proxy = await startProxy({ workers: [u1, u2], flags: { "health-interval": 5000 } });
  });
  after(async () => {
    await proxy?.stop();
    await u1?.stop();
    await u2?.stop();
  });

  it("places a new session elsewhere when its worker answers 503 (draining), keeps its sessions", async () => {
    u1.refuseNew = true;
    const rs = await Promise.all(
      Array.from({ length: 16 }, (_, i) => rawRequest(proxy.port, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", { localAddress: `127.0.5.${i + 1}` })),
    );
    assert.ok(rs.every((r) => r.status === 200), rs.map((r) => r.status).join(","));
    assert.ok(rs.every((r) => JSON.parse(r.body).id === "u2"));
    assert.ok((await proxy.metric('sioc_proxy_upstream_failures_total{kind="refused_new_session"}')) >= 1);
    // its existing sessions are still its own
    const r = await rawRequest(proxy.port, "GET /echo?sid=u1.abc HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).id, "u1");
    // with nowhere else to go, the client hears it
    u2.refuseNew = true;
    const last = await rawRequest(proxy.port, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", { localAddress: "127.0.5.99" });
    assert.equal(last.status, 503);
  });
});

describe("proxy protection", () => {
  let up;
  let proxy;
  before(async () => {
    up = await startUpstream();
    proxy = await startProxy({
      workers: [up],
      flags: { "head-timeout": 600, "max-connections-per-ip": 3, "max-handshake-rate": 5, "server-timeout": 800, "max-head-size": 4096 },
    });
  });
  after(async () => {
    await proxy?.stop();
    await up?.stop();
  });

  it("answers malformed requests with 400 and closes", async () => {
    for (const bad of ["GARBAGE\r\n\r\n", "GET / HTTP/1.1\nHost: x\n\n", "GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"]) {
      const r = await rawRequest(proxy.port, bad);
      assert.equal(r.status, 400, JSON.stringify(bad));
      assert.ok(r.closed);
    }
    assert.ok((await proxy.metric('sioc_proxy_errors_total{kind="bad_request"}')) >= 4);
  });

  it("answers oversized heads and too many fields with 431, chunked bodies with 411", async () => {
    let r = await rawRequest(proxy.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(5000)}\r\n\r\n`);
    assert.equal(r.status, 431);
    assert.ok(r.closed);
    r = await rawRequest(proxy.port, `GET / HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 80 }, (_, i) => `X-${i}: 1\r\n`).join("")}\r\n`);
    assert.equal(r.status, 431);
    r = await rawRequest(proxy.port, "POST /echo?sid=fake.a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert.equal(r.status, 411);
    assert.ok(r.closed);
  });

  it("times out a slow head with 408 and closes an idle connection", async () => {
    const c = new RawConn(proxy.port);
    await c.open();
    const t0 = Date.now();
    c.write("GET / HTTP/1.1\r\nHo");
    const drip = setInterval(() => c.write("x"), 100); // a slowloris keeps sending
    const r = await c.response(3000);
    clearInterval(drip);
    assert.equal(r.status, 408);
    assert.ok(Date.now() - t0 < 2000);
    assert.ok(await c.waitClosed(2000));
    c.close();
    const idle = new RawConn(proxy.port);
    await idle.open();
    assert.ok(await idle.waitClosed(2500), "silent connection closed");
    assert.equal(idle.buf.length, 0, "without an answer");
    idle.close();
  });

  it("answers 504 when the worker stays silent past --server-timeout", async () => {
    const r = await rawRequest(proxy.port, "GET /slow?ms=3000&sid=fake.a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(r.status, 504);
  });

  it("limits connections per address", async () => {
    const conns = [];
    for (let i = 0; i < 3; i++) {
      const c = new RawConn(proxy.port, { localAddress: "127.0.0.77" });
      await c.open();
      conns.push(c);
    }
    const extra = new RawConn(proxy.port, { localAddress: "127.0.0.77" });
    await extra.open();
    assert.ok(await extra.waitClosed(2000), "the 4th connection from one address is closed");
    const other = new RawConn(proxy.port, { localAddress: "127.0.0.78" });
    await other.open();
    other.write("GET /echo?sid=fake.a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal((await other.response()).status, 200);
    for (const c of [...conns, extra, other]) c.close();
    assert.ok((await proxy.metric('sioc_proxy_connections_refused_total{limit="per_ip"}')) >= 1);
  });

  it("caps new sessions per second (503 + Retry-After), not requests of existing sessions", async () => {
    await sleep(1100); // a full bucket
    const results = await Promise.all(
      Array.from({ length: 15 }, (_, i) => rawRequest(proxy.port, "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", { localAddress: `127.0.3.${i + 1}` })),
    );
    const ok = results.filter((r) => r.status === 200).length;
    const refused = results.filter((r) => r.status === 503);
    assert.ok(ok >= 5 && ok <= 6, `${ok} admitted`);
    assert.ok(refused.length >= 9);
    assert.ok(refused.every((r) => r.headers["retry-after"] === "1"));
    const withSid = await Promise.all(
      Array.from({ length: 15 }, (_, i) => rawRequest(proxy.port, "GET /echo?sid=fake.x HTTP/1.1\r\nHost: x\r\n\r\n", { localAddress: `127.0.4.${i + 1}` })),
    );
    assert.ok(withSid.every((r) => r.status === 200));
  });
});

describe("proxy in front of a real worker", () => {
  let worker;
  let proxy;
  before(async () => {
    worker = await startServer({ flags: { app: "chat", "worker-id": "w1" } });
    worker.id = "w1";
    proxy = await startProxy({ workers: [worker] });
  });
  after(async () => {
    await proxy?.stop();
    await worker?.stop();
  });

  it("answers an unknown sid with Session ID unknown (JSON; raw 400 and close on an upgrade)", async () => {
    let r = await rawRequest(proxy.port, "GET /socket.io/?EIO=4&transport=polling&sid=w9.nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.body), { code: 1, message: "Session ID unknown" });
    assert.equal(r.closed, false, "a polling error keeps the connection");
    r = await rawRequest(proxy.port, WS_HEAD("/socket.io/?EIO=4&transport=websocket&sid=w9.nope"));
    assert.equal(r.status, 400);
    assert.ok(r.closed);
    // the worker's own answer for a sid it does not know comes through unchanged
    r = await rawRequest(proxy.port, "GET /socket.io/?EIO=4&transport=polling&sid=w1.nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.body), { code: 1, message: "Session ID unknown" });
    r = await rawRequest(proxy.port, WS_HEAD("/socket.io/?EIO=4&transport=websocket", "").replace("Version: 13", "Version: 8"));
    assert.equal(r.status, 426);
  });

  it("stops gracefully on SIGTERM: in-flight requests finish, new connections are refused", async () => {
    // an Engine.IO session whose GET the worker holds until a message arrives
    let r = await rawRequest(proxy.port, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n");
    const sid = JSON.parse(r.body.slice(1)).sid;
    const c = new RawConn(proxy.port);
    await c.open();
    c.write(`POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n40`);
    assert.equal((await c.response()).body, "ok");
    c.write(`GET /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match((await c.response()).body, /^40/);
    c.write(`GET /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\n\r\n`); // held
    await sleep(100);
    // a kept-alive connection between two requests (one that never sent a byte is not yet
    // accepted: the listener defers accepting until the first bytes)
    const idle = new RawConn(proxy.port);
    await idle.open();
    idle.write("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.equal((await idle.response()).status, 200);
    proxy.child.kill("SIGTERM");
    assert.ok(await idle.waitClosed(2000), "idle keep-alive connections close at once");
    await until(async () => (await httpGet(proxy.adminPort, "/ready")).status === 503, 2000, 20, "not ready while draining");
    // the held GET is answered when the session has something to say
    const poster = new RawConn(worker.port);
    await poster.open();
    const msg = '421["join-room","r1"]';
    poster.write(`POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\nContent-Length: ${msg.length}\r\n\r\n${msg}`);
    assert.equal((await poster.response()).body, "ok");
    poster.close();
    r = await c.response(3000);
    assert.equal(r.status, 200);
    assert.match(r.body, /431\[\{"ok":true\}\]/);
    assert.match(r.raw, /Connection: close/i);
    assert.ok(await c.waitClosed(2000));
    const info = await proxy.exited;
    assert.equal(info.code, 0);
    await assert.rejects(new RawConn(proxy.port).open(), /ECONNREFUSED/);
  });
});
