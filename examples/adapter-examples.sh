#!/usr/bin/env bash
# Builds the four adapter examples for the browser and reports their sizes.
#
#   examples/adapter-examples.sh build [leptos|yew|seed|js|all]   (default all)
#   examples/adapter-examples.sh sizes                            (builds all, then prints)
#
# Rust examples: cargo build --profile wasm-release (opt-level z, LTO, one
# codegen unit) for wasm32-unknown-unknown, then wasm-bindgen --target web
# into examples/<name>-todo/dist (name and producers sections removed). With
# PROFILE=dev the Rust examples are built unoptimised instead (quick; what
# the smoke test uses). The JavaScript example uses the npm package built by
# adapters/js/build.sh, copied to examples/js-todo/ui-flow-js.
# Serve one with: cargo run -p adapter-server -- 127.0.0.1:8080 --static examples/<name>-todo
set -euo pipefail
cd "$(dirname "$0")/.."

profile=${PROFILE:-wasm-release}
case $profile in
  dev) out=debug ;;
  *) out=$profile ;;
esac

build_rust() {
  local name=$1
  cargo build --locked --profile "$profile" --target wasm32-unknown-unknown -p "$name-todo"
  wasm-bindgen --target web --no-typescript --remove-name-section --remove-producers-section \
    --out-dir "examples/$name-todo/dist" \
    "target/wasm32-unknown-unknown/$out/${name}_todo.wasm"
}

build_js() {
  adapters/js/build.sh
  rm -rf examples/js-todo/ui-flow-js
  mkdir -p examples/js-todo/ui-flow-js
  cp -r adapters/js/package/dist adapters/js/package/index.js adapters/js/package/package.json examples/js-todo/ui-flow-js/
}

build() {
  case $1 in
    leptos | yew | seed) build_rust "$1" ;;
    js) build_js ;;
    all) for one in leptos yew seed js; do build "$one"; done ;;
    *) echo "unknown example: $1" >&2; exit 2 ;;
  esac
}

wasm_of() {
  case $1 in
    js) echo examples/js-todo/ui-flow-js/dist/ui_flow_js_bg.wasm ;;
    *) echo "examples/$1-todo/dist/${1}_todo_bg.wasm" ;;
  esac
}

case ${1:-build} in
  build) build "${2:-all}" ;;
  sizes)
    [ "$profile" = wasm-release ] || { echo "sizes are measured with the wasm-release profile" >&2; exit 2; }
    build all
    printf '| example | .wasm | gzip -9 |\n|---|---:|---:|\n'
    for one in leptos yew seed js; do
      file=$(wasm_of "$one")
      printf '| %s-todo | %s B | %s B |\n' "$one" "$(wc -c <"$file")" "$(gzip -9 -c "$file" | wc -c)"
    done
    ;;
  *) echo "usage: $0 build [leptos|yew|seed|js|all] | sizes" >&2; exit 2 ;;
esac
