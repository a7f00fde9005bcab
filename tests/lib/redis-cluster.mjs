// A local Redis Cluster for the tests and the bench: N cluster-enabled redis-servers on
// free 127.0.0.1 ports (each with its cluster bus on a free port of its own, so the
// default port + 10000 never leaves the range or meets another process), joined by
// `redis-cli --cluster create`, ready once every node reports cluster_state:ok, knows
// all the others and sees every replica attached (cluster_state:ok comes first: the
// replicas are still primaries without slots then). Every node is a startRedis() process tracked by PID; stop()
// stops them all. Needs redis-server 7.0+ (--cluster-port).

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { HOST, freePort, sleep, startRedis } from "./proc.mjs";

/** CLUSTER INFO of `node` (a startRedis handle) as an object, or null when it does not answer. */
export async function clusterInfo(node) {
  const text = await node.query(["CLUSTER", "INFO"], 1000);
  if (typeof text !== "string") return null;
  return Object.fromEntries(text.split(/\r?\n/).filter(Boolean).map((l) => l.split(":")));
}

/**
 * CLUSTER NODES as seen by `node`: [{id, port, flags: [...], primary (id or null),
 * slots: ["0-5460", ...]}].
 */
export async function clusterNodes(node) {
  const text = await node.query(["CLUSTER", "NODES"], 1000);
  if (typeof text !== "string") return [];
  return text.split(/\r?\n/).filter(Boolean).map((l) => {
    const f = l.split(" ");
    return {
      id: f[0], port: Number(f[1].split("@")[0].split(":").pop()), flags: f[2].split(","),
      primary: f[3] === "-" ? null : f[3], slots: f.slice(8),
    };
  });
}

function run(cmd, args) {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    c.stdout.on("data", (d) => (out += d));
    c.stderr.on("data", (d) => (out += d));
    c.on("close", (code) => resolve({ code, out }));
    c.on("error", (e) => resolve({ code: -1, out: String(e) }));
  });
}

/**
 * Starts a cluster of `nodes` redis-servers with `replicas` replicas per primary
 * (nodes 6, replicas 1: 3 primaries + 3 replicas). `logFile(port)` as for startRedis.
 * Resolves {nodes (startRedis handles), ports, pids, url (the seed list
 * redis://127.0.0.1:p1,...), primaries() (the handles of the nodes flagged master),
 * stop()}. On failure everything started is stopped and the error thrown.
 */
export async function startRedisCluster({ nodes = 6, replicas = 1, logFile, nodeTimeoutMs = 5000 } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "sioc-rcluster-"));
  const started = [];
  const stop = async () => {
    await Promise.all(started.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < nodes; i++) {
      const port = await freePort();
      const bus = await freePort();
      started.push(await startRedis({
        port, logFile,
        extraArgs: ["--cluster-enabled", "yes", "--cluster-port", String(bus), "--dir", dir,
          "--cluster-config-file", `nodes-${port}.conf`, "--cluster-node-timeout", String(nodeTimeoutMs)],
      }));
    }
    const addrs = started.map((n) => `${HOST}:${n.port}`);
    const r = await run("redis-cli", ["--cluster", "create", ...addrs, "--cluster-replicas", String(replicas), "--cluster-yes"]);
    if (r.code !== 0) throw new Error(`redis-cli --cluster create failed:\n${r.out}`);
    const wantReplicas = nodes - Math.floor(nodes / (replicas + 1));
    const deadline = Date.now() + 30000;
    for (;;) {
      const infos = await Promise.all(started.map(clusterInfo));
      const views = await Promise.all(started.map(clusterNodes));
      if (infos.every((i) => i && i.cluster_state === "ok" && Number(i.cluster_known_nodes) === nodes) &&
          views.every((v) => v.filter((n) => n.flags.includes("slave")).length === wantReplicas)) break;
      if (Date.now() > deadline) throw new Error(`the cluster did not settle in 30 s: ${JSON.stringify(infos)}`);
      await sleep(100);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    nodes: started,
    ports: started.map((n) => n.port),
    get pids() {
      return started.map((n) => n.pid);
    },
    url: `redis://${started.map((n) => `${HOST}:${n.port}`).join(",")}`,
    async primaries() {
      const list = await clusterNodes(started[0]);
      const ports = new Set(list.filter((n) => n.flags.includes("master") && !n.flags.includes("fail")).map((n) => n.port));
      return started.filter((n) => ports.has(n.port));
    },
    stop,
  };
}
