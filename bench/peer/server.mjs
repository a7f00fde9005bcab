#!/usr/bin/env node
// Node.js reference implementation of the sioc-worker command-line contract.
//
// Two uses:
//   - oracle for the integration tests in tests/integration/ (run them with
//     SIOC_PEER=node SIOC_WORKER_CMD="node bench/peer/server.mjs"), so the tests
//     can be checked against stock socket.io before sioc-worker exists;
//   - the Node peer that the benchmark compares sioc-worker with.
//
// Same flags, environment variables (flags win) and apps (chat, echo) as
// sioc-worker. Built on socket.io 4.8 / engine.io 6.6 with perMessageDeflate off (unless asked);
// ws picks up the bufferutil and utf-8-validate native add-ons by itself when
// they are installed.
//
// Packages are resolved from tests/node_modules (run `npm ci` in tests/ first):
// createRequire() is anchored at tests/package.json, so this file works from any
// working directory and needs no node_modules of its own.
//
// Deliberate choices where the contract leaves room:
//   - echo app with a path of /engine.io/ = plain Engine.IO (no Socket.IO layer),
//     every message echoed; any other path = the Socket.IO echo app.
//   - chat app: `send-message` requires an object {roomId, msg} with a "msg" key
//     (any JSON value, binary included); the sender need not be a member.
//   - --max-connections / --max-connections-per-ip refuse new handshakes with
//     engine.io's allowRequest (HTTP 403, code 4 "Forbidden").
//   - --max-output-buffer: bytes queued in engine.io's write buffer plus the
//     bytes ws has not handed to the kernel; over the cap the connection is
//     terminated at once.
//   - --ack-timeout is accepted but unused: no app event asks the client for an ack.
//   - --advertise is accepted and ignored (sioc uses it for discovery).
//   - /ready: 200 when Redis (if configured) is connected and not stopping;
//     /metrics: a small Prometheus subset (connections, Redis publishes and
//     publishes dropped while Redis was unreachable: those are dropped, not queued).
//   - --max-events-per-second: events over the limit in a 1 s window are
//     dropped; over twice the limit the socket is disconnected.

import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";

const require = createRequire(new URL("../../tests/package.json", import.meta.url));

// ---------------------------------------------------------------- options

const OPTIONS = [
  // [flag, env, default, kind, help]
  ["host", "HOST", "127.0.0.1", "string", "listen address"],
  ["port", "PORT", "3000", "int", "listen port"],
  ["path", "SIO_PATH", "/socket.io/", "string", "Engine.IO path"],
  ["app", "APP", "chat", "string", "application: chat | echo"],
  ["namespaces", "NAMESPACES", "", "string", "extra namespaces, comma-separated"],
  ["ping-interval", "PING_INTERVAL", "25000", "int", "ms"],
  ["ping-timeout", "PING_TIMEOUT", "20000", "int", "ms"],
  ["connect-timeout", "CONNECT_TIMEOUT", "45000", "int", "ms"],
  ["upgrade-timeout", "UPGRADE_TIMEOUT", "10000", "int", "ms"],
  ["max-http-buffer-size", "MAX_HTTP_BUFFER_SIZE", "1000000", "int", "bytes"],
  ["cors-origin", "CORS_ORIGIN", "", "string", '"*" or comma-separated exact origins'],
  ["cookie", "IO_COOKIE", "", "bool", "send the io cookie"],
  ["http-compression", "HTTP_COMPRESSION", "1", "bool", "engine.io httpCompression (polling bodies)"],
  ["http-compression-threshold", "HTTP_COMPRESSION_THRESHOLD", "1024", "int", "bytes"],
  ["per-message-deflate", "PER_MESSAGE_DEFLATE", "", "bool", "engine.io perMessageDeflate"],
  ["per-message-deflate-threshold", "PER_MESSAGE_DEFLATE_THRESHOLD", "1024", "int", "bytes"],
  ["parser", "PARSER", "default", "string", "default | msgpack (socket.io-msgpack-parser)"],
  ["jwt-secret", "JWT_SECRET", "", "string", "HS256 secret"],
  ["jwt-alg", "JWT_ALG", "HS256", "string", "HS256 | RS256 | ES256 (pinned)"],
  ["jwt-public-key", "JWT_PUBLIC_KEY", "", "string", "PEM public key file for RS256/ES256"],
  ["max-connections", "MAX_CONNECTIONS", "10000", "int", "total connections"],
  ["max-connections-per-ip", "MAX_CONNECTIONS_PER_IP", "0", "int", "0 = off"],
  ["max-output-buffer", "MAX_OUTPUT_BUFFER", "1048576", "int", "per-connection queued output cap (bytes)"],
  ["ack-timeout", "ACK_TIMEOUT", "10000", "int", "server-to-client ack timeout (ms)"],
  ["redis-url", "REDIS_URL", "", "string", "redis://[:password@]host:port[/db]"],
  ["adapter-mode", "ADAPTER_MODE", "classic", "string", "classic (createAdapter) | sharded (createShardedAdapter, dynamic) | streams (@socket.io/redis-streams-adapter)"],
  ["redis-key", "REDIS_KEY", "socket.io", "string", "channel prefix shared with other adapters"],
  ["redis-stream", "REDIS_STREAM", "socket.io", "string", "streams mode: stream name"],
  ["redis-stream-count", "REDIS_STREAM_COUNT", "1", "int", "streams mode: streamCount"],
  ["redis-stream-maxlen", "REDIS_STREAM_MAXLEN", "10000", "int", "streams mode: maxLen"],
  ["max-disconnection-duration", "MAX_DISCONNECTION_DURATION", "0", "int", "connectionStateRecovery window (ms, 0 = off; middlewares run again)"],
  ["requests-timeout", "REQUESTS_TIMEOUT", "5000", "int", "ms to wait for other workers' answers"],
  ["jwt-leeway", "JWT_LEEWAY", "0", "int", "seconds of clock skew allowed on exp / nbf"],
  ["max-events-per-second", "MAX_EVENTS_PER_SECOND", "0", "int", "events a socket may send per second (0 = no limit)"],
  ["advertise", "ADVERTISE", "", "string", "host:port announced for discovery (ignored here)"],
  ["drain-timeout", "DRAIN_TIMEOUT", "10000", "int", "ms given to clients to leave on SIGTERM"],
  ["worker-id", "WORKER_ID", "", "string", "worker id (random when empty)"],
  ["log-level", "LOG_LEVEL", "info", "string", "error | warn | info | debug"],
];

function usage() {
  const lines = ["usage: server.mjs [options]", ""];
  for (const [flag, env, def, kind, help] of OPTIONS) {
    const arg = kind === "bool" ? "" : " V";
    lines.push(`  --${flag}${arg}`.padEnd(30) + `${env}`.padEnd(24) + `${help}` + (def ? ` (default ${def})` : ""));
  }
  lines.push("  --help".padEnd(30) + "".padEnd(24) + "this text");
  lines.push("", "GET /health answers 200 ok. SIGTERM stops gracefully.");
  return lines.join("\n") + "\n";
}

function fail(msg) {
  process.stderr.write(`server.mjs: ${msg}\n`);
  process.exit(2);
}

function parseOptions(argv, env) {
  const raw = {};
  for (const [flag, envName, def] of OPTIONS) {
    raw[flag] = env[envName] !== undefined && env[envName] !== "" ? env[envName] : def;
  }
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(usage());
      process.exit(0);
    }
    if (!arg.startsWith("--")) fail(`unexpected argument ${arg}`);
    arg = arg.slice(2);
    let value;
    const eq = arg.indexOf("=");
    if (eq >= 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const spec = OPTIONS.find((o) => o[0] === arg);
    if (!spec) fail(`unknown option --${arg}`);
    if (spec[3] === "bool") {
      raw[arg] = value === undefined ? "1" : value;
    } else {
      if (value === undefined) {
        if (i + 1 >= argv.length) fail(`--${arg} needs a value`);
        value = argv[++i];
      }
      raw[arg] = value;
    }
  }
  const opts = {};
  for (const [flag, , , kind] of OPTIONS) {
    const key = flag.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const v = raw[flag];
    if (kind === "int") {
      if (!/^\d+$/.test(String(v))) fail(`--${flag}: not a non-negative integer: ${v}`);
      opts[key] = Number(v);
    } else if (kind === "bool") {
      opts[key] = v === "1" || v === "true" || v === "yes";
    } else {
      opts[key] = String(v);
    }
  }
  if (!["chat", "echo"].includes(opts.app)) fail(`--app: unknown app ${opts.app}`);
  if (!["default", "msgpack"].includes(opts.parser)) fail(`--parser: expected default or msgpack`);
  if (!["HS256", "RS256", "ES256"].includes(opts.jwtAlg)) fail(`--jwt-alg: unsupported ${opts.jwtAlg}`);
  if (!["error", "warn", "info", "debug"].includes(opts.logLevel)) fail(`--log-level: unknown ${opts.logLevel}`);
  if (!["classic", "sharded", "streams"].includes(opts.adapterMode)) fail(`--adapter-mode: unknown ${opts.adapterMode}`);
  if (!opts.path.startsWith("/")) fail("--path must start with /");
  opts.namespaceList = opts.namespaces
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s && s !== "/");
  for (const n of opts.namespaceList) if (!n.startsWith("/")) fail(`--namespaces: ${n} must start with /`);
  if (!opts.workerId) opts.workerId = Math.random().toString(36).slice(2, 10);
  return opts;
}

const opts = parseOptions(process.argv.slice(2), process.env);

const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 };
function log(level, msg) {
  if (LEVELS[level] <= LEVELS[opts.logLevel]) {
    process.stderr.write(`${new Date().toISOString()} ${level} [${opts.workerId}] ${msg}\n`);
  }
}

// ---------------------------------------------------------------- engine options

function corsOption() {
  if (!opts.corsOrigin) return undefined;
  if (opts.corsOrigin === "*") return { origin: "*" };
  const list = opts.corsOrigin.split(",").map((s) => s.trim()).filter(Boolean);
  return { origin: list, credentials: true };
}

let totalConnections = 0;
const perIp = new Map();

function allowRequest(req, cb) {
  if (opts.maxConnections > 0 && totalConnections >= opts.maxConnections) {
    return cb("Server full", false);
  }
  if (opts.maxConnectionsPerIp > 0) {
    const ip = req.socket.remoteAddress;
    if ((perIp.get(ip) || 0) >= opts.maxConnectionsPerIp) return cb("Too many connections", false);
  }
  cb(null, true);
}

const engineOptions = {
  pingInterval: opts.pingInterval,
  pingTimeout: opts.pingTimeout,
  upgradeTimeout: opts.upgradeTimeout,
  maxHttpBufferSize: opts.maxHttpBufferSize,
  perMessageDeflate: opts.perMessageDeflate ? { threshold: opts.perMessageDeflateThreshold } : false,
  httpCompression: opts.httpCompression ? { threshold: opts.httpCompressionThreshold } : false,
  cookie: opts.cookie ? { name: "io", path: "/", httpOnly: true, sameSite: "lax" } : false,
  cors: corsOption(),
  allowRequest,
};

function byteSize(data) {
  if (typeof data === "string") return Buffer.byteLength(data);
  if (data && typeof data.byteLength === "number") return data.byteLength;
  return 0;
}

// Connection accounting and the per-connection output cap, for any engine.io
// server (plain or under socket.io).
function watchEngine(engine) {
  engine.on("connection", (sock) => {
    const ip = sock.request.socket.remoteAddress;
    totalConnections++;
    perIp.set(ip, (perIp.get(ip) || 0) + 1);
    sock.once("close", () => {
      totalConnections--;
      const n = perIp.get(ip) - 1;
      if (n > 0) perIp.set(ip, n);
      else perIp.delete(ip);
    });

    if (opts.maxOutputBuffer <= 0) return;
    let queued = 0; // bytes in sock.writeBuffer
    let dropped = false;
    sock.on("drain", () => {
      queued = 0; // the write buffer was just handed to the transport
    });
    sock.on("packetCreate", (packet) => {
      if (dropped) return;
      queued += byteSize(packet.data) + 1;
      const t = sock.transport;
      const inTransport = t && t.name === "websocket" && t.socket ? t.socket.bufferedAmount : 0;
      if (queued + inTransport > opts.maxOutputBuffer) {
        dropped = true;
        log("warn", `dropping ${sock.id}: ${queued + inTransport} bytes queued > ${opts.maxOutputBuffer}`);
        if (t && t.name === "websocket" && t.socket) t.socket.terminate();
        sock.close(true);
      }
    });
  });
}

// ---------------------------------------------------------------- JWT

let jwtKey = null;
if (opts.jwtAlg === "HS256") {
  if (opts.jwtSecret) jwtKey = opts.jwtSecret;
} else {
  if (!opts.jwtPublicKey) fail(`--jwt-alg ${opts.jwtAlg} needs --jwt-public-key`);
  jwtKey = readFileSync(opts.jwtPublicKey, "utf8");
}

function jwtMiddleware(jwt) {
  return (socket, next) => {
    const token = socket.handshake.auth && socket.handshake.auth.token;
    if (typeof token !== "string" || token === "") return next(new Error("Authentication error"));
    let claims;
    try {
      claims = jwt.verify(token, jwtKey, { algorithms: [opts.jwtAlg], clockTolerance: opts.jwtLeeway });
    } catch (err) {
      log("debug", `jwt refused: ${err.message}`);
      return next(new Error("Authentication error"));
    }
    socket.data.user = claims.sub;
    if (typeof claims.exp === "number") {
      const ms = Math.min((claims.exp + opts.jwtLeeway) * 1000 - Date.now(), 2 ** 31 - 1);
      const timer = setTimeout(() => {
        log("debug", `token of ${socket.id} expired`);
        socket.disconnect();
      }, Math.max(ms, 0));
      socket.once("disconnect", () => clearTimeout(timer));
    }
    next();
  };
}

// ---------------------------------------------------------------- apps

function splitAck(args) {
  return typeof args[args.length - 1] === "function" ? args.pop() : undefined;
}

function validRoom(roomId) {
  return typeof roomId === "string" && roomId.length > 0 && Buffer.byteLength(roomId) <= 256;
}

function rateLimit(socket) {
  if (opts.maxEventsPerSecond <= 0) return;
  let windowStart = 0;
  let count = 0;
  socket.use((_packet, next) => {
    const now = Date.now();
    if (now - windowStart >= 1000) {
      windowStart = now;
      count = 0;
    }
    if (++count <= opts.maxEventsPerSecond) return next();
    if (count > 2 * opts.maxEventsPerSecond) socket.disconnect(true);
    // dropped: next() is not called
  });
}

function describeSockets(list) {
  return list.map((s) => ({ id: s.id, data: s.data || {} }));
}

function setupChat(nsp) {
  nsp.on("connection", (socket) => {
    rateLimit(socket);
    socket.onAny((event, ...args) => {
      const known = ["join-room", "leave-room", "send-message", "list-members", "list-rooms"];
      const ack = typeof args[args.length - 1] === "function" ? args[args.length - 1] : undefined;
      if (!known.includes(event) && ack) ack({ ok: false, error: "unknown event" });
    });
    socket.on("list-members", async (...args) => {
      const ack = splitAck(args);
      if (!ack) return;
      if (!validRoom(args[0])) return ack({ ok: false, error: "invalid roomId" });
      try {
        ack({ ok: true, complete: true, sockets: describeSockets(await nsp.in(args[0]).fetchSockets()) });
      } catch {
        ack({ ok: true, complete: false, sockets: describeSockets(await nsp.local.in(args[0]).fetchSockets()) });
      }
    });
    socket.on("list-rooms", async (...args) => {
      const ack = splitAck(args);
      if (!ack) return;
      try {
        ack({ ok: true, complete: true, rooms: [...(await nsp.adapter.allRooms())] });
      } catch {
        ack({ ok: true, complete: false, rooms: [...nsp.adapter.rooms.keys()] });
      }
    });
    socket.on("join-room", (...args) => {
      const ack = splitAck(args);
      if (!validRoom(args[0])) return ack && ack({ ok: false, error: "invalid roomId" });
      socket.join(args[0]);
      if (ack) ack({ ok: true });
    });
    socket.on("leave-room", (...args) => {
      const ack = splitAck(args);
      if (!validRoom(args[0])) return ack && ack({ ok: false, error: "invalid roomId" });
      socket.leave(args[0]);
      if (ack) ack({ ok: true });
    });
    socket.on("send-message", (...args) => {
      const ack = splitAck(args);
      const m = args[0];
      if (m === null || typeof m !== "object" || Array.isArray(m) || Buffer.isBuffer(m) || m instanceof ArrayBuffer) {
        return ack && ack({ ok: false, error: "expected {roomId, msg}" });
      }
      if (!validRoom(m.roomId)) return ack && ack({ ok: false, error: "invalid roomId" });
      if (!("msg" in m)) return ack && ack({ ok: false, error: "missing msg" });
      nsp.to(m.roomId).emit("receive-message", m.msg);
      if (ack) ack({ ok: true });
    });
  });
}

function setupEcho(nsp) {
  nsp.on("connection", (socket) => {
    rateLimit(socket);
    socket.emit("auth", socket.handshake.auth);
    socket.on("message", (...args) => socket.emit("message-back", ...args));
    socket.on("message-with-ack", (...args) => {
      const ack = splitAck(args);
      if (ack) ack(...args);
    });
  });
}

// ---------------------------------------------------------------- server

const stats = { published: 0, publishDropped: 0 };
let redisClients = [];
let stopping = false;

function isReady() {
  return !stopping && redisClients.every((c) => c.isReady);
}

function metricsText() {
  const lines = [
    ["sioc_connections", "gauge", "open Engine.IO sessions", totalConnections],
    ["sioc_ready", "gauge", "1 when /ready answers 200", isReady() ? 1 : 0],
    ["sioc_redis_published_total", "counter", "publishes sent to Redis", stats.published],
    ["sioc_redis_publish_dropped_total", "counter", "Publishes dropped while Redis was unreachable", stats.publishDropped],
  ];
  return lines.map(([n, t, h, v]) => `# HELP ${n} ${h}\n# TYPE ${n} ${t}\n${n} ${v}\n`).join("");
}

const httpServer = createServer((req, res) => {
  const path = req.url.split("?")[0];
  if (req.method === "GET" && path === "/health") {
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": 2 });
    res.end("ok");
    return;
  }
  if (req.method === "GET" && path === "/ready") {
    const ok = isReady();
    res.writeHead(ok ? 200 : 503, { "Content-Type": "text/plain" });
    res.end(ok ? "ready\n" : "not ready\n");
    return;
  }
  if (req.method === "GET" && path === "/metrics") {
    res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
    res.end(metricsText());
    return;
  }
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("not found");
});

const plainEngine = opts.app === "echo" && opts.path.replace(/\/+$/, "") === "/engine.io";
let closeAll;

if (plainEngine) {
  const eio = require("engine.io");
  const engine = eio.attach(httpServer, { ...engineOptions, path: opts.path });
  watchEngine(engine);
  engine.on("connection", (sock) => {
    sock.on("message", (data) => sock.send(data));
  });
  closeAll = (cb) => {
    engine.close();
    httpServer.close(cb);
  };
} else {
  const { Server } = require("socket.io");
  const io = new Server(httpServer, {
    ...engineOptions,
    ...(opts.parser === "msgpack" ? { parser: require("socket.io-msgpack-parser") } : {}),
    path: opts.path,
    serveClient: false,
    connectTimeout: opts.connectTimeout,
    ...(opts.maxDisconnectionDuration > 0
      ? { connectionStateRecovery: { maxDisconnectionDuration: opts.maxDisconnectionDuration, skipMiddlewares: false } }
      : {}),
  });
  watchEngine(io.engine);

  if (opts.redisUrl) {
    const { createClient } = require("redis");
    const { createAdapter, createShardedAdapter } = require("@socket.io/redis-adapter");
    const pub = createClient({ url: opts.redisUrl });
    const sub = pub.duplicate();
    let lastError = 0;
    for (const c of [pub, sub]) {
      c.on("error", (err) => {
        if (Date.now() - lastError > 1000) log("error", `redis: ${err.message}`);
        lastError = Date.now();
      });
    }
    // While Redis is unreachable, publishes are dropped and counted (not queued
    // for later), as sioc-worker does.
    for (const m of ["publish", "sPublish"]) {
      const orig = pub[m].bind(pub);
      pub[m] = (...a) => {
        if (!pub.isReady) {
          stats.publishDropped++;
          return Promise.resolve(0);
        }
        stats.published++;
        return orig(...a).catch(() => {
          stats.publishDropped++;
          return 0;
        });
      };
    }
    await Promise.all([pub.connect(), sub.connect()]);
    const adapterOpts = { requestsTimeout: opts.requestsTimeout };
    if (opts.adapterMode === "streams") {
      const streams = require("@socket.io/redis-streams-adapter");
      io.adapter(
        streams.createAdapter(pub, {
          streamName: opts.redisStream,
          streamCount: opts.redisStreamCount,
          maxLen: opts.redisStreamMaxlen,
          channelPrefix: opts.redisKey,
        }),
      );
    } else {
      io.adapter(
        opts.adapterMode === "sharded"
          ? createShardedAdapter(pub, sub, { channelPrefix: opts.redisKey, subscriptionMode: "dynamic", ...adapterOpts })
          : createAdapter(pub, sub, { key: opts.redisKey, ...adapterOpts }),
      );
    }
    redisClients = [pub, sub];
  }

  const nsps = ["/", ...opts.namespaceList].map((n) => io.of(n));
  if (opts.app === "chat") {
    const jwt = jwtKey ? require("jsonwebtoken") : null;
    for (const nsp of nsps) {
      if (jwt) nsp.use(jwtMiddleware(jwt));
      setupChat(nsp);
    }
  } else {
    for (const nsp of nsps) setupEcho(nsp);
  }
  closeAll = (cb) => io.close(cb);
}

httpServer.on("error", (err) => {
  log("error", `listen ${opts.host}:${opts.port}: ${err.message}`);
  process.exit(1);
});

httpServer.listen(opts.port, opts.host, () => {
  log("info", `listening on ${opts.host}:${opts.port} app=${opts.app} path=${opts.path}${plainEngine ? " (plain engine.io)" : ""}`);
});

function stop(signal) {
  if (stopping) return;
  stopping = true;
  log("info", `${signal}: stopping`);
  const force = setTimeout(() => process.exit(0), 5000);
  force.unref();
  closeAll(async () => {
    for (const c of redisClients) {
      try {
        await c.quit();
      } catch {
        /* already closed */
      }
    }
    process.exit(0);
  });
}
process.on("SIGTERM", () => stop("SIGTERM"));
process.on("SIGINT", () => stop("SIGINT"));
