// Smoke test of the load generator (bench/loadgen, sioc-bench): a tiny fan-out
// against the server under test over websocket and over long-polling, with
// minted JWTs, must connect every client and lose nothing. Then the same
// fan-out against sioc-floor (bench/floor), bench/compare's floor. Then a small
// recovery storm: three streams-mode workers behind sioc-proxy, one killed with
// SIGKILL by sioc-bench; its clients must all come back with their sid and miss
// nothing.
//
// sioc-bench is looked up in SIOC_BENCH_BIN, then next to the worker binary
// (<build>/bench/sioc-bench), then in build/release; the test is skipped when
// it is not built (e.g. presets with SIOC_BENCH=OFF). sioc-floor is looked up
// next to it.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import http from "node:http";
import { startServer, workerCommand, freePort, REPO_ROOT, HOST } from "./lib/server.mjs";
import { startProxy, untilWorkersUp } from "./lib/proxy.mjs";
import { TEST_SECRET } from "./lib/token.mjs";
import { startRedis } from "../lib/proc.mjs";

function benchBinary() {
  const cands = [];
  if (process.env.SIOC_BENCH_BIN) cands.push(process.env.SIOC_BENCH_BIN);
  const w = workerCommand()[0];
  if (w.endsWith("sioc-worker")) cands.push(path.join(path.dirname(path.dirname(w)), "bench/sioc-bench"));
  cands.push(path.join(REPO_ROOT, "build/release/bench/sioc-bench"));
  return cands.find((c) => existsSync(c));
}

const BENCH = benchBinary();
const FLOOR = BENCH && [path.join(path.dirname(BENCH), "sioc-floor")].find((c) => existsSync(c));

function health(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: HOST, port, path: "/health", agent: false, timeout: 1000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve(res.statusCode === 200 && body === "ok"));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

function runBench(args) {
  return new Promise((resolve) => {
    execFile(BENCH, args, { env: { ...process.env, JWT_SECRET: TEST_SECRET }, timeout: 60000 }, (err, stdout, stderr) =>
      resolve({ code: err ? err.code : 0, stdout, stderr }),
    );
  });
}

describe("sioc-bench smoke", { skip: BENCH ? false : "sioc-bench is not built" }, () => {
  let server;
  let dir;
  before(async () => {
    server = await startServer({ flags: { app: "chat", "jwt-secret": TEST_SECRET } });
    dir = mkdtempSync(path.join(tmpdir(), "sioc-bench-test-"));
  });
  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const transport of ["websocket", "polling"]) {
    it(`fanout over ${transport}: every client connects, 0 loss, exit 0`, { timeout: 60000 }, async () => {
      const json = path.join(dir, `fanout-${transport}.json`);
      const r = await runBench([
        "--url", server.url, "--transport", transport, "-n", "40", "--room-size", "10", "--rate", "400,800",
        "--duration", "1", "--drain", "3", "--sources", "4", "--pid", String(server.pid), "--json", json,
        "--no-progress", "fanout",
      ]);
      assert.equal(r.code, 0, `sioc-bench failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
      const doc = JSON.parse(readFileSync(json, "utf8"));
      assert.equal(doc.connect.connected, 44, "40 subscribers + 4 publishers");
      assert.equal(doc.connect.auth_failed, 0);
      assert.equal(doc.fanout.steps.length, 2);
      const t = doc.fanout.total;
      assert.ok(t.expected > 0, "messages were expected");
      assert.equal(t.loss, 0, "no delivery lost");
      assert.equal(t.received, t.expected);
      assert.equal(t.duplicates, 0);
      assert.ok(doc.fanout.total.latency_us.p99 > 0);
      assert.equal(doc.ok, true);
    });
  }

  it("storm across two bench processes: every member of the one room gets both bursts, first <= median <= last", { timeout: 60000 }, async () => {
    // Two processes lined up with --sync, one publishing: deliveries are counted in both.
    const common = ["--url", server.url, "-n", "30", "--bursts", "1,10", "--settle", "0.2", "--duration", "0.5",
      "--drain", "1.5", "--room-prefix", `storm-${process.pid}-`, "--pid", String(server.pid), "--sync", "--no-progress", "--quiet"];
    const kids = [0, 1].map((i) => {
      const json = path.join(dir, `storm-${i}.json`);
      const child = spawn(BENCH, [...common, "--json", json, ...(i === 0 ? ["--publish"] : []), "storm"],
        { env: { ...process.env, JWT_SECRET: TEST_SECRET }, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      const ready = new Promise((resolve) => child.stdout.on("data", (d) => {
        out += d;
        if (out.includes("@ready")) resolve();
      }));
      const done = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
      return { child, json, ready, done };
    });
    await Promise.all(kids.map((k) => k.ready));
    for (const k of kids) k.child.kill("SIGUSR1");
    const codes = await Promise.all(kids.map((k) => k.done));
    assert.deepEqual(codes, [0, 0]);
    const docs = kids.map((k) => JSON.parse(readFileSync(k.json, "utf8")));
    assert.equal(docs[0].connect.connected, 31, "30 members + the publisher");
    assert.equal(docs[1].connect.connected, 30);
    for (const d of docs) {
      assert.equal(d.storm.joined, 30);
      assert.deepEqual(d.storm.steps.map((s) => [s.offered_per_s, s.expected, s.received, s.loss, s.duplicates]),
        [[1, 30, 30, 0, 0], [10, 300, 300, 0, 0]]);
      for (const s of d.storm.steps) {
        const h = s.latency_us;
        assert.ok(h.min > 0 && h.min <= h.p50 && h.p50 <= h.max, JSON.stringify(h));
      }
    }
    assert.equal(docs[0].storm.steps[1].sent, 10);
    assert.equal(docs[1].storm.steps[1].sent, 0, "only --publish sends");
    assert.ok(docs[0].servers[0].rss_end_kb >= docs[0].servers[0].rss_loaded_kb);
  });

  it("a wrong secret is refused: non-zero exit, every client counted as refused", { timeout: 30000 }, async () => {
    const r = await runBench(["--url", server.url, "-n", "5", "--jwt-secret", "x".repeat(40), "--no-progress", "--quiet", "connect"]);
    assert.equal(r.code, 3);
  });
});

describe("sioc-bench recovery", { skip: BENCH ? false : "sioc-bench is not built" }, () => {
  let redis;
  const workers = [];
  let proxy;
  let dir;
  before(async () => {
    redis = await startRedis();
    for (const id of ["w1", "w2", "w3"]) {
      const w = await startServer({
        flags: { app: "chat", "jwt-secret": TEST_SECRET, "worker-id": id, "redis-url": redis.url, "adapter-mode": "streams", "max-disconnection-duration": 120000 },
      });
      workers.push(Object.assign(w, { id }));
    }
    proxy = await startProxy({ workers, flags: { "max-handshake-rate-per-ip": 0 } });
    await untilWorkersUp(proxy, 3);
    dir = mkdtempSync(path.join(tmpdir(), "sioc-bench-recovery-"));
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all(workers.map((w) => w.stop()));
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("200 clients through the proxy, a worker killed: every one of its clients recovers its sid, nothing lost or duplicated", { timeout: 60000 }, async () => {
    const json = path.join(dir, "recovery.json");
    const victim = workers[2];
    const r = await runBench([
      "--url", proxy.url, "--publish-url", workers[0].url, "-n", "200", "--room-size", "50", "--msg-rate", "40",
      "--duration", "5", "--drain", "5", "--kill-pid", String(victim.pid), "--kill-after", "2", "--reconnect-delay", "300",
      "--sources", "64", "--json", json, "--no-progress", "recovery",
    ]);
    assert.equal(r.code, 0, `sioc-bench failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    const doc = JSON.parse(readFileSync(json, "utf8"));
    const x = doc.recovery;
    assert.equal(doc.connect.connected, 201, "200 members + the publisher");
    assert.equal((await victim.exited).signal, "SIGKILL", "the worker was killed by sioc-bench");
    assert.ok(x.dropped > 0 && x.dropped < 200, `the killed worker held some of the clients: ${x.dropped}`);
    assert.equal(x.recovered, x.dropped, JSON.stringify(x, (k, v) => (k === "recovered_at_us" ? undefined : v)));
    assert.equal(x.not_recovered, 0);
    assert.equal(x.recovered_at_us.length, x.dropped);
    assert.ok(x.replayed > 0, "missed packets were replayed before the CONNECT replies");
    assert.equal(x.checked_members, 200);
    assert.equal(x.published, 200, "40/s for 5 s");
    assert.equal(x.publish_failed, 0);
    assert.equal(x.expected, 200 * 50, "each member gets every message of its room");
    assert.equal(x.received, x.expected);
    assert.equal(x.loss, 0);
    assert.equal(x.duplicates, 0);
    assert.ok(x.first_ms >= 0 && x.first_ms <= x.median_ms && x.median_ms <= x.last_ms, JSON.stringify([x.first_ms, x.median_ms, x.last_ms]));
    assert.equal(doc.ok, true);
  });
});

describe("sioc-floor smoke", { skip: FLOOR ? false : "sioc-floor is not built" }, () => {
  let floor;
  let port;
  let dir;
  before(async () => {
    port = await freePort();
    floor = spawn(FLOOR, ["--host", HOST, "--port", String(port)], { stdio: "ignore" });
    dir = mkdtempSync(path.join(tmpdir(), "sioc-floor-test-"));
    const end = Date.now() + 10000;
    while (!(await health(port))) {
      if (Date.now() > end || floor.exitCode !== null) throw new Error("sioc-floor did not answer /health");
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  after(() => {
    floor?.kill("SIGKILL");
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("answers a fanout step: every client connects, 0 loss, CPU split into user + system", { timeout: 60000 }, async () => {
    const json = path.join(dir, "fanout-floor.json");
    const r = await runBench([
      "--url", `http://${HOST}:${port}`, "-n", "40", "--room-size", "10", "--rate", "400", "--duration", "1",
      "--drain", "3", "--sources", "4", "--pid", String(floor.pid), "--json", json, "--no-progress", "fanout",
    ]);
    assert.equal(r.code, 0, `sioc-bench failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
    const doc = JSON.parse(readFileSync(json, "utf8"));
    assert.equal(doc.connect.connected, 44);
    const t = doc.fanout.total;
    assert.ok(t.expected > 0);
    assert.equal(t.loss, 0);
    assert.equal(t.duplicates, 0);
    const st = doc.fanout.steps[0];
    assert.equal(st.server_user_s.length, 1);
    assert.ok(Math.abs(st.server_user_s[0] + st.server_sys_s[0] - st.server_cpu_s[0]) < 1e-6, "user + system = total");
  });
});
