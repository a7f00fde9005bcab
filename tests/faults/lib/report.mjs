// Results of the fault and bad-input tests, and docs/RELIABILITY.md.
//
// Each test calls writeResult({id, group, title, did, measured, verdict,
// problems}); with SIOC_FAULTS_RESULTS set the result is written there as
// <id>.json (the runner tests/faults/run sets it), otherwise it only goes
// to stderr. `node tests/faults/lib/report.mjs <results dir> <out.md>`
// renders every result of the directory into the markdown report.

import { writeFileSync, readFileSync, readdirSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export function writeResult(r) {
  const out = {
    build: process.env.SIOC_BUILD || "release",
    at: new Date().toISOString(),
    problems: [],
    ...r,
  };
  out.verdict = out.problems.length ? "fail" : out.verdict || "pass";
  const dir = process.env.SIOC_FAULTS_RESULTS;
  if (dir) {
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${out.build}--${out.id}.json`);
    writeFileSync(file, JSON.stringify(out, null, 1));
  }
  process.stderr.write(`[result] ${out.id} (${out.build}): ${out.verdict}${out.problems.length ? " - " + out.problems.join("; ") : ""}\n`);
  return out;
}

/** Collects problems: check(cond, text) records text when cond is false. */
export class Verdict {
  constructor() {
    this.problems = [];
  }
  check(cond, text) {
    if (!cond) this.problems.push(text);
    return cond;
  }
}

const fmt = (v) => {
  if (v === null || v === undefined) return "-";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(Math.round(v * 100) / 100);
  if (typeof v === "object") return JSON.stringify(v).replace(/"/g, "").replace(/,/g, ", ");
  return String(v);
};

const cell = (s) => String(s).replace(/\|/g, "\\|").replace(/\n/g, " ");

const GROUP_TITLES = {
  fault: "Faults",
  badinput: "Bad input",
  security: "Security",
};

export function render(results, { header = "" } = {}) {
  const order = ["fault", "badinput", "security"];
  const lines = [];
  lines.push("# sioc reliability report");
  lines.push("");
  lines.push(header.trim());
  lines.push("");
  const builds = [...new Set(results.map((r) => r.build))];
  const pass = results.filter((r) => r.verdict === "pass").length;
  lines.push(`Results: ${pass} of ${results.length} checks passed (builds: ${builds.join(", ")}).`);
  lines.push("");
  lines.push("| # | build | check | what was done | measured | verdict |");
  lines.push("|---|---|---|---|---|---|");
  let n = 0;
  const buildRank = (b) => (b === "release" ? 0 : 1);
  const sorted = [...results].sort(
    (a, b) =>
      order.indexOf(a.group) - order.indexOf(b.group) || (a.seq ?? 50) - (b.seq ?? 50) || a.id.localeCompare(b.id) || buildRank(a.build) - buildRank(b.build) || a.build.localeCompare(b.build),
  );
  for (const r of sorted) {
    n++;
    const key = r.summary || Object.entries(r.measured || {}).slice(0, 4).map(([k, v]) => `${k}: ${fmt(v)}`).join("; ");
    lines.push(`| ${n} | ${r.build} | ${cell(r.title)} | ${cell(r.short || r.did)} | ${cell(key)} | ${r.verdict === "pass" ? "PASS" : "**FAIL**"} |`);
  }
  const failedOnes = sorted.filter((r) => r.verdict !== "pass");
  if (failedOnes.length) {
    lines.push("");
    lines.push("## Failed checks");
    lines.push("");
    for (const r of failedOnes) {
      const ps = r.problems || [];
      lines.push(`- **${r.title}** (${r.build}): ${ps.slice(0, 3).map((p) => cell(p.length > 400 ? p.slice(0, 397) + "..." : p)).join("; ")}${ps.length > 3 ? ` (+${ps.length - 3} more)` : ""}`);
    }
  }
  for (const g of order) {
    const rs = sorted.filter((r) => r.group === g);
    if (!rs.length) continue;
    lines.push("");
    lines.push(`## ${GROUP_TITLES[g]}`);
    for (const r of rs) {
      lines.push("");
      lines.push(`### ${r.title} (${r.build}) - ${r.verdict === "pass" ? "PASS" : "FAIL"}`);
      lines.push("");
      lines.push(`Done: ${r.did}`);
      lines.push("");
      if (r.measured && Object.keys(r.measured).length) {
        lines.push("| measured | value |");
        lines.push("|---|---|");
        for (const [k, v] of Object.entries(r.measured)) lines.push(`| ${cell(k)} | ${cell(fmt(v))} |`);
        lines.push("");
      }
      if (r.problems && r.problems.length) {
        lines.push("Problems:");
        for (const p of r.problems) lines.push(`- ${p}`);
        lines.push("");
      }
      if (r.notes) {
        lines.push(r.notes);
        lines.push("");
      }
    }
  }
  return lines.join("\n").replace(/\n{3,}/g, "\n\n") + "\n";
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const [dir, out, headerFile] = process.argv.slice(2);
  const results = readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), "utf8")));
  const header = headerFile ? readFileSync(headerFile, "utf8") : "";
  writeFileSync(out, render(results, { header }));
  console.log(`wrote ${out}: ${results.length} results`);
}
