#!/usr/bin/env bash
# Builds and starts the ui-flow demo (a shared hex world) on this machine.
#
#   ./scripts/demo.sh [--addr HOST:PORT] [--memory] [--build-only]
#
# Installs what is missing first (the wasm32 target, wasm-bindgen-cli at the
# Cargo.lock version), builds the Leptos frontend and the JavaScript shim to
# WebAssembly, assembles the static site in target/demo/site, then starts
# demo-server on 127.0.0.1:8080 (or --addr) with its worlds kept on disk in
# target/demo/data (a restart continues them; --memory keeps them in memory
# only) and prints the URL to open. --build-only stops after building (the
# end-to-end test uses it). Ctrl-C stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure.sh

addr="127.0.0.1:8080"
build_only=""
storage=(--data target/demo/data)
while [ $# -gt 0 ]; do
  case $1 in
    --addr) addr=${2:?--addr needs HOST:PORT}; shift 2 ;;
    --addr=*) addr=${1#--addr=}; shift ;;
    --build-only) build_only=1; shift ;;
    --memory) storage=(--memory); shift ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
done

site=target/demo/site
wasm_dir=target/wasm32-unknown-unknown/release

ensure_wasm_target
ensure_wasm_bindgen_cli

log "building the Leptos frontend and the JavaScript shim (wasm32, release)"
cargo build --release --target wasm32-unknown-unknown -p demo-web -p ui-flow-js

log "assembling the site in $site"
rm -rf "$site"
mkdir -p "$site"
cp examples/demo/web/static/* "$site/"
wasm-bindgen --target web --no-typescript --out-dir "$site/pkg" "$wasm_dir/demo_web.wasm"
mkdir -p "$site/plain"
cp examples/demo/js/* "$site/plain/"
wasm-bindgen --target web --no-typescript --out-dir "$site/plain/pkg" "$wasm_dir/ui_flow_js.wasm"

log "building the server"
cargo build -p demo-server

if [ -n "$build_only" ]; then
  log "built: target/debug/demo-server --site $site"
  exit 0
fi

log "starting the demo on http://$addr/ (Ctrl-C stops it)"
exec target/debug/demo-server --addr "$addr" --site "$site" "${storage[@]}"
