// A client process SIGSTOPped in a busy room.

import { describe, it } from "node:test";
import { slowConsumer } from "./lib/scenarios.mjs";
import { runScenario } from "./lib/testing.mjs";
import { IS_NODE_PEER } from "./lib/procs.mjs";

describe("slow consumer", { skip: IS_NODE_PEER ? "sioc only" : false }, () => {
  it("a stopped client is dropped at its queue cap; the others see no gap", { timeout: 120000 }, () =>
    runScenario(slowConsumer, { bystanders: 20, pad: 16384, intervalMs: 32, publishers: 2, outputCap: 1 << 20, warmMs: 3000, afterMs: 3000, hosts: 2 }, { id: "slow-consumer", title: "slow consumer" }));
});
