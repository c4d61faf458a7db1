# Shared helpers for scripts/test.sh and scripts/demo.sh (sourced, not run).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST_TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n==> %s\n' "$*" >&2; }

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is required ($2)" >&2; exit 1; }
}

# Installs node_modules from package-lock.json when they differ (a cheap no-op otherwise).
# `npm install`, not `npm ci`: the registry mirror here does not list other platforms' optional
# packages (e.g. @napi-rs/cli's per-platform binaries), and npm ci refuses a lock without them.
ensure_node_modules() {
  local stamp="$ROOT/node_modules/.lunasec-lock.sha256"
  local want
  want="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    step "npm install (from package-lock.json)"
    (cd "$ROOT" && npm install --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
  fi
}

# Builds the native addon (release) next to the generated loader.
build_addon() {
  step "build the native addon (napi build --release)"
  (cd "$ROOT" && npx --no-install napi build --platform --release)
}

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}
