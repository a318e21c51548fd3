#!/usr/bin/env bash
# Builds the npm package in adapters/js/package: ui-flow-js for
# wasm32-unknown-unknown (profile wasm-release: opt-level z, LTO), then
# wasm-bindgen --target web into package/dist. The package's typings are the
# hand-written package/index.d.ts, so wasm-bindgen's own are not emitted,
# and the doc comments it copies into the glue are dropped.
#
# Afterwards `npm install adapters/js/package` installs it, and
# `import init, { FlowClient } from "ui-flow-js"` loads it as an ES module.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --locked --profile wasm-release --target wasm32-unknown-unknown -p ui-flow-js
wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
  --out-dir adapters/js/package/dist \
  target/wasm32-unknown-unknown/wasm-release/ui_flow_js.wasm
# wasm-bindgen copies the Rust doc comments of the exported items into the
# glue as JSDoc blocks (written for Rust readers, about a quarter of the
# glue gzipped). The package documents its API in index.d.ts, so the blocks
# are dropped; the code is left as generated.
perl -0pi -e 's{^[ \t]*/\*\*.*?\*/[ \t]*\n}{}gms' adapters/js/package/dist/ui_flow_js.js
