#!/bin/sh
# Runs ui-flow-client-tests/tests/browser.rs in headless Chromium against a
# real ui-flow-server (the flow-test-server binary), started here and
# stopped on exit. Run from anywhere; takes no arguments.
#
# Needs: the wasm32-unknown-unknown target, Debian's chromium and
# chromium-driver, and wasm-bindgen-cli at the version of wasm-bindgen in
# Cargo.lock (installed here when missing or different).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

version=$(sed -n '/^name = "wasm-bindgen"$/{n;s/^version = "\(.*\)"$/\1/p;}' Cargo.lock)
if ! wasm-bindgen-test-runner --version 2>/dev/null | grep -qx "wasm-bindgen-test-runner $version"; then
    cargo install wasm-bindgen-cli --version "$version" --locked
fi
if [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/bin/chromium ]; then
    apt-get install -y chromium chromium-driver
fi
rustup target list --installed | grep -qx wasm32-unknown-unknown ||
    rustup target add wasm32-unknown-unknown

cargo build -p ui-flow-client-tests --bin flow-test-server
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
    cargo test -p ui-flow-client-tests --target wasm32-unknown-unknown --test browser
