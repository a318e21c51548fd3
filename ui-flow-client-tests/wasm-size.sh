#!/bin/sh
# Builds the minimal browser client (examples/minimal_browser_client.rs) the
# way a size-conscious app would ship it, and prints the sizes that
# BENCHMARKS.md ("Client wasm size") reports. Needs the wasm32-unknown-unknown
# target and wasm-bindgen-cli at the version of wasm-bindgen in Cargo.lock.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release -p ui-flow-client-tests --example minimal_browser_client \
    --target wasm32-unknown-unknown \
    --config 'profile.release.opt-level="z"' \
    --config 'profile.release.lto=true' \
    --config 'profile.release.codegen-units=1'
out=target/wasm-size
wasm-bindgen --target web --remove-name-section --remove-producers-section \
    --out-dir "$out" \
    target/wasm32-unknown-unknown/release/examples/minimal_browser_client.wasm
for file in "$out/minimal_browser_client_bg.wasm" "$out/minimal_browser_client.js"; do
    printf '%s: %s bytes, %s bytes gzip -9\n' "$file" \
        "$(wc -c <"$file")" "$(gzip -9 -c "$file" | wc -c)"
done
