// The fault suite's verdict (tests/faults/lib/ledger.mjs check()) reads a client's
// deliveries in two forms: every delivery kept (short runs) or ranges of seqs per session
// and publisher (compact, for the hour-long soak, checked by each client host). Both forms of
// the same deliveries must give the same verdict: a silent loss, a tail lost at a visible
// disconnect, a duplicate, a reordering and a message from another room are each found.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { LedgerClient, LatencyHist, check, ST_OK } from "../faults/lib/ledger.mjs";

function ledger() {
  const pubs = new Map();
  const entries = (n) => Array.from({ length: n }, (_, i) => ({ seq: i + 1, t: (i + 1) * 1000, st: ST_OK, via: "w1" }));
  pubs.set("p1", { id: "p1", room: "r1", kind: "sio", entries: entries(10) });
  pubs.set("p2", { id: "p2", room: "r2", kind: "sio", entries: entries(10) });
  return { pubs };
}

// session 0 joined at 500 and closed at 6500: 4 never came (silent), 6 is the tail (at
// disconnect); session 1 joined at 7100: 9 after 10 (reordered), 10 twice, one of p2 (foreign)
const sessions = [
  { sid: "w1.a", w: "w1", tc: 400, tj: 500, td: 6500, why: "transport close" },
  { sid: "w1.b", w: "w1", tc: 7000, tj: 7100, td: 0, why: "" },
];
const deliveries = [
  [0, "p1", 1], [0, "p1", 2], [0, "p1", 3], [0, "p1", 5],
  [1, "p1", 8], [1, "p1", 10], [1, "p1", 9], [1, "p1", 10], [1, "p2", 1],
];

function fullRecord() {
  return { id: "c1", rooms: ["r1"], sessions, errors: [], recv: deliveries.map(([si, pub, seq]) => [pub, seq, seq * 1000, seq * 1000 + 5, si]) };
}

function compactRecord() {
  const fake = { id: "c1", sessions: [], compact: { runs: [], n: 0, duplicates: 0, reordered: 0, examples: [] } };
  for (const [si, pub, seq] of deliveries) {
    while (fake.sessions.length <= si) fake.sessions.push(sessions[fake.sessions.length]);
    LedgerClient.prototype.receiveCompact.call(fake, { pub, seq, t: seq * 1000 });
  }
  const rec = LedgerClient.prototype.record.call({ ...fake, rooms: ["r1"], recv: [], errors: [] });
  return JSON.parse(JSON.stringify(rec)); // as it crosses IPC
}

const KEYS = ["clients", "checked", "sessions", "deliveries", "expected", "lostAtDisconnect", "silentLoss", "duplicates", "reordered", "foreign", "disconnects"];
const pick = (r) => Object.fromEntries(KEYS.map((k) => [k, r[k]]));

describe("the ledger's verdict", () => {
  it("is the same from every delivery and from compact ranges", () => {
    const full = check(ledger(), [fullRecord()], { tEnd: 10500, tailGraceMs: 1000 });
    const lat = new LatencyHist();
    for (let i = 0; i < deliveries.length; i++) lat.add(5);
    const compact = check(ledger(), [compactRecord()], { tEnd: 10500, tailGraceMs: 1000, latency: lat });
    assert.deepEqual(pick(full), { clients: 1, checked: 1, sessions: 2, deliveries: 9, expected: 9, lostAtDisconnect: 1, silentLoss: 1, duplicates: 1, reordered: 1, foreign: 1, disconnects: 1 });
    assert.deepEqual(pick(compact), pick(full));
    assert.deepEqual(compact.examples.find((e) => e.kind === "silent-loss"), full.examples.find((e) => e.kind === "silent-loss"));
    assert.equal(compact.latency.p99, 5);
    assert.equal(full.ok, false);
    assert.equal(compact.ok, false);
  });

  it("widens the tail of a session its client closed while its process lagged, and only that one", () => {
    // p1 seqs 5 and 6 (t 5000, 6000) never came; session 0 ended at 6500 by its own client
    const recv = [[0, "p1", 1], [0, "p1", 2], [0, "p1", 3], [0, "p1", 4], [1, "p1", 8], [1, "p1", 9], [1, "p1", 10]];
    const rec = (s0) => ({ ...fullRecord(), sessions: [s0, sessions[1]], recv: recv.map(([si, pub, seq]) => [pub, seq, seq * 1000, seq * 1000 + 5, si]) });
    const closed = { ...sessions[0], why: "io client disconnect" };
    const plain = check(ledger(), [rec(closed)], { tEnd: 10500, tailGraceMs: 1000 });
    assert.equal(plain.silentLoss, 1, "6 is in the 1 s tail, 5 is not");
    assert.equal(plain.lostAtDisconnect, 1);
    const lagged = check(ledger(), [rec({ ...closed, hostLagMs: 2000 })], { tEnd: 10500, tailGraceMs: 1000 });
    assert.equal(lagged.silentLoss, 0);
    assert.equal(lagged.lostAtDisconnect, 2);
    const tooOld = check(ledger(), [rec({ ...closed, hostLagMs: 200 })], { tEnd: 10500, tailGraceMs: 1000 });
    assert.equal(tooOld.silentLoss, 1, "a short lag does not excuse a message sent 1.5 s before the close");
  });

  it("passes a clean run in both forms", () => {
    const clean = [[0, "p1", 1], [0, "p1", 2], [0, "p1", 3], [0, "p1", 4], [0, "p1", 5], [0, "p1", 6], [1, "p1", 8], [1, "p1", 9], [1, "p1", 10]];
    const full = { ...fullRecord(), recv: clean.map(([si, pub, seq]) => [pub, seq, seq * 1000, seq * 1000 + 5, si]) };
    const fake = { id: "c1", sessions: [...sessions], compact: { runs: [], n: 0, duplicates: 0, reordered: 0, examples: [] } };
    const saved = fake.sessions;
    for (const [si, pub, seq] of clean) {
      fake.sessions = saved.slice(0, si + 1);
      LedgerClient.prototype.receiveCompact.call(fake, { pub, seq, t: seq * 1000 });
    }
    fake.sessions = saved;
    const compact = LedgerClient.prototype.record.call({ ...fake, rooms: ["r1"], recv: [], errors: [] });
    assert.deepEqual(compact.compact.runs, [[["p1", [1, 6]]], [["p1", [8, 10]]]]);
    const lat = new LatencyHist();
    lat.add(5);
    for (const [rec, opts] of [[full, {}], [compact, { latency: lat }]]) {
      const res = check(ledger(), [rec], { tEnd: 10500, tailGraceMs: 1000, ...opts });
      assert.equal(res.ok, true, JSON.stringify(res.examples));
      assert.equal(res.expected, 9);
      assert.equal(res.silentLoss, 0);
    }
  });
});
