// Graceful drain (SIGTERM) of one worker behind the proxy, and
// deploy/cluster scale 3 -> 4 -> 3 under load.

import { describe, it } from "node:test";
import { drain, drainHandshake, drainPolling, scale } from "./lib/scenarios.mjs";
import { runScenario } from "./lib/testing.mjs";
import { IS_NODE_PEER, haveProxy } from "./lib/procs.mjs";

describe("drain and scale", { skip: IS_NODE_PEER ? "sioc only" : !haveProxy() ? "no sioc-proxy binary" : false }, () => {
  it("SIGTERM drain of one of 3 workers, 450 clients through the proxy", { timeout: 120000 }, () =>
    runScenario(drain, { clients: 450, rooms: 3, intervalMs: 100, pollingEvery: 10, warmMs: 3000, afterMs: 3000, hosts: 2 }, { id: "drain-sigterm", title: "Graceful drain (SIGTERM)" }));
  it("new sessions asked for during a drain are placed on a live worker", { timeout: 60000 }, () =>
    runScenario(drainHandshake, { probes: 30 }, { id: "drain-handshake", title: "handshakes during a drain" }));
  it("long-polling sessions closed by a drain get the close packet on their next poll", { timeout: 60000 }, () =>
    runScenario(drainPolling, { sessions: 100 }, { id: "drain-polling", title: "drain of polling sessions" }));
  it("long-polling sessions of a draining worker polling through the proxy get the close packet", { timeout: 60000 }, () =>
    runScenario(drainPolling, { sessions: 100, viaProxy: true }, { id: "drain-polling-proxy", title: "drain of polling sessions, through the proxy" }));
  it("a draining worker that left the membership set still serves its sessions' polls through the proxy", { timeout: 60000 }, () =>
    runScenario(drainPolling, { sessions: 100, viaProxy: true, pollAfterMs: 1500 }, { id: "drain-polling-proxy-late", title: "drain of polling sessions, through the proxy, late polls" }));
  it("deploy/cluster scale 3 -> 4 -> 3", { timeout: 180000 }, () =>
    runScenario(scale, { clients: 300, rooms: 3, intervalMs: 100, freshClients: 90, hosts: 2 }, { id: "scale", title: "deploy/cluster scale" }));
});
