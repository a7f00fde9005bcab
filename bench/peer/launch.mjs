#!/usr/bin/env node
// Runs the Node.js Socket.IO peer on its own: N workers of bench/peer/server.mjs
// (socket.io 4.8, chat app, JWT, perMessageDeflate off, bufferutil and
// utf-8-validate add-ons), a redis-server for the @socket.io/redis-adapter when
// N > 1, and HAProxy in front (cookie + source-address stickiness) unless
// --direct. Prints one JSON line {urls, pids, ...} and keeps running until
// SIGINT/SIGTERM, then stops every process it started, by PID.
//
//   node bench/peer/launch.mjs [--workers N] [--direct] [--jwt-secret S] [--ping-interval MS] [--log-dir DIR]
//
// bench/compare uses the same code (bench/lib/cluster.mjs) in-process.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startCluster } from "../lib/cluster.mjs";

const args = process.argv.slice(2);
const opt = { workers: 2, proxy: true, secret: process.env.JWT_SECRET || "", pingInterval: 0, logDir: "" };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === "--workers") opt.workers = Number(args[++i]);
  else if (a === "--direct") opt.proxy = false;
  else if (a === "--jwt-secret") opt.secret = args[++i];
  else if (a === "--ping-interval") opt.pingInterval = Number(args[++i]);
  else if (a === "--log-dir") opt.logDir = args[++i];
  else {
    process.stderr.write(
      "usage: launch.mjs [--workers N] [--direct] [--jwt-secret S] [--ping-interval MS] [--log-dir DIR]\n",
    );
    process.exit(a === "--help" || a === "-h" ? 0 : 2);
  }
}
if (!(opt.workers >= 1)) {
  process.stderr.write("launch.mjs: --workers must be >= 1\n");
  process.exit(2);
}
opt.logDir = opt.logDir || mkdtempSync(path.join(tmpdir(), "sioc-peer-"));
const c = await startCluster("peer", opt);
process.stdout.write(
  JSON.stringify({ urls: c.urls, workerPids: c.workerPids, proxyPid: c.proxyPid, redisPid: c.redisPid, logDir: opt.logDir, topology: c.topology }) + "\n",
);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await c.stop();
  process.exit(0);
};
process.removeAllListeners("SIGINT");
process.removeAllListeners("SIGTERM");
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
setInterval(() => {}, 1 << 30);
