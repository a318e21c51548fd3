#!/usr/bin/env bash
# Browser tests of the four ui-flow adapters, each in headless Chromium
# against one real examples/adapter-server:
#   - ui-flow-leptos, ui-flow-yew, ui-flow-seed: wasm-bindgen-test through
#     wasm-bindgen-test-runner and chromedriver;
#   - ui-flow-js: the built npm package loaded in a page that a Node test
#     (node --test, playwright-core) drives;
#   - the four examples (examples/*-todo, unoptimised builds): a smoke test
#     per example page, served by the same server (--static examples).
#
# Usage: adapters/test.sh [rust|js]   (default: both)
#
# Installs what is missing through scripts/lib/ensure.sh (wasm32 target,
# wasm-bindgen-cli at the Cargo.lock version, chromium + chromium-driver,
# node packages). Starts the server on a free loopback port and stops it on
# exit, whatever happens. Every wait in the tests is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure.sh

which=${1:-all}

ensure_wasm_target
ensure_wasm_bindgen_cli
ensure_chromium

log "building examples/adapter-server"
cargo build --locked -p adapter-server

# The server reads stdin and shuts down when it closes: keep its stdin in
# this shell, close it on exit, and kill it only if it outlives that.
coproc SERVER { exec ./target/debug/adapter-server 127.0.0.1:0 --static examples; }
server_pid=$SERVER_PID
server_in=${SERVER[1]}
stop_server() {
  exec {server_in}>&- 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$server_pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill "$server_pid" 2>/dev/null || true
}
trap stop_server EXIT

if ! read -r -t 30 banner <&"${SERVER[0]}"; then
  echo "adapter-server did not report its address within 30 s" >&2
  exit 1
fi
# "listening on ws://127.0.0.1:PORT/realtime/{resource_id}"
addr=${banner#listening on }
addr=${addr%%/realtime/*}
export UI_FLOW_ADAPTER_SERVER=$addr
log "adapter-server at $UI_FLOW_ADAPTER_SERVER"

if [ "$which" = all ] || [ "$which" = rust ]; then
  log "Rust adapters in headless Chromium"
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver} \
  WASM_BINDGEN_TEST_WEBDRIVER_JSON=$PWD/adapters/webdriver.json \
  WASM_BINDGEN_TEST_TIMEOUT=${WASM_BINDGEN_TEST_TIMEOUT:-90} \
    cargo test --locked --target wasm32-unknown-unknown \
      -p ui-flow-leptos -p ui-flow-yew -p ui-flow-seed
fi

if [ "$which" = all ] || [ "$which" = js ]; then
  log "JavaScript shim and the examples in headless Chromium"
  # Builds the npm package (adapters/js/build.sh) and the examples.
  PROFILE=dev examples/adapter-examples.sh build all
  ensure_node_packages adapters/js/tests
  (cd adapters/js/tests && node --test --test-timeout=120000)
fi
