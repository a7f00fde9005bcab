// sioc workers on a Redis Cluster (3 primaries, 3 replicas, lib/redis-cluster.mjs), given
// the seed nodes in --redis-url:
// - 3 workers in sharded, classic and streams mode: rooms whose channels hash to each of
//   the three primaries; every message to a room reaches every member on every worker
//   exactly once; in sharded mode each room channel is SSUBSCRIBEd on its slot's owner by
//   every worker, in streams mode the stream lives on its slot's owner;
// - a room's slot moves to another primary (SETSLOT MIGRATING / IMPORTING, MIGRATE,
//   SETSLOT NODE) while messages flow: the gap in delivery is bounded and nothing sent
//   after it is lost;
// - a manual CLUSTER FAILOVER (sharded) and a kill -9 of a primary (sharded: a room's
//   owner; classic: the node of the subscriptions; streams: the stream's owner) while messages flow to rooms on every primary: /ready (polled every 50 ms) is true again within 2 s of the replica's
//   promotion, /ready names the missing node meanwhile, and every message is delivered
//   exactly once or counted as dropped by the sending worker (never silently lost);
// - a stock Node socket.io server with @socket.io/redis-adapter createShardedAdapter on a
//   node-redis cluster client (createCluster) on the same cluster: broadcasts cross both ways.
// The times (migration gap, promotion, ready) are printed as diagnostics.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopAll, IS_NODE_PEER, REPO_ROOT } from "./lib/server.mjs";
import { ClientPool, emitAck } from "./lib/client.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";
import { startRedisCluster, slotOf, nameOnPrimary } from "./lib/redis-cluster.mjs";
import { freePort, httpGet, metricValue, parseMetrics, spawnProcess, waitHttp } from "../lib/proc.mjs";
import { sleep, until } from "./lib/util.mjs";

const KEY = "socket.io";
/** The channel of a room in the sharded adapter (Node's "dynamic" subscription mode). */
const roomChannel = (room) => `${KEY}#/#${room}#`;
const READY_GOAL_MS = 2000;
const MIGRATION_GAP_MS = 3000;

const isReady = (w) => httpGet(w.port, "/ready", { timeoutMs: 1000 }).then((r) => r.status === 200);
const metrics = async (w) => (await httpGet(w.port, "/metrics", { timeoutMs: 2000 })).body;
/**
 * Publishes the worker counted as possibly lost: dropped while Redis was unreachable or
 * pushed out of the outage queue (sioc_redis_publish_dropped_total), or sent without a
 * confirmation from Redis (sioc_redis_publish_unconfirmed_total).
 */
const dropped = async (w) => {
  const m = parseMetrics(await metrics(w));
  const d = m.get("sioc_redis_publish_dropped_total");
  const u = m.get("sioc_redis_publish_unconfirmed_total");
  assert.ok(Number.isFinite(d), "sioc_redis_publish_dropped_total is exported");
  assert.ok(Number.isFinite(u), "sioc_redis_publish_unconfirmed_total is exported");
  return d + u;
};

describe("sioc on a Redis Cluster", { skip: IS_NODE_PEER ? "sioc's Redis links only" : false, timeout: 600000 }, () => {
  const pool = new ClientPool();
  let cluster;
  const running = new Set();

  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    pool.closeAll();
    await stopAll(...running);
    await cluster?.stop();
  });

  async function startWorkers(mode, prefix, n = 3, extra = {}) {
    const ws = [];
    for (let i = 0; i < n; i++) {
      const w = await startServer({
        flags: { app: "chat", "redis-url": cluster.url, "adapter-mode": mode, "worker-id": `${prefix}${i}`, ...extra },
        env: { JWT_SECRET: TEST_SECRET },
        startTimeoutMs: 20000,
      });
      running.add(w);
      ws.push(w);
    }
    try {
      await until(async () => (await Promise.all(ws.map(isReady))).every(Boolean), 20000, 50, `${mode} workers ready on the cluster`);
    } catch (e) {
      const why = await Promise.all(ws.map(async (w) => `${w.port}: ${(await httpGet(w.port, "/ready")).body.trim()}\n${w.output().slice(-1500)}`));
      throw new Error(`${e.message}\n${why.join("\n")}`);
    }
    return ws;
  }
  async function stopWorkers(ws) {
    await stopAll(...ws);
    for (const w of ws) running.delete(w);
  }

  const connect = (w, user) => pool.connect(w, { transports: ["websocket"], auth: { token: makeToken({ sub: user }) } }, 10000);

  /** One room per live primary, named `${prefix}N`, whose channel hashes to that primary's slots. */
  async function roomsOnEveryPrimary(prefix) {
    const prims = await cluster.primaries();
    const rooms = prims.map((p) => nameOnPrimary(prims, p.port, roomChannel, `${prefix}-`));
    const owners = await Promise.all(rooms.map(async (r) => (await cluster.ownerOf(slotOf(roomChannel(r)))).port));
    assert.equal(new Set(owners).size, 3, `rooms ${rooms} on three primaries (${owners})`);
    return { rooms, owners };
  }

  /** SHARDNUMSUB of a room's channel on the primary that owns its slot. */
  async function shardSubscribers(room) {
    const owner = await cluster.ownerOf(slotOf(roomChannel(room)));
    const r = await cluster.query(owner.port, ["PUBSUB", "SHARDNUMSUB", roomChannel(room)]);
    return Array.isArray(r) ? Number(r[1]) : -1;
  }

  /** A client records receive-message payloads {r, s, n} per room as "s:n" strings. */
  function recorder(sock) {
    const got = new Map();
    sock.on("receive-message", (m) => {
      if (!m || typeof m !== "object" || typeof m.r !== "string") return;
      if (!got.has(m.r)) got.set(m.r, []);
      got.get(m.r).push(`${m.s}:${m.n}`);
    });
    return got;
  }

  for (const mode of ["sharded", "classic", "streams"]) {
    it(`${mode}: 3 workers, rooms on all three primaries, every message reaches every member exactly once`, { timeout: 120000 }, async (t) => {
      const ws = await startWorkers(mode, `${mode}-`);
      try {
        const { rooms, owners } = await roomsOnEveryPrimary(`${mode}-room`);
        t.diagnostic(`rooms ${rooms.map((r, i) => `${r}@${owners[i]}`).join(" ")}`);
        // On every worker: x joins every room, y joins one room (a different one per worker).
        const members = [];
        for (let i = 0; i < ws.length; i++) {
          const x = await connect(ws[i], `x${i}`);
          const y = await connect(ws[i], `y${i}`);
          for (const r of rooms) assert.deepEqual(await emitAck(x, "join-room", r), { ok: true });
          assert.deepEqual(await emitAck(y, "join-room", rooms[i]), { ok: true });
          members.push({ sock: x, name: `x${i}`, rooms, got: recorder(x) }, { sock: y, name: `y${i}`, rooms: [rooms[i]], got: recorder(y) });
        }
        if (mode === "sharded") {
          await until(async () => (await Promise.all(rooms.map(shardSubscribers))).every((n) => n === ws.length), 10000, 50,
            "each room channel SSUBSCRIBEd by every worker on its owner").catch(async (e) => {
            throw new Error(`${e.message}: ${JSON.stringify(await Promise.all(rooms.map(shardSubscribers)))}`);
          });
          for (const r of rooms) {
            for (const p of await cluster.primaries()) {
              if (p.port === (await cluster.ownerOf(slotOf(roomChannel(r)))).port) continue;
              const chans = await cluster.query(p.port, ["PUBSUB", "SHARDCHANNELS"]);
              assert.ok(!chans.includes(roomChannel(r)), `${roomChannel(r)} subscribed on ${p.port}, which does not own its slot`);
            }
          }
        }
        // Each x sends K messages to each room.
        const K = 5;
        const senders = members.filter((m) => m.name.startsWith("x"));
        const expected = new Map(rooms.map((r) => [r, []]));
        for (const s of senders) {
          for (const r of rooms) {
            for (let n = 0; n < K; n++) {
              assert.deepEqual(await emitAck(s.sock, "send-message", { roomId: r, msg: { r, s: s.name, n } }), { ok: true });
              expected.get(r).push(`${s.name}:${n}`);
            }
          }
        }
        const complete = () => members.every((m) => m.rooms.every((r) => (m.got.get(r) ?? []).length >= expected.get(r).length));
        await until(complete, 15000, 20, "every message at every member").catch((e) => {
          const short = members.map((m) => `${m.name}: ${m.rooms.map((r) => `${r}=${(m.got.get(r) ?? []).length}/${expected.get(r).length}`).join(" ")}`);
          throw new Error(`${e.message}\n${short.join("\n")}`);
        });
        await sleep(500); // duplicates would arrive now
        for (const m of members) {
          for (const r of rooms) {
            const got = m.got.get(r) ?? [];
            if (m.rooms.includes(r)) assert.deepEqual([...got].sort(), [...expected.get(r)].sort(), `${m.name} in ${r}: each message once`);
            else assert.deepEqual(got, [], `${m.name} is not in ${r}`);
          }
        }
        if (mode === "streams") {
          // The stream is on the primary that owns its key's slot.
          const text = await metrics(ws[0]);
          const keys = [...text.matchAll(/^sioc_redis_stream_added_total\{stream="([^"]+)"\} (\d+)/gm)].map((x) => x[1]);
          assert.ok(keys.length >= 1, "the stream is named in the metrics");
          for (const k of keys) {
            const owner = await cluster.ownerOf(slotOf(k));
            const len = await cluster.query(owner.port, ["XLEN", k]);
            assert.ok(typeof len === "number" && len > 0, `stream ${k} on its owner ${owner.port}: XLEN ${len}`);
          }
        }
      } finally {
        pool.closeAll();
        await stopWorkers(ws);
      }
    });
  }

  it("interop: a Node socket.io server with createShardedAdapter on a node-redis cluster client", { timeout: 120000 }, async () => {
    const ws = await startWorkers("sharded", "interop-", 2);
    const port = await freePort();
    const node = spawnProcess("node-peer", [process.execPath, `${REPO_ROOT}tests/integration/fixtures/node-cluster-peer.mjs`, String(port), cluster.url, "sharded"]);
    running.add(node);
    try {
      await waitHttp(node, port, "/health", { timeoutMs: 20000, stepMs: 50, what: "node peer on the cluster" });
      const { rooms } = await roomsOnEveryPrimary("mix");
      const a = await connect(ws[0], "ia");
      const b = await connect(ws[1], "ib");
      const n = await pool.connect(`http://127.0.0.1:${port}`, { transports: ["websocket"] }, 10000);
      const clients = [
        { sock: a, name: "a", got: recorder(a) },
        { sock: b, name: "b", got: recorder(b) },
        { sock: n, name: "n", got: recorder(n) },
      ];
      for (const c of clients) for (const r of rooms) assert.deepEqual(await emitAck(c.sock, "join-room", r), { ok: true });
      // The Node adapter subscribes after the join's ack: wait until 3 servers are on each room channel.
      await until(async () => (await Promise.all(rooms.map(shardSubscribers))).every((x) => x === 3), 10000, 50,
        "two sioc workers and the Node server SSUBSCRIBEd on each room's owner");
      const expected = [];
      for (const c of clients) {
        for (const r of rooms) {
          assert.deepEqual(await emitAck(c.sock, "send-message", { roomId: r, msg: { r, s: c.name, n: 0 } }), { ok: true });
          expected.push([r, `${c.name}:0`]);
        }
      }
      // Binary from Node to sioc clients across the cluster.
      const bins = [];
      a.on("receive-message", (m) => m?.bin && bins.push(m));
      assert.deepEqual(await emitAck(n, "send-message", { roomId: rooms[2], msg: { bin: Buffer.from([7, 8, 9]) } }), { ok: true });
      await until(() => clients.every((c) => rooms.every((r) => (c.got.get(r) ?? []).length >= 3)) && bins.length >= 1, 10000, 20,
        "each message at each client").catch((e) => {
        throw new Error(`${e.message}: ${JSON.stringify(clients.map((c) => [c.name, [...c.got]]))}`);
      });
      await sleep(500);
      for (const c of clients) {
        for (const r of rooms) {
          assert.deepEqual([...(c.got.get(r) ?? [])].sort(), expected.filter(([x]) => x === r).map(([, v]) => v).sort(), `${c.name} in ${r}`);
        }
      }
      assert.equal(bins.length, 1);
      assert.ok(Buffer.from(bins[0].bin).equals(Buffer.from([7, 8, 9])), "binary intact");
    } finally {
      pool.closeAll();
      await node.stop();
      running.delete(node);
      await stopWorkers(ws);
    }
  });

  /**
   * A flow: `sender` emits send-message {r: room, s: name, n} every `periodMs`; each receiver
   * records (n, arrival time). stop() ends the sending.
   */
  function flow(sender, name, room, receivers, periodMs = 50) {
    const f = { room, name, sent: [], arrivals: receivers.map(() => []) };
    receivers.forEach((rc, i) =>
      rc.on("receive-message", (m) => {
        if (m && m.r === room && m.s === name) f.arrivals[i].push({ n: m.n, at: Date.now() });
      }),
    );
    let n = 0;
    const timer = setInterval(() => {
      f.sent.push(Date.now());
      sender.emit("send-message", { roomId: room, msg: { r: room, s: name, n: n++ } });
    }, periodMs);
    f.stop = () => clearInterval(timer);
    return f;
  }

  /** [3,4,5,9] -> "#3..#5 (sent a..b ms from t0), #9 (sent c ms from t0)". */
  function ranges(ns, sent, t0, what) {
    const out = [];
    for (let k = 0; k < ns.length; k++) {
      let j = k;
      while (j + 1 < ns.length && ns[j + 1] === ns[j] + 1) j++;
      const a = sent[ns[k]] - t0;
      const b = sent[ns[j]] - t0;
      out.push(j === k ? `#${ns[k]} (sent ${a} ms from ${what})` : `#${ns[k]}..#${ns[j]} (${j - k + 1}, sent ${a}..${b} ms from ${what})`);
      k = j;
    }
    return out.length ? out.join(", ") : "none";
  }

  /** For one receiver: duplicates, missing sequence numbers, and the longest silence between two arrivals. */
  function analyze(f, i) {
    const arr = f.arrivals[i];
    const seen = new Map();
    for (const a of arr) seen.set(a.n, (seen.get(a.n) ?? 0) + 1);
    const dups = [...seen].filter(([, k]) => k > 1).map(([n]) => n);
    const missing = [];
    for (let n = 0; n < f.sent.length; n++) if (!seen.has(n)) missing.push(n);
    let gap = { ms: 0, before: null, after: null };
    for (let k = 1; k < arr.length; k++) {
      const ms = arr[k].at - arr[k - 1].at;
      if (ms > gap.ms) gap = { ms, before: arr[k - 1].n, after: arr[k].n };
    }
    return { dups, missing, gap, count: arr.length };
  }

  it("sharded: a room's slot migrates to another primary while messages flow", { timeout: 120000 }, async (t) => {
    const ws = await startWorkers("sharded", "mig-");
    let f;
    try {
      const { rooms, owners } = await roomsOnEveryPrimary("mig");
      const room = rooms[0];
      const slot = slotOf(roomChannel(room));
      const sender = await connect(ws[0], "mig-s");
      const receivers = [await connect(ws[1], "mig-r1"), await connect(ws[2], "mig-r2"), await connect(ws[0], "mig-r0")];
      for (const c of [sender, ...receivers]) assert.deepEqual(await emitAck(c, "join-room", room), { ok: true });
      await until(async () => (await shardSubscribers(room)) === 3, 10000, 50, "subscribed before the migration");
      const dropped0 = await dropped(ws[0]);
      f = flow(sender, "mig-s", room, receivers);
      await until(() => f.arrivals.every((a) => a.length >= 10), 10000, 20, "flowing before the migration");
      const to = owners[1];
      const m = await cluster.migrateSlot(slot, to, { holdMs: 500 });
      t.diagnostic(`slot ${slot} (${roomChannel(room)}) ${m.from} -> ${m.to} in ${m.doneAt - m.startedAt} ms`);
      // Flow on until every receiver has had 3 s of deliveries after the migration.
      await until(() => f.arrivals.every((a) => a.filter((x) => x.at > m.doneAt).length >= 40), 20000, 50,
        "delivery resumes after the migration").catch((e) => {
        throw new Error(`${e.message}: ${f.arrivals.map((a) => a.filter((x) => x.at > m.doneAt).length)}`);
      });
      f.stop();
      const last = f.sent.length - 1;
      await until(() => f.arrivals.every((a) => a.some((x) => x.n === last)), 10000, 20, "the last message").catch(() => {});
      await sleep(500);
      assert.equal(await shardSubscribers(room), 3, `every worker SSUBSCRIBEd on the new owner ${to}`);
      const res = receivers.map((_, i) => analyze(f, i));
      // A publish while the slot is MIGRATING gets ASK, which would take it to the importing
      // primary where nobody is subscribed yet: the worker does not follow it and counts it.
      const counted = (await dropped(ws[0])) - dropped0;
      t.diagnostic(`publishes the sender's worker counted as unconfirmed or dropped: ${counted}`);
      res.forEach((r, i) =>
        t.diagnostic(`receiver ${i} (worker ${i === 2 ? 0 : i + 1}): ${r.count}/${f.sent.length} delivered, longest gap ${r.gap.ms} ms ` +
          `(after #${r.gap.before}, before #${r.gap.after}), missing ` +
          `${ranges(r.missing, f.sent, m.doneAt, "SETSLOT NODE")}`),
      );
      res.forEach((r, i) => {
        assert.deepEqual(r.dups, [], `receiver ${i}: no duplicates`);
        assert.ok(r.gap.ms <= MIGRATION_GAP_MS, `receiver ${i}: the delivery gap ${r.gap.ms} ms is within ${MIGRATION_GAP_MS} ms`);
        // Whatever is lost was sent within the gap, or counted by the sender's worker.
        const outside = r.missing.filter((n) => r.gap.before === null || n <= r.gap.before || n >= r.gap.after);
        assert.ok(outside.length <= counted, `receiver ${i}: ${outside.length} lost outside the gap (${JSON.stringify(outside)}), ${counted} counted`);
      });
    } finally {
      f?.stop();
      pool.closeAll();
      await stopWorkers(ws);
    }
  });

  /** Polls /ready on every worker every 50 ms; records {t (request start), ok[], body[]}. */
  function watchReady(ws) {
    const log = [];
    let on = true;
    const loop = (async () => {
      while (on) {
        const t = Date.now();
        const rs = await Promise.all(ws.map((w) => httpGet(w.port, "/ready", { timeoutMs: 1000 })));
        log.push({ t, ok: rs.map((r) => r.status === 200), body: rs.map((r) => r.body) });
        await sleep(Math.max(0, 50 - (Date.now() - t)));
      }
    })();
    return {
      log,
      async stop() {
        on = false;
        await loop;
      },
      /** The first poll started at or after `t0` that found every worker ready. */
      readyAt: (t0) => log.find((e) => e.t >= t0 && e.ok.every(Boolean))?.t ?? null,
    };
  }

  /**
   * The primary to break: the owner of the first room's channel (sharded), the primary the
   * classic subscriptions are on (PUBSUB NUMSUB of the request channel, node-local in a
   * cluster), the owner of the stream (streams).
   */
  async function victimOf(mode, w, firstRoomOwner) {
    if (mode === "sharded") return firstRoomOwner;
    if (mode === "streams") {
      const keys = [...(await metrics(w)).matchAll(/^sioc_redis_stream_added_total\{stream="([^"]+)"\}/gm)].map((x) => x[1]);
      assert.equal(keys.length, 1, "one stream");
      return (await cluster.ownerOf(slotOf(keys[0]))).port;
    }
    const counts = await Promise.all((await cluster.primaries()).map(async (p) => {
      const r = await cluster.query(p.port, ["PUBSUB", "NUMSUB", `${KEY}-request#/#`]);
      return { port: p.port, n: Array.isArray(r) ? Number(r[1]) : 0 };
    }));
    const best = counts.sort((a, b) => b.n - a.n)[0];
    assert.ok(best.n > 0, `classic subscriptions found on a primary: ${JSON.stringify(counts)}`);
    return best.port;
  }

  /**
   * Three workers in `mode`; on worker 0 a sender per room (a room on each primary, one
   * message every 50 ms each); receivers on workers 1 and 2. `disrupt(victimPort)` breaks
   * a primary (victimOf) and resolves {startedAt, promotedAt, promotedPort, what}. Then:
   * ready again within the goal (`whileDown(watch)` checks the /ready answers of the
   * outage), every message delivered once or counted as dropped by the sending worker,
   * fresh messages exactly once everywhere.
   */
  async function underLoad(t, prefix, disrupt, { mode = "sharded", whileDown = null, atSwitchMs = 0 } = {}) {
    const ws = await startWorkers(mode, `${prefix}-`, 3, { "log-level": "info" });
    const watch = watchReady(ws);
    let flows = [];
    try {
      const { rooms, owners } = await roomsOnEveryPrimary(prefix);
      const sender = await connect(ws[0], `${prefix}-s`);
      const receivers = [await connect(ws[1], `${prefix}-r1`), await connect(ws[2], `${prefix}-r2`)];
      for (const c of [sender, ...receivers]) for (const r of rooms) assert.deepEqual(await emitAck(c, "join-room", r), { ok: true });
      if (mode === "sharded") await until(async () => (await Promise.all(rooms.map(shardSubscribers))).every((x) => x === 3), 10000, 50, "subscribed");
      const dropped0 = await Promise.all(ws.map(dropped));
      flows = rooms.map((r) => flow(sender, `${prefix}-s`, r, receivers));
      await until(() => flows.every((f) => f.arrivals.every((a) => a.length >= 10)), 10000, 20, "flowing before the failure");

      const victim = await victimOf(mode, ws[0], owners[0]);
      const d = await disrupt(victim);
      // ready again within the goal after the promotion (every 50 ms poll started after it)
      await until(() => watch.readyAt(d.promotedAt) !== null, 15000, 50, "every worker ready after the promotion").catch((e) => {
        const lastPoll = watch.log.at(-1);
        throw new Error(`${e.message}; last /ready: ${JSON.stringify(lastPoll?.body)}\n${ws.map((w) => w.output().slice(-1500)).join("\n---\n")}`);
      });
      const readyAt = watch.readyAt(d.promotedAt);
      const notReady = watch.log.filter((e) => e.t < readyAt && e.ok.some((x) => !x));
      t.diagnostic(`${d.what}; replica ${d.promotedPort} promoted ${d.promotedAt - d.startedAt} ms after; ` +
        `every worker ready ${readyAt - d.promotedAt} ms after the promotion; ${notReady.length} polls saw a worker not ready`);
      if (notReady.length) t.diagnostic(`a /ready while down: ${JSON.stringify(notReady.at(-1).body.find((b, i) => !notReady.at(-1).ok[i]))}`);
      assert.ok(readyAt - d.promotedAt <= READY_GOAL_MS, `ready ${readyAt - d.promotedAt} ms after the promotion (goal ${READY_GOAL_MS} ms)`);
      whileDown?.(watch, victim);

      // Flow on for 3 s of deliveries after the promotion on every room, then stop and let the queues drain.
      await until(() => flows.every((f) => f.arrivals.every((a) => a.filter((x) => x.at > readyAt).length >= 40)), 30000, 50,
        "delivery on every room after the failover").catch((e) => {
        const counts = flows.map((f, i) => `${f.room}@${owners[i]}: ${f.arrivals.map((a) => a.filter((x) => x.at > readyAt).length)}`);
        throw new Error(`${e.message}: ${counts.join(", ")}\n${ws.map((w) => w.output().slice(-1500)).join("\n---\n")}`);
      });
      for (const f of flows) f.stop();
      const settled = async () => {
        const drop = (await Promise.all(ws.map(dropped))).reduce((s, v, i) => s + v - dropped0[i], 0);
        const missing = flows.reduce((s, f) => s + f.arrivals.reduce((x, _, i) => x + analyze(f, i).missing.length, 0), 0);
        return { drop, missing };
      };
      await until(async () => (await settled()).missing === 0, 10000, 50, "all delivered").catch(() => {});
      await sleep(500);
      const { drop } = await settled();
      // Everything is measured and printed first, then checked.
      const perReceiver = receivers.map(() => 0);
      const atSwitch = receivers.map(() => 0);
      const dups = [];
      for (const [k, f] of flows.entries()) {
        for (let i = 0; i < receivers.length; i++) {
          const r = analyze(f, i);
          // `atSwitchMs`: at most one message per room sent within that long after the
          // promotion may be missing uncounted (the README's limit for a manual failover).
          const sw = r.missing.filter((n) => Math.abs(f.sent[n] - d.promotedAt) <= atSwitchMs);
          const allowed = Math.min(sw.length, atSwitchMs > 0 ? 1 : 0);
          atSwitch[i] += allowed;
          perReceiver[i] += r.missing.length - allowed;
          if (r.dups.length) dups.push(`${f.room} receiver ${i}: ${JSON.stringify(r.dups)}`);
          t.diagnostic(`${f.room}@${owners[k]}${owners[k] === victim ? " (the failed primary)" : ""} receiver ${i} (worker ${i + 1}): ` +
            `${r.count}/${f.sent.length} delivered, longest gap ${r.gap.ms} ms, missing ` +
            `${ranges(r.missing, f.sent, d.promotedAt, "the promotion")}`);
        }
      }
      const missingTotal = perReceiver.reduce((a, b) => a + b, 0);
      t.diagnostic(`publishes counted as dropped: ${drop}; missing deliveries: ${missingTotal}; ` +
        `missing at the switch (allowed): ${atSwitch.join(", ")}`);
      if (missingTotal > drop) ws.forEach((w, i) => t.diagnostic(`worker ${i} log:\n${w.output().slice(-3000)}`));
      assert.deepEqual(dups, [], "no duplicates");
      // Each publish the worker dropped may be missing once at each receiver.
      for (let i = 0; i < receivers.length; i++) {
        assert.ok(perReceiver[i] <= drop, `receiver ${i} (worker ${i + 1}): ${perReceiver[i]} missing, ${drop} counted as dropped: ` +
          `${perReceiver[i] - drop} lost silently`);
      }

      // Afterwards: exactly once on every room, from each worker.
      const fresh = rooms.map(() => [[], []]);
      receivers.forEach((rc, i) => rc.on("receive-message", (m) => m?.fresh !== undefined && fresh[rooms.indexOf(m.r)][i].push(m.fresh)));
      for (const r of rooms) for (let k = 0; k < 5; k++) assert.deepEqual(await emitAck(sender, "send-message", { roomId: r, msg: { r, fresh: k } }), { ok: true });
      await until(() => fresh.every((x) => x.every((l) => l.length >= 5)), 10000, 20, "fresh messages after the failover");
      await sleep(300);
      for (const x of fresh) for (const l of x) assert.deepEqual(l, [0, 1, 2, 3, 4], "exactly once, in order");
      return { d, watch, notReady };
    } finally {
      for (const f of flows) f.stop();
      await watch.stop();
      pool.closeAll();
      await stopWorkers(ws);
    }
  }

  it("sharded: a manual CLUSTER FAILOVER under load", { timeout: 180000 }, async (t) => {
    try {
      await underLoad(t, "mfo", async (victimPort) => {
        const rep = (await cluster.replicas()).find((r) => r.primaryPort === victimPort);
        assert.ok(rep, `a replica of ${victimPort}`);
        const startedAt = Date.now();
        const r = await cluster.failover(rep.port);
        return { startedAt, promotedAt: r.promotedAt, promotedPort: rep.port, what: `CLUSTER FAILOVER on ${rep.port} (primary ${victimPort})` };
      }, { atSwitchMs: 100 });
    } finally {
      await cluster.waitHealthy(20000);
    }
  });

  /** While the killed primary was down, some /ready answer of a worker that was not ready named it. */
  const namesKilled = (watch, port) => {
    const down = watch.log.filter((e) => e.ok.some((x) => !x));
    assert.ok(down.length > 0, "the workers were not ready while the primary was down");
    assert.ok(down.some((e) => e.body.some((b, i) => !e.ok[i] && b.includes(`127.0.0.1:${port}`))),
      `a /ready answer while not ready names 127.0.0.1:${port}: ${JSON.stringify(down.at(-1).body)}`);
  };

  for (const mode of ["sharded", "classic", "streams"]) {
    it(`${mode}: kill -9 of a primary under load`, { timeout: 180000 }, async (t) => {
      let killed = null;
      try {
        await underLoad(t, `kill-${mode}`, async (victimPort) => {
          const k = await cluster.killPrimary(victimPort);
          killed = victimPort;
          const p = await k.promoted();
          return { startedAt: k.killedAt, promotedAt: p.promotedAt, promotedPort: p.port, what: `kill -9 of primary ${victimPort}` };
        }, { mode, whileDown: namesKilled });
      } finally {
        if (killed !== null) {
          await cluster.restart(killed);
          await cluster.waitHealthy(30000, "killed node back as a replica");
        }
      }
    });
  }
});
