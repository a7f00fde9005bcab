// Small promise helpers shared by the integration tests (sleep and until come from
// tests/lib/proc.mjs, shared with the other suites).

import { sleep, until } from "../../lib/proc.mjs";

export { sleep, until };

function off(emitter, event, fn) {
  if (typeof emitter.off === "function") emitter.off(event, fn);
  else emitter.removeListener(event, fn);
}

/**
 * Resolve with the argument list of the next `event` on `emitter` (Node
 * EventEmitter or socket.io-client emitter), reject after `timeoutMs`.
 */
export function waitFor(emitter, event, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const fn = (...args) => {
      clearTimeout(timer);
      resolve(args);
    };
    const timer = setTimeout(() => {
      off(emitter, event, fn);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${event}"`));
    }, timeoutMs);
    emitter.once(event, fn);
  });
}

/** Reject `promise` with a labelled error if it does not settle within `ms`. */
export function withTimeout(promise, ms, label = "operation") {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${label} timed out after ${ms} ms`)), ms);
    }),
  ]);
}

/** Resolves true if `event` fires within `ms`, false otherwise (for "must not happen" checks). */
export function happensWithin(emitter, event, ms) {
  return waitFor(emitter, event, ms).then(
    () => true,
    () => false,
  );
}

/** Copy any binary representation (Buffer, ArrayBuffer, typed array) into a Buffer. */
export function toBuffer(x) {
  if (Buffer.isBuffer(x)) return x;
  if (x instanceof ArrayBuffer) return Buffer.from(x);
  if (ArrayBuffer.isView(x)) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  throw new TypeError(`not binary: ${Object.prototype.toString.call(x)}`);
}

/** Deep copy turning every binary leaf into a Buffer, for deepStrictEqual comparisons. */
export function normalizeBinary(x) {
  if (x === null || typeof x !== "object") return x;
  if (Buffer.isBuffer(x) || x instanceof ArrayBuffer || ArrayBuffer.isView(x)) return Buffer.from(toBuffer(x));
  if (Array.isArray(x)) return x.map(normalizeBinary);
  const out = {};
  for (const [k, v] of Object.entries(x)) out[k] = normalizeBinary(v);
  return out;
}
