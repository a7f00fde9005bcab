// The Redis faults of redis.test.mjs with the workers' sharded adapter
// (--adapter-mode sharded: SSUBSCRIBE per room, SPUBLISH): SIGTERM restart,
// kill -9 restart, SIGSTOP freeze past the liveness timeout. No
// @socket.io/redis-emitter publisher: the emitter only publishes on the
// classic channels (tests/faults/lib/scenarios.mjs, redisFault).

import { describe, it } from "node:test";
import { redisFault } from "./lib/scenarios.mjs";
import { runScenario } from "./lib/testing.mjs";
import { IS_NODE_PEER } from "./lib/procs.mjs";

describe("Redis faults (sharded adapter)", { skip: IS_NODE_PEER ? "sioc only" : false }, () => {
  for (const signal of ["SIGTERM", "SIGKILL", "SIGSTOP"]) {
    it(`Redis ${signal} (sharded adapter)`, { timeout: 120000 }, () =>
      runScenario(redisFault, { signal, mode: "sharded", clients: 150, rooms: 3, intervalMs: 100, downMs: signal === "SIGKILL" ? 6000 : 3000, freezeMs: 6000, warmMs: 3000, afterMs: 4000 }, { id: `redis-sharded-${signal.toLowerCase()}`, title: `Redis ${signal} (sharded adapter)` }));
  }
});
