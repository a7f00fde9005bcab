// kill -9 of one of three workers under load behind sioc-proxy.

import { describe, it } from "node:test";
import { workerKill } from "./lib/scenarios.mjs";
import { runScenario } from "./lib/testing.mjs";
import { IS_NODE_PEER, haveProxy } from "./lib/procs.mjs";

describe("worker killed", { skip: IS_NODE_PEER ? "sioc only" : !haveProxy() ? "no sioc-proxy binary" : false }, () => {
  it("kill -9 of one of 3 workers, 300 clients through the proxy", { timeout: 120000 }, () =>
    runScenario(workerKill, { clients: 300, rooms: 3, intervalMs: 100, pollingEvery: 10, warmMs: 3000, afterMs: 3000, hosts: 2 }, { id: "worker-kill9", title: "kill -9 of one of 3 workers" }));
});
