# Installs the tools the tests need, each only when it is missing.
# Sourced by scripts/test.sh and scripts/demo.sh; every function is idempotent.

log() { printf '\n==> %s\n' "$*"; }

# The version of a package as pinned in Cargo.lock.
locked_version() {
  awk -v pkg="$1" '$0 == "name = \"" pkg "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

ensure_wasm_target() {
  if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    log "installing the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_wasm_bindgen_cli() {
  local want have
  want=$(locked_version wasm-bindgen)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ "$have" != "$want" ]; then
    log "installing wasm-bindgen-cli $want (found: ${have:-none})"
    # --locked first; the registry mirror may lack a locked transitive
    # version, in which case cargo resolves compatible ones instead.
    cargo install wasm-bindgen-cli --version "$want" --locked ||
      cargo install wasm-bindgen-cli --version "$want"
  fi
}

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    log "installing Debian's chromium and chromium-driver"
    apt_install chromium chromium-driver
  fi
}

# The cluster tests start their own nats-server (JetStream, loopback port,
# temporary store): Debian's package provides the binary.
ensure_nats_server() {
  if ! command -v nats-server >/dev/null 2>&1; then
    log "installing Debian's nats-server"
    apt_install nats-server
  fi
}

# npm ci in a folder when its node_modules is missing or older than its lock file.
ensure_node_packages() {
  local dir=$1
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    log "installing node packages in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$dir/node_modules"
  fi
}
