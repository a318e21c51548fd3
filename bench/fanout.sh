#!/bin/sh
# The fan-out benchmark with all its peers, side by side in one run:
# ui-flow-server, socketioxide (common and msgpack parsers), Socket.IO 4 on
# Node and a plain tokio-tungstenite loop. Loopback only; every phase is
# bounded (120 s). Arguments go to the orchestrator, e.g.
#   bench/fanout.sh --n 1000,5000 --rate 50 --count 200
# Needs cargo, node and npm (for the pinned socket.io in bench/socketio-node).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release -p ui-flow-server --example fanout
(cd bench/peers && cargo build --release)
(cd bench/socketio-node && npm ci --no-audit --no-fund --silent)
ulimit -n 20000 2>/dev/null || true
exec nice -n 10 ./target/release/examples/fanout "$@"
