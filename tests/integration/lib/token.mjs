// JWT helpers: jsonwebtoken for well-formed tokens, hand-made ones for attacks.

import { createRequire } from "node:module";
import { createHmac } from "node:crypto";

const require = createRequire(import.meta.url);
const jwt = require("jsonwebtoken");

export const TEST_SECRET = "sioc-integration-test-secret-0123456789";

/**
 * Sign a token. Options: sub (default "alice"), secret (HS256, default TEST_SECRET),
 * alg, key (PEM private key for RS256/ES256), expiresIn (seconds, default 3600),
 * claims (extra payload, may set exp/nbf/iat directly; then expiresIn is ignored).
 */
export function makeToken({ sub = "alice", secret = TEST_SECRET, alg = "HS256", key, expiresIn = 3600, claims = {} } = {}) {
  const payload = { sub, ...claims };
  const opts = { algorithm: alg };
  if (!("exp" in payload) && expiresIn !== null) opts.expiresIn = expiresIn;
  return jwt.sign(payload, alg === "HS256" ? secret : key, opts);
}

const b64url = (x) => Buffer.from(typeof x === "string" ? x : JSON.stringify(x)).toString("base64url");

/** Build a token by hand: header and payload objects, signed with HMAC-SHA256 over `hmacKey` unless it is null. */
export function craftToken(header, payload, hmacKey = null) {
  const input = `${b64url(header)}.${b64url(payload)}`;
  if (hmacKey === null) return `${input}.`;
  return `${input}.${createHmac("sha256", hmacKey).update(input).digest("base64url")}`;
}

export const nowSec = () => Math.floor(Date.now() / 1000);
