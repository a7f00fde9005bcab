// WebSocket frames that reach the server in pieces, on many connections at once: a text
// frame cut inside a UTF-8 character, a message fragmented over several frames, each
// piece in its own TCP write, interleaved with connections whose frames arrive whole.
// sioc-worker reads idle websockets with one shared frame reader and gives a connection
// its own only between the pieces of a message, so the pieces of one connection must
// never leak into another's messages. Plain Engine.IO echo server: every message comes
// back as it was sent.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import crypto from "node:crypto";
import { startServer, stopAll } from "./lib/server.mjs";
import { sleep } from "./lib/util.mjs";

const PATH = "/engine.io/";
const CONNS = 24;

let server;
before(async () => {
  server = await startServer({ flags: { app: "echo", path: PATH } });
});
after(() => stopAll(server));

/** A client frame (masked, RFC 6455 §5.2). */
function frame(opcode, fin, payload) {
  const p = Buffer.from(payload);
  const head = [(fin ? 0x80 : 0) | opcode];
  if (p.length < 126) head.push(0x80 | p.length);
  else head.push(0x80 | 126, p.length >> 8, p.length & 0xff);
  const mask = crypto.randomBytes(4);
  const body = Buffer.alloc(p.length);
  for (let i = 0; i < p.length; i++) body[i] = p[i] ^ mask[i & 3];
  return Buffer.concat([Buffer.from(head), mask, body]);
}

/** A websocket over a bare TCP socket, so the test decides where each write ends. */
class TcpWs {
  constructor(port) {
    this.sock = net.connect(port, "127.0.0.1");
    this.sock.setNoDelay(true);
    this.buf = Buffer.alloc(0);
    this.head = false;
    this.texts = [];
    this.waiters = [];
    this.sock.on("data", (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
    });
    this.sock.on("error", () => {});
    this.opened = new Promise((resolve, reject) => {
      this.onHead = resolve;
      this.sock.once("close", () => reject(new Error("closed before the upgrade")));
    });
    this.sock.once("connect", () => {
      this.sock.write(
        `GET ${PATH}?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
          "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString("base64")}\r\n` +
          "Sec-WebSocket-Version: 13\r\n\r\n",
      );
    });
  }

  parse() {
    if (!this.head) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      assert.match(this.buf.subarray(0, end).toString(), /^HTTP\/1\.1 101 /);
      this.buf = this.buf.subarray(end + 4);
      this.head = true;
      this.onHead();
    }
    for (;;) {
      if (this.buf.length < 2) return;
      let len = this.buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      }
      if (this.buf.length < off + len) return;
      const op = this.buf[0] & 0x0f;
      const text = this.buf.subarray(off, off + len).toString("utf8");
      this.buf = this.buf.subarray(off + len);
      if (op !== 1) continue;
      if (text === "2") {
        this.sock.write(frame(1, true, "3"));
        continue;
      }
      const w = this.waiters.shift();
      if (w) w(text);
      else this.texts.push(text);
    }
  }

  nextText(timeoutMs = 3000) {
    if (this.texts.length) return Promise.resolve(this.texts.shift());
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no message")), timeoutMs);
      this.waiters.push((m) => {
        clearTimeout(t);
        resolve(m);
      });
    });
  }

  close() {
    this.sock.destroy();
  }
}

/** Cuts `buf` into `n` pieces of about the same size. */
function pieces(buf, n) {
  const out = [];
  const step = Math.ceil(buf.length / n);
  for (let i = 0; i < buf.length; i += step) out.push(buf.subarray(i, i + step));
  return out;
}

describe("websocket frames arriving in pieces", () => {
  it("many connections: frames cut into pieces (inside UTF-8 characters too) and fragmented messages, interleaved with whole frames", async () => {
    const conns = [];
    for (let i = 0; i < CONNS; i++) conns.push(new TcpWs(server.port));
    await Promise.all(conns.map((c) => c.opened));
    for (const c of conns) assert.match(await c.nextText(), /^0\{"sid":/);

    const rounds = 3;
    for (let round = 0; round < rounds; round++) {
      // Each connection's plan: a list of writes and the messages they must echo.
      const plans = conns.map((c, i) => {
        const tag = `c${i}r${round}`;
        if (i % 3 === 0) {
          // Whole frames, one per write.
          const msgs = [`4${tag} whole a`, `4${tag} whole b`];
          return { writes: msgs.map((m) => frame(1, true, m)), msgs };
        }
        if (i % 3 === 1) {
          // One text frame with multibyte characters, cut in 7 pieces.
          const m = `4${tag} é€😀 ${"ü".repeat(40)} ${tag}`;
          return { writes: pieces(frame(1, true, m), 7), msgs: [m] };
        }
        // A message fragmented over three frames, each frame cut in two, then a whole frame.
        const parts = [`4${tag} first `, `second ${"x".repeat(30)} `, `third €`];
        const f = Buffer.concat([frame(1, false, parts[0]), frame(0, false, parts[1]), frame(0, true, parts[2])]);
        const after = `4${tag} after`;
        return { writes: [...pieces(f, 6), frame(1, true, after)], msgs: [parts.join(""), after] };
      });
      const steps = Math.max(...plans.map((p) => p.writes.length));
      for (let s = 0; s < steps; s++) {
        plans.forEach((p, i) => {
          if (s < p.writes.length) conns[i].sock.write(p.writes[s]);
        });
        await sleep(15);
      }
      for (let i = 0; i < conns.length; i++) {
        for (const m of plans[i].msgs) assert.equal(await conns[i].nextText(), m, `connection ${i}, round ${round}`);
      }
    }
    for (const c of conns) c.close();
  });
});
