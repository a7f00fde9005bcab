// The sioc chat page: the stock socket.io-client against the chat application
// (join-room / leave-room / send-message, receive-message). A reconnect that the
// server recovered (connection state recovery: socket.recovered) keeps its id,
// its rooms and gets the messages it missed, and shows "recovered"; after any
// other reconnect the rooms are joined again, since a new connection starts in
// no room.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const ioPath = document.querySelector('meta[name="sioc-path"]').content;
  const params = new URLSearchParams(location.search);
  const forced = params.get("transport"); // ?transport=polling | websocket
  const transports = forced === "polling" || forced === "websocket" ? [forced] : ["polling", "websocket"];

  let socket = null;
  let me = "";
  let current = "";
  const rooms = new Set();

  function log(text) {
    const li = document.createElement("li");
    li.textContent = new Date().toLocaleTimeString() + "  " + text;
    $("log").prepend(li);
  }

  function setState(state, text) {
    $("state").dataset.state = state;
    $("state").textContent = text || state;
    $("send").disabled = state !== "connected" || !current;
    $("transport").textContent = socket && socket.io.engine && state === "connected" ? socket.io.engine.transport.name : "";
    $("sid").textContent = socket && socket.io.engine && state === "connected" ? socket.io.engine.id : "";
  }

  // The token's subject, for display: the server checks the signature, not this page.
  function subjectOf(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part)).sub || "";
    } catch (e) {
      return "";
    }
  }

  function renderRooms() {
    const ul = $("rooms");
    ul.replaceChildren();
    for (const r of rooms) {
      const li = document.createElement("li");
      li.textContent = r;
      li.dataset.room = r;
      if (r === current) li.className = "current";
      li.addEventListener("click", () => { current = r; renderRooms(); setState($("state").dataset.state, $("state").textContent); });
      ul.append(li);
    }
  }

  function addMessage(msg) {
    const m = msg && typeof msg === "object" ? msg : { text: String(msg) };
    const li = document.createElement("li");
    li.className = "msg" + (m.user === me ? " mine" : "");
    const parts = [
      ["room", m.room ? "#" + m.room : ""],
      ["from", (m.user || "?") + ":"],
      ["text", typeof m.text === "string" ? m.text : JSON.stringify(m.text ?? m)],
      ["time", m.t ? new Date(m.t).toLocaleTimeString() : ""],
    ];
    for (const [cls, text] of parts) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      li.append(span);
    }
    $("messages").append(li);
    li.scrollIntoView({ block: "nearest" });
  }

  function join(room) {
    return new Promise((resolve) => {
      socket.timeout(10000).emit("join-room", room, (err, res) => {
        if (err || !res || !res.ok) {
          log(`could not join ${room}: ${err ? "no answer" : (res && res.error) || "refused"}`);
          return resolve(false);
        }
        resolve(true);
      });
    });
  }

  function start(token) {
    me = subjectOf(token) || $("name").value;
    $("me").textContent = me ? "signed in as " + me : "";
    $("login").hidden = true;
    $("chat").hidden = false;
    setState("connecting");
    socket = io({ path: ioPath, transports, auth: { token } });
    socket.io.on("reconnect_attempt", (n) => setState("reconnecting", `reconnecting (attempt ${n})`));
    socket.on("connect", async () => {
      setState("connected");
      $("recovered").hidden = !socket.recovered;
      socket.io.engine.on("upgrade", () => { setState("connected"); log("upgraded to " + socket.io.engine.transport.name); });
      log(`connected (${socket.io.engine.transport.name}, session ${socket.io.engine.id})`);
      if (socket.recovered) {
        log(`recovered: id ${socket.id}, its rooms and the messages it missed`);
        return;
      }
      for (const r of rooms) await join(r);
      if (rooms.size) log("rejoined " + [...rooms].join(", "));
    });
    socket.on("disconnect", (reason, details) => {
      setState("disconnected", "disconnected");
      $("recovered").hidden = true;
      // a websocket close code and reason when the server gave one (1008 "slow consumer")
      const ctx = details && details.context;
      const why = ctx && typeof ctx.code === "number" && ctx.code !== 1005 && ctx.code !== 1006
        ? ` (${ctx.code}${ctx.reason ? " " + ctx.reason : ""})` : "";
      log("disconnected: " + reason + why);
      if (reason === "io server disconnect") {
        // The server ended the session (an expired token): a new token is needed.
        signOut("The server closed the session (expired token?). Sign in again.");
      }
    });
    socket.on("connect_error", (err) => {
      if (err.message === "Authentication error") {
        signOut("The server refused the token (invalid or expired).");
        return;
      }
      setState("reconnecting", "connect error: " + err.message);
    });
    socket.on("receive-message", addMessage);
  }

  function signOut(why) {
    if (socket) {
      socket.disconnect();
      socket = null;
    }
    sessionStorage.removeItem("sioc-token");
    if (me && !$("name").value) $("name").value = me;
    me = "";
    $("me").textContent = "";
    rooms.clear();
    current = "";
    renderRooms();
    $("chat").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = why || "";
    setState("idle", "not connected");
  }

  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("login-error").textContent = "";
    let token = $("token").value.trim();
    if (!token) {
      const res = await fetch("/dev/token?user=" + encodeURIComponent($("name").value), { cache: "no-store" });
      if (res.status === 404) {
        $("login-error").textContent = "This server hands out no development tokens: paste a token " +
          "(deploy/cluster token " + ($("name").value || "NAME") + ").";
        return;
      }
      const body = await res.json();
      if (!res.ok) {
        $("login-error").textContent = body.error || "no token";
        return;
      }
      token = body.token;
    }
    sessionStorage.setItem("sioc-token", token);
    start(token);
  });

  $("join-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const room = $("room").value.trim();
    if (!room || !socket) return;
    if (await join(room)) {
      rooms.add(room);
      current = room;
      $("room").value = "";
      renderRooms();
      log("joined " + room);
      setState($("state").dataset.state, $("state").textContent);
    }
  });

  $("send-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("text").value;
    if (!text || !current || !socket) return;
    const msg = { user: me, room: current, text, t: Date.now() };
    socket.timeout(10000).emit("send-message", { roomId: current, msg }, (err, res) => {
      if (err || !res || !res.ok) log("not sent: " + (err ? "no answer" : (res && res.error) || "refused"));
    });
    $("text").value = "";
  });

  $("logout").addEventListener("click", () => signOut(""));

  // A token in the fragment (deploy/cluster url NAME) signs in at once; it is taken
  // out of the address bar and kept for this tab only.
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    sessionStorage.setItem("sioc-token", hash.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  const saved = sessionStorage.getItem("sioc-token");
  if (saved) start(saved);
})();
