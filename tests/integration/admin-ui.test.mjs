// @socket.io/admin-ui 0.5 against a sioc cluster: two workers joined by Redis run
// --admin-ui with a bcrypt password. The UI (the npm package's ui/dist, served by a worker
// with --admin-ui-dir) is driven in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core): it logs in with the password, the servers page lists both workers, the
// sockets page lists the chat clients of both workers, and a socket of the other worker is
// joined to a room from the socket's page; it then gets the room's next message. A reload
// logs in again with the session id the UI kept (checked in Redis).
// The admin namespace is also checked with socket.io-client: wrong credentials and unknown
// sessions are refused, a session made on one worker opens the other, and the UI's commands
// (emit, join, leave, _disconnect) reach sockets on every worker.
// Screenshots go to $SIOC_TEST_OUT/admin-ui (default build/test-logs/admin-ui-<build>).

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { existsSync, mkdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { startServer, stopAll, workerCommand, IS_NODE_PEER, REPO_ROOT } from "./lib/server.mjs";
import { startRedis, until, httpGet, metricValue, sleep } from "../lib/proc.mjs";
import { ClientPool, connected, emitAck } from "./lib/client.mjs";
import { withTimeout } from "./lib/util.mjs";

const require = createRequire(import.meta.url);
const bcrypt = require("bcryptjs");
const CHROMIUM = process.env.SIOC_CHROMIUM || "/usr/bin/chromium";
const UI_DIST = `${REPO_ROOT}tests/node_modules/@socket.io/admin-ui/ui/dist`;
const OUT = process.env.SIOC_TEST_OUT
  ? `${process.env.SIOC_TEST_OUT}/admin-ui`
  : `${REPO_ROOT}build/test-logs/admin-ui-${process.env.SIOC_BUILD || "local"}`;
const skip = IS_NODE_PEER ? "sioc worker only" : false;
const PASSWORD = "correct horse";
const HASH = bcrypt.hashSync(PASSWORD, 8);

const pool = new ClientPool();
const admin = (server, auth) => pool.create(server, { nsp: "/admin", transports: ["websocket"], auth });
const refusal = (s) => new Promise((resolve, reject) => {
  s.once("connect", () => reject(new Error("connected")));
  s.once("connect_error", (e) => resolve(e.message));
});

describe("admin UI on a sioc cluster", { skip }, () => {
  let redis, w1, w2;

  before(async () => {
    redis = await startRedis();
    const flags = (id) => ({
      app: "chat", "worker-id": id, "redis-url": redis.url, "admin-ui": true,
      "admin-ui-user": "ops", "admin-ui-password-hash": HASH, "admin-ui-dir": UI_DIST,
    });
    [w1, w2] = await Promise.all([startServer({ flags: flags("wone") }), startServer({ flags: flags("wtwo") })]);
  });

  after(async () => {
    pool.closeAll();
    await stopAll(w1, w2);
    await redis?.stop();
  });


  it("refuses a wrong password and an unknown session; a session made on one worker opens the other", async () => {
    // (bcrypt checks are limited to 2 a second per worker: the wrong one goes to w2)
    assert.equal(await refusal(admin(w2, { username: "ops", password: "nope" })), "invalid credentials");
    assert.equal(await refusal(admin(w1, { username: "root", password: PASSWORD })), "invalid credentials");
    assert.equal(await refusal(admin(w2, { sessionId: "0123456789abcdef" })), "invalid credentials");
    assert.equal(await refusal(admin(w2, {})), "invalid credentials");
    const a = admin(w1, { username: "ops", password: PASSWORD });
    const session = await withTimeout(new Promise((r) => a.once("session", r)), 5000, "session");
    assert.match(session, /^[0-9a-f]{16}$/);
    assert.equal(await redis.query(["EXISTS", `socket.io-admin#${session}`]), 1);
    const ttl = await redis.query(["TTL", `socket.io-admin#${session}`]);
    assert.ok(ttl > 86000 && ttl <= 86400, `TTL ${ttl}`);
    const b = admin(w2, { sessionId: session });
    const config = await new Promise((r) => b.once("config", r));
    assert.ok(config.supportedFeatures.includes("MJOIN"));
    assert.ok(config.supportedFeatures.includes("AGGREGATED_EVENTS"));
  });

  it("server_stats from both workers, all_sockets over the cluster, room and socket events, commands", async () => {
    const u1 = pool.create(w1, { transports: ["websocket"] });
    const u2 = pool.create(w2, { transports: ["polling"], upgrade: false });
    await Promise.all([connected(u1), connected(u2)]);
    const a = admin(w1, { username: "ops", password: PASSWORD });
    const events = [];
    a.onAny((ev, ...args) => events.push([ev, ...args]));
    const [all] = await new Promise((resolve, reject) => {
      a.once("all_sockets", (...x) => resolve(x));
      a.once("connect_error", reject);
    });
    const byId = Object.fromEntries(all.map((s) => [s.id, s]));
    assert.equal(byId[u1.id]?.nsp, "/");
    assert.equal(byId[u1.id].transport, "websocket");
    assert.equal(byId[u2.id]?.nsp, "/", "a socket of the other worker is listed");
    assert.equal(byId[u2.id].transport, "polling");
    assert.deepEqual(byId[u2.id].rooms, [u2.id]);
    assert.equal(typeof byId[u2.id].handshake.address, "string");
    assert.match(byId[u2.id].clientId, /^[0-9a-f]{12}$/);
    assert.ok(!("_admin" in byId[u2.id].data));

    const servers = new Map();
    await until(() => {
      for (const [ev, s] of events) if (ev === "server_stats") servers.set(s.serverId, s);
      return servers.has("wone") && servers.has("wtwo");
    }, 6000, 50, "server_stats of both workers");
    const s2 = servers.get("wtwo");
    assert.equal(typeof s2.uptime, "number");
    assert.ok(s2.clientsCount >= 1 && s2.pollingClientsCount >= 1, JSON.stringify(s2));
    assert.ok(s2.namespaces.some((n) => n.name === "/" && n.socketsCount >= 1));
    assert.ok(s2.namespaces.some((n) => n.name === "/admin"));

    // join (with a filter) reaches the other worker; room_joined comes back from it.
    a.emit("join", "/", "ops-room", u2.id);
    await until(() => events.some(([ev, nsp, room, id]) => ev === "room_joined" && nsp === "/" && room === "ops-room" && id === u2.id),
      3000, 20, "room_joined from the other worker");
    const got = new Promise((r) => u2.once("announce", (...args) => r(args)));
    a.emit("emit", "/", "ops-room", "announce", "to the room", { n: 1 });
    assert.deepEqual(await withTimeout(got, 5000, "the UI's emit"), ["to the room", { n: 1 }]);
    a.emit("leave", "/", "ops-room", u2.id);
    await until(() => events.some(([ev, , room, id]) => ev === "room_left" && room === "ops-room" && id === u2.id), 3000, 20, "room_left");

    // A polling socket that upgrades is updated (socket_updated, as on the engine's "upgrade").
    const u4 = pool.create(w2, { transports: ["polling", "websocket"] });
    await connected(u4);
    const u4id = u4.id;
    await until(() => events.some(([ev, s]) => ev === "socket_updated" && s.id === u4id && s.nsp === "/" && s.transport === "websocket"),
      5000, 20, "socket_updated on the upgrade");

    // A socket connecting on either worker is announced; a disconnect from the UI ends it.
    const u3 = pool.create(w2, { transports: ["websocket"] });
    await connected(u3);
    const u3id = u3.id;
    await until(() => events.some(([ev, s]) => ev === "socket_connected" && s.id === u3id && s.nsp === "/"), 3000, 20, "socket_connected");
    const gone = new Promise((r) => u3.once("disconnect", r));
    a.emit("_disconnect", "/", false, u3id);
    assert.equal(await withTimeout(gone, 5000, "the UI's disconnect"), "io server disconnect");
    await until(() => events.some(([ev, nsp, id, reason]) => ev === "socket_disconnected" && nsp === "/" && id === u3id &&
      reason === "server namespace disconnect"), 3000, 20, "socket_disconnected").catch((e) => {
      throw new Error(`${e.message} (${u3id}): ${JSON.stringify(events.filter(([ev]) => ev !== "server_stats")).slice(-3000)}`);
    });
  });

  it("the UI in Chromium: logs in, shows both workers and their sockets, joins a socket to a room", { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM}` }, async () => {
    mkdirSync(OUT, { recursive: true });
    const u1 = pool.create(w1, { transports: ["websocket"] });
    const u2 = pool.create(w2, { transports: ["websocket"] });
    await Promise.all([connected(u1), connected(u2)]);
    const { chromium } = require("playwright-core");
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
        "--no-first-run", "--disable-component-update", "--disable-sync"],
    });
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    try {
      const errors = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      // The page's web fonts and icons come from CDNs: not in a test.
      await page.route((url) => !url.href.startsWith(w1.url), (route) => route.abort());
      const shot = (name) => page.screenshot({ path: `${OUT}/${name}.png`, fullPage: true });
      await page.goto(`${w1.url}/admin/`, { waitUntil: "domcontentloaded" });
      const form = page.locator("form").filter({ has: page.getByLabel("Password") });
      await form.getByLabel("Server URL").fill(w1.url);
      await form.getByLabel("Username").fill("ops");
      await form.getByLabel("Password").fill(PASSWORD);
      await shot("1-login");
      await form.getByRole("button", { name: "Connect" }).click();
      await form.waitFor({ state: "hidden", timeout: 10000 });

      await page.goto(`${w1.url}/admin/#/servers/`);
      await page.getByText("wone", { exact: true }).first().waitFor({ timeout: 10000 });
      await page.getByText("wtwo", { exact: true }).first().waitFor({ timeout: 10000 });
      await shot("2-servers");

      await page.goto(`${w1.url}/admin/#/sockets/`);
      await page.getByText(u1.id).first().waitFor({ timeout: 10000 });
      await page.getByText(u2.id).first().waitFor({ timeout: 10000 });
      await shot("3-sockets");

      // The socket of the other worker joins "ui-room" from its page.
      await page.goto(`${w1.url}/admin/#/n/${encodeURIComponent("/")}/sockets/${u2.id}`);
      const joinBox = page.getByLabel("Join a room");
      await joinBox.waitFor({ timeout: 10000 });
      await joinBox.fill("ui-room");
      await page.locator("form").filter({ has: joinBox }).locator("button[type=submit]").click();
      await page.getByRole("cell", { name: "ui-room", exact: true }).waitFor({ timeout: 10000 });
      await shot("4-joined");
      const got = new Promise((r) => u2.once("receive-message", r));
      await emitAck(u1, "send-message", { roomId: "ui-room", msg: "after the UI's join" });
      assert.equal(await withTimeout(got, 5000, "the room's message"), "after the UI's join");

      // A reload reconnects with the session id the UI kept: no login form.
      await page.goto(`${w1.url}/admin/#/sockets/`);
      await page.reload();
      await page.getByText(u2.id).first().waitFor({ timeout: 10000 });
      assert.equal(await page.getByLabel("Password").isVisible(), false);
      const metrics = (await httpGet(w1.port, "/metrics")).body;
      assert.ok(metricValue(metrics, 'sioc_admin_ui_logins_total{result="session"}') >= 1, "the reload used the session");
      await shot("5-after-reload");
      assert.deepEqual(errors, []);
    } catch (e) {
      await page.screenshot({ path: `${OUT}/failure.png`, fullPage: true }).catch(() => {});
      throw e;
    } finally {
      await browser.close();
    }
  });
});

describe("admin UI on one worker without Redis", { skip }, () => {
  let w;
  before(async () => {
    w = await startServer({ flags: { app: "chat", "admin-ui": true, "admin-ui-user": "ops", "admin-ui-password-hash": HASH } });
  });
  after(async () => {
    pool.closeAll();
    await stopAll(w);
  });

  it("refuses to start without a bcrypt hash unless told --admin-ui-no-auth", () => {
    const cmd = workerCommand();
    const run = (...flags) => spawnSync(cmd[0], [...cmd.slice(1), "--port", "0", ...flags], { encoding: "utf8", timeout: 10000 });
    for (const flags of [["--admin-ui"], ["--admin-ui", "--admin-ui-password-hash", "secret"],
      ["--admin-ui", "--admin-ui-no-auth", "--admin-ui-password-hash", HASH], ["--admin-ui-dir", "/tmp"],
      ["--admin-ui", "--admin-ui-no-auth", "--admin-ui-path", "/socket.io/"]]) {
      const r = run(...flags);
      assert.equal(r.status, 2, `${flags.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /admin-ui/);
    }
  });

  it("checks at most 2 passwords a second", async () => {
    const tries = await Promise.all([1, 2, 3, 4].map(() => refusal(admin(w, { username: "ops", password: "guess" }))));
    assert.ok(tries.includes("too many attempts"), JSON.stringify(tries));
    assert.ok(tries.includes("invalid credentials"), JSON.stringify(tries));
    const metrics = (await httpGet(w.port, "/metrics")).body;
    assert.ok(metricValue(metrics, 'sioc_admin_ui_logins_total{result="throttled"}') >= 1);
    await sleep(1100);
  });

  it("keeps sessions in memory and runs the commands locally", async () => {
    const u = pool.create(w, { transports: ["websocket"] });
    await connected(u);
    const a = pool.create(w, { nsp: "/admin", transports: ["websocket"], auth: { username: "ops", password: PASSWORD } });
    const session = await withTimeout(new Promise((r) => a.once("session", r)), 5000, "session");
    const b = pool.create(w, { nsp: "/admin", transports: ["websocket"], auth: { sessionId: session } });
    const [all] = await new Promise((r) => b.once("all_sockets", (...x) => r(x)));
    assert.ok(all.some((s) => s.id === u.id && s.nsp === "/"));
    const joined = new Promise((r) => b.on("room_joined", (nsp, room, id) => room === "local" && id === u.id && r()));
    b.emit("join", "/", "local", u.id);
    await withTimeout(joined, 5000, "room_joined");
    const got = new Promise((r) => u.once("news", r));
    b.emit("emit", "/", "local", "news", 42);
    assert.equal(await withTimeout(got, 5000, "the UI's emit"), 42);
    const gone = new Promise((r) => u.once("disconnect", r));
    b.emit("_disconnect", "/", true, u.id);
    assert.equal(await withTimeout(gone, 5000, "the UI's disconnect"), "io server disconnect");
  });
});
