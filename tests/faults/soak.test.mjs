// The soak (tests/faults/run --soak; not part of the default run): sessions through the
// proxy for an hour with churn and chat traffic; RSS and descriptors of every process
// sampled each minute must stay flat after the warm-up, and nothing may be lost.
// SIOC_SOAK_SESSIONS (20000), SIOC_SOAK_MINUTES (60), SIOC_SOAK_CHURN (200 per second),
// SIOC_SOAK_SAMPLE_MS (60000), SIOC_SOAK_WARM_MINUTES (5) size it.

import { describe, it } from "node:test";
import { soak } from "./lib/scenarios.mjs";
import { runScenario } from "./lib/testing.mjs";
import { IS_NODE_PEER, haveProxy } from "./lib/procs.mjs";

const env = (k, d) => Number(process.env[k] || d);
const opts = {
  sessions: env("SIOC_SOAK_SESSIONS", 20000),
  minutes: env("SIOC_SOAK_MINUTES", 60),
  churn: env("SIOC_SOAK_CHURN", 200),
  sampleMs: env("SIOC_SOAK_SAMPLE_MS", 60000),
  warmMinutes: env("SIOC_SOAK_WARM_MINUTES", 5),
};

describe("soak", { skip: IS_NODE_PEER ? "sioc only" : !haveProxy() ? "no sioc-proxy binary" : false }, () => {
  it(`${opts.sessions} sessions for ${opts.minutes} min, ${opts.churn} connects and disconnects per second`, { timeout: (opts.minutes + 20) * 60000 }, () =>
    runScenario(soak, opts, { id: "soak", title: "soak" }));
});
