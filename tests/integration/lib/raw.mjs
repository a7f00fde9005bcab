// Raw Engine.IO / Socket.IO helpers: plain HTTP requests (node:http, a new TCP
// connection per request, nothing pooled) and a queued WebSocket reader.

import http from "node:http";
import { createRequire } from "node:module";
import { withTimeout } from "./util.mjs";

const require = createRequire(import.meta.url);
export const WebSocket = require("ws");

export const SEP = "\x1e";

/** Build `http://host:port<path>?EIO=4&transport=...&...` from a query object (null values omitted). */
export function eioUrl(server, path, query = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) q.set(k, String(v));
  const qs = q.toString();
  return `${server.url}${path}${qs ? "?" + qs : ""}`;
}

export function wsUrl(httpUrl) {
  return httpUrl.replace(/^http:/, "ws:");
}

/**
 * One HTTP request on a fresh connection. Resolves {status, headers, body: Buffer, text}.
 * `onRequest(req)` gets the ClientRequest (to abort it). Rejects on socket errors.
 */
export function request(url, { method = "GET", body, headers = {}, timeoutMs = 5000, localAddress, onRequest } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(String(body));
    const h = { ...headers };
    if (payload !== undefined) {
      h["content-length"] = payload.length;
      if (!Object.keys(h).some((k) => k.toLowerCase() === "content-type")) h["content-type"] = "text/plain;charset=UTF-8";
    }
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h, agent: false, localAddress },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          clearTimeout(timer);
          const b = Buffer.concat(chunks);
          resolve({ status: res.statusCode, headers: res.headers, body: b, text: b.toString("utf8") });
        });
        res.on("error", (e) => {
          clearTimeout(timer);
          reject(e);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(new Error(`${method} ${url} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    if (onRequest) onRequest(req);
    req.end(payload);
  });
}

/** Parse a polling payload into packets (strings; binary stays as its "b..." text). */
export function splitPayload(text) {
  return text === "" ? [] : text.split(SEP);
}

/** Polling handshake: resolves {sid, open (parsed JSON), res}. Throws unless 200 + "0{". */
export async function pollingHandshake(server, path, extraQuery = {}, opts = {}) {
  const res = await request(eioUrl(server, path, { EIO: 4, transport: "polling", ...extraQuery }), opts);
  if (res.status !== 200 || !res.text.startsWith("0")) {
    throw new Error(`handshake failed: ${res.status} ${res.text}`);
  }
  const open = JSON.parse(res.text.slice(1));
  return { sid: open.sid, open, res };
}

export const poll = (server, path, sid, opts = {}) =>
  request(eioUrl(server, path, { EIO: 4, transport: "polling", sid }), opts);

export const post = (server, path, sid, body, opts = {}) =>
  request(eioUrl(server, path, { EIO: 4, transport: "polling", sid }), { method: "POST", body, ...opts });

/**
 * A ws client whose incoming messages are queued: next() returns the next
 * {data, text, isBinary} in order; `closed` resolves with {code, reason} on close.
 */
export class RawWs {
  constructor(url, wsOpts = {}) {
    this.ws = new WebSocket(url, { perMessageDeflate: false, ...wsOpts });
    this.queue = [];
    this.waiters = [];
    this.isClosed = false;
    this.ws.on("message", (data, isBinary) => {
      const m = { data, isBinary, text: isBinary ? null : data.toString("utf8") };
      const w = this.waiters.shift();
      if (w) w.resolve(m);
      else this.queue.push(m);
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
      this.ws.once("unexpected-response", (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      const done = (code, reason) => {
        this.isClosed = true;
        for (const w of this.waiters.splice(0)) w.reject(new Error("websocket closed"));
        resolve({ code, reason: reason ? reason.toString() : "" });
      };
      this.ws.once("close", done);
      this.ws.on("error", () => {});
      this.ws.once("unexpected-response", (_req, res) => {
        res.resume();
        done(-res.statusCode, "");
        this.ws.terminate?.();
      });
    });
  }

  next(timeoutMs = 3000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.isClosed) return Promise.reject(new Error("websocket closed"));
    let waiter;
    const p = new Promise((resolve, reject) => {
      waiter = { resolve, reject };
      this.waiters.push(waiter);
    });
    return withTimeout(p, timeoutMs, "websocket message").catch((e) => {
      this.waiters = this.waiters.filter((w) => w !== waiter);
      throw e;
    });
  }

  /** Next text message (fails on a binary one). */
  async nextText(timeoutMs = 3000) {
    const m = await this.next(timeoutMs);
    if (m.isBinary) throw new Error(`expected a text frame, got binary ${m.data.toString("hex")}`);
    return m.text;
  }

  /** Next text message that is not an Engine.IO ping (pings are answered with pong). */
  async nextNonPing(timeoutMs = 3000) {
    for (;;) {
      const m = await this.next(timeoutMs);
      if (!m.isBinary && m.text === "2") {
        this.send("3");
        continue;
      }
      return m;
    }
  }

  send(data) {
    this.ws.send(data);
  }

  /** Resolves true if the socket closes within `ms`. */
  closesWithin(ms) {
    return withTimeout(this.closed, ms, "close").then(
      () => true,
      () => false,
    );
  }

  terminate() {
    this.ws.terminate();
  }
}

/** Open a websocket-only Engine.IO session; resolves {ws, open} after the open packet. */
export async function wsHandshake(server, path, extraQuery = {}) {
  const ws = new RawWs(wsUrl(eioUrl(server, path, { EIO: 4, transport: "websocket", ...extraQuery })));
  await withTimeout(ws.opened, 3000, "websocket open");
  const first = await ws.nextText();
  if (!first.startsWith("0")) throw new Error(`expected open packet, got ${first}`);
  return { ws, open: JSON.parse(first.slice(1)) };
}
