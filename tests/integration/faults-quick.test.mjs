// The quick subset of the fault suite (tests/faults/, run in full by
// tests/faults/run): small versions of the ledger scenarios, cheap enough
// for the test command. Each builds its own Redis / workers / proxy on free
// 127.0.0.1 ports and checks that nothing is lost silently:
//   Redis kill -9 and SIGSTOP past the liveness timeout, kill -9 of a worker
//   behind the proxy, graceful drain behind the proxy (and new sessions
//   asked for while it drains, and polls of its sessions before and after it
//   left the membership set), a SIGSTOPped slow consumer, a token expiring
//   mid-connection; with connection state recovery on (streams mode), kill -9
//   of a worker whose clients must all recover on the others with nothing
//   missing.

import { describe, it } from "node:test";
import { redisFault, workerKill, drain, drainHandshake, drainPolling, slowConsumer, tokenExpiry } from "../faults/lib/scenarios.mjs";
import { runScenario } from "../faults/lib/testing.mjs";
import { IS_NODE_PEER, haveProxy } from "../faults/lib/procs.mjs";
import { recoveryFault } from "../faults/lib/recovery.mjs";

const noProxy = !haveProxy() && "no sioc-proxy binary next to the worker";

describe("faults (quick)", { skip: IS_NODE_PEER ? "sioc only" : false }, () => {
  it("Redis kill -9 and restart", { timeout: 60000 }, () =>
    runScenario(redisFault, { signal: "SIGKILL", clients: 45, rooms: 3, intervalMs: 100, downMs: 4000, warmMs: 1500, afterMs: 1500 }, { id: "redis-sigkill", title: "Redis kill -9" }));
  it("Redis frozen (SIGSTOP) past the liveness timeout", { timeout: 60000 }, () =>
    runScenario(redisFault, { signal: "SIGSTOP", clients: 45, rooms: 3, intervalMs: 100, freezeMs: 5000, warmMs: 1500, afterMs: 1500 }, { id: "redis-sigstop", title: "Redis SIGSTOP" }));
  it("kill -9 of one of 3 workers behind the proxy", { timeout: 60000, skip: noProxy }, () =>
    runScenario(workerKill, { clients: 60, rooms: 3, intervalMs: 100, pollingEvery: 10, warmMs: 1500, afterMs: 1500 }, { id: "worker-kill9", title: "worker kill -9" }));
  it("recovery on: kill -9 of a worker, its clients recover on the others with nothing missing", { timeout: 60000, skip: noProxy }, () =>
    runScenario(recoveryFault, { fault: "kill9", clients: 30, rooms: 3, intervalMs: 100, warmMs: 1500, afterMs: 1500 }, { id: "recovery-kill9", title: "Recovery on: worker kill -9" }));
  it("graceful drain (SIGTERM) behind the proxy", { timeout: 60000, skip: noProxy }, () =>
    runScenario(drain, { clients: 90, rooms: 3, intervalMs: 100, pollingEvery: 10, warmMs: 1500, afterMs: 1500 }, { id: "drain-sigterm", title: "drain" }));
  it("new sessions asked for during a drain are placed on a live worker", { timeout: 30000, skip: noProxy }, () =>
    runScenario(drainHandshake, { probes: 20 }, { id: "drain-handshake", title: "handshakes during a drain" }));
  it("long-polling sessions closed by a drain get the close packet on their next poll", { timeout: 30000 }, () =>
    runScenario(drainPolling, { sessions: 40 }, { id: "drain-polling", title: "drain of polling sessions" }));
  it("long-polling sessions of a draining worker polling through the proxy get the close packet", { timeout: 30000, skip: noProxy }, () =>
    runScenario(drainPolling, { sessions: 40, viaProxy: true }, { id: "drain-polling-proxy", title: "drain of polling sessions, through the proxy" }));
  it("a draining worker that left the membership set still serves its sessions' polls through the proxy", { timeout: 30000, skip: noProxy }, () =>
    runScenario(drainPolling, { sessions: 40, viaProxy: true, pollAfterMs: 1500 }, { id: "drain-polling-proxy-late", title: "drain of polling sessions, through the proxy, late polls" }));
  it("slow consumer SIGSTOPped in a busy room", { timeout: 60000 }, () =>
    runScenario(slowConsumer, { bystanders: 8, pad: 16384, intervalMs: 16, publishers: 2, outputCap: 1 << 20, warmMs: 1500, afterMs: 1000, hosts: 1 }, { id: "slow-consumer", title: "slow consumer" }));
  it("token expiring mid-connection", { timeout: 30000 }, () =>
    runScenario(tokenExpiry, { victims: 6, expInSec: 2, sendEveryMs: 5 }, { id: "token-expiry", title: "token expiry" }));
  it("token expiring while the worker stalls across exp: no event accepted after exp", { timeout: 30000 }, () =>
    runScenario(tokenExpiry, { victims: 20, expInSec: 2, sendEveryMs: 5, stallMs: 200 }, { id: "token-expiry-stall", title: "token expiry, stalled worker" }));
});
