#!/usr/bin/env bash
# Stop the Garage started by start.sh PORT (by its pid file, never by name) and remove its files.
set -euo pipefail
PORT="${1:?usage: $0 PORT}"
RUN_DIR="${GARAGE_RUN_ROOT:-/tmp/lunasec-garage-$(id -u)}/$PORT"
if [ -f "$RUN_DIR/garage.pid" ]; then
  PID="$(cat "$RUN_DIR/garage.pid")"
  kill -TERM "$PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$PID" 2>/dev/null || true
fi
rm -rf "$RUN_DIR"
