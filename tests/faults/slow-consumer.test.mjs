// A client process SIGSTOPped in a busy room; resumed once the worker has dropped it,
// it must read what was queued for it and then close 1008 "slow consumer".

import { describe, it } from "node:test";
import { slowConsumer } from "./lib/scenarios.mjs";
import { runScenario } from "./lib/testing.mjs";
import { IS_NODE_PEER } from "./lib/procs.mjs";

describe("slow consumer", { skip: IS_NODE_PEER ? "sioc only" : false }, () => {
  it("a stopped client is dropped at its queue cap, then gets what was queued and close 1008; the others see no gap", { timeout: 120000 }, () =>
    runScenario(slowConsumer, { bystanders: 20, pad: 16384, intervalMs: 32, publishers: 2, outputCap: 1 << 20, warmMs: 3000, afterMs: 3000, hosts: 2 }, { id: "slow-consumer", title: "slow consumer" }));
});
