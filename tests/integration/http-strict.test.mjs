// HTTP rules a load balancer in front relies on: a HEAD answer has no body (RFC 9110
// §9.3.2), so keep-alive stays in step; an HTTP/1.1 request without Host is refused
// (RFC 9112 §3.2) by the worker and the proxy; an upgrade request with a body is refused;
// whatever head the proxy accepts, the worker behind it accepts too.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopAll } from "./lib/server.mjs";
import { startProxy } from "./lib/proxy.mjs";
import { rawExchange } from "../badinput/lib.mjs";
import { freePort, httpGet } from "../lib/proc.mjs";

let worker, proxy;

before(async () => {
  worker = await startServer({ flags: { app: "chat" } });
  proxy = await startProxy({ workers: [worker] });
});
after(async () => {
  await proxy?.stop();
  await stopAll(worker);
});

/** Writes `text`, resolves every byte received until the peer closes (or 3 s). */
const exchange = async (port, text) => (await rawExchange(port, [text])).text;

/** Splits raw bytes into responses by Content-Length; a HEAD answer (`heads` lists which)
 * is followed by no body. */
function responses(raw, heads) {
  const out = [];
  let pos = 0;
  for (let i = 0; pos < raw.length; i++) {
    const end = raw.indexOf("\r\n\r\n", pos);
    assert.ok(end >= 0, `a whole head at ${pos}: ${JSON.stringify(raw.slice(pos))}`);
    const head = raw.slice(pos, end);
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    const bodyLen = heads.includes(i) ? 0 : len;
    out.push({ status: Number(head.split(" ")[1]), length: len, body: raw.slice(end + 4, end + 4 + bodyLen) });
    pos = end + 4 + bodyLen;
  }
  return out;
}

describe("HEAD gets no body", () => {
  for (const [what, path, status] of [
    ["/health", "/health", 200],
    ["/metrics", "/metrics", 200],
    ["404", "/nothing-here", 404],
    ["an Engine.IO error", "/socket.io/?EIO=4&transport=nope", 400],
  ]) {
    it(`${what}: the head only, and the next request on the connection is answered in step`, async () => {
      const raw = await exchange(worker.port, `HEAD ${path} HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const r = responses(raw, [0]);
      assert.equal(r.length, 2, raw);
      assert.equal(r[0].status, status);
      assert.ok(r[0].length > 0, "Content-Length says what a GET would get");
      assert.equal(r[1].status, 200);
      assert.equal(r[1].body.trim(), "ok");
    });
  }
});

describe("Host and upgrade bodies", () => {
  for (const side of ["worker", "proxy"]) {
    it(`${side}: HTTP/1.1 without Host → 400 and close; HTTP/1.0 without Host is served`, async () => {
      const port = side === "worker" ? worker.port : proxy.port;
      const raw = await exchange(port, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n\r\n");
      assert.match(raw, /^HTTP\/1\.1 400 /);
      const ok = await exchange(port, "GET /socket.io/?EIO=4&transport=polling HTTP/1.0\r\n\r\n");
      assert.match(ok, /^HTTP\/1\.1 200 /);
    });
  }

  it("worker: a websocket upgrade with a body → 400", async () => {
    const raw = await exchange(
      worker.port,
      "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.doesNotMatch(raw, /101 Switching/);
  });
});

describe("head limits: what the proxy accepts, the worker behind it accepts", () => {
  it("64 header fields, and a head just under the proxy's 16384 bytes, reach a handshake", async () => {
    const fields = Array.from({ length: 62 }, (_, i) => `X-F${i}: ${i}\r\n`).join("");
    const many = await exchange(proxy.port, `GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n${fields}Connection: close\r\n\r\n`);
    assert.match(many, /^HTTP\/1\.1 200 /, many.slice(0, 200));
    const start = "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ";
    const pad = "a".repeat(16384 - start.length - 4 - 8);
    const big = await exchange(proxy.port, `${start}${pad}\r\n\r\n`);
    assert.match(big, /^HTTP\/1\.1 200 /, big.slice(0, 200));
  });

  it("the worker's own limits are flags: --max-headers 16 refuses a 20-field head with 431", async () => {
    const w = await startServer({ flags: { app: "chat", "max-headers": 16 } });
    try {
      const fields = Array.from({ length: 19 }, (_, i) => `X-F${i}: ${i}\r\n`).join("");
      const raw = await exchange(w.port, `GET /health HTTP/1.1\r\nHost: x\r\n${fields}\r\n`);
      assert.match(raw, /^HTTP\/1\.1 431 /);
    } finally {
      await stopAll(w);
    }
  });
});

describe("worker admin endpoints are not client-facing", () => {
  let w, adminPort;
  before(async () => {
    adminPort = await freePort();
    w = await startServer({ flags: { app: "chat", "admin-port": adminPort } });
  });
  after(async () => {
    await stopAll(w);
  });

  it("with --admin-port, /ready and /metrics move to the admin port; the client port keeps /health", async () => {
    assert.equal((await httpGet(w.port, "/metrics")).status, 404);
    assert.equal((await httpGet(w.port, "/ready")).status, 404);
    assert.equal((await httpGet(w.port, "/health")).status, 200);
    const m = await httpGet(adminPort, "/metrics");
    assert.equal(m.status, 200);
    assert.match(m.body, /^sioc_dropped_total/m);
    assert.equal((await httpGet(adminPort, "/ready")).status, 200);
    assert.equal((await httpGet(adminPort, "/health")).status, 200);
    assert.equal((await httpGet(adminPort, "/socket.io/?EIO=4&transport=polling")).status, 404, "no Engine.IO on the admin port");
  });

  it("the proxy never forwards a worker's admin endpoints, whatever the sid", async () => {
    for (const path of ["/metrics", "/ready", "/health", "/metrics?sid=undefined.x", "/ready?EIO=4&transport=polling"]) {
      const r = await httpGet(proxy.port, path);
      assert.equal(r.status, 404, `${path} through the proxy`);
      assert.doesNotMatch(r.body, /sioc_/);
    }
    assert.equal((await httpGet(proxy.adminPort, "/metrics")).status, 200, "the proxy's own, on its admin port");
  });
});
