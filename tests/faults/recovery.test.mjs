// The ledger with connection state recovery on (streams mode): a client
// transport cut, a worker killed with SIGKILL, a worker drained, Redis frozen
// for less than the liveness timeout, Redis killed and restarted (and then
// transport cuts, recovered from the sessions written again). Every
// recovered client must hold every acknowledged publication to its room,
// once, in order (lib/recovery.mjs).

import { describe, it } from "node:test";
import { recoveryFault } from "./lib/recovery.mjs";
import { runScenario } from "./lib/testing.mjs";
import { IS_NODE_PEER, haveProxy } from "./lib/procs.mjs";

const noProxy = !haveProxy() && "no sioc-proxy binary next to the worker";

describe("connection state recovery under faults", { skip: IS_NODE_PEER ? "sioc only" : false }, () => {
  const opts = { clients: 60, rooms: 3, intervalMs: 100, warmMs: 2000, afterMs: 3000 };
  for (const [fault, title, needProxy] of [
    ["cut", "client transport cut", false],
    ["kill9", "worker kill -9", true],
    ["drain", "worker drain (SIGTERM)", true],
    ["redis-stop", "Redis SIGSTOP shorter than the liveness timeout", false],
    ["redis-restart", "Redis kill -9 and restart, then transport cuts", false],
  ])
    it(`recovery on: ${title}`, { timeout: 120000, skip: needProxy && noProxy }, () =>
      runScenario(recoveryFault, { ...opts, fault, cutAfterMs: fault === "redis-restart" ? 1500 : 0 }, { id: `recovery-${fault}`, title: `Recovery on: ${title}` }));
});
