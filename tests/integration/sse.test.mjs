// Server-Sent Events at <path>sse?rooms=...: the chat rooms' receive-message events as a
// text/event-stream, read by a raw HTTP client, by curl and by a real EventSource in
// headless Chromium (/usr/bin/chromium through playwright-core). Covers the token check
// (Bearer header, token parameter, 401), the rooms parameter, ids and Last-Event-ID
// resume from the recovery log (missed events replayed, unknown offsets reset), the
// heartbeat comments, the metrics, a stream on one worker getting the messages a
// socket.io client sends on another (Redis adapter, classic and sharded), a resume on
// another worker from the Redis stream (streams adapter with recovery), and streams
// through sioc-proxy, including an EventSource that resumes after the proxy restarts.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { spawn, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { startServer, stopAll, IS_NODE_PEER } from "./lib/server.mjs";
import { ClientPool, emitAck } from "./lib/client.mjs";
import { startProxy } from "./lib/proxy.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";
import { startRedis, httpGet, metricValue } from "../lib/proc.mjs";
import { sleep, until } from "./lib/util.mjs";

const require = createRequire(import.meta.url);
const CHROMIUM = process.env.SIOC_CHROMIUM || "/usr/bin/chromium";
const HAS_CURL = spawnSync("curl", ["--version"]).status === 0;

/** Opens a stream with node:http and parses it as an EventSource does (WHATWG "Interpreting an
 * event stream"). Resolves once the head arrived: {status, headers, events, comments, body,
 * next(pred), close()}; an error status resolves with its body. */
function openStream(port, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, headers });
    req.on("error", reject);
    req.on("response", (res) => {
      const s = { status: res.statusCode, headers: res.headers, events: [], comments: [], body: "", waiters: [] };
      let buf = "";
      let cur = { data: [] };
      res.setEncoding("utf8");
      res.on("data", (chunk) => {
        s.body += chunk;
        buf += chunk;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i).replace(/\r$/, "");
          buf = buf.slice(i + 1);
          if (line === "") {
            if (cur.data.length) s.events.push({ id: cur.id, event: cur.event ?? "message", data: cur.data.join("\n") });
            cur = { data: [] };
            continue;
          }
          if (line.startsWith(":")) {
            s.comments.push(line);
            continue;
          }
          const c = line.indexOf(":");
          const field = c < 0 ? line : line.slice(0, c);
          const value = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
          if (field === "data") cur.data.push(value);
          else if (field === "id") cur.id = value;
          else if (field === "event") cur.event = value;
        }
        for (const w of [...s.waiters]) w();
      });
      res.on("end", () => {
        s.ended = true;
        for (const w of [...s.waiters]) w();
      });
      s.next = (pred, ms = 5000) =>
        new Promise((ok, ko) => {
          const check = () => {
            const e = s.events.find(pred);
            if (e) {
              s.waiters = s.waiters.filter((x) => x !== check);
              clearTimeout(t);
              ok(e);
            }
          };
          const t = setTimeout(() => {
            s.waiters = s.waiters.filter((x) => x !== check);
            ko(new Error(`no matching event in ${ms} ms; got ${JSON.stringify(s.events)}`));
          }, ms);
          s.waiters.push(check);
          check();
        });
      s.close = () => req.destroy();
      if (res.statusCode !== 200) res.on("end", () => resolve(s));
      else resolve(s);
    });
  });
}

const msgEvents = (s) => s.events.filter((e) => e.event === "receive-message");

async function talker(pool, server, rooms = []) {
  const sock = await pool.connect(server, { auth: { token: makeToken({ sub: "talker" }) }, transports: ["websocket"] });
  for (const r of rooms) await emitAck(sock, "join-room", r);
  return sock;
}
const say = (sock, roomId, msg) => emitAck(sock, "send-message", { roomId, msg });

describe("server-sent events", { skip: IS_NODE_PEER ? "sioc worker only" : false }, () => {
  describe("one worker, recovery on", () => {
    const pool = new ClientPool();
    let w;
    const token = makeToken({ sub: "reader" });
    const sse = (q, headers) => openStream(w.port, `/socket.io/sse?${q}`, headers);
    before(async () => {
      w = await startServer({
        flags: { app: "chat", "max-disconnection-duration": 60000, "sse-heartbeat": 1000, "sse-max-rooms": 4 },
        env: { JWT_SECRET: TEST_SECRET },
      });
    });
    after(async () => {
      pool.closeAll();
      await stopAll(w);
    });

    it("refuses without a valid token (401), with bad rooms (400) and other methods (405)", async () => {
      for (const [q, h] of [
        ["rooms=a", {}],
        [`rooms=a&token=${token}x`, {}],
        ["rooms=a", { authorization: `Bearer ${makeToken({ secret: "another-secret-0123456789abcdef-xyz" })}` }],
        ["rooms=a", { authorization: `Bearer ${makeToken({ expiresIn: -10 })}` }],
        ["rooms=a", { authorization: `Basic ${token}` }],
      ]) {
        const s = await sse(q, h);
        assert.equal(s.status, 401, q);
        assert.equal(s.headers["www-authenticate"], "Bearer");
      }
      for (const q of ["", "rooms=", "rooms=a,,b", `rooms=${"x".repeat(257)}`, "rooms=a,b,c,d,e", "rooms=%zz"]) {
        const s = await sse(`${q}&token=${token}`);
        assert.equal(s.status, 400, q);
      }
      const post = await new Promise((ok) =>
        http.request({ host: "127.0.0.1", port: w.port, path: `/socket.io/sse?rooms=a&token=${token}`, method: "POST" }, ok).end());
      assert.equal(post.statusCode, 405);
      post.resume();
    });

    it("streams the rooms' messages with ids, heartbeats and metrics", async () => {
      const s = await sse("rooms=news,sport,news", { authorization: `Bearer ${token}` });
      assert.equal(s.status, 200);
      assert.match(s.headers["content-type"], /^text\/event-stream/);
      assert.equal(s.headers["cache-control"], "no-store");
      const t = await talker(pool, w);
      await until(async () => metricValue((await httpGet(w.port, "/metrics")).body, "sioc_sse_clients") === 1, 3000, 50, "gauge");
      await say(t, "news", { text: "line1\nline2", n: 1 });
      await say(t, "weather", "not followed");
      await say(t, "sport", "goal");
      await s.next((e) => e.data === '"goal"');
      const got = msgEvents(s);
      assert.deepEqual(got.map((e) => JSON.parse(e.data)), [{ text: "line1\nline2", n: 1 }, "goal"]);
      for (const e of got) assert.match(e.id, /^[A-Za-z0-9_-]+$/);
      assert.notEqual(got[0].id, got[1].id);
      await until(() => s.comments.includes(": ping"), 3000, 50, "heartbeat comment");
      const m = (await httpGet(w.port, "/metrics")).body;
      assert.ok(metricValue(m, "sioc_sse_events_sent_total") >= 2);
      s.close();
      await until(async () => metricValue((await httpGet(w.port, "/metrics")).body, "sioc_sse_clients") === 0, 3000, 50, "stream gone");
    });

    it("resumes from Last-Event-ID with what was missed, then live; an unknown id resets", async () => {
      const t = await talker(pool, w);
      const s1 = await sse(`rooms=r1,r2&token=${token}`);
      await say(t, "r1", "one");
      const first = await s1.next((e) => e.data === '"one"');
      s1.close();
      await say(t, "r1", "two");
      await say(t, "elsewhere", "skip");
      await say(t, "r2", "three");
      const s2 = await sse(`rooms=r1,r2&token=${token}`, { "last-event-id": first.id });
      await s2.next((e) => e.data === '"three"');
      await say(t, "r2", "four");
      await s2.next((e) => e.data === '"four"');
      assert.deepEqual(msgEvents(s2).map((e) => e.data), ['"two"', '"three"', '"four"']);
      assert.equal(s2.events.filter((e) => e.event === "reset").length, 0);
      s2.close();
      for (const bad of ["nope", "x".repeat(80), first.id.slice(0, -1) + "9999999"]) {
        const s3 = await sse(`rooms=r1&token=${token}`, { "last-event-id": bad });
        const reset = await s3.next((e) => e.event === "reset");
        assert.deepEqual(JSON.parse(reset.data), { reason: "offset_unknown" });
        await say(t, "r1", "live");
        await s3.next((e) => e.data === '"live"');
        s3.close();
      }
    });

    it("curl reads the stream and gets 401 without a token", { skip: HAS_CURL ? false : "no curl" }, async () => {
      const bad = spawnSync("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", `${w.url}/socket.io/sse?rooms=a`], { encoding: "utf8" });
      assert.equal(bad.stdout, "401");
      const t = await talker(pool, w);
      const c = spawn("curl", ["-sN", "-m", "4", "-H", `Authorization: Bearer ${token}`, `${w.url}/socket.io/sse?rooms=curl`]);
      let out = "";
      c.stdout.on("data", (d) => (out += d));
      await until(async () => metricValue((await httpGet(w.port, "/metrics")).body, "sioc_sse_clients") === 1, 3000, 50, "curl stream");
      await say(t, "curl", { from: "node" });
      await until(() => out.includes('data: {"from":"node"}'), 3000, 20, "curl got the event");
      assert.match(out, /^retry: 1000\n\nid: [A-Za-z0-9_-]+\nevent: receive-message\ndata: \{"from":"node"\}\n\n/);
      c.kill();
    });
  });

  describe("limits and drain", () => {
    let w;
    const token = makeToken({ sub: "reader" });
    before(async () => {
      w = await startServer({
        flags: { app: "chat", "max-connections-per-ip": 2, "drain-timeout": 3000 },
        env: { JWT_SECRET: TEST_SECRET },
      });
    });
    after(async () => stopAll(w));

    it("streams count toward --max-connections-per-ip; SIGTERM ends them", async () => {
      const a = await openStream(w.port, `/socket.io/sse?rooms=a&token=${token}`);
      const b = await openStream(w.port, `/socket.io/sse?rooms=b&token=${token}`);
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      await assert.rejects(openStream(w.port, `/socket.io/sse?rooms=c&token=${token}`));
      b.close();
      await until(async () => {
        const r = await httpGet(w.port, "/metrics").catch(() => null);
        return r !== null && metricValue(r.body, "sioc_sse_clients") === 1;
      }, 3000, 50, "one stream left");
      w.kill("SIGTERM");
      await until(() => a.ended, 3000, 20, "stream ended by the drain");
    });
  });

  for (const mode of ["classic", "sharded"]) {
    describe(`two workers (${mode} adapter) behind sioc-proxy`, () => {
      const pool = new ClientPool();
      let redis, w1, w2, proxy;
      const token = makeToken({ sub: "reader" });
      before(async () => {
        redis = await startRedis();
        const flags = (id) => ({ app: "chat", "redis-url": redis.url, "adapter-mode": mode, "worker-id": id, "sse-heartbeat": 1000 });
        w1 = await startServer({ flags: flags("w1"), env: { JWT_SECRET: TEST_SECRET } });
        w2 = await startServer({ flags: flags("w2"), env: { JWT_SECRET: TEST_SECRET } });
        await until(async () => (await httpGet(w1.port, "/ready")).status === 200 && (await httpGet(w2.port, "/ready")).status === 200, 10000, 50, "ready");
        proxy = await startProxy({ workers: [{ ...w1, id: "w1" }, { ...w2, id: "w2" }], flags: { "server-timeout": 2000 } });
      });
      after(async () => {
        pool.closeAll();
        await stopAll(proxy, w1, w2);
        await redis?.stop();
      });

      it("a stream on one worker gets what a socket.io client sends on the other", async () => {
        const s = await openStream(w1.port, `/socket.io/sse?rooms=x&token=${token}`);
        assert.equal(s.status, 200);
        const t = await talker(pool, w2);
        // The room's subscription (sharded: SSUBSCRIBE) is live shortly after the stream opens.
        let n = 0;
        await until(async () => {
          await say(t, "x", `m${n++}`);
          return msgEvents(s).length > 0;
        }, 5000, 100, "cross-worker event");
        await say(t, "x", "final");
        await s.next((e) => e.data === '"final"');
        // Exactly once, in order: m<k>..., then final.
        const seen = msgEvents(s).map((e) => JSON.parse(e.data));
        assert.equal(seen.at(-1), "final");
        const ms = seen.slice(0, -1).map((x) => Number(x.slice(1)));
        for (let i = 1; i < ms.length; i++) assert.equal(ms[i], ms[i - 1] + 1);
        assert.equal(ms.at(-1), n - 1);
        assert.equal(new Set(msgEvents(s).map((e) => e.id)).size, seen.length);
        // Without a recovery log a resume says so and goes on live.
        const s2 = await openStream(w2.port, `/socket.io/sse?rooms=x&token=${token}`, { "last-event-id": msgEvents(s)[0].id });
        assert.deepEqual(JSON.parse((await s2.next((e) => e.event === "reset")).data), { reason: "recovery_off" });
        s.close();
        s2.close();
      });

      it("streams through the proxy past its server timeout (heartbeats)", async () => {
        const open = async () => metricValue((await httpGet(w1.port, "/metrics")).body, "sioc_sse_streams_total") +
          metricValue((await httpGet(w2.port, "/metrics")).body, "sioc_sse_streams_total");
        const opened = await open();
        const s = await openStream(proxy.port, `/socket.io/sse?rooms=px&token=${token}`);
        assert.equal(s.status, 200);
        const t = await talker(pool, proxy);
        await until(async () => (await open()) === opened + 1, 3000, 50, "stream open");
        await sleep(2600); // > --server-timeout 2000: only the heartbeats keep it open
        assert.ok(!s.ended, "stream still open");
        assert.ok(s.comments.filter((c) => c === ": ping").length >= 2);
        let n = 0;
        await until(async () => {
          await say(t, "px", `p${n++}`);
          return msgEvents(s).length > 0;
        }, 5000, 100, "event through the proxy");
        const bad = await openStream(proxy.port, "/socket.io/sse?rooms=px&token=bad");
        assert.equal(bad.status, 401);
        s.close();
      });
    });
  }

  describe("two workers, streams adapter with recovery: resume on the other worker", () => {
    const pool = new ClientPool();
    let redis, w1, w2;
    const token = makeToken({ sub: "reader" });
    before(async () => {
      redis = await startRedis();
      const flags = (id) => ({ app: "chat", "redis-url": redis.url, "adapter-mode": "streams", "worker-id": id, "max-disconnection-duration": 60000 });
      w1 = await startServer({ flags: flags("w1"), env: { JWT_SECRET: TEST_SECRET } });
      w2 = await startServer({ flags: flags("w2"), env: { JWT_SECRET: TEST_SECRET } });
      await until(async () => (await httpGet(w1.port, "/ready")).status === 200 && (await httpGet(w2.port, "/ready")).status === 200, 10000, 50, "ready");
    });
    after(async () => {
      pool.closeAll();
      await stopAll(w1, w2);
      await redis?.stop();
    });

    it("ids are stream entry ids; Last-Event-ID on another worker replays from the stream, then live", async () => {
      const t = await talker(pool, w2);
      const s1 = await openStream(w1.port, `/socket.io/sse?rooms=s1,s2&token=${token}`);
      await say(t, "s1", "one");
      const first = await s1.next((e) => e.data === '"one"');
      assert.match(first.id, /^\d+-\d+$/);
      s1.close();
      await say(t, "s1", "two");
      await say(t, "other", "skip");
      await say(t, "s2", "three");
      const s2 = await openStream(w2.port, `/socket.io/sse?rooms=s1,s2&token=${token}`, { "last-event-id": first.id });
      await say(t, "s2", "four"); // may land while the replay runs: held, sent once, in order
      await s2.next((e) => e.data === '"four"');
      await say(t, "s1", "five");
      await s2.next((e) => e.data === '"five"');
      assert.deepEqual(msgEvents(s2).map((e) => e.data), ['"two"', '"three"', '"four"', '"five"']);
      const ids = msgEvents(s2).map((e) => e.id);
      const key = (id) => id.split("-").map(BigInt);
      const cmp = (a, b) => { const [am, as] = key(a), [bm, bs] = key(b); return am !== bm ? (am < bm ? -1 : 1) : as < bs ? -1 : as > bs ? 1 : 0; };
      assert.deepEqual([...ids].sort(cmp), ids);
      assert.equal(new Set(ids).size, ids.length);
      s2.close();
      const s3 = await openStream(w1.port, `/socket.io/sse?rooms=s1&token=${token}`, { "last-event-id": "1-0" });
      assert.deepEqual(JSON.parse((await s3.next((e) => e.event === "reset")).data), { reason: "offset_unknown" });
      await say(t, "s1", "live");
      await s3.next((e) => e.data === '"live"');
      s3.close();
      assert.ok(metricValue((await httpGet(w2.port, "/metrics")).body, "sioc_sse_replayed_total") >= 2);
    });
  });

  describe("EventSource in headless Chromium", { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM}` }, () => {
    const pool = new ClientPool();
    let w, proxy, browser, page;
    const token = makeToken({ sub: "browser" });
    before(async () => {
      w = await startServer({
        flags: { app: "chat", "worker-id": "w1", "max-disconnection-duration": 60000, "sse-heartbeat": 1000 },
        env: { JWT_SECRET: TEST_SECRET },
      });
      proxy = await startProxy({ workers: [{ ...w, id: "w1" }], flags: { "drain-timeout": 0 } });
      const { chromium } = require("playwright-core");
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
          "--no-first-run", "--disable-component-update", "--disable-sync"],
      });
      page = await (await browser.newContext()).newPage();
      await page.goto(`${proxy.url}/health`);
    });
    after(async () => {
      pool.closeAll();
      await browser?.close();
      await stopAll(proxy, w);
    });

    const got = () => page.evaluate(() => window.got.map((e) => [e.type, e.data, e.lastEventId]));

    it("receives the room's messages and resumes with Last-Event-ID after the proxy restarts", async () => {
      await page.evaluate((tok) => {
        window.got = [];
        window.opens = 0;
        const es = new EventSource(`/socket.io/sse?rooms=lobby&token=${tok}`);
        window.es = es;
        es.onopen = () => window.opens++;
        for (const t of ["receive-message", "reset"]) es.addEventListener(t, (e) => window.got.push(e));
      }, token);
      await page.waitForFunction(() => window.opens === 1, null, { timeout: 5000 });
      const t = await talker(pool, w);
      await say(t, "lobby", { text: "hello browser" });
      await page.waitForFunction(() => window.got.length === 1, null, { timeout: 5000 });
      const [[type, data, id]] = await got();
      assert.equal(type, "receive-message");
      assert.deepEqual(JSON.parse(data), { text: "hello browser" });
      assert.ok(id.length > 0);

      // The proxy goes away: the browser's stream breaks; messages sent meanwhile are
      // in the worker's recovery log, and the EventSource's reconnect asks for them.
      const port = proxy.port;
      await proxy.stop();
      await say(t, "lobby", "missed 1");
      await say(t, "lobby", "missed 2");
      proxy = await startProxy({ workers: [{ ...w, id: "w1" }], port, flags: { "drain-timeout": 0 } });
      await page.waitForFunction(() => window.got.length >= 3, null, { timeout: 10000 });
      await say(t, "lobby", "live again");
      await page.waitForFunction(() => window.got.length >= 4, null, { timeout: 5000 });
      const all = await got();
      assert.deepEqual(all.map((e) => e[0]), ["receive-message", "receive-message", "receive-message", "receive-message"]);
      assert.deepEqual(all.map((e) => JSON.parse(e[1])), [{ text: "hello browser" }, "missed 1", "missed 2", "live again"]);
      assert.ok(await page.evaluate(() => window.opens) >= 2);
      await page.evaluate(() => window.es.close());
    });

    it("a refused token fails the EventSource without retries", async () => {
      const state = await page.evaluate(
        () =>
          new Promise((ok) => {
            const es = new EventSource("/socket.io/sse?rooms=lobby&token=bad");
            es.onerror = () => setTimeout(() => ok(es.readyState), 300);
          }),
      );
      assert.equal(state, 2); // CLOSED: a 401 is not retried
    });
  });
});
