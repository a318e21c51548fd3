#!/usr/bin/env bash
# Runs every test ui-flow has, installing what is missing first (the wasm32
# target, wasm-bindgen-cli at the Cargo.lock version, Debian's chromium,
# chromium-driver and nats-server, node packages). Safe to run again:
# installs are skipped when present. Stops at the first failing step.
#
#   ./scripts/test.sh            everything (what CI runs)
#   ./scripts/test.sh native     only the steps that need no browser
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure.sh

scope=${1:-all}
passed=0
# Steps at the top level always run; the indented ones need a browser.
total=$(grep -c '^step ' "$0")
if [ "$scope" != native ]; then
  total=$((total + $(grep -c '^  step ' "$0")))
fi
step() {
  local name=$1
  shift
  log "step $((passed + 1)) of $total: $name"
  local start=$SECONDS
  "$@"
  passed=$((passed + 1))
  printf -- '--- %s: ok (%ss; %ss in all)\n' "$name" $((SECONDS - start)) "$SECONDS"
}

# Crates whose code exists only on wasm32 (empty elsewhere), linted there.
wasm_crates=(
  -p ui-flow-client-tests -p ui-flow-leptos -p ui-flow-yew -p ui-flow-seed -p ui-flow-js
  -p ui-flow-adapter-test-support -p leptos-todo -p yew-todo -p seed-todo -p demo-web
  -p bevy-world-web
)

ensure_wasm_target
ensure_node_packages spec/js
ensure_nats_server

step "format" cargo fmt --all -- --check
step "spec vectors under Node (@msgpack/msgpack)" node spec/js/check.mjs
step "clippy (native)" cargo clippy --locked --workspace --all-targets --features ui-flow-server/jwt,ui-flow-server/nats -- -D warnings
step "tests (native: units, vectors, fuzz-lite, property, WebSocket end-to-end)" \
  cargo test --locked --workspace --features ui-flow-server/jwt,ui-flow-server/nats
# The core's library with its browser driver (its tests and benches use
# native-only dev-dependencies), then everything of the wasm-only crates.
step "clippy (wasm32, ui-flow with the browser driver)" cargo clippy --locked \
  --target wasm32-unknown-unknown -p ui-flow --features browser -- -D warnings
step "clippy (wasm32, adapters, examples, browser tests)" cargo clippy --locked \
  --target wasm32-unknown-unknown --all-targets "${wasm_crates[@]}" -- -D warnings
step "clippy (wasm32, the Bevy world's wire types and their Leptos views)" cargo clippy --locked \
  --target wasm32-unknown-unknown -p ui-flow-leptos --features ui-flow-leptos/bevy -- -D warnings

if [ "$scope" != native ]; then
  ensure_wasm_bindgen_cli
  ensure_chromium
  step "browser driver in headless Chromium" ui-flow-client-tests/browser-tests.sh
  step "adapters in headless Chromium (Leptos, Yew, Seed, JS shim, examples)" adapters/test.sh
  ensure_node_packages examples/demo/e2e
  step "demo build" ./scripts/demo.sh --build-only
  step "demo end-to-end (two Chromium pages, WebRTC, server restart)" \
    bash -c 'cd examples/demo/e2e && node --test --test-concurrency=1'
  ensure_node_packages examples/bevy-world/e2e
  # Debug wasm, no wasm-opt: it reuses the adapters' debug wasm32 build.
  step "Bevy world: page build, then end-to-end in Chromium (moves, inspector, rename)" \
    bash -c './scripts/demo.sh bevy --build-only && cd examples/bevy-world/e2e && node --test --test-concurrency=1'
fi

printf '\nall %d steps passed in %dm%02ds\n' "$passed" $((SECONDS / 60)) $((SECONDS % 60))
printf 'steps: %d passed, 0 failed\n' "$passed"
