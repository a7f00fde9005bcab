// Compression as Node's engine.io does it: polling responses gzip / deflate-compressed
// (httpCompression, on by default, threshold 1024 bytes) when Accept-Encoding allows it,
// checked on the wire and with socket.io-client over fetch polling (undici sends
// Accept-Encoding and decodes); WebSocket permessage-deflate (--per-message-deflate)
// with ws and socket.io-client, RSV1 checked on the wire.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import net from "node:net";
import crypto from "node:crypto";
import { execFile, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { startServer, stopAll, IS_NODE_PEER } from "./lib/server.mjs";
import { pollingHandshake, poll, post, splitPayload } from "./lib/raw.mjs";
import { io } from "./lib/client.mjs";
import { waitFor } from "./lib/util.mjs";

const require = createRequire(import.meta.url);
const { Fetch } = require("engine.io-client");

const P = "/socket.io/";
let server, plain;

before(async () => {
  [server, plain] = await Promise.all([
    startServer({ flags: { app: "echo" } }),
    startServer({ flags: { app: "echo" }, env: { HTTP_COMPRESSION: "0" } }),
  ]);
});
after(() => stopAll(server, plain));

/** A connected polling session on the echo app (CONNECT sent, its replies read). */
async function pollingSession(srv) {
  const { sid } = await pollingHandshake(srv, P);
  assert.equal((await post(srv, P, sid, "40")).status, 200);
  const r = await poll(srv, P, sid);
  assert.match(r.text, /^40\{/);
  return sid;
}

function decode(res) {
  const enc = res.headers["content-encoding"];
  if (enc === "gzip") return zlib.gunzipSync(res.body).toString("utf8");
  if (enc === "deflate") return zlib.inflateSync(res.body).toString("utf8");
  assert.equal(enc, undefined);
  return res.text;
}

/** Sends "message" with `arg` and returns the GET response carrying "message-back". */
async function echoed(srv, arg, acceptEncoding) {
  const sid = await pollingSession(srv);
  await post(srv, P, sid, `42${JSON.stringify(["message", arg])}`);
  const headers = acceptEncoding === undefined ? {} : { "accept-encoding": acceptEncoding };
  const res = await poll(srv, P, sid, { headers });
  assert.equal(res.status, 200);
  const packets = splitPayload(decode(res));
  assert.deepEqual(packets, [`42${JSON.stringify(["message-back", arg])}`]);
  return res;
}

async function compressedCount(srv) {
  const metrics = await (await fetch(`${srv.url}/metrics`)).text();
  return Number(/^sioc_http_compressed_total (\d+)/m.exec(metrics)[1]);
}

const big = "x".repeat(4000) + "é✓";

describe("polling compression", () => {
  it("gzip when accepted and the body reaches 1024 bytes", async () => {
    const res = await echoed(server, big, "gzip, deflate, br");
    assert.equal(res.headers["content-encoding"], "gzip");
    assert.equal(res.headers["content-type"], "text/plain; charset=UTF-8");
    if (!IS_NODE_PEER) assert.equal(Number(res.headers["content-length"]), res.body.length);
    assert.ok(res.body.length < 200, `compressed to ${res.body.length} bytes`);
  });

  it("deflate (zlib format, as createDeflate) when it is the client's preference", async () => {
    const res = await echoed(server, big, "deflate");
    assert.equal(res.headers["content-encoding"], "deflate");
    const res2 = await echoed(server, big, "gzip;q=0.5, deflate;q=0.8");
    assert.equal(res2.headers["content-encoding"], "deflate");
    const res3 = await echoed(server, big, "gzip;q=0, *");
    assert.equal(res3.headers["content-encoding"], "deflate");
  });

  it("identity without Accept-Encoding, with nothing acceptable, or below the threshold", async () => {
    for (const ae of [undefined, "br", "identity", "gzip;q=0, deflate;q=0"]) {
      const res = await echoed(server, big, ae);
      assert.equal(res.headers["content-encoding"], undefined, `Accept-Encoding ${ae}`);
    }
    // 42["message-back","…"] is 21 bytes more than the argument: 1002 → 1023 bytes.
    const below = await echoed(server, "y".repeat(1002), "gzip");
    assert.equal(below.headers["content-encoding"], undefined);
    const at = await echoed(server, "y".repeat(1003), "gzip");
    assert.equal(at.headers["content-encoding"], "gzip");
  });

  it("--http-compression 0 turns it off", async () => {
    const res = await echoed(plain, big, "gzip");
    assert.equal(res.headers["content-encoding"], undefined);
  });

  it("socket.io-client over fetch polling gets gzip bodies and the same messages", async () => {
    const before = IS_NODE_PEER ? 0 : await compressedCount(server);
    const socket = io(server.url, { transports: [Fetch], forceNew: true, reconnection: false });
    try {
      await waitFor(socket, "connect");
      const msgs = [big, "short", { a: big, b: [1, 2, 3] }, "z".repeat(100000)];
      for (const m of msgs) {
        const back = waitFor(socket, "message-back");
        socket.emit("message", m);
        assert.deepEqual((await back)[0], m);
      }
    } finally {
      socket.close();
    }
    if (IS_NODE_PEER) return; // no such metric
    const n = (await compressedCount(server)) - before;
    assert.ok(n >= 3, `${n} responses compressed`);
  });
});

// ---------------------------------------------------------------------------
// permessage-deflate

/**
 * A raw websocket on a TCP socket, so that RSV1 is seen on the wire: handshake with
 * `extensions` (or none), then frames in both directions.
 */
class WireWs {
  static async open(srv, extensions, query = "EIO=4&transport=websocket") {
    const w = new WireWs();
    w.sock = net.connect(srv.port, "127.0.0.1");
    w.buf = Buffer.alloc(0);
    w.waiters = [];
    w.ended = false;
    w.sock.on("data", (d) => {
      w.buf = Buffer.concat([w.buf, d]);
      w.wake();
    });
    w.sock.on("close", () => {
      w.ended = true;
      w.wake();
    });
    await new Promise((r) => w.sock.once("connect", r));
    const key = crypto.randomBytes(16).toString("base64");
    w.sock.write(
      `GET /socket.io/?${query} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
        (extensions ? `Sec-WebSocket-Extensions: ${extensions}\r\n` : "") +
        "\r\n",
    );
    await w.until(() => w.buf.indexOf("\r\n\r\n") >= 0);
    const end = w.buf.indexOf("\r\n\r\n");
    w.head = w.buf.subarray(0, end).toString("latin1");
    w.buf = w.buf.subarray(end + 4);
    assert.match(w.head, /^HTTP\/1\.1 101/);
    const m = /^sec-websocket-extensions: *(.*)$/im.exec(w.head);
    w.extensions = m ? m[1].trim() : null;
    return w;
  }
  wake() {
    for (const f of this.waiters.splice(0)) f();
  }
  async until(cond, ms = 5000) {
    const t0 = Date.now();
    while (!cond()) {
      if (this.ended && !cond()) throw new Error("connection closed");
      if (Date.now() - t0 > ms) throw new Error("timed out");
      await new Promise((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }
  /** The next frame: {fin, rsv1, opcode, payload (inflated when rsv1), wire (its payload length)}. */
  async frame() {
    let f;
    await this.until(() => (f = parseFrame(this.buf)) !== null);
    this.buf = this.buf.subarray(f.size);
    const wire = f.payload.length;
    if (f.rsv1) f.payload = zlib.inflateRawSync(Buffer.concat([f.payload, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    return { ...f, wire };
  }
  /** The next data frame's text, pings answered. */
  async text() {
    for (;;) {
      const f = await this.frame();
      const t = f.payload.toString("utf8");
      if (f.opcode === 1 && t === "2") {
        this.send(Buffer.from("3"));
        continue;
      }
      return { ...f, text: t };
    }
  }
  send(payload, { opcode = 1, rsv1 = false, fin = true } = {}) {
    const mask = crypto.randomBytes(4);
    const len = payload.length;
    const head = len < 126 ? Buffer.alloc(2) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
    head[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
    if (len < 126) head[1] = 0x80 | len;
    else if (len < 65536) {
      head[1] = 0x80 | 126;
      head.writeUInt16BE(len, 2);
    } else {
      head[1] = 0x80 | 127;
      head.writeBigUInt64BE(BigInt(len), 2);
    }
    const body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
    this.sock.write(Buffer.concat([head, mask, body]));
  }
  sendDeflated(text, opts = {}) {
    const z = zlib.deflateRawSync(Buffer.from(text), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    this.send(z.subarray(0, z.length - 4), { ...opts, rsv1: true });
  }
  /** Waits for the server's close frame; returns its code. */
  async closeCode() {
    for (;;) {
      const f = await this.frame();
      if (f.opcode === 8) return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
    }
  }
  destroy() {
    this.sock.destroy();
  }
}

function parseFrame(b) {
  if (b.length < 2) return null;
  let len = b[1] & 0x7f,
    off = 2;
  if (len === 126) {
    if (b.length < 4) return null;
    len = b.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    if (b.length < 10) return null;
    len = Number(b.readBigUInt64BE(2));
    off = 10;
  }
  if (b.length < off + len) return null;
  return {
    fin: (b[0] & 0x80) !== 0,
    rsv1: (b[0] & 0x40) !== 0,
    opcode: b[0] & 0x0f,
    payload: Buffer.from(b.subarray(off, off + len)),
    size: off + len,
  };
}

/** Connects the echo app's "/" over a WireWs and returns it after 40 and 42["auth"]. */
async function wireSession(srv, extensions, query) {
  const w = await WireWs.open(srv, extensions, query);
  assert.match((await w.text()).text, /^0\{/);
  w.send(Buffer.from("40"));
  assert.match((await w.text()).text, /^40\{/);
  assert.match((await w.text()).text, /^42\["auth"/);
  return w;
}

async function metric(srv, name) {
  const metrics = await (await fetch(`${srv.url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)`, "m").exec(metrics)[1]);
}

describe("permessage-deflate", { skip: IS_NODE_PEER ? "sioc answers with no_context_takeover (Node keeps the context) and counts on /metrics" : false }, () => {
  let pmd, small, chat;
  const wires = [];
  before(async () => {
    [pmd, small, chat] = await Promise.all([
      startServer({ flags: { app: "echo", "max-http-buffer-size": 1000000 }, env: { PER_MESSAGE_DEFLATE: "1" } }),
      startServer({ flags: { app: "echo", "max-http-buffer-size": 10000 }, env: { PER_MESSAGE_DEFLATE: "1" } }),
      startServer({ flags: { app: "chat" }, env: { PER_MESSAGE_DEFLATE: "1" } }),
    ]);
  });
  after(() => {
    for (const w of wires) w.destroy();
    return stopAll(pmd, small, chat);
  });
  const track = (w) => (wires.push(w), w);

  it("off by default: the offer is not answered and RSV1 is a protocol error", async () => {
    const w = track(await WireWs.open(server, "permessage-deflate; client_max_window_bits"));
    assert.equal(w.extensions, null);
    assert.match((await w.text()).text, /^0\{/);
    w.sendDeflated("40");
    assert.equal(await w.closeCode(), 1002);
  });

  it("negotiated with both no_context_takeover; big messages RSV1-compressed both ways", async () => {
    const w = track(await wireSession(pmd, "permessage-deflate; client_max_window_bits"));
    assert.equal(w.extensions, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    const arg = "ab".repeat(5000);
    w.sendDeflated(`42${JSON.stringify(["message", arg])}`);
    const back = await w.text();
    assert.equal(back.text, `42${JSON.stringify(["message-back", arg])}`);
    assert.equal(back.rsv1, true, "compressed on the wire");
    assert.ok(back.wire < 200, `${back.wire} bytes on the wire`);
    // Below the 1024-byte threshold: plain, even when the client sent it compressed.
    w.sendDeflated(`42${JSON.stringify(["message", "short"])}`);
    const short = await w.text();
    assert.equal(short.text, '42["message-back","short"]');
    assert.equal(short.rsv1, false);
    // Uncompressed frames from the client are still fine.
    w.send(Buffer.from(`42${JSON.stringify(["message", arg])}`));
    assert.equal((await w.text()).rsv1, true);
  });

  it("server_max_window_bits is honoured; 8 and malformed offers are declined", async () => {
    const w = track(await wireSession(pmd, "permessage-deflate; server_max_window_bits=10"));
    assert.match(w.extensions, /server_max_window_bits=10/);
    const arg = crypto.randomBytes(3000).toString("hex");
    w.send(Buffer.from(`42${JSON.stringify(["message", arg])}`));
    const back = await w.text();
    assert.equal(back.rsv1, true);
    assert.equal(back.text, `42${JSON.stringify(["message-back", arg])}`);
    for (const offer of [
      "permessage-deflate; server_max_window_bits=8",
      "permessage-deflate; server_max_window_bits",
      "permessage-deflate; unknown_param",
      "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    ]) {
      const d = track(await WireWs.open(pmd, offer));
      assert.equal(d.extensions, null, offer);
    }
    // A declined offer followed by an acceptable one: the second is taken.
    const two = track(await WireWs.open(pmd, "permessage-deflate; x=1, permessage-deflate; server_max_window_bits=12"));
    assert.match(two.extensions, /server_max_window_bits=12/);
  });

  it("a message that inflates past --max-http-buffer-size closes 1009", async () => {
    const w = track(await wireSession(small, "permessage-deflate"));
    w.sendDeflated(`42${JSON.stringify(["message", "z".repeat(10000)])}`);
    assert.equal(await w.closeCode(), 1009);
    const ok = track(await wireSession(small, "permessage-deflate"));
    const arg = "z".repeat(9000);
    ok.sendDeflated(`42${JSON.stringify(["message", arg])}`);
    assert.equal((await ok.text()).text, `42${JSON.stringify(["message-back", arg])}`);
  });

  it("framing errors: bad deflate data 1007, RSV1 on a continuation or a control frame 1002", async () => {
    const a = track(await wireSession(pmd, "permessage-deflate"));
    a.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]), { rsv1: true });
    assert.equal(await a.closeCode(), 1007);
    const b = track(await wireSession(pmd, "permessage-deflate"));
    b.send(Buffer.from("42[\"mes"), { fin: false });
    b.send(Buffer.from("sage\",1]"), { opcode: 0, rsv1: true });
    assert.equal(await b.closeCode(), 1002);
    const c = track(await wireSession(pmd, "permessage-deflate"));
    c.send(Buffer.from("x"), { opcode: 9, rsv1: true });
    assert.equal(await c.closeCode(), 1002);
    // Compressed invalid UTF-8 in a text message.
    const d = track(await wireSession(pmd, "permessage-deflate"));
    const z = zlib.deflateRawSync(Buffer.from([0x34, 0x32, 0xc3, 0x28]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    d.send(z.subarray(0, z.length - 4), { rsv1: true });
    assert.equal(await d.closeCode(), 1007);
  });

  it("a fragmented compressed message is inflated whole", async () => {
    const w = track(await wireSession(pmd, "permessage-deflate"));
    const arg = "frag".repeat(2000);
    const z = zlib.deflateRawSync(Buffer.from(`42${JSON.stringify(["message", arg])}`), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const body = z.subarray(0, z.length - 4);
    const cut = Math.floor(body.length / 2);
    w.send(body.subarray(0, cut), { rsv1: true, fin: false });
    w.send(body.subarray(cut), { opcode: 0 });
    assert.equal((await w.text()).text, `42${JSON.stringify(["message-back", arg])}`);
  });

  it("socket.io-client (perMessageDeflate, the ws package) gets the same messages, binary too", async () => {
    const inflated0 = await metric(pmd, "sioc_ws_inflated_total");
    const deflated0 = await metric(pmd, "sioc_ws_deflated_total");
    const socket = io(pmd.url, { transports: ["websocket"], forceNew: true, reconnection: false, perMessageDeflate: { threshold: 0 } });
    try {
      await waitFor(socket, "connect");
      const msgs = ["tiny", "q".repeat(50000), { nested: ["r".repeat(3000)] }, Buffer.alloc(20000, 7)];
      for (const m of msgs) {
        const back = waitFor(socket, "message-back");
        socket.emit("message", m);
        const [got] = await back;
        if (Buffer.isBuffer(m)) assert.ok(Buffer.from(got).equals(m));
        else assert.deepEqual(got, m);
      }
    } finally {
      socket.close();
    }
    assert.ok((await metric(pmd, "sioc_ws_inflated_total")) - inflated0 >= 4, "client messages arrived compressed");
    assert.ok((await metric(pmd, "sioc_ws_deflated_total")) - deflated0 >= 3, "server messages went out compressed");
  });

  it("a broadcast is compressed once for all its receivers", async () => {
    const members = [];
    for (let i = 0; i < 5; i++) {
      const w = track(await WireWs.open(chat, "permessage-deflate"));
      assert.match((await w.text()).text, /^0\{/);
      w.send(Buffer.from("40"));
      assert.match((await w.text()).text, /^40\{/);
      w.send(Buffer.from(`421${JSON.stringify(["join-room", "z"])}`));
      assert.match((await w.text()).text, /^431\[\{"ok":true/);
      members.push(w);
    }
    const before = await metric(chat, "sioc_ws_deflated_total");
    const msg = "broadcast ".repeat(500);
    members[0].send(Buffer.from(`42${JSON.stringify(["send-message", { roomId: "z", msg }])}`));
    for (const w of members) {
      const f = await w.text();
      assert.equal(f.rsv1, true);
      assert.equal(f.text, `42${JSON.stringify(["receive-message", msg])}`);
    }
    assert.equal((await metric(chat, "sioc_ws_deflated_total")) - before, 1);
  });
});

describe("permessage-deflate: the RFC 7692 group of tests/badinput/ws_cases.py (python3-autobahn)", { skip: IS_NODE_PEER ? "sioc answers with no_context_takeover (Node keeps the context) and counts on /metrics" : false }, () => {
  const py = [process.env.SIOC_PYTHON, "/usr/bin/python3", "python3"].find((p) => {
    if (!p) return false;
    try {
      execFileSync(p, ["-c", "import autobahn.asyncio.websocket"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  });
  let w;
  const LIMIT = 100000;
  before(async () => {
    w = await startServer({ flags: { app: "echo", path: "/engine.io/", "max-http-buffer-size": LIMIT }, env: { PER_MESSAGE_DEFLATE: "1" } });
  });
  after(() => stopAll(w));

  it("every case of group 12 as expected", { skip: py ? false : "python3-autobahn not installed", timeout: 120000 }, async () => {
    const script = new URL("../badinput/ws_cases.py", import.meta.url).pathname;
    const out = await new Promise((resolve) => {
      execFile(py, [script, "--port", String(w.port), "--limit", String(LIMIT), "--deflate"], { timeout: 110000 }, (err, stdout) =>
        resolve(stdout),
      );
    });
    const lines = out.split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const summary = lines.find((l) => l.summary)?.summary;
    assert.ok(summary, `no summary:\n${out}`);
    const failed = lines.filter((l) => l.id && !l.ok).map((l) => `${l.id} ${l.title}: ${l.got}`);
    assert.deepEqual(failed, []);
    assert.ok(summary.passed >= 20, `${summary.passed} cases passed`);
  });
});
