// JWT authentication of the chat app: every refused token ends in connect_error
// "Authentication error"; good HS256 / RS256 / ES256 tokens are accepted; a
// token expiring while connected ends the socket with "io server disconnect".

import { describe, it, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, createSign } from "node:crypto";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startServer, stopAll } from "./lib/server.mjs";
import { ClientPool, TRANSPORT_MODES, emitAck } from "./lib/client.mjs";
import { makeToken, craftToken, nowSec, TEST_SECRET } from "./lib/token.mjs";
import { waitFor, happensWithin } from "./lib/util.mjs";
import { pollingHandshake, post, SEP } from "./lib/raw.mjs";

const pool = new ClientPool();
const dir = mkdtempSync(path.join(tmpdir(), "sioc-auth-"));

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const rsaOther = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const pem = (k) => k.export({ type: k.type === "private" ? "pkcs8" : "spki", format: "pem" });
const rsaPubPem = pem(rsa.publicKey);
const rsaPubFile = path.join(dir, "rsa.pub.pem");
const ecPubFile = path.join(dir, "ec.pub.pem");
writeFileSync(rsaPubFile, rsaPubPem);
writeFileSync(ecPubFile, pem(ec.publicKey));

let hs, rs, es;

before(async () => {
  [hs, rs, es] = await Promise.all([
    startServer({ flags: { app: "chat", "jwt-secret": TEST_SECRET } }),
    startServer({ flags: { app: "chat", "jwt-alg": "RS256", "jwt-public-key": rsaPubFile } }),
    startServer({ flags: { app: "chat", "jwt-alg": "ES256", "jwt-public-key": ecPubFile } }),
  ]);
});
after(async () => {
  pool.closeAll();
  await stopAll(hs, rs, es);
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => pool.closeAll());

async function refused(server, auth, mode = "websocket") {
  const err = await pool.connectError(server, { ...TRANSPORT_MODES[mode], ...(auth === undefined ? {} : { auth }) });
  assert.equal(err.message, "Authentication error");
}

async function accepted(server, token, mode = "websocket") {
  const s = await pool.connect(server, { ...TRANSPORT_MODES[mode], auth: { token } });
  assert.deepEqual(await emitAck(s, "join-room", "authed"), { ok: true });
  return s;
}

describe("HS256 (--jwt-secret)", () => {
  for (const mode of ["websocket", "polling"]) {
    it(`a valid token is accepted (${mode})`, async () => {
      await accepted(hs, makeToken({ sub: "alice" }), mode);
    });
    it(`missing token → Authentication error (${mode})`, async () => {
      await refused(hs, undefined, mode);
      await refused(hs, {}, mode);
    });
  }

  it("token of the wrong type / empty → Authentication error", async () => {
    await refused(hs, { token: "" });
    await refused(hs, { token: 12345 });
    await refused(hs, { token: { a: 1 } });
  });

  it("garbage tokens → Authentication error", async () => {
    for (const token of ["garbage", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9.e30", "x".repeat(5000)]) {
      await refused(hs, { token });
    }
  });

  it("signed with the wrong secret → Authentication error", async () => {
    await refused(hs, { token: makeToken({ secret: "not-the-secret" }) });
  });

  it("tampered payload (signature no longer matches) → Authentication error", async () => {
    const [h, , sig] = makeToken({ sub: "alice" }).split(".");
    const p = Buffer.from(JSON.stringify({ sub: "admin", exp: nowSec() + 3600 })).toString("base64url");
    await refused(hs, { token: `${h}.${p}.${sig}` });
  });

  it("expired → Authentication error", async () => {
    await refused(hs, { token: makeToken({ claims: { exp: nowSec() - 10, iat: nowSec() - 100 } }) });
  });

  it("nbf in the future → Authentication error", async () => {
    await refused(hs, { token: makeToken({ claims: { nbf: nowSec() + 120, exp: nowSec() + 3600 } }) });
  });

  it("NumericDates with fractions (as PyJWT writes them) are honoured; other types are refused", async () => {
    const hs256 = (payload) => craftToken({ alg: "HS256", typ: "JWT" }, { sub: "alice", ...payload }, TEST_SECRET);
    const t = Date.now() / 1000;
    await refused(hs, { token: hs256({ nbf: nowSec() + 86400.5, exp: t + 3600 }) });
    await accepted(hs, hs256({ iat: t, nbf: t - 1.5, exp: t + 3600.25 }));
    await refused(hs, { token: hs256({ exp: t - 0.5 }) });
    await refused(hs, { token: hs256({ exp: String(nowSec() + 3600) }) });
    await refused(hs, { token: hs256({ nbf: "0", exp: t + 3600 }) });
    await refused(hs, { token: hs256({ iat: true, exp: t + 3600 }) });
  });

  it("a flood of refused handshakes writes a bounded number of log lines", async () => {
    const server = await startServer({ flags: { app: "chat", "jwt-secret": TEST_SECRET }, env: { LOG_LEVEL: "info" } });
    try {
      const { sid } = await pollingHandshake(server, "/socket.io/");
      const body = Array.from({ length: 5000 }, () => '40{"token":"x"}').join(SEP);
      const r = await post(server, "/socket.io/", sid, body);
      assert.equal(r.status, 200);
      for (let i = 0; i < 40 && !server.output().includes("handshake refused"); i++) await new Promise((res) => setTimeout(res, 50));
      await new Promise((res) => setTimeout(res, 300));
      const lines = server.output().split("\n").filter((l) => l.includes("handshake refused"));
      assert.ok(lines.length >= 1 && lines.length <= 5, `${lines.length} "handshake refused" lines for 5000 refusals`);
    } finally {
      await stopAll(server);
    }
  });

  it("alg none (unsigned) → Authentication error", async () => {
    const payload = { sub: "alice", iat: nowSec(), exp: nowSec() + 3600 };
    await refused(hs, { token: craftToken({ alg: "none", typ: "JWT" }, payload) });
    await refused(hs, { token: craftToken({ alg: "none", typ: "JWT" }, payload).slice(0, -1) });
    await refused(hs, { token: craftToken({ alg: "None", typ: "JWT" }, payload) });
  });

  it("a correct HMAC under a header claiming another algorithm → Authentication error (alg is pinned)", async () => {
    const payload = { sub: "alice", iat: nowSec(), exp: nowSec() + 3600 };
    // HS384/HS512 header but an HS256 signature, and an HS256 signature under an RS256 header
    await refused(hs, { token: craftToken({ alg: "HS384", typ: "JWT" }, payload, TEST_SECRET) });
    await refused(hs, { token: craftToken({ alg: "RS256", typ: "JWT" }, payload, TEST_SECRET) });
    // control: the same hand-made token with the right header is accepted
    await accepted(hs, craftToken({ alg: "HS256", typ: "JWT" }, payload, TEST_SECRET));
  });

  it("the refused client can still connect with a good token afterwards (server unharmed)", async () => {
    await refused(hs, { token: "garbage" });
    await accepted(hs, makeToken({ sub: "bob" }));
  });
});

describe("RS256 (--jwt-alg RS256 --jwt-public-key)", () => {
  const payload = () => ({ sub: "alice", iat: nowSec(), exp: nowSec() + 3600 });

  it("an RS256 token signed by the matching private key is accepted", async () => {
    await accepted(rs, makeToken({ alg: "RS256", key: rsa.privateKey }));
    await accepted(rs, makeToken({ alg: "RS256", key: rsa.privateKey }), "polling");
  });

  it("algorithm confusion: HS256 token whose HMAC key is the RSA public key PEM → Authentication error", async () => {
    await refused(rs, { token: craftToken({ alg: "HS256", typ: "JWT" }, payload(), rsaPubPem) });
    await refused(rs, { token: craftToken({ alg: "HS256", typ: "JWT" }, payload(), rsaPubPem.trim()) });
  });

  it("RS256 token signed by another key → Authentication error", async () => {
    await refused(rs, { token: makeToken({ alg: "RS256", key: rsaOther.privateKey }) });
  });

  it("HS256 token with the test secret, alg none, expired RS256 → Authentication error", async () => {
    await refused(rs, { token: makeToken() });
    await refused(rs, { token: craftToken({ alg: "none", typ: "JWT" }, payload()) });
    await refused(rs, { token: makeToken({ alg: "RS256", key: rsa.privateKey, claims: { exp: nowSec() - 5 } }) });
  });

  it("RS256 token assembled by hand with node:crypto is accepted (no jsonwebtoken-specific claims needed)", async () => {
    const input = `${Buffer.from(JSON.stringify({ alg: "RS256", typ: "JWT" })).toString("base64url")}.${Buffer.from(
      JSON.stringify(payload()),
    ).toString("base64url")}`;
    const sig = createSign("RSA-SHA256").update(input).sign(rsa.privateKey).toString("base64url");
    await accepted(rs, `${input}.${sig}`);
  });
});

describe("ES256 (--jwt-alg ES256 --jwt-public-key)", () => {
  it("an ES256 token is accepted; RS256 and HS256 tokens are refused", async () => {
    await accepted(es, makeToken({ alg: "ES256", key: ec.privateKey }));
    await refused(es, { token: makeToken({ alg: "RS256", key: rsa.privateKey }) });
    await refused(es, { token: makeToken() });
  });
});

describe("token expiring while connected", () => {
  it("the socket gets disconnect 'io server disconnect' shortly after exp; a long-lived one stays", async () => {
    const exp = nowSec() + 2;
    const short = await accepted(hs, makeToken({ sub: "short", claims: { exp } }));
    const long = await accepted(hs, makeToken({ sub: "long", expiresIn: 3600 }));
    const longLost = happensWithin(long, "disconnect", 4500);
    const [reason] = await waitFor(short, "disconnect", 5000);
    const at = Date.now();
    assert.equal(reason, "io server disconnect");
    assert.ok(at >= exp * 1000 - 50, `disconnected ${exp * 1000 - at} ms before exp`);
    assert.ok(at <= exp * 1000 + 1500, `disconnected ${at - exp * 1000} ms after exp`);
    assert.equal(await longLost, false, "the socket with a valid token must stay connected");
    assert.deepEqual(await emitAck(long, "join-room", "still-ok"), { ok: true });
  });

  it("expiry over polling too", async () => {
    // exp in whole seconds: nowSec() + 1 can be 1 ms away, and then the token is already
    // expired when the CONNECT arrives; + 2 leaves at least one second.
    const exp = nowSec() + 2;
    const s = await accepted(hs, makeToken({ sub: "p", claims: { exp } }), "polling");
    const [reason] = await waitFor(s, "disconnect", 5000);
    assert.equal(reason, "io server disconnect");
    assert.ok(Date.now() >= exp * 1000 - 50);
  });
});
