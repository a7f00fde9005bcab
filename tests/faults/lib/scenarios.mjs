// The fault scenarios. Each one builds its cluster (Redis, workers, maybe
// the proxy) from scratch on free 127.0.0.1 ports, runs the ledger through
// the fault, stops every process it started by PID and returns a result for
// report.mjs: what was done, what was measured, the problems found. The
// same functions serve the quick CI subset (tests/integration/faults-quick)
// and the full suite (tests/faults/*.test.mjs) with different sizes.

import { io } from "socket.io-client";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, rmSync, readdirSync, copyFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  startWorker, startProxy, startRedisServer, httpGet, parseMetrics, proxyWorkerUp, proxyWorkerSessions, proxyError,
  freePort, sleep, until, HOST, REPO_ROOT, TEST_SECRET, logsDir, proxyCommand,
} from "./procs.mjs";
import { Ledger, SioPublisher, EmitterPublisher, ClientHost, LocalClients, statusAll, collectAll, Sampler, check, checkHosts, now, percentile } from "./ledger.mjs";
import { makeToken } from "../../integration/lib/token.mjs";
import { startRedisCluster } from "../../lib/redis-cluster.mjs";
import { Verdict } from "./report.mjs";

const range = (n) => Array.from({ length: n }, (_, i) => i);
const r0 = (x) => (Number.isFinite(x) ? Math.round(x) : x);
const sumMetric = (ms, key) => ms.reduce((a, m) => a + (m.get(key) ?? 0), 0);

/** 127.1.x.y: many distinct loopback source addresses, so the proxy's address hash spreads clients. */
export const loopbackAddr = (i) => `127.1.${Math.floor(i / 250) % 250}.${2 + (i % 250)}`;

/** `redis` / `redisUrl`: a Redis started by the caller (sampled, stopped by stopCluster) and the
 * URL the workers and the proxy get (a Sentinel URL); by default one redis-server of its own.
 * `handoff`: every worker announces a hand-off socket, so the proxy passes websockets on. */
export async function startCluster({ n = 3, proxy = false, workerFlags = {}, proxyFlags = {}, proxyPort, adminPort, redis, redisUrl, handoff = false } = {}) {
  const c = { workers: [], redis: null, proxy: null };
  c.redis = redis ?? (await startRedisServer());
  const url = redisUrl ?? c.redis.url;
  if (handoff) c.handoffDir = mkdtempSync(path.join(tmpdir(), "sioc-faults-handoff-"));
  try {
    for (const i of range(n)) {
      const hf = handoff ? { "handoff-path": path.join(c.handoffDir, `w${i + 1}.sock`) } : {};
      c.workers.push(await startWorker({ id: `w${i + 1}`, flags: { "redis-url": url, ...hf, ...workerFlags } }));
    }
    await until(async () => (await Promise.all(c.workers.map((w) => w.ready()))).every(Boolean), 15000, 50, "workers ready");
    if (proxy) {
      // Thousands of clients behind a few loopback addresses: no per-address handshake rate.
      c.proxy = await startProxy({ flags: { "redis-url": url, "max-handshake-rate-per-ip": 0, ...proxyFlags }, port: proxyPort, adminPort });
      await until(async () => (await c.proxy.metrics()).get("sioc_proxy_workers_up") === n, 15000, 50, "proxy sees every worker");
    }
  } catch (e) {
    await stopCluster(c);
    throw e;
  }
  c.sampler = new Sampler({ redisPort: c.redis.port });
  for (const w of c.workers) c.sampler.watch(w.id, () => (w.exitInfo ? 0 : w.pid));
  if (c.proxy) c.sampler.watch("proxy", () => (c.proxy.exitInfo ? 0 : c.proxy.pid));
  c.sampler.watch("redis", () => c.redis.pid);
  return c;
}

export async function stopCluster(c) {
  c.sampler?.stop();
  if (c.proxy) await c.proxy.stop();
  await Promise.all(c.workers.map((w) => w.stop()));
  if (c.redis) await c.redis.stop();
  if (c.handoffDir) rmSync(c.handoffDir, { recursive: true, force: true });
}

/** Polls /ready of every worker; records each transition [t, ready]. */
function readyWatcher(workers, stepMs = 50) {
  const st = workers.map((w) => ({ id: w.id, changes: [], last: null }));
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = now();
      const rs = await Promise.all(workers.map((w) => (w.exitInfo ? false : w.ready())));
      rs.forEach((r, i) => {
        if (r !== st[i].last) {
          st[i].changes.push([t, r]);
          st[i].last = r;
        }
      });
      await sleep(stepMs);
    }
  })();
  return {
    st,
    async stop() {
      running = false;
      await loop;
    },
    firstAfter(i, t, value) {
      const c = st[i].changes.find(([tc, r]) => tc >= t && r === value);
      return c ? c[0] : null;
    },
  };
}

function makePublishers(ledger, { rooms, urls, intervalMs, pad = 0, emitter = null }) {
  const pubs = [];
  for (const [ri, room] of rooms.entries())
    for (const [ui, u] of urls.entries()) pubs.push(new SioPublisher(ledger, { id: `p${ri}-${u.id}`, url: u.url, room, intervalMs, pad }));
  let em = null;
  if (emitter) em = new EmitterPublisher(ledger, { id: "emitter", redisUrl: emitter.redisUrl, room: rooms[0], intervalMs });
  return {
    all: pubs,
    emitter: em,
    async ready() {
      await Promise.all(pubs.map((p) => p.connected()));
      if (em) await em.connect();
    },
    start() {
      for (const p of pubs) p.start();
      em?.start();
    },
    stop() {
      for (const p of pubs) p.stop();
      em?.stop();
    },
    async close() {
      for (const p of pubs) p.close();
      await em?.close();
    },
  };
}

function ledgerMeasures(ledger, res) {
  const t = ledger.totals();
  return {
    "published (acked)": t.ok,
    "published, fate unknown (no ack)": t.unknown,
    "deliveries expected / made": `${res.expected} / ${res.deliveries}`,
    "lost silently": res.silentLoss,
    [`lost at a visible disconnect (tail of at most ${res.tailGraceMs} ms)`]: res.lostAtDisconnect,
    "lost in a declared outage window (cross-worker)": res.lostExcused,
    "duplicates / reordered": `${res.duplicates} / ${res.reordered}`,
    "latency p50 / p99 / max (ms)": `${res.latency.p50} / ${res.latency.p99} / ${res.latency.max}`,
  };
}

function ledgerProblems(v, res) {
  v.check(res.silentLoss === 0, `${res.silentLoss} silent losses, e.g. ${JSON.stringify(res.examples.filter((e) => e.kind === "silent-loss").slice(0, 3))}`);
  v.check(res.duplicates === 0, `${res.duplicates} duplicates`);
  v.check(res.reordered === 0, `${res.reordered} reordered`);
  v.check(res.foreign === 0, `${res.foreign} messages from rooms the client is not in`);
  v.check(res.deliveries > 0, "no deliveries at all");
}

function procMeasures(sampler, names) {
  const s = sampler.summary();
  const out = {};
  for (const n of names) if (s[n]) out[`${n} RSS start / peak / end (KiB)`] = `${s[n].rssStartKiB} / ${s[n].rssPeakKiB} / ${s[n].rssEndKiB}`;
  for (const n of names) if (s[n]) out[`${n} fds start / peak / end`] = `${s[n].fdsStart} / ${s[n].fdsPeak} / ${s[n].fdsEnd}`;
  const rs = sampler.redisSummary();
  if (rs) {
    out["Redis client output memory peak, CLIENT LIST omem (all / one client, bytes)"] = `${rs.omemPeakBytes} / ${rs.omemMaxClientBytes}`;
    out["Redis INFO clients: client_recent_max_output_buffer peak (bytes) / clients peak"] = `${rs.infoRecentMaxOutputPeak} / ${rs.clientsPeak}`;
  }
  return out;
}

/** Up to 4 clients whose last session is not joined, described for a problem report. */
function notBack(records, t0) {
  return records
    .filter((r) => {
      const l = r.sessions[r.sessions.length - 1];
      return !l || !l.tj || l.td;
    })
    .slice(0, 4)
    .map((r) => {
      const l = r.sessions[r.sessions.length - 1];
      const rel = (t) => (t ? r0(t - t0) : null);
      return { id: r.id, sessions: r.sessions.length, last: l ? { w: l.w, tc: rel(l.tc), tj: rel(l.tj), td: rel(l.td), why: l.why, joinFails: l.joinFails } : null, errors: r.errors.slice(-2).map(([t, e]) => `${rel(t)}: ${e}`) };
    });
}

async function waitJoined(hosts, total, timeoutMs, label) {
  let last;
  await until(async () => {
    last = await statusAll(hosts);
    return last.joined === total;
  }, timeoutMs, 100, label).catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(last)}`);
  });
  return last;
}

function splitHosts(configs, nHosts, local = false) {
  const hosts = range(nHosts).map((i) => (local ? new LocalClients() : new ClientHost(`clients-${i}`)));
  const parts = hosts.map(() => []);
  configs.forEach((c, i) => parts[i % nHosts].push(c));
  return { hosts, start: () => Promise.all(hosts.map((h, i) => h.start(parts[i]))) };
}

// ---------------------------------------------------------------------------
// Redis restarted (SIGTERM / SIGKILL) or frozen (SIGSTOP), with the workers'
// classic adapter (PSUBSCRIBE, PUBLISH) or the sharded one (SSUBSCRIBE per
// room, SPUBLISH; --adapter-mode sharded)

const IN_FLIGHT_MS = 250;

/** The Redis pub/sub state of the workers after recovery, and the problems with it. */
async function adapterSubscriptions(redis, { sharded, roomNames, roomWorkers }) {
  const list = ((await redis.query(["CLIENT", "LIST"])) || "").split("\n");
  const count = (field) => list.filter((l) => new RegExp(`\\b${field}=[1-9]`).test(l)).length;
  if (!sharded) {
    const psub = count("psub");
    return { measured: { "pattern subscribers in Redis after recovery": psub }, problems: psub === 3 ? [] : [`${psub} pattern-subscribed Redis clients after recovery (expected 3, one per worker)`] };
  }
  // per worker: the namespace's main and per-server channels, and one channel per room with local members
  const ssubs = list.map((l) => /\bssub=(\d+)/.exec(l)).filter((m) => m && m[1] !== "0").map((m) => Number(m[1])).sort((a, b) => a - b);
  const expectSsubs = roomWorkers.map((rs) => 2 + rs.size).sort((a, b) => a - b);
  const reply = await redis.query(["PUBSUB", "SHARDNUMSUB", ...roomNames.map((r) => `socket.io#/#${r}#`)]);
  const perRoom = Object.fromEntries(roomNames.map((r, i) => [r, Array.isArray(reply) ? reply[2 * i + 1] : null]));
  const expectRoom = Object.fromEntries(roomNames.map((r) => [r, roomWorkers.filter((rs) => rs.has(r)).length]));
  const problems = [];
  if (JSON.stringify(ssubs) !== JSON.stringify(expectSsubs)) problems.push(`shard channels per subscribed Redis client after recovery ${JSON.stringify(ssubs)} (expected ${JSON.stringify(expectSsubs)}: main + per-server + one per room with local members, per worker)`);
  if (JSON.stringify(perRoom) !== JSON.stringify(expectRoom)) problems.push(`PUBSUB SHARDNUMSUB of the room channels after recovery ${JSON.stringify(perRoom)} (expected ${JSON.stringify(expectRoom)})`);
  return {
    measured: {
      "shard channels of each sharded-subscribed Redis client after recovery": ssubs.join(", "),
      "subscribers of each room channel after recovery (PUBSUB SHARDNUMSUB)": perRoom,
    },
    problems,
  };
}

export async function redisFault({ signal = "SIGKILL", mode = "classic", clients = 90, rooms = 3, intervalMs = 100, downMs = 2000, freezeMs = 5000, warmMs = 2000, afterMs = 3000, hosts: nHosts = 1 } = {}) {
  const v = new Verdict();
  const sharded = mode === "sharded";
  if (!sharded && mode !== "classic") throw new Error(`redisFault: unknown adapter mode ${mode}`);
  const c = await startCluster({ n: 3, workerFlags: sharded ? { "adapter-mode": "sharded" } : {} });
  const ledger = new Ledger();
  const roomNames = range(rooms).map((i) => `room-${i}`);
  // classic: client i on worker i % 3 in room i % rooms; sharded: room (i / 3) % rooms, so
  // each worker has members in every room and re-subscribes one channel per room
  const roomOf = (i) => roomNames[(sharded ? Math.floor(i / 3) : i) % rooms];
  const configs = range(clients).map((i) => ({ id: `c${i}`, url: c.workers[i % 3].url, rooms: [roomOf(i)] }));
  const roomWorkers = c.workers.map((_, wi) => new Set(configs.filter((_, i) => i % 3 === wi).map((cf) => cf.rooms[0])));
  const { hosts, start } = splitHosts(configs, nHosts);
  // @socket.io/redis-emitter (5.x) only PUBLISHes on the classic channels: no sharded variant
  const pubs = makePublishers(ledger, { rooms: roomNames, urls: c.workers, intervalMs, emitter: sharded ? null : { redisUrl: c.redis.url } });
  let watcher;
  try {
    for (const h of hosts) c.sampler.watch(`clients-${hosts.indexOf(h)}`, h.pid);
    await start();
    await waitJoined(hosts, clients, 20000, "clients joined");
    await pubs.ready();
    c.sampler.start();
    pubs.start();
    await sleep(warmMs);
    const mBefore = await Promise.all(c.workers.map((w) => w.metrics()));
    const fdsBefore = c.workers.map((w) => w.fds());
    watcher = readyWatcher(c.workers);
    await sleep(100);
    const tF = now();
    if (signal === "SIGSTOP") {
      c.redis.pause();
      await sleep(freezeMs);
      c.redis.resume();
    }
    let tStarting = now();
    if (signal !== "SIGSTOP") {
      await c.redis.stop(signal);
      await sleep(downMs);
      // a worker retries at once and may be ready again before start() has seen Redis answer
      tStarting = now();
      await c.redis.start();
    }
    const tBack = now();
    await until(async () => watcher.st.every((s) => s.last === true && s.changes.some(([t]) => t >= tStarting)), 15000, 20, "workers ready again").catch(() => {});
    const tReds = c.workers.map((_, i) => watcher.firstAfter(i, tF, false));
    const tGreens = c.workers.map((_, i) => watcher.firstAfter(i, tStarting, true));
    const tAllGreen = Math.max(...tGreens.map((t) => t ?? Infinity));
    await sleep(afterMs);
    pubs.stop();
    const tEnd = now();
    await sleep(1500);
    await watcher.stop();
    const records = await collectAll(hosts);
    // Two windows: from the fault until the first worker noticed (publishes still went out
    // on a link that was already dead), then until the last worker was ready again.
    const tFirstRed = Math.min(...tReds.map((t) => t ?? Infinity));
    const tNoticed = Number.isFinite(tFirstRed) ? tFirstRed : tF;
    const window = { from: tNoticed, to: Number.isFinite(tAllGreen) ? tAllGreen + 60 : tEnd, label: "outage" };
    // A cross-worker message sent just before the fault may be inside Redis (or on its way
    // to it) when Redis stops: the first window opens IN_FLIGHT_MS before the fault.
    const windows = [{ from: tF - IN_FLIGHT_MS, to: tNoticed, label: "undetected" }, window];
    const res = check(ledger, records, { tEnd, excused: windows, latencyWindows: { before: [0, tF], after: [window.to, tEnd] } });
    const mAfter = await Promise.all(c.workers.map((w) => w.metrics()));
    const subs = await adapterSubscriptions(c.redis, { sharded, roomNames, roomWorkers });
    const detect = tReds.map((t) => (t ? r0(t - tF) : null));
    const resub = tGreens.map((t) => (t ? r0(Math.max(0, t - tBack)) : null));
    const dropped = sumMetric(mAfter, "sioc_redis_publish_dropped_total") - sumMetric(mBefore, "sioc_redis_publish_dropped_total");
    const detectLimit = signal === "SIGSTOP" ? 4500 : 1500;
    v.check(detect.every((d) => d !== null && d <= detectLimit), `/ready red after ${JSON.stringify(detect)} ms (limit ${detectLimit})`);
    v.check(resub.every((d) => d !== null && d <= 2000), `ready again ${JSON.stringify(resub)} ms after Redis came back (limit 2000)`);
    v.check(res.windowDeliveries.outage.local + res.windowDeliveries.undetected.local > 0, "no same-worker delivery during the outage");
    for (const p of subs.problems) v.check(false, p);
    const fdsAfter = c.workers.map((w) => w.fds());
    v.check(fdsAfter.every((f, i) => f <= fdsBefore[i] + 4), `worker fds ${JSON.stringify(fdsBefore)} -> ${JSON.stringify(fdsAfter)}`);
    ledgerProblems(v, res);
    const what = signal === "SIGSTOP" ? `frozen with SIGSTOP for ${freezeMs} ms, then SIGCONT` : `stopped with ${signal}, restarted ${downMs} ms later`;
    const n = signal === "SIGTERM" ? 1 : signal === "SIGKILL" ? 2 : 3;
    const adapterDid = sharded
      ? `3 workers on one Redis (sharded adapter, --adapter-mode sharded: SSUBSCRIBE to one channel per room with local members, SPUBLISH), ${clients} clients connected straight to the workers in ${rooms} rooms (every worker has members in every room), ${pubs.all.length} socket.io publishers (one per room and worker, every ${intervalMs} ms). No @socket.io/redis-emitter publisher: the emitter (5.1.0) publishes only with PUBLISH on the classic channels and has no sharded mode, so sharded workers never see its messages.`
      : `3 workers on one Redis (classic adapter), ${clients} clients connected straight to the workers in ${rooms} rooms, ${pubs.all.length} socket.io publishers (one per room and worker, every ${intervalMs} ms) and one @socket.io/redis-emitter publisher.`;
    return {
      id: sharded ? `redis-sharded-${signal.toLowerCase()}` : `redis-${signal.toLowerCase()}`,
      group: "fault",
      seq: sharded ? 3 + n / 10 : n,
      title: (signal === "SIGSTOP" ? "Redis frozen (SIGSTOP) past the liveness timeout" : `Redis restarted (${signal})`) + (sharded ? " (sharded adapter)" : ""),
      short: `3 workers${sharded ? " (sharded adapter)" : ""}, ${clients} clients, ${pubs.all.length} publishers${sharded ? " (no redis-emitter: it has no sharded mode)" : " + redis-emitter"}; Redis ${what}`,
      did: `${adapterDid} After ${warmMs} ms Redis was ${what}; then ${afterMs} ms of traffic after every worker was ready again. Cross-worker publications from ${IN_FLIGHT_MS} ms before the fault (in flight) until the last /ready turned green are the documented at-most-once window; everything else, and every same-worker delivery, must arrive.`,
      summary: `/ready red after ${detect.join("/")} ms; ready again ${resub.join("/")} ms after Redis returned; lost silently ${res.silentLoss}; cross-worker lost in outage ${res.lostExcused} (dropped publishes counted: ${dropped}); local deliveries during outage ${res.windowDeliveries.outage.local + res.windowDeliveries.undetected.local}`,
      measured: {
        ...ledgerMeasures(ledger, res),
        "/ready red after the fault, per worker (ms)": detect.join(", "),
        "ready again after Redis came back, per worker (ms)": resub.join(", "),
        "cross-worker deliveries lost before the first /ready went red / after, until the last was green again": `${res.lostByWindow.undetected} / ${res.lostByWindow.outage}`,
        "same-worker / cross-worker deliveries of messages sent in the outage": `${res.windowDeliveries.outage.local + res.windowDeliveries.undetected.local} / ${res.windowDeliveries.outage.cross + res.windowDeliveries.undetected.cross}`,
        "sioc_redis_publish_dropped_total (sum of workers)": dropped,
        "latency p99 before / after (ms)": `${res.latencyWindows.before.p99} / ${res.latencyWindows.after.p99}`,
        ...subs.measured,
        ...procMeasures(c.sampler, ["w1", "w2", "w3", "redis"]),
      },
      problems: v.problems,
    };
  } finally {
    if (watcher) await watcher.stop();
    pubs.stop();
    await pubs.close();
    await Promise.all(hosts.map((h) => h.stop()));
    await stopCluster(c);
  }
}

// ---------------------------------------------------------------------------
// Sentinel failover: the primary killed, the replica promoted, the workers follow

const SENTINEL_MASTER = "sioc-primary";

/** A primary, its replica and three sentinels (down-after 1000 ms) on free ports; files in `dir`. */
/** After a Redis failover (the fault at tF, the promotion at tPromoted): waits for the workers to
 * be ready again, runs the traffic `afterMs` longer, and checks the ledger with the
 * documented windows (in flight before the fault was noticed; the outage until the last
 * /ready turned green). Returns the check, the workers' metrics after, and the timings in ms:
 * /ready red after the fault and green after the promotion, per worker, and the promotion. */
async function afterFailover({ c, watcher, tF, tPromoted, afterMs, pubs, hosts, ledger }) {
  await until(async () => watcher.st.every((s) => s.last === true && s.changes.some(([t]) => t >= tF)), 15000, 20, "workers ready again").catch(() => {});
  const tReds = c.workers.map((_, i) => watcher.firstAfter(i, tF, false));
  const tGreens = c.workers.map((_, i) => watcher.firstAfter(i, tF + 1, true));
  const tAllGreen = Math.max(...tGreens.map((t) => t ?? Infinity));
  await sleep(afterMs);
  pubs.stop();
  const tEnd = now();
  await sleep(1500);
  await watcher.stop();
  const records = await collectAll(hosts);
  const tFirstRed = Math.min(...tReds.map((t) => t ?? Infinity));
  const tNoticed = Number.isFinite(tFirstRed) ? tFirstRed : tF;
  const window = { from: tNoticed, to: Number.isFinite(tAllGreen) ? tAllGreen + 60 : tEnd, label: "outage" };
  const windows = [{ from: tF - IN_FLIGHT_MS, to: tNoticed, label: "undetected" }, window];
  const res = check(ledger, records, { tEnd, excused: windows, latencyWindows: { before: [0, tF], after: [window.to, tEnd] } });
  const mAfter = await Promise.all(c.workers.map((w) => w.metrics()));
  const detect = tReds.map((t) => (t ? r0(t - tF) : null));
  const promoted = tPromoted ? r0(tPromoted - tF) : null;
  const resub = tGreens.map((t) => (t && tPromoted ? r0(t - tPromoted) : null));
  return { res, mAfter, detect, promoted, resub };
}

async function startSentinelSet(dir) {
  const s = { primary: null, replica: null, sentinels: [] };
  s.primary = await startRedisServer({ extraArgs: ["--dir", dir] });
  s.replica = await startRedisServer({ extraArgs: ["--replicaof", HOST, String(s.primary.port), "--dir", dir] });
  await until(async () => /master_link_status:up/.test(String(await s.replica.query(["INFO", "replication"]))), 10000, 50, "replica in sync");
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = path.join(dir, `sentinel-${port}.conf`);
    writeFileSync(conf, [`sentinel monitor ${SENTINEL_MASTER} ${HOST} ${s.primary.port} 2`, `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
      `sentinel failover-timeout ${SENTINEL_MASTER} 3000`, ""].join("\n"));
    s.sentinels.push(await startRedisServer({ port, conf, extraArgs: ["--sentinel"] }));
  }
  const known = async (x) => {
    const r = await x.query(["SENTINEL", "MASTER", SENTINEL_MASTER]);
    const o = {};
    if (Array.isArray(r)) for (let i = 0; i + 1 < r.length; i += 2) o[r[i]] = r[i + 1];
    return o["num-slaves"] === "1" && o["num-other-sentinels"] === "2";
  };
  await until(async () => (await Promise.all(s.sentinels.map(known))).every(Boolean), 15000, 100, "sentinels know the replica and each other");
  s.url = `redis-sentinel://${s.sentinels.map((x) => `${HOST}:${x.port}`).join(",")}/${SENTINEL_MASTER}`;
  return s;
}

export async function sentinelFailover({ clients = 150, rooms = 3, intervalMs = 100, warmMs = 3000, afterMs = 4000, hosts: nHosts = 1 } = {}) {
  const v = new Verdict();
  const dir = mkdtempSync(path.join(tmpdir(), "sioc-faults-sentinel-"));
  let set = null;
  let c = null;
  let hosts = [];
  let pubs = null;
  let watcher;
  try {
    set = await startSentinelSet(dir);
    // The replica is the Redis that stays: sampled, and stopped with the cluster.
    c = await startCluster({ n: 3, proxy: true, redis: set.replica, redisUrl: set.url, proxyFlags: { "discovery-interval": 200 } });
    const ledger = new Ledger();
    const roomNames = range(rooms).map((i) => `room-${i}`);
    const configs = range(clients).map((i) => ({ id: `c${i}`, url: c.workers[i % 3].url, rooms: [roomNames[i % rooms]] }));
    const split = splitHosts(configs, nHosts);
    hosts = split.hosts;
    pubs = makePublishers(ledger, { rooms: roomNames, urls: c.workers, intervalMs });
    for (const h of hosts) c.sampler.watch(`clients-${hosts.indexOf(h)}`, h.pid);
    await split.start();
    await waitJoined(hosts, clients, 20000, "clients joined");
    await pubs.ready();
    c.sampler.start();
    pubs.start();
    await sleep(warmMs);
    const mBefore = await Promise.all(c.workers.map((w) => w.metrics()));
    watcher = readyWatcher(c.workers);
    await sleep(100);
    const tF = now();
    await set.primary.stop("SIGKILL");
    let tPromoted = null;
    await until(async () => {
      const addr = await set.sentinels[0].query(["SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER], 300);
      if (Array.isArray(addr) && Number(addr[1]) === set.replica.port) tPromoted = now();
      return tPromoted !== null;
    }, 20000, 20, "replica promoted").catch(() => {});
    const { res, mAfter, detect, promoted, resub } = await afterFailover({ c, watcher, tF, tPromoted, afterMs, pubs, hosts, ledger });
    const dropped = sumMetric(mAfter, "sioc_redis_publish_dropped_total") - sumMetric(mBefore, "sioc_redis_publish_dropped_total");
    const pm = await c.proxy.metrics();
    v.check(promoted !== null, "the sentinels promoted the replica");
    v.check(detect.every((d) => d !== null && d <= 1500), `/ready red after ${JSON.stringify(detect)} ms (limit 1500)`);
    v.check(resub.every((d) => d !== null && d <= 2000), `ready again ${JSON.stringify(resub)} ms after the promotion (limit 2000)`);
    v.check(pm.get("sioc_proxy_workers_up") === 3, `the proxy sees ${pm.get("sioc_proxy_workers_up")} workers after the failover`);
    ledgerProblems(v, res);
    return {
      id: "redis-sentinel-sigkill",
      group: "fault",
      seq: 3.5,
      title: "Sentinel failover: the primary killed (-9), the replica promoted",
      short: `3 workers and the proxy on redis-sentinel:// (1 primary, 1 replica, 3 sentinels, down-after 1000 ms), ${clients} clients, ${pubs.all.length} publishers; the primary killed with SIGKILL`,
      did: `One primary, one replica and three sentinels (down-after-milliseconds 1000, failover-timeout 3000); 3 workers (classic adapter) and the proxy on redis-sentinel://; ${clients} clients connected straight to the workers in ${rooms} rooms, ${pubs.all.length} socket.io publishers (one per room and worker, every ${intervalMs} ms). After ${warmMs} ms the primary was killed with SIGKILL and not restarted; the sentinels promoted the replica; then ${afterMs} ms of traffic after every worker was ready again. Cross-worker publications from ${IN_FLIGHT_MS} ms before the fault until the last /ready turned green are the documented at-most-once window (counted in sioc_redis_publish_dropped_total); everything else, and every same-worker delivery, must arrive.`,
      summary: `replica promoted ${promoted} ms after the kill; /ready red after ${detect.join("/")} ms; ready again ${resub.join("/")} ms after the promotion; lost silently ${res.silentLoss}; cross-worker lost in the outage ${res.lostExcused} (dropped publishes counted: ${dropped})`,
      measured: {
        ...ledgerMeasures(ledger, res),
        "replica promoted after the kill (ms)": promoted,
        "/ready red after the kill, per worker (ms)": detect.join(", "),
        "ready again after the promotion, per worker (ms)": resub.join(", "),
        "same-worker / cross-worker deliveries of messages sent in the outage": `${res.windowDeliveries.outage.local + res.windowDeliveries.undetected.local} / ${res.windowDeliveries.outage.cross + res.windowDeliveries.undetected.cross}`,
        "sioc_redis_publish_dropped_total (sum of workers)": dropped,
        "latency p99 before / after (ms)": `${res.latencyWindows.before.p99} / ${res.latencyWindows.after.p99}`,
        "workers the proxy sees after the failover": pm.get("sioc_proxy_workers_up"),
        ...procMeasures(c.sampler, ["w1", "w2", "w3", "redis"]),
      },
      problems: v.problems,
    };
  } finally {
    if (watcher) await watcher.stop();
    if (pubs) {
      pubs.stop();
      await pubs.close();
    }
    await Promise.all(hosts.map((h) => h.stop()));
    if (c) await stopCluster(c);
    else await set?.replica?.stop();
    for (const r of [...(set?.sentinels ?? []), set?.primary]) await r?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Redis Cluster: a primary killed under load, its replica promoted

/** 3 workers and the proxy on a 6-node Redis Cluster (3 primaries, 3 replicas); the primary
 * that owns the first room's channel is killed with SIGKILL and its replica promoted. */
export async function redisClusterFailover({ mode = "sharded", clients = 150, rooms = 3, intervalMs = 100, warmMs = 3000, afterMs = 4000 } = {}) {
  const v = new Verdict();
  let rc = null;
  let c = null;
  let hosts = [];
  let pubs = null;
  let watcher;
  try {
    rc = await startRedisCluster();
    const roomNames = range(rooms).map((i) => `room-${i}`);
    // The room's channel in sharded mode; in the other modes the namespace's channels are on
    // other slots, so the first room's slot owner is as good a victim as any primary.
    const victimPort = (await rc.ownerOf(rc.slotOf(`socket.io#/#${roomNames[0]}#`))).port;
    const survivor = (await rc.primaries()).find((p) => p.port !== victimPort);
    // One primary that stays is sampled as "redis"; the cluster is stopped below.
    const sampled = { port: survivor.port, pid: survivor.pid, url: rc.url, stop: async () => {} };
    c = await startCluster({ n: 3, proxy: true, redis: sampled, redisUrl: rc.url, workerFlags: { "adapter-mode": mode }, proxyFlags: { "discovery-interval": 200 } });
    const ledger = new Ledger();
    const configs = range(clients).map((i) => ({ id: `c${i}`, url: c.workers[i % 3].url, rooms: [roomNames[i % rooms]] }));
    const split = splitHosts(configs, 1);
    hosts = split.hosts;
    pubs = makePublishers(ledger, { rooms: roomNames, urls: c.workers, intervalMs });
    await split.start();
    await waitJoined(hosts, clients, 20000, "clients joined");
    await pubs.ready();
    c.sampler.start();
    pubs.start();
    await sleep(warmMs);
    const mBefore = await Promise.all(c.workers.map((w) => w.metrics()));
    watcher = readyWatcher(c.workers);
    await sleep(100);
    const tF = now();
    const kill = await rc.killPrimary(victimPort);
    let tPromoted = null;
    let promotedPort = null;
    await kill.promoted(20000).then((p) => { tPromoted = now(); promotedPort = p.port; }).catch(() => {});
    const { res, mAfter, detect, promoted, resub } = await afterFailover({ c, watcher, tF, tPromoted, afterMs, pubs, hosts, ledger });
    const delta = (k) => sumMetric(mAfter, k) - sumMetric(mBefore, k);
    const dropped = delta("sioc_redis_publish_dropped_total");
    const unconfirmed = delta("sioc_redis_publish_unconfirmed_total");
    const queued = delta("sioc_adapter_queued_total");
    const pm = await c.proxy.metrics();
    v.check(promoted !== null, "a replica was promoted");
    v.check(detect.every((d) => d !== null && d <= 1500), `/ready red after ${JSON.stringify(detect)} ms (limit 1500)`);
    v.check(resub.every((d) => d !== null && d <= 2000), `ready again ${JSON.stringify(resub)} ms after the promotion (limit 2000)`);
    v.check(pm.get("sioc_proxy_workers_up") === 3, `the proxy sees ${pm.get("sioc_proxy_workers_up")} workers after the failover`);
    // Nothing lost without a count: every cross-worker message lost in the windows is a
    // publish the workers counted as dropped or unconfirmed.
    v.check(res.lostExcused === 0 || dropped + unconfirmed > 0, `${res.lostExcused} cross-worker deliveries lost in the outage with no publish counted as dropped or unconfirmed`);
    ledgerProblems(v, res);
    return {
      id: `redis-cluster-${mode}-sigkill`,
      group: "fault",
      seq: 3.6,
      title: `Redis Cluster failover (${mode} adapter): a primary killed (-9), its replica promoted`,
      short: `3 workers and the proxy on a Redis Cluster (3 primaries, 3 replicas, cluster-node-timeout 1000 ms), ${mode} adapter, ${clients} clients, ${pubs.all.length} publishers; the primary of ${roomNames[0]}'s slot killed with SIGKILL`,
      did: `A Redis Cluster of 3 primaries and 3 replicas (cluster-node-timeout 1000 ms); 3 workers (--adapter-mode ${mode}) and the proxy given the seed list; ${clients} clients connected straight to the workers in ${rooms} rooms, ${pubs.all.length} socket.io publishers (one per room and worker, every ${intervalMs} ms). After ${warmMs} ms the primary that owns the slot of ${roomNames[0]}'s channel was killed with SIGKILL and not restarted; its replica was promoted by the cluster; then ${afterMs} ms of traffic after every worker was ready again. Cross-worker publications from ${IN_FLIGHT_MS} ms before the fault until the last /ready turned green are the documented at-most-once window (publishes made meanwhile wait in the outage queue; one in flight at the kill is counted in sioc_redis_publish_unconfirmed_total); everything else, and every same-worker delivery, must arrive.`,
      summary: `replica promoted ${promoted} ms after the kill; /ready red after ${detect.join("/")} ms; ready again ${resub.join("/")} ms after the promotion; lost silently ${res.silentLoss}; cross-worker lost in the outage ${res.lostExcused} (publishes queued ${queued}, dropped ${dropped}, unconfirmed ${unconfirmed})`,
      measured: {
        ...ledgerMeasures(ledger, res),
        "replica promoted after the kill (ms)": promoted,
        "promoted replica": promotedPort,
        "/ready red after the kill, per worker (ms)": detect.join(", "),
        "ready again after the promotion, per worker (ms)": resub.join(", "),
        "same-worker / cross-worker deliveries of messages sent in the outage": `${res.windowDeliveries.outage.local + res.windowDeliveries.undetected.local} / ${res.windowDeliveries.outage.cross + res.windowDeliveries.undetected.cross}`,
        "publishes queued / dropped / unconfirmed (sum of workers)": `${queued} / ${dropped} / ${unconfirmed}`,
        "latency p99 before / after (ms)": `${res.latencyWindows.before.p99} / ${res.latencyWindows.after.p99}`,
        "workers the proxy sees after the failover": pm.get("sioc_proxy_workers_up"),
        ...procMeasures(c.sampler, ["w1", "w2", "w3"]),
      },
      problems: v.problems,
    };
  } finally {
    if (watcher) await watcher.stop();
    if (pubs) {
      pubs.stop();
      await pubs.close();
    }
    await Promise.all(hosts.map((h) => h.stop()));
    if (c) await stopCluster(c);
    if (rc) await rc.stop();
  }
}

// ---------------------------------------------------------------------------
// kill -9 of one worker of three, behind the proxy

function proxiedConfigs({ n, url, rooms, prefix = "c", pollingEvery = 0, offset = 0 }) {
  return range(n).map((i) => {
    const polling = pollingEvery > 0 && i % pollingEvery === pollingEvery - 1;
    return {
      id: `${prefix}${i}`,
      url,
      rooms: [rooms[i % rooms.length]],
      transports: polling ? ["polling"] : ["websocket"],
      localAddress: polling ? undefined : loopbackAddr(i + offset),
    };
  });
}

/** The worker with the most joined clients (`st.byWorker`), and the others. */
function busiestWorker(c, st) {
  const id = Object.entries(st.byWorker).sort((a, b) => b[1] - a[1])[0][0];
  const victim = c.workers.find((w) => w.id === id);
  return { victim, others: c.workers.filter((w) => w !== victim) };
}

export async function workerKill({ clients = 150, rooms = 3, intervalMs = 100, pollingEvery = 10, warmMs = 2000, afterMs = 2000, hosts: nHosts = 1 } = {}) {
  const v = new Verdict();
  const c = await startCluster({ n: 3, proxy: true });
  const ledger = new Ledger();
  const roomNames = range(rooms).map((i) => `room-${i}`);
  const { hosts, start } = splitHosts(proxiedConfigs({ n: clients, url: c.proxy.url, rooms: roomNames, pollingEvery }), nHosts);
  let pubs = null;
  try {
    await start();
    const st0 = await waitJoined(hosts, clients, 30000, "clients joined");
    // The victim: the worker with the most clients; the publishers sit on the others.
    const { victim, others } = busiestWorker(c, st0);
    const victimId = victim.id;
    pubs = makePublishers(ledger, { rooms: roomNames, urls: others, intervalMs, emitter: { redisUrl: c.redis.url } });
    await pubs.ready();
    c.sampler.start();
    pubs.start();
    await sleep(warmMs);
    const pm0 = await c.proxy.metrics();
    const tF = now();
    victim.kill("SIGKILL");
    let tOut = null;
    await until(async () => {
      const m = await c.proxy.metrics();
      if (proxyWorkerUp(m, victimId) === 0 || proxyWorkerUp(m, victimId) === undefined) {
        tOut = now();
        return true;
      }
      return false;
    }, 10000, 20, "proxy takes the dead worker out").catch(() => {});
    await until(async () => (await statusAll(hosts)).joined === clients, 30000, 100, "clients back").catch(() => {});
    const tBack = now();
    const st1 = await statusAll(hosts);
    await sleep(afterMs);
    pubs.stop();
    const tEnd = now();
    await sleep(1500);
    const records = await collectAll(hosts);
    const pm1 = await c.proxy.metrics();
    const res = check(ledger, records, { tEnd, latencyWindows: { before: [0, tF], after: [tBack, tEnd] } });
    // The victim's clients: their session at the fault was on the victim.
    const moved = records.filter((r) => r.sessions.some((s) => s.w === victimId && s.tc < tF));
    const firstBack = moved.map((r) => {
      const i = r.sessions.findIndex((s) => s.w === victimId && s.tc < tF);
      const next = r.sessions[i + 1];
      return next && r.sessions[i].td ? { gap: next.tc - r.sessions[i].td, at: next.tc - tF, w: next.w, joined: next.tj ? next.tj - tF : null } : null;
    });
    const back = firstBack.filter(Boolean);
    const ats = back.map((b) => b.at).sort((a, b) => a - b);
    const newOnVictim = records.flatMap((r) => r.sessions).filter((s) => s.w === victimId && s.tc > tF).length;
    const sidUnknown = proxyError(pm1, "sid_unknown") - proxyError(pm0, "sid_unknown");
    const others2 = records.filter((r) => !moved.includes(r));
    const othersDisconnected = others2.filter((r) => r.sessions.some((s) => s.td && s.td > tF - 1)).length;
    const takeOut = tOut ? r0(tOut - tF) : null;
    v.check(takeOut !== null && takeOut <= 2500, `the proxy took the dead worker out after ${takeOut} ms (limit 2500)`);
    v.check(moved.length > 0, "no client was on the killed worker");
    v.check(back.length === moved.length, `${moved.length - back.length} of ${moved.length} clients of the dead worker did not reconnect: ${JSON.stringify(notBack(moved, tF))}`);
    v.check(newOnVictim === 0, `${newOnVictim} sessions placed on the dead worker`);
    v.check(othersDisconnected === 0, `${othersDisconnected} clients of the surviving workers were disconnected`);
    v.check(ats.length < 5 || ats[ats.length - 1] - ats[0] >= 300, `reconnects not spread out (jitter): ${r0(ats[0])}..${r0(ats[ats.length - 1])} ms`);
    ledgerProblems(v, res);
    const dist = {};
    for (const b of back) dist[b.w] = (dist[b.w] || 0) + 1;
    return {
      id: "worker-kill9",
      group: "fault",
      seq: 4,
      title: "kill -9 of one of 3 workers under load, behind the proxy",
      short: `${clients} clients through sioc-proxy (1 in ${pollingEvery} long-polling), publishers on the surviving workers + redis-emitter; kill -9 of the busiest worker`,
      did: `Redis, 3 workers and sioc-proxy (Redis discovery, default health checks: every 1000 ms, 2 failures). ${clients} clients connected through the proxy from distinct 127.1.x.y addresses (websocket; every ${pollingEvery}th long-polling), in ${rooms} rooms; socket.io publishers on the two surviving workers and a redis-emitter publisher. After ${warmMs} ms the worker with the most clients (${victimId}) was killed with SIGKILL. Its clients reconnect with socket.io-client's default backoff (1 s +/- 50 % jitter).`,
      summary: `out of rotation after ${takeOut} ms; ${back.length}/${moved.length} of its clients back, first ${r0(ats[0])} ms, median ${r0(percentile(ats, 50))} ms, last ${r0(ats[ats.length - 1])} ms after the kill; others lost ${res.silentLoss} silently, ${othersDisconnected} disconnected; Session ID unknown ${sidUnknown}`,
      measured: {
        ...ledgerMeasures(ledger, res),
        "clients before the kill, per worker": st0.byWorker,
        "clients after recovery, per worker": st1.byWorker,
        "proxy took the dead worker out of rotation after (ms)": takeOut,
        "clients of the dead worker / reconnected": `${moved.length} / ${back.length}`,
        "reconnected after the kill: first / median / p99 / last (ms)": `${r0(ats[0])} / ${r0(percentile(ats, 50))} / ${r0(percentile(ats, 99))} / ${r0(ats[ats.length - 1])}`,
        "where they went": dist,
        "clients of surviving workers disconnected": othersDisconnected,
        "new sessions on the dead worker": newOnVictim,
        "400 Session ID unknown at the proxy (polling requests of dead sessions)": sidUnknown,
        "latency p99 before / after (ms)": `${res.latencyWindows.before.p99} / ${res.latencyWindows.after.p99}`,
        ...procMeasures(c.sampler, ["proxy", ...c.workers.map((w) => w.id), "redis"]),
      },
      problems: v.problems,
    };
  } finally {
    pubs?.stop();
    await pubs?.close();
    await Promise.all(hosts.map((h) => h.stop()));
    await stopCluster(c);
  }
}

// ---------------------------------------------------------------------------
// Graceful drain (SIGTERM of one worker of three, behind the proxy)

function probeOnce(url, { localAddress, transports = ["websocket"] }) {
  return new Promise((resolve) => {
    const s = io(url, { forceNew: true, reconnection: false, transports, localAddress, timeout: 4000, auth: { token: makeToken({ sub: "probe" }) } });
    const done = (r) => {
      s.disconnect();
      resolve(r);
    };
    s.on("connect", () => done({ ok: true, w: (s.io.engine.id || "").split(".")[0] }));
    s.on("connect_error", (e) => done({ ok: false, err: String(e.message) }));
  });
}

export async function drain({ clients = 240, rooms = 3, intervalMs = 100, pollingEvery = 10, warmMs = 2000, afterMs = 2000, drainTimeoutMs = 10000, hosts: nHosts = 1 } = {}) {
  const v = new Verdict();
  const c = await startCluster({ n: 3, proxy: true, workerFlags: { "drain-timeout": drainTimeoutMs } });
  const ledger = new Ledger();
  const roomNames = range(rooms).map((i) => `room-${i}`);
  const configs = proxiedConfigs({ n: clients, url: c.proxy.url, rooms: roomNames, pollingEvery });
  const { hosts, start } = splitHosts(configs, nHosts);
  let pubs = null;
  try {
    await start();
    const st0 = await waitJoined(hosts, clients, 30000, "clients joined");
    const { victim, others } = busiestWorker(c, st0);
    const victimId = victim.id;
    pubs = makePublishers(ledger, { rooms: roomNames, urls: others, intervalMs, emitter: { redisUrl: c.redis.url } });
    await pubs.ready();
    // addresses that hash to the victim: new sessions from them must go elsewhere while it drains
    const rec0 = await collectAll(hosts);
    const victimAddrs = rec0
      .filter((r) => r.sessions.length && r.sessions[r.sessions.length - 1].w === victimId)
      .map((r) => configs.find((x) => x.id === r.id).localAddress)
      .filter(Boolean)
      .slice(0, 20);
    c.sampler.start();
    pubs.start();
    await sleep(warmMs);
    const pm0 = await c.proxy.metrics();
    const tF = now();
    victim.kill("SIGTERM");
    const probes = [];
    const prober = (async () => {
      for (let k = 0; now() - tF < 3000; k++) {
        const a = victimAddrs.length ? victimAddrs[k % victimAddrs.length] : undefined;
        probes.push(await probeOnce(c.proxy.url, { localAddress: a, transports: k % 4 === 3 ? ["polling"] : ["websocket"] }).then((r) => ({ ...r, t: now() - tF })));
        await sleep(50);
      }
    })();
    const exit = await Promise.race([victim.exited, sleep(drainTimeoutMs + 5000).then(() => null)]);
    const tExit = now();
    await prober;
    await until(async () => (await statusAll(hosts)).joined === clients, 30000, 100, "clients back").catch(() => {});
    const st1 = await statusAll(hosts);
    await sleep(afterMs);
    pubs.stop();
    const tEnd = now();
    await sleep(1500);
    const records = await collectAll(hosts);
    const pm1 = await c.proxy.metrics();
    const res = check(ledger, records, { tEnd, latencyWindows: { before: [0, tF], after: [tExit, tEnd] } });
    const drained = records
      .map((r) => r.sessions.find((s) => s.w === victimId && s.tc < tF))
      .filter(Boolean);
    const reasons = {};
    for (const s of drained) reasons[s.why || "(still connected)"] = (reasons[s.why || "(still connected)"] || 0) + 1;
    const dts = drained.filter((s) => s.td).map((s) => s.td - tF).sort((a, b) => a - b);
    const batches = new Set(dts.map((d) => Math.floor(d / 50))).size;
    const newOnVictim = records.flatMap((r) => r.sessions).filter((s) => s.w === victimId && s.tc > tF).length;
    const probesOnVictim = probes.filter((p) => p.ok && p.w === victimId).length;
    const probeFails = probes.filter((p) => !p.ok);
    const sidUnknown = proxyError(pm1, "sid_unknown") - proxyError(pm0, "sid_unknown");
    const reconnectable = new Set(["transport close", "transport error"]);
    v.check(exit && exit.code === 0, `the draining worker exited with ${JSON.stringify(exit)}`);
    v.check(exit && tExit - tF < drainTimeoutMs + 1000, `the drain took ${r0(tExit - tF)} ms (drain timeout ${drainTimeoutMs})`);
    v.check(newOnVictim === 0 && probesOnVictim === 0, `${newOnVictim} reconnects and ${probesOnVictim} new probe sessions placed on the draining worker`);
    v.check(sidUnknown === 0, `${sidUnknown} "Session ID unknown" answers at the proxy`);
    v.check(drained.every((s) => reconnectable.has(s.why)), `close reasons seen by the drained clients: ${JSON.stringify(reasons)}`);
    v.check(st1.joined === clients, `${clients - st1.joined} clients not back (times in ms after SIGTERM): ${JSON.stringify(notBack(records, tF))}`);
    v.check(probeFails.length === 0, `${probeFails.length} of ${probes.length} new connections failed during the drain: ${JSON.stringify(probeFails.slice(0, 3))}`);
    ledgerProblems(v, res);
    return {
      id: "drain-sigterm",
      group: "fault",
      seq: 5,
      title: "Graceful drain: SIGTERM of one of 3 workers behind the proxy",
      short: `${clients} clients through the proxy; SIGTERM to the busiest worker while new connections keep arriving from addresses that hash to it`,
      did: `Redis, 3 workers (--drain-timeout ${drainTimeoutMs}) and sioc-proxy; ${clients} clients through the proxy in ${rooms} rooms, publishers on the other two workers and a redis-emitter. SIGTERM to the worker with the most clients (${victimId}); during the next 3 s new clients kept connecting through the proxy from addresses whose hash points at the draining worker (${probes.length} probes, websocket and polling).`,
      summary: `${drained.length} sessions closed in ${batches} batches over ${r0(dts[0])}..${r0(dts[dts.length - 1])} ms (${Object.entries(reasons).map(([k, n]) => `${n} "${k}"`).join(", ")}); exit ${exit ? exit.code : "none"} after ${r0(tExit - tF)} ms; new sessions on it ${newOnVictim + probesOnVictim}; Session ID unknown ${sidUnknown}; lost silently ${res.silentLoss}`,
      measured: {
        ...ledgerMeasures(ledger, res),
        "sessions on the draining worker": drained.length,
        "client-side close reasons": reasons,
        "closes: first / last after SIGTERM (ms), 50 ms buckets used": `${r0(dts[0])} / ${r0(dts[dts.length - 1])}, ${batches}`,
        "worker exit code / time to exit (ms)": `${exit ? exit.code : "-"} / ${r0(tExit - tF)}`,
        "new sessions placed on the draining worker (reconnects + probes)": `${newOnVictim} + ${probesOnVictim}`,
        "probe connections during the drain: ok / failed": `${probes.length - probeFails.length} / ${probeFails.length}`,
        "400 Session ID unknown at the proxy": sidUnknown,
        "reconnect time after the close: p50 / max (ms)": `${res.reconnect.p50} / ${res.reconnect.max}`,
        "clients after the drain, per worker": st1.byWorker,
        ...procMeasures(c.sampler, ["proxy", ...c.workers.map((w) => w.id)]),
      },
      problems: v.problems,
    };
  } finally {
    pubs?.stop();
    await pubs?.close();
    await Promise.all(hosts.map((h) => h.stop()));
    await stopCluster(c);
  }
}

// ---------------------------------------------------------------------------
// deploy/cluster scale up and down

function runCluster(args, env, timeoutMs = 90000) {
  return new Promise((resolve) => {
    const t0 = now();
    execFile(path.join(REPO_ROOT, "deploy/cluster"), args, { env, timeout: timeoutMs, cwd: REPO_ROOT }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, out: stdout + stderr, ms: now() - t0 });
    });
  });
}

async function freeBase(n) {
  for (let k = 0; k < 50; k++) {
    const base = 21000 + Math.floor(Math.random() * 20000);
    const ok = await Promise.all(range(n + 1).map(async (i) => (await httpGet(base + i, "/", { timeoutMs: 200 })).status === 0));
    if (ok.every(Boolean)) return base;
  }
  throw new Error("no free port range");
}

export async function scale({ clients = 300, rooms = 3, intervalMs = 100, freshClients = 60, hosts: nHosts = 2 } = {}) {
  const v = new Verdict();
  const runDir = mkdtempSync(path.join(tmpdir(), "sioc-cluster-"));
  const base = await freeBase(6);
  const port = await freePort();
  const adminPort = await freePort();
  const redisPort = await freePort();
  const buildDir = path.resolve(path.dirname(proxyCommand()[0]), "..");
  const env = {
    ...process.env,
    PORT: String(port),
    ADMIN_PORT: String(adminPort),
    WORKER_PORT_BASE: String(base),
    REDIS_PORT: String(redisPort),
    SIOC_RUN_DIR: runDir,
    SIOC_BUILD_DIR: buildDir,
    SIOC_SKIP_BUILD: "1",
    JWT_SECRET: TEST_SECRET,
    WORKERS: "3",
  };
  delete env.REDIS_URL;
  const pidOf = (name) => {
    try {
      return Number(readFileSync(path.join(runDir, `${name}.pid`), "utf8").trim());
    } catch {
      return 0;
    }
  };
  const ledger = new Ledger();
  const roomNames = range(rooms).map((i) => `room-${i}`);
  const url = `http://${HOST}:${port}`;
  const { hosts, start } = splitHosts(proxiedConfigs({ n: clients, url, rooms: roomNames, pollingEvery: 10 }), nHosts);
  const fresh = new ClientHost("fresh");
  let pubs = null;
  const sampler = new Sampler({ redisPort });
  const proxyMetrics = async () => parseMetrics((await httpGet(adminPort, "/metrics", { timeoutMs: 1000 })).body);
  let up = null;
  try {
    up = await runCluster(["up"], env);
    if (up.code !== 0) throw new Error(`deploy/cluster up failed:\n${up.out}`);
    for (const n of ["proxy", "worker-1", "worker-2", "worker-3", "worker-4", "redis"]) sampler.watch(n, () => pidOf(n));
    await start();
    const st0 = await waitJoined(hosts, clients, 40000, "clients joined");
    pubs = makePublishers(ledger, {
      rooms: roomNames,
      urls: [{ id: "w1", url: `http://${HOST}:${base + 1}` }, { id: "w2", url: `http://${HOST}:${base + 2}` }],
      intervalMs,
      emitter: { redisUrl: `redis://${HOST}:${redisPort}` },
    });
    await pubs.ready();
    sampler.start();
    pubs.start();
    await sleep(2000);
    const pm0 = await proxyMetrics();
    const rec0 = await collectAll(hosts);
    const sessions0 = rec0.reduce((a, r) => a + r.sessions.length, 0);
    // scale up: 3 -> 4
    const tUp = now();
    const upRes = await runCluster(["scale", "4"], env);
    v.check(upRes.code === 0, `scale 4 failed: ${upRes.out}`);
    const tUpDone = now();
    await sleep(1500);
    const rec1 = await collectAll(hosts);
    const sessions1 = rec1.reduce((a, r) => a + r.sessions.length, 0);
    const disconnectedByUp = rec1.filter((r) => r.sessions.some((s) => s.td && s.td >= tUp)).length;
    // new clients after the scale-up: some must land on the new worker
    await fresh.start(proxiedConfigs({ n: freshClients, url, rooms: [roomNames[0]], prefix: "f", offset: 5000 }));
    const stF = await waitJoined([fresh], freshClients, 20000, "fresh clients joined");
    const pmUp = await proxyMetrics();
    // scale down: 4 -> 3 (drains worker 4)
    const tDown = now();
    const downRes = await runCluster(["scale", "3"], env);
    v.check(downRes.code === 0, `scale 3 failed: ${downRes.out}`);
    const tDownDone = now();
    await until(async () => (await statusAll([...hosts, fresh])).joined === clients + freshClients, 30000, 100, "clients back").catch(() => {});
    const st2 = await statusAll([...hosts, fresh]);
    await sleep(2000);
    pubs.stop();
    const tEnd = now();
    await sleep(1500);
    const records = [...(await collectAll(hosts)), ...(await fresh.collect())];
    const pm1 = await proxyMetrics();
    const res = check(ledger, records, { tEnd });
    const sidUnknown = proxyError(pm1, "sid_unknown") - proxyError(pm0, "sid_unknown");
    const onW4 = records.flatMap((r) => r.sessions).filter((s) => s.w === "w4" && s.tc < tDown);
    const newOnW4AfterDrain = records.flatMap((r) => r.sessions).filter((s) => s.w === "w4" && s.tc > tDown + 200).length;
    const reasons = {};
    for (const s of onW4) reasons[s.why || "(open)"] = (reasons[s.why || "(open)"] || 0) + 1;
    const w4sessionsAtProxy = proxyWorkerSessions(pmUp, "w4");
    v.check(disconnectedByUp === 0 && sessions1 === sessions0, `scale-up disturbed live sessions: ${disconnectedByUp} clients disconnected, sessions ${sessions0} -> ${sessions1}`);
    v.check((stF.byWorker.w4 || 0) > 0, `no new client went to the new worker: ${JSON.stringify(stF.byWorker)}`);
    v.check(sidUnknown === 0, `${sidUnknown} "Session ID unknown" at the proxy`);
    v.check(newOnW4AfterDrain === 0, `${newOnW4AfterDrain} sessions placed on the draining worker`);
    v.check(st2.joined === clients + freshClients, `${clients + freshClients - st2.joined} clients not back after the scale-down (times in ms after it): ${JSON.stringify(notBack(records, tDown))}`);
    v.check(Object.keys(reasons).every((k) => k === "transport close" || k === "transport error"), `close reasons on the drained worker: ${JSON.stringify(reasons)}`);
    ledgerProblems(v, res);
    return {
      id: "scale",
      group: "fault",
      seq: 6,
      title: "deploy/cluster scale 3 -> 4 -> 3 under load",
      short: `deploy/cluster up (3 workers), ${clients} clients through the proxy, scale 4, ${freshClients} new clients, scale 3`,
      did: `deploy/cluster up with 3 workers (its own Redis and proxy on free ports); ${clients} clients through the proxy (1 in 10 long-polling), publishers on workers 1 and 2 and a redis-emitter. \`deploy/cluster scale 4\`; then ${freshClients} new clients; then \`deploy/cluster scale 3\`, which drains worker 4.`,
      summary: `scale-up: ${disconnectedByUp} live sessions disturbed, ${stF.byWorker.w4 || 0} of ${freshClients} new clients on w4; scale-down: ${onW4.length} sessions moved (${Object.entries(reasons).map(([k, n]) => `${n} "${k}"`).join(", ")}); Session ID unknown ${sidUnknown}; lost silently ${res.silentLoss}`,
      measured: {
        ...ledgerMeasures(ledger, res),
        "clients before, per worker": st0.byWorker,
        "scale 4 took (ms)": r0(tUpDone - tUp),
        "live sessions disconnected by the scale-up": disconnectedByUp,
        "new clients after scale-up, per worker": stF.byWorker,
        "sessions placed on w4 by the proxy": w4sessionsAtProxy,
        "scale 3 (drain of w4) took (ms)": r0(tDownDone - tDown),
        "sessions on w4 at the scale-down / close reasons": `${onW4.length} / ${JSON.stringify(reasons)}`,
        "sessions placed on w4 after its drain began": newOnW4AfterDrain,
        "400 Session ID unknown at the proxy": sidUnknown,
        "clients after, per worker": st2.byWorker,
        ...procMeasures(sampler, ["proxy", "worker-1", "worker-2", "worker-3", "worker-4", "redis"]),
      },
      problems: v.problems,
    };
  } finally {
    sampler.stop();
    pubs?.stop();
    await pubs?.close();
    await Promise.all([...hosts, fresh].map((h) => h.stop()));
    if (up) {
      const down = await runCluster(["down"], env);
      if (down.code !== 0) process.stderr.write(`deploy/cluster down: ${down.out}\n`);
    }
    if (existsSync(runDir)) {
      for (const f of readdirSync(runDir)) if (f.endsWith(".log")) copyFileSync(path.join(runDir, f), path.join(logsDir(), `cluster-${f}`));
      rmSync(runDir, { recursive: true, force: true });
    }
  }
}

// ---------------------------------------------------------------------------
// The proxy killed and restarted under N clients, handshakes rate-capped

export async function proxyRestart({ clients = 2000, hosts: nHosts = 4, rate = 300, rooms = 10, intervalMs = 500, downMs = 1000, workers = 2 } = {}) {
  const v = new Verdict();
  const proxyPort = await freePort();
  const adminPort = await freePort();
  const proxyFlags = { "max-handshake-rate": rate };
  const c = await startCluster({ n: workers, proxy: true, proxyFlags, proxyPort, adminPort });
  const ledger = new Ledger();
  const roomNames = range(rooms).map((i) => `room-${i}`);
  const { hosts, start } = splitHosts(proxiedConfigs({ n: clients, url: c.proxy.url, rooms: roomNames }), nHosts);
  let pubs = null;
  let sessSampler = null;
  const sessSamples = []; // [t, total sessions_total of all workers]
  try {
    hosts.forEach((h, i) => c.sampler.watch(`clients-${i}`, h.pid));
    c.sampler.start();
    sessSampler = setInterval(async () => {
      const t = now();
      const ms = await Promise.all(c.workers.map((w) => w.metrics()));
      sessSamples.push([t, sumMetric(ms, "sioc_sessions_total")]);
    }, 200);
    const t0 = now();
    await start();
    await waitJoined(hosts, clients, 120000, "clients joined");
    const initialMs = now() - t0;
    const pm0 = await c.proxy.metrics();
    pubs = makePublishers(ledger, { rooms: roomNames, urls: c.workers.map((w, i) => w).slice(0, 2), intervalMs, emitter: { redisUrl: c.redis.url } });
    await pubs.ready();
    pubs.start();
    await sleep(2000);
    const tF = now();
    c.proxy.kill("SIGKILL");
    await c.proxy.exited;
    await sleep(downMs);
    const tBack = now();
    c.proxy = await startProxy({ flags: { "redis-url": c.redis.url, "max-handshake-rate-per-ip": 0, ...proxyFlags }, port: proxyPort, adminPort, name: "proxy-restarted" });
    const pm1 = await c.proxy.metrics();
    let tAll = null;
    await until(async () => (await statusAll(hosts)).joined === clients, 120000, 200, "clients back").then(() => (tAll = now())).catch(() => {});
    const st = await statusAll(hosts);
    await sleep(2000);
    pubs.stop();
    const tEnd = now();
    await sleep(2000);
    clearInterval(sessSampler);
    const pm2 = await c.proxy.metrics();
    const records = await collectAll(hosts);
    const res = check(ledger, records, { tEnd, tailGraceMs: 1500 });
    // handshakes per second at the workers, over sliding 1 s windows after the restart
    let maxRate = 0;
    for (let i = 0; i < sessSamples.length; i++)
      for (let j = i + 1; j < sessSamples.length; j++) {
        if (sessSamples[j][0] - sessSamples[i][0] < 1000) continue;
        if (sessSamples[i][0] >= tBack) maxRate = Math.max(maxRate, ((sessSamples[j][1] - sessSamples[i][1]) * 1000) / (sessSamples[j][0] - sessSamples[i][0]));
        break;
      }
    const rejected = proxyError(pm2, "handshake_rate") - proxyError(pm1, "handshake_rate");
    const rejectedInitial = proxyError(pm0, "handshake_rate");
    const backMs = tAll ? r0(tAll - tBack) : null;
    // Retry-After on a 503: a burst of raw handshakes well over the rate
    const burst = await Promise.all(range(rate * 2).map(() => httpGet(proxyPort, "/socket.io/?EIO=4&transport=polling", { timeoutMs: 3000 })));
    const r503 = burst.filter((r) => r.status === 503);
    const retryAfter = r503.length ? r503[0].headers["retry-after"] : undefined;
    const summ = c.sampler.summary();
    const peakWorkerRss = Math.max(...c.workers.map((w) => summ[w.id]?.rssPeakKiB ?? 0));
    const burstAllowance = rate; // a full bucket (burst = one second's worth)
    v.check(tAll !== null, `only ${st.joined} of ${clients} clients back after 120 s: ${JSON.stringify(notBack(records, tBack))}`);
    v.check(maxRate <= rate * 1.15 + burstAllowance, `${r0(maxRate)} handshakes/s reached the workers (cap ${rate}/s + burst ${burstAllowance})`);
    v.check(rejected > 0 || backMs < 3000, `the handshake cap never engaged (${rejected} 503s)`);
    v.check(r503.length > 0 && retryAfter !== undefined, `burst of ${rate * 2} handshakes: ${r503.length} 503s, Retry-After ${retryAfter}`);
    v.check(c.workers.every((w) => w.alive()), "a worker died");
    ledgerProblems(v, res);
    return {
      id: "proxy-restart",
      group: "fault",
      seq: 7,
      title: `sioc-proxy killed (-9) and restarted under ${clients} clients`,
      short: `${clients} websocket clients in ${nHosts} processes through one proxy (--max-handshake-rate ${rate}); kill -9 of the proxy, restart after ${downMs} ms`,
      did: `Redis, ${workers} workers and sioc-proxy --max-handshake-rate ${rate} (bucket of one second's worth). ${clients} websocket clients (${nHosts} client processes, distinct 127.1.x.y addresses) in ${rooms} rooms, publishers every ${intervalMs} ms per room plus a redis-emitter. The proxy was killed with SIGKILL and started again on the same ports ${downMs} ms later. Clients reconnect with socket.io-client's default jittered backoff; 503s from the handshake cap count as failed attempts.`,
      summary: `all ${clients} back ${backMs} ms after the restart; at most ${r0(maxRate)} handshakes/s reached the workers (cap ${rate}); ${rejected} handshakes answered 503 (Retry-After: ${retryAfter}); worker peak RSS ${peakWorkerRss} KiB; lost silently ${res.silentLoss}`,
      measured: {
        ...ledgerMeasures(ledger, res),
        "initial connection of all clients through the cap (ms)": r0(initialMs),
        "503 (handshake rate) during the initial connection / after the restart": `${rejectedInitial} / ${rejected}`,
        "all clients back after the restart (ms)": backMs,
        "max handshakes per second reaching the workers after the restart": r0(maxRate),
        "reconnect time (disconnect to connect): p50 / p99 / max (ms)": `${res.reconnect.p50} / ${res.reconnect.p99} / ${res.reconnect.max}`,
        "raw burst of handshakes: 503 answers / Retry-After": `${r503.length} of ${burst.length} / ${retryAfter}`,
        "clients per worker after": st.byWorker,
        ...procMeasures(c.sampler, ["proxy", ...c.workers.map((w) => w.id), "redis", ...hosts.map((_, i) => `clients-${i}`)]),
      },
      problems: v.problems,
    };
  } finally {
    clearInterval(sessSampler);
    pubs?.stop();
    await pubs?.close();
    await Promise.all(hosts.map((h) => h.stop()));
    await stopCluster(c);
  }
}

// ---------------------------------------------------------------------------
// Slow consumer: a client process SIGSTOPped in a busy room

//
// Once the worker has dropped the stopped client (its slow_consumer counter went up),
// the client is resumed at once, well inside the worker's 5 s flush deadline: it must
// read what was queued for it, whole messages from the first one on with no gap, and
// then the close frame 1008 "slow consumer".

export async function slowConsumer({ bystanders = 20, pad = 16384, intervalMs = 32, publishers = 2, outputCap = 1 << 20, warmMs = 3000, afterMs = 3000, maxWaitMs = 60000, closeWaitMs = 10000, hosts: nHosts = 2 } = {}) {
  const v = new Verdict();
  const w = await startWorker({ id: "w1", flags: { "max-output-buffer": outputCap } });
  const sampler = new Sampler();
  sampler.watch("worker", w.pid);
  const ledger = new Ledger();
  const room = "busy";
  const { hosts: hostsA, start: startA } = splitHosts(range(bystanders).map((i) => ({ id: `b${i}`, url: w.url, rooms: [room] })), nHosts);
  const hostB = new ClientHost("victim");
  const pubs = range(publishers).map((i) => new SioPublisher(ledger, { id: `p${i}`, url: w.url, room, intervalMs, pad }));
  try {
    hostsA.forEach((h, i) => sampler.watch(`bystanders-${i}`, h.pid));
    await startA();
    await hostB.start([{ id: "victim", url: w.url, rooms: [room], reconnection: false, recordPad: true }]);
    await waitJoined([...hostsA, hostB], bystanders + 1, 20000, "clients joined");
    await Promise.all(pubs.map((p) => p.connected()));
    const m0 = await w.metrics();
    sampler.start();
    for (const p of pubs) p.start();
    await sleep(warmMs);
    const rssBefore = w.rssKiB();
    const tF = now();
    hostB.freeze();
    let tDrop = null;
    await until(async () => {
      const m = await w.metrics();
      if ((m.get('sioc_dropped_total{reason="slow_consumer"}') ?? 0) > (m0.get('sioc_dropped_total{reason="slow_consumer"}') ?? 0)) {
        tDrop = now();
        return true;
      }
      return false;
    }, maxWaitMs, 100, "slow consumer dropped").catch(() => {});
    const rssAtDrop = w.rssKiB();
    hostB.thaw(); // at once: the worker gives up the flush after 5 s without progress
    const tCont = now();
    // the victim's close, as its own process saw it
    let vsLive = null;
    await until(async () => {
      const [r] = await hostB.collect();
      vsLive = r.sessions[0];
      return !!(vsLive && vsLive.td);
    }, closeWaitMs, 100, "the victim's disconnect").catch(() => {});
    const tClosed = vsLive && vsLive.td ? vsLive.td : null;
    await sleep(Math.max(0, afterMs - (now() - (tDrop ?? tCont))));
    const rssAfter = w.rssKiB();
    for (const p of pubs) p.stop();
    const tEnd = now();
    await sleep(1500);
    const records = [...(await collectAll(hostsA)), ...(await hostB.collect())];
    const m1 = await w.metrics();
    const res = check(ledger, records, {
      tEnd,
      exclude: new Set(["victim"]),
      latencyWindows: { before: [0, tF], during: [tF, tDrop ?? tEnd], after: [tDrop ?? tEnd, tEnd] },
    });
    const victim = records.find((r) => r.id === "victim");
    const vs = victim.sessions[0];
    // what the victim received before its close: per publisher 1..n, each message whole
    const vSeqs = new Map(pubs.map((p) => [p.id, []]));
    let vWrongSession = 0;
    let vBroken = 0;
    for (const [pub, seq, , , si, padLen] of victim.recv) {
      if (si !== 0) vWrongSession++;
      if (padLen !== pad) vBroken++;
      if (!vSeqs.has(pub)) vSeqs.set(pub, []);
      vSeqs.get(pub).push(seq);
    }
    const vGaps = [];
    for (const [pub, seqs] of vSeqs) {
      const bad = seqs.findIndex((q, i) => q !== i + 1);
      if (bad >= 0) vGaps.push(`${pub}: #${bad + 1} was seq ${seqs[bad]}`);
      else if (seqs.length === 0) vGaps.push(`${pub}: none`);
    }
    const vRanges = [...vSeqs].map(([pub, seqs]) => `${pub} ${seqs.length ? `1..${seqs[seqs.length - 1]}` : "none"}`).join(", ");
    const vClose = vs && vs.td ? (vs.closeCode !== undefined ? `${vs.closeCode} "${vs.closeReason}"` : "no close frame") : "none";
    const rssPeak = sampler.peakRss("worker");
    const lb = res.latencyWindows.before;
    const ld = res.latencyWindows.during;
    const log = w.log();
    const logLine = (log.match(/.*slow consumer.*/) || [""])[0];
    const rate = (1000 / intervalMs) * publishers;
    v.check(tDrop !== null, `the stopped client was not dropped within ${maxWaitMs} ms`);
    v.check(rssPeak - rssBefore < 32 * 1024, `worker RSS grew by ${rssPeak - rssBefore} KiB while the client was stopped`);
    v.check(rssAfter <= rssAtDrop + 8 * 1024, `worker RSS kept growing after the drop: ${rssAtDrop} -> ${rssAfter} KiB`);
    v.check(ld.p99 <= Math.max(2 * lb.p99, lb.p99 + 25), `bystanders' p99 ${lb.p99} ms before, ${ld.p99} ms while the consumer was stuck`);
    v.check(logLine !== "", "no slow-consumer log line");
    v.check(vs && vs.td, `the victim saw no disconnect within ${closeWaitMs} ms of SIGCONT`);
    v.check(!vs || !vs.td || (vs.closeCode === 1008 && vs.closeReason === "slow consumer"), `the victim's close: ${vClose} (${vs && vs.why}), not 1008 "slow consumer"`);
    v.check(victim.sessions.length === 1 && vWrongSession === 0, `the victim had ${victim.sessions.length} sessions`);
    v.check(vGaps.length === 0, `the victim's messages have a gap or are out of order: ${vGaps.join("; ")}`);
    v.check(vBroken === 0, `${vBroken} of the victim's messages were not whole (pad length other than ${pad})`);
    ledgerProblems(v, res);
    return {
      id: "slow-consumer",
      group: "fault",
      seq: 8,
      title: "Slow consumer: a client process SIGSTOPped in a busy room",
      short: `${bystanders} bystanders (${nHosts} processes) + 1 client in a separate process that gets SIGSTOP; ${rate} msgs/s of ${pad} B into the room; --max-output-buffer ${outputCap}`,
      did: `One worker with --max-output-buffer ${outputCap}. ${bystanders} bystander clients (${nHosts} processes) and one more client (its own process) in room "busy"; ${publishers} publishers send ${rate} messages/s of ${pad} bytes (${r0((rate * pad) / 1024)} KiB/s per member). After ${warmMs} ms the victim's process got SIGSTOP; it got SIGCONT as soon as the worker's slow_consumer counter had gone up (polled every 100 ms), inside the worker's 5 s deadline for flushing what was queued, and reported the close it saw and the messages it received before it (each publisher's from seq 1 on, no gap, every message's ${pad}-byte pad whole).`,
      summary: `dropped ${tDrop ? r0(tDrop - tF) : "never"} ms after SIGSTOP (slow_consumer +${(m1.get('sioc_dropped_total{reason="slow_consumer"}') ?? 0) - (m0.get('sioc_dropped_total{reason="slow_consumer"}') ?? 0)}); worker RSS ${rssBefore} -> peak ${rssPeak} KiB -> ${rssAfter} KiB; bystanders p99 ${lb.p99} -> ${ld.p99} ms, lost silently ${res.silentLoss}; the victim, resumed, saw close ${vClose} after ${victim.recv.length} messages (${vBroken ? `${vBroken} not whole` : "whole"}, ${vGaps.length ? `gaps: ${vGaps.join("; ")}` : "in order, no gap"})`,
      measured: {
        ...ledgerMeasures(ledger, res),
        "dropped after SIGSTOP (ms)": tDrop ? r0(tDrop - tF) : null,
        'sioc_dropped_total{reason="slow_consumer"} increase': (m1.get('sioc_dropped_total{reason="slow_consumer"}') ?? 0) - (m0.get('sioc_dropped_total{reason="slow_consumer"}') ?? 0),
        "worker log": logLine.trim(),
        "SIGCONT after the drop was seen (ms)": tDrop ? r0(tCont - tDrop) : null,
        "the victim's close (code, reason) / socket.io-client reason": `${vClose} / ${vs && vs.td ? vs.why : "-"}`,
        "the victim's close after SIGCONT (ms)": tClosed ? r0(tClosed - tCont) : null,
        "messages the victim received before it (per publisher)": `${victim.recv.length} (${vRanges}); gaps / out of order: ${vGaps.length ? vGaps.join("; ") : 0}; not whole: ${vBroken}`,
        [`worker RSS before / at drop / peak / ${afterMs / 1000} s later (KiB)`]: `${rssBefore} / ${rssAtDrop} / ${rssPeak} / ${rssAfter}`,
        "bystanders latency p50/p99 before (ms)": `${lb.p50} / ${lb.p99}`,
        "bystanders latency p50/p99 while stuck (ms)": `${ld.p50} / ${ld.p99}`,
        "bystanders latency p50/p99 after the drop (ms)": `${res.latencyWindows.after.p50} / ${res.latencyWindows.after.p99}`,
        ...procMeasures(sampler, ["worker"]),
      },
      problems: v.problems,
    };
  } finally {
    sampler.stop();
    for (const p of pubs) p.close();
    await Promise.all(hostsA.map((h) => h.stop()));
    await hostB.stop();
    await w.stop();
  }
}

// ---------------------------------------------------------------------------
// A token expiring during the connection

export async function tokenExpiry({ victims = 10, expInSec = 3, sendEveryMs = 5, stallMs = 0 } = {}) {
  const v = new Verdict();
  const w = await startWorker({ id: "w1", flags: {} });
  const room = "exp";
  const observer = io(w.url, { forceNew: true, transports: ["websocket"], reconnection: false, auth: { token: makeToken({ sub: "observer" }) } });
  const seen = []; // [victim, seq, t]
  const vs = [];
  try {
    await new Promise((res, rej) => {
      observer.once("connect", res);
      observer.once("connect_error", rej);
    });
    await observer.timeout(3000).emitWithAck("join-room", room);
    observer.on("receive-message", (m) => seen.push([m.v, m.seq, m.t, Date.now()]));
    const exp = Math.ceil(Date.now() / 1000) + expInSec; // at least expInSec away
    const expMs = exp * 1000;
    for (const i of range(victims)) {
      const token = makeToken({ sub: `victim${i}`, claims: { exp } });
      const s = io(w.url, { forceNew: true, transports: i % 2 ? ["polling"] : ["websocket"], reconnection: false, auth: { token } });
      const st = { i, s, token, sent: [], acked: [], td: null, why: null, transport: i % 2 ? "polling" : "websocket" };
      s.on("disconnect", (why) => {
        st.td = Date.now();
        st.why = why;
      });
      vs.push(st);
    }
    await Promise.all(vs.map((st) => new Promise((res, rej) => {
      st.s.once("connect", res);
      st.s.once("connect_error", rej);
    })));
    for (const st of vs) await st.s.timeout(3000).emitWithAck("join-room", room);
    // every victim sends an acked send-message every sendEveryMs until it is disconnected
    const timers = vs.map((st) => {
      let seq = 0;
      return setInterval(() => {
        if (!st.s.connected) return;
        // Date.now(): the wall clock the worker compares exp with
        const e = { seq: ++seq, t: Date.now(), ack: null };
        st.sent.push(e);
        st.s.timeout(2000).emit("send-message", { roomId: room, msg: { v: st.i, seq: e.seq, t: e.t } }, (err, a) => {
          e.ack = err ? "timeout" : a && a.ok ? "ok" : "refused";
        });
      }, sendEveryMs);
    });
    // Optionally the worker stalls across exp (SIGSTOP / SIGCONT, as under a CPU spike): the
    // events that queue up meanwhile, some sent after exp, arrive together with the expiry.
    let stall = null;
    if (stallMs) {
      stall = {};
      setTimeout(() => {
        stall.stop = Date.now() - expMs;
        w.kill("SIGSTOP");
      }, Math.max(0, expMs - stallMs / 2 - Date.now()));
      setTimeout(() => {
        stall.cont = Date.now() - expMs;
        w.kill("SIGCONT");
      }, Math.max(0, expMs + stallMs / 2 - Date.now()));
    }
    await until(() => vs.every((st) => st.td), expInSec * 1000 + 5000, 20, "victims disconnected").catch(() => {});
    for (const t of timers) clearInterval(t);
    await sleep(800);
    // reconnecting with the expired token fails
    const again = await new Promise((res) => {
      const s = io(w.url, { forceNew: true, transports: ["websocket"], reconnection: false, auth: { token: vs[0].token } });
      s.once("connect", () => {
        s.disconnect();
        res("connected");
      });
      s.once("connect_error", (e) => {
        s.disconnect();
        res(String(e.message));
      });
    });
    const acceptedAfter = [];
    let acceptedTotal = 0;
    for (const st of vs) {
      for (const e of st.sent) {
        if (e.ack === "ok") acceptedTotal++;
        if (e.t > expMs && e.ack === "ok") acceptedAfter.push({ victim: st.i, seq: e.seq, msAfterExp: r0(e.t - expMs) });
      }
    }
    const deliveredAfter = seen.filter(([, , t]) => t > expMs);
    const sentAfter = vs.reduce((a, st) => a + st.sent.filter((e) => e.t > expMs).length, 0);
    const lastAccepted = Math.max(...seen.map(([, , t]) => t - expMs));
    const discMs = vs.map((st) => (st.td ? st.td - expMs : null));
    const log = w.log();
    const expLines = (log.match(/token of user victim\d+ expired/g) || []).length;
    // when the worker disconnected them, from its own log timestamps (immune to a slow test process)
    const serverMs = [...log.matchAll(/^(\S+) .*token of user victim\d+ expired/gm)].map((m) => Date.parse(m[1]) - expMs);
    const reasons = {};
    for (const st of vs) reasons[`${st.transport}: ${st.why || "none"}`] = (reasons[`${st.transport}: ${st.why || "none"}`] || 0) + 1;
    v.check(vs.every((st) => st.td), `${vs.filter((st) => !st.td).length} victims still connected`);
    v.check(discMs.every((d) => d !== null), `${discMs.filter((d) => d === null).length} victims never saw the disconnect`);
    v.check(serverMs.length === victims && serverMs.every((d) => d >= -5 && d < 500 + stallMs / 2), `the worker disconnected them ${JSON.stringify(serverMs)} ms after exp (its log)`);
    v.check(acceptedAfter.length === 0, `${acceptedAfter.length} events sent after exp were acked ok: ${JSON.stringify(acceptedAfter.slice(0, 3))}`);
    v.check(deliveredAfter.length === 0, `${deliveredAfter.length} events sent after exp were delivered to the room`);
    v.check(expLines === victims, `${expLines} "token expired" log lines for ${victims} victims`);
    v.check(again === "Authentication error", `reconnect with the expired token: ${again}`);
    if (stall) v.check(stall.stop < 0 && stall.cont > 0, `the stall missed exp: SIGSTOP at ${stall.stop} ms, SIGCONT at ${stall.cont} ms relative to exp`);
    return {
      id: stallMs ? "token-expiry-stall" : "token-expiry",
      group: "fault",
      seq: stallMs ? 9.5 : 9,
      title: stallMs ? `Token expiring while the worker stalls (${stallMs} ms across exp)` : "Token expiring during the connection",
      short: `${victims} clients (websocket and polling) with exp = now + ${expInSec} s send an acked event every ${sendEveryMs} ms across exp${stallMs ? `; the worker is SIGSTOPped from exp - ${stallMs / 2} ms to exp + ${stallMs / 2} ms` : ""}`,
      did: `One worker with JWT auth. ${victims} clients (half websocket, half long-polling) connected with tokens whose exp is ${expInSec} s away and sent an acked send-message every ${sendEveryMs} ms into a room watched by an observer, straight through exp.${stallMs ? ` The worker was stopped (SIGSTOP) from ${stallMs / 2} ms before exp to ${stallMs / 2} ms after it, as a CPU stall would: the events queued meanwhile, some sent after exp, are read in the same loop turn in which the expiry timer is due.` : ""} Then one reconnected with its expired token.`,
      summary: `disconnected ${r0(Math.min(...discMs))}..${r0(Math.max(...discMs))} ms after exp (${Object.entries(reasons).map(([k, n]) => `${n} "${k}"`).join(", ")}); ${sentAfter} events sent after exp, 0 allowed: ${acceptedAfter.length} acked, ${deliveredAfter.length} delivered; reconnect: ${again}`,
      measured: {
        "events sent / acked ok": `${vs.reduce((a, st) => a + st.sent.length, 0)} / ${acceptedTotal}`,
        "events sent after exp / acked ok / delivered to the room": `${sentAfter} / ${acceptedAfter.length} / ${deliveredAfter.length}`,
        "last delivered event, sent relative to exp (ms)": r0(lastAccepted),
        "worker disconnected them after exp, from its log: min / max (ms)": `${Math.min(...serverMs)} / ${Math.max(...serverMs)}`,
        "clients saw the disconnect after exp: min / max (ms)": `${r0(Math.min(...discMs))} / ${r0(Math.max(...discMs))}`,
        "client-side disconnect reason": reasons,
        "worker log lines 'token of user ... expired'": expLines,
        "reconnect with the expired token": again,
        ...(stall ? { "worker stopped / continued relative to exp (ms)": `${stall.stop} / ${stall.cont}` } : {}),
      },
      notes: "An event counts as accepted after exp when the client sent it at a wall-clock time (Date.now(), the clock the worker checks exp against) strictly later than exp and the worker acked it {ok:true} or delivered it to the room. Long-polling clients that are still posting events when the server's DISCONNECT arrives may see \"transport error\" instead: the worker, like Node's socket.io, closes a client that sends packets for a namespace it is no longer connected to. Socket.IO v5 has no reason field in a server DISCONNECT packet: the client sees \"io server disconnect\" (and does not reconnect by itself); the auth reason is in the worker's log line and a fresh connect with the stale token gets connect_error \"Authentication error\".",
      problems: v.problems,
    };
  } finally {
    observer.disconnect();
    for (const st of vs) st.s.disconnect();
    await w.stop();
  }
}

export { logsDir };

// ---------------------------------------------------------------------------
// New sessions asked for while a worker drains (the proxy holds idle
// keep-alive connections to it): each must be placed on a live worker.

export async function drainHandshake({ probes = 20 } = {}) {
  const v = new Verdict();
  const c = await startCluster({ n: 2, proxy: true, workerFlags: { "drain-timeout": 5000 } });
  const hold = [];
  try {
    const hs = "/socket.io/?EIO=4&transport=polling";
    const { get: rawGet } = await import("../../badinput/lib.mjs");
    // addresses whose hash picks w1, and idle pooled connections to w1
    const addrs = [];
    for (let i = 0; i < 200 && addrs.length < probes; i++) {
      const a = `127.2.0.${2 + i}`;
      const r = await rawGet(c.proxy.port, hs, { localAddress: a });
      if (r.status === 200 && r.body.includes('"sid":"w1.')) addrs.push(a);
    }
    // a few live sessions keep the draining worker alive for a moment
    for (let i = 0; i < 3; i++) {
      const s = io(c.workers[0].url, { forceNew: true, transports: ["websocket"], reconnection: false, auth: { token: makeToken({ sub: "hold" }) } });
      hold.push(s);
    }
    await until(() => hold.every((s) => s.connected), 5000, 20, "holders connected");
    const tF = now();
    c.workers[0].kill("SIGTERM");
    // the signal is handled in the worker's next loop turn: a request read in the
    // same turn is still a new session of its own (and drained with the rest), so
    // the handshakes go once the worker has begun draining; the proxy's health
    // tick (1 s) has not yet taken it out of the live set by then
    await until(async () => !(await c.workers[0].ready()), 2000, 2, "w1 /ready red after SIGTERM");
    const rs = await Promise.all(addrs.map((a) => rawGet(c.proxy.port, hs, { localAddress: a })));
    const tDone = now();
    const by = {};
    for (const r of rs) {
      const k = r.status === 200 ? (r.body.match(/"sid":"(\w+)\./) || [, "?"])[1] : `HTTP ${r.status} ${r.body.trim().slice(0, 40)}`;
      by[k] = (by[k] || 0) + 1;
    }
    const bad = rs.filter((r) => r.status !== 200 || !r.body.includes('"sid":"w2.'));
    v.check(addrs.length > 0, "no address hashes to w1");
    v.check(bad.length === 0, `${bad.length} of ${rs.length} new sessions asked for during the drain were not placed on the live worker: ${JSON.stringify(by)}`);
    return {
      id: "drain-handshake",
      group: "fault",
      seq: 5.5,
      title: "New sessions during a drain go to a live worker",
      short: `${addrs.length} handshakes through the proxy, right after SIGTERM, from addresses that hash to the draining worker`,
      did: `Redis, 2 workers and sioc-proxy. Handshakes from addresses whose hash picks w1 left idle keep-alive connections to w1 in the proxy's pool; 3 sessions kept w1 busy draining; w1 got SIGTERM and ${addrs.length} polling handshakes from those addresses were sent at once.`,
      summary: `answers: ${Object.entries(by).map(([k, n]) => `${n} ${k}`).join(", ")} within ${r0(tDone - tF)} ms of SIGTERM`,
      measured: { "handshakes sent right after SIGTERM": rs.length, "answers (worker of the new sid, or status)": by, "all answered within (ms)": r0(tDone - tF) },
      problems: v.problems,
    };
  } finally {
    for (const s of hold) s.disconnect();
    await stopCluster(c);
  }
}

// ---------------------------------------------------------------------------
// Long-polling sessions closed by a drain between two polls: their next poll
// must get the close packet, not 400 "Session ID unknown". The requests ride
// one keep-alive connection opened before SIGTERM, as the proxy's pool does.

export async function drainPolling({ sessions = 60, viaProxy = false, pollAfterMs = 30 } = {}) {
  const v = new Verdict();
  const http = await import("node:http");
  // straight to the worker over one keep-alive connection, or through the proxy with a
  // new client connection per request (the proxy then needs upstream connections to it)
  const c = viaProxy ? await startCluster({ n: 2, proxy: true, workerFlags: { "drain-timeout": 5000 } }) : null;
  const w = viaProxy ? c.workers[0] : await startWorker({ id: "dp1", flags: { "drain-timeout": 5000 } });
  const target = viaProxy ? c.proxy.port : w.port;
  const agent = viaProxy ? false : new http.Agent({ keepAlive: true, maxSockets: 1 });
  let addr = null;
  const req = (method, p, body) =>
    new Promise((resolve) => {
      const r = http.request({ host: HOST, port: target, path: p, method, agent, localAddress: addr || undefined, headers: body ? { "content-type": "text/plain;charset=UTF-8" } : {} }, (res) => {
        let t = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (t += d));
        res.on("end", () => resolve({ status: res.statusCode, text: t }));
      });
      r.setTimeout(10000, () => r.destroy(new Error("timeout")));
      r.on("error", (e) => resolve({ status: 0, text: String(e.message) }));
      r.end(body);
    });
  try {
    const q = "/socket.io/?EIO=4&transport=polling";
    const sids = [];
    for (let i = 0, k = 0; sids.length < sessions && k < 20 * sessions; k++) {
      if (viaProxy) addr = `127.3.${Math.floor(k / 250)}.${2 + (k % 250)}`;
      const h = await req("GET", q);
      if (h.status !== 200) throw new Error(`handshake ${i}: ${h.status} ${h.text}`);
      const sid = JSON.parse(h.text.slice(1)).sid;
      if (viaProxy && !sid.startsWith(`${w.id}.`)) continue; // only sessions on the worker that will drain
      i++;
      await req("POST", `${q}&sid=${sid}`, "40" + JSON.stringify({ token: makeToken({ sub: `poller${i}` }) }));
      await req("GET", `${q}&sid=${sid}`); // the CONNECT reply; no poll is pending afterwards
      sids.push(sid);
    }
    const tF = now();
    w.kill("SIGTERM");
    await sleep(pollAfterMs);
    const answers = {};
    let unknown = 0;
    const one = async (sid) => {
      const r = await req("GET", `${q}&sid=${sid}`);
      const k = r.status === 200 ? `200 ${r.text.split("\x1e").map((p) => p.slice(0, 2)).join("+")}` : `${r.status} ${r.text.slice(0, 45)}`;
      answers[k] = (answers[k] || 0) + 1;
      if (/Session ID unknown/.test(r.text)) unknown++;
    };
    // through the proxy all at once (as many pollers would), else one after the other
    if (viaProxy) await Promise.all(sids.map(one));
    else for (const sid of sids) await one(sid);
    const tDone = now();
    const exit = await Promise.race([w.exited, sleep(8000).then(() => null)]);
    const tExit = now();
    v.check(unknown === 0, `${unknown} of ${sids.length} polls after the drain's close got 400 "Session ID unknown" instead of the close packet`);
    v.check(exit && tExit - tF < pollAfterMs + 4000, `the worker exited ${r0(tExit - tF)} ms after SIGTERM (drain timeout 5000): ${exit ? "close packets left uncollected" : "still running"}`);
    const late = pollAfterMs >= 1000;
    return {
      id: viaProxy ? (late ? "drain-polling-proxy-late" : "drain-polling-proxy") : "drain-polling",
      group: "fault",
      seq: viaProxy ? (late ? 5.8 : 5.7) : 5.6,
      title: viaProxy
        ? late
          ? `Drain of long-polling sessions through the proxy, polls ${pollAfterMs} ms after SIGTERM (after the worker left the membership set)`
          : "Drain of long-polling sessions between two polls, through the proxy"
        : "Drain of long-polling sessions between two polls",
      short: viaProxy
        ? `${sessions} long-polling sessions on the draining worker, no poll pending; SIGTERM; ${pollAfterMs} ms later each polls once through the proxy`
        : `${sessions} long-polling sessions with no poll pending; SIGTERM; then each polls once (over a keep-alive connection opened before)`,
      did: viaProxy
        ? `Redis, 2 workers (--drain-timeout 5000) and sioc-proxy; ${sessions} Socket.IO sessions on long-polling placed on w1 through the proxy, none holding a GET at the moment w1 gets SIGTERM; ${pollAfterMs} ms after it (the worker has left the membership set by then if that is ${"\u2265"} 1 s, and is still draining) each session polls once through the proxy, each on a new client connection (the proxy needs upstream connections to the draining worker for them). Expected: the close packet ("1") for every poll and the worker gone well before its drain timeout.`
        : `One worker (--drain-timeout 5000) with ${sessions} Socket.IO sessions on long-polling, none holding a GET at the moment of SIGTERM (as happens between two polls); right after SIGTERM each session polls once over a keep-alive connection opened before the signal (the way the proxy's upstream pool reaches a draining worker). Expected: the close packet ("1"), the reconnectable close a polling client understands, and the worker gone well before its drain timeout.`,
      summary: `answers: ${Object.entries(answers).map(([k, n]) => `${n} x ${k}`).join(", ")} (within ${r0(tDone - tF)} ms); worker exited ${r0(tExit - tF)} ms after SIGTERM`,
      measured: { "polls after SIGTERM": sids.length, answers, '400 "Session ID unknown"': unknown, "worker exit after SIGTERM (ms)": r0(tExit - tF) },
      problems: v.problems,
    };
  } finally {
    if (agent) agent.destroy();
    if (c) await stopCluster(c);
    else await w.stop();
  }
}

// ---------------------------------------------------------------------------
// Soak: N sessions through the proxy for an hour, with churn and chat traffic

/** Open descriptors of a process (0 once it is gone). */
function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** Resident set size in KiB (0 once the process is gone). */
function rssOf(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export async function soak({ sessions = 20000, minutes = 60, churn = 200, rooms = 20, intervalMs = 5000, workers = 4, perHost = 4000, sampleMs = 60000, warmMinutes = 5, proxyFlags = {}, handoff = true } = {}) {
  const v = new Verdict();
  const nHosts = Math.max(1, Math.ceil(sessions / perHost));
  // Hand-off: the proxy keeps no descriptor for a websocket, so 20,000 sessions fit its limit.
  const c = await startCluster({ n: workers, proxy: true, proxyFlags, handoff });
  const ledger = new Ledger();
  const roomNames = range(rooms).map((i) => `room-${i}`);
  let serial = sessions;
  const configs = proxiedConfigs({ n: sessions, url: c.proxy.url, rooms: roomNames }).map((cf) => ({ ...cf, compact: true }));
  const { hosts, start } = splitHosts(configs, nHosts);
  const procs = () => [
    ["proxy", c.proxy.pid],
    ...c.workers.map((w) => [w.id, w.pid]),
    ["redis", c.redis.pid],
  ];
  const series = []; // {min, proc: {rss, fds}}
  let pubs = null;
  let churner = null;
  let sampler = null;
  try {
    const t0 = now();
    await start();
    await waitJoined(hosts, sessions, 600000, "clients joined");
    const joinMs = now() - t0;
    pubs = makePublishers(ledger, { rooms: roomNames, urls: c.workers.slice(0, 2), intervalMs, emitter: { redisUrl: c.redis.url } });
    await pubs.ready();
    pubs.start();
    const tStart = now();
    const sample = () => {
      const row = { min: Math.round((now() - tStart) / 6000) / 10, procs: {} };
      for (const [name, pid] of procs()) row.procs[name] = { rss: rssOf(pid), fds: fdCount(pid) };
      series.push(row);
    };
    sample();
    sampler = setInterval(sample, sampleMs);
    // churn: every second, `churn` clients leave and `churn` new ones arrive, spread over the hosts
    let churnErrors = 0;
    churner = setInterval(() => {
      hosts.forEach((h, i) => {
        const k = Math.floor(churn / nHosts) + (i < churn % nHosts ? 1 : 0);
        const fresh = proxiedConfigs({ n: k, url: c.proxy.url, rooms: roomNames, prefix: "s", offset: serial }).map((cf, j) => ({ ...cf, id: `s${serial + j}`, compact: true }));
        serial += k;
        h.churn(k, fresh).catch(() => churnErrors++);
      });
    }, 1000);
    await sleep(minutes * 60000);
    clearInterval(churner);
    churner = null;
    await sleep(5000); // the last arrivals join
    pubs.stop();
    const tEnd = now();
    await sleep(3000);
    clearInterval(sampler);
    sample();
    const st = await statusAll(hosts);
    // an hour of deliveries to hundreds of thousands of sessions: each host checks its own
    const res = await checkHosts(ledger, hosts, { tEnd, tailGraceMs: 1500, timeoutMs: 1800000 });
    // drift: the last sample against the first one after the warm-up
    const base = series.find((r) => r.min >= warmMinutes) ?? series[0];
    const last = series[series.length - 1];
    const drift = {};
    for (const [name] of procs()) {
      const b = base.procs[name], l = last.procs[name];
      drift[name] = { rssKiB: l.rss - b.rss, rssPct: b.rss ? Math.round(((l.rss - b.rss) * 1000) / b.rss) / 10 : null, fds: l.fds - b.fds };
    }
    v.check(c.workers.every((w) => w.alive()) && c.proxy.alive(), "a process died");
    v.check(churnErrors === 0, `${churnErrors} churn commands failed`);
    // Churned clients land on other workers than the ones they left: a worker's share moves,
    // the workers' sum must not. The proxy and Redis are checked alone.
    const workerFds = Object.entries(drift).filter(([n]) => n.startsWith("w")).reduce((a, [, d]) => a + d.fds, 0);
    v.check(Math.abs(workerFds) <= Math.max(50, sessions * 0.02), `the workers' descriptors drifted by ${workerFds} in all`);
    for (const [name, d] of Object.entries(drift)) {
      v.check(d.rssPct === null || d.rssPct <= 10, `${name} RSS grew ${d.rssPct}% (${d.rssKiB} KiB) after the warm-up`);
      if (!name.startsWith("w")) v.check(Math.abs(d.fds) <= Math.max(50, sessions * 0.02), `${name} descriptors drifted by ${d.fds}`);
    }
    ledgerProblems(v, res);
    const table = series.map((r) => `${r.min}: ` + Object.entries(r.procs).map(([n, p]) => `${n} ${p.rss} KiB/${p.fds} fd`).join(", "));
    return {
      id: "soak",
      group: "fault",
      seq: 20,
      title: `Soak: ${sessions} sessions through the proxy for ${minutes} min with churn`,
      short: `${sessions} websocket sessions through one proxy, ${churn} connects and ${churn} disconnects per second, chat traffic in ${rooms} rooms, ${minutes} min`,
      did: `Redis, ${workers} workers and sioc-proxy. ${sessions} websocket clients (${nHosts} client processes, distinct 127.1.x.y addresses) joined ${rooms} rooms; publishers every ${intervalMs} ms per room through two workers plus a redis-emitter. Every second ${churn} of the oldest clients disconnected and ${churn} new ones connected and joined, for ${minutes} minutes. RSS and open descriptors of the proxy, the workers and Redis were read from /proc every ${sampleMs / 1000} s; drift is the last sample against the first after ${warmMinutes} minutes of warm-up.`,
      summary: `${res.sessions} sessions in all; drift after warm-up: ${Object.entries(drift).map(([n, d]) => `${n} ${d.rssPct}% RSS, ${d.fds} fds`).join("; ")}; lost silently ${res.silentLoss}`,
      measured: {
        ...ledgerMeasures(ledger, res),
        "initial connection of all clients (ms)": r0(joinMs),
        "sessions opened in all": res.sessions,
        "clients joined at the end / per worker": `${st.joined} / ${JSON.stringify(st.byWorker)}`,
        "RSS and descriptors per minute": table.join(" | "),
        "drift after warm-up (RSS KiB / % / descriptors)": Object.entries(drift).map(([n, d]) => `${n} ${d.rssKiB} / ${d.rssPct}% / ${d.fds}`).join("; "),
      },
      problems: v.problems,
    };
  } finally {
    if (churner) clearInterval(churner);
    if (sampler) clearInterval(sampler);
    pubs?.stop();
    await pubs?.close();
    await Promise.all(hosts.map((h) => h.stop()));
    await stopCluster(c);
  }
}
