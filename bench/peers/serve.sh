#!/bin/sh
# Starts one Rust peer server of the fan-out benchmark (built by bench/fanout.sh):
#   serve.sh plain
#   serve.sh socketioxide common|msgpack
# It listens on 127.0.0.1 and takes its commands on stdin (see src/main.rs).
here=$(cd "$(dirname "$0")" && pwd)
exec "$here/../../target/release/fanout-peer" "$@"
