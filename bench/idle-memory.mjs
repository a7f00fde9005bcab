#!/usr/bin/env node
// Worker memory per idle websocket client (chat app), with and without JWT: one sioc-worker,
// WARM clients first (the library code and data pages, tables and caches the first
// connections touch once: about 2 MB of shared-library pages alone), then N more. Two
// figures per mode: "cold" is the RSS delta of all N + WARM clients over the fresh worker,
// divided by their number (what bench/compare idle reports); "marginal" is the delta of the
// N over the warm worker, divided by N: what one more connection costs.
//
//   node bench/idle-memory.mjs [N] [WARM]      (N = 10000, WARM = 500)
//
// SIOC_WORKER_CMD as for the integration tests (build/release by default); sioc-bench from
// the same build directory, or SIOC_BENCH_BIN.

import { spawn } from "node:child_process";
import { readFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startServer, stopAll, buildDir } from "../tests/integration/lib/server.mjs";

const N = Number(process.argv[2] || 10000);
const WARM = Number(process.argv[3] || 500);
const SECRET = "idle-memory-bench-secret-0123456789abcdef";
const BENCH = process.env.SIOC_BENCH_BIN || path.join(buildDir(), "bench", "sioc-bench");

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m[1]);
}

/** Runs sioc-bench; with `sync`, resolves once its clients are connected (`@ready`). */
function bench(args, { sync = false } = {}) {
  const p = spawn(BENCH, [...args, ...(sync ? ["--sync"] : [])], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const done = new Promise((resolve) => p.on("exit", (code) => resolve({ code, out })));
  const ready = new Promise((resolve, reject) => {
    p.stdout.on("data", (d) => {
      out += d;
      if (sync && out.includes("@ready")) resolve();
    });
    done.then(() => (sync ? reject(new Error(`sioc-bench exited before @ready: ${out}`)) : resolve()));
  });
  return { p, ready, done };
}

async function measure(jwt) {
  const flags = { app: "chat", "max-connections": N + WARM + 100 };
  if (jwt) flags["jwt-secret"] = SECRET;
  const srv = await startServer({ flags });
  const auth = jwt ? ["--jwt-secret", SECRET] : [];
  const common = ["--url", srv.url, "--transport", "websocket", "--settle", "2", "--no-progress", "--quiet", ...auth];
  try {
    const fresh = rssKiB(srv.pid);
    const warm = bench([...common, "--conns", String(WARM), "--duration", "3600", "--source-base", "127.0.9.1", "idle"], { sync: true });
    await warm.ready;
    await new Promise((r) => setTimeout(r, 1000));
    const warmed = rssKiB(srv.pid);
    const dir = mkdtempSync(path.join(tmpdir(), "idle-memory-"));
    const json = path.join(dir, "r.json");
    const run = bench([...common, "--conns", String(N), "--duration", "3", "--pid", String(srv.pid), "--json", json, "idle"]);
    const { code } = await run.done;
    const r = JSON.parse(readFileSync(json, "utf8"));
    rmSync(dir, { recursive: true });
    warm.p.kill("SIGINT");
    await warm.done;
    if (code !== 0) throw new Error(`sioc-bench exited ${code}`);
    const loaded = r.servers[0].rss_loaded_kb;
    return {
      mode: jwt ? "JWT" : "no JWT",
      fresh,
      warmed,
      loaded,
      cold: ((loaded - fresh) * 1024) / (N + WARM),
      marginal: ((loaded - warmed) * 1024) / N,
    };
  } finally {
    await stopAll(srv);
  }
}

const rows = [];
for (const jwt of [true, false]) rows.push(await measure(jwt));
console.log(`${N} idle websocket clients after ${WARM} (chat app, ${path.basename(buildDir())} build)`);
console.log("| mode | RSS fresh | warm | loaded | cold bytes/conn | marginal bytes/conn |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const x of rows)
  console.log(`| ${x.mode} | ${x.fresh} KiB | ${x.warmed} KiB | ${x.loaded} KiB | ${x.cold.toFixed(0)} | ${x.marginal.toFixed(0)} |`);
