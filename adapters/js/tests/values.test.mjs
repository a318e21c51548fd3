// The payload mapping of ui-flow-js (the table in adapters/js/src/payload.rs
// and index.d.ts), end to end: a scripted protocol peer in Node (a real
// WebSocket server on 127.0.0.1 speaking spec/PROTOCOL.md) sends a snapshot
// whose state holds one value of every MessagePack kind, byte for byte as
// written here, and answers an action the page sends with the same value as
// its result. The to-do adapter-server cannot do this: its payloads are
// typed to-do values, so bin, BigInt, non-string keys, extension values or
// a "__proto__" key never reach the page from it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { decode } from "@msgpack/msgpack";
import { WebSocketServer } from "ws";
import { launch, serveStatic } from "./harness.mjs";

const WAIT = { timeout: 10_000 };

// A MessagePack writer for the fixture, so every byte sent is chosen here:
// integers in their smallest form, numbers that are not integers as
// float64, `Map`s with any keys, and `raw(bytes)` for what no JavaScript
// value is (a str that is not UTF-8, an extension value).
const raw = (bytes) => ({ raw: Uint8Array.from(bytes) });
function write(value, out = []) {
  const be = (n, bytes) => {
    for (let i = bytes - 1; i >= 0; i--) out.push(Number((BigInt(n) >> BigInt(8 * i)) & 0xffn));
  };
  const head = (fix, fixMax, m8, m16, m32, len) => {
    if (fix !== null && len <= fixMax) out.push(fix | len);
    else if (m8 !== null && len < 0x100) out.push(m8, len);
    else if (len < 0x10000) out.push(m16), be(len, 2);
    else out.push(m32), be(len, 4);
  };
  if (value === null) out.push(0xc0);
  else if (value === true || value === false) out.push(value ? 0xc3 : 0xc2);
  else if (typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value))) {
    const n = BigInt(value);
    if (n >= 0n && n < 0x80n) out.push(Number(n));
    else if (n < 0n && n >= -32n) out.push(Number(n & 0xffn));
    else if (n >= 0n) (n < 0x100000000n ? (out.push(0xce), be(n, 4)) : (out.push(0xcf), be(n, 8)));
    else out.push(0xd3), be(BigInt.asUintN(64, n), 8);
  } else if (typeof value === "number") {
    const view = new DataView(new ArrayBuffer(8));
    view.setFloat64(0, value);
    out.push(0xcb, ...new Uint8Array(view.buffer));
  } else if (typeof value === "string") {
    const bytes = new TextEncoder().encode(value);
    head(0xa0, 31, 0xd9, 0xda, 0xdb, bytes.length);
    out.push(...bytes);
  } else if (value instanceof Uint8Array) {
    head(null, 0, 0xc4, 0xc5, 0xc6, value.length);
    out.push(...value);
  } else if (Array.isArray(value)) {
    head(0x90, 15, null, 0xdc, 0xdd, value.length);
    value.forEach((v) => write(v, out));
  } else if (value instanceof Map) {
    head(0x80, 15, null, 0xde, 0xdf, value.size);
    value.forEach((v, k) => (write(k, out), write(v, out)));
  } else if (value.raw) out.push(...value.raw);
  else throw new Error(`the fixture cannot write ${value}`);
  return out;
}
const frame = (fields) => Uint8Array.from(write(new Map(fields)));

/** One value of every kind the mapping table has a row for. */
const EVERY_KIND = new Map([
  ["nil", null],
  ["yes", true],
  ["no", false],
  ["small", 42],
  ["negative", -7],
  ["maxSafe", 2 ** 53 - 1],
  ["minSafe", -(2 ** 53 - 1)],
  ["beyondSafe", 2n ** 53n],
  ["maxU64", 2n ** 64n - 1n],
  ["minI64", -(2n ** 63n)],
  ["float", 1.5],
  ["text", "héllo ✓"],
  ["bytes", new Uint8Array([0, 1, 255])],
  ["list", [1, "two", null, [3]]],
  [
    "object",
    new Map([
      ["__proto__", new Map([["own", true]])],
      ["a", 1],
    ]),
  ],
  ["numericKeys", new Map([[1, "one"], [-2, "minus two"]])],
  // A str that is not UTF-8 and an extension value: received only.
  ["notUtf8", raw([0xa2, 0xc3, 0x28])],
  ["ext", raw([0xd4, 0x07, 0x2a])],
]);

/** What the page shows for `EVERY_KIND`, in `describe`'s terms below. */
const SHOWN = [
  "object",
  true,
  [
    ["nil", ["null"]],
    ["yes", ["boolean", true]],
    ["no", ["boolean", false]],
    ["small", ["number", 42]],
    ["negative", ["number", -7]],
    ["maxSafe", ["number", 2 ** 53 - 1]],
    ["minSafe", ["number", -(2 ** 53 - 1)]],
    ["beyondSafe", ["bigint", "9007199254740992"]],
    ["maxU64", ["bigint", "18446744073709551615"]],
    ["minI64", ["bigint", "-9223372036854775808"]],
    ["float", ["number", 1.5]],
    ["text", ["string", "héllo ✓"]],
    ["bytes", ["bytes", [0, 1, 255]]],
    ["list", ["array", [["number", 1], ["string", "two"], ["null"], ["array", [["number", 3]]]]]],
    ["object", ["object", true, [["__proto__", ["object", true, [["own", ["boolean", true]]]]], ["a", ["number", 1]]]]],
    ["numericKeys", ["Map", [[["number", 1], ["string", "one"]], [["number", -2], ["string", "minus two"]]]]],
    // Bytes a str holds that are not UTF-8 arrive as bytes; an extension
    // value as its [type, data] pair.
    ["notUtf8", ["bytes", [0xc3, 0x28]]],
    ["ext", ["array", [["number", 7], ["bytes", [0x2a]]]]],
  ],
];

/** In the page: a JSON-safe description of a received value, with the
 * prototype of each object and own properties only (so a "__proto__" key
 * that set the prototype instead would show). */
const DESCRIBE = `(function describe(v) {
  if (v === null) return ["null"];
  if (typeof v === "bigint") return ["bigint", String(v)];
  if (v instanceof Uint8Array) return ["bytes", [...v]];
  if (v instanceof Map) return ["Map", [...v].map(([k, x]) => [describe(k), describe(x)])];
  if (Array.isArray(v)) return ["array", v.map(describe)];
  if (typeof v === "object")
    return ["object", Object.getPrototypeOf(v) === Object.prototype,
      Object.getOwnPropertyNames(v).map((k) => [k, describe(Object.getOwnPropertyDescriptor(v, k).value)])];
  return [typeof v, v];
})`;

let http, browser, page, peer, actions;

before(async () => {
  // The scripted peer: Connected, then a snapshot of EVERY_KIND; each
  // Action is kept and answered with ActionOk carrying EVERY_KIND again.
  actions = [];
  peer = new WebSocketServer({
    host: "127.0.0.1",
    port: 0,
    handleProtocols: (offered) => (offered.has("ui-flow") ? "ui-flow" : false),
  });
  peer.on("connection", (socket) => {
    socket.send(frame([["t", 0], ["protocol_version", 1], ["connection_id", "values"]]));
    socket.send(frame([["t", 1000], ["state", EVERY_KIND], ["seq", 0], ["timestamp", 0]]));
    socket.on("message", (data) => {
      const message = decode(new Uint8Array(data), { useBigInt64: true, mapKeyConverter: (k) => (typeof k === "number" ? `#${k}` : k) });
      if (message.t !== 1000) return;
      actions.push(message);
      socket.send(frame([["t", 5001], ["op_id", message.op_id], ["result", EVERY_KIND]]));
    });
  });
  await new Promise((ok) => peer.on("listening", ok));
  http = await serveStatic();
  browser = await launch();
  page = await browser.newPage();
  page.on("pageerror", (e) => console.error("page error:", e));
  await page.goto(`http://127.0.0.1:${http.address().port}/page/index.html`, WAIT);
  await page.waitForFunction(() => window.flowTest !== undefined, null, WAIT);
});

after(async () => {
  await browser?.close();
  await new Promise((ok) => (http ? http.close(ok) : ok()));
  for (const socket of peer?.clients ?? []) socket.terminate();
  await new Promise((ok) => (peer ? peer.close(ok) : ok()));
});

test("every MessagePack kind reaches the page as its documented JavaScript value, both ways", async () => {
  const url = `ws://127.0.0.1:${peer.address().port}/realtime/values`;
  const seen = await page.evaluate(
    async ([url, describe]) => {
      describe = (0, eval)(describe);
      const { FlowClient } = window.flowTest;
      const snapshot = await new Promise((ok) => {
        window.valuesClient = FlowClient.connect(url, { onSnapshot: (state) => ok(state) });
      });
      const action = {
        nil: null,
        gone: undefined,
        yes: true,
        small: 42,
        negative: -7,
        maxSafe: Number.MAX_SAFE_INTEGER,
        big: 2n ** 60n,
        minI64: -(2n ** 63n),
        float: 1.5,
        text: "héllo ✓",
        bytes: new Uint8Array([0, 1, 255]),
        list: [1, "two", null, undefined],
        object: { a: 1 },
        numericKeys: new Map([[1, "one"]]),
      };
      const ok = await window.valuesClient.sendAction(action);
      window.valuesClient.close();
      return { snapshot: describe(snapshot), result: describe(ok.result) };
    },
    [url, DESCRIBE],
  );
  assert.deepEqual(seen.snapshot, SHOWN, "server → page (Snapshot.state)");
  assert.deepEqual(seen.result, SHOWN, "server → page (ActionOk.result)");

  // Page → server: what the peer decoded (64-bit integers as BigInt,
  // numeric map keys marked "#").
  assert.equal(actions.length, 1);
  assert.deepEqual(actions[0].action, {
    nil: null,
    yes: true,
    small: 42,
    negative: -7,
    maxSafe: 2n ** 53n - 1n,
    big: 2n ** 60n,
    minI64: -(2n ** 63n),
    float: 1.5,
    text: "héllo ✓",
    bytes: new Uint8Array([0, 1, 255]),
    list: [1, "two", null, null],
    object: { a: 1 },
    numericKeys: { "#1": "one" },
  });
});
