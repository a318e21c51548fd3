// Several resources on one ui-flow-js FlowSocket, against the shared
// examples/adapter-server, which serves channels (spec/PROTOCOL.md,
// "Channels"). Run through adapters/test.sh, which starts the server and sets
// UI_FLOW_ADAPTER_SERVER.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { RELEASED, UNTIL, launch, serveStatic } from "./harness.mjs";

const SERVER = process.env.UI_FLOW_ADAPTER_SERVER;
const WAIT = { timeout: 10_000 };

let http, browser, page;

const url = (resource, user) => `${SERVER}/realtime/${resource}?token=${user}`;
const fresh = (name) => `js-${name}-${crypto.randomUUID()}`;
let nextId = 2_000_000;
const freshId = () => nextId++ + Math.floor(Math.random() * 1e9) * 1000;

before(async () => {
  assert.ok(SERVER, "UI_FLOW_ADAPTER_SERVER is not set: run adapters/test.sh, which starts the server");
  http = await serveStatic();
  browser = await launch();
  page = await browser.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  // Counts the WebSockets the page opens, before the package loads.
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    window.socketsOpened = 0;
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.socketsOpened += 1;
      }
    };
  });
  await page.goto(`http://127.0.0.1:${http.address().port}/page/index.html`, WAIT);
  await page.waitForFunction(() => window.flowTest !== undefined, null, WAIT);
});

after(async () => {
  await browser?.close();
  await new Promise((ok) => (http ? http.close(ok) : ok()));
});

// In the page: opens one socket on `socketUrl` and joins `lists` (the
// to-do reducer) and `counts` (a reducer that only counts deltas) on it;
// resolves once both show their first state. Stored as window.shared.
const OPEN = `async (socketUrl, lists, counts, until) => {
  const { FlowSocket, applyDelta } = window.flowTest;
  const boxes = { lists: { check: () => {} }, counts: { check: () => {} } };
  const statuses = { lists: [], counts: [] };
  const calls = { lists: 0, counts: 0 };
  const opened = () => {
    const socket = new FlowSocket(socketUrl, {});
    const join = (resource, name, reduce) =>
      socket.join(resource, {
        applyDelta: (s, d) => {
          calls[name] += 1;
          return reduce(s, d);
        },
        onState: (s) => boxes[name].check(s),
        onStatus: (s) => statuses[name].push(s.kind),
      });
    return {
      socket,
      lists: join(lists, "lists", applyDelta),
      counts: join(counts, "counts", (s, _d) => ({ ...s, deltas: (s.deltas ?? 0) + 1 })),
    };
  };
  const shared = { ...opened(), boxes, statuses, calls };
  await until(shared.lists, boxes.lists, (s) => s.items?.length === 2);
  await until(shared.counts, boxes.counts, (s) => s.items?.length === 2);
  window.shared = shared;
}`;

test("two resources on one socket, each live through its own reducer", async () => {
  const [lists, counts] = [fresh("lists"), fresh("counts")];
  const id = freshId();
  const out = await page.evaluate(
    async ([socketUrl, lists, counts, bobLists, bobCounts, id, untilSource, openSource]) => {
      const until = eval(untilSource);
      await eval(openSource)(socketUrl, lists, counts, until);
      const { FlowClient } = window.flowTest;
      const shared = window.shared;
      const socketsBeforeBob = window.socketsOpened;
      // Bob changes each resource through a client of his own.
      for (const u of [bobLists, bobCounts]) {
        const bob = FlowClient.connect(u);
        try {
          await bob.sendAction({ type: "add", id, title: "From Bob" });
        } finally {
          bob.close();
        }
      }
      await until(shared.lists, shared.boxes.lists, (s) => s.items.some((t) => t.id === id));
      await until(shared.counts, shared.boxes.counts, (s) => s.deltas === 1);
      return {
        socketsBeforeBob,
        lists: shared.lists.state.items.map((t) => t.title),
        counts: { deltas: shared.counts.state.deltas, items: shared.counts.state.items.length },
        statuses: shared.statuses,
        seqs: [shared.lists.seq, shared.counts.seq],
      };
    },
    [url(fresh("socket"), "ann"), lists, counts, url(lists, "bob"), url(counts, "bob"), id, UNTIL, OPEN],
  );
  assert.equal(out.socketsBeforeBob, 1, "one WebSocket for the socket and both resources");
  assert.deepEqual(out.lists, ["Read the protocol", "Try an adapter", "From Bob"]);
  assert.deepEqual(out.counts, { deltas: 1, items: 2 }, "the counting resource never ran the listing reducer");
  assert.deepEqual(out.statuses, { lists: ["joined"], counts: ["joined"] });
  assert.deepEqual(out.seqs, [1, 1]);
});

test("a rejected optimistic action rolls back on its resource only", async () => {
  const id = freshId();
  const out = await page.evaluate(
    async ([id, untilSource]) => {
      const until = eval(untilSource);
      const shared = window.shared;
      const countsBefore = shared.calls.counts;
      const deltasBefore = shared.counts.state.deltas;
      const item = { id, title: "", done: false };
      const sent = shared.lists.sendAction({ type: "add", id, title: "   " }, { optimistic: { type: "added", item } });
      const shownAtOnce = shared.lists.state.items.some((t) => t.id === id);
      const error = await sent.then(
        () => null,
        (e) => ({ name: e.name, code: e.code, op: shared.lists.op(e.opId).kind }),
      );
      await until(shared.lists, shared.boxes.lists, (s) => !s.items.some((t) => t.id === id));
      return {
        shownAtOnce,
        error,
        countsRan: shared.calls.counts - countsBefore,
        deltas: shared.counts.state.deltas === deltasBefore,
      };
    },
    [id, UNTIL],
  );
  assert.deepEqual(out, {
    shownAtOnce: true,
    error: { name: "ActionError", code: "invalid_title", op: "err" },
    countsRan: 0,
    deltas: true,
  });
});

test("closing one resource leaves it and lets go of its reducer; the other stays live", async () => {
  const id = freshId();
  const out = await page.evaluate(
    async ([id, untilSource, releasedSource]) => {
      const until = eval(untilSource);
      const { track, released } = eval(releasedSource)();
      const { FlowSocket } = window.flowTest;
      const shared = window.shared;
      // A third resource with a tracked reducer, made in a function that
      // returns so that nothing here holds it.
      const joinTracked = () => {
        const told = [];
        const box = { check: () => {} };
        const extra = shared.socket.join(`${shared.socket.urlResource}-extra`, {
          applyDelta: track("extra", (s) => s),
          onState: (s) => box.check(s),
          onStatus: (s) => told.push(s.kind),
        });
        return { extra, told, box };
      };
      const { extra, told, box } = joinTracked();
      await until(extra, box, (s) => s.items?.length === 2);
      extra.close();
      const sent = await extra.sendAction({ type: "add", id, title: "x" }).then(
        () => "resolved",
        (e) => `${e.name}:${e.code}`,
      );
      const extraReleased = await released("extra");
      // The others go on.
      await shared.lists.sendAction({ type: "add", id, title: "After" });
      await until(shared.lists, shared.boxes.lists, (s) => s.items.some((t) => t.id === id));
      shared.socket.close();
      return {
        told,
        sent,
        extraReleased,
        socket: shared.socket.status.kind,
        isSocket: shared.socket instanceof FlowSocket,
      };
    },
    [id, UNTIL, RELEASED],
  );
  assert.deepEqual(out.told.slice(0, 2), ["joined", "leaving"]);
  assert.equal(out.told.at(-1), "left");
  assert.equal(out.sent, "FlowError:closed");
  assert.equal(out.extraReleased, true);
  assert.equal(out.socket, "closed");
  assert.equal(out.isSocket, true);
});

test("a socket closed on unmount opens again on remount with new reducers, and the old ones are let go of", async () => {
  const [lists, counts] = [fresh("remount-lists"), fresh("remount-counts")];
  const id = freshId();
  const out = await page.evaluate(
    async ([socketUrl, lists, counts, id, untilSource, releasedSource]) => {
      const until = eval(untilSource);
      const { track, released } = eval(releasedSource)();
      const { FlowSocket, applyDelta } = window.flowTest;
      // A component's mount: new closures each time, made in a function
      // that returns so that nothing here holds them.
      const mount = (name) => {
        const boxes = { lists: { check: () => {} }, counts: { check: () => {} } };
        const socket = new FlowSocket(socketUrl, {});
        const join = (resource, key, reduce) =>
          socket.join(resource, {
            applyDelta: track(`${name}-${key}`, (s, d) => reduce(s, d)),
            onState: (s) => boxes[key].check(s),
          });
        return {
          socket,
          boxes,
          lists: join(lists, "lists", applyDelta),
          counts: join(counts, "counts", (s, _d) => ({ ...s, deltas: (s.deltas ?? 0) + 1 })),
        };
      };
      const first = mount("first");
      await until(first.lists, first.boxes.lists, (s) => s.items?.length === 2);
      await until(first.counts, first.boxes.counts, (s) => s.items?.length === 2);
      first.socket.close(); // unmount; the objects are not freed
      const second = mount("second"); // remount
      try {
        await until(second.lists, second.boxes.lists, (s) => s.items?.length === 2);
        await until(second.counts, second.boxes.counts, (s) => s.items?.length === 2);
        const item = { id, title: "Again", done: false };
        await second.lists.sendAction({ type: "add", id, title: "Again" }, { optimistic: { type: "added", item } });
        await until(second.lists, second.boxes.lists, (s) => s.items.some((t) => t.id === id));
        const releasedOld = (await released("first-lists")) && (await released("first-counts"));
        return {
          first: first.socket.status.kind,
          second: [second.socket.status.kind, second.lists.status.kind, second.counts.status.kind],
          items: second.lists.state.items.length,
          releasedOld,
        };
      } finally {
        second.socket.close();
      }
    },
    [url(fresh("remount-socket"), "ann"), lists, counts, id, UNTIL, RELEASED],
  );
  assert.deepEqual(out, {
    first: "closed",
    second: ["open", "joined", "joined"],
    items: 3,
    releasedOld: true,
  });
});
