// Redis Cluster failover under a running ledger: the primary that owns a room's slot
// killed with SIGKILL, its replica promoted by the cluster, the workers and the proxy
// follow it (tests/faults/lib/scenarios.mjs redisClusterFailover), in the sharded and
// the classic adapter modes.

import { describe, it } from "node:test";
import { redisClusterFailover } from "./lib/scenarios.mjs";
import { runScenario } from "./lib/testing.mjs";
import { IS_NODE_PEER, haveProxy } from "./lib/procs.mjs";

describe("Redis Cluster failover", { skip: IS_NODE_PEER ? "sioc only" : !haveProxy() ? "no sioc-proxy binary" : false }, () => {
  for (const mode of ["sharded", "classic"])
    it(`${mode}: primary SIGKILL, replica promoted`, { timeout: 180000 }, () =>
      runScenario(redisClusterFailover, { mode, clients: 150, rooms: 3, intervalMs: 100, warmMs: 3000, afterMs: 4000 },
        { id: `redis-cluster-${mode}-sigkill`, title: `Redis Cluster failover (${mode} adapter): a primary killed (-9), its replica promoted` }));
});
