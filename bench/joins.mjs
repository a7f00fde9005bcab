// Worker CPU for N join-room events from one socket (the chat app), to show that joining
// many rooms costs O(1) each: `node bench/joins.mjs 60000 [worker-binary]`.
// Starts its own worker on a free loopback port and stops it.

import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { startServer, stopAll, workerCommand } from "../tests/integration/lib/server.mjs";
import { makeToken, TEST_SECRET } from "../tests/integration/lib/token.mjs";
import { cpuSeconds } from "../tests/lib/proc.mjs";

const require = createRequire(new URL("../tests/package.json", import.meta.url));
const { io } = require("socket.io-client");
const N = Number(process.argv[2] || 20000);
if (process.argv[3]) process.env.SIOC_WORKER_CMD = process.argv[3];

const [cmd, ...args] = workerCommand();
const help = execFileSync(cmd, [...args, "--help"], { encoding: "utf8" });
const flags = { app: "chat", "jwt-secret": TEST_SECRET };
if (help.includes("--max-rooms-per-socket")) flags["max-rooms-per-socket"] = 0; // no cap here
const server = await startServer({ flags });
const cpuMs = () => cpuSeconds(server.pid) * 1000;
const s = io(server.url, { transports: ["websocket"], auth: { token: makeToken() } });
await new Promise((r) => s.on("connect", r));
const c0 = cpuMs();
const t0 = Date.now();
for (let i = 0; i < N; i++) s.emit("join-room", `room-${i}`);
await new Promise((r) => s.emit("join-room", "last", r));
console.log(JSON.stringify({ joins: N, worker_cpu_ms: cpuMs() - c0, wall_ms: Date.now() - t0 }));
s.close();
await stopAll(server);
