// The chat page in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core), through sioc-proxy in front of two workers joined by Redis:
// two people on different workers join a room and talk both ways through the
// page's own form fields; a polling-only page joins the conversation; the
// workers run as deploy/cluster runs them (streams adapter, connection state
// recovery), so a page whose worker is killed shows the reconnect, lands on
// the other worker with its id and rooms, shows "recovered" and gets what was
// said while it was away; a page whose session is gone joins its rooms again. A page signs in through the development
// token endpoint, and a refused token brings back the sign-in form.
// Screenshots go to $SIOC_TEST_OUT/chat-page (default build/test-logs/chat-page-<build>).

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { existsSync, mkdirSync } from "node:fs";
import { startServer, stopAll, IS_NODE_PEER, REPO_ROOT } from "./lib/server.mjs";
import { startRedis } from "../lib/proc.mjs";
import { startProxy } from "./lib/proxy.mjs";
import { pollingHandshake } from "./lib/raw.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";

const require = createRequire(import.meta.url);
const CHROMIUM = process.env.SIOC_CHROMIUM || "/usr/bin/chromium";
const OUT = process.env.SIOC_TEST_OUT
  ? `${process.env.SIOC_TEST_OUT}/chat-page`
  : `${REPO_ROOT}build/test-logs/chat-page-${process.env.SIOC_BUILD || "local"}`;
const skip = IS_NODE_PEER ? "sioc worker only" : existsSync(CHROMIUM) ? false : `no ${CHROMIUM}`;

describe("chat page in a browser, through the proxy", { skip }, () => {
  let redis, proxy, browser;
  const workers = {};
  const contexts = [];
  const base = () => `http://127.0.0.1:${proxy.port}`;

  // A client address (X-Forwarded-For, from a trusted proxy) the proxy places on worker `id`.
  async function addressFor(id, from) {
    for (let i = from; i < from + 200; i++) {
      const ip = `10.9.${i >> 8}.${i & 255}`;
      const { sid } = await pollingHandshake({ url: base() }, "/socket.io/", {}, { headers: { "x-forwarded-for": ip } });
      if (sid.startsWith(id + ".")) return ip;
    }
    throw new Error(`no address lands on ${id}`);
  }

  async function openPage(name, { ip, query = "", token = makeToken({ sub: name }) } = {}) {
    const ctx = await browser.newContext({ extraHTTPHeaders: ip ? { "x-forwarded-for": ip } : {}, viewport: { width: 900, height: 600 } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.errors = [];
    page.on("pageerror", (e) => page.errors.push(String(e)));
    await page.goto(`${base()}/${query}${token ? "#token=" + token : ""}`);
    return page;
  }

  const state = (page) => page.locator("#state").getAttribute("data-state");
  const sid = (page) => page.locator("#sid").textContent();
  const shot = (page, name) => page.screenshot({ path: `${OUT}/${name}.png`, fullPage: true });

  // The page's own log, for failure messages.
  const pageLog = async (page) => (await page.evaluate(() => [document.querySelector("#state").textContent,
    document.querySelector("#login-error").textContent,
    ...[...document.querySelectorAll("#log li")].map((li) => li.textContent)].join("\n"))) +
    (page.errors.length ? "\nerrors: " + page.errors.join("\n") : "");

  async function connectedOn(page, timeout = 15000) {
    try {
      await page.waitForFunction(() => document.querySelector("#state").dataset.state === "connected", null, { timeout });
    } catch (e) {
      throw new Error(`${e.message}\npage log:\n${await pageLog(page)}\nproxy:\n${proxy.output().slice(-2000)}`);
    }
    return (await sid(page)).split(".")[0];
  }

  async function rejoined(page, room) {
    await page.waitForFunction((r) => [...document.querySelectorAll("#log li")].some((li) => li.textContent.endsWith("rejoined " + r)),
      room, { timeout: 10000 });
  }

  async function join(page, room) {
    await page.fill("#room", room);
    await page.click("#join");
    await page.waitForSelector(`#rooms li[data-room="${room}"]`, { timeout: 10000 });
  }

  async function say(page, text) {
    await page.waitForSelector("#send:not([disabled])", { timeout: 15000 });
    await page.fill("#text", text);
    await page.click("#send");
  }

  async function sees(page, from, text, timeout = 10000) {
    await page.waitForFunction(
      ([f, t]) => [...document.querySelectorAll("#messages .msg")].some(
        (li) => li.querySelector(".from").textContent === f + ":" && li.querySelector(".text").textContent === t),
      [from, text], { timeout });
  }

  before(async () => {
    mkdirSync(OUT, { recursive: true });
    redis = await startRedis();
    for (const id of ["w1", "w2"]) {
      workers[id] = await startServer({
        flags: { app: "chat", "worker-id": id, "redis-url": redis.url, "adapter-mode": "streams", "max-disconnection-duration": 120000, "chat-page": true, "dev-token-endpoint": true },
        env: { JWT_SECRET: TEST_SECRET },
      });
    }
    proxy = await startProxy({ workers: Object.values(workers).map((w, i) => ({ ...w, id: `w${i + 1}` })), flags: { "trusted-proxies": "127.0.0.1/32" } });
    const { chromium } = require("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
        "--no-first-run", "--disable-component-update", "--disable-sync"],
    });
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await stopAll(proxy, ...Object.values(workers));
    await redis?.stop();
  });

  let alice, bob, carol, aliceIp;

  it("two pages on different workers join a room and talk both ways", async () => {
    aliceIp = await addressFor("w1", 0);
    const bobIp = await addressFor("w2", 1000);
    alice = await openPage("alice", { ip: aliceIp });
    bob = await openPage("bob", { ip: bobIp });
    assert.equal(await connectedOn(alice), "w1");
    assert.equal(await connectedOn(bob), "w2");
    assert.equal(await alice.locator("#me").textContent(), "signed in as alice");
    // the token left the address bar
    assert.equal(new URL(alice.url()).hash, "");
    await join(alice, "lobby");
    await join(bob, "lobby");
    await say(alice, "hello from alice");
    await sees(bob, "alice", "hello from alice");
    await sees(alice, "alice", "hello from alice");
    await say(bob, "hi alice, bob here");
    await sees(alice, "bob", "hi alice, bob here");
    assert.equal(await alice.locator(".msg.mine").count(), 1);
    // upgraded to websocket by default
    await alice.waitForFunction(() => document.querySelector("#transport").textContent === "websocket", null, { timeout: 10000 });
    await shot(alice, "1-alice");
    await shot(bob, "1-bob");
  });

  it("a polling-only page takes part", async () => {
    carol = await openPage("carol", { ip: aliceIp, query: "?transport=polling" });
    await connectedOn(carol);
    await join(carol, "lobby");
    await say(carol, "carol, over long-polling");
    await sees(alice, "carol", "carol, over long-polling");
    await sees(bob, "carol", "carol, over long-polling");
    await say(bob, "welcome carol");
    await sees(carol, "bob", "welcome carol");
    assert.equal(await carol.locator("#transport").textContent(), "polling");
    await shot(carol, "2-carol-polling");
  });

  const recoveredShown = (page) => page.locator("#recovered").isVisible();
  const recoveredLogged = (page) =>
    page.waitForFunction(() => [...document.querySelectorAll("#log li")].some((li) => /recovered: id /.test(li.textContent)), null, { timeout: 10000 });

  it("a page whose worker is killed recovers on the other one: same id, its rooms, the messages it missed", async () => {
    assert.equal(await recoveredShown(alice), false, "not shown before any reconnect");
    workers.w1.child.kill("SIGKILL");
    await workers.w1.exited;
    await alice.waitForFunction(() => document.querySelector("#state").dataset.state !== "connected", null, { timeout: 10000 });
    await shot(alice, "3-alice-worker-killed");
    await say(bob, "said while w1 was down");
    assert.equal(await connectedOn(alice, 30000), "w2");
    await recoveredLogged(alice);
    assert.equal(await recoveredShown(alice), true, "the page shows \"recovered\"");
    await sees(alice, "bob", "said while w1 was down");
    await say(alice, "alice is back");
    await sees(bob, "alice", "alice is back");
    await say(bob, "welcome back");
    await sees(alice, "bob", "welcome back");
    // carol (polling, also on w1) recovers too, with what was said while she was away
    assert.equal(await connectedOn(carol, 30000), "w2");
    await recoveredLogged(carol);
    await sees(carol, "alice", "alice is back");
    await say(alice, "carol, still there?");
    await sees(carol, "alice", "carol, still there?");
    await shot(alice, "4-alice-recovered");
    const rejoinedLines = await alice.evaluate(() => [...document.querySelectorAll("#log li")].filter((li) => /rejoined /.test(li.textContent)).length);
    assert.equal(rejoinedLines, 0, "a recovered page does not join its rooms again");
    for (const p of [alice, bob, carol]) assert.deepEqual(p.errors, []);
  });

  it("a page whose session cannot be recovered joins its rooms again", async () => {
    // the session of bob's connection is taken out of Redis: the next reconnect starts fresh
    const keys = redis.cli("--scan", "--pattern", "sio:session:*").split("\n").filter(Boolean);
    assert.ok(keys.length > 0, "sessions are kept in Redis");
    workers.w2.child.kill("SIGKILL");
    await workers.w2.exited;
    redis.cli("DEL", ...keys);
    workers.w2 = await startServer({
      flags: { app: "chat", "worker-id": "w2", "redis-url": redis.url, "adapter-mode": "streams", "max-disconnection-duration": 120000, "chat-page": true, "dev-token-endpoint": true },
      env: { JWT_SECRET: TEST_SECRET }, port: workers.w2.port,
    });
    assert.equal(await connectedOn(bob, 30000), "w2");
    await rejoined(bob, "lobby");
    assert.equal(await recoveredShown(bob), false);
    await shot(bob, "5-bob-rejoined");
  });

  it("signs in through the development token endpoint; a refused token brings back the form", async () => {
    const dave = await openPage("dave", { token: null });
    await dave.fill("#name", "dave");
    await dave.click("#login-btn");
    await connectedOn(dave);
    assert.equal(await dave.locator("#me").textContent(), "signed in as dave");
    await join(dave, "lobby");
    await say(dave, "dave via a development token");
    await sees(bob, "dave", "dave via a development token");

    const eve = await openPage("eve", { token: makeToken({ sub: "eve", secret: "another-secret-of-at-least-32-bytes!!" }) });
    await eve.waitForFunction(() => document.querySelector("#login-error").textContent.includes("refused"), null, { timeout: 10000 });
    assert.equal(await eve.locator("#chat").isHidden(), true);
    assert.equal(await eve.locator("#me").textContent(), "", "no longer shown as signed in");
    assert.equal(await eve.locator("#name").inputValue(), "eve", "the name is kept for the next try");
    await shot(eve, "6-eve-refused");
  });
});
