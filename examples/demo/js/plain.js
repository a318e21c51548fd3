// The demo's world from plain JavaScript, through ui-flow-js. Everything
// about the world here (the reducer, the shapes) comes from
// docs/demo-protocol.md, not from the Rust types: this is what a client in
// another language does.
import init, { FlowClient } from "ui-flow-js";

/** The demo's `apply_delta`, as a reducer: returns a new world. */
export function applyDelta(world, delta) {
  const w = structuredClone(world);
  const player = (user) => w.players.find((p) => p.user === user);
  switch (delta.type) {
    case "entered": {
      const i = w.players.findIndex((p) => p.user === delta.player.user);
      if (i >= 0) w.players[i] = delta.player;
      else w.players.push(delta.player);
      break;
    }
    case "moved": {
      const p = player(delta.user);
      if (p) p.at = delta.to;
      break;
    }
    case "took": {
      const before = w.items.length;
      w.items = w.items.filter((item) => item.id !== delta.item);
      const p = player(delta.user);
      if (p && w.items.length < before) p.score += delta.points;
      break;
    }
    case "dug": {
      if (!w.dug.some((h) => h.q === delta.at.q && h.r === delta.at.r)) w.dug.push(delta.at);
      const p = player(delta.user);
      if (p) p.score += delta.points;
      break;
    }
    case "spawned":
      if (!w.items.some((item) => item.id === delta.item.id)) w.items.push(delta.item);
      break;
    case "scored": {
      const p = player(delta.user);
      if (p) p.score += delta.points;
      break;
    }
    case "left":
      w.players = w.players.filter((p) => p.user !== delta.user);
      break;
  }
  return w;
}

// Who we are: ?user= and ?name=, or made up once per tab.
const params = new URLSearchParams(location.search);
// Letters, digits, - and _ only (at most 32): the id is the token, which
// travels in a header.
const cleanId = (raw) => (raw ?? "").replace(/[^A-Za-z0-9_-]/g, "").slice(0, 32);
const user =
  cleanId(params.get("user")) ||
  cleanId(sessionStorage.getItem("hexfield.js.user")) ||
  `js-${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, "0")}`;
const name = params.get("name") ?? `JS ${user.slice(-4)}`;
const world = params.get("world") ?? "meadow";
sessionStorage.setItem("hexfield.js.user", user);

// Board geometry: pointy-top hexes, as in the Leptos app.
const SIZE = 24;
const SQRT3 = Math.sqrt(3);
const centre = ({ q, r }) => [SIZE * SQRT3 * (q + r / 2), SIZE * 1.5 * r];
const outline = (h) => {
  const [x, y] = centre(h);
  return [0, 1, 2, 3, 4, 5]
    .map((i) => {
      const a = ((60 * i - 30) * Math.PI) / 180;
      return `${(x + (SIZE - 1) * Math.cos(a)).toFixed(1)},${(y + (SIZE - 1) * Math.sin(a)).toFixed(1)}`;
    })
    .join(" ");
};
const same = (a, b) => a.q === b.q && a.r === b.r;
const ITEM_COLOURS = { berry: "#e5484d", coin: "#f5c542", gem: "#41b8e8", relic: "#41b8e8" };
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

const board = document.getElementById("board");
let refused = null;

function render(w) {
  if (!w) return;
  const n = w.radius;
  const width = SQRT3 * SIZE * (2 * n + 1) + 8;
  const height = SIZE * (3 * n + 2) + 8;
  board.setAttribute("viewBox", `${-width / 2} ${-height / 2} ${width} ${height}`);
  const nodes = [];
  for (let r = -n; r <= n; r++) {
    for (let q = Math.max(-n, -n - r); q <= Math.min(n, n - r); q++) {
      const h = { q, r };
      const wall = w.walls.some((x) => same(x, h));
      const dug = w.dug.some((x) => same(x, h));
      const cell = el("polygon", {
        class: `cell${wall ? " wall" : ""}${dug ? " dug" : ""}`,
        points: outline(h),
        "data-q": q,
        "data-r": r,
      });
      cell.addEventListener("click", () => step(h));
      nodes.push(cell);
    }
  }
  for (const item of w.items) {
    const [x, y] = centre(item.at);
    nodes.push(el("circle", { class: "item", cx: x, cy: y, r: 6, fill: ITEM_COLOURS[item.kind] ?? "#999" }));
  }
  if (refused) nodes.push(el("polygon", { class: "refused", points: outline(refused) }));
  for (const p of w.players) {
    const [x, y] = centre(p.at);
    const g = el("g", {
      class: `player${p.user === user ? " me" : ""}`,
      "data-player": p.user,
      "data-q": p.at.q,
      "data-r": p.at.r,
    });
    g.append(
      el("circle", { cx: x, cy: y, r: 10, fill: `hsl(${p.hue} 62% 56%)` }),
      el("text", { x, y: y + 22 }, p.name),
    );
    nodes.push(g);
  }
  board.replaceChildren(...nodes);
  const me = w.players.find((p) => p.user === user);
  document.getElementById("me").textContent = me
    ? `You are ${me.name} (${user}) at (${me.at.q}, ${me.at.r}) with ${me.score} points.`
    : "Entering the world…";
}

// The log of everything the client reported, newest first. A row that
// repeats the one above it (a retry after a retry) is counted there, not
// added; a row too long for the column is cut with an ellipsis and opens
// in full on a click.
const log = document.getElementById("log");
function note(kind, text, extra = "") {
  const top = log.firstElementChild;
  if (top && top.dataset.kind === kind && top.dataset.text === text) {
    const count = Number(top.dataset.count) + 1;
    top.dataset.count = count;
    top.querySelector(".repeat").textContent = `×${count}`;
    return;
  }
  const li = document.createElement("li");
  li.className = `${kind} ${extra}`.trim();
  li.dataset.kind = kind;
  li.dataset.text = text;
  li.dataset.count = 1;
  const k = document.createElement("span");
  k.className = "kind";
  k.textContent = kind;
  const repeat = document.createElement("span");
  repeat.className = "repeat";
  li.append(k, text, repeat);
  li.addEventListener("click", () => {
    const open = li.classList.toggle("expanded");
    li.setAttribute("aria-expanded", `${open}`);
  });
  log.prepend(li);
  if (li.scrollWidth > li.clientWidth + 1) {
    li.classList.add("cut");
    li.title = "click to show all of it";
    li.setAttribute("aria-expanded", "false");
  }
  while (log.children.length > 200) log.lastChild.remove();
}
const brief = (value) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}` : v));

function showPeople(members) {
  const list = document.getElementById("people");
  list.replaceChildren(
    ...members.map((m) => {
      const li = document.createElement("li");
      li.dataset.user = m.userId;
      li.dataset.status = m.status;
      const who = client.state?.players.find((p) => p.user === m.userId);
      li.textContent = who ? `${who.name} (${m.userId})` : m.userId;
      const st = document.createElement("span");
      st.className = "st";
      st.textContent = m.status;
      li.append(st);
      return li;
    }),
  );
}

/** Why a connection closed for good, in words. */
function closeText(reason) {
  switch (reason?.kind) {
    case "requested": return "closed by this page";
    case "fatal": return `the server refused the connection${reason.code ? ` (${reason.code})` : ""}: ${reason.message}`;
    case "final": return `the server closed the connection (${reason.code})${reason.reason ? `: ${reason.reason}` : ""}`;
    case "incompatible": return `the server speaks protocol version ${reason.serverVersion}`;
    default: return reason?.message ?? "unknown reason";
  }
}

function showStatus(status) {
  const box = document.getElementById("status");
  box.dataset.status = status.kind;
  // While not connected, the board and the people are the last ones known.
  document.body.classList.toggle("stale", status.kind !== "open");
  const text = {
    connecting: "Connecting…",
    open: "Connected",
    reconnecting: `Reconnecting (attempt ${status.attempt})`,
    closed: `Closed: ${closeText(status.reason)}`,
  }[status.kind];
  box.querySelector(".text").textContent = client?.latency !== undefined && status.kind === "open"
    ? `${text} · ${Math.round(client.latency)} ms`
    : text;
}

let entering = false;
function enterIfMissing() {
  const w = client.state;
  if (entering || client.status.kind !== "open" || !w || w.players.some((p) => p.user === user)) return;
  entering = true;
  client
    .sendAction({ type: "enter", name })
    .catch((error) => note("refused", ` enter: ${error.message}`, "refused"))
    .finally(() => { entering = false; });
}

function step(to) {
  const w = client.state;
  const me = w?.players.find((p) => p.user === user);
  if (!me || same(me.at, to) || client.status.kind !== "open") return;
  const optimistic = { type: "moved", user, to };
  client.sendAction({ type: "move", to }, { optimistic }).catch((error) => {
    note("refused", ` move to (${to.q}, ${to.r}): ${error.code ?? ""} ${error.message}`, "refused");
    refused = to;
    render(client.state);
    setTimeout(() => { refused = null; render(client.state); }, 900);
  });
}

await init();
// The user id is the demo's token: sent in Sec-WebSocket-Protocol, not the URL.
const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/realtime/${world}`;
const client = FlowClient.connect(url, {
  token: user,
  applyDelta,
  subscribe: ["world", "rewards"],
  config: { pingIntervalMs: 5000, backoffMaxMs: 8000 },
  onState: (state) => {
    render(state);
    showPeople(client.presence);
    enterIfMissing();
  },
  onSnapshot: (state, seq) =>
    note("snapshot", ` seq ${seq}: ${state.players.length} players, ${state.items.length} items`),
  onDelta: (delta, seq) => note("delta", ` seq ${seq}: ${brief(delta)}`),
  onNotify: (domain, event, correlationId) =>
    note("notify", ` ${domain}: ${brief(event)}${correlationId ? ` ← ${correlationId.slice(0, 6)}` : ""}`),
  onPresence: (members, diff) => {
    showPeople(members);
    const parts = [
      ...diff.joined.map((m) => `+${m.userId}`),
      ...diff.updated.map((m) => `~${m.userId} ${m.status}`),
      ...diff.left.map((u) => `-${u}`),
    ];
    note("presence", ` ${parts.join(" ")}`);
  },
  onAction: (opId, state) => note("action", ` ${opId.slice(0, 6)} ${brief(state)}`),
  onStatus: (status) => {
    showStatus(status);
    note("status", ` ${status.kind}`);
    enterIfMissing();
  },
});
setInterval(() => showStatus(client.status), 1000);
window.hexfield = { client, user };
