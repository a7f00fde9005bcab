// socket.io-client helpers. Every socket made through a ClientPool is closed by
// pool.closeAll() (call it in an `after`/`afterEach` hook) so no handle keeps the
// test process alive.

import { io } from "socket.io-client";
import { withTimeout } from "./util.mjs";

export { io };

export const TRANSPORT_MODES = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
  upgrade: { transports: ["polling", "websocket"] },
};

export class ClientPool {
  constructor() {
    this.sockets = new Set();
  }

  /**
   * Create a socket (not awaited). `server` = object with .url (or a URL string).
   * Defaults: forceNew, no reconnection, path /socket.io/.
   */
  create(server, { nsp = "/", ...opts } = {}) {
    const base = typeof server === "string" ? server : server.url;
    const socket = io(base + (nsp === "/" ? "" : nsp), {
      forceNew: true,
      reconnection: false,
      timeout: 5000,
      ...opts,
    });
    this.sockets.add(socket);
    return socket;
  }

  /** Create a socket and resolve once it is connected; reject with the connect_error. */
  async connect(server, opts = {}, timeoutMs = 5000) {
    const socket = this.create(server, opts);
    await withTimeout(connected(socket), timeoutMs, "socket.io connect");
    return socket;
  }

  /** Create a socket expecting a connect_error; resolves with the error. */
  async connectError(server, opts = {}, timeoutMs = 5000) {
    const socket = this.create(server, opts);
    return withTimeout(
      new Promise((resolve, reject) => {
        socket.once("connect", () => reject(new Error("connected, expected connect_error")));
        socket.once("connect_error", (err) => resolve(err));
      }),
      timeoutMs,
      "connect_error",
    );
  }

  close(socket) {
    socket.io.opts.reconnection = false;
    socket.disconnect();
    // the Manager closes the engine once none of its sockets is active
    if (socket.io.engine) socket.io.engine.close();
    this.sockets.delete(socket);
  }

  closeAll() {
    for (const s of [...this.sockets]) this.close(s);
  }
}

export function connected(socket) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    const ok = () => {
      socket.off("connect_error", ko);
      resolve(socket);
    };
    const ko = (err) => {
      socket.off("connect", ok);
      reject(err);
    };
    socket.once("connect", ok);
    socket.once("connect_error", ko);
  });
}

/** emit with an ack, rejecting after `timeoutMs`. */
export function emitAck(socket, event, ...args) {
  return socket.timeout(5000).emitWithAck(event, ...args);
}
