// Runs a scenario as a node:test case: records its result (report.mjs) and
// fails the test with the scenario's problems. A scenario that throws (a
// cluster that does not start, a timeout) is recorded as failed too.

import assert from "node:assert/strict";
import { writeResult } from "./report.mjs";

export async function runScenario(fn, opts, { id, title }) {
  const t0 = Date.now();
  let r;
  try {
    r = await fn(opts);
  } catch (e) {
    r = { id, group: "fault", title, did: "the scenario did not complete", measured: {}, problems: [`error: ${e && e.stack ? e.stack.split("\n").slice(0, 3).join(" ") : e}`] };
  }
  const out = writeResult({ ...r, measured: { ...r.measured, "scenario run time (s)": Math.round((Date.now() - t0) / 100) / 10 } });
  assert.deepEqual(out.problems, [], `${out.title}`);
  return out;
}
