// Start and stop the server under test.
//
// The command comes from SIOC_WORKER_CMD (a command line split on blanks, with
// simple '...' / "..." quoting), default <repo>/build/release/worker/sioc-worker.
// It runs with the repository root as working directory, so relative commands
// such as `node bench/peer/server.mjs` work from anywhere.
//
// SIOC_PEER=node marks the Node reference peer (bench/peer/server.mjs); it is
// also assumed when SIOC_PEER is unset and the command runs bench/peer/server.mjs.
// Only tests for documented deviations of Node from the contract look at it.
//
// Processes are started and tracked by tests/lib/proc.mjs: stop() sends SIGTERM,
// then SIGKILL after a deadline, and none outlives the test file.

import path from "node:path";
import { HOST, REPO_ROOT, cleanEnv, flagsToArgs, freePort, rssKiB, spawnProcess, splitCommand, waitHttp } from "../../lib/proc.mjs";

export { HOST, REPO_ROOT, flagsToArgs, freePort, splitCommand };

/** Environment variables of the worker contract: never inherited from the test environment. */
export const CONTRACT_ENV = [
  "HOST", "PORT", "ADMIN_HOST", "ADMIN_PORT", "SIO_PATH", "APP", "NAMESPACES", "PING_INTERVAL", "PING_TIMEOUT",
  "CONNECT_TIMEOUT", "UPGRADE_TIMEOUT", "MAX_HTTP_BUFFER_SIZE", "CORS_ORIGIN", "IO_COOKIE",
  "JWT_SECRET", "JWT_ALG", "JWT_PUBLIC_KEY", "JWT_LEEWAY", "MAX_CONNECTIONS", "MAX_CONNECTIONS_PER_IP",
  "MAX_OUTPUT_BUFFER", "ACK_TIMEOUT", "MAX_DISCONNECTION_DURATION", "MAX_EVENTS_PER_SECOND", "REDIS_URL", "REDIS_TLS_CA", "REDIS_TLS_CERT", "REDIS_TLS_KEY", "REDIS_SENTINEL_USER", "REDIS_SENTINEL_PASSWORD", "ADAPTER_MODE", "REDIS_KEY",
  "REDIS_STREAM", "REDIS_STREAM_COUNT", "REDIS_STREAM_MAXLEN", "ADAPTER_QUEUE_MAX", "ADAPTER_QUEUE_BYTES",
  "REQUESTS_TIMEOUT", "WORKER_ID", "ADVERTISE", "DRAIN_TIMEOUT", "HEAD_TIMEOUT", "KEEPALIVE_TIMEOUT",
  "SERVE_CLIENT", "CHAT_PAGE", "DEV_TOKEN_ENDPOINT", "LOG_LEVEL", "MAX_ROOMS_PER_SOCKET", "MAX_PENDING_SESSIONS_PER_IP",
  "MAX_DISCONNECTION_DURATION", "MAX_HEAD_SIZE", "MAX_HEADERS", "SSE", "SSE_HEARTBEAT", "SSE_MAX_ROOMS", "NAMESPACE_PATTERN", "MAX_DYNAMIC_NAMESPACES",
  "HTTP_COMPRESSION", "HTTP_COMPRESSION_THRESHOLD", "PER_MESSAGE_DEFLATE", "PER_MESSAGE_DEFLATE_THRESHOLD",
  "PARSER",
  "ADMIN_UI", "ADMIN_UI_USER", "ADMIN_UI_PASSWORD_HASH", "ADMIN_UI_NO_AUTH", "ADMIN_UI_READONLY",
  "ADMIN_UI_DIR", "ADMIN_UI_PATH", "HANDOFF_PATH",
];

export function workerCommand() {
  const s = process.env.SIOC_WORKER_CMD;
  if (s && s.trim()) return splitCommand(s);
  return [path.join(REPO_ROOT, "build/release/worker/sioc-worker")];
}

/** The build directory of the worker under test (<dir>/worker/sioc-worker), where the
 * proxy and sioc-token are taken from; build/release for the Node peer. */
export function buildDir() {
  const bin = [...workerCommand()].reverse().find((a) => a.endsWith("sioc-worker"));
  return bin ? path.resolve(REPO_ROOT, path.dirname(bin), "..") : path.join(REPO_ROOT, "build/release");
}

/** True when the server under test is the Node reference peer. */
export const IS_NODE_PEER =
  process.env.SIOC_PEER !== undefined
    ? process.env.SIOC_PEER === "node"
    : workerCommand().some((a) => a.endsWith("bench/peer/server.mjs"));

/**
 * Start a worker. `flags`: object {"ping-interval": 300, cookie: true, ...} or an
 * argv array; --host/--port are added unless `noHostPort` (then pass them via env).
 * `env`: extra environment. Resolves once GET /health answers 200 "ok".
 */
export async function startServer({ flags = {}, env = {}, port, noHostPort = false, startTimeoutMs = 10000 } = {}) {
  port = port ?? (await freePort());
  const cmd = workerCommand();
  const args = [...cmd];
  if (!noHostPort) args.push("--host", HOST, "--port", String(port));
  args.push(...flagsToArgs(flags));
  const h = spawnProcess("worker", args, { env: cleanEnv(CONTRACT_ENV, { LOG_LEVEL: "warn", ...env }) });
  const server = Object.assign(h, {
    host: HOST,
    port,
    url: `http://${HOST}:${port}`,
    /** Resident set size of the server process in KiB. */
    rssKiB: () => rssKiB(h.pid),
  });
  await waitHttp(h, port, "/health", {
    timeoutMs: startTimeoutMs,
    stepMs: 50,
    what: `server (${args.join(" ")})`,
    ok: (r) => r.status === 200 && r.body.trim() === "ok",
  });
  return server;
}

/** Stop several servers (ignores nulls). For `after` hooks. */
export async function stopAll(...servers) {
  await Promise.all(servers.flat().filter(Boolean).map((s) => s.stop()));
}
