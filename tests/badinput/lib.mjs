// Helpers for the bad-input tests: raw TCP exchanges with byte-level control,
// slow senders, and a fake worker (an HTTP server that reports which worker
// it is and the headers it got) to observe what sioc-proxy forwards.

import net from "node:net";
import http from "node:http";
import { HOST, httpGet } from "../lib/proc.mjs";

/**
 * Send `chunks` (strings / Buffers) on one TCP connection, `gapMs` apart, and
 * collect everything the server sends until it closes or `timeoutMs` passes.
 * Resolves {text, data, closed, reset, ms (time to close), statuses}.
 */
export function rawExchange(port, chunks, { gapMs = 0, timeoutMs = 3000, localAddress, host = HOST, keepSending = false } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.createConnection({ host, port, localAddress });
    const parts = [];
    let closed = false;
    let reset = false;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      const data = Buffer.concat(parts);
      const text = data.toString("latin1");
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
      s.destroy();
      resolve({ data, text, closed, reset, ms: Date.now() - t0, statuses });
    };
    const timer = setTimeout(finish, timeoutMs);
    s.on("data", (d) => parts.push(d));
    s.on("error", (e) => {
      if (e.code === "ECONNRESET" || e.code === "EPIPE") reset = true;
      closed = true;
      finish();
    });
    s.on("end", () => {
      closed = true;
      finish();
    });
    s.on("close", () => {
      closed = true;
      finish();
    });
    s.on("connect", async () => {
      const list = [...chunks];
      for (let i = 0; !finished && (i < list.length || keepSending); i++) {
        const c = i < list.length ? list[i] : keepSending(i);
        if (c === null) break;
        s.write(c);
        if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
      }
    });
  });
}

/** A trickle of a request head: one byte every `gapMs`, never finished. */
export function slowHead(port, head, opts = {}) {
  const bytes = [...Buffer.from(head)].map((b) => Buffer.from([b]));
  return rawExchange(port, bytes, { gapMs: 500, ...opts });
}

/**
 * Fake workers for the proxy: `n` HTTP servers on free ports answering
 * GET /health with "ok" and anything else with 200 JSON {worker, headers, url}.
 * Returns [{id, port, server, hits, close()}].
 */
export async function fakeWorkers(ids) {
  const out = [];
  for (const id of ids) {
    const w = { id, hits: 0, sockets: new Set() };
    w.server = http.createServer((req, res) => {
      if (req.url === "/health" || req.url === "/ready") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("ok");
        return;
      }
      w.hits++;
      const body = JSON.stringify({ worker: id, headers: req.headers, url: req.url });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
    w.server.on("connection", (s) => {
      w.sockets.add(s);
      s.on("close", () => w.sockets.delete(s));
    });
    await new Promise((r) => w.server.listen(0, HOST, r));
    w.port = w.server.address().port;
    w.close = () =>
      new Promise((r) => {
        w.server.close(r);
        for (const s of w.sockets) s.destroy();
      });
    out.push(w);
  }
  return out;
}

/** One HTTP GET with full control of headers and the source address; resolves {status, headers, body, json}
 * (status 0 on failure, json null unless the body is JSON). */
export async function get(port, path, { headers = {}, localAddress, timeoutMs = 3000 } = {}) {
  const r = await httpGet(port, path, { headers, localAddress, timeoutMs });
  let json = null;
  try {
    json = JSON.parse(r.body);
  } catch {
    /* not JSON */
  }
  return { status: r.status, headers: r.headers, body: r.status === 0 ? String(r.error?.message ?? "") : r.body, json };
}
