// The Redis links over TLS with an ACL user: redis-server with --tls-port, a
// server certificate from a test CA made with the openssl CLI, and client
// certificates required (tls-auth-clients yes). Two workers on rediss:// (user
// and password in the URL, --redis-tls-cert/-key) deliver across each other;
// a worker given another CA, one that reaches Redis at an address the
// certificate does not name, and one without a client certificate are refused
// with a clear error in their log and never get ready.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
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
  });

  it("a certificate that does not name the address is refused (hostname check)", async () => {
    const w = await worker("t4", { "redis-url": `rediss://app:x@127.0.0.2:${tlsPort}` });
    await until(() => /TLS with 127\.0\.0\.2:\d+ failed: .*(IP address mismatch|certificate verify failed)/.test(w.output()),
      5000, 50, "the mismatch in the log");
    assert.equal(await ready(w), false, "not ready");
  });

  it("without a client certificate the link is refused", async () => {
    const w = await worker("t5", { "redis-tls-cert": "", "redis-tls-key": "" });
    await until(() => /TLS with 127\.0\.0\.1:\d+ failed: .*certificate required/.test(w.output()), 5000, 50, "the refusal in the log");
    assert.equal(await ready(w), false, "not ready");
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
