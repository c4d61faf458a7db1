#!/usr/bin/env bash
# Load test of the Dedicated Tokenizer on loopback: grant verifications and detokenize requests per
# second, p50/p99 latency (wrk), and the tokenizer's peak RSS, for the embedded backends and for
# LocalStack (DynamoDB records + S3 ciphertext).
#
#   bench/tokenizer/run.sh [embedded|localstack|all]      (default: all)
#
# Environment:
#   DURATION=20s CONNECTIONS=32 THREADS=1 TOKENS=100   wrk settings and number of prepared tokens
#   LOCALSTACK_ENDPOINT=http://127.0.0.1:4566          use a running LocalStack; otherwise this script
#                                                      starts one with scripts/localstack/ on
#   LOCALSTACK_PORT=4598                               (and stops it at the end)
#
# Needs wrk (Debian package `wrk`; installed with apt-get when missing and running as root).
# Results: a Markdown table on stdout, raw wrk output in bench/results/tokenizer/.
# Target (issue 4): >= 20,000 grant verifications/s with p99 < 5 ms on 2 cores, embedded store.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
MODE="${1:-all}"
DURATION="${DURATION:-20s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-1}"
TOKENS="${TOKENS:-100}"
OUT="$ROOT/bench/results/tokenizer"
mkdir -p "$OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/lunasec-bench.XXXXXX")"
STARTED_LS=""
PID=""

log() { printf 'bench: %s\n' "$*" >&2; }

cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  if [ -n "$STARTED_LS" ]; then "$ROOT/scripts/localstack/stop.sh" "$STARTED_LS" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    log "installing wrk (apt-get)"
    (apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1; })
  fi
  command -v wrk >/dev/null || { log "wrk is required (apt-get install wrk)"; exit 1; }
fi

log "building (release)"
# --target: the same artifacts as the test command and the addon build (no second cold build).
HOST_TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
cargo build --release -q --target "$HOST_TRIPLE" -p lunasec-tokenizer --bin lunasec-tokenizer --example bench_client
BIN="$TARGET_DIR/$HOST_TRIPLE/release/lunasec-tokenizer"
CLIENT="$TARGET_DIR/$HOST_TRIPLE/release/examples/bench_client"
PUBLIC_KEY="$(cat "$ROOT/crates/lunasec-core/testdata/rsa2048-public.pem")"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# run_wrk NAME PATH JWT_VAR BASE → prints "rps p50 p99 non2xx"
run_wrk() {
  local name="$1" path="$2" jwt_var="$3" base="$4" file="$OUT/$1.txt"
  BENCH_PATH="$path" BENCH_JWT_VAR="$jwt_var" wrk -t"$THREADS" -c"$CONNECTIONS" -d3s -s "$ROOT/bench/tokenizer/tokenizer.lua" "$base" >/dev/null
  BENCH_PATH="$path" BENCH_JWT_VAR="$jwt_var" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
    -s "$ROOT/bench/tokenizer/tokenizer.lua" "$base" >"$file"
  local rps p50 p99 bad
  rps="$(awk '/^Requests\/sec:/ {print $2}' "$file")"
  p50="$(awk '$1=="50%" {print $2}' "$file")"
  p99="$(awk '$1=="99%" {print $2}' "$file")"
  bad="$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$file")"
  echo "$rps $p50 $p99 ${bad:-0}"
}

RESULTS=()
FLOOD_NOTE=""

bench_mode() {
  local mode="$1" port base data
  port="$(free_port)"
  base="http://127.0.0.1:$port"
  data="$WORK/data-$mode"
  local -a env=(TOKENIZER_DATA_DIR="$data" SESSION_PUBLIC_KEY="$PUBLIC_KEY" TOKENIZER_LOG=warn
                AUTH_PROVIDERS='{"app":{"url":"http://localhost:3001","default":true}}')
  if [ "$mode" = localstack ]; then
    local name="lunasec-bench-$$"
    env+=(STORAGE_BACKEND=dynamodb DYNAMODB_TABLE="$name" DYNAMODB_CREATE_TABLE=true
          CIPHERTEXT_BACKEND=s3 CIPHERTEXT_VAULT_S3_BUCKET="$name" S3_CREATE_BUCKET=true
          LOCALSTACK_URL="$LOCALSTACK_ENDPOINT")
  fi
  env "${env[@]}" "$BIN" --dev --http-addr "127.0.0.1:$port" 2>"$OUT/$mode-server.log" &
  PID=$!
  for _ in $(seq 1 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done
  # The bucket and table are checked/created in the background: retry the preparation briefly.
  local ok=""
  for _ in $(seq 1 30); do
    if "$CLIENT" "$base" "$TOKENS" "$WORK/bench.env" 2>>"$OUT/$mode-client.log"; then ok=1; break; fi
    sleep 1
  done
  [ -n "$ok" ] || { log "$mode: could not prepare tokens (see $OUT/$mode-client.log)"; exit 1; }
  set -a; . "$WORK/bench.env"; set +a
  log "$mode: grant/verify"
  read -r g_rps g_p50 g_p99 g_bad < <(run_wrk "$mode-grant-verify" /grant/verify BENCH_APP_JWT "$base")
  if [ "$mode" = embedded ]; then
    # Issue 12 item 1: grant/verify again while anonymous /session/ensure requests flood in
    # (a second wrk on the same cores), and the record store's size before and after.
    local size_before size_after
    size_before="$(stat -c %s "$data/store.redb")"
    log "$mode: grant/verify during a /session/ensure flood"
    wrk -t1 -c16 -d"$DURATION" -s "$ROOT/bench/tokenizer/ensure.lua" "$base" >"$OUT/$mode-ensure-flood.txt" &
    local flood=$!
    read -r f_rps f_p50 f_p99 f_bad < <(run_wrk "$mode-grant-verify-flooded" /grant/verify BENCH_APP_JWT "$base")
    wait "$flood"
    local ensured ensure_bad
    ensured="$(awk '/requests in/ {print $1}' "$OUT/$mode-ensure-flood.txt")"
    ensure_bad="$(awk '/Non-2xx or 3xx responses:/ {print $5}' "$OUT/$mode-ensure-flood.txt")"
    size_after="$(stat -c %s "$data/store.redb")"
    FLOOD_NOTE="During the flood: $ensured anonymous /session/ensure requests (${ensure_bad:-0} answered >= 400) in $DURATION; store.redb $size_before → $size_after bytes."
  fi
  log "$mode: detokenize"
  read -r d_rps d_p50 d_p99 d_bad < <(run_wrk "$mode-detokenize" /detokenize BENCH_USER_JWT "$base")
  local rss
  rss="$(awk '/^VmHWM:/ {printf "%.0f MiB", $2/1024}' "/proc/$PID/status")"
  kill -TERM "$PID"; wait "$PID" || true; PID=""
  RESULTS+=("| $mode | grant/verify | $g_rps | $g_p50 | $g_p99 | $g_bad | $rss |")
  RESULTS+=("| $mode | detokenize | $d_rps | $d_p50 | $d_p99 | $d_bad | $rss |")
  if [ "$mode" = embedded ]; then
    RESULTS+=("| $mode | grant/verify during an ensure flood | $f_rps | $f_p50 | $f_p99 | $f_bad | $rss |")
  fi
}

if [ "$MODE" = embedded ] || [ "$MODE" = all ]; then
  bench_mode embedded
fi
if [ "$MODE" = localstack ] || [ "$MODE" = all ]; then
  if [ -z "${LOCALSTACK_ENDPOINT:-}" ]; then
    LS_PORT="${LOCALSTACK_PORT:-4598}"
    log "starting LocalStack on $LS_PORT"
    bash "$ROOT/scripts/localstack/install.sh"
    bash "$ROOT/scripts/localstack/start.sh" "$LS_PORT"
    STARTED_LS="$LS_PORT"
    LOCALSTACK_ENDPOINT="http://127.0.0.1:$LS_PORT"
  fi
  bench_mode localstack
fi

echo "Tokenizer load test: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $TOKENS tokens, $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "| backend | route | requests/s | p50 | p99 | non-2xx | tokenizer peak RSS |"
echo "|---|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${RESULTS[@]}"
[ -z "$FLOOD_NOTE" ] || { echo; echo "$FLOOD_NOTE"; }
