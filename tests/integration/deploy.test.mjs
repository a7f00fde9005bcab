// deploy/cluster end to end, and the static checks of the container files.
//
// The launcher runs with SIOC_SKIP_BUILD=1 on the binaries of SIOC_BUILD_DIR
// (default build/$SIOC_BUILD, else build/release), a temporary SIOC_RUN_DIR and
// free ports, so it never meets another cluster. Through the proxy, with the
// real socket.io-client over websocket: a chat session between clients pinned
// to different workers (the worker is the sid prefix of socket.io.engine.id;
// distinct source addresses 127.0.0.x steer the proxy's rendezvous hash);
// `scale 4` puts new clients on w3/w4; `scale 2` drains them onto w1/w2 while
// messages flow, and nothing acknowledged is lost; `down` leaves no process and
// no listening port; `up` on a busy port fails, names it, starts nothing.
//
// "Nothing acknowledged is lost": every send-message answered {ok:true} was
// received by every member session that had joined the room before the message
// was sent and was still connected when the ack arrived. "Connected" ends when
// the client sees the disconnect, or for a session closed by a drain, when its
// worker began draining (the time the worker logs on SIGTERM: its close frames
// may reach the client much later). Strict for the messages acknowledged before
// the drain and for every session the drain did not close. For a drained
// session, a message acknowledged less than SIOC_DRAIN_RACE_MS (default 10;
// 0 = strict) before its worker began draining is not required: it may still
// have been on its way through Redis when the worker closed the session (a
// worker acks send-message once the PUBLISH is queued). Those are counted.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import { io } from "socket.io-client";
import { sleep, until } from "./lib/util.mjs";
import { httpGet as httpGetShared } from "../lib/proc.mjs";
import { bindable, accepting, pidRunning, pidFiles } from "./lib/deploy.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CLUSTER = join(ROOT, "deploy/cluster");
const BUILD_DIR = process.env.SIOC_BUILD_DIR ?? join(ROOT, "build", process.env.SIOC_BUILD ?? "release");
const DRAIN_RACE_MS = Number(process.env.SIOC_DRAIN_RACE_MS ?? 10);

// ---- ports ----------------------------------------------------------------

/**
 * Picks the ports of one cluster below the kernel's ephemeral range (so client
 * connections cannot take them meanwhile): PORT, ADMIN_PORT with the next three
 * ports (one per proxy process), REDIS_PORT and a WORKER_PORT_BASE with base+1..base+4 free.
 */
async function pickPorts() {
  let low = 32768;
  try {
    low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || low;
  } catch {}
  const top = Math.min(low, 32768) - 10;
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * (top - 20000 - 16));
    const ports = [base, base + 2, base + 3, base + 4, base + 5, base + 6, base + 10, base + 11, base + 12, base + 13, base + 14];
    const free = await Promise.all(ports.map(bindable));
    // The proxy's processes (one per core) take ADMIN_PORT, ADMIN_PORT + 1, ...
    if (free.every(Boolean))
      return { PORT: base, ADMIN_PORT: base + 3, REDIS_PORT: base + 2, WORKER_PORT_BASE: base + 10 };
  }
  throw new Error("no free block of ports found");
}

// ---- processes --------------------------------------------------------------

const httpGet = (port, path) => httpGetShared(port, path, { timeoutMs: 1000 });

// ---- the cluster under test -----------------------------------------------------

class Cluster {
  constructor(ports) {
    this.ports = ports;
    this.runDir = mkdtempSync(join(tmpdir(), "sioc-deploy-"));
    this.seenPids = new Map(); // pid -> name, every process the run directory ever listed
    this.url = `http://127.0.0.1:${ports.PORT}`;
  }

  env(extra = {}) {
    const env = { ...process.env };
    delete env.REDIS_URL;
    delete env.JWT_SECRET;
    delete env.ADVERTISE;
    delete env.ADAPTER_MODE;
    delete env.MAX_DISCONNECTION_DURATION;
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
      ...extra,
    };
  }

  /** Runs deploy/cluster ARGS without blocking the event loop; kills it after timeoutMs. */
  run(args, { timeoutMs = 60000, env = {} } = {}) {
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

  /** Synchronous `down` for the after hook. */
  downSync() {
    return spawnSync(CLUSTER, ["down"], { cwd: ROOT, env: this.env(), timeout: 60000, encoding: "utf8" });
  }

  notePids() {
    for (const [name, pid] of Object.entries(pidFiles(this.runDir))) this.seenPids.set(pid, name);
  }

  async token(user) {
    const r = await this.run(["token", user], { timeoutMs: 10000 });
    assert.equal(r.code, 0, `token ${user}: ${r.out}`);
    const t = r.stdout.trim();
    assert.match(t, /^[\w-]+\.[\w-]+\.[\w-]+$/, "a JWT");
    return t;
  }

  allPorts() {
    const p = this.ports;
    const workers = [1, 2, 3, 4].map((i) => p.WORKER_PORT_BASE + i);
    return [p.PORT, p.ADMIN_PORT, p.REDIS_PORT, ...workers];
  }

  async workersInRotation() {
    const r = await httpGet(this.ports.ADMIN_PORT, "/metrics");
    const up = new Set();
    for (const m of r.body.matchAll(/^sioc_proxy_worker_up\{worker="([^"]+)",[^}]*\} 1$/gm)) up.add(m[1]);
    return up;
  }
}

/** performance.now() of the moment worker `name` logged the start of its drain, or null. */
function drainStartOf(runDir, name) {
  let text = "";
  try {
    text = readFileSync(join(runDir, `${name}.log`), "utf8");
  } catch {
    return null;
  }
  const m = /^(\S+Z) \S+\s+sioc-worker: signal \d+: draining/m.exec(text);
  if (!m) return null;
  const wall = Date.parse(m[1]);
  return Number.isNaN(wall) ? null : wall - (Date.now() - performance.now());
}

// ---- chat members ---------------------------------------------------------------

const workerOf = (socket) => socket.io.engine?.id?.split(".")[0];

let addrCounter = 1;
/** A fresh loopback source address per client: 127.0.0.2, 127.0.0.3, ... 127.0.1.0, ... */
function nextAddress() {
  addrCounter++;
  return `127.0.${Math.floor(addrCounter / 250)}.${(addrCounter % 250) + 1}`;
}

/**
 * A chat client that keeps a record per Engine.IO session: when it joined its
 * rooms, when it was disconnected, what it received. It reconnects on its own
 * (from the same source address) and joins its rooms again.
 */
class Member {
  constructor(cluster, name, token, rooms, { reconnection = true } = {}) {
    this.name = name;
    this.rooms = rooms;
    this.address = nextAddress();
    this.sessions = [];
    this.current = null;
    this.socket = io(cluster.url, {
      forceNew: true,
      transports: ["websocket"],
      localAddress: this.address,
      auth: { token },
      reconnection,
      reconnectionDelay: 100,
      reconnectionDelayMax: 500,
      randomizationFactor: 0.2,
      timeout: 5000,
    });
    this.socket.on("connect", () => this.onConnect());
    this.socket.on("disconnect", (reason) => {
      if (this.current) {
        this.current.disconnectedAt = performance.now();
        this.current.reason = reason;
      }
      this.current = null;
    });
    this.socket.on("receive-message", (m) => {
      if (this.current) this.current.got.add(m.id);
    });
  }

  async onConnect() {
    const s = {
      sid: this.socket.io.engine.id,
      worker: workerOf(this.socket),
      joinedAt: null,
      disconnectedAt: null,
      got: new Set(),
    };
    this.current = s;
    this.sessions.push(s);
    try {
      for (const room of this.rooms) {
        const r = await this.socket.timeout(5000).emitWithAck("join-room", room);
        assert.deepEqual(r, { ok: true });
      }
      if (this.current === s) s.joinedAt = performance.now();
    } catch {
      // disconnected meanwhile: the next session joins again
    }
  }

  /** Resolves once the current session has joined its rooms. */
  ready(timeoutMs = 10000) {
    return until(() => this.current?.joinedAt != null, timeoutMs, 10, `${this.name} connected and joined`);
  }

  get worker() {
    return this.current?.worker;
  }

  close() {
    this.socket.io.opts.reconnection = false;
    this.socket.disconnect();
    this.socket.io.engine?.close();
  }
}

/** Sends chat messages with acks and keeps the record needed to judge delivery. */
class Ledger {
  constructor() {
    this.sent = []; // { id, room, sendAt, ackAt, sender }
    this.failed = 0;
  }

  async send(member, room, id) {
    const rec = { id, room, sender: member.name, sendAt: performance.now(), ackAt: null };
    try {
      const r = await member.socket.timeout(3000).emitWithAck("send-message", { roomId: room, msg: { id, from: member.name } });
      if (r && r.ok === true) {
        rec.ackAt = performance.now();
        this.sent.push(rec);
        return true;
      }
    } catch {}
    this.failed++;
    return false;
  }

  /**
   * Every (message, member session) pair that must have been delivered, and those
   * that were not. closedAt(session) gives the moment the server closed a session
   * (else its client-side disconnect counts); a message acknowledged less than
   * raceMs before a server-side close is not required and, when missed, is
   * counted in `inFlight`.
   */
  judge(members, filter = () => true, { closedAt = () => null, raceMs = 0 } = {}) {
    let required = 0;
    let inFlight = 0;
    let inFlightGap = 0;
    const missing = [];
    for (const m of this.sent.filter(filter)) {
      for (const mem of members) {
        if (!mem.rooms.includes(m.room)) continue;
        for (const s of mem.sessions) {
          if (s.joinedAt == null || s.joinedAt > m.sendAt) continue;
          const server = closedAt(s);
          if (server == null) {
            if (s.disconnectedAt != null && s.disconnectedAt <= m.ackAt) continue;
          } else if (Math.min(server, s.disconnectedAt ?? Infinity) <= m.ackAt) {
            continue;
          } else if (server <= m.ackAt + raceMs) {
            if (!s.got.has(m.id)) {
              inFlight++;
              inFlightGap = Math.max(inFlightGap, server - m.ackAt);
            }
            continue;
          }
          required++;
          if (!s.got.has(m.id)) {
            const gap = server != null ? `, its worker began draining ${(server - m.ackAt).toFixed(1)} ms after the ack` : "";
            missing.push(`${m.id} -> ${mem.name} (${s.sid}, ${s.reason ?? "connected"}${gap})`);
          }
        }
      }
    }
    return { required, missing, inFlight, inFlightGap };
  }
}

// ---- the tests --------------------------------------------------------------------

const haveBinaries = ["worker/sioc-worker", "proxy/sioc-proxy", "worker/sioc-token"].every((b) =>
  existsSync(join(BUILD_DIR, b)),
);

describe("deploy: container files (tests/deploy/check-compose.sh)", () => {
  it("docker-compose config validates, the Dockerfile installs exactly the package groups", { timeout: 600000 }, () => {
    const r = spawnSync(join(ROOT, "tests/deploy/check-compose.sh"), [], {
      cwd: ROOT,
      env: { ...process.env, SIOC_BUILD_DIR: BUILD_DIR },
      encoding: "utf8",
      timeout: 590000,
    });
    assert.equal(r.status, 0, `check-compose.sh failed:\n${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stdout, /^not ok/m);
  });
});

describe("deploy: deploy/cluster", { skip: haveBinaries ? false : `no binaries in ${BUILD_DIR}` }, () => {
  let cluster;
  const members = [];
  let blocker = null;
  const tokens = {};

  before(async () => {
    cluster = new Cluster(await pickPorts());
  });

  after(async () => {
    for (const m of members) m.close();
    if (blocker) await new Promise((r) => blocker.close(r));
    if (cluster) {
      cluster.downSync();
      const left = [...cluster.seenPids.keys()].filter(pidRunning);
      for (const pid of left) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
      rmSync(cluster.runDir, { recursive: true, force: true });
    }
  });

  const member = (name, rooms, opts) => {
    const m = new Member(cluster, name, tokens.alice, rooms, opts);
    members.push(m);
    return m;
  };

  /** New members from new source addresses until each wanted worker has one. */
  async function membersOn(wanted, rooms, prefix, maxTries = 120, timeoutMs = 30000) {
    const found = new Map();
    const end = Date.now() + timeoutMs;
    for (let i = 0; i < maxTries && found.size < wanted.length && Date.now() < end; i++) {
      const m = member(`${prefix}${i}`, rooms);
      try {
        await m.ready(5000);
      } catch {
        m.close();
        continue;
      }
      if (wanted.includes(m.worker) && !found.has(m.worker)) found.set(m.worker, m);
      else m.close();
    }
    for (const w of wanted) assert.ok(found.has(w), `a client landed on ${w} (${found.size} of ${wanted.length} found)`);
    return wanted.map((w) => found.get(w));
  }

  it("up starts redis, two workers and the proxy and says where to connect", { timeout: 60000 }, async () => {
    const r = await cluster.run(["up"]);
    assert.equal(r.code, 0, `up failed:\n${r.out}`);
    assert.match(r.stdout, new RegExp(`http://127\\.0\\.0\\.1:${cluster.ports.PORT}`), "prints the proxy URL");
    assert.match(r.stdout, /deploy\/cluster token/, "prints how to get a token");
    const pids = pidFiles(cluster.runDir);
    assert.deepEqual(Object.keys(pids).sort(), ["proxy", "redis", "worker-1", "worker-2"]);
    for (const [name, pid] of Object.entries(pids)) assert.ok(pidRunning(pid), `${name} (pid ${pid}) runs`);
    const st = await cluster.run(["status"]);
    assert.equal(st.code, 0, st.out);
    for (const name of ["redis", "worker-1", "worker-2", "proxy"]) assert.match(st.stdout, new RegExp(`^${name}\\s+pid \\d+\\s+running`, "m"));
    assert.match(st.stdout, /^proxy .*ready=200/m);
    assert.ok(existsSync(join(cluster.runDir, "jwt_secret")), "a generated secret is kept in the run directory");
    assert.equal((await httpGet(cluster.ports.ADMIN_PORT, "/ready")).status, 200);
    // the defaults: streams mode with connection state recovery (its metrics exist only then)
    const wm = (await httpGet(Number(cluster.ports.WORKER_PORT_BASE) + 1, "/metrics")).body;
    assert.match(wm, /^sioc_redis_stream_lag_seconds\{stream="socket\.io"\} /m, "ADAPTER_MODE=streams by default");
    assert.match(wm, /^sioc_recovery_total\{result="recovered"\} 0$/m, "recovery on by default");
  });

  it("a chat session through the proxy works across workers (JWT from `deploy/cluster token`)", { timeout: 60000 }, async () => {
    tokens.alice = await cluster.token("alice");
    const [a, b] = await membersOn(["w1", "w2"], ["lobby"], "chat-");
    assert.equal(a.worker, "w1");
    assert.equal(b.worker, "w2");
    const ledger = new Ledger();
    for (let i = 0; i < 5; i++) {
      assert.ok(await ledger.send(a, "lobby", `a${i}`), "ack {ok:true}");
      assert.ok(await ledger.send(b, "lobby", `b${i}`), "ack {ok:true}");
    }
    await until(() => ledger.judge([a, b]).missing.length === 0, 5000, 20, "every message delivered on both workers");
    // A token signed with another secret is refused.
    const bad = io(cluster.url, { forceNew: true, reconnection: false, transports: ["websocket"], auth: { token: "x.y.z" } });
    const err = await new Promise((res) => {
      bad.once("connect_error", res);
      bad.once("connect", () => res(null));
    });
    bad.close();
    assert.ok(err, "an invalid token is refused");
    a.close();
    b.close();
  });

  it("the proxy serves the chat page and the client bundle; `url USER` prints a signed-in address", { timeout: 60000 }, async () => {
    const page = await httpGet(cluster.ports.PORT, "/");
    assert.equal(page.status, 200);
    assert.match(page.body, /<title>sioc chat<\/title>/);
    const bundle = await httpGet(cluster.ports.PORT, "/socket.io/socket.io.min.js");
    assert.equal(bundle.status, 200);
    assert.match(bundle.body, /Socket\.IO v4\./);
    assert.equal((await httpGet(cluster.ports.PORT, "/dev/token?user=x")).status, 404, "no token endpoint unless asked for");
    const r = await cluster.run(["url", "alice"]);
    assert.equal(r.code, 0, r.out);
    const m = new RegExp(`^http://127\\.0\\.0\\.1:${cluster.ports.PORT}/#token=([\\w-]+\\.[\\w-]+\\.[\\w-]+)$`, "m").exec(r.stdout);
    assert.ok(m, `url prints the page address with a token: ${r.stdout}`);
    const s = io(cluster.url, { forceNew: true, reconnection: false, transports: ["websocket"], auth: { token: m[1] } });
    await new Promise((res, rej) => {
      s.once("connect", res);
      s.once("connect_error", rej);
    });
    s.close();
  });

  it("scale 4 adds workers that take new clients", { timeout: 90000 }, async () => {
    const r = await cluster.run(["scale", "4"]);
    assert.equal(r.code, 0, `scale 4 failed:\n${r.out}`);
    const pids = pidFiles(cluster.runDir);
    assert.deepEqual(Object.keys(pids).filter((n) => n.startsWith("worker-")).sort(), ["worker-1", "worker-2", "worker-3", "worker-4"]);
    for (const w of ["worker-3", "worker-4"]) assert.ok(pidRunning(pids[w]), `${w} runs`);
    await until(async () => (await cluster.workersInRotation()).size === 4, 10000, 100, "the proxy routes to 4 workers");
    const [c3, c4] = await membersOn(["w3", "w4"], ["lobby"], "new-");
    const [c1] = await membersOn(["w1"], ["lobby"], "old-");
    const ledger = new Ledger();
    for (const m of [c3, c4, c1]) assert.ok(await ledger.send(m, "lobby", `s4-${m.name}`));
    await until(() => ledger.judge([c1, c3, c4]).missing.length === 0, 5000, 20, "delivery between old and new workers");
    for (const m of [c1, c3, c4]) m.close();
  });

  it("scale 2 drains w3 and w4: their clients reconnect to w1/w2 and nothing acknowledged is lost", { timeout: 120000 }, async (t) => {
    const room = "drain";
    const group = await membersOn(["w1", "w2", "w3", "w4"], [room], "d-");
    const extra = await membersOn(["w3", "w4"], [room], "dx-"); // two more on the workers that go away
    const all = [...group, ...extra];
    await Promise.all(all.map((m) => m.ready()));
    const drained = all.filter((m) => m.worker === "w3" || m.worker === "w4");
    const drainedSids = new Map(drained.map((m) => [m, m.current.sid]));
    const ledger = new Ledger();

    // Before the drain: every member sends and every ack is in.
    let seq = 0;
    await Promise.all(all.map(async (m) => {
      for (let i = 0; i < 5; i++) await ledger.send(m, room, `pre-${m.name}-${i}`);
    }));
    const preCount = ledger.sent.length;
    assert.equal(preCount, all.length * 5, "every message before the drain acknowledged");
    const drainStart = performance.now();

    // During the drain: every member keeps sending while `scale 2` runs.
    let sending = true;
    const senders = all.map(async (m) => {
      while (sending) {
        if (m.socket.connected) await ledger.send(m, room, `mid-${m.name}-${seq++}`);
        else await sleep(20);
        await sleep(5);
      }
    });
    const r = await cluster.run(["scale", "2"]);
    assert.equal(r.code, 0, `scale 2 failed:\n${r.out}`);
    assert.match(r.stdout, /draining worker-4/);
    assert.match(r.stdout, /draining worker-3/);
    // Every client of the removed workers was disconnected and is back, on w1 or w2.
    await until(
      () => drained.every((m) => m.current?.joinedAt != null && m.current.sid !== drainedSids.get(m)),
      20000, 50, "drained clients reconnected and joined again",
    );
    for (const m of drained) {
      assert.ok(["w1", "w2"].includes(m.worker), `${m.name} now on ${m.worker}`);
      const old = m.sessions.find((s) => s.sid === drainedSids.get(m));
      assert.ok(old.disconnectedAt != null && old.disconnectedAt > drainStart, `${m.name} was disconnected by the drain (${old.reason})`);
    }
    await sleep(500); // traffic after everybody is back
    sending = false;
    await Promise.all(senders);
    await sleep(500); // late deliveries

    const pids = pidFiles(cluster.runDir);
    assert.deepEqual(Object.keys(pids).filter((n) => n.startsWith("worker-")).sort(), ["worker-1", "worker-2"]);
    for (const [pid, name] of cluster.seenPids) {
      if (name === "worker-3" || name === "worker-4") assert.ok(!pidRunning(pid), `${name} (pid ${pid}) exited`);
    }
    await until(async () => {
      const up = await cluster.workersInRotation();
      return up.size === 2 && up.has("w1") && up.has("w2");
    }, 10000, 100, "the proxy routes to w1 and w2 only");

    // The drain must not disturb the clients of the workers that stay.
    for (const m of all.filter((x) => !drained.includes(x))) {
      assert.equal(m.sessions.length, 1, `${m.name} (on ${m.sessions[0].worker}) kept its session`);
      assert.equal(m.sessions[0].disconnectedAt, null, `${m.name} was not disconnected`);
    }
    const drainAt = { w3: drainStartOf(cluster.runDir, "worker-3"), w4: drainStartOf(cluster.runDir, "worker-4") };
    assert.ok(drainAt.w3 != null && drainAt.w4 != null, "the workers logged their drain");
    const closedAt = (s) => (s.worker === "w3" || s.worker === "w4" ? drainAt[s.worker] : null);
    const pre = ledger.judge(all, (m) => m.sendAt < drainStart, { closedAt });
    assert.equal(pre.missing.length, 0, `messages acknowledged before the drain, not received:\n${pre.missing.slice(0, 20).join("\n")}`);
    assert.equal(pre.required, preCount * all.length, "each pre-drain message counted for every member");
    const whole = ledger.judge(all, () => true, { closedAt, raceMs: DRAIN_RACE_MS });
    t.diagnostic(
      `${ledger.sent.length} messages acknowledged (${preCount} before the drain, ${ledger.failed} sends not acknowledged), ` +
        `${whole.required} deliveries checked, ${whole.inFlight} missed by a drained session whose worker began draining ` +
        `less than ${DRAIN_RACE_MS} ms after the ack (at most ${whole.inFlightGap.toFixed(1)} ms after)`,
    );
    assert.equal(whole.missing.length, 0, `acknowledged messages lost (${whole.missing.length} of ${whole.required}):\n${whole.missing.slice(0, 20).join("\n")}`);
    assert.ok(ledger.sent.length > preCount, "messages were acknowledged during and after the drain");
    // Chat goes on among everybody after the drain.
    const after = new Ledger();
    for (const m of drained) assert.ok(await after.send(m, room, `post-${m.name}`));
    await until(() => after.judge(all).missing.length === 0, 5000, 20, "delivery after the drain");
  });

  it("down stops every process it started and leaves no port listening", { timeout: 60000 }, async (t) => {
    // Clients stay connected (and keep trying to reconnect) while the cluster stops.
    const connected = members.filter((m) => m.socket.connected).length;
    assert.ok(connected > 0, "clients are connected");
    cluster.notePids();
    const started = [...cluster.seenPids.keys()];
    assert.ok(started.length >= 6, `pids recorded: ${started.length}`);
    const t0 = Date.now();
    const r = await cluster.run(["down"], { timeoutMs: 45000 });
    assert.equal(r.code, 0, `down failed:\n${r.out}`);
    assert.doesNotMatch(r.out, /killed/, `every process stopped on SIGTERM:\n${r.out}`);
    for (const [pid, name] of cluster.seenPids) assert.ok(!pidRunning(pid), `${name} (pid ${pid}) is gone`);
    assert.deepEqual(pidFiles(cluster.runDir), {}, "no pid file left");
    for (const port of cluster.allPorts()) assert.equal(await accepting(port), false, `nothing listens on ${port}`);
    const st = await cluster.run(["status"]);
    assert.notEqual(st.code, 0, "status: not running");
    t.diagnostic(`down took ${Date.now() - t0} ms with ${connected} clients connected`);
    for (const m of members) m.close();
  });

  for (const which of ["PORT", "WORKER_PORT_BASE"]) {
    it(`up with a busy ${which === "PORT" ? "proxy" : "worker"} port fails, names the port and leaves nothing running`, { timeout: 60000 }, async () => {
      const port = which === "PORT" ? cluster.ports.PORT : cluster.ports.WORKER_PORT_BASE + 2;
      blocker = net.createServer((s) => s.destroy());
      await new Promise((res, rej) => {
        blocker.once("error", rej);
        blocker.listen(port, "127.0.0.1", res);
      });
      const before = new Set(cluster.seenPids.keys());
      const r = await cluster.run(["up"]);
      await new Promise((res) => blocker.close(res));
      blocker = null;
      assert.notEqual(r.code, 0, "up exits non-zero");
      assert.match(r.stderr, new RegExp(`\\b${port}\\b`), `names port ${port}: ${r.out}`);
      assert.match(r.stderr, /in use/, r.out);
      for (const [pid, name] of cluster.seenPids) if (!before.has(pid)) assert.ok(!pidRunning(pid), `${name} (pid ${pid}) is not running`);
      for (const [name, pid] of Object.entries(pidFiles(cluster.runDir))) assert.ok(!pidRunning(pid), `${name} (pid ${pid}) is not running`);
      for (const p of cluster.allPorts()) if (p !== port) assert.equal(await accepting(p), false, `nothing listens on ${p}`);
      const st = await cluster.run(["status"]);
      assert.notEqual(st.code, 0, `status after the failed up: ${st.out}`);
    });
  }
});
