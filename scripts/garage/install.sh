#!/usr/bin/env bash
# Build Garage (a second S3 server, which verifies every SigV4 signature) into a cache dir, once.
#
#   scripts/garage/install.sh        # prints nothing on stdout; progress on stderr
#
# CACHE = ${LUNASEC_CACHE_DIR:-$HOME/.cache/lunasec-rs}/garage; the binary is CACHE/bin/garage.
# `cargo install --locked` from crates.io: about 6.5 minutes cold on 2 cores, a no-op afterwards.
# Its own target dir (CACHE/build) so that the project's `target/` is never touched.
set -euo pipefail

GARAGE_VERSION=2.5.0
CACHE="${LUNASEC_CACHE_DIR:-$HOME/.cache/lunasec-rs}/garage"
BIN="$CACHE/bin/garage"

log() { printf 'garage-install: %s\n' "$*" >&2; }

installed() { [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -qF "$GARAGE_VERSION"; }
installed && exit 0

mkdir -p "$CACHE"
exec 9>"$CACHE/.install.lock"
flock 9
installed && exit 0

START_TS=$SECONDS
log "cargo install garage@$GARAGE_VERSION --locked (about 6.5 min cold on 2 cores)"
if ! CARGO_TARGET_DIR="$CACHE/build" cargo install garage --version "$GARAGE_VERSION" --locked \
    --root "$CACHE" --quiet >"$CACHE/install.log" 2>&1; then
  tail -n 40 "$CACHE/install.log" >&2
  log "ERROR: cargo install garage failed (full log: $CACHE/install.log)"
  exit 1
fi
# The build tree is only needed to build; the binary is all the tests use.
rm -rf "$CACHE/build"
installed || { log "ERROR: $BIN does not report version $GARAGE_VERSION"; exit 1; }
log "done in $((SECONDS - START_TS)) s ($BIN)"
