// tests/deploy/compose-chat.mjs - the checks of tests/deploy/compose-run against a
// running compose project (deploy/docker-compose.yml on a container engine).
//
// compose-run starts the engine and the images; this drives the project through
// docker-compose (COMPOSE_CMD, JSON array of the command and its fixed arguments)
// and checks with real socket.io-client clients through the published port
// (http://127.0.0.1:$PORT):
//   up --scale worker=3        every service healthy
//   spread                     60 new clients over 3 workers: none above 1.5 x the mean
//   chat                       a room with members on every worker; publishers acknowledged
//   --scale worker=5 (traffic) new clients reach the new workers
//   --scale worker=2 (traffic) clients of the drained workers reconnect to the others
//   restart proxy (traffic)    every client comes back
//   the ledger                 every acknowledged message reached every member
//                              connected at the time, once, in order (check()).
// Prints "ok - ..." / "not ok - ..." and one "timing <phase> <seconds>" line per
// phase; exits 1 when a check failed.

import { execFile, spawn } from "node:child_process";
import { appendFileSync, openSync } from "node:fs";
import { Ledger, LocalClients, SioPublisher, check, now } from "../faults/lib/ledger.mjs";

const compose = JSON.parse(process.env.COMPOSE_CMD);
const engine = process.env.ENGINE_CMD || "podman";
const project = process.env.COMPOSE_PROJECT;
const url = `http://127.0.0.1:${process.env.PORT}`;
let failed = 0;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ok = (cond, what, detail = "") => {
  console.log(`${cond ? "ok" : "not ok"} - ${what}${detail ? `: ${detail}` : ""}`);
  if (!cond) failed++;
  return cond;
};
const timing = (phase, t0) => console.log(`timing ${phase} ${((now() - t0) / 1000).toFixed(1)}`);

/** Runs a command without blocking the event loop (the clients keep running). */
function run(cmd, args, { quiet = false } = {}) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        if (!quiet) process.stderr.write(stderr);
        reject(new Error(`${cmd} ${args.join(" ")}: ${err.message}`));
      } else resolve(stdout);
    });
  });
}
const dc = (...args) => run(compose[0], [...compose.slice(1), ...args]);

/** The project's containers: [{name, service, health, hostname}]. */
async function containers() {
  const out = await run(engine, ["ps", "-a", "--filter", `label=com.docker.compose.project=${project}`, "--format",
    "{{.ID}}\t{{.Names}}\t{{.Status}}\t{{index .Labels \"com.docker.compose.service\"}}"], { quiet: true });
  const list = [];
  for (const line of out.split("\n").filter(Boolean)) {
    const [id, name, status, service] = line.split("\t");
    const health = /\(healthy\)/.test(status) ? "healthy" : /unhealthy/.test(status) ? "unhealthy" : /^Up/.test(status) ? "starting" : "exited";
    list.push({ id, name, status, service, health });
  }
  for (const c of list) {
    c.hostname = (await run(engine, ["inspect", "-f", "{{.Config.Hostname}}", c.id], { quiet: true }).catch(() => "")).trim();
    c.workerId = c.hostname.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 16);
  }
  return list;
}

/** Follows the log of every container seen into LOG_DIR/<name>.log (scaled-in ones are removed). */
const followed = new Set();
function follow(cs) {
  if (!process.env.LOG_DIR) return;
  for (const c of cs) {
    if (followed.has(c.id)) continue;
    followed.add(c.id);
    const fd = openSync(`${process.env.LOG_DIR}/${c.name}.log`, "w");
    const p = spawn(engine, ["logs", "-f", "-t", c.id], { stdio: ["ignore", fd, fd] });
    p.unref();
    // compose-run ends the ones still running (by pid) after `down`
    if (process.env.FOLLOWER_PIDS) appendFileSync(process.env.FOLLOWER_PIDS, `${p.pid}\n`);
  }
}

/** Waits until exactly `want` = {service: count} containers are up and healthy. */
async function healthy(want, timeoutMs = 180000) {
  const t0 = now();
  let last = [];
  while (now() - t0 < timeoutMs) {
    last = (await containers()).filter((c) => c.health !== "exited");
    const good = Object.entries(want).every(([svc, n]) => {
      const cs = last.filter((c) => c.service === svc);
      return cs.length === n && cs.every((c) => c.health === "healthy");
    });
    follow(last);
    if (good) return last;
    await sleep(1000);
  }
  throw new Error(`not healthy after ${timeoutMs} ms: ${last.map((c) => `${c.name} ${c.status}`).join(", ")}`);
}

async function allJoined(hosts, n, timeoutMs = 60000) {
  const t0 = now();
  let s;
  while (now() - t0 < timeoutMs) {
    s = await hosts.status();
    if (s.joined === n) return s;
    await sleep(250);
  }
  return s;
}

const byWorker = (clients) => {
  const m = new Map();
  for (const c of clients) {
    const w = c.state().w;
    m.set(w, (m.get(w) || 0) + 1);
  }
  return m;
};
const fmt = (m) => [...m.entries()].map(([w, n]) => `${w}:${n}`).join(" ");

async function main() {
  const ledger = new Ledger();
  const clients = new LocalClients();
  const pubs = [];
  let tEnd = 0;
  try {
    // up
    let t0 = now();
    await dc("up", "-d", "--no-build", "--scale", "worker=3");
    let cs = await healthy({ redis: 1, worker: 3, proxy: 1 });
    timing("up-to-healthy", t0);
    ok(true, "up --scale worker=3: redis, 3 workers and the proxy healthy", cs.map((c) => c.name).join(" "));
    const first = new Set(cs.filter((c) => c.service === "worker").map((c) => c.workerId));

    // spread and chat: 60 clients in one room, 3 publishers into it
    await clients.start(Array.from({ length: 60 }, (_, i) => ({ id: `c${i}`, url, rooms: ["lobby"] })));
    let s = await allJoined(clients, 60);
    ok(s.joined === 60, "60 clients connected and joined through the published port", `${s.joined} joined`);
    const spread = byWorker(clients.clients);
    const max = Math.max(...spread.values());
    ok(spread.size === 3 && [...spread.keys()].every((w) => first.has(w)) && max <= 1.5 * (60 / 3),
      "new sessions spread over the 3 workers (none above 1.5 x the mean of 20)", fmt(spread));
    for (let i = 0; i < 3; i++) {
      const p = new SioPublisher(ledger, { id: `p${i}`, url, room: "lobby", intervalMs: 200 });
      pubs.push(p);
      await p.connected();
      p.start();
    }
    await sleep(3000);
    const t = ledger.totals();
    ok(t.ok > 30 && t.refused === 0, "chat: publishers' messages acknowledged", `${t.ok} acknowledged, ${t.refused} refused`);
    const got = clients.clients.filter((c) => c.recv.length > 0);
    ok(got.length === 60, "chat: every member received, members on workers", `${got.length}/60 received; room members on ${spread.size} workers`);

    // scale out under traffic
    t0 = now();
    await dc("up", "-d", "--no-build", "--scale", "worker=5");
    cs = await healthy({ redis: 1, worker: 5, proxy: 1 });
    const added = cs.filter((c) => c.service === "worker" && !first.has(c.workerId)).map((c) => c.workerId);
    ok(added.length === 2, "scale out to 5: two new workers healthy", added.join(" "));
    // in rotation: new clients reach them (discovery and the first health check take ~2 s)
    let late = [];
    let reached = new Set();
    for (let round = 0; round < 10 && reached.size < added.length; round++) {
      const batch = Array.from({ length: 10 }, (_, i) => ({ id: `n${round}-${i}`, url, rooms: ["lobby"] }));
      const more = new LocalClients();
      await more.start(batch);
      await allJoined(more, batch.length, 20000);
      for (const c of more.clients) if (added.includes(c.state().w)) reached.add(c.state().w);
      late.push(more);
      if (reached.size < added.length) await sleep(1000);
    }
    timing("scale-out", t0);
    const lateClients = late.flatMap((m) => m.clients);
    ok(reached.size === added.length, "scale out: new clients reach the new workers", fmt(byWorker(lateClients)));
    for (const c of lateClients) clients.clients.push(c);
    const total = clients.clients.length;

    // scale in under traffic
    const before = new Map(clients.clients.map((c) => [c.id, c.state().w]));
    t0 = now();
    await dc("up", "-d", "--no-build", "--scale", "worker=2");
    cs = await healthy({ redis: 1, worker: 2, proxy: 1 });
    const kept = new Set(cs.filter((c) => c.service === "worker").map((c) => c.workerId));
    s = await allJoined(clients, total, 60000);
    timing("scale-in", t0);
    const moved = clients.clients.filter((c) => !kept.has(before.get(c.id)));
    const movedOk = moved.filter((c) => kept.has(c.state().w) && c.sessions.length >= 2);
    ok(s.joined === total && moved.length > 0 && movedOk.length === moved.length,
      "scale in to 2: the drained workers' clients reconnected to the remaining ones",
      `${moved.length} moved, ${movedOk.length} back on ${[...kept].join(" ")}; ${s.joined}/${total} joined`);
    const closes = moved.map((c) => c.sessions[c.sessions.length - 2]?.why).filter(Boolean);
    console.log(`# drained clients' disconnect reasons: ${[...new Set(closes)].join(", ")}`);

    // proxy restart under traffic
    t0 = now();
    await dc("restart", "proxy");
    s = await allJoined(clients, total, 60000);
    timing("proxy-restart", t0);
    ok(s.joined === total, "proxy restarted: every client came back", `${s.joined}/${total} joined`);

    // the ledger
    for (const p of pubs) p.stop();
    await sleep(2000);
    tEnd = now();
    const res = check(ledger, await clients.collect(), { tEnd, tailGraceMs: 1500 });
    const tt = ledger.totals();
    ok(res.silentLoss === 0 && res.duplicates === 0 && res.reordered === 0 && res.checked > 0,
      "every acknowledged message reached every member connected at the time (ledger)",
      `${tt.ok} acknowledged, ${tt.unknown} unknown; ${res.deliveries} deliveries checked over ${res.sessions} sessions; ` +
        `silent loss ${res.silentLoss}, at disconnect ${res.lostAtDisconnect}, duplicates ${res.duplicates}, reordered ${res.reordered}`);
  } catch (e) {
    ok(false, "compose scenario", e.message);
  } finally {
    for (const p of pubs) p.close();
    await clients.stop();
  }
  process.exit(failed ? 1 : 0);
}

main();
