// The built ui-flow-js package in headless Chromium (Debian's chromium via
// playwright-core) against a real examples/adapter-server. Run through
// adapters/test.sh, which starts the server and sets UI_FLOW_ADAPTER_SERVER.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { RELEASED, UNTIL, killServer, launch, serveStatic, startServer } from "./harness.mjs";

const SERVER = process.env.UI_FLOW_ADAPTER_SERVER;
const WAIT = { timeout: 10_000 };
const here = fileURLToPath(new URL(".", import.meta.url));

let http, browser, page, origin;
/** An adapter-server of this file's own that serves no channels
 * (`--channels 0`), as a server that predates them. */
let noChannels;

/** The browser scenarios every adapter passes, listed once in
 * adapters/test-support/scenarios.json; the Rust adapters run the same
 * list from adapters/test-support/src/scenario.rs. */
const shared = JSON.parse(readFileSync(join(here, "../../test-support/scenarios.json"), "utf8")).scenarios;
/** This file's implementation of each shared scenario, by id. */
const scenarios = new Map();
const scenario = (id, run) => scenarios.set(id, run);

const url = (resource, user) => `${SERVER}/realtime/${resource}?token=${user}`;
/** The same on the server without channels. */
const noChannelsUrl = (resource, user) => `${noChannels.addr}/realtime/${resource}?token=${user}`;
const fresh = (name) => `js-${name}-${crypto.randomUUID()}`;
let nextId = 1_000_000;
const freshId = () => nextId++ + Math.floor(Math.random() * 1e9) * 1000;

/** The rendered rows of app `n` as [id, title] pairs. */
const rowsOf = (n) =>
  page.evaluate(
    (n) => [...window.flowTest.apps[n].list.children].map((li) => [li.dataset.id, li.textContent]),
    n,
  );

/** The endpoint of `resource` with no token in the URL. */
const endpoint = (resource) => `${SERVER}/realtime/${resource}`;

/** Mounts a to-do list on `resource` as user "ann" (the token option, not
 * the URL); returns its index. */
async function mount(resource) {
  const n = await page.evaluate(
    (u) => window.flowTest.apps.push(window.flowTest.mount(u, { token: "ann" })) - 1,
    endpoint(resource),
  );
  await page.waitForFunction(
    (n) => window.flowTest.apps[n].list.children.length === 2,
    n,
    WAIT,
  );
  return n;
}

before(async () => {
  assert.ok(SERVER, "UI_FLOW_ADAPTER_SERVER is not set: run adapters/test.sh, which starts the server");
  noChannels = await startServer(["127.0.0.1:0", "--channels", "0"]);
  http = await serveStatic();
  origin = `http://127.0.0.1:${http.address().port}`;
  browser = await launch();
  page = await browser.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`${origin}/page/index.html`, WAIT);
  await page.waitForFunction(() => window.flowTest !== undefined, null, WAIT);
});

after(async () => {
  await page?.evaluate(() => window.flowTest?.apps.forEach((a) => a.client.close())).catch(() => {});
  await browser?.close();
  await new Promise((ok) => (http ? http.close(ok) : ok()));
  await killServer(noChannels);
});

test("the package resolves as an ES module with its typings", async () => {
  const entry = import.meta.resolve("ui-flow-js");
  assert.match(entry, /ui-flow-js\/index\.js$|package\/index\.js$/);
  // The typings compile, and a typed use of them checks.
  await promisify(execFile)(process.execPath, [join(here, "node_modules/typescript/bin/tsc"), "-p", here], {
    timeout: 60_000,
  });
});

scenario("snapshot_is_rendered_with_status_presence_and_latency", async () => {
  const n = await mount(fresh("snapshot"));
  assert.deepEqual(await rowsOf(n), [
    ["1", "Read the protocol"],
    ["2", "Try an adapter"],
  ]);
  await page.waitForFunction((n) => window.flowTest.apps[n].client.status.kind === "open", n, WAIT);
  await page.waitForFunction(
    (n) => window.flowTest.apps[n].client.presence.some((p) => p.userId === "ann" && p.status === "active"),
    n,
    WAIT,
  );
  await page.waitForFunction((n) => typeof window.flowTest.apps[n].client.latency === "number", n, WAIT);
  const seen = await page.evaluate((n) => {
    const { client, seen } = window.flowTest.apps[n];
    return { statuses: seen.statuses, seq: client.seq, state: client.state };
  }, n);
  assert.deepEqual(seen.statuses, ["connecting", "open"]);
  assert.equal(seen.seq, 0);
  assert.equal(seen.state.items.length, 2);
});

scenario("a_delta_from_another_client_is_applied", async () => {
  const resource = fresh("delta");
  const n = await mount(resource);
  const id = freshId();
  const ok = await page.evaluate(
    async ([u, id]) => {
      // Bob keeps no state: no applyDelta, so no `state`.
      const bob = window.flowTest.FlowClient.connect(u);
      try {
        const ok = await bob.sendAction({ type: "add", id, title: "From Bob" });
        return { opId: ok.opId, state: bob.state };
      } finally {
        bob.close();
      }
    },
    [url(resource, "bob"), id],
  );
  assert.match(ok.opId, /^[0-9a-f-]{36}$/);
  assert.equal(ok.state, undefined);
  await page.waitForFunction(
    ([n, id]) => window.flowTest.apps[n].list.querySelector(`[data-id="${id}"]`)?.textContent === "From Bob",
    [n, id],
    WAIT,
  );
  const deltas = await page.evaluate((n) => window.flowTest.apps[n].seen.deltas, n);
  assert.deepEqual(deltas, [{ delta: { type: "added", item: { id, title: "From Bob", done: false } }, seq: 1 }]);
});

scenario("an_optimistic_action_is_confirmed", async () => {
  const n = await mount(fresh("confirm"));
  const id = freshId();
  const result = await page.evaluate(
    async ([n, id]) => {
      const { client, list } = window.flowTest.apps[n];
      const item = { id, title: "Buy milk", done: false };
      const sent = client.sendAction({ type: "add", id, title: "Buy milk" }, { optimistic: { type: "added", item } });
      // Shown at once, before any reply.
      const shownAtOnce = client.state.items.some((t) => t.id === id);
      const ok = await sent;
      return { shownAtOnce, ok, op: client.op(ok.opId), row: list.querySelector(`[data-id="${id}"]`)?.textContent };
    },
    [n, id],
  );
  assert.equal(result.shownAtOnce, true);
  assert.equal(result.op.kind, "ok");
  assert.equal(result.row, "Buy milk");
  await page.waitForFunction(
    ([n, opId]) => window.flowTest.apps[n].seen.notes.some((x) => x.correlationId === opId),
    [n, result.ok.opId],
    WAIT,
  );
  const note = await page.evaluate(
    ([n, opId]) => window.flowTest.apps[n].seen.notes.find((x) => x.correlationId === opId),
    [n, result.ok.opId],
  );
  assert.deepEqual(note, { domain: "todos", event: { by: "ann", title: "Buy milk" }, correlationId: result.ok.opId });
});

scenario("a_rejected_optimistic_action_is_rolled_back", async () => {
  const n = await mount(fresh("reject"));
  const id = freshId();
  const outcome = await page.evaluate(
    async ([n, id]) => {
      const { client, list, seen } = window.flowTest.apps[n];
      const item = { id, title: "", done: false };
      const sent = client.sendAction({ type: "add", id, title: "   " }, { optimistic: { type: "added", item } });
      const shownAtOnce = client.state.items.some((t) => t.id === id);
      try {
        await sent;
        return { resolved: true };
      } catch (e) {
        return {
          shownAtOnce,
          name: e.name,
          code: e.code,
          opId: e.opId,
          op: client.op(e.opId),
          stillShown: client.state.items.some((t) => t.id === id),
          rows: list.children.length,
          log: seen.rows.filter(([, row]) => row === String(id)).map(([what]) => what),
        };
      }
    },
    [n, id],
  );
  assert.equal(outcome.resolved, undefined, "the action must be rejected");
  assert.equal(outcome.shownAtOnce, true);
  assert.equal(outcome.name, "ActionError");
  assert.equal(outcome.code, "invalid_title");
  assert.equal(outcome.op.kind, "err");
  assert.equal(outcome.stillShown, false);
  // Rendering follows the state; wait for the row to go, then check it came.
  await page.waitForFunction(
    ([n, id]) => !window.flowTest.apps[n].list.querySelector(`[data-id="${id}"]`),
    [n, id],
    WAIT,
  );
  const log = await page.evaluate(
    ([n, id]) => window.flowTest.apps[n].seen.rows.filter(([, row]) => row === String(id)).map(([what]) => what),
    [n, id],
  );
  assert.deepEqual(log, ["added", "removed"], "the optimistic row was shown, then rolled back");
  assert.equal((await rowsOf(n)).length, 2);
});

test("integers beyond 2^53 cross as BigInt, smaller ones as numbers", async () => {
  const n = await mount(fresh("bigint"));
  const out = await page.evaluate(async (n) => {
    const { client, seen } = window.flowTest.apps[n];
    const id = 2n ** 60n + 7n;
    await client.sendAction({ type: "add", id, title: "big" });
    const small = 2 ** 53 - 1;
    await client.sendAction({ type: "add", id: small, title: "small" });
    const items = seen.deltas.map(({ delta }) => delta.item);
    return {
      big: [typeof items[0].id, items[0].id === id],
      small: [typeof items[1].id, items[1].id === small],
      seq: typeof seen.deltas[1].seq,
    };
  }, n);
  assert.deepEqual(out, { big: ["bigint", true], small: ["number", true], seq: "number" });
});

test("WebRTC signals and presence reports cross between users", async () => {
  const resource = fresh("signal");
  const n = await mount(resource);
  const out = await page.evaluate(
    async ([n, bobUrl]) => {
      const ann = window.flowTest.apps[n].client;
      const got = [];
      const bob = window.flowTest.FlowClient.connect(bobUrl, { onSignal: (from, signal) => got.push([from, signal]) });
      const until = async (what, cond) => {
        const deadline = Date.now() + 10_000;
        while (!cond()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          await new Promise((ok) => setTimeout(ok, 10));
        }
      };
      const annIn = (status) => bob.presence.some((p) => p.userId === "ann" && p.status === status);
      try {
        await until("both to be present", () => annIn("active") && ann.presence.some((p) => p.userId === "bob"));
        ann.sendSignal("bob", { type: "offer", sdp: "v=0" });
        ann.sendSignal("bob", { type: "candidate", candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", sdpMid: "0", sdpMLineIndex: 0 });
        await until("two signals", () => got.length === 2);
        ann.setPresence("away");
        await until("Ann away", () => annIn("away"));
        ann.setPresence("active");
        await until("Ann active again", () => annIn("active"));
        let bad;
        try {
          ann.setPresence("asleep");
        } catch (e) {
          bad = e instanceof TypeError;
        }
        return { got, bad };
      } finally {
        bob.close();
      }
    },
    [n, url(resource, "bob")],
  );
  assert.deepEqual(out.got, [
    ["ann", { type: "offer", sdp: "v=0" }],
    ["ann", { type: "candidate", candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", sdpMid: "0", sdpMLineIndex: 0 }],
  ]);
  assert.equal(out.bad, true);
});

test("commands after close fail with FlowError closed, and waiting actions reject", async () => {
  const n = await mount(fresh("close"));
  const out = await page.evaluate(async (n) => {
    const { client } = window.flowTest.apps[n];
    const waiting = client.sendAction({ type: "toggle", id: 1 });
    client.close();
    const first = await waiting.then(() => "resolved", (e) => `${e.name}:${e.code}`);
    const after = await client.sendAction({ type: "toggle", id: 1 }).then(() => "resolved", (e) => `${e.name}:${e.code}`);
    let subscribe;
    try {
      client.subscribe(["x"]);
    } catch (e) {
      subscribe = `${e.name}:${e.code}`;
    }
    return { first, after, subscribe, status: client.status };
  }, n);
  assert.deepEqual(out, {
    first: "FlowError:closed",
    after: "FlowError:closed",
    subscribe: "FlowError:closed",
    status: { kind: "closed", reason: { kind: "requested" } },
  });
});

scenario("the_token_provider_is_asked_and_names_the_user", async () => {
  const resource = fresh("token");
  const out = await page.evaluate(async (u) => {
    let asked = 0;
    const members = await new Promise((resolve, reject) => {
      setTimeout(() => reject(new Error("no presence list within 10 s")), 10_000);
      const app = window.flowTest.mount(u, {
        tokenProvider: () => {
          asked += 1;
          return "pat";
        },
        onPresence: (all) => resolve(all.map((p) => p.userId)),
      });
      window.flowTest.apps.push(app);
    });
    return { asked, members };
  }, endpoint(resource));
  assert.deepEqual(out, { asked: 1, members: ["pat"] });
});

scenario("a_refused_upgrade_shows_as_closed_with_its_status", async () => {
  // Same origin as the page: its own server refuses (see serveStatic).
  const out = await page.evaluate(async (base) => {
    const results = [];
    for (const path of ["no-such-endpoint", "guarded"]) {
      const kinds = [];
      let client;
      const closed = new Promise((ok, fail) => {
        setTimeout(() => fail(new Error(`${path}: not closed within 10 s: ${kinds}`)), 10_000);
        client = window.flowTest.FlowClient.connect(`${base}/${path}/r`, {
          onStatus: (status) => {
            kinds.push(status.kind);
            if (status.kind === "closed") ok(status);
          },
        });
      });
      results.push({ status: await closed, kinds, now: client.status });
    }
    return results;
  }, origin.replace(/^http/, "ws"));
  for (const [result, status] of [[out[0], 404], [out[1], 401]]) {
    assert.deepEqual(result.status, { kind: "closed", reason: { kind: "refused", status } });
    assert.deepEqual(result.now, result.status);
    assert.deepEqual(result.kinds, ["connecting", "closed"], "never retried");
  }
});

scenario("a_url_that_is_not_a_websocket_url_is_refused", async () => {
  const out = await page.evaluate(async (good) => {
    const { FlowClient } = window.flowTest;
    const attempt = async (u, options = {}) => {
      const told = [];
      const client = FlowClient.connect(u, { ...options, onStatus: (s) => told.push(s) });
      const toldAtReturn = told.length;
      const sent = await client.sendAction({ type: "toggle", id: 1 }).then(
        () => "resolved",
        (e) => `${e.name}:${e.code}`,
      );
      const { kind, reason } = client.status;
      client.close();
      return { kind, reason: reason?.kind, message: reason?.message, told, toldAtReturn, sent };
    };
    return [
      ...(await Promise.all(["not a url", "http://127.0.0.1:1/realtime/r", ""].map((u) => attempt(u)))),
      await attempt(good, { token: "not a header token" }),
    ];
  }, endpoint(fresh("misconfigured")));
  for (const [i, result] of out.entries()) {
    assert.equal(result.kind, "closed", `attempt ${i}`);
    assert.equal(result.reason, "misconfigured", `attempt ${i}`);
    assert.equal(result.toldAtReturn, 1, `attempt ${i}: told before connect returned`);
    assert.deepEqual(result.told, [{ kind: "closed", reason: { kind: "misconfigured", message: result.message } }], `attempt ${i}: told once`);
    assert.equal(result.sent, "FlowError:closed", `attempt ${i}`);
  }
  for (const result of out.slice(0, 3)) assert.match(result.message, /WebSocket URL/);
  assert.match(out[3].message, /token/);
});

test("malformed options throw a TypeError", async () => {
  const out = await page.evaluate((u) => {
    const { FlowClient, applyDelta } = window.flowTest;
    const attempt = (options) => {
      try {
        FlowClient.connect(u, options).close();
        return "ok";
      } catch (e) {
        return e instanceof TypeError ? "TypeError" : String(e);
      }
    };
    return {
      callback: attempt({ onState: 5 }),
      config: attempt({ config: { queueBound: 0 } }),
      // Beyond what a duration holds, negative, not whole: refused, not a panic.
      hugeDuration: attempt({ config: { backoffMaxMs: 1e300 } }),
      negativeDuration: attempt({ config: { pingIntervalMs: -1 } }),
      fractionalCount: attempt({ config: { settledOpsKept: 1.5 } }),
      subscribe: attempt({ subscribe: "todos" }),
      // Each client has its own, whatever the apps mounted above use.
      otherReducer: attempt({ applyDelta: (s) => s }),
      sameReducer: attempt({ applyDelta }),
    };
  }, url(fresh("options"), "ann"));
  assert.deepEqual(out, {
    callback: "TypeError",
    config: "TypeError",
    hugeDuration: "TypeError",
    negativeDuration: "TypeError",
    fractionalCount: "TypeError",
    subscribe: "TypeError",
    otherReducer: "ok",
    sameReducer: "ok",
  });
});

test("two clients on one page keep their own applyDelta", async () => {
  const id = freshId();
  const out = await page.evaluate(
    async ([u, id, untilSource]) => {
      const until = eval(untilSource);
      const { FlowClient, applyDelta } = window.flowTest;
      const a = { check: () => {} };
      const b = { check: () => {} };
      const lists = FlowClient.connect(u, { applyDelta, onState: (s) => a.check(s) });
      // The second client counts deltas instead of listing items.
      const counts = FlowClient.connect(u, {
        applyDelta: (state, _delta) => ({ ...state, deltas: (state.deltas ?? 0) + 1 }),
        onState: (s) => b.check(s),
      });
      try {
        await until(lists, a, (s) => s.items?.length === 2);
        await until(counts, b, (s) => s.items?.length === 2);
        const milk = { id, title: "Milk", done: false };
        await lists.sendAction({ type: "add", id, title: "Milk" }, { optimistic: { type: "added", item: milk } });
        await until(counts, b, (s) => s.deltas === 1);
        const eggs = { id: id + 1, title: "Eggs", done: false };
        const sent = counts.sendAction({ type: "add", id: id + 1, title: "Eggs" }, { optimistic: { type: "added", item: eggs } });
        const shownAtOnce = counts.state.deltas;
        await sent;
        await until(lists, a, (s) => s.items.some((t) => t.id === id + 1));
        await until(counts, b, (s) => s.deltas === 2);
        return {
          lists: lists.state.items.map((t) => t.title),
          counts: { deltas: counts.state.deltas, items: counts.state.items.length },
          shownAtOnce,
        };
      } finally {
        lists.close();
        counts.close();
      }
    },
    [url(fresh("reducers"), "ann"), id, UNTIL],
  );
  assert.deepEqual(out.lists, ["Read the protocol", "Try an adapter", "Milk", "Eggs"]);
  assert.deepEqual(out.counts, { deltas: 2, items: 2 }, "the counting client never ran the listing reducer");
  assert.equal(out.shownAtOnce, 2, "its optimistic change went through its own reducer");
});

test("a client closed on unmount connects again on remount with a new applyDelta", async () => {
  const id = freshId();
  const out = await page.evaluate(
    async ([u, id, untilSource, releasedSource]) => {
      const until = eval(untilSource);
      const { track, released } = eval(releasedSource)();
      const { FlowClient, applyDelta } = window.flowTest;
      const calls = { first: 0, second: 0 };
      // A component's mount: a new closure each time, as a framework makes.
      const mount = (name) => {
        const box = { check: () => {} };
        const reduce = (s, d) => {
          calls[name] += 1;
          return applyDelta(s, d);
        };
        track(name, reduce);
        const client = FlowClient.connect(u, { applyDelta: reduce, onState: (s) => box.check(s) });
        return { client, box };
      };
      const first = mount("first");
      await until(first.client, first.box, (s) => s.items?.length === 2);
      const item = { id, title: "Before", done: false };
      await first.client.sendAction({ type: "add", id, title: "Before" }, { optimistic: { type: "added", item } });
      first.client.close(); // unmount; the object is not freed
      const firstCalls = calls.first;
      const second = mount("second"); // remount
      try {
        await until(second.client, second.box, (s) => s.items?.length === 3);
        const again = { id: id + 1, title: "Again", done: false };
        await second.client.sendAction({ type: "add", id: id + 1, title: "Again" }, { optimistic: { type: "added", item: again } });
        await until(second.client, second.box, (s) => s.items.some((t) => t.id === id + 1));
        // The closed client's object lives on (`first` is in scope), yet
        // its reducer is collected: nothing holds it any more.
        const firstReleased = await released("first");
        return {
          first: first.client.status.kind,
          second: second.client.status.kind,
          items: second.client.state.items.length,
          firstRan: firstCalls > 0,
          firstAfterClose: calls.first - firstCalls,
          secondRan: calls.second > 0,
          firstReleased,
        };
      } finally {
        second.client.close();
      }
    },
    [url(fresh("remount"), "ann"), id, UNTIL, RELEASED],
  );
  assert.deepEqual(out, {
    first: "closed",
    second: "open",
    items: 4,
    firstRan: true,
    firstAfterClose: 0,
    secondRan: true,
    firstReleased: true,
  });
});

test("a resource joined on a server without channels is left (channel_limit); the URL's resource is unaffected", async () => {
  const id = freshId();
  const out = await page.evaluate(
    async ([u, id, untilSource]) => {
      const until = eval(untilSource);
      const { FlowClient, applyDelta } = window.flowTest;
      const box = { check: () => {} };
      const client = FlowClient.connect(u, { applyDelta, onState: (s) => box.check(s) });
      const socket = client.socket();
      let boardCalls = 0;
      const told = { early: [], late: [] };
      // Joined before the connection is up: the Join waits for Connected,
      // which announces no channels.
      const early = socket.join("board", {
        applyDelta: (s) => {
          boardCalls += 1;
          return s;
        },
        onStatus: (status) => told.early.push(status),
      });
      const earlyAtReturn = early.status;
      try {
        await until(client, box, (s) => s.items?.length === 2);
        // Joined once the connection is up: refused at once.
        const late = socket.join("chat", { onStatus: (status) => told.late.push(status) });
        const lateToldAtReturn = told.late.length;
        const outcome = (p) => p.then(() => "resolved", (e) => `${e.name}:${e.code}`);
        const sent = await outcome(late.sendAction({ type: "add", id, title: "x" }));
        const sentEarly = await outcome(early.sendAction({ type: "add", id, title: "x" }));
        // The URL's resource works as before.
        const item = { id, title: "Still here", done: false };
        await client.sendAction({ type: "add", id, title: "Still here" }, { optimistic: { type: "added", item } });
        await until(client, box, (s) => s.items.some((t) => t.id === id));
        return {
          earlyAtReturn,
          early: told.early,
          earlyNow: early.status,
          late: told.late,
          lateToldAtReturn,
          sent,
          sentEarly,
          urlResource: socket.urlResource,
          connection: early.connectionStatus.kind,
          items: client.state.items.length,
          boardCalls,
          boardState: early.state,
        };
      } finally {
        socket.close();
      }
    },
    [noChannelsUrl(fresh("nochannels"), "ann"), id, UNTIL],
  );
  const left = { kind: "left", code: "channel_limit", message: "the server does not serve channels" };
  assert.deepEqual(out.earlyAtReturn, { kind: "joining" });
  assert.deepEqual(out.early, [left]);
  assert.deepEqual(out.earlyNow, left);
  assert.deepEqual(out.late, [left], "told once");
  assert.equal(out.lateToldAtReturn, 1, "told before join returned");
  assert.equal(out.sent, "FlowError:closed");
  assert.equal(out.sentEarly, "FlowError:closed", "a resource left after it was joined refuses as closed");
  assert.match(out.urlResource, /^js-nochannels-/);
  assert.equal(out.connection, "open");
  assert.equal(out.items, 3);
  assert.equal(out.boardCalls, 0, "a left resource's reducer never ran");
  assert.equal(out.boardState, undefined);
});

// On the server without channels, so `board` is left as soon as the
// connection is up; shared-socket.test.mjs lets go of a reducer after a real
// join and leave.
test("a resource's applyDelta is let go of at its close(), the socket's at socket.close()", async () => {
  const out = await page.evaluate(
    async ([u, releasedSource]) => {
      const { track, released } = eval(releasedSource)();
      const { FlowSocket, applyDelta } = window.flowTest;
      const box = { check: () => {} };
      const statuses = [];
      // The reducers are made in a function that returns, so no variable
      // of this (suspended) async function holds them.
      const open = () => {
        const socket = new FlowSocket(u, { applyDelta: track("url", (s, d) => applyDelta(s, d)), onState: (s) => box.check(s) });
        const board = socket.join("board", { applyDelta: track("board", (s) => s), onStatus: (s) => statuses.push(s.kind) });
        return { socket, board };
      };
      const { socket, board } = open();
      // The socket's client has no handle here: its state is watched
      // through onState.
      const shown = await new Promise((ok, fail) => {
        const timer = setTimeout(() => fail(new Error("no state within 10 s")), 10000);
        box.check = (s) => {
          if (s.items?.length === 2) {
            clearTimeout(timer);
            box.check = () => {};
            ok(s.items.length);
          }
        };
      });
      board.close();
      const boardReleased = await released("board");
      socket.close();
      const urlReleased = await released("url");
      // Both objects are still in scope here.
      return { shown, statuses, boardReleased, urlReleased, socket: socket.status.kind, board: board.status.kind };
    },
    [noChannelsUrl(fresh("release"), "ann"), RELEASED],
  );
  assert.deepEqual(out, {
    shown: 2,
    statuses: ["left"],
    boardReleased: true,
    urlReleased: true,
    socket: "closed",
    board: "left",
  });
});

scenario("closing_leaves_the_resource", async () => {
  const resource = fresh("leave");
  const n = await mount(resource);
  const left = await page.evaluate(
    async ([n, u]) => {
      const seesAnn = (list) => list.some((p) => p.userId === "ann");
      let members = [];
      let recheck = () => {};
      // Resolves when `cond` holds, re-checked on every presence change.
      const when = (cond, what) =>
        new Promise((ok, fail) => {
          const timer = setTimeout(() => fail(new Error(`${what} within 10 s`)), 10_000);
          recheck = () => {
            if (cond()) {
              clearTimeout(timer);
              ok();
            }
          };
          recheck();
        });
      const bob = window.flowTest.FlowClient.connect(u, {
        onPresence: (all) => {
          members = all;
          recheck();
        },
      });
      try {
        await when(() => seesAnn(members), "bob to see ann");
        window.flowTest.apps[n].client.close();
        await when(() => !seesAnn(members), "bob to see ann leave");
        return !seesAnn(bob.presence);
      } finally {
        bob.close();
      }
    },
    [n, url(resource, "bob")],
  );
  assert.equal(left, true);
});

/** Cycles of the memory test, the first `MEMORY_WARM_UP` of them warm-up. */
const MEMORY_CYCLES = 30;
const MEMORY_WARM_UP = 10;
/** Actions (an add and a remove) per handle per cycle. */
const MEMORY_ACTIONS = 10;

test("a long-running page's WebAssembly memory stops growing after warm-up (the allocator frees)", async (t) => {
  // Each cycle connects a client (a snapshot), joins a resource on its
  // socket, sends optimistic adds and removes on both (deltas, outcomes,
  // notifications; 100-byte titles, the longest the server takes), then closes and frees all three. The
  // 20 cycles after warm-up allocate several MB in all (800 actions with
  // their frames and values), far more than the 64 KiB a memory grows by:
  // an allocator that did not reuse freed memory, or a handle, closure or
  // op the package kept per cycle, would grow it. The state stays the same
  // size (each add is removed), and settled ops are capped at 64, fewer
  // than the warm-up's.
  const sizes = await page.evaluate(
    async ([u, joined, cycles, actions]) => {
      const { FlowClient, applyDelta, memoryBytes } = window.flowTest;
      const title = "x".repeat(100);
      const within = (what, arm) =>
        new Promise((ok, fail) => {
          const timer = setTimeout(() => fail(new Error(`${what} within 10 s`)), 10_000);
          arm(() => {
            clearTimeout(timer);
            ok();
          });
        });
      // Above the seeded items' ids.
      let id = 1000;
      const sizes = [];
      for (let c = 0; c < cycles; c++) {
        let snapshot, joinedState;
        const up = Promise.all([
          within("the client's snapshot", (ok) => (snapshot = ok)),
          within("the joined resource's state", (ok) => (joinedState = ok)),
        ]);
        const client = FlowClient.connect(u, { applyDelta, subscribe: ["todos"], onSnapshot: () => snapshot() });
        const socket = client.socket();
        const resource = socket.join(joined, { applyDelta, subscribe: ["todos"], onState: () => joinedState() });
        await up;
        for (let a = 0; a < actions; a++) {
          for (const handle of [client, resource]) {
            const item = { id: id++, title, done: false };
            await handle.sendAction({ type: "add", id: item.id, title }, { optimistic: { type: "added", item } });
            await handle.sendAction({ type: "remove", id: item.id }, { optimistic: { type: "removed", id: item.id } });
          }
        }
        resource.close();
        client.close();
        resource.free();
        socket.free();
        client.free();
        sizes.push(memoryBytes());
      }
      return sizes;
    },
    [url(fresh("memory"), "ann"), fresh("memory-joined"), MEMORY_CYCLES, MEMORY_ACTIONS],
  );
  t.diagnostic(`memory after each cycle: ${sizes.join(", ")} bytes`);
  assert.equal(sizes.length, MEMORY_CYCLES);
  assert.equal(
    sizes.at(-1),
    sizes[MEMORY_WARM_UP - 1],
    `the memory grew after warm-up (bytes after each cycle: ${sizes.join(", ")})`,
  );
});

for (const { id, title } of shared) {
  test(`${title} [shared scenario ${id}]`, async () => {
    const run = scenarios.get(id);
    assert.ok(run, `the shared scenario ${id} has no JavaScript implementation`);
    await run();
  });
}

test("every JavaScript scenario is one of the shared list", () => {
  const ids = new Set(shared.map((s) => s.id));
  assert.deepEqual([...scenarios.keys()].filter((id) => !ids.has(id)), []);
});
