// Tokens expiring mid-connection while their clients keep sending events.

import { describe, it } from "node:test";
import { tokenExpiry } from "./lib/scenarios.mjs";
import { runScenario } from "./lib/testing.mjs";
import { IS_NODE_PEER } from "./lib/procs.mjs";

describe("token expiry", { skip: IS_NODE_PEER ? "sioc only" : false }, () => {
  it("no event accepted after exp; disconnected", { timeout: 60000 }, () =>
    runScenario(tokenExpiry, { victims: 20, expInSec: 3, sendEveryMs: 5 }, { id: "token-expiry", title: "token expiry" }));
  it("no event accepted after exp when the worker stalls across exp", { timeout: 60000 }, () =>
    runScenario(tokenExpiry, { victims: 20, expInSec: 3, sendEveryMs: 5, stallMs: 200 }, { id: "token-expiry-stall", title: "token expiry, stalled worker" }));
});
