// Redis faults under a running ledger: SIGTERM restart, kill -9 restart,
// SIGSTOP freeze past the liveness timeout (tests/faults/lib/scenarios.mjs).

import { describe, it } from "node:test";
import { redisFault } from "./lib/scenarios.mjs";
import { runScenario } from "./lib/testing.mjs";
import { IS_NODE_PEER } from "./lib/procs.mjs";

describe("Redis faults", { skip: IS_NODE_PEER ? "sioc only" : false }, () => {
  for (const signal of ["SIGTERM", "SIGKILL", "SIGSTOP"]) {
    it(`Redis ${signal}`, { timeout: 120000 }, () =>
      runScenario(redisFault, { signal, clients: 150, rooms: 3, intervalMs: 100, downMs: signal === "SIGKILL" ? 6000 : 3000, freezeMs: 6000, warmMs: 3000, afterMs: 4000 }, { id: `redis-${signal.toLowerCase()}`, title: `Redis ${signal}` }));
  }
});
