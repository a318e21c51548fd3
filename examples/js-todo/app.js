// A shared to-do list on ui-flow-js, the same app as the Rust examples.
// Build and run: examples/adapter-examples.sh build js, then
//   cargo run -p adapter-server -- 127.0.0.1:8080 --static examples/js-todo
//   open http://127.0.0.1:8080/?list=groceries&user=ann
import init, { FlowClient } from "ui-flow-js";

// The page's reducer: the state after one delta (examples/todo-model's
// TodoState::apply_delta, in JavaScript). It returns new objects and
// never changes its arguments.
function applyDelta(state, delta) {
  const items = state?.items ?? [];
  switch (delta.type) {
    case "added":
      return { items: [...items.filter((t) => t.id !== delta.item.id), delta.item] };
    case "toggled":
      return { items: items.map((t) => (t.id === delta.id ? { ...t, done: delta.done } : t)) };
    case "removed":
      return { items: items.filter((t) => t.id !== delta.id) };
    default:
      return state;
  }
}

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const scheme = location.protocol === "https:" ? "wss" : "ws";
const url = `${scheme}://${location.host}/realtime/${params.get("list") ?? "demo"}`;
// The development server takes the token as the user id; a real app sends
// its session's token. It travels in Sec-WebSocket-Protocol, not the URL.
const token = params.get("user") ?? "guest";

await init();
let online = 0;
const statusLine = (status) => {
  const words = { connecting: "connecting…", open: "live", reconnecting: "reconnecting", closed: "closed" };
  const latency = client.latency === undefined ? "" : ` · ${Math.round(client.latency)} ms`;
  $("status").textContent = `${words[status.kind]} · ${online} online${latency}`;
};
const client = FlowClient.connect(url, {
  token,
  applyDelta,
  subscribe: ["todos"],
  onState: render,
  onStatus: statusLine,
  onPresence: (members) => {
    online = members.length;
    statusLine(client.status);
  },
  onNotify: (_domain, event) => ($("note").textContent = `${event.by} added “${event.title}”`),
});

function send(action) {
  const optimistic = optimisticDelta(action);
  client.sendAction(action, optimistic ? { optimistic } : undefined).catch((e) => {
    $("note").textContent = `Rejected: ${e.message}`;
  });
}

// The change an action makes if the server accepts it (TodoAction::optimistic).
function optimisticDelta(action) {
  switch (action.type) {
    case "add":
      return { type: "added", item: { id: action.id, title: action.title.trim(), done: false } };
    case "toggle": {
      const item = client.state?.items.find((t) => t.id === action.id);
      return item && { type: "toggled", id: action.id, done: !item.done };
    }
    case "remove":
      return { type: "removed", id: action.id };
  }
}

function render(state) {
  $("items").replaceChildren(
    ...(state?.items ?? []).map((t) => {
      const li = document.createElement("li");
      li.dataset.id = String(t.id);
      li.className = t.done ? "done" : "";
      const box = Object.assign(document.createElement("input"), { type: "checkbox", checked: t.done });
      box.onchange = () => send({ type: "toggle", id: t.id });
      const title = Object.assign(document.createElement("span"), { textContent: t.title });
      const remove = Object.assign(document.createElement("button"), { textContent: "×" });
      remove.onclick = () => send({ type: "remove", id: t.id });
      li.append(box, title, remove);
      return li;
    }),
  );
}

$("add").onsubmit = (event) => {
  event.preventDefault();
  // A random id below 2^53, so it stays a plain number.
  const id = Math.floor(Math.random() * Number.MAX_SAFE_INTEGER);
  send({ type: "add", id, title: $("title").value });
  $("title").value = "";
};
