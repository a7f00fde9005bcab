// Sentinel failover under a running ledger: the primary killed with SIGKILL,
// the replica promoted by three sentinels, the workers and the proxy follow
// it (tests/faults/lib/scenarios.mjs sentinelFailover).

import { describe, it } from "node:test";
import { sentinelFailover } from "./lib/scenarios.mjs";
import { runScenario } from "./lib/testing.mjs";
import { IS_NODE_PEER } from "./lib/procs.mjs";

describe("Sentinel failover", { skip: IS_NODE_PEER ? "sioc only" : false }, () => {
  it("primary SIGKILL, replica promoted", { timeout: 120000 }, () =>
    runScenario(sentinelFailover, { clients: 150, rooms: 3, intervalMs: 100, warmMs: 3000, afterMs: 4000 },
      { id: "redis-sentinel-sigkill", title: "Sentinel failover: the primary killed (-9), the replica promoted" }));
});
