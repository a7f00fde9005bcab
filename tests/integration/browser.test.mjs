// The stock browser bundle of socket.io-client in headless Chromium (Debian's
// /usr/bin/chromium driven by playwright-core) against a sioc worker: a page
// served from another origin connects with polling, upgrades to websocket,
// chats with a Node client, and sends and receives binary (ArrayBuffer).

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { startServer, stopAll, freePort, REPO_ROOT } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";

const require = createRequire(import.meta.url);
const CHROMIUM = process.env.SIOC_CHROMIUM || "/usr/bin/chromium";

describe("browser (headless Chromium, socket.io-client bundle)", { skip: existsSync(CHROMIUM) ? false : `no ${CHROMIUM}` }, () => {
  const pool = new ClientPool();
  let worker, page, browser, site;
  before(async () => {
    const sitePort = await freePort();
    const origin = `http://127.0.0.1:${sitePort}`;
    worker = await startServer({ flags: { app: "chat", "cors-origin": origin }, env: { JWT_SECRET: TEST_SECRET } });
    const bundle = readFileSync(`${REPO_ROOT}tests/node_modules/socket.io-client/dist/socket.io.min.js`);
    site = createServer((req, res) => {
      if (req.url === "/socket.io.min.js") {
        res.writeHead(200, { "content-type": "application/javascript" }).end(bundle);
      } else {
        res.writeHead(200, { "content-type": "text/html" }).end('<!doctype html><script src="/socket.io.min.js"></script>');
      }
    });
    await new Promise((r) => site.listen(sitePort, "127.0.0.1", r));
    const { chromium } = require("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
        "--no-first-run", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage();
    await page.goto(origin + "/");
  });
  after(async () => {
    pool.closeAll();
    await browser?.close();
    site?.close();
    await stopAll(worker);
  });

  it("connects with polling, upgrades to websocket, and chats with a Node client (text and binary)", async () => {
    const node = await pool.connect(worker, { ...TRANSPORT_MODES.websocket, auth: { token: makeToken({ sub: "node" }) } });
    assert.deepEqual(await emitAck(node, "join-room", "web"), { ok: true });
    const fromBrowser = [];
    node.on("receive-message", (m) => fromBrowser.push(m));

    const result = await page.evaluate(
      async ({ url, token }) => {
        const socket = io(url, { auth: { token }, transports: ["polling", "websocket"] });
        let firstTransport = null;
        socket.io.on("open", () => (firstTransport = socket.io.engine.transport.name));
        const ack = (ev, ...args) => new Promise((res) => socket.emit(ev, ...args, res));
        await new Promise((res, rej) => {
          socket.on("connect", res);
          socket.on("connect_error", (e) => rej(new Error(e.message)));
        });
        if (socket.io.engine.transport.name !== "websocket") await new Promise((res) => socket.io.engine.once("upgrade", res));
        const joined = await ack("join-room", "web");
        const got = [];
        socket.on("receive-message", (m) => got.push(m));
        const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]).buffer;
        await ack("send-message", { roomId: "web", msg: "hello from chromium" });
        await ack("send-message", { roomId: "web", msg: { bin: bytes } });
        await new Promise((res) => setTimeout(res, 300));
        return {
          firstTransport,
          transport: socket.io.engine.transport.name,
          joined,
          got: got.map((m) => (typeof m === "string" ? m : m && m.bin instanceof ArrayBuffer ? Array.from(new Uint8Array(m.bin)) : m)),
        };
      },
      { url: worker.url, token: makeToken({ sub: "browser" }) },
    );
    assert.equal(result.firstTransport, "polling");
    assert.equal(result.transport, "websocket", "upgraded");
    assert.deepEqual(result.joined, { ok: true });
    assert.deepEqual(result.got, ["hello from chromium", [0, 1, 2, 253, 254, 255]]);
    assert.equal(fromBrowser[0], "hello from chromium");
    assert.ok(Buffer.from(fromBrowser[1].bin).equals(Buffer.from([0, 1, 2, 253, 254, 255])));
  });

  it("a browser without a valid token gets connect_error 'Authentication error'", async () => {
    const message = await page.evaluate(async (url) => {
      const socket = io(url, { auth: { token: "garbage" }, reconnection: false });
      return new Promise((res) => socket.on("connect_error", (e) => res(e.message)));
    }, worker.url);
    assert.equal(message, "Authentication error");
  });
});
