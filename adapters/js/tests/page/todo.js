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

/** A list in `root` rendering a to-do state, and what it saw: every row
 * inserted and removed (`seen.rows`), so a test sees an optimistic row that
 * came and went between two of its checks. */
function listIn(root) {
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
  new MutationObserver((records) => {
    for (const r of records) {
      for (const n of r.addedNodes) if (n.dataset) seen.rows.push(["added", n.dataset.id]);
      for (const n of r.removedNodes) if (n.dataset) seen.rows.push(["removed", n.dataset.id]);
    }
  }).observe(list, { childList: true });
  return { list, seen, render };
}

/** Options that render with `render` and record into `seen`. */
const recording = ({ seen, render }) => ({
  applyDelta,
  subscribe: ["todos"],
  onState: render,
  onStatus: (status) => seen.statuses.push(status.kind),
  onDelta: (delta, seq) => seen.deltas.push({ delta, seq }),
  onNotify: (domain, event, correlationId) => seen.notes.push({ domain, event, correlationId }),
});

/** Mounts a list bound to a new FlowClient (with `extra` options, such as
 * the token) and records what it saw. */
function mount(url, extra = {}) {
  const root = document.createElement("div");
  document.body.append(root);
  const { list, seen, render } = listIn(root);
  const client = FlowClient.connect(url, { ...recording({ seen, render }), ...extra });
  return { root, list, client, seen };
}

/** Mounts one socket on `url` (resource 0, through a FlowClient with
 * `extra` options) and joins each of `joined` on it (resources 1, 2, ...),
 * each rendered in its own `[data-resource]` element like `mount`'s list.
 * `resources[i].handle` is the FlowClient or FlowResource; `leave(i)`
 * closes a joined resource and removes its view. */
function mountShared(url, extra, joined) {
  const root = document.createElement("div");
  document.body.append(root);
  const view = (index) => {
    const el = document.createElement("div");
    el.dataset.resource = String(index);
    root.append(el);
    return { el, ...listIn(el) };
  };
  const first = view(0);
  const client = FlowClient.connect(url, { ...recording(first), ...extra });
  const socket = client.socket();
  const resources = [{ ...first, handle: client }];
  joined.forEach((resource, i) => {
    const shown = view(i + 1);
    resources.push({ ...shown, handle: socket.join(resource, recording(shown)) });
  });
  const leave = (index) => {
    resources[index].handle.close();
    resources[index].el.remove();
  };
  return { root, client, socket, resources, leave };
}

/** Resolves once `cond()` holds (checked every 10 ms), or rejects naming
 * `what` after 10 s. */
async function until(what, cond) {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 10));
  }
}

// init() resolves with the module's exports: its memory is what a test of
// the allocator reads.
const wasm = await init();
/** The WebAssembly memory's size in bytes (it only grows, by 64 KiB pages). */
const memoryBytes = () => wasm.memory.buffer.byteLength;
window.flowTest = { FlowClient, FlowSocket, applyDelta, mount, mountShared, until, memoryBytes, apps: [] };
