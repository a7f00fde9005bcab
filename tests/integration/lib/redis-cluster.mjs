// A local Redis Cluster for the tests: redis-server 7 nodes in cluster mode on free
// 127.0.0.1 ports (each with its own directory and an explicit bus port, so a port
// above 55535 does not push the bus port past 65535), joined by
// `redis-cli --cluster create`. Every node is a tests/lib/proc.mjs startRedis() process:
// tracked by PID and killed when the test file ends, even half-way.
//
// The views (primaries(), replicas(), ownerOf()) are built from each live node's own
// line in its CLUSTER NODES ("myself"): a node is the authority on its own role and
// slots, while its view of the others may lag behind a failover or a migration.
//
// Only built-ins and redis-cli: no npm dependency.

import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { HOST, freePort, sleep, startRedis, until } from "../../lib/proc.mjs";

const execFileP = promisify(execFile);

export const SLOTS = 16384;

// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection, as in
// the Redis Cluster specification, "Keys distribution model".
const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

export function crc16(buf) {
  let crc = 0;
  for (const b of buf) crc = ((crc << 8) & 0xffff) ^ CRC16_TABLE[((crc >> 8) ^ b) & 0xff];
  return crc;
}

/** The hash slot of a key (string or Buffer): the {hashtag} rule, then CRC16 mod 16384. */
export function slotOf(key) {
  let b = Buffer.isBuffer(key) ? key : Buffer.from(String(key), "utf8");
  const open = b.indexOf(0x7b); // '{'
  if (open >= 0) {
    const close = b.indexOf(0x7d, open + 1); // '}'
    if (close > open + 1) b = b.subarray(open + 1, close);
  }
  return crc16(b) % SLOTS;
}

/**
 * One line of CLUSTER NODES → {id, host, port, flags (Set), myself, primary (bool),
 * failed, primaryId (or null), linkState, slots ([[from, to], ...]), migrating / importing
 * ({slot: nodeId})}.
 */
export function parseNodeLine(line) {
  const f = line.trim().split(" ");
  const [id, addr, flagStr, master, , , , linkState, ...slotFields] = f;
  const hostPort = addr.split("@")[0];
  const i = hostPort.lastIndexOf(":");
  const flags = new Set(flagStr.split(","));
  const slots = [];
  const migrating = {};
  const importing = {};
  for (const s of slotFields) {
    let m;
    if ((m = /^\[(\d+)->-(\w+)\]$/.exec(s))) migrating[m[1]] = m[2];
    else if ((m = /^\[(\d+)-<-(\w+)\]$/.exec(s))) importing[m[1]] = m[2];
    else if ((m = /^(\d+)-(\d+)$/.exec(s))) slots.push([Number(m[1]), Number(m[2])]);
    else if (/^\d+$/.test(s)) slots.push([Number(s), Number(s)]);
  }
  return {
    id,
    host: hostPort.slice(0, i),
    port: Number(hostPort.slice(i + 1)),
    flags,
    myself: flags.has("myself"),
    primary: flags.has("master"),
    failed: flags.has("fail") || flags.has("fail?"),
    primaryId: master === "-" ? null : master,
    linkState,
    slots,
    migrating,
    importing,
  };
}

export function parseClusterNodes(text) {
  return String(text)
    .split("\n")
    .filter((l) => l.trim())
    .map(parseNodeLine);
}

const infoField = (text, name) => new RegExp(`^${name}:(.*)$`, "m").exec(String(text ?? ""))?.[1]?.trim();

/**
 * Start a Redis Cluster of `primaries` primaries with `replicasPer` replicas each
 * (default 3 + 3), cluster-node-timeout `nodeTimeoutMs`. Resolves once every node reports
 * cluster_state:ok, knows every other node, the slots cover all 16384 and each replica's
 * link to its primary is up. See the returned object's methods below.
 */
export async function startRedisCluster({ primaries = 3, replicasPer = 1, nodeTimeoutMs = 1000, startTimeoutMs = 30000 } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "sioc-rcluster-"));
  const nodes = new Map(); // port -> startRedis handle (+ busPort, dir)
  const c = {
    dir,
    nodes,
    url: "",
    /** Seed address list "127.0.0.1:p1,127.0.0.1:p2,..." (every node, in start order). */
    seeds: "",
    slotOf,
    /** Ports of the nodes that are running. */
    livePorts: () => [...nodes.values()].filter((n) => n.h && n.h.alive()).map((n) => n.port),
    /** One RESP command to the node on `port`; null when it does not answer. */
    query: (port, args, timeoutMs = 2000) => nodes.get(port).query(args, timeoutMs),
    /** redis-cli against the node on `port` (async; resolves stdout, trimmed). */
    async cli(port, ...args) {
      const { stdout } = await execFileP("redis-cli", ["-h", HOST, "-p", String(port), ...args], { encoding: "utf8" });
      return stdout.trim();
    },
    /** Each live node's own line of CLUSTER NODES (nodes that do not answer are left out). */
    async selfViews() {
      const out = [];
      await Promise.all(
        c.livePorts().map(async (port) => {
          const r = await c.query(port, ["CLUSTER", "NODES"]);
          if (typeof r !== "string") return;
          const me = parseClusterNodes(r).find((n) => n.myself);
          if (me) out.push({ ...me, port, pid: nodes.get(port).pid });
        }),
      );
      return out.sort((a, b) => a.port - b.port);
    },
    /** The live primaries (by their own word): [{id, port, pid, slots, ...}]. */
    async primaries() {
      return (await c.selfViews()).filter((n) => n.primary);
    },
    /** The live replicas (by their own word): [{id, port, pid, primaryId, primaryPort, ...}]. */
    async replicas() {
      const views = await c.selfViews();
      const byId = new Map(views.map((n) => [n.id, n]));
      return views.filter((n) => !n.primary).map((n) => ({ ...n, primaryPort: byId.get(n.primaryId)?.port ?? null }));
    },
    /** The live primary that says it serves `slot`, or null. */
    async ownerOf(slot) {
      return (await c.primaries()).find((p) => p.slots.some(([a, b]) => slot >= a && slot <= b)) ?? null;
    },
    /** CLUSTER KEYSLOT as computed by the node on `port` (any live node by default). */
    async keyslot(key, port = c.livePorts()[0]) {
      return c.query(port, ["CLUSTER", "KEYSLOT", key]);
    },
    /**
     * Every live node reports cluster_state:ok, knows every live node with no
     * handshake / fail flags, and the live primaries cover all 16384 slots.
     */
    async healthy() {
      const live = c.livePorts();
      for (const port of live) {
        const info = await c.query(port, ["CLUSTER", "INFO"]);
        if (infoField(info, "cluster_state") !== "ok") return false;
        if (Number(infoField(info, "cluster_slots_assigned")) !== SLOTS || Number(infoField(info, "cluster_slots_ok")) !== SLOTS) return false;
        const view = parseClusterNodes(await c.query(port, ["CLUSTER", "NODES"]));
        for (const p of live) {
          const n = view.find((v) => v.port === p);
          if (!n || n.flags.has("handshake") || n.flags.has("noaddr") || n.failed) return false;
        }
      }
      let covered = 0;
      for (const p of await c.primaries()) for (const [a, b] of p.slots) covered += b - a + 1;
      return covered === SLOTS;
    },
    /** Wait until healthy() and every live replica's link to its primary is up. */
    async waitHealthy(timeoutMs = 20000, label = "cluster healthy") {
      await until(async () => {
        if (!(await c.healthy())) return false;
        for (const r of await c.replicas()) {
          if (infoField(await c.query(r.port, ["INFO", "replication"]), "master_link_status") !== "up") return false;
        }
        return true;
      }, timeoutMs, 100, label);
    },
    /**
     * Move `slot` to the primary on `toPort`, the way redis-cli --cluster reshard does:
     * SETSLOT IMPORTING on the target, MIGRATING on the source, MIGRATE the keys in
     * batches, then SETSLOT NODE on the target, the source and every other primary.
     * `holdMs`: time spent in the MIGRATING / IMPORTING state before the keys move
     * (redirections are ASK in that window). Resolves {from, to, startedAt, doneAt}.
     */
    async migrateSlot(slot, toPort, { holdMs = 0 } = {}) {
      const src = await c.ownerOf(slot);
      if (!src) throw new Error(`no live primary serves slot ${slot}`);
      const prims = await c.primaries();
      const dst = prims.find((p) => p.port === toPort);
      if (!dst) throw new Error(`${toPort} is not a live primary`);
      if (src.port === toPort) throw new Error(`slot ${slot} is on ${toPort} already`);
      const ok = (r, what) => {
        if (r !== "OK") throw new Error(`${what}: ${r instanceof Error ? r.message : JSON.stringify(r)}`);
      };
      const startedAt = Date.now();
      ok(await c.query(dst.port, ["CLUSTER", "SETSLOT", slot, "IMPORTING", src.id]), "SETSLOT IMPORTING");
      ok(await c.query(src.port, ["CLUSTER", "SETSLOT", slot, "MIGRATING", dst.id]), "SETSLOT MIGRATING");
      if (holdMs) await sleep(holdMs);
      for (;;) {
        const keys = await c.query(src.port, ["CLUSTER", "GETKEYSINSLOT", slot, 100]);
        if (!Array.isArray(keys)) throw new Error(`GETKEYSINSLOT: ${keys}`);
        if (keys.length === 0) break;
        const r = await c.query(src.port, ["MIGRATE", HOST, dst.port, "", 0, 5000, "REPLACE", "KEYS", ...keys], 10000);
        if (r !== "OK" && r !== "NOKEY") throw new Error(`MIGRATE: ${r instanceof Error ? r.message : r}`);
      }
      ok(await c.query(dst.port, ["CLUSTER", "SETSLOT", slot, "NODE", dst.id]), "SETSLOT NODE (target)");
      ok(await c.query(src.port, ["CLUSTER", "SETSLOT", slot, "NODE", dst.id]), "SETSLOT NODE (source)");
      for (const p of prims) {
        if (p.port !== src.port && p.port !== dst.port) ok(await c.query(p.port, ["CLUSTER", "SETSLOT", slot, "NODE", dst.id]), "SETSLOT NODE");
      }
      const doneAt = Date.now();
      await until(async () => (await c.ownerOf(slot))?.port === toPort, 10000, 50, `slot ${slot} on ${toPort}`);
      return { from: src.port, to: toPort, startedAt, doneAt };
    },
    /**
     * CLUSTER FAILOVER on the replica on `replicaPort` (`mode`: "" | "FORCE" | "TAKEOVER");
     * resolves {requestedAt, promotedAt, oldPrimaryPort} once the replica says it is a primary
     * and its old primary says it is a replica.
     */
    async failover(replicaPort, { mode = "", timeoutMs = 15000 } = {}) {
      const me = (await c.replicas()).find((r) => r.port === replicaPort);
      if (!me) throw new Error(`${replicaPort} is not a live replica`);
      const requestedAt = Date.now();
      const r = await c.query(replicaPort, ["CLUSTER", "FAILOVER", ...(mode ? [mode] : [])]);
      if (r !== "OK") throw new Error(`CLUSTER FAILOVER: ${r instanceof Error ? r.message : r}`);
      const promotedAt = await c.waitPromoted(replicaPort, timeoutMs);
      if (me.primaryPort !== null && nodes.get(me.primaryPort)?.h?.alive()) {
        await until(async () => /^slave|^replica/.test(String((await c.query(me.primaryPort, ["ROLE"]))?.[0])), timeoutMs, 20, "old primary demoted");
      }
      return { requestedAt, promotedAt, oldPrimaryPort: me.primaryPort };
    },
    /** Polls ROLE on `port` every 10 ms; resolves Date.now() when it first says master. */
    async waitPromoted(port, timeoutMs = 15000) {
      await until(async () => (await c.query(port, ["ROLE"], 500))?.[0] === "master", timeoutMs, 10, `${port} promoted`);
      return Date.now();
    },
    /**
     * SIGKILL the primary on `port` (by PID). Resolves {killedAt, replicaPorts,
     * promoted()} where promoted() resolves {port, promotedAt} once one of its replicas
     * says it is a primary (polled every 10 ms).
     */
    async killPrimary(port) {
      const me = (await c.primaries()).find((p) => p.port === port);
      if (!me) throw new Error(`${port} is not a live primary`);
      const replicaPorts = (await c.replicas()).filter((r) => r.primaryId === me.id).map((r) => r.port);
      const node = nodes.get(port);
      node.h.kill("SIGKILL");
      const killedAt = Date.now();
      await node.h.exited;
      return {
        killedAt,
        replicaPorts,
        async promoted(timeoutMs = 20000) {
          let winner = null;
          await until(async () => {
            const roles = await Promise.all(replicaPorts.map((p) => c.query(p, ["ROLE"], 500)));
            const i = roles.findIndex((r) => r?.[0] === "master");
            if (i >= 0) winner = replicaPorts[i];
            return winner !== null;
          }, timeoutMs, 10, `a replica of ${port} promoted`);
          return { port: winner, promotedAt: Date.now() };
        },
      };
    },
    /** Start a killed node again on its port (it rejoins from its nodes.conf, as a replica). */
    async restart(port) {
      await nodes.get(port).start();
    },
    /** Kill every node by PID (SIGKILL: nothing to save) and remove the directory. */
    async stop() {
      await Promise.all([...nodes.values()].map((n) => n.stop("SIGKILL").catch(() => {})));
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    const total = primaries * (1 + replicasPer);
    for (let i = 0; i < total; i++) {
      const port = await freePort();
      let busPort = await freePort();
      while (busPort === port) busPort = await freePort();
      const ndir = path.join(dir, `node-${port}`);
      mkdirSync(ndir);
      const r = await startRedis({
        port,
        extraArgs: [
          "--dir", ndir,
          "--cluster-enabled", "yes",
          "--cluster-config-file", path.join(dir, `nodes-${port}.conf`),
          "--cluster-node-timeout", String(nodeTimeoutMs),
          "--cluster-port", String(busPort),
          // a replica may always take over, however long since it last heard its primary
          "--cluster-replica-validity-factor", "0",
        ],
      });
      nodes.set(port, Object.assign(r, { busPort, dir: ndir }));
    }
    const addrs = [...nodes.keys()].map((p) => `${HOST}:${p}`);
    c.seeds = addrs.join(",");
    c.url = `redis://${c.seeds}`;
    await execFileP("redis-cli", ["--cluster", "create", ...addrs, "--cluster-replicas", String(replicasPer), "--cluster-yes"], {
      encoding: "utf8",
      timeout: startTimeoutMs,
    });
    await c.waitHealthy(startTimeoutMs, "cluster formed");
  } catch (e) {
    const logs = [...nodes.values()].map((n) => `--- ${n.port}\n${n.h?.output().slice(-2000) ?? ""}`).join("\n");
    await c.stop();
    throw new Error(`Redis Cluster did not start: ${e.message}\n${logs}`);
  }
  return c;
}

/**
 * A name `${prefix}${i}` (i = 0, 1, ...) whose `channel(name)` hashes to a slot served by
 * the primary `port` (per `owners`, an array of {port, slots} from primaries()).
 */
export function nameOnPrimary(owners, port, channel, prefix = "r") {
  const p = owners.find((o) => o.port === port);
  for (let i = 0; i < 100000; i++) {
    const s = slotOf(channel(`${prefix}${i}`));
    if (p.slots.some(([a, b]) => s >= a && s <= b)) return `${prefix}${i}`;
  }
  throw new Error(`no name on ${port}`);
}
