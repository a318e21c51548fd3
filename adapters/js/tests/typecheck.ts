// Compiled (not run) by the Node test: a typed use of ui-flow-js's
// typings must check under `strict`.
import init, {
  FlowClient,
  FlowSocket,
  type ActionError,
  type FlowResource,
  type FlowStatus,
  type OpState,
  type ResourceStatus,
} from "ui-flow-js";
// Generated from the Rust types by ts-rs (examples/todo-model/tests/typescript.rs).
import type { TodoAction, TodoDelta, TodoEvent, TodoState } from "./todo-model.js";

interface Todo { id: number | bigint; title: string; done: boolean }
interface State { items: Todo[] }
type Delta = { type: "added"; item: Todo } | { type: "removed"; id: number | bigint };
type Action = { type: "add"; id: number; title: string };
interface Event { by: string; title: string }

export async function demo(): Promise<void> {
  await init();
  const client = FlowClient.connect<State, Delta, Action, Event>("ws://127.0.0.1:1/realtime/x?token=t", {
    applyDelta: (state, delta) =>
      delta.type === "added"
        ? { items: [...state.items, delta.item] }
        : { items: state.items.filter((t) => t.id !== delta.id) },
    subscribe: ["todos"],
    config: { backoffMinMs: 250, queueBound: 16 },
    onState: (state) => console.log(state.items.length),
    onStatus: (status: FlowStatus) => {
      if (status.kind === "reconnecting") console.log(status.attempt, status.retryAt);
    },
    onNotify: (domain, event, correlationId) => console.log(domain, event.by, correlationId),
    onAction: (opId, state: OpState) => console.log(opId, state.kind),
  });
  try {
    const ok = await client.sendAction(
      { type: "add", id: 3, title: "Milk" },
      { optimistic: { type: "added", item: { id: 3, title: "Milk", done: false } } },
    );
    console.log(ok.opId, client.op(ok.opId)?.kind);
  } catch (e) {
    console.log((e as ActionError).code);
  }
  const items: Todo[] | undefined = client.state?.items;
  console.log(items, client.latency, client.seq, client.presence[0]?.userId);
  client.close();
}

// The same client on the payload types generated from Rust: a reducer over
// every delta variant, a u64 id beyond 2^53 as a BigInt, and payloads the
// Rust types refuse rejected here too.
export function generated(url: string): FlowClient<TodoState, TodoDelta, TodoAction, TodoEvent> {
  const client = FlowClient.connect<TodoState, TodoDelta, TodoAction, TodoEvent>(url, {
    applyDelta: (state, delta) => {
      switch (delta.type) {
        case "added":
          return { items: [...state.items.filter((t) => t.id !== delta.item.id), delta.item] };
        case "toggled":
          return { items: state.items.map((t) => (t.id === delta.id ? { ...t, done: delta.done } : t)) };
        case "removed":
          return { items: state.items.filter((t) => t.id !== delta.id) };
      }
    },
    onNotify: (_domain, event) => console.log(event.by, event.title),
  });
  const id = 2n ** 60n;
  void client.sendAction(
    { type: "add", id, title: "Milk" },
    { optimistic: { type: "added", item: { id, title: "Milk", done: false } } },
  );
  // @ts-expect-error: an add needs a title
  void client.sendAction({ type: "add", id: 1 });
  // @ts-expect-error: no such action
  void client.sendAction({ type: "rename", id: 1, title: "x" });
  return client;
}

// Two resources on one socket, each with its own payload types and reducer.
export function shared(url: string): [FlowResource<TodoState, TodoDelta, TodoAction, TodoEvent>, FlowResource<number, number, string, never>] {
  const socket = new FlowSocket(url, { token: "ann" });
  const todos = socket.join<TodoState, TodoDelta, TodoAction, TodoEvent>("list-2", {
    applyDelta: (state, delta) => (delta.type === "removed" ? { items: state.items.filter((t) => t.id !== delta.id) } : state),
    onStatus: (status: ResourceStatus) => {
      if (status.kind === "left") console.log(status.code, status.message);
    },
    onConnectionStatus: (status: FlowStatus) => console.log(status.kind),
    onPresence: (members) => console.log(members.length),
  });
  const counter = FlowClient.connect(url).socket().join<number, number, string, never>("counter", {
    applyDelta: (total, delta) => total + delta,
  });
  void counter.sendAction("bump", { optimistic: 1 });
  // @ts-expect-error: this resource's actions are strings
  void counter.sendAction(1);
  // @ts-expect-error: a resource's token is its socket's
  socket.join("x", { token: "t" });
  const total: number | undefined = counter.state;
  console.log(total, todos.status.kind, todos.connectionStatus.kind, socket.urlResource, socket.status.kind);
  todos.close();
  return [todos, counter];
}
