// Redis addresses beyond one node. Sentinel failover: one primary, one
// replica and three sentinels on free loopback ports (down-after 1000 ms).
// Two workers and a proxy find the primary through redis-sentinel://; the
// primary is killed with SIGKILL; the sentinels promote the replica and the
// workers and the proxy follow it: /ready comes back, rooms deliver across
// workers again, what was published in the gap is delivered or counted, the
// proxy sees both workers. The times from the kill to the promotion and to
// ready are printed. Also: seed nodes (a dead node and a replica passed
// over), sentinels that require a password, a Redis Cluster node refused.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startServer, stopAll, IS_NODE_PEER, HOST } from "./lib/server.mjs";
import { ClientPool, emitAck } from "./lib/client.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";
import { startProxy, untilWorkersUp } from "./lib/proxy.mjs";
import { startRedis, freePort, httpGet, metricValue } from "../lib/proc.mjs";
import { until, sleep } from "./lib/util.mjs";

const ready = (w) => httpGet(w.port, "/ready", { timeoutMs: 500 }).then((r) => r.status === 200);
const MASTER = "sioc-primary";

/** SENTINEL MASTER's flat field list as an object. */
async function masterInfo(s) {
  const r = await s.query(["SENTINEL", "MASTER", MASTER]);
  const o = {};
  if (Array.isArray(r)) for (let i = 0; i + 1 < r.length; i += 2) o[r[i]] = r[i + 1];
  return o;
}

describe("Redis Sentinel failover", { skip: IS_NODE_PEER ? "sioc's Redis links only" : false }, () => {
  const pool = new ClientPool();
  let dir, primary, replica, proxy;
  const sentinels = [];
  const workers = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "sioc-sentinel-"));
    primary = await startRedis({ extraArgs: ["--dir", dir] });
    // A replica keeps the primary's snapshot on disk: in the test's directory, not the checkout.
    replica = await startRedis({ extraArgs: ["--replicaof", HOST, String(primary.port), "--dir", dir] });
    await until(async () => /master_link_status:up/.test(String(await replica.query(["INFO", "replication"]))),
      10000, 50, "replica in sync");
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = path.join(dir, `sentinel-${port}.conf`);
      writeFileSync(conf, [
        `sentinel monitor ${MASTER} ${HOST} ${primary.port} 2`,
        `sentinel down-after-milliseconds ${MASTER} 1000`,
        `sentinel failover-timeout ${MASTER} 3000`,
        `sentinel parallel-syncs ${MASTER} 1`, ""].join("\n"));
      sentinels.push(await startRedis({ port, conf, extraArgs: ["--sentinel"] }));
    }
    await until(async () => {
      const infos = await Promise.all(sentinels.map(masterInfo));
      return infos.every((m) => m["num-slaves"] === "1" && m["num-other-sentinels"] === "2");
    }, 15000, 100, "sentinels know the replica and each other");
  });
  after(async () => {
    pool.closeAll();
    await stopAll(...workers, proxy);
    for (const r of [...sentinels, replica, primary]) await r?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("seed nodes: a node that is down and a replica are passed over for the primary", async () => {
    const dead = await freePort();
    const w = await startServer({
      flags: { app: "chat", "redis-url": `redis://${HOST}:${dead},${HOST}:${replica.port},${HOST}:${primary.port}`, "worker-id": "seeds" },
      env: { JWT_SECRET: TEST_SECRET, LOG_LEVEL: "info" },
    });
    try {
      await until(() => ready(w), 10000, 50, "ready on the primary");
      assert.match(w.output(), new RegExp(`cannot connect to ${HOST}:${dead}`), "the dead node is logged");
      assert.match(w.output(), new RegExp(`${HOST}:${replica.port} is a slave, not the primary`), "the replica is refused");
      await until(async () => ((await primary.query(["ZRANGE", "sioc:workers", "0", "-1"])) ?? []).some((m) => m.startsWith("seeds@")),
        3000, 50, "membership written on the primary");
    } finally {
      await stopAll(w);
    }
  });

  it("a Redis Cluster node whose slots are not all served is not ready, and /ready says why", async () => {
    // the bus port given, not left at port + 10000 (which may lie in the ephemeral range)
    const node = await startRedis({
      extraArgs: ["--dir", dir, "--cluster-enabled", "yes", "--cluster-config-file", path.join(dir, "nodes.conf"), "--cluster-port", String(await freePort())],
    });
    const w = await startServer({ flags: { app: "chat", "redis-url": node.url, "worker-id": "rc" }, env: { JWT_SECRET: TEST_SECRET } });
    try {
      await until(async () => /covers 0 of 16384 slots/.test((await httpGet(w.port, "/ready")).body), 5000, 50, "/ready names the uncovered slots");
      assert.equal(await ready(w), false, "not ready");
    } finally {
      await stopAll(w);
      await node.stop();
    }
  });

  it("workers and the proxy follow the promoted replica after the primary is killed", async (t) => {
    const url = `redis-sentinel://${sentinels.map((s) => `${HOST}:${s.port}`).join(",")}/${MASTER}`;
    for (const id of ["s1", "s2"]) {
      workers.push(await startServer({ flags: { app: "chat", "redis-url": url, "worker-id": id }, env: { JWT_SECRET: TEST_SECRET } }));
    }
    await until(async () => (await Promise.all(workers.map(ready))).every(Boolean), 10000, 50, "workers ready");
    proxy = await startProxy({ flags: { "redis-url": url, "discovery-interval": 200 }, waitReady: false });
    await untilWorkersUp(proxy, 2);

    const a = await pool.connect(workers[0], { auth: { token: makeToken({ sub: "a" }) } });
    const b = await pool.connect(workers[1], { auth: { token: makeToken({ sub: "b" }) } });
    assert.deepEqual(await emitAck(a, "join-room", "fo"), { ok: true });
    assert.deepEqual(await emitAck(b, "join-room", "fo"), { ok: true });
    const got = [];
    a.on("receive-message", (m) => got.push(m.tag));
    const burst = async (tag, n) => {
      for (let i = 0; i < n; i++) assert.deepEqual(await emitAck(b, "send-message", { roomId: "fo", msg: { tag: `${tag}${i}` } }), { ok: true });
      await until(() => got.filter((g) => g.startsWith(tag)).length >= n, 5000, 20, `${tag} deliveries`);
    };
    await burst("before", 10);

    const t0 = Date.now();
    await primary.stop("SIGKILL");
    await until(async () => !(await ready(workers[0])) && !(await ready(workers[1])), 3000, 10, "workers notice the loss");
    const why = (await httpGet(workers[0].port, "/ready")).body;
    assert.match(why, /^not ready\nredis (publisher|subscriber): (connecting to|down after) (sentinel|primary) 127\.0\.0\.1:\d+.* \(redis-sentinel:\/\/.*\/sioc-primary\)\n/,
      "/ready says which link waits for which node");
    // Published while there is no primary: delivered later or counted as dropped, never lost silently.
    const dropped = async () => metricValue((await httpGet(workers[1].port, "/metrics")).body, "sioc_redis_publish_dropped_total");
    const droppedBefore = await dropped();
    for (let i = 0; i < 5; i++) assert.deepEqual(await emitAck(b, "send-message", { roomId: "fo", msg: { tag: `gap${i}` } }), { ok: true });
    let promotedMs = null;
    await until(async () => {
      if (promotedMs === null) {
        const addr = await sentinels[0].query(["SENTINEL", "get-master-addr-by-name", MASTER], 300);
        if (Array.isArray(addr) && Number(addr[1]) === replica.port) promotedMs = Date.now() - t0;
      }
      return promotedMs !== null && (await Promise.all(workers.map(ready))).every(Boolean);
    }, 20000, 25, "workers ready on the new primary");
    const readyMs = Date.now() - t0;
    t.diagnostic(`kill -9 -> replica promoted: ${promotedMs} ms; -> both workers ready: ${readyMs} ms ` +
      `(${readyMs - promotedMs} ms after the promotion)`);
    assert.match(String(await replica.query(["ROLE"])), /^master/, "the replica is the primary now");
    assert.ok(readyMs - promotedMs <= 3000, `ready ${readyMs - promotedMs} ms after the promotion`);

    // The outage queue sends the gap's publishes once the peers are subscribed again.
    const gapAccounted = async () => got.filter((g) => g.startsWith("gap")).length + (await dropped()) - droppedBefore;
    await until(async () => (await gapAccounted()) === 5, 5000, 25, "each publish of the gap delivered or counted").catch(() => {});
    assert.equal(await gapAccounted(), 5, "each publish of the gap delivered or counted");
    got.length = 0;
    await burst("after", 10);
    await sleep(100);
    assert.deepEqual(got.filter((g) => !g.startsWith("gap")), [...Array(10).keys()].map((i) => `after${i}`),
      "exactly once, in order, after the failover");
    await untilWorkersUp(proxy, 2, 5000);
    const disc = await httpGet(proxy.adminPort, "/ready");
    assert.equal(disc.status, 200, "the proxy is ready on the new primary");
  });

  it("sentinels that require a password are asked with --redis-sentinel-password", async () => {
    const port = await freePort();
    const conf = path.join(dir, `sentinel-auth-${port}.conf`);
    const current = await sentinels[0].query(["SENTINEL", "get-master-addr-by-name", MASTER]);
    writeFileSync(conf, `sentinel monitor sioc-auth ${current[0]} ${current[1]} 1\n`);
    const s = await startRedis({ port, conf, extraArgs: ["--sentinel"] });
    sentinels.push(s);
    assert.equal(await s.query(["ACL", "SETUSER", "default", "resetpass", ">sent pw"]), "OK");
    const url = `redis-sentinel://${HOST}:${port}/sioc-auth`;
    const good = await startServer({
      flags: { app: "chat", "redis-url": url, "worker-id": "sa1", "redis-sentinel-password": "sent pw" },
      env: { JWT_SECRET: TEST_SECRET },
    });
    const bad = await startServer({
      flags: { app: "chat", "redis-url": url, "worker-id": "sa2", "redis-sentinel-password": "wr0ngpass" },
      env: { JWT_SECRET: TEST_SECRET },
    });
    workers.push(good, bad);
    await until(() => ready(good), 10000, 50, "ready through the authenticated sentinel");
    await until(() => /AUTH failed/.test(bad.output()), 5000, 50, "the refused AUTH in the log");
    assert.equal(await ready(bad), false, "a wrong sentinel password: not ready");
    assert.doesNotMatch(bad.output(), /sent pw|wr0ngpass/, "no password in the log");
    await assert.rejects(
      startServer({ flags: { app: "chat", "redis-url": primary.url, "redis-sentinel-password": "x" }, startTimeoutMs: 3000 }),
      /sentinel credentials are given but the Redis URL has no sentinels/,
    );
  });
});
