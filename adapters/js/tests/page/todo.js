// A small to-do view on ui-flow-js, shaped like examples/todo-model, for
// the Node test to drive. Rows are <li data-id> with the title as text.
import init, { FlowClient, FlowSocket } from "ui-flow-js";

export function applyDelta(state, delta) {
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

/** Mounts a list bound to a new FlowClient (with `extra` options, such as
 * the token) and records what it saw. */
function mount(url, extra = {}) {
  const root = document.createElement("div");
  document.body.append(root);
  const list = document.createElement("ul");
  root.append(list);
  const seen = { statuses: [], deltas: [], notes: [], rows: [] };
  const render = (state) => {
    list.replaceChildren(
      ...(state?.items ?? []).map((t) => {
        const li = document.createElement("li");
        li.dataset.id = String(t.id);
        li.textContent = t.title;
        return li;
      }),
    );
  };
  // Every row insertion and removal, so a test sees an optimistic row that
  // came and went between two of its checks.
  new MutationObserver((records) => {
    for (const r of records) {
      for (const n of r.addedNodes) if (n.dataset) seen.rows.push(["added", n.dataset.id]);
      for (const n of r.removedNodes) if (n.dataset) seen.rows.push(["removed", n.dataset.id]);
    }
  }).observe(list, { childList: true });
  const client = FlowClient.connect(url, {
    applyDelta,
    subscribe: ["todos"],
    onState: render,
    onStatus: (status) => seen.statuses.push(status.kind),
    onDelta: (delta, seq) => seen.deltas.push({ delta, seq }),
    onNotify: (domain, event, correlationId) => seen.notes.push({ domain, event, correlationId }),
    ...extra,
  });
  return { root, list, client, seen };
}

await init();
window.flowTest = { FlowClient, FlowSocket, applyDelta, mount, apps: [] };
