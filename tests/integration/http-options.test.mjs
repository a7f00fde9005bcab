// HTTP-level options: CORS (--cors-origin), the io cookie (--cookie), the HTTP
// timeouts (--head-timeout, --keepalive-timeout), and
// connection limits (--max-connections, --max-connections-per-ip).
//
// The contract does not name the refusal status for the connection limits;
// any non-200 answer to the handshake (Node: 403) counts as a refusal here.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopAll, IS_NODE_PEER } from "./lib/server.mjs";
import { request, eioUrl, pollingHandshake, post, RawWs, wsUrl } from "./lib/raw.mjs";
import { sleep } from "./lib/util.mjs";

const P = "/socket.io/";
let plain, star, list, cookie, cookieEnv, maxConn, perIp;

before(async () => {
  [plain, star, list, cookie, cookieEnv, maxConn, perIp] = await Promise.all([
    startServer({ flags: { app: "chat" } }),
    startServer({ flags: { app: "chat", "cors-origin": "*" } }),
    startServer({ flags: { app: "chat", "cors-origin": "http://a.example,https://b.example:8443" } }),
    startServer({ flags: { app: "chat", cookie: true } }),
    startServer({ flags: { app: "chat" }, env: { IO_COOKIE: "1" } }),
    startServer({ flags: { app: "chat", "max-connections": 2 } }),
    startServer({ flags: { app: "chat", "max-connections-per-ip": 2 } }),
  ]);
});
after(() => stopAll(plain, star, list, cookie, cookieEnv, maxConn, perIp));

const handshakeUrl = (s) => eioUrl(s, P, { EIO: 4, transport: "polling" });

describe("CORS", () => {
  it("off by default: no Access-Control-Allow-Origin", async () => {
    const r = await request(handshakeUrl(plain), { headers: { origin: "http://a.example" } });
    assert.equal(r.status, 200);
    assert.equal(r.headers["access-control-allow-origin"], undefined);
  });

  it('"*": Access-Control-Allow-Origin: *, no credentials', async () => {
    const r = await request(handshakeUrl(star), { headers: { origin: "http://anything.example" } });
    assert.equal(r.status, 200);
    assert.equal(r.headers["access-control-allow-origin"], "*");
    assert.notEqual(r.headers["access-control-allow-credentials"], "true");
  });

  it("exact origins: a listed origin is echoed with credentials allowed", async () => {
    for (const origin of ["http://a.example", "https://b.example:8443"]) {
      const r = await request(handshakeUrl(list), { headers: { origin } });
      assert.equal(r.status, 200);
      assert.equal(r.headers["access-control-allow-origin"], origin);
      assert.equal(r.headers["access-control-allow-credentials"], "true");
    }
  });

  it("exact origins: an unlisted origin is not allowed", async () => {
    for (const origin of ["http://evil.example", "http://a.example.evil", "https://a.example"]) {
      const r = await request(handshakeUrl(list), { headers: { origin } });
      const acao = r.headers["access-control-allow-origin"];
      assert.ok(acao === undefined || (acao !== origin && acao !== "*"), `${origin} got ${acao}`);
    }
  });

  it("preflight OPTIONS from a listed origin is answered 2xx with the CORS headers", async () => {
    const r = await request(handshakeUrl(list), {
      method: "OPTIONS",
      headers: { origin: "http://a.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    assert.ok(r.status >= 200 && r.status < 300, `status ${r.status}`);
    assert.equal(r.headers["access-control-allow-origin"], "http://a.example");
    assert.equal(r.headers["access-control-allow-credentials"], "true");
    assert.match(String(r.headers["access-control-allow-methods"]), /POST/);
  });

  it("POST responses carry the CORS headers too", async () => {
    const { sid } = await pollingHandshake(list, P, {}, { headers: { origin: "http://a.example" } });
    const r = await post(list, P, sid, "40", { headers: { origin: "http://a.example" } });
    assert.equal(r.status, 200);
    assert.equal(r.headers["access-control-allow-origin"], "http://a.example");
  });
});

describe("io cookie", () => {
  it("off by default", async () => {
    const r = await request(handshakeUrl(plain));
    assert.equal(r.headers["set-cookie"], undefined);
  });

  for (const [what, get] of [["--cookie", () => cookie], ["IO_COOKIE=1", () => cookieEnv]]) {
    it(`${what}: polling handshake sets io=<sid>; Path=/; HttpOnly; SameSite=Lax`, async () => {
      const { sid, res } = await pollingHandshake(get(), P);
      const sc = [].concat(res.headers["set-cookie"] || []);
      assert.equal(sc.length, 1, `one Set-Cookie: ${sc}`);
      const parts = sc[0].split(";").map((x) => x.trim());
      assert.equal(parts[0], `io=${sid}`);
      const attrs = parts.slice(1).map((x) => x.toLowerCase());
      assert.ok(attrs.includes("path=/"), sc[0]);
      assert.ok(attrs.includes("httponly"), sc[0]);
      assert.ok(attrs.includes("samesite=lax"), sc[0]);
    });
  }

  it(
    "--cookie: a websocket-only handshake (101) sets it too",
    { skip: IS_NODE_PEER && "engine.io 6.6 sets the cookie on polling handshakes only (PROTOCOL.md §1.9 wants the 101 too)" },
    async () => {
      const ws = new RawWs(wsUrl(eioUrl(cookie, P, { EIO: 4, transport: "websocket" })));
      const headers = await new Promise((resolve) => ws.ws.once("upgrade", (res) => resolve(res.headers)));
      const first = await ws.nextText();
      const sid = JSON.parse(first.slice(1)).sid;
      ws.terminate();
      const sc = [].concat(headers["set-cookie"] || []);
      assert.ok(sc.some((c) => c.startsWith(`io=${sid}`)), `Set-Cookie: ${sc}`);
    },
  );

  it("--cookie: no Set-Cookie on later polling requests", async () => {
    const { sid } = await pollingHandshake(cookie, P);
    const r = await post(cookie, P, sid, "40");
    assert.equal(r.headers["set-cookie"], undefined);
  });
});

describe("connection limits", () => {
  // Connections are held open as websocket sessions, so the limits mean the same
  // whether the server counts TCP connections or Engine.IO sessions.
  const openWs = async (srv, localAddress) => {
    const ws = new RawWs(wsUrl(eioUrl(srv, P, { EIO: 4, transport: "websocket" })), { localAddress });
    const first = await ws.next(3000).catch(() => null);
    return { ws, accepted: !!first && !first.isBinary && first.text.startsWith("0{") };
  };
  const refusedHandshake = async (srv, localAddress) => {
    const r = await request(handshakeUrl(srv), { localAddress, timeoutMs: 3000 }).catch(() => ({ status: "reset" }));
    return r.status !== 200;
  };
  const held = [];
  after(() => held.splice(0).forEach((w) => w.terminate()));

  it("--max-connections 2: a third connection is refused, a slot frees up when one closes", async () => {
    const a = await openWs(maxConn);
    const b = await openWs(maxConn);
    held.push(a.ws, b.ws);
    assert.ok(a.accepted && b.accepted, "the first two are accepted");
    const c = await openWs(maxConn);
    held.push(c.ws);
    assert.equal(c.accepted, false, "a third websocket gets no open packet");
    assert.equal(await c.ws.closesWithin(3000), true, "and is closed");
    assert.equal(await refusedHandshake(maxConn), true, "a third polling handshake is refused");
    a.ws.terminate();
    await sleep(200);
    const d = await openWs(maxConn);
    held.push(d.ws);
    assert.equal(d.accepted, true, "accepted again once a connection closed");
  });

  it("--max-connections-per-ip 2: the third from 127.0.0.1 is refused, 127.0.0.2 still gets in", async () => {
    const a = await openWs(perIp);
    const b = await openWs(perIp);
    held.push(a.ws, b.ws);
    assert.ok(a.accepted && b.accepted, "the first two are accepted");
    const c = await openWs(perIp);
    held.push(c.ws);
    assert.equal(c.accepted, false, "a third websocket from 127.0.0.1 gets no open packet");
    assert.equal(await refusedHandshake(perIp), true, "a third polling handshake from 127.0.0.1 is refused");
    const other = await openWs(perIp, "127.0.0.2");
    held.push(other.ws);
    assert.equal(other.accepted, true, "another source address has its own budget");
  });
});

describe("HTTP timeouts (--head-timeout, --keepalive-timeout)", { skip: IS_NODE_PEER && "sioc worker only" }, () => {
  const net = () => import("node:net");
  /** Opens a connection, writes `text`, resolves {ms, data} when the worker closes it. */
  async function untilClosed(port, text, limitMs) {
    const { connect } = await net();
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      let data = "";
      const s = connect(port, "127.0.0.1", () => s.write(text));
      s.setEncoding("utf8");
      s.on("data", (d) => (data += d));
      s.on("close", () => {
        clearTimeout(timer);
        resolve({ ms: Date.now() - t0, data });
      });
      s.on("error", () => {});
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`still open after ${limitMs} ms`));
      }, limitMs);
    });
  }

  it("a partial head gets 408 after --head-timeout; an idle keep-alive connection is closed after --keepalive-timeout", async () => {
    const w = await startServer({ flags: { app: "chat", "head-timeout": 1000, "keepalive-timeout": 2000 } });
    try {
      const [partial, idle] = await Promise.all([
        untilClosed(w.port, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n", 6000),
        untilClosed(w.port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 8000),
      ]);
      assert.match(partial.data, /^HTTP\/1\.1 408 /);
      assert.ok(partial.ms >= 1000 && partial.ms < 3500, `408 after ${partial.ms} ms`);
      assert.match(idle.data, /^HTTP\/1\.1 200 /);
      assert.ok(idle.ms >= 2000 && idle.ms < 4500, `idle closed after ${idle.ms} ms`);
    } finally {
      await w.stop();
    }
  });

  it("refuses values out of range, naming the option", async () => {
    await assert.rejects(startServer({ flags: { app: "chat", "head-timeout": 10 } }), /--head-timeout \/ HEAD_TIMEOUT: expected an integer/);
    await assert.rejects(startServer({ flags: { app: "chat" }, env: { KEEPALIVE_TIMEOUT: "x" } }), /--keepalive-timeout \/ KEEPALIVE_TIMEOUT/);
  });
});
