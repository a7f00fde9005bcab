// The Redis Cluster harness of the cluster tests (lib/redis-cluster.mjs) checked on its
// own: six nodes form a cluster (3 primaries, 3 replicas, all 16384 slots); slotOf agrees
// with CLUSTER KEYSLOT, hash tags included; a slot moves with its keys; a manual
// CLUSTER FAILOVER swaps a primary and its replica; a SIGKILLed primary's replica is
// promoted; stop() leaves no process behind.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { startRedisCluster, slotOf, crc16, SLOTS } from "./lib/redis-cluster.mjs";

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("Redis Cluster test harness", () => {
  let c;
  before(async () => {
    c = await startRedisCluster();
  });
  after(async () => {
    await c?.stop();
  });

  it("forms 3 primaries with one replica each over all 16384 slots", async () => {
    assert.equal(c.nodes.size, 6);
    assert.match(c.url, /^redis:\/\/127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+){5}$/);
    const prims = await c.primaries();
    const reps = await c.replicas();
    assert.equal(prims.length, 3);
    assert.equal(reps.length, 3);
    assert.deepEqual(new Set(reps.map((r) => r.primaryPort)), new Set(prims.map((p) => p.port)), "one replica per primary");
    let covered = 0;
    for (const p of prims) for (const [a, b] of p.slots) covered += b - a + 1;
    assert.equal(covered, SLOTS);
    for (const p of prims) assert.ok(p.pid > 0 && alive(p.pid));
  });

  it("slotOf is CRC16-XMODEM mod 16384 with the hash-tag rule, as CLUSTER KEYSLOT", async () => {
    assert.equal(crc16(Buffer.from("123456789")), 0x31c3, "the specification's check value");
    const keys = [
      "", "a", "foo", "socket.io#/#", "socket.io#/#room-1#", "socket.io#/#héllo wörld#", "{user1000}.following",
      "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "{", "}{", "{}", "a{b", "sioc:workers", "socket.io",
    ];
    for (let i = 0; i < 200; i++) keys.push(`socket.io#/#r${i}#`);
    for (const k of keys) assert.equal(slotOf(k), await c.keyslot(k), `slot of ${JSON.stringify(k)}`);
  });

  it("migrateSlot moves a slot and its keys to another primary", async () => {
    const key = "migrate-me";
    const slot = slotOf(key);
    const from = await c.ownerOf(slot);
    assert.equal(await c.query(from.port, ["SET", key, "v"]), "OK");
    assert.equal(await c.query(from.port, ["SET", `{${key}}:2`, "w"]), "OK");
    const to = (await c.primaries()).find((p) => p.port !== from.port);
    const r = await c.migrateSlot(slot, to.port, { holdMs: 100 });
    assert.equal(r.from, from.port);
    assert.equal((await c.ownerOf(slot)).port, to.port);
    assert.equal(await c.query(to.port, ["GET", key]), "v");
    assert.equal(await c.query(to.port, ["GET", `{${key}}:2`]), "w");
    const moved = await c.query(from.port, ["GET", key]);
    assert.ok(moved instanceof Error && new RegExp(`^MOVED ${slot} 127\\.0\\.0\\.1:${to.port}$`).test(moved.message), String(moved));
    await c.waitHealthy();
  });

  it("failover swaps a replica and its primary", async () => {
    const rep = (await c.replicas())[0];
    const r = await c.failover(rep.port);
    assert.equal(r.oldPrimaryPort, rep.primaryPort);
    assert.ok(r.promotedAt >= r.requestedAt);
    assert.ok((await c.primaries()).some((p) => p.port === rep.port), "the replica is a primary");
    assert.ok((await c.replicas()).some((x) => x.port === rep.primaryPort && x.primaryPort === rep.port), "the old primary replicates it");
    await c.waitHealthy();
  });

  it("killPrimary: SIGKILL by PID, then a replica is promoted and the slots are served again", async (t) => {
    const victim = (await c.primaries())[0];
    const k = await c.killPrimary(victim.port);
    assert.equal(alive(victim.pid), false, "the process is gone");
    assert.equal(k.replicaPorts.length, 1);
    const p = await k.promoted();
    assert.equal(p.port, k.replicaPorts[0]);
    t.diagnostic(`kill -9 -> replica promoted: ${p.promotedAt - k.killedAt} ms`);
    await c.waitHealthy(20000, "cluster ok without the killed node");
    const slot = victim.slots[0][0];
    assert.equal((await c.ownerOf(slot)).port, p.port);
    // Restarted, the old primary comes back as a replica of the promoted one.
    await c.restart(victim.port);
    await c.waitHealthy(20000, "killed node back as a replica");
    assert.ok((await c.replicas()).some((x) => x.port === victim.port && x.primaryPort === p.port));
  });

  it("stop() kills every node by PID and removes the directory", async () => {
    const pids = [...c.nodes.values()].map((n) => n.pid);
    await c.stop();
    assert.ok(pids.every((pid) => !alive(pid)), "no node left");
    assert.equal(existsSync(c.dir), false);
    c = null;
  });
});
