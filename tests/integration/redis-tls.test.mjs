// The Redis links over TLS with an ACL user: redis-server with --tls-port, a
// server certificate from a test CA made with the openssl CLI, and client
// certificates required (tls-auth-clients yes). Two workers on rediss:// (user
// and password in the URL, --redis-tls-cert/-key) deliver across each other;
// a worker given another CA, one that reaches Redis at an address the
// certificate does not name, and one without a client certificate are refused
// with a clear error in their log and never get ready. rediss-sentinel://: a
// sentinel, a primary and a replica all on TLS; the workers follow a failover.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startServer, stopAll, IS_NODE_PEER, HOST } from "./lib/server.mjs";
import { ClientPool, emitAck } from "./lib/client.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";
import { startProxy, untilWorkersUp } from "./lib/proxy.mjs";
import { startRedis, freePort, httpGet } from "../lib/proc.mjs";
import { makeTestCerts } from "../lib/certs.mjs";
import { until, sleep } from "./lib/util.mjs";

const ready = (w) => httpGet(w.port, "/ready").then((r) => r.status === 200);

describe("Redis over TLS with an ACL user", { skip: IS_NODE_PEER ? "sioc's Redis links only" : false }, () => {
  const pool = new ClientPool();
  let certs, otherCa, redis, tlsPort, url;
  const procs = [];
  const worker = async (id, flags = {}) => {
    const w = await startServer({
      flags: {
        app: "chat", "redis-url": url, "redis-tls-ca": certs.caFile, "redis-tls-cert": certs.clientCert,
        "redis-tls-key": certs.clientKey, "worker-id": id, "adapter-mode": "sharded", ...flags,
      },
      env: { JWT_SECRET: TEST_SECRET },
    });
    procs.push(w);
    return w;
  };

  before(async () => {
    certs = makeTestCerts("sioc-redis-tls-", "sioc redis test CA");
    otherCa = makeTestCerts("sioc-redis-tls-other-", "another CA");
    tlsPort = await freePort();
    redis = await startRedis({
      extraArgs: ["--tls-port", String(tlsPort), "--tls-cert-file", certs.cert, "--tls-key-file", certs.key,
        "--tls-ca-cert-file", certs.caFile, "--tls-auth-clients", "yes", "--bind", HOST, "127.0.0.2",
        "--user", "app", "on", ">s3cret pw", "~*", "&*", "+@all"],
    });
    url = `rediss://app:${encodeURIComponent("s3cret pw")}@${HOST}:${tlsPort}`;
  });
  after(async () => {
    pool.closeAll();
    await stopAll(...procs);
    await redis?.stop();
    for (const c of [certs, otherCa]) if (c) rmSync(c.dir, { recursive: true, force: true });
  });

  it("workers and the proxy reach Redis over TLS as the ACL user; rooms deliver across workers", async () => {
    const [w1, w2] = [await worker("t1"), await worker("t2")];
    await until(async () => (await ready(w1)) && (await ready(w2)), 10000, 50, "workers ready over TLS");
    const clients = redis.cli("CLIENT", "LIST");
    assert.match(clients, /user=app/, "links authenticated as the ACL user");
    assert.doesNotMatch(clients.split("\n").filter((l) => !/cmd=client/.test(l)).join("\n"), /user=default/,
      "no link as the default user");

    const a = await pool.connect(w1, { auth: { token: makeToken({ sub: "a" }) } });
    const b = await pool.connect(w2, { auth: { token: makeToken({ sub: "b" }) } });
    assert.deepEqual(await emitAck(a, "join-room", "tls"), { ok: true });
    assert.deepEqual(await emitAck(b, "join-room", "tls"), { ok: true });
    const got = [];
    a.on("receive-message", (m) => got.push(m));
    for (let i = 0; i < 20; i++) assert.deepEqual(await emitAck(b, "send-message", { roomId: "tls", msg: { i } }), { ok: true });
    await until(() => got.length >= 20, 5000, 20, "deliveries over TLS");
    await sleep(100);
    assert.deepEqual(got.map((m) => m.i), [...Array(20).keys()], "exactly once, in order");

    const proxy = await startProxy({
      flags: { "redis-url": url, "redis-tls-ca": certs.caFile, "redis-tls-cert": certs.clientCert, "redis-tls-key": certs.clientKey },
      waitReady: false,
    });
    procs.push(proxy);
    await untilWorkersUp(proxy, 2);
  });

  it("a certificate from another CA is refused with a clear error", async () => {
    const w = await worker("t3", { "redis-tls-ca": otherCa.caFile });
    await until(() => /TLS with 127\.0\.0\.1:\d+ failed: .*certificate verify failed/.test(w.output()), 5000, 50,
      "the verify error in the log");
    assert.match(w.output(), /rediss:\/\/app:\*\*\*@127\.0\.0\.1/, "the log names the URL, password masked");
    assert.doesNotMatch(w.output(), /s3cret/, "never the password");
    assert.equal(await ready(w), false, "not ready");
    const body = (await httpGet(w.port, "/ready")).body;
    assert.match(body, /redis publisher: (connecting to|down after) 127\.0\.0\.1:\d+.* \(rediss:\/\/app:\*\*\*@127\.0\.0\.1:\d+\)/, "/ready names the node");
    assert.doesNotMatch(body, /s3cret/);
  });

  it("a certificate that does not name the address is refused (hostname check)", async () => {
    const w = await worker("t4", { "redis-url": `rediss://app:x@127.0.0.2:${tlsPort}` });
    await until(() => /TLS with 127\.0\.0\.2:\d+ failed: .*(IP address mismatch|certificate verify failed)/.test(w.output()),
      5000, 50, "the mismatch in the log");
    assert.equal(await ready(w), false, "not ready");
  });

  it("without a client certificate the link is refused", async () => {
    const w = await worker("t5", { "redis-tls-cert": "", "redis-tls-key": "" });
    // TLS 1.3: Redis checks the client after the handshake; its alert ("certificate
    // required") may be read, or the connection found closed first.
    await until(() => /certificate required|cannot connect to 127\.0\.0\.1:\d+ \(connection closed by Redis\)/.test(w.output()), 5000, 50,
      "the refusal in the log");
    await sleep(1000);
    assert.equal(await ready(w), false, "not ready");
  });

  it("rediss-sentinel://: sentinel and data links on TLS, and a failover followed", async (t) => {
    const tls = ["--tls-cert-file", certs.cert, "--tls-key-file", certs.key, "--tls-ca-cert-file", certs.caFile,
      "--tls-auth-clients", "no", "--tls-replication", "yes", "--dir", certs.dir];
    const [ptls, rtls, stls] = [await freePort(), await freePort(), await freePort()];
    const servers = [];
    try {
      const primary = await startRedis({ extraArgs: ["--tls-port", String(ptls), ...tls] });
      servers.push(primary);
      const replica = await startRedis({ extraArgs: ["--tls-port", String(rtls), ...tls, "--replicaof", HOST, String(ptls)] });
      servers.push(replica);
      await until(async () => /master_link_status:up/.test(String(await replica.query(["INFO", "replication"]))), 10000, 50, "replica in sync over TLS");
      const conf = path.join(certs.dir, "sentinel.conf");
      writeFileSync(conf, `sentinel monitor tlsm ${HOST} ${ptls} 1\nsentinel down-after-milliseconds tlsm 1000\nsentinel failover-timeout tlsm 3000\n`);
      const sentinel = await startRedis({ conf, extraArgs: ["--sentinel", "--tls-port", String(stls), ...tls.filter((a) => a !== "--dir" && a !== certs.dir)] });
      servers.push(sentinel);
      await until(async () => {
        const r = await sentinel.query(["SENTINEL", "REPLICAS", "tlsm"]);
        return Array.isArray(r) && r.length === 1;
      }, 10000, 100, "the sentinel knows the replica");
      const surl = `rediss-sentinel://${HOST}:${stls}/tlsm`;
      const ws = [await worker("ts1", { "redis-url": surl, "redis-tls-cert": "", "redis-tls-key": "" }),
        await worker("ts2", { "redis-url": surl, "redis-tls-cert": "", "redis-tls-key": "" })];
      await until(async () => (await Promise.all(ws.map(ready))).every(Boolean), 10000, 50, "ready through the TLS sentinel");
      const t0 = Date.now();
      await primary.stop("SIGKILL");
      await until(async () => !(await ready(ws[0])), 3000, 10, "the loss noticed");
      await until(async () => (await Promise.all(ws.map(ready))).every(Boolean), 15000, 25, "ready on the promoted replica");
      t.diagnostic(`rediss-sentinel: kill -9 -> both workers ready over TLS on the new primary: ${Date.now() - t0} ms`);
      assert.match(String(await replica.query(["ROLE"])), /^master/);
      const a = await pool.connect(ws[0], { auth: { token: makeToken({ sub: "sa" }) } });
      const b = await pool.connect(ws[1], { auth: { token: makeToken({ sub: "sb" }) } });
      await emitAck(a, "join-room", "tfo");
      await emitAck(b, "join-room", "tfo");
      const got = new Promise((resolve) => a.once("receive-message", resolve));
      await emitAck(b, "send-message", { roomId: "tfo", msg: { x: 1 } });
      assert.deepEqual(await got, { x: 1 });
    } finally {
      for (const s of servers.reverse()) await s.stop();
    }
  });

  it("TLS files without rediss:// and unreadable files stop the start with the reason", async () => {
    await assert.rejects(
      startServer({ flags: { app: "chat", "redis-url": redis.url, "redis-tls-ca": certs.caFile }, startTimeoutMs: 3000 }),
      /not rediss:\/\//,
    );
    await assert.rejects(
      startServer({ flags: { app: "chat", "redis-url": url, "redis-tls-ca": "/nonexistent/ca.pem" }, startTimeoutMs: 3000 }),
      /cannot load CA file \/nonexistent\/ca\.pem/,
    );
    await assert.rejects(
      startServer({ flags: { app: "chat", "redis-url": url, "redis-tls-cert": certs.clientCert }, startTimeoutMs: 3000 }),
      /a client certificate needs both its file and its key/,
    );
  });
});
