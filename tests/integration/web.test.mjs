// The worker's plain HTTP files: the socket.io-client bundle at
// <path>socket.io.js (as Node's serveClient), the chat page at / and the
// development token endpoint — what each serves, its caching and compression
// headers, and that each is off when it should be.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { startServer, stopAll, IS_NODE_PEER, REPO_ROOT } from "./lib/server.mjs";
import { ClientPool, emitAck } from "./lib/client.mjs";
import { request } from "./lib/raw.mjs";
import { startProxy } from "./lib/proxy.mjs";
import { makeToken, TEST_SECRET } from "./lib/token.mjs";

const DIST = `${REPO_ROOT}tests/node_modules/socket.io-client/dist/`;
const CLIENT_VERSION = JSON.parse(readFileSync(`${REPO_ROOT}tests/node_modules/socket.io-client/package.json`, "utf8")).version;
const BUNDLED_VERSION = JSON.parse(readFileSync(`${REPO_ROOT}worker/client/package.json`, "utf8")).dependencies["socket.io-client"];
const FILES = ["socket.io.js", "socket.io.js.map", "socket.io.min.js", "socket.io.min.js.map", "socket.io.esm.min.js", "socket.io.esm.min.js.map"];

describe("worker static files", { skip: IS_NODE_PEER && "sioc worker only" }, () => {
  let plain, page, devtok, custom, proxy;
  const pool = new ClientPool();
  before(async () => {
    [plain, page, devtok, custom] = await Promise.all([
      startServer({ flags: { app: "chat" } }),
      startServer({ flags: { app: "chat", "chat-page": true } }),
      startServer({ flags: { app: "chat", "dev-token-endpoint": true }, env: { JWT_SECRET: TEST_SECRET } }),
      startServer({ flags: { app: "chat", "chat-page": true, path: "/chat-io" } }),
    ]);
    proxy = await startProxy({ workers: [page] });
  });
  after(async () => {
    pool.closeAll();
    await stopAll(proxy, plain, page, devtok, custom);
  });

  it("embeds the pinned socket.io-client version, the one the tests use", () => {
    assert.equal(BUNDLED_VERSION, CLIENT_VERSION);
  });

  it("serves every bundle file byte for byte as the npm package has it", async () => {
    for (const f of FILES) {
      const r = await request(`${plain.url}/socket.io/${f}`);
      assert.equal(r.status, 200, f);
      assert.ok(r.body.equals(readFileSync(DIST + f)), `${f}: bytes differ`);
      assert.equal(r.headers["content-type"], f.endsWith(".map") ? "application/json; charset=utf-8" : "application/javascript; charset=utf-8");
      assert.equal(r.headers.etag, `"${CLIENT_VERSION}"`);
      assert.equal(r.headers["cache-control"], "public, max-age=0");
      assert.equal(r.headers["content-encoding"], undefined);
    }
    // the msgpack parser variant cannot talk to this server: not served
    assert.equal((await request(`${plain.url}/socket.io/socket.io.msgpack.min.js`)).status, 404);
    assert.equal((await request(`${plain.url}/socket.io/nothing.js`)).status, 404);
  });

  it("answers If-None-Match with 304, gzip when accepted, and HEAD without a body", async () => {
    const url = `${plain.url}/socket.io/socket.io.min.js`;
    for (const tag of [`"${CLIENT_VERSION}"`, `W/"${CLIENT_VERSION}"`, `"x", "${CLIENT_VERSION}"`, "*"]) {
      const r = await request(url, { headers: { "if-none-match": tag } });
      assert.equal(r.status, 304, tag);
      assert.equal(r.body.length, 0);
    }
    assert.equal((await request(url, { headers: { "if-none-match": '"0.0.1"' } })).status, 200);

    const gz = await request(url, { headers: { "accept-encoding": "gzip, deflate, br" } });
    assert.equal(gz.headers["content-encoding"], "gzip");
    assert.equal(gz.headers.vary, "Accept-Encoding");
    assert.equal(gz.headers.etag, `"${CLIENT_VERSION}-gzip"`);
    assert.ok(gz.body.length < readFileSync(DIST + "socket.io.min.js").length / 2);
    assert.ok(gunzipSync(gz.body).equals(readFileSync(DIST + "socket.io.min.js")));
    const gz304 = await request(url, { headers: { "accept-encoding": "gzip", "if-none-match": `"${CLIENT_VERSION}-gzip"` } });
    assert.equal(gz304.status, 304);
    for (const ae of ["gzip;q=0", "br", "identity", "gzip;q=0.000, *"]) {
      const r = await request(url, { headers: { "accept-encoding": ae } });
      assert.equal(r.headers["content-encoding"], undefined, ae);
    }
    assert.equal((await request(url, { headers: { "accept-encoding": "*" } })).headers["content-encoding"], "gzip");

    const head = await request(url, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers["content-length"]), readFileSync(DIST + "socket.io.min.js").length);
    assert.equal(head.body.length, 0);
    const post = await request(url, { method: "POST", body: "x" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, "GET, HEAD");
  });

  it("keeps serving on one keep-alive connection after large bodies, and Engine.IO still works", async () => {
    // several files in a row on one connection, then a socket.io client on the same worker
    for (let i = 0; i < 3; i++) {
      const r = await request(`${plain.url}/socket.io/socket.io.js.map`);
      assert.equal(r.status, 200);
    }
    const s = await pool.connect(plain, { transports: ["polling"] });
    assert.deepEqual(await emitAck(s, "join-room", "r"), { ok: true });
  });

  it("turns the bundle off with SERVE_CLIENT=0; the chat page and token endpoint are off by default", async () => {
    const off = await startServer({ flags: { app: "chat" }, env: { SERVE_CLIENT: "0" } });
    try {
      assert.equal((await request(`${off.url}/socket.io/socket.io.js`)).status, 404);
    } finally {
      await off.stop();
    }
    assert.equal((await request(`${plain.url}/`)).status, 404);
    assert.equal((await request(`${plain.url}/chat.js`)).status, 404);
    assert.equal((await request(`${plain.url}/dev/token?user=alice`)).status, 404);
    assert.equal((await request(`${page.url}/dev/token?user=alice`)).status, 404);
  });

  it("serves the chat page with its security headers, through the proxy too", async () => {
    for (const base of [page.url, `http://127.0.0.1:${proxy.port}`]) {
      const r = await request(`${base}/`);
      assert.equal(r.status, 200);
      assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
      assert.match(r.headers["content-security-policy"], /script-src 'self'/);
      assert.equal(r.headers["x-content-type-options"], "nosniff");
      assert.equal(r.headers["cache-control"], "no-cache");
      assert.match(r.text, /<script src="\/socket\.io\/socket\.io\.min\.js" defer><\/script>/);
      assert.match(r.text, /<meta name="sioc-path" content="\/socket\.io\/">/);
      assert.equal((await request(`${base}/`, { headers: { "if-none-match": r.headers.etag } })).status, 304);
      for (const f of ["chat.js", "chat.css"]) {
        const a = await request(`${base}/${f}`);
        assert.equal(a.status, 200, f);
        assert.ok(a.body.equals(readFileSync(`${REPO_ROOT}worker/web/${f}`)), f);
      }
      const bundle = await request(`${base}/socket.io/socket.io.min.js`);
      assert.ok(bundle.body.equals(readFileSync(DIST + "socket.io.min.js")));
    }
  });

  it("renders the page for a non-default Engine.IO path", async () => {
    const r = await request(`${custom.url}/`);
    assert.match(r.text, /<script src="\/chat-io\/socket\.io\.min\.js" defer>/);
    assert.match(r.text, /content="\/chat-io\/"/);
    assert.equal((await request(`${custom.url}/chat-io/socket.io.min.js`)).status, 200);
    assert.equal((await request(`${custom.url}/socket.io/socket.io.min.js`)).status, 404);
  });

  it("hands out tokens only when enabled, and they open a Socket.IO connection", async () => {
    const r = await request(`${devtok.url}/dev/token?user=carol`);
    assert.equal(r.status, 200);
    assert.equal(r.headers["cache-control"], "no-store");
    const body = JSON.parse(r.text);
    assert.equal(body.user, "carol");
    const claims = JSON.parse(Buffer.from(body.token.split(".")[1], "base64url").toString());
    assert.equal(claims.sub, "carol");
    assert.ok(claims.exp - claims.iat === 3600, JSON.stringify(claims));
    const s = await pool.connect(devtok, { transports: ["websocket"], auth: { token: body.token } });
    assert.deepEqual(await emitAck(s, "join-room", "dev"), { ok: true });
    for (const bad of ["", "a%20b", "x".repeat(33), "%3Cscript%3E"]) {
      const e = await request(`${devtok.url}/dev/token?user=${bad}`);
      assert.equal(e.status, 400, bad);
    }
    assert.equal((await request(`${devtok.url}/dev/token`)).status, 400);
    assert.ok(!devtok.output().includes(body.token), "a token value was logged");
  });

  it("refuses contradictory settings at start-up, naming them", async () => {
    await assert.rejects(startServer({ flags: { app: "chat", "dev-token-endpoint": true } }), /--dev-token-endpoint needs --jwt-secret/);
    await assert.rejects(startServer({ flags: { app: "echo", "chat-page": true } }), /--chat-page needs --app chat/);
    await assert.rejects(startServer({ flags: { app: "chat", "chat-page": true }, env: { SERVE_CLIENT: "0" } }), /--chat-page needs the client bundle/);
  });
});
