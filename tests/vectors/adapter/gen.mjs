// Generates tests/vectors/adapter/vectors.tsv: golden redis-adapter messages
// produced by the real npm packages (run by hand, not by CI).
//
//   mkdir -p /tmp/gen && cd /tmp/gen && npm init -y && \
//     npm install notepack.io@3.0.1 @socket.io/redis-emitter@5.1.0 \
//                 @socket.io/redis-adapter@8.3.0 socket.io@4.8 socket.io-parser@4
//   cd /tmp/gen && node /path/to/tests/vectors/adapter/gen.mjs
//
// Messages come from the real RedisAdapter / ShardedRedisAdapter / Emitter
// classes talking to a fake Redis client that records every PUBLISH/SPUBLISH,
// plus direct notepack.encode() calls for values and hand-written edge cases.
//
// One vector per line, tab-separated (compact JSON never holds a raw tab):
//   value     <name> <msgpack hex> <json> <att hex,...|-> <msgpack hex of JSON.parse(json)+att>
//   json      <name> <json text hex> <msgpack hex> <json of notepack.decode(msgpack)>
//   broadcast <name> <msg hex> <desc> <enc: 0 none, 1 adapter order, 2 emitter order>
//   request | response | shard <name> <msg hex> <desc> <enc: 1 = our encoder must rebuild msg>
// <desc> is a canonical JSON description of the decoded message (see desc*()
// below) that tests/unit/common/adapter/test_adapter_msg.c rebuilds from the C
// decoder's output.
import { createRequire } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const require = createRequire(join(process.cwd(), "/"));
const notepack = require("notepack.io");
const { Server } = require("socket.io");
const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
const { Emitter } = require("@socket.io/redis-emitter");
const { deconstructPacket, reconstructPacket } = require(join(process.cwd(), "node_modules/socket.io-parser/build/cjs/binary.js"));

const out = [];
const hex = (b) => Buffer.from(b).toString("hex");

// ---------------------------------------------------------------- fake redis

class FakeRedis {
  constructor(log) {
    this.log = log;
    this.handlers = {};
  }
  on(ev, fn) { this.handlers[ev] = fn; return this; }
  off() { return this; }
  psubscribe() {}
  subscribe() {}
  ssubscribe() {}
  sunsubscribe() {}
  punsubscribe() {}
  unsubscribe() {}
  publish(channel, msg) { this.log.push({ channel, msg: Buffer.from(msg) }); return Promise.resolve(1); }
  spublish(channel, msg) { this.log.push({ channel, msg: Buffer.from(msg) }); return Promise.resolve(1); }
  send_command(cmd, args, cb) { const r = [args[1], 3]; if (cb) cb(null, r); return Promise.resolve(r); }
}

// ---------------------------------------------------------------- descriptions

const FLAG_ORDER = ["volatile", "compress", "local", "broadcast", "binary", "timeout", "expectSingleResponse"];

function descFlags(f) {
  const d = {};
  if (!f || typeof f !== "object") return d;
  for (const k of FLAG_ORDER) {
    const v = f[k];
    if (v === undefined || v === null) continue;
    if (k === "timeout") { if (typeof v === "number") d[k] = v; continue; }
    d[k] = !!v;
  }
  return d;
}
const listStr = (a) => (a == null ? [] : a.map((x) => (typeof x === "number" ? String(x) : x)));
const descOpts = (o) => ({ rooms: listStr(o.rooms), except: listStr(o.except), flags: descFlags(o.flags) });

// a Socket.IO value as a Node receiver would send it on: JSON + attachments
function sioValue(v, att) {
  const { packet, buffers } = deconstructPacket({ type: 2, data: v, nsp: "/" });
  for (const b of buffers) att.push(hex(b));
  return JSON.stringify(packet.data);
}

// raw JSON inside a description: key order matters, so build text by hand
function obj(pairs) {
  return "{" + pairs.filter(([, v]) => v !== undefined).map(([k, v]) => JSON.stringify(k) + ":" + v).join(",") + "}";
}
const J = (v) => (v === undefined ? undefined : JSON.stringify(v));

function descPacket(p, att, defaultNsp) {
  return obj([
    ["type", J(p.type)],
    ["nsp", J(p.nsp === undefined ? defaultNsp : p.nsp)],
    ["id", J(p.id)],
    ["data", p.data === undefined ? undefined : sioValue(p.data, att)],
  ]);
}

function descBroadcast(msg) {
  const [uid, packet, opts] = notepack.decode(msg);
  const att = [];
  const pk = descPacket(packet, att, "/");
  return obj([["uid", J(uid)], ["packet", pk], ["opts", J(descOpts(opts))], ["att", J(att)]]);
}

function parseAny(msg) {
  return msg[0] === 0x7b ? JSON.parse(msg.toString()) : notepack.decode(msg);
}

function descRequest(msg) {
  const r = parseAny(msg);
  const att = [];
  const str = (v) => (v == null ? undefined : J(typeof v === "number" ? String(v) : v));
  return obj([
    ["type", J(r.type)],
    ["uid", str(r.uid)],
    ["requestId", str(r.requestId)],
    ["opts", r.opts == null ? undefined : J(descOpts(r.opts))],
    ["rooms", r.rooms == null ? undefined : J(listStr(r.rooms))],
    ["close", r.close == null ? undefined : J(!!r.close)],
    ["sid", str(r.sid)],
    ["room", str(r.room)],
    ["data", r.data == null && r.data !== null ? undefined : sioValue(r.data, att)],
    ["packet", r.packet == null ? undefined : descPacket(r.packet, att, "/")],
    ["att", J(att)],
  ]);
}

function descResponse(msg) {
  const r = parseAny(msg);
  const att = [];
  let kind = r.type !== undefined ? r.type : r.sockets !== undefined ? 1 : r.rooms !== undefined ? 2 : 0;
  const val = r.type === 9 ? r.packet : r.data;
  return obj([
    ["kind", J(kind)],
    ["requestId", J(r.requestId)],
    ["sockets", r.sockets === undefined ? undefined : sioValue(r.sockets, att)],
    ["rooms", r.rooms === undefined ? undefined : J(listStr(r.rooms))],
    ["data", val === undefined ? undefined : sioValue(val, att)],
    ["clientCount", J(r.clientCount)],
    ["att", J(att)],
  ]);
}

function descShard(msg) {
  const m = parseAny(msg);
  const d = m.data || {};
  const t = m.type;
  const att = [];
  let value;
  if (t === 8) value = d.sockets;
  else if (t === 9 || t === 10 || t === 12) value = d.packet;
  return obj([
    ["type", J(t)],
    ["uid", J(m.uid)],
    ["nsp", J(m.nsp)],
    ["requestId", J(d.requestId)],
    ["packet", t === 3 ? descPacket(d.packet, att, undefined) : undefined],
    ["opts", t >= 3 && t <= 7 ? J(descOpts(d.opts || {})) : undefined],
    ["rooms", t === 4 || t === 5 ? J(listStr(d.rooms)) : undefined],
    ["close", t === 6 ? J(!!d.close) : undefined],
    ["value", value === undefined ? undefined : sioValue(value, att)],
    ["clientCount", t === 11 ? J(d.clientCount) : undefined],
    ["att", J(att)],
  ]);
}

// ---------------------------------------------------------------- emitters

function add(kind, name, msg, desc, enc) {
  out.push([kind, name, hex(msg), desc, String(enc)].join("\t"));
}

function addValue(name, v) {
  const mp = notepack.encode(v);
  const att = [];
  const json = sioValue(notepack.decode(mp), att);
  const bufs = att.map((h) => Buffer.from(h, "hex"));
  const back = reconstructPacket({ type: 5, data: JSON.parse(json), nsp: "/", attachments: bufs.length }, bufs).data;
  out.push(["value", name, hex(mp), json, att.length ? att.join(",") : "-", hex(notepack.encode(back))].join("\t"));
}

function addRawValue(name, mpHex) {
  const mp = Buffer.from(mpHex, "hex");
  const att = [];
  const json = sioValue(notepack.decode(mp), att);
  const bufs = att.map((h) => Buffer.from(h, "hex"));
  const back = reconstructPacket({ type: 5, data: JSON.parse(json), nsp: "/", attachments: bufs.length }, bufs).data;
  out.push(["value", name, mpHex, json, att.length ? att.join(",") : "-", hex(notepack.encode(back))].join("\t"));
}

function addJson(name, text) {
  const mp = notepack.encode(JSON.parse(text));
  out.push(["json", name, hex(Buffer.from(text)), hex(mp), JSON.stringify(notepack.decode(mp))].join("\t"));
}

const flush = () => new Promise((r) => setTimeout(r, 20));

async function main() {
  // ---- values
  const ints = [0, 1, 127, 128, 255, 256, 65535, 65536, 4294967295, 4294967296, 2 ** 53 - 1, 2 ** 53, 2 ** 63, 2 ** 64, 1e21,
    -1, -32, -33, -128, -129, -32768, -32769, -2147483648, -2147483649, -(2 ** 53), -(2 ** 63), -1e21];
  addValue("ints", ints);
  addValue("floats", [0.1, -0.5, 1.5, 1e-7, 123e-20, 1.7976931348623157e308, 5e-324, 2 ** -1074, 0.000001, 1e21 + 1e6, 4.35, 0.3]);
  addValue("powers-of-two", [2 ** -1022, 2 ** -1000, 2 ** -100, 2 ** 100, 2 ** 1023, 2 ** 70, 2 ** 54 + 2, 1 / 3, 2 / 3, 1e23, 9.5e-8]);
  addValue("negzero-nan-inf", [-0, NaN, Infinity, -Infinity]);
  addValue("strings", ["", "a", "x".repeat(31), "x".repeat(32), "y".repeat(255), "z".repeat(256), "é", "日本語", "😀", "q\"\\/\b\f\n\r\t\x01\x1f\x7f", "\u2028\u2029"]);
  addValue("long-string", "w".repeat(70000));
  addValue("nested", { user: { name: "alice", tags: ["a", "b"], meta: { n: 1, ok: true, none: null } }, list: [[1, [2, [3]]]] });
  addValue("index-keys", { b: 1, 2: "two", 1: "one", a: 3, 4294967295: "big", 4294967294: "max" });
  addValue("binary", ["bin", Buffer.from([1, 2, 3, 4]), { x: Buffer.alloc(0), y: [Buffer.from("hi")] }, Buffer.alloc(300, 7)]);
  addValue("map16", Object.fromEntries(Array.from({ length: 20 }, (_, i) => ["k" + i, i])));
  addValue("array16", Array.from({ length: 20 }, (_, i) => i * 1000));
  addValue("undefined-members", { a: undefined, b: [undefined, 1] });
  addValue("date", [new Date(0), new Date(1700000000123), new Date(-1), new Date(253402300800000), new Date(-62198755200000)]);
  addValue("chat", ["chat message", { room: "lobby", user: "alice", text: "hello world, how are you today?", ts: 1718000000000 }]);
  // hand-made msgpack: legacy/odd encodings notepack still decodes
  addRawValue("undefined-legacy", "93d40000" + "81a161d40000" + "c0");
  addRawValue("ext-arraybuffer", "92c70300010203c8000200aabb");
  addRawValue("ext-other", "92d40501d5fe0102");
  addRawValue("float32", "92ca3dcccccdca7f800000");
  addRawValue("dup-keys-proto", "84a161" + "01" + "a162" + "02" + "a161" + "03" + "a95f5f70726f746f5f5f" + "80");
  addRawValue("unordered-index-keys", "83a17a01a13302a13103");
  addRawValue("dup-invalid-utf8-keys", "83a26bff01a26bfe02a16103");
  addRawValue("invalid-utf8", "93a3ff6162a4e282ac00a3eda080");
  addRawValue("uint64-int64", "92cf0000000000000001d3ffffffffffffffff");
  addRawValue("timestamps", "93d6ff00000001d7ff0000000400000001c70cff000000000000000000000002");
  const f64 = (x) => { const b = Buffer.alloc(9); b[0] = 0xcb; b.writeDoubleBE(x, 1); return hex(b); };
  const big = [2 ** 100, 2 ** 1023, 1e21, 1e23, 1.5e300, -1e22, 123456789e15, 2 ** 64, 1e-6, 1.1e-6, 2 ** 53 + 2];
  addRawValue("big-floats", "9b" + big.map(f64).join(""));
  addRawValue("legacy-date", "91d700000000000000000a");

  // ---- JSON text as a client would send it
  addJson("canonical", '["msg",{"a":1,"b":[true,false,null],"c":"x"}]');
  addJson("whitespace", ' [ "msg" , { "a" : 1 ,\n"b":\t2 } ] ');
  addJson("numbers", "[1.0,1e2,-0,0.5,1E-7,12345678901234567890,1e400,-1e400,123456789012345.678,9007199254740993]");
  addJson("escapes", '["\\u0041\\u00e9\\u65e5\\ud83d\\ude00","\\/\\b\\f\\n\\r\\t\\"\\\\"]');
  addJson("lone-surrogates", '["\\ud800","\\ud800a","\\udc00\\ud83d\\ude00","' + "a".repeat(40) + '\\ud800","' + "\\u00e9".repeat(20) + '\\udc00"]');
  addJson("key-surrogates", '{"\\ud800k":1,"' + "k".repeat(40) + '\\udfff":2}');
  addJson("dup-keys", '{"a":1,"b":2,"a":3,"__proto__":{"x":1}}');
  addJson("index-keys", '{"b":1,"10":2,"2":3,"01":4,"-1":5,"4294967294":6,"4294967295":7}');
  addJson("placeholder-literal", '[{"_placeholder":true,"num":0}]');
  addJson("deep", "[".repeat(20) + "1" + "]".repeat(20));
  addJson("big-map", JSON.stringify(Object.fromEntries(Array.from({ length: 40 }, (_, i) => ["key" + (39 - i), i]))));

  // ---- emitter
  const elog = [];
  const emitter = new Emitter(new FakeRedis(elog));
  emitter.emit("hi", "there");
  emitter.to("room1").emit("hi", 1);
  emitter.to(["room1", "room2"]).except("room3").emit("hi", { a: [1, 2] });
  emitter.volatile.emit("v", "x");
  emitter.compress(false).emit("c", "y");
  emitter.volatile.compress(true).to(7).emit("num-room");
  emitter.of("/admin").emit("admin", Buffer.from([0xde, 0xad, 0xbe, 0xef]));
  emitter.of("admin").to("r").emit("admin2", "é😀");
  emitter.socketsJoin("room5");
  emitter.in("room1").except(["x", "y"]).socketsLeave(["a", "b"]);
  emitter.to("room1").disconnectSockets(true);
  emitter.disconnectSockets();
  emitter.serverSideEmit("sse", { x: 1 }, "y");
  for (const [i, m] of elog.entries()) {
    if (m.channel.includes("-request#")) add("request", "emitter-req-" + i, m.msg, descRequest(m.msg), 1);
    else {
      // numeric room names come back as strings, so such messages cannot be rebuilt byte for byte
      const numRoom = notepack.decode(m.msg)[2].rooms.some((r) => typeof r === "number");
      add("broadcast", "emitter-" + i, m.msg, descBroadcast(m.msg), numRoom ? 0 : 2);
    }
  }

  // ---- classic adapter
  const log = [];
  const pub = new FakeRedis(log), sub = new FakeRedis([]);
  const io = new Server();
  io.adapter(createAdapter(pub, sub));
  const admin = io.of("/admin");
  io.emit("hi", "there");
  io.to("room1").emit("chat", { user: "bob", text: "hey" });
  io.to(["r1", "r2"]).except("r3").emit("multi", 1, 2.5, -3, null, true);
  io.volatile.emit("vol", "v");
  io.compress(false).emit("nocompress", "c");
  io.volatile.compress(true).emit("both", "b");
  io.emit("bin", Buffer.from([1, 2, 3]), { nested: Buffer.from("xyz") });
  io.emit("unicode", "héllo wörld ✓ 😀", { "ключ": "значение" });
  io.emit("numbers", 0, 127, 128, 65536, 4294967296, -1, -129, -2147483649, 0.1, 1e21, 2 ** 53);
  admin.to("adm").emit("admin-ev", { deep: { er: [1, { x: "y" }] } });
  io.adapter && (await flush());
  await io.fetchSockets().catch(() => {});
  io.of("/").adapter.allRooms().catch(() => {});
  io.socketsJoin("newroom");
  io.in("room1").except("room2").socketsLeave("gone");
  io.in("room1").disconnectSockets(true);
  io.serverSideEmit("sse", "a", 1);
  io.serverSideEmit("sse-ack", { q: 1 }, () => {});
  await flush();
  io.timeout(1000).emit("with-ack", "x", () => {});
  io.timeout(1000).to("room1").emit("with-ack-bin", Buffer.from([9, 9]), () => {});
  await flush();
  for (const [i, m] of log.entries()) {
    if (m.channel.includes("-request#")) add("request", "adapter-req-" + i, m.msg, descRequest(m.msg), 1);
    else add("broadcast", "adapter-" + i, m.msg, descBroadcast(m.msg), 1);
  }

  // responses: feed requests to a second adapter and record what it publishes
  const rlog = [];
  const pub2 = new FakeRedis(rlog);
  const io2 = new Server();
  io2.adapter(createAdapter(pub2, new FakeRedis([])));
  const ad2 = io2.of("/").adapter;
  ad2.addAll("sidAAAAAAAAAAAAAAAAA", new Set(["sidAAAAAAAAAAAAAAAAA", "room1", "日本"]));
  io2.on("sse-ack", (arg, cb) => cb({ pong: arg }));
  const ch = "socket.io-request#/#";
  const reqs = [
    { uid: "abcdef", requestId: "req001", type: 1 },
    { uid: "abcdef", requestId: "req002", type: 5, opts: { rooms: [], except: [] } },
    { requestId: "req003", type: 0, rooms: ["room1"] },
    { uid: "abcdef", requestId: "req004", type: 6, data: ["sse-ack", 42] },
  ];
  for (const r of reqs) {
    const m = Buffer.from(JSON.stringify(r));
    add("request", "in-type-" + r.type, m, descRequest(m), 1);
    await ad2.onrequest(ch, m);
  }
  const bq = notepack.encode({ uid: "abcdef", requestId: "req005", type: 7, packet: { type: 2, data: ["ev", Buffer.from([5])], nsp: "/" }, opts: { rooms: [], except: [], flags: { timeout: 1000 } } });
  await ad2.onrequest(ch, bq);
  await flush();
  for (const [i, m] of rlog.entries()) add("response", "response-" + i, m.msg, descResponse(m.msg), 1);
  const ack = notepack.encode({ type: 9, requestId: "req005", packet: { ok: true, b: Buffer.from([1]) } });
  add("response", "broadcast-ack", ack, descResponse(ack), 1);
  const ack2 = notepack.encode({ type: 9, requestId: "req006", packet: undefined });
  add("response", "broadcast-ack-empty", ack2, descResponse(ack2), 1);
  const legacy = Buffer.from(JSON.stringify({ requestId: "req007" }));
  add("response", "legacy-ack", legacy, descResponse(legacy), 1);
  const sse0 = Buffer.from(JSON.stringify({ type: 6, requestId: "req008" }));
  add("response", "sse-no-data", sse0, descResponse(sse0), 1);
  // legacy request forms (socket.io-redis 5.x shapes, written in our key order)
  for (const r of [
    { uid: "abcdef", requestId: "req010", type: 2, sid: "sid1", room: "r" },
    { uid: "abcdef", requestId: "req011", type: 3, sid: "sid1", room: "r" },
    { uid: "abcdef", requestId: "req012", type: 4, sid: "sid1", close: true },
  ]) {
    const m = Buffer.from(JSON.stringify(r));
    add("request", "legacy-type-" + r.type, m, descRequest(m), 1);
  }
  const oddReq = Buffer.from(JSON.stringify({ type: 2, room: 5, rooms: [1, 2.5, "x"], opts: { rooms: null, flags: { volatile: 1, compress: "", timeout: "no" } } }));
  add("request", "odd-types", oddReq, descRequest(oddReq), 0);

  // ---- sharded adapter
  const slog = [];
  const spub = new FakeRedis(slog);
  const sio = new Server();
  sio.adapter(createShardedAdapter(spub, new FakeRedis([])));
  const sad = sio.of("/").adapter;
  sio.emit("hi", "there");
  sio.to("room1").emit("room", 1);
  sio.to(["a", "b"]).except("c").volatile.emit("multi", { x: [1] });
  sio.emit("bin", Buffer.from([1, 2]));
  sio.socketsJoin("j");
  sio.in("a").socketsLeave("l");
  sio.disconnectSockets(true);
  await sio.fetchSockets().catch(() => {});
  sio.serverSideEmit("sse", 1);
  sio.serverSideEmit("sse-ack", () => {});
  sio.serverSideEmit("sse-bin", Buffer.from([3]));
  sio.timeout(500).emit("ack", () => {});
  sio.of("/admin").emit("admin-ev", "z");
  await flush();
  // responses, published the way ClusterAdapter.publishResponse does
  sad.publishResponse("0011223344556677", { type: 8, data: { requestId: "r1", sockets: [{ id: "s1", handshake: { query: {} }, rooms: ["s1"], data: {} }] } });
  sad.publishResponse("0011223344556677", { type: 10, data: { requestId: "r2", packet: "pong" } });
  sad.publishResponse("0011223344556677", { type: 10, data: { requestId: "r3", packet: Buffer.from([1]) } });
  sad.publishResponse("0011223344556677", { type: 11, data: { requestId: "r4", clientCount: 3 } });
  sad.publishResponse("0011223344556677", { type: 12, data: { requestId: "r5", packet: { a: 1 } } });
  sad.publishResponse("0011223344556677", { type: 12, data: { requestId: "r6", packet: undefined } });
  sad.publish({ type: 13 });
  sad.publish({ type: 1 });
  await flush();
  for (const [i, m] of slog.entries()) add("shard", "shard-" + i, m.msg, descShard(m.msg), 1);

  const dir = dirname(fileURLToPath(import.meta.url));
  writeFileSync(join(dir, "vectors.tsv"), out.join("\n") + "\n");
  // PROTOCOL.md §5.1 example bytes, verbatim
  const spec = "93a7656d6974746572" + "83a474797065" + "02" + "a464617461" + "92a26869a57468657265" + "a36e7370a12f" +
    "83a5726f6f6d7390a5666c61677380a6657863657074" + "90";
  writeFileSync(join(dir, "spec_emit_hi_there.hex"), spec + "\n");
  // fuzz seeds: every message (and value/JSON text) of at most 2 KiB
  const corpus = join(dir, "..", "..", "fuzz", "corpus", "adapter_msg");
  mkdirSync(corpus, { recursive: true });
  for (const line of out) {
    const [kind, name, h] = line.split("\t");
    const b = Buffer.from(h, "hex");
    if (b.length <= 2048) writeFileSync(join(corpus, kind + "-" + name), b);
  }
  writeFileSync(join(corpus, "spec-emit-hi-there"), Buffer.from(spec, "hex"));
  console.log(out.length + " vectors");
  process.exit(0);
}

main();
