// What the Node-driven browser tests of ui-flow-js share: the static
// server for the test page and the package, headless Chromium, and
// helpers evaluated inside the page.
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { readFile, realpath } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = fileURLToPath(new URL(".", import.meta.url));
/** The adapter-server a test starts itself (adapters/test.sh builds it). */
const SERVER_BIN = process.env.UI_FLOW_ADAPTER_SERVER_BIN ?? join(HERE, "../../../target/debug/adapter-server");
/** How long a server may take to print its address, or to die. */
const SERVER_WAIT_MS = 30_000;

/** Starts an examples/adapter-server of the test's own with `args` (its
 * address first); resolves with `{ child, addr, log }` (`addr` is its
 * `ws://HOST:PORT`) once it printed its banner, or rejects within 30 s.
 * Its stdin stays open (the server stops when stdin closes); stop it with
 * `killServer`. */
export function startServer(args) {
  const child = spawn(SERVER_BIN, args, { stdio: ["pipe", "pipe", "pipe"] });
  const log = [];
  child.stderr.on("data", (chunk) => {
    log.push(chunk.toString());
    if (log.length > 200) log.shift();
  });
  return new Promise((ok, fail) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      fail(new Error(`adapter-server printed no address within ${SERVER_WAIT_MS} ms:\n${log.join("")}`));
    }, SERVER_WAIT_MS);
    child.once("error", (e) => {
      clearTimeout(timer);
      fail(new Error(`cannot start ${SERVER_BIN} (build it with cargo build -p adapter-server): ${e.message}`));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`adapter-server exited (${code ?? signal}) before its banner:\n${log.join("")}`));
    });
    child.stdout.on("data", (chunk) => {
      out += chunk.toString();
      // "listening on ws://127.0.0.1:PORT/realtime/{resource_id}"
      const found = out.match(/listening on (ws:\/\/[^/\s]+)\/realtime\//);
      if (found) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        ok({ child, addr: found[1], log });
      }
    });
  });
}

/** Stops a server from `startServer` with `signal` (SIGKILL: a crash, no
 * goodbye to its clients; SIGTERM: it tells them to reconnect and stops)
 * and resolves once it is gone; nothing when it is gone already or was
 * never started. Rejects if it is still there after 30 s. */
export function killServer(server, signal = "SIGKILL") {
  const child = server?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`adapter-server survived ${signal}`)), SERVER_WAIT_MS);
    child.once("exit", () => {
      clearTimeout(timer);
      ok();
    });
    child.kill(signal);
  });
}

/** Serves the test page and the installed package, nothing else. */
export async function serveStatic() {
  const roots = {
    "/page/": join(HERE, "page"),
    "/ui-flow-js/": await realpath(join(HERE, "node_modules", "ui-flow-js")),
  };
  const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const prefix = Object.keys(roots).find((p) => path.startsWith(p));
    const file = prefix && normalize(join(roots[prefix], path.slice(prefix.length)));
    if (path.startsWith("/guarded/")) return res.writeHead(401).end();
    if (!file || !file.startsWith(roots[prefix])) return res.writeHead(404).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  // The page's own origin refuses upgrades the way an app's router does:
  // 401 under /guarded/ (its auth), 404 anywhere else; a plain GET of the
  // same URL gets the same status (the browser client's refusal probe).
  server.on("upgrade", (req, socket) => {
    const status = new URL(req.url, "http://x").pathname.startsWith("/guarded/") ? "401 Unauthorized" : "404 Not Found";
    socket.end(`HTTP/1.1 ${status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return server;
}

/** Debian's chromium, headless; `gc()` is exposed to pages, so a test can
 * see a function the package let go of being collected. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--js-flags=--expose-gc",
    ],
    timeout: 30_000,
  });
}

// In the page: a promise for the first state of `client` that `pred`
// accepts, now or from a later `onState` (routed through `box.check`).
export const UNTIL = `(client, box, pred) => new Promise((ok, fail) => {
  if (client.state !== undefined && pred(client.state)) return ok(client.state);
  const timer = setTimeout(() => fail(new Error("timed out at " + JSON.stringify(client.state,
    (k, v) => (typeof v === "bigint" ? String(v) : v)))), 10000);
  box.check = (state) => {
    if (pred(state)) {
      clearTimeout(timer);
      box.check = () => {};
      ok(state);
    }
  };
})`;

// In the page: `() => {track, released}`: `track(name, value)` registers
// a function for finalization and returns it, and `released(name)` resolves once
// it was collected (forcing collections meanwhile), or rejects after 10 s
// with the names still held. Needs `--js-flags=--expose-gc` (see `launch`).
export const RELEASED = `() => {
  const gone = new Set();
  const waiters = [];
  const registry = new FinalizationRegistry((name) => {
    gone.add(name);
    waiters.forEach((w) => w());
  });
  const track = (name, value) => {
    registry.register(value, name);
    return value;
  };
  const released = async (name) => {
    const deadline = Date.now() + 10000;
    while (!gone.has(name)) {
      if (Date.now() > deadline) throw new Error(name + " was not released within 10 s");
      globalThis.gc();
      // Finalizers run as a task after a collection: wait for one, or for
      // the next collection.
      await new Promise((ok) => {
        waiters.push(ok);
        setTimeout(ok, 20);
      });
      waiters.length = 0;
    }
    return true;
  };
  return { track, released };
}`;
