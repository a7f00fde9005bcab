// The ledger harness: who published what, who received what, and whether
// anything was lost silently.
//
// Publishers put {pub, seq, t} into one room each: a SioPublisher is a
// socket.io client that emits `send-message` through one worker (its ack says
// the worker took the message), an EmitterPublisher publishes through
// @socket.io/redis-emitter straight into Redis. Every publication is
// recorded: seq, send time, ack time, status (ok / refused / unknown) and the
// worker it went through.
//
// A LedgerClient is a socket.io client (reconnecting with the library's
// default jittered backoff unless told otherwise) that joins its rooms on
// every connect and records each session (sid, worker, connect time, time
// its joins were acknowledged, disconnect time and reason) and every
// receive-message (pub, seq, send time, receive time, session). Clients run
// in the test process or, many at a time, in ClientHost child processes
// (client-host.mjs), which also lets a test SIGSTOP one of them.
//
// check() is the verdict: for every client and every interval it was
// connected (from its joins' ack to its disconnect), each publication to one
// of its rooms sent inside the interval must have arrived exactly once, in
// per-publisher order. A missing publication is
//   - "excused" when the test declared a window in which cross-worker
//     delivery is documented to pause (Redis down: the worker's /ready was
//     red, dropped publishes are counted) and the publication had to cross
//     workers; same-worker delivery is never excused;
//   - "at disconnect" when it is part of the tail of the interval that a
//     visible disconnect ended (nothing later from that publisher arrived in
//     the session, and it was sent at most tailGraceMs before the disconnect, or,
//     when the session's own client closed it while its process's event loop
//     lagged, at most that lag plus the run's p99 latency before it);
//   - a SILENT LOSS otherwise, which fails the test. Duplicates and
//     reordering fail it too.
// Sampler records RSS and open fds of every process and Redis client output
// memory; latency percentiles come from receive time - send time.

import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";
import { createRequire } from "node:module";
import { makeToken } from "../../integration/lib/token.mjs";
import { rssKiB, fdCount, redisClientStats } from "./procs.mjs";

const require = createRequire(import.meta.url);

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export const now = () => performance.timeOrigin + performance.now();

export const ST_OK = 1;
export const ST_UNKNOWN = 0;
export const ST_REFUSED = -1;

/** Publication registry shared by the publishers of one test. */
export class Ledger {
  constructor() {
    this.pubs = new Map(); // id -> {id, room, kind, entries: [{seq, t, tAck, st, via}]}
  }

  publisher(id, room, kind) {
    if (this.pubs.has(id)) throw new Error(`duplicate publisher ${id}`);
    const p = { id, room, kind, entries: [] };
    this.pubs.set(id, p);
    return p;
  }

  totals() {
    let ok = 0;
    let unknown = 0;
    let refused = 0;
    for (const p of this.pubs.values())
      for (const e of p.entries) {
        if (e.st === ST_OK) ok++;
        else if (e.st === ST_UNKNOWN) unknown++;
        else refused++;
      }
    return { ok, unknown, refused };
  }
}

const workerOfSid = (sid) => (sid && sid.includes(".") ? sid.slice(0, sid.indexOf(".")) : "?");

function tokenOf(opts, user) {
  if (opts.token === null) return undefined;
  if (typeof opts.token === "string") return opts.token;
  return makeToken({ sub: user, ...(opts.tokenOpts || {}) });
}

/**
 * socket.io publisher: emits send-message {roomId, msg: {pub, seq, t}} with an ack
 * every `intervalMs` (`burst` messages per tick) while connected.
 */
export class SioPublisher {
  constructor(ledger, { id, url, room, intervalMs = 20, burst = 1, ackTimeoutMs = 3000, pad = 0, clientOpts = {}, token, tokenOpts } = {}) {
    this.rec = ledger.publisher(id, room, "sio");
    this.pad = pad ? "x".repeat(pad) : undefined;
    this.id = id;
    this.room = room;
    this.seq = 0;
    this.intervalMs = intervalMs;
    this.burst = burst;
    this.ackTimeoutMs = ackTimeoutMs;
    this.inflight = 0;
    this.socket = io(url, {
      forceNew: true,
      transports: ["websocket"],
      reconnectionDelay: 300,
      reconnectionDelayMax: 1000,
      timeout: 5000,
      auth: (cb) => cb({ token: tokenOf({ token, tokenOpts }, `pub-${id}`) }),
      ...clientOpts,
    });
    this.timer = null;
  }

  connected() {
    return new Promise((resolve, reject) => {
      if (this.socket.connected) return resolve();
      this.socket.once("connect", resolve);
      this.socket.once("connect_error", reject);
    });
  }

  worker() {
    return workerOfSid(this.socket.io.engine?.id);
  }

  publishOne() {
    if (!this.socket.connected) return;
    const seq = ++this.seq;
    const e = { seq, t: now(), tAck: 0, st: ST_UNKNOWN, via: this.worker() };
    this.rec.entries.push(e);
    this.inflight++;
    this.socket.timeout(this.ackTimeoutMs).emit("send-message", { roomId: this.room, msg: { pub: this.id, seq, t: e.t, pad: this.pad } }, (err, ack) => {
      this.inflight--;
      e.tAck = now();
      if (err) e.st = ST_UNKNOWN;
      else e.st = ack && ack.ok === true ? ST_OK : ST_REFUSED;
    });
  }

  start() {
    this.timer = setInterval(() => {
      for (let i = 0; i < this.burst; i++) this.publishOne();
    }, this.intervalMs);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  close() {
    this.stop();
    this.socket.io.opts.reconnection = false;
    this.socket.disconnect();
  }
}

/** @socket.io/redis-emitter publisher: emitter.to(room).emit("receive-message", {pub, seq, t}). */
export class EmitterPublisher {
  constructor(ledger, { id, redisUrl, room, intervalMs = 20 } = {}) {
    const { createClient } = require("redis");
    const { Emitter } = require("@socket.io/redis-emitter");
    this.rec = ledger.publisher(id, room, "emitter");
    this.id = id;
    this.room = room;
    this.seq = 0;
    this.intervalMs = intervalMs;
    this.client = createClient({
      url: redisUrl,
      disableOfflineQueue: true,
      socket: { reconnectStrategy: () => 200, connectTimeout: 1000 },
    });
    this.client.on("error", () => {});
    const wrapped = {
      publish: (ch, msg) => {
        const e = this.current;
        const p = this.client.publish(ch, msg);
        p.then(
          () => {
            e.tAck = now();
            e.st = ST_OK;
          },
          () => {
            e.tAck = now();
            e.st = ST_REFUSED;
          },
        );
        return p;
      },
    };
    this.emitter = new Emitter(wrapped);
  }

  async connect() {
    await this.client.connect();
  }

  publishOne() {
    if (!this.client.isReady) return;
    const seq = ++this.seq;
    const e = { seq, t: now(), tAck: 0, st: ST_UNKNOWN, via: "emitter" };
    this.rec.entries.push(e);
    this.current = e;
    try {
      this.emitter.to(this.room).emit("receive-message", { pub: this.id, seq, t: e.t });
    } catch {
      e.st = ST_REFUSED;
    }
  }

  start() {
    this.timer = setInterval(() => this.publishOne(), this.intervalMs);
  }

  stop() {
    clearInterval(this.timer);
  }

  async close() {
    this.stop();
    await this.client.disconnect().catch(() => {});
  }
}

/** Latencies in whole milliseconds (0 .. 120 s, longer ones in the last bucket). */
export class LatencyHist {
  constructor() {
    this.b = new Float64Array(120001);
    this.n = 0;
    this.max = 0;
  }
  add(ms) {
    const i = Math.min(this.b.length - 1, Math.max(0, Math.round(ms)));
    this.b[i]++;
    this.n++;
    if (ms > this.max) this.max = ms;
  }
  /** [[ms, count], ...] of the non-empty buckets, and the max: small enough for IPC. */
  toJSON() {
    const out = [];
    for (let i = 0; i < this.b.length; i++) if (this.b[i]) out.push([i, this.b[i]]);
    return { buckets: out, max: this.max };
  }
  merge({ buckets, max }) {
    for (const [i, n] of buckets) {
      this.b[i] += n;
      this.n += n;
    }
    if (max > this.max) this.max = max;
    return this;
  }
  percentile(p) {
    if (!this.n) return NaN;
    const want = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < this.b.length; i++) if ((seen += this.b[i]) >= want) return i;
    return this.b.length - 1;
  }
}

/** The latencies of this process's compact clients. */
export const hostLatency = new LatencyHist();

// How far this process's event loop fell behind lately: a client host that stalls (a burst of
// connects, a collection) leaves deliveries unread in its sockets, and a client it closes
// then never reads them. close() records it with the session; check() widens that session's
// tail by it.
const loopLag = { timer: null, spikes: [] }; // [[t, lag ms], ...] of the last 10 s
function watchLoop() {
  if (loopLag.timer) return;
  let expect = now() + 50;
  loopLag.timer = setInterval(() => {
    const t = now();
    if (t - expect > 20) loopLag.spikes.push([t, t - expect]);
    expect = t + 50;
    while (loopLag.spikes.length && loopLag.spikes[0][0] < t - 10000) loopLag.spikes.shift();
  }, 50);
  loopLag.timer.unref();
}
function recentLoopLagMs() {
  const cut = now() - 10000;
  return loopLag.spikes.reduce((a, [t, l]) => (t >= cut && l > a ? l : a), 0);
}

/** Is seq in the sorted, disjoint [a0, b0, a1, b1, ...] ranges? */
function inRanges(r, seq) {
  let lo = 0;
  let hi = r.length / 2 - 1;
  while (lo <= hi) {
    const m = (lo + hi) >> 1;
    if (seq < r[2 * m]) hi = m - 1;
    else if (seq > r[2 * m + 1]) lo = m + 1;
    else return true;
  }
  return false;
}

/** Adds seq (not yet in them) to the ranges; false when it is not after all of them. */
function addToRanges(r, seq) {
  const n = r.length;
  if (n === 0 || seq > r[n - 1]) {
    if (n && seq === r[n - 1] + 1) r[n - 1] = seq;
    else r.push(seq, seq);
    return true;
  }
  let k = 0; // first range that starts after seq
  while (k < n / 2 && r[2 * k] < seq) k++;
  r.splice(2 * k, 0, seq, seq);
  return false;
}

/**
 * A recording client. opts: {id, url, rooms, transports, localAddress,
 * reconnection (default true), token / tokenOpts, clientOpts, recordPad, compact}. A session
 * ended by a websocket close frame also records its closeCode and closeReason.
 *
 * compact (long runs): each delivery is kept as a range of seqs per session and publisher,
 * its latency in this process's hostLatency; duplicates and reordering are counted as they
 * arrive. check() reads either form.
 */
export class LedgerClient {
  constructor(opts) {
    this.id = opts.id;
    this.rooms = opts.rooms;
    this.sessions = [];
    this.recv = [];
    this.errors = [];
    this.recordPad = !!opts.recordPad; // recv entries get a sixth field: the length of msg.pad
    this.compact = opts.compact ? { runs: [], n: 0, duplicates: 0, reordered: 0, examples: [] } : null;
    if (this.compact) watchLoop();
    this.socket = io(opts.url, {
      forceNew: true,
      transports: opts.transports || ["websocket"],
      reconnection: opts.reconnection !== false,
      timeout: 10000,
      localAddress: opts.localAddress,
      auth: (cb) => cb(opts.token === null ? {} : { token: tokenOf(opts, opts.id) }),
      ...(opts.clientOpts || {}),
    });
    const s = this.socket;
    s.on("connect", () => {
      // recovered: connection state recovery gave this session the socket's id, rooms and missed packets
      const sess = { sid: s.io.engine.id, w: workerOfSid(s.io.engine.id), tc: now(), tj: 0, td: 0, why: "", joinFails: 0, recovered: s.recovered === true, id: s.id };
      this.sessions.push(sess);
      this.join(sess);
    });
    s.on("disconnect", (why, details) => {
      const sess = this.sessions[this.sessions.length - 1];
      if (sess && !sess.td) {
        sess.td = now();
        sess.why = why;
        // a websocket transport's close event: the code and reason of the server's close frame
        const ctx = details && details.context;
        if (ctx && typeof ctx.code === "number") {
          sess.closeCode = ctx.code;
          sess.closeReason = String(ctx.reason ?? "");
        }
      }
    });
    s.on("connect_error", (err) => {
      if (this.errors.length < 50) this.errors.push([now(), String(err && err.message)]);
    });
    s.on("receive-message", (m) => {
      if (this.compact && m && typeof m === "object" && typeof m.pub === "string") {
        this.receiveCompact(m);
        return;
      }
      if (m && typeof m === "object" && typeof m.pub === "string") {
        const r = [m.pub, m.seq, m.t, now(), this.sessions.length - 1];
        if (this.recordPad) r.push(typeof m.pad === "string" ? m.pad.length : -1);
        this.recv.push(r);
      }
    });
  }

  async join(sess) {
    for (;;) {
      if (this.sessions[this.sessions.length - 1] !== sess || sess.td) return;
      let ok = true;
      for (const room of this.rooms) {
        try {
          const a = await this.socket.timeout(6000).emitWithAck("join-room", room);
          if (!a || a.ok !== true) ok = false;
        } catch {
          ok = false;
        }
      }
      if (ok) {
        if (!sess.td) sess.tj = now();
        return;
      }
      sess.joinFails++;
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  receiveCompact(m) {
    const c = this.compact;
    const si = this.sessions.length - 1;
    c.n++;
    hostLatency.add(now() - m.t);
    if (si < 0) return;
    const note = (x) => c.examples.length < 4 && c.examples.push({ client: this.id, pub: m.pub, seq: m.seq, ...x });
    if (c.runs.some((runs) => runs && runs.has(m.pub) && inRanges(runs.get(m.pub), m.seq))) {
      c.duplicates++;
      note({ kind: "duplicate" });
      return;
    }
    const runs = c.runs[si] || (c.runs[si] = new Map());
    if (!runs.has(m.pub)) runs.set(m.pub, []);
    if (!addToRanges(runs.get(m.pub), m.seq)) {
      c.reordered++;
      note({ kind: "reordered" });
    }
  }

  state() {
    if (this.socket === null) return { connected: false, joined: false, w: null };
    const sess = this.sessions[this.sessions.length - 1];
    return { connected: this.socket.connected, joined: !!(sess && sess.tj && !sess.td && this.socket.connected), w: sess ? sess.w : null };
  }

  record() {
    const rec = { id: this.id, rooms: this.rooms, sessions: this.sessions, recv: this.recv, errors: this.errors };
    if (this.compact) {
      const { runs, ...counts } = this.compact;
      rec.compact = { ...counts, runs: this.sessions.map((_, si) => (runs[si] ? [...runs[si]] : [])) };
    }
    return rec;
  }

  close() {
    if (this.socket === null) return;
    const sess = this.sessions[this.sessions.length - 1];
    if (this.compact && sess && !sess.td) sess.hostLagMs = Math.round(recentLoopLagMs());
    this.socket.io.opts.reconnection = false;
    this.socket.disconnect();
  }

  /** Forgets the socket of a closed client (long runs): its record stays. */
  release() {
    this.socket?.removeAllListeners();
    this.socket = null;
  }
}

/** Clients in this process, with the same interface as ClientHost. */
export class LocalClients {
  constructor() {
    this.clients = [];
  }
  start(configs) {
    for (const c of configs) this.clients.push(new LedgerClient(c));
    return Promise.resolve();
  }
  status() {
    return Promise.resolve(summarizeStates(this.clients));
  }
  collect() {
    return Promise.resolve(this.clients.map((c) => c.record()));
  }
  stop() {
    for (const c of this.clients) c.close();
    return Promise.resolve();
  }
  get pid() {
    return process.pid;
  }
}

export function summarizeStates(clients) {
  let connected = 0;
  let joined = 0;
  const byWorker = {};
  for (const c of clients) {
    const s = c.state();
    if (s.connected) connected++;
    if (s.joined) {
      joined++;
      byWorker[s.w] = (byWorker[s.w] || 0) + 1;
    }
  }
  return { total: clients.length, connected, joined, byWorker };
}

const HOST_MAIN = fileURLToPath(new URL("./client-host.mjs", import.meta.url));

/** Clients in a child process (client-host.mjs), driven over IPC. */
export class ClientHost {
  constructor(name = "clients") {
    this.name = name;
    this.child = fork(HOST_MAIN, [], { stdio: ["ignore", "inherit", "inherit", "ipc"], serialization: "advanced" });
    this.nextId = 0;
    this.waiting = new Map();
    this.exited = new Promise((resolve) => this.child.on("exit", resolve));
    this.child.on("message", (m) => {
      const w = this.waiting.get(m.id);
      if (w) {
        this.waiting.delete(m.id);
        w(m.result);
      }
    });
  }
  get pid() {
    return this.child.pid;
  }
  call(cmd, arg, timeoutMs = 60000) {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`client host ${this.name}: ${cmd} timed out`));
      }, timeoutMs);
      this.waiting.set(id, (r) => {
        clearTimeout(t);
        resolve(r);
      });
      this.child.send({ id, cmd, arg });
    });
  }
  start(configs) {
    return this.call("start", configs);
  }
  status() {
    return this.call("status");
  }
  collect(timeoutMs = 60000) {
    return this.call("collect", undefined, timeoutMs);
  }
  churn(close, start) {
    return this.call("churn", { close, start });
  }
  freeze() {
    this.child.kill("SIGSTOP");
  }
  thaw() {
    this.child.kill("SIGCONT");
  }
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.thaw();
    try {
      await this.call("stop", null, 5000);
    } catch {
      /* fall through to the kill */
    }
    const t = setTimeout(() => this.child.kill("SIGKILL"), 3000);
    await this.exited;
    clearTimeout(t);
  }
}

/** Sum the status of several hosts. */
export async function statusAll(hosts) {
  const out = { total: 0, connected: 0, joined: 0, byWorker: {} };
  for (const s of await Promise.all(hosts.map((h) => h.status()))) {
    out.total += s.total;
    out.connected += s.connected;
    out.joined += s.joined;
    for (const [w, n] of Object.entries(s.byWorker)) out.byWorker[w] = (out.byWorker[w] || 0) + n;
  }
  return out;
}

export async function collectAll(hosts, timeoutMs) {
  return (await Promise.all(hosts.map((h) => h.collect(timeoutMs)))).flat();
}

/** Periodic samples of processes (RSS, fds) and of Redis (clients, output memory). */
export class Sampler {
  constructor({ intervalMs = 250, redisPort } = {}) {
    this.procs = new Map(); // name -> pid getter
    this.series = new Map(); // name -> [{t, rss, fds}]
    this.redis = [];
    this.redisPort = redisPort;
    this.intervalMs = intervalMs;
    this.timer = null;
    this.busy = false;
  }
  watch(name, pidOrGetter) {
    this.procs.set(name, typeof pidOrGetter === "function" ? pidOrGetter : () => pidOrGetter);
    if (!this.series.has(name)) this.series.set(name, []);
  }
  async sample() {
    const t = now();
    for (const [name, get] of this.procs) {
      const pid = get();
      if (!pid) continue;
      const rss = rssKiB(pid);
      if (Number.isNaN(rss)) continue;
      this.series.get(name).push({ t, rss, fds: fdCount(pid) });
    }
    if (this.redisPort && !this.busy) {
      this.busy = true;
      const r = await redisClientStats(this.redisPort, Math.min(200, this.intervalMs));
      this.busy = false;
      if (r) this.redis.push({ t, ...r });
    }
  }
  start() {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }
  stop() {
    clearInterval(this.timer);
  }
  /** {name: {rssStartKiB, rssPeakKiB, rssEndKiB, fdsStart, fdsPeak, fdsEnd}} */
  summary(from = 0, to = Infinity) {
    const out = {};
    for (const [name, s] of this.series) {
      const xs = s.filter((x) => x.t >= from && x.t <= to);
      if (!xs.length) continue;
      out[name] = {
        rssStartKiB: xs[0].rss,
        rssPeakKiB: Math.max(...xs.map((x) => x.rss)),
        rssEndKiB: xs[xs.length - 1].rss,
        fdsStart: xs[0].fds,
        fdsPeak: Math.max(...xs.map((x) => x.fds)),
        fdsEnd: xs[xs.length - 1].fds,
      };
    }
    return out;
  }
  redisSummary() {
    if (!this.redis.length) return null;
    return {
      omemPeakBytes: Math.max(...this.redis.map((x) => x.omemTotal)),
      omemMaxClientBytes: Math.max(...this.redis.map((x) => x.omemMax)),
      clientsPeak: Math.max(...this.redis.map((x) => x.clients)),
      infoRecentMaxOutputPeak: Math.max(...this.redis.map((x) => x.recentMaxOutput || 0)),
      samples: this.redis.length,
    };
  }
  peakRss(name, from = 0, to = Infinity) {
    const xs = (this.series.get(name) || []).filter((x) => x.t >= from && x.t <= to);
    return xs.length ? Math.max(...xs.map((x) => x.rss)) : NaN;
  }
}

export function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

const round = (x, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);

/**
 * The verdict. `records`: LedgerClient records. Options:
 *   tEnd          publishing stopped at (ms); intervals still open end here
 *   tailGraceMs   how long before a visible disconnect a missing tail may have been sent: the
 *                 larger of this (1000) and twice the run's p99 latency (under load a message
 *                 sent that long before the disconnect may still have been on its way)
 *   excused       [{from, to, label}] windows where cross-worker delivery may pause
 *   exclude       Set of client ids not checked (a deliberate victim)
 *   latencyWindows {name: [from, to]} latency percentiles of sends inside each window
 */
export function check(ledger, records, { tEnd, tailGraceMs = 1000, excused = [], exclude = new Set(), latencyWindows = {}, latency = null, partial = false, p99Ms = NaN } = {}) {
  const windowDeliveries = Object.fromEntries(excused.map((w) => [w.label || "window", { local: 0, cross: 0 }]));
  const pubs = new Map();
  for (const p of ledger.pubs.values()) {
    const bySeq = new Map();
    for (const e of p.entries) bySeq.set(e.seq, e);
    pubs.set(p.id, { ...p, bySeq });
  }
  const res = {
    clients: 0,
    checked: 0,
    sessions: 0,
    deliveries: 0,
    expected: 0,
    lostExcused: 0,
    lostAtDisconnect: 0,
    silentLoss: 0,
    duplicates: 0,
    reordered: 0,
    foreign: 0,
    examples: [],
    lat: [],
    latencyWindows: {},
    disconnects: 0,
    reconnectMs: [],
  };
  const lostByWindow = Object.fromEntries(excused.map((w) => [w.label || "window", 0]));
  const isExcused = (e, clientWorker) => {
    const w = excused.find((x) => e.t >= x.from && e.t <= x.to && (e.via === "emitter" || e.via !== clientWorker));
    if (w) lostByWindow[w.label || "window"]++;
    return !!w;
  };
  if (latency === null) {
    // the run's latency first: it bounds how long a message can be on its way
    const all = [];
    for (const rec of records) for (const [, , t, tr] of rec.recv) all.push(tr - t);
    all.sort((a, b) => a - b);
    p99Ms = percentile(all, 99);
    if (Number.isFinite(p99Ms)) tailGraceMs = Math.max(tailGraceMs, 2 * p99Ms);
  } else if (!partial) {
    p99Ms = latency.percentile(99);
    if (Number.isFinite(p99Ms)) tailGraceMs = Math.max(tailGraceMs, 2 * p99Ms);
  }
  const note = (x) => {
    if (res.examples.length < 12) res.examples.push(x);
  };
  const winLat = Object.fromEntries(Object.keys(latencyWindows).map((k) => [k, []]));

  /** Per session: pub -> {has(seq), last}, from a compact record. */
  const compactSessions = (rec) => {
    const c = rec.compact;
    res.deliveries += c.n;
    res.duplicates += c.duplicates;
    res.reordered += c.reordered;
    for (const x of c.examples) note(x);
    return c.runs.map((list) => {
      const m = new Map();
      for (const [pub, r] of list) {
        const p = pubs.get(pub);
        if (!p || !rec.rooms.includes(p.room)) {
          for (let i = 0; i < r.length; i += 2) res.foreign += r[i + 1] - r[i] + 1;
          note({ kind: "foreign", client: rec.id, pub });
          continue;
        }
        m.set(pub, { has: (seq) => inRanges(r, seq), last: r.length ? r[r.length - 1] : -Infinity });
      }
      return m;
    });
  };

  /** The same from a full record, counting its deliveries on the way. */
  const fullSessions = (rec) => {
    const seen = new Set();
    const perSession = rec.sessions.map(() => new Map()); // pub -> [seq...]
    for (const [pub, seq, t, tr, si] of rec.recv) {
      res.deliveries++;
      const p = pubs.get(pub);
      if (!p || !rec.rooms.includes(p.room)) {
        res.foreign++;
        note({ kind: "foreign", client: rec.id, pub, seq });
        continue;
      }
      const key = `${pub}\u0000${seq}`;
      if (seen.has(key)) {
        res.duplicates++;
        note({ kind: "duplicate", client: rec.id, pub, seq });
        continue;
      }
      seen.add(key);
      const e0 = p.bySeq.get(seq);
      const sw = si >= 0 && rec.sessions[si] ? rec.sessions[si].w : "?";
      for (const w of excused)
        if (e0 && e0.t >= w.from && e0.t <= w.to) windowDeliveries[w.label || "window"][e0.via === sw ? "local" : "cross"]++;
      const lat = tr - t;
      res.lat.push(lat);
      for (const [k, [a, b]] of Object.entries(latencyWindows)) if (t >= a && t < b) winLat[k].push(lat);
      if (si < 0) continue;
      const m = perSession[si];
      if (!m.has(pub)) m.set(pub, []);
      const list = m.get(pub);
      if (list.length && seq <= list[list.length - 1]) {
        res.reordered++;
        note({ kind: "reordered", client: rec.id, pub, seq, after: list[list.length - 1] });
      }
      list.push(seq);
    }
    return perSession.map((m) => {
      const out = new Map();
      for (const [pub, got] of m) {
        const gotSet = new Set(got);
        out.set(pub, { has: (seq) => gotSet.has(seq), last: got.reduce((a, b) => (b > a ? b : a), -Infinity) });
      }
      return out;
    });
  };

  /** First index of the entries (sorted by t) sent at or after t. */
  const firstAt = (entries, t) => {
    let lo = 0;
    let hi = entries.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (entries[m].t < t) lo = m + 1;
      else hi = m;
    }
    return lo;
  };

  // A session its client closed while its process lagged: what was sent up to that lag plus the
  // run's p99 before the close may still have been unread in the socket.
  const tail = (s) => (s.hostLagMs && Number.isFinite(p99Ms) ? Math.max(tailGraceMs, s.hostLagMs + p99Ms) : tailGraceMs);

  for (const rec of records) {
    res.clients++;
    res.sessions += rec.sessions.length;
    for (let i = 1; i < rec.sessions.length; i++) {
      const prev = rec.sessions[i - 1];
      if (prev.td) res.reconnectMs.push(rec.sessions[i].tc - prev.td);
    }
    res.disconnects += rec.sessions.filter((s) => s.td).length;
    if (exclude.has(rec.id)) continue;
    res.checked++;
    const myPubs = [...pubs.values()].filter((p) => rec.rooms.includes(p.room));
    const perSession = rec.compact ? compactSessions(rec) : fullSessions(rec);
    rec.sessions.forEach((s, si) => {
      if (!s.tj) return;
      const from = s.tj;
      const to = s.td || tEnd;
      for (const p of myPubs) {
        const got = perSession[si]?.get(p.id) ?? { has: () => false, last: -Infinity };
        for (let i = firstAt(p.entries, from); i < p.entries.length && p.entries[i].t <= to; i++) {
          const e = p.entries[i];
          if (e.st !== ST_OK) continue;
          res.expected++;
          if (got.has(e.seq)) continue;
          if (isExcused(e, s.w)) res.lostExcused++;
          else if (s.td && e.seq > got.last && e.t >= s.td - tail(s)) res.lostAtDisconnect++;
          else {
            res.silentLoss++;
            note({ kind: "silent-loss", client: rec.id, worker: s.w, session: si, pub: p.id, via: e.via, seq: e.seq, sentAgoMs: round((s.td || tEnd) - e.t), sessionEnd: s.td ? s.why : "open", hostLagMs: s.hostLagMs });
          }
        }
      }
    });
  }
  if (partial) {
    delete res.lat;
    res.tailGraceMs = Math.round(tailGraceMs);
    return res; // mergeChecks() finishes it
  }
  res.lat.sort((a, b) => a - b);
  res.latency = latency
    ? { p50: latency.percentile(50), p99: latency.percentile(99), max: round(latency.max, 2) }
    : { p50: round(percentile(res.lat, 50), 2), p99: round(percentile(res.lat, 99), 2), max: round(res.lat[res.lat.length - 1], 2) };
  for (const [k, xs] of Object.entries(winLat)) {
    xs.sort((a, b) => a - b);
    res.latencyWindows[k] = { n: xs.length, p50: round(percentile(xs, 50), 2), p99: round(percentile(xs, 99), 2) };
  }
  delete res.lat;
  res.windowDeliveries = windowDeliveries;
  res.lostByWindow = lostByWindow;
  return finish(res, tailGraceMs);
}

/** The end of a verdict: reconnect times summarized, the tail used, pass or fail. */
function finish(res, tailGraceMs) {
  const r = res.reconnectMs.sort((a, b) => a - b);
  res.reconnect = r.length ? { n: r.length, min: round(r[0], 0), p50: round(percentile(r, 50), 0), p99: round(percentile(r, 99), 0), max: round(r[r.length - 1], 0) } : { n: 0 };
  delete res.reconnectMs;
  res.tailGraceMs = Math.round(tailGraceMs);
  res.ok = res.silentLoss === 0 && res.duplicates === 0 && res.reordered === 0 && res.foreign === 0;
  return res;
}

/** The publications of a ledger, small enough to send to client hosts: [{id, room, entries}]. */
export function ledgerPubs(ledger) {
  return [...ledger.pubs.values()].map((p) => ({ id: p.id, room: p.room, kind: p.kind, entries: p.entries.map(({ seq, t, st, via }) => ({ seq, t, st, via })) }));
}

/**
 * check() run by every client host on its own compact clients (long runs: the records stay
 * where they are). The latencies of all hosts set the tail grace first, as check() does.
 */
export async function checkHosts(ledger, hosts, { tEnd, tailGraceMs = 1000, timeoutMs = 600000 } = {}) {
  const latency = new LatencyHist();
  for (const h of await Promise.all(hosts.map((x) => x.call("latency", undefined, timeoutMs)))) latency.merge(h);
  const p99 = latency.percentile(99);
  if (Number.isFinite(p99)) tailGraceMs = Math.max(tailGraceMs, 2 * p99);
  const arg = { pubs: ledgerPubs(ledger), tEnd, tailGraceMs, p99Ms: p99 };
  const parts = await Promise.all(hosts.map((x) => x.call("check", arg, timeoutMs)));
  const res = { examples: [], reconnectMs: [] };
  for (const part of parts)
    for (const [k, v] of Object.entries(part)) {
      if (typeof v === "number" && k !== "tailGraceMs") res[k] = (res[k] ?? 0) + v;
      else if (k === "examples") res.examples.push(...v.slice(0, 12 - res.examples.length));
      else if (k === "reconnectMs") for (const x of v) res.reconnectMs.push(x);
    }
  res.latency = { p50: latency.percentile(50), p99: latency.percentile(99), max: round(latency.max, 2) };
  return finish(res, tailGraceMs);
}
