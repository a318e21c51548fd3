#!/usr/bin/env bash
# Runs ui-flow-client-tests/tests/browser.rs in headless Chromium against a
# real ui-flow-server (the flow-test-server binary), started here and
# stopped on exit. Run from anywhere; takes no arguments.
#
# Installs what is missing through scripts/lib/ensure.sh: the
# wasm32-unknown-unknown target, Debian's chromium and chromium-driver, and
# wasm-bindgen-cli at the version of wasm-bindgen in Cargo.lock.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/lib/ensure.sh
ensure_wasm_target
ensure_wasm_bindgen_cli
ensure_chromium

cargo build --locked -p ui-flow-client-tests --bin flow-test-server
work=$(mktemp -d)
mkfifo "$work/url"
"$root/target/debug/flow-test-server" --max-seconds 900 >"$work/url" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM
read -r url <"$work/url" # the server's first line, once it listens
echo "flow-test-server at $url"

# wasm-bindgen-test-runner reads webdriver.json (headless, no sandbox for
# root in containers) from the package directory, where cargo runs tests.
UI_FLOW_TEST_URL="$url" \
CHROMEDRIVER=/usr/bin/chromedriver \
WASM_BINDGEN_TEST_TIMEOUT=180 \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test --locked -p ui-flow-client-tests --target wasm32-unknown-unknown --test browser
