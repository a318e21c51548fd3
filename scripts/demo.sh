#!/usr/bin/env bash
# Builds and starts the ui-flow demo (a shared hex world) on this machine.
#
#   ./scripts/demo.sh [--addr HOST:PORT] [--memory | --cluster N] [--build-only]
#   ./scripts/demo.sh bevy [--addr HOST:PORT] [--build-only]
#
# Installs what is missing first (the wasm32 target, wasm-bindgen-cli at the
# Cargo.lock version), builds the Leptos frontend and the JavaScript shim to
# WebAssembly, assembles the static site in target/demo/site, then starts
# demo-server on 127.0.0.1:8080 (or --addr) with its worlds kept on disk in
# target/demo/data (a restart continues them; --memory keeps them in memory
# only) and prints the URL to open. --build-only stops after building (the
# end-to-end test uses it). Ctrl-C stops the server.
#
# --cluster N (N from 2 to 16) runs the demo as a cluster instead: it
# installs Debian's nats-server when missing, starts it with JetStream in a
# temporary folder on a free loopback port, and starts N demo-server nodes
# on it (--nats) on consecutive ports from --addr (8080, 8081, ...). Every
# node serves the same worlds and presence: open one tab per node. The
# worlds live in that temporary NATS store only. Ctrl-C, or any node or
# nats-server exiting, stops them all and removes the folder.
#
# bevy starts the Bevy world example instead (examples/bevy-world): a
# headless Bevy simulation of 300 moving entities at 60 Hz, synced at 20 Hz,
# and its Leptos page with an entity inspector (click a dot; rename it). It
# builds the page (wasm32, debug, no wasm-opt) into target/bevy-world/site
# and bevy-world-server, then starts the server: the page on --addr
# (default 127.0.0.1:8080), the world's WebSocket on port 9100 of the same
# host. --build-only stops after building (the end-to-end test uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure.sh

addr="127.0.0.1:8080"
build_only=""
example=demo
if [ "${1:-}" = bevy ]; then
  example=bevy
  shift
fi
cluster=""
storage=(--data target/demo/data)
while [ $# -gt 0 ]; do
  case $1 in
    --addr) addr=${2:?--addr needs HOST:PORT}; shift 2 ;;
    --addr=*) addr=${1#--addr=}; shift ;;
    --build-only) build_only=1; shift ;;
    --memory) storage=(--memory); shift ;;
    --cluster) cluster=${2:?--cluster needs a number of nodes}; shift 2 ;;
    --cluster=*) cluster=${1#--cluster=}; shift ;;
    -h | --help) sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
done

if [ "$example" = bevy ] && { [ -n "$cluster" ] || [ "${storage[0]}" = --memory ]; }; then
  echo "bevy takes only --addr and --build-only" >&2
  exit 2
fi

if [ -n "$cluster" ]; then
  if ! [[ $cluster =~ ^[0-9]+$ ]] || [ "$cluster" -lt 2 ] || [ "$cluster" -gt 16 ]; then
    echo "--cluster needs a number of nodes from 2 to 16, not '$cluster'" >&2
    exit 2
  fi
  if [ "${storage[0]}" = --memory ]; then
    echo "--cluster keeps the worlds in NATS; it does not go with --memory" >&2
    exit 2
  fi
  if ! [[ ${addr##*:} =~ ^[0-9]+$ ]] || [ $((${addr##*:} + cluster - 1)) -gt 65535 ]; then
    echo "--cluster needs --addr HOST:PORT with room for $cluster consecutive ports" >&2
    exit 2
  fi
fi

ensure_wasm_target
ensure_wasm_bindgen_cli

# ----- bevy: the Bevy world and its page ------------------------------------

if [ "$example" = bevy ]; then
  site=target/bevy-world/site
  log "building the Bevy world's page (wasm32, debug)"
  cargo build --target wasm32-unknown-unknown -p bevy-world-web
  log "assembling the page in $site"
  rm -rf "$site"
  mkdir -p "$site"
  cp examples/bevy-world/web/static/* "$site/"
  wasm-bindgen --target web --no-typescript --out-dir "$site/pkg" \
    target/wasm32-unknown-unknown/debug/bevy_world_web.wasm
  log "building the server"
  cargo build -p bevy-world --bin bevy-world-server
  if [ -n "$build_only" ]; then
    log "built: target/debug/bevy-world-server --site $site"
    exit 0
  fi
  log "starting the Bevy world: open the page it prints (Ctrl-C stops it)"
  exec target/debug/bevy-world-server --site "$site" --site-addr "$addr" \
    --addr "${addr%:*}:9100" --sync-every 3
fi

# ----- the demo --------------------------------------------------------------

site=target/demo/site
wasm_dir=target/wasm32-unknown-unknown/release

log "building the Leptos frontend and the JavaScript shim (wasm32, release)"
cargo build --release --target wasm32-unknown-unknown -p demo-web -p ui-flow-js

log "assembling the site in $site"
rm -rf "$site"
mkdir -p "$site"
cp examples/demo/web/static/* "$site/"
wasm-bindgen --target web --no-typescript --out-dir "$site/pkg" "$wasm_dir/demo_web.wasm"
mkdir -p "$site/plain"
cp examples/demo/js/* "$site/plain/"
# The npm package's layout: its entry (index.js, which declares FlowClient)
# over the generated module in dist/.
wasm-bindgen --target web --no-typescript --out-dir "$site/plain/pkg/dist" "$wasm_dir/ui_flow_js.wasm"
cp adapters/js/package/index.js "$site/plain/pkg/"

log "building the server"
cargo build -p demo-server

if [ -n "$build_only" ]; then
  log "built: target/debug/demo-server --site $site"
  exit 0
fi

if [ -z "$cluster" ]; then
  log "starting the demo on http://$addr/ (Ctrl-C stops it)"
  exec target/debug/demo-server --addr "$addr" --site "$site" "${storage[@]}"
fi

# ----- --cluster N: nats-server and N nodes, stopped together ---------------

ensure_nats_server

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ui-flow-demo-cluster.XXXXXX")
children=()
stop_all() {
  trap - EXIT INT TERM
  if [ ${#children[@]} -gt 0 ]; then
    kill -TERM "${children[@]}" 2>/dev/null || true
    wait "${children[@]}" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# Waits (at most 30 s) until FILE has a line matching PATTERN while PID runs.
wait_for_line() {
  local file=$1 pattern=$2 pid=$3 what=$4
  for _ in $(seq 300); do
    if grep -q "$pattern" "$file" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$what exited before it was ready" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "$what was not ready within 30 s" >&2
  return 1
}

log "starting nats-server with JetStream in $tmp"
nats-server --jetstream --addr 127.0.0.1 --port -1 --store_dir "$tmp/jetstream" \
  --ports_file_dir "$tmp" --log "$tmp/nats-server.log" &
nats_pid=$!
children+=("$nats_pid")
ports_file="$tmp/nats-server_$nats_pid.ports"
if ! wait_for_line "$ports_file" 'nats://' "$nats_pid" nats-server; then
  cat "$tmp/nats-server.log" >&2
  exit 1
fi
nats_url=$(grep -o 'nats://[^"]*' "$ports_file" | head -n 1)

host=${addr%:*}
first_port=${addr##*:}
nodes=()
for ((i = 0; i < cluster; i++)); do
  node_addr="$host:$((first_port + i))"
  target/debug/demo-server --addr "$node_addr" --site "$site" --nats "$nats_url" \
    >"$tmp/node-$i.out" &
  children+=("$!")
  wait_for_line "$tmp/node-$i.out" '^listening on' "$!" "the node on $node_addr"
  nodes+=("$(sed -n 's/^listening on //p' "$tmp/node-$i.out")")
done

log "the demo as a cluster of $cluster nodes on NATS at $nats_url"
for ((i = 0; i < cluster; i++)); do
  echo "  node $((i + 1)): ${nodes[$i]}   (plain JavaScript client: ${nodes[$i]}plain/)"
done
echo
echo "  Open one tab per node: the same worlds, players and presence on every node."
echo "  Ctrl-C stops every node and nats-server; the worlds go with it."

# Any node (or nats-server) exiting ends the cluster.
wait -n "${children[@]}" || true
echo "stopping the cluster (Ctrl-C, or a node or nats-server exited)" >&2
