// Socket.IO v5 rules checked on the wire against the echo app
// (--app echo --namespaces /custom): CONNECT replies, namespaces, events,
// acks, binary attachments, and the packets that must close the connection.

import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer, stopAll } from "./lib/server.mjs";
import { wsHandshake, pollingHandshake, poll, post, splitPayload, SEP } from "./lib/raw.mjs";
import { sleep } from "./lib/util.mjs";

const P = "/socket.io/";
const CONNECT_TIMEOUT = 600;
let server, shortConnect;
const open = new Set();

before(async () => {
  [server, shortConnect] = await Promise.all([
    startServer({ flags: { app: "echo", namespaces: "/custom" } }),
    startServer({ flags: { app: "echo", "connect-timeout": CONNECT_TIMEOUT } }),
  ]);
});
after(() => stopAll(server, shortConnect));
afterEach(() => {
  for (const ws of open) ws.terminate();
  open.clear();
});

async function session(srv = server) {
  const { ws } = await wsHandshake(srv, P);
  open.add(ws);
  return ws;
}

const text = async (ws) => {
  const m = await ws.nextNonPing();
  assert.equal(m.isBinary, false, "expected a text frame");
  return m.text;
};
const binary = async (ws) => {
  const m = await ws.nextNonPing();
  assert.equal(m.isBinary, true, "expected a binary frame");
  return [...m.data];
};

/** `40...` reply: check the exact form and return the parsed payload. */
function connectReply(frame, nsp = "") {
  const prefix = `40${nsp ? nsp + "," : ""}`;
  assert.ok(frame.startsWith(prefix + "{"), `CONNECT reply: ${frame}`);
  const data = JSON.parse(frame.slice(prefix.length));
  assert.deepEqual(Object.keys(data), ["sid"], "CONNECT reply has exactly the key sid");
  assert.match(data.sid, /^[A-Za-z0-9._~-]{16,}$/, "socket id: at least 16 URL-unreserved characters");
  return data;
}

describe("connect", () => {
  it("main namespace: 40 ⇒ 40{sid} (sid ≠ EIO sid), then 42[auth,{}]", async () => {
    const { ws, open: o } = await wsHandshake(server, P);
    open.add(ws);
    ws.send("40");
    const { sid } = connectReply(await text(ws));
    assert.notEqual(sid, o.sid, "the Socket.IO id is not the Engine.IO session id");
    assert.equal(await text(ws), '42["auth",{}]');
  });

  it("main namespace with a payload: 40{token} ⇒ auth echoes it", async () => {
    const ws = await session();
    ws.send('40{"token":"123"}');
    connectReply(await text(ws));
    assert.equal(await text(ws), '42["auth",{"token":"123"}]');
  });

  it("custom namespace: 40/custom, ⇒ 40/custom,{sid} and 42/custom,[auth,{}]", async () => {
    const ws = await session();
    ws.send("40/custom,");
    connectReply(await text(ws), "/custom");
    assert.equal(await text(ws), '42/custom,["auth",{}]');
  });

  it("custom namespace with a payload, and without the trailing comma", async () => {
    const ws = await session();
    ws.send('40/custom,{"token":"abc"}');
    connectReply(await text(ws), "/custom");
    assert.equal(await text(ws), '42/custom,["auth",{"token":"abc"}]');
    const ws2 = await session();
    ws2.send("40/custom");
    connectReply(await text(ws2), "/custom");
    assert.equal(await text(ws2), '42/custom,["auth",{}]');
  });

  it("two namespaces on one connection get different socket ids", async () => {
    const ws = await session();
    ws.send("40");
    const a = connectReply(await text(ws));
    await text(ws);
    ws.send("40/custom,");
    const b = connectReply(await text(ws), "/custom");
    assert.notEqual(a.sid, b.sid);
  });

  it("unknown namespace: 40/random ⇒ exactly 44/random,{message:Invalid namespace}; the connection stays usable", async () => {
    const ws = await session();
    ws.send("40/random");
    assert.equal(await text(ws), '44/random,{"message":"Invalid namespace"}');
    ws.send("40");
    connectReply(await text(ws));
  });

  it("invalid CONNECT (unknown packet type 4abc) closes the connection", async () => {
    const ws = await session();
    ws.send("4abc");
    assert.equal(await ws.closesWithin(2000), true);
  });

  it("a CONNECT with a non-object payload closes the connection", async () => {
    const ws = await session();
    ws.send('40"a string"');
    assert.equal(await ws.closesWithin(2000), true);
  });

  it(`no CONNECT within connect-timeout (${CONNECT_TIMEOUT} ms) closes the connection`, async () => {
    const ws = await session(shortConnect);
    const t0 = Date.now();
    assert.equal(await ws.closesWithin(CONNECT_TIMEOUT + 2000), true);
    const dt = Date.now() - t0;
    assert.ok(dt >= CONNECT_TIMEOUT - 100, `closed after ${dt} ms`);
  });

  it("a CONNECT in time keeps the connection past connect-timeout", async () => {
    const ws = await session(shortConnect);
    ws.send("40");
    connectReply(await text(ws));
    assert.equal(await ws.closesWithin(CONNECT_TIMEOUT + 300), false);
  });
});

describe("disconnect", () => {
  it("41 gets no reply and the Engine.IO connection stays open (a new CONNECT works)", async () => {
    const ws = await session();
    ws.send("40");
    connectReply(await text(ws));
    await text(ws); // auth
    ws.send("41");
    await assert.rejects(ws.nextNonPing(300), /timed out/, "no reply to 41");
    assert.equal(ws.isClosed, false);
    ws.send("40");
    connectReply(await text(ws));
  });

  it("41/custom, leaves /custom only; / keeps echoing", async () => {
    const ws = await session();
    ws.send("40");
    connectReply(await text(ws));
    await text(ws);
    ws.send("40/custom,");
    connectReply(await text(ws), "/custom");
    await text(ws);
    ws.send("41/custom,");
    ws.send('42["message","message to main namespace"]');
    assert.equal(await text(ws), '42["message-back","message to main namespace"]');
  });

  it("an event for a namespace the client is not connected to closes the connection", async () => {
    const ws = await session();
    ws.send("40");
    connectReply(await text(ws));
    await text(ws);
    ws.send('42/custom,["message","x"]');
    assert.equal(await ws.closesWithin(2000), true);
  });
});

describe("events and acks", () => {
  async function connectedMain() {
    const ws = await session();
    ws.send("40");
    connectReply(await text(ws));
    assert.equal(await text(ws), '42["auth",{}]');
    return ws;
  }

  it("plain event: exact compact JSON back", async () => {
    const ws = await connectedMain();
    ws.send('42["message",1,"2",{"3":[true]}]');
    assert.equal(await text(ws), '42["message-back",1,"2",{"3":[true]}]');
    ws.send('42["message","é✓",null,-1.5,[],{}]');
    assert.equal(await text(ws), '42["message-back","é✓",null,-1.5,[],{}]');
  });

  it("event with two binary attachments: 452- header then two binary frames", async () => {
    const ws = await connectedMain();
    ws.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    ws.send(Buffer.from([1, 2, 3]));
    ws.send(Buffer.from([4, 5, 6]));
    assert.equal(await text(ws), '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    assert.deepEqual(await binary(ws), [1, 2, 3]);
    assert.deepEqual(await binary(ws), [4, 5, 6]);
  });

  it("ack: 42456[...] ⇒ 43456[...]", async () => {
    const ws = await connectedMain();
    ws.send('42456["message-with-ack",1,"2",{"3":[false]}]');
    assert.equal(await text(ws), '43456[1,"2",{"3":[false]}]');
    ws.send('420["message-with-ack"]');
    assert.equal(await text(ws), "430[]");
  });

  it("binary ack: 452-789[...] ⇒ 462-789[...] + two binary frames", async () => {
    const ws = await connectedMain();
    ws.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    ws.send(Buffer.from([1, 2, 3]));
    ws.send(Buffer.from([4, 5, 6]));
    assert.equal(await text(ws), '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    assert.deepEqual(await binary(ws), [1, 2, 3]);
    assert.deepEqual(await binary(ws), [4, 5, 6]);
  });

  it("ack in a custom namespace keeps the namespace prefix", async () => {
    const ws = await session();
    ws.send("40/custom,");
    connectReply(await text(ws), "/custom");
    await text(ws);
    ws.send('42/custom,13["message-with-ack","bar"]');
    assert.equal(await text(ws), '43/custom,13["bar"]');
  });

  for (const [what, frame] of [
    ["unknown packet type", "4abc"],
    ["payload not an array", "42{}"],
    ["invalid ack id", '42abc["message-with-ack",1]'],
    ["empty event array", "42[]"],
    ["reserved event name", '42["disconnect"]'],
    ["malformed JSON", '42["message"'],
  ]) {
    it(`invalid packet (${what}) closes the connection`, async () => {
      const ws = await connectedMain();
      ws.send(frame);
      assert.equal(await ws.closesWithin(2000), true, frame);
    });
  }
});

describe("over polling", () => {
  /** GET until `n` packets were collected (pings answered and dropped). */
  async function collect(sid, n) {
    const out = [];
    while (out.length < n) {
      const r = await poll(server, P, sid, { timeoutMs: 3000 });
      assert.equal(r.status, 200);
      for (const p of splitPayload(r.text)) {
        if (p === "2") await post(server, P, sid, "3");
        else out.push(p);
      }
    }
    return out;
  }

  it("CONNECT, event, and binary event (b64 attachment) over polling", async () => {
    const { sid } = await pollingHandshake(server, P);
    assert.equal((await post(server, P, sid, "40")).text, "ok");
    const [c, auth] = await collect(sid, 2);
    connectReply(c);
    assert.equal(auth, '42["auth",{}]');

    const body = ['42["message","a"]', '451-["message",{"_placeholder":true,"num":0}]', "bAQIDBA=="].join(SEP);
    assert.equal((await post(server, P, sid, body)).text, "ok");
    const got = await collect(sid, 3);
    assert.deepEqual(got, ['42["message-back","a"]', '451-["message-back",{"_placeholder":true,"num":0}]', "bAQIDBA=="]);
  });

  it("an invalid Socket.IO packet over polling closes the session", async () => {
    const { sid } = await pollingHandshake(server, P);
    assert.equal((await post(server, P, sid, "40")).text, "ok");
    await collect(sid, 2);
    await post(server, P, sid, "42{}").catch(() => {});
    await sleep(50);
    let r = await poll(server, P, sid);
    if (r.status === 200) {
      // the close may still be buffered for delivery (Node: "6\x1e1")
      assert.ok(splitPayload(r.text).includes("1"), `after invalid packet: 200 ${JSON.stringify(r.text)}`);
      r = await poll(server, P, sid);
    }
    assert.equal(r.status, 400, "the session is gone");
  });
});
