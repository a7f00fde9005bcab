// Generates tests/vectors/json/stringify.tsv: what Node writes for
// JSON.stringify(Buffer.from(bytes).toString()), i.e. bytes decoded by the
// WHATWG UTF-8 decoder (each maximal ill-formed subpart -> one U+FFFD) and
// then escaped by JSON.stringify. Run by hand with plain node (no packages):
//
//   node tests/vectors/json/gen.mjs
//
// One vector per line, tab-separated: <name> <input hex> <output hex>, where
// the output is the whole JSON string token, quotes included.
// tests/unit/common/sio/test_sio_json.c checks sio_json_append_string
// against every line.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const cases = [
  ["empty", ""],
  ["ascii", "68656c6c6f"],
  ["quote-backslash-slash", "225c2f"],
  ["short-escapes", "080c0a0d09"],
  ["c0-controls", Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, "0")).join("")],
  ["del", "7f"],
  ["printable-ascii", Array.from({ length: 95 }, (_, i) => (i + 32).toString(16).padStart(2, "0")).join("")],
  ["u2028-u2029", "e280a8e280a9"],
  ["valid-2-3-4", "c3a9e282acf09d849e"],
  ["max-code-point", "f48fbfbf"],
  ["bom-and-nonchar", "efbbbfefbfbeefbfbf"],
  ["truncated-2", "c3"],
  ["truncated-2-then-ascii", "c341"],
  ["truncated-3-after-1", "e2"],
  ["truncated-3-after-2", "e282"],
  ["truncated-3-then-ascii", "e28241"],
  ["truncated-3-then-lead", "e282c3a9"],
  ["truncated-4-after-1", "f0"],
  ["truncated-4-after-2", "f09f"],
  ["truncated-4-after-3", "f09f98"],
  ["truncated-4-then-ascii", "f09f9841"],
  ["truncated-at-end", "41e282"],
  ["overlong-c0", "c0af"],
  ["overlong-c1", "c1bf"],
  ["overlong-e0-80", "e080af"],
  ["overlong-e0-9f", "e09fbf"],
  ["overlong-f0-80", "f08080af"],
  ["overlong-f0-8f", "f08fbfbf"],
  ["surrogate-ed-a0-80", "eda080"],
  ["surrogate-ed-bf-bf", "edbfbf"],
  ["surrogate-pair-encoded", "eda0bdedb882"],
  ["above-max-f4-90", "f4908080"],
  ["above-max-f4-90-cut", "f490"],
  ["lead-f5", "f5808080"],
  ["lead-f8-ff", "f8f9fafbfcfdfeff"],
  ["lone-continuation-80", "80"],
  ["lone-continuations", "80bfa0"],
  ["continuation-after-valid", "c3a9a9"],
  ["ff-between-ascii", "61ff62"],
  ["mixed", "41e2824142f09f98c3a9f4904344ed9f80"],
  ["control-then-bad", "0ae2"],
  ["two-leads", "e2e282ac"],
];
const out = cases.map(([name, hex]) => {
  const s = JSON.stringify(Buffer.from(hex, "hex").toString());
  return `${name}\t${hex}\t${Buffer.from(s).toString("hex")}`;
});
const here = dirname(fileURLToPath(import.meta.url));
writeFileSync(join(here, "stringify.tsv"), out.join("\n") + "\n");
