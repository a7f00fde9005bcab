// Child process hosting LedgerClients for ledger.mjs's ClientHost: many
// clients per process keep each process under its open-files limit, and a
// whole host can be frozen with SIGSTOP (a slow consumer). Commands arrive
// over IPC as {id, cmd, arg}; each is answered {id, result}. Long runs check their
// clients here ("latency", then "check") rather than send every record back.

import { LedgerClient, summarizeStates, check, hostLatency } from "./ledger.mjs";

const clients = [];
let nextClose = 0; // churn closes the oldest clients first

process.on("message", async ({ id, cmd, arg }) => {
  let result = null;
  if (cmd === "start") {
    for (const c of arg) clients.push(new LedgerClient(c));
    result = clients.length;
  } else if (cmd === "churn") {
    // close `arg.close` of the oldest open clients, start the clients of `arg.start`
    for (let n = arg.close; n > 0 && nextClose < clients.length; nextClose++) {
      const c = clients[nextClose];
      if (c.socket === null) continue;
      c.close();
      n--;
      setTimeout(() => c.release(), 2000); // its record stays; the socket goes
    }
    for (const c of arg.start) clients.push(new LedgerClient(c));
    result = clients.length;
  } else if (cmd === "status") {
    result = summarizeStates(clients);
  } else if (cmd === "collect") {
    result = clients.map((c) => c.record());
  } else if (cmd === "latency") {
    result = hostLatency.toJSON();
  } else if (cmd === "check") {
    // this host's share of checkHosts(): its compact clients against the whole ledger
    const ledger = { pubs: new Map(arg.pubs.map((p) => [p.id, p])) };
    result = check(ledger, clients.map((c) => c.record()), { tEnd: arg.tEnd, tailGraceMs: arg.tailGraceMs, p99Ms: arg.p99Ms, latency: hostLatency, partial: true });
  } else if (cmd === "stop") {
    for (const c of clients) c.close();
    process.send({ id, result: true });
    setTimeout(() => process.exit(0), 50);
    return;
  }
  process.send({ id, result });
});
process.on("disconnect", () => process.exit(0));
