// Several resources on one ui-flow-js FlowSocket, against the shared
// examples/adapter-server, which serves channels (spec/PROTOCOL.md,
// "Channels"): the shared-socket scenarios every adapter passes (the
// "shared_socket" list of adapters/test-support/scenarios.json, one test per
// entry, failing for an id this file does not implement), then what only
// JavaScript has (a reducer per resource, let go of on close; remounting).
// Run through adapters/test.sh, which starts the server and sets
// UI_FLOW_ADAPTER_SERVER.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RELEASED, UNTIL, launch, serveStatic } from "./harness.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
/** The shared-socket scenarios, listed once in
 * adapters/test-support/scenarios.json; the Rust adapters run the same list
 * from adapters/test-support/src/shared_socket.rs. */
const shared = JSON.parse(readFileSync(join(here, "../../test-support/scenarios.json"), "utf8")).shared_socket;
/** This file's implementation of each shared-socket scenario, by id. */
const scenarios = new Map();
const scenario = (id, run) => scenarios.set(id, run);

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
  // Records the URL of every WebSocket the page opens, before the package
  // loads.
  await page.addInitScript(() => {
    const Native = window.WebSocket;
    window.socketUrls = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.socketUrls.push(String(args[0]));
      }
    };
  });
  await page.goto(`http://127.0.0.1:${http.address().port}/page/index.html`, WAIT);
  await page.waitForFunction(() => window.flowTest !== undefined, null, WAIT);
});

after(async () => {
  await page?.evaluate(() => window.flowTest?.apps.forEach((a) => a.client.close())).catch(() => {});
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

test("two resources on one socket, each through its own reducer", async () => {
  const [lists, counts] = [fresh("lists"), fresh("counts")];
  const id = freshId();
  const out = await page.evaluate(
    async ([socketUrl, lists, counts, bobLists, bobCounts, id, untilSource, openSource]) => {
      const until = eval(untilSource);
      await eval(openSource)(socketUrl, lists, counts, until);
      const { FlowClient } = window.flowTest;
      const shared = window.shared;
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
        lists: shared.lists.state.items.map((t) => t.title),
        counts: { deltas: shared.counts.state.deltas, items: shared.counts.state.items.length },
        statuses: shared.statuses,
        seqs: [shared.lists.seq, shared.counts.seq],
      };
    },
    [url(fresh("socket"), "ann"), lists, counts, url(lists, "bob"), url(counts, "bob"), id, UNTIL, OPEN],
  );
  assert.deepEqual(out.lists, ["Read the protocol", "Try an adapter", "From Bob"]);
  assert.deepEqual(out.counts, { deltas: 1, items: 2 }, "the counting resource never ran the listing reducer");
  assert.deepEqual(out.statuses, { lists: ["joined"], counts: ["joined"] });
  assert.deepEqual(out.seqs, [1, 1]);
});

// The rollback itself is the shared-socket scenario
// optimistic_actions_settle_on_their_own_resource; this is the reducers' part.
test("a rollback on one resource runs no other resource's reducer", async () => {
  const id = freshId();
  const out = await page.evaluate(
    async ([id, untilSource]) => {
      const until = eval(untilSource);
      const shared = window.shared;
      const countsBefore = shared.calls.counts;
      const deltasBefore = shared.counts.state.deltas;
      const item = { id, title: "", done: false };
      const sent = shared.lists.sendAction({ type: "add", id, title: "   " }, { optimistic: { type: "added", item } });
      const refused = await sent.then(() => null, (e) => e.code);
      await until(shared.lists, shared.boxes.lists, (s) => !s.items.some((t) => t.id === id));
      return {
        refused,
        countsRan: shared.calls.counts - countsBefore,
        deltas: shared.counts.state.deltas === deltasBefore,
      };
    },
    [id, UNTIL],
  );
  assert.deepEqual(out, { refused: "invalid_title", countsRan: 0, deltas: true });
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

/** A socket resource and two to join on it; their ids start with the
 * socket's, so counting URLs that contain it counts every socket any of
 * them might open. */
const three = (name) => {
  const base = fresh(`shared-${name}`);
  return [base, `${base}-chat`, `${base}-inbox`];
};

// In the page: `(names) => app`: mounts the three resources as ann
// (window.flowTest.mountShared), keeps the app for `after`, and resolves
// once every view shows the seeded rows, resources 1 and 2 are joined and
// the socket is open. Also defines window.socketsTo(prefix).
const LIVE = `async ([url, ...joined]) => {
  const { mountShared, until, apps } = window.flowTest;
  window.socketsTo = (prefix) => window.socketUrls.filter((u) => u.includes(prefix)).length;
  const app = mountShared(url, { token: "ann" }, joined);
  apps.push(app);
  const seeded = (r) => r.list.children.length === 2 && r.handle.state?.items?.length === 2;
  await until("the seeded rows in every view", () => app.resources.every(seeded));
  await until("resources 1 and 2 joined", () => app.resources.slice(1).every((r) => r.handle.status.kind === "joined"));
  await until("the socket open", () => app.client.status.kind === "open");
  return app;
}`;

/** `(resource, user) => url` in the page. */
const pageUrl = (server) => `(resource, user) => "${server}/realtime/" + resource + "?token=" + user`;

scenario("three_resources_share_one_socket_each_live", async () => {
  const names = three("live");
  const ids = [freshId(), freshId(), freshId()];
  const out = await page.evaluate(
    async ([names, ids, endpoint, liveSource, urlSource]) => {
      const app = await eval(liveSource)([endpoint, ...names.slice(1)]);
      const { FlowClient, until } = window.flowTest;
      const url = eval(urlSource);
      const before = window.socketsTo(names[0]);
      const joinedOpen = app.resources.slice(1).map((r) => r.handle.connectionStatus.kind);
      const bobs = names.map((n) => FlowClient.connect(url(n, "bob")));
      try {
        await Promise.all(bobs.map((bob, i) => bob.sendAction({ type: "add", id: ids[i], title: `From Bob on ${i}` })));
        const title = (r, id) => r.list.querySelector(`[data-id="${id}"]`)?.textContent;
        await until("bob's item in each view", () => app.resources.every((r, i) => title(r, ids[i]) === `From Bob on ${i}`));
        return {
          before,
          after: window.socketsTo(names[0]),
          joinedOpen,
          statuses: app.resources.map((r) => r.seen.statuses),
          seqs: app.resources.map((r) => r.handle.seq),
          // Rows each view ever inserted, of the items bob added elsewhere.
          strays: app.resources.map((r, i) =>
            r.seen.rows.filter(([, row]) => ids.some((id, j) => j !== i && row === String(id))).length,
          ),
        };
      } finally {
        bobs.forEach((b) => b.close());
      }
    },
    [names, ids, `${SERVER}/realtime/${names[0]}`, LIVE, pageUrl(SERVER)],
  );
  assert.equal(out.before, 1, "one WebSocket for three resources");
  assert.equal(out.after, 1 + 3, "ann's one WebSocket and bob's own, nothing reopened");
  assert.deepEqual(out.joinedOpen, ["open", "open"], "the joined resources see the shared socket open");
  assert.deepEqual(out.statuses, [["connecting", "open"], ["joined"], ["joined"]]);
  assert.deepEqual(out.seqs, [1, 1, 1]);
  assert.deepEqual(out.strays, [0, 0, 0], "no view showed another resource's item");
});

scenario("optimistic_actions_settle_on_their_own_resource", async () => {
  const names = three("actions");
  const [kept, refused] = [freshId(), freshId()];
  const out = await page.evaluate(
    async ([names, kept, refused, endpoint, liveSource]) => {
      const app = await eval(liveSource)([endpoint, ...names.slice(1)]);
      const { until } = window.flowTest;
      const [r0, r1, r2] = app.resources;
      const milk = { id: kept, title: "Buy milk", done: false };
      const ok = await r1.handle.sendAction({ type: "add", id: kept, title: "Buy milk" }, { optimistic: { type: "added", item: milk } });
      await until("its notification", () => r1.seen.notes.some((n) => n.correlationId === ok.opId));
      const blank = { id: refused, title: "", done: false };
      const sent = r2.handle.sendAction({ type: "add", id: refused, title: "   " }, { optimistic: { type: "added", item: blank } });
      const shownAtOnce = r2.handle.state.items.some((t) => t.id === refused);
      const error = await sent.then(
        () => null,
        (e) => ({ name: e.name, code: e.code, op: r2.handle.op(e.opId).kind, opId: e.opId }),
      );
      await until("the refused row to go", () => !r2.list.querySelector(`[data-id="${refused}"]`));
      const log = (r, id) => r.seen.rows.filter(([, row]) => row === String(id)).map(([what]) => what);
      return {
        confirmed: { op: r1.handle.op(ok.opId).kind, row: r1.list.querySelector(`[data-id="${kept}"]`)?.textContent },
        note: r1.seen.notes.find((n) => n.correlationId === ok.opId),
        shownAtOnce,
        error,
        refusedLog: log(r2, refused),
        rows: app.resources.map((r) => r.list.children.length),
        strays: [log(r0, kept), log(r0, refused), log(r1, refused), log(r2, kept)],
        otherNotes: [r0, r2].map((r) => r.seen.notes.filter((n) => n.correlationId === ok.opId).length),
        // Each action is listed on its own resource only.
        otherOps: [r0, r2].map((r) => r.handle.op(ok.opId) ?? null)
          .concat([r0, r1].map((r) => (error ? r.handle.op(error.opId) ?? null : "no error"))),
      };
    },
    [names, kept, refused, `${SERVER}/realtime/${names[0]}`, LIVE],
  );
  assert.deepEqual(out.confirmed, { op: "ok", row: "Buy milk" });
  assert.deepEqual(out.note.event, { by: "ann", title: "Buy milk" });
  assert.equal(out.shownAtOnce, true);
  const { opId: _, ...error } = out.error;
  assert.deepEqual(error, { name: "ActionError", code: "invalid_title", op: "err" });
  assert.deepEqual(out.otherOps, [null, null, null, null], "each action listed on its own resource only");
  assert.deepEqual(out.refusedLog, ["added", "removed"], "the optimistic row was shown, then rolled back");
  assert.deepEqual(out.rows, [2, 3, 2], "resource 0 untouched, resource 1 with its item, resource 2 rolled back");
  assert.deepEqual(out.strays, [[], [], [], []], "neither item shown in another resource's view");
  assert.deepEqual(out.otherNotes, [0, 0], "the notification on its own resource only");
});

scenario("presence_is_per_resource", async () => {
  const names = three("presence");
  const out = await page.evaluate(
    async ([names, endpoint, liveSource, urlSource]) => {
      const app = await eval(liveSource)([endpoint, ...names.slice(1)]);
      const { FlowClient, until } = window.flowTest;
      const url = eval(urlSource);
      const has = (list, user) => list.some((p) => p.userId === user);
      await until("ann in every resource's presence", () => app.resources.every((r) => has(r.handle.presence, "ann")));
      const bob = FlowClient.connect(url(names[1], "bob"));
      try {
        await until("bob in resource 1's presence", () => has(app.resources[1].handle.presence, "bob"));
        await until("bob to see ann on resource 1", () => has(bob.presence, "ann"));
        return { bobElsewhere: [0, 2].map((i) => has(app.resources[i].handle.presence, "bob")) };
      } finally {
        bob.close();
      }
    },
    [names, `${SERVER}/realtime/${names[0]}`, LIVE, pageUrl(SERVER)],
  );
  assert.deepEqual(out.bobElsewhere, [false, false], "bob is in resource 1's presence only");
});

scenario("leaving_one_resource_keeps_the_others_live", async () => {
  const names = three("leave");
  const [theirs, mine] = [freshId(), freshId()];
  const out = await page.evaluate(
    async ([names, theirs, mine, endpoint, liveSource, urlSource]) => {
      const app = await eval(liveSource)([endpoint, ...names.slice(1)]);
      const { FlowClient, until } = window.flowTest;
      const url = eval(urlSource);
      const [r0, r1, r2] = app.resources;
      const onChat = FlowClient.connect(url(names[1], "bob"));
      const onInbox = FlowClient.connect(url(names[2], "bob"));
      try {
        const annOnChat = () => onChat.presence.some((p) => p.userId === "ann");
        await until("bob to see ann on resource 1", annOnChat);
        app.leave(1);
        await until("bob to see ann leave resource 1", () => !annOnChat());
        await until("resource 1 left", () => r1.handle.status.kind === "left");
        const viewGone = !app.root.querySelector('[data-resource="1"]');
        await onInbox.sendAction({ type: "add", id: theirs, title: "Still live" });
        await until("bob's item on resource 2", () => r2.list.querySelector(`[data-id="${theirs}"]`)?.textContent === "Still live");
        const item = { id: mine, title: "Mine", done: false };
        const ok = await r0.handle.sendAction({ type: "add", id: mine, title: "Mine" }, { optimistic: { type: "added", item } });
        return {
          viewGone,
          left: r1.handle.status.kind,
          socket: [app.client.status.kind, r2.handle.status.kind],
          mine: [r0.handle.op(ok.opId).kind, r0.list.querySelector(`[data-id="${mine}"]`)?.textContent],
          sockets: window.socketsTo(names[0]),
        };
      } finally {
        onChat.close();
        onInbox.close();
      }
    },
    [names, theirs, mine, `${SERVER}/realtime/${names[0]}`, LIVE, pageUrl(SERVER)],
  );
  assert.deepEqual(out, {
    viewGone: true,
    left: "left",
    socket: ["open", "joined"],
    mine: ["ok", "Mine"],
    sockets: 1 + 2,
  });
});

for (const { id, title } of shared) {
  test(`${title} [shared-socket scenario ${id}]`, async () => {
    const run = scenarios.get(id);
    assert.ok(run, `the shared-socket scenario ${id} has no JavaScript implementation`);
    await run();
  });
}

test("every JavaScript shared-socket scenario is one of the shared list", () => {
  const ids = new Set(shared.map((s) => s.id));
  assert.deepEqual([...scenarios.keys()].filter((id) => !ids.has(id)), []);
});
