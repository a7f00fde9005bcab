// sioc-proxy terminating TLS: a test CA and a server certificate for
// 127.0.0.1 are made with the openssl CLI; socket.io-client connects with
// https:// polling, wss:// websocket and the polling→websocket upgrade,
// trusting only that CA. The affinity cookie carries Secure, workers see
// X-Forwarded-Proto: https, TLS 1.1 is refused, ALPN picks http/1.1 and a
// plain-HTTP client on the TLS port is simply dropped.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import https from "node:https";
import tls from "node:tls";
import { startServer, HOST } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { until, withTimeout } from "./lib/util.mjs";
import { startProxy, RawConn } from "./lib/proxy.mjs";
import { startUpstream } from "./lib/proxy-upstream.mjs";
import { makeTestCerts } from "../lib/certs.mjs";

const makeCerts = () => makeTestCerts("sioc-proxy-tls-", "sioc proxy test CA");

function httpsGet(port, p, ca) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: HOST, port, path: p, ca, agent: false }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on("error", reject);
  });
}

async function roundTrip(s, tag) {
  assert.deepEqual(await emitAck(s, "join-room", tag), { ok: true });
  const got = new Promise((r) => s.once("receive-message", r));
  assert.deepEqual(await emitAck(s, "send-message", { roomId: tag, msg: tag }), { ok: true });
  assert.equal(await withTimeout(got, 5000, "receive-message"), tag);
}

describe("proxy with TLS", () => {
  const pool = new ClientPool();
  let certs;
  let worker;
  let up;
  let proxy;
  let echoProxy;

  before(async () => {
    certs = makeCerts();
    worker = await startServer({ flags: { app: "chat", "worker-id": "w1" } });
    worker.id = "w1";
    up = await startUpstream();
    const flags = { "tls-cert": certs.cert, "tls-key": certs.key };
    proxy = await startProxy({ workers: [worker], flags, tls: true });
    echoProxy = await startProxy({ workers: [up], flags, tls: true });
  });
  after(async () => {
    pool.closeAll();
    await proxy?.stop();
    await echoProxy?.stop();
    await worker?.stop();
    await up?.stop();
    if (certs) rmSync(certs.dir, { recursive: true, force: true });
  });

  it("socket.io-client over https:// polling", async () => {
    const s = await pool.connect(proxy, { ...TRANSPORT_MODES.polling, ca: certs.ca });
    assert.equal(s.io.engine.transport.name, "polling");
    await roundTrip(s, "https-polling");
    pool.close(s);
  });

  it("socket.io-client over wss://", async () => {
    const s = await pool.connect(proxy, { ...TRANSPORT_MODES.websocket, ca: certs.ca });
    assert.equal(s.io.engine.transport.name, "websocket");
    await roundTrip(s, "wss");
    // a 200 KiB message each way through the TLS tunnel
    const big = "x".repeat(200 * 1024);
    const got = new Promise((r) => s.once("receive-message", r));
    assert.deepEqual(await emitAck(s, "send-message", { roomId: "wss", msg: big }), { ok: true });
    assert.equal((await withTimeout(got, 5000, "big message")).length, big.length);
    pool.close(s);
  });

  it("https polling upgrades to wss", async () => {
    const s = await pool.connect(proxy, { ...TRANSPORT_MODES.upgrade, ca: certs.ca });
    await until(() => s.io.engine.transport.name === "websocket", 5000, 20, "upgrade");
    await roundTrip(s, "upgraded");
    pool.close(s);
  });

  it("refuses a client that does not trust the certificate", async () => {
    const err = await pool.connectError(proxy, { ...TRANSPORT_MODES.polling });
    assert.ok(err);
  });

  it("marks the affinity cookie Secure and tells workers the scheme was https", async () => {
    const r = await httpsGet(echoProxy.port, "/echo", certs.ca);
    assert.equal(r.status, 200);
    const cookie = r.headers["set-cookie"].find((c) => c.startsWith("sioc_affinity="));
    assert.match(cookie, /; HttpOnly; SameSite=Lax; Secure$/);
    const h = JSON.parse(r.body).headers;
    assert.deepEqual(h.filter(([k]) => k.toLowerCase() === "x-forwarded-proto").map(([, v]) => v), ["https"]);
  });

  it("negotiates TLS 1.2+ only, ALPN http/1.1", async () => {
    const connect = (opts) =>
      new Promise((resolve, reject) => {
        const s = tls.connect({ host: HOST, port: proxy.port, ca: certs.ca, ...opts }, () => {
          const info = { protocol: s.getProtocol(), alpn: s.alpnProtocol, cipher: s.getCipher().name };
          s.destroy();
          resolve(info);
        });
        s.on("error", reject);
      });
    const t13 = await connect({ ALPNProtocols: ["h2", "http/1.1"] });
    assert.equal(t13.protocol, "TLSv1.3");
    assert.equal(t13.alpn, "http/1.1");
    const t12 = await connect({ maxVersion: "TLSv1.2" });
    assert.equal(t12.protocol, "TLSv1.2");
    assert.match(t12.cipher, /^ECDHE-.*(GCM|CHACHA20)/);
    await assert.rejects(connect({ minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" }));
  });

  it("drops a plain-HTTP client on the TLS port and keeps serving", async () => {
    const c = new RawConn(proxy.port);
    await c.open();
    c.write("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.ok(await c.waitClosed(3000));
    c.close();
    const r = await httpsGet(proxy.port, "/socket.io/?EIO=4&transport=polling", certs.ca);
    assert.equal(r.status, 200);
  });
});
