#!/usr/bin/env bash
# Start a LocalStack instance (host mode, no Docker) in the background on 127.0.0.1:PORT.
#
#   scripts/localstack/start.sh [PORT]        # default 4566; run install.sh first
#
# Services: s3, dynamodb, secretsmanager. S3 presigned-URL signatures are enforced
# (S3_SKIP_SIGNATURE_VALIDATION=0); header-signed SDK calls are never checked by community LocalStack.
# Clients: endpoint http://127.0.0.1:PORT, credentials test/test, any region, path-style S3.
#
# Everything of one instance lives in RUN_DIR = ${LOCALSTACK_RUN_ROOT:-/tmp/lunasec-localstack-$UID}/PORT:
#   localstack.pid   PID of the runtime = its process group id = its session id (setsid)
#   localstack.log   stdout+stderr of LocalStack (and of DynamoDB Local, which it relays)
#   fs/              FILESYSTEM_ROOT (copied from the install's template)
#   tmp/             TMPDIR / java.io.tmpdir of the instance (S3 spool lives here too, see launch.py)
# stop.sh PORT stops the instance and removes RUN_DIR.
#
# Waits until /_localstack/health answers (LOCALSTACK_START_TIMEOUT, default 90 s); on timeout or
# early death prints the last 50 log lines to stderr, stops what it started and exits 1.
# With LOCALSTACK_WARM_DYNAMODB=1 (default) it then makes one DynamoDB call so that DynamoDB Local's
# JVM (~5 s to start) is up before tests run; set it to 0 to skip.
# Prints nothing on success except one line to stderr; stdout stays empty.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT="${1:-4566}"
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
  echo "usage: $0 [PORT]" >&2
  exit 2
fi

CACHE="${LUNASEC_CACHE_DIR:-$HOME/.cache/lunasec-rs}/localstack"
VENV="$CACHE/venv"
TEMPLATE="$CACHE/fs-template"
RUN_ROOT="${LOCALSTACK_RUN_ROOT:-/tmp/lunasec-localstack-$(id -u)}"
RUN_DIR="$RUN_ROOT/$PORT"
PIDFILE="$RUN_DIR/localstack.pid"
LOG="$RUN_DIR/localstack.log"
TIMEOUT="${LOCALSTACK_START_TIMEOUT:-90}"
HEALTH_URL="http://127.0.0.1:$PORT/_localstack/health"

log() { printf 'localstack-start[%s]: %s\n' "$PORT" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

healthy() { curl -sf -o /dev/null --max-time 2 "$HEALTH_URL"; }
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
# Is something (anything) accepting connections on 127.0.0.1:PORT?
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

fail() {
  log "ERROR: $*"
  if [ -f "$LOG" ]; then
    echo "----- last 50 lines of $LOG -----" >&2
    tail -n 50 "$LOG" >&2 || true
    echo "----- end of log -----" >&2
  fi
  # Keep the log (copy it next to RUN_DIR) and clean everything else up.
  cp "$LOG" "$RUN_ROOT/$PORT.failed.log" 2>/dev/null && log "full log kept at $RUN_ROOT/$PORT.failed.log"
  "$SCRIPT_DIR/stop.sh" "$PORT" >/dev/null 2>&1 || true
  exit 1
}

# The marker is removed while install.sh (re)installs, so a start during an install fails clearly.
if ! [ -f "$CACHE/.installed" ] || ! [ -x "$VENV/bin/python" ] || ! [ -d "$TEMPLATE" ]; then
  die "not installed (or an install is in progress): run scripts/localstack/install.sh first"
fi

# ---- already running? ---------------------------------------------------------------------------
if [ -f "$PIDFILE" ]; then
  OLD_PID="$(cat "$PIDFILE" 2>/dev/null || true)"
  if pid_alive "$OLD_PID" && healthy; then
    log "already running (pid $OLD_PID)"
    exit 0
  fi
  log "cleaning up stale instance (pid ${OLD_PID:-?})"
  "$SCRIPT_DIR/stop.sh" "$PORT" >/dev/null 2>&1 || true
fi
port_in_use && die "127.0.0.1:$PORT is already in use by another process"

# ---- fresh per-instance directories -------------------------------------------------------------
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR/tmp"
chmod 700 "$RUN_ROOT" "$RUN_DIR" 2>/dev/null || true
cp -a "$TEMPLATE" "$RUN_DIR/fs"   # symlinks to the cached JDK / DynamoDB Local / agent, no copies

# ---- launch -------------------------------------------------------------------------------------
# setsid: own session + process group, so stop.sh can signal everything we started (including
# DynamoDB Local's JVM) as one group, and the caller's Ctrl-C/hangup does not reach it.
# The inner shell writes its own PID (it stays the same across exec) so the pidfile is right even if
# setsid had to fork. All stdio goes to the log / /dev/null so that nothing holds the caller's pipes
# open (node's execFile would otherwise wait for LocalStack to exit).
START_TS=$(date +%s.%N)
# shellcheck disable=SC2016  # $$ and "$PIDFILE" etc. are expanded by the inner shell
env \
  OVERRIDE_IN_DOCKER=0 \
  FILESYSTEM_ROOT="$RUN_DIR/fs" \
  TMPDIR="$RUN_DIR/tmp" \
  JAVA_TOOL_OPTIONS="-Djava.io.tmpdir=$RUN_DIR/tmp -XX:-UsePerfData" \
  GATEWAY_SERVER=hypercorn \
  GATEWAY_LISTEN="127.0.0.1:$PORT" \
  LOCALSTACK_HOST="127.0.0.1:$PORT" \
  SERVICES=s3,dynamodb,secretsmanager \
  EAGER_SERVICE_LOADING=0 \
  DNS_ADDRESS=0 \
  DISABLE_EVENTS=1 \
  SKIP_SSL_CERT_DOWNLOAD=1 \
  PERSISTENCE=0 \
  S3_SKIP_SIGNATURE_VALIDATION=0 \
  DYNAMODB_IN_MEMORY=1 \
  DYNAMODB_REMOVE_EXPIRED_ITEMS=1 \
  DEBUG="${LOCALSTACK_DEBUG:-0}" \
  PIDFILE="$PIDFILE" \
  PY="$VENV/bin/python" \
  LAUNCHER="$SCRIPT_DIR/launch.py" \
  setsid bash -c 'echo $$ >"$PIDFILE"; unset PIDFILE; exec "$PY" "$LAUNCHER"' \
  </dev/null >"$LOG" 2>&1 &

# Wait for the pidfile (written by the inner shell within milliseconds).
for _ in $(seq 1 100); do
  [ -s "$PIDFILE" ] && break
  sleep 0.05
done
PID="$(cat "$PIDFILE" 2>/dev/null || true)"
[ -n "$PID" ] || fail "LocalStack did not start (no pidfile)"

# ---- wait until healthy -------------------------------------------------------------------------
DEADLINE=$(( $(date +%s) + TIMEOUT ))
until healthy; do
  pid_alive "$PID" || fail "LocalStack (pid $PID) exited during startup"
  [ "$(date +%s)" -lt "$DEADLINE" ] || fail "LocalStack not healthy after ${TIMEOUT}s"
  sleep 0.2
done
# The port might have been taken by someone else between our check and the bind.
pid_alive "$PID" || fail "LocalStack (pid $PID) exited during startup"
READY_TS=$(date +%s.%N)

# ---- optional DynamoDB warm-up: starts DynamoDB Local's JVM now rather than in the first test ----
if [ "${LOCALSTACK_WARM_DYNAMODB:-1}" = 1 ]; then
  WARM_DEADLINE=$(( $(date +%s) + TIMEOUT ))
  until curl -sf -o /dev/null --max-time 60 -X POST "http://127.0.0.1:$PORT/" \
      --aws-sigv4 "aws:amz:us-east-1:dynamodb" --user test:test \
      -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
      -H 'Content-Type: application/x-amz-json-1.0' -d '{}'; do
    pid_alive "$PID" || fail "LocalStack (pid $PID) exited while starting DynamoDB"
    [ "$(date +%s)" -lt "$WARM_DEADLINE" ] || fail "DynamoDB not answering after ${TIMEOUT}s"
    sleep 0.5
  done
fi
END_TS=$(date +%s.%N)

log "$(awk -v p="$PORT" -v pid="$PID" -v s="$START_TS" -v r="$READY_TS" -v e="$END_TS" -v l="$LOG" \
  'BEGIN { printf "up on http://127.0.0.1:%s (pid %s; healthy after %.1fs, ready after %.1fs; log %s)", p, pid, r - s, e - s, l }')"
