// Bad input and security checks against sioc-worker and sioc-proxy. Every
// case must end with a clear error and a closed connection, never a crash,
// a hang or unbounded memory; each server's log must stay free of sanitizer
// reports. defineBadInputTests() registers the node:test cases; it is used by
// tests/integration/badinput.test.mjs (the test command, release and
// ASan+UBSan workers) and tests/faults/badinput.test.mjs (the fault suite,
// which also writes the results into docs/RELIABILITY.md).

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { io } from "socket.io-client";
import { startWorker, startProxy, startRedisServer, sleep, until, HOST, IS_NODE_PEER, haveProxy } from "../faults/lib/procs.mjs";
import { writeResult, Verdict } from "../faults/lib/report.mjs";
import { makeToken, craftToken, TEST_SECRET, nowSec } from "../integration/lib/token.mjs";
import { wsHandshake, RawWs, pollingHandshake, post, poll } from "../integration/lib/raw.mjs";
import { rawExchange, slowHead, fakeWorkers, get } from "./lib.mjs";

const WS_CASES = fileURLToPath(new URL("./ws_cases.py", import.meta.url));
const LIMIT = 100000;

function python() {
  for (const p of [process.env.SIOC_PYTHON, "/usr/bin/python3", "python3"]) {
    if (!p) continue;
    try {
      execFileSync(p, ["-c", "import autobahn.asyncio.websocket"], { stdio: "ignore" });
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

function runWsCases(port, limit) {
  return new Promise((resolve, reject) => {
    const py = python();
    if (!py) return reject(new Error("python3 with python3-autobahn not found (apt-get install python3-autobahn)"));
    const child = spawn(py, [WS_CASES, "--host", HOST, "--port", String(port), "--limit", String(limit)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const t = setTimeout(() => child.kill("SIGKILL"), 120000);
    child.on("exit", () => {
      clearTimeout(t);
      const lines = out.split("\n").filter(Boolean).map((l) => JSON.parse(l));
      const summary = lines.find((l) => l.summary);
      if (!summary) return reject(new Error(`ws_cases.py gave no summary:\n${out}\n${err}`));
      resolve({ cases: lines.filter((l) => l.id), summary: summary.summary });
    });
  });
}

const sanitizerReport = (log) => /ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: UndefinedBehaviorSanitizer/.exec(log);

/** Records one group: `cases` = [{name, ok, got}]. */
function record(id, group, title, did, cases, extra = {}, v = new Verdict(), short) {
  for (const c of cases) v.check(c.ok, `${c.name}: ${c.got}`);
  const measured = {};
  for (const c of cases) measured[c.name] = `${c.ok ? "ok" : "FAILED"}: ${c.got}`;
  Object.assign(measured, extra);
  const passed = cases.filter((c) => c.ok).length;
  const SEQ = { "security-review": 4, "too-large": 3, "event-flood": 4, "connection-caps": 5, "slowloris-worker": 6, "slowloris-proxy": 7, "header-flood-worker": 8, "header-flood-proxy": 9, "smuggling-worker": 10, "smuggling-proxy": 11, "no-token-logged": 1, "xff-trusted": 2, "affinity-cookie": 3 };
  return writeResult({
    id,
    group,
    seq: SEQ[id],
    title,
    short: short || (did.length > 160 ? did.slice(0, 157) + "..." : did),
    did,
    summary: `${passed}/${cases.length} cases as expected${v.problems.length ? "; failed: " + v.problems.slice(0, 3).join("; ") : ""}`,
    measured,
    problems: v.problems,
  });
}

const closedWith = (r, codes) => r.statuses.length >= 1 && codes.includes(r.statuses[0]) && r.closed;

export function defineBadInputTests() {
  const skip = IS_NODE_PEER ? "sioc only" : false;

  describe("bad input: WebSocket protocol violations (python3-autobahn)", { skip }, () => {
    let w;
    let p;
    before(async () => {
      w = await startWorker({ id: "ws1", flags: { app: "echo", path: "/engine.io/", "max-http-buffer-size": LIMIT } });
      if (haveProxy()) p = await startProxy({ flags: { workers: `ws1=${HOST}:${w.port}` } });
    });
    after(async () => {
      await p?.stop();
      await w?.stop();
    });

    for (const via of ["worker", "proxy"]) {
      it(`every RFC 6455 case group, ${via === "worker" ? "straight to the worker" : "through sioc-proxy"}`, { timeout: 180000 }, async (t) => {
        if (via === "proxy" && !p) return t.skip("no sioc-proxy binary");
        const rss0 = w.rssKiB();
        const { cases, summary } = await runWsCases(via === "worker" ? w.port : p.port, LIMIT);
        const rss1 = w.rssKiB();
        const v = new Verdict();
        v.check(w.alive(), "the worker died");
        v.check((await get(w.port, "/health")).status === 200, "the worker stopped answering /health");
        v.check(!sanitizerReport(w.log()), `sanitizer report in the worker log: ${sanitizerReport(w.log())}`);
        v.check(rss1 - rss0 < 16 * 1024, `worker RSS grew ${rss1 - rss0} KiB over the cases`);
        const groups = Object.entries(summary.groups).map(([g, [ok, ko]]) => `${g}: ${ok}/${ok + ko}`).join(", ");
        const failed = cases.filter((c) => !c.ok);
        const slow = cases.filter((c) => c.id.startsWith("6.3.") || c.id.startsWith("9.")).map((c) => `${c.id} ${c.got} in ${c.ms} ms`);
        const r = writeResult({
          id: `ws-protocol-${via}`,
          group: "badinput",
          seq: via === "worker" ? 1 : 2,
          title: `WebSocket protocol violations, ${via === "worker" ? "worker" : "through the proxy"}`,
          short: `${cases.length} RFC 6455 cases in the Autobahn groups 1-7, 9 and masking, sent with python3-autobahn`,
          did: `tests/badinput/ws_cases.py opened one connection per case to the Engine.IO echo app (--max-http-buffer-size ${LIMIT})${via === "proxy" ? " through sioc-proxy's websocket tunnel" : ""} and sent valid and invalid frames built with python3-autobahn (sendFrame / raw writes): framing sizes, ping/pong, reserved bits, reserved opcodes, fragmentation rules, UTF-8 validity with fail-fast cases (an invalid byte in a fragment or frame that never ends), close codes and reasons, size limits, unmasked client frames. Expected: the echo for valid input, otherwise a close frame with the RFC's code (1002 protocol error, 1007 invalid UTF-8, 1009 too big) and the end of the TCP connection within the deadline.`,
          summary: `${summary.passed}/${cases.length} cases as expected (${groups})`,
          measured: {
            "cases passed / failed": `${summary.passed} / ${summary.failed}`,
            "per group (passed/total)": groups,
            "fail-fast and limit cases": slow.join("; "),
            "worker RSS before / after (KiB)": `${rss0} / ${rss1}`,
            ...(failed.length ? { "failed cases": failed.map((c) => `${c.id} ${c.title}: ${c.got}`).join("; ") } : {}),
          },
          problems: [...failed.map((c) => `${c.id} ${c.title}: expected ${c.expect}, got ${c.got}`), ...v.problems],
        });
        assert.deepEqual(r.problems, []);
      });
    }
  });

  describe("bad input: HTTP and Engine.IO abuse on the worker", { skip }, () => {
    let w;
    before(async () => {
      w = await startWorker({
        id: "bi1",
        flags: { "max-http-buffer-size": LIMIT, "max-events-per-second": 50, "ping-interval": 1000, "ping-timeout": 1000, "upgrade-timeout": 1000 },
      });
    });
    after(async () => {
      await w?.stop();
    });

    const metric = async (name) => (await w.metrics()).get(name) ?? 0;
    const tooLarge = 'sioc_dropped_total{reason="too_large"}';

    it("messages over --max-http-buffer-size: close 1009 / 413, counted, logged", async () => {
      const cases = [];
      const m0 = await metric(tooLarge);
      // websocket: a Socket.IO event over the limit
      const { ws } = await wsHandshake(w, "/socket.io/");
      ws.send("40" + JSON.stringify({ token: makeToken() }));
      await ws.nextNonPing();
      ws.send(`42${JSON.stringify(["send-message", { roomId: "r", msg: "x".repeat(LIMIT + 10) }])}`);
      const c1 = await Promise.race([ws.closed, sleep(3000).then(() => null)]);
      cases.push({ name: "websocket message of limit+10 bytes", ok: c1 && c1.code === 1009, got: c1 ? `close ${c1.code}` : "still open" });
      const m1 = await metric(tooLarge);
      cases.push({ name: "websocket: too_large metric", ok: m1 === m0 + 1, got: `${m0} -> ${m1}` });
      // polling: a POST over the limit
      const { sid } = await pollingHandshake(w, "/socket.io/");
      const r = await post(w, "/socket.io/", sid, "4" + "y".repeat(LIMIT + 10)).catch((e) => ({ status: String(e.message) }));
      cases.push({ name: "polling POST of limit+11 bytes", ok: r.status === 413, got: `HTTP ${r.status}` });
      const after413 = await poll(w, "/socket.io/", sid, { timeoutMs: 3000 }).catch((e) => ({ status: String(e.message), text: "" }));
      cases.push({ name: "the session of that POST is closed", ok: after413.status === 400 || /^1/.test(after413.text || ""), got: `next poll: HTTP ${after413.status} ${String(after413.text).slice(0, 40)}` });
      const m2 = await metric(tooLarge);
      cases.push({ name: "polling: too_large metric", ok: m2 === m1 + 1, got: `${m1} -> ${m2}` });
      // a POST announcing 1 GB without sending it: refused at the head
      const rss0 = w.rssKiB();
      const big = await rawExchange(w.port, [`POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n`, "z".repeat(65536)], { timeoutMs: 3000 });
      cases.push({ name: "POST announcing 1 GB", ok: closedWith(big, [413, 400]), got: `HTTP ${big.statuses.join(",")} ${big.closed ? "closed" : "open"} in ${big.ms} ms, RSS +${w.rssKiB() - rss0} KiB` });
      await sleep(200);
      const log = w.log();
      cases.push({ name: "log lines", ok: /message too big \(1009\)/.test(log) && /over max-http-buffer-size: 413/.test(log), got: (log.match(/.*(message too big|over max-http-buffer-size).*/g) || []).map((l) => l.replace(/^\S+ /, "")).join(" | ") });
      const res = record("too-large", "badinput", "Messages over the size limit", `Worker with --max-http-buffer-size ${LIMIT}: a Socket.IO event over the limit on a websocket, a polling POST over the limit, a POST head announcing 1 GB.`, cases, {}, undefined, "websocket event and polling POST over --max-http-buffer-size, a 1 GB Content-Length");
      assert.deepEqual(res.problems, []);
    });

    it("an event flooder is throttled at --max-events-per-second and disconnected at twice the rate", async () => {
      const cases = [];
      const token = makeToken();
      const connect = () =>
        new Promise((resolve, reject) => {
          const s = io(w.url, { forceNew: true, transports: ["websocket"], reconnection: false, auth: { token } });
          s.once("connect", () => resolve(s));
          s.once("connect_error", reject);
        });
      const bystander = await connect();
      const by2 = await connect();
      await bystander.timeout(2000).emitWithAck("join-room", "calm");
      await by2.timeout(2000).emitWithAck("join-room", "calm");
      const m0 = await metric('sioc_dropped_total{reason="rate_limited"}');
      // 1: 80 events/s for 2 s (between the limit and twice the limit): throttled, stays connected
      const slow = await connect();
      let okAcks = 0;
      let lostAcks = 0;
      const tf0 = Date.now();
      for (let i = 0; i < 160; i++) {
        slow.timeout(1500).emit("leave-room", "none", (err) => (err ? lostAcks++ : okAcks++));
        await sleep(12.5);
      }
      const spanS = (Date.now() - tf0) / 1000;
      await sleep(1600);
      // fixed one-second windows: at most 50 per window the span touches
      const most = 50 * (Math.ceil(spanS) + 1);
      cases.push({ name: "80 events/s for 2 s (limit 50)", ok: slow.connected && okAcks <= most && okAcks >= 80 && lostAcks > 0, got: `${okAcks} accepted (at most ${most} in ${spanS.toFixed(2)} s), ${lostAcks} dropped, ${slow.connected ? "still connected" : "disconnected"}` });
      // 2: a burst of 500 events: disconnected
      const flooder = await connect();
      const gone = new Promise((r) => flooder.once("disconnect", (why) => r(why)));
      for (let i = 0; i < 500; i++) flooder.emit("leave-room", "none");
      const why = await Promise.race([gone, sleep(3000).then(() => "still connected")]);
      cases.push({ name: "burst of 500 events: disconnected", ok: why !== "still connected", got: why });
      // The server sends DISCONNECT ("41") and a close frame; with the rest of the burst still
      // unread the kernel answers the close with a reset, which destroys them in flight.
      cases.push({ name: "burst of 500 events: the client is told (DISCONNECT packet, 'io server disconnect')", ok: why === "io server disconnect", got: why });
      // bystanders unaffected: a round trip during and after
      const t0 = Date.now();
      const got = new Promise((r) => by2.once("receive-message", r));
      await bystander.timeout(2000).emitWithAck("send-message", { roomId: "calm", msg: "hi" });
      await got;
      cases.push({ name: "a bystander's message round trip", ok: Date.now() - t0 < 500, got: `${Date.now() - t0} ms` });
      const m1 = await metric('sioc_dropped_total{reason="rate_limited"}');
      cases.push({ name: "rate_limited metric", ok: m1 - m0 >= lostAcks + 1, got: `+${m1 - m0} (the throttled client alone lost ${lostAcks})` });
      cases.push({ name: "log line", ok: /event rate over twice the limit: disconnected/.test(w.log()), got: (w.log().match(/.*event rate.*/) || ["none"])[0].replace(/^\S+ /, "") });
      for (const s of [bystander, by2, slow, flooder]) s.disconnect();
      const res = record("event-flood", "badinput", "Event flooder (per-socket rate limit)", "Worker with --max-events-per-second 50: one client sends 80 events/s for 2 s, another a burst of 500 events; two bystanders exchange a message meanwhile.", cases, {}, undefined, "80 events/s and a burst of 500 against --max-events-per-second 50");
      assert.deepEqual(res.problems, []);
    });

    it("slowloris on the head and on the upgrade is cut off; other clients are served meanwhile", { timeout: 30000 }, async () => {
      const cases = [];
      const head = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow\r\nX-Pad: " + "p".repeat(200) + "\r\n\r\n";
      const upgradeHead = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Pad: " + "p".repeat(200) + "\r\n\r\n";
      const N = 40;
      const rss0 = w.rssKiB();
      const fds0 = w.fds();
      const slows = [
        ...Array.from({ length: N }, (_, i) => slowHead(w.port, head, { timeoutMs: 14000, localAddress: `127.0.2.${10 + i}` })),
        ...Array.from({ length: 10 }, (_, i) => slowHead(w.port, upgradeHead, { timeoutMs: 14000, localAddress: `127.0.3.${10 + i}` })),
      ];
      await sleep(1000);
      const fdsDuring = w.fds();
      // meanwhile a normal client is served
      const t0 = Date.now();
      const h = await get(w.port, "/health");
      const healthMs = Date.now() - t0;
      // after the 101: a frame trickled without ever answering pings
      const { ws } = await wsHandshake(w, "/socket.io/");
      const sock = ws.ws._socket;
      ws.ws.removeAllListeners("message");
      let trickle = setInterval(() => sock.write(Buffer.from([0x81])), 300);
      const upgradeSlow = await Promise.race([ws.closed.then(() => "closed"), sleep(6000).then(() => "open")]);
      clearInterval(trickle);
      // a polling session that starts the upgrade (2probe / 3probe) and never sends 5
      const { sid } = await pollingHandshake(w, "/socket.io/");
      const probe = new RawWs(`ws://${HOST}:${w.port}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
      await probe.opened;
      probe.send("2probe");
      const p3 = await probe.nextText().catch((e) => String(e.message));
      const tp = Date.now();
      const probeEnd = await Promise.race([probe.closed.then(() => `closed after ${Date.now() - tp} ms`), sleep(4000).then(() => "open")]);
      const rs = await Promise.all(slows);
      const heads = rs.slice(0, N);
      const ups = rs.slice(N);
      const sum = (xs) => `${xs.filter((r) => closedWith(r, [408])).length}/${xs.length} got 408 and close, after ${Math.min(...xs.map((r) => r.ms))}..${Math.max(...xs.map((r) => r.ms))} ms`;
      cases.push({ name: `${N} request heads sent 1 byte / 500 ms`, ok: heads.every((r) => closedWith(r, [408]) && r.ms < 12500), got: sum(heads) });
      cases.push({ name: "10 websocket upgrade heads sent 1 byte / 500 ms", ok: ups.every((r) => closedWith(r, [408]) && r.ms < 12500), got: sum(ups) });
      cases.push({ name: "health check while they hang", ok: h.status === 200 && healthMs < 500, got: `HTTP ${h.status} in ${healthMs} ms` });
      cases.push({ name: "websocket frame trickled 1 byte / 300 ms, pings unanswered (ping 1000 + timeout 1000 ms)", ok: upgradeSlow === "closed", got: upgradeSlow });
      cases.push({ name: "upgrade probe (2probe/3probe) never completed (--upgrade-timeout 1000)", ok: p3 === "3probe" && probeEnd.startsWith("closed"), got: `${p3}, then ${probeEnd}` });
      // closed connections may linger a moment (the worker drains their input before closing)
      const tl = Date.now();
      await until(() => w.fds() <= fds0 + 2, 5000, 100, "descriptors released").catch(() => {});
      const fds1 = w.fds();
      cases.push({ name: "descriptors released", ok: fds1 <= fds0 + 2, got: `${fds0} before, ${fdsDuring} during, ${fds1} after (+${Date.now() - tl} ms)` });
      const res = record("slowloris-worker", "badinput", "Slowloris on the worker: head and upgrade", `${N} connections trickling a request head (1 byte every 500 ms) and 10 trickling a websocket upgrade head, a websocket whose frame is trickled with pings unanswered (--ping-interval 1000 --ping-timeout 1000), and a polling session whose upgrade probe is never completed (--upgrade-timeout 1000).`, cases, { "worker RSS before / after (KiB)": `${rss0} / ${w.rssKiB()}` }, undefined, "50 trickled heads (10 of them upgrades), a trickled frame, a never-finished upgrade probe");
      assert.deepEqual(res.problems, []);
    });

    it("header floods and oversized heads: 431 and close", async () => {
      const cases = [];
      const many = "GET /health HTTP/1.1\r\nHost: x\r\n" + Array.from({ length: 200 }, (_, i) => `X-H${i}: v\r\n`).join("") + "\r\n";
      const r1 = await rawExchange(w.port, [many]);
      cases.push({ name: "200 header fields", ok: closedWith(r1, [431]), got: `HTTP ${r1.statuses.join(",")}, ${r1.closed ? "closed" : "open"}` });
      const long = "GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + "a".repeat(24000) + "\r\n\r\n";
      const r2 = await rawExchange(w.port, [long]);
      cases.push({ name: "one 24 KB header field (--max-head-size 20480)", ok: closedWith(r2, [431]), got: `HTTP ${r2.statuses.join(",")}, ${r2.closed ? "closed" : "open"}` });
      const rss0 = w.rssKiB();
      let n = 0;
      const r3 = await rawExchange(w.port, ["GET /health HTTP/1.1\r\nHost: x\r\n"], { keepSending: () => (++n > 2000 ? null : `X-Flood-${n}: ${"f".repeat(500)}\r\n`), timeoutMs: 5000 });
      cases.push({ name: "endless header stream (1 MB as fast as possible): cut off, memory bounded", ok: r3.closed && r3.ms < 3000 && w.rssKiB() - rss0 < 4096, got: `${r3.closed ? "closed" : "open"} after ${r3.ms} ms${r3.reset ? " (reset)" : ""}, RSS +${w.rssKiB() - rss0} KiB` });
      cases.push({ name: "endless header stream: the client gets the 431", ok: r3.statuses[0] === 431, got: r3.statuses.length ? `HTTP ${r3.statuses.join(",")}` : "no response (the close with unread input became a reset)" });
      const r4 = await rawExchange(w.port, ["GET /health HTTP/1.1\r\nHost: x\r\n" + "X: y\r\n".repeat(95) + "\r\n"]);
      cases.push({ name: "96 fields (at the --max-headers limit) pass", ok: r4.statuses[0] === 200, got: `HTTP ${r4.statuses.join(",")}` });
      const res = record("header-flood-worker", "badinput", "Header floods on the worker", "Raw requests with 200 header fields, one 24 KB field, an endless stream of header lines, and 96 fields (the limit).", cases, {}, undefined, "200 fields, a 24 KB field, an endless header stream, 96 fields");
      assert.deepEqual(res.problems, []);
    });

    it("request smuggling shapes are refused and the connection closed", async () => {
      const cases = await smugglingCases(w.port, { chunkedAlone: [411] });
      const res = record("smuggling-worker", "badinput", "Request smuggling shapes on the worker", "Each shape followed by a pipelined GET /health on the same connection: the bad request must be answered 4xx and the connection closed, so the pipelined request is never answered.", cases, {}, undefined, "18 shapes (CL+TE, duplicate CL, obs-fold, bad TE, bare LF/CR, NUL, ...) + a pipelined request");
      assert.deepEqual(res.problems, []);
    });

    it("the worker survived every case", () => {
      assert.ok(w.alive(), "worker alive");
      assert.equal(sanitizerReport(w.log()), null);
    });
  });

  describe("bad input: per-address connection caps", { skip }, () => {
    it("worker --max-connections-per-ip and proxy --max-connections-per-ip", async (t) => {
      const cases = [];
      const w = await startWorker({ id: "cap1", flags: { "max-connections-per-ip": 5, "max-connections": 10 } });
      const p = haveProxy() ? await startProxy({ flags: { workers: `cap1=${HOST}:${w.port}`, "max-connections-per-ip": 5 } }) : null;
      const opened = [];
      // `first`: bytes sent once connected (the proxy accepts a connection once its first
      // bytes are in: one that never sends is held by the kernel, not by the proxy)
      const openN = (port, n, localAddress, first) =>
        Promise.all(
          Array.from({ length: n }, () =>
            new Promise((resolve) => {
              const s = net.createConnection({ host: HOST, port, localAddress }, () => {
                if (first) s.write(first);
                resolve(s);
              });
              s.on("error", () => resolve(s));
              opened.push(s);
            }),
          ),
        );
      try {
        await openN(w.port, 5, "127.0.4.1");
        const r6 = await rawExchange(w.port, ["GET /health HTTP/1.1\r\nHost: x\r\n\r\n"], { localAddress: "127.0.4.1" });
        cases.push({ name: "worker: 6th connection from 127.0.4.1 closed at accept", ok: r6.closed && !r6.statuses.includes(200), got: `${r6.statuses.length ? "HTTP " + r6.statuses.join(",") : "no response"}, ${r6.closed ? "closed" : "open"}` });
        // Refused connections are not held: 12 more from the same address do not use up
        // --max-connections 10 for everyone else.
        await openN(w.port, 12, "127.0.4.1");
        await sleep(100);
        const other = await rawExchange(w.port, ["GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"], { localAddress: "127.0.4.2" });
        cases.push({ name: "worker: another address still served", ok: other.statuses[0] === 200, got: `HTTP ${other.statuses.join(",")}` });
        if (p) {
          await openN(p.port, 5, "127.0.4.3", "GET /socket.io/?EIO=4"); // heads begun, held open
          await sleep(100);
          const p6 = await rawExchange(p.port, ["GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n"], { localAddress: "127.0.4.3" });
          cases.push({ name: "proxy: 6th connection from 127.0.4.3", ok: p6.closed && !p6.statuses.includes(200), got: `${p6.statuses.length ? "HTTP " + p6.statuses.join(",") : "no response"}, ${p6.closed ? "closed" : "open"}` });
          const p7 = await rawExchange(p.port, ["GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"], { localAddress: "127.0.4.4" });
          cases.push({ name: "proxy: another address still served", ok: p7.statuses[0] === 200, got: `HTTP ${p7.statuses.join(",")}` });
          const pm = await p.metrics();
          cases.push({ name: "proxy: refused connections counted", ok: (pm.get('sioc_proxy_connections_refused_total{limit="per_ip"}') ?? 0) >= 1, got: `per_ip ${pm.get('sioc_proxy_connections_refused_total{limit="per_ip"}')}` });
        } else t.diagnostic("no sioc-proxy binary: proxy cases skipped");
        const wm = await w.metrics();
        cases.push({ name: "worker: refused connections counted", ok: (wm.get("sioc_connections_refused_total") ?? 0) >= 1, got: `${wm.get("sioc_connections_refused_total")}` });
      } finally {
        for (const s of opened) s.destroy();
        await p?.stop();
        await w.stop();
      }
      const res = record("connection-caps", "badinput", "Per-address connection caps", "5 connections held open from one loopback address (to the proxy: each with a request head begun), then a 6th from the same and one from another address, against a worker and a proxy each configured with --max-connections-per-ip 5 (the worker also with --max-connections 10, after 12 more refused connections from the first address).", cases, {}, undefined, "6th connection from one address with --max-connections-per-ip 5, worker and proxy");
      assert.deepEqual(res.problems, []);
    });
  });

  describe("bad input: the proxy's head guards", { skip: skip || (!haveProxy() && "no sioc-proxy binary") }, () => {
    let w;
    let p;
    before(async () => {
      w = await startWorker({ id: "pg1" });
      p = await startProxy({ flags: { workers: `pg1=${HOST}:${w.port}`, "head-timeout": 2000, "max-headers": 64, "max-head-size": 16384 } });
    });
    after(async () => {
      await p?.stop();
      await w?.stop();
    });

    it("slowloris on the proxy: 408 at --head-timeout", { timeout: 20000 }, async () => {
      const cases = [];
      const head = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + "p".repeat(100) + "\r\n\r\n";
      const upgradeHead = "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
      const fds0 = p.fds();
      const rs = await Promise.all([
        ...Array.from({ length: 40 }, (_, i) => slowHead(p.port, head, { timeoutMs: 8000, gapMs: 200, localAddress: `127.0.5.${10 + i}` })),
        ...Array.from({ length: 10 }, (_, i) => slowHead(p.port, upgradeHead, { timeoutMs: 8000, gapMs: 200, localAddress: `127.0.6.${10 + i}` })),
        // a connection that sends one byte and then nothing
        rawExchange(p.port, ["G"], { timeoutMs: 8000 }),
      ]);
      const heads = rs.slice(0, 40);
      const ups = rs.slice(40, 50);
      const one = rs[50];
      const sum = (xs) => `${xs.filter((r) => closedWith(r, [408])).length}/${xs.length} got 408 and close after ${Math.min(...xs.map((r) => r.ms))}..${Math.max(...xs.map((r) => r.ms))} ms`;
      cases.push({ name: "40 request heads sent 1 byte / 200 ms", ok: heads.every((r) => closedWith(r, [408]) && r.ms < 4000), got: sum(heads) });
      cases.push({ name: "10 upgrade heads sent 1 byte / 200 ms", ok: ups.every((r) => closedWith(r, [408]) && r.ms < 4000), got: sum(ups) });
      cases.push({ name: "one byte, then silence", ok: one.closed && one.ms < 4000, got: `${one.statuses.length ? "HTTP " + one.statuses.join(",") : "no response"}, closed after ${one.ms} ms` });
      await until(() => p.fds() <= fds0 + 2, 5000, 100, "descriptors released").catch(() => {});
      const fds1 = p.fds();
      cases.push({ name: "descriptors released", ok: fds1 <= fds0 + 2, got: `${fds0} -> ${fds1}` });
      const res = record("slowloris-proxy", "badinput", "Slowloris on the proxy: head and upgrade", "sioc-proxy --head-timeout 2000: 40 connections trickling a request head, 10 trickling a websocket upgrade head (1 byte every 200 ms), one sending a single byte.", cases, {}, undefined, "50 trickled heads (10 of them upgrades) and a single byte, --head-timeout 2000");
      assert.deepEqual(res.problems, []);
    });

    it("header floods on the proxy: 431 and close", async () => {
      const cases = [];
      const many = "GET /health HTTP/1.1\r\nHost: x\r\n" + Array.from({ length: 65 }, (_, i) => `X-H${i}: v\r\n`).join("") + "\r\n";
      const r1 = await rawExchange(p.port, [many]);
      cases.push({ name: "65 header fields (--max-headers 64)", ok: closedWith(r1, [431]), got: `HTTP ${r1.statuses.join(",")}, ${r1.closed ? "closed" : "open"}` });
      const long = "GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " + "a".repeat(17000) + "\r\n\r\n";
      const r2 = await rawExchange(p.port, [long]);
      cases.push({ name: "17 KB head (--max-head-size 16384)", ok: closedWith(r2, [431]), got: `HTTP ${r2.statuses.join(",")}, ${r2.closed ? "closed" : "open"}` });
      const rss0 = p.rssKiB();
      let n = 0;
      const r3 = await rawExchange(p.port, ["GET /health HTTP/1.1\r\nHost: x\r\n"], { keepSending: () => (++n > 2000 ? null : `X-Flood-${n}: ${"f".repeat(500)}\r\n`), timeoutMs: 5000 });
      cases.push({ name: "endless header stream (1 MB)", ok: r3.statuses[0] === 431 && r3.closed, got: `HTTP ${r3.statuses.join(",")}, ${r3.closed ? "closed" : "open"} after ${r3.ms} ms, RSS +${p.rssKiB() - rss0} KiB` });
      const res = record("header-flood-proxy", "badinput", "Header floods on the proxy", "Raw requests to sioc-proxy with 65 header fields, a 17 KB head, and an endless stream of header lines.", cases, {}, undefined, "65 fields, a 17 KB head, an endless header stream");
      assert.deepEqual(res.problems, []);
    });

    it("request smuggling shapes are refused by the proxy and never reach the worker", async () => {
      const hits0 = (await w.metrics()).get("sioc_http_requests_total");
      const cases = await smugglingCases(p.port, { chunkedAlone: null });
      const hits1 = (await w.metrics()).get("sioc_http_requests_total");
      const res = record("smuggling-proxy", "badinput", "Request smuggling shapes on the proxy", "The same shapes against sioc-proxy, each followed by a pipelined request: refused with 4xx, connection closed, the pipelined request never answered.", cases, { "requests that reached the worker meanwhile": hits1 - hits0 }, undefined, "17 shapes + a pipelined request; nothing may reach the worker");
      assert.deepEqual(res.problems, []);
    });

    it("the proxy survived every case", () => {
      assert.ok(p.alive());
      assert.equal(sanitizerReport(p.log()), null);
    });
  });

  describe("security", { skip }, () => {
    it("no token value is ever logged (worker at debug level, proxy at debug level)", async (t) => {
      const cases = [];
      const w = await startWorker({ id: "sec1", flags: { "log-level": "debug" }, env: { LOG_LEVEL: "debug" } });
      const p = haveProxy() ? await startProxy({ flags: { workers: `sec1=${HOST}:${w.port}`, "log-level": "debug" }, env: { LOG_LEVEL: "debug" } }) : null;
      const marker = `Mk${Date.now().toString(36)}`;
      const tokens = {
        "wrong secret": makeToken({ sub: `${marker}a`, secret: "another-secret-that-is-long-enough-0123" }),
        expired: makeToken({ sub: `${marker}b`, claims: { exp: nowSec() - 60 } }),
        "alg none": craftToken({ alg: "none", typ: "JWT" }, { sub: `${marker}c`, exp: nowSec() + 60 }),
        garbage: `${marker}.garbage.${marker}`,
        valid: makeToken({ sub: `${marker}d` }),
        "valid, expiring in 1 s": makeToken({ sub: `${marker}e`, claims: { exp: nowSec() + 1 } }),
      };
      try {
        for (const [name, token] of Object.entries(tokens)) {
          for (const target of [w, p].filter(Boolean)) {
            await new Promise((resolve) => {
              const s = io(`${target.url}/?token=${encodeURIComponent(token)}`, { forceNew: true, transports: ["polling", "websocket"], reconnection: false, auth: { token }, query: { token } });
              const done = () => {
                setTimeout(() => {
                  s.disconnect();
                  resolve();
                }, name.includes("expiring") ? 2200 : 100);
              };
              s.once("connect", done);
              s.once("connect_error", done);
            });
          }
        }
        await sleep(300);
        const logs = { worker: w.log(), ...(p ? { proxy: p.log() } : {}) };
        for (const [name, token] of Object.entries(tokens)) {
          const parts = token.split(".").filter((x) => x.length >= 8);
          for (const [who, log] of Object.entries(logs)) {
            const leaked = [token, ...parts].filter((x) => log.includes(x));
            cases.push({ name: `${who} log: ${name} token`, ok: leaked.length === 0, got: leaked.length ? `LEAKED ${leaked.map((x) => x.slice(0, 12) + "...").join(", ")}` : "not present" });
          }
        }
        cases.push({ name: "the worker did log the refusals (debug log is not empty)", ok: /handshake refused/.test(logs.worker), got: (logs.worker.match(/.*handshake refused.*/) || ["none"])[0].replace(/^\S+ /, "") });
      } finally {
        await p?.stop();
        await w.stop();
      }
      const res = record("no-token-logged", "security", "No token value in any log", "Worker and proxy at --log-level debug; connections (polling then websocket) with a wrong-secret, expired, alg-none, garbage, valid and soon-expiring token, sent both in the CONNECT auth and as ?token= in the URL, straight and through the proxy. Both logs are searched for each token and each of its segments.", cases, {}, undefined, "6 kinds of token in auth and ?token=, worker and proxy at debug level; logs searched");
      assert.deepEqual(res.problems, []);
    });

    it("the findings of the security review stay fixed", { skip: !haveProxy() && "no sioc-proxy binary" }, async () => {
      const cases = [];
      const add = (name, ok, got) => cases.push({ name, ok: !!ok, got: String(got) });
      const redis = await startRedisServer();
      const w = await startWorker({ id: "rv1", flags: { "redis-url": redis.url, "max-pending-sessions-per-ip": 50, "max-rooms-per-socket": 1000 } });
      const w2 = await startWorker({ id: "rv2" });
      const p = await startProxy({ flags: { workers: `rv2=${HOST}:${w2.port}` } });
      const hs = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n";
      const closing = (n, head = hs) => head.repeat(n - 1) + head.replace("Host: x\r\n", "Host: x\r\nConnection: close\r\n");
      const socks = [];
      try {
        await until(async () => (await p.metrics()).get("sioc_proxy_workers_up") === 1, 5000, 50, "worker up");
        // 1. sessions per address
        const wr = await rawExchange(w.port, [closing(200)], { localAddress: "127.0.12.2", timeoutMs: 5000 });
        const wOk = wr.statuses.filter((s) => s === 200).length;
        add("1. worker: 200 pipelined handshakes, --max-pending-sessions-per-ip 50", wOk === 50 && wr.statuses.includes(429), `${wOk} sessions, ${wr.statuses.filter((s) => s === 429).length} x 429`);
        const t0 = Date.now();
        const pr = await rawExchange(p.port, [closing(1200)], { localAddress: "127.0.12.3", timeoutMs: 15000 });
        const pOk = pr.statuses.filter((s) => s === 200).length;
        const refill = Math.ceil(((Date.now() - t0) / 1000) * 100);
        add("1. proxy (default per-address rate 100/s, burst 1000): 1200 pipelined handshakes", pOk >= 1000 && pOk <= 1000 + refill + 1 && pr.statuses.includes(429), `${pOk} sessions, ${pr.statuses.filter((s) => s === 429).length} x 429`);
        // 2. rooms per socket, list-rooms bounded
        const s = io(w.url, { forceNew: true, transports: ["websocket"], reconnection: false, localAddress: "127.0.12.6", auth: { token: makeToken({ sub: "rv" }) } });
        socks.push(s);
        await new Promise((res, rej) => (s.once("connect", res), s.once("connect_error", rej)));
        const acks = await Promise.all(Array.from({ length: 1001 }, (_, i) => s.timeout(5000).emitWithAck("join-room", `r${i}`)));
        add("2. the 1001st room of a socket refused (--max-rooms-per-socket 1000)", acks.slice(0, 1000).every((a) => a.ok) && !acks[1000].ok, JSON.stringify(acks[1000]));
        const lists = [];
        for (let i = 0; i < 6; i++) lists.push(await s.timeout(6000).emitWithAck("list-rooms"));
        add("2. list-rooms: at most 1000 rooms, no socket-id room, 5 per 10 s", lists[0].rooms.length === 1000 && !lists[0].rooms.includes(s.id) && lists[0].complete === false && lists[5].ok === false, `${lists[0].rooms.length} rooms, complete ${lists[0].complete}; 6th: ${JSON.stringify(lists[5]).slice(0, 60)}`);
        // 3. a broadcast to 5,000 rooms (Node's own encoding, @socket.io/redis-emitter)
        const { Emitter } = await import("@socket.io/redis-emitter");
        const { createClient } = await import("redis");
        const rc = createClient({ url: redis.url });
        await rc.connect();
        try {
          const got = new Promise((res) => s.once("receive-message", res));
          new Emitter(rc).to(Array.from({ length: 5000 }, (_, i) => `x${i}`).concat("r999")).emit("receive-message", "to-5001-rooms");
          const m = await Promise.race([got, sleep(3000).then(() => "nothing in 3 s")]);
          add("3. a broadcast to 5,001 rooms from @socket.io/redis-emitter is decoded", m === "to-5001-rooms", m);
        } finally {
          await rc.quit();
        }
        // 5. JWT numeric dates
        const connectWith = (token) =>
          new Promise((res) => {
            const c = io(w.url, { forceNew: true, transports: ["websocket"], reconnection: false, localAddress: "127.0.12.7", auth: { token } });
            socks.push(c);
            c.once("connect", () => res("connected"));
            c.once("connect_error", (e) => res(`refused: ${e.message}`));
          });
        const nbf = await connectWith(craftToken({ alg: "HS256", typ: "JWT" }, { sub: "n", nbf: nowSec() + 86400.5, exp: nowSec() + 90000 }, TEST_SECRET));
        add("5. a token with nbf = now + 86400.5 is refused", nbf.startsWith("refused"), nbf);
        const exp = await connectWith(craftToken({ alg: "HS256", typ: "JWT" }, { sub: "e", exp: nowSec() + 60.5 }, TEST_SECRET));
        add("5. a token with a fractional exp in the future is accepted", exp === "connected", exp);
        // 6. log flood
        const before = (w.log().match(/handshake refused/g) || []).length;
        const failures = async () => (await w.metrics()).get("sioc_auth_failures_total") ?? 0;
        const failedBefore = await failures();
        const sid = JSON.parse((await get(w.port, "/socket.io/?EIO=4&transport=polling", { localAddress: "127.0.12.4" })).body.slice(1)).sid;
        const flood = Array.from({ length: 5000 }, () => '40{"token":"x"}').join("\x1e");
        await rawExchange(w.port, [`POST /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(flood)}\r\nConnection: close\r\n\r\n${flood}`], { localAddress: "127.0.12.4" });
        await sleep(200);
        const lines = (w.log().match(/handshake refused/g) || []).length - before;
        const refused = (await failures()) - failedBefore;
        add("6. refused CONNECTs in one POST (counted in sioc_auth_failures_total): log lines", refused >= 100 && lines <= 5, `${refused} refused, ${lines} lines`);
        // 7. HEAD gets no body
        const head = await rawExchange(w.port, ["HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]);
        add("7. HEAD /health then GET /health on one connection: two answers in step", head.statuses.length === 2 && head.statuses.every((x) => x === 200), `HTTP ${head.statuses.join(",")}`);
        // 8. what the proxy accepts, the worker behind it accepts
        // 64 fields and ~16.2 KB: just inside the proxy's defaults (--max-headers 64, --max-head-size 16384)
        const many = Array.from({ length: 62 }, (_, i) => `x-h${String(i).padStart(2, "0")}: ${"v".repeat(250)}`).join("\r\n");
        const big = await rawExchange(p.port, [`GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n${many}\r\nConnection: close\r\n\r\n`], { localAddress: "127.0.12.5" });
        add("8. a head at the proxy's limits (64 fields, 16.2 KB) is accepted by the worker behind it", big.statuses[0] === 200, `HTTP ${big.statuses.join(",")}`);
        // 9. admin endpoints are not reachable through the proxy
        const adm = await get(p.port, "/metrics?sid=rv2.x");
        add("9. GET /metrics?sid=rv2.x through the proxy", adm.status === 404 && !/sioc_/.test(adm.body), `HTTP ${adm.status}`);
        // 10. the rightmost X-Forwarded-For fields count; Host required; no body on an upgrade
        const fakes = await fakeWorkers(["f1", "f2", "f3"]);
        const fp = await startProxy({ flags: { workers: fakes.map((f) => `${f.id}=${HOST}:${f.port}`).join(","), "trusted-proxies": "127.0.12.1/32" } });
        try {
          await until(async () => (await fp.metrics()).get("sioc_proxy_workers_up") === 3, 5000, 50, "fakes up");
          const spread = new Set();
          for (let i = 0; i < 20; i++) {
            const r = await get(fp.port, "/socket.io/?EIO=4&transport=polling", { localAddress: "127.0.12.1", headers: { "x-forwarded-for": [...Array.from({ length: 16 }, (_, j) => `10.1.1.${j}`), `10.2.${i}.${i * 7 + 1}`] } }); // 17 lines
            if (r.json) spread.add(r.json.worker);
          }
          add("10. behind a trusted balancer, 16 forged X-Forwarded-For fields before the real one: the real one is hashed", spread.size >= 2, [...spread].join(","));
        } finally {
          await fp.stop();
          for (const f of fakes) await f.close();
        }
        const noHost = await rawExchange(w.port, ["GET /health HTTP/1.1\r\n\r\n"]);
        const noHostP = await rawExchange(p.port, ["GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n\r\n"]);
        add("10. HTTP/1.1 without Host: 400 from the worker and the proxy", noHost.statuses[0] === 400 && noHostP.statuses[0] === 400, `worker ${noHost.statuses[0]}, proxy ${noHostP.statuses[0]}`);
        const up = await rawExchange(w.port, ["GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 5\r\n\r\nhello"]);
        add("10. an upgrade request with a body is refused by the worker", up.statuses[0] === 400, `HTTP ${up.statuses.join(",")}`);
      } finally {
        for (const c of socks) c.disconnect();
        await p.stop();
        await w.stop();
        await w2.stop();
        await redis.stop();
      }
      const res = record("security-review", "security", "The security review's findings stay fixed", "One worker (Redis adapter, --max-pending-sessions-per-ip 50) and one behind sioc-proxy with its defaults. For each finding of the review, the shape that showed it: pipelined handshakes on one connection (worker and proxy), 1,001 rooms on one socket and six list-rooms in a row, a redis-emitter broadcast to 5,001 rooms, tokens with a fractional nbf and exp, 5,000 refused CONNECTs in one POST, HEAD then GET on one connection, a head at the proxy's limits, /metrics through the proxy with a sid, 17 X-Forwarded-For lines behind a trusted balancer (a proxy with --trusted-proxies in front of three fake workers), HTTP/1.1 without Host, an upgrade with a body. (Connections refused at accept: the per-address caps check.)", cases, {}, undefined, "the shapes that showed each finding of the security review (sessions per address, rooms per socket, long room lists, JWT dates, log flood, HEAD, head limits, admin endpoints, X-Forwarded-For, Host, upgrade body)");
      assert.deepEqual(res.problems, []);
    });

    it("X-Forwarded-For is honoured only from trusted proxies", { skip: !haveProxy() && "no sioc-proxy binary" }, async () => {
      const cases = [];
      const fakes = await fakeWorkers(["f1", "f2", "f3"]);
      const p = await startProxy({ flags: { workers: fakes.map((f) => `${f.id}=${HOST}:${f.port}`).join(","), "trusted-proxies": "127.0.7.1/32" } });
      try {
        await until(async () => (await p.metrics()).get("sioc_proxy_workers_up") === 3, 5000, 50, "fakes up");
        const hs = "/socket.io/?EIO=4&transport=polling";
        const u = await get(p.port, hs, { localAddress: "127.0.7.2", headers: { "x-forwarded-for": "6.6.6.6", "x-real-ip": "7.7.7.7", forwarded: "for=8.8.8.8" } });
        cases.push({ name: "untrusted peer: forwarded X-Forwarded-For", ok: u.json && u.json.headers["x-forwarded-for"] === "127.0.7.2", got: u.json ? u.json.headers["x-forwarded-for"] : `HTTP ${u.status}` });
        cases.push({ name: "untrusted peer: X-Real-IP / Forwarded dropped", ok: u.json && !u.json.headers["x-real-ip"] && !u.json.headers.forwarded, got: u.json ? JSON.stringify({ "x-real-ip": u.json.headers["x-real-ip"], forwarded: u.json.headers.forwarded }) : "-" });
        const tr = await get(p.port, hs, { localAddress: "127.0.7.1", headers: { "x-forwarded-for": "6.6.6.6" } });
        cases.push({ name: "trusted peer: client address appended", ok: tr.json && tr.json.headers["x-forwarded-for"] === "6.6.6.6, 127.0.7.1", got: tr.json ? tr.json.headers["x-forwarded-for"] : `HTTP ${tr.status}` });
        const spread = async (localAddress) => {
          const seen = new Set();
          for (let i = 0; i < 40; i++) {
            const r = await get(p.port, hs, { localAddress, headers: { "x-forwarded-for": `10.9.${i}.${i * 3 + 1}` } });
            if (r.json) seen.add(r.json.worker);
          }
          return seen;
        };
        const su = await spread("127.0.7.2");
        cases.push({ name: "untrusted peer, 40 forged X-Forwarded-For values: one worker (hash of the peer address)", ok: su.size === 1, got: [...su].join(",") });
        const st = await spread("127.0.7.1");
        cases.push({ name: "trusted peer, 40 client addresses: spread over workers", ok: st.size >= 2, got: [...st].join(",") });
      } finally {
        await p.stop();
        for (const f of fakes) await f.close();
      }
      const res = record("xff-trusted", "security", "X-Forwarded-For only from trusted proxies", "sioc-proxy --trusted-proxies 127.0.7.1/32 in front of three fake workers that echo the headers they get: handshakes from an untrusted peer (127.0.7.2) and from the trusted one, with forged X-Forwarded-For / X-Real-IP / Forwarded, and 40 different X-Forwarded-For values from each to see which address the rendezvous hash uses.", cases, {}, undefined, "forged X-Forwarded-For / X-Real-IP / Forwarded from an untrusted and a trusted peer");
      assert.deepEqual(res.problems, []);
    });

    it("an affinity cookie cannot steer a client to a worker outside the live set", { skip: !haveProxy() && "no sioc-proxy binary" }, async () => {
      const cases = [];
      const fakes = await fakeWorkers(["f1", "f2", "f3"]);
      const p = await startProxy({ flags: { workers: fakes.map((f) => `${f.id}=${HOST}:${f.port}`).join(","), "health-interval": 300 }, env: { AFFINITY_SECRET: "affinity-secret-for-the-bad-input-tests-0123" } });
      try {
        await until(async () => (await p.metrics()).get("sioc_proxy_workers_up") === 3, 5000, 50, "fakes up");
        const hs = "/socket.io/?EIO=4&transport=polling";
        // collect a valid cookie for every worker
        const cookies = {};
        for (let i = 0; i < 200 && Object.keys(cookies).length < 3; i++) {
          const r = await get(p.port, hs, { localAddress: `127.0.8.${2 + i}` });
          const sc = [].concat(r.headers["set-cookie"] || []).find((c) => c.startsWith("sioc_affinity="));
          if (r.json && sc) cookies[r.json.worker] = sc.split(";")[0];
        }
        cases.push({ name: "a signed cookie was issued for every worker", ok: Object.keys(cookies).length === 3, got: Object.keys(cookies).join(",") });
        const via = async (cookie, localAddress = "127.0.8.250") => {
          const r = await get(p.port, hs, { localAddress, headers: { cookie } });
          return r.json ? r.json.worker : `HTTP ${r.status}`;
        };
        const f1c = cookies.f1;
        const steer = [];
        for (let i = 0; i < 10; i++) steer.push(await via(f1c, `127.0.9.${2 + i}`));
        cases.push({ name: "a valid cookie for a live worker steers to it", ok: steer.every((x) => x === "f1"), got: [...new Set(steer)].join(",") });
        // take f3 out: its cookie must now be ignored
        const f3c = cookies.f3;
        await fakes[2].close();
        await until(async () => (await p.metrics()).get("sioc_proxy_workers_up") === 2, 5000, 50, "f3 out");
        const after = [];
        for (let i = 0; i < 10; i++) after.push(await via(f3c, `127.0.10.${2 + i}`));
        cases.push({ name: "the cookie of a worker that left: placed on a live one", ok: after.every((x) => x === "f1" || x === "f2"), got: [...new Set(after)].join(",") });
        const idOf = (c) => c.split("=")[1];
        const forged = [
          ["unknown worker id with a copied MAC", `sioc_affinity=f9.${idOf(f1c).split(".")[1]}`],
          ["f2 with f1's MAC", `sioc_affinity=f2.${idOf(f1c).split(".")[1]}`],
          ["f1 with a flipped MAC", `sioc_affinity=${idOf(f1c).slice(0, -1)}${idOf(f1c).endsWith("A") ? "B" : "A"}`],
          ["bare worker id", "sioc_affinity=f3"],
          ["oversized value", `sioc_affinity=${"f".repeat(5000)}`],
        ];
        for (const [name, c] of forged) {
          const r = await via(c, "127.0.11.2");
          cases.push({ name: `forged cookie (${name}): ignored, placed on a live worker`, ok: r === "f1" || r === "f2", got: r });
        }
        const sid = await get(p.port, "/socket.io/?EIO=4&transport=polling&sid=f3.abcdefgh");
        cases.push({ name: "a sid of the worker that left", ok: sid.status === 400 && /Session ID unknown/.test(sid.body), got: `HTTP ${sid.status} ${sid.body.slice(0, 60)}` });
      } finally {
        await p.stop();
        for (const f of fakes) await f.close().catch(() => {});
      }
      const res = record("affinity-cookie", "security", "Affinity cookie cannot leave the live set", "sioc-proxy with a fixed AFFINITY_SECRET in front of three fake workers: a signed cookie collected for each, then one worker stopped; requests carrying its cookie, forged cookies (unknown id, swapped MAC, altered MAC, no MAC, 5 KB value) and a sid of the stopped worker.", cases, {}, undefined, "cookie of a worker that left, forged cookies, sid of a worker that left");
      assert.deepEqual(res.problems, []);
    });
  });
}

/** The smuggling shapes; each is followed by a pipelined GET /health. */
async function smugglingCases(port, { chunkedAlone }) {
  const next = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  const shapes = [
    ["Content-Length + Transfer-Encoding: chunked", "POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"],
    ["Transfer-Encoding before Content-Length", "POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n"],
    ["two different Content-Length", "POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc"],
    ["Content-Length list '3, 40'", "POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 40\r\n\r\nabc"],
    ["obs-fold (continuation line)", "GET /health HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n"],
    ["obs-fold on Transfer-Encoding", "POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 3\r\n\r\nabc"],
    ["Transfer-Encoding: xchunked", "POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"],
    ["Transfer-Encoding: chunked, identity", "POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"],
    ["space before the colon", "POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc"],
    ["Content-Length with a sign", "POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc"],
    ["bare LF line ends", "GET /health HTTP/1.1\nHost: x\n\n"],
    ["bare CR in a field value", "GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"],
    ["NUL in a field value", "GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\u0000b\r\n\r\n"],
    ["two Host fields", "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"],
    ["Transfer-Encoding in HTTP/1.0", "POST /socket.io/?EIO=4&transport=polling HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
    ["invalid method token", "G(T /health HTTP/1.1\r\nHost: x\r\n\r\n"],
    ["HTTP/2 version on HTTP/1 framing", "GET /health HTTP/2.0\r\nHost: x\r\n\r\n"],
  ];
  if (chunkedAlone) shapes.push(["Transfer-Encoding: chunked alone (not supported by the worker)", "POST /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"]);
  const cases = [];
  for (const [name, req] of shapes) {
    const r = await rawExchange(port, [req + next], { timeoutMs: 3000 });
    const allowed = name.startsWith("Transfer-Encoding: chunked alone") ? chunkedAlone : null;
    const first = r.statuses[0];
    const refused = first >= 400 && first < 600 && (!allowed || allowed.includes(first));
    const ok = refused && r.statuses.length === 1 && r.closed;
    cases.push({ name, ok, got: `${r.statuses.length ? "HTTP " + r.statuses.join(", ") : "no response"}; ${r.closed ? "closed" : "left open"}${r.statuses.length > 1 ? " (pipelined request answered)" : ""}` });
  }
  return cases;
}
