#!/usr/bin/env bash
# The demo, from a fresh clone: builds the addon and starts the example Express app (port 3001)
# using the SDK. Ctrl-C stops everything. Usage: npm run demo  (or bash scripts/demo.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
need node "Node.js 18+"
need cargo "the Rust toolchain"

ensure_node_modules
build_addon

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

step "example app on http://localhost:${APP_PORT:-3001}"
node examples/express-app/server.js &
pids+=($!)
wait -n "${pids[@]}"
