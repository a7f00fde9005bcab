// sioc-proxy killed and restarted under 2,000 clients (four client
// processes, 500 each: well under the open-files limit of a process), with
// the handshake rate capped.

import { describe, it } from "node:test";
import { proxyRestart } from "./lib/scenarios.mjs";
import { runScenario } from "./lib/testing.mjs";
import { IS_NODE_PEER, haveProxy } from "./lib/procs.mjs";

const CLIENTS = Number(process.env.SIOC_FAULTS_PROXY_CLIENTS || 2000);

describe("proxy restart", { skip: IS_NODE_PEER ? "sioc only" : !haveProxy() ? "no sioc-proxy binary" : false }, () => {
  it(`kill -9 and restart of the proxy under ${CLIENTS} clients, --max-handshake-rate 300`, { timeout: 300000 }, () =>
    runScenario(proxyRestart, { clients: CLIENTS, hosts: Math.max(1, Math.ceil(CLIENTS / 500)), rate: 300, rooms: 10, intervalMs: 500, downMs: 1000 }, { id: "proxy-restart", title: "proxy restart" }));
});
