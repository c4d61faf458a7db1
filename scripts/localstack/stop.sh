#!/usr/bin/env bash
# Stop the LocalStack instance that start.sh started on PORT, and everything it spawned.
#
#   scripts/localstack/stop.sh [PORT]         # default 4566
#
# Only processes that this instance started are signalled, found from the recorded PID:
#   - its process group and session (start.sh runs it under setsid, so PGID = SID = PID),
#   - its descendants by parent PID (in case one of them made its own session),
#   - any process still carrying this instance's unique FILESYSTEM_ROOT in its environment (catches
#     an orphaned child such as DynamoDB Local's JVM after the runtime died).
# Never by process name. TERM first, wait up to LOCALSTACK_STOP_TIMEOUT (default 15 s; the runtime
# sometimes hangs on shutdown), then KILL. Finally removes the instance directory
# (set LOCALSTACK_KEEP_RUN_DIR=1 to keep it, e.g. to read the log).
# Idempotent: stopping an instance that is not running just cleans up and exits 0.
set -euo pipefail

PORT="${1:-4566}"
[[ "$PORT" =~ ^[0-9]+$ ]] || { echo "usage: $0 [PORT]" >&2; exit 2; }
RUN_ROOT="${LOCALSTACK_RUN_ROOT:-/tmp/lunasec-localstack-$(id -u)}"
RUN_DIR="$RUN_ROOT/$PORT"
PIDFILE="$RUN_DIR/localstack.pid"
MARK="FILESYSTEM_ROOT=$RUN_DIR/fs"
STOP_TIMEOUT="${LOCALSTACK_STOP_TIMEOUT:-15}"

log() { printf 'localstack-stop[%s]: %s\n' "$PORT" "$*" >&2; }

# A process counts as alive unless it is gone or a zombie (zombies hold no resources; their parent,
# not us, has to reap them).
alive() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null || true)"
  [ -n "$state" ] && [ "${state:0:1}" != Z ]
}

# Does process $1 carry this instance's marker in its environment?
has_mark() {
  grep -qsxzF "$MARK" "/proc/$1/environ"
}

# All PIDs that belong to this instance (see header), one per line.
collect() {
  local root="$1"
  {
    # same session or same process group as the runtime
    ps -e -o pid=,pgid=,sid= | awk -v r="$root" '$2 == r || $3 == r { print $1 }'
    # descendants by parent PID, breadth-first
    local frontier=("$root") next p
    while [ "${#frontier[@]}" -gt 0 ]; do
      next=()
      for p in "${frontier[@]}"; do
        # shellcheck disable=SC2207  # one PID per word
        next+=($(ps -o pid= --ppid "$p" 2>/dev/null || true))
      done
      frontier=("${next[@]}")
      [ "${#frontier[@]}" -eq 0 ] || printf '%s\n' "${frontier[@]}"
    done
    # orphans that still carry the instance's FILESYSTEM_ROOT
    grep -lsxzF "$MARK" /proc/[0-9]*/environ | awk -F/ '{ print $3 }' || true
  } | sort -un | while read -r p; do
    if [ "$p" != $$ ] && alive "$p"; then echo "$p"; fi
  done
}

signal_all() {
  local sig="$1" root="$2" p
  kill "-$sig" -- "-$root" 2>/dev/null || true        # the whole process group
  for p in $(collect "$root"); do kill "-$sig" "$p" 2>/dev/null || true; done
}

PID=""
[ -f "$PIDFILE" ] && PID="$(cat "$PIDFILE" 2>/dev/null || true)"

if [ -n "$PID" ] && [[ "$PID" =~ ^[0-9]+$ ]]; then
  # Guard against PID reuse: the recorded process must be ours (marker in its environment), or
  # already gone — in which case its group/session/orphans may still need cleaning up.
  if alive "$PID" && ! has_mark "$PID"; then
    log "pid $PID does not belong to this instance (stale pidfile); not signalling it"
    PIDS=""
  else
    PIDS="$(collect "$PID")"
  fi
  if [ -n "$PIDS" ]; then
    T0=$SECONDS
    signal_all TERM "$PID"
    DEADLINE=$((SECONDS + STOP_TIMEOUT))
    while [ -n "$(collect "$PID")" ] && [ "$SECONDS" -lt "$DEADLINE" ]; do sleep 0.2; done
    if [ -n "$(collect "$PID")" ]; then
      log "still running after ${STOP_TIMEOUT}s; sending KILL"
      signal_all KILL "$PID"
      for _ in $(seq 1 50); do [ -z "$(collect "$PID")" ] && break; sleep 0.1; done
    fi
    LEFT="$(collect "$PID")"
    [ -z "$LEFT" ] || { log "ERROR: processes left behind: ${LEFT//$'\n'/ }"; exit 1; }
    log "stopped (pid $PID) in $((SECONDS - T0)) s"
  fi
fi

if [ "${LOCALSTACK_KEEP_RUN_DIR:-0}" != 1 ]; then
  rm -rf "$RUN_DIR"
fi
rmdir "$RUN_ROOT" 2>/dev/null || true
