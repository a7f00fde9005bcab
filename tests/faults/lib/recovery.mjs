// The ledger with connection state recovery on: 3 workers in streams mode
// with --max-disconnection-duration, clients (socket.io-client, reconnecting)
// in rooms, publishers on a worker the fault leaves alone, and one fault:
//   cut      the transport of half the clients closed under them
//   kill9    one worker killed with SIGKILL (clients come back through the proxy)
//   drain    one worker drained with SIGTERM (the same)
//   redis-stop     Redis frozen (SIGSTOP) for less than the liveness timeout
//   redis-restart  Redis killed and started again on the same port (cutAfterMs:
//                  then the transport of half the clients closed, recovered from the
//                  sessions the workers wrote again into the empty Redis)
// The verdict is stricter than check()'s: a client whose every reconnect was
// recovered (socket.recovered) must have received every acknowledged
// publication to its rooms from its first join to the end, across its
// outage, exactly once and in per-publisher order: no tail or window is
// excused. Clients that were not recovered are counted (the fraction
// recovered is the measure) and checked only for duplicates and order within
// each session. A client that never disconnected is held to the same
// no-gap rule.

import { startCluster, stopCluster, loopbackAddr } from "./scenarios.mjs";
import { Ledger, SioPublisher, LocalClients, statusAll, ST_OK, now } from "./ledger.mjs";
import { sleep, until } from "./procs.mjs";
import { Verdict } from "./report.mjs";

const range = (n) => Array.from({ length: n }, (_, i) => i);
const r0 = (x) => (Number.isFinite(x) ? Math.round(x) : x);

const FAULTS = {
  cut: { title: "client transport cut", proxy: false, seq: 20 },
  kill9: { title: "worker kill -9", proxy: true, seq: 21 },
  drain: { title: "worker drain (SIGTERM)", proxy: true, seq: 22 },
  "redis-stop": { title: "Redis SIGSTOP shorter than the liveness timeout", proxy: false, seq: 23 },
  "redis-restart": { title: "Redis kill -9 and restart", proxy: false, seq: 24 },
};

/** A publication in flight when Redis was killed (sent, never answered) is not sent again:
 * one that had to cross workers inside this window around the kill is counted apart. */
const IN_FLIGHT_MS = 250;

/** The verdict of one client: {recovered, reconnects, missing, inFlight, duplicates, reordered}.
 * `tKill`: when Redis was killed (redis-restart), else null. */
function judge(rec, pubs, tEnd, tKill) {
  const first = rec.sessions.find((s) => s.tj);
  const out = { reconnects: Math.max(0, rec.sessions.length - 1), recovered: false, missing: [], inFlight: [], duplicates: 0, reordered: 0 };
  if (!first) return out;
  out.recovered = rec.sessions.slice(1).every((s) => s.recovered);
  const seen = new Map(); // pub -> Set(seq)
  const last = new Map(); // `${session}/${pub}` or pub -> last seq
  for (const [pub, seq, , , sess] of rec.recv) {
    const s = seen.get(pub) || new Set();
    seen.set(pub, s);
    if (s.has(seq)) out.duplicates++;
    s.add(seq);
    const k = out.recovered ? pub : `${sess}/${pub}`;
    if ((last.get(k) ?? -1) > seq) out.reordered++;
    last.set(k, seq);
  }
  if (!out.recovered) return out;
  for (const p of pubs) {
    if (!rec.rooms.includes(p.room)) continue;
    for (const e of p.entries) {
      if (e.st !== ST_OK || e.t < first.tj || e.t > tEnd || seen.get(p.id)?.has(e.seq)) continue;
      const crossing = rec.sessions.some((s) => s.w !== e.via);
      if (tKill !== null && crossing && Math.abs(e.t - tKill) <= IN_FLIGHT_MS) out.inFlight.push(`${p.id}#${e.seq}`);
      else out.missing.push(`${p.id}#${e.seq}`);
    }
  }
  return out;
}

export async function recoveryFault({ fault, clients = 30, rooms = 3, intervalMs = 100, warmMs = 1500, afterMs = 2500, windowMs = 120000, downMs = 2000, cutAfterMs = 0 } = {}) {
  const f = FAULTS[fault];
  if (!f) throw new Error(`recoveryFault: unknown fault ${fault}`);
  const v = new Verdict();
  const c = await startCluster({ n: 3, proxy: f.proxy, workerFlags: { "adapter-mode": "streams", "max-disconnection-duration": windowMs, "drain-timeout": 3000 } });
  const ledger = new Ledger();
  const roomNames = range(rooms).map((i) => `room-${i}`);
  const host = new LocalClients();
  const url = (i) => (f.proxy ? `http://127.0.0.1:${c.proxy.port}` : c.workers[i % 3].url);
  const configs = range(clients).map((i) => ({
    id: `c${i}`, url: url(i), rooms: [roomNames[i % rooms]], localAddress: f.proxy ? loopbackAddr(i) : undefined,
    clientOpts: { reconnectionDelay: 300, reconnectionDelayMax: 1000 },
  }));
  // publishers on w2 and w3 (w1 is the worker that kill9 / drain take away): one per room and worker
  const pubs = [];
  for (const room of roomNames) for (const w of c.workers.slice(1)) pubs.push(new SioPublisher(ledger, { id: `p-${room}-${w.id}`, url: w.url, room, intervalMs }));
  try {
    await host.start(configs);
    await until(async () => (await statusAll([host])).joined === clients, 20000, 100, "clients joined");
    await Promise.all(pubs.map((p) => p.connected()));
    for (const p of pubs) p.start();
    await sleep(warmMs);
    const onW1 = host.clients.filter((cl) => cl.state().w === "w1").length;
    const tF = now();
    if (fault === "cut") {
      host.clients.forEach((cl, i) => i % 2 === 0 && cl.socket.io.engine.close());
    } else if (fault === "kill9") {
      c.workers[0].kill("SIGKILL");
    } else if (fault === "drain") {
      c.workers[0].kill("SIGTERM");
    } else if (fault === "redis-stop") {
      c.redis.pause();
      await sleep(downMs);
      c.redis.resume();
    } else {
      await c.redis.stop("SIGKILL");
      await sleep(downMs);
      await c.redis.start();
    }
    // then half the clients lose their transport: their sessions must have been written again
    // into the restarted (empty) Redis, with offsets of the new stream
    if (cutAfterMs) {
      await sleep(cutAfterMs);
      host.clients.forEach((cl, i) => i % 2 === 0 && cl.socket.io.engine.close());
    }
    await until(async () => (await statusAll([host])).connected === clients, 20000, 100, "clients connected again").catch(() => {});
    await sleep(afterMs);
    for (const p of pubs) p.stop();
    const tEnd = now();
    await sleep(2000);
    const records = await host.collect();
    const pubRecs = [...ledger.pubs.values()];
    const js = records.map((r) => ({ id: r.id, ...judge(r, pubRecs, tEnd, fault === "redis-restart" ? tF : null) }));
    const inFlight = new Set(js.flatMap((j) => j.inFlight));
    const cut = js.filter((j) => j.reconnects > 0);
    const recovered = cut.filter((j) => j.recovered);
    const gaps = js.filter((j) => j.recovered || j.reconnects === 0).reduce((a, j) => a + j.missing.length, 0);
    const dups = js.reduce((a, j) => a + j.duplicates, 0);
    const reord = js.reduce((a, j) => a + j.reordered, 0);
    const m = await Promise.all(c.workers.slice(fault === "kill9" || fault === "drain" ? 1 : 0).map((w) => w.metrics().catch(() => new Map())));
    const sum = (k) => m.reduce((a, x) => a + (x.get(k) ?? 0), 0);
    const replayed = sum("sioc_recovery_replayed_total");
    const results = Object.fromEntries(["recovered", "expired", "unknown_pid", "offset_trimmed"].map((r) => [r, sum(`sioc_recovery_total{result="${r}"}`)]));
    const t = ledger.totals();
    const expectCut = fault === "cut" || cutAfterMs ? Math.ceil(clients / 2) : fault === "kill9" || fault === "drain" ? onW1 : 0;
    v.check(gaps === 0, `${gaps} acknowledged publications missing at recovered or never-disconnected clients, e.g. ${JSON.stringify(js.filter((j) => j.missing.length).slice(0, 3).map((j) => ({ id: j.id, missing: j.missing.slice(0, 5) })))}`);
    v.check(dups === 0, `${dups} duplicates`);
    v.check(reord === 0, `${reord} reordered`);
    v.check(cut.length >= expectCut, `${cut.length} clients reconnected, ${expectCut} expected`);
    v.check(recovered.length === cut.length, `${cut.length - recovered.length} of ${cut.length} reconnected clients were not recovered: ${JSON.stringify(js.filter((j) => j.reconnects && !j.recovered).slice(0, 4).map((j) => j.id))}`);
    v.check(t.ok > 0, "nothing published");
    const frac = cut.length ? `${recovered.length} / ${cut.length}` : "no client disconnected";
    return {
      id: `recovery-${fault}`,
      group: "fault",
      seq: f.seq,
      title: `Recovery on: ${f.title}${cutAfterMs ? ", then transport cuts" : ""}`,
      short: `streams mode, --max-disconnection-duration ${windowMs}; ${clients} clients in ${rooms} rooms${f.proxy ? " through the proxy" : ""}; ${pubs.length} publishers on w2 / w3 every ${intervalMs} ms; ${f.title}`,
      did: `3 workers (--adapter-mode streams --max-disconnection-duration ${windowMs}) on one Redis${f.proxy ? ", sioc-proxy in front" : ""}; ${clients} socket.io clients (reconnection delay 300..1000 ms) in ${rooms} rooms, ${pubs.length} acked publishers (one per room on w2 and on w3). Fault: ${fault === "cut" ? "the transport of every other client closed under it (engine.close(): the server sees a transport close)" : fault === "kill9" ? `w1 (${onW1} clients) killed with SIGKILL` : fault === "drain" ? `w1 (${onW1} clients) sent SIGTERM (drain)` : fault === "redis-stop" ? `Redis SIGSTOPped for ${downMs} ms (liveness timeout 3000 ms)` : `Redis killed with SIGKILL and started again on its port ${downMs} ms later (empty: no persistence)`}${cutAfterMs ? `; ${cutAfterMs} ms after Redis was back, the transport of every other client closed under it (their sessions must have been written again into the new Redis)` : ""}. Every recovered client, and every client that never disconnected, must hold every acknowledged publication to its room from its first join to the end, once, in order.`,
      summary: `recovered ${frac}; missing ${gaps}, duplicates ${dups}, reordered ${reord}; replayed packets ${replayed}${fault === "redis-restart" ? `; in flight at the kill and lost for other workers: ${inFlight.size}` : ""}`,
      measured: {
        "clients that reconnected / recovered (socket.recovered)": frac,
        "publications acked / unknown": `${t.ok} / ${t.unknown}`,
        "missing at recovered or never-disconnected clients": gaps,
        ...(fault === "redis-restart" ? { [`publications in flight (sent within ${IN_FLIGHT_MS} ms of the kill) that other workers never got`]: inFlight.size } : {}),
        "duplicates / reordered": `${dups} / ${reord}`,
        "sioc_recovery_total by result (surviving workers)": results,
        "sioc_recovery_replayed_total (surviving workers)": replayed,
        "clients connected again after the fault (ms)": r0(Math.max(0, ...records.map((r) => (r.sessions.length > 1 ? r.sessions[r.sessions.length - 1].tc - tF : 0)))),
      },
      notes: fault === "redis-restart"
        ? "Publishes made while the publisher link is down wait in the outage queue (--adapter-queue-max) and are sent when Redis is back; the readers resume from their last entry id on the new, empty stream. What Redis held when it was killed is gone with it: an XADD written but not answered when Redis died is not sent again (it may have been applied: sending it twice would duplicate it), and sessions and offsets from before the restart are gone (the workers write the sessions of their connected sockets again when the link is back; a client that reconnects later with an offset from the old stream starts a new session)."
        : undefined,
      problems: v.problems,
    };
  } finally {
    for (const p of pubs) p.close();
    await host.stop();
    await stopCluster(c);
  }
}
