// A scripted HTTP/1.1 upstream for proxy tests: a raw TCP server (so that
// framing, 101 answers and half-closes are exactly what the test asks for)
// speaking keep-alive, answering by path:
//   /health              200 "ok" (or `health` status set by the test)
//   /echo                200 JSON {method, target, headers: [[name, value]...], bodyLength, conn}
//   /slow?ms=N           the /echo answer after N ms
//   /chunked             a chunked body "hello world"
//   /close-delimited     no Content-Length: the body ends when the connection closes
//   /big?bytes=N         N bytes of 'x'
//   /ws-good             101 with the right Sec-WebSocket-Accept, then echoes bytes;
//                        on the client's EOF it writes "bye" and ends
//   /ws-bad-accept       101 with a wrong Sec-WebSocket-Accept
//   /ws-refuse           403 with a body (no upgrade)
// With `refuseNew` set, requests without "sid=" get 503 (a draining worker).
// The /echo answer carries the upstream's id. It counts connections and requests.

import net from "node:net";
import { createHash } from "node:crypto";
import { freePort, HOST } from "../../lib/proc.mjs";

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

export async function startUpstream({ id = "fake" } = {}) {
  const port = await freePort();
  const up = { id, port, connections: 0, requests: 0, health: 200, refuseNew: false, sockets: new Set() };
  const server = net.createServer((sock) => {
    up.connections++;
    up.sockets.add(sock);
    const connNo = up.connections;
    let buf = Buffer.alloc(0);
    let tunnel = false;
    sock.on("close", () => up.sockets.delete(sock));
    sock.on("error", () => {});
    sock.on("end", () => {
      if (tunnel) {
        sock.end("bye");
      }
    });
    sock.on("data", (d) => {
      if (tunnel) {
        sock.write(d);
        return;
      }
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const i = buf.indexOf("\r\n\r\n");
        if (i < 0) return;
        const lines = buf.subarray(0, i).toString("latin1").split("\r\n");
        const [method, target] = lines[0].split(" ");
        const headers = lines.slice(1).map((l) => {
          const c = l.indexOf(":");
          return [l.slice(0, c), l.slice(c + 1).trim()];
        });
        const h = (n) => headers.find(([k]) => k.toLowerCase() === n)?.[1];
        const len = Number(h("content-length") ?? 0);
        if (buf.length < i + 4 + len) return;
        const rest = buf.subarray(i + 4 + len);
        buf = rest;
        up.requests++;
        const url = new URL(target, "http://x");
        const json = (status = 200) => {
          const body = JSON.stringify({ id, method, target, headers, bodyLength: len, conn: connNo });
          sock.write(`HTTP/1.1 ${status} OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        };
        if (up.refuseNew && url.pathname !== "/health" && !url.searchParams.has("sid")) {
          const body = '{"code":4,"message":"Server shutting down"}';
          sock.write(`HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
          continue;
        }
        switch (url.pathname) {
          case "/health":
            sock.write(`HTTP/1.1 ${up.health} X\r\nContent-Length: 2\r\n\r\nok`);
            break;
          case "/slow":
            setTimeout(() => {
              if (!sock.destroyed) json();
            }, Number(url.searchParams.get("ms") || 1000));
            break;
          case "/chunked":
            sock.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
            break;
          case "/close-delimited":
            sock.end("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
            return;
          case "/big": {
            const n = Number(url.searchParams.get("bytes") || 1 << 20);
            sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${n}\r\n\r\n`);
            sock.write(Buffer.alloc(n, "x"));
            break;
          }
          case "/ws-good":
          case "/ws-bad-accept": {
            const key = h("sec-websocket-key") || "";
            let accept = createHash("sha1").update(key + GUID).digest("base64");
            if (url.pathname === "/ws-bad-accept") accept = createHash("sha1").update("nope").digest("base64");
            sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
            tunnel = true;
            if (rest.length) sock.write(rest);
            return;
          }
          case "/ws-refuse":
            sock.write("HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nno way");
            break;
          default:
            json(url.pathname === "/echo" ? 200 : 404);
        }
      }
    });
  });
  await new Promise((r) => server.listen(port, HOST, r));
  up.stop = () =>
    new Promise((r) => {
      for (const s of up.sockets) s.destroy();
      server.close(() => r());
    });
  return up;
}
