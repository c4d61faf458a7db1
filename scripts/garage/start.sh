#!/usr/bin/env bash
# Start a single-node Garage (S3 that verifies every SigV4 signature and implements SSE-C) on
# 127.0.0.1:PORT, with one key allowed to create buckets. Run install.sh first.
#
#   eval "$(scripts/garage/start.sh PORT)"
#
# Prints, on stdout, the export lines tests read:
#   GARAGE_ENDPOINT=http://127.0.0.1:PORT  GARAGE_REGION=garage
#   GARAGE_ACCESS_KEY_ID=GK…  GARAGE_SECRET_ACCESS_KEY=…   (a fresh key, valid for this instance only)
# Everything of the instance lives in RUN_DIR = ${GARAGE_RUN_ROOT:-/tmp/lunasec-garage-$UID}/PORT
# (config, metadata, data, garage.pid, garage.log); stop.sh PORT stops it and removes RUN_DIR.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$SCRIPT_DIR/../lib.sh"
PORT="${1:?usage: $0 PORT}"
[[ "$PORT" =~ ^[0-9]+$ ]] || { echo "usage: $0 PORT" >&2; exit 2; }
BIN="${LUNASEC_CACHE_DIR:-$HOME/.cache/lunasec-rs}/garage/bin/garage"
RUN_ROOT="${GARAGE_RUN_ROOT:-/tmp/lunasec-garage-$(id -u)}"
RUN_DIR="$RUN_ROOT/$PORT"
CFG="$RUN_DIR/garage.toml"
LOG="$RUN_DIR/garage.log"

log() { printf 'garage-start[%s]: %s\n' "$PORT" "$*" >&2; }
fail() {
  log "ERROR: $*"
  [ -f "$LOG" ] && tail -n 30 "$LOG" >&2
  bash "$SCRIPT_DIR/stop.sh" "$PORT" >/dev/null 2>&1 || true
  exit 1
}
[ -x "$BIN" ] || { log "ERROR: $BIN missing: run scripts/garage/install.sh first"; exit 1; }

bash "$SCRIPT_DIR/stop.sh" "$PORT" >/dev/null 2>&1 || true
mkdir -p "$RUN_DIR/meta" "$RUN_DIR/data"
chmod 700 "$RUN_ROOT" "$RUN_DIR" 2>/dev/null || true
RPC_PORT="$(free_port)"
cat >"$CFG" <<CFG
metadata_dir = "$RUN_DIR/meta"
data_dir = "$RUN_DIR/data"
db_engine = "lmdb"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$PORT"
root_domain = ".s3.garage.localhost"
CFG
chmod 600 "$CFG"

setsid bash -c 'echo $$ >"$0"; exec "$1" -c "$2" server' "$RUN_DIR/garage.pid" "$BIN" "$CFG" \
  </dev/null >"$LOG" 2>&1 &
g() { "$BIN" -c "$CFG" "$@" 2>>"$LOG"; }

NODE=""
for _ in $(seq 1 100); do
  NODE="$(g status 2>/dev/null | grep -oE '^[0-9a-f]{16}' | head -n 1)" && [ -n "$NODE" ] && break
  sleep 0.1
done
[ -n "$NODE" ] || fail "Garage did not come up"
g layout assign -z dc1 -c 1G "$NODE" >/dev/null || fail "layout assign"
g layout apply --version 1 >/dev/null || fail "layout apply"
KEY_OUT="$(g key create lunasec-test)" || fail "key create"
KEY_ID="$(printf '%s\n' "$KEY_OUT" | awk '/Key ID:/ {print $3}')"
SECRET="$(printf '%s\n' "$KEY_OUT" | awk '/Secret key:/ {print $3}')"
[ -n "$KEY_ID" ] && [ -n "$SECRET" ] || fail "could not read the new key from 'garage key create'"
g key allow --create-bucket lunasec-test >/dev/null || fail "key allow"
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done
log "up on http://127.0.0.1:$PORT (log $LOG)"
printf 'export GARAGE_ENDPOINT=http://127.0.0.1:%s GARAGE_REGION=garage GARAGE_ACCESS_KEY_ID=%s GARAGE_SECRET_ACCESS_KEY=%s\n' \
  "$PORT" "$KEY_ID" "$SECRET"
