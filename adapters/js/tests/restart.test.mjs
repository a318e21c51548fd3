// One page, one WebSocket, three resources, and a server that is stopped and
// started again (issue 13's first "Done when").
//
// Unlike the other files here, these tests run their OWN
// examples/adapter-server (target/debug/adapter-server, or
// UI_FLOW_ADAPTER_SERVER_BIN), with `--data` in a temporary directory on a
// free loopback port, because they stop that server (SIGKILL in one test,
// SIGTERM in the other) and start it again on the same port and data
// directory. adapters/test.sh builds the binary; every wait is bounded, and
// the server is killed at the end whatever happens.
//
// Ann's page holds one FlowClient (the URL's resource) and its FlowSocket
// with two more resources joined on it. Bob's page changes one of them and
// is present on it. Then the server stops; with the durable store it comes
// back at the same epoch and seq line, so all three resources resume where
// they were (no snapshot, no re-seeded list) and go on receiving changes.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UNTIL, killServer, launch, serveStatic, startServer } from "./harness.mjs";

const WAIT = { timeout: 20_000 };

let http, browser, ann, bob, dataDir;
/** The running adapter-server: `{ child, addr, log }`. */
let server;

const url = (resource, user) => `${server.addr}/realtime/${resource}?token=${user}`;
const fresh = (name) => `js-restart-${name}-${crypto.randomUUID()}`;
let nextId = 3_000_000;
const freshId = () => nextId++ + Math.floor(Math.random() * 1e9) * 1000;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "ui-flow-restart-"));
  server = await startServer(["127.0.0.1:0", "--data", dataDir]);
  http = await serveStatic();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await new Promise((ok) => (http ? http.close(ok) : ok()));
  await killServer(server);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Fresh pages for Ann and Bob. Ann's records every WebSocket it creates
 * (its URL) and how many are in use at once, from before the package loads.
 * A socket is in use from its creation until the client closes it or the
 * browser reports it closed, whichever comes first: a socket the client has
 * given up may still be finishing its closing handshake when the next one is
 * dialled, and how long that takes is the browser's and the load's business,
 * not the client's. */
async function openPages() {
  const page = `http://127.0.0.1:${http.address().port}/page/index.html`;
  [ann, bob] = [await browser.newPage(), await browser.newPage()];
  for (const p of [ann, bob]) p.on("pageerror", (e) => console.error("page error:", e));
  await ann.addInitScript(() => {
    const Native = window.WebSocket;
    window.sockets = { urls: [], alive: 0, mostAlive: 0 };
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        const s = window.sockets;
        s.urls.push(String(args[0]));
        s.alive += 1;
        s.mostAlive = Math.max(s.mostAlive, s.alive);
        this.released = false;
        this.addEventListener("close", () => this.release());
      }
      release() {
        if (!this.released) {
          this.released = true;
          window.sockets.alive -= 1;
        }
      }
      close(...args) {
        this.release();
        return super.close(...args);
      }
    };
  });
  for (const p of [ann, bob]) {
    await p.goto(page, WAIT);
    await p.waitForFunction(() => window.flowTest !== undefined, null, WAIT);
  }
}

for (const [signal, how] of [
  ["SIGKILL", "killed (SIGKILL)"],
  ["SIGTERM", "stopped (SIGTERM, telling its clients to reconnect)"],
]) {
  test(`one page, one WebSocket, three resources: live state, rollback and presence each; all three resume after the server is ${how} and restarted`, async () => {
    await openPages();
    try {
      await scenario(signal);
    } finally {
      await Promise.all([ann.close(), bob.close()]);
    }
  });
}

/** The scenario, with the server stopped by `signal` in its middle. */
async function scenario(signal) {
  const [r0, r1, r2] = [fresh("board"), fresh("chat"), fresh("inbox")];
  const ids = { bobBefore: freshId(), rejected: freshId(), kept: [freshId(), freshId(), freshId()] };
  const later = [freshId(), freshId(), freshId()];

  // Ann: one FlowClient on r0 (the URL's resource) and r1, r2 joined on
  // its socket, each with its own reducer that counts its calls. Fast
  // reconnects so the restart is caught up quickly.
  await ann.evaluate(
    async ([r0url, r1, r2, untilSource]) => {
      const until = eval(untilSource);
      const { FlowClient, applyDelta } = window.flowTest;
      const track = () => ({ box: { check: () => {} }, calls: 0, snapshots: [], seqs: [], statuses: [] });
      const t = { r0: track(), r1: track(), r2: track() };
      const reducer = (name) => (s, d) => {
        t[name].calls += 1;
        return applyDelta(s, d);
      };
      const callbacks = (name) => ({
        applyDelta: reducer(name),
        onState: (s) => t[name].box.check(s),
        onDelta: (_d, seq) => t[name].seqs.push(Number(seq)),
        onStatus: (s) => t[name].statuses.push(s.kind),
      });
      const client = FlowClient.connect(r0url, {
        ...callbacks("r0"),
        onSnapshot: (_s, seq) => t.r0.snapshots.push(Number(seq)),
        config: { backoffMinMs: 50, backoffMaxMs: 250 },
      });
      const socket = client.socket();
      const h = { r0: client, r1: socket.join(r1, callbacks("r1")), r2: socket.join(r2, callbacks("r2")) };
      window.three = { client, socket, h, t, until };
      for (const name of ["r0", "r1", "r2"]) await until(h[name], t[name].box, (s) => s.items?.length === 2);
    },
    [url(r0, "ann"), r1, r2, UNTIL],
  );
  // Bob: a client of his own on r1 only, which he keeps open.
  await bob.evaluate(
    ([r1url]) => {
      const { FlowClient, applyDelta } = window.flowTest;
      window.bobR1 = FlowClient.connect(r1url, { applyDelta, config: { backoffMinMs: 50, backoffMaxMs: 250 } });
    },
    [url(r1, "bob")],
  );

  // Presence per resource: Bob shows on r1 only.
  await ann.waitForFunction(
    () => window.three.h.r1.presence.some((p) => p.userId === "bob"),
    null,
    WAIT,
  );
  await ann.waitForFunction(
    () => ["r0", "r2"].every((n) => window.three.h[n].presence.some((p) => p.userId === "ann")),
    null,
    WAIT,
  );
  const presence = await ann.evaluate(() =>
    Object.fromEntries(
      Object.entries(window.three.h).map(([n, h]) => [n, h.presence.map((p) => p.userId).sort()]),
    ),
  );
  assert.deepEqual(presence, { r0: ["ann"], r1: ["ann", "bob"], r2: ["ann"] }, "presence per resource");

  // Live state per resource: Bob adds to r1; it arrives on r1 alone.
  await bob.evaluate(
    async ([id]) => {
      await window.bobR1.sendAction({ type: "add", id, title: "From Bob" });
    },
    [ids.bobBefore],
  );
  const live = await ann.evaluate(
    async ([id]) => {
      const { h, t, until } = window.three;
      await until(h.r1, t.r1.box, (s) => s.items.some((i) => i.id === id));
      return { calls: [t.r0.calls, t.r1.calls, t.r2.calls], seqs: [h.r0.seq, h.r1.seq, h.r2.seq].map(Number) };
    },
    [ids.bobBefore],
  );
  assert.deepEqual(live, { calls: [0, 1, 0], seqs: [0, 1, 0] }, "Bob's change reached r1 and no other resource");

  // An optimistic action the server rejects rolls back on r2 alone.
  const rollback = await ann.evaluate(
    async ([id]) => {
      const { h, t, until } = window.three;
      const before = [t.r0.calls, t.r1.calls];
      const item = { id, title: "", done: false };
      const sent = h.r2.sendAction({ type: "add", id, title: "   " }, { optimistic: { type: "added", item } });
      const shownAtOnce = h.r2.state.items.some((i) => i.id === id);
      const error = await sent.then(
        () => null,
        (e) => ({ name: e.name, code: e.code, op: h.r2.op(e.opId)?.kind }),
      );
      await until(h.r2, t.r2.box, (s) => !s.items.some((i) => i.id === id));
      return {
        shownAtOnce,
        error,
        othersRan: [t.r0.calls, t.r1.calls].map((c, i) => c - before[i]),
        r2: h.r2.state.items.length,
        seq: Number(h.r2.seq),
      };
    },
    [ids.rejected],
  );
  assert.deepEqual(rollback, {
    shownAtOnce: true,
    error: { name: "ActionError", code: "invalid_title", op: "err" },
    othersRan: [0, 0],
    r2: 2,
    seq: 0,
  });

  // Ann adds one item to each resource; each ActionOk comes after the
  // store has it on disk.
  const beforeKill = await ann.evaluate(
    async ([kept]) => {
      const { h, t, until } = window.three;
      const names = ["r0", "r1", "r2"];
      await Promise.all(names.map((n, i) => h[n].sendAction({ type: "add", id: kept[i], title: `Kept on ${n}` })));
      for (const [i, n] of names.entries()) await until(h[n], t[n].box, (s) => s.items.some((x) => x.id === kept[i]));
      return {
        items: names.map((n) => h[n].state.items.map((x) => x.title)),
        seqs: names.map((n) => Number(h[n].seq)),
        sockets: window.sockets.urls.length,
        snapshots: t.r0.snapshots,
      };
    },
    [ids.kept],
  );
  assert.deepEqual(beforeKill.seqs, [1, 2, 1]);
  assert.equal(beforeKill.sockets, 1, "one WebSocket for three resources");
  assert.deepEqual(beforeKill.snapshots, [0], "r0 was synced by one snapshot");

  // The server dies (without a word, with SIGKILL), and the page notices.
  const port = new URL(server.addr.replace("ws:", "http:")).port;
  await killServer(server, signal);
  await ann.waitForFunction(() => window.three.client.status.kind === "reconnecting", null, WAIT);
  // Started again on the same port and data directory.
  server = await startServer([`127.0.0.1:${port}`, "--data", dataDir]);

  // All three come back joined, with the state they had: resumed, not
  // re-seeded (a new lineage would have sent seeded lists at seq 0).
  await ann.waitForFunction(
    () => {
      const { client, h } = window.three;
      return client.status.kind === "open" && h.r1.status.kind === "joined" && h.r2.status.kind === "joined";
    },
    null,
    WAIT,
  );
  const resumed = await ann.evaluate(() => {
    const { h, t } = window.three;
    const names = ["r0", "r1", "r2"];
    return {
      items: names.map((n) => h[n].state.items.map((x) => x.title)),
      seqs: names.map((n) => Number(h[n].seq)),
      snapshots: t.r0.snapshots,
      resumeUrl: window.sockets.urls.at(-1),
      paths: [...new Set(window.sockets.urls.map((u) => new URL(u).pathname))],
      mostAlive: window.sockets.mostAlive,
    };
  });
  assert.deepEqual(resumed.items, beforeKill.items, "every resource kept its state");
  assert.deepEqual(resumed.seqs, beforeKill.seqs, "every resource is at the seq it had");
  assert.deepEqual(resumed.snapshots, [0], "r0 resumed with its epoch: no second snapshot");
  assert.equal(resumed.mostAlive, 1, "never more than one WebSocket in use at a time");
  assert.deepEqual(resumed.paths, [`/realtime/${r0}`], "every socket the page opened is the one connection's");

  // Presence comes back per resource with Bob's reconnected client.
  await ann.waitForFunction(
    () => window.three.h.r1.presence.some((p) => p.userId === "bob"),
    null,
    WAIT,
  );

  // A change on each resource after the restart arrives on it, next in its
  // seq line: Bob's kept client on r1, short-lived ones of his on r0 and r2.
  await bob.waitForFunction(() => window.bobR1.status.kind === "open", null, WAIT);
  await bob.evaluate(
    async ([r0url, r2url, later]) => {
      const { FlowClient } = window.flowTest;
      await window.bobR1.sendAction({ type: "add", id: later[1], title: "After on r1" });
      for (const [u, id, title] of [[r0url, later[0], "After on r0"], [r2url, later[2], "After on r2"]]) {
        const c = FlowClient.connect(u);
        try {
          await c.sendAction({ type: "add", id, title });
        } finally {
          c.close();
        }
      }
    },
    [url(r0, "bob"), url(r2, "bob"), later],
  );
  const afterRestart = await ann.evaluate(
    async ([later]) => {
      const { h, t, until } = window.three;
      const names = ["r0", "r1", "r2"];
      for (const [i, n] of names.entries()) await until(h[n], t[n].box, (s) => s.items.some((x) => x.id === later[i]));
      return {
        last: names.map((n) => h[n].state.items.at(-1).title),
        seqs: names.map((n) => Number(h[n].seq)),
        deltaSeqs: names.map((n) => t[n].seqs),
        snapshots: t.r0.snapshots,
      };
    },
    [later],
  );
  assert.deepEqual(afterRestart.last, ["After on r0", "After on r1", "After on r2"]);
  assert.deepEqual(afterRestart.seqs, beforeKill.seqs.map((s) => s + 1), "each seq line continues");
  assert.deepEqual(afterRestart.deltaSeqs, [[1, 2], [1, 2, 3], [1, 2]], "each delta once, in order");
  assert.deepEqual(afterRestart.snapshots, [0]);
  const resumeUrl = new URL(resumed.resumeUrl);
  assert.equal(resumeUrl.searchParams.get("last_seq"), "1", "r0 resumed from its seq");
  assert.match(resumeUrl.searchParams.get("epoch") ?? "", /^\d+$/, "r0 resumed with its epoch");
}
