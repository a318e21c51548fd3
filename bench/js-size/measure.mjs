// Bundles each JavaScript real-time client the way an app would ship it
// (esbuild, browser platform, ES module, minified, everything the client
// imports included) and prints its size raw and gzip -9, as BENCHMARKS.md
// ("Client wasm size") reports them next to ui-flow's wasm. Not run in CI.
//
//   cd bench/js-size && npm ci && node measure.mjs
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// What each entry keeps alive: the client class an app constructs.
const peers = [
  ["socket.io-client", 'import { io } from "socket.io-client"; globalThis.client = io;'],
  ["centrifuge", 'import { Centrifuge } from "centrifuge"; globalThis.client = Centrifuge;'],
  ["phoenix", 'import { Socket } from "phoenix"; globalThis.client = Socket;'],
];

const dir = mkdtempSync(join(tmpdir(), "js-size-"));
const version = (name) =>
  JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url))).version;

console.log("| client | version | bundle raw | bundle gzip -9 |");
console.log("|---|---|---:|---:|");
for (const [name, entry] of peers) {
  const outfile = join(dir, `${name}.js`);
  await build({
    stdin: { contents: entry, resolveDir: new URL(".", import.meta.url).pathname },
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    target: "es2020",
    outfile,
    logLevel: "error",
  });
  const raw = readFileSync(outfile).length;
  const gz = execFileSync("gzip", ["-9", "-c", outfile]).length;
  console.log(`| ${name} | ${version(name)} | ${raw} B | ${gz} B |`);
}
