// deploy/cluster with a Redis Cluster: `REDIS_NODES=6 deploy/cluster up` and an
// external cluster given as REDIS_URL.
//
// The launcher runs with SIOC_SKIP_BUILD=1 on the binaries of SIOC_BUILD_DIR
// (default build/$SIOC_BUILD, else build/release), a temporary SIOC_RUN_DIR and
// free ports: REDIS_PORT .. REDIS_PORT+5 and their cluster bus ports (+10000) are
// all below the kernel's ephemeral range, so no client connection can take one
// meanwhile. Checked:
//   - `up` starts six redis-servers in cluster mode (3 primaries holding the 16384
//     slots, 3 replicas), two workers in sharded mode and the proxy, and gives the
//     workers and the proxy the seed list naming all six nodes;
//   - `status` lists the nodes with their roles and slots and cluster_state:ok;
//   - through the proxy, with socket.io-client over websocket, clients on w1 and w2
//     share 12 rooms: every message crosses to the other worker, and the rooms'
//     shard channels are spread over more than one primary (SSUBSCRIBE on the node
//     that owns each slot);
//   - `down` stops all nine processes by PID and frees every port, bus ports included;
//   - REDIS_NODES with REDIS_URL, REDIS_NODES=2, and a busy node or bus port are
//     refused before anything starts;
//   - REDIS_URL naming a cluster the test started (3 primaries): `up` uses it in
//     the default adapter mode (streams), messages cross workers, `down` leaves its
//     nodes running.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { io } from "socket.io-client";
import { until } from "./lib/util.mjs";
import { respQuery } from "../lib/proc.mjs";
import { startRedisCluster } from "../lib/redis-cluster.mjs";
import { bindable, accepting, pidRunning, pidFiles, cmdline } from "./lib/deploy.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CLUSTER = join(ROOT, "deploy/cluster");
const BUILD_DIR = process.env.SIOC_BUILD_DIR ?? join(ROOT, "build", process.env.SIOC_BUILD ?? "release");
const NODES = 6;
const ROOMS = Array.from({ length: 12 }, (_, i) => `room-${i}`);

// ---- ports and processes ----------------------------------------------------------

/**
 * PORT, ADMIN_PORT (+3: one per proxy process), REDIS_PORT (+5, and each + 10000 for
 * the cluster bus) and WORKER_PORT_BASE (+1, +2), every one free and below the
 * ephemeral range.
 */
async function pickPorts() {
  let low = 32768;
  try {
    low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || low;
  } catch {}
  const top = Math.min(low, 32768) - 10000 - 40;
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (top - 20000));
    const redis = Array.from({ length: NODES }, (_, i) => base + 10 + i);
    const ports = [base, base + 3, base + 4, base + 5, base + 6, ...redis, ...redis.map((p) => p + 10000), base + 21, base + 22];
    if ((await Promise.all(ports.map(bindable))).every(Boolean))
      return { PORT: base, ADMIN_PORT: base + 3, REDIS_PORT: base + 10, WORKER_PORT_BASE: base + 20 };
  }
  throw new Error("no free block of ports found");
}

// ---- deploy/cluster -----------------------------------------------------------------

class Deployment {
  constructor(ports, extraEnv = {}) {
    this.ports = ports;
    this.extraEnv = extraEnv;
    this.runDir = mkdtempSync(join(tmpdir(), "sioc-deploy-rc-"));
    this.seenPids = new Map();
    this.url = `http://127.0.0.1:${ports.PORT}`;
  }

  env(extra = {}) {
    const env = { ...process.env };
    for (const k of ["REDIS_URL", "REDIS_NODES", "JWT_SECRET", "ADVERTISE", "ADAPTER_MODE", "MAX_DISCONNECTION_DURATION"]) delete env[k];
    return {
      ...env,
      SIOC_SKIP_BUILD: "1",
      SIOC_RUN_DIR: this.runDir,
      SIOC_BUILD_DIR: BUILD_DIR,
      WORKERS: "2",
      PORT: String(this.ports.PORT),
      ADMIN_PORT: String(this.ports.ADMIN_PORT),
      REDIS_PORT: String(this.ports.REDIS_PORT),
      WORKER_PORT_BASE: String(this.ports.WORKER_PORT_BASE),
      ...this.extraEnv,
      ...extra,
    };
  }

  run(args, { timeoutMs = 90000, env = {} } = {}) {
    return new Promise((res) => {
      const child = spawn(CLUSTER, args, { cwd: ROOT, env: this.env(env), stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        this.notePids();
        res({ code, signal, stdout, stderr, out: stdout + stderr });
      });
    });
  }

  notePids() {
    for (const [name, pid] of Object.entries(pidFiles(this.runDir))) this.seenPids.set(pid, name);
  }

  /** `down`, then SIGKILL for anything the run directory ever listed that still runs. */
  cleanup() {
    spawnSync(CLUSTER, ["down"], { cwd: ROOT, env: this.env(), timeout: 60000, encoding: "utf8" });
    for (const pid of [...this.seenPids.keys()].filter(pidRunning)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
    rmSync(this.runDir, { recursive: true, force: true });
  }

  async token(user) {
    const r = await this.run(["token", user], { timeoutMs: 10000 });
    assert.equal(r.code, 0, `token ${user}: ${r.out}`);
    return r.stdout.trim();
  }
}

// ---- clients -------------------------------------------------------------------------

let addrCounter = 1;
function nextAddress() {
  addrCounter++;
  return `127.0.${Math.floor(addrCounter / 250)}.${(addrCounter % 250) + 1}`;
}

/** A socket.io client through the proxy that joins `rooms`; resolves once joined. */
async function member(dep, token, rooms) {
  const socket = io(dep.url, {
    forceNew: true, transports: ["websocket"], localAddress: nextAddress(), auth: { token }, reconnection: false, timeout: 5000,
  });
  const got = new Set(); // ids of the messages received
  socket.on("receive-message", (m) => got.add(m?.id));
  await new Promise((res, rej) => {
    socket.once("connect", res);
    socket.once("connect_error", rej);
  });
  for (const room of rooms) assert.deepEqual(await socket.timeout(5000).emitWithAck("join-room", room), { ok: true });
  return { socket, got, worker: socket.io.engine.id.split(".")[0], close: () => socket.close() };
}

/** New clients from new source addresses until each of `wanted` workers has one. */
async function membersOn(dep, token, wanted, rooms) {
  const found = new Map();
  for (let i = 0; i < 100 && found.size < wanted.length; i++) {
    let m;
    try {
      m = await member(dep, token, rooms);
    } catch {
      continue;
    }
    if (wanted.includes(m.worker) && !found.has(m.worker)) found.set(m.worker, m);
    else m.close();
  }
  for (const w of wanted) assert.ok(found.has(w), `a client landed on ${w}`);
  return wanted.map((w) => found.get(w));
}

/** Each of a and b sends once in every room; each receives the other's messages. */
async function crossTalk(a, b, tag) {
  const sent = [];
  for (const room of ROOMS) {
    for (const [from, name] of [[a, "a"], [b, "b"]]) {
      const id = `${tag}-${name}-${room}`;
      const r = await from.socket.timeout(5000).emitWithAck("send-message", { roomId: room, msg: { id } });
      assert.deepEqual(r, { ok: true }, `send-message ${id}`);
      sent.push({ id, room, to: from === a ? b : a });
    }
  }
  const missing = () => sent.filter((s) => !s.to.got.has(s.id));
  await until(() => missing().length === 0, 10000, 20, "every message received on the other worker").catch(() => {
    assert.fail(`not received across workers: ${missing().map((s) => s.id).join(", ")}`);
  });
  return sent.length;
}

const haveBinaries = ["worker/sioc-worker", "proxy/sioc-proxy", "worker/sioc-token"].every((b) => existsSync(join(BUILD_DIR, b)));

describe("deploy/cluster: REDIS_NODES=6 (a local Redis Cluster)", { skip: haveBinaries ? false : `no binaries in ${BUILD_DIR}` }, () => {
  let dep;
  const clients = [];
  let blocker = null;

  before(async () => {
    dep = new Deployment(await pickPorts(), { REDIS_NODES: String(NODES), ADAPTER_MODE: "sharded" });
  });

  after(async () => {
    for (const c of clients) c.close();
    if (blocker) await new Promise((r) => blocker.close(r));
    if (dep) dep.cleanup();
  });

  const redisPorts = () => Array.from({ length: NODES }, (_, i) => dep.ports.REDIS_PORT + i);
  const allPorts = () => {
    const p = dep.ports;
    return [p.PORT, p.ADMIN_PORT, p.WORKER_PORT_BASE + 1, p.WORKER_PORT_BASE + 2, ...redisPorts(), ...redisPorts().map((x) => x + 10000)];
  };

  it("refuses REDIS_NODES with REDIS_URL, REDIS_NODES=2 and a busy node or bus port, starting nothing", { timeout: 60000 }, async () => {
    let r = await dep.run(["up"], { env: { REDIS_URL: "redis://127.0.0.1:1" } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /REDIS_NODES=6 .*REDIS_URL/, r.out);
    r = await dep.run(["up"], { env: { REDIS_NODES: "2" } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /REDIS_NODES must be 1 .* or >= 3/, r.out);
    for (const [port, what] of [[dep.ports.REDIS_PORT + 3, "redis node 4"], [dep.ports.REDIS_PORT + 10005, "redis node 6 cluster bus"]]) {
      blocker = net.createServer((s) => s.destroy());
      await new Promise((res, rej) => {
        blocker.once("error", rej);
        blocker.listen(port, "127.0.0.1", res);
      });
      r = await dep.run(["up"]);
      await new Promise((res) => blocker.close(res));
      blocker = null;
      assert.notEqual(r.code, 0, "up exits non-zero");
      assert.match(r.stderr, new RegExp(`\\b${port}\\(${what}\\)`), `names port ${port}: ${r.out}`);
    }
    assert.deepEqual(pidFiles(dep.runDir), {}, "nothing was started");
  });

  it("up starts 6 cluster nodes (3 primaries, 3 replicas), the workers and the proxy on the seed list", { timeout: 120000 }, async () => {
    const r = await dep.run(["up"]);
    assert.equal(r.code, 0, `up failed:\n${r.out}`);
    const seed = `redis://${redisPorts().map((p) => `127.0.0.1:${p}`).join(",")}`;
    assert.ok(r.stdout.includes(seed), `up names the seed list ${seed}:\n${r.stdout}`);
    const pids = pidFiles(dep.runDir);
    const nodeNames = redisPorts().map((_, i) => `redis-${i + 1}`);
    assert.deepEqual(Object.keys(pids).sort(), [...nodeNames, "proxy", "worker-1", "worker-2"].sort());
    for (const [name, pid] of Object.entries(pids)) assert.ok(pidRunning(pid), `${name} (pid ${pid}) runs`);
    // Six distinct redis-server processes, node i in cluster mode on REDIS_PORT+i-1.
    const redisPids = nodeNames.map((n) => pids[n]);
    assert.equal(new Set(redisPids).size, NODES);
    nodeNames.forEach((n, i) => {
      const argv = cmdline(pids[n]);
      assert.match(argv[0] ?? "", /redis-server/, `${n} is a redis-server: ${argv.join(" ")}`);
    });
    for (const port of redisPorts()) {
      const info = await respQuery(port, ["CLUSTER", "INFO"]);
      assert.match(info, /cluster_state:ok/, `node on ${port}: cluster_state:ok`);
      assert.match(info, /cluster_known_nodes:6\r?\n/, `node on ${port} knows the six`);
    }
    const nodes = (await respQuery(dep.ports.REDIS_PORT, ["CLUSTER", "NODES"])).split("\n").filter(Boolean).map((l) => l.split(" "));
    const primaries = nodes.filter((f) => f[2].includes("master"));
    assert.equal(primaries.length, 3, "3 primaries");
    assert.equal(nodes.filter((f) => f[2].includes("slave")).length, 3, "3 replicas");
    const slots = primaries.flatMap((f) => f.slice(8)).reduce((n, range) => {
      const [lo, hi = lo] = range.split("-").map(Number);
      return n + hi - lo + 1;
    }, 0);
    assert.equal(slots, 16384, "the primaries hold every slot");
    // The workers and the proxy were given every node.
    for (const name of ["worker-1", "worker-2", "proxy"]) {
      const argv = cmdline(pids[name]);
      assert.equal(argv[argv.indexOf("--redis-url") + 1], seed, `${name} --redis-url`);
    }
    assert.equal(cmdline(pids["worker-1"])[cmdline(pids["worker-1"]).indexOf("--adapter-mode") + 1], "sharded");
    const st = await dep.run(["status"]);
    assert.equal(st.code, 0, st.out);
    for (const n of [...nodeNames, "worker-1", "worker-2", "proxy"]) assert.match(st.stdout, new RegExp(`^${n}\\s+pid \\d+\\s+running`, "m"));
    assert.match(st.stdout, /^redis cluster: cluster_state:ok/m);
    assert.equal((st.stdout.match(/^ {2}127\.0\.0\.1:\d+\s+master\s+slots \d+/gm) || []).length, 3, `3 primaries with slots:\n${st.stdout}`);
    assert.equal((st.stdout.match(/^ {2}127\.0\.0\.1:\d+\s+slave\s+replica of 127\.0\.0\.1:\d+/gm) || []).length, 3, `3 replicas:\n${st.stdout}`);
  });

  it("room messages cross workers through the cluster, the rooms' shard channels on several primaries", { timeout: 90000 }, async (t) => {
    const token = await dep.token("alice");
    const [a, b] = await membersOn(dep, token, ["w1", "w2"], ROOMS);
    clients.push(a, b);
    const n = await crossTalk(a, b, "deploy");
    // Where the workers subscribed: PUBSUB SHARDCHANNELS on each primary.
    const holders = new Map();
    for (const port of redisPorts()) {
      const chans = await respQuery(port, ["PUBSUB", "SHARDCHANNELS"]);
      // A room's sharded channel is <key>#<nsp>#<room>#, as in Node's sharded adapter.
      for (const room of ROOMS) if ((chans || []).some((c) => c.endsWith(`#/#${room}#`))) holders.set(room, port);
    }
    t.diagnostic(`${n} messages crossed; shard channels per node: ${JSON.stringify(Object.fromEntries(
      redisPorts().map((p) => [p, [...holders].filter(([, q]) => q === p).length])))}`);
    assert.equal(holders.size, ROOMS.length, "every room has a shard channel on some node");
    assert.ok(new Set(holders.values()).size >= 2, "the rooms' channels live on more than one primary");
  });

  it("down stops all nine processes by PID and frees every port, the cluster bus included", { timeout: 60000 }, async () => {
    for (const c of clients.splice(0)) c.close();
    dep.notePids();
    assert.equal([...dep.seenPids.values()].filter((n) => n.startsWith("redis-")).length, NODES);
    const r = await dep.run(["down"]);
    assert.equal(r.code, 0, `down failed:\n${r.out}`);
    assert.doesNotMatch(r.out, /killed/, `every process stopped on SIGTERM:\n${r.out}`);
    for (const [pid, name] of dep.seenPids) assert.ok(!pidRunning(pid), `${name} (pid ${pid}) is gone`);
    assert.deepEqual(pidFiles(dep.runDir), {}, "no pid file left");
    assert.ok(!existsSync(join(dep.runDir, "redis-nodes")) && !existsSync(join(dep.runDir, "redis-cluster")), "no cluster state left");
    for (const port of allPorts()) assert.equal(await accepting(port), false, `nothing listens on ${port}`);
    const st = await dep.run(["status"]);
    assert.notEqual(st.code, 0, "status: not running");
  });
});

describe("deploy/cluster: REDIS_URL naming a running Redis Cluster", { skip: haveBinaries ? false : `no binaries in ${BUILD_DIR}` }, () => {
  let external;
  let dep;
  const clients = [];

  before(async () => {
    external = await startRedisCluster({ primaries: 3, replicasPer: 0 });
    // deploy/cluster's default adapter mode (streams): each stream on its slot.
    dep = new Deployment(await pickPorts(), { REDIS_URL: external.url });
  });

  after(async () => {
    for (const c of clients) c.close();
    if (dep) dep.cleanup();
    if (external) await external.stop();
  });

  it("up uses it, messages cross workers (streams mode), down leaves its nodes running", { timeout: 120000 }, async () => {
    const r = await dep.run(["up"]);
    assert.equal(r.code, 0, `up failed:\n${r.out}`);
    const pids = pidFiles(dep.runDir);
    assert.deepEqual(Object.keys(pids).sort(), ["proxy", "worker-1", "worker-2"], "no redis started");
    assert.equal(cmdline(pids["worker-1"])[cmdline(pids["worker-1"]).indexOf("--redis-url") + 1], external.url);
    assert.equal(cmdline(pids["worker-1"])[cmdline(pids["worker-1"]).indexOf("--adapter-mode") + 1], "streams");
    const token = await dep.token("bob");
    const [a, b] = await membersOn(dep, token, ["w1", "w2"], ROOMS);
    clients.push(a, b);
    await crossTalk(a, b, "external");
    for (const c of clients.splice(0)) c.close();
    const d = await dep.run(["down"]);
    assert.equal(d.code, 0, d.out);
    for (const [pid, name] of dep.seenPids) assert.ok(!pidRunning(pid), `${name} (pid ${pid}) is gone`);
    for (const pid of external.pids) assert.ok(pidRunning(pid), `the external node (pid ${pid}) still runs`);
  });
});
