// An independent conformance check of spec/vectors, written from
// spec/PROTOCOL.md rather than from the Rust code.
//
//   npm ci --prefix spec/js && node spec/js/check.mjs
//
// For every vector it runs two readers:
//
// - @msgpack/msgpack, a widely used MessagePack library, decodes the bytes
//   (useBigInt64, so u64 stays exact); the tag, the field names and the
//   values must match `expected`, and "t" must be the first key;
// - a small reader of our own, built from the spec's rules: the structural
//   walk (truncation, lengths, depth, reserved byte, trailing bytes), the
//   envelope ("t" first, a u16, string keys, no duplicates) and each field's
//   type from the spec's field tables. Positive vectors must pass it and give
//   `expected` exactly (bin vs str, float widths, map order); rejected
//   vectors must fail it with the vector's error kind, `in` and `field`.
//
// The tag tables, field tables, type values and error kinds are parsed from
// spec/PROTOCOL.md, the same tables the Rust test checks against the code.

import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { decode } from "@msgpack/msgpack";

const SPEC_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const DEFAULT_MAX_DEPTH = 64;

// ---------------------------------------------------------------------------
// The spec's tables

function parseTables(markdown) {
  const tables = new Map();
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const marker = lines[i].trim().match(/^<!--\s*(.+?)\s*-->$/);
    if (!marker) continue;
    let j = i + 1;
    while (j < lines.length && lines[j].trim() === "") j++;
    const rows = [];
    for (; j < lines.length && lines[j].trim().startsWith("|"); j++) {
      rows.push(
        lines[j]
          .trim()
          .replace(/^\||\|$/g, "")
          .split("|")
          .map((cell) => cell.trim().replace(/^`|`$/g, "")),
      );
    }
    if (rows.length < 2) throw new Error(`marker ${marker[1]} has no table`);
    tables.set(marker[1], rows.slice(2));
  }
  return tables;
}

function loadSpec() {
  const tables = parseTables(readFileSync(join(SPEC_DIR, "PROTOCOL.md"), "utf8"));
  const need = (name) => {
    const t = tables.get(name);
    if (!t) throw new Error(`PROTOCOL.md has no table marked ${name}`);
    return t;
  };
  const tagTable = (name) => new Map(need(name).map((r) => [Number(r[0]), r[1]]));
  const enums = new Map();
  for (const [type, , values] of need("table: field-types")) {
    const quoted = [...values.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
    if (quoted.length > 0) enums.set(type, new Set(quoted));
  }
  const fields = new Map();
  for (const [marker, rows] of tables) {
    const m = marker.match(/^fields: (server|client|type) (\w+)$/);
    if (!m) continue;
    fields.set(
      `${m[1]} ${m[2]}`,
      rows.map(([name, type, required]) => ({ name, type, required })),
    );
  }
  return {
    tags: { server: tagTable("table: server-tags"), client: tagTable("table: client-tags") },
    enums,
    fields,
    errorKinds: new Set(need("table: decode-errors").map((r) => r[0])),
  };
}

// ---------------------------------------------------------------------------
// Our own reader: the structural walk, then a tree of typed nodes

class Reject extends Error {
  constructor(kind, within, field) {
    super(within ? `${kind} (${within}.${field})` : kind);
    this.kind = kind;
    this.within = within;
    this.field = field;
  }
}

/** Where the value at `pos` ends, or how many children follow. */
function header(buf, pos) {
  if (pos >= buf.length) throw new Reject("truncated");
  const b = buf[pos];
  const body = pos + 1;
  const be = (at, n) => {
    if (at + n > buf.length) throw new Reject("truncated");
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(buf[at + i]);
    return v;
  };
  const fixed = (n) => {
    if (body + n > buf.length) throw new Reject("truncated");
    return { next: body + n, children: 0n, container: false };
  };
  const sized = (lenBytes, typeBytes) => {
    const len = be(body, lenBytes);
    const start = body + lenBytes + typeBytes;
    if (start > buf.length) throw new Reject("truncated");
    if (len > BigInt(buf.length - start)) throw new Reject("length_exceeds_input");
    return { next: start + Number(len), children: 0n, container: false };
  };
  const container = (lenBytes, perEntry) => {
    const len = lenBytes === 0 ? BigInt(b & 0x0f) : be(body, lenBytes);
    const start = body + lenBytes;
    if (len * perEntry > BigInt(buf.length - start)) throw new Reject("length_exceeds_input");
    return { next: start, children: len * perEntry, container: true };
  };
  if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) return fixed(0);
  if (b <= 0x8f) return container(0, 2n);
  if (b <= 0x9f) return container(0, 1n);
  if (b <= 0xbf) {
    if ((b & 0x1f) > buf.length - body) throw new Reject("length_exceeds_input");
    return fixed(b & 0x1f);
  }
  switch (b) {
    case 0xc1: throw new Reject("reserved_byte");
    case 0xc4: case 0xd9: return sized(1, 0);
    case 0xc5: case 0xda: return sized(2, 0);
    case 0xc6: case 0xdb: return sized(4, 0);
    case 0xc7: return sized(1, 1);
    case 0xc8: return sized(2, 1);
    case 0xc9: return sized(4, 1);
    case 0xca: case 0xce: case 0xd2: return fixed(4);
    case 0xcb: case 0xcf: case 0xd3: return fixed(8);
    case 0xcc: case 0xd0: return fixed(1);
    case 0xcd: case 0xd1: return fixed(2);
    case 0xd4: return fixed(2);
    case 0xd5: return fixed(3);
    case 0xd6: return fixed(5);
    case 0xd7: return fixed(9);
    case 0xd8: return fixed(17);
    case 0xdc: return container(2, 1n);
    case 0xdd: return container(4, 1n);
    case 0xde: return container(2, 2n);
    case 0xdf: return container(4, 2n);
  }
  throw new Error(`unreachable byte ${b}`);
}

/** The structural rules: one value, lengths that fit, depth, no 0xc1. */
function walk(buf, maxDepth) {
  const open = [1n]; // remaining children per open container, under a virtual root
  let pos = 0;
  for (;;) {
    while (open.length > 0 && open[open.length - 1] === 0n) open.pop();
    if (open.length === 0) break;
    open[open.length - 1] -= 1n;
    const h = header(buf, pos);
    if (h.container) {
      if (open.length > maxDepth) throw new Reject("too_deep");
      if (h.children > 0n) open.push(h.children);
    }
    pos = h.next;
  }
  if (pos !== buf.length) throw new Reject("trailing_bytes");
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A typed node tree of one (already walked) value. */
function parse(buf, pos) {
  const b = buf[pos];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const uint = (at, n) => {
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(buf[at + i]);
    return v;
  };
  const int = (at, n) => BigInt.asIntN(n * 8, uint(at, n));
  const str = (start, len) => {
    const bytes = buf.subarray(start, start + len);
    let text = null;
    try {
      text = utf8.decode(bytes);
    } catch {
      text = null;
    }
    return { node: { kind: "str", text }, end: start + len };
  };
  const bin = (start, len) => ({
    node: { kind: "bin", bytes: buf.subarray(start, start + len) },
    end: start + len,
  });
  const ext = (at, len) => ({
    node: { kind: "ext", type: view.getInt8(at), data: buf.subarray(at + 1, at + 1 + len) },
    end: at + 1 + len,
  });
  const items = (start, n) => {
    const out = [];
    let at = start;
    for (let i = 0; i < n; i++) {
      const r = parse(buf, at);
      out.push(r.node);
      at = r.end;
    }
    return { list: out, end: at };
  };
  const array = (start, n) => {
    const r = items(start, n);
    return { node: { kind: "array", items: r.list }, end: r.end };
  };
  const map = (start, n) => {
    const r = items(start, 2 * n);
    const entries = [];
    for (let i = 0; i < r.list.length; i += 2) entries.push([r.list[i], r.list[i + 1]]);
    return { node: { kind: "map", entries }, end: r.end };
  };
  const scalar = (node, end) => ({ node, end });
  if (b <= 0x7f) return scalar({ kind: "int", value: BigInt(b) }, pos + 1);
  if (b >= 0xe0) return scalar({ kind: "int", value: BigInt(b - 256) }, pos + 1);
  if (b <= 0x8f) return map(pos + 1, b & 0x0f);
  if (b <= 0x9f) return array(pos + 1, b & 0x0f);
  if (b <= 0xbf) return str(pos + 1, b & 0x1f);
  switch (b) {
    case 0xc0: return scalar({ kind: "nil" }, pos + 1);
    case 0xc2: return scalar({ kind: "bool", value: false }, pos + 1);
    case 0xc3: return scalar({ kind: "bool", value: true }, pos + 1);
    case 0xc4: return bin(pos + 2, buf[pos + 1]);
    case 0xc5: return bin(pos + 3, Number(uint(pos + 1, 2)));
    case 0xc6: return bin(pos + 5, Number(uint(pos + 1, 4)));
    case 0xc7: return ext(pos + 2, buf[pos + 1]);
    case 0xc8: return ext(pos + 3, Number(uint(pos + 1, 2)));
    case 0xc9: return ext(pos + 5, Number(uint(pos + 1, 4)));
    case 0xca: return scalar({ kind: "float", bits: 32, value: view.getFloat32(pos + 1) }, pos + 5);
    case 0xcb: return scalar({ kind: "float", bits: 64, value: view.getFloat64(pos + 1) }, pos + 9);
    case 0xcc: return scalar({ kind: "int", value: uint(pos + 1, 1) }, pos + 2);
    case 0xcd: return scalar({ kind: "int", value: uint(pos + 1, 2) }, pos + 3);
    case 0xce: return scalar({ kind: "int", value: uint(pos + 1, 4) }, pos + 5);
    case 0xcf: return scalar({ kind: "int", value: uint(pos + 1, 8) }, pos + 9);
    case 0xd0: return scalar({ kind: "int", value: int(pos + 1, 1) }, pos + 2);
    case 0xd1: return scalar({ kind: "int", value: int(pos + 1, 2) }, pos + 3);
    case 0xd2: return scalar({ kind: "int", value: int(pos + 1, 4) }, pos + 5);
    case 0xd3: return scalar({ kind: "int", value: int(pos + 1, 8) }, pos + 9);
    case 0xd4: return ext(pos + 1, 1);
    case 0xd5: return ext(pos + 1, 2);
    case 0xd6: return ext(pos + 1, 4);
    case 0xd7: return ext(pos + 1, 8);
    case 0xd8: return ext(pos + 1, 16);
    case 0xd9: return str(pos + 2, buf[pos + 1]);
    case 0xda: return str(pos + 3, Number(uint(pos + 1, 2)));
    case 0xdb: return str(pos + 5, Number(uint(pos + 1, 4)));
    case 0xdc: return array(pos + 3, Number(uint(pos + 1, 2)));
    case 0xdd: return array(pos + 5, Number(uint(pos + 1, 4)));
    case 0xde: return map(pos + 3, Number(uint(pos + 1, 2)));
    case 0xdf: return map(pos + 5, Number(uint(pos + 1, 4)));
  }
  throw new Error(`unreachable byte ${b}`);
}

// ---------------------------------------------------------------------------
// The JSON form (spec: "The JSON form of vectors")

const hex = (bytes) => Buffer.from(bytes).toString("hex");

function intForm(v) {
  if (v > MAX_SAFE) return { $u64: v.toString() };
  if (v < -MAX_SAFE) return { $i64: v.toString() };
  return Number(v);
}

function floatForm(x) {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "Infinity";
  if (x === -Infinity) return "-Infinity";
  return x;
}

/** The JSON form of a node from our own reader: exact. */
function nodeForm(n) {
  switch (n.kind) {
    case "nil": return null;
    case "bool": return n.value;
    case "int": return intForm(n.value);
    case "float": return { [n.bits === 32 ? "$f32" : "$f64"]: floatForm(n.value) };
    case "str":
      if (n.text === null) throw new Error("invalid UTF-8 in a str has no JSON form");
      return n.text;
    case "bin": return { $bin: hex(n.bytes) };
    case "ext": return { $ext: [n.type, hex(n.data)] };
    case "array": return n.items.map(nodeForm);
    case "map": {
      const plain = n.entries.every(([k]) => k.kind === "str" && k.text !== null && !k.text.startsWith("$"));
      if (plain) return Object.fromEntries(n.entries.map(([k, v]) => [k.text, nodeForm(v)]));
      return { $map: n.entries.map(([k, v]) => [nodeForm(k), nodeForm(v)]) };
    }
  }
  throw new Error(`unknown node ${n.kind}`);
}

// Non-string map keys from @msgpack/msgpack become marked strings, so a map
// with them is recognisable (and keeps insertion order: no integer-like keys).
const KEY_MARK = "\u0000key:";
const mapKeyConverter = (key) =>
  typeof key === "string" ? key : KEY_MARK + JSON.stringify(libForm(key));

/** The JSON form of a value decoded by @msgpack/msgpack (floats lose width). */
function libForm(v) {
  if (v === null || typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "bigint") return intForm(v);
  if (typeof v === "number") return Number.isInteger(v) ? intForm(BigInt(v)) : { $float: floatForm(v) };
  if (v instanceof Uint8Array) return { $bin: hex(v) };
  if (Array.isArray(v)) return v.map(libForm);
  if (typeof v === "object" && "type" in v && v.data instanceof Uint8Array && v.constructor.name === "ExtData") {
    return { $ext: [v.type, hex(v.data)] };
  }
  if (typeof v === "object") {
    const keys = Object.keys(v);
    const unmark = (k) => (k.startsWith(KEY_MARK) ? JSON.parse(k.slice(KEY_MARK.length)) : k);
    if (keys.some((k) => k.startsWith(KEY_MARK) || k.startsWith("$"))) {
      return { $map: keys.map((k) => [unmark(k), libForm(v[k])]) };
    }
    return Object.fromEntries(keys.map((k) => [k, libForm(v[k])]));
  }
  throw new Error(`unexpected decoded value ${String(v)}`);
}

const isObj = (x) => x !== null && typeof x === "object" && !Array.isArray(x);

/**
 * Compares a JSON form with `expected`. Objects are unordered (JSON readers
 * reorder integer-like keys); `loose` also lets a float from the library match
 * either float width and an integral float match an integer form, and treats
 * $map entries as unordered.
 */
function same(expected, actual, loose) {
  if (loose && isObj(expected) && ("$f32" in expected || "$f64" in expected)) {
    const want = expected.$f32 ?? expected.$f64;
    const got = isObj(actual) && "$float" in actual ? actual.$float : actual;
    return want === got || (typeof want === "number" && want === got);
  }
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && expected.length === actual.length &&
      expected.every((e, i) => same(e, actual[i], loose));
  }
  if (isObj(expected)) {
    if (!isObj(actual)) return false;
    if (loose && Array.isArray(expected.$map) && Array.isArray(actual.$map)) {
      if (expected.$map.length !== actual.$map.length) return false;
      const left = [...actual.$map];
      return expected.$map.every((pair) => {
        const i = left.findIndex((got) => same(pair, got, loose));
        return i >= 0 && left.splice(i, 1);
      });
    }
    const ek = Object.keys(expected);
    const ak = Object.keys(actual);
    return ek.length === ak.length && ek.every((k) => k in actual && same(expected[k], actual[k], loose));
  }
  return expected === actual;
}

// ---------------------------------------------------------------------------
// The envelope and the field tables

const UINT_MAX = { uint8: 255n, uint16: 65535n, uint32: 4294967295n, uint64: 18446744073709551615n };
const UUID_TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function uuidText(bytes) {
  const h = hex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Reads a frame with our own reader; returns {tag, unknown} or {tag, name, form}. */
function readFrame(spec, direction, buf, limits) {
  if (buf.length > limits.maxFrameLen) throw new Reject("too_large");
  walk(buf, limits.maxDepth);
  const root = parse(buf, 0).node;
  if (root.kind !== "map") throw new Reject("not_a_map");
  const [first, ...rest] = root.entries;
  if (!first || first[0].kind !== "str" || first[0].text !== "t") throw new Reject("missing_tag");
  const t = first[1];
  if (t.kind !== "int" || t.value < 0n || t.value > 65535n) throw new Reject("invalid_tag");
  const tag = Number(t.value);
  const name = spec.tags[direction].get(tag);
  if (name === undefined) {
    // No key may repeat, "t" included, even when the tag is unknown.
    const keys = new Set(["t"]);
    for (const [k] of rest) {
      const key = keyText(k);
      if (keys.has(key)) throw new Reject("duplicate_field", "unknown message", key);
      keys.add(key);
    }
    return { tag, unknown: true };
  }
  const table = spec.fields.get(`${direction} ${name}`);
  if (!table) throw new Error(`PROTOCOL.md has no field table for ${direction} ${name}`);
  const form = readFields(spec, table, name, rest, true);
  return { tag, name, form };
}

function keyText(k) {
  if (k.kind !== "str" || k.text === null) throw new Reject("invalid_key");
  return k.text;
}

const ABSENT = Symbol("absent");

/**
 * Checks the entries of a frame or nested map against a field table and
 * returns the canonical JSON form of its fields (table order, no nils).
 */
function readFields(spec, table, within, entries, isFrame) {
  const seen = new Map();
  const unknown = new Set();
  for (const [k, v] of entries) {
    const key = keyText(k);
    if (isFrame && key === "t") throw new Reject("duplicate_field", within, "t");
    const field = table.find((f) => f.name === key);
    if (!field) {
      // Unknown fields are ignored, but no key may appear twice.
      if (unknown.has(key)) throw new Reject("duplicate_field", within, key);
      unknown.add(key);
      continue;
    }
    // Nil in an optional field means absent; elsewhere it is checked like any value.
    let value = v.kind === "nil" && field.required === "no" ? ABSENT : readValue(spec, field.type, v, within, key);
    // An optional channel "c" of 0 is the URL's resource, the same as absent.
    if (key === "c" && field.required === "no" && value === 0) value = ABSENT;
    if (seen.has(key)) throw new Reject("duplicate_field", within, key);
    seen.set(key, value);
  }
  const signalType = seen.get("type");
  const form = {};
  for (const f of table) {
    const value = seen.get(f.name);
    const required =
      f.required === "yes" ||
      (f.required.startsWith("when type is") && f.required.includes(`"${signalType}"`));
    if (required && !seen.has(f.name)) throw new Reject("missing_field", within, f.name);
    if (value === ABSENT || value === undefined) continue;
    if (Array.isArray(value) && value.length === 0 && within === "PresenceDiff") continue;
    form[f.name] = value;
  }
  return form;
}

/** Checks one value against a spec type and returns its JSON form. */
function readValue(spec, type, node, within, field) {
  const bad = () => new Reject("invalid_field", within, field);
  const list = type.match(/^\[(.+)\]$/);
  if (list) {
    if (node.kind !== "array") throw bad();
    return node.items.map((item) => readValue(spec, list[1], item, within, field));
  }
  if (type in UINT_MAX) {
    if (node.kind !== "int" || node.value < 0n || node.value > UINT_MAX[type]) throw bad();
    return intForm(node.value);
  }
  switch (type) {
    case "channel":
      // A joined resource's channel: 1 to 65535 (0 is the URL's resource).
      if (node.kind !== "int" || node.value < 1n || node.value > 65535n) throw bad();
      return intForm(node.value);
    case "bool":
      if (node.kind !== "bool") throw bad();
      return node.value;
    case "str":
      if (node.kind !== "str" || node.text === null) throw bad();
      return node.text;
    case "OpId":
      if (node.kind === "bin" && node.bytes.length === 16) return uuidText(node.bytes);
      if (node.kind === "str" && node.text !== null && UUID_TEXT.test(node.text)) return node.text.toLowerCase();
      throw bad();
    case "any":
      return nodeForm(node);
  }
  if (spec.enums.has(type)) {
    if (node.kind !== "str" || !spec.enums.get(type).has(node.text)) throw bad();
    return node.text;
  }
  const nested = spec.fields.get(`type ${type}`);
  if (nested) {
    if (node.kind !== "map") throw bad();
    return readFields(spec, nested, type, node.entries, false);
  }
  throw new Error(`the spec uses type ${type} without defining it`);
}

/** The canonical form of the library's decoded object, by the field tables. */
function libFields(spec, table, within, obj) {
  const form = {};
  for (const f of table) {
    if (!(f.name in obj) || (obj[f.name] === null && f.required === "no")) continue;
    if (f.name === "c" && f.required === "no" && Number(obj.c) === 0) continue;
    const value = libValue(spec, f.type, obj[f.name]);
    if (Array.isArray(value) && value.length === 0 && within === "PresenceDiff") continue;
    form[f.name] = value;
  }
  return form;
}

function libValue(spec, type, v) {
  const list = type.match(/^\[(.+)\]$/);
  if (list) return v.map((item) => libValue(spec, list[1], item));
  if (type === "OpId") return v instanceof Uint8Array ? uuidText(v) : String(v).toLowerCase();
  const nested = spec.fields.get(`type ${type}`);
  if (nested) return libFields(spec, nested, type, v);
  return libForm(v);
}

// ---------------------------------------------------------------------------
// Running the vectors

function loadVectors() {
  const dir = join(SPEC_DIR, "vectors");
  const files = readdirSync(dir).filter((f) => f.endsWith(".json")).sort();
  const out = [];
  for (const file of files) {
    const doc = JSON.parse(readFileSync(join(dir, file), "utf8"));
    for (const v of doc.vectors ?? []) out.push({ file, v });
  }
  return out;
}

function limitsOf(v) {
  return {
    maxFrameLen: v.limits?.max_frame_len ?? Infinity,
    maxDepth: DEFAULT_MAX_DEPTH,
  };
}

function checkPositive(spec, v, buf) {
  const direction = v.direction;
  const expected = v.expected;
  const own = readFrame(spec, direction, buf, limitsOf(v));
  const lib = decode(buf, { useBigInt64: true, mapKeyConverter });
  if (!isObj(lib)) throw new Error("@msgpack/msgpack did not decode a map");
  if (Object.keys(lib)[0] !== "t") throw new Error(`"t" is not the first key: ${Object.keys(lib)}`);
  const libTag = Number(lib.t);

  if ("unknown_tag" in expected) {
    if (!own.unknown) throw new Error(`tag ${own.tag} is ${own.name} in the spec's table`);
    if (own.tag !== expected.unknown_tag || libTag !== expected.unknown_tag) {
      throw new Error(`tag ${own.tag} / ${libTag}, expected unknown tag ${expected.unknown_tag}`);
    }
    return;
  }
  if (own.unknown) throw new Error(`tag ${own.tag} is not in the spec's ${direction} table`);
  if (own.tag !== expected.t || libTag !== expected.t) {
    throw new Error(`tag ${own.tag} / ${libTag}, expected ${expected.t}`);
  }
  if (own.name !== expected.name) throw new Error(`tag ${own.tag} is ${own.name} in the spec, vector says ${expected.name}`);

  const { t, name, ...want } = expected;
  if (!same(want, own.form, false)) {
    throw new Error(`own reader: fields differ\n  got  ${JSON.stringify(own.form)}\n  want ${JSON.stringify(want)}`);
  }
  const table = spec.fields.get(`${direction} ${own.name}`);
  const libGot = libFields(spec, table, own.name, lib);
  if (!same(want, libGot, true)) {
    throw new Error(`@msgpack/msgpack: fields differ\n  got  ${JSON.stringify(libGot)}\n  want ${JSON.stringify(want)}`);
  }
}

function checkRejected(spec, v, buf) {
  if (!spec.errorKinds.has(v.error)) throw new Error(`error kind ${v.error} is not in the spec's table`);
  try {
    const got = readFrame(spec, v.direction, buf, limitsOf(v));
    throw new Error(`accepted: ${JSON.stringify(got, (_, x) => (typeof x === "bigint" ? x.toString() : x))}`);
  } catch (e) {
    if (!(e instanceof Reject)) throw e;
    const want = `${v.error} ${v.in ?? "-"}.${v.field ?? "-"}`;
    const got = `${e.kind} ${e.within ?? "-"}.${e.field ?? "-"}`;
    if (want !== got) throw new Error(`rejected as ${got}, expected ${want}`);
  }
}

function main() {
  const spec = loadSpec();
  const vectors = loadVectors();
  const failures = [];
  const names = new Set();
  const covered = new Set();
  let vectorFailures = 0;
  for (const { file, v } of vectors) {
    const label = `${file}: ${v.name}`;
    try {
      if (names.has(v.name)) throw new Error("duplicate name");
      names.add(v.name);
      if (v.direction !== "server" && v.direction !== "client") throw new Error(`bad direction ${v.direction}`);
      const buf = new Uint8Array(Buffer.from(v.hex, "hex"));
      if (hex(buf) !== v.hex) throw new Error("hex is not lowercase hex");
      if ("expected" in v === "error" in v) throw new Error("needs exactly one of expected and error");
      if ("expected" in v) {
        checkPositive(spec, v, buf);
        if (!v.decode_only) covered.add(`${v.direction} ${v.expected.t}`);
      } else {
        checkRejected(spec, v, buf);
      }
    } catch (e) {
      vectorFailures += 1;
      failures.push(`${label}: ${e.message}`);
    }
  }
  if (vectors.length === 0) failures.push("spec/vectors holds no vectors");
  for (const direction of ["server", "client"]) {
    for (const [tag, name] of spec.tags[direction]) {
      if (!covered.has(`${direction} ${tag}`)) failures.push(`no exact vector for ${direction} ${tag} ${name}`);
    }
  }
  for (const f of failures) console.error(`FAIL ${f}`);
  const otherFailures = failures.length - vectorFailures;
  console.log(`vectors: ${vectors.length - vectorFailures} passed, ${vectorFailures + otherFailures} failed`);
  process.exitCode = failures.length === 0 ? 0 : 1;
}

main();
