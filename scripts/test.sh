#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs (npm packages, LocalStack in
# host mode), builds the addon and the tokenizer, and runs clippy, the Rust tests and the jest
# suites against a LocalStack it starts and stops itself. Usage: npm test  (or bash scripts/test.sh)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
need node "Node.js 18+"
need cargo "the Rust toolchain"
need python3 "Python 3.11 for LocalStack"

ensure_node_modules
build_addon

step "tsc: type-check lib/index.d.ts and browser/index.d.ts against usage files"
npx --no-install tsc -p __test__/types
npx --no-install tsc -p __test__/types-browser

step "cargo fmt --check, cargo clippy (warnings are errors)"
cargo fmt --all -- --check
cargo clippy --release --target "$HOST_TRIPLE" --workspace --all-targets -- -D warnings

step "LocalStack (S3, DynamoDB, Secrets Manager) in host mode"
bash scripts/localstack/install.sh
LS_PORT="$(free_port)"
stop_localstack() { bash scripts/localstack/stop.sh "$LS_PORT" >/dev/null 2>&1 || true; }
trap stop_localstack EXIT
bash scripts/localstack/start.sh "$LS_PORT"
export LOCALSTACK_ENDPOINT="http://127.0.0.1:$LS_PORT"

step "Garage (a second S3 server, which checks the signature of every call; a cached build)"
bash scripts/garage/install.sh
GARAGE_PORT="$(free_port)"
stop_services() { stop_localstack; bash scripts/garage/stop.sh "$GARAGE_PORT" >/dev/null 2>&1 || true; }
trap stop_services EXIT
eval "$(bash scripts/garage/start.sh "$GARAGE_PORT")"
# The service-backed tests fail, rather than skip, when an endpoint is missing.
export LUNASEC_REQUIRE_SERVICES=1

step "build the tokenizer (release)"
cargo build --release --target "$HOST_TRIPLE" -p lunasec-tokenizer

step "cargo test (core, tokenizer: embedded, LocalStack S3 + DynamoDB, Garage S3)"
# --lib --tests: the libraries and integration tests (examples are built by clippy above).
cargo test --release --target "$HOST_TRIPLE" --workspace --exclude lunasec-node --lib --tests

step "real browsers for the browser suites (Debian packages: chromium, firefox-esr, webkit2gtk-driver, xvfb)"
bash scripts/browsers/install.sh

step "the error table: lib/error-codes.js, the .d.ts union and the README table match the Rust one"
node scripts/error-table.js --check

step "npm run package: the npm tarballs in dist/ (jest installs them into a fresh Express app)"
# --no-build: the addon and the tokenizer were built above.
npm run --silent package -- --no-build

step "jest (addon + JS layer, end to end with the tokenizer binary, embedded and LocalStack)"
npm run --silent test:jest -- --ci
